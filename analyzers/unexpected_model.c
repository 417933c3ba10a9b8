/*
 * unexpected_model: models in use that the configuration does not expect.
 * Mode "allowlist" checks every model with usage (input tokens or estimated
 * spend) in the last 24h against fnmatch-style globs given per project,
 * per source name or per provider type (unexpected_model.h says which list
 * wins); mode "new" reports models first seen (meta "seen/<account>/model/
 * <model>") in the last 24h once the source is past its learning period.
 * Reads 24 hourly buckets and the small seen/ index, whatever the history.
 */
#include "unexpected_model.h"

#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/array.h"
#include "../common/timeutil.h"
#include "engine.h"

#define LOOKBACK TU_DAY
#define MAX_DETAIL_PROJECTS 20

struct um {
    json_t *allow;       /* name -> globs (owned reference), or NULL */
    json_t *per_project; /* project -> globs (owned reference), or NULL */
    int mode_new;
    int64_t learning;
};

/* ---- the decisions (unexpected_model.h) ---- */

int ana_um_glob_any(const json_t *globs, const char *name)
{
    if (!name || !json_is_array(globs))
        return 0;
    size_t i;
    const json_t *g;
    json_array_foreach(globs, i, g)
    {
        const char *s = json_string_value(g);
        if (s && fnmatch(s, name, 0) == 0)
            return 1;
    }
    return 0;
}

const json_t *ana_um_allowlist(const json_t *allow, const json_t *per_project, const char *provider,
                               const char *account, const char *project, int *scoped)
{
    const json_t *l;
    if (scoped)
        *scoped = 0;
    if (project && json_is_object(per_project) && (l = json_object_get(per_project, project))) {
        if (scoped)
            *scoped = 1;
        return l;
    }
    if (!json_is_object(allow))
        return NULL;
    if (account && (l = json_object_get(allow, account)))
        return l;
    if (provider && (l = json_object_get(allow, provider)))
        return l;
    return NULL;
}

int ana_um_violates(const json_t *allow, const json_t *per_project, const char *provider,
                    const char *account, const char *project, const char *model, int *scoped)
{
    const json_t *l = ana_um_allowlist(allow, per_project, provider, account, project, scoped);
    return l && !ana_um_glob_any(l, model);
}

int ana_um_is_new(int64_t first_seen, int64_t earliest, int64_t learning, int64_t lookback,
                  int64_t now)
{
    if (first_seen >= now || first_seen < now - lookback)
        return 0;
    return first_seen - earliest >= learning;
}

/* ---- usage in the lookback: one row per (provider, account, model, project) ---- */

struct use {
    const char *provider, *account, *project, *model; /* borrowed from the results */
    double tokens, cost;
};

struct usage {
    struct ts_agg_result res[2];
    struct use *v;
    size_t n, cap;
};

static const char *glabel(const struct ts_agg_group *g, const char *name)
{
    for (size_t i = 0; i < g->n_labels; i++) {
        if (strcmp(g->labels[i].name, name) == 0)
            return g->labels[i].value;
    }
    return NULL;
}

static int cmp_use(const void *pa, const void *pb)
{
    const struct use *a = pa, *b = pb;
    int r = strcmp(a->provider, b->provider);
    if (!r)
        r = strcmp(a->account, b->account);
    if (!r)
        r = strcmp(a->model, b->model);
    if (!r)
        r = strcmp(a->project, b->project);
    return r;
}

static void usage_free(struct usage *u)
{
    ts_agg_free(&u->res[0]);
    ts_agg_free(&u->res[1]);
    free(u->v);
    memset(u, 0, sizeof *u);
}

static int load_usage(struct ts_store *st, int64_t now, struct usage *u, char *err, size_t errlen)
{
    static const char *const metrics[2] = {"input_tokens", "est_cost_usd"};
    static const char *const by[] = {"provider", "account", "project", "model"};
    for (int m = 0; m < 2; m++) {
        struct ts_agg_query q = {.metric = metrics[m],
                                 .group_by = by,
                                 .n_group_by = sizeof by / sizeof by[0],
                                 .from = now - LOOKBACK,
                                 .to = now,
                                 .step = TU_HOUR};
        char e[256];
        if (ana_aggregate(st, &q, &u->res[m], e, sizeof e) != 0) {
            snprintf(err, errlen, "reading %s: %s", metrics[m], e);
            return -1;
        }
        for (size_t i = 0; i < u->res[m].n_groups; i++) {
            const struct ts_agg_group *g = &u->res[m].groups[i];
            const char *prov = glabel(g, "provider"), *acct = glabel(g, "account"),
                       *model = glabel(g, "model"), *proj = glabel(g, "project");
            double sum = 0;
            for (size_t k = 0; k < g->n_points; k++)
                sum += g->values[k];
            if (!prov || !acct || !model || !(sum > 0))
                continue;
            if (arr_reserve((void **)&u->v, &u->cap, u->n + 1, sizeof *u->v)) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            u->v[u->n++] = (struct use){.provider = prov,
                                        .account = acct,
                                        .project = proj ? proj : "default",
                                        .model = model,
                                        .tokens = m == 0 ? sum : 0,
                                        .cost = m == 1 ? sum : 0};
        }
    }
    if (u->n > 1)
        qsort(u->v, u->n, sizeof *u->v, cmp_use);
    size_t w = 0;
    for (size_t i = 0; i < u->n; i++) {
        if (w > 0 && cmp_use(&u->v[w - 1], &u->v[i]) == 0) {
            u->v[w - 1].tokens += u->v[i].tokens;
            u->v[w - 1].cost += u->v[i].cost;
        } else {
            u->v[w++] = u->v[i];
        }
    }
    u->n = w;
    return 0;
}

static int same_model(const struct use *a, const struct use *b)
{
    return strcmp(a->provider, b->provider) == 0 && strcmp(a->account, b->account) == 0 &&
           strcmp(a->model, b->model) == 0;
}

/* "$62.06" when the model is priced, "1234 input tokens (unpriced)" otherwise. */
static void fmt_amount(double cost, double tokens, char *buf, size_t len)
{
    if (cost > 0)
        snprintf(buf, len, "$%.2f", cost);
    else
        snprintf(buf, len, "%.0f input tokens (unpriced)", tokens);
}

static void set_value(struct ana_candidate *k, double cost, double tokens)
{
    k->value = cost > 0 ? cost : tokens;
    snprintf(k->unit, sizeof k->unit, "%s", cost > 0 ? "usd" : "tokens");
    snprintf(k->window, sizeof k->window, "24h");
}

/*
 * One alert for a model outside its allow list: rows idx[0..k) of u are the
 * projects it was used in (one row when the per-project list applied, which
 * also makes the project a label). idx is reordered, largest share first.
 */
static int emit_violation(const struct usage *u, size_t *idx, size_t k, int scoped,
                          struct ana_results *out, char *err, size_t errlen)
{
    double tokens = 0, cost = 0;
    for (size_t i = 0; i < k; i++) {
        tokens += u->v[idx[i]].tokens;
        cost += u->v[idx[i]].cost;
    }
    int by_cost = cost > 0;
    for (size_t i = 1; i < k; i++) { /* insertion sort by share, descending */
        size_t x = idx[i], j = i;
        double sx = by_cost ? u->v[x].cost : u->v[x].tokens;
        while (j > 0 && (by_cost ? u->v[idx[j - 1]].cost : u->v[idx[j - 1]].tokens) < sx) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = x;
    }
    const struct use *top = &u->v[idx[0]];
    struct ana_candidate *c;
    if (ana_emit(out, &c)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (ana_label(c, "provider", top->provider) || ana_label(c, "account", top->account) ||
        ana_label(c, "model", top->model) || (scoped && ana_label(c, "project", top->project))) {
        snprintf(err, errlen, "cannot label an alert");
        return -1;
    }
    set_value(c, cost, tokens);
    char amount[64], where[ANA_VALUE_MAX + 48];
    fmt_amount(cost, tokens, amount, sizeof amount);
    if (k == 1)
        snprintf(where, sizeof where, "%s", top->project);
    else
        snprintf(where, sizeof where, "%s and %zu more project%s", top->project, k - 1,
                 k == 2 ? "" : "s");
    ana_summary(c, "%s model %s used in %s: %s in the last 24h, not on %s%s allowlist",
                top->provider, top->model, where, amount, scoped ? top->project : "the",
                scoped ? "'s" : "");
    double total = by_cost ? cost : tokens;
    for (size_t i = 0; !scoped && i < k && i < ANA_MAX_CAUSES && total > 0; i++) {
        const struct use *r = &u->v[idx[i]];
        struct ana_cause *cz = &c->causes[c->n_causes++];
        snprintf(cz->label, sizeof cz->label, "project");
        snprintf(cz->value, sizeof cz->value, "%s", r->project);
        cz->share = (by_cost ? r->cost : r->tokens) / total;
    }
    json_t *projects = json_array();
    for (size_t i = 0; projects && i < k && i < MAX_DETAIL_PROJECTS; i++)
        json_array_append_new(projects, json_string(u->v[idx[i]].project));
    c->details = json_pack("{s:f, s:f, s:s, s:o*}", "input_tokens", tokens, "est_cost_usd", cost,
                           "allowlist", scoped ? "per_project" : "provider", "projects", projects);
    return 0;
}

static int eval_allowlist(const struct um *m, const struct ana_ctx *c, struct usage *u,
                          struct ana_results *out, char *err, size_t errlen)
{
    size_t *idx = malloc((u->n ? u->n : 1) * sizeof *idx);
    if (!idx) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < u->n && rc == 0;) {
        size_t j = i + 1;
        while (j < u->n && same_model(&u->v[i], &u->v[j]))
            j++;
        const struct use *a = &u->v[i];
        size_t k = 0;
        for (size_t x = i; x < j && rc == 0 && ana_provider_ok(c->rule, a->provider, a->account);
             x++) {
            int scoped = 0;
            if (!ana_um_violates(m->allow, m->per_project, a->provider, a->account, u->v[x].project,
                                 a->model, &scoped))
                continue;
            if (scoped)
                rc = emit_violation(u, &x, 1, 1, out, err, errlen);
            else
                idx[k++] = x;
        }
        if (k && rc == 0)
            rc = emit_violation(u, idx, k, 0, out, err, errlen);
        i = j;
    }
    free(idx);
    return rc;
}

/* ---- mode "new" ---- */

struct seen_model {
    char *model;
    int64_t t;
};

struct seen_scan {
    size_t plen;
    int64_t now, earliest;
    struct seen_model *v;
    size_t n, cap;
    int oom;
};

static int seen_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud)
{
    struct seen_scan *s = ud;
    int64_t t;
    if (klen <= s->plen || ana_parse_secs(val, vlen, &t) || t >= s->now)
        return 0;
    if (t < s->earliest)
        s->earliest = t;
    if (t < s->now - LOOKBACK)
        return 0;
    if (arr_reserve((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v)) {
        s->oom = 1;
        return 1;
    }
    char *name = malloc(klen - s->plen + 1);
    if (!name) {
        s->oom = 1;
        return 1;
    }
    memcpy(name, (const char *)key + s->plen, klen - s->plen);
    name[klen - s->plen] = '\0';
    s->v[s->n++] = (struct seen_model){.model = name, .t = t};
    return 0;
}

static int emit_new(const struct um *m, const struct cfg_provider *p, const struct usage *u,
                    const struct seen_model *sm, struct ana_results *out, char *err, size_t errlen)
{
    double tokens = 0, cost = 0;
    for (size_t i = 0; i < u->n; i++) {
        if (strcmp(u->v[i].account, p->name) == 0 && strcmp(u->v[i].model, sm->model) == 0) {
            tokens += u->v[i].tokens;
            cost += u->v[i].cost;
        }
    }
    struct ana_candidate *c;
    if (ana_emit(out, &c)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (ana_label(c, "provider", p->type) || ana_label(c, "account", p->name) ||
        ana_label(c, "model", sm->model)) {
        snprintf(err, errlen, "cannot label an alert");
        return -1;
    }
    set_value(c, cost, tokens);
    c->starts_at = sm->t;
    char when[32], amount[64], learn[16];
    tu_format_time(sm->t, when, sizeof when);
    fmt_amount(cost, tokens, amount, sizeof amount);
    ana_fmt_duration(m->learning, learn, sizeof learn);
    ana_summary(c, "%s model %s used for the first time on %s at %s: %s in the last 24h", p->type,
                sm->model, p->name, when, amount);
    c->details = json_pack("{s:s, s:s, s:f, s:f}", "first_seen", when, "learning", learn,
                           "input_tokens", tokens, "est_cost_usd", cost);
    return 0;
}

static int eval_new(const struct um *m, const struct ana_ctx *c, const struct usage *u,
                    struct ana_results *out, char *err, size_t errlen)
{
    int rc = 0;
    for (size_t pi = 0; c->cfg && pi < c->cfg->n_providers && rc == 0; pi++) {
        const struct cfg_provider *p = &c->cfg->providers[pi];
        if (!ana_provider_ok(c->rule, p->type, p->name))
            continue;
        char prefix[256], e[256];
        int n = snprintf(prefix, sizeof prefix, "seen/%s/model/", p->name);
        if (n < 0 || (size_t)n >= sizeof prefix)
            continue;
        struct seen_scan s = {.plen = (size_t)n, .now = c->now, .earliest = INT64_MAX};
        if (ts_scan(c->st, TS_META, prefix, (size_t)n, seen_cb, &s, e, sizeof e) != 0) {
            snprintf(err, errlen, "scanning %s: %s", prefix, e);
            rc = -1;
        } else if (s.oom) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
        for (size_t i = 0; i < s.n; i++) {
            const struct seen_model *sm = &s.v[i];
            if (rc == 0 && ana_um_is_new(sm->t, s.earliest, m->learning, LOOKBACK, c->now) &&
                !ana_um_glob_any(ana_um_allowlist(m->allow, NULL, p->type, p->name, NULL, NULL),
                                 sm->model))
                rc = emit_new(m, p, u, sm, out, err, errlen);
            free(s.v[i].model);
        }
        free(s.v);
    }
    return rc;
}

/* ---- the rule ---- */

static int um_init(const struct cfg_rule *rule, const struct config *cfg, void **ctx, char *err,
                   size_t errlen)
{
    (void)cfg;
    struct um *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *mode = json_string_value(json_object_get(rule->params, "mode"));
    const char *learning = json_string_value(json_object_get(rule->params, "learning"));
    m->mode_new = mode && strcmp(mode, "new") == 0;
    if (tu_parse_duration(learning ? learning : "7d", &m->learning) != 0) {
        snprintf(err, errlen, "rule %s: bad learning \"%s\"", rule->name, learning);
        free(m);
        return -1;
    }
    m->allow = json_incref(json_object_get(rule->params, "allow"));
    m->per_project = json_incref(json_object_get(rule->params, "per_project"));
    *ctx = m;
    return 0;
}

static int um_evaluate(void *ctx, const struct ana_ctx *c, struct ana_results *out, char *err,
                       size_t errlen)
{
    const struct um *m = ctx;
    struct usage u = {0};
    int rc = load_usage(c->st, c->now, &u, err, errlen);
    if (rc == 0)
        rc = m->mode_new ? eval_new(m, c, &u, out, err, errlen)
                         : eval_allowlist(m, c, &u, out, err, errlen);
    usage_free(&u);
    return rc;
}

static void um_destroy(void *ctx)
{
    struct um *m = ctx;
    if (!m)
        return;
    json_decref(m->allow);
    json_decref(m->per_project);
    free(m);
}

const struct ana_rule_ops ana_unexpected_model = {
    .type = "unexpected_model",
    .init = um_init,
    .evaluate = um_evaluate,
    .destroy = um_destroy,
};
