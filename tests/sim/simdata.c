/*
 * The simulator's data: account layouts (projects/workspaces, keys, series),
 * the deterministic hourly generator (diurnal and weekday shape, seeded
 * noise, demo anomalies), the hourly grid that caches it, billed cost cells
 * in integer micro-dollars, restatements, and the /_sim/truth sums, which
 * read exactly the cells the API handlers serve.
 */
#include "simdata.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/timeutil.h"
#include "simaudit.h"

/* Prices in nano-dollars per token ($/Mtok x 1000); web search per request. */
const struct sim_model sim_models[] = {
    {"gpt-4o", "GPT-4o", SIM_OPENAI, SIM_KIND_CHAT, {2500, 1250, 0, 0, 10000, 0}},
    {"gpt-4o-mini", "GPT-4o mini", SIM_OPENAI, SIM_KIND_CHAT, {150, 75, 0, 0, 600, 0}},
    {"text-embedding-3-small",
     "text-embedding-3-small",
     SIM_OPENAI,
     SIM_KIND_EMBED,
     {20, 0, 0, 0, 0, 0}},
    {"o1-pro", "o1-pro", SIM_OPENAI, SIM_KIND_CHAT, {150000, 0, 0, 0, 600000, 0}},
    {"claude-sonnet-4-20250514",
     "Claude Sonnet 4",
     SIM_ANTHROPIC,
     SIM_KIND_CHAT,
     {3000, 300, 3750, 6000, 15000, 10000000}},
    {"claude-3-5-haiku-20241022",
     "Claude Haiku 3.5",
     SIM_ANTHROPIC,
     SIM_KIND_CHAT,
     {800, 80, 1000, 1600, 4000, 10000000}},
};
const size_t sim_n_models = sizeof sim_models / sizeof sim_models[0];

enum { M_GPT4O, M_GPT4O_MINI, M_EMBED, M_O1PRO, M_SONNET, M_HAIKU };
enum { U_ALICE, U_BOB, U_CAROL, U_DAVE };

#define UA_MAC                                                                                     \
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "      \
    "Chrome/126.0.0.0 Safari/537.36"
#define UA_WIN                                                                                     \
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "            \
    "Chrome/125.0.0.0 Safari/537.36"
#define UA_LINUX "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

const struct sim_user sim_users[] = {
    {"user-alice", "user_01Alice", "alice@acme.example", "Alice Nguyen", 2, 8, 1, UA_MAC},
    {"user-bob", "user_01Bob", "bob@acme.example", "Bob Miller", 0, 16, 0, UA_WIN},
    {"user-carol", "user_01Carol", "carol@acme.example", "Carol Smith", 3, 9, 1, UA_MAC},
    {"user-dave", "user_01Dave", "dave@acme.example", "Dave Berg", 4, 7, 1, UA_LINUX},
};
const size_t sim_n_users = sizeof sim_users / sizeof sim_users[0];

/* Locations follow MaxMind's public GeoIP2 test database where it has them. */
const struct sim_geo sim_geos[] = {
    {"216.160.83.56", "US", "Milton", "Washington", "WA", "209", "47.25130", "-122.31490"},
    {"175.16.199.5", "CN", "Changchun", "Jilin Sheng", "22", "4837", "43.88000", "125.32280"},
    {"81.2.69.142", "GB", "London", "England", "ENG", "20712", "51.51420", "-0.09310"},
    {"2.125.160.216", "GB", "Boxford", "England", "ENG", "5607", "51.75000", "-1.25000"},
    {"89.160.20.112", "SE", "Linkoping", "Ostergotland County", "E", "29518", "58.41670",
     "15.61670"},
    {"67.43.156.5", "BT", "Thimphu", "Thimphu", "11", "35908", "27.46670", "89.64170"},
    {"202.196.224.5", "PH", "Quezon City", "Metro Manila", "NCR", "4775", "14.65000", "121.05000"},
    {"175.16.199.77", "CN", "Changchun", "Jilin Sheng", "22", "4837", "43.88000", "125.32280"},
    {"81.2.69.160", "GB", "London", "England", "ENG", "20712", "51.51420", "-0.09310"},
    {"89.160.20.128", "SE", "Linkoping", "Ostergotland County", "E", "29518", "58.41670",
     "15.61670"},
    {"2.125.160.217", "GB", "Boxford", "England", "ENG", "5607", "51.75000", "-1.25000"},
};
const size_t sim_n_geos = sizeof sim_geos / sizeof sim_geos[0];

struct project_def {
    const char *id, *name;
    int created_days, archived_days; /* before the anchor day; 0 = not archived */
};

struct key_def {
    const char *id, *name;
    int project, user;
    const char *sa_id, *sa_name;
    int days_steady, days_demo; /* created this many days before the anchor day */
    int archived;
};

enum anomaly { AN_NONE, AN_SPIKE_24H, AN_ONLY_48H };

struct series_def {
    int key; /* index into the key defs; -1 = no key */
    int project;
    int model;
    int flat;      /* service-account shape: flatter over day and week */
    int demo_only; /* exists only in the demo scenario */
    enum anomaly anomaly;
    double rate, unc, read, w5, w1, out, web; /* requests/h at peak; tokens per request */
};

static const struct project_def oa_projects[] = {
    {"proj_eng", "Engineering", 400, 0},
    {"proj_mkt", "Marketing", 300, 0},
    {"proj_data", "Data Platform", 250, 0},
    {"proj_old", "Legacy Chatbot", 500, 20},
};

enum { K_ENG_CI, K_ENG_DEV, K_ENG_LEGACY, K_MKT_WEB, K_MKT_BOT, K_DATA_ETL, K_DATA_NB, K_OLD };

static const struct key_def oa_keys[] = {
    {"key_eng_ci", "ci-pipeline", 0, -1, "svc_acct_eng_ci", "ci-bot", 75, 75, 0},
    {"key_eng_dev", "alice-dev", 0, U_ALICE, NULL, NULL, 12, 12, 0},
    {"key_eng_legacy", "eng-legacy-batch", 0, U_BOB, NULL, NULL, 60, 200, 0},
    {"key_mkt_web", "web-frontend", 1, -1, "svc_acct_mkt_web", "web-frontend", 85, 85, 0},
    {"key_mkt_bot", "campaign-bot", 1, U_CAROL, NULL, NULL, 25, 25, 0},
    {"key_data_etl", "etl-nightly", 2, -1, "svc_acct_data_etl", "etl", 70, 70, 0},
    {"key_data_nb", "dave-notebooks", 2, U_DAVE, NULL, NULL, 5, 5, 0},
    {"key_old_app", "legacy-chatbot", 3, U_ALICE, NULL, NULL, 80, 80, 0},
};

static const struct series_def oa_series[] = {
    {K_ENG_CI, 0, M_GPT4O_MINI, 1, 0, AN_SPIKE_24H, 400, 900, 300, 0, 0, 250, 0},
    {K_ENG_CI, 0, M_GPT4O, 1, 0, AN_SPIKE_24H, 40, 1800, 700, 0, 0, 500, 0},
    {K_ENG_DEV, 0, M_GPT4O, 0, 0, AN_NONE, 30, 2200, 800, 0, 0, 700, 0},
    {K_ENG_LEGACY, 0, M_GPT4O_MINI, 1, 0, AN_NONE, 20, 1500, 0, 0, 0, 400, 0},
    {K_MKT_WEB, 1, M_GPT4O_MINI, 0, 0, AN_NONE, 250, 700, 200, 0, 0, 300, 0},
    {K_MKT_BOT, 1, M_GPT4O, 0, 0, AN_NONE, 60, 1500, 500, 0, 0, 450, 0},
    {K_MKT_BOT, 1, M_O1PRO, 0, 1, AN_ONLY_48H, 2, 1500, 0, 0, 0, 1500, 0},
    {K_DATA_ETL, 2, M_GPT4O_MINI, 1, 0, AN_NONE, 150, 2500, 0, 0, 0, 200, 0},
    {K_DATA_ETL, 2, M_EMBED, 1, 0, AN_NONE, 800, 500, 0, 0, 0, 0, 0},
    {K_DATA_NB, 2, M_GPT4O, 0, 0, AN_NONE, 15, 4000, 1500, 0, 0, 900, 0},
    {K_DATA_NB, 2, M_EMBED, 0, 0, AN_NONE, 50, 800, 0, 0, 0, 0, 0},
    {K_OLD, 3, M_GPT4O_MINI, 0, 0, AN_NONE, 100, 600, 100, 0, 0, 200, 0},
};

static const struct project_def an_workspaces[] = {
    {"wrkspc_01Eng", "Engineering", 300, 0},
    {"wrkspc_01Mkt", "Marketing", 200, 0},
    {"wrkspc_01Old", "Sandbox", 400, 60},
};

enum { A_ENG_CI, A_ENG_DEV, A_ENG_EVAL, A_MKT_WEB, A_MKT_BOT, A_LEGACY, A_DEF_APP, A_ENG_OLD };

static const struct key_def an_keys[] = {
    {"apikey_01EngCi", "eng-ci", 0, U_ALICE, NULL, NULL, 70, 70, 0},
    {"apikey_01EngDev", "bob-dev", 0, U_BOB, NULL, NULL, 9, 9, 0},
    {"apikey_01EngEval", "eval-harness", 0, U_CAROL, NULL, NULL, 50, 50, 0},
    {"apikey_01MktWeb", "mkt-web", 1, U_CAROL, NULL, NULL, 80, 80, 0},
    {"apikey_01MktBot", "mkt-bot", 1, U_DAVE, NULL, NULL, 20, 20, 0},
    {"apikey_01Legacy", "legacy-integration", -1, U_BOB, NULL, NULL, 45, 150, 0},
    {"apikey_01DefApp", "default-app", -1, U_ALICE, NULL, NULL, 30, 30, 0},
    {"apikey_01EngOld", "old-eng", 0, U_ALICE, NULL, NULL, 120, 120, 1},
};

static const struct series_def an_series[] = {
    {A_ENG_CI, 0, M_SONNET, 1, 0, AN_NONE, 120, 2500, 6000, 600, 150, 700, 0.02},
    {A_ENG_CI, 0, M_HAIKU, 1, 0, AN_NONE, 300, 800, 1200, 100, 0, 200, 0},
    {A_ENG_DEV, 0, M_SONNET, 0, 0, AN_NONE, 25, 3000, 8000, 900, 300, 1200, 0.05},
    {A_ENG_EVAL, 0, M_SONNET, 1, 0, AN_NONE, 60, 4000, 2000, 300, 0, 300, 0},
    {A_ENG_EVAL, 0, M_HAIKU, 1, 0, AN_NONE, 80, 2000, 500, 0, 0, 150, 0},
    {A_MKT_WEB, 1, M_HAIKU, 0, 0, AN_NONE, 200, 600, 900, 150, 0, 250, 0},
    {A_MKT_WEB, 1, M_SONNET, 0, 0, AN_NONE, 30, 1500, 3000, 400, 100, 600, 0.1},
    {A_MKT_BOT, 1, M_HAIKU, 0, 0, AN_NONE, 90, 500, 0, 0, 0, 300, 0},
    {A_LEGACY, -1, M_SONNET, 1, 0, AN_NONE, 10, 2000, 0, 0, 0, 500, 0},
    {A_DEF_APP, -1, M_HAIKU, 0, 0, AN_NONE, 40, 700, 400, 50, 0, 200, 0},
    {A_DEF_APP, -1, M_SONNET, 0, 0, AN_NONE, 15, 1800, 2500, 300, 50, 500, 0.03},
    {-1, -1, M_SONNET, 0, 0, AN_NONE, 3, 2000, 0, 0, 0, 800, 0}, /* Workbench: no key */
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Uniform [0, 1) from (seed, series, hour, salt). */
static double unit(uint64_t seed, uint64_t sh, int64_t hour, unsigned salt)
{
    uint64_t h = mix64(seed ^ mix64(sh ^ mix64((uint64_t)hour ^ ((uint64_t)salt << 56))));
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return tu_floor(a, b) / b;
}

static int64_t ceil_to(int64_t t, int64_t step)
{
    int64_t f = tu_floor(t, step);
    return f == t ? t : f + step;
}

static double diurnal(int hod, int flat)
{
    int d = hod > 15 ? hod - 15 : 15 - hod;
    if (d > 12)
        d = 24 - d;
    double peak = exp(-(double)(d * d) / (2.0 * 4.5 * 4.5));
    return flat ? 0.75 + 0.25 * peak : 0.25 + 0.75 * peak;
}

static double weekly(int64_t day, int flat)
{
    int dow = (int)((day % 7 + 7 + 4) % 7); /* 0 = Sunday; 1970-01-01 was a Thursday */
    if (dow == 6)
        return flat ? 0.85 : 0.45;
    if (dow == 0)
        return flat ? 0.8 : 0.35;
    return 1.0;
}

static uint32_t r32(double x)
{
    if (x <= 0)
        return 0;
    if (x > 4.0e9)
        return 4000000000u;
    return (uint32_t)(x + 0.5);
}

/* The generator: one series-hour as a pure function of (seed, series, hour). */
static void gen_cell(uint64_t seed, const struct sim_series *s, int64_t h, struct sim_cell *c)
{
    memset(c, 0, sizeof *c);
    if (h < s->from || h >= s->to)
        return;
    int64_t day = floor_div(h, SIM_DAY);
    int hod = (int)((h - day * SIM_DAY) / SIM_HOUR);
    double lam = s->rate * diurnal(hod, s->flat) * weekly(day, s->flat) *
                 (0.8 + 0.4 * unit(seed, s->hash, h, 1));
    uint32_t req = (uint32_t)(lam + unit(seed, s->hash, h, 2));
    if (req == 0)
        return;
    c->req = req;
    c->unc = r32(req * s->unc * (0.75 + 0.5 * unit(seed, s->hash, h, 3)));
    c->read = r32(req * s->read * (0.5 + 1.0 * unit(seed, s->hash, h, 4)));
    c->w5 = r32(req * s->w5 * (0.5 + 1.0 * unit(seed, s->hash, h, 5)));
    c->w1 = r32(req * s->w1 * (0.5 + 1.0 * unit(seed, s->hash, h, 6)));
    c->out = r32(req * s->out * (0.7 + 0.6 * unit(seed, s->hash, h, 7)));
    c->web = (uint32_t)(req * s->web + unit(seed, s->hash, h, 8));
    if (h >= s->spike_from && h < s->spike_to) {
        uint32_t m = (uint32_t)s->spike_mult;
        c->req *= m;
        c->unc *= m;
        c->read *= m;
        c->w5 *= m;
        c->w1 *= m;
        c->out *= m;
        c->web *= m;
    }
}

/* Grows a's grid to cover at least hours hours from data_start. */
static int grid_extend(struct sim_account *a, size_t hours)
{
    if (hours <= a->grid_hours)
        return 0;
    if (a->n_series == 0) {
        a->grid_hours = hours;
        return 0;
    }
    struct sim_cell *g = realloc(a->grid, hours * a->n_series * sizeof *g);
    if (!g)
        return -1;
    a->grid = g;
    for (size_t i = a->grid_hours; i < hours; i++) {
        int64_t h = a->data_start + (int64_t)i * SIM_HOUR;
        for (size_t s = 0; s < a->n_series; s++)
            gen_cell(a->seed, &a->series[s], h, &g[i * a->n_series + s]);
    }
    a->grid_hours = hours;
    return 0;
}

static int grid_cover(struct sim_account *a, int64_t hl)
{
    if (hl <= a->data_start)
        return 0;
    size_t need = (size_t)((hl - a->data_start) / SIM_HOUR);
    if (need <= a->grid_hours)
        return 0;
    return grid_extend(a, need + 48); /* margin: small moves of now need no regrowth */
}

static void key_hint(uint64_t h, char *out)
{
    static const char al[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    for (int i = 0; i < 4; i++) {
        out[i] = al[h % (sizeof al - 1)];
        h /= sizeof al - 1;
    }
    out[4] = '\0';
}

/* Checks an snprintf result n for a buffer of len bytes: 0 fits, -1 error or truncated. */
static int fits(int n, size_t len)
{
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

struct layout {
    const struct project_def *projects;
    size_t n_projects;
    const struct key_def *keys;
    size_t n_keys;
    const struct series_def *series;
    size_t n_series;
};

static int build_account(struct sim_account *a, const struct layout *L, const struct sim_opts *o,
                         int64_t anchor, char *err, size_t errlen)
{
    int64_t day0 = tu_floor(anchor, SIM_DAY), anchor_h = tu_floor(anchor, SIM_HOUR);
    size_t scale = (size_t)o->scale;
    a->data_start = day0 - (int64_t)o->days * SIM_DAY;

    a->projects = calloc(L->n_projects, sizeof *a->projects);
    a->keys = calloc(L->n_keys * scale, sizeof *a->keys);
    a->series = calloc(L->n_series * scale, sizeof *a->series);
    if (!a->projects || !a->keys || !a->series) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t p = 0; p < L->n_projects; p++) {
        struct sim_project *P = &a->projects[p];
        if (fits(snprintf(P->id, sizeof P->id, "%s", L->projects[p].id), sizeof P->id) ||
            fits(snprintf(P->name, sizeof P->name, "%s", L->projects[p].name), sizeof P->name)) {
            snprintf(err, errlen, "project id or name too long");
            return -1;
        }
        P->created_at = day0 - (int64_t)L->projects[p].created_days * SIM_DAY + 11 * SIM_HOUR +
                        (int64_t)(mix64(a->seed ^ str_hash(P->id)) % SIM_HOUR);
        if (L->projects[p].archived_days)
            P->archived_at =
                day0 - (int64_t)L->projects[p].archived_days * SIM_DAY + 14 * SIM_HOUR + 1234;
    }
    a->n_projects = L->n_projects;

    for (size_t r = 0; r < scale; r++) {
        for (size_t k = 0; k < L->n_keys; k++) {
            const struct key_def *d = &L->keys[k];
            struct sim_key *K = &a->keys[a->n_keys++];
            int bad;
            if (r == 0)
                bad = fits(snprintf(K->id, sizeof K->id, "%s", d->id), sizeof K->id) ||
                      fits(snprintf(K->name, sizeof K->name, "%s", d->name), sizeof K->name);
            else
                bad = fits(snprintf(K->id, sizeof K->id, "%s_s%zu", d->id, r + 1), sizeof K->id) ||
                      fits(snprintf(K->name, sizeof K->name, "%s #%zu", d->name, r + 1),
                           sizeof K->name);
            if (!bad && d->sa_id)
                bad = fits(snprintf(K->sa_id, sizeof K->sa_id, "%s", d->sa_id), sizeof K->sa_id) ||
                      fits(snprintf(K->sa_name, sizeof K->sa_name, "%s", d->sa_name),
                           sizeof K->sa_name);
            if (bad) {
                snprintf(err, errlen, "key id or name too long");
                return -1;
            }
            K->project = d->project;
            K->user = d->user;
            uint64_t kh = mix64(a->seed ^ str_hash(K->id));
            key_hint(kh, K->hint);
            int days = o->demo ? d->days_demo : d->days_steady;
            K->created_at = day0 - (int64_t)days * SIM_DAY + 9 * SIM_HOUR +
                            (int64_t)(kh % (3 * SIM_HOUR)) + (int64_t)r * 600;
            K->archived = d->archived;
        }
    }

    for (size_t r = 0; r < scale; r++) {
        for (size_t i = 0; i < L->n_series; i++) {
            const struct series_def *d = &L->series[i];
            if (d->demo_only && !o->demo)
                continue;
            if (r > 0 && (d->key < 0 || d->anomaly == AN_ONLY_48H))
                continue;
            struct sim_series *S = &a->series[a->n_series++];
            S->key = d->key < 0 ? -1 : (int)(r * L->n_keys + (size_t)d->key);
            S->project = d->project;
            S->model = d->model;
            S->user = d->key < 0 ? -1 : L->keys[d->key].user;
            S->rate = d->rate;
            S->unc = d->unc;
            S->read = d->read;
            S->w5 = d->w5;
            S->w1 = d->w1;
            S->out = d->out;
            S->web = d->web;
            S->flat = d->flat;
            S->from = a->data_start;
            if (S->key >= 0)
                S->from = ceil_to(a->keys[S->key].created_at, SIM_HOUR);
            if (S->from < a->data_start)
                S->from = a->data_start;
            S->to = INT64_MAX;
            if (S->project >= 0 && a->projects[S->project].archived_at)
                S->to = tu_floor(a->projects[S->project].archived_at, SIM_HOUR);
            S->hash = mix64(str_hash(S->key >= 0 ? a->keys[S->key].id : "workbench") ^
                            (uint64_t)(d->model + 1) * 0x51ED27ULL);
            S->spike_mult = 1;
            if (r == 0 && o->demo && d->anomaly == AN_SPIKE_24H) {
                S->spike_from = anchor_h - 24 * SIM_HOUR;
                S->spike_to = anchor_h;
                S->spike_mult = 4;
            }
            if (d->anomaly == AN_ONLY_48H) {
                if (S->from < anchor_h - 48 * SIM_HOUR)
                    S->from = anchor_h - 48 * SIM_HOUR;
                S->to = anchor_h;
            }
        }
    }
    return grid_cover(a, tu_floor(anchor, SIM_HOUR) + 48 * SIM_HOUR) ? -1 : 0;
}

static char *dup_key(const char *base, int idx)
{
    char buf[512];
    int n = idx < 0 ? snprintf(buf, sizeof buf, "%s", base)
                    : snprintf(buf, sizeof buf, "%s-%d", base, idx);
    if (n < 0 || (size_t)n >= sizeof buf)
        return NULL;
    return strdup(buf);
}

int sim_world_init(struct sim_world *w, const struct sim_opts *o, char *err, size_t errlen)
{
    memset(w, 0, sizeof *w);
    w->opts = *o;
    w->now = w->anchor = o->now;
    const struct layout oa = {oa_projects,   N_OF(oa_projects), oa_keys,
                              N_OF(oa_keys), oa_series,         N_OF(oa_series)};
    const struct layout an = {an_workspaces, N_OF(an_workspaces), an_keys,
                              N_OF(an_keys), an_series,           N_OF(an_series)};
    w->openai = calloc((size_t)o->accounts + 1, sizeof *w->openai);
    if (!w->openai) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i <= o->accounts; i++) {
        struct sim_account *a = &w->openai[i];
        w->n_openai++;
        a->provider = SIM_OPENAI;
        a->seed = i == 0 ? mix64(o->seed) : mix64(o->seed ^ mix64((uint64_t)i * 7919));
        a->api_key = dup_key(o->openai_key, i - 1);
        if (!a->api_key) {
            snprintf(err, errlen, "bad --openai-key");
            return -1;
        }
        if (build_account(a, &oa, o, w->anchor, err, errlen))
            return -1;
        if (sim_audit_build(a, w->anchor, o->demo)) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    struct sim_account *a = &w->anthropic;
    a->provider = SIM_ANTHROPIC;
    a->seed = mix64(o->seed ^ 0xA47B09ULL);
    a->api_key = dup_key(o->anthropic_key, -1);
    if (!a->api_key) {
        snprintf(err, errlen, "bad --anthropic-key");
        return -1;
    }
    return build_account(a, &an, o, w->anchor, err, errlen);
}

static void account_free(struct sim_account *a)
{
    free(a->api_key);
    free(a->projects);
    free(a->keys);
    free(a->series);
    free(a->grid);
    free(a->events);
    free(a->restates);
    memset(a, 0, sizeof *a);
}

void sim_world_free(struct sim_world *w)
{
    for (size_t i = 0; i < w->n_openai; i++)
        account_free(&w->openai[i]);
    free(w->openai);
    w->openai = NULL;
    w->n_openai = 0;
    account_free(&w->anthropic);
}

int sim_world_set_now(struct sim_world *w, int64_t now)
{
    int64_t hl = tu_floor(now, SIM_HOUR);
    for (size_t i = 0; i < w->n_openai; i++)
        if (grid_cover(&w->openai[i], hl))
            return -1;
    if (grid_cover(&w->anthropic, hl))
        return -1;
    w->now = now;
    return 0;
}

int64_t sim_hour_limit(const struct sim_world *w)
{
    return tu_floor(w->now, SIM_HOUR);
}

void sim_sum_series(const struct sim_account *a, size_t s, int64_t from, int64_t to, int64_t hl,
                    struct sim_sum *out)
{
    int64_t grid_end = a->data_start + (int64_t)a->grid_hours * SIM_HOUR;
    if (from < a->data_start)
        from = a->data_start;
    from = ceil_to(from, SIM_HOUR);
    if (to > hl)
        to = hl;
    if (to > grid_end)
        to = grid_end;
    if (from >= to)
        return;
    size_t i0 = (size_t)((from - a->data_start) / SIM_HOUR);
    size_t i1 = (size_t)((to - a->data_start + SIM_HOUR - 1) / SIM_HOUR);
    for (size_t i = i0; i < i1; i++) {
        const struct sim_cell *c = &a->grid[i * a->n_series + s];
        out->req += c->req;
        out->unc += c->unc;
        out->read += c->read;
        out->w5 += c->w5;
        out->w1 += c->w1;
        out->out += c->out;
        out->web += c->web;
    }
}

int64_t sim_line_qty(const struct sim_sum *sum, enum sim_line l)
{
    switch (l) {
    case SIM_L_UNCACHED: return sum->unc;
    case SIM_L_CACHED: return sum->read;
    case SIM_L_CW5M: return sum->w5;
    case SIM_L_CW1H: return sum->w1;
    case SIM_L_OUTPUT: return sum->out;
    case SIM_L_WEB: return sum->web;
    case SIM_L_COUNT: break;
    }
    return 0;
}

double sim_restate_factor(const struct sim_account *a, int64_t day)
{
    for (size_t i = 0; i < a->n_restates; i++)
        if (a->restates[i].day == day)
            return a->restates[i].factor;
    return 1.0;
}

int64_t sim_cost_micro(const struct sim_series *s, enum sim_line l, const struct sim_sum *day_sum,
                       double factor)
{
    int64_t price = sim_models[s->model].price[l];
    int64_t qty = sim_line_qty(day_sum, l);
    if (!price || !qty)
        return 0;
    int64_t micro = (qty * price + 500) / 1000;
    if (factor != 1.0)
        micro = (int64_t)llround((double)micro * factor);
    return micro;
}

int sim_restate_set(struct sim_account *a, int64_t day, double factor)
{
    for (size_t i = 0; i < a->n_restates; i++) {
        if (a->restates[i].day == day) {
            a->restates[i].factor = factor;
            return 0;
        }
    }
    struct sim_restate *r = realloc(a->restates, (a->n_restates + 1) * sizeof *r);
    if (!r)
        return -1;
    a->restates = r;
    a->restates[a->n_restates].day = day;
    a->restates[a->n_restates].factor = factor;
    a->n_restates++;
    return 0;
}

int64_t sim_key_last_used(const struct sim_account *a, size_t key, int64_t hl)
{
    size_t mine[64], n = 0;
    for (size_t s = 0; s < a->n_series && n < N_OF(mine); s++)
        if (a->series[s].key == (int)key)
            mine[n++] = s;
    int64_t grid_end = a->data_start + (int64_t)a->grid_hours * SIM_HOUR;
    int64_t end = hl < grid_end ? hl : grid_end;
    if (n == 0 || end <= a->data_start)
        return -1;
    for (size_t i = (size_t)((end - a->data_start) / SIM_HOUR); i-- > 0;)
        for (size_t j = 0; j < n; j++)
            if (a->grid[i * a->n_series + mine[j]].req)
                return a->data_start + (int64_t)i * SIM_HOUR + 1800;
    return -1;
}

int sim_model_find(const char *id)
{
    for (size_t i = 0; i < sim_n_models; i++)
        if (strcmp(sim_models[i].id, id) == 0)
            return (int)i;
    return -1;
}

static int series_matches(const struct sim_account *a, const struct sim_series *s,
                          const struct sim_truth_query *tq)
{
    if (tq->project) {
        const char *p = s->project < 0 ? "default" : a->projects[s->project].id;
        if (strcmp(p, tq->project) != 0)
            return 0;
    }
    if (tq->api_key_id && (s->key < 0 || strcmp(a->keys[s->key].id, tq->api_key_id) != 0))
        return 0;
    if (tq->model && strcmp(sim_models[s->model].id, tq->model) != 0)
        return 0;
    if (tq->kind) {
        const char *k = a->provider == SIM_ANTHROPIC                  ? "messages"
                        : sim_models[s->model].kind == SIM_KIND_EMBED ? "embeddings"
                                                                      : "completions";
        if (strcmp(k, tq->kind) != 0)
            return 0;
    }
    return 1;
}

int sim_truth(const struct sim_world *w, const struct sim_account *a,
              const struct sim_truth_query *tq, int64_t *value, int *is_money, char *err,
              size_t errlen)
{
    static const char *const metrics[] = {"requests",
                                          "input_tokens",
                                          "input_cached_tokens",
                                          "input_cache_write_tokens",
                                          "output_tokens",
                                          "web_search_calls",
                                          "cost_usd"};
    int m = -1;
    for (size_t i = 0; tq->metric && i < N_OF(metrics); i++)
        if (strcmp(tq->metric, metrics[i]) == 0)
            m = (int)i;
    if (m < 0) {
        snprintf(err, errlen, "unknown metric");
        return -1;
    }
    if (m == 0 && a->provider == SIM_ANTHROPIC) {
        snprintf(err, errlen, "the Anthropic usage report has no request counts");
        return -1;
    }
    int64_t hl = sim_hour_limit(w), total = 0;
    *is_money = m == 6;
    for (size_t s = 0; s < a->n_series; s++) {
        const struct sim_series *S = &a->series[s];
        if (!series_matches(a, S, tq))
            continue;
        if (m != 6) {
            struct sim_sum sum = {0};
            sim_sum_series(a, s, tq->from, tq->to, hl, &sum);
            switch (m) {
            case 0: total += sum.req; break;
            case 1: total += sum.unc + sum.read + sum.w5 + sum.w1; break;
            case 2: total += sum.read; break;
            case 3: total += sum.w5 + sum.w1; break;
            case 4: total += sum.out; break;
            default: total += sum.web; break;
            }
            continue;
        }
        int64_t d = tq->from < a->data_start ? a->data_start : ceil_to(tq->from, SIM_DAY);
        for (; d < tq->to && d < hl; d += SIM_DAY) {
            struct sim_sum sum = {0};
            sim_sum_series(a, s, d, d + SIM_DAY, hl, &sum);
            double f = sim_restate_factor(a, d);
            for (int l = 0; l < SIM_L_COUNT; l++) {
                if (l == SIM_L_WEB && tq->model)
                    continue; /* web search cost rows carry no model */
                total += sim_cost_micro(S, (enum sim_line)l, &sum, f);
            }
        }
    }
    *value = total;
    return 0;
}
