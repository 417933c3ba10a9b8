/*
 * Tests for the weekly report's schedule (report/schedule.h): the due-time
 * arithmetic, then the daemon end to end (`run --once --now`, against the
 * provider simulator and a webhook receiver): across a week boundary the
 * report appears only once its time has come, in every form, its summary
 * reaches the report sinks once, and a restart never writes or announces
 * the same week twice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include "../common/timeutil.h"
#include "../report/schedule.h"
#include "peers.h"
#include "simutil.h"
#include "testutil.h"

static int64_t T(const char *s)
{
    int64_t t = 0;
    assert_int_equal(tu_parse_time(s, &t), 0);
    return t;
}

static void test_parse(void **state)
{
    (void)state;
    int wd, m;
    assert_int_equal(rep_schedule_parse("mon 09:00", &wd, &m), 0);
    assert_int_equal(wd, 1);
    assert_int_equal(m, 540);
    assert_int_equal(rep_schedule_parse("SUN 23:59", &wd, &m), 0);
    assert_int_equal(wd, 7);
    assert_int_equal(m, 1439);
    assert_int_equal(rep_schedule_parse("mon 24:00", &wd, &m), -1);
    assert_int_equal(rep_schedule_parse("mun 09:00", &wd, &m), -1);
    assert_int_equal(rep_schedule_parse("mon 9:00", &wd, &m), -1);
    assert_int_equal(rep_schedule_parse(NULL, &wd, &m), -1);
}

static void test_due(void **state)
{
    (void)state;
    static const struct {
        const char *sched, *now, *week, *from;
    } rows[] = {
        /* W47 = 2026-11-16 .. 11-22; due Monday 11-23 09:00 */
        {"mon 09:00", "2026-11-23T08:59:59Z", "2026-W46", "2026-11-09T00:00:00Z"},
        {"mon 09:00", "2026-11-23T09:00:00Z", "2026-W47", "2026-11-16T00:00:00Z"},
        {"mon 09:00", "2026-11-27T18:00:00Z", "2026-W47", "2026-11-16T00:00:00Z"},
        {"fri 17:30", "2026-11-27T17:29:00Z", "2026-W46", "2026-11-09T00:00:00Z"},
        {"fri 17:30", "2026-11-27T17:30:00Z", "2026-W47", "2026-11-16T00:00:00Z"},
        {"mon 00:00", "2026-11-23T00:00:00Z", "2026-W47", "2026-11-16T00:00:00Z"},
        /* across a year: 2026-W53 (2026 has 53 ISO weeks) */
        {"mon 09:00", "2027-01-04T10:00:00Z", "2026-W53", "2026-12-28T00:00:00Z"},
        /* a Sunday schedule: W53's report is due on the Sunday after it */
        {"sun 12:00", "2027-01-10T11:00:00Z", "2026-W52", "2026-12-21T00:00:00Z"},
        {"sun 12:00", "2027-01-10T12:00:00Z", "2026-W53", "2026-12-28T00:00:00Z"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int64_t from, to;
        char week[16];
        assert_int_equal(
            rep_schedule_due(rows[i].sched, T(rows[i].now), &from, &to, week, sizeof week), 1);
        if (strcmp(week, rows[i].week) != 0 || from != T(rows[i].from) || to != from + 7 * TU_DAY)
            fail_msg("row %zu (%s at %s): got %s from %lld", i, rows[i].sched, rows[i].now, week,
                     (long long)from);
    }
    int64_t a, b;
    char w[16];
    assert_int_equal(rep_schedule_due("bad", 0, &a, &b, w, sizeof w), -1);
}

/* ---- the daemon ---- */

#define OPENAI_KEY "sk-admin-TESTKEY-openai-7c1d"
#define ANTHROPIC_KEY "sk-ant-admin01-TESTKEY-anthropic-4e2b"

static char *const run_env[] = {"BW_T_OPENAI=" OPENAI_KEY, "BW_T_ANTHROPIC=" ANTHROPIC_KEY, NULL};

struct fx {
    char *dir;
    char cfg[4096], out[4096];
    struct sim sim;
    struct peer recv;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    snprintf(f->cfg, sizeof f->cfg, "%s/byokwatch.json", f->dir);
    snprintf(f->out, sizeof f->out, "%s/reports", f->dir);
    assert_int_equal(
        sim_start_month(&f->sim, "2026-11-22T12:00:00Z", "30", NULL, OPENAI_KEY, ANTHROPIC_KEY), 0);
    if (recv_start(&f->recv, NULL) != 0)
        fail_msg("bw-recv: %s", f->recv.err);
    char text[8192];
    snprintf(text, sizeof text,
             "{\"data_dir\": \"%s/data\", \"prices\": \"conf/prices.json\",\n"
             " \"providers\": [\n"
             "  {\"type\": \"openai\", \"name\": \"acme-openai\", \"backfill\": \"21d\",\n"
             "   \"base_url\": \"http://127.0.0.1:%d/v1\", \"admin_key_env\": \"BW_T_OPENAI\"},\n"
             "  {\"type\": \"anthropic\", \"name\": \"acme-claude\", \"backfill\": \"21d\",\n"
             "   \"base_url\": \"http://127.0.0.1:%d\", \"admin_key_env\": \"BW_T_ANTHROPIC\"}],\n"
             " \"sinks\": [{\"type\": \"webhook\", \"name\": \"finance\",\n"
             "   \"url\": \"http://127.0.0.1:%d/report\", \"min_severity\": \"critical\"}],\n"
             " \"report\": {\"schedule\": \"mon 09:00\", \"out_dir\": \"%s\",\n"
             "   \"sinks\": [\"finance\"]}}\n",
             f->dir, f->sim.port, f->sim.port, f->recv.port, f->out);
    assert_int_equal(tu_write_file(f->cfg, text, 0600), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    sim_stop(&f->sim);
    recv_stop(&f->recv);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* run --once at now (moving the simulator's clock first); returns stderr (caller frees). */
static char *run_at(struct fx *f, const char *now)
{
    char path[128];
    snprintf(path, sizeof path, "/_sim/now?t=%s", now);
    assert_int_equal(sim_http(&f->sim, path, "", NULL, NULL), 200);
    struct tu_run r;
    char *argv[] = {"byokwatch", "run", "--config", f->cfg, "--once", "--now", (char *)now, NULL};
    assert_int_equal(tu_run_bw(&r, argv, run_env), 0);
    if (r.status != 0)
        fail_msg("run at %s exited %d: %s", now, r.status, r.err);
    free(r.out);
    return r.err;
}

static int exists(struct fx *f, const char *week, const char *form)
{
    char p[4300];
    struct stat sb;
    snprintf(p, sizeof p, "%s/byokwatch-%s.%s", f->out, week, form);
    return stat(p, &sb) == 0 && sb.st_size > 0;
}

/* How many report summaries for week the receiver accepted. */
static size_t summaries(struct fx *f, const char *week)
{
    json_t *reqs = recv_requests(&f->recv, 0);
    size_t n = 0;
    char id[64];
    snprintf(id, sizeof id, "\"id\":\"report-%s\"", week);
    for (size_t i = 0; i < json_array_size(reqs); i++) {
        const char *b = json_string_value(json_object_get(json_array_get(reqs, i), "body"));
        n += b && strstr(b, id) != NULL;
    }
    json_decref(reqs);
    return n;
}

static void test_weekly_across_a_boundary_and_a_restart(void **state)
{
    struct fx *f = *state;
    /* Sunday: W46 was due last Monday, W47 is not complete */
    char *log = run_at(f, "2026-11-22T12:00:00Z");
    assert_non_null(strstr(log, "event=report.written week=2026-W46"));
    free(log);
    static const char *const forms[] = {"md", "html", "csv", "json"};
    for (size_t i = 0; i < 4; i++)
        assert_true(exists(f, "2026-W46", forms[i]));
    assert_false(exists(f, "2026-W47", "md"));
    assert_int_equal(summaries(f, "2026-W46"), 1);

    /* Monday before 09:00: nothing new */
    log = run_at(f, "2026-11-23T08:30:00Z");
    assert_null(strstr(log, "event=report.written"));
    free(log);
    assert_false(exists(f, "2026-W47", "md"));

    /* Monday 09:30: W47 */
    log = run_at(f, "2026-11-23T09:30:00Z");
    assert_non_null(strstr(log, "event=report.written week=2026-W47"));
    free(log);
    for (size_t i = 0; i < 4; i++)
        assert_true(exists(f, "2026-W47", forms[i]));
    char p[4300];
    snprintf(p, sizeof p, "%s/byokwatch-2026-W47.json", f->out);
    json_t *r = json_load_file(p, 0, NULL);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "period"), "from")),
                        "2026-11-16T00:00:00Z");
    assert_true(json_number_value(json_object_get(json_object_get(r, "totals"), "cost_usd")) > 0);
    json_decref(r);

    /* a restart later that day: the same week is neither written nor announced again */
    struct stat before, after;
    snprintf(p, sizeof p, "%s/byokwatch-2026-W47.md", f->out);
    assert_int_equal(stat(p, &before), 0);
    log = run_at(f, "2026-11-23T15:00:00Z");
    assert_null(strstr(log, "event=report.written"));
    free(log);
    assert_int_equal(stat(p, &after), 0);
    assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
    assert_int_equal(summaries(f, "2026-W47"), 1);
    assert_int_equal(summaries(f, "2026-W46"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_due),
        cmocka_unit_test_setup_teardown(test_weekly_across_a_boundary_and_a_restart, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("schedule", tests, NULL, NULL);
}
