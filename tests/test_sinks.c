/*
 * Tests for the alert sinks (alerts/sink.h): each sink's format() on the
 * firing and resolved payloads under tests/data/sinks/, checked field by
 * field (JSON parsed back with jansson; the syslog line split into its RFC
 * 5424 fields and CEF header and extensions), the Slack digest and its
 * "and K more" cut, Slack's 10-fields limit and mrkdwn escaping, the webhook
 * signature recomputed here with OpenSSL's EVP_Q_mac, basic auth's base64,
 * CEF escaping, Splunk's concatenated events, Alertmanager's endsAt and URL
 * joining, and that no secret ever reaches a body or an error message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "../alerts/sink.h"
#include "testutil.h"

#define DATA "tests/data/sinks/"
#define NOW 1795780900LL          /* 2026-11-27T12:01:40Z */
#define GEN_FIRING 1795780800LL   /* 2026-11-27T12:00:00Z */
#define GEN_RESOLVED 1795833000LL /* 2026-11-28T02:30:00Z */
#define STARTS 1795737600LL       /* 2026-11-27T00:00:00Z */

#define SLACK_URL "https://hooks.slack.com/services/T0000/B0000/SLACKSECRETxyz"
#define TOKEN "tok-SECRET-8c1f2e"
#define HMAC_KEY "whsec-SECRET-5a7b"

/* ---- helpers ---------------------------------------------------------------- */

static json_t *fixture(const char *name)
{
    char path[256];
    json_error_t e;
    snprintf(path, sizeof path, DATA "%s", name);
    json_t *j = json_load_file(path, JSON_DECODE_ANY, &e);
    if (!j)
        fail_msg("%s:%d: %s", path, e.line, e.text);
    return j;
}

struct sink {
    const struct alert_sink_ops *ops;
    void *ctx;
    json_t *params;
    char err[512];
};

/* Inits a sink of type with params given as JSON text; returns init's result. */
static int sink_open(struct sink *s, const char *type, const char *params)
{
    json_error_t e;
    memset(s, 0, sizeof *s);
    s->ops = alert_sink_find(type);
    assert_non_null(s->ops);
    s->params = json_loads(params, 0, &e);
    if (!s->params)
        fail_msg("params: %s", e.text);
    struct cfg_sink cfg = {
        .type = (char *)type, .name = "t", .min_severity = "info", .params = s->params};
    return s->ops->init(&cfg, &s->ctx, s->err, sizeof s->err);
}

static void sink_close(struct sink *s)
{
    if (s->ctx)
        s->ops->destroy(s->ctx);
    json_decref(s->params);
    memset(s, 0, sizeof *s);
}

static void must_open(struct sink *s, const char *type, const char *params)
{
    if (sink_open(s, type, params) != 0)
        fail_msg("init %s: %s", type, s->err);
}

static void must_format(struct sink *s, const json_t *const *alerts, size_t n, int64_t now,
                        struct alert_msg *m)
{
    memset(m, 0, sizeof *m);
    if (s->ops->format(s->ctx, alerts, n, now, m, s->err, sizeof s->err) != 0)
        fail_msg("format %s: %s", s->ops->type, s->err);
    assert_non_null(m->body);
    assert_int_equal(m->len, strlen(m->body));
}

/* The value of header name (case-insensitive) in m, or NULL. */
static const char *header(const struct alert_msg *m, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < m->n_headers; i++) {
        if (strncasecmp(m->headers[i], name, n) == 0 && m->headers[i][n] == ':')
            return m->headers[i] + n + 1 + (m->headers[i][n + 1] == ' ');
    }
    return NULL;
}

static json_t *body_json(const struct alert_msg *m)
{
    json_error_t e;
    json_t *j = json_loadb(m->body, m->len, 0, &e);
    if (!j)
        fail_msg("body is not JSON (%s): %s", e.text, m->body);
    return j;
}

static const char *js(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("\"%s\" not found in: %s", needle, hay ? hay : "(null)");
}

static void assert_absent(const char *hay, const char *needle)
{
    if (hay && strstr(hay, needle))
        fail_msg("\"%s\" must not appear in: %s", needle, hay);
}

static void assert_prefix(const char *s, const char *prefix)
{
    if (!s || strncmp(s, prefix, strlen(prefix)) != 0)
        fail_msg("\"%s\" does not start with \"%s\"", s ? s : "(null)", prefix);
}

/* ---- the table -------------------------------------------------------------- */

static void test_table(void **state)
{
    (void)state;
    static const struct {
        const char *type;
        enum alert_transport tr;
        size_t max_batch_min, max_batch_max;
    } want[] = {
        {"slack", ALERT_HTTP, 2, 50},        {"webhook", ALERT_HTTP, 1, 1},
        {"splunk_hec", ALERT_HTTP, 2, 1000}, {"alertmanager", ALERT_HTTP, 2, 1000},
        {"syslog", ALERT_SYSLOG, 1, 1},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct alert_sink_ops *o = alert_sink_find(want[i].type);
        assert_non_null(o);
        assert_string_equal(o->type, want[i].type);
        assert_int_equal(o->transport, want[i].tr);
        assert_in_range(o->max_batch, want[i].max_batch_min, want[i].max_batch_max);
        assert_non_null(o->init);
        assert_non_null(o->format);
        assert_non_null(o->destroy);
    }
    assert_null(alert_sink_find("pagerduty"));
}

/* ---- Slack -------------------------------------------------------------------- */

/*
 * Checks Slack's structural limits on every block and returns all their
 * texts joined by newlines (malloc'd), for content checks.
 */
static char *slack_texts(const json_t *doc, size_t *n_fields, size_t *n_sections)
{
    json_t *blocks = json_object_get(doc, "blocks");
    assert_true(json_is_array(blocks));
    assert_in_range(json_array_size(blocks), 1, 50);
    size_t cap = 65536, len = 0;
    char *all = calloc(1, cap);
    size_t i;
    json_t *b;
    *n_fields = *n_sections = 0;
    json_array_foreach(blocks, i, b)
    {
        const char *type = js(b, "type");
        assert_non_null(type);
        const char *t = NULL;
        if (strcmp(type, "header") == 0) {
            assert_string_equal(js(json_object_get(b, "text"), "type"), "plain_text");
            t = js(json_object_get(b, "text"), "text");
            assert_non_null(t);
            assert_in_range(strlen(t), 1, 150);
        } else if (strcmp(type, "section") == 0) {
            (*n_sections)++;
            json_t *fields = json_object_get(b, "fields");
            t = js(json_object_get(b, "text"), "text");
            assert_true(t || fields);
            if (t)
                assert_in_range(strlen(t), 1, 3000);
            if (fields) {
                assert_in_range(json_array_size(fields), 1, 10);
                size_t j;
                json_t *f;
                json_array_foreach(fields, j, f)
                {
                    assert_string_equal(js(f, "type"), "mrkdwn");
                    const char *ft = js(f, "text");
                    assert_in_range(strlen(ft), 1, 2000);
                    len += (size_t)snprintf(all + len, cap - len, "%s\n", ft);
                    (*n_fields)++;
                }
            }
        } else if (strcmp(type, "context") == 0) {
            t = js(json_array_get(json_object_get(b, "elements"), 0), "text");
            assert_non_null(t);
        } else {
            fail_msg("unexpected block type %s", type);
        }
        if (t)
            len += (size_t)snprintf(all + len, cap - len, "%s\n", t);
        assert_true(len < cap);
    }
    return all;
}

static void test_slack_firing(void **state)
{
    (void)state;
    struct sink s;
    struct alert_msg m;
    setenv("BW_TEST_SLACK_URL", SLACK_URL, 1);
    must_open(&s, "slack",
              "{\"url_env\": \"BW_TEST_SLACK_URL\", \"digest_over\": 5, \"channel\": \"#finops\", "
              "\"username\": \"byokwatch\"}");
    json_t *a = fixture("firing.json");
    const json_t *al[] = {a};
    must_format(&s, al, 1, NOW, &m);

    assert_string_equal(m.url, SLACK_URL);
    assert_string_equal(header(&m, "Content-Type"), "application/json");
    assert_absent(m.body, "SLACKSECRET");
    json_t *doc = body_json(&m);
    assert_string_equal(js(doc, "channel"), "#finops");
    assert_string_equal(js(doc, "username"), "byokwatch");
    const char *text = js(doc, "text");
    assert_non_null(text);
    assert_prefix(text, ":rotating_light: [CRITICAL] daily-spend-spike: ");
    assert_contains(text, "proj_eng spent $212.40 in 1d");

    json_t *blocks = json_object_get(doc, "blocks");
    json_t *h = json_array_get(blocks, 0);
    assert_string_equal(js(h, "type"), "header");
    const char *ht = js(json_object_get(h, "text"), "text");
    assert_contains(ht, "CRITICAL");
    assert_contains(ht, "daily-spend-spike");
    assert_absent(ht, "Resolved");

    size_t nf, ns;
    char *all = slack_texts(doc, &nf, &ns);
    assert_int_equal(nf, 3);
    assert_contains(all, "*provider*\nopenai\n");
    assert_contains(all, "*account*\nacme-openai\n");
    assert_contains(all, "*project*\nproj_eng\n");
    assert_contains(all, "openai project proj_eng spent $212.40 in 1d, 3.4x its 14d baseline of "
                         "$62.10");
    assert_contains(all, "$212.40 vs baseline $62.10 (3.42x, threshold 1.5x) over 1d");
    assert_contains(all, "impact $150.30");
    assert_contains(all, "api_key_id: key_eng_ci (81%)");
    assert_contains(all, "model: gpt-4o (<1%)");
    assert_contains(all, "39fd61ab036de769");
    free(all);
    json_decref(doc);
    alert_msg_free(&m);
    json_decref(a);
    sink_close(&s);
}

static void test_slack_resolved(void **state)
{
    (void)state;
    struct sink s;
    struct alert_msg m;
    setenv("BW_TEST_SLACK_URL", SLACK_URL, 1);
    must_open(&s, "slack", "{\"url_env\": \"BW_TEST_SLACK_URL\"}");
    json_t *a = fixture("resolved.json");
    const json_t *al[] = {a};
    must_format(&s, al, 1, NOW, &m);
    json_t *doc = body_json(&m);
    assert_null(json_object_get(doc, "channel"));
    assert_null(json_object_get(doc, "username"));
    const char *text = js(doc, "text");
    assert_prefix(text, ":white_check_mark: Resolved: [CRITICAL] daily-spend-spike: ");
    assert_contains(text, "(open for 1d 2h)");
    assert_absent(text, ":rotating_light:");
    const char *ht =
        js(json_object_get(json_array_get(json_object_get(doc, "blocks"), 0), "text"), "text");
    assert_contains(ht, ":white_check_mark: Resolved: ");
    size_t nf, ns;
    char *all = slack_texts(doc, &nf, &ns);
    assert_contains(all, "Open for 1d 2h, since 2026-11-27T00:00:00Z");
    assert_contains(all, "*project*\nproj_eng");
    free(all);
    json_decref(doc);
    alert_msg_free(&m);
    json_decref(a);
    sink_close(&s);
}

static void test_slack_fields_cap(void **state)
{
    (void)state;
    struct sink s;
    struct alert_msg m;
    setenv("BW_TEST_SLACK_URL", SLACK_URL, 1);
    must_open(&s, "slack", "{\"url_env\": \"BW_TEST_SLACK_URL\"}");
    json_t *a = fixture("firing.json"), *labels = json_object_get(a, "labels");
    for (int i = 0; i < 20; i++) { /* 3 + 20 = 23 labels */
        char k[16], v[16];
        snprintf(k, sizeof k, "l%02d", i);
        snprintf(v, sizeof v, "v%02d", i);
        json_object_set_new(labels, k, json_string(v));
    }
    const json_t *al[] = {a};
    must_format(&s, al, 1, NOW, &m);
    json_t *doc = body_json(&m);
    size_t nf, ns, with_fields = 0, i;
    char *all = slack_texts(doc, &nf, &ns); /* asserts <= 10 fields per section */
    assert_int_equal(nf, 23);
    json_t *b;
    json_array_foreach(json_object_get(doc, "blocks"), i, b)
    {
        if (json_object_get(b, "fields"))
            with_fields++;
    }
    assert_int_equal(with_fields, 3);
    assert_contains(all, "*l19*\nv19");
    free(all);
    json_decref(doc);
    alert_msg_free(&m);
    json_decref(a);
    sink_close(&s);
}

static void test_slack_escapes_mrkdwn(void **state)
{
    (void)state;
    struct sink s;
    struct alert_msg m;
    setenv("BW_TEST_SLACK_URL", SLACK_URL, 1);
    must_open(&s, "slack", "{\"url_env\": \"BW_TEST_SLACK_URL\"}");
    json_t *a = fixture("firing.json");
    json_object_set_new(a, "summary", json_string("project <!channel> & <https://evil|click>"));
    json_object_set_new(json_object_get(a, "labels"), "project", json_string("<@U123>"));
    const json_t *al[] = {a};
    must_format(&s, al, 1, NOW, &m);
    json_t *doc = body_json(&m);
    size_t nf, ns;
    char *all = slack_texts(doc, &nf, &ns);
    assert_contains(all, "project &lt;!channel&gt; &amp; &lt;https://evil|click&gt;");
    assert_contains(all, "&lt;@U123&gt;");
    assert_absent(all, "<!channel>");
    assert_absent(all, "<@U123>");
    assert_absent(js(doc, "text"), "<!channel>");
    free(all);
    json_decref(doc);
    alert_msg_free(&m);

    /* over-long texts are cut to Slack's limits on character boundaries */
    char big[6001];
    for (size_t i = 0; i < 6000; i += 2)
        memcpy(big + i, "\xc3\xa9", 2); /* e-acute */
    big[6000] = '\0';
    json_object_set_new(a, "summary", json_string(big));
    json_object_set_new(a, "rule_name", json_string(big + 5700));
    must_format(&s, al, 1, NOW, &m);
    doc = body_json(&m);              /* valid JSON means valid UTF-8 */
    all = slack_texts(doc, &nf, &ns); /* asserts header <= 150, sections <= 3000 */
    const char *sum =
        js(json_object_get(json_array_get(json_object_get(doc, "blocks"), 1), "text"), "text");
    assert_true(strlen(sum) > 2000); /* cut near the limit, not far below it */
    assert_string_equal(sum + strlen(sum) - 5, "\xc3\xa9\xe2\x80\xa6"); /* cut, with an ellipsis */
    const char *hdr =
        js(json_object_get(json_array_get(json_object_get(doc, "blocks"), 0), "text"), "text");
    assert_string_equal(hdr + strlen(hdr) - 5, "\xc3\xa9\xe2\x80\xa6");
    free(all);
    json_decref(doc);
    alert_msg_free(&m);
    json_decref(a);
    sink_close(&s);
}

/* n copies of the firing alert with distinct rule names and severities. */
static json_t **many(size_t n)
{
    static const char *const sev[] = {"critical", "warning", "info"};
    json_t **v = calloc(n, sizeof *v), *base = fixture("firing.json");
    for (size_t i = 0; i < n; i++) {
        char name[32];
        v[i] = json_deep_copy(base);
        snprintf(name, sizeof name, "rule-%02zu", i);
        json_object_set_new(v[i], "rule_name", json_string(name));
        json_object_set_new(v[i], "severity", json_string(sev[i % 3]));
        if (i == 1)
            json_object_set_new(v[i], "status", json_string("resolved"));
    }
    json_decref(base);
    return v;
}

static void free_many(json_t **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(v[i]);
    free(v);
}

/* Lines in the digest naming "*rule-NN*". */
static size_t digest_lines(const char *all)
{
    size_t n = 0;
    for (const char *p = all; (p = strstr(p, "*rule-")); p++)
        n++;
    return n;
}

static void test_slack_digest(void **state)
{
    (void)state;
    struct sink s;
    struct alert_msg m;
    setenv("BW_TEST_SLACK_URL", SLACK_URL, 1);
    must_open(&s, "slack", "{\"url_env\": \"BW_TEST_SLACK_URL\", \"digest_over\": 5}");
    json_t **v = many(7);
    must_format(&s, (const json_t *const *)v, 7, NOW, &m);
    json_t *doc = body_json(&m);
    const char *ht =
        js(json_object_get(json_array_get(json_object_get(doc, "blocks"), 0), "text"), "text");
    assert_string_equal(ht, "7 byokwatch alerts");
    size_t nf, ns;
    char *all = slack_texts(doc, &nf, &ns);
    assert_int_equal(nf, 0);
    assert_int_equal(digest_lines(all), 7);
    assert_contains(all, ":rotating_light: *rule-00* [CRITICAL]");
    assert_contains(all, ":white_check_mark: *rule-01* [WARNING] resolved");
    assert_contains(all, ":information_source: *rule-02* [INFO]");
    assert_contains(all, "*rule-06*");
    assert_absent(all, "more");
    /* firing: 0 3 6 critical, 4 warning, 2 5 info; 1 resolved */
    assert_string_equal(js(doc, "text"),
                        ":rotating_light: 7 byokwatch alerts (3 critical, 1 warning, 2 info, 1 "
                        "resolved)");
    free(all);
    json_decref(doc);
    alert_msg_free(&m);
    free_many(v, 7);
    sink_close(&s);
}

static void test_slack_digest_cut(void **state)
{
    (void)state;
    struct sink s;
    struct alert_msg m;
    setenv("BW_TEST_SLACK_URL", SLACK_URL, 1);
    must_open(&s, "slack", "{\"url_env\": \"BW_TEST_SLACK_URL\"}");
    size_t n = s.ops->max_batch;
    assert_true(n > 40);
    json_t **v = many(n);
    must_format(&s, (const json_t *const *)v, n, NOW, &m);
    json_t *doc = body_json(&m);
    size_t nf, ns;
    char *all = slack_texts(doc, &nf, &ns);
    assert_int_equal(digest_lines(all), 40);
    assert_contains(all, "*rule-39*");
    assert_absent(all, "*rule-40*");
    char more[32];
    snprintf(more, sizeof more, "and %zu more", n - 40);
    assert_contains(all, more);
    json_t *blocks = json_object_get(doc, "blocks");
    assert_string_equal(js(json_array_get(blocks, json_array_size(blocks) - 1), "type"), "context");
    free(all);
    json_decref(doc);
    alert_msg_free(&m);
    free_many(v, n);
    sink_close(&s);
}

static void test_slack_url_file_and_errors(void **state)
{
    (void)state;
    struct sink s;
    struct alert_msg m;
    char *dir = tu_mkdtemp(), path[512], params[700];
    snprintf(path, sizeof path, "%s/slack_url", dir);
    assert_int_equal(tu_write_file(path, SLACK_URL "\n", 0600), 0);
    snprintf(params, sizeof params, "{\"url_file\": \"%s\"}", path);
    must_open(&s, "slack", params);
    json_t *a = fixture("firing.json");
    const json_t *al[] = {a};
    must_format(&s, al, 1, NOW, &m);
    assert_string_equal(m.url, SLACK_URL);
    assert_absent(m.body, "SLACKSECRET");
    alert_msg_free(&m);
    assert_int_not_equal(s.ops->format(s.ctx, al, 0, NOW, &m, s.err, sizeof s.err), 0);
    sink_close(&s);

    /* an unset variable: init fails and says which */
    unsetenv("BW_TEST_SLACK_UNSET");
    assert_int_not_equal(sink_open(&s, "slack", "{\"url_env\": \"BW_TEST_SLACK_UNSET\"}"), 0);
    assert_contains(s.err, "BW_TEST_SLACK_UNSET");
    sink_close(&s);

    /* a value that is not a URL: the error must not echo it */
    setenv("BW_TEST_SLACK_BAD", "not-a-url-SLACKSECRET", 1);
    assert_int_not_equal(sink_open(&s, "slack", "{\"url_env\": \"BW_TEST_SLACK_BAD\"}"), 0);
    assert_true(s.err[0] != '\0');
    assert_absent(s.err, "SLACKSECRET");
    sink_close(&s);
    json_decref(a);
    tu_rmtree(dir);
    free(dir);
}

/* ---- webhook ------------------------------------------------------------------ */

/* HMAC-SHA256 as lowercase hex through EVP_Q_mac (not the sink's HMAC()). */
static void hmac_hex(const char *key, const void *data, size_t len, char hex[65])
{
    unsigned char md[64];
    size_t mdlen = 0;
    assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, strlen(key), data, len, md,
                              sizeof md, &mdlen));
    assert_int_equal(mdlen, 32);
    for (size_t i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void test_webhook_firing(void **state)
{
    (void)state;
    struct sink s;
    struct alert_msg m;
    must_open(&s, "webhook",
              "{\"url\": \"https://hooks.example.com/byok\", \"headers\": {\"X-Team\": "
              "\"finops\"}}");
    json_t *a = fixture("firing.json");
    const json_t *al[] = {a};
    must_format(&s, al, 1, NOW, &m);
    assert_string_equal(m.url, "https://hooks.example.com/byok");
    /* the payload as given: same fields and values, same key order, compact */
    json_t *doc = body_json(&m);
    assert_true(json_equal(doc, a));
    assert_prefix(m.body, "{\"version\":\"1\",\"id\":\"6f1c2a9e");
    assert_absent(m.body, "\n");
    assert_absent(m.body, "\": ");
    assert_absent(m.body, ", \"");
    assert_contains(m.body, "\"value\":212.4,");
    assert_contains(m.body, "\"ends_at\":null");
    assert_string_equal(header(&m, "Content-Type"), "application/json");
    assert_string_equal(header(&m, "X-Byokwatch-Delivery"), "6f1c2a9e8b7d4c3f0a1b2c3d4e5f6071");
    assert_string_equal(header(&m, "X-Team"), "finops");
    assert_null(header(&m, "Authorization"));
    assert_null(header(&m, "X-Byokwatch-Signature"));
    json_decref(doc);
    alert_msg_free(&m);

    json_t *r = fixture("resolved.json");
    const json_t *rl[] = {r};
    must_format(&s, rl, 1, NOW, &m);
    doc = body_json(&m);
    assert_true(json_equal(doc, r));
    assert_string_equal(js(doc, "status"), "resolved");
    assert_string_equal(js(doc, "ends_at"), "2026-11-28T02:30:00Z");
    json_decref(doc);
    alert_msg_free(&m);

    /* one alert per request */
    const json_t *two[] = {a, r};
    assert_int_not_equal(s.ops->format(s.ctx, two, 2, NOW, &m, s.err, sizeof s.err), 0);
    assert_null(m.body);
    json_decref(r);
    json_decref(a);
    sink_close(&s);
}

static void test_webhook_signature(void **state)
{
    (void)state;
    char hex[65];
    /* the checker itself, on RFC 4231 test case 2 */
    hmac_hex("Jefe", "what do ya want for nothing?", 28, hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    struct sink s;
    struct alert_msg m;
    setenv("BW_TEST_HMAC", HMAC_KEY, 1);
    setenv("BW_TEST_TOKEN", TOKEN, 1);
    must_open(&s, "webhook",
              "{\"url\": \"https://hooks.example.com/byok\", \"hmac_secret_env\": "
              "\"BW_TEST_HMAC\", \"bearer_token_env\": \"BW_TEST_TOKEN\"}");
    json_t *a = fixture("firing.json");
    const json_t *al[] = {a};
    must_format(&s, al, 1, NOW, &m);
    const char *sig = header(&m, "X-Byokwatch-Signature");
    assert_non_null(sig);
    long long t = 0;
    char v1[80] = "";
    assert_int_equal(sscanf(sig, "t=%lld,v1=%64[0-9a-f]", &t, v1), 2);
    assert_int_equal(t, NOW);
    assert_int_equal(strlen(v1), 64);

    size_t n = m.len + 32;
    char *signed_text = malloc(n);
    int k = snprintf(signed_text, n, "%lld.%s", t, m.body);
    hmac_hex(HMAC_KEY, signed_text, (size_t)k, hex);
    assert_string_equal(v1, hex);
    signed_text[k - 2] ^= 1; /* any other body gives another signature */
    hmac_hex(HMAC_KEY, signed_text, (size_t)k, hex);
    assert_string_not_equal(v1, hex);
    free(signed_text);

    assert_string_equal(header(&m, "Authorization"), "Bearer " TOKEN);
    assert_absent(m.body, "SECRET");
    for (size_t i = 0; i < m.n_headers; i++)
        assert_absent(m.headers[i], HMAC_KEY);
    alert_msg_free(&m);

    /* the same alert at another time: another t, another signature */
    must_format(&s, al, 1, NOW + 60, &m);
    assert_int_equal(sscanf(header(&m, "X-Byokwatch-Signature"), "t=%lld,", &t), 1);
    assert_int_equal(t, NOW + 60);
    alert_msg_free(&m);
    json_decref(a);
    sink_close(&s);
}

static void basic_case(const char *user, const char *pass, const char *want)
{
    struct sink s;
    struct alert_msg m;
    char params[512];
    setenv("BW_TEST_BASIC", pass, 1);
    snprintf(params, sizeof params,
             "{\"url_env\": \"BW_TEST_HOOK_URL\", \"basic_user\": \"%s\", "
             "\"basic_password_env\": \"BW_TEST_BASIC\"}",
             user);
    must_open(&s, "webhook", params);
    json_t *a = fixture("firing.json");
    const json_t *al[] = {a};
    must_format(&s, al, 1, NOW, &m);
    assert_string_equal(header(&m, "Authorization"), want);
    assert_string_equal(m.url, "https://hooks.example.com/SECRETPATH");
    if (strlen(pass) > 4) /* short ones occur in any payload */
        assert_absent(m.body, pass);
    assert_absent(m.body, "SECRETPATH");
    alert_msg_free(&m);
    json_decref(a);
    sink_close(&s);
}

static void test_webhook_basic_auth(void **state)
{
    (void)state;
    setenv("BW_TEST_HOOK_URL", "https://hooks.example.com/SECRETPATH", 1);
    basic_case("Aladdin", "open sesame", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    basic_case("a", "b", "Basic YTpi");               /* 3 bytes: no padding */
    basic_case("ab", "c", "Basic YWI6Yw==");          /* 4 bytes: two = */
    basic_case("abc", "d", "Basic YWJjOmQ=");         /* 5 bytes: one = */
    basic_case("\xc3\xa9", "\xff", "Basic w6k6/w=="); /* high bytes, '/' */

    struct sink s;
    assert_int_not_equal(
        sink_open(&s, "webhook",
                  "{\"url\": \"https://h.example.com\", \"basic_user\": \"only-user\"}"),
        0);
    sink_close(&s);
}

/* ---- Splunk HEC ----------------------------------------------------------------- */

/* Splits a body of concatenated JSON objects; returns how many (at most max). */
static size_t split_events(const char *body, json_t **out, size_t max)
{
    size_t n = 0, off = 0, len = strlen(body);
    while (off < len && n < max) {
        while (off < len && (body[off] == '\n' || body[off] == ' '))
            off++;
        if (off == len)
            break;
        json_error_t e;
        out[n] = json_loadb(body + off, len - off, JSON_DISABLE_EOF_CHECK, &e);
        if (!out[n])
            fail_msg("event %zu: %s", n, e.text);
        off += e.position;
        n++;
    }
    return n;
}

static void test_splunk(void **state)
{
    (void)state;
    struct sink s;
    struct alert_msg m;
    setenv("BW_TEST_TOKEN", TOKEN, 1);
    must_open(&s, "splunk_hec",
              "{\"url\": \"https://splunk.example.com:8088/services/collector/event\", "
              "\"token_env\": \"BW_TEST_TOKEN\"}");
    json_t *a = fixture("firing.json"), *r = fixture("resolved.json");
    const json_t *al[] = {a, r};
    must_format(&s, al, 2, NOW, &m);
    assert_string_equal(m.url, "https://splunk.example.com:8088/services/collector/event");
    assert_string_equal(header(&m, "Authorization"), "Splunk " TOKEN);
    assert_string_equal(header(&m, "Content-Type"), "application/json");
    assert_absent(m.body, TOKEN);
    json_t *ev[4] = {0};
    assert_int_equal(split_events(m.body, ev, 4), 2);
    for (int i = 0; i < 2; i++) {
        assert_true(json_is_integer(json_object_get(ev[i], "time")));
        assert_string_equal(js(ev[i], "host"), "byokwatch");
        assert_string_equal(js(ev[i], "source"), "byokwatch");
        assert_string_equal(js(ev[i], "sourcetype"), "byokwatch:alert");
        assert_null(json_object_get(ev[i], "index"));
        assert_true(json_equal(json_object_get(ev[i], "event"), al[i]));
    }
    assert_int_equal(json_integer_value(json_object_get(ev[0], "time")), GEN_FIRING);
    assert_int_equal(json_integer_value(json_object_get(ev[1], "time")), GEN_RESOLVED);
    assert_string_equal(js(json_object_get(ev[1], "event"), "status"), "resolved");
    for (int i = 0; i < 2; i++)
        json_decref(ev[i]);
    alert_msg_free(&m);
    sink_close(&s);

    /* configured metadata, and a payload without generated_at falls back to now */
    must_open(&s, "splunk_hec",
              "{\"url\": \"https://splunk.example.com:8088/services/collector/event\", "
              "\"token_env\": \"BW_TEST_TOKEN\", \"index\": \"sec\", \"host\": \"bw1\", "
              "\"source\": \"byok\", \"sourcetype\": \"bw:alert\"}");
    json_object_del(a, "generated_at");
    must_format(&s, al, 1, NOW, &m);
    assert_int_equal(split_events(m.body, ev, 4), 1);
    assert_string_equal(js(ev[0], "index"), "sec");
    assert_string_equal(js(ev[0], "host"), "bw1");
    assert_string_equal(js(ev[0], "source"), "byok");
    assert_string_equal(js(ev[0], "sourcetype"), "bw:alert");
    assert_int_equal(json_integer_value(json_object_get(ev[0], "time")), NOW);
    json_decref(ev[0]);
    alert_msg_free(&m);
    sink_close(&s);

    /* the token is required */
    assert_int_not_equal(sink_open(&s, "splunk_hec", "{\"url\": \"https://s.example.com\"}"), 0);
    sink_close(&s);
    json_decref(a);
    json_decref(r);
}

/* ---- Alertmanager ----------------------------------------------------------------- */

static void am_url(const char *given, const char *want)
{
    struct sink s;
    struct alert_msg m;
    char params[256];
    snprintf(params, sizeof params, "{\"url\": \"%s\"}", given);
    must_open(&s, "alertmanager", params);
    json_t *a = fixture("firing.json");
    const json_t *al[] = {a};
    must_format(&s, al, 1, NOW, &m);
    assert_string_equal(m.url, want);
    alert_msg_free(&m);
    json_decref(a);
    sink_close(&s);
}

static void test_alertmanager_url(void **state)
{
    (void)state;
    am_url("http://127.0.0.1:9093", "http://127.0.0.1:9093/api/v2/alerts");
    am_url("http://127.0.0.1:9093/", "http://127.0.0.1:9093/api/v2/alerts");
    am_url("https://am.example.com/prefix//", "https://am.example.com/prefix/api/v2/alerts");
    am_url("https://am.example.com/api/v2/alerts", "https://am.example.com/api/v2/alerts");
    am_url("https://am.example.com/api/v2/alerts/", "https://am.example.com/api/v2/alerts");
}

static void test_alertmanager(void **state)
{
    (void)state;
    struct sink s;
    struct alert_msg m;
    setenv("BW_TEST_TOKEN", TOKEN, 1);
    must_open(&s, "alertmanager",
              "{\"url\": \"http://127.0.0.1:9093\", \"generator_url\": "
              "\"https://byok.example.com/alerts\", \"bearer_token_env\": \"BW_TEST_TOKEN\"}");
    json_t *a = fixture("firing.json"), *r = fixture("resolved.json");
    const json_t *al[] = {a, r};
    must_format(&s, al, 2, NOW, &m);
    assert_string_equal(header(&m, "Content-Type"), "application/json");
    assert_string_equal(header(&m, "Authorization"), "Bearer " TOKEN);
    assert_absent(m.body, TOKEN);
    json_t *doc = body_json(&m);
    assert_true(json_is_array(doc));
    assert_int_equal(json_array_size(doc), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *x = json_array_get(doc, i), *l = json_object_get(x, "labels"),
               *an = json_object_get(x, "annotations");
        assert_int_equal(json_object_size(l), 6);
        assert_string_equal(js(l, "alertname"), "daily-spend-spike");
        assert_string_equal(js(l, "rule"), "spend_spike");
        assert_string_equal(js(l, "severity"), "critical");
        assert_string_equal(js(l, "provider"), "openai");
        assert_string_equal(js(l, "account"), "acme-openai");
        assert_string_equal(js(l, "project"), "proj_eng");
        assert_string_equal(js(an, "summary"), js(al[i], "summary"));
        assert_string_equal(js(an, "fingerprint"), "39fd61ab036de769");
        const char *d = js(an, "description");
        assert_contains(d, "Observed $212.40 vs baseline $62.10, ratio 3.42, threshold 1.5x over "
                           "1d; impact $150.30.");
        assert_contains(d, "Root causes: api_key_id=key_eng_ci (81%)");
        if (i == 0)
            assert_contains(d, ", model=gpt-4o (<1%).");
        assert_string_equal(js(x, "startsAt"), "2026-11-27T00:00:00Z");
        assert_string_equal(js(x, "generatorURL"), "https://byok.example.com/alerts");
    }
    assert_null(json_object_get(json_array_get(doc, 0), "endsAt"));
    assert_string_equal(js(json_array_get(doc, 1), "endsAt"), "2026-11-28T02:30:00Z");
    json_decref(doc);
    alert_msg_free(&m);
    sink_close(&s);

    /* no token, no generator: no header, no key; odd label names are made valid */
    must_open(&s, "alertmanager", "{\"url\": \"http://127.0.0.1:9093\"}");
    json_object_set_new(json_object_get(a, "labels"), "api-key.id", json_string("k1"));
    json_object_set_new(json_object_get(a, "labels"), "severity", json_string("spoofed"));
    json_object_set_new(a, "ends_at", json_string("2026-11-27T13:00:00Z")); /* firing: ignored */
    must_format(&s, al, 1, NOW, &m);
    assert_null(header(&m, "Authorization"));
    doc = body_json(&m);
    json_t *x = json_array_get(doc, 0);
    assert_null(json_object_get(x, "generatorURL"));
    assert_null(json_object_get(x, "endsAt"));
    assert_string_equal(js(json_object_get(x, "labels"), "api_key_id"), "k1");
    assert_string_equal(js(json_object_get(x, "labels"), "severity"), "critical");
    json_decref(doc);
    alert_msg_free(&m);
    sink_close(&s);
    json_decref(a);
    json_decref(r);
}

/* ---- syslog / CEF ------------------------------------------------------------------ */

struct syslog_line {
    int pri, version;
    char ts[40], host[64], app[64], procid[32], msgid[64], sd[64];
    const char *msg; /* into the line */
    char *cef[7];    /* unescaped header fields: CEF:0 vendor product version id name severity */
    json_t *ext;     /* extension key -> unescaped value */
};

static void next_token(const char **p, char *out, size_t len)
{
    const char *sp = strchr(*p, ' ');
    assert_non_null(sp);
    size_t n = (size_t)(sp - *p);
    assert_true(n > 0 && n < len);
    memcpy(out, *p, n);
    out[n] = '\0';
    *p = sp + 1;
}

static char *unescape(const char *s, size_t n)
{
    char *o = malloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n) {
            i++;
            o[j++] = s[i] == 'n' ? '\n' : s[i] == 'r' ? '\r' : s[i];
        } else {
            o[j++] = s[i];
        }
    }
    o[j] = '\0';
    return o;
}

/* Parses one RFC 5424 line with a CEF message; fails the test on any deviation. */
static void parse_syslog(const char *line, struct syslog_line *l)
{
    memset(l, 0, sizeof *l);
    assert_null(strchr(line, '\n'));
    assert_null(strchr(line, '\r'));
    int off = 0;
    assert_int_equal(sscanf(line, "<%d>%d %n", &l->pri, &l->version, &off), 2);
    assert_true(off > 0);
    const char *p = line + off;
    next_token(&p, l->ts, sizeof l->ts);
    next_token(&p, l->host, sizeof l->host);
    next_token(&p, l->app, sizeof l->app);
    next_token(&p, l->procid, sizeof l->procid);
    next_token(&p, l->msgid, sizeof l->msgid);
    next_token(&p, l->sd, sizeof l->sd);
    l->msg = p;

    /* the CEF header: seven fields split on unescaped pipes, then the extensions */
    const char *start = p;
    int k = 0;
    for (; *p && k < 7; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            continue;
        }
        if (*p == '|') {
            l->cef[k++] = unescape(start, (size_t)(p - start));
            start = p + 1;
        }
    }
    assert_int_equal(k, 7);
    /* extensions: every unescaped '=' ends a key that starts after a space */
    l->ext = json_object();
    const char *key = start, *eq = NULL;
    for (const char *q = start;; q++) {
        if (*q == '\\' && q[1]) {
            q++;
            continue;
        }
        if (*q != '=' && *q != '\0')
            continue;
        if (*q == '=' && !eq) {
            eq = q;
            continue;
        }
        /* q is the next key's '=' or the end: the value ends at the space before that key */
        const char *vend = q;
        if (*q == '=') {
            while (vend > eq && vend[-1] != ' ')
                vend--;
            assert_true(vend > eq + 1);
            vend--; /* the separating space */
        }
        char k2[64];
        size_t kl = (size_t)(eq - key);
        assert_in_range(kl, 1, sizeof k2 - 1);
        memcpy(k2, key, kl);
        k2[kl] = '\0';
        for (size_t i = 0; i < kl; i++)
            assert_true((k2[i] >= 'a' && k2[i] <= 'z') || (k2[i] >= 'A' && k2[i] <= 'Z') ||
                        (k2[i] >= '0' && k2[i] <= '9'));
        assert_null(json_object_get(l->ext, k2)); /* no key twice */
        char *v = unescape(eq + 1, (size_t)(vend - eq - 1));
        json_object_set_new(l->ext, k2, json_string(v));
        free(v);
        if (*q == '\0')
            break;
        key = vend + 1;
        eq = q;
    }
}

static void free_syslog(struct syslog_line *l)
{
    for (int i = 0; i < 7; i++)
        free(l->cef[i]);
    json_decref(l->ext);
}

static void test_syslog_firing(void **state)
{
    (void)state;
    struct sink s;
    struct alert_msg m;
    struct syslog_line l;
    must_open(&s, "syslog",
              "{\"address\": \"127.0.0.1:514\", \"protocol\": \"udp\", \"facility\": "
              "\"local0\", \"app_name\": \"byokwatch\"}");
    json_t *a = fixture("firing.json");
    const json_t *al[] = {a};
    must_format(&s, al, 1, NOW, &m);
    assert_null(m.url);
    assert_int_equal(m.n_headers, 0);

    /* the whole line against the golden file (BW_VERSION substituted) */
    char *gold = tu_read_file(DATA "firing.syslog"), want[2048];
    assert_non_null(gold);
    char *at = strstr(gold, "@VERSION@");
    assert_non_null(at);
    *at = '\0';
    snprintf(want, sizeof want, "%s%s%s", gold, BW_VERSION, at + 9);
    free(gold);
    assert_string_equal(m.body, want);

    parse_syslog(m.body, &l);
    assert_int_equal(l.pri, 16 * 8 + 2);
    assert_int_equal(l.version, 1);
    assert_string_equal(l.ts, "2026-11-27T12:00:00Z");
    assert_string_equal(l.host, "-");
    assert_string_equal(l.app, "byokwatch");
    assert_string_equal(l.procid, "-");
    assert_string_equal(l.msgid, "spend_spike");
    assert_string_equal(l.sd, "-");
    assert_string_equal(l.cef[0], "CEF:0");
    assert_string_equal(l.cef[1], "byokwatch");
    assert_string_equal(l.cef[2], "byokwatch");
    assert_string_equal(l.cef[3], BW_VERSION);
    assert_string_equal(l.cef[4], "spend_spike");
    assert_string_equal(l.cef[5], js(a, "summary"));
    assert_string_equal(l.cef[6], "9");
    assert_string_equal(js(l.ext, "rt"), "1795780800000");
    assert_string_equal(js(l.ext, "start"), "1795737600000");
    assert_null(json_object_get(l.ext, "end"));
    assert_string_equal(js(l.ext, "externalId"), "6f1c2a9e8b7d4c3f0a1b2c3d4e5f6071");
    assert_string_equal(js(l.ext, "act"), "firing");
    assert_string_equal(js(l.ext, "msg"), js(a, "summary"));
    assert_string_equal(js(l.ext, "cs1Label"), "fingerprint");
    assert_string_equal(js(l.ext, "cs1"), "39fd61ab036de769");
    assert_string_equal(js(l.ext, "cs3"), "openai");
    assert_string_equal(js(l.ext, "cs4"), "acme-openai");
    assert_string_equal(js(l.ext, "cs5"), "provider=openai;account=acme-openai;project=proj_eng");
    assert_string_equal(js(l.ext, "cfp1"), "212.4");
    free_syslog(&l);
    alert_msg_free(&m);
    assert_int_not_equal(s.ops->format(s.ctx, al, 0, NOW, &m, s.err, sizeof s.err), 0);
    sink_close(&s);
    json_decref(a);
}

static void test_syslog_resolved(void **state)
{
    (void)state;
    struct sink s;
    struct alert_msg m;
    struct syslog_line l;
    must_open(&s, "syslog",
              "{\"address\": \"127.0.0.1:514\", \"facility\": \"auth\", \"app_name\": "
              "\"bw watch\"}");
    json_t *r = fixture("resolved.json");
    const json_t *rl[] = {r};
    must_format(&s, rl, 1, NOW, &m);
    parse_syslog(m.body, &l);
    assert_int_equal(l.pri, 4 * 8 + 5); /* auth.notice */
    assert_string_equal(l.ts, "2026-11-28T02:30:00Z");
    assert_string_equal(l.app, "bw_watch");
    assert_string_equal(l.cef[6], "1");
    assert_string_equal(js(l.ext, "act"), "resolved");
    assert_string_equal(js(l.ext, "cs2"), "resolved");
    assert_string_equal(js(l.ext, "cat"), "critical");
    assert_string_equal(js(l.ext, "end"), "1795833000000");
    free_syslog(&l);
    alert_msg_free(&m);
    json_decref(r);

    /* severities of firing alerts: PRI and CEF severity */
    static const struct {
        const char *sev;
        int pri, cef;
    } want[] = {{"info", 4 * 8 + 6, 3}, {"warning", 4 * 8 + 4, 6}, {"critical", 4 * 8 + 2, 9}};
    json_t *a = fixture("firing.json");
    const json_t *al[] = {a};
    for (size_t i = 0; i < 3; i++) {
        json_object_set_new(a, "severity", json_string(want[i].sev));
        must_format(&s, al, 1, NOW, &m);
        parse_syslog(m.body, &l);
        assert_int_equal(l.pri, want[i].pri);
        assert_int_equal(atoi(l.cef[6]), want[i].cef);
        free_syslog(&l);
        alert_msg_free(&m);
    }
    json_decref(a);
    sink_close(&s);
}

static void test_cef_escaping(void **state)
{
    (void)state;
    struct sink s;
    struct alert_msg m;
    struct syslog_line l;
    const char *hostile = "cost a|b \\ c=d\nnext\rline";
    must_open(&s, "syslog", "{\"address\": \"127.0.0.1:514\"}");
    json_t *a = fixture("firing.json");
    json_object_set_new(a, "summary", json_string(hostile));
    json_object_set_new(a, "rule", json_string("x|y"));
    json_object_set_new(json_object_get(a, "labels"), "project", json_string("p=1;q\\2"));
    const json_t *al[] = {a};
    must_format(&s, al, 1, NOW, &m);
    /* escaped forms, literally */
    assert_contains(m.body, "|x\\|y|cost a\\|b \\\\ c=d next line|9|");
    assert_contains(m.body, " msg=cost a|b \\\\ c\\=d\\nnext\\rline cs1Label=");
    parse_syslog(m.body, &l);
    assert_int_equal(l.pri, 130); /* default facility local0 */
    assert_string_equal(l.msgid, "x|y");
    assert_string_equal(l.cef[4], "x|y");
    assert_string_equal(l.cef[5], "cost a|b \\ c=d next line");
    assert_string_equal(js(l.ext, "msg"), hostile);
    assert_string_equal(js(l.ext, "cs5"),
                        "provider=openai;account=acme-openai;project=p\\=1\\;q\\\\2");
    free_syslog(&l);
    alert_msg_free(&m);
    json_decref(a);
    sink_close(&s);
}

/* ---- secrets ---------------------------------------------------------------------- */

static void test_secrets_not_in_errors(void **state)
{
    (void)state;
    struct sink s;
    /* control characters in a token: refused, and the value is not echoed */
    setenv("BW_TEST_BADTOK", "abcSECRET\x01zz", 1);
    assert_int_not_equal(sink_open(&s, "splunk_hec",
                                   "{\"url\": \"https://s.example.com\", \"token_env\": "
                                   "\"BW_TEST_BADTOK\"}"),
                         0);
    assert_true(s.err[0] != '\0');
    assert_absent(s.err, "SECRET");
    sink_close(&s);
    assert_int_not_equal(sink_open(&s, "alertmanager",
                                   "{\"url\": \"https://am.example.com\", \"bearer_token_env\": "
                                   "\"BW_TEST_BADTOK\"}"),
                         0);
    assert_absent(s.err, "SECRET");
    sink_close(&s);
    assert_int_not_equal(sink_open(&s, "webhook",
                                   "{\"url\": \"https://h.example.com\", \"bearer_token_env\": "
                                   "\"BW_TEST_BADTOK\"}"),
                         0);
    assert_absent(s.err, "SECRET");
    sink_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_slack_firing),
        cmocka_unit_test(test_slack_resolved),
        cmocka_unit_test(test_slack_fields_cap),
        cmocka_unit_test(test_slack_escapes_mrkdwn),
        cmocka_unit_test(test_slack_digest),
        cmocka_unit_test(test_slack_digest_cut),
        cmocka_unit_test(test_slack_url_file_and_errors),
        cmocka_unit_test(test_webhook_firing),
        cmocka_unit_test(test_webhook_signature),
        cmocka_unit_test(test_webhook_basic_auth),
        cmocka_unit_test(test_splunk),
        cmocka_unit_test(test_alertmanager_url),
        cmocka_unit_test(test_alertmanager),
        cmocka_unit_test(test_syslog_firing),
        cmocka_unit_test(test_syslog_resolved),
        cmocka_unit_test(test_cef_escaping),
        cmocka_unit_test(test_secrets_not_in_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
