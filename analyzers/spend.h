/*
 * Spend as the spend rules see it (spend_spike, spend_threshold,
 * budget_forecast, cost_drift): estimated cost (est_cost_usd, hourly) where
 * each closed UTC day the provider has billed (cost_usd, daily) is scaled to
 * the billed figure, read with a few ts_aggregate calls per evaluation, plus
 * the small pure decisions those rules share (threshold crossing, month
 * arithmetic, budget crossing, billed-vs-estimated drift).
 */
#ifndef BW_ANA_SPEND_H
#define BW_ANA_SPEND_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

#define ANA_SPEND_MAX_LABELS 12

/* A read range [from, to) at step 3600 or 86400, both ends aligned to the step. */
struct ana_spend_span {
    int64_t from, to, step;
};

struct ana_spend_query {
    /* Labels kept per row besides provider, account and project (always kept);
     * "business_unit" is derived (ana_business_unit) and keeps api_key_id. */
    const char *const *labels;
    size_t n_labels;
    /* Equality filters on est_cost_usd labels; "business_unit" is matched on
     * the derived value. Rows lacking a filtered label do not match. */
    const struct ts_label *match;
    size_t n_match;
    const struct ana_spend_span *spans; /* ascending, not overlapping */
    size_t n_spans;
    const struct cfg_rule *rule; /* rows failing ana_provider_ok are left out; may be NULL */
    const struct config *cfg;    /* for business units; may be NULL (all "Unassigned") */
    int64_t now;                 /* days ending at or before now are closed */
};

/* One row: the spend of one combination of the kept labels, per column. */
struct ana_spend_row {
    const char *val[ANA_SPEND_MAX_LABELS]; /* per ana_spend.names; NULL = absent (store-owned) */
    double *v;                             /* n_cols values in USD */
    int64_t first;                         /* start of the first column with data, or INT64_MAX */
    char *key;                             /* private */
};

struct ana_spend {
    const struct config *cfg;
    const char *names[ANA_SPEND_MAX_LABELS]; /* names[0..2] = provider, account, project */
    size_t n_names;
    int64_t *t, *w; /* start and width of each column, ascending */
    size_t n_cols;
    struct ana_spend_row *rows;
    size_t n_rows, cap_rows;
    size_t billed_days; /* (provider, account, project, day) cells that used billed cost */
};

/*
 * Reads spend for q into *out (free with ana_spend_free; label values stay
 * the store's and are valid until ts_close). Per (provider, account,
 * project) and closed UTC day with billed cost_usd: estimated hours are
 * scaled by billed/estimated for that day; when the day has billed cost but
 * no estimate, the billed cost (grouped by whichever kept labels cost_usd
 * carries) is spread evenly over the day's 24 hours (or put whole in a
 * daily column). Open days and days not billed use the estimate as is. A
 * row's first is the first column holding estimated or billed data in the
 * spans read. One ts_aggregate per span plus small daily rollup reads of
 * cost_usd; the estimate of a billed day comes from the span reads when the
 * day was read whole and the filters select whole projects, else from one
 * more daily read. 0 ok, -1 with a message in err.
 */
int ana_spend_read(struct ts_store *st, const struct ana_spend_query *q, struct ana_spend *out,
                   char *err, size_t errlen);
void ana_spend_free(struct ana_spend *s);

/*
 * The spans that read [from, to) (hour boundaries) cheaply: whole UTC days
 * inside it from daily rollups, the hours of a partial first or last day
 * hourly, a partial first day read from its midnight (so a closed day is
 * read whole and its billed factor needs no extra read). Writes at most 3
 * spans to out and returns how many; ana_spend_sum(from, to) then sums the
 * window exactly.
 */
size_t ana_spend_spans(int64_t from, int64_t to, struct ana_spend_span *out);

/* A row's value for a label name (also "business_unit"); NULL when absent. */
const char *ana_spend_get(const struct ana_spend *s, const struct ana_spend_row *r,
                          const char *name);

/* Sum of the columns of v lying wholly inside [from, to). */
double ana_spend_sum(const struct ana_spend *s, const double *v, int64_t from, int64_t to);

/* The columns ana_spend_sum(from, to) adds: [*c0, *c1), for summing many rows alike. */
void ana_spend_cols(const struct ana_spend *s, int64_t from, int64_t to, size_t *c0, size_t *c1);

/* Rows summed into groups: provider, account and the given labels. */
struct ana_spend_group {
    size_t row;    /* a row of the group: its label values are the group's */
    double *v;     /* n_cols sums */
    int64_t first; /* earliest first of its rows */
};

struct ana_spend_groups {
    struct ana_spend_group *g;
    size_t n;
    size_t *of_row; /* the group of each row */
    double *buf;
};

/*
 * Groups s's rows by provider, account and the labels by[0..n_by) (a row
 * lacking a label groups with the others lacking it). 0 ok, -1 with err
 * (out of memory). Free with ana_spend_groups_free.
 */
int ana_spend_fold(const struct ana_spend *s, const char *const *by, size_t n_by,
                   struct ana_spend_groups *out, char *err, size_t errlen);
void ana_spend_groups_free(struct ana_spend_groups *g);

/*
 * Labels c with provider, account and the by labels row has (in that
 * order, each once). 0 ok, -1 when the candidate's labels are full.
 */
int ana_spend_label_group(const struct ana_spend *s, const struct ana_spend_row *row,
                          const char *const *by, size_t n_by, struct ana_candidate *c);

/* "openai project proj_eng": the provider, then "name value" of each by label but provider. */
void ana_spend_describe(const struct ana_spend *s, const struct ana_spend_row *row,
                        const char *const *by, size_t n_by, char *buf, size_t len);

/*
 * Reads a rule's "group_by" array (default ["provider"]) into by (pointers
 * into params, which must outlive their use). 0 ok, -1 with err when more
 * than cap names.
 */
int ana_spend_group_by(const json_t *params, const char **by, size_t cap, size_t *n, char *err,
                       size_t errlen);

/* "$1,234.56" ("-$3.10" when negative). */
void ana_spend_fmt_usd(double usd, char *buf, size_t len);

/* ---- pure decisions ---- */

/*
 * 1 when value has reached limit (value >= limit, with a relative
 * tolerance of 1e-9 so that sums of cents landing exactly on the limit
 * count as reaching it); 0 otherwise or when either is NAN.
 */
int ana_spend_reached(double value, double limit);

/* Start of the UTC calendar month holding t, and of the next month. */
int64_t ana_month_start(int64_t t);
int64_t ana_month_next(int64_t t);

/*
 * Month-end projection of actual, spent over [month start, upto) where upto
 * is an hour boundary in the month: actual divided by the elapsed fraction
 * of the month in hours. NAN before one day has elapsed (too little to
 * extrapolate).
 */
double ana_budget_projection(double actual, int64_t upto);

/*
 * The highest of pcts[0..n) whose mark pct * monthly / 100 spend has reached
 * (ana_spend_reached); NAN when none (or spend is NAN).
 */
double ana_budget_crossed(double spend, double monthly, const double *pcts, size_t n);

/*
 * Billed-vs-estimated drift of one day: *drift_pct = |est - billed| / billed
 * * 100 (NAN when billed is 0). Returns 1 (fires) when the drift is more
 * than max_pct (strictly, so exactly at the limit stays quiet; a billed 0
 * against a positive estimate counts as more) and max(billed, est) >=
 * min_usd; 0 otherwise.
 */
int ana_drift_fires(double billed, double est, double max_pct, double min_usd, double *drift_pct);

#endif
