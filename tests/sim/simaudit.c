/*
 * Generates the simulated OpenAI audit log once at start: daily logins per
 * user (weekday users skip weekends), a rare single failed login, key
 * creation and project archival events, plus the demo scenario's failed
 * login burst (alice) and impossible travel (bob, US then CN 50 min later).
 */
#include "simaudit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/timeutil.h"

#define HORIZON_DAYS 30 /* routine events continue this long after the anchor */

struct evlist {
    struct sim_event *v;
    size_t n, cap;
};

static uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static struct sim_event *push(struct evlist *l, const char *type, int64_t t, int user, int geo)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        struct sim_event *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return NULL;
        l->v = v;
        l->cap = cap;
    }
    struct sim_event *e = &l->v[l->n++];
    memset(e, 0, sizeof *e);
    e->type = type;
    e->t = t;
    e->user = user;
    e->geo = geo;
    e->ua = sim_users[user].ua;
    e->project = -1;
    e->key = -1;
    return e;
}

static int cmp_event(const void *pa, const void *pb)
{
    const struct sim_event *a = pa, *b = pb;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return strcmp(a->id, b->id);
}

static int routine(struct evlist *l, const struct sim_account *a, int64_t anchor)
{
    int64_t end = tu_floor(anchor, SIM_DAY) + (int64_t)HORIZON_DAYS * SIM_DAY;
    for (int64_t d = a->data_start; d < end; d += SIM_DAY) {
        int dow = (int)(((d / SIM_DAY) % 7 + 7 + 4) % 7);
        for (size_t u = 0; u < sim_n_users; u++) {
            const struct sim_user *U = &sim_users[u];
            if (U->weekdays && (dow == 0 || dow == 6))
                continue;
            uint64_t h = mix64(a->seed ^ mix64((uint64_t)d * 31 + u));
            int64_t t = d + (int64_t)U->login_hour * SIM_HOUR + (int64_t)(h % 4800) - 2400;
            if (u == 2 && (h >> 20) % 9 == 0) {
                struct sim_event *f = push(l, "login.failed", t - 95, (int)u, U->geo);
                if (!f)
                    return -1;
                f->error_code = "invalid_credentials";
                f->error_message = "Invalid email or password.";
            }
            if (!push(l, "login.succeeded", t, (int)u, U->geo))
                return -1;
        }
    }
    for (size_t k = 0; k < a->n_keys; k++) {
        const struct sim_key *K = &a->keys[k];
        if (K->created_at < a->data_start || K->created_at >= end)
            continue;
        int actor = K->user >= 0 ? K->user : 0;
        struct sim_event *e =
            push(l, "api_key.created", K->created_at, actor, sim_users[actor].geo);
        if (!e)
            return -1;
        e->project = K->project;
        e->key = (int)k;
    }
    for (size_t p = 0; p < a->n_projects; p++) {
        const struct sim_project *P = &a->projects[p];
        if (!P->archived_at || P->archived_at < a->data_start)
            continue;
        struct sim_event *e = push(l, "project.archived", P->archived_at, 0, sim_users[0].geo);
        if (!e)
            return -1;
        e->project = (int)p;
    }
    return 0;
}

static int demo(struct evlist *l, int64_t anchor)
{
    /* (3) eight failed logins for alice from six addresses within 20 minutes, 3 h ago */
    static const int64_t secs[8] = {0, 127, 307, 427, 607, 787, 967, 1147}; /* < 20 min */
    static const int geos[8] = {5, 6, 7, 5, 8, 9, 10, 6};
    for (int i = 0; i < 8; i++) {
        struct sim_event *e = push(l, "login.failed", anchor - 3 * SIM_HOUR + secs[i], 0, geos[i]);
        if (!e)
            return -1;
        e->ua = "python-requests/2.32.3";
        e->error_code = "invalid_credentials";
        e->error_message = "Invalid email or password.";
    }
    /* (4) bob: a US login, then 50 minutes later one from Changchun, 2 h ago */
    if (!push(l, "login.succeeded", anchor - 2 * SIM_HOUR - 50 * (int64_t)60, 1, 0))
        return -1;
    struct sim_event *e = push(l, "login.succeeded", anchor - 2 * SIM_HOUR, 1, 1);
    if (!e)
        return -1;
    e->ua = sim_users[3].ua;
    return 0;
}

int sim_audit_build(struct sim_account *a, int64_t anchor, int is_demo)
{
    struct evlist l = {0};
    if (routine(&l, a, anchor) || (is_demo && demo(&l, anchor))) {
        free(l.v);
        return -1;
    }
    for (size_t i = 0; i < l.n; i++) {
        uint64_t h = mix64(a->seed ^ mix64((uint64_t)l.v[i].t) ^ (uint64_t)i);
        snprintf(l.v[i].id, sizeof l.v[i].id, "audit_log-%016llx", (unsigned long long)h);
    }
    if (l.n)
        qsort(l.v, l.n, sizeof *l.v, cmp_event);
    a->events = l.v;
    a->n_events = l.n;
    return 0;
}
