/*
 * key_age: API and admin keys overdue for rotation (older than max_age) or,
 * with max_idle, unused for too long, from the inventory the collector
 * keeps under "inv/<account>/api_key/<id>" and "inv/<account>/admin_key/
 * <id>". One alert per key and reason ("age" or "idle"); key_age.h holds
 * the decision. The inventory is small, so it is scanned whole each cycle.
 */
#include "key_age.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/timeutil.h"
#include "engine.h"

struct ka {
    int64_t max_age;
    int64_t max_idle; /* 0 = off */
};

/* ---- the decision (key_age.h) ---- */

/* A time field as unix seconds; 0 when absent, null or unreadable. */
static int64_t time_field(const json_t *o, const char *name)
{
    const json_t *v = json_object_get(o, name);
    int64_t t = 0;
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_real(v))
        return (int64_t)json_real_value(v);
    if (json_is_string(v) && tu_parse_time(json_string_value(v), &t) == 0)
        return t;
    return 0;
}

void ana_key_judge(const json_t *item, int64_t now, int64_t max_age, int64_t max_idle,
                   struct ana_key_verdict *v)
{
    memset(v, 0, sizeof *v);
    v->age_days = v->idle_days = NAN;
    const json_t *st = json_object_get(item, "status");
    int64_t created = time_field(item, "created_at");
    int64_t used = time_field(item, "last_used_at");
    int64_t expires = time_field(item, "expires_at");
    v->active = json_is_object(item) &&
                (!st || json_is_null(st) ||
                 (json_is_string(st) && strcasecmp(json_string_value(st), "active") == 0)) &&
                (expires <= 0 || expires > now);
    if (created > now)
        return; /* not yet created at now: a backtest */
    if (created > 0) {
        v->created_at = created;
        v->age_days = (double)(now - created) / TU_DAY;
        v->old_since = created + max_age;
        v->too_old = v->active && created < now - max_age;
    }
    if (used > 0 && used <= now) {
        v->last_used_at = used;
        v->idle_days = (double)(now - used) / TU_DAY;
        v->idle_since = used + max_idle;
        v->idle = v->active && max_idle > 0 && used < now - max_idle;
    }
}

/* ---- the rule ---- */

struct scan {
    const struct ka *m;
    const struct ana_ctx *c;
    const struct cfg_provider *p;
    const char *kind; /* "api_key" or "admin_key" */
    size_t plen;
    struct ana_results *out;
    char *err;
    size_t errlen;
    int rc;
};

static int emit(struct scan *s, const char *id, const json_t *item, int idle,
                const struct ana_key_verdict *v)
{
    struct ana_candidate *c;
    if (ana_emit(s->out, &c)) {
        snprintf(s->err, s->errlen, "out of memory");
        return -1;
    }
    const char *project = json_string_value(json_object_get(item, "project"));
    const char *name = json_string_value(json_object_get(item, "name"));
    if (project && !project[0])
        project = NULL;
    if (ana_label(c, "provider", s->p->type) || ana_label(c, "account", s->p->name) ||
        ana_label(c, "api_key_id", id) || ana_label(c, "key_kind", s->kind) ||
        ana_label(c, "reason", idle ? "idle" : "age") ||
        (project && ana_label(c, "project", project))) {
        snprintf(s->err, s->errlen, "cannot label an alert");
        return -1;
    }
    int64_t limit = idle ? s->m->max_idle : s->m->max_age;
    char lim[16], what[ANA_VALUE_MAX * 2 + 64];
    ana_fmt_duration(limit, lim, sizeof lim);
    c->value = idle ? v->idle_days : v->age_days;
    c->threshold = (double)limit / TU_DAY;
    snprintf(c->unit, sizeof c->unit, "days");
    snprintf(c->window, sizeof c->window, "%s", lim);
    c->starts_at = idle ? v->idle_since : v->old_since;
    snprintf(what, sizeof what, "%s %s %s%s%.60s%s%s%s%s", s->p->type,
             strcmp(s->kind, "admin_key") == 0 ? "admin key" : "API key", id,
             name && name[0] ? " \"" : "", name && name[0] ? name : "", name && name[0] ? "\"" : "",
             project ? " (project " : "", project ? project : "", project ? ")" : "");
    if (idle)
        ana_summary(c, "%s on %s was last used %.0f days ago, over the %s idle limit", what,
                    s->p->name, floor(v->idle_days), lim);
    else
        ana_summary(c, "%s on %s is %.0f days old, over the %s maximum key age", what, s->p->name,
                    floor(v->age_days), lim);
    char created[32] = "", used[32] = "";
    if (v->created_at)
        tu_format_time(v->created_at, created, sizeof created);
    if (v->last_used_at)
        tu_format_time(v->last_used_at, used, sizeof used);
    c->details = json_pack("{s:s*, s:s*, s:s*}", "name", name, "created_at",
                           created[0] ? created : NULL, "last_used_at", used[0] ? used : NULL);
    return 0;
}

static int item_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud)
{
    struct scan *s = ud;
    if (klen <= s->plen || klen - s->plen >= ANA_VALUE_MAX)
        return 0;
    char id[ANA_VALUE_MAX];
    memcpy(id, (const char *)key + s->plen, klen - s->plen);
    id[klen - s->plen] = '\0';
    json_t *item = json_loadb(val, vlen, 0, NULL);
    if (!item)
        return 0; /* not JSON: nothing to judge */
    struct ana_key_verdict v;
    ana_key_judge(item, s->c->now, s->m->max_age, s->m->max_idle, &v);
    if ((v.too_old && emit(s, id, item, 0, &v)) || (v.idle && emit(s, id, item, 1, &v)))
        s->rc = -1;
    json_decref(item);
    return s->rc != 0;
}

static int ka_init(const struct cfg_rule *rule, const struct config *cfg, void **ctx, char *err,
                   size_t errlen)
{
    (void)cfg;
    struct ka *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *age = json_string_value(json_object_get(rule->params, "max_age"));
    const char *idle = json_string_value(json_object_get(rule->params, "max_idle"));
    if (tu_parse_duration(age ? age : "90d", &m->max_age) != 0 ||
        (idle && tu_parse_duration(idle, &m->max_idle) != 0)) {
        snprintf(err, errlen, "rule %s: bad max_age or max_idle", rule->name);
        free(m);
        return -1;
    }
    *ctx = m;
    return 0;
}

static int ka_evaluate(void *ctx, const struct ana_ctx *c, struct ana_results *out, char *err,
                       size_t errlen)
{
    static const char *const kinds[] = {"api_key", "admin_key"};
    for (size_t pi = 0; c->cfg && pi < c->cfg->n_providers; pi++) {
        const struct cfg_provider *p = &c->cfg->providers[pi];
        if (!ana_provider_ok(c->rule, p->type, p->name))
            continue;
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            char prefix[320];
            int n = snprintf(prefix, sizeof prefix, "inv/%s/%s/", p->name, kinds[k]);
            if (n < 0 || (size_t)n >= sizeof prefix)
                continue;
            struct scan s = {.m = ctx,
                             .c = c,
                             .p = p,
                             .kind = kinds[k],
                             .plen = (size_t)n,
                             .out = out,
                             .err = err,
                             .errlen = errlen};
            char e[256];
            if (ts_scan(c->st, TS_META, prefix, (size_t)n, item_cb, &s, e, sizeof e) != 0) {
                snprintf(err, errlen, "scanning %s: %s", prefix, e);
                return -1;
            }
            if (s.rc)
                return -1;
        }
    }
    return 0;
}

static void ka_destroy(void *ctx)
{
    free(ctx);
}

const struct ana_rule_ops ana_key_age = {
    .type = "key_age",
    .init = ka_init,
    .evaluate = ka_evaluate,
    .destroy = ka_destroy,
};
