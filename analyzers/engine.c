/*
 * The rule engine (engine.h): one instance per enabled rule of the config,
 * each built by its type's ops from analyzers/rules.c, evaluated in config
 * order at the cycle's time. The engine only collects candidates; turning
 * them into alerts is the lifecycle's job (alerts/lifecycle.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/log.h"
#include "engine.h"

struct instance {
    const struct ana_rule_ops *ops;
    const struct cfg_rule *rule;
    void *ctx;
    struct log_complaint complaint;
};

struct ana_engine {
    const struct config *cfg;
    struct ana_cache *cache; /* reads kept between passes (analyzers/cache.c) */
    struct instance *inst;
    size_t n;
    struct ana_rule_result *results;
};

int ana_engine_new(const struct config *cfg, struct ana_engine **out, char *err, size_t errlen)
{
    struct ana_engine *e = calloc(1, sizeof *e);
    if (!e || !(e->cache = ana_cache_new()) ||
        (cfg->n_rules && !(e->inst = calloc(cfg->n_rules, sizeof *e->inst))) ||
        (cfg->n_rules && !(e->results = calloc(cfg->n_rules, sizeof *e->results)))) {
        snprintf(err, errlen, "out of memory");
        ana_engine_free(e);
        return -1;
    }
    e->cfg = cfg;
    for (size_t i = 0; i < cfg->n_rules; i++) {
        const struct cfg_rule *r = &cfg->rules[i];
        if (!json_is_true(json_object_get(r->params, "enabled")))
            continue;
        const struct ana_rule_ops *ops = ana_rule_find(r->type);
        if (!ops) {
            log_event(LOG_WARN, "analyzer.unsupported", "rule=%s type=%s", r->name, r->type);
            continue;
        }
        struct instance *in = &e->inst[e->n];
        char msg[512];
        if (ops->init(r, cfg, &in->ctx, msg, sizeof msg) != 0) {
            snprintf(err, errlen, "rule %s: %s", r->name, msg);
            ana_engine_free(e);
            return -1;
        }
        in->ops = ops;
        in->rule = r;
        e->n++;
    }
    *out = e;
    return 0;
}

void ana_engine_free(struct ana_engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n; i++) {
        if (e->inst[i].ops->destroy)
            e->inst[i].ops->destroy(e->inst[i].ctx);
        ana_results_free(&e->results[i].res);
    }
    free(e->inst);
    free(e->results);
    ana_cache_free(e->cache);
    free(e);
}

int ana_engine_evaluate(struct ana_engine *e, struct ts_store *st, int64_t now,
                        const struct ana_changes *changes, struct ts_batch *batch,
                        const struct ana_rule_result **out, size_t *n, char *err, size_t errlen)
{
    if (ana_cache_pass_begin(e->cache, st, now, changes) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < e->n; i++) {
        struct instance *in = &e->inst[i];
        struct ana_rule_result *rr = &e->results[i];
        struct ana_ctx c = {.st = st,
                            .cfg = e->cfg,
                            .rule = in->rule,
                            .now = now,
                            .changes = changes,
                            .batch = batch};
        char msg[512] = "";
        ana_results_clear(&rr->res);
        rr->rule = in->rule;
        rr->ok = in->ops->evaluate(in->ctx, &c, &rr->res, msg, sizeof msg) == 0;
        if (!rr->ok) {
            ana_results_clear(&rr->res);
            log_complain(&in->complaint, time(NULL), LOG_ERROR, "analyzer.failed",
                         "rule=%s reason=\"%s\" effect=\"its alerts are kept as they are\"",
                         in->rule->name, msg);
        } else {
            log_release(&in->complaint, "analyzer.recovered", "rule=%s", in->rule->name);
        }
    }
    ana_cache_pass_end(e->cache);
    *out = e->results;
    *n = e->n;
    return 0;
}

int ana_engine_warm(struct ana_engine *e, struct ts_store *st, int64_t now, char *err,
                    size_t errlen)
{
    const struct ana_rule_result *res;
    size_t n;
    struct ana_changes unknown = {.events_from = INT64_MIN, .samples_from = 0};
    if (ana_engine_evaluate(e, st, now, &unknown, NULL, &res, &n, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < e->n; i++)
        ana_results_clear(&e->results[i].res);
    return 0;
}
