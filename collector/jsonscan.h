/*
 * A zero-allocation JSON pull tokenizer over a (pointer, length) buffer
 * that need not be NUL-terminated. The hot page parsers (usage and cost
 * reports) read tokens straight from the body instead of building a DOM.
 * Validation is strict RFC 8259 (UTF-8 checked, no trailing commas or
 * garbage, bounded depth); errors carry a line and column. Tokens point
 * into the caller's buffer, which must outlive them.
 */
#ifndef BW_JSONSCAN_H
#define BW_JSONSCAN_H

#include <stddef.h>
#include <stdint.h>

#define JS_MAX_DEPTH 64    /* deepest nesting of objects and arrays */
#define JS_NUM_MAX 127     /* longest number js_num_double converts */
#define JS_KEYMAP_MAX 64   /* most names in one js_keymap */
#define JS_KEYMAP_HINTS 32 /* key positions whose table index is remembered */
#define JS_KEYSET_OTHER 16 /* keys outside the table one js_keyset tracks */

enum js_type {
    JS_ERROR,  /* malformed input; see js_error() */
    JS_EOF,    /* the top-level value ended and only whitespace followed */
    JS_OBJECT, /* '{' */
    JS_OBJECT_END,
    JS_ARRAY, /* '[' */
    JS_ARRAY_END,
    JS_KEY, /* an object member name; its ':' is consumed too */
    JS_STRING,
    JS_NUMBER,
    JS_TRUE,
    JS_FALSE,
    JS_NULL
};

enum js_error {
    JS_OK,
    JS_E_TRUNCATED,      /* the input ended inside a value */
    JS_E_VALUE,          /* expected a value */
    JS_E_KEY,            /* expected a string key */
    JS_E_COLON,          /* expected ':' after a key */
    JS_E_OBJECT_NEXT,    /* expected ',' or '}' */
    JS_E_ARRAY_NEXT,     /* expected ',' or ']' */
    JS_E_TRAILING_COMMA, /* ',' before '}' or ']' */
    JS_E_TRAILING,       /* data after the top-level value */
    JS_E_LITERAL,        /* not true, false or null */
    JS_E_NUMBER,         /* malformed number (leading zero, missing digits) */
    JS_E_RANGE,          /* number out of range (JS_OPT_NUM_RANGE) */
    JS_E_CONTROL,        /* raw control character in a string */
    JS_E_ESCAPE,         /* unknown escape or bad \u digits */
    JS_E_SURROGATE,      /* \u escapes that are not valid UTF-16 */
    JS_E_NUL,            /* \u0000 (JS_OPT_REJECT_NUL) */
    JS_E_UTF8,           /* invalid UTF-8 */
    JS_E_DEPTH,          /* nesting deeper than JS_MAX_DEPTH */
    JS_E_DUPLICATE,      /* duplicate object key (js_skip_unique, js_fail) */
    JS_E_LIMIT           /* a helper's fixed capacity was exceeded */
};

/* Scanner options (bit flags for js_init). */
#define JS_OPT_REJECT_NUL 1u /* fail on \u0000 in strings and keys */
#define JS_OPT_NUM_RANGE                                                                           \
    2u /* fail on integer literals outside int64 and on                                            \
          numbers whose value overflows a double */

/* Token flags. */
#define JS_F_ESCAPED 1u /* STRING/KEY: the raw text holds backslash escapes */
#define JS_F_INT 2u     /* NUMBER: no fraction and no exponent */
#define JS_F_NEG 4u     /* NUMBER: starts with '-' */

struct js_token {
    enum js_type type;
    const char *ptr; /* STRING/KEY: raw text between the quotes; NUMBER: its
                        text; containers: the bracket; else the literal */
    size_t len;
    unsigned flags;
};

/* Scanner state; treat as opaque (js_init fills it, no cleanup needed). */
struct js {
    const unsigned char *start, *p, *end;
    unsigned opts;
    unsigned depth;
    uint64_t arrays; /* bit d: the container at depth d+1 is an array */
    int state;
    enum js_error err;
    size_t err_off;
};

/* Starts scanning len bytes at buf with JS_OPT_* options. */
void js_init(struct js *s, const char *buf, size_t len, unsigned opts);

/*
 * Reads the next token into *t and returns its type. Grammar is checked
 * as it goes: after the top-level value only whitespace may follow, and
 * the call after it returns JS_EOF. On malformed input returns JS_ERROR
 * (and keeps returning it); js_error and js_error_pos say what and where.
 */
enum js_type js_next(struct js *s, struct js_token *t);

/* Current nesting depth (0 outside any container). */
static inline unsigned js_depth(const struct js *s)
{
    return s->depth;
}

/* Bytes consumed so far: after a container's end token, its last byte + 1. */
static inline size_t js_offset(const struct js *s)
{
    return (size_t)(s->p - s->start);
}

/*
 * Skips the value whose first token t was just returned by js_next: a
 * scalar is already complete; for an object or array, reads through its
 * matching end. 0 ok, -1 on a scanner error.
 */
int js_skip(struct js *s, const struct js_token *t);

/*
 * As js_skip, and also fails (JS_E_DUPLICATE) when any object inside has a
 * key twice (compared after unescaping). The keys of open objects are
 * kept in a fixed table of 64; more fail with JS_E_LIMIT.
 */
int js_skip_unique(struct js *s, const struct js_token *t);

/*
 * Marks the scan failed with error e at position at (a pointer into the
 * buffer, or NULL for the current position), e.g. when the caller finds a
 * duplicate key. Later js_next calls return JS_ERROR.
 */
void js_fail(struct js *s, enum js_error e, const char *at);

/* The error (JS_OK while none) and its 1-based line and column (columns
 * count UTF-8 characters; the end of input is the column after the last). */
enum js_error js_error(const struct js *s);
void js_error_pos(const struct js *s, int *line, int *col);

/* The error's byte offset in the buffer (the length when the input was cut short). */
static inline size_t js_error_offset(const struct js *s)
{
    return s->err_off;
}

const char *js_strerror(enum js_error e);

/* Writes "line L column C: <message>" into buf; returns buf. */
const char *js_error_text(const struct js *s, char *buf, size_t len);

/*
 * Unescapes the raw text of a JSON string (src, len bytes: what lies
 * between the quotes) into dst and NUL-terminates it; *out_len (may be
 * NULL) gets the byte count without the NUL (a decoded \u0000 stays in it).
 * \uXXXX escapes become UTF-8; a surrogate pair becomes one 4-byte
 * sequence, a lone or misordered surrogate is invalid. Other bytes are
 * copied as they are. Returns 0, -1 on an invalid escape, or -2 when dst
 * (cap bytes) cannot hold the result and its NUL.
 */
int js_unescape(const char *src, size_t len, char *dst, size_t cap, size_t *out_len);

/* js_unescape of a STRING or KEY token; an unescaped token is copied. */
int js_string(const struct js_token *t, char *dst, size_t cap, size_t *out_len);

/* 1 when the unescaped text of STRING/KEY token t is exactly the n bytes at str. */
int js_str_eq(const struct js_token *t, const char *str, size_t n);

/* 1 when two STRING/KEY tokens have the same unescaped text. */
int js_str_equal(const struct js_token *a, const struct js_token *b);

/*
 * Numbers. js_num_u53: an integer literal (no sign, fraction or exponent)
 * up to 2^53, exact. js_num_i64: an integer literal within int64.
 * js_num_double: the value by strtod of a NUL-terminated copy (at most
 * JS_NUM_MAX characters; underflow gives the rounded value; under a locale
 * whose decimal point is not '.', a fraction fails rather than misreads).
 * Each returns 0, or -1 when t does not qualify or the value is out of
 * range / infinite.
 */
int js_num_u53(const struct js_token *t, uint64_t *out);
int js_num_i64(const struct js_token *t, int64_t *out);
int js_num_double(const struct js_token *t, double *out);

/*
 * Reading known objects quickly. A js_keymap maps member names to their
 * index in a table (names shorter than 64 bytes, at most JS_KEYMAP_MAX)
 * and remembers which index the k-th key of the previous object had:
 * pages repeat their key order, so most lookups are a single comparison.
 * Keys outside the table are learned: appended with the next free index
 * (>= the number of names given), pointing into the scanned buffer. Such a
 * map must not outlive that buffer. names must outlive the map.
 */
struct js_keymap {
    const char *name[JS_KEYMAP_MAX];
    unsigned char len[JS_KEYMAP_MAX];
    size_t n;       /* names in the table, learned ones included */
    size_t n_given; /* names from js_keymap_init */
    unsigned char hint[JS_KEYMAP_HINTS];
};

/* 0, or -1 when there are too many names or one is 64 bytes or longer. */
int js_keymap_init(struct js_keymap *m, const char *const *names, size_t n);

/*
 * The table index of KEY token key (compared unescaped). A key not in the
 * table is learned when it has no escapes and the table has room; else the
 * result is -1. ordinal is the key's position in its object (0 first).
 */
int js_keymap_find(struct js_keymap *m, const struct js_token *key, size_t ordinal);

/*
 * The keys one object has shown so far, for duplicate detection: table
 * keys by bit, others (up to JS_KEYSET_OTHER) by comparison. The tokens
 * must stay valid while the set is used.
 */
struct js_keyset {
    uint64_t known;
    size_t n_keys; /* keys recorded: the ordinal of the next one */
    size_t n_other;
    struct js_token other[JS_KEYSET_OTHER];
};

static inline void js_keyset_init(struct js_keyset *k)
{
    k->known = 0;
    k->n_keys = 0;
    k->n_other = 0;
}

/* The out-of-table half of js_keyset_add. */
enum js_error js_keyset_add_other(struct js_keyset *k, const struct js_token *key);

/* Records key (index from js_keymap_find). JS_OK when new, JS_E_DUPLICATE or JS_E_LIMIT. */
static inline enum js_error js_keyset_add(struct js_keyset *k, int index,
                                          const struct js_token *key)
{
    k->n_keys++;
    if (index < 0)
        return js_keyset_add_other(k, key);
    uint64_t bit = (uint64_t)1 << index;
    if (k->known & bit)
        return JS_E_DUPLICATE;
    k->known |= bit;
    return JS_OK;
}

/*
 * Reads the next member of the object being read (after its JS_OBJECT
 * token or a previous member's value): looks the key up in m, records it
 * in ks (a duplicate fails with JS_E_DUPLICATE at the key) and reads the
 * first token of the value into *v. Returns 1 with a member (*idx from
 * js_keymap_find), 0 at the object's end, -1 on an error (see js_error).
 * A value that is an object or array is the caller's to read or skip.
 */
int js_member(struct js *s, struct js_keymap *m, struct js_keyset *ks, int *idx,
              struct js_token *v);

/*
 * How js_bucket reads one time bucket of a report page: its two times,
 * whether the pair is acceptable, and each row object (called after the
 * row's JS_OBJECT token; it reads the row to its end). 0 ok, -1 to fail.
 */
struct js_bucket_ops {
    int (*time)(const struct js_token *v, int64_t *out);
    int (*ok)(void *ud, int64_t start, int64_t end);
    int (*row)(void *ud, struct js *s, int64_t start, int64_t width);
};

/*
 * Reads a bucket object (after its JS_OBJECT token) whose members 0, 1
 * and 2 in keys are its start time, end time and array of row objects;
 * other members are skipped (duplicates still fail). The rows are read in
 * place when both times came first, else from their bytes once the object
 * ends. Fails (-1) on a missing member, a time pair ops->ok refuses, or
 * any callback failing; 0 when every row was read.
 */
int js_bucket(struct js *s, struct js_keymap *keys, const struct js_bucket_ops *ops, void *ud);

#endif
