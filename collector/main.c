/*
 * byokwatch's command line: a table of commands, each with its own option
 * parser and --help. Only commands that work are in the table. Exit codes:
 * 0 success, 1 runtime failure, 2 usage or configuration error.
 */
#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../alerts/lifecycle.h"
#include "../alerts/outbox.h"
#include "../common/log.h"
#include "../common/timeutil.h"
#include "../report/render.h"
#include "../report/report.h"
#include "../storage/ts.h"
#include "config.h"
#include "daemon.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

struct command {
    const char *name;
    const char *summary;
    const char *usage;
    int (*run)(int argc, char **argv);
};

static const struct command *find_command(const char *name);

__attribute__((format(printf, 2, 3))) static int usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "byokwatch %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'byokwatch %s --help'.\n", cmd);
    return EXIT_USAGE;
}

static void print_help(const struct command *c, FILE *out)
{
    fprintf(out, "Usage: byokwatch %s\n\n%s\n", c->usage, c->summary);
}

/* ---- version ---- */

static int cmd_version(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'h') {
            print_help(find_command("version"), stdout);
            return 0;
        }
        return EXIT_USAGE;
    }
    printf("byokwatch %s (git %s)\n", BW_VERSION, BW_GIT_REV);
    printf("jansson %s, %s, libevent %s, %s, store schema %d\n", JANSSON_VERSION, curl_version(),
           event_get_version(), OpenSSL_version(OPENSSL_VERSION), TS_SCHEMA_VERSION);
    return 0;
}

/* ---- check-config ---- */

static int load_config(const char *cmd, const char *path, struct config **cfg)
{
    char err[1024];
    if (!path) {
        usage_error(cmd, "%s", "--config FILE is required");
        return EXIT_USAGE;
    }
    if (cfg_load(path, cfg, err, sizeof err) != 0) {
        fprintf(stderr, "byokwatch: %s\n", err);
        return EXIT_USAGE;
    }
    log_set_level((*cfg)->log_level);
    return 0;
}

static int cmd_check_config(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *path = NULL;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': path = optarg; break;
        case 'h': print_help(find_command("check-config"), stdout); return 0;
        default: return EXIT_USAGE;
        }
    }
    if (optind < argc)
        return usage_error("check-config", "unexpected argument '%s'", argv[optind]);
    struct config *cfg = NULL;
    int rc = load_config("check-config", path, &cfg);
    if (rc != 0)
        return rc;
    cfg_print_summary(cfg, stdout);
    printf("config OK\n");
    cfg_free(cfg);
    return 0;
}

/* ---- query ---- */

enum fmt { FMT_TABLE, FMT_JSON, FMT_CSV };

#define MAX_LABELS 16

/* Splits "a,b,c" in place into parts; returns the count or -1 when too many/empty. */
static int split_list(char *s, char **parts, int max)
{
    int n = 0;
    char *p = s;
    while (p && *p) {
        if (n == max)
            return -1;
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (!*p)
            return -1;
        parts[n++] = p;
        p = comma ? comma + 1 : NULL;
    }
    return n;
}

static json_t *number_json(double v)
{
    if (isfinite(v) && v == floor(v) && fabs(v) < 9.0e15)
        return json_integer((json_int_t)v);
    return json_real(v);
}

static void print_value(FILE *out, double v)
{
    if (isfinite(v) && v == floor(v) && fabs(v) < 9.0e15)
        fprintf(out, "%.0f", v);
    else
        fprintf(out, "%.15g", v);
}

/* Writes a CSV field, quoted when it holds a comma, quote or newline. */
static void csv_field(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static const char *group_label(const struct ts_agg_group *g, const char *name)
{
    for (size_t i = 0; i < g->n_labels; i++) {
        if (strcmp(g->labels[i].name, name) == 0)
            return g->labels[i].value;
    }
    return "";
}

static int print_query(const struct ts_agg_result *r, const char *metric, const char *step,
                       char **group_by, int n_group, enum fmt f)
{
    char ts[32];
    if (f == FMT_JSON) {
        json_t *root = json_pack("{s:s, s:s, s:[]}", "metric", metric, "step", step, "series");
        json_t *series = json_object_get(root, "series");
        for (size_t i = 0; i < r->n_groups; i++) {
            const struct ts_agg_group *g = &r->groups[i];
            json_t *labels = json_object(), *pts = json_array();
            for (size_t l = 0; l < g->n_labels; l++)
                json_object_set_new(labels, g->labels[l].name, json_string(g->labels[l].value));
            for (size_t p = 0; p < g->n_points; p++)
                json_array_append_new(
                    pts, json_pack("[I, o]", (json_int_t)g->times[p], number_json(g->values[p])));
            json_array_append_new(series, json_pack("{s:o, s:o}", "labels", labels, "points", pts));
        }
        if (r->n_groups == 0 && n_group == 0)
            json_array_append_new(series, json_pack("{s:{}, s:[]}", "labels", "points"));
        int rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
        fputc('\n', stdout);
        json_decref(root);
        return rc == 0 ? 0 : EXIT_RUNTIME;
    }
    if (f == FMT_CSV) {
        fputs("time", stdout);
        for (int l = 0; l < n_group; l++) {
            fputc(',', stdout);
            csv_field(stdout, group_by[l]);
        }
        printf(",%s\n", metric);
        for (size_t i = 0; i < r->n_groups; i++) {
            const struct ts_agg_group *g = &r->groups[i];
            for (size_t p = 0; p < g->n_points; p++) {
                fputs(tu_format_time(g->times[p], ts, sizeof ts), stdout);
                for (int l = 0; l < n_group; l++) {
                    fputc(',', stdout);
                    csv_field(stdout, group_label(g, group_by[l]));
                }
                fputc(',', stdout);
                print_value(stdout, g->values[p]);
                fputc('\n', stdout);
            }
        }
        return 0;
    }
    /* table: one block per group, aligned columns */
    int width[MAX_LABELS];
    for (int l = 0; l < n_group; l++) {
        width[l] = (int)strlen(group_by[l]);
        for (size_t i = 0; i < r->n_groups; i++) {
            int w = (int)strlen(group_label(&r->groups[i], group_by[l]));
            if (w > width[l])
                width[l] = w;
        }
    }
    printf("%-20s", "TIME");
    for (int l = 0; l < n_group; l++)
        printf("  %-*s", width[l], group_by[l]);
    printf("  %s\n", metric);
    size_t rows = 0;
    for (size_t i = 0; i < r->n_groups; i++) {
        const struct ts_agg_group *g = &r->groups[i];
        for (size_t p = 0; p < g->n_points; p++, rows++) {
            printf("%-20s", tu_format_time(g->times[p], ts, sizeof ts));
            for (int l = 0; l < n_group; l++)
                printf("  %-*s", width[l], group_label(g, group_by[l]));
            printf("  ");
            print_value(stdout, g->values[p]);
            printf("\n");
        }
    }
    if (rows == 0)
        printf("(no data)\n");
    return 0;
}

static int parse_time_opt(const char *cmd, const char *name, const char *arg, int64_t *out)
{
    if (tu_parse_time(arg, out) != 0) {
        fprintf(stderr,
                "byokwatch %s: %s: bad time \"%s\" (use RFC 3339 like 2026-11-20T13:00:00Z "
                "or a date like 2026-11-20)\n",
                cmd, name, arg);
        return EXIT_USAGE;
    }
    return 0;
}

static int cmd_query(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},   {"metric", required_argument, NULL, 'm'},
        {"provider", required_argument, NULL, 'p'}, {"match", required_argument, NULL, 'M'},
        {"from", required_argument, NULL, 'f'},     {"to", required_argument, NULL, 't'},
        {"now", required_argument, NULL, 'n'},      {"group-by", required_argument, NULL, 'g'},
        {"step", required_argument, NULL, 's'},     {"format", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},           {0}};
    const char *path = NULL, *metric = NULL, *provider = NULL, *step_s = "1h";
    char *match_s = NULL, *group_s = NULL;
    int64_t from = 0, to = 0, now = (int64_t)time(NULL);
    int have_from = 0, have_to = 0;
    enum fmt f = FMT_TABLE;
    int ch, rc;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:m:p:M:f:t:n:g:s:F:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': path = optarg; break;
        case 'm': metric = optarg; break;
        case 'p': provider = optarg; break;
        case 'M': match_s = optarg; break;
        case 'g': group_s = optarg; break;
        case 's': step_s = optarg; break;
        case 'f':
            if ((rc = parse_time_opt("query", "--from", optarg, &from)) != 0)
                return rc;
            have_from = 1;
            break;
        case 't':
            if ((rc = parse_time_opt("query", "--to", optarg, &to)) != 0)
                return rc;
            have_to = 1;
            break;
        case 'n':
            if ((rc = parse_time_opt("query", "--now", optarg, &now)) != 0)
                return rc;
            break;
        case 'F':
            if (strcmp(optarg, "table") == 0)
                f = FMT_TABLE;
            else if (strcmp(optarg, "json") == 0)
                f = FMT_JSON;
            else if (strcmp(optarg, "csv") == 0)
                f = FMT_CSV;
            else
                return usage_error("query", "--format must be table, json or csv, not '%s'",
                                   optarg);
            break;
        case 'h': print_help(find_command("query"), stdout); return 0;
        default: return EXIT_USAGE;
        }
    }
    if (optind < argc)
        return usage_error("query", "unexpected argument '%s'", argv[optind]);
    if (!metric)
        return usage_error("query", "%s", "--metric NAME is required");
    int64_t step;
    if (strcmp(step_s, "1h") == 0)
        step = TU_HOUR;
    else if (strcmp(step_s, "1d") == 0)
        step = TU_DAY;
    else
        return usage_error("query", "--step must be 1h or 1d, not '%s'", step_s);
    if (!have_to)
        to = tu_floor(now, step) + step;
    if (!have_from)
        from = to - (int64_t)7 * TU_DAY;
    if (to <= from)
        return usage_error("query", "%s", "--from must be before --to");

    char *group_by[MAX_LABELS], *match_parts[MAX_LABELS];
    int n_group = 0, n_match_parts = 0;
    if (group_s && (n_group = split_list(group_s, group_by, MAX_LABELS)) < 0)
        return usage_error("query", "bad --group-by list '%s'", group_s);
    if (match_s && (n_match_parts = split_list(match_s, match_parts, MAX_LABELS - 1)) < 0)
        return usage_error("query", "bad --match list '%s'", match_s);
    struct ts_label match[MAX_LABELS];
    size_t n_match = 0;
    for (int i = 0; i < n_match_parts; i++) {
        char *eq = strchr(match_parts[i], '=');
        if (!eq || eq == match_parts[i])
            return usage_error("query", "--match wants LABEL=VALUE, got '%s'", match_parts[i]);
        *eq = '\0';
        match[n_match++] = (struct ts_label){match_parts[i], eq + 1};
    }
    if (provider)
        match[n_match++] = (struct ts_label){"provider", provider};

    struct config *cfg = NULL;
    if ((rc = load_config("query", path, &cfg)) != 0)
        return rc;
    struct ts_store *st = NULL;
    struct ts_options so = {.read_only = 1, .retention = cfg->retention};
    char err[1024];
    int orc = ts_open(cfg->data_dir, &so, &st, err, sizeof err);
    if (orc != 0) {
        fprintf(stderr, "byokwatch query: %s\n", err);
        cfg_free(cfg);
        return EXIT_RUNTIME;
    }
    struct ts_agg_query q = {.metric = metric,
                             .match = match,
                             .n_match = n_match,
                             .group_by = (const char *const *)group_by,
                             .n_group_by = (size_t)n_group,
                             .from = from,
                             .to = to,
                             .step = step};
    struct ts_agg_result res;
    if (ts_aggregate(st, &q, &res, err, sizeof err) != 0) {
        fprintf(stderr, "byokwatch query: %s\n", err);
        rc = EXIT_RUNTIME;
    } else {
        rc = print_query(&res, metric, step_s, group_by, n_group, f);
        ts_agg_free(&res);
    }
    ts_close(st);
    cfg_free(cfg);
    return rc;
}

/* ---- run ---- */

static int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"once", no_argument, NULL, 'o'},
                                         {"now", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *path = NULL;
    int once = 0, ch, rc;
    int64_t now = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:on:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': path = optarg; break;
        case 'o': once = 1; break;
        case 'n':
            if ((rc = parse_time_opt("run", "--now", optarg, &now)) != 0)
                return rc;
            break;
        case 'h': print_help(find_command("run"), stdout); return 0;
        default: return EXIT_USAGE;
        }
    }
    if (optind < argc)
        return usage_error("run", "unexpected argument '%s'", argv[optind]);
    struct config *cfg = NULL;
    if ((rc = load_config("run", path, &cfg)) != 0)
        return rc;
    struct col_run_opts ro = {.config_path = path, .cfg = cfg, .once = once, .now = now};
    return col_run(&ro);
}

/* ---- alerts ---- */

struct alerts_out {
    int json;
    json_t *list;
    size_t n;
    json_t *silences;
    int64_t now;
};

static const char *state_time(const json_t *st, const char *key, char *buf, size_t len)
{
    json_int_t t = json_integer_value(json_object_get(st, key));
    if (t <= 0)
        return "-";
    return tu_format_time((int64_t)t, buf, len);
}

static int print_alert(const json_t *st, void *ud)
{
    struct alerts_out *o = ud;
    char a[32], b[32];
    o->n++;
    const char *sil = strcmp(json_string_value(json_object_get(st, "status")), "firing") == 0
                          ? alert_silenced_by(o->silences, st, o->now)
                          : NULL;
    if (o->json) {
        json_t *c = json_deep_copy(st);
        if (c && sil)
            json_object_set_new(c, "silenced_by", json_string(sil));
        static const char *const times[] = {"starts_at", "ends_at", "last_eval", "last_notified"};
        for (size_t i = 0; c && i < sizeof times / sizeof times[0]; i++) {
            json_int_t t = json_integer_value(json_object_get(c, times[i]));
            if (t > 0)
                json_object_set_new(c, times[i],
                                    json_string(tu_format_time((int64_t)t, a, sizeof a)));
            else
                json_object_set_new(c, times[i], json_null());
        }
        return c && json_array_append_new(o->list, c) == 0 ? 0 : -1;
    }
    printf("%-8s  %-8s  %-22s  %-20s  %-20s  %s\n",
           sil ? "silenced" : json_string_value(json_object_get(st, "status")),
           json_string_value(json_object_get(st, "severity")),
           json_string_value(json_object_get(st, "rule_name")),
           state_time(st, "starts_at", a, sizeof a), state_time(st, "ends_at", b, sizeof b),
           json_string_value(json_object_get(st, "summary")));
    return 0;
}

static int cmd_alerts(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"status", required_argument, NULL, 's'},
                                         {"format", required_argument, NULL, 'F'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *path = NULL, *status = "firing", *format = "table";
    int ch, rc;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:s:F:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': path = optarg; break;
        case 's': status = optarg; break;
        case 'F': format = optarg; break;
        case 'h': print_help(find_command("alerts"), stdout); return 0;
        default: return EXIT_USAGE;
        }
    }
    if (optind < argc)
        return usage_error("alerts", "unexpected argument '%s'", argv[optind]);
    if (strcmp(status, "firing") != 0 && strcmp(status, "resolved") != 0 &&
        strcmp(status, "all") != 0)
        return usage_error("alerts", "--status must be firing, resolved or all, not '%s'", status);
    if (strcmp(format, "table") != 0 && strcmp(format, "json") != 0)
        return usage_error("alerts", "--format must be table or json, not '%s'", format);
    struct config *cfg = NULL;
    if ((rc = load_config("alerts", path, &cfg)) != 0)
        return rc;
    struct ts_store *st = NULL;
    struct ts_options so = {.read_only = 1, .retention = cfg->retention};
    char err[1024];
    if (ts_open(cfg->data_dir, &so, &st, err, sizeof err) != 0) {
        fprintf(stderr, "byokwatch alerts: %s\n", err);
        cfg_free(cfg);
        return EXIT_RUNTIME;
    }
    struct alerts_out o = {.json = strcmp(format, "json") == 0,
                           .list = json_array(),
                           .silences = alert_silences_load(cfg->data_dir, err, sizeof err),
                           .now = (int64_t)time(NULL)};
    if (!o.silences)
        o.silences = json_array(); /* an unreadable silences file hides no alert here */
    if (!o.json)
        printf("%-8s  %-8s  %-22s  %-20s  %-20s  %s\n", "STATUS", "SEVERITY", "RULE", "STARTS_AT",
               "ENDS_AT", "SUMMARY");
    if (!o.list || alert_list(st, strcmp(status, "all") == 0 ? NULL : status, print_alert, &o, err,
                              sizeof err) != 0) {
        fprintf(stderr, "byokwatch alerts: %s\n", o.list ? err : "out of memory");
        rc = EXIT_RUNTIME;
    } else if (o.json) {
        json_t *doc = json_pack("{s:s, s:O}", "status", status, "alerts", o.list);
        char *txt = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) : NULL;
        if (txt)
            printf("%s\n", txt);
        rc = txt ? 0 : EXIT_RUNTIME;
        free(txt);
        json_decref(doc);
    } else if (o.n == 0) {
        printf("(no %s alerts)\n", strcmp(status, "all") == 0 ? "" : status);
    }
    json_decref(o.list);
    json_decref(o.silences);
    ts_close(st);
    cfg_free(cfg);
    return rc;
}

/* ---- report ---- */

/* Writes len bytes to path through a temporary file renamed over it. 0 ok, -1 with err. */
static int write_atomic(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp) {
        snprintf(err, errlen, "%.512s: path too long", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%.512s: %s", tmp, strerror(errno));
        return -1;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    int rc = off == len && fsync(fd) == 0 ? 0 : -1;
    int saved = errno;
    if (close(fd) != 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -1;
        saved = errno;
    }
    if (rc != 0) {
        snprintf(err, errlen, "writing %.512s: %s", path, strerror(saved));
        unlink(tmp);
    }
    return rc;
}

static int cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"week", required_argument, NULL, 'w'},
                                         {"from", required_argument, NULL, 'f'},
                                         {"to", required_argument, NULL, 't'},
                                         {"format", required_argument, NULL, 'F'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"now", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *path = NULL, *week = NULL, *format = "md", *out = NULL;
    int64_t from = 0, to = 0, now = (int64_t)time(NULL);
    int have_from = 0, have_to = 0, ch, rc;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:w:f:t:F:o:n:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': path = optarg; break;
        case 'w': week = optarg; break;
        case 'F': format = optarg; break;
        case 'o': out = optarg; break;
        case 'f':
            if ((rc = parse_time_opt("report", "--from", optarg, &from)) != 0)
                return rc;
            have_from = 1;
            break;
        case 't':
            if ((rc = parse_time_opt("report", "--to", optarg, &to)) != 0)
                return rc;
            have_to = 1;
            break;
        case 'n':
            if ((rc = parse_time_opt("report", "--now", optarg, &now)) != 0)
                return rc;
            break;
        case 'h': print_help(find_command("report"), stdout); return 0;
        default: return EXIT_USAGE;
        }
    }
    if (optind < argc)
        return usage_error("report", "unexpected argument '%s'", argv[optind]);
    int (*render)(const json_t *, char **, size_t *, char *, size_t) = NULL;
    if (strcmp(format, "md") == 0)
        render = rep_render_md;
    else if (strcmp(format, "html") == 0)
        render = rep_render_html;
    else if (strcmp(format, "csv") == 0)
        render = rep_render_csv;
    else if (strcmp(format, "json") == 0)
        render = rep_render_json;
    else
        return usage_error("report", "--format must be md, html, csv or json, not '%s'", format);
    if (week && (have_from || have_to))
        return usage_error("report", "%s", "give either --week or --from and --to, not both");
    if (have_from != have_to)
        return usage_error("report", "%s", "--from and --to go together");
    if (week) {
        if (rep_parse_week(week, &from, &to) != 0)
            return usage_error("report", "bad --week '%s' (use an ISO week like 2026-W47)", week);
    } else if (have_from) {
        if (from % TU_DAY != 0 || to % TU_DAY != 0)
            return usage_error("report", "%s", "--from and --to must be whole UTC days");
        if (to <= from)
            return usage_error("report", "%s", "--from must be before --to");
        if ((to - from) / TU_DAY > REP_MAX_DAYS)
            return usage_error("report", "a report covers at most %d days", REP_MAX_DAYS);
    } else {
        rep_last_complete_week(now, &from, &to);
    }
    struct config *cfg = NULL;
    if ((rc = load_config("report", path, &cfg)) != 0)
        return rc;
    const char *tz = cfg->report.timezone ? cfg->report.timezone : cfg->timezone;
    if (tz && strcmp(tz, "UTC") != 0 && strcmp(tz, "Etc/UTC") != 0)
        fprintf(stderr,
                "byokwatch report: note: timezone %s is not applied; days and weeks are "
                "UTC\n",
                tz);
    struct ts_store *st = NULL;
    struct ts_options so = {.read_only = 1, .retention = cfg->retention};
    char err[1024];
    if (ts_open(cfg->data_dir, &so, &st, err, sizeof err) != 0) {
        fprintf(stderr, "byokwatch report: %s\n", err);
        cfg_free(cfg);
        return EXIT_RUNTIME;
    }
    json_t *doc = NULL;
    char *text = NULL;
    size_t len = 0;
    rc = EXIT_RUNTIME;
    if (rep_build(st, cfg, from, to, now, &doc, err, sizeof err) != 0 ||
        render(doc, &text, &len, err, sizeof err) != 0) {
        fprintf(stderr, "byokwatch report: %s\n", err);
    } else if (out) {
        if (write_atomic(out, text, len, err, sizeof err) != 0)
            fprintf(stderr, "byokwatch report: %s\n", err);
        else
            rc = 0;
    } else if (fwrite(text, 1, len, stdout) == len && fflush(stdout) == 0) {
        rc = 0;
    } else {
        fprintf(stderr, "byokwatch report: writing stdout: %s\n", strerror(errno));
    }
    free(text);
    json_decref(doc);
    ts_close(st);
    cfg_free(cfg);
    return rc;
}

/* ---- sink-test ---- */

static int cmd_sink_test(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"sink", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *path = NULL, *name = NULL;
    int ch, rc;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:s:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': path = optarg; break;
        case 's': name = optarg; break;
        case 'h': print_help(find_command("sink-test"), stdout); return 0;
        default: return EXIT_USAGE;
        }
    }
    if (optind < argc)
        return usage_error("sink-test", "unexpected argument '%s'", argv[optind]);
    if (!name)
        return usage_error("sink-test", "--sink NAME is required");
    struct config *cfg = NULL;
    if ((rc = load_config("sink-test", path, &cfg)) != 0)
        return rc;
    const struct cfg_sink *sink = NULL;
    for (size_t i = 0; i < cfg->n_sinks && !sink; i++) {
        if (strcmp(cfg->sinks[i].name, name) == 0)
            sink = &cfg->sinks[i];
    }
    if (!sink) {
        cfg_free(cfg);
        return usage_error("sink-test", "no sink named '%s' in the configuration", name);
    }
    int64_t now = (int64_t)time(NULL);
    char at[32], id[64], err[512];
    tu_format_time(now, at, sizeof at);
    snprintf(id, sizeof id, "sink-test-%lld", (long long)now);
    json_t *p = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:{}, s:[], s:s, s:n, s:s}",
        "version", "1", "id", id, "fingerprint", "0000000000000000", "status", "firing", "rule",
        "sink_test", "rule_name", "sink-test", "severity", "info", "summary",
        "byokwatch test alert: this sink is configured correctly", "labels", "provider",
        "byokwatch", "sink", name, "observed", "root_causes", "starts_at", at, "ends_at",
        "generated_at", at);
    rc = EXIT_RUNTIME;
    if (!p) {
        fprintf(stderr, "byokwatch sink-test: out of memory\n");
    } else if (alert_sink_send_once(cfg, sink, p, now, err, sizeof err) == 0) {
        printf("sink %s (%s): test alert delivered (%s)\n", name, sink->type, err[0] ? err : "ok");
        rc = 0;
    } else {
        fprintf(stderr, "byokwatch sink-test: sink %s (%s): %s\n", name, sink->type, err);
    }
    json_decref(p);
    cfg_free(cfg);
    return rc;
}

/* ---- silence ---- */

static int print_silence(const json_t *s, void *ud)
{
    (void)ud;
    char a[32], b[32], m[512] = "";
    size_t o = 0;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)json_object_get(s, "matchers"), k, v)
    {
        int n = snprintf(m + o, sizeof m - o, "%s%s=%s", o ? "," : "", k, json_string_value(v));
        if (n > 0 && (size_t)n < sizeof m - o)
            o += (size_t)n;
    }
    printf(
        "%-16s  %-8s  %-20s  %-20s  %-30s  %s\n", json_string_value(json_object_get(s, "id")),
        json_is_true(json_object_get(s, "active")) ? "active" : "expired",
        tu_format_time((int64_t)json_integer_value(json_object_get(s, "starts_at")), a, sizeof a),
        tu_format_time((int64_t)json_integer_value(json_object_get(s, "ends_at")), b, sizeof b), m,
        json_string_value(json_object_get(s, "comment")));
    return 0;
}

/* Creates the store when it does not exist yet, so silences.json has a home. */
static int ensure_store(const struct config *cfg, char *err, size_t errlen)
{
    struct ts_store *st = NULL;
    struct ts_options so = {.read_only = 1, .retention = cfg->retention};
    if (ts_open(cfg->data_dir, &so, &st, err, errlen) == 0) {
        ts_close(st);
        return 0;
    }
    so.read_only = 0;
    so.create = 1;
    int rc = ts_open(cfg->data_dir, &so, &st, err, errlen);
    if (rc == -TS_ELOCKED)
        return 0; /* a daemon has it: it exists */
    if (rc != 0)
        return -1;
    ts_close(st);
    return 0;
}

static int cmd_silence(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"match", required_argument, NULL, 'm'},
                                         {"for", required_argument, NULL, 'f'},
                                         {"comment", required_argument, NULL, 'C'},
                                         {"now", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *path = NULL, *match = NULL, *dur_s = NULL, *comment = NULL;
    int64_t now = (int64_t)time(NULL);
    int ch, rc;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:m:f:C:n:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': path = optarg; break;
        case 'm': match = optarg; break;
        case 'f': dur_s = optarg; break;
        case 'C': comment = optarg; break;
        case 'n':
            if ((rc = parse_time_opt("silence", "--now", optarg, &now)) != 0)
                return rc;
            break;
        case 'h': print_help(find_command("silence"), stdout); return 0;
        default: return EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return usage_error("silence", "say add, list or expire");
    const char *sub = argv[optind];
    int add = strcmp(sub, "add") == 0, list = strcmp(sub, "list") == 0,
        expire = strcmp(sub, "expire") == 0;
    if (!add && !list && !expire)
        return usage_error("silence", "unknown subcommand '%s' (add, list or expire)", sub);
    if ((expire && optind + 2 != argc) || (!expire && optind + 1 != argc))
        return usage_error("silence",
                           expire ? "expire takes one silence id" : "unexpected argument '%s'",
                           argv[argc - 1]);
    int64_t dur = 0;
    if (add) {
        if (!match || !dur_s || !comment)
            return usage_error("silence", "add needs --match, --for and --comment");
        if (tu_parse_duration(dur_s, &dur) != 0 || dur <= 0)
            return usage_error("silence", "bad --for duration '%s' (use e.g. 30m, 4h, 2d)", dur_s);
    }
    struct config *cfg = NULL;
    if ((rc = load_config("silence", path, &cfg)) != 0)
        return rc;
    char err[1024], id[32];
    rc = 0;
    if (add) {
        if (ensure_store(cfg, err, sizeof err) != 0 ||
            alert_silence_add(cfg->data_dir, match, dur, comment, now, id, sizeof id, err,
                              sizeof err) != 0) {
            fprintf(stderr, "byokwatch silence: %s\n", err);
            rc = strstr(err, "matcher") ? EXIT_USAGE : EXIT_RUNTIME;
        } else {
            printf("%s\n", id);
        }
    } else if (list) {
        printf("%-16s  %-8s  %-20s  %-20s  %-30s  %s\n", "ID", "STATE", "STARTS_AT", "ENDS_AT",
               "MATCHERS", "COMMENT");
        if (alert_silence_list(cfg->data_dir, now, print_silence, NULL, err, sizeof err) != 0) {
            fprintf(stderr, "byokwatch silence: %s\n", err);
            rc = EXIT_RUNTIME;
        }
    } else if (alert_silence_expire(cfg->data_dir, argv[optind + 1], now, err, sizeof err) != 0) {
        fprintf(stderr, "byokwatch silence: %s\n", err);
        rc = EXIT_RUNTIME;
    } else {
        printf("expired %s\n", argv[optind + 1]);
    }
    cfg_free(cfg);
    return rc;
}

/* ---- dispatch ---- */

static const struct command commands[] = {
    {"run",
     "Poll every configured provider's admin API and store what it reports. Runs until\n"
     "SIGTERM/SIGINT (SIGHUP reloads the configuration). With --once: one full cycle of\n"
     "every source (including any backfill still due) and one analysis of every rule,\n"
     "then exit 0 when every source and rule succeeded, 1 otherwise. --now pins the clock "
     "(backtests, demos, tests).",
     "run --config FILE [--once] [--now TIME]", cmd_run},
    {"check-config", "Validate the configuration and print a summary (never a secret).",
     "check-config --config FILE", cmd_check_config},
    {"query",
     "Sum a metric over the stored series matching the filters, per step and group.\n"
     "--from is inclusive, --to exclusive (defaults: the 7 days up to --now).\n"
     "--match LABEL=VALUE[,...] narrows by any label; --provider P is --match provider=P.",
     "query --config FILE --metric NAME [--provider P] [--match LABEL=VALUE[,...]]\n"
     "                 [--from TIME] [--to TIME] [--now TIME] [--group-by LABEL[,LABEL...]]\n"
     "                 [--step 1h|1d] [--format table|json|csv]",
     cmd_query},
    {"report",
     "Write the usage report of a period: totals against the period before, spend by\n"
     "provider, business unit, project, API key and model, daily cost, alerts, key\n"
     "inventory, first sightings, failed logins, countries, unpriced usage and data\n"
     "freshness. Without --week or --from/--to: the last complete ISO week before --now.\n"
     "Days and weeks are UTC; --from/--to are whole days (--to exclusive). Reads the data\n"
     "directory, so it works while the daemon runs. --out writes the file atomically.",
     "report --config FILE [--week YYYY-Www | --from TIME --to TIME]\n"
     "                 [--format md|html|csv|json] [--out FILE] [--now TIME]",
     cmd_report},
    {"alerts",
     "List the alerts the analyzers raised, with their state: firing ones by default.\n"
     "Reads the data directory, so it works while the daemon runs.",
     "alerts --config FILE [--status firing|resolved|all] [--format table|json]", cmd_alerts},
    {"sink-test",
     "Send one test alert to the named sink now (outside the outbox) and report what it\n"
     "answered: exit 0 when it accepted the alert, 1 otherwise.",
     "sink-test --config FILE --sink NAME", cmd_sink_test},
    {"silence",
     "Silence alerts whose labels match, for a while: they are still recorded and listed\n"
     "by 'alerts', but not delivered to any sink. 'add' prints the new silence's id.",
     "silence --config FILE add --match LABEL=VALUE[,...] --for DURATION --comment TEXT\n"
     "       byokwatch silence --config FILE list | expire ID",
     cmd_silence},
    {"version", "Print the version of byokwatch and its libraries.", "version", cmd_version},
};

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    }
    return NULL;
}

static void main_help(FILE *out)
{
    fprintf(out, "Usage: byokwatch COMMAND [OPTIONS]\n\n"
                 "Watches AI provider usage, cost and keys through their admin APIs.\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  byokwatch %s\n", commands[i].usage);
    fprintf(out, "\nTIME is RFC 3339 (2026-11-20T13:00:00Z) or a date (2026-11-20, 00:00 UTC).\n"
                 "Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.\n"
                 "Run 'byokwatch COMMAND --help' for one command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        main_help(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        main_help(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cmd_version(1, argv);
    const struct command *c = find_command(argv[1]);
    if (!c) {
        fprintf(stderr, "byokwatch: unknown command '%s'\n", argv[1]);
        main_help(stderr);
        return EXIT_USAGE;
    }
    return c->run(argc - 1, argv + 1);
}
