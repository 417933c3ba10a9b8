/*
 * Anthropic Admin API poller (provider type "anthropic"). Four endpoints
 * under {base_url}/v1/organizations: workspaces and api_keys (object lists,
 * after_id/last_id cursors), usage_report/messages (1h buckets) and
 * cost_report (1d buckets; amounts are decimal strings in cents), both with
 * page/next_page cursors. parse() turns one page into col_out samples and
 * inventory items; it is pure and strict: any malformed value fails the
 * page with the JSON path of the culprit.
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

#include "../common/strmap.h"
#include "../common/timeutil.h"

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

struct pg {
    const struct col_parse_ctx *ctx;
    struct col_out *out;
    char *err;
    size_t errlen;
    struct strmap seen; /* sample key -> index in out->samples, for merging */
    char **keys;        /* the map's key bytes, owned here */
    size_t n_keys, cap_keys;
};

static void pg_free(struct pg *p)
{
    strmap_free(&p->seen);
    for (size_t i = 0; i < p->n_keys; i++)
        free(p->keys[i]);
    free(p->keys);
    p->keys = NULL;
    p->n_keys = p->cap_keys = 0;
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

/*
 * Appends a sample, or adds value to an equal one (same metric, bucket,
 * width and labels) already on this page: rows that differ only in
 * dimensions byokwatch does not keep (inference_geo, context_window, ...)
 * sum into one point instead of overwriting each other in the store.
 */
static int emit(struct pg *p, const char *metric, const char *const labels[][2], size_t n,
                int64_t bucket, int64_t width, double value)
{
    size_t need = 64 + strlen(metric);
    for (size_t i = 0; i < n; i++)
        need += strlen(labels[i][0]) + (labels[i][1] ? strlen(labels[i][1]) : 0) + 24;
    char *key = malloc(need);
    if (!key)
        return fail(p, NULL, NULL, "out of memory");
    int w = snprintf(key, need, "%lld/%lld/%s", (long long)bucket, (long long)width, metric);
    size_t pos = w > 0 ? (size_t)w : need;
    for (size_t i = 0; i < n && pos < need; i++) {
        const char *v = labels[i][1] ? labels[i][1] : "";
        w = snprintf(key + pos, need - pos, "\n%s=%zu:%s", labels[i][0], strlen(v), v);
        pos = w > 0 ? pos + (size_t)w : need;
    }
    if (pos >= need) {
        free(key);
        return fail(p, NULL, NULL, "internal: sample key overflow");
    }
    size_t idx;
    if (strmap_get(&p->seen, key, pos, &idx) == 0) {
        p->out->samples[idx].value += value;
        free(key);
        return 0;
    }
    if (p->n_keys == p->cap_keys) {
        size_t ncap = p->cap_keys ? p->cap_keys * 2 : 64;
        char **nk = realloc(p->keys, ncap * sizeof *nk);
        if (!nk) {
            free(key);
            return fail(p, NULL, NULL, "out of memory");
        }
        p->keys = nk;
        p->cap_keys = ncap;
    }
    p->keys[p->n_keys++] = key;
    if (col_out_sample(p->out, metric, labels, n, bucket, width, value) ||
        strmap_put(&p->seen, key, pos, p->out->n_samples - 1))
        return fail(p, NULL, NULL, "out of memory");
    return 0;
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

static const char *provider_of(const struct pg *p)
{
    return p->ctx->provider ? p->ctx->provider : "anthropic";
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

    const char *const labels[][2] = {
        {"provider", provider_of(p)},
        {"account", p->ctx->account},
        {"project", ws ? ws : "default"},
        {"api_key_id", key_id},
        {"model", model},
        {"service_tier", tier},
        {"kind", "messages"},
    };
    const size_t nl = sizeof labels / sizeof labels[0];
    /* each count <= 2^53, so these int64 sums cannot overflow */
    if (emit(p, "input_tokens", labels, nl, start, width, (double)(uncached + cread + c1h + c5m)) ||
        emit(p, "input_cached_tokens", labels, nl, start, width, (double)cread) ||
        emit(p, "input_cache_write_tokens", labels, nl, start, width, (double)(c1h + c5m)) ||
        emit(p, "output_tokens", labels, nl, start, width, (double)outp))
        return -1;
    if (have_web && emit(p, "web_search_calls", labels, nl, start, width, (double)web))
        return -1;
    return 0;
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
    const char *const labels[][2] = {
        {"provider", provider_of(p)},
        {"account", p->ctx->account},
        {"project", ws ? ws : "default"},
        {"line_item", desc ? desc : ctype},
        {"model", model},
        {"service_tier", tier},
    };
    return emit(p, "cost_usd", labels, sizeof labels / sizeof labels[0], start, width, usd);
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
