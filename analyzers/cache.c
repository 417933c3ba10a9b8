/*
 * The engine's read cache (engine.h ana_aggregate). Rules ask for
 * overlapping windows of the same few metrics (est_cost_usd, cost_usd,
 * input_tokens...); reading each from RocksDB costs a seek per series every
 * time. The first request for a (metric, step) loads every series of that
 * metric over a fixed recent window (9 days of hours, 63 days of daily
 * rollups) once. Every request inside the window is then answered from
 * memory with ts_aggregate's semantics: a group per combination of label
 * values among every registered series of the metric, sorted, buckets with
 * data only. Anything else goes to ts_aggregate. Each series is a row of
 * dense per-bucket values, and its label values are interned per label
 * name as small integers. A request matches and groups rows by comparing
 * integers and sums them by index, with no string work per series.
 *
 * The engine keeps the cache between passes. At the start of a pass it
 * applies what the writes since the last pass changed, as the store's
 * change feed (ts_feed_read) reports it, without reading the store: a
 * point's new value in its hour, and its change added to its day. So a
 * pass costs what changed, not the window, and not a seek per series.
 *
 * On a new UTC day the windows shift: the day that leaves is forgotten, and
 * the day that enters is read only if something was ever written that late
 * (ts_series_last). So memory never grows with history. When the feed lost
 * records, or the daemon says it does not know what changed
 * (ana_changes.samples_from 0), everything is read again on its next use.
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
#define OTHER_METRIC SIZE_MAX /* of_id: a series of another metric */

/* One label name's values, interned: id i + 1 names val[i]. */
struct interned {
    struct strmap ids; /* value -> id - 1; keys are the store's strings */
    const char **val;
    size_t n, cap;
};

/*
 * One (metric, step): a row per registered series of the metric, holding
 * the series' value ids (one per label name; 0 = the series lacks it) and
 * its buckets over [lo, hi) (n_slots of them, dense).
 */
struct entry {
    char *metric;
    int64_t step, lo, hi, day;
    size_t n_slots;
    const char **names; /* every label name of the metric's series (the store's strings) */
    size_t n_names;
    struct interned *vals; /* per name */
    uint32_t *vid;         /* n_names per row */
    double *v;             /* n_slots per row */
    unsigned char *has;    /* n_slots per row: the bucket has data */
    size_t n, cap;         /* rows */
    size_t *of_id;         /* series id - 1 -> row + 1, OTHER_METRIC, or 0 (not seen) */
    size_t n_of_id;
    size_t series_seen; /* ts_series_count when every series was last given a row */
    uint64_t commit;    /* the store's ts_feed_commit when loaded: later records apply */
    int64_t last;       /* the latest bucket any of its series was written at (ts_series_last) */
};

struct ana_cache {
    struct ts_store *st;
    struct ts_feed *feed; /* what writes to st changed since the last pass */
    int64_t now;
    struct entry e[MAX_ENTRIES];
    size_t n;
    struct ana_cache_stats stats;
};

static struct ana_cache *g_cache;     /* the pass in progress (the engine is single-threaded) */
static struct ana_cache *g_temporary; /* made by ana_cache_begin */

static void entry_free(struct entry *e)
{
    for (size_t k = 0; e->vals && k < e->n_names; k++) {
        strmap_free(&e->vals[k].ids);
        free(e->vals[k].val);
    }
    free(e->vals);
    free(e->vid);
    free(e->v);
    free(e->has);
    free(e->of_id);
    free(e->names);
    free(e->metric);
    memset(e, 0, sizeof *e);
}

static void drop_all(struct ana_cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        entry_free(&c->e[i]);
    c->stats.drops += c->n;
    c->n = 0;
}

static void drop_entry(struct ana_cache *c, size_t i)
{
    c->stats.drops++;
    entry_free(&c->e[i]); /* reloaded on its next use */
    c->e[i] = c->e[c->n - 1];
    memset(&c->e[c->n - 1], 0, sizeof c->e[0]);
    c->n--;
}

struct ana_cache *ana_cache_new(void)
{
    return calloc(1, sizeof(struct ana_cache));
}

void ana_cache_stats(const struct ana_cache *c, struct ana_cache_stats *out)
{
    *out = c->stats;
}

void ana_cache_free(struct ana_cache *c)
{
    if (!c)
        return;
    if (g_cache == c)
        g_cache = NULL;
    drop_all(c);
    ts_feed_close(c->feed);
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

static size_t name_index(const struct entry *e, const char *name)
{
    for (size_t k = 0; k < e->n_names; k++) {
        if (strcmp(e->names[k], name) == 0)
            return k;
    }
    return SIZE_MAX;
}

/* The id of value v of name k, interning it. 0 on allocation failure. */
static uint32_t intern(struct interned *in, const char *v)
{
    size_t len = strlen(v), at;
    if (strmap_get(&in->ids, v, len, &at) == 0)
        return (uint32_t)at + 1;
    if (in->n >= UINT32_MAX - 1 ||
        arr_reserve((void **)&in->val, &in->cap, in->n + 1, sizeof *in->val) != 0 ||
        strmap_put(&in->ids, v, len, in->n) != 0)
        return 0;
    in->val[in->n++] = v;
    return (uint32_t)in->n;
}

static int of_id_reserve(struct entry *e, uint64_t id)
{
    if (id <= e->n_of_id)
        return 0;
    size_t nn = (size_t)id + 256;
    size_t *m = realloc(e->of_id, nn * sizeof *m);
    if (!m)
        return -1;
    memset(m + e->n_of_id, 0, (nn - e->n_of_id) * sizeof *m);
    e->of_id = m;
    e->n_of_id = nn;
    return 0;
}

/*
 * Gives series ser (of e's metric) a row with no data. The row index, or -1
 * when e cannot hold it (a label name e's grouping lacks: e must be
 * reloaded; or out of memory).
 */
static long row_add(struct ana_cache *c, struct entry *e, const struct ts_series *ser)
{
    if (of_id_reserve(e, ser->id) != 0)
        return -1;
    if (e->of_id[ser->id - 1] && e->of_id[ser->id - 1] != OTHER_METRIC)
        return (long)e->of_id[ser->id - 1] - 1;
    if (e->n == e->cap) {
        size_t nc = e->cap ? e->cap * 2 : 64;
        uint32_t *vid = realloc(e->vid, nc * (e->n_names ? e->n_names : 1) * sizeof *vid);
        if (vid)
            e->vid = vid;
        double *v = realloc(e->v, nc * e->n_slots * sizeof *v);
        if (v)
            e->v = v;
        unsigned char *has = realloc(e->has, nc * e->n_slots);
        if (has)
            e->has = has;
        if (!vid || !v || !has)
            return -1;
        e->cap = nc;
    }
    uint32_t *vid = e->vid + e->n * e->n_names;
    memset(vid, 0, e->n_names * sizeof *vid);
    for (size_t i = 0; i < ser->n_labels; i++) {
        size_t k = name_index(e, ser->labels[i].name);
        if (k == SIZE_MAX || !(vid[k] = intern(&e->vals[k], ser->labels[i].value)))
            return -1;
    }
    int64_t last;
    char err[256];
    if (ts_series_last(c->st, ser->id, &last, err, sizeof err) != 0)
        return -1;
    if (last > e->last)
        e->last = last;
    memset(e->v + e->n * e->n_slots, 0, e->n_slots * sizeof *e->v);
    memset(e->has + e->n * e->n_slots, 0, e->n_slots);
    e->of_id[ser->id - 1] = e->n + 1;
    return (long)e->n++;
}

/* Gives every series of e's metric registered since the last call a row. 0 ok, -1 drop e. */
static int rows_sync(struct ana_cache *c, struct entry *e)
{
    size_t count = ts_series_count(c->st);
    if (count == e->series_seen)
        return 0;
    const struct ts_series **list = NULL;
    size_t nl = 0;
    if (ts_series_list(c->st, e->metric, NULL, 0, &list, &nl) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < nl && rc == 0; i++)
        rc = row_add(c, e, list[i]) < 0 ? -1 : 0;
    free(list);
    if (rc == 0)
        e->series_seen = count;
    return rc;
}

/* The row of the group g of an aggregation by every label name, through rows (vid tuple -> row). */
static long row_of_group(const struct entry *e, const struct ts_agg_group *g,
                         const struct strmap *rows)
{
    uint32_t tup[64];
    if (e->n_names > sizeof tup / sizeof tup[0])
        return -1;
    memset(tup, 0, e->n_names * sizeof *tup);
    for (size_t i = 0; i < g->n_labels; i++) {
        size_t k = name_index(e, g->labels[i].name), at;
        if (k == SIZE_MAX ||
            strmap_get(&e->vals[k].ids, g->labels[i].value, strlen(g->labels[i].value), &at) != 0)
            return -1;
        tup[k] = (uint32_t)at + 1;
    }
    size_t row;
    if (strmap_get(rows, (const char *)tup, e->n_names * sizeof *tup, &row) != 0)
        return -1;
    return (long)row;
}

/*
 * Reads [from, to) (inside the window) of every series into e's rows: one
 * aggregation grouped by every label name, so one group per series (the
 * store's two-thread scan). 0 ok, -1 with err.
 */
static int read_range(struct ana_cache *c, struct entry *e, int64_t from, int64_t to, char *err,
                      size_t errlen)
{
    struct strmap rows = {0};
    struct ts_agg_result r = {0};
    int rc = -1;
    for (size_t i = 0; i < e->n; i++) {
        if (strmap_put(&rows, (const char *)(e->vid + i * e->n_names), e->n_names * sizeof *e->vid,
                       i) != 0)
            goto out;
    }
    struct ts_agg_query q = {.metric = e->metric,
                             .group_by = e->names,
                             .n_group_by = e->n_names,
                             .from = from,
                             .to = to,
                             .step = e->step};
    if (ts_aggregate(c->st, &q, &r, err, errlen) != 0)
        goto out;
    for (size_t g = 0; g < r.n_groups; g++) {
        long row = row_of_group(e, &r.groups[g], &rows);
        if (row < 0)
            goto out;
        double *v = e->v + (size_t)row * e->n_slots;
        unsigned char *has = e->has + (size_t)row * e->n_slots;
        for (size_t k = 0; k < r.groups[g].n_points; k++) {
            size_t slot = (size_t)((r.groups[g].times[k] - e->lo) / e->step);
            v[slot] = r.groups[g].values[k];
            has[slot] = 1;
        }
    }
    rc = 0;
out:
    if (rc != 0 && !*err)
        snprintf(err, errlen, "out of memory in the analyzers' read cache");
    ts_agg_free(&r);
    strmap_free(&rows);
    return rc;
}

/* The window of an entry for the UTC day holding now. */
static void window_of(struct entry *e, int64_t day)
{
    e->day = day;
    e->lo = day - (e->step == TU_HOUR ? HOURS_BACK : DAYS_BACK);
    e->hi = day + 2LL * TU_DAY;
}

/*
 * Loads metric at step over the current window: a row per registered
 * series, then its data. NULL when it cannot (callers fall back to
 * ts_aggregate).
 */
static struct entry *load(struct ana_cache *c, const char *metric, int64_t step, char *err,
                          size_t errlen)
{
    if (c->n == MAX_ENTRIES)
        return NULL;
    struct entry *e = &c->e[c->n];
    memset(e, 0, sizeof *e);
    e->commit = ts_feed_commit(c->st);
    e->step = step;
    e->last = INT64_MIN;
    window_of(e, tu_floor(c->now, TU_DAY));
    e->n_slots = (size_t)((e->hi - e->lo) / step);
    err[0] = '\0';
    e->metric = strdup(metric);
    if (!e->metric || label_names(c->st, metric, &e->names, &e->n_names) != 0 ||
        !(e->vals = calloc(e->n_names ? e->n_names : 1, sizeof *e->vals)) || rows_sync(c, e) != 0 ||
        read_range(c, e, e->lo, e->hi, err, errlen) != 0) {
        entry_free(e);
        return NULL;
    }
    c->n++;
    c->stats.loads++;
    return e;
}

/*
 * Moves e's window forward to the UTC day day: the rows' buckets shift
 * left, the days that leave are forgotten, and the days that enter at the
 * end are read only when some series was ever written that late (backtests
 * over stored history; a live service has nothing after tomorrow). 0 ok,
 * -1 when e must be dropped (moved back, too far, or the read failed).
 */
static int shift(struct ana_cache *c, struct entry *e, int64_t day)
{
    if (day < e->day)
        return -1;
    size_t by = (size_t)((day - e->day) / e->step);
    if (by >= e->n_slots)
        return -1;
    size_t keep = e->n_slots - by;
    for (size_t r = 0; r < e->n; r++) {
        double *v = e->v + r * e->n_slots;
        unsigned char *h = e->has + r * e->n_slots;
        memmove(v, v + by, keep * sizeof *v);
        memset(v + keep, 0, by * sizeof *v);
        memmove(h, h + by, keep);
        memset(h + keep, 0, by);
    }
    int64_t old_hi = e->hi;
    window_of(e, day);
    char err[256] = "";
    if (e->last >= old_hi &&
        (rows_sync(c, e) != 0 || read_range(c, e, old_hi, e->hi, err, sizeof err) != 0))
        return -1;
    c->stats.shifts++;
    return 0;
}

/*
 * Applies one fed record to e: an hourly entry takes the written value
 * (the store refuses points off the hour, so an hour holds one point); a
 * daily entry adds the point's change to its day, which is what the
 * store's summing rollup does. 0 ok, -1 when e must be dropped.
 */
static int apply(struct ana_cache *c, struct entry *e, const struct ts_change *ch)
{
    if (ch->commit <= e->commit)
        return 0; /* the load already read it */
    size_t at = ch->series <= e->n_of_id ? e->of_id[ch->series - 1] : 0;
    if (at == OTHER_METRIC)
        return 0;
    if (at == 0) {
        const struct ts_series *ser = ts_series_by_id(c->st, ch->series);
        if (!ser)
            return 0;
        if (strcmp(ser->metric, e->metric) != 0) {
            if (of_id_reserve(e, ser->id) != 0)
                return -1;
            e->of_id[ser->id - 1] = OTHER_METRIC;
            return 0;
        }
        long row = row_add(c, e, ser); /* registered since the last sync */
        if (row < 0)
            return -1;
        at = (size_t)row + 1;
    }
    if (ch->bucket > e->last)
        e->last = ch->bucket;
    int64_t t = tu_floor(ch->bucket, e->step);
    if (t < e->lo || t >= e->hi)
        return 0;
    size_t cell = (at - 1) * e->n_slots + (size_t)((t - e->lo) / e->step);
    if (e->step == TU_HOUR)
        e->v[cell] = ch->value; /* the store keeps one point per hour */
    else if (e->has[cell])
        e->v[cell] += ch->delta;
    else
        e->v[cell] = ch->delta;
    e->has[cell] = 1;
    c->stats.applied++;
    return 0;
}

int ana_cache_pass_begin(struct ana_cache *c, struct ts_store *st, int64_t now,
                         const struct ana_changes *ch)
{
    int64_t day = tu_floor(now, TU_DAY);
    /* ana_changes.samples_from 0 (or no changes given) means unknown: read it all again */
    int start_over = !ch || ch->samples_from <= 0;
    if (c->st != st) {
        drop_all(c);
        ts_feed_close(c->feed);
        c->feed = NULL;
    }
    c->st = st;
    c->now = now;
    if (!c->feed) {
        drop_all(c);
        c->feed = ts_feed_open(st); /* NULL: nothing is kept between passes */
    } else {
        const struct ts_change *rec;
        size_t n_rec;
        int fr = ts_feed_read(c->feed, &rec, &n_rec);
        if (fr < 0) { /* its store was closed; st is another one at the same address */
            drop_all(c);
            ts_feed_close(c->feed);
            c->feed = ts_feed_open(st);
        } else if (fr > 0 || start_over) {
            drop_all(c);
        } else {
            for (size_t i = 0; i < c->n;) {
                struct entry *e = &c->e[i];
                int keep = 1;
                for (size_t k = 0; keep && k < n_rec; k++)
                    keep = apply(c, e, &rec[k]) == 0;
                if (keep && e->day != day)
                    keep = shift(c, e, day) == 0;
                if (keep)
                    i++;
                else
                    drop_entry(c, i);
            }
        }
    }
    g_cache = c;
    return 0;
}

void ana_cache_pass_end(struct ana_cache *c)
{
    if (g_cache == c)
        g_cache = NULL;
    if (!c->feed)
        drop_all(c); /* nothing would tell it what changes before the next pass */
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

/* A group of a request: its first row (for label values) and its rows counted. */
struct grp {
    char *gkey; /* ts_aggregate's sort key: per group-by label "1value\x1f" or "0\x1f" */
    size_t first, n_series, row;
};

static int grp_cmp(const void *a, const void *b)
{
    return strcmp(((const struct grp *)a)->gkey, ((const struct grp *)b)->gkey);
}

/* The gkey of a group whose first row is r. */
static char *gkey_of(const struct entry *e, const size_t *gk, size_t n_gk, size_t r)
{
    char key[GKEY_MAX];
    size_t o = 0;
    for (size_t j = 0; j < n_gk; j++) {
        uint32_t id = gk[j] == SIZE_MAX ? 0 : e->vid[r * e->n_names + gk[j]];
        const char *v = id ? e->vals[gk[j]].val[id - 1] : "";
        int w = snprintf(key + o, sizeof key - o, "%c%s\x1f", id ? '1' : '0', v);
        if (w < 0 || (size_t)w >= sizeof key - o)
            return NULL;
        o += (size_t)w;
    }
    key[o] = '\0';
    return strdup(key);
}

/* ts_aggregate over the cached entry (the caller checked the range fits). */
static int serve(const struct entry *e, const struct ts_agg_query *q, struct ts_agg_result *out,
                 char *err, size_t errlen)
{
    int64_t base = tu_floor(q->from, q->step);
    size_t n_steps = (size_t)((q->to - base + q->step - 1) / q->step);
    /* the slots of buckets in [from, to), and the column of the first in the answer */
    size_t s0 = q->from <= e->lo ? 0 : (size_t)((q->from - e->lo + e->step - 1) / e->step);
    size_t s1 = (size_t)((q->to - e->lo + e->step - 1) / e->step);
    if (s1 > e->n_slots)
        s1 = e->n_slots;
    size_t col0 = (size_t)((e->lo + (int64_t)s0 * e->step - base) / q->step);
    size_t n_gk = q->n_group_by;
    size_t *gk = malloc((n_gk ? n_gk : 1) * sizeof *gk);
    size_t *mk = malloc((q->n_match ? q->n_match : 1) * sizeof *mk);
    uint32_t *mv = malloc((q->n_match ? q->n_match : 1) * sizeof *mv);
    uint32_t *tup = malloc((e->n ? e->n : 1) * (n_gk ? n_gk : 1) * sizeof *tup);
    long *gi = malloc((e->n ? e->n : 1) * sizeof *gi);
    struct strmap map = {0};
    struct grp *g = NULL;
    size_t n_g = 0, cap_g = 0;
    double *sum = NULL;
    unsigned char *has = NULL;
    int rc = -1, none = 0;
    memset(out, 0, sizeof *out);
    if (!gk || !mk || !mv || !tup || !gi)
        goto out;
    for (size_t j = 0; j < n_gk; j++)
        gk[j] = name_index(e, q->group_by[j]);
    for (size_t m = 0; m < q->n_match && !none; m++) {
        /* like the store: no value (or "") matches the series lacking the label */
        const char *val = q->match[m].value ? q->match[m].value : "";
        size_t at;
        mk[m] = name_index(e, q->match[m].name);
        mv[m] = 0;
        if (!*val)
            continue; /* a name no series has: every row lacks it (mk SIZE_MAX) */
        if (mk[m] == SIZE_MAX || strmap_get(&e->vals[mk[m]].ids, val, strlen(val), &at) != 0)
            none = 1; /* no series has that value */
        else
            mv[m] = (uint32_t)at + 1;
    }
    for (size_t r = 0; r < e->n; r++) {
        const uint32_t *vid = e->vid + r * e->n_names;
        gi[r] = -1;
        int ok = !none;
        for (size_t m = 0; m < q->n_match && ok; m++)
            ok = mk[m] == SIZE_MAX || vid[mk[m]] == mv[m];
        if (!ok)
            continue;
        uint32_t *t = tup + r * n_gk;
        for (size_t j = 0; j < n_gk; j++)
            t[j] = gk[j] == SIZE_MAX ? 0 : vid[gk[j]];
        size_t idx = 0;
        if (!g || (n_gk && strmap_get(&map, (const char *)t, n_gk * sizeof *t, &idx) != 0)) {
            if (arr_reserve((void **)&g, &cap_g, n_g + 1, sizeof *g) != 0)
                goto out;
            g[n_g] = (struct grp){.gkey = NULL, .first = r, .row = n_g};
            if (n_gk && strmap_put(&map, (const char *)t, n_gk * sizeof *t, n_g) != 0)
                goto out;
            idx = n_g++;
        }
        g[idx].n_series++;
        gi[r] = (long)idx;
    }
    sum = calloc((n_g ? n_g : 1) * (n_steps ? n_steps : 1), sizeof *sum);
    has = calloc((n_g ? n_g : 1) * (n_steps ? n_steps : 1), 1);
    if (!sum || !has)
        goto out;
    for (size_t r = 0; r < e->n; r++) {
        if (gi[r] < 0)
            continue;
        const double *v = e->v + r * e->n_slots;
        const unsigned char *h = e->has + r * e->n_slots;
        double *gs = sum + (size_t)gi[r] * n_steps + col0;
        unsigned char *gh = has + (size_t)gi[r] * n_steps + col0;
        for (size_t k = s0; k < s1; k++) {
            if (h[k]) {
                gs[k - s0] += v[k];
                gh[k - s0] = 1;
            }
        }
    }
    for (size_t i = 0; i < n_g; i++) {
        if (!(g[i].gkey = gkey_of(e, gk, n_gk, g[i].first)))
            goto out;
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
        og->labels = calloc(n_gk ? n_gk : 1, sizeof *og->labels);
        og->times = malloc((cnt ? cnt : 1) * sizeof *og->times);
        og->values = malloc((cnt ? cnt : 1) * sizeof *og->values);
        og->n_series = g[i].n_series;
        out->n_groups++;
        if (!og->labels || !og->times || !og->values)
            goto out;
        const uint32_t *vid = e->vid + g[i].first * e->n_names;
        for (size_t j = 0; j < n_gk; j++) {
            uint32_t id = gk[j] == SIZE_MAX ? 0 : vid[gk[j]];
            if (id)
                og->labels[og->n_labels++] =
                    (struct ts_label){q->group_by[j], e->vals[gk[j]].val[id - 1]};
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
    free(gk);
    free(mk);
    free(mv);
    free(tup);
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
        q->to <= q->from || (q->step == TU_DAY && (q->from % TU_DAY != 0 || q->to % TU_DAY != 0)))
        return ts_aggregate(st, q, out, err, errlen);
    struct entry *e = NULL;
    size_t i = 0;
    for (; i < c->n && !e; i++) {
        if (c->e[i].step == q->step && strcmp(c->e[i].metric, q->metric) == 0)
            e = &c->e[i];
    }
    if (e && rows_sync(c, e) != 0) { /* a series registered with a label it lacks */
        drop_entry(c, i - 1);
        e = NULL;
    }
    if (!e) {
        e = load(c, q->metric, q->step, err, errlen);
        if (!e)
            return ts_aggregate(st, q, out, err, errlen);
    }
    if (q->from < e->lo || q->to > e->hi) {
        c->stats.misses++;
        return ts_aggregate(st, q, out, err, errlen);
    }
    c->stats.hits++;
    return serve(e, q, out, err, errlen);
}
