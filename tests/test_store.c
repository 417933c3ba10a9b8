/*
 * Tests for the RocksDB time-series store (storage/ts.h) against the real
 * RocksDB in temporary directories: upsert and rollup arithmetic (checked
 * against an in-test model under random overwrites, compaction and reopen),
 * aggregation, series identity, events, key-value families, retention,
 * crash safety (a writer child killed with SIGKILL) and refusal of foreign,
 * newer, locked or corrupt directories. Child processes re-execute this
 * binary (/proc/self/exe) in a child mode so no RocksDB state crosses fork.
 */
#define _GNU_SOURCE /* F_SETPIPE_SZ */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <rocksdb/c.h>

#include "../storage/ts.h"
#include "testutil.h"

#define HOUR 3600LL
#define DAY 86400LL
#define BASE 1793491200LL /* 2026-11-01T00:00:00Z */
#define NOW0 (BASE + 40 * DAY)

static int64_t g_now = NOW0;
static int64_t fake_clock(void)
{
    return g_now;
}

static char g_err[1024];

static void must(int rc, const char *what)
{
    if (rc != 0)
        fail_msg("%s: rc=%d err=\"%s\"", what, rc, g_err);
}

static void expect_close(double got, double want, const char *what)
{
    double tol = 1e-9 * (fabs(want) > 1.0 ? fabs(want) : 1.0);
    if (!(fabs(got - want) <= tol))
        fail_msg("%s: got %.17g, want %.17g", what, got, want);
}

static uint64_t rng_next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* ---- fixture: a fresh store in <tmp>/db, created on open ---- */

struct fx {
    char *tmp;
    char dir[4200];
    struct ts_options opts;
    struct ts_store *st;
};

static int open_store(const char *dir, const struct ts_options *o, struct ts_store **st)
{
    g_err[0] = '\0';
    *st = NULL;
    return ts_open(dir, o, st, g_err, sizeof g_err);
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->tmp = tu_mkdtemp();
    if (!f->tmp)
        return -1;
    snprintf(f->dir, sizeof f->dir, "%s/db", f->tmp);
    g_now = NOW0;
    f->opts.create = 1;
    f->opts.clock = fake_clock;
    if (open_store(f->dir, &f->opts, &f->st) != 0) {
        fprintf(stderr, "ts_open %s: %s\n", f->dir, g_err);
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
    if (f->st)
        ts_close(f->st);
    tu_rmtree(f->tmp);
    free(f->tmp);
    free(f);
    g_now = NOW0;
    return 0;
}

static void fx_reopen(struct fx *f)
{
    ts_close(f->st);
    f->st = NULL;
    f->opts.create = 0;
    must(open_store(f->dir, &f->opts, &f->st), "reopen");
}

/* ---- small helpers over the API ---- */

static uint64_t series_l(struct ts_store *st, const char *metric, const struct ts_label *l,
                         size_t n)
{
    const struct ts_series *s = NULL;
    g_err[0] = '\0';
    must(ts_series_get(st, metric, l, n, &s, g_err, sizeof g_err), "ts_series_get");
    assert_non_null(s);
    return s->id;
}

static uint64_t series2(struct ts_store *st, const char *metric, const char *provider,
                        const char *model)
{
    struct ts_label l[2] = {{"provider", provider}, {"model", model}};
    return series_l(st, metric, l, 2);
}

static void write_batch(struct ts_store *st, struct ts_batch *b)
{
    g_err[0] = '\0';
    must(ts_write(st, b, g_err, sizeof g_err), "ts_write");
}

static void write_one(struct ts_store *st, uint64_t id, int64_t bucket, double v)
{
    struct ts_batch *b = ts_batch_new();
    assert_non_null(b);
    assert_int_equal(ts_batch_add(b, id, bucket, v), 0);
    write_batch(st, b);
    ts_batch_free(b);
}

struct pts {
    int64_t *t;
    double *v;
    size_t n;
};

static void read_pts(struct ts_store *st, uint64_t id, int64_t from, int64_t to, int64_t step,
                     struct pts *p)
{
    memset(p, 0, sizeof *p);
    g_err[0] = '\0';
    must(ts_read_range(st, id, from, to, step, &p->t, &p->v, &p->n, g_err, sizeof g_err),
         "ts_read_range");
}

static void pts_free(struct pts *p)
{
    free(p->t);
    free(p->v);
    memset(p, 0, sizeof *p);
}

/* Returns 1 and the value when [t, t+step) holds exactly one point at t, 0 when empty. */
static int value_at(struct ts_store *st, uint64_t id, int64_t t, int64_t step, double *v)
{
    struct pts p;
    read_pts(st, id, t, t + step, step, &p);
    int found = 0;
    if (p.n == 1) {
        assert_int_equal(p.t[0], t);
        *v = p.v[0];
        found = 1;
    } else if (p.n != 0) {
        fail_msg("%zu points in one bucket", p.n);
    }
    pts_free(&p);
    return found;
}

static void expect_val(struct ts_store *st, uint64_t id, int64_t t, int64_t step, double want)
{
    double v = 0;
    if (!value_at(st, id, t, step, &v))
        fail_msg("no value at %lld step %lld (want %g)", (long long)t, (long long)step, want);
    expect_close(v, want, "value");
}

static void expect_none(struct ts_store *st, uint64_t id, int64_t t, int64_t step)
{
    double v = 0;
    if (value_at(st, id, t, step, &v))
        fail_msg("unexpected value %g at %lld step %lld", v, (long long)t, (long long)step);
}

static void agg(struct ts_store *st, const struct ts_agg_query *q, struct ts_agg_result *r)
{
    memset(r, 0, sizeof *r);
    g_err[0] = '\0';
    must(ts_aggregate(st, q, r, g_err, sizeof g_err), "ts_aggregate");
}

static const char *group_label(const struct ts_agg_group *g, const char *name)
{
    for (size_t i = 0; i < g->n_labels; i++)
        if (strcmp(g->labels[i].name, name) == 0)
            return g->labels[i].value;
    return NULL;
}

/* Asserts group g has exactly the given points. */
static void expect_group_points(const struct ts_agg_group *g, size_t n, const int64_t *t,
                                const double *v)
{
    if (g->n_points != n)
        fail_msg("group has %zu points, want %zu", g->n_points, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(g->times[i], t[i]);
        expect_close(g->values[i], v[i], "group value");
    }
}

/* ---- upsert ---- */

static void test_upsert_idempotent(void **state)
{
    struct fx *f = *state;
    uint64_t id = series2(f->st, "cost_usd", "openai", "gpt-4o");
    struct ts_batch *b = ts_batch_new();
    assert_non_null(b);
    for (int h = 0; h < 48; h++)
        assert_int_equal(ts_batch_add(b, id, BASE + h * HOUR, h + 1), 0);
    assert_int_equal(ts_batch_samples(b), 48);
    write_batch(f->st, b);
    write_batch(f->st, b); /* same batch again: nothing may change */

    struct pts p;
    read_pts(f->st, id, BASE, BASE + 2 * DAY, HOUR, &p);
    assert_int_equal(p.n, 48);
    for (size_t i = 0; i < 48; i++) {
        assert_int_equal(p.t[i], BASE + (int64_t)i * HOUR);
        expect_close(p.v[i], (double)i + 1, "point");
    }
    pts_free(&p);
    read_pts(f->st, id, BASE, BASE + 2 * DAY, DAY, &p);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.t[0], BASE);
    assert_int_equal(p.t[1], BASE + DAY);
    expect_close(p.v[0], 300, "day 0"); /* 1..24 */
    expect_close(p.v[1], 876, "day 1"); /* 25..48 */
    pts_free(&p);

    /* Re-poll of one bucket with a new value replaces it, twice over. */
    ts_batch_clear(b);
    assert_int_equal(ts_batch_samples(b), 0);
    assert_int_equal(ts_batch_add(b, id, BASE + 5 * HOUR, 100), 0);
    for (int k = 0; k < 2; k++) {
        write_batch(f->st, b);
        expect_val(f->st, id, BASE + 5 * HOUR, HOUR, 100);
        expect_val(f->st, id, BASE, DAY, 300 - 6 + 100);
        expect_val(f->st, id, BASE + DAY, DAY, 876);

        struct ts_agg_query q = {
            .metric = "cost_usd", .from = BASE, .to = BASE + 2 * DAY, .step = DAY};
        struct ts_agg_result r;
        agg(f->st, &q, &r);
        assert_int_equal(r.n_groups, 1);
        expect_group_points(&r.groups[0], 2, (int64_t[]){BASE, BASE + DAY}, (double[]){394, 876});
        ts_agg_free(&r);
        q.step = HOUR;
        q.from = BASE + 4 * HOUR;
        q.to = BASE + 7 * HOUR;
        agg(f->st, &q, &r);
        assert_int_equal(r.n_groups, 1);
        expect_group_points(&r.groups[0], 3,
                            (int64_t[]){BASE + 4 * HOUR, BASE + 5 * HOUR, BASE + 6 * HOUR},
                            (double[]){5, 100, 7});
        ts_agg_free(&r);
    }

    /* Lower again, and to zero: the rollup follows, a zero point is still a point. */
    ts_batch_clear(b);
    assert_int_equal(ts_batch_add(b, id, BASE + 5 * HOUR, 0), 0);
    assert_int_equal(ts_batch_add(b, id, BASE + 30 * HOUR, 0.25), 0);
    write_batch(f->st, b);
    expect_val(f->st, id, BASE + 5 * HOUR, HOUR, 0);
    expect_val(f->st, id, BASE, DAY, 294);
    expect_val(f->st, id, BASE + DAY, DAY, 876 - 31 + 0.25);

    must(ts_compact(f->st, g_err, sizeof g_err), "ts_compact");
    expect_val(f->st, id, BASE, DAY, 294);
    expect_val(f->st, id, BASE + DAY, DAY, 876 - 31 + 0.25);
    read_pts(f->st, id, BASE, BASE + 2 * DAY, HOUR, &p);
    assert_int_equal(p.n, 48);
    pts_free(&p);
    ts_batch_free(b);
}

static void test_batch_last_wins(void **state)
{
    struct fx *f = *state;
    uint64_t id = series2(f->st, "requests", "openai", "gpt-4o");
    struct ts_batch *b = ts_batch_new();
    assert_non_null(b);

    /* New bucket written three times in one batch. */
    assert_int_equal(ts_batch_add(b, id, BASE + 3 * HOUR, 1), 0);
    assert_int_equal(ts_batch_add(b, id, BASE + 4 * HOUR, 40), 0);
    assert_int_equal(ts_batch_add(b, id, BASE + 3 * HOUR, 2), 0);
    assert_int_equal(ts_batch_add(b, id, BASE + 3 * HOUR, 3), 0);
    write_batch(f->st, b);
    expect_val(f->st, id, BASE + 3 * HOUR, HOUR, 3);
    expect_val(f->st, id, BASE, DAY, 43);

    /* Existing bucket written twice in one batch. */
    ts_batch_clear(b);
    assert_int_equal(ts_batch_add(b, id, BASE + 4 * HOUR, 5), 0);
    assert_int_equal(ts_batch_add(b, id, BASE + 4 * HOUR, 7), 0);
    write_batch(f->st, b);
    expect_val(f->st, id, BASE + 4 * HOUR, HOUR, 7);
    expect_val(f->st, id, BASE, DAY, 10);

    /* A later value that equals an earlier one in the same batch. */
    ts_batch_clear(b);
    assert_int_equal(ts_batch_add(b, id, BASE + 4 * HOUR, 9), 0);
    assert_int_equal(ts_batch_add(b, id, BASE + 4 * HOUR, 7), 0);
    write_batch(f->st, b);
    expect_val(f->st, id, BASE + 4 * HOUR, HOUR, 7);
    expect_val(f->st, id, BASE, DAY, 10);

    /* Same bucket on two series in one batch stays apart. */
    uint64_t id2 = series2(f->st, "requests", "openai", "gpt-4o-mini");
    assert_true(id2 != id);
    ts_batch_clear(b);
    assert_int_equal(ts_batch_add(b, id, BASE + 4 * HOUR, 11), 0);
    assert_int_equal(ts_batch_add(b, id2, BASE + 4 * HOUR, 1000), 0);
    write_batch(f->st, b);
    expect_val(f->st, id, BASE, DAY, 14);
    expect_val(f->st, id2, BASE, DAY, 1000);

    /* An empty batch is a successful no-op. */
    ts_batch_clear(b);
    write_batch(f->st, b);
    expect_val(f->st, id, BASE, DAY, 14);
    ts_batch_free(b);
}

/* ---- bounds ---- */

static void test_range_bounds(void **state)
{
    struct fx *f = *state;
    uint64_t id = series2(f->st, "cost_usd", "openai", "gpt-4o");
    const int64_t d0 = BASE + 2 * DAY;
    const int64_t from = d0 + 10 * HOUR, to = d0 + 20 * HOUR;
    struct ts_batch *b = ts_batch_new();
    assert_non_null(b);
    assert_int_equal(ts_batch_add(b, id, from - HOUR, 1), 0);
    assert_int_equal(ts_batch_add(b, id, from, 2), 0);
    assert_int_equal(ts_batch_add(b, id, from + HOUR, 4), 0);
    assert_int_equal(ts_batch_add(b, id, to - HOUR, 8), 0);
    assert_int_equal(ts_batch_add(b, id, to, 16), 0);
    /* One point on each of the neighbouring days. */
    assert_int_equal(ts_batch_add(b, id, d0 - DAY + 23 * HOUR, 32), 0);
    assert_int_equal(ts_batch_add(b, id, d0 + DAY, 64), 0);
    assert_int_equal(ts_batch_add(b, id, d0 + 2 * DAY + 5 * HOUR, 128), 0);
    write_batch(f->st, b);
    ts_batch_free(b);

    struct pts p;
    read_pts(f->st, id, from, to, HOUR, &p);
    assert_int_equal(p.n, 3);
    assert_int_equal(p.t[0], from);
    assert_int_equal(p.t[1], from + HOUR);
    assert_int_equal(p.t[2], to - HOUR);
    expect_close(p.v[0] + p.v[1] + p.v[2], 14, "in range");
    pts_free(&p);

    /* Empty and reversed ranges. */
    read_pts(f->st, id, from, from, HOUR, &p);
    assert_int_equal(p.n, 0);
    pts_free(&p);
    read_pts(f->st, id, to, from, HOUR, &p);
    assert_int_equal(p.n, 0);
    pts_free(&p);

    /* Days: [d0, d0+2d) holds d0 and d0+1d, not d0-1d nor d0+2d. */
    read_pts(f->st, id, d0, d0 + 2 * DAY, DAY, &p);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.t[0], d0);
    assert_int_equal(p.t[1], d0 + DAY);
    expect_close(p.v[0], 31, "day d0");
    expect_close(p.v[1], 64, "day d1");
    pts_free(&p);
    /* Unaligned from/to are floored to days for step 86400. */
    read_pts(f->st, id, d0 - DAY + 23 * HOUR, d0 + 2 * DAY + 6 * HOUR, DAY, &p);
    assert_int_equal(p.n, 3);
    assert_int_equal(p.t[0], d0 - DAY);
    assert_int_equal(p.t[2], d0 + DAY);
    pts_free(&p);

    struct ts_agg_query q = {.metric = "cost_usd", .from = from, .to = to, .step = HOUR};
    struct ts_agg_result r;
    agg(f->st, &q, &r);
    assert_int_equal(r.n_groups, 1);
    expect_group_points(&r.groups[0], 3, (int64_t[]){from, from + HOUR, to - HOUR},
                        (double[]){2, 4, 8});
    ts_agg_free(&r);

    q.from = d0;
    q.to = d0 + 2 * DAY;
    q.step = DAY;
    agg(f->st, &q, &r);
    assert_int_equal(r.n_groups, 1);
    expect_group_points(&r.groups[0], 2, (int64_t[]){d0, d0 + DAY}, (double[]){31, 64});
    ts_agg_free(&r);

    /* Unaligned day step sums raw points in [from, to) per UTC day. */
    q.from = from;
    q.to = d0 + DAY + HOUR;
    agg(f->st, &q, &r);
    assert_int_equal(r.n_groups, 1);
    expect_group_points(&r.groups[0], 2, (int64_t[]){d0, d0 + DAY}, (double[]){30, 64});
    ts_agg_free(&r);
    q.to = d0 + DAY; /* exactly the d0+1d point: excluded */
    agg(f->st, &q, &r);
    assert_int_equal(r.n_groups, 1);
    expect_group_points(&r.groups[0], 1, (int64_t[]){d0}, (double[]){30});
    ts_agg_free(&r);
}

/* ---- rollups against a model ---- */

#define M_SERIES 4
#define M_DAYS 6
#define M_CELLS (M_DAYS * 24)

struct model {
    uint64_t ids[M_SERIES];
    double v[M_SERIES][M_CELLS];
    unsigned char set[M_SERIES][M_CELLS];
};

static void model_register(struct ts_store *st, struct model *m)
{
    for (int s = 0; s < M_SERIES; s++) {
        char k[16];
        snprintf(k, sizeof k, "%d", s);
        struct ts_label l[1] = {{"k", k}};
        m->ids[s] = series_l(st, "rand", l, 1);
    }
}

static void model_put(struct model *m, struct ts_batch *b, int s, int cell, double v)
{
    assert_int_equal(ts_batch_add(b, m->ids[s], BASE + cell * HOUR, v), 0);
    m->v[s][cell] = v;
    m->set[s][cell] = 1;
}

static void model_check(struct ts_store *st, const struct model *m, const char *when)
{
    double total[M_DAYS] = {0};
    int any[M_DAYS] = {0};
    for (int s = 0; s < M_SERIES; s++) {
        struct pts p;
        read_pts(st, m->ids[s], BASE, BASE + M_DAYS * DAY, HOUR, &p);
        size_t k = 0;
        for (int c = 0; c < M_CELLS; c++) {
            if (!m->set[s][c])
                continue;
            if (k >= p.n || p.t[k] != BASE + c * HOUR)
                fail_msg("%s: series %d missing cell %d", when, s, c);
            if (p.v[k] != m->v[s][c])
                fail_msg("%s: series %d cell %d = %.17g, want %.17g", when, s, c, p.v[k],
                         m->v[s][c]);
            k++;
        }
        if (k != p.n)
            fail_msg("%s: series %d has %zu points, model %zu", when, s, p.n, k);
        pts_free(&p);

        read_pts(st, m->ids[s], BASE, BASE + M_DAYS * DAY, DAY, &p);
        k = 0;
        for (int d = 0; d < M_DAYS; d++) {
            double sum = 0;
            int has = 0;
            for (int h = 0; h < 24; h++) {
                if (m->set[s][d * 24 + h]) {
                    sum += m->v[s][d * 24 + h];
                    has = 1;
                }
            }
            if (!has)
                continue;
            total[d] += sum;
            any[d] = 1;
            if (k >= p.n || p.t[k] != BASE + d * DAY)
                fail_msg("%s: series %d has no rollup for day %d", when, s, d);
            double tol = 1e-9 * (fabs(sum) > 1 ? fabs(sum) : 1);
            if (!(fabs(p.v[k] - sum) <= tol))
                fail_msg("%s: series %d day %d rollup %.17g, model %.17g", when, s, d, p.v[k], sum);
            k++;
        }
        if (k != p.n)
            fail_msg("%s: series %d has %zu rollups, model %zu", when, s, p.n, k);
        pts_free(&p);
    }

    struct ts_agg_query q = {
        .metric = "rand", .from = BASE, .to = BASE + M_DAYS * DAY, .step = DAY};
    struct ts_agg_result r;
    agg(st, &q, &r);
    assert_int_equal(r.n_groups, 1);
    size_t k = 0;
    for (int d = 0; d < M_DAYS; d++) {
        if (!any[d])
            continue;
        assert_true(k < r.groups[0].n_points);
        assert_int_equal(r.groups[0].times[k], BASE + d * DAY);
        double tol = 1e-9 * (fabs(total[d]) > 1 ? fabs(total[d]) : 1);
        if (!(fabs(r.groups[0].values[k] - total[d]) <= tol))
            fail_msg("%s: aggregate day %d = %.17g, model %.17g", when, d, r.groups[0].values[k],
                     total[d]);
        k++;
    }
    assert_int_equal(r.groups[0].n_points, k);
    ts_agg_free(&r);
}

/* Latest cell written so far for series s, or -1. */
static int model_latest(const struct model *m, int s)
{
    for (int c = M_CELLS - 1; c >= 0; c--)
        if (m->set[s][c])
            return c;
    return -1;
}

static void test_rollup_random_overwrites(void **state)
{
    struct fx *f = *state;
    struct model *m = calloc(1, sizeof *m);
    assert_non_null(m);
    model_register(f->st, m);
    struct ts_batch *b = ts_batch_new();
    assert_non_null(b);
    uint64_t rng = 0x2545F4914F6CDD1DULL;
    char when[64];

    /* Round 0 fills days 0-3 with a moving frontier; round 1 (after reopen) days 3-5. */
    for (int round = 0; round < 2; round++) {
        const int nbatch = 160;
        int lo = round == 0 ? 0 : 3 * 24, hi = round == 0 ? 4 * 24 : M_CELLS;
        for (int i = 0; i < nbatch; i++) {
            ts_batch_clear(b);
            int frontier = lo + 1 + (int)((int64_t)(hi - lo - 1) * (i + 1) / nbatch);
            int ns = 1 + (int)(rng_next(&rng) % 40);
            for (int j = 0; j < ns; j++) {
                int s = (int)(rng_next(&rng) % M_SERIES);
                int cell;
                uint64_t pick = rng_next(&rng) % 8;
                int latest = model_latest(m, s);
                if (pick < 2 && latest >= 0)
                    cell = latest; /* overwrite the series' latest bucket */
                else if (pick < 4)
                    cell = frontier - 1 - (int)(rng_next(&rng) % 3); /* near the front */
                else
                    cell = (int)(rng_next(&rng) % (uint64_t)frontier); /* anywhere before */
                if (cell < 0)
                    cell = 0;
                double v;
                uint64_t kind = rng_next(&rng) % 10;
                if (kind == 0)
                    v = 0;
                else if (kind < 4)
                    v = (double)(rng_next(&rng) % 1000);
                else
                    v = (double)(rng_next(&rng) % 100000000) / 1e4 + 1e-3;
                model_put(m, b, s, cell, v);
            }
            write_batch(f->st, b);
            if (i % 20 == 19) {
                snprintf(when, sizeof when, "round %d batch %d", round, i);
                model_check(f->st, m, when);
            }
        }
        snprintf(when, sizeof when, "round %d end", round);
        model_check(f->st, m, when);
        must(ts_compact(f->st, g_err, sizeof g_err), "ts_compact");
        snprintf(when, sizeof when, "round %d after compact", round);
        model_check(f->st, m, when);
        fx_reopen(f);
        snprintf(when, sizeof when, "round %d after reopen", round);
        model_check(f->st, m, when);
    }

    /* After reopen, overwrite every series' latest bucket once more (high-water mark). */
    ts_batch_clear(b);
    for (int s = 0; s < M_SERIES; s++)
        model_put(m, b, s, model_latest(m, s), 1000.0 + s);
    write_batch(f->st, b);
    model_check(f->st, m, "latest after reopen");
    ts_batch_free(b);
    free(m);
}

static void test_rollup_overwrite_latest(void **state)
{
    struct fx *f = *state;
    struct model *m = calloc(1, sizeof *m);
    assert_non_null(m);
    model_register(f->st, m);
    struct ts_batch *b = ts_batch_new();
    assert_non_null(b);

    /* Series 1 runs far ahead so a store-wide mark would differ from a per-series one. */
    ts_batch_clear(b);
    model_put(m, b, 1, M_CELLS - 1, 500);
    model_put(m, b, 0, 10, 5);
    write_batch(f->st, b);
    model_check(f->st, m, "first");

    ts_batch_clear(b); /* overwrite the latest */
    model_put(m, b, 0, 10, 7);
    write_batch(f->st, b);
    model_check(f->st, m, "overwrite latest");

    ts_batch_clear(b); /* an older new bucket and the latest again */
    model_put(m, b, 0, 3, 1);
    model_put(m, b, 0, 10, 2);
    write_batch(f->st, b);
    model_check(f->st, m, "older + latest");

    ts_batch_clear(b); /* two new buckets out of order, one written twice */
    model_put(m, b, 0, 12, 4);
    model_put(m, b, 0, 11, 6);
    model_put(m, b, 0, 12, 4.5);
    write_batch(f->st, b);
    model_check(f->st, m, "new out of order");

    ts_batch_clear(b); /* overwrite a bucket from the same batch as the latest */
    model_put(m, b, 0, 11, 1);
    write_batch(f->st, b);
    model_check(f->st, m, "behind latest");

    ts_batch_clear(b); /* a new latest on the next day, then fix the old latest */
    model_put(m, b, 0, 24 + 2, 10);
    write_batch(f->st, b);
    ts_batch_clear(b);
    model_put(m, b, 0, 12, 0);
    model_put(m, b, 2, 5, 3); /* first point of a series behind series 1's mark */
    write_batch(f->st, b);
    model_check(f->st, m, "next day");

    fx_reopen(f);
    model_check(f->st, m, "reopened");
    ts_batch_clear(b); /* overwrite the latest of each series right after reopen */
    model_put(m, b, 0, 24 + 2, 20);
    model_put(m, b, 1, M_CELLS - 1, 50);
    model_put(m, b, 2, 5, 30);
    write_batch(f->st, b);
    model_check(f->st, m, "latest after reopen");

    fx_reopen(f); /* the latest plus a newer bucket in one batch */
    ts_batch_clear(b);
    model_put(m, b, 0, 24 + 2, 21);
    model_put(m, b, 0, 24 + 3, 1);
    model_put(m, b, 0, 10, 8);
    write_batch(f->st, b);
    model_check(f->st, m, "latest + newer after reopen");

    must(ts_compact(f->st, g_err, sizeof g_err), "ts_compact");
    fx_reopen(f);
    ts_batch_clear(b); /* after compaction and reopen */
    model_put(m, b, 0, 24 + 3, 2);
    model_put(m, b, 3, 0, 9);
    write_batch(f->st, b);
    model_check(f->st, m, "after compact + reopen");
    ts_batch_free(b);
    free(m);
}

/* ---- aggregation ---- */

struct agg_fixture {
    uint64_t id[6];
};

static void agg_populate(struct ts_store *st, struct agg_fixture *a, int64_t d0)
{
    struct ts_label l0[] = {{"provider", "openai"}, {"model", "gpt-4o"}, {"project", "p1"}};
    struct ts_label l1[] = {{"provider", "openai"}, {"model", "gpt-4o-mini"}, {"project", "p1"}};
    struct ts_label l2[] = {{"provider", "openai"}, {"model", "gpt-4o"}, {"project", "p2"}};
    struct ts_label l3[] = {{"provider", "anthropic"}, {"model", "claude"}, {"project", "p1"}};
    struct ts_label l4[] = {{"provider", "anthropic"}, {"model", "claude"}};
    a->id[0] = series_l(st, "cost_usd", l0, 3);
    a->id[1] = series_l(st, "cost_usd", l1, 3);
    a->id[2] = series_l(st, "cost_usd", l2, 3);
    a->id[3] = series_l(st, "cost_usd", l3, 3);
    a->id[4] = series_l(st, "cost_usd", l4, 2);
    a->id[5] = series_l(st, "requests", l0, 3);
    struct ts_batch *b = ts_batch_new();
    assert_non_null(b);
    double v = 1;
    for (int s = 0; s < 6; s++, v *= 10) {
        assert_int_equal(ts_batch_add(b, a->id[s], d0 + 1 * HOUR, v), 0);
        assert_int_equal(ts_batch_add(b, a->id[s], d0 + 2 * HOUR, v), 0);
        assert_int_equal(ts_batch_add(b, a->id[s], d0 + DAY + 3 * HOUR, v), 0);
    }
    write_batch(st, b);
    ts_batch_free(b);
}

static void test_aggregate(void **state)
{
    struct fx *f = *state;
    struct agg_fixture a;
    const int64_t d0 = BASE + 10 * DAY, d1 = d0 + DAY;
    agg_populate(f->st, &a, d0);
    struct ts_agg_result r;

    /* Group by provider, aligned days: rollups. */
    const char *by_provider[] = {"provider"};
    struct ts_agg_query q = {.metric = "cost_usd",
                             .group_by = by_provider,
                             .n_group_by = 1,
                             .from = d0,
                             .to = d0 + 2 * DAY,
                             .step = DAY};
    agg(f->st, &q, &r);
    assert_int_equal(r.n_groups, 2);
    assert_int_equal(r.groups[0].n_labels, 1);
    assert_string_equal(r.groups[0].labels[0].name, "provider");
    assert_string_equal(r.groups[0].labels[0].value, "anthropic");
    assert_int_equal(r.groups[0].n_series, 2);
    expect_group_points(&r.groups[0], 2, (int64_t[]){d0, d1}, (double[]){22000, 11000});
    assert_string_equal(group_label(&r.groups[1], "provider"), "openai");
    assert_int_equal(r.groups[1].n_series, 3);
    expect_group_points(&r.groups[1], 2, (int64_t[]){d0, d1}, (double[]){222, 111});
    ts_agg_free(&r);

    /* Group by two labels; one anthropic series has no project. */
    const char *by_two[] = {"provider", "project"};
    q.group_by = by_two;
    q.n_group_by = 2;
    agg(f->st, &q, &r);
    assert_int_equal(r.n_groups, 4);
    int seen = 0;
    for (size_t i = 0; i < r.n_groups; i++) {
        const struct ts_agg_group *g = &r.groups[i];
        const char *prov = group_label(g, "provider"), *proj = group_label(g, "project");
        assert_non_null(prov);
        assert_int_equal(g->n_labels, proj ? 2 : 1);
        if (strcmp(prov, "anthropic") == 0 && !proj) {
            seen |= 1;
            assert_int_equal(g->n_series, 1);
            expect_group_points(g, 2, (int64_t[]){d0, d1}, (double[]){20000, 10000});
        } else if (strcmp(prov, "anthropic") == 0 && strcmp(proj, "p1") == 0) {
            seen |= 2;
            assert_int_equal(g->n_series, 1);
            expect_group_points(g, 2, (int64_t[]){d0, d1}, (double[]){2000, 1000});
        } else if (strcmp(prov, "openai") == 0 && strcmp(proj, "p1") == 0) {
            seen |= 4;
            assert_int_equal(g->n_series, 2);
            expect_group_points(g, 2, (int64_t[]){d0, d1}, (double[]){22, 11});
        } else if (strcmp(prov, "openai") == 0 && strcmp(proj, "p2") == 0) {
            seen |= 8;
            assert_int_equal(g->n_series, 1);
            expect_group_points(g, 2, (int64_t[]){d0, d1}, (double[]){200, 100});
        } else {
            fail_msg("unexpected group %s/%s", prov, proj ? proj : "-");
        }
    }
    assert_int_equal(seen, 15);
    /* Sorted by provider first; within anthropic, p1 and the project-less group are apart. */
    assert_string_equal(group_label(&r.groups[0], "provider"), "anthropic");
    assert_string_equal(group_label(&r.groups[1], "provider"), "anthropic");
    assert_string_equal(group_label(&r.groups[2], "provider"), "openai");
    assert_string_equal(group_label(&r.groups[2], "project"), "p1");
    assert_string_equal(group_label(&r.groups[3], "project"), "p2");
    ts_agg_free(&r);

    /* Group by a label some series lack. */
    const char *by_project[] = {"project"};
    q.group_by = by_project;
    q.n_group_by = 1;
    agg(f->st, &q, &r);
    assert_int_equal(r.n_groups, 3);
    for (size_t i = 0; i < r.n_groups; i++) {
        const char *proj = group_label(&r.groups[i], "project");
        if (!proj) {
            assert_int_equal(r.groups[i].n_labels, 0);
            assert_int_equal(r.groups[i].n_series, 1);
            expect_group_points(&r.groups[i], 2, (int64_t[]){d0, d1}, (double[]){20000, 10000});
        } else if (strcmp(proj, "p1") == 0) {
            assert_int_equal(r.groups[i].n_series, 3);
            expect_group_points(&r.groups[i], 2, (int64_t[]){d0, d1}, (double[]){2022, 1011});
        } else {
            assert_string_equal(proj, "p2");
            assert_int_equal(r.groups[i].n_series, 1);
            expect_group_points(&r.groups[i], 2, (int64_t[]){d0, d1}, (double[]){200, 100});
        }
    }
    ts_agg_free(&r);

    /* No group-by, hourly: one group over all five cost series. */
    q.group_by = NULL;
    q.n_group_by = 0;
    q.step = HOUR;
    agg(f->st, &q, &r);
    assert_int_equal(r.n_groups, 1);
    assert_int_equal(r.groups[0].n_labels, 0);
    assert_int_equal(r.groups[0].n_series, 5);
    expect_group_points(&r.groups[0], 3, (int64_t[]){d0 + HOUR, d0 + 2 * HOUR, d1 + 3 * HOUR},
                        (double[]){11111, 11111, 11111});
    ts_agg_free(&r);

    /* Match filter plus group-by, hourly, with from included and to excluded. */
    struct ts_label m_openai[] = {{"provider", "openai"}};
    const char *by_model[] = {"model"};
    q.match = m_openai;
    q.n_match = 1;
    q.group_by = by_model;
    q.n_group_by = 1;
    q.from = d0 + 2 * HOUR;
    q.to = d1 + 3 * HOUR;
    agg(f->st, &q, &r);
    assert_int_equal(r.n_groups, 2);
    assert_string_equal(group_label(&r.groups[0], "model"), "gpt-4o");
    assert_int_equal(r.groups[0].n_series, 2);
    expect_group_points(&r.groups[0], 1, (int64_t[]){d0 + 2 * HOUR}, (double[]){101});
    assert_string_equal(group_label(&r.groups[1], "model"), "gpt-4o-mini");
    assert_int_equal(r.groups[1].n_series, 1);
    expect_group_points(&r.groups[1], 1, (int64_t[]){d0 + 2 * HOUR}, (double[]){10});
    ts_agg_free(&r);

    /* Two match filters, no group-by, days. */
    struct ts_label m_two[] = {{"provider", "openai"}, {"project", "p1"}};
    q.match = m_two;
    q.n_match = 2;
    q.group_by = NULL;
    q.n_group_by = 0;
    q.from = d0;
    q.to = d0 + 2 * DAY;
    q.step = DAY;
    agg(f->st, &q, &r);
    assert_int_equal(r.n_groups, 1);
    assert_int_equal(r.groups[0].n_series, 2);
    expect_group_points(&r.groups[0], 2, (int64_t[]){d0, d1}, (double[]){22, 11});
    ts_agg_free(&r);

    /* Unaligned day step: raw points in [from, to) summed per UTC day. */
    q.match = NULL;
    q.n_match = 0;
    q.group_by = by_provider;
    q.n_group_by = 1;
    q.from = d0 + 2 * HOUR;
    q.to = d1 + 4 * HOUR;
    agg(f->st, &q, &r);
    assert_int_equal(r.n_groups, 2);
    assert_string_equal(group_label(&r.groups[0], "provider"), "anthropic");
    expect_group_points(&r.groups[0], 2, (int64_t[]){d0, d1}, (double[]){11000, 11000});
    assert_string_equal(group_label(&r.groups[1], "provider"), "openai");
    expect_group_points(&r.groups[1], 2, (int64_t[]){d0, d1}, (double[]){111, 111});
    ts_agg_free(&r);
    q.from = d0 + HOUR;
    q.to = d1 + 3 * HOUR;
    agg(f->st, &q, &r);
    assert_int_equal(r.n_groups, 2);
    expect_group_points(&r.groups[0], 1, (int64_t[]){d0}, (double[]){22000});
    expect_group_points(&r.groups[1], 1, (int64_t[]){d0}, (double[]){222});
    ts_agg_free(&r);

    /* Another metric is never mixed in. */
    q.metric = "requests";
    q.group_by = NULL;
    q.n_group_by = 0;
    q.from = d0;
    q.to = d0 + 2 * DAY;
    agg(f->st, &q, &r);
    assert_int_equal(r.n_groups, 1);
    assert_int_equal(r.groups[0].n_series, 1);
    expect_group_points(&r.groups[0], 2, (int64_t[]){d0, d1}, (double[]){200000, 100000});
    ts_agg_free(&r);

    /* A filter nothing matches gives no data. */
    struct ts_label m_none[] = {{"provider", "mistral"}};
    q.metric = "cost_usd";
    q.match = m_none;
    q.n_match = 1;
    agg(f->st, &q, &r);
    for (size_t i = 0; i < r.n_groups; i++)
        assert_int_equal(r.groups[i].n_points, 0);
    ts_agg_free(&r);

    /* Bad queries. */
    q.match = NULL;
    q.n_match = 0;
    q.step = 60;
    memset(&r, 0, sizeof r);
    assert_true(ts_aggregate(f->st, &q, &r, g_err, sizeof g_err) < 0);
    ts_agg_free(&r);
    q.step = DAY;
    q.metric = NULL;
    memset(&r, 0, sizeof r);
    assert_true(ts_aggregate(f->st, &q, &r, g_err, sizeof g_err) < 0);
    ts_agg_free(&r);
}

static void test_aggregate_after_overwrite_and_reopen(void **state)
{
    struct fx *f = *state;
    struct agg_fixture a;
    const int64_t d0 = BASE + 10 * DAY, d1 = d0 + DAY;
    agg_populate(f->st, &a, d0);
    /* Raise one openai point; both the hourly and the rollup sums follow. */
    write_one(f->st, a.id[0], d0 + HOUR, 5);
    fx_reopen(f);
    const char *by_provider[] = {"provider"};
    struct ts_agg_query q = {.metric = "cost_usd",
                             .group_by = by_provider,
                             .n_group_by = 1,
                             .from = d0,
                             .to = d0 + 2 * DAY,
                             .step = DAY};
    struct ts_agg_result r;
    agg(f->st, &q, &r);
    assert_int_equal(r.n_groups, 2);
    expect_group_points(&r.groups[1], 2, (int64_t[]){d0, d1}, (double[]){226, 111});
    ts_agg_free(&r);
    q.step = HOUR;
    q.to = d0 + 2 * HOUR;
    agg(f->st, &q, &r);
    expect_group_points(&r.groups[1], 1, (int64_t[]){d0 + HOUR}, (double[]){115});
    ts_agg_free(&r);
}

/* ---- series identity ---- */

static void test_series_identity(void **state)
{
    struct fx *f = *state;
    char k1[256], k2[256];
    struct ts_label a[] = {{"provider", "openai"}, {"model", "gpt-4o"}, {"project", ""}};
    struct ts_label b[] = {{"model", "gpt-4o"}, {"provider", "openai"}};
    assert_int_equal(ts_canonical_key("cost_usd", a, 3, k1, sizeof k1), 0);
    assert_int_equal(ts_canonical_key("cost_usd", b, 2, k2, sizeof k2), 0);
    assert_string_equal(k1, "cost_usd{model=\"gpt-4o\",provider=\"openai\"}");
    assert_string_equal(k1, k2);

    const struct ts_series *sa = NULL, *sb = NULL;
    must(ts_series_get(f->st, "cost_usd", a, 3, &sa, g_err, sizeof g_err), "get a");
    must(ts_series_get(f->st, "cost_usd", b, 2, &sb, g_err, sizeof g_err), "get b");
    assert_non_null(sa);
    assert_ptr_equal(sa, sb);
    assert_string_equal(sa->key, k1);
    assert_string_equal(sa->metric, "cost_usd");
    assert_int_equal(sa->n_labels, 2);
    assert_string_equal(sa->labels[0].name, "model");
    assert_string_equal(sa->labels[0].value, "gpt-4o");
    assert_string_equal(sa->labels[1].name, "provider");
    assert_string_equal(sa->labels[1].value, "openai");
    assert_ptr_equal(ts_series_by_id(f->st, sa->id), sa);
    assert_int_equal(ts_series_count(f->st), 1);

    /* Other metric, other value: other ids. */
    uint64_t id_req = series_l(f->st, "requests", b, 2);
    struct ts_label c[] = {{"model", "gpt-4o"}, {"provider", "openai"}, {"project", "p1"}};
    uint64_t id_p1 = series_l(f->st, "cost_usd", c, 3);
    assert_true(id_req != sa->id && id_p1 != sa->id && id_p1 != id_req);
    assert_int_equal(ts_series_count(f->st), 3);
    assert_null(ts_series_by_id(f->st, sa->id + id_req + id_p1 + 1000));

    /* Escaping. */
    struct ts_label e[] = {{"v", "a\"b\\c\nd"}};
    assert_int_equal(ts_canonical_key("m", e, 1, k1, sizeof k1), 0);
    assert_string_equal(k1, "m{v=\"a\\\"b\\\\c\\nd\"}");
    uint64_t id_esc = series_l(f->st, "m", e, 1);
    const struct ts_series *se = ts_series_by_id(f->st, id_esc);
    assert_non_null(se);
    assert_string_equal(se->labels[0].value, "a\"b\\c\nd");
    /* Values that only differ in what escaping would confuse stay apart. */
    struct ts_label e2[] = {{"v", "a\\\"b\\c\nd"}};
    assert_true(series_l(f->st, "m", e2, 1) != id_esc);

    /* Valid unusual names. */
    struct ts_label ok[] = {{"_x9", "1"}, {"A", "2"}};
    assert_int_equal(ts_canonical_key("m", ok, 2, k1, sizeof k1), 0);
    assert_string_equal(k1, "m{A=\"2\",_x9=\"1\"}");

    /* Bad names and duplicates. */
    static const char *const bad_names[] = {"", "1abc", "a-b", "a b", "a.b", "a=b", "\xc3\xa4"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        struct ts_label bl[] = {{"provider", "openai"}, {bad_names[i], "x"}};
        const struct ts_series *s = NULL;
        if (ts_canonical_key("m", bl, 2, k1, sizeof k1) != -TS_EINVAL)
            fail_msg("canonical key accepted label name \"%s\"", bad_names[i]);
        assert_true(ts_series_get(f->st, "m", bl, 2, &s, g_err, sizeof g_err) < 0);
    }
    struct ts_label dup[] = {{"model", "a"}, {"provider", "x"}, {"model", "b"}};
    assert_int_equal(ts_canonical_key("m", dup, 3, k1, sizeof k1), -TS_EINVAL);
    struct ts_label dup_same[] = {{"model", "a"}, {"model", "a"}};
    assert_int_equal(ts_canonical_key("m", dup_same, 2, k1, sizeof k1), -TS_EINVAL);
    const struct ts_series *s = NULL;
    assert_true(ts_series_get(f->st, "m", dup, 3, &s, g_err, sizeof g_err) < 0);
    size_t before = ts_series_count(f->st);

    /* Buffer size: exactly the key plus NUL fits, one less does not. */
    assert_int_equal(ts_canonical_key("cost_usd", b, 2, k2, sizeof k2), 0);
    size_t need = strlen(k2) + 1;
    assert_int_equal(ts_canonical_key("cost_usd", b, 2, k1, need), 0);
    assert_string_equal(k1, k2);
    assert_int_equal(ts_canonical_key("cost_usd", b, 2, k1, need - 1), -TS_EINVAL);
    assert_int_equal(ts_series_count(f->st), before);

    /* Stable across reopen; a new series gets a fresh id. */
    uint64_t id_a = sa->id;
    fx_reopen(f);
    assert_int_equal(ts_series_count(f->st), before);
    const struct ts_series *ra = ts_series_by_id(f->st, id_a);
    assert_non_null(ra);
    assert_string_equal(ra->key, "cost_usd{model=\"gpt-4o\",provider=\"openai\"}");
    assert_int_equal(series_l(f->st, "cost_usd", b, 2), id_a);
    assert_int_equal(series_l(f->st, "requests", b, 2), id_req);
    assert_int_equal(series_l(f->st, "cost_usd", c, 3), id_p1);
    assert_int_equal(series_l(f->st, "m", e, 1), id_esc);
    assert_string_equal(ts_series_by_id(f->st, id_esc)->labels[0].value, "a\"b\\c\nd");
    struct ts_label n[] = {{"provider", "anthropic"}};
    uint64_t id_new = series_l(f->st, "cost_usd", n, 1);
    assert_true(id_new != id_a && id_new != id_req && id_new != id_p1 && id_new != id_esc);
    assert_int_equal(ts_series_count(f->st), before + 1);
    fx_reopen(f);
    assert_int_equal(series_l(f->st, "cost_usd", n, 1), id_new);
    assert_int_equal(ts_series_count(f->st), before + 1);
}

static void test_series_list(void **state)
{
    struct fx *f = *state;
    struct agg_fixture a;
    agg_populate(f->st, &a, BASE + DAY);
    const struct ts_series **out = NULL;
    size_t n = 0;

    assert_int_equal(ts_series_list(f->st, NULL, NULL, 0, &out, &n), 0);
    assert_int_equal(n, 6);
    for (size_t i = 1; i < n; i++)
        assert_true(out[i - 1]->id < out[i]->id);
    free(out);

    assert_int_equal(ts_series_list(f->st, "cost_usd", NULL, 0, &out, &n), 0);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(out[i]->metric, "cost_usd");
    free(out);

    struct ts_label m1[] = {{"provider", "openai"}, {"model", "gpt-4o"}};
    assert_int_equal(ts_series_list(f->st, "cost_usd", m1, 2, &out, &n), 0);
    assert_int_equal(n, 2);
    uint64_t lo = a.id[0] < a.id[2] ? a.id[0] : a.id[2];
    uint64_t hi = a.id[0] < a.id[2] ? a.id[2] : a.id[0];
    assert_int_equal(out[0]->id, lo);
    assert_int_equal(out[1]->id, hi);
    free(out);

    assert_int_equal(ts_series_list(f->st, NULL, m1, 2, &out, &n), 0);
    assert_int_equal(n, 3); /* plus requests */
    free(out);

    struct ts_label m2[] = {{"project", "p1"}};
    assert_int_equal(ts_series_list(f->st, "cost_usd", m2, 1, &out, &n), 0);
    assert_int_equal(n, 3); /* the project-less series does not match */
    for (size_t i = 0; i < n; i++)
        assert_true(out[i]->id != a.id[4]);
    free(out);

    struct ts_label m3[] = {{"provider", "groq"}};
    out = NULL;
    assert_int_equal(ts_series_list(f->st, NULL, m3, 1, &out, &n), 0);
    assert_int_equal(n, 0);
    free(out);
    out = NULL;
    assert_int_equal(ts_series_list(f->st, "nope", NULL, 0, &out, &n), 0);
    assert_int_equal(n, 0);
    free(out);
}

/* ---- events ---- */

struct ev_rec {
    int64_t time;
    char type[64];
    char uid[64];
    char json[128];
    uint64_t seq;
};

struct ev_list {
    struct ev_rec r[64];
    size_t n;
    size_t stop_after; /* 0 = never */
};

static int ev_collect(const struct ts_event *ev, void *ud)
{
    struct ev_list *l = ud;
    if (l->n < sizeof l->r / sizeof l->r[0]) {
        struct ev_rec *r = &l->r[l->n];
        r->time = ev->time;
        snprintf(r->type, sizeof r->type, "%s", ev->type ? ev->type : "");
        snprintf(r->uid, sizeof r->uid, "%s", ev->uid ? ev->uid : "");
        snprintf(r->json, sizeof r->json, "%s", ev->json ? ev->json : "");
        r->seq = ev->seq;
    }
    l->n++;
    return l->stop_after && l->n >= l->stop_after;
}

static void scan(struct ts_store *st, int64_t from, int64_t to, const char *type, struct ev_list *l)
{
    size_t stop = l->stop_after;
    memset(l, 0, sizeof *l);
    l->stop_after = stop;
    g_err[0] = '\0';
    must(ts_events_scan(st, from, to, type, ev_collect, l, g_err, sizeof g_err), "ts_events_scan");
}

static void add_event(struct ts_batch *b, int64_t t, const char *type, const char *uid,
                      const char *json)
{
    struct ts_event ev = {.time = t, .type = type, .uid = uid, .json = json};
    assert_int_equal(ts_batch_add_event(b, &ev), 0);
}

static void test_events_scan(void **state)
{
    struct fx *f = *state;
    struct ts_batch *b = ts_batch_new();
    assert_non_null(b);
    char json[64];
    snprintf(json, sizeof json, "{\"n\":1}");
    add_event(b, BASE + 100, "audit.login.failed", "u1", json);
    snprintf(json, sizeof json, "{\"clobbered\":true}"); /* the batch copied the string */
    add_event(b, BASE + 200, "audit.login.succeeded", "u2", "{\"n\":2}");
    add_event(b, BASE + 200, "inventory.key_created", NULL, "{\"n\":3}");
    add_event(b, BASE + 300, "audit.login", "u3", "{\"n\":4}");
    add_event(b, BASE + 400, "auditx.y", NULL, "{\"n\":5}");
    add_event(b, BASE + 50, "proxy.request", NULL, "{\"n\":0}");
    write_batch(f->st, b);
    ts_batch_free(b);

    struct ev_list l = {0};
    scan(f->st, BASE + 100, BASE + 400, NULL, &l);
    assert_int_equal(l.n, 4);
    assert_int_equal(l.r[0].time, BASE + 100);
    assert_string_equal(l.r[0].type, "audit.login.failed");
    assert_string_equal(l.r[0].uid, "u1");
    assert_string_equal(l.r[0].json, "{\"n\":1}");
    assert_int_equal(l.r[1].time, BASE + 200);
    assert_string_equal(l.r[1].json, "{\"n\":2}");
    assert_int_equal(l.r[2].time, BASE + 200);
    assert_string_equal(l.r[2].json, "{\"n\":3}");
    assert_string_equal(l.r[2].uid, "");
    assert_int_equal(l.r[3].time, BASE + 300);
    assert_string_equal(l.r[3].type, "audit.login");
    for (size_t i = 0; i < l.n; i++)
        for (size_t j = i + 1; j < l.n; j++)
            assert_true(l.r[i].seq != l.r[j].seq);

    scan(f->st, BASE + 200, BASE + 300, NULL, &l);
    assert_int_equal(l.n, 2);
    scan(f->st, BASE + 201, BASE + 300, NULL, &l);
    assert_int_equal(l.n, 0);
    scan(f->st, BASE, BASE + 1000, NULL, &l);
    assert_int_equal(l.n, 6);
    assert_string_equal(l.r[0].type, "proxy.request");
    assert_string_equal(l.r[5].type, "auditx.y");

    scan(f->st, BASE, BASE + 1000, "audit.login", &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.r[0].uid, "u3");
    scan(f->st, BASE, BASE + 1000, "audit.login.failed", &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.r[0].uid, "u1");
    scan(f->st, BASE, BASE + 1000, "audit.*", &l);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.r[0].type, "audit.login.failed");
    assert_string_equal(l.r[1].type, "audit.login.succeeded");
    assert_string_equal(l.r[2].type, "audit.login");
    scan(f->st, BASE, BASE + 1000, "audit*", &l);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.r[3].type, "auditx.y");
    scan(f->st, BASE, BASE + 1000, "audit.login*", &l);
    assert_int_equal(l.n, 3);
    scan(f->st, BASE + 150, BASE + 1000, "audit.login*", &l);
    assert_int_equal(l.n, 2);
    scan(f->st, BASE, BASE + 1000, "*", &l);
    assert_int_equal(l.n, 6);
    scan(f->st, BASE, BASE + 1000, "audit", &l);
    assert_int_equal(l.n, 0);
    scan(f->st, BASE, BASE + 1000, "nomatch*", &l);
    assert_int_equal(l.n, 0);

    /* The callback stops the scan. */
    l.stop_after = 2;
    scan(f->st, BASE, BASE + 1000, NULL, &l);
    assert_int_equal(l.n, 2);
    l.stop_after = 1;
    scan(f->st, BASE, BASE + 1000, "audit.*", &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.r[0].uid, "u1");
}

static size_t count_events(struct ts_store *st, const char *type)
{
    struct ev_list l = {0};
    scan(st, BASE - 365 * DAY, BASE + 365 * DAY, type, &l);
    return l.n;
}

static void test_events_dedupe(void **state)
{
    struct fx *f = *state;
    struct ts_batch *b = ts_batch_new();
    assert_non_null(b);

    /* Same uid twice in one batch: stored once. No uid: always stored. */
    add_event(b, BASE + 10, "audit.a", "dup-1", "{\"v\":1}");
    add_event(b, BASE + 10, "audit.a", "dup-1", "{\"v\":1}");
    add_event(b, BASE + 11, "audit.n", NULL, "{\"same\":1}");
    add_event(b, BASE + 11, "audit.n", NULL, "{\"same\":1}");
    write_batch(f->st, b);
    assert_int_equal(count_events(f->st, "audit.a"), 1);
    assert_int_equal(count_events(f->st, "audit.n"), 2);

    /* Across batches, also with another time and body: the first stays. */
    ts_batch_clear(b);
    add_event(b, BASE + 10, "audit.a", "dup-1", "{\"v\":1}");
    add_event(b, BASE + 20, "audit.a", "dup-1", "{\"v\":2}");
    add_event(b, BASE + 11, "audit.n", NULL, "{\"same\":1}");
    add_event(b, BASE + 12, "audit.a", "dup-2", "{\"v\":3}");
    write_batch(f->st, b);
    write_batch(f->st, b);
    struct ev_list l = {0};
    scan(f->st, BASE, BASE + DAY, "audit.a", &l);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.r[0].uid, "dup-1");
    assert_int_equal(l.r[0].time, BASE + 10);
    assert_string_equal(l.r[0].json, "{\"v\":1}");
    assert_string_equal(l.r[1].uid, "dup-2");
    assert_int_equal(count_events(f->st, "audit.n"), 4);

    /* Across reopen. */
    fx_reopen(f);
    ts_batch_clear(b);
    add_event(b, BASE + 10, "audit.a", "dup-1", "{\"v\":1}");
    add_event(b, BASE + 12, "audit.a", "dup-2", "{\"v\":3}");
    add_event(b, BASE + 13, "audit.a", "dup-3", "{\"v\":4}");
    add_event(b, BASE + 11, "audit.n", NULL, "{\"same\":1}");
    write_batch(f->st, b);
    assert_int_equal(count_events(f->st, "audit.a"), 3);
    assert_int_equal(count_events(f->st, "audit.n"), 5);
    ts_batch_free(b);
}

/* ---- key-value families ---- */

struct kv_list {
    char key[16][32];
    size_t klen[16];
    char val[16][32];
    size_t vlen[16];
    size_t n;
    size_t stop_after;
};

static int kv_collect(const void *key, size_t klen, const void *val, size_t vlen, void *ud)
{
    struct kv_list *l = ud;
    if (l->n < 16 && klen <= 32 && vlen <= 32) {
        memcpy(l->key[l->n], key, klen);
        l->klen[l->n] = klen;
        memcpy(l->val[l->n], val, vlen);
        l->vlen[l->n] = vlen;
    }
    l->n++;
    return l->stop_after && l->n >= l->stop_after;
}

static void kv_scan(struct ts_store *st, enum ts_family fam, const void *prefix, size_t plen,
                    struct kv_list *l)
{
    size_t stop = l->stop_after;
    memset(l, 0, sizeof *l);
    l->stop_after = stop;
    must(ts_scan(st, fam, prefix, plen, kv_collect, l, g_err, sizeof g_err), "ts_scan");
}

static void expect_get(struct ts_store *st, enum ts_family fam, const void *key, size_t klen,
                       const void *want, size_t wlen)
{
    char *v = NULL;
    size_t vlen = 0;
    must(ts_get(st, fam, key, klen, &v, &vlen, g_err, sizeof g_err), "ts_get");
    assert_int_equal(vlen, wlen);
    if (wlen > 0)
        assert_memory_equal(v, want, wlen);
    free(v);
}

static void expect_notfound(struct ts_store *st, enum ts_family fam, const void *key, size_t klen)
{
    char *v = NULL;
    size_t vlen = 0;
    assert_int_equal(ts_get(st, fam, key, klen, &v, &vlen, g_err, sizeof g_err), -TS_ENOTFOUND);
    free(v);
}

static void test_kv_families(void **state)
{
    struct fx *f = *state;
    static const enum ts_family fams[] = {TS_META, TS_ALERTS, TS_OUTBOX};
    static const char *const tags[] = {"meta", "alert", "outbox"};
    struct ts_batch *b = ts_batch_new();
    assert_non_null(b);

    for (size_t i = 0; i < 3; i++) {
        char v[32];
        int vl = snprintf(v, sizeof v, "%s-a", tags[i]);
        assert_int_equal(ts_batch_put(b, fams[i], "t/a", 3, v, (size_t)vl), 0);
        assert_int_equal(ts_batch_put(b, fams[i], "t/b", 3, "bee", 3), 0);
        assert_int_equal(ts_batch_put(b, fams[i], "t/c\0x", 5, "n\0l", 3), 0);
        assert_int_equal(ts_batch_put(b, fams[i], "u/z", 3, "", 0), 0);
    }
    assert_int_equal(ts_batch_put(b, TS_ALERTS, "alert-only", 10, "1", 1), 0);
    write_batch(f->st, b);

    for (size_t i = 0; i < 3; i++) {
        char v[32];
        int vl = snprintf(v, sizeof v, "%s-a", tags[i]);
        expect_get(f->st, fams[i], "t/a", 3, v, (size_t)vl);
        expect_get(f->st, fams[i], "t/c\0x", 5, "n\0l", 3);
        expect_get(f->st, fams[i], "u/z", 3, "", 0);
        expect_notfound(f->st, fams[i], "t/c", 3);
        expect_notfound(f->st, fams[i], "t/", 2);

        struct kv_list l = {0};
        kv_scan(f->st, fams[i], "t/", 2, &l);
        assert_int_equal(l.n, 3);
        assert_int_equal(l.klen[0], 3);
        assert_memory_equal(l.key[0], "t/a", 3);
        assert_memory_equal(l.key[1], "t/b", 3);
        assert_int_equal(l.klen[2], 5);
        assert_memory_equal(l.key[2], "t/c\0x", 5);
        assert_int_equal(l.vlen[2], 3);
        assert_memory_equal(l.val[2], "n\0l", 3);
        kv_scan(f->st, fams[i], "u/", 2, &l);
        assert_int_equal(l.n, 1);
        assert_int_equal(l.vlen[0], 0);
        kv_scan(f->st, fams[i], "t/c\0", 4, &l);
        assert_int_equal(l.n, 1);
        l.stop_after = 2;
        kv_scan(f->st, fams[i], "t/", 2, &l);
        assert_int_equal(l.n, 2);
    }
    /* Families are separate. */
    expect_get(f->st, TS_ALERTS, "alert-only", 10, "1", 1);
    expect_notfound(f->st, TS_META, "alert-only", 10);
    expect_notfound(f->st, TS_OUTBOX, "alert-only", 10);
    struct kv_list l = {0};
    kv_scan(f->st, TS_OUTBOX, NULL, 0, &l);
    assert_int_equal(l.n, 4);
    kv_scan(f->st, TS_ALERTS, "", 0, &l);
    assert_int_equal(l.n, 5);
    assert_memory_equal(l.key[0], "alert-only", 10);

    /* Delete and overwrite in one batch. */
    ts_batch_clear(b);
    assert_int_equal(ts_batch_delete(b, TS_OUTBOX, "t/b", 3), 0);
    assert_int_equal(ts_batch_put(b, TS_OUTBOX, "t/a", 3, "new", 3), 0);
    assert_int_equal(ts_batch_delete(b, TS_OUTBOX, "never", 5), 0);
    /* put then delete of the same key: the delete wins; delete then put: the put wins */
    assert_int_equal(ts_batch_put(b, TS_ALERTS, "k1", 2, "x", 1), 0);
    assert_int_equal(ts_batch_delete(b, TS_ALERTS, "k1", 2), 0);
    assert_int_equal(ts_batch_delete(b, TS_ALERTS, "t/b", 3), 0);
    assert_int_equal(ts_batch_put(b, TS_ALERTS, "t/b", 3, "back", 4), 0);
    write_batch(f->st, b);
    expect_notfound(f->st, TS_OUTBOX, "t/b", 3);
    expect_get(f->st, TS_OUTBOX, "t/a", 3, "new", 3);
    expect_get(f->st, TS_META, "t/b", 3, "bee", 3);
    expect_notfound(f->st, TS_ALERTS, "k1", 2);
    expect_get(f->st, TS_ALERTS, "t/b", 3, "back", 4);
    kv_scan(f->st, TS_OUTBOX, "t/", 2, &l);
    assert_int_equal(l.n, 2);

    fx_reopen(f);
    expect_get(f->st, TS_OUTBOX, "t/a", 3, "new", 3);
    expect_notfound(f->st, TS_OUTBOX, "t/b", 3);
    expect_get(f->st, TS_META, "t/c\0x", 5, "n\0l", 3);

    /* A fresh store records its schema version as decimal text. */
    char want[16];
    int wl = snprintf(want, sizeof want, "%d", TS_SCHEMA_VERSION);
    expect_get(f->st, TS_META, "schema_version", 14, want, (size_t)wl);
    ts_batch_free(b);
}

/* ts_scan_from starts at a key inside the prefix (inclusive), or at the prefix otherwise. */
static void test_scan_from(void **state)
{
    struct fx *f = *state;
    struct ts_batch *b = ts_batch_new();
    assert_non_null(b);
    static const char *const keys[] = {"q/s/1", "q/s/2", "q/s/3", "q/t/1", "q/r/9"};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(ts_batch_put(b, TS_OUTBOX, keys[i], 5, "v", 1), 0);
    must(ts_write(f->st, b, g_err, sizeof g_err), "ts_write");
    ts_batch_free(b);
    struct kv_list l;
    memset(&l, 0, sizeof l);
    must(ts_scan_from(f->st, TS_OUTBOX, "q/s/", 4, "q/s/1\0", 6, kv_collect, &l, g_err,
                      sizeof g_err),
         "ts_scan_from");
    assert_int_equal(l.n, 2); /* just past q/s/1: q/s/2 and q/s/3, not q/t/1 */
    assert_memory_equal(l.key[0], "q/s/2", 5);
    memset(&l, 0, sizeof l);
    must(ts_scan_from(f->st, TS_OUTBOX, "q/s/", 4, "q/s/2", 5, kv_collect, &l, g_err, sizeof g_err),
         "ts_scan_from");
    assert_int_equal(l.n, 2); /* inclusive */
    memset(&l, 0, sizeof l);
    must(ts_scan_from(f->st, TS_OUTBOX, "q/s/", 4, "q/r/0", 5, kv_collect, &l, g_err, sizeof g_err),
         "ts_scan_from");
    assert_int_equal(l.n, 3); /* a start outside the prefix scans all of it */
    memset(&l, 0, sizeof l);
    must(ts_scan_from(f->st, TS_OUTBOX, "q/s/", 4, "q/s/9", 5, kv_collect, &l, g_err, sizeof g_err),
         "ts_scan_from");
    assert_int_equal(l.n, 0);
}

/*
 * The change feed: each reader gets every committed write's samples since
 * its last read, once, in order, with the change each made (the rollup's
 * delta); a failed write records nothing; a reader left behind past
 * TS_FEED_MAX records is told it lost them; a feed outliving its store
 * reads as lost.
 */
static void test_change_feed(void **state)
{
    struct fx *f = *state;
    uint64_t a = series2(f->st, "est_cost_usd", "openai", "m1");
    uint64_t c = series2(f->st, "est_cost_usd", "openai", "m2");
    const struct ts_change *rec;
    size_t n;
    uint64_t c0 = ts_feed_commit(f->st);
    struct ts_feed *f1 = ts_feed_open(f->st);
    assert_non_null(f1);
    assert_int_equal(ts_feed_read(f1, &rec, &n), 0);
    assert_int_equal(n, 0);

    write_one(f->st, a, BASE, 2.5); /* new point: the change is the value */
    struct ts_feed *f2 = ts_feed_open(f->st);
    assert_non_null(f2);
    struct ts_batch *b = ts_batch_new();
    assert_non_null(b);
    assert_int_equal(ts_batch_add(b, c, BASE + HOUR, 1.0), 0);
    assert_int_equal(ts_batch_add(b, a, BASE, 4.0), 0); /* revised: 4.0 - 2.5 */
    write_batch(f->st, b);
    ts_batch_clear(b);
    assert_int_equal(ts_feed_commit(f->st), c0 + 2);

    assert_int_equal(ts_feed_read(f1, &rec, &n), 0);
    assert_int_equal(n, 3);
    assert_true(rec[0].series == a && rec[0].bucket == BASE && rec[0].commit == c0 + 1);
    expect_close(rec[0].value, 2.5, "first write's value");
    expect_close(rec[0].delta, 2.5, "first write's change");
    /* within a write, by series then bucket */
    assert_true(rec[1].series == a && rec[1].commit == c0 + 2);
    expect_close(rec[1].value, 4.0, "revision's value");
    expect_close(rec[1].delta, 1.5, "revision's change");
    assert_true(rec[2].series == c && rec[2].bucket == BASE + HOUR);
    expect_close(rec[2].delta, 1.0, "new series' change");
    assert_int_equal(ts_feed_read(f1, &rec, &n), 0);
    assert_int_equal(n, 0); /* each record once */
    assert_int_equal(ts_feed_read(f2, &rec, &n), 0);
    assert_int_equal(n, 2); /* only what came after it opened */
    assert_int_equal(rec[0].commit, c0 + 2);

    /* a refused write (older than retention; a bucket not on the hour) records nothing */
    assert_int_equal(ts_batch_add(b, a, BASE + HOUR, 9.0), 0);
    assert_int_equal(ts_batch_add(b, a, NOW0 - TS_DEFAULT_RETENTION - DAY, 1.0), 0);
    assert_int_not_equal(ts_write(f->st, b, g_err, sizeof g_err), 0);
    ts_batch_clear(b);
    assert_int_equal(ts_batch_add(b, a, BASE + HOUR, 9.0), 0);
    assert_int_equal(ts_batch_add(b, c, BASE + 2 * HOUR + 600, 1.0), 0);
    assert_int_equal(ts_write(f->st, b, g_err, sizeof g_err), -TS_EINVAL);
    assert_non_null(strstr(g_err, "does not start on the hour"));
    ts_batch_clear(b);
    expect_none(f->st, a, BASE + HOUR, HOUR); /* nothing of the refused batch */
    assert_int_equal(ts_feed_read(f1, &rec, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(ts_feed_commit(f->st), c0 + 2);

    /* f2 falls behind by more than the feed keeps: it lost records; f1 kept reading */
    size_t per = TS_FEED_MAX / 4 + 1;
    uint64_t many[20];
    for (int i = 0; i < 20; i++) {
        char m[16];
        snprintf(m, sizeof m, "x%d", i);
        many[i] = series2(f->st, "est_cost_usd", "anthropic", m);
    }
    for (int w = 0; w < 4; w++) {
        for (size_t i = 0; i < per; i++)
            assert_int_equal(
                ts_batch_add(b, many[i % 20], BASE - (int64_t)(i / 20) * HOUR, 1.0 + w), 0);
        write_batch(f->st, b);
        ts_batch_clear(b);
        if (w < 3) {
            assert_int_equal(ts_feed_read(f1, &rec, &n), 0);
            assert_int_equal(n, per);
        }
    }
    assert_int_equal(ts_feed_read(f2, &rec, &n), 1);
    assert_int_equal(n, 0);
    assert_int_equal(ts_feed_read(f1, &rec, &n), 0); /* the reader that kept up loses nothing */
    assert_int_equal(n, per);
    write_one(f->st, a, BASE, 5.0); /* both go on */
    assert_int_equal(ts_feed_read(f1, &rec, &n), 0);
    assert_int_equal(n, 1);
    expect_close(rec[0].delta, 1.0, "change after the loss");
    assert_int_equal(ts_feed_read(f2, &rec, &n), 0);
    assert_int_equal(n, 1);
    ts_feed_close(f2);
    ts_batch_free(b);

    /* a feed outliving its store */
    ts_close(f->st);
    f->st = NULL;
    assert_int_equal(ts_feed_read(f1, &rec, &n), -1);
    ts_feed_close(f1);
}

static void test_kv_atomic_with_samples(void **state)
{
    struct fx *f = *state;
    uint64_t id = series2(f->st, "cost_usd", "openai", "gpt-4o");
    struct ts_batch *b = ts_batch_new();
    assert_non_null(b);
    assert_int_equal(ts_batch_add(b, id, BASE + HOUR, 3), 0);
    assert_int_equal(ts_batch_put(b, TS_META, "cursor/openai", 13, "100", 3), 0);
    add_event(b, BASE + 5, "audit.x", "e1", "{}");
    write_batch(f->st, b);
    expect_get(f->st, TS_META, "cursor/openai", 13, "100", 3);
    expect_val(f->st, id, BASE + HOUR, HOUR, 3);

    /* A refused batch (one sample past the retention horizon) writes nothing at all. */
    ts_batch_clear(b);
    assert_int_equal(ts_batch_add(b, id, BASE + HOUR, 30), 0);
    assert_int_equal(ts_batch_add(b, id, BASE + 2 * HOUR, 4), 0);
    assert_int_equal(ts_batch_add(b, id, NOW0 - TS_DEFAULT_RETENTION - 2 * DAY, 1), 0);
    assert_int_equal(ts_batch_put(b, TS_META, "cursor/openai", 13, "200", 3), 0);
    assert_int_equal(ts_batch_put(b, TS_OUTBOX, "o1", 2, "x", 1), 0);
    assert_int_equal(ts_batch_delete(b, TS_META, "cursor/openai", 13), 0);
    assert_int_equal(ts_batch_put(b, TS_META, "cursor/openai", 13, "200", 3), 0);
    add_event(b, BASE + 6, "audit.x", "e2", "{}");
    g_err[0] = '\0';
    assert_int_equal(ts_write(f->st, b, g_err, sizeof g_err), -TS_EINVAL);
    assert_true(g_err[0] != '\0');
    expect_get(f->st, TS_META, "cursor/openai", 13, "100", 3);
    expect_notfound(f->st, TS_OUTBOX, "o1", 2);
    expect_val(f->st, id, BASE + HOUR, HOUR, 3);
    expect_none(f->st, id, BASE + 2 * HOUR, HOUR);
    expect_val(f->st, id, BASE, DAY, 3);
    assert_int_equal(count_events(f->st, "audit.x"), 1);

    /* The failed write left no trace in memory either: the same good batch now works. */
    ts_batch_clear(b);
    assert_int_equal(ts_batch_add(b, id, BASE + HOUR, 30), 0);
    assert_int_equal(ts_batch_add(b, id, BASE + 2 * HOUR, 4), 0);
    assert_int_equal(ts_batch_put(b, TS_META, "cursor/openai", 13, "200", 3), 0);
    add_event(b, BASE + 6, "audit.x", "e2", "{}");
    write_batch(f->st, b);
    expect_val(f->st, id, BASE, DAY, 34);
    expect_get(f->st, TS_META, "cursor/openai", 13, "200", 3);
    assert_int_equal(count_events(f->st, "audit.x"), 2);
    ts_batch_free(b);
}

/* ---- persistence ---- */

static void test_persistence(void **state)
{
    struct fx *f = *state;
    uint64_t id = series2(f->st, "input_tokens", "anthropic", "claude");
    struct ts_batch *b = ts_batch_new();
    assert_non_null(b);
    for (int h = 0; h < 72; h += 5)
        assert_int_equal(ts_batch_add(b, id, BASE + h * HOUR, h * 1.5), 0);
    add_event(b, BASE + 7, "inventory.key_created", "k1", "{\"key\":\"...abcd\"}");
    assert_int_equal(ts_batch_put(b, TS_ALERTS, "fp1", 3, "firing", 6), 0);
    write_batch(f->st, b);
    ts_batch_free(b);

    for (int k = 0; k < 2; k++) {
        fx_reopen(f);
        assert_int_equal(ts_series_count(f->st), 1);
        const struct ts_series *s = ts_series_by_id(f->st, id);
        assert_non_null(s);
        assert_string_equal(s->metric, "input_tokens");
        struct pts p;
        read_pts(f->st, id, BASE, BASE + 3 * DAY, HOUR, &p);
        assert_int_equal(p.n, 15);
        for (size_t i = 0; i < p.n; i++) {
            assert_int_equal(p.t[i], BASE + (int64_t)i * 5 * HOUR);
            expect_close(p.v[i], (double)i * 5 * 1.5, "point");
        }
        pts_free(&p);
        /* day 0: h=0,5,10,15,20 -> 50; day 1: 25..45 -> 175; day 2: 50..70 -> 300 (x1.5) */
        read_pts(f->st, id, BASE, BASE + 3 * DAY, DAY, &p);
        assert_int_equal(p.n, 3);
        expect_close(p.v[0], 50 * 1.5, "day 0");
        expect_close(p.v[1], 175 * 1.5, "day 1");
        expect_close(p.v[2], 300 * 1.5, "day 2");
        pts_free(&p);
        struct ev_list l = {0};
        scan(f->st, BASE, BASE + DAY, NULL, &l);
        assert_int_equal(l.n, 1);
        assert_string_equal(l.r[0].json, "{\"key\":\"...abcd\"}");
        expect_get(f->st, TS_ALERTS, "fp1", 3, "firing", 6);
    }

    /* Read-only open after a clean close sees the same. */
    ts_close(f->st);
    f->st = NULL;
    struct ts_options ro = {.read_only = 1, .clock = fake_clock};
    struct ts_store *st = NULL;
    must(open_store(f->dir, &ro, &st), "read-only open");
    expect_val(st, id, BASE, DAY, 50 * 1.5);
    ts_close(st);
    fx_reopen(f);
}

/* ---- retention ---- */

static void test_retention(void **state)
{
    struct fx *f = *state;
    ts_close(f->st);
    f->st = NULL;
    tu_rmtree(f->dir);
    f->opts.retention = 10 * DAY;
    f->opts.create = 1;
    g_now = BASE + DAY; /* early clock: horizon BASE - 9d, everything is writable */
    must(open_store(f->dir, &f->opts, &f->st), "open with retention");
    uint64_t id = series2(f->st, "cost_usd", "openai", "gpt-4o");
    struct ts_batch *b = ts_batch_new();
    assert_non_null(b);
    for (int d = 0; d < 30; d++) {
        assert_int_equal(ts_batch_add(b, id, BASE + d * DAY + 12 * HOUR, d + 1), 0);
        assert_int_equal(ts_batch_add(b, id, BASE + d * DAY + 13 * HOUR, 100), 0);
    }
    write_batch(f->st, b);

    g_now = BASE + 30 * DAY; /* horizon now BASE + 20d */
    ts_batch_clear(b);
    assert_int_equal(ts_batch_add(b, id, BASE + 5 * DAY + 12 * HOUR, 999), 0);
    g_err[0] = '\0';
    assert_int_equal(ts_write(f->st, b, g_err, sizeof g_err), -TS_EINVAL);
    assert_true(g_err[0] != '\0');
    ts_batch_clear(b);
    assert_int_equal(ts_batch_add(b, id, BASE + 19 * DAY + 23 * HOUR, 1), 0);
    assert_int_equal(ts_write(f->st, b, g_err, sizeof g_err), -TS_EINVAL);
    /* Inside the horizon still corrects the rollup. */
    ts_batch_clear(b);
    assert_int_equal(ts_batch_add(b, id, BASE + 25 * DAY + 12 * HOUR, 50), 0);
    write_batch(f->st, b);
    ts_batch_free(b);

    for (int k = 0; k < 2; k++) {
        must(ts_compact(f->st, g_err, sizeof g_err), "ts_compact");
        struct pts p;
        read_pts(f->st, id, BASE, BASE + 20 * DAY, HOUR, &p);
        if (p.n != 0)
            fail_msg("%zu raw points older than the horizon survived (first at day %lld)", p.n,
                     (long long)((p.t[0] - BASE) / DAY));
        pts_free(&p);
        read_pts(f->st, id, BASE + 20 * DAY, BASE + 30 * DAY, HOUR, &p);
        assert_int_equal(p.n, 20);
        assert_int_equal(p.t[0], BASE + 20 * DAY + 12 * HOUR);
        expect_close(p.v[0], 21, "day 20 point");
        pts_free(&p);
        read_pts(f->st, id, BASE, BASE + 30 * DAY, DAY, &p);
        assert_int_equal(p.n, 30);
        for (int d = 0; d < 30; d++) {
            assert_int_equal(p.t[d], BASE + d * DAY);
            expect_close(p.v[d], d == 25 ? 150 : d + 1 + 100, "rollup");
        }
        pts_free(&p);

        struct ts_agg_query q = {
            .metric = "cost_usd", .from = BASE, .to = BASE + 30 * DAY, .step = DAY};
        struct ts_agg_result r;
        agg(f->st, &q, &r);
        assert_int_equal(r.n_groups, 1);
        assert_int_equal(r.groups[0].n_points, 30);
        expect_close(r.groups[0].values[3], 104, "aggregate old day");
        ts_agg_free(&r);
        fx_reopen(f);
    }
}

/* ---- crash safety ---- */

#define CRASH_K 50

static int64_t crash_bucket(int64_t i, int j)
{
    return BASE + ((i - 1) * CRASH_K + j) * HOUR;
}
static double crash_value(int64_t i, int j)
{
    return (double)(i * 1000 + j) + 0.5;
}

static uint64_t crash_series(struct ts_store *st, char *err, size_t errlen, int *rc)
{
    struct ts_label l[] = {{"provider", "crash"}};
    const struct ts_series *s = NULL;
    *rc = ts_series_get(st, "requests", l, 1, &s, err, errlen);
    return *rc == 0 && s ? s->id : 0;
}

/* Child mode: writes batches forever, acknowledging each on fd. */
static int child_writer(const char *dir, int fd)
{
    char err[512] = "";
    struct ts_options o = {.create = 1, .clock = fake_clock};
    struct ts_store *st = NULL;
    g_now = NOW0;
    if (ts_open(dir, &o, &st, err, sizeof err) != 0) {
        fprintf(stderr, "child open: %s\n", err);
        return 2;
    }
    int rc;
    uint64_t id = crash_series(st, err, sizeof err, &rc);
    if (rc != 0) {
        fprintf(stderr, "child series: %s\n", err);
        return 3;
    }
    int64_t start = 1;
    char *v = NULL;
    size_t vlen = 0;
    rc = ts_get(st, TS_META, "cursor", 6, &v, &vlen, err, sizeof err);
    if (rc == 0) {
        char num[32];
        snprintf(num, sizeof num, "%.*s", (int)vlen, v);
        start = strtoll(num, NULL, 10) + 1;
        free(v);
    } else if (rc != -TS_ENOTFOUND) {
        fprintf(stderr, "child cursor: %s\n", err);
        return 4;
    }
    struct ts_batch *b = ts_batch_new();
    if (!b)
        return 5;
    for (int64_t i = start; i < start + 100000; i++) {
        char uid[32], json[64], cur[32];
        ts_batch_clear(b);
        for (int j = 0; j < CRASH_K; j++)
            if (ts_batch_add(b, id, crash_bucket(i, j), crash_value(i, j)) != 0)
                return 6;
        snprintf(uid, sizeof uid, "ev-%lld", (long long)i);
        snprintf(json, sizeof json, "{\"i\":%lld}", (long long)i);
        struct ts_event ev = {.time = BASE + i, .type = "crash.batch", .uid = uid, .json = json};
        int cl = snprintf(cur, sizeof cur, "%lld", (long long)i);
        if (ts_batch_add_event(b, &ev) != 0 ||
            ts_batch_put(b, TS_META, "cursor", 6, cur, (size_t)cl) != 0)
            return 7;
        if (ts_write(st, b, err, sizeof err) != 0) {
            fprintf(stderr, "child write %lld: %s\n", (long long)i, err);
            return 8;
        }
        if (write(fd, &i, sizeof i) != (ssize_t)sizeof i)
            return 9;
    }
    ts_batch_free(b);
    ts_close(st);
    return 0;
}

/* Child mode: tries to open dir and exits with -rc; the message goes to stdout. */
static int child_open(const char *dir, int read_only)
{
    char err[512] = "";
    struct ts_options o = {.read_only = read_only, .clock = fake_clock};
    struct ts_store *st = NULL;
    int rc = ts_open(dir, &o, &st, err, sizeof err);
    printf("%s", err);
    fflush(stdout);
    if (rc == 0)
        ts_close(st);
    return rc < 0 ? -rc : rc == 0 ? 0 : 100;
}

/* Re-executes this binary in a child mode; fd3 (>= 0) is passed on, out_fd gets stdout. */
static pid_t spawn_self(const char *mode, const char *dir, int pass_fd, int out_fd)
{
    char fdbuf[16];
    snprintf(fdbuf, sizeof fdbuf, "%d", pass_fd);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (out_fd >= 0)
            dup2(out_fd, 1);
        execl("/proc/self/exe", "test_store", mode, dir, fdbuf, (char *)NULL);
        _exit(127);
    }
    return pid;
}

struct crash_ev {
    int64_t n;
    int64_t bad;
};

static int crash_ev_cb(const struct ts_event *ev, void *ud)
{
    struct crash_ev *c = ud;
    char want[32];
    snprintf(want, sizeof want, "ev-%lld", (long long)(c->n + 1));
    if (!ev->uid || strcmp(ev->uid, want) != 0 || ev->time != BASE + c->n + 1)
        c->bad++;
    c->n++;
    return 0;
}

/* Checks the store after a crash; returns the number of complete batches. */
static int64_t crash_verify(const char *dir, int64_t max_ack)
{
    struct ts_options o = {.clock = fake_clock};
    struct ts_store *st = NULL;
    must(open_store(dir, &o, &st), "reopen after kill");
    int rc;
    uint64_t id = crash_series(st, g_err, sizeof g_err, &rc);
    must(rc, "crash series");

    /* Events: exactly ev-1..ev-N, in order. */
    struct crash_ev ce = {0, 0};
    must(ts_events_scan(st, BASE - DAY, BASE + 3650 * DAY, "crash.batch", crash_ev_cb, &ce, g_err,
                        sizeof g_err),
         "crash events");
    if (ce.bad)
        fail_msg("%lld of %lld crash events out of sequence", (long long)ce.bad, (long long)ce.n);
    int64_t n = ce.n;
    if (n < max_ack)
        fail_msg("only %lld batches stored, %lld acknowledged", (long long)n, (long long)max_ack);

    /* Points: batches 1..N complete and exact, nothing after. */
    for (int64_t i = 1; i <= n; i++) {
        struct pts p;
        read_pts(st, id, crash_bucket(i, 0), crash_bucket(i + 1, 0), HOUR, &p);
        if (p.n != CRASH_K)
            fail_msg("batch %lld has %zu of %d points (acked %lld)", (long long)i, p.n, CRASH_K,
                     (long long)max_ack);
        for (int j = 0; j < CRASH_K; j++) {
            assert_int_equal(p.t[j], crash_bucket(i, j));
            if (p.v[j] != crash_value(i, j))
                fail_msg("batch %lld point %d = %g", (long long)i, j, p.v[j]);
        }
        pts_free(&p);
    }
    struct pts p;
    read_pts(st, id, crash_bucket(n + 1, 0), crash_bucket(n + 1000000, 0), HOUR, &p);
    if (p.n != 0)
        fail_msg("%zu points beyond the last complete batch %lld", p.n, (long long)n);
    pts_free(&p);

    /* Rollups equal the sum of the surviving points per day. */
    int64_t end = crash_bucket(n + 1, 0);
    read_pts(st, id, BASE, end + DAY, DAY, &p);
    size_t k = 0;
    for (int64_t d = BASE; d < end; d += DAY, k++) {
        double sum = 0;
        for (int64_t t = d; t < d + DAY && t < end; t += HOUR) {
            int64_t idx = (t - BASE) / HOUR;
            sum += crash_value(idx / CRASH_K + 1, (int)(idx % CRASH_K));
        }
        if (k >= p.n || p.t[k] != d)
            fail_msg("no rollup for day %lld", (long long)((d - BASE) / DAY));
        expect_close(p.v[k], sum, "crash rollup");
    }
    assert_int_equal(p.n, k);
    pts_free(&p);

    /* The cursor names the last complete batch. */
    char *v = NULL;
    size_t vlen = 0;
    if (n > 0) {
        must(ts_get(st, TS_META, "cursor", 6, &v, &vlen, g_err, sizeof g_err), "cursor");
        char num[32];
        snprintf(num, sizeof num, "%.*s", (int)vlen, v);
        free(v);
        assert_int_equal(strtoll(num, NULL, 10), n);
    }
    ts_close(st);
    return n;
}

static void test_crash_safety(void **state)
{
    struct fx *f = *state;
    ts_close(f->st);
    f->st = NULL;
    static const int acks_per_round[] = {25, 40, 60};
    int64_t total = 0;
    for (size_t round = 0; round < 3; round++) {
        int pfd[2];
        assert_int_equal(pipe(pfd), 0);
#ifdef F_SETPIPE_SZ
        fcntl(pfd[1], F_SETPIPE_SZ, 4096);
#endif
        pid_t pid = spawn_self("--child-writer", f->dir, pfd[1], -1);
        assert_true(pid > 0);
        close(pfd[1]);
        int64_t max_ack = 0;
        int got = 0;
        while (got < acks_per_round[round]) {
            int64_t i;
            ssize_t r = read(pfd[0], &i, sizeof i);
            if (r != (ssize_t)sizeof i)
                break;
            if (i != total + got + 1)
                fail_msg("ack %lld out of order (want %lld)", (long long)i,
                         (long long)(total + got + 1));
            max_ack = i;
            got++;
        }
        kill(pid, SIGKILL);
        int st = 0;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        close(pfd[0]);
        if (got != acks_per_round[round])
            fail_msg("child stopped after %d acks (status %d)", got, st);
        assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        int64_t n = crash_verify(f->dir, max_ack);
        assert_true(n >= max_ack);
        print_message("crash round %zu: acknowledged up to %lld, stored %lld complete batches\n",
                      round, (long long)max_ack, (long long)n);
        total = n;
    }
    f->opts.create = 0;
    must(open_store(f->dir, &f->opts, &f->st), "final reopen");
}

/* ---- refusals and errors ---- */

static size_t dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void test_open_foreign_file(void **state)
{
    struct fx *f = *state;
    char dir[4300], file[4400];
    snprintf(dir, sizeof dir, "%s/foreign", f->tmp);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(file, sizeof file, "%s/notes.txt", dir);
    assert_int_equal(tu_write_file(file, "hello", 0600), 0);
    struct ts_options o = {.create = 1, .clock = fake_clock};
    struct ts_store *st = NULL;
    int rc = open_store(dir, &o, &st);
    assert_int_equal(rc, -TS_EFOREIGN);
    assert_null(st);
    assert_true(strlen(g_err) > 10);
    /* Untouched: the one file, same content, nothing added. */
    assert_int_equal(dir_entries(dir), 1);
    char *txt = tu_read_file(file);
    assert_non_null(txt);
    assert_string_equal(txt, "hello");
    free(txt);
    o.read_only = 1;
    o.create = 0;
    assert_int_equal(open_store(dir, &o, &st), -TS_EFOREIGN);
    assert_int_equal(dir_entries(dir), 1);
}

static void test_open_foreign_rocksdb(void **state)
{
    struct fx *f = *state;
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/plain", f->tmp);
    char *err = NULL;
    rocksdb_options_t *ro = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(ro, 1);
    rocksdb_t *db = rocksdb_open(ro, dir, &err);
    assert_null(err);
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_put(db, wo, "theirs", 6, "data", 4, &err);
    assert_null(err);
    rocksdb_close(db);

    struct ts_options o = {.create = 1, .clock = fake_clock};
    struct ts_store *st = NULL;
    assert_int_equal(open_store(dir, &o, &st), -TS_EFOREIGN);
    assert_true(g_err[0] != '\0');
    o.read_only = 1;
    assert_int_equal(open_store(dir, &o, &st), -TS_EFOREIGN);

    /* The database is as it was: one family, the key intact. */
    size_t ncf = 0;
    char **cfs = rocksdb_list_column_families(ro, dir, &ncf, &err);
    assert_null(err);
    assert_int_equal(ncf, 1);
    assert_string_equal(cfs[0], "default");
    rocksdb_list_column_families_destroy(cfs, ncf);
    db = rocksdb_open(ro, dir, &err);
    assert_null(err);
    rocksdb_readoptions_t *rdo = rocksdb_readoptions_create();
    size_t vlen = 0;
    char *v = rocksdb_get(db, rdo, "theirs", 6, &vlen, &err);
    assert_null(err);
    assert_non_null(v);
    assert_int_equal(vlen, 4);
    assert_memory_equal(v, "data", 4);
    rocksdb_free(v);
    rocksdb_readoptions_destroy(rdo);
    rocksdb_close(db);
    rocksdb_writeoptions_destroy(wo);
    rocksdb_options_destroy(ro);
}

static void test_open_newer_schema(void **state)
{
    struct fx *f = *state;
    uint64_t id = series2(f->st, "cost_usd", "openai", "gpt-4o");
    write_one(f->st, id, BASE, 1);
    struct ts_batch *b = ts_batch_new();
    assert_non_null(b);
    assert_int_equal(ts_batch_put(b, TS_META, "schema_version", 14, "999", 3), 0);
    write_batch(f->st, b);
    ts_batch_free(b);
    ts_close(f->st);
    f->st = NULL;

    struct ts_options o = {.clock = fake_clock};
    struct ts_store *st = NULL;
    assert_int_equal(open_store(f->dir, &o, &st), -TS_ESCHEMA);
    assert_null(st);
    assert_true(g_err[0] != '\0');
    o.read_only = 1;
    assert_int_equal(open_store(f->dir, &o, &st), -TS_ESCHEMA);
    o.read_only = 0;
    o.create = 1;
    assert_int_equal(open_store(f->dir, &o, &st), -TS_ESCHEMA);
}

static void test_open_locked(void **state)
{
    struct fx *f = *state;
    int out[2];
    char msg[1024];

    /* Another process while we hold it: locked. */
    assert_int_equal(pipe(out), 0);
    pid_t pid = spawn_self("--child-open", f->dir, -1, out[1]);
    assert_true(pid > 0);
    close(out[1]);
    ssize_t n = read(out[0], msg, sizeof msg - 1);
    msg[n > 0 ? n : 0] = '\0';
    close(out[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) != TS_ELOCKED)
        fail_msg("second instance got %d (%s), want %d", WEXITSTATUS(st), msg, TS_ELOCKED);
    assert_true(strlen(msg) > 0);

    /* Read-only in another process works while we hold it. */
    pid = spawn_self("--child-open-ro", f->dir, -1, -1);
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);

    /* In this process a second writable handle is refused too. */
    struct ts_options o = {.clock = fake_clock};
    struct ts_store *two = NULL;
    assert_true(open_store(f->dir, &o, &two) < 0);
    assert_null(two);

    /* Released on close. */
    ts_close(f->st);
    f->st = NULL;
    pid = spawn_self("--child-open", f->dir, -1, -1);
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    fx_reopen(f);
}

static void test_open_read_only(void **state)
{
    struct fx *f = *state;
    uint64_t id = series2(f->st, "cost_usd", "openai", "gpt-4o");
    write_one(f->st, id, BASE + HOUR, 7);
    struct ts_batch *b = ts_batch_new();
    assert_non_null(b);
    assert_int_equal(ts_batch_put(b, TS_META, "cursor", 6, "1", 1), 0);
    write_batch(f->st, b);

    struct ts_options o = {.read_only = 1, .clock = fake_clock};
    struct ts_store *ro = NULL;
    must(open_store(f->dir, &o, &ro), "read-only open while held");
    expect_val(ro, id, BASE + HOUR, HOUR, 7);
    expect_val(ro, id, BASE, DAY, 7);
    expect_get(ro, TS_META, "cursor", 6, "1", 1);
    assert_int_equal(series2(ro, "cost_usd", "openai", "gpt-4o"), id);

    ts_batch_clear(b);
    assert_int_equal(ts_batch_add(b, id, BASE + HOUR, 8), 0);
    g_err[0] = '\0';
    assert_true(ts_write(ro, b, g_err, sizeof g_err) < 0);
    assert_true(g_err[0] != '\0');
    const struct ts_series *s = NULL;
    assert_true(ts_series_get(ro, "cost_usd", (struct ts_label[]){{"provider", "new"}}, 1, &s,
                              g_err, sizeof g_err) < 0);
    ts_close(ro);
    expect_val(f->st, id, BASE + HOUR, HOUR, 7);
    ts_batch_free(b);
}

static void test_open_corrupt_current(void **state)
{
    struct fx *f = *state;
    uint64_t id = series2(f->st, "cost_usd", "openai", "gpt-4o");
    write_one(f->st, id, BASE, 1);
    ts_close(f->st);
    f->st = NULL;
    char cur[4300];
    snprintf(cur, sizeof cur, "%s/CURRENT", f->dir);
    assert_int_equal(tu_write_file(cur, "\x01\x02garbage", 0644), 0);

    struct ts_options o = {.clock = fake_clock};
    struct ts_store *st = NULL;
    int rc = open_store(f->dir, &o, &st);
    if (rc != -TS_ECORRUPT && rc != -TS_EIO)
        fail_msg("corrupt CURRENT gave %d (%s)", rc, g_err);
    assert_null(st);
    if (!strstr(g_err, f->dir))
        fail_msg("message does not name %s: %s", f->dir, g_err);
    /* Not repaired behind our back. */
    char *txt = tu_read_file(cur);
    assert_non_null(txt);
    assert_string_equal(txt, "\x01\x02garbage");
    free(txt);
}

static void test_open_missing(void **state)
{
    struct fx *f = *state;
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/missing", f->tmp);
    struct ts_options o = {.clock = fake_clock};
    struct ts_store *st = NULL;
    assert_true(open_store(dir, &o, &st) < 0);
    assert_null(st);
    assert_true(g_err[0] != '\0');
    struct stat sb;
    assert_int_equal(stat(dir, &sb), -1);
    o.read_only = 1;
    assert_true(open_store(dir, &o, &st) < 0);
    assert_int_equal(stat(dir, &sb), -1);

    /* With create, an existing empty directory is fine. */
    snprintf(dir, sizeof dir, "%s/empty", f->tmp);
    assert_int_equal(mkdir(dir, 0700), 0);
    o.read_only = 0;
    o.create = 1;
    must(open_store(dir, &o, &st), "create in empty dir");
    ts_close(st);
}

static void test_bad_arguments(void **state)
{
    struct fx *f = *state;
    uint64_t id = series2(f->st, "cost_usd", "openai", "gpt-4o");
    write_one(f->st, id, BASE, 1);
    int64_t *t = NULL;
    double *v = NULL;
    size_t n = 0;
    assert_true(ts_read_range(f->st, id, BASE, BASE + DAY, 60, &t, &v, &n, g_err, sizeof g_err) <
                0);
    free(t);
    free(v);
    char *val = NULL;
    size_t vlen = 0;
    assert_int_equal(ts_get(f->st, TS_META, "nope", 4, &val, &vlen, g_err, sizeof g_err),
                     -TS_ENOTFOUND);
    free(val);

    /* A sample for a series that was never registered fails the whole batch. */
    struct ts_batch *b = ts_batch_new();
    assert_non_null(b);
    assert_int_equal(ts_batch_add(b, id, BASE + HOUR, 2), 0);
    assert_int_equal(ts_batch_add(b, id + 1000, BASE + HOUR, 2), 0);
    assert_int_equal(ts_batch_put(b, TS_META, "k", 1, "v", 1), 0);
    g_err[0] = '\0';
    assert_true(ts_write(f->st, b, g_err, sizeof g_err) < 0);
    assert_true(g_err[0] != '\0');
    expect_none(f->st, id, BASE + HOUR, HOUR);
    expect_val(f->st, id, BASE, DAY, 1);
    expect_notfound(f->st, TS_META, "k", 1);
    ts_batch_free(b);
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "--child-writer") == 0)
        return child_writer(argv[2], atoi(argv[3]));
    if (argc >= 3 && strcmp(argv[1], "--child-open") == 0)
        return child_open(argv[2], 0);
    if (argc >= 3 && strcmp(argv[1], "--child-open-ro") == 0)
        return child_open(argv[2], 1);

#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_upsert_idempotent),
        T(test_batch_last_wins),
        T(test_range_bounds),
        T(test_rollup_random_overwrites),
        T(test_rollup_overwrite_latest),
        T(test_aggregate),
        T(test_aggregate_after_overwrite_and_reopen),
        T(test_series_identity),
        T(test_series_list),
        T(test_events_scan),
        T(test_events_dedupe),
        T(test_kv_families),
        T(test_scan_from),
        T(test_change_feed),
        T(test_kv_atomic_with_samples),
        T(test_persistence),
        T(test_retention),
        T(test_crash_safety),
        T(test_open_foreign_file),
        T(test_open_foreign_rocksdb),
        T(test_open_newer_schema),
        T(test_open_locked),
        T(test_open_read_only),
        T(test_open_corrupt_current),
        T(test_open_missing),
        T(test_bad_arguments),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
