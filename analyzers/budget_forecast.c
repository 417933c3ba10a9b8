/*
 * The budget_forecast rule: month-to-date spend of each configured budget's
 * scope (UTC calendar month) and its straight-line projection to the month's
 * end (none before a whole day has elapsed), each checked against the
 * budget's percentage marks. One alert per budget, basis ("actual" or
 * "forecast") and highest mark crossed (labels provider, account if
 * scoped, basis, budget, threshold_pct, then the scope's labels), so
 * crossing 100% after 80% is a new alert and the 80% one resolves.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/timeutil.h"
#include "spend.h"

#define MAX_SCOPE ANA_SPEND_MAX_LABELS
#define NAME_MAX_LEN 160

struct budget {
    struct ts_label scope[MAX_SCOPE]; /* sorted by name; pointers into the rule's params */
    size_t n_scope;
    double monthly;
    char base[NAME_MAX_LEN]; /* the scope rendered: "project=proj_eng", or "all" */
    char name[NAME_MAX_LEN]; /* base, plus "#n" for the n-th budget with the same scope */
};

struct forecast {
    struct budget *b;
    size_t n_b;
    double *pcts;
    size_t n_pcts;
    const char *read[ANA_SPEND_MAX_LABELS]; /* scope labels other than provider, account, project */
    size_t n_read;
};

static void forecast_destroy(void *ctx)
{
    struct forecast *f = ctx;
    if (!f)
        return;
    free(f->b);
    free(f->pcts);
    free(f);
}

static int label_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ts_label *)a)->name, ((const struct ts_label *)b)->name);
}

static int always_read(const char *name)
{
    return strcmp(name, "provider") == 0 || strcmp(name, "account") == 0 ||
           strcmp(name, "project") == 0;
}

/* Fills budget i from its config object; names it. */
static int budget_parse(struct forecast *f, size_t i, const json_t *obj, char *err, size_t errlen)
{
    struct budget *b = &f->b[i];
    const json_t *scope = json_object_get(obj, "scope");
    const json_t *m = json_object_get(obj, "monthly_usd");
    if (!json_is_number(m) || !(json_number_value(m) > 0)) {
        snprintf(err, errlen, "budgets[%zu].monthly_usd: a positive number is required", i);
        return -1;
    }
    b->monthly = json_number_value(m);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)scope, k, v)
    {
        if (!json_is_string(v) || b->n_scope == MAX_SCOPE) {
            snprintf(err, errlen, "budgets[%zu].scope: at most %d string labels", i, MAX_SCOPE);
            return -1;
        }
        b->scope[b->n_scope++] = (struct ts_label){k, json_string_value(v)};
        if (always_read(k))
            continue;
        size_t j = 0;
        while (j < f->n_read && strcmp(f->read[j], k) != 0)
            j++;
        if (j == f->n_read) {
            if (f->n_read == ANA_SPEND_MAX_LABELS - 3) {
                snprintf(err, errlen, "budgets: too many different scope labels");
                return -1;
            }
            f->read[f->n_read++] = k;
        }
    }
    qsort(b->scope, b->n_scope, sizeof *b->scope, label_cmp);
    size_t o = 0;
    for (size_t s = 0; s < b->n_scope && o < sizeof b->base; s++) {
        int w = snprintf(b->base + o, sizeof b->base - o, "%s%s=%s", s ? "," : "", b->scope[s].name,
                         b->scope[s].value);
        if (w < 0)
            break;
        o += (size_t)w;
    }
    if (b->n_scope == 0)
        snprintf(b->base, sizeof b->base, "all");
    size_t same = 0;
    for (size_t j = 0; j < i; j++)
        same += strcmp(f->b[j].base, b->base) == 0;
    if (same)
        snprintf(b->name, sizeof b->name, "%.140s#%zu", b->base, same + 1);
    else
        snprintf(b->name, sizeof b->name, "%s", b->base);
    return 0;
}

static int forecast_init(const struct cfg_rule *rule, const struct config *cfg, void **ctx,
                         char *err, size_t errlen)
{
    (void)cfg;
    const json_t *p = rule->params;
    const json_t *budgets = json_object_get(p, "budgets");
    const json_t *pcts = json_object_get(p, "percentages");
    struct forecast *f = calloc(1, sizeof *f);
    if (!f)
        goto oom;
    if (!json_is_array(budgets) || json_array_size(budgets) == 0) {
        snprintf(err, errlen, "budgets: at least one budget is required");
        goto fail;
    }
    f->n_b = json_array_size(budgets);
    f->b = calloc(f->n_b, sizeof *f->b);
    f->n_pcts = json_is_array(pcts) && json_array_size(pcts) ? json_array_size(pcts) : 2;
    f->pcts = calloc(f->n_pcts, sizeof *f->pcts);
    if (!f->b || !f->pcts)
        goto oom;
    for (size_t i = 0; i < f->n_pcts; i++) {
        const json_t *v = json_is_array(pcts) ? json_array_get(pcts, i) : NULL;
        f->pcts[i] = json_is_number(v) ? json_number_value(v) : (i ? 100 : 80);
    }
    for (size_t i = 0; i < f->n_b; i++) {
        if (budget_parse(f, i, json_array_get(budgets, i), err, errlen) != 0)
            goto fail;
    }
    *ctx = f;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    forecast_destroy(f);
    return -1;
}

static int row_in_scope(const struct ana_spend *sp, const struct ana_spend_row *r,
                        const struct budget *b)
{
    for (size_t i = 0; i < b->n_scope; i++) {
        const char *v = ana_spend_get(sp, r, b->scope[i].name);
        if (!v || strcmp(v, b->scope[i].value) != 0)
            return 0;
    }
    return 1;
}

static const char *scope_get(const struct budget *b, const char *name)
{
    for (size_t i = 0; i < b->n_scope; i++) {
        if (strcmp(b->scope[i].name, name) == 0)
            return b->scope[i].value;
    }
    return NULL;
}

static int emit_basis(const struct budget *b, const char *basis, double value, double pct,
                      double actual, double projected, int64_t month, struct ana_results *out,
                      char *err, size_t errlen)
{
    struct ana_candidate *c;
    if (ana_emit(out, &c) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *prov = scope_get(b, "provider"), *acct = scope_get(b, "account");
    char pl[32];
    snprintf(pl, sizeof pl, "%g", pct);
    if (ana_label(c, "provider", prov ? prov : "all") != 0 ||
        (acct && ana_label(c, "account", acct) != 0) || ana_label(c, "basis", basis) != 0 ||
        ana_label(c, "budget", b->name) != 0 || ana_label(c, "threshold_pct", pl) != 0) {
        snprintf(err, errlen, "too many labels");
        return -1;
    }
    /* the budget label already identifies the scope: labels past the limit are left out */
    for (size_t i = 0; i < b->n_scope && c->n_labels < ANA_MAX_LABELS; i++)
        (void)ana_label(c, b->scope[i].name, b->scope[i].value);
    c->value = value;
    c->baseline = b->monthly;
    c->ratio = value / b->monthly;
    c->threshold = pct * b->monthly / 100.0;
    c->impact_usd = value - b->monthly;
    snprintf(c->unit, sizeof c->unit, "usd");
    c->starts_at = month;
    char v[32], m[32], a[32];
    ana_spend_fmt_usd(value, v, sizeof v);
    ana_spend_fmt_usd(b->monthly, m, sizeof m);
    ana_spend_fmt_usd(actual, a, sizeof a);
    if (strcmp(basis, "actual") == 0)
        ana_summary(c,
                    "Budget %s: %s spent this month, %.0f%% of the %s monthly budget (%g%% mark)",
                    b->name, v, c->ratio * 100.0, m, pct);
    else
        ana_summary(c,
                    "Budget %s: on track to spend %s this month, %.0f%% of the %s monthly budget "
                    "(%g%% mark; %s spent so far)",
                    b->name, v, c->ratio * 100.0, m, pct, a);
    c->details = json_pack("{s:f, s:f, s:f}", "monthly_usd", b->monthly, "actual_usd", actual,
                           "forecast_usd", isnan(projected) ? 0.0 : projected);
    if (c->details && isnan(projected))
        json_object_del(c->details, "forecast_usd");
    return 0;
}

static int forecast_evaluate(void *ctx, const struct ana_ctx *c, struct ana_results *out, char *err,
                             size_t errlen)
{
    const struct forecast *f = ctx;
    int64_t month = ana_month_start(c->now), end = tu_floor(c->now, TU_HOUR);
    struct ana_spend_span spans[3];
    size_t n_spans = ana_spend_spans(month, end, spans);
    if (n_spans == 0)
        return 0; /* the month's first hour: nothing spent yet */
    struct ana_spend_query q = {.labels = f->read,
                                .n_labels = f->n_read,
                                .spans = spans,
                                .n_spans = n_spans,
                                .rule = c->rule,
                                .cfg = c->cfg,
                                .now = c->now};
    struct ana_spend sp;
    if (ana_spend_read(c->st, &q, &sp, err, errlen) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < f->n_b && rc == 0; i++) {
        const struct budget *b = &f->b[i];
        double actual = 0;
        for (size_t r = 0; r < sp.n_rows; r++) {
            if (row_in_scope(&sp, &sp.rows[r], b))
                actual += ana_spend_sum(&sp, sp.rows[r].v, month, end);
        }
        double projected = ana_budget_projection(actual, end);
        double pa = ana_budget_crossed(actual, b->monthly, f->pcts, f->n_pcts);
        double pf = ana_budget_crossed(projected, b->monthly, f->pcts, f->n_pcts);
        if (!isnan(pa))
            rc = emit_basis(b, "actual", actual, pa, actual, projected, month, out, err, errlen);
        if (rc == 0 && !isnan(pf))
            rc = emit_basis(b, "forecast", projected, pf, actual, projected, month, out, err,
                            errlen);
    }
    ana_spend_free(&sp);
    return rc;
}

const struct ana_rule_ops ana_budget_forecast = {
    .type = "budget_forecast",
    .init = forecast_init,
    .evaluate = forecast_evaluate,
    .destroy = forecast_destroy,
};
