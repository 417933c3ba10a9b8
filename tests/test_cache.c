/*
 * Tests for the analyzers' per-pass read cache (analyzers/cache.c): inside
 * a pass, ana_aggregate must answer exactly what ts_aggregate answers, for
 * random queries over random series (labels missing here and there, hourly
 * and daily data, filters, groupings, hour-aligned and unaligned ranges,
 * ranges inside and outside the cached window), on a real store.
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
#include "../common/timeutil.h"
#include "../storage/ts.h"
#include "testutil.h"

#define NOW 1795262400LL /* 2026-11-21T12:00:00Z */
#define DAY 86400LL
#define HOUR 3600LL

static int64_t fake_clock(void)
{
    return NOW;
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *const PROVIDERS[] = {"openai", "anthropic"};
static const char *const PROJECTS[] = {"p1", "p2", "p3", "default"};
static const char *const KEYS[] = {"k1", "k2", "k3", "k4", "k5"};
static const char *const MODELS[] = {"m1", "m2", "m3"};

static void fill(struct ts_store *st)
{
    char err[256];
    struct ts_batch *b = ts_batch_new();
    assert_non_null(b);
    for (int i = 0; i < 60; i++) {
        struct ts_label l[4];
        size_t n = 0;
        l[n++] = (struct ts_label){"provider", PROVIDERS[next() % 2]};
        l[n++] = (struct ts_label){"project", PROJECTS[next() % 4]};
        if (next() % 4)
            l[n++] = (struct ts_label){"api_key_id", KEYS[next() % 5]};
        l[n++] = (struct ts_label){"model", MODELS[next() % 3]};
        int daily = i % 5 == 0;
        const struct ts_series *ser = NULL;
        assert_int_equal(
            ts_series_get(st, daily ? "cost_usd" : "est_cost_usd", l, n, &ser, err, sizeof err), 0);
        uint64_t id = ser->id;
        int64_t step = daily ? DAY : HOUR;
        for (int64_t t = tu_floor(NOW, DAY) - 30 * DAY; t <= NOW; t += step) {
            if (next() % 7 == 0)
                continue; /* gaps */
            assert_int_equal(ts_batch_add(b, id, t, (double)(next() % 10000) / 100.0), 0);
        }
    }
    assert_int_equal(ts_write(st, b, err, sizeof err), 0);
    ts_batch_free(b);
}

static void same(const struct ts_agg_result *a, const struct ts_agg_result *b, const char *what)
{
    if (a->n_groups != b->n_groups)
        fail_msg("%s: %zu groups vs %zu", what, a->n_groups, b->n_groups);
    for (size_t g = 0; g < a->n_groups; g++) {
        const struct ts_agg_group *x = &a->groups[g], *y = &b->groups[g];
        assert_int_equal(x->n_labels, y->n_labels);
        assert_int_equal(x->n_series, y->n_series);
        for (size_t k = 0; k < x->n_labels; k++) {
            assert_string_equal(x->labels[k].name, y->labels[k].name);
            assert_string_equal(x->labels[k].value, y->labels[k].value);
        }
        if (x->n_points != y->n_points)
            fail_msg("%s: group %zu has %zu points vs %zu", what, g, x->n_points, y->n_points);
        for (size_t k = 0; k < x->n_points; k++) {
            assert_int_equal(x->times[k], y->times[k]);
            if (fabs(x->values[k] - y->values[k]) > 1e-9 * (1 + fabs(y->values[k])))
                fail_msg("%s: value %.12g vs %.12g", what, x->values[k], y->values[k]);
        }
    }
}

/* Random queries through ana_aggregate (inside a pass) and ts_aggregate must agree. */
static void compare_queries(struct ts_store *st, int rounds)
{
    char err[256];
    static const char *const NAMES[] = {"provider", "project", "api_key_id", "model"};
    for (int round = 0; round < rounds; round++) {
        struct ts_agg_query q = {0};
        const char *gb[4];
        struct ts_label match[2];
        q.metric = next() % 3 ? "est_cost_usd" : "cost_usd";
        q.step = next() % 2 ? HOUR : DAY;
        int64_t span = (int64_t)(next() % (20 * 24) + 1) * HOUR;
        int64_t back = (int64_t)(next() % (40 * 24)) * HOUR; /* sometimes outside the window */
        q.to = tu_floor(NOW, HOUR) + HOUR - back;
        if (next() % 3 == 0)
            q.to -= (int64_t)(next() % 3599); /* unaligned */
        q.from = q.to - span;
        if (q.step == DAY && next() % 2) {
            q.from = tu_floor(q.from, DAY);
            q.to = tu_floor(q.to, DAY) + DAY;
        }
        for (size_t i = 0; i < 4; i++) {
            if (next() % 2)
                gb[q.n_group_by++] = NAMES[i];
        }
        q.group_by = gb;
        if (next() % 3 == 0) {
            match[0] = (struct ts_label){"provider", PROVIDERS[next() % 2]};
            q.match = match;
            q.n_match = 1;
        }
        struct ts_agg_result a, b;
        int ra = ana_aggregate(st, &q, &a, err, sizeof err);
        int rb = ts_aggregate(st, &q, &b, err, sizeof err);
        assert_int_equal(ra, rb);
        char what[160];
        snprintf(what, sizeof what, "round %d %s step %lld", round, q.metric, (long long)q.step);
        if (ra == 0)
            same(&a, &b, what);
        ts_agg_free(&a);
        ts_agg_free(&b);
    }
}

static void test_cache_answers_like_the_store(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    struct ts_options o = {.create = 1, .clock = fake_clock};
    struct ts_store *st = NULL;
    char err[256];
    assert_int_equal(ts_open(dir, &o, &st, err, sizeof err), 0);
    fill(st);
    assert_int_equal(ana_cache_begin(st, NOW), 0);
    compare_queries(st, 400);
    ana_cache_end();
    ts_close(st);
    tu_rmtree(dir);
    free(dir);
}

/*
 * A cache kept between passes re-reads only from the earliest bucket the
 * last cycle wrote: overwritten buckets, a new hour and a new series must
 * all show in the next pass.
 */
static void test_cache_refreshes_what_changed(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    struct ts_options o = {.create = 1, .clock = fake_clock};
    struct ts_store *st = NULL;
    char err[256];
    assert_int_equal(ts_open(dir, &o, &st, err, sizeof err), 0);
    fill(st);
    struct ana_cache *c = ana_cache_new();
    assert_non_null(c);
    assert_int_equal(ana_cache_pass_begin(c, st, NOW, NULL), 0);
    compare_queries(st, 100); /* loads the windows */
    ana_cache_pass_end(c);

    /* a cycle: revise the last 3 hours of every hourly series, add a series */
    const struct ts_series **list = NULL;
    size_t n = 0;
    assert_int_equal(ts_series_list(st, "est_cost_usd", NULL, 0, &list, &n), 0);
    struct ts_batch *b = ts_batch_new();
    int64_t from = tu_floor(NOW, HOUR) - 3 * HOUR;
    for (size_t i = 0; i < n; i++)
        for (int64_t t = from; t <= tu_floor(NOW, HOUR); t += HOUR)
            assert_int_equal(ts_batch_add(b, list[i]->id, t, 1000.0 + (double)i), 0);
    free(list);
    struct ts_label l[] = {{"provider", "openai"}, {"project", "p9"}, {"model", "m9"}};
    const struct ts_series *ser = NULL;
    assert_int_equal(ts_series_get(st, "est_cost_usd", l, 3, &ser, err, sizeof err), 0);
    assert_int_equal(ts_batch_add(b, ser->id, from + HOUR, 7.0), 0);
    assert_int_equal(ts_write(st, b, err, sizeof err), 0);
    ts_batch_free(b);

    struct ana_changes ch = {.events_from = INT64_MAX, .samples = 1, .samples_from = from};
    assert_int_equal(ana_cache_pass_begin(c, st, NOW, &ch), 0);
    compare_queries(st, 300);
    ana_cache_pass_end(c);
    ana_cache_free(c);
    ts_close(st);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_answers_like_the_store),
        cmocka_unit_test(test_cache_refreshes_what_changed),
    };
    return cmocka_run_group_tests_name("cache", tests, NULL, NULL);
}
