/*
 * The engine's read cache for one evaluation pass (engine.h ana_aggregate).
 * Rules ask for overlapping windows of the same few metrics (est_cost_usd,
 * cost_usd, input_tokens...); reading each from RocksDB costs a seek per
 * series every time. During a pass, the first request for a (metric, step)
 * loads every series of that metric over a fixed recent window (9 days of
 * hours, 63 days of daily rollups) once, and every request that falls
 * inside the window and on step boundaries is answered from memory with
 * ts_aggregate's exact semantics (groups by label values, sorted, buckets
 * with data only). Anything else goes to ts_aggregate. Between passes
 * nothing is kept: memory does not grow with history.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/array.h"
#include "../common/strmap.h"
#include "../common/timeutil.h"
#include "engine.h"

#define HOURS_BACK (9 * TU_DAY)
#define DAYS_BACK (63 * TU_DAY)
#define MAX_ENTRIES 16

/* One series' window: a group of an aggregation by every label name, so one series each. */
struct cached_series {
    const struct ts_label *labels;
    size_t n_labels;
    const int64_t *t;
    const double *v;
    size_t n;
};

struct entry {
    char *metric;
    int64_t step, lo, hi;
    struct ts_agg_result res; /* owns the arrays the series point into */
    const char **names;       /* every label name of the metric's series */
    struct cached_series *series;
    size_t n;
};

struct ana_cache {
    struct ts_store *st;
    int64_t now;
    struct entry e[MAX_ENTRIES];
    size_t n;
    size_t hits, misses;
};

static struct ana_cache *g_cache; /* the pass in progress (the engine is single-threaded) */

static void entry_free(struct entry *e)
{
    ts_agg_free(&e->res);
    free(e->names);
    free(e->series);
    free(e->metric);
    memset(e, 0, sizeof *e);
}

int ana_cache_begin(struct ts_store *st, int64_t now)
{
    struct ana_cache *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    c->st = st;
    c->now = now;
    g_cache = c;
    return 0;
}

void ana_cache_end(void)
{
    struct ana_cache *c = g_cache;
    g_cache = NULL;
    if (!c)
        return;

    for (size_t i = 0; i < c->n; i++)
        entry_free(&c->e[i]);
    free(c);
}

/*
 * Loads every series of metric at step over the entry's window, with one
 * aggregation grouped by every label name the metric's series carry (so
 * each group is one series, and the store's two-thread scan is used).
 * NULL when it cannot (the caller falls back to ts_aggregate).
 */
static struct entry *load(struct ana_cache *c, const char *metric, int64_t step, char *err,
                          size_t errlen)
{
    if (c->n == MAX_ENTRIES)
        return NULL;
    struct entry *e = &c->e[c->n];
    int64_t today = tu_floor(c->now, TU_DAY);
    e->step = step;
    e->lo = today - (step == TU_HOUR ? HOURS_BACK : DAYS_BACK);
    e->hi = today + 2 * TU_DAY;
    e->metric = strdup(metric);
    const struct ts_series **list = NULL;
    size_t n = 0, n_names = 0, cap_names = 0;
    struct strmap seen = {0};
    if (!e->metric || ts_series_list(c->st, metric, NULL, 0, &list, &n) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < list[i]->n_labels; k++) {
            const char *name = list[i]->labels[k].name;
            size_t dummy;
            if (strmap_get(&seen, name, strlen(name), &dummy) == 0)
                continue;
            if (arr_reserve((void **)&e->names, &cap_names, n_names + 1, sizeof *e->names) ||
                strmap_put(&seen, name, strlen(name), n_names))
                goto fail;
            e->names[n_names++] = name;
        }
    }
    struct ts_agg_query q = {.metric = metric,
                             .group_by = e->names,
                             .n_group_by = n_names,
                             .from = e->lo,
                             .to = e->hi,
                             .step = step};
    if (ts_aggregate(c->st, &q, &e->res, err, errlen) != 0)
        goto fail;
    e->series = calloc(e->res.n_groups ? e->res.n_groups : 1, sizeof *e->series);
    if (!e->series)
        goto fail;
    for (size_t i = 0; i < e->res.n_groups; i++) {
        const struct ts_agg_group *g = &e->res.groups[i];
        e->series[e->n++] = (struct cached_series){.labels = g->labels,
                                                   .n_labels = g->n_labels,
                                                   .t = g->times,
                                                   .v = g->values,
                                                   .n = g->n_points};
    }
    strmap_free(&seen);
    free(list);
    c->n++;
    return e;
fail:
    strmap_free(&seen);
    free(list);
    entry_free(e);
    return NULL;
}

static const char *label_of(const struct cached_series *s, const char *name)
{
    for (size_t i = 0; i < s->n_labels; i++) {
        if (strcmp(s->labels[i].name, name) == 0)
            return s->labels[i].value;
    }
    return NULL;
}

static int matches(const struct cached_series *s, const struct ts_agg_query *q)
{
    for (size_t i = 0; i < q->n_match; i++) {
        const char *v = label_of(s, q->match[i].name);
        if (!v || strcmp(v, q->match[i].value) != 0)
            return 0;
    }
    return 1;
}

struct grp {
    char *gkey;
    const struct cached_series *first;
    size_t n_series;
    size_t row;
};

static int grp_cmp(const void *a, const void *b)
{
    return strcmp(((const struct grp *)a)->gkey, ((const struct grp *)b)->gkey);
}

/* ts_aggregate over the cached entry (the caller checked the range fits). */
static int serve(const struct entry *e, const struct ts_agg_query *q, struct ts_agg_result *out,
                 char *err, size_t errlen)
{
    int64_t base = tu_floor(q->from, q->step);
    size_t n_steps = (size_t)((q->to - base + q->step - 1) / q->step);
    struct strmap map = {0};
    struct grp *g = NULL;
    size_t n_g = 0, cap_g = 0;
    long *gi = malloc((e->n ? e->n : 1) * sizeof *gi);
    double *sum = NULL;
    unsigned char *has = NULL;
    int rc = -1;
    memset(out, 0, sizeof *out);
    if (!gi)
        goto out;
    for (size_t i = 0; i < e->n; i++) {
        const struct cached_series *s = &e->series[i];
        gi[i] = -1;
        if (!matches(s, q))
            continue;
        char key[2048];
        size_t o = 0;
        for (size_t k = 0; k < q->n_group_by; k++) {
            const char *v = label_of(s, q->group_by[k]);
            int w = snprintf(key + o, sizeof key - o, "%c%s\x1f", v ? '1' : '0', v ? v : "");
            if (w < 0 || (size_t)w >= sizeof key - o)
                goto out;
            o += (size_t)w;
        }
        key[o] = '\0';
        size_t idx;
        if (!g || strmap_get(&map, key, o, &idx) != 0) {
            if (arr_reserve((void **)&g, &cap_g, n_g + 1, sizeof *g) != 0)
                goto out;
            g[n_g] = (struct grp){.gkey = strdup(key), .first = s, .row = n_g};
            if (!g[n_g].gkey)
                goto out;
            if (strmap_put(&map, g[n_g].gkey, o, n_g) != 0) {
                free(g[n_g].gkey);
                goto out;
            }
            idx = n_g++;
        }
        g[idx].n_series++;
        gi[i] = (long)idx;
    }
    sum = calloc((n_g ? n_g : 1) * (n_steps ? n_steps : 1), sizeof *sum);
    has = calloc((n_g ? n_g : 1) * (n_steps ? n_steps : 1), 1);
    if (!sum || !has)
        goto out;
    for (size_t i = 0; i < e->n; i++) {
        if (gi[i] < 0)
            continue;
        const struct cached_series *cs = &e->series[i];
        size_t row = (size_t)gi[i] * n_steps;
        for (size_t k = 0; k < cs->n; k++) {
            if (cs->t[k] < q->from || cs->t[k] >= q->to)
                continue;
            size_t si = (size_t)((cs->t[k] - base) / q->step);
            sum[row + si] += cs->v[k];
            has[row + si] = 1;
        }
    }
    if (n_g > 1)
        qsort(g, n_g, sizeof *g, grp_cmp);
    out->groups = calloc(n_g ? n_g : 1, sizeof *out->groups);
    if (!out->groups)
        goto out;
    for (size_t i = 0; i < n_g; i++) {
        struct ts_agg_group *og = &out->groups[i];
        const double *gs = sum + g[i].row * n_steps;
        const unsigned char *gh = has + g[i].row * n_steps;
        size_t cnt = 0;
        for (size_t k = 0; k < n_steps; k++)
            cnt += gh[k];
        og->labels = calloc(q->n_group_by ? q->n_group_by : 1, sizeof *og->labels);
        og->times = malloc((cnt ? cnt : 1) * sizeof *og->times);
        og->values = malloc((cnt ? cnt : 1) * sizeof *og->values);
        og->n_series = g[i].n_series;
        out->n_groups++;
        if (!og->labels || !og->times || !og->values)
            goto out;
        for (size_t k = 0; k < q->n_group_by; k++) {
            const char *v = label_of(g[i].first, q->group_by[k]);
            if (v)
                og->labels[og->n_labels++] = (struct ts_label){q->group_by[k], v};
        }
        for (size_t k = 0; k < n_steps; k++) {
            if (gh[k]) {
                og->times[og->n_points] = base + (int64_t)k * q->step;
                og->values[og->n_points++] = gs[k];
            }
        }
    }
    rc = 0;
out:
    if (rc != 0) {
        ts_agg_free(out);
        snprintf(err, errlen, "out of memory or group labels too long");
    }
    for (size_t i = 0; i < n_g; i++)
        free(g[i].gkey);
    free(g);
    strmap_free(&map);
    free(gi);
    free(sum);
    free(has);
    return rc;
}

int ana_aggregate(struct ts_store *st, const struct ts_agg_query *q, struct ts_agg_result *out,
                  char *err, size_t errlen)
{
    struct ana_cache *c = g_cache;
    if (!c || c->st != st || !q->metric || (q->step != TU_HOUR && q->step != TU_DAY) ||
        q->to <= q->from || (q->step == TU_DAY && (q->from % TU_DAY != 0 || q->to % TU_DAY != 0))) {

        return ts_aggregate(st, q, out, err, errlen);
    }
    struct entry *e = NULL;
    for (size_t i = 0; i < c->n && !e; i++) {
        if (c->e[i].step == q->step && strcmp(c->e[i].metric, q->metric) == 0)
            e = &c->e[i];
    }
    if (!e) {
        e = load(c, q->metric, q->step, err, errlen);
        if (!e)
            return ts_aggregate(st, q, out, err, errlen);
    }
    if (q->from < e->lo || q->to > e->hi) {
        c->misses++;

        return ts_aggregate(st, q, out, err, errlen);
    }
    c->hits++;
    return serve(e, q, out, err, errlen);
}
