/*
 * Spend for the spend rules (spend.h). One est_cost_usd aggregate per span
 * gives rows at the finest grouping the rule needs; two daily rollup
 * aggregates (est_cost_usd and cost_usd per provider, account, project)
 * give each closed day's billed/estimated factor; a third daily aggregate
 * adds billed cost for project-days that have no estimate at all. Also the
 * shared pure decisions (thresholds, months, budgets, drift).
 */
#include "spend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/array.h"
#include "../common/strmap.h"
#include "../common/timeutil.h"

#define MAX_COLS 20000 /* columns one read may hold (about 2 years of hours) */
#define FACTOR_NAMES 3 /* provider, account, project */

static const char *const FACTOR_BY[FACTOR_NAMES] = {"provider", "account", "project"};

/* ---- pure decisions ---- */

int ana_spend_reached(double value, double limit)
{
    if (isnan(value) || isnan(limit))
        return 0;
    return value >= limit - 1e-9 * fabs(limit);
}

int64_t ana_month_start(int64_t t)
{
    int64_t y;
    unsigned m, d;
    tu_civil_from_days(tu_floor(t, TU_DAY) / TU_DAY, &y, &m, &d);
    return tu_days_from_civil(y, m, 1) * TU_DAY;
}

int64_t ana_month_next(int64_t t)
{
    int64_t y;
    unsigned m, d;
    tu_civil_from_days(tu_floor(t, TU_DAY) / TU_DAY, &y, &m, &d);
    return m == 12 ? tu_days_from_civil(y + 1, 1, 1) * TU_DAY
                   : tu_days_from_civil(y, m + 1, 1) * TU_DAY;
}

double ana_budget_projection(double actual, int64_t upto)
{
    int64_t start = ana_month_start(upto), next = ana_month_next(upto);
    int64_t elapsed = tu_floor(upto, TU_HOUR) - start;
    if (elapsed < TU_DAY || isnan(actual))
        return NAN;
    return actual * (double)(next - start) / (double)elapsed;
}

double ana_budget_crossed(double spend, double monthly, const double *pcts, size_t n)
{
    double best = NAN;
    for (size_t i = 0; i < n; i++) {
        if (ana_spend_reached(spend, pcts[i] * monthly / 100.0) && (isnan(best) || pcts[i] > best))
            best = pcts[i];
    }
    return best;
}

int ana_drift_fires(double billed, double est, double max_pct, double min_usd, double *drift_pct)
{
    double big = billed > est ? billed : est;
    *drift_pct = billed > 0 ? fabs(est - billed) / billed * 100.0 : NAN;
    if (isnan(billed) || isnan(est) || !ana_spend_reached(big, min_usd) || big <= 0)
        return 0;
    if (billed <= 0)
        return est > 0;
    return *drift_pct > max_pct + 1e-9 * max_pct;
}

/* ---- formatting ---- */

void ana_spend_fmt_usd(double usd, char *buf, size_t len)
{
    if (!len)
        return;
    if (isnan(usd) || isinf(usd)) {
        snprintf(buf, len, "$?");
        return;
    }
    double a = fabs(usd);
    if (a >= 1e15) {
        snprintf(buf, len, "%s$%.3g", usd < 0 ? "-" : "", a);
        return;
    }
    long long cents = llround(a * 100.0);
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%lld", cents / 100);
    if (n < 0)
        n = 0;
    char grouped[48];
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < sizeof grouped; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            grouped[o++] = ',';
        grouped[o++] = digits[i];
    }
    grouped[o] = '\0';
    snprintf(buf, len, "%s$%s.%02lld", usd < 0 && cents > 0 ? "-" : "", grouped, cents % 100);
}

/* ---- reading ---- */

static int name_index(const struct ana_spend *s, const char *name)
{
    for (size_t i = 0; i < s->n_names; i++) {
        if (strcmp(s->names[i], name) == 0)
            return (int)i;
    }
    return -1;
}

static int add_name(struct ana_spend *s, const char *name, char *err, size_t errlen)
{
    if (name_index(s, name) >= 0)
        return 0;
    if (s->n_names == ANA_SPEND_MAX_LABELS) {
        snprintf(err, errlen, "too many labels to group spend by (at most %d)",
                 ANA_SPEND_MAX_LABELS);
        return -1;
    }
    s->names[s->n_names++] = name;
    return 0;
}

const char *ana_spend_get(const struct ana_spend *s, const struct ana_spend_row *r,
                          const char *name)
{
    if (strcmp(name, "business_unit") == 0) {
        int p = name_index(s, "project"), k = name_index(s, "api_key_id");
        if (!s->cfg)
            return "Unassigned";
        return ana_business_unit(s->cfg, p >= 0 ? r->val[p] : NULL, k >= 0 ? r->val[k] : NULL);
    }
    int i = name_index(s, name);
    return i >= 0 ? r->val[i] : NULL;
}

/* Appends the key fragment of one optional value: presence flag, bytes, separator. */
static int key_put(char *key, size_t cap, size_t *o, const char *v)
{
    int w = snprintf(key + *o, cap - *o, "%c%s\x1f", v ? '1' : '0', v ? v : "");
    if (w < 0 || (size_t)w >= cap - *o)
        return -1;
    *o += (size_t)w;
    return 0;
}

/* The value of name among a ts group's labels, or NULL. */
static const char *group_label(const struct ts_agg_group *g, const char *name)
{
    for (size_t i = 0; i < g->n_labels; i++) {
        if (strcmp(g->labels[i].name, name) == 0)
            return g->labels[i].value;
    }
    return NULL;
}

/* Factor table: per (provider, account, project) key and closed day. */
struct factors {
    struct strmap map;
    char **keys;
    size_t n_keys, cap_keys;
    int64_t d0;    /* first closed day covered */
    size_t n_days; /* 0 = no closed day in range */
    double *est, *billed;
    unsigned char *has_billed;
    size_t cap_cells;
    int any_billed_only;
};

static void factors_free(struct factors *f)
{
    strmap_free(&f->map);
    for (size_t i = 0; i < f->n_keys; i++)
        free(f->keys[i]);
    free(f->keys);
    free(f->est);
    free(f->billed);
    free(f->has_billed);
}

/* The key of one (provider, account, project) into key; its length, or -1 when too long. */
static long factor_keystr(const char *p, const char *a, const char *proj, char *key, size_t cap)
{
    size_t o = 0;
    if (key_put(key, cap, &o, p) || key_put(key, cap, &o, a) || key_put(key, cap, &o, proj))
        return -1;
    return (long)o;
}

/* The index of the (provider, account, project) key, or -1 when absent. */
static long factor_find(const struct factors *f, const char *p, const char *a, const char *proj)
{
    char key[1024];
    long o = factor_keystr(p, a, proj, key, sizeof key);
    size_t idx;
    if (o < 0 || strmap_get(&f->map, key, (size_t)o, &idx) != 0)
        return -1;
    return (long)idx;
}

/* The index of the key, created (with zeroed cells) when new. -1 when out of memory. */
static long factor_add(struct factors *f, const char *p, const char *a, const char *proj)
{
    char key[1024];
    long o = factor_keystr(p, a, proj, key, sizeof key);
    if (o < 0)
        return -2; /* labels too long: not a real series; ignored */
    size_t idx;
    if (strmap_get(&f->map, key, (size_t)o, &idx) == 0)
        return (long)idx;
    if (arr_reserve((void **)&f->keys, &f->cap_keys, f->n_keys + 1, sizeof *f->keys) != 0)
        return -1;
    size_t need = (f->n_keys + 1) * f->n_days;
    if (need > f->cap_cells) {
        size_t nc = f->cap_cells ? f->cap_cells : 64;
        while (nc < need)
            nc *= 2;
        double *e = realloc(f->est, nc * sizeof *e);
        if (!e)
            return -1;
        f->est = e;
        double *b = realloc(f->billed, nc * sizeof *b);
        if (!b)
            return -1;
        f->billed = b;
        unsigned char *h = realloc(f->has_billed, nc);
        if (!h)
            return -1;
        f->has_billed = h;
        f->cap_cells = nc;
    }
    size_t base = f->n_keys * f->n_days;
    for (size_t d = 0; d < f->n_days; d++) {
        f->est[base + d] = 0;
        f->billed[base + d] = 0;
        f->has_billed[base + d] = 0;
    }
    char *k = malloc((size_t)o + 1);
    if (!k)
        return -1;
    memcpy(k, key, (size_t)o + 1);
    if (strmap_put(&f->map, k, (size_t)o, f->n_keys) != 0) {
        free(k);
        return -1;
    }
    f->keys[f->n_keys] = k;
    return (long)f->n_keys++;
}

/* Cell of key k on day t, or -1 when the day is outside the closed range. */
static long factor_cell(const struct factors *f, long k, int64_t t)
{
    if (k < 0 || f->n_days == 0)
        return -1;
    int64_t d = tu_floor(t, TU_DAY);
    if (d < f->d0 || d >= f->d0 + (int64_t)f->n_days * TU_DAY)
        return -1;
    return (long)((size_t)k * f->n_days + (size_t)((d - f->d0) / TU_DAY));
}

/* Filters of q that apply to the factor queries (provider, account, project only). */
static size_t factor_match(const struct ana_spend_query *q, struct ts_label *m)
{
    size_t n = 0;
    for (size_t i = 0; i < q->n_match && n < FACTOR_NAMES; i++) {
        for (size_t j = 0; j < FACTOR_NAMES; j++) {
            if (strcmp(q->match[i].name, FACTOR_BY[j]) == 0)
                m[n++] = q->match[i];
        }
    }
    return n;
}

/* The closed days the spans touch, with their cells sized; 0 ok (maybe no day), -1 OOM. */
static int factors_init(const struct ana_spend_query *q, struct factors *f, char *err,
                        size_t errlen)
{
    int64_t d0 = tu_floor(q->spans[0].from, TU_DAY);
    int64_t d1 = tu_floor(q->spans[q->n_spans - 1].to - 1, TU_DAY) + TU_DAY;
    int64_t today = tu_floor(q->now, TU_DAY);
    if (d1 > today)
        d1 = today;
    if (d1 <= d0)
        return 0;
    f->d0 = d0;
    f->n_days = (size_t)((d1 - d0) / TU_DAY);
    f->cap_cells = f->n_days * 16;
    f->est = calloc(f->cap_cells, sizeof *f->est);
    f->billed = calloc(f->cap_cells, sizeof *f->billed);
    f->has_billed = calloc(f->cap_cells, 1);
    if (!f->est || !f->billed || !f->has_billed) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/*
 * Adds the daily points of r to the factor cells: billed (creating keys)
 * or estimated (existing keys only, and only on days where use[day] is set
 * or use is NULL).
 */
static int factors_add(struct factors *f, const struct ts_agg_result *r, int billed,
                       const unsigned char *use)
{
    for (size_t g = 0; g < r->n_groups; g++) {
        const struct ts_agg_group *gr = &r->groups[g];
        const char *p = group_label(gr, "provider"), *a = group_label(gr, "account"),
                   *proj = group_label(gr, "project");
        if (gr->n_points == 0)
            continue;
        long k = billed ? factor_add(f, p, a, proj) : factor_find(f, p, a, proj);
        if (k == -1 && billed)
            return -1;
        for (size_t i = 0; k >= 0 && i < gr->n_points; i++) {
            long c = factor_cell(f, k, gr->times[i]);
            if (c < 0)
                continue;
            if (billed) {
                f->billed[c] += gr->values[i];
                f->has_billed[c] = 1;
            } else if (!use || use[(tu_floor(gr->times[i], TU_DAY) - f->d0) / TU_DAY]) {
                f->est[c] += gr->values[i];
            }
        }
    }
    return 0;
}

/* A daily rollup read of metric per (provider, account, project) over [from, to). */
static int factor_query(struct ts_store *st, const struct ana_spend_query *q, const char *metric,
                        int64_t from, int64_t to, struct ts_agg_result *r, char *err, size_t errlen)
{
    struct ts_label m[FACTOR_NAMES];
    size_t nm = factor_match(q, m);
    struct ts_agg_query aq = {.metric = metric,
                              .match = m,
                              .n_match = nm,
                              .group_by = FACTOR_BY,
                              .n_group_by = FACTOR_NAMES,
                              .from = from,
                              .to = to,
                              .step = TU_DAY};
    return ana_aggregate(st, &aq, r, err, errlen) == 0 ? 0 : -1;
}

/* Billed cost per (provider, account, project) and closed day. */
static int read_billed(struct ts_store *st, const struct ana_spend_query *q, struct factors *f,
                       char *err, size_t errlen)
{
    if (f->n_days == 0)
        return 0;
    struct ts_agg_result r;
    if (factor_query(st, q, "cost_usd", f->d0, f->d0 + (int64_t)f->n_days * TU_DAY, &r, err,
                     errlen) != 0)
        return -1;
    int rc = factors_add(f, &r, 1, NULL);
    ts_agg_free(&r);
    if (rc != 0)
        snprintf(err, errlen, "out of memory");
    return rc;
}

/*
 * The estimate of each billed (key, day). Days whose every hour is among
 * the columns read take it from the span reads when the query's filters
 * select whole keys (so the reads hold every estimate of the key); the
 * others come from one daily rollup read.
 */
static int est_factors(struct ts_store *st, const struct ana_spend_query *q,
                       const struct ana_spend *s, struct factors *f,
                       const struct ts_agg_result *spans, int key_level, char *err, size_t errlen)
{
    int rc = -1;
    unsigned char *covered = calloc(f->n_days, 1), *rest = calloc(f->n_days, 1);
    unsigned short *hours = calloc(f->n_days, sizeof *hours);
    if (!covered || !rest || !hours) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t c = 0; key_level && c < s->n_cols; c++) {
        int64_t d = tu_floor(s->t[c], TU_DAY);
        if (d < f->d0 || d >= f->d0 + (int64_t)f->n_days * TU_DAY)
            continue;
        size_t di = (size_t)((d - f->d0) / TU_DAY);
        hours[di] = (unsigned short)(hours[di] + s->w[c] / TU_HOUR);
        covered[di] = hours[di] >= 24;
    }
    for (size_t sp = 0; sp < q->n_spans; sp++)
        (void)factors_add(f, &spans[sp], 0, covered);
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t d = 0; d < f->n_days; d++) {
        int billed = 0;
        for (size_t k = 0; k < f->n_keys && !billed; k++)
            billed = f->has_billed[k * f->n_days + d];
        rest[d] = billed && !covered[d];
        if (rest[d]) {
            int64_t day = f->d0 + (int64_t)d * TU_DAY;
            lo = day < lo ? day : lo;
            hi = day + TU_DAY > hi ? day + TU_DAY : hi;
        }
    }
    if (lo < hi) {
        struct ts_agg_result r;
        if (factor_query(st, q, "est_cost_usd", lo, hi, &r, err, errlen) != 0)
            goto out;
        (void)factors_add(f, &r, 0, rest);
        ts_agg_free(&r);
    }
    for (size_t c = 0; c < f->n_keys * f->n_days; c++) {
        if (f->has_billed[c] && f->billed[c] > 0 && !(f->est[c] > 0))
            f->any_billed_only = 1;
    }
    rc = 0;
out:
    free(covered);
    free(rest);
    free(hours);
    return rc;
}

/* Row building. */
struct builder {
    struct ana_spend *s;
    const struct ana_spend_query *q;
    struct strmap map;
    int bu_filter; /* index into q->match of a business_unit filter, or -1 */
};

/* The row for a ts group's labels; NULL with *skip when the rule or filters exclude it. */
static struct ana_spend_row *row_for(struct builder *b, const struct ts_agg_group *g, int *skip,
                                     char *err, size_t errlen)
{
    struct ana_spend *s = b->s;
    const char *val[ANA_SPEND_MAX_LABELS] = {0};
    char key[2048];
    size_t o = 0;
    *skip = 0;
    for (size_t i = 0; i < s->n_names; i++) {
        val[i] = group_label(g, s->names[i]);
        if (key_put(key, sizeof key, &o, val[i]) != 0) {
            *skip = 1; /* labels too long to key: cannot be a real series */
            return NULL;
        }
    }
    if (b->q->rule && !ana_provider_ok(b->q->rule, val[0], val[1])) {
        *skip = 1;
        return NULL;
    }
    size_t idx;
    if (strmap_get(&b->map, key, o, &idx) == 0)
        return &s->rows[idx];
    struct ana_spend_row tmp = {.first = INT64_MAX};
    memcpy(tmp.val, val, sizeof val);
    if (b->bu_filter >= 0) {
        const char *bu = ana_spend_get(s, &tmp, "business_unit");
        if (strcmp(bu, b->q->match[b->bu_filter].value) != 0) {
            *skip = 1;
            return NULL;
        }
    }
    if (arr_reserve((void **)&s->rows, &s->cap_rows, s->n_rows + 1, sizeof *s->rows) != 0)
        goto oom;
    tmp.v = calloc(s->n_cols ? s->n_cols : 1, sizeof *tmp.v);
    tmp.key = malloc(o + 1);
    if (!tmp.v || !tmp.key) {
        free(tmp.v);
        free(tmp.key);
        goto oom;
    }
    memcpy(tmp.key, key, o + 1);
    if (strmap_put(&b->map, tmp.key, o, s->n_rows) != 0) {
        free(tmp.v);
        free(tmp.key);
        goto oom;
    }
    s->rows[s->n_rows] = tmp;
    return &s->rows[s->n_rows++];
oom:
    snprintf(err, errlen, "out of memory");
    return NULL;
}

/* Adds amount to column c of row r. */
static void row_add(const struct ana_spend *s, struct ana_spend_row *r, size_t c, double amount)
{
    r->v[c] += amount;
    if (s->t[c] < r->first)
        r->first = s->t[c];
}

static int check_spans(const struct ana_spend_query *q, size_t *n_cols, char *err, size_t errlen)
{
    size_t n = 0;
    if (q->n_spans == 0) {
        snprintf(err, errlen, "spend read without a time range");
        return -1;
    }
    for (size_t i = 0; i < q->n_spans; i++) {
        const struct ana_spend_span *p = &q->spans[i];
        if ((p->step != TU_HOUR && p->step != TU_DAY) || p->from % p->step || p->to % p->step ||
            p->to <= p->from || (i > 0 && p->from < q->spans[i - 1].to)) {
            snprintf(err, errlen, "bad spend range [%lld, %lld) step %lld", (long long)p->from,
                     (long long)p->to, (long long)p->step);
            return -1;
        }
        n += (size_t)((p->to - p->from) / p->step);
        if (n > MAX_COLS) {
            snprintf(err, errlen, "spend range too long (more than %d buckets)", MAX_COLS);
            return -1;
        }
    }
    *n_cols = n;
    return 0;
}

/* Turns the span reads into rows, scaling estimates where a billed factor applies. */
static int build_rows(struct builder *b, const struct factors *f, const struct ts_agg_result *res,
                      char *err, size_t errlen)
{
    struct ana_spend *s = b->s;
    const struct ana_spend_query *q = b->q;
    size_t col0 = 0;
    for (size_t sp = 0; sp < q->n_spans; sp++) {
        const struct ana_spend_span *p = &q->spans[sp];
        for (size_t g = 0; g < res[sp].n_groups; g++) {
            const struct ts_agg_group *gr = &res[sp].groups[g];
            if (gr->n_points == 0)
                continue;
            int skip;
            struct ana_spend_row *row = row_for(b, gr, &skip, err, errlen);
            if (!row && skip)
                continue;
            if (!row)
                return -1;
            long k = factor_find(f, row->val[0], row->val[1], row->val[2]);
            for (size_t i = 0; i < gr->n_points; i++) {
                double v = gr->values[i];
                long c = factor_cell(f, k, gr->times[i]);
                if (c >= 0 && f->has_billed[c] && f->est[c] > 0)
                    v *= f->billed[c] / f->est[c];
                row_add(s, row, col0 + (size_t)((gr->times[i] - p->from) / p->step), v);
            }
        }
        col0 += (size_t)((p->to - p->from) / p->step);
    }
    return 0;
}

/* Spreads one billed-only day over the columns of the spans that fall in it. */
static void spread_day(const struct ana_spend *s, struct ana_spend_row *row, int64_t day,
                       double amount)
{
    size_t lo = 0, hi = s->n_cols;
    while (lo < hi) { /* first column starting at or after day */
        size_t mid = lo + (hi - lo) / 2;
        if (s->t[mid] < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t c = lo; c < s->n_cols && s->t[c] < day + TU_DAY; c++)
        row_add(s, row, c, amount * (double)s->w[c] / TU_DAY);
}

/* Adds billed cost for project-days that have billed cost and no estimate. */
static int read_billed_only(struct ts_store *st, struct builder *b, const struct factors *f,
                            const struct ts_label *match, size_t n_match, char *err, size_t errlen)
{
    struct ana_spend *s = b->s;
    struct ts_agg_query aq = {.metric = "cost_usd",
                              .match = match,
                              .n_match = n_match,
                              .group_by = s->names,
                              .n_group_by = s->n_names,
                              .from = f->d0,
                              .to = f->d0 + (int64_t)f->n_days * TU_DAY,
                              .step = TU_DAY};
    struct ts_agg_result r;
    if (ana_aggregate(st, &aq, &r, err, errlen) != 0)
        return -1;
    int rc = 0;
    for (size_t g = 0; g < r.n_groups && rc == 0; g++) {
        const struct ts_agg_group *gr = &r.groups[g];
        long k = factor_find(f, group_label(gr, "provider"), group_label(gr, "account"),
                             group_label(gr, "project"));
        struct ana_spend_row *row = NULL;
        for (size_t i = 0; i < gr->n_points; i++) {
            long c = factor_cell(f, k, gr->times[i]);
            if (c < 0 || !f->has_billed[c] || !(f->billed[c] > 0) || f->est[c] > 0)
                continue;
            if (!row) {
                int skip;
                row = row_for(b, gr, &skip, err, errlen);
                if (!row) {
                    rc = skip ? 0 : -1;
                    break;
                }
            }
            spread_day(s, row, gr->times[i], gr->values[i]);
        }
    }
    ts_agg_free(&r);
    return rc;
}

int ana_spend_read(struct ts_store *st, const struct ana_spend_query *q, struct ana_spend *out,
                   char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->cfg = q->cfg;
    struct builder b = {.s = out, .q = q, .bu_filter = -1};
    struct factors f = {0};
    struct ts_label *match = NULL;
    struct ts_agg_result *res = NULL;
    size_t n_match = 0, n_res = 0;
    int rc = -1, key_level = 1;
    size_t n_cols;
    if (check_spans(q, &n_cols, err, errlen) != 0)
        goto out;
    for (size_t i = 0; i < FACTOR_NAMES; i++)
        out->names[out->n_names++] = FACTOR_BY[i];
    for (size_t i = 0; i < q->n_labels; i++) {
        int bu = strcmp(q->labels[i], "business_unit") == 0;
        if (add_name(out, bu ? "api_key_id" : q->labels[i], err, errlen) != 0)
            goto out;
    }
    match = malloc((q->n_match ? q->n_match : 1) * sizeof *match);
    res = calloc(q->n_spans, sizeof *res);
    if (!match || !res) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < q->n_match; i++) {
        key_level = key_level && (strcmp(q->match[i].name, FACTOR_BY[0]) == 0 ||
                                  strcmp(q->match[i].name, FACTOR_BY[1]) == 0 ||
                                  strcmp(q->match[i].name, FACTOR_BY[2]) == 0);
        if (strcmp(q->match[i].name, "business_unit") == 0) {
            if (b.bu_filter >= 0 && strcmp(q->match[b.bu_filter].value, q->match[i].value) != 0) {
                rc = 0; /* two different units: nothing can match */
                goto out;
            }
            b.bu_filter = (int)i;
            if (add_name(out, "api_key_id", err, errlen) != 0)
                goto out;
        } else {
            match[n_match++] = q->match[i];
        }
    }
    out->t = malloc((n_cols ? n_cols : 1) * sizeof *out->t);
    out->w = malloc((n_cols ? n_cols : 1) * sizeof *out->w);
    if (!out->t || !out->w) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t sp = 0; sp < q->n_spans; sp++) {
        for (int64_t t = q->spans[sp].from; t < q->spans[sp].to; t += q->spans[sp].step) {
            out->t[out->n_cols] = t;
            out->w[out->n_cols++] = q->spans[sp].step;
        }
    }
    if (factors_init(q, &f, err, errlen) != 0 || read_billed(st, q, &f, err, errlen) != 0)
        goto out;
    for (; n_res < q->n_spans; n_res++) {
        const struct ana_spend_span *p = &q->spans[n_res];
        struct ts_agg_query aq = {.metric = "est_cost_usd",
                                  .match = match,
                                  .n_match = n_match,
                                  .group_by = out->names,
                                  .n_group_by = out->n_names,
                                  .from = p->from,
                                  .to = p->to,
                                  .step = p->step};
        if (ana_aggregate(st, &aq, &res[n_res], err, errlen) != 0)
            goto out;
    }
    if (f.n_keys && est_factors(st, q, out, &f, res, key_level, err, errlen) != 0)
        goto out;
    if (build_rows(&b, &f, res, err, errlen) != 0)
        goto out;
    if (f.any_billed_only && read_billed_only(st, &b, &f, match, n_match, err, errlen) != 0)
        goto out;
    for (size_t c = 0; c < f.n_keys * f.n_days; c++)
        out->billed_days += f.has_billed[c];
    rc = 0;
out:
    for (size_t i = 0; i < n_res; i++)
        ts_agg_free(&res[i]);
    free(res);
    free(match);
    factors_free(&f);
    strmap_free(&b.map);
    if (rc != 0)
        ana_spend_free(out);
    return rc;
}

void ana_spend_free(struct ana_spend *s)
{
    for (size_t i = 0; i < s->n_rows; i++) {
        free(s->rows[i].v);
        free(s->rows[i].key);
    }
    free(s->rows);
    free(s->t);
    free(s->w);
    memset(s, 0, sizeof *s);
}

size_t ana_spend_spans(int64_t from, int64_t to, struct ana_spend_span *out)
{
    int64_t d0 = tu_floor(from, TU_DAY), d1 = tu_floor(to, TU_DAY), mid = d0;
    size_t n = 0;
    if (to <= from)
        return 0;
    if (d1 <= d0) {
        out[n++] = (struct ana_spend_span){d0, to, TU_HOUR};
        return n;
    }
    if (from > d0) {
        out[n++] = (struct ana_spend_span){d0, d0 + TU_DAY, TU_HOUR};
        mid = d0 + TU_DAY;
    }
    if (d1 > mid)
        out[n++] = (struct ana_spend_span){mid, d1, TU_DAY};
    if (to > d1 && n && out[n - 1].step == TU_HOUR)
        out[n - 1].to = to; /* one read for two adjacent hourly spans */
    else if (to > d1)
        out[n++] = (struct ana_spend_span){d1, to, TU_HOUR};
    return n;
}

void ana_spend_cols(const struct ana_spend *s, int64_t from, int64_t to, size_t *c0, size_t *c1)
{
    size_t lo = 0, hi = s->n_cols;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->t[mid] < from)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t c = lo;
    while (c < s->n_cols && s->t[c] + s->w[c] <= to)
        c++;
    *c0 = lo;
    *c1 = c;
}

double ana_spend_sum(const struct ana_spend *s, const double *v, int64_t from, int64_t to)
{
    size_t c0, c1;
    ana_spend_cols(s, from, to, &c0, &c1);
    double sum = 0;
    for (size_t c = c0; c < c1; c++)
        sum += v[c];
    return sum;
}

/* ---- groups ---- */

static int by_skipped(const char *name)
{
    return strcmp(name, "provider") == 0 || strcmp(name, "account") == 0;
}

int ana_spend_fold(const struct ana_spend *s, const char *const *by, size_t n_by,
                   struct ana_spend_groups *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct strmap map = {0};
    char **keys = NULL;
    int rc = -1;
    size_t nr = s->n_rows ? s->n_rows : 1;
    out->of_row = malloc(nr * sizeof *out->of_row);
    out->g = malloc(nr * sizeof *out->g);
    out->buf = calloc(nr * (s->n_cols ? s->n_cols : 1), sizeof *out->buf);
    keys = calloc(nr, sizeof *keys);
    if (!out->of_row || !out->g || !out->buf || !keys)
        goto oom;
    for (size_t i = 0; i < nr; i++)
        out->g[i] = (struct ana_spend_group){.v = out->buf + i * s->n_cols, .first = INT64_MAX};
    for (size_t r = 0; r < s->n_rows; r++) {
        const struct ana_spend_row *row = &s->rows[r];
        char key[2048];
        size_t o = 0;
        int bad =
            key_put(key, sizeof key, &o, row->val[0]) || key_put(key, sizeof key, &o, row->val[1]);
        for (size_t i = 0; i < n_by && !bad; i++) {
            if (!by_skipped(by[i]))
                bad = key_put(key, sizeof key, &o, ana_spend_get(s, row, by[i]));
        }
        if (bad) {
            snprintf(err, errlen, "group labels too long");
            goto out;
        }
        size_t gi;
        if (strmap_get(&map, key, o, &gi) != 0) {
            gi = out->n;
            keys[gi] = malloc(o + 1);
            if (!keys[gi])
                goto oom;
            memcpy(keys[gi], key, o + 1);
            if (strmap_put(&map, keys[gi], o, gi) != 0)
                goto oom;
            out->g[gi].row = r;
            out->n++;
        }
        out->of_row[r] = gi;
        struct ana_spend_group *g = &out->g[gi];
        for (size_t c = 0; c < s->n_cols; c++)
            g->v[c] += row->v[c];
        if (row->first < g->first)
            g->first = row->first;
    }
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    for (size_t i = 0; keys && i < out->n; i++)
        free(keys[i]);
    free(keys);
    strmap_free(&map);
    if (rc != 0)
        ana_spend_groups_free(out);
    return rc;
}

void ana_spend_groups_free(struct ana_spend_groups *g)
{
    free(g->g);
    free(g->of_row);
    free(g->buf);
    memset(g, 0, sizeof *g);
}

int ana_spend_label_group(const struct ana_spend *s, const struct ana_spend_row *row,
                          const char *const *by, size_t n_by, struct ana_candidate *c)
{
    if (ana_label(c, "provider", row->val[0] ? row->val[0] : "") != 0 ||
        ana_label(c, "account", row->val[1] ? row->val[1] : "") != 0)
        return -1;
    for (size_t i = 0; i < n_by; i++) {
        const char *v = ana_spend_get(s, row, by[i]);
        if (!by_skipped(by[i]) && v && ana_label(c, by[i], v) != 0)
            return -1;
    }
    return 0;
}

int ana_spend_group_by(const json_t *params, const char **by, size_t cap, size_t *n, char *err,
                       size_t errlen)
{
    const json_t *arr = json_object_get(params, "group_by");
    *n = 0;
    if (!json_is_array(arr)) {
        by[(*n)++] = "provider";
        return 0;
    }
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *name = json_string_value(v);
        if (!name)
            continue;
        if (*n == cap) {
            snprintf(err, errlen, "group_by: at most %zu labels", cap);
            return -1;
        }
        by[(*n)++] = name;
    }
    return 0;
}

void ana_spend_describe(const struct ana_spend *s, const struct ana_spend_row *row,
                        const char *const *by, size_t n_by, char *buf, size_t len)
{
    if (!len)
        return;
    int n = snprintf(buf, len, "%s", row->val[0] ? row->val[0] : "?");
    size_t o = n < 0 ? 0 : (size_t)n;
    for (size_t i = 0; i < n_by && o < len; i++) {
        const char *v = ana_spend_get(s, row, by[i]);
        if (strcmp(by[i], "provider") == 0 || !v)
            continue;
        n = snprintf(buf + o, len - o, " %s %s", by[i], v);
        if (n < 0)
            break;
        o += (size_t)n;
    }
}
