/*
 * The geo_anomaly rule: where actors sign in from. Over the successful audit
 * sessions of the last GEO_LOOKBACK (24h) it flags a country outside
 * allowed_countries, a country new for an actor (seen/ meta keys, or a
 * bounded scan when they are missing), and impossible travel between an
 * actor's consecutive located sessions. The math is in geo_anomaly.h.
 */
#include "geo_anomaly.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/timeutil.h"
#include "engine.h"

#define CC_MAX 16
#define CITY_MAX 64
#define IP_MAX 64

/* ---- the pure decisions (geo_anomaly.h) ---- */

double ana_geo_haversine_km(double lat1, double lon1, double lat2, double lon2)
{
    const double rad = M_PI / 180.0;
    double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
    double a = sin(dlat / 2) * sin(dlat / 2) +
               cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
    if (a > 1.0)
        a = 1.0;
    return 2.0 * GEO_EARTH_RADIUS_KM * asin(sqrt(a));
}

int ana_geo_travel_impossible(double dist_km, int64_t gap_s, double max_speed_kmh,
                              double min_distance_km, double *speed_kmh)
{
    if (speed_kmh)
        *speed_kmh = NAN;
    if (!isfinite(dist_km) || !isfinite(max_speed_kmh) || dist_km < min_distance_km)
        return 0;
    if (gap_s <= 0)
        return 1;
    double speed = dist_km / ((double)gap_s / 3600.0);
    if (speed_kmh)
        *speed_kmh = speed;
    return speed > max_speed_kmh;
}

int64_t ana_geo_travel_back(double max_speed_kmh)
{
    if (!(max_speed_kmh > 0))
        return GEO_MAX_TRAVEL_BACK;
    double s = ceil(GEO_MAX_DISTANCE_KM / max_speed_kmh * 3600.0);
    return s >= (double)GEO_MAX_TRAVEL_BACK ? GEO_MAX_TRAVEL_BACK : (int64_t)s;
}

int ana_geo_new_country(int64_t now, int64_t lookback, int64_t learning, int64_t first_in_country,
                        int64_t first_seen_user)
{
    if (first_in_country < now - lookback || first_in_country > now)
        return 0;
    return first_seen_user <= first_in_country - learning;
}

int ana_geo_country_allowed(const json_t *allowed, const char *country)
{
    if (!json_is_array(allowed) || json_array_size(allowed) == 0)
        return 1;
    if (!country || !country[0])
        return 0;
    size_t i;
    const json_t *v;
    json_array_foreach(allowed, i, v)
    {
        const char *s = json_string_value(v);
        if (s && strcasecmp(s, country) == 0)
            return 1;
    }
    return 0;
}

/* ---- params ---- */

struct geo_rule {
    json_t *allowed; /* array or NULL (owned reference) */
    double max_speed, min_distance;
    int64_t learning;
    int new_country;
};

static int geo_init(const struct cfg_rule *rule, const struct config *cfg, void **ctx, char *err,
                    size_t errlen)
{
    (void)cfg;
    struct geo_rule *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const json_t *p = rule->params;
    const json_t *ms = json_object_get(p, "max_speed_kmh");
    const json_t *md = json_object_get(p, "min_distance_km");
    const json_t *nc = json_object_get(p, "new_country");
    const char *lw = json_string_value(json_object_get(p, "learning"));
    r->max_speed = ms ? json_number_value(ms) : 900;
    r->min_distance = md ? json_number_value(md) : 100;
    r->new_country = nc ? json_is_true(nc) : 1;
    r->learning = 14LL * TU_DAY;
    if ((lw && tu_parse_duration(lw, &r->learning) != 0) || !(r->max_speed > 0)) {
        snprintf(err, errlen, "rule %s: bad learning or max_speed_kmh", rule->name);
        free(r);
        return -1;
    }
    json_t *al = json_object_get(p, "allowed_countries");
    r->allowed = json_is_array(al) ? json_incref(al) : NULL;
    *ctx = r;
    return 0;
}

static void geo_destroy(void *ctx)
{
    struct geo_rule *r = ctx;
    if (r)
        json_decref(r->allowed);
    free(r);
}

/* ---- one evaluation ---- */

struct loc {
    int64_t t;
    double lat, lon;
    char country[CC_MAX];
    char city[CITY_MAX];
};

struct actor {
    char provider[ANA_VALUE_MAX];
    char account[ANA_VALUE_MAX];
    char actor[ANA_VALUE_MAX];
    struct loc last; /* latest located session so far */
    int has_last;
    int need_scan; /* new-country fallback: some seen/ key is missing */
    int baseline;  /* fallback: had a session in [now - lookback - learning, now - lookback) */
};

/* One actor's sessions from one country within the lookback. */
struct visit {
    size_t actor;
    char country[CC_MAX];
    char city[CITY_MAX];
    char ip[IP_MAX];
    int64_t first, last;
    long long sessions;
    int seen_before; /* fallback: a session from it before the lookback, within learning */
    /* impossible travel into this country (the fastest pair; starts at the first) */
    int travel;
    int64_t travel_at;
    double speed, dist; /* speed NAN: zero time gap */
    struct loc from, to;
};

struct geo_eval {
    const struct geo_rule *r;
    const struct ana_ctx *c;
    int64_t lookback_from; /* now - GEO_LOOKBACK */
    int pass2;             /* the new-country fallback scan */
    json_t *actor_ix, *visit_ix;
    struct actor *a;
    size_t n_a, cap_a;
    struct visit *v;
    size_t n_v, cap_v;
    int failed;
};

static const char *str_of(const json_t *ev, const char *key)
{
    const char *s = json_string_value(json_object_get(ev, key));
    return s && s[0] ? s : NULL;
}

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, nc * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

/* Index of the actor, created when create is set; -1 absent or out of memory. */
static long actor_of(struct geo_eval *g, const char *provider, const char *account,
                     const char *actor, int create)
{
    char key[3 * ANA_VALUE_MAX + 4];
    snprintf(key, sizeof key, "%s\x1f%s\x1f%s", provider, account, actor);
    const json_t *ix = json_object_get(g->actor_ix, key);
    if (ix)
        return (long)json_integer_value(ix);
    if (!create)
        return -1;
    if (grow((void **)&g->a, &g->cap_a, g->n_a, sizeof *g->a) != 0 ||
        json_object_set_new_nocheck(g->actor_ix, key, json_integer((json_int_t)g->n_a)) != 0) {
        g->failed = 1;
        return -1;
    }
    struct actor *a = &g->a[g->n_a];
    memset(a, 0, sizeof *a);
    snprintf(a->provider, sizeof a->provider, "%s", provider);
    snprintf(a->account, sizeof a->account, "%s", account);
    snprintf(a->actor, sizeof a->actor, "%s", actor);
    return (long)g->n_a++;
}

static long visit_of(struct geo_eval *g, size_t actor, const char *country, int create)
{
    char key[3 * ANA_VALUE_MAX + CC_MAX + 8];
    const struct actor *a = &g->a[actor];
    snprintf(key, sizeof key, "%s\x1f%s\x1f%s\x1f%s", a->provider, a->account, a->actor, country);
    const json_t *ix = json_object_get(g->visit_ix, key);
    if (ix)
        return (long)json_integer_value(ix);
    if (!create)
        return -1;
    if (grow((void **)&g->v, &g->cap_v, g->n_v, sizeof *g->v) != 0 ||
        json_object_set_new_nocheck(g->visit_ix, key, json_integer((json_int_t)g->n_v)) != 0) {
        g->failed = 1;
        return -1;
    }
    struct visit *v = &g->v[g->n_v];
    memset(v, 0, sizeof *v);
    v->actor = actor;
    snprintf(v->country, sizeof v->country, "%s", country);
    return (long)g->n_v++;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void travel_check(struct geo_eval *g, struct actor *a, const struct loc *to, long vi)
{
    double dist = ana_geo_haversine_km(a->last.lat, a->last.lon, to->lat, to->lon), speed;
    int64_t gap = to->t - a->last.t;
    if (!ana_geo_travel_impossible(dist, gap, g->r->max_speed, g->r->min_distance, &speed))
        return;
    struct visit *v = &g->v[vi];
    double rank = isnan(speed) ? INFINITY : speed;
    double old = !v->travel ? -1.0 : isnan(v->speed) ? INFINITY : v->speed;
    if (!v->travel)
        v->travel_at = to->t;
    if (rank > old) {
        v->speed = speed;
        v->dist = dist;
        v->from = a->last;
        v->to = *to;
    }
    v->travel = 1;
}

/* ts_events_scan callback: one audit event; sessions only. */
static int on_event(const struct ts_event *e, void *ud)
{
    struct geo_eval *g = ud;
    json_t *ev = NULL;
    if (ends_with(e->type, ".failed"))
        return 0;
    ev = json_loads(e->json, 0, NULL);
    const char *provider = str_of(ev, "provider"), *account = str_of(ev, "account");
    const char *who = str_of(ev, "actor"), *country = str_of(ev, "country");
    if (!provider || !account || !who || !country ||
        !ana_provider_ok(g->c->rule, provider, account))
        goto out;
    long ai = actor_of(g, provider, account, who, !g->pass2);
    if (ai < 0)
        goto out;
    struct actor *a = &g->a[ai];
    if (g->pass2) {
        if (a->need_scan) {
            long vi = visit_of(g, (size_t)ai, country, 0);
            a->baseline = 1;
            if (vi >= 0)
                g->v[vi].seen_before = 1;
        }
        goto out;
    }
    long vi = -1;
    if (e->time >= g->lookback_from) {
        vi = visit_of(g, (size_t)ai, country, 1);
        if (vi < 0)
            goto out;
        struct visit *v = &g->v[vi];
        if (v->sessions == 0 || e->time < v->first)
            v->first = e->time;
        if (v->sessions == 0 || e->time >= v->last) {
            v->last = e->time;
            snprintf(v->city, sizeof v->city, "%s", str_of(ev, "city") ? str_of(ev, "city") : "");
            snprintf(v->ip, sizeof v->ip, "%s", str_of(ev, "ip") ? str_of(ev, "ip") : "");
        }
        v->sessions++;
    }
    const json_t *lat = json_object_get(ev, "lat"), *lon = json_object_get(ev, "lon");
    if (!json_is_number(lat) || !json_is_number(lon))
        goto out;
    struct loc here = {.t = e->time, .lat = json_number_value(lat), .lon = json_number_value(lon)};
    snprintf(here.country, sizeof here.country, "%s", country);
    snprintf(here.city, sizeof here.city, "%s", str_of(ev, "city") ? str_of(ev, "city") : "");
    if (a->has_last && vi >= 0)
        travel_check(g, a, &here, vi);
    a->last = here;
    a->has_last = 1;
out:
    json_decref(ev);
    return g->failed;
}

/* Reads a seen/ key as unix seconds: 1 found, 0 absent (or unreadable), -1 store error. */
static int read_seen(struct ts_store *st, const char *key, int64_t *t, char *err, size_t errlen)
{
    char *val = NULL;
    size_t vlen = 0;
    int rc = ts_get(st, TS_META, key, strlen(key), &val, &vlen, err, errlen);
    if (rc == -TS_ENOTFOUND)
        return 0;
    if (rc != 0)
        return -1;
    rc = ana_parse_secs(val, vlen, t) == 0;
    free(val);
    return rc;
}

struct seen {
    int has_cc, has_user;
    int64_t cc, user;
};

static int seen_keys(const struct ana_ctx *c, const struct actor *a, const struct visit *v,
                     struct seen *s, char *err, size_t errlen)
{
    char key[3 * ANA_VALUE_MAX + 32];
    memset(s, 0, sizeof *s);
    snprintf(key, sizeof key, "seen/%s/country/%s/%s", a->account, a->actor, v->country);
    if ((s->has_cc = read_seen(c->st, key, &s->cc, err, errlen)) < 0)
        return -1;
    snprintf(key, sizeof key, "seen/%s/user/%s", a->account, a->actor);
    if ((s->has_user = read_seen(c->st, key, &s->user, err, errlen)) < 0)
        return -1;
    return 0;
}

static void fmt_place(char *buf, size_t len, const char *country, const char *city)
{
    if (city && city[0])
        snprintf(buf, len, "%s (%s)", country, city);
    else
        snprintf(buf, len, "%s", country);
}

static json_t *loc_json(const struct loc *l)
{
    return json_pack("{s:s, s:s, s:I, s:f, s:f}", "country", l->country, "city", l->city, "time",
                     (json_int_t)l->t, "lat", l->lat, "lon", l->lon);
}

static int emit(struct ana_results *out, const struct actor *a, const struct visit *v,
                const char *anomaly, struct ana_candidate **cp)
{
    struct ana_candidate *c;
    if (ana_emit(out, &c) != 0 || ana_label(c, "provider", a->provider) ||
        ana_label(c, "account", a->account) || ana_label(c, "actor", a->actor) ||
        ana_label(c, "country", v->country) || ana_label(c, "anomaly", anomaly))
        return -1;
    char win[16];
    ana_fmt_duration(GEO_LOOKBACK, win, sizeof win);
    snprintf(c->window, sizeof c->window, "%s", win);
    c->starts_at = v->first;
    *cp = c;
    return 0;
}

static int emit_disallowed(const struct geo_rule *r, const struct actor *a, const struct visit *v,
                           struct ana_results *out)
{
    struct ana_candidate *c;
    char place[CC_MAX + CITY_MAX + 4], allowed[256] = "";
    size_t used = 0, i;
    const json_t *x;
    if (emit(out, a, v, "disallowed_country", &c) != 0)
        return -1;
    json_array_foreach(r->allowed, i, x)
    {
        int n = snprintf(allowed + used, sizeof allowed - used, "%s%s", i ? ", " : "",
                         json_string_value(x));
        if (n < 0 || (size_t)n >= sizeof allowed - used)
            break;
        used += (size_t)n;
    }
    fmt_place(place, sizeof place, v->country, v->city);
    c->value = (double)v->sessions;
    snprintf(c->unit, sizeof c->unit, "count");
    ana_summary(c, "%s %s: %s signed in from %s, which is not an allowed country (allowed: %s)",
                a->provider, a->account, a->actor, place, allowed);
    c->details =
        json_pack("{s:I, s:I, s:I, s:s, s:s}", "sessions", (json_int_t)v->sessions, "first",
                  (json_int_t)v->first, "last", (json_int_t)v->last, "city", v->city, "ip", v->ip);
    return c->details ? 0 : -1;
}

static int emit_new_country(const struct actor *a, const struct visit *v, int64_t first_cc,
                            const struct seen *s, int64_t learning, struct ana_results *out)
{
    struct ana_candidate *c;
    char place[CC_MAX + CITY_MAX + 4], when[32], lw[16];
    if (emit(out, a, v, "new_country", &c) != 0)
        return -1;
    fmt_place(place, sizeof place, v->country, v->city);
    ana_fmt_duration(learning, lw, sizeof lw);
    c->value = (double)v->sessions;
    snprintf(c->unit, sizeof c->unit, "count");
    c->starts_at = first_cc;
    ana_summary(c, "%s %s: %s signed in from %s for the first time (%s), a new country for them",
                a->provider, a->account, a->actor, place,
                tu_format_time(first_cc, when, sizeof when));
    c->details =
        json_pack("{s:I, s:o, s:s, s:s, s:I, s:s, s:s}", "first_in_country", (json_int_t)first_cc,
                  "actor_first_seen", s->has_user ? json_integer(s->user) : json_null(), "learning",
                  lw, "source", s->has_cc && s->has_user ? "seen" : "scan", "sessions",
                  (json_int_t)v->sessions, "city", v->city, "ip", v->ip);
    return c->details ? 0 : -1;
}

static int emit_travel(const struct geo_rule *r, const struct actor *a, const struct visit *v,
                       struct ana_results *out)
{
    struct ana_candidate *c;
    char p1[CC_MAX + CITY_MAX + 4], p2[CC_MAX + CITY_MAX + 4];
    double hours = (double)(v->to.t - v->from.t) / 3600.0;
    if (emit(out, a, v, "impossible_travel", &c) != 0)
        return -1;
    fmt_place(p1, sizeof p1, v->from.country, v->from.city);
    fmt_place(p2, sizeof p2, v->to.country, v->to.city);
    c->value = v->speed;
    c->threshold = r->max_speed;
    snprintf(c->unit, sizeof c->unit, "kmh");
    c->starts_at = v->travel_at;
    if (isnan(v->speed))
        ana_summary(c, "%s %s: %s was in %s and %s (%.0f km apart) at the same time", a->provider,
                    a->account, a->actor, p1, p2, v->dist);
    else
        ana_summary(c, "%s %s: %s moved from %s to %s, %.0f km in %.1fh (%.0f km/h, max %.0f km/h)",
                    a->provider, a->account, a->actor, p1, p2, v->dist, hours, v->speed,
                    r->max_speed);
    c->details = json_pack("{s:o, s:o, s:f, s:f}", "from", loc_json(&v->from), "to",
                           loc_json(&v->to), "distance_km", v->dist, "hours", hours);
    return c->details ? 0 : -1;
}

/* The new-country decision for one visit; 1 new, 0 not, -1 store error. */
static int is_new(const struct geo_eval *g, const struct visit *v, const struct seen *s,
                  int64_t *first_cc)
{
    const struct actor *a = &g->a[v->actor];
    int64_t now = g->c->now;
    /* without the key, the first time in the country is the scan's: before the lookback when a
     * session from it lies in the learning period before it, else the lookback's first */
    *first_cc = s->has_cc ? s->cc : v->seen_before ? g->lookback_from - 1 : v->first;
    if (s->has_user)
        return ana_geo_new_country(now, GEO_LOOKBACK, g->r->learning, *first_cc, s->user);
    /* without the user key the scan cannot tell the actor's age: an actor with sessions in
     * the learning period before the lookback counts as learned */
    return a->baseline && ana_geo_new_country(now, GEO_LOOKBACK, 0, *first_cc, INT64_MIN);
}

static int geo_evaluate(void *ctx, const struct ana_ctx *c, struct ana_results *out, char *err,
                        size_t errlen)
{
    const struct geo_rule *r = ctx;
    struct geo_eval g = {.r = r, .c = c, .lookback_from = c->now - GEO_LOOKBACK};
    struct seen *seen = NULL;
    int rc = -1, any_scan = 0;

    g.actor_ix = json_object();
    g.visit_ix = json_object();
    if (!g.actor_ix || !g.visit_ix)
        goto oom;
    int64_t from = g.lookback_from - ana_geo_travel_back(r->max_speed);
    if (ts_events_scan(c->st, from, c->now, "audit.*", on_event, &g, err, errlen) != 0)
        goto out;
    if (g.failed)
        goto oom;
    if (r->new_country && g.n_v) {
        seen = calloc(g.n_v, sizeof *seen);
        if (!seen)
            goto oom;
        for (size_t i = 0; i < g.n_v; i++) {
            struct actor *a = &g.a[g.v[i].actor];
            if (seen_keys(c, a, &g.v[i], &seen[i], err, errlen) != 0)
                goto out;
            if (!seen[i].has_cc || !seen[i].has_user)
                a->need_scan = any_scan = 1;
        }
        if (any_scan) {
            g.pass2 = 1;
            if (ts_events_scan(c->st, g.lookback_from - r->learning, g.lookback_from, "audit.*",
                               on_event, &g, err, errlen) != 0)
                goto out;
            if (g.failed)
                goto oom;
        }
    }
    for (size_t i = 0; i < g.n_v; i++) {
        const struct visit *v = &g.v[i];
        const struct actor *a = &g.a[v->actor];
        int64_t first_cc;
        if (!ana_geo_country_allowed(r->allowed, v->country) && emit_disallowed(r, a, v, out) != 0)
            goto oom;
        if (seen && is_new(&g, v, &seen[i], &first_cc) &&
            emit_new_country(a, v, first_cc, &seen[i], r->learning, out) != 0)
            goto oom;
        if (v->travel && emit_travel(r, a, v, out) != 0)
            goto oom;
    }
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    free(seen);
    free(g.a);
    free(g.v);
    json_decref(g.actor_ix);
    json_decref(g.visit_ix);
    return rc;
}

const struct ana_rule_ops ana_geo_anomaly = {
    .type = "geo_anomaly",
    .init = geo_init,
    .evaluate = geo_evaluate,
    .destroy = geo_destroy,
};
