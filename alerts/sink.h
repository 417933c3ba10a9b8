/*
 * Alert sinks (INTERFACE.md "The alert"; issue "Alert sinks"): one const
 * struct alert_sink_ops per sink type in alerts/<type>.c, listed in
 * alerts/sinks.c. format() is pure: it turns one or more alert payloads
 * into the message to send. The outbox worker (alerts/outbox.c) does the
 * I/O (HTTP through the daemon's curl multi, or a syslog socket), keeps
 * per-sink order and classifies each attempt as OK, RETRY or DROP.
 */
#ifndef BW_ALERT_SINK_H
#define BW_ALERT_SINK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../collector/config.h"

#define ALERT_MAX_HEADERS 16

enum alert_transport { ALERT_HTTP, ALERT_SYSLOG };

/* One message for a sink. Every pointer is malloc'd and freed by alert_msg_free. */
struct alert_msg {
    char *body; /* the request body (HTTP) or the whole syslog frame payload (one line) */
    size_t len;
    char *headers[ALERT_MAX_HEADERS]; /* "Name: value" lines (HTTP); may hold secrets */
    size_t n_headers;
    char *url; /* the full URL to POST to (HTTP); NULL for syslog */
};

void alert_msg_free(struct alert_msg *m);

/* Appends a header line built with printf formatting. 0 ok, -1 when full or out of memory. */
int alert_msg_header(struct alert_msg *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

struct alert_sink_ops {
    const char *type; /* INTERFACE.md's sink type */
    enum alert_transport transport;
    /*
     * Most alerts one message may carry: 1 for a sink that sends each alert
     * on its own (webhook, syslog); more for sinks whose API takes a list
     * (alertmanager, splunk_hec) or that send a digest (slack).
     */
    size_t max_batch;
    /*
     * Reads the sink's validated params (cfg->params) and its secrets
     * (cfg_secret_get) into a private context. 0 ok, -1 with a message in err
     * that never contains a secret.
     */
    int (*init)(const struct cfg_sink *cfg, void **ctx, char *err, size_t errlen);
    /*
     * Builds the message for alerts[0..n) (INTERFACE.md payloads, each with
     * "status" firing or resolved), at time now (UTC seconds, e.g. for a
     * signature timestamp). Pure: no I/O, no clock. 0 ok, -1 with err.
     */
    int (*format)(void *ctx, const json_t *const *alerts, size_t n, int64_t now,
                  struct alert_msg *out, char *err, size_t errlen);
    void (*destroy)(void *ctx);
};

/* The table in alerts/sinks.c; NULL for an unknown type. */
const struct alert_sink_ops *alert_sink_find(const char *type);

/* Zeroes a secret string, then frees it (NULL is fine). */
void alert_wipe_free(char *s);

/*
 * Reads the sink's secret group base ("<base>_env" or "<base>_file" in
 * params) with cfg_secret_get. 0 with *out NULL when neither is set; -1
 * with a message naming the key (never the value).
 */
int alert_param_secret(const json_t *params, const char *base, char **out, char *err,
                       size_t errlen);

/* 1 when s holds a control character (refused in URLs and header values). */
int alert_has_ctl(const char *s);

/* CEF/syslog severity 0-10 and text helpers the formatters share. */
int alert_severity_rank(const char *severity); /* info 0, warning 1, critical 2, unknown -1 */

#endif
