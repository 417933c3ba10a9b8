/*
 * End-to-end tests of alert delivery with real peers on loopback: the
 * byokwatch binary polls the provider simulator's demo month (`run --once`),
 * the rules raise their alerts, and the outbox delivers them to bw-recv
 * (signed webhook, Slack and Splunk HEC endpoints), a real Alertmanager and
 * a real rsyslog (CEF over TCP). Then: resolutions reach Alertmanager, a
 * sink outage loses nothing, a SIGKILL with a full outbox loses nothing,
 * refused deliveries go to the dead-letter list, silences hold alerts back,
 * sink-test works and metadata addresses are refused.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "peers.h"
#include "simutil.h"
#include "testutil.h"

#define NOW "2026-11-20T12:00:00Z"
#define LATER "2026-11-23T12:00:00Z"
#define OPENAI_KEY "sk-admin-TESTKEY-openai-7c1d"
#define ANTHROPIC_KEY "sk-ant-admin01-TESTKEY-anthropic-4e2b"
#define HMAC "whsec-TESTSECRET-5f1e"
#define SPLUNK "splunk-TESTTOKEN-77aa"
#define N_DEMO 10 /* alerts of the demo month (tests/test_analysis.c) */

struct fx {
    char *dir;
    char cfg[4096];
    char data[4096];
    struct sim sim;
    struct peer recv, am, sys;
    int with_am, with_sys;
};

static char *run_env[] = {"BW_T_OPENAI=" OPENAI_KEY,
                          "BW_T_ANTHROPIC=" ANTHROPIC_KEY,
                          "BW_T_HMAC=" HMAC,
                          "BW_T_SPLUNK=" SPLUNK,
                          "BW_T_SLACK=",
                          NULL};
static char slack_env[256];

static void write_config(struct fx *f, const char *webhook_extra)
{
    char sinks[4096], text[16384], providers[1024];
    assert_int_equal(sim_providers_json(&f->sim, providers, sizeof providers), 0);
    int n = snprintf(
        sinks, sizeof sinks,
        "    {\"type\": \"webhook\", \"name\": \"siem\",\n"
        "     \"url\": \"http://127.0.0.1:%d/hook\", \"hmac_secret_env\": \"BW_T_HMAC\"%s},\n"
        "    {\"type\": \"slack\", \"name\": \"slack\", \"url_env\": \"BW_T_SLACK\"},\n"
        "    {\"type\": \"splunk_hec\", \"name\": \"splunk\",\n"
        "     \"url\": \"http://127.0.0.1:%d/services/collector/event\",\n"
        "     \"token_env\": \"BW_T_SPLUNK\"}",
        f->recv.port, webhook_extra, f->recv.port);
    if (f->with_am)
        n += snprintf(sinks + n, sizeof sinks - (size_t)n,
                      ",\n    {\"type\": \"alertmanager\", \"name\": \"am\",\n"
                      "     \"url\": \"http://127.0.0.1:%d\"}",
                      f->am.port);
    if (f->with_sys)
        snprintf(sinks + n, sizeof sinks - (size_t)n,
                 ",\n    {\"type\": \"syslog\", \"name\": \"siem-syslog\",\n"
                 "     \"address\": \"127.0.0.1:%d\", \"protocol\": \"tcp\"}",
                 f->sys.port);
    snprintf(text, sizeof text,
             "{\n"
             "  \"data_dir\": \"%s\",\n"
             "  \"prices\": \"conf/prices.json\",\n"
             "%s"
             "  \"rules\": [\n"
             "    {\"type\": \"spend_spike\", \"name\": \"key-spend-spike\", \"window\": \"1d\",\n"
             "     \"baseline\": \"14d\", \"min_spend_usd\": 5, \"group_by\": [\"provider\", "
             "\"api_key_id\"],\n"
             "     \"severity\": \"critical\"},\n"
             "    {\"type\": \"unexpected_model\", \"name\": \"model-allowlist\", \"allow\": {\n"
             "      \"openai\": [\"gpt-4o*\", \"text-embedding-3-*\"], \"anthropic\": "
             "[\"claude-*\"]}},\n"
             "    {\"type\": \"auth_failures\", \"name\": \"failed-logins\", \"window\": \"6h\"},\n"
             "    {\"type\": \"geo_anomaly\", \"name\": \"geo\",\n"
             "     \"allowed_countries\": [\"US\", \"GB\", \"SE\"], \"severity\": \"critical\"},\n"
             "    {\"type\": \"key_age\", \"name\": \"rotation-90d\", \"max_age\": \"90d\"}\n"
             "  ],\n"
             "  \"sinks\": [\n%s\n  ]\n"
             "}\n",
             f->data, providers, sinks);
    assert_int_equal(tu_write_file(f->cfg, text, 0600), 0);
}

static int setup_with(void **state, int am, int sys)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    snprintf(f->cfg, sizeof f->cfg, "%s/byokwatch.json", f->dir);
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    assert_int_equal(sim_start_month(&f->sim, NOW, "40", "demo", OPENAI_KEY, ANTHROPIC_KEY), 0);
    if (recv_start(&f->recv, HMAC) != 0)
        fail_msg("bw-recv: %s", f->recv.err);
    snprintf(slack_env, sizeof slack_env, "BW_T_SLACK=http://127.0.0.1:%d/slack", f->recv.port);
    run_env[4] = slack_env;
    if (am) {
        char d[4200];
        snprintf(d, sizeof d, "%s/am", f->dir);
        mkdir(d, 0700);
        if (am_start(&f->am, d) != 0)
            fail_msg("alertmanager: %s", f->am.err);
        f->with_am = 1;
    }
    if (sys) {
        char d[4200];
        snprintf(d, sizeof d, "%s/syslog", f->dir);
        mkdir(d, 0700);
        if (syslog_start(&f->sys, d) != 0)
            fail_msg("rsyslog: %s", f->sys.err);
        f->with_sys = 1;
    }
    write_config(f, "");
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, 0, 0);
}

static int setup_peers(void **state)
{
    return setup_with(state, 1, 1);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    assert_int_equal(sim_stop(&f->sim), 0);
    recv_stop(&f->recv);
    if (f->with_am)
        am_stop(&f->am);
    if (f->with_sys)
        syslog_stop(&f->sys);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static int run_bw(struct fx *f, char *const argv[], char **err_out)
{
    struct tu_run r;
    assert_int_equal(tu_run_bw(&r, argv, run_env), 0);
    int st = r.status;
    if (err_out)
        *err_out = r.err;
    else
        free(r.err);
    free(r.out);
    (void)f;
    return st;
}

static int run_once(struct fx *f, const char *now)
{
    char *argv[] = {"byokwatch", "run", "--config", f->cfg, "--once", "--now", (char *)now, NULL};
    return run_bw(f, argv, NULL);
}

/* Requests bw-recv accepted on path (prefix), and the ids they carried. */
static size_t accepted_on(struct fx *f, const char *path, json_t **bodies)
{
    json_t *all = recv_requests(&f->recv, 0);
    json_t *reqs = json_is_array(all) ? all : json_object_get(all, "requests");
    size_t n = 0;
    if (bodies)
        *bodies = json_array();
    for (size_t i = 0; i < json_array_size(reqs); i++) {
        json_t *q = json_array_get(reqs, i);
        const char *p = json_string_value(json_object_get(q, "path"));
        long status = (long)json_integer_value(json_object_get(q, "status"));
        if (!p || strncmp(p, path, strlen(path)) != 0 || status < 200 || status > 299)
            continue;
        n++;
        if (bodies)
            json_array_append(*bodies, q);
    }
    json_decref(all);
    return n;
}

/*
 * The webhook's accepted deliveries: checks each carried a valid signature
 * and counts distinct alert ids; *dups gets how many ids arrived twice.
 */
static size_t hook_ids(struct fx *f, size_t *dups)
{
    json_t *reqs;
    accepted_on(f, "/hook", &reqs);
    json_t *seen = json_object();
    *dups = 0;
    for (size_t i = 0; i < json_array_size(reqs); i++) {
        json_t *q = json_array_get(reqs, i);
        assert_string_equal(json_string_value(json_object_get(q, "signature")), "ok");
        json_t *a = json_loads(json_string_value(json_object_get(q, "body")), 0, NULL);
        const char *id = json_string_value(json_object_get(a, "id"));
        assert_non_null(id);
        if (json_object_get(seen, id))
            (*dups)++;
        json_object_set_new(seen, id, json_true());
        json_decref(a);
    }
    size_t n = json_object_size(seen);
    json_decref(seen);
    json_decref(reqs);
    return n;
}

static void test_five_sinks_deliver_the_demo_alerts(void **state)
{
    struct fx *f = *state;
    assert_int_equal(run_once(f, NOW), 0);

    /* webhook: every alert once, each signed */
    size_t dups;
    assert_int_equal(hook_ids(f, &dups), N_DEMO);
    assert_int_equal(dups, 0);
    assert_int_equal(accepted_on(f, "/hook", NULL), N_DEMO);

    /* slack: one cycle gave more than digest_over (5) alerts: one digest */
    json_t *slack;
    assert_int_equal(accepted_on(f, "/slack", &slack), 1);
    const char *body = json_string_value(json_object_get(json_array_get(slack, 0), "body"));
    assert_non_null(body);
    assert_non_null(strstr(body, "10 byokwatch alerts"));
    json_decref(slack);

    /* splunk: the token header and ten events */
    json_t *spl;
    size_t n_spl = accepted_on(f, "/services/collector/event", &spl);
    assert_true(n_spl >= 1);
    size_t events = 0;
    for (size_t i = 0; i < json_array_size(spl); i++) {
        json_t *q = json_array_get(spl, i);
        const char *auth =
            json_string_value(json_object_get(json_object_get(q, "headers"), "authorization"));
        assert_non_null(auth);
        assert_string_equal(auth, "Splunk " SPLUNK);
        for (const char *b = json_string_value(json_object_get(q, "body"));
             b && (b = strstr(b, "\"sourcetype\"")); b++)
            events++;
    }
    assert_int_equal(events, N_DEMO);
    json_decref(spl);

    /* alertmanager: the ten alerts are active, named after their rules */
    json_t *am = am_alerts(&f->am);
    assert_int_equal(json_array_size(am), N_DEMO);
    size_t geo = 0;
    for (size_t i = 0; i < json_array_size(am); i++) {
        json_t *labels = json_object_get(json_array_get(am, i), "labels");
        const char *name = json_string_value(json_object_get(labels, "alertname"));
        assert_non_null(name);
        assert_non_null(json_object_get(labels, "severity"));
        geo += strcmp(name, "geo") == 0;
    }
    assert_int_equal(geo, 3);
    json_decref(am);

    /* syslog: ten CEF lines over TCP */
    char *lines = syslog_wait_lines(&f->sys, N_DEMO, 5000);
    if (!lines)
        fail_msg("rsyslog: %s", f->sys.err);
    size_t cef = 0;
    for (const char *p = lines; (p = strstr(p, "CEF:0|byokwatch|byokwatch|")); p++)
        cef++;
    assert_int_equal(cef, N_DEMO);
    assert_non_null(strstr(lines, "|auth_failures|"));
    free(lines);

    /* nothing left queued; a second run sends nothing new to the webhook */
    char *err = NULL;
    char *again[] = {"byokwatch", "run", "--config", f->cfg, "--once", "--now", NOW, NULL};
    if (run_bw(f, again, &err) != 0)
        fail_msg("second run: %s", err);
    free(err);
    assert_int_equal(accepted_on(f, "/hook", NULL), N_DEMO);
}

static void test_resolutions_reach_alertmanager(void **state)
{
    struct fx *f = *state;
    assert_int_equal(run_once(f, NOW), 0);
    assert_int_equal(sim_http(&f->sim, "/_sim/now?t=" LATER, "", NULL, NULL), 200);
    assert_int_equal(run_once(f, LATER), 0);
    json_t *am = am_alerts(&f->am);
    size_t active = 0, resolved = 0;
    for (size_t i = 0; i < json_array_size(am); i++) {
        json_t *a = json_array_get(am, i);
        const char *state_s =
            json_string_value(json_object_get(json_object_get(a, "status"), "state"));
        const char *name =
            json_string_value(json_object_get(json_object_get(a, "labels"), "alertname"));
        if (state_s && strcmp(state_s, "active") == 0) {
            active++;
            assert_string_equal(name, "rotation-90d"); /* the old keys are still old */
        } else {
            resolved++;
        }
    }
    assert_int_equal(active, 2);
    json_decref(am);
    /* the webhook got the resolutions too: 10 firing, 8 resolved, and the two
     * old keys again because their 24h re-alert interval passed */
    json_t *hooks;
    assert_int_equal(accepted_on(f, "/hook", &hooks), N_DEMO + 8 + 2);
    json_decref(hooks);
    (void)resolved;
}

static void test_outage_loses_nothing(void **state)
{
    struct fx *f = *state;
    /* three cycles meet the outage (each of the three sinks tries once per
     * cycle): each exits 1 with deliveries pending */
    assert_int_equal(recv_mode(&f->recv, "status=503&count=9"), 0);
    for (int i = 0; i < 3; i++) {
        char *err = NULL;
        char *argv[] = {"byokwatch", "run", "--config", f->cfg, "--once", "--now", NOW, NULL};
        assert_int_equal(run_bw(f, argv, &err), 1);
        assert_non_null(strstr(err, "still pending"));
        free(err);
    }
    assert_int_equal(run_once(f, NOW), 0); /* the sinks are back: everything goes */
    size_t dups;
    assert_int_equal(hook_ids(f, &dups), N_DEMO);
    assert_int_equal(dups, 0);
    assert_int_equal(accepted_on(f, "/hook", NULL), N_DEMO);
    assert_int_equal(accepted_on(f, "/slack", NULL), 1);
}

static void test_sigkill_with_a_full_outbox(void **state)
{
    struct fx *f = *state;
    assert_int_equal(recv_mode(&f->recv, "status=503&count=0"), 0);
    char logpath[4200];
    snprintf(logpath, sizeof logpath, "%s/run.log", f->dir);
    char *argv[] = {"byokwatch", "run", "--config", f->cfg, "--now", NOW, NULL};
    pid_t pid = tu_spawn_bw(argv, run_env, logpath);
    assert_true(pid > 0);
    int seen = tu_wait_for_log(logpath, "event=sink.retry", 600, 50);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    assert_true(seen);
    assert_int_equal(accepted_on(f, "/hook", NULL), 0);
    assert_int_equal(recv_mode(&f->recv, "status=200&count=0"), 0);
    assert_int_equal(run_once(f, NOW), 0);
    size_t dups;
    assert_int_equal(hook_ids(f, &dups), N_DEMO);
    assert_int_equal(dups, 0);
}

/* A reload while a delivery is in flight: the old worker's transfer is dropped, nothing lost. */
static void test_reload_during_a_delivery(void **state)
{
    struct fx *f = *state;
    assert_int_equal(recv_mode(&f->recv, "status=200&count=0&delay_ms=700"), 0);
    char logpath[4200];
    snprintf(logpath, sizeof logpath, "%s/run.log", f->dir);
    char *argv[] = {"byokwatch", "run", "--config", f->cfg, "--now", NOW, NULL};
    pid_t pid = tu_spawn_bw(argv, run_env, logpath);
    assert_true(pid > 0);
    int seen = tu_wait_for_log(logpath, "event=analysis.done", 600, 50);
    assert_true(seen);
    usleep(300 * 1000); /* the first webhook delivery is waiting on the receiver */
    kill(pid, SIGHUP);
    seen = tu_wait_for_log(logpath, "event=config.reloaded", 100, 50);
    assert_true(seen);
    usleep(500 * 1000);
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    /* whatever was cut off is still queued: the next run sends the rest */
    assert_int_equal(recv_mode(&f->recv, "status=200&count=0&delay_ms=0"), 0);
    assert_int_equal(run_once(f, NOW), 0);
    size_t dups;
    assert_int_equal(hook_ids(f, &dups), N_DEMO); /* at least once: a repeat is allowed */
}

static void test_refused_goes_to_dead_letters(void **state)
{
    struct fx *f = *state;
    assert_int_equal(recv_mode(&f->recv, "status=400&count=0"), 0);
    char *err = NULL;
    char *argv[] = {"byokwatch", "run", "--config", f->cfg, "--once", "--now", NOW, NULL};
    assert_int_equal(run_bw(f, argv, &err), 1);
    assert_non_null(strstr(err, "dead-letter"));
    assert_null(strstr(err, "still pending")); /* refused is not retried */
    free(err);
    assert_int_equal(recv_mode(&f->recv, "status=200&count=0"), 0);
    assert_int_equal(run_once(f, NOW), 0); /* nothing left to send */
    assert_int_equal(accepted_on(f, "/hook", NULL), 0);
}

static void test_silence_holds_alerts_back(void **state)
{
    struct fx *f = *state;
    char *out = NULL;
    struct tu_run r;
    char *add[] = {
        "byokwatch", "silence", "--config",  f->cfg,   "add",   "--match", "actor=bob@acme.example",
        "--for",     "4h",      "--comment", "travel", "--now", NOW,       NULL};
    assert_int_equal(tu_run_bw(&r, add, run_env), 0);
    assert_int_equal(r.status, 0);
    out = r.out;
    assert_int_equal(strlen(out), 17); /* 16 hex digits and a newline */
    free(r.err);
    assert_int_equal(run_once(f, NOW), 0);
    /* bob's three geo alerts were recorded but not delivered */
    assert_int_equal(accepted_on(f, "/hook", NULL), N_DEMO - 3);
    char *list[] = {"byokwatch", "silence", "--config", f->cfg, "list", "--now", NOW, NULL};
    assert_int_equal(tu_run_bw(&r, list, run_env), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "actor=bob@acme.example"));
    assert_non_null(strstr(r.out, "active"));
    tu_run_free(&r);
    out[16] = '\0';
    char *exp[] = {"byokwatch", "silence", "--config", f->cfg, "expire", out, NULL};
    assert_int_equal(tu_run_bw(&r, exp, run_env), 0);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    char *bad[] = {"byokwatch", "silence", "--config", f->cfg,      "add", "--match",
                   "novalue",   "--for",   "1h",       "--comment", "x",   NULL};
    assert_int_equal(tu_run_bw(&r, bad, run_env), 0);
    assert_int_equal(r.status, 2);
    tu_run_free(&r);
    free(out);
}

static void test_sink_test_and_metadata_refusal(void **state)
{
    struct fx *f = *state;
    struct tu_run r;
    char *ok[] = {"byokwatch", "sink-test", "--config", f->cfg, "--sink", "siem", NULL};
    assert_int_equal(tu_run_bw(&r, ok, run_env), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "delivered"));
    tu_run_free(&r);
    size_t dups;
    assert_int_equal(hook_ids(f, &dups), 1);

    /* a sink pointed at the cloud metadata address is refused at connect time */
    char text[8192];
    snprintf(text, sizeof text,
             "{\"data_dir\": \"%s\", \"sinks\": [{\"type\": \"webhook\", \"name\": \"meta\",\n"
             " \"url\": \"https://169.254.169.254/latest/meta-data/\", \"timeout\": \"3s\"}]}\n",
             f->data);
    char path[4200];
    snprintf(path, sizeof path, "%s/meta.json", f->dir);
    assert_int_equal(tu_write_file(path, text, 0600), 0);
    char *meta[] = {"byokwatch", "sink-test", "--config", path, "--sink", "meta", NULL};
    assert_int_equal(tu_run_bw(&r, meta, run_env), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "meta"));
    tu_run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_five_sinks_deliver_the_demo_alerts, setup_peers,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resolutions_reach_alertmanager, setup_peers, teardown),
        cmocka_unit_test_setup_teardown(test_outage_loses_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigkill_with_a_full_outbox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_during_a_delivery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_goes_to_dead_letters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silence_holds_alerts_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sink_test_and_metadata_refusal, setup, teardown),
    };
    return cmocka_run_group_tests_name("delivery", tests, NULL, NULL);
}
