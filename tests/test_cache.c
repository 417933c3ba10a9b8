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
        struct ts_label match[3];
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
        if (next() % 4 == 0) { /* no value: the series lacking the label */
            static const char *const ABSENT[] = {"api_key_id", "zone"};
            match[q.n_match] = (struct ts_label){ABSENT[next() % 2], next() % 2 ? "" : NULL};
            q.match = match;
            q.n_match++;
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

static void write_batch(struct ts_store *st, struct ts_batch *b)
{
    char err[256];
    if (ts_write(st, b, err, sizeof err) != 0)
        fail_msg("ts_write: %s", err);
    ts_batch_clear(b);
}

static void pass(struct ana_cache *c, struct ts_store *st, int64_t now, int64_t samples_from,
                 struct ana_cache_stats *before)
{
    struct ana_changes ch = {.events_from = INT64_MAX, .samples = 1, .samples_from = samples_from};
    ana_cache_stats(c, before);
    assert_int_equal(ana_cache_pass_begin(c, st, now, &ch), 0);
}

/*
 * A cache kept between passes follows the store's change feed without
 * reading the store again: revised hours, a new hour, a revision days back
 * (its day's rollup moves), a new series, a series registered without data
 * all show in the next pass with the windows loaded once. A series with a
 * label name the metric did not have, an unknown change set
 * (samples_from 0), a feed that lost records and a new UTC day make it
 * read again; every pass answers like the store.
 */
static void test_cache_follows_the_feed(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    struct ts_options o = {.create = 1, .clock = fake_clock};
    struct ts_store *st = NULL;
    char err[256];
    struct ana_cache_stats s0, s1;
    assert_int_equal(ts_open(dir, &o, &st, err, sizeof err), 0);
    fill(st);
    struct ana_cache *c = ana_cache_new();
    assert_non_null(c);
    pass(c, st, NOW, 0, &s0);
    compare_queries(st, 100); /* loads the windows */
    ana_cache_pass_end(c);
    ana_cache_stats(c, &s1);
    assert_int_equal(s1.loads, 4); /* est_cost_usd and cost_usd, hourly and daily */
    print_message("first pass: %zu hits, %zu misses\n", s1.hits, s1.misses);
    assert_true(s1.hits > 20 && s1.misses > 0);

    /* cycle 1: revise the last 3 hours of every hourly series and an hour two days back
     * (its day's rollup moves), a new series, and a series registered with no data */
    const struct ts_series **list = NULL, **list2 = NULL;
    size_t n = 0, n2 = 0;
    assert_int_equal(ts_series_list(st, "est_cost_usd", NULL, 0, &list, &n), 0);
    struct ts_batch *b = ts_batch_new();
    int64_t from = tu_floor(NOW, HOUR) - 3 * HOUR;
    for (size_t i = 0; i < n; i++)
        for (int64_t t = from; t <= tu_floor(NOW, HOUR); t += HOUR)
            assert_int_equal(ts_batch_add(b, list[i]->id, t, 1000.0 + (double)i), 0);
    assert_int_equal(ts_batch_add(b, list[0]->id, from - 2 * DAY, 55.5), 0);
    struct ts_label l[] = {{"provider", "openai"}, {"project", "p9"}, {"model", "m9"}};
    const struct ts_series *ser = NULL;
    assert_int_equal(ts_series_get(st, "est_cost_usd", l, 3, &ser, err, sizeof err), 0);
    assert_int_equal(ts_batch_add(b, ser->id, from + HOUR, 7.0), 0);
    struct ts_label l2[] = {{"provider", "anthropic"}, {"project", "p8"}, {"model", "m1"}};
    assert_int_equal(ts_series_get(st, "est_cost_usd", l2, 3, &ser, err, sizeof err), 0);
    write_batch(st, b);
    pass(c, st, NOW, from - 2 * DAY, &s0);
    compare_queries(st, 300);
    ana_cache_pass_end(c);
    ana_cache_stats(c, &s1);
    assert_int_equal(s1.loads, s0.loads); /* nothing read again */
    assert_int_equal(s1.drops, s0.drops);
    assert_true(s1.applied >= 2 * (4 * n + 2)); /* each record to its hourly and daily window */

    /* cycle 2: a cost_usd series with a label the metric never had: that metric reloads */
    struct ts_label l3[] = {{"provider", "openai"}, {"project", "p1"}, {"region", "eu"}};
    assert_int_equal(ts_series_get(st, "cost_usd", l3, 3, &ser, err, sizeof err), 0);
    assert_int_equal(ts_batch_add(b, ser->id, tu_floor(NOW, DAY), 3.25), 0);
    assert_int_equal(ts_batch_add(b, list[1]->id, tu_floor(NOW, HOUR), 1.5), 0);
    write_batch(st, b);
    pass(c, st, NOW, tu_floor(NOW, DAY), &s0);
    ana_cache_stats(c, &s1);
    assert_true(s1.drops > s0.drops);
    compare_queries(st, 200);
    ana_cache_pass_end(c);
    ana_cache_stats(c, &s1);
    assert_int_equal(s1.loads - s0.loads, s1.drops - s0.drops);

    /* an unknown change set starts over; a write after the pass began, before the windows
     * load, is read by the load and not applied again at the next pass */
    pass(c, st, NOW, 0, &s0);
    ana_cache_stats(c, &s1);
    assert_int_equal(s1.drops - s0.drops, 4);
    assert_int_equal(ts_batch_add(b, list[2]->id, from - DAY - 5 * HOUR, 40.0), 0);
    write_batch(st, b);
    compare_queries(st, 50);
    ana_cache_pass_end(c);
    pass(c, st, NOW, from - DAY, &s0);
    compare_queries(st, 100);
    ana_cache_pass_end(c);

    /* more records than the feed keeps: read again */
    for (size_t k = 0; k <= TS_FEED_MAX; k++)
        assert_int_equal(
            ts_batch_add(b, list[k % n]->id, tu_floor(NOW, HOUR) - (int64_t)(k / n) * HOUR, 2.0),
            0);
    write_batch(st, b);
    pass(c, st, NOW, tu_floor(NOW, HOUR) - 300 * DAY, &s0);
    ana_cache_stats(c, &s1);
    assert_int_equal(s1.drops - s0.drops, 4);
    compare_queries(st, 100);
    ana_cache_pass_end(c);

    /* a new UTC day moves the windows without reading them again, except the day entering
     * them when something was written that late (here a point two days ahead) */
    compare_queries(st, 20); /* loads them again after the loss above */
    ana_cache_pass_end(c);
    int64_t ahead = tu_floor(NOW, DAY) + 2 * DAY + 5 * HOUR;
    assert_int_equal(ts_batch_add(b, list[3]->id, ahead, 12.0), 0);
    assert_int_equal(ts_batch_add(b, list[4]->id, tu_floor(NOW, HOUR) + HOUR, 3.0), 0);
    write_batch(st, b);
    pass(c, st, NOW + DAY, tu_floor(NOW, HOUR), &s0);
    ana_cache_stats(c, &s1);
    assert_int_equal(s1.drops - s0.drops, 0);
    assert_int_equal(s1.shifts - s0.shifts, 4);
    compare_queries(st, 100);
    static const char *const by_model[] = {"model"};
    for (int daily = 0; daily < 2; daily++) {
        struct ts_agg_query q = {.metric = "est_cost_usd",
                                 .group_by = by_model,
                                 .n_group_by = 1,
                                 .from = tu_floor(NOW, DAY) - 5 * DAY,
                                 .to = ahead + (daily ? DAY - 5 * HOUR : HOUR),
                                 .step = daily ? DAY : HOUR};
        struct ts_agg_result x, y;
        assert_int_equal(ana_aggregate(st, &q, &x, err, sizeof err), 0);
        assert_int_equal(ts_aggregate(st, &q, &y, err, sizeof err), 0);
        same(&x, &y, daily ? "after the shift, daily" : "after the shift, hourly");
        ts_agg_free(&x);
        ts_agg_free(&y);
    }
    ana_cache_stats(c, &s1);
    assert_int_equal(s1.loads, s0.loads);
    ana_cache_pass_end(c);

    /* going back a day (a backtest) reads again */
    pass(c, st, NOW, tu_floor(NOW, HOUR), &s0);
    ana_cache_stats(c, &s1);
    assert_int_equal(s1.drops - s0.drops, 4);
    compare_queries(st, 20);
    ana_cache_pass_end(c);

    /* the store closed and opened again (perhaps at the same address): read again, then
     * follow the new store's feed */
    ts_close(st);
    st = NULL;
    assert_int_equal(ts_open(dir, &o, &st, err, sizeof err), 0);
    pass(c, st, NOW, tu_floor(NOW, HOUR), &s0);
    compare_queries(st, 50);
    ana_cache_pass_end(c);
    assert_int_equal(ts_series_list(st, "est_cost_usd", NULL, 0, &list2, &n2), 0);
    assert_int_equal(ts_batch_add(b, list2[0]->id, tu_floor(NOW, HOUR), 77.0), 0);
    write_batch(st, b);
    free(list2);
    pass(c, st, NOW, tu_floor(NOW, HOUR), &s0);
    compare_queries(st, 50);
    ana_cache_pass_end(c);
    ana_cache_stats(c, &s1);
    assert_int_equal(s1.loads, s0.loads);
    assert_int_equal(s1.drops, s0.drops);

    free(list);
    ts_batch_free(b);
    ana_cache_free(c);
    ts_close(st);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_answers_like_the_store),
        cmocka_unit_test(test_cache_follows_the_feed),
    };
    return cmocka_run_group_tests_name("cache", tests, NULL, NULL);
}
