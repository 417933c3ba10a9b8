/*
 * The table of sink types (sink.h), one line per alerts/<type>.c, and the
 * small message helpers every formatter uses.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink.h"

extern const struct alert_sink_ops alert_sink_slack, alert_sink_webhook, alert_sink_splunk_hec,
    alert_sink_alertmanager, alert_sink_syslog;

static const struct alert_sink_ops *const SINKS[] = {
    &alert_sink_slack,        &alert_sink_webhook, &alert_sink_splunk_hec,
    &alert_sink_alertmanager, &alert_sink_syslog,
};

const struct alert_sink_ops *alert_sink_find(const char *type)
{
    for (size_t i = 0; i < sizeof SINKS / sizeof SINKS[0]; i++) {
        if (strcmp(SINKS[i]->type, type) == 0)
            return SINKS[i];
    }
    return NULL;
}

void alert_msg_free(struct alert_msg *m)
{
    if (!m)
        return;
    free(m->body);
    for (size_t i = 0; i < m->n_headers; i++) {
        size_t n = strlen(m->headers[i]);
        memset(m->headers[i], 0, n); /* headers may carry tokens */
        free(m->headers[i]);
    }
    free(m->url);
    memset(m, 0, sizeof *m);
}

int alert_msg_header(struct alert_msg *m, const char *fmt, ...)
{
    if (m->n_headers == ALERT_MAX_HEADERS)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    char *h = malloc((size_t)n + 1);
    if (!h)
        return -1;
    va_start(ap, fmt);
    vsnprintf(h, (size_t)n + 1, fmt, ap);
    va_end(ap);
    m->headers[m->n_headers++] = h;
    return 0;
}

void alert_wipe_free(char *s)
{
    if (!s)
        return;
    volatile char *p = s;
    while (*p)
        *p++ = 0;
    free(s);
}

int alert_param_secret(const json_t *params, const char *base, char **out, char *err, size_t errlen)
{
    char ke[64], kf[64], why[256];
    snprintf(ke, sizeof ke, "%s_env", base);
    snprintf(kf, sizeof kf, "%s_file", base);
    struct cfg_secret s = {
        .env = (char *)json_string_value(json_object_get(params, ke)),
        .file = (char *)json_string_value(json_object_get(params, kf)),
    };
    *out = NULL;
    if (!s.env && !s.file)
        return 0;
    if (cfg_secret_get(&s, out, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: %s", s.env ? ke : kf, why);
        return -1;
    }
    return 0;
}

int alert_has_ctl(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < ' ' || *s == 0x7f)
            return 1;
    }
    return 0;
}

int alert_severity_rank(const char *severity)
{
    static const char *const names[] = {"info", "warning", "critical"};
    for (int i = 0; severity && i < 3; i++) {
        if (strcmp(severity, names[i]) == 0)
            return i;
    }
    return -1;
}
