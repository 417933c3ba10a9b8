/*
 * Renders the weekly report JSON (INTERFACE.md, "The weekly report") as one
 * HTML5 page: headline numbers, five inline SVG charts (daily spend by
 * provider, model mix, top projects, top keys, this week vs last) and a table
 * per section. Inline CSS only: no scripts, no external assets. The page fits
 * a phone (viewBox charts, scrolling tables) and prints. Missing keys, nulls
 * and wrong types render as "—" or are left out; every JSON string is escaped.
 */
#include "render.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/strbuf.h"
#include "../common/timeutil.h"

#define DASH "—"
#define MAXPROV 16     /* providers given their own colour and daily series */
#define TOP_N 10       /* bars in the top projects and top keys charts */
#define TOP_MODELS 12  /* bars in the model mix chart */
#define MAX_ROWS 200   /* rows per table; the JSON report keeps the rest */
#define MAX_COLS 14    /* columns of a table whose columns come from its rows */
#define LABEL_CHARS 36 /* chart labels are cut to this many characters */

static const char *const PALETTE[] = {"#2f6fb3", "#e08a1e", "#2a9d77", "#c05a9a",
                                      "#5fb0e0", "#c8502a", "#8c7ae6", "#7a8a3a"};
#define GREY "#8a93a0"
#define INK "#1d2330"
#define MUTED "#5b6472"
#define UP "#b42318"
#define DOWN "#067647"

/*
 * Appends s HTML-escaped (& < > " '), control characters as spaces, cut after
 * max characters (code points) with an ellipsis.
 */
static void sb_esc_max(struct strbuf *b, const char *s, size_t max)
{
    size_t chars = 0;
    const char *run = s;
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if ((ch & 0xC0) != 0x80 && chars++ == max) {
            sb_putn(b, run, (size_t)(p - run));
            sb_puts(b, "…");
            return;
        }
        const char *rep = NULL;
        switch (ch) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default:
            if (ch < 0x20 || ch == 0x7f)
                rep = " ";
        }
        if (rep) {
            sb_putn(b, run, (size_t)(p - run));
            sb_puts(b, rep);
            run = p + 1;
        }
    }
    sb_puts(b, run);
}

static void sb_esc(struct strbuf *b, const char *s)
{
    sb_esc_max(b, s, SIZE_MAX);
}

/* ---- tolerant JSON access ---------------------------------------------- */

static const json_t *jget(const json_t *o, const char *key)
{
    return json_is_object(o) ? json_object_get(o, key) : NULL;
}

static int jnum(const json_t *v, double *out)
{
    if (!json_is_number(v))
        return 0;
    *out = json_number_value(v);
    return isfinite(*out);
}

static int knum(const json_t *o, const char *key, double *out)
{
    return jnum(jget(o, key), out);
}

static double knum0(const json_t *o, const char *key)
{
    double v = 0;
    return knum(o, key, &v) ? v : 0;
}

static const char *kstr(const json_t *o, const char *key)
{
    const json_t *v = jget(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static size_t karr(const json_t *o, const char *key, const json_t **arr)
{
    const json_t *v = jget(o, key);
    *arr = json_is_array(v) ? v : NULL;
    return *arr ? json_array_size(v) : 0;
}

/* ---- number, time and text formatting ---------------------------------- */

static void put_u64_grouped(struct strbuf *b, uint64_t v)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%" PRIu64, v);
    if (n <= 0 || (size_t)n >= sizeof digits) {
        b->oom = 1;
        return;
    }
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            sb_putn(b, ",", 1);
        sb_putn(b, &digits[i], 1);
    }
}

static void put_i64(struct strbuf *b, int64_t v)
{
    if (v < 0)
        sb_putn(b, "-", 1);
    put_u64_grouped(b, v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v);
}

/* A count: rounded to a whole number, thousands separated. */
static void put_int(struct strbuf *b, double v)
{
    if (fabs(v) >= 9e18)
        sb_printf(b, "%.3g", v);
    else
        put_i64(b, (int64_t)llround(v));
}

/* A count for a headline: 10 million and up shortened ("1.76B"), exact in its title. */
static void put_count_short(struct strbuf *b, double v)
{
    static const struct {
        double div;
        const char *unit;
    } U[] = {{1e12, "T"}, {1e9, "B"}, {1e6, "M"}};
    for (size_t i = 0; fabs(v) >= 1e7 && fabs(v) < 1e18 && i < sizeof U / sizeof U[0]; i++) {
        if (fabs(v) < U[i].div)
            continue;
        sb_puts(b, "<span title=\"");
        put_int(b, v);
        sb_printf(b, "\">%.2f%s</span>", v / U[i].div, U[i].unit);
        return;
    }
    put_int(b, v);
}

/* Dollars with thousands separators, to the cent (or whole dollars). */
static void put_money(struct strbuf *b, double v, int cents)
{
    double a = fabs(v);
    if (a >= 9e15) {
        sb_printf(b, "%s$%.3g", v < 0 ? "-" : "", a);
        return;
    }
    uint64_t c = (uint64_t)llround(cents ? a * 100.0 : a);
    if (v < 0 && c > 0)
        sb_putn(b, "-", 1);
    sb_putn(b, "$", 1);
    put_u64_grouped(b, cents ? c / 100 : c);
    if (cents)
        sb_printf(b, ".%02u", (unsigned)(c % 100));
}

/* change_pct in percent: "▲ 12.3%", "▼ 4.0%", "0.0%", or "—" when not a number. */
static void put_change(struct strbuf *b, const json_t *v)
{
    double p;
    if (!jnum(v, &p)) {
        sb_puts(b, "<span class=\"flat\">" DASH "</span>");
        return;
    }
    double r = round(p * 10) / 10;
    if (r > 0)
        sb_puts(b, "<span class=\"up\" title=\"up from last week\">▲ ");
    else if (r < 0)
        sb_puts(b, "<span class=\"down\" title=\"down from last week\">▼ ");
    else
        sb_puts(b, "<span class=\"flat\">");
    if (fabs(r) < 1e6)
        sb_printf(b, "%.1f%%", fabs(r));
    else
        sb_printf(b, "%.3g%%", fabs(r));
    sb_puts(b, "</span>");
}

enum tfmt { T_DATETIME, T_DATE, T_DAY, T_ISODATE };

static void put_unix(struct strbuf *b, int64_t t, enum tfmt f)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char buf[64];
    size_t n = 0;
    if (gmtime_r(&tt, &tm)) {
        switch (f) {
        case T_DATETIME: n = strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm); break;
        case T_DATE: n = strftime(buf, sizeof buf, "%a %d %b %Y", &tm); break;
        case T_DAY: n = strftime(buf, sizeof buf, "%a %d", &tm); break;
        case T_ISODATE: n = strftime(buf, sizeof buf, "%Y-%m-%d", &tm); break;
        }
    }
    if (n == 0)
        sb_puts(b, DASH);
    else
        sb_esc(b, buf);
}

/* An RFC 3339 string or Unix seconds as "YYYY-MM-DD HH:MM"; other strings as given. */
static void put_time(struct strbuf *b, const json_t *v)
{
    int64_t t = 0;
    if (json_is_string(v) && tu_parse_time(json_string_value(v), &t) != 0) {
        sb_esc(b, json_string_value(v));
        return;
    }
    if (json_is_integer(v))
        t = json_integer_value(v);
    else if (!json_is_string(v)) {
        sb_puts(b, DASH);
        return;
    }
    put_unix(b, t, T_DATETIME);
}

static void put_duration(struct strbuf *b, double secs)
{
    if (secs < 0 || secs > 1e12) {
        sb_puts(b, DASH);
        return;
    }
    int64_t s = (int64_t)llround(secs);
    int64_t d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60;
    if (d)
        sb_printf(b, "%" PRId64 "d %" PRId64 "h", d, h);
    else if (h)
        sb_printf(b, "%" PRId64 "h %02" PRId64 "m", h, m);
    else if (m)
        sb_printf(b, "%" PRId64 "m", m);
    else
        sb_printf(b, "%" PRId64 "s", s);
}

/* Any JSON value for a person: strings escaped, numbers grouped, lists joined. */
static void put_any(struct strbuf *b, const json_t *v, int depth)
{
    double x;
    size_t i, n = 0;
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_STRING:
        if (*json_string_value(v))
            sb_esc(b, json_string_value(v));
        else
            sb_puts(b, DASH);
        return;
    case JSON_INTEGER: put_i64(b, (int64_t)json_integer_value(v)); return;
    case JSON_REAL:
        x = json_real_value(v);
        if (x == floor(x) && fabs(x) < 1e15)
            put_i64(b, (int64_t)x);
        else
            sb_printf(b, "%.6g", x);
        return;
    case JSON_TRUE: sb_puts(b, "yes"); return;
    case JSON_FALSE: sb_puts(b, "no"); return;
    case JSON_NULL: sb_puts(b, DASH); return;
    case JSON_ARRAY:
        if (json_array_size(v) == 0 || depth >= 2) {
            sb_puts(b, json_array_size(v) ? "…" : DASH);
            return;
        }
        for (i = 0; i < json_array_size(v); i++) {
            if (i == 20) {
                sb_puts(b, ", …");
                break;
            }
            if (i)
                sb_puts(b, ", ");
            put_any(b, json_array_get(v, i), depth + 1);
        }
        return;
    case JSON_OBJECT: {
        if (json_object_size(v) == 0 || depth >= 2) {
            sb_puts(b, json_object_size(v) ? "…" : DASH);
            return;
        }
        for (void *it = json_object_iter((json_t *)v); it && n < 20;
             it = json_object_iter_next((json_t *)v, it), n++) {
            if (n)
                sb_puts(b, " · ");
            put_any(b, json_object_iter_value(it), depth + 1);
        }
        return;
    }
    }
}

/* ---- rendering context --------------------------------------------------- */

struct ctx {
    struct strbuf b;
    const json_t *r;
    const char *prov[MAXPROV]; /* provider names in first-seen order */
    size_t nprov;
    double share_scale; /* by_model[].share times this is a percentage */
};

static void prov_add(struct ctx *c, const char *name)
{
    if (!name || !*name)
        return;
    for (size_t i = 0; i < c->nprov; i++)
        if (strcmp(c->prov[i], name) == 0)
            return;
    if (c->nprov < MAXPROV)
        c->prov[c->nprov++] = name;
}

static const char *prov_color(const struct ctx *c, const char *name)
{
    for (size_t i = 0; name && i < c->nprov; i++)
        if (strcmp(c->prov[i], name) == 0)
            return PALETTE[i % (sizeof PALETTE / sizeof PALETTE[0])];
    return GREY;
}

static void collect_providers(struct ctx *c)
{
    const json_t *arr;
    size_t n = karr(c->r, "by_provider", &arr);
    for (size_t i = 0; i < n; i++)
        prov_add(c, kstr(json_array_get(arr, i), "provider"));
    n = karr(c->r, "daily", &arr);
    for (size_t i = 0; i < n; i++) {
        const json_t *bp = jget(json_array_get(arr, i), "by_provider");
        if (!json_is_object(bp))
            continue;
        for (void *it = json_object_iter((json_t *)bp); it;
             it = json_object_iter_next((json_t *)bp, it))
            prov_add(c, json_object_iter_key(it));
    }
}

/* Shares may come as fractions (sum 1) or percentages (sum 100). */
static void find_share_scale(struct ctx *c)
{
    const json_t *arr;
    size_t n = karr(c->r, "by_model", &arr);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += fabs(knum0(json_array_get(arr, i), "share"));
    c->share_scale = sum > 1.5 ? 1.0 : 100.0;
}

static int week_is_empty(const json_t *r)
{
    const json_t *flag = jget(r, "empty");
    if (json_is_boolean(flag))
        return json_is_true(flag);
    const json_t *t = jget(r, "totals"), *arr;
    static const char *const keys[] = {"cost_usd", "input_tokens", "output_tokens", "requests"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (knum0(t, keys[i]) != 0)
            return 0;
    return karr(r, "daily", &arr) == 0 && karr(r, "by_provider", &arr) == 0;
}

/* ---- tables -------------------------------------------------------------- */

enum kind { K_ANY, K_MONEY, K_INT, K_CHANGE, K_TIME, K_DUR, K_SHARE, K_SEV, K_WRAP };

struct colspec {
    const char *key;
    const char *head;
    enum kind kind;
};

/* Headings and formats of every field the report is known to carry. */
static const struct colspec KNOWN[] = {
    {"provider", "Provider", K_ANY},
    {"account", "Account", K_ANY},
    {"project", "Project", K_ANY},
    {"business_unit", "Business unit", K_ANY},
    {"api_key_id", "Key", K_ANY},
    {"name", "Name", K_ANY},
    {"model", "Model", K_ANY},
    {"date", "Date", K_ANY},
    {"cost_usd", "Cost", K_MONEY},
    {"billed_cost_usd", "Billed", K_MONEY},
    {"estimated_cost_usd", "Estimated", K_MONEY},
    {"previous_cost_usd", "Last week", K_MONEY},
    {"change_pct", "Change", K_CHANGE},
    {"input_tokens", "Input tokens", K_INT},
    {"output_tokens", "Output tokens", K_INT},
    {"unpriced_tokens", "Unpriced tokens", K_INT},
    {"requests", "Requests", K_INT},
    {"tokens", "Tokens", K_INT},
    {"share", "Share", K_SHARE},
    {"rule_name", "Rule", K_ANY},
    {"severity", "Severity", K_SEV},
    {"summary", "Summary", K_WRAP},
    {"starts_at", "Started", K_TIME},
    {"ends_at", "Ended", K_TIME},
    {"open_seconds", "Open for", K_DUR},
    {"age_days", "Age (days)", K_INT},
    {"actor", "Actor", K_ANY},
    {"count", "Count", K_INT},
    {"country", "Country", K_ANY},
    {"sessions", "Sessions", K_INT},
    {"source", "Source", K_ANY},
    {"last_data", "Last data", K_TIME},
    {"last_success", "Last success", K_TIME},
    {"failures", "Failures", K_INT},
    {"gaps", "Gaps", K_ANY},
    {"created_at", "Created", K_TIME},
    {"last_used_at", "Last used", K_TIME},
};

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The heading and format of key: from KNOWN, else guessed from its suffix. */
static struct colspec colspec_for(const char *key)
{
    for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++)
        if (strcmp(KNOWN[i].key, key) == 0)
            return KNOWN[i];
    struct colspec s = {key, NULL, K_ANY};
    if (ends_with(key, "_usd"))
        s.kind = K_MONEY;
    else if (ends_with(key, "_at"))
        s.kind = K_TIME;
    else if (ends_with(key, "_seconds"))
        s.kind = K_DUR;
    else if (ends_with(key, "_pct"))
        s.kind = K_CHANGE;
    else if (ends_with(key, "tokens") || ends_with(key, "_count"))
        s.kind = K_INT;
    return s;
}

/* An unknown key as a heading: "last_seen_at" becomes "Last seen at". */
static void put_heading(struct strbuf *b, const char *key)
{
    size_t n = strlen(key) < 40 ? strlen(key) : 40;
    char head[41];
    memcpy(head, key, n);
    head[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (head[i] == '_')
            head[i] = ' ';
    if (head[0] >= 'a' && head[0] <= 'z')
        head[0] = (char)(head[0] - 'a' + 'A');
    sb_esc(b, head);
}

static int kind_numeric(enum kind k)
{
    return k == K_MONEY || k == K_INT || k == K_CHANGE || k == K_DUR || k == K_SHARE;
}

static void put_cell(struct ctx *c, const json_t *v, enum kind k)
{
    struct strbuf *b = &c->b;
    double x;
    switch (k) {
    case K_MONEY:
    case K_INT:
    case K_DUR:
    case K_SHARE:
        if (!jnum(v, &x))
            sb_puts(b, DASH);
        else if (k == K_MONEY)
            put_money(b, x, 1);
        else if (k == K_INT)
            put_int(b, x);
        else if (k == K_DUR)
            put_duration(b, x);
        else
            sb_printf(b, "%.1f%%", x * c->share_scale);
        return;
    case K_CHANGE: put_change(b, v); return;
    case K_TIME: put_time(b, v); return;
    case K_SEV: {
        const char *s = json_is_string(v) ? json_string_value(v) : NULL;
        if (!s || !*s) {
            sb_puts(b, DASH);
            return;
        }
        const char *cls = strcmp(s, "critical") == 0  ? "crit"
                          : strcmp(s, "warning") == 0 ? "warn"
                                                      : "info";
        sb_printf(b, "<span class=\"sev %s\">", cls);
        sb_esc(b, s);
        sb_puts(b, "</span>");
        return;
    }
    case K_ANY:
    case K_WRAP: put_any(b, v, 0); return;
    }
}

/*
 * A table of the objects in arr with the given columns, or, when keys is
 * NULL, with every key the rows carry. Missing or empty arr: "None.".
 */
static void table(struct ctx *c, const json_t *arr, const char *const *keys, size_t nkeys)
{
    struct strbuf *b = &c->b;
    struct colspec cols[MAX_COLS];
    size_t ncols = 0, nrows = 0, n = json_is_array(arr) ? json_array_size(arr) : 0;
    for (size_t i = 0; i < n; i++)
        nrows += json_is_object(json_array_get(arr, i));
    if (nrows == 0) {
        sb_puts(b, "<p class=\"none\">None.</p>\n");
        return;
    }
    if (keys) {
        for (size_t i = 0; i < nkeys && ncols < MAX_COLS; i++)
            cols[ncols++] = colspec_for(keys[i]);
    } else {
        for (size_t i = 0; i < n && i < 50; i++) {
            const json_t *row = json_array_get(arr, i);
            if (!json_is_object(row))
                continue;
            for (void *it = json_object_iter((json_t *)row); it && ncols < MAX_COLS;
                 it = json_object_iter_next((json_t *)row, it)) {
                const char *k = json_object_iter_key(it);
                size_t j = 0;
                while (j < ncols && strcmp(cols[j].key, k) != 0)
                    j++;
                if (j == ncols)
                    cols[ncols++] = colspec_for(k);
            }
        }
    }
    sb_puts(b, "<div class=\"tw\"><table>\n<thead><tr>");
    for (size_t j = 0; j < ncols; j++) {
        sb_puts(b, kind_numeric(cols[j].kind) ? "<th class=\"n\">" : "<th>");
        if (cols[j].head)
            sb_esc(b, cols[j].head);
        else
            put_heading(b, cols[j].key);
        sb_puts(b, "</th>");
    }
    sb_puts(b, "</tr></thead>\n<tbody>\n");
    size_t shown = 0;
    for (size_t i = 0; i < n && shown < MAX_ROWS; i++) {
        const json_t *row = json_array_get(arr, i);
        if (!json_is_object(row))
            continue;
        shown++;
        sb_puts(b, "<tr>");
        for (size_t j = 0; j < ncols; j++) {
            enum kind k = cols[j].kind;
            sb_puts(b, kind_numeric(k) ? "<td class=\"n\">"
                       : k == K_WRAP   ? "<td class=\"w\">"
                                       : "<td>");
            put_cell(c, jget(row, cols[j].key), k);
            sb_puts(b, "</td>");
        }
        sb_puts(b, "</tr>\n");
    }
    sb_puts(b, "</tbody></table></div>\n");
    if (nrows > shown)
        sb_printf(b, "<p class=\"note\">%zu more rows are in the JSON report.</p>\n",
                  nrows - shown);
}

/* A column list and its length: the last two arguments of table() and section_table(). */
#define COLS(...)                                                                                  \
    (const char *const[]){__VA_ARGS__},                                                            \
        sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)

static void section_table(struct ctx *c, const char *h, const json_t *arr, const char *const *keys,
                          size_t nkeys)
{
    sb_puts(&c->b, "<h3>");
    sb_esc(&c->b, h);
    sb_printf(&c->b, " <span class=\"count\">(%zu)</span></h3>\n",
              json_is_array(arr) ? json_array_size(arr) : 0);
    table(c, arr, keys, nkeys);
}

/* A list of new entities: strings as chips, objects as a table. */
static void entity_list(struct ctx *c, const char *h, const json_t *arr)
{
    struct strbuf *b = &c->b;
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
    if (n && json_is_object(json_array_get(arr, 0))) {
        section_table(c, h, arr, NULL, 0);
        return;
    }
    sb_puts(b, "<h3>");
    sb_esc(b, h);
    sb_printf(b, " <span class=\"count\">(%zu)</span></h3>\n", n);
    if (n == 0) {
        sb_puts(b, "<p class=\"none\">None.</p>\n");
        return;
    }
    sb_puts(b, "<ul class=\"chips\">");
    for (size_t i = 0; i < n && i < MAX_ROWS; i++) {
        sb_puts(b, "<li>");
        put_any(b, json_array_get(arr, i), 1);
        sb_puts(b, "</li>");
    }
    sb_puts(b, "</ul>\n");
}

/* ---- charts -------------------------------------------------------------- */

struct item {
    const json_t *o;
    double v;
    size_t i;
};

static int item_cmp(const void *pa, const void *pb)
{
    const struct item *a = pa, *b = pb;
    if (a->v != b->v)
        return a->v > b->v ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* The objects of arr sorted by key (descending); malloc'd into *out, count returned. */
static size_t sorted_items(struct ctx *c, const json_t *arr, const char *key, struct item **out)
{
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0, m = 0;
    *out = NULL;
    if (n == 0)
        return 0;
    struct item *it = calloc(n, sizeof *it);
    if (!it) {
        c->b.oom = 1;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(arr, i);
        if (json_is_object(o))
            it[m++] = (struct item){o, knum0(o, key), i};
    }
    qsort(it, m, sizeof *it, item_cmp);
    *out = it;
    return m;
}

static void svg_open(struct ctx *c, const char *id, double w, double h, int font, const char *title)
{
    struct strbuf *b = &c->b;
    sb_printf(b,
              "<svg id=\"%s\" class=\"chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"",
              id, w, h);
    sb_esc(b, title);
    sb_printf(b, "\" font-size=\"%d\"><title>", font);
    sb_esc(b, title);
    sb_puts(b, "</title>\n");
}

static void figure_open(struct ctx *c, const char *cls, const char *caption)
{
    sb_printf(&c->b, "<figure class=\"%s\"><figcaption>", cls);
    sb_esc(&c->b, caption);
    sb_puts(&c->b, "</figcaption>\n");
}

static void bar_rect(struct ctx *c, double value, double x, double y, double w, double h,
                     const char *fill, const char *extra)
{
    sb_printf(&c->b,
              "<rect class=\"bar\" data-value=\"%.2f\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
              "height=\"%.1f\" fill=\"%s\"%s>",
              value, x, y, w > 0 ? w : 0, h > 0 ? h : 0, fill, extra);
}

static double nice_step(double max, int ticks)
{
    if (!(max > 0))
        return 1;
    double raw = max / ticks, mag = pow(10, floor(log10(raw))), n = raw / mag;
    return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 2.5 ? 2.5 : n <= 5 ? 5 : 10) * mag;
}

/* A value as a bar length: negatives as nothing, absurd sizes capped so geometry stays finite. */
static double geom(double v)
{
    return v > 0 ? (v < 1e15 ? v : 1e15) : 0;
}

/* The day objects of "daily" (other elements skipped); malloc'd, count returned. */
static size_t day_objects(struct ctx *c, const json_t ***out)
{
    const json_t *daily;
    size_t n = karr(c->r, "daily", &daily), m = 0;
    *out = NULL;
    if (n == 0)
        return 0;
    const json_t **days = calloc(n, sizeof(const json_t *));
    if (!days) {
        c->b.oom = 1;
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (json_is_object(json_array_get(daily, i)))
            days[m++] = json_array_get(daily, i);
    if (m == 0)
        free(days);
    else
        *out = days;
    return m;
}

/* Day d's value for series s: a provider's spend, or the day's total without providers. */
static double day_value(const struct ctx *c, const json_t *day, size_t s)
{
    return c->nprov ? knum0(jget(day, "by_provider"), c->prov[s]) : knum0(day, "cost_usd");
}

/* (1) One stacked column per day, one segment per provider. */
static void chart_daily(struct ctx *c)
{
    struct strbuf *b = &c->b;
    const json_t **days;
    size_t nd = day_objects(c, &days);
    figure_open(c, "wide", "Daily spend by provider");
    if (nd == 0) {
        sb_puts(b, "<p class=\"none\">No daily data.</p></figure>\n");
        return;
    }
    size_t ns = c->nprov ? c->nprov : 1;
    double max = 0;
    for (size_t d = 0; d < nd; d++) {
        double sum = 0;
        for (size_t s = 0; s < ns; s++)
            sum += geom(day_value(c, days[d], s));
        max = sum > max ? sum : max;
    }
    const double W = 960, H = 360, L = 84, R = 12, T = 52, B = 42;
    const double pw = W - L - R, ph = H - T - B, slot = pw / (double)nd;
    double bw = slot * 0.62 > 64 ? 64 : slot * 0.62;
    double step = nice_step(max, 4);
    int ticks = max > 0 ? (int)ceil(max / step) : 4;
    double top = step * ticks;
    svg_open(c, "chart-daily", W, H, 16, "Daily spend by provider (USD)");
    double lx = L;
    for (size_t s = 0; s < ns; s++) {
        const char *name = c->nprov ? c->prov[s] : "total";
        size_t chars = strlen(name) < 24 ? strlen(name) : 24;
        sb_printf(b,
                  "<rect class=\"key\" x=\"%.1f\" y=\"12\" width=\"16\" height=\"16\" "
                  "fill=\"%s\"/><text x=\"%.1f\" y=\"26\" fill=\"" INK "\">",
                  lx, c->nprov ? prov_color(c, name) : PALETTE[0], lx + 22);
        sb_esc_max(b, name, 24);
        sb_puts(b, "</text>\n");
        lx += 22 + 9.5 * (double)chars + 28;
    }
    for (int k = 0; k <= ticks; k++) {
        double y = T + ph - ph * k / ticks;
        sb_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#dde1e7\"/>",
                  L, W - R, y, y);
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"" MUTED "\">", L - 6,
                  y + 5);
        put_money(b, step * k, step < 1);
        sb_puts(b, "</text>\n");
    }
    size_t label_every = slot >= 60 ? 1 : (size_t)ceil(60 / slot);
    for (size_t d = 0; d < nd; d++) {
        const char *date = kstr(days[d], "date");
        double x = L + slot * (double)d + (slot - bw) / 2, y = T + ph, sum = 0;
        for (size_t s = 0; s < ns; s++) {
            double v = day_value(c, days[d], s), h = geom(v) / top * ph;
            y -= h;
            sum += v;
            bar_rect(c, v, x, y, bw, h, c->nprov ? prov_color(c, c->prov[s]) : PALETTE[0], "");
            sb_puts(b, "<title>");
            sb_esc(b, c->nprov ? c->prov[s] : "total");
            sb_puts(b, " ");
            sb_esc(b, date ? date : DASH);
            sb_puts(b, ": ");
            put_money(b, v, 1);
            sb_puts(b, "</title></rect>\n");
        }
        if (slot >= 60) {
            sb_printf(b,
                      "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"14\" "
                      "fill=\"" INK "\">",
                      x + bw / 2, y - 6);
            put_money(b, sum, 0);
            sb_puts(b, "</text>\n");
        }
        if (d % label_every == 0) {
            int64_t t;
            sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"" MUTED "\">",
                      x + bw / 2, T + ph + 26);
            if (date && tu_parse_time(date, &t) == 0)
                put_unix(b, t, T_DAY);
            else
                sb_esc_max(b, date ? date : DASH, 10);
            sb_puts(b, "</text>\n");
        }
    }
    sb_puts(b, "</svg></figure>\n");
    free(days);
}

/* Horizontal bars, one per item, coloured by provider; labels above the bars. */
static void hbars(struct ctx *c, const char *id, const char *title, const struct item *it, size_t n,
                  const char *label_key, const char *const *sub_keys, size_t nsub, int with_share)
{
    struct strbuf *b = &c->b;
    const double W = 560, L = 4, VALW = 175, ROW = 52, BAR = 18, PAD = 6;
    double max = 0;
    for (size_t i = 0; i < n; i++)
        max = geom(it[i].v) > max ? geom(it[i].v) : max;
    svg_open(c, id, W, PAD * 2 + ROW * (double)n, 16, title);
    for (size_t i = 0; i < n; i++) {
        const json_t *o = it[i].o;
        const char *label = kstr(o, label_key);
        double y = PAD + ROW * (double)i, w = max > 0 ? geom(it[i].v) / max * (W - L - VALW) : 0;
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" fill=\"" INK "\">", L, y + 17);
        sb_esc_max(b, label && *label ? label : "(unnamed)", LABEL_CHARS);
        size_t shown = 0;
        for (size_t k = 0; k < nsub; k++) {
            const char *s = kstr(o, sub_keys[k]);
            if (!s || !*s)
                continue;
            sb_puts(b, shown++ ? " / " : "<tspan font-size=\"13\" fill=\"" MUTED "\">  ");
            sb_esc_max(b, s, 20);
        }
        if (shown)
            sb_puts(b, "</tspan>");
        sb_puts(b, "</text>\n");
        sb_printf(b,
                  "<rect class=\"track\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                  "fill=\"#eef0f3\"/>",
                  L, y + 24, W - L - VALW, BAR);
        bar_rect(c, it[i].v, L, y + 24, w, BAR, prov_color(c, kstr(o, "provider")), "");
        sb_puts(b, "<title>");
        sb_esc(b, label ? label : "(unnamed)");
        sb_puts(b, ": ");
        put_money(b, it[i].v, 1);
        sb_puts(b, "</title></rect>\n");
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" fill=\"" INK "\">", L + w + 6,
                  y + 38);
        put_money(b, it[i].v, 1);
        double share;
        if (with_share && knum(o, "share", &share))
            sb_printf(b, " · %.1f%%", share * c->share_scale);
        sb_puts(b, "</text>\n");
    }
    sb_puts(b, "</svg>");
}

/* (2)-(4): a bar chart of the top entries of one by_* array by cost. */
static void chart_top(struct ctx *c, const char *arr_key, const char *id, const char *caption,
                      const char *noun, size_t top, const char *label_key,
                      const char *const *sub_keys, size_t nsub, int with_share)
{
    struct strbuf *b = &c->b;
    const json_t *arr;
    karr(c->r, arr_key, &arr);
    struct item *it = NULL;
    size_t n = sorted_items(c, arr, "cost_usd", &it);
    figure_open(c, "half", caption);
    if (n == 0) {
        sb_puts(b, "<p class=\"none\">No data.</p>");
    } else {
        hbars(c, id, caption, it, n < top ? n : top, label_key, sub_keys, nsub, with_share);
        if (n > top)
            sb_printf(
                b, "<p class=\"note\">Top %zu of %zu %s by cost; all are in the tables below.</p>",
                top, n, noun);
    }
    sb_puts(b, "</figure>\n");
    free(it);
}

/* (5) This week against last: two bars per provider (or for the totals). */
static void chart_wow(struct ctx *c)
{
    struct strbuf *b = &c->b;
    const json_t *arr;
    size_t n = karr(c->r, "by_provider", &arr), rows = 0;
    const json_t *row[MAXPROV];
    for (size_t i = 0; i < n && rows < MAXPROV; i++)
        if (json_is_object(json_array_get(arr, i)))
            row[rows++] = json_array_get(arr, i);
    int totals = rows == 0;
    if (totals)
        rows = 1;
    double max = 0;
    for (size_t i = 0; i < rows; i++) {
        double cur = totals ? knum0(jget(c->r, "totals"), "cost_usd") : knum0(row[i], "cost_usd");
        double prev = totals ? knum0(jget(c->r, "previous_totals"), "cost_usd")
                             : knum0(row[i], "previous_cost_usd");
        max = geom(cur) > max ? geom(cur) : max;
        max = geom(prev) > max ? geom(prev) : max;
    }
    const double W = 560, L = 4, VALW = 175, ROW = 76, BAR = 18, TOP = 38;
    figure_open(c, "half", "This week vs last week");
    svg_open(c, "chart-wow", W, TOP + ROW * (double)rows + 4, 16,
             "Spend this week vs last week by provider");
    sb_puts(b, "<rect class=\"key\" x=\"4\" y=\"8\" width=\"16\" height=\"16\" fill=\"" GREY "\"/>"
               "<text x=\"26\" y=\"22\" fill=\"" INK "\">this week</text>"
               "<rect class=\"key\" x=\"130\" y=\"8\" width=\"16\" height=\"16\" fill=\"" GREY
               "\" fill-opacity=\"0.4\"/><text x=\"152\" y=\"22\" fill=\"" INK
               "\">last week</text>\n");
    for (size_t i = 0; i < rows; i++) {
        const json_t *o = totals ? NULL : row[i];
        const char *name = totals ? "All providers" : kstr(o, "provider");
        const char *fill = totals ? PALETTE[0] : prov_color(c, name);
        double cur = totals ? knum0(jget(c->r, "totals"), "cost_usd") : knum0(o, "cost_usd");
        double prev = totals ? knum0(jget(c->r, "previous_totals"), "cost_usd")
                             : knum0(o, "previous_cost_usd");
        const json_t *chg =
            totals ? jget(jget(c->r, "change_pct"), "cost_usd") : jget(o, "change_pct");
        double y = TOP + ROW * (double)i, p;
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" fill=\"" INK "\">", L, y + 16);
        sb_esc_max(b, name && *name ? name : "(unnamed)", LABEL_CHARS);
        if (jnum(chg, &p)) {
            double r = round(p * 10) / 10;
            sb_printf(b, "<tspan font-size=\"14\" fill=\"%s\">  %s %.1f%%</tspan>",
                      r > 0   ? UP
                      : r < 0 ? DOWN
                              : MUTED,
                      r > 0   ? "▲"
                      : r < 0 ? "▼"
                              : "",
                      fabs(r) < 1e9 ? fabs(r) : 1e9);
        }
        sb_puts(b, "</text>\n");
        const double vals[2] = {cur, prev};
        for (int k = 0; k < 2; k++) {
            double by = y + 24 + 24 * k, w = max > 0 ? geom(vals[k]) / max * (W - L - VALW) : 0;
            bar_rect(c, vals[k], L, by, w, BAR, fill, k ? " fill-opacity=\"0.4\"" : "");
            sb_puts(b, k ? "<title>last week: " : "<title>this week: ");
            put_money(b, vals[k], 1);
            sb_puts(b, "</title></rect>");
            sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" fill=\"" INK "\">",
                      L + w + 6, by + 14);
            put_money(b, vals[k], 1);
            sb_puts(b, "</text>\n");
        }
    }
    sb_puts(b, "</svg></figure>\n");
}

/* ---- page sections ------------------------------------------------------- */

static const char CSS[] =
    ":root{--fg:#1d2330;--muted:#5b6472;--line:#dde1e7;--card:#f5f6f8;--up:#b42318;"
    "--down:#067647}\n"
    "*{box-sizing:border-box}\n"
    "html{-webkit-text-size-adjust:100%}\n"
    "body{margin:0;font:15px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\","
    "Arial,sans-serif;color:var(--fg);background:#fff}\n"
    ".wrap{max-width:1100px;margin:0 auto;padding:16px}\n"
    "h1{font-size:1.55rem;margin:.1em 0}h2{font-size:1.2rem;margin:1.8em 0 .6em;padding-bottom:"
    ".25em;border-bottom:2px solid var(--line)}h3{font-size:1rem;margin:1.2em 0 .4em}\n"
    "h1,h2,h3,p,li{overflow-wrap:anywhere}\n"
    ".period{color:var(--muted);margin:0 0 .8em}\n"
    "nav{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:.9rem;margin:0 0 1em}"
    "nav a{color:#2f6fb3}\n"
    ".cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(165px,1fr));gap:10px}\n"
    ".card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px "
    "12px}\n"
    ".card .k{font-size:.78rem;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}\n"
    ".card .v{font-size:1.4rem;font-weight:650;font-variant-numeric:tabular-nums}\n"
    ".card .s{font-size:.85rem;color:var(--muted)}\n"
    ".up{color:var(--up)}.down{color:var(--down)}.flat{color:var(--muted)}\n"
    ".charts{display:grid;grid-template-columns:1fr;gap:14px}\n"
    "@media (min-width:900px){.charts{grid-template-columns:1fr 1fr}.charts "
    ".wide{grid-column:1/-1}}\n"
    "figure{margin:0;border:1px solid var(--line);border-radius:8px;padding:10px 12px;"
    "min-width:0}\n"
    "figcaption{font-weight:650;margin-bottom:6px}\n"
    "svg.chart{display:block;width:100%;height:auto;font-family:inherit}\n"
    ".tw{overflow-x:auto;-webkit-overflow-scrolling:touch;border:1px solid var(--line);"
    "border-radius:6px;max-width:100%}\n"
    "table{border-collapse:collapse;width:100%;font-size:.88rem}\n"
    "th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:left;"
    "white-space:nowrap;vertical-align:top}\n"
    "th{background:var(--card);font-weight:650}tbody tr:last-child td{border-bottom:0}\n"
    "tbody tr:nth-child(even){background:#fafbfc}\n"
    ".n{text-align:right;font-variant-numeric:tabular-nums}td.w{white-space:normal;min-width:"
    "18em}\n"
    ".sev{display:inline-block;padding:0 6px;border-radius:4px;font-size:.8rem;font-weight:650}"
    ".crit{background:#fde2e1;color:#8a1c12}.warn{background:#fdf0d5;color:#7a4a00}"
    ".info{background:#e3edf9;color:#1f4f86}\n"
    ".count{color:var(--muted);font-weight:400}\n"
    ".none,.note{color:var(--muted);font-size:.9rem}.none{font-style:italic}\n"
    ".chips{list-style:none;padding:0;margin:0;display:flex;flex-wrap:wrap;gap:6px}"
    ".chips li{background:var(--card);border:1px solid var(--line);border-radius:12px;"
    "padding:1px 10px;font-size:.88rem}\n"
    ".empty{margin:1.5em 0;padding:28px 16px;border:2px dashed var(--line);border-radius:10px;"
    "text-align:center}.empty .big{font-size:1.4rem;font-weight:650;margin:0 0 .3em}\n"
    "footer{margin-top:2.5em;color:var(--muted);font-size:.8rem}\n"
    "@media (max-width:600px){.wrap{padding:10px}h1{font-size:1.3rem}"
    ".card .v{font-size:1.2rem}.wide{overflow-x:auto}.wide svg.chart{min-width:640px}}\n"
    "@media print{@page{margin:14mm}body{font-size:10.5pt}.wrap{max-width:none;padding:0}"
    "nav{display:none}.tw{overflow:visible;border:0}table{font-size:8.5pt}th,td{white-space:normal;"
    "padding:2px 5px}td.n{white-space:nowrap}"
    "figure,.card,tr{break-inside:avoid}h2,h3{break-after:avoid}thead{display:table-header-group}"
    ".charts{grid-template-columns:1fr 1fr}.charts .wide{grid-column:1/-1}"
    "*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}\n";

static void page_head(struct ctx *c)
{
    struct strbuf *b = &c->b;
    const json_t *period = jget(c->r, "period");
    const char *from = kstr(period, "from"), *to = kstr(period, "to");
    int64_t ft = 0, tt = 0;
    int dates =
        from && to && tu_parse_time(from, &ft) == 0 && tu_parse_time(to, &tt) == 0 && tt > ft;
    sb_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
               "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
               "style-src 'unsafe-inline'\">\n"
               "<meta name=\"generator\" content=\"byokwatch\">\n<title>byokwatch weekly report");
    if (dates) {
        sb_puts(b, " ");
        put_unix(b, ft, T_ISODATE);
        sb_puts(b, " – ");
        put_unix(b, tt - 1, T_ISODATE);
    }
    sb_puts(b, "</title>\n<style>\n");
    sb_puts(b, CSS);
    sb_puts(b, "</style>\n</head>\n<body>\n<main class=\"wrap\">\n");
    sb_puts(b, "<header><h1>AI provider usage: weekly report</h1>\n<p class=\"period\">");
    if (dates) {
        put_unix(b, ft, T_DATE);
        sb_puts(b, " – ");
        put_unix(b, tt - 1, T_DATE);
        sb_puts(b, " (UTC)");
    } else {
        sb_esc(b, from ? from : DASH);
        sb_puts(b, " – ");
        sb_esc(b, to ? to : DASH);
    }
    sb_puts(b, "</p></header>\n");
}

static void nav(struct ctx *c, int empty)
{
    sb_puts(&c->b, "<nav aria-label=\"Sections\">");
    if (!empty)
        sb_puts(&c->b, "<a href=\"#summary\">Summary</a><a href=\"#charts\">Charts</a>"
                       "<a href=\"#spend\">Spend</a>");
    sb_puts(&c->b, "<a href=\"#alerts\">Alerts</a><a href=\"#keys\">Keys</a>"
                   "<a href=\"#new\">New</a><a href=\"#security\">Security</a>"
                   "<a href=\"#unpriced\">Unpriced</a><a href=\"#freshness\">Data freshness</a>"
                   "</nav>\n");
}

static void cards(struct ctx *c)
{
    static const struct {
        const char *key, *label;
        int money;
    } CARDS[] = {
        {"cost_usd", "Total cost", 1},          {"billed_cost_usd", "Billed", 1},
        {"estimated_cost_usd", "Estimated", 1}, {"input_tokens", "Input tokens", 0},
        {"output_tokens", "Output tokens", 0},  {"requests", "Requests", 0},
    };
    struct strbuf *b = &c->b;
    const json_t *t = jget(c->r, "totals"), *prev = jget(c->r, "previous_totals"),
                 *chg = jget(c->r, "change_pct");
    sb_puts(b, "<section id=\"summary\"><h2>Summary</h2>\n<div class=\"cards\">\n");
    for (size_t i = 0; i < sizeof CARDS / sizeof CARDS[0]; i++) {
        double v;
        sb_printf(b, "<div class=\"card\"><div class=\"k\">%s</div><div class=\"v\">",
                  CARDS[i].label);
        if (!knum(t, CARDS[i].key, &v))
            sb_puts(b, DASH);
        else if (CARDS[i].money)
            put_money(b, v, 1);
        else
            put_count_short(b, v);
        sb_puts(b, "</div><div class=\"s\">");
        put_change(b, jget(chg, CARDS[i].key));
        sb_puts(b, " vs ");
        if (!knum(prev, CARDS[i].key, &v))
            sb_puts(b, DASH);
        else if (CARDS[i].money)
            put_money(b, v, 1);
        else
            put_count_short(b, v);
        sb_puts(b, "</div>");
        double total, part;
        if (i > 0 && i < 3 && knum(t, "cost_usd", &total) && total > 0 &&
            knum(t, CARDS[i].key, &part))
            sb_printf(b, "<div class=\"s\">%.0f%% of total</div>", part / total * 100);
        sb_puts(b, "</div>\n");
    }
    double unpriced;
    if (knum(t, "unpriced_tokens", &unpriced) && unpriced > 0) {
        sb_puts(b, "<div class=\"card\"><div class=\"k\">Unpriced tokens</div><div class=\"v\">");
        put_int(b, unpriced);
        sb_puts(b, "</div><div class=\"s\">no list price; not in the estimate</div></div>\n");
    }
    sb_puts(b, "</div></section>\n");
}

static void charts(struct ctx *c)
{
    sb_puts(&c->b, "<section id=\"charts\"><h2>Charts</h2>\n<div class=\"charts\">\n");
    chart_daily(c);
    chart_top(c, "by_model", "chart-models", "Model mix by cost", "models", TOP_MODELS, "model",
              COLS("provider"), 1);
    chart_top(c, "by_project", "chart-projects", "Top projects by cost", "projects", TOP_N,
              "project", COLS("provider", "account"), 0);
    chart_top(c, "by_api_key", "chart-keys", "Top API keys by cost", "keys", TOP_N, "api_key_id",
              COLS("provider", "project"), 0);
    chart_wow(c);
    sb_puts(&c->b, "</div></section>\n");
}

static void daily_table(struct ctx *c)
{
    struct strbuf *b = &c->b;
    const json_t **days;
    size_t nd = day_objects(c, &days);
    sb_printf(b, "<h3>Daily <span class=\"count\">(%zu)</span></h3>\n", nd);
    if (nd == 0) {
        sb_puts(b, "<p class=\"none\">None.</p>\n");
        return;
    }
    sb_puts(b, "<div class=\"tw\"><table>\n<thead><tr><th>Date</th>");
    for (size_t s = 0; s < c->nprov; s++) {
        sb_puts(b, "<th class=\"n\">");
        sb_esc(b, c->prov[s]);
        sb_puts(b, "</th>");
    }
    sb_puts(b, "<th class=\"n\">Total</th></tr></thead>\n<tbody>\n");
    for (size_t d = 0; d < nd && d < MAX_ROWS; d++) {
        sb_puts(b, "<tr><td>");
        put_any(b, jget(days[d], "date"), 1);
        sb_puts(b, "</td>");
        for (size_t s = 0; s < c->nprov; s++) {
            sb_puts(b, "<td class=\"n\">");
            put_cell(c, jget(jget(days[d], "by_provider"), c->prov[s]), K_MONEY);
            sb_puts(b, "</td>");
        }
        sb_puts(b, "<td class=\"n\">");
        put_cell(c, jget(days[d], "cost_usd"), K_MONEY);
        sb_puts(b, "</td></tr>\n");
    }
    sb_puts(b, "</tbody></table></div>\n");
    free(days);
}

static void spend_tables(struct ctx *c)
{
    const json_t *r = c->r;
    sb_puts(&c->b, "<section id=\"spend\"><h2>Spend</h2>\n");
    section_table(c, "By provider", jget(r, "by_provider"),
                  COLS("provider", "cost_usd", "billed_cost_usd", "estimated_cost_usd",
                       "input_tokens", "output_tokens", "requests", "previous_cost_usd",
                       "change_pct"));
    section_table(c, "By business unit", jget(r, "by_business_unit"),
                  COLS("business_unit", "cost_usd", "previous_cost_usd", "change_pct"));
    section_table(
        c, "By project", jget(r, "by_project"),
        COLS("provider", "account", "project", "cost_usd", "previous_cost_usd", "change_pct"));
    section_table(
        c, "By API key", jget(r, "by_api_key"),
        COLS("provider", "api_key_id", "project", "cost_usd", "input_tokens", "output_tokens"));
    section_table(c, "By model", jget(r, "by_model"),
                  COLS("provider", "model", "input_tokens", "output_tokens", "cost_usd", "share"));
    daily_table(c);
    sb_puts(&c->b, "</section>\n");
}

static void ops_tables(struct ctx *c)
{
    const json_t *r = c->r, *alerts = jget(r, "alerts"), *keys = jget(r, "keys"),
                 *ent = jget(r, "new_entities");
    struct strbuf *b = &c->b;
    sb_puts(b, "<section id=\"alerts\"><h2>Alerts</h2>\n");
    section_table(c, "Fired", jget(alerts, "fired"),
                  COLS("rule_name", "severity", "summary", "starts_at", "ends_at", "open_seconds"));
    section_table(c, "Resolved", jget(alerts, "resolved"),
                  COLS("rule_name", "severity", "summary", "starts_at", "ends_at", "open_seconds"));
    sb_puts(b, "</section>\n<section id=\"keys\"><h2>API keys</h2>\n");
    section_table(c, "Due for rotation", jget(keys, "due_for_rotation"),
                  COLS("provider", "api_key_id", "name", "age_days"));
    section_table(c, "Unused", jget(keys, "unused"), NULL, 0);
    section_table(c, "Created", jget(keys, "created"), NULL, 0);
    sb_puts(b, "</section>\n<section id=\"new\"><h2>New this week</h2>\n");
    entity_list(c, "API keys", jget(ent, "api_keys"));
    entity_list(c, "Models", jget(ent, "models"));
    entity_list(c, "Countries", jget(ent, "countries"));
    sb_puts(b, "</section>\n<section id=\"security\"><h2>Security</h2>\n");
    section_table(c, "Authentication failures", jget(r, "auth_failures"), COLS("actor", "count"));
    section_table(c, "Sessions by country", jget(r, "countries"), COLS("country", "sessions"));
    sb_puts(b, "</section>\n<section id=\"unpriced\"><h2>Unpriced usage</h2>\n"
               "<p class=\"note\">Tokens of models without a list price; their cost is not "
               "in the estimate.</p>\n");
    table(c, jget(r, "unpriced"), COLS("provider", "model", "tokens"));
    sb_puts(b, "</section>\n<section id=\"freshness\"><h2>Data freshness</h2>\n");
    table(c, jget(r, "data_freshness"),
          COLS("source", "last_data", "last_success", "failures", "gaps"));
    sb_puts(b, "</section>\n");
}

int rep_render_html(const json_t *report, char **out, size_t *len, char *err, size_t errlen)
{
    if (!json_is_object(report) || !out || !len) {
        if (err && errlen)
            snprintf(err, errlen, "report: %s",
                     !json_is_object(report) ? "not a JSON object" : "no output pointer");
        return -1;
    }
    struct ctx c = {.r = report};
    collect_providers(&c);
    find_share_scale(&c);
    int empty = week_is_empty(report);
    page_head(&c);
    nav(&c, empty);
    if (empty) {
        sb_puts(&c.b, "<div class=\"empty\" role=\"status\"><p class=\"big\">No data for this "
                      "period</p><p>byokwatch recorded no usage or spend in this week. If that "
                      "is unexpected, see <a href=\"#freshness\">data freshness</a>.</p></div>\n");
    } else {
        cards(&c);
        charts(&c);
        spend_tables(&c);
    }
    ops_tables(&c);
    sb_puts(&c.b, "<footer>Generated by byokwatch. Costs are billed where the provider bills "
                  "and estimated from list prices elsewhere; money is rounded to cents, times "
                  "are UTC.</footer>\n</main>\n</body>\n</html>\n");
    if (c.b.oom) {
        free(c.b.p);
        if (err && errlen)
            snprintf(err, errlen, "report: out of memory rendering HTML");
        return -1;
    }
    *out = c.b.p;
    *len = c.b.len;
    return 0;
}
