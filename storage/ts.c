/*
 * The RocksDB time-series store (see ts.h for the model and ownership).
 * Key encodings: points and rollups are id (8 bytes BE) + bucket (8 bytes
 * BE with the sign bit flipped so negative times sort first); events are
 * time (same encoding) + sequence (8 bytes BE); the series family maps
 * 'k'+canonical -> id and 'i'+id -> canonical. Values are 8-byte IEEE
 * doubles, little-endian. Rollups are kept by a summing merge operator:
 * each write adds (new - old) of every bucket it touches to the day.
 */
#include "ts.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../common/array.h"
#include "../common/log.h"
#include "../common/strmap.h"
#include "../common/timeutil.h"

enum cf_index {
    CF_DEFAULT = 0,
    CF_SERIES,
    CF_POINTS,
    CF_ROLLUP,
    CF_EVENTS,
    CF_META,
    CF_ALERTS,
    CF_OUTBOX,
    CF_COUNT
};

static const char *const cf_names[CF_COUNT] = {"default", "series", "points", "rollup_1d",
                                               "events",  "meta",   "alerts", "outbox"};

#define KEY_LEN 16
#define TS_BLOCK_CACHE_BYTES ((size_t)128 << 20)
#define TS_MAX_RANGE_STEPS 200000LL
#define TS_AGG_SPLIT_MIN_SERIES 64
#define TS_AGG_SPLIT_MIN_POINTS 50000
#define TS_MAX_TIME (1LL << 40) /* about 34,000 years either side of 1970 */
#define EVENT_UID_PREFIX "_ts/ev/"
#define MAGIC "byokwatch-ts"

struct series_rec {
    struct ts_series pub;
    struct ts_label *labels;
    char *strings;      /* owns key, metric and label strings */
    int64_t max_bucket; /* highest bucket stored (valid when max_known) */
    int max_known;
};

struct ts_store {
    rocksdb_t *db;
    rocksdb_options_t *dbopts;
    rocksdb_options_t *cfopts[CF_COUNT];
    rocksdb_block_based_table_options_t *table_opts[CF_COUNT];
    rocksdb_column_family_handle_t *cf[CF_COUNT];
    rocksdb_compactionfilter_t *retention_filter;
    rocksdb_cache_t *block_cache;
    rocksdb_mergeoperator_t *sum_op;
    rocksdb_readoptions_t *ropts;
    rocksdb_writeoptions_t *wopts;

    struct series_rec **by_id; /* index id - 1; NULL for holes */
    size_t by_id_cap;
    size_t n_series;
    uint64_t next_id;
    struct strmap by_key; /* canonical key -> id */

    uint64_t next_seq;
    /* the change feed (ts_feed_open): points written since the oldest open reader's position */
    struct ts_change *log;
    size_t log_n, log_cap;
    uint64_t commit; /* committed writes that held samples */
    struct ts_feed *feeds;
    int64_t retention;
    int64_t (*clock)(void);
    int read_only;
    char *dir;
};

struct sample {
    uint64_t id;
    int64_t bucket;
    double value;
    double delta; /* value minus what the bucket held (add_samples) */
    size_t order;
};

struct ts_feed {
    struct ts_store *st; /* NULL once the store is closed */
    uint64_t pos;        /* the last commit handed to this reader */
    int lost;            /* records it did not read were dropped */
    struct ts_feed *next;
};

struct kv_op {
    enum ts_family fam;
    int del;
    char *key;
    size_t klen;
    char *val;
    size_t vlen;
};

struct ev_rec {
    int64_t time;
    char *type;
    char *uid;
    char *json;
};

struct ts_batch {
    struct sample *samples;
    size_t n_samples, cap_samples;
    struct ev_rec *events;
    size_t n_events, cap_events;
    struct kv_op *ops;
    size_t n_ops, cap_ops;
};

/* ---- encodings ---- */

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

static uint64_t time_enc(int64_t t)
{
    return (uint64_t)t ^ (1ULL << 63);
}

static int64_t time_dec(uint64_t v)
{
    return (int64_t)(v ^ (1ULL << 63));
}

static void point_key(unsigned char *k, uint64_t id, int64_t bucket)
{
    put_be64(k, id);
    put_be64(k + 8, time_enc(bucket));
}

static void put_double(unsigned char *p, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    for (int i = 0; i < 8; i++) {
        p[i] = (unsigned char)(u & 0xff);
        u >>= 8;
    }
}

static double get_double(const char *p)
{
    const unsigned char *q = (const unsigned char *)p;
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--)
        u = (u << 8) | q[i];
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static int64_t wall_clock(void)
{
    return (int64_t)time(NULL);
}

/* ---- errors: the one place that turns RocksDB's char *err into ours ---- */

static int rdb_fail(struct ts_store *st, char *rerr, const char *what, char *err, size_t errlen)
{
    int code = -TS_EIO;
    const char *msg = rerr ? rerr : "unknown error";
    if (strstr(msg, "Corruption"))
        code = -TS_ECORRUPT;
    else if (strstr(msg, "lock file") || strstr(msg, "LOCK:"))
        code = -TS_ELOCKED;
    if (code == -TS_ELOCKED)
        snprintf(err, errlen, "data directory %s is in use by another byokwatch process (%s)",
                 st && st->dir ? st->dir : "?", msg);
    else
        snprintf(err, errlen, "%s %s: %s", what, st && st->dir ? st->dir : "", msg);
    log_event(LOG_DEBUG, "store.rocksdb_error", "op=%s code=%d", what, -code);
    free(rerr);
    return code;
}

/* ---- merge operator and compaction filter ---- */

static char *sum_full_merge(void *state, const char *key, size_t klen, const char *existing,
                            size_t elen, const char *const *ops, const size_t *op_lens, int n,
                            unsigned char *success, size_t *new_len)
{
    (void)state;
    (void)key;
    (void)klen;
    double sum = (existing && elen == 8) ? get_double(existing) : 0.0;
    for (int i = 0; i < n; i++) {
        if (op_lens[i] == 8)
            sum += get_double(ops[i]);
    }
    char *out = malloc(8);
    if (!out) {
        *success = 0;
        return NULL;
    }
    put_double((unsigned char *)out, sum);
    *new_len = 8;
    *success = 1;
    return out;
}

static char *sum_partial_merge(void *state, const char *key, size_t klen, const char *const *ops,
                               const size_t *op_lens, int n, unsigned char *success,
                               size_t *new_len)
{
    return sum_full_merge(state, key, klen, NULL, 0, ops, op_lens, n, success, new_len);
}

static void sum_delete_value(void *state, const char *value, size_t len)
{
    (void)state;
    (void)len;
    free((void *)value);
}

static void noop_destructor(void *state)
{
    (void)state;
}

static const char *sum_name(void *state)
{
    (void)state;
    return "byokwatch.sum.v1";
}

static unsigned char retention_filter(void *state, int level, const char *key, size_t klen,
                                      const char *val, size_t vlen, char **new_val,
                                      size_t *new_vlen, unsigned char *changed)
{
    (void)level;
    (void)val;
    (void)vlen;
    (void)new_val;
    (void)new_vlen;
    *changed = 0;
    const struct ts_store *st = state;
    if (klen != KEY_LEN)
        return 0;
    int64_t bucket = time_dec(get_be64((const unsigned char *)key + 8));
    return bucket < st->clock() - st->retention;
}

static const char *retention_name(void *state)
{
    (void)state;
    return "byokwatch.retention.v1";
}

/* ---- canonical keys ---- */

static int valid_name(const char *s, int allow_colon)
{
    if (!s || !*s)
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (p != s && c >= '0' && c <= '9') || (allow_colon && c == ':');
        if (!ok)
            return 0;
    }
    return 1;
}

static int label_cmp(const void *a, const void *b)
{
    const struct ts_label *x = a, *y = b;
    return strcmp(x->name, y->name);
}

int ts_canonical_key(const char *metric, const struct ts_label *labels, size_t n, char *buf,
                     size_t len)
{
    if (!valid_name(metric, 1) || len == 0)
        return -TS_EINVAL;
    struct ts_label sorted[64] = {{0}};
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!valid_name(labels[i].name, 0))
            return -TS_EINVAL;
        if (!labels[i].value || !labels[i].value[0])
            continue;
        if (m == sizeof sorted / sizeof sorted[0])
            return -TS_EINVAL;
        sorted[m++] = labels[i];
    }
    qsort(sorted, m, sizeof sorted[0], label_cmp);
    size_t o = 0;
    int w = snprintf(buf, len, "%s{", metric);
    if (w < 0 || (size_t)w >= len)
        return -TS_EINVAL;
    o = (size_t)w;
    for (size_t i = 0; i < m; i++) {
        if (i > 0 && strcmp(sorted[i - 1].name, sorted[i].name) == 0)
            return -TS_EINVAL;
        w = snprintf(buf + o, len - o, "%s%s=\"", i ? "," : "", sorted[i].name);
        if (w < 0 || (size_t)w >= len - o)
            return -TS_EINVAL;
        o += (size_t)w;
        for (const char *p = sorted[i].value; *p; p++) {
            const char *esc = NULL;
            if (*p == '\\')
                esc = "\\\\";
            else if (*p == '"')
                esc = "\\\"";
            else if (*p == '\n')
                esc = "\\n";
            size_t need = esc ? 2 : 1;
            if (o + need >= len)
                return -TS_EINVAL;
            if (esc) {
                buf[o++] = esc[0];
                buf[o++] = esc[1];
            } else {
                buf[o++] = *p;
            }
        }
        if (o + 1 >= len)
            return -TS_EINVAL;
        buf[o++] = '"';
    }
    if (o + 2 > len)
        return -TS_EINVAL;
    buf[o++] = '}';
    buf[o] = '\0';
    return 0;
}

/*
 * Builds a series record from its canonical key by parsing it back. The
 * record owns one string block: key copy, then metric, then for each label
 * name and unescaped value.
 */
static struct series_rec *series_from_key(uint64_t id, const char *key, size_t klen)
{
    struct series_rec *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    size_t n_labels = 0;
    int in_q = 0;
    for (size_t i = 0; i < klen; i++) {
        if (key[i] == '\\' && in_q) {
            i++;
            continue;
        }
        if (key[i] == '"') {
            in_q = !in_q;
            if (in_q)
                n_labels++;
        }
    }
    r->strings = malloc(2 * klen + 2);
    r->labels = calloc(n_labels ? n_labels : 1, sizeof *r->labels);
    if (!r->strings || !r->labels)
        goto fail;
    char *s = r->strings;
    memcpy(s, key, klen);
    s[klen] = '\0';
    r->pub.key = s;
    char *o = s + klen + 1;
    const char *p = key, *end = key + klen;
    const char *brace = memchr(key, '{', klen);
    if (!brace || end[-1] != '}')
        goto fail;
    r->pub.metric = o;
    memcpy(o, p, (size_t)(brace - p));
    o += brace - p;
    *o++ = '\0';
    p = brace + 1;
    size_t li = 0;
    while (p < end - 1 && li < n_labels) {
        if (*p == ',')
            p++;
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (!eq || eq + 1 >= end || eq[1] != '"')
            goto fail;
        r->labels[li].name = o;
        memcpy(o, p, (size_t)(eq - p));
        o += eq - p;
        *o++ = '\0';
        p = eq + 2;
        r->labels[li].value = o;
        while (p < end && *p != '"') {
            if (*p == '\\' && p + 1 < end) {
                p++;
                *o++ = *p == 'n' ? '\n' : *p;
            } else {
                *o++ = *p;
            }
            p++;
        }
        if (p >= end)
            goto fail;
        *o++ = '\0';
        p++;
        li++;
    }
    if (li != n_labels)
        goto fail;
    r->pub.id = id;
    r->pub.labels = r->labels;
    r->pub.n_labels = n_labels;
    return r;
fail:
    free(r->strings);
    free(r->labels);
    free(r);
    return NULL;
}

static void series_free(struct series_rec *r)
{
    if (!r)
        return;
    free(r->strings);
    free(r->labels);
    free(r);
}

static int registry_add(struct ts_store *st, struct series_rec *r)
{
    uint64_t id = r->pub.id;
    if (id == 0)
        return -1;
    if (id > st->by_id_cap) {
        size_t ncap = st->by_id_cap ? st->by_id_cap : 256;
        while (ncap < id)
            ncap *= 2;
        struct series_rec **n = realloc(st->by_id, ncap * sizeof(struct series_rec *));
        if (!n)
            return -1;
        memset(n + st->by_id_cap, 0, (ncap - st->by_id_cap) * sizeof(struct series_rec *));
        st->by_id = n;
        st->by_id_cap = ncap;
    }
    if (strmap_put(&st->by_key, r->pub.key, strlen(r->pub.key), (size_t)id) != 0)
        return -1;
    st->by_id[id - 1] = r;
    st->n_series++;
    if (id >= st->next_id)
        st->next_id = id + 1;
    return 0;
}

/* ---- open / close ---- */

static int dir_state(const char *dir, int create, char *err, size_t errlen, int *fresh)
{
    struct stat sb;
    *fresh = 0;
    if (stat(dir, &sb) != 0) {
        if (errno != ENOENT || !create) {
            snprintf(err, errlen, "data directory %s: %s", dir, strerror(errno));
            return -TS_EIO;
        }
        if (mkdir(dir, 0700) != 0) {
            snprintf(err, errlen, "cannot create data directory %s: %s", dir, strerror(errno));
            return -TS_EIO;
        }
        *fresh = 1;
        return 0;
    }
    if (!S_ISDIR(sb.st_mode)) {
        snprintf(err, errlen, "data directory %s is not a directory", dir);
        return -TS_EFOREIGN;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/CURRENT", dir);
    if (stat(path, &sb) == 0)
        return 0;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "data directory %s: %s", dir, strerror(errno));
        return -TS_EIO;
    }
    struct dirent *e;
    char foreign[256] = "";
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strcmp(n, "LOCK") == 0 ||
            strncmp(n, "LOG", 3) == 0)
            continue;
        snprintf(foreign, sizeof foreign, "%s", n);
        break;
    }
    closedir(d);
    if (foreign[0]) {
        snprintf(err, errlen,
                 "data directory %s holds files that are not a byokwatch store (found \"%s\"); "
                 "refusing to use it",
                 dir, foreign);
        return -TS_EFOREIGN;
    }
    if (!create) {
        snprintf(err, errlen, "data directory %s holds no store", dir);
        return -TS_ENOTFOUND;
    }
    *fresh = 1;
    return 0;
}

static int check_families(struct ts_store *st, char *err, size_t errlen)
{
    char *rerr = NULL;
    size_t n = 0;
    char **names = rocksdb_list_column_families(st->dbopts, st->dir, &n, &rerr);
    if (rerr) {
        if (names)
            rocksdb_list_column_families_destroy(names, n);
        return rdb_fail(st, rerr, "reading store", err, errlen);
    }
    int ok = n == CF_COUNT;
    for (size_t i = 0; ok && i < CF_COUNT; i++) {
        int found = 0;
        for (size_t j = 0; j < n; j++)
            found |= strcmp(names[j], cf_names[i]) == 0;
        ok = found;
    }
    rocksdb_list_column_families_destroy(names, n);
    if (!ok) {
        snprintf(err, errlen,
                 "data directory %s holds a RocksDB database that is not a byokwatch store "
                 "(its column families differ); refusing to use it",
                 st->dir);
        return -TS_EFOREIGN;
    }
    return 0;
}

static void setup_options(struct ts_store *st)
{
    st->dbopts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(st->dbopts, 1);
    rocksdb_options_set_create_missing_column_families(st->dbopts, 1);
    rocksdb_options_increase_parallelism(st->dbopts, 2);
    rocksdb_options_set_max_background_jobs(st->dbopts, 2);
    rocksdb_options_set_keep_log_file_num(st->dbopts, 3);
    rocksdb_options_set_max_log_file_size(st->dbopts, 1 << 20);
    rocksdb_options_set_info_log_level(st->dbopts, 2 /* WARN */);
    rocksdb_options_set_paranoid_checks(st->dbopts, 1);

    /* One block cache for the data families: a week's aggregation over
     * thousands of series touches tens of MB of uncompressed blocks. */
    st->block_cache = rocksdb_cache_create_lru(TS_BLOCK_CACHE_BYTES);
    for (int i = 0; i < CF_COUNT; i++) {
        rocksdb_options_t *o = rocksdb_options_create();
        rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
        rocksdb_block_based_options_set_block_cache(t, st->block_cache);
        if (i == CF_POINTS || i == CF_ROLLUP) {
            /* Dense, sequential keys: small blocks (a range read decompresses
             * little it does not need) and no bloom filter (reads are range
             * scans; point lookups only on overwrites of existing buckets). */
            rocksdb_block_based_options_set_block_size(t, (size_t)4 * 1024);
            rocksdb_options_set_compression(o, rocksdb_lz4_compression);
            rocksdb_options_set_bottommost_compression(o, rocksdb_zstd_compression);
            rocksdb_options_set_write_buffer_size(o, 64 << 20);
        } else {
            rocksdb_block_based_options_set_filter_policy(t, rocksdb_filterpolicy_create_bloom(10));
            rocksdb_options_set_compression(o, rocksdb_lz4_compression);
            rocksdb_options_set_write_buffer_size(o, 8 << 20);
        }
        rocksdb_options_set_block_based_table_factory(o, t);
        rocksdb_options_set_level_compaction_dynamic_level_bytes(o, 1);
        if (i == CF_POINTS)
            rocksdb_options_set_compaction_filter(o, st->retention_filter);
        if (i == CF_ROLLUP)
            rocksdb_options_set_merge_operator(o, st->sum_op);
        st->cfopts[i] = o;
        st->table_opts[i] = t;
    }
}

static int meta_get(struct ts_store *st, const char *key, char **val, size_t *vlen, char *err,
                    size_t errlen)
{
    return ts_get(st, TS_META, key, strlen(key), val, vlen, err, errlen);
}

/* True when no family holds a key: a creation interrupted before the marker was written. */
static int all_families_empty(struct ts_store *st)
{
    for (int i = 0; i < CF_COUNT; i++) {
        rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, st->ropts, st->cf[i]);
        rocksdb_iter_seek_to_first(it);
        int valid = rocksdb_iter_valid(it);
        rocksdb_iter_destroy(it);
        if (valid)
            return 0;
    }
    return 1;
}

static int init_meta(struct ts_store *st, int fresh, char *err, size_t errlen)
{
    char *v = NULL;
    size_t vl = 0;
    int rc = meta_get(st, "magic", &v, &vl, err, errlen);
    if (rc == -TS_ENOTFOUND && !st->read_only && (fresh || all_families_empty(st))) {
        char ver[16];
        snprintf(ver, sizeof ver, "%d", TS_SCHEMA_VERSION);
        rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
        rocksdb_writebatch_put_cf(wb, st->cf[CF_META], "magic", 5, MAGIC, strlen(MAGIC));
        rocksdb_writebatch_put_cf(wb, st->cf[CF_META], "schema_version", 14, ver, strlen(ver));
        char *rerr = NULL;
        rocksdb_write(st->db, st->wopts, wb, &rerr);
        rocksdb_writebatch_destroy(wb);
        if (rerr)
            return rdb_fail(st, rerr, "initialising store", err, errlen);
        return 0;
    }
    if (rc == -TS_ENOTFOUND || (rc == 0 && (vl != strlen(MAGIC) || memcmp(v, MAGIC, vl) != 0))) {
        free(v);
        snprintf(err, errlen,
                 "data directory %s holds a RocksDB database without byokwatch's marker; "
                 "refusing to use it",
                 st->dir);
        return -TS_EFOREIGN;
    }
    free(v);
    if (rc != 0)
        return rc;
    v = NULL;
    rc = meta_get(st, "schema_version", &v, &vl, err, errlen);
    if (rc != 0) {
        snprintf(err, errlen, "store %s has no schema version; refusing to use it", st->dir);
        return -TS_ECORRUPT;
    }
    char num[32];
    snprintf(num, sizeof num, "%.*s", (int)(vl < 31 ? vl : 31), v);
    free(v);
    char *endp;
    long ver = strtol(num, &endp, 10);
    if (*endp != '\0' || ver <= 0) {
        snprintf(err, errlen, "store %s has an unreadable schema version \"%s\"", st->dir, num);
        return -TS_ECORRUPT;
    }
    if (ver > TS_SCHEMA_VERSION) {
        snprintf(err, errlen,
                 "store %s has schema version %ld, newer than this byokwatch understands (%d); "
                 "run a newer byokwatch",
                 st->dir, ver, TS_SCHEMA_VERSION);
        return -TS_ESCHEMA;
    }
    v = NULL;
    rc = meta_get(st, "event_seq", &v, &vl, err, errlen);
    if (rc == 0 && vl == 8)
        st->next_seq = get_be64((const unsigned char *)v);
    free(v);
    return rc == 0 || rc == -TS_ENOTFOUND ? 0 : rc;
}

static int load_series(struct ts_store *st, char *err, size_t errlen)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, st->ropts, st->cf[CF_SERIES]);
    int rc = 0;
    for (rocksdb_iter_seek(it, "i", 1); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        if (kl < 1 || k[0] != 'i')
            break;
        if (kl != 9) {
            snprintf(err, errlen, "store %s: malformed series registry entry", st->dir);
            rc = -TS_ECORRUPT;
            break;
        }
        uint64_t id = get_be64((const unsigned char *)k + 1);
        struct series_rec *r = series_from_key(id, v, vl);
        if (!r || registry_add(st, r) != 0) {
            series_free(r);
            snprintf(err, errlen, "store %s: unreadable series registry entry %llu", st->dir,
                     (unsigned long long)id);
            rc = -TS_ECORRUPT;
            break;
        }
    }
    if (rc == 0) {
        char *rerr = NULL;
        rocksdb_iter_get_error(it, &rerr);
        if (rerr)
            rc = rdb_fail(st, rerr, "loading series", err, errlen);
    }
    rocksdb_iter_destroy(it);
    if (st->next_id == 0)
        st->next_id = 1;
    return rc;
}

int ts_open(const char *dir, const struct ts_options *opts, struct ts_store **out, char *err,
            size_t errlen)
{
    struct ts_options def = {0};
    if (!opts)
        opts = &def;
    struct ts_store *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -TS_EIO;
    }
    int rc;
    st->dir = strdup(dir);
    st->retention = opts->retention > 0 ? opts->retention : TS_DEFAULT_RETENTION;
    st->clock = opts->clock ? opts->clock : wall_clock;
    st->read_only = opts->read_only;
    st->next_id = 1;
    if (!st->dir) {
        rc = -TS_EIO;
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    int fresh = 0;
    rc = dir_state(dir, opts->create && !opts->read_only, err, errlen, &fresh);
    if (rc != 0)
        goto fail;

    /* RocksDB's per-operation counters cost ~9% of ingest and reads here. */
    rocksdb_set_perf_level(rocksdb_disable);
    st->sum_op = rocksdb_mergeoperator_create(NULL, noop_destructor, sum_full_merge,
                                              sum_partial_merge, sum_delete_value, sum_name);
    st->retention_filter =
        rocksdb_compactionfilter_create(st, noop_destructor, retention_filter, retention_name);
    setup_options(st);
    st->ropts = rocksdb_readoptions_create();
    st->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(st->wopts, opts->sync ? 1 : 0);
    rocksdb_writeoptions_disable_WAL(st->wopts, 0);

    if (!fresh) {
        rc = check_families(st, err, errlen);
        if (rc != 0)
            goto fail;
    }
    const rocksdb_options_t *cfo[CF_COUNT];
    for (int i = 0; i < CF_COUNT; i++)
        cfo[i] = st->cfopts[i];
    char *rerr = NULL;
    if (st->read_only)
        st->db = rocksdb_open_for_read_only_column_families(st->dbopts, dir, CF_COUNT, cf_names,
                                                            cfo, st->cf, 0, &rerr);
    else
        st->db =
            rocksdb_open_column_families(st->dbopts, dir, CF_COUNT, cf_names, cfo, st->cf, &rerr);
    if (rerr) {
        st->db = NULL;
        rc = rdb_fail(st, rerr, "opening store", err, errlen);
        goto fail;
    }
    rc = init_meta(st, fresh, err, errlen);
    if (rc != 0)
        goto fail;
    rc = load_series(st, err, errlen);
    if (rc != 0)
        goto fail;
    log_event(LOG_DEBUG, "store.open", "series=%zu read_only=%d", st->n_series, st->read_only);
    *out = st;
    return 0;
fail:
    ts_close(st);
    return rc;
}

void ts_close(struct ts_store *st)
{
    if (!st)
        return;
    if (st->db) {
        for (int i = 0; i < CF_COUNT; i++) {
            if (st->cf[i])
                rocksdb_column_family_handle_destroy(st->cf[i]);
        }
        rocksdb_close(st->db);
    }
    for (int i = 0; i < CF_COUNT; i++) {
        if (st->cfopts[i])
            rocksdb_options_destroy(st->cfopts[i]);
        if (st->table_opts[i])
            rocksdb_block_based_options_destroy(st->table_opts[i]);
    }
    if (st->dbopts)
        rocksdb_options_destroy(st->dbopts);
    if (st->retention_filter)
        rocksdb_compactionfilter_destroy(st->retention_filter);
    if (st->block_cache)
        rocksdb_cache_destroy(st->block_cache);
    /* st->sum_op is owned by the rollup family's options (a shared_ptr in
     * RocksDB's C API) and went with them. */
    if (st->ropts)
        rocksdb_readoptions_destroy(st->ropts);
    if (st->wopts)
        rocksdb_writeoptions_destroy(st->wopts);
    for (size_t i = 0; i < st->by_id_cap; i++)
        series_free(st->by_id[i]);
    free(st->by_id);
    strmap_free(&st->by_key);
    for (struct ts_feed *f = st->feeds; f; f = f->next)
        f->st = NULL;
    free(st->log);
    free(st->dir);
    free(st);
}

/* ---- series registry ---- */

int ts_series_get(struct ts_store *st, const char *metric, const struct ts_label *labels, size_t n,
                  const struct ts_series **series, char *err, size_t errlen)
{
    char key[4096];
    if (ts_canonical_key(metric, labels, n, key, sizeof key) != 0) {
        snprintf(err, errlen,
                 "invalid series: metric or label names malformed, duplicated or too long");
        return -TS_EINVAL;
    }
    size_t klen = strlen(key), idv;
    if (strmap_get(&st->by_key, key, klen, &idv) == 0) {
        if (series)
            *series = &st->by_id[idv - 1]->pub;
        return 0;
    }
    if (st->read_only) {
        snprintf(err, errlen, "store is read-only");
        return -TS_EINVAL;
    }
    uint64_t id = st->next_id;
    struct series_rec *r = series_from_key(id, key, klen);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -TS_EIO;
    }
    unsigned char ikey[9];
    ikey[0] = 'i';
    put_be64(ikey + 1, id);
    unsigned char idv8[8];
    put_be64(idv8, id);
    char *kkey = malloc(klen + 2);
    if (!kkey) {
        series_free(r);
        snprintf(err, errlen, "out of memory");
        return -TS_EIO;
    }
    kkey[0] = 'k';
    memcpy(kkey + 1, key, klen + 1);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_writebatch_put_cf(wb, st->cf[CF_SERIES], kkey, klen + 1, (const char *)idv8, 8);
    rocksdb_writebatch_put_cf(wb, st->cf[CF_SERIES], (const char *)ikey, 9, key, klen);
    char *rerr = NULL;
    rocksdb_write(st->db, st->wopts, wb, &rerr);
    rocksdb_writebatch_destroy(wb);
    free(kkey);
    if (rerr) {
        series_free(r);
        return rdb_fail(st, rerr, "registering series in", err, errlen);
    }
    if (registry_add(st, r) != 0) {
        series_free(r);
        snprintf(err, errlen, "out of memory");
        return -TS_EIO;
    }
    if (series)
        *series = &r->pub;
    return 0;
}

const struct ts_series *ts_series_by_id(const struct ts_store *st, uint64_t id)
{
    if (id == 0 || id > st->by_id_cap || !st->by_id[id - 1])
        return NULL;
    return &st->by_id[id - 1]->pub;
}

size_t ts_series_count(const struct ts_store *st)
{
    return st->n_series;
}

static const char *label_value(const struct ts_series *s, const char *name)
{
    for (size_t i = 0; i < s->n_labels; i++) {
        if (strcmp(s->labels[i].name, name) == 0)
            return s->labels[i].value;
    }
    return NULL;
}

static int series_matches(const struct ts_series *s, const char *metric,
                          const struct ts_label *match, size_t n_match)
{
    if (metric && strcmp(s->metric, metric) != 0)
        return 0;
    for (size_t i = 0; i < n_match; i++) {
        const char *v = label_value(s, match[i].name);
        const char *want = match[i].value ? match[i].value : "";
        if (strcmp(v ? v : "", want) != 0)
            return 0;
    }
    return 1;
}

int ts_series_list(const struct ts_store *st, const char *metric, const struct ts_label *match,
                   size_t n_match, const struct ts_series ***out, size_t *n_out)
{
    const struct ts_series **list =
        malloc((st->n_series ? st->n_series : 1) * sizeof(struct ts_series *));
    if (!list)
        return -TS_EIO;
    size_t n = 0;
    for (size_t i = 0; i < st->by_id_cap; i++) {
        const struct series_rec *r = st->by_id[i];
        if (r && series_matches(&r->pub, metric, match, n_match))
            list[n++] = &r->pub;
    }
    *out = list;
    *n_out = n;
    return 0;
}

/* ---- batches ---- */

struct ts_batch *ts_batch_new(void)
{
    return calloc(1, sizeof(struct ts_batch));
}

void ts_batch_clear(struct ts_batch *b)
{
    for (size_t i = 0; i < b->n_events; i++) {
        free(b->events[i].type);
        free(b->events[i].uid);
        free(b->events[i].json);
    }
    for (size_t i = 0; i < b->n_ops; i++) {
        free(b->ops[i].key);
        free(b->ops[i].val);
    }
    b->n_samples = b->n_events = b->n_ops = 0;
}

void ts_batch_free(struct ts_batch *b)
{
    if (!b)
        return;
    ts_batch_clear(b);
    free(b->samples);
    free(b->events);
    free(b->ops);
    free(b);
}

size_t ts_batch_samples(const struct ts_batch *b)
{
    return b->n_samples;
}

int ts_batch_add(struct ts_batch *b, uint64_t series_id, int64_t bucket, double value)
{
    if (arr_reserve((void **)&b->samples, &b->cap_samples, b->n_samples + 1, sizeof *b->samples))
        return -TS_EIO;
    b->samples[b->n_samples] =
        (struct sample){.id = series_id, .bucket = bucket, .value = value, .order = b->n_samples};
    b->n_samples++;
    return 0;
}

int ts_batch_add_event(struct ts_batch *b, const struct ts_event *ev)
{
    if (!ev->type || !ev->json)
        return -TS_EINVAL;
    if (arr_reserve((void **)&b->events, &b->cap_events, b->n_events + 1, sizeof *b->events))
        return -TS_EIO;
    struct ev_rec *r = &b->events[b->n_events];
    r->time = ev->time;
    r->type = strdup(ev->type);
    r->uid = ev->uid && ev->uid[0] ? strdup(ev->uid) : NULL;
    r->json = strdup(ev->json);
    if (!r->type || !r->json || (ev->uid && ev->uid[0] && !r->uid)) {
        free(r->type);
        free(r->uid);
        free(r->json);
        return -TS_EIO;
    }
    b->n_events++;
    return 0;
}

static int add_op(struct ts_batch *b, enum ts_family fam, int del, const void *key, size_t klen,
                  const void *val, size_t vlen)
{
    if (arr_reserve((void **)&b->ops, &b->cap_ops, b->n_ops + 1, sizeof *b->ops))
        return -TS_EIO;
    struct kv_op *op = &b->ops[b->n_ops];
    op->fam = fam;
    op->del = del;
    op->key = malloc(klen ? klen : 1);
    op->val = del ? NULL : malloc(vlen ? vlen : 1);
    if (!op->key || (!del && !op->val)) {
        free(op->key);
        free(op->val);
        return -TS_EIO;
    }
    memcpy(op->key, key, klen);
    op->klen = klen;
    if (!del && vlen)
        memcpy(op->val, val, vlen);
    op->vlen = vlen;
    b->n_ops++;
    return 0;
}

int ts_batch_put(struct ts_batch *b, enum ts_family fam, const void *key, size_t klen,
                 const void *val, size_t vlen)
{
    return add_op(b, fam, 0, key, klen, val, vlen);
}

int ts_batch_delete(struct ts_batch *b, enum ts_family fam, const void *key, size_t klen)
{
    return add_op(b, fam, 1, key, klen, NULL, 0);
}

/* ---- write ---- */

static int sample_cmp(const void *a, const void *b)
{
    const struct sample *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    if (x->bucket != y->bucket)
        return x->bucket < y->bucket ? -1 : 1;
    return x->order < y->order ? -1 : (x->order > y->order);
}

static int is_sorted_unique(const struct sample *s, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        if (s[i - 1].id > s[i].id || (s[i - 1].id == s[i].id && s[i - 1].bucket >= s[i].bucket))
            return 0;
    }
    return 1;
}

/* Finds the highest stored bucket of a series (first write since open). */
static int learn_max_bucket(struct ts_store *st, rocksdb_iterator_t **it, struct series_rec *r,
                            char *err, size_t errlen)
{
    if (!*it)
        *it = rocksdb_create_iterator_cf(st->db, st->ropts, st->cf[CF_POINTS]);
    unsigned char k[KEY_LEN];
    put_be64(k, r->pub.id);
    memset(k + 8, 0xff, 8);
    rocksdb_iter_seek_for_prev(*it, (const char *)k, KEY_LEN);
    r->max_bucket = INT64_MIN;
    if (rocksdb_iter_valid(*it)) {
        size_t kl;
        const unsigned char *kk = (const unsigned char *)rocksdb_iter_key(*it, &kl);
        if (kl == KEY_LEN && get_be64(kk) == r->pub.id)
            r->max_bucket = time_dec(get_be64(kk + 8));
    } else {
        char *rerr = NULL;
        rocksdb_iter_get_error(*it, &rerr);
        if (rerr)
            return rdb_fail(st, rerr, "reading points in", err, errlen);
    }
    r->max_known = 1;
    return 0;
}

int ts_series_last(struct ts_store *st, uint64_t id, int64_t *last, char *err, size_t errlen)
{
    if (id == 0 || id > st->by_id_cap || !st->by_id[id - 1]) {
        snprintf(err, errlen, "unknown series id %llu", (unsigned long long)id);
        return -TS_EINVAL;
    }
    struct series_rec *r = st->by_id[id - 1];
    rocksdb_iterator_t *it = NULL;
    int rc = r->max_known ? 0 : learn_max_bucket(st, &it, r, err, errlen);
    if (it)
        rocksdb_iter_destroy(it);
    *last = r->max_bucket;
    return rc;
}

static const rocksdb_column_family_handle_t *kv_cf(const struct ts_store *st, enum ts_family f)
{
    switch (f) {
    case TS_META: return st->cf[CF_META];
    case TS_ALERTS: return st->cf[CF_ALERTS];
    case TS_OUTBOX: return st->cf[CF_OUTBOX];
    }
    return NULL;
}

static int add_samples(struct ts_store *st, struct ts_batch *b, rocksdb_writebatch_t *wb, char *err,
                       size_t errlen)
{
    struct sample *s = b->samples;
    size_t n = b->n_samples;
    if (!is_sorted_unique(s, n)) {
        qsort(s, n, sizeof *s, sample_cmp);
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            if (o > 0 && s[o - 1].id == s[i].id && s[o - 1].bucket == s[i].bucket)
                s[o - 1] = s[i]; /* later sample for the same bucket wins */
            else
                s[o++] = s[i];
        }
        b->n_samples = n = o;
    }
    int64_t horizon = st->clock() - st->retention;
    for (size_t i = 0; i < n; i++) {
        if (!ts_series_by_id(st, s[i].id)) {
            snprintf(err, errlen, "sample for unknown series id %llu", (unsigned long long)s[i].id);
            return -TS_EINVAL;
        }
        if (s[i].bucket % 3600 != 0) {
            char t[32];
            tu_format_time(s[i].bucket, t, sizeof t);
            snprintf(err, errlen, "sample for %s at %s does not start on the hour; refused",
                     st->by_id[s[i].id - 1]->pub.key, t);
            return -TS_EINVAL;
        }
        if (s[i].bucket < horizon) {
            char t[32];
            tu_format_time(s[i].bucket, t, sizeof t);
            snprintf(err, errlen,
                     "sample for %s at %s is older than the retention horizon; refused",
                     st->by_id[s[i].id - 1]->pub.key, t);
            return -TS_EINVAL;
        }
    }
    rocksdb_iterator_t *it = NULL;
    int rc = 0;
    uint64_t cur_id = 0;
    int64_t cur_day = 0;
    double day_delta = 0;
    int have_day = 0;
    unsigned char k[KEY_LEN], v[8];
    for (size_t i = 0; i < n; i++) {
        struct series_rec *r = st->by_id[s[i].id - 1];
        if (!r->max_known && (rc = learn_max_bucket(st, &it, r, err, errlen)) != 0)
            break;
        point_key(k, s[i].id, s[i].bucket);
        double old = 0;
        if (s[i].bucket <= r->max_bucket) {
            char *rerr = NULL;
            size_t vl = 0;
            char *ov = rocksdb_get_cf(st->db, st->ropts, st->cf[CF_POINTS], (const char *)k,
                                      KEY_LEN, &vl, &rerr);
            if (rerr) {
                rc = rdb_fail(st, rerr, "reading points in", err, errlen);
                break;
            }
            if (ov && vl == 8)
                old = get_double(ov);
            free(ov);
        }
        put_double(v, s[i].value);
        rocksdb_writebatch_put_cf(wb, st->cf[CF_POINTS], (const char *)k, KEY_LEN, (const char *)v,
                                  8);
        int64_t day = s[i].bucket - ((s[i].bucket % 86400 + 86400) % 86400);
        if (have_day && (cur_id != s[i].id || cur_day != day)) {
            point_key(k, cur_id, cur_day);
            put_double(v, day_delta);
            rocksdb_writebatch_merge_cf(wb, st->cf[CF_ROLLUP], (const char *)k, KEY_LEN,
                                        (const char *)v, 8);
            day_delta = 0;
        }
        cur_id = s[i].id;
        cur_day = day;
        have_day = 1;
        s[i].delta = s[i].value - old;
        day_delta += s[i].delta;
    }
    if (rc == 0 && have_day) {
        point_key(k, cur_id, cur_day);
        put_double(v, day_delta);
        rocksdb_writebatch_merge_cf(wb, st->cf[CF_ROLLUP], (const char *)k, KEY_LEN,
                                    (const char *)v, 8);
    }
    if (it)
        rocksdb_iter_destroy(it);
    return rc;
}

static int add_events(struct ts_store *st, struct ts_batch *b, rocksdb_writebatch_t *wb,
                      uint64_t *seq, char *err, size_t errlen)
{
    struct strmap seen = {0};
    int rc = 0;
    for (size_t i = 0; i < b->n_events && rc == 0; i++) {
        struct ev_rec *e = &b->events[i];
        char ukey[1024];
        size_t ul = 0;
        if (e->uid) {
            int w = snprintf(ukey, sizeof ukey, EVENT_UID_PREFIX "%s", e->uid);
            if (w < 0 || (size_t)w >= sizeof ukey) {
                snprintf(err, errlen, "event uid too long");
                rc = -TS_EINVAL;
                break;
            }
            ul = (size_t)w;
            size_t dummy;
            if (strmap_get(&seen, e->uid, strlen(e->uid), &dummy) == 0)
                continue;
            char *rerr = NULL;
            size_t vl;
            char *ov = rocksdb_get_cf(st->db, st->ropts, st->cf[CF_META], ukey, ul, &vl, &rerr);
            if (rerr) {
                rc = rdb_fail(st, rerr, "reading event index in", err, errlen);
                break;
            }
            free(ov);
            if (ov)
                continue;
            if (strmap_put(&seen, e->uid, strlen(e->uid), i) != 0) {
                rc = -TS_EIO;
                snprintf(err, errlen, "out of memory");
                break;
            }
        }
        unsigned char k[KEY_LEN];
        put_be64(k, time_enc(e->time));
        put_be64(k + 8, (*seq)++);
        size_t tl = strlen(e->type), il = e->uid ? strlen(e->uid) : 0, jl = strlen(e->json);
        size_t vl = tl + 1 + il + 1 + jl;
        char *val = malloc(vl);
        if (!val) {
            rc = -TS_EIO;
            snprintf(err, errlen, "out of memory");
            break;
        }
        memcpy(val, e->type, tl + 1);
        if (il)
            memcpy(val + tl + 1, e->uid, il);
        val[tl + 1 + il] = '\0';
        memcpy(val + tl + 2 + il, e->json, jl);
        rocksdb_writebatch_put_cf(wb, st->cf[CF_EVENTS], (const char *)k, KEY_LEN, val, vl);
        free(val);
        if (e->uid)
            rocksdb_writebatch_put_cf(wb, st->cf[CF_META], ukey, ul, (const char *)k, KEY_LEN);
    }
    strmap_free(&seen);
    return rc;
}

/* ---- the change feed ---- */

static void feed_trim(struct ts_store *st)
{
    uint64_t min = st->commit;
    for (struct ts_feed *f = st->feeds; f; f = f->next) {
        if (!f->lost && f->pos < min)
            min = f->pos;
    }
    size_t drop = 0;
    while (drop < st->log_n && st->log[drop].commit <= min)
        drop++;
    if (drop) {
        memmove(st->log, st->log + drop, (st->log_n - drop) * sizeof *st->log);
        st->log_n -= drop;
    }
    if (st->log_n == 0 && st->log_cap > 4096) { /* a burst is over: give its memory back */
        free(st->log);
        st->log = NULL;
        st->log_cap = 0;
    }
}

/* The readers that have not read up to commit lose what they have not read. */
static void feed_lose(struct ts_store *st, uint64_t commit)
{
    for (struct ts_feed *f = st->feeds; f; f = f->next) {
        if (f->pos < commit)
            f->lost = 1;
    }
    st->log_n = 0;
}

/* Records the committed samples s[0..n) for the open readers. */
static void feed_append(struct ts_store *st, const struct sample *s, size_t n)
{
    st->commit++;
    if (!st->feeds)
        return;
    feed_trim(st);
    if (st->log_n + n > TS_FEED_MAX) /* what is kept is for readers behind: they lose it */
        feed_lose(st, st->commit - 1);
    if (n > TS_FEED_MAX ||
        arr_reserve((void **)&st->log, &st->log_cap, st->log_n + n, sizeof *st->log) != 0) {
        feed_lose(st, st->commit); /* this write cannot be kept: everyone loses it */
        return;
    }
    for (size_t i = 0; i < n; i++)
        st->log[st->log_n++] = (struct ts_change){.series = s[i].id,
                                                  .bucket = s[i].bucket,
                                                  .value = s[i].value,
                                                  .delta = s[i].delta,
                                                  .commit = st->commit};
}

struct ts_feed *ts_feed_open(struct ts_store *st)
{
    struct ts_feed *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->st = st;
    f->pos = st->commit;
    f->next = st->feeds;
    st->feeds = f;
    return f;
}

void ts_feed_close(struct ts_feed *f)
{
    if (!f)
        return;
    if (f->st) {
        for (struct ts_feed **p = &f->st->feeds; *p; p = &(*p)->next) {
            if (*p == f) {
                *p = f->next;
                break;
            }
        }
        if (!f->st->feeds)
            f->st->log_n = 0;
    }
    free(f);
}

int ts_feed_read(struct ts_feed *f, const struct ts_change **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!f->st)
        return -1;
    struct ts_store *st = f->st;
    if (f->lost) {
        f->lost = 0;
        f->pos = st->commit;
        return 1;
    }
    size_t lo = 0, hi = st->log_n; /* the first record after f->pos */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (st->log[mid].commit <= f->pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    *out = st->log + lo;
    *n = st->log_n - lo;
    f->pos = st->commit;
    return 0;
}

uint64_t ts_feed_commit(const struct ts_store *st)
{
    return st->commit;
}

int ts_write(struct ts_store *st, struct ts_batch *b, char *err, size_t errlen)
{
    if (st->read_only) {
        snprintf(err, errlen, "store %s is open read-only", st->dir);
        return -TS_EINVAL;
    }
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    uint64_t seq = st->next_seq;
    int rc = add_samples(st, b, wb, err, errlen);
    if (rc == 0 && b->n_events) {
        rc = add_events(st, b, wb, &seq, err, errlen);
        if (rc == 0 && seq != st->next_seq) {
            unsigned char sv[8];
            put_be64(sv, seq);
            rocksdb_writebatch_put_cf(wb, st->cf[CF_META], "event_seq", 9, (const char *)sv, 8);
        }
    }
    for (size_t i = 0; rc == 0 && i < b->n_ops; i++) {
        const struct kv_op *op = &b->ops[i];
        rocksdb_column_family_handle_t *cf = (rocksdb_column_family_handle_t *)kv_cf(st, op->fam);
        if (op->del)
            rocksdb_writebatch_delete_cf(wb, cf, op->key, op->klen);
        else
            rocksdb_writebatch_put_cf(wb, cf, op->key, op->klen, op->val, op->vlen);
    }
    if (rc == 0) {
        char *rerr = NULL;
        rocksdb_write(st->db, st->wopts, wb, &rerr);
        if (rerr)
            rc = rdb_fail(st, rerr, "writing to", err, errlen);
    }
    rocksdb_writebatch_destroy(wb);
    if (rc != 0)
        return rc;
    st->next_seq = seq;
    for (size_t i = 0; i < b->n_samples; i++) {
        struct series_rec *r = st->by_id[b->samples[i].id - 1];
        if (b->samples[i].bucket > r->max_bucket)
            r->max_bucket = b->samples[i].bucket;
    }
    if (b->n_samples)
        feed_append(st, b->samples, b->n_samples);
    return 0;
}

/* ---- reads ---- */

/* An iterator over one family with explicit [lo, hi) bounds; the bound
 * buffers live in this struct, which outlives the iterator. */
struct bounded_iter {
    rocksdb_iterator_t *it;
    rocksdb_readoptions_t *ro;
    unsigned char lo[KEY_LEN], hi[KEY_LEN];
};

static void biter_open(struct ts_store *st, struct bounded_iter *b, int cf, const void *lo,
                       size_t lolen, const void *hi, size_t hilen)
{
    memcpy(b->lo, lo, lolen);
    memcpy(b->hi, hi, hilen);
    b->ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_lower_bound(b->ro, (const char *)b->lo, lolen);
    rocksdb_readoptions_set_iterate_upper_bound(b->ro, (const char *)b->hi, hilen);
    b->it = rocksdb_create_iterator_cf(st->db, b->ro, st->cf[cf]);
}

static int biter_close(struct ts_store *st, struct bounded_iter *b, const char *what, char *err,
                       size_t errlen)
{
    char *rerr = NULL;
    rocksdb_iter_get_error(b->it, &rerr);
    rocksdb_iter_destroy(b->it);
    rocksdb_readoptions_destroy(b->ro);
    return rerr ? rdb_fail(st, rerr, what, err, errlen) : 0;
}

int ts_read_range(struct ts_store *st, uint64_t series_id, int64_t from, int64_t to, int64_t step,
                  int64_t **times, double **values, size_t *n, char *err, size_t errlen)
{
    int cf;
    if (step == TU_HOUR) {
        cf = CF_POINTS;
    } else if (step == TU_DAY) {
        cf = CF_ROLLUP;
        from = tu_floor(from, TU_DAY);
        to = tu_floor(to, TU_DAY);
    } else {
        snprintf(err, errlen, "step must be 1h or 1d");
        return -TS_EINVAL;
    }
    *times = NULL;
    *values = NULL;
    *n = 0;
    if (to <= from)
        return 0;
    unsigned char lo[KEY_LEN], hi[KEY_LEN];
    point_key(lo, series_id, from);
    point_key(hi, series_id, to);
    struct bounded_iter bi;
    biter_open(st, &bi, cf, lo, KEY_LEN, hi, KEY_LEN);
    size_t cap = 0, cnt = 0;
    int64_t *t = NULL;
    double *v = NULL;
    int rc = 0;
    for (rocksdb_iter_seek(bi.it, (const char *)lo, KEY_LEN); rocksdb_iter_valid(bi.it);
         rocksdb_iter_next(bi.it)) {
        size_t kl, vl;
        const unsigned char *k = (const unsigned char *)rocksdb_iter_key(bi.it, &kl);
        const char *val = rocksdb_iter_value(bi.it, &vl);
        if (kl != KEY_LEN || vl != 8)
            continue;
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            int64_t *nt = realloc(t, ncap * sizeof *nt);
            if (nt)
                t = nt;
            double *nv = nt ? realloc(v, ncap * sizeof *nv) : NULL;
            if (!nt || !nv) {
                rc = -TS_EIO;
                snprintf(err, errlen, "out of memory");
                break;
            }
            v = nv;
            cap = ncap;
        }
        t[cnt] = time_dec(get_be64(k + 8));
        v[cnt] = get_double(val);
        cnt++;
    }
    int rc2 = biter_close(st, &bi, "reading", err, errlen);
    if (rc == 0)
        rc = rc2;
    if (rc != 0) {
        free(t);
        free(v);
        return rc;
    }
    *times = t;
    *values = v;
    *n = cnt;
    return 0;
}

struct group_acc {
    char *gkey; /* group values joined by \x1f, each prefixed by 1 (set) or 0 */
    struct ts_label *labels;
    size_t n_labels;
    size_t n_series;
    size_t index; /* row of the group in the dense sum/has matrices */
};

static int group_cmp(const void *a, const void *b)
{
    const struct group_acc *x = a, *y = b;
    return strcmp(x->gkey, y->gkey);
}

static void groups_free(struct group_acc *g, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(g[i].gkey);
        free(g[i].labels);
    }
    free(g);
}

/* Returns the group index of series s, creating the group; -1 on OOM. */
static long group_of(const struct ts_series *s, const struct ts_agg_query *q, struct strmap *map,
                     struct group_acc **groups, size_t *n, size_t *cap)
{
    char key[2048];
    size_t o = 0;
    for (size_t i = 0; i < q->n_group_by; i++) {
        const char *v = label_value(s, q->group_by[i]);
        int w = snprintf(key + o, sizeof key - o, "%c%s\x1f", v ? '1' : '0', v ? v : "");
        if (w < 0 || (size_t)w >= sizeof key - o)
            return -1;
        o += (size_t)w;
    }
    key[o] = '\0';
    size_t idx;
    if (*groups && strmap_get(map, key, o, &idx) == 0)
        return (long)idx;
    if (arr_reserve((void **)groups, cap, *n + 1, sizeof **groups) != 0)
        return -1;
    struct group_acc *g = &(*groups)[*n];
    memset(g, 0, sizeof *g);
    g->gkey = strdup(key);
    g->labels = calloc(q->n_group_by ? q->n_group_by : 1, sizeof *g->labels);
    if (!g->gkey || !g->labels) {
        free(g->gkey);
        free(g->labels);
        return -1;
    }
    for (size_t i = 0; i < q->n_group_by; i++) {
        const char *v = label_value(s, q->group_by[i]);
        if (v)
            g->labels[g->n_labels++] = (struct ts_label){q->group_by[i], v};
    }
    if (strmap_put(map, g->gkey, o, *n) != 0) {
        free(g->gkey);
        free(g->labels);
        return -1;
    }
    g->index = *n;
    return (long)(*n)++;
}

/*
 * One share of an aggregation: series [lo, hi) of the list summed into the
 * dense matrices sum/has (row = group index, column = step) through its
 * own bounded iterator. Runs on the caller's thread or on a helper thread.
 */
struct agg_part {
    struct ts_store *st;
    const struct ts_agg_query *q;
    const struct ts_series **list;
    const long *gidx;
    size_t lo, hi;
    int cf;
    int64_t base;
    size_t n_steps;
    double *sum;
    unsigned char *has;
    int rc;
    char err[256];
};

static void *agg_scan(void *arg)
{
    struct agg_part *p = arg;
    const struct ts_agg_query *q = p->q;
    if (p->lo >= p->hi)
        return NULL;
    unsigned char lo[KEY_LEN], hi[KEY_LEN];
    point_key(lo, p->list[p->lo]->id, q->from);
    point_key(hi, p->list[p->hi - 1]->id, q->to);
    struct bounded_iter bi;
    biter_open(p->st, &bi, p->cf, lo, KEY_LEN, hi, KEY_LEN);
    for (size_t i = p->lo; i < p->hi; i++) {
        double *sum = p->sum + (size_t)p->gidx[i] * p->n_steps;
        unsigned char *has = p->has + (size_t)p->gidx[i] * p->n_steps;
        unsigned char k[KEY_LEN];
        uint64_t id = p->list[i]->id;
        point_key(k, id, q->from);
        for (rocksdb_iter_seek(bi.it, (const char *)k, KEY_LEN); rocksdb_iter_valid(bi.it);
             rocksdb_iter_next(bi.it)) {
            size_t kl, vl;
            const unsigned char *kk = (const unsigned char *)rocksdb_iter_key(bi.it, &kl);
            if (kl != KEY_LEN || get_be64(kk) != id)
                break;
            int64_t t = time_dec(get_be64(kk + 8));
            if (t >= q->to)
                break;
            const char *val = rocksdb_iter_value(bi.it, &vl);
            if (vl != 8)
                continue;
            size_t si = (size_t)((t - p->base) / q->step);
            sum[si] += get_double(val);
            has[si] = 1;
        }
    }
    p->rc = biter_close(p->st, &bi, "aggregating", p->err, sizeof p->err);
    return NULL;
}

int ts_aggregate(struct ts_store *st, const struct ts_agg_query *q, struct ts_agg_result *out,
                 char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!q->metric || (q->step != TU_HOUR && q->step != TU_DAY)) {
        snprintf(err, errlen, "aggregate needs a metric and a step of 1h or 1d");
        return -TS_EINVAL;
    }
    if (q->to <= q->from)
        return 0;
    if (q->from < -TS_MAX_TIME || q->to > TS_MAX_TIME ||
        (q->to - q->from) / q->step >= TS_MAX_RANGE_STEPS) {
        snprintf(err, errlen, "time range too wide: at most %lld steps of %s", TS_MAX_RANGE_STEPS,
                 q->step == TU_DAY ? "1d" : "1h");
        return -TS_EINVAL;
    }
    int64_t base = tu_floor(q->from, q->step);
    size_t n_steps = (size_t)((q->to - base + q->step - 1) / q->step);
    int use_rollup = q->step == TU_DAY && q->from % TU_DAY == 0 && q->to % TU_DAY == 0;

    const struct ts_series **list = NULL;
    size_t n_list = 0;
    if (ts_series_list(st, q->metric, q->match, q->n_match, &list, &n_list) != 0) {
        snprintf(err, errlen, "out of memory");
        return -TS_EIO;
    }
    struct strmap map = {0};
    struct group_acc *groups = NULL;
    size_t n_groups = 0, cap_groups = 0;
    int rc = 0;
    long *gidx = malloc((n_list ? n_list : 1) * sizeof *gidx);
    double *sum[2] = {NULL, NULL};
    unsigned char *has[2] = {NULL, NULL};
    if (!gidx) {
        rc = -TS_EIO;
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n_list; i++) {
        gidx[i] = group_of(list[i], q, &map, &groups, &n_groups, &cap_groups);
        if (gidx[i] < 0) {
            rc = -TS_EIO;
            snprintf(err, errlen, "out of memory or group labels too long");
            goto done;
        }
        groups[gidx[i]].n_series++;
    }
    /* A large aggregation is split across two threads, each with its own
     * iterator and matrices, joined before returning (see ts.h). */
    int two = n_list >= TS_AGG_SPLIT_MIN_SERIES && n_list * n_steps >= TS_AGG_SPLIT_MIN_POINTS;
    size_t cells = (n_groups ? n_groups : 1) * n_steps;
    for (int t = 0; t < 1 + two; t++) {
        sum[t] = calloc(cells, sizeof *sum[t]);
        has[t] = calloc(cells, 1);
        if (!sum[t] || !has[t]) {
            rc = -TS_EIO;
            snprintf(err, errlen, "out of memory");
            goto done;
        }
    }
    int cf = use_rollup ? CF_ROLLUP : CF_POINTS;
    size_t half = two ? n_list / 2 : n_list;
    struct agg_part parts[2] = {
        {.st = st,
         .q = q,
         .list = list,
         .gidx = gidx,
         .lo = 0,
         .hi = half,
         .cf = cf,
         .base = base,
         .n_steps = n_steps,
         .sum = sum[0],
         .has = has[0]},
        {.st = st,
         .q = q,
         .list = list,
         .gidx = gidx,
         .lo = half,
         .hi = n_list,
         .cf = cf,
         .base = base,
         .n_steps = n_steps,
         .sum = sum[1],
         .has = has[1]},
    };
    pthread_t helper;
    int threaded = two && pthread_create(&helper, NULL, agg_scan, &parts[1]) == 0;
    agg_scan(&parts[0]);
    if (two && threaded)
        pthread_join(helper, NULL);
    else if (two)
        agg_scan(&parts[1]);
    for (int t = 0; t < 1 + two && rc == 0; t++) {
        if (parts[t].rc != 0) {
            rc = parts[t].rc;
            snprintf(err, errlen, "%s", parts[t].err);
        }
    }
    if (rc == 0 && two) {
        for (size_t c = 0; c < cells; c++) {
            sum[0][c] += sum[1][c];
            has[0][c] |= has[1][c];
        }
    }
    if (rc != 0)
        goto done;
    if (n_groups > 1)
        qsort(groups, n_groups, sizeof *groups, group_cmp);
    out->groups = calloc(n_groups ? n_groups : 1, sizeof *out->groups);
    if (!out->groups) {
        rc = -TS_EIO;
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n_groups; i++) {
        struct group_acc *g = &groups[i];
        struct ts_agg_group *o = &out->groups[i];
        const double *gs = sum[0] + g->index * n_steps;
        const unsigned char *gh = has[0] + g->index * n_steps;
        size_t cnt = 0;
        for (size_t k = 0; k < n_steps; k++)
            cnt += gh[k];
        o->times = malloc((cnt ? cnt : 1) * sizeof *o->times);
        o->values = malloc((cnt ? cnt : 1) * sizeof *o->values);
        o->labels = g->labels;
        g->labels = NULL;
        o->n_labels = g->n_labels;
        o->n_series = g->n_series;
        out->n_groups++;
        if (!o->times || !o->values) {
            rc = -TS_EIO;
            snprintf(err, errlen, "out of memory");
            break;
        }
        for (size_t k = 0; k < n_steps; k++) {
            if (gh[k]) {
                o->times[o->n_points] = base + (int64_t)k * q->step;
                o->values[o->n_points++] = gs[k];
            }
        }
    }
    if (rc != 0)
        ts_agg_free(out);
done:
    for (int t = 0; t < 2; t++) {
        free(sum[t]);
        free(has[t]);
    }
    free(gidx);
    free(list);
    strmap_free(&map);
    groups_free(groups, n_groups);
    return rc;
}

void ts_agg_free(struct ts_agg_result *r)
{
    for (size_t i = 0; i < r->n_groups; i++) {
        free(r->groups[i].labels);
        free(r->groups[i].times);
        free(r->groups[i].values);
    }
    free(r->groups);
    memset(r, 0, sizeof *r);
}

int ts_events_scan(struct ts_store *st, int64_t from, int64_t to, const char *type,
                   int (*cb)(const struct ts_event *ev, void *ud), void *ud, char *err,
                   size_t errlen)
{
    if (to <= from)
        return 0;
    unsigned char lo[KEY_LEN], hi[KEY_LEN];
    put_be64(lo, time_enc(from));
    memset(lo + 8, 0, 8);
    put_be64(hi, time_enc(to));
    memset(hi + 8, 0, 8);
    size_t tl = type ? strlen(type) : 0;
    int prefix = tl > 0 && type[tl - 1] == '*';
    if (prefix)
        tl--;
    struct bounded_iter bi;
    biter_open(st, &bi, CF_EVENTS, lo, KEY_LEN, hi, KEY_LEN);
    for (rocksdb_iter_seek(bi.it, (const char *)lo, KEY_LEN); rocksdb_iter_valid(bi.it);
         rocksdb_iter_next(bi.it)) {
        size_t kl, vl;
        const unsigned char *k = (const unsigned char *)rocksdb_iter_key(bi.it, &kl);
        const char *v = rocksdb_iter_value(bi.it, &vl);
        const char *z1 = memchr(v, '\0', vl);
        const char *z2 = z1 ? memchr(z1 + 1, '\0', vl - (size_t)(z1 + 1 - v)) : NULL;
        if (kl != KEY_LEN || !z2)
            continue;
        if (type) {
            size_t etl = (size_t)(z1 - v);
            if (prefix ? (etl < tl || memcmp(v, type, tl) != 0)
                       : (etl != tl || memcmp(v, type, tl) != 0))
                continue;
        }
        size_t jl = vl - (size_t)(z2 + 1 - v);
        char *json = malloc(jl + 1);
        if (!json) {
            biter_close(st, &bi, "scanning events", err, errlen);
            snprintf(err, errlen, "out of memory");
            return -TS_EIO;
        }
        memcpy(json, z2 + 1, jl);
        json[jl] = '\0';
        struct ts_event ev = {.time = time_dec(get_be64(k)),
                              .type = v,
                              .uid = z2 > z1 + 1 ? z1 + 1 : NULL,
                              .json = json,
                              .seq = get_be64(k + 8)};
        int stop = cb(&ev, ud);
        free(json);
        if (stop)
            break;
    }
    return biter_close(st, &bi, "scanning events in", err, errlen);
}

int ts_get(struct ts_store *st, enum ts_family fam, const void *key, size_t klen, char **val,
           size_t *vlen, char *err, size_t errlen)
{
    char *rerr = NULL;
    size_t vl = 0;
    char *v = rocksdb_get_cf(st->db, st->ropts, (rocksdb_column_family_handle_t *)kv_cf(st, fam),
                             key, klen, &vl, &rerr);
    if (rerr)
        return rdb_fail(st, rerr, "reading", err, errlen);
    if (!v) {
        *val = NULL;
        *vlen = 0;
        return -TS_ENOTFOUND;
    }
    /* Return a buffer from our allocator with a NUL after the bytes. */
    char *copy = malloc(vl + 1);
    if (!copy) {
        rocksdb_free(v);
        snprintf(err, errlen, "out of memory");
        return -TS_EIO;
    }
    memcpy(copy, v, vl);
    copy[vl] = '\0';
    rocksdb_free(v);
    *val = copy;
    *vlen = vl;
    return 0;
}

int ts_scan(struct ts_store *st, enum ts_family fam, const void *prefix, size_t plen,
            int (*cb)(const void *key, size_t klen, const void *val, size_t vlen, void *ud),
            void *ud, char *err, size_t errlen)
{
    return ts_scan_from(st, fam, prefix, plen, NULL, 0, cb, ud, err, errlen);
}

int ts_scan_from(struct ts_store *st, enum ts_family fam, const void *prefix, size_t plen,
                 const void *start, size_t slen,
                 int (*cb)(const void *key, size_t klen, const void *val, size_t vlen, void *ud),
                 void *ud, char *err, size_t errlen)
{
    unsigned char lo[256], hi[256];
    if (plen > sizeof lo) {
        snprintf(err, errlen, "scan prefix too long");
        return -TS_EINVAL;
    }
    if (plen > 0) {
        memcpy(lo, prefix, plen);
        memcpy(hi, prefix, plen);
    }
    size_t hlen = plen;
    while (hlen > 0 && hi[hlen - 1] == 0xff)
        hlen--;
    if (hlen > 0)
        hi[hlen - 1]++;
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    if (plen > 0)
        rocksdb_readoptions_set_iterate_lower_bound(ro, (const char *)lo, plen);
    if (hlen > 0)
        rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)hi, hlen);
    rocksdb_iterator_t *it =
        rocksdb_create_iterator_cf(st->db, ro, (rocksdb_column_family_handle_t *)kv_cf(st, fam));
    int after = start && slen >= plen && memcmp(start, prefix, plen) == 0;
    if (after)
        rocksdb_iter_seek(it, (const char *)start, slen);
    else if (plen > 0)
        rocksdb_iter_seek(it, (const char *)lo, plen);
    else
        rocksdb_iter_seek_to_first(it);
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        if (cb(k, kl, v, vl, ud))
            break;
    }
    char *rerr = NULL;
    rocksdb_iter_get_error(it, &rerr);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return rerr ? rdb_fail(st, rerr, "scanning", err, errlen) : 0;
}

int ts_compact(struct ts_store *st, char *err, size_t errlen)
{
    if (st->read_only) {
        snprintf(err, errlen, "store %s is open read-only", st->dir);
        return -TS_EINVAL;
    }
    for (int i = 0; i < CF_COUNT; i++)
        rocksdb_compact_range_cf(st->db, st->cf[i], NULL, 0, NULL, 0);
    return 0;
}
