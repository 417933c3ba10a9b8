/*
 * Anthropic Admin API poller (provider type "anthropic"). Four endpoints
 * under {base_url}/v1/organizations: workspaces and api_keys (object lists,
 * after_id/last_id cursors), usage_report/messages (1h buckets) and
 * cost_report (1d buckets; amounts are decimal strings in cents), both with
 * page/next_page cursors. parse() turns one page into col_out samples and
 * inventory items; it is pure and strict: any malformed value fails the
 * page with the JSON path of the culprit. Report pages are read as a token
 * stream (collector/jsonscan.h); a page that reader does not accept is
 * re-read with jansson, which names the fault.
 *
 * Facts from shared/reference/provider-apis.md §2 (CLAUDE-DOCS mirror):
 * times are RFC 3339 (fractions appear); array params are written
 * group_by[]=...; usage limit max 168 for 1h buckets; cost limit max 31,
 * bucket_width only 1d; list limit 1..1000; the default workspace is
 * workspace_id null (stored as project "default").
 */
#include "anthropic.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/timeutil.h"
#include "jsonscan.h"

#define ANT_VERSION "2023-06-01"
#define USAGE_LIMIT 168              /* max buckets per page for bucket_width=1h */
#define COST_LIMIT 31                /* max buckets per page for bucket_width=1d */
#define MAX_LABEL 512                /* longest accepted id / label value, bytes */
#define MAX_CURSOR 4096              /* longest accepted page cursor, bytes */
#define MAX_AMOUNT 64                /* longest accepted amount string */
#define MAX_COUNT ((int64_t)1 << 53) /* token counts above are not exact doubles */
#define STR_(x) #x
#define STR(x) STR_(x)

enum ant_kind { ANT_WORKSPACES, ANT_API_KEYS, ANT_USAGE, ANT_COST };

struct ant_spec {
    enum ant_kind kind;
    const char *path;  /* after base_url */
    const char *query; /* fixed query parameters, already encoded */
};

static const struct ant_spec spec_workspaces = {ANT_WORKSPACES, "/v1/organizations/workspaces",
                                                "limit=100&include_archived=true"};
static const struct ant_spec spec_api_keys = {ANT_API_KEYS, "/v1/organizations/api_keys",
                                              "limit=100"};
static const struct ant_spec spec_usage = {
    ANT_USAGE, "/v1/organizations/usage_report/messages",
    "bucket_width=1h&limit=" STR(USAGE_LIMIT) "&group_by[]=model&group_by[]=api_key_id"
                                              "&group_by[]=workspace_id&group_by[]=service_tier"};
static const struct ant_spec spec_cost = {
    ANT_COST, "/v1/organizations/cost_report",
    "bucket_width=1d&limit=" STR(COST_LIMIT) "&group_by[]=workspace_id&group_by[]=description"};

static const struct col_endpoint ant_endpoints[] = {
    {.name = "workspaces", .kind = COL_EP_LIST, .spec = &spec_workspaces},
    {.name = "api_keys", .kind = COL_EP_LIST, .spec = &spec_api_keys},
    {.name = "usage_report/messages",
     .kind = COL_EP_BUCKETS,
     .bucket = TU_HOUR,
     .lookback = 3 * (int64_t)TU_HOUR,
     .max_window = USAGE_LIMIT * (int64_t)TU_HOUR,
     .spec = &spec_usage},
    {.name = "cost_report",
     .kind = COL_EP_BUCKETS,
     .bucket = TU_DAY,
     .lookback = 3 * (int64_t)TU_DAY,
     .max_window = COST_LIMIT * (int64_t)TU_DAY,
     .spec = &spec_cost},
};

static const struct ant_spec *spec_of(const struct col_endpoint *ep)
{
    if (!ep)
        return NULL;
    const void *s = ep->spec;
    if (s == &spec_workspaces || s == &spec_api_keys || s == &spec_usage || s == &spec_cost)
        return s;
    return NULL;
}

/* ---- URL building ---- */

struct sbuf {
    char *buf;
    size_t len, pos;
    int full;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->full || n >= b->len - b->pos) {
        b->full = 1;
        return;
    }
    memcpy(b->buf + b->pos, s, n);
    b->pos += n;
    b->buf[b->pos] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* Appends s percent-encoded: RFC 3986 unreserved characters stay, all else %XX. */
static void sb_enc(struct sbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            char ch = (char)c;
            sb_put(b, &ch, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            sb_put(b, e, 3);
        }
    }
}

/*
 * Lists: {base}{path}?{fixed}[&after_id=<page>]. Reports:
 * {base}{path}?starting_at=<start>&ending_at=<end>&{fixed}[&page=<page>],
 * times as RFC 3339 UTC with ':' encoded. -1 when the request is not one
 * of ours, a report window is empty, or the URL does not fit.
 */
static int ant_url(const char *base_url, const struct col_request *req, char *buf, size_t len)
{
    const struct ant_spec *sp = req ? spec_of(req->ep) : NULL;
    if (!base_url || !sp || !buf || len == 0)
        return -1;
    struct sbuf b = {buf, len, 0, 0};
    buf[0] = '\0';
    size_t blen = strlen(base_url);
    while (blen > 0 && base_url[blen - 1] == '/')
        blen--;
    sb_put(&b, base_url, blen);
    sb_puts(&b, sp->path);
    sb_puts(&b, "?");
    int has_page = req->page && req->page[0];
    if (sp->kind == ANT_USAGE || sp->kind == ANT_COST) {
        char t[64];
        if (req->end <= req->start)
            return -1;
        sb_puts(&b, "starting_at=");
        sb_enc(&b, tu_format_time(req->start, t, sizeof t));
        sb_puts(&b, "&ending_at=");
        sb_enc(&b, tu_format_time(req->end, t, sizeof t));
        sb_puts(&b, "&");
        sb_puts(&b, sp->query);
        if (has_page) {
            sb_puts(&b, "&page=");
            sb_enc(&b, req->page);
        }
    } else {
        sb_puts(&b, sp->query);
        if (has_page) {
            sb_puts(&b, "&after_id=");
            sb_enc(&b, req->page);
        }
    }
    return b.full ? -1 : 0;
}

/* ---- headers ---- */

static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

/*
 * Appends "x-api-key: <key>", "anthropic-version: 2023-06-01" and
 * "content-type: application/json". The temporary key line is wiped. On
 * failure (allocation, or an empty key or one holding control characters)
 * returns NULL; nodes already appended to a non-NULL h stay in h for the
 * caller to free, a list started here is freed.
 */
static struct curl_slist *ant_headers(struct curl_slist *h, const char *key)
{
    static const char prefix[] = "x-api-key: ";
    struct curl_slist *orig = h, *n;
    if (!key || !key[0])
        return NULL;
    size_t klen = strlen(key);
    for (size_t i = 0; i < klen; i++)
        if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
            return NULL;
    size_t sz = sizeof prefix + klen;
    char *line = malloc(sz);
    if (!line)
        return NULL;
    memcpy(line, prefix, sizeof prefix - 1);
    memcpy(line + sizeof prefix - 1, key, klen + 1);
    n = curl_slist_append(h, line);
    wipe(line, sz);
    free(line);
    if (!n)
        goto fail;
    h = n;
    if (!(n = curl_slist_append(h, "anthropic-version: " ANT_VERSION)))
        goto fail;
    h = n;
    if (!(n = curl_slist_append(h, "content-type: application/json")))
        goto fail;
    return n;
fail:
    if (!orig && h)
        curl_slist_free_all(h);
    return NULL;
}

/* ---- parse state and error helpers ---- */

/* Metrics a row can add to; a row's samples are merged per group (see emit_row). */
enum ant_metric { M_INPUT, M_CACHED, M_WRITE, M_OUTPUT, M_WEB, M_COST, N_METRICS };

static const char *const metric_names[N_METRICS] = {
    "input_tokens",  "input_cached_tokens", "input_cache_write_tokens",
    "output_tokens", "web_search_calls",    "cost_usd"};

#define NONE SIZE_MAX

/* The samples that rows with one label set and bucket made: an index per metric, or NONE. */
struct group {
    size_t sample[N_METRICS];
};

struct slot {
    uint64_t hash;
    size_t group; /* index + 1; 0 for an empty slot */
};

struct pg {
    const struct col_parse_ctx *ctx;
    struct col_out *out;
    char *err;
    size_t errlen;
    struct group *groups; /* for merging equal rows on this page */
    size_t n_groups, cap_groups;
    struct slot *slots; /* groups by label hash, open addressing; power-of-two size */
    size_t cap_slots;
};

/* Forgets every group (their samples stay in out). */
static void pg_free(struct pg *p)
{
    free(p->groups);
    free(p->slots);
    p->groups = NULL;
    p->slots = NULL;
    p->n_groups = p->cap_groups = p->cap_slots = 0;
}

/*
 * Writes "<path>[.<key>]: <message>" into the caller's err and returns -1.
 * A message cut short by a small err buffer is still a useful message.
 */
__attribute__((format(printf, 4, 5))) static int fail(struct pg *p, const char *path,
                                                      const char *key, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    if (!p->err || p->errlen == 0)
        return -1;
    const char *sep = (path && path[0] && key) ? "." : "";
    int w = (path && path[0]) || key ? snprintf(p->err, p->errlen, "%s%s%s: %s", path ? path : "",
                                                sep, key ? key : "", msg)
                                     : snprintf(p->err, p->errlen, "%s", msg);
    if (w < 0)
        p->err[0] = '\0';
    return -1;
}

/* Copies s into buf with control characters replaced, for error text. */
static const char *printable(const char *s, char *buf, size_t len)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < len; i++)
        buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? ' ' : s[i];
    buf[i] = '\0';
    return buf;
}

static int has_ctl(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 1;
    return 0;
}

/* ---- typed member getters: 0 ok, -1 (with err) on a wrong or missing value ---- */

/*
 * A string member. nullable: missing or null gives *out = NULL (an empty
 * string counts as null). label: must be at most MAX_LABEL bytes without
 * control characters (ids, model names: they become series labels).
 */
static int get_str(struct pg *p, json_t *obj, const char *path, const char *key, int nullable,
                   int label, const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (nullable)
            return 0;
        return fail(p, path, key, v ? "null where a string is required" : "missing");
    }
    if (!json_is_string(v))
        return fail(p, path, key, "expected a string");
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (label && n > MAX_LABEL)
        return fail(p, path, key, "longer than %d bytes", MAX_LABEL);
    if (label && has_ctl(s, n))
        return fail(p, path, key, "control character in value");
    if (n == 0 && nullable)
        return 0;
    if (n == 0 && label)
        return fail(p, path, key, "empty string");
    *out = s;
    return 0;
}

/* An RFC 3339 date-time string (fraction and offset allowed; a bare date is not). */
static int parse_rfc3339(const char *s, int64_t *t)
{
    if (strlen(s) < 20 || (s[10] != 'T' && s[10] != 't'))
        return -1;
    return tu_parse_time(s, t);
}

static int get_time(struct pg *p, json_t *obj, const char *path, const char *key, int nullable,
                    int *present, int64_t *t)
{
    const char *s;
    *present = 0;
    if (get_str(p, obj, path, key, nullable, 0, &s))
        return -1;
    if (!s)
        return 0;
    if (parse_rfc3339(s, t)) {
        char pb[48];
        return fail(p, path, key, "not an RFC 3339 time: \"%s\"", printable(s, pb, sizeof pb));
    }
    *present = 1;
    return 0;
}

/*
 * A non-negative integral count (a JSON integer, or a real with no
 * fraction) up to 2^53. optional: missing or null leaves *present 0.
 */
static int get_count(struct pg *p, json_t *obj, const char *path, const char *key, int optional,
                     int *present, int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    *present = 0;
    *out = 0;
    if (!v || json_is_null(v)) {
        if (optional)
            return 0;
        return fail(p, path, key, v ? "null where a number is required" : "missing");
    }
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || i > MAX_COUNT)
            return fail(p, path, key, "count out of range");
        *out = (int64_t)i;
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0 && d <= (double)MAX_COUNT) || d != (double)(int64_t)d)
            return fail(p, path, key, "not a whole non-negative count");
        *out = (int64_t)d;
    } else {
        return fail(p, path, key, "expected a number");
    }
    *present = 1;
    return 0;
}

static int get_object(struct pg *p, json_t *obj, const char *path, const char *key, int nullable,
                      json_t **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (nullable)
            return 0;
        return fail(p, path, key, v ? "null where an object is required" : "missing");
    }
    if (!json_is_object(v))
        return fail(p, path, key, "expected an object");
    *out = v;
    return 0;
}

static int get_array(struct pg *p, json_t *obj, const char *path, const char *key, json_t **out)
{
    json_t *v = json_object_get(obj, key);
    *out = v;
    if (!v)
        return fail(p, path, key, "missing");
    if (!json_is_array(v))
        return fail(p, path, key, "expected an array");
    return 0;
}

static int idx_path(struct pg *p, char *buf, size_t len, const char *parent, const char *key,
                    size_t i)
{
    int n = parent && parent[0] ? snprintf(buf, len, "%s.%s[%zu]", parent, key, i)
                                : snprintf(buf, len, "%s[%zu]", key, i);
    if (n < 0 || (size_t)n >= len)
        return fail(p, parent, key, "path too long");
    return 0;
}

/* ---- amounts ---- */

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/*
 * Parses a decimal amount in cents, -?DIGITS[.DIGITS] (no sign '+', no
 * exponent, no separators, no spaces), into US dollars. The digits are
 * gathered into one integer M with value = M / 10^k, then divided once:
 * exact operands and a single IEEE division give the correctly rounded
 * double whenever M <= 2^53 and k <= 22 (every realistic amount). Longer
 * fractions keep 19 significant digits (error below one ulp). More than
 * 15 integer digits (>= $10^13) is rejected as out of range. 0 ok, -1 bad.
 */
static int parse_cents(const char *s, size_t len, double *usd)
{
    size_t i = 0;
    int neg = 0;
    if (len == 0 || len > MAX_AMOUNT)
        return -1;
    if (s[0] == '-') {
        neg = 1;
        i = 1;
    }
    size_t int_start = i;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    size_t int_len = i - int_start;
    size_t frac_start = i, frac_len = 0;
    if (int_len == 0)
        return -1;
    if (i < len && s[i] == '.') {
        frac_start = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        frac_len = i - frac_start;
        if (frac_len == 0)
            return -1;
    }
    if (i != len)
        return -1;
    while (frac_len > 0 && s[frac_start + frac_len - 1] == '0')
        frac_len--;

    uint64_t m = 0;
    int ndig = 0, dropped = 0, int_sig = 0;
    for (size_t k = 0; k < int_len + frac_len; k++) {
        int in_int = k < int_len;
        unsigned d = (unsigned)(in_int ? s[int_start + k] : s[frac_start + k - int_len]) - '0';
        if (m == 0 && d == 0)
            continue;
        if (in_int && ++int_sig > 15)
            return -1;
        if (ndig < 19) {
            m = m * 10 + d;
            ndig++;
        } else {
            dropped++;
        }
    }
    int scale = (int)frac_len + 2 - dropped; /* value in dollars = m / 10^scale */
    double v = (double)m;
    while (scale > 22) {
        v /= pow10_exact[22];
        scale -= 22;
    }
    v /= pow10_exact[scale];
    *usd = (neg && v != 0) ? -v : v;
    return 0;
}

/* ---- samples ---- */

/* FNV-1a-style hash of the bucket, the width and every label col_out_sample keeps. */
static uint64_t group_hash(const char *const labels[][2], size_t n, int64_t bucket, int64_t width)
{
    uint64_t h = 0xcbf29ce484222325u;
    h = (h ^ (uint64_t)bucket) * 0x100000001b3u;
    h = (h ^ (uint64_t)width) * 0x100000001b3u;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *v = (const unsigned char *)labels[i][1];
        if (!v || !v[0])
            continue;
        h = (h ^ (i + 1)) * 0x100000001b3u;
        for (; *v; v++)
            h = (h ^ *v) * 0x100000001b3u;
        h = (h ^ 0xff) * 0x100000001b3u;
    }
    return h;
}

/* Whether sample s has exactly these labels (empty ones left out), bucket and width. */
static int same_labels(const struct col_sample *s, const char *const labels[][2], size_t n,
                       int64_t bucket, int64_t width)
{
    if (s->bucket != bucket || s->width != width)
        return 0;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = labels[i][1];
        if (!v || !v[0])
            continue;
        if (j == s->n_labels || strcmp(s->labels[j].name, labels[i][0]) != 0 ||
            strcmp(s->labels[j].value, v) != 0)
            return 0;
        j++;
    }
    return j == s->n_labels;
}

static int grow_slots(struct pg *p)
{
    size_t cap = p->cap_slots ? p->cap_slots * 2 : 1024;
    struct slot *ns = calloc(cap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i < p->cap_slots; i++) {
        if (!p->slots[i].group)
            continue;
        size_t j = (size_t)p->slots[i].hash & (cap - 1);
        while (ns[j].group)
            j = (j + 1) & (cap - 1);
        ns[j] = p->slots[i];
    }
    free(p->slots);
    p->slots = ns;
    p->cap_slots = cap;
    return 0;
}

/* Some sample of group g (every group has one). */
static const struct col_sample *group_sample(const struct pg *p, const struct group *g)
{
    for (size_t m = 0; m < N_METRICS; m++)
        if (g->sample[m] != NONE)
            return &p->out->samples[g->sample[m]];
    return NULL;
}

/*
 * Appends the samples of one row (metric[i] = value[i] for i < count), or
 * adds each value to the sample of that metric that an earlier row on
 * this page with the same labels and bucket made: rows that differ only in
 * dimensions byokwatch does not keep (inference_geo, context_window, ...)
 * sum into one point instead of overwriting each other in the store.
 * Labels compare as col_out_sample keeps them (NULL and "" are left out).
 */
static int emit_row(struct pg *p, const char *const labels[][2], size_t n, int64_t bucket,
                    int64_t width, const enum ant_metric *metric, const double *value, size_t count)
{
    if (2 * (p->n_groups + 1) > p->cap_slots && grow_slots(p))
        return fail(p, NULL, NULL, "out of memory");
    uint64_t h = group_hash(labels, n, bucket, width);
    size_t j = (size_t)h & (p->cap_slots - 1);
    struct group *g = NULL;
    for (; p->slots[j].group; j = (j + 1) & (p->cap_slots - 1)) {
        struct group *c = &p->groups[p->slots[j].group - 1];
        const struct col_sample *s = group_sample(p, c);
        if (p->slots[j].hash == h && s && same_labels(s, labels, n, bucket, width)) {
            g = c;
            break;
        }
    }
    if (!g) {
        if (!p->groups || p->n_groups == p->cap_groups) {
            size_t cap = p->cap_groups ? p->cap_groups * 2 : 256;
            struct group *ng = realloc(p->groups, cap * sizeof *ng);
            if (!ng)
                return fail(p, NULL, NULL, "out of memory");
            p->groups = ng;
            p->cap_groups = cap;
        }
        g = &p->groups[p->n_groups++];
        for (size_t m = 0; m < N_METRICS; m++)
            g->sample[m] = NONE;
        p->slots[j].hash = h;
        p->slots[j].group = p->n_groups;
    }
    for (size_t i = 0; i < count; i++) {
        size_t *at = &g->sample[metric[i]];
        if (*at != NONE) {
            p->out->samples[*at].value += value[i];
            continue;
        }
        if (col_out_sample(p->out, metric_names[metric[i]], labels, n, bucket, width, value[i]))
            return fail(p, NULL, NULL, "out of memory");
        *at = p->out->n_samples - 1;
    }
    return 0;
}

static const char *provider_of(const struct pg *p)
{
    return p->ctx->provider ? p->ctx->provider : "anthropic";
}

/* The samples of one usage row (both readers); each count is at most 2^53. */
static int emit_usage(struct pg *p, const char *model, const char *key_id, const char *ws,
                      const char *tier, int64_t uncached, int64_t cread, int64_t c1h, int64_t c5m,
                      int64_t outp, int have_web, int64_t web, int64_t start, int64_t width)
{
    const char *const labels[][2] = {
        {"provider", provider_of(p)},
        {"account", p->ctx->account},
        {"project", ws ? ws : "default"},
        {"api_key_id", key_id},
        {"model", model},
        {"service_tier", tier},
        {"kind", "messages"},
    };
    static const enum ant_metric metric[] = {M_INPUT, M_CACHED, M_WRITE, M_OUTPUT, M_WEB};
    /* counts <= 2^53, so these int64 sums cannot overflow */
    const double value[] = {(double)(uncached + cread + c1h + c5m), (double)cread,
                            (double)(c1h + c5m), (double)outp, (double)web};
    return emit_row(p, labels, sizeof labels / sizeof labels[0], start, width, metric, value,
                    have_web ? 5 : 4);
}

/* The cost_usd sample of one cost row (both readers): line_item is the description, else
 * the cost type. */
static int emit_cost(struct pg *p, const char *ws, const char *desc, const char *ctype,
                     const char *model, const char *tier, double usd, int64_t start, int64_t width)
{
    const char *const labels[][2] = {
        {"provider", provider_of(p)},
        {"account", p->ctx->account},
        {"project", ws ? ws : "default"},
        {"line_item", desc ? desc : ctype},
        {"model", model},
        {"service_tier", tier},
    };
    static const enum ant_metric metric[] = {M_COST};
    return emit_row(p, labels, sizeof labels / sizeof labels[0], start, width, metric, &usd, 1);
}

/* ---- envelope ---- */

/* An error body ({"type":"error","error":{...}} or a bare {"error":{...}}) -> -1. */
static int check_error(struct pg *p, json_t *root)
{
    json_t *t = json_object_get(root, "type");
    json_t *e = json_object_get(root, "error");
    int is_err = (json_is_string(t) && strcmp(json_string_value(t), "error") == 0) ||
                 (e && !json_object_get(root, "data"));
    if (!is_err)
        return 0;
    const char *etype = "unknown", *emsg = "";
    if (json_is_object(e)) {
        json_t *et = json_object_get(e, "type"), *em = json_object_get(e, "message");
        if (json_is_string(et))
            etype = json_string_value(et);
        if (json_is_string(em))
            emsg = json_string_value(em);
    } else if (json_is_string(e)) {
        emsg = json_string_value(e);
    }
    char tb[64], mb[200];
    return fail(p, NULL, NULL, "anthropic error %s: %s", printable(etype, tb, sizeof tb),
                printable(emsg, mb, sizeof mb));
}

/*
 * The list/report envelope: data (array), has_more (bool) and the cursor
 * member (next_page for reports, last_id for lists), which must be a
 * non-empty string that differs from the cursor of this request when
 * has_more is true.
 */
static int envelope(struct pg *p, json_t *root, const char *cursor_key, json_t **data)
{
    const char *cur;
    if (get_array(p, root, "", "data", data))
        return -1;
    json_t *hm = json_object_get(root, "has_more");
    if (!hm)
        return fail(p, "", "has_more", "missing");
    if (!json_is_boolean(hm))
        return fail(p, "", "has_more", "expected a boolean");
    if (get_str(p, root, "", cursor_key, 1, 0, &cur))
        return -1;
    if (!json_is_true(hm))
        return 0;
    if (!cur)
        return fail(p, "", cursor_key, "has_more is true but the cursor is missing");
    if (strlen(cur) > MAX_CURSOR)
        return fail(p, "", cursor_key, "cursor longer than %d bytes", MAX_CURSOR);
    const char *prev = p->ctx->req->page;
    if (prev && strcmp(prev, cur) == 0)
        return fail(p, "", cursor_key, "cursor did not advance");
    if (col_out_set_next(p->out, cur))
        return fail(p, NULL, NULL, "out of memory");
    return 0;
}

/* A bucket's [starting_at, ending_at): width must be one of allowed, start aligned. */
static int bucket_times(struct pg *p, json_t *b, const char *path, int allow_hour, int64_t *start,
                        int64_t *width)
{
    int have;
    int64_t end = 0;
    *start = 0;
    if (!json_is_object(b))
        return fail(p, path, NULL, "expected an object");
    if (get_time(p, b, path, "starting_at", 0, &have, start) ||
        get_time(p, b, path, "ending_at", 0, &have, &end))
        return -1;
    *width = end - *start;
    if (!(*width == TU_DAY || (allow_hour && *width == TU_HOUR)))
        return fail(p, path, NULL, "bucket width %lld s is not %s", (long long)*width,
                    allow_hour ? "1h or 1d" : "1d");
    if (tu_floor(*start, *width) != *start)
        return fail(p, path, "starting_at", "not aligned to the bucket width");
    return 0;
}

/* ---- usage_report/messages ---- */

static int usage_row(struct pg *p, json_t *r, const char *path, int64_t start, int64_t width)
{
    const char *model, *key_id, *ws, *tier;
    int64_t uncached, cread, c1h, c5m, outp, web = 0;
    int have, have_web = 0;
    json_t *cc, *stu;
    char cpath[160];

    if (!json_is_object(r))
        return fail(p, path, NULL, "expected an object");
    if (get_str(p, r, path, "model", 1, 1, &model) ||
        get_str(p, r, path, "api_key_id", 1, 1, &key_id) ||
        get_str(p, r, path, "workspace_id", 1, 1, &ws) ||
        get_str(p, r, path, "service_tier", 1, 1, &tier))
        return -1;
    if (get_count(p, r, path, "uncached_input_tokens", 0, &have, &uncached) ||
        get_count(p, r, path, "cache_read_input_tokens", 0, &have, &cread) ||
        get_count(p, r, path, "output_tokens", 0, &have, &outp) ||
        get_object(p, r, path, "cache_creation", 0, &cc))
        return -1;
    int n = snprintf(cpath, sizeof cpath, "%s.cache_creation", path);
    if (n < 0 || (size_t)n >= sizeof cpath)
        return fail(p, path, NULL, "path too long");
    if (get_count(p, cc, cpath, "ephemeral_1h_input_tokens", 0, &have, &c1h) ||
        get_count(p, cc, cpath, "ephemeral_5m_input_tokens", 0, &have, &c5m))
        return -1;
    if (get_object(p, r, path, "server_tool_use", 1, &stu))
        return -1;
    if (stu) {
        n = snprintf(cpath, sizeof cpath, "%s.server_tool_use", path);
        if (n < 0 || (size_t)n >= sizeof cpath)
            return fail(p, path, NULL, "path too long");
        if (get_count(p, stu, cpath, "web_search_requests", 1, &have_web, &web))
            return -1;
    }

    return emit_usage(p, model, key_id, ws, tier, uncached, cread, c1h, c5m, outp, have_web, web,
                      start, width);
}

/* ---- cost_report ---- */

static int cost_row(struct pg *p, json_t *r, const char *path, int64_t start, int64_t width)
{
    const char *amount, *currency, *ws, *desc, *ctype, *model, *tier;
    double usd;

    if (!json_is_object(r))
        return fail(p, path, NULL, "expected an object");
    if (get_str(p, r, path, "amount", 0, 0, &amount) ||
        get_str(p, r, path, "currency", 0, 0, &currency))
        return -1;
    if (parse_cents(amount, json_string_length(json_object_get(r, "amount")), &usd)) {
        char ab[48];
        return fail(p, path, "amount", "not a decimal amount in cents: \"%s\"",
                    printable(amount, ab, sizeof ab));
    }
    if (strcmp(currency, "USD") != 0) {
        char cb[16];
        return fail(p, path, "currency", "\"%s\" is not USD", printable(currency, cb, sizeof cb));
    }
    if (get_str(p, r, path, "workspace_id", 1, 1, &ws) ||
        get_str(p, r, path, "description", 1, 1, &desc) ||
        get_str(p, r, path, "cost_type", 1, 1, &ctype) ||
        get_str(p, r, path, "model", 1, 1, &model) ||
        get_str(p, r, path, "service_tier", 1, 1, &tier))
        return -1;
    return emit_cost(p, ws, desc, ctype, model, tier, usd, start, width);
}

static int parse_buckets(struct pg *p, json_t *data, int cost)
{
    size_t i, j;
    json_t *b, *r, *results;
    char bpath[48], rpath[96];
    json_array_foreach(data, i, b)
    {
        int64_t start = 0, width = 0;
        if (idx_path(p, bpath, sizeof bpath, "", "data", i) ||
            bucket_times(p, b, bpath, !cost, &start, &width) ||
            get_array(p, b, bpath, "results", &results))
            return -1;
        json_array_foreach(results, j, r)
        {
            if (idx_path(p, rpath, sizeof rpath, bpath, "results", j))
                return -1;
            if (cost ? cost_row(p, r, rpath, start, width) : usage_row(p, r, rpath, start, width))
                return -1;
        }
    }
    return 0;
}

/* ---- usage and cost reports as a token stream ---- */

/*
 * The hot path. A report page is read with the tokenizer
 * (collector/jsonscan.h): rows become samples as they stream by, with no
 * tree. It accepts exactly the pages the tree reader above accepts, with
 * the same samples and cursor; on anything else (a wrong type or value,
 * JSON jansson would refuse, an error body, a tokenizer limit) it gives
 * up, and ant_parse re-reads the page with the tree reader, which names
 * the culprit. Errors therefore read the same whichever path ran.
 */

enum { PAGE_DATA, PAGE_HAS_MORE, PAGE_NEXT, PAGE_TYPE };
static const char *const page_members[] = {"data", "has_more", "next_page", "type"};
/* js_bucket reads members 0-2 as start, end and rows. */
static const char *const bucket_members[] = {"starting_at", "ending_at", "results"};
enum { U_MODEL, U_KEY, U_WS, U_TIER, U_UNCACHED, U_CREAD, U_OUTPUT, U_CC, U_STU };
static const char *const usage_members[] = {"model",
                                            "api_key_id",
                                            "workspace_id",
                                            "service_tier",
                                            "uncached_input_tokens",
                                            "cache_read_input_tokens",
                                            "output_tokens",
                                            "cache_creation",
                                            "server_tool_use",
                                            "account_id",
                                            "context_window",
                                            "inference_geo",
                                            "service_account_id"};
enum { CC_1H, CC_5M };
static const char *const cc_members[] = {"ephemeral_1h_input_tokens", "ephemeral_5m_input_tokens"};
static const char *const stu_members[] = {"web_search_requests"};
enum { C_WS, C_DESC, C_CTYPE, C_MODEL, C_TIER, C_AMOUNT, C_CURRENCY };
static const char *const cost_members[] = {
    "workspace_id", "description", "cost_type",      "model",         "service_tier",
    "amount",       "currency",    "context_window", "inference_geo", "token_type"};

#define NMEMB(a) (sizeof(a) / sizeof(a)[0])
#define FAST_OPTS (JS_OPT_REJECT_NUL | JS_OPT_NUM_RANGE) /* what jansson refuses */

struct fast {
    struct pg *p;
    int cost;
    struct js_keymap page, bucket, row, cc, stu;
};

/* get_str(nullable, label): NULL for null or ""; else at most MAX_LABEL bytes, no controls. */
static int fast_label(const struct js_token *v, char *buf, const char **out)
{
    size_t n;
    *out = NULL;
    if (v->type == JS_NULL)
        return 0;
    if (v->type != JS_STRING || js_string(v, buf, MAX_LABEL + 1, &n) != 0 || has_ctl(buf, n))
        return -1;
    if (n)
        *out = buf;
    return 0;
}

/* get_count(): an integer, or a real with no fraction, in [0, 2^53]. */
static int fast_count(const struct js_token *v, int64_t *out)
{
    uint64_t u;
    int64_t i;
    double d;
    if (v->type != JS_NUMBER)
        return -1;
    if (js_num_u53(v, &u) == 0) {
        *out = (int64_t)u;
        return 0;
    }
    if (v->flags & JS_F_INT) {
        if (js_num_i64(v, &i) || i < 0 || i > MAX_COUNT)
            return -1;
        *out = i;
        return 0;
    }
    if (js_num_double(v, &d) || !(d >= 0 && d <= (double)MAX_COUNT) || d != (double)(int64_t)d)
        return -1;
    *out = (int64_t)d;
    return 0;
}

/* get_time(): a required RFC 3339 string. */
static int fast_time(const struct js_token *v, int64_t *t)
{
    char buf[128];
    if (v->type != JS_STRING || js_string(v, buf, sizeof buf, NULL) != 0 || parse_rfc3339(buf, t))
        return -1;
    return 0;
}

/* cache_creation: both ephemeral counts required. */
static int fast_cache_creation(struct fast *f, struct js *s, int64_t *c1h, int64_t *c5m)
{
    struct js_keyset ks;
    struct js_token v;
    int idx, r, have1 = 0, have5 = 0;
    js_keyset_init(&ks);
    while ((r = js_member(s, &f->cc, &ks, &idx, &v)) == 1) {
        if (idx == CC_1H || idx == CC_5M) {
            if (fast_count(&v, idx == CC_1H ? c1h : c5m))
                return -1;
            *(idx == CC_1H ? &have1 : &have5) = 1;
        } else if (js_skip_unique(s, &v)) {
            return -1;
        }
    }
    return r == 0 && have1 && have5 ? 0 : -1;
}

/* server_tool_use: web_search_requests optional. */
static int fast_tool_use(struct fast *f, struct js *s, int *have_web, int64_t *web)
{
    struct js_keyset ks;
    struct js_token v;
    int idx, r;
    js_keyset_init(&ks);
    while ((r = js_member(s, &f->stu, &ks, &idx, &v)) == 1) {
        if (idx == 0) {
            if (v.type != JS_NULL && fast_count(&v, web))
                return -1;
            *have_web = v.type != JS_NULL;
        } else if (js_skip_unique(s, &v)) {
            return -1;
        }
    }
    return r;
}

static int fast_usage_row(struct fast *f, struct js *s, int64_t start, int64_t width)
{
    struct js_keyset ks;
    struct js_token v;
    char buf[4][MAX_LABEL + 1];
    const char *lab[4] = {NULL, NULL, NULL, NULL};
    int64_t cnt[3] = {0, 0, 0}, c1h = 0, c5m = 0, web = 0;
    int have[3] = {0, 0, 0}, have_cc = 0, have_web = 0, idx, r;
    js_keyset_init(&ks);
    while ((r = js_member(s, &f->row, &ks, &idx, &v)) == 1) {
        switch (idx) {
        case U_MODEL:
        case U_KEY:
        case U_WS:
        case U_TIER:
            if (fast_label(&v, buf[idx], &lab[idx]))
                return -1;
            break;
        case U_UNCACHED:
        case U_CREAD:
        case U_OUTPUT:
            if (fast_count(&v, &cnt[idx - U_UNCACHED]))
                return -1;
            have[idx - U_UNCACHED] = 1;
            break;
        case U_CC:
            if (v.type != JS_OBJECT || fast_cache_creation(f, s, &c1h, &c5m))
                return -1;
            have_cc = 1;
            break;
        case U_STU:
            if (v.type == JS_OBJECT ? fast_tool_use(f, s, &have_web, &web) : v.type != JS_NULL)
                return -1;
            break;
        default:
            if (js_skip_unique(s, &v))
                return -1;
        }
    }
    if (r < 0 || !have[0] || !have[1] || !have[2] || !have_cc)
        return -1;
    return emit_usage(f->p, lab[U_MODEL], lab[U_KEY], lab[U_WS], lab[U_TIER], cnt[0], cnt[1], c1h,
                      c5m, cnt[2], have_web, web, start, width);
}

static int fast_cost_row(struct fast *f, struct js *s, int64_t start, int64_t width)
{
    struct js_keyset ks;
    struct js_token v;
    char buf[5][MAX_LABEL + 1], amount[MAX_AMOUNT + 1], cur[8];
    const char *lab[5] = {NULL, NULL, NULL, NULL, NULL};
    size_t alen = 0;
    int have_amount = 0, have_cur = 0, idx, r;
    double usd;
    js_keyset_init(&ks);
    while ((r = js_member(s, &f->row, &ks, &idx, &v)) == 1) {
        if (idx >= C_WS && idx <= C_TIER) {
            if (fast_label(&v, buf[idx], &lab[idx]))
                return -1;
        } else if (idx == C_AMOUNT) {
            if (v.type != JS_STRING || js_string(&v, amount, sizeof amount, &alen) != 0)
                return -1;
            have_amount = 1;
        } else if (idx == C_CURRENCY) {
            if (v.type != JS_STRING || js_string(&v, cur, sizeof cur, NULL) != 0 ||
                strcmp(cur, "USD") != 0)
                return -1;
            have_cur = 1;
        } else if (js_skip_unique(s, &v)) {
            return -1;
        }
    }
    if (r < 0 || !have_amount || !have_cur || parse_cents(amount, alen, &usd))
        return -1;
    return emit_cost(f->p, lab[C_WS], lab[C_DESC], lab[C_CTYPE], lab[C_MODEL], lab[C_TIER], usd,
                     start, width);
}

/* The elements of a results array whose '[' was just read. */
/* bucket_times(): a width this report allows, and a start aligned to it. */
static int fast_bucket_ok(void *ud, int64_t start, int64_t end)
{
    const struct fast *f = ud;
    int64_t width = end - start;
    return (width == TU_DAY || (!f->cost && width == TU_HOUR)) && tu_floor(start, width) == start;
}

static int fast_row(void *ud, struct js *s, int64_t start, int64_t width)
{
    struct fast *f = ud;
    return f->cost ? fast_cost_row(f, s, start, width) : fast_usage_row(f, s, start, width);
}

/* A bucket: starting_at, ending_at, results[]. */
static const struct js_bucket_ops fast_bucket_ops = {
    .time = fast_time, .ok = fast_bucket_ok, .row = fast_row};

/* envelope()'s cursor rule for a page whose has_more is true. */
static int fast_cursor(struct pg *p, const struct js_token *cur)
{
    char buf[MAX_CURSOR + 1];
    size_t n;
    if (!cur || js_string(cur, buf, sizeof buf, &n) != 0 || n == 0)
        return -1;
    const char *prev = p->ctx->req->page;
    if (prev && strcmp(prev, buf) == 0)
        return -1;
    return col_out_set_next(p->out, buf);
}

/* A whole usage or cost report page; 0 with every sample and the cursor, -1 to re-read it. */
static int fast_report(struct pg *p, const char *body, size_t len, int cost)
{
    struct fast f = {.p = p, .cost = cost};
    struct js s;
    struct js_keyset ks;
    struct js_token v, cursor;
    int has_more = -1, have_data = 0, have_cursor = 0, idx, r;
    if (js_keymap_init(&f.page, page_members, NMEMB(page_members)) ||
        js_keymap_init(&f.bucket, bucket_members, NMEMB(bucket_members)) ||
        js_keymap_init(&f.cc, cc_members, NMEMB(cc_members)) ||
        js_keymap_init(&f.stu, stu_members, NMEMB(stu_members)) ||
        (cost ? js_keymap_init(&f.row, cost_members, NMEMB(cost_members))
              : js_keymap_init(&f.row, usage_members, NMEMB(usage_members))))
        return -1;
    js_init(&s, body, len, FAST_OPTS);
    if (js_next(&s, &v) != JS_OBJECT)
        return -1;
    js_keyset_init(&ks);
    while ((r = js_member(&s, &f.page, &ks, &idx, &v)) == 1) {
        switch (idx) {
        case PAGE_DATA:
            if (v.type != JS_ARRAY)
                return -1;
            for (enum js_type y; (y = js_next(&s, &v)) != JS_ARRAY_END;)
                if (y != JS_OBJECT || js_bucket(&s, &f.bucket, &fast_bucket_ops, &f))
                    return -1;
            have_data = 1;
            break;
        case PAGE_HAS_MORE:
            if (v.type != JS_TRUE && v.type != JS_FALSE)
                return -1;
            has_more = v.type == JS_TRUE;
            break;
        case PAGE_NEXT:
            if (v.type == JS_STRING) {
                cursor = v;
                have_cursor = 1;
            } else if (v.type != JS_NULL) {
                return -1;
            }
            break;
        case PAGE_TYPE:
            if (v.type == JS_STRING && js_str_eq(&v, "error", 5))
                return -1;
            if (js_skip_unique(&s, &v))
                return -1;
            break;
        default:
            if (js_skip_unique(&s, &v))
                return -1;
        }
    }
    if (r < 0 || js_next(&s, &v) != JS_EOF || !have_data || has_more < 0)
        return -1;
    return has_more ? fast_cursor(p, have_cursor ? &cursor : NULL) : 0;
}

/* ---- inventory ---- */

static json_t *time_or_null(int present, int64_t t)
{
    return present ? json_integer((json_int_t)t) : json_null();
}

static int workspace_item(struct pg *p, json_t *w, const char *path)
{
    const char *id, *name;
    int64_t created = 0, archived = 0;
    int have_c, have_a;
    if (!json_is_object(w))
        return fail(p, path, NULL, "expected an object");
    if (get_str(p, w, path, "id", 0, 1, &id) || get_str(p, w, path, "name", 0, 0, &name) ||
        get_time(p, w, path, "created_at", 0, &have_c, &created) ||
        get_time(p, w, path, "archived_at", 1, &have_a, &archived))
        return -1;
    json_t *o = json_pack("{s:s, s:s?, s:s, s:s, s:s, s:s, s:I, s:o}", "provider", provider_of(p),
                          "account", p->ctx->account, "id", id, "name", name, "project", id,
                          "status", have_a ? "archived" : "active", "created_at",
                          (json_int_t)created, "archived_at", time_or_null(have_a, archived));
    int rc = o ? col_out_item(p->out, "workspace", id, o) : -1;
    json_decref(o);
    return rc ? fail(p, NULL, NULL, "out of memory") : 0;
}

/*
 * The provider's partial_key_hint ("sk-ant-api03-R2D...igAA") shows more
 * of the secret than STYLE.md allows to keep: only its last four
 * alphanumerics survive, as "...igAA". NULL stays NULL.
 */
static const char *hint_tail(const char *hint, char *buf, size_t len)
{
    if (!hint)
        return NULL;
    size_t n = strlen(hint), start = n;
    while (start > 0 && n - start < 4) {
        char c = hint[start - 1];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            break;
        start--;
    }
    int w = snprintf(buf, len, "...%s", hint + start);
    return (w < 0 || (size_t)w >= len) ? NULL : buf;
}

static int api_key_item(struct pg *p, json_t *k, const char *path)
{
    const char *id, *name, *status, *ws, *hint, *by_id = NULL, *pr_id = NULL, *pr_type = NULL;
    int64_t created = 0, expires = 0;
    int have_c, have_e;
    json_t *by, *pr;
    char sub[128], tail[8];
    if (!json_is_object(k))
        return fail(p, path, NULL, "expected an object");
    if (get_str(p, k, path, "id", 0, 1, &id) || get_str(p, k, path, "name", 0, 0, &name) ||
        get_str(p, k, path, "status", 0, 1, &status) ||
        get_str(p, k, path, "workspace_id", 1, 1, &ws) ||
        get_str(p, k, path, "partial_key_hint", 1, 0, &hint) ||
        get_time(p, k, path, "created_at", 0, &have_c, &created) ||
        get_time(p, k, path, "expires_at", 1, &have_e, &expires) ||
        get_object(p, k, path, "created_by", 1, &by) || get_object(p, k, path, "principal", 1, &pr))
        return -1;
    if (by) {
        int n = snprintf(sub, sizeof sub, "%s.created_by", path);
        if (n < 0 || (size_t)n >= sizeof sub)
            return fail(p, path, NULL, "path too long");
        if (get_str(p, by, sub, "id", 0, 1, &by_id))
            return -1;
    }
    if (pr) {
        int n = snprintf(sub, sizeof sub, "%s.principal", path);
        if (n < 0 || (size_t)n >= sizeof sub)
            return fail(p, path, NULL, "path too long");
        if (get_str(p, pr, sub, "id", 0, 1, &pr_id) || get_str(p, pr, sub, "type", 1, 1, &pr_type))
            return -1;
    }
    json_t *o =
        json_pack("{s:s, s:s?, s:s, s:s, s:s, s:s?, s:s, s:I, s:o, s:s?, s:s?, s:s?, s:s?}",
                  "provider", provider_of(p), "account", p->ctx->account, "id", id, "name", name,
                  "project", ws ? ws : "default", "workspace_id", ws, "status", status,
                  "created_at", (json_int_t)created, "expires_at", time_or_null(have_e, expires),
                  "created_by", by_id, "partial_key_hint", hint_tail(hint, tail, sizeof tail),
                  "principal_id", pr_id, "principal_type", pr_type);
    int rc = o ? col_out_item(p->out, "api_key", id, o) : -1;
    json_decref(o);
    return rc ? fail(p, NULL, NULL, "out of memory") : 0;
}

static int parse_list(struct pg *p, json_t *data, enum ant_kind kind)
{
    size_t i;
    json_t *v;
    char path[48];
    json_array_foreach(data, i, v)
    {
        if (idx_path(p, path, sizeof path, "", "data", i))
            return -1;
        if (kind == ANT_WORKSPACES ? workspace_item(p, v, path) : api_key_item(p, v, path))
            return -1;
    }
    return 0;
}

/*
 * Parses one page (see poller.h). Every sample carries provider, account
 * and project (workspace id, "default" for null); usage adds api_key_id,
 * model, service_tier and kind="messages"; cost adds line_item
 * (description, else cost_type), model and service_tier. Items: kind
 * "workspace" and "api_key" with times as Unix seconds.
 */
static int ant_parse(const struct col_parse_ctx *ctx, const char *body, size_t len,
                     struct col_out *out, char *err, size_t errlen)
{
    struct pg p = {.ctx = ctx, .out = out, .err = err, .errlen = errlen};
    json_t *root = NULL, *data;
    json_error_t je;
    int rc = -1;
    const struct ant_spec *sp = ctx && ctx->req ? spec_of(ctx->req->ep) : NULL;

    if (err && errlen)
        err[0] = '\0';
    if (!sp || !out) {
        fail(&p, NULL, NULL, "request is not for an anthropic endpoint");
        goto out;
    }
    if (!body || len == 0) {
        fail(&p, NULL, NULL, "empty body");
        goto out;
    }
    if (sp->kind == ANT_USAGE || sp->kind == ANT_COST) {
        size_t n0 = out->n_samples;
        if (fast_report(&p, body, len, sp->kind == ANT_COST) == 0) {
            rc = 0;
            goto out;
        }
        col_out_truncate(out, n0); /* the tree reader starts over and names the fault */
        pg_free(&p);
    }
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        char tb[sizeof je.text];
        fail(&p, NULL, NULL, "body is not JSON (line %d column %d): %s", je.line, je.column,
             printable(je.text, tb, sizeof tb));
        goto out;
    }
    if (!json_is_object(root)) {
        fail(&p, NULL, NULL, "body is not a JSON object");
        goto out;
    }
    if (check_error(&p, root))
        goto out;
    int is_list = sp->kind == ANT_WORKSPACES || sp->kind == ANT_API_KEYS;
    if (envelope(&p, root, is_list ? "last_id" : "next_page", &data))
        goto out;
    if (is_list ? parse_list(&p, data, sp->kind) : parse_buckets(&p, data, sp->kind == ANT_COST))
        goto out;
    rc = 0;
out:
    json_decref(root);
    pg_free(&p);
    return rc;
}

const struct col_poller_ops col_anthropic_poller = {
    .type = "anthropic",
    .endpoints = ant_endpoints,
    .n_endpoints = sizeof ant_endpoints / sizeof ant_endpoints[0],
    .url = ant_url,
    .headers = ant_headers,
    .parse = ant_parse,
};
