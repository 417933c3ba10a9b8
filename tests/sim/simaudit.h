/*
 * The simulated OpenAI audit log: routine logins, the odd failed login,
 * api_key.created for keys made inside the window, project.archived, and in
 * the demo scenario a failed-login burst and an impossible-travel login.
 * Events are generated once at start from the seed and the anchor (the
 * --now given at start) and are visible when effective_at < now.
 */
#ifndef BW_SIMAUDIT_H
#define BW_SIMAUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "simdata.h"

struct sim_event {
    char id[40];
    const char *type; /* "login.succeeded", ... */
    int64_t t;        /* effective_at */
    int user;         /* session actor, index into sim_users */
    int geo;          /* session ip, index into sim_geos */
    const char *ua;
    int project; /* -1 = not project scoped */
    int key;     /* api_key.created target, or -1 */
    const char *error_code;
    const char *error_message;
};

/*
 * Fills a->events (ascending effective_at, ids unique) for the window
 * [a->data_start, anchor + 30 days). 0 ok, -1 out of memory.
 */
int sim_audit_build(struct sim_account *a, int64_t anchor, int demo);

#endif
