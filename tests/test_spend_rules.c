/*
 * Tests for the spend rules (analyzers/spend_spike.c, spend_threshold.c,
 * budget_forecast.c, cost_drift.c) and the spend they share (spend.h):
 * table tests of the pure arithmetic (baselines, learning, thresholds,
 * months, drift), then evaluate() against a real store in a temporary
 * directory with planted usage, billed cost and a config loaded by
 * cfg_load.
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

#include "../analyzers/engine.h"
#include "../analyzers/spend.h"
#include "../analyzers/spend_spike.h"
#include "../common/timeutil.h"
#include "../storage/ts.h"
#include "testutil.h"

#define HOUR 3600LL
#define DAY 86400LL
#define BASE 1793491200LL /* 2026-11-01T00:00:00Z */

extern const struct ana_rule_ops ana_spend_spike, ana_spend_threshold, ana_budget_forecast,
    ana_cost_drift;

static void expect_close(double got, double want, const char *what)
{
    double tol = 1e-9 * (fabs(want) > 1.0 ? fabs(want) : 1.0);
    if (isnan(want) ? !isnan(got) : !(fabs(got - want) <= tol))
        fail_msg("%s: got %.17g, want %.17g", what, got, want);
}

static int64_t T(const char *rfc3339)
{
    int64_t t = 0;
    if (tu_parse_time(rfc3339, &t) != 0)
        fail_msg("bad time %s", rfc3339);
    return t;
}

/* ==== pure arithmetic ==================================================== */

static void test_spike_fires_table(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        double value, baseline, threshold, min_spend;
        int learned, fires;
        double ratio;
    } cases[] = {
        {"ratio above threshold", 300, 100, 1.5, 0, 1, 1, 3.0},
        {"exactly at threshold fires", 150, 100, 1.5, 0, 1, 1, 1.5},
        {"just below threshold", 149.99, 100, 1.5, 0, 1, 0, 1.4999},
        {"0.3/0.2 lands on 1.5 despite rounding", 0.3, 0.2, 1.5, 0, 1, 1, 0.3 / 0.2},
        {"learning not met", 300, 100, 1.5, 0, 0, 0, 3.0},
        {"missing baseline (no window counted)", 300, NAN, 1.5, 0, 1, 0, NAN},
        {"zero baseline is new spend", 25, 0, 1.5, 20, 1, 1, NAN},
        {"zero baseline below min_spend", 15, 0, 1.5, 20, 1, 0, NAN},
        {"zero baseline zero value", 0, 0, 1.5, 0, 1, 0, NAN},
        {"zero baseline but not learned", 25, 0, 1.5, 0, 0, 0, NAN},
        {"spike below min_spend floor", 30, 10, 1.5, 50, 1, 0, 3.0},
        {"spike exactly at min_spend floor", 50, 10, 1.5, 50, 1, 1, 5.0},
        {"drop never fires", 10, 100, 1.5, 0, 1, 0, 0.1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double ratio = -1;
        int got = ana_spike_fires(cases[i].value, cases[i].baseline, cases[i].threshold,
                                  cases[i].min_spend, cases[i].learned, &ratio);
        if (got != cases[i].fires)
            fail_msg("%s: fires %d, want %d", cases[i].what, got, cases[i].fires);
        if (isnan(cases[i].ratio) ? !isnan(ratio) : fabs(ratio - cases[i].ratio) > 1e-3)
            fail_msg("%s: ratio %g, want %g", cases[i].what, ratio, cases[i].ratio);
    }
}

static void test_spike_baseline_table(void **state)
{
    (void)state;
    const int64_t starts[6] = {600, 500, 400, 300, 200, 100}; /* newest first */
    static const struct {
        const char *what;
        double spend[6];
        int64_t first;
        double want;
        size_t present;
    } cases[] = {
        {"all present, median of six", {1, 2, 3, 4, 5, 6}, 100, 3.5, 6},
        {"windows before first data are missing", {10, 10, 10, 0, 0, 0}, 400, 10, 3},
        {"missing is not zero (same spend, first earlier)", {10, 10, 10, 0, 0, 0}, 100, 5, 6},
        {"first inside a window drops that window", {7, 8, 9, 1, 1, 1}, 450, 7.5, 2},
        {"zeros after first count (gaps)", {0, 0, 0, 0, 9, 9}, 100, 0, 6},
        {"no data at all", {0, 0, 0, 0, 0, 0}, INT64_MAX, NAN, 0},
        {"first after every window", {1, 1, 1, 1, 1, 1}, 601, NAN, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double scratch[6];
        size_t present = 99;
        double got =
            ana_spike_baseline(cases[i].spend, starts, 6, cases[i].first, scratch, &present);
        expect_close(got, cases[i].want, cases[i].what);
        if (present != cases[i].present)
            fail_msg("%s: %zu windows counted, want %zu", cases[i].what, present, cases[i].present);
    }
}

static void test_spike_learned_table(void **state)
{
    (void)state;
    const int64_t now = BASE + 10 * DAY + 1800, learn = 7 * DAY;
    static const struct {
        int64_t first_offset; /* first = now - learn + offset */
        int want;
    } cases[] = {{0, 1}, {-3600, 1}, {1, 0}, {3 * DAY, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(ana_spike_learned(now - learn + cases[i].first_offset, now, learn),
                         cases[i].want);
    assert_int_equal(ana_spike_learned(INT64_MAX, now, learn), 0);
}

static void test_spike_windows_table(void **state)
{
    (void)state;
    static const struct {
        const char *what, *now;
        int64_t window, baseline;
        int show;
        size_t n;
        const char *cur, *base, *last; /* starts[0], starts[1], starts[n-1] */
    } cases[] = {
        {"1d/14d mid-day: baseline is 14 UTC days", "2026-11-21T13:30:00Z", DAY, 14 * DAY, 0, 15,
         "2026-11-20T13:00:00Z", "2026-11-19T00:00:00Z", "2026-11-06T00:00:00Z"},
        {"1d/14d at UTC midnight", "2026-11-21T00:00:00Z", DAY, 14 * DAY, 0, 15,
         "2026-11-20T00:00:00Z", "2026-11-19T00:00:00Z", "2026-11-06T00:00:00Z"},
        {"1d/14d one second before midnight", "2026-11-20T23:59:59Z", DAY, 14 * DAY, 0, 15,
         "2026-11-19T23:00:00Z", "2026-11-18T00:00:00Z", "2026-11-05T00:00:00Z"},
        {"7d/28d", "2026-11-21T05:00:00Z", 7 * DAY, 28 * DAY, 0, 5, "2026-11-14T05:00:00Z",
         "2026-11-07T00:00:00Z", "2026-10-17T00:00:00Z"},
        {"baseline not a multiple of the window", "2026-11-21T13:00:00Z", DAY, 10 * DAY + 12 * HOUR,
         0, 11, "2026-11-20T13:00:00Z", "2026-11-19T00:00:00Z", "2026-11-10T00:00:00Z"},
        {"1h/1d rolls by the hour", "2026-11-21T00:59:59Z", HOUR, DAY, 0, 25,
         "2026-11-20T23:00:00Z", "2026-11-20T22:00:00Z", "2026-11-19T23:00:00Z"},
        {"6h/2d", "2026-11-21T13:00:00Z", 6 * HOUR, 2 * DAY, 0, 9, "2026-11-21T07:00:00Z",
         "2026-11-21T01:00:00Z", "2026-11-19T07:00:00Z"},
        {"same hour of week, 4 weeks", "2026-11-21T13:10:00Z", HOUR, 28 * DAY, 1, 5,
         "2026-11-21T12:00:00Z", "2026-11-14T12:00:00Z", "2026-10-24T12:00:00Z"},
        {"same hour of week, baseline 20d holds 2 weeks", "2026-11-21T13:10:00Z", HOUR, 20 * DAY, 1,
         3, "2026-11-21T12:00:00Z", "2026-11-14T12:00:00Z", "2026-11-07T12:00:00Z"},
        {"same hour of week ignored for 1d windows", "2026-11-21T13:10:00Z", DAY, 14 * DAY, 1, 15,
         "2026-11-20T13:00:00Z", "2026-11-19T00:00:00Z", "2026-11-06T00:00:00Z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t starts[64];
        size_t n = ana_spike_windows(T(cases[i].now), cases[i].window, cases[i].baseline,
                                     cases[i].show, starts, 64);
        if (n != cases[i].n)
            fail_msg("%s: %zu windows, want %zu", cases[i].what, n, cases[i].n);
        if (starts[0] != T(cases[i].cur) || starts[1] != T(cases[i].base) ||
            starts[n - 1] != T(cases[i].last))
            fail_msg("%s: starts %lld, %lld..%lld", cases[i].what, (long long)starts[0],
                     (long long)starts[1], (long long)starts[n - 1]);
        if (starts[1] + cases[i].window > starts[0])
            fail_msg("%s: the baseline overlaps the current window", cases[i].what);
        for (size_t k = 2; k < n; k++) /* newest first, evenly spaced */
            assert_int_equal(starts[k - 1] - starts[k], starts[1] - starts[2]);
    }
    assert_int_equal(ana_spike_windows(0, HOUR, 6 * DAY, 1, NULL, 0), 1); /* no full week */
}

static void test_month_table(void **state)
{
    (void)state;
    static const struct {
        const char *t, *start, *next;
    } cases[] = {
        {"2026-11-16T05:00:00Z", "2026-11-01", "2026-12-01"},
        {"2026-12-31T23:59:59Z", "2026-12-01", "2027-01-01"},
        {"2027-01-01T00:00:00Z", "2027-01-01", "2027-02-01"},
        {"2027-02-28T23:00:00Z", "2027-02-01", "2027-03-01"},
        {"2028-02-29T12:00:00Z", "2028-02-01", "2028-03-01"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(ana_month_start(T(cases[i].t)), T(cases[i].start));
        assert_int_equal(ana_month_next(T(cases[i].t)), T(cases[i].next));
    }
}

static void test_projection_table(void **state)
{
    (void)state;
    static const struct {
        const char *what, *upto;
        double actual, want;
    } cases[] = {
        {"Feb 2027 (28 days) half way", "2027-02-15T00:00:00Z", 100, 200},
        {"Feb 2028 (29 days) half way", "2028-02-15T12:00:00Z", 100, 200},
        {"31-day month half way", "2026-12-16T12:00:00Z", 100, 200},
        {"30-day month, 10 of 30 days", "2026-11-11T00:00:00Z", 50, 150},
        {"exactly one day elapsed", "2026-11-02T00:00:00Z", 10, 300},
        {"23 hours: too early", "2026-11-01T23:00:00Z", 10, NAN},
        {"first hour of the month", "2026-11-01T00:00:00Z", 0, NAN},
        {"last hour of a 31-day month", "2026-12-31T23:00:00Z", 743, 744},
        {"minutes past the hour are not elapsed", "2026-11-11T00:59:00Z", 50, 150},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_close(ana_budget_projection(cases[i].actual, T(cases[i].upto)), cases[i].want,
                     cases[i].what);
}

static void test_budget_crossed_table(void **state)
{
    (void)state;
    const double std[] = {80, 100}, odd[] = {100, 50, 80};
    static const struct {
        double spend;
        int odd;
        double want;
    } cases[] = {
        {799.99, 0, NAN}, {800, 0, 80},  {999.99, 0, 80}, {1000, 0, 100}, {5000, 0, 100},
        {0, 0, NAN},      {NAN, 0, NAN}, {600, 1, 50},    {850, 1, 80},   {1200, 1, 100},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "spend %g of 1000 (case %zu)", cases[i].spend, i);
        expect_close(ana_budget_crossed(cases[i].spend, 1000, cases[i].odd ? odd : std,
                                        cases[i].odd ? 3 : 2),
                     cases[i].want, what);
    }
}

static void test_drift_table(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        double billed, est, max_pct, min_usd;
        int fires;
        double pct;
    } cases[] = {
        {"15% over", 100, 115, 10, 1, 1, 15},
        {"exactly at the limit stays quiet", 100, 110, 10, 1, 0, 10},
        {"just over the limit", 100, 110.01, 10, 1, 1, 10.01},
        {"under-estimate counts too", 100, 80, 10, 1, 1, 20},
        {"within the limit", 100, 95, 10, 1, 0, 5},
        {"below min_spend", 0.5, 0.9, 10, 1, 0, 80},
        {"est alone reaches min_spend", 0.5, 1.0, 10, 1, 1, 100},
        {"billed zero, estimate positive", 0, 5, 10, 1, 1, NAN},
        {"nothing either way", 0, 0, 10, 0, 0, NAN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double pct = -1;
        int got = ana_drift_fires(cases[i].billed, cases[i].est, cases[i].max_pct, cases[i].min_usd,
                                  &pct);
        if (got != cases[i].fires)
            fail_msg("%s: fires %d, want %d", cases[i].what, got, cases[i].fires);
        expect_close(pct, cases[i].pct, cases[i].what);
    }
}

static void test_fmt_usd_table(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *want;
    } cases[] = {{0, "$0.00"},           {212.4, "$212.40"},     {1234.5, "$1,234.50"},
                 {999.999, "$1,000.00"}, {-3.1, "-$3.10"},       {1234567.891, "$1,234,567.89"},
                 {0.004, "$0.00"},       {100000, "$100,000.00"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[32];
        ana_spend_fmt_usd(cases[i].v, buf, sizeof buf);
        assert_string_equal(buf, cases[i].want);
    }
}

static void test_spend_spans_table(void **state)
{
    (void)state;
    static const struct {
        const char *what, *from, *to;
        size_t n;
        struct {
            const char *from, *to;
            int64_t step;
        } want[3];
    } cases[] = {
        {"rolling day mid-day: one hourly read from midnight",
         "2026-11-20T13:00:00Z",
         "2026-11-21T13:00:00Z",
         1,
         {{"2026-11-20", "2026-11-21T13:00:00Z", HOUR}}},
        {"day-aligned day", "2026-11-20", "2026-11-21", 1, {{"2026-11-20", "2026-11-21", DAY}}},
        {"a week mid-day",
         "2026-11-14T05:00:00Z",
         "2026-11-21T05:00:00Z",
         3,
         {{"2026-11-14", "2026-11-15", HOUR},
          {"2026-11-15", "2026-11-21", DAY},
          {"2026-11-21", "2026-11-21T05:00:00Z", HOUR}}},
        {"month to date",
         "2026-11-01",
         "2026-11-16T07:00:00Z",
         2,
         {{"2026-11-01", "2026-11-16", DAY}, {"2026-11-16", "2026-11-16T07:00:00Z", HOUR}}},
        {"hours inside one day",
         "2026-11-16T03:00:00Z",
         "2026-11-16T07:00:00Z",
         1,
         {{"2026-11-16", "2026-11-16T07:00:00Z", HOUR}}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ana_spend_span sp[3];
        size_t n = ana_spend_spans(T(cases[i].from), T(cases[i].to), sp);
        if (n != cases[i].n)
            fail_msg("%s: %zu spans, want %zu", cases[i].what, n, cases[i].n);
        for (size_t k = 0; k < n; k++) {
            if (sp[k].from != T(cases[i].want[k].from) || sp[k].to != T(cases[i].want[k].to) ||
                sp[k].step != cases[i].want[k].step)
                fail_msg("%s: span %zu is [%lld, %lld) step %lld", cases[i].what, k,
                         (long long)sp[k].from, (long long)sp[k].to, (long long)sp[k].step);
        }
    }
    struct ana_spend_span sp[3];
    assert_int_equal(ana_spend_spans(T("2026-11-16"), T("2026-11-16"), sp), 0);
}

/* ==== against a real store =============================================== */

static int64_t g_clock = BASE + 60 * DAY;
static int64_t fake_clock(void)
{
    return g_clock;
}

struct fx {
    char *tmp;
    struct ts_store *st;
    struct ts_batch *b;
    struct config *cfg;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    char err[512];
    if (!f || !(f->tmp = tu_mkdtemp()) || !(f->b = ts_batch_new()))
        return -1;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/db", f->tmp);
    struct ts_options o = {.create = 1, .clock = fake_clock};
    if (ts_open(dir, &o, &f->st, err, sizeof err) != 0) {
        fprintf(stderr, "ts_open: %s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    if (f->st)
        ts_close(f->st);
    ts_batch_free(f->b);
    cfg_free(f->cfg);
    tu_rmtree(f->tmp);
    free(f->tmp);
    free(f);
    return 0;
}

/* Adds metric{labels} = v at bucket t; labels are "name=value" separated by spaces. */
static void put(struct fx *f, const char *metric, const char *labels, int64_t t, double v)
{
    char buf[512], err[512];
    struct ts_label l[10];
    size_t n = 0;
    snprintf(buf, sizeof buf, "%s", labels);
    for (char *p = buf; *p && n < 10;) {
        char *sp = strchr(p, ' '), *eq = strchr(p, '=');
        if (sp)
            *sp = '\0';
        assert_non_null(eq);
        *eq = '\0';
        l[n++] = (struct ts_label){p, eq + 1};
        p = sp ? sp + 1 : p + strlen(p);
    }
    const struct ts_series *s = NULL;
    if (ts_series_get(f->st, metric, l, n, &s, err, sizeof err) != 0)
        fail_msg("ts_series_get: %s", err);
    assert_int_equal(ts_batch_add(f->b, s->id, t, v), 0);
}

/* Hourly est_cost_usd = v for every hour in [from, to). */
static void put_hours(struct fx *f, const char *labels, int64_t from, int64_t to, double v)
{
    for (int64_t t = from; t < to; t += HOUR)
        put(f, "est_cost_usd", labels, t, v);
}

static void flush(struct fx *f)
{
    char err[512];
    if (ts_write(f->st, f->b, err, sizeof err) != 0)
        fail_msg("ts_write: %s", err);
    ts_batch_clear(f->b);
}

/* Loads a config with two sources, two business units and the given rule. */
static void load_config(struct fx *f, const char *rule_json)
{
    char path[4200], text[8192], err[1024];
    snprintf(path, sizeof path, "%s/conf.json", f->tmp);
    snprintf(
        text, sizeof text,
        "{\"providers\": ["
        " {\"type\": \"openai\", \"name\": \"acme\", \"admin_key_env\": \"BW_SPEND_TEST_KEY\"},"
        " {\"type\": \"anthropic\", \"name\": \"claude\","
        "  \"admin_key_env\": \"BW_SPEND_TEST_KEY\"}],"
        " \"business_units\": {\"Engineering\": {\"projects\": [\"proj_eng\"]},"
        "  \"Marketing\": {\"projects\": [\"proj_mkt\"]}},"
        " \"rules\": [%s]}",
        rule_json);
    assert_int_equal(tu_write_file(path, text, 0600), 0);
    cfg_free(f->cfg);
    f->cfg = NULL;
    if (cfg_load(path, &f->cfg, err, sizeof err) != 0)
        fail_msg("cfg_load: %s", err);
}

static const struct ana_rule_ops *ops_of(const char *type)
{
    const struct ana_rule_ops *all[] = {&ana_spend_spike, &ana_spend_threshold,
                                        &ana_budget_forecast, &ana_cost_drift};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(all[i]->type, type) == 0)
            return all[i];
    }
    fail_msg("no rule type %s", type);
    return NULL;
}

/* Loads rule_json as the only rule and evaluates it at now into res (cleared first). */
static void eval_rule(struct fx *f, const char *rule_json, int64_t now, struct ana_results *res)
{
    char err[512] = "";
    load_config(f, rule_json);
    const struct cfg_rule *rule = &f->cfg->rules[0];
    const struct ana_rule_ops *ops = ops_of(rule->type);
    void *ctx = NULL;
    if (ops->init(rule, f->cfg, &ctx, err, sizeof err) != 0)
        fail_msg("init: %s", err);
    struct ana_changes ch = {.events_from = INT64_MAX};
    struct ana_ctx c = {
        .st = f->st, .cfg = f->cfg, .rule = rule, .now = now, .changes = &ch, .batch = NULL};
    ana_results_clear(res);
    int rc = ops->evaluate(ctx, &c, res, err, sizeof err);
    ops->destroy(ctx);
    if (rc != 0)
        fail_msg("evaluate: %s", err);
}

static const struct ana_candidate *find_label(const struct ana_results *r, const char *name,
                                              const char *value)
{
    for (size_t i = 0; i < r->n; i++) {
        const char *v = ana_label_get(&r->v[i], name);
        if (v && strcmp(v, value) == 0)
            return &r->v[i];
    }
    return NULL;
}

#define ENG "provider=openai account=acme project=proj_eng"
#define MKT "provider=openai account=acme project=proj_mkt"

/* 21 days of steady usage in proj_eng and proj_mkt up to end. */
static void steady(struct fx *f, int64_t end)
{
    put_hours(f, ENG " api_key_id=key_a model=gpt-4o", end - 21 * DAY, end, 1.0);
    put_hours(f, ENG " api_key_id=key_b model=gpt-4o-mini", end - 21 * DAY, end, 0.5);
    put_hours(f, MKT " api_key_id=key_m model=gpt-4o", end - 21 * DAY, end, 2.0);
}

#define SPIKE_BASE                                                                                 \
    "{\"type\": \"spend_spike\", \"name\": \"spike\", \"window\": \"1d\", \"baseline\": \"14d\""
#define BY_PROJECT ", \"group_by\": [\"provider\", \"project\"]"
#define SPIKE_RULE SPIKE_BASE BY_PROJECT ", \"min_spend_usd\": 20"

static void test_spike_fires_with_root_causes(void **state)
{
    struct fx *f = *state;
    struct ana_results res = {0};
    const int64_t now = T("2026-11-21T13:30:00Z"), end = T("2026-11-21T13:00:00Z");
    steady(f, end);
    /* the last 24 hours: a new CI key on gpt-4o ($4/h) and key_b doubling up ($1.5/h) */
    put_hours(f, ENG " api_key_id=key_ci model=gpt-4o", end - DAY, end, 4.0);
    put_hours(f, ENG " api_key_id=key_b model=gpt-4o-mini", end - DAY, end, 1.5);
    flush(f);
    eval_rule(f, SPIKE_RULE "}", now, &res);
    assert_int_equal(res.n, 1);
    const struct ana_candidate *c = &res.v[0];
    assert_int_equal(c->n_labels, 3);
    assert_string_equal(ana_label_get(c, "provider"), "openai");
    assert_string_equal(ana_label_get(c, "account"), "acme");
    assert_string_equal(ana_label_get(c, "project"), "proj_eng");
    expect_close(c->value, 24 * (1.0 + 1.5 + 4.0), "value");
    expect_close(c->baseline, 24 * 1.5, "baseline");
    expect_close(c->ratio, 156.0 / 36.0, "ratio");
    expect_close(c->threshold, 1.5, "threshold");
    expect_close(c->impact_usd, 120, "impact");
    assert_string_equal(c->unit, "usd");
    assert_string_equal(c->window, "1d");
    assert_int_equal(c->starts_at, end - DAY);
    assert_string_equal(c->summary,
                        "openai project proj_eng spent $156.00 in 1d, 4.3x its 14d baseline of "
                        "$36.00");
    /* key_ci: 96 of the 120 increase, key_b 24; by model gpt-4o 96, gpt-4o-mini 24 */
    assert_int_equal(c->n_causes, 4);
    static const struct {
        const char *label, *value;
        double share;
    } want[] = {{"api_key_id", "key_ci", 0.8},
                {"model", "gpt-4o", 0.8},
                {"api_key_id", "key_b", 0.2},
                {"model", "gpt-4o-mini", 0.2}};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(c->causes[i].label, want[i].label);
        assert_string_equal(c->causes[i].value, want[i].value);
        expect_close(c->causes[i].share, want[i].share, "share");
    }
    ana_results_free(&res);
}

static void test_spike_quiet_on_steady_data(void **state)
{
    struct fx *f = *state;
    struct ana_results res = {0};
    const int64_t end = T("2026-11-21T13:00:00Z");
    steady(f, end);
    /* a daily rhythm (busy 09:00-17:00) is steady too */
    for (int64_t t = end - 21 * DAY; t < end; t += HOUR) {
        int h = (int)((t / HOUR) % 24);
        put(f, "est_cost_usd", MKT " api_key_id=key_day model=gpt-4o", t, h >= 9 && h < 17 ? 5 : 0);
    }
    flush(f);
    for (int64_t now = end; now < end + 6 * HOUR; now += 1800) {
        eval_rule(f, SPIKE_RULE ", \"threshold\": 1.2}", now, &res);
        if (res.n)
            fail_msg("fired at +%llds: %s", (long long)(now - end), res.v[0].summary);
    }
    /* a window that is exactly 1.5x its baseline fires (>=); a hair below does not */
    put_hours(f, ENG " api_key_id=key_x model=gpt-4o", end - DAY, end, 0.75);
    flush(f);
    eval_rule(f, SPIKE_RULE "}", end, &res);
    assert_int_equal(res.n, 1);
    expect_close(res.v[0].ratio, 1.5, "ratio at threshold");
    put_hours(f, ENG " api_key_id=key_x model=gpt-4o", end - DAY, end, 0.7499);
    flush(f);
    eval_rule(f, SPIKE_RULE "}", end, &res);
    assert_int_equal(res.n, 0);
    ana_results_free(&res);
}

static void test_spike_learning_missing_and_new(void **state)
{
    struct fx *f = *state;
    struct ana_results res = {0};
    const int64_t end = T("2026-11-21T13:00:00Z"), now = end;
    /* proj_young: $1/h for 2 days, then $10/h for the last day */
    const char *young = "provider=openai account=acme project=proj_young api_key_id=k model=m";
    put_hours(f, young, end - 3 * DAY, end - DAY, 1.0);
    put_hours(f, young, end - DAY, end, 10.0);
    /* proj_new: $0 for 20 days (priced usage at $0), then $2/h */
    const char *fresh = "provider=openai account=acme project=proj_new api_key_id=k model=m";
    put_hours(f, fresh, end - 20 * DAY, end - DAY, 0.0);
    put_hours(f, fresh, end - DAY, end, 2.0);
    flush(f);

    /* learning 7d: proj_young (3 days of history) stays quiet; proj_new is new spend */
    eval_rule(f, SPIKE_RULE "}", now, &res);
    assert_int_equal(res.n, 1);
    const struct ana_candidate *c = find_label(&res, "project", "proj_new");
    assert_non_null(c);
    expect_close(c->value, 48, "new spend value");
    expect_close(c->baseline, 0, "new spend baseline");
    assert_true(isnan(c->ratio));
    assert_non_null(strstr(c->summary, "new spend"));
    /* the group's only key and model explain nothing: no root causes */
    assert_int_equal(c->n_causes, 0);

    /* learning 2d: proj_young fires against the 2 windows it has (missing ones are not 0) */
    eval_rule(f, SPIKE_RULE ", \"learning\": \"2d\"}", now, &res);
    c = find_label(&res, "project", "proj_young");
    assert_non_null(c);
    expect_close(c->baseline, 24, "baseline over present windows");
    expect_close(c->ratio, 10, "ratio");

    /* the min_spend floor: $48 of new spend is under 50, and exactly at 48 fires */
    eval_rule(f, SPIKE_BASE BY_PROJECT ", \"min_spend_usd\": 50}", now, &res);
    assert_null(find_label(&res, "project", "proj_new"));
    eval_rule(f, SPIKE_BASE BY_PROJECT ", \"min_spend_usd\": 48}", now, &res);
    assert_non_null(find_label(&res, "project", "proj_new"));
    ana_results_free(&res);
}

static void test_spike_gaps_count_as_zero(void **state)
{
    struct fx *f = *state;
    struct ana_results res = {0};
    const int64_t end = T("2026-11-21T13:00:00Z");
    /* $1/h for 21 days, but nothing at all on 7 of the 14 baseline days (Nov 13-19) */
    const char *gap = "provider=openai account=acme project=proj_gap api_key_id=k model=m";
    put_hours(f, gap, end - 21 * DAY, T("2026-11-13T00:00:00Z"), 1.0);
    put_hours(f, gap, end - DAY, end, 1.0);
    flush(f);
    eval_rule(f, SPIKE_BASE BY_PROJECT ", \"min_spend_usd\": 1}", end, &res);
    assert_int_equal(res.n, 1);
    /* windows: 7 x $24 and 7 x $0 (zero, not missing) -> median (0 + 24) / 2 */
    expect_close(res.v[0].baseline, 12, "baseline with gaps");
    expect_close(res.v[0].ratio, 2, "ratio with gaps");
    ana_results_free(&res);
}

static void test_spike_same_hour_of_week(void **state)
{
    struct fx *f = *state;
    struct ana_results res = {0};
    const int64_t now = T("2026-11-21T13:20:00Z"), end = T("2026-11-21T13:00:00Z");
    /* $1/h, except the 12:00 hour on Saturdays (2026-11-21 is one): $10 */
    const char *l = ENG " api_key_id=k model=m";
    for (int64_t t = end - 35 * DAY; t < end; t += HOUR) {
        int sat_noon = ((t - (end - HOUR)) % (7 * DAY)) == 0;
        put(f, "est_cost_usd", l, t, sat_noon ? 10 : 1);
    }
    flush(f);
    const char *plain = "{\"type\": \"spend_spike\", \"window\": \"1h\", \"baseline\": \"28d\", "
                        "\"group_by\": [\"project\"]}";
    const char *show = "{\"type\": \"spend_spike\", \"window\": \"1h\", \"baseline\": \"28d\", "
                       "\"group_by\": [\"project\"], \"same_hour_of_week\": true}";
    eval_rule(f, plain, now, &res);
    assert_int_equal(res.n, 1); /* 10x an ordinary hour */
    expect_close(res.v[0].baseline, 1, "plain baseline");
    eval_rule(f, show, now, &res);
    assert_int_equal(res.n, 0); /* the usual Saturday noon */
    /* this Saturday noon triples */
    put(f, "est_cost_usd", l, end - HOUR, 30);
    flush(f);
    eval_rule(f, show, now, &res);
    assert_int_equal(res.n, 1);
    expect_close(res.v[0].baseline, 10, "same-hour baseline");
    expect_close(res.v[0].ratio, 3, "same-hour ratio");
    assert_string_equal(res.v[0].window, "1h");
    assert_int_equal(res.v[0].starts_at, end - HOUR);
    ana_results_free(&res);
}

static void test_spike_respects_providers(void **state)
{
    struct fx *f = *state;
    struct ana_results res = {0};
    const int64_t end = T("2026-11-21T13:00:00Z");
    steady(f, end);
    put_hours(f, ENG " api_key_id=key_ci model=gpt-4o", end - DAY, end, 40.0);
    flush(f);
    eval_rule(f, SPIKE_RULE ", \"providers\": [\"claude\"]}", end, &res);
    assert_int_equal(res.n, 0);
    eval_rule(f, SPIKE_RULE ", \"providers\": [\"acme\"]}", end, &res);
    assert_int_equal(res.n, 1);
    /* business_unit grouping derives the unit from the project */
    eval_rule(f, SPIKE_BASE ", \"group_by\": [\"business_unit\"]}", end, &res);
    assert_int_equal(res.n, 1);
    assert_string_equal(ana_label_get(&res.v[0], "business_unit"), "Engineering");
    assert_null(ana_label_get(&res.v[0], "project"));
    ana_results_free(&res);
}

/* The billed-vs-estimated choice, read directly: a closed billed day uses billed figures. */
static void test_spend_billed_days(void **state)
{
    struct fx *f = *state;
    char err[512];
    const int64_t d = T("2026-11-20T00:00:00Z");
    put_hours(f, ENG " api_key_id=k model=m", d - DAY, d + 2 * DAY, 1.0);  /* $24 a day */
    put_hours(f, ENG " api_key_id=k model=m2", d - DAY, d + 2 * DAY, 0.5); /* $12 a day */
    put(f, "cost_usd", ENG " line_item=in", d, 30.0);                      /* billed $48 */
    put(f, "cost_usd", ENG " line_item=out", d, 18.0);
    put(f, "cost_usd", "provider=openai account=acme project=proj_x line_item=ft", d, 12.0);
    flush(f);
    static const struct {
        const char *what;
        int64_t now; /* after d */
        double eng, x;
        size_t billed_days;
    } cases[] = {
        {"day still open: estimate", DAY - 1, 36, 0, 0},
        {"closed at exactly midnight UTC: billed", DAY, 48, 12, 2},
        {"a day later: still billed", 2 * DAY, 48, 12, 2},
    };
    const char *labels[] = {"api_key_id"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ana_spend_span span = {d, d + DAY, HOUR};
        struct ana_spend_query q = {
            .labels = labels, .n_labels = 1, .spans = &span, .n_spans = 1, .now = d + cases[i].now};
        struct ana_spend sp;
        if (ana_spend_read(f->st, &q, &sp, err, sizeof err) != 0)
            fail_msg("ana_spend_read: %s", err);
        double eng = 0, x = 0;
        for (size_t r = 0; r < sp.n_rows; r++) {
            const char *proj = ana_spend_get(&sp, &sp.rows[r], "project");
            double s = ana_spend_sum(&sp, sp.rows[r].v, d, d + DAY);
            if (strcmp(proj, "proj_eng") == 0)
                eng += s;
            else if (strcmp(proj, "proj_x") == 0) {
                x += s;
                assert_null(ana_spend_get(&sp, &sp.rows[r], "api_key_id"));
                expect_close(sp.rows[r].v[5], 0.5, "billed-only day spread per hour");
                assert_int_equal(sp.rows[r].first, d);
            }
        }
        expect_close(eng, cases[i].eng, cases[i].what);
        expect_close(x, cases[i].x, cases[i].what);
        assert_int_equal(sp.billed_days, cases[i].billed_days);
        ana_spend_free(&sp);
    }
    /* filtered to one model, the day's factor is still the project's: 24 x 48/36 */
    struct ana_spend_span hours = {d, d + DAY, HOUR};
    struct ts_label only_m = {"model", "m"};
    struct ana_spend_query qm = {
        .match = &only_m, .n_match = 1, .spans = &hours, .n_spans = 1, .now = d + DAY};
    struct ana_spend spm;
    assert_int_equal(ana_spend_read(f->st, &qm, &spm, err, sizeof err), 0);
    assert_int_equal(spm.n_rows, 1);
    expect_close(ana_spend_sum(&spm, spm.rows[0].v, d, d + DAY), 32, "filtered to model m");
    ana_spend_free(&spm);
    /* half of a closed day read: the factor still comes from the whole day's estimate */
    struct ana_spend_span half = {d + 12 * HOUR, d + DAY, HOUR};
    struct ana_spend_query qh = {.spans = &half, .n_spans = 1, .now = d + DAY};
    assert_int_equal(ana_spend_read(f->st, &qh, &spm, err, sizeof err), 0);
    double eng_half = 0;
    for (size_t r = 0; r < spm.n_rows; r++) {
        if (strcmp(ana_spend_get(&spm, &spm.rows[r], "project"), "proj_eng") == 0)
            eng_half += ana_spend_sum(&spm, spm.rows[r].v, d, d + DAY);
    }
    expect_close(eng_half, 24, "half a billed day");
    ana_spend_free(&spm);
    /* a daily span over the same closed day gives the same billed total */
    struct ana_spend_span span = {d - DAY, d + DAY, DAY};
    struct ana_spend_query q = {.spans = &span, .n_spans = 1, .now = d + 3 * DAY};
    struct ana_spend sp;
    assert_int_equal(ana_spend_read(f->st, &q, &sp, err, sizeof err), 0);
    double total = 0;
    for (size_t r = 0; r < sp.n_rows; r++)
        total += ana_spend_sum(&sp, sp.rows[r].v, d, d + DAY);
    expect_close(total, 60, "daily span, billed day");
    total = 0;
    for (size_t r = 0; r < sp.n_rows; r++)
        total += ana_spend_sum(&sp, sp.rows[r].v, d - DAY, d);
    expect_close(total, 36, "daily span, unbilled closed day");
    ana_spend_free(&sp);
}

static void test_threshold_uses_billed(void **state)
{
    struct fx *f = *state;
    struct ana_results res = {0};
    const int64_t d = T("2026-11-20T00:00:00Z");
    put_hours(f, ENG " api_key_id=k model=m", d, d + DAY, 1.0);  /* estimated $24 */
    put_hours(f, MKT " api_key_id=k2 model=m", d, d + DAY, 1.5); /* estimated $36 */
    put(f, "cost_usd", ENG " line_item=in", d, 45.0);            /* billed $45 */
    flush(f);
    const char *rule = "{\"type\": \"spend_threshold\", \"threshold_usd\": 40, "
                       "\"group_by\": [\"project\"]}";
    eval_rule(f, rule, d + DAY, &res);
    assert_int_equal(res.n, 1);
    const struct ana_candidate *c = &res.v[0];
    assert_string_equal(ana_label_get(c, "project"), "proj_eng");
    assert_string_equal(ana_label_get(c, "provider"), "openai");
    assert_string_equal(ana_label_get(c, "account"), "acme");
    expect_close(c->value, 45, "billed value");
    expect_close(c->threshold, 40, "threshold");
    assert_string_equal(c->window, "1d");
    assert_string_equal(c->unit, "usd");
    assert_string_equal(c->summary,
                        "openai project proj_eng spent $45.00 in the last 1d, at or over the "
                        "$40.00 limit");
    /* an hour later the window has slid past the billed day's first hour */
    eval_rule(f, rule, d + DAY + HOUR, &res);
    assert_int_equal(res.n, 1);
    expect_close(res.v[0].value, 45.0 * 23 / 24, "sliding window");
    /* threshold exactly at the value fires; above it stays quiet */
    eval_rule(f, "{\"type\": \"spend_threshold\", \"threshold_usd\": 36}", d + DAY, &res);
    assert_int_equal(res.n, 1); /* grouped by provider: 45 + 36 */
    expect_close(res.v[0].value, 81, "provider total");
    eval_rule(f,
              "{\"type\": \"spend_threshold\", \"threshold_usd\": 36, "
              "\"group_by\": [\"project\"]}",
              d + DAY, &res);
    assert_int_equal(res.n, 2);
    eval_rule(f, "{\"type\": \"spend_threshold\", \"threshold_usd\": 81.01}", d + DAY, &res);
    assert_int_equal(res.n, 0);
    ana_results_free(&res);
}

static void test_budget_forecast(void **state)
{
    struct fx *f = *state;
    struct ana_results res = {0};
    const int64_t month = T("2026-11-01T00:00:00Z"), now = T("2026-11-16T00:00:00Z");
    /* $10 a day in proj_eng, $2 a day in proj_mkt, for 15 days; Nov 1 billed at $20 for eng */
    put_hours(f, ENG " api_key_id=k model=m", month, now, 10.0 / 24);
    put_hours(f, MKT " api_key_id=k model=m", month, now, 2.0 / 24);
    put(f, "cost_usd", ENG " line_item=in", month, 20.0);
    /* October spend is not this month's */
    put_hours(f, ENG " api_key_id=k model=m", month - 5 * DAY, month, 100.0);
    flush(f);
    const char *rule = "{\"type\": \"budget_forecast\", \"budgets\": ["
                       " {\"scope\": {\"project\": \"proj_eng\"}, \"monthly_usd\": 300},"
                       " {\"monthly_usd\": 200},"
                       " {\"scope\": {\"business_unit\": \"Engineering\"}, \"monthly_usd\": 150},"
                       " {\"scope\": {\"provider\": \"anthropic\"}, \"monthly_usd\": 1}]}";
    eval_rule(f, rule, now, &res);
    /* eng: actual 160 (53%), forecast 320 (107%) -> forecast 100
     * all: actual 190 (95%), forecast 380 -> actual 80, forecast 100
     * Engineering: actual 160 of 150 -> actual 100, forecast 100; anthropic: nothing */
    assert_int_equal(res.n, 5);
    const struct ana_candidate *c = NULL;
    for (size_t i = 0; i < res.n; i++) {
        if (strcmp(ana_label_get(&res.v[i], "budget"), "project=proj_eng") == 0)
            c = &res.v[i];
    }
    assert_non_null(c);
    assert_string_equal(ana_label_get(c, "provider"), "all");
    assert_null(ana_label_get(c, "account"));
    assert_string_equal(ana_label_get(c, "basis"), "forecast");
    assert_string_equal(ana_label_get(c, "threshold_pct"), "100");
    assert_string_equal(ana_label_get(c, "project"), "proj_eng");
    expect_close(c->value, 320, "forecast");
    expect_close(c->threshold, 300, "threshold");
    assert_int_equal(c->starts_at, month);
    assert_string_equal(c->summary, "Budget project=proj_eng: on track to spend $320.00 this "
                                    "month, 107% of the $300.00 monthly budget (100% mark; "
                                    "$160.00 spent so far)");
    int all_actual = 0, all_forecast = 0, bu_actual = 0;
    for (size_t i = 0; i < res.n; i++) {
        const struct ana_candidate *x = &res.v[i];
        const char *b = ana_label_get(x, "budget"), *basis = ana_label_get(x, "basis");
        const char *pct = ana_label_get(x, "threshold_pct");
        if (strcmp(b, "all") == 0 && strcmp(basis, "actual") == 0) {
            all_actual = strcmp(pct, "80") == 0;
            expect_close(x->value, 190, "all actual");
        }
        if (strcmp(b, "all") == 0 && strcmp(basis, "forecast") == 0)
            all_forecast = strcmp(pct, "100") == 0;
        if (strcmp(b, "business_unit=Engineering") == 0 && strcmp(basis, "actual") == 0) {
            bu_actual = strcmp(pct, "100") == 0;
            assert_string_equal(ana_label_get(x, "business_unit"), "Engineering");
        }
        assert_string_not_equal(b, "provider=anthropic");
    }
    assert_true(all_actual && all_forecast && bu_actual);

    /* in the first day of a month only actual spend is judged */
    put_hours(f, ENG " api_key_id=k model=m", T("2026-12-01T00:00:00Z"), T("2026-12-01T20:00:00Z"),
              20.0);
    flush(f);
    eval_rule(f, rule, T("2026-12-01T20:30:00Z"), &res);
    for (size_t i = 0; i < res.n; i++)
        assert_string_equal(ana_label_get(&res.v[i], "basis"), "actual");
    assert_non_null(find_label(&res, "budget", "project=proj_eng")); /* 400 >= 300 */
    ana_results_free(&res);
}

static void test_cost_drift(void **state)
{
    struct fx *f = *state;
    struct ana_results res = {0};
    const int64_t today = T("2026-11-21T00:00:00Z"), now = today + 5 * HOUR;
    /* acme: Nov 18 matches; Nov 20 (latest closed billed day) estimated 15% high */
    put_hours(f, ENG " api_key_id=k model=m", today - 3 * DAY, today - 2 * DAY, 100.0 / 24);
    put(f, "cost_usd", ENG " line_item=in", today - 3 * DAY, 100);
    put_hours(f, ENG " api_key_id=k model=m", today - DAY, today, 115.0 / 24);
    put(f, "cost_usd", ENG " line_item=in", today - DAY, 100);
    /* today's billed cost is for an open day: ignored */
    put(f, "cost_usd", ENG " line_item=in", today, 1);
    /* claude: exactly 10% apart stays quiet */
    const char *cl = "provider=anthropic account=claude project=default";
    put_hours(f, "provider=anthropic account=claude project=default api_key_id=a model=c",
              today - DAY, today, 110.0 / 24);
    put(f, "cost_usd", cl, today - DAY, 100);
    flush(f);
    eval_rule(f, "{\"type\": \"cost_drift\"}", now, &res);
    assert_int_equal(res.n, 1);
    const struct ana_candidate *c = &res.v[0];
    assert_int_equal(c->n_labels, 2);
    assert_string_equal(ana_label_get(c, "provider"), "openai");
    assert_string_equal(ana_label_get(c, "account"), "acme");
    expect_close(c->value, 15, "drift pct");
    expect_close(c->threshold, 10, "max drift");
    expect_close(c->ratio, 1.15, "est/billed");
    expect_close(c->impact_usd, 15, "est - billed");
    assert_string_equal(c->unit, "pct");
    assert_int_equal(c->starts_at, today - DAY);
    assert_string_equal(c->summary, "openai acme: estimated $115.00 vs billed $100.00 on "
                                    "2026-11-20, 15.0% apart (limit 10%)");
    /* a higher limit or a floor above both figures keeps it quiet */
    eval_rule(f, "{\"type\": \"cost_drift\", \"max_drift_pct\": 15}", now, &res);
    assert_int_equal(res.n, 0);
    eval_rule(f, "{\"type\": \"cost_drift\", \"min_spend_usd\": 200}", now, &res);
    assert_int_equal(res.n, 0);
    /* a rule narrowed to claude sees no drift */
    eval_rule(f, "{\"type\": \"cost_drift\", \"providers\": [\"anthropic\"]}", now, &res);
    assert_int_equal(res.n, 0);
    ana_results_free(&res);
}

int main(void)
{
    setenv("BW_SPEND_TEST_KEY", "sk-test-not-a-real-key", 1);
#define S(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spike_fires_table),
        cmocka_unit_test(test_spike_baseline_table),
        cmocka_unit_test(test_spike_learned_table),
        cmocka_unit_test(test_spike_windows_table),
        cmocka_unit_test(test_month_table),
        cmocka_unit_test(test_projection_table),
        cmocka_unit_test(test_budget_crossed_table),
        cmocka_unit_test(test_drift_table),
        cmocka_unit_test(test_fmt_usd_table),
        cmocka_unit_test(test_spend_spans_table),
        S(test_spike_fires_with_root_causes),
        S(test_spike_quiet_on_steady_data),
        S(test_spike_learning_missing_and_new),
        S(test_spike_gaps_count_as_zero),
        S(test_spike_same_hour_of_week),
        S(test_spike_respects_providers),
        S(test_spend_billed_days),
        S(test_threshold_uses_billed),
        S(test_budget_forecast),
        S(test_cost_drift),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
