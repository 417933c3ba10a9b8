/*
 * What bw-recv remembers between control calls: one record per delivery
 * (path, status, headers, body, signature verdict), the unique alert ids in
 * arrival order with a hash set beside them, and the counters served by
 * GET /_recv/stats. Signatures are HMAC-SHA256 over "<t>.<body>".
 */
#include "recvlog.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../../common/array.h"
#include "../../common/strmap.h"

enum sig { SIG_NONE, SIG_OK, SIG_BAD };

struct rec {
    char *path;
    char *headers; /* "lowercased-name: value\n" per header */
    char *body;
    size_t body_len;
    int status;
    enum sig sig;
};

struct rlog {
    char *secret;
    struct rec *recs;
    size_t n_recs, cap_recs;
    char **ids; /* unique, arrival order; the set's keys point here */
    size_t n_ids, cap_ids;
    struct strmap id_set;
    long requests, ok, failed, duplicates, no_id, bad_sigs, good_sigs, connections, delivery_conns;
    long long last_sig_t;
    int oom;
};

struct rlog *rlog_new(const char *hmac_secret)
{
    struct rlog *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->last_sig_t = -1;
    if (hmac_secret && *hmac_secret && !(l->secret = strdup(hmac_secret))) {
        free(l);
        return NULL;
    }
    return l;
}

void rlog_reset(struct rlog *l)
{
    for (size_t i = 0; i < l->n_recs; i++) {
        free(l->recs[i].path);
        free(l->recs[i].headers);
        free(l->recs[i].body);
    }
    for (size_t i = 0; i < l->n_ids; i++)
        free(l->ids[i]);
    strmap_free(&l->id_set);
    memset(&l->id_set, 0, sizeof l->id_set);
    l->n_recs = l->n_ids = 0;
    l->requests = l->ok = l->failed = l->duplicates = l->no_id = 0;
    l->bad_sigs = l->good_sigs = l->connections = l->delivery_conns = 0;
    l->last_sig_t = -1;
    l->oom = 0;
}

void rlog_free(struct rlog *l)
{
    if (!l)
        return;
    rlog_reset(l);
    free(l->recs);
    free(l->ids);
    free(l->secret);
    free(l);
}

void rlog_connection(struct rlog *l)
{
    l->connections++;
}

void rlog_delivery_connection(struct rlog *l)
{
    l->delivery_conns++;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int rlog_check_signature(const char *secret, const char *header, const char *body, size_t len,
                         long long *t)
{
    if (!secret || !header)
        return -1;
    const char *p = header, *tstr = NULL;
    size_t tlen = 0;
    /* first pass: the timestamp */
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && *p == ' ')
            p++, n--;
        if (n > 2 && strncmp(p, "t=", 2) == 0) {
            tstr = p + 2;
            tlen = n - 2;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    if (!tstr || tlen == 0 || tlen > 20)
        return -1;
    long long tv = 0;
    for (size_t i = 0; i < tlen; i++) {
        if (tstr[i] < '0' || tstr[i] > '9')
            return -1;
        tv = tv * 10 + (tstr[i] - '0');
    }
    size_t mlen = tlen + 1 + len;
    unsigned char *msg = malloc(mlen ? mlen : 1);
    if (!msg)
        return -1;
    memcpy(msg, tstr, tlen);
    msg[tlen] = '.';
    if (len)
        memcpy(msg + tlen + 1, body, len);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    const unsigned char *ok =
        HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, mlen, mac, &maclen);
    free(msg);
    if (!ok || maclen != 32)
        return -1;
    /* second pass: any v1 that matches */
    for (p = header; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && *p == ' ')
            p++, n--;
        if (n == 3 + 64 && strncmp(p, "v1=", 3) == 0) {
            unsigned char got[32];
            int good = 1;
            for (size_t i = 0; i < 32 && good; i++) {
                int hi = hexval((unsigned char)p[3 + 2 * i]);
                int lo = hexval((unsigned char)p[4 + 2 * i]);
                if (hi < 0 || lo < 0)
                    good = 0;
                else
                    got[i] = (unsigned char)(hi << 4 | lo);
            }
            if (good && CRYPTO_memcmp(got, mac, 32) == 0) {
                if (t)
                    *t = tv;
                return 0;
            }
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return -1;
}

static const char *alert_id(json_t *o)
{
    const char *id = json_string_value(json_object_get(o, "id"));
    if (!id)
        id = json_string_value(json_object_get(json_object_get(o, "event"), "id"));
    return id;
}

size_t rlog_each_id(const char *body, size_t len, void (*fn)(const char *id, void *ud), void *ud)
{
    size_t off = 0, found = 0;
    while (off < len) {
        while (off < len && isspace((unsigned char)body[off]))
            off++;
        if (off >= len)
            break;
        json_error_t e;
        json_t *v = json_loadb(body + off, len - off, JSON_DISABLE_EOF_CHECK, &e);
        if (!v || e.position <= 0)
            break;
        off += (size_t)e.position;
        if (json_is_object(v)) {
            const char *id = alert_id(v);
            if (id) {
                fn(id, ud);
                found++;
            }
        } else if (json_is_array(v)) {
            size_t i;
            json_t *el;
            json_array_foreach(v, i, el)
            {
                const char *id = alert_id(el);
                if (id) {
                    fn(id, ud);
                    found++;
                }
            }
        }
        json_decref(v);
    }
    return found;
}

static void add_id(const char *id, void *ud)
{
    struct rlog *l = ud;
    size_t n = strlen(id), idx;
    if (strmap_get(&l->id_set, id, n, &idx) == 0) {
        l->duplicates++;
        return;
    }
    char *copy = strdup(id);
    if (!copy || arr_reserve((void **)&l->ids, &l->cap_ids, l->n_ids + 1, sizeof *l->ids) ||
        strmap_put(&l->id_set, copy, n, l->n_ids)) {
        free(copy);
        l->oom = 1;
        return;
    }
    l->ids[l->n_ids++] = copy;
}

static char *headers_text(const struct rlog_header *h, size_t nh)
{
    size_t total = 1;
    for (size_t i = 0; i < nh; i++)
        total += strlen(h[i].name) + strlen(h[i].value) + 3;
    char *s = malloc(total), *w = s;
    if (!s)
        return NULL;
    for (size_t i = 0; i < nh; i++) {
        for (const char *c = h[i].name; *c; c++)
            *w++ = (char)tolower((unsigned char)*c);
        *w++ = ':';
        *w++ = ' ';
        size_t vl = strlen(h[i].value);
        memcpy(w, h[i].value, vl);
        w += vl;
        *w++ = '\n';
    }
    *w = '\0';
    return s;
}

static const char *find_header(const struct rlog_header *h, size_t nh, const char *name)
{
    for (size_t i = 0; i < nh; i++)
        if (strcasecmp(h[i].name, name) == 0)
            return h[i].value;
    return NULL;
}

int rlog_record(struct rlog *l, const char *path, const struct rlog_header *h, size_t nh,
                const char *body, size_t len, int status)
{
    int accepted = status >= 200 && status < 300;
    enum sig sig = SIG_NONE;
    l->requests++;
    if (accepted)
        l->ok++;
    else
        l->failed++;
    if (l->secret) {
        long long t;
        if (rlog_check_signature(l->secret, find_header(h, nh, "X-Byokwatch-Signature"), body, len,
                                 &t) == 0) {
            sig = SIG_OK;
            l->good_sigs++;
            l->last_sig_t = t;
        } else {
            sig = SIG_BAD;
            l->bad_sigs++;
        }
    }
    if (accepted && rlog_each_id(body, len, add_id, l) == 0)
        l->no_id++;
    if (arr_reserve((void **)&l->recs, &l->cap_recs, l->n_recs + 1, sizeof *l->recs))
        goto oom;
    struct rec r = {.status = status, .sig = sig, .body_len = len};
    r.path = strdup(path);
    r.headers = headers_text(h, nh);
    r.body = malloc(len + 1);
    if (!r.path || !r.headers || !r.body) {
        free(r.path);
        free(r.headers);
        free(r.body);
        goto oom;
    }
    if (len)
        memcpy(r.body, body, len);
    r.body[len] = '\0';
    l->recs[l->n_recs++] = r;
    return 0;
oom:
    l->oom = 1;
    return -1;
}

/* A JSON string of bytes, or null when they are not UTF-8. */
static json_t *bytes_json(const char *s, size_t len)
{
    json_t *v = json_stringn(s, len);
    return v ? v : json_null();
}

static json_t *headers_json(const char *text)
{
    json_t *o = json_object();
    for (const char *p = text; o && *p;) {
        const char *nl = strchr(p, '\n'), *colon = strstr(p, ": ");
        if (!nl || !colon || colon > nl)
            break;
        char name[256];
        size_t nlen = (size_t)(colon - p);
        if (nlen < sizeof name) {
            memcpy(name, p, nlen);
            name[nlen] = '\0';
            json_object_set_new(o, name, bytes_json(colon + 2, (size_t)(nl - colon - 2)));
        }
        p = nl + 1;
    }
    return o;
}

static const char *sig_name(enum sig s)
{
    return s == SIG_OK ? "ok" : s == SIG_BAD ? "bad" : "none";
}

json_t *rlog_stats(const struct rlog *l)
{
    json_t *ids = json_array();
    for (size_t i = 0; ids && i < l->n_ids; i++)
        json_array_append_new(ids, bytes_json(l->ids[i], strlen(l->ids[i])));
    const struct rec *last = l->n_recs ? &l->recs[l->n_recs - 1] : NULL;
    json_t *o = json_pack(
        "{sI sI sI so sI sI sI sI sI sI so so so so so sb}", "requests", (json_int_t)l->requests,
        "ok", (json_int_t)l->ok, "failed", (json_int_t)l->failed, "ids", ids, "duplicates",
        (json_int_t)l->duplicates, "no_id", (json_int_t)l->no_id, "bad_signatures",
        (json_int_t)l->bad_sigs, "good_signatures", (json_int_t)l->good_sigs, "connections",
        (json_int_t)l->connections, "delivery_connections", (json_int_t)l->delivery_conns,
        "last_path", last ? json_string(last->path) : json_null(), "last_status",
        last ? json_integer(last->status) : json_null(), "last_body",
        last ? bytes_json(last->body, last->body_len) : json_null(), "last_headers",
        last ? headers_json(last->headers) : json_object(), "last_signature_t",
        l->last_sig_t >= 0 ? json_integer(l->last_sig_t) : json_null(), "out_of_memory", l->oom);
    return o;
}

json_t *rlog_requests(const struct rlog *l, size_t since)
{
    json_t *a = json_array();
    for (size_t i = since; a && i < l->n_recs; i++) {
        const struct rec *r = &l->recs[i];
        json_t *o = json_pack("{sI ss si ss so so}", "index", (json_int_t)i, "path", r->path,
                              "status", r->status, "signature", sig_name(r->sig), "headers",
                              headers_json(r->headers), "body", bytes_json(r->body, r->body_len));
        if (!o || json_array_append_new(a, o)) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}
