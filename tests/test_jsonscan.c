/*
 * Unit tests for collector/jsonscan.c: token sequences, a valid and an
 * invalid corpus with error codes and positions, escapes and UTF-16,
 * UTF-8, numbers and their range checks, depth, truncation at every byte
 * of a sample document, the skip and key helpers, and random mutations
 * judged against jansson as an oracle.
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

#include "../collector/jsonscan.h"

#define STRICT (JS_OPT_REJECT_NUL | JS_OPT_NUM_RANGE)

/* Scans len bytes to the end; returns the error (JS_OK when the text is valid). */
static enum js_error scan_all(const char *text, size_t len, unsigned opts, struct js *s)
{
    struct js_token t;
    enum js_type y;
    js_init(s, text, len, opts);
    do {
        y = js_next(s, &t);
    } while (y != JS_EOF && y != JS_ERROR);
    if (y == JS_ERROR)
        assert_int_not_equal(js_error(s), JS_OK);
    return js_error(s);
}

static enum js_error scan_str(const char *text, unsigned opts)
{
    struct js s;
    return scan_all(text, strlen(text), opts, &s);
}

static void expect_valid(const char *text, unsigned opts)
{
    struct js s;
    char msg[128];
    if (scan_all(text, strlen(text), opts, &s) != JS_OK)
        fail_msg("rejected %s: %s", text, js_error_text(&s, msg, sizeof msg));
}

/* Asserts that text fails with error e at line:col. */
static void expect_error(const char *text, unsigned opts, enum js_error e, int line, int col)
{
    struct js s;
    int l, c;
    enum js_error got = scan_all(text, strlen(text), opts, &s);
    js_error_pos(&s, &l, &c);
    if (got != e || l != line || c != col)
        fail_msg("%s: got %s at %d:%d, want %s at %d:%d", text, js_strerror(got), l, c,
                 js_strerror(e), line, col);
}

/* ---- tokens ---- */

static void test_token_sequence(void **state)
{
    (void)state;
    static const char doc[] =
        " {\"a\" : [1, -2.5e3, true, false, null, \"x\\ny\"], \"b\":{}, \"\":[]} ";
    static const struct {
        enum js_type type;
        const char *text;
        unsigned flags;
    } want[] = {
        {JS_OBJECT, "{", 0},
        {JS_KEY, "a", 0},
        {JS_ARRAY, "[", 0},
        {JS_NUMBER, "1", JS_F_INT},
        {JS_NUMBER, "-2.5e3", JS_F_NEG},
        {JS_TRUE, "true", 0},
        {JS_FALSE, "false", 0},
        {JS_NULL, "null", 0},
        {JS_STRING, "x\\ny", JS_F_ESCAPED},
        {JS_ARRAY_END, "]", 0},
        {JS_KEY, "b", 0},
        {JS_OBJECT, "{", 0},
        {JS_OBJECT_END, "}", 0},
        {JS_KEY, "", 0},
        {JS_ARRAY, "[", 0},
        {JS_ARRAY_END, "]", 0},
        {JS_OBJECT_END, "}", 0},
        {JS_EOF, "", 0},
    };
    struct js s;
    struct js_token t;
    js_init(&s, doc, strlen(doc), STRICT);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        enum js_type y = js_next(&s, &t);
        assert_int_equal(y, want[i].type);
        assert_int_equal(t.type, want[i].type);
        assert_int_equal(t.len, strlen(want[i].text));
        assert_memory_equal(t.ptr, want[i].text, t.len);
        assert_int_equal(t.flags, want[i].flags);
    }
    assert_int_equal(js_next(&s, &t), JS_EOF); /* stays at the end */
    assert_int_equal(js_depth(&s), 0);
    assert_int_equal(js_offset(&s), strlen(doc));

    /* scalars at the top level */
    js_init(&s, "42", 2, 0);
    assert_int_equal(js_next(&s, &t), JS_NUMBER);
    assert_int_equal(js_next(&s, &t), JS_EOF);
    js_init(&s, "\"s\"", 3, 0);
    assert_int_equal(js_next(&s, &t), JS_STRING);
    assert_int_equal(js_next(&s, &t), JS_EOF);

    /* the buffer is not NUL-terminated: nothing past len is read */
    char buf[4] = {'[', '1', ']', 'x'};
    expect_valid("[1]", 0);
    struct js s2;
    assert_int_equal(scan_all(buf, 3, 0, &s2), JS_OK);
    assert_int_equal(scan_all(buf, 4, 0, &s2), JS_E_TRAILING);
}

/* ---- corpus ---- */

static void test_valid_corpus(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "{}",
        "[]",
        "0",
        "-0",
        "0.5",
        "-0.0e-0",
        "1E+5",
        "1e5",
        "123456789",
        "true",
        "false",
        "null",
        "\"\"",
        " \t\r\n[ 1 , 2 ]\n",
        "{\"a\":{\"b\":{\"c\":[[],[{}]]}}}",
        "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]",
        "[\"\\u00e9\\u20AC\\ud83d\\ude00\"]",
        "[\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"]",
        "[\"\x7f\"]",
        "{\"a\":1,\"a\":2}", /* duplicates are the caller's business */
        "[1.5e-300,1e308,-1.7976931348623157e308,0e99999,1e-99999]",
        "[9223372036854775807,-9223372036854775808]",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        expect_valid(docs[i], STRICT);
    /* \u0000 is valid JSON; only JS_OPT_REJECT_NUL refuses it */
    expect_valid("[\"a\\u0000b\"]", 0);
}

static void test_invalid_corpus(void **state)
{
    (void)state;
    static const struct {
        const char *doc;
        enum js_error e;
        int line, col;
    } cases[] = {
        {"", JS_E_TRUNCATED, 1, 1},
        {"   ", JS_E_TRUNCATED, 1, 4},
        {"[1,]", JS_E_TRAILING_COMMA, 1, 4},
        {"{\"a\":1,}", JS_E_TRAILING_COMMA, 1, 8},
        {"[,1]", JS_E_VALUE, 1, 2},
        {"[1 2]", JS_E_ARRAY_NEXT, 1, 4},
        {"{\"a\":1 \"b\":2}", JS_E_OBJECT_NEXT, 1, 8},
        {"{\"a\" 1}", JS_E_COLON, 1, 6},
        {"{a:1}", JS_E_KEY, 1, 2},
        {"{1:1}", JS_E_KEY, 1, 2},
        {"[1}", JS_E_ARRAY_NEXT, 1, 3},
        {"{\"a\":1]", JS_E_OBJECT_NEXT, 1, 7},
        {"{} x", JS_E_TRAILING, 1, 4},
        {"{}{}", JS_E_TRAILING, 1, 3},
        {"1 2", JS_E_TRAILING, 1, 3},
        {"[01]", JS_E_NUMBER, 1, 3},
        {"[-01]", JS_E_NUMBER, 1, 4},
        {"[1.]", JS_E_NUMBER, 1, 4},
        {"[.5]", JS_E_VALUE, 1, 2},
        {"[+1]", JS_E_VALUE, 1, 2},
        {"[-x]", JS_E_NUMBER, 1, 3},
        {"[1e]", JS_E_NUMBER, 1, 4},
        {"[1e+]", JS_E_NUMBER, 1, 5},
        {"[1.e5]", JS_E_NUMBER, 1, 4},
        {"[0x1]", JS_E_ARRAY_NEXT, 1, 3},
        {"[NaN]", JS_E_VALUE, 1, 2},
        {"[Infinity]", JS_E_VALUE, 1, 2},
        {"[tru]", JS_E_LITERAL, 1, 2},
        {"[nul1]", JS_E_LITERAL, 1, 2},
        {"[truex]", JS_E_ARRAY_NEXT, 1, 6},
        {"[True]", JS_E_VALUE, 1, 2},
        {"['a']", JS_E_VALUE, 1, 2},
        {"[\"a\x01\"]", JS_E_CONTROL, 1, 4},
        {"[\"a\tb\"]", JS_E_CONTROL, 1, 4},
        {"[\"a\nb\"]", JS_E_CONTROL, 1, 4},
        {"[\"\\x\"]", JS_E_ESCAPE, 1, 3},
        {"[\"\\u12G4\"]", JS_E_ESCAPE, 1, 3},
        {"[\"\\ud800\"]", JS_E_SURROGATE, 1, 3},
        {"[\"\\udc00\\ud800\"]", JS_E_SURROGATE, 1, 3},
        {"[\"\\ud800\\u0041\"]", JS_E_SURROGATE, 1, 3},
        {"[\"\\ud800\\n\"]", JS_E_SURROGATE, 1, 3},
        {"[\"\\ud800x\"]", JS_E_SURROGATE, 1, 3},
        {"[\"\\ud800\\uZZZZ\"]", JS_E_ESCAPE, 1, 9},
        {"[\"a\\u0000b\"]", JS_E_NUL, 1, 4},
        {"[\"\x80\"]", JS_E_UTF8, 1, 3},
        {"[\"\xc0\x80\"]", JS_E_UTF8, 1, 3},
        {"[\"\xc1\xbf\"]", JS_E_UTF8, 1, 3},
        {"[\"\xe0\x80\x80\"]", JS_E_UTF8, 1, 3},
        {"[\"\xed\xa0\x80\"]", JS_E_UTF8, 1, 3},
        {"[\"\xf0\x80\x80\x80\"]", JS_E_UTF8, 1, 3},
        {"[\"\xf4\x90\x80\x80\"]", JS_E_UTF8, 1, 3},
        {"[\"\xf5\x80\x80\x80\"]", JS_E_UTF8, 1, 3},
        {"[\"\xc3\x28\"]", JS_E_UTF8, 1, 3},
        {"\xef\xbb\xbf{}", JS_E_VALUE, 1, 1},
        {"[1,\n 2,\n   x]", JS_E_VALUE, 3, 4},
        {"[\"\xc3\xa9\xc3\xa9\", x]", JS_E_VALUE, 1, 8}, /* columns count characters */
        {"[\x00]", JS_E_TRUNCATED, 1, 2},                /* strlen stops at the NUL */
        {"[1]\x7f", JS_E_TRAILING, 1, 4},
        {"[9223372036854775808]", JS_E_RANGE, 1, 2},
        {"[-9223372036854775809]", JS_E_RANGE, 1, 2},
        {"[123456789012345678901234567890]", JS_E_RANGE, 1, 2},
        {"[1e309]", JS_E_RANGE, 1, 2},
        {"[-1.7976931348623159e308]", JS_E_RANGE, 1, 2},
        {"[0.1e310]", JS_E_RANGE, 1, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_error(cases[i].doc, STRICT, cases[i].e, cases[i].line, cases[i].col);
    /* a raw NUL byte inside the length is no JSON either */
    struct js s;
    assert_int_equal(scan_all("[\"\0\"]", 5, STRICT, &s), JS_E_CONTROL);
    assert_int_equal(scan_all("[\0]", 3, STRICT, &s), JS_E_VALUE);
    assert_int_equal(scan_all(NULL, 0, STRICT, &s), JS_E_TRUNCATED);
    /* the range option is what rejects out-of-range numbers */
    assert_int_equal(scan_str("[123456789012345678901234567890,1e999]", 0), JS_OK);

    /* after an error, every call returns JS_ERROR and the error text names the place */
    struct js_token t;
    js_init(&s, "[1,]", 4, 0);
    while (js_next(&s, &t) != JS_ERROR)
        ;
    assert_int_equal(js_next(&s, &t), JS_ERROR);
    char msg[64];
    assert_string_equal(js_error_text(&s, msg, sizeof msg), "line 1 column 4: trailing comma");
    assert_string_equal(js_strerror(JS_OK), "no error");
}

/* ---- strings ---- */

static void expect_unescape(const char *raw, const char *want, size_t want_len)
{
    char out[64];
    size_t n = 99;
    int rc = js_unescape(raw, strlen(raw), out, sizeof out, &n);
    if (rc != 0)
        fail_msg("js_unescape(%s) = %d", raw, rc);
    assert_int_equal(n, want_len);
    assert_memory_equal(out, want, want_len);
    assert_int_equal(out[n], '\0');
}

static void test_escapes(void **state)
{
    (void)state;
    expect_unescape("plain", "plain", 5);
    expect_unescape("\\\"\\\\\\/\\b\\f\\n\\r\\t", "\"\\/\b\f\n\r\t", 8);
    expect_unescape("\\u0041\\u00e9\\u20ac", "A\xc3\xa9\xe2\x82\xac", 6);
    expect_unescape("\\uD83D\\uDE00!", "\xf0\x9f\x98\x80!", 5);
    expect_unescape("\\udbff\\udfff", "\xf4\x8f\xbf\xbf", 4);
    expect_unescape("a\\u0000b", "a\0b", 3);
    expect_unescape("", "", 0);

    static const char *const bad[] = {
        "\\",      "\\x",        "\\u12",          "\\u12G4",        "\\ud800",
        "\\udc00", "\\ud800\\n", "\\ud800\\u0041", "\\udc00\\ud800", "\\ud800\\ud800"};
    char out[16];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (js_unescape(bad[i], strlen(bad[i]), out, sizeof out, NULL) != -1)
            fail_msg("js_unescape accepted %s", bad[i]);

    /* capacity: the text and its NUL must fit */
    assert_int_equal(js_unescape("abc", 3, out, 4, NULL), 0);
    assert_int_equal(js_unescape("abc", 3, out, 3, NULL), -2);
    assert_int_equal(js_unescape("\\u20ac", 6, out, 3, NULL), -2);
    assert_int_equal(js_unescape("\\u20ac", 6, out, 4, NULL), 0);
    assert_int_equal(js_unescape("", 0, out, 0, NULL), -2);

    /* tokens: js_string, js_str_eq, js_str_equal */
    struct js s;
    struct js_token a, b, c;
    const char *doc = "[\"caf\\u00e9\",\"caf\xc3\xa9\",\"cafe\"]";
    js_init(&s, doc, strlen(doc), STRICT);
    assert_int_equal(js_next(&s, &a), JS_ARRAY);
    assert_int_equal(js_next(&s, &a), JS_STRING);
    assert_int_equal(js_next(&s, &b), JS_STRING);
    assert_int_equal(js_next(&s, &c), JS_STRING);
    assert_true(a.flags & JS_F_ESCAPED);
    assert_false(b.flags & JS_F_ESCAPED);
    assert_true(js_str_equal(&a, &b));
    assert_true(js_str_equal(&b, &a));
    assert_false(js_str_equal(&a, &c));
    assert_true(js_str_eq(&a, "caf\xc3\xa9", 5));
    assert_false(js_str_eq(&a, "caf\xc3", 4));
    assert_true(js_str_eq(&c, "cafe", 4));
    assert_false(js_str_eq(&c, "caf", 3));
    size_t n;
    assert_int_equal(js_string(&a, out, sizeof out, &n), 0);
    assert_int_equal(n, 5);
    assert_string_equal(out, "caf\xc3\xa9");
    assert_int_equal(js_string(&c, out, 4, &n), -2);
    assert_int_equal(js_string(&c, out, 5, &n), 0);
    assert_string_equal(out, "cafe");
    /* a backslash in the plain string compared to is not an escape */
    struct js_token e = {.type = JS_STRING, .ptr = "a\\\\b", .len = 4, .flags = JS_F_ESCAPED};
    assert_true(js_str_eq(&e, "a\\b", 3));
}

/* ---- numbers ---- */

static struct js_token num(const char *text)
{
    struct js s;
    struct js_token t, end;
    js_init(&s, text, strlen(text), 0);
    if (js_next(&s, &t) != JS_NUMBER || js_next(&s, &end) != JS_EOF)
        fail_msg("%s is not one number", text);
    return t;
}

static void test_numbers(void **state)
{
    (void)state;
    uint64_t u;
    int64_t i;
    double d;
    struct js_token t = num("0");
    assert_int_equal(js_num_u53(&t, &u), 0);
    assert_int_equal(u, 0);
    t = num("9007199254740992");
    assert_int_equal(js_num_u53(&t, &u), 0);
    assert_int_equal(u, UINT64_C(9007199254740992));
    static const char *const not_u53[] = {"9007199254740993", "-1", "-0", "1.0", "1e3",
                                          "12345678901234567"};
    for (size_t k = 0; k < sizeof not_u53 / sizeof not_u53[0]; k++) {
        t = num(not_u53[k]);
        if (js_num_u53(&t, &u) != -1)
            fail_msg("js_num_u53 accepted %s", not_u53[k]);
    }

    t = num("9223372036854775807");
    assert_int_equal(js_num_i64(&t, &i), 0);
    assert_true(i == INT64_MAX);
    t = num("-9223372036854775808");
    assert_int_equal(js_num_i64(&t, &i), 0);
    assert_true(i == INT64_MIN);
    t = num("-0");
    assert_int_equal(js_num_i64(&t, &i), 0);
    assert_int_equal(i, 0);
    t = num("-42");
    assert_int_equal(js_num_i64(&t, &i), 0);
    assert_int_equal(i, -42);
    static const char *const not_i64[] = {"9223372036854775808", "-9223372036854775809", "1.5",
                                          "1e2", "99999999999999999999"};
    for (size_t k = 0; k < sizeof not_i64 / sizeof not_i64[0]; k++) {
        t = num(not_i64[k]);
        if (js_num_i64(&t, &i) != -1)
            fail_msg("js_num_i64 accepted %s", not_i64[k]);
    }

    t = num("1.5");
    assert_int_equal(js_num_double(&t, &d), 0);
    assert_true(d == 1.5);
    t = num("-0.0");
    assert_int_equal(js_num_double(&t, &d), 0);
    assert_true(d == 0 && signbit(d));
    t = num("1E+2");
    assert_int_equal(js_num_double(&t, &d), 0);
    assert_true(d == 100);
    t = num("1.7976931348623157e308");
    assert_int_equal(js_num_double(&t, &d), 0);
    assert_true(d == 1.7976931348623157e308);
    t = num("1e-400"); /* underflow gives the rounded value, zero */
    assert_int_equal(js_num_double(&t, &d), 0);
    assert_true(d == 0);
    t = num("1e309");
    assert_int_equal(js_num_double(&t, &d), -1);
    char longnum[JS_NUM_MAX + 2];
    memset(longnum, '1', sizeof longnum - 1);
    longnum[sizeof longnum - 1] = '\0';
    t = num(longnum);
    assert_int_equal(js_num_double(&t, &d), -1);
    longnum[JS_NUM_MAX] = '\0';
    t = num(longnum);
    assert_int_equal(js_num_double(&t, &d), 0);

    /* the range option at its edges */
    assert_int_equal(scan_str("[9223372036854775807]", STRICT), JS_OK);
    assert_int_equal(scan_str("[-9223372036854775808]", STRICT), JS_OK);
    assert_int_equal(scan_str("[1.7976931348623158e308]", STRICT), JS_OK); /* rounds down */
    assert_int_equal(scan_str("[1.7976931348623159e308]", STRICT), JS_E_RANGE);
    assert_int_equal(scan_str("[0.00000000000000001e308]", STRICT), JS_OK);
    assert_int_equal(scan_str("[123456789e300]", STRICT), JS_OK); /* 1.2e308, decided by strtod */
    assert_int_equal(scan_str("[223456789e300]", STRICT), JS_E_RANGE);
    assert_int_equal(scan_str("[0.000e400]", STRICT), JS_OK);
    assert_int_equal(scan_str("[1e-99999999999999999999]", STRICT), JS_OK);
    assert_int_equal(scan_str("[1e99999999999999999999]", STRICT), JS_E_RANGE);
}

/* ---- depth ---- */

static void test_depth(void **state)
{
    (void)state;
    char doc[2 * (JS_MAX_DEPTH + 1) + 1];
    memset(doc, '[', JS_MAX_DEPTH);
    memset(doc + JS_MAX_DEPTH, ']', JS_MAX_DEPTH);
    doc[2 * JS_MAX_DEPTH] = '\0';
    expect_valid(doc, STRICT);
    memset(doc, '[', JS_MAX_DEPTH + 1);
    memset(doc + JS_MAX_DEPTH + 1, ']', JS_MAX_DEPTH + 1);
    doc[2 * (JS_MAX_DEPTH + 1)] = '\0';
    expect_error(doc, STRICT, JS_E_DEPTH, 1, JS_MAX_DEPTH + 1);

    /* objects and arrays mixed, 64 deep */
    char mixed[8 * JS_MAX_DEPTH];
    size_t p = 0;
    for (int k = 0; k < JS_MAX_DEPTH; k++) {
        if (k % 2) {
            mixed[p++] = '[';
        } else {
            memcpy(mixed + p, "{\"k\":", 5);
            p += 5;
        }
    }
    mixed[p++] = '0';
    for (int k = JS_MAX_DEPTH - 1; k >= 0; k--)
        mixed[p++] = k % 2 ? ']' : '}';
    mixed[p] = '\0';
    expect_valid(mixed, STRICT);

    /* 10000 deep fails cleanly at the limit */
    size_t deep = 10000;
    char *big = malloc(deep);
    assert_non_null(big);
    memset(big, '{', deep);
    struct js s;
    assert_int_equal(scan_all(big, deep, STRICT, &s), JS_E_KEY);
    memset(big, '[', deep);
    assert_int_equal(scan_all(big, deep, STRICT, &s), JS_E_DEPTH);
    free(big);
}

/* ---- truncation ---- */

static const char sample[] =
    "{\"object\":\"page\",\"data\":[{\"start_time\":1730419200,\"end_time\":1730422800,"
    "\"results\":[{\"n\":-12.5e-3,\"s\":\"caf\xc3\xa9 \\u00e9 \\ud83d\\ude00 \\\"q\\\"\","
    "\"t\":true,\"f\":false,\"z\":null,\"e\":{},\"a\":[],\"x\":\"\xf0\x9f\x98\x80\"}]}],"
    "\"has_more\":false,\"next_page\":null}";

static void test_truncation_every_byte(void **state)
{
    (void)state;
    size_t len = sizeof sample - 1;
    struct js s;
    assert_int_equal(scan_all(sample, len, STRICT, &s), JS_OK);
    for (size_t cut = 0; cut < len; cut++) {
        char *copy = malloc(cut ? cut : 1); /* exactly cut bytes: ASan sees any overread */
        assert_non_null(copy);
        memcpy(copy, sample, cut);
        enum js_error e = scan_all(copy, cut, STRICT, &s);
        if (e != JS_E_TRUNCATED)
            fail_msg("cut at %zu: %s, want truncated", cut, js_strerror(e));
        assert_int_equal(js_error_offset(&s), cut);
        free(copy);
    }
    /* with whitespace after, the value is whole */
    char *spaced = malloc(len + 3);
    assert_non_null(spaced);
    memcpy(spaced, sample, len);
    memcpy(spaced + len, " \n\t", 3);
    assert_int_equal(scan_all(spaced, len + 3, STRICT, &s), JS_OK);
    free(spaced);
}

/* ---- skipping ---- */

static void test_skip(void **state)
{
    (void)state;
    const char *doc = "{\"a\":{\"x\":[1,{\"y\":2}],\"z\":\"s\"},\"b\":3,\"c\":[[[]]],\"d\":4}";
    struct js s;
    struct js_token t;
    js_init(&s, doc, strlen(doc), STRICT);
    assert_int_equal(js_next(&s, &t), JS_OBJECT);
    assert_int_equal(js_next(&s, &t), JS_KEY);
    assert_int_equal(js_next(&s, &t), JS_OBJECT);
    assert_int_equal(js_skip(&s, &t), 0);
    assert_int_equal(js_next(&s, &t), JS_KEY);
    assert_true(js_str_eq(&t, "b", 1));
    assert_int_equal(js_next(&s, &t), JS_NUMBER);
    assert_int_equal(js_skip(&s, &t), 0); /* a scalar is already skipped */
    assert_int_equal(js_next(&s, &t), JS_KEY);
    assert_int_equal(js_next(&s, &t), JS_ARRAY);
    assert_int_equal(js_skip_unique(&s, &t), 0);
    assert_int_equal(js_next(&s, &t), JS_KEY);
    assert_true(js_str_eq(&t, "d", 1));

    /* duplicates anywhere inside, compared unescaped; siblings do not collide */
    static const struct {
        const char *doc;
        int dup;
    } cases[] = {
        {"[{\"a\":1,\"b\":2}]", 0},
        {"[{\"a\":1,\"a\":2}]", 1},
        {"[{\"a\":1,\"\\u0061\":2}]", 1},
        {"[{\"a\":{\"a\":1},\"b\":{\"a\":2}}]", 0},
        {"[{\"a\":[{\"k\":1},{\"k\":2}],\"b\":1}]", 0},
        {"[{\"a\":[{\"k\":1,\"k\":2}]}]", 1},
        {"[{\"a\":{\"x\":1},\"b\":1,\"a\":2}]", 1},
        {"[{\"\":1,\"\":2}]", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        js_init(&s, cases[i].doc, strlen(cases[i].doc), STRICT);
        assert_int_equal(js_next(&s, &t), JS_ARRAY);
        int rc = js_skip_unique(&s, &t);
        if (rc != -cases[i].dup)
            fail_msg("%s: skip_unique %d", cases[i].doc, rc);
        if (cases[i].dup)
            assert_int_equal(js_error(&s), JS_E_DUPLICATE);
        else
            assert_int_equal(js_next(&s, &t), JS_EOF);
    }
    /* more keys than the check can hold */
    char many[1024];
    size_t p = 0;
    many[p++] = '{';
    for (int k = 0; k < 70; k++)
        p += (size_t)snprintf(many + p, sizeof many - p, "%s\"k%d\":0", k ? "," : "", k);
    many[p++] = '}';
    js_init(&s, many, p, STRICT);
    assert_int_equal(js_next(&s, &t), JS_OBJECT);
    assert_int_equal(js_skip_unique(&s, &t), -1);
    assert_int_equal(js_error(&s), JS_E_LIMIT);
    js_init(&s, many, p, STRICT);
    assert_int_equal(js_next(&s, &t), JS_OBJECT);
    assert_int_equal(js_skip(&s, &t), 0);
    /* a syntax error inside the skipped value is reported */
    js_init(&s, "[[1,,2]]", 8, STRICT);
    assert_int_equal(js_next(&s, &t), JS_ARRAY);
    assert_int_equal(js_skip(&s, &t), -1);
    assert_int_equal(js_error(&s), JS_E_VALUE);
}

/* ---- key tables ---- */

static void test_keymap_and_members(void **state)
{
    (void)state;
    static const char *const names[] = {"id", "name", "value"};
    struct js_keymap m;
    assert_int_equal(js_keymap_init(&m, names, 3), 0);
    const char *doc = "[{\"name\":\"a\",\"id\":1,\"extra\":true,\"value\":2},"
                      "{\"name\":\"b\",\"id\":2,\"extra\":false,\"v\\u0061lue\":3},"
                      "{\"id\":3,\"name\":\"c\",\"name\":\"d\"},"
                      "{\"extra\":1,\"extra\":2}]";
    struct js s;
    struct js_token t;
    js_init(&s, doc, strlen(doc), STRICT);
    assert_int_equal(js_next(&s, &t), JS_ARRAY);
    int want[2][4] = {{1, 0, 3, 2}, {1, 0, 3, 2}}; /* "extra" is learned as index 3 */
    for (int obj = 0; obj < 2; obj++) {
        struct js_keyset ks;
        int idx, r, k = 0;
        js_keyset_init(&ks);
        assert_int_equal(js_next(&s, &t), JS_OBJECT);
        while ((r = js_member(&s, &m, &ks, &idx, &t)) == 1)
            assert_int_equal(idx, want[obj][k++]);
        assert_int_equal(r, 0);
        assert_int_equal(k, 4);
    }
    assert_int_equal(m.n, 4);
    assert_int_equal(m.n_given, 3);
    /* a duplicate key fails at its opening quote */
    struct js_keyset ks;
    int idx;
    js_keyset_init(&ks);
    assert_int_equal(js_next(&s, &t), JS_OBJECT);
    assert_int_equal(js_member(&s, &m, &ks, &idx, &t), 1);
    assert_int_equal(js_member(&s, &m, &ks, &idx, &t), 1);
    assert_int_equal(js_member(&s, &m, &ks, &idx, &t), -1);
    assert_int_equal(js_error(&s), JS_E_DUPLICATE);
    int line, col;
    js_error_pos(&s, &line, &col);
    assert_int_equal(col, (int)(strstr(doc, "\"name\":\"d\"") - doc) + 1);

    /* learned keys get bits too */
    js_init(&s, "{\"extra\":1,\"extra\":2}", 21, STRICT);
    js_keyset_init(&ks);
    assert_int_equal(js_next(&s, &t), JS_OBJECT);
    assert_int_equal(js_member(&s, &m, &ks, &idx, &t), 1);
    assert_int_equal(idx, 3);
    assert_int_equal(js_member(&s, &m, &ks, &idx, &t), -1);
    assert_int_equal(js_error(&s), JS_E_DUPLICATE);

    /* keys a map cannot learn: escaped ones, and any once it is full */
    struct js_token k1 = {.type = JS_KEY, .ptr = "n\\u0065w", .len = 8, .flags = JS_F_ESCAPED};
    struct js_token k2 = {.type = JS_KEY, .ptr = "new", .len = 3, .flags = 0};
    assert_int_equal(js_keymap_find(&m, &k1, 0), -1);
    assert_int_equal(js_keymap_find(&m, &k2, 0), 4);
    assert_int_equal(js_keymap_find(&m, &k1, 1), 4); /* now known: found unescaped */
    char keys[JS_KEYMAP_MAX][16];
    for (int k = 0; k < JS_KEYMAP_MAX; k++) {
        snprintf(keys[k], sizeof keys[k], "q%d", k);
        struct js_token q = {.type = JS_KEY, .ptr = keys[k], .len = strlen(keys[k])};
        int got = js_keymap_find(&m, &q, 40);
        assert_int_equal(got, k + 5 < JS_KEYMAP_MAX ? k + 5 : -1);
    }
    /* js_keyset: keys outside any table compare by text, up to JS_KEYSET_OTHER */
    js_keyset_init(&ks);
    assert_int_equal(js_keyset_add(&ks, -1, &k1), JS_OK);
    assert_int_equal(js_keyset_add(&ks, -1, &k2), JS_E_DUPLICATE);
    for (int k = 1; k < JS_KEYSET_OTHER; k++) {
        struct js_token q = {.type = JS_KEY, .ptr = keys[k], .len = strlen(keys[k])};
        assert_int_equal(js_keyset_add(&ks, -1, &q), JS_OK);
    }
    assert_int_equal(js_keyset_add(&ks, -1, &(struct js_token){.ptr = "zz", .len = 2}), JS_E_LIMIT);
    assert_int_equal(js_keyset_add(&ks, 0, &k2), JS_OK);
    assert_int_equal(js_keyset_add(&ks, 0, &k2), JS_E_DUPLICATE);

    /* table limits */
    static const char *const too_long[] = {
        "0123456789012345678901234567890123456789012345678901234567890123"};
    assert_int_equal(js_keymap_init(&m, too_long, 1), -1);
    assert_int_equal(js_keymap_init(&m, names, JS_KEYMAP_MAX + 1), -1);
}

/* ---- jansson as an oracle ---- */

static uint64_t rng(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/*
 * Random edits of the sample: the scanner (with both options) accepts
 * exactly what jansson accepts, and never reads outside the buffer.
 */
static void test_mutations_vs_jansson(void **state)
{
    (void)state;
    static const char alphabet[] = "{}[]\",:0123456789-+.eEtruefalsn \\u\x01\x7f\xc3\xa9\xed\xf0";
    uint64_t seed = 0x2545F4914F6CDD1Dull;
    size_t len = sizeof sample - 1, agree_ok = 0, agree_bad = 0;
    char *buf = malloc(len + 8);
    assert_non_null(buf);
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = len;
        memcpy(buf, sample, len);
        int edits = 1 + (int)(rng(&seed) % 3);
        for (int k = 0; k < edits; k++) {
            size_t at = (size_t)(rng(&seed) % n);
            char c = alphabet[rng(&seed) % (sizeof alphabet - 1)];
            switch (rng(&seed) % 3) {
            case 0: buf[at] = c; break;
            case 1:
                memmove(buf + at, buf + at + 1, n - at - 1);
                n--;
                break;
            default:
                if (n < len + 8) {
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = c;
                    n++;
                }
            }
        }
        char *exact = malloc(n);
        assert_non_null(exact);
        memcpy(exact, buf, n);
        struct js s;
        json_error_t je;
        json_t *j = json_loadb(exact, n, JSON_DECODE_ANY, &je);
        enum js_error e = scan_all(exact, n, STRICT, &s);
        if ((j != NULL) != (e == JS_OK))
            fail_msg("disagree on %.*s: jansson %s, scanner %s", (int)n, exact, j ? "ok" : je.text,
                     js_strerror(e));
        j ? agree_ok++ : agree_bad++;
        json_decref(j);
        free(exact);
    }
    free(buf);
    assert_true(agree_ok > 100);
    assert_true(agree_bad > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_sequence),
        cmocka_unit_test(test_valid_corpus),
        cmocka_unit_test(test_invalid_corpus),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_truncation_every_byte),
        cmocka_unit_test(test_skip),
        cmocka_unit_test(test_keymap_and_members),
        cmocka_unit_test(test_mutations_vs_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
