/*
 * The weekly report's builder (report.h). One ts_aggregate per metric over
 * the daily rollups of the period and the one before it, grouped by
 * provider, account, project, API key and model, is folded in memory into
 * every "by" table; the events log gives failed logins and session
 * countries, the meta family the key inventory, first sightings, source
 * health and cursors, the alerts family the alerts of the period. Cost is
 * billed cost where the provider billed the (provider, account, day) and
 * estimated cost for cells it did not.
 */
#include "report.h"

#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../alerts/lifecycle.h"
#include "../analyzers/engine.h"
#include "../analyzers/key_age.h"
#include "../common/array.h"
#include "../common/strmap.h"
#include "../common/timeutil.h"
#include "render.h"

/* ---- ISO weeks ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Day of the week of a day number, Monday = 0 (1970-01-01 was a Thursday). */
static int64_t weekday(int64_t days)
{
    return ((days + 3) % 7 + 7) % 7;
}

/* Day number of the Monday of ISO week 1 of year: the week holding 4 January. */
static int64_t week1_monday(int64_t year)
{
    int64_t j4 = tu_days_from_civil(year, 1, 4);
    return j4 - weekday(j4);
}

int rep_iso_week(int year, int week, int64_t *from, int64_t *to)
{
    if (year < 1 || year > 9999 || week < 1)
        return -1;
    int64_t m1 = week1_monday(year);
    if (week > (week1_monday((int64_t)year + 1) - m1) / 7)
        return -1;
    *from = (m1 + (int64_t)(week - 1) * 7) * TU_DAY;
    *to = *from + 7LL * TU_DAY;
    return 0;
}

void rep_week_of(int64_t t, int *year, int *week)
{
    int64_t d = floor_div(t, TU_DAY), y;
    unsigned m, dd;
    tu_civil_from_days(d, &y, &m, &dd);
    if (d >= week1_monday(y + 1))
        y++;
    else if (d < week1_monday(y))
        y--;
    *year = (int)y;
    *week = (int)((d - week1_monday(y)) / 7 + 1);
}

int rep_parse_week(const char *s, int64_t *from, int64_t *to)
{
    if (!s || strlen(s) != 8 || s[4] != '-' || (s[5] != 'W' && s[5] != 'w'))
        return -1;
    int year = 0, week = 0;
    for (int i = 0; i < 8; i++) {
        if (i == 4 || i == 5)
            continue;
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (i < 4)
            year = year * 10 + (s[i] - '0');
        else
            week = week * 10 + (s[i] - '0');
    }
    return rep_iso_week(year, week, from, to);
}

void rep_last_complete_week(int64_t now, int64_t *from, int64_t *to)
{
    int64_t d = floor_div(now, TU_DAY);
    *to = (d - weekday(d)) * TU_DAY;
    *from = *to - 7LL * TU_DAY;
}

/* ---- accumulators ---- */

enum { F_COST, F_BILLED, F_EST, F_UNPRICED, F_IN, F_OUT, F_REQ, N_F };
static const char *const FIELD[N_F] = {"cost_usd",        "billed_cost_usd", "estimated_cost_usd",
                                       "unpriced_tokens", "input_tokens",    "output_tokens",
                                       "requests"};

struct acc {
    double v[N_F];
    int has; /* a point landed here */
};

#define MAXF 4

/* One row of a "by" table: its label values and sums per period (and per day). */
struct ent {
    char *buf;           /* the values, each NUL-terminated; the first nkey form the key */
    const char *f[MAXF]; /* "" = absent */
    struct acc a[2];     /* [0] the period, [1] the one before */
    struct acc *day;     /* per day of the period, when the table keeps days */
};

struct tab {
    struct strmap map;
    struct ent *v;
    size_t n, cap;
    size_t nf, nkey; /* fields, of which the first nkey are the key */
    int days;
};

enum { M_COST, M_EST, M_UNPRICED, M_IN, M_OUT, M_REQ, N_M };
static const char *const METRIC[N_M] = {"cost_usd",     "est_cost_usd",  "unpriced_tokens",
                                        "input_tokens", "output_tokens", "requests"};
static const char *const GROUP_BY[] = {"provider", "account", "project", "api_key_id", "model"};
enum { L_PROVIDER, L_ACCOUNT, L_PROJECT, L_KEY, L_MODEL, N_L };

struct rep {
    struct ts_store *st;
    const struct config *cfg;
    int64_t from, to, pfrom, now;
    size_t n_days;
    struct acc tot[2];
    struct acc *daily;
    struct tab prov;  /* provider; days */
    struct tab bu;    /* business unit */
    struct tab proj;  /* provider, account, project; days */
    struct tab key;   /* account, api_key_id | provider, project */
    struct tab model; /* provider, model */
    struct tab acct;  /* account | provider; days (for gaps) */
    struct tab cells; /* provider, account, day: billed (provider, account, day) cells */
    json_t *inv;      /* "account/id" -> inventory item */
    json_t *doc;
    char *scr;
    size_t scap;
    int oom;
    char *err;
    size_t errlen;
};

static void tab_init(struct tab *t, size_t nf, size_t nkey, int days)
{
    memset(t, 0, sizeof *t);
    t->nf = nf;
    t->nkey = nkey;
    t->days = days;
}

static void tab_free(struct tab *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].buf);
        free(t->v[i].day);
    }
    free(t->v);
    strmap_free(&t->map);
}

/* Writes the values f[0..t->nf) (NULL = absent) into r->scr; -1 when out of memory. */
static int tab_key(struct rep *r, const struct tab *t, const char *const *f, size_t *len,
                   size_t *klen)
{
    *len = *klen = 0;
    for (size_t i = 0; i < t->nf; i++) {
        *len += (f[i] ? strlen(f[i]) : 0) + 1;
        if (i + 1 == t->nkey)
            *klen = *len;
    }
    if (*len > r->scap) {
        char *ns = realloc(r->scr, *len * 2);
        if (!ns)
            return -1;
        r->scr = ns;
        r->scap = *len * 2;
    }
    size_t o = 0;
    for (size_t i = 0; i < t->nf; i++) {
        size_t l = f[i] ? strlen(f[i]) : 0;
        if (l)
            memcpy(r->scr + o, f[i], l);
        r->scr[o + l] = '\0';
        o += l + 1;
    }
    return 0;
}

/* The row whose key fields are f[0..t->nkey) (the rest may be NULL), or NULL. */
static struct ent *tab_find(struct rep *r, struct tab *t, const char *const *f)
{
    size_t len, klen, at;
    if (tab_key(r, t, f, &len, &klen) != 0 || strmap_get(&t->map, r->scr, klen, &at) != 0)
        return NULL;
    return &t->v[at];
}

/* The row with values f[0..t->nf) (NULL = absent), created when new; NULL when out of memory. */
static struct ent *tab_get(struct rep *r, struct tab *t, const char *const *f)
{
    size_t len, klen, at;
    if (tab_key(r, t, f, &len, &klen) != 0)
        return NULL;
    if (strmap_get(&t->map, r->scr, klen, &at) == 0)
        return &t->v[at];
    if (arr_reserve((void **)&t->v, &t->cap, t->n + 1, sizeof *t->v) != 0)
        return NULL;
    struct ent *e = &t->v[t->n];
    memset(e, 0, sizeof *e);
    if (!(e->buf = malloc(len + 1)))
        return NULL;
    memcpy(e->buf, r->scr, len);
    if (t->days && !(e->day = calloc(r->n_days, sizeof *e->day))) {
        free(e->buf);
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < t->nf; i++) {
        e->f[i] = e->buf + o;
        o += strlen(e->buf + o) + 1;
    }
    if (strmap_put(&t->map, e->buf, klen, t->n) != 0) {
        free(e->buf);
        free(e->day);
        return NULL;
    }
    t->n++;
    return e;
}

static void acc_add(struct acc *a, const double *inc)
{
    for (int i = 0; i < N_F; i++)
        a->v[i] += inc[i];
    a->has = 1;
}

static const char *nz(const char *s)
{
    return s && s[0] ? s : NULL;
}

/* ---- JSON helpers: a failed allocation sets r->oom and is reported once at the end ---- */

static void jset(struct rep *r, json_t *o, const char *k, json_t *v)
{
    if (!o || !v || json_object_set_new(o, k, v) != 0)
        r->oom = 1;
}

static void jpush(struct rep *r, json_t *a, json_t *v)
{
    if (!a || !v || json_array_append_new(a, v) != 0)
        r->oom = 1;
}

static json_t *jstr_or_null(const char *s)
{
    return s && s[0] ? json_string(s) : json_null();
}

static json_t *jcount(double v)
{
    if (isfinite(v) && v == floor(v) && fabs(v) < 9.0e15)
        return json_integer((json_int_t)v);
    return json_real(isfinite(v) ? v : 0);
}

static json_t *jmoney(double v)
{
    return json_real(isfinite(v) ? v : 0);
}

static json_t *jtime(int64_t t)
{
    char b[32];
    return t > 0 ? json_string(tu_format_time(t, b, sizeof b)) : json_null();
}

static void fmt_date(int64_t t, char *buf, size_t len)
{
    int64_t y;
    unsigned m, d;
    tu_civil_from_days(floor_div(t, TU_DAY), &y, &m, &d);
    snprintf(buf, len, "%04lld-%02u-%02u", (long long)y, m, d);
}

static json_t *jdate(int64_t t)
{
    char b[16];
    fmt_date(t, b, sizeof b);
    return json_string(b);
}

/* Percent change from prev to cur; null when prev is 0. */
static json_t *jchange(double cur, double prev)
{
    if (prev == 0 || !isfinite(prev) || !isfinite(cur))
        return json_null();
    return json_real((cur - prev) / fabs(prev) * 100.0);
}

/* Money fields are reals always; counts are integers when whole. */
static json_t *jfield(int f, double v)
{
    return f <= F_EST ? jmoney(v) : jcount(v);
}

static void put_field(struct rep *r, json_t *o, const struct acc *a, int f)
{
    jset(r, o, FIELD[f], jfield(f, a->v[f]));
}

static json_t *acc_json(struct rep *r, const struct acc *a)
{
    json_t *o = json_object();
    for (int f = 0; f < N_F; f++)
        put_field(r, o, a, f);
    return o;
}

/* ---- reading the usage ---- */

static const char *group_label(const struct ts_agg_group *g, const char *name)
{
    for (size_t i = 0; i < g->n_labels; i++) {
        if (strcmp(g->labels[i].name, name) == 0)
            return g->labels[i].value;
    }
    return NULL;
}

/* Whether (provider, account) billed day t (cost_usd has a point there); marks it when mark.
 * -1 when out of memory. */
static int billed_cell(struct rep *r, const char *provider, const char *account, int64_t t,
                       int mark)
{
    char day[24];
    snprintf(day, sizeof day, "%lld", (long long)floor_div(t, TU_DAY));
    const char *f[MAXF] = {provider, account, day};
    if (mark)
        return tab_get(r, &r->cells, f) ? 1 : -1;
    return tab_find(r, &r->cells, f) != NULL;
}

/* The rows one group of one metric adds to; NULL entries when it adds to none of that kind. */
struct targets {
    struct ent *prov, *bu, *proj, *key, *model, *acct;
};

static int resolve_targets(struct rep *r, int m, const char *const *l, struct targets *t)
{
    memset(t, 0, sizeof *t);
    const char *bu = ana_business_unit(r->cfg, nz(l[L_PROJECT]), nz(l[L_KEY]));
    const char *fp[MAXF] = {l[L_PROVIDER]};
    const char *fb[MAXF] = {bu};
    const char *fj[MAXF] = {l[L_PROVIDER], l[L_ACCOUNT], l[L_PROJECT]};
    const char *fk[MAXF] = {l[L_ACCOUNT], l[L_KEY], l[L_PROVIDER], l[L_PROJECT]};
    const char *fm[MAXF] = {l[L_PROVIDER], l[L_MODEL]};
    const char *fa[MAXF] = {l[L_ACCOUNT], l[L_PROVIDER]};
    if (!(t->prov = tab_get(r, &r->prov, fp)) || !(t->bu = tab_get(r, &r->bu, fb)) ||
        !(t->proj = tab_get(r, &r->proj, fj)) || !(t->acct = tab_get(r, &r->acct, fa)))
        return -1;
    if (nz(l[L_KEY]) && !(t->key = tab_get(r, &r->key, fk)))
        return -1;
    /* billed cost without a model (OpenAI's) has no place in the model mix */
    if ((m != M_COST || nz(l[L_MODEL])) && !(t->model = tab_get(r, &r->model, fm)))
        return -1;
    return 0;
}

static int add_group(struct rep *r, int m, const struct ts_agg_group *g)
{
    const char *l[N_L];
    for (int i = 0; i < N_L; i++)
        l[i] = group_label(g, GROUP_BY[i]);
    struct targets t;
    if (resolve_targets(r, m, l, &t) != 0)
        return -1;
    for (size_t p = 0; p < g->n_points; p++) {
        int64_t time = g->times[p];
        double v = g->values[p], inc[N_F] = {0};
        if (time < r->pfrom || time >= r->to || !isfinite(v))
            continue;
        int per = time >= r->from ? 0 : 1;
        switch (m) {
        case M_COST:
            inc[F_COST] = inc[F_BILLED] = v;
            if (billed_cell(r, l[L_PROVIDER], l[L_ACCOUNT], time, 1) < 0)
                return -1;
            break;
        case M_EST:
            inc[F_EST] = v;
            if (!billed_cell(r, l[L_PROVIDER], l[L_ACCOUNT], time, 0))
                inc[F_COST] = v;
            break;
        case M_UNPRICED: inc[F_UNPRICED] = v; break;
        case M_IN: inc[F_IN] = v; break;
        case M_OUT: inc[F_OUT] = v; break;
        default: inc[F_REQ] = v; break;
        }
        acc_add(&r->tot[per], inc);
        struct ent *all[] = {t.prov, t.bu, t.proj, t.key, t.model, t.acct};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
            if (!all[i])
                continue;
            acc_add(&all[i]->a[per], inc);
            if (per == 0 && all[i]->day)
                acc_add(&all[i]->day[(time - r->from) / TU_DAY], inc);
        }
        if (per == 0)
            acc_add(&r->daily[(time - r->from) / TU_DAY], inc);
    }
    return 0;
}

static int read_usage(struct rep *r)
{
    for (int m = 0; m < N_M; m++) {
        struct ts_agg_query q = {.metric = METRIC[m],
                                 .group_by = GROUP_BY,
                                 .n_group_by = N_L,
                                 .from = r->pfrom,
                                 .to = r->to,
                                 .step = TU_DAY};
        struct ts_agg_result res;
        char e[512];
        if (ts_aggregate(r->st, &q, &res, e, sizeof e) != 0) {
            snprintf(r->err, r->errlen, "reading %s: %s", METRIC[m], e);
            return -1;
        }
        int rc = 0;
        for (size_t i = 0; i < res.n_groups && rc == 0; i++)
            rc = add_group(r, m, &res.groups[i]);
        ts_agg_free(&res);
        if (rc != 0) {
            snprintf(r->err, r->errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* ---- the "by" tables ---- */

struct sorted {
    double k;
    struct ent *e;
    size_t nf;
};

static int cmp_sorted(const void *a, const void *b)
{
    const struct sorted *x = a, *y = b;
    if (x->k != y->k)
        return x->k > y->k ? -1 : 1;
    for (size_t i = 0; i < x->nf; i++) {
        int c = strcmp(x->e->f[i], y->e->f[i]);
        if (c)
            return c;
    }
    return 0;
}

/* The rows of t with data in either period (only this period when cur_only), sorted by field f
 * of this period, largest first, then by their values. Caller frees; NULL when out of memory. */
static struct sorted *sort_tab(const struct tab *t, int f, int cur_only, size_t *n)
{
    struct sorted *s = malloc((t->n ? t->n : 1) * sizeof *s);
    *n = 0;
    if (!s)
        return NULL;
    for (size_t i = 0; i < t->n; i++) {
        const struct ent *e = &t->v[i];
        if (!e->a[0].has && (cur_only || !e->a[1].has))
            continue;
        s[(*n)++] = (struct sorted){.k = e->a[0].v[f], .e = &t->v[i], .nf = t->nf};
    }
    qsort(s, *n, sizeof *s, cmp_sorted);
    return s;
}

/* Adds every total of a, then the previous period's value of f and the change in it. */
static void put_sums(struct rep *r, json_t *o, const struct ent *e, int f)
{
    for (int i = 0; i < N_F; i++)
        put_field(r, o, &e->a[0], i);
    char prev[64];
    snprintf(prev, sizeof prev, "previous_%s", FIELD[f]);
    jset(r, o, prev, jfield(f, e->a[1].v[f]));
    jset(r, o, "change_pct", jchange(e->a[0].v[f], e->a[1].v[f]));
}

/* Rows of a one-label table (provider, business unit) by cost: {name: value, sums...}. */
static json_t *by_one_label(struct rep *r, const struct tab *t, const char *name)
{
    size_t n;
    struct sorted *s = sort_tab(t, F_COST, 0, &n);
    json_t *a = json_array();
    for (size_t i = 0; s && i < n; i++) {
        json_t *o = json_object();
        if (o)
            json_object_set_new(o, name, jstr_or_null(s[i].e->f[0]));
        put_sums(r, o, s[i].e, F_COST);
        jpush(r, a, o);
    }
    if (!s)
        r->oom = 1;
    free(s);
    return a;
}

static json_t *by_project(struct rep *r)
{
    size_t n;
    struct sorted *s = sort_tab(&r->proj, F_COST, 0, &n);
    json_t *a = json_array();
    for (size_t i = 0; s && i < n; i++) {
        const struct ent *e = s[i].e;
        json_t *o = json_pack("{s:o, s:o, s:o, s:s}", "provider", jstr_or_null(e->f[0]), "account",
                              jstr_or_null(e->f[1]), "project", jstr_or_null(e->f[2]),
                              "business_unit", ana_business_unit(r->cfg, nz(e->f[2]), NULL));
        put_sums(r, o, e, F_COST);
        json_t *days = json_array();
        for (size_t d = 0; d < r->n_days; d++) {
            if (!e->day[d].has)
                continue;
            int64_t t = r->from + (int64_t)d * TU_DAY;
            jpush(r, days,
                  json_pack("{s:o, s:o, s:o, s:o}", "date", jdate(t), "cost_usd",
                            jmoney(e->day[d].v[F_COST]), "billed_cost_usd",
                            jmoney(e->day[d].v[F_BILLED]), "estimated_cost_usd",
                            jmoney(e->day[d].v[F_EST])));
        }
        jset(r, o, "daily", days);
        jpush(r, a, o);
    }
    if (!s)
        r->oom = 1;
    free(s);
    return a;
}

/* The inventory item of a key, or NULL (borrowed from r->inv). */
static json_t *inv_item(struct rep *r, const char *account, const char *id)
{
    char k[1024];
    int n = snprintf(k, sizeof k, "%s/%s", account ? account : "", id ? id : "");
    if (n < 0 || (size_t)n >= sizeof k)
        return NULL;
    return json_object_get(r->inv, k);
}

static json_t *by_api_key(struct rep *r)
{
    size_t n;
    struct sorted *s = sort_tab(&r->key, F_EST, 1, &n);
    json_t *a = json_array();
    for (size_t i = 0; s && i < n && i < REP_TOP_KEYS; i++) {
        const struct ent *e = s[i].e;
        json_t *item = inv_item(r, e->f[0], e->f[1]);
        const char *name = json_string_value(json_object_get(item, "name"));
        const char *project =
            nz(e->f[3]) ? e->f[3] : json_string_value(json_object_get(item, "project"));
        json_t *o = json_pack("{s:o, s:o, s:s, s:o, s:o, s:s}", "provider", jstr_or_null(e->f[2]),
                              "account", jstr_or_null(e->f[0]), "api_key_id", e->f[1], "name",
                              jstr_or_null(name), "project", jstr_or_null(project), "business_unit",
                              ana_business_unit(r->cfg, project, e->f[1]));
        put_sums(r, o, e, F_EST);
        /* billed cost carries a key only at some providers: no "cost" per key */
        json_object_del(o, "cost_usd");
        jpush(r, a, o);
    }
    if (!s)
        r->oom = 1;
    free(s);
    return a;
}

static json_t *share(double part, double whole)
{
    return whole > 0 ? json_real(part / whole) : json_null();
}

static json_t *by_model(struct rep *r)
{
    size_t n;
    struct sorted *s = sort_tab(&r->model, F_EST, 0, &n);
    json_t *a = json_array();
    double tok = r->tot[0].v[F_IN] + r->tot[0].v[F_OUT];
    for (size_t i = 0; s && i < n; i++) {
        const struct ent *e = s[i].e;
        json_t *o = json_pack("{s:o, s:o}", "provider", jstr_or_null(e->f[0]), "model",
                              jstr_or_null(e->f[1]));
        for (int f = F_BILLED; f < N_F; f++)
            put_field(r, o, &e->a[0], f);
        jset(r, o, "share", share(e->a[0].v[F_EST], r->tot[0].v[F_EST]));
        jset(r, o, "token_share", share(e->a[0].v[F_IN] + e->a[0].v[F_OUT], tok));
        jset(r, o, "previous_estimated_cost_usd", jmoney(e->a[1].v[F_EST]));
        jset(r, o, "change_pct", jchange(e->a[0].v[F_EST], e->a[1].v[F_EST]));
        jpush(r, a, o);
    }
    if (!s)
        r->oom = 1;
    free(s);
    return a;
}

static json_t *daily(struct rep *r)
{
    size_t n;
    struct sorted *s = sort_tab(&r->prov, F_COST, 0, &n);
    json_t *a = json_array();
    for (size_t d = 0; s && d < r->n_days; d++) {
        int64_t t = r->from + (int64_t)d * TU_DAY;
        json_t *o = json_pack("{s:o}", "date", jdate(t));
        for (int f = 0; f < N_F; f++)
            put_field(r, o, &r->daily[d], f);
        json_t *bp = json_object();
        for (size_t i = 0; i < n; i++)
            jset(r, bp, nz(s[i].e->f[0]) ? s[i].e->f[0] : "unknown",
                 jmoney(s[i].e->day[d].v[F_COST]));
        jset(r, o, "by_provider", bp);
        jpush(r, a, o);
    }
    if (!s)
        r->oom = 1;
    free(s);
    return a;
}

static json_t *unpriced(struct rep *r)
{
    size_t n;
    struct sorted *s = sort_tab(&r->model, F_UNPRICED, 1, &n);
    json_t *a = json_array();
    for (size_t i = 0; s && i < n; i++) {
        const struct ent *e = s[i].e;
        if (e->a[0].v[F_UNPRICED] <= 0)
            continue;
        jpush(r, a,
              json_pack("{s:o, s:o, s:o}", "provider", jstr_or_null(e->f[0]), "model",
                        jstr_or_null(e->f[1]), "tokens", jcount(e->a[0].v[F_UNPRICED])));
    }
    if (!s)
        r->oom = 1;
    free(s);
    return a;
}

/* ---- alerts ---- */

struct alert_scan {
    struct rep *r;
    json_t *fired, *resolved;
};

static int alert_cb(const json_t *state, void *ud)
{
    struct alert_scan *as = ud;
    struct rep *r = as->r;
    int64_t start = (int64_t)json_integer_value(json_object_get(state, "starts_at"));
    int64_t end = (int64_t)json_integer_value(json_object_get(state, "ends_at"));
    const char *status = json_string_value(json_object_get(state, "status"));
    int resolved = status && strcmp(status, "resolved") == 0 && end > 0;
    int fired_in = start >= r->from && start < r->to;
    int resolved_in = resolved && end >= r->from && end < r->to;
    if (!fired_in && !resolved_in)
        return 0;
    int64_t until = resolved ? end : r->now;
    json_t *o =
        json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:O*, s:o, s:o, s:I}", "fingerprint",
                  jstr_or_null(json_string_value(json_object_get(state, "fingerprint"))), "rule",
                  jstr_or_null(json_string_value(json_object_get(state, "rule"))), "rule_name",
                  jstr_or_null(json_string_value(json_object_get(state, "rule_name"))), "severity",
                  jstr_or_null(json_string_value(json_object_get(state, "severity"))), "status",
                  jstr_or_null(status), "summary",
                  jstr_or_null(json_string_value(json_object_get(state, "summary"))), "labels",
                  json_object_get(state, "labels"), "starts_at", jtime(start), "ends_at",
                  jtime(resolved ? end : 0), "open_seconds",
                  (json_int_t)(until > start && start > 0 ? until - start : 0));
    if (!o) {
        r->oom = 1;
        return 1;
    }
    if (fired_in)
        jpush(r, as->fired, json_incref(o));
    if (resolved_in)
        jpush(r, as->resolved, json_incref(o));
    json_decref(o);
    return 0;
}

static json_t *alerts(struct rep *r)
{
    struct alert_scan as = {.r = r, .fired = json_array(), .resolved = json_array()};
    char e[512];
    if (alert_list(r->st, NULL, alert_cb, &as, e, sizeof e) != 0) {
        snprintf(r->err, r->errlen, "reading alerts: %s", e);
        json_decref(as.fired);
        json_decref(as.resolved);
        return NULL;
    }
    return json_pack("{s:o, s:o}", "fired", as.fired, "resolved", as.resolved);
}

/* ---- key inventory ---- */

static const char *provider_of(struct rep *r, const char *account)
{
    for (size_t i = 0; account && i < r->cfg->n_providers; i++) {
        if (strcmp(r->cfg->providers[i].name, account) == 0)
            return r->cfg->providers[i].type;
    }
    const char *f[MAXF] = {account, NULL};
    const struct ent *a = account ? tab_find(r, &r->acct, f) : NULL;
    return a ? nz(a->f[1]) : NULL;
}

static int64_t key_max_age(const struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_rules; i++) {
        const struct cfg_rule *ru = &cfg->rules[i];
        const char *s = json_string_value(json_object_get(ru->params, "max_age"));
        int64_t v;
        if (strcmp(ru->type, "key_age") == 0 && s && tu_parse_duration(s, &v) == 0)
            return v;
    }
    return REP_DEFAULT_MAX_AGE * TU_DAY;
}

struct key_scan {
    struct rep *r;
    int64_t max_age, asof;
    json_t *due, *unused, *created;
};

/* Whether the key had usage (tokens, requests or estimated cost) in the period. */
static int key_used(struct rep *r, const char *account, const char *id)
{
    const char *f[MAXF] = {account, id, NULL, NULL};
    const struct ent *e = tab_find(r, &r->key, f);
    return e && e->a[0].v[F_IN] + e->a[0].v[F_OUT] + e->a[0].v[F_REQ] + e->a[0].v[F_EST] +
                        e->a[0].v[F_UNPRICED] >
                    0;
}

/* A time field of an inventory item as unix seconds (integer, real or RFC 3339); 0 when absent. */
static int64_t item_time(const json_t *item, const char *name)
{
    const json_t *v = json_object_get(item, name);
    int64_t t = 0;
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_real(v))
        return (int64_t)json_real_value(v);
    if (json_is_string(v) && tu_parse_time(json_string_value(v), &t) == 0)
        return t;
    return 0;
}

/*
 * One inventory item "inv/<account>/<kind>/<id>". API and admin keys are
 * judged for rotation (ana_key_judge at the period's end) and creation in
 * the period; API keys also for use (admin keys are the collector's own).
 */
static int key_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud)
{
    struct key_scan *ks = ud;
    struct rep *r = ks->r;
    char k[1024];
    if (klen >= sizeof k)
        return 0;
    memcpy(k, key, klen);
    k[klen] = '\0';
    char *account = k + 4; /* after "inv/" */
    const char *kind = "api_key";
    char *mark = strstr(account, "/api_key/");
    if (!mark) {
        kind = "admin_key";
        mark = strstr(account, "/admin_key/");
    }
    size_t skip = strlen(kind) + 2;
    if (!mark || !mark[skip])
        return 0;
    *mark = '\0';
    const char *id = mark + skip;
    int api = strcmp(kind, "api_key") == 0;
    json_t *item = json_loadb(val, vlen, 0, NULL);
    if (!json_is_object(item)) {
        json_decref(item);
        return 0;
    }
    char ik[1024];
    snprintf(ik, sizeof ik, "%s/%s", account, id);
    if (api && json_object_set(r->inv, ik, item) != 0)
        r->oom = 1;
    int64_t created = item_time(item, "created_at"), used = item_time(item, "last_used_at");
    if (created >= r->to) {
        json_decref(item);
        return r->oom; /* made after the period */
    }
    struct ana_key_verdict v;
    ana_key_judge(item, ks->asof, ks->max_age, 0, &v);
    json_t *o = json_pack(
        "{s:o, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "provider",
        jstr_or_null(provider_of(r, account)), "account", account, "kind", kind, "api_key_id", id,
        "name", jstr_or_null(json_string_value(json_object_get(item, "name"))), "project",
        jstr_or_null(json_string_value(json_object_get(item, "project"))), "status",
        jstr_or_null(json_string_value(json_object_get(item, "status"))), "created_at",
        jtime(created), "last_used_at", jtime(used), "age_days",
        isnan(v.age_days) ? json_null() : json_real(floor(v.age_days)));
    json_decref(item);
    if (!o) {
        r->oom = 1;
        return 1;
    }
    if (v.too_old)
        jpush(r, ks->due, json_incref(o));
    int used_in = used >= r->from && used < r->to;
    if (api && v.active && !used_in && !key_used(r, account, id))
        jpush(r, ks->unused, json_incref(o));
    if (created >= r->from)
        jpush(r, ks->created, json_incref(o));
    json_decref(o);
    return r->oom;
}

static json_t *keys(struct rep *r)
{
    struct key_scan ks = {.r = r,
                          .max_age = key_max_age(r->cfg),
                          .asof = r->to < r->now ? r->to : r->now,
                          .due = json_array(),
                          .unused = json_array(),
                          .created = json_array()};
    char e[512];
    if (ts_scan(r->st, TS_META, "inv/", 4, key_cb, &ks, e, sizeof e) != 0) {
        snprintf(r->err, r->errlen, "reading the key inventory: %s", e);
        json_decref(ks.due);
        json_decref(ks.unused);
        json_decref(ks.created);
        return NULL;
    }
    char age[32];
    tu_format_duration(ks.max_age, age, sizeof age);
    return json_pack("{s:s, s:o, s:o, s:o}", "max_age", age, "due_for_rotation", ks.due, "unused",
                     ks.unused, "created", ks.created);
}

/* ---- first sightings ---- */

struct seen_scan {
    struct rep *r;
    json_t *keys, *models, *countries; /* countries: CC -> {first_seen, account, actor} */
};

static int seen_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud)
{
    struct seen_scan *ss = ud;
    struct rep *r = ss->r;
    char k[1024];
    int64_t t;
    if (klen >= sizeof k || ana_parse_secs(val, vlen, &t) != 0)
        return 0;
    memcpy(k, key, klen);
    k[klen] = '\0';
    char *account = k + 5, *kind = strchr(account, '/'); /* after "seen/" */
    if (!kind)
        return 0;
    *kind++ = '\0';
    char *value = strchr(kind, '/');
    if (!value || !value[1])
        return 0;
    *value++ = '\0';
    if (strcmp(kind, "country") == 0) {
        char *cc = strrchr(value, '/');
        if (!cc || !cc[1] || cc == value)
            return 0;
        *cc++ = '\0';
        json_t *cur = json_object_get(ss->countries, cc);
        if (cur && json_integer_value(json_object_get(cur, "t")) <= t)
            return 0;
        json_t *o =
            json_pack("{s:I, s:s, s:s}", "t", (json_int_t)t, "account", account, "actor", value);
        if (!o || json_object_set_new(ss->countries, cc, o) != 0)
            r->oom = 1;
        return r->oom;
    }
    if (t < r->from || t >= r->to)
        return 0;
    int is_key = strcmp(kind, "api_key") == 0;
    if (!is_key && strcmp(kind, "model") != 0)
        return 0;
    json_t *o = json_pack("{s:o, s:s, s:s, s:o}", "provider", jstr_or_null(provider_of(r, account)),
                          "account", account, is_key ? "api_key_id" : "model", value, "first_seen",
                          jtime(t));
    if (o && is_key) {
        json_t *item = inv_item(r, account, value);
        json_object_set_new(o, "name",
                            jstr_or_null(json_string_value(json_object_get(item, "name"))));
    }
    jpush(r, is_key ? ss->keys : ss->models, o);
    return r->oom;
}

static json_t *new_entities(struct rep *r)
{
    struct seen_scan ss = {
        .r = r, .keys = json_array(), .models = json_array(), .countries = json_object()};
    json_t *countries = json_array(), *out = NULL;
    char e[512];
    if (ts_scan(r->st, TS_META, "seen/", 5, seen_cb, &ss, e, sizeof e) != 0) {
        snprintf(r->err, r->errlen, "reading first sightings: %s", e);
        goto out;
    }
    const char *cc;
    json_t *c;
    json_object_foreach(ss.countries, cc, c)
    {
        int64_t t = (int64_t)json_integer_value(json_object_get(c, "t"));
        if (t < r->from || t >= r->to)
            continue;
        jpush(r, countries,
              json_pack("{s:s, s:o, s:O, s:O}", "country", cc, "first_seen", jtime(t), "account",
                        json_object_get(c, "account"), "actor", json_object_get(c, "actor")));
    }
    out = json_pack("{s:O, s:O, s:O}", "api_keys", ss.keys, "models", ss.models, "countries",
                    countries);
out:
    json_decref(ss.keys);
    json_decref(ss.models);
    json_decref(ss.countries);
    json_decref(countries);
    return out;
}

/* ---- audit events: failed authentications and session countries ---- */

struct event_scan {
    struct rep *r;
    json_t *fails;     /* actor -> count */
    json_t *countries; /* CC -> sessions */
};

static void bump(struct rep *r, json_t *o, const char *k)
{
    json_t *c = json_object_get(o, k);
    if (c)
        json_integer_set(c, json_integer_value(c) + 1);
    else
        jset(r, o, k, json_integer(1));
}

static int event_cb(const struct ts_event *ev, void *ud)
{
    struct event_scan *es = ud;
    int failed = fnmatch("audit.*.failed", ev->type, 0) == 0;
    json_t *j = json_loads(ev->json, 0, NULL);
    const char *actor = json_string_value(json_object_get(j, "actor"));
    const char *country = json_string_value(json_object_get(j, "country"));
    if (failed)
        bump(es->r, es->fails, actor && actor[0] ? actor : "(unknown)");
    else if (country && country[0])
        bump(es->r, es->countries, country);
    json_decref(j);
    return es->r->oom;
}

struct count {
    const char *name;
    json_int_t n;
};

static int cmp_count(const void *a, const void *b)
{
    const struct count *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* [{name_key: k, count_key: n}] from an object k -> n, largest first. */
static json_t *counts(struct rep *r, json_t *o, const char *name_key, const char *count_key)
{
    size_t n = json_object_size(o), i = 0;
    struct count *c = malloc((n ? n : 1) * sizeof *c);
    json_t *a = json_array();
    if (!c || !a) {
        r->oom = 1;
        free(c);
        return a;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        c[i++] = (struct count){k, json_integer_value(v)};
    }
    qsort(c, n, sizeof *c, cmp_count);
    for (i = 0; i < n; i++)
        jpush(r, a, json_pack("{s:s, s:I}", name_key, c[i].name, count_key, c[i].n));
    free(c);
    return a;
}

static int audit(struct rep *r)
{
    struct event_scan es = {.r = r, .fails = json_object(), .countries = json_object()};
    char e[512];
    int rc = -1;
    if (!es.fails || !es.countries) {
        r->oom = 1;
    } else if (ts_events_scan(r->st, r->from, r->to, "audit.*", event_cb, &es, e, sizeof e) != 0) {
        snprintf(r->err, r->errlen, "reading audit events: %s", e);
    } else {
        jset(r, r->doc, "auth_failures", counts(r, es.fails, "actor", "count"));
        jset(r, r->doc, "countries", counts(r, es.countries, "country", "sessions"));
        rc = 0;
    }
    json_decref(es.fails);
    json_decref(es.countries);
    return rc;
}

/* ---- data freshness ---- */

struct fresh_scan {
    struct rep *r;
    json_t *src; /* source -> entry */
    size_t plen;
    const char *what; /* "health" or "cursor" */
};

static json_t *source_entry(struct rep *r, json_t *src, const char *name)
{
    json_t *o = json_object_get(src, name);
    if (o)
        return o;
    o = json_pack("{s:s, s:o, s:n, s:n, s:n, s:i, s:n, s:{}, s:[]}", "source", name, "provider",
                  jstr_or_null(provider_of(r, name)), "last_data", "last_success", "last_attempt",
                  "failures", 0, "last_error", "cursors", "gaps");
    if (!o || json_object_set_new(src, name, o) != 0) {
        r->oom = 1;
        return NULL;
    }
    return o;
}

static int fresh_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud)
{
    struct fresh_scan *fs = ud;
    struct rep *r = fs->r;
    char k[1024];
    if (klen >= sizeof k)
        return 0;
    memcpy(k, key, klen);
    k[klen] = '\0';
    char *name = k + fs->plen, *endpoint = NULL;
    if (fs->what[0] == 'c') {
        if (!(endpoint = strchr(name, '/')) || !endpoint[1])
            return 0;
        *endpoint++ = '\0';
    }
    if (!name[0])
        return 0;
    json_t *o = source_entry(r, fs->src, name);
    if (!o)
        return 1;
    if (endpoint) {
        int64_t t;
        if (ana_parse_secs(val, vlen, &t) == 0)
            jset(r, json_object_get(o, "cursors"), endpoint, jtime(t));
        return r->oom;
    }
    json_t *h = json_loadb(val, vlen, 0, NULL);
    static const char *const times[] = {"last_data", "last_success", "last_attempt"};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        json_int_t t = json_integer_value(json_object_get(h, times[i]));
        jset(r, o, times[i], jtime((int64_t)t));
    }
    jset(r, o, "failures", json_integer(json_integer_value(json_object_get(h, "failures"))));
    const char *le = json_string_value(json_object_get(h, "last_error"));
    jset(r, o, "last_error", jstr_or_null(le));
    if (!json_is_string(json_object_get(o, "provider")))
        jset(r, o, "provider", jstr_or_null(json_string_value(json_object_get(h, "provider"))));
    json_decref(h);
    return r->oom;
}

static json_t *data_freshness(struct rep *r)
{
    json_t *src = json_object(), *out = json_array();
    char e[512];
    for (size_t i = 0; i < r->cfg->n_providers; i++) {
        if (r->cfg->providers[i].enabled)
            source_entry(r, src, r->cfg->providers[i].name);
    }
    struct fresh_scan hs = {.r = r, .src = src, .plen = 7, .what = "health"};
    struct fresh_scan cs = {.r = r, .src = src, .plen = 7, .what = "cursor"};
    if (ts_scan(r->st, TS_META, "health/", 7, fresh_cb, &hs, e, sizeof e) != 0 ||
        ts_scan(r->st, TS_META, "cursor/", 7, fresh_cb, &cs, e, sizeof e) != 0) {
        snprintf(r->err, r->errlen, "reading source health: %s", e);
        json_decref(src);
        json_decref(out);
        return NULL;
    }
    for (size_t i = 0; i < r->acct.n; i++) {
        if (r->acct.v[i].f[0][0])
            source_entry(r, src, r->acct.v[i].f[0]);
    }
    /* gaps: closed days of the period without any usage or cost of the source */
    const char *name;
    json_t *o;
    json_object_foreach(src, name, o)
    {
        const char *type = json_string_value(json_object_get(o, "provider"));
        if (type && strcmp(type, "gateway") == 0)
            continue; /* a key proxy pushes events, not usage */
        const char *f[MAXF] = {name, NULL};
        const struct ent *a = tab_find(r, &r->acct, f);
        json_t *gaps = json_object_get(o, "gaps");
        for (size_t d = 0; d < r->n_days; d++) {
            int64_t t = r->from + (int64_t)d * TU_DAY;
            if (t + TU_DAY <= r->now && (!a || !a->day[d].has))
                jpush(r, gaps, jdate(t));
        }
        jpush(r, out, json_incref(o));
    }
    json_decref(src);
    return out;
}

/* ---- the document ---- */

static void rep_free(struct rep *r)
{
    struct tab *tabs[] = {&r->prov, &r->bu, &r->proj, &r->key, &r->model, &r->acct, &r->cells};
    for (size_t i = 0; i < sizeof tabs / sizeof tabs[0]; i++)
        tab_free(tabs[i]);
    free(r->daily);
    free(r->scr);
    json_decref(r->inv);
    json_decref(r->doc);
}

static json_t *totals_change(struct rep *r)
{
    json_t *o = json_object();
    for (int f = 0; f < N_F; f++)
        jset(r, o, FIELD[f], jchange(r->tot[0].v[f], r->tot[1].v[f]));
    return o;
}

int rep_build(struct ts_store *st, const struct config *cfg, int64_t from, int64_t to, int64_t now,
              json_t **out, char *err, size_t errlen)
{
    struct rep r = {
        .st = st, .cfg = cfg, .from = from, .to = to, .now = now, .err = err, .errlen = errlen};
    int rc = -1;
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (from % TU_DAY != 0 || to % TU_DAY != 0 || to <= from ||
        (to - from) / TU_DAY > REP_MAX_DAYS) {
        snprintf(err, errlen, "a report covers 1 to %d whole UTC days", REP_MAX_DAYS);
        return -1;
    }
    r.n_days = (size_t)((to - from) / TU_DAY);
    r.pfrom = from - (to - from);
    tab_init(&r.prov, 1, 1, 1);
    tab_init(&r.bu, 1, 1, 0);
    tab_init(&r.proj, 3, 3, 1);
    tab_init(&r.key, 4, 2, 0);
    tab_init(&r.model, 2, 2, 0);
    tab_init(&r.acct, 2, 1, 1);
    tab_init(&r.cells, 3, 3, 0);
    r.daily = calloc(r.n_days, sizeof *r.daily);
    r.inv = json_object();
    r.doc = json_object();
    if (!r.daily || !r.inv || !r.doc) {
        r.oom = 1;
        goto out;
    }
    for (size_t i = 0; i < cfg->n_units; i++) {
        const char *f[MAXF] = {cfg->units[i].name};
        if (!tab_get(&r, &r.bu, f)) {
            r.oom = 1;
            goto out;
        }
    }
    if (read_usage(&r) != 0)
        goto out;

    json_t *period = json_pack("{s:o, s:o}", "from", jtime(from), "to", jtime(to));
    jset(&r, r.doc, "period", period);
    jset(&r, r.doc, "totals", acc_json(&r, &r.tot[0]));
    jset(&r, r.doc, "previous_totals", acc_json(&r, &r.tot[1]));
    jset(&r, r.doc, "change_pct", totals_change(&r));
    jset(&r, r.doc, "by_provider", by_one_label(&r, &r.prov, "provider"));
    jset(&r, r.doc, "by_business_unit", by_one_label(&r, &r.bu, "business_unit"));
    jset(&r, r.doc, "by_project", by_project(&r));
    /* the inventory is read before the key table so names can be attached */
    json_t *k = keys(&r);
    if (!k)
        goto out;
    jset(&r, r.doc, "by_api_key", by_api_key(&r));
    jset(&r, r.doc, "by_model", by_model(&r));
    jset(&r, r.doc, "daily", daily(&r));
    json_t *al = alerts(&r);
    if (!al) {
        json_decref(k);
        goto out;
    }
    jset(&r, r.doc, "alerts", al);
    jset(&r, r.doc, "keys", k);
    json_t *ne = new_entities(&r);
    if (!ne)
        goto out;
    jset(&r, r.doc, "new_entities", ne);
    if (audit(&r) != 0)
        goto out;
    jset(&r, r.doc, "unpriced", unpriced(&r));
    json_t *df = data_freshness(&r);
    if (!df)
        goto out;
    jset(&r, r.doc, "data_freshness", df);
    jset(&r, r.doc, "empty", json_boolean(!r.tot[0].has));
    if (!r.tot[0].has)
        jset(&r, r.doc, "message", json_string("No data for this period"));
    if (r.oom)
        goto out;
    *out = r.doc;
    r.doc = NULL;
    rc = 0;
out:
    if (r.oom && (!err || !err[0]))
        snprintf(err, errlen, "building the report: out of memory");
    rep_free(&r);
    return rc;
}

int rep_render_json(const json_t *report, char **out, size_t *len, char *err, size_t errlen)
{
    if (!json_is_object(report)) {
        snprintf(err, errlen, "not a report");
        return -1;
    }
    char *s = json_dumps(report, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    if (!s) {
        snprintf(err, errlen, "rendering json: out of memory");
        return -1;
    }
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) {
        free(s);
        snprintf(err, errlen, "rendering json: out of memory");
        return -1;
    }
    t[n] = '\n';
    t[n + 1] = '\0';
    *out = t;
    *len = n + 1;
    return 0;
}
