/*
 * new_entity: API keys, projects/workspaces and users the organisation did
 * not have before. A key or project used in the last 24h that the source's
 * inventory ("inv/<account>/...") does not list is a shadow entity (key
 * sharing, keys made outside the admin's view); one first seen ("seen/
 * <account>/<kind>/<id>") in the last 24h, after the learning period, is
 * new. One alert per entity; new_entity.h says which reason labels it.
 */
#include "new_entity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/array.h"
#include "../common/strmap.h"
#include "../common/timeutil.h"
#include "engine.h"

#define LOOKBACK TU_DAY

enum { E_KEY = 1, E_PROJECT = 2, E_USER = 4 };

struct ne {
    unsigned kinds; /* E_* */
    int64_t learning;
};

/* ---- the decisions (new_entity.h) ---- */

int ana_ne_first_seen(int64_t first_seen, int64_t earliest, int64_t learning, int64_t lookback,
                      int64_t now)
{
    if (first_seen >= now || first_seen < now - lookback)
        return 0;
    return first_seen - earliest >= learning;
}

const char *ana_ne_reason(int used, int inventory_listed, int in_inventory, int first_seen_new)
{
    if (used && inventory_listed && !in_inventory)
        return "not_in_inventory";
    return first_seen_new ? "first_seen" : NULL;
}

/* ---- usage in the lookback, per api key and per project ---- */

struct ent {
    const char *id;      /* borrowed from the aggregate results */
    const char *project; /* api keys: the project with the most input tokens */
    double best;         /* that project's input tokens */
    double tokens, cost;
    int64_t first_bucket; /* earliest bucket with usage in the lookback */
};

struct ents {
    struct ent *v;
    size_t n, cap;
    struct strmap map; /* id -> index */
};

struct usage {
    struct ts_agg_result res[2];
    struct ents keys, projects;
};

static void usage_free(struct usage *u)
{
    ts_agg_free(&u->res[0]);
    ts_agg_free(&u->res[1]);
    free(u->keys.v);
    free(u->projects.v);
    strmap_free(&u->keys.map);
    strmap_free(&u->projects.map);
    memset(u, 0, sizeof *u);
}

static const char *glabel(const struct ts_agg_group *g, const char *name)
{
    for (size_t i = 0; i < g->n_labels; i++) {
        if (strcmp(g->labels[i].name, name) == 0)
            return g->labels[i].value;
    }
    return NULL;
}

static int ents_add(struct ents *es, const char *id, const char *project, int is_tokens, double sum,
                    int64_t first)
{
    size_t i;
    if (strmap_get(&es->map, id, strlen(id), &i) != 0) {
        if (arr_reserve((void **)&es->v, &es->cap, es->n + 1, sizeof *es->v) ||
            strmap_put(&es->map, id, strlen(id), es->n))
            return -1;
        i = es->n++;
        es->v[i] = (struct ent){.id = id, .first_bucket = first};
    }
    struct ent *e = &es->v[i];
    if (is_tokens)
        e->tokens += sum;
    else
        e->cost += sum;
    if (first < e->first_bucket)
        e->first_bucket = first;
    double w = is_tokens ? sum : 0;
    if (project && (!e->project || w > e->best)) {
        e->project = project;
        e->best = w;
    }
    return 0;
}

static int load_usage(struct ts_store *st, const struct cfg_provider *p, int64_t now,
                      struct usage *u, char *err, size_t errlen)
{
    static const char *const metrics[2] = {"input_tokens", "est_cost_usd"};
    static const char *const by[] = {"project", "api_key_id"};
    struct ts_label match[] = {{"provider", p->type}, {"account", p->name}};
    for (int m = 0; m < 2; m++) {
        struct ts_agg_query q = {.metric = metrics[m],
                                 .match = match,
                                 .n_match = 2,
                                 .group_by = by,
                                 .n_group_by = 2,
                                 .from = now - LOOKBACK,
                                 .to = now,
                                 .step = TU_HOUR};
        char e[256];
        if (ana_aggregate(st, &q, &u->res[m], e, sizeof e) != 0) {
            snprintf(err, errlen, "reading %s of %s: %s", metrics[m], p->name, e);
            return -1;
        }
        for (size_t i = 0; i < u->res[m].n_groups; i++) {
            const struct ts_agg_group *g = &u->res[m].groups[i];
            const char *kid = glabel(g, "api_key_id"), *proj = glabel(g, "project");
            double sum = 0;
            int64_t first = INT64_MAX;
            for (size_t k = 0; k < g->n_points; k++) {
                sum += g->values[k];
                if (g->values[k] > 0 && g->times[k] < first)
                    first = g->times[k];
            }
            if (!(sum > 0))
                continue;
            if ((kid && kid[0] && ents_add(&u->keys, kid, proj, m == 0, sum, first)) ||
                (proj && proj[0] && strcmp(proj, "default") != 0 &&
                 ents_add(&u->projects, proj, NULL, m == 0, sum, first))) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        }
    }
    return 0;
}

/* ---- inventory and first sightings ---- */

static int stop_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud)
{
    (void)key;
    (void)klen;
    (void)val;
    (void)vlen;
    *(int *)ud = 1;
    return 1;
}

/* 1 when the source's inventory holds any item of kind, 0 when none, -1 on error. */
static int inv_any(struct ts_store *st, const char *account, const char *kind, char *err,
                   size_t errlen)
{
    char prefix[320];
    int n = snprintf(prefix, sizeof prefix, "inv/%s/%s/", account, kind);
    if (n < 0 || (size_t)n >= sizeof prefix)
        return 0;
    int found = 0;
    if (ts_scan(st, TS_META, prefix, (size_t)n, stop_cb, &found, err, errlen) != 0)
        return -1;
    return found;
}

/* 1 when "inv/<account>/<kind>/<id>" exists, 0 when not, -1 on error. */
static int inv_has(struct ts_store *st, const char *account, const char *kind, const char *id,
                   char *err, size_t errlen)
{
    char key[768];
    int n = snprintf(key, sizeof key, "inv/%s/%s/%s", account, kind, id);
    if (n < 0 || (size_t)n >= sizeof key)
        return 0;
    char *v = NULL;
    size_t vl = 0;
    int rc = ts_get(st, TS_META, key, (size_t)n, &v, &vl, err, errlen);
    free(v);
    if (rc == 0)
        return 1;
    return rc == -TS_ENOTFOUND ? 0 : -1;
}

struct seen_ent {
    char *id;
    int64_t t;
    int done;
};

struct seen_scan {
    size_t plen;
    int64_t now, earliest;
    struct seen_ent *v;
    size_t n, cap;
    int oom;
};

/* Collects the earliest first-seen before now and every first-seen in the lookback. */
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
    char *id = malloc(klen - s->plen + 1);
    if (!id || arr_reserve((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v)) {
        free(id);
        s->oom = 1;
        return 1;
    }
    memcpy(id, (const char *)key + s->plen, klen - s->plen);
    id[klen - s->plen] = '\0';
    s->v[s->n++] = (struct seen_ent){.id = id, .t = t};
    return 0;
}

static void seen_free(struct seen_scan *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].id);
    free(s->v);
}

/* ---- one alert ---- */

struct kind_def {
    unsigned bit;
    const char *kind;    /* the "entity" label and the seen/ kind */
    const char *idlabel; /* the label naming the entity */
    const char *human;   /* for summaries */
};

static const struct kind_def KINDS[] = {
    {E_KEY, "api_key", "api_key_id", "API key"},
    {E_PROJECT, "project", "project", "project"},
    {E_USER, "user", "actor", "user"},
};

struct hit {
    const struct kind_def *k;
    const char *id, *reason;
    const struct ent *use;     /* NULL when not used in the lookback */
    const struct seen_ent *fs; /* first sighting in the lookback, or NULL */
    int is_new;                /* fs passed the learning period */
};

static int emit_hit(const struct ne *m, const struct cfg_provider *p, const struct hit *h,
                    struct ana_results *out, char *err, size_t errlen)
{
    struct ana_candidate *c;
    if (ana_emit(out, &c)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (ana_label(c, "provider", p->type) || ana_label(c, "account", p->name) ||
        ana_label(c, "entity", h->k->kind) || ana_label(c, h->k->idlabel, h->id) ||
        ana_label(c, "reason", h->reason)) {
        snprintf(err, errlen, "cannot label an alert");
        return -1;
    }
    char amount[64] = "", when[32] = "", in[ANA_VALUE_MAX + 16] = "", learn[16];
    ana_fmt_duration(m->learning, learn, sizeof learn);
    if (h->use) {
        int priced = h->use->cost > 0;
        c->value = priced ? h->use->cost : h->use->tokens;
        snprintf(c->unit, sizeof c->unit, "%s", priced ? "usd" : "tokens");
        snprintf(c->window, sizeof c->window, "24h");
        if (priced)
            snprintf(amount, sizeof amount, ": $%.2f in the last 24h", h->use->cost);
        else
            snprintf(amount, sizeof amount, ": %.0f input tokens in the last 24h", h->use->tokens);
        if (h->use->project)
            snprintf(in, sizeof in, " in %s", h->use->project);
        c->starts_at = h->use->first_bucket;
    }
    if (h->fs) {
        tu_format_time(h->fs->t, when, sizeof when);
        c->starts_at = h->fs->t;
    }
    if (strcmp(h->reason, "not_in_inventory") == 0)
        ana_summary(c, "%s %s %s used%s is not in the inventory of %s%s%s%s", p->type, h->k->human,
                    h->id, in, p->name, amount, h->is_new ? ", first seen " : "",
                    h->is_new ? when : "");
    else
        ana_summary(c,
                    "%s %s %s seen for the first time on %s at %s (after the %s learning "
                    "period)%s",
                    p->type, h->k->human, h->id, p->name, when, learn, amount);
    json_t *reasons = json_array();
    if (reasons && strcmp(h->reason, "not_in_inventory") == 0)
        json_array_append_new(reasons, json_string("not_in_inventory"));
    if (reasons && h->is_new)
        json_array_append_new(reasons, json_string("first_seen"));
    c->details =
        json_pack("{s:o*, s:s*, s:s*}", "reasons", reasons, "first_seen", when[0] ? when : NULL,
                  "project", h->use && h->k->bit == E_KEY ? h->use->project : NULL);
    return 0;
}

/* Every alert of one entity kind on one source. */
static int eval_kind(const struct ne *m, const struct ana_ctx *c, const struct cfg_provider *p,
                     const struct kind_def *k, const struct ents *used, struct ana_results *out,
                     char *err, size_t errlen)
{
    char prefix[320];
    int rc = 0, listed = 0;
    int n = snprintf(prefix, sizeof prefix, "seen/%s/%s/", p->name, k->kind);
    if (n < 0 || (size_t)n >= sizeof prefix)
        return 0;
    struct seen_scan s = {.plen = (size_t)n, .now = c->now, .earliest = INT64_MAX};
    if (ts_scan(c->st, TS_META, prefix, (size_t)n, seen_cb, &s, err, errlen) != 0) {
        rc = -1;
        goto out;
    }
    if (s.oom) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
        goto out;
    }
    if (k->bit == E_KEY) {
        listed = inv_any(c->st, p->name, "api_key", err, errlen);
    } else if (k->bit == E_PROJECT) {
        listed = inv_any(c->st, p->name, "project", err, errlen);
        if (listed == 0)
            listed = inv_any(c->st, p->name, "workspace", err, errlen);
    }
    if (listed < 0) {
        rc = -1;
        goto out;
    }
    for (size_t i = 0; used && i < used->n; i++) {
        const struct ent *e = &used->v[i];
        struct hit h = {.k = k, .id = e->id, .use = e};
        for (size_t j = 0; j < s.n && !h.fs; j++) {
            if (strcmp(s.v[j].id, e->id) == 0) {
                s.v[j].done = 1;
                h.fs = &s.v[j];
            }
        }
        h.is_new = h.fs && ana_ne_first_seen(h.fs->t, s.earliest, m->learning, LOOKBACK, c->now);
        int have = 0;
        if (listed) {
            have = inv_has(c->st, p->name, k->bit == E_KEY ? "api_key" : "project", e->id, err,
                           errlen);
            if (have == 0 && k->bit == E_PROJECT)
                have = inv_has(c->st, p->name, "workspace", e->id, err, errlen);
            if (have < 0) {
                rc = -1;
                goto out;
            }
        }
        if ((h.reason = ana_ne_reason(1, listed, have, h.is_new)) &&
            (rc = emit_hit(m, p, &h, out, err, errlen)) != 0)
            goto out;
    }
    for (size_t j = 0; j < s.n; j++) {
        struct hit h = {.k = k, .id = s.v[j].id, .fs = &s.v[j]};
        if (s.v[j].done || !s.v[j].id[0] ||
            (k->bit == E_PROJECT && strcmp(s.v[j].id, "default") == 0))
            continue;
        h.is_new = ana_ne_first_seen(h.fs->t, s.earliest, m->learning, LOOKBACK, c->now);
        if ((h.reason = ana_ne_reason(0, listed, 0, h.is_new)) &&
            (rc = emit_hit(m, p, &h, out, err, errlen)) != 0)
            goto out;
    }
out:
    seen_free(&s);
    return rc;
}

/* ---- the rule ---- */

static int ne_init(const struct cfg_rule *rule, const struct config *cfg, void **ctx, char *err,
                   size_t errlen)
{
    (void)cfg;
    struct ne *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *learning = json_string_value(json_object_get(rule->params, "learning"));
    if (tu_parse_duration(learning ? learning : "7d", &m->learning) != 0) {
        snprintf(err, errlen, "rule %s: bad learning \"%s\"", rule->name, learning);
        free(m);
        return -1;
    }
    const json_t *list = json_object_get(rule->params, "entities");
    if (!json_is_array(list)) {
        m->kinds = E_KEY | E_PROJECT | E_USER;
    } else {
        size_t i;
        const json_t *v;
        json_array_foreach(list, i, v)
        {
            const char *s = json_string_value(v);
            for (size_t k = 0; s && k < sizeof KINDS / sizeof KINDS[0]; k++) {
                if (strcmp(s, KINDS[k].kind) == 0)
                    m->kinds |= KINDS[k].bit;
            }
        }
    }
    *ctx = m;
    return 0;
}

static int ne_evaluate(void *ctx, const struct ana_ctx *c, struct ana_results *out, char *err,
                       size_t errlen)
{
    const struct ne *m = ctx;
    int rc = 0;
    for (size_t pi = 0; c->cfg && pi < c->cfg->n_providers && rc == 0; pi++) {
        const struct cfg_provider *p = &c->cfg->providers[pi];
        if (!ana_provider_ok(c->rule, p->type, p->name))
            continue;
        struct usage u = {0};
        if (m->kinds & (E_KEY | E_PROJECT))
            rc = load_usage(c->st, p, c->now, &u, err, errlen);
        for (size_t k = 0; rc == 0 && k < sizeof KINDS / sizeof KINDS[0]; k++) {
            if (!(m->kinds & KINDS[k].bit))
                continue;
            const struct ents *used = KINDS[k].bit == E_KEY       ? &u.keys
                                      : KINDS[k].bit == E_PROJECT ? &u.projects
                                                                  : NULL;
            rc = eval_kind(m, c, p, &KINDS[k], used, out, err, errlen);
        }
        usage_free(&u);
    }
    return rc;
}

static void ne_destroy(void *ctx)
{
    free(ctx);
}

const struct ana_rule_ops ana_new_entity = {
    .type = "new_entity",
    .init = ne_init,
    .evaluate = ne_evaluate,
    .destroy = ne_destroy,
};
