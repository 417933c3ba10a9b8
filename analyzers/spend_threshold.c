/*
 * The spend_threshold rule: absolute spend of each group (provider, account
 * and group_by) over a rolling window ending at the last full hour; fires
 * while it is at or above threshold_usd ("more than $1,000 a day").
 * Spend is billed cost where billed, estimated otherwise (spend.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/timeutil.h"
#include "spend.h"

#define MAX_BY 8

struct threshold {
    int64_t window;
    double limit;
    const char *by[MAX_BY];
    size_t n_by;
};

static int threshold_init(const struct cfg_rule *rule, const struct config *cfg, void **ctx,
                          char *err, size_t errlen)
{
    (void)cfg;
    const json_t *p = rule->params;
    struct threshold *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *w = json_string_value(json_object_get(p, "window"));
    const json_t *lim = json_object_get(p, "threshold_usd");
    if (tu_parse_duration(w ? w : "1d", &t->window) != 0) {
        snprintf(err, errlen, "window: bad duration");
        goto fail;
    }
    if (!json_is_number(lim) || !(json_number_value(lim) > 0)) {
        snprintf(err, errlen, "threshold_usd: a positive number is required");
        goto fail;
    }
    t->limit = json_number_value(lim);
    t->window = (t->window + TU_HOUR - 1) / TU_HOUR * TU_HOUR; /* hourly data */
    if (ana_spend_group_by(p, t->by, MAX_BY, &t->n_by, err, errlen) != 0)
        goto fail;
    *ctx = t;
    return 0;
fail:
    free(t);
    return -1;
}

static void threshold_destroy(void *ctx)
{
    free(ctx);
}

static int threshold_evaluate(void *ctx, const struct ana_ctx *c, struct ana_results *out,
                              char *err, size_t errlen)
{
    const struct threshold *t = ctx;
    int64_t end = tu_floor(c->now, TU_HOUR);
    struct ana_spend_span spans[3];
    int64_t from = end - t->window;
    size_t n_spans = ana_spend_spans(from, end, spans);
    struct ana_spend_query q = {.labels = t->by,
                                .n_labels = t->n_by,
                                .spans = spans,
                                .n_spans = n_spans,
                                .rule = c->rule,
                                .cfg = c->cfg,
                                .now = c->now};
    struct ana_spend sp;
    struct ana_spend_groups gs = {0};
    int rc = -1;
    if (ana_spend_read(c->st, &q, &sp, err, errlen) != 0)
        return -1;
    if (ana_spend_fold(&sp, t->by, t->n_by, &gs, err, errlen) != 0)
        goto out;
    for (size_t gi = 0; gi < gs.n; gi++) {
        const struct ana_spend_row *row = &sp.rows[gs.g[gi].row];
        double value = ana_spend_sum(&sp, gs.g[gi].v, from, end);
        if (!ana_spend_reached(value, t->limit))
            continue;
        struct ana_candidate *cand;
        if (ana_emit(out, &cand) != 0) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        if (ana_spend_label_group(&sp, row, t->by, t->n_by, cand) != 0) {
            snprintf(err, errlen, "too many labels");
            goto out;
        }
        cand->value = value;
        cand->threshold = t->limit;
        cand->ratio = value / t->limit;
        cand->impact_usd = value - t->limit;
        snprintf(cand->unit, sizeof cand->unit, "usd");
        ana_fmt_duration(t->window, cand->window, sizeof cand->window);
        cand->starts_at = from;
        char who[256], v[32], l[32];
        ana_spend_describe(&sp, row, t->by, t->n_by, who, sizeof who);
        ana_spend_fmt_usd(value, v, sizeof v);
        ana_spend_fmt_usd(t->limit, l, sizeof l);
        ana_summary(cand, "%s spent %s in the last %s, at or over the %s limit", who, v,
                    cand->window, l);
    }
    rc = 0;
out:
    ana_spend_groups_free(&gs);
    ana_spend_free(&sp);
    return rc;
}

const struct ana_rule_ops ana_spend_threshold = {
    .type = "spend_threshold",
    .init = threshold_init,
    .evaluate = threshold_evaluate,
    .destroy = threshold_destroy,
};
