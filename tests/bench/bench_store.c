/*
 * `make bench`: the time-series store (storage/ts.h) against a bare RocksDB
 * WriteBatch loop and SQLite on the same synthetic usage data, in one run:
 * ingest points/s, a one-week aggregation grouped by project, and bytes on
 * disk per point after compaction, each held against the storage targets.
 * The two baselines call their libraries directly on purpose.
 */
#include "../../common/timeutil.h"
#include "../../storage/ts.h"

#include "benchsql.h"
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- configuration ---------------------------------------------------- */

#define N_METRICS 4
#define N_PROVIDERS 5
#define N_PROJECTS 100
#define N_MODELS_PER_PROVIDER 2
#define SQLITE_TXN_ROWS 1000
#define AGG_REPEATS 3
#define WEEK_HOURS 168
#define AGG_METRIC_INDEX 0 /* input_tokens */
#define REL_TOL 1e-6

static const char *const metric_names[N_METRICS] = {"input_tokens", "output_tokens", "requests",
                                                    "cost_usd"};
static const char *const provider_names[N_PROVIDERS] = {"anthropic", "google", "groq", "mistral",
                                                        "openai"};
static const char *const model_names[N_PROVIDERS][N_MODELS_PER_PROVIDER] = {
    {"claude-sonnet-4", "claude-haiku-3.5"},
    {"gemini-2.5-pro", "gemini-2.5-flash"},
    {"llama-3.3-70b", "llama-3.1-8b"},
    {"mistral-large", "mistral-small"},
    {"gpt-4.1", "gpt-4.1-mini"}};
/* USD per million input / output tokens, per model. */
static const double model_price[N_PROVIDERS][N_MODELS_PER_PROVIDER][2] = {
    {{3.0, 15.0}, {0.8, 4.0}},
    {{1.25, 10.0}, {0.3, 2.5}},
    {{0.59, 0.79}, {0.05, 0.08}},
    {{2.0, 6.0}, {0.2, 0.6}},
    {{2.0, 8.0}, {0.4, 1.6}}};

enum backend { B_STORE = 0, B_RAW = 1, B_SQLITE = 2, N_BACKENDS = 3 };
static const char *const backend_names[N_BACKENDS] = {"store", "raw", "sqlite"};

struct config {
    size_t series;
    size_t hours;
    size_t batch;
    const char *dir;
    int keep;
    int only; /* -1 = all, else enum backend */
    int quick;
};

/* ---- synthetic data: deterministic from (series, hour) ---------------- */

/*
 * Series s is metric s % 4 of "combo" s / 4 (one provider account, project,
 * API key and model). A combo's hourly activity is its base rate times a
 * diurnal/weekly pattern times per-(combo, hour) noise, with idle hours; the
 * four metrics are derived from it, so they agree with each other.
 */
struct combo {
    char provider[16];
    char account[32];
    char project[24];
    char api_key_id[32];
    char model[24];
    int project_idx;
    double base;                /* mean input tokens per hour at peak */
    double out_ratio;           /* output / input tokens */
    double tok_per_req;         /* input tokens per request */
    double price_in, price_out; /* USD per token */
};

struct dataset {
    size_t n_series, n_combos, hours;
    int64_t start, end; /* [start, end), hour-aligned, end = "now" */
    struct combo *combos;
    double *pattern; /* per hour of the data range */
    char project_names[N_PROJECTS][24];
};

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

static int dataset_init(struct dataset *d, size_t n_series, size_t hours)
{
    memset(d, 0, sizeof *d);
    d->n_series = n_series;
    d->n_combos = (n_series + N_METRICS - 1) / N_METRICS;
    d->hours = hours;
    /* Data ends at 2025-07-07T00:00Z (a Monday); "now" for the store's retention. */
    d->end = tu_days_from_civil(2025, 7, 7) * TU_DAY;
    d->start = d->end - (int64_t)hours * TU_HOUR;
    d->combos = calloc(d->n_combos, sizeof *d->combos);
    d->pattern = calloc(hours, sizeof *d->pattern);
    if (!d->combos || !d->pattern)
        return -1;
    for (int p = 0; p < N_PROJECTS; p++)
        snprintf(d->project_names[p], sizeof d->project_names[p], "proj-%03d", p);
    for (size_t c = 0; c < d->n_combos; c++) {
        struct combo *k = &d->combos[c];
        int proj = (int)(c % N_PROJECTS);
        int prov = proj % N_PROVIDERS;
        size_t j = c / N_PROJECTS;
        int mod = (int)(j % N_MODELS_PER_PROVIDER);
        uint64_t h = mix64(0xc0ffee ^ (uint64_t)c);
        k->project_idx = proj;
        snprintf(k->provider, sizeof k->provider, "%s", provider_names[prov]);
        snprintf(k->account, sizeof k->account, "%s-%s", provider_names[prov],
                 proj % 2 ? "prod" : "research");
        snprintf(k->project, sizeof k->project, "%s", d->project_names[proj]);
        snprintf(k->api_key_id, sizeof k->api_key_id, "key_%012" PRIx64,
                 mix64(((uint64_t)proj << 32) | (j / N_MODELS_PER_PROVIDER)) >> 16);
        snprintf(k->model, sizeof k->model, "%s", model_names[prov][mod]);
        k->base = 200.0 * exp(5.0 * unit(h)); /* 200 .. ~30k tokens/h */
        k->out_ratio = 0.1 + 0.4 * unit(mix64(h + 1));
        k->tok_per_req = 300.0 + 2700.0 * unit(mix64(h + 2));
        k->price_in = model_price[prov][mod][0] / 1e6;
        k->price_out = model_price[prov][mod][1] / 1e6;
    }
    for (size_t i = 0; i < hours; i++) {
        int64_t t = d->start + (int64_t)i * TU_HOUR;
        int64_t hod = (t / TU_HOUR) % 24;
        int64_t dow = (t / TU_DAY + 3) % 7; /* 0 = Monday */
        double diurnal = 0.2 + 0.8 * 0.5 * (1.0 - cos(2.0 * M_PI * (double)(hod - 4) / 24.0));
        d->pattern[i] = diurnal * (dow >= 5 ? 0.45 : 1.0);
    }
    return 0;
}

static void dataset_free(struct dataset *d)
{
    free(d->combos);
    free(d->pattern);
}

static int64_t bucket_of(const struct dataset *d, size_t hour)
{
    return d->start + (int64_t)hour * TU_HOUR;
}

/* Token counts and requests are integral; cost is dollars rounded to cents. */
static double gen_value(const struct dataset *d, size_t s, size_t hour)
{
    size_t c = s / N_METRICS;
    const struct combo *k = &d->combos[c];
    uint64_t h = mix64(((uint64_t)c << 24) ^ (uint64_t)hour ^ 0x5eedULL);
    double pat = d->pattern[hour];
    if (unit(h) < 0.06 * (1.2 - pat))
        return 0.0; /* key idle this hour */
    double a = k->base * pat * (0.7 + 0.6 * unit(mix64(h)));
    double in = floor(a + 0.5);
    double out = floor(a * k->out_ratio + 0.5);
    switch (s % N_METRICS) {
    case 0: return in;
    case 1: return out;
    case 2: return ceil(in / k->tok_per_req);
    default: return round((in * k->price_in + out * k->price_out) * 100.0) / 100.0;
    }
}

/* ---- small utilities ---------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds of the whole process (all threads, user + system). */
static double cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0.0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Sums the sizes of regular files under path; *sst gets those ending in ".sst". */
static int du_store(const char *path, uint64_t *total, uint64_t *sst)
{
    DIR *dir = opendir(path);
    if (!dir)
        return -1;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char p[4096];
        struct stat sb;
        if (join_path(p, sizeof p, path, de->d_name) != 0 || lstat(p, &sb) != 0) {
            rc = -1;
            break;
        }
        if (S_ISDIR(sb.st_mode)) {
            if (du_store(p, total, sst) != 0) {
                rc = -1;
                break;
            }
        } else if (S_ISREG(sb.st_mode)) {
            size_t nl = strlen(de->d_name);
            *total += (uint64_t)sb.st_size;
            if (nl > 4 && !strcmp(de->d_name + nl - 4, ".sst"))
                *sst += (uint64_t)sb.st_size;
        }
    }
    closedir(dir);
    return rc;
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static int project_index(const struct dataset *d, const char *name)
{
    int lo = 0, hi = N_PROJECTS - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(name, d->project_names[mid]);
        if (c == 0)
            return mid;
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return -1;
}

/* ---- results ------------------------------------------------------------- */

/* One aggregation's answer: cells[project][bucket] over [from, from + n*step). */
struct agg {
    int ran;
    int64_t step;
    size_t n_buckets;
    double *cells;
    double best_ms;
    size_t groups, nonempty;
};

struct result {
    int ran;
    uint64_t points;
    double ingest_s, ingest_cpu_s;
    double setup_s; /* store: series registration; sqlite: series table */
    double compact_s;
    uint64_t disk_bytes, sst_bytes;
    struct agg hour, day;
};

struct week {
    int64_t from, to;
};

static int agg_alloc(struct agg *a, const struct week *w, int64_t step)
{
    a->step = step;
    a->n_buckets = (size_t)((w->to - w->from) / step);
    a->cells = calloc((size_t)N_PROJECTS * a->n_buckets, sizeof *a->cells);
    a->best_ms = INFINITY;
    return a->cells ? 0 : -1;
}

static void agg_reset(struct agg *a)
{
    memset(a->cells, 0, (size_t)N_PROJECTS * a->n_buckets * sizeof *a->cells);
    a->groups = 0;
    a->nonempty = 0;
}

static void agg_finish(struct agg *a, double ms)
{
    a->ran = 1;
    if (ms < a->best_ms)
        a->best_ms = ms;
    a->nonempty = 0;
    for (size_t i = 0; i < (size_t)N_PROJECTS * a->n_buckets; i++)
        a->nonempty += a->cells[i] != 0.0;
}

static int cell_add(struct agg *a, const struct week *w, int proj, int64_t t, double v)
{
    if (proj < 0 || t < w->from || t >= w->to)
        return -1;
    size_t b = (size_t)((t - w->from) / a->step);
    a->cells[(size_t)proj * a->n_buckets + b] += v;
    return 0;
}

static double agg_total(const struct agg *a)
{
    double s = 0;
    for (size_t i = 0; i < (size_t)N_PROJECTS * a->n_buckets; i++)
        s += a->cells[i];
    return s;
}

static int close_enough(double a, double b)
{
    return fabs(a - b) <= REL_TOL * fmax(fabs(a), fabs(b)) + 1e-9;
}

/* ---- backend: the store -------------------------------------------------- */

static int64_t g_bench_now;

static int64_t bench_clock(void)
{
    return g_bench_now;
}

static int store_agg_once(struct ts_store *st, const struct dataset *d, const struct week *w,
                          struct agg *a)
{
    static const char *const group_by[] = {"project"};
    struct ts_agg_query q = {.metric = metric_names[AGG_METRIC_INDEX],
                             .group_by = group_by,
                             .n_group_by = 1,
                             .from = w->from,
                             .to = w->to,
                             .step = a->step};
    struct ts_agg_result r = {0};
    char err[256] = "";
    agg_reset(a);
    double t0 = now_s();
    if (ts_aggregate(st, &q, &r, err, sizeof err) != 0) {
        fprintf(stderr, "store: ts_aggregate: %s\n", err);
        return -1;
    }
    int rc = 0;
    for (size_t g = 0; g < r.n_groups && rc == 0; g++) {
        const struct ts_agg_group *gr = &r.groups[g];
        const char *proj = NULL;
        for (size_t l = 0; l < gr->n_labels; l++)
            if (!strcmp(gr->labels[l].name, "project"))
                proj = gr->labels[l].value;
        int pi = proj ? project_index(d, proj) : -1;
        for (size_t i = 0; i < gr->n_points && rc == 0; i++)
            if (cell_add(a, w, pi, gr->times[i], gr->values[i]) != 0) {
                fprintf(stderr, "store: unexpected group %s or bucket %" PRId64 "\n",
                        proj ? proj : "(none)", gr->times[i]);
                rc = -1;
            }
    }
    double ms = (now_s() - t0) * 1e3;
    a->groups = r.n_groups;
    ts_agg_free(&r);
    if (rc == 0)
        agg_finish(a, ms);
    return rc;
}

static int run_store(const struct config *cfg, const struct dataset *d, const struct week *w,
                     const char *dir, struct result *res)
{
    struct ts_store *st = NULL;
    struct ts_batch *b = NULL;
    uint64_t *ids = NULL;
    char err[512] = "";
    int rc = -1;

    g_bench_now = d->end;
    struct ts_options opts = {.create = 1, .clock = bench_clock};
    int64_t span = (int64_t)d->hours * TU_HOUR;
    if (span + 7 * TU_DAY > TS_DEFAULT_RETENTION)
        opts.retention = span + 7 * TU_DAY;
    if (ts_open(dir, &opts, &st, err, sizeof err) != 0) {
        fprintf(stderr, "store: ts_open %s: %s\n", dir, err);
        goto out;
    }
    ids = malloc(d->n_series * sizeof *ids);
    b = ts_batch_new();
    if (!ids || !b) {
        fprintf(stderr, "store: out of memory\n");
        goto out;
    }

    double t0 = now_s();
    for (size_t s = 0; s < d->n_series; s++) {
        const struct combo *k = &d->combos[s / N_METRICS];
        struct ts_label labels[] = {{"provider", k->provider},
                                    {"account", k->account},
                                    {"project", k->project},
                                    {"api_key_id", k->api_key_id},
                                    {"model", k->model}};
        const struct ts_series *ser = NULL;
        if (ts_series_get(st, metric_names[s % N_METRICS], labels, 5, &ser, err, sizeof err) != 0 ||
            !ser) {
            fprintf(stderr, "store: ts_series_get #%zu: %s\n", s, err);
            goto out;
        }
        ids[s] = ser->id;
    }
    res->setup_s = now_s() - t0;

    double c0 = cpu_s();
    t0 = now_s();
    for (size_t h = 0; h < d->hours; h++) {
        int64_t bucket = bucket_of(d, h);
        for (size_t s = 0; s < d->n_series; s++) {
            if (ts_batch_add(b, ids[s], bucket, gen_value(d, s, h)) != 0) {
                fprintf(stderr, "store: ts_batch_add failed\n");
                goto out;
            }
            if (ts_batch_samples(b) >= cfg->batch) {
                if (ts_write(st, b, err, sizeof err) != 0) {
                    fprintf(stderr, "store: ts_write: %s\n", err);
                    goto out;
                }
                ts_batch_clear(b);
            }
        }
    }
    if (ts_batch_samples(b) > 0) {
        if (ts_write(st, b, err, sizeof err) != 0) {
            fprintf(stderr, "store: ts_write: %s\n", err);
            goto out;
        }
        ts_batch_clear(b);
    }
    res->ingest_s = now_s() - t0;
    res->ingest_cpu_s = cpu_s() - c0;
    res->points = (uint64_t)d->n_series * d->hours;

    t0 = now_s();
    if (ts_compact(st, err, sizeof err) != 0) {
        fprintf(stderr, "store: ts_compact: %s\n", err);
        goto out;
    }
    res->compact_s = now_s() - t0;

    if (agg_alloc(&res->hour, w, TU_HOUR) != 0 || agg_alloc(&res->day, w, TU_DAY) != 0)
        goto out;
    for (int i = 0; i < AGG_REPEATS; i++)
        if (store_agg_once(st, d, w, &res->hour) != 0 || store_agg_once(st, d, w, &res->day) != 0)
            goto out;
    rc = 0;
out:
    ts_batch_free(b);
    free(ids);
    if (st)
        ts_close(st);
    if (rc == 0 && du_store(dir, &res->disk_bytes, &res->sst_bytes) != 0) {
        fprintf(stderr, "store: cannot size %s\n", dir);
        rc = -1;
    }
    res->ran = rc == 0;
    return rc;
}

/* ---- backend: bare RocksDB ------------------------------------------------ */

static int raw_check(char **err, const char *what)
{
    if (!*err)
        return 0;
    fprintf(stderr, "raw: %s: %s\n", what, *err);
    rocksdb_free(*err);
    *err = NULL;
    return -1;
}

static void raw_key(unsigned char key[16], uint64_t sid, int64_t bucket)
{
    put_be64(key, sid);
    put_be64(key + 8, (uint64_t)bucket);
}

/* One iterator; per series of the metric, seek to (id, from) and read until (id, to). */
static int raw_agg_once(rocksdb_t *db, const struct dataset *d, const struct week *w, struct agg *a)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_iterator_t *it = ro ? rocksdb_create_iterator(db, ro) : NULL;
    char *err = NULL;
    int rc = -1;
    if (!it)
        goto out;
    agg_reset(a);
    double t0 = now_s();
    for (size_t s = AGG_METRIC_INDEX; s < d->n_series; s += N_METRICS) {
        unsigned char lo[16], hi[16];
        int proj = d->combos[s / N_METRICS].project_idx;
        raw_key(lo, s + 1, w->from);
        raw_key(hi, s + 1, w->to);
        for (rocksdb_iter_seek(it, (const char *)lo, sizeof lo); rocksdb_iter_valid(it);
             rocksdb_iter_next(it)) {
            size_t kl, vl;
            const char *k = rocksdb_iter_key(it, &kl);
            if (kl != 16 || memcmp(k, hi, 16) >= 0)
                break;
            const char *v = rocksdb_iter_value(it, &vl);
            double x;
            if (vl != sizeof x)
                goto out;
            memcpy(&x, v, sizeof x);
            int64_t t = (int64_t)get_be64((const unsigned char *)k + 8);
            if (cell_add(a, w, proj, t, x) != 0)
                goto out;
        }
    }
    rocksdb_iter_get_error(it, &err);
    if (raw_check(&err, "iterator") != 0)
        goto out;
    agg_finish(a, (now_s() - t0) * 1e3);
    a->groups = 0;
    for (int p = 0; p < N_PROJECTS; p++)
        for (size_t i = 0; i < a->n_buckets; i++)
            if (a->cells[(size_t)p * a->n_buckets + i] != 0.0) {
                a->groups++;
                break;
            }
    rc = 0;
out:
    if (it)
        rocksdb_iter_destroy(it);
    if (ro)
        rocksdb_readoptions_destroy(ro);
    return rc;
}

static int run_raw(const struct config *cfg, const struct dataset *d, const struct week *w,
                   const char *dir, struct result *res)
{
    rocksdb_options_t *opt = rocksdb_options_create();
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_t *db = NULL;
    char *err = NULL;
    int rc = -1;
    if (!opt || !wo || !wb)
        goto out;
    rocksdb_options_set_create_if_missing(opt, 1);
    /* WAL on, no fsync per write: the same durability the store is opened with. */
    rocksdb_writeoptions_set_sync(wo, 0);
    db = rocksdb_open(opt, dir, &err);
    if (raw_check(&err, "open") != 0)
        goto out;

    double c0 = cpu_s();
    double t0 = now_s();
    size_t in_batch = 0;
    for (size_t h = 0; h < d->hours; h++) {
        int64_t bucket = bucket_of(d, h);
        for (size_t s = 0; s < d->n_series; s++) {
            unsigned char key[16];
            double v = gen_value(d, s, h);
            raw_key(key, s + 1, bucket);
            rocksdb_writebatch_put(wb, (const char *)key, sizeof key, (const char *)&v, sizeof v);
            if (++in_batch >= cfg->batch) {
                rocksdb_write(db, wo, wb, &err);
                if (raw_check(&err, "write") != 0)
                    goto out;
                rocksdb_writebatch_clear(wb);
                in_batch = 0;
            }
        }
    }
    if (in_batch > 0) {
        rocksdb_write(db, wo, wb, &err);
        if (raw_check(&err, "write") != 0)
            goto out;
    }
    res->ingest_s = now_s() - t0;
    res->ingest_cpu_s = cpu_s() - c0;
    res->points = (uint64_t)d->n_series * d->hours;

    t0 = now_s();
    rocksdb_compact_range(db, NULL, 0, NULL, 0);
    res->compact_s = now_s() - t0;

    if (agg_alloc(&res->hour, w, TU_HOUR) != 0 || agg_alloc(&res->day, w, TU_DAY) != 0)
        goto out;
    for (int i = 0; i < AGG_REPEATS; i++)
        if (raw_agg_once(db, d, w, &res->hour) != 0 || raw_agg_once(db, d, w, &res->day) != 0) {
            fprintf(stderr, "raw: aggregation failed\n");
            goto out;
        }
    rc = 0;
out:
    if (db)
        rocksdb_close(db);
    if (wb)
        rocksdb_writebatch_destroy(wb);
    if (wo)
        rocksdb_writeoptions_destroy(wo);
    if (opt)
        rocksdb_options_destroy(opt);
    if (rc == 0 && du_store(dir, &res->disk_bytes, &res->sst_bytes) != 0) {
        fprintf(stderr, "raw: cannot size %s\n", dir);
        rc = -1;
    }
    res->ran = rc == 0;
    return rc;
}

/* ---- backend: SQLite ------------------------------------------------------ */

static const char sql_agg_hour[] =
    "SELECT s.project, p.ts, SUM(p.value) FROM series s JOIN points p ON p.series_id = s.id "
    "WHERE s.metric = ?1 AND p.ts >= ?2 AND p.ts < ?3 GROUP BY s.project, p.ts";
static const char sql_agg_day[] =
    "SELECT s.project, p.ts / 86400 * 86400 AS day, SUM(p.value) FROM series s "
    "JOIN points p ON p.series_id = s.id "
    "WHERE s.metric = ?1 AND p.ts >= ?2 AND p.ts < ?3 GROUP BY s.project, day";

static int sqlite_agg_once(sqlite3 *db, const struct dataset *d, const struct week *w,
                           struct agg *a)
{
    sqlite3_stmt *q = NULL;
    int rc = -1;
    agg_reset(a);
    double t0 = now_s();
    if (sqlite3_prepare_v2(db, a->step == TU_HOUR ? sql_agg_hour : sql_agg_day, -1, &q, NULL) !=
        SQLITE_OK)
        goto out;
    sqlite3_bind_text(q, 1, metric_names[AGG_METRIC_INDEX], -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, w->from);
    sqlite3_bind_int64(q, 3, w->to);
    int step, last_proj = -2;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
        const char *proj = (const char *)sqlite3_column_text(q, 0);
        int pi = proj ? project_index(d, proj) : -1;
        if (cell_add(a, w, pi, sqlite3_column_int64(q, 1), sqlite3_column_double(q, 2)) != 0) {
            fprintf(stderr, "sqlite: unexpected row %s %lld\n", proj ? proj : "(null)",
                    (long long)sqlite3_column_int64(q, 1));
            goto out;
        }
        if (pi != last_proj) {
            a->groups++;
            last_proj = pi;
        }
    }
    if (step != SQLITE_DONE)
        goto out;
    agg_finish(a, (now_s() - t0) * 1e3);
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "sqlite: aggregation: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(q);
    return rc;
}

static void sqlite_print_plan(sqlite3 *db)
{
    sqlite3_stmt *q = NULL;
    char sql[1024];
    snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", sql_agg_hour);
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return;
    printf("  sqlite plan:");
    while (sqlite3_step(q) == SQLITE_ROW)
        printf(" [%s]", (const char *)sqlite3_column_text(q, 3));
    printf("\n");
    sqlite3_finalize(q);
}

static int run_sqlite(const struct dataset *d, const struct week *w, const char *dir,
                      struct result *res)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL, *ser = NULL;
    int rc = -1;
    if (bench_sql_open(dir, &db) != 0)
        return -1;
    if (bench_sql_exec(db,
                       "CREATE TABLE series(id INTEGER PRIMARY KEY, metric TEXT NOT NULL, "
                       "provider TEXT, account TEXT, project TEXT, api_key_id TEXT, model TEXT)") ||
        bench_sql_exec(db, "CREATE TABLE points(series_id INTEGER NOT NULL, ts INTEGER NOT NULL, "
                           "value REAL NOT NULL, PRIMARY KEY(series_id, ts)) WITHOUT ROWID"))
        goto out;

    double t0 = now_s();
    if (sqlite3_prepare_v2(db, "INSERT INTO series VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &ser,
                           NULL) != SQLITE_OK ||
        bench_sql_exec(db, "BEGIN"))
        goto fail;
    for (size_t s = 0; s < d->n_series; s++) {
        const struct combo *k = &d->combos[s / N_METRICS];
        sqlite3_bind_int64(ser, 1, (sqlite3_int64)(s + 1));
        sqlite3_bind_text(ser, 2, metric_names[s % N_METRICS], -1, SQLITE_STATIC);
        sqlite3_bind_text(ser, 3, k->provider, -1, SQLITE_STATIC);
        sqlite3_bind_text(ser, 4, k->account, -1, SQLITE_STATIC);
        sqlite3_bind_text(ser, 5, k->project, -1, SQLITE_STATIC);
        sqlite3_bind_text(ser, 6, k->api_key_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ser, 7, k->model, -1, SQLITE_STATIC);
        if (sqlite3_step(ser) != SQLITE_DONE)
            goto fail;
        sqlite3_reset(ser);
    }
    if (bench_sql_exec(db, "COMMIT"))
        goto out;
    res->setup_s = now_s() - t0;

    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO points VALUES(?1, ?2, ?3)", -1, &ins,
                           NULL) != SQLITE_OK)
        goto fail;
    double c0 = cpu_s();
    t0 = now_s();
    size_t in_txn = 0;
    if (bench_sql_exec(db, "BEGIN"))
        goto out;
    for (size_t h = 0; h < d->hours; h++) {
        int64_t bucket = bucket_of(d, h);
        for (size_t s = 0; s < d->n_series; s++) {
            sqlite3_bind_int64(ins, 1, (sqlite3_int64)(s + 1));
            sqlite3_bind_int64(ins, 2, bucket);
            sqlite3_bind_double(ins, 3, gen_value(d, s, h));
            if (sqlite3_step(ins) != SQLITE_DONE)
                goto fail;
            sqlite3_reset(ins);
            if (++in_txn >= SQLITE_TXN_ROWS) {
                if (bench_sql_exec(db, "COMMIT") || bench_sql_exec(db, "BEGIN"))
                    goto out;
                in_txn = 0;
            }
        }
    }
    if (bench_sql_exec(db, "COMMIT"))
        goto out;
    res->ingest_s = now_s() - t0;
    res->ingest_cpu_s = cpu_s() - c0;
    res->points = (uint64_t)d->n_series * d->hours;

    /* SQLite has no compaction step that shrinks it; fold the WAL into the file and ANALYZE. */
    t0 = now_s();
    if (bench_sql_settle(db))
        goto out;
    res->compact_s = now_s() - t0;
    sqlite_print_plan(db);

    if (agg_alloc(&res->hour, w, TU_HOUR) != 0 || agg_alloc(&res->day, w, TU_DAY) != 0)
        goto out;
    for (int i = 0; i < AGG_REPEATS; i++)
        if (sqlite_agg_once(db, d, w, &res->hour) != 0 || sqlite_agg_once(db, d, w, &res->day) != 0)
            goto out;
    uint64_t sst_unused = 0;
    if (du_store(dir, &res->disk_bytes, &sst_unused) != 0) {
        fprintf(stderr, "sqlite: cannot size %s\n", dir);
        goto out;
    }
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "sqlite: %s\n", sqlite3_errmsg(db));
out:
    sqlite3_finalize(ins);
    sqlite3_finalize(ser);
    if (db)
        sqlite3_close(db);
    res->ran = rc == 0;
    return rc;
}

/* ---- report ---------------------------------------------------------------- */

static const char *met(int ok)
{
    return ok ? "MET" : "NOT MET";
}

static double pps(const struct result *r)
{
    return r->ingest_s > 0 ? (double)r->points / r->ingest_s : 0.0;
}

/* Compares every (project, bucket) cell of each backend's answer to the first one's. */
static int verify(const struct result res[N_BACKENDS], int day)
{
    const struct agg *ref = NULL;
    const char *ref_name = NULL;
    int bad = 0;
    for (int i = 0; i < N_BACKENDS; i++) {
        const struct agg *a = day ? &res[i].day : &res[i].hour;
        if (!res[i].ran || !a->ran)
            continue;
        if (!ref) {
            ref = a;
            ref_name = backend_names[i];
            continue;
        }
        double ta = agg_total(ref), tb = agg_total(a);
        size_t cells_bad = 0;
        for (size_t c = 0; c < (size_t)N_PROJECTS * a->n_buckets; c++)
            cells_bad += !close_enough(ref->cells[c], a->cells[c]);
        if (!close_enough(ta, tb) || cells_bad) {
            printf("!!! MISMATCH (%s): %s total %.17g vs %s total %.17g, %zu of %zu "
                   "(project, bucket) cells differ by more than %g relative\n",
                   day ? "1d" : "1h", ref_name, ta, backend_names[i], tb, cells_bad,
                   (size_t)N_PROJECTS * a->n_buckets, REL_TOL);
            bad = 1;
        }
    }
    return bad;
}

static void print_report(const struct config *cfg, const struct dataset *d,
                         const struct result res[N_BACKENDS], double gen_s)
{
    const struct result *st = &res[B_STORE], *raw = &res[B_RAW], *sq = &res[B_SQLITE];
    printf("\ningest (time-major like a poller; %zu samples per ts_write / WriteBatch; "
           "SQLite %d rows per transaction)\n",
           cfg->batch, SQLITE_TXN_ROWS);
    printf("  %-8s %12s %10s %10s %12s\n", "backend", "points", "seconds", "cpu_s", "points/s");
    for (int i = 0; i < N_BACKENDS; i++)
        if (res[i].ran)
            printf("  %-8s %12" PRIu64 " %10.2f %10.2f %12.0f\n", backend_names[i], res[i].points,
                   res[i].ingest_s, res[i].ingest_cpu_s, pps(&res[i]));
    printf("  (generating the values alone takes %.3f s of that; cpu_s counts all threads, "
           "incl. RocksDB background flush/compaction)\n",
           gen_s);
    if (st->ran)
        printf("  store series registration: %zu series in %.3f s (not in ingest time)\n",
               d->n_series, st->setup_s);
    for (int i = 0; i < N_BACKENDS; i++)
        if (res[i].ran)
            printf("  %s compaction%s: %.2f s\n", backend_names[i],
                   i == B_SQLITE ? " (ANALYZE + wal_checkpoint(TRUNCATE))" : "", res[i].compact_s);
    if (st->ran && raw->ran)
        printf("  ratio store/raw    : %.2fx\n", pps(st) / pps(raw));
    if (st->ran && sq->ran)
        printf("  ratio store/sqlite : %.2fx\n", pps(st) / pps(sq));

    char f[32], t[32];
    printf("\naggregation: sum of %s over the last full week [%s, %s), all series, grouped by "
           "project; best of %d runs\n",
           metric_names[AGG_METRIC_INDEX], tu_format_time(d->end - 7 * TU_DAY, f, sizeof f),
           tu_format_time(d->end, t, sizeof t), AGG_REPEATS);
    printf("  %-8s %-14s %10s %8s %8s %18s\n", "backend", "step", "ms", "groups", "cells", "total");
    for (int day = 0; day < 2; day++)
        for (int i = 0; i < N_BACKENDS; i++) {
            const struct agg *a = day ? &res[i].day : &res[i].hour;
            if (!res[i].ran || !a->ran)
                continue;
            const char *how = !day ? "1h" : i == B_STORE ? "1d (rollups)" : "1d (raw points)";
            printf("  %-8s %-14s %10.2f %8zu %8zu %18.0f\n", backend_names[i], how, a->best_ms,
                   a->groups, a->nonempty, agg_total(a));
        }
    if (st->ran && sq->ran) {
        printf("  ratio sqlite_ms/store_ms 1h: %.2fx   1d: %.2fx\n",
               sq->hour.best_ms / st->hour.best_ms, sq->day.best_ms / st->day.best_ms);
    }
    if (st->ran && raw->ran) {
        printf("  ratio raw_ms/store_ms    1h: %.2fx   1d: %.2fx\n",
               raw->hour.best_ms / st->hour.best_ms, raw->day.best_ms / st->day.best_ms);
    }

    printf("\ndisk after compaction (every file in the backend's directory)\n");
    printf("  %-8s %14s %12s %14s %12s\n", "backend", "bytes", "bytes/point", "in *.sst",
           "sst/point");
    for (int i = 0; i < N_BACKENDS; i++) {
        if (!res[i].ran)
            continue;
        double np = (double)res[i].points;
        if (i == B_SQLITE)
            printf("  %-8s %14" PRIu64 " %12.2f %14s %12s\n", backend_names[i], res[i].disk_bytes,
                   (double)res[i].disk_bytes / np, "-", "-");
        else
            printf("  %-8s %14" PRIu64 " %12.2f %14" PRIu64 " %12.2f\n", backend_names[i],
                   res[i].disk_bytes, (double)res[i].disk_bytes / np, res[i].sst_bytes,
                   (double)res[i].sst_bytes / np);
    }

    printf("\ntargets\n");
    if (st->ran && raw->ran) {
        double r = pps(st) / pps(raw);
        printf("  target store ingest >= 0.7x raw RocksDB        : %5.2fx  %s\n", r, met(r >= 0.7));
    }
    if (st->ran && sq->ran) {
        double r = pps(st) / pps(sq);
        printf("  target store ingest >= 5x SQLite               : %5.2fx  %s\n", r, met(r >= 5.0));
        double q = sq->hour.best_ms / st->hour.best_ms;
        printf("  target 1-week grouped agg (1h) >= 3x SQLite    : %5.2fx  %s\n", q, met(q >= 3.0));
    }
    if (st->ran) {
        double bpp = (double)st->disk_bytes / (double)st->points;
        printf("  target store <= 12 bytes/point on disk         : %5.2f   %s\n", bpp,
               met(bpp <= 12.0));
    }
}

/* ---- main ------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_store [--series N] [--hours T] [--batch B] [--dir DIR] [--keep]\n"
            "                   [--only store|raw|sqlite] [--quick]\n"
            "  --series N   series to write (default 5000; 4 metrics per key/model combo)\n"
            "  --hours T    hourly points per series (default 2160 = 90 days; >= 168)\n"
            "  --batch B    samples per ts_write / WriteBatch (default 24 x N: one day of every\n"
            "               series, like a collector backfill window; N = one hour, a poll)\n"
            "  --dir DIR    where to put the databases (default a new /tmp/bw-bench.XXXXXX)\n"
            "  --keep       leave the databases on disk\n"
            "  --only X     run one backend (for profiling)\n"
            "  --quick      500 series x 336 hours, a smoke run\n");
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > 100000000ULL || s[0] == '-')
        return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_args(int argc, char **argv, struct config *cfg)
{
    size_t series = 0, hours = 0;
    memset(cfg, 0, sizeof *cfg);
    cfg->only = -1;
    const char *a = NULL;
    for (int i = 1; i < argc; i++) {
        a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            cfg->quick = 1;
        } else if (!strcmp(a, "--keep")) {
            cfg->keep = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        } else if (v && !strcmp(a, "--series")) {
            if (parse_size(v, &series))
                goto bad;
            i++;
        } else if (v && !strcmp(a, "--hours")) {
            if (parse_size(v, &hours))
                goto bad;
            i++;
        } else if (v && !strcmp(a, "--batch")) {
            if (parse_size(v, &cfg->batch))
                goto bad;
            i++;
        } else if (v && !strcmp(a, "--dir")) {
            cfg->dir = v;
            i++;
        } else if (v && !strcmp(a, "--only")) {
            cfg->only = -1;
            for (int b = 0; b < N_BACKENDS; b++)
                if (!strcmp(v, backend_names[b]))
                    cfg->only = b;
            if (cfg->only < 0)
                goto bad;
            i++;
        } else {
            goto bad;
        }
    }
    cfg->series = series ? series : cfg->quick ? 500 : 5000;
    cfg->hours = hours ? hours : cfg->quick ? 336 : 2160;
    if (cfg->hours < WEEK_HOURS) {
        fprintf(stderr, "bench_store: --hours must be at least %d (one week)\n", WEEK_HOURS);
        return -1;
    }
    if (!cfg->batch)
        cfg->batch = cfg->series * 24;
    return 0;
bad:
    fprintf(stderr, "bench_store: bad or incomplete argument '%s'\n", a ? a : "");
    usage(stderr);
    return -1;
}

/* Time to generate every value once, to show how little of each ingest time it is. */
static double time_generation(const struct dataset *d)
{
    volatile double sink = 0;
    double acc = 0, t0 = now_s();
    for (size_t h = 0; h < d->hours; h++)
        for (size_t s = 0; s < d->n_series; s++)
            acc += gen_value(d, s, h);
    sink = acc;
    (void)sink;
    return now_s() - t0;
}

int main(int argc, char **argv)
{
    struct config cfg;
    struct dataset d;
    struct result res[N_BACKENDS];
    char base[4096] = "", sub[N_BACKENDS][4096];
    int made_base = 0, rc = 2, mismatch = 0;
    int started[N_BACKENDS] = {0}; /* only directories this run created are removed */

    int pr = parse_args(argc, argv, &cfg);
    if (pr != 0)
        return pr > 0 ? 0 : 2;
    memset(res, 0, sizeof res);
    memset(sub, 0, sizeof sub);
    if (dataset_init(&d, cfg.series, cfg.hours) != 0) {
        fprintf(stderr, "bench_store: out of memory\n");
        dataset_free(&d);
        return 2;
    }

    if (cfg.dir) {
        if (snprintf(base, sizeof base, "%s", cfg.dir) >= (int)sizeof base)
            goto out;
        if (!path_exists(base)) {
            if (mkdir(base, 0755) != 0) {
                fprintf(stderr, "bench_store: mkdir %s: %s\n", base, strerror(errno));
                goto out;
            }
            made_base = 1;
        }
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(base, sizeof base, "%s/bw-bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(base)) {
            fprintf(stderr, "bench_store: mkdtemp: %s\n", strerror(errno));
            goto out;
        }
        made_base = 1;
    }
    for (int i = 0; i < N_BACKENDS; i++) {
        if (join_path(sub[i], sizeof sub[i], base, backend_names[i]) != 0)
            goto out;
        if ((cfg.only < 0 || cfg.only == i) && path_exists(sub[i])) {
            fprintf(stderr, "bench_store: %s already exists; pick an empty --dir\n", sub[i]);
            goto out;
        }
    }

    char f[32], t[32];
    printf("bench_store: %zu series x %zu hours = %" PRIu64 " points, %zu samples per batch%s\n",
           d.n_series, d.hours, (uint64_t)d.n_series * d.hours, cfg.batch,
           cfg.batch == d.n_series * 24
               ? " (one day of every series per write, like a collector backfill window)"
               : "");
    printf("  data [%s, %s); metrics input_tokens, output_tokens, requests, cost_usd; labels "
           "provider (%d), account, project (%d), api_key_id, model (%d); %zu key/model combos\n",
           tu_format_time(d.start, f, sizeof f), tu_format_time(d.end, t, sizeof t), N_PROVIDERS,
           N_PROJECTS, N_PROVIDERS * N_MODELS_PER_PROVIDER, d.n_combos);
    printf("  store: ts_open defaults (WAL on, no fsync per write); raw: rocksdb default options "
           "+ create_if_missing, WAL on, no fsync, 16-byte big-endian keys -> 8-byte double;\n"
           "  sqlite %s: journal_mode=WAL, synchronous=NORMAL, prepared INSERT OR REPLACE, "
           "WITHOUT ROWID points(series_id, ts) primary key\n",
           sqlite3_libversion());
    printf("  dir %s%s; machine has %ld online CPUs\n", base, cfg.keep ? " (kept)" : "",
           sysconf(_SC_NPROCESSORS_ONLN));
    fflush(stdout);

    struct week w = {.to = tu_floor(d.end, TU_DAY)};
    w.from = w.to - 7 * TU_DAY;
    double gen_s = time_generation(&d);

    for (int i = 0; i < N_BACKENDS; i++) {
        if (cfg.only >= 0 && cfg.only != i)
            continue;
        printf("running %s ...\n", backend_names[i]);
        fflush(stdout);
        started[i] = 1;
        int r = i == B_STORE ? run_store(&cfg, &d, &w, sub[i], &res[i])
                : i == B_RAW ? run_raw(&cfg, &d, &w, sub[i], &res[i])
                             : run_sqlite(&d, &w, sub[i], &res[i]);
        if (r != 0) {
            fprintf(stderr, "bench_store: %s failed\n", backend_names[i]);
            goto out;
        }
    }

    print_report(&cfg, &d, res, gen_s);
    mismatch = verify(res, 0) | verify(res, 1);
    if (cfg.only < 0 && cfg.batch != d.n_series) {
        /* The worst case for the store's rollups: one hour of every series
         * per write (a steady-state poll), so each sample also carries a
         * rollup merge. Store and raw again, same process, fresh dirs. */
        struct config hc = cfg;
        hc.batch = d.n_series;
        struct result hr[2] = {0};
        char hsub[2][4096];
        printf("\nworst case for rollups: %zu samples per write (one hour of every series)\n",
               hc.batch);
        fflush(stdout);
        for (int i = 0; i < 2; i++) {
            char name[32];
            snprintf(name, sizeof name, "%s-hourly", backend_names[i]);
            if (join_path(hsub[i], sizeof hsub[i], base, name) != 0)
                goto out;
            int r = i == B_STORE ? run_store(&hc, &d, &w, hsub[i], &hr[i])
                                 : run_raw(&hc, &d, &w, hsub[i], &hr[i]);
            if (r != 0) {
                fprintf(stderr, "bench_store: %s (hourly batches) failed\n", backend_names[i]);
                goto out;
            }
            printf("  %-6s %10" PRIu64 " points %8.2f s %10.0f points/s\n", backend_names[i],
                   hr[i].points, hr[i].ingest_s, (double)hr[i].points / hr[i].ingest_s);
            if (!cfg.keep)
                rm_tree(hsub[i]);
        }
        printf("  ratio store/raw (hourly batches): %.2fx\n",
               ((double)hr[0].points / hr[0].ingest_s) / ((double)hr[1].points / hr[1].ingest_s));
        for (int i = 0; i < 2; i++) {
            free(hr[i].hour.cells);
            free(hr[i].day.cells);
        }
    }
    printf("\nverification: %s\n",
           mismatch ? "MISMATCH between backends (see above)"
                    : "all backends that ran agree on every (project, bucket) sum, 1h and 1d");
    rc = mismatch ? 1 : 0;
out:
    for (int i = 0; i < N_BACKENDS; i++) {
        free(res[i].hour.cells);
        free(res[i].day.cells);
    }
    if (!cfg.keep && base[0]) {
        for (int i = 0; i < N_BACKENDS; i++)
            if (started[i] && rm_tree(sub[i]) != 0)
                fprintf(stderr, "bench_store: could not remove %s\n", sub[i]);
        if (made_base && rmdir(base) != 0)
            fprintf(stderr, "bench_store: could not remove %s\n", base);
    }
    dataset_free(&d);
    return rc;
}
