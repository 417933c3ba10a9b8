/*
 * Command-line tests: the built binary ($BW_BIN) run as a user would, for
 * version, --help (only working commands listed) and query's three output
 * forms over a store filled through the storage API.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "../common/timeutil.h"
#include "../storage/ts.h"
#include "testutil.h"

struct fixture {
    char *dir;
    char cfg[4096];
};

#define T0 1763942400 /* 2025-11-24T00:00:00Z, a Monday */

static void run(struct tu_run *r, char *const argv[])
{
    assert_int_equal(tu_run_bw(r, argv, NULL), 0);
}

/* Two projects on openai and one on anthropic, 48 hourly points each. */
static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    char data[4096], err[512];
    snprintf(data, sizeof data, "%s/data", f->dir);
    snprintf(f->cfg, sizeof f->cfg, "%s/byokwatch.json", f->dir);
    char text[8192];
    snprintf(text, sizeof text, "{\n  \"data_dir\": \"%s\",\n  \"log_level\": \"warn\"\n}\n", data);
    assert_int_equal(tu_write_file(f->cfg, text, 0600), 0);

    struct ts_store *st;
    struct ts_options o = {.create = 1};
    assert_int_equal(ts_open(data, &o, &st, err, sizeof err), 0);
    struct {
        const char *provider, *project;
        double per_hour;
    } defs[] = {{"openai", "proj_a", 1.5}, {"openai", "proj_b", 2.0}, {"anthropic", "wrk_1", 4.0}};
    struct ts_batch *b = ts_batch_new();
    for (size_t i = 0; i < 3; i++) {
        struct ts_label l[] = {{"provider", defs[i].provider}, {"project", defs[i].project}};
        const struct ts_series *s;
        assert_int_equal(ts_series_get(st, "cost_usd", l, 2, &s, err, sizeof err), 0);
        for (int h = 0; h < 48; h++)
            assert_int_equal(ts_batch_add(b, s->id, T0 + h * 3600, defs[i].per_hour), 0);
    }
    assert_int_equal(ts_write(st, b, err, sizeof err), 0);
    ts_batch_free(b);
    ts_close(st);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void test_version(void **state)
{
    (void)state;
    struct tu_run r;
    char *argv[] = {"byokwatch", "version", NULL};
    run(&r, argv);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "byokwatch "));
    assert_non_null(strstr(r.out, "store schema 1"));
    tu_run_free(&r);
}

static void test_help_lists_only_working_commands(void **state)
{
    (void)state;
    struct tu_run r;
    char *argv[] = {"byokwatch", "--help", NULL};
    run(&r, argv);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "byokwatch query --config FILE --metric NAME"));
    assert_non_null(strstr(r.out, "byokwatch check-config --config FILE"));
    assert_non_null(strstr(r.out, "byokwatch version"));
    assert_non_null(strstr(r.out, "byokwatch run --config FILE [--once] [--now TIME]"));
    assert_non_null(strstr(r.out, "byokwatch alerts --config FILE [--status firing|resolved|all]"));
    assert_non_null(strstr(r.out, "byokwatch sink-test --config FILE --sink NAME"));
    assert_non_null(strstr(r.out, "byokwatch silence --config FILE add --match"));
    assert_non_null(strstr(r.out, "byokwatch report --config FILE"));
    tu_run_free(&r);

    char *argv2[] = {"byokwatch", "reprot", "--config", "x.json", NULL};
    run(&r, argv2);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "unknown command 'reprot'"));
    tu_run_free(&r);

    char *argv3[] = {"byokwatch", "query", "--help", NULL};
    run(&r, argv3);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "--group-by"));
    tu_run_free(&r);
}

static void test_query_usage_errors(void **state)
{
    struct fixture *f = *state;
    struct tu_run r;
    char *argv[] = {"byokwatch", "query", "--config", f->cfg, NULL};
    run(&r, argv);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--metric"));
    tu_run_free(&r);

    char *argv2[] = {"byokwatch", "query",  "--config",   f->cfg, "--metric",
                     "cost_usd",  "--from", "2025-13-01", NULL};
    run(&r, argv2);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "2025-13-01"));
    tu_run_free(&r);

    char *argv3[] = {"byokwatch", "query",  "--config", f->cfg, "--metric",
                     "cost_usd",  "--step", "5m",       NULL};
    run(&r, argv3);
    assert_int_equal(r.status, 2);
    tu_run_free(&r);
}

static void test_query_json_grouped(void **state)
{
    struct fixture *f = *state;
    struct tu_run r;
    char *argv[] = {"byokwatch",  "query",      "--config", f->cfg,       "--metric", "cost_usd",
                    "--from",     "2025-11-24", "--to",     "2025-11-26", "--step",   "1d",
                    "--group-by", "provider",   "--format", "json",       NULL};
    run(&r, argv);
    assert_int_equal(r.status, 0);
    json_error_t je;
    json_t *root = json_loads(r.out, 0, &je);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "metric")), "cost_usd");
    assert_string_equal(json_string_value(json_object_get(root, "step")), "1d");
    json_t *series = json_object_get(root, "series");
    assert_int_equal(json_array_size(series), 2);
    /* groups sorted by label value: anthropic first */
    json_t *s0 = json_array_get(series, 0), *s1 = json_array_get(series, 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(s0, "labels"), "provider")), "anthropic");
    json_t *p0 = json_object_get(s0, "points");
    assert_int_equal(json_array_size(p0), 2);
    assert_int_equal(json_integer_value(json_array_get(json_array_get(p0, 0), 0)), T0);
    assert_true(json_number_value(json_array_get(json_array_get(p0, 0), 1)) == 96.0);
    json_t *p1 = json_object_get(s1, "points");
    assert_true(json_number_value(json_array_get(json_array_get(p1, 1), 1)) == 84.0);
    json_decref(root);
    tu_run_free(&r);
}

static void test_query_json_ungrouped_bounds(void **state)
{
    struct fixture *f = *state;
    struct tu_run r;
    /* [T0+1h, T0+3h): two hours, all series summed: 2 * (1.5 + 2 + 4) */
    char *argv[] = {"byokwatch", "query",
                    "--config",  f->cfg,
                    "--metric",  "cost_usd",
                    "--from",    "2025-11-24T01:00:00Z",
                    "--to",      "2025-11-24T03:00:00Z",
                    "--format",  "json",
                    NULL};
    run(&r, argv);
    assert_int_equal(r.status, 0);
    json_t *root = json_loads(r.out, 0, NULL);
    assert_non_null(root);
    json_t *series = json_object_get(root, "series");
    assert_int_equal(json_array_size(series), 1);
    json_t *s = json_array_get(series, 0);
    assert_int_equal(json_object_size(json_object_get(s, "labels")), 0);
    json_t *pts = json_object_get(s, "points");
    assert_int_equal(json_array_size(pts), 2);
    assert_int_equal(json_integer_value(json_array_get(json_array_get(pts, 0), 0)), T0 + 3600);
    assert_true(json_number_value(json_array_get(json_array_get(pts, 1), 1)) == 7.5);
    json_decref(root);
    tu_run_free(&r);
}

static void test_query_provider_filter_csv_and_table(void **state)
{
    struct fixture *f = *state;
    struct tu_run r;
    char *argv[] = {"byokwatch", "query",      "--config", f->cfg,   "--metric",
                    "cost_usd",  "--provider", "openai",   "--from", "2025-11-24",
                    "--to",      "2025-11-25", "--step",   "1d",     "--group-by",
                    "project",   "--format",   "csv",      NULL};
    run(&r, argv);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "time,project,cost_usd\n"
                               "2025-11-24T00:00:00Z,proj_a,36\n"
                               "2025-11-24T00:00:00Z,proj_b,48\n");
    tu_run_free(&r);

    char *argv2[] = {"byokwatch",  "query",  "--config",   f->cfg,       "--metric", "cost_usd",
                     "--provider", "openai", "--from",     "2025-11-24", "--to",     "2025-11-25",
                     "--step",     "1d",     "--group-by", "project",    NULL};
    run(&r, argv2);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "TIME"));
    assert_non_null(strstr(r.out, "2025-11-24T00:00:00Z  proj_b   48"));
    tu_run_free(&r);
}

static void test_query_missing_store(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    char cfg[4096], text[4200];
    snprintf(cfg, sizeof cfg, "%s/c.json", dir);
    snprintf(text, sizeof text, "{\"data_dir\": \"%s/none\"}\n", dir);
    assert_int_equal(tu_write_file(cfg, text, 0600), 0);
    struct tu_run r;
    char *argv[] = {"byokwatch", "query", "--config", cfg, "--metric", "cost_usd", NULL};
    run(&r, argv);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "/none"));
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_help_lists_only_working_commands),
        cmocka_unit_test_setup_teardown(test_query_usage_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_json_grouped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_json_ungrouped_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_provider_filter_csv_and_table, setup, teardown),
        cmocka_unit_test(test_query_missing_store),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
