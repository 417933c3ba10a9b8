/*
 * The syslog sink (sink.h): one RFC 5424 line per alert whose MSG is an
 * ArcSight CEF event, for SIEMs that ingest syslog. The line carries no
 * framing and no trailing newline; the outbox worker frames it (octet
 * counting on TCP/TLS, one datagram on UDP).
 *
 *   <PRI>1 TIMESTAMP - APP-NAME - MSGID - CEF:0|byokwatch|byokwatch|VER|rule|summary|sev|ext
 *
 * PRI is facility*8 + severity: critical 2 (crit), warning 4, info 6, and
 * 5 (notice) for any resolved alert. CEF severity: info 3, warning 6,
 * critical 9, resolved 1; the alert's own severity is always in cat=.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/strbuf.h"
#include "../common/timeutil.h"
#include "sink.h"

#ifndef BW_VERSION
#define BW_VERSION "0.0.0"
#endif

#define APP_NAME_MAX 48 /* RFC 5424 */
#define MSGID_MAX 32
#define CEF_NAME_MAX 512

struct syslog_sink {
    int facility;
    char app_name[APP_NAME_MAX + 1];
};

static const char *const FACILITIES[24] = {
    "kern",   "user",   "mail",     "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",   "cron",   "authpriv", "ftp",    NULL,     NULL,     NULL,     NULL,
    "local0", "local1", "local2",   "local3", "local4", "local5", "local6", "local7",
};

/* ---- escaping ------------------------------------------------------------ */

/* An RFC 5424 header token: printable ASCII without spaces, 1..max, else "-". */
static void token(struct strbuf *b, const char *s, size_t max)
{
    size_t n = 0;
    for (; s && s[n] && n < max; n++) {
        char c = (s[n] > ' ' && s[n] < 0x7f) ? s[n] : '_';
        sb_putn(b, &c, 1);
    }
    if (n == 0)
        sb_putn(b, "-", 1);
}

/*
 * A CEF header field: backslash and pipe escaped, line breaks and other
 * control characters as spaces, at most max bytes of input (cut at a
 * character boundary).
 */
static void cef_header(struct strbuf *b, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' || s[i] == '|')
            sb_putn(b, "\\", 1);
        sb_putn(b, (unsigned char)s[i] < ' ' ? " " : s + i, 1);
    }
}

/* A CEF extension value: \ = escaped, \n \r written as \n \r, other controls as spaces. */
static void cef_value(struct strbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '=')
            sb_putn(b, "\\", 1);
        if (*s == '\n')
            sb_putn(b, "\\n", 2);
        else if (*s == '\r')
            sb_putn(b, "\\r", 2);
        else
            sb_putn(b, (unsigned char)*s < ' ' ? " " : s, 1);
    }
}

/* " key=value" with value escaped; nothing when value is NULL. */
static void ext(struct strbuf *b, const char *key, const char *value)
{
    if (!value)
        return;
    sb_printf(b, " %s=", key);
    cef_value(b, value);
}

/* " csNLabel=label csN=value"; nothing when value is NULL. */
static void ext_cs(struct strbuf *b, int n, const char *label, const char *value)
{
    if (!value)
        return;
    sb_printf(b, " cs%dLabel=%s cs%d=", n, label, n);
    cef_value(b, value);
}

/* " cfpNLabel=label cfpN=<number>" when o[key] is a number. */
static void ext_cfp(struct strbuf *b, int n, const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_number(v))
        sb_printf(b, " cfp%dLabel=%s cfp%d=%.15g", n, key, n, json_number_value(v));
}

/* " key=<epoch ms>" for an RFC 3339 time; nothing when it does not parse. */
static void ext_ms(struct strbuf *b, const char *key, const char *t)
{
    int64_t s;
    if (t && tu_parse_time(t, &s) == 0)
        sb_printf(b, " %s=%lld", key, (long long)s * 1000);
}

/*
 * The labels as "k=v;k=v" with \ ; = inside names and values escaped by a
 * backslash (the CEF escaping of the whole comes on top).
 */
static void label_list(struct strbuf *b, const json_t *labels)
{
    const char *k;
    json_t *v;
    int first = 1;
    json_object_foreach((json_t *)labels, k, v)
    {
        const char *parts[2] = {k, json_string_value(v)};
        char *dumped = NULL;
        if (!parts[1])
            parts[1] = dumped = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!first)
            sb_putn(b, ";", 1);
        first = 0;
        for (int j = 0; j < 2; j++) {
            for (const char *c = parts[j] ? parts[j] : ""; *c; c++) {
                if (*c == '\\' || *c == ';' || *c == '=')
                    sb_putn(b, "\\", 1);
                sb_putn(b, c, 1);
            }
            if (j == 0)
                sb_putn(b, "=", 1);
        }
        free(dumped);
    }
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---- the sink ------------------------------------------------------------ */

static int syslog_init(const struct cfg_sink *cfg, void **ctx, char *err, size_t errlen)
{
    const char *fac = json_string_value(json_object_get(cfg->params, "facility"));
    const char *app = json_string_value(json_object_get(cfg->params, "app_name"));
    struct syslog_sink *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->facility = fac ? -1 : 16; /* default local0 */
    for (int i = 0; fac && i < 24; i++) {
        if (FACILITIES[i] && strcmp(FACILITIES[i], fac) == 0)
            s->facility = i;
    }
    if (s->facility < 0) {
        snprintf(err, errlen, "facility: unknown facility \"%.32s\"", fac);
        free(s);
        return -1;
    }
    snprintf(s->app_name, sizeof s->app_name, "%s", app && *app ? app : "byokwatch");
    *ctx = s;
    return 0;
}

static void syslog_destroy(void *ctx)
{
    free(ctx);
}

static int syslog_format(void *ctx, const json_t *const *alerts, size_t n, int64_t now,
                         struct alert_msg *out, char *err, size_t errlen)
{
    static const int SYSLOG_SEV[] = {6, 4, 2}, CEF_SEV[] = {3, 6, 9};
    struct syslog_sink *s = ctx;
    struct strbuf b = {0};
    char ts[32];
    int64_t t;
    *out = (struct alert_msg){0};
    if (n != 1 || !alerts || !json_is_object(alerts[0])) {
        snprintf(err, errlen, "the syslog sink sends exactly one alert object per message");
        return -1;
    }
    const json_t *a = alerts[0], *labels = json_object_get(a, "labels");
    const char *status = jstr(a, "status"), *sev = jstr(a, "severity");
    const char *rule = jstr(a, "rule"), *summary = jstr(a, "summary");
    int res = status && strcmp(status, "resolved") == 0, rank = alert_severity_rank(sev);
    int pri_sev = res ? 5 : rank >= 0 ? SYSLOG_SEV[rank] : 5;
    int cef_sev = res ? 1 : rank >= 0 ? CEF_SEV[rank] : 5;
    if (!jstr(a, "generated_at") || tu_parse_time(jstr(a, "generated_at"), &t) < 0)
        t = now;
    tu_format_time(t, ts, sizeof ts);

    sb_printf(&b, "<%d>1 %s - ", s->facility * 8 + pri_sev, ts);
    token(&b, s->app_name, APP_NAME_MAX);
    sb_puts(&b, " - ");
    token(&b, rule, MSGID_MAX);
    sb_puts(&b, " - CEF:0|byokwatch|byokwatch|");
    cef_header(&b, BW_VERSION, 64);
    sb_putn(&b, "|", 1);
    cef_header(&b, rule ? rule : "unknown", 128);
    sb_putn(&b, "|", 1);
    cef_header(&b, summary ? summary : "", CEF_NAME_MAX);
    sb_printf(&b, "|%d|", cef_sev);

    sb_printf(&b, "rt=%lld", (long long)t * 1000);
    ext_ms(&b, "start", jstr(a, "starts_at"));
    if (res)
        ext_ms(&b, "end", jstr(a, "ends_at"));
    ext(&b, "externalId", jstr(a, "id"));
    ext(&b, "act", status);
    ext(&b, "cat", sev);
    ext(&b, "msg", summary);
    ext_cs(&b, 1, "fingerprint", jstr(a, "fingerprint"));
    ext_cs(&b, 2, "status", status);
    ext_cs(&b, 3, "provider", jstr(labels, "provider"));
    ext_cs(&b, 4, "account", jstr(labels, "account"));
    if (json_object_size(labels)) {
        struct strbuf l = {0};
        label_list(&l, labels);
        if (l.oom)
            b.oom = 1;
        else
            ext_cs(&b, 5, "labels", l.p);
        free(l.p);
    }
    ext_cs(&b, 6, "rule_name", jstr(a, "rule_name"));
    const json_t *o = json_object_get(a, "observed");
    ext_cfp(&b, 1, o, "value");
    ext_cfp(&b, 2, o, "baseline");
    ext_cfp(&b, 3, o, "ratio");
    ext_cfp(&b, 4, o, "threshold");
    if (b.oom) {
        free(b.p);
        snprintf(err, errlen, "out of memory formatting the syslog line");
        return -1;
    }
    out->body = b.p;
    out->len = b.len;
    return 0;
}

const struct alert_sink_ops alert_sink_syslog = {
    .type = "syslog",
    .transport = ALERT_SYSLOG,
    .max_batch = 1,
    .init = syslog_init,
    .format = syslog_format,
    .destroy = syslog_destroy,
};
