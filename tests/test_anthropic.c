/*
 * Unit tests for collector/anthropic.c: the endpoint table, URL and header
 * building, and the pure parse step on Anthropic's published examples
 * (tests/data/anthropic, provenance in SOURCES.md), crafted pages that
 * cover nulls, merging and fractions, and hostile input (truncated, empty,
 * HTML, wrong types, bad amounts and times, deep nesting, stuck cursors).
 * Run from the repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <math.h>

#include "../collector/anthropic.h"
#include "testutil.h"

#define DATA "tests/data/anthropic/"
#define ACCOUNT "acme-claude"

/* ---- helpers ---- */

static const struct col_endpoint *ep_named(const char *name)
{
    for (size_t i = 0; i < col_anthropic_poller.n_endpoints; i++)
        if (strcmp(col_anthropic_poller.endpoints[i].name, name) == 0)
            return &col_anthropic_poller.endpoints[i];
    fail_msg("no endpoint %s", name);
    return NULL;
}

/* Parses body for endpoint epname with request cursor page. */
static int parse_n(const char *epname, const char *page, const char *body, size_t len,
                   struct col_out *out, char *err, size_t errlen)
{
    struct col_request req = {.ep = ep_named(epname), .page = page};
    struct col_parse_ctx ctx = {.provider = "anthropic", .account = ACCOUNT, .req = &req};
    memset(out, 0, sizeof *out);
    return col_anthropic_poller.parse(&ctx, body, len, out, err, errlen);
}

static int parse_s(const char *epname, const char *body, struct col_out *out, char *err,
                   size_t errlen)
{
    return parse_n(epname, NULL, body, strlen(body), out, err, errlen);
}

static char *load(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, DATA "%s", name);
    char *s = tu_read_file(path);
    if (!s)
        fail_msg("cannot read %s", path);
    return s;
}

/* Parses a fixture file; asserts success. */
static void parse_file(const char *epname, const char *file, struct col_out *out)
{
    char err[256] = "";
    char *body = load(file);
    int rc = parse_n(epname, NULL, body, strlen(body), out, err, sizeof err);
    free(body);
    if (rc != 0)
        fail_msg("%s: parse failed: %s", file, err);
}

/* Asserts that parsing body fails with an error containing want. */
static void expect_fail(const char *epname, const char *body, const char *want)
{
    struct col_out out;
    char err[256] = "";
    int rc = parse_s(epname, body, &out, err, sizeof err);
    col_out_free(&out);
    if (rc != -1)
        fail_msg("accepted (rc %d) a body that should fail with \"%s\": %.200s", rc, want, body);
    if (!strstr(err, want))
        fail_msg("error \"%s\" does not contain \"%s\"", err, want);
}

static void expect_ok(const char *epname, const char *body, size_t want_samples)
{
    struct col_out out;
    char err[256] = "";
    int rc = parse_s(epname, body, &out, err, sizeof err);
    size_t n = out.n_samples + out.n_items;
    col_out_free(&out);
    if (rc != 0)
        fail_msg("rejected: %s\nbody: %.300s", err, body);
    assert_int_equal(n, want_samples);
}

/*
 * Finds the sample with this metric, bucket and exactly this label set,
 * given as "name=value|name=value". NULL when absent.
 */
static const struct col_sample *find(const struct col_out *o, const char *metric, int64_t bucket,
                                     const char *labels)
{
    char buf[1024];
    size_t want = 0;
    snprintf(buf, sizeof buf, "%s", labels);
    for (const char *c = labels; *c; c++)
        want += *c == '|';
    want++;
    for (size_t i = 0; i < o->n_samples; i++) {
        const struct col_sample *s = &o->samples[i];
        if (strcmp(s->metric, metric) != 0 || s->bucket != bucket || s->n_labels != want)
            continue;
        size_t matched = 0;
        for (size_t j = 0; j < s->n_labels; j++) {
            char pair[700];
            snprintf(pair, sizeof pair, "%s=%s", s->labels[j].name, s->labels[j].value);
            /* match pair as a whole '|'-delimited field */
            const char *p = buf;
            size_t pl = strlen(pair);
            while ((p = strstr(p, pair)) != NULL) {
                if ((p == buf || p[-1] == '|') && (p[pl] == '|' || p[pl] == '\0')) {
                    matched++;
                    break;
                }
                p++;
            }
        }
        if (matched == want)
            return s;
    }
    return NULL;
}

static void expect_sample(const struct col_out *o, const char *metric, int64_t bucket,
                          int64_t width, const char *labels, double value, double eps)
{
    const struct col_sample *s = find(o, metric, bucket, labels);
    if (!s)
        fail_msg("no %s sample at %lld with labels %s", metric, (long long)bucket, labels);
    assert_int_equal(s->width, width);
    if (!(fabs(s->value - value) <= eps))
        fail_msg("%s{%s}: got %.17g, want %.17g (eps %g)", metric, labels, s->value, value, eps);
}

/* Parses an item's JSON. */
static json_t *item_json(const struct col_out *o, size_t i, const char *kind, const char *id)
{
    assert_true(i < o->n_items);
    assert_string_equal(o->items[i].kind, kind);
    assert_string_equal(o->items[i].id, id);
    json_t *j = json_loads(o->items[i].json, 0, NULL);
    assert_non_null(j);
    return j;
}

static void expect_jstr(json_t *o, const char *key, const char *want)
{
    json_t *v = json_object_get(o, key);
    if (!want) {
        if (!json_is_null(v))
            fail_msg("%s: expected null", key);
        return;
    }
    if (!json_is_string(v))
        fail_msg("%s: expected string \"%s\"", key, want);
    assert_string_equal(json_string_value(v), want);
}

static void expect_jint(json_t *o, const char *key, long long want)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("%s: expected integer %lld", key, want);
    assert_int_equal(json_integer_value(v), want);
}

/* ---- endpoint table, URLs, headers ---- */

static void test_endpoint_table(void **state)
{
    (void)state;
    const struct col_poller_ops *p = &col_anthropic_poller;
    assert_string_equal(p->type, "anthropic");
    assert_int_equal(p->n_endpoints, 4);
    const struct col_endpoint *e = p->endpoints;
    assert_string_equal(e[0].name, "workspaces");
    assert_int_equal(e[0].kind, COL_EP_LIST);
    assert_string_equal(e[1].name, "api_keys");
    assert_int_equal(e[1].kind, COL_EP_LIST);
    assert_int_equal(e[0].per_project, 0);
    assert_int_equal(e[1].per_project, 0);
    assert_string_equal(e[2].name, "usage_report/messages");
    assert_int_equal(e[2].kind, COL_EP_BUCKETS);
    assert_int_equal(e[2].bucket, 3600);
    assert_int_equal(e[2].lookback, 3 * 3600);
    assert_int_equal(e[2].max_window, 168 * 3600); /* limit max for 1h buckets */
    assert_string_equal(e[3].name, "cost_report");
    assert_int_equal(e[3].kind, COL_EP_BUCKETS);
    assert_int_equal(e[3].bucket, 86400);
    assert_int_equal(e[3].lookback, 3 * 86400);
    assert_int_equal(e[3].max_window, 31 * 86400); /* limit max for 1d buckets */
    assert_non_null(p->url);
    assert_non_null(p->headers);
    assert_non_null(p->parse);
}

static void expect_url(const char *epname, int64_t start, int64_t end, const char *page,
                       const char *base, const char *want)
{
    struct col_request req = {.ep = ep_named(epname), .start = start, .end = end, .page = page};
    char buf[1024];
    memset(buf, 'x', sizeof buf);
    assert_int_equal(col_anthropic_poller.url(base, &req, buf, sizeof buf), 0);
    assert_string_equal(buf, want);
    /* exactly-fitting buffer works; one byte less does not */
    size_t n = strlen(want);
    char *tight = malloc(n + 1);
    assert_non_null(tight);
    assert_int_equal(col_anthropic_poller.url(base, &req, tight, n + 1), 0);
    assert_string_equal(tight, want);
    assert_int_equal(col_anthropic_poller.url(base, &req, tight, n), -1);
    free(tight);
}

static void test_url_lists(void **state)
{
    (void)state;
    const char *base = "http://127.0.0.1:8080";
    expect_url("workspaces", 0, 0, NULL, base,
               "http://127.0.0.1:8080/v1/organizations/workspaces?limit=100&include_archived=true");
    expect_url("workspaces", 0, 0, "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ", base,
               "http://127.0.0.1:8080/v1/organizations/workspaces?limit=100&include_archived=true"
               "&after_id=wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ");
    expect_url("api_keys", 0, 0, NULL, base,
               "http://127.0.0.1:8080/v1/organizations/api_keys?limit=100");
    /* cursor values are percent-encoded; an empty cursor means the first page */
    expect_url("api_keys", 0, 0, "a b&c=d/é", base,
               "http://127.0.0.1:8080/v1/organizations/api_keys?limit=100"
               "&after_id=a%20b%26c%3Dd%2F%C3%A9");
    expect_url("api_keys", 0, 0, "", base,
               "http://127.0.0.1:8080/v1/organizations/api_keys?limit=100");
    /* a trailing slash on base_url is tolerated */
    expect_url("api_keys", 0, 0, NULL, "https://api.anthropic.com/",
               "https://api.anthropic.com/v1/organizations/api_keys?limit=100");
}

static void test_url_reports(void **state)
{
    (void)state;
    const char *base = "http://127.0.0.1:8080";
    int64_t t10 = 1795168800; /* 2026-11-20T10:00:00Z */
    int64_t t13 = 1795179600; /* 2026-11-20T13:00:00Z */
    expect_url("usage_report/messages", t10, t13, NULL, base,
               "http://127.0.0.1:8080/v1/organizations/usage_report/messages"
               "?starting_at=2026-11-20T10%3A00%3A00Z&ending_at=2026-11-20T13%3A00%3A00Z"
               "&bucket_width=1h&limit=168&group_by[]=model&group_by[]=api_key_id"
               "&group_by[]=workspace_id&group_by[]=service_tier");
    expect_url("usage_report/messages", t10, t13, "page_MjAyNS0wNS0xNFQwMDowMDowMFo=", base,
               "http://127.0.0.1:8080/v1/organizations/usage_report/messages"
               "?starting_at=2026-11-20T10%3A00%3A00Z&ending_at=2026-11-20T13%3A00%3A00Z"
               "&bucket_width=1h&limit=168&group_by[]=model&group_by[]=api_key_id"
               "&group_by[]=workspace_id&group_by[]=service_tier"
               "&page=page_MjAyNS0wNS0xNFQwMDowMDowMFo%3D");
    int64_t d17 = 1794873600; /* 2026-11-17T00:00:00Z */
    int64_t d20 = 1795132800; /* 2026-11-20T00:00:00Z */
    expect_url("cost_report", d17, d20, NULL, base,
               "http://127.0.0.1:8080/v1/organizations/cost_report"
               "?starting_at=2026-11-17T00%3A00%3A00Z&ending_at=2026-11-20T00%3A00%3A00Z"
               "&bucket_width=1d&limit=31&group_by[]=workspace_id&group_by[]=description");
    expect_url("cost_report", d17, d20, "page_x+y", base,
               "http://127.0.0.1:8080/v1/organizations/cost_report"
               "?starting_at=2026-11-17T00%3A00%3A00Z&ending_at=2026-11-20T00%3A00%3A00Z"
               "&bucket_width=1d&limit=31&group_by[]=workspace_id&group_by[]=description"
               "&page=page_x%2By");
}

static void test_url_rejects(void **state)
{
    (void)state;
    char buf[512];
    struct col_request req = {.ep = ep_named("cost_report"), .start = 100, .end = 100};
    /* empty or inverted report window */
    assert_int_equal(col_anthropic_poller.url("http://h", &req, buf, sizeof buf), -1);
    req.end = 50;
    assert_int_equal(col_anthropic_poller.url("http://h", &req, buf, sizeof buf), -1);
    /* an endpoint from another table */
    struct col_endpoint foreign = {.name = "x", .kind = COL_EP_LIST, .spec = "x"};
    struct col_request r2 = {.ep = &foreign};
    assert_int_equal(col_anthropic_poller.url("http://h", &r2, buf, sizeof buf), -1);
    struct col_request r3 = {.ep = ep_named("api_keys")};
    assert_int_equal(col_anthropic_poller.url("http://h", &r3, buf, 0), -1);
    assert_int_equal(col_anthropic_poller.url("http://h", &r3, buf, 1), -1);
    assert_string_equal(buf, "");
}

static void test_headers(void **state)
{
    (void)state;
    struct curl_slist *h = col_anthropic_poller.headers(NULL, "sk-ant-admin01-secretkey-AAAA");
    assert_non_null(h);
    const char *want[] = {"x-api-key: sk-ant-admin01-secretkey-AAAA",
                          "anthropic-version: 2023-06-01", "content-type: application/json"};
    size_t i = 0;
    for (struct curl_slist *n = h; n; n = n->next, i++) {
        assert_true(i < 3);
        assert_string_equal(n->data, want[i]);
    }
    assert_int_equal(i, 3);
    curl_slist_free_all(h);

    /* appends to an existing list and returns its head */
    struct curl_slist *base = curl_slist_append(NULL, "accept: application/json");
    assert_non_null(base);
    h = col_anthropic_poller.headers(base, "k");
    assert_ptr_equal(h, base);
    assert_string_equal(h->next->data, "x-api-key: k");
    curl_slist_free_all(h);

    /* header injection and empty keys are refused */
    assert_null(col_anthropic_poller.headers(NULL, "abc\r\nX-Evil: 1"));
    assert_null(col_anthropic_poller.headers(NULL, ""));
    assert_null(col_anthropic_poller.headers(NULL, NULL));
}

/* ---- published examples ---- */

#define FIX_USAGE_LABELS                                                                           \
    "provider=anthropic|account=" ACCOUNT "|project=wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"               \
    "|api_key_id=apikey_01Rj2N8SVvo6BePZj99NhmiT|model=claude-opus-4-6|service_tier=standard"      \
    "|kind=messages"

static void test_usage_fixture(void **state)
{
    (void)state;
    struct col_out o;
    parse_file("usage_report/messages", "usage_report_messages.json", &o);
    /*
     * The published bucket is 1d wide (2025-08-01 .. 2025-08-02), start
     * 1754006400. Total input (OpenAI's definition, a project rule):
     *   uncached 1500 + cache_read 200 + cache_creation 1h 1000 + 5m 500 = 3200
     * cached = cache_read 200; cache writes = 1000 + 500 = 1500.
     */
    assert_int_equal(o.n_samples, 5);
    expect_sample(&o, "input_tokens", 1754006400, 86400, FIX_USAGE_LABELS, 3200, 0);
    expect_sample(&o, "input_cached_tokens", 1754006400, 86400, FIX_USAGE_LABELS, 200, 0);
    expect_sample(&o, "input_cache_write_tokens", 1754006400, 86400, FIX_USAGE_LABELS, 1500, 0);
    expect_sample(&o, "output_tokens", 1754006400, 86400, FIX_USAGE_LABELS, 500, 0);
    expect_sample(&o, "web_search_calls", 1754006400, 86400, FIX_USAGE_LABELS, 10, 0);
    assert_null(find(&o, "requests", 1754006400, FIX_USAGE_LABELS));
    assert_non_null(o.next_page);
    assert_string_equal(o.next_page, "page_MjAyNS0wNS0xNFQwMDowMDowMFo=");
    assert_int_equal(o.n_items, 0);
    assert_int_equal(o.n_events, 0);
    col_out_free(&o);
}

static void test_cost_fixture(void **state)
{
    (void)state;
    struct col_out o;
    parse_file("cost_report", "cost_report.json", &o);
    /* "123.78912" cents = $1.2378912 */
    assert_int_equal(o.n_samples, 1);
    const char *labels =
        "provider=anthropic|account=" ACCOUNT "|project=wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"
        "|line_item=Claude Sonnet 4 Usage - Input Tokens"
        "|model=claude-opus-4-6|service_tier=standard";
    expect_sample(&o, "cost_usd", 1754006400, 86400, labels, 1.2378912, 1e-12);
    /* single correctly rounded division: bit-exact */
    assert_true(o.samples[0].value == 1.2378912);
    assert_string_equal(o.next_page, "page_MjAyNS0wNS0xNFQwMDowMDowMFo=");
    col_out_free(&o);
}

static void test_api_keys_fixture(void **state)
{
    (void)state;
    struct col_out o;
    parse_file("api_keys", "api_keys_list.json", &o);
    assert_int_equal(o.n_items, 1);
    assert_int_equal(o.n_samples, 0);
    json_t *j = item_json(&o, 0, "api_key", "apikey_01Rj2N8SVvo6BePZj99NhmiT");
    expect_jstr(j, "provider", "anthropic");
    expect_jstr(j, "account", ACCOUNT);
    expect_jstr(j, "id", "apikey_01Rj2N8SVvo6BePZj99NhmiT");
    expect_jstr(j, "name", "Developer Key");
    expect_jstr(j, "project", "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ");
    expect_jstr(j, "workspace_id", "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ");
    expect_jstr(j, "status", "active");
    expect_jint(j, "created_at", 1730332707); /* 2024-10-30T23:58:27.427722Z, truncated */
    expect_jint(j, "expires_at", 1730332707);
    expect_jstr(j, "created_by", "user_01WCz1FkmYMm4gnmykNKUu3Q");
    /* the hint shows 3 characters of the secret beyond its prefix: only the last 4 are kept */
    expect_jstr(j, "partial_key_hint", "...igAA");
    assert_null(strstr(o.items[0].json, "R2D"));
    expect_jstr(j, "principal_id", "user_01WCz1FkmYMm4gnmykNKUu3Q");
    expect_jstr(j, "principal_type", "user");
    assert_null(json_object_get(j, "last_used_at")); /* Anthropic has none */
    json_decref(j);
    /* list cursor: has_more true -> last_id */
    assert_string_equal(o.next_page, "last_id");
    col_out_free(&o);
}

static void test_workspaces_fixture(void **state)
{
    (void)state;
    struct col_out o;
    parse_file("workspaces", "workspaces_list.json", &o);
    assert_int_equal(o.n_items, 1);
    json_t *j = item_json(&o, 0, "workspace", "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ");
    expect_jstr(j, "name", "Workspace Name");
    expect_jstr(j, "status", "archived");
    expect_jint(j, "created_at", 1730332707);
    expect_jint(j, "archived_at", 1730505567); /* 2024-11-01T23:59:27.427722Z */
    expect_jstr(j, "account", ACCOUNT);
    json_decref(j);
    assert_string_equal(o.next_page, "last_id");
    col_out_free(&o);
}

static void expect_error_fixture(const char *file, const char *want)
{
    char *body = load(file);
    /* the error shape is recognised on every endpoint */
    const char *eps[] = {"workspaces", "api_keys", "usage_report/messages", "cost_report"};
    for (size_t i = 0; i < 4; i++)
        expect_fail(eps[i], body, want);
    free(body);
}

static void test_error_fixtures(void **state)
{
    (void)state;
    expect_error_fixture("error_not_found_404.json",
                         "not_found_error: The requested resource could not be found.");
    expect_error_fixture("error_spend_cap_rate_limit_429.json",
                         "rate_limit_error: You have reached your API usage limits");
    expect_error_fixture("error_compliance_authentication_401.json",
                         "authentication_error: The API key provided is invalid");
    expect_error_fixture("error_compliance_permission_403.json",
                         "permission_error: Missing required scopes");
    expect_error_fixture("error_compliance_rate_limit_429.json", "rate_limit_error: Compliance");
    expect_fail("api_keys", "{\"type\":\"error\"}", "anthropic error unknown");
    expect_fail("api_keys", "{\"error\":\"boom\"}", "anthropic error unknown: boom");
    /* control characters in a provider message do not reach the log line */
    struct col_out o;
    char err[256];
    assert_int_equal(
        parse_s("api_keys", "{\"type\":\"error\",\"error\":{\"type\":\"x\",\"message\":\"a\\nb\"}}",
                &o, err, sizeof err),
        -1);
    col_out_free(&o);
    assert_null(strchr(err, '\n'));
    assert_non_null(strstr(err, "x: a b"));
}

/* ---- crafted pages ---- */

static void test_usage_crafted(void **state)
{
    (void)state;
    struct col_out o;
    parse_file("usage_report/messages", "usage_crafted_hourly.json", &o);
    const int64_t b13 = 1795179600, b15 = 1795186800; /* 2026-11-20T13:00Z, 15:00Z */
    /* default workspace, Console usage (no key), null tier: 10 + 0 + 0 + 7 = 17 */
    const char *a = "provider=anthropic|account=" ACCOUNT
                    "|project=default|model=claude-sonnet-4-5|kind=messages";
    expect_sample(&o, "input_tokens", b13, 3600, a, 17, 0);
    expect_sample(&o, "input_cached_tokens", b13, 3600, a, 0, 0);
    expect_sample(&o, "input_cache_write_tokens", b13, 3600, a, 7, 0);
    expect_sample(&o, "output_tokens", b13, 3600, a, 3, 0);
    assert_null(find(&o, "web_search_calls", b13, a)); /* no server_tool_use */
    /* 1000000 + 250000 + 30000 + 20000 = 1300000 */
    const char *b = "provider=anthropic|account=" ACCOUNT
                    "|project=wrkspc_01Eng|api_key_id=apikey_01Batch|model=claude-haiku-4-5"
                    "|service_tier=batch|kind=messages";
    expect_sample(&o, "input_tokens", b13, 3600, b, 1300000, 0);
    expect_sample(&o, "input_cached_tokens", b13, 3600, b, 250000, 0);
    expect_sample(&o, "input_cache_write_tokens", b13, 3600, b, 50000, 0);
    expect_sample(&o, "output_tokens", b13, 3600, b, 40000, 0);
    expect_sample(&o, "web_search_calls", b13, 3600, b, 0, 0);
    /* two rows differing only in inference_geo sum into one point:
     * input (100+0+0+0) + (200+10+5+0) = 315, cached 10, writes 5, output 75,
     * web search 2 (the second row has server_tool_use null) */
    const char *c = "provider=anthropic|account=" ACCOUNT
                    "|project=wrkspc_01Eng|api_key_id=apikey_01Eng|model=claude-opus-4-6"
                    "|service_tier=standard|kind=messages";
    expect_sample(&o, "input_tokens", b15, 3600, c, 315, 0);
    expect_sample(&o, "input_cached_tokens", b15, 3600, c, 10, 0);
    expect_sample(&o, "input_cache_write_tokens", b15, 3600, c, 5, 0);
    expect_sample(&o, "output_tokens", b15, 3600, c, 75, 0);
    expect_sample(&o, "web_search_calls", b15, 3600, c, 2, 0);
    assert_int_equal(o.n_samples, 4 + 5 + 5);
    assert_null(o.next_page); /* has_more false */
    col_out_free(&o);
}

static void test_cost_crafted(void **state)
{
    (void)state;
    struct col_out o;
    struct col_request req = {.ep = ep_named("cost_report"), .page = "page_previous"};
    struct col_parse_ctx ctx = {.provider = "anthropic", .account = ACCOUNT, .req = &req};
    char err[256] = "";
    char *body = load("cost_crafted_daily.json");
    memset(&o, 0, sizeof o);
    int rc = col_anthropic_poller.parse(&ctx, body, strlen(body), &o, err, sizeof err);
    free(body);
    if (rc)
        fail_msg("%s", err);
    const int64_t d19 = 1795046400;
    /* description null: line_item falls back to cost_type; "0.5" cents = $0.005 */
    expect_sample(&o, "cost_usd", d19, 86400,
                  "provider=anthropic|account=" ACCOUNT "|project=default|line_item=web_search",
                  0.005, 1e-15);
    /* "1050" + "949.99999" cents (rows differ only in inference_geo) = $19.9999999 */
    expect_sample(&o, "cost_usd", d19, 86400,
                  "provider=anthropic|account=" ACCOUNT "|project=wrkspc_01Eng"
                  "|line_item=Claude Opus 4.6 Usage - Output Tokens|model=claude-opus-4-6"
                  "|service_tier=batch",
                  19.9999999, 1e-12);
    /* 24 fraction digits: kept to double precision */
    expect_sample(&o, "cost_usd", d19, 86400,
                  "provider=anthropic|account=" ACCOUNT
                  "|project=wrkspc_01Eng|line_item=Code Execution Usage",
                  0.123456789012345678901234, 3e-17);
    assert_int_equal(o.n_samples, 3);
    assert_string_equal(o.next_page, "page_MjAyNi0xMS0yMVQwMDowMDowMFo=");
    col_out_free(&o);
}

static void test_api_keys_crafted(void **state)
{
    (void)state;
    struct col_out o;
    parse_file("api_keys", "api_keys_crafted.json", &o);
    assert_int_equal(o.n_items, 2);
    json_t *j = item_json(&o, 0, "api_key", "apikey_01Default");
    expect_jstr(j, "project", "default");
    expect_jstr(j, "workspace_id", NULL);
    expect_jstr(j, "status", "inactive");
    expect_jint(j, "created_at", 1767323045);
    expect_jstr(j, "created_by", NULL);
    expect_jstr(j, "expires_at", NULL);
    expect_jstr(j, "partial_key_hint", NULL);
    expect_jstr(j, "principal_id", NULL);
    json_decref(j);
    j = item_json(&o, 1, "api_key", "apikey_01Old");
    expect_jstr(j, "name", "");
    expect_jstr(j, "status", "archived");
    expect_jint(j, "created_at", 1751277600); /* 2025-06-30T12:00:00.5+02:00 */
    expect_jint(j, "expires_at", 1782820800);
    expect_jstr(j, "created_by", "user_01Admin");
    expect_jstr(j, "partial_key_hint", "...wxyz");
    expect_jstr(j, "principal_id", "svac_01Robot");
    expect_jstr(j, "principal_type", "service_account");
    json_decref(j);
    assert_null(o.next_page); /* has_more false: last_id ignored */
    col_out_free(&o);

    parse_file("workspaces", "workspaces_crafted.json", &o);
    assert_int_equal(o.n_items, 1);
    j = item_json(&o, 0, "workspace", "wrkspc_01Eng");
    expect_jstr(j, "status", "active");
    expect_jstr(j, "archived_at", NULL);
    expect_jint(j, "created_at", 1770091506);
    json_decref(j);
    assert_null(o.next_page);
    col_out_free(&o);
}

/* ---- hostile input ---- */

static void test_not_json(void **state)
{
    (void)state;
    struct col_out o;
    char err[256];
    char *body = load("usage_report_messages.json");
    size_t n = strlen(body);
    /* every truncation of a valid page is rejected */
    for (size_t cut = 0; cut < n - 1; cut++) {
        int rc = parse_n("usage_report/messages", NULL, body, cut, &o, err, sizeof err);
        col_out_free(&o);
        if (rc != -1)
            fail_msg("truncated at %zu accepted", cut);
    }
    /* the length is honoured: bytes past len are never read */
    char *copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, body, n); /* no NUL terminator */
    assert_int_equal(parse_n("usage_report/messages", NULL, copy, n, &o, err, sizeof err), 0);
    col_out_free(&o);
    free(copy);
    free(body);

    assert_int_equal(parse_n("api_keys", NULL, "", 0, &o, err, sizeof err), -1);
    assert_non_null(strstr(err, "empty body"));
    col_out_free(&o);
    assert_int_equal(parse_n("api_keys", NULL, NULL, 0, &o, err, sizeof err), -1);
    col_out_free(&o);
    expect_fail("api_keys", "   \n", "not JSON");
    char *html = load("html_502.html");
    expect_fail("usage_report/messages", html, "not JSON");
    free(html);
    expect_fail("api_keys", "[]", "not a JSON object");
    expect_fail("api_keys", "\"data\"", "not JSON"); /* jansson: only objects/arrays */
    expect_fail("api_keys", "null", "not JSON");
    expect_fail("api_keys", "{\"data\":[],\"has_more\":false} trailing", "not JSON");
    expect_fail("api_keys", "{\"data\":[],\"data\":[],\"has_more\":false}", "not JSON");
    /* NUL bytes inside the body */
    static const char nul[] = "{\"data\":[],\"has_more\":false,\"last_id\":\"a\0b\"}";
    assert_int_equal(parse_n("api_keys", NULL, nul, sizeof nul - 1, &o, err, sizeof err), -1);
    col_out_free(&o);

    /* a tiny err buffer is still NUL-terminated; a NULL one is allowed */
    char small[8];
    assert_int_equal(parse_s("api_keys", "[]", &o, small, sizeof small), -1);
    col_out_free(&o);
    assert_true(strlen(small) < sizeof small);
    assert_int_equal(parse_s("api_keys", "[]", &o, NULL, 0), -1);
    col_out_free(&o);
}

static void test_deep_nesting(void **state)
{
    (void)state;
    size_t depth = 100000;
    char *b = malloc(2 * depth + 64);
    assert_non_null(b);
    size_t n = 0;
    n += (size_t)snprintf(b, 64, "{\"has_more\":false,\"data\":");
    for (size_t i = 0; i < depth; i++)
        b[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        b[n++] = ']';
    b[n++] = '}';
    b[n] = '\0';
    expect_fail("usage_report/messages", b, "not JSON");
    free(b);
    /* shallow but wrong nesting: a bucket that is an array */
    expect_fail("usage_report/messages", "{\"has_more\":false,\"data\":[[[{}]]]}",
                "data[0]: expected an object");
}

static void test_envelope(void **state)
{
    (void)state;
    expect_fail("usage_report/messages", "{\"has_more\":false}", "data: missing");
    expect_fail("usage_report/messages", "{\"data\":{},\"has_more\":false}",
                "data: expected an array");
    expect_fail("usage_report/messages", "{\"data\":[]}", "has_more: missing");
    expect_fail("usage_report/messages", "{\"data\":[],\"has_more\":\"false\"}",
                "has_more: expected a boolean");
    expect_fail("usage_report/messages", "{\"data\":[],\"has_more\":null}",
                "has_more: expected a boolean");
    /* has_more true without a cursor */
    expect_fail("usage_report/messages", "{\"data\":[],\"has_more\":true}",
                "next_page: has_more is true but the cursor is missing");
    expect_fail("cost_report", "{\"data\":[],\"has_more\":true,\"next_page\":null}",
                "next_page: has_more is true");
    expect_fail("cost_report", "{\"data\":[],\"has_more\":true,\"next_page\":\"\"}",
                "next_page: has_more is true");
    expect_fail("api_keys", "{\"data\":[],\"has_more\":true,\"last_id\":null}",
                "last_id: has_more is true");
    expect_fail("workspaces", "{\"data\":[],\"has_more\":true,\"next_page\":\"x\"}",
                "last_id: has_more is true");
    expect_fail("cost_report", "{\"data\":[],\"has_more\":false,\"next_page\":7}",
                "next_page: expected a string");
    /* a cursor that does not move would loop forever */
    struct col_out o;
    char err[256];
    const char *stuck = "{\"data\":[],\"has_more\":true,\"last_id\":\"apikey_1\"}";
    assert_int_equal(parse_n("api_keys", "apikey_1", stuck, strlen(stuck), &o, err, sizeof err),
                     -1);
    col_out_free(&o);
    assert_non_null(strstr(err, "did not advance"));
    assert_int_equal(parse_n("api_keys", "apikey_0", stuck, strlen(stuck), &o, err, sizeof err), 0);
    assert_string_equal(o.next_page, "apikey_1");
    col_out_free(&o);
    /* empty pages */
    expect_ok("usage_report/messages", "{\"data\":[],\"has_more\":false,\"next_page\":null}", 0);
    expect_ok("api_keys", "{\"data\":[],\"has_more\":false,\"first_id\":null,\"last_id\":null}", 0);
    /* a request for a foreign endpoint */
    struct col_endpoint foreign = {.name = "usage", .kind = COL_EP_BUCKETS, .spec = NULL};
    struct col_request req = {.ep = &foreign};
    struct col_parse_ctx ctx = {.provider = "anthropic", .account = ACCOUNT, .req = &req};
    memset(&o, 0, sizeof o);
    assert_int_equal(col_anthropic_poller.parse(&ctx, "{}", 2, &o, err, sizeof err), -1);
    col_out_free(&o);
}

/* One usage page with bucket `bucket` (JSON text) holding one result row `row`. */
static char *usage_page(const char *start, const char *end, const char *row)
{
    size_t n = strlen(row) + 512;
    char *b = malloc(n);
    assert_non_null(b);
    int w = snprintf(b, n,
                     "{\"data\":[{\"starting_at\":\"2025-08-01T00:00:00Z\","
                     "\"ending_at\":\"2025-08-01T01:00:00Z\",\"results\":[]},"
                     "{\"starting_at\":%s,\"ending_at\":%s,\"results\":[%s]}],"
                     "\"has_more\":false,\"next_page\":null}",
                     start, end, row);
    assert_true(w > 0 && (size_t)w < n);
    return b;
}

#define ROW_HEAD "\"model\":\"claude-opus-4-6\",\"workspace_id\":null,\"api_key_id\":\"k\","
#define ROW_CC                                                                                     \
    "\"cache_creation\":{\"ephemeral_1h_input_tokens\":1,\"ephemeral_5m_input_tokens\":2}"
#define T0 "\"2025-08-01T01:00:00Z\""
#define T1 "\"2025-08-01T02:00:00Z\""

static void usage_row_fails(const char *row, const char *want)
{
    char *b = usage_page(T0, T1, row);
    expect_fail("usage_report/messages", b, want);
    free(b);
}

static void usage_row_ok(const char *row, size_t n)
{
    char *b = usage_page(T0, T1, row);
    expect_ok("usage_report/messages", b, n);
    free(b);
}

static void test_usage_wrong_types(void **state)
{
    (void)state;
    /* the good row, for reference */
    usage_row_ok("{" ROW_HEAD "\"uncached_input_tokens\":3,\"cache_read_input_tokens\":4,"
                 "\"output_tokens\":5," ROW_CC "}",
                 4);
    usage_row_fails("{" ROW_HEAD "\"uncached_input_tokens\":\"3\",\"cache_read_input_tokens\":4,"
                    "\"output_tokens\":5," ROW_CC "}",
                    "data[1].results[0].uncached_input_tokens: expected a number");
    usage_row_fails("{" ROW_HEAD "\"uncached_input_tokens\":null,\"cache_read_input_tokens\":4,"
                    "\"output_tokens\":5," ROW_CC "}",
                    "data[1].results[0].uncached_input_tokens: null where a number is required");
    usage_row_fails("{" ROW_HEAD "\"cache_read_input_tokens\":4,\"output_tokens\":5," ROW_CC "}",
                    "data[1].results[0].uncached_input_tokens: missing");
    usage_row_fails("{" ROW_HEAD "\"uncached_input_tokens\":-3,\"cache_read_input_tokens\":4,"
                    "\"output_tokens\":5," ROW_CC "}",
                    "uncached_input_tokens: count out of range");
    usage_row_fails("{" ROW_HEAD "\"uncached_input_tokens\":1.5,\"cache_read_input_tokens\":4,"
                    "\"output_tokens\":5," ROW_CC "}",
                    "uncached_input_tokens: not a whole non-negative count");
    usage_row_fails("{" ROW_HEAD "\"uncached_input_tokens\":1e300,\"cache_read_input_tokens\":4,"
                    "\"output_tokens\":5," ROW_CC "}",
                    "uncached_input_tokens: not a whole");
    usage_row_fails("{" ROW_HEAD "\"uncached_input_tokens\":9007199254740993,"
                    "\"cache_read_input_tokens\":4,\"output_tokens\":5," ROW_CC "}",
                    "uncached_input_tokens: count out of range");
    usage_row_fails("{" ROW_HEAD "\"uncached_input_tokens\":3,\"cache_read_input_tokens\":4,"
                    "\"output_tokens\":true," ROW_CC "}",
                    "data[1].results[0].output_tokens: expected a number");
    usage_row_fails("{" ROW_HEAD "\"uncached_input_tokens\":3,\"cache_read_input_tokens\":4,"
                    "\"output_tokens\":5}",
                    "data[1].results[0].cache_creation: missing");
    usage_row_fails("{" ROW_HEAD "\"uncached_input_tokens\":3,\"cache_read_input_tokens\":4,"
                    "\"output_tokens\":5,\"cache_creation\":[1,2]}",
                    "data[1].results[0].cache_creation: expected an object");
    usage_row_fails("{" ROW_HEAD "\"uncached_input_tokens\":3,\"cache_read_input_tokens\":4,"
                    "\"output_tokens\":5,\"cache_creation\":{\"ephemeral_1h_input_tokens\":1,"
                    "\"ephemeral_5m_input_tokens\":\"2\"}}",
                    "data[1].results[0].cache_creation.ephemeral_5m_input_tokens: expected a "
                    "number");
    usage_row_fails("{" ROW_HEAD "\"uncached_input_tokens\":3,\"cache_read_input_tokens\":4,"
                    "\"output_tokens\":5," ROW_CC ",\"server_tool_use\":{\"web_search_requests\":"
                    "\"many\"}}",
                    "data[1].results[0].server_tool_use.web_search_requests: expected a number");
    usage_row_fails("{" ROW_HEAD "\"uncached_input_tokens\":3,\"cache_read_input_tokens\":4,"
                    "\"output_tokens\":5," ROW_CC ",\"server_tool_use\":7}",
                    "data[1].results[0].server_tool_use: expected an object");
    /* labels: wrong types, control characters, oversize */
    usage_row_fails("{\"model\":42,\"uncached_input_tokens\":3,\"cache_read_input_tokens\":4,"
                    "\"output_tokens\":5," ROW_CC "}",
                    "data[1].results[0].model: expected a string");
    usage_row_fails("{\"workspace_id\":{},\"uncached_input_tokens\":3,"
                    "\"cache_read_input_tokens\":4,\"output_tokens\":5," ROW_CC "}",
                    "data[1].results[0].workspace_id: expected a string");
    usage_row_fails("{\"model\":\"a\\u0001b\",\"uncached_input_tokens\":3,"
                    "\"cache_read_input_tokens\":4,\"output_tokens\":5," ROW_CC "}",
                    "model: control character");
    char big[1200] = "{\"model\":\"";
    size_t n = strlen(big);
    memset(big + n, 'm', 600);
    snprintf(big + n + 600, sizeof big - n - 600,
             "\",\"uncached_input_tokens\":3,\"cache_read_input_tokens\":4,"
             "\"output_tokens\":5," ROW_CC "}");
    usage_row_fails(big, "model: longer than 512 bytes");
    usage_row_fails("7", "data[1].results[0]: expected an object");
    usage_row_fails("null", "data[1].results[0]: expected an object");
    /* results not an array, missing */
    expect_fail("usage_report/messages",
                "{\"data\":[{\"starting_at\":" T0 ",\"ending_at\":" T1 ",\"results\":{}}],"
                "\"has_more\":false}",
                "data[0].results: expected an array");
    expect_fail("usage_report/messages",
                "{\"data\":[{\"starting_at\":" T0 ",\"ending_at\":" T1 "}],\"has_more\":false}",
                "data[0].results: missing");
}

static void usage_times_fail(const char *start, const char *end, const char *want)
{
    char *b = usage_page(start, end, "");
    expect_fail("usage_report/messages", b, want);
    free(b);
}

static void usage_times_ok(const char *start, const char *end)
{
    char *b = usage_page(start, end,
                         "{" ROW_HEAD "\"uncached_input_tokens\":3,\"cache_read_input_tokens\":4,"
                         "\"output_tokens\":5," ROW_CC "}");
    struct col_out o;
    char err[256] = "";
    int rc = parse_s("usage_report/messages", b, &o, err, sizeof err);
    free(b);
    if (rc)
        fail_msg("%s .. %s rejected: %s", start, end, err);
    assert_int_equal(o.n_samples, 4);
    assert_int_equal(o.samples[0].bucket, 1754010000); /* 2025-08-01T01:00:00Z */
    assert_int_equal(o.samples[0].width, 3600);
    col_out_free(&o);
}

static void test_times(void **state)
{
    (void)state;
    /* fractional seconds and offsets are accepted */
    usage_times_ok("\"2025-08-01T01:00:00.123456789Z\"", "\"2025-08-01T02:00:00.999Z\"");
    usage_times_ok("\"2025-08-01T03:00:00+02:00\"", "\"2025-08-01t02:00:00z\"");
    usage_times_ok("\"2025-07-31T20:00:00-05:00\"", "\"2025-08-01T02:00:00.000000Z\"");
    /* malformed */
    usage_times_fail("\"2025-08-01\"", T1, "data[1].starting_at: not an RFC 3339 time");
    usage_times_fail(T0, "\"2025-08-01T02:00:00\"", "data[1].ending_at: not an RFC 3339 time");
    usage_times_fail("\"2025-13-01T01:00:00Z\"", T1, "starting_at: not an RFC 3339 time");
    usage_times_fail("\"2025-02-29T01:00:00Z\"", T1, "starting_at: not an RFC 3339 time");
    usage_times_fail("\"2025-08-01T24:00:00Z\"", T1, "starting_at: not an RFC 3339 time");
    usage_times_fail("\"2025-08-01T01:00:00.Z\"", T1, "starting_at: not an RFC 3339 time");
    usage_times_fail("\"2025-08-01T01:00:00Zjunk\"", T1, "starting_at: not an RFC 3339 time");
    usage_times_fail("\"2025-08-01 01:00:00Z\"", T1, "starting_at: not an RFC 3339 time");
    usage_times_fail("\"yesterday\"", T1, "starting_at: not an RFC 3339 time");
    usage_times_fail("\"\"", T1, "starting_at: not an RFC 3339 time");
    usage_times_fail("1754010000", T1, "data[1].starting_at: expected a string");
    usage_times_fail("null", T1, "data[1].starting_at: null where a string is required");
    /* widths other than 1h / 1d, inverted, unaligned */
    usage_times_fail(T0, "\"2025-08-01T01:01:00Z\"", "bucket width 60 s is not 1h or 1d");
    usage_times_fail(T0, "\"2025-08-01T03:00:00Z\"", "bucket width 7200 s");
    usage_times_fail(T1, T0, "bucket width -3600 s");
    usage_times_fail("\"2025-08-01T01:30:00Z\"", "\"2025-08-01T02:30:00Z\"",
                     "data[1].starting_at: not aligned");
    /* cost buckets must be 1d */
    expect_fail("cost_report",
                "{\"data\":[{\"starting_at\":" T0 ",\"ending_at\":" T1 ",\"results\":[]}],"
                "\"has_more\":false}",
                "data[0]: bucket width 3600 s is not 1d");
}

/* One cost page with a single row whose amount member is `amount` (JSON text). */
static int cost_amount(const char *amount, double *usd, char *err, size_t errlen)
{
    char b[512];
    int w = snprintf(b, sizeof b,
                     "{\"data\":[{\"starting_at\":\"2025-08-01T00:00:00Z\","
                     "\"ending_at\":\"2025-08-02T00:00:00Z\",\"results\":[{\"amount\":%s,"
                     "\"currency\":\"USD\",\"workspace_id\":null,\"description\":null,"
                     "\"cost_type\":\"tokens\"}]}],\"has_more\":false,\"next_page\":null}",
                     amount);
    assert_true(w > 0 && (size_t)w < sizeof b);
    struct col_out o;
    int rc = parse_s("cost_report", b, &o, err, errlen);
    if (rc == 0) {
        assert_int_equal(o.n_samples, 1);
        *usd = o.samples[0].value;
    }
    col_out_free(&o);
    return rc;
}

static void amount_ok(const char *amount, double want)
{
    double v = -1;
    char err[256] = "";
    if (cost_amount(amount, &v, err, sizeof err))
        fail_msg("amount %s rejected: %s", amount, err);
    if (v != want)
        fail_msg("amount %s: got %.17g, want %.17g", amount, v, want);
}

static void amount_bad(const char *amount, const char *want)
{
    double v;
    char err[256] = "";
    if (cost_amount(amount, &v, err, sizeof err) != -1)
        fail_msg("amount %s accepted as %.17g", amount, v);
    if (!strstr(err, want))
        fail_msg("amount %s: error \"%s\" lacks \"%s\"", amount, err, want);
}

static void test_amounts(void **state)
{
    (void)state;
    amount_ok("\"123.45\"", 1.2345);
    amount_ok("\"123.4500\"", 1.2345);
    amount_ok("\"0\"", 0);
    amount_ok("\"-0\"", 0);
    amount_ok("\"100\"", 1);
    amount_ok("\"007.50\"", 0.075);
    amount_ok("\"0.001\"", 0.00001);
    amount_ok("\"-25.5\"", -0.255);
    amount_ok("\"999999999999999\"", 9999999999999.99);
    /* bit-exact where a double can be: M / 10^k with exact operands, one rounding */
    amount_ok("\"1\"", 0.01);
    amount_ok("\"33.3333333\"", 0.333333333);
    const char *badv[] = {"\"12a\"",
                          "\"1,000\"",
                          "\"\"",
                          "\"1e5\"",
                          "\"+5\"",
                          "\".5\"",
                          "\"5.\"",
                          "\" 5\"",
                          "\"5 \"",
                          "\"0x10\"",
                          "\"NaN\"",
                          "\"-\"",
                          "\"--1\"",
                          "\"1.2.3\"",
                          "\"inf\"",
                          "\"1_000\"",
                          "\"1000000000000000\""};
    for (size_t i = 0; i < sizeof badv / sizeof badv[0]; i++)
        amount_bad(badv[i], "results[0].amount: not a decimal amount in cents");
    char longv[128] = "\"0.";
    memset(longv + 3, '1', 80);
    longv[83] = '"';
    longv[84] = '\0';
    amount_bad(longv, "not a decimal amount");
    amount_bad("123.45", "data[0].results[0].amount: expected a string");
    amount_bad("null", "data[0].results[0].amount: null where a string is required");
}

static void test_cost_fields(void **state)
{
    (void)state;
    const char *pre = "{\"data\":[{\"starting_at\":\"2025-08-01T00:00:00Z\","
                      "\"ending_at\":\"2025-08-02T00:00:00Z\",\"results\":[";
    const char *post = "]}],\"has_more\":false}";
    char b[512];
    snprintf(b, sizeof b, "%s{\"amount\":\"1\",\"currency\":\"EUR\"}%s", pre, post);
    expect_fail("cost_report", b, "data[0].results[0].currency: \"EUR\" is not USD");
    snprintf(b, sizeof b, "%s{\"amount\":\"1\"}%s", pre, post);
    expect_fail("cost_report", b, "data[0].results[0].currency: missing");
    snprintf(b, sizeof b, "%s{\"amount\":\"1\",\"currency\":\"USD\",\"description\":5}%s", pre,
             post);
    expect_fail("cost_report", b, "data[0].results[0].description: expected a string");
    snprintf(b, sizeof b, "%s{\"amount\":\"1\",\"currency\":\"USD\",\"model\":[]}%s", pre, post);
    expect_fail("cost_report", b, "data[0].results[0].model: expected a string");
    /* minimal valid row: no optional dimensions at all */
    snprintf(b, sizeof b, "%s{\"amount\":\"1\",\"currency\":\"USD\"}%s", pre, post);
    struct col_out o;
    char err[256];
    assert_int_equal(parse_s("cost_report", b, &o, err, sizeof err), 0);
    expect_sample(&o, "cost_usd", 1754006400, 86400,
                  "provider=anthropic|account=" ACCOUNT "|project=default", 0.01, 0);
    col_out_free(&o);
}

static void test_inventory_wrong_types(void **state)
{
    (void)state;
    const char *pre = "{\"has_more\":false,\"last_id\":null,\"data\":[";
    const char *post = "]}";
    const char *okkey = "{\"id\":\"apikey_1\",\"name\":\"n\",\"status\":\"active\","
                        "\"created_at\":\"2025-01-01T00:00:00Z\"}";
    char b[1024];
    snprintf(b, sizeof b, "%s%s%s", pre, okkey, post);
    expect_ok("api_keys", b, 1);
    struct {
        const char *item, *want;
    } cases[] = {
        {"{\"id\":null,\"name\":\"n\",\"status\":\"active\",\"created_at\":\"2025-01-01T00:00:"
         "00Z\"}",
         "data[1].id: null where a string is required"},
        {"{\"id\":7,\"name\":\"n\",\"status\":\"active\",\"created_at\":\"2025-01-01T00:00:00Z\"}",
         "data[1].id: expected a string"},
        {"{\"id\":\"\",\"name\":\"n\",\"status\":\"active\",\"created_at\":\"2025-01-01T00:00:"
         "00Z\"}",
         "data[1].id: empty string"},
        {"{\"id\":\"k\",\"name\":null,\"status\":\"active\",\"created_at\":\"2025-01-01T00:00:"
         "00Z\"}",
         "data[1].name: null where a string is required"},
        {"{\"id\":\"k\",\"name\":\"n\",\"created_at\":\"2025-01-01T00:00:00Z\"}",
         "data[1].status: missing"},
        {"{\"id\":\"k\",\"name\":\"n\",\"status\":\"active\"}", "data[1].created_at: missing"},
        {"{\"id\":\"k\",\"name\":\"n\",\"status\":\"active\",\"created_at\":1730332707}",
         "data[1].created_at: expected a string"},
        {"{\"id\":\"k\",\"name\":\"n\",\"status\":\"active\",\"created_at\":\"2024-10-30\"}",
         "data[1].created_at: not an RFC 3339 time"},
        {"{\"id\":\"k\",\"name\":\"n\",\"status\":\"active\",\"created_at\":\"2025-01-01T00:00:"
         "00Z\","
         "\"created_by\":\"user_1\"}",
         "data[1].created_by: expected an object"},
        {"{\"id\":\"k\",\"name\":\"n\",\"status\":\"active\",\"created_at\":\"2025-01-01T00:00:"
         "00Z\","
         "\"created_by\":{\"type\":\"user\"}}",
         "data[1].created_by.id: missing"},
        {"{\"id\":\"k\",\"name\":\"n\",\"status\":\"active\",\"created_at\":\"2025-01-01T00:00:"
         "00Z\","
         "\"expires_at\":\"never\"}",
         "data[1].expires_at: not an RFC 3339 time"},
        {"{\"id\":\"k\",\"name\":\"n\",\"status\":\"active\",\"created_at\":\"2025-01-01T00:00:"
         "00Z\","
         "\"workspace_id\":1}",
         "data[1].workspace_id: expected a string"},
        {"{\"id\":\"k\",\"name\":\"n\",\"status\":\"active\",\"created_at\":\"2025-01-01T00:00:"
         "00Z\","
         "\"principal\":{\"id\":3}}",
         "data[1].principal.id: expected a string"},
        {"[]", "data[1]: expected an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(b, sizeof b, "%s%s,%s%s", pre, okkey, cases[i].item, post);
        expect_fail("api_keys", b, cases[i].want);
    }
    expect_fail("workspaces",
                "{\"has_more\":false,\"data\":[{\"id\":\"w\",\"name\":\"n\","
                "\"created_at\":\"2025-01-01T00:00:00Z\",\"archived_at\":false}]}",
                "data[0].archived_at: expected a string");
    expect_fail("workspaces",
                "{\"has_more\":false,\"data\":[{\"id\":\"w\",\"name\":5,"
                "\"created_at\":\"2025-01-01T00:00:00Z\"}]}",
                "data[0].name: expected a string");
}

/* Many rows: merging stays correct (and quick) at scale. */
static void test_many_rows(void **state)
{
    (void)state;
    const size_t rows = 20000, keys = 1000;
    size_t cap = rows * 300 + 256, n = 0;
    char *b = malloc(cap);
    assert_non_null(b);
    n += (size_t)snprintf(b, cap,
                          "{\"has_more\":false,\"data\":[{\"starting_at\":\"2025-08-01T00:00:00Z\","
                          "\"ending_at\":\"2025-08-01T01:00:00Z\",\"results\":[");
    for (size_t i = 0; i < rows; i++) {
        int w = snprintf(b + n, cap - n,
                         "%s{\"api_key_id\":\"apikey_%zu\",\"model\":\"m\",\"workspace_id\":null,"
                         "\"uncached_input_tokens\":1,\"cache_read_input_tokens\":0,"
                         "\"output_tokens\":2,\"cache_creation\":{\"ephemeral_1h_input_tokens\":0,"
                         "\"ephemeral_5m_input_tokens\":0}}",
                         i ? "," : "", i % keys);
        assert_true(w > 0 && (size_t)w < cap - n);
        n += (size_t)w;
    }
    snprintf(b + n, cap - n, "]}]}");
    struct col_out o;
    char err[256];
    assert_int_equal(parse_s("usage_report/messages", b, &o, err, sizeof err), 0);
    free(b);
    assert_int_equal(o.n_samples, keys * 4);
    expect_sample(&o, "output_tokens", 1754006400, 3600,
                  "provider=anthropic|account=" ACCOUNT
                  "|project=default|api_key_id=apikey_7|model=m|kind=messages",
                  2.0 * (double)(rows / keys), 0);
    col_out_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoint_table),
        cmocka_unit_test(test_url_lists),
        cmocka_unit_test(test_url_reports),
        cmocka_unit_test(test_url_rejects),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_usage_fixture),
        cmocka_unit_test(test_cost_fixture),
        cmocka_unit_test(test_api_keys_fixture),
        cmocka_unit_test(test_workspaces_fixture),
        cmocka_unit_test(test_error_fixtures),
        cmocka_unit_test(test_usage_crafted),
        cmocka_unit_test(test_cost_crafted),
        cmocka_unit_test(test_api_keys_crafted),
        cmocka_unit_test(test_not_json),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_usage_wrong_types),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_amounts),
        cmocka_unit_test(test_cost_fields),
        cmocka_unit_test(test_inventory_wrong_types),
        cmocka_unit_test(test_many_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
