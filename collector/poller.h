/*
 * The poller interface: one const struct per provider type, listed in
 * pollers.c's table. A poller describes its endpoints, builds each page's
 * URL and headers, and parses a page body into a col_out (pure, fixture-
 * tested). Scheduling, HTTP, cursors, retries and storage are the
 * daemon's (collector/daemon.c): adding a provider is one file plus one
 * table line.
 */
#ifndef BW_POLLER_H
#define BW_POLLER_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "normalize.h"

enum col_ep_kind {
    COL_EP_BUCKETS, /* time-bucketed usage or cost: [start, end) windows, paged */
    COL_EP_LOG,     /* an append-only log (audit): everything since a time, paged */
    COL_EP_LIST     /* an inventory listing (keys, projects): the whole list, paged */
};

struct col_endpoint {
    const char *name; /* stable id, names the cursor and log lines: "usage/completions" */
    enum col_ep_kind kind;
    int64_t bucket;     /* BUCKETS: bucket width, 3600 or 86400 */
    int64_t lookback;   /* BUCKETS: span before the cursor re-polled each cycle (revisions) */
    int64_t max_window; /* BUCKETS: longest [start, end) of one request (limit x bucket) */
    int per_project;    /* LIST: one listing per project id seen in this cycle's items
                           of kind "project" or "workspace" */
    const void *spec;   /* the poller's own data for this endpoint (path, group_by, ...) */
};

/* What one page request is for. */
struct col_request {
    const struct col_endpoint *ep;
    int64_t start, end;  /* BUCKETS: window [start, end); LOG: start = earliest time wanted */
    const char *page;    /* cursor from the previous page's col_out.next_page, or NULL */
    const char *project; /* per_project listings: the project id, else NULL */
};

/* Context for a parse: who the data belongs to. */
struct col_parse_ctx {
    const char *provider; /* the provider type: "openai" */
    const char *account;  /* the configured source name: "acme-openai" */
    const struct col_request *req;
};

struct col_poller_ops {
    const char *type;                     /* config provider type */
    const struct col_endpoint *endpoints; /* polled in this order each cycle */
    size_t n_endpoints;

    /*
     * Writes the full URL of one page request into buf: base_url (the
     * configured one, no trailing slash) + path + query. 0 ok, -1 when it
     * does not fit.
     */
    int (*url)(const char *base_url, const struct col_request *req, char *buf, size_t len);

    /*
     * Appends the provider's auth and version headers for admin key `key`
     * to h and returns the new list (NULL on allocation failure). The key
     * value must not be kept or logged.
     */
    struct curl_slist *(*headers)(struct curl_slist *h, const char *key);

    /*
     * Parses one page body (not NUL-terminated; len bytes) into out: pure,
     * no I/O, no globals. On any malformed input (bad JSON, wrong types,
     * missing required fields, an error object) returns -1 with a short
     * reason in err that names the field; out may hold partial data then
     * and the caller discards it. 0 ok; out->next_page set when more pages
     * follow.
     */
    int (*parse)(const struct col_parse_ctx *ctx, const char *body, size_t len, struct col_out *out,
                 char *err, size_t errlen);
};

/* Finds the poller for a provider type; NULL when none is built in. */
const struct col_poller_ops *col_poller_find(const char *type);

#endif
