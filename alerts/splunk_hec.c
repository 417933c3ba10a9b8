/*
 * The Splunk HTTP Event Collector sink (sink.h): POSTs to the collector URL
 * the user gives (e.g. https://splunk:8088/services/collector/event) with
 * "Authorization: Splunk <token>". The body is one HEC event object per
 * alert, newline-separated (HEC takes several events in one request), each
 * {"time", "host", "source", "sourcetype", "index"?, "event": <the alert>}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/timeutil.h"
#include "sink.h"

struct splunk {
    char *url;   /* may come from a secret */
    char *token; /* secret */
    char *host, *source, *sourcetype, *index;
};

static void splunk_destroy(void *ctx)
{
    struct splunk *s = ctx;
    if (!s)
        return;
    alert_wipe_free(s->url);
    alert_wipe_free(s->token);
    free(s->host);
    free(s->source);
    free(s->sourcetype);
    free(s->index);
    free(s);
}

/* strdup of params[key], or of def when absent (def may be NULL). -1 out of memory. */
static int dup_param(const json_t *params, const char *key, const char *def, char **out)
{
    const char *v = json_string_value(json_object_get(params, key));
    if (!v)
        v = def;
    *out = v ? strdup(v) : NULL;
    return v && !*out ? -1 : 0;
}

static int splunk_init(const struct cfg_sink *cfg, void **ctx, char *err, size_t errlen)
{
    const json_t *p = cfg->params;
    struct splunk *s = calloc(1, sizeof *s);
    if (!s)
        goto oom;
    if (dup_param(p, "url", NULL, &s->url) < 0)
        goto oom;
    if (!s->url && alert_param_secret(p, "url", &s->url, err, errlen) < 0)
        goto fail;
    if (!s->url) {
        snprintf(err, errlen, "url: missing (give url, url_env or url_file)");
        goto fail;
    }
    if (alert_has_ctl(s->url) || strchr(s->url, ' ')) {
        snprintf(err, errlen, "url: contains spaces or control characters");
        goto fail;
    }
    if (alert_param_secret(p, "token", &s->token, err, errlen) < 0)
        goto fail;
    if (!s->token) {
        snprintf(err, errlen, "token: missing (give token_env or token_file)");
        goto fail;
    }
    if (alert_has_ctl(s->token)) {
        snprintf(err, errlen, "token: the token contains control characters");
        goto fail;
    }
    if (dup_param(p, "host", "byokwatch", &s->host) < 0 ||
        dup_param(p, "source", "byokwatch", &s->source) < 0 ||
        dup_param(p, "sourcetype", "byokwatch:alert", &s->sourcetype) < 0 ||
        dup_param(p, "index", NULL, &s->index) < 0)
        goto oom;
    *ctx = s;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    splunk_destroy(s);
    return -1;
}

/* One HEC event for alert a; its time is generated_at (now when missing). */
static json_t *event(const struct splunk *s, const json_t *a, int64_t now)
{
    int64_t t;
    const char *gen = json_string_value(json_object_get(a, "generated_at"));
    if (!gen || tu_parse_time(gen, &t) < 0)
        t = now;
    json_t *e = json_pack("{s:I, s:s, s:s, s:s}", "time", (json_int_t)t, "host", s->host, "source",
                          s->source, "sourcetype", s->sourcetype);
    if (e && s->index && json_object_set_new(e, "index", json_string(s->index)) < 0)
        goto fail;
    if (e && json_object_set(e, "event", (json_t *)a) < 0)
        goto fail;
    return e;
fail:
    json_decref(e);
    return NULL;
}

static int splunk_format(void *ctx, const json_t *const *alerts, size_t n, int64_t now,
                         struct alert_msg *out, char *err, size_t errlen)
{
    struct splunk *s = ctx;
    size_t len = 0, cap = 0;
    char *body = NULL;
    *out = (struct alert_msg){0};
    if (n == 0 || !alerts) {
        snprintf(err, errlen, "no alerts to format");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!json_is_object(alerts[i])) {
            snprintf(err, errlen, "alert %zu is not a JSON object", i);
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = event(s, alerts[i], now);
        char *txt = e ? json_dumps(e, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
        json_decref(e);
        if (!txt)
            goto oom;
        size_t tl = strlen(txt), need = len + tl + 2;
        if (need > cap) {
            size_t nc = cap ? cap : 1024;
            while (nc < need)
                nc *= 2;
            char *nb = realloc(body, nc);
            if (!nb) {
                free(txt);
                goto oom;
            }
            body = nb;
            cap = nc;
        }
        if (i > 0)
            body[len++] = '\n';
        memcpy(body + len, txt, tl);
        len += tl;
        body[len] = '\0';
        free(txt);
    }
    out->body = body;
    out->len = len;
    body = NULL;
    if (!(out->url = strdup(s->url)) ||
        alert_msg_header(out, "Content-Type: application/json") < 0 ||
        alert_msg_header(out, "Authorization: Splunk %s", s->token) < 0)
        goto oom;
    return 0;
oom:
    free(body);
    alert_msg_free(out);
    snprintf(err, errlen, "out of memory formatting the HEC request");
    return -1;
}

const struct alert_sink_ops alert_sink_splunk_hec = {
    .type = "splunk_hec",
    .transport = ALERT_HTTP,
    .max_batch = 100,
    .init = splunk_init,
    .format = splunk_format,
    .destroy = splunk_destroy,
};
