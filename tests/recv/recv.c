/*
 * bw-recv: a webhook receiver for byokwatch's sink tests. One libevent loop;
 * evhttp serves 127.0.0.1 and takes POSTs on any path, remembering each one
 * (recvlog.c) and answering with the current mode: 200 by default, or a
 * status set through POST /_recv/mode for the next N deliveries, with an
 * optional Retry-After and delay. GET /_recv/stats tells what arrived.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "../../common/array.h"
#include "recvlog.h"

#define MAX_HEADERS 64

struct mode {
    int status;
    long remaining; /* deliveries left in this mode; 0 = until changed */
    long retry_after;
    int delay_ms;
};

static const struct mode default_mode = {.status = 200, .retry_after = -1};

struct pending;

struct server {
    struct event_base *base;
    struct evhttp *http;
    struct rlog *log;
    struct mode mode;
    struct pending *pending; /* delayed replies, doubly linked */
    /* open connections that carried a delivery since the last reset */
    struct evhttp_connection **live;
    size_t n_live, cap_live;
};

struct pending {
    struct server *sv;
    struct evhttp_request *req;
    struct event *timer;
    int status;
    long retry_after;
    struct pending *prev, *next;
};

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
    }
}

/* Sends a JSON answer; takes ownership of v (may be NULL: then a 500). */
static void reply_json(struct evhttp_request *req, int status, json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    struct evbuffer *b = evbuffer_new();
    if (!text || !b) {
        free(text);
        if (b)
            evbuffer_free(b);
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    evbuffer_add(b, text, strlen(text));
    free(text);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, status, reason(status), b);
    evbuffer_free(b);
}

/* Answers a delivery as Splunk HEC would ({"text","code"}), which webhooks ignore. */
static void reply_delivery(struct evhttp_request *req, int status, long retry_after)
{
    if (retry_after >= 0) {
        char ra[24];
        snprintf(ra, sizeof ra, "%ld", retry_after);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", ra);
    }
    int ok = status >= 200 && status < 300;
    reply_json(
        req, status,
        json_pack("{ss si}", "text", ok ? "Success" : "bw-recv mode", "code", ok ? 0 : status));
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
    reply_delivery(p->req, p->status, p->retry_after);
    event_free(p->timer);
    free(p);
}

static void answer_later(struct server *sv, struct evhttp_request *req, int status,
                         long retry_after, int delay_ms)
{
    struct pending *p = delay_ms > 0 ? calloc(1, sizeof *p) : NULL;
    if (p)
        p->timer = evtimer_new(sv->base, pending_fire, p);
    if (!p || !p->timer) {
        free(p);
        reply_delivery(req, status, retry_after);
        return;
    }
    *p = (struct pending){.sv = sv,
                          .req = req,
                          .timer = p->timer,
                          .status = status,
                          .retry_after = retry_after,
                          .next = sv->pending};
    if (sv->pending)
        sv->pending->prev = p;
    sv->pending = p;
    struct timeval tv = {delay_ms / 1000, (suseconds_t)(delay_ms % 1000) * 1000};
    evtimer_add(p->timer, &tv);
}

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

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static json_t *mode_json(const struct mode *m)
{
    return json_pack(
        "{si sI so si}", "status", m->status, "remaining", (json_int_t)m->remaining, "retry_after",
        m->retry_after >= 0 ? json_integer(m->retry_after) : json_null(), "delay_ms", m->delay_ms);
}

/* POST /_recv/mode?status=&count=&retry_after=&delay_ms= */
static void set_mode(struct server *sv, struct evhttp_request *req, const char *query)
{
    struct evkeyvalq q;
    struct mode m = default_mode;
    long v = 0;
    int bad = evhttp_parse_query_str(query ? query : "", &q) != 0;
    const char *s;
    if (!bad && (s = evhttp_find_header(&q, "status"))) {
        bad |= parse_long(s, 100, 599, &v) != 0;
        m.status = (int)v;
    }
    if (!bad && (s = evhttp_find_header(&q, "count")))
        bad |= parse_long(s, 0, 1000000000, &m.remaining) != 0;
    if (!bad && (s = evhttp_find_header(&q, "retry_after")))
        bad |= parse_long(s, 0, 1000000, &m.retry_after) != 0;
    if (!bad && (s = evhttp_find_header(&q, "delay_ms"))) {
        bad |= parse_long(s, 0, 600000, &v) != 0;
        m.delay_ms = (int)v;
    }
    evhttp_clear_headers(&q);
    if (bad) {
        reply_json(req, 400,
                   json_pack("{ss}", "error",
                             "want status=100..599, count>=0, retry_after>=0, delay_ms>=0"));
        return;
    }
    sv->mode = m;
    reply_json(req, 200, mode_json(&m));
}

static void control(struct server *sv, struct evhttp_request *req, const char *path,
                    const char *query)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (strcmp(path, "/_recv/stats") == 0 && cmd == EVHTTP_REQ_GET) {
        json_t *o = rlog_stats(sv->log);
        if (o)
            json_object_set_new(o, "mode", mode_json(&sv->mode));
        reply_json(req, 200, o);
    } else if (strcmp(path, "/_recv/requests") == 0 && cmd == EVHTTP_REQ_GET) {
        struct evkeyvalq q;
        long since = 0;
        const char *s;
        if (evhttp_parse_query_str(query ? query : "", &q) == 0 &&
            (s = evhttp_find_header(&q, "since")) && parse_long(s, 0, LONG_MAX, &since))
            since = 0;
        evhttp_clear_headers(&q);
        reply_json(req, 200, rlog_requests(sv->log, (size_t)since));
    } else if (strcmp(path, "/_recv/mode") == 0 && cmd == EVHTTP_REQ_POST) {
        set_mode(sv, req, query);
    } else if (strcmp(path, "/_recv/reset") == 0 && cmd == EVHTTP_REQ_POST) {
        rlog_reset(sv->log);
        sv->mode = default_mode;
        sv->n_live = 0;
        reply_json(req, 200, json_pack("{sb}", "reset", 1));
    } else {
        reply_json(req, 404,
                   json_pack("{ss}", "error",
                             "GET /_recv/stats, /_recv/requests?since=N; POST /_recv/mode, "
                             "/_recv/reset"));
    }
}

static void on_close(struct evhttp_connection *evcon, void *arg)
{
    struct server *sv = arg;
    for (size_t i = 0; i < sv->n_live; i++) {
        if (sv->live[i] == evcon) {
            sv->live[i] = sv->live[--sv->n_live];
            return;
        }
    }
}

/* Counts the connection of req once per reset, however many deliveries it carries. */
static void note_connection(struct server *sv, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (!evcon)
        return;
    for (size_t i = 0; i < sv->n_live; i++)
        if (sv->live[i] == evcon)
            return;
    rlog_delivery_connection(sv->log);
    if (arr_reserve((void **)&sv->live, &sv->cap_live, sv->n_live + 1,
                    sizeof(struct evhttp_connection *)) == 0) {
        sv->live[sv->n_live++] = evcon;
        evhttp_connection_set_closecb(evcon, on_close, sv);
    }
}

static void delivery(struct server *sv, struct evhttp_request *req)
{
    note_connection(sv, req);
    struct mode m = sv->mode;
    if (sv->mode.remaining > 0 && --sv->mode.remaining == 0)
        sv->mode = default_mode;
    struct rlog_header h[MAX_HEADERS];
    size_t nh = 0;
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next)
    {
        if (nh < MAX_HEADERS)
            h[nh++] = (struct rlog_header){kv->key, kv->value};
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    rlog_record(sv->log, evhttp_request_get_uri(req), h, nh, body ? body : "", body ? len : 0,
                m.status);
    answer_later(sv, req, m.status, m.status >= 200 && m.status < 300 ? -1 : m.retry_after,
                 m.delay_ms);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct server *sv = arg;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u ? evhttp_uri_get_path(u) : NULL;
    if (!path || !*path)
        path = "/";
    if (strncmp(path, "/_recv/", 7) == 0)
        control(sv, req, path, evhttp_uri_get_query(u));
    else if (evhttp_request_get_command(req) == EVHTTP_REQ_POST)
        delivery(sv, req);
    else
        reply_json(req, 405, json_pack("{ss}", "error", "deliveries are POSTs"));
}

/* evhttp asks for one bufferevent per accepted connection: count them here. */
static struct bufferevent *on_connection(struct event_base *base, void *arg)
{
    struct server *sv = arg;
    rlog_connection(sv->log);
    return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

/* Writes the final stats to path (via a temporary file and rename); 0 ok. */
static int write_status(struct server *sv, const char *path)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
    json_t *o = rlog_stats(sv->log);
    int rc = -1;
    if (o)
        json_object_set_new(o, "mode", mode_json(&sv->mode));
    if (n < 0 || (size_t)n >= sizeof tmp || !o)
        goto out;
    if (json_dump_file(o, tmp, JSON_COMPACT) || rename(tmp, path))
        goto out;
    rc = 0;
out:
    json_decref(o);
    return rc;
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: bw-recv [--port N] [--hmac-secret S] [--status-file F]\n\n"
                 "Receives webhook deliveries (POST, any path) on 127.0.0.1 and prints\n"
                 "'listening <port>'. Counts alert ids from JSON bodies and checks\n"
                 "X-Byokwatch-Signature when --hmac-secret is given.\n\n"
                 "  --port N          TCP port (default 0 = any free port)\n"
                 "  --hmac-secret S   key of the HMAC-SHA256 signature deliveries must carry\n"
                 "  --status-file F   write the final stats JSON to F on exit\n"
                 "  --help            this text\n\n"
                 "Control (no auth): GET /_recv/stats, /_recv/requests?since=N;\n"
                 "POST /_recv/mode?status=S&count=N&retry_after=T&delay_ms=D (count 0 = until\n"
                 "changed), POST /_recv/reset.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},
        {"hmac-secret", required_argument, NULL, 's'},
        {"status-file", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    long port = 0;
    const char *secret = NULL, *status_file = NULL;
    int ch, rc = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'p':
            if (parse_long(optarg, 0, 65535, &port)) {
                fprintf(stderr, "bw-recv: bad --port '%s'\n", optarg);
                return 2;
            }
            break;
        case 's': secret = optarg; break;
        case 'f': status_file = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    struct server sv = {.mode = default_mode};
    struct event *sigterm = NULL, *sigint = NULL;
    signal(SIGPIPE, SIG_IGN);
    sv.log = rlog_new(secret);
    sv.base = sv.log ? event_base_new() : NULL;
    sv.http = sv.base ? evhttp_new(sv.base) : NULL;
    if (!sv.http) {
        fprintf(stderr, "bw-recv: out of memory\n");
        goto out;
    }
    evhttp_set_allowed_methods(sv.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT);
    evhttp_set_timeout(sv.http, 120);
    evhttp_set_max_body_size(sv.http, 64 << 20);
    evhttp_set_gencb(sv.http, on_request, &sv);
    evhttp_set_bevcb(sv.http, on_connection, &sv);
    struct evhttp_bound_socket *bs =
        evhttp_bind_socket_with_handle(sv.http, "127.0.0.1", (ev_uint16_t)port);
    if (!bs) {
        fprintf(stderr, "bw-recv: cannot listen on 127.0.0.1:%ld\n", port);
        goto out;
    }
    struct sockaddr_storage ss;
    ev_socklen_t sl = sizeof ss;
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl)) {
        fprintf(stderr, "bw-recv: getsockname failed\n");
        goto out;
    }
    sigterm = evsignal_new(sv.base, SIGTERM, on_signal, sv.base);
    sigint = evsignal_new(sv.base, SIGINT, on_signal, sv.base);
    if (!sigterm || !sigint || evsignal_add(sigterm, NULL) || evsignal_add(sigint, NULL)) {
        fprintf(stderr, "bw-recv: cannot install signal handlers\n");
        goto out;
    }
    printf("listening %d\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
    fflush(stdout);
    if (event_base_dispatch(sv.base) < 0) {
        fprintf(stderr, "bw-recv: event loop failed\n");
        goto out;
    }
    if (status_file && write_status(&sv, status_file)) {
        fprintf(stderr, "bw-recv: cannot write %s\n", status_file);
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
    free(sv.live);
    rlog_free(sv.log);
    libevent_global_shutdown();
    return rc;
}
