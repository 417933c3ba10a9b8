/*
 * collector_health: byokwatch watching itself. From each configured source's
 * "health/<account>" record it raises problem="failing" (consecutive failed
 * poll cycles) and problem="stale" (no fresh data); from the last 7 days of
 * "collector.restatement" events it raises problem="restatement" per source
 * and restated day (the provider changed a closed day's billed cost, so
 * reports already sent were wrong). Reads one key per source and a 7-day
 * slice of one event type.
 */
#include "collector_health.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/array.h"
#include "../common/timeutil.h"
#include "engine.h"

#define RESTATE_WINDOW ((int64_t)7 * TU_DAY)
#define ERROR_MAX 200

struct ch {
    long long failing_cycles;
    int64_t max_staleness;
};

/* ---- the decision (collector_health.h) ---- */

static int64_t int_field(const json_t *o, const char *name, int *present)
{
    const json_t *v = json_object_get(o, name);
    if (present)
        *present = json_is_number(v);
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_real(v))
        return (int64_t)json_real_value(v);
    return 0;
}

void ana_health_judge(const json_t *health, int64_t now, long long failing_cycles,
                      int64_t max_staleness, struct ana_health_verdict *v)
{
    memset(v, 0, sizeof *v);
    v->stale_hours = NAN;
    if (!json_is_object(health))
        return;
    int have_data = 0;
    v->failures = int_field(health, "failures", NULL);
    v->cycles = int_field(health, "cycles", NULL);
    v->last_success = int_field(health, "last_success", NULL);
    v->last_data = int_field(health, "last_data", &have_data);
    v->failing = failing_cycles > 0 && v->failures >= failing_cycles;
    if (have_data) {
        v->stale_hours = (double)(now - v->last_data) / TU_HOUR;
        v->stale = now - v->last_data > max_staleness;
    } else {
        v->last_data = 0;
        v->stale = v->cycles > 0;
    }
}

/* ---- health records ---- */

/* last_error cut to ERROR_MAX bytes (at a UTF-8 boundary) with control characters blanked. */
static void clean_error(const char *s, char *buf, size_t len)
{
    size_t n = 0;
    for (; s && s[n] && n < ERROR_MAX && n + 1 < len; n++)
        buf[n] = (unsigned char)s[n] < 0x20 || s[n] == 0x7f ? ' ' : s[n];
    while (n > 0 && s[n] && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--; /* do not split a multi-byte character */
    buf[n] = '\0';
}

static int label3(struct ana_candidate *c, const struct cfg_provider *p, const char *problem)
{
    return ana_label(c, "provider", p->type) || ana_label(c, "account", p->name) ||
           ana_label(c, "problem", problem);
}

static int eval_health(const struct ch *m, const struct ana_ctx *c, const struct cfg_provider *p,
                       struct ana_results *out, char *err, size_t errlen)
{
    char key[320], e[256];
    int n = snprintf(key, sizeof key, "health/%s", p->name);
    if (n < 0 || (size_t)n >= sizeof key)
        return 0;
    char *val = NULL;
    size_t vlen = 0;
    int rc = ts_get(c->st, TS_META, key, (size_t)n, &val, &vlen, e, sizeof e);
    if (rc == -TS_ENOTFOUND)
        return 0; /* never polled yet */
    if (rc != 0) {
        snprintf(err, errlen, "reading %s: %s", key, e);
        return -1;
    }
    json_t *h = json_loadb(val, vlen, 0, NULL);
    free(val);
    struct ana_health_verdict v;
    ana_health_judge(h, c->now, m->failing_cycles, m->max_staleness, &v);
    char lasterr[ERROR_MAX + 1], when[32] = "never", lim[16];
    clean_error(json_string_value(json_object_get(h, "last_error")), lasterr, sizeof lasterr);
    struct ana_candidate *k;
    rc = 0;
    if (v.failing) {
        if (ana_emit(out, &k) || label3(k, p, "failing")) {
            rc = -1;
            goto out;
        }
        k->value = (double)v.failures;
        k->threshold = (double)m->failing_cycles;
        snprintf(k->unit, sizeof k->unit, "cycles");
        k->starts_at = v.last_success > 0 && v.last_success <= c->now ? v.last_success : 0;
        if (v.last_success > 0)
            tu_format_time(v.last_success, when, sizeof when);
        ana_summary(k,
                    "%s source %s: the collector failed %lld cycles in a row (last success %s)%s%s",
                    p->type, p->name, v.failures, when, lasterr[0] ? ": " : "", lasterr);
        k->details = json_pack("{s:I, s:I, s:s*}", "failures", (json_int_t)v.failures, "cycles",
                               (json_int_t)v.cycles, "last_error", lasterr[0] ? lasterr : NULL);
    }
    if (v.stale) {
        if (ana_emit(out, &k) || label3(k, p, "stale")) {
            rc = -1;
            goto out;
        }
        ana_fmt_duration(m->max_staleness, lim, sizeof lim);
        snprintf(k->window, sizeof k->window, "%s", lim);
        if (v.last_data > 0) {
            tu_format_time(v.last_data, when, sizeof when);
            k->value = v.stale_hours;
            k->threshold = (double)m->max_staleness / TU_HOUR;
            snprintf(k->unit, sizeof k->unit, "hours");
            k->starts_at = v.last_data + m->max_staleness;
            ana_summary(k,
                        "%s source %s: the newest data ends at %s, %.1fh ago, over the %s "
                        "staleness limit",
                        p->type, p->name, when, v.stale_hours, lim);
        } else {
            ana_summary(k, "%s source %s has produced no usage data in %lld poll cycles", p->type,
                        p->name, v.cycles);
        }
        k->details = json_pack("{s:s, s:I}", "last_data", when, "cycles", (json_int_t)v.cycles);
    }
out:
    if (rc)
        snprintf(err, errlen, "out of memory or too many labels");
    json_decref(h);
    return rc;
}

/* ---- restatements ---- */

struct restated {
    char *provider, *account, *series;
    char day[11];
    double old_usd, new_usd;
    int64_t first, last;
    int done;
};

struct rscan {
    const struct cfg_rule *rule;
    struct restated *v;
    size_t n, cap;
    int oom;
};

static int restate_cb(const struct ts_event *ev, void *ud)
{
    struct rscan *s = ud;
    json_t *o = json_loads(ev->json, 0, NULL);
    const char *prov = json_string_value(json_object_get(o, "provider"));
    const char *acct = json_string_value(json_object_get(o, "account"));
    const char *day = json_string_value(json_object_get(o, "day"));
    const char *series = json_string_value(json_object_get(o, "series"));
    const json_t *ov = json_object_get(o, "old_usd"), *nv = json_object_get(o, "new_usd");
    if (!prov || !acct || !day || strlen(day) != 10 || !json_is_number(ov) || !json_is_number(nv) ||
        !ana_provider_ok(s->rule, prov, acct)) {
        json_decref(o);
        return 0;
    }
    if (!series)
        series = "";
    size_t i;
    for (i = 0; i < s->n; i++) {
        struct restated *r = &s->v[i];
        if (strcmp(r->account, acct) == 0 && strcmp(r->provider, prov) == 0 &&
            strcmp(r->day, day) == 0 && strcmp(r->series, series) == 0)
            break;
    }
    if (i == s->n) {
        if (arr_reserve((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v)) {
            s->oom = 1;
            json_decref(o);
            return 1;
        }
        struct restated *r = &s->v[s->n];
        memset(r, 0, sizeof *r);
        r->provider = strdup(prov);
        r->account = strdup(acct);
        r->series = strdup(series);
        memcpy(r->day, day, 10);
        r->old_usd = json_number_value(ov);
        r->first = ev->time;
        s->n++;
        if (!r->provider || !r->account || !r->series) {
            s->oom = 1;
            json_decref(o);
            return 1;
        }
    }
    s->v[i].new_usd = json_number_value(nv); /* events come oldest first: the latest wins */
    s->v[i].last = ev->time;
    json_decref(o);
    return 0;
}

static int eval_restatements(const struct ana_ctx *c, struct ana_results *out, char *err,
                             size_t errlen)
{
    struct rscan s = {.rule = c->rule};
    char e[256];
    int rc = 0;
    if (ts_events_scan(c->st, c->now - RESTATE_WINDOW, c->now, "collector.restatement", restate_cb,
                       &s, e, sizeof e) != 0) {
        snprintf(err, errlen, "reading restatements: %s", e);
        rc = -1;
        goto out;
    }
    if (s.oom) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
        goto out;
    }
    for (size_t i = 0; i < s.n; i++) {
        if (s.v[i].done)
            continue;
        double old_usd = 0, new_usd = 0;
        int64_t first = s.v[i].first;
        size_t nseries = 0;
        for (size_t j = i; j < s.n; j++) { /* every series of the same source and day */
            struct restated *r = &s.v[j];
            if (r->done || strcmp(r->account, s.v[i].account) != 0 ||
                strcmp(r->provider, s.v[i].provider) != 0 || strcmp(r->day, s.v[i].day) != 0)
                continue;
            r->done = 1;
            old_usd += r->old_usd;
            new_usd += r->new_usd;
            if (r->first < first)
                first = r->first;
            nseries++;
        }
        struct ana_candidate *k;
        if (ana_emit(out, &k) || ana_label(k, "provider", s.v[i].provider) ||
            ana_label(k, "account", s.v[i].account) || ana_label(k, "problem", "restatement") ||
            ana_label(k, "day", s.v[i].day)) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            goto out;
        }
        k->value = new_usd - old_usd;
        k->baseline = old_usd;
        snprintf(k->unit, sizeof k->unit, "usd");
        snprintf(k->window, sizeof k->window, "7d");
        k->starts_at = first;
        ana_summary(k, "%s source %s restated the billed cost of %s: $%.2f -> $%.2f (%s$%.2f)",
                    s.v[i].provider, s.v[i].account, s.v[i].day, old_usd, new_usd,
                    new_usd >= old_usd ? "+" : "-", fabs(new_usd - old_usd));
        k->details = json_pack("{s:f, s:f, s:I}", "old_usd", old_usd, "new_usd", new_usd, "series",
                               (json_int_t)nseries);
    }
out:
    for (size_t i = 0; i < s.n; i++) {
        free(s.v[i].provider);
        free(s.v[i].account);
        free(s.v[i].series);
    }
    free(s.v);
    return rc;
}

/* ---- the rule ---- */

static int ch_init(const struct cfg_rule *rule, const struct config *cfg, void **ctx, char *err,
                   size_t errlen)
{
    (void)cfg;
    struct ch *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const json_t *fc = json_object_get(rule->params, "failing_cycles");
    const char *stale = json_string_value(json_object_get(rule->params, "max_staleness"));
    m->failing_cycles = json_is_integer(fc) ? (long long)json_integer_value(fc) : 3;
    if (tu_parse_duration(stale ? stale : "6h", &m->max_staleness) != 0) {
        snprintf(err, errlen, "rule %s: bad max_staleness \"%s\"", rule->name, stale);
        free(m);
        return -1;
    }
    *ctx = m;
    return 0;
}

static int ch_evaluate(void *ctx, const struct ana_ctx *c, struct ana_results *out, char *err,
                       size_t errlen)
{
    const struct ch *m = ctx;
    for (size_t pi = 0; c->cfg && pi < c->cfg->n_providers; pi++) {
        const struct cfg_provider *p = &c->cfg->providers[pi];
        if (!p->enabled || !ana_provider_ok(c->rule, p->type, p->name))
            continue;
        if (eval_health(m, c, p, out, err, errlen))
            return -1;
    }
    return eval_restatements(c, out, err, errlen);
}

static void ch_destroy(void *ctx)
{
    free(ctx);
}

const struct ana_rule_ops ana_collector_health = {
    .type = "collector_health",
    .init = ch_init,
    .evaluate = ch_evaluate,
    .destroy = ch_destroy,
};
