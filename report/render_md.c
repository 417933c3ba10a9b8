/*
 * The report as Markdown (render.h), for Slack, email and wikis: a title
 * with the period, the headline totals against the period before, then one
 * table per section of the JSON document. Money is rounded to cents, long
 * lists are cut to MD_ROWS rows with a line saying how many were left out,
 * and a period without usage data says so instead of showing empty tables.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/timeutil.h"
#include "render.h"
#include "report.h"

#define MD_ROWS 25

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static double num(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

/* Writes s as a table cell: '|' escaped, line breaks as spaces, "-" when empty. */
static void cell(FILE *f, const char *s)
{
    fputs(" ", f);
    if (!s || !s[0]) {
        fputs("-", f);
    } else {
        for (; *s; s++) {
            if (*s == '|')
                fputs("\\|", f);
            else if (*s == '\n' || *s == '\r')
                fputc(' ', f);
            else
                fputc(*s, f);
        }
    }
    fputs(" |", f);
}

/* Digits of an integer magnitude with thousands separators. */
static void group_digits(unsigned long long v, char *buf, size_t len)
{
    char raw[32], out[48];
    int n = snprintf(raw, sizeof raw, "%llu", v), o = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = raw[i];
    }
    out[o] = '\0';
    snprintf(buf, len, "%s", out);
}

static void fmt_usd(double v, char *buf, size_t len)
{
    long long c = isfinite(v) ? llround(v * 100.0) : 0;
    unsigned long long m = c < 0 ? (unsigned long long)(-c) : (unsigned long long)c;
    char d[48];
    group_digits(m / 100, d, sizeof d);
    snprintf(buf, len, "%s$%s.%02llu", c < 0 ? "-" : "", d, m % 100);
}

static void fmt_count(double v, char *buf, size_t len)
{
    double r = isfinite(v) ? round(v) : 0;
    char d[48];
    group_digits((unsigned long long)fabs(r), d, sizeof d);
    snprintf(buf, len, "%s%s", r < 0 ? "-" : "", d);
}

static void fmt_pct(const json_t *v, char *buf, size_t len)
{
    if (!json_is_number(v))
        snprintf(buf, len, "n/a");
    else
        snprintf(buf, len, "%+.1f%%", json_number_value(v));
}

static void fmt_share(const json_t *v, char *buf, size_t len)
{
    if (!json_is_number(v))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.1f%%", json_number_value(v) * 100.0);
}

/* "2026-11-10T14:05:00Z" -> "2026-11-10 14:05"; "" when absent. */
static void fmt_when(const json_t *v, char *buf, size_t len)
{
    const char *s = json_string_value(v);
    if (!s || strlen(s) < 16) {
        snprintf(buf, len, "%s", s ? s : "");
        return;
    }
    snprintf(buf, len, "%.10s %.5s", s, s + 11);
}

static void fmt_open(json_int_t secs, char *buf, size_t len)
{
    long long d = secs / 86400, h = secs % 86400 / 3600, m = secs % 3600 / 60;
    if (d > 0)
        snprintf(buf, len, "%lldd %lldh", d, h);
    else if (h > 0)
        snprintf(buf, len, "%lldh %lldm", h, m);
    else if (m > 0)
        snprintf(buf, len, "%lldm", m);
    else
        snprintf(buf, len, "<1m");
}

static void usd_cell(FILE *f, const json_t *o, const char *k)
{
    char b[64];
    fmt_usd(num(o, k), b, sizeof b);
    cell(f, b);
}

static void count_cell(FILE *f, const json_t *o, const char *k)
{
    char b[64];
    fmt_count(num(o, k), b, sizeof b);
    cell(f, b);
}

static void pct_cell(FILE *f, const json_t *o, const char *k)
{
    char b[32];
    fmt_pct(json_object_get(o, k), b, sizeof b);
    cell(f, b);
}

/* A table header: columns separated by '|'; those starting with '>' are right-aligned. */
static void header(FILE *f, const char *const *cols, size_t n)
{
    fputs("|", f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, " %s |", cols[i][0] == '>' ? cols[i] + 1 : cols[i]);
    fputs("\n|", f);
    for (size_t i = 0; i < n; i++)
        fputs(cols[i][0] == '>' ? "---:|" : "---|", f);
    fputs("\n", f);
}

#define HEADER(f, ...)                                                                             \
    do {                                                                                           \
        static const char *const cols_[] = {__VA_ARGS__};                                          \
        header(f, cols_, sizeof cols_ / sizeof cols_[0]);                                          \
    } while (0)

/* Ends a table: a note when rows were left out, then a blank line. */
static void more(FILE *f, size_t total, const char *what)
{
    if (total > MD_ROWS)
        fprintf(f, "\n_... and %zu more %s (see the csv or json form)._\n", total - MD_ROWS, what);
    fputs("\n", f);
}

static int none(FILE *f, const json_t *a)
{
    if (json_array_size(a) > 0)
        return 0;
    fputs("None.\n\n", f);
    return 1;
}

/* What a column shows: text, or a value formatted (and right-aligned when a number). */
enum col_kind { COL_TEXT, COL_WHEN, COL_USD, COL_COUNT, COL_PCT, COL_SHARE };

struct col {
    const char *head, *key;
    enum col_kind kind;
    const char *missing; /* COL_TEXT: shown when the row has no string there (NULL: "-") */
};

/*
 * A table of the rows of a (which must not be empty), one cell per column.
 * what NULL shows every row; otherwise the first MD_ROWS and a note naming
 * what was left out.
 */
static void table(FILE *f, const json_t *a, const struct col *cols, size_t n, const char *what)
{
    const json_t *o;
    size_t i;
    fputs("|", f);
    for (size_t c = 0; c < n; c++)
        fprintf(f, " %s |", cols[c].head);
    fputs("\n|", f);
    for (size_t c = 0; c < n; c++)
        fputs(cols[c].kind == COL_TEXT || cols[c].kind == COL_WHEN ? "---|" : "---:|", f);
    fputs("\n", f);
    json_array_foreach(a, i, o)
    {
        if (what && i == MD_ROWS)
            break;
        fputs("|", f);
        for (size_t c = 0; c < n; c++) {
            const json_t *v = json_object_get(o, cols[c].key);
            char b[64];
            switch (cols[c].kind) {
            case COL_TEXT:
                cell(f, json_is_string(v) || !cols[c].missing ? json_string_value(v)
                                                              : cols[c].missing);
                continue;
            case COL_WHEN: fmt_when(v, b, sizeof b); break;
            case COL_USD: fmt_usd(json_number_value(v), b, sizeof b); break;
            case COL_COUNT: fmt_count(json_number_value(v), b, sizeof b); break;
            case COL_PCT: fmt_pct(v, b, sizeof b); break;
            case COL_SHARE: fmt_share(v, b, sizeof b); break;
            }
            cell(f, b);
        }
        fputs("\n", f);
    }
    if (what)
        more(f, json_array_size(a), what);
    else
        fputs("\n", f);
}

/* "## <title>" and its table, or "None.". */
static void section(FILE *f, const char *title_s, const json_t *a, const struct col *cols, size_t n,
                    const char *what)
{
    fprintf(f, "## %s\n\n", title_s);
    if (!none(f, a))
        table(f, a, cols, n, what);
}

#define NCOLS(c) (sizeof(c) / sizeof(c)[0])

static void title(FILE *f, const json_t *rep)
{
    const json_t *p = json_object_get(rep, "period");
    int64_t from = 0, to = 0;
    tu_parse_time(str(p, "from"), &from);
    tu_parse_time(str(p, "to"), &to);
    char a[32], z[32];
    tu_format_time(from, a, sizeof a);
    tu_format_time(to - TU_DAY, z, sizeof z);
    int year, week;
    rep_week_of(from, &year, &week);
    int64_t wf, wt;
    if (rep_iso_week(year, week, &wf, &wt) == 0 && wf == from && wt == to)
        fprintf(f, "# AI provider usage report: %04d-W%02d\n\n", year, week);
    else
        fprintf(f, "# AI provider usage report: %.10s to %.10s\n\n", a, z);
    long long days = (to - from) / TU_DAY;
    fprintf(f, "Period: %.10s to %.10s (%lld day%s, UTC), compared with the %lld day%s before.\n\n",
            a, z, days, days == 1 ? "" : "s", days, days == 1 ? "" : "s");
}

static void totals(FILE *f, const json_t *rep)
{
    static const struct {
        const char *key, *label;
        int money;
    } rows[] = {
        {"cost_usd", "Cost", 1},
        {"billed_cost_usd", "Billed cost", 1},
        {"estimated_cost_usd", "Estimated cost", 1},
        {"input_tokens", "Input tokens", 0},
        {"output_tokens", "Output tokens", 0},
        {"requests", "Requests", 0},
        {"unpriced_tokens", "Unpriced tokens", 0},
    };
    const json_t *cur = json_object_get(rep, "totals"),
                 *prev = json_object_get(rep, "previous_totals"),
                 *chg = json_object_get(rep, "change_pct");
    fputs("## Totals\n\n", f);
    HEADER(f, "", ">This period", ">Previous period", ">Change");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        fputs("|", f);
        cell(f, rows[i].label);
        if (rows[i].money) {
            usd_cell(f, cur, rows[i].key);
            usd_cell(f, prev, rows[i].key);
        } else {
            count_cell(f, cur, rows[i].key);
            count_cell(f, prev, rows[i].key);
        }
        pct_cell(f, chg, rows[i].key);
        fputs("\n", f);
    }
    fputs("\nCost is the provider's billed cost for each day it has billed and byokwatch's "
          "estimate (usage times the price table) for days not billed yet. Unpriced tokens are "
          "usage of models without a known price; they are in no cost figure.\n\n",
          f);
}

static void by_provider(FILE *f, const json_t *rep)
{
    static const struct col cols[] = {{"Provider", "provider", COL_TEXT, NULL},
                                      {"Cost", "cost_usd", COL_USD, NULL},
                                      {"Billed", "billed_cost_usd", COL_USD, NULL},
                                      {"Estimated", "estimated_cost_usd", COL_USD, NULL},
                                      {"Input tokens", "input_tokens", COL_COUNT, NULL},
                                      {"Output tokens", "output_tokens", COL_COUNT, NULL},
                                      {"Requests", "requests", COL_COUNT, NULL},
                                      {"Change", "change_pct", COL_PCT, NULL}};
    section(f, "By provider", json_object_get(rep, "by_provider"), cols, NCOLS(cols), NULL);
}

static void by_unit(FILE *f, const json_t *rep)
{
    static const struct col cols[] = {{"Business unit", "business_unit", COL_TEXT, NULL},
                                      {"Cost", "cost_usd", COL_USD, NULL},
                                      {"Billed", "billed_cost_usd", COL_USD, NULL},
                                      {"Estimated", "estimated_cost_usd", COL_USD, NULL},
                                      {"Input tokens", "input_tokens", COL_COUNT, NULL},
                                      {"Output tokens", "output_tokens", COL_COUNT, NULL},
                                      {"Change", "change_pct", COL_PCT, NULL}};
    const json_t *a = json_object_get(rep, "by_business_unit");
    section(f, "By business unit", a, cols, NCOLS(cols), NULL);
    if (json_array_size(a) == 0)
        return;
    fputs("Units come from the configuration's business_units; anything unmapped is "
          "Unassigned. Usage is mapped by API key, then project; billed cost that carries no "
          "API key is mapped by project.\n\n",
          f);
}

static void by_project(FILE *f, const json_t *rep)
{
    static const struct col cols[] = {{"Provider", "provider", COL_TEXT, NULL},
                                      {"Account", "account", COL_TEXT, NULL},
                                      {"Project", "project", COL_TEXT, NULL},
                                      {"Business unit", "business_unit", COL_TEXT, NULL},
                                      {"Cost", "cost_usd", COL_USD, NULL},
                                      {"Billed", "billed_cost_usd", COL_USD, NULL},
                                      {"Estimated", "estimated_cost_usd", COL_USD, NULL},
                                      {"Change", "change_pct", COL_PCT, NULL}};
    section(f, "By project", json_object_get(rep, "by_project"), cols, NCOLS(cols), "projects");
}

static void by_key(FILE *f, const json_t *rep)
{
    static const struct col cols[] = {{"Provider", "provider", COL_TEXT, NULL},
                                      {"Key", "api_key_id", COL_TEXT, NULL},
                                      {"Name", "name", COL_TEXT, NULL},
                                      {"Project", "project", COL_TEXT, NULL},
                                      {"Business unit", "business_unit", COL_TEXT, NULL},
                                      {"Estimated", "estimated_cost_usd", COL_USD, NULL},
                                      {"Input tokens", "input_tokens", COL_COUNT, NULL},
                                      {"Output tokens", "output_tokens", COL_COUNT, NULL},
                                      {"Requests", "requests", COL_COUNT, NULL},
                                      {"Change", "change_pct", COL_PCT, NULL}};
    section(f, "Top API keys by estimated cost", json_object_get(rep, "by_api_key"), cols,
            NCOLS(cols), NULL);
}

static void by_model(FILE *f, const json_t *rep)
{
    static const struct col cols[] = {{"Provider", "provider", COL_TEXT, NULL},
                                      {"Model", "model", COL_TEXT, "(no model)"},
                                      {"Estimated", "estimated_cost_usd", COL_USD, NULL},
                                      {"Cost share", "share", COL_SHARE, NULL},
                                      {"Input tokens", "input_tokens", COL_COUNT, NULL},
                                      {"Output tokens", "output_tokens", COL_COUNT, NULL},
                                      {"Token share", "token_share", COL_SHARE, NULL},
                                      {"Change", "change_pct", COL_PCT, NULL}};
    const json_t *a = json_object_get(rep, "by_model");
    section(f, "Model mix", a, cols, NCOLS(cols), "models");
    if (json_array_size(a) == 0)
        return;
    fputs("Shares are of the estimated cost and of all tokens: every provider reports usage per "
          "model, not every provider bills per model.\n\n",
          f);
}

static void daily(FILE *f, const json_t *rep)
{
    const json_t *a = json_object_get(rep, "daily"), *o;
    const json_t *providers = json_object_get(json_array_get(a, 0), "by_provider");
    size_t i;
    fputs("## Daily cost\n\n", f);
    if (none(f, a))
        return;
    fputs("| Date | Cost | Billed | Estimated |", f);
    const char *p;
    const json_t *v;
    json_object_foreach((json_t *)providers, p, v)
    {
        cell(f, p);
    }
    fputs("\n|---|---:|---:|---:|", f);
    for (size_t k = 0; k < json_object_size(providers); k++)
        fputs("---:|", f);
    fputs("\n", f);
    json_array_foreach(a, i, o)
    {
        fputs("|", f);
        cell(f, str(o, "date"));
        usd_cell(f, o, "cost_usd");
        usd_cell(f, o, "billed_cost_usd");
        usd_cell(f, o, "estimated_cost_usd");
        const json_t *bp = json_object_get(o, "by_provider");
        json_object_foreach((json_t *)providers, p, v)
        {
            usd_cell(f, bp, p);
        }
        fputs("\n", f);
    }
    fputs("\n", f);
}

static void alert_table(FILE *f, const json_t *a, const char *what, int resolved)
{
    const json_t *o;
    size_t i;
    fprintf(f, "### %s (%zu)\n\n", what, json_array_size(a));
    if (none(f, a))
        return;
    if (resolved)
        HEADER(f, "Severity", "Rule", "Started", "Resolved", "Open for", "Summary");
    else
        HEADER(f, "Severity", "Rule", "Started", "Status", "Open for", "Summary");
    json_array_foreach(a, i, o)
    {
        if (i == MD_ROWS)
            break;
        char b[32];
        fputs("|", f);
        cell(f, str(o, "severity"));
        cell(f, str(o, "rule_name"));
        fmt_when(json_object_get(o, "starts_at"), b, sizeof b);
        cell(f, b);
        if (resolved)
            fmt_when(json_object_get(o, "ends_at"), b, sizeof b);
        cell(f, resolved ? b : str(o, "status"));
        fmt_open(json_integer_value(json_object_get(o, "open_seconds")), b, sizeof b);
        cell(f, b);
        cell(f, str(o, "summary"));
        fputs("\n", f);
    }
    more(f, json_array_size(a), "alerts");
}

static void alerts(FILE *f, const json_t *rep)
{
    const json_t *al = json_object_get(rep, "alerts");
    fputs("## Alerts\n\n", f);
    alert_table(f, json_object_get(al, "fired"), "Fired", 0);
    alert_table(f, json_object_get(al, "resolved"), "Resolved", 1);
}

static void key_table(FILE *f, const json_t *a, const char *what, const char *time_col,
                      const char *time_key)
{
    const json_t *o;
    size_t i;
    fprintf(f, "### %s (%zu)\n\n", what, json_array_size(a));
    if (none(f, a))
        return;
    fprintf(f, "| Provider | Account | Key | Name | Project | %s | Age (days) |\n", time_col);
    fputs("|---|---|---|---|---|---|---:|\n", f);
    json_array_foreach(a, i, o)
    {
        if (i == MD_ROWS)
            break;
        char b[32];
        fputs("|", f);
        cell(f, str(o, "provider"));
        cell(f, str(o, "account"));
        char id[256];
        snprintf(id, sizeof id, "%s%s", str(o, "api_key_id"),
                 strcmp(str(o, "kind"), "admin_key") == 0 ? " (admin key)" : "");
        cell(f, id);
        cell(f, str(o, "name"));
        cell(f, str(o, "project"));
        fmt_when(json_object_get(o, time_key), b, sizeof b);
        cell(f, b);
        if (json_is_number(json_object_get(o, "age_days")))
            fmt_count(num(o, "age_days"), b, sizeof b);
        else
            b[0] = '\0';
        cell(f, b);
        fputs("\n", f);
    }
    more(f, json_array_size(a), "keys");
}

static void keys(FILE *f, const json_t *rep)
{
    const json_t *k = json_object_get(rep, "keys");
    char what[96];
    fputs("## API key inventory\n\n", f);
    snprintf(what, sizeof what, "Due for rotation (active, older than %s)", str(k, "max_age"));
    key_table(f, json_object_get(k, "due_for_rotation"), what, "Created", "created_at");
    key_table(f, json_object_get(k, "unused"), "Active but unused this period", "Last used",
              "last_used_at");
    key_table(f, json_object_get(k, "created"), "Created this period", "Created", "created_at");
}

static void first_seen(FILE *f, const json_t *rep)
{
    static const struct col keys[] = {{"Provider", "provider", COL_TEXT, NULL},
                                      {"Account", "account", COL_TEXT, NULL},
                                      {"Key", "api_key_id", COL_TEXT, NULL},
                                      {"Name", "name", COL_TEXT, NULL},
                                      {"First seen", "first_seen", COL_WHEN, NULL}};
    static const struct col models[] = {{"Provider", "provider", COL_TEXT, NULL},
                                        {"Account", "account", COL_TEXT, NULL},
                                        {"Model", "model", COL_TEXT, NULL},
                                        {"First seen", "first_seen", COL_WHEN, NULL}};
    static const struct col countries[] = {{"Country", "country", COL_TEXT, NULL},
                                           {"First seen", "first_seen", COL_WHEN, NULL},
                                           {"Account", "account", COL_TEXT, NULL},
                                           {"Actor", "actor", COL_TEXT, NULL}};
    static const struct {
        const char *title, *key, *what;
        const struct col *cols;
        size_t n;
    } tables[] = {{"API keys", "api_keys", "keys", keys, NCOLS(keys)},
                  {"Models", "models", "models", models, NCOLS(models)},
                  {"Countries", "countries", "countries", countries, NCOLS(countries)}};
    const json_t *ne = json_object_get(rep, "new_entities");
    fputs("## First seen this period\n\n", f);
    for (size_t t = 0; t < NCOLS(tables); t++) {
        const json_t *a = json_object_get(ne, tables[t].key);
        fprintf(f, "### %s (%zu)\n\n", tables[t].title, json_array_size(a));
        if (!none(f, a))
            table(f, a, tables[t].cols, tables[t].n, tables[t].what);
    }
}

static void count_table(FILE *f, const json_t *a, const char *title_, const char *col,
                        const char *count_col, const char *name_key, const char *count_key)
{
    const struct col cols[] = {{col, name_key, COL_TEXT, NULL},
                               {count_col, count_key, COL_COUNT, NULL}};
    section(f, title_, a, cols, NCOLS(cols), "rows");
}

static void unpriced(FILE *f, const json_t *rep)
{
    static const struct col cols[] = {{"Provider", "provider", COL_TEXT, NULL},
                                      {"Model", "model", COL_TEXT, NULL},
                                      {"Tokens", "tokens", COL_COUNT, NULL}};
    const json_t *a = json_object_get(rep, "unpriced");
    section(f, "Unpriced usage", a, cols, NCOLS(cols), "models");
    if (json_array_size(a) == 0)
        return;
    fputs("These models have no price in the price table: their usage is in no estimated "
          "cost.\n\n",
          f);
}

static void freshness(FILE *f, const json_t *rep)
{
    const json_t *a = json_object_get(rep, "data_freshness"), *o;
    size_t i;
    fputs("## Data freshness\n\n", f);
    if (none(f, a))
        return;
    HEADER(f, "Source", "Provider", "Last data", "Last success", ">Failures", "Days without data");
    json_array_foreach(a, i, o)
    {
        char b[32], c[32];
        fputs("|", f);
        cell(f, str(o, "source"));
        cell(f, str(o, "provider"));
        fmt_when(json_object_get(o, "last_data"), b, sizeof b);
        cell(f, b);
        fmt_when(json_object_get(o, "last_success"), b, sizeof b);
        cell(f, b);
        fmt_count(num(o, "failures"), c, sizeof c);
        cell(f, c);
        const json_t *g = json_object_get(o, "gaps"), *d;
        size_t k;
        fputs(" ", f);
        if (json_array_size(g) == 0)
            fputs("none", f);
        json_array_foreach(g, k, d)
        {
            fprintf(f, "%s%s", k ? ", " : "", json_string_value(d));
        }
        fputs(" |\n", f);
    }
    fputs("\n", f);
}

int rep_render_md(const json_t *report, char **out, size_t *len, char *err, size_t errlen)
{
    if (!json_is_object(report) || !json_is_object(json_object_get(report, "totals"))) {
        snprintf(err, errlen, "not a report");
        return -1;
    }
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) {
        snprintf(err, errlen, "rendering md: out of memory");
        return -1;
    }
    title(f, report);
    if (json_is_true(json_object_get(report, "empty"))) {
        fputs("**No data for this period**: no source stored usage or cost for these days. "
              "See the data freshness below.\n\n",
              f);
    } else {
        totals(f, report);
        by_provider(f, report);
        by_unit(f, report);
        by_project(f, report);
        by_key(f, report);
        by_model(f, report);
        daily(f, report);
    }
    alerts(f, report);
    keys(f, report);
    first_seen(f, report);
    count_table(f, json_object_get(report, "auth_failures"), "Failed authentications", "Actor",
                "Failures", "actor", "count");
    count_table(f, json_object_get(report, "countries"), "Sign-in countries", "Country", "Sessions",
                "country", "sessions");
    unpriced(f, report);
    freshness(f, report);
    fputs("_Generated by byokwatch. Times are UTC._\n", f);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || !buf) {
        free(buf);
        snprintf(err, errlen, "rendering md: out of memory");
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}
