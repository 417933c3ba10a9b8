/*
 * The weekly report's schedule (schedule.h): due-time arithmetic on ISO
 * weeks, writing every form of a week's report into out_dir atomically,
 * and the summary payload the report sinks receive.
 */
#include "schedule.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/timeutil.h"
#include "render.h"
#include "report.h"

int rep_schedule_parse(const char *s, int *weekday, int *minute)
{
    static const char *const days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    if (!s || strlen(s) != 9 || s[3] != ' ' || s[6] != ':')
        return -1;
    char d[4];
    for (int i = 0; i < 3; i++)
        d[i] = (char)tolower((unsigned char)s[i]);
    d[3] = '\0';
    *weekday = 0;
    for (int i = 0; i < 7; i++) {
        if (strcmp(days[i], d) == 0)
            *weekday = i + 1;
    }
    for (int i = 4; i < 9; i++) {
        if (i != 6 && !isdigit((unsigned char)s[i]))
            return -1;
    }
    int h = (s[4] - '0') * 10 + (s[5] - '0'), m = (s[7] - '0') * 10 + (s[8] - '0');
    if (!*weekday || h > 23 || m > 59)
        return -1;
    *minute = h * 60 + m;
    return 0;
}

int rep_schedule_due(const char *schedule, int64_t now, int64_t *from, int64_t *to, char *week,
                     size_t weeklen)
{
    int wd, minute;
    if (rep_schedule_parse(schedule, &wd, &minute) != 0)
        return -1;
    int64_t f, t;
    rep_last_complete_week(now, &f, &t);
    /* t is the Monday that ended the week; its report is due that week */
    int64_t due = t + (int64_t)(wd - 1) * TU_DAY + (int64_t)minute * 60;
    if (now < due) {
        /* not yet: the week before it was due last week (and is the one to catch up) */
        t = f;
        f -= 7LL * TU_DAY;
    }
    int y, w;
    rep_week_of(f, &y, &w);
    snprintf(week, weeklen, "%04d-W%02d", y, w);
    *from = f;
    *to = t;
    return 1;
}

/* Writes data to path through a temporary file in the same directory. 0 ok. */
static int write_atomic(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
    char tmp[4200];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w <= 0) {
            snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            return -1;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static const struct {
    const char *form;
    int (*render)(const json_t *, char **, size_t *, char *, size_t);
} FORMS[] = {
    {"md", rep_render_md},
    {"html", rep_render_html},
    {"csv", rep_render_csv},
    {"json", rep_render_json},
};

int rep_write_week(struct ts_store *st, const struct config *cfg, int64_t from, int64_t to,
                   int64_t now, const char *week, json_t **report, char *stem, size_t stemlen,
                   char *err, size_t errlen)
{
    const char *dir = cfg->report.out_dir ? cfg->report.out_dir : "./reports";
    int n = snprintf(stem, stemlen, "%s/byokwatch-%s", dir, week);
    if (n < 0 || (size_t)n >= stemlen) {
        snprintf(err, errlen, "report path too long");
        return -1;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    json_t *r = NULL;
    if (rep_build(st, cfg, from, to, now, &r, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < cfg->report.n_formats; i++) {
        for (size_t k = 0; k < sizeof FORMS / sizeof FORMS[0]; k++) {
            if (strcmp(cfg->report.formats[i], FORMS[k].form) != 0)
                continue;
            char *out = NULL, path[4200];
            size_t len = 0;
            snprintf(path, sizeof path, "%s.%s", stem, FORMS[k].form);
            int rc = FORMS[k].render(r, &out, &len, err, errlen) != 0 ||
                     write_atomic(path, out, len, err, errlen) != 0;
            free(out);
            if (rc) {
                json_decref(r);
                return -1;
            }
        }
    }
    *report = r;
    return 0;
}

static double num(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

struct mover {
    const json_t *p;
    double delta;
};

static int mover_cmp(const void *a, const void *b)
{
    double x = fabs(((const struct mover *)a)->delta), y = fabs(((const struct mover *)b)->delta);
    return (x < y) - (x > y);
}

json_t *rep_summary_payload(const json_t *report, const char *week, const char *stem, int64_t now)
{
    const json_t *totals = json_object_get(report, "totals");
    double cost = num(totals, "cost_usd");
    double chg = num(json_object_get(report, "change_pct"), "cost_usd");
    const json_t *alerts = json_object_get(report, "alerts");
    size_t fired = json_array_size(json_object_get(alerts, "fired"));
    size_t resolved = json_array_size(json_object_get(alerts, "resolved"));
    char summary[1024], change[48] = "", at[32], id[64];
    if (isfinite(chg))
        snprintf(change, sizeof change, " (%+.1f%% on the week before)", chg);
    int empty = json_is_true(json_object_get(report, "empty"));
    if (empty)
        snprintf(summary, sizeof summary,
                 "Weekly AI usage report %s: no data for this period; %s.*", week, stem);
    else
        snprintf(summary, sizeof summary,
                 "Weekly AI usage report %s: $%.2f spent%s, %.0f input and %.0f output tokens, "
                 "%zu alerts fired and %zu resolved; files: %s.*",
                 week, isfinite(cost) ? cost : 0.0, change, num(totals, "input_tokens"),
                 num(totals, "output_tokens"), fired, resolved, stem);
    /* the five projects whose spend moved most */
    const json_t *projects = json_object_get(report, "by_project");
    size_t np = json_array_size(projects);
    struct mover *mv = calloc(np ? np : 1, sizeof *mv);
    json_t *top = json_array();
    for (size_t i = 0; mv && i < np; i++) {
        const json_t *p = json_array_get(projects, i);
        double c = num(p, "cost_usd"), pc = num(p, "previous_cost_usd");
        mv[i] = (struct mover){p, (isfinite(c) ? c : 0) - (isfinite(pc) ? pc : 0)};
    }
    if (mv)
        qsort(mv, np, sizeof *mv, mover_cmp);
    for (size_t i = 0; mv && top && i < np && i < 5; i++)
        json_array_append_new(
            top, json_pack("{s:s?, s:s?, s:f, s:f}", "provider",
                           json_string_value(json_object_get(mv[i].p, "provider")), "project",
                           json_string_value(json_object_get(mv[i].p, "project")), "cost_usd",
                           num(mv[i].p, "cost_usd"), "change_usd", mv[i].delta));
    free(mv);
    tu_format_time(now, at, sizeof at);
    snprintf(id, sizeof id, "report-%s", week);
    json_t *p = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:{s:f, s:s}, s:[], s:{s:o, "
        "s:s, s:I, s:I}, s:s, s:n, s:s}",
        "version", "1", "id", id, "fingerprint", id, "status", "firing", "rule", "weekly_report",
        "rule_name", "weekly-report", "severity", "info", "summary", summary, "labels", "provider",
        "all", "report", week, "observed", "value", isfinite(cost) ? cost : 0.0, "unit", "usd",
        "root_causes", "details", "top_movers", top ? top : json_array(), "files", stem,
        "alerts_fired", (json_int_t)fired, "alerts_resolved", (json_int_t)resolved, "starts_at", at,
        "ends_at", "generated_at", at);
    return p;
}
