/*
 * The genai-prices table: loading data.json into match trees and dated
 * price lists, finding a model's price at a time, and usage x price.
 * Semantics follow the genai-prices reference implementation (Python
 * package, types.py / data_snapshot.py):
 *
 *  - the model name is compared in lower case; equals / starts_with /
 *    ends_with / contains compare against the clause text lower-cased too
 *    (upstream compares it as written, so mixed-case data never matches
 *    there); `regex` is a search (Python re.search) over the lower-cased
 *    name; `or` / `and` nest (an empty `or` is false, an empty `and` true).
 *  - regexes are written for Python's re; the subset the data uses is
 *    rewritten to POSIX ERE (\d \w \s and their negations, (?:...), lazy
 *    quantifiers dropped since they never change whether a search
 *    matches). Anything else ((?=, \b, backreferences...) is refused and
 *    its model skipped and counted.
 *  - provider: exact id (lower-cased, trimmed), then the first provider
 *    whose provider_match accepts it; no provider given: the first whose
 *    model_match accepts the model. Model: first match in file order, then
 *    one level of fallback_model_providers.
 *  - conditional prices: the last entry whose constraint holds wins
 *    (start_date: from 00:00 UTC that day; start_time/end_time: UTC time
 *    of day in [start, end), wrapping past midnight when start > end);
 *    when none holds, the first entry.
 *  - tiers: genai-prices charges every token of a request at a tier's
 *    price once that request's input crosses the tier start. byokwatch
 *    only sees hourly or daily aggregates, never request sizes, so it
 *    charges the base price: the estimate is a lower bound for long-
 *    context requests, and COL_PRICE_TIERED says so.
 *  - an empty price object is a model the data lists as free: priced, 0.
 */
#include "prices.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/timeutil.h"

#define MAX_DEPTH 32 /* nesting of or/and clauses */
#define MAX_NAME 512 /* longest model or provider name looked up */

/* Parse results below the public API. */
enum { P_OK = 0, P_NOMEM = -1, P_SKIP = -2, P_REGEX = -3 };

enum cl_kind { CL_EQUALS, CL_STARTS, CL_ENDS, CL_CONTAINS, CL_REGEX, CL_OR, CL_AND };

struct clause {
    enum cl_kind kind;
    char *text; /* string kinds; lower-cased except for CL_REGEX */
    size_t len;
    regex_t re;
    int has_re;
    struct clause *kids; /* CL_OR / CL_AND */
    size_t n_kids;
};

enum cons_kind { CONS_ALWAYS, CONS_FROM_DATE, CONS_TIME_OF_DAY };

struct variant {
    enum cons_kind cons;
    int64_t from;               /* CONS_FROM_DATE: 00:00 UTC of start_date */
    int32_t tod_start, tod_end; /* CONS_TIME_OF_DAY: UTC seconds into the day */
    struct col_price price;
};

struct model {
    char *id;
    struct clause match;
    struct variant *vars;
    size_t n_vars;
};

struct provider {
    char *id;
    struct clause *provider_match; /* NULL when absent or unsupported */
    struct clause *model_match;
    char **fallback;
    size_t n_fallback;
    struct model *models;
    size_t n_models;
};

struct col_prices {
    struct provider *prov;
    size_t n_prov;
    struct col_prices_stats st;
};

__attribute__((format(printf, 3, 4))) static void seterr(char *err, size_t errlen, const char *fmt,
                                                         ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    if (n < 0)
        err[0] = '\0'; /* a truncated message is still a message; only a failure blanks it */
}

static char *dup_lower(const char *s, size_t n, int lower)
{
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    for (size_t i = 0; i < n; i++)
        d[i] = lower ? (char)tolower((unsigned char)s[i]) : s[i];
    d[n] = '\0';
    return d;
}

/* ---- Python re -> POSIX ERE ---- */

struct sbuf {
    char *p;
    size_t n, cap;
};

static int put(struct sbuf *b, const char *s)
{
    size_t l = strlen(s);
    if (b->n + l >= b->cap)
        return -1;
    memcpy(b->p + b->n, s, l);
    b->n += l;
    b->p[b->n] = '\0';
    return 0;
}

static int putc1(struct sbuf *b, char c)
{
    char s[2] = {c, '\0'};
    return put(b, s);
}

/* Class escapes outside brackets; NULL when c is not one. */
static const char *class_escape(char c)
{
    switch (c) {
    case 'd': return "[0-9]";
    case 'D': return "[^0-9]";
    case 'w': return "[[:alnum:]_]";
    case 'W': return "[^[:alnum:]_]";
    case 's': return "[[:space:]]";
    case 'S': return "[^[:space:]]";
    default: return NULL;
    }
}

/* Length of a Python counted quantifier at s ("{3}", "{2,}", "{,4}", "{1,5}"), or 0. */
static size_t quantifier_len(const char *s, int *lead_comma)
{
    size_t i = 1, digits = 0, commas = 0;
    *lead_comma = s[1] == ',';
    for (; s[i] && s[i] != '}'; i++) {
        if (isdigit((unsigned char)s[i]))
            digits++;
        else if (s[i] == ',' && !commas)
            commas++;
        else
            return 0;
    }
    return s[i] == '}' && digits ? i + 1 : 0;
}

/* After a quantifier: drop a lazy '?', refuse a possessive '+'. Returns chars consumed or -1. */
static int quantifier_suffix(const char *s)
{
    if (*s == '?')
        return 1;
    if (*s == '+')
        return -1;
    return 0;
}

/* Copies a bracket expression starting at src[*i] == '['. 0 ok, -1 unsupported. */
static int bracket_to_ere(const char *src, size_t *i, struct sbuf *b)
{
    size_t k = *i + 1;
    if (put(b, "["))
        return -1;
    if (src[k] == '^' && putc1(b, src[k++]))
        return -1;
    if (src[k] == ']' && putc1(b, src[k++]))
        return -1;
    for (; src[k] != ']'; k++) {
        char c = src[k];
        if (c == '\0' || c == '[')
            return -1;
        if (c == '\\') {
            char e = src[++k];
            const char *rep = e == 'd'   ? "0-9"
                              : e == 'w' ? "[:alnum:]_"
                              : e == 's' ? "[:space:]"
                                         : NULL;
            if (rep) {
                if (put(b, rep))
                    return -1;
            } else if (e && ispunct((unsigned char)e) && !strchr("]\\^-[", e)) {
                if (putc1(b, e))
                    return -1;
            } else {
                return -1;
            }
            continue;
        }
        if (putc1(b, c))
            return -1;
    }
    if (put(b, "]"))
        return -1;
    *i = k + 1;
    return 0;
}

/* Rewrites the Python regex src as POSIX ERE into b. 0 ok, -1 unsupported. */
static int py_to_ere(const char *src, struct sbuf *b)
{
    size_t i = 0;
    while (src[i]) {
        char c = src[i];
        int q;
        if (c == '\\') {
            char e = src[i + 1];
            const char *rep = class_escape(e);
            if (rep) {
                if (put(b, rep))
                    return -1;
            } else if (e && strchr(".[]()*+?{}|^$\\", e)) {
                if (putc1(b, '\\') || putc1(b, e))
                    return -1;
            } else if (e && ispunct((unsigned char)e)) {
                if (putc1(b, e))
                    return -1;
            } else {
                return -1;
            }
            i += 2;
        } else if (c == '(') {
            if (src[i + 1] == '?') {
                if (src[i + 2] != ':')
                    return -1;
                i += 3;
            } else {
                i++;
            }
            if (put(b, "("))
                return -1;
        } else if (c == '[') {
            if (bracket_to_ere(src, &i, b))
                return -1;
        } else if (c == '*' || c == '+' || c == '?') {
            if (putc1(b, c) || (q = quantifier_suffix(src + i + 1)) < 0)
                return -1;
            i += 1 + (size_t)q;
        } else if (c == '{') {
            int lead;
            size_t ql = quantifier_len(src + i, &lead);
            if (!ql) {
                if (put(b, "\\{"))
                    return -1;
                i++;
                continue;
            }
            if (put(b, "{") || (lead && put(b, "0")))
                return -1;
            for (size_t k = i + 1; k < i + ql; k++)
                if (putc1(b, src[k]))
                    return -1;
            i += ql;
            if ((q = quantifier_suffix(src + i)) < 0)
                return -1;
            i += (size_t)q;
        } else if (c == '}') {
            if (put(b, "\\}"))
                return -1;
            i++;
        } else {
            if (putc1(b, c))
                return -1;
            i++;
        }
    }
    return 0;
}

static int compile_regex(struct clause *c, const char *pattern)
{
    size_t len = strlen(pattern);
    struct sbuf b = {.cap = len * 14 + 2};
    b.p = malloc(b.cap);
    if (!b.p)
        return P_NOMEM;
    b.p[0] = '\0';
    int rc = P_REGEX;
    if (py_to_ere(pattern, &b) == 0 && regcomp(&c->re, b.p, REG_EXTENDED | REG_NOSUB) == 0) {
        c->has_re = 1;
        rc = P_OK;
    }
    free(b.p);
    return rc;
}

/* ---- match clauses ---- */

static void clause_clear(struct clause *c)
{
    if (c->has_re)
        regfree(&c->re);
    free(c->text);
    for (size_t i = 0; i < c->n_kids; i++)
        clause_clear(&c->kids[i]);
    free(c->kids);
    memset(c, 0, sizeof *c);
}

static const struct {
    const char *key;
    enum cl_kind kind;
} CLAUSE_KEYS[] = {
    {"equals", CL_EQUALS},     {"starts_with", CL_STARTS}, {"ends_with", CL_ENDS},
    {"contains", CL_CONTAINS}, {"regex", CL_REGEX},        {"or", CL_OR},
    {"and", CL_AND},
};

/* Parses one clause object into *c (zeroed first). *why names a P_SKIP cause. */
static int clause_parse(json_t *j, struct clause *c, int depth, const char **why)
{
    memset(c, 0, sizeof *c);
    if (depth > MAX_DEPTH) {
        *why = "match rule nested too deep";
        return P_SKIP;
    }
    if (!json_is_object(j) || json_object_size(j) != 1) {
        *why = "match rule is not an object with one key";
        return P_SKIP;
    }
    void *it = json_object_iter(j);
    const char *key = json_object_iter_key(it);
    json_t *val = json_object_iter_value(it);
    size_t k = 0;
    while (k < sizeof CLAUSE_KEYS / sizeof CLAUSE_KEYS[0] && strcmp(CLAUSE_KEYS[k].key, key) != 0)
        k++;
    if (k == sizeof CLAUSE_KEYS / sizeof CLAUSE_KEYS[0]) {
        *why = "unknown match rule";
        return P_SKIP;
    }
    c->kind = CLAUSE_KEYS[k].kind;

    if (c->kind == CL_OR || c->kind == CL_AND) {
        if (!json_is_array(val)) {
            *why = "or/and is not an array";
            return P_SKIP;
        }
        size_t n = json_array_size(val);
        c->kids = calloc(n ? n : 1, sizeof *c->kids);
        if (!c->kids)
            return P_NOMEM;
        for (size_t i = 0; i < n; i++) {
            int rc = clause_parse(json_array_get(val, i), &c->kids[i], depth + 1, why);
            if (rc != P_OK) {
                clause_clear(c);
                return rc;
            }
            c->n_kids++;
        }
        return P_OK;
    }

    if (!json_is_string(val) || memchr(json_string_value(val), '\0', json_string_length(val))) {
        *why = "match text is not a string";
        return P_SKIP;
    }
    c->len = json_string_length(val);
    c->text = dup_lower(json_string_value(val), c->len, c->kind != CL_REGEX);
    if (!c->text)
        return P_NOMEM;
    if (c->kind == CL_REGEX) {
        int rc = compile_regex(c, c->text);
        if (rc != P_OK) {
            *why = "regex not expressible in POSIX ERE";
            clause_clear(c);
            return rc;
        }
    }
    return P_OK;
}

/* s is the lower-cased name, n its length. */
static int clause_match(const struct clause *c, const char *s, size_t n)
{
    switch (c->kind) {
    case CL_EQUALS: return n == c->len && memcmp(s, c->text, n) == 0;
    case CL_STARTS: return n >= c->len && memcmp(s, c->text, c->len) == 0;
    case CL_ENDS: return n >= c->len && memcmp(s + n - c->len, c->text, c->len) == 0;
    case CL_CONTAINS: return strstr(s, c->text) != NULL;
    case CL_REGEX: return regexec(&c->re, s, 0, NULL, 0) == 0;
    case CL_OR:
        for (size_t i = 0; i < c->n_kids; i++)
            if (clause_match(&c->kids[i], s, n))
                return 1;
        return 0;
    case CL_AND:
        for (size_t i = 0; i < c->n_kids; i++)
            if (!clause_match(&c->kids[i], s, n))
                return 0;
        return 1;
    }
    return 0;
}

/* ---- prices ---- */

/* A price: a number, or {base, tiers:[{start, price}]} charged at base. */
static int price_value(json_t *v, double *out, int *tiered)
{
    json_t *base = NULL;
    if (json_is_object(v)) {
        base = json_object_get(v, "base");
        json_t *tiers = json_object_get(v, "tiers");
        if (!json_is_number(base) || !json_is_array(tiers))
            return -1;
        size_t i;
        json_t *t;
        json_array_foreach(tiers, i, t)
        {
            if (!json_is_integer(json_object_get(t, "start")) ||
                !json_is_number(json_object_get(t, "price")))
                return -1;
        }
        *tiered = 1;
        v = base;
    }
    if (!json_is_number(v))
        return -1;
    double d = json_number_value(v);
    if (!isfinite(d) || d < 0)
        return -1;
    *out = d;
    return 0;
}

/*
 * Price keys byokwatch charges. The *_text_* keys price text tokens of a
 * model that prices modalities apart; without a modality split of usage
 * they stand in for the plain key when that is absent.
 */
static const struct {
    const char *key;
    unsigned bit;
    int alias;
} PRICE_KEYS[] = {
    {"input_mtok", COL_PRICE_INPUT, 0},
    {"cache_read_mtok", COL_PRICE_CACHE_READ, 0},
    {"cache_write_mtok", COL_PRICE_CACHE_WRITE, 0},
    {"output_mtok", COL_PRICE_OUTPUT, 0},
    {"input_audio_mtok", COL_PRICE_INPUT_AUDIO, 0},
    {"output_audio_mtok", COL_PRICE_OUTPUT_AUDIO, 0},
    {"requests_kcount", COL_PRICE_REQUESTS, 0},
    {"input_text_mtok", COL_PRICE_INPUT, 1},
    {"cache_text_read_mtok", COL_PRICE_CACHE_READ, 1},
    {"cache_text_write_mtok", COL_PRICE_CACHE_WRITE, 1},
    {"output_text_mtok", COL_PRICE_OUTPUT, 1},
};

/* The field of pr that price bit names. */
static double *price_slot(struct col_price *pr, unsigned bit)
{
    switch (bit) {
    case COL_PRICE_INPUT: return &pr->input_mtok;
    case COL_PRICE_CACHE_READ: return &pr->cache_read_mtok;
    case COL_PRICE_CACHE_WRITE: return &pr->cache_write_mtok;
    case COL_PRICE_OUTPUT: return &pr->output_mtok;
    case COL_PRICE_INPUT_AUDIO: return &pr->input_audio_mtok;
    case COL_PRICE_OUTPUT_AUDIO: return &pr->output_audio_mtok;
    default: return &pr->requests_kcount;
    }
}

/* Fills *pr from a ModelPrice object; keys byokwatch cannot charge are ignored. */
static int price_parse(json_t *obj, struct col_price *pr, const char **why)
{
    memset(pr, 0, sizeof *pr);
    if (!json_is_object(obj)) {
        *why = "prices is not an object";
        return P_SKIP;
    }
    unsigned from_alias = 0;
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        for (size_t k = 0; k < sizeof PRICE_KEYS / sizeof PRICE_KEYS[0]; k++) {
            if (strcmp(PRICE_KEYS[k].key, key) != 0)
                continue;
            double d;
            int tiered = 0;
            if (price_value(v, &d, &tiered)) {
                *why = "price is neither a number nor tiered";
                return P_SKIP;
            }
            unsigned bit = PRICE_KEYS[k].bit;
            if (PRICE_KEYS[k].alias && (pr->have & bit) && !(from_alias & bit))
                break; /* the plain key wins */
            if (PRICE_KEYS[k].alias)
                from_alias |= bit;
            else
                from_alias &= ~bit;
            *price_slot(pr, bit) = d;
            pr->have |= bit | (tiered ? COL_PRICE_TIERED : 0u);
            break;
        }
    }
    return P_OK;
}

/* "HH:MM[:SS[.frac]]" then optional "Z", "+hh:mm", "-hh:mm": UTC seconds into the day. */
static int parse_tod(const char *s, int32_t *out)
{
    int h, m, sec = 0, n = 0;
    if (sscanf(s, "%2d:%2d%n", &h, &m, &n) != 2 || n != 5)
        return -1;
    s += n;
    if (*s == ':') {
        if (!isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[2]))
            return -1;
        sec = (s[1] - '0') * 10 + (s[2] - '0');
        s += 3;
        if (*s == '.')
            for (s++; isdigit((unsigned char)*s); s++)
                ;
    }
    int off = 0;
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int oh, om;
        if (sscanf(s + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 || oh > 23 || om > 59)
            return -1;
        off = (*s == '+' ? 1 : -1) * (oh * 3600 + om * 60);
        s += 1 + n;
    }
    if (*s || h < 0 || h > 23 || m < 0 || m > 59 || sec > 59)
        return -1;
    int t = h * 3600 + m * 60 + sec - off;
    *out = (int32_t)(((t % TU_DAY) + TU_DAY) % TU_DAY);
    return 0;
}

static int constraint_parse(json_t *c, struct variant *v, const char **why)
{
    v->cons = CONS_ALWAYS;
    if (!c || json_is_null(c))
        return P_OK;
    json_t *sd = json_object_get(c, "start_date");
    json_t *st = json_object_get(c, "start_time");
    json_t *et = json_object_get(c, "end_time");
    if (json_is_string(sd) && json_object_size(c) == 1) {
        if (tu_parse_time(json_string_value(sd), &v->from)) {
            *why = "bad start_date";
            return P_SKIP;
        }
        v->cons = CONS_FROM_DATE;
        return P_OK;
    }
    if (json_is_string(st) && json_is_string(et) && json_object_size(c) == 2) {
        if (parse_tod(json_string_value(st), &v->tod_start) ||
            parse_tod(json_string_value(et), &v->tod_end)) {
            *why = "bad start_time/end_time";
            return P_SKIP;
        }
        v->cons = CONS_TIME_OF_DAY;
        return P_OK;
    }
    *why = "unsupported price constraint";
    return P_SKIP;
}

static int variant_active(const struct variant *v, int64_t when)
{
    switch (v->cons) {
    case CONS_ALWAYS: return 1;
    case CONS_FROM_DATE: return when >= v->from;
    case CONS_TIME_OF_DAY: {
        int64_t t = when - tu_floor(when, TU_DAY);
        if (v->tod_start <= v->tod_end)
            return t >= v->tod_start && t < v->tod_end;
        return t >= v->tod_start || t < v->tod_end;
    }
    }
    return 0;
}

/* ---- models and providers ---- */

static void model_clear(struct model *m)
{
    free(m->id);
    clause_clear(&m->match);
    free(m->vars);
    memset(m, 0, sizeof *m);
}

static int model_parse(json_t *j, struct model *m, const char **why)
{
    memset(m, 0, sizeof *m);
    json_t *id = json_object_get(j, "id");
    json_t *prices = json_object_get(j, "prices");
    if (!json_is_string(id)) {
        *why = "model without an id";
        return P_SKIP;
    }
    int rc = clause_parse(json_object_get(j, "match"), &m->match, 0, why);
    if (rc != P_OK)
        return rc;
    rc = P_NOMEM;
    m->id = strdup(json_string_value(id));
    if (!m->id)
        goto fail;

    if (json_is_array(prices)) {
        size_t n = json_array_size(prices);
        if (!n) {
            *why = "empty price list";
            rc = P_SKIP;
            goto fail;
        }
        m->vars = calloc(n, sizeof *m->vars);
        if (!m->vars)
            goto fail;
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(prices, i);
            if (!json_is_object(e)) {
                *why = "conditional price is not an object";
                rc = P_SKIP;
                goto fail;
            }
            if ((rc = constraint_parse(json_object_get(e, "constraint"), &m->vars[i], why)) ||
                (rc = price_parse(json_object_get(e, "prices"), &m->vars[i].price, why)))
                goto fail;
        }
        m->n_vars = n;
    } else {
        m->vars = calloc(1, sizeof *m->vars);
        if (!m->vars)
            goto fail;
        if ((rc = price_parse(prices, &m->vars[0].price, why)))
            goto fail;
        m->n_vars = 1;
    }
    return P_OK;
fail:
    model_clear(m);
    return rc;
}

static void provider_clear(struct provider *pv)
{
    free(pv->id);
    if (pv->provider_match)
        clause_clear(pv->provider_match);
    free(pv->provider_match);
    if (pv->model_match)
        clause_clear(pv->model_match);
    free(pv->model_match);
    if (pv->fallback)
        for (size_t i = 0; i < pv->n_fallback; i++)
            free(pv->fallback[i]);
    free(pv->fallback);
    if (pv->models)
        for (size_t i = 0; i < pv->n_models; i++)
            model_clear(&pv->models[i]);
    free(pv->models);
    memset(pv, 0, sizeof *pv);
}

/* Optional provider-level clause: absent or unsupported leaves *out NULL. */
static int provider_clause(const char *path, const char *pid, json_t *j, const char *name,
                           struct clause **out)
{
    *out = NULL;
    if (!j)
        return P_OK;
    struct clause *c = malloc(sizeof *c);
    if (!c)
        return P_NOMEM;
    const char *why = "";
    int rc = clause_parse(j, c, 0, &why);
    if (rc == P_NOMEM) {
        free(c);
        return P_NOMEM;
    }
    if (rc != P_OK) {
        char qp[256], qi[128];
        log_event(LOG_DEBUG, "prices_rule_skipped", "path=%s provider=%s rule=%s reason=\"%s\"",
                  log_quote(path, qp, sizeof qp), log_quote(pid, qi, sizeof qi), name, why);
        free(c);
        return P_OK;
    }
    *out = c;
    return P_OK;
}

/* Parses one provider; P_SKIP when it has no id or models. Counts into st. */
static int provider_parse(const char *path, json_t *j, struct provider *pv,
                          struct col_prices_stats *st)
{
    memset(pv, 0, sizeof *pv);
    json_t *id = json_object_get(j, "id");
    json_t *models = json_object_get(j, "models");
    if (!json_is_string(id) || !json_is_array(models))
        return P_SKIP;
    int rc = P_NOMEM;
    pv->id = strdup(json_string_value(id));
    if (!pv->id)
        goto fail;
    if ((rc = provider_clause(path, pv->id, json_object_get(j, "provider_match"), "provider_match",
                              &pv->provider_match)) ||
        (rc = provider_clause(path, pv->id, json_object_get(j, "model_match"), "model_match",
                              &pv->model_match)))
        goto fail;

    rc = P_NOMEM;
    json_t *fb = json_object_get(j, "fallback_model_providers");
    if (json_is_array(fb) && json_array_size(fb)) {
        pv->fallback = calloc(json_array_size(fb), sizeof *pv->fallback);
        if (!pv->fallback)
            goto fail;
        size_t i;
        json_t *e;
        json_array_foreach(fb, i, e)
        {
            if (!json_is_string(e))
                continue;
            if (!(pv->fallback[pv->n_fallback] = strdup(json_string_value(e))))
                goto fail;
            pv->n_fallback++;
        }
    }

    size_t n = json_array_size(models);
    pv->models = calloc(n ? n : 1, sizeof *pv->models);
    if (!pv->models)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        json_t *mj = json_array_get(models, i);
        const char *why = "model is not an object";
        int mrc = json_is_object(mj) ? model_parse(mj, &pv->models[pv->n_models], &why) : P_SKIP;
        if (mrc == P_NOMEM)
            goto fail;
        if (mrc == P_OK) {
            pv->n_models++;
            continue;
        }
        st->skipped_models++;
        if (mrc == P_REGEX)
            st->skipped_regex++;
        const char *mid = json_string_value(json_object_get(mj, "id"));
        char qp[256], qi[128], qm[256];
        log_event(LOG_DEBUG, "prices_model_skipped", "path=%s provider=%s model=%s reason=\"%s\"",
                  log_quote(path, qp, sizeof qp), log_quote(pv->id, qi, sizeof qi),
                  log_quote(mid ? mid : "?", qm, sizeof qm), why);
    }
    return P_OK;
fail:
    provider_clear(pv);
    return rc;
}

void col_prices_free(struct col_prices *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_prov; i++)
        provider_clear(&p->prov[i]);
    free(p->prov);
    free(p);
}

int col_prices_load(const char *path, struct col_prices **out, char *err, size_t errlen)
{
    FILE *f = NULL;
    json_t *root = NULL;
    struct col_prices *p = NULL;
    int rc = -1;

    if (err && errlen)
        err[0] = '\0';
    if (!path || !*path) {
        seterr(err, errlen, "no price file given");
        goto out;
    }
    f = fopen(path, "rb");
    if (!f) {
        seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    json_error_t je;
    root = json_loadf(f, 0, &je);
    if (!root) {
        seterr(err, errlen, "%s:%d:%d: JSON syntax: %s", path, je.line > 0 ? je.line : 1,
               je.column > 0 ? je.column : 1, je.text);
        goto out;
    }
    json_t *list = json_is_object(root) ? json_object_get(root, "providers") : root;
    if (!json_is_array(list)) {
        seterr(err, errlen,
               "%s: not a genai-prices data file (expected an array of providers, or an "
               "object with a \"providers\" array)",
               path);
        goto out;
    }
    p = calloc(1, sizeof *p);
    size_t n = json_array_size(list);
    if (!p || !(p->prov = calloc(n ? n : 1, sizeof *p->prov))) {
        seterr(err, errlen, "%s: out of memory", path);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *pj = json_array_get(list, i);
        int prc =
            json_is_object(pj) ? provider_parse(path, pj, &p->prov[p->n_prov], &p->st) : P_SKIP;
        if (prc == P_NOMEM) {
            seterr(err, errlen, "%s: out of memory", path);
            goto out;
        }
        if (prc != P_OK) {
            p->st.skipped_providers++;
            continue;
        }
        p->st.models += p->prov[p->n_prov].n_models;
        p->n_prov++;
    }
    p->st.providers = p->n_prov;
    if (!p->st.providers) {
        seterr(err, errlen, "%s: no provider with an id and a models list", path);
        goto out;
    }
    char qp[256];
    log_event(LOG_DEBUG, "prices_loaded",
              "path=%s providers=%zu models=%zu skipped_models=%zu skipped_regex=%zu",
              log_quote(path, qp, sizeof qp), p->st.providers, p->st.models, p->st.skipped_models,
              p->st.skipped_regex);
    *out = p;
    p = NULL;
    rc = 0;
out:
    col_prices_free(p);
    json_decref(root);
    if (f)
        fclose(f);
    return rc;
}

void col_prices_stats(const struct col_prices *p, struct col_prices_stats *st)
{
    memset(st, 0, sizeof *st);
    if (p)
        *st = p->st;
}

/* ---- lookup ---- */

/* Lower-cases (and with trim, strips surrounding spaces) s into buf; its length or -1. */
static long normalize(const char *s, int trim, char *buf, size_t len)
{
    size_t n = strlen(s);
    if (trim) {
        while (n && isspace((unsigned char)*s))
            s++, n--;
        while (n && isspace((unsigned char)s[n - 1]))
            n--;
    }
    if (n >= len)
        return -1;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)tolower((unsigned char)s[i]);
    buf[n] = '\0';
    return (long)n;
}

static const struct provider *provider_by_id(const struct col_prices *p, const char *id)
{
    for (size_t i = 0; i < p->n_prov; i++)
        if (!strcmp(p->prov[i].id, id))
            return &p->prov[i];
    return NULL;
}

static const struct model *model_in(const struct provider *pv, const char *name, size_t n)
{
    for (size_t i = 0; i < pv->n_models; i++)
        if (clause_match(&pv->models[i].match, name, n))
            return &pv->models[i];
    return NULL;
}

int col_prices_find(const struct col_prices *p, const char *provider, const char *model,
                    int64_t when, struct col_price *out)
{
    char name[MAX_NAME], pid[MAX_NAME];
    if (!p || !model)
        return -1;
    long nl = normalize(model, 0, name, sizeof name);
    if (nl <= 0)
        return -1;
    size_t n = (size_t)nl;

    const struct provider *pv = NULL;
    long pl = provider ? normalize(provider, 1, pid, sizeof pid) : 0;
    if (pl < 0)
        return -1;
    if (pl > 0) {
        pv = provider_by_id(p, pid);
        for (size_t i = 0; !pv && i < p->n_prov; i++)
            if (p->prov[i].provider_match &&
                clause_match(p->prov[i].provider_match, pid, (size_t)pl))
                pv = &p->prov[i];
    } else {
        for (size_t i = 0; !pv && i < p->n_prov; i++)
            if (p->prov[i].model_match && clause_match(p->prov[i].model_match, name, n))
                pv = &p->prov[i];
    }
    if (!pv)
        return -1;

    const struct provider *owner = pv;
    const struct model *m = model_in(pv, name, n);
    for (size_t i = 0; !m && i < pv->n_fallback; i++) {
        const struct provider *fp = provider_by_id(p, pv->fallback[i]);
        if (fp && (m = model_in(fp, name, n)))
            owner = fp;
    }
    if (!m)
        return -1;

    const struct variant *v = &m->vars[0];
    for (size_t i = m->n_vars; i-- > 0;) {
        if (variant_active(&m->vars[i], when)) {
            v = &m->vars[i];
            break;
        }
    }
    *out = v->price;
    out->provider_id = owner->id;
    out->model_id = m->id;
    return 0;
}

/* ---- arithmetic ---- */

static double nonneg(double x)
{
    return x > 0 ? x : 0; /* also maps NaN to 0 */
}

double col_price_cost(const struct col_price *pr, const struct col_usage *u)
{
    double cached = nonneg(u->input_cached_tokens);
    double written = nonneg(u->input_cache_write_tokens);
    double audio_in = nonneg(u->input_audio_tokens);
    double text_in = nonneg(nonneg(u->input_tokens) - cached - written - audio_in);
    double out = nonneg(u->output_tokens);
    double audio_out = nonneg(u->output_audio_tokens);
    if (audio_out > out)
        audio_out = out;
    double text_out = out - audio_out;

    double in_p = pr->input_mtok, out_p = pr->output_mtok;
    double read_p = pr->have & COL_PRICE_CACHE_READ ? pr->cache_read_mtok : in_p;
    double write_p = pr->have & COL_PRICE_CACHE_WRITE ? pr->cache_write_mtok : in_p;
    double ain_p = pr->have & COL_PRICE_INPUT_AUDIO ? pr->input_audio_mtok : in_p;
    double aout_p = pr->have & COL_PRICE_OUTPUT_AUDIO ? pr->output_audio_mtok : out_p;

    double mtok = text_in * in_p + cached * read_p + written * write_p + audio_in * ain_p +
                  text_out * out_p + audio_out * aout_p;
    return mtok / 1e6 + nonneg(u->requests) * pr->requests_kcount / 1e3;
}
