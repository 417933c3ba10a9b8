/*
 * The alert lifecycle (lifecycle.h): fingerprints, firing/re-alert/resolved
 * transitions and the notifications they produce, kept in the store's
 * alerts family. One run loads every state once (alerts are few next to
 * samples), walks the engine's results, and puts what changed into the
 * caller's batch, which is written together with the rules' own state.
 */
#include "lifecycle.h"

#include <math.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/strmap.h"
#include "../common/timeutil.h"

#define STATE_PREFIX "a/"
#define NOTE_PREFIX "n/"

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int cmp_label(const void *a, const void *b)
{
    const struct ana_label *x = *(const struct ana_label *const *)a;
    const struct ana_label *y = *(const struct ana_label *const *)b;
    return strcmp(x->name, y->name);
}

void alert_fingerprint(const char *rule_name, const struct ana_label *labels, size_t n,
                       char fp[ALERT_FP_LEN + 1])
{
    const struct ana_label *sorted[ANA_MAX_LABELS] = {0};
    size_t m = n < ANA_MAX_LABELS ? n : ANA_MAX_LABELS;
    for (size_t i = 0; i < m; i++)
        sorted[i] = &labels[i];
    qsort((void *)sorted, m, sizeof(const struct ana_label *), cmp_label);
    /* NUL separators keep ("a","bc") and ("ab","c") apart */
    char buf[ANA_NAME_MAX + ANA_MAX_LABELS * (ANA_NAME_MAX + ANA_VALUE_MAX) + 8];
    size_t len = 0;
    unsigned char md[SHA256_DIGEST_LENGTH];
    const char *parts[1 + 2 * ANA_MAX_LABELS];
    size_t np = 0;
    parts[np++] = rule_name;
    for (size_t i = 0; i < m; i++) {
        parts[np++] = sorted[i]->name;
        parts[np++] = sorted[i]->value;
    }
    for (size_t i = 0; i < np; i++) {
        size_t l = strlen(parts[i]) + 1;
        if (len + l > sizeof buf)
            l = sizeof buf - len;
        memcpy(buf + len, parts[i], l);
        len += l;
    }
    SHA256((const unsigned char *)buf, len, md);
    hex(md, ALERT_FP_LEN / 2, fp);
}

/* ---- loading states ---- */

struct states {
    json_t *by_fp; /* fingerprint -> state object */
};

static int load_one(const void *key, size_t klen, const void *val, size_t vlen, void *ud)
{
    struct states *s = ud;
    if (klen != sizeof STATE_PREFIX - 1 + ALERT_FP_LEN)
        return 0;
    json_t *st = json_loadb(val, vlen, 0, NULL);
    if (!json_is_object(st)) {
        json_decref(st);
        return 0; /* a damaged state is treated as absent and rewritten */
    }
    char fp[ALERT_FP_LEN + 1];
    memcpy(fp, (const char *)key + sizeof STATE_PREFIX - 1, ALERT_FP_LEN);
    fp[ALERT_FP_LEN] = '\0';
    return json_object_set_new(s->by_fp, fp, st) == 0 ? 0 : -1;
}

static int64_t jint(const json_t *o, const char *k)
{
    return (int64_t)json_integer_value(json_object_get(o, k));
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* ---- building JSON ---- */

static int set_time(json_t *o, const char *k, int64_t t)
{
    char buf[40];
    if (t == 0)
        return json_object_set_new(o, k, json_null());
    tu_format_time(t, buf, sizeof buf);
    return json_object_set_new(o, k, json_string(buf));
}

static void set_num(json_t *o, const char *k, double v)
{
    if (isfinite(v))
        json_object_set_new(o, k, json_real(v));
}

static json_t *labels_json(const struct ana_candidate *c)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < c->n_labels; i++)
        json_object_set_new(o, c->labels[i].name, json_string(c->labels[i].value));
    return o;
}

static json_t *observed_json(const struct ana_candidate *c)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    set_num(o, "value", c->value);
    set_num(o, "baseline", c->baseline);
    set_num(o, "ratio", c->ratio);
    set_num(o, "threshold", c->threshold);
    set_num(o, "impact_usd", c->impact_usd);
    if (c->window[0])
        json_object_set_new(o, "window", json_string(c->window));
    if (c->unit[0])
        json_object_set_new(o, "unit", json_string(c->unit));
    return o;
}

static json_t *causes_json(const struct ana_candidate *c)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < c->n_causes; i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:f}", "label", c->causes[i].label, "value",
                                           c->causes[i].value, "share", c->causes[i].share));
    return a;
}

/* The delivery payload of INTERFACE.md for a state at generated_at. */
static json_t *payload_of(const json_t *st, int64_t generated_at)
{
    char idsrc[128], id[65];
    unsigned char md[SHA256_DIGEST_LENGTH];
    int n = snprintf(idsrc, sizeof idsrc, "%s/%s/%lld", jstr(st, "fingerprint"), jstr(st, "status"),
                     (long long)generated_at);
    if (n < 0 || (size_t)n >= sizeof idsrc)
        return NULL;
    SHA256((const unsigned char *)idsrc, (size_t)n, md);
    hex(md, 16, id);
    json_t *p = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:O, s:O}", "version", "1", "id", id,
        "fingerprint", jstr(st, "fingerprint"), "status", jstr(st, "status"), "rule",
        jstr(st, "rule"), "rule_name", jstr(st, "rule_name"), "severity", jstr(st, "severity"),
        "summary", jstr(st, "summary"), "labels", json_object_get(st, "labels"), "observed",
        json_object_get(st, "observed"), "root_causes", json_object_get(st, "root_causes"));
    if (!p)
        return NULL;
    json_t *details = json_object_get(st, "details");
    if (details)
        json_object_set(p, "details", details);
    if (set_time(p, "starts_at", jint(st, "starts_at")) ||
        set_time(p, "ends_at", jint(st, "ends_at")) || set_time(p, "generated_at", generated_at)) {
        json_decref(p);
        return NULL;
    }
    return p;
}

static int put_json(struct ts_batch *b, enum ts_family fam, const char *key, const json_t *v)
{
    char *txt = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    if (!txt)
        return -1;
    int rc = ts_batch_put(b, fam, key, strlen(key), txt, strlen(txt));
    free(txt);
    return rc;
}

static int put_state(struct ts_batch *b, const json_t *st)
{
    char key[sizeof STATE_PREFIX + ALERT_FP_LEN];
    snprintf(key, sizeof key, STATE_PREFIX "%s", jstr(st, "fingerprint"));
    return put_json(b, TS_ALERTS, key, st);
}

static int notify(struct ts_batch *b, json_t *st, int64_t now, json_t *sink)
{
    json_t *p = payload_of(st, now);
    if (!p)
        return -1;
    char key[64];
    snprintf(key, sizeof key, NOTE_PREFIX "%016llx/%s", (unsigned long long)now, jstr(p, "id"));
    int rc = put_json(b, TS_ALERTS, key, p);
    if (rc == 0 && sink)
        rc = json_array_append(sink, p);
    json_decref(p);
    if (rc == 0) {
        json_object_set_new(st, "last_notified", json_integer(now));
        json_object_set_new(
            st, "notifications",
            json_integer(json_integer_value(json_object_get(st, "notifications")) + 1));
    }
    return rc;
}

/* ---- applying a run ---- */

static int fire(struct ts_batch *b, json_t *by_fp, json_t *seen, const struct cfg_rule *rule,
                const struct ana_candidate *c, int64_t now, struct alert_stats *stats)
{
    char fp[ALERT_FP_LEN + 1];
    alert_fingerprint(rule->name, c->labels, c->n_labels, fp);
    json_t *st = json_object_get(by_fp, fp);
    if (st && jint(st, "last_eval") > now)
        return 0; /* evaluated later than now already: a backtest leaves it alone */
    int was_firing = st && strcmp(jstr(st, "status"), "firing") == 0;
    int already = json_object_get(seen, fp) != NULL;
    if (!st) {
        st = json_object();
        if (!st || json_object_set_new(by_fp, fp, st) != 0)
            return -1;
    }
    json_object_set_new(seen, fp, json_true());
    if (!was_firing) {
        json_object_set_new(st, "starts_at",
                            json_integer(c->starts_at && c->starts_at <= now ? c->starts_at : now));
        json_object_del(st, "ends_at");
        json_object_set_new(st, "last_notified", json_integer(0));
    }
    if (json_object_set_new(st, "fingerprint", json_string(fp)) ||
        json_object_set_new(st, "rule", json_string(rule->type)) ||
        json_object_set_new(st, "rule_name", json_string(rule->name)) ||
        json_object_set_new(st, "severity", json_string(rule->severity)) ||
        json_object_set_new(st, "status", json_string("firing")) ||
        json_object_set_new(st, "labels", labels_json(c)) ||
        json_object_set_new(st, "summary", json_string(c->summary)) ||
        json_object_set_new(st, "observed", observed_json(c)) ||
        json_object_set_new(st, "root_causes", causes_json(c)) ||
        json_object_set_new(st, "last_eval", json_integer(now)))
        return -1;
    if (c->details)
        json_object_set(st, "details", c->details);
    else
        json_object_del(st, "details");
    int64_t realert = 0;
    const char *rs = json_string_value(json_object_get(rule->params, "realert"));
    if (!rs || tu_parse_duration(rs, &realert) != 0 || realert <= 0)
        realert = 86400;
    int64_t last = jint(st, "last_notified");
    if (!was_firing && !already) {
        if (notify(b, st, now, stats->notifications))
            return -1;
        stats->fired++;
    } else if (last > 0 && now - last >= realert) {
        if (notify(b, st, now, stats->notifications))
            return -1;
        stats->realert++;
    }
    return put_state(b, st);
}

static int resolve(struct ts_batch *b, json_t *st, int64_t now, struct alert_stats *stats)
{
    if (json_object_set_new(st, "status", json_string("resolved")) ||
        json_object_set_new(st, "ends_at", json_integer(now)) ||
        json_object_set_new(st, "last_eval", json_integer(now)))
        return -1;
    if (notify(b, st, now, stats->notifications))
        return -1;
    stats->resolved++;
    return put_state(b, st);
}

int alert_apply(struct ts_store *st, struct ts_batch *b, const struct ana_rule_result *results,
                size_t n, int64_t now, struct alert_stats *stats, char *err, size_t errlen)
{
    struct states s = {.by_fp = json_object()};
    json_t *seen = json_object(), *ok_rules = json_object();
    int rc = -1;
    json_t *sink = stats->notifications, *firing_now = stats->firing_now;
    memset(stats, 0, sizeof *stats);
    stats->notifications = sink;
    stats->firing_now = firing_now;
    if (!s.by_fp || !seen || !ok_rules) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (ts_scan(st, TS_ALERTS, STATE_PREFIX, sizeof STATE_PREFIX - 1, load_one, &s, err, errlen) !=
        0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (!results[i].ok)
            continue;
        json_object_set_new(ok_rules, results[i].rule->name, json_true());
        for (size_t k = 0; k < results[i].res.n; k++) {
            if (fire(b, s.by_fp, seen, results[i].rule, &results[i].res.v[k], now, stats) != 0) {
                snprintf(err, errlen, "cannot record an alert of rule %s", results[i].rule->name);
                goto out;
            }
        }
    }
    const char *fp;
    json_t *state;
    json_object_foreach(s.by_fp, fp, state)
    {
        if (strcmp(jstr(state, "status"), "firing") != 0)
            continue;
        if (json_object_get(seen, fp) || !json_object_get(ok_rules, jstr(state, "rule_name")) ||
            jint(state, "last_eval") > now) {
            stats->firing++;
            json_t *p = stats->firing_now ? payload_of(state, now) : NULL;
            if (p && json_array_append_new(stats->firing_now, p) != 0) {
                snprintf(err, errlen, "out of memory");
                goto out;
            }
            continue;
        }
        if (resolve(b, state, now, stats) != 0) {
            snprintf(err, errlen, "cannot record the resolution of alert %s", fp);
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(s.by_fp);
    json_decref(seen);
    json_decref(ok_rules);
    return rc;
}

/* ---- listing ---- */

struct list_ctx {
    const char *status;
    int (*cb)(const json_t *, void *);
    void *ud;
};

static int list_one(const void *key, size_t klen, const void *val, size_t vlen, void *ud)
{
    struct list_ctx *l = ud;
    (void)key;
    (void)klen;
    json_t *st = json_loadb(val, vlen, 0, NULL);
    int rc = 0;
    if (json_is_object(st) && (!l->status || strcmp(jstr(st, "status"), l->status) == 0))
        rc = l->cb(st, l->ud);
    json_decref(st);
    return rc;
}

int alert_list(struct ts_store *st, const char *status, int (*cb)(const json_t *state, void *ud),
               void *ud, char *err, size_t errlen)
{
    struct list_ctx l = {.status = status, .cb = cb, .ud = ud};
    return ts_scan(st, TS_ALERTS, STATE_PREFIX, sizeof STATE_PREFIX - 1, list_one, &l, err, errlen);
}

struct note_ctx {
    char from_key[32];
    int (*cb)(const json_t *, void *);
    void *ud;
};

static int note_one(const void *key, size_t klen, const void *val, size_t vlen, void *ud)
{
    struct note_ctx *nc = ud;
    size_t fl = strlen(nc->from_key);
    if (klen >= fl && memcmp(key, nc->from_key, fl) < 0)
        return 0;
    json_t *p = json_loadb(val, vlen, 0, NULL);
    int rc = json_is_object(p) ? nc->cb(p, nc->ud) : 0;
    json_decref(p);
    return rc;
}

int alert_notifications(struct ts_store *st, int64_t from,
                        int (*cb)(const json_t *payload, void *ud), void *ud, char *err,
                        size_t errlen)
{
    struct note_ctx nc = {.cb = cb, .ud = ud};
    snprintf(nc.from_key, sizeof nc.from_key, NOTE_PREFIX "%016llx",
             (unsigned long long)(from > 0 ? from : 0));
    return ts_scan(st, TS_ALERTS, NOTE_PREFIX, sizeof NOTE_PREFIX - 1, note_one, &nc, err, errlen);
}
