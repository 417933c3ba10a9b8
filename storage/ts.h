/*
 * The time-series store on RocksDB (ARCHITECTURE.md "Storage layout").
 * Series are a metric plus sorted labels, registered once and named by a
 * 64-bit id; points are (series id, bucket start) -> double, upserted so a
 * re-polled bucket replaces its value; daily rollups are kept equal to the
 * sum of a day's points through a summing merge operator fed with deltas;
 * events are an append-only log keyed by time, deduplicated by an optional
 * uid; meta/alerts/outbox are plain key-value families for later modules.
 *
 * Ownership of RocksDB objects (all created in ts_open, all destroyed in
 * ts_close, in reverse order, after the DB handle is closed):
 *   - rocksdb_options_t: one for the DB and one per column family, ours,
 *     destroyed after rocksdb_close.
 *   - the summing merge operator: set on the rollup family's options, which
 *     take ownership (a shared_ptr inside the C API); never destroyed by us.
 *   - the retention compaction filter: the points family's options keep a
 *     raw pointer only; ours, destroyed after rocksdb_close and the options.
 *   - block-based table options: ours (the table factory copies them),
 *     destroyed after rocksdb_close; the bloom filter policy set on them is
 *     owned by them (shared_ptr) and never destroyed by us.
 *   - the shared LRU block cache: ours (the table options hold a shared_ptr
 *     to it as well); rocksdb_cache_destroy drops our reference after
 *     rocksdb_close and the table options.
 *   - column family handles: destroyed before rocksdb_close.
 *   - read/write options: long-lived in the store; iterators made by the
 *     store are destroyed before returning. Iterator bound slices point
 *     into buffers on the caller's stack frame that outlive the iterator.
 * Nothing outside storage/ calls the RocksDB API.
 *
 * Threading: one writer (the daemon loop); reads may run concurrently with
 * it. ts_aggregate splits a large query (at least 64 series and 50,000
 * points) across the calling thread and one helper thread, each with its
 * own iterator, and joins it before returning: callers see a plain
 * synchronous call. A store opened read-only (ts_options.read_only) takes no lock and can
 * be used while a daemon holds the data directory.
 */
#ifndef BW_TS_H
#define BW_TS_H

#include <stddef.h>
#include <stdint.h>

#define TS_SCHEMA_VERSION 1
#define TS_DEFAULT_RETENTION (400LL * 86400)

struct ts_store;
struct ts_batch;

struct ts_label {
    const char *name;
    const char *value;
};

/* A registered series. Owned by the store, valid until ts_close. */
struct ts_series {
    uint64_t id;
    const char *key; /* canonical: metric{a="1",b="2"} */
    const char *metric;
    size_t n_labels;
    const struct ts_label *labels; /* sorted by name, no empty values */
};

struct ts_options {
    int64_t retention;      /* raw points older than now - retention are dropped; 0 = default */
    int read_only;          /* open without the lock; writes fail */
    int create;             /* create the directory and DB when missing */
    int sync;               /* fsync the WAL on each write (power-loss durability) */
    int64_t (*clock)(void); /* "now" for retention; NULL = wall clock (tests inject) */
};

/* An event (audit entry, proxy record, inventory change). */
struct ts_event {
    int64_t time;     /* UTC seconds */
    const char *type; /* e.g. "audit.login.failed", "inventory.key_created" */
    const char *uid;  /* provider's stable id for dedupe, or NULL */
    const char *json; /* the event as JSON text */
    uint64_t seq;     /* set by the store on read */
};

/*
 * Key-value families open to other modules. Reserved in TS_META: the keys
 * "magic", "schema_version", "event_seq" and every key starting "_ts/".
 */
enum ts_family { TS_META = 0, TS_ALERTS = 1, TS_OUTBOX = 2 };

/*
 * Opens (or with opts->create, creates) the store in dir. Refuses, with a
 * message in err and a negative return: a directory holding files that are
 * not a RocksDB database (-TS_EFOREIGN), a RocksDB database that is not
 * byokwatch's (-TS_EFOREIGN), a newer schema (-TS_ESCHEMA), a directory
 * locked by another process (-TS_ELOCKED), corruption (-TS_ECORRUPT), other
 * I/O failures (-TS_EIO). Never repairs or rewrites what it did not create.
 */
enum {
    TS_EIO = 1,
    TS_EFOREIGN = 2,
    TS_ESCHEMA = 3,
    TS_ELOCKED = 4,
    TS_ECORRUPT = 5,
    TS_EINVAL = 6,
    TS_ENOTFOUND = 7
};
int ts_open(const char *dir, const struct ts_options *opts, struct ts_store **out, char *err,
            size_t errlen);

/* Flushes nothing extra (the WAL holds what was acknowledged) and frees everything. */
void ts_close(struct ts_store *st);

/*
 * Writes the canonical key of metric+labels into buf: labels sorted by
 * name, empty values dropped, values escaped (\\ \" \n). Label names must
 * match [A-Za-z_][A-Za-z0-9_]* and be unique. 0 ok, -TS_EINVAL otherwise
 * (bad name, duplicate, or buf too small).
 */
int ts_canonical_key(const char *metric, const struct ts_label *labels, size_t n, char *buf,
                     size_t len);

/*
 * Returns the id of metric+labels, registering the series (durably, in its
 * own write) when new. The returned pointer in *series (may be NULL) is the
 * store's. 0 ok; negative on a bad label set or write failure.
 */
int ts_series_get(struct ts_store *st, const char *metric, const struct ts_label *labels, size_t n,
                  const struct ts_series **series, char *err, size_t errlen);

/*
 * The latest bucket ever written to a series (INT64_MIN when none), at or
 * after its latest stored point (retention may have dropped points since).
 * One seek the first time per series, then kept by the writes. For the
 * writing thread. 0 ok, negative with err.
 */
int ts_series_last(struct ts_store *st, uint64_t id, int64_t *last, char *err, size_t errlen);

/* Looks a series up by id; NULL when unknown. */
const struct ts_series *ts_series_by_id(const struct ts_store *st, uint64_t id);

/*
 * Lists series whose metric equals metric (NULL = any) and whose labels
 * equal every (name, value) in match. Returns a malloc'd array of store-
 * owned pointers in *out (caller frees the array only) sorted by id.
 */
int ts_series_list(const struct ts_store *st, const char *metric, const struct ts_label *match,
                   size_t n_match, const struct ts_series ***out, size_t *n_out);

/* A batch collects samples, events and key-value changes for one atomic write. */
struct ts_batch *ts_batch_new(void);
void ts_batch_free(struct ts_batch *b);
void ts_batch_clear(struct ts_batch *b);
size_t ts_batch_samples(const struct ts_batch *b);

/*
 * Adds a sample: series id, bucket start (UTC seconds, on the hour: ts_write
 * refuses others, so an hour holds one point), value.
 */
int ts_batch_add(struct ts_batch *b, uint64_t series_id, int64_t bucket, double value);

/* Adds an event; all strings are copied. */
int ts_batch_add_event(struct ts_batch *b, const struct ts_event *ev);

/* Puts or deletes a key in a key-value family; bytes are copied. */
int ts_batch_put(struct ts_batch *b, enum ts_family fam, const void *key, size_t klen,
                 const void *val, size_t vlen);
int ts_batch_delete(struct ts_batch *b, enum ts_family fam, const void *key, size_t klen);

/*
 * Applies the batch atomically (one RocksDB WriteBatch, WAL on): a sample
 * whose bucket already holds a value replaces it and the day's rollup moves
 * by the difference; within one batch the last sample for a bucket wins;
 * an event whose uid is already stored is skipped. Samples older than the
 * retention horizon are refused (-TS_EINVAL) because their day's rollup can
 * no longer be corrected, and so are samples whose bucket is not on the
 * hour. On return 0 everything is durable against a
 * process crash; on failure nothing was written. The batch is not cleared.
 */
int ts_write(struct ts_store *st, struct ts_batch *b, char *err, size_t errlen);

/*
 * Reads one series in [from, to) at step 3600 (raw points) or 86400
 * (rollups; from and to are floored to days). Arrays are malloc'd
 * (caller frees); *n may be 0.
 */
int ts_read_range(struct ts_store *st, uint64_t series_id, int64_t from, int64_t to, int64_t step,
                  int64_t **times, double **values, size_t *n, char *err, size_t errlen);

struct ts_agg_query {
    const char *metric;           /* required */
    const struct ts_label *match; /* equality filters */
    size_t n_match;
    const char *const *group_by; /* label names; none = one group over all */
    size_t n_group_by;
    int64_t from, to; /* [from, to) */
    int64_t step;     /* 3600 or 86400 */
};

struct ts_agg_group {
    struct ts_label *labels; /* the group_by labels the group has (malloc'd) */
    size_t n_labels;
    int64_t *times; /* buckets that had data, ascending */
    double *values;
    size_t n_points;
    size_t n_series; /* series summed into this group */
};

struct ts_agg_result {
    struct ts_agg_group *groups; /* sorted by label values */
    size_t n_groups;
};

/*
 * Sums every matching series per step bucket and group. Step 86400 reads
 * rollups when from and to are day-aligned, otherwise sums raw points per
 * UTC day. 0 ok; result freed with ts_agg_free.
 */
int ts_aggregate(struct ts_store *st, const struct ts_agg_query *q, struct ts_agg_result *out,
                 char *err, size_t errlen);
void ts_agg_free(struct ts_agg_result *r);

/*
 * Calls cb for each event with from <= time < to, oldest first, whose type
 * equals type, or starts with it when type ends in '*' (NULL = all). The
 * event's strings are valid during the call only. cb returning non-zero
 * stops the scan. 0 ok.
 */
int ts_events_scan(struct ts_store *st, int64_t from, int64_t to, const char *type,
                   int (*cb)(const struct ts_event *ev, void *ud), void *ud, char *err,
                   size_t errlen);

/* Reads a key from a key-value family into a malloc'd buffer; -TS_ENOTFOUND when absent. */
int ts_get(struct ts_store *st, enum ts_family fam, const void *key, size_t klen, char **val,
           size_t *vlen, char *err, size_t errlen);

/*
 * Calls cb for each key in fam starting with prefix (klen may be 0), in key
 * order; cb returning non-zero stops. Key and value are valid during the call.
 */
int ts_scan(struct ts_store *st, enum ts_family fam, const void *prefix, size_t plen,
            int (*cb)(const void *key, size_t klen, const void *val, size_t vlen, void *ud),
            void *ud, char *err, size_t errlen);

/*
 * ts_scan starting at start (a key within the prefix; the scan includes
 * start itself when it exists). Lets a reader that consumes and deletes
 * keys in order skip what it deleted without stepping over its tombstones.
 * start NULL (or outside the prefix) scans the whole prefix.
 */
int ts_scan_from(struct ts_store *st, enum ts_family fam, const void *prefix, size_t plen,
                 const void *start, size_t slen,
                 int (*cb)(const void *key, size_t klen, const void *val, size_t vlen, void *ud),
                 void *ud, char *err, size_t errlen);

/*
 * The change feed: what committed writes did to the points family, for
 * in-memory readers that keep a copy of recent data (the analyzers' read
 * cache) and would otherwise re-read it. A reader opens a feed and, each
 * time it wants to catch up, reads the records of every write that held
 * samples since its last read (or its open), oldest first: the series, the
 * bucket, the value written and the change to that bucket (value minus
 * what it held, 0 before), which is also the change to the day's rollup.
 * The store keeps records only while a feed is open and only until every
 * open feed has read them, at most TS_FEED_MAX; past that the readers
 * behind are told they lost records and must re-read the store. Feeds are used on the
 * writing thread. A feed outlives its store harmlessly (it then reads as
 * lost); close it with ts_feed_close.
 */
#define TS_FEED_MAX ((size_t)1 << 18)

struct ts_change {
    uint64_t series;
    int64_t bucket;
    double value;
    double delta;
    uint64_t commit; /* the write's number (ts_feed_commit after it) */
};

struct ts_feed;
struct ts_feed *ts_feed_open(struct ts_store *st); /* NULL on allocation failure */
void ts_feed_close(struct ts_feed *f);

/*
 * The records since f's last read in *out[0..*n), valid until the next
 * ts_write or ts_feed_close. 0 ok; 1 when records were lost (the reader
 * fell more than TS_FEED_MAX records behind): *n is 0 and the feed goes on
 * from now; -1 when the store was closed (close the feed).
 */
int ts_feed_read(struct ts_feed *f, const struct ts_change **out, size_t *n);

/* The number of the last committed write that held samples (0 before any). */
uint64_t ts_feed_commit(const struct ts_store *st);

/* Compacts every family (retention runs; merge operands fold). For tests and bench. */
int ts_compact(struct ts_store *st, char *err, size_t errlen);

/* Number of registered series. */
size_t ts_series_count(const struct ts_store *st);

#endif
