/*
 * Tests for the inventory and self-watch rules: unexpected_model,
 * new_entity, key_age and collector_health. Their decisions are tabled
 * through the pure functions in analyzers/<type>.h (glob and allow-list
 * choice, learning periods, boundaries); evaluate() runs against a real
 * store with planted usage series, meta keys (inv/, seen/, health/) and
 * events, and the emitted alerts are checked label by label.
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

#include "../analyzers/collector_health.h"
#include "../analyzers/engine.h"
#include "../analyzers/key_age.h"
#include "../analyzers/new_entity.h"
#include "../analyzers/unexpected_model.h"
#include "../storage/ts.h"
#include "testutil.h"

extern const struct ana_rule_ops ana_unexpected_model, ana_new_entity, ana_key_age,
    ana_collector_health;

#define HOUR 3600LL
#define DAY 86400LL
#define BASE 1793491200LL                 /* 2026-11-01T00:00:00Z */
#define NOW (BASE + 40 * DAY + 12 * HOUR) /* 2026-12-11T12:00:00Z */

static int64_t fake_clock(void)
{
    return NOW;
}

static char g_err[1024];

static void must(int rc, const char *what)
{
    if (rc != 0)
        fail_msg("%s: rc=%d err=\"%s\"", what, rc, g_err);
}

static void expect_close(double got, double want, const char *what)
{
    if (!(fabs(got - want) <= 1e-6 * (fabs(want) > 1 ? fabs(want) : 1)))
        fail_msg("%s: got %.10g, want %.10g", what, got, want);
}

static json_t *js(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j)
        fail_msg("bad test JSON %s: %s", text, je.text);
    return j;
}

/* Copies tmpl into out with each '$' replaced by the next of vals (a test's JSON template). */
static void fill(const char *tmpl, const char *const *vals, size_t n_vals, char *out, size_t len)
{
    size_t o = 0, k = 0;
    for (const char *p = tmpl; *p && o + 1 < len; p++) {
        if (*p == '$' && k < n_vals) {
            for (const char *v = vals[k++]; *v && o + 1 < len; v++)
                out[o++] = *v;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

/* ---- fixture: a fresh store and two configured sources ---- */

static struct cfg_provider g_providers[] = {
    {.type = (char *)"openai", .name = (char *)"acme-openai", .enabled = 1},
    {.type = (char *)"anthropic", .name = (char *)"acme-claude", .enabled = 1},
};

struct fx {
    char *tmp;
    struct ts_store *st;
    struct config cfg;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    if (!(f->tmp = tu_mkdtemp())) {
        free(f);
        return -1;
    }
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/db", f->tmp);
    struct ts_options o = {.create = 1, .clock = fake_clock};
    if (ts_open(dir, &o, &f->st, g_err, sizeof g_err) != 0) {
        fprintf(stderr, "ts_open %s: %s\n", dir, g_err);
        tu_rmtree(f->tmp);
        free(f->tmp);
        free(f);
        return -1;
    }
    f->cfg.providers = g_providers;
    f->cfg.n_providers = sizeof g_providers / sizeof g_providers[0];
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    ts_close(f->st);
    tu_rmtree(f->tmp);
    free(f->tmp);
    free(f);
    return 0;
}

/* One hourly sample of metric{provider,account,project,api_key_id,model}; NULL labels are left out.
 */
static void put_usage(struct fx *f, const char *metric, const char *provider, const char *account,
                      const char *project, const char *key, const char *model, int64_t bucket,
                      double value)
{
    struct ts_label l[5];
    size_t n = 0;
    l[n++] = (struct ts_label){"provider", provider};
    l[n++] = (struct ts_label){"account", account};
    if (project)
        l[n++] = (struct ts_label){"project", project};
    if (key)
        l[n++] = (struct ts_label){"api_key_id", key};
    if (model)
        l[n++] = (struct ts_label){"model", model};
    const struct ts_series *s = NULL;
    must(ts_series_get(f->st, metric, l, n, &s, g_err, sizeof g_err), "ts_series_get");
    struct ts_batch *b = ts_batch_new();
    assert_non_null(b);
    must(ts_batch_add(b, s->id, bucket, value), "ts_batch_add");
    must(ts_write(f->st, b, g_err, sizeof g_err), "ts_write");
    ts_batch_free(b);
}

/* input_tokens and est_cost_usd of one hour of use. */
static void put_use(struct fx *f, const char *provider, const char *account, const char *project,
                    const char *key, const char *model, int64_t bucket, double tokens, double usd)
{
    put_usage(f, "input_tokens", provider, account, project, key, model, bucket, tokens);
    if (usd > 0)
        put_usage(f, "est_cost_usd", provider, account, project, key, model, bucket, usd);
}

static void put_meta(struct fx *f, const char *key, const char *val)
{
    struct ts_batch *b = ts_batch_new();
    assert_non_null(b);
    must(ts_batch_put(b, TS_META, key, strlen(key), val, strlen(val)), "ts_batch_put");
    must(ts_write(f->st, b, g_err, sizeof g_err), "ts_write");
    ts_batch_free(b);
}

static void put_seen(struct fx *f, const char *key, int64_t t)
{
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)t);
    put_meta(f, key, v);
}

static void put_event(struct fx *f, int64_t t, const char *type, const char *json)
{
    struct ts_batch *b = ts_batch_new();
    assert_non_null(b);
    struct ts_event ev = {.time = t, .type = type, .json = json};
    must(ts_batch_add_event(b, &ev), "ts_batch_add_event");
    must(ts_write(f->st, b, g_err, sizeof g_err), "ts_write");
    ts_batch_free(b);
}

/* Runs one rule (init, evaluate at now, destroy) with params; results into *r. */
static void run_rule(struct fx *f, const struct ana_rule_ops *ops, const char *params, int64_t now,
                     struct ana_results *r)
{
    struct cfg_rule rule = {.type = (char *)ops->type,
                            .name = (char *)"test-rule",
                            .severity = (char *)"warning",
                            .params = js(params)};
    void *ctx = NULL;
    must(ops->init(&rule, &f->cfg, &ctx, g_err, sizeof g_err), "init");
    struct ana_ctx c = {.st = f->st, .cfg = &f->cfg, .rule = &rule, .now = now};
    memset(r, 0, sizeof *r);
    must(ops->evaluate(ctx, &c, r, g_err, sizeof g_err), "evaluate");
    ops->destroy(ctx);
    json_decref(rule.params);
}

/*
 * The candidate whose labels are exactly the NULL-terminated name, value
 * pairs given; fails the test when there is none.
 */
static const struct ana_candidate *find_alert(const struct ana_results *r, ...)
{
    const char *want[2 * ANA_MAX_LABELS] = {NULL};
    size_t n = 0;
    va_list ap;
    va_start(ap, r);
    const char *s;
    while (n < (size_t)2 * ANA_MAX_LABELS && (s = va_arg(ap, const char *)) != NULL)
        want[n++] = s;
    va_end(ap);
    if (n % 2)
        fail_msg("find_alert: odd number of label arguments");
    for (size_t i = 0; i < r->n; i++) {
        const struct ana_candidate *c = &r->v[i];
        int ok = c->n_labels == n / 2;
        for (size_t k = 0; ok && k < n; k += 2) {
            const char *v = ana_label_get(c, want[k]);
            ok = v && want[k + 1] && strcmp(v, want[k + 1]) == 0;
        }
        if (ok)
            return c;
    }
    for (size_t i = 0; i < r->n; i++)
        fprintf(stderr, "  have: %s\n", r->v[i].summary);
    fail_msg("no alert with labels %s=%s...", n ? want[0] : "", n > 1 ? want[1] : "");
    return NULL;
}

/* ---- tables: unexpected_model ---- */

static void test_glob_table(void **state)
{
    (void)state;
    static const struct {
        const char *globs, *name;
        int want;
    } t[] = {
        {"[\"gpt-4o*\"]", "gpt-4o", 1},
        {"[\"gpt-4o*\"]", "gpt-4o-mini-2024-07-18", 1},
        {"[\"gpt-4o*\"]", "gpt-4", 0},
        {"[\"gpt-4o*\"]", "o1-pro", 0},
        {"[\"gpt-4o\"]", "gpt-4o-mini", 0}, /* no glob: exact */
        {"[\"gpt-4o*\", \"text-embedding-3-*\"]", "text-embedding-3-small", 1},
        {"[\"gpt-4o*\", \"text-embedding-3-*\"]", "text-embedding-ada-002", 0},
        {"[\"claude-*\"]", "Claude-3-opus", 0},    /* case-sensitive */
        {"[\"ft:*\"]", "ft:gpt-4o:acme/run-1", 1}, /* '*' crosses '/' */
        {"[\"gpt-4o-202[45]-*\"]", "gpt-4o-2024-08-06", 1},
        {"[\"gpt-4o-202[45]-*\"]", "gpt-4o-2023-08-06", 0},
        {"[\"claude-?-haiku\"]", "claude-3-haiku", 1},
        {"[]", "gpt-4o", 0},
        {"{}", "gpt-4o", 0}, /* not an array */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        json_t *g = js(t[i].globs);
        int got = ana_um_glob_any(g, t[i].name);
        json_decref(g);
        if (got != t[i].want)
            fail_msg("row %zu: %s vs %s: got %d want %d", i, t[i].globs, t[i].name, got, t[i].want);
    }
    assert_int_equal(ana_um_glob_any(NULL, "gpt-4o"), 0);
}

static void test_allowlist_table(void **state)
{
    (void)state;
    json_t *allow = js("{\"openai\": [\"gpt-4o*\", \"text-embedding-3-*\"],"
                       " \"anthropic\": [\"claude-*\"], \"acme-claude\": [\"claude-sonnet-*\"]}");
    json_t *per = js("{\"proj_eng\": [\"gpt-4o-mini\"], \"proj_lab\": [\"*\"]}");
    static const struct {
        const char *provider, *account, *project, *model;
        int violates, scoped, checked;
    } t[] = {
        {"openai", "acme-openai", "proj_mkt", "o1-pro", 1, 0, 1},
        {"openai", "acme-openai", "proj_mkt", "gpt-4o", 0, 0, 1},
        {"openai", "acme-openai", "default", "text-embedding-3-large", 0, 0, 1},
        /* the per-project list replaces the provider's: narrower for proj_eng... */
        {"openai", "acme-openai", "proj_eng", "gpt-4o", 1, 1, 1},
        {"openai", "acme-openai", "proj_eng", "gpt-4o-mini", 0, 1, 1},
        /* ...wider for proj_lab */
        {"openai", "acme-openai", "proj_lab", "o1-pro", 0, 1, 1},
        /* the source name's entry wins over the provider type's */
        {"anthropic", "acme-claude", "default", "claude-opus-4", 1, 0, 1},
        {"anthropic", "acme-claude", "default", "claude-sonnet-4", 0, 0, 1},
        {"anthropic", "other-claude", "default", "claude-opus-4", 0, 0, 1},
        /* no entry for the provider: not checked */
        {"google", "acme-gemini", "p1", "gemini-2.5-pro", 0, 0, 0},
        /* a project listed in per_project is checked even without a provider entry */
        {"google", "acme-gemini", "proj_lab", "gemini-2.5-pro", 0, 1, 1},
        {"google", "acme-gemini", "proj_eng", "gemini-2.5-pro", 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int scoped = -1;
        int got = ana_um_violates(allow, per, t[i].provider, t[i].account, t[i].project, t[i].model,
                                  &scoped);
        const json_t *l =
            ana_um_allowlist(allow, per, t[i].provider, t[i].account, t[i].project, NULL);
        if (got != t[i].violates || scoped != t[i].scoped || (l != NULL) != t[i].checked)
            fail_msg("row %zu (%s %s %s): violates %d scoped %d checked %d", i, t[i].account,
                     t[i].project, t[i].model, got, scoped, l != NULL);
    }
    /* no per_project map at all */
    assert_int_equal(ana_um_violates(allow, NULL, "openai", "a", "proj_eng", "gpt-4o", NULL), 0);
    assert_int_equal(ana_um_violates(NULL, NULL, "openai", "a", "proj_eng", "o1-pro", NULL), 0);
    json_decref(allow);
    json_decref(per);
}

static void test_new_model_table(void **state)
{
    (void)state;
    const int64_t L = 7 * DAY, LB = DAY, N = NOW;
    static const struct {
        int64_t first_seen, earliest; /* relative to NOW */
        int want;
    } t[] = {
        {-HOUR, -30 * DAY, 1},           /* long after learning */
        {-HOUR, -HOUR - 7 * DAY + 1, 0}, /* learning not met by one second */
        {-HOUR, -HOUR - 7 * DAY, 1},     /* exactly at the end of learning: new */
        {-HOUR, -HOUR, 0},               /* the first model of the source */
        {-DAY, -30 * DAY, 1},            /* lookback start is inclusive */
        {-DAY - 1, -30 * DAY, 0},        /* just before the lookback */
        {0, -30 * DAY, 0},               /* lookback end is exclusive */
        {HOUR, -30 * DAY, 0},            /* in the future (a backtest) */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int got = ana_um_is_new(N + t[i].first_seen, N + t[i].earliest, L, LB, N);
        int got2 = ana_ne_first_seen(N + t[i].first_seen, N + t[i].earliest, L, LB, N);
        if (got != t[i].want || got2 != t[i].want)
            fail_msg("row %zu: um %d ne %d want %d", i, got, got2, t[i].want);
    }
}

/* ---- tables: new_entity, key_age, collector_health ---- */

static void test_entity_reason_table(void **state)
{
    (void)state;
    static const struct {
        int used, listed, in_inv, is_new;
        const char *want;
    } t[] = {
        {1, 1, 0, 0, "not_in_inventory"},
        {1, 1, 0, 1, "not_in_inventory"}, /* the stronger reason wins */
        {1, 1, 1, 1, "first_seen"},
        {1, 1, 1, 0, NULL},
        {1, 0, 0, 0, NULL}, /* no inventory listed for the source: no shadow verdict */
        {1, 0, 0, 1, "first_seen"},
        {0, 1, 0, 0, NULL},         /* not used in the lookback */
        {0, 0, 0, 1, "first_seen"}, /* users: no inventory at all */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        const char *got = ana_ne_reason(t[i].used, t[i].listed, t[i].in_inv, t[i].is_new);
        if ((got == NULL) != (t[i].want == NULL) || (got && strcmp(got, t[i].want) != 0))
            fail_msg("row %zu: got %s want %s", i, got ? got : "NULL",
                     t[i].want ? t[i].want : "NULL");
    }
}

static void test_key_judge_table(void **state)
{
    (void)state;
    static const struct {
        const char *item;               /* '$' placeholders: created_at, last_used_at, expires_at */
        int64_t created, used, expires; /* relative to NOW; 0 = leave the placeholder null */
        int64_t max_idle;
        int too_old, idle;
    } t[] = {
        {"{\"status\":\"active\",\"created_at\":$}", -200 * DAY, 0, 0, 0, 1, 0},
        {"{\"status\":\"active\",\"created_at\":$}", -30 * DAY, 0, 0, 0, 0, 0},
        /* exactly max_age old: not yet (created_at < now - max_age is strict) */
        {"{\"status\":\"active\",\"created_at\":$}", -90 * DAY, 0, 0, 0, 0, 0},
        {"{\"status\":\"active\",\"created_at\":$}", -90 * DAY - 1, 0, 0, 0, 1, 0},
        {"{\"created_at\":$}", -200 * DAY, 0, 0, 0, 1, 0},                 /* no status */
        {"{\"status\":null,\"created_at\":$}", -200 * DAY, 0, 0, 0, 1, 0}, /* null status */
        {"{\"status\":\"Active\",\"created_at\":$}", -200 * DAY, 0, 0, 0, 1, 0},
        {"{\"status\":\"archived\",\"created_at\":$}", -200 * DAY, 0, 0, 0, 0, 0},
        {"{\"status\":\"ARCHIVED\",\"created_at\":$}", -200 * DAY, 0, 0, 0, 0, 0},
        {"{\"status\":\"inactive\",\"created_at\":$}", -200 * DAY, 0, 0, 0, 0, 0},
        {"{\"status\":\"expired\",\"created_at\":$}", -200 * DAY, 0, 0, 0, 0, 0},
        {"{\"status\":\"disabled\",\"created_at\":$}", -200 * DAY, 0, 0, 0, 0, 0},
        {"{\"status\":\"deleted\",\"created_at\":$}", -200 * DAY, 0, 0, 0, 0, 0},
        /* expired by date although listed active; expiring later still fires */
        {"{\"status\":\"active\",\"created_at\":$,\"last_used_at\":$,\"expires_at\":$}", -200 * DAY,
         0, -1, 0, 0, 0},
        {"{\"status\":\"active\",\"created_at\":$,\"last_used_at\":$,\"expires_at\":$}", -200 * DAY,
         0, DAY, 0, 1, 0},
        /* created after now (a backtest): ignored, idle too */
        {"{\"status\":\"active\",\"created_at\":$,\"last_used_at\":$}", DAY, -100 * DAY, 0,
         30 * DAY, 0, 0},
        {"{\"status\":\"active\"}", 0, 0, 0, 0, 0, 0}, /* no created_at */
        {"{\"status\":\"active\",\"created_at\":\"2026-01-01T00:00:00Z\"}", 0, 0, 0, 0, 1, 0},
        /* idle: strict too, and only with last_used_at */
        {"{\"status\":\"active\",\"created_at\":$,\"last_used_at\":$}", -60 * DAY, -31 * DAY, 0,
         30 * DAY, 0, 1},
        {"{\"status\":\"active\",\"created_at\":$,\"last_used_at\":$}", -60 * DAY, -30 * DAY, 0,
         30 * DAY, 0, 0},
        {"{\"status\":\"active\",\"created_at\":$,\"last_used_at\":$}", -60 * DAY, -30 * DAY - 1, 0,
         30 * DAY, 0, 1},
        {"{\"status\":\"active\",\"created_at\":$}", -60 * DAY, 0, 0, 30 * DAY, 0, 0},
        {"{\"status\":\"active\",\"created_at\":$,\"last_used_at\":$}", -60 * DAY, 0, 0, 30 * DAY,
         0, 0}, /* last_used_at null: never used or not reported */
        {"{\"status\":\"active\",\"created_at\":$,\"last_used_at\":$}", -60 * DAY, -100 * DAY, 0, 0,
         0, 0}, /* max_idle off */
        {"{\"status\":\"archived\",\"created_at\":$,\"last_used_at\":$}", -200 * DAY, -100 * DAY, 0,
         30 * DAY, 0, 0},
        {"{\"status\":\"active\",\"created_at\":$,\"last_used_at\":$}", -200 * DAY, -100 * DAY, 0,
         30 * DAY, 1, 1}, /* both reasons */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char a[3][32], text[512];
        const int64_t rel[3] = {t[i].created, t[i].used, t[i].expires};
        for (int k = 0; k < 3; k++) {
            if (rel[k])
                snprintf(a[k], sizeof a[k], "%lld", (long long)(NOW + rel[k]));
            else
                snprintf(a[k], sizeof a[k], "null");
        }
        const char *const vals[3] = {a[0], a[1], a[2]};
        fill(t[i].item, vals, 3, text, sizeof text);
        json_t *item = js(text);
        struct ana_key_verdict v;
        ana_key_judge(item, NOW, 90 * DAY, t[i].max_idle, &v);
        json_decref(item);
        if (v.too_old != t[i].too_old || v.idle != t[i].idle)
            fail_msg("row %zu %s: too_old %d idle %d, want %d %d", i, text, v.too_old, v.idle,
                     t[i].too_old, t[i].idle);
        if (v.too_old && t[i].created)
            expect_close(v.age_days, (double)-t[i].created / DAY, "age_days");
    }
}

static void test_health_judge_table(void **state)
{
    (void)state;
    static const struct {
        const char *rec;   /* '$': last_data */
        int64_t last_data; /* relative to NOW */
        long long failing_cycles;
        int failing, stale;
    } t[] = {
        {"{\"failures\":0,\"cycles\":10,\"last_data\":$}", -HOUR, 3, 0, 0},
        {"{\"failures\":2,\"cycles\":10,\"last_data\":$}", -HOUR, 3, 0, 0},
        {"{\"failures\":3,\"cycles\":10,\"last_data\":$}", -HOUR, 3, 1, 0}, /* exactly */
        {"{\"failures\":4,\"cycles\":10,\"last_data\":$}", -HOUR, 3, 1, 0},
        {"{\"failures\":1,\"cycles\":10,\"last_data\":$}", -HOUR, 1, 1, 0},
        /* staleness exactly max_staleness: not stale; one second more: stale */
        {"{\"failures\":0,\"cycles\":10,\"last_data\":$}", -6 * HOUR, 3, 0, 0},
        {"{\"failures\":0,\"cycles\":10,\"last_data\":$}", -6 * HOUR - 1, 3, 0, 1},
        {"{\"failures\":5,\"cycles\":10,\"last_data\":$}", -3 * DAY, 3, 1, 1},
        /* data from after now (a backtest): not stale */
        {"{\"failures\":0,\"cycles\":10,\"last_data\":$}", DAY, 3, 0, 0},
        /* never any data: stale once a cycle ran */
        {"{\"failures\":0,\"cycles\":5}", 0, 3, 0, 1},
        {"{\"failures\":0,\"cycles\":0}", 0, 3, 0, 0},
        {"[1,2]", 0, 3, 0, 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char text[256];
        char ld[32];
        snprintf(ld, sizeof ld, "%lld", (long long)(NOW + t[i].last_data));
        const char *const vals[1] = {ld};
        fill(t[i].rec, vals, 1, text, sizeof text);
        json_t *h = js(text);
        struct ana_health_verdict v;
        ana_health_judge(h, NOW, t[i].failing_cycles, 6 * HOUR, &v);
        json_decref(h);
        if (v.failing != t[i].failing || v.stale != t[i].stale)
            fail_msg("row %zu %s: failing %d stale %d, want %d %d", i, text, v.failing, v.stale,
                     t[i].failing, t[i].stale);
    }
    struct ana_health_verdict v;
    ana_health_judge(NULL, NOW, 3, 6 * HOUR, &v);
    assert_int_equal(v.failing + v.stale, 0);
}

/* ---- evaluate: unexpected_model ---- */

static void test_um_allowlist_eval(void **state)
{
    struct fx *f = *state;
    /* o1-pro in proj_mkt: $62.06 in the lookback, plus older use that must not count */
    put_use(f, "openai", "acme-openai", "proj_mkt", "key_mkt", "o1-pro", NOW - 3 * HOUR, 1000,
            20.00);
    put_use(f, "openai", "acme-openai", "proj_mkt", "key_mkt", "o1-pro", NOW - 2 * HOUR, 1100,
            22.06);
    put_use(f, "openai", "acme-openai", "proj_mkt", "key_mkt2", "o1-pro", NOW - 10 * HOUR, 900,
            20.00);
    put_use(f, "openai", "acme-openai", "proj_mkt", "key_mkt", "o1-pro", NOW - 3 * DAY, 9000,
            500.0);
    /* allowed models */
    put_use(f, "openai", "acme-openai", "proj_eng", "key_eng", "gpt-4o-mini", NOW - HOUR, 5e5,
            5.00);
    put_use(f, "openai", "acme-openai", "proj_eng", "key_eng", "text-embedding-3-small", NOW - HOUR,
            1e6, 0.02);
    /* anthropic has no allow entry: never checked */
    put_use(f, "anthropic", "acme-claude", "default", "apikey_01", "claude-opus-4", NOW - HOUR, 1e5,
            30.0);

    struct ana_results r;
    run_rule(f, &ana_unexpected_model,
             "{\"allow\": {\"openai\": [\"gpt-4o*\", \"text-embedding-3-*\"]},"
             " \"mode\": \"allowlist\", \"learning\": \"7d\"}",
             NOW, &r);
    assert_int_equal(r.n, 1);
    const struct ana_candidate *c =
        find_alert(&r, "provider", "openai", "account", "acme-openai", "model", "o1-pro", NULL);
    expect_close(c->value, 62.06, "value");
    assert_string_equal(c->unit, "usd");
    assert_string_equal(c->summary, "openai model o1-pro used in proj_mkt: $62.06 in the last 24h, "
                                    "not on the allowlist");
    assert_int_equal(c->n_causes, 1);
    assert_string_equal(c->causes[0].value, "proj_mkt");
    ana_results_free(&r);

    /* the rule narrowed to another provider sees nothing */
    run_rule(f, &ana_unexpected_model,
             "{\"allow\": {\"openai\": [\"gpt-4o*\"]}, \"mode\": \"allowlist\","
             " \"learning\": \"7d\", \"providers\": [\"anthropic\"]}",
             NOW, &r);
    assert_int_equal(r.n, 0);
    ana_results_free(&r);

    /* evaluated before any of the use (a backtest): quiet */
    run_rule(f, &ana_unexpected_model,
             "{\"allow\": {\"openai\": [\"gpt-4o*\"]}, \"mode\": \"allowlist\","
             " \"learning\": \"7d\"}",
             NOW - 5 * DAY, &r);
    assert_int_equal(r.n, 0);
    ana_results_free(&r);
}

static void test_um_per_project_eval(void **state)
{
    struct fx *f = *state;
    put_use(f, "openai", "acme-openai", "proj_eng", "k1", "gpt-4o", NOW - HOUR, 1000, 12.0);
    put_use(f, "openai", "acme-openai", "proj_eng", "k1", "gpt-4o-mini", NOW - HOUR, 1000, 3.0);
    put_use(f, "openai", "acme-openai", "proj_mkt", "k2", "gpt-4o", NOW - HOUR, 1000, 7.0);
    put_use(f, "openai", "acme-openai", "proj_mkt", "k2", "o1-pro", NOW - 2 * HOUR, 1000, 30.0);
    put_use(f, "openai", "acme-openai", "proj_ops", "k3", "o1-pro", NOW - 2 * HOUR, 1000, 10.0);
    put_use(f, "openai", "acme-openai", "proj_lab", "k4", "o1-pro", NOW - 2 * HOUR, 1000, 50.0);
    /* an unpriced model: tokens only */
    put_use(f, "openai", "acme-openai", "proj_ops", "k3", "mystery-1", NOW - 2 * HOUR, 4321, 0);

    struct ana_results r;
    run_rule(f, &ana_unexpected_model,
             "{\"allow\": {\"openai\": [\"gpt-4o*\"]}, \"mode\": \"allowlist\","
             " \"learning\": \"7d\","
             " \"per_project\": {\"proj_eng\": [\"gpt-4o-mini\"], \"proj_lab\": [\"*\"]}}",
             NOW, &r);
    assert_int_equal(r.n, 3);
    const struct ana_candidate *c = find_alert(&r, "provider", "openai", "account", "acme-openai",
                                               "model", "gpt-4o", "project", "proj_eng", NULL);
    expect_close(c->value, 12.0, "scoped value");
    assert_non_null(strstr(c->summary, "not on proj_eng's allowlist"));
    c = find_alert(&r, "provider", "openai", "account", "acme-openai", "model", "o1-pro", NULL);
    expect_close(c->value, 40.0, "o1-pro value (proj_lab allows it)");
    assert_string_equal(c->summary, "openai model o1-pro used in proj_mkt and 1 more project: "
                                    "$40.00 in the last 24h, not on the allowlist");
    assert_int_equal(c->n_causes, 2);
    assert_string_equal(c->causes[0].value, "proj_mkt");
    expect_close(c->causes[0].share, 0.75, "share");
    c = find_alert(&r, "provider", "openai", "account", "acme-openai", "model", "mystery-1", NULL);
    expect_close(c->value, 4321, "tokens");
    assert_string_equal(c->unit, "tokens");
    ana_results_free(&r);
}

static void test_um_new_eval(void **state)
{
    struct fx *f = *state;
    put_seen(f, "seen/acme-openai/model/gpt-4o", NOW - 30 * DAY);
    put_seen(f, "seen/acme-openai/model/gpt-4o-mini", NOW - 20 * DAY);
    put_seen(f, "seen/acme-openai/model/text-embedding-3-small", NOW - 3 * DAY);
    put_seen(f, "seen/acme-openai/model/o3", NOW - 2 * HOUR);
    put_seen(f, "seen/acme-openai/model/gpt-5", NOW + HOUR); /* after now: a backtest */
    put_use(f, "openai", "acme-openai", "proj_eng", "k1", "o3", NOW - 2 * HOUR, 1000, 5.0);
    /* anthropic is still learning: its first model appeared 3h ago */
    put_seen(f, "seen/acme-claude/model/claude-sonnet-4", NOW - 3 * HOUR);
    put_seen(f, "seen/acme-claude/model/claude-opus-4", NOW - 1 * HOUR);

    struct ana_results r;
    run_rule(f, &ana_unexpected_model, "{\"mode\": \"new\", \"learning\": \"7d\"}", NOW, &r);
    assert_int_equal(r.n, 1);
    const struct ana_candidate *c =
        find_alert(&r, "provider", "openai", "account", "acme-openai", "model", "o3", NULL);
    assert_int_equal(c->starts_at, NOW - 2 * HOUR);
    expect_close(c->value, 5.0, "value");
    ana_results_free(&r);

    /* an allow list given in mode new exempts what it allows */
    run_rule(f, &ana_unexpected_model,
             "{\"mode\": \"new\", \"learning\": \"7d\", \"allow\": {\"acme-openai\": [\"o*\"]}}",
             NOW, &r);
    assert_int_equal(r.n, 0);
    ana_results_free(&r);

    /* a day later the model is no longer new */
    run_rule(f, &ana_unexpected_model, "{\"mode\": \"new\", \"learning\": \"7d\"}",
             NOW - 2 * HOUR + DAY + 1, &r);
    assert_int_equal(r.n, 1); /* gpt-5, first seen at NOW + 1h, is new then */
    find_alert(&r, "provider", "openai", "account", "acme-openai", "model", "gpt-5", NULL);
    ana_results_free(&r);
}

/* ---- evaluate: new_entity ---- */

static void test_new_entity_eval(void **state)
{
    struct fx *f = *state;
    put_meta(f, "inv/acme-openai/api_key/key_known",
             "{\"id\":\"key_known\",\"status\":\"active\",\"project\":\"proj_eng\"}");
    put_meta(f, "inv/acme-openai/api_key/key_fresh",
             "{\"id\":\"key_fresh\",\"status\":\"active\",\"project\":\"proj_eng\"}");
    put_meta(f, "inv/acme-openai/project/proj_eng", "{\"id\":\"proj_eng\",\"status\":\"active\"}");
    put_seen(f, "seen/acme-openai/api_key/key_known", NOW - 30 * DAY);
    put_seen(f, "seen/acme-openai/api_key/key_fresh", NOW - 5 * HOUR);
    put_seen(f, "seen/acme-openai/api_key/key_shadow", NOW - 3 * HOUR);
    put_seen(f, "seen/acme-openai/project/proj_eng", NOW - 30 * DAY);
    put_seen(f, "seen/acme-openai/user/alice@example.com", NOW - 30 * DAY);
    put_seen(f, "seen/acme-openai/user/bob@example.com", NOW - 2 * HOUR);
    put_use(f, "openai", "acme-openai", "proj_eng", "key_known", "gpt-4o", NOW - HOUR, 1000, 2.0);
    put_use(f, "openai", "acme-openai", "proj_eng", "key_fresh", "gpt-4o", NOW - 5 * HOUR, 1000,
            1.0);
    put_use(f, "openai", "acme-openai", "proj_eng", "key_shadow", "gpt-4o", NOW - 3 * HOUR, 1000,
            4.20);
    put_use(f, "openai", "acme-openai", "proj_ghost", NULL, "gpt-4o", NOW - 3 * HOUR, 1000, 1.5);
    /* a shadow key used only long ago: not firing now */
    put_use(f, "openai", "acme-openai", "proj_eng", "key_old_shadow", "gpt-4o", NOW - 5 * DAY, 1000,
            9.0);
    /* anthropic console usage: no key id, default workspace, no inventory listed */
    put_use(f, "anthropic", "acme-claude", "default", NULL, "claude-sonnet-4", NOW - HOUR, 1000,
            3.0);
    put_use(f, "anthropic", "acme-claude", "wrkspc_01", "apikey_x", "claude-sonnet-4", NOW - HOUR,
            1000, 3.0);

    struct ana_results r;
    run_rule(f, &ana_new_entity,
             "{\"entities\": [\"api_key\", \"project\", \"user\"], \"learning\": \"7d\"}", NOW, &r);
    assert_int_equal(r.n, 4);
    const struct ana_candidate *c =
        find_alert(&r, "provider", "openai", "account", "acme-openai", "entity", "api_key",
                   "api_key_id", "key_shadow", "reason", "not_in_inventory", NULL);
    expect_close(c->value, 4.20, "shadow value");
    assert_int_equal(c->starts_at, NOW - 3 * HOUR);
    assert_non_null(strstr(c->summary, "not in the inventory"));
    find_alert(&r, "provider", "openai", "account", "acme-openai", "entity", "api_key",
               "api_key_id", "key_fresh", "reason", "first_seen", NULL);
    find_alert(&r, "provider", "openai", "account", "acme-openai", "entity", "project", "project",
               "proj_ghost", "reason", "not_in_inventory", NULL);
    c = find_alert(&r, "provider", "openai", "account", "acme-openai", "entity", "user", "actor",
                   "bob@example.com", "reason", "first_seen", NULL);
    assert_true(isnan(c->value));
    ana_results_free(&r);

    /* users only */
    run_rule(f, &ana_new_entity, "{\"entities\": [\"user\"], \"learning\": \"7d\"}", NOW, &r);
    assert_int_equal(r.n, 1);
    find_alert(&r, "provider", "openai", "account", "acme-openai", "entity", "user", "actor",
               "bob@example.com", "reason", "first_seen", NULL);
    ana_results_free(&r);

    /* once the inventory lists the shadow key, it is merely new */
    put_meta(f, "inv/acme-openai/api_key/key_shadow", "{\"id\":\"key_shadow\"}");
    run_rule(f, &ana_new_entity, "{\"entities\": [\"api_key\"], \"learning\": \"7d\"}", NOW, &r);
    assert_int_equal(r.n, 2);
    find_alert(&r, "provider", "openai", "account", "acme-openai", "entity", "api_key",
               "api_key_id", "key_shadow", "reason", "first_seen", NULL);
    ana_results_free(&r);
}

/* ---- evaluate: key_age ---- */

static void put_key(struct fx *f, const char *account, const char *kind, const char *id,
                    const char *status, int64_t created, int64_t last_used, const char *project)
{
    char key[256], val[512], used[64] = "", proj[128] = "";
    snprintf(key, sizeof key, "inv/%s/%s/%s", account, kind, id);
    if (last_used)
        snprintf(used, sizeof used, ",\"last_used_at\":%lld", (long long)last_used);
    if (project)
        snprintf(proj, sizeof proj, ",\"project\":\"%s\"", project);
    snprintf(val, sizeof val,
             "{\"id\":\"%s\",\"name\":\"n-%s\",\"status\":\"%s\",\"created_at\":%lld%s%s}", id, id,
             status, (long long)created, used, proj);
    put_meta(f, key, val);
}

static void test_key_age_eval(void **state)
{
    struct fx *f = *state;
    put_key(f, "acme-openai", "api_key", "key_old", "active", NOW - 200 * DAY, NOW - HOUR,
            "proj_eng");
    put_key(f, "acme-openai", "api_key", "key_new", "active", NOW - 30 * DAY, NOW - 45 * DAY,
            "proj_eng");
    put_key(f, "acme-openai", "api_key", "key_arch", "archived", NOW - 300 * DAY, 0, "proj_eng");
    put_key(f, "acme-openai", "admin_key", "admin_1", "active", NOW - 100 * DAY, 0, NULL);
    put_key(f, "acme-claude", "api_key", "apikey_01", "active", NOW - 120 * DAY, 0, "wrkspc_01");
    put_key(f, "acme-claude", "api_key", "apikey_02", "inactive", NOW - 120 * DAY, 0, "wrkspc_01");
    put_key(f, "gone-source", "api_key", "key_gone", "active", NOW - 400 * DAY, 0, NULL);
    put_meta(f, "inv/acme-openai/project/proj_eng",
             "{\"id\":\"proj_eng\",\"status\":\"active\",\"created_at\":1}");

    struct ana_results r;
    run_rule(f, &ana_key_age, "{\"max_age\": \"90d\"}", NOW, &r);
    assert_int_equal(r.n, 3);
    const struct ana_candidate *c =
        find_alert(&r, "provider", "openai", "account", "acme-openai", "api_key_id", "key_old",
                   "key_kind", "api_key", "reason", "age", "project", "proj_eng", NULL);
    expect_close(c->value, 200, "age days");
    expect_close(c->threshold, 90, "threshold");
    assert_string_equal(c->unit, "days");
    assert_int_equal(c->starts_at, NOW - 200 * DAY + 90 * DAY);
    assert_non_null(strstr(c->summary, "200 days old"));
    find_alert(&r, "provider", "openai", "account", "acme-openai", "api_key_id", "admin_1",
               "key_kind", "admin_key", "reason", "age", NULL);
    find_alert(&r, "provider", "anthropic", "account", "acme-claude", "api_key_id", "apikey_01",
               "key_kind", "api_key", "reason", "age", "project", "wrkspc_01", NULL);
    ana_results_free(&r);

    run_rule(f, &ana_key_age, "{\"max_age\": \"90d\", \"max_idle\": \"30d\"}", NOW, &r);
    assert_int_equal(r.n, 4);
    c = find_alert(&r, "provider", "openai", "account", "acme-openai", "api_key_id", "key_new",
                   "key_kind", "api_key", "reason", "idle", "project", "proj_eng", NULL);
    expect_close(c->value, 45, "idle days");
    expect_close(c->threshold, 30, "idle threshold");
    ana_results_free(&r);

    /* 111 days earlier: key_old is 89 days old, admin_1 not yet created */
    run_rule(f, &ana_key_age, "{\"max_age\": \"90d\"}", NOW - 111 * DAY, &r);
    assert_int_equal(r.n, 0);
    ana_results_free(&r);

    run_rule(f, &ana_key_age, "{\"max_age\": \"90d\", \"providers\": [\"acme-claude\"]}", NOW, &r);
    assert_int_equal(r.n, 1);
    ana_results_free(&r);
}

/* ---- evaluate: collector_health ---- */

static void put_health(struct fx *f, const char *account, const char *json)
{
    char key[128];
    snprintf(key, sizeof key, "health/%s", account);
    put_meta(f, key, json);
}

static void test_health_quiet_eval(void **state)
{
    struct fx *f = *state;
    char h[512];
    snprintf(h, sizeof h,
             "{\"provider\":\"openai\",\"account\":\"acme-openai\",\"failures\":0,\"cycles\":100,"
             "\"last_attempt\":%lld,\"last_success\":%lld,\"last_error\":\"\",\"last_data\":%lld}",
             (long long)(NOW - 300), (long long)(NOW - 300), (long long)(NOW - HOUR));
    put_health(f, "acme-openai", h);
    snprintf(h, sizeof h,
             "{\"provider\":\"anthropic\",\"account\":\"acme-claude\",\"failures\":2,"
             "\"cycles\":100,\"last_success\":%lld,\"last_data\":%lld}",
             (long long)(NOW - 900), (long long)(NOW - 6 * HOUR));
    put_health(f, "acme-claude", h);
    /* a restatement older than the 7d window */
    put_event(f, NOW - 8 * DAY, "collector.restatement",
              "{\"provider\":\"openai\",\"account\":\"acme-openai\",\"day\":\"2026-11-30\","
              "\"old_usd\":10,\"new_usd\":12,\"series\":\"cost_usd{}\"}");
    struct ana_results r;
    run_rule(f, &ana_collector_health, "{\"failing_cycles\": 3, \"max_staleness\": \"6h\"}", NOW,
             &r);
    assert_int_equal(r.n, 0);
    ana_results_free(&r);
}

static void test_health_eval(void **state)
{
    struct fx *f = *state;
    char h[1024], longerr[400];
    memset(longerr, 'x', sizeof longerr - 1);
    longerr[sizeof longerr - 1] = '\0';
    memcpy(longerr, "HTTP 401: invalid x-api-key\n", 28);
    snprintf(h, sizeof h,
             "{\"provider\":\"anthropic\",\"account\":\"acme-claude\",\"failures\":4,"
             "\"cycles\":50,\"last_success\":%lld,\"last_error\":\"%.*s\\n%s\","
             "\"last_data\":%lld}",
             (long long)(NOW - 2 * HOUR), 27, longerr, longerr + 28, (long long)(NOW - 8 * HOUR));
    put_health(f, "acme-claude", h);
    put_health(f, "acme-openai",
               "{\"provider\":\"openai\",\"account\":\"acme-openai\","
               "\"failures\":0,\"cycles\":3}");
    put_event(f, NOW - 2 * DAY, "collector.restatement",
              "{\"provider\":\"anthropic\",\"account\":\"acme-claude\",\"day\":\"2026-12-05\","
              "\"old_usd\":120,\"new_usd\":131.5,\"series\":\"cost_usd{a}\"}");
    put_event(f, NOW - 1 * DAY, "collector.restatement",
              "{\"provider\":\"anthropic\",\"account\":\"acme-claude\",\"day\":\"2026-12-05\","
              "\"old_usd\":131.5,\"new_usd\":140,\"series\":\"cost_usd{a}\"}");
    put_event(f, NOW - 1 * DAY, "collector.restatement",
              "{\"provider\":\"anthropic\",\"account\":\"acme-claude\",\"day\":\"2026-12-05\","
              "\"old_usd\":5,\"new_usd\":4,\"series\":\"cost_usd{b}\"}");

    struct ana_results r;
    run_rule(f, &ana_collector_health, "{\"failing_cycles\": 3, \"max_staleness\": \"6h\"}", NOW,
             &r);
    assert_int_equal(r.n, 4);
    const struct ana_candidate *c = find_alert(&r, "provider", "anthropic", "account",
                                               "acme-claude", "problem", "failing", NULL);
    expect_close(c->value, 4, "failures");
    expect_close(c->threshold, 3, "failing_cycles");
    assert_non_null(strstr(c->summary, "HTTP 401: invalid x-api-key"));
    assert_null(strchr(c->summary, '\n'));
    const char *le = json_string_value(json_object_get(c->details, "last_error"));
    assert_non_null(le);
    assert_true(strlen(le) <= 200);
    c = find_alert(&r, "provider", "anthropic", "account", "acme-claude", "problem", "stale", NULL);
    expect_close(c->value, 8, "stale hours");
    assert_int_equal(c->starts_at, NOW - 8 * HOUR + 6 * HOUR);
    /* acme-openai ran 3 cycles and never produced data */
    find_alert(&r, "provider", "openai", "account", "acme-openai", "problem", "stale", NULL);
    c = find_alert(&r, "provider", "anthropic", "account", "acme-claude", "problem", "restatement",
                   "day", "2026-12-05", NULL);
    expect_close(c->value, (140 - 120) + (4 - 5), "restated usd");
    assert_int_equal(c->starts_at, NOW - 2 * DAY);
    ana_results_free(&r);

    /* a disabled source is not watched */
    g_providers[1].enabled = 0;
    run_rule(f, &ana_collector_health, "{\"failing_cycles\": 3, \"max_staleness\": \"6h\"}", NOW,
             &r);
    g_providers[1].enabled = 1;
    assert_int_equal(r.n, 2); /* acme-openai stale, acme-claude's restatement (events stay) */
    ana_results_free(&r);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glob_table),
        cmocka_unit_test(test_allowlist_table),
        cmocka_unit_test(test_new_model_table),
        cmocka_unit_test(test_entity_reason_table),
        cmocka_unit_test(test_key_judge_table),
        cmocka_unit_test(test_health_judge_table),
        T(test_um_allowlist_eval),
        T(test_um_per_project_eval),
        T(test_um_new_eval),
        T(test_new_entity_eval),
        T(test_key_age_eval),
        T(test_health_quiet_eval),
        T(test_health_eval),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
