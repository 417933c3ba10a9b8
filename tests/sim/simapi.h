/*
 * What the two provider front-ends of the simulator share: the request
 * context handed to a handler, the bucket window of a report page (time
 * range, width, limit, cursor, "now") and list paging by id cursor.
 */
#ifndef BW_SIMAPI_H
#define BW_SIMAPI_H

#include <stddef.h>
#include <stdint.h>

#include "simdata.h"
#include "simhttp.h"

struct sim_ctx {
    struct sim_world *w;
    struct sim_account *a;
    const char *sub; /* path below "/v1/organization" or "/v1/organizations" */
    const struct sim_query *q;
    int repeat_cursor; /* fault: answer with the cursor of this same page */
    int64_t hl;        /* sim_hour_limit: hours before this have data */
};

/*
 * One report page. Buckets are aligned to width (UTC); the first starts at
 * floor(start, width), or at the cursor. A bucket starting at b is listed iff
 * b < end (when given) and b < hl, i.e. it holds at least one complete hour;
 * it sums the hours [b, min(b + width, hl)). At most limit buckets a page.
 */
struct sim_window {
    int64_t width;
    int64_t first; /* start of this page's first bucket */
    size_t count;  /* buckets on this page */
    int has_more;
    int64_t next; /* first bucket of the next page (when has_more) */
};

/* Plans a page; 0 ok, -1 bad cursor (message in msg). */
int sim_window_plan(struct sim_window *win, int64_t start, int has_end, int64_t end, int64_t width,
                    int64_t limit, const char *page, int64_t hl, char *msg, size_t msglen);

/* Writes "next_page" value: the cursor string, or null when !has_more. */
void sim_window_next(struct evbuffer *b, const struct sim_window *win, int repeat_cursor);

/*
 * Items [*lo, *hi) of a list of n in list order for an after cursor at index
 * after (or -1) or a before cursor at index before (or -1).
 */
void sim_list_page(size_t n, long after, long before, size_t limit, size_t *lo, size_t *hi,
                   int *has_more);

/* Up to SIM_MAX_FILTER values of an array filter; returns -1 when too many. */
#define SIM_MAX_FILTER 64
struct sim_filter {
    const char *v[SIM_MAX_FILTER];
    size_t n;
};
int sim_filter_get(const struct sim_query *q, const char *name, struct sim_filter *f);
/* 1 when f is empty or holds s (s NULL never matches a non-empty filter). */
int sim_filter_match(const struct sim_filter *f, const char *s);

#endif
