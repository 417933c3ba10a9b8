/*
 * The simulator's control plane (no auth, under /_sim/): injected faults,
 * request statistics, the truth oracle, moving "now", restating a closed
 * day's cost, and a summary of the generated world.
 */
#ifndef BW_SIMCTL_H
#define BW_SIMCTL_H

#include <stddef.h>

#include "simdata.h"
#include "simhttp.h"

enum sim_fault_kind {
    SF_429,
    SF_500,
    SF_503,
    SF_DELAY,
    SF_TRUNCATE,
    SF_MALFORMED,
    SF_HTML,
    SF_REPEAT_CURSOR,
    SF_401,
};

struct sim_fault {
    char path[256]; /* prefix of the request path (with any /acct/<i> part) */
    enum sim_fault_kind kind;
    long count;           /* uses left; -1 = forever */
    char retry_after[64]; /* 429: Retry-After value, empty = none */
    int delay_ms;         /* delay */
    int status;           /* html: status to answer with (default 200) */
};

struct sim_ctl;

/* A new control plane with no faults and zeroed statistics; NULL on OOM. */
struct sim_ctl *simctl_new(void);
void simctl_free(struct sim_ctl *c);

/*
 * Takes one use of the first fault whose path prefixes path and has uses
 * left; returns 1 and copies it into *out, or 0 when none applies.
 */
int simctl_take_fault(struct sim_ctl *c, const char *path, struct sim_fault *out);

/* Counts one provider request answered with status. */
void simctl_count(struct sim_ctl *c, const char *path, int status);

/*
 * Answers a control request (path starts with "/_sim/"); body is the request
 * body (POST /_sim/fault), may be NULL.
 */
void simctl_handle(struct sim_ctl *c, struct sim_world *w, int is_post, const char *path,
                   const struct sim_query *q, const char *body, size_t body_len,
                   struct sim_resp *r);

#endif
