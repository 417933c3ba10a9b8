/*
 * The cost_drift rule: per provider account, the most recent closed UTC day
 * (within the last 7) that the provider has billed (cost_usd) against our
 * estimate for it (est_cost_usd). A drift over max_drift_pct of the billed
 * figure means the price table or the usage data is off. The alert's value
 * is the drift in percent (unit "pct", like its threshold); ratio is
 * estimated/billed, impact_usd estimated - billed, details carry both
 * figures. Two daily rollup reads per evaluation.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/timeutil.h"
#include "spend.h"

#define LOOKBACK_DAYS 7

struct drift {
    double max_pct, min_usd;
};

static int drift_init(const struct cfg_rule *rule, const struct config *cfg, void **ctx, char *err,
                      size_t errlen)
{
    (void)cfg;
    struct drift *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const json_t *m = json_object_get(rule->params, "max_drift_pct");
    const json_t *s = json_object_get(rule->params, "min_spend_usd");
    d->max_pct = json_is_number(m) ? json_number_value(m) : 10;
    d->min_usd = json_is_number(s) ? json_number_value(s) : 1;
    *ctx = d;
    return 0;
}

static void drift_destroy(void *ctx)
{
    free(ctx);
}

static const char *glabel(const struct ts_agg_group *g, const char *name)
{
    for (size_t i = 0; i < g->n_labels; i++) {
        if (strcmp(g->labels[i].name, name) == 0)
            return g->labels[i].value;
    }
    return NULL;
}

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The estimate of provider/account p/a on day, 0 when none. */
static double est_on(const struct ts_agg_result *est, const char *p, const char *a, int64_t day)
{
    for (size_t g = 0; g < est->n_groups; g++) {
        const struct ts_agg_group *gr = &est->groups[g];
        if (!same(glabel(gr, "provider"), p) || !same(glabel(gr, "account"), a))
            continue;
        for (size_t i = 0; i < gr->n_points; i++) {
            if (gr->times[i] == day)
                return gr->values[i];
        }
    }
    return 0;
}

static int emit(const struct drift *d, const char *p, const char *a, int64_t day, double billed,
                double est, double pct, struct ana_results *out, char *err, size_t errlen)
{
    struct ana_candidate *c;
    if (ana_emit(out, &c) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (ana_label(c, "provider", p ? p : "") != 0 || ana_label(c, "account", a ? a : "") != 0) {
        snprintf(err, errlen, "too many labels");
        return -1;
    }
    c->value = pct;
    c->threshold = d->max_pct;
    c->ratio = billed > 0 ? est / billed : NAN;
    c->impact_usd = est - billed;
    snprintf(c->unit, sizeof c->unit, "pct");
    snprintf(c->window, sizeof c->window, "1d");
    c->starts_at = day;
    char date[32], b[32], e[32];
    tu_format_time(day, date, sizeof date);
    date[10] = '\0';
    ana_spend_fmt_usd(billed, b, sizeof b);
    ana_spend_fmt_usd(est, e, sizeof e);
    if (isnan(pct))
        ana_summary(c, "%s %s: estimated %s but billed %s on %s", p ? p : "?", a ? a : "?", e, b,
                    date);
    else
        ana_summary(c, "%s %s: estimated %s vs billed %s on %s, %.1f%% apart (limit %g%%)",
                    p ? p : "?", a ? a : "?", e, b, date, pct, d->max_pct);
    c->details =
        json_pack("{s:s, s:f, s:f}", "day", date, "billed_usd", billed, "estimated_usd", est);
    return 0;
}

static int drift_evaluate(void *ctx, const struct ana_ctx *c, struct ana_results *out, char *err,
                          size_t errlen)
{
    const struct drift *d = ctx;
    static const char *const by[] = {"provider", "account"};
    int64_t today = tu_floor(c->now, TU_DAY);
    struct ts_agg_query q = {.metric = "cost_usd",
                             .group_by = by,
                             .n_group_by = 2,
                             .from = today - (int64_t)LOOKBACK_DAYS * TU_DAY,
                             .to = today,
                             .step = TU_DAY};
    struct ts_agg_result billed, est = {0};
    if (ana_aggregate(c->st, &q, &billed, err, errlen) != 0)
        return -1;
    int rc = -1;
    q.metric = "est_cost_usd";
    if (billed.n_groups && ana_aggregate(c->st, &q, &est, err, errlen) != 0)
        goto out;
    for (size_t g = 0; g < billed.n_groups; g++) {
        const struct ts_agg_group *gr = &billed.groups[g];
        const char *p = glabel(gr, "provider"), *a = glabel(gr, "account");
        if (gr->n_points == 0 || !ana_provider_ok(c->rule, p, a))
            continue;
        int64_t day = gr->times[gr->n_points - 1]; /* the latest billed closed day */
        double b = gr->values[gr->n_points - 1], e = est_on(&est, p, a, day), pct;
        if (ana_drift_fires(b, e, d->max_pct, d->min_usd, &pct) &&
            emit(d, p, a, day, b, e, pct, out, err, errlen) != 0)
            goto out;
    }
    rc = 0;
out:
    ts_agg_free(&billed);
    ts_agg_free(&est);
    return rc;
}

const struct ana_rule_ops ana_cost_drift = {
    .type = "cost_drift",
    .init = drift_init,
    .evaluate = drift_evaluate,
    .destroy = drift_destroy,
};
