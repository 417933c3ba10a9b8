/*
 * Tests of the real peers the sink tests deliver to (tests/peers.h): the
 * webhook receiver bw-recv (ids and duplicates across body shapes, HMAC
 * signatures, 503-then-200 and 400 modes with Retry-After, connection reuse,
 * its CPU cost for 10,000 deliveries), Alertmanager (an alert posted shows,
 * its resolution hides it) and rsyslogd (octet-counted TCP and UDP messages
 * arrive byte for byte, CEF escapes included). Alertmanager and rsyslog
 * tests are skipped when the Debian packages are not installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <strings.h>

#include "peers.h"
#include "testutil.h"

static char *tmp;

static int setup(void **state)
{
    (void)state;
    tmp = tu_mkdtemp();
    return tmp && curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(tmp);
    free(tmp);
    curl_global_cleanup();
    return 0;
}

/* A fresh subdirectory of tmp for one peer. */
static const char *subdir(const char *name)
{
    static char dir[1100];
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    assert_int_equal(mkdir(dir, 0700), 0);
    return dir;
}

static void assert_gone(pid_t pid)
{
    assert_true(pid > 0);
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
}

static json_int_t jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

struct answer {
    long status;
    char retry_after[32];
};

static size_t discard(char *d, size_t sz, size_t n, void *ud)
{
    (void)d;
    (void)ud;
    return sz * n;
}

static size_t on_header(char *d, size_t sz, size_t n, void *ud)
{
    struct answer *a = ud;
    size_t len = sz * n;
    if (len > 13 && strncasecmp(d, "Retry-After: ", 13) == 0) {
        size_t v = len - 13;
        while (v && (d[13 + v - 1] == '\r' || d[13 + v - 1] == '\n'))
            v--;
        snprintf(a->retry_after, sizeof a->retry_after, "%.*s", (int)v, d + 13);
    }
    return len;
}

/* POSTs body to the receiver with an optional extra header; c may be reused (keep-alive). */
static struct answer post(CURL *c, const struct peer *p, const char *path, const char *body,
                          const char *header)
{
    char url[256];
    struct answer a = {0};
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (header)
        h = curl_slist_append(h, header);
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", p->port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
    curl_slist_free_all(h);
    return a;
}

static struct answer post1(const struct peer *p, const char *path, const char *body,
                           const char *header)
{
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct answer a = post(c, p, path, body, header);
    curl_easy_cleanup(c);
    return a;
}

static void assert_ids(json_t *stats, const char *const *want, size_t n)
{
    json_t *ids = json_object_get(stats, "ids");
    assert_int_equal(json_array_size(ids), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(json_string_value(json_array_get(ids, i)), want[i]);
}

static void test_recv_counts_ids(void **state)
{
    (void)state;
    struct peer p;
    assert_int_equal(recv_start(&p, NULL), 0);
    pid_t pid = p.pid;
    assert_int_equal(post1(&p, "/hook", "{\"id\":\"a1\",\"status\":\"firing\"}", NULL).status, 200);
    assert_int_equal(post1(&p, "/am", "[{\"id\":\"b1\"},{\"id\":\"b2\"},{\"x\":1}]", NULL).status,
                     200);
    /* Splunk HEC: events one after another, the alert under "event" */
    assert_int_equal(post1(&p, "/services/collector/event",
                           "{\"event\":{\"id\":\"c1\"}}\n{\"event\":{\"id\":\"a1\"}}"
                           "{\"event\":{\"id\":\"c2\"}} ",
                           "Authorization: Splunk tok")
                         .status,
                     200);
    assert_int_equal(post1(&p, "/slack", "{\"text\":\"no id here\"}", NULL).status, 200);
    assert_int_equal(post1(&p, "/junk", "{\"id\":", NULL).status, 200);
    json_t *s = recv_stats(&p);
    assert_non_null(s);
    const char *want[] = {"a1", "b1", "b2", "c1", "c2"};
    assert_ids(s, want, 5);
    assert_int_equal(jint(s, "requests"), 5);
    assert_int_equal(jint(s, "ok"), 5);
    assert_int_equal(jint(s, "failed"), 0);
    assert_int_equal(jint(s, "duplicates"), 1);
    assert_int_equal(jint(s, "no_id"), 2);
    assert_int_equal(jint(s, "bad_signatures"), 0);
    assert_string_equal(json_string_value(json_object_get(s, "last_path")), "/junk");
    assert_string_equal(json_string_value(json_object_get(s, "last_body")), "{\"id\":");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(s, "last_headers"), "content-type")),
        "application/json");
    json_decref(s);

    json_t *r = recv_requests(&p, 2);
    assert_int_equal(json_array_size(r), 3);
    json_t *hec = json_array_get(r, 0);
    assert_string_equal(json_string_value(json_object_get(hec, "path")),
                        "/services/collector/event");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(hec, "headers"), "authorization")),
        "Splunk tok");
    json_decref(r);

    assert_int_equal(recv_reset(&p), 0);
    s = recv_stats(&p);
    assert_int_equal(jint(s, "requests"), 0);
    assert_int_equal(json_array_size(json_object_get(s, "ids")), 0);
    json_decref(s);
    assert_int_equal(recv_stop(&p), 0);
    assert_gone(pid);
}

/* "t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>" */
static void sign(const char *secret, long long t, const char *body, char *out, size_t outlen)
{
    char msg[4096];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    int n = snprintf(msg, sizeof msg, "%lld.%s", t, body);
    assert_true(n > 0 && (size_t)n < sizeof msg);
    assert_non_null(HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)msg, (size_t)n,
                         mac, &maclen));
    assert_int_equal(maclen, 32);
    int w = snprintf(out, outlen, "X-Byokwatch-Signature: t=%lld,v1=", t);
    for (unsigned int i = 0; i < maclen; i++)
        w += snprintf(out + w, outlen - (size_t)w, "%02x", mac[i]);
}

static void test_recv_hmac(void **state)
{
    (void)state;
    struct peer p;
    char good[200], wrong_key[200], wrong_body[200];
    const char *body = "{\"id\":\"sig-1\",\"summary\":\"spend \\u00e9 | = \"}";
    sign("s3cret-key", 1795181400LL, body, good, sizeof good);
    sign("other-key", 1795181400LL, body, wrong_key, sizeof wrong_key);
    sign("s3cret-key", 1795181400LL, "{\"id\":\"sig-0\"}", wrong_body, sizeof wrong_body);
    assert_int_equal(recv_start(&p, "s3cret-key"), 0);
    assert_int_equal(post1(&p, "/h", body, good).status, 200);
    json_t *s = recv_stats(&p);
    assert_int_equal(jint(s, "good_signatures"), 1);
    assert_int_equal(jint(s, "bad_signatures"), 0);
    assert_int_equal(jint(s, "last_signature_t"), 1795181400LL);
    json_decref(s);
    post1(&p, "/h", body, wrong_key);
    post1(&p, "/h", body, wrong_body);
    post1(&p, "/h", body, NULL);
    post1(&p, "/h", body, "X-Byokwatch-Signature: v1=00");
    post1(&p, "/h", body, "X-Byokwatch-Signature: t=1795181400");
    s = recv_stats(&p);
    assert_int_equal(jint(s, "good_signatures"), 1);
    assert_int_equal(jint(s, "bad_signatures"), 5);
    assert_int_equal(jint(s, "duplicates"), 5);
    json_decref(s);
    json_t *r = recv_requests(&p, 0);
    assert_string_equal(json_string_value(json_object_get(json_array_get(r, 0), "signature")),
                        "ok");
    assert_string_equal(json_string_value(json_object_get(json_array_get(r, 1), "signature")),
                        "bad");
    json_decref(r);
    assert_int_equal(recv_stop(&p), 0);
}

static void test_recv_modes(void **state)
{
    (void)state;
    struct peer p;
    assert_int_equal(recv_start(&p, NULL), 0);
    assert_int_equal(recv_mode(&p, "status=503&count=3&retry_after=2"), 0);
    for (int i = 0; i < 3; i++) {
        struct answer a = post1(&p, "/h", "{\"id\":\"m1\"}", NULL);
        assert_int_equal(a.status, 503);
        assert_string_equal(a.retry_after, "2");
    }
    struct answer a = post1(&p, "/h", "{\"id\":\"m1\"}", NULL);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.retry_after, "");
    json_t *s = recv_stats(&p);
    assert_int_equal(jint(s, "requests"), 4);
    assert_int_equal(jint(s, "ok"), 1);
    assert_int_equal(jint(s, "failed"), 3);
    assert_int_equal(jint(s, "duplicates"), 0); /* refused deliveries are not received */
    const char *want[] = {"m1"};
    assert_ids(s, want, 1);
    assert_int_equal(jint(json_object_get(s, "mode"), "status"), 200);
    json_decref(s);

    assert_int_equal(recv_mode(&p, "status=400&count=0"), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(post1(&p, "/h", "{\"id\":\"m2\"}", NULL).status, 400);
    assert_int_equal(recv_mode(&p, "status=200"), 0);
    assert_int_equal(post1(&p, "/h", "{\"id\":\"m3\"}", NULL).status, 200);
    assert_int_not_equal(recv_mode(&p, "status=abc"), 0);
    assert_int_not_equal(recv_mode(&p, "status=99"), 0);
    s = recv_stats(&p);
    assert_int_equal(jint(s, "failed"), 8);
    const char *want2[] = {"m1", "m3"};
    assert_ids(s, want2, 2);
    json_decref(s);
    assert_int_equal(recv_stop(&p), 0);
}

static long cpu_ms(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    assert_non_null(p);
    unsigned long ut = 0, st = 0;
    /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime */
    assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st),
                     2);
    return (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

static void test_recv_keepalive(void **state)
{
    (void)state;
    struct peer p;
    assert_int_equal(recv_start(&p, NULL), 0);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char body[64];
    for (int i = 0; i < 100; i++) {
        snprintf(body, sizeof body, "{\"id\":\"k%d\"}", i);
        assert_int_equal(post(c, &p, "/h", body, NULL).status, 200);
    }
    curl_easy_cleanup(c);
    json_t *s = recv_stats(&p); /* a second connection */
    assert_int_equal(jint(s, "requests"), 100);
    assert_int_equal(json_array_size(json_object_get(s, "ids")), 100);
    assert_int_equal(jint(s, "delivery_connections"), 1);
    assert_int_equal(jint(s, "connections"), 2);
    json_decref(s);

    /* 10,000 more on a fresh connection cost bw-recv well under a second of CPU */
    assert_int_equal(recv_reset(&p), 0);
    long cpu0 = cpu_ms(p.pid), t0 = peer_now_ms();
    c = curl_easy_init();
    for (int i = 0; i < 10000; i++) {
        snprintf(body, sizeof body, "{\"id\":\"n%d\",\"status\":\"firing\"}", i % 9000);
        assert_int_equal(post(c, &p, "/h", body, NULL).status, 200);
    }
    curl_easy_cleanup(c);
    long cpu = cpu_ms(p.pid) - cpu0;
    fprintf(stderr, "bw-recv: 10000 keep-alive POSTs in %ld ms wall, %ld ms of its CPU\n",
            peer_now_ms() - t0, cpu);
    assert_true(cpu < 1000);
    s = recv_stats(&p);
    assert_int_equal(jint(s, "requests"), 10000);
    assert_int_equal(json_array_size(json_object_get(s, "ids")), 9000);
    assert_int_equal(jint(s, "duplicates"), 1000);
    assert_int_equal(jint(s, "delivery_connections"), 1);
    json_decref(s);
    assert_int_equal(recv_stop(&p), 0);
}

static void test_recv_delay(void **state)
{
    (void)state;
    struct peer p;
    assert_int_equal(recv_start(&p, NULL), 0);
    assert_int_equal(recv_mode(&p, "status=200&count=1&delay_ms=300"), 0);
    long t0 = peer_now_ms();
    assert_int_equal(post1(&p, "/h", "{\"id\":\"d1\"}", NULL).status, 200);
    long took = peer_now_ms() - t0;
    assert_true(took >= 290);
    t0 = peer_now_ms();
    assert_int_equal(post1(&p, "/h", "{\"id\":\"d2\"}", NULL).status, 200);
    assert_true(peer_now_ms() - t0 < 290);
    assert_int_equal(recv_stop(&p), 0);
}

static int has_alert(json_t *alerts, const char *name)
{
    size_t i;
    json_t *a;
    json_array_foreach(alerts, i, a)
    {
        const char *n =
            json_string_value(json_object_get(json_object_get(a, "labels"), "alertname"));
        if (n && strcmp(n, name) == 0)
            return 1;
    }
    return 0;
}

static void iso(time_t t, char *out, size_t outlen)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void test_alertmanager(void **state)
{
    (void)state;
    if (access(am_bin(), X_OK) != 0)
        skip();
    struct peer p;
    long t0 = peer_now_ms();
    assert_int_equal(am_start(&p, subdir("am")), 0);
    fprintf(stderr, "alertmanager: ready in %ld ms on port %d\n", peer_now_ms() - t0, p.port);
    pid_t pid = p.pid;
    char starts[32], ends[32], body[512];
    time_t now = time(NULL);
    iso(now - 60, starts, sizeof starts);
    iso(now - 1, ends, sizeof ends);

    snprintf(body, sizeof body,
             "[{\"labels\":{\"alertname\":\"x\",\"provider\":\"openai\"},"
             "\"annotations\":{\"summary\":\"spend | = \\\\\"},\"startsAt\":\"%s\"}]",
             starts);
    assert_int_equal(am_post_alerts(&p, body), 200);
    json_t *a = am_alerts(&p);
    assert_non_null(a);
    assert_true(has_alert(a, "x"));
    json_decref(a);

    snprintf(body, sizeof body,
             "[{\"labels\":{\"alertname\":\"x\",\"provider\":\"openai\"},"
             "\"startsAt\":\"%s\",\"endsAt\":\"%s\"}]",
             starts, ends);
    assert_int_equal(am_post_alerts(&p, body), 200);
    a = am_alerts(&p);
    assert_non_null(a);
    assert_false(has_alert(a, "x"));
    json_decref(a);
    assert_int_equal(am_post_alerts(&p, "not json"), 400);
    assert_int_equal(am_stop(&p), 0);
    assert_gone(pid);
}

static void send_tcp(int port, const char *data, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void send_udp(int port, const char *data, size_t len)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_true(fd >= 0);
    assert_int_equal(sendto(fd, data, len, 0, (struct sockaddr *)&a, sizeof a), (ssize_t)len);
    close(fd);
}

#define CEF                                                                                        \
    "CEF:0|byokwatch|byokwatch|0.1.0|spend_spike|Spend spike \\| proj\\\\eng|8|"                   \
    "msg=spent $212.40 a\\=b c\\\\d cs1Label=project cs1=proj_eng"

static void test_rsyslog(void **state)
{
    (void)state;
    if (access(rsyslogd_bin(), X_OK) != 0)
        skip();
    struct peer p;
    long t0 = peer_now_ms();
    assert_int_equal(syslog_start(&p, subdir("syslog")), 0);
    fprintf(stderr, "rsyslogd: ready in %ld ms on tcp %d udp %d\n", peer_now_ms() - t0, p.port,
            p.udp_port);
    pid_t pid = p.pid;
    const char *m1 = "<134>1 2026-11-27T12:00:00.000Z bw-host byokwatch 4242 spend_spike "
                     "[byokwatch@32473 id=\"a1\" rule=\"sp\\]ike\"] " CEF;
    const char *m2 = "<132>1 2026-11-27T12:00:01Z bw-host byokwatch - - - second, with = and |";
    const char *m3 = "<134>1 2026-11-27T12:00:02Z bw-host byokwatch 4242 udp - " CEF;
    char frame[2048];
    int n = snprintf(frame, sizeof frame, "%zu %s%zu %s", strlen(m1), m1, strlen(m2), m2);
    assert_true(n > 0 && (size_t)n < sizeof frame);
    send_tcp(p.port, frame, (size_t)n);
    char *got = syslog_wait_lines(&p, 2, 5000);
    assert_non_null(got);
    free(got);
    send_udp(p.udp_port, m3, strlen(m3));
    got = syslog_wait_lines(&p, 3, 5000);
    assert_non_null(got);
    char want[4096];
    snprintf(want, sizeof want, "%s\n%s\n%s\n", m1, m2, m3);
    assert_string_equal(got, want);
    free(got);

    json_t *parsed = syslog_parsed(&p);
    assert_non_null(parsed);
    assert_int_equal(json_array_size(parsed), 3);
    json_t *f = json_array_get(parsed, 0);
    assert_string_equal(json_string_value(json_object_get(f, "input")), "imtcp");
    assert_string_equal(json_string_value(json_object_get(f, "version")), "1");
    assert_string_equal(json_string_value(json_object_get(f, "app_name")), "byokwatch");
    assert_string_equal(json_string_value(json_object_get(f, "msgid")), "spend_spike");
    assert_string_equal(json_string_value(json_object_get(f, "msg")), CEF);
    f = json_array_get(parsed, 2);
    assert_string_equal(json_string_value(json_object_get(f, "input")), "imudp");
    assert_string_equal(json_string_value(json_object_get(f, "msg")), CEF);
    json_decref(parsed);
    assert_int_equal(syslog_stop(&p), 0);
    assert_gone(pid);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recv_counts_ids), cmocka_unit_test(test_recv_hmac),
        cmocka_unit_test(test_recv_modes),      cmocka_unit_test(test_recv_keepalive),
        cmocka_unit_test(test_recv_delay),      cmocka_unit_test(test_alertmanager),
        cmocka_unit_test(test_rsyslog),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
