/*
 * Tests of the provider simulator itself (build/bw-sim, path in $BW_SIM):
 * starts it as a child on a free port and checks, over real HTTP with
 * libcurl, auth rejection in both providers' error shapes, page shapes and
 * cursors, group_by in both spellings, that served sums equal /_sim/truth
 * exactly, audit filtering and paging, the demo anomalies, injected faults,
 * overlapping delays, moving "now", restatements and a clean SIGTERM exit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <strings.h>
#include <time.h>

#include "../common/timeutil.h"
#include "testutil.h"

#define NOW "2026-11-20T13:30:00Z"
#define NOW_T 1795181400LL /* NOW */
#define DAY0 1795132800LL  /* 2026-11-20T00:00:00Z */
#define DS 1792108800LL    /* 2026-10-16T00:00:00Z: DAY0 - 35 days, first data hour */
#define HL 1795179600LL    /* 2026-11-20T13:00:00Z: hours before this have data */
#define OA_KEY "Authorization: Bearer sk-admin-sim"
#define AN_KEY "x-api-key: sk-ant-admin01-sim"
#define AN_VER "anthropic-version: 2023-06-01"

struct sim {
    pid_t pid;
    int port;
};

static struct sim demo_sim;

static const char *sim_bin(void)
{
    const char *b = getenv("BW_SIM");
    return b && *b ? b : "build/bw-sim";
}

/* Starts bw-sim with extra args (NULL-terminated) and reads "listening <port>". */
static int sim_start(struct sim *s, const char *const *extra)
{
    int fds[2];
    if (pipe(fds))
        return -1;
    const char *argv[32] = {sim_bin(), "--port", "0", "--now", NOW};
    size_t n = 5;
    for (size_t i = 0; extra && extra[i] && n < 31; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    s->pid = fork();
    if (s->pid < 0)
        return -1;
    if (s->pid == 0) {
        dup2(fds[1], 1);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0 && !getenv("BW_SIM_STDERR"))
            dup2(devnull, 2);
        close(fds[0]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    char line[128];
    size_t len = 0;
    while (len < sizeof line - 1) {
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        if (poll(&p, 1, 10000) <= 0)
            break;
        ssize_t r = read(fds[0], line + len, 1);
        if (r <= 0 || line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    close(fds[0]);
    return sscanf(line, "listening %d", &s->port) == 1 && s->port > 0 ? 0 : -1;
}

/* SIGTERM and wait; returns the exit status (128+signal when killed). */
static int sim_stop(struct sim *s)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    int st = 0;
    waitpid(s->pid, &st, 0);
    s->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- HTTP ---- */

struct res {
    long status;
    char *body;
    size_t len;
    char retry_after[64];
    char ctype[128];
};

static size_t on_body(char *p, size_t sz, size_t nm, void *arg)
{
    struct res *r = arg;
    size_t n = sz * nm;
    char *nb = realloc(r->body, r->len + n + 1);
    if (!nb)
        return 0;
    memcpy(nb + r->len, p, n);
    r->body = nb;
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

static void header_value(const char *line, size_t n, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(line, name, nl) != 0)
        return;
    const char *v = line + nl;
    size_t vl = n - nl;
    while (vl && (*v == ' '))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
        vl--;
    snprintf(out, outlen, "%.*s", (int)vl, v);
}

static size_t on_header(char *p, size_t sz, size_t nm, void *arg)
{
    struct res *r = arg;
    header_value(p, sz * nm, "Retry-After:", r->retry_after, sizeof r->retry_after);
    header_value(p, sz * nm, "Content-Type:", r->ctype, sizeof r->ctype);
    return sz * nm;
}

static CURL *make_easy(struct sim *s, const char *path, const char *h1, const char *h2,
                       const char *post, struct res *r, struct curl_slist **hl)
{
    char url[2048];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    *hl = NULL;
    if (h1)
        *hl = curl_slist_append(*hl, h1);
    if (h2)
        *hl = curl_slist_append(*hl, h2);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    if (post)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
    return c;
}

static void http(struct sim *s, const char *path, const char *h1, const char *h2, const char *post,
                 struct res *r)
{
    struct curl_slist *hl;
    CURL *c = make_easy(s, path, h1, h2, post, r, &hl);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    if (!r->body)
        r->body = calloc(1, 1);
}

static json_t *parse(const struct res *r)
{
    json_error_t e;
    json_t *j = json_loadb(r->body, r->len, 0, &e);
    if (!j)
        fprintf(stderr, "unparsable body (%ld): %.300s\n", r->status, r->body);
    assert_non_null(j);
    return j;
}

/* GET with the given headers; asserts the status and returns the parsed body. */
static json_t *get_json(const char *path, const char *h1, const char *h2, long status)
{
    struct res r;
    http(&demo_sim, path, h1, h2, NULL, &r);
    if (r.status != status)
        fprintf(stderr, "GET %s -> %ld: %.300s\n", path, r.status, r.body);
    assert_int_equal(r.status, status);
    json_t *j = parse(&r);
    free(r.body);
    return j;
}

static json_t *oa(const char *path)
{
    return get_json(path, OA_KEY, NULL, 200);
}

static json_t *an(const char *path)
{
    return get_json(path, AN_KEY, AN_VER, 200);
}

static void post_ok(const char *path, const char *body)
{
    struct res r;
    http(&demo_sim, path, NULL, NULL, body ? body : "", &r);
    if (r.status != 200)
        fprintf(stderr, "POST %s -> %ld: %s\n", path, r.status, r.body);
    assert_int_equal(r.status, 200);
    free(r.body);
}

/* /_sim/truth value: counts as integers, money as micro-dollars. */
static int64_t truth(const char *query, int money)
{
    char path[512];
    snprintf(path, sizeof path, "/_sim/truth?%s", query);
    json_t *j = get_json(path, NULL, NULL, 200);
    json_t *v = json_object_get(j, "value");
    assert_true(json_is_number(v));
    int64_t out = money ? llround(json_number_value(v) * 1e6) : json_integer_value(v);
    if (!money)
        assert_true(json_is_integer(v));
    json_decref(j);
    return out;
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int64_t jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

/* Percent-encodes a cursor for a query string. */
static void enc(const char *s, char *out, size_t len)
{
    size_t o = 0;
    for (; *s && o + 4 < len; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '-' || c == '.')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, len - o, "%%%02X", c);
    }
    out[o] = '\0';
}

/* ---- tests ---- */

static void test_auth_rejected(void **state)
{
    (void)state;
    const char *p = "/v1/organization/usage/completions?start_time=1795046400";
    json_t *j = get_json(p, NULL, NULL, 401);
    json_t *e = json_object_get(j, "error");
    assert_true(json_is_object(e));
    assert_true(json_is_string(json_object_get(e, "message")));
    assert_string_equal(jstr(e, "type"), "invalid_request_error");
    assert_true(json_is_null(json_object_get(e, "param")));
    assert_non_null(json_object_get(e, "code"));
    json_decref(j);
    struct res r;
    http(&demo_sim, p, "Authorization: Bearer sk-admin-wrong", NULL, NULL, &r);
    assert_int_equal(r.status, 401);
    assert_null(strstr(r.body, "wrong")); /* the presented key is not echoed */
    j = parse(&r);
    assert_string_equal(jstr(json_object_get(j, "error"), "code"), "invalid_api_key");
    json_decref(j);
    free(r.body);

    const char *q = "/v1/organizations/usage_report/messages?starting_at=2026-11-19T00:00:00Z";
    const char *bad_hdrs[][2] = {
        {NULL, NULL}, {"x-api-key: sk-ant-admin01-wrong", AN_VER}, {AN_KEY, NULL}};
    for (size_t i = 0; i < 3; i++) {
        j = get_json(q, bad_hdrs[i][0], bad_hdrs[i][1], 401);
        assert_string_equal(jstr(j, "type"), "error");
        e = json_object_get(j, "error");
        assert_string_equal(jstr(e, "type"), "authentication_error");
        assert_true(json_is_string(json_object_get(e, "message")));
        json_decref(j);
    }
}

static void test_openai_completions_pages(void **state)
{
    (void)state;
    char base[256], path[512], cur[128];
    snprintf(base, sizeof base,
             "/v1/organization/usage/completions?start_time=%lld&bucket_width=1h&limit=168"
             "&group_by=project_id&group_by=api_key_id&group_by=model",
             DS);
    int64_t sum = 0, expect_start = DS;
    int pages = 0;
    json_t *next = NULL;
    for (;;) {
        if (next) {
            enc(json_string_value(next), cur, sizeof cur);
            snprintf(path, sizeof path, "%s&page=%s", base, cur);
        } else {
            snprintf(path, sizeof path, "%s", base);
        }
        json_t *j = oa(path);
        pages++;
        assert_string_equal(jstr(j, "object"), "page");
        json_t *data = json_object_get(j, "data"), *b;
        size_t i;
        assert_true(json_array_size(data) <= 168);
        json_array_foreach(data, i, b)
        {
            assert_string_equal(jstr(b, "object"), "bucket");
            assert_int_equal(jint(b, "start_time"), expect_start);
            assert_int_equal(jint(b, "end_time"), expect_start + 3600);
            expect_start += 3600;
            json_t *res = json_object_get(b, "results"), *r;
            size_t k;
            json_array_foreach(res, k, r)
            {
                assert_string_equal(jstr(r, "object"), "organization.usage.completions.result");
                int64_t in = jint(r, "input_tokens");
                assert_int_equal(in, jint(r, "input_cached_tokens") +
                                         jint(r, "input_uncached_tokens") +
                                         jint(r, "input_cache_write_tokens"));
                assert_true(jint(r, "num_model_requests") > 0);
                assert_non_null(jstr(r, "project_id"));
                assert_non_null(jstr(r, "api_key_id"));
                assert_non_null(jstr(r, "model"));
                assert_true(json_is_null(json_object_get(r, "user_id")));
                assert_true(json_is_null(json_object_get(r, "batch")));
                sum += in;
            }
        }
        json_t *hm = json_object_get(j, "has_more");
        assert_true(json_is_boolean(hm));
        json_decref(next);
        next = json_incref(json_object_get(j, "next_page"));
        if (!json_is_true(hm)) {
            assert_true(json_is_null(next));
            json_decref(j);
            break;
        }
        assert_true(json_is_string(next));
        json_decref(j);
    }
    json_decref(next);
    assert_int_equal(pages, 6);         /* 853 complete hours / 168 per page */
    assert_int_equal(expect_start, HL); /* the hour containing now is not served */
    char q[256];
    snprintf(q, sizeof q, "provider=openai&metric=input_tokens&kind=completions&from=%lld&to=%lld",
             DS, NOW_T);
    assert_true(sum > 0);
    assert_int_equal(sum, truth(q, 0));
}

static void test_group_by_forms_agree(void **state)
{
    (void)state;
    char p1[256], p2[256];
    snprintf(p1, sizeof p1,
             "/v1/organization/usage/completions?start_time=%lld&limit=5"
             "&group_by=model&group_by=project_id",
             DAY0 - 5 * 86400);
    snprintf(p2, sizeof p2,
             "/v1/organization/usage/completions?start_time=%lld&limit=5"
             "&group_by%%5B%%5D=model&group_by[]=project_id",
             DAY0 - 5 * 86400);
    struct res a, b;
    http(&demo_sim, p1, OA_KEY, NULL, NULL, &a);
    http(&demo_sim, p2, OA_KEY, NULL, NULL, &b);
    assert_int_equal(a.status, 200);
    assert_int_equal(b.status, 200);
    assert_string_equal(a.body, b.body);
    json_t *j = parse(&a);
    json_t *r0 = json_array_get(
        json_object_get(json_array_get(json_object_get(j, "data"), 0), "results"), 0);
    assert_non_null(jstr(r0, "model"));
    assert_non_null(jstr(r0, "project_id"));
    assert_true(json_is_null(json_object_get(r0, "api_key_id")));
    json_decref(j);
    free(a.body);
    free(b.body);

    /* the sum over groups equals the ungrouped total, bucket by bucket */
    snprintf(p1, sizeof p1, "/v1/organization/usage/completions?start_time=%lld&limit=5",
             DAY0 - 5 * 86400);
    json_t *g = oa(p2 + 0), *u = oa(p1);
    for (size_t i = 0; i < 5; i++) {
        json_t *gb = json_array_get(json_object_get(g, "data"), i);
        json_t *ub = json_array_get(json_object_get(u, "data"), i);
        int64_t gs = 0, us = 0;
        size_t k;
        json_t *r;
        json_array_foreach(json_object_get(gb, "results"), k, r) gs += jint(r, "output_tokens");
        json_array_foreach(json_object_get(ub, "results"), k, r) us += jint(r, "output_tokens");
        assert_int_equal(json_array_size(json_object_get(ub, "results")), 1);
        assert_int_equal(gs, us);
    }
    json_decref(g);
    json_decref(u);
}

static void test_limits_and_validation(void **state)
{
    (void)state;
    json_t *j = get_json("/v1/organization/usage/completions?start_time=1795046400"
                         "&bucket_width=1h&limit=169",
                         OA_KEY, NULL, 400);
    assert_string_equal(jstr(json_object_get(j, "error"), "param"), "limit");
    json_decref(j);
    j = get_json("/v1/organization/costs?start_time=1795046400&limit=181", OA_KEY, NULL, 400);
    json_decref(j);
    j = get_json("/v1/organization/usage/completions?start_time=1795046400&group_by=colour", OA_KEY,
                 NULL, 400);
    assert_string_equal(jstr(json_object_get(j, "error"), "param"), "group_by");
    json_decref(j);
    j = get_json("/v1/organization/usage/completions", OA_KEY, NULL, 400);
    json_decref(j);
    j = get_json("/v1/organizations/cost_report?starting_at=2026-11-01T00:00:00Z&limit=32", AN_KEY,
                 AN_VER, 400);
    assert_string_equal(jstr(j, "type"), "error");
    assert_string_equal(jstr(json_object_get(j, "error"), "type"), "invalid_request_error");
    json_decref(j);
    j = get_json("/v1/organizations/usage_report/messages?starting_at=yesterday", AN_KEY, AN_VER,
                 400);
    json_decref(j);
    /* the 8 data-less OpenAI usage endpoints answer valid, empty pages */
    j = oa("/v1/organization/usage/images?start_time=1795046400&group_by=size");
    assert_string_equal(jstr(j, "object"), "page");
    assert_int_equal(json_array_size(json_object_get(j, "data")), 2);
    assert_int_equal(
        json_array_size(json_object_get(json_array_get(json_object_get(j, "data"), 0), "results")),
        0);
    json_decref(j);
}

static int64_t an_input(json_t *r)
{
    json_t *cc = json_object_get(r, "cache_creation");
    return jint(r, "uncached_input_tokens") + jint(r, "cache_read_input_tokens") +
           jint(cc, "ephemeral_1h_input_tokens") + jint(cc, "ephemeral_5m_input_tokens");
}

static void test_anthropic_usage_totals(void **state)
{
    (void)state;
    const char *base = "/v1/organizations/usage_report/messages?starting_at="
                       "2026-10-16T00:00:00.000000Z&bucket_width=1d&limit=31"
                       "&group_by[]=workspace_id&group_by[]=api_key_id";
    char path[512], cur[128];
    int64_t sum = 0, web = 0;
    int pages = 0, saw_default = 0;
    json_t *j = an(base);
    for (;;) {
        pages++;
        assert_null(json_object_get(j, "object"));
        json_t *b;
        size_t i;
        json_array_foreach(json_object_get(j, "data"), i, b)
        {
            int64_t s, e;
            assert_int_equal(tu_parse_time(jstr(b, "starting_at"), &s), 0);
            assert_int_equal(tu_parse_time(jstr(b, "ending_at"), &e), 0);
            assert_int_equal(e - s, 86400);
            json_t *r;
            size_t k;
            json_array_foreach(json_object_get(b, "results"), k, r)
            {
                sum += an_input(r);
                web += jint(json_object_get(r, "server_tool_use"), "web_search_requests");
                assert_true(json_is_null(json_object_get(r, "model")));
                if (json_is_null(json_object_get(r, "workspace_id")))
                    saw_default = 1;
            }
        }
        if (!json_is_true(json_object_get(j, "has_more")))
            break;
        enc(jstr(j, "next_page"), cur, sizeof cur);
        snprintf(path, sizeof path, "%s&page=%s", base, cur);
        json_decref(j);
        j = an(path);
    }
    json_decref(j);
    assert_int_equal(pages, 2);
    assert_true(saw_default);
    char q[256];
    snprintf(q, sizeof q, "provider=anthropic&metric=input_tokens&from=%lld&to=%lld", DS, NOW_T);
    assert_true(sum > 0);
    assert_int_equal(sum, truth(q, 0));
    snprintf(q, sizeof q, "provider=anthropic&metric=web_search_calls&from=%lld&to=%lld", DS,
             NOW_T);
    assert_int_equal(web, truth(q, 0));
}

/* "123.4567" (cents) -> 1234567 (1e-4 cents = micro-dollars); asserts the format. */
static int64_t cents_fixed(const char *s)
{
    assert_non_null(s);
    int64_t ip = 0, fp = 0;
    int nf = 0;
    const char *p = s;
    assert_true(*p >= '0' && *p <= '9');
    while (*p >= '0' && *p <= '9')
        ip = ip * 10 + (*p++ - '0');
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9' && nf < 5)
            fp = fp * 10 + (*p++ - '0'), nf++;
        assert_true(nf >= 1 && nf <= 4);
    }
    assert_int_equal(*p, '\0');
    while (nf++ < 4)
        fp *= 10;
    return ip * 10000 + fp;
}

static void test_anthropic_cost_cents(void **state)
{
    (void)state;
    const char *base = "/v1/organizations/cost_report?starting_at=2026-10-16T00:00:00Z&limit=31"
                       "&group_by[]=description&group_by[]=workspace_id";
    char path[512], cur[128];
    int64_t micro = 0;
    json_t *j = an(base);
    for (;;) {
        json_t *b, *r;
        size_t i, k;
        json_array_foreach(json_object_get(j, "data"), i, b)
            json_array_foreach(json_object_get(b, "results"), k, r)
        {
            assert_true(json_is_string(json_object_get(r, "amount")));
            assert_string_equal(jstr(r, "currency"), "USD");
            assert_non_null(jstr(r, "description"));
            micro += cents_fixed(jstr(r, "amount"));
        }
        if (!json_is_true(json_object_get(j, "has_more")))
            break;
        enc(jstr(j, "next_page"), cur, sizeof cur);
        snprintf(path, sizeof path, "%s&page=%s", base, cur);
        json_decref(j);
        j = an(path);
    }
    json_decref(j);
    char q[256];
    snprintf(q, sizeof q, "provider=anthropic&metric=cost_usd&from=%lld&to=%lld", DS, NOW_T);
    assert_true(micro > 0);
    assert_int_equal(micro, truth(q, 1)); /* cents x 10^4 == dollars x 10^6 */
}

static void test_openai_costs_match_truth(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path,
             "/v1/organization/costs?start_time=%lld&limit=180&group_by=line_item"
             "&group_by=project_id",
             DS);
    json_t *j = oa(path);
    double sum = 0;
    size_t n = 0, i, k;
    json_t *b, *r;
    assert_true(json_is_false(json_object_get(j, "has_more")));
    assert_int_equal(json_array_size(json_object_get(j, "data")), 36);
    json_array_foreach(json_object_get(j, "data"), i, b)
        json_array_foreach(json_object_get(b, "results"), k, r)
    {
        json_t *amt = json_object_get(r, "amount");
        assert_true(json_is_number(json_object_get(amt, "value")));
        assert_string_equal(jstr(amt, "currency"), "usd");
        assert_non_null(strstr(jstr(r, "line_item"), ", "));
        assert_string_equal(jstr(r, "quantity_unit"), "tokens");
        sum += json_number_value(json_object_get(amt, "value"));
        n++;
    }
    json_decref(j);
    char q[256];
    snprintf(q, sizeof q, "metric=cost_usd&from=%lld&to=%lld", DS, NOW_T);
    assert_true(n > 0);
    assert_true(llabs(llround(sum * 1e6) - truth(q, 1)) <= (long long)n);
}

static void test_audit_paging(void **state)
{
    (void)state;
    int64_t gte = NOW_T - 7 * 86400;
    char path[256];
    char ids[200][40];
    size_t n = 0;
    int64_t prev = INT64_MAX;
    const char *after = NULL;
    json_t *j = NULL;
    for (int pages = 0; pages < 50; pages++) {
        if (after)
            snprintf(path, sizeof path,
                     "/v1/organization/audit_logs?effective_at[gte]=%lld&limit=7&after=%s",
                     (long long)gte, after);
        else
            snprintf(path, sizeof path,
                     "/v1/organization/audit_logs?effective_at%%5Bgte%%5D=%lld"
                     "&limit=7",
                     (long long)gte);
        json_t *nj = oa(path);
        json_decref(j);
        j = nj;
        assert_string_equal(jstr(j, "object"), "list");
        json_t *e;
        size_t i;
        json_array_foreach(json_object_get(j, "data"), i, e)
        {
            int64_t t = jint(e, "effective_at");
            assert_true(t >= gte && t < NOW_T);
            assert_true(t <= prev);
            prev = t;
            for (size_t k = 0; k < n; k++)
                assert_string_not_equal(ids[k], jstr(e, "id"));
            assert_true(n < 200);
            snprintf(ids[n++], sizeof ids[0], "%s", jstr(e, "id"));
        }
        if (!json_is_true(json_object_get(j, "has_more")))
            break;
        after = jstr(j, "last_id");
        assert_non_null(after);
    }
    json_decref(j);
    snprintf(path, sizeof path, "/v1/organization/audit_logs?effective_at[gte]=%lld&limit=100",
             (long long)gte);
    j = oa(path);
    assert_int_equal(json_array_size(json_object_get(j, "data")), n);
    assert_true(n > 20);
    json_decref(j);
    json_decref(get_json("/v1/organization/audit_logs?limit=101", OA_KEY, NULL, 400));
}

static void test_demo_anomalies(void **state)
{
    (void)state;
    json_t *j = oa("/v1/organization/audit_logs?event_types[]=login.failed"
                   "&actor_emails[]=alice@acme.example&limit=100");
    json_t *data = json_object_get(j, "data"), *e;
    size_t i;
    assert_int_equal(json_array_size(data), 8);
    const char *ips[8];
    size_t n_ips = 0;
    int64_t lo = INT64_MAX, hi = 0;
    json_array_foreach(data, i, e)
    {
        json_t *s = json_object_get(json_object_get(e, "actor"), "session");
        const char *ip = jstr(s, "ip_address");
        size_t k = 0;
        while (k < n_ips && strcmp(ips[k], ip) != 0)
            k++;
        if (k == n_ips)
            ips[n_ips++] = ip;
        int64_t t = jint(e, "effective_at");
        lo = t < lo ? t : lo;
        hi = t > hi ? t : hi;
        assert_true(
            json_is_string(json_object_get(json_object_get(s, "ip_address_details"), "latitude")));
        assert_non_null(json_object_get(e, "login.failed"));
    }
    assert_int_equal(n_ips, 6);
    assert_true(hi - lo <= 20 * 60);
    assert_true(NOW_T - lo <= 3 * 3600 && NOW_T - lo > 2 * 3600);
    json_decref(j);

    /* bob: US login, then Changchun 50 minutes later, 2 h before now */
    j = oa("/v1/organization/audit_logs?actor_emails[]=bob@acme.example&limit=2"
           "&event_types[]=login.succeeded");
    json_t *cn = json_array_get(json_object_get(j, "data"), 0);
    json_t *us = json_array_get(json_object_get(j, "data"), 1);
    json_t *cnd = json_object_get(json_object_get(json_object_get(cn, "actor"), "session"),
                                  "ip_address_details");
    json_t *usd = json_object_get(json_object_get(json_object_get(us, "actor"), "session"),
                                  "ip_address_details");
    assert_string_equal(jstr(cnd, "country"), "CN");
    assert_string_equal(jstr(cnd, "city"), "Changchun");
    assert_string_equal(jstr(usd, "country"), "US");
    assert_int_equal(jint(cn, "effective_at") - jint(us, "effective_at"), 50 * 60);
    assert_int_equal(NOW_T - jint(cn, "effective_at"), 2 * 3600);
    json_decref(j);

    /* spend spike: key_eng_ci's last 24 h are 4x the same hours a week earlier... on average */
    char q[256];
    snprintf(q, sizeof q, "metric=input_tokens&api_key_id=key_eng_ci&from=%lld&to=%lld", HL - 86400,
             HL);
    int64_t last = truth(q, 0);
    snprintf(q, sizeof q, "metric=input_tokens&api_key_id=key_eng_ci&from=%lld&to=%lld",
             HL - 8 * 86400, HL - 7 * 86400);
    int64_t week_before = truth(q, 0);
    assert_true(last > 3 * week_before);
    /* unexpected model: o1-pro only in proj_mkt, only in the last 48 h */
    snprintf(q, sizeof q, "metric=requests&model=o1-pro&project=proj_mkt&from=%lld&to=%lld",
             HL - 48 * 3600, HL);
    int64_t o1 = truth(q, 0);
    assert_true(o1 > 0);
    snprintf(q, sizeof q, "metric=requests&model=o1-pro&from=0&to=%lld", NOW_T);
    assert_int_equal(truth(q, 0), o1);
    /* old keys: an OpenAI key 200 days old that is used, an Anthropic key 150 days old */
    j = oa("/v1/organization/projects/proj_eng/api_keys");
    json_t *k;
    int old = 0;
    json_array_foreach(json_object_get(j, "data"), i, k)
    {
        if (NOW_T - jint(k, "created_at") > 199 * 86400) {
            old++;
            assert_true(NOW_T - jint(k, "last_used_at") < 2 * 3600);
        }
    }
    assert_int_equal(old, 1);
    json_decref(j);
    j = an("/v1/organizations/api_keys/apikey_01Legacy");
    int64_t created;
    assert_int_equal(tu_parse_time(jstr(j, "created_at"), &created), 0);
    assert_true(NOW_T - created > 149 * 86400);
    json_decref(j);
}

static void test_fault_429_then_success(void **state)
{
    (void)state;
    post_ok("/_sim/fault", "{\"path\":\"/v1/organization/usage\",\"kind\":\"429\",\"count\":1,"
                           "\"retry_after\":\"2\"}");
    const char *p = "/v1/organization/usage/completions?start_time=1795046400";
    struct res r;
    http(&demo_sim, p, OA_KEY, NULL, NULL, &r);
    assert_int_equal(r.status, 429);
    assert_string_equal(r.retry_after, "2");
    json_t *j = parse(&r);
    assert_string_equal(jstr(json_object_get(j, "error"), "code"), "rate_limit_exceeded");
    json_decref(j);
    free(r.body);
    http(&demo_sim, p, OA_KEY, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.retry_after, "");
    free(r.body);
    j = get_json("/_sim/stats", NULL, NULL, 200);
    json_t *ps = json_object_get(json_object_get(j, "paths"), "/v1/organization/usage/completions");
    assert_true(jint(ps, "429") >= 1);
    assert_true(jint(json_object_get(j, "status"), "429") >= 1);
    json_decref(j);
}

static void test_fault_bodies(void **state)
{
    (void)state;
    const char *kinds[] = {"truncate", "malformed", "html"};
    const char *p = "/v1/organizations/cost_report?starting_at=2026-11-10T00:00:00Z";
    for (size_t i = 0; i < 3; i++) {
        char body[160];
        snprintf(body, sizeof body, "{\"path\":\"/v1/organizations/cost_report\",\"kind\":\"%s\"}",
                 kinds[i]);
        post_ok("/_sim/fault", body);
        struct res r;
        http(&demo_sim, p, AN_KEY, AN_VER, NULL, &r);
        assert_int_equal(r.status, 200);
        assert_true(r.len > 0);
        json_error_t e;
        json_t *j = json_loadb(r.body, r.len, 0, &e);
        assert_null(j);
        if (i == 2)
            assert_non_null(strstr(r.ctype, "text/html"));
        free(r.body);
    }
    json_decref(an(p)); /* faults used up: parses again */
    /* repeat_cursor: the next_page names this same page */
    post_ok("/_sim/fault", "{\"path\":\"/v1/organization/usage/completions\","
                           "\"kind\":\"repeat_cursor\",\"count\":1}");
    json_t *j = oa("/v1/organization/usage/completions?start_time=1794528000&limit=2");
    char path[256], cur[128];
    enc(jstr(j, "next_page"), cur, sizeof cur);
    snprintf(path, sizeof path,
             "/v1/organization/usage/completions?start_time=1794528000&limit=2"
             "&page=%s",
             cur);
    json_t *again = oa(path);
    assert_int_equal(jint(json_array_get(json_object_get(again, "data"), 0), "start_time"),
                     1794528000);
    json_decref(j);
    json_decref(again);
}

static void test_delays_overlap(void **state)
{
    (void)state;
    post_ok("/_sim/fault", "{\"path\":\"/v1/organizations/workspaces\",\"kind\":\"delay\","
                           "\"count\":8,\"delay_ms\":400}");
    CURLM *m = curl_multi_init();
    CURL *e[8];
    struct res r[8];
    struct curl_slist *hl[8];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 8; i++) {
        e[i] = make_easy(&demo_sim, "/v1/organizations/workspaces", AN_KEY, AN_VER, NULL, &r[i],
                         &hl[i]);
        curl_multi_add_handle(m, e[i]);
    }
    int running = 1;
    while (running) {
        assert_int_equal(curl_multi_perform(m, &running), CURLM_OK);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    for (int i = 0; i < 8; i++) {
        long st = 0;
        curl_easy_getinfo(e[i], CURLINFO_RESPONSE_CODE, &st);
        assert_int_equal(st, 200);
        curl_multi_remove_handle(m, e[i]);
        curl_easy_cleanup(e[i]);
        curl_slist_free_all(hl[i]);
        free(r[i].body);
    }
    curl_multi_cleanup(m);
    assert_true(secs >= 0.39);
    assert_true(secs < 1.6); /* 8 x 400 ms would be 3.2 s if served one by one */
}

static void test_now_reveals_hours(void **state)
{
    (void)state;
    char path[256], q[256];
    snprintf(path, sizeof path,
             "/v1/organization/usage/completions?start_time=%lld"
             "&bucket_width=1h&limit=24",
             DAY0);
    json_t *j = oa(path);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 13);
    json_decref(j);
    snprintf(q, sizeof q, "metric=output_tokens&from=%lld&to=%lld", DAY0, DAY0 + 86400);
    int64_t before = truth(q, 0);
    post_ok("/_sim/now?t=2026-11-20T16:45:00Z", NULL);
    j = oa(path);
    json_t *data = json_object_get(j, "data");
    assert_int_equal(json_array_size(data), 16);
    int64_t added = 0;
    for (size_t i = 13; i < 16; i++) {
        json_t *r;
        size_t k;
        json_array_foreach(json_object_get(json_array_get(data, i), "results"), k, r) added +=
            jint(r, "output_tokens");
    }
    json_decref(j);
    assert_true(added > 0);
    assert_int_equal(truth(q, 0), before + added);
    post_ok("/_sim/now?t=" NOW, NULL);
    j = oa(path);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 13);
    json_decref(j);
}

static void test_restatement(void **state)
{
    (void)state;
    char q[128], path[256];
    int64_t d = DAY0 - 2 * 86400;
    snprintf(q, sizeof q, "metric=cost_usd&from=%lld&to=%lld", (long long)d, (long long)d + 86400);
    snprintf(path, sizeof path, "/v1/organization/costs?start_time=%lld&end_time=%lld",
             (long long)d, (long long)d + 86400);
    int64_t base = truth(q, 1);
    post_ok("/_sim/restate?provider=openai&day=2026-11-18&factor=1.25", NULL);
    int64_t restated = truth(q, 1);
    assert_true(llabs(restated - base * 5 / 4) <= 40);
    json_t *j = oa(path);
    json_t *r0 = json_array_get(
        json_object_get(json_array_get(json_object_get(j, "data"), 0), "results"), 0);
    assert_int_equal(
        llround(json_number_value(json_object_get(json_object_get(r0, "amount"), "value")) * 1e6),
        restated);
    json_decref(j);
    post_ok("/_sim/restate?provider=openai&day=2026-11-18&factor=1", NULL);
    assert_int_equal(truth(q, 1), base);
    struct res r;
    http(&demo_sim, "/_sim/restate?provider=openai&day=2026-11-20&factor=2", NULL, NULL, "", &r);
    assert_int_equal(r.status, 400); /* the day of now is still open */
    free(r.body);
}

static void test_accounts_and_steady(void **state)
{
    (void)state;
    struct sim s2;
    const char *args[] = {"--accounts", "2", "--seed", "9", "--openai-key", "sk-admin-t", NULL};
    assert_int_equal(sim_start(&s2, args), 0);
    struct res r;
    http(&s2, "/acct/1/v1/organization/projects", "Authorization: Bearer sk-admin-t-1", NULL, NULL,
         &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    http(&s2, "/acct/1/v1/organization/projects", "Authorization: Bearer sk-admin-t", NULL, NULL,
         &r);
    assert_int_equal(r.status, 401);
    free(r.body);
    http(&s2, "/acct/2/v1/organization/projects", "Authorization: Bearer sk-admin-t-2", NULL, NULL,
         &r);
    assert_int_equal(r.status, 404);
    free(r.body);
    /* steady scenario: no failed-login burst, no o1-pro */
    http(&s2,
         "/v1/organization/audit_logs?event_types[]=login.failed&actor_emails[]=alice@acme.example",
         "Authorization: Bearer sk-admin-t", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *j = parse(&r);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 0);
    json_decref(j);
    free(r.body);
    http(&s2, "/_sim/truth?metric=requests&model=o1-pro", NULL, NULL, NULL, &r);
    assert_string_equal(r.body, "{\"value\":0}");
    free(r.body);
    /* accounts differ from the primary */
    struct res a, b;
    http(&s2, "/_sim/truth?metric=input_tokens&account=0", NULL, NULL, NULL, &a);
    http(&s2, "/_sim/truth?metric=input_tokens", NULL, NULL, NULL, &b);
    assert_string_not_equal(a.body, b.body);
    free(a.body);
    free(b.body);
    assert_int_equal(sim_stop(&s2), 0);
}

static void test_sigterm_exits_zero(void **state)
{
    (void)state;
    post_ok("/_sim/reset", NULL);
    assert_int_equal(sim_stop(&demo_sim), 0);
}

static int group_setup(void **state)
{
    (void)state;
    const char *args[] = {"--scenario", "demo", "--seed", "7", NULL};
    return sim_start(&demo_sim, args);
}

static int group_teardown(void **state)
{
    (void)state;
    if (demo_sim.pid > 0)
        sim_stop(&demo_sim);
    return 0;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_rejected),
        cmocka_unit_test(test_openai_completions_pages),
        cmocka_unit_test(test_group_by_forms_agree),
        cmocka_unit_test(test_limits_and_validation),
        cmocka_unit_test(test_anthropic_usage_totals),
        cmocka_unit_test(test_anthropic_cost_cents),
        cmocka_unit_test(test_openai_costs_match_truth),
        cmocka_unit_test(test_audit_paging),
        cmocka_unit_test(test_demo_anomalies),
        cmocka_unit_test(test_fault_429_then_success),
        cmocka_unit_test(test_fault_bodies),
        cmocka_unit_test(test_delays_overlap),
        cmocka_unit_test(test_now_reveals_hours),
        cmocka_unit_test(test_restatement),
        cmocka_unit_test(test_accounts_and_steady),
        cmocka_unit_test(test_sigterm_exits_zero),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
