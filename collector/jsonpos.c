/*
 * A small recursive scanner over a JSON text that records, for every value,
 * its key path and where its key and value start (see jsonpos.h). It checks
 * structure as it goes so that hostile input fails cleanly, but it is not a
 * validator: the config loader only runs it on text jansson accepted.
 */
#include "jsonpos.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JPOS_MAX_DEPTH 4096

struct jpos {
    struct jpos_entry *v;
    size_t n, cap;
};

struct scanner {
    const char *s;
    size_t len, i;
    int line, col;
    char *path; /* current key path, NUL-terminated */
    size_t plen, pcap;
    char *key; /* scratch for a decoded key */
    size_t kcap;
    int depth;
    struct jpos *out;
};

/* Renders one key component (".key" or ["key"]) into dst; returns its length like snprintf. */
static size_t render_key(const char *key, int top, char *dst, size_t dstlen)
{
    int plain = key[0] != '\0';
    for (const unsigned char *k = (const unsigned char *)key; *k && plain; k++)
        if (*k < 0x20 || *k == '.' || *k == '[' || *k == ']' || *k == '"' || *k == '\\')
            plain = 0;
    size_t n = 0;
#define PUT(ch)                                                                                    \
    do {                                                                                           \
        if (n + 1 < dstlen)                                                                        \
            dst[n] = (ch);                                                                         \
        n++;                                                                                       \
    } while (0)
    if (plain) {
        if (!top)
            PUT('.');
        for (const char *k = key; *k; k++)
            PUT(*k);
    } else {
        PUT('[');
        PUT('"');
        for (const unsigned char *k = (const unsigned char *)key; *k; k++) {
            if (*k == '"' || *k == '\\') {
                PUT('\\');
                PUT((char)*k);
            } else if (*k < 0x20) {
                static const char hex[] = "0123456789abcdef";
                PUT('\\');
                PUT('u');
                PUT('0');
                PUT('0');
                PUT(hex[*k >> 4]);
                PUT(hex[*k & 15]);
            } else {
                PUT((char)*k);
            }
        }
        PUT('"');
        PUT(']');
    }
#undef PUT
    if (dstlen)
        dst[n < dstlen ? n : dstlen - 1] = '\0';
    return n;
}

int jpos_path_key(char *buf, size_t len, const char *parent, const char *key)
{
    int p = snprintf(buf, len, "%s", parent);
    if (p < 0 || (size_t)p >= len)
        return -1;
    size_t n = render_key(key, p == 0, buf + p, len - (size_t)p);
    return n < len - (size_t)p ? 0 : -1;
}

int jpos_path_index(char *buf, size_t len, const char *parent, size_t index)
{
    int n = snprintf(buf, len, "%s[%zu]", parent, index);
    return n >= 0 && (size_t)n < len ? 0 : -1;
}

size_t jpos_parent_len(const char *path)
{
    size_t last = 0, i = 0;
    while (path[i]) {
        if (path[i] == '.') {
            last = i++;
        } else if (path[i] == '[') {
            last = i++;
            if (path[i] == '"') {
                for (i++; path[i] && path[i] != '"'; i++)
                    if (path[i] == '\\' && path[i + 1])
                        i++;
                if (path[i])
                    i++;
            }
            while (path[i] && path[i] != ']')
                i++;
            if (path[i])
                i++;
        } else {
            i++;
        }
    }
    return last;
}

static void adv(struct scanner *sc)
{
    unsigned char ch = (unsigned char)sc->s[sc->i++];
    if (ch == '\n') {
        sc->line++;
        sc->col = 1;
    } else if ((ch & 0xC0) != 0x80) {
        sc->col++;
    }
}

static int peek(const struct scanner *sc)
{
    return sc->i < sc->len ? (unsigned char)sc->s[sc->i] : -1;
}

static void skip_ws(struct scanner *sc)
{
    int c;
    while ((c = peek(sc)) == ' ' || c == '\t' || c == '\n' || c == '\r')
        adv(sc);
}

static int grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return -1;
        ncap *= 2;
    }
    char *nb = realloc(*buf, ncap);
    if (!nb)
        return -1;
    *buf = nb;
    *cap = ncap;
    return 0;
}

static int record(struct scanner *sc, int kl, int kc, int vl, int vc)
{
    struct jpos *p = sc->out;
    if (p->n == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 32;
        if (ncap > SIZE_MAX / sizeof *p->v)
            return -1;
        struct jpos_entry *nv = realloc(p->v, ncap * sizeof *nv);
        if (!nv)
            return -1;
        p->v = nv;
        p->cap = ncap;
    }
    struct jpos_entry *e = &p->v[p->n];
    char *copy = malloc(sc->plen + 1);
    if (!copy)
        return -1;
    memcpy(copy, sc->path, sc->plen + 1);
    e->path = copy;
    e->key_line = kl;
    e->key_col = kc;
    e->val_line = vl;
    e->val_col = vc;
    p->n++;
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int read_hex4(struct scanner *sc, unsigned *out)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(peek(sc));
        if (h < 0)
            return -1;
        v = v * 16 + (unsigned)h;
        adv(sc);
    }
    *out = v;
    return 0;
}

static int put_key_byte(struct scanner *sc, size_t *n, unsigned char b)
{
    if (grow(&sc->key, &sc->kcap, *n + 2) < 0)
        return -1;
    sc->key[(*n)++] = (char)b;
    return 0;
}

static int put_utf8(struct scanner *sc, size_t *n, unsigned cp)
{
    unsigned char b[4];
    size_t k;
    if (cp == 0)
        return -1; /* jansson refuses NUL in keys too */
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        k = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | (cp >> 6));
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        k = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | (cp >> 12));
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        k = 3;
    } else {
        b[0] = (unsigned char)(0xF0 | (cp >> 18));
        b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (unsigned char)(0x80 | (cp & 0x3F));
        k = 4;
    }
    for (size_t j = 0; j < k; j++)
        if (put_key_byte(sc, n, b[j]) < 0)
            return -1;
    return 0;
}

/*
 * Consumes a string starting at its opening quote. With decode set, the
 * unescaped bytes go to sc->key (NUL-terminated).
 */
static int scan_string(struct scanner *sc, int decode)
{
    size_t n = 0;
    if (peek(sc) != '"')
        return -1;
    adv(sc);
    for (;;) {
        int c = peek(sc);
        if (c < 0 || c < 0x20)
            return -1;
        adv(sc);
        if (c == '"')
            break;
        if (c != '\\') {
            if (decode && put_key_byte(sc, &n, (unsigned char)c) < 0)
                return -1;
            continue;
        }
        int e = peek(sc);
        if (e < 0)
            return -1;
        adv(sc);
        unsigned char simple = 0;
        switch (e) {
        case '"': simple = '"'; break;
        case '\\': simple = '\\'; break;
        case '/': simple = '/'; break;
        case 'b': simple = '\b'; break;
        case 'f': simple = '\f'; break;
        case 'n': simple = '\n'; break;
        case 'r': simple = '\r'; break;
        case 't': simple = '\t'; break;
        case 'u': break;
        default: return -1;
        }
        if (simple) {
            if (decode && put_key_byte(sc, &n, simple) < 0)
                return -1;
            continue;
        }
        unsigned cp;
        if (read_hex4(sc, &cp) < 0)
            return -1;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned lo;
            if (peek(sc) != '\\')
                return -1;
            adv(sc);
            if (peek(sc) != 'u')
                return -1;
            adv(sc);
            if (read_hex4(sc, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
                return -1;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return -1;
        }
        if (decode && put_utf8(sc, &n, cp) < 0)
            return -1;
    }
    if (decode) {
        if (grow(&sc->key, &sc->kcap, n + 1) < 0)
            return -1;
        sc->key[n] = '\0';
    }
    return 0;
}

static void path_set_len(struct scanner *sc, size_t len)
{
    sc->plen = len;
    sc->path[len] = '\0';
}

static int path_push_key(struct scanner *sc)
{
    size_t need = render_key(sc->key, sc->plen == 0, NULL, 0);
    if (grow(&sc->path, &sc->pcap, sc->plen + need + 1) < 0)
        return -1;
    render_key(sc->key, sc->plen == 0, sc->path + sc->plen, need + 1);
    sc->plen += need;
    return 0;
}

static int path_push_index(struct scanner *sc, size_t index)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "[%zu]", index);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return -1;
    if (grow(&sc->path, &sc->pcap, sc->plen + (size_t)n + 1) < 0)
        return -1;
    memcpy(sc->path + sc->plen, tmp, (size_t)n + 1);
    sc->plen += (size_t)n;
    return 0;
}

static int scan_value(struct scanner *sc, int kl, int kc);

static int scan_object(struct scanner *sc)
{
    size_t base = sc->plen;
    adv(sc); /* '{' */
    skip_ws(sc);
    if (peek(sc) == '}') {
        adv(sc);
        return 0;
    }
    for (;;) {
        skip_ws(sc);
        int kl = sc->line, kc = sc->col;
        if (scan_string(sc, 1) < 0)
            return -1;
        skip_ws(sc);
        if (peek(sc) != ':')
            return -1;
        adv(sc);
        skip_ws(sc);
        if (path_push_key(sc) < 0)
            return -1;
        if (scan_value(sc, kl, kc) < 0)
            return -1;
        path_set_len(sc, base);
        skip_ws(sc);
        int c = peek(sc);
        if (c == ',') {
            adv(sc);
            continue;
        }
        if (c == '}') {
            adv(sc);
            return 0;
        }
        return -1;
    }
}

static int scan_array(struct scanner *sc)
{
    size_t base = sc->plen;
    adv(sc); /* '[' */
    skip_ws(sc);
    if (peek(sc) == ']') {
        adv(sc);
        return 0;
    }
    for (size_t index = 0;; index++) {
        skip_ws(sc);
        if (path_push_index(sc, index) < 0)
            return -1;
        if (scan_value(sc, 0, 0) < 0)
            return -1;
        path_set_len(sc, base);
        skip_ws(sc);
        int c = peek(sc);
        if (c == ',') {
            adv(sc);
            continue;
        }
        if (c == ']') {
            adv(sc);
            return 0;
        }
        return -1;
    }
}

static int scan_scalar(struct scanner *sc)
{
    size_t start = sc->i;
    int c;
    while ((c = peek(sc)) >= 0 && (c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9') ||
                                   (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
        adv(sc);
    return sc->i > start ? 0 : -1;
}

static int scan_value(struct scanner *sc, int kl, int kc)
{
    skip_ws(sc);
    if (record(sc, kl, kc, sc->line, sc->col) < 0)
        return -1;
    int c = peek(sc), rc;
    if (c == '{' || c == '[') {
        if (++sc->depth > JPOS_MAX_DEPTH)
            return -1;
        rc = c == '{' ? scan_object(sc) : scan_array(sc);
        sc->depth--;
        return rc;
    }
    if (c == '"')
        return scan_string(sc, 0);
    return scan_scalar(sc);
}

void jpos_free(struct jpos *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free((char *)p->v[i].path);
    free(p->v);
    free(p);
}

int jpos_scan(const char *text, size_t len, struct jpos **out)
{
    int rc = -1;
    struct scanner sc = {.s = text, .len = len, .line = 1, .col = 1};
    sc.out = calloc(1, sizeof *sc.out);
    if (!sc.out || grow(&sc.path, &sc.pcap, 64) < 0)
        goto out;
    sc.path[0] = '\0';
    if (scan_value(&sc, 0, 0) < 0)
        goto out;
    skip_ws(&sc);
    if (sc.i != sc.len)
        goto out;
    *out = sc.out;
    sc.out = NULL;
    rc = 0;
out:
    jpos_free(sc.out);
    free(sc.path);
    free(sc.key);
    return rc;
}

const struct jpos_entry *jpos_find(const struct jpos *p, const char *path)
{
    for (size_t i = 0; p && i < p->n; i++)
        if (strcmp(p->v[i].path, path) == 0)
            return &p->v[i];
    return NULL;
}

/* Orders entries by path, then by position in the document. */
static int cmp_entry(const void *a, const void *b)
{
    const struct jpos_entry *x = *(const struct jpos_entry *const *)a;
    const struct jpos_entry *y = *(const struct jpos_entry *const *)b;
    int c = strcmp(x->path, y->path);
    if (c)
        return c;
    return x < y ? -1 : x > y;
}

const struct jpos_entry *jpos_first_duplicate(const struct jpos *p, const struct jpos_entry **first)
{
    const struct jpos_entry *best = NULL, *best_first = NULL;
    if (!p || p->n < 2)
        return NULL;
    const struct jpos_entry **by_path = malloc(p->n * sizeof(struct jpos_entry *));
    if (!by_path) {
        /* Fall back to the quadratic search rather than report nothing. */
        for (size_t i = 1; i < p->n && !best; i++)
            for (size_t j = 0; j < i && p->v[i].key_line; j++)
                if (strcmp(p->v[i].path, p->v[j].path) == 0) {
                    best = &p->v[i];
                    best_first = &p->v[j];
                    break;
                }
        goto out;
    }
    for (size_t i = 0; i < p->n; i++)
        by_path[i] = &p->v[i];
    qsort(by_path, p->n, sizeof(struct jpos_entry *), cmp_entry);
    size_t run = 0; /* index in by_path of the current run's earliest entry */
    for (size_t i = 1; i < p->n; i++) {
        if (strcmp(by_path[i - 1]->path, by_path[i]->path) != 0) {
            run = i;
            continue;
        }
        if (by_path[i]->key_line && (!best || by_path[i] < best)) {
            best = by_path[i];
            best_first = by_path[run];
        }
    }
    free(by_path);
out:
    if (best && first)
        *first = best_first;
    return best;
}
