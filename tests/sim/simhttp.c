/*
 * Request and response helpers of the provider simulator: query parsing,
 * JSON output onto evbuffers, page cursors and provider error bodies. Pure
 * helpers with no simulator state beyond the current request id.
 */
#include "simhttp.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/timeutil.h"

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

/* Percent-decodes [s, s+n) into a new string; NULL on a bad escape or OOM. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n) {
                free(out);
                return NULL;
            }
            int hi = hexval((unsigned char)s[i + 1]), lo = hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0) {
                free(out);
                return NULL;
            }
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

int sim_query_parse(const char *qs, struct sim_query *q)
{
    q->p = NULL;
    q->n = 0;
    if (!qs || !*qs)
        return 0;
    size_t cap = 0;
    const char *s = qs;
    while (*s) {
        const char *amp = strchr(s, '&');
        size_t len = amp ? (size_t)(amp - s) : strlen(s);
        if (len > 0) {
            const char *eq = memchr(s, '=', len);
            size_t klen = eq ? (size_t)(eq - s) : len;
            if (q->n == cap) {
                size_t ncap = cap ? cap * 2 : 8;
                struct sim_param *np = realloc(q->p, ncap * sizeof *np);
                if (!np)
                    return -1;
                q->p = np;
                cap = ncap;
            }
            char *k = pct_decode(s, klen);
            char *v = eq ? pct_decode(eq + 1, len - klen - 1) : pct_decode("", 0);
            if (!k || !v) {
                free(k);
                free(v);
                return -1;
            }
            q->p[q->n].key = k;
            q->p[q->n].val = v;
            q->n++;
        }
        s += len;
        if (*s == '&')
            s++;
    }
    return 0;
}

void sim_query_free(struct sim_query *q)
{
    for (size_t i = 0; i < q->n; i++) {
        free(q->p[i].key);
        free(q->p[i].val);
    }
    free(q->p);
    q->p = NULL;
    q->n = 0;
}

const char *sim_query_get(const struct sim_query *q, const char *key)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->p[i].key, key) == 0)
            return q->p[i].val;
    return NULL;
}

size_t sim_query_multi(const struct sim_query *q, const char *name, const char **vals, size_t max)
{
    size_t nlen = strlen(name), found = 0;
    for (size_t i = 0; i < q->n; i++) {
        const char *k = q->p[i].key;
        if (strncmp(k, name, nlen) != 0)
            continue;
        if (k[nlen] != '\0' && strcmp(k + nlen, "[]") != 0)
            continue;
        if (found < max)
            vals[found] = q->p[i].val;
        found++;
    }
    return found;
}

int sim_parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s)
        return -1;
    const char *p = s;
    if (*p == '-')
        p++;
    if (!isdigit((unsigned char)*p))
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int sim_resp_init(struct sim_resp *r)
{
    r->status = 200;
    r->content_type = "application/json";
    r->retry_after[0] = '\0';
    r->body = evbuffer_new();
    return r->body ? 0 : -1;
}

void sim_resp_free(struct sim_resp *r)
{
    if (r->body)
        evbuffer_free(r->body);
    r->body = NULL;
}

void sim_resp_clear(struct sim_resp *r)
{
    evbuffer_drain(r->body, evbuffer_get_length(r->body));
}

void sj_raw(struct evbuffer *b, const char *s)
{
    evbuffer_add(b, s, strlen(s));
}

void sj_str(struct evbuffer *b, const char *s)
{
    if (!s) {
        sj_raw(b, "null");
        return;
    }
    evbuffer_add(b, "\"", 1);
    const char *run = s;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c != '"' && c != '\\' && c >= 0x20)
            continue;
        evbuffer_add(b, run, (size_t)(p - run));
        if (c == '"')
            sj_raw(b, "\\\"");
        else if (c == '\\')
            sj_raw(b, "\\\\");
        else if (c == '\n')
            sj_raw(b, "\\n");
        else
            evbuffer_add_printf(b, "\\u%04x", c);
        run = p + 1;
    }
    sj_raw(b, run);
    evbuffer_add(b, "\"", 1);
}

void sj_i64(struct evbuffer *b, int64_t v)
{
    evbuffer_add_printf(b, "%lld", (long long)v);
}

/* Writes v / 10^digits with trailing zeros trimmed (keeps keep_one digit). */
static void fixed_point(struct evbuffer *b, int64_t v, int digits, int keep_one)
{
    int64_t scale = 1;
    for (int i = 0; i < digits; i++)
        scale *= 10;
    const char *sign = v < 0 ? "-" : "";
    uint64_t a = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    uint64_t ip = a / (uint64_t)scale, fp = a % (uint64_t)scale;
    char frac[24];
    int n = snprintf(frac, sizeof frac, "%0*llu", digits, (unsigned long long)fp);
    if (n < 0 || (size_t)n >= sizeof frac)
        return;
    while (n > (keep_one ? 1 : 0) && frac[n - 1] == '0')
        frac[--n] = '\0';
    if (n == 0)
        evbuffer_add_printf(b, "%s%llu", sign, (unsigned long long)ip);
    else
        evbuffer_add_printf(b, "%s%llu.%s", sign, (unsigned long long)ip, frac);
}

void sj_dollars(struct evbuffer *b, int64_t micro)
{
    fixed_point(b, micro, 6, 1);
}

void sj_cents_string(struct evbuffer *b, int64_t micro)
{
    evbuffer_add(b, "\"", 1);
    fixed_point(b, micro, 4, 0);
    evbuffer_add(b, "\"", 1);
}

void sj_time(struct evbuffer *b, int64_t t)
{
    char buf[40];
    sj_str(b, tu_format_time(t, buf, sizeof buf));
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sim_cursor_encode(int64_t t, char *out, size_t len)
{
    char ts[40];
    tu_format_time(t, ts, sizeof ts);
    size_t n = strlen(ts), need = 5 + 4 * ((n + 2) / 3) + 1;
    if (len < need)
        return -1;
    memcpy(out, "page_", 5);
    size_t o = 5;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)ts[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)ts[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)ts[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = '\0';
    return 0;
}

static int b64val(int c)
{
    if (c == ' ')
        c = '+';
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

int sim_cursor_decode(const char *s, int64_t *t)
{
    if (!s || strncmp(s, "page_", 5) != 0)
        return -1;
    s += 5;
    size_t n = strlen(s);
    if (n == 0 || n % 4 != 0 || n > 64)
        return -1;
    char dec[64];
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int j = 0; j < 4; j++)
            v[j] = s[i + j] == '=' ? 0 : b64val((unsigned char)s[i + j]);
        if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0)
            return -1;
        unsigned w =
            (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
        dec[o++] = (char)(w >> 16);
        if (s[i + 2] != '=')
            dec[o++] = (char)(w >> 8);
        if (s[i + 3] != '=')
            dec[o++] = (char)w;
    }
    dec[o] = '\0';
    return tu_parse_time(dec, t);
}

void sim_openai_error(struct sim_resp *r, int status, const char *type, const char *param,
                      const char *code, const char *msg)
{
    sim_resp_clear(r);
    r->status = status;
    r->content_type = "application/json";
    sj_raw(r->body, "{\"error\":{\"message\":");
    sj_str(r->body, msg);
    sj_raw(r->body, ",\"type\":");
    sj_str(r->body, type);
    sj_raw(r->body, ",\"param\":");
    sj_str(r->body, param);
    sj_raw(r->body, ",\"code\":");
    sj_str(r->body, code);
    sj_raw(r->body, "}}");
}

static char request_id[48] = "req_sim";

void sim_request_id_set(const char *id)
{
    snprintf(request_id, sizeof request_id, "%s", id);
}

void sim_anthropic_error(struct sim_resp *r, int status, const char *type, const char *msg)
{
    sim_resp_clear(r);
    r->status = status;
    r->content_type = "application/json";
    sj_raw(r->body, "{\"type\":\"error\",\"error\":{\"type\":");
    sj_str(r->body, type);
    sj_raw(r->body, ",\"message\":");
    sj_str(r->body, msg);
    sj_raw(r->body, "},\"request_id\":");
    sj_str(r->body, request_id);
    sj_raw(r->body, "}");
}
