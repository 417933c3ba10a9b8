/*
 * The simulator's world: accounts (projects/workspaces, keys, usage series),
 * the precomputed hourly usage grid, the simulator's own price table, daily
 * billed cost cells (with restatements) and the /_sim/truth sums. All data
 * is a pure function of (seed, series, hour); "now" only decides what is
 * visible. Anomalies of the demo scenario are anchored to the --now given at
 * start (the anchor), so moving "now" later shows them in the past.
 */
#ifndef BW_SIMDATA_H
#define BW_SIMDATA_H

#include <stddef.h>
#include <stdint.h>

/* 64-bit so that products with them never overflow int. */
#define SIM_HOUR ((int64_t)3600)
#define SIM_DAY ((int64_t)86400)

enum sim_provider { SIM_OPENAI = 0, SIM_ANTHROPIC = 1 };
enum sim_kind { SIM_KIND_CHAT = 0, SIM_KIND_EMBED = 1 };

/* Billed lines of a usage cell; prices are per token (per request for WEB). */
enum sim_line {
    SIM_L_UNCACHED = 0, /* uncached input (OpenAI: input - cached) */
    SIM_L_CACHED,       /* cache reads */
    SIM_L_CW5M,         /* cache writes, 5 minute TTL (Anthropic) */
    SIM_L_CW1H,         /* cache writes, 1 hour TTL (Anthropic) */
    SIM_L_OUTPUT,
    SIM_L_WEB, /* web search requests (Anthropic) */
    SIM_L_COUNT
};

struct sim_model {
    const char *id;
    const char *display; /* Anthropic cost descriptions */
    enum sim_provider provider;
    enum sim_kind kind;
    int64_t price[SIM_L_COUNT]; /* nano-dollars per token / per web request; 0 = none */
};

extern const struct sim_model sim_models[];
extern const size_t sim_n_models;

/* Users (owners of keys, audit actors); ids differ per provider. */
struct sim_user {
    const char *openai_id;
    const char *anthropic_id;
    const char *email;
    const char *name;
    int geo;        /* home location, index into sim_geos */
    int login_hour; /* usual UTC login hour */
    int weekdays;   /* 1 = logs in Monday to Friday only */
    const char *ua;
};
extern const struct sim_user sim_users[];
extern const size_t sim_n_users;

/* IP geolocation as OpenAI's audit example shows it (all strings). */
struct sim_geo {
    const char *ip, *country, *city, *region, *region_code, *asn, *lat, *lon;
};
extern const struct sim_geo sim_geos[];
extern const size_t sim_n_geos;

struct sim_project {
    char id[48];
    char name[48];
    int64_t created_at;
    int64_t archived_at; /* 0 = active */
};

struct sim_key {
    char id[64];
    char name[64];
    int project; /* index; -1 = Anthropic default workspace */
    int user;    /* owner; -1 = service account */
    char sa_id[48];
    char sa_name[48];
    char hint[8]; /* last characters shown in redacted values */
    int64_t created_at;
    int archived; /* Anthropic status "archived" */
};

struct sim_series {
    int project;                        /* -1 = default workspace */
    int key;                            /* -1 = no key (Anthropic Workbench) */
    int model;                          /* index into sim_models */
    int user;                           /* key owner or -1 */
    double rate;                        /* requests per hour at the daily peak on a weekday */
    double unc, read, w5, w1, out, web; /* per request */
    int flat;                           /* service account: flatter day/week shape */
    int64_t from, to;                   /* usage window [from, to) */
    int64_t spike_from, spike_to, spike_mult;
    uint64_t hash;
};

/* One series-hour. Counts fit 32 bits at the volumes generated. */
struct sim_cell {
    uint32_t req, unc, read, w5, w1, out, web, pad;
};

struct sim_sum {
    int64_t req, unc, read, w5, w1, out, web;
};

struct sim_restate {
    int64_t day;
    double factor;
};

struct sim_event;

struct sim_account {
    enum sim_provider provider;
    char *api_key; /* owned */
    uint64_t seed;
    int64_t data_start; /* first data hour, a UTC midnight */
    struct sim_project *projects;
    size_t n_projects;
    struct sim_key *keys;
    size_t n_keys;
    struct sim_series *series;
    size_t n_series;
    struct sim_cell *grid; /* grid[i * n_series + s], hour = data_start + i * 3600 */
    size_t grid_hours;
    struct sim_event *events; /* audit log, ascending time (OpenAI only) */
    size_t n_events;
    struct sim_restate *restates;
    size_t n_restates;
};

struct sim_opts {
    int64_t now;
    uint64_t seed;
    int days;
    int scale;
    int demo;
    int accounts;
    const char *openai_key;
    const char *anthropic_key;
};

struct sim_world {
    int64_t now;    /* moves with POST /_sim/now */
    int64_t anchor; /* the --now given at start */
    struct sim_opts opts;
    struct sim_account *openai; /* [0] primary, [1 + i] is /acct/<i>/ */
    size_t n_openai;
    struct sim_account anthropic;
};

/*
 * Builds every account and its grid up to the hour containing now (plus a
 * margin). 0 ok; -1 with a message in err. sim_world_free releases all of it
 * (also after a failed init).
 */
int sim_world_init(struct sim_world *w, const struct sim_opts *o, char *err, size_t errlen);
void sim_world_free(struct sim_world *w);

/* Moves "now", extending grids as needed. 0 ok, -1 out of memory. */
int sim_world_set_now(struct sim_world *w, int64_t now);

/*
 * End of visible data: the start of the hour containing now. An hour h has
 * data iff data_start <= h < sim_hour_limit (the hour is complete).
 */
int64_t sim_hour_limit(const struct sim_world *w);

/* Adds series s's cells over the hours h in [from, to) that have data (h < hl). */
void sim_sum_series(const struct sim_account *a, size_t s, int64_t from, int64_t to, int64_t hl,
                    struct sim_sum *out);

/* Token (or request) count of one billed line in a sum. */
int64_t sim_line_qty(const struct sim_sum *sum, enum sim_line l);

/* The restatement factor of a day (1.0 when none). */
double sim_restate_factor(const struct sim_account *a, int64_t day);

/*
 * Billed micro-dollars of one line of series s for a day whose token sums are
 * day_sum: round(qty * price / 1000), then round(that * factor).
 */
int64_t sim_cost_micro(const struct sim_series *s, enum sim_line l, const struct sim_sum *day_sum,
                       double factor);

/* Sets a day's restatement factor (replacing an earlier one). 0 ok, -1 OOM. */
int sim_restate_set(struct sim_account *a, int64_t day, double factor);

/* Last usage of a key in complete hours before hl (mid-hour), or -1 if never. */
int64_t sim_key_last_used(const struct sim_account *a, size_t key, int64_t hl);

/* Filters for sim_truth; NULL fields match everything. */
struct sim_truth_query {
    const char *metric;
    int64_t from, to;
    const char *project; /* "default" = Anthropic default workspace */
    const char *api_key_id;
    const char *model;
    const char *kind; /* "completions" / "embeddings" (OpenAI), "messages" (Anthropic) */
};

/*
 * Exact sum of a metric over the served data: usage metrics over hours h with
 * from <= h < to; cost_usd over days d with from <= d < to (a day's cost
 * covers its complete hours before now). *value is a count, or micro-dollars
 * when *is_money. 0 ok; -1 unknown metric (message in err).
 */
int sim_truth(const struct sim_world *w, const struct sim_account *a,
              const struct sim_truth_query *tq, int64_t *value, int *is_money, char *err,
              size_t errlen);

/* Index of a model id, or -1. */
int sim_model_find(const char *id);

#endif
