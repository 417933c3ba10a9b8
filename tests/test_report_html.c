/*
 * Tests for report/render_html.c: renders tests/data/report_html/week.json and
 * empty.json and checks that the page is self-contained (no scripts, links or
 * URLs), that each chart has the expected bars, that JSON strings are escaped
 * and money formatted, and that hostile input renders without crashing. Then
 * headless Chromium loads the page: desktop and phone screenshots (kept in
 * build/artifacts/) and the rendered DOM's bar count. Chromium is required;
 * `make deps` installs it. Run from the repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <signal.h>

#include "../report/render.h"
#include "testutil.h"

#define WEEK "tests/data/report_html/week.json"
#define EMPTY "tests/data/report_html/empty.json"
#define CHROMIUM "/usr/bin/chromium"
#define ARTIFACTS "build/artifacts"
#define CHROMIUM_TIMEOUT 60
#define DASH_UTF8 "—"

/* Bars per chart in week.json: 7 days x 2 providers, 6 models, 8 projects, top 10 of 12 keys,
 * 2 bars x 2 providers. */
static const struct {
    const char *id;
    size_t bars;
} WEEK_CHARTS[] = {
    {"chart-daily", 14}, {"chart-models", 6}, {"chart-projects", 8},
    {"chart-keys", 10},  {"chart-wow", 4},
};
#define WEEK_BARS 42

static char *render_json(const json_t *j)
{
    char *html = NULL, err[256] = "";
    size_t len = 0;
    if (rep_render_html(j, &html, &len, err, sizeof err) != 0)
        fail_msg("rep_render_html: %s", err);
    assert_non_null(html);
    assert_int_equal(len, strlen(html));
    return html;
}

static char *render_file(const char *path)
{
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j)
        fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
    char *html = render_json(j);
    json_decref(j);
    return html;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0, len = strlen(needle);
    for (const char *p = strstr(hay, needle); p; p = strstr(p + len, needle))
        n++;
    return n;
}

/* Bars inside <svg id="id" ...>...</svg>, or -1 when there is no such chart. */
static long chart_bars(const char *html, const char *id)
{
    char open[64];
    snprintf(open, sizeof open, "<svg id=\"%s\"", id);
    const char *start = strstr(html, open);
    if (!start)
        return -1;
    const char *end = strstr(start, "</svg>");
    assert_non_null(end);
    size_t len = (size_t)(end - start);
    char *svg = malloc(len + 1);
    assert_non_null(svg);
    memcpy(svg, start, len);
    svg[len] = '\0';
    long n = (long)count(svg, "<rect class=\"bar\"");
    free(svg);
    return n;
}

static void assert_self_contained(const char *html)
{
    char *lower = strdup(html);
    assert_non_null(lower);
    for (char *p = lower; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    static const char *const banned[] = {"<script", "http://", "https://",   "<link",
                                         "<img",    "<iframe", "<object",    "url(",
                                         "@import", "src=",    "javascript:"};
    for (size_t i = 0; i < sizeof banned / sizeof banned[0]; i++)
        if (strstr(lower, banned[i]))
            fail_msg("page contains \"%s\"", banned[i]);
    /* no event handler attributes (onload=, onclick=...) */
    for (const char *p = strstr(lower, " on"); p; p = strstr(p + 1, " on")) {
        const char *q = p + 3;
        while (*q >= 'a' && *q <= 'z')
            q++;
        if (*q == '=' && q > p + 3)
            fail_msg("event handler attribute at: %.40s", p);
    }
    free(lower);
    assert_true(strncmp(html, "<!DOCTYPE html>\n<html lang=\"en\">", 31) == 0);
    assert_non_null(strstr(html, "<meta charset=\"utf-8\">"));
    assert_non_null(strstr(html, "<meta name=\"viewport\" content=\"width=device-width"));
    assert_non_null(strstr(html, "@media print"));
    assert_non_null(strstr(html, "</html>\n"));
}

static void test_week_self_contained(void **state)
{
    (void)state;
    char *html = render_file(WEEK);
    assert_self_contained(html);
    assert_non_null(strstr(html, "Mon 16 Nov 2026 – Sun 22 Nov 2026 (UTC)"));
    assert_null(strstr(html, "No data for this period"));
    free(html);
}

static void test_week_chart_bars(void **state)
{
    (void)state;
    char *html = render_file(WEEK);
    size_t total = 0;
    for (size_t i = 0; i < sizeof WEEK_CHARTS / sizeof WEEK_CHARTS[0]; i++) {
        long n = chart_bars(html, WEEK_CHARTS[i].id);
        if (n != (long)WEEK_CHARTS[i].bars)
            fail_msg("%s: %ld bars, want %zu", WEEK_CHARTS[i].id, n, WEEK_CHARTS[i].bars);
        total += (size_t)n;
        char open[64];
        snprintf(open, sizeof open, "<svg id=\"%s\" class=\"chart\" viewBox=\"0 0 ",
                 WEEK_CHARTS[i].id);
        const char *svg = strstr(html, open);
        assert_non_null(svg);
        const char *gt = strchr(svg, '>');
        assert_non_null(strstr(svg, "role=\"img\""));
        assert_true(strstr(svg, "role=\"img\"") < gt);
        assert_true(strstr(svg, "aria-label=\"") < gt);
        assert_true(strncmp(gt, "><title>", 8) == 0);
    }
    assert_int_equal(total, WEEK_BARS);
    assert_int_equal(count(html, "<rect class=\"bar\""), WEEK_BARS);
    assert_int_equal(count(html, "<svg "), 5);
    /* the tallest day and the top project carry their values */
    assert_non_null(strstr(html, "data-value=\"2209.02\""));
    assert_non_null(strstr(html, "Top 10 of 12 keys by cost"));
    free(html);
}

static void test_week_escapes_strings(void **state)
{
    (void)state;
    char *html = render_file(WEEK);
    /* the project <b>&"x' appears in the projects chart, the keys chart and two tables */
    assert_true(count(html, "&lt;b&gt;&amp;&quot;x&#39;") >= 4);
    assert_null(strstr(html, "<b>&\"x'"));
    assert_null(strstr(html, "<b>"));
    free(html);
}

static void test_week_numbers(void **state)
{
    (void)state;
    char *html = render_file(WEEK);
    static const char *const want[] = {
        "<div class=\"v\">$7,140.58</div>", /* totals.cost_usd 7140.581133 */
        "▼ 10.5%</span> vs $7,974.07",      /* change_pct.cost_usd -10.45 */
        "<div class=\"v\">$2,018.29</div>", /* billed */
        "<div class=\"v\">$5,122.29</div>", /* estimated */
        "title=\"1,755,600,919\">1.76B",    /* input tokens */
        "<div class=\"v\">1,220,827</div>", /* requests */
        "<div class=\"v\">1,843,200</div>", /* unpriced tokens */
        "▲ 13.6%",                          /* openai week over week */
        "<td class=\"n\">931,537,630</td>", /* openai input tokens */
        "<td class=\"n\">3h 15m</td>",      /* open_seconds 11700 */
        "<td class=\"n\">2d 21h</td>",      /* open_seconds 250727 */
        "<td>2026-11-18 14:05</td>",        /* starts_at */
        "<span class=\"sev crit\">critical</span>",
        "<td class=\"n\">40.9%</td>", /* share 0.409 */
        "<th>Last used</th>",         /* keys.unused carries last_used_at */
        "<li>claude-opus-4-1</li>",   /* new_entities.models */
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(html, want[i]))
            fail_msg("page lacks: %s", want[i]);
    free(html);
}

static void test_empty_week(void **state)
{
    (void)state;
    char *html = render_file(EMPTY);
    assert_self_contained(html);
    assert_non_null(strstr(html, "No data for this period"));
    assert_null(strstr(html, "<svg"));
    assert_int_equal(count(html, "<rect class=\"bar\""), 0);
    assert_null(strstr(html, "id=\"summary\""));
    /* the operational sections stay: they say why the week is empty */
    assert_non_null(strstr(html, "<td>openai/usage</td>"));
    assert_non_null(strstr(html, "<td class=\"n\">168</td>"));
    free(html);
}

static void test_rejects_non_objects(void **state)
{
    (void)state;
    char *html = NULL, err[128] = "";
    size_t len = 0;
    assert_int_equal(rep_render_html(NULL, &html, &len, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a JSON object"));
    json_t *arr = json_array();
    err[0] = '\0';
    assert_int_equal(rep_render_html(arr, &html, &len, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a JSON object"));
    assert_null(html);
    json_decref(arr);
}

static void test_empty_object_is_empty_week(void **state)
{
    (void)state;
    json_t *j = json_object();
    char *html = render_json(j);
    assert_self_contained(html);
    assert_non_null(strstr(html, "No data for this period"));
    assert_true(count(html, DASH_UTF8) >= 2); /* period from and to */
    free(html);
    json_decref(j);
}

/* Every key of the wrong type, nulls, huge numbers, nesting and a long hostile string. */
static void test_hostile_input(void **state)
{
    (void)state;
    static const char doc[] =
        "{\"period\":5,\"empty\":\"no\",\"totals\":[1],\"previous_totals\":null,"
        "\"change_pct\":{\"cost_usd\":\"up\",\"requests\":1e300},"
        "\"by_provider\":{\"openai\":1},"
        "\"daily\":[1,\"x\",null,{\"date\":7,\"cost_usd\":-5,\"by_provider\":[]},"
        "{\"date\":\"2026-11-17\",\"cost_usd\":1e300}],"
        "\"by_model\":[{\"model\":null,\"cost_usd\":\"12\",\"share\":{}},7,"
        "{\"provider\":[],\"model\":\"m\",\"cost_usd\":-1e20,\"input_tokens\":9.3e18}],"
        "\"by_project\":[{\"project\":{\"a\":[1,[2,[3,[4]]]]},\"cost_usd\":1e300},"
        "{\"project\":\"\\u0001</svg><script>\",\"cost_usd\":0.005}],"
        "\"by_api_key\":\"keys\",\"by_business_unit\":[[]],"
        "\"keys\":{\"due_for_rotation\":\"soon\",\"unused\":[{}],\"created\":[1]},"
        "\"new_entities\":{\"api_keys\":[null,true,{\"x\":{}}],\"models\":{},\"countries\":\"BR\"},"
        "\"auth_failures\":[{\"actor\":1,\"count\":\"many\"}],\"countries\":null,"
        "\"unpriced\":[{\"tokens\":-9e18}],"
        "\"data_freshness\":[{\"source\":\"s\",\"gaps\":[{\"from\":\"a\",\"to\":\"b\"}],"
        "\"failures\":-3,\"last_data\":\"not a time\",\"last_success\":1700000000}],"
        "\"alerts\":{\"fired\":[{\"rule_name\":\"r\",\"severity\":7,\"open_seconds\":-1,"
        "\"starts_at\":[],\"ends_at\":\"2026-13-45T99:00:00Z\"}]}}";
    json_error_t jerr;
    json_t *j = json_loads(doc, 0, &jerr);
    if (!j)
        fail_msg("fixture: %s", jerr.text);
    /* a 1 MB project name made of characters that need escaping */
    size_t big = 1 << 20;
    char *name = malloc(big + 1);
    assert_non_null(name);
    for (size_t i = 0; i < big; i++)
        name[i] = "<>&\"'"[i % 5];
    name[big] = '\0';
    json_array_append_new(json_object_get(j, "by_project"),
                          json_pack("{s:s, s:f}", "project", name, "cost_usd", 3.0));
    free(name);
    char *html = render_json(j);
    assert_self_contained(html);
    assert_null(strstr(html, "No data for this period"));
    assert_null(strstr(html, "</svg><script>"));
    assert_non_null(strstr(html, "&lt;/svg&gt;&lt;script&gt;"));
    /* the daily chart falls back to one series: one bar per object day */
    assert_int_equal(chart_bars(html, "chart-daily"), 2);
    assert_int_equal(chart_bars(html, "chart-projects"), 3);
    assert_int_equal(chart_bars(html, "chart-models"), 2);
    assert_int_equal(chart_bars(html, "chart-keys"), -1);
    assert_int_equal(chart_bars(html, "chart-wow"), 2); /* totals only */
    assert_non_null(strstr(html, "-$1e+20"));           /* beyond exact cents */
    assert_non_null(strstr(html, ">$1e+300</text>"));   /* the huge project's bar value */
    assert_non_null(strstr(html, "<td class=\"n\">" DASH_UTF8 "</td>")); /* "many" */
    free(html);
    json_decref(j);
}

/* ---- headless Chromium ------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Runs argv in its own process group with stdout to out_path and stderr to
 * err_path; kills the group after timeout_s. Returns the exit status, -2 on
 * timeout, -1 when it could not start. *secs gets the wall time.
 */
static int run_timeout(char *const argv[], const char *out_path, const char *err_path,
                       int timeout_s, double *secs)
{
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setpgid(0, 0);
        int in = open("/dev/null", O_RDONLY);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0 || err < 0)
            _exit(126);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    setpgid(pid, pid);
    int rc = -2;
    for (;;) {
        /* WNOWAIT leaves the leader a zombie, so its group id stays ours until it is reaped */
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0) {
            rc = -1;
            break;
        }
        if (si.si_pid == pid) {
            rc = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
            break;
        }
        if (now_s() - t0 > timeout_s)
            break;
        struct timespec nap = {0, 20 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
    kill(-pid, SIGKILL); /* on timeout, and helpers Chromium left in its group */
    int st;
    waitpid(pid, &st, 0);
    *secs = now_s() - t0;
    return rc;
}

static unsigned char *read_bin(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (cap - *len < 65536) {
            unsigned char *nb = realloc(buf, cap + 65536);
            if (!nb)
                break;
            buf = nb;
            cap += 65536;
        }
        size_t n = fread(buf + *len, 1, cap - *len, f);
        if (n == 0)
            break;
        *len += n;
    }
    fclose(f);
    return buf;
}

static void copy_artifact(const unsigned char *data, size_t len, const char *name)
{
    char path[256];
    mkdir("build", 0755);
    mkdir(ARTIFACTS, 0755);
    snprintf(path, sizeof path, ARTIFACTS "/%s", name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

struct browser {
    char *dir;      /* temp dir: the page, profile, outputs */
    char page[512]; /* dir/report.html */
    char url[600];  /* file://dir/report.html */
    char profile[540];
};

static void need_chromium(void)
{
    if (access(CHROMIUM, X_OK) != 0)
        fail_msg("%s not found: run `make deps` (scripts/deps.sh installs chromium)", CHROMIUM);
}

static int setup_browser(void **state)
{
    struct browser *br = calloc(1, sizeof *br);
    assert_non_null(br);
    br->dir = tu_mkdtemp();
    assert_non_null(br->dir);
    snprintf(br->page, sizeof br->page, "%s/report.html", br->dir);
    snprintf(br->url, sizeof br->url, "file://%s", br->page);
    snprintf(br->profile, sizeof br->profile, "--user-data-dir=%s/profile", br->dir);
    char *html = render_file(WEEK);
    assert_int_equal(tu_write_file(br->page, html, 0644), 0);
    copy_artifact((const unsigned char *)html, strlen(html), "report.html");
    free(html);
    *state = br;
    return 0;
}

static int teardown_browser(void **state)
{
    struct browser *br = *state;
    if (br) {
        tu_rmtree(br->dir);
        free(br->dir);
        free(br);
    }
    return 0;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void screenshot(struct browser *br, int w, int h, const char *artifact)
{
    char shot[600], size[64], out[600], err[600];
    snprintf(shot, sizeof shot, "--screenshot=%s/%s", br->dir, artifact);
    snprintf(size, sizeof size, "--window-size=%d,%d", w, h);
    snprintf(out, sizeof out, "%s/shot.out", br->dir);
    snprintf(err, sizeof err, "%s/shot.err", br->dir);
    char *argv[] = {CHROMIUM,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--no-first-run",
                    "--hide-scrollbars",
                    "--force-device-scale-factor=1",
                    br->profile,
                    shot,
                    size,
                    br->url,
                    NULL};
    double secs = 0;
    int rc = run_timeout(argv, out, err, CHROMIUM_TIMEOUT, &secs);
    print_message("chromium screenshot %dx%d: exit %d in %.2fs\n", w, h, rc, secs);
    if (rc == -2)
        fail_msg("chromium took over %ds for the screenshot", CHROMIUM_TIMEOUT);
    assert_int_equal(rc, 0);
    char png_path[600];
    snprintf(png_path, sizeof png_path, "%s/%s", br->dir, artifact);
    size_t len = 0;
    unsigned char *png = read_bin(png_path, &len);
    if (!png)
        fail_msg("chromium wrote no %s", png_path);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    assert_true(len > 10 * 1024);
    assert_memory_equal(png, sig, 8);
    assert_memory_equal(png + 12, "IHDR", 4);
    assert_int_equal(be32(png + 16), (uint32_t)w);
    assert_int_equal(be32(png + 20), (uint32_t)h);
    copy_artifact(png, len, artifact);
    print_message("artifact " ARTIFACTS "/%s (%zu bytes)\n", artifact, len);
    free(png);
}

static void test_chromium_screenshots(void **state)
{
    struct browser *br = *state;
    need_chromium();
    screenshot(br, 1200, 2400, "report.png");
    screenshot(br, 390, 2400, "report-phone.png");
}

static void test_chromium_dom(void **state)
{
    struct browser *br = *state;
    need_chromium();
    char out[600], err[600];
    snprintf(out, sizeof out, "%s/dom.html", br->dir);
    snprintf(err, sizeof err, "%s/dom.err", br->dir);
    char *argv[] = {CHROMIUM,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--no-first-run",
                    br->profile,
                    "--dump-dom",
                    br->url,
                    NULL};
    double secs = 0;
    int rc = run_timeout(argv, out, err, CHROMIUM_TIMEOUT, &secs);
    print_message("chromium --dump-dom: exit %d in %.2fs\n", rc, secs);
    if (rc == -2)
        fail_msg("chromium took over %ds for --dump-dom", CHROMIUM_TIMEOUT);
    assert_int_equal(rc, 0);
    char *dom = tu_read_file(out);
    assert_non_null(dom);
    /* the parser built every chart: each svg and its bars are in the live DOM */
    for (size_t i = 0; i < sizeof WEEK_CHARTS / sizeof WEEK_CHARTS[0]; i++) {
        long n = chart_bars(dom, WEEK_CHARTS[i].id);
        if (n != (long)WEEK_CHARTS[i].bars)
            fail_msg("DOM %s: %ld bars, want %zu", WEEK_CHARTS[i].id, n, WEEK_CHARTS[i].bars);
    }
    assert_int_equal(count(dom, "<rect class=\"bar\""), WEEK_BARS);
    assert_non_null(strstr(dom, "&lt;b&gt;&amp;\"x'")); /* text nodes re-serialised */
    assert_null(strstr(dom, "<b>&amp;"));
    free(dom);
}

int main(void)
{
    const struct CMUnitTest render[] = {
        cmocka_unit_test(test_week_self_contained),
        cmocka_unit_test(test_week_chart_bars),
        cmocka_unit_test(test_week_escapes_strings),
        cmocka_unit_test(test_week_numbers),
        cmocka_unit_test(test_empty_week),
        cmocka_unit_test(test_rejects_non_objects),
        cmocka_unit_test(test_empty_object_is_empty_week),
        cmocka_unit_test(test_hostile_input),
    };
    const struct CMUnitTest browser[] = {
        cmocka_unit_test(test_chromium_screenshots),
        cmocka_unit_test(test_chromium_dom),
    };
    int failed = cmocka_run_group_tests_name("report_html", render, NULL, NULL);
    failed += cmocka_run_group_tests_name("report_html_chromium", browser, setup_browser,
                                          teardown_browser);
    return failed ? 1 : 0;
}
