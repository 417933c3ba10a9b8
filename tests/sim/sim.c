/*
 * bw-sim: a deterministic simulator of the OpenAI and Anthropic admin APIs
 * for byokwatch's integration tests, demos and benchmarks. One libevent
 * loop; evhttp serves 127.0.0.1; provider answers may be delayed by event
 * timers (never sleep), so many slow requests overlap. This file holds the
 * command line, routing, authentication, fault application and replies.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "../../common/timeutil.h"
#include "anthropic_api.h"
#include "openai_api.h"
#include "simctl.h"
#include "simdata.h"
#include "simhttp.h"

struct pending;

struct server {
    struct event_base *base;
    struct evhttp *http;
    struct sim_world world;
    struct sim_ctl *ctl;
    int delay_ms;
    struct pending *pending; /* delayed replies, doubly linked */
    unsigned long request_seq;
};

struct pending {
    struct server *sv;
    struct evhttp_request *req;
    struct event *timer;
    struct sim_resp resp;
    struct pending *prev, *next;
};

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 414: return "URI Too Long";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

static void reply(struct evhttp_request *req, struct sim_resp *r)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", r->content_type);
    if (r->retry_after[0])
        evhttp_add_header(h, "Retry-After", r->retry_after);
    evhttp_send_reply(req, r->status, reason(r->status), r->body);
}

static void pending_unlink(struct server *sv, struct pending *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        sv->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
}

static void pending_fire(evutil_socket_t fd, short what, void *arg)
{
    struct pending *p = arg;
    (void)fd;
    (void)what;
    pending_unlink(p->sv, p);
    reply(p->req, &p->resp);
    sim_resp_free(&p->resp);
    event_free(p->timer);
    free(p);
}

/* Sends r now or after delay_ms; takes ownership of r's body. */
static void send_later(struct server *sv, struct evhttp_request *req, struct sim_resp *r,
                       int delay_ms)
{
    struct pending *p = delay_ms > 0 ? calloc(1, sizeof *p) : NULL;
    if (p)
        p->timer = evtimer_new(sv->base, pending_fire, p);
    if (!p || !p->timer) {
        free(p);
        reply(req, r);
        sim_resp_free(r);
        return;
    }
    p->sv = sv;
    p->req = req;
    p->resp = *r;
    r->body = NULL;
    p->next = sv->pending;
    if (sv->pending)
        sv->pending->prev = p;
    sv->pending = p;
    struct timeval tv = {delay_ms / 1000, (suseconds_t)(delay_ms % 1000) * 1000};
    evtimer_add(p->timer, &tv);
}

/* Answers every delayed reply at once (shutdown). */
static void pending_flush(struct server *sv)
{
    struct pending *p = sv->pending;
    while (p) {
        struct pending *next = p->next;
        event_del(p->timer);
        pending_fire(-1, 0, p);
        p = next;
    }
}

/* ---- provider requests ---- */

enum provider_route { R_NONE, R_OPENAI, R_ANTHROPIC };

static enum provider_route route(struct sim_world *w, const char *path, struct sim_account **a,
                                 const char **sub)
{
    if (strncmp(path, "/acct/", 6) == 0) {
        char *end;
        errno = 0;
        unsigned long i = strtoul(path + 6, &end, 10);
        if (errno || end == path + 6 || i + 1 >= w->n_openai ||
            strncmp(end, "/v1/organization/", 17) != 0)
            return R_NONE;
        *a = &w->openai[i + 1];
        *sub = end + 16;
        return R_OPENAI;
    }
    if (strncmp(path, "/v1/organizations/", 18) == 0) {
        *a = &w->anthropic;
        *sub = path + 17;
        return R_ANTHROPIC;
    }
    if (strncmp(path, "/v1/organization/", 17) == 0) {
        *a = &w->openai[0];
        *sub = path + 16;
        return R_OPENAI;
    }
    return R_NONE;
}

static void fault_error(enum provider_route pr, const struct sim_fault *f, struct sim_resp *r)
{
    if (pr == R_OPENAI) {
        switch (f->kind) {
        case SF_429:
            sim_openai_error(r, 429, "requests", NULL, "rate_limit_exceeded",
                             "Rate limit reached for requests. Please try again later.");
            break;
        case SF_500:
            sim_openai_error(r, 500, "server_error", NULL, NULL,
                             "The server had an error while processing your request.");
            break;
        case SF_503:
            sim_openai_error(r, 503, "server_error", NULL, NULL,
                             "The server is overloaded or not ready yet.");
            break;
        default:
            sim_openai_error(r, 401, "invalid_request_error", NULL, "invalid_api_key",
                             "Incorrect API key provided.");
            break;
        }
    } else {
        switch (f->kind) {
        case SF_429:
            sim_anthropic_error(r, 429, "rate_limit_error",
                                "Number of requests has exceeded your rate limit.");
            break;
        case SF_500: sim_anthropic_error(r, 500, "api_error", "Internal server error"); break;
        case SF_503: sim_anthropic_error(r, 503, "api_error", "Service unavailable"); break;
        default: sim_anthropic_error(r, 401, "authentication_error", "invalid x-api-key"); break;
        }
    }
    if (f->kind == SF_429 && f->retry_after[0])
        snprintf(r->retry_after, sizeof r->retry_after, "%s", f->retry_after);
}

/* 0 when the request carries the account's credentials, else writes a 401. */
static int authenticate(enum provider_route pr, const struct sim_account *a,
                        struct evhttp_request *req, struct sim_resp *r)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    if (pr == R_OPENAI) {
        const char *h = evhttp_find_header(in, "Authorization");
        if (!h) {
            sim_openai_error(r, 401, "invalid_request_error", NULL, NULL,
                             "You didn't provide an API key. You need to provide your API key "
                             "in an Authorization header using Bearer auth (i.e. "
                             "Authorization: Bearer YOUR_KEY).");
            return -1;
        }
        if (strncmp(h, "Bearer ", 7) != 0 || strcmp(h + 7, a->api_key) != 0) {
            sim_openai_error(r, 401, "invalid_request_error", NULL, "invalid_api_key",
                             "Incorrect API key provided. You can find your API key at "
                             "https://platform.openai.com/account/api-keys.");
            return -1;
        }
        return 0;
    }
    const char *k = evhttp_find_header(in, "x-api-key");
    if (!k || strcmp(k, a->api_key) != 0) {
        sim_anthropic_error(r, 401, "authentication_error", "invalid x-api-key");
        return -1;
    }
    if (!evhttp_find_header(in, "anthropic-version")) {
        sim_anthropic_error(r, 401, "authentication_error",
                            "anthropic-version: header is required");
        return -1;
    }
    return 0;
}

static void body_fault(const struct sim_fault *f, struct sim_resp *r)
{
    size_t len = evbuffer_get_length(r->body);
    if (f->kind == SF_TRUNCATE) {
        struct evbuffer *cut = evbuffer_new();
        if (cut) {
            evbuffer_remove_buffer(r->body, cut, len / 2);
            evbuffer_free(r->body);
            r->body = cut;
        }
    } else if (f->kind == SF_MALFORMED) {
        /* the first ':' becomes ';' - no JSON parser accepts that */
        struct evbuffer_ptr p = evbuffer_search(r->body, ":", 1, NULL);
        if (p.pos >= 0) {
            unsigned char *all = evbuffer_pullup(r->body, -1);
            if (all)
                all[p.pos] = ';';
        } else {
            evbuffer_add(r->body, "{]", 2);
        }
    } else if (f->kind == SF_HTML) {
        sim_resp_clear(r);
        r->status = f->status;
        r->content_type = "text/html; charset=utf-8";
        evbuffer_add_printf(r->body,
                            "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>"
                            "<body><h1>%s</h1><p>bw-sim upstream proxy page</p></body></html>\n",
                            f->status, reason(f->status), reason(f->status));
    }
}

static void provider_request(struct server *sv, struct evhttp_request *req, const char *path,
                             const struct sim_query *q, struct sim_resp *r)
{
    struct sim_account *a = NULL;
    const char *sub = NULL;
    enum provider_route pr = route(&sv->world, path, &a, &sub);
    struct sim_fault f;
    int has_fault = pr != R_NONE && simctl_take_fault(sv->ctl, path, &f);
    int delay = sv->delay_ms, handled = 0;
    char rid[48];
    snprintf(rid, sizeof rid, "req_sim%012lx", ++sv->request_seq);
    sim_request_id_set(rid);
    if (pr == R_NONE) {
        sim_openai_error(r, 404, "invalid_request_error", NULL, NULL,
                         "Invalid URL: bw-sim serves /v1/organization/..., "
                         "/v1/organizations/... and /acct/<i>/v1/organization/...");
        handled = 1;
    } else if (has_fault &&
               (f.kind == SF_429 || f.kind == SF_500 || f.kind == SF_503 || f.kind == SF_401)) {
        fault_error(pr, &f, r);
        handled = 1;
    }
    if (has_fault && f.kind == SF_DELAY)
        delay += f.delay_ms;
    if (!handled && evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        if (pr == R_OPENAI)
            sim_openai_error(r, 405, "invalid_request_error", NULL, NULL,
                             "bw-sim answers GET only.");
        else
            sim_anthropic_error(r, 405, "invalid_request_error", "bw-sim answers GET only.");
        handled = 1;
    }
    if (!handled && authenticate(pr, a, req, r) == 0) {
        struct sim_ctx c = {
            .w = &sv->world,
            .a = a,
            .sub = sub,
            .q = q,
            .repeat_cursor = has_fault && f.kind == SF_REPEAT_CURSOR,
            .hl = sim_hour_limit(&sv->world),
        };
        if (pr == R_OPENAI)
            oa_handle(&c, r);
        else
            an_handle(&c, r);
        if (has_fault)
            body_fault(&f, r);
    }
    evhttp_add_header(evhttp_request_get_output_headers(req),
                      pr == R_ANTHROPIC ? "request-id" : "x-request-id", rid);
    simctl_count(sv->ctl, path, r->status);
    send_later(sv, req, r, delay);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct server *sv = arg;
    const char *uri = evhttp_request_get_uri(req);
    const char *qm = strchr(uri, '?');
    size_t plen = qm ? (size_t)(qm - uri) : strlen(uri);
    char path[1024];
    struct sim_query q = {0};
    struct sim_resp r;
    if (sim_resp_init(&r)) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    if (plen >= sizeof path) {
        r.status = 414;
        sj_raw(r.body, "{\"error\":\"path too long\"}");
        reply(req, &r);
        sim_resp_free(&r);
        return;
    }
    memcpy(path, uri, plen);
    path[plen] = '\0';
    if (sim_query_parse(qm ? qm + 1 : NULL, &q)) {
        sim_query_free(&q);
        r.status = 400;
        sj_raw(r.body, "{\"error\":\"malformed query string\"}");
        reply(req, &r);
        sim_resp_free(&r);
        return;
    }
    if (strncmp(path, "/_sim/", 6) == 0) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t blen = evbuffer_get_length(in);
        const char *body = blen ? (const char *)evbuffer_pullup(in, -1) : NULL;
        simctl_handle(sv->ctl, &sv->world, evhttp_request_get_command(req) == EVHTTP_REQ_POST, path,
                      &q, body, blen, &r);
        reply(req, &r);
        sim_resp_free(&r);
    } else {
        provider_request(sv, req, path, &q, &r);
    }
    sim_query_free(&q);
}

/* ---- command line and main ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: bw-sim --now RFC3339 [options]\n\n"
            "Simulates the OpenAI (/v1/organization/...) and Anthropic (/v1/organizations/...)\n"
            "admin APIs on 127.0.0.1 with deterministic data. Prints 'listening <port>'.\n\n"
            "  --now T             the simulator's \"now\" (required; RFC 3339)\n"
            "  --port N            TCP port (default 0 = any free port)\n"
            "  --seed N            data seed (default 1)\n"
            "  --days N            days of data before the day of --now (default 35)\n"
            "  --scenario S        steady (default) or demo (anomalies)\n"
            "  --scale N           keys per project x N (default 1; ~11N series per provider)\n"
            "  --accounts N        N extra OpenAI accounts under /acct/<i>/ (i = 0..N-1),\n"
            "                      key <openai-key>-<i>\n"
            "  --delay-ms N        delay every provider answer by N ms (timers, no sleep)\n"
            "  --openai-key K      OpenAI admin key (default sk-admin-sim)\n"
            "  --anthropic-key K   Anthropic admin key (default sk-ant-admin01-sim)\n"
            "  --help              this text\n\n"
            "Control (no auth): GET /_sim/truth, /_sim/stats, /_sim/info, /_sim/now;\n"
            "POST /_sim/fault, /_sim/reset, /_sim/now?t=, /_sim/restate.\n");
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"now", required_argument, NULL, 'n'},
        {"port", required_argument, NULL, 'p'},
        {"seed", required_argument, NULL, 's'},
        {"days", required_argument, NULL, 'd'},
        {"scenario", required_argument, NULL, 'S'},
        {"scale", required_argument, NULL, 'x'},
        {"accounts", required_argument, NULL, 'a'},
        {"delay-ms", required_argument, NULL, 'D'},
        {"openai-key", required_argument, NULL, 'O'},
        {"anthropic-key", required_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct sim_opts o = {.seed = 1,
                         .days = 35,
                         .scale = 1,
                         .openai_key = "sk-admin-sim",
                         .anthropic_key = "sk-ant-admin01-sim"};
    long port = 0, delay = 0, v;
    int have_now = 0, ch, rc = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'n':
            if (tu_parse_time(optarg, &o.now))
                goto bad;
            have_now = 1;
            break;
        case 'p':
            if (parse_int(optarg, 0, 65535, &port))
                goto bad;
            break;
        case 's': {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end)
                goto bad;
            o.seed = s;
            break;
        }
        case 'd':
            if (parse_int(optarg, 1, 400, &v))
                goto bad;
            o.days = (int)v;
            break;
        case 'S':
            if (strcmp(optarg, "demo") == 0)
                o.demo = 1;
            else if (strcmp(optarg, "steady") != 0)
                goto bad;
            break;
        case 'x':
            if (parse_int(optarg, 1, 1000, &v))
                goto bad;
            o.scale = (int)v;
            break;
        case 'a':
            if (parse_int(optarg, 0, 1000, &v))
                goto bad;
            o.accounts = (int)v;
            break;
        case 'D':
            if (parse_int(optarg, 0, 600000, &delay))
                goto bad;
            break;
        case 'O': o.openai_key = optarg; break;
        case 'A': o.anthropic_key = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || !have_now) {
        fprintf(stderr, "bw-sim: --now is required\n");
        usage(stderr);
        return 2;
    }
    if (!*o.openai_key || !*o.anthropic_key) {
        fprintf(stderr, "bw-sim: keys must not be empty\n");
        return 2;
    }

    struct server sv = {.delay_ms = (int)delay};
    struct event *sigterm = NULL, *sigint = NULL;
    char err[256];
    signal(SIGPIPE, SIG_IGN);
    if (sim_world_init(&sv.world, &o, err, sizeof err)) {
        fprintf(stderr, "bw-sim: %s\n", err);
        goto out;
    }
    sv.ctl = simctl_new();
    sv.base = event_base_new();
    sv.http = sv.base ? evhttp_new(sv.base) : NULL;
    if (!sv.ctl || !sv.http) {
        fprintf(stderr, "bw-sim: out of memory\n");
        goto out;
    }
    evhttp_set_allowed_methods(sv.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_timeout(sv.http, 120);
    evhttp_set_gencb(sv.http, on_request, &sv);
    struct evhttp_bound_socket *bs =
        evhttp_bind_socket_with_handle(sv.http, "127.0.0.1", (ev_uint16_t)port);
    if (!bs) {
        fprintf(stderr, "bw-sim: cannot listen on 127.0.0.1:%ld\n", port);
        goto out;
    }
    struct sockaddr_storage ss;
    ev_socklen_t sl = sizeof ss;
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl)) {
        fprintf(stderr, "bw-sim: getsockname failed\n");
        goto out;
    }
    int bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    sigterm = evsignal_new(sv.base, SIGTERM, on_signal, sv.base);
    sigint = evsignal_new(sv.base, SIGINT, on_signal, sv.base);
    if (!sigterm || !sigint || evsignal_add(sigterm, NULL) || evsignal_add(sigint, NULL)) {
        fprintf(stderr, "bw-sim: cannot install signal handlers\n");
        goto out;
    }
    char t[40];
    fprintf(stderr,
            "bw-sim: now=%s scenario=%s seed=%llu days=%d scale=%d accounts=%d "
            "openai_series=%zu anthropic_series=%zu\n",
            tu_format_time(o.now, t, sizeof t), o.demo ? "demo" : "steady",
            (unsigned long long)o.seed, o.days, o.scale, o.accounts, sv.world.openai[0].n_series,
            sv.world.anthropic.n_series);
    printf("listening %d\n", bound);
    fflush(stdout);
    if (event_base_dispatch(sv.base) < 0) {
        fprintf(stderr, "bw-sim: event loop failed\n");
        goto out;
    }
    rc = 0;
out:
    pending_flush(&sv);
    if (sigterm)
        event_free(sigterm);
    if (sigint)
        event_free(sigint);
    if (sv.http)
        evhttp_free(sv.http);
    if (sv.base)
        event_base_free(sv.base);
    simctl_free(sv.ctl);
    sim_world_free(&sv.world);
    libevent_global_shutdown();
    return rc;
bad:
    fprintf(stderr, "bw-sim: bad option value '%s' (see --help)\n", optarg);
    return 2;
}
