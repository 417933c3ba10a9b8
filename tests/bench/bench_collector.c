/*
 * `make bench` (second half): the collector against its targets, each next
 * to a baseline measured in the same run. Parse throughput of real-size
 * OpenAI and Anthropic usage pages from the simulator (against jansson's
 * json_loadb alone); the wall clock of a 35-day backfill of two providers by
 * the real `byokwatch run --once`; and one cycle over 50 slow simulated
 * accounts against a serial libcurl replay of the same requests.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../collector/anthropic.h"
#include "../../collector/openai.h"
#include "../../common/timeutil.h"
#include "../simutil.h"
#include "../testutil.h"

extern char **environ;

#define NOW "2026-11-20T12:00:00Z"
#define OPENAI_KEY "sk-admin-BENCH-openai-51f0"
#define ANTHROPIC_KEY "sk-ant-admin01-BENCH-anthropic-9a3c"

/* The targets. */
#define TARGET_PARSE_MBS 50.0
#define TARGET_BACKFILL_S 10.0
#define TARGET_CYCLE_S 2.0

struct opts {
    int quick;
    int parse_scale;      /* --scale of the simulator for parts 1 and 2 */
    int days;             /* --days of that simulator */
    double parse_secs;    /* minimum timed span of each parse loop */
    int accounts;         /* part 3 */
    int delay_ms;         /* part 3: every simulated answer waits this long */
    double serial_budget; /* seconds a full serial replay may take before we extrapolate */
    long serial_prefix;   /* requests replayed at least when extrapolating */
};

/* One row of the final table. */
enum verdict { V_INFO, V_MET, V_NOT_MET, V_FAILED, V_QUICK };

struct row {
    char what[64];
    char value[48];
    char baseline[48];
    char ratio[24];
    char target[24];
    enum verdict v;
};

#define MAX_ROWS 16
static struct row rows[MAX_ROWS];
static size_t n_rows;
static int failed; /* something did not run: exit 1 */

/* ---- small helpers ------------------------------------------------------ */

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void add_row(enum verdict v, const char *what, const char *target, const char *ratio,
                    const char *baseline, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void add_row(enum verdict v, const char *what, const char *target, const char *ratio,
                    const char *baseline, const char *fmt, ...)
{
    if (n_rows == MAX_ROWS)
        return;
    struct row *r = &rows[n_rows++];
    snprintf(r->what, sizeof r->what, "%s", what);
    snprintf(r->target, sizeof r->target, "%s", target ? target : "");
    snprintf(r->ratio, sizeof r->ratio, "%s", ratio ? ratio : "");
    snprintf(r->baseline, sizeof r->baseline, "%s", baseline ? baseline : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->value, sizeof r->value, fmt, ap);
    va_end(ap);
    r->v = v;
    if (v == V_FAILED)
        failed = 1;
}

static enum verdict judge(const struct opts *o, int ok)
{
    if (o->quick)
        return V_QUICK;
    return ok ? V_MET : V_NOT_MET;
}

/* A growing text buffer for configs; bad is set once anything did not fit. */
struct text {
    char *buf;
    size_t len, cap;
    int bad;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_add(struct text *t, const char *fmt, ...)
{
    if (t->bad)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (w < 0) {
            t->bad = 1;
            return;
        }
        if (t->buf && (size_t)w < t->cap - t->len) {
            t->len += (size_t)w;
            return;
        }
        size_t nc = (t->cap ? t->cap : 1024) * 2 + (size_t)w;
        char *nb = realloc(t->buf, nc);
        if (!nb) {
            t->bad = 1;
            return;
        }
        t->buf = nb;
        t->cap = nc;
    }
}

/* One libcurl easy handle reused for keep-alive; the body lands in buf. */
struct client {
    CURL *c;
    struct sim_buf body;
};

static int client_init(struct client *cl)
{
    memset(cl, 0, sizeof *cl);
    cl->c = curl_easy_init();
    return cl->c ? 0 : -1;
}

static void client_free(struct client *cl)
{
    if (cl->c)
        curl_easy_cleanup(cl->c);
    free(cl->body.data);
    memset(cl, 0, sizeof *cl);
}

/* GETs url with headers; returns the HTTP status (0 on transport failure). */
static long client_get(struct client *cl, const char *url, struct curl_slist *headers)
{
    cl->body.len = 0;
    if (cl->body.data)
        cl->body.data[0] = '\0';
    curl_easy_setopt(cl->c, CURLOPT_URL, url);
    curl_easy_setopt(cl->c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(cl->c, CURLOPT_WRITEFUNCTION, sim_write);
    curl_easy_setopt(cl->c, CURLOPT_WRITEDATA, &cl->body);
    curl_easy_setopt(cl->c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(cl->c, CURLOPT_USERAGENT, "byokwatch-bench");
    curl_easy_setopt(cl->c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(cl->c, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(cl->c) == CURLE_OK)
        curl_easy_getinfo(cl->c, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* Provider auth headers from the poller plus the daemon's Accept line. */
static struct curl_slist *poller_headers(const struct col_poller_ops *ops, const char *key)
{
    struct curl_slist *h = ops->headers(NULL, key);
    struct curl_slist *h2 = h ? curl_slist_append(h, "Accept: application/json") : NULL;
    if (!h2)
        curl_slist_free_all(h);
    return h2;
}

static const struct col_endpoint *find_endpoint(const struct col_poller_ops *ops, const char *name)
{
    for (size_t i = 0; i < ops->n_endpoints; i++) {
        if (strcmp(ops->endpoints[i].name, name) == 0)
            return &ops->endpoints[i];
    }
    return NULL;
}

static int start_sim(struct sim *s, const char *const extra[])
{
    const char *args[40] = {"--now",           NOW,          "--openai-key", OPENAI_KEY,
                            "--anthropic-key", ANTHROPIC_KEY};
    int n = 6;
    for (int i = 0; extra[i] && n < 39; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    if (sim_start(s, args) != 0) {
        fprintf(stderr, "bench_collector: cannot start the simulator %s\n", sim_bin());
        if (s->pid > 0)
            sim_stop(s);
        return -1;
    }
    return 0;
}

/* GET /_sim/stats parsed, or NULL. */
static json_t *sim_stats(const struct sim *s)
{
    char *body = NULL;
    json_t *root = NULL;
    if (sim_http(s, "/_sim/stats", NULL, NULL, &body) == 200)
        root = json_loads(body, 0, NULL);
    free(body);
    return root;
}

static long stats_total(const struct sim *s)
{
    json_t *st = sim_stats(s);
    long n = st ? (long)json_integer_value(json_object_get(st, "total")) : -1;
    json_decref(st);
    return n;
}

static int sim_reset(const struct sim *s)
{
    return sim_http(s, "/_sim/reset", "", NULL, NULL) == 200 ? 0 : -1;
}

/*
 * Runs the byokwatch binary with argv and extra "K=V" environment entries;
 * stdout goes to outpath (or /dev/null), stderr to errpath. Fills the exit
 * status (128+signal when killed) and the wall clock from fork to reaping.
 */
static int run_bw(char *const argv[], char *const extra_env[], const char *outpath,
                  const char *errpath, int *status, double *secs)
{
    size_t n_env = 0, n_extra = 0;
    while (environ && environ[n_env])
        n_env++;
    while (extra_env && extra_env[n_extra])
        n_extra++;
    char **envp = calloc(n_env + n_extra + 1, sizeof *envp);
    if (!envp)
        return -1;
    for (size_t i = 0; i < n_env; i++)
        envp[i] = environ[i];
    for (size_t i = 0; i < n_extra; i++)
        envp[n_env + i] = extra_env[i];
    int rc = -1;
    int fo = open(outpath ? outpath : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fo < 0 || fe < 0)
        goto out;
    double t0 = mono();
    pid_t pid = fork();
    if (pid < 0)
        goto out;
    if (pid == 0) {
        dup2(fo, 1);
        dup2(fe, 2);
        execve(tu_bin(), argv, envp);
        _exit(127);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        goto out;
    *secs = mono() - t0;
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    rc = 0;
out:
    if (fo >= 0)
        close(fo);
    if (fe >= 0)
        close(fe);
    free(envp);
    return rc;
}

/* Prints the last lines of a child's stderr, each indented. */
static void show_tail(const char *path, int lines)
{
    char *text = tu_read_file(path);
    if (!text)
        return;
    size_t len = strlen(text);
    while (len > 0 && text[len - 1] == '\n')
        text[--len] = '\0';
    const char *p = text + len;
    int seen = 0;
    while (p > text) {
        if (p[-1] == '\n' && ++seen == lines)
            break;
        p--;
    }
    while (*p) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        fprintf(stderr, "    | %.*s\n", n, p);
        p += n + (nl ? 1 : 0);
    }
    free(text);
}

/* ---- 1. parse throughput ------------------------------------------------ */

struct parse_result {
    double mbs, samples_s, secs_per_page;
    size_t samples;
    int iters;
};

static int time_parse(const struct col_poller_ops *ops, const struct col_parse_ctx *ctx,
                      const char *body, size_t len, double min_secs, struct parse_result *res)
{
    char err[512];
    struct col_out out = {0};
    if (ops->parse(ctx, body, len, &out, err, sizeof err) != 0) { /* warm-up, and a check */
        fprintf(stderr, "bench_collector: %s parse failed: %s\n", ctx->provider, err);
        col_out_free(&out);
        return -1;
    }
    res->samples = out.n_samples;
    col_out_free(&out);
    int iters = 0;
    double t0 = mono(), el = 0;
    while (el < min_secs || iters < 2) {
        if (ops->parse(ctx, body, len, &out, err, sizeof err) != 0) {
            col_out_free(&out);
            return -1;
        }
        col_out_free(&out);
        iters++;
        el = mono() - t0;
    }
    res->iters = iters;
    res->secs_per_page = el / iters;
    res->mbs = (double)len * iters / el / 1e6;
    res->samples_s = (double)res->samples * iters / el;
    return 0;
}

static int time_loadb(const char *body, size_t len, double min_secs, struct parse_result *res)
{
    int iters = 0;
    double t0 = mono(), el = 0;
    while (el < min_secs || iters < 2) {
        json_error_t jerr;
        json_t *root = json_loadb(body, len, 0, &jerr);
        if (!root) {
            fprintf(stderr, "bench_collector: json_loadb: %s\n", jerr.text);
            return -1;
        }
        json_decref(root);
        iters++;
        el = mono() - t0;
    }
    res->iters = iters;
    res->secs_per_page = el / iters;
    res->mbs = (double)len * iters / el / 1e6;
    return 0;
}

/* Fetches one usage page, times parse() and json_loadb on it, adds rows. */
static int bench_parse_one(const struct opts *o, const struct sim *s,
                           const struct col_poller_ops *ops, const char *ep_name, const char *key,
                           int is_openai, int64_t now)
{
    int rc = -1;
    char url[2048], label[64];
    struct client cl;
    struct curl_slist *h = NULL;
    if (client_init(&cl) != 0)
        return -1;
    const struct col_endpoint *ep = find_endpoint(ops, ep_name);
    int64_t end = tu_floor(now, TU_HOUR), start = end - 168 * (int64_t)TU_HOUR;
    struct col_request req = {.ep = ep, .start = start, .end = end};
    struct col_parse_ctx ctx = {
        .provider = is_openai ? "openai" : "anthropic", .account = "bench", .req = &req};
    snprintf(label, sizeof label, "parse %s %s", ctx.provider, ep_name);
    if (!ep) {
        fprintf(stderr, "bench_collector: no endpoint %s\n", ep_name);
        goto out;
    }
    int w;
    if (is_openai) {
        w = snprintf(url, sizeof url,
                     "http://127.0.0.1:%d/v1/organization/usage/completions?start_time=%lld"
                     "&end_time=%lld&bucket_width=1h&limit=168&group_by=project_id"
                     "&group_by=api_key_id&group_by=model",
                     s->port, (long long)start, (long long)end);
    } else {
        char base[64];
        snprintf(base, sizeof base, "http://127.0.0.1:%d", s->port);
        w = ops->url(base, &req, url, sizeof url) == 0 ? 1 : -1;
    }
    if (w < 0 || (size_t)w >= sizeof url || !(h = poller_headers(ops, key)))
        goto out;
    long st = client_get(&cl, url, h);
    if (st != 200 || cl.body.len == 0) {
        fprintf(stderr, "bench_collector: %s: HTTP %ld fetching the page\n", label, st);
        goto out;
    }
    struct parse_result p = {0}, j = {0};
    if (time_parse(ops, &ctx, cl.body.data, cl.body.len, o->parse_secs, &p) != 0 ||
        time_loadb(cl.body.data, cl.body.len, o->parse_secs, &j) != 0)
        goto out;
    printf("  %-32s page %.1f MB, %zu samples; parse %d x %.3f s, json_loadb %d x %.3f s\n", label,
           (double)cl.body.len / 1e6, p.samples, p.iters, p.secs_per_page, j.iters,
           j.secs_per_page);
    char base[48], ratio[24], what[96];
    snprintf(base, sizeof base, "json_loadb %.1f MB/s", j.mbs);
    snprintf(ratio, sizeof ratio, "%.2fx time", p.secs_per_page / j.secs_per_page);
    snprintf(what, sizeof what, "parse %s usage page (%.0f MB)", ctx.provider,
             (double)cl.body.len / 1e6);
    if (is_openai)
        add_row(p.mbs >= TARGET_PARSE_MBS ? V_MET : V_NOT_MET, what, ">= 50 MB/s", ratio, base,
                "%.1f MB/s", p.mbs);
    else
        add_row(V_INFO, what, "(none)", ratio, base, "%.1f MB/s", p.mbs);
    add_row(V_INFO, "  samples normalized", NULL, NULL, NULL, "%.2f M/s", p.samples_s / 1e6);
    rc = 0;
out:
    if (rc != 0)
        add_row(V_FAILED, label, is_openai ? ">= 50 MB/s" : "(none)", NULL, NULL, "did not run");
    curl_slist_free_all(h);
    client_free(&cl);
    return rc;
}

/* ---- 2. backfill ---------------------------------------------------------- */

/* Number of label groups `query` returns for one metric/provider, or -1. */
static long count_series(const char *cfg, const char *provider, const char *dir, int64_t now,
                         char *const env[])
{
    char from[32], to[32], outp[4096], errp[4096];
    tu_format_time(tu_floor(now - 35 * (int64_t)TU_DAY, TU_DAY), from, sizeof from);
    tu_format_time(tu_floor(now, TU_DAY) + TU_DAY, to, sizeof to);
    snprintf(outp, sizeof outp, "%s/query.out", dir);
    snprintf(errp, sizeof errp, "%s/query.err", dir);
    char *argv[] = {"byokwatch",  "query",
                    "--config",   (char *)cfg,
                    "--metric",   "input_tokens",
                    "--provider", (char *)provider,
                    "--group-by", "project,api_key_id,model",
                    "--from",     from,
                    "--to",       to,
                    "--step",     "1d",
                    "--format",   "json",
                    "--now",      NOW,
                    NULL};
    int status = 0;
    double secs;
    if (run_bw(argv, env, outp, errp, &status, &secs) != 0)
        return -1;
    if (status != 0) {
        fprintf(stderr, "bench_collector: query exited %d\n", status);
        show_tail(errp, 3);
        return -1;
    }
    json_t *root = json_load_file(outp, 0, NULL);
    long n = root ? (long)json_array_size(json_object_get(root, "series")) : -1;
    json_decref(root);
    return n;
}

static int bench_backfill(const struct opts *o, const struct sim *s, const char *dir, int64_t now,
                          long sim_series_oa, long sim_series_an)
{
    char cfg[4096], errp[4096], prices[PATH_MAX];
    int rc = -1;
    snprintf(cfg, sizeof cfg, "%s/backfill.json", dir);
    snprintf(errp, sizeof errp, "%s/backfill.err", dir);
    if (!realpath("conf/prices.json", prices)) {
        fprintf(stderr, "bench_collector: conf/prices.json: %s (run from the repository root)\n",
                strerror(errno));
        add_row(V_FAILED, "backfill 35d, 2 providers", "< 10 s", NULL, NULL, "did not run");
        return -1;
    }
    struct text t = {0};
    text_add(&t,
             "{\n  \"data_dir\": \"%s/backfill-data\",\n  \"log_level\": \"warn\",\n"
             "  \"prices\": \"%s\",\n  \"providers\": [\n"
             "    {\"type\": \"openai\", \"name\": \"bench-openai\",\n"
             "     \"base_url\": \"http://127.0.0.1:%d/v1\", \"admin_key_env\": \"BENCH_OPENAI\",\n"
             "     \"backfill\": \"35d\"},\n"
             "    {\"type\": \"anthropic\", \"name\": \"bench-claude\",\n"
             "     \"base_url\": \"http://127.0.0.1:%d\", \"admin_key_env\": \"BENCH_ANTHROPIC\",\n"
             "     \"backfill\": \"35d\"}\n  ]\n}\n",
             dir, prices, s->port, s->port);
    if (t.bad || tu_write_file(cfg, t.buf, 0600) != 0) {
        free(t.buf);
        add_row(V_FAILED, "backfill 35d, 2 providers", "< 10 s", NULL, NULL, "did not run");
        return -1;
    }
    free(t.buf);
    static char *const env[] = {"BENCH_OPENAI=" OPENAI_KEY, "BENCH_ANTHROPIC=" ANTHROPIC_KEY, NULL};
    char *argv[] = {"byokwatch", "run", "--config", cfg, "--once", "--now", NOW, NULL};
    int first_ok = 0;
    for (int round = 0; round < 2; round++) {
        const char *what = round == 0 ? "backfill 35d, 2 providers" : "re-poll cycle (lookback)";
        int status = 0;
        double secs = 0;
        if (sim_reset(s) != 0 || run_bw(argv, env, NULL, errp, &status, &secs) != 0) {
            add_row(V_FAILED, what, round == 0 ? "< 10 s" : NULL, NULL, NULL, "did not run");
            continue;
        }
        long reqs = stats_total(s);
        printf("  %-32s exit %d, %.2f s wall, %ld HTTP requests\n", what, status, secs, reqs);
        if (status != 0) {
            fprintf(stderr, "bench_collector: `byokwatch run --once` exited %d; its log ends:\n",
                    status);
            show_tail(errp, 4);
            add_row(V_FAILED, what, round == 0 ? "< 10 s" : NULL, NULL, NULL, "%.2f s, exit %d",
                    secs, status);
            continue;
        }
        if (round == 0) {
            first_ok = 1;
            add_row(judge(o, secs < TARGET_BACKFILL_S), what, "< 10 s", NULL, NULL, "%.2f s", secs);
        } else {
            add_row(V_INFO, what, NULL, NULL, NULL, "%.2f s", secs);
        }
    }
    long n_oa = count_series(cfg, "openai", dir, now, env);
    long n_an = count_series(cfg, "anthropic", dir, now, env);
    printf("  usage series stored (project x key x model): openai %ld of %ld, anthropic %ld of "
           "%ld in the simulator\n",
           n_oa, sim_series_oa, n_an, sim_series_an);
    if (n_oa < 0 || n_an < 0) {
        add_row(V_FAILED, "  series stored", NULL, NULL, NULL, "query failed");
    } else {
        add_row(V_INFO, "  series stored (oa + an)", NULL, NULL, NULL, "%ld + %ld", n_oa, n_an);
        rc = first_ok ? 0 : -1;
    }
    return rc;
}

/* ---- 3. concurrency ----------------------------------------------------- */

/* Status string of an inventory item's normalized JSON, compared to "archived". */
static int item_archived(const struct col_item *it)
{
    json_t *j = json_loads(it->json, 0, NULL);
    const char *st = json_string_value(json_object_get(j, "status"));
    int archived = st && strcmp(st, "archived") == 0;
    json_decref(j);
    return archived;
}

struct crawl {
    struct client cl;
    struct curl_slist *headers;
    const struct col_poller_ops *ops;
    const char *base;
    const char *account;
    char **projects;
    size_t n_projects;
    long requests;
};

/* Fetches one unit (a window, a listing, a catch-up) page by page, like the daemon. */
static int crawl_unit(struct crawl *c, struct col_request *req)
{
    char url[4096], err[512];
    char *page = NULL;
    int rc = -1;
    for (int pages = 0; pages < 1000; pages++) {
        req->page = page;
        if (c->ops->url(c->base, req, url, sizeof url) != 0)
            goto out;
        long st = client_get(&c->cl, url, c->headers);
        c->requests++;
        if (st != 200) {
            fprintf(stderr, "bench_collector: serial replay: HTTP %ld for %s endpoint %s\n", st,
                    c->account, req->ep->name);
            goto out;
        }
        struct col_out out = {0};
        struct col_parse_ctx ctx = {.provider = c->ops->type, .account = c->account, .req = req};
        if (c->ops->parse(&ctx, c->cl.body.data, c->cl.body.len, &out, err, sizeof err) != 0) {
            fprintf(stderr, "bench_collector: serial replay: %s: %s\n", req->ep->name, err);
            col_out_free(&out);
            goto out;
        }
        for (size_t i = 0; i < out.n_items; i++) {
            const struct col_item *it = &out.items[i];
            if ((strcmp(it->kind, "project") == 0 || strcmp(it->kind, "workspace") == 0) &&
                !item_archived(it)) {
                char **np = realloc(c->projects, (c->n_projects + 1) * sizeof *np);
                if (!np || !(np[c->n_projects] = strdup(it->id))) {
                    if (np)
                        c->projects = np;
                    col_out_free(&out);
                    goto out;
                }
                c->projects = np;
                c->n_projects++;
            }
        }
        char *next = out.next_page ? strdup(out.next_page) : NULL;
        col_out_free(&out);
        free(page);
        page = next;
        if (!page) {
            rc = 0;
            goto out;
        }
    }
out:
    free(page);
    req->page = NULL;
    return rc;
}

/*
 * One source's first cycle done serially with the daemon's units: every
 * non-per-project endpoint in table order (listings, then each bucketed
 * window from the backfill horizon, then the log catch-up), then the
 * per-project listings for the live projects just listed.
 */
static int crawl_source(struct crawl *c, int64_t now, int64_t backfill)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t e = 0; e < c->ops->n_endpoints; e++) {
            const struct col_endpoint *ep = &c->ops->endpoints[e];
            if (ep->per_project != pass)
                continue;
            struct col_request req = {.ep = ep};
            if (ep->kind == COL_EP_BUCKETS) {
                int64_t end_all = tu_floor(now, ep->bucket) + ep->bucket;
                for (int64_t st = tu_floor(now - backfill, ep->bucket); st < end_all && st < now;
                     st += ep->max_window) {
                    req.start = st;
                    req.end = st + ep->max_window < end_all ? st + ep->max_window : end_all;
                    if (crawl_unit(c, &req) != 0)
                        return -1;
                }
            } else if (ep->kind == COL_EP_LOG) {
                req.start = now - backfill;
                if (crawl_unit(c, &req) != 0)
                    return -1;
            } else if (ep->per_project) {
                for (size_t p = 0; p < c->n_projects; p++) {
                    req.project = c->projects[p];
                    if (crawl_unit(c, &req) != 0)
                        return -1;
                }
            } else if (crawl_unit(c, &req) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* HTTP requests the simulator counted under /acct/<i>/, from a /_sim/stats object. */
static long stats_account(json_t *stats, int i)
{
    char prefix[32];
    int n = snprintf(prefix, sizeof prefix, "/acct/%d/", i);
    json_t *paths = json_object_get(stats, "paths");
    long total = 0;
    for (void *it = json_object_iter(paths); it; it = json_object_iter_next(paths, it)) {
        if (strncmp(json_object_iter_key(it), prefix, (size_t)n) == 0)
            total += (long)json_integer_value(json_object_get(json_object_iter_value(it), "total"));
    }
    return total;
}

static int bench_concurrency(const struct opts *o, const char *dir, int64_t now)
{
    char cfg[4096], errp[4096], prices[PATH_MAX], what[64];
    char accounts[16], delay[16];
    int rc = -1, status = 0;
    double secs = 0;
    const char *why = "did not run";
    struct sim s = {0};
    char **env = calloc((size_t)o->accounts + 1, sizeof *env);
    json_t *stats = NULL;
    struct text t = {0};
    snprintf(what, sizeof what, "one cycle, %d accounts @ %d ms", o->accounts, o->delay_ms);
    snprintf(accounts, sizeof accounts, "%d", o->accounts);
    snprintf(delay, sizeof delay, "%d", o->delay_ms);
    snprintf(cfg, sizeof cfg, "%s/accounts.json", dir);
    snprintf(errp, sizeof errp, "%s/accounts.err", dir);
    const char *extra[] = {"--accounts", accounts, "--delay-ms", delay, "--scale", "1", NULL};
    if (!env || !realpath("conf/prices.json", prices) || start_sim(&s, extra) != 0)
        goto out;
    text_add(&t,
             "{\n  \"data_dir\": \"%s/accounts-data\",\n  \"log_level\": \"warn\",\n"
             "  \"prices\": \"%s\",\n  \"providers\": [\n",
             dir, prices);
    for (int i = 0; i < o->accounts; i++) {
        text_add(&t,
                 "    {\"type\": \"openai\", \"name\": \"acct%d\", "
                 "\"base_url\": \"http://127.0.0.1:%d/acct/%d/v1\",\n"
                 "     \"admin_key_env\": \"BENCH_K%d\", \"backfill\": \"1d\"}%s\n",
                 i, s.port, i, i, i + 1 < o->accounts ? "," : "");
        char kv[128];
        snprintf(kv, sizeof kv, "BENCH_K%d=%s-%d", i, OPENAI_KEY, i);
        if (!(env[i] = strdup(kv)))
            goto out;
    }
    text_add(&t, "  ]\n}\n");
    if (t.bad || tu_write_file(cfg, t.buf, 0600) != 0)
        goto out;
    char *argv[] = {"byokwatch", "run", "--config", cfg, "--once", "--now", NOW, NULL};
    if (sim_reset(&s) != 0 || run_bw(argv, env, NULL, errp, &status, &secs) != 0)
        goto out;
    if (!(stats = sim_stats(&s)))
        goto out;
    long total = (long)json_integer_value(json_object_get(stats, "total"));
    printf("  %-32s exit %d, %.2f s wall, %ld HTTP requests\n", what, status, secs, total);
    if (status != 0) {
        fprintf(stderr, "bench_collector: `byokwatch run --once` exited %d; its log ends:\n",
                status);
        show_tail(errp, 4);
        goto out;
    }

    /* The serial baseline: the same requests one at a time on one keep-alive handle. */
    if (sim_reset(&s) != 0)
        goto out;
    char base[128];
    long serial_reqs = 0, mismatch = 0;
    int done_accounts = 0;
    double t0 = mono(), serial_secs = 0;
    for (int i = 0; i < o->accounts; i++) {
        char key[128];
        snprintf(base, sizeof base, "http://127.0.0.1:%d/acct/%d/v1", s.port, i);
        snprintf(key, sizeof key, "%s-%d", OPENAI_KEY, i);
        struct crawl c = {.ops = &col_openai_poller, .base = base, .account = "bench"};
        int crc = client_init(&c.cl);
        c.headers = poller_headers(c.ops, key);
        if (crc == 0 && c.headers)
            crc = crawl_source(&c, now, TU_DAY);
        else
            crc = -1;
        for (size_t p = 0; p < c.n_projects; p++)
            free(c.projects[p]);
        free(c.projects);
        curl_slist_free_all(c.headers);
        client_free(&c.cl);
        if (crc != 0)
            goto out;
        serial_reqs += c.requests;
        long daemon_n = stats_account(stats, i);
        if (daemon_n != c.requests)
            mismatch++;
        done_accounts++;
        serial_secs = mono() - t0;
        double full_estimate = serial_secs / done_accounts * o->accounts;
        if (done_accounts < o->accounts && full_estimate > o->serial_budget &&
            serial_reqs >= o->serial_prefix)
            break;
    }
    if (mismatch)
        fprintf(stderr,
                "bench_collector: the serial replay made a different number of requests than "
                "the daemon for %ld of %d accounts\n",
                mismatch, done_accounts);
    int extrapolated = done_accounts < o->accounts;
    double serial_total = serial_secs / (double)serial_reqs * (double)total;
    if (extrapolated)
        printf("  serial replay                    EXTRAPOLATED from %ld of %ld requests "
               "(%d of %d accounts) taking %.2f s: %.1f s for all\n",
               serial_reqs, total, done_accounts, o->accounts, serial_secs, serial_total);
    else
        printf("  serial replay                    %ld requests, %.2f s\n", serial_reqs,
               serial_secs);
    printf("  requests per account match the daemon's: %s\n", mismatch ? "NO" : "yes");
    char bl[48], ratio[24];
    snprintf(bl, sizeof bl, "serial %.1f s%s", serial_total, extrapolated ? " (extrap.)" : "");
    snprintf(ratio, sizeof ratio, "%.1fx faster", serial_total / secs);
    rc = mismatch ? -1 : 0;
    why = "replay differs from daemon";
    if (rc == 0)
        add_row(judge(o, secs < TARGET_CYCLE_S), what, "< 2 s", ratio, bl, "%.2f s", secs);
out:
    if (rc != 0 && status != 0)
        add_row(V_FAILED, what, "< 2 s", NULL, NULL, "%.2f s, exit %d", secs, status);
    else if (rc != 0)
        add_row(V_FAILED, what, "< 2 s", NULL, NULL, "%s", why);
    json_decref(stats);
    free(t.buf);
    for (int i = 0; env && i < o->accounts; i++)
        free(env[i]);
    free(env);
    if (s.pid > 0)
        sim_stop(&s);
    return rc;
}

/* ---- main ----------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "Usage: bench_collector [--quick]\n\n"
               "Measures the collector against the issue's targets, each with a baseline from\n"
               "the same run: parse MB/s vs json_loadb, a 35-day backfill of 2 providers by\n"
               "`byokwatch run --once` (target < 10 s), and one cycle over 50 accounts that\n"
               "answer after 200 ms (target < 2 s) vs a serial replay. Runs the binaries in\n"
               "$BW_BIN (build/byokwatch) and $BW_SIM (build/bw-sim) from the repository root.\n"
               "  --quick   small scale smoke run; targets are not judged\n");
}

static const char *verdict_name(enum verdict v)
{
    switch (v) {
    case V_MET: return "MET";
    case V_NOT_MET: return "NOT MET";
    case V_FAILED: return "FAILED";
    case V_QUICK: return "(quick)";
    default: return "";
    }
}

static void print_table(const struct opts *o)
{
    printf("\n%-46s %-16s %-28s %-13s %-11s %s\n", "measure", "value", "baseline (same run)",
           "ratio", "target", "result");
    for (int i = 0; i < 126; i++)
        putchar('-');
    putchar('\n');
    for (size_t i = 0; i < n_rows; i++) {
        const struct row *r = &rows[i];
        printf("%-46s %-16s %-28s %-13s %-11s %s\n", r->what, r->value, r->baseline, r->ratio,
               r->target, verdict_name(r->v));
    }
    if (o->quick)
        printf("(quick: small scale; the scale-dependent targets are not judged)\n");
}

int main(int argc, char **argv)
{
    struct opts o = {.parse_scale = 45,
                     .days = 40,
                     .parse_secs = 2.0,
                     .accounts = 50,
                     .delay_ms = 200,
                     .serial_budget = 60.0,
                     .serial_prefix = 100};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            o.quick = 1;
            o.parse_scale = 5;
            o.parse_secs = 0.5;
            o.accounts = 10;
            o.serial_budget = 5.0;
            o.serial_prefix = 15;
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    int64_t now;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (tu_parse_time(NOW, &now) != 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        return 1;
    char *dir = tu_mkdtemp();
    if (!dir) {
        fprintf(stderr, "bench_collector: cannot create a temporary directory\n");
        return 1;
    }
    printf("bench_collector: %s run, simulator --scale %d --days %d, now %s\n",
           o.quick ? "quick" : "full", o.parse_scale, o.days, NOW);

    char scale[16], days[16];
    snprintf(scale, sizeof scale, "%d", o.parse_scale);
    snprintf(days, sizeof days, "%d", o.days);
    const char *extra[] = {"--scale", scale, "--days", days, NULL};
    struct sim s = {0};
    if (start_sim(&s, extra) == 0) {
        long n_oa = -1, n_an = -1;
        char *info = NULL;
        if (sim_http(&s, "/_sim/info", NULL, NULL, &info) == 200) {
            json_t *root = json_loads(info, 0, NULL);
            n_oa = (long)json_integer_value(
                json_object_get(json_object_get(root, "openai"), "series"));
            n_an = (long)json_integer_value(
                json_object_get(json_object_get(root, "anthropic"), "series"));
            json_decref(root);
        }
        free(info);
        printf("1. parse throughput (%.1f s per loop)\n", o.parse_secs);
        bench_parse_one(&o, &s, &col_openai_poller, "usage/completions", OPENAI_KEY, 1, now);
        bench_parse_one(&o, &s, &col_anthropic_poller, "usage_report/messages", ANTHROPIC_KEY, 0,
                        now);
        printf("2. backfill (%ld + %ld series in the simulator)\n", n_oa, n_an);
        fflush(stdout);
        bench_backfill(&o, &s, dir, now, n_oa, n_an);
        sim_stop(&s);
    } else {
        add_row(V_FAILED, "parse / backfill", NULL, NULL, NULL, "simulator did not start");
    }
    printf("3. concurrency (%d accounts, %d ms per answer)\n", o.accounts, o.delay_ms);
    fflush(stdout);
    bench_concurrency(&o, dir, now);

    print_table(&o);
    tu_rmtree(dir);
    free(dir);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
