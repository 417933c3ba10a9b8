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
    const json_t *a = json_object_get(rep, "by_provider"), *o;
    size_t i;
    fputs("## By provider\n\n", f);
    if (none(f, a))
        return;
    HEADER(f, "Provider", ">Cost", ">Billed", ">Estimated", ">Input tokens", ">Output tokens",
           ">Requests", ">Change");
    json_array_foreach(a, i, o)
    {
        fputs("|", f);
        cell(f, str(o, "provider"));
        usd_cell(f, o, "cost_usd");
        usd_cell(f, o, "billed_cost_usd");
        usd_cell(f, o, "estimated_cost_usd");
        count_cell(f, o, "input_tokens");
        count_cell(f, o, "output_tokens");
        count_cell(f, o, "requests");
        pct_cell(f, o, "change_pct");
        fputs("\n", f);
    }
    fputs("\n", f);
}

static void by_unit(FILE *f, const json_t *rep)
{
    const json_t *a = json_object_get(rep, "by_business_unit"), *o;
    size_t i;
    fputs("## By business unit\n\n", f);
    if (none(f, a))
        return;
    HEADER(f, "Business unit", ">Cost", ">Billed", ">Estimated", ">Input tokens", ">Output tokens",
           ">Change");
    json_array_foreach(a, i, o)
    {
        fputs("|", f);
        cell(f, str(o, "business_unit"));
        usd_cell(f, o, "cost_usd");
        usd_cell(f, o, "billed_cost_usd");
        usd_cell(f, o, "estimated_cost_usd");
        count_cell(f, o, "input_tokens");
        count_cell(f, o, "output_tokens");
        pct_cell(f, o, "change_pct");
        fputs("\n", f);
    }
    fputs("\nUnits come from the configuration's business_units; anything unmapped is "
          "Unassigned. Usage is mapped by API key, then project; billed cost that carries no "
          "API key is mapped by project.\n\n",
          f);
}

static void by_project(FILE *f, const json_t *rep)
{
    const json_t *a = json_object_get(rep, "by_project"), *o;
    size_t i;
    fputs("## By project\n\n", f);
    if (none(f, a))
        return;
    HEADER(f, "Provider", "Account", "Project", "Business unit", ">Cost", ">Billed", ">Estimated",
           ">Change");
    json_array_foreach(a, i, o)
    {
        if (i == MD_ROWS)
            break;
        fputs("|", f);
        cell(f, str(o, "provider"));
        cell(f, str(o, "account"));
        cell(f, str(o, "project"));
        cell(f, str(o, "business_unit"));
        usd_cell(f, o, "cost_usd");
        usd_cell(f, o, "billed_cost_usd");
        usd_cell(f, o, "estimated_cost_usd");
        pct_cell(f, o, "change_pct");
        fputs("\n", f);
    }
    more(f, json_array_size(a), "projects");
}

static void by_key(FILE *f, const json_t *rep)
{
    const json_t *a = json_object_get(rep, "by_api_key"), *o;
    size_t i;
    fputs("## Top API keys by estimated cost\n\n", f);
    if (none(f, a))
        return;
    HEADER(f, "Provider", "Key", "Name", "Project", "Business unit", ">Estimated", ">Input tokens",
           ">Output tokens", ">Requests", ">Change");
    json_array_foreach(a, i, o)
    {
        fputs("|", f);
        cell(f, str(o, "provider"));
        cell(f, str(o, "api_key_id"));
        cell(f, str(o, "name"));
        cell(f, str(o, "project"));
        cell(f, str(o, "business_unit"));
        usd_cell(f, o, "estimated_cost_usd");
        count_cell(f, o, "input_tokens");
        count_cell(f, o, "output_tokens");
        count_cell(f, o, "requests");
        pct_cell(f, o, "change_pct");
        fputs("\n", f);
    }
    fputs("\n", f);
}

static void by_model(FILE *f, const json_t *rep)
{
    const json_t *a = json_object_get(rep, "by_model"), *o;
    size_t i;
    fputs("## Model mix\n\n", f);
    if (none(f, a))
        return;
    HEADER(f, "Provider", "Model", ">Estimated", ">Cost share", ">Input tokens", ">Output tokens",
           ">Token share", ">Change");
    json_array_foreach(a, i, o)
    {
        if (i == MD_ROWS)
            break;
        char b[32];
        fputs("|", f);
        cell(f, str(o, "provider"));
        cell(f, json_is_string(json_object_get(o, "model")) ? str(o, "model") : "(no model)");
        usd_cell(f, o, "estimated_cost_usd");
        fmt_share(json_object_get(o, "share"), b, sizeof b);
        cell(f, b);
        count_cell(f, o, "input_tokens");
        count_cell(f, o, "output_tokens");
        fmt_share(json_object_get(o, "token_share"), b, sizeof b);
        cell(f, b);
        pct_cell(f, o, "change_pct");
        fputs("\n", f);
    }
    more(f, json_array_size(a), "models");
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

/* A table column: its header, the row key it shows, and whether that is a time. */
struct col {
    const char *head, *key;
    int when;
};

/* "### <what> (n)" and a table of the rows of a, one cell per column. */
static void plain_table(FILE *f, const char *title_s, const json_t *a, const struct col *cols,
                        size_t n_cols, const char *what)
{
    const char *heads[8];
    size_t i;
    const json_t *o;
    fprintf(f, "### %s (%zu)\n\n", title_s, json_array_size(a));
    if (none(f, a))
        return;
    for (size_t c = 0; c < n_cols && c < 8; c++)
        heads[c] = cols[c].head;
    header(f, heads, n_cols < 8 ? n_cols : 8);
    json_array_foreach(a, i, o)
    {
        if (i == MD_ROWS)
            break;
        fputs("|", f);
        for (size_t c = 0; c < n_cols && c < 8; c++) {
            char b[32];
            if (cols[c].when) {
                fmt_when(json_object_get(o, cols[c].key), b, sizeof b);
                cell(f, b);
            } else {
                cell(f, str(o, cols[c].key));
            }
        }
        fputs("\n", f);
    }
    more(f, json_array_size(a), what);
}

static void first_seen(FILE *f, const json_t *rep)
{
    static const struct col keys[] = {{"Provider", "provider", 0},
                                      {"Account", "account", 0},
                                      {"Key", "api_key_id", 0},
                                      {"Name", "name", 0},
                                      {"First seen", "first_seen", 1}};
    static const struct col models[] = {{"Provider", "provider", 0},
                                        {"Account", "account", 0},
                                        {"Model", "model", 0},
                                        {"First seen", "first_seen", 1}};
    static const struct col countries[] = {{"Country", "country", 0},
                                           {"First seen", "first_seen", 1},
                                           {"Account", "account", 0},
                                           {"Actor", "actor", 0}};
    const json_t *ne = json_object_get(rep, "new_entities");
    fputs("## First seen this period\n\n", f);
    plain_table(f, "API keys", json_object_get(ne, "api_keys"), keys, 5, "keys");
    plain_table(f, "Models", json_object_get(ne, "models"), models, 4, "models");
    plain_table(f, "Countries", json_object_get(ne, "countries"), countries, 4, "countries");
}

static void count_table(FILE *f, const json_t *a, const char *title_, const char *col,
                        const char *count_col, const char *name_key, const char *count_key)
{
    const json_t *o;
    size_t i;
    fprintf(f, "## %s\n\n", title_);
    if (none(f, a))
        return;
    fprintf(f, "| %s | %s |\n|---|---:|\n", col, count_col);
    json_array_foreach(a, i, o)
    {
        if (i == MD_ROWS)
            break;
        fputs("|", f);
        cell(f, str(o, name_key));
        count_cell(f, o, count_key);
        fputs("\n", f);
    }
    more(f, json_array_size(a), "rows");
}

static void unpriced(FILE *f, const json_t *rep)
{
    const json_t *a = json_object_get(rep, "unpriced"), *o;
    size_t i;
    fputs("## Unpriced usage\n\n", f);
    if (none(f, a))
        return;
    HEADER(f, "Provider", "Model", ">Tokens");
    json_array_foreach(a, i, o)
    {
        if (i == MD_ROWS)
            break;
        fputs("|", f);
        cell(f, str(o, "provider"));
        cell(f, str(o, "model"));
        count_cell(f, o, "tokens");
        fputs("\n", f);
    }
    more(f, json_array_size(a), "models");
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
