/*
 * Integration tests of `byokwatch run` against the provider simulator on
 * loopback: a 35-day backfill stores exactly the simulator's totals, a
 * second cycle changes nothing, a SIGKILL mid-backfill is repaired by the
 * next run, and faults (429 + Retry-After, malformed pages, rejected keys)
 * behave as the issue says. The real binary, the real store, real HTTP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <time.h>

#include "../common/timeutil.h"
#include "../storage/ts.h"
#include "simutil.h"
#include "testutil.h"

#define NOW "2026-11-20T12:00:00Z"
#define OPENAI_KEY "sk-admin-TESTKEY-openai-7c1d"
#define ANTHROPIC_KEY "sk-ant-admin01-TESTKEY-anthropic-4e2b"

struct fx {
    char *dir;
    char cfg[4096];
    char data[4096];
    struct sim sim;
    int64_t now;
};

static char *const run_env[] = {"BW_T_OPENAI=" OPENAI_KEY, "BW_T_ANTHROPIC=" ANTHROPIC_KEY, NULL};

static void write_config(struct fx *f, const char *extra_provider_keys)
{
    char text[8192];
    snprintf(text, sizeof text,
             "{\n"
             "  \"data_dir\": \"%s\",\n"
             "  \"log_level\": \"debug\",\n"
             "  \"prices\": \"conf/prices.json\",\n"
             "  \"providers\": [\n"
             "    {\"type\": \"openai\", \"name\": \"acme-openai\",\n"
             "     \"base_url\": \"http://127.0.0.1:%d/v1\", \"admin_key_env\": \"BW_T_OPENAI\",\n"
             "     \"backfill\": \"35d\"%s},\n"
             "    {\"type\": \"anthropic\", \"name\": \"acme-claude\",\n"
             "     \"base_url\": \"http://127.0.0.1:%d\", \"admin_key_env\": \"BW_T_ANTHROPIC\",\n"
             "     \"backfill\": \"35d\"%s}\n"
             "  ]\n"
             "}\n",
             f->data, f->sim.port, extra_provider_keys, f->sim.port, extra_provider_keys);
    assert_int_equal(tu_write_file(f->cfg, text, 0600), 0);
}

static int setup_args(void **state, const char *const extra[])
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    snprintf(f->cfg, sizeof f->cfg, "%s/byokwatch.json", f->dir);
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    assert_int_equal(tu_parse_time(NOW, &f->now), 0);
    const char *args[32] = {"--now",           NOW,          "--days",       "40",
                            "--seed",          "7",          "--openai-key", OPENAI_KEY,
                            "--anthropic-key", ANTHROPIC_KEY};
    int n = 10;
    for (int i = 0; extra && extra[i]; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    assert_int_equal(sim_start(&f->sim, args), 0);
    write_config(f, "");
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_args(state, NULL);
}

static int setup_slow(void **state)
{
    const char *extra[] = {"--delay-ms", "150", NULL};
    return setup_args(state, extra);
}

static int setup_demo(void **state)
{
    const char *extra[] = {"--scenario", "demo", NULL};
    return setup_args(state, extra);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    assert_int_equal(sim_stop(&f->sim), 0);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void run_once(struct fx *f, struct tu_run *r)
{
    char *argv[] = {"byokwatch", "run", "--config", f->cfg, "--once", "--now", NOW, NULL};
    assert_int_equal(tu_run_bw(r, argv, run_env), 0);
}

/* Sum of every point of `query --format json` for metric/provider over [from, to). */
static double query_sum(struct fx *f, const char *metric, const char *provider, int64_t from,
                        int64_t to, const char *step)
{
    char a[32], z[32];
    tu_format_time(from, a, sizeof a);
    tu_format_time(to, z, sizeof z);
    char *argv[] = {"byokwatch",  "query",          "--config", f->cfg, "--metric", (char *)metric,
                    "--provider", (char *)provider, "--from",   a,      "--to",     z,
                    "--step",     (char *)step,     "--format", "json", NULL};
    struct tu_run r;
    assert_int_equal(tu_run_bw(&r, argv, run_env), 0);
    if (r.status != 0)
        fprintf(stderr, "query failed: %s\n", r.err);
    assert_int_equal(r.status, 0);
    json_t *root = json_loads(r.out, 0, NULL);
    assert_non_null(root);
    double sum = 0;
    json_t *series = json_object_get(root, "series"), *s;
    size_t i;
    json_array_foreach(series, i, s)
    {
        json_t *p;
        size_t k;
        json_array_foreach(json_object_get(s, "points"), k, p) sum +=
            json_number_value(json_array_get(p, 1));
    }
    json_decref(root);
    tu_run_free(&r);
    return sum;
}

static double truth(struct fx *f, const char *provider, const char *metric, int64_t from,
                    int64_t to)
{
    char path[512];
    snprintf(path, sizeof path, "/_sim/truth?provider=%s&metric=%s&from=%lld&to=%lld", provider,
             metric, (long long)from, (long long)to);
    char *body = NULL;
    assert_int_equal(sim_http(&f->sim, path, NULL, NULL, &body), 200);
    json_t *root = json_loads(body, 0, NULL);
    assert_non_null(root);
    double v = json_number_value(json_object_get(root, "value"));
    json_decref(root);
    free(body);
    return v;
}

/* Every provider total equals the simulator's: tokens exactly, cost to the cent. */
static void check_totals(struct fx *f)
{
    static const char *const providers[] = {"openai", "anthropic"};
    static const char *const metrics[] = {"input_tokens", "output_tokens", "input_cached_tokens"};
    int64_t hour_from = tu_floor(f->now - 35 * TU_DAY, TU_HOUR);
    int64_t day_from = tu_floor(f->now - 35 * TU_DAY, TU_DAY);
    int64_t to = tu_floor(f->now, TU_HOUR) + TU_HOUR;
    for (int p = 0; p < 2; p++) {
        for (int m = 0; m < 3; m++) {
            double want = truth(f, providers[p], metrics[m], hour_from, to);
            double got = query_sum(f, metrics[m], providers[p], hour_from, to, "1h");
            if (want != got)
                fprintf(stderr, "%s %s: stored %.0f, simulator %.0f\n", providers[p], metrics[m],
                        got, want);
            assert_true(want > 0);
            assert_true(want == got);
        }
        double want = truth(f, providers[p], "cost_usd", day_from, to);
        double got = query_sum(f, "cost_usd", providers[p], day_from, to, "1d");
        if (fabs(want - got) >= 0.005)
            fprintf(stderr, "%s cost: stored %.4f, simulator %.4f\n", providers[p], got, want);
        assert_true(want > 0);
        assert_true(fabs(want - got) < 0.005);
    }
    double req = truth(f, "openai", "requests", hour_from, to);
    assert_true(req == query_sum(f, "requests", "openai", hour_from, to, "1h"));
}

static void test_backfill_exact_totals(void **state)
{
    struct fx *f = *state;
    struct tu_run r;
    run_once(f, &r);
    if (r.status != 0)
        fprintf(stderr, "%s\n", r.err);
    assert_int_equal(r.status, 0);
    /* the admin keys never appear in any output, even at debug level */
    assert_null(strstr(r.err, OPENAI_KEY));
    assert_null(strstr(r.err, ANTHROPIC_KEY));
    assert_null(strstr(r.out, OPENAI_KEY));
    tu_run_free(&r);
    check_totals(f);
    /* nothing secret in the data directory */
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "grep -rqa -e '%s' -e '%s' '%s'", OPENAI_KEY, ANTHROPIC_KEY, f->data);
    assert_int_not_equal(system(cmd), 0);
    /* estimated cost was computed for priced models */
    int64_t from = tu_floor(f->now - 35 * TU_DAY, TU_DAY);
    assert_true(query_sum(f, "est_cost_usd", "openai", from, f->now + TU_DAY, "1d") > 0);

    /* a second cycle over the same window changes nothing */
    run_once(f, &r);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    check_totals(f);
}

/* Starts `byokwatch argv...` with stderr into logpath; returns the pid. */
static void test_kill_mid_backfill_then_restart(void **state)
{
    struct fx *f = *state;
    char *argv[] = {"byokwatch", "run", "--config", f->cfg, "--once", "--now", NOW, NULL};
    char logpath[4200];
    snprintf(logpath, sizeof logpath, "%s/run.log", f->dir);
    pid_t pid = tu_spawn_bw(argv, run_env, logpath);
    /* Kill as soon as the first backfill window is committed: the simulator
     * answers each page after 150 ms, so most windows are still to come. */
    int seen = tu_wait_for_log(
        logpath, "unit_committed source=acme-openai endpoint=usage/completions", 3000, 2);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    assert_true(seen);
    assert_true(WIFSIGNALED(st));
    char *log = tu_read_file(logpath);
    assert_null(strstr(log, "event=collector.cycle_done source=acme-openai"));
    free(log);
    struct tu_run r;
    run_once(f, &r);
    if (r.status != 0)
        fprintf(stderr, "%s\n", r.err);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    check_totals(f);
}

/* Seconds since the start of the run at which a log line with `needle` appeared. */
static double log_time_of(const char *log, const char *needle, double t0)
{
    const char *p = strstr(log, needle);
    if (!p)
        return -1;
    while (p > log && p[-1] != '\n')
        p--;
    int h, m;
    double s;
    if (sscanf(p, "ts=%*d-%*d-%*dT%d:%d:%lfZ", &h, &m, &s) != 3)
        return -1;
    return h * 3600 + m * 60 + s - t0;
}

static void test_429_delays_only_that_endpoint(void **state)
{
    struct fx *f = *state;
    const char *fault = "{\"path\": \"/v1/organization/costs\", \"kind\": \"429\", \"count\": 1, "
                        "\"retry_after\": \"2\"}";
    assert_int_equal(sim_http(&f->sim, "/_sim/fault", fault, NULL, NULL), 200);
    struct tu_run r;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    run_once(f, &r);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_int_equal(r.status, 0);
    double took = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    assert_true(took >= 2.0);
    /* the other endpoints of the same source finished long before the retry */
    double t0 = log_time_of(r.err, "event=daemon.start", 0);
    assert_true(t0 >= 0);
    double usage =
        log_time_of(r.err, "unit_committed source=acme-openai endpoint=usage/completions", t0);
    double costs = log_time_of(r.err, "unit_committed source=acme-openai endpoint=costs", t0);
    assert_true(usage >= 0 && usage < 1.5);
    assert_true(costs >= 2.0);
    assert_non_null(strstr(r.err, "HTTP 429"));
    tu_run_free(&r);
    check_totals(f);
}

static void test_malformed_page_stores_nothing(void **state)
{
    struct fx *f = *state;
    const char *fault = "{\"path\": \"/v1/organizations/cost_report\", \"kind\": \"malformed\", "
                        "\"count\": -1}";
    assert_int_equal(sim_http(&f->sim, "/_sim/fault", fault, NULL, NULL), 200);
    struct tu_run r;
    run_once(f, &r);
    assert_int_equal(r.status, 1);
    /* the log names source, endpoint and status */
    assert_non_null(strstr(r.err, "source=acme-claude endpoint=cost_report status=200"));
    tu_run_free(&r);
    int64_t from = tu_floor(f->now - 35 * TU_DAY, TU_DAY);
    assert_true(query_sum(f, "cost_usd", "anthropic", from, f->now + TU_DAY, "1d") == 0);
    /* other endpoints and providers carried on */
    assert_true(query_sum(f, "cost_usd", "openai", from, f->now + TU_DAY, "1d") > 0);
    assert_true(query_sum(f, "input_tokens", "anthropic", from, f->now + TU_DAY, "1d") > 0);
    /* fault cleared: the next run fetches the cost report and the totals match */
    assert_int_equal(sim_http(&f->sim, "/_sim/reset", "", NULL, NULL), 200);
    run_once(f, &r);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    check_totals(f);
}

static void test_rejected_key(void **state)
{
    struct fx *f = *state;
    char *const bad_env[] = {"BW_T_OPENAI=sk-admin-WRONG-key-0000", "BW_T_ANTHROPIC=" ANTHROPIC_KEY,
                             NULL};
    char *argv[] = {"byokwatch", "run", "--config", f->cfg, "--once", "--now", NOW, NULL};
    struct tu_run r;
    assert_int_equal(tu_run_bw(&r, argv, bad_env), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "source=acme-openai"));
    assert_non_null(strstr(r.err, "status=401"));
    assert_null(strstr(r.err, "WRONG-key"));
    tu_run_free(&r);
    /* anthropic was not held back */
    int64_t from = tu_floor(f->now - 35 * TU_DAY, TU_DAY);
    assert_true(query_sum(f, "input_tokens", "anthropic", from, f->now + TU_DAY, "1d") > 0);
}

/*
 * Starts the daemon (no --once) with its log in <dir>/run.log and waits
 * until it has installed its signal handlers (it logs daemon.start then).
 */
static pid_t start_daemon(struct fx *f, char *logpath, size_t len)
{
    char *argv[] = {"byokwatch", "run", "--config", f->cfg, NULL};
    snprintf(logpath, len, "%s/run.log", f->dir);
    pid_t pid = tu_spawn_bw(argv, run_env, logpath);
    assert_true(tu_wait_for_log(logpath, "event=daemon.start", 200, 50));
    return pid;
}

static void test_sigterm_exits_clean(void **state)
{
    struct fx *f = *state;
    char logpath[4200];
    pid_t pid = start_daemon(f, logpath, sizeof logpath);
    usleep(200 * 1000);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    kill(pid, SIGHUP); /* reload of a valid config keeps it running */
    usleep(100 * 1000);
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_true(b.tv_sec - a.tv_sec <= 6);
    char *log = tu_read_file(logpath);
    assert_non_null(log);
    assert_non_null(strstr(log, "event=config.reload"));
    assert_non_null(strstr(log, "event=daemon.stopping"));
    free(log);
}

struct ev_count {
    const char *needle; /* substring of the event JSON, or NULL */
    int n;
    char last[4096];
};

static int count_cb(const struct ts_event *ev, void *ud)
{
    struct ev_count *c = ud;
    if (!c->needle || strstr(ev->json, c->needle)) {
        c->n++;
        snprintf(c->last, sizeof c->last, "%s", ev->json);
    }
    return 0;
}

/* Counts stored events of a type (prefix with '*') whose JSON contains needle. */
static int count_events(struct fx *f, const char *type, const char *needle, char *last,
                        size_t lastlen)
{
    struct ts_store *st;
    struct ts_options o = {.read_only = 1};
    char err[512];
    if (ts_open(f->data, &o, &st, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    struct ev_count c = {.needle = needle};
    int rc = ts_events_scan(st, 0, f->now + TU_DAY, type, count_cb, &c, err, sizeof err);
    ts_close(st);
    if (last)
        snprintf(last, lastlen, "%s", c.last);
    return rc == 0 ? c.n : -1;
}

static void test_events_and_restatement(void **state)
{
    struct fx *f = *state;
    struct tu_run r;
    run_once(f, &r);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    char last[4096];
    /* the demo's burst: eight failed logins for alice */
    assert_int_equal(count_events(f, "audit.login.failed", "alice@acme.example", NULL, 0), 8);
    /* bob's login from Changchun carries the geo fields as numbers */
    assert_true(count_events(f, "audit.login.succeeded", "\"country\":\"CN\"", last, sizeof last) >=
                1);
    assert_non_null(strstr(last, "\"lat\":43.88"));
    assert_non_null(strstr(last, "\"ip\":\"175.16.199.5\""));
    /* the key inventory arrived as events */
    assert_true(count_events(f, "inventory.api_key.added", NULL, NULL, 0) >= 8);
    assert_int_equal(count_events(f, "collector.restatement", NULL, NULL, 0), 0);
    int audit = count_events(f, "audit.*", NULL, NULL, 0);

    /* a closed day's bill changes: the next cycle records a restatement */
    assert_int_equal(sim_http(&f->sim, "/_sim/restate?provider=openai&day=2026-11-18&factor=1.1",
                              "", NULL, NULL),
                     200);
    run_once(f, &r);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    assert_true(
        count_events(f, "collector.restatement", "\"day\":\"2026-11-18\"", last, sizeof last) >= 1);
    assert_non_null(strstr(last, "\"account\":\"acme-openai\""));
    check_totals(f);
    /* re-polling the audit log stored no duplicate */
    assert_int_equal(count_events(f, "audit.*", NULL, NULL, 0), audit);
}

static void test_repeated_cursor_fails_endpoint(void **state)
{
    struct fx *f = *state;
    const char *fault = "{\"path\": \"/v1/organization/audit_logs\", \"kind\": \"repeat_cursor\", "
                        "\"count\": -1}";
    assert_int_equal(sim_http(&f->sim, "/_sim/fault", fault, NULL, NULL), 200);
    struct tu_run r;
    run_once(f, &r);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "endpoint=audit_logs"));
    assert_non_null(strstr(r.err, "repeat")); /* parser or daemon guard */
    tu_run_free(&r);
    /* nothing of that catch-up was stored; the usage endpoints were */
    assert_int_equal(count_events(f, "audit.*", NULL, NULL, 0), 0);
    int64_t from = tu_floor(f->now - 35 * TU_DAY, TU_DAY);
    assert_true(query_sum(f, "input_tokens", "openai", from, f->now + TU_DAY, "1d") > 0);
}

static void test_sighup_bad_config_keeps_old(void **state)
{
    struct fx *f = *state;
    char logpath[4200];
    pid_t pid = start_daemon(f, logpath, sizeof logpath);
    assert_int_equal(tu_write_file(f->cfg, "{\"data_dir\": \"x\", \"bogus\": 1}\n", 0600), 0);
    kill(pid, SIGHUP);
    assert_true(tu_wait_for_log(logpath, "event=config.reload_rejected", 100, 20));
    assert_int_equal(waitpid(pid, NULL, WNOHANG), 0); /* still running */
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    char *log = tu_read_file(logpath);
    assert_non_null(strstr(log, "byokwatch.json:1:19: bogus: unknown key"));
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_backfill_exact_totals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_mid_backfill_then_restart, setup_slow, teardown),
        cmocka_unit_test_setup_teardown(test_429_delays_only_that_endpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_page_stores_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejected_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_exits_clean, setup_slow, teardown),
        cmocka_unit_test_setup_teardown(test_events_and_restatement, setup_demo, teardown),
        cmocka_unit_test_setup_teardown(test_repeated_cursor_fails_endpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sighup_bad_config_keeps_old, setup_slow, teardown),
    };
    return cmocka_run_group_tests_name("collector", tests, NULL, NULL);
}
