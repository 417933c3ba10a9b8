/*
 * The auth_failures rule: failed authentications per actor in a sliding
 * window [now - window, now). Three patterns, each its own alert: repeated
 * failures of one actor (failed_logins), failures of one actor from many
 * different IPs (credential_stuffing), and a provider rejecting the
 * collector's own admin key (collector_key_rejected). Which events count as
 * a failure is the FAIL_TYPES table below; stateless between cycles.
 */
#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/timeutil.h"
#include "engine.h"

#define COLLECTOR_ACTOR "byokwatch-collector"
/*
 * A rejected collector key is a state, not a burst: it fires while the
 * latest rejection (looked for this far back) is newer than the source's
 * last successful cycle (meta "health/<account>"), so a source that backs
 * off longer than the rule's window does not flap.
 */
#define COLLECTOR_LOOKBACK (7LL * 86400)
#define IP_CAP_MIN 256 /* distinct IPs kept per actor (at least distinct_ips) */
#define DETAIL_IPS 20  /* IPs listed in an alert's details */

/* ---- which events are failed authentications ---- */

static int http_denied(const json_t *ev)
{
    const json_t *s = json_object_get(ev, "status");
    long long code = -1;
    if (json_is_integer(s))
        code = json_integer_value(s);
    else if (json_is_string(s))
        code = strtoll(json_string_value(s), NULL, 10);
    return code == 401 || code == 403;
}

/*
 * One line per kind of failed authentication. scan is what ts_events_scan
 * reads (an exact type, or a prefix ending in '*'); pattern is an fnmatch()
 * pattern the event type must match; accept, when set, must also agree.
 * An event counts once even when several lines match it.
 */
static const struct fail_type {
    const char *scan;
    const char *pattern;
    int (*accept)(const json_t *ev);
} FAIL_TYPES[] = {
    {"audit.*", "audit.*login*.failed", NULL}, /* OpenAI login.failed, SSO variants */
    {"audit.*", "audit.*auth*.failed", NULL},  /* any other audit auth failure */
    {"audit.*", "audit.*mfa*.failed", NULL},
    {"proxy.request", "proxy.request", http_denied}, /* a key proxy answered 401/403 */
};
#define N_FAIL_TYPES (sizeof FAIL_TYPES / sizeof FAIL_TYPES[0])

/* ---- params ---- */

struct auth_rule {
    int64_t window;
    long long threshold;
    long long distinct_ips;
    int include_collector;
};

static int auth_init(const struct cfg_rule *rule, const struct config *cfg, void **ctx, char *err,
                     size_t errlen)
{
    (void)cfg;
    struct auth_rule *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *w = json_string_value(json_object_get(rule->params, "window"));
    const json_t *th = json_object_get(rule->params, "threshold");
    const json_t *di = json_object_get(rule->params, "distinct_ips");
    const json_t *ic = json_object_get(rule->params, "include_collector");
    r->window = 30LL * 60;
    r->threshold = th ? json_integer_value(th) : 5;
    r->distinct_ips = di ? json_integer_value(di) : 5;
    r->include_collector = ic ? json_is_true(ic) : 1;
    if (w && tu_parse_duration(w, &r->window) != 0) {
        snprintf(err, errlen, "rule %s: bad window", rule->name);
        free(r);
        return -1;
    }
    if (r->threshold < 1 || r->distinct_ips < 1) {
        snprintf(err, errlen, "rule %s: threshold and distinct_ips must be >= 1", rule->name);
        free(r);
        return -1;
    }
    *ctx = r;
    return 0;
}

static void auth_destroy(void *ctx)
{
    free(ctx);
}

/* ---- one evaluation ---- */

/* The failures of one actor (or of the collector's key) on one source. */
struct group {
    char provider[ANA_VALUE_MAX];
    char account[ANA_VALUE_MAX];
    char actor[ANA_VALUE_MAX];
    int collector;
    long long count;
    int64_t first, last;
    json_t *ips;       /* object: ip -> country ("" unknown); at most ip_cap keys */
    int ips_capped;    /* more distinct IPs were seen than kept */
    json_t *endpoints; /* collector: object endpoint -> last HTTP status */
};

struct scan {
    const struct auth_rule *r;
    const struct ana_ctx *c;
    const struct fail_type *types[N_FAIL_TYPES]; /* the lines sharing the scan being run */
    size_t n_types;                              /* 0: the collector.auth_failed scan */
    size_t ip_cap;
    json_t *index; /* object: key -> group index */
    struct group *g;
    size_t n, cap;
    int failed; /* out of memory inside a callback */
};

static const char *str_or(const json_t *ev, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(ev, key));
    return s && s[0] ? s : dflt;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src);
}

/* The group for (provider, account, actor, collector?), created when new; NULL out of memory. */
static struct group *group_of(struct scan *s, const char *provider, const char *account,
                              const char *actor, int collector)
{
    char key[3 * ANA_VALUE_MAX + 8];
    snprintf(key, sizeof key, "%c\x1f%s\x1f%s\x1f%s", collector ? 'c' : 'u', provider, account,
             actor);
    const json_t *ix = json_object_get(s->index, key);
    if (ix)
        return &s->g[json_integer_value(ix)];
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        struct group *ng = realloc(s->g, nc * sizeof *ng);
        if (!ng)
            return NULL;
        s->g = ng;
        s->cap = nc;
    }
    struct group *g = &s->g[s->n];
    memset(g, 0, sizeof *g);
    copy_str(g->provider, sizeof g->provider, provider);
    copy_str(g->account, sizeof g->account, account);
    copy_str(g->actor, sizeof g->actor, actor);
    g->collector = collector;
    g->ips = json_object();
    g->endpoints = collector ? json_object() : NULL;
    if (!g->ips || (collector && !g->endpoints) ||
        json_object_set_new_nocheck(s->index, key, json_integer((json_int_t)s->n)) != 0) {
        json_decref(g->ips);
        json_decref(g->endpoints);
        return NULL;
    }
    s->n++;
    return g;
}

static int count_failure(struct scan *s, struct group *g, const json_t *ev, int64_t t)
{
    if (g->count == 0 || t < g->first)
        g->first = t;
    if (g->count == 0 || t > g->last)
        g->last = t;
    g->count++;
    const char *ip = str_or(ev, "ip", NULL);
    if (ip && !json_object_get(g->ips, ip)) {
        if (json_object_size(g->ips) >= s->ip_cap) {
            g->ips_capped = 1;
        } else if (json_object_set_new(g->ips, ip, json_string(str_or(ev, "country", ""))) != 0) {
            return -1;
        }
    }
    if (g->endpoints) {
        const json_t *st = json_object_get(ev, "status");
        json_t *v = json_is_integer(st) ? json_integer(json_integer_value(st)) : json_null();
        if (json_object_set_new(g->endpoints, str_or(ev, "endpoint", "unknown"), v) != 0)
            return -1;
    }
    return 0;
}

static int type_matches(const struct scan *s, const char *type, const json_t *ev)
{
    for (size_t i = 0; i < s->n_types; i++) {
        const struct fail_type *f = s->types[i];
        if (fnmatch(f->pattern, type, 0) == 0 && (!f->accept || f->accept(ev)))
            return 1;
    }
    return 0;
}

/* ts_events_scan callback for both the failure types and collector.auth_failed. */
static int on_event(const struct ts_event *e, void *ud)
{
    struct scan *s = ud;
    json_t *ev = json_loads(e->json, 0, NULL);
    if (!json_is_object(ev))
        goto out; /* not ours to judge: skip */
    int collector = s->n_types == 0;
    if (!collector && !type_matches(s, e->type, ev))
        goto out;
    const char *provider = str_or(ev, "provider", "unknown");
    const char *account = str_or(ev, "account", "unknown");
    if (!ana_provider_ok(s->c->rule, provider, account))
        goto out;
    const char *actor =
        collector ? COLLECTOR_ACTOR
                  : str_or(ev, "actor", str_or(ev, "api_key_id", str_or(ev, "key_id", "unknown")));
    struct group *g = group_of(s, provider, account, actor, collector);
    if (!g || count_failure(s, g, ev, e->time) != 0)
        s->failed = 1;
out:
    json_decref(ev);
    return s->failed;
}

static json_t *ip_details(const struct group *g)
{
    json_t *d = json_object(), *ips = json_array(), *cc = json_array();
    const char *ip;
    json_t *v;
    size_t k = 0;
    if (!d || !ips || !cc)
        goto fail;
    json_object_foreach(g->ips, ip, v)
    {
        const char *country = json_string_value(v);
        if (k++ < DETAIL_IPS && json_array_append_new(ips, json_string(ip)) != 0)
            goto fail;
        if (country && country[0]) {
            int dup = 0;
            for (size_t i = 0; i < json_array_size(cc) && !dup; i++)
                dup = strcmp(json_string_value(json_array_get(cc, i)), country) == 0;
            if (!dup && json_array_append_new(cc, json_string(country)) != 0)
                goto fail;
        }
    }
    if (json_object_set_new(d, "ips", ips) || json_object_set_new(d, "countries", cc) ||
        json_object_set_new(d, "distinct_ips",
                            json_integer((json_int_t)json_object_size(g->ips))) ||
        json_object_set_new(d, "distinct_ips_capped", json_boolean(g->ips_capped)) ||
        json_object_set_new(d, "failures", json_integer(g->count)) ||
        json_object_set_new(d, "first_failure", json_integer(g->first)) ||
        json_object_set_new(d, "last_failure", json_integer(g->last))) {
        json_decref(d);
        return NULL;
    }
    return d;
fail:
    json_decref(d);
    json_decref(ips);
    json_decref(cc);
    return NULL;
}

static int emit(struct ana_results *out, const struct group *g, const char *pattern,
                const char *window, double value, double threshold, struct ana_candidate **cp)
{
    struct ana_candidate *c;
    if (ana_emit(out, &c) != 0)
        return -1;
    if (ana_label(c, "provider", g->provider) || ana_label(c, "account", g->account) ||
        ana_label(c, "actor", g->actor) || ana_label(c, "pattern", pattern))
        return -1;
    c->value = value;
    c->threshold = threshold;
    snprintf(c->unit, sizeof c->unit, "count");
    snprintf(c->window, sizeof c->window, "%s", window);
    c->starts_at = g->first;
    c->details = ip_details(g);
    if (!c->details)
        return -1;
    *cp = c;
    return 0;
}

/* The source's last successful cycle from meta "health/<account>"; 0 when unknown. */
static int64_t last_success(struct ts_store *st, const char *account)
{
    char key[300], err[128], *v = NULL;
    size_t vl = 0;
    int n = snprintf(key, sizeof key, "health/%s", account);
    if (n < 0 || (size_t)n >= sizeof key ||
        ts_get(st, TS_META, key, (size_t)n, &v, &vl, err, sizeof err) != 0)
        return 0;
    json_t *h = json_loadb(v, vl, 0, NULL);
    int64_t t = (int64_t)json_integer_value(json_object_get(h, "last_success"));
    json_decref(h);
    free(v);
    return t;
}

static int emit_group(const struct auth_rule *r, const struct group *g, struct ts_store *st,
                      struct ana_results *out)
{
    char win[16];
    struct ana_candidate *c;
    ana_fmt_duration(r->window, win, sizeof win);
    if (g->collector) {
        if (g->last <= last_success(st, g->account))
            return 0; /* a later cycle succeeded: the key works again */
        char since[32];
        if (emit(out, g, "collector_key_rejected", "", (double)g->count, 1, &c) != 0 ||
            json_object_set(c->details, "endpoints", g->endpoints) != 0)
            return -1;
        ana_summary(c, "%s %s has rejected byokwatch's admin key %lld time%s since %s", g->provider,
                    g->account, g->count, g->count == 1 ? "" : "s",
                    tu_format_time(g->first, since, sizeof since));
        return 0;
    }
    if (g->count >= r->threshold) {
        if (emit(out, g, "failed_logins", win, (double)g->count, (double)r->threshold, &c) != 0)
            return -1;
        ana_summary(c, "%s %s: %lld failed authentications for %s in %s (threshold %lld)",
                    g->provider, g->account, g->count, g->actor, win, r->threshold);
    }
    long long nip = (long long)json_object_size(g->ips);
    if (nip >= r->distinct_ips) {
        if (emit(out, g, "credential_stuffing", win, (double)nip, (double)r->distinct_ips, &c) != 0)
            return -1;
        ana_summary(c,
                    "%s %s: failed authentications for %s from %s%lld different IPs in %s "
                    "(limit %lld), possible credential stuffing",
                    g->provider, g->account, g->actor, g->ips_capped ? "over " : "", nip, win,
                    r->distinct_ips);
    }
    return 0;
}

static int auth_evaluate(void *ctx, const struct ana_ctx *c, struct ana_results *out, char *err,
                         size_t errlen)
{
    const struct auth_rule *r = ctx;
    struct scan s = {.r = r, .c = c};
    int rc = -1;
    int64_t from = c->now - r->window, to = c->now;

    s.ip_cap = r->distinct_ips > IP_CAP_MIN ? (size_t)r->distinct_ips : IP_CAP_MIN;
    s.index = json_object();
    if (!s.index) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    /* one scan per distinct scan string, with the table lines that share it */
    for (size_t i = 0; i < N_FAIL_TYPES; i++) {
        int done = 0;
        for (size_t j = 0; j < i && !done; j++)
            done = strcmp(FAIL_TYPES[j].scan, FAIL_TYPES[i].scan) == 0;
        if (done)
            continue; /* scanned with an earlier line */
        s.n_types = 0;
        for (size_t j = i; j < N_FAIL_TYPES; j++) {
            if (strcmp(FAIL_TYPES[j].scan, FAIL_TYPES[i].scan) == 0)
                s.types[s.n_types++] = &FAIL_TYPES[j];
        }
        if (ts_events_scan(c->st, from, to, FAIL_TYPES[i].scan, on_event, &s, err, errlen) != 0)
            goto out;
        if (s.failed) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
    }
    if (r->include_collector) {
        s.n_types = 0;
        if (ts_events_scan(c->st, c->now - COLLECTOR_LOOKBACK, to, "collector.auth_failed",
                           on_event, &s, err, errlen) != 0)
            goto out;
        if (s.failed) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
    }
    for (size_t i = 0; i < s.n; i++) {
        if (emit_group(r, &s.g[i], c->st, out) != 0) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    for (size_t i = 0; i < s.n; i++) {
        json_decref(s.g[i].ips);
        json_decref(s.g[i].endpoints);
    }
    free(s.g);
    json_decref(s.index);
    return rc;
}

const struct ana_rule_ops ana_auth_failures = {
    .type = "auth_failures",
    .init = auth_init,
    .evaluate = auth_evaluate,
    .destroy = auth_destroy,
};
