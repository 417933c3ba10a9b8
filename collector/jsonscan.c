/*
 * The JSON pull tokenizer (see jsonscan.h). One state per grammar position
 * and a stack of container kinds in a 64-bit word; strings are checked for
 * escapes, control characters and UTF-8 in one pass, numbers against the
 * RFC 8259 grammar. Nothing is allocated: tokens are slices of the input,
 * and the helpers below unescape or convert them on demand.
 */
#include "jsonscan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    ST_VALUE,     /* a value must come */
    ST_ARR_FIRST, /* after '[': a value or ']' */
    ST_OBJ_FIRST, /* after '{': a key or '}' */
    ST_AFTER,     /* after a value in a container: ',' or its end */
    ST_END,       /* after the top-level value: whitespace, then the end */
    ST_DONE,      /* JS_EOF returned */
    ST_FAILED
};

/* 1 for bytes a string holds as they are: printable ASCII and DEL, less '"' and '\\'. */
static const unsigned char plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20: '"' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50: '\\' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x70 */
};

static const unsigned char empty_input[1];

void js_init(struct js *s, const char *buf, size_t len, unsigned opts)
{
    s->start = buf ? (const unsigned char *)buf : empty_input;
    s->p = s->start;
    s->end = s->start + (buf ? len : 0);
    s->opts = opts;
    s->depth = 0;
    s->arrays = 0;
    s->state = ST_VALUE;
    s->err = JS_OK;
    s->err_off = 0;
}

static enum js_type fail_at(struct js *s, enum js_error e, const unsigned char *at)
{
    s->err = e;
    s->err_off = (size_t)(at - s->start);
    s->state = ST_FAILED;
    return JS_ERROR;
}

void js_fail(struct js *s, enum js_error e, const char *at)
{
    const unsigned char *a = at ? (const unsigned char *)at : s->p;
    if (a < s->start || a > s->end)
        a = s->p;
    fail_at(s, e, a);
}

static int is_digit(unsigned c)
{
    return c - '0' < 10u;
}

static const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static int hex_val(unsigned c)
{
    if (c - '0' < 10u)
        return (int)(c - '0');
    c |= 0x20;
    if (c - 'a' < 6u)
        return (int)(c - 'a' + 10);
    return -1;
}

/* The four hex digits at p (n >= 4 bytes there); -1 when one is not hex. */
static long hex4(const unsigned char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_val(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/*
 * Checks \u escapes with fewer than four digits before the end: 1 when the
 * digits there are hex (so the input is merely cut short), else 0.
 */
static int hex_prefix(const unsigned char *p, const unsigned char *end)
{
    for (; p < end; p++)
        if (hex_val(*p) < 0)
            return 0;
    return 1;
}

/* Validates the escape at q (a backslash); returns the byte after it, or NULL (error set). */
static const unsigned char *scan_escape(struct js *s, const unsigned char *q)
{
    const unsigned char *end = s->end;
    if (end - q < 2) {
        fail_at(s, JS_E_TRUNCATED, end);
        return NULL;
    }
    switch (q[1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't': return q + 2;
    case 'u': break;
    default: fail_at(s, JS_E_ESCAPE, q); return NULL;
    }
    if (end - q < 6) {
        int cut = hex_prefix(q + 2, end);
        fail_at(s, cut ? JS_E_TRUNCATED : JS_E_ESCAPE, cut ? end : q);
        return NULL;
    }
    long u = hex4(q + 2);
    if (u < 0) {
        fail_at(s, JS_E_ESCAPE, q);
        return NULL;
    }
    if (u >= 0xDC00 && u <= 0xDFFF) {
        fail_at(s, JS_E_SURROGATE, q);
        return NULL;
    }
    if (u >= 0xD800 && u <= 0xDBFF) {
        const unsigned char *r = q + 6;
        if (r < end && *r != '\\') {
            fail_at(s, JS_E_SURROGATE, q);
            return NULL;
        }
        if (r + 1 < end && r[1] != 'u') {
            fail_at(s, JS_E_SURROGATE, q);
            return NULL;
        }
        if (end - r < 6) {
            int cut = end - r < 2 || hex_prefix(r + 2, end);
            fail_at(s, cut ? JS_E_TRUNCATED : JS_E_ESCAPE, cut ? end : r);
            return NULL;
        }
        long lo = hex4(r + 2);
        if (lo < 0) {
            fail_at(s, JS_E_ESCAPE, r);
            return NULL;
        }
        if (lo < 0xDC00 || lo > 0xDFFF) {
            fail_at(s, JS_E_SURROGATE, q);
            return NULL;
        }
        return r + 6;
    }
    if (u == 0 && (s->opts & JS_OPT_REJECT_NUL)) {
        fail_at(s, JS_E_NUL, q);
        return NULL;
    }
    return q + 6;
}

/* Validates the UTF-8 sequence whose lead byte (>= 0x80) is at q; returns the byte after it. */
static const unsigned char *scan_utf8(struct js *s, const unsigned char *q)
{
    unsigned c = q[0], lo = 0x80, hi = 0xBF;
    size_t n;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 2;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 3;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        fail_at(s, JS_E_UTF8, q);
        return NULL;
    }
    for (size_t i = 1; i <= n; i++) {
        if (q + i == s->end) {
            fail_at(s, JS_E_TRUNCATED, s->end);
            return NULL;
        }
        unsigned b = q[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) {
            fail_at(s, JS_E_UTF8, q);
            return NULL;
        }
    }
    return q + n + 1;
}

/* Scans a string whose opening quote is just before p; returns the byte after the closing one. */
static const unsigned char *scan_string(struct js *s, const unsigned char *p, struct js_token *t,
                                        enum js_type type)
{
    const unsigned char *q = p, *end = s->end;
    unsigned flags = 0;
    for (;;) {
        while (end - q >= 4 && plain[q[0]] && plain[q[1]] && plain[q[2]] && plain[q[3]])
            q += 4;
        while (q < end && plain[*q])
            q++;
        if (q == end) {
            fail_at(s, JS_E_TRUNCATED, end);
            return NULL;
        }
        unsigned c = *q;
        if (c == '"')
            break;
        if (c == '\\') {
            flags |= JS_F_ESCAPED;
            q = scan_escape(s, q);
        } else if (c < 0x20) {
            fail_at(s, JS_E_CONTROL, q);
            return NULL;
        } else {
            q = scan_utf8(s, q);
        }
        if (!q)
            return NULL;
    }
    t->type = type;
    t->ptr = (const char *)p;
    t->len = (size_t)(q - p);
    t->flags = flags;
    return q + 1;
}

/*
 * Whether a number token fits: integer literals in int64; other numbers
 * finite as doubles. Magnitudes clearly below or above DBL_MAX are decided
 * from the digits; the rest by strtod.
 */
static int num_in_range(const struct js_token *t)
{
    const unsigned char *p = (const unsigned char *)t->ptr, *end = p + t->len;
    if (*p == '-')
        p++;
    if (t->flags & JS_F_INT) {
        size_t nd = (size_t)(end - p);
        if (nd < 19)
            return 1;
        if (nd > 19)
            return 0;
        return memcmp(p, (t->flags & JS_F_NEG) ? "9223372036854775808" : "9223372036854775807",
                      19) <= 0;
    }
    /* the decimal exponent of the first significant digit, then the exponent part */
    const unsigned char *ip = p;
    while (p < end && is_digit(*p))
        p++;
    long mag;
    int zero = 0;
    if (*ip != '0') {
        mag = (long)(p - ip) - 1;
    } else {
        long z = 0;
        if (p < end && *p == '.') {
            p++;
            while (p < end && *p == '0') {
                p++;
                z++;
            }
            zero = !(p < end && is_digit(*p));
        } else {
            zero = 1;
        }
        mag = -(z + 1);
    }
    if (zero)
        return 1;
    while (p < end && (*p | 0x20) != 'e')
        p++;
    if (p < end) {
        p++;
        int neg = *p == '-';
        if (*p == '-' || *p == '+')
            p++;
        long e = 0;
        for (; p < end; p++)
            if (e < 100000)
                e = e * 10 + (*p - '0');
        mag += neg ? -e : e;
    }
    if (mag < 308)
        return 1;
    if (mag > 308)
        return 0;
    double d;
    return js_num_double(t, &d) == 0;
}

/* Scans a number starting at p ('-' or a digit); returns the byte after it. */
static const unsigned char *scan_number(struct js *s, const unsigned char *p, struct js_token *t)
{
    const unsigned char *q = p, *end = s->end;
    unsigned flags = JS_F_INT;
    if (*q == '-') {
        flags |= JS_F_NEG;
        if (++q == end)
            goto cut;
    }
    if (*q == '0') {
        if (++q < end && is_digit(*q)) {
            fail_at(s, JS_E_NUMBER, q);
            return NULL;
        }
    } else if (is_digit(*q)) {
        while (++q < end && is_digit(*q))
            ;
    } else {
        fail_at(s, JS_E_NUMBER, q);
        return NULL;
    }
    if (q < end && *q == '.') {
        flags &= ~JS_F_INT;
        if (++q == end)
            goto cut;
        if (!is_digit(*q)) {
            fail_at(s, JS_E_NUMBER, q);
            return NULL;
        }
        while (++q < end && is_digit(*q))
            ;
    }
    if (q < end && (*q | 0x20) == 'e') {
        flags &= ~JS_F_INT;
        if (++q == end)
            goto cut;
        if ((*q == '+' || *q == '-') && ++q == end)
            goto cut;
        if (!is_digit(*q)) {
            fail_at(s, JS_E_NUMBER, q);
            return NULL;
        }
        while (++q < end && is_digit(*q))
            ;
    }
    t->type = JS_NUMBER;
    t->ptr = (const char *)p;
    t->len = (size_t)(q - p);
    t->flags = flags;
    if ((s->opts & JS_OPT_NUM_RANGE) && !num_in_range(t)) {
        fail_at(s, JS_E_RANGE, p);
        return NULL;
    }
    return q;
cut:
    fail_at(s, JS_E_TRUNCATED, end);
    return NULL;
}

static const unsigned char *scan_literal(struct js *s, const unsigned char *p, const char *word,
                                         size_t n)
{
    size_t avail = (size_t)(s->end - p);
    if (avail >= n && memcmp(p, word, n) == 0)
        return p + n;
    if (avail < n && memcmp(p, word, avail) == 0)
        fail_at(s, JS_E_TRUNCATED, s->end);
    else
        fail_at(s, JS_E_LITERAL, p);
    return NULL;
}

static void after_value(struct js *s, const unsigned char *p)
{
    s->p = p;
    s->state = s->depth ? ST_AFTER : ST_END;
}

static enum js_type finish(struct js *s, const unsigned char *p, struct js_token *t,
                           enum js_type type, size_t n)
{
    t->type = type;
    t->ptr = (const char *)p;
    t->len = n;
    t->flags = 0;
    after_value(s, p + n);
    return type;
}

static enum js_type open_container(struct js *s, const unsigned char *p, struct js_token *t,
                                   int array)
{
    if (s->depth == JS_MAX_DEPTH)
        return fail_at(s, JS_E_DEPTH, p);
    uint64_t bit = (uint64_t)1 << s->depth;
    s->arrays = array ? s->arrays | bit : s->arrays & ~bit;
    s->depth++;
    s->p = p + 1;
    s->state = array ? ST_ARR_FIRST : ST_OBJ_FIRST;
    t->type = array ? JS_ARRAY : JS_OBJECT;
    t->ptr = (const char *)p;
    t->len = 1;
    t->flags = 0;
    return t->type;
}

static enum js_type close_container(struct js *s, const unsigned char *p, struct js_token *t,
                                    enum js_type type)
{
    s->depth--;
    return finish(s, p, t, type, 1);
}

/* A key at p (after '{' or ','), its ':' and the whitespace around. */
static enum js_type read_key(struct js *s, const unsigned char *p, struct js_token *t,
                             int after_comma)
{
    const unsigned char *end = s->end;
    if (p == end)
        return fail_at(s, JS_E_TRUNCATED, end);
    if (*p != '"')
        return fail_at(s, after_comma && *p == '}' ? JS_E_TRAILING_COMMA : JS_E_KEY, p);
    p = scan_string(s, p + 1, t, JS_KEY);
    if (!p)
        return JS_ERROR;
    p = skip_ws(p, end);
    if (p == end)
        return fail_at(s, JS_E_TRUNCATED, end);
    if (*p != ':')
        return fail_at(s, JS_E_COLON, p);
    s->p = p + 1;
    s->state = ST_VALUE;
    return JS_KEY;
}

enum js_type js_next(struct js *s, struct js_token *t)
{
    const unsigned char *p = s->p, *end = s->end;
    switch (s->state) {
    case ST_VALUE: break;
    case ST_ARR_FIRST:
        p = skip_ws(p, end);
        if (p < end && *p == ']')
            return close_container(s, p, t, JS_ARRAY_END);
        break;
    case ST_OBJ_FIRST:
        p = skip_ws(p, end);
        if (p < end && *p == '}')
            return close_container(s, p, t, JS_OBJECT_END);
        return read_key(s, p, t, 0);
    case ST_AFTER: {
        p = skip_ws(p, end);
        if (p == end)
            return fail_at(s, JS_E_TRUNCATED, end);
        int array = (int)((s->arrays >> (s->depth - 1)) & 1);
        if (*p == ',') {
            p = skip_ws(p + 1, end);
            if (!array)
                return read_key(s, p, t, 1);
            if (p < end && *p == ']')
                return fail_at(s, JS_E_TRAILING_COMMA, p);
            break;
        }
        if (*p == (array ? ']' : '}'))
            return close_container(s, p, t, array ? JS_ARRAY_END : JS_OBJECT_END);
        return fail_at(s, array ? JS_E_ARRAY_NEXT : JS_E_OBJECT_NEXT, p);
    }
    case ST_END:
        p = skip_ws(p, end);
        if (p != end)
            return fail_at(s, JS_E_TRAILING, p);
        s->p = p;
        s->state = ST_DONE;
        /* fall through */
    case ST_DONE:
        t->type = JS_EOF;
        t->ptr = (const char *)s->p;
        t->len = 0;
        t->flags = 0;
        return JS_EOF;
    default: t->type = JS_ERROR; return JS_ERROR;
    }

    /* a value */
    p = skip_ws(p, end);
    if (p == end)
        return fail_at(s, JS_E_TRUNCATED, end);
    const unsigned char *q;
    switch (*p) {
    case '{': return open_container(s, p, t, 0);
    case '[': return open_container(s, p, t, 1);
    case '"':
        q = scan_string(s, p + 1, t, JS_STRING);
        if (!q)
            return JS_ERROR;
        after_value(s, q);
        return JS_STRING;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        q = scan_number(s, p, t);
        if (!q)
            return JS_ERROR;
        after_value(s, q);
        return JS_NUMBER;
    case 't': return scan_literal(s, p, "true", 4) ? finish(s, p, t, JS_TRUE, 4) : JS_ERROR;
    case 'f': return scan_literal(s, p, "false", 5) ? finish(s, p, t, JS_FALSE, 5) : JS_ERROR;
    case 'n': return scan_literal(s, p, "null", 4) ? finish(s, p, t, JS_NULL, 4) : JS_ERROR;
    default: return fail_at(s, JS_E_VALUE, p);
    }
}

int js_skip(struct js *s, const struct js_token *t)
{
    if (t->type == JS_ERROR)
        return -1;
    if (t->type != JS_OBJECT && t->type != JS_ARRAY)
        return 0;
    unsigned target = s->depth - 1;
    struct js_token x;
    for (;;) {
        enum js_type y = js_next(s, &x);
        if (y == JS_ERROR)
            return -1;
        if ((y == JS_OBJECT_END || y == JS_ARRAY_END) && s->depth == target)
            return 0;
    }
}

#define SKIP_KEYS 64

int js_skip_unique(struct js *s, const struct js_token *t)
{
    if (t->type == JS_ERROR)
        return -1;
    if (t->type != JS_OBJECT && t->type != JS_ARRAY)
        return 0;
    struct js_token keys[SKIP_KEYS], x;
    size_t base[JS_MAX_DEPTH + 1], nk = 0;
    unsigned d0 = s->depth; /* the depth inside the skipped container */
    base[0] = 0;
    for (;;) {
        enum js_type y = js_next(s, &x);
        switch (y) {
        case JS_ERROR: return -1;
        case JS_OBJECT: base[s->depth - d0] = nk; break;
        case JS_KEY:
            for (size_t i = base[s->depth - d0]; i < nk; i++) {
                if (js_str_equal(&keys[i], &x)) {
                    fail_at(s, JS_E_DUPLICATE, (const unsigned char *)x.ptr - 1);
                    return -1;
                }
            }
            if (nk == SKIP_KEYS) {
                fail_at(s, JS_E_LIMIT, (const unsigned char *)x.ptr - 1);
                return -1;
            }
            keys[nk++] = x;
            break;
        case JS_OBJECT_END:
        case JS_ARRAY_END:
            if (s->depth + 1 == d0)
                return 0;
            if (y == JS_OBJECT_END)
                nk = base[s->depth + 1 - d0];
            break;
        default: break;
        }
    }
}

/* ---- errors ---- */

enum js_error js_error(const struct js *s)
{
    return s->err;
}

void js_error_pos(const struct js *s, int *line, int *col)
{
    int l = 1, c = 1;
    size_t n = s->err_off;
    if (n > (size_t)(s->end - s->start))
        n = (size_t)(s->end - s->start);
    for (size_t i = 0; i < n; i++) {
        unsigned b = s->start[i];
        if (b == '\n') {
            l++;
            c = 1;
        } else if ((b & 0xC0) != 0x80) {
            c++;
        }
    }
    if (line)
        *line = l;
    if (col)
        *col = c;
}

const char *js_strerror(enum js_error e)
{
    switch (e) {
    case JS_OK: return "no error";
    case JS_E_TRUNCATED: return "unexpected end of input";
    case JS_E_VALUE: return "expected a value";
    case JS_E_KEY: return "expected a string key";
    case JS_E_COLON: return "expected ':' after a key";
    case JS_E_OBJECT_NEXT: return "expected ',' or '}'";
    case JS_E_ARRAY_NEXT: return "expected ',' or ']'";
    case JS_E_TRAILING_COMMA: return "trailing comma";
    case JS_E_TRAILING: return "data after the end of the value";
    case JS_E_LITERAL: return "invalid literal";
    case JS_E_NUMBER: return "invalid number";
    case JS_E_RANGE: return "number out of range";
    case JS_E_CONTROL: return "control character in a string";
    case JS_E_ESCAPE: return "invalid escape";
    case JS_E_SURROGATE: return "invalid UTF-16 surrogate escape";
    case JS_E_NUL: return "\\u0000 in a string";
    case JS_E_UTF8: return "invalid UTF-8";
    case JS_E_DEPTH: return "nesting too deep";
    case JS_E_DUPLICATE: return "duplicate object key";
    case JS_E_LIMIT: return "too many keys to check";
    }
    return "unknown error";
}

const char *js_error_text(const struct js *s, char *buf, size_t len)
{
    int line, col;
    if (!buf || len == 0)
        return buf;
    js_error_pos(s, &line, &col);
    int w = snprintf(buf, len, "line %d column %d: %s", line, col, js_strerror(s->err));
    if (w < 0)
        buf[0] = '\0';
    return buf;
}

/* ---- strings ---- */

static size_t utf8_put(unsigned long cp, unsigned char *o)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * Decodes the escape at p (a backslash, before end) into UTF-8 bytes in
 * out (4 bytes); returns how many, and the escape's length in *used; 0 when
 * the escape is invalid.
 */
static size_t decode_escape(const unsigned char *p, const unsigned char *end, unsigned char *out,
                            size_t *used)
{
    if (end - p < 2)
        return 0;
    unsigned char c;
    switch (p[1]) {
    case '"': c = '"'; break;
    case '\\': c = '\\'; break;
    case '/': c = '/'; break;
    case 'b': c = '\b'; break;
    case 'f': c = '\f'; break;
    case 'n': c = '\n'; break;
    case 'r': c = '\r'; break;
    case 't': c = '\t'; break;
    case 'u': {
        if (end - p < 6)
            return 0;
        long u = hex4(p + 2);
        if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
            return 0;
        if (u >= 0xD800 && u <= 0xDBFF) {
            if (end - p < 12 || p[6] != '\\' || p[7] != 'u')
                return 0;
            long lo = hex4(p + 8);
            if (lo < 0xDC00 || lo > 0xDFFF)
                return 0;
            *used = 12;
            return utf8_put(
                0x10000 + (((unsigned long)u - 0xD800) << 10) + ((unsigned long)lo - 0xDC00), out);
        }
        *used = 6;
        return utf8_put((unsigned long)u, out);
    }
    default: return 0;
    }
    out[0] = c;
    *used = 2;
    return 1;
}

int js_unescape(const char *src, size_t len, char *dst, size_t cap, size_t *out_len)
{
    const unsigned char *p = (const unsigned char *)src, *end = p + len;
    size_t o = 0;
    if (cap == 0)
        return -2;
    while (p < end) {
        if (*p != '\\') {
            const unsigned char *bs = memchr(p, '\\', (size_t)(end - p));
            size_t run = (size_t)((bs ? bs : end) - p);
            if (run >= cap - o)
                return -2;
            memcpy(dst + o, p, run);
            o += run;
            p += run;
            continue;
        }
        unsigned char u[4];
        size_t used = 0, n = decode_escape(p, end, u, &used);
        if (n == 0)
            return -1;
        if (n >= cap - o)
            return -2;
        memcpy(dst + o, u, n);
        o += n;
        p += used;
    }
    dst[o] = '\0';
    if (out_len)
        *out_len = o;
    return 0;
}

int js_string(const struct js_token *t, char *dst, size_t cap, size_t *out_len)
{
    if (!(t->flags & JS_F_ESCAPED)) {
        if (t->len >= cap)
            return -2;
        memcpy(dst, t->ptr, t->len);
        dst[t->len] = '\0';
        if (out_len)
            *out_len = t->len;
        return 0;
    }
    return js_unescape(t->ptr, t->len, dst, cap, out_len);
}

/* Unescaped bytes of a string token one at a time. */
struct decoder {
    const unsigned char *p, *end;
    int raw; /* no escapes: bytes as they are */
    unsigned char pend[4];
    size_t n, i;
};

static void dec_init(struct decoder *d, const char *p, size_t len, int raw)
{
    d->p = (const unsigned char *)p;
    d->end = d->p + len;
    d->raw = raw;
    d->n = d->i = 0;
}

/* The next byte, -1 at the end, -2 on an invalid escape. */
static int dec_next(struct decoder *d)
{
    if (d->i < d->n)
        return d->pend[d->i++];
    if (d->p == d->end)
        return -1;
    if (d->raw || *d->p != '\\')
        return *d->p++;
    size_t used = 0;
    d->n = decode_escape(d->p, d->end, d->pend, &used);
    if (d->n == 0)
        return -2;
    d->p += used;
    d->i = 1;
    return d->pend[0];
}

static int dec_equal(struct decoder *a, struct decoder *b)
{
    for (;;) {
        int x = dec_next(a), y = dec_next(b);
        if (x == -2 || y == -2 || x != y)
            return 0;
        if (x == -1)
            return 1;
    }
}

int js_str_eq(const struct js_token *t, const char *str, size_t n)
{
    if (!(t->flags & JS_F_ESCAPED))
        return t->len == n && memcmp(t->ptr, str, n) == 0;
    struct decoder a, b;
    dec_init(&a, t->ptr, t->len, 0);
    dec_init(&b, str, n, 1);
    return dec_equal(&a, &b);
}

int js_str_equal(const struct js_token *a, const struct js_token *b)
{
    int ra = !(a->flags & JS_F_ESCAPED), rb = !(b->flags & JS_F_ESCAPED);
    if (ra && rb)
        return a->len == b->len && memcmp(a->ptr, b->ptr, a->len) == 0;
    struct decoder x, y;
    dec_init(&x, a->ptr, a->len, ra);
    dec_init(&y, b->ptr, b->len, rb);
    return dec_equal(&x, &y);
}

/* ---- numbers ---- */

#define TWO_53 (UINT64_C(1) << 53)

int js_num_u53(const struct js_token *t, uint64_t *out)
{
    if (!(t->flags & JS_F_INT) || t->len == 0 || t->len > 16)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < t->len; i++) {
        unsigned d = (unsigned char)t->ptr[i] - '0';
        if (d > 9)
            return -1;
        v = v * 10 + d;
    }
    if (v > TWO_53)
        return -1;
    *out = v;
    return 0;
}

int js_num_i64(const struct js_token *t, int64_t *out)
{
    if (!(t->flags & JS_F_INT) || t->len == 0)
        return -1;
    size_t i = 0;
    int neg = t->ptr[0] == '-';
    if (neg)
        i = 1;
    if (t->len - i == 0 || t->len - i > 19)
        return -1;
    uint64_t v = 0;
    for (; i < t->len; i++) {
        unsigned d = (unsigned char)t->ptr[i] - '0';
        if (d > 9)
            return -1;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return -1;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return -1;
        *out = (int64_t)v;
    }
    return 0;
}

int js_num_double(const struct js_token *t, double *out)
{
    char buf[JS_NUM_MAX + 1];
    if (t->len == 0 || t->len > JS_NUM_MAX)
        return -1;
    memcpy(buf, t->ptr, t->len);
    buf[t->len] = '\0';
    char *end;
    double d = strtod(buf, &end);
    if (end != buf + t->len || isinf(d) || isnan(d))
        return -1;
    *out = d;
    return 0;
}

/* ---- key tables ---- */

int js_keymap_init(struct js_keymap *m, const char *const *names, size_t n)
{
    if (n > JS_KEYMAP_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        if (l >= 64)
            return -1;
        m->name[i] = names[i];
        m->len[i] = (unsigned char)l;
    }
    m->n = m->n_given = n;
    memset(m->hint, 0xff, sizeof m->hint);
    return 0;
}

int js_keymap_find(struct js_keymap *m, const struct js_token *key, size_t ordinal)
{
    const char *k = key->ptr;
    size_t n = key->len, i;
    char buf[64];
    if (key->flags & JS_F_ESCAPED) {
        /* a key too long for buf decodes to 64+ bytes: no name is that long */
        if (js_unescape(k, n, buf, sizeof buf, &n) != 0)
            return -1;
        k = buf;
    } else if (n >= 64) {
        return -1;
    }
    if (ordinal < JS_KEYMAP_HINTS) {
        i = m->hint[ordinal];
        if (i < m->n && m->len[i] == n && memcmp(m->name[i], k, n) == 0)
            return (int)i;
    }
    for (i = 0; i < m->n; i++)
        if (m->len[i] == n && memcmp(m->name[i], k, n) == 0)
            break;
    if (i == m->n) {
        if (k == buf || m->n == JS_KEYMAP_MAX)
            return -1;
        m->name[i] = k;
        m->len[i] = (unsigned char)n;
        m->n++;
    }
    if (ordinal < JS_KEYMAP_HINTS)
        m->hint[ordinal] = (unsigned char)i;
    return (int)i;
}

enum js_error js_keyset_add_other(struct js_keyset *k, const struct js_token *key)
{
    for (size_t i = 0; i < k->n_other; i++)
        if (js_str_equal(&k->other[i], key))
            return JS_E_DUPLICATE;
    if (k->n_other == JS_KEYSET_OTHER)
        return JS_E_LIMIT;
    k->other[k->n_other++] = *key;
    return JS_OK;
}

int js_member(struct js *s, struct js_keymap *m, struct js_keyset *ks, int *idx, struct js_token *v)
{
    struct js_token k;
    enum js_type y = js_next(s, &k);
    if (y == JS_OBJECT_END)
        return 0;
    if (y != JS_KEY) {
        if (y != JS_ERROR)
            js_fail(s, JS_E_KEY, k.ptr);
        return -1;
    }
    *idx = js_keymap_find(m, &k, ks->n_keys);
    enum js_error e = js_keyset_add(ks, *idx, &k);
    if (e != JS_OK) {
        js_fail(s, e, k.ptr - 1);
        return -1;
    }
    return js_next(s, v) == JS_ERROR ? -1 : 1;
}

/* The row objects of one bucket array, up to its end. */
static int bucket_rows(struct js *s, const struct js_bucket_ops *ops, void *ud, int64_t start,
                       int64_t width)
{
    struct js_token v;
    for (;;) {
        enum js_type y = js_next(s, &v);
        if (y == JS_ARRAY_END)
            return 0;
        if (y != JS_OBJECT || ops->row(ud, s, start, width))
            return -1;
    }
}

int js_bucket(struct js *s, struct js_keymap *keys, const struct js_bucket_ops *ops, void *ud)
{
    enum { START, END, ROWS };
    struct js_keyset ks;
    struct js_token v;
    int64_t start = 0, end = 0;
    int have_start = 0, have_end = 0, have_rows = 0, idx, r;
    const char *later = NULL;
    size_t later_len = 0;
    js_keyset_init(&ks);
    while ((r = js_member(s, keys, &ks, &idx, &v)) == 1) {
        if (idx == START || idx == END) {
            if (ops->time(&v, idx == START ? &start : &end))
                return -1;
            *(idx == START ? &have_start : &have_end) = 1;
        } else if (idx == ROWS) {
            if (v.type != JS_ARRAY)
                return -1;
            have_rows = 1;
            if (have_start && have_end) {
                if (!ops->ok(ud, start, end) || bucket_rows(s, ops, ud, start, end - start))
                    return -1;
            } else {
                size_t from = (size_t)(v.ptr - (const char *)s->start);
                if (js_skip_unique(s, &v))
                    return -1;
                later = v.ptr;
                later_len = js_offset(s) - from;
            }
        } else if (js_skip_unique(s, &v)) {
            return -1;
        }
    }
    if (r < 0 || !have_start || !have_end || !have_rows || !ops->ok(ud, start, end))
        return -1;
    if (later) {
        struct js sub;
        js_init(&sub, later, later_len, s->opts);
        if (js_next(&sub, &v) != JS_ARRAY || bucket_rows(&sub, ops, ud, start, end - start) ||
            js_next(&sub, &v) != JS_EOF)
            return -1;
    }
    return 0;
}
