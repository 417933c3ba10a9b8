/*
 * The strict configuration loader (config.h). jansson parses the file; the
 * tree is then walked against static schema tables (one per provider, rule
 * and sink type plus the common keys) that give each key's JSON kind, whether
 * it is required and its default. Errors are located with jsonpos.c and read
 * "file:line:col: key.path: reason". Secrets are checked, never stored.
 *
 * Defaults (conf/byokwatch.example.json sets every key to these):
 *   top level     data_dir "./data", listen "127.0.0.1:9464", log_level "info",
 *                 prices "conf/prices.json", retention "400d", timezone UTC,
 *                 providers/rules/sinks [], business_units {}, report {}
 *   provider      poll_interval "5m", backfill "35d", timeout "60s",
 *                 tls_min_version "1.2", enabled true, max_pages_per_cycle 100;
 *                 base_url openai https://api.openai.com/v1, anthropic
 *                 https://api.anthropic.com, mistral https://api.mistral.ai/v1,
 *                 groq https://api.groq.com/openai/v1, google none
 *   rule          name = type, severity "warning", realert "24h", enabled true
 *     spend_spike       window "1d", baseline "14d", threshold 1.5,
 *                       min_spend_usd 0, learning "7d", group_by ["provider"],
 *                       same_hour_of_week false
 *     spend_threshold   window "1d", group_by ["provider"] (threshold_usd required)
 *     budget_forecast   percentages [80, 100] (budgets required)
 *     unexpected_model  mode "allowlist", learning "7d"
 *     new_entity        entities ["api_key", "project", "user"], learning "7d"
 *     auth_failures     window "30m", threshold 5, distinct_ips 5, include_collector true
 *     geo_anomaly       max_speed_kmh 900, min_distance_km 100, learning "14d",
 *                       new_country true
 *     rate_limited      window "1h", threshold 100, group_by ["provider"]
 *     key_age           max_age "90d"
 *     cost_drift        max_drift_pct 10, min_spend_usd 1
 *     collector_health  failing_cycles 3, max_staleness "6h"
 *   sink          min_severity "info", timeout "10s", max_age "72h", allow_private false
 *     slack   digest_over 5;  syslog  protocol "udp", facility "local0", app_name "byokwatch"
 *   report        out_dir "./reports", formats ["md", "html", "csv", "json"], schedule off
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/timeutil.h"
#include "jsonpos.h"

#define CFG_PATH_MAX 512          /* longest key path in a message */
#define CFG_FILE_MAX (16u << 20)  /* largest config file read */
#define CFG_SECRET_MAX (1u << 20) /* largest secret file read */
#define JS(s) "\"" s "\""         /* a JSON string default */

struct lctx {
    const char *file;
    const char *text;
    size_t len;
    struct jpos *pos; /* scanned on the first error */
    int pos_failed;
    json_t *root;
    char *err;
    size_t errlen;
};

enum kind {
    K_STR, /* non-empty string */
    K_INT, /* integer >= 1 */
    K_NUM, /* number >= 0 */
    K_BOOL,
    K_DUR,   /* duration string */
    K_STRS,  /* array of non-empty strings */
    K_NUMS,  /* array of numbers >= 0 */
    K_OBJ,   /* object with the keys in sub */
    K_OBJS,  /* array of objects with the keys in sub */
    K_MAP,   /* object of free keys, each value as described by sub[0] */
    K_ENV,   /* secret: name of an environment variable */
    K_FILE,  /* secret: path of an owner-only file */
    K_TYPED, /* array of typed objects of a family (providers, rules, sinks) */
};

#define F_REQ 1u      /* must be present (for a group: one member must be) */
#define F_UNIQUE 2u   /* array entries must differ */
#define F_NONEMPTY 4u /* array must not be empty */

typedef int (*check_fn)(struct lctx *c, json_t *v, const char *path);
typedef int (*keycheck_fn)(struct lctx *c, const char *key, const char *path);

struct family;

/*
 * One allowed key. check runs after the kind's own checks: on each element
 * of a K_STRS/K_NUMS, on the whole value otherwise. Keys sharing a group
 * are alternatives: at most one may be given, and one must be when any
 * member carries F_REQ.
 */
struct key {
    const char *name;
    enum kind kind;
    unsigned flags;
    const char *def;            /* JSON text of the default, or NULL */
    const char *const *choices; /* allowed values of a K_STR or of K_STRS entries */
    check_fn check;
    const struct key *sub; /* K_OBJ/K_OBJS: key table; K_MAP: one value descriptor */
    keycheck_fn keycheck;  /* K_MAP: check of each key */
    const char *group;
    const struct family *family; /* K_TYPED */
};

struct type_schema {
    const char *type;
    const struct key *keys; /* type-specific keys, NULL-name terminated */
    check_fn post;          /* cross-key checks on the whole object, or NULL */
};

struct family {
    const char *what; /* "provider", "rule", "sink" */
    const struct key *common;
    const struct type_schema *types;
    size_t n_types;
    int name_from_type; /* name defaults to the type */
};

/* ---- messages ---------------------------------------------------------- */

/* Quotes s for a message: "..." with control characters escaped, cut after 80 bytes. */
static const char *qstr(const char *s, char *buf, size_t len)
{
    size_t n = 0;
    if (len < 8) {
        if (len)
            buf[0] = '\0';
        return buf;
    }
    buf[n++] = '"';
    for (size_t i = 0; s[i]; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (i >= 80 || n + 8 >= len) {
            memcpy(buf + n, "...", 3);
            n += 3;
            break;
        }
        if (ch < 0x20 || ch == '"' || ch == '\\') {
            int w = snprintf(buf + n, len - n, ch < 0x20 ? "\\x%02x" : "\\%c", ch);
            if (w < 0 || (size_t)w >= len - n)
                break;
            n += (size_t)w;
        } else {
            buf[n++] = (char)ch;
        }
    }
    buf[n++] = '"';
    buf[n] = '\0';
    return buf;
}

/* Joins a NULL-terminated list as "a, b, c". */
static const char *join(const char *const *list, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; list[i]; i++) {
        int w = snprintf(buf + n, len - n, "%s%s", i ? ", " : "", list[i]);
        if (w < 0 || (size_t)w >= len - n)
            break;
        n += (size_t)w;
    }
    return buf;
}

static void locate(struct lctx *c, const char *path, int at_key, int *line, int *col)
{
    char buf[CFG_PATH_MAX];
    *line = *col = 0;
    if (!c->pos && !c->pos_failed && jpos_scan(c->text, c->len, &c->pos) < 0)
        c->pos_failed = 1;
    if (!c->pos)
        return;
    snprintf(buf, sizeof buf, "%s", path);
    for (;;) {
        const struct jpos_entry *e = jpos_find(c->pos, buf);
        if (e) {
            *line = at_key && e->key_line ? e->key_line : e->val_line;
            *col = at_key && e->key_line ? e->key_col : e->val_col;
            return;
        }
        if (!buf[0])
            return;
        buf[jpos_parent_len(buf)] = '\0';
        at_key = 0; /* a missing key is shown at its object */
    }
}

static int vfail(struct lctx *c, const char *path, int at_key, const char *fmt, va_list ap)
{
    char msg[1024];
    int line, col;
    vsnprintf(msg, sizeof msg, fmt, ap);
    locate(c, path, at_key, &line, &col);
    const char *shown = path[0] ? path : "(top level)";
    if (line > 0)
        snprintf(c->err, c->errlen, "%s:%d:%d: %s: %s", c->file, line, col, shown, msg);
    else
        snprintf(c->err, c->errlen, "%s: %s: %s", c->file, shown, msg);
    return -1;
}

/* Reports an error located at path's value (or, if absent, its nearest ancestor). */
__attribute__((format(printf, 3, 4))) static int fail(struct lctx *c, const char *path,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, path, 0, fmt, ap);
    va_end(ap);
    return -1;
}

/* Reports an error located at path's key. */
__attribute__((format(printf, 3, 4))) static int fail_key(struct lctx *c, const char *path,
                                                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, path, 1, fmt, ap);
    va_end(ap);
    return -1;
}

static int oom(struct lctx *c)
{
    snprintf(c->err, c->errlen, "%s: out of memory", c->file);
    return -1;
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

static int type_err(struct lctx *c, const char *path, const char *expected, const json_t *v)
{
    return fail(c, path, "expected %s, got %s", expected, json_kind(v));
}

static int mkpath_key(struct lctx *c, char *buf, const char *parent, const char *key)
{
    if (jpos_path_key(buf, CFG_PATH_MAX, parent, key) == 0)
        return 0;
    return fail(c, parent, "key path too long");
}

static int mkpath_index(struct lctx *c, char *buf, const char *parent, size_t i)
{
    if (jpos_path_index(buf, CFG_PATH_MAX, parent, i) == 0)
        return 0;
    return fail(c, parent, "key path too long");
}

/* ---- small parsers ----------------------------------------------------- */

static int in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

static int host_ok(const char *h, int bracketed)
{
    if (!*h)
        return 0;
    if (bracketed) {
        unsigned char a6[16];
        return inet_pton(AF_INET6, h, a6) == 1;
    }
    for (const char *p = h; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
            return 0;
    return 1;
}

static int port_ok(const char *p, size_t n)
{
    unsigned long v = 0;
    if (n == 0 || n > 5)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i]))
            return 0;
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

/*
 * Splits "host:port" or "[v6]:port" into host (without brackets). 0 ok,
 * -1 with a reason in why.
 */
static int split_hostport(const char *s, char *host, size_t hostlen, const char **why)
{
    const char *colon;
    size_t hl;
    int bracketed = s[0] == '[';
    if (bracketed) {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':') {
            *why = "expected [address]:port";
            return -1;
        }
        hl = (size_t)(rb - s - 1);
        colon = rb + 1;
        s++;
    } else {
        colon = strrchr(s, ':');
        if (!colon) {
            *why = "missing :port";
            return -1;
        }
        if (memchr(s, ':', (size_t)(colon - s))) {
            *why = "put an IPv6 address in brackets, e.g. [::1]:9464";
            return -1;
        }
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= hostlen) {
        *why = "missing or overlong host";
        return -1;
    }
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (!host_ok(host, bracketed)) {
        *why = "bad host";
        return -1;
    }
    if (!port_ok(colon + 1, strlen(colon + 1))) {
        *why = "port must be 1-65535";
        return -1;
    }
    return 0;
}

struct url {
    int https;
    int userinfo;
    char host[256];     /* without brackets */
    char hostport[272]; /* as written, with brackets and port */
};

/* Parses an http(s) URL's scheme and authority. 0 ok, -1 with a reason in why. */
static int parse_url(const char *s, struct url *u, const char **why)
{
    memset(u, 0, sizeof *u);
    if (strncasecmp(s, "https://", 8) == 0) {
        u->https = 1;
        s += 8;
    } else if (strncasecmp(s, "http://", 7) == 0) {
        s += 7;
    } else {
        *why = "must start with https:// or http://";
        return -1;
    }
    size_t alen = strcspn(s, "/?#");
    const char *at = memchr(s, '@', alen);
    if (at) {
        u->userinfo = 1;
        alen -= (size_t)(at + 1 - s);
        s = at + 1;
    }
    if (alen == 0 || alen >= sizeof u->hostport) {
        *why = "missing or overlong host";
        return -1;
    }
    memcpy(u->hostport, s, alen);
    u->hostport[alen] = '\0';
    const char *hp = u->hostport, *port = NULL;
    size_t hl;
    int bracketed = hp[0] == '[';
    if (bracketed) {
        const char *rb = strchr(hp, ']');
        if (!rb || (rb[1] && rb[1] != ':')) {
            *why = "bad [IPv6] host";
            return -1;
        }
        hl = (size_t)(rb - hp - 1);
        hp++;
        port = rb[1] ? rb + 2 : NULL;
    } else {
        const char *colon = strchr(hp, ':');
        hl = colon ? (size_t)(colon - hp) : strlen(hp);
        port = colon ? colon + 1 : NULL;
    }
    if (hl == 0 || hl >= sizeof u->host) {
        *why = "missing host";
        return -1;
    }
    memcpy(u->host, hp, hl);
    u->host[hl] = '\0';
    if (!host_ok(u->host, bracketed)) {
        *why = "bad host";
        return -1;
    }
    if (port && !port_ok(port, strlen(port))) {
        *why = "port must be 1-65535";
        return -1;
    }
    return 0;
}

static int is_loopback(const char *host)
{
    unsigned char a[16];
    if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0)
        return 1;
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127;
    if (inet_pton(AF_INET6, host, a) == 1) {
        static const unsigned char one[16] = {[15] = 1};
        return memcmp(a, one, 16) == 0;
    }
    return 0;
}

/* Env names are echoed only when they look like one, in case a secret was pasted instead. */
static int env_name_showable(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || isdigit((unsigned char)s[0]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isupper((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '_')
            return 0;
    return 1;
}

static int env_name_valid(const char *s)
{
    if (!*s || isdigit((unsigned char)*s))
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return 0;
    return 1;
}

/* Paths are echoed unless they look like a pasted credential. */
static int path_showable(const char *s)
{
    static const char *const prefixes[] = {"sk-", "sk_", "xox", "gsk_", "AIza", "Bearer", NULL};
    for (size_t i = 0; prefixes[i]; i++)
        if (strncmp(s, prefixes[i], strlen(prefixes[i])) == 0)
            return 0;
    return strchr(s, '/') || strlen(s) < 32;
}

static void wipe(void *p, size_t n)
{
    volatile unsigned char *q = p;
    while (n--)
        *q++ = 0;
}

/* ---- value checks referenced from the tables --------------------------- */

static int chk_hostport(struct lctx *c, json_t *v, const char *path)
{
    char host[256], q[128];
    const char *why;
    if (split_hostport(json_string_value(v), host, sizeof host, &why) < 0)
        return fail(c, path, "bad address %s: %s (use host:port, e.g. 127.0.0.1:9464)",
                    qstr(json_string_value(v), q, sizeof q), why);
    return 0;
}

static int chk_base_url(struct lctx *c, json_t *v, const char *path)
{
    struct url u;
    const char *why;
    if (parse_url(json_string_value(v), &u, &why) < 0)
        return fail(c, path, "bad URL: %s", why);
    if (u.userinfo)
        return fail(c, path,
                    "a URL must not carry credentials (user:password@); "
                    "give secrets through *_env or *_file");
    if (!u.https && !is_loopback(u.host))
        return fail(c, path,
                    "plain http:// is allowed only for loopback hosts "
                    "(127.0.0.0/8, ::1, localhost); use https://");
    return 0;
}

static int chk_plain_url(struct lctx *c, json_t *v, const char *path)
{
    struct url u;
    const char *why;
    if (parse_url(json_string_value(v), &u, &why) < 0)
        return fail(c, path, "bad URL: %s", why);
    if (u.userinfo)
        return fail(c, path,
                    "a URL must not carry credentials (user:password@); "
                    "give secrets through *_env or *_file");
    return 0;
}

static int chk_slack_url(struct lctx *c, json_t *v, const char *path)
{
    (void)v;
    return fail(c, path,
                "a Slack webhook URL is a secret and must not sit in the file; "
                "give url_env (an environment variable name) or url_file instead");
}

static int check_secret_url(struct lctx *c, const struct cfg_secret *s, const char *path)
{
    char *val = NULL, why_buf[256];
    const char *why = NULL;
    struct url u;
    if (cfg_secret_get(s, &val, why_buf, sizeof why_buf) < 0)
        return fail(c, path, "%s", why_buf);
    int bad = parse_url(val, &u, &why) < 0;
    wipe(val, strlen(val));
    free(val);
    if (bad)
        return fail(c, path, "the secret it names is not an http(s) URL (%s)", why);
    return 0;
}

static int chk_url_env(struct lctx *c, json_t *v, const char *path)
{
    struct cfg_secret s = {.env = (char *)json_string_value(v)};
    return check_secret_url(c, &s, path);
}

static int chk_url_file(struct lctx *c, json_t *v, const char *path)
{
    struct cfg_secret s = {.file = (char *)json_string_value(v)};
    return check_secret_url(c, &s, path);
}

static int chk_readable_file(struct lctx *c, json_t *v, const char *path)
{
    const char *p = json_string_value(v);
    char q[128];
    struct stat st;
    if (stat(p, &st) < 0)
        return fail(c, path, "%s: %s", qstr(p, q, sizeof q), strerror(errno));
    if (!S_ISREG(st.st_mode))
        return fail(c, path, "%s is not a regular file", qstr(p, q, sizeof q));
    if (access(p, R_OK) < 0)
        return fail(c, path, "%s cannot be read: %s", qstr(p, q, sizeof q), strerror(errno));
    return 0;
}

static int chk_timezone(struct lctx *c, json_t *v, const char *path)
{
    const char *tz = json_string_value(v);
    char q[128], file[512];
    struct stat st;
    int ok = tz[0] != '/' && strlen(tz) <= 64 && !strstr(tz, "..");
    for (const char *p = tz; ok && *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("/_+-", *p))
            ok = 0;
    if (!ok)
        return fail(c, path, "bad time zone %s (use an IANA name such as Europe/Berlin or UTC)",
                    qstr(tz, q, sizeof q));
    /* Checked against the zone database only where one is installed. */
    if (stat("/usr/share/zoneinfo", &st) == 0 && S_ISDIR(st.st_mode) &&
        snprintf(file, sizeof file, "/usr/share/zoneinfo/%s", tz) < (int)sizeof file &&
        stat(file, &st) < 0 && strcmp(tz, "UTC") != 0)
        return fail(c, path, "unknown time zone %s", qstr(tz, q, sizeof q));
    return 0;
}

static int chk_schedule(struct lctx *c, json_t *v, const char *path)
{
    static const char *const days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun", NULL};
    const char *s = json_string_value(v);
    char day[4], q[128];
    int ok = strlen(s) == 9 && s[3] == ' ' && s[6] == ':';
    if (ok) {
        for (int i = 0; i < 3; i++)
            day[i] = (char)tolower((unsigned char)s[i]);
        day[3] = '\0';
        ok = in_list(days, day);
        for (int i = 4; ok && i < 9; i++)
            if (i != 6 && !isdigit((unsigned char)s[i]))
                ok = 0;
        ok = ok && (s[4] - '0') * 10 + (s[5] - '0') < 24 && (s[7] - '0') * 10 + (s[8] - '0') < 60;
    }
    if (!ok)
        return fail(c, path,
                    "bad schedule %s (use a weekday and a 24-hour time, e.g. \"mon 09:00\")",
                    qstr(s, q, sizeof q));
    return 0;
}

static int chk_positive(struct lctx *c, json_t *v, const char *path)
{
    if (json_number_value(v) > 0)
        return 0;
    return fail(c, path, "must be greater than 0");
}

static int chk_country(struct lctx *c, json_t *v, const char *path)
{
    const char *s = json_string_value(v);
    char q[64];
    if (strlen(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z')
        return 0;
    return fail(c, path, "bad country code %s (use two upper-case ISO 3166 letters, e.g. \"DE\")",
                qstr(s, q, sizeof q));
}

static const struct family PROVIDERS;

static int name_in(const json_t *arr, const char *name)
{
    size_t i;
    json_t *el;
    json_array_foreach(arr, i, el)
    {
        const char *n = json_string_value(json_object_get(el, "name"));
        if (n && strcmp(n, name) == 0)
            return 1;
    }
    return 0;
}

static int provider_ref_ok(struct lctx *c, const char *s)
{
    for (size_t i = 0; i < PROVIDERS.n_types; i++)
        if (strcmp(PROVIDERS.types[i].type, s) == 0)
            return 1;
    return name_in(json_object_get(c->root, "providers"), s);
}

static int chk_provider_ref(struct lctx *c, json_t *v, const char *path)
{
    char q[128];
    if (provider_ref_ok(c, json_string_value(v)))
        return 0;
    return fail(c, path, "unknown provider %s (not a provider type or a configured provider name)",
                qstr(json_string_value(v), q, sizeof q));
}

static int key_provider_ref(struct lctx *c, const char *key, const char *path)
{
    char q[128];
    if (provider_ref_ok(c, key))
        return 0;
    return fail_key(c, path,
                    "unknown provider %s (not a provider type or a configured provider name)",
                    qstr(key, q, sizeof q));
}

static int chk_rule_ref(struct lctx *c, json_t *v, const char *path)
{
    char q[128];
    if (name_in(json_object_get(c->root, "rules"), json_string_value(v)))
        return 0;
    return fail(c, path, "no rule named %s is configured", qstr(json_string_value(v), q, sizeof q));
}

static int chk_sink_ref(struct lctx *c, json_t *v, const char *path)
{
    char q[128];
    if (name_in(json_object_get(c->root, "sinks"), json_string_value(v)))
        return 0;
    return fail(c, path, "no sink named %s is configured", qstr(json_string_value(v), q, sizeof q));
}

static int key_nonempty(struct lctx *c, const char *key, const char *path)
{
    return key[0] ? 0 : fail_key(c, path, "name must not be empty");
}

static const char *const LABELS[] = {"provider", "account",       "project",   "api_key_id",
                                     "model",    "service_tier",  "line_item", "kind",
                                     "status",   "business_unit", "country",   "actor",
                                     NULL};

static int key_label(struct lctx *c, const char *key, const char *path)
{
    char q[128], known[256];
    if (in_list(LABELS, key))
        return 0;
    return fail_key(c, path, "unknown label %s (known: %s)", qstr(key, q, sizeof q),
                    join(LABELS, known, sizeof known));
}

static int key_header(struct lctx *c, const char *key, const char *path)
{
    static const char *const reserved[] = {"authorization", "content-length",        "content-type",
                                           "host",          "x-byokwatch-signature", NULL};
    char lower[64], q[128];
    size_t n = strlen(key);
    int ok = n > 0 && n < sizeof lower;
    for (size_t i = 0; ok && i < n; i++) {
        if (!isalnum((unsigned char)key[i]) && !strchr("!#$%&'*+-.^_`|~", key[i]))
            ok = 0;
        lower[i] = (char)tolower((unsigned char)key[i]);
    }
    if (!ok)
        return fail_key(c, path, "bad header name %s", qstr(key, q, sizeof q));
    lower[n] = '\0';
    if (in_list(reserved, lower))
        return fail_key(c, path,
                        "header %s is set by byokwatch (for credentials use "
                        "bearer_token_env or basic_user)",
                        qstr(key, q, sizeof q));
    return 0;
}

static int chk_header_value(struct lctx *c, json_t *v, const char *path)
{
    for (const char *p = json_string_value(v); *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return fail(c, path, "header value must not hold control characters");
    return 0;
}

/* A project or API key may belong to one business unit only. */
static int chk_units_disjoint(struct lctx *c, json_t *units, const char *path)
{
    static const char *const lists[] = {"projects", "api_keys"};
    static const char *const what[] = {"project", "API key"};
    int rc = -1;
    json_t *seen[2] = {json_object(), json_object()};
    const char *uname;
    json_t *unit;
    if (!seen[0] || !seen[1]) {
        oom(c);
        goto out;
    }
    json_object_foreach(units, uname, unit)
    {
        char up[CFG_PATH_MAX], lp[CFG_PATH_MAX], ep[CFG_PATH_MAX], q1[128], q2[128];
        if (mkpath_key(c, up, path, uname) < 0)
            goto out;
        for (int l = 0; l < 2; l++) {
            size_t i;
            json_t *el;
            if (mkpath_key(c, lp, up, lists[l]) < 0)
                goto out;
            json_array_foreach(json_object_get(unit, lists[l]), i, el)
            {
                const char *id = json_string_value(el);
                json_t *prev = json_object_get(seen[l], id);
                if (prev) {
                    if (mkpath_index(c, ep, lp, i) == 0)
                        fail(c, ep, "%s %s is already in business unit %s", what[l],
                             qstr(id, q1, sizeof q1), qstr(json_string_value(prev), q2, sizeof q2));
                    goto out;
                }
                if (json_object_set_new(seen[l], id, json_string(uname)) < 0) {
                    oom(c);
                    goto out;
                }
            }
        }
    }
    rc = 0;
out:
    json_decref(seen[0]);
    json_decref(seen[1]);
    return rc;
}

/* ---- per-type cross-key checks ---------------------------------------- */

static int64_t dur_of(const json_t *obj, const char *key)
{
    int64_t d = 0;
    const char *s = json_string_value(json_object_get(obj, key));
    if (s && tu_parse_duration(s, &d) < 0)
        d = 0;
    return d;
}

static int post_spend_spike(struct lctx *c, json_t *o, const char *path)
{
    char p[CFG_PATH_MAX];
    const int64_t week = 7LL * 86400;
    int64_t baseline = dur_of(o, "baseline"), window = dur_of(o, "window");
    if (baseline <= window) {
        if (mkpath_key(c, p, path, "baseline") < 0)
            return -1;
        return fail(c, p, "baseline must be longer than window");
    }
    if (!json_is_true(json_object_get(o, "same_hour_of_week")) || window != 3600)
        return 0;
    if (baseline < week) {
        if (mkpath_key(c, p, path, "baseline") < 0)
            return -1;
        return fail(c, p, "same_hour_of_week needs a baseline of at least 7d");
    }
    if (dur_of(o, "learning") > baseline / week * week) {
        if (mkpath_key(c, p, path, "learning") < 0)
            return -1;
        return fail(c, p,
                    "with same_hour_of_week, learning must not exceed the whole weeks of "
                    "the baseline");
    }
    return 0;
}

static int post_unexpected_model(struct lctx *c, json_t *o, const char *path)
{
    char p[CFG_PATH_MAX];
    const char *mode = json_string_value(json_object_get(o, "mode"));
    if (strcmp(mode, "allowlist") != 0 || json_object_get(o, "allow"))
        return 0;
    if (mkpath_key(c, p, path, "allow") < 0)
        return -1;
    return fail(c, p, "missing required key (mode \"allowlist\" needs an allow list)");
}

static int has_group(const json_t *o, const char *base)
{
    char k[64];
    snprintf(k, sizeof k, "%s_env", base);
    if (json_object_get(o, k))
        return 1;
    snprintf(k, sizeof k, "%s_file", base);
    return json_object_get(o, k) != NULL;
}

static int post_webhook(struct lctx *c, json_t *o, const char *path)
{
    char p[CFG_PATH_MAX];
    int user = json_object_get(o, "basic_user") != NULL;
    int pass = has_group(o, "basic_password");
    if (user != pass) {
        if (mkpath_key(c, p, path, user ? "basic_password_env" : "basic_user") < 0)
            return -1;
        return fail(c, p,
                    "missing required key (basic_user and basic_password_env or "
                    "basic_password_file go together)");
    }
    if (user && has_group(o, "bearer_token")) {
        if (mkpath_key(c, p, path, "basic_user") < 0)
            return -1;
        return fail_key(c, p, "give either bearer_token_* or basic_user, not both");
    }
    return 0;
}

static int post_syslog(struct lctx *c, json_t *o, const char *path)
{
    char p[CFG_PATH_MAX];
    const char *proto = json_string_value(json_object_get(o, "protocol"));
    if (!json_object_get(o, "ca_file") || strcmp(proto, "tls") == 0)
        return 0;
    if (mkpath_key(c, p, path, "ca_file") < 0)
        return -1;
    return fail_key(c, p, "ca_file applies only to protocol \"tls\"");
}

/* ---- schema tables ----------------------------------------------------- */

static const char *const LOG_LEVELS[] = {"debug", "info", "warn", "error", NULL};
static const char *const SEVERITIES[] = {"info", "warning", "critical", NULL};
static const char *const TLS_VERSIONS[] = {"1.2", "1.3", NULL};
static const char *const ENTITIES[] = {"api_key", "project", "user", NULL};
static const char *const MODEL_MODES[] = {"allowlist", "new", NULL};
static const char *const PROTOCOLS[] = {"udp", "tcp", "tls", NULL};
static const char *const FACILITIES[] = {
    "kern",   "user",   "mail",   "daemon",   "auth",   "syslog", "lpr",
    "news",   "uucp",   "cron",   "authpriv", "ftp",    "local0", "local1",
    "local2", "local3", "local4", "local5",   "local6", "local7", NULL};
static const char *const FORMATS[] = {"md", "html", "csv", "json", NULL};

#define END                                                                                        \
    {                                                                                              \
        .name = NULL                                                                               \
    }
#define SECRET(base, fl)                                                                           \
    {.name = base "_env", .kind = K_ENV, .flags = (fl), .group = (base)},                          \
    {                                                                                              \
        .name = base "_file", .kind = K_FILE, .flags = (fl), .group = (base)                       \
    }
#define BASE_URL(d)                                                                                \
    {                                                                                              \
        .name = "base_url", .kind = K_STR, .def = (d), .check = chk_base_url                       \
    }
#define GROUP_BY                                                                                   \
    {                                                                                              \
        .name = "group_by", .kind = K_STRS, .flags = F_UNIQUE, .def = "[" JS("provider") "]",      \
        .choices = LABELS                                                                          \
    }
#define URL_SECRETS                                                                                \
    {.name = "url_env", .kind = K_ENV, .flags = F_REQ, .group = "url", .check = chk_url_env},      \
    {                                                                                              \
        .name = "url_file", .kind = K_FILE, .flags = F_REQ, .group = "url", .check = chk_url_file  \
    }
#define URL_KEYS                                                                                   \
    {.name = "url", .kind = K_STR, .flags = F_REQ, .group = "url", .check = chk_plain_url},        \
        URL_SECRETS

/* providers */

static const struct key PROVIDER_COMMON[] = {
    {.name = "type", .kind = K_STR, .flags = F_REQ},
    {.name = "name", .kind = K_STR, .flags = F_REQ},
    {.name = "poll_interval", .kind = K_DUR, .def = JS("5m")},
    {.name = "backfill", .kind = K_DUR, .def = JS("35d")},
    {.name = "timeout", .kind = K_DUR, .def = JS("60s")},
    {.name = "tls_min_version", .kind = K_STR, .def = JS("1.2"), .choices = TLS_VERSIONS},
    {.name = "ca_file", .kind = K_STR, .check = chk_readable_file},
    {.name = "enabled", .kind = K_BOOL, .def = "true"},
    {.name = "max_pages_per_cycle", .kind = K_INT, .def = "100"},
    END,
};

static const struct key P_OPENAI[] = {BASE_URL(JS("https://api.openai.com/v1")),
                                      SECRET("admin_key", F_REQ), END};
static const struct key P_ANTHROPIC[] = {BASE_URL(JS("https://api.anthropic.com")),
                                         SECRET("admin_key", F_REQ), END};
static const struct key P_GOOGLE[] = {
    BASE_URL(NULL),
    {.name = "project_id", .kind = K_STR, .flags = F_REQ},
    {.name = "credentials_file", .kind = K_FILE, .flags = F_REQ},
    END,
};
static const struct key P_MISTRAL[] = {BASE_URL(JS("https://api.mistral.ai/v1")),
                                       SECRET("admin_key", F_REQ), END};
static const struct key P_GROQ[] = {BASE_URL(JS("https://api.groq.com/openai/v1")),
                                    SECRET("admin_key", F_REQ), END};
static const struct key P_GATEWAY[] = {SECRET("token", F_REQ), END};

static const struct type_schema PROVIDER_TYPES[] = {
    {"openai", P_OPENAI, NULL},   {"anthropic", P_ANTHROPIC, NULL}, {"google", P_GOOGLE, NULL},
    {"mistral", P_MISTRAL, NULL}, {"groq", P_GROQ, NULL},           {"gateway", P_GATEWAY, NULL},
};

static const struct family PROVIDERS = {
    .what = "provider",
    .common = PROVIDER_COMMON,
    .types = PROVIDER_TYPES,
    .n_types = sizeof PROVIDER_TYPES / sizeof PROVIDER_TYPES[0],
};

/* rules */

static const struct key RULE_COMMON[] = {
    {.name = "type", .kind = K_STR, .flags = F_REQ},
    {.name = "name", .kind = K_STR},
    {.name = "severity", .kind = K_STR, .def = JS("warning"), .choices = SEVERITIES},
    {.name = "providers", .kind = K_STRS, .flags = F_UNIQUE, .check = chk_provider_ref},
    {.name = "realert", .kind = K_DUR, .def = JS("24h")},
    {.name = "enabled", .kind = K_BOOL, .def = "true"},
    END,
};

static const struct key R_SPEND_SPIKE[] = {
    {.name = "window", .kind = K_DUR, .def = JS("1d")},
    {.name = "baseline", .kind = K_DUR, .def = JS("14d")},
    {.name = "threshold", .kind = K_NUM, .def = "1.5", .check = chk_positive},
    {.name = "min_spend_usd", .kind = K_NUM, .def = "0"},
    {.name = "learning", .kind = K_DUR, .def = JS("7d")},
    GROUP_BY,
    {.name = "same_hour_of_week", .kind = K_BOOL, .def = "false"},
    END,
};
static const struct key R_SPEND_THRESHOLD[] = {
    {.name = "window", .kind = K_DUR, .def = JS("1d")},
    {.name = "threshold_usd", .kind = K_NUM, .flags = F_REQ, .check = chk_positive},
    GROUP_BY,
    END,
};
static const struct key BUDGET_KEYS[] = {
    {.name = "scope",
     .kind = K_MAP,
     .def = "{}",
     .sub = &(const struct key){.kind = K_STR},
     .keycheck = key_label},
    {.name = "monthly_usd", .kind = K_NUM, .flags = F_REQ, .check = chk_positive},
    END,
};
static const struct key R_BUDGET_FORECAST[] = {
    {.name = "budgets", .kind = K_OBJS, .flags = F_REQ | F_NONEMPTY, .sub = BUDGET_KEYS},
    {.name = "percentages",
     .kind = K_NUMS,
     .flags = F_NONEMPTY,
     .def = "[80, 100]",
     .check = chk_positive},
    END,
};
static const struct key GLOB_LIST = {.kind = K_STRS, .flags = F_NONEMPTY};
static const struct key R_UNEXPECTED_MODEL[] = {
    {.name = "allow", .kind = K_MAP, .sub = &GLOB_LIST, .keycheck = key_provider_ref},
    {.name = "mode", .kind = K_STR, .def = JS("allowlist"), .choices = MODEL_MODES},
    {.name = "learning", .kind = K_DUR, .def = JS("7d")},
    {.name = "per_project", .kind = K_MAP, .sub = &GLOB_LIST, .keycheck = key_nonempty},
    END,
};
static const struct key R_NEW_ENTITY[] = {
    {.name = "entities",
     .kind = K_STRS,
     .flags = F_UNIQUE | F_NONEMPTY,
     .def = "[" JS("api_key") ", " JS("project") ", " JS("user") "]",
     .choices = ENTITIES},
    {.name = "learning", .kind = K_DUR, .def = JS("7d")},
    END,
};
static const struct key R_AUTH_FAILURES[] = {
    {.name = "window", .kind = K_DUR, .def = JS("30m")},
    {.name = "threshold", .kind = K_INT, .def = "5"},
    {.name = "distinct_ips", .kind = K_INT, .def = "5"},
    {.name = "include_collector", .kind = K_BOOL, .def = "true"},
    END,
};
static const struct key R_GEO_ANOMALY[] = {
    {.name = "allowed_countries", .kind = K_STRS, .flags = F_UNIQUE, .check = chk_country},
    {.name = "max_speed_kmh", .kind = K_NUM, .def = "900", .check = chk_positive},
    {.name = "min_distance_km", .kind = K_NUM, .def = "100"},
    {.name = "learning", .kind = K_DUR, .def = JS("14d")},
    {.name = "new_country", .kind = K_BOOL, .def = "true"},
    END,
};
static const struct key R_RATE_LIMITED[] = {
    {.name = "window", .kind = K_DUR, .def = JS("1h")},
    {.name = "threshold", .kind = K_INT, .def = "100"},
    GROUP_BY,
    END,
};
static const struct key R_KEY_AGE[] = {
    {.name = "max_age", .kind = K_DUR, .def = JS("90d")},
    {.name = "max_idle", .kind = K_DUR},
    END,
};
static const struct key R_COST_DRIFT[] = {
    {.name = "max_drift_pct", .kind = K_NUM, .def = "10", .check = chk_positive},
    {.name = "min_spend_usd", .kind = K_NUM, .def = "1"},
    END,
};
static const struct key R_COLLECTOR_HEALTH[] = {
    {.name = "failing_cycles", .kind = K_INT, .def = "3"},
    {.name = "max_staleness", .kind = K_DUR, .def = JS("6h")},
    END,
};

static const struct type_schema RULE_TYPES[] = {
    {"spend_spike", R_SPEND_SPIKE, post_spend_spike},
    {"spend_threshold", R_SPEND_THRESHOLD, NULL},
    {"budget_forecast", R_BUDGET_FORECAST, NULL},
    {"unexpected_model", R_UNEXPECTED_MODEL, post_unexpected_model},
    {"new_entity", R_NEW_ENTITY, NULL},
    {"geo_anomaly", R_GEO_ANOMALY, NULL},
    {"auth_failures", R_AUTH_FAILURES, NULL},
    {"rate_limited", R_RATE_LIMITED, NULL},
    {"key_age", R_KEY_AGE, NULL},
    {"cost_drift", R_COST_DRIFT, NULL},
    {"collector_health", R_COLLECTOR_HEALTH, NULL},
};

static const struct family RULES = {
    .what = "rule",
    .common = RULE_COMMON,
    .types = RULE_TYPES,
    .n_types = sizeof RULE_TYPES / sizeof RULE_TYPES[0],
    .name_from_type = 1,
};

/* sinks */

static const struct key SINK_COMMON[] = {
    {.name = "type", .kind = K_STR, .flags = F_REQ},
    {.name = "name", .kind = K_STR, .flags = F_REQ},
    {.name = "min_severity", .kind = K_STR, .def = JS("info"), .choices = SEVERITIES},
    {.name = "rules", .kind = K_STRS, .flags = F_UNIQUE, .check = chk_rule_ref},
    {.name = "timeout", .kind = K_DUR, .def = JS("10s")},
    {.name = "max_age", .kind = K_DUR, .def = JS("72h")},
    {.name = "allow_private", .kind = K_BOOL, .def = "false"},
    END,
};

static const struct key S_SLACK[] = {
    {.name = "url", .kind = K_STR, .check = chk_slack_url},
    URL_SECRETS,
    {.name = "digest_over", .kind = K_INT, .def = "5"},
    {.name = "channel", .kind = K_STR},
    {.name = "username", .kind = K_STR},
    END,
};
static const struct key S_WEBHOOK[] = {
    URL_KEYS,
    SECRET("hmac_secret", 0),
    {.name = "headers",
     .kind = K_MAP,
     .sub = &(const struct key){.kind = K_STR, .check = chk_header_value},
     .keycheck = key_header},
    SECRET("bearer_token", 0),
    {.name = "basic_user", .kind = K_STR},
    SECRET("basic_password", 0),
    END,
};
static const struct key S_SPLUNK_HEC[] = {
    URL_KEYS,
    SECRET("token", F_REQ),
    {.name = "index", .kind = K_STR},
    {.name = "source", .kind = K_STR},
    {.name = "sourcetype", .kind = K_STR},
    {.name = "host", .kind = K_STR},
    END,
};
static const struct key S_ALERTMANAGER[] = {
    URL_KEYS,
    {.name = "generator_url", .kind = K_STR, .check = chk_plain_url},
    SECRET("bearer_token", 0),
    END,
};
static const struct key S_SYSLOG[] = {
    {.name = "address", .kind = K_STR, .flags = F_REQ, .check = chk_hostport},
    {.name = "protocol", .kind = K_STR, .def = JS("udp"), .choices = PROTOCOLS},
    {.name = "facility", .kind = K_STR, .def = JS("local0"), .choices = FACILITIES},
    {.name = "app_name", .kind = K_STR, .def = JS("byokwatch")},
    {.name = "ca_file", .kind = K_STR, .check = chk_readable_file},
    END,
};

static const struct type_schema SINK_TYPES[] = {
    {"slack", S_SLACK, NULL},           {"webhook", S_WEBHOOK, post_webhook},
    {"splunk_hec", S_SPLUNK_HEC, NULL}, {"alertmanager", S_ALERTMANAGER, NULL},
    {"syslog", S_SYSLOG, post_syslog},
};

static const struct family SINKS = {
    .what = "sink",
    .common = SINK_COMMON,
    .types = SINK_TYPES,
    .n_types = sizeof SINK_TYPES / sizeof SINK_TYPES[0],
};

/* the rest of the document */

static const struct key UNIT_KEYS[] = {
    {.name = "projects", .kind = K_STRS, .flags = F_UNIQUE, .def = "[]"},
    {.name = "api_keys", .kind = K_STRS, .flags = F_UNIQUE, .def = "[]"},
    END,
};
static const struct key UNIT = {.kind = K_OBJ, .sub = UNIT_KEYS};

static const struct key REPORT_KEYS[] = {
    {.name = "schedule", .kind = K_STR, .check = chk_schedule},
    {.name = "timezone", .kind = K_STR, .check = chk_timezone},
    {.name = "out_dir", .kind = K_STR, .def = JS("./reports")},
    {.name = "sinks", .kind = K_STRS, .flags = F_UNIQUE, .check = chk_sink_ref},
    {.name = "formats",
     .kind = K_STRS,
     .flags = F_UNIQUE | F_NONEMPTY,
     .def = "[" JS("md") ", " JS("html") ", " JS("csv") ", " JS("json") "]",
     .choices = FORMATS},
    END,
};

static const struct key GEOIP_KEYS[] = {
    {.name = "city_db", .kind = K_STR, .check = chk_readable_file},
    END,
};

/* Order matters: references are checked against what was validated before. */
static const struct key TOP_KEYS[] = {
    {.name = "data_dir", .kind = K_STR, .def = JS("./data")},
    {.name = "listen", .kind = K_STR, .def = JS("127.0.0.1:9464"), .check = chk_hostport},
    {.name = "log_level", .kind = K_STR, .def = JS("info"), .choices = LOG_LEVELS},
    {.name = "prices", .kind = K_STR, .def = JS("conf/prices.json")},
    {.name = "retention", .kind = K_DUR, .def = JS("400d")},
    {.name = "timezone", .kind = K_STR, .check = chk_timezone},
    {.name = "geoip", .kind = K_OBJ, .sub = GEOIP_KEYS},
    {.name = "providers", .kind = K_TYPED, .def = "[]", .family = &PROVIDERS},
    {.name = "business_units",
     .kind = K_MAP,
     .def = "{}",
     .sub = &UNIT,
     .keycheck = key_nonempty,
     .check = chk_units_disjoint},
    {.name = "rules", .kind = K_TYPED, .def = "[]", .family = &RULES},
    {.name = "sinks", .kind = K_TYPED, .def = "[]", .family = &SINKS},
    {.name = "report", .kind = K_OBJ, .def = "{}", .sub = REPORT_KEYS},
    END,
};

/* ---- the validator ----------------------------------------------------- */

static int check_value(struct lctx *c, const struct key *k, json_t *v, const char *path);

static const struct key *find_key(const struct key *const *tabs, size_t ntabs, const char *name)
{
    for (size_t t = 0; t < ntabs; t++)
        for (const struct key *k = tabs[t]; k->name; k++)
            if (strcmp(k->name, name) == 0)
                return k;
    return NULL;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64];
    if (la >= 64 || lb >= 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static int unknown_key(struct lctx *c, const struct key *const *tabs, size_t ntabs,
                       const char *name, const char *path)
{
    char known[768];
    size_t n = 0, best = 3;
    const char *near = NULL;
    known[0] = '\0';
    for (size_t t = 0; t < ntabs; t++)
        for (const struct key *k = tabs[t]; k->name; k++) {
            int w = snprintf(known + n, sizeof known - n, "%s%s", n ? ", " : "", k->name);
            if (w > 0 && (size_t)w < sizeof known - n)
                n += (size_t)w;
            size_t d = edit_distance(name, k->name);
            if (d < best) {
                best = d;
                near = k->name;
            }
        }
    if (near)
        return fail_key(c, path, "unknown key (known: %s); did you mean \"%s\"?", known, near);
    return fail_key(c, path, "unknown key (known: %s)", known);
}

/* Lists a group's members as "a or b" / "a, b or c". */
static void group_names(const struct key *const *tabs, size_t ntabs, const char *group, char *buf,
                        size_t len)
{
    const char *names[8];
    size_t n = 0, w = 0;
    for (size_t t = 0; t < ntabs; t++)
        for (const struct key *k = tabs[t]; k->name; k++)
            if (k->group && strcmp(k->group, group) == 0 && n < 8)
                names[n++] = k->name;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int r = snprintf(buf + w, len - w, "%s%s",
                         i == 0       ? ""
                         : i + 1 == n ? " or "
                                      : ", ",
                         names[i]);
        if (r < 0 || (size_t)r >= len - w)
            return;
        w += (size_t)r;
    }
}

static int fill_default(struct lctx *c, json_t *obj, const struct key *k, const char *path)
{
    json_t *d = json_loads(k->def, JSON_DECODE_ANY, NULL);
    if (!d || json_object_set_new(obj, k->name, d) < 0)
        return oom(c);
    /* Validating the default fills the defaults nested in it. */
    return check_value(c, k, d, path);
}

/*
 * Validates obj against the keys of tabs: unknown keys first (in document
 * order), then alternatives given twice, then each key in table order
 * (filling defaults), then anything required but missing.
 */
static int check_object(struct lctx *c, json_t *obj, const char *path,
                        const struct key *const *tabs, size_t ntabs)
{
    char kp[CFG_PATH_MAX], names[256];
    const char *name;
    json_t *v;

    json_object_foreach(obj, name, v)
    {
        if (!find_key(tabs, ntabs, name)) {
            if (mkpath_key(c, kp, path, name) < 0)
                return -1;
            return unknown_key(c, tabs, ntabs, name, kp);
        }
    }
    for (size_t t = 0; t < ntabs; t++)
        for (const struct key *k = tabs[t]; k->name; k++) {
            if (!k->group || !json_object_get(obj, k->name))
                continue;
            for (const struct key *o = k + 1; o->name; o++)
                if (o->group && strcmp(o->group, k->group) == 0 && json_object_get(obj, o->name)) {
                    group_names(tabs, ntabs, k->group, names, sizeof names);
                    if (mkpath_key(c, kp, path, o->name) < 0)
                        return -1;
                    return fail_key(c, kp, "give only one of %s", names);
                }
        }
    for (size_t t = 0; t < ntabs; t++)
        for (const struct key *k = tabs[t]; k->name; k++) {
            if (mkpath_key(c, kp, path, k->name) < 0)
                return -1;
            v = json_object_get(obj, k->name);
            if (v && check_value(c, k, v, kp) < 0)
                return -1;
            if (!v && k->def && fill_default(c, obj, k, kp) < 0)
                return -1;
        }
    for (size_t t = 0; t < ntabs; t++)
        for (const struct key *k = tabs[t]; k->name; k++) {
            if (!(k->flags & F_REQ) || json_object_get(obj, k->name))
                continue;
            if (mkpath_key(c, kp, path, k->name) < 0)
                return -1;
            if (!k->group)
                return fail(c, kp, "missing required key");
            int given = 0;
            for (const struct key *o = tabs[t]; o->name; o++)
                if (o->group && strcmp(o->group, k->group) == 0 && json_object_get(obj, o->name))
                    given = 1;
            if (!given) {
                group_names(tabs, ntabs, k->group, names, sizeof names);
                return fail(c, kp, "missing required key (give %s)", names);
            }
        }
    return 0;
}

static int check_str(struct lctx *c, const struct key *k, json_t *v, const char *path)
{
    char q[128], known[512];
    if (!json_is_string(v))
        return type_err(c, path, "a string", v);
    if (json_string_length(v) == 0)
        return fail(c, path, "must not be empty");
    if (k->choices && !in_list(k->choices, json_string_value(v)))
        return fail(c, path, "unknown value %s (known: %s)",
                    qstr(json_string_value(v), q, sizeof q), join(k->choices, known, sizeof known));
    return k->check ? k->check(c, v, path) : 0;
}

static int check_num(struct lctx *c, const struct key *k, json_t *v, const char *path)
{
    if (!json_is_number(v))
        return type_err(c, path, "a number", v);
    if (json_number_value(v) < 0)
        return fail(c, path, "must not be negative");
    return k->check ? k->check(c, v, path) : 0;
}

/* K_STRS / K_NUMS; F_UNIQUE applies to strings (kept in a set: lists may be long). */
static int check_array(struct lctx *c, const struct key *k, json_t *v, const char *path)
{
    char ep[CFG_PATH_MAX], q[128];
    size_t i;
    json_t *el, *seen = NULL;
    int rc = -1;
    if (!json_is_array(v))
        return type_err(c, path, k->kind == K_NUMS ? "an array of numbers" : "an array of strings",
                        v);
    if ((k->flags & F_NONEMPTY) && json_array_size(v) == 0)
        return fail(c, path, "must not be empty");
    if ((k->flags & F_UNIQUE) && !(seen = json_object()))
        return oom(c);
    json_array_foreach(v, i, el)
    {
        if (mkpath_index(c, ep, path, i) < 0)
            goto out;
        if ((k->kind == K_NUMS ? check_num(c, k, el, ep) : check_str(c, k, el, ep)) < 0)
            goto out;
        if (!seen || !json_is_string(el))
            continue;
        json_t *prev = json_object_get(seen, json_string_value(el));
        if (prev) {
            fail(c, ep, "duplicate entry %s (also at index %" JSON_INTEGER_FORMAT ")",
                 qstr(json_string_value(el), q, sizeof q), json_integer_value(prev));
            goto out;
        }
        if (json_object_set_new(seen, json_string_value(el), json_integer((json_int_t)i)) < 0) {
            oom(c);
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(seen);
    return rc;
}

static int check_secret_env(struct lctx *c, const struct key *k, json_t *v, const char *path)
{
    if (!json_is_string(v))
        return type_err(c, path, "a string (an environment variable name)", v);
    const char *name = json_string_value(v);
    if (!env_name_valid(name))
        return fail(c, path,
                    "not a valid environment variable name (give the variable's name, "
                    "never the secret itself)");
    const char *val = getenv(name);
    if (!val || !*val) {
        if (env_name_showable(name))
            return fail(c, path, "environment variable %s is %s", name, val ? "empty" : "not set");
        return fail(c, path, "the environment variable it names is %s", val ? "empty" : "not set");
    }
    return k->check ? k->check(c, v, path) : 0;
}

static int check_secret_file(struct lctx *c, const struct key *k, json_t *v, const char *path)
{
    char q[160];
    struct stat st;
    if (!json_is_string(v))
        return type_err(c, path, "a string (a file path)", v);
    const char *p = json_string_value(v);
    const char *shown = path_showable(p) ? qstr(p, q, sizeof q) : "the file";
    if (!*p)
        return fail(c, path, "must not be empty");
    if (stat(p, &st) < 0)
        return fail(c, path, "%s: %s", shown, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return fail(c, path, "%s is not a regular file", shown);
    if (st.st_mode & 077)
        return fail(c, path,
                    "%s is mode %04o, readable or writable by group or others; "
                    "run chmod 600 on it",
                    shown, (unsigned)(st.st_mode & 07777));
    if (access(p, R_OK) < 0)
        return fail(c, path, "%s cannot be read: %s", shown, strerror(errno));
    if (st.st_size == 0)
        return fail(c, path, "%s is empty", shown);
    return k->check ? k->check(c, v, path) : 0;
}

static int check_family(struct lctx *c, const struct family *f, json_t *arr, const char *path)
{
    char ep[CFG_PATH_MAX], tp[CFG_PATH_MAX], np[CFG_PATH_MAX], q[128], known[512];
    size_t i;
    json_t *el;
    if (!json_is_array(arr))
        return type_err(c, path, "an array", arr);
    json_array_foreach(arr, i, el)
    {
        if (mkpath_index(c, ep, path, i) < 0 || mkpath_key(c, tp, ep, "type") < 0 ||
            mkpath_key(c, np, ep, "name") < 0)
            return -1;
        if (!json_is_object(el))
            return type_err(c, ep, "an object", el);
        json_t *t = json_object_get(el, "type");
        if (!t)
            return fail(c, tp, "missing required key");
        if (!json_is_string(t))
            return type_err(c, tp, "a string", t);
        const struct type_schema *ts = NULL;
        for (size_t j = 0; j < f->n_types && !ts; j++)
            if (strcmp(f->types[j].type, json_string_value(t)) == 0)
                ts = &f->types[j];
        if (!ts) {
            const char *names[16];
            size_t n = 0;
            for (; n < f->n_types && n < 15; n++)
                names[n] = f->types[n].type;
            names[n] = NULL;
            return fail(c, tp, "unknown %s type %s (known: %s)", f->what,
                        qstr(json_string_value(t), q, sizeof q), join(names, known, sizeof known));
        }
        const struct key *tabs[2] = {f->common, ts->keys};
        if (check_object(c, el, ep, tabs, 2) < 0)
            return -1;
        if (ts->post && ts->post(c, el, ep) < 0)
            return -1;
        int defaulted = !json_object_get(el, "name");
        if (defaulted && json_object_set_new(el, "name", json_string(ts->type)) < 0)
            return oom(c);
        const char *name = json_string_value(json_object_get(el, "name"));
        for (size_t j = 0; j < i; j++) {
            json_t *prev = json_array_get(arr, j);
            if (strcmp(name, json_string_value(json_object_get(prev, "name"))) != 0)
                continue;
            char pe[CFG_PATH_MAX], pp[CFG_PATH_MAX];
            int line, col;
            if (mkpath_index(c, pe, path, j) < 0 || mkpath_key(c, pp, pe, "name") < 0)
                return -1;
            locate(c, pp, 0, &line, &col);
            return fail(c, np, "duplicate %s name %s (first at line %d)%s", f->what,
                        qstr(name, q, sizeof q), line,
                        defaulted ? "; a rule's name defaults to its type, so give each a name"
                                  : "");
        }
    }
    return 0;
}

static int check_value(struct lctx *c, const struct key *k, json_t *v, const char *path)
{
    char kp[CFG_PATH_MAX], q[128];
    const char *name;
    json_t *el;
    size_t i;
    switch (k->kind) {
    case K_STR: return check_str(c, k, v, path);
    case K_INT:
        if (json_is_real(v))
            return fail(c, path, "expected an integer, got %g", json_real_value(v));
        if (!json_is_integer(v))
            return type_err(c, path, "an integer", v);
        if (json_integer_value(v) < 1 || json_integer_value(v) > INT32_MAX)
            return fail(c, path, "must be an integer from 1 to %d", INT32_MAX);
        return k->check ? k->check(c, v, path) : 0;
    case K_NUM: return check_num(c, k, v, path);
    case K_BOOL:
        if (!json_is_boolean(v))
            return type_err(c, path, "true or false", v);
        return 0;
    case K_DUR: {
        int64_t d;
        if (!json_is_string(v))
            return type_err(c, path, "a duration string such as \"5m\"", v);
        if (tu_parse_duration(json_string_value(v), &d) < 0)
            return fail(c, path, "bad duration %s (use e.g. 30s, 5m, 1h, 7d)",
                        qstr(json_string_value(v), q, sizeof q));
        return 0;
    }
    case K_STRS:
    case K_NUMS: return check_array(c, k, v, path);
    case K_OBJ:
        if (!json_is_object(v))
            return type_err(c, path, "an object", v);
        if (check_object(c, v, path, &k->sub, 1) < 0)
            return -1;
        break;
    case K_OBJS:
        if (!json_is_array(v))
            return type_err(c, path, "an array of objects", v);
        if ((k->flags & F_NONEMPTY) && json_array_size(v) == 0)
            return fail(c, path, "must not be empty");
        json_array_foreach(v, i, el)
        {
            if (mkpath_index(c, kp, path, i) < 0)
                return -1;
            if (!json_is_object(el))
                return type_err(c, kp, "an object", el);
            if (check_object(c, el, kp, &k->sub, 1) < 0)
                return -1;
        }
        break;
    case K_MAP:
        if (!json_is_object(v))
            return type_err(c, path, "an object", v);
        json_object_foreach(v, name, el)
        {
            if (mkpath_key(c, kp, path, name) < 0)
                return -1;
            if (k->keycheck && k->keycheck(c, name, kp) < 0)
                return -1;
            if (check_value(c, k->sub, el, kp) < 0)
                return -1;
        }
        break;
    case K_ENV: return check_secret_env(c, k, v, path);
    case K_FILE: return check_secret_file(c, k, v, path);
    case K_TYPED: return check_family(c, k->family, v, path);
    }
    return k->check ? k->check(c, v, path) : 0;
}

/* ---- loading ----------------------------------------------------------- */

static int read_config(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    int rc = -1;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        if (cap - n < 4096) {
            if (cap >= CFG_FILE_MAX) {
                snprintf(err, errlen, "%s: larger than %u bytes", path, CFG_FILE_MAX);
                goto out;
            }
            size_t ncap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                snprintf(err, errlen, "%s: out of memory", path);
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        goto out;
    }
    *text = buf;
    *len = n;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    fclose(f);
    return rc;
}

static void syntax_error(struct lctx *c, const json_error_t *je)
{
    if (json_error_code(je) == json_error_duplicate_key && !c->pos &&
        jpos_scan(c->text, c->len, &c->pos) == 0) {
        const struct jpos_entry *first = NULL, *dup = jpos_first_duplicate(c->pos, &first);
        if (dup) {
            snprintf(c->err, c->errlen, "%s:%d:%d: %s: duplicate key (first at line %d)", c->file,
                     dup->key_line, dup->key_col, dup->path, first->key_line);
            return;
        }
    }
    snprintf(c->err, c->errlen, "%s:%d:%d: JSON syntax: %s", c->file, je->line > 0 ? je->line : 1,
             je->column > 0 ? je->column : 1, je->text);
}

static const char *sget(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int sdup(char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : -1;
}

static int sdup_list(const json_t *arr, char ***out, size_t *n)
{
    size_t i, len = json_array_size(arr);
    json_t *el;
    *out = NULL;
    *n = 0;
    if (len == 0)
        return 0;
    *out = calloc(len, sizeof **out);
    if (!*out)
        return -1;
    *n = len;
    json_array_foreach(arr, i, el)
    {
        if (sdup(&(*out)[i], json_string_value(el)) < 0)
            return -1;
    }
    return 0;
}

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        free(list[i]);
    free(list);
}

/* Copies the validated tree (defaults filled) into cfg's fields. */
static int build(struct config *cfg)
{
    json_t *r = cfg->root, *el;
    size_t i, n;
    const char *uname;

    if (sdup(&cfg->data_dir, sget(r, "data_dir")) < 0 ||
        sdup(&cfg->listen, sget(r, "listen")) < 0 || sdup(&cfg->prices, sget(r, "prices")) < 0 ||
        sdup(&cfg->timezone, sget(r, "timezone")) < 0)
        return -1;
    if (log_parse_level(sget(r, "log_level"), &cfg->log_level) < 0)
        cfg->log_level = LOG_INFO;
    cfg->retention = dur_of(r, "retention");

    json_t *arr = json_object_get(r, "providers");
    if ((n = json_array_size(arr)) > 0) {
        if (!(cfg->providers = calloc(n, sizeof *cfg->providers)))
            return -1;
        cfg->n_providers = n;
    }
    json_array_foreach(arr, i, el)
    {
        struct cfg_provider *p = &cfg->providers[i];
        const char *file = sget(el, "admin_key_file");
        if (!file)
            file = sget(el, "credentials_file");
        if (sdup(&p->type, sget(el, "type")) < 0 || sdup(&p->name, sget(el, "name")) < 0 ||
            sdup(&p->base_url, sget(el, "base_url")) < 0 ||
            sdup(&p->admin_key.env, sget(el, "admin_key_env")) < 0 ||
            sdup(&p->admin_key.file, file) < 0)
            return -1;
        p->poll_interval = dur_of(el, "poll_interval");
        p->backfill = dur_of(el, "backfill");
        p->timeout = dur_of(el, "timeout");
        p->tls_min_13 = strcmp(sget(el, "tls_min_version"), "1.3") == 0;
        p->enabled = json_is_true(json_object_get(el, "enabled"));
        p->params = el;
    }

    arr = json_object_get(r, "rules");
    if ((n = json_array_size(arr)) > 0) {
        if (!(cfg->rules = calloc(n, sizeof *cfg->rules)))
            return -1;
        cfg->n_rules = n;
    }
    json_array_foreach(arr, i, el)
    {
        struct cfg_rule *ru = &cfg->rules[i];
        if (sdup(&ru->type, sget(el, "type")) < 0 || sdup(&ru->name, sget(el, "name")) < 0 ||
            sdup(&ru->severity, sget(el, "severity")) < 0)
            return -1;
        ru->params = el;
    }

    arr = json_object_get(r, "sinks");
    if ((n = json_array_size(arr)) > 0) {
        if (!(cfg->sinks = calloc(n, sizeof *cfg->sinks)))
            return -1;
        cfg->n_sinks = n;
    }
    json_array_foreach(arr, i, el)
    {
        struct cfg_sink *s = &cfg->sinks[i];
        if (sdup(&s->type, sget(el, "type")) < 0 || sdup(&s->name, sget(el, "name")) < 0 ||
            sdup(&s->min_severity, sget(el, "min_severity")) < 0)
            return -1;
        s->params = el;
    }

    json_t *units = json_object_get(r, "business_units");
    if ((n = json_object_size(units)) > 0) {
        if (!(cfg->units = calloc(n, sizeof *cfg->units)))
            return -1;
        cfg->n_units = n;
    }
    i = 0;
    json_object_foreach(units, uname, el)
    {
        struct cfg_business_unit *u = &cfg->units[i++];
        if (sdup(&u->name, uname) < 0 ||
            sdup_list(json_object_get(el, "projects"), &u->projects, &u->n_projects) < 0 ||
            sdup_list(json_object_get(el, "api_keys"), &u->api_keys, &u->n_api_keys) < 0)
            return -1;
    }

    json_t *rep = json_object_get(r, "report");
    struct cfg_report *rp = &cfg->report;
    if (sdup(&rp->schedule, sget(rep, "schedule")) < 0 ||
        sdup(&rp->timezone, sget(rep, "timezone")) < 0 ||
        sdup(&rp->out_dir, sget(rep, "out_dir")) < 0 ||
        sdup_list(json_object_get(rep, "sinks"), &rp->sinks, &rp->n_sinks) < 0 ||
        sdup_list(json_object_get(rep, "formats"), &rp->formats, &rp->n_formats) < 0)
        return -1;
    return 0;
}

int cfg_load(const char *path, struct config **out, char *err, size_t errlen)
{
    int rc = -1;
    char *text = NULL;
    size_t len = 0;
    json_error_t je;
    struct config *cfg = NULL;
    struct lctx c = {.file = path, .err = err, .errlen = errlen};

    if (errlen)
        err[0] = '\0';
    if (!path || !out) {
        snprintf(err, errlen, "no configuration file given");
        return -1;
    }
    if (read_config(path, &text, &len, err, errlen) < 0)
        goto out;
    c.text = text;
    c.len = len;
    c.root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!c.root) {
        syntax_error(&c, &je);
        goto out;
    }
    if (!json_is_object(c.root)) {
        type_err(&c, "", "an object", c.root);
        goto out;
    }
    const struct key *top = TOP_KEYS;
    if (check_object(&c, c.root, "", &top, 1) < 0)
        goto out;
    if (!(cfg = calloc(1, sizeof *cfg))) {
        oom(&c);
        goto out;
    }
    cfg->root = c.root;
    c.root = NULL;
    if (sdup(&cfg->path, path) < 0 || build(cfg) < 0) {
        oom(&c);
        goto out;
    }
    *out = cfg;
    cfg = NULL;
    rc = 0;
out:
    cfg_free(cfg);
    json_decref(c.root);
    jpos_free(c.pos);
    free(text);
    return rc;
}

void cfg_free(struct config *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    free(cfg->data_dir);
    free(cfg->listen);
    free(cfg->prices);
    free(cfg->timezone);
    for (size_t i = 0; i < cfg->n_providers; i++) {
        struct cfg_provider *p = &cfg->providers[i];
        free(p->type);
        free(p->name);
        free(p->base_url);
        free(p->admin_key.env);
        free(p->admin_key.file);
    }
    free(cfg->providers);
    for (size_t i = 0; i < cfg->n_rules; i++) {
        free(cfg->rules[i].type);
        free(cfg->rules[i].name);
        free(cfg->rules[i].severity);
    }
    free(cfg->rules);
    for (size_t i = 0; i < cfg->n_sinks; i++) {
        free(cfg->sinks[i].type);
        free(cfg->sinks[i].name);
        free(cfg->sinks[i].min_severity);
    }
    free(cfg->sinks);
    for (size_t i = 0; i < cfg->n_units; i++) {
        free(cfg->units[i].name);
        free_list(cfg->units[i].projects, cfg->units[i].n_projects);
        free_list(cfg->units[i].api_keys, cfg->units[i].n_api_keys);
    }
    free(cfg->units);
    free(cfg->report.schedule);
    free(cfg->report.timezone);
    free(cfg->report.out_dir);
    free_list(cfg->report.sinks, cfg->report.n_sinks);
    free_list(cfg->report.formats, cfg->report.n_formats);
    json_decref(cfg->root);
    free(cfg);
}

/* ---- secrets ----------------------------------------------------------- */

static void strip_newlines(char *s, size_t *n)
{
    while (*n > 0 && (s[*n - 1] == '\n' || s[*n - 1] == '\r'))
        s[--*n] = '\0';
}

static int read_secret_file(const char *path, char **value, char *err, size_t errlen)
{
    int rc = -1, fd = -1;
    char *buf = NULL, q[160];
    size_t n = 0;
    struct stat st;
    const char *shown = path_showable(path) ? qstr(path, q, sizeof q) : "secret file";

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", shown, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", shown);
        goto out;
    }
    if (st.st_mode & 077) {
        snprintf(err, errlen,
                 "%s is mode %04o, readable or writable by group or others; "
                 "run chmod 600 on it",
                 shown, (unsigned)(st.st_mode & 07777));
        goto out;
    }
    if (!(buf = malloc(CFG_SECRET_MAX + 1))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, CFG_SECRET_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: %s", shown, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > CFG_SECRET_MAX) {
            snprintf(err, errlen, "%s is larger than %u bytes", shown, CFG_SECRET_MAX);
            goto out;
        }
    }
    buf[n] = '\0';
    strip_newlines(buf, &n);
    if (n == 0 || strlen(buf) != n) {
        snprintf(err, errlen, "%s is %s", shown, n ? "not text (holds a NUL byte)" : "empty");
        goto out;
    }
    if (!(*value = strdup(buf))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    rc = 0;
out:
    if (buf) {
        wipe(buf, CFG_SECRET_MAX + 1);
        free(buf);
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

int cfg_secret_get(const struct cfg_secret *s, char **value, char *err, size_t errlen)
{
    if (errlen)
        err[0] = '\0';
    if (!value || !s) {
        snprintf(err, errlen, "no secret given");
        return -1;
    }
    *value = NULL;
    if (s->env) {
        const char *v = getenv(s->env);
        if (!v || !*v) {
            if (env_name_showable(s->env))
                snprintf(err, errlen, "environment variable %s is %s", s->env,
                         v ? "empty" : "not set");
            else
                snprintf(err, errlen, "the secret's environment variable is %s",
                         v ? "empty" : "not set");
            return -1;
        }
        size_t n = strlen(v);
        while (n > 0 && (v[n - 1] == '\n' || v[n - 1] == '\r'))
            n--;
        if (n == 0) {
            snprintf(err, errlen, "environment variable %s is empty",
                     env_name_showable(s->env) ? s->env : "(named)");
            return -1;
        }
        if (!(*value = strndup(v, n))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        return 0;
    }
    if (s->file)
        return read_secret_file(s->file, value, err, errlen);
    snprintf(err, errlen, "no secret configured");
    return -1;
}

/* ---- summary ----------------------------------------------------------- */

static void print_secret(FILE *out, const char *label, const char *env, const char *file, int tail)
{
    char *val = NULL, err[256], buf[32];
    if (env) {
        struct cfg_secret s = {.env = (char *)env};
        fprintf(out, "  %s env %s", label, env_name_showable(env) ? env : "(hidden name)");
        if (tail && cfg_secret_get(&s, &val, err, sizeof err) == 0) {
            fprintf(out, " (%s)", log_secret_tail(val, buf, sizeof buf));
            wipe(val, strlen(val));
            free(val);
        } else if (tail) {
            fprintf(out, " (not set)");
        }
    } else if (file) {
        fprintf(out, "  %s file %s", label, path_showable(file) ? file : "(hidden path)");
    }
}

static const struct type_schema *schema_of(const struct family *f, const char *type)
{
    for (size_t i = 0; i < f->n_types; i++)
        if (strcmp(f->types[i].type, type) == 0)
            return &f->types[i];
    return NULL;
}

/* Renders a parameter compactly: scalars as written, string lists joined, containers by size. */
static const char *render(const json_t *v, char *buf, size_t len)
{
    size_t i, n = 0;
    json_t *el;
    switch (json_typeof(v)) {
    case JSON_STRING: snprintf(buf, len, "%s", json_string_value(v)); break;
    case JSON_INTEGER: snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
    case JSON_REAL: snprintf(buf, len, "%g", json_real_value(v)); break;
    case JSON_TRUE: snprintf(buf, len, "true"); break;
    case JSON_FALSE: snprintf(buf, len, "false"); break;
    case JSON_NULL: snprintf(buf, len, "null"); break;
    case JSON_OBJECT: snprintf(buf, len, "{%zu}", json_object_size(v)); break;
    case JSON_ARRAY:
        buf[0] = '\0';
        json_array_foreach(v, i, el)
        {
            char one[64];
            if (!json_is_string(el) && !json_is_number(el)) {
                snprintf(buf, len, "[%zu]", json_array_size(v));
                break;
            }
            render(el, one, sizeof one);
            int w = snprintf(buf + n, len - n, "%s%s", i ? "," : "", one);
            if (w < 0 || (size_t)w >= len - n)
                break;
            n += (size_t)w;
        }
        break;
    }
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = '?';
    return buf;
}

static const char *nz(const char *s)
{
    return s ? s : "-";
}

void cfg_print_summary(const struct config *cfg, FILE *out)
{
    char val[160];
    static const char *const level_names[] = {"debug", "info", "warn", "error"};
    if (!cfg || !out)
        return;
    fprintf(out, "config     %s\n", cfg->path ? cfg->path : "(none)");
    fprintf(out, "data_dir   %s\n", cfg->data_dir);
    fprintf(out, "retention  %s\n", nz(sget(cfg->root, "retention")));
    fprintf(out, "listen     %s\n", cfg->listen);
    fprintf(out, "log_level  %s\n",
            (unsigned)cfg->log_level < 4 ? level_names[cfg->log_level] : "info");
    fprintf(out, "prices     %s\n", cfg->prices);
    fprintf(out, "timezone   %s\n", cfg->timezone ? cfg->timezone : "UTC");

    fprintf(out, "providers (%zu):\n", cfg->n_providers);
    for (size_t i = 0; i < cfg->n_providers; i++) {
        const struct cfg_provider *p = &cfg->providers[i];
        fprintf(out, "  %-10s %-20s", p->type, p->name);
        if (p->base_url)
            fprintf(out, " %s ", p->base_url);
        fprintf(out, " poll %s  backfill %s", nz(sget(p->params, "poll_interval")),
                nz(sget(p->params, "backfill")));
        if (p->admin_key.env || p->admin_key.file)
            print_secret(out, "key", p->admin_key.env, p->admin_key.file, 1);
        else
            print_secret(out, "token", sget(p->params, "token_env"), sget(p->params, "token_file"),
                         1);
        fprintf(out, "%s\n", p->enabled ? "" : "  (disabled)");
    }

    if (cfg->n_units) {
        fprintf(out, "business units (%zu):", cfg->n_units);
        for (size_t i = 0; i < cfg->n_units; i++)
            fprintf(out, "%s %s (projects: %zu, api_keys: %zu)", i ? "," : "", cfg->units[i].name,
                    cfg->units[i].n_projects, cfg->units[i].n_api_keys);
        fprintf(out, "\n");
    }

    fprintf(out, "rules (%zu):\n", cfg->n_rules);
    for (size_t i = 0; i < cfg->n_rules; i++) {
        const struct cfg_rule *r = &cfg->rules[i];
        const struct type_schema *ts = schema_of(&RULES, r->type);
        json_t *v;
        fprintf(out, "  %-16s %-20s %-8s", r->type, r->name, r->severity);
        if ((v = json_object_get(r->params, "providers")))
            fprintf(out, " providers=%s", render(v, val, sizeof val));
        for (const struct key *k = ts ? ts->keys : NULL; k && k->name; k++)
            if ((v = json_object_get(r->params, k->name)))
                fprintf(out, " %s=%s", k->name, render(v, val, sizeof val));
        fprintf(out, "%s\n",
                json_is_false(json_object_get(r->params, "enabled")) ? " (disabled)" : "");
    }

    fprintf(out, "sinks (%zu):\n", cfg->n_sinks);
    for (size_t i = 0; i < cfg->n_sinks; i++) {
        const struct cfg_sink *s = &cfg->sinks[i];
        const struct type_schema *ts = schema_of(&SINKS, s->type);
        const char *url = sget(s->params, "url"), *addr = sget(s->params, "address");
        json_t *v;
        fprintf(out, "  %-12s %-20s min %-8s", s->type, s->name, s->min_severity);
        if (url) {
            struct url u;
            const char *why;
            if (parse_url(url, &u, &why) == 0)
                fprintf(out, "  url %s://%s", u.https ? "https" : "http", u.hostport);
        } else if (addr) {
            fprintf(out, "  address %s/%s", addr, nz(sget(s->params, "protocol")));
        } else {
            print_secret(out, "url", sget(s->params, "url_env"), sget(s->params, "url_file"), 0);
        }
        /* Other credentials: where they come from, never their value. */
        for (const struct key *k = ts ? ts->keys : NULL; k && k->name; k++) {
            if (!k->group || strcmp(k->group, "url") == 0 || !json_object_get(s->params, k->name))
                continue;
            const char *src = sget(s->params, k->name);
            print_secret(out, k->group, k->kind == K_ENV ? src : NULL,
                         k->kind == K_FILE ? src : NULL, 0);
        }
        if ((v = json_object_get(s->params, "rules")))
            fprintf(out, "  rules=%s", render(v, val, sizeof val));
        fprintf(out, "\n");
    }

    const struct cfg_report *rp = &cfg->report;
    fprintf(out, "report: schedule %s  timezone %s  out_dir %s  formats ",
            rp->schedule ? rp->schedule : "off",
            rp->timezone    ? rp->timezone
            : cfg->timezone ? cfg->timezone
                            : "UTC",
            rp->out_dir);
    for (size_t i = 0; i < rp->n_formats; i++)
        fprintf(out, "%s%s", i ? "," : "", rp->formats[i]);
    fprintf(out, "  sinks ");
    for (size_t i = 0; i < rp->n_sinks; i++)
        fprintf(out, "%s%s", i ? "," : "", rp->sinks[i]);
    fprintf(out, "%s\n", rp->n_sinks ? "" : "none");
}
