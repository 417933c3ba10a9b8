/*
 * The collector's scheduler and job machine (see daemon.h). A source's
 * cycle starts one job per endpoint; per-project listings wait for the
 * project listings of the same cycle. A job walks its units (a time
 * window, an audit-log catch-up, one listing), follows pages to the end,
 * and commits each complete unit with its cursor in one store batch. A
 * page that fails to parse fails its job for this cycle: nothing of that
 * unit is stored and its cursor stays. 429/5xx/transport errors are
 * retried with capped, jittered backoff; 401/403 fail the source's cycle
 * and record an auth-failure event for the collector's own key.
 */
#include "daemon.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../alerts/lifecycle.h"
#include "../alerts/outbox.h"
#include "../analyzers/engine.h"
#include "../common/log.h"
#include "../common/strmap.h"
#include "../common/timeutil.h"
#include "../report/schedule.h"
#include "../storage/ts.h"
#include "estimate.h"
#include "http.h"
#include "poller.h"
#include "prices.h"

#define MAX_ATTEMPTS 6 /* tries of one page within a cycle */
#define RETRY_BASE_MS 500
#define RETRY_CAP_MS 30000
#define FAIL_BACKOFF_BASE 30 /* seconds after the first failed cycle */
#define FAIL_BACKOFF_CAP 3600
#define SHUTDOWN_GRACE_S 5
#define SETTLE_DAYS 1 /* a day is closed one day after it ends */

struct daemon;
struct source;

enum job_state { J_IDLE, J_WAITING, J_RUNNING, J_DONE };

struct job {
    struct source *src;
    const struct col_endpoint *ep;
    enum job_state state;
    int failed;
    int64_t win_start, win_end; /* BUCKETS: current window */
    int64_t win_cap;            /* BUCKETS: window length after a page was too big, or 0 */
    int64_t log_start;          /* LOG: earliest time of this catch-up */
    size_t project_idx;         /* per-project listings */
    char *page;                 /* cursor of the page being fetched */
    char *prev_page;
    struct col_out acc; /* the current unit's pages */
    int pages;          /* pages fetched this cycle */
    int attempts;       /* tries of the current page */
    long http_id;
    struct event *retry_timer;
};

struct source {
    struct daemon *d;
    const struct cfg_provider *cfg;
    const struct col_poller_ops *ops;
    char *key; /* the admin key; never logged */
    struct event *timer;
    struct job *jobs;
    size_t n_jobs;
    size_t running; /* jobs not yet done this cycle */
    int in_cycle;
    int cycle_failed;
    int auth_failed;
    int failures; /* consecutive failed cycles */
    int cycles;
    char **projects; /* project/workspace ids listed this cycle */
    size_t n_projects, cap_projects;
    size_t samples, events, units;
    int64_t last_data; /* end of the latest bucket committed this cycle */
    char reason[256];  /* first failure of the cycle */
    struct log_complaint complaint;
};

struct daemon {
    struct event_base *base;
    struct col_http *http;
    struct ts_store *st;
    struct config *cfg;
    const char *config_path;
    struct col_prices *prices;
    struct source *sources;
    size_t n_sources;
    int once;
    int64_t pinned_now;
    int64_t wall_start;
    int stopping;
    int exit_code;
    size_t sources_done;        /* once mode */
    struct config *pending_cfg; /* SIGHUP reload waiting for cycles to end */
    struct event *sig_term, *sig_int, *sig_hup, *grace;
    unsigned int rng;
    struct ana_engine *engine;
    struct ana_changes changes; /* since the last analysis */
    struct event *analyze_timer;
    struct alert_worker *worker;
    struct event *deliver_timer; /* periodic kick of the outbox worker */
    int analyzed;                /* once mode: the analysis ran */
};

static void job_issue(struct job *j);
static void job_next_unit(struct job *j);
static void source_cycle_start(struct source *s);

/* ---- small helpers ---- */

static int64_t now_of(const struct daemon *d)
{
    if (d->pinned_now == 0)
        return (int64_t)time(NULL);
    if (d->once)
        return d->pinned_now;
    return d->pinned_now + ((int64_t)time(NULL) - d->wall_start);
}

static double rnd(struct daemon *d)
{
    d->rng = d->rng * 1103515245u + 12345u;
    return (double)((d->rng >> 8) & 0xffffff) / (double)0x1000000;
}

int col_cursor_key(const char *source, const char *endpoint, char *buf, size_t len)
{
    int n = snprintf(buf, len, "cursor/%s/%s", source, endpoint);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int meta_get_i64(struct daemon *d, const char *key, int64_t *out)
{
    char *v = NULL, err[256];
    size_t vl;
    if (ts_get(d->st, TS_META, key, strlen(key), &v, &vl, err, sizeof err) != 0)
        return -1;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    int ok = errno == 0 && end != v && *end == '\0';
    free(v);
    if (!ok)
        return -1;
    *out = x;
    return 0;
}

static void put_i64(struct ts_batch *b, const char *key, int64_t v)
{
    char num[32];
    int n = snprintf(num, sizeof num, "%lld", (long long)v);
    ts_batch_put(b, TS_META, key, strlen(key), num, (size_t)n);
}

static void fail_reason(struct source *s, const char *ep, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_reason(struct source *s, const char *ep, const char *fmt, ...)
{
    s->cycle_failed = 1;
    if (s->reason[0])
        return;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(s->reason, sizeof s->reason, "%s: %s", ep, msg);
}

/* Parses Retry-After (seconds or an HTTP date) or a provider reset header
 * ("1s", "6m0s", "20ms", or an RFC 3339 time) into milliseconds; -1 if none. */
static long retry_delay_ms(const struct col_http_result *r, int64_t wall_now)
{
    const char *v = r->retry_after;
    if (v && *v) {
        char *end;
        long secs = strtol(v, &end, 10);
        if (end != v && *end == '\0' && secs >= 0)
            return secs * 1000;
        time_t t = curl_getdate(v, NULL);
        if (t != (time_t)-1)
            return t > wall_now ? (long)(t - wall_now) * 1000 : 0;
    }
    v = r->ratelimit_reset;
    if (v && *v) {
        int64_t t;
        if (tu_parse_time(v, &t) == 0)
            return t > wall_now ? (long)(t - wall_now) * 1000 : 0;
        double total = 0;
        const char *p = v;
        while (*p) {
            char *end;
            double n = strtod(p, &end);
            if (end == p)
                return -1;
            if (strncmp(end, "ms", 2) == 0) {
                total += n / 1000;
                end += 2;
            } else if (*end == 'h') {
                total += n * 3600;
                end++;
            } else if (*end == 'm') {
                total += n * 60;
                end++;
            } else if (*end == 's') {
                total += n;
                end++;
            } else {
                return -1;
            }
            p = end;
        }
        return (long)(total * 1000);
    }
    return -1;
}

/* ---- committing a unit ---- */

static void record_event(struct ts_batch *b, const char *type, json_t *obj, int64_t t)
{
    char *js = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    if (!js)
        return;
    struct ts_event ev = {.time = t, .type = type, .uid = NULL, .json = js};
    ts_batch_add_event(b, &ev);
    free(js);
}

/* A closed day's billed cost that changed: a restatement event. */
static void check_restatement(struct job *j, struct ts_batch *b, uint64_t sid,
                              const struct col_sample *smp, int64_t now)
{
    struct daemon *d = j->src->d;
    if (smp->width != TU_DAY || strcmp(smp->metric, "cost_usd") != 0 ||
        smp->bucket + (int64_t)(1 + SETTLE_DAYS) * TU_DAY > now)
        return;
    int64_t *t = NULL;
    double *v = NULL;
    size_t n = 0;
    char err[256];
    if (ts_read_range(d->st, sid, smp->bucket, smp->bucket + 1, TU_HOUR, &t, &v, &n, err,
                      sizeof err) == 0 &&
        n == 1 && fabs(v[0] - smp->value) >= 0.005) {
        char day[32];
        tu_format_time(smp->bucket, day, sizeof day);
        day[10] = '\0';
        json_t *o = json_pack("{s:s, s:s, s:s, s:f, s:f, s:s}", "provider", j->src->cfg->type,
                              "account", j->src->cfg->name, "day", day, "old_usd", v[0], "new_usd",
                              smp->value, "series", ts_series_by_id(d->st, sid)->key);
        if (o) {
            record_event(b, "collector.restatement", o, now);
            json_decref(o);
        }
        log_event(LOG_WARN, "collector.restatement", "source=%s day=%s old=%.2f new=%.2f",
                  j->src->cfg->name, day, v[0], smp->value);
    }
    free(t);
    free(v);
}

static const char *sample_label(const struct col_sample *s, const char *name)
{
    for (size_t i = 0; i < s->n_labels; i++) {
        if (strcmp(s->labels[i].name, name) == 0)
            return s->labels[i].value;
    }
    return NULL;
}

/* Inventory diff: first sighting and status changes become events. */
static int commit_items(struct job *j, struct ts_batch *b, int64_t now)
{
    struct source *s = j->src;
    struct daemon *d = s->d;
    for (size_t i = 0; i < j->acc.n_items; i++) {
        const struct col_item *it = &j->acc.items[i];
        char key[512], err[256];
        int n = snprintf(key, sizeof key, "inv/%s/%s/%s", s->cfg->name, it->kind, it->id);
        if (n < 0 || (size_t)n >= sizeof key)
            continue;
        char *old = NULL;
        size_t ol = 0;
        int rc = ts_get(d->st, TS_META, key, (size_t)n, &old, &ol, err, sizeof err);
        json_t *nj = json_loads(it->json, 0, NULL);
        const char *nstatus = json_string_value(json_object_get(nj, "status"));
        char type[96];
        type[0] = '\0';
        json_t *oj = NULL;
        if (rc == -TS_ENOTFOUND) {
            snprintf(type, sizeof type, "inventory.%s.added", it->kind);
        } else if (rc == 0) {
            oj = json_loads(old, 0, NULL);
            const char *ostatus = json_string_value(json_object_get(oj, "status"));
            if ((ostatus || nstatus) && (!ostatus || !nstatus || strcmp(ostatus, nstatus) != 0))
                snprintf(type, sizeof type, "inventory.%s.status_changed", it->kind);
        }
        if (type[0] && nj) {
            json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:O}", "provider", s->cfg->type, "account",
                                   s->cfg->name, "kind", it->kind, "id", it->id, "item", nj);
            if (ev && oj)
                json_object_set(ev, "previous_status", json_object_get(oj, "status"));
            if (ev)
                record_event(b, type, ev, now);
            json_decref(ev);
        }
        if (rc == -TS_ENOTFOUND ||
            (rc == 0 && (ol != strlen(it->json) || memcmp(old, it->json, ol) != 0)))
            ts_batch_put(b, TS_META, key, (size_t)n, it->json, strlen(it->json));
        json_decref(oj);
        free(old);
        /* Per-project listings (keys) run for live projects only: providers
         * refuse some listings of archived ones. */
        int archived = nstatus && strcmp(nstatus, "archived") == 0;
        if ((strcmp(it->kind, "project") == 0 || strcmp(it->kind, "workspace") == 0) && !archived &&
            s->n_projects < 100000) {
            if (s->n_projects == s->cap_projects) {
                size_t nc = s->cap_projects ? s->cap_projects * 2 : 16;
                char **np = realloc(s->projects, nc * sizeof *np);
                if (!np)
                    return -1;
                s->projects = np;
                s->cap_projects = nc;
            }
            if (!(s->projects[s->n_projects] = strdup(it->id))) {
                json_decref(nj);
                return -1;
            }
            s->n_projects++;
        }
        json_decref(nj);
    }
    return 0;
}

/*
 * First sightings: meta "seen/<source>/<kind>/<value>" holds the earliest
 * data time of API keys, projects and models in usage, of users (session
 * actors) in audit events, and of each user's session countries
 * ("seen/<source>/country/<actor>/<CC>"). Backfills arrive out of order
 * (audit pages are newest first), so the stored time only ever moves
 * earlier. The analyzers' new entity, new model and new country checks read
 * these. An API key seen for the first time is also an inventory event.
 */
static int seen_at(struct source *s, struct ts_batch *b, json_t *cache, const char *kind,
                   const char *value, int64_t t)
{
    char key[600];
    int n = snprintf(key, sizeof key, "seen/%s/%s/%s", s->cfg->name, kind, value);
    if (n < 0 || (size_t)n >= sizeof key || !value[0])
        return 0;
    int fresh = 0;
    int64_t cur;
    json_t *c = json_object_get(cache, key);
    if (c) {
        cur = json_integer_value(c);
    } else if (meta_get_i64(s->d, key, &cur) != 0) {
        cur = INT64_MAX;
        fresh = 1;
    }
    if (t < cur) {
        put_i64(b, key, t);
        cur = t;
    }
    json_object_set_new(cache, key, json_integer(cur));
    return fresh;
}

struct seen_val {
    const char *value; /* interned sample string */
    const struct col_sample *first;
    size_t kind; /* index in SEEN_USAGE */
};

static const char *const SEEN_USAGE[][2] = {
    {"api_key", "api_key_id"}, {"project", "project"}, {"model", "model"}};
#define N_SEEN_USAGE (sizeof SEEN_USAGE / sizeof SEEN_USAGE[0])

static void note_seen_usage(struct job *j, struct ts_batch *b, json_t *cache, int64_t now)
{
    struct source *s = j->src;
    struct strmap idx[N_SEEN_USAGE];
    struct seen_val *vals = NULL;
    size_t n_vals = 0, cap = 0;
    memset(idx, 0, sizeof idx);
    for (size_t i = 0; i < j->acc.n_samples; i++) {
        const struct col_sample *smp = &j->acc.samples[i];
        for (size_t k = 0; k < N_SEEN_USAGE; k++) {
            const char *v = sample_label(smp, SEEN_USAGE[k][1]);
            size_t at;
            if (!v || !v[0])
                continue;
            if (strmap_get(&idx[k], v, strlen(v), &at) == 0) {
                if (smp->bucket < vals[at].first->bucket)
                    vals[at].first = smp;
                continue;
            }
            if (n_vals == cap) {
                size_t nc = cap ? cap * 2 : 64;
                struct seen_val *nv = realloc(vals, nc * sizeof *nv);
                if (!nv)
                    goto out;
                vals = nv;
                cap = nc;
            }
            if (strmap_put(&idx[k], v, strlen(v), n_vals) != 0)
                goto out;
            vals[n_vals++] = (struct seen_val){.value = v, .first = smp, .kind = k};
        }
    }
    for (size_t i = 0; i < n_vals; i++) {
        const struct col_sample *smp = vals[i].first;
        const char *kind = SEEN_USAGE[vals[i].kind][0];
        if (!seen_at(s, b, cache, kind, vals[i].value, smp->bucket) || strcmp(kind, "api_key") != 0)
            continue;
        json_t *ev = json_pack("{s:s, s:s, s:s, s:I, s:s?}", "provider", s->cfg->type, "account",
                               s->cfg->name, "api_key_id", vals[i].value, "first_bucket",
                               (json_int_t)smp->bucket, "project", sample_label(smp, "project"));
        if (ev) {
            record_event(b, "inventory.api_key.first_seen_in_usage", ev, now);
            json_decref(ev);
        }
    }
out:
    for (size_t k = 0; k < N_SEEN_USAGE; k++)
        strmap_free(&idx[k]);
    free(vals);
}

static void note_seen_events(struct job *j, struct ts_batch *b, json_t *cache)
{
    struct source *s = j->src;
    for (size_t i = 0; i < j->acc.n_events; i++) {
        const struct col_event *e = &j->acc.events[i];
        if (strncmp(e->type, "audit.", 6) != 0)
            continue;
        json_t *o = json_loads(e->json, 0, NULL);
        const char *actor = json_string_value(json_object_get(o, "actor"));
        const char *atype = json_string_value(json_object_get(o, "actor_type"));
        const char *cc = json_string_value(json_object_get(o, "country"));
        size_t tl = strlen(e->type);
        int failed = tl >= 7 && strcmp(e->type + tl - 7, ".failed") == 0;
        if (actor && actor[0] && (!atype || strcmp(atype, "session") == 0)) {
            seen_at(s, b, cache, "user", actor, e->time);
            char ac[400];
            int n = snprintf(ac, sizeof ac, "%s/%s", actor, cc ? cc : "");
            if (cc && cc[0] && !failed && n > 0 && (size_t)n < sizeof ac)
                seen_at(s, b, cache, "country", ac, e->time);
        }
        json_decref(o);
    }
}

/*
 * Series ids of a unit's label sets. A window repeats each label set in
 * every bucket, and col_out interns its strings, so identical sets are
 * pointer-identical: hashing the pointers resolves each set once.
 */
struct sid_slot {
    const struct col_sample *s;
    uint64_t hash;
    uint64_t id;
};

struct sid_cache {
    struct sid_slot *slots;
    size_t cap; /* power of two */
    size_t n;
};

static int sid_cache_init(struct sid_cache *c, size_t n_samples)
{
    size_t cap = 64;
    while (cap < n_samples / 4 + 16 && cap < ((size_t)1 << 24))
        cap *= 2;
    c->slots = calloc(cap, sizeof *c->slots);
    c->cap = cap;
    return c->slots ? 0 : -1;
}

static uint64_t sid_hash(const struct col_sample *s)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)(uintptr_t)s->metric;
    for (size_t i = 0; i < s->n_labels; i++) {
        h = (h ^ (uint64_t)(uintptr_t)s->labels[i].name) * 1099511628211ULL;
        h = (h ^ (uint64_t)(uintptr_t)s->labels[i].value) * 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static int sid_same(const struct col_sample *a, const struct col_sample *b)
{
    if (a->metric != b->metric || a->n_labels != b->n_labels)
        return 0;
    for (size_t i = 0; i < a->n_labels; i++) {
        if (a->labels[i].name != b->labels[i].name || a->labels[i].value != b->labels[i].value)
            return 0;
    }
    return 1;
}

static int series_of(struct ts_store *st, struct sid_cache *c, const struct col_sample *smp,
                     uint64_t *id, char *err, size_t errlen)
{
    uint64_t h = sid_hash(smp);
    size_t mask = c->cap - 1, i = (size_t)h & mask;
    for (; c->slots[i].s; i = (i + 1) & mask) {
        if (c->slots[i].hash == h && sid_same(c->slots[i].s, smp)) {
            *id = c->slots[i].id;
            return 0;
        }
    }
    struct ts_label labels[COL_MAX_LABELS];
    for (size_t l = 0; l < smp->n_labels; l++)
        labels[l] = (struct ts_label){smp->labels[l].name, smp->labels[l].value};
    const struct ts_series *ser;
    if (ts_series_get(st, smp->metric, labels, smp->n_labels, &ser, err, errlen) != 0)
        return -1;
    *id = ser->id;
    if (c->n < c->cap / 2) { /* at most half full (so probes end); past that, no caching */
        c->slots[i] = (struct sid_slot){.s = smp, .hash = h, .id = ser->id};
        c->n++;
    }
    return 0;
}

/* On a terminal: how far each source's time windows have got (backfill). */
static void show_progress(const struct daemon *d)
{
    char line[400];
    size_t o = 0;
    for (size_t i = 0; i < d->n_sources && o < sizeof line - 64; i++) {
        const struct source *s = &d->sources[i];
        int64_t least = 0;
        for (size_t k = 0; k < s->n_jobs; k++) {
            const struct job *j = &s->jobs[k];
            if (j->ep->kind == COL_EP_BUCKETS && j->state == J_RUNNING && j->win_end &&
                (least == 0 || j->win_end < least))
                least = j->win_end;
        }
        char t[32];
        if (least)
            tu_format_time(least, t, sizeof t);
        int w = snprintf(line + o, sizeof line - o, "%s%s %s", o ? "   " : "", s->cfg->name,
                         least ? t : (s->in_cycle ? "..." : "done"));
        if (w > 0 && (size_t)w < sizeof line - o)
            o += (size_t)w;
    }
    log_progress("collecting: %s", line);
}

static int job_commit(struct job *j)
{
    struct source *s = j->src;
    struct daemon *d = s->d;
    int64_t now = now_of(d);
    char err[512];
    int rc = -1;
    struct ts_batch *b = ts_batch_new();
    json_t *seen = json_object();
    struct sid_cache cache = {0};
    if (!b || !seen) {
        ts_batch_free(b);
        json_decref(seen);
        return -1;
    }
    if (j->ep->kind == COL_EP_BUCKETS && d->prices &&
        col_estimate_costs(d->prices, &j->acc, err, sizeof err) != 0) {
        log_event(LOG_ERROR, "collector.estimate_failed", "source=%s endpoint=%s reason=\"%s\"",
                  s->cfg->name, j->ep->name, err);
        goto out;
    }
    if (sid_cache_init(&cache, j->acc.n_samples) != 0)
        goto out;
    for (size_t i = 0; i < j->acc.n_samples; i++) {
        const struct col_sample *smp = &j->acc.samples[i];
        uint64_t sid;
        if (series_of(d->st, &cache, smp, &sid, err, sizeof err) != 0) {
            log_event(LOG_ERROR, "collector.bad_sample", "source=%s endpoint=%s reason=\"%s\"",
                      s->cfg->name, j->ep->name, err);
            goto out;
        }
        check_restatement(j, b, sid, smp, now);
        if (ts_batch_add(b, sid, smp->bucket, smp->value) != 0)
            goto out;
    }
    note_seen_usage(j, b, seen, now);
    note_seen_events(j, b, seen);
    for (size_t i = 0; i < j->acc.n_events; i++) {
        const struct col_event *e = &j->acc.events[i];
        char uid[512];
        if (e->uid)
            snprintf(uid, sizeof uid, "%s/%s", s->cfg->name, e->uid);
        struct ts_event ev = {
            .time = e->time, .type = e->type, .uid = e->uid ? uid : NULL, .json = e->json};
        if (ts_batch_add_event(b, &ev) != 0)
            goto out;
    }
    if (commit_items(j, b, now) != 0)
        goto out;
    char ckey[512];
    col_cursor_key(s->cfg->name, j->ep->name, ckey, sizeof ckey);
    if (j->ep->kind == COL_EP_BUCKETS) {
        put_i64(b, ckey, j->win_end < now ? j->win_end : now);
    } else if (j->ep->kind == COL_EP_LOG) {
        int64_t cur = 0;
        meta_get_i64(d, ckey, &cur);
        put_i64(b, ckey, j->acc.max_time > cur ? j->acc.max_time : (cur ? cur : j->log_start));
    } else if (!j->ep->per_project) {
        put_i64(b, ckey, now);
    }
    if (ts_write(d->st, b, err, sizeof err) != 0) {
        log_event(LOG_ERROR, "collector.store_failed", "source=%s endpoint=%s reason=\"%s\"",
                  s->cfg->name, j->ep->name, err);
        goto out;
    }
    s->samples += ts_batch_samples(b);
    s->events += j->acc.n_events;
    s->units++;
    d->changes.samples += ts_batch_samples(b);
    for (size_t i = 0; i < j->acc.n_events; i++) {
        if (j->acc.events[i].time < d->changes.events_from)
            d->changes.events_from = j->acc.events[i].time;
    }
    for (size_t i = 0; i < j->acc.n_samples; i++) {
        if (j->acc.samples[i].bucket < d->changes.samples_from)
            d->changes.samples_from = j->acc.samples[i].bucket;
        int64_t end = j->acc.samples[i].bucket + j->acc.samples[i].width;
        if (end > s->last_data)
            s->last_data = end > now ? now : end;
    }
    if (j->ep->kind == COL_EP_BUCKETS)
        show_progress(d);
    if (log_get_level() <= LOG_DEBUG) {
        char a[32], z[32];
        log_event(LOG_DEBUG, "collector.unit_committed",
                  "source=%s endpoint=%s from=%s to=%s samples=%zu events=%zu items=%zu",
                  s->cfg->name, j->ep->name, tu_format_time(j->win_start, a, sizeof a),
                  tu_format_time(j->win_end, z, sizeof z), ts_batch_samples(b), j->acc.n_events,
                  j->acc.n_items);
    }
    rc = 0;
out:
    free(cache.slots);
    json_decref(seen);
    ts_batch_free(b);
    col_out_free(&j->acc);
    return rc;
}

/* ---- job lifecycle ---- */

static int source_all_lists_done(const struct source *s)
{
    for (size_t i = 0; i < s->n_jobs; i++) {
        const struct job *j = &s->jobs[i];
        if (j->ep->kind == COL_EP_LIST && !j->ep->per_project && j->state != J_DONE)
            return 0;
    }
    return 1;
}

static void source_cycle_end(struct source *s);

static void job_finish(struct job *j, int ok)
{
    struct source *s = j->src;
    if (j->state == J_DONE)
        return;
    j->state = J_DONE;
    j->failed = !ok;
    col_out_free(&j->acc);
    free(j->page);
    free(j->prev_page);
    j->page = j->prev_page = NULL;
    if (!ok)
        s->cycle_failed = 1;
    if (s->running > 0)
        s->running--;
    if (source_all_lists_done(s)) {
        for (size_t i = 0; i < s->n_jobs; i++) {
            struct job *w = &s->jobs[i];
            if (w->state == J_WAITING) {
                w->state = J_RUNNING;
                w->project_idx = 0;
                job_next_unit(w);
            }
        }
    }
    if (s->running == 0)
        source_cycle_end(s);
}

static void job_fail(struct job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void job_fail(struct job *j, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fail_reason(j->src, j->ep->name, "%s", msg);
    log_event(LOG_ERROR, "collector.endpoint_failed", "source=%s endpoint=%s %s", j->src->cfg->name,
              j->ep->name, msg);
    job_finish(j, 0);
}

/* Sets up the job's next unit of work, or finishes the job. */
static void job_next_unit(struct job *j)
{
    struct source *s = j->src;
    struct daemon *d = s->d;
    int64_t now = now_of(d);
    if (d->stopping || s->auth_failed) {
        job_finish(j, !s->auth_failed);
        return;
    }
    col_out_free(&j->acc);
    free(j->page);
    free(j->prev_page);
    j->page = j->prev_page = NULL;
    j->attempts = 0;
    char ckey[512];
    col_cursor_key(s->cfg->name, j->ep->name, ckey, sizeof ckey);
    switch (j->ep->kind) {
    case COL_EP_BUCKETS: {
        int64_t bw = j->ep->bucket;
        int64_t horizon = tu_floor(now - s->cfg->backfill, bw);
        int64_t end_all = tu_floor(now, bw) + bw;
        int64_t start;
        if (j->win_end != 0) {
            start = j->win_end; /* continuing this cycle */
        } else {
            int64_t cur;
            start =
                meta_get_i64(d, ckey, &cur) == 0 ? tu_floor(cur - j->ep->lookback, bw) : horizon;
            if (start < horizon)
                start = horizon;
        }
        if (start >= end_all || start >= now) {
            job_finish(j, 1);
            return;
        }
        int64_t maxw = j->win_cap ? j->win_cap : j->ep->max_window;
        j->win_start = start;
        j->win_end = start + maxw < end_all ? start + maxw : end_all;
        break;
    }
    case COL_EP_LOG: {
        if (j->log_start != 0) { /* one catch-up per cycle */
            job_finish(j, 1);
            return;
        }
        int64_t cur;
        int64_t horizon = now - s->cfg->backfill;
        j->log_start = meta_get_i64(d, ckey, &cur) == 0 ? cur - 300 : horizon;
        if (j->log_start < horizon)
            j->log_start = horizon;
        break;
    }
    case COL_EP_LIST:
        if (j->ep->per_project) {
            if (j->project_idx >= s->n_projects) {
                job_finish(j, 1);
                return;
            }
            j->project_idx++;
        } else if (j->pages > 0) {
            job_finish(j, 1);
            return;
        }
        break;
    }
    job_issue(j);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    job_issue(arg);
}

static void job_retry(struct job *j, long delay_ms, const char *why)
{
    struct source *s = j->src;
    if (++j->attempts >= MAX_ATTEMPTS) {
        job_fail(j, "reason=\"%s; gave up after %d attempts\"", why, j->attempts);
        return;
    }
    if (delay_ms < 0) {
        long cap = RETRY_BASE_MS << (j->attempts < 10 ? j->attempts : 10);
        if (cap > RETRY_CAP_MS)
            cap = RETRY_CAP_MS;
        delay_ms = (long)(rnd(s->d) * (double)cap); /* full jitter */
    }
    log_complain(&s->complaint, time(NULL), LOG_WARN, "collector.retry",
                 "source=%s endpoint=%s reason=\"%s\" retry_in_ms=%ld attempt=%d", s->cfg->name,
                 j->ep->name, why, delay_ms, j->attempts);
    if (!j->retry_timer)
        j->retry_timer = evtimer_new(s->d->base, on_retry, j);
    struct timeval tv = {.tv_sec = delay_ms / 1000, .tv_usec = (delay_ms % 1000) * 1000};
    evtimer_add(j->retry_timer, &tv);
}

static void record_auth_failure(struct source *s, const struct job *j, long status)
{
    struct daemon *d = s->d;
    struct ts_batch *b = ts_batch_new();
    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "provider", s->cfg->type, "account",
                          s->cfg->name, "endpoint", j->ep->name, "status", (int)status, "actor",
                          "byokwatch-collector", "actor_type", "collector");
    char err[256];
    if (b && o) {
        record_event(b, "collector.auth_failed", o, now_of(d));
        if (ts_write(d->st, b, err, sizeof err) != 0)
            log_event(LOG_ERROR, "collector.store_failed", "reason=\"%s\"", err);
    }
    json_decref(o);
    ts_batch_free(b);
}

static void on_response(const struct col_http_result *r, void *ud)
{
    struct job *j = ud;
    struct source *s = j->src;
    j->http_id = 0;
    if (r->too_big && j->ep->kind == COL_EP_BUCKETS && j->win_end - j->win_start > j->ep->bucket) {
        /* A page over the size cap: ask for half the window (providers page by
         * buckets, not rows, so a large organisation's week can be huge). */
        int64_t half = tu_floor((j->win_end - j->win_start) / 2, j->ep->bucket);
        j->win_cap = half > j->ep->bucket ? half : j->ep->bucket;
        j->win_end = j->win_start + j->win_cap;
        col_out_free(&j->acc);
        free(j->page);
        free(j->prev_page);
        j->page = j->prev_page = NULL;
        log_event(LOG_INFO, "collector.window_halved", "source=%s endpoint=%s window_s=%lld",
                  s->cfg->name, j->ep->name, (long long)j->win_cap);
        job_issue(j);
        return;
    }
    if (r->curl_code != CURLE_OK) {
        if (r->too_big || r->curl_code == CURLE_WRITE_ERROR ||
            r->curl_code == CURLE_FILESIZE_EXCEEDED) {
            job_fail(j, "status=%ld reason=\"%s\"", r->status, r->error);
            return;
        }
        job_retry(j, -1, r->error);
        return;
    }
    long st = r->status;
    if (st == 401 || st == 403) {
        log_event(LOG_ERROR, "collector.auth_failed",
                  "source=%s endpoint=%s status=%ld reason=\"admin key rejected\"", s->cfg->name,
                  j->ep->name, st);
        if (!s->auth_failed) {
            s->auth_failed = 1;
            record_auth_failure(s, j, st);
        }
        fail_reason(s, j->ep->name, "HTTP %ld: admin key rejected", st);
        job_finish(j, 0);
        return;
    }
    if (st == 429) {
        job_retry(j, retry_delay_ms(r, (int64_t)time(NULL)), "HTTP 429 rate limited");
        return;
    }
    if (st == 408 || st >= 500) {
        char why[64];
        snprintf(why, sizeof why, "HTTP %ld", st);
        job_retry(j, st == 503 ? retry_delay_ms(r, (int64_t)time(NULL)) : -1, why);
        return;
    }
    if (st < 200 || st > 299) {
        job_fail(j, "status=%ld reason=\"unexpected HTTP status\"", st);
        return;
    }
    struct col_request req = {.ep = j->ep,
                              .start = j->ep->kind == COL_EP_LOG ? j->log_start : j->win_start,
                              .end = j->win_end,
                              .page = j->page,
                              .project = j->ep->per_project && j->project_idx > 0
                                             ? s->projects[j->project_idx - 1]
                                             : NULL};
    struct col_parse_ctx ctx = {.provider = s->cfg->type, .account = s->cfg->name, .req = &req};
    char err[512];
    col_out_set_next(&j->acc, NULL);
    if (s->ops->parse(&ctx, r->body, r->len, &j->acc, err, sizeof err) != 0) {
        job_fail(j, "status=%ld reason=\"%s\"", st, err);
        return;
    }
    log_release(&s->complaint, "collector.recovered", "source=%s", s->cfg->name);
    j->pages++;
    j->attempts = 0;
    if (j->acc.next_page) {
        if ((j->page && strcmp(j->page, j->acc.next_page) == 0) ||
            (j->prev_page && strcmp(j->prev_page, j->acc.next_page) == 0)) {
            job_fail(j, "status=%ld reason=\"page cursor repeated\"", st);
            return;
        }
        json_int_t cap = json_integer_value(json_object_get(s->cfg->params, "max_pages_per_cycle"));
        if (cap > 0 && j->pages >= cap) {
            job_fail(j, "reason=\"page cap per cycle reached\"");
            return;
        }
        free(j->prev_page);
        j->prev_page = j->page;
        j->page = strdup(j->acc.next_page);
        job_issue(j);
        return;
    }
    if (job_commit(j) != 0) {
        job_fail(j, "reason=\"could not store the data\"");
        return;
    }
    job_next_unit(j);
}

static void job_issue(struct job *j)
{
    struct source *s = j->src;
    if (s->d->stopping) {
        job_finish(j, 1);
        return;
    }
    struct col_request req = {.ep = j->ep,
                              .start = j->ep->kind == COL_EP_LOG ? j->log_start : j->win_start,
                              .end = j->win_end,
                              .page = j->page,
                              .project = j->ep->per_project && j->project_idx > 0
                                             ? s->projects[j->project_idx - 1]
                                             : NULL};
    char url[4096];
    if (s->ops->url(s->cfg->base_url, &req, url, sizeof url) != 0) {
        job_fail(j, "reason=\"URL too long\"");
        return;
    }
    struct curl_slist *h = s->ops->headers(NULL, s->key);
    h = h ? curl_slist_append(h, "Accept: application/json") : NULL;
    if (!h) {
        job_fail(j, "reason=\"out of memory\"");
        return;
    }
    struct col_http_request hr = {.url = url,
                                  .headers = h,
                                  .timeout_ms = (long)s->cfg->timeout * 1000,
                                  .tls13 = s->cfg->tls_min_13,
                                  .ca_file =
                                      json_string_value(json_object_get(s->cfg->params, "ca_file")),
                                  .done = on_response,
                                  .ud = j};
    j->http_id = col_http_get(s->d->http, &hr);
    if (j->http_id < 0) {
        j->http_id = 0;
        job_fail(j, "reason=\"cannot start the HTTP request\"");
    }
}

/* ---- source cycles ---- */

static void on_source_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    source_cycle_start(arg);
}

static void source_cycle_start(struct source *s)
{
    if (s->d->stopping || s->in_cycle)
        return;
    s->in_cycle = 1;
    s->cycle_failed = s->auth_failed = 0;
    s->reason[0] = '\0';
    s->samples = s->events = s->units = 0;
    s->last_data = 0;
    for (size_t i = 0; i < s->n_projects; i++)
        free(s->projects[i]);
    s->n_projects = 0;
    s->running = s->n_jobs;
    log_event(LOG_INFO, "collector.cycle_start", "source=%s endpoints=%zu", s->cfg->name,
              s->n_jobs);
    for (size_t i = 0; i < s->n_jobs; i++) {
        struct job *j = &s->jobs[i];
        j->state = J_IDLE;
        j->failed = 0;
        j->win_start = j->win_end = j->log_start = j->win_cap = 0;
        j->project_idx = 0;
        j->pages = 0;
    }
    for (size_t i = 0; i < s->n_jobs; i++) {
        struct job *j = &s->jobs[i];
        if (j->ep->per_project) {
            j->state = J_WAITING;
            continue;
        }
        j->state = J_RUNNING;
        job_next_unit(j);
    }
}

/*
 * The source's health for collector_health and /healthz: meta
 * "health/<source>" = {"provider","account","failures","cycles",
 * "last_attempt","last_success","last_error","last_data"}; fields a failed
 * cycle does not know (last_success, last_data) carry over.
 */
static void write_health(struct source *s)
{
    struct daemon *d = s->d;
    char key[300], err[256], *old = NULL;
    size_t ol = 0;
    int n = snprintf(key, sizeof key, "health/%s", s->cfg->name);
    if (n < 0 || (size_t)n >= sizeof key)
        return;
    json_t *prev = NULL;
    if (ts_get(d->st, TS_META, key, (size_t)n, &old, &ol, err, sizeof err) == 0)
        prev = json_loadb(old, ol, 0, NULL);
    free(old);
    int64_t now = now_of(d);
    json_int_t cycles = json_integer_value(json_object_get(prev, "cycles")) + 1;
    json_int_t last_data = json_integer_value(json_object_get(prev, "last_data"));
    if (s->last_data > last_data)
        last_data = s->last_data;
    json_t *h =
        json_pack("{s:s, s:s, s:i, s:I, s:I}", "provider", s->cfg->type, "account", s->cfg->name,
                  "failures", s->failures, "cycles", cycles, "last_attempt", (json_int_t)now);
    if (!h)
        goto out;
    if (last_data)
        json_object_set_new(h, "last_data", json_integer(last_data));
    if (!s->cycle_failed)
        json_object_set_new(h, "last_success", json_integer(now));
    else if (json_object_get(prev, "last_success"))
        json_object_set(h, "last_success", json_object_get(prev, "last_success"));
    if (s->cycle_failed)
        json_object_set_new(h, "last_error", json_string(s->reason));
    char *txt = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
    struct ts_batch *b = ts_batch_new();
    if (txt && b && ts_batch_put(b, TS_META, key, (size_t)n, txt, strlen(txt)) == 0 &&
        ts_write(d->st, b, err, sizeof err) != 0)
        log_event(LOG_ERROR, "collector.store_failed", "source=%s reason=\"%s\"", s->cfg->name,
                  err);
    ts_batch_free(b);
    free(txt);
out:
    json_decref(h);
    json_decref(prev);
}

/* Milliseconds on the monotonic clock since t0. */
static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/*
 * Loads what the rules read into the engine's cache before the cycles that
 * follow (start-up and reload of the service), so each analysis after them
 * costs what they wrote rather than a cold read. A failure only costs that.
 */
static void warm_engine(struct daemon *d)
{
    char err[512];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (ana_engine_warm(d->engine, d->st, now_of(d), err, sizeof err) != 0) {
        log_event(LOG_WARN, "analysis.warm_failed", "reason=\"%s\"", err);
        return;
    }
    d->changes.samples_from = INT64_MAX; /* the store's change feed tells the rest */
    log_event(LOG_INFO, "analysis.warm", "ms=%.1f", ms_since(&t0));
}

/*
 * One analysis: every rule at the current time, then the alert lifecycle,
 * written in one batch with the rules' own state. Returns 0 ok, -1 when
 * the results could not be stored.
 */
static int run_analysis(struct daemon *d)
{
    if (!d->engine)
        return 0;
    char err[512];
    int64_t now = now_of(d);
    const struct ana_rule_result *res;
    size_t n;
    struct alert_stats as = {.notifications = json_array(), .firing_now = json_array()};
    struct ts_batch *b = ts_batch_new();
    int rc = -1;
    size_t queued = 0, silenced = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!b || !as.notifications || !as.firing_now ||
        ana_engine_evaluate(d->engine, d->st, now, &d->changes, b, &res, &n, err, sizeof err) !=
            0 ||
        alert_apply(d->st, b, res, n, now, &as, err, sizeof err) != 0 ||
        alert_outbox_enqueue(d->st, b, d->cfg, as.notifications, as.firing_now, now, &queued,
                             &silenced, err, sizeof err) != 0 ||
        ts_write(d->st, b, err, sizeof err) != 0) {
        log_event(LOG_ERROR, "analysis.failed", "reason=\"%s\"", b ? err : "out of memory");
        goto out;
    }
    double ms = ms_since(&t0);
    size_t failed = 0, found = 0;
    for (size_t i = 0; i < n; i++) {
        failed += !res[i].ok;
        found += res[i].res.n;
    }
    char at[32];
    log_event(LOG_INFO, "analysis.done",
              "now=%s rules=%zu failed_rules=%zu conditions=%zu firing=%zu fired=%zu "
              "realerted=%zu resolved=%zu queued=%zu silenced=%zu ms=%.1f",
              tu_format_time(now, at, sizeof at), n, failed, found, as.firing, as.fired, as.realert,
              as.resolved, queued, silenced, ms);
    d->changes = (struct ana_changes){.events_from = INT64_MAX, .samples_from = INT64_MAX};
    rc = failed ? -1 : 0;
    alert_worker_kick(d->worker);
out:
    json_decref(as.notifications);
    json_decref(as.firing_now);
    ts_batch_free(b);
    return rc;
}

/*
 * The weekly report, when report.schedule says a completed week is due and
 * meta "report/last_week" shows it was not written yet: every form into
 * out_dir, then (in one batch) the week recorded and its summary queued
 * for report.sinks. 0 ok or nothing due; -1 when writing failed.
 */
static int maybe_write_report(struct daemon *d)
{
    const struct cfg_report *rp = &d->cfg->report;
    if (!rp->schedule)
        return 0;
    int64_t now = now_of(d), from, to;
    char week[16], err[512], stem[4200];
    if (rep_schedule_due(rp->schedule, now, &from, &to, week, sizeof week) != 1)
        return 0;
    char *last = NULL;
    size_t ll = 0;
    int have = ts_get(d->st, TS_META, REP_LAST_WEEK_KEY, strlen(REP_LAST_WEEK_KEY), &last, &ll, err,
                      sizeof err) == 0;
    /* weeks compare as text ("2026-W47"); a later week written means a backtest: skip */
    int done = have && ll == strlen(week) && memcmp(last, week, ll) >= 0;
    free(last);
    if (done)
        return 0;
    json_t *report = NULL, *summary = NULL;
    struct ts_batch *b = NULL;
    int rc = -1;
    size_t queued = 0;
    if (rep_write_week(d->st, d->cfg, from, to, now, week, &report, stem, sizeof stem, err,
                       sizeof err) != 0) {
        log_event(LOG_ERROR, "report.failed", "week=%s reason=\"%s\"", week, err);
        goto out;
    }
    summary = rep_summary_payload(report, week, stem, now);
    b = ts_batch_new();
    if (!summary || !b ||
        ts_batch_put(b, TS_META, REP_LAST_WEEK_KEY, strlen(REP_LAST_WEEK_KEY), week,
                     strlen(week)) != 0 ||
        alert_outbox_enqueue_to(b, d->cfg, rp->sinks, rp->n_sinks, summary, now, &queued, err,
                                sizeof err) != 0 ||
        ts_write(d->st, b, err, sizeof err) != 0) {
        log_event(LOG_ERROR, "report.failed", "week=%s reason=\"%s\"", week,
                  summary && b ? err : "out of memory");
        goto out;
    }
    log_event(LOG_INFO, "report.written", "week=%s files=%s.* sinks=%zu", week, stem, queued);
    alert_worker_kick(d->worker);
    rc = 0;
out:
    json_decref(report);
    json_decref(summary);
    ts_batch_free(b);
    return rc;
}

static int64_t worker_now(void *ud)
{
    return now_of(ud);
}

/* The outbox worker has nothing in flight: in once mode, after the analysis, that is the end. */
static void on_worker_idle(void *ud)
{
    struct daemon *d = ud;
    if ((d->once && d->analyzed) || (d->stopping && col_http_active(d->http) == 0))
        event_base_loopbreak(d->base);
}

static void on_deliver_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct daemon *d = arg;
    if (!d->stopping)
        alert_worker_kick(d->worker);
}

static int worker_create(struct daemon *d, char *err, size_t errlen)
{
    struct alert_worker_opts wo = {.base = d->base,
                                   .http = d->http,
                                   .st = d->st,
                                   .cfg = d->cfg,
                                   .once = d->once,
                                   .now = worker_now,
                                   .on_idle = on_worker_idle,
                                   .ud = d};
    return alert_worker_new(&wo, &d->worker, err, errlen);
}

static void on_analyze(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct daemon *d = arg;
    if (!d->stopping) {
        run_analysis(d);
        maybe_write_report(d);
    }
}

static void apply_pending_config(struct daemon *d);

static void source_cycle_end(struct source *s)
{
    struct daemon *d = s->d;
    if (!s->in_cycle)
        return;
    s->in_cycle = 0;
    s->cycles++;
    if (s->cycle_failed) {
        s->failures++;
        log_event(LOG_ERROR, "collector.cycle_failed",
                  "source=%s failures=%d samples=%zu events=%zu reason=\"%s\"", s->cfg->name,
                  s->failures, s->samples, s->events, s->reason);
    } else {
        if (s->failures)
            log_event(LOG_INFO, "collector.source_recovered", "source=%s after_failures=%d",
                      s->cfg->name, s->failures);
        s->failures = 0;
        log_event(LOG_INFO, "collector.cycle_done", "source=%s units=%zu samples=%zu events=%zu",
                  s->cfg->name, s->units, s->samples, s->events);
    }
    if (!d->stopping)
        write_health(s);
    if (d->once) {
        if (s->cycle_failed) {
            d->exit_code = 1;
            fprintf(stderr, "byokwatch: source %s failed: %s\n", s->cfg->name, s->reason);
        }
        if (++d->sources_done == d->n_sources) {
            if (d->stopping) {
                event_base_loopbreak(d->base);
                return;
            }
            if (run_analysis(d) != 0) {
                d->exit_code = 1;
                fprintf(stderr, "byokwatch: the analysis failed (see the log)\n");
            }
            if (maybe_write_report(d) != 0) {
                d->exit_code = 1;
                fprintf(stderr,
                        "byokwatch: the weekly report could not be written (see the log)\n");
            }
            d->analyzed = 1;
            alert_worker_kick(d->worker); /* deliver, then on_worker_idle ends the run */
        }
        return;
    }
    if (!d->stopping && d->analyze_timer && !evtimer_pending(d->analyze_timer, NULL)) {
        struct timeval soon = {.tv_sec = 1, .tv_usec = 0};
        evtimer_add(d->analyze_timer, &soon);
    }
    if (d->stopping) {
        if (col_http_active(d->http) == 0)
            event_base_loopbreak(d->base);
        return;
    }
    if (d->pending_cfg) {
        apply_pending_config(d);
        return;
    }
    double delay = (double)s->cfg->poll_interval * (0.9 + 0.2 * rnd(d));
    if (s->failures > 0) {
        double back = FAIL_BACKOFF_BASE * pow(2, s->failures - 1);
        double cap = FAIL_BACKOFF_CAP > s->cfg->poll_interval ? FAIL_BACKOFF_CAP
                                                              : (double)s->cfg->poll_interval;
        if (back > cap)
            back = cap;
        delay = back * (0.8 + 0.4 * rnd(d));
    }
    struct timeval tv = {.tv_sec = (long)delay, .tv_usec = (long)((delay - floor(delay)) * 1e6)};
    evtimer_add(s->timer, &tv);
}

static void source_free(struct source *s)
{
    if (s->timer)
        event_free(s->timer);
    for (size_t i = 0; i < s->n_jobs; i++) {
        struct job *j = &s->jobs[i];
        if (j->http_id)
            col_http_cancel(s->d->http, j->http_id);
        if (j->retry_timer)
            event_free(j->retry_timer);
        col_out_free(&j->acc);
        free(j->page);
        free(j->prev_page);
    }
    free(s->jobs);
    for (size_t i = 0; i < s->n_projects; i++)
        free(s->projects[i]);
    free(s->projects);
    if (s->key) {
        memset(s->key, 0, strlen(s->key));
        free(s->key);
    }
}

static void sources_free(struct daemon *d)
{
    for (size_t i = 0; i < d->n_sources; i++)
        source_free(&d->sources[i]);
    free(d->sources);
    d->sources = NULL;
    d->n_sources = 0;
}

static int sources_create(struct daemon *d, char *err, size_t errlen)
{
    const struct config *cfg = d->cfg;
    d->sources = calloc(cfg->n_providers ? cfg->n_providers : 1, sizeof *d->sources);
    if (!d->sources) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->n_providers; i++) {
        const struct cfg_provider *p = &cfg->providers[i];
        if (!p->enabled)
            continue;
        const struct col_poller_ops *ops = col_poller_find(p->type);
        if (!ops) {
            log_event(LOG_WARN, "collector.provider_unsupported",
                      "source=%s type=%s reason=\"no poller for this provider type yet\"", p->name,
                      p->type);
            continue;
        }
        struct source *s = &d->sources[d->n_sources];
        memset(s, 0, sizeof *s);
        s->d = d;
        s->cfg = p;
        s->ops = ops;
        d->n_sources++;
        char serr[256];
        if (cfg_secret_get(&p->admin_key, &s->key, serr, sizeof serr) != 0) {
            snprintf(err, errlen, "source %s: %s", p->name, serr);
            return -1;
        }
        s->timer = evtimer_new(d->base, on_source_timer, s);
        s->jobs = calloc(ops->n_endpoints, sizeof *s->jobs);
        if (!s->timer || !s->jobs) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        s->n_jobs = ops->n_endpoints;
        for (size_t e = 0; e < ops->n_endpoints; e++) {
            s->jobs[e].src = s;
            s->jobs[e].ep = &ops->endpoints[e];
            s->jobs[e].state = J_DONE;
        }
    }
    return 0;
}

static void start_all(struct daemon *d)
{
    for (size_t i = 0; i < d->n_sources; i++) {
        struct timeval tv = {0, 0};
        evtimer_add(d->sources[i].timer, &tv);
    }
}

static void apply_pending_config(struct daemon *d)
{
    for (size_t i = 0; i < d->n_sources; i++) {
        if (d->sources[i].in_cycle)
            return; /* the last cycle to end applies it */
    }
    char err[512];
    struct config *old = d->cfg;
    sources_free(d);
    d->cfg = d->pending_cfg;
    d->pending_cfg = NULL;
    log_set_level(d->cfg->log_level);
    if (sources_create(d, err, sizeof err) != 0) {
        log_event(LOG_ERROR, "config.reload_failed", "reason=\"%s\"", err);
        sources_free(d);
        cfg_free(d->cfg);
        d->cfg = old;
        sources_create(d, err, sizeof err);
    } else {
        struct ana_engine *ne = NULL;
        if (ana_engine_new(d->cfg, &ne, err, sizeof err) != 0) {
            log_event(LOG_ERROR, "config.reload_failed", "reason=\"%s\" effect=\"rules unchanged\"",
                      err);
            /* the old engine borrows the old config: keep both */
            sources_free(d);
            cfg_free(d->cfg);
            d->cfg = old;
            sources_create(d, err, sizeof err);
        } else {
            ana_engine_free(d->engine);
            d->engine = ne;
            warm_engine(d);
            alert_worker_free(d->worker); /* borrowed the old config; queued items stay queued */
            d->worker = NULL;
            if (worker_create(d, err, sizeof err) == 0)
                alert_worker_kick(d->worker); /* what the old worker left queued */
            else
                log_event(LOG_ERROR, "config.reload_failed",
                          "reason=\"%s\" effect=\"no alert delivery until the next reload\"", err);
            cfg_free(old);
            log_event(LOG_INFO, "config.reloaded", "sources=%zu rules=%zu", d->n_sources,
                      d->cfg->n_rules);
        }
    }
    start_all(d);
}

/* ---- signals ---- */

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct daemon *d = arg;
    log_event(LOG_WARN, "daemon.abandon", "in_flight=%zu", col_http_active(d->http));
    col_http_cancel_all(d->http);
    event_base_loopbreak(d->base);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct daemon *d = arg;
    if (d->stopping)
        return;
    d->stopping = 1;
    log_event(LOG_INFO, "daemon.stopping", "signal=%d in_flight=%zu", (int)sig,
              col_http_active(d->http));
    for (size_t i = 0; i < d->n_sources; i++) {
        struct source *s = &d->sources[i];
        evtimer_del(s->timer);
        for (size_t k = 0; k < s->n_jobs; k++) {
            struct job *j = &s->jobs[k];
            if (j->retry_timer && evtimer_pending(j->retry_timer, NULL)) {
                evtimer_del(j->retry_timer);
                job_finish(j, 1);
            }
        }
    }
    if (col_http_active(d->http) == 0) {
        event_base_loopbreak(d->base);
        return;
    }
    struct timeval tv = {SHUTDOWN_GRACE_S, 0};
    d->grace = evtimer_new(d->base, on_grace, d);
    if (d->grace)
        evtimer_add(d->grace, &tv);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct daemon *d = arg;
    struct config *ncfg = NULL;
    char err[1024];
    if (cfg_load(d->config_path, &ncfg, err, sizeof err) != 0) {
        log_event(LOG_ERROR, "config.reload_rejected", "reason=\"%s\" kept=old", err);
        return;
    }
    if (strcmp(ncfg->data_dir, d->cfg->data_dir) != 0)
        log_event(LOG_WARN, "config.reload", "reason=\"data_dir changes need a restart\"");
    if (d->pending_cfg)
        cfg_free(d->pending_cfg);
    d->pending_cfg = ncfg;
    log_event(LOG_INFO, "config.reload_pending", "path=%s", d->config_path);
    apply_pending_config(d);
}

/* ---- entry ---- */

/*
 * The price table: `prices` as given (absolute, or relative to the working
 * directory), else relative to the config file's directory, else the
 * installed copy (BW_DATADIR/prices.json).
 */
static char *resolve_prices(const struct config *cfg)
{
    char path[4096];
    if (cfg->prices[0] == '/' || access(cfg->prices, R_OK) == 0)
        return strdup(cfg->prices);
    const char *slash = strrchr(cfg->path, '/');
    if (slash) {
        snprintf(path, sizeof path, "%.*s/%s", (int)(slash - cfg->path), cfg->path, cfg->prices);
        if (access(path, R_OK) == 0)
            return strdup(path);
    }
    snprintf(path, sizeof path, "%s/prices.json", BW_DATADIR);
    if (access(path, R_OK) == 0)
        return strdup(path);
    return strdup(cfg->prices);
}

int col_run(struct col_run_opts *opts)
{
    struct daemon d = {0};
    char err[1024];
    int rc = 1;
    d.cfg = opts->cfg;
    d.config_path = opts->config_path;
    d.once = opts->once;
    d.pinned_now = opts->now;
    d.wall_start = (int64_t)time(NULL);
    d.rng = (unsigned int)(d.wall_start ^ getpid());

    char *ppath = resolve_prices(d.cfg);
    if (ppath && col_prices_load(ppath, &d.prices, err, sizeof err) != 0) {
        log_event(LOG_WARN, "prices.unavailable",
                  "reason=\"%s\" effect=\"estimated costs are not computed; usage is unpriced\"",
                  err);
        d.prices = NULL;
    }
    free(ppath);

    struct ts_options so = {.create = 1, .retention = d.cfg->retention};
    if (ts_open(d.cfg->data_dir, &so, &d.st, err, sizeof err) != 0) {
        fprintf(stderr, "byokwatch: %s\n", err);
        goto out;
    }
    d.base = event_base_new();
    if (!d.base || col_http_new(d.base, &d.http, err, sizeof err) != 0) {
        fprintf(stderr, "byokwatch: cannot start the event loop: %s\n", err);
        goto out;
    }
    if (sources_create(&d, err, sizeof err) != 0) {
        fprintf(stderr, "byokwatch: %s\n", err);
        goto out;
    }
    d.changes.events_from = INT64_MAX;
    d.changes.samples_from = 0; /* the first pass reads everything */
    if (ana_engine_new(d.cfg, &d.engine, err, sizeof err) != 0) {
        fprintf(stderr, "byokwatch: %s\n", err);
        goto out;
    }
    if (!(d.analyze_timer = evtimer_new(d.base, on_analyze, &d)) ||
        !(d.deliver_timer = event_new(d.base, -1, EV_PERSIST, on_deliver_timer, &d))) {
        fprintf(stderr, "byokwatch: cannot create the analysis timer\n");
        goto out;
    }
    if (worker_create(&d, err, sizeof err) != 0) {
        fprintf(stderr, "byokwatch: %s\n", err);
        goto out;
    }
    if (!d.once) {
        warm_engine(&d);
        struct timeval every = {.tv_sec = 30, .tv_usec = 0};
        evtimer_add(d.deliver_timer, &every);
        alert_worker_kick(d.worker); /* what a previous run left queued */
    }
    if (d.n_sources == 0) {
        fprintf(stderr, "byokwatch: no source to poll (no enabled provider with a poller)\n");
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    d.sig_term = evsignal_new(d.base, SIGTERM, on_stop, &d);
    d.sig_int = evsignal_new(d.base, SIGINT, on_stop, &d);
    d.sig_hup = evsignal_new(d.base, SIGHUP, on_hup, &d);
    if (!d.sig_term || !d.sig_int || !d.sig_hup) {
        fprintf(stderr, "byokwatch: cannot install signal handlers\n");
        goto out;
    }
    evsignal_add(d.sig_term, NULL);
    evsignal_add(d.sig_int, NULL);
    if (!d.once)
        evsignal_add(d.sig_hup, NULL);
    log_event(LOG_INFO, "daemon.start", "sources=%zu once=%d data_dir=%s", d.n_sources, d.once,
              d.cfg->data_dir);
    start_all(&d);
    event_base_dispatch(d.base);
    log_progress_end();
    rc = d.once ? d.exit_code : 0;
    if (d.once && d.stopping)
        rc = 1;
    if (d.once && !d.stopping) {
        size_t pending = alert_outbox_pending(d.st, NULL), dead = alert_worker_dead(d.worker);
        if (dead) {
            fprintf(stderr,
                    "byokwatch: %zu alert deliveries were refused by their sink and moved to the "
                    "dead-letter list (see the log)\n",
                    dead);
            rc = 1;
        }
        if (pending) {
            fprintf(stderr,
                    "byokwatch: %zu alert deliveries are still pending (a sink did not accept "
                    "them); the next run retries them\n",
                    pending);
            rc = 1;
        }
    }
    log_event(LOG_INFO, "daemon.exit", "code=%d", rc);
out:
    sources_free(&d);
    if (d.analyze_timer)
        event_free(d.analyze_timer);
    if (d.deliver_timer)
        event_free(d.deliver_timer);
    alert_worker_free(d.worker);
    ana_engine_free(d.engine);
    if (d.sig_term)
        event_free(d.sig_term);
    if (d.sig_int)
        event_free(d.sig_int);
    if (d.sig_hup)
        event_free(d.sig_hup);
    if (d.grace)
        event_free(d.grace);
    col_http_free(d.http);
    if (d.base)
        event_base_free(d.base);
    ts_close(d.st);
    col_prices_free(d.prices);
    if (d.pending_cfg)
        cfg_free(d.pending_cfg);
    cfg_free(d.cfg);
    opts->cfg = NULL;
    return rc;
}
