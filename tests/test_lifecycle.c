/*
 * Tests for the alert lifecycle (alerts/lifecycle.h) on a real store:
 * fingerprints, first firing, no repeat at the same or a later time inside
 * the re-alert interval, re-alert when it passes, one resolved when the
 * condition clears, failed or removed rules keeping their alerts, backtests
 * at earlier times leaving state alone, state surviving a reopen, and the
 * delivery payload's fields (INTERFACE.md "The alert").
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../alerts/lifecycle.h"
#include "../collector/config.h"
#include "../storage/ts.h"
#include "testutil.h"

#define HOUR 3600LL
#define DAY 86400LL
#define T0 1795219200LL /* 2026-11-21T00:00:00Z */

static int64_t g_clock = T0;
static int64_t fake_clock(void)
{
    return g_clock;
}

struct fx {
    char *dir;
    struct ts_store *st;
    struct cfg_rule rule;
    json_t *params;
    char err[512];
};

static void open_store(struct fx *f)
{
    struct ts_options o = {.create = 1, .clock = fake_clock};
    if (ts_open(f->dir, &o, &f->st, f->err, sizeof f->err) != 0)
        fail_msg("ts_open: %s", f->err);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    open_store(f);
    f->params = json_pack("{s:s}", "realert", "24h");
    f->rule = (struct cfg_rule){.type = "spend_spike",
                                .name = "daily-spend-spike",
                                .severity = "critical",
                                .params = f->params};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    ts_close(f->st);
    tu_rmtree(f->dir);
    free(f->dir);
    json_decref(f->params);
    free(f);
    return 0;
}

/* A result of f's rule with one candidate per project named in projects (NULL-terminated). */
static void make_result(struct fx *f, struct ana_rule_result *r, int ok,
                        const char *const *projects)
{
    memset(r, 0, sizeof *r);
    r->rule = &f->rule;
    r->ok = ok;
    for (size_t i = 0; projects && projects[i]; i++) {
        struct ana_candidate *c;
        assert_int_equal(ana_emit(&r->res, &c), 0);
        assert_int_equal(ana_label(c, "provider", "openai"), 0);
        assert_int_equal(ana_label(c, "account", "acme-openai"), 0);
        assert_int_equal(ana_label(c, "project", projects[i]), 0);
        ana_summary(c, "openai project %s spent $212.40 in 1d", projects[i]);
        c->value = 212.40;
        c->baseline = 62.10;
        c->ratio = c->value / c->baseline;
        c->threshold = 1.5;
        snprintf(c->window, sizeof c->window, "1d");
        snprintf(c->unit, sizeof c->unit, "usd");
        c->starts_at = T0 - DAY;
        c->n_causes = 1;
        snprintf(c->causes[0].label, sizeof c->causes[0].label, "api_key_id");
        snprintf(c->causes[0].value, sizeof c->causes[0].value, "key_eng_ci");
        c->causes[0].share = 0.81;
    }
}

/* Applies one result at now and writes it; returns the stats. */
static struct alert_stats apply(struct fx *f, struct ana_rule_result *r, size_t n, int64_t now)
{
    struct alert_stats s = {0};
    struct ts_batch *b = ts_batch_new();
    assert_non_null(b);
    if (alert_apply(f->st, b, r, n, now, &s, f->err, sizeof f->err) != 0)
        fail_msg("alert_apply: %s", f->err);
    if (ts_write(f->st, b, f->err, sizeof f->err) != 0)
        fail_msg("ts_write: %s", f->err);
    ts_batch_free(b);
    return s;
}

struct notes {
    json_t *all;
};

static int collect(const json_t *p, void *ud)
{
    json_array_append(((struct notes *)ud)->all, (json_t *)p);
    return 0;
}

static json_t *notifications(struct fx *f)
{
    struct notes n = {.all = json_array()};
    assert_int_equal(alert_notifications(f->st, 0, collect, &n, f->err, sizeof f->err), 0);
    return n.all;
}

static int count_state(const json_t *st, void *ud)
{
    (void)st;
    (*(size_t *)ud)++;
    return 0;
}

static size_t count_alerts(struct fx *f, const char *status)
{
    size_t n = 0;
    assert_int_equal(alert_list(f->st, status, count_state, &n, f->err, sizeof f->err), 0);
    return n;
}

static void test_fingerprint(void **state)
{
    (void)state;
    struct ana_label a[2] = {{"provider", "openai"}, {"project", "p1"}};
    struct ana_label b[2] = {{"project", "p1"}, {"provider", "openai"}};
    struct ana_label c[2] = {{"provider", "openai"}, {"project", "p2"}};
    struct ana_label d[1] = {{"provider", "openaip"}};
    struct ana_label e[1] = {{"provide", "ropenai"}};
    char fa[ALERT_FP_LEN + 1], fb[ALERT_FP_LEN + 1], fc[ALERT_FP_LEN + 1], fr[ALERT_FP_LEN + 1],
        fd[ALERT_FP_LEN + 1], fe[ALERT_FP_LEN + 1];
    alert_fingerprint("r", a, 2, fa);
    alert_fingerprint("r", b, 2, fb);
    alert_fingerprint("r", c, 2, fc);
    alert_fingerprint("r2", a, 2, fr);
    alert_fingerprint("r", d, 1, fd);
    alert_fingerprint("r", e, 1, fe);
    assert_int_equal(strlen(fa), ALERT_FP_LEN);
    assert_string_equal(fa, fb);     /* label order does not matter */
    assert_string_not_equal(fa, fc); /* a label value does */
    assert_string_not_equal(fa, fr); /* so does the rule name */
    assert_string_not_equal(fd, fe); /* name/value boundaries are kept */
}

static void test_fire_once_then_realert(void **state)
{
    struct fx *f = *state;
    static const char *const p[] = {"proj_eng", NULL};
    struct ana_rule_result r;
    make_result(f, &r, 1, p);

    struct alert_stats s = apply(f, &r, 1, T0);
    assert_int_equal(s.fired, 1);
    assert_int_equal(s.resolved, 0);
    s = apply(f, &r, 1, T0); /* the same run again: nothing new */
    assert_int_equal(s.fired + s.realert + s.resolved, 0);
    assert_int_equal(s.firing, 1);
    s = apply(f, &r, 1, T0 + 24 * HOUR - 1); /* inside realert */
    assert_int_equal(s.fired + s.realert, 0);
    s = apply(f, &r, 1, T0 + 24 * HOUR); /* exactly at realert: repeats */
    assert_int_equal(s.realert, 1);
    s = apply(f, &r, 1, T0 + 25 * HOUR);
    assert_int_equal(s.realert, 0);

    json_t *n = notifications(f);
    assert_int_equal(json_array_size(n), 2);
    const char *id0 = json_string_value(json_object_get(json_array_get(n, 0), "id"));
    const char *id1 = json_string_value(json_object_get(json_array_get(n, 1), "id"));
    assert_string_not_equal(id0, id1); /* unique per delivery */
    assert_string_equal(json_string_value(json_object_get(json_array_get(n, 0), "fingerprint")),
                        json_string_value(json_object_get(json_array_get(n, 1), "fingerprint")));
    json_decref(n);
    ana_results_free(&r.res);
}

static void test_resolve_once(void **state)
{
    struct fx *f = *state;
    static const char *const two[] = {"proj_eng", "proj_mkt", NULL};
    static const char *const one[] = {"proj_mkt", NULL};
    struct ana_rule_result r2, r1;
    make_result(f, &r2, 1, two);
    make_result(f, &r1, 1, one);
    struct alert_stats s = apply(f, &r2, 1, T0);
    assert_int_equal(s.fired, 2);
    s = apply(f, &r1, 1, T0 + HOUR); /* proj_eng cleared */
    assert_int_equal(s.resolved, 1);
    assert_int_equal(s.firing, 1);
    s = apply(f, &r1, 1, T0 + HOUR); /* again: no second resolved */
    assert_int_equal(s.resolved + s.fired, 0);
    assert_int_equal(count_alerts(f, "resolved"), 1);
    assert_int_equal(count_alerts(f, "firing"), 1);

    json_t *n = notifications(f);
    assert_int_equal(json_array_size(n), 3);
    json_t *last = json_array_get(n, 2);
    assert_string_equal(json_string_value(json_object_get(last, "status")), "resolved");
    assert_string_equal(json_string_value(json_object_get(last, "ends_at")),
                        "2026-11-21T01:00:00Z");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(last, "labels"), "project")), "proj_eng");
    json_decref(n);

    /* it fires again later: a new firing notification with a new start */
    s = apply(f, &r2, 1, T0 + 2 * HOUR);
    assert_int_equal(s.fired, 1);
    assert_int_equal(count_alerts(f, "firing"), 2);
    ana_results_free(&r2.res);
    ana_results_free(&r1.res);
}

static void test_failed_and_removed_rules_keep_alerts(void **state)
{
    struct fx *f = *state;
    static const char *const p[] = {"proj_eng", NULL};
    struct ana_rule_result r, failed;
    make_result(f, &r, 1, p);
    make_result(f, &failed, 0, NULL);
    apply(f, &r, 1, T0);
    struct alert_stats s = apply(f, &failed, 1, T0 + HOUR); /* evaluation failed */
    assert_int_equal(s.resolved, 0);
    s = apply(f, NULL, 0, T0 + 2 * HOUR); /* rule no longer configured */
    assert_int_equal(s.resolved, 0);
    assert_int_equal(count_alerts(f, "firing"), 1);
    ana_results_free(&r.res);
}

static void test_backtest_earlier_now_leaves_state(void **state)
{
    struct fx *f = *state;
    static const char *const p[] = {"proj_eng", NULL};
    struct ana_rule_result r, empty;
    make_result(f, &r, 1, p);
    make_result(f, &empty, 1, NULL);
    apply(f, &r, 1, T0 + DAY);
    struct alert_stats s = apply(f, &empty, 1, T0); /* earlier than the last evaluation */
    assert_int_equal(s.resolved, 0);
    assert_int_equal(count_alerts(f, "firing"), 1);
    ana_results_free(&r.res);
}

static void test_state_survives_reopen(void **state)
{
    struct fx *f = *state;
    static const char *const p[] = {"proj_eng", NULL};
    struct ana_rule_result r;
    make_result(f, &r, 1, p);
    apply(f, &r, 1, T0);
    ts_close(f->st);
    open_store(f);
    struct alert_stats s = apply(f, &r, 1, T0 + HOUR);
    assert_int_equal(s.fired + s.realert, 0);
    json_t *n = notifications(f);
    assert_int_equal(json_array_size(n), 1);
    json_decref(n);
    ana_results_free(&r.res);
}

static void test_payload_fields(void **state)
{
    struct fx *f = *state;
    static const char *const p[] = {"proj_eng", NULL};
    struct ana_rule_result r;
    make_result(f, &r, 1, p);
    r.res.v[0].baseline = NAN; /* numbers that do not apply are left out */
    apply(f, &r, 1, T0);
    json_t *n = notifications(f);
    json_t *a = json_array_get(n, 0);
    assert_string_equal(json_string_value(json_object_get(a, "version")), "1");
    assert_string_equal(json_string_value(json_object_get(a, "status")), "firing");
    assert_string_equal(json_string_value(json_object_get(a, "rule")), "spend_spike");
    assert_string_equal(json_string_value(json_object_get(a, "rule_name")), "daily-spend-spike");
    assert_string_equal(json_string_value(json_object_get(a, "severity")), "critical");
    assert_string_equal(json_string_value(json_object_get(a, "starts_at")), "2026-11-20T00:00:00Z");
    assert_string_equal(json_string_value(json_object_get(a, "generated_at")),
                        "2026-11-21T00:00:00Z");
    assert_true(json_is_null(json_object_get(a, "ends_at")));
    assert_int_equal(strlen(json_string_value(json_object_get(a, "fingerprint"))), ALERT_FP_LEN);
    json_t *obs = json_object_get(a, "observed");
    assert_true(fabs(json_real_value(json_object_get(obs, "value")) - 212.40) < 1e-9);
    assert_null(json_object_get(obs, "baseline"));
    assert_string_equal(json_string_value(json_object_get(obs, "window")), "1d");
    assert_string_equal(json_string_value(json_object_get(obs, "unit")), "usd");
    json_t *rc = json_array_get(json_object_get(a, "root_causes"), 0);
    assert_string_equal(json_string_value(json_object_get(rc, "value")), "key_eng_ci");
    assert_true(fabs(json_real_value(json_object_get(rc, "share")) - 0.81) < 1e-9);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(a, "labels"), "provider")), "openai");
    json_decref(n);
    ana_results_free(&r.res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test_setup_teardown(test_fire_once_then_realert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_and_removed_rules_keep_alerts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backtest_earlier_now_leaves_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_payload_fields, setup, teardown),
    };
    return cmocka_run_group_tests_name("lifecycle", tests, NULL, NULL);
}
