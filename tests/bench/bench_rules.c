/*
 * `make bench` (third part): the rule engine against the target, "all
 * rules evaluated after one new hour for 5,000 series in <= 50 ms; memory
 * independent of history length". Builds stores shaped like the collector's
 * output (hourly usage and estimated cost, daily billed cost, audit logins,
 * inventory, first-seen and health keys), then times what the daemon does
 * after each poll (collector/daemon.c run_analysis: every rule, the alert
 * lifecycle, one write) for consecutive new hours and per rule; measures the
 * analysis's peak memory in child processes over a short and a long history;
 * and holds the spend-spike computation against the same one in SQLite.
 */
#include "../../alerts/lifecycle.h"
#include "../../analyzers/engine.h"
#include "../../collector/config.h"
#include "../../common/log.h"
#include "../../common/timeutil.h"
#include "../../storage/ts.h"

#include "benchsql.h"
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the shape of the data ------------------------------------------------ */

#define TARGET_MS 50.0
#define TARGET_MEM_RATIO 1.25 /* "independent": the long history's peak within 25% */
#define N_METRICS 4           /* hourly series per (API key, model) */
#define N_PROVIDERS 2
#define MODELS_PER_PROVIDER 6
#define MODELS_PER_KEY 5
#define KEYS_PER_PROJECT 5
/* one project's hourly series */
#define SERIES_UNIT ((long)N_METRICS * MODELS_PER_KEY * KEYS_PER_PROJECT)
#define USERS_PER_ACCOUNT 40
#define LOGINS_PER_DAY 200
#define FAILED_PER_DAY 10
#define SPIKE_PROJECT 4                   /* an openai project whose spend jumps ... */
#define SPIKE_LEAD ((int64_t)6 * TU_HOUR) /* ... 6 hours before the first new hour ... */
#define SPIKE_FACTOR 6.0                  /* ... to 6x */
#define SPIKE_DAYS 14                     /* the daily spend_spike's baseline */
#define COMPARE_REPEATS 5
#define REL_TOL 1e-6
#define MAX_RULES 32

static const char *const METRICS[N_METRICS] = {"input_tokens", "output_tokens", "requests",
                                               "est_cost_usd"};

static const struct provider {
    const char *type, *account, *env;
    const char *models[MODELS_PER_PROVIDER];
    double price[MODELS_PER_PROVIDER][2]; /* USD per million input / output tokens */
} PROVS[N_PROVIDERS] = {
    {"openai",
     "acme-openai",
     "BW_BENCH_OPENAI_KEY",
     {"gpt-4.1", "gpt-4.1-mini", "gpt-4o", "gpt-4o-mini", "o3", "text-embedding-3-small"},
     {{2.0, 8.0}, {0.4, 1.6}, {2.5, 10.0}, {0.15, 0.6}, {2.0, 8.0}, {0.02, 0.0}}},
    {"anthropic",
     "acme-claude",
     "BW_BENCH_ANTHROPIC_KEY",
     {"claude-sonnet-4", "claude-opus-4-1", "claude-3-5-haiku", "claude-3-7-sonnet",
      "claude-haiku-4-5", "claude-sonnet-4-5"},
     {{3.0, 15.0}, {15.0, 75.0}, {0.8, 4.0}, {3.0, 15.0}, {1.0, 5.0}, {3.0, 15.0}}},
};

/* Where users sign in from: a user's home is HOMES[user % 10]. */
static const struct place {
    const char *country, *city;
    double lat, lon;
} HOMES[10] = {
    {"US", "Seattle", 47.61, -122.33},  {"US", "Seattle", 47.61, -122.33},
    {"US", "Portland", 45.52, -122.68}, {"US", "San Francisco", 37.77, -122.42},
    {"US", "Austin", 30.27, -97.74},    {"US", "New York", 40.71, -74.01},
    {"US", "Boston", 42.36, -71.06},    {"GB", "London", 51.51, -0.13},
    {"DE", "Berlin", 52.52, 13.40},     {"US", "Chicago", 41.88, -87.63},
};
static const struct place ABROAD = {"BR", "Sao Paulo", -23.55, -46.63};

struct key {
    int prov, project;
    char id[40];
    int64_t first;   /* first hour with usage (INT64_MIN: the whole history) */
    int64_t created; /* the inventory's created_at */
    int listed;      /* in the inventory */
};

struct combo {
    size_t key;
    int model;
    double base;        /* input tokens per hour at peak */
    double out_ratio;   /* output / input tokens */
    double tok_per_req; /* input tokens per request */
};

struct dataset {
    size_t n_series; /* hourly: N_METRICS per combo */
    size_t n_combos, n_keys, n_projects;
    size_t n_cost;    /* daily cost_usd series: one per (project, model of its provider) */
    int64_t t0;       /* the first new hour; history is [t0 - days, t0) */
    struct key *keys; /* n_keys */
    struct combo *combos;
    char (*projects)[32];
};

struct opts {
    size_t series;
    int days, short_days, hours, rounds, keep, quick;
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

/* A "VmRSS"/"VmHWM" line of /proc/self/status in kB; -1 when unreadable. */
static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t n = strlen(field);
    long v = -1;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    if (f)
        fclose(f);
    return v;
}

/* Resets VmHWM to the current RSS (Linux >= 4.0). 0 ok. */
static int reset_hwm(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return -1;
    int rc = fputs("5", f) < 0;
    return fclose(f) != 0 || rc ? -1 : 0;
}

static int64_t g_clock; /* the store's "now" for retention */

static int64_t bench_clock(void)
{
    return g_clock;
}

/* ---- synthetic data: deterministic from (combo, hour) ---------------------- */

static int dataset_init(struct dataset *d, size_t n_series)
{
    memset(d, 0, sizeof *d);
    d->n_series = n_series;
    d->n_combos = n_series / N_METRICS;
    d->n_keys = d->n_combos / MODELS_PER_KEY;
    d->n_projects = d->n_keys / KEYS_PER_PROJECT;
    d->n_cost = d->n_projects * MODELS_PER_PROVIDER;
    /* 2025-07-17T09:00Z: mid-month, so the budgets have 16 days behind them */
    d->t0 = tu_days_from_civil(2025, 7, 17) * TU_DAY + (int64_t)9 * TU_HOUR;
    d->keys = calloc(d->n_keys, sizeof *d->keys);
    d->combos = calloc(d->n_combos, sizeof *d->combos);
    d->projects = calloc(d->n_projects, sizeof *d->projects);
    if (!d->keys || !d->combos || !d->projects)
        return -1;
    for (size_t p = 0; p < d->n_projects; p++)
        snprintf(d->projects[p], sizeof d->projects[p], "proj-%03zu", p);
    for (size_t k = 0; k < d->n_keys; k++) {
        struct key *key = &d->keys[k];
        uint64_t h = mix64(0x6b657973ULL ^ (uint64_t)k);
        key->project = (int)(k / KEYS_PER_PROJECT);
        key->prov = key->project % N_PROVIDERS;
        if (key->prov == 0)
            snprintf(key->id, sizeof key->id, "key_%012" PRIx64, h >> 16);
        else
            snprintf(key->id, sizeof key->id, "apikey_01%012" PRIx64, h >> 16);
        key->first = INT64_MIN;
        key->listed = 1;
        key->created = d->t0 - (int64_t)(10 + unit(mix64(h)) * 140) * TU_DAY; /* 10..150 days */
    }
    /* two keys start three hours before the first new hour; the last is not in the
     * inventory (a key made outside the admin's view) */
    for (size_t k = d->n_keys - 2; k < d->n_keys; k++) {
        d->keys[k].first = d->t0 - (int64_t)3 * TU_HOUR;
        d->keys[k].created = d->t0 - (int64_t)4 * TU_HOUR;
    }
    d->keys[d->n_keys - 1].listed = 0;
    for (size_t c = 0; c < d->n_combos; c++) {
        struct combo *k = &d->combos[c];
        uint64_t h = mix64(0xc0ffeeULL ^ (uint64_t)c);
        size_t j = c % MODELS_PER_KEY;
        k->key = c / MODELS_PER_KEY;
        /* each key uses 5 of its provider's 6 models, skipping one by key */
        int skip = (int)(k->key % MODELS_PER_PROVIDER);
        k->model = (int)j < skip ? (int)j : (int)j + 1;
        k->base = 200.0 * exp(5.0 * unit(h)); /* 200 .. ~30k input tokens/h */
        k->out_ratio = 0.1 + 0.4 * unit(mix64(h + 1));
        k->tok_per_req = 300.0 + 2700.0 * unit(mix64(h + 2));
    }
    return 0;
}

static void dataset_free(struct dataset *d)
{
    free(d->keys);
    free(d->combos);
    free(d->projects);
}

static double pattern(int64_t t)
{
    int64_t hod = (t / TU_HOUR) % 24;
    int64_t dow = (t / TU_DAY + 3) % 7; /* 0 = Monday */
    double diurnal = 0.2 + 0.8 * 0.5 * (1.0 - cos(2.0 * M_PI * (double)(hod - 4) / 24.0));
    return diurnal * (dow >= 5 ? 0.45 : 1.0);
}

struct usage {
    double v[N_METRICS]; /* input, output, requests, est_cost_usd */
};

/* One combo's usage in the hour starting at t (pat = pattern(t)). */
static void gen_usage(const struct dataset *d, size_t c, int64_t t, double pat, struct usage *u)
{
    const struct combo *k = &d->combos[c];
    const struct key *key = &d->keys[k->key];
    memset(u, 0, sizeof *u);
    if (t < key->first)
        return;
    uint64_t h = mix64(((uint64_t)c << 32) ^ (uint64_t)(t / TU_HOUR));
    if (unit(h) < 0.06 * (1.2 - pat))
        return; /* idle this hour */
    double a = k->base * pat * (0.7 + 0.6 * unit(mix64(h)));
    if (key->project == SPIKE_PROJECT && t >= d->t0 - SPIKE_LEAD)
        a *= SPIKE_FACTOR;
    const double *pr = PROVS[key->prov].price[k->model];
    u->v[0] = floor(a + 0.5);
    u->v[1] = floor(a * k->out_ratio + 0.5);
    u->v[2] = ceil(u->v[0] / k->tok_per_req);
    u->v[3] = (u->v[0] * pr[0] + u->v[1] * pr[1]) / 1e6;
}

static int put_seen(struct ts_batch *b, const char *account, const char *kind, const char *v,
                    int64_t t);

static const char *actor_name(int user, char *buf, size_t len)
{
    snprintf(buf, len, "user%d@x", user);
    return buf;
}

static int add_login(struct ts_batch *b, int user, int64_t t, int failed, const struct place *pl,
                     int ip_variant, int seq)
{
    const struct provider *p = &PROVS[user / USERS_PER_ACCOUNT];
    char actor[32], json[640], uid[96];
    const char *type = failed ? "audit.login.failed" : "audit.login.succeeded";
    int n = snprintf(json, sizeof json,
                     "{\"provider\":\"%s\",\"account\":\"%s\",\"type\":\"%s\",\"time\":%" PRId64
                     ",\"actor\":\"%s\",\"actor_type\":\"session\",\"ip\":\"203.0.%d.%d\","
                     "\"country\":\"%s\",\"city\":\"%s\",\"lat\":%.2f,\"lon\":%.2f}",
                     p->type, p->account, type + 6, t, actor_name(user, actor, sizeof actor),
                     user % 250, 1 + ip_variant % 250, pl->country, pl->city, pl->lat, pl->lon);
    if (n < 0 || (size_t)n >= sizeof json)
        return -1;
    snprintf(uid, sizeof uid, "bench-%s-%" PRId64 "-%d", type + 6, t, seq);
    struct ts_event ev = {.time = t, .type = type, .uid = uid, .json = json};
    return ts_batch_add_event(b, &ev);
}

/*
 * The audit events of the hour starting at t: about LOGINS_PER_DAY logins
 * and FAILED_PER_DAY failures a day from users' homes, plus two planted
 * incidents in the new hours (a sign-in from abroad, a burst of failures
 * from many IPs). *first gets the earliest event time (INT64_MAX: none).
 */
static int add_hour_events(struct ts_batch *b, const struct dataset *d, int64_t t, int64_t *first)
{
    uint64_t h = mix64(0xa0d17ULL ^ (uint64_t)(t / TU_HOUR));
    int n = LOGINS_PER_DAY / 24 + (unit(h) < (double)(LOGINS_PER_DAY % 24) / 24.0);
    int users = N_PROVIDERS * USERS_PER_ACCOUNT;
    *first = INT64_MAX;
    for (int i = 0; i < n; i++) {
        uint64_t e = mix64(h + (uint64_t)i + 1);
        int user = (int)(e % (uint64_t)users);
        int64_t at = t + (int64_t)((e >> 20) % TU_HOUR);
        if (add_login(b, user, at, 0, &HOMES[user % 10], user, i) != 0)
            return -1;
        *first = at < *first ? at : *first;
    }
    if (unit(mix64(h ^ 0xfa11ULL)) < (double)FAILED_PER_DAY / 24.0) {
        uint64_t e = mix64(h ^ 0xbadULL);
        int user = (int)(e % (uint64_t)users);
        int64_t at = t + (int64_t)((e >> 20) % TU_HOUR);
        if (add_login(b, user, at, 1, &HOMES[user % 10], user, 0) != 0)
            return -1;
        *first = at < *first ? at : *first;
    }
    if (t == d->t0 + (int64_t)3 * TU_HOUR) { /* user7 (London) signs in from Sao Paulo */
        char cc[64];
        snprintf(cc, sizeof cc, "user7@x/%s", ABROAD.country);
        /* the collector records the first sighting of a country with the event */
        if (add_login(b, 7, t + 600, 0, &ABROAD, 7 + 100, 900) != 0 ||
            put_seen(b, PROVS[0].account, "country", cc, t + 600) != 0)
            return -1;
        *first = t + 600 < *first ? t + 600 : *first;
    }
    if (t == d->t0 + (int64_t)5 * TU_HOUR) { /* 8 failures for user3 from 6 IPs in 14 minutes */
        for (int i = 0; i < 8; i++)
            if (add_login(b, 3, t + 2400 + (int64_t)i * 120, 1, &HOMES[3], 40 + i % 6, 900 + i) !=
                0)
                return -1;
        *first = t + 2400 < *first ? t + 2400 : *first;
    }
    return 0;
}

/* ---- the configuration ------------------------------------------------------ */

/* Every rule type once (spend_spike twice), with realistic parameters. */
static int write_config(const struct dataset *d, const char *path, const char *data_dir)
{
    char text[8192];
    int n = snprintf(
        text, sizeof text,
        "{\n"
        "  \"data_dir\": \"%s\",\n"
        "  \"log_level\": \"warn\",\n"
        "  \"providers\": [\n"
        "    {\"type\": \"openai\", \"name\": \"%s\", \"base_url\": \"http://127.0.0.1:1\",\n"
        "     \"admin_key_env\": \"%s\"},\n"
        "    {\"type\": \"anthropic\", \"name\": \"%s\", \"base_url\": \"http://127.0.0.1:1\",\n"
        "     \"admin_key_env\": \"%s\"}\n"
        "  ],\n"
        "  \"business_units\": {\"Marketing\": {\"projects\": [\"%s\", \"%s\"], \"api_keys\": "
        "[]}},\n"
        "  \"rules\": [\n"
        "    {\"type\": \"spend_spike\", \"name\": \"daily-spend-spike\", \"window\": \"1d\",\n"
        "     \"baseline\": \"14d\", \"threshold\": 1.5, \"min_spend_usd\": 20, \"learning\": "
        "\"7d\",\n"
        "     \"group_by\": [\"provider\", \"project\"]},\n"
        "    {\"type\": \"spend_spike\", \"name\": \"hourly-spend-spike\", \"window\": \"1h\",\n"
        "     \"baseline\": \"7d\", \"threshold\": 2, \"min_spend_usd\": 5, \"group_by\": "
        "[\"provider\"]},\n"
        "    {\"type\": \"spend_threshold\", \"name\": \"daily-spend-over-500\", \"window\": "
        "\"1d\",\n"
        "     \"threshold_usd\": 500, \"group_by\": [\"provider\"]},\n"
        "    {\"type\": \"budget_forecast\", \"name\": \"monthly-budgets\", \"budgets\": [\n"
        "       {\"scope\": {}, \"monthly_usd\": 20000},\n"
        "       {\"scope\": {\"business_unit\": \"Marketing\"}, \"monthly_usd\": 3000},\n"
        "       {\"scope\": {\"provider\": \"openai\", \"project\": \"%s\"}, \"monthly_usd\": "
        "8000}],\n"
        "     \"percentages\": [80, 100]},\n"
        "    {\"type\": \"unexpected_model\", \"name\": \"model-allowlist\",\n"
        "     \"allow\": {\"openai\": [\"gpt-4*\", \"text-embedding-3-*\"], \"anthropic\": "
        "[\"claude-*\"]},\n"
        "     \"per_project\": {\"%s\": [\"gpt-4.1*\", \"gpt-4o-mini*\"]}},\n"
        "    {\"type\": \"new_entity\", \"name\": \"new-keys-and-projects\", \"severity\": "
        "\"info\",\n"
        "     \"entities\": [\"api_key\", \"project\", \"user\"], \"learning\": \"7d\"},\n"
        "    {\"type\": \"auth_failures\", \"name\": \"failed-logins\", \"severity\": "
        "\"critical\",\n"
        "     \"window\": \"30m\", \"threshold\": 5, \"distinct_ips\": 5},\n"
        "    {\"type\": \"geo_anomaly\", \"name\": \"geo\", \"severity\": \"critical\",\n"
        "     \"allowed_countries\": [\"US\", \"GB\", \"DE\"], \"max_speed_kmh\": 900,\n"
        "     \"min_distance_km\": 100, \"learning\": \"14d\", \"new_country\": true},\n"
        "    {\"type\": \"rate_limited\", \"name\": \"rate-limits\", \"window\": \"1h\", "
        "\"threshold\": 100,\n"
        "     \"group_by\": [\"provider\"]},\n"
        "    {\"type\": \"key_age\", \"name\": \"rotation-90d\", \"max_age\": \"90d\", "
        "\"max_idle\": \"30d\"},\n"
        "    {\"type\": \"cost_drift\", \"name\": \"billed-vs-estimated\", \"severity\": "
        "\"info\",\n"
        "     \"max_drift_pct\": 10, \"min_spend_usd\": 1},\n"
        "    {\"type\": \"collector_health\", \"name\": \"collector-health\", "
        "\"failing_cycles\": 3,\n"
        "     \"max_staleness\": \"6h\"}\n"
        "  ]\n"
        "}\n",
        data_dir, PROVS[0].account, PROVS[0].env, PROVS[1].account, PROVS[1].env, d->projects[1],
        d->projects[3], d->projects[0], d->projects[2]);
    if (n < 0 || (size_t)n >= sizeof text)
        return -1;
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int bad = fputs(text, f) < 0;
    return fclose(f) != 0 || bad ? -1 : 0;
}

/* ---- building a store ---------------------------------------------------------- */

struct store {
    struct ts_store *st;
    uint64_t *ids;  /* n_series hourly series, combo-major: combo * N_METRICS + metric */
    uint64_t *cost; /* n_cost daily cost_usd series: project * MODELS_PER_PROVIDER + model */
};

static int register_series(struct store *s, const struct dataset *d, char *err, size_t errlen)
{
    s->ids = malloc(d->n_series * sizeof *s->ids);
    s->cost = malloc(d->n_cost * sizeof *s->cost);
    if (!s->ids || !s->cost) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t c = 0; c < d->n_combos; c++) {
        const struct combo *k = &d->combos[c];
        const struct key *key = &d->keys[k->key];
        const struct provider *p = &PROVS[key->prov];
        struct ts_label labels[] = {{"provider", p->type},
                                    {"account", p->account},
                                    {"project", d->projects[key->project]},
                                    {"api_key_id", key->id},
                                    {"model", p->models[k->model]}};
        for (size_t m = 0; m < N_METRICS; m++) {
            const struct ts_series *ser;
            if (ts_series_get(s->st, METRICS[m], labels, 5, &ser, err, errlen) != 0)
                return -1;
            s->ids[c * N_METRICS + m] = ser->id;
        }
    }
    for (size_t pm = 0; pm < d->n_cost; pm++) {
        size_t proj = pm / MODELS_PER_PROVIDER;
        const struct provider *p = &PROVS[proj % N_PROVIDERS];
        struct ts_label labels[] = {{"provider", p->type},
                                    {"account", p->account},
                                    {"project", d->projects[proj]},
                                    {"model", p->models[pm % MODELS_PER_PROVIDER]}};
        const struct ts_series *ser;
        if (ts_series_get(s->st, "cost_usd", labels, 4, &ser, err, errlen) != 0)
            return -1;
        s->cost[pm] = ser->id;
    }
    return 0;
}

static void store_close(struct store *s)
{
    if (s->st)
        ts_close(s->st);
    free(s->ids);
    free(s->cost);
    memset(s, 0, sizeof *s);
}

static int store_open(struct store *s, const struct dataset *d, const char *dir, int create,
                      char *err, size_t errlen)
{
    struct ts_options o = {.create = create, .clock = bench_clock};
    memset(s, 0, sizeof *s);
    if (ts_open(dir, &o, &s->st, err, errlen) != 0 || register_series(s, d, err, errlen) != 0) {
        store_close(s);
        return -1;
    }
    return 0;
}

static int put_meta(struct ts_batch *b, const char *key, const char *val)
{
    return ts_batch_put(b, TS_META, key, strlen(key), val, strlen(val));
}

static int put_seen(struct ts_batch *b, const char *account, const char *kind, const char *v,
                    int64_t t)
{
    char key[256], val[32];
    snprintf(key, sizeof key, "seen/%s/%s/%s", account, kind, v);
    snprintf(val, sizeof val, "%" PRId64, t);
    return put_meta(b, key, val);
}

static int put_health(struct ts_batch *b, int prov, int64_t now, int64_t last_data, int cycles)
{
    char key[128], val[512];
    snprintf(key, sizeof key, "health/%s", PROVS[prov].account);
    snprintf(val, sizeof val,
             "{\"account\":\"%s\",\"cycles\":%d,\"failures\":0,\"last_attempt\":%" PRId64
             ",\"last_data\":%" PRId64 ",\"last_success\":%" PRId64 ",\"provider\":\"%s\"}",
             PROVS[prov].account, cycles, now, last_data, now, PROVS[prov].type);
    return put_meta(b, key, val);
}

/* Inventory, first sightings and health as the collector leaves them at t0. */
static int add_meta(struct ts_batch *b, const struct dataset *d, int64_t start)
{
    char v[512], actor[32];
    for (size_t k = 0; k < d->n_keys; k++) {
        const struct key *key = &d->keys[k];
        const char *acct = PROVS[key->prov].account;
        if (put_seen(b, acct, "api_key", key->id, key->first > start ? key->first : start))
            return -1;
        if (!key->listed)
            continue;
        char ik[256];
        snprintf(ik, sizeof ik, "inv/%s/api_key/%s", acct, key->id);
        snprintf(v, sizeof v,
                 "{\"created_at\":%" PRId64 ",\"id\":\"%s\",\"project\":\"%s\",\"status\":"
                 "\"active\"}",
                 key->created, key->id, d->projects[key->project]);
        if (put_meta(b, ik, v))
            return -1;
    }
    for (size_t p = 0; p < d->n_projects; p++)
        if (put_seen(b, PROVS[p % N_PROVIDERS].account, "project", d->projects[p], start))
            return -1;
    for (int p = 0; p < N_PROVIDERS; p++) {
        for (int m = 0; m < MODELS_PER_PROVIDER; m++)
            if (put_seen(b, PROVS[p].account, "model", PROVS[p].models[m], start))
                return -1;
        if (put_health(b, p, d->t0, d->t0, 10))
            return -1;
    }
    for (int u = 0; u < N_PROVIDERS * USERS_PER_ACCOUNT; u++) {
        const char *acct = PROVS[u / USERS_PER_ACCOUNT].account;
        char cc[64];
        actor_name(u, actor, sizeof actor);
        snprintf(cc, sizeof cc, "%s/%s", actor, HOMES[u % 10].country);
        if (put_seen(b, acct, "user", actor, start) || put_seen(b, acct, "country", cc, start))
            return -1;
    }
    return 0;
}

/*
 * Writes the hour starting at t for every hourly series (and its audit events
 * and the sources' health) in one ts_write, as one poll cycle would.
 */
static int write_hour(struct store *s, const struct dataset *d, struct ts_batch *b, int64_t t,
                      int cycle, struct ana_changes *ch, char *err, size_t errlen)
{
    double pat = pattern(t);
    int64_t first;
    ts_batch_clear(b);
    for (size_t c = 0; c < d->n_combos; c++) {
        struct usage u;
        gen_usage(d, c, t, pat, &u);
        for (size_t m = 0; m < N_METRICS; m++)
            if (ts_batch_add(b, s->ids[c * N_METRICS + m], t, u.v[m]) != 0)
                goto oom;
    }
    if (add_hour_events(b, d, t, &first) != 0)
        goto oom;
    for (int p = 0; p < N_PROVIDERS; p++)
        if (put_health(b, p, t + TU_HOUR + 300, t + TU_HOUR, cycle) != 0)
            goto oom;
    *ch = (struct ana_changes){
        .events_from = first, .samples = ts_batch_samples(b), .samples_from = t};
    return ts_write(s->st, b, err, errlen);
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

struct build_info {
    uint64_t points, disk_bytes;
    double seconds;
};

/*
 * Creates a store in dir with `days` of history before t0 (a day's batch per
 * write, like a backfill; billed cost_usd for each closed day), the meta keys,
 * a compaction, then the first new hour t0. Closes it.
 */
static int build_store(const struct dataset *d, const char *dir, int days, struct build_info *bi,
                       char *err, size_t errlen)
{
    struct store s;
    struct ts_batch *b = ts_batch_new();
    double *day_cost = calloc(d->n_cost, sizeof *day_cost);
    int rc = -1;
    double t_start = now_ms();
    int64_t start = d->t0 - (int64_t)days * TU_DAY, cur_day = tu_floor(start, TU_DAY);
    memset(bi, 0, sizeof *bi);
    g_clock = d->t0 + TU_HOUR;
    if (!b || !day_cost) {
        snprintf(err, errlen, "out of memory");
        ts_batch_free(b);
        free(day_cost);
        return -1;
    }
    if (store_open(&s, d, dir, 1, err, errlen) != 0)
        goto out;
    for (int64_t t = start; t < d->t0; t += TU_HOUR) {
        if (tu_floor(t, TU_DAY) != cur_day) { /* the provider bills the day just closed */
            for (size_t pm = 0; pm < d->n_cost; pm++) {
                if (!(day_cost[pm] > 0))
                    continue;
                double noise = 1.0 + 0.06 * (unit(mix64((uint64_t)(cur_day ^ (int64_t)pm))) - 0.5);
                if (ts_batch_add(b, s.cost[pm], cur_day, round(day_cost[pm] * noise * 100) / 100))
                    goto oom;
                bi->points++;
            }
            memset(day_cost, 0, d->n_cost * sizeof *day_cost);
            cur_day = tu_floor(t, TU_DAY);
        }
        double pat = pattern(t);
        for (size_t c = 0; c < d->n_combos; c++) {
            struct usage u;
            const struct combo *k = &d->combos[c];
            gen_usage(d, c, t, pat, &u);
            for (size_t m = 0; m < N_METRICS; m++)
                if (ts_batch_add(b, s.ids[c * N_METRICS + m], t, u.v[m]) != 0)
                    goto oom;
            day_cost[(size_t)d->keys[k->key].project * MODELS_PER_PROVIDER + (size_t)k->model] +=
                u.v[3];
        }
        int64_t first;
        if (add_hour_events(b, d, t, &first) != 0)
            goto oom;
        bi->points += d->n_series;
        if ((t - start) / TU_HOUR % 24 == 23 || t + TU_HOUR == d->t0) {
            if (ts_write(s.st, b, err, errlen) != 0)
                goto out;
            ts_batch_clear(b);
        }
    }
    if (add_meta(b, d, start) != 0)
        goto oom;
    if (ts_write(s.st, b, err, errlen) != 0 || ts_compact(s.st, err, errlen) != 0)
        goto out;
    struct ana_changes ch;
    if (write_hour(&s, d, b, d->t0, 11, &ch, err, errlen) != 0)
        goto out;
    bi->points += d->n_series;
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    store_close(&s);
    ts_batch_free(b);
    free(day_cost);
    bi->seconds = (now_ms() - t_start) / 1e3;
    bi->disk_bytes = rc == 0 ? du_tree(dir) : 0;
    return rc;
}

/* ---- one analysis, as collector/daemon.c run_analysis does it --------------- */

struct run {
    double eval_ms, apply_ms, write_ms, total_ms;
    double cpu_ms; /* process CPU time over the same span (the aggregation helper thread too) */
    size_t conditions, failed;
    struct alert_stats as;
};

static int analyse(struct ana_engine *e, struct ts_store *st, int64_t now,
                   const struct ana_changes *ch, struct run *r, char *err, size_t errlen)
{
    const struct ana_rule_result *res;
    size_t n;
    struct ts_batch *b = ts_batch_new();
    int rc = -1;
    memset(r, 0, sizeof *r);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    double c0 = cpu_ms(), t0 = now_ms();
    if (ana_engine_evaluate(e, st, now, ch, b, &res, &n, err, errlen) != 0)
        goto out;
    double t1 = now_ms();
    if (alert_apply(st, b, res, n, now, &r->as, err, errlen) != 0)
        goto out;
    double t2 = now_ms();
    if (ts_write(st, b, err, errlen) != 0)
        goto out;
    double t3 = now_ms();
    r->cpu_ms = cpu_ms() - c0;
    r->eval_ms = t1 - t0;
    r->apply_ms = t2 - t1;
    r->write_ms = t3 - t2;
    r->total_ms = t3 - t0;
    for (size_t i = 0; i < n; i++) {
        r->failed += !res[i].ok;
        r->conditions += res[i].res.n;
    }
    rc = 0;
out:
    ts_batch_free(b);
    return rc;
}

/* ---- memory: one analysis in a fresh process ------------------------------------ */

/*
 * bench_rules --child DIR CONFIG NOW: opens the store, loads the config and
 * builds the engine, then runs one analysis at NOW; prints "rss_kb hwm0_kb
 * hwm1_kb ms conditions failed" where rss and hwm0 are read just before the
 * analysis (after resetting the peak) and hwm1 just after.
 */
static int child_main(int argc, char **argv)
{
    struct ts_store *st = NULL;
    struct config *cfg = NULL;
    struct ana_engine *e = NULL;
    char err[1024] = "";
    int rc = 1;
    if (argc != 5)
        return 2;
    log_set_level(LOG_WARN);
    g_clock = (int64_t)strtoll(argv[4], NULL, 10);
    struct ts_options o = {.clock = bench_clock};
    if (ts_open(argv[2], &o, &st, err, sizeof err) != 0 ||
        cfg_load(argv[3], &cfg, err, sizeof err) != 0 ||
        ana_engine_new(cfg, &e, err, sizeof err) != 0)
        goto out;
    struct ana_changes ch = {.events_from = tu_floor(g_clock, TU_HOUR) - TU_HOUR,
                             .samples = ts_series_count(st)};
    struct run r;
    int reset = reset_hwm();
    long rss = status_kb("VmRSS"), hwm0 = status_kb("VmHWM");
    if (analyse(e, st, g_clock, &ch, &r, err, sizeof err) != 0)
        goto out;
    long hwm1 = status_kb("VmHWM");
    printf("%ld %ld %ld %.3f %zu %zu %d\n", rss, hwm0, hwm1, r.total_ms, r.conditions, r.failed,
           reset == 0);
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "bench_rules --child: %s\n", err);
    ana_engine_free(e);
    if (st)
        ts_close(st);
    cfg_free(cfg);
    return rc;
}

struct child_result {
    long rss_kb, hwm0_kb, hwm1_kb;
    double ms;
    size_t conditions, failed;
    int reset_ok;
};

static int run_child(const char *dir, const char *cfg_path, int64_t now, struct child_result *cr)
{
    int fd[2];
    char nowbuf[32];
    snprintf(nowbuf, sizeof nowbuf, "%" PRId64, now);
    if (pipe(fd) != 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        char *args[] = {"bench_rules", "--child", (char *)dir, (char *)cfg_path, nowbuf, NULL};
        if (dup2(fd[1], 1) < 0)
            _exit(127);
        close(fd[0]);
        close(fd[1]);
        execv("/proc/self/exe", args);
        _exit(127);
    }
    close(fd[1]);
    FILE *f = fdopen(fd[0], "r");
    int got = 0, status = 0;
    if (f) {
        got = fscanf(f, "%ld %ld %ld %lf %zu %zu %d", &cr->rss_kb, &cr->hwm0_kb, &cr->hwm1_kb,
                     &cr->ms, &cr->conditions, &cr->failed, &cr->reset_ok);
        fclose(f);
    } else {
        close(fd[0]);
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    return got == 7 ? 0 : -1;
}

/* ---- the spend-spike computation: the store directly and SQLite ------------------- */

/* The windows of the daily spend_spike at end (an hour): [c0, end) and SPIKE_DAYS days. */
struct spike_win {
    int64_t c0, c1, b0, b1;
};

static struct spike_win spike_windows(int64_t end)
{
    struct spike_win w = {.c0 = end - TU_DAY, .c1 = end};
    w.b1 = tu_floor(w.c0, TU_DAY);
    w.b0 = w.b1 - (int64_t)SPIKE_DAYS * TU_DAY;
    return w;
}

/* Per project (each belongs to one provider): the window's spend and the baseline median. */
struct spike_out {
    double *cur, *med, *days; /* days: n_projects x SPIKE_DAYS */
    size_t groups;
};

static int project_of(const char *name)
{
    if (!name || strncmp(name, "proj-", 5) != 0)
        return -1;
    return (int)strtol(name + 5, NULL, 10);
}

static void spike_finish(const struct dataset *d, struct spike_out *o)
{
    for (size_t p = 0; p < d->n_projects; p++) {
        double tmp[SPIKE_DAYS];
        memcpy(tmp, o->days + p * SPIKE_DAYS, sizeof tmp);
        o->med[p] = ana_median(tmp, SPIKE_DAYS);
    }
}

static const char *glabel(const struct ts_agg_group *g, const char *name)
{
    for (size_t i = 0; i < g->n_labels; i++)
        if (strcmp(g->labels[i].name, name) == 0)
            return g->labels[i].value;
    return NULL;
}

/* Two ts_aggregate calls (hourly for the window, daily rollups for the baseline). */
static int store_spike(struct ts_store *st, const struct dataset *d, const struct spike_win *w,
                       struct spike_out *o, char *err, size_t errlen)
{
    static const char *const by[] = {"provider", "project"};
    struct ts_agg_query q = {.metric = "est_cost_usd", .group_by = by, .n_group_by = 2};
    struct ts_agg_result cur = {0}, base = {0};
    int rc = -1;
    memset(o->cur, 0, d->n_projects * sizeof *o->cur);
    memset(o->days, 0, d->n_projects * SPIKE_DAYS * sizeof *o->days);
    q.from = w->c0;
    q.to = w->c1;
    q.step = TU_HOUR;
    if (ts_aggregate(st, &q, &cur, err, errlen) != 0)
        goto out;
    q.from = w->b0;
    q.to = w->b1;
    q.step = TU_DAY;
    if (ts_aggregate(st, &q, &base, err, errlen) != 0)
        goto out;
    for (size_t g = 0; g < cur.n_groups; g++) {
        int p = project_of(glabel(&cur.groups[g], "project"));
        for (size_t i = 0; p >= 0 && (size_t)p < d->n_projects && i < cur.groups[g].n_points; i++)
            o->cur[p] += cur.groups[g].values[i];
    }
    for (size_t g = 0; g < base.n_groups; g++) {
        const struct ts_agg_group *gr = &base.groups[g];
        int p = project_of(glabel(gr, "project"));
        for (size_t i = 0; p >= 0 && (size_t)p < d->n_projects && i < gr->n_points; i++) {
            int64_t k = (gr->times[i] - w->b0) / TU_DAY;
            if (k >= 0 && k < SPIKE_DAYS)
                o->days[(size_t)p * SPIKE_DAYS + (size_t)k] += gr->values[i];
        }
    }
    o->groups = cur.n_groups;
    spike_finish(d, o);
    rc = 0;
out:
    ts_agg_free(&cur);
    ts_agg_free(&base);
    return rc;
}

/*
 * The est_cost_usd series of the dataset for the hours [from, to) in SQLite:
 * WAL, points(series_id, ts, value) keyed (series_id, ts) WITHOUT ROWID (the
 * (series, t) index is the table), series labels in their own table.
 */
static int sqlite_build(const struct dataset *d, const char *dir, int64_t from, int64_t to,
                        sqlite3 **out, uint64_t *rows)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *ser = NULL, *ins = NULL;
    int rc = -1;
    *rows = 0;
    if (bench_sql_open(dir, &db) != 0)
        return -1;
    if (bench_sql_exec(db,
                       "CREATE TABLE series(id INTEGER PRIMARY KEY, provider TEXT, account TEXT, "
                       "project TEXT, api_key_id TEXT, model TEXT)") ||
        bench_sql_exec(db, "CREATE TABLE points(series_id INTEGER NOT NULL, ts INTEGER NOT NULL, "
                           "value REAL NOT NULL, PRIMARY KEY(series_id, ts)) WITHOUT ROWID") ||
        sqlite3_prepare_v2(db, "INSERT INTO series VALUES(?1, ?2, ?3, ?4, ?5, ?6)", -1, &ser,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO points VALUES(?1, ?2, ?3)", -1, &ins, NULL) !=
            SQLITE_OK ||
        bench_sql_exec(db, "BEGIN"))
        goto fail;
    for (size_t c = 0; c < d->n_combos; c++) {
        const struct combo *k = &d->combos[c];
        const struct key *key = &d->keys[k->key];
        const struct provider *p = &PROVS[key->prov];
        sqlite3_bind_int64(ser, 1, (sqlite3_int64)c + 1);
        sqlite3_bind_text(ser, 2, p->type, -1, SQLITE_STATIC);
        sqlite3_bind_text(ser, 3, p->account, -1, SQLITE_STATIC);
        sqlite3_bind_text(ser, 4, d->projects[key->project], -1, SQLITE_STATIC);
        sqlite3_bind_text(ser, 5, key->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ser, 6, p->models[k->model], -1, SQLITE_STATIC);
        if (sqlite3_step(ser) != SQLITE_DONE)
            goto fail;
        sqlite3_reset(ser);
        for (int64_t t = from; t < to; t += TU_HOUR) {
            struct usage u;
            gen_usage(d, c, t, pattern(t), &u);
            sqlite3_bind_int64(ins, 1, (sqlite3_int64)c + 1);
            sqlite3_bind_int64(ins, 2, t);
            sqlite3_bind_double(ins, 3, u.v[3]);
            if (sqlite3_step(ins) != SQLITE_DONE)
                goto fail;
            sqlite3_reset(ins);
            ++*rows;
        }
        if (c % 64 == 63 && (bench_sql_exec(db, "COMMIT") || bench_sql_exec(db, "BEGIN")))
            goto fail;
    }
    if (bench_sql_exec(db, "COMMIT") || bench_sql_settle(db))
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

static const char SQL_SPIKE[] =
    "SELECT s.provider, s.project, CASE WHEN p.ts >= ?3 THEN -1 ELSE p.ts / 86400 END AS day, "
    "SUM(p.value) FROM series s JOIN points p ON p.series_id = s.id "
    "WHERE p.ts >= ?1 AND p.ts < ?4 AND (p.ts < ?2 OR p.ts >= ?3) "
    "GROUP BY s.provider, s.project, day";

/* One GROUP BY query (window and baseline days per provider, project), the median in C. */
static int sqlite_spike(sqlite3 *db, const struct dataset *d, const struct spike_win *w,
                        struct spike_out *o)
{
    sqlite3_stmt *q = NULL;
    int rc = -1, step, last = -2;
    memset(o->cur, 0, d->n_projects * sizeof *o->cur);
    memset(o->days, 0, d->n_projects * SPIKE_DAYS * sizeof *o->days);
    o->groups = 0;
    if (sqlite3_prepare_v2(db, SQL_SPIKE, -1, &q, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(q, 1, w->b0);
    sqlite3_bind_int64(q, 2, w->b1);
    sqlite3_bind_int64(q, 3, w->c0);
    sqlite3_bind_int64(q, 4, w->c1);
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
        int p = project_of((const char *)sqlite3_column_text(q, 1));
        sqlite3_int64 day = sqlite3_column_int64(q, 2);
        double v = sqlite3_column_double(q, 3);
        if (p < 0 || (size_t)p >= d->n_projects)
            continue;
        if (p != last) {
            o->groups++;
            last = p;
        }
        if (day < 0) {
            o->cur[p] += v;
        } else {
            int64_t k = (day * TU_DAY - w->b0) / TU_DAY;
            if (k >= 0 && k < SPIKE_DAYS)
                o->days[(size_t)p * SPIKE_DAYS + (size_t)k] += v;
        }
    }
    if (step != SQLITE_DONE)
        goto out;
    spike_finish(d, o);
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "sqlite: spike query: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(q);
    return rc;
}

static void sqlite_print_plan(sqlite3 *db)
{
    sqlite3_stmt *q = NULL;
    char sql[1024];
    snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", SQL_SPIKE);
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return;
    printf("  sqlite plan:");
    while (sqlite3_step(q) == SQLITE_ROW)
        printf(" [%s]", (const char *)sqlite3_column_text(q, 3));
    printf("\n");
    sqlite3_finalize(q);
}

static int close_enough(double a, double b)
{
    return fabs(a - b) <= REL_TOL * fmax(fabs(a), fabs(b)) + 1e-9;
}

/* ---- the report ---------------------------------------------------------------- */

static const char *met(int ok)
{
    return ok ? "MET" : "NOT MET";
}

struct rule_row {
    const char *name, *type;
    double med, max, *ms; /* ms: one per new hour */
    size_t conditions;    /* at the last hour */
};

static int cmp_rule_row(const void *a, const void *b)
{
    const struct rule_row *x = a, *y = b;
    return (x->med < y->med) - (x->med > y->med);
}

/* ---- main ----------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_rules [--series N] [--days D] [--short-days S] [--hours H]\n"
            "                   [--rounds R] [--dir DIR] [--keep] [--quick]\n"
            "  --series N      hourly series (default 5000; a multiple of %ld, at least %ld)\n"
            "  --days D        history of the main store in days (default 90)\n"
            "  --short-days S  history of the second store of the memory check (default 30)\n"
            "  --hours H       new hours analysed and timed (default 24: through a UTC midnight)\n"
            "  --rounds R      child analyses per store for the memory check (default 3)\n"
            "  --dir DIR       where to put the stores (default a new /tmp/bw-bench-rules.XXXXXX)\n"
            "  --keep          leave them on disk\n"
            "  --quick         1000 series, 30 and 20 days, 5 hours, 1 round: a smoke run\n",
            SERIES_UNIT, 6 * SERIES_UNIT);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    long series = 0, days = 0, short_days = 0, hours = 0, rounds = 0;
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
            if (bench_parse_num(v, 6 * SERIES_UNIT, 1000000, &series) || series % SERIES_UNIT)
                goto bad;
            i++;
        } else if (v && !strcmp(a, "--days")) {
            if (bench_parse_num(v, SPIKE_DAYS + 2, 390, &days))
                goto bad;
            i++;
        } else if (v && !strcmp(a, "--short-days")) {
            if (bench_parse_num(v, SPIKE_DAYS + 2, 390, &short_days))
                goto bad;
            i++;
        } else if (v && !strcmp(a, "--hours")) {
            if (bench_parse_num(v, 1, 24L * 14, &hours))
                goto bad;
            i++;
        } else if (v && !strcmp(a, "--rounds")) {
            if (bench_parse_num(v, 1, 99, &rounds))
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
    o->short_days = short_days ? (int)short_days : o->quick ? 20 : 30;
    o->hours = hours ? (int)hours : o->quick ? 5 : 24;
    o->rounds = rounds ? (int)rounds : o->quick ? 1 : 3;
    return 0;
bad:
    fprintf(stderr, "bench_rules: bad or incomplete argument '%s'\n", a ? a : "");
    usage(stderr);
    return -1;
}

/* Builds the two stores and compares one analysis over each in child processes. */
struct mem_result {
    int days;
    struct build_info bi;
    double ms, delta_kb, rss_kb;
    size_t conditions, failed;
    int reset_ok;
};

static int memory_check(const struct opts *o, const struct dataset *d, const char *cfg_path,
                        const char *dirs[2], struct mem_result mr[2])
{
    char err[1024] = "";
    int days[2] = {o->short_days, o->days};
    double *ms = calloc((size_t)o->rounds * 2, sizeof *ms);
    double *kb = calloc((size_t)o->rounds * 2, sizeof *kb);
    int rc = -1;
    if (!ms || !kb)
        goto out;
    for (int i = 0; i < 2; i++) {
        mr[i].days = days[i];
        printf("building the %d-day store ...\n", days[i]);
        fflush(stdout);
        if (build_store(d, dirs[i], days[i], &mr[i].bi, err, sizeof err) != 0) {
            fprintf(stderr, "bench_rules: building %s: %s\n", dirs[i], err);
            goto out;
        }
        printf("  %" PRIu64 " points (plus %zu days of audit logins, meta keys) in %.1f s; "
               "%.1f MB on disk\n",
               mr[i].bi.points, (size_t)days[i], mr[i].bi.seconds,
               (double)mr[i].bi.disk_bytes / 1e6);
    }
    int64_t now = d->t0 + TU_HOUR + 300;
    for (int r = 0; r < o->rounds; r++) {
        for (int i = 0; i < 2; i++) {
            struct child_result cr;
            if (run_child(dirs[i], cfg_path, now, &cr) != 0) {
                fprintf(stderr, "bench_rules: the analysis child over %s failed\n", dirs[i]);
                goto out;
            }
            ms[(size_t)(i * o->rounds + r)] = cr.ms;
            kb[(size_t)(i * o->rounds + r)] = (double)(cr.hwm1_kb - cr.rss_kb);
            mr[i].rss_kb = (double)cr.rss_kb;
            mr[i].conditions = cr.conditions;
            mr[i].failed += cr.failed;
            mr[i].reset_ok = cr.reset_ok;
            printf("  round %d, %3d days: analysis %.1f ms, RSS before %ld kB, peak increase "
                   "%ld kB, %zu conditions\n",
                   r + 1, days[i], cr.ms, cr.rss_kb, cr.hwm1_kb - cr.rss_kb, cr.conditions);
        }
    }
    for (int i = 0; i < 2; i++) {
        mr[i].ms = median_of(ms + (size_t)i * (size_t)o->rounds, (size_t)o->rounds);
        mr[i].delta_kb = median_of(kb + (size_t)i * (size_t)o->rounds, (size_t)o->rounds);
    }
    rc = 0;
out:
    free(ms);
    free(kb);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--child") == 0)
        return child_main(argc, argv);

    struct opts o;
    struct dataset d;
    struct config *cfg = NULL;
    struct ana_engine *eng = NULL, *one[MAX_RULES] = {0};
    struct config sub[MAX_RULES];
    struct store s = {0};
    struct ts_batch *b = NULL;
    sqlite3 *db = NULL;
    struct rule_row rows[MAX_RULES];
    struct run *runs = NULL;
    double *hour_ms = NULL, *rule_ms = NULL, warm_ms = NAN;
    struct spike_out so = {0}, qo = {0};
    char base[4096] = "", dir_short[4096] = "", dir_long[4096] = "", dir_sql[4096] = "";
    char cfg_path[4096] = "";
    char err[1024] = "";
    int made_base = 0, rc = 2, made[3] = {0};
    size_t n_rules = 0, spike_rule = SIZE_MAX;

    int pr = parse_args(argc, argv, &o);
    if (pr != 0)
        return pr > 0 ? 0 : 2;
    double load0 = loadavg();
    log_set_level(LOG_WARN);
    memset(rows, 0, sizeof rows);
    if (dataset_init(&d, o.series) != 0) {
        fprintf(stderr, "bench_rules: out of memory\n");
        goto out;
    }
    if (o.dir) {
        if (snprintf(base, sizeof base, "%s", o.dir) >= (int)sizeof base)
            goto out;
        if (!path_exists(base)) {
            if (mkdir(base, 0755) != 0) {
                fprintf(stderr, "bench_rules: mkdir %s: %s\n", base, strerror(errno));
                goto out;
            }
            made_base = 1;
        }
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(base, sizeof base, "%s/bw-bench-rules.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(base)) {
            fprintf(stderr, "bench_rules: mkdtemp: %s\n", strerror(errno));
            goto out;
        }
        made_base = 1;
    }
    char name[32];
    snprintf(name, sizeof name, "store-%dd", o.short_days);
    if (join_path(dir_short, sizeof dir_short, base, name) != 0)
        goto out;
    snprintf(name, sizeof name, "store-%dd", o.days);
    if (o.days == o.short_days)
        snprintf(name, sizeof name, "store-%dd-b", o.days);
    if (join_path(dir_long, sizeof dir_long, base, name) != 0 ||
        join_path(dir_sql, sizeof dir_sql, base, "sqlite") != 0 ||
        join_path(cfg_path, sizeof cfg_path, base, "byokwatch.json") != 0)
        goto out;
    if (path_exists(dir_short) || path_exists(dir_long) || path_exists(dir_sql)) {
        fprintf(stderr, "bench_rules: %s already holds a run; pick an empty --dir\n", base);
        goto out;
    }
    setenv(PROVS[0].env, "sk-admin-bench-not-a-real-key-0000", 1);
    setenv(PROVS[1].env, "sk-ant-admin01-bench-not-a-real-key-0000", 1);
    if (write_config(&d, cfg_path, dir_long) != 0 || cfg_load(cfg_path, &cfg, err, sizeof err)) {
        fprintf(stderr, "bench_rules: config: %s\n", err);
        goto out;
    }

    char f[32], t[32];
    printf("bench_rules: %zu hourly series (%zu API keys x %d models x 4 metrics: input_tokens, "
           "output_tokens, requests, est_cost_usd)\n"
           "  + %zu daily cost_usd series (project x model, billed per closed day; not counted in "
           "the %zu)\n"
           "  labels provider (2), account (%s, %s), project (%zu), api_key_id (%zu), model (%d "
           "per provider)\n"
           "  audit: ~%d logins + ~%d failures a day; meta: inventory of %zu keys, first-seen "
           "keys, source health\n"
           "  %zu rules (every type; spend_spike twice); first new hour %s; sqlite %s; %ld CPUs "
           "(load average %.2f); dir %s%s\n",
           d.n_series, d.n_keys, MODELS_PER_KEY, d.n_cost, d.n_series, PROVS[0].account,
           PROVS[1].account, d.n_projects, d.n_keys, MODELS_PER_PROVIDER, LOGINS_PER_DAY,
           FAILED_PER_DAY, d.n_keys - 1, cfg->n_rules, tu_format_time(d.t0, f, sizeof f),
           sqlite3_libversion(), sysconf(_SC_NPROCESSORS_ONLN), load0, base,
           o.keep ? " (kept)" : "");
    if (cfg->n_rules > MAX_RULES)
        goto out;

    /* ---- memory: the same analysis over a short and a long history ---- */
    printf("\nmemory: one analysis (%s) per child process over %d and %d days of history\n",
           tu_format_time(d.t0 + TU_HOUR + 300, t, sizeof t), o.short_days, o.days);
    const char *dirs[2] = {dir_short, dir_long};
    struct mem_result mr[2];
    memset(mr, 0, sizeof mr);
    made[0] = made[1] = 1;
    if (memory_check(&o, &d, cfg_path, dirs, mr) != 0)
        goto out;

    /* ---- consecutive new hours on the long store ---- */
    g_clock = d.t0 + TU_HOUR + 300;
    if (store_open(&s, &d, dir_long, 0, err, sizeof err) != 0 ||
        ana_engine_new(cfg, &eng, err, sizeof err) != 0) {
        fprintf(stderr, "bench_rules: %s\n", err);
        goto out;
    }
    n_rules = cfg->n_rules;
    for (size_t i = 0; i < n_rules; i++) {
        /* an engine holding rule i alone: the config with just that rule */
        sub[i] = *cfg;
        sub[i].rules = &cfg->rules[i];
        sub[i].n_rules = 1;
        if (ana_engine_new(&sub[i], &one[i], err, sizeof err) != 0) {
            fprintf(stderr, "bench_rules: %s\n", err);
            goto out;
        }
        rows[i].name = cfg->rules[i].name;
        rows[i].type = cfg->rules[i].type;
        if (strcmp(cfg->rules[i].name, "daily-spend-spike") == 0)
            spike_rule = i;
    }
    b = ts_batch_new();
    runs = calloc((size_t)o.hours, sizeof *runs);
    hour_ms = calloc((size_t)o.hours, sizeof *hour_ms);
    rule_ms = calloc((size_t)o.hours * n_rules + 1, sizeof *rule_ms);
    so.cur = calloc(d.n_projects, sizeof *so.cur);
    so.med = calloc(d.n_projects, sizeof *so.med);
    so.days = calloc(d.n_projects * SPIKE_DAYS, sizeof *so.days);
    qo.cur = calloc(d.n_projects, sizeof *qo.cur);
    qo.med = calloc(d.n_projects, sizeof *qo.med);
    qo.days = calloc(d.n_projects * SPIKE_DAYS, sizeof *qo.days);
    if (!b || !runs || !hour_ms || !rule_ms || !so.cur || !so.med || !so.days || !qo.cur ||
        !qo.med || !qo.days) {
        fprintf(stderr, "bench_rules: out of memory\n");
        goto out;
    }
    printf("\nnew hours on the %d-day store: write one hour of all %zu hourly series (one "
           "ts_write, like a poll),\n"
           "then the analysis (ana_engine_evaluate + alert_apply + ts_write of its batch) at 5 "
           "minutes past the hour;\n"
           "then each rule alone (an engine from the config holding just that rule), evaluate "
           "only\n",
           o.days, d.n_series);
    printf("  %-20s %8s %8s %8s %9s %8s %8s %6s %6s %6s %6s\n", "analysis at", "write_ms",
           "eval_ms", "apply_ms", "awrite_ms", "total_ms", "cpu_ms", "conds", "firing", "fired",
           "resolv");
    struct ts_batch *scratch = ts_batch_new();
    if (!scratch)
        goto out;
    /* like the service at start-up: warm each engine before the first new hour */
    g_clock = d.t0 + TU_HOUR + 300;
    double wm0 = now_ms();
    if (ana_engine_warm(eng, s.st, g_clock, err, sizeof err) != 0) {
        fprintf(stderr, "bench_rules: warming: %s\n", err);
        ts_batch_free(scratch);
        goto out;
    }
    warm_ms = now_ms() - wm0;
    for (size_t i = 0; i < n_rules; i++) {
        if (ana_engine_warm(one[i], s.st, g_clock, err, sizeof err) != 0) {
            fprintf(stderr, "bench_rules: warming %s: %s\n", rows[i].name, err);
            ts_batch_free(scratch);
            goto out;
        }
    }
    printf("  %-20s %8s %8.1f   (ana_engine_warm at start-up: reads the rules' windows once)\n",
           tu_format_time(g_clock, t, sizeof t), "", warm_ms);
    int64_t now = 0;
    for (int h = 0; h < o.hours; h++) {
        int64_t bucket = d.t0 + (int64_t)(h + 1) * TU_HOUR;
        struct ana_changes ch;
        now = bucket + TU_HOUR + 300;
        g_clock = now;
        double w0 = now_ms();
        if (write_hour(&s, &d, b, bucket, 12 + h, &ch, err, sizeof err) != 0) {
            fprintf(stderr, "bench_rules: writing an hour: %s\n", err);
            ts_batch_free(scratch);
            goto out;
        }
        hour_ms[h] = now_ms() - w0;
        if (analyse(eng, s.st, now, &ch, &runs[h], err, sizeof err) != 0) {
            fprintf(stderr, "bench_rules: analysis: %s\n", err);
            ts_batch_free(scratch);
            goto out;
        }
        const struct run *r = &runs[h];
        printf("  %-20s %8.1f %8.1f %8.1f %9.1f %8.1f %8.1f %6zu %6zu %6zu %6zu%s\n",
               tu_format_time(now, t, sizeof t), hour_ms[h], r->eval_ms, r->apply_ms, r->write_ms,
               r->total_ms, r->cpu_ms, r->conditions, r->as.firing + r->as.fired, r->as.fired,
               r->as.resolved, r->failed ? "  (a rule FAILED)" : "");
        fflush(stdout);
        for (size_t i = 0; i < n_rules; i++) {
            const struct ana_rule_result *res;
            size_t n;
            ts_batch_clear(scratch);
            double t0 = now_ms();
            if (ana_engine_evaluate(one[i], s.st, now, &ch, scratch, &res, &n, err, sizeof err)) {
                fprintf(stderr, "bench_rules: rule %s: %s\n", rows[i].name, err);
                ts_batch_free(scratch);
                goto out;
            }
            rule_ms[i * (size_t)o.hours + (size_t)h] = now_ms() - t0;
            rows[i].conditions = n ? res[0].res.n : 0;
        }
    }
    ts_batch_free(scratch);

    /* ---- the spend-spike computation: the store directly, the rule, SQLite ---- */
    struct spike_win w = spike_windows(tu_floor(now, TU_HOUR));
    uint64_t sql_rows = 0;
    printf("\nspend spike at %s: 1d window spend and median of the %d previous daily windows per "
           "(provider, project)\n",
           tu_format_time(now, t, sizeof t), SPIKE_DAYS);
    fflush(stdout);
    made[2] = 1;
    double l0 = now_ms();
    if (sqlite_build(&d, dir_sql, d.t0 - (int64_t)o.days * TU_DAY,
                     d.t0 + (int64_t)(o.hours + 1) * TU_HOUR, &db, &sql_rows) != 0)
        goto out;
    printf("  sqlite: %" PRIu64 " est_cost_usd rows (%zu series, the store's %d days + %d new "
           "hours) loaded in %.1f s\n",
           sql_rows, d.n_combos, o.days, o.hours + 1, (now_ms() - l0) / 1e3);
    sqlite_print_plan(db);
    double st_ms[COMPARE_REPEATS], sq_ms[COMPARE_REPEATS], rule_cmp_ms[COMPARE_REPEATS];
    for (int i = 0; i < COMPARE_REPEATS; i++) {
        double t0 = now_ms();
        if (store_spike(s.st, &d, &w, &so, err, sizeof err) != 0) {
            fprintf(stderr, "bench_rules: store spike: %s\n", err);
            goto out;
        }
        double t1 = now_ms();
        if (sqlite_spike(db, &d, &w, &qo) != 0)
            goto out;
        double t2 = now_ms();
        st_ms[i] = t1 - t0;
        sq_ms[i] = t2 - t1;
        rule_cmp_ms[i] = NAN;
        if (spike_rule != SIZE_MAX) {
            const struct ana_rule_result *res;
            size_t n;
            struct ts_batch *sb = ts_batch_new();
            struct ana_changes ch = {.events_from = INT64_MAX};
            double t3 = now_ms();
            int er = !sb || ana_engine_evaluate(one[spike_rule], s.st, now, &ch, sb, &res, &n, err,
                                                sizeof err) != 0;
            rule_cmp_ms[i] = now_ms() - t3;
            ts_batch_free(sb);
            if (er)
                goto out;
        }
    }
    size_t bad = 0;
    double cur_total = 0, med_total = 0;
    for (size_t p = 0; p < d.n_projects; p++) {
        bad += !close_enough(so.cur[p], qo.cur[p]) || !close_enough(so.med[p], qo.med[p]);
        cur_total += so.cur[p];
        med_total += so.med[p];
    }
    double st_med = median_of(st_ms, COMPARE_REPEATS), sq_med = median_of(sq_ms, COMPARE_REPEATS);
    double rule_med = median_of(rule_cmp_ms, COMPARE_REPEATS);
    printf("  %-58s %9s\n", "median of 5 runs", "ms");
    printf("  %-58s %9.2f\n", "store: ts_aggregate 24 hourly + 14 daily rollups, median in C",
           st_med);
    printf("  %-58s %9.2f\n", "sqlite: one GROUP BY over points JOIN series, median in C", sq_med);
    printf("  %-58s %9.2f\n", "the daily-spend-spike rule, cold (+ billed scaling, causes)",
           rule_med);
    printf("  %zu groups; window spend total $%.2f, baseline medians total $%.2f; store and "
           "sqlite %s\n",
           so.groups, cur_total, med_total,
           bad ? "DISAGREE" : "agree on every group's window spend and median");

    /* ---- per-rule breakdown ---- */
    double rule_sum = 0;
    for (size_t i = 0; i < n_rules; i++) {
        rows[i].ms = rule_ms + i * (size_t)o.hours;
        rows[i].med = median_of(rows[i].ms, (size_t)o.hours);
        rows[i].max = max_of(rows[i].ms, (size_t)o.hours);
        rule_sum += rows[i].med;
    }
    qsort(rows, n_rules, sizeof *rows, cmp_rule_row);
    printf("\nper rule (each alone, evaluate only, over the %d new hours; slowest first)\n",
           o.hours);
    printf("  %-24s %-18s %9s %9s %7s %6s\n", "rule", "type", "med_ms", "max_ms", "share", "conds");
    for (size_t i = 0; i < n_rules; i++)
        printf("  %-24s %-18s %9.2f %9.2f %6.1f%% %6zu\n", rows[i].name, rows[i].type, rows[i].med,
               rows[i].max, 100.0 * rows[i].med / rule_sum, rows[i].conditions);
    printf("  %-24s %-18s %9.2f\n", "sum of medians", "", rule_sum);

    /* ---- summary ---- */
    double tot[512], ev[512], ap[512], aw[512], cpu[512];
    size_t nh = (size_t)o.hours < 512 ? (size_t)o.hours : 512, failed = 0;
    for (size_t h = 0; h < nh; h++) {
        tot[h] = runs[h].total_ms;
        ev[h] = runs[h].eval_ms;
        ap[h] = runs[h].apply_ms;
        aw[h] = runs[h].write_ms;
        cpu[h] = runs[h].cpu_ms;
        failed += runs[h].failed;
    }
    double med = median_of(tot, nh), mx = max_of(tot, nh);
    double mem_ratio = mr[0].delta_kb > 0 ? mr[1].delta_kb / mr[0].delta_kb : NAN;
    double time_ratio = mr[1].ms / mr[0].ms;
    printf("\nsummary (%zu hourly series, %d days of history, %d new hours)\n", d.n_series, o.days,
           o.hours);
    printf("  analysis per new hour: median %.1f ms (evaluate %.1f, alert_apply %.1f, ts_write "
           "%.1f), max %.1f ms;\n  its CPU time (all threads) median %.1f ms; load average %.2f "
           "before the run, %.2f after\n",
           med, median_of(ev, nh), median_of(ap, nh), median_of(aw, nh), mx, median_of(cpu, nh),
           load0, loadavg());
    printf("  start-up warm-up (ana_engine_warm, once per start or reload; a cold read of the "
           "rules' windows): %.1f ms\n",
           warm_ms);
    printf("  writing the hour itself (%zu samples + events, one ts_write): median %.1f ms\n",
           d.n_series, median_of(hour_ms, nh));
    printf("  memory, one analysis in a child (median of %d): %d days %.0f kB peak increase, "
           "%.1f ms; %d days %.0f kB, %.1f ms%s\n",
           o.rounds, mr[0].days, mr[0].delta_kb, mr[0].ms, mr[1].days, mr[1].delta_kb, mr[1].ms,
           mr[0].reset_ok && mr[1].reset_ok ? "" : " (VmHWM could not be reset: upper bound)");
    printf("  spend spike: sqlite %.2f ms, store %.2f ms, rule %.2f ms\n", sq_med, st_med,
           rule_med);
    printf("\ntargets\n");
    printf("  target all rules after one new hour <= %.0f ms (median of %d) : %7.1f ms  %s\n",
           TARGET_MS, o.hours, med, met(med <= TARGET_MS));
    printf("  target all rules after one new hour <= %.0f ms (max of %d)    : %7.1f ms  %s\n",
           TARGET_MS, o.hours, mx, met(mx <= TARGET_MS));
    printf("  target memory independent of history: peak %dd/%dd <= %.2f : %7.2fx    %s\n", o.days,
           o.short_days, TARGET_MEM_RATIO, mem_ratio,
           met(mem_ratio <= TARGET_MEM_RATIO && !isnan(mem_ratio)));
    printf("  (analysis time %dd/%dd, for information)                    : %7.2fx\n", o.days,
           o.short_days, time_ratio);
    printf("  spend spike vs SQLite: sqlite_ms/store_ms %.2fx, sqlite_ms/rule_ms %.2fx\n",
           sq_med / st_med, sq_med / rule_med);
    if (d.n_series != 5000)
        printf("  (%zu series, not the issue's 5,000: the verdicts are indicative only)\n",
               d.n_series);
    if (failed || mr[0].failed || mr[1].failed)
        printf("\n!!! %zu rule evaluations failed (see the log above)\n",
               failed + mr[0].failed + mr[1].failed);
    rc = bad || failed || mr[0].failed || mr[1].failed ? 1 : 0;
out:
    if (db)
        sqlite3_close(db);
    ts_batch_free(b);
    for (size_t i = 0; i < MAX_RULES; i++)
        ana_engine_free(one[i]);
    ana_engine_free(eng);
    store_close(&s);
    cfg_free(cfg);
    free(runs);
    free(hour_ms);
    free(rule_ms);
    free(so.cur);
    free(so.med);
    free(so.days);
    free(qo.cur);
    free(qo.med);
    free(qo.days);
    if (!o.keep && base[0]) {
        const char *paths[3] = {dir_short, dir_long, dir_sql};
        for (int i = 0; i < 3; i++)
            if (made[i] && rm_tree(paths[i]) != 0)
                fprintf(stderr, "bench_rules: could not remove %s\n", paths[i]);
        if (cfg_path[0] && path_exists(cfg_path))
            unlink(cfg_path);
        if (made_base && rmdir(base) != 0)
            fprintf(stderr, "bench_rules: could not remove %s\n", base);
    }
    dataset_free(&d);
    return rc;
}
