/*
 * The HTTP client of the daemon: one curl multi handle driven by libevent
 * through curl's multi-socket API (the pattern of curl's hiperfifo.c).
 * Every transfer runs concurrently on the caller's event_base; completion
 * is a callback on the loop thread. Connections are reused per host.
 */
#ifndef BW_HTTP_H
#define BW_HTTP_H

#include <curl/curl.h>
#include <event2/event.h>
#include <stddef.h>

#define COL_HTTP_MAX_BODY (32u << 20) /* larger bodies fail the transfer */

struct col_http;

struct col_http_result {
    CURLcode curl_code; /* CURLE_OK when a response arrived */
    long status;        /* HTTP status, 0 when none */
    char *body;         /* response body, NUL-terminated (owned by the client) */
    size_t len;
    char *retry_after;     /* Retry-After header value, or NULL */
    char *ratelimit_reset; /* a provider's reset header (x-ratelimit-reset-requests,
                              anthropic-ratelimit-requests-reset), or NULL */
    char *content_type;    /* Content-Type header, or NULL */
    const char *error;     /* human reason for a transport failure ("" when none) */
    int too_big;           /* the body was over COL_HTTP_MAX_BODY (transfer aborted) */
    double seconds;        /* total transfer time */
};

/* Per-request settings. url and headers are copied/borrowed as stated. */
struct col_http_request {
    const char *url;            /* copied */
    struct curl_slist *headers; /* ownership passes to the client (freed after the transfer) */
    long timeout_ms;            /* whole transfer; 0 = 60 s */
    int tls13;                  /* require TLS 1.3 instead of 1.2 */
    const char *ca_file;        /* extra CA bundle, or NULL (copied) */
    const char *body;           /* POST this body (copied) instead of a GET; NULL = GET */
    size_t body_len;
    int block_private; /* refuse link-local / cloud-metadata addresses */
    int fresh_connect; /* a new connection, closed after (benchmarks only) */
    /* Called once on the loop thread; the result is valid during the call only. */
    void (*done)(const struct col_http_result *res, void *ud);
    void *ud;
};

/* Creates the client on base. 0 ok, -1 on failure (message in err). */
int col_http_new(struct event_base *base, struct col_http **out, char *err, size_t errlen);

/*
 * Starts a GET, or a POST when req->body is set. Plain http:// is refused unless the host is
 * loopback; peer and host verification are always on for https. Returns a handle id
 * (> 0) usable with col_http_cancel, or -1 when the request could not start
 * (then done is not called and headers were freed).
 */
long col_http_get(struct col_http *h, const struct col_http_request *req);

/* Aborts a transfer in flight; its done callback is not called. */
void col_http_cancel(struct col_http *h, long id);

/* Aborts every transfer without callbacks (shutdown after the grace period). */
void col_http_cancel_all(struct col_http *h);

/* Number of transfers in flight. */
size_t col_http_active(const struct col_http *h);

/* Frees the client; in-flight transfers are aborted without callbacks. */
void col_http_free(struct col_http *h);

/* 1 for 169.254.0.0/16, fd00:ec2::254, fe80::/10 and IPv4-mapped 169.254/16. */
struct sockaddr;
int col_http_is_private_addr(const struct sockaddr *sa);

/* 1 when the URL's host is 127.0.0.0/8, ::1 or localhost. */
int col_http_is_loopback_url(const char *url);

#endif
