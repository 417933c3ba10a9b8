/*
 * The rule engine (ARCHITECTURE.md "analyzers/"). Each rule type is a const
 * struct ana_rule_ops in analyzers/<type>.c listed in analyzers/rules.c. After
 * a committed poll cycle the engine evaluates every enabled rule at the
 * cycle's time and hands the results to the alert lifecycle (alerts/), which
 * turns them into firing/resolved alerts. Rules read the store and never
 * write alerts themselves; state a rule keeps between cycles goes into the
 * same batch as the lifecycle's changes (ana_ctx.batch), so both land or
 * neither does.
 */
#ifndef BW_ANA_ENGINE_H
#define BW_ANA_ENGINE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../collector/config.h"
#include "../storage/ts.h"

#define ANA_MAX_LABELS 10
#define ANA_MAX_CAUSES 5
#define ANA_NAME_MAX 48
#define ANA_VALUE_MAX 192
#define ANA_SUMMARY_MAX 512

struct ana_label {
    char name[ANA_NAME_MAX];
    char value[ANA_VALUE_MAX];
};

/* One contributor to an increase: label=value and its share of it (0..1). */
struct ana_cause {
    char label[ANA_NAME_MAX];
    char value[ANA_VALUE_MAX];
    double share;
};

/*
 * A condition a rule found true at ctx.now (only firing conditions are
 * emitted; a rule's evaluation is complete, so an alert of the rule that is
 * firing and not emitted again has cleared and resolves). Numbers that do
 * not apply are NAN (ana_emit sets them so) and are left out of the alert.
 */
struct ana_candidate {
    struct ana_label labels[ANA_MAX_LABELS]; /* "provider" always; the rest per rule */
    size_t n_labels;
    char summary[ANA_SUMMARY_MAX];           /* one line for people; never a secret */
    double value;                            /* what was observed */
    double baseline;                         /* what was expected */
    double ratio;                            /* value / baseline */
    double threshold;                        /* the configured limit that was crossed */
    double impact_usd;                       /* dollars above the baseline (spend rules) */
    char window[16];                         /* "1d", "30m"... or "" */
    char unit[16];                           /* "usd", "count", "kmh", "days", "pct"... */
    struct ana_cause causes[ANA_MAX_CAUSES]; /* ranked by share, largest first */
    size_t n_causes;
    int64_t starts_at; /* when the condition began (UTC seconds); 0 = ctx.now */
    json_t *details;   /* optional extra facts (owned; freed by the results) */
};

struct ana_results {
    struct ana_candidate *v;
    size_t n, cap;
};

/* What the last commit changed; rules may use it to do less work. */
struct ana_changes {
    int64_t events_from;  /* earliest time of an event stored this cycle; INT64_MAX if none */
    size_t samples;       /* samples written this cycle */
    int64_t samples_from; /* earliest bucket written this cycle; INT64_MAX if none,
                             0 if unknown (then cached reads start over) */
};

/* Everything a rule's evaluate sees. All borrowed. */
struct ana_ctx {
    struct ts_store *st;
    const struct config *cfg;
    const struct cfg_rule *rule;
    int64_t now; /* evaluation time (the cycle's time, or --now) */
    const struct ana_changes *changes;
    struct ts_batch *batch; /* for the rule's own state (TS_META keys "ana/<rule name>/...") */
};

struct ana_rule_ops {
    const char *type; /* INTERFACE.md's rule type */
    /*
     * Reads the rule's validated params into a private context. 0 ok, -1
     * with a message in err (a config the loader accepted should not fail).
     */
    int (*init)(const struct cfg_rule *rule, const struct config *cfg, void **ctx, char *err,
                size_t errlen);
    /*
     * Evaluates the rule at c->now and appends every firing condition to out.
     * 0 ok; -1 with a message in err (the engine logs it and keeps the rule's
     * alerts as they are for this cycle).
     */
    int (*evaluate)(void *ctx, const struct ana_ctx *c, struct ana_results *out, char *err,
                    size_t errlen);
    void (*destroy)(void *ctx);
};

/* The table in analyzers/rules.c; NULL when type has no implementation. */
const struct ana_rule_ops *ana_rule_find(const char *type);

/* ---- helpers for rules ---- */

/*
 * Appends a zeroed candidate (numbers NAN) to r and returns it in *c.
 * 0 ok, -1 on allocation failure.
 */
int ana_emit(struct ana_results *r, struct ana_candidate **c);

/* Adds (or replaces) a label; values longer than ANA_VALUE_MAX-1 are cut. 0 ok, -1 when full. */
int ana_label(struct ana_candidate *c, const char *name, const char *value);

/* The label's value or NULL. */
const char *ana_label_get(const struct ana_candidate *c, const char *name);

/* snprintf into c->summary. */
void ana_summary(struct ana_candidate *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void ana_results_clear(struct ana_results *r);
void ana_results_free(struct ana_results *r);

/* Formats a duration in seconds the way the config writes it ("90d", "1h", "30m", "45s"). */
void ana_fmt_duration(int64_t secs, char *buf, size_t len);

/*
 * Reads a meta value holding decimal unix seconds (the collector's "seen/"
 * keys): 0 with *out set, -1 when vlen is 0, too long or not a number.
 */
int ana_parse_secs(const void *val, size_t vlen, int64_t *out);

/* Median of v[0..n) (reorders v). NAN when n == 0. */
double ana_median(double *v, size_t n);

/*
 * 1 when the rule applies to a source: the rule has no "providers" list, or
 * the list names the provider type (e.g. "openai") or the source's
 * configured name (the "account" label). account may be NULL.
 */
int ana_provider_ok(const struct cfg_rule *rule, const char *provider, const char *account);

/*
 * The business unit (config "business_units") a project or API key belongs
 * to: a unit listing the api_key_id wins over one listing the project;
 * "Unassigned" when none does. Either argument may be NULL.
 */
const char *ana_business_unit(const struct config *cfg, const char *project,
                              const char *api_key_id);

/*
 * ts_aggregate for rules: during an evaluation pass (ana_engine_evaluate),
 * answered from the engine's cache of each metric's recent window when the
 * query fits it (analyzers/cache.c, kept between passes), so rules asking
 * for overlapping data do not each seek every series; otherwise, and
 * outside a pass, plain ts_aggregate. Same results, same ownership (free
 * with ts_agg_free).
 */
int ana_aggregate(struct ts_store *st, const struct ts_agg_query *q, struct ts_agg_result *out,
                  char *err, size_t errlen);

/*
 * The cache behind ana_aggregate. The engine keeps one across passes:
 * ana_cache_pass_begin applies what the store's change feed says was
 * written since the last pass (ts_feed_read), with no store read; it drops
 * what it holds, to be read again on its next use, when ch is NULL or
 * ch->samples_from is 0 (unknown), when the feed lost records, for a
 * series with a label name the cached metric did not have, and when now
 * moved back a day or more; when now moves on to a new UTC day it shifts
 * the windows (reading only days that enter them and were ever written to,
 * which a live service does not have). It makes the cache the one ana_aggregate uses until
 * ana_cache_pass_end. ana_cache_begin/end do the same with a temporary
 * cache (tests).
 */
struct ana_cache;
struct ana_cache_stats {
    size_t loads;   /* (metric, step) windows read from the store */
    size_t drops;   /* windows dropped, to be read again on their next use */
    size_t applied; /* fed records applied to a window */
    size_t shifts;  /* windows moved to a new UTC day without reading them again */
    size_t hits;    /* requests answered from memory */
    size_t misses;  /* requests outside the windows, sent to ts_aggregate */
};
struct ana_cache *ana_cache_new(void);
void ana_cache_free(struct ana_cache *c);
void ana_cache_stats(const struct ana_cache *c, struct ana_cache_stats *out);
int ana_cache_pass_begin(struct ana_cache *c, struct ts_store *st, int64_t now,
                         const struct ana_changes *ch);
void ana_cache_pass_end(struct ana_cache *c);
int ana_cache_begin(struct ts_store *st, int64_t now);
void ana_cache_end(void);

/* ---- the engine ---- */

struct ana_engine;

/* One rule's evaluation in a run. */
struct ana_rule_result {
    const struct cfg_rule *rule;
    int ok;                 /* 0 when evaluate failed: its alerts stay as they are */
    struct ana_results res; /* the firing conditions */
};

/*
 * Builds the engine for cfg's enabled rules (cfg stays borrowed and must
 * outlive the engine). Rule types without an implementation are skipped
 * with a warning. 0 ok, -1 with a message in err.
 */
int ana_engine_new(const struct config *cfg, struct ana_engine **out, char *err, size_t errlen);
void ana_engine_free(struct ana_engine *e);

/*
 * Evaluates every rule at now. Rules put their own state into batch (may
 * be NULL). *out points to an array of *n results owned by the engine and
 * valid until the next call or ana_engine_free. A failing rule is logged
 * and reported with ok = 0; the call itself fails only on allocation.
 */
int ana_engine_evaluate(struct ana_engine *e, struct ts_store *st, int64_t now,
                        const struct ana_changes *changes, struct ts_batch *batch,
                        const struct ana_rule_result **out, size_t *n, char *err, size_t errlen);

/*
 * Warms the engine for a long-running service: one evaluation at now whose
 * results are discarded, so the windows the rules read are in the cache
 * before the first cycle, and every later pass (given ana_changes with
 * samples_from not 0) costs what the cycles since wrote instead of a cold
 * read. Call after ana_engine_new (start-up, reload). 0 ok, -1 with err.
 */
int ana_engine_warm(struct ana_engine *e, struct ts_store *st, int64_t now, char *err,
                    size_t errlen);

#endif
