/*
 * The spend_spike rule: spend of each group in a rolling window (ending at
 * the last full hour) against the median of the windows of the same length
 * in the trailing baseline period (or the same hour of previous weeks).
 * Fires once the group has `learning` of history, with the API keys, models
 * and projects that drove the increase as root causes.
 */
#include "spend_spike.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/timeutil.h"
#include "spend.h"

#define WEEK ((int64_t)7 * TU_DAY)
#define MAX_BY 8

static const char *const CAUSE_LABELS[] = {"api_key_id", "model", "project"};
#define N_CAUSE_LABELS (sizeof CAUSE_LABELS / sizeof CAUSE_LABELS[0])

/* ---- the arithmetic (spend_spike.h) ---- */

size_t ana_spike_windows(int64_t now, int64_t window, int64_t baseline, int same_hour_of_week,
                         int64_t *starts, size_t cap)
{
    if (window <= 0 || baseline <= 0)
        return 0;
    int64_t end = tu_floor(now, TU_HOUR);
    int show = same_hour_of_week && window == TU_HOUR;
    int64_t step = show ? WEEK : window;
    /* whole-day windows: the baseline ends at the current window's UTC midnight */
    int64_t base_end =
        !show && window % TU_DAY == 0 ? tu_floor(end - window, TU_DAY) : end - window;
    size_t n = 1 + (size_t)(baseline / step);
    for (size_t i = 0; i < n && i < cap; i++)
        starts[i] = i == 0 ? end - window : base_end - (int64_t)i * step;
    return n;
}

int ana_spike_learned(int64_t first, int64_t now, int64_t learning)
{
    return first != INT64_MAX && first <= now - learning;
}

double ana_spike_baseline(const double *spend, const int64_t *starts, size_t n, int64_t first,
                          double *scratch, size_t *n_present)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (starts[i] >= first)
            scratch[k++] = spend[i];
    }
    *n_present = k;
    return ana_median(scratch, k);
}

int ana_spike_fires(double value, double baseline, double threshold, double min_spend, int learned,
                    double *ratio)
{
    *ratio = baseline > 0 ? value / baseline : NAN;
    if (!learned || isnan(baseline) || isnan(value) || !ana_spend_reached(value, min_spend))
        return 0;
    if (baseline <= 0)
        return value > 0;
    return ana_spend_reached(*ratio, threshold);
}

/* ---- the rule ---- */

struct spike {
    int64_t window, baseline, learning;
    double threshold, min_spend;
    int show;
    const char *by[MAX_BY];
    size_t n_by;
    const char *read[MAX_BY + N_CAUSE_LABELS]; /* by plus the cause labels */
    size_t n_read;
};

static int dur_param(const json_t *p, const char *key, const char *def, int64_t *out, char *err,
                     size_t errlen)
{
    const char *s = json_string_value(json_object_get(p, key));
    if (tu_parse_duration(s ? s : def, out) != 0) {
        snprintf(err, errlen, "%s: bad duration", key);
        return -1;
    }
    return 0;
}

static double num_param(const json_t *p, const char *key, double def)
{
    const json_t *v = json_object_get(p, key);
    return json_is_number(v) ? json_number_value(v) : def;
}

static int has(const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i], s) == 0)
            return 1;
    }
    return 0;
}

static int spike_init(const struct cfg_rule *rule, const struct config *cfg, void **ctx, char *err,
                      size_t errlen)
{
    (void)cfg;
    const json_t *p = rule->params;
    struct spike *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (dur_param(p, "window", "1d", &s->window, err, errlen) != 0 ||
        dur_param(p, "baseline", "14d", &s->baseline, err, errlen) != 0 ||
        dur_param(p, "learning", "7d", &s->learning, err, errlen) != 0)
        goto fail;
    /* data is hourly: windows are whole hours */
    s->window = (s->window + TU_HOUR - 1) / TU_HOUR * TU_HOUR;
    s->threshold = num_param(p, "threshold", 1.5);
    s->min_spend = num_param(p, "min_spend_usd", 0);
    s->show = json_is_true(json_object_get(p, "same_hour_of_week")) && s->window == TU_HOUR;
    if (ana_spend_group_by(p, s->by, MAX_BY, &s->n_by, err, errlen) != 0)
        goto fail;
    if (ana_spike_windows(0, s->window, s->baseline, s->show, NULL, 0) < 2) {
        char b[16];
        ana_fmt_duration(s->baseline, b, sizeof b);
        snprintf(err, errlen, "baseline %s holds no earlier %s", b, s->show ? "week" : "window");
        goto fail;
    }
    if (s->show && s->learning > s->baseline / WEEK * WEEK) {
        snprintf(err, errlen,
                 "learning must not exceed the weeks of the baseline with same_hour_of_week");
        goto fail;
    }
    for (size_t i = 0; i < s->n_by; i++)
        s->read[s->n_read++] = s->by[i];
    for (size_t i = 0; i < N_CAUSE_LABELS; i++) {
        if (!has(s->read, s->n_read, CAUSE_LABELS[i]))
            s->read[s->n_read++] = CAUSE_LABELS[i];
    }
    *ctx = s;
    return 0;
fail:
    free(s);
    return -1;
}

static void spike_destroy(void *ctx)
{
    free(ctx);
}

/* What one evaluation shares between groups. */
struct eval {
    const struct spike *s;
    const struct ana_spend *sp;
    const struct ana_spend_groups *gs;
    const int64_t *starts; /* n windows: [0] current, [1..] baseline */
    const size_t *c0, *c1; /* each window's columns of sp (ana_spend_cols) */
    size_t n;
    double *scratch; /* n doubles */
    size_t *order;   /* rows sorted by group: group g's are order[at[g]..at[g + 1]) */
    size_t *at;      /* gs->n + 1 offsets */
};

static int cause_cmp(const void *a, const void *b)
{
    const struct ana_cause *x = a, *y = b;
    if (x->share != y->share)
        return x->share < y->share ? 1 : -1;
    int c = strcmp(x->label, y->label);
    return c ? c : strcmp(x->value, y->value);
}

/* Keeps the ANA_MAX_CAUSES largest causes in c (sorted by share, largest first). */
static void cause_add(struct ana_candidate *c, const char *label, const char *value, double share)
{
    struct ana_cause x = {.share = share};
    snprintf(x.label, sizeof x.label, "%s", label);
    snprintf(x.value, sizeof x.value, "%s", value);
    if (c->n_causes == ANA_MAX_CAUSES) {
        if (cause_cmp(&x, &c->causes[ANA_MAX_CAUSES - 1]) >= 0)
            return;
        c->n_causes--;
    }
    c->causes[c->n_causes++] = x;
    qsort(c->causes, c->n_causes, sizeof *c->causes, cause_cmp);
}

static double cols_sum(const double *v, size_t c0, size_t c1)
{
    double sum = 0;
    for (size_t c = c0; c < c1; c++)
        sum += v[c];
    return sum;
}

/* Sorting rows of a group by one label's value (NULL last). */
struct row_ref {
    const char *v;
    size_t row;
};

static int ref_cmp(const void *a, const void *b)
{
    const struct row_ref *x = a, *y = b;
    if (!x->v || !y->v)
        return (!x->v) - (!y->v);
    int c = strcmp(x->v, y->v);
    return c ? c : (x->row > y->row) - (x->row < y->row);
}

/*
 * Root causes of group gi's increase inc (> 0): for each cause label not
 * grouped by and not constant across the group, each value's window spend minus the median of its
 * own spend in the baseline windows that counted for the group, as a share of inc.
 */
static int find_causes(const struct eval *e, size_t gi, int64_t first, double inc,
                       struct ana_candidate *c, char *err, size_t errlen)
{
    const struct ana_spend *sp = e->sp;
    size_t n_rows = e->at[gi + 1] - e->at[gi];
    struct row_ref *refs = malloc((n_rows ? n_rows : 1) * sizeof *refs);
    double *acc = calloc(e->n, sizeof *acc);
    if (!refs || !acc) {
        free(refs);
        free(acc);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t l = 0; l < N_CAUSE_LABELS; l++) {
        const char *label = CAUSE_LABELS[l];
        if (has(e->s->by, e->s->n_by, label))
            continue;
        size_t k = 0;
        for (size_t i = e->at[gi]; i < e->at[gi + 1]; i++) {
            size_t r = e->order[i];
            refs[k++] = (struct row_ref){ana_spend_get(sp, &sp->rows[r], label), r};
        }
        qsort(refs, k, sizeof *refs, ref_cmp);
        /* one value across the whole group (a key's only project) explains nothing */
        if (k > 0 && refs[0].v && refs[k - 1].v && strcmp(refs[0].v, refs[k - 1].v) == 0)
            continue;
        for (size_t i = 0; i < k && refs[i].v;) {
            size_t j = i;
            memset(acc, 0, e->n * sizeof *acc);
            for (; j < k && refs[j].v && strcmp(refs[j].v, refs[i].v) == 0; j++) {
                const double *v = sp->rows[refs[j].row].v;
                for (size_t w = 0; w < e->n; w++)
                    acc[w] += cols_sum(v, e->c0[w], e->c1[w]);
            }
            size_t np;
            double med =
                ana_spike_baseline(acc + 1, e->starts + 1, e->n - 1, first, e->scratch, &np);
            double up = acc[0] - (np ? med : 0);
            if (up > 0)
                cause_add(c, label, refs[i].v, up / inc > 1 ? 1 : up / inc);
            i = j;
        }
    }
    free(refs);
    free(acc);
    return 0;
}

static int emit_group(const struct eval *e, size_t gi, int64_t first, double value, double baseline,
                      double ratio, size_t n_present, struct ana_results *out, char *err,
                      size_t errlen)
{
    const struct spike *s = e->s;
    const struct ana_spend_group *g = &e->gs->g[gi];
    const struct ana_spend_row *row = &e->sp->rows[g->row];
    struct ana_candidate *c;
    if (ana_emit(out, &c) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (ana_spend_label_group(e->sp, row, s->by, s->n_by, c) != 0) {
        snprintf(err, errlen, "too many labels");
        return -1;
    }
    c->value = value;
    c->baseline = baseline;
    c->ratio = ratio;
    c->threshold = s->threshold;
    c->impact_usd = value - baseline;
    snprintf(c->unit, sizeof c->unit, "usd");
    ana_fmt_duration(s->window, c->window, sizeof c->window);
    c->starts_at = e->starts[0];
    char who[256], v[32], b[32], bl[16];
    ana_spend_describe(e->sp, row, s->by, s->n_by, who, sizeof who);
    ana_spend_fmt_usd(value, v, sizeof v);
    ana_spend_fmt_usd(baseline, b, sizeof b);
    ana_fmt_duration(s->baseline, bl, sizeof bl);
    if (isnan(ratio))
        ana_summary(c, "%s spent %s in %s, new spend (nothing in its %s baseline)", who, v,
                    c->window, bl);
    else if (s->show)
        ana_summary(c,
                    "%s spent %s in %s, %.1fx its baseline of %s for this hour in the last %zu "
                    "weeks",
                    who, v, c->window, ratio, b, n_present);
    else
        ana_summary(c, "%s spent %s in %s, %.1fx its %s baseline of %s", who, v, c->window, ratio,
                    bl, b);
    c->details = json_pack("{s:i, s:b}", "baseline_windows", (json_int_t)n_present,
                           "same_hour_of_week", s->show);
    if (value - baseline > 0 && find_causes(e, gi, first, value - baseline, c, err, errlen) != 0)
        return -1;
    return 0;
}

/* The column starting at t (t is a column start of s). */
static size_t first_col(const struct ana_spend *s, int64_t t)
{
    size_t lo = 0, hi = s->n_cols;
    while (lo + 1 < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->t[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static int spike_evaluate(void *ctx, const struct ana_ctx *c, struct ana_results *out, char *err,
                          size_t errlen)
{
    const struct spike *s = ctx;
    struct ana_spend sp = {0};
    struct ana_spend_groups gs = {0};
    struct ana_spend_span *spans = NULL;
    size_t *order = NULL, *at = NULL;
    size_t n = ana_spike_windows(c->now, s->window, s->baseline, s->show, NULL, 0);
    if (n < 2) { /* init refuses such rules */
        snprintf(err, errlen, "no baseline window");
        return -1;
    }
    int64_t *starts = malloc(n * sizeof *starts);
    double *sums = malloc(n * sizeof *sums), *scratch = malloc(n * sizeof *scratch);
    size_t *c0 = malloc(n * sizeof *c0), *c1 = malloc(n * sizeof *c1);
    int rc = -1;
    if (!starts || !sums || !scratch || !c0 || !c1 ||
        !(spans = malloc((n < 4 ? 4 : n) * sizeof *spans))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    ana_spike_windows(c->now, s->window, s->baseline, s->show, starts, n);
    size_t n_spans = 0;
    if (s->show) {
        for (size_t i = n; i-- > 0;)
            spans[n_spans++] = (struct ana_spend_span){starts[i], starts[i] + TU_HOUR, TU_HOUR};
    } else if (s->window % TU_DAY == 0) {
        /* the baseline from daily rollups, the current window from ana_spend_spans */
        int64_t from = starts[n - 1], learn = tu_floor(c->now - s->learning, TU_DAY);
        from = learn < from ? learn : from;
        if (starts[1] + s->window > from)
            spans[n_spans++] = (struct ana_spend_span){from, starts[1] + s->window, TU_DAY};
        size_t k = ana_spend_spans(starts[0], starts[0] + s->window, spans + n_spans);
        if (n_spans && spans[1].step == TU_DAY) { /* adjacent daily spans: one read */
            spans[0].to = spans[1].to;
            memmove(spans + 1, spans + 2, (k - 1) * sizeof *spans);
            k--;
        }
        n_spans += k;
    } else {
        int64_t from = starts[n - 1], learn = tu_floor(c->now - s->learning, TU_HOUR);
        from = tu_floor(learn < from ? learn : from, TU_DAY); /* closed days read whole */
        spans[n_spans++] = (struct ana_spend_span){from, starts[0] + s->window, TU_HOUR};
    }
    struct ana_spend_query q = {.labels = s->read,
                                .n_labels = s->n_read,
                                .spans = spans,
                                .n_spans = n_spans,
                                .rule = c->rule,
                                .cfg = c->cfg,
                                .now = c->now};
    if (ana_spend_read(c->st, &q, &sp, err, errlen) != 0 ||
        ana_spend_fold(&sp, s->by, s->n_by, &gs, err, errlen) != 0)
        goto out;
    order = malloc((sp.n_rows ? sp.n_rows : 1) * sizeof *order);
    at = calloc(gs.n + 2, sizeof *at);
    if (!order || !at) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t r = 0; r < sp.n_rows; r++) /* counting sort of rows by group */
        at[gs.of_row[r] + 2]++;
    for (size_t g = 2; g < gs.n + 2; g++)
        at[g] += at[g - 1];
    for (size_t r = 0; r < sp.n_rows; r++)
        order[at[gs.of_row[r] + 1]++] = r;
    for (size_t w = 0; w < n; w++)
        ana_spend_cols(&sp, starts[w], starts[w] + s->window, &c0[w], &c1[w]);
    struct eval e = {.s = s,
                     .sp = &sp,
                     .gs = &gs,
                     .starts = starts,
                     .c0 = c0,
                     .c1 = c1,
                     .n = n,
                     .scratch = scratch,
                     .order = order,
                     .at = at};
    for (size_t gi = 0; gi < gs.n; gi++) {
        const struct ana_spend_group *g = &gs.g[gi];
        for (size_t w = 0; w < n; w++)
            sums[w] = cols_sum(g->v, c0[w], c1[w]);
        /* a first day known from a daily rollup may be partial: history starts the day
         * after, unless the data reaches back to the start of the read */
        int64_t first = g->first;
        if (first != INT64_MAX && first > sp.t[0] && sp.w[first_col(&sp, first)] == TU_DAY)
            first += TU_DAY;
        size_t np;
        double baseline = ana_spike_baseline(sums + 1, starts + 1, n - 1, first, scratch, &np);
        double ratio;
        int learned = ana_spike_learned(first, c->now, s->learning);
        if (!ana_spike_fires(sums[0], baseline, s->threshold, s->min_spend, learned, &ratio))
            continue;
        if (emit_group(&e, gi, first, sums[0], baseline, ratio, np, out, err, errlen) != 0)
            goto out;
    }
    rc = 0;
out:
    ana_spend_groups_free(&gs);
    ana_spend_free(&sp);
    free(order);
    free(at);
    free(spans);
    free(starts);
    free(sums);
    free(scratch);
    free(c0);
    free(c1);
    return rc;
}

const struct ana_rule_ops ana_spend_spike = {
    .type = "spend_spike",
    .init = spike_init,
    .evaluate = spike_evaluate,
    .destroy = spike_destroy,
};
