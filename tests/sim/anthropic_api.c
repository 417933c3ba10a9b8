/*
 * The simulated Anthropic Admin API under /v1/organizations: the messages
 * usage report, the cost report (amounts as decimal strings in cents), API
 * keys, workspaces and the organization, with RFC 3339 times, "x[]" array
 * parameters and after_id/before_id list cursors as published.
 */
#include "anthropic_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/timeutil.h"
#include "simgroup.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void bad_request(struct sim_resp *r, const char *msg)
{
    sim_anthropic_error(r, 400, "invalid_request_error", msg);
}

static const char *ws_id(const struct sim_account *a, int p)
{
    return p < 0 ? NULL : a->projects[p].id;
}

static const char *key_id(const struct sim_account *a, int k)
{
    return k < 0 ? NULL : a->keys[k].id;
}

struct report_req {
    unsigned mask;
    struct sim_window win;
};

/* starting_at, ending_at, bucket_width, limit, page, group_by[]; 0 ok, -1 after a 400. */
static int report_params(struct sim_ctx *c, struct sim_resp *r, int costs,
                         const char *const *groups, size_t n_groups, struct report_req *p)
{
    const char *s = sim_query_get(c->q, "starting_at");
    const char *e = sim_query_get(c->q, "ending_at");
    const char *bw = sim_query_get(c->q, "bucket_width");
    const char *lim = sim_query_get(c->q, "limit");
    char msg[256];
    int64_t start, end = 0, width, limit;
    memset(p, 0, sizeof *p);
    if (!s) {
        bad_request(r, "starting_at: Field required");
        return -1;
    }
    if (tu_parse_time(s, &start)) {
        bad_request(r, "starting_at: Input should be a valid RFC 3339 datetime");
        return -1;
    }
    if (e && tu_parse_time(e, &end)) {
        bad_request(r, "ending_at: Input should be a valid RFC 3339 datetime");
        return -1;
    }
    if (!bw || strcmp(bw, "1d") == 0) {
        width = SIM_DAY;
    } else if (!costs && strcmp(bw, "1h") == 0) {
        width = SIM_HOUR;
    } else if (!costs && strcmp(bw, "1m") == 0) {
        bad_request(r, "bucket_width: bw-sim serves hourly data; use '1h' or '1d'");
        return -1;
    } else {
        bad_request(r, costs ? "bucket_width: Input should be '1d'"
                             : "bucket_width: Input should be '1d', '1h' or '1m'");
        return -1;
    }
    int64_t def = 7, max = 31;
    if (!costs && width == SIM_HOUR)
        def = 24, max = 168;
    limit = def;
    if (lim && (sim_parse_i64(lim, &limit) || limit < 1 || limit > max)) {
        snprintf(msg, sizeof msg,
                 "limit: The limit parameter must be between 1 and %lld, "
                 "inclusive. Got %.40s.",
                 (long long)max, lim);
        bad_request(r, msg);
        return -1;
    }
    const char *gv[SIM_MAX_FILTER], *bad = NULL;
    size_t ng = sim_query_multi(c->q, "group_by", gv, SIM_MAX_FILTER);
    if (ng > SIM_MAX_FILTER || sim_group_mask(gv, ng, groups, n_groups, &p->mask, &bad)) {
        snprintf(msg, sizeof msg,
                 "group_by: Input should be one of the documented values; got "
                 "'%.60s'",
                 bad ? bad : "");
        bad_request(r, msg);
        return -1;
    }
    if (sim_window_plan(&p->win, start, e != NULL, end, width, limit, sim_query_get(c->q, "page"),
                        c->hl, msg, sizeof msg)) {
        bad_request(r, "page: Invalid page token");
        return -1;
    }
    return 0;
}

static void bucket_open(struct evbuffer *b, size_t i, int64_t bs, int64_t be)
{
    sj_raw(b, i ? ",{\"starting_at\":" : "{\"starting_at\":");
    sj_time(b, bs);
    sj_raw(b, ",\"ending_at\":");
    sj_time(b, be);
    sj_raw(b, ",\"results\":[");
}

/* ---- messages usage report ---- */

static const char *const g_usage[] = {"account_id",    "api_key_id",  "context_window",
                                      "inference_geo", "model",       "service_account_id",
                                      "service_tier",  "workspace_id"};
enum { D_ACCOUNT, D_KEY, D_CW, D_GEO, D_MODEL, D_SA, D_TIER, D_WS };

struct usage_ctx {
    const struct sim_account *a;
    struct sim_filter keys, models, ws, tiers, cws, geos, accounts, sas;
};

static int usage_dims(void *vctx, size_t item, int dims[SIM_MAX_DIMS])
{
    struct usage_ctx *u = vctx;
    const struct sim_series *s = &u->a->series[item];
    if (!sim_filter_match(&u->keys, key_id(u->a, s->key)) ||
        !sim_filter_match(&u->models, sim_models[s->model].id) ||
        !sim_filter_match(&u->ws, ws_id(u->a, s->project)) ||
        !sim_filter_match(&u->tiers, "standard") || !sim_filter_match(&u->cws, "0-200k") ||
        !sim_filter_match(&u->geos, "not_available") || !sim_filter_match(&u->accounts, NULL) ||
        !sim_filter_match(&u->sas, NULL))
        return 0;
    dims[D_ACCOUNT] = -1;
    dims[D_KEY] = s->key;
    dims[D_CW] = 0;
    dims[D_GEO] = 0;
    dims[D_MODEL] = s->model;
    dims[D_SA] = -1;
    dims[D_TIER] = 0;
    dims[D_WS] = s->project;
    return 1;
}

static const char *masked(unsigned mask, int bit, const char *v)
{
    return (mask & (1u << bit)) ? v : NULL;
}

static void emit_usage(struct evbuffer *b, const struct sim_account *a, const struct sim_series *s,
                       unsigned mask, const struct sim_sum *m)
{
    sj_raw(b, "{\"account_id\":null,\"api_key_id\":");
    sj_str(b, masked(mask, D_KEY, key_id(a, s->key)));
    evbuffer_add_printf(b,
                        ",\"cache_creation\":{\"ephemeral_1h_input_tokens\":%lld,"
                        "\"ephemeral_5m_input_tokens\":%lld},\"cache_read_input_tokens\":%lld"
                        ",\"context_window\":",
                        (long long)m->w1, (long long)m->w5, (long long)m->read);
    sj_str(b, masked(mask, D_CW, "0-200k"));
    sj_raw(b, ",\"inference_geo\":");
    sj_str(b, masked(mask, D_GEO, "not_available"));
    sj_raw(b, ",\"model\":");
    sj_str(b, masked(mask, D_MODEL, sim_models[s->model].id));
    evbuffer_add_printf(b,
                        ",\"output_tokens\":%lld,\"server_tool_use\":{\"web_search_requests\":%lld}"
                        ",\"service_account_id\":null,\"service_tier\":",
                        (long long)m->out, (long long)m->web);
    sj_str(b, masked(mask, D_TIER, "standard"));
    evbuffer_add_printf(b, ",\"uncached_input_tokens\":%lld,\"workspace_id\":", (long long)m->unc);
    sj_str(b, masked(mask, D_WS, ws_id(a, s->project)));
    sj_raw(b, "}");
}

static void usage_report(struct sim_ctx *c, struct sim_resp *r)
{
    struct report_req p;
    if (report_params(c, r, 0, g_usage, N_OF(g_usage), &p))
        return;
    struct usage_ctx u = {.a = c->a};
    if (sim_filter_get(c->q, "api_key_ids", &u.keys) || sim_filter_get(c->q, "models", &u.models) ||
        sim_filter_get(c->q, "workspace_ids", &u.ws) ||
        sim_filter_get(c->q, "service_tiers", &u.tiers) ||
        sim_filter_get(c->q, "context_window", &u.cws) ||
        sim_filter_get(c->q, "inference_geos", &u.geos) ||
        sim_filter_get(c->q, "account_ids", &u.accounts) ||
        sim_filter_get(c->q, "service_account_ids", &u.sas)) {
        bad_request(r, "too many filter values");
        return;
    }
    const struct sim_account *a = c->a;
    struct sim_groups g;
    struct sim_sum *acc = NULL;
    if (sim_groups_build(&g, a->n_series, N_OF(g_usage), p.mask, usage_dims, &u) ||
        !(acc = calloc(g.n_groups ? g.n_groups : 1, sizeof *acc))) {
        sim_groups_free(&g);
        sim_anthropic_error(r, 500, "api_error", "bw-sim: out of memory");
        return;
    }
    struct evbuffer *b = r->body;
    sj_raw(b, "{\"data\":[");
    for (size_t i = 0; i < p.win.count; i++) {
        int64_t bs = p.win.first + (int64_t)i * p.win.width, be = bs + p.win.width;
        memset(acc, 0, (g.n_groups ? g.n_groups : 1) * sizeof *acc);
        for (size_t s = 0; s < a->n_series; s++)
            if (g.group_of[s] >= 0)
                sim_sum_series(a, s, bs, be, c->hl, &acc[g.group_of[s]]);
        bucket_open(b, i, bs, be);
        int first = 1;
        for (size_t gi = 0; gi < g.n_groups; gi++) {
            const struct sim_sum *m = &acc[gi];
            if (!m->unc && !m->read && !m->w5 && !m->w1 && !m->out && !m->web)
                continue;
            sj_raw(b, first ? "" : ",");
            first = 0;
            emit_usage(b, a, &a->series[g.rep[gi]], p.mask, m);
        }
        sj_raw(b, "]}");
    }
    sj_raw(b, "],");
    sim_window_next(b, &p.win, c->repeat_cursor);
    sj_raw(b, "}");
    free(acc);
    sim_groups_free(&g);
}

/* ---- cost report ---- */

static const char *const g_cost[] = {"description", "workspace_id"};

struct cost_ctx {
    const struct sim_account *a;
};

static int cost_dims(void *vctx, size_t item, int dims[SIM_MAX_DIMS])
{
    struct cost_ctx *cc = vctx;
    const struct sim_series *s = &cc->a->series[item / SIM_L_COUNT];
    int l = (int)(item % SIM_L_COUNT);
    if (!sim_models[s->model].price[l])
        return 0;
    dims[0] = l == SIM_L_WEB ? -2 : s->model * SIM_L_COUNT + l;
    dims[1] = s->project;
    return 1;
}

static const char *const token_types[SIM_L_COUNT] = {
    "uncached_input_tokens",
    "cache_read_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens",
    "output_tokens",
    NULL,
};
static const char *const token_words[SIM_L_COUNT] = {
    "Input Tokens",
    "Cache Read Input Tokens",
    "Cache Write Input Tokens (5m)",
    "Cache Write Input Tokens (1h)",
    "Output Tokens",
    NULL,
};

struct cost_acc {
    int64_t micro;
};

static void emit_cost(struct evbuffer *b, const struct sim_account *a, const struct sim_series *s,
                      int l, unsigned mask, int64_t micro)
{
    int desc = (mask & 1u) != 0, web = l == SIM_L_WEB;
    char text[160] = "Web Search Usage";
    if (!web) {
        int n = snprintf(text, sizeof text, "%s Usage - %s", sim_models[s->model].display,
                         token_words[l]);
        if (n < 0 || (size_t)n >= sizeof text)
            snprintf(text, sizeof text, "%s Usage", sim_models[s->model].display);
    }
    sj_raw(b, "{\"amount\":");
    sj_cents_string(b, micro);
    sj_raw(b, ",\"context_window\":");
    sj_str(b, desc && !web ? "0-200k" : NULL);
    sj_raw(b, ",\"cost_type\":");
    sj_str(b, desc ? (web ? "web_search" : "tokens") : NULL);
    sj_raw(b, ",\"currency\":\"USD\",\"description\":");
    sj_str(b, desc ? text : NULL);
    sj_raw(b, ",\"inference_geo\":");
    sj_str(b, desc && !web ? "not_available" : NULL);
    sj_raw(b, ",\"model\":");
    sj_str(b, desc && !web ? sim_models[s->model].id : NULL);
    sj_raw(b, ",\"service_tier\":");
    sj_str(b, desc && !web ? "standard" : NULL);
    sj_raw(b, ",\"token_type\":");
    sj_str(b, desc ? token_types[l] : NULL);
    sj_raw(b, ",\"workspace_id\":");
    sj_str(b, (mask & 2u) ? ws_id(a, s->project) : NULL);
    sj_raw(b, "}");
}

static void cost_report(struct sim_ctx *c, struct sim_resp *r)
{
    struct report_req p;
    if (report_params(c, r, 1, g_cost, N_OF(g_cost), &p))
        return;
    const struct sim_account *a = c->a;
    struct cost_ctx cc = {.a = a};
    struct sim_groups g;
    struct cost_acc *acc = NULL;
    if (sim_groups_build(&g, a->n_series * SIM_L_COUNT, N_OF(g_cost), p.mask, cost_dims, &cc) ||
        !(acc = calloc(g.n_groups ? g.n_groups : 1, sizeof *acc))) {
        sim_groups_free(&g);
        sim_anthropic_error(r, 500, "api_error", "bw-sim: out of memory");
        return;
    }
    struct evbuffer *b = r->body;
    sj_raw(b, "{\"data\":[");
    for (size_t i = 0; i < p.win.count; i++) {
        int64_t bs = p.win.first + (int64_t)i * SIM_DAY;
        double f = sim_restate_factor(a, bs);
        memset(acc, 0, (g.n_groups ? g.n_groups : 1) * sizeof *acc);
        for (size_t s = 0; s < a->n_series; s++) {
            struct sim_sum day = {0};
            sim_sum_series(a, s, bs, bs + SIM_DAY, c->hl, &day);
            for (int l = 0; l < SIM_L_COUNT; l++) {
                int gi = g.group_of[s * SIM_L_COUNT + (size_t)l];
                if (gi >= 0)
                    acc[gi].micro += sim_cost_micro(&a->series[s], (enum sim_line)l, &day, f);
            }
        }
        bucket_open(b, i, bs, bs + SIM_DAY);
        int first = 1;
        for (size_t gi = 0; gi < g.n_groups; gi++) {
            if (!acc[gi].micro)
                continue;
            sj_raw(b, first ? "" : ",");
            first = 0;
            size_t item = g.rep[gi];
            emit_cost(b, a, &a->series[item / SIM_L_COUNT], (int)(item % SIM_L_COUNT), p.mask,
                      acc[gi].micro);
        }
        sj_raw(b, "]}");
    }
    sj_raw(b, "],");
    sim_window_next(b, &p.win, c->repeat_cursor);
    sj_raw(b, "}");
    free(acc);
    sim_groups_free(&g);
}

/* ---- lists: API keys and workspaces ---- */

static int list_limit(struct sim_ctx *c, struct sim_resp *r, int64_t *limit)
{
    const char *lim = sim_query_get(c->q, "limit");
    *limit = 20;
    if (lim && (sim_parse_i64(lim, limit) || *limit < 1 || *limit > 1000)) {
        char msg[128];
        snprintf(msg, sizeof msg,
                 "limit: The limit parameter must be between 1 and 1000, inclusive. Got %.20s.",
                 lim);
        bad_request(r, msg);
        return -1;
    }
    return 0;
}

/* Resolves after_id/before_id against ids; 0 ok, -1 after a 400. */
static int list_cursor(struct sim_ctx *c, struct sim_resp *r, const char *const *ids, size_t n,
                       long *ai, long *bi)
{
    const char *after = sim_query_get(c->q, "after_id"), *before = sim_query_get(c->q, "before_id");
    *ai = *bi = -1;
    if (after && before) {
        bad_request(r, "Only one of after_id and before_id may be given");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (after && strcmp(ids[i], after) == 0)
            *ai = (long)i;
        if (before && strcmp(ids[i], before) == 0)
            *bi = (long)i;
    }
    if ((after && *ai < 0) || (before && *bi < 0)) {
        bad_request(r, "Invalid cursor: no such id");
        return -1;
    }
    return 0;
}

static void list_tail(struct evbuffer *b, const char *first, const char *last, int more,
                      struct sim_ctx *c)
{
    const char *after = sim_query_get(c->q, "after_id");
    sj_raw(b, "],\"first_id\":");
    sj_str(b, first);
    sj_raw(b, ",\"has_more\":");
    sj_raw(b, more || (c->repeat_cursor && after) ? "true" : "false");
    sj_raw(b, ",\"last_id\":");
    sj_str(b, c->repeat_cursor && after ? after : last);
    sj_raw(b, "}");
}

static void emit_key(struct evbuffer *b, const struct sim_account *a, const struct sim_key *k)
{
    const struct sim_user *u = &sim_users[k->user >= 0 ? k->user : 0];
    char t[40];
    sj_raw(b, "{\"id\":");
    sj_str(b, k->id);
    evbuffer_add_printf(b, ",\"created_at\":\"%s\"", tu_format_time(k->created_at, t, sizeof t));
    sj_raw(b, ",\"created_by\":{\"id\":");
    sj_str(b, u->anthropic_id);
    sj_raw(b, ",\"type\":\"user\"},\"expires_at\":null,\"name\":");
    sj_str(b, k->name);
    evbuffer_add_printf(b, ",\"partial_key_hint\":\"sk-ant-api03-%.3s...%sAA\"", k->hint, k->hint);
    sj_raw(b, ",\"principal\":{\"id\":");
    sj_str(b, u->anthropic_id);
    sj_raw(b, ",\"type\":\"user\"},\"status\":");
    sj_str(b, k->archived ? "archived" : "active");
    sj_raw(b, ",\"type\":\"api_key\",\"workspace_id\":");
    sj_str(b, ws_id(a, k->project));
    sj_raw(b, "}");
}

static const struct sim_account *cmp_acct; /* qsort context; the loop is single-threaded */

static int key_order(const void *pa, const void *pb)
{
    const struct sim_key *x = &cmp_acct->keys[*(const size_t *)pa];
    const struct sim_key *y = &cmp_acct->keys[*(const size_t *)pb];
    if (x->created_at != y->created_at)
        return x->created_at < y->created_at ? -1 : 1;
    return strcmp(x->id, y->id);
}

static void api_keys(struct sim_ctx *c, struct sim_resp *r)
{
    int64_t limit;
    if (list_limit(c, r, &limit))
        return;
    const struct sim_account *a = c->a;
    const char *status = sim_query_get(c->q, "status");
    const char *ws = sim_query_get(c->q, "workspace_id");
    const char *by = sim_query_get(c->q, "created_by_user_id");
    size_t *idx = malloc((a->n_keys ? a->n_keys : 1) * sizeof *idx), n = 0;
    const char **ids = malloc((a->n_keys ? a->n_keys : 1) * sizeof *ids);
    if (!idx || !ids) {
        free(idx);
        free(ids);
        sim_anthropic_error(r, 500, "api_error", "bw-sim: out of memory");
        return;
    }
    for (size_t k = 0; k < a->n_keys; k++) {
        const struct sim_key *K = &a->keys[k];
        const char *st = K->archived ? "archived" : "active";
        const char *w = ws_id(a, K->project);
        if (status && strcmp(status, st) != 0)
            continue;
        if (ws && (!w || strcmp(ws, w) != 0))
            continue;
        if (by && strcmp(by, sim_users[K->user >= 0 ? K->user : 0].anthropic_id) != 0)
            continue;
        idx[n++] = k;
    }
    cmp_acct = a;
    qsort(idx, n, sizeof *idx, key_order);
    for (size_t i = 0; i < n; i++)
        ids[i] = a->keys[idx[i]].id;
    long ai, bi;
    if (list_cursor(c, r, ids, n, &ai, &bi) == 0) {
        size_t lo, hi;
        int more;
        sim_list_page(n, ai, bi, (size_t)limit, &lo, &hi, &more);
        sj_raw(r->body, "{\"data\":[");
        for (size_t i = lo; i < hi; i++) {
            if (i > lo)
                sj_raw(r->body, ",");
            emit_key(r->body, a, &a->keys[idx[i]]);
        }
        list_tail(r->body, hi > lo ? ids[lo] : NULL, hi > lo ? ids[hi - 1] : NULL, more, c);
    }
    free(idx);
    free(ids);
}

static void emit_workspace(struct evbuffer *b, const struct sim_project *p, size_t i)
{
    static const char *const colors[] = {"#6C5BB9", "#2E8B57", "#C0504D", "#4F81BD"};
    sj_raw(b, "{\"id\":");
    sj_str(b, p->id);
    sj_raw(b, ",\"archived_at\":");
    if (p->archived_at)
        sj_time(b, p->archived_at);
    else
        sj_raw(b, "null");
    sj_raw(b, ",\"created_at\":");
    sj_time(b, p->created_at);
    sj_raw(b, ",\"data_residency\":{\"allowed_inference_geos\":\"unrestricted\","
              "\"default_inference_geo\":\"global\",\"workspace_geo\":\"us\"},"
              "\"display_color\":");
    sj_str(b, colors[i % N_OF(colors)]);
    sj_raw(b, ",\"external_key_id\":null,\"name\":");
    sj_str(b, p->name);
    sj_raw(b, ",\"tags\":{},\"type\":\"workspace\"}");
}

static void workspaces(struct sim_ctx *c, struct sim_resp *r)
{
    int64_t limit;
    if (list_limit(c, r, &limit))
        return;
    const struct sim_account *a = c->a;
    const char *ia = sim_query_get(c->q, "include_archived");
    int archived = ia && strcmp(ia, "true") == 0;
    size_t idx[64], n = 0;
    const char *ids[64];
    for (size_t p = 0; p < a->n_projects && n < N_OF(idx); p++)
        if (archived || !a->projects[p].archived_at) {
            ids[n] = a->projects[p].id;
            idx[n++] = p;
        }
    long ai, bi;
    if (list_cursor(c, r, ids, n, &ai, &bi))
        return;
    size_t lo, hi;
    int more;
    sim_list_page(n, ai, bi, (size_t)limit, &lo, &hi, &more);
    sj_raw(r->body, "{\"data\":[");
    for (size_t i = lo; i < hi; i++) {
        if (i > lo)
            sj_raw(r->body, ",");
        emit_workspace(r->body, &a->projects[idx[i]], idx[i]);
    }
    list_tail(r->body, hi > lo ? ids[lo] : NULL, hi > lo ? ids[hi - 1] : NULL, more, c);
}

/* ---- dispatch ---- */

void an_handle(struct sim_ctx *c, struct sim_resp *r)
{
    const char *s = c->sub;
    const struct sim_account *a = c->a;
    if (strcmp(s, "/usage_report/messages") == 0) {
        usage_report(c, r);
        return;
    }
    if (strcmp(s, "/cost_report") == 0) {
        cost_report(c, r);
        return;
    }
    if (strcmp(s, "/api_keys") == 0) {
        api_keys(c, r);
        return;
    }
    if (strcmp(s, "/workspaces") == 0) {
        workspaces(c, r);
        return;
    }
    if (strcmp(s, "/me") == 0) {
        sj_raw(r->body, "{\"id\":\"7c4b1f2e-2f0a-4a7e-9d1b-5e6f00c0ffee\",\"name\":\"Acme\","
                        "\"type\":\"organization\"}");
        return;
    }
    if (strncmp(s, "/api_keys/", 10) == 0) {
        for (size_t k = 0; k < a->n_keys; k++)
            if (strcmp(a->keys[k].id, s + 10) == 0) {
                emit_key(r->body, a, &a->keys[k]);
                return;
            }
    }
    if (strncmp(s, "/workspaces/", 12) == 0) {
        for (size_t p = 0; p < a->n_projects; p++)
            if (strcmp(a->projects[p].id, s + 12) == 0) {
                emit_workspace(r->body, &a->projects[p], p);
                return;
            }
    }
    sim_anthropic_error(r, 404, "not_found_error", "The requested resource could not be found.");
}
