/*
 * The outbox (outbox.h): queueing notifications per sink, silences, and the
 * worker that delivers each sink's queue in order on the daemon's event
 * loop, through the shared curl multi client for HTTP sinks and a short
 * socket exchange for syslog. Per sink one message is in flight at a time,
 * which keeps order; connections are reused by the multi handle.
 */
#include "outbox.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/timeutil.h"
#include "sink.h"

#define Q_PREFIX "q/"
#define D_PREFIX "d/"
#define KEY_MAX 512
#define SNIPPET_MAX 200
#define BACKOFF_BASE_MS 1000.0
#define BACKOFF_CAP_MS 300000.0
#define RETRY_AFTER_CAP_S 3600

/* ---- small helpers ---- */

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static int put_json(struct ts_batch *b, enum ts_family fam, const char *key, const json_t *v)
{
    char *txt = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    if (!txt)
        return -1;
    int rc = ts_batch_put(b, fam, key, strlen(key), txt, strlen(txt));
    free(txt);
    return rc;
}

static int64_t gen_time(const json_t *payload)
{
    int64_t t = 0;
    const char *s = jstr(payload, "generated_at");
    return tu_parse_time(s, &t) == 0 ? t : 0;
}

static int sink_wants(const struct cfg_sink *s, const json_t *payload)
{
    int sev = alert_severity_rank(jstr(payload, "severity"));
    if (sev < alert_severity_rank(s->min_severity))
        return 0;
    const json_t *rules = json_object_get(s->params, "rules");
    if (!json_is_array(rules) || json_array_size(rules) == 0)
        return 1;
    size_t i;
    const json_t *r;
    json_array_foreach(rules, i, r)
    {
        if (strcmp(json_string_value(r), jstr(payload, "rule_name")) == 0)
            return 1;
    }
    return 0;
}

/* ---- silences ---- */

/*
 * Silences live in "<data_dir>/silences.json" (a JSON array), not in the
 * store: the CLI must be able to add one while the daemon holds the store's
 * lock. Writers take "<data_dir>/silences.lock" and replace the file by
 * rename, so the daemon always reads a whole file.
 */
static int sil_path(const char *data_dir, const char *name, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%s", data_dir, name);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

json_t *alert_silences_load(const char *data_dir, char *err, size_t errlen)
{
    char path[KEY_MAX];
    if (sil_path(data_dir, "silences.json", path, sizeof path) != 0) {
        snprintf(err, errlen, "data directory path too long");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return json_array();
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    json_error_t je;
    json_t *a = json_loadf(f, 0, &je);
    fclose(f);
    if (!json_is_array(a)) {
        snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column,
                 a ? "not a JSON array" : je.text);
        json_decref(a);
        return NULL;
    }
    return a;
}

/* Runs edit(list) under the lock and writes the result back atomically. */
static int sil_update(const char *data_dir, int (*edit)(json_t *list, void *ud), void *ud,
                      char *err, size_t errlen)
{
    char lock[KEY_MAX], path[KEY_MAX], tmp[KEY_MAX];
    if (sil_path(data_dir, "silences.lock", lock, sizeof lock) ||
        sil_path(data_dir, "silences.json", path, sizeof path) ||
        sil_path(data_dir, "silences.json.tmp", tmp, sizeof tmp)) {
        snprintf(err, errlen, "data directory path too long");
        return -1;
    }
    int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lfd < 0 || flock(lfd, LOCK_EX) != 0) {
        snprintf(err, errlen, "%s: %s", lock, strerror(errno));
        if (lfd >= 0)
            close(lfd);
        return -1;
    }
    int rc = -1;
    json_t *list = alert_silences_load(data_dir, err, errlen);
    if (!list || edit(list, ud) != 0)
        goto out;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    if (json_dumpfd(list, fd, JSON_INDENT(2)) != 0 || write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
        snprintf(err, errlen, "%s: cannot write", tmp);
        close(fd);
        unlink(tmp);
        goto out;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    json_decref(list);
    flock(lfd, LOCK_UN);
    close(lfd);
    return rc;
}

static int silence_active(const json_t *s, int64_t now)
{
    int64_t from = (int64_t)json_integer_value(json_object_get(s, "starts_at"));
    int64_t to = (int64_t)json_integer_value(json_object_get(s, "ends_at"));
    return from <= now && now < to;
}

const char *alert_silenced_by(const json_t *silences, const json_t *alert, int64_t now)
{
    const json_t *labels = json_object_get(alert, "labels");
    size_t i;
    const json_t *s;
    json_array_foreach(silences, i, s)
    {
        if (!silence_active(s, now))
            continue;
        const json_t *m = json_object_get(s, "matchers");
        const char *k;
        const json_t *v;
        int all = json_object_size(m) > 0;
        json_object_foreach((json_t *)m, k, v)
        {
            /* a label, else one of the alert's own fields (rule, rule_name, severity) */
            const char *have = json_string_value(json_object_get(labels, k));
            if (!have && (strcmp(k, "rule") == 0 || strcmp(k, "rule_name") == 0 ||
                          strcmp(k, "severity") == 0))
                have = json_string_value(json_object_get(alert, k));
            if (!have || strcmp(have, json_string_value(v)) != 0) {
                all = 0;
                break;
            }
        }
        if (all)
            return jstr(s, "id");
    }
    return NULL;
}

struct sil_add {
    json_t *s;
};

static int sil_append(json_t *list, void *ud)
{
    return json_array_append(list, ((struct sil_add *)ud)->s);
}

int alert_silence_add(const char *data_dir, const char *match, int64_t dur, const char *comment,
                      int64_t now, char *id, size_t idlen, char *err, size_t errlen)
{
    json_t *m = json_object();
    char *copy = strdup(match ? match : "");
    int rc = -1;
    if (!m || !copy) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (char *p = copy, *next; p && *p; p = next) {
        next = strchr(p, ',');
        if (next)
            *next++ = '\0';
        char *eq = strchr(p, '=');
        if (!eq || eq == p || !eq[1]) {
            snprintf(err, errlen, "bad matcher \"%s\" (use label=value)", p);
            goto out;
        }
        *eq = '\0';
        json_object_set_new(m, p, json_string(eq + 1));
    }
    if (json_object_size(m) == 0) {
        snprintf(err, errlen, "no matcher given (use --match label=value[,...])");
        goto out;
    }
    if (dur <= 0) {
        snprintf(err, errlen, "the duration must be positive");
        goto out;
    }
    unsigned char rnd[8];
    if (RAND_bytes(rnd, sizeof rnd) != 1 || idlen < 17) {
        snprintf(err, errlen, "cannot make an id");
        goto out;
    }
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(id + 2 * i, 3, "%02x", rnd[i]);
    struct sil_add a = {.s = json_pack("{s:s, s:O, s:I, s:I, s:I, s:s}", "id", id, "matchers", m,
                                       "starts_at", (json_int_t)now, "ends_at",
                                       (json_int_t)now + (json_int_t)dur, "created_at",
                                       (json_int_t)now, "comment", comment ? comment : "")};
    if (!a.s)
        snprintf(err, errlen, "out of memory");
    else
        rc = sil_update(data_dir, sil_append, &a, err, errlen);
    json_decref(a.s);
out:
    json_decref(m);
    free(copy);
    return rc;
}

int alert_silence_list(const char *data_dir, int64_t now,
                       int (*cb)(const json_t *silence, void *ud), void *ud, char *err,
                       size_t errlen)
{
    json_t *all = alert_silences_load(data_dir, err, errlen);
    if (!all)
        return -1;
    size_t i;
    json_t *s;
    json_array_foreach(all, i, s)
    {
        json_object_set_new(s, "active", json_boolean(silence_active(s, now)));
        if (cb(s, ud) != 0)
            break;
    }
    json_decref(all);
    return 0;
}

struct sil_exp {
    const char *id;
    int64_t now;
    int found;
};

static int sil_expire(json_t *list, void *ud)
{
    struct sil_exp *x = ud;
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s)
    {
        if (strcmp(jstr(s, "id"), x->id) != 0)
            continue;
        x->found = 1;
        if ((int64_t)json_integer_value(json_object_get(s, "ends_at")) > x->now)
            json_object_set_new(s, "ends_at", json_integer(x->now));
    }
    return x->found ? 0 : -1;
}

int alert_silence_expire(const char *data_dir, const char *id, int64_t now, char *err,
                         size_t errlen)
{
    struct sil_exp x = {.id = id, .now = now};
    int rc = sil_update(data_dir, sil_expire, &x, err, errlen);
    if (rc != 0 && !x.found)
        snprintf(err, errlen, "no silence with id %s", id);
    return rc;
}

/* ---- queueing ---- */

/*
 * Alertmanager forgets a firing alert that is not re-sent: each run puts
 * every firing alert under "q/<sink>/~r/<fingerprint>" (after the timed
 * entries, one per alert, overwritten each run) and a resolution removes it
 * in the same batch, so a stale "firing" never follows a "resolved".
 */
static int refresh_key(char *key, size_t len, const char *sink, const char *fp)
{
    int n = snprintf(key, len, Q_PREFIX "%s/~r/%s", sink, fp);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int wants_refresh(const struct cfg_sink *s)
{
    return strcmp(s->type, "alertmanager") == 0;
}

static int put_refresh(struct ts_batch *b, const struct config *cfg, const json_t *firing_now,
                       const json_t *silences, int64_t now)
{
    size_t i;
    const json_t *p;
    json_array_foreach(firing_now, i, p)
    {
        if (alert_silenced_by(silences, p, now))
            continue;
        for (size_t k = 0; k < cfg->n_sinks; k++) {
            const struct cfg_sink *s = &cfg->sinks[k];
            char key[KEY_MAX];
            if (!wants_refresh(s) || !sink_wants(s, p) ||
                refresh_key(key, sizeof key, s->name, jstr(p, "fingerprint")) != 0)
                continue;
            json_t *e = json_pack("{s:O, s:i, s:I, s:I}", "payload", p, "attempts", 0, "enqueued",
                                  (json_int_t)now, "next_try", (json_int_t)0);
            if (!e || put_json(b, TS_OUTBOX, key, e) != 0) {
                json_decref(e);
                return -1;
            }
            json_decref(e);
        }
    }
    return 0;
}

int alert_outbox_enqueue(struct ts_store *st, struct ts_batch *b, const struct config *cfg,
                         const json_t *notifications, const json_t *firing_now, int64_t now,
                         size_t *queued, size_t *silenced, char *err, size_t errlen)
{
    *queued = *silenced = 0;
    if ((json_array_size(notifications) == 0 && json_array_size(firing_now) == 0) ||
        cfg->n_sinks == 0)
        return 0;
    (void)st;
    json_t *sil = alert_silences_load(cfg->data_dir, err, errlen);
    if (!sil)
        return -1;
    int rc = -1;
    size_t i;
    const json_t *p;
    json_array_foreach(notifications, i, p)
    {
        int64_t t = gen_time(p);
        const char *by = alert_silenced_by(sil, p, t ? t : now);
        if (by) {
            (*silenced)++;
            log_event(LOG_INFO, "alert.silenced", "fingerprint=%s status=%s silence=%s",
                      jstr(p, "fingerprint"), jstr(p, "status"), by);
            continue;
        }
        for (size_t k = 0; k < cfg->n_sinks; k++) {
            const struct cfg_sink *s = &cfg->sinks[k];
            char key[KEY_MAX];
            if (wants_refresh(s) && strcmp(jstr(p, "status"), "resolved") == 0 &&
                refresh_key(key, sizeof key, s->name, jstr(p, "fingerprint")) == 0)
                ts_batch_delete(b, TS_OUTBOX, key, strlen(key));
            if (!sink_wants(s, p))
                continue;
            int n = snprintf(key, sizeof key, Q_PREFIX "%s/%016llx/%s", s->name,
                             (unsigned long long)(t ? t : now), jstr(p, "id"));
            json_t *e = json_pack("{s:O, s:i, s:I, s:I}", "payload", p, "attempts", 0, "enqueued",
                                  (json_int_t)now, "next_try", (json_int_t)0);
            if (n < 0 || (size_t)n >= sizeof key || !e || put_json(b, TS_OUTBOX, key, e) != 0) {
                json_decref(e);
                snprintf(err, errlen, "cannot queue a delivery for sink %s", s->name);
                goto out;
            }
            json_decref(e);
            (*queued)++;
        }
    }
    if (put_refresh(b, cfg, firing_now, sil, now) != 0) {
        snprintf(err, errlen, "cannot queue the re-send of firing alerts");
        goto out;
    }
    rc = 0;
out:
    json_decref(sil);
    return rc;
}

int alert_outbox_enqueue_to(struct ts_batch *b, const struct config *cfg, char *const *sinks,
                            size_t n_sinks, const json_t *payload, int64_t now, size_t *queued,
                            char *err, size_t errlen)
{
    *queued = 0;
    int64_t t = gen_time(payload);
    for (size_t i = 0; i < n_sinks; i++) {
        for (size_t k = 0; k < cfg->n_sinks; k++) {
            const struct cfg_sink *s = &cfg->sinks[k];
            if (strcmp(s->name, sinks[i]) != 0)
                continue;
            char key[KEY_MAX];
            int n = snprintf(key, sizeof key, Q_PREFIX "%s/%016llx/%s", s->name,
                             (unsigned long long)(t ? t : now), jstr(payload, "id"));
            json_t *e = json_pack("{s:O, s:i, s:I, s:I}", "payload", payload, "attempts", 0,
                                  "enqueued", (json_int_t)now, "next_try", (json_int_t)0);
            if (n < 0 || (size_t)n >= sizeof key || !e || put_json(b, TS_OUTBOX, key, e) != 0) {
                json_decref(e);
                snprintf(err, errlen, "cannot queue a delivery for sink %s", s->name);
                return -1;
            }
            json_decref(e);
            (*queued)++;
        }
    }
    return 0;
}

static int count_cb(const void *k, size_t kl, const void *v, size_t vl, void *ud)
{
    (void)k;
    (void)kl;
    (void)v;
    (void)vl;
    (*(size_t *)ud)++;
    return 0;
}

size_t alert_outbox_pending(struct ts_store *st, const char *sink)
{
    char prefix[KEY_MAX], err[128];
    int n = sink ? snprintf(prefix, sizeof prefix, Q_PREFIX "%s/", sink)
                 : snprintf(prefix, sizeof prefix, Q_PREFIX);
    size_t count = 0;
    if (n < 0 || (size_t)n >= sizeof prefix ||
        ts_scan(st, TS_OUTBOX, prefix, (size_t)n, count_cb, &count, err, sizeof err) != 0)
        return 0;
    return count;
}

struct dead_ctx {
    int (*cb)(const json_t *, void *);
    void *ud;
};

static int dead_one(const void *k, size_t kl, const void *v, size_t vl, void *ud)
{
    (void)k;
    (void)kl;
    struct dead_ctx *d = ud;
    json_t *e = json_loadb(v, vl, 0, NULL);
    int rc = json_is_object(e) ? d->cb(e, d->ud) : 0;
    json_decref(e);
    return rc;
}

int alert_outbox_dead(struct ts_store *st, const char *sink,
                      int (*cb)(const json_t *entry, void *ud), void *ud, char *err, size_t errlen)
{
    char prefix[KEY_MAX];
    int n = sink ? snprintf(prefix, sizeof prefix, D_PREFIX "%s/", sink)
                 : snprintf(prefix, sizeof prefix, D_PREFIX);
    if (n < 0 || (size_t)n >= sizeof prefix)
        return -1;
    struct dead_ctx d = {.cb = cb, .ud = ud};
    return ts_scan(st, TS_OUTBOX, prefix, (size_t)n, dead_one, &d, err, errlen);
}

/* ---- syslog transport ---- */

/* Writes all of buf to fd (or ssl) before the deadline. 0 ok. */
static int send_all(int fd, SSL *ssl, const char *buf, size_t len, int timeout_ms)
{
    size_t off = 0;
    while (off < len) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (poll(&pfd, 1, timeout_ms) <= 0)
            return -1;
        ssize_t w = ssl ? SSL_write(ssl, buf + off, (int)(len - off))
                        : send(fd, buf + off, len - off, MSG_NOSIGNAL);
        if (w <= 0) {
            if (!ssl && (errno == EAGAIN || errno == EINTR))
                continue;
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

/*
 * Sends one RFC 5424 message: a datagram (udp), or octet-counted framing
 * (RFC 6587) over TCP or TLS (verified against the system CAs or ca_file).
 * 0 ok, -1 with err (a transport failure: the caller retries).
 */
static int syslog_send(const struct cfg_sink *cfg, const char *msg, size_t len, int timeout_ms,
                       char *err, size_t errlen)
{
    const char *addr = json_string_value(json_object_get(cfg->params, "address"));
    const char *proto = json_string_value(json_object_get(cfg->params, "protocol"));
    const char *ca = json_string_value(json_object_get(cfg->params, "ca_file"));
    char host[256], port[16];
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    if (!colon || (size_t)(colon - addr) >= sizeof host || strlen(colon + 1) >= sizeof port) {
        snprintf(err, errlen, "bad address");
        return -1;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    snprintf(port, sizeof port, "%s", colon + 1);
    int udp = proto && strcmp(proto, "udp") == 0, tls = proto && strcmp(proto, "tls") == 0;
    struct addrinfo hints = {.ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM}, *ai = NULL;
    int g = getaddrinfo(host, port, &hints, &ai);
    if (g != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(g));
        return -1;
    }
    int fd = -1, rc = -1;
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    char *frame = NULL;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        if (!json_is_true(json_object_get(cfg->params, "allow_private")) &&
            col_http_is_private_addr(a->ai_addr))
            continue;
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
            close(fd);
            fd = -1;
            continue;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (poll(&pfd, 1, timeout_ms) <= 0 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        snprintf(err, errlen, "cannot connect to %s", addr);
        return -1;
    }
    if (udp) {
        rc = send(fd, msg, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
        if (rc)
            snprintf(err, errlen, "send failed: %s", strerror(errno));
        goto out;
    }
    if (tls) {
        int flags = 0;
        ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
            (ca ? SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1
                : SSL_CTX_set_default_verify_paths(ctx) != 1)) {
            snprintf(err, errlen, "cannot set up TLS");
            goto out;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        ssl = SSL_new(ctx);
        if (!ssl || SSL_set_tlsext_host_name(ssl, host) != 1 || SSL_set1_host(ssl, host) != 1 ||
            SSL_set_fd(ssl, fd) != 1) {
            snprintf(err, errlen, "cannot set up TLS");
            goto out;
        }
        for (;;) {
            int r = SSL_connect(ssl);
            if (r == 1)
                break;
            int e = SSL_get_error(ssl, r);
            struct pollfd pfd = {.fd = fd, .events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
            if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) ||
                poll(&pfd, 1, timeout_ms) <= 0) {
                snprintf(err, errlen, "TLS handshake with %s failed (certificate not trusted?)",
                         addr);
                goto out;
            }
        }
        (void)flags;
    }
    size_t flen = len + 24;
    frame = malloc(flen);
    int h = frame ? snprintf(frame, flen, "%zu ", len) : -1;
    if (h < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    memcpy(frame + h, msg, len);
    rc = send_all(fd, ssl, frame, (size_t)h + len, timeout_ms);
    if (rc)
        snprintf(err, errlen, "write to %s failed", addr);
out:
    free(frame);
    if (ssl) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    SSL_CTX_free(ctx);
    close(fd);
    return rc;
}

/* ---- the worker ---- */

enum verdict { V_OK, V_RETRY, V_DROP };

struct entry {
    char *key;
    json_t *e; /* {"payload","attempts","enqueued","next_try"} */
};

struct sink_state {
    struct alert_worker *w;
    const struct cfg_sink *cfg;
    const struct alert_sink_ops *ops;
    void *ctx;
    int64_t max_age;
    long timeout_ms;
    size_t digest_over;
    int busy;     /* a message is in flight */
    long http_id; /* its transfer, cancelled if the worker is freed first */
    int stalled;  /* once mode: gave up after a RETRY */
    int waiting;  /* a retry timer is armed */
    int attempts; /* consecutive RETRY results */
    struct entry *batch;
    size_t n_batch;
    char *cursor; /* the next scan starts here: just past the last key sent or dropped */
    size_t cursor_len;
    struct event *timer;
    struct log_complaint complaint;
};

struct alert_worker {
    struct alert_worker_opts o;
    size_t dead; /* deliveries moved to the dead-letter list by this worker */
    struct sink_state *sinks;
    size_t n;
    struct event *kick_ev;
};

static void sink_next(struct sink_state *s);
void alert_worker_kick(struct alert_worker *w);

static void batch_free(struct sink_state *s)
{
    for (size_t i = 0; i < s->n_batch; i++) {
        free(s->batch[i].key);
        json_decref(s->batch[i].e);
    }
    free(s->batch);
    s->batch = NULL;
    s->n_batch = 0;
}

struct load_ctx {
    struct sink_state *s;
    size_t cap;
    int oom;
};

static int load_one(const void *key, size_t klen, const void *val, size_t vlen, void *ud)
{
    struct load_ctx *l = ud;
    struct sink_state *s = l->s;
    if (s->n_batch == l->cap)
        return 1;
    json_t *e = json_loadb(val, vlen, 0, NULL);
    char *k = malloc(klen + 1);
    if (!k || !json_is_object(e)) {
        free(k);
        json_decref(e);
        l->oom = !k;
        return !k;
    }
    memcpy(k, key, klen);
    k[klen] = '\0';
    s->batch[s->n_batch++] = (struct entry){.key = k, .e = e};
    return 0;
}

static int64_t w_now(const struct alert_worker *w)
{
    return w->o.now ? w->o.now(w->o.ud) : (int64_t)time(NULL);
}

static int all_idle(const struct alert_worker *w)
{
    for (size_t i = 0; i < w->n; i++) {
        if (w->sinks[i].busy)
            return 0;
    }
    return 1;
}

static void maybe_idle(struct alert_worker *w)
{
    if (w->o.on_idle && all_idle(w))
        w->o.on_idle(w->o.ud);
}

/*
 * Remembers the key just past entry i of the batch, so the next scan of the
 * queue does not step over the tombstones of what was just deleted.
 */
static void advance_cursor(struct sink_state *s, size_t i)
{
    size_t kl = strlen(s->batch[i].key);
    char *c = malloc(kl + 1);
    if (!c)
        return;                         /* the next scan just starts from the front */
    memcpy(c, s->batch[i].key, kl + 1); /* with its NUL: the smallest key after it */
    free(s->cursor);
    s->cursor = c;
    s->cursor_len = kl + 1;
}

/* Puts the batch's entries under the dead-letter prefix with why. */
static void dead_letter(struct sink_state *s, size_t from, size_t to, const char *reason,
                        long status, const char *snippet)
{
    struct ts_batch *b = ts_batch_new();
    char err[256];
    int64_t now = w_now(s->w);
    for (size_t i = from; b && i < to; i++) {
        const json_t *p = json_object_get(s->batch[i].e, "payload");
        char key[KEY_MAX];
        snprintf(key, sizeof key, D_PREFIX "%s/%016llx/%s", s->cfg->name, (unsigned long long)now,
                 jstr(p, "id"));
        json_t *d =
            json_pack("{s:O, s:s, s:s, s:i, s:O, s:I}", "payload", p, "sink", s->cfg->name,
                      "reason", reason, "status", (int)status, "attempts",
                      json_object_get(s->batch[i].e, "attempts"), "dead_at", (json_int_t)now);
        if (d && snippet)
            json_object_set_new(d, "response", json_string(snippet));
        if (d)
            put_json(b, TS_OUTBOX, key, d);
        json_decref(d);
        ts_batch_delete(b, TS_OUTBOX, s->batch[i].key, strlen(s->batch[i].key));
        s->w->dead++;
        log_event(LOG_ERROR, "sink.dead_letter", "sink=%s id=%s reason=\"%s\" status=%ld",
                  s->cfg->name, jstr(p, "id"), reason, status);
    }
    if (b && ts_write(s->w->o.st, b, err, sizeof err) != 0)
        log_event(LOG_ERROR, "sink.store_failed", "sink=%s reason=\"%s\"", s->cfg->name, err);
    ts_batch_free(b);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sink_state *s = arg;
    s->waiting = 0;
    sink_next(s);
}

static double rnd01(void)
{
    unsigned int r = 0;
    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
        r = (unsigned int)clock();
    return (double)r / 4294967296.0;
}

static long retry_after_ms(const char *h, int64_t now)
{
    if (!h || !*h)
        return -1;
    char *end;
    long v = strtol(h, &end, 10);
    if (end != h && *end == '\0' && v >= 0)
        return (v > RETRY_AFTER_CAP_S ? RETRY_AFTER_CAP_S : v) * 1000L;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (strptime(h, "%a, %d %b %Y %H:%M:%S GMT", &tm)) {
        int64_t t = (int64_t)timegm(&tm) - now;
        if (t < 0)
            t = 0;
        return (long)((t > RETRY_AFTER_CAP_S ? RETRY_AFTER_CAP_S : t) * 1000);
    }
    return -1;
}

/* Applies an attempt's verdict to the batch and moves on. */
static void conclude(struct sink_state *s, enum verdict v, long status, const char *why,
                     const char *retry_after, const char *snippet)
{
    struct alert_worker *w = s->w;
    char err[256];
    int64_t now = w_now(w);
    s->busy = 0;
    if (v == V_OK) {
        struct ts_batch *b = ts_batch_new();
        for (size_t i = 0; b && i < s->n_batch; i++)
            ts_batch_delete(b, TS_OUTBOX, s->batch[i].key, strlen(s->batch[i].key));
        if (!b || ts_write(w->o.st, b, err, sizeof err) != 0)
            log_event(LOG_ERROR, "sink.store_failed", "sink=%s reason=\"%s\"", s->cfg->name,
                      b ? err : "out of memory");
        ts_batch_free(b);
        log_event(LOG_INFO, "sink.delivered", "sink=%s alerts=%zu status=%ld", s->cfg->name,
                  s->n_batch, status);
        if (s->n_batch)
            advance_cursor(s, s->n_batch - 1);
        if (s->attempts)
            log_release(&s->complaint, "sink.recovered", "sink=%s", s->cfg->name);
        s->attempts = 0;
        batch_free(s);
        alert_worker_kick(w); /* the next message, from the loop (no recursion) */
        return;
    }
    if (v == V_DROP) {
        dead_letter(s, 0, s->n_batch, why, status, snippet);
        if (s->n_batch)
            advance_cursor(s, s->n_batch - 1);
        batch_free(s);
        alert_worker_kick(w);
        return;
    }
    /* RETRY: count the attempt on each entry, then wait (or, once, give up for now) */
    s->attempts++;
    struct ts_batch *b = ts_batch_new();
    for (size_t i = 0; b && i < s->n_batch; i++) {
        json_t *e = s->batch[i].e;
        json_object_set_new(e, "attempts",
                            json_integer(json_integer_value(json_object_get(e, "attempts")) + 1));
        json_object_set_new(e, "last_error", json_string(why));
        put_json(b, TS_OUTBOX, s->batch[i].key, e);
    }
    if (b && ts_write(w->o.st, b, err, sizeof err) != 0)
        log_event(LOG_ERROR, "sink.store_failed", "sink=%s reason=\"%s\"", s->cfg->name, err);
    ts_batch_free(b);
    long delay = retry_after_ms(retry_after, now);
    if (delay < 0) {
        double cap = BACKOFF_BASE_MS * pow(2, s->attempts - 1);
        if (cap > BACKOFF_CAP_MS)
            cap = BACKOFF_CAP_MS;
        delay = (long)(cap * rnd01());
    }
    log_complain(&s->complaint, time(NULL), LOG_WARN, "sink.retry",
                 "sink=%s alerts=%zu status=%ld reason=\"%s\" retry_in_ms=%ld attempt=%d",
                 s->cfg->name, s->n_batch, status, why, w->o.once ? -1L : delay, s->attempts);
    batch_free(s);
    if (w->o.once) {
        s->stalled = 1;
        maybe_idle(w);
        return;
    }
    struct timeval tv = {.tv_sec = delay / 1000, .tv_usec = (delay % 1000) * 1000};
    s->waiting = 1;
    evtimer_add(s->timer, &tv);
}

static void snippet_of(const char *body, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; body && i < len && n + 1 < cap && n < SNIPPET_MAX; i++)
        out[n++] = (body[i] >= 0x20 && body[i] < 0x7f) ? body[i] : ' ';
    out[n] = '\0';
}

static void on_http_done(const struct col_http_result *r, void *ud)
{
    struct sink_state *s = ud;
    s->http_id = 0;
    char why[256], snip[SNIPPET_MAX + 1];
    snippet_of(r->body, r->len, snip, sizeof snip);
    if (r->curl_code != CURLE_OK || r->status == 0) {
        snprintf(why, sizeof why, "transport: %s", r->error && *r->error ? r->error : "failed");
        conclude(s, V_RETRY, 0, why, NULL, NULL);
    } else if (r->status >= 200 && r->status < 300) {
        conclude(s, V_OK, r->status, "", NULL, NULL);
    } else if (r->status == 408 || r->status == 429 || r->status >= 500) {
        snprintf(why, sizeof why, "HTTP %ld", r->status);
        conclude(s, V_RETRY, r->status, why, r->retry_after, snip);
    } else {
        snprintf(why, sizeof why, "HTTP %ld (the sink refused the message)", r->status);
        conclude(s, V_DROP, r->status, why, NULL, snip);
    }
}

/* Chooses how many queued entries the next message carries. */
static size_t batch_size(const struct sink_state *s)
{
    if (strcmp(s->ops->type, "slack") != 0)
        return s->n_batch;
    /* Slack: one message per alert, unless one cycle produced more than digest_over */
    size_t same = 1;
    int64_t t0 = gen_time(json_object_get(s->batch[0].e, "payload"));
    while (same < s->n_batch && gen_time(json_object_get(s->batch[same].e, "payload")) == t0)
        same++;
    return same > s->digest_over ? same : 1;
}

static void sink_next(struct sink_state *s)
{
    struct alert_worker *w = s->w;
    char prefix[KEY_MAX], err[512];
    if (s->busy || s->waiting || s->stalled)
        return;
    for (;;) {
        int n = snprintf(prefix, sizeof prefix, Q_PREFIX "%s/", s->cfg->name);
        size_t cap = s->ops->max_batch ? s->ops->max_batch : 1;
        if (strcmp(s->ops->type, "slack") == 0 && cap < s->digest_over + 1)
            cap = s->digest_over + 1;
        s->batch = calloc(cap, sizeof *s->batch);
        struct load_ctx l = {.s = s, .cap = cap};
        if (!s->batch ||
            ts_scan_from(w->o.st, TS_OUTBOX, prefix, (size_t)n, s->cursor, s->cursor_len, load_one,
                         &l, err, sizeof err) != 0 ||
            l.oom) {
            log_event(LOG_ERROR, "sink.store_failed", "sink=%s reason=\"cannot read the queue\"",
                      s->cfg->name);
            batch_free(s);
            break;
        }
        if (s->n_batch == 0) {
            batch_free(s);
            if (s->cursor) {
                /* nothing after the cursor: look once more from the front, where a
                 * backtest or a re-sent Alertmanager entry may have put something */
                free(s->cursor);
                s->cursor = NULL;
                s->cursor_len = 0;
                continue;
            }
            break;
        }
        /* too old to be worth sending: dead letter */
        int64_t now = w_now(w);
        size_t fresh = 0;
        while (fresh < s->n_batch &&
               now - (int64_t)json_integer_value(json_object_get(s->batch[fresh].e, "enqueued")) >
                   s->max_age)
            fresh++;
        if (fresh > 0) {
            dead_letter(s, 0, fresh, "older than max_age", 0, NULL);
            advance_cursor(s, fresh - 1);
            batch_free(s);
            continue;
        }
        size_t take = batch_size(s);
        for (size_t i = take; i < s->n_batch; i++) {
            free(s->batch[i].key);
            json_decref(s->batch[i].e);
        }
        s->n_batch = take;
        const json_t *alerts[256];
        size_t na = take < 256 ? take : 256;
        for (size_t i = 0; i < na; i++)
            alerts[i] = json_object_get(s->batch[i].e, "payload");
        struct alert_msg m = {0};
        if (s->ops->format(s->ctx, alerts, na, now, &m, err, sizeof err) != 0) {
            alert_msg_free(&m);
            dead_letter(s, 0, s->n_batch, err, 0, NULL);
            batch_free(s);
            continue;
        }
        s->busy = 1;
        if (s->ops->transport == ALERT_SYSLOG) {
            char why[256];
            int rc = syslog_send(s->cfg, m.body, m.len, (int)s->timeout_ms, why, sizeof why);
            alert_msg_free(&m);
            conclude(s, rc == 0 ? V_OK : V_RETRY, 0, rc == 0 ? "" : why, NULL, NULL);
            return; /* conclude queued the next message */
        }
        struct curl_slist *hl = NULL;
        for (size_t i = 0; i < m.n_headers; i++) {
            struct curl_slist *t = curl_slist_append(hl, m.headers[i]);
            if (!t)
                break;
            hl = t;
        }
        struct col_http_request rq = {
            .url = m.url,
            .headers = hl,
            .timeout_ms = s->timeout_ms,
            .body = m.body,
            .body_len = m.len,
            .block_private = !json_is_true(json_object_get(s->cfg->params, "allow_private")),
            .fresh_connect = w->o.fresh_connect,
            .done = on_http_done,
            .ud = s,
        };
        long id = m.url ? col_http_get(w->o.http, &rq) : -1;
        s->http_id = id > 0 ? id : 0;
        if (!m.url)
            curl_slist_free_all(hl);
        alert_msg_free(&m);
        if (id < 0) {
            s->busy = 0;
            conclude(s, V_RETRY, 0, "the request could not start", NULL, NULL);
        }
        return;
    }
    /* idleness is judged by on_kick once every sink had its turn */
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct alert_worker *w = arg;
    for (size_t i = 0; i < w->n; i++)
        sink_next(&w->sinks[i]);
    maybe_idle(w);
}

void alert_worker_kick(struct alert_worker *w)
{
    if (w)
        event_active(w->kick_ev, EV_TIMEOUT, 0);
}

size_t alert_worker_dead(const struct alert_worker *w)
{
    return w ? w->dead : 0;
}

int alert_worker_idle(const struct alert_worker *w)
{
    return !w || all_idle(w);
}

int alert_worker_new(const struct alert_worker_opts *o, struct alert_worker **out, char *err,
                     size_t errlen)
{
    struct alert_worker *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->o = *o;
    w->sinks = calloc(o->cfg->n_sinks ? o->cfg->n_sinks : 1, sizeof *w->sinks);
    w->kick_ev = event_new(o->base, -1, 0, on_kick, w);
    if (!w->sinks || !w->kick_ev) {
        snprintf(err, errlen, "out of memory");
        alert_worker_free(w);
        return -1;
    }
    for (size_t i = 0; i < o->cfg->n_sinks; i++) {
        const struct cfg_sink *c = &o->cfg->sinks[i];
        struct sink_state *s = &w->sinks[w->n];
        char msg[512];
        s->ops = alert_sink_find(c->type);
        if (!s->ops) {
            snprintf(err, errlen, "sink %s: type %s is not supported", c->name, c->type);
            alert_worker_free(w);
            return -1;
        }
        if (s->ops->init(c, &s->ctx, msg, sizeof msg) != 0) {
            snprintf(err, errlen, "sink %s: %s", c->name, msg);
            alert_worker_free(w);
            return -1;
        }
        s->w = w;
        s->cfg = c;
        int64_t d = 0;
        s->max_age = tu_parse_duration(jstr(c->params, "max_age"), &d) == 0 ? d : 72LL * 3600;
        s->timeout_ms =
            (tu_parse_duration(jstr(c->params, "timeout"), &d) == 0 && d > 0 ? d : 10) * 1000L;
        json_int_t dg = json_integer_value(json_object_get(c->params, "digest_over"));
        s->digest_over = dg > 0 ? (size_t)dg : 5;
        s->timer = evtimer_new(o->base, on_timer, s);
        if (!s->timer) {
            snprintf(err, errlen, "out of memory");
            s->ops->destroy(s->ctx);
            alert_worker_free(w);
            return -1;
        }
        w->n++;
    }
    *out = w;
    return 0;
}

void alert_worker_free(struct alert_worker *w)
{
    if (!w)
        return;
    for (size_t i = 0; w->sinks && i < w->n; i++) {
        struct sink_state *s = &w->sinks[i];
        if (s->http_id)
            col_http_cancel(w->o.http, s->http_id); /* its entries stay queued */
        if (s->timer)
            event_free(s->timer);
        batch_free(s);
        free(s->cursor);
        if (s->ops && s->ops->destroy)
            s->ops->destroy(s->ctx);
    }
    if (w->kick_ev)
        event_free(w->kick_ev);
    free(w->sinks);
    free(w);
}

/* ---- sink-test ---- */

struct once_ctx {
    struct event_base *base;
    int done;
    enum verdict v;
    char why[256];
};

static void once_done(const struct col_http_result *r, void *ud)
{
    struct once_ctx *o = ud;
    o->done = 1;
    if (r->curl_code != CURLE_OK || r->status == 0) {
        o->v = V_RETRY;
        snprintf(o->why, sizeof o->why, "transport error: %s",
                 r->error && *r->error ? r->error : "failed");
    } else if (r->status >= 200 && r->status < 300) {
        o->v = V_OK;
        snprintf(o->why, sizeof o->why, "HTTP %ld", r->status);
    } else {
        char snip[SNIPPET_MAX + 1];
        snippet_of(r->body, r->len, snip, sizeof snip);
        o->v = (r->status == 408 || r->status == 429 || r->status >= 500) ? V_RETRY : V_DROP;
        snprintf(o->why, sizeof o->why, "HTTP %ld: %s", r->status, snip);
    }
    event_base_loopbreak(o->base);
}

int alert_sink_send_once(const struct config *cfg, const struct cfg_sink *sink,
                         const json_t *payload, int64_t now, char *err, size_t errlen)
{
    (void)cfg;
    const struct alert_sink_ops *ops = alert_sink_find(sink->type);
    void *ctx = NULL;
    struct alert_msg m = {0};
    struct event_base *base = NULL;
    struct col_http *http = NULL;
    int rc = -1;
    char msg[512];
    if (!ops || ops->init(sink, &ctx, msg, sizeof msg) != 0) {
        snprintf(err, errlen, "%s", ops ? msg : "unsupported sink type");
        return -1;
    }
    const json_t *one[1] = {payload};
    int64_t d = 0;
    long timeout_ms =
        (tu_parse_duration(jstr(sink->params, "timeout"), &d) == 0 && d > 0 ? d : 10) * 1000L;
    if (ops->format(ctx, one, 1, now, &m, msg, sizeof msg) != 0) {
        snprintf(err, errlen, "cannot format: %s", msg);
        goto out;
    }
    if (ops->transport == ALERT_SYSLOG) {
        rc = syslog_send(sink, m.body, m.len, (int)timeout_ms, err, errlen);
        goto out;
    }
    base = event_base_new();
    if (!base || col_http_new(base, &http, msg, sizeof msg) != 0) {
        snprintf(err, errlen, "cannot start the HTTP client");
        goto out;
    }
    struct curl_slist *hl = NULL;
    for (size_t i = 0; i < m.n_headers; i++)
        hl = curl_slist_append(hl, m.headers[i]);
    struct once_ctx o = {.base = base};
    struct col_http_request rq = {
        .url = m.url,
        .headers = hl,
        .timeout_ms = timeout_ms,
        .body = m.body,
        .body_len = m.len,
        .block_private = !json_is_true(json_object_get(sink->params, "allow_private")),
        .done = once_done,
        .ud = &o,
    };
    if (!m.url || col_http_get(http, &rq) < 0) {
        if (!m.url)
            curl_slist_free_all(hl);
        snprintf(err, errlen, "the request could not start (refused address or URL)");
        goto out;
    }
    event_base_dispatch(base);
    if (!o.done) {
        snprintf(err, errlen, "no answer");
        goto out;
    }
    snprintf(err, errlen, "%s", o.why);
    rc = o.v == V_OK ? 0 : -1;
out:
    alert_msg_free(&m);
    col_http_free(http);
    if (base)
        event_base_free(base);
    ops->destroy(ctx);
    return rc;
}
