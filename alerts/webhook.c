/*
 * The generic webhook sink (sink.h): POSTs each alert payload exactly as the
 * lifecycle built it (INTERFACE.md "The alert"), one per request, with the
 * delivery id in X-Byokwatch-Delivery, optional custom headers, bearer or
 * basic auth, and with hmac_secret_* an X-Byokwatch-Signature of
 * "t=<now>,v1=<hex HMAC-SHA256 of "<now>.<body>">" that receivers check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sink.h"

struct webhook {
    char *url;  /* may come from a secret */
    char *hmac; /* secret, or NULL */
    size_t hmac_len;
    char *auth;      /* the whole Authorization value ("Bearer x", "Basic y"), or NULL */
    json_t *headers; /* custom headers: object of name -> value (validated by config) */
};

static void webhook_destroy(void *ctx)
{
    struct webhook *w = ctx;
    if (!w)
        return;
    alert_wipe_free(w->url);
    alert_wipe_free(w->hmac);
    alert_wipe_free(w->auth);
    json_decref(w->headers);
    free(w);
}

/*
 * Standard base64 (RFC 4648, with padding) of in[0..n) into a new string;
 * NULL when out of memory.
 */
static char *base64(const unsigned char *in, size_t n)
{
    static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        *o++ = T[v >> 18 & 63];
        *o++ = T[v >> 12 & 63];
        *o++ = T[v >> 6 & 63];
        *o++ = T[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0);
        *o++ = T[v >> 18 & 63];
        *o++ = T[v >> 12 & 63];
        *o++ = i + 1 < n ? T[v >> 6 & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

static int webhook_init(const struct cfg_sink *cfg, void **ctx, char *err, size_t errlen)
{
    const json_t *p = cfg->params;
    struct webhook *w = calloc(1, sizeof *w);
    char *tok = NULL, *pass = NULL, *pair = NULL;
    if (!w)
        goto oom;
    const char *plain = json_string_value(json_object_get(p, "url"));
    if (plain) {
        if (!(w->url = strdup(plain)))
            goto oom;
    } else if (alert_param_secret(p, "url", &w->url, err, errlen) < 0) {
        goto fail;
    } else if (!w->url) {
        snprintf(err, errlen, "url: missing (give url, url_env or url_file)");
        goto fail;
    }
    if (alert_has_ctl(w->url) || strchr(w->url, ' ')) {
        snprintf(err, errlen, "url: contains spaces or control characters");
        goto fail;
    }
    if (alert_param_secret(p, "hmac_secret", &w->hmac, err, errlen) < 0 ||
        alert_param_secret(p, "bearer_token", &tok, err, errlen) < 0 ||
        alert_param_secret(p, "basic_password", &pass, err, errlen) < 0)
        goto fail;
    w->hmac_len = w->hmac ? strlen(w->hmac) : 0;
    const char *user = json_string_value(json_object_get(p, "basic_user"));
    if (tok) {
        if (alert_has_ctl(tok)) {
            snprintf(err, errlen, "bearer_token: the token contains control characters");
            goto fail;
        }
        size_t n = strlen(tok) + sizeof "Bearer ";
        if (!(w->auth = malloc(n)))
            goto oom;
        snprintf(w->auth, n, "Bearer %s", tok);
    } else if (user && pass) {
        size_t n = strlen(user) + strlen(pass) + 2;
        if (!(pair = malloc(n)))
            goto oom;
        snprintf(pair, n, "%s:%s", user, pass);
        char *b64 = base64((const unsigned char *)pair, n - 1);
        if (!b64)
            goto oom;
        size_t m = strlen(b64) + sizeof "Basic ";
        w->auth = malloc(m);
        if (w->auth)
            snprintf(w->auth, m, "Basic %s", b64);
        alert_wipe_free(b64);
        if (!w->auth)
            goto oom;
    } else if (user || pass) {
        snprintf(err, errlen, "basic_user and basic_password_env/_file go together");
        goto fail;
    }
    json_t *h = json_object_get(p, "headers");
    if (h && !(w->headers = json_deep_copy(h)))
        goto oom;
    alert_wipe_free(tok);
    alert_wipe_free(pass);
    alert_wipe_free(pair);
    *ctx = w;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    alert_wipe_free(tok);
    alert_wipe_free(pass);
    alert_wipe_free(pair);
    webhook_destroy(w);
    return -1;
}

/* hex HMAC-SHA256(key, "<t>.<body>") into hex (65 bytes). 0 ok. */
static int sign(const struct webhook *w, int64_t t, const char *body, size_t len, char hex[65])
{
    char ts[32];
    int tn = snprintf(ts, sizeof ts, "%lld.", (long long)t);
    unsigned char *msg = malloc((size_t)tn + len), md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!msg)
        return -1;
    memcpy(msg, ts, (size_t)tn);
    memcpy(msg + tn, body, len);
    unsigned char *r =
        HMAC(EVP_sha256(), w->hmac, (int)w->hmac_len, msg, (size_t)tn + len, md, &mdlen);
    free(msg);
    if (!r || mdlen != 32)
        return -1;
    for (size_t i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/*
 * The body is json_dumps(alert, JSON_COMPACT | JSON_REAL_PRECISION(15)):
 * compact, keys in the payload's own order, numbers at 15 significant
 * digits (212.4, not 212.40000000000001). Exactly one alert per message.
 */
static int webhook_format(void *ctx, const json_t *const *alerts, size_t n, int64_t now,
                          struct alert_msg *out, char *err, size_t errlen)
{
    struct webhook *w = ctx;
    *out = (struct alert_msg){0};
    if (n != 1 || !alerts || !json_is_object(alerts[0])) {
        snprintf(err, errlen, "the webhook sink sends exactly one alert object per request");
        return -1;
    }
    const char *id = json_string_value(json_object_get(alerts[0], "id"));
    if (id && alert_has_ctl(id)) {
        snprintf(err, errlen, "the alert id contains control characters");
        return -1;
    }
    out->body = json_dumps(alerts[0], JSON_COMPACT | JSON_REAL_PRECISION(15));
    out->url = strdup(w->url);
    if (!out->body || !out->url)
        goto oom;
    out->len = strlen(out->body);
    if (alert_msg_header(out, "Content-Type: application/json") < 0 ||
        (id && alert_msg_header(out, "X-Byokwatch-Delivery: %s", id) < 0))
        goto oom;
    if (w->hmac) {
        char hex[65];
        if (sign(w, now, out->body, out->len, hex) < 0) {
            alert_msg_free(out);
            snprintf(err, errlen, "HMAC-SHA256 failed");
            return -1;
        }
        if (alert_msg_header(out, "X-Byokwatch-Signature: t=%lld,v1=%s", (long long)now, hex) < 0)
            goto oom;
    }
    if (w->auth && alert_msg_header(out, "Authorization: %s", w->auth) < 0)
        goto oom;
    const char *k;
    json_t *v;
    json_object_foreach(w->headers, k, v)
    {
        const char *hv = json_string_value(v);
        if (!hv || alert_has_ctl(k) || alert_has_ctl(hv)) {
            alert_msg_free(out);
            snprintf(err, errlen, "custom header %s: not a one-line string", k);
            return -1;
        }
        if (alert_msg_header(out, "%s: %s", k, hv) < 0) {
            alert_msg_free(out);
            snprintf(err, errlen, "too many headers (at most %d in all)", ALERT_MAX_HEADERS);
            return -1;
        }
    }
    return 0;
oom:
    alert_msg_free(out);
    snprintf(err, errlen, "out of memory formatting the webhook request");
    return -1;
}

const struct alert_sink_ops alert_sink_webhook = {
    .type = "webhook",
    .transport = ALERT_HTTP,
    .max_batch = 1,
    .init = webhook_init,
    .format = webhook_format,
    .destroy = webhook_destroy,
};
