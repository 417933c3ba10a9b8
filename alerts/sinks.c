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

int alert_severity_rank(const char *severity)
{
    static const char *const names[] = {"info", "warning", "critical"};
    for (int i = 0; severity && i < 3; i++) {
        if (strcmp(severity, names[i]) == 0)
            return i;
    }
    return -1;
}
