/*
 * Tests of the weekly report (report/): ISO week arithmetic tabled; the
 * builder on a real store with planted usage, billed and estimated cost,
 * unpriced usage, business units, alert states, first sightings, audit
 * events, key inventory and source health, checked figure by figure; the
 * md and csv forms against golden files in tests/data/report/ (set
 * BW_UPDATE_GOLDEN=1 to rewrite them); an empty week; a 5,000-series store
 * timed; and `byokwatch report` end to end against the provider simulator,
 * whose /_sim/truth sums the totals must match to the cent.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "../common/timeutil.h"
#include "../report/render.h"
#include "../report/report.h"
#include "../storage/ts.h"
#include "simutil.h"
#include "testutil.h"

#define DAY 86400LL
#define HOUR 3600LL
#define W46 1794182400LL                 /* 2026-11-09T00:00:00Z, Monday of 2026-W46 */
#define W45 (W46 - 7 * DAY)              /* the week before */
#define NOW (W46 + 11 * DAY + 12 * HOUR) /* 2026-11-20T12:00:00Z */

static char g_err[1024];

static void must(int rc, const char *what)
{
    if (rc != 0)
        fail_msg("%s: rc=%d err=\"%s\"", what, rc, g_err);
}

static void expect_close(double got, double want, const char *what)
{
    if (!(fabs(got - want) <= 1e-9 * (fabs(want) > 1 ? fabs(want) : 1)))
        fail_msg("%s: got %.12g, want %.12g", what, got, want);
}

static int64_t t_of(const char *s)
{
    int64_t t;
    if (tu_parse_time(s, &t) != 0)
        fail_msg("bad time %s", s);
    return t;
}

/* ---- ISO weeks ---- */

static void test_iso_week_table(void **state)
{
    (void)state;
    static const struct {
        int year, week;
        const char *from; /* NULL: the week does not exist */
    } rows[] = {
        {2026, 1, "2025-12-29"}, /* week 1 starts in the previous year */
        {2026, 47, "2026-11-16"}, {2026, 46, "2026-11-09"},
        {2026, 53, "2026-12-28"}, /* 2026 starts on a Thursday: 53 weeks */
        {2027, 1, "2027-01-04"},  {2027, 53, NULL},
        {2020, 53, "2020-12-28"}, /* leap year starting on a Wednesday: 53 weeks */
        {2021, 1, "2021-01-04"},  {2021, 53, NULL},
        {2015, 53, "2015-12-28"}, {2016, 1, "2016-01-04"},
        {2009, 53, "2009-12-28"}, {2008, 1, "2007-12-31"},
        {2024, 1, "2024-01-01"},  {2024, 52, "2024-12-23"},
        {2025, 1, "2024-12-30"},  {2025, 52, "2025-12-22"},
        {2025, 53, NULL},         {2026, 0, NULL},
        {2026, 54, NULL},         {0, 1, NULL},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int64_t from = -1, to = -1;
        int rc = rep_iso_week(rows[i].year, rows[i].week, &from, &to);
        if (!rows[i].from) {
            if (rc == 0)
                fail_msg("%d-W%02d should not exist", rows[i].year, rows[i].week);
            continue;
        }
        if (rc != 0)
            fail_msg("%d-W%02d refused", rows[i].year, rows[i].week);
        if (from != t_of(rows[i].from) || to != from + 7 * DAY)
            fail_msg("%d-W%02d: got %lld", rows[i].year, rows[i].week, (long long)from);
        int y, w;
        rep_week_of(from, &y, &w); /* and back, from its first and last second */
        assert_int_equal(y, rows[i].year);
        assert_int_equal(w, rows[i].week);
        rep_week_of(to - 1, &y, &w);
        assert_int_equal(y, rows[i].year);
        assert_int_equal(w, rows[i].week);
    }
}

static void test_parse_week(void **state)
{
    (void)state;
    int64_t from, to;
    assert_int_equal(rep_parse_week("2026-W47", &from, &to), 0);
    assert_true(from == t_of("2026-11-16") && to == t_of("2026-11-23"));
    assert_int_equal(rep_parse_week("2026-w01", &from, &to), 0);
    assert_true(from == t_of("2025-12-29"));
    static const char *const bad[] = {"2026W47",  "2026-W4", "2026-W047", "abcd-W01",  "2021-W53",
                                      "2026-W00", "2026-47", "",          " 2026-W47", "2026-W47x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (rep_parse_week(bad[i], &from, &to) == 0)
            fail_msg("accepted \"%s\"", bad[i]);
    }
}

static void test_last_complete_week(void **state)
{
    (void)state;
    static const struct {
        const char *now, *from;
    } rows[] = {
        {"2026-11-20T12:00:00Z", "2026-11-09"}, /* a Friday */
        {"2026-11-16T00:00:00Z", "2026-11-09"}, /* Monday midnight: the week just ended */
        {"2026-11-15T23:59:59Z", "2026-11-02"}, /* Sunday night: that week is not over */
        {"2026-01-01T08:00:00Z", "2025-12-22"},
        {"2026-01-05T09:00:00Z", "2025-12-29"}, /* 2026-W01, starting in 2025 */
        {"1970-01-01T00:00:00Z", "1969-12-22"}, /* negative times floor correctly */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int64_t from, to;
        rep_last_complete_week(t_of(rows[i].now), &from, &to);
        if (from != t_of(rows[i].from) || to != from + 7 * DAY)
            fail_msg("now %s: got %lld", rows[i].now, (long long)from);
    }
}

/* ---- a store with planted data ---- */

static struct cfg_provider g_providers[] = {
    {.type = (char *)"openai", .name = (char *)"acme-openai", .enabled = 1},
    {.type = (char *)"anthropic", .name = (char *)"acme-claude", .enabled = 1},
};
static char *g_mkt_projects[] = {(char *)"proj_mkt"};
static char *g_eng_projects[] = {(char *)"proj_eng"};
static char *g_eng_keys[] = {(char *)"key_eng_special"};
static struct cfg_business_unit g_units[] = {
    {.name = (char *)"Marketing", .projects = g_mkt_projects, .n_projects = 1},
    {.name = (char *)"Engineering",
     .projects = g_eng_projects,
     .n_projects = 1,
     .api_keys = g_eng_keys,
     .n_api_keys = 1},
};

struct fx {
    char *tmp;
    struct ts_store *st;
    struct ts_batch *b;
    struct config cfg;
    struct cfg_rule rule;
};

static int64_t fake_clock(void)
{
    return NOW;
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    char dir[4200];
    struct ts_options o = {.create = 1, .clock = fake_clock};
    if (!(f->tmp = tu_mkdtemp()))
        goto fail;
    snprintf(dir, sizeof dir, "%s/db", f->tmp);
    if (ts_open(dir, &o, &f->st, g_err, sizeof g_err) != 0 || !(f->b = ts_batch_new())) {
        fprintf(stderr, "ts_open %s: %s\n", dir, g_err);
        goto fail;
    }
    f->rule = (struct cfg_rule){.type = (char *)"key_age",
                                .name = (char *)"rotation",
                                .severity = (char *)"warning",
                                .params = json_pack("{s:s}", "max_age", "60d")};
    f->cfg.providers = g_providers;
    f->cfg.n_providers = 2;
    f->cfg.units = g_units;
    f->cfg.n_units = 2;
    f->cfg.rules = &f->rule;
    f->cfg.n_rules = 1;
    *state = f;
    return 0;
fail:
    if (f->st)
        ts_close(f->st);
    tu_rmtree(f->tmp);
    free(f->tmp);
    free(f);
    return -1;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    ts_batch_free(f->b);
    ts_close(f->st);
    json_decref(f->rule.params);
    tu_rmtree(f->tmp);
    free(f->tmp);
    free(f);
    return 0;
}

static void flush(struct fx *f)
{
    must(ts_write(f->st, f->b, g_err, sizeof g_err), "ts_write");
    ts_batch_clear(f->b);
}

/* One sample of metric{provider,account,project,api_key_id,model}; NULL labels are left out. */
static void put(struct fx *f, const char *metric, const char *provider, const char *project,
                const char *key, const char *model, int64_t bucket, double value)
{
    struct ts_label l[6];
    size_t n = 0;
    l[n++] = (struct ts_label){"provider", provider};
    l[n++] = (struct ts_label){"account",
                               strcmp(provider, "openai") == 0 ? "acme-openai" : "acme-claude"};
    if (project)
        l[n++] = (struct ts_label){"project", project};
    if (key)
        l[n++] = (struct ts_label){"api_key_id", key};
    if (model)
        l[n++] = (struct ts_label){"model", model};
    if (strcmp(metric, "cost_usd") == 0)
        l[n++] = (struct ts_label){"line_item", "completions"};
    const struct ts_series *s = NULL;
    must(ts_series_get(f->st, metric, l, n, &s, g_err, sizeof g_err), "ts_series_get");
    must(ts_batch_add(f->b, s->id, bucket, value), "ts_batch_add");
}

static void put_meta(struct fx *f, enum ts_family fam, const char *key, const char *val)
{
    must(ts_batch_put(f->b, fam, key, strlen(key), val, strlen(val)), "ts_batch_put");
}

static void put_secs(struct fx *f, const char *key, int64_t t)
{
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)t);
    put_meta(f, TS_META, key, v);
}

static void put_event(struct fx *f, int64_t t, const char *type, const char *json)
{
    struct ts_event ev = {.time = t, .type = type, .json = json};
    must(ts_batch_add_event(f->b, &ev), "ts_batch_add_event");
}

/* An alert state as alerts/lifecycle.c stores it under "a/<fingerprint>". */
static void put_alert(struct fx *f, const char *fp, const char *rule_name, const char *status,
                      int64_t starts, int64_t ends)
{
    json_t *st =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:s, s:I, s:I, s:I}", "fingerprint", fp,
                  "rule", "spend_spike", "rule_name", rule_name, "severity", "critical", "status",
                  status, "labels", "provider", "openai", "summary", "openai spent a lot | really",
                  "starts_at", (json_int_t)starts, "last_eval", (json_int_t)(ends ? ends : starts),
                  "notifications", (json_int_t)1);
    assert_non_null(st);
    if (ends)
        json_object_set_new(st, "ends_at", json_integer(ends));
    char *txt = json_dumps(st, JSON_COMPACT);
    char key[64];
    snprintf(key, sizeof key, "a/%s", fp);
    put_meta(f, TS_ALERTS, key, txt);
    free(txt);
    json_decref(st);
}

/*
 * Two weeks, W45 and W46. In W46 OpenAI billed Monday to Saturday (Sunday
 * is estimated), Anthropic billed every day but Friday, when it has no data
 * at all. Amounts (per day):
 *   OpenAI  billed  proj_eng 10.00, proj_mkt 5.25 (Mon-Sat); W45 5.00, 2.50 (every day)
 *           est     proj_eng/key_eng_ci/gpt-4o 12, proj_mkt/key_mkt_bot/gpt-4o-mini 6;
 *                   W45 6 and 3; key_eng_special (proj_mkt, gpt-4o) 2.00 Tue (billed day),
 *                   1.00 Sun (estimated day)
 *           tokens  eng in 1000 out 100 req 10, mkt in 500 out 50 req 5; W45 half
 *           unpriced 5000 tokens of o9-preview on Wed (key_eng_special, proj_eng)
 *   Anthropic billed default/claude-sonnet 3.10 (W46 but Fri), W45 1.55
 *           est     default/apikey_01/claude-sonnet 3.00 (W46 but Fri), W45 1.50
 *           tokens  in 2000 out 300 (W46 but Fri); W45 half
 */
static void plant(struct fx *f)
{
    for (int d = 0; d < 7; d++) {
        int64_t cur = W46 + d * DAY, prev = W45 + d * DAY, h = 10 * HOUR;
        if (d < 6) {
            put(f, "cost_usd", "openai", "proj_eng", NULL, NULL, cur, 10.0);
            put(f, "cost_usd", "openai", "proj_mkt", NULL, NULL, cur, 5.25);
        }
        put(f, "cost_usd", "openai", "proj_eng", NULL, NULL, prev, 5.0);
        put(f, "cost_usd", "openai", "proj_mkt", NULL, NULL, prev, 2.5);
        put(f, "est_cost_usd", "openai", "proj_eng", "key_eng_ci", "gpt-4o", cur + h, 12.0);
        put(f, "est_cost_usd", "openai", "proj_mkt", "key_mkt_bot", "gpt-4o-mini", cur + h, 6.0);
        put(f, "est_cost_usd", "openai", "proj_eng", "key_eng_ci", "gpt-4o", prev + h, 6.0);
        put(f, "est_cost_usd", "openai", "proj_mkt", "key_mkt_bot", "gpt-4o-mini", prev + h, 3.0);
        static const struct {
            const char *metric;
            double eng, mkt;
        } tok[] = {{"input_tokens", 1000, 500}, {"output_tokens", 100, 50}, {"requests", 10, 5}};
        for (size_t i = 0; i < 3; i++) {
            put(f, tok[i].metric, "openai", "proj_eng", "key_eng_ci", "gpt-4o", cur + h,
                tok[i].eng);
            put(f, tok[i].metric, "openai", "proj_mkt", "key_mkt_bot", "gpt-4o-mini", cur + h,
                tok[i].mkt);
            put(f, tok[i].metric, "openai", "proj_eng", "key_eng_ci", "gpt-4o", prev + h,
                tok[i].eng / 2);
            put(f, tok[i].metric, "openai", "proj_mkt", "key_mkt_bot", "gpt-4o-mini", prev + h,
                tok[i].mkt / 2);
        }
        const char *sonnet = "claude-sonnet-4-20250514";
        if (d != 4) {
            put(f, "cost_usd", "anthropic", "default", NULL, sonnet, cur, 3.10);
            put(f, "est_cost_usd", "anthropic", "default", "apikey_01", sonnet, cur + h, 3.0);
            put(f, "input_tokens", "anthropic", "default", "apikey_01", sonnet, cur + h, 2000);
            put(f, "output_tokens", "anthropic", "default", "apikey_01", sonnet, cur + h, 300);
        }
        put(f, "cost_usd", "anthropic", "default", NULL, sonnet, prev, 1.55);
        put(f, "est_cost_usd", "anthropic", "default", "apikey_01", sonnet, prev + h, 1.5);
        put(f, "input_tokens", "anthropic", "default", "apikey_01", sonnet, prev + h, 1000);
        put(f, "output_tokens", "anthropic", "default", "apikey_01", sonnet, prev + h, 150);
    }
    put(f, "est_cost_usd", "openai", "proj_mkt", "key_eng_special", "gpt-4o", W46 + DAY + 3 * HOUR,
        2.0);
    put(f, "est_cost_usd", "openai", "proj_mkt", "key_eng_special", "gpt-4o",
        W46 + 6 * DAY + 3 * HOUR, 1.0);
    put(f, "unpriced_tokens", "openai", "proj_eng", "key_eng_special", "o9-preview",
        W46 + 2 * DAY + 5 * HOUR, 5000);
    /* data outside both periods is left out */
    put(f, "cost_usd", "openai", "proj_eng", NULL, NULL, W46 + 7 * DAY, 1000.0);
    put(f, "input_tokens", "openai", "proj_eng", "key_eng_ci", "gpt-4o", W45 - HOUR, 1e6);

    /* alerts: still firing; resolved this week after firing last week; fired and resolved
     * this week; over before the week began */
    put_alert(f, "00000000000000a1", "daily-spend-spike", "firing", W46 + DAY + 10 * HOUR, 0);
    put_alert(f, "00000000000000a2", "budget", "resolved", W45 + 5 * DAY,
              W46 + 2 * DAY + 12 * HOUR);
    put_alert(f, "00000000000000a3", "geo", "resolved", W46 + 3 * DAY, W46 + 3 * DAY + 90LL * 60);
    put_alert(f, "00000000000000a4", "old", "resolved", W45, W45 + DAY);

    /* first sightings */
    put_secs(f, "seen/acme-openai/api_key/key_eng_special", W46 + DAY + 3 * HOUR);
    put_secs(f, "seen/acme-openai/api_key/key_eng_ci", W45 - 30 * DAY);
    put_secs(f, "seen/acme-openai/model/o9-preview", W46 + 2 * DAY + 5 * HOUR);
    put_secs(f, "seen/acme-openai/model/gpt-4o", W45 - 30 * DAY);
    put_secs(f, "seen/acme-openai/project/proj_mkt", W46 + DAY);
    put_secs(f, "seen/acme-claude/country/alice@acme.example/FR", W46 + 4 * DAY);
    put_secs(f, "seen/acme-claude/country/bob@acme.example/FR", W45 + DAY); /* FR not new */
    put_secs(f, "seen/acme-openai/country/carol@acme.example/BR", W46 + 5 * DAY);
    put_secs(f, "seen/acme-openai/country/dave@acme.example/US", W45 - 10 * DAY);

    /* audit events */
    static const char *const fail = "{\"provider\":\"openai\",\"account\":\"acme-openai\","
                                    "\"actor\":\"%s\",\"ip\":\"203.0.113.9\"}";
    char ev[256];
    for (int i = 0; i < 3; i++) {
        snprintf(ev, sizeof ev, fail, "mallory@evil.example");
        put_event(f, W46 + DAY + (int64_t)i * 60, "audit.login.failed", ev);
    }
    snprintf(ev, sizeof ev, fail, "bob@acme.example");
    put_event(f, W46 + 2 * DAY, "audit.login.failed", ev);
    put_event(f, W46 + 2 * DAY + 1, "audit.login.failed", "{\"provider\":\"openai\"}");
    snprintf(ev, sizeof ev, fail, "mallory@evil.example");
    put_event(f, W45 + DAY, "audit.login.failed", ev); /* last week */
    put_event(f, W46 + 3 * DAY, "audit.login.succeeded", "{\"actor\":\"a\",\"country\":\"US\"}");
    put_event(f, W46 + 3 * DAY + 5, "audit.login.succeeded",
              "{\"actor\":\"b\",\"country\":\"US\"}");
    put_event(f, W46 + 4 * DAY, "audit.login.succeeded", "{\"actor\":\"c\",\"country\":\"GB\"}");
    put_event(f, W46 + 4 * DAY + 7, "audit.login.succeeded", "{\"actor\":\"d\"}");
    put_event(f, W46 + 4 * DAY + 9, "inventory.api_key.added", "{\"country\":\"ZZ\"}");

    /* key inventory (rotation due past 60d, the key_age rule's max_age) */
    char item[512];
    static const char *const inv =
        "{\"id\":\"%s\",\"name\":\"%s\",\"project\":\"%s\",\"status\":\"%s\","
        "\"created_at\":%lld,\"last_used_at\":%s}";
    snprintf(item, sizeof item, inv, "key_eng_ci", "ci-pipeline", "proj_eng", "active",
             (long long)(W46 - 200 * DAY), "null");
    put_meta(f, TS_META, "inv/acme-openai/api_key/key_eng_ci", item);
    snprintf(item, sizeof item, inv, "key_old_unused", "old|batch", "proj_mkt", "active",
             (long long)(W46 - 30 * DAY), "1793800000");
    put_meta(f, TS_META, "inv/acme-openai/api_key/key_old_unused", item);
    snprintf(item, sizeof item, inv, "key_new", "new-key", "proj_eng", "active",
             (long long)(W46 + 3 * DAY), "null");
    put_meta(f, TS_META, "inv/acme-openai/api_key/key_new", item);
    snprintf(item, sizeof item, inv, "key_archived", "gone", "proj_eng", "archived",
             (long long)(W46 - 300 * DAY), "null");
    put_meta(f, TS_META, "inv/acme-openai/api_key/key_archived", item);
    snprintf(item, sizeof item, inv, "apikey_01", "claude-app", "default", "active",
             (long long)(W46 - 10 * DAY), "1794700000");
    put_meta(f, TS_META, "inv/acme-claude/api_key/apikey_01", item);
    snprintf(item, sizeof item, inv, "key_later", "later", "proj_eng", "active",
             (long long)(W46 + 8 * DAY), "null"); /* made after the week: in no list */
    put_meta(f, TS_META, "inv/acme-openai/api_key/key_later", item);
    snprintf(item, sizeof item, inv, "admin_01", "admin", "", "active",
             (long long)(W46 - 400 * DAY), "null"); /* admin keys rotate too */
    put_meta(f, TS_META, "inv/acme-openai/admin_key/admin_01", item);
    put_meta(f, TS_META, "inv/acme-openai/project/proj_eng", "{\"id\":\"proj_eng\"}");

    /* source health and cursors */
    snprintf(item, sizeof item,
             "{\"provider\":\"openai\",\"account\":\"acme-openai\",\"failures\":0,"
             "\"last_success\":%lld,\"last_data\":%lld,\"last_attempt\":%lld}",
             (long long)NOW, (long long)(NOW - HOUR), (long long)NOW);
    put_meta(f, TS_META, "health/acme-openai", item);
    snprintf(item, sizeof item,
             "{\"provider\":\"anthropic\",\"account\":\"acme-claude\",\"failures\":3,"
             "\"last_success\":%lld,\"last_attempt\":%lld,\"last_error\":\"status=500\"}",
             (long long)(NOW - DAY), (long long)NOW);
    put_meta(f, TS_META, "health/acme-claude", item);
    put_secs(f, "cursor/acme-openai/costs", W46 + 11 * DAY);
    put_secs(f, "cursor/acme-openai/usage_completions", NOW);
    flush(f);
}

static json_t *build(struct fx *f, int64_t from, int64_t to)
{
    json_t *r = NULL;
    must(rep_build(f->st, &f->cfg, from, to, NOW, &r, g_err, sizeof g_err), "rep_build");
    assert_non_null(r);
    return r;
}

static double num(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    if (!json_is_number(v))
        fail_msg("%s is not a number", k);
    return json_number_value(v);
}

/* The element of array a whose field k equals v (and k2 equals v2 when given). */
static const json_t *find(const json_t *a, const char *k, const char *v, const char *k2,
                          const char *v2)
{
    const json_t *o;
    size_t i;
    json_array_foreach(a, i, o)
    {
        const char *s = json_string_value(json_object_get(o, k));
        const char *s2 = k2 ? json_string_value(json_object_get(o, k2)) : NULL;
        if (s && strcmp(s, v) == 0 && (!k2 || (s2 && strcmp(s2, v2) == 0)))
            return o;
    }
    fail_msg("no element with %s=%s", k, v);
    return NULL;
}

static void test_build_figures(void **state)
{
    struct fx *f = *state;
    plant(f);
    json_t *r = build(f, W46, W46 + 7 * DAY);

    static const char *const top[] = {"period",       "totals",         "previous_totals",
                                      "change_pct",   "by_provider",    "by_business_unit",
                                      "by_project",   "by_api_key",     "by_model",
                                      "daily",        "alerts",         "keys",
                                      "new_entities", "auth_failures",  "countries",
                                      "unpriced",     "data_freshness", "empty"};
    assert_int_equal(json_object_size(r), sizeof top / sizeof top[0]);
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        if (!json_object_get(r, top[i]))
            fail_msg("no %s", top[i]);
    assert_true(json_is_false(json_object_get(r, "empty")));
    const json_t *p = json_object_get(r, "period");
    assert_string_equal(json_string_value(json_object_get(p, "from")), "2026-11-09T00:00:00Z");
    assert_string_equal(json_string_value(json_object_get(p, "to")), "2026-11-16T00:00:00Z");

    /* totals: OpenAI billed 6 x 15.25 + Sunday's estimate 12 + 6 + 1; Anthropic 6 x 3.10 */
    const json_t *t = json_object_get(r, "totals"), *pt = json_object_get(r, "previous_totals");
    expect_close(num(t, "billed_cost_usd"), 6 * 15.25 + 6 * 3.10, "billed");
    expect_close(num(t, "estimated_cost_usd"), 7 * 18 + 3 + 6 * 3.0, "estimated");
    expect_close(num(t, "cost_usd"), 6 * 15.25 + 19 + 6 * 3.10, "cost");
    assert_int_equal(json_integer_value(json_object_get(t, "input_tokens")), 7 * 1500 + 6 * 2000);
    assert_int_equal(json_integer_value(json_object_get(t, "output_tokens")), 7 * 150 + 6 * 300);
    assert_int_equal(json_integer_value(json_object_get(t, "requests")), 7 * 15);
    assert_int_equal(json_integer_value(json_object_get(t, "unpriced_tokens")), 5000);
    expect_close(num(pt, "cost_usd"), 7 * 7.5 + 7 * 1.55, "previous cost");
    expect_close(num(pt, "estimated_cost_usd"), 7 * 9 + 7 * 1.5, "previous estimated");
    assert_int_equal(json_integer_value(json_object_get(pt, "input_tokens")), 7 * 750 + 7 * 1000);
    const json_t *c = json_object_get(r, "change_pct");
    expect_close(num(c, "cost_usd"), (129.1 - 63.35) / 63.35 * 100, "change cost");
    expect_close(num(c, "requests"), 100.0, "change requests");
    assert_true(json_is_null(json_object_get(c, "unpriced_tokens")));

    /* by provider, business unit, project */
    const json_t *bp = json_object_get(r, "by_provider");
    assert_int_equal(json_array_size(bp), 2);
    const json_t *oa = json_array_get(bp, 0); /* the larger first */
    assert_string_equal(json_string_value(json_object_get(oa, "provider")), "openai");
    expect_close(num(oa, "cost_usd"), 110.5, "openai cost");
    expect_close(num(oa, "previous_cost_usd"), 52.5, "openai previous");
    expect_close(num(find(bp, "provider", "anthropic", NULL, NULL), "cost_usd"), 18.6,
                 "anthropic cost");
    const json_t *bu = json_object_get(r, "by_business_unit");
    assert_int_equal(json_array_size(bu), 3);
    /* Engineering: proj_eng billed 60 + Sunday's estimate 12 + key_eng_special's Sunday 1.00
     * (mapped by key although it ran in proj_mkt); its Tuesday 2.00 fell on a billed day */
    const json_t *eng = find(bu, "business_unit", "Engineering", NULL, NULL);
    expect_close(num(eng, "cost_usd"), 73.0, "Engineering");
    expect_close(num(eng, "estimated_cost_usd"), 84.0 + 3.0, "Engineering estimated");
    expect_close(num(find(bu, "business_unit", "Marketing", NULL, NULL), "cost_usd"), 37.5,
                 "Marketing");
    expect_close(num(find(bu, "business_unit", "Unassigned", NULL, NULL), "cost_usd"), 18.6,
                 "Unassigned");
    const json_t *proj = json_object_get(r, "by_project");
    assert_int_equal(json_array_size(proj), 3);
    const json_t *mkt = find(proj, "project", "proj_mkt", NULL, NULL);
    expect_close(num(mkt, "cost_usd"), 31.5 + 6 + 1, "proj_mkt");
    assert_string_equal(json_string_value(json_object_get(mkt, "business_unit")), "Marketing");
    assert_int_equal(json_array_size(json_object_get(mkt, "daily")), 7);
    const json_t *dflt = find(proj, "project", "default", NULL, NULL);
    assert_int_equal(json_array_size(json_object_get(dflt, "daily")), 6); /* no Friday */

    /* keys by estimated cost; model mix */
    const json_t *keys = json_object_get(r, "by_api_key");
    assert_int_equal(json_array_size(keys), 4); /* ci, mkt_bot, apikey_01, special */
    const json_t *k0 = json_array_get(keys, 0);
    assert_string_equal(json_string_value(json_object_get(k0, "api_key_id")), "key_eng_ci");
    assert_string_equal(json_string_value(json_object_get(k0, "name")), "ci-pipeline");
    expect_close(num(k0, "estimated_cost_usd"), 84, "key_eng_ci");
    assert_null(json_object_get(k0, "cost_usd"));
    expect_close(num(k0, "change_pct"), 100, "key_eng_ci change");
    const json_t *sp = find(keys, "api_key_id", "key_eng_special", NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(sp, "business_unit")), "Engineering");
    const json_t *models = json_object_get(r, "by_model");
    const json_t *g4 = find(models, "model", "gpt-4o", NULL, NULL);
    expect_close(num(g4, "estimated_cost_usd"), 87, "gpt-4o");
    expect_close(num(g4, "share"), 87.0 / 147.0, "gpt-4o share");
    expect_close(num(g4, "token_share"), 7 * 1100.0 / (7 * 1650 + 6 * 2300), "gpt-4o tokens");
    const json_t *sonnet = find(models, "model", "claude-sonnet-4-20250514", NULL, NULL);
    expect_close(num(sonnet, "billed_cost_usd"), 18.6, "billed per model");

    /* daily: Sunday is estimated for OpenAI; Friday has no Anthropic */
    const json_t *daily = json_object_get(r, "daily");
    assert_int_equal(json_array_size(daily), 7);
    const json_t *sun = json_array_get(daily, 6), *fri = json_array_get(daily, 4);
    assert_string_equal(json_string_value(json_object_get(sun, "date")), "2026-11-15");
    expect_close(num(sun, "cost_usd"), 19 + 3.10, "Sunday");
    expect_close(num(json_object_get(sun, "by_provider"), "openai"), 19, "Sunday openai");
    expect_close(num(json_object_get(fri, "by_provider"), "anthropic"), 0, "Friday anthropic");
    double sum = 0;
    const json_t *d;
    size_t i;
    json_array_foreach(daily, i, d) sum += num(d, "cost_usd");
    expect_close(sum, num(t, "cost_usd"), "daily sum");

    /* alerts */
    const json_t *al = json_object_get(r, "alerts");
    const json_t *fired = json_object_get(al, "fired"), *res = json_object_get(al, "resolved");
    assert_int_equal(json_array_size(fired), 2);
    assert_int_equal(json_array_size(res), 2);
    const json_t *a1 = find(fired, "fingerprint", "00000000000000a1", NULL, NULL);
    assert_true(json_is_null(json_object_get(a1, "ends_at")));
    assert_int_equal(json_integer_value(json_object_get(a1, "open_seconds")),
                     NOW - (W46 + DAY + 10 * HOUR));
    const json_t *a2 = find(res, "fingerprint", "00000000000000a2", NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(a2, "open_seconds")),
                     2 * DAY + 12 * HOUR + 2 * DAY);
    find(fired, "fingerprint", "00000000000000a3", NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(
                         find(res, "fingerprint", "00000000000000a3", NULL, NULL), "open_seconds")),
                     90 * 60);

    /* key inventory */
    const json_t *kk = json_object_get(r, "keys");
    assert_string_equal(json_string_value(json_object_get(kk, "max_age")), "60d");
    const json_t *due = json_object_get(kk, "due_for_rotation");
    assert_int_equal(json_array_size(due), 2);
    const json_t *adm = find(due, "api_key_id", "admin_01", NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(adm, "kind")), "admin_key");
    const json_t *ci = find(due, "api_key_id", "key_eng_ci", NULL, NULL);
    assert_true(num(ci, "age_days") == 207); /* at the end of the week */
    const json_t *unused = json_object_get(kk, "unused");
    assert_int_equal(json_array_size(unused), 2);
    find(unused, "api_key_id", "key_old_unused", NULL, NULL);
    find(unused, "api_key_id", "key_new", NULL, NULL);
    const json_t *created = json_object_get(kk, "created");
    assert_int_equal(json_array_size(created), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(created, 0), "created_at")),
        "2026-11-12T00:00:00Z");

    /* first sightings */
    const json_t *ne = json_object_get(r, "new_entities");
    const json_t *nk = json_object_get(ne, "api_keys");
    assert_int_equal(json_array_size(nk), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(nk, 0), "api_key_id")),
                        "key_eng_special");
    assert_string_equal(json_string_value(json_object_get(json_array_get(nk, 0), "provider")),
                        "openai");
    assert_int_equal(json_array_size(json_object_get(ne, "models")), 1);
    const json_t *nc = json_object_get(ne, "countries");
    assert_int_equal(json_array_size(nc), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(nc, 0), "country")), "BR");

    /* audit */
    const json_t *af = json_object_get(r, "auth_failures");
    assert_int_equal(json_array_size(af), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(af, 0), "actor")),
                        "mallory@evil.example");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(af, 0), "count")), 3);
    find(af, "actor", "(unknown)", NULL, NULL);
    const json_t *co = json_object_get(r, "countries");
    assert_int_equal(json_array_size(co), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(co, 0), "country")), "US");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(co, 0), "sessions")), 2);

    /* unpriced, freshness */
    const json_t *up = json_object_get(r, "unpriced");
    assert_int_equal(json_array_size(up), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(up, 0), "tokens")), 5000);
    const json_t *df = json_object_get(r, "data_freshness");
    assert_int_equal(json_array_size(df), 2);
    const json_t *cl = find(df, "source", "acme-claude", NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(cl, "failures")), 3);
    assert_true(json_is_null(json_object_get(cl, "last_data")));
    const json_t *gaps = json_object_get(cl, "gaps");
    assert_int_equal(json_array_size(gaps), 1);
    assert_string_equal(json_string_value(json_array_get(gaps, 0)), "2026-11-13");
    const json_t *op = find(df, "source", "acme-openai", NULL, NULL);
    assert_int_equal(json_array_size(json_object_get(op, "gaps")), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(op, "cursors"), "costs")),
                        "2026-11-20T00:00:00Z");
    json_decref(r);
}

/* ---- renderers against golden files ---- */

static void golden(const char *name, const char *got)
{
    char path[256];
    snprintf(path, sizeof path, "tests/data/report/%s", name);
    const char *upd = getenv("BW_UPDATE_GOLDEN");
    if (upd && *upd == '1')
        assert_int_equal(tu_write_file(path, got, 0644), 0);
    char *want = tu_read_file(path);
    if (!want) {
        fail_msg("cannot read %s (run from the repository root)", path);
        return;
    }
    if (strcmp(want, got) != 0) {
        fprintf(stderr, "---- %s differs; got:\n%s\n", path, got);
        fail_msg("%s differs from the rendered report", path);
    }
    free(want);
}

static char *render(int (*fn)(const json_t *, char **, size_t *, char *, size_t), const json_t *r)
{
    char *out = NULL;
    size_t len = 0;
    must(fn(r, &out, &len, g_err, sizeof g_err), "render");
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    return out;
}

static void test_render_md_csv(void **state)
{
    struct fx *f = *state;
    plant(f);
    json_t *r = build(f, W46, W46 + 7 * DAY);
    char *md = render(rep_render_md, r), *csv = render(rep_render_csv, r);
    golden("week.md", md);
    golden("week.csv", csv);
    assert_non_null(strstr(md, "# AI provider usage report: 2026-W46"));
    assert_non_null(strstr(md, "| Cost | $129.10 | $63.35 | +103.8% |"));
    assert_non_null(strstr(md, "old\\|batch")); /* a '|' in a cell is escaped */

    /* the csv's rows add up to the totals */
    const char *hdr = "date,provider,account,project,cost_usd,billed_cost_usd,estimated_cost_usd\n";
    assert_memory_equal(csv, hdr, strlen(hdr));
    double sum[3] = {0, 0, 0};
    size_t rows = 0;
    for (char *line = strchr(csv, '\n') + 1; *line; line = strchr(line, '\n') + 1, rows++) {
        char *p = line;
        for (int comma = 0; comma < 4; p++)
            comma += *p == ',';
        for (int k = 0; k < 3; k++)
            sum[k] += strtod(p, &p), p++;
    }
    assert_int_equal(rows, 3 * 7 - 1); /* OpenAI's two projects every day, Anthropic's not Friday */
    const json_t *t = json_object_get(r, "totals");
    assert_true(fabs(sum[0] - num(t, "cost_usd")) < 0.005);
    assert_true(fabs(sum[1] - num(t, "billed_cost_usd")) < 0.005);
    free(md);
    free(csv);

    char *js = render(rep_render_json, r);
    json_t *back = json_loads(js, 0, NULL);
    assert_non_null(back);
    assert_true(json_equal(back, r)); /* full precision survives the round trip */
    json_decref(back);
    free(js);
    json_decref(r);
}

static void test_empty_week(void **state)
{
    struct fx *f = *state;
    plant(f);
    json_t *r = build(f, W46 - 70 * DAY, W46 - 63 * DAY);
    assert_true(json_is_true(json_object_get(r, "empty")));
    assert_string_equal(json_string_value(json_object_get(r, "message")),
                        "No data for this period");
    assert_true(num(json_object_get(r, "totals"), "cost_usd") == 0);
    assert_int_equal(json_array_size(json_object_get(r, "by_project")), 0);
    assert_int_equal(json_array_size(json_object_get(r, "daily")), 7);
    char *md = render(rep_render_md, r), *csv = render(rep_render_csv, r);
    golden("empty.md", md);
    assert_non_null(strstr(md, "No data for this period"));
    assert_string_equal(csv, "date,provider,account,project,cost_usd,billed_cost_usd,"
                             "estimated_cost_usd\n");
    free(md);
    free(csv);
    json_decref(r);

    /* bad periods are refused */
    r = NULL;
    assert_int_equal(rep_build(f->st, &f->cfg, W46 + 1, W46 + DAY, NOW, &r, g_err, sizeof g_err),
                     -1);
    assert_int_equal(rep_build(f->st, &f->cfg, W46, W46, NOW, &r, g_err, sizeof g_err), -1);
    assert_int_equal(rep_build(f->st, &f->cfg, W46 - 400 * DAY, W46, NOW, &r, g_err, sizeof g_err),
                     -1);
    assert_null(r);
}

/* ---- size: 5,000 series, 90 days (right figures at scale; the time is only printed) ---- */

static void test_large_store_timing(void **state)
{
    struct fx *f = *state;
    /* 50 projects x 20 keys x (est_cost_usd, input_tokens, output_tokens, requests) = 4,000
     * series, plus 50 projects x 20 line items of cost_usd = 1,000. Each series gets one point
     * per day (the report reads daily rollups, which do not depend on how many hours fed them);
     * BW_REPORT_BENCH_HOURLY=1 writes all 24 hours instead. */
    const char *hourly_env = getenv("BW_REPORT_BENCH_HOURLY");
    int hours = hourly_env && *hourly_env == '1' ? 24 : 1;
    static const char *const metrics[] = {"est_cost_usd", "input_tokens", "output_tokens",
                                          "requests"};
    uint64_t ids[5000];
    size_t n = 0;
    char proj[32], key[32], item[32];
    for (int p = 0; p < 50; p++) {
        snprintf(proj, sizeof proj, "proj_%02d", p);
        for (int k = 0; k < 20; k++) {
            snprintf(key, sizeof key, "key_%02d_%02d", p, k);
            snprintf(item, sizeof item, "item_%02d", k);
            for (int m = 0; m < 4; m++) {
                struct ts_label l[] = {{"provider", p % 2 ? "openai" : "anthropic"},
                                       {"account", p % 2 ? "acme-openai" : "acme-claude"},
                                       {"project", proj},
                                       {"api_key_id", key},
                                       {"model", k % 3 ? "gpt-4o" : "claude-sonnet"}};
                const struct ts_series *s;
                must(ts_series_get(f->st, metrics[m], l, 5, &s, g_err, sizeof g_err), "series");
                ids[n++] = s->id;
            }
            struct ts_label l[] = {{"provider", p % 2 ? "openai" : "anthropic"},
                                   {"account", p % 2 ? "acme-openai" : "acme-claude"},
                                   {"project", proj},
                                   {"line_item", item}};
            const struct ts_series *s;
            must(ts_series_get(f->st, "cost_usd", l, 4, &s, g_err, sizeof g_err), "series");
            ids[n++] = s->id;
        }
    }
    assert_int_equal(n, 5000);
    int64_t start = W46 + 7 * DAY - 90 * DAY;
    for (int d = 0; d < 90; d++) {
        for (size_t i = 0; i < n; i++) {
            int is_cost = i % 5 == 4;
            for (int h = 0; h < (is_cost ? 1 : hours); h++)
                must(ts_batch_add(f->b, ids[i], start + d * DAY + h * HOUR,
                                  is_cost ? 1.25 : 0.5 + (double)(i % 7)),
                     "add");
        }
        flush(f);
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    json_t *r = build(f, W46, W46 + 7 * DAY);
    char *md = render(rep_render_md, r);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    fprintf(stderr, "report over 5000 series x 90 days (%d point%s a day): %.3f s\n", hours,
            hours > 1 ? "s" : "", secs);
    expect_close(num(json_object_get(r, "totals"), "billed_cost_usd"), 1000 * 7 * 1.25, "billed");
    assert_int_equal(json_array_size(json_object_get(r, "by_project")), 50);
    assert_int_equal(json_array_size(json_object_get(r, "by_api_key")), REP_TOP_KEYS);
    /* the time is printed, not asserted: performance is make bench's job */
    free(md);
    json_decref(r);
}

/* ---- `byokwatch report` end to end against the simulator ---- */

#define SIM_NOW "2026-11-20T12:00:00Z"
#define OPENAI_KEY "sk-admin-TESTKEY-openai-7c1d"
#define ANTHROPIC_KEY "sk-ant-admin01-TESTKEY-anthropic-4e2b"

static char *const run_env[] = {"BW_T_OPENAI=" OPENAI_KEY, "BW_T_ANTHROPIC=" ANTHROPIC_KEY, NULL};

struct e2e {
    char *dir;
    char cfg[4096];
    struct sim sim;
};

static int e2e_setup(void **state)
{
    struct e2e *e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    if (!(e->dir = tu_mkdtemp())) {
        free(e);
        return -1;
    }
    if (sim_start_month(&e->sim, SIM_NOW, "40", NULL, OPENAI_KEY, ANTHROPIC_KEY) != 0) {
        tu_rmtree(e->dir);
        free(e->dir);
        free(e);
        return -1;
    }
    snprintf(e->cfg, sizeof e->cfg, "%s/byokwatch.json", e->dir);
    char text[4096];
    snprintf(text, sizeof text,
             "{\"data_dir\": \"%s/data\", \"prices\": \"conf/prices.json\",\n"
             " \"providers\": [\n"
             "  {\"type\": \"openai\", \"name\": \"acme-openai\",\n"
             "   \"base_url\": \"http://127.0.0.1:%d/v1\", \"admin_key_env\": \"BW_T_OPENAI\",\n"
             "   \"backfill\": \"35d\"},\n"
             "  {\"type\": \"anthropic\", \"name\": \"acme-claude\",\n"
             "   \"base_url\": \"http://127.0.0.1:%d\", \"admin_key_env\": \"BW_T_ANTHROPIC\",\n"
             "   \"backfill\": \"35d\"}],\n"
             " \"business_units\": {\"Engineering\": {\"projects\": [\"proj_eng\"]}}}\n",
             e->dir, e->sim.port, e->sim.port);
    if (tu_write_file(e->cfg, text, 0600) != 0) {
        sim_stop(&e->sim);
        tu_rmtree(e->dir);
        free(e->dir);
        free(e);
        return -1;
    }
    *state = e;
    return 0;
}

static int e2e_teardown(void **state)
{
    struct e2e *e = *state;
    sim_stop(&e->sim);
    tu_rmtree(e->dir);
    free(e->dir);
    free(e);
    return 0;
}

static double truth(struct e2e *e, const char *provider, const char *metric, int64_t from,
                    int64_t to)
{
    char path[512], *body = NULL;
    snprintf(path, sizeof path, "/_sim/truth?provider=%s&metric=%s&from=%lld&to=%lld", provider,
             metric, (long long)from, (long long)to);
    assert_int_equal(sim_http(&e->sim, path, NULL, NULL, &body), 200);
    json_t *root = json_loads(body, 0, NULL);
    assert_non_null(root);
    double v = json_number_value(json_object_get(root, "value"));
    json_decref(root);
    free(body);
    return v;
}

static struct tu_run report(struct e2e *e, const char *a1, const char *a2, const char *a3,
                            const char *a4, const char *a5, const char *a6)
{
    char *argv[16] = {"byokwatch", "report", "--config", e->cfg, "--now", SIM_NOW};
    int n = 6;
    const char *extra[] = {a1, a2, a3, a4, a5, a6};
    for (int i = 0; i < 6 && extra[i]; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    struct tu_run r;
    assert_int_equal(tu_run_bw(&r, argv, run_env), 0);
    return r;
}

static void test_cli_against_simulator(void **state)
{
    struct e2e *e = *state;
    struct tu_run r;
    char *run[] = {"byokwatch", "run", "--config", e->cfg, "--once", "--now", SIM_NOW, NULL};
    assert_int_equal(tu_run_bw(&r, run, run_env), 0);
    if (r.status != 0)
        fprintf(stderr, "%s\n", r.err);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);

    r = report(e, "--week", "2026-W46", "--format", "json", NULL, NULL);
    if (r.status != 0)
        fprintf(stderr, "%s\n", r.err);
    assert_int_equal(r.status, 0);
    json_t *doc = json_loads(r.out, 0, NULL);
    assert_non_null(doc);
    tu_run_free(&r);
    int64_t from = W46, to = W46 + 7 * DAY;
    const json_t *t = json_object_get(doc, "totals");
    double cost =
        truth(e, "openai", "cost_usd", from, to) + truth(e, "anthropic", "cost_usd", from, to);
    assert_true(cost > 0);
    if (fabs(num(t, "cost_usd") - cost) >= 0.005)
        fail_msg("cost %.6f, simulator %.6f", num(t, "cost_usd"), cost);
    assert_true(fabs(num(t, "billed_cost_usd") - cost) < 0.005); /* every day billed */
    static const char *const tokens[] = {"input_tokens", "output_tokens"};
    for (int i = 0; i < 2; i++) {
        double want =
            truth(e, "openai", tokens[i], from, to) + truth(e, "anthropic", tokens[i], from, to);
        if (num(t, tokens[i]) != want)
            fail_msg("%s %.0f, simulator %.0f", tokens[i], num(t, tokens[i]), want);
    }
    assert_true(num(t, "requests") == truth(e, "openai", "requests", from, to));
    const json_t *bp = json_object_get(doc, "by_provider"), *p;
    size_t i;
    json_array_foreach(bp, i, p)
    {
        const char *name = json_string_value(json_object_get(p, "provider"));
        assert_true(fabs(num(p, "cost_usd") - truth(e, name, "cost_usd", from, to)) < 0.005);
    }
    json_decref(doc);

    /* no period: the last complete week before --now, the same one */
    r = report(e, "--format", "json", NULL, NULL, NULL, NULL);
    assert_int_equal(r.status, 0);
    doc = json_loads(r.out, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "period"), "from")),
                        "2026-11-09T00:00:00Z");
    json_decref(doc);
    tu_run_free(&r);

    /* --out writes the file (atomically); md is the default form */
    char out[4200];
    snprintf(out, sizeof out, "%s/week.csv", e->dir);
    r = report(e, "--week", "2026-W46", "--format", "csv", "--out", out);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "");
    tu_run_free(&r);
    char *csv = tu_read_file(out);
    assert_non_null(csv);
    assert_non_null(strstr(csv, "2026-11-09,anthropic,acme-claude,"));
    free(csv);
    r = report(e, "--week", "2026-W46", NULL, NULL, NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "# AI provider usage report: 2026-W46"));
    tu_run_free(&r);

    /* usage errors exit 2 */
    static const char *const bad[][4] = {
        {"--week", "2026-W99", NULL, NULL},
        {"--week", "2026-W46", "--from", "2026-11-09"},
        {"--from", "2026-11-09", NULL, NULL},
        {"--from", "2026-11-09T05:00:00Z", "--to", "2026-11-16"},
        {"--format", "pdf", NULL, NULL},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        r = report(e, bad[k][0], bad[k][1], bad[k][2], bad[k][3], NULL, NULL);
        if (r.status != 2)
            fail_msg("case %zu: exit %d (%s)", k, r.status, r.err);
        tu_run_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso_week_table),
        cmocka_unit_test(test_parse_week),
        cmocka_unit_test(test_last_complete_week),
        cmocka_unit_test_setup_teardown(test_build_figures, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_render_md_csv, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_empty_week, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_large_store_timing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cli_against_simulator, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
