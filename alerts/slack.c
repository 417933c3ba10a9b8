/*
 * The Slack sink (sink.h): an incoming-webhook POST whose URL is the secret
 * (url_env or url_file). One alert becomes a Block Kit message (headline,
 * summary, labels as fields, observed vs baseline, root causes) with a plain
 * "text" fallback; several alerts in one call become one digest. Everything
 * taken from an alert is escaped for mrkdwn (& < >) so a label value cannot
 * mention @channel or smuggle a link.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/strbuf.h"
#include "../common/timeutil.h"
#include "sink.h"

#define SLACK_MAX_FIELDS 10  /* Slack's limit per section */
#define SLACK_HEADER_MAX 150 /* plain_text in a header block */
#define SLACK_TEXT_MAX 2900  /* a section's text (Slack: 3000) */
#define SLACK_FIELD_MAX 300  /* one field's text (Slack: 2000) */
#define SLACK_MAX_CAUSES 5   /* root causes listed */
#define DIGEST_MAX_LINES 40  /* alerts listed in a digest before "and K more" */
#define DIGEST_LINES_PER_BLOCK 10
#define DIGEST_LINE_MAX 280

struct slack {
    char *url; /* the webhook URL: a secret */
    char *channel;
    char *username;
};

static size_t utf8_len(const unsigned char *p)
{
    size_t n = *p >= 0xF0 ? 4 : *p >= 0xE0 ? 3 : *p >= 0xC0 ? 2 : 1;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return i;
    }
    return n;
}

/*
 * Appends s with & < > escaped for mrkdwn, at most max bytes of output; a
 * longer text is cut at a character boundary and ends with an ellipsis.
 */
static void put_esc(struct strbuf *b, const char *s, size_t max)
{
    size_t full = 0;
    for (const char *p = s; *p; p++)
        full += *p == '&' ? 5 : (*p == '<' || *p == '>') ? 4 : 1;
    int cut = full > max;
    size_t budget = cut ? (max > 3 ? max - 3 : 0) : max, used = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = utf8_len(p);
        const char *rep = (const char *)p;
        size_t rl = n;
        if (*p == '&')
            rep = "&amp;", rl = 5;
        else if (*p == '<')
            rep = "&lt;", rl = 4;
        else if (*p == '>')
            rep = "&gt;", rl = 4;
        if (used + rl > budget)
            break;
        sb_putn(b, rep, rl);
        used += rl;
        p += n;
    }
    if (cut)
        sb_puts(b, "\xE2\x80\xA6");
}

/* ---- reading an alert --------------------------------------------------- */

static const char *jstr(const json_t *o, const char *k, const char *def)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : def;
}

/* A number field of observed, or NAN when absent. */
static double jnum(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static int resolved(const json_t *a)
{
    return strcmp(jstr(a, "status", ""), "resolved") == 0;
}

static const char *sev_emoji(const json_t *a)
{
    if (resolved(a))
        return ":white_check_mark:";
    switch (alert_severity_rank(jstr(a, "severity", NULL))) {
    case 2: return ":rotating_light:";
    case 1: return ":warning:";
    case 0: return ":information_source:";
    default: return ":grey_question:";
    }
}

static void upper(char *buf, size_t len, const char *s)
{
    size_t i = 0;
    for (; len && s[i] && i < len - 1; i++)
        buf[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 'a' + 'A') : s[i];
    if (len)
        buf[i] = '\0';
}

/* "1d 4h", "3h 20m", "45m", "30s". */
static void human_duration(int64_t s, char *buf, size_t len)
{
    long long d = s / TU_DAY, h = s % TU_DAY / 3600, m = s % 3600 / 60;
    if (d && h)
        snprintf(buf, len, "%lldd %lldh", d, h);
    else if (d)
        snprintf(buf, len, "%lldd", d);
    else if (h && m)
        snprintf(buf, len, "%lldh %lldm", h, m);
    else if (h)
        snprintf(buf, len, "%lldh", h);
    else if (m)
        snprintf(buf, len, "%lldm", m);
    else
        snprintf(buf, len, "%llds", (long long)s);
}

/* How long a resolved alert was open, or 0 when its times are missing. */
static int open_for(const json_t *a, char *buf, size_t len)
{
    int64_t s, e;
    if (tu_parse_time(jstr(a, "starts_at", ""), &s) < 0 ||
        tu_parse_time(jstr(a, "ends_at", ""), &e) < 0 || e < s)
        return 0;
    human_duration(e - s, buf, len);
    return 1;
}

/* Digits of |v| rounded to dec places with thousands separators. */
static void grouped(char *buf, size_t len, double v, int dec)
{
    char raw[64];
    snprintf(raw, sizeof raw, "%.*f", dec, fabs(v));
    const char *dot = strchr(raw, '.');
    size_t ints = dot ? (size_t)(dot - raw) : strlen(raw), o = 0;
    for (size_t i = 0; raw[i] && o + 2 < len; i++) {
        if (i > 0 && i < ints && (ints - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = raw[i];
    }
    buf[o] = '\0';
}

/*
 * A value in its unit: usd as "$1,234.56", pct as "12.5%", counts bare,
 * others as "<number> <unit>".
 */
static void amount(char *buf, size_t len, double v, const char *unit)
{
    char num[64];
    const char *sign = v < 0 ? "-" : "";
    if (unit && strcmp(unit, "usd") == 0) {
        grouped(num, sizeof num, v, 2);
        snprintf(buf, len, "%s$%s", sign, num);
        return;
    }
    if (fabs(v) < 1e15 && v == floor(v))
        grouped(num, sizeof num, v, 0);
    else
        snprintf(num, sizeof num, "%.3g", fabs(v));
    if (unit && strcmp(unit, "pct") == 0)
        snprintf(buf, len, "%s%s%%", sign, num);
    else if (!unit || !*unit || strcmp(unit, "count") == 0)
        snprintf(buf, len, "%s%s", sign, num);
    else
        snprintf(buf, len, "%s%s %s", sign, num, unit);
}

/*
 * The observed line, e.g. "$212.40 vs baseline $62.10 (3.42x, threshold
 * 1.5x) over 1d, impact $150.30". Only spend_spike's threshold is a ratio;
 * every other rule states it in the observed unit.
 */
static void observed_line(struct strbuf *b, const json_t *a)
{
    const json_t *o = json_object_get(a, "observed");
    const char *unit = jstr(o, "unit", NULL), *window = jstr(o, "window", NULL);
    double v = jnum(o, "value"), base = jnum(o, "baseline"), ratio = jnum(o, "ratio"),
           th = jnum(o, "threshold"), impact = jnum(o, "impact_usd");
    char x[96];
    if (isnan(v))
        return;
    amount(x, sizeof x, v, unit);
    sb_puts(b, "*Observed:* ");
    put_esc(b, x, sizeof x);
    if (!isnan(base)) {
        amount(x, sizeof x, base, unit);
        sb_puts(b, " vs baseline ");
        put_esc(b, x, sizeof x);
    }
    if (!isnan(ratio) || !isnan(th)) {
        sb_puts(b, " (");
        if (!isnan(ratio))
            sb_printf(b, "%.2fx", ratio);
        if (!isnan(th)) {
            if (strcmp(jstr(a, "rule", ""), "spend_spike") == 0)
                snprintf(x, sizeof x, "%gx", th);
            else
                amount(x, sizeof x, th, unit);
            sb_puts(b, isnan(ratio) ? "threshold " : ", threshold ");
            put_esc(b, x, sizeof x);
        }
        sb_puts(b, ")");
    }
    if (window) {
        sb_puts(b, " over ");
        put_esc(b, window, 32);
    }
    if (!isnan(impact)) {
        amount(x, sizeof x, impact, "usd");
        sb_puts(b, ", impact ");
        sb_puts(b, x);
    }
}

/* A label's value as text (labels are strings; anything else is shown as JSON). */
static char *label_text(const json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* ---- Block Kit ---------------------------------------------------------- */

static json_t *mrkdwn(const char *text)
{
    return text ? json_pack("{s:s, s:s}", "type", "mrkdwn", "text", text) : NULL;
}

static json_t *section(const char *text)
{
    return text ? json_pack("{s:s, s:o}", "type", "section", "text", mrkdwn(text)) : NULL;
}

static json_t *header(const char *text)
{
    return text ? json_pack("{s:s, s:{s:s, s:s, s:b}}", "type", "header", "text", "type",
                            "plain_text", "text", text, "emoji", 1)
                : NULL;
}

static json_t *context(const char *text)
{
    return text ? json_pack("{s:s, s:[o]}", "type", "context", "elements", mrkdwn(text)) : NULL;
}

/* Appends blk to blocks (stealing it); -1 when blk is NULL or on failure. */
static int add(json_t *blocks, json_t *blk)
{
    return blk ? json_array_append_new(blocks, blk) : -1;
}

/* Labels as sections of at most SLACK_MAX_FIELDS fields each. */
static int label_sections(json_t *blocks, const json_t *labels)
{
    const char *k;
    json_t *v, *fields = NULL;
    json_object_foreach((json_t *)labels, k, v)
    {
        if (!fields || json_array_size(fields) == SLACK_MAX_FIELDS) {
            fields = json_array();
            if (add(blocks, json_pack("{s:s, s:o}", "type", "section", "fields", fields)) < 0)
                return -1;
        }
        char *val = label_text(v);
        struct strbuf t = {0};
        sb_puts(&t, "*");
        put_esc(&t, k, 64);
        sb_puts(&t, "*\n");
        put_esc(&t, val ? val : "", SLACK_FIELD_MAX - 70);
        free(val);
        int rc = add(fields, mrkdwn(sb_str(&t)));
        free(t.p);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static void causes_text(struct strbuf *b, const json_t *causes)
{
    size_t n = json_array_size(causes);
    if (n == 0)
        return;
    sb_puts(b, "*Root causes:*");
    for (size_t i = 0; i < n && i < SLACK_MAX_CAUSES; i++) {
        const json_t *c = json_array_get(causes, i);
        char *val = label_text(json_object_get(c, "value"));
        double share = jnum(c, "share");
        sb_puts(b, "\n\xE2\x80\xA2 ");
        put_esc(b, jstr(c, "label", "?"), 64);
        sb_puts(b, ": ");
        put_esc(b, val ? val : "", 200);
        free(val);
        if (!isnan(share)) {
            if (share > 0 && share < 0.01)
                sb_puts(b, " (<1%)");
            else
                sb_printf(b, " (%.0f%%)", share * 100);
        }
    }
    if (n > SLACK_MAX_CAUSES)
        sb_printf(b, "\n\xE2\x80\xA2 and %zu more", n - SLACK_MAX_CAUSES);
}

/* Appends one section built by the caller in t (freed here). */
static int add_text(json_t *blocks, struct strbuf *t)
{
    int rc = t->len ? add(blocks, section(sb_str(t))) : 0;
    if (t->oom)
        rc = -1;
    free(t->p);
    memset(t, 0, sizeof *t);
    return rc;
}

static json_t *single(const json_t *a, struct strbuf *text)
{
    char sev[16], dur[48];
    int res = resolved(a), has_dur = res && open_for(a, dur, sizeof dur);
    const char *rule_name = jstr(a, "rule_name", jstr(a, "rule", "alert"));
    json_t *doc = json_object(), *blocks = json_array();
    struct strbuf t = {0};
    upper(sev, sizeof sev, jstr(a, "severity", "unknown"));

    /* fallback text */
    sb_printf(text, "%s %s[%s] ", sev_emoji(a), res ? "Resolved: " : "", sev);
    put_esc(text, rule_name, 100);
    sb_puts(text, ": ");
    put_esc(text, jstr(a, "summary", ""), 1000);
    if (has_dur)
        sb_printf(text, " (open for %s)", dur);

    if (!doc || json_object_set_new(doc, "blocks", blocks) < 0)
        goto fail;
    sb_printf(&t, "%s %s[%s] ", sev_emoji(a), res ? "Resolved: " : "", sev);
    sb_puts(&t, rule_name);
    if (t.oom || add(blocks, header(t.len > SLACK_HEADER_MAX ? NULL : t.p)) < 0) {
        /* too long for a header block: cut the rule name */
        free(t.p);
        memset(&t, 0, sizeof t);
        sb_printf(&t, "%s %s[%s] ", sev_emoji(a), res ? "Resolved: " : "", sev);
        size_t room = t.len < SLACK_HEADER_MAX - 4 ? SLACK_HEADER_MAX - 4 - t.len : 0, k = 0;
        while (rule_name[k] && k + utf8_len((const unsigned char *)rule_name + k) <= room)
            k += utf8_len((const unsigned char *)rule_name + k);
        sb_putn(&t, rule_name, k);
        sb_puts(&t, "\xE2\x80\xA6");
        if (add(blocks, header(sb_str(&t))) < 0)
            goto fail;
    }
    free(t.p);
    memset(&t, 0, sizeof t);

    if (res)
        sb_puts(&t, "*Resolved:* ");
    put_esc(&t, jstr(a, "summary", ""), SLACK_TEXT_MAX - 200);
    if (has_dur) {
        sb_printf(&t, "\nOpen for %s, since ", dur);
        put_esc(&t, jstr(a, "starts_at", ""), 40);
    }
    if (add_text(blocks, &t) < 0)
        goto fail;
    if (label_sections(blocks, json_object_get(a, "labels")) < 0)
        goto fail;
    observed_line(&t, a);
    if (add_text(blocks, &t) < 0)
        goto fail;
    if (!res) {
        causes_text(&t, json_object_get(a, "root_causes"));
        if (add_text(blocks, &t) < 0)
            goto fail;
    }
    sb_puts(&t, "byokwatch \xC2\xB7 rule ");
    put_esc(&t, jstr(a, "rule", "?"), 64);
    sb_puts(&t, " \xC2\xB7 fingerprint ");
    put_esc(&t, jstr(a, "fingerprint", "?"), 64);
    sb_puts(&t, " \xC2\xB7 ");
    put_esc(&t, jstr(a, "generated_at", ""), 40);
    if (add(blocks, context(sb_str(&t))) < 0)
        goto fail;
    free(t.p);
    return doc;
fail:
    free(t.p);
    json_decref(doc);
    return NULL;
}

static json_t *digest(const json_t *const *alerts, size_t n, struct strbuf *text)
{
    size_t counts[3] = {0}, n_res = 0;
    int top = -1;
    for (size_t i = 0; i < n; i++) {
        int r = alert_severity_rank(jstr(alerts[i], "severity", NULL));
        if (resolved(alerts[i]))
            n_res++;
        else if (r >= 0) {
            counts[r]++;
            top = r > top ? r : top;
        }
    }
    struct strbuf t = {0};
    static const char *const names[] = {"info", "warning", "critical"};
    for (int r = 2; r >= 0; r--) {
        if (counts[r])
            sb_printf(&t, "%s%zu %s", t.len ? ", " : "", counts[r], names[r]);
    }
    if (n_res)
        sb_printf(&t, "%s%zu resolved", t.len ? ", " : "", n_res);
    static const char *const emoji[] = {":information_source:", ":warning:", ":rotating_light:"};
    sb_printf(text, "%s %zu byokwatch alerts (%s)", top >= 0 ? emoji[top] : ":white_check_mark:", n,
              t.p ? t.p : "");
    free(t.p);
    memset(&t, 0, sizeof t);

    json_t *doc = json_object(), *blocks = json_array();
    char title[64];
    snprintf(title, sizeof title, "%zu byokwatch alerts", n);
    if (!doc || json_object_set_new(doc, "blocks", blocks) < 0 || add(blocks, header(title)) < 0)
        goto fail;
    size_t shown = n < DIGEST_MAX_LINES ? n : DIGEST_MAX_LINES;
    for (size_t i = 0; i < shown; i++) {
        const json_t *a = alerts[i];
        char sev[16];
        upper(sev, sizeof sev, jstr(a, "severity", "unknown"));
        size_t start = t.len;
        sb_printf(&t, "%s%s *", t.len ? "\n" : "", sev_emoji(a));
        put_esc(&t, jstr(a, "rule_name", jstr(a, "rule", "alert")), 80);
        sb_printf(&t, "* [%s]%s \xE2\x80\x94 ", sev, resolved(a) ? " resolved" : "");
        size_t used = t.len - start;
        put_esc(&t, jstr(a, "summary", ""), used < DIGEST_LINE_MAX ? DIGEST_LINE_MAX - used : 3);
        if ((i + 1) % DIGEST_LINES_PER_BLOCK == 0 && add_text(blocks, &t) < 0)
            goto fail;
    }
    if (add_text(blocks, &t) < 0)
        goto fail;
    if (n > shown) {
        sb_printf(&t, "\xE2\x80\xA6 and %zu more", n - shown);
        if (add(blocks, context(sb_str(&t))) < 0)
            goto fail;
        free(t.p);
    }
    return doc;
fail:
    free(t.p);
    json_decref(doc);
    return NULL;
}

/* ---- the sink ------------------------------------------------------------ */

static void slack_destroy(void *ctx)
{
    struct slack *s = ctx;
    if (!s)
        return;
    alert_wipe_free(s->url);
    free(s->channel);
    free(s->username);
    free(s);
}

static int dup_param(const json_t *params, const char *key, char **out)
{
    const char *v = json_string_value(json_object_get(params, key));
    *out = NULL;
    return v && !(*out = strdup(v)) ? -1 : 0;
}

static int slack_init(const struct cfg_sink *cfg, void **ctx, char *err, size_t errlen)
{
    const json_t *p = cfg->params;
    struct slack *s = calloc(1, sizeof *s);
    char why[256];
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *plain = json_string_value(json_object_get(p, "url"));
    struct cfg_secret sec = {
        .env = (char *)json_string_value(json_object_get(p, "url_env")),
        .file = (char *)json_string_value(json_object_get(p, "url_file")),
    };
    if (plain) {
        if (!(s->url = strdup(plain))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    } else if (cfg_secret_get(&sec, &s->url, why, sizeof why) < 0) {
        snprintf(err, errlen, "url: %s", why);
        goto fail;
    }
    if (strncmp(s->url, "https://", 8) != 0 && strncmp(s->url, "http://", 7) != 0) {
        snprintf(err, errlen, "url: the webhook URL is not an http(s) URL");
        goto fail;
    }
    for (const char *c = s->url; *c; c++) {
        if ((unsigned char)*c <= ' ') {
            snprintf(err, errlen, "url: the webhook URL contains spaces or control characters");
            goto fail;
        }
    }
    if (dup_param(p, "channel", &s->channel) < 0 || dup_param(p, "username", &s->username) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    *ctx = s;
    return 0;
fail:
    slack_destroy(s);
    return -1;
}

/*
 * One alert: its Block Kit message. Several: one digest ("N byokwatch
 * alerts", a line per alert, at most DIGEST_MAX_LINES, then "and K more").
 */
static int slack_format(void *ctx, const json_t *const *alerts, size_t n, int64_t now,
                        struct alert_msg *out, char *err, size_t errlen)
{
    struct slack *s = ctx;
    struct strbuf text = {0};
    json_t *doc = NULL;
    (void)now;
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
    doc = n == 1 ? single(alerts[0], &text) : digest(alerts, n, &text);
    if (!doc || !sb_str(&text) || json_object_set_new(doc, "text", json_string(text.p)) < 0 ||
        (s->channel && json_object_set_new(doc, "channel", json_string(s->channel)) < 0) ||
        (s->username && json_object_set_new(doc, "username", json_string(s->username)) < 0))
        goto oom;
    out->body = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    out->url = strdup(s->url);
    if (!out->body || !out->url || alert_msg_header(out, "Content-Type: application/json") < 0)
        goto oom;
    out->len = strlen(out->body);
    json_decref(doc);
    free(text.p);
    return 0;
oom:
    json_decref(doc);
    free(text.p);
    alert_msg_free(out);
    snprintf(err, errlen, "out of memory formatting the Slack message");
    return -1;
}

const struct alert_sink_ops alert_sink_slack = {
    .type = "slack",
    .transport = ALERT_HTTP,
    .max_batch = 50,
    .init = slack_init,
    .format = slack_format,
    .destroy = slack_destroy,
};
