/*
 * Unit tests for common/: the key=value logger (quoting, level filter, the
 * growing-interval complaint throttle and its single recovery line, secret
 * tails) and the UTC time helpers (RFC 3339 and date parsing, formatting,
 * durations, flooring). Log output is captured with log_set_stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../common/log.h"
#include "../common/timeutil.h"
#include "testutil.h"

/* ---- log capture ---- */

struct capture {
    FILE *f;
    char *buf;
    size_t len;
};

static void cap_start(struct capture *c)
{
    c->buf = NULL;
    c->len = 0;
    c->f = open_memstream(&c->buf, &c->len);
    assert_non_null(c->f);
    log_set_stream(c->f);
}

/* Stops capturing and returns the text (owned by c, freed by cap_free). */
static const char *cap_stop(struct capture *c)
{
    log_set_stream(NULL);
    assert_int_equal(fclose(c->f), 0);
    c->f = NULL;
    assert_non_null(c->buf);
    return c->buf;
}

static void cap_free(struct capture *c)
{
    free(c->buf);
    c->buf = NULL;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Copies line i (0-based, without the newline) of s into buf; asserts it exists. */
static void nth_line(const char *s, size_t i, char *buf, size_t len)
{
    for (size_t k = 0; k < i; k++) {
        s = strchr(s, '\n');
        assert_non_null(s);
        s++;
    }
    const char *e = strchr(s, '\n');
    assert_non_null(e);
    size_t n = (size_t)(e - s);
    assert_true(n < len);
    memcpy(buf, s, n);
    buf[n] = '\0';
}

static int setup_log(void **state)
{
    (void)state;
    log_set_level(LOG_INFO);
    log_set_stream(NULL);
    return 0;
}

/* ---- log_quote ---- */

static void test_log_quote_bare(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(log_quote("abc", buf, sizeof buf), "abc");
    assert_string_equal(log_quote("gpt-4o/mini:1.0", buf, sizeof buf), "gpt-4o/mini:1.0");
    assert_ptr_equal(log_quote("x", buf, sizeof buf), buf);
}

static void test_log_quote_escapes(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(log_quote("", buf, sizeof buf), "\"\"");
    assert_string_equal(log_quote(NULL, buf, sizeof buf), "\"\"");
    assert_string_equal(log_quote("a b", buf, sizeof buf), "\"a b\"");
    assert_string_equal(log_quote("a=b", buf, sizeof buf), "\"a=b\"");
    assert_string_equal(log_quote("say \"hi\"", buf, sizeof buf), "\"say \\\"hi\\\"\"");
    assert_string_equal(log_quote("c:\\dir", buf, sizeof buf), "\"c:\\\\dir\"");
    assert_string_equal(log_quote("l1\nl2", buf, sizeof buf), "\"l1\\nl2\"");
    assert_string_equal(log_quote("t\tx", buf, sizeof buf), "\"t?x\"");
    assert_string_equal(log_quote("del\x7f", buf, sizeof buf), "\"del?\"");
}

static void test_log_quote_truncation(void **state)
{
    (void)state;
    char buf[8];
    memset(buf, 'Z', sizeof buf);
    log_quote("abcdefghijklmnop", buf, sizeof buf);
    assert_string_equal(buf, "abcdefg");

    memset(buf, 'Z', sizeof buf);
    log_quote("a b c d e f g h", buf, sizeof buf);
    assert_true(memchr(buf, '\0', sizeof buf) != NULL);
    assert_int_equal(buf[0], '"');
    assert_true(strlen(buf) < sizeof buf);

    /* An escape is never split: the output stays a closed, valid quoted string. */
    char small[6];
    memset(small, 'Z', sizeof small);
    log_quote("\"\"\"\"\"", small, sizeof small);
    assert_string_equal(small, "\"\\\"\"");

    char one[1] = {'Z'};
    log_quote("abc def", one, sizeof one);
    assert_int_equal(one[0], '\0');

    char zero[1] = {'Z'};
    log_quote("abc", zero, 0);
    assert_int_equal(zero[0], 'Z');
}

/* ---- levels and lines ---- */

static void test_log_parse_level(void **state)
{
    (void)state;
    enum log_level l = LOG_ERROR;
    assert_int_equal(log_parse_level("debug", &l), 0);
    assert_int_equal(l, LOG_DEBUG);
    assert_int_equal(log_parse_level("INFO", &l), 0);
    assert_int_equal(l, LOG_INFO);
    assert_int_equal(log_parse_level("warn", &l), 0);
    assert_int_equal(l, LOG_WARN);
    l = LOG_DEBUG;
    assert_int_equal(log_parse_level("warning", &l), 0);
    assert_int_equal(l, LOG_WARN);
    assert_int_equal(log_parse_level("error", &l), 0);
    assert_int_equal(l, LOG_ERROR);
    l = LOG_INFO;
    assert_int_equal(log_parse_level("fatal", &l), -1);
    assert_int_equal(log_parse_level("", &l), -1);
    assert_int_equal(log_parse_level(NULL, &l), -1);
    assert_int_equal(l, LOG_INFO);
}

static void test_log_event_format(void **state)
{
    (void)state;
    struct capture c;
    cap_start(&c);
    log_event(LOG_WARN, "poll_failed", "provider=%s status=%d", "openai", 503);
    log_event(LOG_INFO, "started", NULL);
    const char *out = cap_stop(&c);
    assert_int_equal(count_lines(out), 2);

    char line[512];
    nth_line(out, 0, line, sizeof line);
    assert_memory_equal(line, "ts=", 3);
    /* ts=YYYY-MM-DDTHH:MM:SS.mmmZ */
    assert_int_equal(line[3 + 4], '-');
    assert_int_equal(line[3 + 10], 'T');
    assert_int_equal(line[3 + 19], '.');
    assert_int_equal(line[3 + 23], 'Z');
    int64_t t;
    char stamp[32];
    memcpy(stamp, line + 3, 19);
    memcpy(stamp + 19, "Z", 2);
    assert_int_equal(tu_parse_time(stamp, &t), 0);
    assert_string_equal(line + 3 + 24, " level=warn event=poll_failed provider=openai status=503");

    nth_line(out, 1, line, sizeof line);
    assert_non_null(strstr(line, " level=info event=started"));
    assert_string_equal(strstr(line, " level="), " level=info event=started");
    cap_free(&c);
}

static void test_log_level_filter(void **state)
{
    (void)state;
    struct capture c;
    log_set_level(LOG_WARN);
    assert_int_equal(log_get_level(), LOG_WARN);
    cap_start(&c);
    log_event(LOG_DEBUG, "d", NULL);
    log_event(LOG_INFO, "i", NULL);
    log_event(LOG_WARN, "w", NULL);
    log_event(LOG_ERROR, "e", NULL);
    const char *out = cap_stop(&c);
    assert_int_equal(count_lines(out), 2);
    assert_non_null(strstr(out, "event=w\n"));
    assert_non_null(strstr(out, "event=e\n"));
    assert_null(strstr(out, "event=i\n"));
    assert_null(strstr(out, "event=d\n"));
    cap_free(&c);

    log_set_level(LOG_DEBUG);
    cap_start(&c);
    log_event(LOG_DEBUG, "d", NULL);
    out = cap_stop(&c);
    assert_int_equal(count_lines(out), 1);
    assert_non_null(strstr(out, "level=debug event=d\n"));
    cap_free(&c);
    log_set_level(LOG_INFO);
}

/* ---- complaints ---- */

static void test_log_complain_intervals(void **state)
{
    (void)state;
    struct log_complaint cp = {0};
    struct capture c;
    cap_start(&c);
    for (time_t now = 0; now <= 20; now++)
        log_complain(&cp, now, LOG_WARN, "db_down", "dir=%s", "/var/lib/bw");
    const char *out = cap_stop(&c);

    /* Lines at t=0,1,3,7,15 with the failures suppressed since the previous line. */
    static const char *const want[] = {
        "level=warn event=db_down dir=/var/lib/bw repeated=0 next_log_in=1s",
        "level=warn event=db_down dir=/var/lib/bw repeated=0 next_log_in=2s",
        "level=warn event=db_down dir=/var/lib/bw repeated=1 next_log_in=4s",
        "level=warn event=db_down dir=/var/lib/bw repeated=3 next_log_in=8s",
        "level=warn event=db_down dir=/var/lib/bw repeated=7 next_log_in=16s",
    };
    assert_int_equal(count_lines(out), 5);
    char line[512];
    for (size_t i = 0; i < 5; i++) {
        nth_line(out, i, line, sizeof line);
        const char *p = strstr(line, "level=");
        assert_non_null(p);
        assert_string_equal(p, want[i]);
    }
    assert_int_equal(cp.interval, 16);
    assert_int_equal(cp.next, 31);
    assert_int_equal(cp.suppressed, 5); /* t=16..20 */
    cap_free(&c);

    /* Recovery: one line carrying the suppressed count, then nothing. */
    cap_start(&c);
    log_release(&cp, "db_up", "dir=%s", "/var/lib/bw");
    log_release(&cp, "db_up", "dir=%s", "/var/lib/bw");
    out = cap_stop(&c);
    assert_int_equal(count_lines(out), 1);
    nth_line(out, 0, line, sizeof line);
    assert_string_equal(strstr(line, "level="),
                        "level=info event=db_up dir=/var/lib/bw recovered=1 suppressed=5");
    assert_int_equal(cp.interval, 0);
    assert_int_equal(cp.suppressed, 0);
    cap_free(&c);

    /* A new failure after recovery starts again at 1 s. */
    cap_start(&c);
    log_complain(&cp, 100, LOG_ERROR, "db_down", NULL);
    log_complain(&cp, 100, LOG_ERROR, "db_down", NULL);
    out = cap_stop(&c);
    assert_int_equal(count_lines(out), 1);
    assert_non_null(strstr(out, "level=error event=db_down repeated=0 next_log_in=1s\n"));
    assert_int_equal(cp.suppressed, 1);
    cap_free(&c);
}

static void test_log_release_without_complaint(void **state)
{
    (void)state;
    struct log_complaint cp = {0};
    struct capture c;
    cap_start(&c);
    log_release(&cp, "db_up", NULL);
    const char *out = cap_stop(&c);
    assert_string_equal(out, "");
    cap_free(&c);
}

static void test_log_complain_cap(void **state)
{
    (void)state;
    struct log_complaint cp = {0};
    struct capture c;
    cap_start(&c);
    time_t now = 1000;
    for (int i = 0; i < 25; i++) {
        log_complain(&cp, now, LOG_WARN, "x", NULL);
        now = cp.next;
    }
    const char *out = cap_stop(&c);
    assert_int_equal(count_lines(out), 25);
    assert_int_equal(cp.interval, 86400);
    char line[512];
    nth_line(out, 16, line, sizeof line);
    assert_non_null(strstr(line, "next_log_in=65536s"));
    nth_line(out, 17, line, sizeof line);
    assert_non_null(strstr(line, "next_log_in=86400s"));
    nth_line(out, 24, line, sizeof line);
    assert_non_null(strstr(line, "next_log_in=86400s"));
    cap_free(&c);
}

static void test_log_complain_below_level(void **state)
{
    (void)state;
    struct log_complaint cp = {0};
    struct capture c;
    log_set_level(LOG_ERROR);
    cap_start(&c);
    log_complain(&cp, 0, LOG_WARN, "quiet", NULL);
    log_complain(&cp, 0, LOG_WARN, "quiet", NULL);
    const char *out = cap_stop(&c);
    log_set_level(LOG_INFO);
    assert_string_equal(out, "");
    /* The throttle still advances. */
    assert_int_equal(cp.interval, 1);
    assert_int_equal(cp.suppressed, 1);
    cap_free(&c);
}

/* ---- secrets ---- */

static void test_log_secret_tail(void **state)
{
    (void)state;
    char buf[32];
    const char *secret = "sk-admin-ABCDEFGHIJKLMNOPwxyz";
    const char *t = log_secret_tail(secret, buf, sizeof buf);
    assert_ptr_equal(t, buf);
    size_t n = strlen(t);
    assert_true(n >= 4);
    assert_string_equal(t + n - 4, "wxyz");
    /* Nothing but the tail: no other character of the secret shows. */
    assert_null(strstr(t, "sk-"));
    assert_null(strstr(t, "P"));
    assert_true(n <= 4 + 3); /* an ellipsis ("..." or U+2026) plus the tail */

    assert_string_equal(log_secret_tail("shortsecret", buf, sizeof buf), "****"); /* 11 chars */
    n = strlen(log_secret_tail("twelve-chars", buf, sizeof buf));
    assert_string_equal(buf + n - 4, "hars");
    assert_null(strstr(buf, "twelve"));
    assert_string_equal(log_secret_tail("", buf, sizeof buf), "****");
    assert_string_equal(log_secret_tail(NULL, buf, sizeof buf), "****");

    char tiny[3];
    log_secret_tail(secret, tiny, sizeof tiny);
    assert_true(strlen(tiny) < sizeof tiny);
    assert_null(strstr(tiny, "sk"));
}

/* ---- time parsing ---- */

static int64_t parse_ok(const char *s)
{
    int64_t t = 0x5a5a5a5a;
    if (tu_parse_time(s, &t) != 0)
        fail_msg("tu_parse_time rejected \"%s\"", s);
    return t;
}

static void test_parse_time_utc(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse_ok("2026-11-20T13:00:00Z"), 1795179600);
    assert_int_equal(parse_ok("2026-11-20t13:00:00z"), 1795179600);
    assert_int_equal(parse_ok("2026-11-20 13:00:00Z"), 1795179600);
    assert_int_equal(parse_ok("2038-01-19T03:14:08Z"), 2147483648LL);
    assert_int_equal(parse_ok("9999-12-31T23:59:59Z"), 253402300799LL);
    assert_int_equal(parse_ok("1969-12-31T23:59:59Z"), -1);
    assert_int_equal(parse_ok("1900-01-01T00:00:00Z"), -2208988800LL);
    assert_int_equal(parse_ok("0001-01-01T00:00:00Z"), -62135596800LL);
    /* Leap second clamps to :59. */
    assert_int_equal(parse_ok("2016-12-31T23:59:60Z"), parse_ok("2016-12-31T23:59:59Z"));
}

static void test_parse_time_offsets(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2026-11-20T15:00:00+02:00"), 1795179600);
    assert_int_equal(parse_ok("2026-11-20T07:30:00-05:30"), 1795179600);
    assert_int_equal(parse_ok("2026-11-20T13:00:00+00:00"), 1795179600);
    assert_int_equal(parse_ok("2026-11-20T13:00:00-00:00"), 1795179600);
    /* Offsets that cross a day and a year. */
    assert_int_equal(parse_ok("2027-01-01T01:00:00+02:00"), parse_ok("2026-12-31T23:00:00Z"));
    assert_int_equal(parse_ok("1969-12-31T23:00:00-01:00"), 0);
    assert_int_equal(parse_ok("2026-11-20T13:00:00+23:59"), 1795179600 - 23 * 3600 - 59 * 60);
}

static void test_parse_time_fractions(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2026-11-20T13:00:00.5Z"), 1795179600);
    assert_int_equal(parse_ok("2026-11-20T13:00:00.999999999Z"), 1795179600);
    assert_int_equal(parse_ok("2026-11-20T13:00:01.000Z"), 1795179601);
    assert_int_equal(parse_ok("2026-11-20T15:00:00.123+02:00"), 1795179600);
    /* Truncation, not rounding, also before the epoch. */
    assert_int_equal(parse_ok("1969-12-31T23:59:59.9Z"), -1);
}

static void test_parse_time_plain_date(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2026-11-20"), 1795179600 - 13 * 3600);
    assert_int_equal(parse_ok("1970-01-01"), 0);
    assert_int_equal(parse_ok("1969-12-31"), -86400);
}

static void test_parse_time_leap_years(void **state)
{
    (void)state;
    int64_t t;
    assert_int_equal(parse_ok("2024-02-29T00:00:00Z"), 1709164800);
    assert_int_equal(parse_ok("2000-02-29T12:34:56Z"), 951827696);
    assert_int_equal(parse_ok("2024-03-01") - parse_ok("2024-02-28"), 2 * 86400);
    assert_int_equal(parse_ok("2025-03-01") - parse_ok("2025-02-28"), 86400);
    assert_int_equal(tu_parse_time("2025-02-29", &t), -1);
    assert_int_equal(tu_parse_time("1900-02-29", &t), -1);
    assert_int_equal(tu_parse_time("2100-02-29T00:00:00Z", &t), -1);
    assert_int_equal(parse_ok("2400-02-29"), parse_ok("2400-03-01") - 86400);
}

static void test_parse_time_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "2026",
        "2026-11",
        "2026-13-01",
        "2026-00-10",
        "2026-02-30",
        "2026-04-31",
        "2026-11-00",
        "2026-11-32",
        "2026-1-20",
        "26-11-20",
        "2026/11/20",
        "2026-11-20T",
        "2026-11-20X13:00:00Z",
        "2026-11-20T13:00:00",
        "2026-11-20T13:00Z",
        "2026-11-20T24:00:00Z",
        "2026-11-20T13:60:00Z",
        "2026-11-20T13:00:61Z",
        "2026-11-20T13:00:00.Z",
        "2026-11-20T13:00:00ZZ",
        "2026-11-20T13:00:00Z ",
        "2026-11-20T13:00:00+02",
        "2026-11-20T13:00:00+0200",
        "2026-11-20T13:00:00+24:00",
        "2026-11-20T13:00:00+02:60",
        "2026-11-20T13:00:00+02:00x",
        "2026-11-20junk",
        " 2026-11-20",
        "2026-11-2a",
        "abcd-ef-gh",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t t = 42;
        if (tu_parse_time(bad[i], &t) != -1)
            fail_msg("tu_parse_time accepted \"%s\"", bad[i]);
        assert_int_equal(t, 42);
    }
    int64_t t = 42;
    assert_int_equal(tu_parse_time(NULL, &t), -1);
}

/* ---- formatting ---- */

static void test_format_time(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(tu_format_time(0, buf, sizeof buf), "1970-01-01T00:00:00Z");
    assert_string_equal(tu_format_time(1795179600, buf, sizeof buf), "2026-11-20T13:00:00Z");
    assert_string_equal(tu_format_time(-1, buf, sizeof buf), "1969-12-31T23:59:59Z");
    assert_string_equal(tu_format_time(-86400, buf, sizeof buf), "1969-12-31T00:00:00Z");
    assert_string_equal(tu_format_time(-86401, buf, sizeof buf), "1969-12-30T23:59:59Z");
    assert_string_equal(tu_format_time(-2208988800LL, buf, sizeof buf), "1900-01-01T00:00:00Z");
    assert_string_equal(tu_format_time(951827696, buf, sizeof buf), "2000-02-29T12:34:56Z");
    assert_string_equal(tu_format_time(253402300799LL, buf, sizeof buf), "9999-12-31T23:59:59Z");
    assert_int_equal(strlen(tu_format_time(1795179600, buf, 21)), 20);
}

static void test_format_time_round_trip(void **state)
{
    (void)state;
    char buf[32];
    /* Dense around the epoch, sparse across the four-digit-year range. */
    for (int64_t t = -200000; t <= 200000; t += 997) {
        int64_t back;
        tu_format_time(t, buf, sizeof buf);
        assert_int_equal(tu_parse_time(buf, &back), 0);
        assert_int_equal(back, t);
    }
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* 0001-01-01 .. 9999-12-31 */
        int64_t lo = -62135596800LL, hi = 253402300799LL;
        int64_t t = lo + (int64_t)(x % (uint64_t)(hi - lo + 1));
        int64_t back;
        tu_format_time(t, buf, sizeof buf);
        if (tu_parse_time(buf, &back) != 0 || back != t)
            fail_msg("round trip of %lld gave \"%s\"", (long long)t, buf);
    }
}

static void test_civil_days(void **state)
{
    (void)state;
    assert_int_equal(tu_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(tu_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(tu_days_from_civil(2000, 3, 1), 11017);
    for (int64_t z = -800000; z <= 800000; z += 37) {
        int64_t y;
        unsigned m, d;
        tu_civil_from_days(z, &y, &m, &d);
        assert_true(m >= 1 && m <= 12 && d >= 1 && d <= 31);
        assert_int_equal(tu_days_from_civil(y, m, d), z);
    }
}

/* ---- durations ---- */

static void test_parse_duration_valid(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t want;
    } ok[] = {
        {"1s", 1},
        {"90s", 90},
        {"5m", 300},
        {"1h", 3600},
        {"1h30m", 5400},
        {"7d", 604800},
        {"2w", 1209600},
        {"1w2d3h4m5s", 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5},
        {"1h1h", 7200},
        {"0h5s", 5},
        {"0005m", 300},
        {"106751991167300d", 106751991167300LL * 86400},
        {"9223372036854775s", 9223372036854775LL},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t v = -1;
        if (tu_parse_duration(ok[i].s, &v) != 0)
            fail_msg("tu_parse_duration rejected \"%s\"", ok[i].s);
        if (v != ok[i].want)
            fail_msg("\"%s\" -> %lld, want %lld", ok[i].s, (long long)v, (long long)ok[i].want);
    }
}

static void test_parse_duration_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "5",
        "5x",
        "s",
        "0s",
        "0h0m",
        "-5s",
        "+5s",
        "5 s",
        " 5s",
        "5s ",
        "1h30",
        "1.5h",
        "5S",
        "5sec",
        "h5",
        "106751991167301d",      /* days * 86400 overflows int64 */
        "9223372036854775808s",  /* > INT64_MAX */
        "99999999999999999999s", /* digits overflow */
        "15250284452472w",       /* weeks overflow */
        "9223372036854775000s9223372036854775000s",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 42;
        if (tu_parse_duration(bad[i], &v) != -1)
            fail_msg("tu_parse_duration accepted \"%s\" (%lld)", bad[i], (long long)v);
        assert_int_equal(v, 42);
    }
    int64_t v = 42;
    assert_int_equal(tu_parse_duration(NULL, &v), -1);
}

static void test_format_duration(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(tu_format_duration(1, buf, sizeof buf), "1s");
    assert_string_equal(tu_format_duration(61, buf, sizeof buf), "61s");
    assert_string_equal(tu_format_duration(300, buf, sizeof buf), "5m");
    assert_string_equal(tu_format_duration(3600, buf, sizeof buf), "1h");
    assert_string_equal(tu_format_duration(5400, buf, sizeof buf), "90m");
    assert_string_equal(tu_format_duration(86400, buf, sizeof buf), "1d");
    assert_string_equal(tu_format_duration(8 * 86400, buf, sizeof buf), "8d");
    assert_string_equal(tu_format_duration(14 * 86400, buf, sizeof buf), "2w");
    assert_string_equal(tu_format_duration(0, buf, sizeof buf), "0s");
    /* Every formatted value parses back to itself. */
    static const int64_t vals[] = {1,     59,    60,    61,     3599,   3600,    5400,
                                   86399, 86400, 90000, 604800, 694861, 31536000};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        int64_t back = 0;
        tu_format_duration(vals[i], buf, sizeof buf);
        assert_int_equal(tu_parse_duration(buf, &back), 0);
        assert_int_equal(back, vals[i]);
    }
}

static void test_floor(void **state)
{
    (void)state;
    assert_int_equal(tu_floor(0, 3600), 0);
    assert_int_equal(tu_floor(3599, 3600), 0);
    assert_int_equal(tu_floor(3600, 3600), 3600);
    assert_int_equal(tu_floor(7201, 3600), 7200);
    assert_int_equal(tu_floor(-1, 3600), -3600);
    assert_int_equal(tu_floor(-3600, 3600), -3600);
    assert_int_equal(tu_floor(-3601, 3600), -7200);
    assert_int_equal(tu_floor(-86401, 86400), -172800);
    assert_int_equal(tu_floor(1795179600 + 1234, 86400), 1795179600 - 13 * 3600);
    assert_int_equal(tu_floor(-7, 1), -7);
    for (int64_t t = -10000; t <= 10000; t += 7) {
        int64_t f = tu_floor(t, 300);
        assert_true(f <= t && t - f < 300 && f % 300 == 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_log_quote_bare, setup_log),
        cmocka_unit_test_setup(test_log_quote_escapes, setup_log),
        cmocka_unit_test_setup(test_log_quote_truncation, setup_log),
        cmocka_unit_test_setup(test_log_parse_level, setup_log),
        cmocka_unit_test_setup(test_log_event_format, setup_log),
        cmocka_unit_test_setup(test_log_level_filter, setup_log),
        cmocka_unit_test_setup(test_log_complain_intervals, setup_log),
        cmocka_unit_test_setup(test_log_release_without_complaint, setup_log),
        cmocka_unit_test_setup(test_log_complain_cap, setup_log),
        cmocka_unit_test_setup(test_log_complain_below_level, setup_log),
        cmocka_unit_test_setup(test_log_secret_tail, setup_log),
        cmocka_unit_test(test_parse_time_utc),
        cmocka_unit_test(test_parse_time_offsets),
        cmocka_unit_test(test_parse_time_fractions),
        cmocka_unit_test(test_parse_time_plain_date),
        cmocka_unit_test(test_parse_time_leap_years),
        cmocka_unit_test(test_parse_time_invalid),
        cmocka_unit_test(test_format_time),
        cmocka_unit_test(test_format_time_round_trip),
        cmocka_unit_test(test_civil_days),
        cmocka_unit_test(test_parse_duration_valid),
        cmocka_unit_test(test_parse_duration_invalid),
        cmocka_unit_test(test_format_duration),
        cmocka_unit_test(test_floor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
