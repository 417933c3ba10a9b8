/*
 * What a poller's pure parse step produces from one provider page:
 * normalized samples (metric, labels, bucket, value), events (audit log
 * entries), inventory items (keys, projects, workspaces) and the page
 * cursor. The daemon turns a col_out into one store batch; parsers never
 * see the store. Metric and label names are ARCHITECTURE.md's.
 */
#ifndef BW_NORMALIZE_H
#define BW_NORMALIZE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/strmap.h"

#define COL_MAX_LABELS 12

/* Sample strings are interned in the col_out's pool: shared, not owned. */
struct col_label {
    const char *name;
    const char *value;
};

struct col_sample {
    const char *metric;
    struct col_label labels[COL_MAX_LABELS];
    size_t n_labels;
    int64_t bucket; /* bucket start, UTC seconds */
    int64_t width;  /* bucket width in seconds (3600 or 86400) */
    double value;
};

/* An event for the store's events log. */
struct col_event {
    int64_t time;
    char *type; /* "audit.<provider event type>", "inventory.<change>"... */
    char *uid;  /* provider's stable id (for dedupe), may be NULL */
    char *json; /* normalized JSON text (see col_out_event) */
};

/* One inventory item: an API key, admin key, project or workspace as listed now. */
struct col_item {
    char *kind; /* "api_key", "admin_key", "project", "workspace" */
    char *id;
    char *json; /* {"id","name","project","status","created_at","last_used_at",...} */
};

struct col_out {
    struct col_sample *samples;
    size_t n_samples, cap_samples;
    struct col_event *events;
    size_t n_events, cap_events;
    struct col_item *items;
    size_t n_items, cap_items;
    char *next_page;    /* cursor for the next page request; NULL when this was the last */
    int64_t max_time;   /* latest event time seen on the page (log endpoints), or 0 */
    struct strmap pool; /* interned sample strings -> their pooled copy */
    struct col_pool_chunk *chunks; /* storage of the pooled strings */
};

/* Zero-initialise a col_out; col_out_free releases everything and zeroes it again. */
void col_out_free(struct col_out *o);

/*
 * Appends a sample. labels is an array of n name/value pairs (const
 * strings, interned: each distinct string is copied once per col_out);
 * pairs with a NULL or empty value are dropped. Returns 0, or -1 on
 * allocation failure or more than COL_MAX_LABELS labels.
 */
int col_out_sample(struct col_out *o, const char *metric, const char *const labels[][2], size_t n,
                   int64_t bucket, int64_t width, double value);

/*
 * Appends an event. obj (borrowed) is dumped compactly with sorted keys.
 * The normalized event JSON carries at least: "provider", "account",
 * "type", "time", and when known "actor" (email or id), "actor_type",
 * "ip", "user_agent", "country", "city", "lat", "lon" (numbers), "key_id",
 * "project", "raw" (the provider's object).
 */
int col_out_event(struct col_out *o, int64_t time, const char *type, const char *uid, json_t *obj);

/* Drops the samples after the first n (their pooled strings stay until col_out_free). */
void col_out_truncate(struct col_out *o, size_t n);

/* Appends an inventory item; obj (borrowed) dumped as for events. */
int col_out_item(struct col_out *o, const char *kind, const char *id, json_t *obj);

/* Sets the next-page cursor (copied; NULL clears). */
int col_out_set_next(struct col_out *o, const char *cursor);

#endif
