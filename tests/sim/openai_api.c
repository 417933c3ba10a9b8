/*
 * The simulated OpenAI Administration API under /v1/organization: the ten
 * usage endpoints (completions and embeddings carry data, the rest answer
 * valid empty pages), costs, audit logs, projects, project API keys and admin
 * API keys, with the published envelopes, field names, types and limits.
 */
#include "openai_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/timeutil.h"
#include "simaudit.h"
#include "simgroup.h"

enum usage_data { UD_NONE, UD_CHAT, UD_EMBED };

struct usage_kind {
    const char *path;
    const char *object;
    const char *const *groups;
    size_t n_groups;
    enum usage_data data;
};

static const char *const g_completions[] = {"project_id", "user_id", "api_key_id",
                                            "model",      "batch",   "service_tier"};
static const char *const g_common[] = {"project_id", "user_id", "api_key_id", "model"};
static const char *const g_images[] = {"project_id", "user_id", "api_key_id",
                                       "model",      "size",    "source"};
static const char *const g_project[] = {"project_id"};
static const char *const g_files[] = {"project_id", "user_id", "api_key_id", "vector_store_id"};
static const char *const g_web[] = {"project_id", "user_id", "api_key_id", "model",
                                    "context_level"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const struct usage_kind kinds[] = {
    {"completions", "organization.usage.completions.result", g_completions, N_OF(g_completions),
     UD_CHAT},
    {"embeddings", "organization.usage.embeddings.result", g_common, N_OF(g_common), UD_EMBED},
    {"moderations", "organization.usage.moderations.result", g_common, N_OF(g_common), UD_NONE},
    {"images", "organization.usage.images.result", g_images, N_OF(g_images), UD_NONE},
    {"audio_speeches", "organization.usage.audio_speeches.result", g_common, N_OF(g_common),
     UD_NONE},
    {"audio_transcriptions", "organization.usage.audio_transcriptions.result", g_common,
     N_OF(g_common), UD_NONE},
    {"vector_stores", "organization.usage.vector_stores.result", g_project, N_OF(g_project),
     UD_NONE},
    {"code_interpreter_sessions", "organization.usage.code_interpreter_sessions.result", g_project,
     N_OF(g_project), UD_NONE},
    {"file_search_calls", "organization.usage.file_searches.result", g_files, N_OF(g_files),
     UD_NONE},
    {"web_search_calls", "organization.usage.web_searches.result", g_web, N_OF(g_web), UD_NONE},
};

static void bad_request(struct sim_resp *r, const char *param, const char *msg)
{
    sim_openai_error(r, 400, "invalid_request_error", param, NULL, msg);
}

/* ---- report pages (usage and costs) ---- */

struct page_req {
    int64_t start, end;
    int has_end;
    int64_t width;
    int64_t limit;
    unsigned mask;
    struct sim_window win;
};

/*
 * Reads start_time, end_time, bucket_width, limit, page and group_by.
 * widths: allowed widths ("1h,1d" or "1d"). 0 ok, -1 after writing a 400.
 */
static int page_params(struct sim_ctx *c, struct sim_resp *r, int costs, const char *const *groups,
                       size_t n_groups, struct page_req *p)
{
    const char *s = sim_query_get(c->q, "start_time");
    const char *e = sim_query_get(c->q, "end_time");
    const char *bw = sim_query_get(c->q, "bucket_width");
    const char *lim = sim_query_get(c->q, "limit");
    char msg[256];
    memset(p, 0, sizeof *p);
    if (!s) {
        bad_request(r, "start_time", "Missing required parameter: 'start_time'.");
        return -1;
    }
    if (sim_parse_i64(s, &p->start) || p->start < 0) {
        bad_request(r, "start_time", "Invalid 'start_time': expected Unix seconds.");
        return -1;
    }
    if (e) {
        if (sim_parse_i64(e, &p->end)) {
            bad_request(r, "end_time", "Invalid 'end_time': expected Unix seconds.");
            return -1;
        }
        p->has_end = 1;
    }
    if (!bw || strcmp(bw, "1d") == 0) {
        p->width = SIM_DAY;
    } else if (!costs && strcmp(bw, "1h") == 0) {
        p->width = SIM_HOUR;
    } else if (!costs && strcmp(bw, "1m") == 0) {
        bad_request(r, "bucket_width", "bw-sim serves hourly data: use bucket_width 1h or 1d.");
        return -1;
    } else {
        bad_request(r, "bucket_width",
                    costs ? "Invalid 'bucket_width': only '1d' is supported."
                          : "Invalid 'bucket_width': expected one of '1m', '1h', '1d'.");
        return -1;
    }
    int64_t def = 7, max = 31;
    if (costs)
        max = 180;
    else if (p->width == SIM_HOUR)
        def = 24, max = 168;
    p->limit = def;
    if (lim && (sim_parse_i64(lim, &p->limit) || p->limit < 1 || p->limit > max)) {
        snprintf(msg, sizeof msg, "Invalid 'limit': must be between 1 and %lld.", (long long)max);
        bad_request(r, "limit", msg);
        return -1;
    }
    const char *gv[SIM_MAX_FILTER], *bad = NULL;
    size_t ng = sim_query_multi(c->q, "group_by", gv, SIM_MAX_FILTER);
    if (ng > SIM_MAX_FILTER || sim_group_mask(gv, ng, groups, n_groups, &p->mask, &bad) != 0) {
        snprintf(msg, sizeof msg, "Invalid 'group_by' value: '%.100s'.", bad ? bad : "");
        bad_request(r, "group_by", msg);
        return -1;
    }
    if (sim_window_plan(&p->win, p->start, p->has_end, p->end, p->width, p->limit,
                        sim_query_get(c->q, "page"), c->hl, msg, sizeof msg)) {
        bad_request(r, "page", msg);
        return -1;
    }
    return 0;
}

struct usage_ctx {
    struct sim_ctx *c;
    enum usage_data data;
    struct sim_filter projects, users, keys, models;
    int batch_only;
};

static const char *project_id(const struct sim_account *a, int p)
{
    return p < 0 ? NULL : a->projects[p].id;
}

static const char *key_id(const struct sim_account *a, int k)
{
    return k < 0 ? NULL : a->keys[k].id;
}

static const char *user_id(int u)
{
    return u < 0 ? NULL : sim_users[u].openai_id;
}

static int usage_dims(void *vctx, size_t item, int dims[SIM_MAX_DIMS])
{
    struct usage_ctx *u = vctx;
    const struct sim_account *a = u->c->a;
    const struct sim_series *s = &a->series[item];
    enum sim_kind want = u->data == UD_EMBED ? SIM_KIND_EMBED : SIM_KIND_CHAT;
    if (u->data == UD_NONE || u->batch_only || sim_models[s->model].kind != want)
        return 0;
    if (!sim_filter_match(&u->projects, project_id(a, s->project)) ||
        !sim_filter_match(&u->users, user_id(s->user)) ||
        !sim_filter_match(&u->keys, key_id(a, s->key)) ||
        !sim_filter_match(&u->models, sim_models[s->model].id))
        return 0;
    dims[0] = s->project;
    dims[1] = s->user;
    dims[2] = s->key;
    dims[3] = s->model;
    dims[4] = 0; /* batch: false */
    dims[5] = 0; /* service_tier: "default" */
    return 1;
}

static void grouped_str(struct evbuffer *b, const char *name, unsigned mask, int bit, const char *v)
{
    evbuffer_add_printf(b, ",\"%s\":", name);
    sj_str(b, (mask & (1u << bit)) ? v : NULL);
}

static void emit_usage_result(struct evbuffer *b, const struct usage_kind *k,
                              const struct sim_account *a, const struct sim_series *s,
                              unsigned mask, const struct sim_sum *m)
{
    int64_t cw = 0, in = m->unc + m->read + cw;
    evbuffer_add_printf(b, "{\"object\":\"%s\",\"input_tokens\":%lld", k->object, (long long)in);
    if (k->data == UD_CHAT) {
        evbuffer_add_printf(b,
                            ",\"input_cached_tokens\":%lld,\"input_cache_write_tokens\":%lld"
                            ",\"input_uncached_tokens\":%lld,\"output_tokens\":%lld"
                            ",\"input_text_tokens\":%lld,\"output_text_tokens\":%lld"
                            ",\"input_cached_text_tokens\":%lld,\"input_audio_tokens\":0"
                            ",\"input_cached_audio_tokens\":0,\"output_audio_tokens\":0"
                            ",\"input_image_tokens\":0,\"input_cached_image_tokens\":0"
                            ",\"output_image_tokens\":0",
                            (long long)m->read, (long long)cw, (long long)m->unc, (long long)m->out,
                            (long long)m->unc, (long long)m->out, (long long)m->read);
    }
    evbuffer_add_printf(b, ",\"num_model_requests\":%lld", (long long)m->req);
    grouped_str(b, "project_id", mask, 0, project_id(a, s->project));
    grouped_str(b, "user_id", mask, 1, user_id(s->user));
    grouped_str(b, "api_key_id", mask, 2, key_id(a, s->key));
    grouped_str(b, "model", mask, 3, sim_models[s->model].id);
    if (k->data == UD_CHAT) {
        sj_raw(b, (mask & (1u << 4)) ? ",\"batch\":false" : ",\"batch\":null");
        grouped_str(b, "service_tier", mask, 5, "default");
    }
    sj_raw(b, "}");
}

static int usage(struct sim_ctx *c, struct sim_resp *r, const struct usage_kind *k)
{
    struct page_req p;
    if (page_params(c, r, 0, k->groups, k->n_groups, &p))
        return 0;
    struct usage_ctx u = {.c = c, .data = k->data};
    const char *batch = sim_query_get(c->q, "batch");
    u.batch_only = batch && strcmp(batch, "true") == 0;
    if (sim_filter_get(c->q, "project_ids", &u.projects) ||
        sim_filter_get(c->q, "user_ids", &u.users) ||
        sim_filter_get(c->q, "api_key_ids", &u.keys) || sim_filter_get(c->q, "models", &u.models)) {
        bad_request(r, NULL, "Too many filter values.");
        return 0;
    }
    struct sim_groups g;
    struct sim_sum *acc = NULL;
    int rc = -1;
    const struct sim_account *a = c->a;
    if (sim_groups_build(&g, a->n_series, k->n_groups, p.mask, usage_dims, &u))
        goto out;
    acc = calloc(g.n_groups ? g.n_groups : 1, sizeof *acc);
    if (!acc)
        goto out;
    struct evbuffer *b = r->body;
    sj_raw(b, "{\"object\":\"page\",\"data\":[");
    for (size_t i = 0; i < p.win.count; i++) {
        int64_t bs = p.win.first + (int64_t)i * p.width, be = bs + p.width;
        memset(acc, 0, (g.n_groups ? g.n_groups : 1) * sizeof *acc);
        for (size_t s = 0; s < a->n_series; s++)
            if (g.group_of[s] >= 0)
                sim_sum_series(a, s, bs, be, c->hl, &acc[g.group_of[s]]);
        evbuffer_add_printf(b,
                            "%s{\"object\":\"bucket\",\"start_time\":%lld,\"end_time\":%lld,"
                            "\"results\":[",
                            i ? "," : "", (long long)bs, (long long)be);
        int first = 1;
        for (size_t gi = 0; gi < g.n_groups; gi++) {
            const struct sim_sum *m = &acc[gi];
            if (!m->req && !m->unc && !m->read && !m->out)
                continue;
            if (!first)
                sj_raw(b, ",");
            first = 0;
            emit_usage_result(b, k, a, &a->series[g.rep[gi]], p.mask, m);
        }
        sj_raw(b, "]}");
    }
    sj_raw(b, "],");
    sim_window_next(b, &p.win, c->repeat_cursor);
    sj_raw(b, "}");
    rc = 0;
out:
    free(acc);
    sim_groups_free(&g);
    if (rc)
        sim_openai_error(r, 500, "server_error", NULL, NULL, "bw-sim: out of memory");
    return 0;
}

/* ---- costs ---- */

static const char *const g_costs[] = {"project_id", "line_item", "api_key_id"};

struct cost_ctx {
    const struct sim_account *a;
    struct sim_filter projects, keys;
};

static int cost_dims(void *vctx, size_t item, int dims[SIM_MAX_DIMS])
{
    struct cost_ctx *cc = vctx;
    const struct sim_series *s = &cc->a->series[item / SIM_L_COUNT];
    int l = (int)(item % SIM_L_COUNT);
    if (!sim_models[s->model].price[l])
        return 0;
    if (!sim_filter_match(&cc->projects, project_id(cc->a, s->project)) ||
        !sim_filter_match(&cc->keys, key_id(cc->a, s->key)))
        return 0;
    dims[0] = s->project;
    dims[1] = s->model * SIM_L_COUNT + l;
    dims[2] = s->key;
    return 1;
}

/* "gpt-4o, cached input"; the model id alone if the buffer is too small. */
static void line_item(const struct sim_series *s, int l, char *buf, size_t len)
{
    const char *what = l == SIM_L_CACHED ? "cached input" : l == SIM_L_OUTPUT ? "output" : "input";
    int n = snprintf(buf, len, "%s, %s", sim_models[s->model].id, what);
    if (n < 0 || (size_t)n >= len)
        snprintf(buf, len, "%s", sim_models[s->model].id);
}

struct cost_acc {
    int64_t micro, qty;
};

static int costs(struct sim_ctx *c, struct sim_resp *r)
{
    struct page_req p;
    if (page_params(c, r, 1, g_costs, N_OF(g_costs), &p))
        return 0;
    struct cost_ctx cc = {.a = c->a};
    if (sim_filter_get(c->q, "project_ids", &cc.projects) ||
        sim_filter_get(c->q, "api_key_ids", &cc.keys)) {
        bad_request(r, NULL, "Too many filter values.");
        return 0;
    }
    const struct sim_account *a = c->a;
    struct sim_groups g;
    struct cost_acc *acc = NULL;
    int rc = -1;
    size_t n_items = a->n_series * SIM_L_COUNT;
    if (sim_groups_build(&g, n_items, N_OF(g_costs), p.mask, cost_dims, &cc))
        goto out;
    acc = calloc(g.n_groups ? g.n_groups : 1, sizeof *acc);
    if (!acc)
        goto out;
    struct evbuffer *b = r->body;
    sj_raw(b, "{\"object\":\"page\",\"data\":[");
    for (size_t i = 0; i < p.win.count; i++) {
        int64_t bs = p.win.first + (int64_t)i * p.width;
        double f = sim_restate_factor(a, bs);
        memset(acc, 0, (g.n_groups ? g.n_groups : 1) * sizeof *acc);
        for (size_t s = 0; s < a->n_series; s++) {
            struct sim_sum day = {0};
            int summed = 0;
            for (int l = 0; l < SIM_L_COUNT; l++) {
                int gi = g.group_of[s * SIM_L_COUNT + (size_t)l];
                if (gi < 0)
                    continue;
                if (!summed) {
                    sim_sum_series(a, s, bs, bs + SIM_DAY, c->hl, &day);
                    summed = 1;
                }
                acc[gi].micro += sim_cost_micro(&a->series[s], (enum sim_line)l, &day, f);
                acc[gi].qty += sim_line_qty(&day, (enum sim_line)l);
            }
        }
        evbuffer_add_printf(b,
                            "%s{\"object\":\"bucket\",\"start_time\":%lld,\"end_time\":%lld,"
                            "\"results\":[",
                            i ? "," : "", (long long)bs, (long long)bs + (long long)p.width);
        int first = 1;
        for (size_t gi = 0; gi < g.n_groups; gi++) {
            if (!acc[gi].micro && !acc[gi].qty)
                continue;
            const struct sim_series *s = &a->series[g.rep[gi] / SIM_L_COUNT];
            int l = (int)(g.rep[gi] % SIM_L_COUNT);
            char li[128];
            line_item(s, l, li, sizeof li);
            sj_raw(b, first ? "" : ",");
            first = 0;
            sj_raw(b, "{\"object\":\"organization.costs.result\",\"amount\":{\"value\":");
            sj_dollars(b, acc[gi].micro);
            sj_raw(b, ",\"currency\":\"usd\"}");
            grouped_str(b, "line_item", p.mask, 1, li);
            grouped_str(b, "project_id", p.mask, 0, project_id(a, s->project));
            grouped_str(b, "api_key_id", p.mask, 2, key_id(a, s->key));
            if (p.mask & 2u)
                evbuffer_add_printf(b, ",\"quantity\":%lld,\"quantity_unit\":\"tokens\"}",
                                    (long long)acc[gi].qty);
            else
                sj_raw(b, ",\"quantity\":null,\"quantity_unit\":null}");
        }
        sj_raw(b, "]}");
    }
    sj_raw(b, "],");
    sim_window_next(b, &p.win, c->repeat_cursor);
    sj_raw(b, "}");
    rc = 0;
out:
    free(acc);
    sim_groups_free(&g);
    if (rc)
        sim_openai_error(r, 500, "server_error", NULL, NULL, "bw-sim: out of memory");
    return 0;
}

/* ---- audit logs ---- */

static void emit_event(struct evbuffer *b, const struct sim_account *a, const struct sim_event *e)
{
    const struct sim_user *u = &sim_users[e->user];
    const struct sim_geo *g = &sim_geos[e->geo];
    sj_raw(b, "{\"id\":");
    sj_str(b, e->id);
    sj_raw(b, ",\"type\":");
    sj_str(b, e->type);
    evbuffer_add_printf(b, ",\"effective_at\":%lld", (long long)e->t);
    if (e->project >= 0) {
        sj_raw(b, ",\"project\":{\"id\":");
        sj_str(b, a->projects[e->project].id);
        sj_raw(b, ",\"name\":");
        sj_str(b, a->projects[e->project].name);
        sj_raw(b, "}");
    }
    sj_raw(b, ",\"actor\":{\"type\":\"session\",\"session\":{\"user\":{\"id\":");
    sj_str(b, u->openai_id);
    sj_raw(b, ",\"email\":");
    sj_str(b, u->email);
    sj_raw(b, "},\"ip_address\":");
    sj_str(b, g->ip);
    sj_raw(b, ",\"user_agent\":");
    sj_str(b, e->ua);
    sj_raw(b, ",\"ip_address_details\":{\"country\":");
    sj_str(b, g->country);
    sj_raw(b, ",\"city\":");
    sj_str(b, g->city);
    sj_raw(b, ",\"region\":");
    sj_str(b, g->region);
    sj_raw(b, ",\"region_code\":");
    sj_str(b, g->region_code);
    sj_raw(b, ",\"asn\":");
    sj_str(b, g->asn);
    sj_raw(b, ",\"latitude\":");
    sj_str(b, g->lat);
    sj_raw(b, ",\"longitude\":");
    sj_str(b, g->lon);
    sj_raw(b, "}}},");
    sj_str(b, e->type);
    sj_raw(b, ":{");
    if (e->error_code) {
        sj_raw(b, "\"error_code\":");
        sj_str(b, e->error_code);
        sj_raw(b, ",\"error_message\":");
        sj_str(b, e->error_message);
    } else if (e->key >= 0) {
        sj_raw(b, "\"id\":");
        sj_str(b, a->keys[e->key].id);
        sj_raw(b, ",\"data\":{\"scopes\":[\"api.model.request\"]}");
    } else if (strcmp(e->type, "project.archived") == 0) {
        sj_raw(b, "\"id\":");
        sj_str(b, a->projects[e->project].id);
    }
    sj_raw(b, "}}");
}

struct audit_filter {
    int64_t gt, gte, lt, lte;
    struct sim_filter types, emails, actors, projects, resources;
};

static int event_visible(const struct sim_account *a, const struct sim_event *e, int64_t now,
                         const struct audit_filter *f)
{
    if (e->t >= now || e->t <= f->gt || e->t < f->gte || e->t >= f->lt || e->t > f->lte)
        return 0;
    const char *res = e->key >= 0 ? a->keys[e->key].id
                      : e->project >= 0 && strcmp(e->type, "project.archived") == 0
                          ? a->projects[e->project].id
                          : NULL;
    return sim_filter_match(&f->types, e->type) &&
           sim_filter_match(&f->emails, sim_users[e->user].email) &&
           sim_filter_match(&f->actors, sim_users[e->user].openai_id) &&
           sim_filter_match(&f->projects, e->project >= 0 ? a->projects[e->project].id : NULL) &&
           sim_filter_match(&f->resources, res);
}

static int audit_logs(struct sim_ctx *c, struct sim_resp *r)
{
    struct audit_filter f = {.gt = INT64_MIN, .gte = INT64_MIN, .lt = INT64_MAX, .lte = INT64_MAX};
    static const char *const ops[] = {"effective_at[gt]", "effective_at[gte]", "effective_at[lt]",
                                      "effective_at[lte]"};
    int64_t *dst[] = {&f.gt, &f.gte, &f.lt, &f.lte};
    for (size_t i = 0; i < 4; i++) {
        const char *v = sim_query_get(c->q, ops[i]);
        if (v && sim_parse_i64(v, dst[i])) {
            bad_request(r, "effective_at", "Invalid 'effective_at': expected Unix seconds.");
            return 0;
        }
    }
    int64_t limit = 20;
    const char *lim = sim_query_get(c->q, "limit");
    if (lim && (sim_parse_i64(lim, &limit) || limit < 1 || limit > 100)) {
        bad_request(r, "limit", "Invalid 'limit': must be between 1 and 100.");
        return 0;
    }
    if (sim_filter_get(c->q, "event_types", &f.types) ||
        sim_filter_get(c->q, "actor_emails", &f.emails) ||
        sim_filter_get(c->q, "actor_ids", &f.actors) ||
        sim_filter_get(c->q, "project_ids", &f.projects) ||
        sim_filter_get(c->q, "resource_ids", &f.resources)) {
        bad_request(r, NULL, "Too many filter values.");
        return 0;
    }
    const struct sim_account *a = c->a;
    size_t *idx = malloc((a->n_events ? a->n_events : 1) * sizeof *idx), n = 0;
    if (!idx) {
        sim_openai_error(r, 500, "server_error", NULL, NULL, "bw-sim: out of memory");
        return 0;
    }
    for (size_t i = a->n_events; i-- > 0;) /* newest first */
        if (event_visible(a, &a->events[i], c->w->now, &f))
            idx[n++] = i;
    const char *after = sim_query_get(c->q, "after"), *before = sim_query_get(c->q, "before");
    long ai = -1, bi = -1;
    for (size_t i = 0; i < n && (after || before); i++) {
        if (after && strcmp(a->events[idx[i]].id, after) == 0)
            ai = (long)i;
        if (before && strcmp(a->events[idx[i]].id, before) == 0)
            bi = (long)i;
    }
    if ((after && ai < 0) || (before && bi < 0)) {
        free(idx);
        bad_request(r, after && ai < 0 ? "after" : "before", "Invalid cursor: no such event.");
        return 0;
    }
    size_t lo, hi;
    int more;
    sim_list_page(n, ai, bi, (size_t)limit, &lo, &hi, &more);
    struct evbuffer *b = r->body;
    sj_raw(b, "{\"object\":\"list\",\"data\":[");
    for (size_t i = lo; i < hi; i++) {
        if (i > lo)
            sj_raw(b, ",");
        emit_event(b, a, &a->events[idx[i]]);
    }
    sj_raw(b, "],\"first_id\":");
    sj_str(b, hi > lo ? a->events[idx[lo]].id : NULL);
    sj_raw(b, ",\"last_id\":");
    if (c->repeat_cursor && after) {
        sj_str(b, after);
        more = 1;
    } else {
        sj_str(b, hi > lo ? a->events[idx[hi - 1]].id : NULL);
    }
    sj_raw(b, more ? ",\"has_more\":true}" : ",\"has_more\":false}");
    free(idx);
    return 0;
}

/* ---- projects and keys ---- */

static void emit_project(struct evbuffer *b, const struct sim_project *p)
{
    sj_raw(b, "{\"id\":");
    sj_str(b, p->id);
    sj_raw(b, ",\"object\":\"organization.project\",\"name\":");
    sj_str(b, p->name);
    evbuffer_add_printf(b, ",\"created_at\":%lld,\"archived_at\":", (long long)p->created_at);
    if (p->archived_at)
        evbuffer_add_printf(b, "%lld,\"status\":\"archived\"}", (long long)p->archived_at);
    else
        sj_raw(b, "null,\"status\":\"active\"}");
}

static int list_limit(struct sim_ctx *c, struct sim_resp *r, int64_t max, int64_t *limit)
{
    const char *lim = sim_query_get(c->q, "limit");
    *limit = 20;
    if (lim && (sim_parse_i64(lim, limit) || *limit < 1 || (max > 0 && *limit > max))) {
        char msg[96];
        snprintf(msg, sizeof msg, "Invalid 'limit': must be between 1 and %lld.", (long long)max);
        bad_request(r, "limit", msg);
        return -1;
    }
    return 0;
}

/* Writes a list envelope over ids[lo..hi) already emitted as data. */
static void list_tail(struct evbuffer *b, const char *first, const char *last, int more,
                      const char *after, int repeat)
{
    sj_raw(b, "],\"first_id\":");
    sj_str(b, first);
    sj_raw(b, ",\"last_id\":");
    if (repeat && after) {
        sj_str(b, after);
        more = 1;
    } else {
        sj_str(b, last);
    }
    sj_raw(b, more ? ",\"has_more\":true}" : ",\"has_more\":false}");
}

static int projects(struct sim_ctx *c, struct sim_resp *r)
{
    int64_t limit;
    if (list_limit(c, r, 100, &limit))
        return 0;
    const char *ia = sim_query_get(c->q, "include_archived");
    int archived = ia && strcmp(ia, "true") == 0;
    const struct sim_account *a = c->a;
    size_t idx[64], n = 0;
    for (size_t p = 0; p < a->n_projects && n < N_OF(idx); p++)
        if (archived || !a->projects[p].archived_at)
            idx[n++] = p;
    const char *after = sim_query_get(c->q, "after");
    long ai = -1;
    for (size_t i = 0; after && i < n; i++)
        if (strcmp(a->projects[idx[i]].id, after) == 0)
            ai = (long)i;
    if (after && ai < 0) {
        bad_request(r, "after", "Invalid cursor: no such project.");
        return 0;
    }
    size_t lo, hi;
    int more;
    sim_list_page(n, ai, -1, (size_t)limit, &lo, &hi, &more);
    sj_raw(r->body, "{\"object\":\"list\",\"data\":[");
    for (size_t i = lo; i < hi; i++) {
        if (i > lo)
            sj_raw(r->body, ",");
        emit_project(r->body, &a->projects[idx[i]]);
    }
    list_tail(r->body, hi > lo ? a->projects[idx[lo]].id : NULL,
              hi > lo ? a->projects[idx[hi - 1]].id : NULL, more, after, c->repeat_cursor);
    return 0;
}

static int64_t user_created(const struct sim_world *w, int u)
{
    return tu_floor(w->anchor, SIM_DAY) - (700 - u * 40) * (int64_t)SIM_DAY + 15 * SIM_HOUR;
}

static void emit_project_key(struct evbuffer *b, const struct sim_ctx *c, size_t k)
{
    const struct sim_key *K = &c->a->keys[k];
    evbuffer_add_printf(b,
                        "{\"object\":\"organization.project.api_key\",\"redacted_value\":"
                        "\"sk-proj-...%s\",\"name\":",
                        K->hint);
    sj_str(b, K->name);
    evbuffer_add_printf(b, ",\"created_at\":%lld,\"last_used_at\":", (long long)K->created_at);
    int64_t lu = sim_key_last_used(c->a, k, c->hl);
    if (lu >= 0)
        sj_i64(b, lu);
    else
        sj_raw(b, "null");
    sj_raw(b, ",\"id\":");
    sj_str(b, K->id);
    sj_raw(b, ",\"owner_project_access\":\"active\",\"owner\":");
    if (K->user >= 0) {
        const struct sim_user *u = &sim_users[K->user];
        sj_raw(b, "{\"type\":\"user\",\"user\":{\"id\":");
        sj_str(b, u->openai_id);
        sj_raw(b, ",\"name\":");
        sj_str(b, u->name);
        sj_raw(b, ",\"email\":");
        sj_str(b, u->email);
        evbuffer_add_printf(b, ",\"role\":\"%s\",\"created_at\":%lld}}}",
                            K->user == 0 ? "owner" : "member",
                            (long long)user_created(c->w, K->user));
    } else {
        sj_raw(b, "{\"type\":\"service_account\",\"service_account\":{\"id\":");
        sj_str(b, K->sa_id);
        sj_raw(b, ",\"name\":");
        sj_str(b, K->sa_name);
        evbuffer_add_printf(b, ",\"created_at\":%lld,\"role\":\"member\"}}}",
                            (long long)(K->created_at - 120));
    }
}

static int project_keys(struct sim_ctx *c, struct sim_resp *r, int p)
{
    int64_t limit;
    if (list_limit(c, r, 100, &limit))
        return 0;
    const struct sim_account *a = c->a;
    const char *opa = sim_query_get(c->q, "owner_project_access");
    int none = opa && strcmp(opa, "inactive") == 0;
    size_t *idx = malloc((a->n_keys ? a->n_keys : 1) * sizeof *idx), n = 0;
    if (!idx) {
        sim_openai_error(r, 500, "server_error", NULL, NULL, "bw-sim: out of memory");
        return 0;
    }
    for (size_t k = 0; k < a->n_keys && !none; k++)
        if (a->keys[k].project == p)
            idx[n++] = k;
    const char *after = sim_query_get(c->q, "after");
    long ai = -1;
    for (size_t i = 0; after && i < n; i++)
        if (strcmp(a->keys[idx[i]].id, after) == 0)
            ai = (long)i;
    if (after && ai < 0) {
        free(idx);
        bad_request(r, "after", "Invalid cursor: no such key.");
        return 0;
    }
    size_t lo, hi;
    int more;
    sim_list_page(n, ai, -1, (size_t)limit, &lo, &hi, &more);
    sj_raw(r->body, "{\"object\":\"list\",\"data\":[");
    for (size_t i = lo; i < hi; i++) {
        if (i > lo)
            sj_raw(r->body, ",");
        emit_project_key(r->body, c, idx[i]);
    }
    list_tail(r->body, hi > lo ? a->keys[idx[lo]].id : NULL,
              hi > lo ? a->keys[idx[hi - 1]].id : NULL, more, after, c->repeat_cursor);
    free(idx);
    return 0;
}

static int admin_keys(struct sim_ctx *c, struct sim_resp *r)
{
    int64_t limit;
    if (list_limit(c, r, 0, &limit))
        return 0;
    const char *after = sim_query_get(c->q, "after");
    if (after && strcmp(after, "key_admin_sim") != 0) {
        bad_request(r, "after", "Invalid cursor: no such key.");
        return 0;
    }
    struct evbuffer *b = r->body;
    sj_raw(b, "{\"object\":\"list\",\"data\":[");
    if (!after) {
        int64_t created = tu_floor(c->w->anchor, SIM_DAY) - 30 * (int64_t)SIM_DAY + 10 * SIM_HOUR;
        evbuffer_add_printf(
            b,
            "{\"object\":\"organization.admin_api_key\",\"id\":\"key_admin_sim\","
            "\"name\":\"byokwatch reader\",\"redacted_value\":\"sk-admin...sim\","
            "\"created_at\":%lld,\"expires_at\":null,\"last_used_at\":%lld,"
            "\"owner\":{\"type\":\"user\",\"object\":\"organization.user\",\"id\":\"user-alice\","
            "\"name\":\"Alice Nguyen\",\"created_at\":%lld,\"role\":\"owner\"}}",
            (long long)created, (long long)tu_floor(c->w->now, 60),
            (long long)user_created(c->w, 0));
    }
    list_tail(b, after ? NULL : "key_admin_sim", after ? NULL : "key_admin_sim", 0, after,
              c->repeat_cursor);
    return 0;
}

/* ---- dispatch ---- */

static int find_project(const struct sim_account *a, const char *id, size_t len)
{
    for (size_t p = 0; p < a->n_projects; p++)
        if (strlen(a->projects[p].id) == len && strncmp(a->projects[p].id, id, len) == 0)
            return (int)p;
    return -1;
}

void oa_handle(struct sim_ctx *c, struct sim_resp *r)
{
    const char *s = c->sub;
    if (strncmp(s, "/usage/", 7) == 0) {
        for (size_t i = 0; i < N_OF(kinds); i++)
            if (strcmp(s + 7, kinds[i].path) == 0) {
                usage(c, r, &kinds[i]);
                return;
            }
    } else if (strcmp(s, "/costs") == 0) {
        costs(c, r);
        return;
    } else if (strcmp(s, "/audit_logs") == 0) {
        audit_logs(c, r);
        return;
    } else if (strcmp(s, "/projects") == 0) {
        projects(c, r);
        return;
    } else if (strcmp(s, "/admin_api_keys") == 0) {
        admin_keys(c, r);
        return;
    } else if (strncmp(s, "/projects/", 10) == 0) {
        const char *id = s + 10, *slash = strchr(id, '/');
        size_t len = slash ? (size_t)(slash - id) : strlen(id);
        int p = find_project(c->a, id, len);
        if (p >= 0 && !slash) {
            emit_project(r->body, &c->a->projects[p]);
            return;
        }
        if (p >= 0 && strcmp(slash, "/api_keys") == 0) {
            project_keys(c, r, p);
            return;
        }
        if (p < 0) {
            sim_openai_error(r, 404, "invalid_request_error", NULL, "not_found",
                             "No such project.");
            return;
        }
    }
    sim_openai_error(r, 404, "invalid_request_error", NULL, NULL,
                     "Invalid URL: no such endpoint in bw-sim.");
}
