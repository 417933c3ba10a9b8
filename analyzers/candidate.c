/*
 * Small helpers every rule uses to build its results (engine.h): appending
 * candidates, setting labels and the summary, formatting durations, and the
 * median the baseline rules share. Pure; no store access.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

int ana_emit(struct ana_results *r, struct ana_candidate **c)
{
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 8;
        struct ana_candidate *nv = realloc(r->v, nc * sizeof *nv);
        if (!nv)
            return -1;
        r->v = nv;
        r->cap = nc;
    }
    struct ana_candidate *x = &r->v[r->n++];
    memset(x, 0, sizeof *x);
    x->value = x->baseline = x->ratio = x->threshold = x->impact_usd = NAN;
    *c = x;
    return 0;
}

static void copy_cut(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int ana_label(struct ana_candidate *c, const char *name, const char *value)
{
    if (!name || !value || strlen(name) >= ANA_NAME_MAX)
        return -1;
    for (size_t i = 0; i < c->n_labels; i++) {
        if (strcmp(c->labels[i].name, name) == 0) {
            copy_cut(c->labels[i].value, sizeof c->labels[i].value, value);
            return 0;
        }
    }
    if (c->n_labels == ANA_MAX_LABELS)
        return -1;
    copy_cut(c->labels[c->n_labels].name, ANA_NAME_MAX, name);
    copy_cut(c->labels[c->n_labels].value, ANA_VALUE_MAX, value);
    c->n_labels++;
    return 0;
}

const char *ana_label_get(const struct ana_candidate *c, const char *name)
{
    for (size_t i = 0; i < c->n_labels; i++) {
        if (strcmp(c->labels[i].name, name) == 0)
            return c->labels[i].value;
    }
    return NULL;
}

void ana_summary(struct ana_candidate *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->summary, sizeof c->summary, fmt, ap);
    va_end(ap);
    if (n < 0)
        c->summary[0] = '\0';
}

void ana_results_clear(struct ana_results *r)
{
    for (size_t i = 0; i < r->n; i++)
        json_decref(r->v[i].details);
    r->n = 0;
}

void ana_results_free(struct ana_results *r)
{
    ana_results_clear(r);
    free(r->v);
    r->v = NULL;
    r->cap = 0;
}

void ana_fmt_duration(int64_t secs, char *buf, size_t len)
{
    static const struct {
        int64_t s;
        char u;
    } units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (secs != 0 && secs % units[i].s == 0) {
            snprintf(buf, len, "%lld%c", (long long)(secs / units[i].s), units[i].u);
            return;
        }
    }
    snprintf(buf, len, "%llds", (long long)secs);
}

int ana_parse_secs(const void *val, size_t vlen, int64_t *out)
{
    char b[32];
    if (vlen == 0 || vlen >= sizeof b)
        return -1;
    memcpy(b, val, vlen);
    b[vlen] = '\0';
    char *end;
    errno = 0;
    long long x = strtoll(b, &end, 10);
    if (errno || *end)
        return -1;
    *out = (int64_t)x;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double ana_median(double *v, size_t n)
{
    if (n == 0)
        return NAN;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

int ana_provider_ok(const struct cfg_rule *rule, const char *provider, const char *account)
{
    const json_t *list = json_object_get(rule->params, "providers");
    if (!json_is_array(list) || json_array_size(list) == 0)
        return 1;
    size_t i;
    const json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *s = json_string_value(v);
        if (s && ((provider && strcmp(s, provider) == 0) || (account && strcmp(s, account) == 0)))
            return 1;
    }
    return 0;
}

static int in_list(char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++) {
        if (strcmp(list[i], s) == 0)
            return 1;
    }
    return 0;
}

const char *ana_business_unit(const struct config *cfg, const char *project, const char *api_key_id)
{
    for (size_t i = 0; i < cfg->n_units; i++) {
        if (in_list(cfg->units[i].api_keys, cfg->units[i].n_api_keys, api_key_id))
            return cfg->units[i].name;
    }
    for (size_t i = 0; i < cfg->n_units; i++) {
        if (in_list(cfg->units[i].projects, cfg->units[i].n_projects, project))
            return cfg->units[i].name;
    }
    return "Unassigned";
}
