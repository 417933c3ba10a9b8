/*
 * Tests for the strict config loader (collector/config.c) and its position
 * scanner (collector/jsonpos.c): one test per error class, each asserting the
 * exact "file:line:col: key.path:" prefix from cfg_load and the same location
 * plus exit status 2 from `byokwatch check-config`; defaults, the shipped
 * example, secret sources, and that no secret value ever reaches the output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../collector/config.h"
#include "../collector/jsonpos.h"
#include "testutil.h"

#define EXAMPLE "conf/byokwatch.example.json"
#define ADMIN_ENV "BW_TEST_ADMIN_KEY"
#define PROV_A "{\"type\": \"openai\", \"name\": \"a\", \"admin_key_env\": \"" ADMIN_ENV "\"}"

struct fx {
    char *dir;
    char path[4096];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->dir = tu_mkdtemp();
    if (!f->dir) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/conf.json", f->dir);
    setenv(ADMIN_ENV, "sk-test-admin-key-0001", 1);
    unsetenv("BW_TEST_UNSET_VAR");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void run_check(struct tu_run *r, const char *path)
{
    char *argv[] = {"byokwatch", "check-config", "--config", (char *)path, NULL};
    assert_int_equal(tu_run_bw(r, argv, NULL), 0);
}

/*
 * Writes text as the config, expects cfg_load to fail with exactly
 * "<path>:<line>:<col>: <keypath>: " followed by text containing reason,
 * then expects check-config to exit 2 naming the same place and key path.
 */
static void expect_error(struct fx *f, const char *text, int line, int col, const char *keypath,
                         const char *reason)
{
    struct config *cfg = NULL;
    char err[1024], prefix[4400], loc[4200];
    struct tu_run r;

    assert_int_equal(tu_write_file(f->path, text, 0600), 0);
    assert_int_equal(cfg_load(f->path, &cfg, err, sizeof err), -1);
    assert_null(cfg);
    snprintf(prefix, sizeof prefix, "%s:%d:%d: %s: ", f->path, line, col, keypath);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("error\n  got:  %s\n  want: %s...", err, prefix);
    if (reason && !strstr(err + strlen(prefix), reason))
        fail_msg("error %s\n  lacks: %s", err, reason);

    run_check(&r, f->path);
    snprintf(loc, sizeof loc, "%s:%d:%d", f->path, line, col);
    if (r.status != 2 || !r.err || !strstr(r.err, loc) || !strstr(r.err, keypath))
        fail_msg("check-config: status %d, stderr: %s (want 2, %s, %s)", r.status,
                 r.err ? r.err : "(null)", loc, keypath);
    tu_run_free(&r);
}

/* ---- one test per error class ---- */

static void test_json_syntax(void **state)
{
    expect_error(*state,
                 "{\n"
                 "  \"data_dir\": \"./data\"\n"
                 "  \"listen\": \"127.0.0.1:1\"\n"
                 "}\n",
                 3, 10, "JSON syntax", "expected near '\"listen\"'");
}

static void test_duplicate_key(void **state)
{
    expect_error(*state,
                 "{\n"
                 "  \"data_dir\": \"a\",\n"
                 "  \"data_dir\": \"b\"\n"
                 "}\n",
                 3, 3, "data_dir", "duplicate key (first at line 2)");
}

static void test_unknown_top_key(void **state)
{
    expect_error(*state,
                 "{\n"
                 "  \"log_level\": \"info\",\n"
                 "  \"dat_dir\": \"./data\"\n"
                 "}\n",
                 3, 3, "dat_dir", "unknown key (known: data_dir, listen, log_level");
}

static void test_unknown_nested_key(void **state)
{
    expect_error(
        *state,
        "{\n"
        "  \"providers\": [\n"
        "    {\"type\": \"openai\", \"name\": \"a\", \"admin_key_env\": \"" ADMIN_ENV "\",\n"
        "    \"pol_interval\": \"5m\"}\n"
        "  ]\n"
        "}\n",
        4, 5, "providers[0].pol_interval", "unknown key (known: type, name, poll_interval");
    /* the suggestion */
    expect_error(*state,
                 "{\n"
                 "  \"providers\": [\n"
                 "    {\"type\": \"openai\", \"name\": \"a\", \"admin_key_env\": \"" ADMIN_ENV
                 "\",\n"
                 "    \"pol_interval\": \"5m\"}\n"
                 "  ]\n"
                 "}\n",
                 4, 5, "providers[0].pol_interval", "did you mean \"poll_interval\"?");
}

static void test_wrong_type(void **state)
{
    expect_error(*state,
                 "{\n"
                 "  \"data_dir\": 5\n"
                 "}\n",
                 2, 15, "data_dir", "expected a string, got number");
    expect_error(*state,
                 "{\n"
                 "  \"rules\": [{\"type\": \"auth_failures\",\n"
                 "             \"threshold\": \"five\", \"include_collector\": \"yes\"}]\n"
                 "}\n",
                 3, 27, "rules[0].threshold", "expected an integer, got string");
    expect_error(*state,
                 "{\n"
                 "  \"rules\": [{\"type\": \"auth_failures\", \"include_collector\": \"yes\"}]\n"
                 "}\n",
                 2, 60, "rules[0].include_collector", "expected true or false, got string");
}

static void test_bad_duration(void **state)
{
    expect_error(
        *state,
        "{\n"
        "  \"providers\": [\n"
        "    " PROV_A ",\n"
        "    {\"type\": \"openai\", \"name\": \"b\", \"admin_key_env\": \"" ADMIN_ENV "\",\n"
        "     \"poll_interval\": \"5x\"}\n"
        "  ]\n"
        "}\n",
        5, 23, "providers[1].poll_interval", "bad duration \"5x\" (use e.g. 30s, 5m, 1h, 7d)");
}

static void test_unknown_provider_type(void **state)
{
    expect_error(*state,
                 "{\n"
                 "  \"providers\": [\n"
                 "    {\"type\": \"azure\", \"name\": \"a\"}\n"
                 "  ]\n"
                 "}\n",
                 3, 14, "providers[0].type",
                 "unknown provider type \"azure\" (known: openai, anthropic, google, mistral, "
                 "groq, gateway)");
}

static void test_unknown_rule_type(void **state)
{
    expect_error(*state,
                 "{\n"
                 "  \"rules\": [\n"
                 "    {\"type\": \"key_age\"},\n"
                 "    {\"type\": \"spend_spiky\"}\n"
                 "  ]\n"
                 "}\n",
                 4, 14, "rules[1].type", "unknown rule type \"spend_spiky\" (known: spend_spike, ");
}

static void test_unknown_sink_type(void **state)
{
    expect_error(
        *state,
        "{\n"
        "  \"sinks\": [\n"
        "    {\"type\": \"pagerduty\", \"name\": \"pd\"}\n"
        "  ]\n"
        "}\n",
        3, 14, "sinks[0].type",
        "unknown sink type \"pagerduty\" (known: slack, webhook, splunk_hec, alertmanager, "
        "syslog)");
}

static void test_duplicate_provider_name(void **state)
{
    expect_error(
        *state,
        "{\n"
        "  \"providers\": [\n"
        "    {\"type\": \"openai\", \"name\": \"acme\", \"admin_key_env\": \"" ADMIN_ENV "\"},\n"
        "    {\"type\": \"anthropic\", \"name\": \"acme\", \"admin_key_env\": \"" ADMIN_ENV "\"}\n"
        "  ]\n"
        "}\n",
        4, 35, "providers[1].name", "duplicate provider name \"acme\" (first at line 3)");
}

static void test_spend_spike_cross_checks(void **state)
{
    expect_error(*state,
                 "{\"rules\": [\n"
                 "  {\"type\": \"spend_spike\", \"window\": \"1d\", \"baseline\": \"1d\"}\n"
                 "]}\n",
                 2, 55, "rules[0].baseline", "baseline must be longer than window");
    expect_error(*state,
                 "{\"rules\": [\n"
                 "  {\"type\": \"spend_spike\", \"window\": \"1h\", \"baseline\": \"3d\",\n"
                 "   \"same_hour_of_week\": true}\n"
                 "]}\n",
                 2, 55, "rules[0].baseline", "needs a baseline of at least 7d");
    expect_error(*state,
                 "{\"rules\": [\n"
                 "  {\"type\": \"spend_spike\", \"window\": \"1h\", \"baseline\": \"10d\",\n"
                 "   \"same_hour_of_week\": true, \"learning\": \"8d\"}\n"
                 "]}\n",
                 3, 43, "rules[0].learning", "must not exceed the whole weeks");
}

static void test_duplicate_rule_name(void **state)
{
    expect_error(*state,
                 "{\n"
                 "  \"rules\": [\n"
                 "    {\"type\": \"key_age\", \"name\": \"r\"},\n"
                 "    {\"type\": \"cost_drift\", \"name\": \"r\"}\n"
                 "  ]\n"
                 "}\n",
                 4, 36, "rules[1].name", "duplicate rule name \"r\" (first at line 3)");
    /* names default to the type; the error then points at the second rule */
    expect_error(*state,
                 "{\n"
                 "  \"rules\": [\n"
                 "    {\"type\": \"key_age\"},\n"
                 "    {\"type\": \"key_age\", \"max_age\": \"30d\"}\n"
                 "  ]\n"
                 "}\n",
                 4, 5, "rules[1].name", "duplicate rule name \"key_age\" (first at line 3)");
}

static void test_unset_env(void **state)
{
    expect_error(*state,
                 "{\n"
                 "  \"providers\": [\n"
                 "    {\"type\": \"openai\", \"name\": \"a\",\n"
                 "     \"admin_key_env\": \"BW_TEST_UNSET_VAR\"}\n"
                 "  ]\n"
                 "}\n",
                 4, 23, "providers[0].admin_key_env",
                 "environment variable BW_TEST_UNSET_VAR is not set");
    setenv("BW_TEST_UNSET_VAR", "", 1);
    expect_error(*state,
                 "{\n"
                 "  \"sinks\": [{\"type\": \"slack\", \"name\": \"s\",\n"
                 "             \"url_env\": \"BW_TEST_UNSET_VAR\"}]\n"
                 "}\n",
                 3, 25, "sinks[0].url_env", "environment variable BW_TEST_UNSET_VAR is empty");
    unsetenv("BW_TEST_UNSET_VAR");
}

static void test_secret_file_mode(void **state)
{
    struct fx *f = *state;
    char key[4200], text[8800];
    snprintf(key, sizeof key, "%s/anthropic.key", f->dir);
    assert_int_equal(tu_write_file(key, "sk-ant-admin-FILESECRET-77\n", 0644), 0);
    snprintf(text, sizeof text,
             "{\n"
             "  \"providers\": [\n"
             "    {\"type\": \"anthropic\", \"name\": \"a\",\n"
             "     \"admin_key_file\": \"%s\"}\n"
             "  ]\n"
             "}\n",
             key);
    expect_error(f, text, 4, 24, "providers[0].admin_key_file", "is mode 0644");
    expect_error(f, text, 4, 24, "providers[0].admin_key_file", "chmod 600");

    /* the same file made private loads */
    struct config *cfg = NULL;
    char err[1024];
    assert_int_equal(chmod(key, 0600), 0);
    assert_int_equal(cfg_load(f->path, &cfg, err, sizeof err), 0);
    assert_string_equal(cfg->providers[0].admin_key.file, key);
    assert_null(cfg->providers[0].admin_key.env);
    cfg_free(cfg);

    /* a missing file and a directory are errors too */
    snprintf(text, sizeof text,
             "{\"providers\": [{\"type\": \"google\", \"name\": \"g\", \"project_id\": \"p\",\n"
             "                \"credentials_file\": \"%s/nope.json\"}]}\n",
             f->dir);
    expect_error(f, text, 2, 37, "providers[0].credentials_file", "No such file or directory");
    snprintf(text, sizeof text,
             "{\"providers\": [{\"type\": \"google\", \"name\": \"g\", \"project_id\": \"p\",\n"
             "                \"credentials_file\": \"%s\"}]}\n",
             f->dir);
    expect_error(f, text, 2, 37, "providers[0].credentials_file", "is not a regular file");
}

static void test_both_env_and_file(void **state)
{
    struct fx *f = *state;
    char key[4200], text[8800];
    snprintf(key, sizeof key, "%s/openai.key", f->dir);
    assert_int_equal(tu_write_file(key, "sk-admin-abcdefghijkl\n", 0600), 0);
    snprintf(text, sizeof text,
             "{\n"
             "  \"providers\": [\n"
             "    {\"type\": \"openai\", \"name\": \"a\",\n"
             "     \"admin_key_env\": \"" ADMIN_ENV "\",\n"
             "     \"admin_key_file\": \"%s\"}\n"
             "  ]\n"
             "}\n",
             key);
    expect_error(f, text, 5, 6, "providers[0].admin_key_file",
                 "give only one of admin_key_env or admin_key_file");
}

static void test_missing_secret(void **state)
{
    expect_error(*state,
                 "{\n"
                 "  \"providers\": [\n"
                 "    {\"type\": \"openai\", \"name\": \"a\"}\n"
                 "  ]\n"
                 "}\n",
                 3, 5, "providers[0].admin_key_env",
                 "missing required key (give admin_key_env or admin_key_file)");
}

static void test_http_non_loopback(void **state)
{
    struct fx *f = *state;
    expect_error(f,
                 "{\n"
                 "  \"providers\": [\n"
                 "    {\"type\": \"openai\", \"name\": \"a\", \"admin_key_env\": \"" ADMIN_ENV
                 "\",\n"
                 "     \"base_url\": \"http://api.example.com/v1\"}\n"
                 "  ]\n"
                 "}\n",
                 4, 18, "providers[0].base_url",
                 "plain http:// is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost)");
    /* 127.0.0.0/8 but not 128.x, nor a name that merely starts with 127 */
    expect_error(
        f,
        "{\"providers\": [{\"type\": \"groq\", \"name\": \"a\", \"admin_key_env\": \"" ADMIN_ENV
        "\",\n \"base_url\": \"http://127.0.0.1.example.com/v1\"}]}\n",
        2, 14, "providers[0].base_url", "loopback");
    expect_error(
        f,
        "{\"providers\": [{\"type\": \"groq\", \"name\": \"a\", \"admin_key_env\": \"" ADMIN_ENV
        "\",\n \"base_url\": \"https://user:pw@api.groq.com\"}]}\n",
        2, 14, "providers[0].base_url", "must not carry credentials");
    expect_error(
        f,
        "{\"providers\": [{\"type\": \"groq\", \"name\": \"a\", \"admin_key_env\": \"" ADMIN_ENV
        "\",\n \"base_url\": \"ftp://api.groq.com\"}]}\n",
        2, 14, "providers[0].base_url", "bad URL");

    static const char *const loopback[] = {"http://127.0.0.1:8080/v1", "http://127.9.8.7",
                                           "http://[::1]:9000", "http://localhost:1234/v1",
                                           "https://api.example.com/v1"};
    for (size_t i = 0; i < sizeof loopback / sizeof loopback[0]; i++) {
        char text[1024], err[1024];
        struct config *cfg = NULL;
        snprintf(
            text, sizeof text,
            "{\"providers\": [{\"type\": \"openai\", \"name\": \"a\", \"admin_key_env\": \"%s\", "
            "\"base_url\": \"%s\"}]}",
            ADMIN_ENV, loopback[i]);
        assert_int_equal(tu_write_file(f->path, text, 0600), 0);
        if (cfg_load(f->path, &cfg, err, sizeof err) != 0)
            fail_msg("%s rejected: %s", loopback[i], err);
        assert_string_equal(cfg->providers[0].base_url, loopback[i]);
        cfg_free(cfg);
    }
}

static void test_sink_unknown_rule(void **state)
{
    expect_error(*state,
                 "{\n"
                 "  \"rules\": [{\"type\": \"key_age\"}],\n"
                 "  \"sinks\": [\n"
                 "    {\"type\": \"syslog\", \"name\": \"s\", \"address\": \"127.0.0.1:514\",\n"
                 "     \"rules\": [\"key_age\", \"nope\"]}\n"
                 "  ]\n"
                 "}\n",
                 5, 27, "sinks[0].rules[1]", "no rule named \"nope\" is configured");
}

static void test_report_sink_unknown(void **state)
{
    expect_error(
        *state,
        "{\n"
        "  \"sinks\": [{\"type\": \"syslog\", \"name\": \"s\", \"address\": \"127.0.0.1:514\"}],\n"
        "  \"report\": {\"schedule\": \"mon 09:00\",\n"
        "             \"sinks\": [\"s\", \"missing\"]}\n"
        "}\n",
        4, 29, "report.sinks[1]", "no sink named \"missing\" is configured");
}

static void test_bad_schedule(void **state)
{
    expect_error(*state,
                 "{\n"
                 "  \"report\": {\"schedule\": \"monday 9am\"}\n"
                 "}\n",
                 2, 26, "report.schedule", "bad schedule \"monday 9am\"");
    expect_error(*state, "{\"report\": {\"schedule\": \"sun 24:00\"}}", 1, 25, "report.schedule",
                 "bad schedule");
}

static void test_bad_log_level(void **state)
{
    expect_error(*state,
                 "{\n"
                 "  \"log_level\": \"verbose\"\n"
                 "}\n",
                 2, 16, "log_level", "unknown value \"verbose\" (known: debug, info, warn, error)");
}

static void test_missing_name(void **state)
{
    expect_error(*state,
                 "{\n"
                 "  \"providers\": [\n"
                 "    {\"type\": \"openai\", \"admin_key_env\": \"" ADMIN_ENV "\"}\n"
                 "  ]\n"
                 "}\n",
                 3, 5, "providers[0].name", "missing required key");
}

static void test_slack_plain_url(void **state)
{
    struct fx *f = *state;
    struct config *cfg = NULL;
    char err[1024];
    expect_error(f,
                 "{\n"
                 "  \"sinks\": [\n"
                 "    {\"type\": \"slack\", \"name\": \"s\",\n"
                 "     \"url\": \"https://hooks.slack.com/services/T/B/SLACKSECRET\"}\n"
                 "  ]\n"
                 "}\n",
                 4, 13, "sinks[0].url", "a Slack webhook URL is a secret");
    assert_int_equal(cfg_load(f->path, &cfg, err, sizeof err), -1);
    assert_null(strstr(err, "SLACKSECRET"));
    assert_non_null(strstr(err, "url_env"));
}

static void test_business_unit_overlap(void **state)
{
    expect_error(*state,
                 "{\n"
                 "  \"business_units\": {\n"
                 "    \"Marketing\": {\"projects\": [\"proj_a\"]},\n"
                 "    \"Sales\": {\"projects\": [\"proj_b\", \"proj_a\"]}\n"
                 "  }\n"
                 "}\n",
                 4, 38, "business_units.Sales.projects[1]",
                 "project \"proj_a\" is already in business unit \"Marketing\"");
}

static void test_pasted_secret_not_echoed(void **state)
{
    struct fx *f = *state;
    struct config *cfg = NULL;
    char err[1024];
    struct tu_run r;
    expect_error(f,
                 "{\n"
                 "  \"providers\": [\n"
                 "    {\"type\": \"openai\", \"name\": \"a\",\n"
                 "     \"admin_key_env\": \"sk-proj-PASTEDSECRET-abcdef123456\"}\n"
                 "  ]\n"
                 "}\n",
                 4, 23, "providers[0].admin_key_env", "not a valid environment variable name");
    assert_int_equal(cfg_load(f->path, &cfg, err, sizeof err), -1);
    assert_null(strstr(err, "PASTEDSECRET"));
    run_check(&r, f->path);
    assert_null(strstr(r.err, "PASTEDSECRET"));
    assert_null(strstr(r.out, "PASTEDSECRET"));
    tu_run_free(&r);
}

static void test_misc_values(void **state)
{
    struct fx *f = *state;
    expect_error(f, "{\"listen\": \"localhost\"}", 1, 12, "listen", "missing :port");
    expect_error(f, "{\"listen\": \"127.0.0.1:70000\"}", 1, 12, "listen", "port must be 1-65535");
    expect_error(
        f, "{\"rules\": [{\"type\": \"geo_anomaly\", \"allowed_countries\": [\"US\", \"de\"]}]}", 1,
        64, "rules[0].allowed_countries[1]", "bad country code \"de\"");
    expect_error(f, "{\"rules\": [{\"type\": \"spend_spike\", \"threshold\": 0}]}", 1, 49,
                 "rules[0].threshold", "must be greater than 0");
    expect_error(f, "{\"rules\": [{\"type\": \"spend_spike\", \"severity\": \"high\"}]}", 1, 48,
                 "rules[0].severity", "unknown value \"high\"");
    expect_error(f, "{\"rules\": [{\"type\": \"key_age\", \"providers\": [\"azure\"]}]}", 1, 46,
                 "rules[0].providers[0]", "unknown provider \"azure\"");
    expect_error(f, "{\"rules\": [{\"type\": \"spend_threshold\"}]}", 1, 12,
                 "rules[0].threshold_usd", "missing required key");
    expect_error(f, "{\"report\": {\"formats\": [\"md\", \"pdf\"]}}", 1, 31, "report.formats[1]",
                 "unknown value \"pdf\"");
    expect_error(f, "{\"report\": {\"formats\": [\"md\", \"md\"]}}", 1, 31, "report.formats[1]",
                 "duplicate entry");
    expect_error(f, "[1, 2]", 1, 1, "(top level)", "expected an object, got array");
}

static void test_missing_file(void **state)
{
    struct fx *f = *state;
    struct config *cfg = NULL;
    char err[1024], path[4200];
    struct tu_run r;
    snprintf(path, sizeof path, "%s/absent.json", f->dir);
    assert_int_equal(cfg_load(path, &cfg, err, sizeof err), -1);
    assert_null(cfg);
    assert_non_null(strstr(err, path));
    run_check(&r, path);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "absent.json"));
    tu_run_free(&r);
}

/* ---- valid configurations ---- */

static void test_defaults(void **state)
{
    struct fx *f = *state;
    struct config *cfg = NULL;
    char err[1024];
    struct tu_run r;
    assert_int_equal(
        tu_write_file(f->path,
                      "{\n"
                      "  \"providers\": [" PROV_A ",\n"
                      "    {\"type\": \"gateway\", \"name\": \"proxy\", \"token_env\": \"" ADMIN_ENV
                      "\"}],\n"
                      "  \"rules\": [{\"type\": \"spend_spike\"}, {\"type\": \"key_age\", "
                      "\"name\": \"rot\"}],\n"
                      "  \"sinks\": [{\"type\": \"webhook\", \"name\": \"hook\", \"url\": "
                      "\"https://h.example.com/x\"}]\n"
                      "}\n",
                      0600),
        0);
    if (cfg_load(f->path, &cfg, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_string_equal(cfg->path, f->path);
    assert_string_equal(cfg->data_dir, "./data");
    assert_string_equal(cfg->listen, "127.0.0.1:9464");
    assert_int_equal(cfg->log_level, LOG_INFO);
    assert_string_equal(cfg->prices, "conf/prices.json");
    assert_int_equal(cfg->retention, 400 * 86400);
    assert_null(cfg->timezone);

    assert_int_equal(cfg->n_providers, 2);
    const struct cfg_provider *p = &cfg->providers[0];
    assert_string_equal(p->type, "openai");
    assert_string_equal(p->name, "a");
    assert_string_equal(p->base_url, "https://api.openai.com/v1");
    assert_string_equal(p->admin_key.env, ADMIN_ENV);
    assert_null(p->admin_key.file);
    assert_int_equal(p->poll_interval, 300);
    assert_int_equal(p->backfill, 35 * 86400);
    assert_int_equal(p->timeout, 60);
    assert_int_equal(p->tls_min_13, 0);
    assert_int_equal(p->enabled, 1);
    assert_int_equal(json_integer_value(json_object_get(p->params, "max_pages_per_cycle")), 100);
    p = &cfg->providers[1];
    assert_string_equal(p->type, "gateway");
    assert_null(p->base_url);
    assert_null(p->admin_key.env);
    assert_null(p->admin_key.file);

    assert_int_equal(cfg->n_rules, 2);
    const struct cfg_rule *ru = &cfg->rules[0];
    assert_string_equal(ru->name, "spend_spike");
    assert_string_equal(ru->severity, "warning");
    assert_string_equal(json_string_value(json_object_get(ru->params, "window")), "1d");
    assert_string_equal(json_string_value(json_object_get(ru->params, "baseline")), "14d");
    assert_string_equal(json_string_value(json_object_get(ru->params, "realert")), "24h");
    assert_true(json_number_value(json_object_get(ru->params, "threshold")) == 1.5);
    json_t *gb = json_object_get(ru->params, "group_by");
    assert_int_equal(json_array_size(gb), 1);
    assert_string_equal(json_string_value(json_array_get(gb, 0)), "provider");
    assert_true(json_is_false(json_object_get(ru->params, "same_hour_of_week")));
    assert_string_equal(cfg->rules[1].name, "rot");
    assert_string_equal(json_string_value(json_object_get(cfg->rules[1].params, "max_age")), "90d");
    assert_null(json_object_get(cfg->rules[1].params, "max_idle"));

    assert_int_equal(cfg->n_sinks, 1);
    assert_string_equal(cfg->sinks[0].min_severity, "info");
    assert_string_equal(json_string_value(json_object_get(cfg->sinks[0].params, "timeout")), "10s");
    assert_string_equal(json_string_value(json_object_get(cfg->sinks[0].params, "max_age")), "72h");

    assert_int_equal(cfg->n_units, 0);
    assert_null(cfg->report.schedule);
    assert_string_equal(cfg->report.out_dir, "./reports");
    assert_int_equal(cfg->report.n_formats, 4);
    assert_string_equal(cfg->report.formats[0], "md");
    assert_string_equal(cfg->report.formats[3], "json");
    assert_int_equal(cfg->report.n_sinks, 0);
    cfg_free(cfg);

    run_check(&r, f->path);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "https://api.openai.com/v1"));
    assert_non_null(strstr(r.out, "spend_spike"));
    tu_run_free(&r);
}

static void set_example_env(void)
{
    setenv("OPENAI_ADMIN_KEY", "sk-admin-example-openai-0001", 1);
    setenv("ANTHROPIC_ADMIN_KEY", "sk-ant-admin-example-0002", 1);
    setenv("MISTRAL_API_KEY", "mistral-example-key-0003", 1);
    setenv("GROQ_API_KEY", "gsk_example_key_000000004", 1);
    setenv("BYOKWATCH_INGEST_TOKEN", "ingest-token-example-0005", 1);
    setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T000/B000/example0006", 1);
    setenv("SIEM_HMAC_SECRET", "siem-hmac-example-0007", 1);
    setenv("SPLUNK_HEC_TOKEN", "splunk-token-example-0008", 1);
}

static int has_type(const char *const *types, size_t n, const char *t)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(types[i], t) == 0)
            return 1;
    return 0;
}

static void test_example_config(void **state)
{
    (void)state;
    struct config *cfg = NULL;
    char err[1024];
    struct tu_run r;
    const char *types[16];
    json_error_t je;

    set_example_env();
    if (cfg_load(EXAMPLE, &cfg, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(cfg->n_providers, 5);
    assert_int_equal(cfg->n_rules, 11);
    assert_int_equal(cfg->n_sinks, 5);
    assert_int_equal(cfg->n_units, 2);
    assert_string_equal(cfg->report.schedule, "mon 09:00");

    /* every rule and sink type appears */
    static const char *const rule_types[] = {
        "spend_spike", "spend_threshold", "budget_forecast", "unexpected_model",
        "new_entity",  "geo_anomaly",     "auth_failures",   "rate_limited",
        "key_age",     "cost_drift",      "collector_health"};
    for (size_t i = 0; i < cfg->n_rules; i++)
        types[i] = cfg->rules[i].type;
    for (size_t i = 0; i < 11; i++)
        if (!has_type(types, cfg->n_rules, rule_types[i]))
            fail_msg("example lacks rule type %s", rule_types[i]);
    static const char *const sink_types[] = {"slack", "webhook", "splunk_hec", "alertmanager",
                                             "syslog"};
    for (size_t i = 0; i < cfg->n_sinks; i++)
        types[i] = cfg->sinks[i].type;
    for (size_t i = 0; i < 5; i++)
        if (!has_type(types, cfg->n_sinks, sink_types[i]))
            fail_msg("example lacks sink type %s", sink_types[i]);

    /* it documents every default: loading filled nothing in */
    json_t *raw = json_load_file(EXAMPLE, 0, &je);
    assert_non_null(raw);
    if (!json_equal(raw, cfg->root)) {
        char *a = json_dumps(raw, JSON_SORT_KEYS | JSON_COMPACT);
        char *b = json_dumps(cfg->root, JSON_SORT_KEYS | JSON_COMPACT);
        fail_msg("the example omits a default:\n file:   %s\n loaded: %s", a, b);
    }
    json_decref(raw);
    cfg_free(cfg);

    run_check(&r, EXAMPLE);
    if (r.status != 0)
        fail_msg("check-config on the example: %d %s", r.status, r.err);
    assert_non_null(strstr(r.out, "acme-openai"));
    assert_null(strstr(r.out, "example0006"));
    tu_run_free(&r);
}

static void test_secrets_never_printed(void **state)
{
    struct fx *f = *state;
    char key[4200], text[8800];
    struct tu_run r;
    setenv("OPENAI_ADMIN_KEY", "sk-admin-SECRETVALUE-9f3a", 1);
    setenv("BW_TEST_SLACK_URL", "https://hooks.slack.com/services/T000/B000/SLACKSECRET", 1);
    setenv("BW_TEST_HMAC", "hmac-HMACSECRET-value", 1);
    snprintf(key, sizeof key, "%s/anthropic.key", f->dir);
    assert_int_equal(tu_write_file(key, "sk-ant-admin-FILESECRET-5678\n", 0600), 0);
    snprintf(text, sizeof text,
             "{\"log_level\": \"debug\",\n"
             " \"providers\": [\n"
             "  {\"type\": \"openai\", \"name\": \"o\", \"admin_key_env\": \"OPENAI_ADMIN_KEY\"},\n"
             "  {\"type\": \"anthropic\", \"name\": \"a\", \"admin_key_file\": \"%s\"}],\n"
             " \"sinks\": [\n"
             "  {\"type\": \"slack\", \"name\": \"s\", \"url_env\": \"BW_TEST_SLACK_URL\"},\n"
             "  {\"type\": \"webhook\", \"name\": \"w\",\n"
             "   \"url\": \"https://user.example.com/hook?token=QUERYSECRET\",\n"
             "   \"hmac_secret_env\": \"BW_TEST_HMAC\"}]}\n",
             key);
    assert_int_equal(tu_write_file(f->path, text, 0600), 0);
    run_check(&r, f->path);
    if (r.status != 0)
        fail_msg("check-config: %d %s", r.status, r.err);
    static const char *const secrets[] = {"SECRETVALUE", "FILESECRET",  "SLACKSECRET",
                                          "HMACSECRET",  "QUERYSECRET", "hooks.slack.com"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (strstr(r.out, secrets[i]) || strstr(r.err, secrets[i]))
            fail_msg("check-config printed %s:\n%s%s", secrets[i], r.out, r.err);
    assert_non_null(strstr(r.out, "env OPENAI_ADMIN_KEY (...9f3a)"));
    assert_non_null(strstr(r.out, "file "));
    assert_non_null(strstr(r.out, "env BW_TEST_SLACK_URL"));
    assert_non_null(strstr(r.out, "https://user.example.com"));
    tu_run_free(&r);

    /* a secret URL that is not a URL is reported without its value */
    struct config *cfg = NULL;
    char err[1024];
    setenv("BW_TEST_SLACK_URL", "not-a-url-SLACKSECRET", 1);
    assert_int_equal(cfg_load(f->path, &cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "sinks[0].url_env: "));
    assert_null(strstr(err, "SLACKSECRET"));
}

static void test_secret_get(void **state)
{
    struct fx *f = *state;
    char path[4200], err[512], *val = NULL;
    struct cfg_secret s = {0};

    setenv("BW_TEST_SECRET", "value-from-env-1234", 1);
    s.env = "BW_TEST_SECRET";
    assert_int_equal(cfg_secret_get(&s, &val, err, sizeof err), 0);
    assert_string_equal(val, "value-from-env-1234");
    free(val);
    val = NULL;

    s.env = "BW_TEST_UNSET_VAR";
    assert_int_equal(cfg_secret_get(&s, &val, err, sizeof err), -1);
    assert_null(val);
    assert_non_null(strstr(err, "BW_TEST_UNSET_VAR is not set"));

    s.env = NULL;
    snprintf(path, sizeof path, "%s/secret", f->dir);
    s.file = path;
    assert_int_equal(tu_write_file(path, "file-secret-value\n", 0600), 0);
    assert_int_equal(cfg_secret_get(&s, &val, err, sizeof err), 0);
    assert_string_equal(val, "file-secret-value");
    free(val);
    val = NULL;

    assert_int_equal(tu_write_file(path, "crlf-secret\r\n", 0400), 0);
    assert_int_equal(cfg_secret_get(&s, &val, err, sizeof err), 0);
    assert_string_equal(val, "crlf-secret");
    free(val);
    val = NULL;

    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(cfg_secret_get(&s, &val, err, sizeof err), -1);
    assert_null(val);
    assert_non_null(strstr(err, "0640"));
    assert_null(strstr(err, "crlf-secret"));

    assert_int_equal(tu_write_file(path, "\n", 0600), 0);
    assert_int_equal(cfg_secret_get(&s, &val, err, sizeof err), -1);
    assert_non_null(strstr(err, "empty"));

    s.file = NULL;
    assert_int_equal(cfg_secret_get(&s, &val, err, sizeof err), -1);
}

/* ---- jsonpos ---- */

static void assert_pos(const struct jpos *p, const char *path, int kl, int kc, int vl, int vc)
{
    const struct jpos_entry *e = jpos_find(p, path);
    if (!e)
        fail_msg("no entry for %s", path);
    if (e->key_line != kl || e->key_col != kc || e->val_line != vl || e->val_col != vc)
        fail_msg("%s: key %d:%d value %d:%d, want %d:%d %d:%d", path, e->key_line, e->key_col,
                 e->val_line, e->val_col, kl, kc, vl, vc);
}

static void test_jsonpos_positions(void **state)
{
    (void)state;
    static const char text[] = "{\"a\": {\"b\": [1, {\"c\": true}]},\n"
                               " \"\xc3\xa9\": \"x\", \"d.e\": 1, \"q\\\"\\u0041\": null}";
    struct jpos *p = NULL;
    assert_int_equal(jpos_scan(text, strlen(text), &p), 0);
    assert_pos(p, "", 0, 0, 1, 1);
    assert_pos(p, "a", 1, 2, 1, 7);
    assert_pos(p, "a.b", 1, 8, 1, 13);
    assert_pos(p, "a.b[0]", 0, 0, 1, 14);
    assert_pos(p, "a.b[1]", 0, 0, 1, 17);
    assert_pos(p, "a.b[1].c", 1, 18, 1, 23);
    assert_pos(p, "\xc3\xa9", 2, 2, 2, 7);       /* é counts as one column */
    assert_pos(p, "[\"d.e\"]", 2, 12, 2, 19);    /* keys with dots are quoted */
    assert_pos(p, "[\"q\\\"A\"]", 2, 22, 2, 35); /* escapes decoded, then re-escaped */
    assert_null(jpos_find(p, "a.c"));
    assert_null(jpos_first_duplicate(p, NULL));
    jpos_free(p);
}

static void test_jsonpos_paths(void **state)
{
    (void)state;
    char buf[64];
    assert_int_equal(jpos_path_key(buf, sizeof buf, "", "providers"), 0);
    assert_string_equal(buf, "providers");
    assert_int_equal(jpos_path_index(buf, sizeof buf, "providers", 3), 0);
    assert_string_equal(buf, "providers[3]");
    assert_int_equal(jpos_path_key(buf, sizeof buf, "providers[3]", "name"), 0);
    assert_string_equal(buf, "providers[3].name");
    assert_int_equal(jpos_path_key(buf, sizeof buf, "u", "a.b"), 0);
    assert_string_equal(buf, "u[\"a.b\"]");
    assert_int_equal(jpos_path_key(buf, sizeof buf, "u", ""), 0);
    assert_string_equal(buf, "u[\"\"]");
    assert_int_equal(jpos_path_key(buf, 8, "providers", "x"), -1);

    assert_int_equal(jpos_parent_len("providers[3].name"), 12);
    assert_int_equal(jpos_parent_len("providers[3]"), 9);
    assert_int_equal(jpos_parent_len("providers"), 0);
    assert_int_equal(jpos_parent_len(""), 0);
    assert_int_equal(jpos_parent_len("u[\"x]y.z\"].w"), 10);
    assert_int_equal(jpos_parent_len("u[\"x]y.z\"]"), 1);
}

static void test_jsonpos_duplicates(void **state)
{
    (void)state;
    static const char text[] = "{\"a\":1,\"b\":{\"c\":1,\"c\":{\"x\":2}},\"a\":3}";
    struct jpos *p = NULL;
    const struct jpos_entry *first = NULL, *dup;
    assert_int_equal(jpos_scan(text, strlen(text), &p), 0);
    dup = jpos_first_duplicate(p, &first);
    assert_non_null(dup);
    assert_string_equal(dup->path, "b.c");
    assert_int_equal(dup->key_col, 19);
    assert_int_equal(first->key_col, 13);
    jpos_free(p);
}

static void test_jsonpos_hostile(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",     "{",          "{\"a\": }",   "{\"a\" 1}",       "[1,]",      "{\"a\":\"x",
        "{} x", "{\"a\":1,}", "\"\\uD800\"", "{\"\\u0000\":1}", "[\"\\q\"]", "{1:2}"};
    struct jpos *p = NULL;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = NULL;
        if (jpos_scan(bad[i], strlen(bad[i]), &p) == 0)
            fail_msg("accepted %s", bad[i]);
        assert_null(p);
    }
    /* truncation by length, not by NUL */
    assert_int_equal(jpos_scan("{\"a\": 1}", 5, &p), -1);

    /* nesting deeper than the scanner allows fails cleanly */
    size_t n = 5000;
    char *deep = malloc(2 * n + 1);
    assert_non_null(deep);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = '\0';
    assert_int_equal(jpos_scan(deep, 2 * n, &p), -1);
    assert_int_equal(jpos_scan(deep + n - 100, 200, &p), 0); /* 100 levels are fine */
    assert_non_null(jpos_find(p, "[0][0][0]"));
    jpos_free(p);
    free(deep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_syntax, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_top_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_nested_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_duration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_provider_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_rule_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_sink_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_provider_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spend_spike_cross_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_rule_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unset_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_file_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_both_env_and_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_non_loopback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sink_unknown_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_sink_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_schedule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_log_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slack_plain_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_business_unit_overlap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pasted_secret_not_echoed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_misc_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_example_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_never_printed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_get, setup, teardown),
        cmocka_unit_test(test_jsonpos_positions),
        cmocka_unit_test(test_jsonpos_paths),
        cmocka_unit_test(test_jsonpos_duplicates),
        cmocka_unit_test(test_jsonpos_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
