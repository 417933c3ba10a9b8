/*
 * `make bench` (fourth part): alert delivery against the target, "10,000 queued
 * deliveries to a loopback webhook receiver in <= 5 s with connection reuse, against the
 * same run with a new connection per delivery". Queues signed webhook notifications in a
 * fresh store (alert_outbox_enqueue, one ts_write per analysis-sized batch), runs the outbox
 * worker in once mode on its own event loop until it is idle, and asks bw-recv ($BW_RECV)
 * whether each arrived once with a good signature; then the same with a new connection per
 * delivery, in the same process, with a fresh store and a reset receiver.
 */
#include "../../alerts/outbox.h"
#include "../../collector/config.h"
#include "../../collector/http.h"
#include "../../common/log.h"
#include "../../common/timeutil.h"
#include "../../storage/ts.h"
#include "../peers.h"
#include "../testutil.h"

#include "benchutil.h"
#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TARGET_S 5.0
#define TARGET_N 10000
#define SECRET "whsec-bench-not-a-real-secret-51f0"
#define SINK "hook"
#define N_DECILES 10
#define HEAD_SCANS 200          /* reads of the queue's head per measurement (median) */
#define CYCLE ((int64_t)5 * 60) /* one analysis batch per poll cycle */
#define RUN_TIMEOUT_S 300       /* a run that takes longer is stopped and fails */

struct opts {
    size_t n, batch;
    int keep, quick;
    const char *dir;
};

/* One delivery run: the reuse run, or the baseline with a new connection per delivery. */
struct run {
    const char *name;
    int fresh;
    double enqueue_ms, deliver_ms, cpu_ms, recv_cpu_ms;
    size_t queued, pending_after, dead;
    long requests, ok, ids, duplicates, bad_sigs, good_sigs, connections, delivery_conns;
    double head_full_us, head_empty_us, head_compacted_us; /* reads of the queue's head */
    double dec_ms[N_DECILES], dec_store_us[N_DECILES], dec_request_us[N_DECILES];
    double store_ms, request_ms; /* totals of the two sides over the run */
    int traced, timed_out;
};

/* ---- small utilities ------------------------------------------------------ */

/* User + system CPU time of process pid in ms (from /proc), or NAN. */
static double proc_cpu_ms(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return NAN;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')');
    unsigned long long ut = 0, st = 0;
    /* after the command: state, then fields 4..13, then utime and stime (14, 15) */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return NAN;
    return (double)(ut + st) * 1e3 / (double)sysconf(_SC_CLK_TCK);
}

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static const char *met(int ok)
{
    return ok ? "MET" : "NOT MET";
}

static long jlong(const json_t *o, const char *k)
{
    return (long)json_integer_value(json_object_get(o, k));
}

/* ---- the worker's clock, which also traces its progress ------------------- */

/*
 * The worker asks for the time twice per webhook delivery: in sink_next
 * after reading the queue's head (call 2k) and in conclude when the answer
 * is in (call 2k+1). Recording those instants splits each delivery into its
 * store side (answer -> next head read: the delete, the kick, the scan) and
 * its request side (head read -> answer: format, sign, HTTP round trip).
 * The trace is used only when the count comes out at exactly 2 per delivery.
 */
static struct {
    double *t;
    size_t n, cap;
} g_trace;

static int64_t bench_now(void *ud)
{
    (void)ud;
    if (g_trace.n < g_trace.cap)
        g_trace.t[g_trace.n] = now_ms();
    g_trace.n++;
    return (int64_t)time(NULL);
}

static void trace_deciles(struct run *r, double t_kick, size_t n)
{
    r->traced = g_trace.n == 2 * n && n >= N_DECILES;
    if (!r->traced)
        return;
    for (size_t d = 0; d < N_DECILES; d++) {
        size_t a = d * n / N_DECILES, b = (d + 1) * n / N_DECILES;
        double start = a == 0 ? t_kick : g_trace.t[2 * a - 1], store = 0, request = 0;
        for (size_t k = a; k < b; k++) {
            double prev = k == 0 ? t_kick : g_trace.t[2 * k - 1];
            store += g_trace.t[2 * k] - prev;
            request += g_trace.t[2 * k + 1] - g_trace.t[2 * k];
        }
        r->store_ms += store;
        r->request_ms += request;
        r->dec_ms[d] = g_trace.t[2 * b - 1] - start;
        r->dec_store_us[d] = 1e3 * store / (double)(b - a);
        r->dec_request_us[d] = 1e3 * request / (double)(b - a);
    }
}

/* ---- building the queue --------------------------------------------------- */

static int write_config(const char *path, const char *data_dir, int port)
{
    char text[2048];
    int n = snprintf(text, sizeof text,
                     "{\n"
                     "  \"data_dir\": \"%s\",\n"
                     "  \"log_level\": \"warn\",\n"
                     "  \"sinks\": [\n"
                     "    {\"type\": \"webhook\", \"name\": \"" SINK "\",\n"
                     "     \"url\": \"http://127.0.0.1:%d/hook\", \"hmac_secret_env\": "
                     "\"BENCH_HMAC\"}\n"
                     "  ]\n"
                     "}\n",
                     data_dir, port);
    if (n < 0 || (size_t)n >= sizeof text)
        return -1;
    return tu_write_file(path, text, 0600);
}

static int set_time(json_t *o, const char *k, int64_t t)
{
    char buf[40];
    return json_object_set_new(o, k,
                               t ? json_string(tu_format_time(t, buf, sizeof buf)) : json_null());
}

/*
 * Notification i, shaped like the lifecycle's (alerts/lifecycle.c payload_of,
 * INTERFACE.md "The alert"): a firing or resolved spend spike of one API key,
 * generated at gen. NULL when out of memory.
 */
static json_t *payload(size_t i, int64_t gen)
{
    uint64_t h = mix64((uint64_t)i), g = mix64(h);
    char id[33], fp[17], project[32], key[40], summary[256];
    int resolved = i % 4 == 3;
    snprintf(id, sizeof id, "%016" PRIx64 "%016" PRIx64, h, mix64(g));
    snprintf(fp, sizeof fp, "%016" PRIx64, mix64((uint64_t)i / 2 + 0x5eedULL));
    snprintf(project, sizeof project, "proj-%03zu", (size_t)(g % 200));
    snprintf(key, sizeof key, "key_%012" PRIx64, g >> 16);
    double baseline = 20.0 + (double)(h % 9000) / 100.0, ratio = 1.6 + (double)(g % 300) / 100.0;
    snprintf(summary, sizeof summary,
             "openai project %s spent $%.2f in 1d, %.1fx its 14d baseline of $%.2f", project,
             baseline * ratio, ratio, baseline);
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s,"
                          " s:{s:s, s:s, s:s, s:s},"
                          " s:{s:f, s:f, s:f, s:f, s:s, s:s},"
                          " s:[{s:s, s:s, s:f}, {s:s, s:s, s:f}]}",
                          "version", "1", "id", id, "fingerprint", fp, "status",
                          resolved ? "resolved" : "firing", "rule", "spend_spike", "rule_name",
                          "daily-spend-spike", "severity", "critical", "summary", summary, "labels",
                          "provider", "openai", "account", "acme-openai", "project", project,
                          "api_key_id", key, "observed", "value", baseline * ratio, "baseline",
                          baseline, "ratio", ratio, "threshold", 1.5, "window", "1d", "unit", "usd",
                          "root_causes", "label", "api_key_id", "value", key, "share", 0.81,
                          "label", "model", "value", "gpt-4.1", "share", 0.64);
    if (!p || set_time(p, "starts_at", gen - 6 * TU_HOUR) ||
        set_time(p, "ends_at", resolved ? gen : 0) || set_time(p, "generated_at", gen)) {
        json_decref(p);
        return NULL;
    }
    return p;
}

/* Queues o->n notifications, o->batch per ts_write (one analysis run each, one cycle apart). */
static int enqueue_all(struct ts_store *st, const struct config *cfg, const struct opts *o,
                       int64_t now, struct run *r, char *err, size_t errlen)
{
    struct ts_batch *b = ts_batch_new();
    json_t *notes = json_array();
    int rc = -1;
    size_t runs = (o->n + o->batch - 1) / o->batch;
    if (!b || !notes) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    double t0 = now_ms();
    for (size_t i = 0; i < o->n;) {
        int64_t gen = now - (int64_t)(runs - i / o->batch) * CYCLE;
        size_t queued = 0, silenced = 0;
        json_array_clear(notes);
        ts_batch_clear(b);
        for (size_t k = 0; k < o->batch && i < o->n; k++, i++) {
            if (json_array_append_new(notes, payload(i, gen)) != 0) {
                snprintf(err, errlen, "out of memory");
                goto out;
            }
        }
        if (alert_outbox_enqueue(st, b, cfg, notes, NULL, now, &queued, &silenced, err, errlen) ||
            ts_write(st, b, err, errlen) != 0)
            goto out;
        r->queued += queued;
    }
    r->enqueue_ms = now_ms() - t0;
    rc = 0;
out:
    json_decref(notes);
    ts_batch_free(b);
    return rc;
}

static int stop_at_first(const void *k, size_t kl, const void *v, size_t vl, void *ud)
{
    (void)k;
    (void)kl;
    (void)v;
    (void)vl;
    (*(size_t *)ud)++;
    return 1;
}

/*
 * Median time in µs of reading the sink's first queued entry (what the worker
 * does before each delivery), over HEAD_SCANS reads; NAN on a failure.
 */
static double head_scan_us(struct ts_store *st)
{
    char err[256];
    double us[HEAD_SCANS];
    size_t seen = 0;
    for (int i = 0; i < HEAD_SCANS; i++) {
        double t0 = now_ms();
        if (ts_scan(st, TS_OUTBOX, "q/" SINK "/", strlen("q/" SINK "/"), stop_at_first, &seen, err,
                    sizeof err) != 0)
            return NAN;
        us[i] = 1e3 * (now_ms() - t0);
    }
    qsort(us, HEAD_SCANS, sizeof *us, cmp_double);
    return (us[HEAD_SCANS / 2 - 1] + us[HEAD_SCANS / 2]) / 2.0;
}

/* ---- one delivery run ----------------------------------------------------- */

struct loop {
    struct event_base *base;
    int idle;
};

static void on_idle(void *ud)
{
    struct loop *l = ud;
    l->idle = 1;
    event_base_loopbreak(l->base);
}

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

/*
 * Builds a store in dir, queues o->n deliveries and delivers them to the
 * receiver p; fills r. 0 when the run happened (its checks are judged by
 * the caller), -1 with err when it could not be set up.
 */
static int run_once(const struct opts *o, const char *dir, struct peer *p, struct run *r, char *err,
                    size_t errlen)
{
    char data[4200], cfg_path[4200];
    struct config *cfg = NULL;
    struct ts_store *st = NULL;
    struct event_base *base = NULL;
    struct col_http *http = NULL;
    struct alert_worker *w = NULL;
    struct event *guard = NULL;
    json_t *stats = NULL;
    int rc = -1;
    int64_t now = (int64_t)time(NULL);

    if (snprintf(data, sizeof data, "%s/data", dir) >= (int)sizeof data ||
        snprintf(cfg_path, sizeof cfg_path, "%s/byokwatch.json", dir) >= (int)sizeof cfg_path) {
        snprintf(err, errlen, "directory name too long");
        return -1;
    }
    if (mkdir(dir, 0700) != 0) {
        snprintf(err, errlen, "mkdir %.800s: %s", dir, strerror(errno));
        return -1;
    }
    if (write_config(cfg_path, data, p->port) != 0) {
        snprintf(err, errlen, "cannot write %.900s", cfg_path);
        return -1;
    }
    if (cfg_load(cfg_path, &cfg, err, errlen) != 0)
        goto out;
    struct ts_options so = {.create = 1};
    if (ts_open(data, &so, &st, err, errlen) != 0 ||
        enqueue_all(st, cfg, o, now, r, err, errlen) != 0)
        goto out;
    r->head_full_us = head_scan_us(st);
    if (recv_reset(p) != 0) {
        snprintf(err, errlen, "bw-recv did not reset");
        goto out;
    }

    struct loop l = {0};
    base = l.base = event_base_new();
    if (!base || col_http_new(base, &http, err, errlen) != 0)
        goto out;
    struct alert_worker_opts wo = {.base = base,
                                   .http = http,
                                   .st = st,
                                   .cfg = cfg,
                                   .once = 1,
                                   .fresh_connect = r->fresh,
                                   .now = bench_now,
                                   .on_idle = on_idle,
                                   .ud = &l};
    if (alert_worker_new(&wo, &w, err, errlen) != 0)
        goto out;
    struct timeval tv = {.tv_sec = RUN_TIMEOUT_S};
    guard = evtimer_new(base, on_guard, base);
    if (!guard) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }

    g_trace.n = 0;
    double rcpu0 = proc_cpu_ms(p->pid), cpu0 = cpu_ms(), t0 = now_ms();
    evtimer_add(guard, &tv);
    alert_worker_kick(w);
    event_base_dispatch(base);
    r->deliver_ms = now_ms() - t0;
    r->cpu_ms = cpu_ms() - cpu0;
    r->recv_cpu_ms = proc_cpu_ms(p->pid) - rcpu0;
    r->timed_out = !l.idle;
    trace_deciles(r, t0, o->n);

    r->pending_after = alert_outbox_pending(st, SINK);
    r->dead = alert_worker_dead(w);
    r->head_empty_us = head_scan_us(st);
    if (ts_compact(st, err, errlen) != 0)
        goto out;
    r->head_compacted_us = head_scan_us(st);
    stats = recv_stats(p);
    if (!stats) {
        snprintf(err, errlen, "no stats from bw-recv");
        goto out;
    }
    r->requests = jlong(stats, "requests");
    r->ok = jlong(stats, "ok");
    r->ids = (long)json_array_size(json_object_get(stats, "ids"));
    r->duplicates = jlong(stats, "duplicates");
    r->bad_sigs = jlong(stats, "bad_signatures");
    r->good_sigs = jlong(stats, "good_signatures");
    r->connections = jlong(stats, "connections");
    r->delivery_conns = jlong(stats, "delivery_connections");
    rc = 0;
out:
    json_decref(stats);
    if (guard)
        event_free(guard);
    alert_worker_free(w);
    col_http_free(http);
    if (base)
        event_base_free(base);
    ts_close(st);
    cfg_free(cfg);
    return rc;
}

/* The run's failed checks as text ("" when it passed); 1 when one failed. */
static int judge(const struct run *r, size_t n, char *why, size_t len)
{
    int k = 0;
    why[0] = '\0';
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond) && (size_t)k < len)                                                            \
            k += snprintf(why + k, len - (size_t)k, __VA_ARGS__);                                  \
    } while (0)
    CHECK(!r->timed_out, " timed out after %d s;", RUN_TIMEOUT_S);
    CHECK(r->queued == n, " queued %zu of %zu;", r->queued, n);
    CHECK(r->pending_after == 0, " %zu still pending;", r->pending_after);
    CHECK(r->dead == 0, " %zu dead letters;", r->dead);
    CHECK(r->ok == (long)n, " receiver ok %ld, wanted %zu;", r->ok, n);
    CHECK(r->ids == (long)n, " %ld distinct ids, wanted %zu;", r->ids, n);
    CHECK(r->duplicates == 0, " %ld duplicates;", r->duplicates);
    CHECK(r->bad_sigs == 0, " %ld bad signatures;", r->bad_sigs);
    CHECK(r->good_sigs == (long)n, " %ld good signatures, wanted %zu;", r->good_sigs, n);
#undef CHECK
    return why[0] != '\0';
}

static void print_run(const struct run *r, size_t n)
{
    double s = r->deliver_ms / 1e3;
    printf("  %-22s %8.0f %9.2f %11.0f %7.1f %8.1f %6ld %6ld %6ld %5ld %6ld\n", r->name,
           r->enqueue_ms, s, (double)n / s, r->cpu_ms / r->deliver_ms * 100.0,
           r->recv_cpu_ms / r->deliver_ms * 100.0, r->ok, r->ids, r->duplicates, r->bad_sigs,
           r->delivery_conns);
}

static void print_trace(const struct run *r, size_t n)
{
    if (!r->traced) {
        printf("  %s: no progress trace (the worker's clock was not called twice per delivery)\n",
               r->name);
        return;
    }
    printf("  %-22s", r->name);
    for (int d = 0; d < N_DECILES; d++)
        printf(" %6.0f", (double)(n / N_DECILES) / (r->dec_ms[d] / 1e3));
    printf("   deliveries/s\n  %-22s", "  store side us");
    for (int d = 0; d < N_DECILES; d++)
        printf(" %6.0f", r->dec_store_us[d]);
    printf("\n  %-22s", "  request side us");
    for (int d = 0; d < N_DECILES; d++)
        printf(" %6.0f", r->dec_request_us[d]);
    printf("\n");
}

/* ---- main ----------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_sinks [--deliveries N] [--batch B] [--dir DIR] [--keep] [--quick]\n"
               "  --deliveries N  queued webhook deliveries per run (default 10000)\n"
               "  --batch B       notifications per enqueue write, one analysis run (default "
               "500)\n"
               "  --dir DIR       where to put the stores (default a new "
               "$TMPDIR/bwtest.XXXXXX)\n"
               "  --keep          leave them on disk\n"
               "  --quick         1000 deliveries: a smoke run\n"
               "The receiver is bw-recv, path in $BW_RECV (default build/bw-recv).\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    long n = 0, batch = 0;
    const char *a = NULL;
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            o->quick = 1;
        } else if (!strcmp(a, "--keep")) {
            o->keep = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        } else if (v && !strcmp(a, "--deliveries")) {
            if (bench_parse_num(v, N_DECILES, 1000000, &n))
                goto bad;
            i++;
        } else if (v && !strcmp(a, "--batch")) {
            if (bench_parse_num(v, 1, 100000, &batch))
                goto bad;
            i++;
        } else if (v && !strcmp(a, "--dir")) {
            o->dir = v;
            i++;
        } else {
            goto bad;
        }
    }
    o->n = n ? (size_t)n : o->quick ? 1000 : TARGET_N;
    o->batch = batch ? (size_t)batch : 500;
    return 0;
bad:
    fprintf(stderr, "bench_sinks: bad or incomplete argument '%s'\n", a ? a : "");
    usage(stderr);
    return -1;
}

int main(int argc, char **argv)
{
    struct opts o;
    struct peer p = {0};
    struct run runs[2] = {{.name = "reuse connections", .fresh = 0},
                          {.name = "new connection each", .fresh = 1}};
    char base[4096] = "", dirs[2][4200], err[1024] = "", why[2][512];
    int made_base = 0, made[2] = {0}, rc = 2, bad = 0;

    int pr = parse_args(argc, argv, &o);
    if (pr != 0)
        return pr > 0 ? 0 : 2;
    double load0 = loadavg();
    log_set_level(LOG_WARN);
    setenv("BENCH_HMAC", SECRET, 1);
    g_trace.cap = 2 * o.n + 16;
    g_trace.t = calloc(g_trace.cap, sizeof *g_trace.t);
    if (!g_trace.t) {
        fprintf(stderr, "bench_sinks: out of memory\n");
        return 2;
    }
    if (o.dir) {
        if (snprintf(base, sizeof base, "%s", o.dir) >= (int)sizeof base)
            goto out;
        if (access(base, F_OK) != 0) {
            if (mkdir(base, 0700) != 0) {
                fprintf(stderr, "bench_sinks: mkdir %s: %s\n", base, strerror(errno));
                goto out;
            }
            made_base = 1;
        }
    } else {
        char *t = tu_mkdtemp();
        if (!t) {
            fprintf(stderr, "bench_sinks: mkdtemp: %s\n", strerror(errno));
            goto out;
        }
        snprintf(base, sizeof base, "%s", t);
        free(t);
        made_base = 1;
    }
    for (int i = 0; i < 2; i++) {
        snprintf(dirs[i], sizeof dirs[i], "%s/%s", base, runs[i].fresh ? "fresh" : "reuse");
        if (access(dirs[i], F_OK) == 0) {
            fprintf(stderr, "bench_sinks: %s already holds a run; pick an empty --dir\n", base);
            goto out;
        }
    }
    if (recv_start(&p, SECRET) != 0) {
        fprintf(stderr, "bench_sinks: bw-recv: %s\n", p.err);
        goto out;
    }

    printf("bench_sinks: %zu signed webhook deliveries (one sink, HMAC-SHA256) from the outbox "
           "to bw-recv on 127.0.0.1:%d;\n"
           "  queued with alert_outbox_enqueue, %zu per ts_write; the worker in once mode, one "
           "request in flight;\n"
           "  libcurl %s; %ld CPUs (load average %.2f); dir %s%s\n",
           o.n, p.port, o.batch, curl_version_info(CURLVERSION_NOW)->version,
           sysconf(_SC_NPROCESSORS_ONLN), load0, base, o.keep ? " (kept)" : "");
    fflush(stdout);
    for (int i = 0; i < 2; i++) {
        made[i] = 1;
        if (run_once(&o, dirs[i], &p, &runs[i], err, sizeof err) != 0) {
            fprintf(stderr, "bench_sinks: %s: %s\n", runs[i].name, err);
            goto out;
        }
        bad |= judge(&runs[i], o.n, why[i], sizeof why[i]);
    }

    const struct run *re = &runs[0], *fr = &runs[1];
    printf("\n  %-22s %8s %9s %11s %7s %8s %6s %6s %6s %5s %6s\n", "run", "queue_ms", "deliver_s",
           "deliveries/s", "cpu%", "recv_cpu%", "ok", "ids", "dups", "badsig", "conns");
    print_run(re, o.n);
    print_run(fr, o.n);
    printf("  (cpu%%: this process's CPU time over the delivery's wall time; recv_cpu%%: "
           "bw-recv's; conns: delivery connections bw-recv accepted)\n");

    printf("\nprogress by tenth of the queue (store side: from an answer to the next entry read "
           "-- delete, kick, queue scan;\n  request side: from the entry read to its answer -- "
           "format, sign, HTTP round trip), mean per delivery\n");
    print_trace(re, o.n);
    print_trace(fr, o.n);

    printf("\nreading the queue's head (ts_scan of \"q/" SINK
           "/\" to its first entry, median of %d):"
           "\n",
           HEAD_SCANS);
    for (int i = 0; i < 2; i++)
        printf("  %-22s %zu queued %8.1f us; emptied (%zu deleted) %8.1f us; after ts_compact "
               "%6.1f us\n",
               runs[i].name, runs[i].queued, runs[i].head_full_us, runs[i].queued,
               runs[i].head_empty_us, runs[i].head_compacted_us);

    double ratio = fr->deliver_ms / re->deliver_ms;
    printf("\nsummary\n");
    printf("  reuse: %zu deliveries in %.2f s, %.0f/s over %ld connection%s; new connection each: "
           "%.2f s, %.0f/s over %ld\n",
           o.n, re->deliver_ms / 1e3, (double)o.n / (re->deliver_ms / 1e3), re->delivery_conns,
           re->delivery_conns == 1 ? "" : "s", fr->deliver_ms / 1e3,
           (double)o.n / (fr->deliver_ms / 1e3), fr->delivery_conns);
    printf("  reuse is %.2fx the baseline's throughput; load average %.2f before, %.2f after\n",
           ratio, load0, loadavg());
    for (int i = 0; i < 2 && re->traced && fr->traced; i++)
        printf("  %-20s: store side %.2f s (%.0f%%), request side %.2f s (%.0f%%) of the "
               "delivery time\n",
               runs[i].name, runs[i].store_ms / 1e3, 100.0 * runs[i].store_ms / runs[i].deliver_ms,
               runs[i].request_ms / 1e3, 100.0 * runs[i].request_ms / runs[i].deliver_ms);
    for (int i = 0; i < 2; i++)
        printf("  checks, %-20s: %s\n", runs[i].name, why[i][0] ? why[i] + 1 : "all passed");
    printf("\ntargets\n");
    printf("  target %d queued deliveries <= %.0f s with connection reuse : %6.2f s  %s\n",
           TARGET_N, TARGET_S, re->deliver_ms / 1e3,
           met(re->deliver_ms <= TARGET_S * 1e3 && !why[0][0]));
    printf("  (baseline, a new connection per delivery                   : %6.2f s)\n",
           fr->deliver_ms / 1e3);
    if (o.n != TARGET_N)
        printf("  (%zu deliveries, not the issue's %d: the verdict is indicative only)\n", o.n,
               TARGET_N);
    if (bad)
        printf("\n!!! a delivery check failed (see \"checks\" above)\n");
    rc = bad ? 1 : 0;
out:
    if (p.pid > 0)
        recv_stop(&p);
    free(g_trace.t);
    if (!o.keep && base[0]) {
        for (int i = 0; i < 2; i++)
            if (made[i])
                tu_rmtree(dirs[i]);
        if (made_base && rmdir(base) != 0)
            fprintf(stderr, "bench_sinks: could not remove %s\n", base);
    }
    return rc;
}
