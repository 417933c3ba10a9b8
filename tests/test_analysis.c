/*
 * End-to-end tests of the analyzers and the alert lifecycle: the real
 * byokwatch binary polls the provider simulator on loopback (`run --once`),
 * every rule type runs on what was stored, and `byokwatch alerts` shows the
 * result. The demo month with its planted anomalies must give exactly the
 * expected alerts; a steady month none; a second run at the same time
 * re-sends nothing; moving the clock past the anomalies resolves them.
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

#include "simutil.h"
#include "testutil.h"

#define NOW "2026-11-20T12:00:00Z"
#define LATER "2026-11-23T12:00:00Z"
#define OPENAI_KEY "sk-admin-TESTKEY-openai-7c1d"
#define ANTHROPIC_KEY "sk-ant-admin01-TESTKEY-anthropic-4e2b"

struct fx {
    char *dir;
    char cfg[4096];
    char data[4096];
    struct sim sim;
};

static char *const run_env[] = {"BW_T_OPENAI=" OPENAI_KEY, "BW_T_ANTHROPIC=" ANTHROPIC_KEY, NULL};

static const char RULES[] =
    "  \"rules\": [\n"
    "    {\"type\": \"spend_spike\", \"name\": \"key-spend-spike\", \"window\": \"1d\",\n"
    "     \"baseline\": \"14d\", \"threshold\": 1.5, \"min_spend_usd\": 5,\n"
    "     \"group_by\": [\"provider\", \"api_key_id\"], \"severity\": \"critical\"},\n"
    "    {\"type\": \"spend_threshold\", \"name\": \"provider-over-1000-a-day\",\n"
    "     \"window\": \"1d\", \"threshold_usd\": 1000},\n"
    "    {\"type\": \"budget_forecast\", \"name\": \"monthly-budgets\", \"budgets\": [\n"
    "      {\"scope\": {\"provider\": \"openai\"}, \"monthly_usd\": 3000},\n"
    "      {\"scope\": {\"provider\": \"anthropic\"}, \"monthly_usd\": 6000}]},\n"
    "    {\"type\": \"unexpected_model\", \"name\": \"model-allowlist\", \"allow\": {\n"
    "      \"openai\": [\"gpt-4o*\", \"text-embedding-3-*\"], \"anthropic\": [\"claude-*\"]}},\n"
    "    {\"type\": \"new_entity\", \"name\": \"new-keys-and-users\"},\n"
    "    {\"type\": \"auth_failures\", \"name\": \"failed-logins\", \"window\": \"6h\",\n"
    "     \"threshold\": 5},\n"
    "    {\"type\": \"geo_anomaly\", \"name\": \"geo\",\n"
    "     \"allowed_countries\": [\"US\", \"GB\", \"SE\"]},\n"
    "    {\"type\": \"rate_limited\", \"name\": \"rate-limited\"},\n"
    "    {\"type\": \"key_age\", \"name\": \"rotation-90d\", \"max_age\": \"90d\"},\n"
    "    {\"type\": \"cost_drift\", \"name\": \"billed-vs-estimated\", \"max_drift_pct\": 15},\n"
    "    {\"type\": \"collector_health\", \"name\": \"collector-health\"}\n"
    "  ]\n";

static void write_config(struct fx *f)
{
    char text[16384], providers[1024];
    assert_int_equal(sim_providers_json(&f->sim, providers, sizeof providers), 0);
    snprintf(text, sizeof text,
             "{\n"
             "  \"data_dir\": \"%s\",\n"
             "  \"prices\": \"conf/prices.json\",\n"
             "%s%s"
             "}\n",
             f->data, providers, RULES);
    assert_int_equal(tu_write_file(f->cfg, text, 0600), 0);
}

static int setup_scenario(void **state, const char *scenario)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    snprintf(f->cfg, sizeof f->cfg, "%s/byokwatch.json", f->dir);
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    assert_int_equal(sim_start_month(&f->sim, NOW, "40", scenario, OPENAI_KEY, ANTHROPIC_KEY), 0);
    write_config(f);
    *state = f;
    return 0;
}

static int setup_demo(void **state)
{
    return setup_scenario(state, "demo");
}

static int setup_steady(void **state)
{
    return setup_scenario(state, "steady");
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

static void run_once(struct fx *f, const char *now)
{
    struct tu_run r;
    char *argv[] = {"byokwatch", "run", "--config", f->cfg, "--once", "--now", (char *)now, NULL};
    assert_int_equal(tu_run_bw(&r, argv, run_env), 0);
    if (r.status != 0)
        fail_msg("run --once --now %s exited %d: %s", now, r.status, r.err);
    assert_non_null(strstr(r.err, "event=analysis.done"));
    free(r.out);
    free(r.err);
}

/* `alerts --status all --format json`, parsed. */
static json_t *alerts(struct fx *f)
{
    struct tu_run r;
    char *argv[] = {"byokwatch", "alerts",   "--config", f->cfg, "--status",
                    "all",       "--format", "json",     NULL};
    assert_int_equal(tu_run_bw(&r, argv, run_env), 0);
    if (r.status != 0)
        fail_msg("alerts exited %d: %s", r.status, r.err);
    json_error_t je;
    json_t *doc = json_loads(r.out, 0, &je);
    if (!doc)
        fail_msg("alerts printed no JSON: %s", je.text);
    json_t *list = json_incref(json_object_get(doc, "alerts"));
    json_decref(doc);
    free(r.out);
    free(r.err);
    return list;
}

/*
 * "rule_name label=value label=value" of one alert, with the labels that
 * identify it (everything but provider and account, which every alert has).
 */
static void describe(const json_t *a, char *buf, size_t len)
{
    size_t o = 0;
    int n = snprintf(buf, len, "%s %s", json_string_value(json_object_get(a, "rule_name")),
                     json_string_value(json_object_get(a, "status")));
    o = n > 0 ? (size_t)n : 0;
    const char *k;
    json_t *v;
    void *tmp;
    json_t *labels = json_object_get(a, "labels");
    const char *keys[16];
    size_t nk = 0;
    json_object_foreach_safe(labels, tmp, k, v)
    {
        if (strcmp(k, "account") != 0 && nk < 16)
            keys[nk++] = k;
    }
    for (size_t i = 0; i < nk; i++) /* sort for a stable description */
        for (size_t j = i + 1; j < nk; j++)
            if (strcmp(keys[j], keys[i]) < 0) {
                const char *t = keys[i];
                keys[i] = keys[j];
                keys[j] = t;
            }
    for (size_t i = 0; i < nk && o < len; i++) {
        n = snprintf(buf + o, len - o, " %s=%s", keys[i],
                     json_string_value(json_object_get(labels, keys[i])));
        if (n > 0)
            o += (size_t)n;
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Checks the alerts equal want (NULL-terminated descriptions, any order). */
static void expect_alerts(const json_t *list, const char *const *want)
{
    size_t n = json_array_size(list), nw = 0;
    while (want[nw])
        nw++;
    char **got = calloc(n + 1, sizeof *got);
    char all[16384] = "";
    for (size_t i = 0; i < n; i++) {
        got[i] = malloc(512);
        describe(json_array_get(list, i), got[i], 512);
    }
    qsort(got, n, sizeof *got, cmp_str);
    for (size_t i = 0; i < n; i++) {
        strncat(all, "\n  ", sizeof all - strlen(all) - 1);
        strncat(all, got[i], sizeof all - strlen(all) - 1);
    }
    int ok = n == nw;
    for (size_t i = 0; ok && i < nw; i++) {
        int found = 0;
        for (size_t k = 0; k < n && !found; k++)
            found = strcmp(got[k], want[i]) == 0;
        if (!found)
            ok = 0;
    }
    for (size_t i = 0; i < n; i++)
        free(got[i]);
    free(got);
    if (!ok)
        fail_msg("got %zu alerts, want %zu; got:%s", n, nw, all);
}

static long total_notifications(const json_t *list)
{
    long n = 0;
    for (size_t i = 0; i < json_array_size(list); i++)
        n += (long)json_integer_value(json_object_get(json_array_get(list, i), "notifications"));
    return n;
}

static const json_t *find_alert(const json_t *list, const char *rule_name, const char *label,
                                const char *value)
{
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *a = json_array_get(list, i);
        const char *v = json_string_value(json_object_get(json_object_get(a, "labels"), label));
        if (strcmp(json_string_value(json_object_get(a, "rule_name")), rule_name) == 0 && v &&
            strcmp(v, value) == 0)
            return a;
    }
    return NULL;
}

/*
 * The simulator's planted anomalies (tests/sim): key_eng_ci at 4x for the
 * last 24 h; o1-pro used by key_mkt_bot in proj_mkt for the last 48 h (a
 * model off the allowlist that also makes that key's spend jump); eight
 * failed logins for alice from six addresses 3 h ago; bob in the US, then
 * in CN 50 minutes later, 2 h ago; keys created 200 and 150 days ago. The
 * archived 120-day-old key and everything else stay quiet.
 */
static const char *const DEMO_FIRING[] = {
    "failed-logins firing actor=alice@acme.example pattern=credential_stuffing provider=openai",
    "failed-logins firing actor=alice@acme.example pattern=failed_logins provider=openai",
    "geo firing actor=bob@acme.example anomaly=disallowed_country country=CN provider=openai",
    "geo firing actor=bob@acme.example anomaly=impossible_travel country=CN provider=openai",
    "geo firing actor=bob@acme.example anomaly=new_country country=CN provider=openai",
    "key-spend-spike firing api_key_id=key_eng_ci provider=openai",
    "key-spend-spike firing api_key_id=key_mkt_bot provider=openai",
    "model-allowlist firing model=o1-pro provider=openai",
    "rotation-90d firing api_key_id=apikey_01Legacy key_kind=api_key project=default "
    "provider=anthropic reason=age",
    "rotation-90d firing api_key_id=key_eng_legacy key_kind=api_key project=proj_eng "
    "provider=openai reason=age",
    NULL,
};

static void test_demo_month_gives_the_planted_alerts(void **state)
{
    struct fx *f = *state;
    run_once(f, NOW);
    json_t *list = alerts(f);
    expect_alerts(list, DEMO_FIRING);
    /* every alert was notified once */
    assert_int_equal(total_notifications(list), (long)json_array_size(list));

    /* the spike names its root cause */
    const json_t *spike = find_alert(list, "key-spend-spike", "api_key_id", "key_eng_ci");
    assert_non_null(spike);
    const json_t *obs = json_object_get(spike, "observed");
    assert_true(json_real_value(json_object_get(obs, "ratio")) >= 1.5);
    const char *sum = json_string_value(json_object_get(spike, "summary"));
    assert_non_null(strstr(sum, "$"));
    /* key_mkt_bot's jump is o1-pro: the first root cause says so */
    const json_t *bot = find_alert(list, "key-spend-spike", "api_key_id", "key_mkt_bot");
    assert_non_null(bot);
    const json_t *cause = json_array_get(json_object_get(bot, "root_causes"), 0);
    assert_string_equal(json_string_value(json_object_get(cause, "label")), "model");
    assert_string_equal(json_string_value(json_object_get(cause, "value")), "o1-pro");
    assert_true(json_real_value(json_object_get(cause, "share")) > 0.9);
    json_decref(list);

    /* a second run over the same data at the same time re-sends nothing */
    run_once(f, NOW);
    list = alerts(f);
    expect_alerts(list, DEMO_FIRING);
    assert_int_equal(total_notifications(list), (long)json_array_size(list));
    json_decref(list);
}

static void test_anomalies_end_and_resolve(void **state)
{
    struct fx *f = *state;
    run_once(f, NOW);
    json_t *before = alerts(f);
    size_t n_before = json_array_size(before);
    assert_true(n_before > 0);

    assert_int_equal(sim_http(&f->sim, "/_sim/now?t=" LATER, "", NULL, NULL), 200);
    run_once(f, LATER);
    json_t *after = alerts(f);
    size_t resolved = 0;
    for (size_t i = 0; i < json_array_size(after); i++) {
        const json_t *a = json_array_get(after, i);
        const char *rule = json_string_value(json_object_get(a, "rule"));
        const char *status = json_string_value(json_object_get(a, "status"));
        if (strcmp(rule, "key_age") == 0) { /* the keys are still old */
            assert_string_equal(status, "firing");
            continue;
        }
        if (strcmp(status, "resolved") == 0) {
            resolved++;
            assert_non_null(json_object_get(a, "ends_at"));
            /* fired once, resolved once */
            assert_int_equal(json_integer_value(json_object_get(a, "notifications")), 2);
        }
    }
    assert_non_null(find_alert(after, "key-spend-spike", "api_key_id", "key_eng_ci"));
    assert_string_equal(
        json_string_value(json_object_get(
            find_alert(after, "key-spend-spike", "api_key_id", "key_eng_ci"), "status")),
        "resolved");
    assert_string_equal(json_string_value(json_object_get(
                            find_alert(after, "geo", "actor", "bob@acme.example"), "status")),
                        "resolved");
    assert_true(resolved >= 4);
    json_decref(before);
    json_decref(after);
}

/*
 * The long-running service analyzes after its cycles too, and a restart
 * repeats nothing. It warms its rules' windows at start-up (on an empty
 * store in the first round), so the month its first cycle writes reaches
 * the rules through the change feed alone and must give the same alerts
 * as a cold read.
 */
static void test_daemon_analyzes_after_cycles(void **state)
{
    struct fx *f = *state;
    char logpath[4200];
    snprintf(logpath, sizeof logpath, "%s/run.log", f->dir);
    char *argv[] = {"byokwatch", "run", "--config", f->cfg, "--now", NOW, NULL};
    for (int round = 0; round < 2; round++) {
        pid_t pid = tu_spawn_bw(argv, run_env, logpath);
        assert_true(pid > 0);
        int found = tu_wait_for_log(logpath, "event=analysis.done", 600, 50);
        kill(pid, SIGTERM);
        int st;
        waitpid(pid, &st, 0);
        assert_true(found);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        /* the service warmed its rules' windows before its first cycle; the first round's
         * cycle then reached them only through the store's change feed */
        assert_true(tu_wait_for_log(logpath, "event=analysis.warm", 1, 0));
        json_t *list = alerts(f);
        expect_alerts(list, DEMO_FIRING);
        assert_int_equal(total_notifications(list), (long)json_array_size(list));
        json_decref(list);
    }
}

static void test_steady_month_is_quiet(void **state)
{
    struct fx *f = *state;
    run_once(f, NOW);
    json_t *list = alerts(f);
    static const char *const none[] = {NULL};
    expect_alerts(list, none);
    json_decref(list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_demo_month_gives_the_planted_alerts, setup_demo,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_anomalies_end_and_resolve, setup_demo, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_analyzes_after_cycles, setup_demo, teardown),
        cmocka_unit_test_setup_teardown(test_steady_month_is_quiet, setup_steady, teardown),
    };
    return cmocka_run_group_tests_name("analysis", tests, NULL, NULL);
}
