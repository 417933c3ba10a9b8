/*
 * curl multi-socket on libevent: curl tells us which sockets to watch and
 * when its timer fires (sock_cb, timer_cb); libevent tells curl when a
 * socket is ready (event_cb) or the timer expired (timeout_cb); finished
 * transfers are collected in check_done and handed to their callbacks.
 */
#include "http.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/log.h"

struct xfer {
    long id;
    CURL *easy;
    struct col_http *h;
    struct curl_slist *headers;
    char *url;
    char *ca_file;
    char *body; /* the response */
    size_t len, cap;
    char *post; /* the request body (POST), or NULL for GET */
    int too_big;
    char *retry_after;
    char *rl_reset;
    char *ctype;
    char errbuf[CURL_ERROR_SIZE];
    void (*done)(const struct col_http_result *res, void *ud);
    void *ud;
    struct xfer *prev, *next;
};

struct sockinfo {
    curl_socket_t fd;
    struct event *ev;
};

struct col_http {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct xfer *head;
    size_t active;
    long next_id;
};

static void check_done(struct col_http *h);

static void xfer_free(struct xfer *x)
{
    if (!x)
        return;
    if (x->easy)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    free(x->url);
    free(x->ca_file);
    free(x->body);
    free(x->post);
    free(x->retry_after);
    free(x->rl_reset);
    free(x->ctype);
    free(x);
}

static void xfer_unlink(struct col_http *h, struct xfer *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        h->head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
    h->active--;
}

static void event_cb(evutil_socket_t fd, short kind, void *arg)
{
    struct col_http *h = arg;
    int action =
        ((kind & EV_READ) ? CURL_CSELECT_IN : 0) | ((kind & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running = 0;
    curl_multi_socket_action(h->multi, fd, action, &running);
    /* No "nothing running: drop the timer" here (hiperfifo does it): a
     * completion callback may have started a new transfer whose first
     * timeout curl has just asked for. curl clears its timer itself. */
    check_done(h);
}

static void timeout_cb(evutil_socket_t fd, short kind, void *arg)
{
    (void)fd;
    (void)kind;
    struct col_http *h = arg;
    int running = 0;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct col_http *h = userp;
    if (timeout_ms < 0) {
        evtimer_del(h->timer);
        return 0;
    }
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    evtimer_add(h->timer, &tv);
    return 0;
}

static int sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    struct col_http *h = userp;
    struct sockinfo *si = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (si) {
            event_free(si->ev);
            free(si);
            curl_multi_assign(h->multi, s, NULL);
        }
        return 0;
    }
    short kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) |
                         ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);
    if (!si) {
        si = calloc(1, sizeof *si);
        if (!si)
            return -1;
        si->fd = s;
        curl_multi_assign(h->multi, s, si);
    } else {
        event_free(si->ev);
    }
    si->ev = event_new(h->base, s, kind, event_cb, h);
    if (!si->ev)
        return -1;
    event_add(si->ev, NULL);
    return 0;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct xfer *x = userdata;
    size_t n = size * nmemb;
    if (x->len + n > COL_HTTP_MAX_BODY) {
        x->too_big = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (x->len + n + 1 > x->cap) {
        size_t ncap = x->cap ? x->cap : 16384;
        while (ncap < x->len + n + 1)
            ncap *= 2;
        char *nb = realloc(x->body, ncap);
        if (!nb)
            return 0;
        x->body = nb;
        x->cap = ncap;
    }
    memcpy(x->body + x->len, ptr, n);
    x->len += n;
    x->body[x->len] = '\0';
    return n;
}

/* Keeps a header value when the name matches; trims spaces and CR/LF. */
static void keep_header(const char *line, size_t n, const char *name, char **slot)
{
    size_t nl = strlen(name);
    if (n <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    const char *v = line + nl + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    free(*slot);
    *slot = strndup(v, (size_t)(end - v));
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct xfer *x = userdata;
    size_t n = size * nitems;
    if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        /* a new response (after 100-continue or a redirect): forget earlier headers */
        free(x->retry_after);
        free(x->rl_reset);
        free(x->ctype);
        x->retry_after = x->rl_reset = x->ctype = NULL;
    }
    keep_header(buf, n, "retry-after", &x->retry_after);
    keep_header(buf, n, "x-ratelimit-reset-requests", &x->rl_reset);
    keep_header(buf, n, "anthropic-ratelimit-requests-reset", &x->rl_reset);
    keep_header(buf, n, "content-type", &x->ctype);
    return n;
}

static void check_done(struct col_http *h)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result;
        struct xfer *x = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(h->multi, easy);
        if (!x)
            continue;
        xfer_unlink(h, x);
        struct col_http_result res = {.curl_code = code};
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &res.status);
        curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &res.seconds);
        res.body = x->body ? x->body : (char *)"";
        res.len = x->len;
        res.retry_after = x->retry_after;
        res.ratelimit_reset = x->rl_reset;
        res.content_type = x->ctype;
        res.too_big = x->too_big || code == CURLE_FILESIZE_EXCEEDED;
        if (res.too_big)
            res.error = "response body over 32 MiB";
        else if (code != CURLE_OK)
            res.error = x->errbuf[0] ? x->errbuf : curl_easy_strerror(code);
        else
            res.error = "";
        if (x->done)
            x->done(&res, x->ud);
        xfer_free(x);
    }
}

int col_http_new(struct event_base *base, struct col_http **out, char *err, size_t errlen)
{
    static int global_done;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(err, errlen, "curl_global_init failed");
            return -1;
        }
        global_done = 1;
    }
    struct col_http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    h->base = base;
    h->multi = curl_multi_init();
    h->timer = evtimer_new(base, timeout_cb, h);
    if (!h->multi || !h->timer) {
        snprintf(err, errlen, "cannot create the HTTP client");
        col_http_free(h);
        return -1;
    }
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 256L);
    h->next_id = 1;
    *out = h;
    return 0;
}

int col_http_is_loopback_url(const char *url)
{
    const char *p = strstr(url, "://");
    if (!p)
        return 0;
    p += 3;
    char host[256];
    size_t n = 0;
    if (*p == '[') {
        p++;
        while (*p && *p != ']' && n + 1 < sizeof host)
            host[n++] = *p++;
    } else {
        while (*p && *p != ':' && *p != '/' && *p != '?' && n + 1 < sizeof host)
            host[n++] = *p++;
    }
    host[n] = '\0';
    if (strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
        return 1;
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) == 1)
        return (ntohl(a.s_addr) >> 24) == 127;
    return 0;
}

/*
 * Refuses link-local and cloud-metadata addresses (169.254.0.0/16,
 * fd00:ec2::254, fe80::/10, and their IPv4-mapped forms) at connect time,
 * after name resolution, so a DNS answer cannot route around the check.
 */
static curl_socket_t open_guarded(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)ud;
    (void)purpose;
    if (col_http_is_private_addr(&a->addr)) {
        log_event(LOG_ERROR, "http.refused",
                  "reason=\"link-local or cloud metadata address (set allow_private to allow)\"");
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

int col_http_is_private_addr(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const unsigned char *b =
            (const unsigned char *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
        return b[0] == 169 && b[1] == 254;
    }
    if (sa->sa_family == AF_INET6) {
        const unsigned char *b = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
        static const unsigned char ec2[16] = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0,    0,
                                              0,    0,    0,    0,    0, 0, 0x02, 0x54};
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(b, ec2, 16) == 0 || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80))
            return 1;
        return memcmp(b, mapped, 12) == 0 && b[12] == 169 && b[13] == 254;
    }
    return 0;
}

long col_http_get(struct col_http *h, const struct col_http_request *req)
{
    struct xfer *x = calloc(1, sizeof *x);
    if (!x) {
        curl_slist_free_all(req->headers);
        return -1;
    }
    if (req->body) {
        x->post = malloc(req->body_len + 1);
        if (!x->post) {
            curl_slist_free_all(req->headers);
            free(x);
            return -1;
        }
        memcpy(x->post, req->body, req->body_len);
        x->post[req->body_len] = '\0';
    }
    x->headers = req->headers;
    x->url = strdup(req->url);
    x->ca_file = req->ca_file ? strdup(req->ca_file) : NULL;
    x->easy = curl_easy_init();
    x->done = req->done;
    x->ud = req->ud;
    x->h = h;
    int is_https = strncasecmp(req->url, "https://", 8) == 0;
    int is_http = strncasecmp(req->url, "http://", 7) == 0;
    if (!x->url || !x->easy || (req->ca_file && !x->ca_file) ||
        !(is_https || (is_http && col_http_is_loopback_url(req->url)))) {
        if (x->url && !is_https)
            log_event(LOG_ERROR, "http.refused", "reason=\"plain http to a non-loopback host\"");
        xfer_free(x);
        return -1;
    }
    CURL *e = x->easy;
    char ua[64];
    snprintf(ua, sizeof ua, "byokwatch/%s", BW_VERSION);
    curl_easy_setopt(e, CURLOPT_URL, x->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, ua);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_SSLVERSION,
                     req->tls13 ? (long)CURL_SSLVERSION_TLSv1_3 : (long)CURL_SSLVERSION_TLSv1_2);
    if (x->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, x->ca_file);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 60000L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 15000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)COL_HTTP_MAX_BODY);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    if (x->post) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->post);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    if (req->block_private)
        curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_guarded);
    if (req->fresh_connect) {
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    }
    x->id = h->next_id++;
    x->next = h->head;
    if (h->head)
        h->head->prev = x;
    h->head = x;
    h->active++;
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        xfer_unlink(h, x);
        xfer_free(x);
        return -1;
    }
    return x->id;
}

static void abort_xfer(struct col_http *h, struct xfer *x)
{
    curl_multi_remove_handle(h->multi, x->easy);
    xfer_unlink(h, x);
    xfer_free(x);
}

void col_http_cancel(struct col_http *h, long id)
{
    for (struct xfer *x = h->head; x; x = x->next) {
        if (x->id == id) {
            abort_xfer(h, x);
            return;
        }
    }
}

void col_http_cancel_all(struct col_http *h)
{
    struct xfer *next;
    for (struct xfer *x = h->head; x; x = next) {
        next = x->next;
        abort_xfer(h, x);
    }
}

size_t col_http_active(const struct col_http *h)
{
    return h->active;
}

void col_http_free(struct col_http *h)
{
    if (!h)
        return;
    if (h->multi) {
        col_http_cancel_all(h);
        curl_multi_cleanup(h->multi);
    }
    if (h->timer)
        event_free(h->timer);
    free(h);
}
