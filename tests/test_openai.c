/*
 * Unit tests for collector/openai.c: the endpoint table, URL building
 * (group_by repetition, cursors, encoding), headers, and the pure parser
 * on the published OpenAI examples under tests/data/openai/ (exact samples,
 * events and inventory items), plus hostile bodies (truncated, wrong types,
 * error objects, HTML, huge and deeply nested input, random mutations) that
 * must fail with a reason naming the field and never crash.
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

#include "../collector/normalize.h"
#include "../collector/openai.h"
#include "testutil.h"

#define DATA "tests/data/openai/"
#define ACCOUNT "acme-openai"

static char g_err[512];

/* ---- helpers ---- */

static const struct col_endpoint *ep_named(const char *name)
{
    const struct col_poller_ops *ops = &col_openai_poller;
    for (size_t i = 0; i < ops->n_endpoints; i++)
        if (strcmp(ops->endpoints[i].name, name) == 0)
            return &ops->endpoints[i];
    fail_msg("no endpoint %s", name);
    return NULL;
}

static char *fixture(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, DATA "%s", name);
    char *t = tu_read_file(path);
    if (!t)
        fail_msg("cannot read %s (run from the repository root)", path);
    return t;
}

/* Parses len bytes of body as a page of endpoint ep; returns parse()'s result. */
static int parse_n(const char *ep, const char *project, const char *page, const char *body,
                   size_t len, struct col_out *out)
{
    struct col_request req = {.ep = ep_named(ep), .project = project, .page = page};
    struct col_parse_ctx ctx = {.provider = "openai", .account = ACCOUNT, .req = &req};
    memset(out, 0, sizeof *out);
    g_err[0] = '\0';
    return col_openai_poller.parse(&ctx, body, len, out, g_err, sizeof g_err);
}

static int parse_s(const char *ep, const char *body, struct col_out *out)
{
    return parse_n(ep, NULL, NULL, body, strlen(body), out);
}

static void must_parse(const char *ep, const char *project, const char *body, struct col_out *out)
{
    if (parse_n(ep, project, NULL, body, strlen(body), out) != 0)
        fail_msg("%s: parse failed: %s", ep, g_err);
}

/* Asserts that body fails for ep and that the reason contains want. */
static void expect_fail_n(const char *ep, const char *body, size_t len, const char *want)
{
    struct col_out out;
    int rc = parse_n(ep, "proj_abc", NULL, body, len, &out);
    col_out_free(&out);
    if (rc != -1)
        fail_msg("%s: expected -1, got %d (want reason \"%s\")", ep, rc, want);
    if (!strstr(g_err, want))
        fail_msg("%s: reason \"%s\" lacks \"%s\"", ep, g_err, want);
}

static void expect_fail(const char *ep, const char *body, const char *want)
{
    expect_fail_n(ep, body, strlen(body), want);
}

/* A malloc'd string from fmt (tests only; fails the test on error). */
static char *fmt_alloc(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *fmt_alloc(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    va_start(ap, fmt);
    int w = vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    assert_int_equal(w, n);
    return s;
}

/* One bucket [start, end) holding result objects `results` (JSON text). */
static char *page_of(int64_t start, int64_t end, const char *results, const char *tail)
{
    return fmt_alloc("{\"object\":\"page\",\"data\":[{\"object\":\"bucket\",\"start_time\":%lld,"
                     "\"end_time\":%lld,\"results\":[%s]}],%s}",
                     (long long)start, (long long)end, results,
                     tail ? tail : "\"has_more\":false,\"next_page\":null");
}

static char *list_of(const char *items)
{
    return fmt_alloc("{\"object\":\"list\",\"data\":[%s],\"first_id\":null,\"last_id\":null,"
                     "\"has_more\":false}",
                     items);
}

struct exp {
    const char *metric;
    const char *labels[COL_MAX_LABELS][2]; /* ends at the first NULL name */
    int64_t bucket, width;
    double value;
};

static void check_samples(const struct col_out *o, const struct exp *e, size_t n)
{
    if (o->n_samples != n)
        fail_msg("got %zu samples, want %zu", o->n_samples, n);
    for (size_t i = 0; i < n; i++) {
        const struct col_sample *s = &o->samples[i];
        assert_string_equal(s->metric, e[i].metric);
        size_t nl = 0;
        while (nl < COL_MAX_LABELS && e[i].labels[nl][0])
            nl++;
        if (s->n_labels != nl)
            fail_msg("sample %zu (%s): %zu labels, want %zu", i, s->metric, s->n_labels, nl);
        for (size_t j = 0; j < nl; j++) {
            assert_string_equal(s->labels[j].name, e[i].labels[j][0]);
            assert_string_equal(s->labels[j].value, e[i].labels[j][1]);
        }
        assert_int_equal(s->bucket, e[i].bucket);
        assert_int_equal(s->width, e[i].width);
        if (s->value != e[i].value)
            fail_msg("sample %zu (%s): value %.17g, want %.17g", i, s->metric, s->value,
                     e[i].value);
    }
}

static json_t *load_json(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j)
        fail_msg("bad JSON from parser: %s: %s", je.text, text);
    return j;
}

static void expect_jstr(const json_t *o, const char *key, const char *want)
{
    json_t *v = json_object_get(o, key);
    if (!want) {
        if (v)
            fail_msg("key %s present, want absent", key);
        return;
    }
    if (!json_is_string(v))
        fail_msg("key %s: not a string", key);
    assert_string_equal(json_string_value(v), want);
}

#define DAY_START 1730419200
/* clang-format off */
#define L_BASE {"provider", "openai"}, {"account", ACCOUNT}
/* clang-format on */

/* ---- endpoint table, URLs, headers ---- */

static void test_endpoint_table(void **state)
{
    (void)state;
    static const char *const names[] = {
        "projects",
        "project_api_keys",
        "admin_api_keys",
        "usage/completions",
        "usage/embeddings",
        "usage/moderations",
        "usage/images",
        "usage/audio_speeches",
        "usage/audio_transcriptions",
        "usage/vector_stores",
        "usage/code_interpreter_sessions",
        "usage/file_search_calls",
        "usage/web_search_calls",
        "costs",
        "audit_logs",
    };
    const struct col_poller_ops *ops = &col_openai_poller;
    assert_string_equal(ops->type, "openai");
    assert_non_null(ops->url);
    assert_non_null(ops->headers);
    assert_non_null(ops->parse);
    assert_int_equal(ops->n_endpoints, sizeof names / sizeof names[0]);
    for (size_t i = 0; i < ops->n_endpoints; i++) {
        const struct col_endpoint *e = &ops->endpoints[i];
        assert_string_equal(e->name, names[i]);
        assert_non_null(e->spec);
        if (i < 3) {
            assert_int_equal(e->kind, COL_EP_LIST);
            assert_int_equal(e->per_project, i == 1);
        } else if (i < 13) {
            assert_int_equal(e->kind, COL_EP_BUCKETS);
            assert_int_equal(e->bucket, 3600);
            assert_int_equal(e->lookback, 3 * 3600);
            assert_int_equal(e->max_window, 168 * 3600);
        } else if (i == 13) {
            assert_int_equal(e->kind, COL_EP_BUCKETS);
            assert_int_equal(e->bucket, 86400);
            assert_int_equal(e->lookback, 3 * 86400);
            assert_int_equal(e->max_window, 180 * 86400);
        } else {
            assert_int_equal(e->kind, COL_EP_LOG);
        }
    }
}

static const char *url_for(const char *ep, int64_t start, int64_t end, const char *page,
                           const char *project)
{
    static char buf[2048];
    struct col_request req = {
        .ep = ep_named(ep), .start = start, .end = end, .page = page, .project = project};
    if (col_openai_poller.url("http://127.0.0.1:8080/v1", &req, buf, sizeof buf) != 0)
        fail_msg("url(%s) failed", ep);
    return buf;
}

static void test_url_lists(void **state)
{
    (void)state;
    assert_string_equal(url_for("projects", 0, 0, NULL, NULL),
                        "http://127.0.0.1:8080/v1/organization/projects"
                        "?limit=100&include_archived=true");
    assert_string_equal(url_for("projects", 0, 0, "proj-xyz", NULL),
                        "http://127.0.0.1:8080/v1/organization/projects"
                        "?limit=100&include_archived=true&after=proj-xyz");
    assert_string_equal(url_for("project_api_keys", 0, 0, NULL, "proj_abc"),
                        "http://127.0.0.1:8080/v1/organization/projects/proj_abc/api_keys"
                        "?limit=100&owner_project_access=any");
    assert_string_equal(url_for("project_api_keys", 0, 0, "key x&y=1", "proj a/b?c#d%"),
                        "http://127.0.0.1:8080/v1/organization/projects/proj%20a%2Fb%3Fc%23d%25"
                        "/api_keys?limit=100&owner_project_access=any&after=key%20x%26y%3D1");
    assert_string_equal(url_for("admin_api_keys", 0, 0, NULL, NULL),
                        "http://127.0.0.1:8080/v1/organization/admin_api_keys?limit=100");
    assert_string_equal(url_for("admin_api_keys", 0, 0, "key_abc", NULL),
                        "http://127.0.0.1:8080/v1/organization/admin_api_keys"
                        "?limit=100&after=key_abc");
}

static void test_url_usage(void **state)
{
    (void)state;
    assert_string_equal(
        url_for("usage/completions", 1730419200, 1730505600, NULL, NULL),
        "http://127.0.0.1:8080/v1/organization/usage/completions"
        "?start_time=1730419200&end_time=1730505600&bucket_width=1h&limit=168"
        "&group_by=project_id&group_by=api_key_id&group_by=model&group_by=service_tier"
        "&group_by=batch");
    assert_string_equal(
        url_for("usage/completions", 1730419200, 1730505600,
                "page_AAAAAGdGxdEiJdKOAAAAAGcqsYA=", NULL),
        "http://127.0.0.1:8080/v1/organization/usage/completions"
        "?start_time=1730419200&end_time=1730505600&bucket_width=1h&limit=168"
        "&group_by=project_id&group_by=api_key_id&group_by=model&group_by=service_tier"
        "&group_by=batch&page=page_AAAAAGdGxdEiJdKOAAAAAGcqsYA%3D");
    assert_string_equal(url_for("usage/embeddings", 3600, 7200, NULL, NULL),
                        "http://127.0.0.1:8080/v1/organization/usage/embeddings"
                        "?start_time=3600&end_time=7200&bucket_width=1h&limit=168"
                        "&group_by=project_id&group_by=api_key_id&group_by=model");
    assert_string_equal(url_for("usage/images", 3600, 7200, NULL, NULL),
                        "http://127.0.0.1:8080/v1/organization/usage/images"
                        "?start_time=3600&end_time=7200&bucket_width=1h&limit=168"
                        "&group_by=project_id&group_by=api_key_id&group_by=model");
    assert_string_equal(url_for("usage/vector_stores", 3600, 7200, NULL, NULL),
                        "http://127.0.0.1:8080/v1/organization/usage/vector_stores"
                        "?start_time=3600&end_time=7200&bucket_width=1h&limit=168"
                        "&group_by=project_id");
    assert_string_equal(url_for("usage/code_interpreter_sessions", 3600, 7200, NULL, NULL),
                        "http://127.0.0.1:8080/v1/organization/usage/code_interpreter_sessions"
                        "?start_time=3600&end_time=7200&bucket_width=1h&limit=168"
                        "&group_by=project_id");
    assert_string_equal(url_for("usage/file_search_calls", 3600, 7200, NULL, NULL),
                        "http://127.0.0.1:8080/v1/organization/usage/file_search_calls"
                        "?start_time=3600&end_time=7200&bucket_width=1h&limit=168"
                        "&group_by=project_id&group_by=api_key_id");
    assert_string_equal(url_for("usage/web_search_calls", 3600, 7200, "p/1+2", NULL),
                        "http://127.0.0.1:8080/v1/organization/usage/web_search_calls"
                        "?start_time=3600&end_time=7200&bucket_width=1h&limit=168"
                        "&group_by=project_id&group_by=api_key_id&group_by=model"
                        "&page=p%2F1%2B2");
}

static void test_url_costs_audit(void **state)
{
    (void)state;
    assert_string_equal(url_for("costs", 1730419200, 1730505600, NULL, NULL),
                        "http://127.0.0.1:8080/v1/organization/costs"
                        "?start_time=1730419200&end_time=1730505600&bucket_width=1d&limit=180"
                        "&group_by=project_id&group_by=line_item&group_by=api_key_id");
    assert_string_equal(url_for("costs", 1730419200, 1730505600, "page_2", NULL),
                        "http://127.0.0.1:8080/v1/organization/costs"
                        "?start_time=1730419200&end_time=1730505600&bucket_width=1d&limit=180"
                        "&group_by=project_id&group_by=line_item&group_by=api_key_id"
                        "&page=page_2");
    assert_string_equal(url_for("audit_logs", 1722461446, 0, NULL, NULL),
                        "http://127.0.0.1:8080/v1/organization/audit_logs"
                        "?effective_at[gte]=1722461446&limit=100");
    assert_string_equal(url_for("audit_logs", 1722461446, 0, "audit_log_yyy__20240101", NULL),
                        "http://127.0.0.1:8080/v1/organization/audit_logs"
                        "?effective_at[gte]=1722461446&limit=100&after=audit_log_yyy__20240101");
}

static void test_url_edges(void **state)
{
    (void)state;
    char buf[256];
    struct col_request req = {.ep = ep_named("admin_api_keys")};
    /* a trailing slash on the base is not doubled */
    assert_int_equal(col_openai_poller.url("https://api.openai.com/v1/", &req, buf, sizeof buf), 0);
    assert_string_equal(buf, "https://api.openai.com/v1/organization/admin_api_keys?limit=100");
    /* exactly fitting, one byte short, tiny */
    size_t need = strlen(buf) + 1;
    assert_int_equal(col_openai_poller.url("https://api.openai.com/v1", &req, buf, need), 0);
    assert_int_equal(col_openai_poller.url("https://api.openai.com/v1", &req, buf, need - 1), -1);
    assert_string_equal(buf, "");
    assert_int_equal(col_openai_poller.url("https://api.openai.com/v1", &req, buf, 1), -1);
    /* an encoded cursor that does not fit */
    char page[300];
    memset(page, '/', sizeof page - 1);
    page[sizeof page - 1] = '\0';
    req.page = page;
    assert_int_equal(col_openai_poller.url("https://api.openai.com/v1", &req, buf, sizeof buf), -1);
    /* project keys need a project */
    struct col_request pk = {.ep = ep_named("project_api_keys")};
    assert_int_equal(col_openai_poller.url("https://api.openai.com/v1", &pk, buf, sizeof buf), -1);
    pk.project = "";
    assert_int_equal(col_openai_poller.url("https://api.openai.com/v1", &pk, buf, sizeof buf), -1);
    assert_int_equal(col_openai_poller.url(NULL, &req, buf, sizeof buf), -1);
}

static void test_headers(void **state)
{
    (void)state;
    struct curl_slist *h = col_openai_poller.headers(NULL, "sk-admin-test1234");
    assert_non_null(h);
    int auth = 0, ctype = 0, n = 0;
    for (struct curl_slist *p = h; p; p = p->next, n++) {
        if (strcmp(p->data, "Authorization: Bearer sk-admin-test1234") == 0)
            auth++;
        else if (strcmp(p->data, "Content-Type: application/json") == 0)
            ctype++;
        else
            fail_msg("unexpected header %s", p->data);
    }
    assert_int_equal(n, 2);
    assert_int_equal(auth, 1);
    assert_int_equal(ctype, 1);
    /* appended to an existing list, which stays the head */
    struct curl_slist *base = curl_slist_append(NULL, "User-Agent: byokwatch");
    assert_non_null(base);
    struct curl_slist *h2 = col_openai_poller.headers(base, "k");
    assert_ptr_equal(h2, base);
    assert_string_equal(h2->data, "User-Agent: byokwatch");
    assert_non_null(h2->next);
    assert_non_null(h2->next->next);
    assert_null(h2->next->next->next);
    curl_slist_free_all(h2);
    curl_slist_free_all(h);
    /* header injection and empty keys are refused */
    assert_null(col_openai_poller.headers(NULL, "sk-x\r\nX-Evil: 1"));
    assert_null(col_openai_poller.headers(NULL, "sk-x\n"));
    assert_null(col_openai_poller.headers(NULL, ""));
    assert_null(col_openai_poller.headers(NULL, NULL));
}

/* ---- usage fixtures ---- */

static void test_usage_completions_fixture(void **state)
{
    (void)state;
    char *body = fixture("usage_completions.json");
    struct col_out out;
    must_parse("usage/completions", NULL, body, &out);
/* clang-format off */
#define LC L_BASE, {"project", "default"}, {"kind", "completions"}
    /* clang-format on */
    const struct exp want[] = {
        {"requests", {LC}, DAY_START, 86400, 5},
        {"input_tokens", {LC}, DAY_START, 86400, 1000},
        {"input_cached_tokens", {LC}, DAY_START, 86400, 400},
        {"input_cache_write_tokens", {LC}, DAY_START, 86400, 100},
        {"output_tokens", {LC}, DAY_START, 86400, 500},
    };
#undef LC
    check_samples(&out, want, sizeof want / sizeof want[0]);
    assert_non_null(out.next_page);
    assert_string_equal(out.next_page, "page_AAAAAGdGxdEiJdKOAAAAAGcqsYA=");
    assert_int_equal(out.n_events, 0);
    assert_int_equal(out.n_items, 0);
    col_out_free(&out);

    /* the same page asked for with its own cursor is an endless loop */
    assert_int_equal(parse_n("usage/completions", NULL, "page_AAAAAGdGxdEiJdKOAAAAAGcqsYA=", body,
                             strlen(body), &out),
                     -1);
    assert_non_null(strstr(g_err, "next_page: repeats"));
    col_out_free(&out);
    free(body);
}

struct usage_case {
    const char *file, *ep, *kind;
    const char *m1;
    double v1;
    const char *m2; /* NULL when one metric */
    double v2;
};

static void test_usage_other_fixtures(void **state)
{
    (void)state;
    static const struct usage_case cases[] = {
        {"usage_embeddings.json", "usage/embeddings", "embeddings", "requests", 2, "input_tokens",
         16},
        {"usage_moderations.json", "usage/moderations", "moderations", "requests", 2,
         "input_tokens", 16},
        {"usage_images.json", "usage/images", "images", "requests", 2, "images", 2},
        {"usage_audio_speeches.json", "usage/audio_speeches", "audio_speeches", "requests", 1,
         "characters", 45},
        {"usage_audio_transcriptions.json", "usage/audio_transcriptions", "audio_transcriptions",
         "requests", 1, "audio_seconds", 20},
        {"usage_vector_stores.json", "usage/vector_stores", "vector_stores", "usage_bytes", 1024,
         NULL, 0},
        {"usage_code_interpreter_sessions.json", "usage/code_interpreter_sessions",
         "code_interpreter_sessions", "sessions", 1, NULL, 0},
        {"usage_file_search_calls.json", "usage/file_search_calls", "file_search_calls",
         "file_search_calls", 2, NULL, 0},
        {"usage_web_search_calls.json", "usage/web_search_calls", "web_search_calls", "requests", 2,
         "web_search_calls", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct usage_case *c = &cases[i];
        char *body = fixture(c->file);
        struct col_out out;
        must_parse(c->ep, NULL, body, &out);
        struct exp want[2] = {
            {c->m1, {L_BASE, {"project", "default"}, {"kind", c->kind}}, DAY_START, 86400, c->v1},
            {c->m2, {L_BASE, {"project", "default"}, {"kind", c->kind}}, DAY_START, 86400, c->v2},
        };
        check_samples(&out, want, c->m2 ? 2 : 1);
        assert_null(out.next_page);
        col_out_free(&out);
        free(body);
    }
}

static void test_usage_grouped_objects(void **state)
{
    (void)state;
    const int64_t h = 1730419200, w = 3600;
    struct col_out out;

    char *obj = fixture("object_usage_completions_result.json");
    char *body = page_of(h, h + w, obj, NULL);
    must_parse("usage/completions", NULL, body, &out);
#define LG                                                                                         \
    L_BASE, {"project", "proj_abc"}, {"api_key_id", "key_abc"},                                    \
        {"model", "gpt-4o-mini-2024-07-18"}, {"service_tier", "default"}, {"batch", "false"},      \
    {                                                                                              \
        "kind", "completions"                                                                      \
    }
    const struct exp want_c[] = {
        {"requests", {LG}, h, w, 5},
        {"input_tokens", {LG}, h, w, 5000},
        {"input_cached_tokens", {LG}, h, w, 1800},
        {"input_cache_write_tokens", {LG}, h, w, 200},
        {"output_tokens", {LG}, h, w, 1000},
    };
#undef LG
    check_samples(&out, want_c, 5);
    assert_null(out.next_page);
    col_out_free(&out);
    free(body);
    free(obj);

    obj = fixture("object_usage_embeddings_result.json");
    body = page_of(h, h + w, obj, NULL);
    must_parse("usage/embeddings", NULL, body, &out);
#define LE                                                                                         \
    L_BASE, {"project", "proj_abc"}, {"api_key_id", "key_abc"},                                    \
        {"model", "text-embedding-ada-002-v2"},                                                    \
    {                                                                                              \
        "kind", "embeddings"                                                                       \
    }
    const struct exp want_e[] = {
        {"requests", {LE}, h, w, 2},
        {"input_tokens", {LE}, h, w, 20},
    };
#undef LE
    check_samples(&out, want_e, 2);
    col_out_free(&out);
    free(body);
    free(obj);

    obj = fixture("object_usage_images_result.json");
    body = page_of(h, h + w, obj, NULL);
    must_parse("usage/images", NULL, body, &out);
#define LI                                                                                         \
    L_BASE, {"project", "proj_abc"}, {"api_key_id", "key_abc"}, {"model", "dall-e-3"},             \
    {                                                                                              \
        "kind", "images"                                                                           \
    }
    const struct exp want_i[] = {
        {"requests", {LI}, h, w, 2},
        {"images", {LI}, h, w, 2},
    };
#undef LI
    check_samples(&out, want_i, 2);
    col_out_free(&out);
    free(body);
    free(obj);

    obj = fixture("object_usage_web_search_calls_result.json");
    body = page_of(h, h + w, obj, NULL);
    must_parse("usage/web_search_calls", NULL, body, &out);
#define LW                                                                                         \
    L_BASE, {"project", "proj_abc"}, {"api_key_id", "key_abc"},                                    \
        {"model", "gpt-4o-mini-2024-07-18"},                                                       \
    {                                                                                              \
        "kind", "web_search_calls"                                                                 \
    }
    const struct exp want_w[] = {
        {"requests", {LW}, h, w, 2},
        {"web_search_calls", {LW}, h, w, 2},
    };
#undef LW
    check_samples(&out, want_w, 2);
    col_out_free(&out);
    free(body);
    free(obj);
}

static void test_usage_multi_bucket_and_batch(void **state)
{
    (void)state;
    const char *body =
        "{\"object\":\"page\",\"data\":["
        "{\"object\":\"bucket\",\"start_time\":7200,\"end_time\":10800,\"results\":[]},"
        "{\"object\":\"bucket\",\"start_time\":10800,\"end_time\":14400,\"results\":["
        "{\"object\":\"organization.usage.completions.result\",\"input_tokens\":7,"
        "\"output_tokens\":3,\"num_model_requests\":1,\"project_id\":\"\",\"batch\":true,"
        "\"model\":\"o3\"}]}],"
        "\"has_more\":true,\"next_page\":\"page_2\"}";
    struct col_out out;
    must_parse("usage/completions", NULL, body, &out);
/* clang-format off */
#define LB L_BASE, {"project", "default"}, {"model", "o3"}, {"batch", "true"}, {"kind", "completions"}
    /* clang-format on */
    const struct exp want[] = {
        {"requests", {LB}, 10800, 3600, 1},
        {"input_tokens", {LB}, 10800, 3600, 7},
        {"output_tokens", {LB}, 10800, 3600, 3},
    };
#undef LB
    check_samples(&out, want, 3);
    assert_string_equal(out.next_page, "page_2");
    col_out_free(&out);
}

/* ---- costs ---- */

static void test_costs(void **state)
{
    (void)state;
    struct col_out out;
    char *body = fixture("costs.json");
    must_parse("costs", NULL, body, &out);
    const struct exp want[] = {
        {"cost_usd", {L_BASE, {"project", "default"}}, DAY_START, 86400, 0.06},
    };
    check_samples(&out, want, 1);
    assert_null(out.next_page);
    col_out_free(&out);
    free(body);

    char *obj = fixture("object_costs_result.json");
    body = page_of(DAY_START, DAY_START + 86400, obj, NULL);
    must_parse("costs", NULL, body, &out);
    const struct exp want2[] = {
        {"cost_usd",
         {L_BASE, {"project", "proj_abc"}, {"line_item", "input_tokens"}},
         DAY_START,
         86400,
         0.06},
    };
    check_samples(&out, want2, 1);
    col_out_free(&out);
    free(body);
    free(obj);

    /* currency case-insensitive, api_key_id label, negative credit kept */
    body = page_of(0, 86400,
                   "{\"amount\":{\"value\":-1.5,\"currency\":\"USD\"},\"line_item\":\"credit\","
                   "\"project_id\":\"proj_x\",\"api_key_id\":\"key_1\"}",
                   NULL);
    must_parse("costs", NULL, body, &out);
    const struct exp want3[] = {
        {"cost_usd",
         {L_BASE, {"project", "proj_x"}, {"line_item", "credit"}, {"api_key_id", "key_1"}},
         0,
         86400,
         -1.5},
    };
    check_samples(&out, want3, 1);
    col_out_free(&out);
    free(body);
}

/* ---- audit log ---- */

static void test_audit_strict(void **state)
{
    (void)state;
    struct col_out out;
    char *body = fixture("audit_logs_list.strict.json");
    must_parse("audit_logs", NULL, body, &out);
    assert_int_equal(out.n_events, 2);
    assert_int_equal(out.n_samples, 0);
    assert_string_equal(out.next_page, "audit_log_yyy__20240101");
    assert_int_equal(out.max_time, 1722461446);

    const struct col_event *e = &out.events[0];
    assert_int_equal(e->time, 1722461446);
    assert_string_equal(e->type, "audit.project.archived");
    assert_string_equal(e->uid, "audit_log-xxx_yyyymmdd");
    json_t *j = load_json(e->json);
    expect_jstr(j, "provider", "openai");
    expect_jstr(j, "account", ACCOUNT);
    expect_jstr(j, "type", "project.archived");
    assert_int_equal(json_integer_value(json_object_get(j, "time")), 1722461446);
    expect_jstr(j, "actor", "user@example.com");
    expect_jstr(j, "actor_type", "api_key");
    expect_jstr(j, "project", "proj_abc");
    expect_jstr(j, "ip", NULL);
    expect_jstr(j, "key_id", NULL);
    assert_null(json_object_get(j, "lat"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "raw"), "id")),
                        "audit_log-xxx_yyyymmdd");
    json_decref(j);

    e = &out.events[1];
    assert_int_equal(e->time, 1720804190);
    assert_string_equal(e->type, "audit.api_key.updated");
    assert_string_equal(e->uid, "audit_log-yyy__20240101");
    j = load_json(e->json);
    expect_jstr(j, "type", "api_key.updated");
    expect_jstr(j, "actor", "user@example.com");
    expect_jstr(j, "actor_type", "session");
    expect_jstr(j, "ip", "127.0.0.1");
    expect_jstr(j, "user_agent",
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                "Gecko) Chrome/91.0.4472.124 Safari/537.36");
    expect_jstr(j, "country", "US");
    expect_jstr(j, "city", "San Francisco");
    expect_jstr(j, "region", "California");
    expect_jstr(j, "key_id", "key_xxxx");
    expect_jstr(j, "project", NULL);
    json_t *lat = json_object_get(j, "lat"), *lon = json_object_get(j, "lon");
    assert_true(json_is_number(lat));
    assert_true(json_is_number(lon));
    assert_true(json_number_value(lat) == 37.7749);
    assert_true(json_number_value(lon) == -122.4194);
    /* raw is the whole entry, strings as published */
    json_t *raw = json_object_get(j, "raw");
    json_t *det =
        json_object_get(json_object_get(json_object_get(json_object_get(raw, "actor"), "session"),
                                        "ip_address_details"),
                        "latitude");
    assert_string_equal(json_string_value(det), "37.77490");
    assert_non_null(json_object_get(raw, "api_key.updated"));
    json_decref(j);
    col_out_free(&out);
    free(body);
}

static void test_audit_published_invalid(void **state)
{
    (void)state;
    char *body = fixture("audit_logs_list.json");
    expect_fail("audit_logs", body, "invalid JSON at line");
    free(body);
}

static void test_audit_object_and_login_failed(void **state)
{
    (void)state;
    struct col_out out;
    char *obj = fixture("object_audit_log.json");
    char *body = fmt_alloc("{\"object\":\"list\",\"data\":[%s],\"has_more\":false}", obj);
    must_parse("audit_logs", NULL, body, &out);
    assert_int_equal(out.n_events, 1);
    assert_null(out.next_page);
    assert_string_equal(out.events[0].type, "audit.api_key.created");
    assert_string_equal(out.events[0].uid, "req_xxx_20240101");
    assert_int_equal(out.events[0].time, 1720804090);
    json_t *j = load_json(out.events[0].json);
    expect_jstr(j, "actor", "user@example.com");
    expect_jstr(j, "actor_type", "session");
    expect_jstr(j, "ip", "127.0.0.1");
    expect_jstr(j, "key_id", "key_xxxx");
    expect_jstr(j, "country", NULL);
    json_decref(j);
    col_out_free(&out);
    free(body);
    free(obj);

    /* login.failed with numeric geo, an api-key actor id, project scope */
    const char *lf =
        "{\"object\":\"list\",\"data\":[{\"id\":\"a1\",\"type\":\"login.failed\","
        "\"effective_at\":1700000000,\"project\":{\"id\":\"proj_p\",\"name\":\"P\"},"
        "\"actor\":{\"type\":\"session\",\"session\":{\"user\":{\"id\":\"user-9\"},"
        "\"ip_address\":\"203.0.113.9\",\"ip_address_details\":{\"country\":\"BR\","
        "\"latitude\":-23.5,\"longitude\":\"not a number\"}}},"
        "\"login.failed\":{\"error_code\":\"invalid_password\",\"error_message\":\"bad\"}},"
        "{\"id\":\"a2\",\"type\":\"rate_limit.updated\",\"effective_at\":1700000100,"
        "\"actor\":{\"type\":\"api_key\",\"api_key\":{\"id\":\"key_trk\",\"type\":"
        "\"service_account\",\"service_account\":{\"id\":\"svc_1\"}}},"
        "\"rate_limit.updated\":{\"id\":\"rl_1\"}}],"
        "\"has_more\":true,\"last_id\":\"a2\"}";
    must_parse("audit_logs", NULL, lf, &out);
    assert_int_equal(out.n_events, 2);
    assert_string_equal(out.next_page, "a2");
    assert_int_equal(out.max_time, 1700000100);
    j = load_json(out.events[0].json);
    expect_jstr(j, "actor", "user-9");
    expect_jstr(j, "error_code", "invalid_password");
    expect_jstr(j, "project", "proj_p");
    expect_jstr(j, "country", "BR");
    assert_true(json_number_value(json_object_get(j, "lat")) == -23.5);
    assert_null(json_object_get(j, "lon"));
    json_decref(j);
    j = load_json(out.events[1].json);
    expect_jstr(j, "actor", "svc_1");
    expect_jstr(j, "actor_type", "api_key");
    expect_jstr(j, "key_id", "key_trk");
    json_decref(j);
    col_out_free(&out);

    /* out-of-range coordinates are dropped, not stored */
    const char *far = "{\"object\":\"list\",\"data\":[{\"id\":\"a\",\"type\":\"login.succeeded\","
                      "\"effective_at\":1,\"actor\":{\"type\":\"session\",\"session\":{"
                      "\"ip_address_details\":{\"latitude\":\"91\",\"longitude\":\"1e400\"}}}}],"
                      "\"has_more\":false}";
    must_parse("audit_logs", NULL, far, &out);
    j = load_json(out.events[0].json);
    assert_null(json_object_get(j, "lat"));
    assert_null(json_object_get(j, "lon"));
    json_decref(j);
    col_out_free(&out);
}

/* ---- inventory ---- */

static void test_projects(void **state)
{
    (void)state;
    struct col_out out;
    char *body = fixture("projects_list.json");
    must_parse("projects", NULL, body, &out);
    assert_int_equal(out.n_items, 1);
    assert_string_equal(out.items[0].kind, "project");
    assert_string_equal(out.items[0].id, "proj_abc");
    assert_string_equal(out.items[0].json,
                        "{\"account\":\"acme-openai\",\"created_at\":1711471533,"
                        "\"id\":\"proj_abc\",\"name\":\"Project example\",\"project\":\"proj_abc\","
                        "\"provider\":\"openai\","
                        "\"status\":\"active\"}");
    assert_null(out.next_page);
    col_out_free(&out);
    free(body);

    const char *more = "{\"object\":\"list\",\"data\":[{\"id\":\"proj_old\",\"name\":null,"
                       "\"created_at\":1,\"archived_at\":2,\"status\":\"archived\"}],"
                       "\"first_id\":\"proj_old\",\"last_id\":\"proj_old\",\"has_more\":true}";
    must_parse("projects", NULL, more, &out);
    assert_string_equal(out.items[0].json,
                        "{\"account\":\"acme-openai\",\"archived_at\":2,\"created_at\":1,"
                        "\"id\":\"proj_old\",\"project\":\"proj_old\",\"provider\":\"openai\","
                        "\"status\":\"archived\"}");
    assert_string_equal(out.next_page, "proj_old");
    col_out_free(&out);
}

static void test_project_keys(void **state)
{
    (void)state;
    struct col_out out;
    char *body = fixture("project_api_keys_list.json");
    must_parse("project_api_keys", "proj_abc", body, &out);
    assert_int_equal(out.n_items, 1);
    assert_string_equal(out.items[0].kind, "api_key");
    assert_string_equal(out.items[0].id, "key_abc");
    assert_string_equal(
        out.items[0].json,
        "{\"account\":\"acme-openai\",\"created_at\":1711471533,\"id\":\"key_abc\","
        "\"last_used_at\":1711471534,\"name\":\"My API Key\",\"owner_email\":\"user@example.com\","
        "\"owner_id\":\"user_abc\",\"owner_type\":\"user\",\"project\":\"proj_abc\","
        "\"provider\":\"openai\",\"redacted_value\":\"...def\",\"status\":\"active\"}");
    col_out_free(&out);
    free(body);

    /* the schema example, a service-account owner, and a provider that leaks a full key */
    char *obj = fixture("object_project_api_key.json");
    body = fmt_alloc("{\"object\":\"list\",\"data\":[%s,{\"id\":\"key_sa\",\"name\":\"ci\","
                     "\"redacted_value\":\"sk-proj-FULLSECRETVALUEabcdWXYZ\","
                     "\"created_at\":5,\"last_used_at\":null,"
                     "\"owner_project_access\":\"inactive\",\"owner\":{\"type\":"
                     "\"service_account\",\"service_account\":{\"id\":\"svc_ci\"}}}],"
                     "\"has_more\":false}",
                     obj);
    must_parse("project_api_keys", "proj_b", body, &out);
    assert_int_equal(out.n_items, 2);
    assert_non_null(strstr(out.items[0].json, "\"project\":\"proj_b\""));
    assert_string_equal(out.items[1].json,
                        "{\"account\":\"acme-openai\",\"created_at\":5,\"id\":\"key_sa\","
                        "\"name\":\"ci\",\"owner_id\":\"svc_ci\",\"owner_type\":"
                        "\"service_account\",\"project\":\"proj_b\",\"provider\":\"openai\","
                        "\"redacted_value\":\"...WXYZ\",\"status\":\"inactive\"}");
    assert_null(strstr(out.items[1].json, "FULLSECRET"));
    col_out_free(&out);
    free(body);
    free(obj);

    /* a project key page without a project is a caller error */
    char *one = fixture("project_api_keys_list.json");
    assert_int_equal(parse_s("project_api_keys", one, &out), -1);
    assert_non_null(strstr(g_err, "project"));
    col_out_free(&out);
    free(one);
}

static void test_admin_keys(void **state)
{
    (void)state;
    struct col_out out;
    char *body = fixture("admin_api_keys_list.json");
    must_parse("admin_api_keys", NULL, body, &out);
    assert_int_equal(out.n_items, 1);
    assert_string_equal(out.items[0].kind, "admin_key");
    assert_string_equal(out.items[0].id, "key_abc");
    assert_string_equal(
        out.items[0].json,
        "{\"account\":\"acme-openai\",\"created_at\":1711471533,"
        "\"expires_at\":1714063533,\"id\":\"key_abc\",\"last_used_at\":1711471534,"
        "\"name\":\"Main Admin Key\",\"owner_id\":\"sa_456\",\"owner_type\":"
        "\"service_account\",\"provider\":\"openai\",\"redacted_value\":\"...def\"}");
    assert_null(out.next_page);
    col_out_free(&out);
    free(body);

    char *obj = fixture("object_admin_api_key.json");
    body = list_of(obj);
    must_parse("admin_api_keys", NULL, body, &out);
    assert_string_equal(out.items[0].json,
                        "{\"account\":\"acme-openai\",\"created_at\":1711471533,"
                        "\"id\":\"key_abc\",\"last_used_at\":1711471534,"
                        "\"name\":\"Main Admin Key\",\"owner_id\":\"user_123\",\"owner_type\":"
                        "\"user\",\"provider\":\"openai\",\"redacted_value\":\"...xyz\"}");
    col_out_free(&out);
    free(body);
    free(obj);
}

/* ---- hostile input ---- */

struct fx_ep {
    const char *file, *ep;
};

static const struct fx_ep all_fixtures[] = {
    {"usage_completions.json", "usage/completions"},
    {"usage_embeddings.json", "usage/embeddings"},
    {"usage_moderations.json", "usage/moderations"},
    {"usage_images.json", "usage/images"},
    {"usage_audio_speeches.json", "usage/audio_speeches"},
    {"usage_audio_transcriptions.json", "usage/audio_transcriptions"},
    {"usage_vector_stores.json", "usage/vector_stores"},
    {"usage_code_interpreter_sessions.json", "usage/code_interpreter_sessions"},
    {"usage_file_search_calls.json", "usage/file_search_calls"},
    {"usage_web_search_calls.json", "usage/web_search_calls"},
    {"costs.json", "costs"},
    {"audit_logs_list.strict.json", "audit_logs"},
    {"projects_list.json", "projects"},
    {"project_api_keys_list.json", "project_api_keys"},
    {"admin_api_keys_list.json", "admin_api_keys"},
};

static void test_truncated_and_empty(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof all_fixtures / sizeof all_fixtures[0]; i++) {
        char *body = fixture(all_fixtures[i].file);
        size_t len = strlen(body);
        /* cut in half, with no NUL after the cut (the copy is exactly len/2 bytes) */
        char *half = malloc(len / 2);
        assert_non_null(half);
        memcpy(half, body, len / 2);
        expect_fail_n(all_fixtures[i].ep, half, len / 2, "invalid JSON");
        free(half);
        /* every other cut point also fails cleanly */
        for (size_t cut = 1; cut < len - 1; cut += 7)
            expect_fail_n(all_fixtures[i].ep, body, cut, "invalid JSON");
        expect_fail_n(all_fixtures[i].ep, body, 0, "empty body");
        free(body);
    }
    expect_fail_n("usage/completions", NULL, 0, "empty body");
    expect_fail("usage/completions", "   ", "invalid JSON");
}

static void test_not_an_object(void **state)
{
    (void)state;
    expect_fail("usage/completions", "[]", "body: expected an object, got array");
    expect_fail("costs", "\"page\"", "body: expected an object, got string");
    expect_fail("audit_logs", "null", "body: expected an object, got null");
    expect_fail("projects", "42", "body: expected an object, got integer");
    char *html = fixture("html_502.html");
    expect_fail("usage/completions", html, "looks like HTML");
    free(html);
    expect_fail("usage/completions", "{\"object\":\"list\",\"data\":[],\"has_more\":false}",
                "object: expected \"page\"");
    expect_fail("projects", "{\"object\":\"page\",\"data\":[],\"has_more\":false}",
                "object: expected \"list\"");
    expect_fail("usage/completions", "{\"data\":[],\"data\":[],\"has_more\":false}",
                "duplicate object key");
    expect_fail("usage/completions", "{\"data\":[\"a\\u0000b\"],\"has_more\":false}",
                "invalid JSON");
}

static void test_error_object(void **state)
{
    (void)state;
    char *body = fixture("error_401.json");
    for (size_t i = 0; i < sizeof all_fixtures / sizeof all_fixtures[0]; i++)
        expect_fail(all_fixtures[i].ep, body,
                    "error: provider returned an error (invalid_request_error): "
                    "Incorrect API key provided");
    free(body);
    expect_fail("costs", "{\"error\":\"quota\\nexceeded\"}",
                "error: provider returned an error: quota?exceeded");
    expect_fail("costs", "{\"error\":{}}", "error: provider returned an error");
    /* a key echoed in a provider message keeps only its last four characters */
    expect_fail("costs",
                "{\"error\":{\"message\":\"Incorrect API key provided: "
                "sk-proj-ABCDEFGHIJKLMNOP1234. Or sk-ab.\",\"type\":\"invalid_request_error\"}}",
                "Incorrect API key provided: sk-...234. Or sk-***");
    assert_null(strstr(g_err, "ABCDEF"));
    /* an error object wins even next to data */
    expect_fail(
        "projects",
        "{\"object\":\"list\",\"data\":[],\"has_more\":false,\"error\":{\"message\":\"x\"}}",
        "provider returned an error: x");
}

static void test_wrong_types(void **state)
{
    (void)state;
    /* field path names the bucket and result */
    const char *third =
        "{\"object\":\"page\",\"data\":["
        "{\"start_time\":0,\"end_time\":3600,\"results\":[]},"
        "{\"start_time\":3600,\"end_time\":7200,\"results\":[]},"
        "{\"start_time\":7200,\"end_time\":10800,\"results\":[{\"input_tokens\":\"12\","
        "\"output_tokens\":1,\"num_model_requests\":1}]}],\"has_more\":false,\"next_page\":null}";
    expect_fail("usage/completions", third,
                "data[2].results[0].input_tokens: expected a number, got string");

    char *b;
#define RES_FAIL(ep, res, want)                                                                    \
    do {                                                                                           \
        b = page_of(0, 86400, res, NULL);                                                          \
        expect_fail(ep, b, want);                                                                  \
        free(b);                                                                                   \
    } while (0)
    RES_FAIL("usage/completions", "{\"input_tokens\":1,\"output_tokens\":1}",
             "data[0].results[0].num_model_requests: missing");
    RES_FAIL("usage/completions",
             "{\"input_tokens\":1,\"output_tokens\":-1,\"num_model_requests\":1}",
             "data[0].results[0].output_tokens: negative count");
    RES_FAIL("usage/completions",
             "{\"input_tokens\":1,\"output_tokens\":1,\"num_model_requests\":1,"
             "\"input_cached_tokens\":true}",
             "data[0].results[0].input_cached_tokens: expected a number, got boolean");
    RES_FAIL("usage/completions",
             "{\"input_tokens\":1e300,\"output_tokens\":1,\"num_model_requests\":1}",
             "data[0].results[0].input_tokens: count out of range");
    RES_FAIL("usage/completions",
             "{\"input_tokens\":1,\"output_tokens\":1,\"num_model_requests\":1,\"batch\":\"no\"}",
             "data[0].results[0].batch: expected a boolean, got string");
    RES_FAIL("usage/completions",
             "{\"input_tokens\":1,\"output_tokens\":1,\"num_model_requests\":1,\"model\":5}",
             "data[0].results[0].model: expected a string, got integer");
    RES_FAIL("usage/completions",
             "{\"input_tokens\":1,\"output_tokens\":1,\"num_model_requests\":1,"
             "\"project_id\":{}}",
             "data[0].results[0].project_id: expected a string, got object");
    RES_FAIL("usage/embeddings", "7", "data[0].results[0]: expected an object, got integer");
    RES_FAIL("usage/audio_transcriptions", "{\"num_model_requests\":1,\"seconds\":null}",
             "data[0].results[0].seconds: missing");
    RES_FAIL("usage/code_interpreter_sessions", "{\"sessions\":1}",
             "data[0].results[0].num_sessions: missing");
    RES_FAIL("usage/web_search_calls", "{\"num_model_requests\":1}",
             "data[0].results[0].num_requests: missing");
    RES_FAIL("costs", "{\"amount\":{\"value\":\"0.06\",\"currency\":\"usd\"}}",
             "data[0].results[0].amount.value: expected a number, got string");
    RES_FAIL("costs", "{\"amount\":{\"value\":1,\"currency\":\"eur\"}}",
             "data[0].results[0].amount.currency: only usd is supported");
    RES_FAIL("costs", "{\"amount\":{\"value\":1}}", "data[0].results[0].amount.currency: missing");
    RES_FAIL("costs", "{\"amount\":null}", "data[0].results[0].amount: missing");
    RES_FAIL("costs", "{\"amount\":[1]}",
             "data[0].results[0].amount: expected an object, got array");
    RES_FAIL("costs", "{\"amount\":{\"value\":1e13,\"currency\":\"usd\"}}",
             "data[0].results[0].amount.value: amount out of range");
#undef RES_FAIL
    /* costs buckets are one day; 1 h costs or a 2 h usage bucket are wrong */
    b = page_of(0, 3600, "", NULL);
    expect_fail("costs", b, "data[0]: bucket spans 3600 s, expected 86400");
    free(b);
    b = page_of(0, 7200, "", NULL);
    expect_fail("usage/images", b, "data[0]: bucket spans 7200 s, expected 3600 or 86400");
    free(b);
    b = page_of(7200, 3600, "", NULL);
    expect_fail("usage/images", b, "data[0]: bucket spans -3600 s");
    free(b);

    expect_fail("usage/completions", "{\"object\":\"page\",\"data\":null,\"has_more\":false}",
                "data: expected an array, got null");
    expect_fail("usage/completions", "{\"object\":\"page\",\"has_more\":false}", "data: missing");
    expect_fail("usage/completions",
                "{\"data\":[{\"start_time\":0,\"end_time\":3600,"
                "\"results\":{}}],\"has_more\":false}",
                "data[0].results: expected an array, got object");
    expect_fail("usage/completions",
                "{\"data\":[{\"start_time\":0,\"end_time\":3600}],\"has_more\":false}",
                "data[0].results: missing");
    expect_fail("usage/completions", "{\"data\":[[]],\"has_more\":false}",
                "data[0]: expected an object, got array");
    expect_fail("usage/completions",
                "{\"data\":[{\"end_time\":3600,\"results\":[]}],\"has_more\":false}",
                "data[0].start_time: missing");
    expect_fail("usage/completions",
                "{\"data\":[{\"start_time\":\"0\",\"end_time\":3600,\"results\":[]}],"
                "\"has_more\":false}",
                "data[0].start_time: expected an integer (Unix seconds), got string");
    expect_fail("usage/completions",
                "{\"data\":[{\"start_time\":-9223372036854775807,\"end_time\":3600,"
                "\"results\":[]}],\"has_more\":false}",
                "data[0].start_time: time -9223372036854775807 out of range");
    /* paging */
    expect_fail("usage/completions", "{\"data\":[],\"has_more\":true,\"next_page\":null}",
                "next_page: null while has_more is true");
    expect_fail("usage/completions", "{\"data\":[],\"has_more\":true}",
                "next_page: null while has_more is true");
    expect_fail("usage/completions", "{\"data\":[],\"has_more\":true,\"next_page\":\"\"}",
                "next_page: empty while has_more is true");
    expect_fail("usage/completions", "{\"data\":[],\"has_more\":\"true\",\"next_page\":\"p\"}",
                "has_more: expected a boolean, got string");
    expect_fail("usage/completions", "{\"data\":[],\"next_page\":null}", "has_more: missing");
    expect_fail("usage/completions", "{\"data\":[],\"has_more\":false,\"next_page\":3}",
                "next_page: expected a string, got integer");
    expect_fail("projects", "{\"data\":[],\"has_more\":true,\"last_id\":null}",
                "last_id: null while has_more is true");
    expect_fail("audit_logs", "{\"data\":[],\"has_more\":true}",
                "last_id: null while has_more is true");
    /* audit and list entries */
    expect_fail("audit_logs",
                "{\"data\":[{\"id\":\"a\",\"type\":\"login.failed\",\"effective_at\":\"1\"}],"
                "\"has_more\":false}",
                "data[0].effective_at: expected an integer (Unix seconds), got string");
    expect_fail("audit_logs", "{\"data\":[{\"id\":\"a\",\"effective_at\":1}],\"has_more\":false}",
                "data[0].type: missing");
    expect_fail("audit_logs",
                "{\"data\":[{\"id\":\"\",\"type\":\"x\",\"effective_at\":1}],\"has_more\":false}",
                "data[0].id: empty");
    expect_fail("audit_logs",
                "{\"data\":[{\"id\":\"a\",\"type\":\"x\",\"effective_at\":1,\"actor\":\"me\"}],"
                "\"has_more\":false}",
                "data[0].actor: expected an object, got string");
    expect_fail("audit_logs",
                "{\"data\":[{\"id\":\"a\",\"type\":\"x\",\"effective_at\":1,\"actor\":"
                "{\"session\":{\"ip_address\":127}}}],\"has_more\":false}",
                "data[0].actor.session.ip_address: expected a string, got integer");
    expect_fail("audit_logs",
                "{\"data\":[{\"id\":\"a\",\"type\":\"x\",\"effective_at\":1,\"actor\":"
                "{\"session\":{\"ip_address_details\":{\"latitude\":[]}}}}],\"has_more\":false}",
                "data[0].actor.session.ip_address_details.latitude: expected a number or a "
                "string, got array");
    expect_fail("audit_logs",
                "{\"data\":[{\"id\":\"a\",\"type\":\"login.failed\",\"effective_at\":1,"
                "\"login.failed\":{\"error_code\":1}}],\"has_more\":false}",
                "data[0].login.failed.error_code: expected a string, got integer");
    expect_fail("audit_logs",
                "{\"data\":[{\"id\":\"a\",\"type\":\"api_key.created\",\"effective_at\":1,"
                "\"api_key.created\":[]}],\"has_more\":false}",
                "data[0].api_key.created: expected an object, got array");
    /* a type without a '.' is not looked up as a payload key */
    struct col_out o2;
    must_parse("audit_logs", NULL,
               "{\"data\":[{\"id\":\"a\",\"type\":\"actor\",\"effective_at\":1,"
               "\"actor\":{\"type\":\"session\"}}],\"has_more\":false}",
               &o2);
    assert_string_equal(o2.events[0].type, "audit.actor");
    col_out_free(&o2);
    expect_fail("projects", "{\"data\":[{\"name\":\"x\"}],\"has_more\":false}",
                "data[0].id: missing");
    expect_fail("projects", "{\"data\":[{\"id\":7}],\"has_more\":false}",
                "data[0].id: expected a string, got integer");
    expect_fail("projects", "{\"data\":[{\"id\":\"p\",\"created_at\":1.5}],\"has_more\":false}",
                "data[0].created_at: expected an integer (Unix seconds), got number");
    expect_fail("admin_api_keys",
                "{\"data\":[{\"id\":\"k\",\"owner\":{\"id\":false}}],\"has_more\":false}",
                "data[0].owner.id: expected a string, got boolean");
    expect_fail("project_api_keys",
                "{\"data\":[{\"id\":\"k\",\"owner\":{\"type\":\"user\",\"user\":{\"email\":1}}}],"
                "\"has_more\":false}",
                "data[0].owner.user.email: expected a string, got integer");
    expect_fail("project_api_keys", "{\"data\":[null],\"has_more\":false}",
                "data[0]: expected an object, got null");
}

static void test_huge_and_nested(void **state)
{
    (void)state;
    /* integers beyond 64 bits and reals beyond double are JSON errors */
    char *b = page_of(0, 3600,
                      "{\"input_tokens\":123456789012345678901234567890,\"output_tokens\":1,"
                      "\"num_model_requests\":1}",
                      NULL);
    expect_fail("usage/completions", b, "too big integer");
    free(b);
    b = page_of(0, 3600, "{\"input_tokens\":1e999,\"output_tokens\":1,\"num_model_requests\":1}",
                NULL);
    expect_fail("usage/completions", b, "real number overflow");
    free(b);

    /* 10k nested arrays at the top and inside results */
    size_t depth = 10000;
    char *deep = malloc(2 * depth + 1);
    assert_non_null(deep);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    expect_fail("usage/completions", deep, "invalid JSON");
    b = page_of(0, 3600, deep, NULL);
    expect_fail("usage/completions", b, "maximum parsing depth");
    free(b);
    free(deep);
    char *objs = malloc(5 * depth + 1);
    assert_non_null(objs);
    /* {"a":{"a":... 1}} five thousand deep */
    size_t pos = 0;
    for (size_t i = 0; i < depth / 2; i++) {
        memcpy(objs + pos, "{\"a\":", 5);
        pos += 5;
    }
    objs[pos++] = '1';
    memset(objs + pos, '}', depth / 2);
    pos += depth / 2;
    objs[pos] = '\0';
    expect_fail("audit_logs", objs, "maximum parsing depth");
    free(objs);

    /* a large valid page: 20000 results, 60000 samples */
    size_t n = 20000;
    const char *one = "{\"input_tokens\":3,\"output_tokens\":2,\"num_model_requests\":1},";
    size_t ol = strlen(one);
    char *many = malloc(n * ol + 1);
    assert_non_null(many);
    for (size_t i = 0; i < n; i++)
        memcpy(many + i * ol, one, ol);
    many[n * ol - 1] = '\0'; /* drop the last comma */
    b = page_of(0, 3600, many, NULL);
    struct col_out out;
    must_parse("usage/embeddings", NULL, b, &out);
    assert_int_equal(out.n_samples, 2 * n);
    col_out_free(&out);
    free(b);
    free(many);

    /* a very long event type only cuts the error path, never overflows */
    size_t tl = 5000;
    char *type = malloc(tl + 1);
    assert_non_null(type);
    memset(type, 'x', tl);
    type[1] = '.';
    type[tl] = '\0';
    b = fmt_alloc("{\"data\":[{\"id\":\"a\",\"type\":\"%s\",\"effective_at\":1,\"%s\":"
                  "{\"id\":3}}],\"has_more\":false}",
                  type, type);
    expect_fail("audit_logs", b, "...: expected a string, got integer");
    free(b);
    b = fmt_alloc("{\"data\":[{\"id\":\"a\",\"type\":\"%s\",\"effective_at\":1}],"
                  "\"has_more\":false}",
                  type);
    must_parse("audit_logs", NULL, b, &out);
    assert_int_equal(strlen(out.events[0].type), tl + 6);
    col_out_free(&out);
    free(b);
    free(type);
}

static uint64_t rng_next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Random byte edits of every fixture: parse returns 0 or -1 (with a reason), never crashes. */
static void test_mutations(void **state)
{
    (void)state;
    static const char alphabet[] = "{}[]\",:0123456789-.eEtruefalsn \\u\x01\xff";
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    size_t fails = 0, oks = 0;
    for (size_t f = 0; f < sizeof all_fixtures / sizeof all_fixtures[0]; f++) {
        char *orig = fixture(all_fixtures[f].file);
        size_t len = strlen(orig);
        char *buf = malloc(len + 16);
        assert_non_null(buf);
        for (int iter = 0; iter < 400; iter++) {
            memcpy(buf, orig, len);
            size_t blen = len;
            int edits = 1 + (int)(rng_next(&seed) % 4);
            for (int k = 0; k < edits; k++) {
                size_t at = (size_t)(rng_next(&seed) % blen);
                char c = alphabet[rng_next(&seed) % (sizeof alphabet - 1)];
                switch (rng_next(&seed) % 3) {
                case 0: buf[at] = c; break;
                case 1:
                    if (blen > 1) {
                        memmove(buf + at, buf + at + 1, blen - at - 1);
                        blen--;
                    }
                    break;
                default:
                    if (blen < len + 15) {
                        memmove(buf + at + 1, buf + at, blen - at);
                        buf[at] = c;
                        blen++;
                    }
                }
            }
            struct col_out out;
            int rc = parse_n(all_fixtures[f].ep, "proj_abc", NULL, buf, blen, &out);
            if (rc != 0 && rc != -1)
                fail_msg("rc %d", rc);
            if (rc == -1 && !g_err[0])
                fail_msg("%s: failure without a reason", all_fixtures[f].file);
            rc ? fails++ : oks++;
            col_out_free(&out);
        }
        free(buf);
        free(orig);
    }
    assert_true(fails > 0);
    assert_true(oks > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoint_table),
        cmocka_unit_test(test_url_lists),
        cmocka_unit_test(test_url_usage),
        cmocka_unit_test(test_url_costs_audit),
        cmocka_unit_test(test_url_edges),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_usage_completions_fixture),
        cmocka_unit_test(test_usage_other_fixtures),
        cmocka_unit_test(test_usage_grouped_objects),
        cmocka_unit_test(test_usage_multi_bucket_and_batch),
        cmocka_unit_test(test_costs),
        cmocka_unit_test(test_audit_strict),
        cmocka_unit_test(test_audit_published_invalid),
        cmocka_unit_test(test_audit_object_and_login_failed),
        cmocka_unit_test(test_projects),
        cmocka_unit_test(test_project_keys),
        cmocka_unit_test(test_admin_keys),
        cmocka_unit_test(test_truncated_and_empty),
        cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_error_object),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_huge_and_nested),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
