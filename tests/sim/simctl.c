/*
 * Control endpoints of the simulator: GET /_sim/truth, /_sim/stats,
 * /_sim/info, /_sim/now; POST /_sim/fault, /_sim/reset, /_sim/now,
 * /_sim/restate. Also keeps the fault list and request counters the server
 * consults on every provider request.
 */
#include "simctl.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/timeutil.h"

#define MAX_STATUS 16

struct path_stat {
    char *path;
    long total;
    int status[MAX_STATUS];
    long n[MAX_STATUS];
    size_t n_status;
};

struct sim_ctl {
    struct sim_fault *faults;
    size_t n_faults;
    struct path_stat *paths;
    size_t n_paths, cap_paths;
    long total;
};

struct sim_ctl *simctl_new(void)
{
    return calloc(1, sizeof(struct sim_ctl));
}

static void reset(struct sim_ctl *c)
{
    for (size_t i = 0; i < c->n_paths; i++)
        free(c->paths[i].path);
    free(c->paths);
    free(c->faults);
    c->faults = NULL;
    c->paths = NULL;
    c->n_faults = c->n_paths = c->cap_paths = 0;
    c->total = 0;
}

void simctl_free(struct sim_ctl *c)
{
    if (!c)
        return;
    reset(c);
    free(c);
}

int simctl_take_fault(struct sim_ctl *c, const char *path, struct sim_fault *out)
{
    for (size_t i = 0; i < c->n_faults; i++) {
        struct sim_fault *f = &c->faults[i];
        if (f->count == 0 || strncmp(path, f->path, strlen(f->path)) != 0)
            continue;
        if (f->count > 0)
            f->count--;
        *out = *f;
        return 1;
    }
    return 0;
}

static void bump(struct path_stat *p, int status)
{
    p->total++;
    for (size_t i = 0; i < p->n_status; i++)
        if (p->status[i] == status) {
            p->n[i]++;
            return;
        }
    if (p->n_status < MAX_STATUS) {
        p->status[p->n_status] = status;
        p->n[p->n_status++] = 1;
    }
}

void simctl_count(struct sim_ctl *c, const char *path, int status)
{
    c->total++;
    for (size_t i = 0; i < c->n_paths; i++)
        if (strcmp(c->paths[i].path, path) == 0) {
            bump(&c->paths[i], status);
            return;
        }
    if (c->n_paths == c->cap_paths) {
        size_t cap = c->cap_paths ? c->cap_paths * 2 : 16;
        struct path_stat *np = realloc(c->paths, cap * sizeof *np);
        if (!np)
            return;
        c->paths = np;
        c->cap_paths = cap;
    }
    struct path_stat *p = &c->paths[c->n_paths];
    memset(p, 0, sizeof *p);
    p->path = strdup(path);
    if (!p->path)
        return;
    c->n_paths++;
    bump(p, status);
}

static void ctl_error(struct sim_resp *r, int status, const char *msg)
{
    sim_resp_clear(r);
    r->status = status;
    sj_raw(r->body, "{\"error\":");
    sj_str(r->body, msg);
    sj_raw(r->body, "}");
}

static void stats(struct sim_ctl *c, struct sim_resp *r)
{
    struct evbuffer *b = r->body;
    enum { MAX_CODES = MAX_STATUS * 4 };
    long by_status[MAX_CODES] = {0};
    int codes[MAX_CODES];
    size_t n_codes = 0;
    for (size_t i = 0; i < c->n_paths; i++)
        for (size_t j = 0; j < c->paths[i].n_status; j++) {
            size_t k = 0;
            while (k < n_codes && codes[k] != c->paths[i].status[j])
                k++;
            if (k == n_codes) {
                if (n_codes == MAX_CODES)
                    continue;
                codes[n_codes++] = c->paths[i].status[j];
            }
            by_status[k] += c->paths[i].n[j];
        }
    evbuffer_add_printf(b, "{\"total\":%ld,\"status\":{", c->total);
    for (size_t k = 0; k < n_codes; k++)
        evbuffer_add_printf(b, "%s\"%d\":%ld", k ? "," : "", codes[k], by_status[k]);
    sj_raw(b, "},\"paths\":{");
    for (size_t i = 0; i < c->n_paths; i++) {
        const struct path_stat *p = &c->paths[i];
        sj_raw(b, i ? "," : "");
        sj_str(b, p->path);
        evbuffer_add_printf(b, ":{\"total\":%ld", p->total);
        for (size_t j = 0; j < p->n_status; j++)
            evbuffer_add_printf(b, ",\"%d\":%ld", p->status[j], p->n[j]);
        sj_raw(b, "}");
    }
    sj_raw(b, "}}");
}

static int parse_kind(const char *s, enum sim_fault_kind *k)
{
    static const char *const names[] = {"429",       "500",  "503",           "delay", "truncate",
                                        "malformed", "html", "repeat_cursor", "401"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0) {
            *k = (enum sim_fault_kind)i;
            return 0;
        }
    return -1;
}

static int fault_from_json(json_t *o, struct sim_fault *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->count = 1;
    f->status = 200;
    json_t *path = json_object_get(o, "path"), *kind = json_object_get(o, "kind");
    json_t *count = json_object_get(o, "count"), *ra = json_object_get(o, "retry_after");
    json_t *delay = json_object_get(o, "delay_ms"), *status = json_object_get(o, "status");
    if (!json_is_string(path) || !json_is_string(kind)) {
        snprintf(err, errlen, "a fault needs string fields path and kind");
        return -1;
    }
    int n = snprintf(f->path, sizeof f->path, "%s", json_string_value(path));
    if (n < 0 || (size_t)n >= sizeof f->path) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    if (parse_kind(json_string_value(kind), &f->kind)) {
        snprintf(err, errlen, "unknown fault kind");
        return -1;
    }
    if (count && (!json_is_integer(count) || json_integer_value(count) < -1)) {
        snprintf(err, errlen, "count must be an integer >= -1");
        return -1;
    }
    if (count)
        f->count = (long)json_integer_value(count);
    if (json_is_string(ra))
        n = snprintf(f->retry_after, sizeof f->retry_after, "%s", json_string_value(ra));
    else if (json_is_integer(ra))
        n = snprintf(f->retry_after, sizeof f->retry_after, "%lld",
                     (long long)json_integer_value(ra));
    else if (ra && !json_is_null(ra))
        n = -1;
    if (n < 0 || (size_t)n >= sizeof f->retry_after) {
        snprintf(err, errlen, "bad retry_after");
        return -1;
    }
    if (delay && (!json_is_integer(delay) || json_integer_value(delay) < 0 ||
                  json_integer_value(delay) > 600000)) {
        snprintf(err, errlen, "delay_ms must be an integer in [0, 600000]");
        return -1;
    }
    if (delay)
        f->delay_ms = (int)json_integer_value(delay);
    if (status && (!json_is_integer(status) || json_integer_value(status) < 100 ||
                   json_integer_value(status) > 599)) {
        snprintf(err, errlen, "status must be an HTTP status");
        return -1;
    }
    if (status)
        f->status = (int)json_integer_value(status);
    return 0;
}

static void add_faults(struct sim_ctl *c, const char *body, size_t len, struct sim_resp *r)
{
    json_error_t je;
    char err[128];
    json_t *root = body ? json_loadb(body, len, 0, &je) : NULL;
    if (!root || (!json_is_object(root) && !json_is_array(root))) {
        json_decref(root);
        ctl_error(r, 400, "body must be a JSON fault object or an array of them");
        return;
    }
    size_t n = json_is_array(root) ? json_array_size(root) : 1;
    struct sim_fault *nf = realloc(c->faults, (c->n_faults + n + 1) * sizeof *nf);
    if (!nf) {
        json_decref(root);
        ctl_error(r, 500, "out of memory");
        return;
    }
    c->faults = nf;
    size_t added = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_is_array(root) ? json_array_get(root, i) : root;
        if (!json_is_object(o) ||
            fault_from_json(o, &c->faults[c->n_faults + added], err, sizeof err)) {
            json_decref(root);
            ctl_error(r, 400, json_is_object(o) ? err : "fault must be an object");
            return;
        }
        added++;
    }
    c->n_faults += added;
    json_decref(root);
    evbuffer_add_printf(r->body, "{\"ok\":true,\"faults\":%zu}", c->n_faults);
}

/* The account named by provider= and account= (for /acct/<i>/), or NULL. */
static struct sim_account *pick_account(struct sim_world *w, const struct sim_query *q,
                                        const char **why)
{
    const char *prov = sim_query_get(q, "provider"), *acct = sim_query_get(q, "account");
    if (!prov || strcmp(prov, "openai") == 0) {
        int64_t i = -1;
        if (acct && (sim_parse_i64(acct, &i) || i < 0 || (size_t)i + 1 >= w->n_openai)) {
            *why = "no such account";
            return NULL;
        }
        return &w->openai[i + 1];
    }
    if (strcmp(prov, "anthropic") == 0)
        return &w->anthropic;
    *why = "provider must be openai or anthropic";
    return NULL;
}

static void truth(struct sim_world *w, const struct sim_query *q, struct sim_resp *r)
{
    const char *why = NULL;
    struct sim_account *a = pick_account(w, q, &why);
    if (!a) {
        ctl_error(r, 400, why);
        return;
    }
    struct sim_truth_query tq = {
        .metric = sim_query_get(q, "metric"),
        .from = 0,
        .to = INT64_MAX,
        .project = sim_query_get(q, "project"),
        .api_key_id = sim_query_get(q, "api_key_id"),
        .model = sim_query_get(q, "model"),
        .kind = sim_query_get(q, "kind"),
    };
    const char *from = sim_query_get(q, "from"), *to = sim_query_get(q, "to");
    if ((from && sim_parse_i64(from, &tq.from)) || (to && sim_parse_i64(to, &tq.to))) {
        ctl_error(r, 400, "from and to are Unix seconds");
        return;
    }
    int64_t v;
    int money;
    char err[128];
    if (sim_truth(w, a, &tq, &v, &money, err, sizeof err)) {
        ctl_error(r, 400, err);
        return;
    }
    sj_raw(r->body, "{\"value\":");
    if (money)
        sj_dollars(r->body, v);
    else
        sj_i64(r->body, v);
    sj_raw(r->body, "}");
}

static void now_get(struct sim_world *w, struct sim_resp *r)
{
    char t[40];
    evbuffer_add_printf(r->body, "{\"now\":%lld,\"now_rfc3339\":\"%s\",\"hour_limit\":%lld}",
                        (long long)w->now, tu_format_time(w->now, t, sizeof t),
                        (long long)sim_hour_limit(w));
}

static void now_set(struct sim_world *w, const struct sim_query *q, struct sim_resp *r)
{
    const char *t = sim_query_get(q, "t");
    int64_t v;
    if (!t || (tu_parse_time(t, &v) && sim_parse_i64(t, &v))) {
        ctl_error(r, 400, "t must be an RFC 3339 time or Unix seconds");
        return;
    }
    if (sim_world_set_now(w, v)) {
        ctl_error(r, 500, "out of memory");
        return;
    }
    now_get(w, r);
}

static void restate(struct sim_world *w, const struct sim_query *q, struct sim_resp *r)
{
    const char *why = NULL;
    struct sim_account *a = pick_account(w, q, &why);
    const char *day = sim_query_get(q, "day"), *factor = sim_query_get(q, "factor");
    int64_t d;
    char *end = NULL;
    double f = factor ? strtod(factor, &end) : 0;
    if (!a) {
        ctl_error(r, 400, why);
        return;
    }
    if (!day || strlen(day) != 10 || tu_parse_time(day, &d)) {
        ctl_error(r, 400, "day must be YYYY-MM-DD");
        return;
    }
    if (!factor || !end || *end || !(f > 0) || f > 1000) {
        ctl_error(r, 400, "factor must be a number in (0, 1000]");
        return;
    }
    if (d < a->data_start || d + SIM_DAY > w->now) {
        ctl_error(r, 400, "day must be a closed day inside the data window");
        return;
    }
    if (sim_restate_set(a, d, f)) {
        ctl_error(r, 500, "out of memory");
        return;
    }
    evbuffer_add_printf(r->body, "{\"ok\":true,\"day\":%lld,\"factor\":%g}", (long long)d, f);
}

static void account_info(struct evbuffer *b, const struct sim_account *a)
{
    evbuffer_add_printf(b, "{\"projects\":%zu,\"keys\":%zu,\"series\":%zu,\"audit_events\":%zu}",
                        a->n_projects, a->n_keys, a->n_series, a->n_events);
}

static void info(struct sim_world *w, struct sim_resp *r)
{
    char t1[40], t2[40], t3[40];
    struct evbuffer *b = r->body;
    evbuffer_add_printf(
        b,
        "{\"now\":\"%s\",\"anchor\":\"%s\",\"data_start\":\"%s\","
        "\"scenario\":\"%s\",\"seed\":%llu,\"days\":%d,\"scale\":%d,"
        "\"accounts\":%d,\"openai\":",
        tu_format_time(w->now, t1, sizeof t1), tu_format_time(w->anchor, t2, sizeof t2),
        tu_format_time(w->openai[0].data_start, t3, sizeof t3), w->opts.demo ? "demo" : "steady",
        (unsigned long long)w->opts.seed, w->opts.days, w->opts.scale, w->opts.accounts);
    account_info(b, &w->openai[0]);
    sj_raw(b, ",\"anthropic\":");
    account_info(b, &w->anthropic);
    sj_raw(b, "}");
}

void simctl_handle(struct sim_ctl *c, struct sim_world *w, int is_post, const char *path,
                   const struct sim_query *q, const char *body, size_t body_len, struct sim_resp *r)
{
    const char *p = path + 5; /* after "/_sim" */
    if (!is_post && strcmp(p, "/truth") == 0)
        truth(w, q, r);
    else if (!is_post && strcmp(p, "/stats") == 0)
        stats(c, r);
    else if (!is_post && strcmp(p, "/info") == 0)
        info(w, r);
    else if (!is_post && strcmp(p, "/now") == 0)
        now_get(w, r);
    else if (is_post && strcmp(p, "/now") == 0)
        now_set(w, q, r);
    else if (is_post && strcmp(p, "/fault") == 0)
        add_faults(c, body, body_len, r);
    else if (is_post && strcmp(p, "/reset") == 0) {
        reset(c);
        sj_raw(r->body, "{\"ok\":true}");
    } else if (is_post && strcmp(p, "/restate") == 0)
        restate(w, q, r);
    else
        ctl_error(r, 404, "no such control endpoint (or wrong method)");
}
