/*
 * The rate_limited rule: providers answering 429. Sums the hourly metric
 * http_errors{status="429"} over the hourly buckets that overlap
 * [now - window, now) per group_by (plus "provider", always) and fires a
 * group whose sum reaches the threshold. Stateless; the data comes from key
 * proxies and pollers that count HTTP errors (none write it yet).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/timeutil.h"
#include "engine.h"

#define RL_METRIC "http_errors"
#define RL_STATUS "429"
#define RL_MAX_GROUP_BY (ANA_MAX_LABELS - 1)

struct rl_rule {
    int64_t window;
    double threshold;
    const char *group_by[RL_MAX_GROUP_BY + 2]; /* borrowed from the rule's params */
    size_t n_group_by;                         /* the alert's labels: provider + group_by */
};

static int has_name(const struct rl_rule *r, const char *name)
{
    for (size_t i = 0; i < r->n_group_by; i++) {
        if (strcmp(r->group_by[i], name) == 0)
            return 1;
    }
    return 0;
}

static int rl_init(const struct cfg_rule *rule, const struct config *cfg, void **ctx, char *err,
                   size_t errlen)
{
    (void)cfg;
    struct rl_rule *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *w = json_string_value(json_object_get(rule->params, "window"));
    const json_t *th = json_object_get(rule->params, "threshold");
    const json_t *gb = json_object_get(rule->params, "group_by");
    r->window = TU_HOUR;
    r->threshold = th ? json_number_value(th) : 100;
    if (w && tu_parse_duration(w, &r->window) != 0) {
        snprintf(err, errlen, "rule %s: bad window", rule->name);
        goto fail;
    }
    r->group_by[r->n_group_by++] = "provider";
    size_t i;
    const json_t *v;
    json_array_foreach(gb, i, v)
    {
        const char *s = json_string_value(v);
        if (!s || has_name(r, s))
            continue;
        if (r->n_group_by == RL_MAX_GROUP_BY) {
            snprintf(err, errlen, "rule %s: too many group_by labels", rule->name);
            goto fail;
        }
        r->group_by[r->n_group_by++] = s;
    }
    *ctx = r;
    return 0;
fail:
    free(r);
    return -1;
}

static void rl_destroy(void *ctx)
{
    free(ctx);
}

static const char *group_label(const struct ts_agg_group *g, const char *name)
{
    for (size_t i = 0; i < g->n_labels; i++) {
        if (strcmp(g->labels[i].name, name) == 0)
            return g->labels[i].value;
    }
    return NULL;
}

/* The alert's group a result group folds into: its values of the rule's labels. */
static void out_key(const struct rl_rule *r, const struct ts_agg_group *g, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->n_group_by; i++) {
        const char *v = group_label(g, r->group_by[i]);
        int n = snprintf(buf + used, len - used, "%s\x1f", v ? v : "");
        if (n < 0 || (size_t)n >= len - used)
            return;
        used += (size_t)n;
    }
}

static int rl_evaluate(void *ctx, const struct ana_ctx *c, struct ana_results *out, char *err,
                       size_t errlen)
{
    const struct rl_rule *r = ctx;
    struct ts_agg_result res = {0};
    const char *gb[RL_MAX_GROUP_BY + 2];
    size_t ngb = r->n_group_by;
    int rc = -1;
    char win[16];
    size_t n_out = 0, *sel = NULL;
    double *sum = NULL;
    int64_t *first = NULL;
    json_t *index = json_object();

    memcpy(gb, r->group_by, ngb * sizeof *gb);
    if (!has_name(r, "account"))
        gb[ngb++] = "account"; /* for the rule's providers filter */
    struct ts_label match = {"status", RL_STATUS};
    struct ts_agg_query q = {.metric = RL_METRIC,
                             .match = &match,
                             .n_match = 1,
                             .group_by = gb,
                             .n_group_by = ngb,
                             .from = tu_floor(c->now - r->window, TU_HOUR),
                             .to = c->now,
                             .step = TU_HOUR};
    if (!index) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (ana_aggregate(c->st, &q, &res, err, errlen) != 0)
        goto out;
    sel = calloc(res.n_groups + 1, sizeof *sel);
    sum = calloc(res.n_groups + 1, sizeof *sum);
    first = calloc(res.n_groups + 1, sizeof *first);
    if (!sel || !sum || !first) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    /* fold the (group_by + account) groups into the alert's groups; sel[o] = a member */
    for (size_t i = 0; i < res.n_groups; i++) {
        const struct ts_agg_group *g = &res.groups[i];
        if (g->n_points == 0 ||
            !ana_provider_ok(c->rule, group_label(g, "provider"), group_label(g, "account")))
            continue;
        char key[ANA_MAX_LABELS * ANA_VALUE_MAX];
        out_key(r, g, key, sizeof key);
        const json_t *ix = json_object_get(index, key);
        size_t o = ix ? (size_t)json_integer_value(ix) : n_out;
        if (!ix) {
            if (json_object_set_new_nocheck(index, key, json_integer((json_int_t)o)) != 0) {
                snprintf(err, errlen, "out of memory");
                goto out;
            }
            sel[o] = i;
            first[o] = INT64_MAX;
            n_out++;
        }
        for (size_t k = 0; k < g->n_points; k++) {
            sum[o] += g->values[k];
            if (g->values[k] > 0 && g->times[k] < first[o])
                first[o] = g->times[k];
        }
    }
    ana_fmt_duration(r->window, win, sizeof win);
    for (size_t o = 0; o < n_out; o++) {
        if (!(sum[o] >= r->threshold))
            continue;
        const struct ts_agg_group *g = &res.groups[sel[o]];
        struct ana_candidate *cand;
        if (ana_emit(out, &cand) != 0) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        char scope[512] = "";
        size_t used = 0;
        for (size_t i = 0; i < r->n_group_by; i++) {
            const char *v = group_label(g, r->group_by[i]);
            if (!v)
                continue;
            if (ana_label(cand, r->group_by[i], v) != 0) {
                snprintf(err, errlen, "too many labels");
                goto out;
            }
            int n = snprintf(scope + used, sizeof scope - used, "%s%s", used ? " " : "", v);
            if (n > 0 && (size_t)n < sizeof scope - used)
                used += (size_t)n;
        }
        cand->value = sum[o];
        cand->threshold = r->threshold;
        snprintf(cand->unit, sizeof cand->unit, "count");
        snprintf(cand->window, sizeof cand->window, "%s", win);
        cand->starts_at = first[o] != INT64_MAX ? first[o] : 0;
        ana_summary(cand,
                    "%s answered %.0f requests with HTTP 429 (rate limited) in %s (limit %.0f)",
                    used ? scope : "provider", sum[o], win, r->threshold);
    }
    rc = 0;
out:
    free(sel);
    free(sum);
    free(first);
    json_decref(index);
    ts_agg_free(&res);
    return rc;
}

const struct ana_rule_ops ana_rate_limited = {
    .type = "rate_limited",
    .init = rl_init,
    .evaluate = rl_evaluate,
    .destroy = rl_destroy,
};
