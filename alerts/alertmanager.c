/*
 * The Prometheus Alertmanager sink (sink.h): POSTs a batch of alerts to the
 * client API, <url>/api/v2/alerts, as a JSON array of {labels, annotations,
 * startsAt, endsAt (resolved only), generatorURL}. The labels are the
 * alert's own plus alertname (the rule name), rule (its type) and severity,
 * so Alertmanager's identity of an alert matches byokwatch's fingerprint.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink.h"

#define AM_PATH "/api/v2/alerts"

struct am {
    char *url;  /* the full .../api/v2/alerts URL; may come from a secret */
    char *auth; /* "Bearer <token>" or NULL */
    char *gen;  /* generator_url, or NULL */
};

static void am_destroy(void *ctx)
{
    struct am *a = ctx;
    if (!a)
        return;
    alert_wipe_free(a->url);
    alert_wipe_free(a->auth);
    free(a->gen);
    free(a);
}

/*
 * base with trailing slashes removed and AM_PATH appended, unless it already
 * ends with AM_PATH. A new string, or NULL when out of memory.
 */
static char *join_url(const char *base)
{
    size_t n = strlen(base), pl = strlen(AM_PATH);
    while (n > 0 && base[n - 1] == '/')
        n--;
    int has = n >= pl && memcmp(base + n - pl, AM_PATH, pl) == 0;
    char *u = malloc(n + pl + 1);
    if (!u)
        return NULL;
    memcpy(u, base, n);
    memcpy(u + n, AM_PATH, has ? 0 : pl);
    u[n + (has ? 0 : pl)] = '\0';
    return u;
}

static int am_init(const struct cfg_sink *cfg, void **ctx, char *err, size_t errlen)
{
    const json_t *p = cfg->params;
    struct am *a = calloc(1, sizeof *a);
    char *base = NULL, *tok = NULL;
    if (!a)
        goto oom;
    const char *plain = json_string_value(json_object_get(p, "url"));
    if (plain) {
        if (!(base = strdup(plain)))
            goto oom;
    } else if (alert_param_secret(p, "url", &base, err, errlen) < 0) {
        goto fail;
    } else if (!base) {
        snprintf(err, errlen, "url: missing (give url, url_env or url_file)");
        goto fail;
    }
    if (alert_has_ctl(base) || strchr(base, ' ')) {
        snprintf(err, errlen, "url: contains spaces or control characters");
        goto fail;
    }
    if (!(a->url = join_url(base)))
        goto oom;
    if (alert_param_secret(p, "bearer_token", &tok, err, errlen) < 0)
        goto fail;
    if (tok) {
        if (alert_has_ctl(tok)) {
            snprintf(err, errlen, "bearer_token: the token contains control characters");
            goto fail;
        }
        size_t n = strlen(tok) + sizeof "Bearer ";
        if (!(a->auth = malloc(n)))
            goto oom;
        snprintf(a->auth, n, "Bearer %s", tok);
    }
    const char *gen = json_string_value(json_object_get(p, "generator_url"));
    if (gen && !(a->gen = strdup(gen)))
        goto oom;
    alert_wipe_free(base);
    alert_wipe_free(tok);
    *ctx = a;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    alert_wipe_free(base);
    alert_wipe_free(tok);
    am_destroy(a);
    return -1;
}

/* ---- the alert ------------------------------------------------------------ */

static const char *jstr(const json_t *o, const char *k, const char *def)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : def;
}

static double jnum(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

struct sb {
    char buf[2048];
    size_t len;
    int full; /* a cut happened: append nothing more */
};

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sb *b, const char *fmt, ...)
{
    if (b->full)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->buf + b->len, sizeof b->buf - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    b->len += (size_t)n;
    if (b->len < sizeof b->buf - 1)
        return;
    /* cut: drop a last character that vsnprintf split */
    size_t end = sizeof b->buf - 1, lead = end;
    while (lead > 0 && ((unsigned char)b->buf[lead - 1] & 0xC0) == 0x80)
        lead--;
    if (lead > 0) {
        unsigned char c = (unsigned char)b->buf[lead - 1];
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (end - (lead - 1) < need)
            end = lead - 1;
    }
    b->len = end;
    b->buf[end] = '\0';
    b->full = 1;
}

static void amount(struct sb *b, double v, const char *unit)
{
    if (unit && strcmp(unit, "usd") == 0)
        sb_printf(b, "%s$%.2f", v < 0 ? "-" : "", fabs(v));
    else if (unit && strcmp(unit, "pct") == 0)
        sb_printf(b, "%g%%", v);
    else if (unit && *unit && strcmp(unit, "count") != 0)
        sb_printf(b, "%g %s", v, unit);
    else
        sb_printf(b, "%g", v);
}

/*
 * The description annotation: observed vs baseline, ratio, threshold,
 * window, impact and root causes as one paragraph. Only spend_spike's
 * threshold is a ratio; other rules state it in the observed unit.
 */
static void describe(struct sb *b, const json_t *a)
{
    const json_t *o = json_object_get(a, "observed"), *causes = json_object_get(a, "root_causes");
    const char *unit = jstr(o, "unit", NULL), *window = jstr(o, "window", NULL);
    double v = jnum(o, "value"), base = jnum(o, "baseline"), ratio = jnum(o, "ratio"),
           th = jnum(o, "threshold"), impact = jnum(o, "impact_usd");
    if (!isnan(v)) {
        sb_printf(b, "Observed ");
        amount(b, v, unit);
        if (!isnan(base)) {
            sb_printf(b, " vs baseline ");
            amount(b, base, unit);
        }
        if (!isnan(ratio))
            sb_printf(b, ", ratio %.2f", ratio);
        if (!isnan(th)) {
            sb_printf(b, ", threshold ");
            if (strcmp(jstr(a, "rule", ""), "spend_spike") == 0)
                sb_printf(b, "%gx", th);
            else
                amount(b, th, unit);
        }
        if (window)
            sb_printf(b, " over %s", window);
        if (!isnan(impact))
            sb_printf(b, "; impact $%.2f", impact);
        sb_printf(b, ".");
    }
    for (size_t i = 0; i < json_array_size(causes); i++) {
        const json_t *c = json_array_get(causes, i);
        double share = jnum(c, "share");
        sb_printf(b, "%s%s=%s", i ? ", " : (b->len ? " Root causes: " : "Root causes: "),
                  jstr(c, "label", "?"), jstr(c, "value", "?"));
        if (!isnan(share) && share > 0 && share < 0.01)
            sb_printf(b, " (<1%%)");
        else if (!isnan(share))
            sb_printf(b, " (%.0f%%)", share * 100);
    }
    if (json_array_size(causes))
        sb_printf(b, ".");
}

/* A label name Alertmanager accepts: [a-zA-Z_][a-zA-Z0-9_]*, others mapped to '_'. */
static void label_name(char *out, size_t len, const char *k)
{
    size_t i = 0;
    for (; k[i] && i + 1 < len; i++) {
        char c = k[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (i > 0 && c >= '0' && c <= '9');
        out[i] = ok ? c : '_';
    }
    out[i] = '\0';
}

static json_t *am_alert(const struct am *ctx, const json_t *a)
{
    json_t *labels = json_object(), *ann = json_object();
    json_t *o = json_pack("{s:o, s:o}", "labels", labels, "annotations", ann);
    const char *k;
    json_t *v;
    if (!o)
        return NULL;
    json_object_foreach(json_object_get(a, "labels"), k, v)
    {
        char name[128];
        label_name(name, sizeof name, k);
        char *val = json_is_string(v) ? strdup(json_string_value(v))
                                      : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        int rc = !val ? -1 : *val ? json_object_set_new(labels, name, json_string(val)) : 0;
        free(val);
        if (rc < 0)
            goto fail;
    }
    struct sb d = {.len = 0};
    describe(&d, a);
    const char *ends = jstr(a, "ends_at", NULL);
    if (json_object_set_new(labels, "alertname",
                            json_string(jstr(a, "rule_name", jstr(a, "rule", "byokwatch")))) < 0 ||
        json_object_set_new(labels, "rule", json_string(jstr(a, "rule", "unknown"))) < 0 ||
        json_object_set_new(labels, "severity", json_string(jstr(a, "severity", "unknown"))) < 0 ||
        json_object_set_new(ann, "summary", json_string(jstr(a, "summary", ""))) < 0 ||
        (d.len && json_object_set_new(ann, "description", json_string(d.buf)) < 0) ||
        json_object_set_new(ann, "fingerprint", json_string(jstr(a, "fingerprint", ""))) < 0)
        goto fail;
    if (jstr(a, "starts_at", NULL) &&
        json_object_set_new(o, "startsAt", json_string(jstr(a, "starts_at", NULL))) < 0)
        goto fail;
    if (strcmp(jstr(a, "status", ""), "resolved") == 0 && ends &&
        json_object_set_new(o, "endsAt", json_string(ends)) < 0)
        goto fail;
    if (ctx->gen && json_object_set_new(o, "generatorURL", json_string(ctx->gen)) < 0)
        goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

static int am_format(void *ctx, const json_t *const *alerts, size_t n, int64_t now,
                     struct alert_msg *out, char *err, size_t errlen)
{
    struct am *am = ctx;
    json_t *arr = NULL;
    (void)now;
    *out = (struct alert_msg){0};
    if (n == 0 || !alerts) {
        snprintf(err, errlen, "no alerts to format");
        return -1;
    }
    if (!(arr = json_array()))
        goto oom;
    for (size_t i = 0; i < n; i++) {
        if (!json_is_object(alerts[i])) {
            json_decref(arr);
            snprintf(err, errlen, "alert %zu is not a JSON object", i);
            return -1;
        }
        json_t *x = am_alert(am, alerts[i]);
        if (!x || json_array_append_new(arr, x) < 0)
            goto oom;
    }
    out->body = json_dumps(arr, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(arr);
    arr = NULL;
    if (!out->body || !(out->url = strdup(am->url)))
        goto oom;
    out->len = strlen(out->body);
    if (alert_msg_header(out, "Content-Type: application/json") < 0 ||
        (am->auth && alert_msg_header(out, "Authorization: %s", am->auth) < 0))
        goto oom;
    return 0;
oom:
    json_decref(arr);
    alert_msg_free(out);
    snprintf(err, errlen, "out of memory formatting the Alertmanager request");
    return -1;
}

const struct alert_sink_ops alert_sink_alertmanager = {
    .type = "alertmanager",
    .transport = ALERT_HTTP,
    .max_batch = 100,
    .init = am_init,
    .format = am_format,
    .destroy = am_destroy,
};
