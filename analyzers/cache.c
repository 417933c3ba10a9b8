/*
 * The engine's read cache (engine.h ana_aggregate). Rules ask for
 * overlapping windows of the same few metrics (est_cost_usd, cost_usd,
 * input_tokens...); reading each from RocksDB costs a seek per series every
 * time. The first request for a (metric, step) loads every series of that
 * metric over a fixed recent window (9 days of hours, 63 days of daily
 * rollups) once, and every request inside the window is answered from
 * memory with ts_aggregate's exact semantics (groups by label values,
 * sorted, buckets with data only); anything else goes to ts_aggregate.
 * The engine keeps the cache between passes and, at the start of a pass,
 * re-reads only what the last cycle wrote (ana_changes.samples_from), so a
 * pass costs what changed, not the window; the windows move with the UTC
 * day (a new day reloads), so memory never grows with history.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/array.h"
#include "../common/strmap.h"
#include "../common/timeutil.h"
#include "engine.h"

#define HOURS_BACK (9LL * TU_DAY)
#define DAYS_BACK (63LL * TU_DAY)
#define MAX_ENTRIES 16
#define GKEY_MAX 2048

/* One series' window (a group of an aggregation by every label name: one series). */
struct cached_series {
    struct ts_label *labels; /* owned array; names and values are the store's */
    size_t n_labels;
    int64_t *t; /* owned, ascending */
    double *v;
    size_t n, cap;
    char *gkey; /* owned; the index key */
};

struct entry {
    char *metric;
    int64_t step, lo, hi, day;
    const char **names; /* every label name of the metric's series (the store's strings) */
    size_t n_names;
    struct cached_series *series;
    size_t n, cap;
    struct strmap index; /* gkey -> series */
};

struct ana_cache {
    struct ts_store *st;
    int64_t now;
    struct entry e[MAX_ENTRIES];
    size_t n;
    size_t hits, misses;
};

static struct ana_cache *g_cache;     /* the pass in progress (the engine is single-threaded) */
static struct ana_cache *g_temporary; /* made by ana_cache_begin */

static void entry_free(struct entry *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->series[i].labels);
        free(e->series[i].t);
        free(e->series[i].v);
        free(e->series[i].gkey);
    }
    free(e->series);
    strmap_free(&e->index);
    free(e->names);
    free(e->metric);
    memset(e, 0, sizeof *e);
}

static void drop_all(struct ana_cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        entry_free(&c->e[i]);
    c->n = 0;
}

struct ana_cache *ana_cache_new(void)
{
    return calloc(1, sizeof(struct ana_cache));
}

void ana_cache_free(struct ana_cache *c)
{
    if (!c)
        return;
    if (g_cache == c)
        g_cache = NULL;
    drop_all(c);
    free(c);
}

/* The label names of metric's series, in first-seen order; -1 on allocation failure. */
static int label_names(struct ts_store *st, const char *metric, const char ***names, size_t *n)
{
    const struct ts_series **list = NULL;
    size_t nl = 0, cap = 0;
    struct strmap seen = {0};
    int rc = -1;
    *names = NULL;
    *n = 0;
    if (ts_series_list(st, metric, NULL, 0, &list, &nl) != 0)
        return -1;
    for (size_t i = 0; i < nl; i++) {
        for (size_t k = 0; k < list[i]->n_labels; k++) {
            const char *name = list[i]->labels[k].name;
            size_t dummy;
            if (strmap_get(&seen, name, strlen(name), &dummy) == 0)
                continue;
            if (arr_reserve((void **)names, &cap, *n + 1, sizeof **names) ||
                strmap_put(&seen, name, strlen(name), *n))
                goto out;
            (*names)[(*n)++] = name;
        }
    }
    rc = 0;
out:
    strmap_free(&seen);
    free(list);
    return rc;
}

static int gkey_of(const struct ts_label *labels, size_t n_labels, const char *const *names,
                   size_t n_names, char *key, size_t *len)
{
    size_t o = 0;
    for (size_t k = 0; k < n_names; k++) {
        const char *v = NULL;
        for (size_t i = 0; i < n_labels && !v; i++) {
            if (strcmp(labels[i].name, names[k]) == 0)
                v = labels[i].value;
        }
        int w = snprintf(key + o, GKEY_MAX - o, "%c%s\x1f", v ? '1' : '0', v ? v : "");
        if (w < 0 || (size_t)w >= GKEY_MAX - o)
            return -1;
        o += (size_t)w;
    }
    key[o] = '\0';
    *len = o;
    return 0;
}

/*
 * Reads [from, e->hi) of every series into the entry: a cached series keeps
 * its points before from and takes the new ones after; a series not cached
 * yet is added. One aggregation grouped by every label name (one group per
 * series, the store's two-thread scan). 0 ok, -1 with err.
 */
static int absorb(struct ana_cache *c, struct entry *e, int64_t from, char *err, size_t errlen)
{
    struct ts_agg_query q = {.metric = e->metric,
                             .group_by = e->names,
                             .n_group_by = e->n_names,
                             .from = from,
                             .to = e->hi,
                             .step = e->step};
    struct ts_agg_result r;
    if (ts_aggregate(c->st, &q, &r, err, errlen) != 0)
        return -1;
    int rc = -1;
    for (size_t g = 0; g < r.n_groups; g++) {
        const struct ts_agg_group *ag = &r.groups[g];
        char key[GKEY_MAX];
        size_t klen, at;
        if (gkey_of(ag->labels, ag->n_labels, e->names, e->n_names, key, &klen) != 0)
            goto out;
        struct cached_series *cs;
        if (strmap_get(&e->index, key, klen, &at) == 0) {
            cs = &e->series[at];
            while (cs->n > 0 && cs->t[cs->n - 1] >= from)
                cs->n--;
        } else {
            if (arr_reserve((void **)&e->series, &e->cap, e->n + 1, sizeof *e->series))
                goto out;
            cs = &e->series[e->n];
            memset(cs, 0, sizeof *cs);
            cs->gkey = strdup(key);
            cs->labels = malloc((ag->n_labels ? ag->n_labels : 1) * sizeof *cs->labels);
            if (!cs->gkey || !cs->labels || strmap_put(&e->index, cs->gkey, klen, e->n) != 0) {
                free(cs->gkey);
                free(cs->labels);
                goto out;
            }
            if (ag->n_labels)
                memcpy(cs->labels, ag->labels, ag->n_labels * sizeof *cs->labels);
            cs->n_labels = ag->n_labels;
            e->n++;
        }
        if (cs->n + ag->n_points > cs->cap) {
            size_t nc = cs->n + ag->n_points + 8;
            int64_t *nt = realloc(cs->t, nc * sizeof *nt);
            if (nt)
                cs->t = nt;
            double *nv = realloc(cs->v, nc * sizeof *nv);
            if (nv)
                cs->v = nv;
            if (!nt || !nv)
                goto out;
            cs->cap = nc;
        }
        if (ag->n_points) {
            memcpy(cs->t + cs->n, ag->times, ag->n_points * sizeof *cs->t);
            memcpy(cs->v + cs->n, ag->values, ag->n_points * sizeof *cs->v);
            cs->n += ag->n_points;
        }
    }
    rc = 0;
out:
    if (rc != 0)
        snprintf(err, errlen, "out of memory in the analyzers' read cache");
    ts_agg_free(&r);
    return rc;
}

/* Loads metric at step over the current window; NULL when it cannot (callers fall back). */
static struct entry *load(struct ana_cache *c, const char *metric, int64_t step, char *err,
                          size_t errlen)
{
    if (c->n == MAX_ENTRIES)
        return NULL;
    struct entry *e = &c->e[c->n];
    memset(e, 0, sizeof *e);
    e->day = tu_floor(c->now, TU_DAY);
    e->step = step;
    e->lo = e->day - (step == TU_HOUR ? HOURS_BACK : DAYS_BACK);
    e->hi = e->day + 2LL * TU_DAY;
    e->metric = strdup(metric);
    if (!e->metric || label_names(c->st, metric, &e->names, &e->n_names) != 0 ||
        absorb(c, e, e->lo, err, errlen) != 0) {
        entry_free(e);
        return NULL;
    }
    c->n++;
    return e;
}

int ana_cache_pass_begin(struct ana_cache *c, struct ts_store *st, int64_t now,
                         const struct ana_changes *ch)
{
    char err[256];
    int64_t day = tu_floor(now, TU_DAY);
    /* what the last cycle wrote; 0 (or no changes given) means unknown: read it all again */
    int64_t from = ch ? ch->samples_from : 0;
    if (c->st != st || from <= 0)
        drop_all(c);
    c->st = st;
    c->now = now;
    for (size_t i = 0; i < c->n;) {
        struct entry *e = &c->e[i];
        const char **names = NULL;
        size_t n_names = 0;
        int keep = e->day == day && label_names(st, e->metric, &names, &n_names) == 0 &&
                   n_names == e->n_names;
        free(names);
        if (keep && from < e->hi) {
            int64_t rfrom = tu_floor(from, e->step);
            keep = absorb(c, e, rfrom > e->lo ? rfrom : e->lo, err, sizeof err) == 0;
        }
        if (keep) {
            i++;
            continue;
        }
        entry_free(e); /* reloaded on its next use */
        c->e[i] = c->e[c->n - 1];
        memset(&c->e[c->n - 1], 0, sizeof c->e[0]);
        c->n--;
    }
    g_cache = c;
    return 0;
}

void ana_cache_pass_end(struct ana_cache *c)
{
    if (g_cache == c)
        g_cache = NULL;
}

int ana_cache_begin(struct ts_store *st, int64_t now)
{
    ana_cache_end();
    g_temporary = ana_cache_new();
    if (!g_temporary)
        return -1;
    return ana_cache_pass_begin(g_temporary, st, now, NULL);
}

void ana_cache_end(void)
{
    ana_cache_free(g_temporary);
    g_temporary = NULL;
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
        size_t lo = 0, hi = cs->n; /* first point at or after from */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (cs->t[mid] < q->from)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t k = lo; k < cs->n && cs->t[k] < q->to; k++) {
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
