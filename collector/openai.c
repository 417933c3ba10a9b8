/*
 * The OpenAI Administration API poller. One table describes the endpoints
 * (usage kinds with their group_by dimensions and metric fields, costs,
 * the audit log, project and key listings); url() builds one page request
 * and parse() turns one page body into samples, events and inventory items.
 * Parsing is pure and strict: a wrong type, a missing required field or a
 * provider error object fails the page with a reason naming the field path
 * ("data[2].results[0].input_tokens"). Usage and cost pages (tens of MB)
 * are read as a token stream (collector/jsonscan.h) with no tree; any page
 * that reader does not accept is re-read with jansson, which names the
 * fault. Field names and units follow the OpenAI spec notes in
 * shared/reference/provider-apis.md §1.
 */
#include "openai.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonscan.h"

enum oai_shape {
    OAI_PROJECTS,     /* project listing */
    OAI_PROJECT_KEYS, /* one project's API keys */
    OAI_ADMIN_KEYS,   /* organization admin keys */
    OAI_USAGE,        /* a usage page ("object":"page" of buckets) */
    OAI_COSTS,        /* the costs page (same envelope, amount results) */
    OAI_AUDIT         /* the audit log listing */
};

#define OAI_MAX_METRICS 5
#define OAI_MAX_GROUPS 5

struct oai_metric {
    const char *field;  /* field in the provider's result object */
    const char *metric; /* ARCHITECTURE.md metric name */
    int required;
};

struct oai_spec {
    enum oai_shape shape;
    const char *path;                     /* below base_url (lists and buckets) */
    const char *kind;                     /* usage: the "kind" label */
    const char *group_by[OAI_MAX_GROUPS]; /* NULL-terminated when shorter */
    struct oai_metric metrics[OAI_MAX_METRICS];
};

#define HOUR INT64_C(3600)
#define DAY INT64_C(86400)

/* Counts above 2^53 are not exact as doubles; nothing real comes near it. */
#define MAX_COUNT 9007199254740992.0
/* A cost line above a trillion dollars is a broken response, not a bill. */
#define MAX_MONEY 1e12
/* Timestamps must fall in [1970, 10000). */
#define MAX_TIME INT64_C(253402300799)

static const struct oai_spec spec_projects = {.shape = OAI_PROJECTS,
                                              .path = "/organization/projects"};
static const struct oai_spec spec_project_keys = {.shape = OAI_PROJECT_KEYS,
                                                  .path = "/organization/projects"};
static const struct oai_spec spec_admin_keys = {.shape = OAI_ADMIN_KEYS,
                                                .path = "/organization/admin_api_keys"};

static const struct oai_spec spec_completions = {
    .shape = OAI_USAGE,
    .path = "/organization/usage/completions",
    .kind = "completions",
    .group_by = {"project_id", "api_key_id", "model", "service_tier", "batch"},
    .metrics = {{"num_model_requests", "requests", 1},
                {"input_tokens", "input_tokens", 1},
                {"input_cached_tokens", "input_cached_tokens", 0},
                {"input_cache_write_tokens", "input_cache_write_tokens", 0},
                {"output_tokens", "output_tokens", 1}}};
static const struct oai_spec spec_embeddings = {
    .shape = OAI_USAGE,
    .path = "/organization/usage/embeddings",
    .kind = "embeddings",
    .group_by = {"project_id", "api_key_id", "model"},
    .metrics = {{"num_model_requests", "requests", 1}, {"input_tokens", "input_tokens", 1}}};
static const struct oai_spec spec_moderations = {
    .shape = OAI_USAGE,
    .path = "/organization/usage/moderations",
    .kind = "moderations",
    .group_by = {"project_id", "api_key_id", "model"},
    .metrics = {{"num_model_requests", "requests", 1}, {"input_tokens", "input_tokens", 1}}};
static const struct oai_spec spec_images = {
    .shape = OAI_USAGE,
    .path = "/organization/usage/images",
    .kind = "images",
    .group_by = {"project_id", "api_key_id", "model"},
    .metrics = {{"num_model_requests", "requests", 1}, {"images", "images", 1}}};
static const struct oai_spec spec_audio_speeches = {
    .shape = OAI_USAGE,
    .path = "/organization/usage/audio_speeches",
    .kind = "audio_speeches",
    .group_by = {"project_id", "api_key_id", "model"},
    .metrics = {{"num_model_requests", "requests", 1}, {"characters", "characters", 1}}};
static const struct oai_spec spec_audio_transcriptions = {
    .shape = OAI_USAGE,
    .path = "/organization/usage/audio_transcriptions",
    .kind = "audio_transcriptions",
    .group_by = {"project_id", "api_key_id", "model"},
    .metrics = {{"num_model_requests", "requests", 1}, {"seconds", "audio_seconds", 1}}};
static const struct oai_spec spec_vector_stores = {.shape = OAI_USAGE,
                                                   .path = "/organization/usage/vector_stores",
                                                   .kind = "vector_stores",
                                                   .group_by = {"project_id"},
                                                   .metrics = {{"usage_bytes", "usage_bytes", 1}}};
static const struct oai_spec spec_code_interpreter = {
    .shape = OAI_USAGE,
    .path = "/organization/usage/code_interpreter_sessions",
    .kind = "code_interpreter_sessions",
    .group_by = {"project_id"},
    .metrics = {{"num_sessions", "sessions", 1}}};
static const struct oai_spec spec_file_search = {
    .shape = OAI_USAGE,
    .path = "/organization/usage/file_search_calls",
    .kind = "file_search_calls",
    .group_by = {"project_id", "api_key_id"},
    .metrics = {{"num_requests", "file_search_calls", 1}}};
static const struct oai_spec spec_web_search = {
    .shape = OAI_USAGE,
    .path = "/organization/usage/web_search_calls",
    .kind = "web_search_calls",
    .group_by = {"project_id", "api_key_id", "model"},
    .metrics = {{"num_model_requests", "requests", 1}, {"num_requests", "web_search_calls", 1}}};
static const struct oai_spec spec_costs = {.shape = OAI_COSTS,
                                           .path = "/organization/costs",
                                           .group_by = {"project_id", "line_item", "api_key_id"}};
static const struct oai_spec spec_audit = {.shape = OAI_AUDIT, .path = "/organization/audit_logs"};

#define LIST_EP(n, s)                                                                              \
    {                                                                                              \
        .name = (n), .kind = COL_EP_LIST, .spec = &(s)                                             \
    }
#define USAGE_EP(n, s)                                                                             \
    {                                                                                              \
        .name = (n), .kind = COL_EP_BUCKETS, .bucket = HOUR, .lookback = 3 * HOUR,                 \
        .max_window = 168 * HOUR, .spec = &(s)                                                     \
    }

static const struct col_endpoint oai_endpoints[] = {
    LIST_EP("projects", spec_projects),
    {.name = "project_api_keys", .kind = COL_EP_LIST, .per_project = 1, .spec = &spec_project_keys},
    LIST_EP("admin_api_keys", spec_admin_keys),
    USAGE_EP("usage/completions", spec_completions),
    USAGE_EP("usage/embeddings", spec_embeddings),
    USAGE_EP("usage/moderations", spec_moderations),
    USAGE_EP("usage/images", spec_images),
    USAGE_EP("usage/audio_speeches", spec_audio_speeches),
    USAGE_EP("usage/audio_transcriptions", spec_audio_transcriptions),
    USAGE_EP("usage/vector_stores", spec_vector_stores),
    USAGE_EP("usage/code_interpreter_sessions", spec_code_interpreter),
    USAGE_EP("usage/file_search_calls", spec_file_search),
    USAGE_EP("usage/web_search_calls", spec_web_search),
    {.name = "costs",
     .kind = COL_EP_BUCKETS,
     .bucket = DAY,
     .lookback = 3 * DAY,
     .max_window = 180 * DAY,
     .spec = &spec_costs},
    {.name = "audit_logs", .kind = COL_EP_LOG, .spec = &spec_audit},
};

/* ---- URL building ---- */

/* A bounded output buffer; bad is set once anything did not fit. */
struct ubuf {
    char *buf;
    size_t len, pos;
    int bad;
};

static void u_raw(struct ubuf *u, const char *s)
{
    size_t n = strlen(s);
    if (u->bad || n >= u->len - u->pos) {
        u->bad = 1;
        return;
    }
    memcpy(u->buf + u->pos, s, n);
    u->pos += n;
    u->buf[u->pos] = '\0';
}

static void u_fmt(struct ubuf *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void u_fmt(struct ubuf *u, const char *fmt, ...)
{
    if (u->bad)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(u->buf + u->pos, u->len - u->pos, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= u->len - u->pos) {
        u->bad = 1;
        u->buf[u->pos] = '\0';
        return;
    }
    u->pos += (size_t)w;
}

/* Percent-encodes everything but RFC 3986 unreserved characters. */
static void u_enc(struct ubuf *u, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p && !u->bad; p++) {
        int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        size_t need = plain ? 1 : 3;
        if (need >= u->len - u->pos) {
            u->bad = 1;
            break;
        }
        if (plain) {
            u->buf[u->pos++] = (char)*p;
        } else {
            u->buf[u->pos++] = '%';
            u->buf[u->pos++] = hex[*p >> 4];
            u->buf[u->pos++] = hex[*p & 15];
        }
        u->buf[u->pos] = '\0';
    }
}

static void u_base(struct ubuf *u, const char *base)
{
    size_t n = strlen(base);
    if (n > 0 && base[n - 1] == '/')
        n--;
    if (n >= u->len - u->pos) {
        u->bad = 1;
        return;
    }
    memcpy(u->buf + u->pos, base, n);
    u->pos += n;
    u->buf[u->pos] = '\0';
}

static void u_param(struct ubuf *u, const char *name, const char *value)
{
    u_raw(u, "&");
    u_raw(u, name);
    u_raw(u, "=");
    u_enc(u, value);
}

static int oai_url(const char *base_url, const struct col_request *req, char *buf, size_t len)
{
    if (!buf || len == 0)
        return -1;
    buf[0] = '\0';
    if (!base_url || !req || !req->ep || !req->ep->spec)
        return -1;
    const struct oai_spec *s = req->ep->spec;
    struct ubuf u = {.buf = buf, .len = len};
    if (s->shape == OAI_PROJECT_KEYS && (!req->project || !req->project[0]))
        return -1;

    u_base(&u, base_url);
    switch (s->shape) {
    case OAI_PROJECTS:
        u_raw(&u, s->path);
        u_raw(&u, "?limit=100&include_archived=true");
        break;
    case OAI_PROJECT_KEYS:
        u_raw(&u, s->path);
        u_raw(&u, "/");
        u_enc(&u, req->project);
        u_raw(&u, "/api_keys?limit=100&owner_project_access=any");
        break;
    case OAI_ADMIN_KEYS:
        u_raw(&u, s->path);
        u_raw(&u, "?limit=100");
        break;
    case OAI_USAGE:
    case OAI_COSTS:
        u_raw(&u, s->path);
        u_fmt(&u, "?start_time=%" PRId64 "&end_time=%" PRId64, req->start, req->end);
        u_raw(&u,
              s->shape == OAI_USAGE ? "&bucket_width=1h&limit=168" : "&bucket_width=1d&limit=180");
        for (size_t i = 0; i < OAI_MAX_GROUPS && s->group_by[i]; i++)
            u_param(&u, "group_by", s->group_by[i]);
        if (req->page)
            u_param(&u, "page", req->page);
        break;
    case OAI_AUDIT:
        u_raw(&u, s->path);
        u_fmt(&u, "?effective_at[gte]=%" PRId64 "&limit=100", req->start);
        break;
    }
    if (s->shape != OAI_USAGE && s->shape != OAI_COSTS && req->page)
        u_param(&u, "after", req->page);
    if (u.bad) {
        buf[0] = '\0';
        return -1;
    }
    return 0;
}

/* ---- headers ---- */

static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

static struct curl_slist *oai_headers(struct curl_slist *h, const char *key)
{
    static const char prefix[] = "Authorization: Bearer ";
    if (!key || !key[0] || strpbrk(key, "\r\n"))
        return NULL;
    struct curl_slist *head = curl_slist_append(h, "Content-Type: application/json");
    if (!head)
        return NULL;
    size_t n = sizeof prefix + strlen(key);
    char *line = malloc(n);
    struct curl_slist *r = NULL;
    if (line) {
        int w = snprintf(line, n, "%s%s", prefix, key);
        if (w >= 0 && (size_t)w < n)
            r = curl_slist_append(head, line);
        wipe(line, n);
        free(line);
    }
    if (!r) {
        if (!h)
            curl_slist_free_all(head);
        return NULL;
    }
    return r;
}

/* ---- parse helpers ---- */

struct pctx {
    const struct col_parse_ctx *ctx;
    const struct oai_spec *spec;
    struct col_out *out;
    const char *provider;
    const char *account;
    char *err;
    size_t errlen;
};

static int fail(struct pctx *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct pctx *p, const char *fmt, ...)
{
    if (p->err && p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(p->err, p->errlen, fmt, ap);
        va_end(ap);
        if (w < 0)
            p->err[0] = '\0';
        /* a longer reason is cut at errlen: it is a message, not data */
    }
    return -1;
}

static int oom(struct pctx *p)
{
    return fail(p, "out of memory");
}

static const char *jtype(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "value";
}

/*
 * Writes parent + "." + key (or just key at the top level) into buf, for
 * error messages only; an over-long path is cut and ends in "...".
 */
static const char *path_key(char *buf, size_t len, const char *parent, const char *key)
{
    int w = snprintf(buf, len, "%s%s%s", parent, parent[0] ? "." : "", key);
    if (w < 0)
        buf[0] = '\0';
    else if ((size_t)w >= len && len > 4)
        memcpy(buf + len - 4, "...", 4);
    return buf;
}

static const char *path_idx(char *buf, size_t len, const char *parent, const char *arr, size_t i)
{
    int w = snprintf(buf, len, "%s%s%s[%zu]", parent, parent[0] ? "." : "", arr, i);
    if (w < 0)
        buf[0] = '\0';
    else if ((size_t)w >= len && len > 4)
        memcpy(buf + len - 4, "...", 4);
    return buf;
}

static int type_fail(struct pctx *p, const char *path, const char *key, const char *want,
                     const json_t *got)
{
    char fp[256];
    return fail(p, "%s: expected %s, got %s", path_key(fp, sizeof fp, path, key), want, jtype(got));
}

static int missing(struct pctx *p, const char *path, const char *key)
{
    char fp[256];
    return fail(p, "%s: missing", path_key(fp, sizeof fp, path, key));
}

/* The member, or NULL when it is absent or JSON null. */
static json_t *member(const json_t *obj, const char *key)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    return json_is_null(v) ? NULL : v;
}

/* Optional string: *out is NULL when absent or null; -1 on another type. */
static int opt_str(struct pctx *p, const json_t *obj, const char *path, const char *key,
                   const char **out)
{
    json_t *v = member(obj, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return type_fail(p, path, key, "a string", v);
    *out = json_string_value(v);
    return 0;
}

/* Required non-empty string. */
static int req_str(struct pctx *p, const json_t *obj, const char *path, const char *key,
                   const char **out)
{
    if (opt_str(p, obj, path, key, out))
        return -1;
    if (!*out) {
        missing(p, path, key);
        return -1;
    }
    if (!(*out)[0]) {
        char fp[256];
        return fail(p, "%s: empty", path_key(fp, sizeof fp, path, key));
    }
    return 0;
}

/* Optional object: *out NULL when absent or null. */
static int opt_obj(struct pctx *p, const json_t *obj, const char *path, const char *key,
                   json_t **out)
{
    json_t *v = member(obj, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_object(v))
        return type_fail(p, path, key, "an object", v);
    *out = v;
    return 0;
}

/* Optional Unix time (integer seconds in [1970, 10000)); *present 0 when absent or null. */
static int opt_time(struct pctx *p, const json_t *obj, const char *path, const char *key,
                    int64_t *out, int *present)
{
    json_t *v = member(obj, key);
    *present = 0;
    *out = 0;
    if (!v)
        return 0;
    if (!json_is_integer(v))
        return type_fail(p, path, key, "an integer (Unix seconds)", v);
    json_int_t t = json_integer_value(v);
    if (t < 0 || t > MAX_TIME) {
        char fp[256];
        return fail(p, "%s: time %lld out of range", path_key(fp, sizeof fp, path, key),
                    (long long)t);
    }
    *out = (int64_t)t;
    *present = 1;
    return 0;
}

static int req_time(struct pctx *p, const json_t *obj, const char *path, const char *key,
                    int64_t *out)
{
    int present;
    if (opt_time(p, obj, path, key, out, &present))
        return -1;
    return present ? 0 : missing(p, path, key);
}

/* A non-negative count (integer, or a whole-valued number below 2^53). */
static int get_count(struct pctx *p, const json_t *obj, const char *path, const char *key,
                     int required, double *out, int *present)
{
    json_t *v = member(obj, key);
    char fp[256];
    *present = 0;
    if (!v)
        return required ? missing(p, path, key) : 0;
    if (!json_is_number(v))
        return type_fail(p, path, key, "a number", v);
    double d = json_number_value(v);
    if (!isfinite(d) || d < 0)
        return fail(p, "%s: negative count", path_key(fp, sizeof fp, path, key));
    if (d > MAX_COUNT)
        return fail(p, "%s: count out of range", path_key(fp, sizeof fp, path, key));
    *out = d;
    *present = 1;
    return 0;
}

static int set_str(json_t *obj, const char *key, const char *val)
{
    if (!val)
        return 0;
    json_t *s = json_string(val);
    return s ? json_object_set_new(obj, key, s) : -1;
}

static int set_int(json_t *obj, const char *key, int64_t val)
{
    json_t *i = json_integer((json_int_t)val);
    return i ? json_object_set_new(obj, key, i) : -1;
}

static int set_opt_time(json_t *obj, const char *key, int present, int64_t val)
{
    return present ? set_int(obj, key, val) : 0;
}

static int ascii_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = (*a >= 'A' && *a <= 'Z') ? (char)(*a - 'A' + 'a') : *a;
        char y = (*b >= 'A' && *b <= 'Z') ? (char)(*b - 'A' + 'a') : *b;
        if (x != y)
            return 0;
    }
    return *a == *b;
}

/*
 * Copies at most the last four alphanumeric characters of a key's display
 * value, so a provider that sent more than a redacted form still leaks
 * nothing: "sk-abc...def" -> "...def".
 */
static int set_redacted(json_t *obj, const char *key, const char *val)
{
    if (!val || !val[0])
        return 0;
    size_t n = strlen(val), start = n;
    while (start > 0 && n - start < 4) {
        char c = val[start - 1];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            break;
        start--;
    }
    char buf[8];
    int w = snprintf(buf, sizeof buf, "...%s", val + start);
    if (w < 0 || (size_t)w >= sizeof buf)
        return -1;
    return set_str(obj, key, buf);
}

/* Copies the provider's error message for err: printable ASCII only. */
static void clean_copy(char *dst, size_t len, const char *src)
{
    size_t i = 0;
    for (; src && *src && i + 1 < len; src++)
        dst[i++] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
    if (len)
        dst[i < len ? i : len - 1] = '\0';
}

/*
 * Masks anything that looks like an OpenAI key ("sk-...") in a provider
 * message, keeping at most its last four characters, in place.
 */
static void scrub_keys(char *s)
{
    for (char *k = strstr(s, "sk-"); k; k = strstr(k + 3, "sk-")) {
        size_t t = strcspn(k, " \t\"',;()<>[]{}");
        if (t >= 11) {
            memmove(k + 6, k + t - 4, strlen(k + t - 4) + 1);
            k[3] = k[4] = k[5] = '.';
        } else {
            memset(k + 3, '*', t - 3);
        }
    }
}

/* Fails the page when the body is a provider error object. */
static int check_error(struct pctx *p, const json_t *root)
{
    json_t *e = member(root, "error");
    if (!e)
        return 0;
    char msg[200] = "", type[64] = "";
    if (json_is_object(e)) {
        json_t *m = json_object_get(e, "message");
        json_t *t = json_object_get(e, "type");
        json_t *c = json_object_get(e, "code");
        if (json_is_string(m))
            clean_copy(msg, sizeof msg, json_string_value(m));
        if (json_is_string(t))
            clean_copy(type, sizeof type, json_string_value(t));
        else if (json_is_string(c))
            clean_copy(type, sizeof type, json_string_value(c));
    } else if (json_is_string(e)) {
        clean_copy(msg, sizeof msg, json_string_value(e));
    }
    scrub_keys(msg);
    return fail(p, "error: provider returned an error%s%s%s%s%s", type[0] ? " (" : "", type,
                type[0] ? ")" : "", msg[0] ? ": " : "", msg);
}

/* A top-level "object" tag, when present, must name the expected envelope. */
static int check_tag(struct pctx *p, const json_t *root, const char *want)
{
    json_t *o = member(root, "object");
    if (!o)
        return 0;
    if (!json_is_string(o))
        return type_fail(p, "", "object", "a string", o);
    if (strcmp(json_string_value(o), want) != 0)
        return fail(p, "object: expected \"%s\"", want);
    return 0;
}

static int get_data(struct pctx *p, const json_t *root, json_t **data)
{
    json_t *d = json_object_get(root, "data");
    if (!d)
        return missing(p, "", "data");
    if (!json_is_array(d))
        return type_fail(p, "", "data", "an array", d);
    *data = d;
    return 0;
}

/*
 * Sets the next-page cursor from has_more and the cursor field (next_page
 * for pages, last_id for lists): a cursor is required when has_more is
 * true and must differ from the current one (no endless paging).
 */
static int set_cursor(struct pctx *p, const json_t *root, const char *field)
{
    json_t *hm = json_object_get(root, "has_more");
    if (!hm)
        return missing(p, "", "has_more");
    if (!json_is_boolean(hm))
        return type_fail(p, "", "has_more", "a boolean", hm);
    const char *cur;
    if (opt_str(p, root, "", field, &cur))
        return -1;
    if (!json_is_true(hm))
        return col_out_set_next(p->out, NULL) ? oom(p) : 0;
    if (!cur || !cur[0])
        return fail(p, "%s: %s while has_more is true", field, cur ? "empty" : "null");
    if (p->ctx->req->page && strcmp(p->ctx->req->page, cur) == 0)
        return fail(p, "%s: repeats the current page cursor", field);
    return col_out_set_next(p->out, cur) ? oom(p) : 0;
}

/* ---- usage and costs ---- */

/*
 * The samples of one usage result: one per metric present, labelled by the
 * result's dimensions (a NULL or empty dimension is left out; an empty
 * project is the "default" one). Shared by both readers of usage pages.
 */
static int emit_usage(struct pctx *p, const char *project, const char *key, const char *model,
                      const char *tier, const char *batch, const double *vals, const int *have,
                      int64_t start, int64_t width)
{
    const char *const labels[][2] = {
        {"provider", p->provider},
        {"account", p->account},
        {"project", project && project[0] ? project : "default"},
        {"api_key_id", key},
        {"model", model},
        {"service_tier", tier},
        {"batch", batch},
        {"kind", p->spec->kind},
    };
    const struct oai_metric *m = p->spec->metrics;
    for (size_t i = 0; i < OAI_MAX_METRICS && m[i].field; i++)
        if (have[i] && col_out_sample(p->out, m[i].metric, labels, sizeof labels / sizeof labels[0],
                                      start, width, vals[i]))
            return oom(p);
    return 0;
}

static int usage_result(struct pctx *p, const json_t *r, const char *path, int64_t start,
                        int64_t width)
{
    const char *project, *key, *model, *tier, *batch = NULL;
    if (opt_str(p, r, path, "project_id", &project) || opt_str(p, r, path, "api_key_id", &key) ||
        opt_str(p, r, path, "model", &model) || opt_str(p, r, path, "service_tier", &tier))
        return -1;
    json_t *b = member(r, "batch");
    if (b) {
        if (!json_is_boolean(b))
            return type_fail(p, path, "batch", "a boolean", b);
        batch = json_is_true(b) ? "true" : "false";
    }
    double vals[OAI_MAX_METRICS];
    int have[OAI_MAX_METRICS] = {0};
    const struct oai_metric *m = p->spec->metrics;
    for (size_t i = 0; i < OAI_MAX_METRICS && m[i].field; i++)
        if (get_count(p, r, path, m[i].field, m[i].required, &vals[i], &have[i]))
            return -1;
    return emit_usage(p, project, key, model, tier, batch, vals, have, start, width);
}

/* The cost_usd sample of one cost result (shared by both readers of cost pages). */
static int emit_cost(struct pctx *p, const char *project, const char *line, const char *key,
                     double value, int64_t start, int64_t width)
{
    const char *const labels[][2] = {
        {"provider", p->provider},
        {"account", p->account},
        {"project", project && project[0] ? project : "default"},
        {"line_item", line},
        {"api_key_id", key},
    };
    if (col_out_sample(p->out, "cost_usd", labels, sizeof labels / sizeof labels[0], start, width,
                       value))
        return oom(p);
    return 0;
}

static int cost_result(struct pctx *p, const json_t *r, const char *path, int64_t start,
                       int64_t width)
{
    const char *project, *line, *key, *cur;
    char ap[256];
    if (opt_str(p, r, path, "project_id", &project) || opt_str(p, r, path, "line_item", &line) ||
        opt_str(p, r, path, "api_key_id", &key))
        return -1;
    json_t *amount;
    if (opt_obj(p, r, path, "amount", &amount))
        return -1;
    if (!amount)
        return missing(p, path, "amount");
    path_key(ap, sizeof ap, path, "amount");
    json_t *v = member(amount, "value");
    if (!v)
        return missing(p, ap, "value");
    if (!json_is_number(v))
        return type_fail(p, ap, "value", "a number", v);
    double value = json_number_value(v);
    if (!isfinite(value) || fabs(value) > MAX_MONEY)
        return fail(p, "%s.value: amount out of range", ap);
    if (req_str(p, amount, ap, "currency", &cur))
        return -1;
    if (!cur || !ascii_ieq(cur, "usd"))
        return fail(p, "%s.currency: only usd is supported", ap);
    return emit_cost(p, project, line, key, value, start, width);
}

static int parse_buckets(struct pctx *p, const json_t *root)
{
    json_t *data = NULL;
    if (check_tag(p, root, "page") || get_data(p, root, &data))
        return -1;
    for (size_t i = 0; i < json_array_size(data); i++) {
        char bp[64], rp[96];
        json_t *b = json_array_get(data, i);
        path_idx(bp, sizeof bp, "", "data", i);
        if (!json_is_object(b))
            return fail(p, "%s: expected an object, got %s", bp, jtype(b));
        int64_t start, end;
        if (req_time(p, b, bp, "start_time", &start) || req_time(p, b, bp, "end_time", &end))
            return -1;
        int64_t width = end - start;
        if (p->spec->shape == OAI_COSTS ? width != DAY : (width != HOUR && width != DAY))
            return fail(p, "%s: bucket spans %" PRId64 " s, expected %s", bp, width,
                        p->spec->shape == OAI_COSTS ? "86400" : "3600 or 86400");
        json_t *results = json_object_get(b, "results");
        if (!results)
            return missing(p, bp, "results");
        if (!json_is_array(results))
            return type_fail(p, bp, "results", "an array", results);
        for (size_t j = 0; j < json_array_size(results); j++) {
            json_t *r = json_array_get(results, j);
            path_idx(rp, sizeof rp, bp, "results", j);
            if (!json_is_object(r))
                return fail(p, "%s: expected an object, got %s", rp, jtype(r));
            int rc = p->spec->shape == OAI_COSTS ? cost_result(p, r, rp, start, width)
                                                 : usage_result(p, r, rp, start, width);
            if (rc)
                return -1;
        }
    }
    return set_cursor(p, root, "next_page");
}

/* ---- usage and cost pages as a token stream ---- */

/*
 * The hot path. A page is read with the tokenizer (collector/jsonscan.h)
 * and samples are emitted as results stream by, with no tree. It accepts
 * exactly the pages the tree reader above accepts, with the same samples
 * and cursor; on anything else (a wrong type, a missing field, JSON that
 * jansson would refuse, a provider error, a limit of the tokenizer) it
 * gives up, and oai_parse re-reads the page with the tree reader, which
 * names the culprit. Errors therefore read the same whichever path ran.
 */

/* Roles of the members of a usage result; metric j is ROLE_METRIC + j. */
enum { ROLE_PROJECT, ROLE_KEY, ROLE_MODEL, ROLE_TIER, ROLE_BATCH, ROLE_SKIP, ROLE_METRIC };

/* The labels read from a usage result come first, in ROLE_* order. */
static const char *const usage_members[] = {
    "project_id", "api_key_id", "model", "service_tier", "batch",
    /* published members of the ten result kinds, metrics or not */
    "object", "user_id", "input_tokens", "input_cached_tokens", "input_cache_write_tokens",
    "input_uncached_tokens", "output_tokens", "input_text_tokens", "output_text_tokens",
    "input_cached_text_tokens", "input_audio_tokens", "input_cached_audio_tokens",
    "output_audio_tokens", "input_image_tokens", "input_cached_image_tokens", "output_image_tokens",
    "num_model_requests", "images", "size", "source", "characters", "seconds", "usage_bytes",
    "num_sessions", "num_requests", "vector_store_id", "context_level"};
#define N_USAGE_MEMBERS (sizeof usage_members / sizeof usage_members[0])

enum { PAGE_OBJECT, PAGE_DATA, PAGE_HAS_MORE, PAGE_NEXT, PAGE_ERROR };
static const char *const page_members[] = {"object", "data", "has_more", "next_page", "error"};
/* js_bucket reads members 0-2 as start, end and rows. */
static const char *const bucket_members[] = {"start_time", "end_time", "results", "object"};
enum { COST_PROJECT, COST_LINE, COST_KEY, COST_AMOUNT };
static const char *const cost_members[] = {"project_id", "line_item", "api_key_id",   "amount",
                                           "object",     "quantity",  "quantity_unit"};
enum { AMOUNT_VALUE, AMOUNT_CURRENCY };
static const char *const amount_members[] = {"value", "currency"};

#define NMEMB(a) (sizeof(a) / sizeof(a)[0])

struct fast {
    struct pctx *p;
    unsigned opts; /* tokenizer options: what jansson refuses */
    struct js_keymap page, bucket, result, amount;
    const char *names[N_USAGE_MEMBERS + OAI_MAX_METRICS];
    unsigned char role[JS_KEYMAP_MAX]; /* of f->result's indexes; learned keys are skipped */
};

static int fast_init(struct fast *f, struct pctx *p)
{
    f->p = p;
    f->opts = JS_OPT_REJECT_NUL | JS_OPT_NUM_RANGE;
    memset(f->role, ROLE_SKIP, sizeof f->role);
    size_t n = 0;
    for (size_t i = 0; i < N_USAGE_MEMBERS; i++) {
        f->names[n] = usage_members[i];
        f->role[n++] = (unsigned char)(i < ROLE_SKIP ? i : ROLE_SKIP);
    }
    const struct oai_metric *m = p->spec->metrics;
    for (size_t j = 0; p->spec->shape == OAI_USAGE && j < OAI_MAX_METRICS && m[j].field; j++) {
        size_t i = 0;
        while (i < n && strcmp(f->names[i], m[j].field) != 0)
            i++;
        if (i < ROLE_SKIP)
            return -1; /* a metric named like a label: not a table this reader knows */
        if (i == n)
            f->names[n++] = m[j].field;
        f->role[i] = (unsigned char)(ROLE_METRIC + j);
    }
    if (js_keymap_init(&f->page, page_members, NMEMB(page_members)) ||
        js_keymap_init(&f->bucket, bucket_members, NMEMB(bucket_members)) ||
        js_keymap_init(&f->amount, amount_members, NMEMB(amount_members)))
        return -1;
    if (p->spec->shape == OAI_USAGE)
        return js_keymap_init(&f->result, f->names, n);
    return js_keymap_init(&f->result, cost_members, NMEMB(cost_members));
}

/* json_number_value() of the number jansson would build from this token. */
static int num_value(const struct js_token *v, double *d)
{
    uint64_t u;
    int64_t i;
    if (js_num_u53(v, &u) == 0) {
        *d = (double)u;
        return 0;
    }
    if (v->flags & JS_F_INT) {
        if (js_num_i64(v, &i))
            return -1;
        *d = (double)i;
        return 0;
    }
    return js_num_double(v, d);
}

/* get_count(): a number in [0, 2^53]. */
static int fast_count(const struct js_token *v, double *out)
{
    double d;
    if (v->type != JS_NUMBER || num_value(v, &d) || !isfinite(d) || d < 0 || d > MAX_COUNT)
        return -1;
    *out = d;
    return 0;
}

/* opt_time()/req_time(): an integer literal in [0, MAX_TIME]. */
static int fast_time(const struct js_token *v, int64_t *out)
{
    int64_t t;
    if (v->type != JS_NUMBER || js_num_i64(v, &t) || t < 0 || t > MAX_TIME)
        return -1;
    *out = t;
    return 0;
}

/* opt_str(): a string token into *t, null leaves *have 0; other types fail. */
static int fast_opt_str(const struct js_token *v, struct js_token *t, int *have)
{
    if (v->type == JS_NULL)
        return 0;
    if (v->type != JS_STRING)
        return -1;
    *t = *v;
    *have = 1;
    return 0;
}

/*
 * Unescaped, NUL-terminated copies of the n string tokens that are present,
 * in buf (cap bytes) or, when they do not fit, in one allocation left in
 * *heap for the caller to free. out[i] is NULL for an absent token.
 */
static int fast_strings(const struct js_token *t, const int *have, size_t n, const char **out,
                        char *buf, size_t cap, char **heap)
{
    size_t need = 0;
    for (size_t i = 0; i < n; i++)
        need += have[i] ? t[i].len + 1 : 0;
    if (need > cap) {
        if (!(*heap = malloc(need)))
            return -1;
        buf = *heap;
        cap = need;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len;
        out[i] = NULL;
        if (!have[i])
            continue;
        if (js_string(&t[i], buf, cap, &len) != 0)
            return -1;
        out[i] = buf;
        buf += len + 1;
        cap -= len + 1;
    }
    return 0;
}

static int fast_usage_result(struct fast *f, struct js *s, int64_t start, int64_t width)
{
    struct js_keyset ks;
    struct js_token v, lab[4];
    int have_lab[4] = {0}, have[OAI_MAX_METRICS] = {0}, idx, r;
    double vals[OAI_MAX_METRICS] = {0};
    const char *batch = NULL;
    js_keyset_init(&ks);
    while ((r = js_member(s, &f->result, &ks, &idx, &v)) == 1) {
        unsigned role = idx < 0 ? ROLE_SKIP : f->role[idx];
        if (role < ROLE_BATCH) {
            if (fast_opt_str(&v, &lab[role], &have_lab[role]))
                return -1;
        } else if (role == ROLE_BATCH) {
            if (v.type == JS_TRUE || v.type == JS_FALSE)
                batch = v.type == JS_TRUE ? "true" : "false";
            else if (v.type != JS_NULL)
                return -1;
        } else if (role >= ROLE_METRIC) {
            if (v.type != JS_NULL && fast_count(&v, &vals[role - ROLE_METRIC]))
                return -1;
            have[role - ROLE_METRIC] = v.type != JS_NULL;
        } else if (js_skip_unique(s, &v)) {
            return -1;
        }
    }
    if (r < 0)
        return -1;
    const struct oai_metric *m = f->p->spec->metrics;
    for (size_t i = 0; i < OAI_MAX_METRICS && m[i].field; i++)
        if (m[i].required && !have[i])
            return -1;
    char buf[1024], *heap = NULL;
    const char *l[4];
    int rc = fast_strings(lab, have_lab, 4, l, buf, sizeof buf, &heap);
    if (rc == 0)
        rc = emit_usage(f->p, l[0], l[1], l[2], l[3], batch, vals, have, start, width);
    free(heap);
    return rc;
}

/* The amount member of a cost result: {"value": number, "currency": "usd"}. */
static int fast_amount(struct fast *f, struct js *s, double *value)
{
    struct js_keyset ks;
    struct js_token v;
    int idx, r, have_value = 0, have_cur = 0;
    js_keyset_init(&ks);
    while ((r = js_member(s, &f->amount, &ks, &idx, &v)) == 1) {
        if (idx == AMOUNT_VALUE) {
            if (v.type != JS_NUMBER || num_value(&v, value) || !isfinite(*value) ||
                fabs(*value) > MAX_MONEY)
                return -1;
            have_value = 1;
        } else if (idx == AMOUNT_CURRENCY) {
            char cur[8];
            if (v.type != JS_STRING || js_string(&v, cur, sizeof cur, NULL) != 0 ||
                !ascii_ieq(cur, "usd"))
                return -1;
            have_cur = 1;
        } else if (js_skip_unique(s, &v)) {
            return -1;
        }
    }
    return r == 0 && have_value && have_cur ? 0 : -1;
}

static int fast_cost_result(struct fast *f, struct js *s, int64_t start, int64_t width)
{
    struct js_keyset ks;
    struct js_token v, lab[3];
    int have_lab[3] = {0}, have_amount = 0, idx, r;
    double value = 0;
    js_keyset_init(&ks);
    while ((r = js_member(s, &f->result, &ks, &idx, &v)) == 1) {
        if (idx >= COST_PROJECT && idx <= COST_KEY) {
            if (fast_opt_str(&v, &lab[idx], &have_lab[idx]))
                return -1;
        } else if (idx == COST_AMOUNT) {
            if (v.type != JS_OBJECT || fast_amount(f, s, &value))
                return -1;
            have_amount = 1;
        } else if (js_skip_unique(s, &v)) {
            return -1;
        }
    }
    if (r < 0 || !have_amount)
        return -1;
    char buf[1024], *heap = NULL;
    const char *l[3];
    int rc = fast_strings(lab, have_lab, 3, l, buf, sizeof buf, &heap);
    if (rc == 0)
        rc = emit_cost(f->p, l[COST_PROJECT], l[COST_LINE], l[COST_KEY], value, start, width);
    free(heap);
    return rc;
}

/* The elements of a results array whose '[' was just read. */
static int width_ok(const struct pctx *p, int64_t width)
{
    return p->spec->shape == OAI_COSTS ? width == DAY : (width == HOUR || width == DAY);
}

static int fast_bucket_ok(void *ud, int64_t start, int64_t end)
{
    const struct fast *f = ud;
    return width_ok(f->p, end - start);
}

static int fast_row(void *ud, struct js *s, int64_t start, int64_t width)
{
    struct fast *f = ud;
    return f->p->spec->shape == OAI_COSTS ? fast_cost_result(f, s, start, width)
                                          : fast_usage_result(f, s, start, width);
}

/* A bucket: start_time, end_time, results[] (object is skipped). */
static const struct js_bucket_ops fast_bucket_ops = {
    .time = fast_time, .ok = fast_bucket_ok, .row = fast_row};

/* set_cursor() for a page whose has_more and next_page were read. */
static int fast_cursor(struct pctx *p, int has_more, const struct js_token *cur)
{
    if (!has_more)
        return col_out_set_next(p->out, NULL);
    if (!cur || cur->len == 0)
        return -1;
    char buf[512], *heap = NULL;
    char *c = buf;
    if (cur->len >= sizeof buf && !(c = heap = malloc(cur->len + 1)))
        return -1;
    size_t n;
    int rc = js_string(cur, c, cur->len + 1, &n);
    if (rc == 0 && (n == 0 || (p->ctx->req->page && strcmp(p->ctx->req->page, c) == 0)))
        rc = -1;
    if (rc == 0)
        rc = col_out_set_next(p->out, c);
    free(heap);
    return rc;
}

/* A whole usage or cost page; 0 with every sample and the cursor, -1 to re-read it. */
static int fast_page(struct pctx *p, const char *body, size_t len)
{
    struct fast f;
    struct js s;
    struct js_keyset ks;
    struct js_token v, cursor;
    int has_more = -1, have_data = 0, have_cursor = 0, idx, r;
    if (fast_init(&f, p))
        return -1;
    js_init(&s, body, len, f.opts);
    if (js_next(&s, &v) != JS_OBJECT)
        return -1;
    js_keyset_init(&ks);
    while ((r = js_member(&s, &f.page, &ks, &idx, &v)) == 1) {
        switch (idx) {
        case PAGE_OBJECT:
            if (v.type != JS_NULL && (v.type != JS_STRING || !js_str_eq(&v, "page", 4)))
                return -1;
            break;
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
            if (fast_opt_str(&v, &cursor, &have_cursor))
                return -1;
            break;
        case PAGE_ERROR:
            if (v.type != JS_NULL)
                return -1;
            break;
        default:
            if (js_skip_unique(&s, &v))
                return -1;
        }
    }
    if (r < 0 || js_next(&s, &v) != JS_EOF || !have_data || has_more < 0)
        return -1;
    return fast_cursor(p, has_more, have_cursor ? &cursor : NULL);
}

/* ---- audit log ---- */

/*
 * A latitude or longitude: a number, or a string that reads as one (the
 * published example sends strings). Values that do not read as a finite
 * number within [-lim, lim] are left out (the raw entry keeps them).
 */
static int geo_coord(struct pctx *p, const json_t *det, const char *path, const char *key,
                     double lim, json_t *obj, const char *outkey)
{
    json_t *v = member(det, key);
    double d;
    if (!v)
        return 0;
    if (json_is_number(v)) {
        d = json_number_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        if (!s[0] || strspn(s, "0123456789+-.eE") != strlen(s))
            return 0;
        d = strtod(s, &end);
        if (*end)
            return 0;
    } else {
        return type_fail(p, path, key, "a number or a string", v);
    }
    if (!isfinite(d) || fabs(d) > lim)
        return 0;
    json_t *r = json_real(d);
    return (r && json_object_set_new(obj, outkey, r) == 0) ? 0 : oom(p);
}

struct actor_info {
    const char *type, *who, *key_id, *ip, *ua, *country, *city, *region;
};

static int audit_actor(struct pctx *p, const json_t *e, const char *path, json_t *obj,
                       struct actor_info *a)
{
    char ap[160], sp[192], kp[192], up[224], dp[224], sap[224];
    json_t *actor, *session, *apikey, *user = NULL, *sa = NULL, *det = NULL;
    const char *email = NULL, *uid = NULL, *said = NULL;

    memset(a, 0, sizeof *a);
    if (opt_obj(p, e, path, "actor", &actor))
        return -1;
    if (!actor)
        return 0;
    path_key(ap, sizeof ap, path, "actor");
    path_key(sp, sizeof sp, ap, "session");
    path_key(kp, sizeof kp, ap, "api_key");
    if (opt_str(p, actor, ap, "type", &a->type) || opt_obj(p, actor, ap, "session", &session) ||
        opt_obj(p, actor, ap, "api_key", &apikey))
        return -1;
    if (session) {
        path_key(up, sizeof up, sp, "user");
        path_key(dp, sizeof dp, sp, "ip_address_details");
        if (opt_obj(p, session, sp, "user", &user) ||
            opt_str(p, session, sp, "ip_address", &a->ip) ||
            opt_str(p, session, sp, "user_agent", &a->ua) ||
            opt_obj(p, session, sp, "ip_address_details", &det))
            return -1;
        if (det &&
            (opt_str(p, det, dp, "country", &a->country) || opt_str(p, det, dp, "city", &a->city) ||
             opt_str(p, det, dp, "region", &a->region) ||
             geo_coord(p, det, dp, "latitude", 90, obj, "lat") ||
             geo_coord(p, det, dp, "longitude", 180, obj, "lon")))
            return -1;
    }
    if (apikey) {
        if (opt_str(p, apikey, kp, "id", &a->key_id))
            return -1;
        if (!user) {
            path_key(up, sizeof up, kp, "user");
            if (opt_obj(p, apikey, kp, "user", &user))
                return -1;
        }
        path_key(sap, sizeof sap, kp, "service_account");
        if (opt_obj(p, apikey, kp, "service_account", &sa) ||
            (sa && opt_str(p, sa, sap, "id", &said)))
            return -1;
    }
    if (user && (opt_str(p, user, up, "email", &email) || opt_str(p, user, up, "id", &uid)))
        return -1;
    a->who = email && email[0] ? email : uid && uid[0] ? uid : said && said[0] ? said : a->key_id;
    return 0;
}

static int audit_entry(struct pctx *p, json_t *e, const char *path)
{
    const char *id = NULL, *type = NULL, *project = NULL, *pid = NULL, *ecode = NULL, *emsg = NULL;
    int64_t t;
    json_t *proj, *payload, *obj = NULL;
    struct actor_info a;
    char *etype = NULL;
    int rc = -1;

    if (req_str(p, e, path, "id", &id) || req_str(p, e, path, "type", &type) ||
        req_time(p, e, path, "effective_at", &t) || opt_obj(p, e, path, "project", &proj))
        return -1;
    if (proj) {
        char pp[160];
        if (opt_str(p, proj, path_key(pp, sizeof pp, path, "project"), "id", &project))
            return -1;
    }
    /* the payload sits under a key equal to the type; real types all have a '.' */
    payload = NULL;
    if (strchr(type, '.') && opt_obj(p, e, path, type, &payload))
        return -1;
    if (payload) {
        char pp[256];
        path_key(pp, sizeof pp, path, type);
        if (opt_str(p, payload, pp, "id", &pid) || opt_str(p, payload, pp, "error_code", &ecode) ||
            opt_str(p, payload, pp, "error_message", &emsg))
            return -1;
    }
    obj = json_object();
    if (!obj)
        return oom(p);
    if (audit_actor(p, e, path, obj, &a))
        goto out;
    const char *key_id = strncmp(type, "api_key.", 8) == 0 && pid ? pid : a.key_id;
    if (!project && strncmp(type, "project.", 8) == 0)
        project = pid;
    if (set_str(obj, "provider", p->provider) || set_str(obj, "account", p->account) ||
        set_str(obj, "type", type) || set_int(obj, "time", t) || set_str(obj, "actor", a.who) ||
        set_str(obj, "actor_type", a.type) || set_str(obj, "ip", a.ip) ||
        set_str(obj, "user_agent", a.ua) || set_str(obj, "country", a.country) ||
        set_str(obj, "city", a.city) || set_str(obj, "region", a.region) ||
        set_str(obj, "key_id", key_id) || set_str(obj, "project", project) ||
        set_str(obj, "error_code", ecode) || set_str(obj, "error_message", emsg) ||
        json_object_set(obj, "raw", e)) {
        oom(p);
        goto out;
    }
    size_t n = strlen(type) + sizeof "audit.";
    etype = malloc(n);
    if (!etype) {
        oom(p);
        goto out;
    }
    int w = snprintf(etype, n, "audit.%s", type);
    if (w < 0 || (size_t)w >= n) {
        fail(p, "%s.type: cannot format", path);
        goto out;
    }
    if (col_out_event(p->out, t, etype, id, obj)) {
        oom(p);
        goto out;
    }
    rc = 0;
out:
    free(etype);
    json_decref(obj);
    return rc;
}

static int parse_audit(struct pctx *p, const json_t *root)
{
    json_t *data = NULL;
    if (check_tag(p, root, "list") || get_data(p, root, &data))
        return -1;
    for (size_t i = 0; i < json_array_size(data); i++) {
        char ep[64];
        json_t *e = json_array_get(data, i);
        path_idx(ep, sizeof ep, "", "data", i);
        if (!json_is_object(e))
            return fail(p, "%s: expected an object, got %s", ep, jtype(e));
        if (audit_entry(p, e, ep))
            return -1;
    }
    return set_cursor(p, root, "last_id");
}

/* ---- inventory listings ---- */

static int item_project(struct pctx *p, const json_t *e, const char *path, json_t *obj)
{
    const char *name, *status;
    int64_t created, archived;
    int has_created, has_archived;
    if (opt_str(p, e, path, "name", &name) || opt_str(p, e, path, "status", &status) ||
        opt_time(p, e, path, "created_at", &created, &has_created) ||
        opt_time(p, e, path, "archived_at", &archived, &has_archived))
        return -1;
    if (set_str(obj, "name", name) || set_str(obj, "status", status) ||
        set_opt_time(obj, "created_at", has_created, created) ||
        set_opt_time(obj, "archived_at", has_archived, archived))
        return oom(p);
    return 0;
}

/* Fields the two key kinds share: name, redacted_value, created_at, last_used_at. */
static int item_key_common(struct pctx *p, const json_t *e, const char *path, json_t *obj)
{
    const char *name, *redacted;
    int64_t created, used;
    int has_created, has_used;
    if (opt_str(p, e, path, "name", &name) || opt_str(p, e, path, "redacted_value", &redacted) ||
        opt_time(p, e, path, "created_at", &created, &has_created) ||
        opt_time(p, e, path, "last_used_at", &used, &has_used))
        return -1;
    if (set_str(obj, "name", name) || set_redacted(obj, "redacted_value", redacted) ||
        set_opt_time(obj, "created_at", has_created, created) ||
        set_opt_time(obj, "last_used_at", has_used, used))
        return oom(p);
    return 0;
}

static int item_admin_key(struct pctx *p, const json_t *e, const char *path, json_t *obj)
{
    char op[160];
    const char *oid = NULL, *otype = NULL;
    int64_t expires;
    int has_expires;
    json_t *owner;
    if (item_key_common(p, e, path, obj) ||
        opt_time(p, e, path, "expires_at", &expires, &has_expires) ||
        opt_obj(p, e, path, "owner", &owner))
        return -1;
    path_key(op, sizeof op, path, "owner");
    if (owner && (opt_str(p, owner, op, "id", &oid) || opt_str(p, owner, op, "type", &otype)))
        return -1;
    if (set_opt_time(obj, "expires_at", has_expires, expires) || set_str(obj, "owner_id", oid) ||
        set_str(obj, "owner_type", otype))
        return oom(p);
    return 0;
}

static int item_project_key(struct pctx *p, const json_t *e, const char *path, json_t *obj)
{
    char op[160], up[192];
    const char *access, *otype = NULL, *oid = NULL, *email = NULL;
    json_t *owner, *who = NULL;
    if (item_key_common(p, e, path, obj) || opt_str(p, e, path, "owner_project_access", &access) ||
        opt_obj(p, e, path, "owner", &owner))
        return -1;
    path_key(op, sizeof op, path, "owner");
    if (owner) {
        if (opt_str(p, owner, op, "type", &otype))
            return -1;
        const char *sub =
            otype && strcmp(otype, "service_account") == 0 ? "service_account" : "user";
        path_key(up, sizeof up, op, sub);
        if (opt_obj(p, owner, op, sub, &who) || (who && opt_str(p, who, up, "id", &oid)) ||
            (who && strcmp(sub, "user") == 0 && opt_str(p, who, up, "email", &email)))
            return -1;
    }
    if (set_str(obj, "project", p->ctx->req->project) || set_str(obj, "status", access) ||
        set_str(obj, "owner_type", otype) || set_str(obj, "owner_id", oid) ||
        set_str(obj, "owner_email", email))
        return oom(p);
    return 0;
}

static int parse_list(struct pctx *p, const json_t *root)
{
    static const char *const kinds[] = {
        [OAI_PROJECTS] = "project", [OAI_PROJECT_KEYS] = "api_key", [OAI_ADMIN_KEYS] = "admin_key"};
    json_t *data = NULL;
    enum oai_shape shape = p->spec->shape;
    if (shape == OAI_PROJECT_KEYS && (!p->ctx->req->project || !p->ctx->req->project[0]))
        return fail(p, "project api keys: request names no project");
    if (check_tag(p, root, "list") || get_data(p, root, &data))
        return -1;
    for (size_t i = 0; i < json_array_size(data); i++) {
        char ep[64];
        const char *id;
        json_t *e = json_array_get(data, i);
        path_idx(ep, sizeof ep, "", "data", i);
        if (!json_is_object(e))
            return fail(p, "%s: expected an object, got %s", ep, jtype(e));
        if (req_str(p, e, ep, "id", &id))
            return -1;
        json_t *obj = json_object();
        if (!obj)
            return oom(p);
        int rc = 0;
        if (set_str(obj, "provider", p->provider) || set_str(obj, "account", p->account) ||
            set_str(obj, "id", id) || (shape == OAI_PROJECTS && set_str(obj, "project", id)))
            rc = oom(p);
        if (!rc)
            rc = shape == OAI_PROJECTS     ? item_project(p, e, ep, obj)
                 : shape == OAI_ADMIN_KEYS ? item_admin_key(p, e, ep, obj)
                                           : item_project_key(p, e, ep, obj);
        if (!rc && col_out_item(p->out, kinds[shape], id, obj))
            rc = oom(p);
        json_decref(obj);
        if (rc)
            return -1;
    }
    return set_cursor(p, root, "last_id");
}

/* ---- parse entry point ---- */

static int oai_parse(const struct col_parse_ctx *ctx, const char *body, size_t len,
                     struct col_out *out, char *err, size_t errlen)
{
    struct pctx p = {.ctx = ctx, .out = out, .err = err, .errlen = errlen};
    json_error_t jerr;
    json_t *root = NULL;
    int rc = -1;

    if (err && errlen)
        err[0] = '\0';
    if (!ctx || !ctx->req || !ctx->req->ep || !ctx->req->ep->spec || !out) {
        fail(&p, "parse called without a request");
        goto out;
    }
    p.spec = ctx->req->ep->spec;
    p.provider = ctx->provider ? ctx->provider : "openai";
    p.account = ctx->account;
    if (!body || len == 0) {
        fail(&p, "empty body");
        goto out;
    }
    if (p.spec->shape == OAI_USAGE || p.spec->shape == OAI_COSTS) {
        size_t n0 = out->n_samples;
        if (fast_page(&p, body, len) == 0)
            return 0;
        col_out_truncate(out, n0); /* the tree reader starts over and names the fault */
    }
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        char why[sizeof jerr.text];
        size_t lead = 0;
        while (lead < len && strchr(" \t\r\n", body[lead]) && body[lead])
            lead++;
        clean_copy(why, sizeof why, jerr.text);
        fail(&p, "invalid JSON at line %d column %d: %s%s", jerr.line, jerr.column, why,
             lead < len && body[lead] == '<' ? " (the body looks like HTML)" : "");
        goto out;
    }
    if (!json_is_object(root)) {
        fail(&p, "body: expected an object, got %s", jtype(root));
        goto out;
    }
    if (check_error(&p, root))
        goto out;
    switch (p.spec->shape) {
    case OAI_USAGE:
    case OAI_COSTS: rc = parse_buckets(&p, root); break;
    case OAI_AUDIT: rc = parse_audit(&p, root); break;
    case OAI_PROJECTS:
    case OAI_PROJECT_KEYS:
    case OAI_ADMIN_KEYS: rc = parse_list(&p, root); break;
    }
out:
    json_decref(root);
    return rc;
}

const struct col_poller_ops col_openai_poller = {
    .type = "openai",
    .endpoints = oai_endpoints,
    .n_endpoints = sizeof oai_endpoints / sizeof oai_endpoints[0],
    .url = oai_url,
    .headers = oai_headers,
    .parse = oai_parse,
};
