/*
 * Tests for the security rules: auth_failures, geo_anomaly and rate_limited
 * (analyzers/). The geo math (geo_anomaly.h) is table-driven with known
 * distances and boundary cases; each rule's evaluate() runs against a real
 * store in a temporary directory holding planted events, meta keys and
 * series, and must fire on the planted conditions and stay quiet on steady
 * data.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../analyzers/engine.h"
#include "../analyzers/geo_anomaly.h"
#include "../storage/ts.h"
#include "testutil.h"

extern const struct ana_rule_ops ana_auth_failures, ana_geo_anomaly, ana_rate_limited;

#define HOUR 3600LL
#define DAY 86400LL
#define MIN 60LL
#define BASE 1793491200LL                 /* 2026-11-01T00:00:00Z */
#define NOW (BASE + 19 * DAY + 12 * HOUR) /* 2026-11-20T12:00:00Z */
#define NA NAN                            /* no coordinate */

static int64_t fake_clock(void)
{
    return NOW;
}

static char g_err[1024];

/* ---- fixture: a fresh store and one open batch ---- */

struct fx {
    char *tmp;
    struct ts_store *st;
    struct ts_batch *b;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    char dir[4200];
    if (!f || !(f->tmp = tu_mkdtemp()) || !(f->b = ts_batch_new()))
        return -1;
    snprintf(dir, sizeof dir, "%s/db", f->tmp);
    struct ts_options o = {.create = 1, .clock = fake_clock};
    if (ts_open(dir, &o, &f->st, g_err, sizeof g_err) != 0) {
        fprintf(stderr, "ts_open %s: %s\n", dir, g_err);
        return -1;
    }
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    if (!f)
        return 0;
    ts_batch_free(f->b);
    if (f->st)
        ts_close(f->st);
    tu_rmtree(f->tmp);
    free(f->tmp);
    free(f);
    return 0;
}

static void flush(struct fx *f)
{
    if (ts_write(f->st, f->b, g_err, sizeof g_err) != 0)
        fail_msg("ts_write: %s", g_err);
    ts_batch_clear(f->b);
}

static void add_event(struct fx *f, int64_t t, const char *type, json_t *obj)
{
    assert_non_null(obj);
    json_object_set_new(obj, "type", json_string(type));
    json_object_set_new(obj, "time", json_integer(t));
    char *js = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(js);
    struct ts_event ev = {.time = t, .type = type, .json = js};
    assert_int_equal(ts_batch_add_event(f->b, &ev), 0);
    free(js);
    json_decref(obj);
}

/* An OpenAI audit event of acme-openai; NULL strings and NAN coordinates are left out. */
static void add_audit(struct fx *f, int64_t t, const char *type, const char *actor, const char *ip,
                      const char *country, const char *city, double lat, double lon)
{
    json_t *o = json_pack("{s:s, s:s}", "provider", "openai", "account", "acme-openai");
    if (actor)
        json_object_set_new(o, "actor", json_string(actor));
    if (ip)
        json_object_set_new(o, "ip", json_string(ip));
    if (country)
        json_object_set_new(o, "country", json_string(country));
    if (city)
        json_object_set_new(o, "city", json_string(city));
    if (!isnan(lat) && !isnan(lon)) {
        json_object_set_new(o, "lat", json_real(lat));
        json_object_set_new(o, "lon", json_real(lon));
    }
    char type_buf[64];
    snprintf(type_buf, sizeof type_buf, "audit.%s", type);
    add_event(f, t, type_buf, o);
}

static void put_meta(struct fx *f, const char *key, int64_t value)
{
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)value);
    assert_int_equal(ts_batch_put(f->b, TS_META, key, strlen(key), v, strlen(v)), 0);
}

/* Runs one rule type with params (JSON text) at now; the results stay in res. */
static int eval(struct fx *f, const struct ana_rule_ops *ops, const char *params, int64_t now,
                struct ana_results *res)
{
    flush(f);
    json_error_t je;
    struct cfg_rule rule = {.type = (char *)ops->type, .name = "test", .severity = "warning"};
    struct config cfg;
    memset(&cfg, 0, sizeof cfg);
    rule.params = json_loads(params, 0, &je);
    if (!rule.params)
        fail_msg("params %s: %s", params, je.text);
    void *ctx = NULL;
    struct ana_changes ch = {.events_from = INT64_MAX};
    struct ana_ctx c = {.st = f->st, .cfg = &cfg, .rule = &rule, .now = now, .changes = &ch};
    int rc = ops->init(&rule, &cfg, &ctx, g_err, sizeof g_err);
    if (rc == 0) {
        rc = ops->evaluate(ctx, &c, res, g_err, sizeof g_err);
        ops->destroy(ctx);
    }
    json_decref(rule.params);
    if (rc != 0)
        fail_msg("%s: %s", ops->type, g_err);
    return rc;
}

/* The candidate whose labels include every (name, value) pair given (NULL-terminated). */
static const struct ana_candidate *find(const struct ana_results *res, ...)
{
    for (size_t i = 0; i < res->n; i++) {
        va_list ap;
        va_start(ap, res);
        int ok = 1;
        const char *name;
        while (ok && (name = va_arg(ap, const char *)) != NULL) {
            const char *want = va_arg(ap, const char *);
            const char *got = ana_label_get(&res->v[i], name);
            ok = got && strcmp(got, want) == 0;
        }
        va_end(ap);
        if (ok)
            return &res->v[i];
    }
    return NULL;
}

static void dump(const struct ana_results *res)
{
    for (size_t i = 0; i < res->n; i++) {
        fprintf(stderr, "  [%zu] %s |", i, res->v[i].summary);
        for (size_t k = 0; k < res->v[i].n_labels; k++)
            fprintf(stderr, " %s=%s", res->v[i].labels[k].name, res->v[i].labels[k].value);
        fprintf(stderr, "\n");
    }
}

static void expect_n(const struct ana_results *res, size_t n, const char *what)
{
    if (res->n != n) {
        dump(res);
        fail_msg("%s: %zu candidates, want %zu", what, res->n, n);
    }
}

static void expect_labels(const struct ana_candidate *c, const char *const *names, size_t n)
{
    assert_non_null(c);
    assert_int_equal(c->n_labels, n);
    for (size_t i = 0; i < n; i++)
        assert_non_null(ana_label_get(c, names[i]));
}

/* ---- geo math, table-driven ---- */

static void test_haversine(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        double lat1, lon1, lat2, lon2, km, tol;
    } cases[] = {
        {"New York - London", 40.7128, -74.0060, 51.5074, -0.1278, 5570.2, 5.0},
        {"same point", 48.8566, 2.3522, 48.8566, 2.3522, 0.0, 1e-9},
        {"Paris - Berlin", 48.8566, 2.3522, 52.5200, 13.4050, 877.5, 3.0},
        {"one degree on the equator", 0, 0, 0, 1, 111.195, 0.01},
        {"antipodes on the equator", 0, 0, 0, 180, M_PI * 6371.0, 1e-6},
        {"pole to pole", 90, 0, -90, 0, M_PI * 6371.0, 1e-6},
        {"across the date line", 0, 179.5, 0, -179.5, 111.195, 0.01},
        {"New York - Changchun", 40.7128, -74.0060, 43.88, 125.32, 10412.0, 5.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double d = ana_geo_haversine_km(cases[i].lat1, cases[i].lon1, cases[i].lat2, cases[i].lon2);
        double back =
            ana_geo_haversine_km(cases[i].lat2, cases[i].lon2, cases[i].lat1, cases[i].lon1);
        if (!(fabs(d - cases[i].km) <= cases[i].tol) || !(fabs(d - back) < 1e-9))
            fail_msg("%s: %.4f km (back %.4f), want %.4f +- %g", cases[i].what, d, back,
                     cases[i].km, cases[i].tol);
        assert_true(d <= GEO_MAX_DISTANCE_KM);
    }
}

static void test_travel_decision(void **state)
{
    (void)state;
    /* impossible means strictly ABOVE max_speed_kmh ("above" in the issue) */
    static const struct {
        const char *what;
        double dist;
        int64_t gap;
        double max, min;
        int want;
        double speed; /* NAN: expect NAN */
    } cases[] = {
        {"exactly max speed is possible", 900, HOUR, 900, 100, 0, 900},
        {"just above max speed", 900.5, HOUR, 900, 100, 1, 900.5},
        {"just below max speed", 899.5, HOUR, 900, 100, 0, 899.5},
        {"NY-London in 2h", 5570, 2 * HOUR, 900, 100, 1, 2785},
        {"NY-London in 7h", 5570, 7 * HOUR, 900, 100, 0, 5570.0 / 7},
        {"under min distance, zero gap", 99.9, 0, 900, 100, 0, NAN},
        {"under min distance, 1 s", 99.9, 1, 900, 100, 0, NAN},
        {"exactly min distance, zero gap", 100, 0, 900, 100, 1, NAN},
        {"zero gap far apart", 5000, 0, 900, 100, 1, NAN},
        {"same place same time", 0, 0, 900, 100, 0, NAN},
        {"100 km in a minute", 100, MIN, 900, 100, 1, 6000},
        {"missing coordinates (NAN distance)", NAN, HOUR, 900, 100, 0, NAN},
        {"min distance 0 counts everything", 10, 1, 900, 0, 1, 36000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double speed = -1;
        int got = ana_geo_travel_impossible(cases[i].dist, cases[i].gap, cases[i].max, cases[i].min,
                                            &speed);
        if (got != cases[i].want)
            fail_msg("%s: got %d, want %d", cases[i].what, got, cases[i].want);
        if (isnan(cases[i].speed) ? !isnan(speed) : !(fabs(speed - cases[i].speed) < 1e-6))
            fail_msg("%s: speed %g, want %g", cases[i].what, speed, cases[i].speed);
    }
    /* NULL speed pointer is allowed */
    assert_int_equal(ana_geo_travel_impossible(5570, HOUR, 900, 100, NULL), 1);
}

static void test_travel_back(void **state)
{
    (void)state;
    static const struct {
        double kmh;
        int64_t want;
    } cases[] = {
        {900, 80148},             /* ceil(20037 / 900 h) */
        {20037, 3600},            /* one hour */
        {805, 89607},             /* Okta's default */
        {1, GEO_MAX_TRAVEL_BACK}, /* capped */
        {0, GEO_MAX_TRAVEL_BACK}, /* nonsense: the cap */
        {1e9, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (ana_geo_travel_back(cases[i].kmh) != cases[i].want)
            fail_msg("%g km/h: %lld, want %lld", cases[i].kmh,
                     (long long)ana_geo_travel_back(cases[i].kmh), (long long)cases[i].want);
    }
}

static void test_new_country_decision(void **state)
{
    (void)state;
    const int64_t L = GEO_LOOKBACK, learn = 14 * DAY;
    static const struct {
        const char *what;
        int64_t first_cc, first_user; /* relative to NOW */
        int want;
    } cases[] = {
        {"old actor, country new an hour ago", -HOUR, -30 * DAY, 1},
        {"actor exactly learning old at first visit", -HOUR, -HOUR - 14 * DAY, 1},
        {"actor one second short of learning", -HOUR, -HOUR - 14 * DAY + 1, 0},
        {"actor seen for the first time with it", -HOUR, -HOUR, 0},
        {"first visit at the lookback's start", -DAY, -60 * DAY, 1},
        {"first visit just before the lookback", -DAY - 1, -60 * DAY, 0},
        {"first visit at now", 0, -60 * DAY, 1},
        {"first visit in the future (clock skew)", 1, -60 * DAY, 0},
        {"country known for a month", -30 * DAY, -60 * DAY, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got =
            ana_geo_new_country(NOW, L, learn, NOW + cases[i].first_cc, NOW + cases[i].first_user);
        if (got != cases[i].want)
            fail_msg("%s: got %d, want %d", cases[i].what, got, cases[i].want);
    }
}

static void test_allowed_countries(void **state)
{
    (void)state;
    json_t *list = json_pack("[s, s, s]", "US", "GB", "DE");
    json_t *empty = json_array();
    assert_non_null(list);
    assert_non_null(empty);
    static const struct {
        int which; /* 0 NULL, 1 empty, 2 list */
        const char *cc;
        int want;
    } cases[] = {
        {0, "CN", 1}, {1, "CN", 1}, {2, "US", 1}, {2, "us", 1},  {2, "De", 1},
        {2, "CN", 0}, {2, "", 0},   {2, NULL, 0}, {2, "USA", 0}, {1, NULL, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const json_t *l = cases[i].which == 0 ? NULL : cases[i].which == 1 ? empty : list;
        if (ana_geo_country_allowed(l, cases[i].cc) != cases[i].want)
            fail_msg("case %zu (%s): want %d", i, cases[i].cc ? cases[i].cc : "NULL",
                     cases[i].want);
    }
    json_decref(list);
    json_decref(empty);
}

/* ---- auth_failures against the store ---- */

static void add_failed_login(struct fx *f, int64_t t, const char *actor, const char *ip)
{
    add_audit(f, t, "login.failed", actor, ip, "US", NULL, NA, NA);
}

static void test_auth_issue_example(void **state)
{
    struct fx *f = *state;
    struct ana_results res = {0};
    static const char *const names[] = {"provider", "account", "actor", "pattern"};
    /* 8 failures for alice from 6 IPs, 3h ago; bob fails twice; carol signs in fine */
    for (int i = 0; i < 8; i++) {
        char ip[32];
        snprintf(ip, sizeof ip, "203.0.113.%d", i % 6 + 1);
        add_failed_login(f, NOW - 3 * HOUR + i * MIN, "alice@acme.com", ip);
    }
    add_failed_login(f, NOW - 3 * HOUR, "bob@acme.com", "198.51.100.7");
    add_failed_login(f, NOW - 2 * HOUR, "bob@acme.com", "198.51.100.8");
    for (int i = 0; i < 10; i++)
        add_audit(f, NOW - HOUR + i, "login.succeeded", "carol@acme.com", "192.0.2.1", "US", NULL,
                  NA, NA);

    eval(f, &ana_auth_failures, "{\"window\": \"4h\", \"threshold\": 5, \"distinct_ips\": 5}", NOW,
         &res);
    expect_n(&res, 2, "alice");
    const struct ana_candidate *c = find(&res, "pattern", "failed_logins", NULL);
    expect_labels(c, names, 4);
    assert_string_equal(ana_label_get(c, "provider"), "openai");
    assert_string_equal(ana_label_get(c, "account"), "acme-openai");
    assert_string_equal(ana_label_get(c, "actor"), "alice@acme.com");
    assert_true(c->value == 8 && c->threshold == 5);
    assert_string_equal(c->unit, "count");
    assert_string_equal(c->window, "4h");
    assert_int_equal(c->starts_at, NOW - 3 * HOUR);
    assert_non_null(strstr(c->summary, "alice@acme.com"));

    c = find(&res, "pattern", "credential_stuffing", "actor", "alice@acme.com", NULL);
    expect_labels(c, names, 4);
    assert_true(c->value == 6 && c->threshold == 5);
    assert_int_equal(json_array_size(json_object_get(c->details, "ips")), 6);
    assert_int_equal(json_integer_value(json_object_get(c->details, "failures")), 8);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(c->details, "countries"), 0)), "US");
    ana_results_free(&res);

    /* an hour later, alice's failures (3h ago) are still in the 4h window; 2h later they are out */
    eval(f, &ana_auth_failures, "{\"window\": \"4h\"}", NOW + HOUR, &res);
    expect_n(&res, 2, "an hour later");
    ana_results_clear(&res);
    eval(f, &ana_auth_failures, "{\"window\": \"4h\"}", NOW + 2 * HOUR, &res);
    expect_n(&res, 0, "cleared");
    ana_results_free(&res);
}

struct auth_case {
    const char *what;
    const char *params;
    int n_fail; /* failures for dave, one a minute from NOW - first_ago */
    int64_t first_ago;
    int n_ips;       /* distinct IPs among them (round robin) */
    int want_logins; /* failed_logins fires */
    int want_stuffing;
    double want_value; /* of failed_logins when it fires */
};

static void test_auth_table(void **state)
{
    (void)state;
    static const struct auth_case cases[] = {
        {"exactly at threshold fires", "{\"threshold\": 5, \"distinct_ips\": 99}", 5, 20 * MIN, 1,
         1, 0, 5},
        {"threshold - 1 does not", "{\"threshold\": 5, \"distinct_ips\": 99}", 4, 20 * MIN, 1, 0, 0,
         0},
        {"distinct IPs exactly at the limit", "{\"threshold\": 99, \"distinct_ips\": 5}", 5,
         20 * MIN, 5, 0, 1, 0},
        {"distinct IPs one short", "{\"threshold\": 99, \"distinct_ips\": 5}", 8, 20 * MIN, 4, 0, 0,
         0},
        {"both at once", "{\"threshold\": 5, \"distinct_ips\": 5}", 5, 20 * MIN, 5, 1, 1, 5},
        {"first failure exactly at now - window counts", "{\"window\": \"30m\"}", 5, 30 * MIN, 1, 1,
         0, 5},
        {"first failure a second before the window does not", "{\"window\": \"30m\"}", 5,
         30 * MIN + 1, 1, 0, 0, 0},
        {"defaults (30m, 5, 5)", "{}", 6, 10 * MIN, 6, 1, 1, 6},
        {"old failures outside the window", "{}", 10, 3 * HOUR, 10, 0, 0, 0},
        {"provider filter excludes openai", "{\"providers\": [\"anthropic\"]}", 10, 10 * MIN, 10, 0,
         0, 0},
        {"provider filter names the account", "{\"providers\": [\"acme-openai\"]}", 10, 10 * MIN,
         10, 1, 1, 10},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct auth_case *k = &cases[i];
        void *fs = NULL;
        struct ana_results res = {0};
        assert_int_equal(fx_setup(&fs), 0);
        struct fx *f = fs;
        for (int n = 0; n < k->n_fail; n++) {
            char ip[32];
            snprintf(ip, sizeof ip, "203.0.113.%d", n % k->n_ips + 1);
            add_failed_login(f, NOW - k->first_ago + n * MIN, "dave@acme.com", ip);
        }
        /* a failure at exactly now is outside [now - window, now) */
        add_failed_login(f, NOW, "dave@acme.com", "198.51.100.99");
        eval(f, &ana_auth_failures, k->params, NOW, &res);
        const struct ana_candidate *l = find(&res, "pattern", "failed_logins", NULL);
        const struct ana_candidate *s = find(&res, "pattern", "credential_stuffing", NULL);
        if (!!l != k->want_logins || !!s != k->want_stuffing ||
            res.n != (size_t)(k->want_logins + k->want_stuffing)) {
            dump(&res);
            fail_msg("%s: failed_logins %d (want %d), credential_stuffing %d (want %d)", k->what,
                     !!l, k->want_logins, !!s, k->want_stuffing);
        }
        if (l && l->value != k->want_value)
            fail_msg("%s: value %g, want %g", k->what, l->value, k->want_value);
        if (s && s->value != k->n_ips)
            fail_msg("%s: distinct IPs %g, want %d", k->what, s->value, k->n_ips);
        ana_results_free(&res);
        fx_teardown(&fs);
    }
}

static void test_auth_event_types(void **state)
{
    struct fx *f = *state;
    struct ana_results res = {0};
    for (int i = 0; i < 3; i++) {
        /* counted: proxy 401/403 (status as number or string) */
        add_event(f, NOW - 10 * MIN + i, "proxy.request",
                  json_pack("{s:s, s:s, s:s, s:i, s:s}", "provider", "openai", "account",
                            "acme-openai", "api_key_id", "key_ci", "status", 401, "ip",
                            "192.0.2.10"));
        add_event(f, NOW - 9 * MIN + i, "proxy.request",
                  json_pack("{s:s, s:s, s:s, s:s}", "provider", "openai", "account", "acme-openai",
                            "api_key_id", "key_ci", "status", "403"));
        /* not counted: other statuses, successful logins, logout failures */
        add_event(f, NOW - 8 * MIN + i, "proxy.request",
                  json_pack("{s:s, s:s, s:s, s:i}", "provider", "openai", "account", "acme-openai",
                            "api_key_id", "key_ok", "status", 429));
        add_event(f, NOW - 8 * MIN + i, "proxy.request",
                  json_pack("{s:s, s:s, s:s, s:i}", "provider", "openai", "account", "acme-openai",
                            "api_key_id", "key_ok", "status", 200));
        add_audit(f, NOW - 7 * MIN + i, "login.succeeded", "erin@acme.com", "192.0.2.2", "US", NULL,
                  NA, NA);
        add_audit(f, NOW - 7 * MIN + i, "logout.failed", "erin@acme.com", "192.0.2.2", "US", NULL,
                  NA, NA);
        add_audit(f, NOW - 7 * MIN + i, "api_key.created", "erin@acme.com", "192.0.2.2", "US", NULL,
                  NA, NA);
        /* counted: other audit auth failures (SSO), and a failure without an actor */
        add_audit(f, NOW - 6 * MIN + i, "sso_login.failed", "erin@acme.com", NULL, NULL, NULL, NA,
                  NA);
        add_audit(f, NOW - 6 * MIN + i, "login.failed", NULL, "192.0.2.3", NULL, NULL, NA, NA);
    }
    /* garbage in the log is skipped */
    struct ts_event bad = {.time = NOW - MIN, .type = "audit.login.failed", .json = "{not json"};
    assert_int_equal(ts_batch_add_event(f->b, &bad), 0);

    eval(f, &ana_auth_failures, "{\"threshold\": 3, \"distinct_ips\": 50}", NOW, &res);
    const struct ana_candidate *c = find(&res, "actor", "key_ci", "pattern", "failed_logins", NULL);
    assert_non_null(c);
    assert_true(c->value == 6);
    c = find(&res, "actor", "erin@acme.com", "pattern", "failed_logins", NULL);
    assert_non_null(c);
    assert_true(c->value == 3);
    c = find(&res, "actor", "unknown", "pattern", "failed_logins", NULL);
    assert_non_null(c);
    assert_true(c->value == 3);
    assert_null(find(&res, "actor", "key_ok", NULL));
    expect_n(&res, 3, "event types");
    ana_results_free(&res);
}

static void test_auth_collector(void **state)
{
    struct fx *f = *state;
    struct ana_results res = {0};
    static const char *const names[] = {"provider", "account", "actor", "pattern"};
    add_event(f, NOW - 20 * MIN, "collector.auth_failed",
              json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "provider", "anthropic", "account",
                        "acme-claude", "endpoint", "usage_messages", "status", 401, "actor",
                        "byokwatch-collector", "actor_type", "collector"));
    add_event(f, NOW - 15 * MIN, "collector.auth_failed",
              json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "provider", "anthropic", "account",
                        "acme-claude", "endpoint", "cost_report", "status", 403, "actor",
                        "byokwatch-collector", "actor_type", "collector"));
    /* a user of the same source who happens to be called the same fails once: kept apart */
    add_event(f, NOW - 25 * MIN, "audit.login.failed",
              json_pack("{s:s, s:s, s:s, s:s}", "provider", "anthropic", "account", "acme-claude",
                        "actor", "byokwatch-collector", "ip", "192.0.2.9"));

    eval(f, &ana_auth_failures, "{}", NOW, &res);
    expect_n(&res, 1, "collector");
    const struct ana_candidate *c = find(&res, "pattern", "collector_key_rejected", NULL);
    expect_labels(c, names, 4);
    assert_string_equal(ana_label_get(c, "provider"), "anthropic");
    assert_string_equal(ana_label_get(c, "account"), "acme-claude");
    assert_string_equal(ana_label_get(c, "actor"), "byokwatch-collector");
    assert_true(c->value == 2);
    assert_int_equal(c->starts_at, NOW - 20 * MIN);
    assert_true(json_integer_value(json_object_get(json_object_get(c->details, "endpoints"),
                                                   "cost_report")) == 403);
    ana_results_clear(&res);

    eval(f, &ana_auth_failures, "{\"include_collector\": false}", NOW, &res);
    expect_n(&res, 0, "include_collector false");
    /* a rejected key is a state: still firing after the window while no cycle succeeded */
    eval(f, &ana_auth_failures, "{}", NOW + 6 * HOUR, &res);
    expect_n(&res, 1, "collector key still rejected after the window");
    ana_results_clear(&res);
    /* a later successful cycle clears it */
    char health[128];
    snprintf(health, sizeof health, "{\"last_success\": %lld}", (long long)(NOW + HOUR));
    assert_int_equal(ts_batch_put(f->b, TS_META, "health/acme-claude", 18, health, strlen(health)),
                     0);
    eval(f, &ana_auth_failures, "{}", NOW + 2 * HOUR, &res);
    expect_n(&res, 0, "collector key works again");
    /* a rejection after that success fires again */
    add_event(f, NOW + 90 * MIN, "collector.auth_failed",
              json_pack("{s:s, s:s, s:s, s:i}", "provider", "anthropic", "account", "acme-claude",
                        "endpoint", "usage_messages", "status", 401));
    eval(f, &ana_auth_failures, "{}", NOW + 2 * HOUR, &res);
    expect_n(&res, 1, "rejected after the last success");
    ana_results_free(&res);
}

/* ---- geo_anomaly against the store ---- */

#define NYC "US", "New York", 40.7128, -74.0060
#define BOS "US", "Boston", 42.3601, -71.0589
#define LON "GB", "London", 51.5074, -0.1278
#define CCH "CN", "Changchun", 43.88, 125.32

static void session(struct fx *f, int64_t t, const char *actor, const char *ip, const char *country,
                    const char *city, double lat, double lon)
{
    add_audit(f, t, "login.succeeded", actor, ip, country, city, lat, lon);
}

/* Steady users: sign-ins every 6h for 20 days, alternating New York and Boston. */
static void steady(struct fx *f, const char *actor)
{
    for (int64_t t = NOW - 20 * DAY; t < NOW; t += 6 * HOUR) {
        if ((t / (6 * HOUR)) % 2)
            session(f, t, actor, "192.0.2.20", NYC);
        else
            session(f, t, actor, "192.0.2.21", BOS);
    }
}

static void seen_keys(struct fx *f, const char *actor, const char *cc, int64_t first_cc,
                      int64_t first_user)
{
    char key[256];
    snprintf(key, sizeof key, "seen/acme-openai/country/%s/%s", actor, cc);
    put_meta(f, key, first_cc);
    snprintf(key, sizeof key, "seen/acme-openai/user/%s", actor);
    put_meta(f, key, first_user);
}

static void test_geo_issue_example(void **state)
{
    struct fx *f = *state;
    struct ana_results res = {0};
    static const char *const names[] = {"provider", "account", "actor", "country", "anomaly"};
    steady(f, "alice@acme.com");
    steady(f, "carol@acme.com");
    session(f, NOW - 3 * HOUR, "bob@acme.com", "192.0.2.30", NYC);
    session(f, NOW - HOUR, "bob@acme.com", "175.16.199.5", CCH);

    eval(f, &ana_geo_anomaly,
         "{\"allowed_countries\": [\"US\", \"GB\", \"DE\"], \"new_country\": false}", NOW, &res);
    expect_n(&res, 2, "bob");
    const struct ana_candidate *c = find(&res, "anomaly", "impossible_travel", NULL);
    expect_labels(c, names, 5);
    assert_string_equal(ana_label_get(c, "actor"), "bob@acme.com");
    assert_string_equal(ana_label_get(c, "country"), "CN");
    assert_string_equal(ana_label_get(c, "provider"), "openai");
    assert_string_equal(ana_label_get(c, "account"), "acme-openai");
    double km = ana_geo_haversine_km(40.7128, -74.0060, 43.88, 125.32);
    assert_true(fabs(c->value - km / 2.0) < 1e-6);
    assert_true(c->threshold == 900);
    assert_string_equal(c->unit, "kmh");
    assert_int_equal(c->starts_at, NOW - HOUR);
    json_t *from = json_object_get(c->details, "from"), *to = json_object_get(c->details, "to");
    assert_string_equal(json_string_value(json_object_get(from, "country")), "US");
    assert_string_equal(json_string_value(json_object_get(from, "city")), "New York");
    assert_int_equal(json_integer_value(json_object_get(from, "time")), NOW - 3 * HOUR);
    assert_string_equal(json_string_value(json_object_get(to, "city")), "Changchun");
    assert_true(fabs(json_real_value(json_object_get(c->details, "distance_km")) - km) < 1e-6);
    assert_true(json_real_value(json_object_get(c->details, "hours")) == 2.0);

    c = find(&res, "anomaly", "disallowed_country", NULL);
    expect_labels(c, names, 5);
    assert_string_equal(ana_label_get(c, "actor"), "bob@acme.com");
    assert_string_equal(ana_label_get(c, "country"), "CN");
    assert_int_equal(c->starts_at, NOW - HOUR);
    assert_non_null(strstr(c->summary, "CN"));
    ana_results_clear(&res);

    /* with history in the seen/ keys, CN is also new for bob (known for 60 days) */
    seen_keys(f, "bob@acme.com", "US", NOW - 60 * DAY, NOW - 60 * DAY);
    seen_keys(f, "bob@acme.com", "CN", NOW - HOUR, NOW - 60 * DAY);
    seen_keys(f, "alice@acme.com", "US", NOW - 60 * DAY, NOW - 60 * DAY);
    seen_keys(f, "carol@acme.com", "US", NOW - 60 * DAY, NOW - 60 * DAY);
    eval(f, &ana_geo_anomaly, "{\"allowed_countries\": [\"US\", \"GB\", \"DE\"]}", NOW, &res);
    expect_n(&res, 3, "bob with seen keys");
    c = find(&res, "anomaly", "new_country", NULL);
    expect_labels(c, names, 5);
    assert_string_equal(ana_label_get(c, "country"), "CN");
    assert_int_equal(c->starts_at, NOW - HOUR);
    assert_string_equal(json_string_value(json_object_get(c->details, "source")), "seen");
    ana_results_clear(&res);

    /* once bob's sessions leave the 24h lookback everything clears */
    eval(f, &ana_geo_anomaly, "{\"allowed_countries\": [\"US\", \"GB\", \"DE\"]}", NOW + DAY, &res);
    expect_n(&res, 0, "a day later");
    ana_results_free(&res);
}

static void test_geo_steady_quiet(void **state)
{
    struct fx *f = *state;
    struct ana_results res = {0};
    steady(f, "alice@acme.com");
    steady(f, "carol@acme.com");
    /* failed logins from far away are not sessions */
    add_audit(f, NOW - 30 * MIN, "login.failed", "alice@acme.com", "175.16.199.5", CCH);
    /* without seen/ keys (scan fallback) and with them */
    eval(f, &ana_geo_anomaly, "{\"allowed_countries\": [\"US\", \"GB\", \"DE\"]}", NOW, &res);
    expect_n(&res, 0, "steady, scan");
    seen_keys(f, "alice@acme.com", "US", NOW - 20 * DAY, NOW - 20 * DAY);
    seen_keys(f, "carol@acme.com", "US", NOW - 20 * DAY, NOW - 20 * DAY);
    eval(f, &ana_geo_anomaly, "{\"allowed_countries\": [\"US\"], \"max_speed_kmh\": 300}", NOW,
         &res);
    expect_n(&res, 0, "steady, seen keys");
    /* the same data with a speed limit below NY-Boston every 6h (306 km / 6h = 51 km/h) fires */
    eval(f, &ana_geo_anomaly, "{\"max_speed_kmh\": 40}", NOW, &res);
    if (!find(&res, "anomaly", "impossible_travel", "actor", "alice@acme.com", NULL))
        fail_msg("a 40 km/h limit must catch the 51 km/h commute");
    ana_results_free(&res);
}

static void test_geo_travel_cases(void **state)
{
    struct fx *f = *state;
    struct ana_results res = {0};
    /* previous session before the lookback: NY 27h ago, London 23h ago (5570 km / 4h) */
    session(f, NOW - 27 * HOUR, "gina@acme.com", "192.0.2.40", NYC);
    session(f, NOW - 23 * HOUR, "gina@acme.com", "192.0.2.41", LON);
    /* missing coordinates: NY, then CN without lat/lon, then nothing to compare */
    session(f, NOW - 3 * HOUR, "hank@acme.com", "192.0.2.50", NYC);
    session(f, NOW - 2 * HOUR, "hank@acme.com", "175.16.199.5", "CN", NULL, NA, NA);
    /* nearby: New York then Boston (306 km) 10 minutes apart: 1836 km/h -> fires;
     * New York then Newark (~15 km, under min_distance) a second apart -> ignored */
    session(f, NOW - 5 * HOUR, "ivy@acme.com", "192.0.2.60", NYC);
    session(f, NOW - 5 * HOUR + 1, "ivy@acme.com", "192.0.2.61", "US", "Newark", 40.7357, -74.1724);
    session(f, NOW - 4 * HOUR, "jon@acme.com", "192.0.2.70", NYC);
    session(f, NOW - 4 * HOUR + 10 * MIN, "jon@acme.com", "192.0.2.71", BOS);
    /* zero gap far apart */
    session(f, NOW - 6 * HOUR, "kim@acme.com", "192.0.2.80", NYC);
    session(f, NOW - 6 * HOUR, "kim@acme.com", "192.0.2.81", LON);
    /* a slow trip: NY then London 8h later (696 km/h) */
    session(f, NOW - 20 * HOUR, "lee@acme.com", "192.0.2.90", NYC);
    session(f, NOW - 12 * HOUR, "lee@acme.com", "192.0.2.91", LON);

    eval(f, &ana_geo_anomaly, "{\"new_country\": false}", NOW, &res);
    const struct ana_candidate *c;
    c = find(&res, "actor", "gina@acme.com", "anomaly", "impossible_travel", NULL);
    assert_non_null(c);
    assert_string_equal(ana_label_get(c, "country"), "GB");
    assert_true(fabs(c->value - ana_geo_haversine_km(40.7128, -74.0060, 51.5074, -0.1278) / 4) <
                1e-6);
    assert_null(find(&res, "actor", "hank@acme.com", NULL));
    assert_null(find(&res, "actor", "ivy@acme.com", NULL));
    c = find(&res, "actor", "jon@acme.com", "anomaly", "impossible_travel", NULL);
    assert_non_null(c);
    assert_string_equal(ana_label_get(c, "country"), "US");
    c = find(&res, "actor", "kim@acme.com", "anomaly", "impossible_travel", NULL);
    assert_non_null(c);
    assert_true(isnan(c->value)); /* zero gap: no finite speed */
    assert_true(json_real_value(json_object_get(c->details, "hours")) == 0.0);
    assert_null(find(&res, "actor", "lee@acme.com", NULL));
    expect_n(&res, 3, "travel cases");
    ana_results_clear(&res);

    /* a higher limit lets gina's 1393 km/h through; min_distance 500 drops jon's 306 km */
    eval(f, &ana_geo_anomaly,
         "{\"new_country\": false, \"max_speed_kmh\": 1500, \"min_distance_km\": 500}", NOW, &res);
    assert_null(find(&res, "actor", "gina@acme.com", NULL));
    assert_null(find(&res, "actor", "jon@acme.com", NULL));
    assert_non_null(find(&res, "actor", "kim@acme.com", NULL));
    expect_n(&res, 1, "higher limits");
    ana_results_free(&res);
}

static void test_geo_new_country_seen(void **state)
{
    struct fx *f = *state;
    struct ana_results res = {0};
    static const struct {
        const char *actor;
        int64_t first_gb, first_user; /* relative to NOW */
        int want;
    } cases[] = {
        {"old@acme.com", -2 * HOUR, -30 * DAY, 1},   /* outside learning: new */
        {"young@acme.com", -2 * HOUR, -10 * DAY, 0}, /* within learning: still learning */
        {"edge@acme.com", -2 * HOUR, -2 * HOUR - 14 * DAY, 1},
        {"known@acme.com", -40 * DAY, -60 * DAY, 0}, /* GB known for long */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        session(f, NOW - 2 * HOUR, cases[i].actor, "192.0.2.100", "GB", "London", NA, NA);
        seen_keys(f, cases[i].actor, "GB", NOW + cases[i].first_gb, NOW + cases[i].first_user);
    }
    eval(f, &ana_geo_anomaly, "{}", NOW, &res);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct ana_candidate *c =
            find(&res, "actor", cases[i].actor, "anomaly", "new_country", NULL);
        if (!!c != cases[i].want) {
            dump(&res);
            fail_msg("%s: new_country %d, want %d", cases[i].actor, !!c, cases[i].want);
        }
        if (c)
            assert_string_equal(ana_label_get(c, "country"), "GB");
    }
    expect_n(&res, 2, "seen keys");
    ana_results_clear(&res);
    eval(f, &ana_geo_anomaly, "{\"new_country\": false}", NOW, &res);
    expect_n(&res, 0, "new_country off");
    ana_results_free(&res);
}

static void test_geo_new_country_scan(void **state)
{
    struct fx *f = *state;
    struct ana_results res = {0};
    /* no seen/ keys: the bounded scan decides */
    steady(f, "alice@acme.com"); /* US for 20 days, then GB 2h ago: new */
    session(f, NOW - 2 * HOUR, "alice@acme.com", "192.0.2.110", "GB", "London", NA, NA);
    steady(f, "carol@acme.com"); /* GB 5 days ago too: not new */
    session(f, NOW - 5 * DAY, "carol@acme.com", "192.0.2.111", "GB", "London", NA, NA);
    session(f, NOW - 2 * HOUR, "carol@acme.com", "192.0.2.112", "GB", "London", NA, NA);
    /* first ever sessions within the lookback: no baseline, nothing is new */
    session(f, NOW - 5 * HOUR, "newbie@acme.com", "192.0.2.113", "US", NULL, NA, NA);
    session(f, NOW - 2 * HOUR, "newbie@acme.com", "192.0.2.114", "GB", NULL, NA, NA);

    eval(f, &ana_geo_anomaly, "{}", NOW, &res);
    const struct ana_candidate *c =
        find(&res, "actor", "alice@acme.com", "anomaly", "new_country", NULL);
    assert_non_null(c);
    assert_string_equal(ana_label_get(c, "country"), "GB");
    assert_string_equal(json_string_value(json_object_get(c->details, "source")), "scan");
    assert_int_equal(c->starts_at, NOW - 2 * HOUR);
    expect_n(&res, 1, "scan fallback");
    ana_results_clear(&res);

    /* with a 3d learning the scan covers [now - 4d, now - 1d) and misses carol's GB visit
     * 5 days ago, so GB is new for her too */
    eval(f, &ana_geo_anomaly, "{\"learning\": \"3d\"}", NOW, &res);
    assert_non_null(find(&res, "actor", "carol@acme.com", "anomaly", "new_country", NULL));
    assert_non_null(find(&res, "actor", "alice@acme.com", "anomaly", "new_country", NULL));
    expect_n(&res, 2, "short learning");
    ana_results_free(&res);
}

/* ---- rate_limited against the store ---- */

static void put_point(struct fx *f, const char *account, const char *status, const char *model,
                      int64_t bucket, double v)
{
    struct ts_label l[4] = {
        {"provider", "openai"}, {"account", account}, {"status", status}, {"model", model}};
    const struct ts_series *s = NULL;
    if (ts_series_get(f->st, "http_errors", l, 4, &s, g_err, sizeof g_err) != 0)
        fail_msg("ts_series_get: %s", g_err);
    assert_int_equal(ts_batch_add(f->b, s->id, bucket, v), 0);
}

static void test_rate_limited(void **state)
{
    struct fx *f = *state;
    struct ana_results res = {0};
    const int64_t H = NOW; /* hour-aligned */
    /* acme-openai: 60 in the last full hour + 40 in the current one = 100 at 12:30 */
    put_point(f, "acme-openai", "429", "gpt-4o", H - HOUR, 50);
    put_point(f, "acme-openai", "429", "gpt-4o-mini", H - HOUR, 10);
    put_point(f, "acme-openai", "429", "gpt-4o", H, 40);
    put_point(f, "acme-openai", "429", "gpt-4o", H - 2 * HOUR, 500); /* outside the window */
    put_point(f, "acme-openai", "500", "gpt-4o", H, 1000);           /* not a 429 */
    /* other-openai: 99 */
    put_point(f, "other-openai", "429", "gpt-4o", H, 99);

    static const struct {
        const char *what, *params;
        int64_t now;
        size_t n;
        const char *account; /* the firing group's account label, or NULL */
        double value;
    } cases[] = {
        {"exactly the threshold per account fires", "{\"group_by\": [\"account\"]}", H + 30 * MIN,
         1, "acme-openai", 100},
        {"threshold + 1 does not", "{\"threshold\": 101, \"group_by\": [\"account\"]}",
         H + 30 * MIN, 0, NULL, 0},
        {"default group_by sums the provider", "{}", H + 30 * MIN, 1, NULL, 199},
        {"99 alone does not fire", "{\"providers\": [\"other-openai\"]}", H + 30 * MIN, 0, NULL, 0},
        {"a 2h window reaches the old burst", "{\"window\": \"2h\", \"group_by\": [\"account\"]}",
         H + 30 * MIN, 1, "acme-openai", 600},
        {"at the hour only the last full hour counts", "{\"group_by\": [\"account\"]}", H, 0, NULL,
         0},
        {"by model", "{\"threshold\": 90, \"group_by\": [\"account\", \"model\"]}", H + 30 * MIN, 2,
         "acme-openai", 90},
    };
    flush(f);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        eval(f, &ana_rate_limited, cases[i].params, cases[i].now, &res);
        if (res.n != cases[i].n) {
            dump(&res);
            fail_msg("%s: %zu candidates, want %zu", cases[i].what, res.n, cases[i].n);
        }
        if (cases[i].n) {
            const struct ana_candidate *c =
                cases[i].account ? find(&res, "account", cases[i].account, NULL) : &res.v[0];
            if (!c || c->value != cases[i].value)
                fail_msg("%s: value %g, want %g", cases[i].what, c ? c->value : NAN,
                         cases[i].value);
            assert_string_equal(ana_label_get(c, "provider"), "openai");
            assert_string_equal(c->unit, "count");
            if (!cases[i].account)
                assert_int_equal(c->n_labels, 1);
        }
        ana_results_clear(&res);
    }
    /* labels and numbers of the per-account alert */
    eval(f, &ana_rate_limited, "{\"group_by\": [\"provider\", \"account\"]}", H + 30 * MIN, &res);
    expect_n(&res, 1, "per account");
    assert_int_equal(res.v[0].n_labels, 2);
    assert_string_equal(ana_label_get(&res.v[0], "account"), "acme-openai");
    assert_true(res.v[0].threshold == 100);
    assert_string_equal(res.v[0].window, "1h");
    assert_int_equal(res.v[0].starts_at, H - HOUR);
    ana_results_free(&res);
}

static void test_rate_limited_no_data(void **state)
{
    struct fx *f = *state;
    struct ana_results res = {0};
    eval(f, &ana_rate_limited, "{}", NOW, &res);
    expect_n(&res, 0, "no data");
    ana_results_free(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_haversine),
        cmocka_unit_test(test_travel_decision),
        cmocka_unit_test(test_travel_back),
        cmocka_unit_test(test_new_country_decision),
        cmocka_unit_test(test_allowed_countries),
        cmocka_unit_test_setup_teardown(test_auth_issue_example, fx_setup, fx_teardown),
        cmocka_unit_test(test_auth_table),
        cmocka_unit_test_setup_teardown(test_auth_event_types, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_auth_collector, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_geo_issue_example, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_geo_steady_quiet, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_geo_travel_cases, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_geo_new_country_seen, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_geo_new_country_scan, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rate_limited, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rate_limited_no_data, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
