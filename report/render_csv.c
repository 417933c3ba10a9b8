/*
 * The report as CSV for finance (render.h): cost per project per day, read
 * from by_project[].daily of the JSON document, one row per (date,
 * provider, account, project) with data, sorted by those columns. Money is
 * rounded to cents. Fields are quoted when needed, and a field that a
 * spreadsheet would take for a formula (=, +, -, @ first) gets a leading '.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"

struct row {
    const char *date, *provider, *account, *project;
    double cost, billed, est;
};

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static int cmp_row(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    int c = strcmp(x->date, y->date);
    if (!c)
        c = strcmp(x->provider, y->provider);
    if (!c)
        c = strcmp(x->account, y->account);
    if (!c)
        c = strcmp(x->project, y->project);
    return c;
}

static void field(FILE *f, const char *s)
{
    int formula = s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@';
    if (!formula && !strpbrk(s, ",\"\n\r\t")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    if (formula)
        fputc('\'', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void money(FILE *f, double v)
{
    long long c = isfinite(v) ? llround(v * 100.0) : 0;
    unsigned long long m = c < 0 ? (unsigned long long)(-c) : (unsigned long long)c;
    fprintf(f, ",%s%llu.%02llu", c < 0 ? "-" : "", m / 100, m % 100);
}

int rep_render_csv(const json_t *report, char **out, size_t *len, char *err, size_t errlen)
{
    const json_t *projects = json_object_get(report, "by_project"), *p, *d;
    if (!json_is_object(report) || !json_is_array(projects)) {
        snprintf(err, errlen, "not a report");
        return -1;
    }
    size_t n = 0, cap = 0, i, k;
    json_array_foreach(projects, i, p)
    {
        cap += json_array_size(json_object_get(p, "daily"));
    }
    struct row *rows = malloc((cap ? cap : 1) * sizeof *rows);
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = rows ? open_memstream(&buf, &blen) : NULL;
    if (!f) {
        free(rows);
        snprintf(err, errlen, "rendering csv: out of memory");
        return -1;
    }
    json_array_foreach(projects, i, p)
    {
        json_array_foreach(json_object_get(p, "daily"), k, d)
        {
            if (n == cap)
                break;
            rows[n++] =
                (struct row){.date = str(d, "date"),
                             .provider = str(p, "provider"),
                             .account = str(p, "account"),
                             .project = str(p, "project"),
                             .cost = json_number_value(json_object_get(d, "cost_usd")),
                             .billed = json_number_value(json_object_get(d, "billed_cost_usd")),
                             .est = json_number_value(json_object_get(d, "estimated_cost_usd"))};
        }
    }
    qsort(rows, n, sizeof *rows, cmp_row);
    fputs("date,provider,account,project,cost_usd,billed_cost_usd,estimated_cost_usd\n", f);
    for (i = 0; i < n; i++) {
        field(f, rows[i].date);
        fputc(',', f);
        field(f, rows[i].provider);
        fputc(',', f);
        field(f, rows[i].account);
        fputc(',', f);
        field(f, rows[i].project);
        money(f, rows[i].cost);
        money(f, rows[i].billed);
        money(f, rows[i].est);
        fputc('\n', f);
    }
    free(rows);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || !buf) {
        free(buf);
        snprintf(err, errlen, "rendering csv: out of memory");
        return -1;
    }
    *out = buf;
    *len = blen;
    return 0;
}
