/*
 * `make bench` (fifth part): the weekly report against the target, "a
 * weekly report over 5,000 series with 90 days of hourly history in <= 1 s,
 * >= 3x faster than the same aggregation in SQLite run in the same benchmark".
 * Builds a store shaped like the collector's output (hourly usage and
 * estimated cost per API key and model, billed cost per project and line
 * item, key inventory, first sightings, source health, audit logins), loads
 * the same points into SQLite, then times rep_build plus the md form of the
 * last complete ISO week against SQLite computing the report's core figures
 * with GROUP BY queries, and checks both against each other and the generator.
 */
#include "../../collector/config.h"
#include "../../common/log.h"
#include "../../common/timeutil.h"
#include "../../report/render.h"
#include "../../report/report.h"
#include "../../storage/ts.h"

#include "benchsql.h"
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- the shape of the data ------------------------------------------------ */

#define TARGET_MS 1000.0
#define TARGET_RATIO 3.0
#define N_PROVIDERS 2
#define MODELS_PER_PROVIDER 3
#define KEYS_PER_PROJECT 20
#define ITEMS_PER_PROJECT 20 /* cost_usd line items */
#define N_USAGE 4            /* hourly series per API key */
#define SERIES_PER_PROJECT (KEYS_PER_PROJECT * N_USAGE + ITEMS_PER_PROJECT)
#define USERS 60
#define LOGINS_PER_DAY 120
#define FAILED_PER_DAY 6
#define SQLITE_TXN_ROWS 100000
#define SQLITE_CACHE_KB 262144 /* 256 MB: the two weeks SQLite reads stay cached */
#define MAX_RUNS 99
#define REL_TOL 1e-9

enum { F_COST, F_BILLED, F_EST, F_IN, F_OUT, F_REQ, N_F };
static const char *const FIELD[N_F] = {"cost_usd",     "billed_cost_usd", "estimated_cost_usd",
                                       "input_tokens", "output_tokens",   "requests"};
static const char *const USAGE[N_USAGE] = {"input_tokens", "output_tokens", "requests",
                                           "est_cost_usd"};
static const int USAGE_FIELD[N_USAGE] = {F_IN, F_OUT, F_REQ, F_EST};

/* Project p belongs to PROVS[p % N_PROVIDERS]. */
static const struct provider {
    const char *type, *account;
    const char *models[MODELS_PER_PROVIDER];
    double price[MODELS_PER_PROVIDER][2]; /* USD per million input / output tokens */
} PROVS[N_PROVIDERS] = {
    {"anthropic",
     "acme-claude",
     {"claude-sonnet-4", "claude-opus-4-1", "claude-3-5-haiku"},
     {{3.0, 15.0}, {15.0, 75.0}, {0.8, 4.0}}},
    {"openai",
     "acme-openai",
     {"gpt-4.1", "gpt-4.1-mini", "o3"},
     {{2.0, 8.0}, {0.4, 1.6}, {2.0, 8.0}}},
};

static const char *const COUNTRIES[] = {"US", "US", "US", "GB", "DE", "US", "CA", "US"};

struct key {
    char id[40];
    int project, prov, model;
    double base;        /* input tokens per hour at peak */
    double out_ratio;   /* output / input tokens */
    double tok_per_req; /* input tokens per request */
    int64_t created;    /* the inventory's created_at */
};

/*
 * Series index i: i < n_keys * N_USAGE is usage metric i % N_USAGE of key
 * i / N_USAGE; the rest are cost_usd series j = i - n_keys * N_USAGE of
 * project j / ITEMS_PER_PROJECT, line item j % ITEMS_PER_PROJECT. SQLite's
 * series id is i + 1.
 */
struct dataset {
    size_t n_series, n_projects, n_keys, n_items;
    int days;
    int64_t start, end, now; /* hourly history [start, end); the report is made at now */
    int64_t from, to, pfrom; /* the report's week [from, to), the one before from pfrom */
    struct key *keys;
    double *item_base; /* n_items: a line item's USD per hour at peak */
    char (*projects)[32];
};

struct opts {
    size_t series;
    int days, runs, keep, quick;
    const char *dir;
};

/* ---- small utilities ------------------------------------------------------ */

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Uniform in [0, 1) from a hash. */
static double unit(uint64_t h)
{
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

static int close_enough(double a, double b)
{
    return fabs(a - b) <= REL_TOL * fmax(fabs(a), fabs(b)) + 1e-9;
}

static const char *met(int ok)
{
    return ok ? "MET" : "NOT MET";
}

static int64_t g_clock; /* the store's "now" for retention */

static int64_t bench_clock(void)
{
    return g_clock;
}

/* ---- synthetic data: deterministic from (series, hour) --------------------- */

static int dataset_init(struct dataset *d, const struct opts *o)
{
    memset(d, 0, sizeof *d);
    d->n_series = o->series;
    d->n_projects = o->series / SERIES_PER_PROJECT;
    d->n_keys = d->n_projects * KEYS_PER_PROJECT;
    d->n_items = d->n_projects * ITEMS_PER_PROJECT;
    d->days = o->days;
    /* Wednesday 2026-11-18: the last complete week is 2026-W46 */
    d->end = tu_days_from_civil(2026, 11, 18) * TU_DAY;
    d->start = d->end - (int64_t)o->days * TU_DAY;
    d->now = d->end + (int64_t)12 * TU_HOUR;
    rep_last_complete_week(d->now, &d->from, &d->to);
    d->pfrom = d->from - (d->to - d->from);
    d->keys = calloc(d->n_keys, sizeof *d->keys);
    d->item_base = calloc(d->n_items, sizeof *d->item_base);
    d->projects = calloc(d->n_projects, sizeof *d->projects);
    if (!d->keys || !d->item_base || !d->projects)
        return -1;
    for (size_t p = 0; p < d->n_projects; p++)
        snprintf(d->projects[p], sizeof d->projects[p], "proj-%03zu", p);
    for (size_t k = 0; k < d->n_keys; k++) {
        struct key *key = &d->keys[k];
        uint64_t h = mix64(0x6b657973ULL ^ (uint64_t)k);
        key->project = (int)(k / KEYS_PER_PROJECT);
        key->prov = key->project % N_PROVIDERS;
        key->model = (int)(k % MODELS_PER_PROVIDER);
        if (key->prov == 1)
            snprintf(key->id, sizeof key->id, "key_%012" PRIx64, h >> 16);
        else
            snprintf(key->id, sizeof key->id, "apikey_01%012" PRIx64, h >> 16);
        key->base = 200.0 * exp(5.0 * unit(mix64(h + 1))); /* 200 .. ~30k input tokens/h */
        key->out_ratio = 0.1 + 0.4 * unit(mix64(h + 2));
        key->tok_per_req = 300.0 + 2700.0 * unit(mix64(h + 3));
        key->created = d->start - (int64_t)(unit(mix64(h + 4)) * 150) * TU_DAY;
    }
    for (size_t j = 0; j < d->n_items; j++)
        d->item_base[j] = 0.002 + 0.1 * unit(mix64(0x17e3ULL ^ (uint64_t)j));
    return 0;
}

static void dataset_free(struct dataset *d)
{
    free(d->keys);
    free(d->item_base);
    free(d->projects);
}

/* Daily and weekly rhythm: quiet nights, quieter weekends. */
static double pattern(int64_t t)
{
    int64_t hod = (t / TU_HOUR) % 24;
    int64_t dow = (t / TU_DAY + 3) % 7; /* 0 = Monday */
    double diurnal = 0.2 + 0.8 * 0.5 * (1.0 - cos(2.0 * M_PI * (double)(hod - 4) / 24.0));
    return diurnal * (dow >= 5 ? 0.45 : 1.0);
}

/* Key k's usage in the hour starting at t (pat = pattern(t)), in USAGE order. */
static void gen_usage(const struct dataset *d, size_t k, int64_t t, double pat, double v[N_USAGE])
{
    const struct key *key = &d->keys[k];
    uint64_t h = mix64(((uint64_t)k << 32) ^ (uint64_t)(t / TU_HOUR));
    memset(v, 0, N_USAGE * sizeof *v);
    if (unit(h) < 0.05)
        return; /* idle this hour: zeros, still written */
    double a = key->base * pat * (0.7 + 0.6 * unit(mix64(h)));
    const double *pr = PROVS[key->prov].price[key->model];
    v[0] = floor(a + 0.5);
    v[1] = floor(a * key->out_ratio + 0.5);
    v[2] = ceil(v[0] / key->tok_per_req);
    v[3] = (v[0] * pr[0] + v[1] * pr[1]) / 1e6;
}

/* Billed cost of line item series j in the hour starting at t, to 1/100 cent. */
static double gen_cost(const struct dataset *d, size_t j, int64_t t, double pat)
{
    uint64_t h = mix64(0xc057ULL ^ ((uint64_t)j << 32) ^ (uint64_t)(t / TU_HOUR));
    return round(d->item_base[j] * pat * (0.7 + 0.6 * unit(h)) * 1e4) / 1e4;
}

static double series_value(const struct dataset *d, size_t i, int64_t t)
{
    size_t n_usage = d->n_keys * N_USAGE;
    if (i >= n_usage)
        return gen_cost(d, i - n_usage, t, pattern(t));
    double v[N_USAGE];
    gen_usage(d, i / N_USAGE, t, pattern(t), v);
    return v[i % N_USAGE];
}

/* ---- the store ------------------------------------------------------------ */

struct store {
    struct ts_store *st;
    uint64_t *ids; /* by series index */
};

struct build_info {
    uint64_t points, events, disk_bytes;
    double reg_s, write_s, compact_s;
    size_t writes;
};

static void store_close(struct store *s)
{
    if (s->st)
        ts_close(s->st);
    free(s->ids);
    memset(s, 0, sizeof *s);
}

static int store_create(struct store *s, const struct dataset *d, const char *dir, char *err,
                        size_t errlen)
{
    struct ts_options o = {.create = 1, .clock = bench_clock};
    memset(s, 0, sizeof *s);
    if (ts_open(dir, &o, &s->st, err, errlen) != 0)
        return -1;
    if (!(s->ids = malloc(d->n_series * sizeof *s->ids))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t k = 0; k < d->n_keys; k++) {
        const struct key *key = &d->keys[k];
        const struct provider *p = &PROVS[key->prov];
        struct ts_label l[] = {{"provider", p->type},
                               {"account", p->account},
                               {"project", d->projects[key->project]},
                               {"api_key_id", key->id},
                               {"model", p->models[key->model]}};
        for (size_t m = 0; m < N_USAGE; m++) {
            const struct ts_series *ser;
            if (ts_series_get(s->st, USAGE[m], l, 5, &ser, err, errlen) != 0)
                return -1;
            s->ids[k * N_USAGE + m] = ser->id;
        }
    }
    for (size_t j = 0; j < d->n_items; j++) {
        size_t p = j / ITEMS_PER_PROJECT;
        char item[32];
        snprintf(item, sizeof item, "item_%02zu", j % ITEMS_PER_PROJECT);
        struct ts_label l[] = {{"provider", PROVS[p % N_PROVIDERS].type},
                               {"account", PROVS[p % N_PROVIDERS].account},
                               {"project", d->projects[p]},
                               {"line_item", item}};
        const struct ts_series *ser;
        if (ts_series_get(s->st, "cost_usd", l, 4, &ser, err, errlen) != 0)
            return -1;
        s->ids[d->n_keys * N_USAGE + j] = ser->id;
    }
    return 0;
}

static int put_meta(struct ts_batch *b, const char *key, const char *val)
{
    return ts_batch_put(b, TS_META, key, strlen(key), val, strlen(val));
}

/* The day's audit logins: LOGINS_PER_DAY, the first FAILED_PER_DAY of them failed. */
static int add_day_events(struct ts_batch *b, int64_t day, uint64_t *n)
{
    for (int i = 0; i < LOGINS_PER_DAY; i++) {
        uint64_t e = mix64(0xa0d17ULL ^ ((uint64_t)(day / TU_DAY) << 16) ^ (uint64_t)i);
        int user = (int)(e % USERS), failed = i < FAILED_PER_DAY;
        const struct provider *p = &PROVS[user % N_PROVIDERS];
        int64_t at = day + (int64_t)((e >> 20) % TU_DAY);
        const char *type = failed ? "audit.login.failed" : "audit.login.succeeded";
        char json[512];
        int len =
            snprintf(json, sizeof json,
                     "{\"provider\":\"%s\",\"account\":\"%s\",\"type\":\"%s\",\"time\":%" PRId64
                     ",\"actor\":\"user%d@example.com\",\"country\":\"%s\"}",
                     p->type, p->account, type + 6, at, user,
                     COUNTRIES[user % (int)(sizeof COUNTRIES / sizeof COUNTRIES[0])]);
        if (len < 0 || (size_t)len >= sizeof json)
            return -1;
        struct ts_event ev = {.time = at, .type = type, .json = json};
        if (ts_batch_add_event(b, &ev) != 0)
            return -1;
        ++*n;
    }
    return 0;
}

/* Inventory, first sightings, health and cursors as the collector leaves them at end. */
static int add_meta(struct ts_batch *b, const struct dataset *d)
{
    char k[256], v[512];
    for (size_t i = 0; i < d->n_keys; i++) {
        const struct key *key = &d->keys[i];
        const char *acct = PROVS[key->prov].account;
        snprintf(k, sizeof k, "inv/%s/api_key/%s", acct, key->id);
        snprintf(v, sizeof v,
                 "{\"created_at\":%" PRId64 ",\"id\":\"%s\",\"name\":\"svc-%zu\",\"project\":"
                 "\"%s\",\"status\":\"active\",\"last_used_at\":%" PRId64 "}",
                 key->created, key->id, i, d->projects[key->project], d->end - TU_HOUR);
        if (put_meta(b, k, v) != 0)
            return -1;
        snprintf(k, sizeof k, "seen/%s/api_key/%s", acct, key->id);
        snprintf(v, sizeof v, "%" PRId64, d->start);
        if (put_meta(b, k, v) != 0)
            return -1;
    }
    for (int p = 0; p < N_PROVIDERS; p++) {
        for (int m = 0; m < MODELS_PER_PROVIDER; m++) {
            snprintf(k, sizeof k, "seen/%s/model/%s", PROVS[p].account, PROVS[p].models[m]);
            snprintf(v, sizeof v, "%" PRId64, d->start);
            if (put_meta(b, k, v) != 0)
                return -1;
        }
        snprintf(k, sizeof k, "health/%s", PROVS[p].account);
        snprintf(v, sizeof v,
                 "{\"account\":\"%s\",\"cycles\":%d,\"failures\":0,\"last_attempt\":%" PRId64
                 ",\"last_data\":%" PRId64 ",\"last_success\":%" PRId64 ",\"provider\":\"%s\"}",
                 PROVS[p].account, d->days * 288, d->now - 60, d->end, d->now - 60, PROVS[p].type);
        if (put_meta(b, k, v) != 0)
            return -1;
        snprintf(k, sizeof k, "cursor/%s/usage", PROVS[p].account);
        snprintf(v, sizeof v, "%" PRId64, d->end);
        if (put_meta(b, k, v) != 0)
            return -1;
    }
    return 0;
}

/*
 * Writes the history day by day (one ts_write of every series' 24 hours and
 * the day's logins, like a backfill), then the meta keys. truth[0] and
 * truth[1] get the generator's totals of the report's week and the week
 * before (all cost is billed, so cost equals billed cost).
 */
static int store_fill(struct store *s, const struct dataset *d, double truth[2][N_F],
                      struct build_info *bi, char *err, size_t errlen)
{
    struct ts_batch *b = ts_batch_new();
    int rc = -1;
    double t0 = now_ms();
    if (!b)
        goto oom;
    for (int64_t day = d->start; day < d->end; day += TU_DAY) {
        for (int64_t t = day; t < day + TU_DAY; t += TU_HOUR) {
            double pat = pattern(t), v[N_USAGE];
            int per = t >= d->from && t < d->to ? 0 : t >= d->pfrom && t < d->from ? 1 : -1;
            for (size_t k = 0; k < d->n_keys; k++) {
                gen_usage(d, k, t, pat, v);
                for (size_t m = 0; m < N_USAGE; m++) {
                    if (ts_batch_add(b, s->ids[k * N_USAGE + m], t, v[m]) != 0)
                        goto oom;
                    if (per >= 0)
                        truth[per][USAGE_FIELD[m]] += v[m];
                }
            }
            for (size_t j = 0; j < d->n_items; j++) {
                double c = gen_cost(d, j, t, pat);
                if (ts_batch_add(b, s->ids[d->n_keys * N_USAGE + j], t, c) != 0)
                    goto oom;
                if (per >= 0) {
                    truth[per][F_COST] += c;
                    truth[per][F_BILLED] += c;
                }
            }
            bi->points += d->n_series;
        }
        if (add_day_events(b, day, &bi->events) != 0)
            goto oom;
        if (ts_write(s->st, b, err, errlen) != 0)
            goto out;
        bi->writes++;
        ts_batch_clear(b);
    }
    if (add_meta(b, d) != 0)
        goto oom;
    if (ts_write(s->st, b, err, errlen) != 0)
        goto out;
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    ts_batch_free(b);
    bi->write_s = (now_ms() - t0) / 1e3;
    return rc;
}

/* ---- the report through rep_build ------------------------------------------ */

struct rep_run {
    double build_ms, cpu_ms, md_ms;
    size_t md_len;
};

/* One rep_build of the week and its md form, timed; the document stays in *doc when doc. */
static int report_once(struct ts_store *st, const struct config *cfg, const struct dataset *d,
                       struct rep_run *r, json_t **doc, char *err, size_t errlen)
{
    json_t *rep = NULL;
    char *md = NULL;
    double c0 = cpu_ms(), t0 = now_ms();
    if (rep_build(st, cfg, d->from, d->to, d->now, &rep, err, errlen) != 0)
        return -1;
    double t1 = now_ms(), c1 = cpu_ms();
    if (rep_render_md(rep, &md, &r->md_len, err, errlen) != 0) {
        json_decref(rep);
        return -1;
    }
    r->md_ms = now_ms() - t1;
    r->build_ms = t1 - t0;
    r->cpu_ms = c1 - c0;
    free(md);
    if (doc)
        *doc = rep;
    else
        json_decref(rep);
    return 0;
}

/* ---- the same figures in SQLite --------------------------------------------- */

static int bind_text_or_null(sqlite3_stmt *q, int col, const char *s)
{
    return s ? sqlite3_bind_text(q, col, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(q, col);
}

/*
 * Every point of the dataset in SQLite: WAL, points(series_id, t, value)
 * keyed (series_id, t) WITHOUT ROWID (the (series, t) index is the table),
 * the labels in series; one prepared insert, SQLITE_TXN_ROWS rows per
 * transaction, rows in key order (series by series: SQLite's fastest load).
 */
static int sqlite_build(const struct dataset *d, const char *dir, sqlite3 **out, uint64_t *rows,
                        size_t *txns)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *ser = NULL, *ins = NULL;
    int rc = -1;
    size_t in_txn = 0;
    *rows = 0;
    *txns = 0;
    if (bench_sql_open(dir, &db) != 0)
        return -1;
    if (bench_sql_exec(db,
                       "CREATE TABLE series(id INTEGER PRIMARY KEY, metric TEXT NOT NULL, "
                       "provider TEXT, account TEXT, project TEXT, api_key_id TEXT, model TEXT, "
                       "line_item TEXT)") ||
        bench_sql_exec(db, "CREATE TABLE points(series_id INTEGER NOT NULL, t INTEGER NOT NULL, "
                           "value REAL NOT NULL, PRIMARY KEY(series_id, t)) WITHOUT ROWID") ||
        sqlite3_prepare_v2(db, "INSERT INTO series VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", -1,
                           &ser, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO points VALUES(?1, ?2, ?3)", -1, &ins, NULL) !=
            SQLITE_OK ||
        bench_sql_exec(db, "BEGIN"))
        goto fail;
    size_t n_usage = d->n_keys * N_USAGE;
    for (size_t i = 0; i < d->n_series; i++) {
        const struct key *key = i < n_usage ? &d->keys[i / N_USAGE] : NULL;
        size_t proj = key ? (size_t)key->project : (i - n_usage) / ITEMS_PER_PROJECT;
        const struct provider *p = &PROVS[proj % N_PROVIDERS];
        char item[32];
        snprintf(item, sizeof item, "item_%02zu", (i - n_usage) % ITEMS_PER_PROJECT);
        sqlite3_bind_int64(ser, 1, (sqlite3_int64)i + 1);
        if (sqlite3_bind_text(ser, 2, key ? USAGE[i % N_USAGE] : "cost_usd", -1, SQLITE_STATIC) ||
            bind_text_or_null(ser, 3, p->type) || bind_text_or_null(ser, 4, p->account) ||
            bind_text_or_null(ser, 5, d->projects[proj]) ||
            bind_text_or_null(ser, 6, key ? key->id : NULL) ||
            bind_text_or_null(ser, 7, key ? p->models[key->model] : NULL) ||
            bind_text_or_null(ser, 8, key ? NULL : item) || sqlite3_step(ser) != SQLITE_DONE)
            goto fail;
        sqlite3_reset(ser);
        for (int64_t t = d->start; t < d->end; t += TU_HOUR) {
            sqlite3_bind_int64(ins, 1, (sqlite3_int64)i + 1);
            sqlite3_bind_int64(ins, 2, t);
            sqlite3_bind_double(ins, 3, series_value(d, i, t));
            if (sqlite3_step(ins) != SQLITE_DONE)
                goto fail;
            sqlite3_reset(ins);
            ++*rows;
            if (++in_txn == SQLITE_TXN_ROWS) {
                if (bench_sql_exec(db, "COMMIT") || bench_sql_exec(db, "BEGIN"))
                    goto fail;
                ++*txns;
                in_txn = 0;
            }
        }
    }
    if (bench_sql_exec(db, "COMMIT") || bench_sql_settle(db))
        goto fail;
    ++*txns;
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA cache_size=-%d", SQLITE_CACHE_KB);
    if (bench_sql_exec(db, pragma) || bench_sql_exec(db, "PRAGMA temp_store=MEMORY"))
        goto fail;
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "sqlite: %s\n", db ? sqlite3_errmsg(db) : "cannot open");
out:
    sqlite3_finalize(ser);
    sqlite3_finalize(ins);
    if (rc != 0 && db) {
        sqlite3_close(db);
        db = NULL;
    }
    *out = db;
    return rc;
}

/*
 * SQLite's best shape for the report: one pass over the two weeks' points,
 * series by series through the primary key, into per-(series, day) sums; the
 * billed (provider, account, day) cells; those sums with their labels and the
 * report's cost fields (cost is billed cost where the cell was billed,
 * estimated cost elsewhere); then one GROUP BY per figure of the report.
 */
static const char SQL_STAGE[] =
    "CREATE TEMP TABLE d AS SELECT p.series_id AS sid, p.t / 86400 AS day, SUM(p.value) AS v "
    "FROM series s CROSS JOIN points p ON p.series_id = s.id "
    "WHERE p.t >= ?1 AND p.t < ?2 GROUP BY p.series_id, day";
/* For information: only reading the two weeks' points, no grouping (SQLite's floor). */
static const char SQL_SCAN[] =
    "SELECT count(*), TOTAL(p.value) FROM series s CROSS JOIN points p ON p.series_id = s.id "
    "WHERE p.t >= ?1 AND p.t < ?2";
static const char SQL_CELLS[] =
    "CREATE TEMP TABLE cells(provider TEXT NOT NULL, account TEXT NOT NULL, day INTEGER NOT NULL, "
    "PRIMARY KEY(provider, account, day)) WITHOUT ROWID; "
    "INSERT OR IGNORE INTO cells SELECT IFNULL(s.provider, ''), IFNULL(s.account, ''), d.day "
    "FROM d JOIN series s ON s.id = d.sid WHERE s.metric = 'cost_usd'";
static const char SQL_FACTS[] =
    "CREATE TEMP TABLE f AS SELECT s.provider AS provider, s.account AS account, "
    "s.project AS project, s.api_key_id AS api_key_id, s.model AS model, d.day AS day, "
    "d.day >= ?1 AS cur, "
    "CASE WHEN s.metric = 'cost_usd' OR (s.metric = 'est_cost_usd' AND c.day IS NULL) "
    "THEN d.v ELSE 0 END AS cost, "
    "CASE WHEN s.metric = 'cost_usd' THEN d.v ELSE 0 END AS billed, "
    "CASE WHEN s.metric = 'est_cost_usd' THEN d.v ELSE 0 END AS est, "
    "CASE WHEN s.metric = 'input_tokens' THEN d.v ELSE 0 END AS inp, "
    "CASE WHEN s.metric = 'output_tokens' THEN d.v ELSE 0 END AS outp, "
    "CASE WHEN s.metric = 'requests' THEN d.v ELSE 0 END AS req "
    "FROM d JOIN series s ON s.id = d.sid LEFT JOIN cells c ON c.provider = "
    "IFNULL(s.provider, '') AND c.account = IFNULL(s.account, '') AND c.day = d.day";
static const char SQL_DROP[] =
    "DROP TABLE IF EXISTS temp.d; DROP TABLE IF EXISTS temp.cells; DROP TABLE IF EXISTS temp.f";

#define SUMS "TOTAL(cost), TOTAL(billed), TOTAL(est), TOTAL(inp), TOTAL(outp), TOTAL(req)"

enum q_kind { Q_TOTALS, Q_TOP_KEYS, Q_OTHER };

static const struct figure {
    const char *name;
    enum q_kind kind;
    const char *sql;
} FIGURES[] = {
    {"totals", Q_TOTALS, "SELECT cur, " SUMS " FROM f GROUP BY cur"},
    {"by provider", Q_OTHER, "SELECT provider, cur, " SUMS " FROM f GROUP BY provider, cur"},
    {"by project", Q_OTHER,
     "SELECT provider, account, project, cur, " SUMS
     " FROM f GROUP BY provider, account, project, cur"},
    {"by project per day", Q_OTHER,
     "SELECT provider, account, project, day, TOTAL(cost), TOTAL(billed), TOTAL(est) FROM f "
     "WHERE cur GROUP BY provider, account, project, day"},
    {"by api key, top 20", Q_TOP_KEYS,
     "SELECT account, api_key_id, MIN(provider), MIN(project), TOTAL(est * cur) AS e, "
     "TOTAL(billed * cur), TOTAL(inp * cur), TOTAL(outp * cur), TOTAL(req * cur), "
     "TOTAL(est * (1 - cur)) FROM f WHERE api_key_id IS NOT NULL GROUP BY account, api_key_id "
     "HAVING MAX(cur) = 1 ORDER BY e DESC, account, api_key_id LIMIT 20"},
    {"by model", Q_OTHER,
     "SELECT provider, model, cur, " SUMS
     " FROM f WHERE model IS NOT NULL GROUP BY provider, model, cur"},
    {"daily by provider", Q_OTHER,
     "SELECT day, provider, " SUMS " FROM f WHERE cur GROUP BY day, provider"},
};
#define N_FIGURES (sizeof FIGURES / sizeof FIGURES[0])

struct top_key {
    char account[32], id[40];
    double est;
};

struct sq_out {
    double tot[2][N_F]; /* [0] the week, [1] the week before */
    struct top_key top[REP_TOP_KEYS];
    size_t n_top, rows;
    double check;    /* every number read back, summed */
    double stage_ms; /* the per-(series, day) pass */
    double ms;
    double scan_ms; /* SQL_SCAN, apart from ms */
};

static const char *col_text(sqlite3_stmt *q, int c)
{
    const unsigned char *s = sqlite3_column_text(q, c);
    return s ? (const char *)s : "";
}

static int run_figure(sqlite3 *db, const struct figure *fg, struct sq_out *o)
{
    sqlite3_stmt *q = NULL;
    int step;
    if (sqlite3_prepare_v2(db, fg->sql, -1, &q, NULL) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s: %s\n", fg->name, sqlite3_errmsg(db));
        return -1;
    }
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
        int n = sqlite3_column_count(q);
        o->rows++;
        for (int c = 0; c < n; c++) {
            if (sqlite3_column_type(q, c) == SQLITE_TEXT)
                o->check += (double)strlen(col_text(q, c));
            else
                o->check += sqlite3_column_double(q, c);
        }
        if (fg->kind == Q_TOTALS) {
            int per = sqlite3_column_int(q, 0) ? 0 : 1;
            for (int f = 0; f < N_F; f++)
                o->tot[per][f] = sqlite3_column_double(q, 1 + f);
        } else if (fg->kind == Q_TOP_KEYS && o->n_top < REP_TOP_KEYS) {
            struct top_key *k = &o->top[o->n_top++];
            snprintf(k->account, sizeof k->account, "%s", col_text(q, 0));
            snprintf(k->id, sizeof k->id, "%s", col_text(q, 1));
            k->est = sqlite3_column_double(q, 4);
        }
    }
    sqlite3_finalize(q);
    if (step != SQLITE_DONE) {
        fprintf(stderr, "sqlite: %s: %s\n", fg->name, sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

/* Runs one statement with ?1 (and ?2 when b is not INT64_MIN) bound, to completion. */
static int run_bound(sqlite3 *db, const char *sql, int64_t a, int64_t b)
{
    sqlite3_stmt *q = NULL;
    int step = SQLITE_ERROR;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, a);
        if (b != INT64_MIN)
            sqlite3_bind_int64(q, 2, b);
        while ((step = sqlite3_step(q)) == SQLITE_ROW)
            ;
    }
    if (step != SQLITE_DONE)
        fprintf(stderr, "sqlite: %s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(q);
    return step == SQLITE_DONE ? 0 : -1;
}

/* The report's core figures of the week and the week before, timed. */
static int sqlite_report(sqlite3 *db, const struct dataset *d, struct sq_out *o)
{
    memset(o, 0, sizeof *o);
    if (bench_sql_exec(db, SQL_DROP) != 0)
        return -1;
    double t0 = now_ms();
    if (run_bound(db, SQL_STAGE, d->pfrom, d->to) != 0)
        return -1;
    o->stage_ms = now_ms() - t0;
    if (bench_sql_exec(db, SQL_CELLS) != 0 ||
        run_bound(db, SQL_FACTS, d->from / TU_DAY, INT64_MIN) != 0)
        return -1;
    for (size_t i = 0; i < N_FIGURES; i++)
        if (run_figure(db, &FIGURES[i], o) != 0)
            return -1;
    if (bench_sql_exec(db, SQL_DROP) != 0)
        return -1;
    o->ms = now_ms() - t0;
    t0 = now_ms();
    if (run_bound(db, SQL_SCAN, d->pfrom, d->to) != 0)
        return -1;
    o->scan_ms = now_ms() - t0;
    return 0;
}

static void sqlite_print_plan(sqlite3 *db)
{
    sqlite3_stmt *q = NULL;
    char sql[1024];
    snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", SQL_STAGE);
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return;
    printf("  plan of the pass over the points:");
    while (sqlite3_step(q) == SQLITE_ROW)
        printf(" [%s]", col_text(q, 3));
    printf("\n");
    sqlite3_finalize(q);
}

/* ---- checks ----------------------------------------------------------------- */

static double jnum(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

/* Report, SQLite and generator on every total of both weeks, and the top keys. */
static size_t check_figures(const json_t *rep, const struct sq_out *sq, double truth[2][N_F],
                            const struct dataset *d)
{
    static const char *const tkey[2] = {"totals", "previous_totals"};
    size_t bad = 0;
    for (int per = 0; per < 2; per++) {
        const json_t *t = json_object_get(rep, tkey[per]);
        for (int f = 0; f < N_F; f++) {
            double r = jnum(t, FIELD[f]);
            if (!close_enough(r, sq->tot[per][f]) || !close_enough(r, truth[per][f])) {
                printf("  !!! %s.%s: report %.17g, sqlite %.17g, generator %.17g\n", tkey[per],
                       FIELD[f], r, sq->tot[per][f], truth[per][f]);
                bad++;
            }
        }
    }
    const json_t *keys = json_object_get(rep, "by_api_key");
    size_t n = json_array_size(keys), want = d->n_keys < REP_TOP_KEYS ? d->n_keys : REP_TOP_KEYS;
    if (n != want || sq->n_top != want) {
        printf("  !!! top keys: report lists %zu, sqlite %zu, want %zu\n", n, sq->n_top, want);
        bad++;
    }
    for (size_t i = 0; i < n && i < sq->n_top; i++) {
        const json_t *k = json_array_get(keys, i);
        const char *acct = json_string_value(json_object_get(k, "account"));
        const char *id = json_string_value(json_object_get(k, "api_key_id"));
        double est = jnum(k, "estimated_cost_usd");
        if (!acct || !id || strcmp(acct, sq->top[i].account) != 0 ||
            strcmp(id, sq->top[i].id) != 0 || !close_enough(est, sq->top[i].est)) {
            printf("  !!! top key %zu: report %s/%s $%.6f, sqlite %s/%s $%.6f\n", i + 1,
                   acct ? acct : "?", id ? id : "?", est, sq->top[i].account, sq->top[i].id,
                   sq->top[i].est);
            bad++;
        }
    }
    size_t projects = json_array_size(json_object_get(rep, "by_project"));
    if (projects != d->n_projects) {
        printf("  !!! by_project has %zu rows, want %zu\n", projects, d->n_projects);
        bad++;
    }
    return bad;
}

/* ---- main ----------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_report [--series N] [--days D] [--runs R] [--dir DIR] [--keep] "
               "[--quick]\n"
               "  --series N  series (default 5000; a multiple of 100, at least 200): per 100, "
               "20 API keys x 4 usage\n"
               "              metrics and 20 cost_usd line items of one project, all hourly\n"
               "  --days D    hourly history in days (default 90; at least 16)\n"
               "  --runs R    timed runs of each side, median reported (default 5)\n"
               "  --dir DIR   where to put the store and the SQLite file (default a new\n"
               "              /tmp/bw-bench-report.XXXXXX)\n"
               "  --keep      leave them on disk\n"
               "  --quick     1000 series, 30 days: a smoke run\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    long series = 0, days = 0, runs = 0;
    const char *a = NULL;
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            o->quick = 1;
        } else if (!strcmp(a, "--keep")) {
            o->keep = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        } else if (v && !strcmp(a, "--series")) {
            if (bench_parse_num(v, 2L * SERIES_PER_PROJECT, 100000, &series) ||
                series % SERIES_PER_PROJECT)
                goto bad;
            i++;
        } else if (v && !strcmp(a, "--days")) {
            if (bench_parse_num(v, 16, REP_MAX_DAYS, &days))
                goto bad;
            i++;
        } else if (v && !strcmp(a, "--runs")) {
            if (bench_parse_num(v, 1, MAX_RUNS, &runs))
                goto bad;
            i++;
        } else if (v && !strcmp(a, "--dir")) {
            o->dir = v;
            i++;
        } else {
            goto bad;
        }
    }
    o->series = series ? (size_t)series : o->quick ? 1000 : 5000;
    o->days = days ? (int)days : o->quick ? 30 : 90;
    o->runs = runs ? (int)runs : 5;
    return 0;
bad:
    fprintf(stderr, "bench_report: bad or incomplete argument '%s'\n", a ? a : "");
    usage(stderr);
    return -1;
}

int main(int argc, char **argv)
{
    struct opts o;
    struct dataset d;
    struct store s = {0};
    struct build_info bi = {0};
    sqlite3 *db = NULL;
    json_t *rep = NULL;
    struct rep_run runs[MAX_RUNS];
    struct sq_out sq[MAX_RUNS];
    double truth[2][N_F] = {{0}};
    char base[4096] = "", dir_store[4096] = "", dir_sql[4096] = "", err[1024] = "";
    char f0[32], f1[32], f2[32];
    int made_base = 0, rc = 2;

    memset(&d, 0, sizeof d);
    int pr = parse_args(argc, argv, &o);
    if (pr != 0)
        return pr > 0 ? 0 : 2;
    double load0 = loadavg();
    log_set_level(LOG_WARN);

    /* the configuration the report reads: sources, business units, the key_age rule */
    struct cfg_provider provs[N_PROVIDERS];
    for (int p = 0; p < N_PROVIDERS; p++)
        provs[p] = (struct cfg_provider){
            .type = (char *)PROVS[p].type, .name = (char *)PROVS[p].account, .enabled = 1};
    char *platform[] = {(char *)"proj-000", (char *)"proj-001", (char *)"proj-002"};
    char *research[] = {(char *)"proj-003", (char *)"proj-004"};
    struct cfg_business_unit units[] = {
        {.name = (char *)"Platform", .projects = platform, .n_projects = 3},
        {.name = (char *)"Research", .projects = research, .n_projects = 2},
    };
    struct cfg_rule rule = {.type = (char *)"key_age",
                            .name = (char *)"rotation",
                            .severity = (char *)"warning",
                            .params = json_pack("{s:s}", "max_age", "60d")};
    struct config cfg = {.providers = provs,
                         .n_providers = N_PROVIDERS,
                         .units = units,
                         .n_units = 2,
                         .rules = &rule,
                         .n_rules = 1};

    if (!rule.params || dataset_init(&d, &o) != 0) {
        fprintf(stderr, "bench_report: out of memory\n");
        goto out;
    }
    g_clock = d.now;
    if (o.dir) {
        if (snprintf(base, sizeof base, "%s", o.dir) >= (int)sizeof base)
            goto out;
        if (!path_exists(base)) {
            if (mkdir(base, 0755) != 0) {
                fprintf(stderr, "bench_report: mkdir %s: %s\n", base, strerror(errno));
                goto out;
            }
            made_base = 1;
        }
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(base, sizeof base, "%s/bw-bench-report.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(base)) {
            fprintf(stderr, "bench_report: mkdtemp: %s\n", strerror(errno));
            base[0] = '\0';
            goto out;
        }
        made_base = 1;
    }
    if (join_path(dir_store, sizeof dir_store, base, "store") != 0 ||
        join_path(dir_sql, sizeof dir_sql, base, "sqlite") != 0)
        goto out;
    if (path_exists(dir_store) || path_exists(dir_sql)) {
        fprintf(stderr, "bench_report: %s already holds a run; pick an empty --dir\n", base);
        dir_store[0] = dir_sql[0] = '\0';
        goto out;
    }

    int year, week;
    rep_week_of(d.from, &year, &week);
    uint64_t n_points = (uint64_t)d.n_series * (uint64_t)d.days * 24;
    printf("bench_report: %zu series, all hourly: %zu API keys x 4 usage metrics (input_tokens, "
           "output_tokens, requests,\n"
           "  est_cost_usd; labels provider, account, project, api_key_id, model) + %zu cost_usd "
           "(project x line_item)\n"
           "  %zu projects on 2 providers (%s, %s), %d models each; history [%s, %s): %d days x 24 "
           "h = %" PRIu64 " points\n",
           d.n_series, d.n_keys, d.n_items, d.n_projects, PROVS[0].account, PROVS[1].account,
           MODELS_PER_PROVIDER, tu_format_time(d.start, f0, sizeof f0),
           tu_format_time(d.end, f1, sizeof f1), d.days, n_points);
    printf("  + %d audit logins a day (%d failed), an inventory of %zu keys, first sightings, "
           "source health\n",
           LOGINS_PER_DAY, FAILED_PER_DAY, d.n_keys);
    printf("  report: %04d-W%02d [%s, %s) and the week before, as of %s\n", year, week,
           tu_format_time(d.from, f0, sizeof f0), tu_format_time(d.to, f1, sizeof f1),
           tu_format_time(d.now, f2, sizeof f2));
    printf("  sqlite %s; %ld CPUs (load average %.2f); dir %s%s\n", sqlite3_libversion(),
           sysconf(_SC_NPROCESSORS_ONLN), load0, base, o.keep ? " (kept)" : "");
    fflush(stdout);

    /* ---- the store ---- */
    double t0 = now_ms();
    if (store_create(&s, &d, dir_store, err, sizeof err) != 0) {
        fprintf(stderr, "bench_report: store: %s\n", err);
        goto out;
    }
    bi.reg_s = (now_ms() - t0) / 1e3;
    if (store_fill(&s, &d, truth, &bi, err, sizeof err) != 0) {
        fprintf(stderr, "bench_report: writing the store: %s\n", err);
        goto out;
    }
    struct rep_run cold;
    if (report_once(s.st, &cfg, &d, &cold, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "bench_report: rep_build: %s\n", err);
        goto out;
    }
    t0 = now_ms();
    if (ts_compact(s.st, err, sizeof err) != 0) {
        fprintf(stderr, "bench_report: compaction: %s\n", err);
        goto out;
    }
    bi.compact_s = (now_ms() - t0) / 1e3;
    bi.disk_bytes = du_tree(dir_store);
    printf("\nstore (storage/ts.h, ts_open defaults)\n");
    printf("  register %zu series: %.2f s\n", d.n_series, bi.reg_s);
    printf("  write %" PRIu64 " points + %" PRIu64 " events, one ts_write a day (%zu): %.1f s, "
           "%.0f points/s\n",
           bi.points, bi.events, bi.writes, bi.write_s, (double)bi.points / bi.write_s);
    printf("  compaction: %.1f s; on disk %.1f MB (%.2f bytes/point)\n", bi.compact_s,
           (double)bi.disk_bytes / 1e6, (double)bi.disk_bytes / (double)bi.points);
    printf("  rep_build before the compaction (one run, for information): %.1f ms\n",
           cold.build_ms);
    fflush(stdout);

    /* ---- SQLite ---- */
    uint64_t rows;
    size_t txns;
    t0 = now_ms();
    if (sqlite_build(&d, dir_sql, &db, &rows, &txns) != 0)
        goto out;
    printf("\nsqlite (WAL, synchronous=NORMAL, points WITHOUT ROWID keyed (series_id, t), one "
           "prepared insert)\n");
    printf("  load %" PRIu64 " rows in %zu transactions of up to %d, then ANALYZE: %.1f s; on "
           "disk %.1f MB\n",
           rows, txns, SQLITE_TXN_ROWS, (now_ms() - t0) / 1e3, (double)du_tree(dir_sql) / 1e6);
    printf("  cache_size %d MB, temp_store MEMORY\n", SQLITE_CACHE_KB / 1024);
    sqlite_print_plan(db);
    fflush(stdout);

    /* ---- the timed runs, the two sides alternating ---- */
    printf("\nruns: report = rep_build + rep_render_md of %04d-W%02d; sqlite = per-(series, day) "
           "sums of the two weeks,\n"
           "  billed cells, then GROUP BY for totals, by provider, by project (and per day), top "
           "20 API keys,\n"
           "  by model and daily by provider, every row read back (sql_pass_ms: its first pass);\n"
           "  sql_scan_ms, apart: SQLite only reading the two weeks' points, no grouping\n",
           year, week);
    printf("  %4s %12s %8s %6s %10s %10s %12s %12s %5s\n", "run", "rep_build_ms", "cpu_ms", "md_ms",
           "report_ms", "sqlite_ms", "sql_pass_ms", "sql_scan_ms", "rows");
    for (int r = 0; r < o.runs; r++) {
        json_t **keep = r == o.runs - 1 ? &rep : NULL;
        if (report_once(s.st, &cfg, &d, &runs[r], keep, err, sizeof err) != 0) {
            fprintf(stderr, "bench_report: rep_build: %s\n", err);
            goto out;
        }
        if (sqlite_report(db, &d, &sq[r]) != 0)
            goto out;
        printf("  %4d %12.1f %8.1f %6.2f %10.1f %10.1f %12.1f %12.1f %5zu\n", r + 1,
               runs[r].build_ms, runs[r].cpu_ms, runs[r].md_ms, runs[r].build_ms + runs[r].md_ms,
               sq[r].ms, sq[r].stage_ms, sq[r].scan_ms, sq[r].rows);
        fflush(stdout);
    }
    double bm[MAX_RUNS], cm[MAX_RUNS], mm[MAX_RUNS], tm[MAX_RUNS], qm[MAX_RUNS], pm[MAX_RUNS];
    double sm[MAX_RUNS];
    for (int r = 0; r < o.runs; r++) {
        bm[r] = runs[r].build_ms;
        cm[r] = runs[r].cpu_ms;
        mm[r] = runs[r].md_ms;
        tm[r] = runs[r].build_ms + runs[r].md_ms;
        qm[r] = sq[r].ms;
        pm[r] = sq[r].stage_ms;
        sm[r] = sq[r].scan_ms;
    }
    size_t nr = (size_t)o.runs;
    double build_med = median_of(bm, nr), report_med = median_of(tm, nr);
    double sql_med = median_of(qm, nr), scan_med = median_of(sm, nr);
    printf("  %4s %12.1f %8.1f %6.2f %10.1f %10.1f %12.1f %12.1f\n", "med", build_med,
           median_of(cm, nr), median_of(mm, nr), report_med, sql_med, median_of(pm, nr), scan_med);

    /* ---- the figures agree ---- */
    const json_t *tot = json_object_get(rep, "totals");
    printf("\nthe week: cost $%.2f (billed $%.2f, estimated $%.2f), %.0f input and %.0f output "
           "tokens, %.0f requests;\n"
           "  %zu projects, %zu top keys, %zu models; md form %zu bytes\n",
           jnum(tot, "cost_usd"), jnum(tot, "billed_cost_usd"), jnum(tot, "estimated_cost_usd"),
           jnum(tot, "input_tokens"), jnum(tot, "output_tokens"), jnum(tot, "requests"),
           json_array_size(json_object_get(rep, "by_project")),
           json_array_size(json_object_get(rep, "by_api_key")),
           json_array_size(json_object_get(rep, "by_model")), runs[o.runs - 1].md_len);
    size_t bad = check_figures(rep, &sq[o.runs - 1], truth, &d);
    printf("  report, sqlite and generator %s\n",
           bad ? "DISAGREE (see above)"
               : "agree on every total of both weeks (cost, billed, estimated, tokens, "
                 "requests) and the top 20 keys");

    /* ---- targets ---- */
    double ratio = sql_med / report_med;
    printf("\ntargets (median of %d runs)\n", o.runs);
    char l0[96], l1[96];
    snprintf(l0, sizeof l0, "weekly report (rep_build + md) <= %.0f ms", TARGET_MS);
    snprintf(l1, sizeof l1, "SQLite / report >= %.0fx (same figures, same run)", TARGET_RATIO);
    printf("  target %-50s : %8.1f ms  %s\n", l0, report_med, met(report_med <= TARGET_MS));
    printf("  target %-50s : %8.2fx    %s\n", l1, ratio, met(ratio >= TARGET_RATIO));
    printf("  (sqlite_ms / rep_build_ms alone: %.2fx; SQLite's bare read of the points, no "
           "grouping, / report: %.2fx)\n",
           sql_med / build_med, scan_med / report_med);
    if (d.n_series != 5000 || d.days != 90)
        printf("  (%zu series over %d days, not the issue's 5,000 over 90: the verdicts are "
               "indicative only)\n",
               d.n_series, d.days);
    rc = bad ? 1 : 0;
out:
    json_decref(rep);
    if (db)
        sqlite3_close(db);
    store_close(&s);
    json_decref(rule.params);
    if (!o.keep && base[0]) {
        if (dir_store[0] && rm_tree(dir_store) != 0)
            fprintf(stderr, "bench_report: could not remove %s\n", dir_store);
        if (dir_sql[0] && rm_tree(dir_sql) != 0)
            fprintf(stderr, "bench_report: could not remove %s\n", dir_sql);
        if (made_base && rmdir(base) != 0)
            fprintf(stderr, "bench_report: could not remove %s\n", base);
    }
    dataset_free(&d);
    return rc;
}
