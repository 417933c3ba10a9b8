/*
 * The memory of the test webhook receiver (bw-recv): every delivery it
 * answered, the alert ids found in their JSON bodies (duplicates counted),
 * HMAC signature checks, accepted connections, and the JSON the control
 * endpoints serve. Pure: no sockets, no clock; recv.c does the HTTP.
 */
#ifndef BW_RECVLOG_H
#define BW_RECVLOG_H

#include <stddef.h>

#include <jansson.h>

struct rlog_header {
    const char *name;
    const char *value;
};

struct rlog;

/*
 * A new empty log. hmac_secret (copied; NULL or "" = no signature check)
 * is the key deliveries must be signed with. NULL when out of memory.
 */
struct rlog *rlog_new(const char *hmac_secret);
void rlog_free(struct rlog *l);

/* Forgets every delivery, id and counter (the secret stays). */
void rlog_reset(struct rlog *l);

/* Counts one accepted TCP connection. */
void rlog_connection(struct rlog *l);

/* Counts one connection that carried its first delivery since the last reset. */
void rlog_delivery_connection(struct rlog *l);

/*
 * Records one delivery to path with its headers and body (all copied),
 * answered with status. The signature is checked when a secret is set; the
 * body's alert ids are counted only when status is 2xx (accepted). 0 ok,
 * -1 out of memory (the delivery is then counted but not kept).
 */
int rlog_record(struct rlog *l, const char *path, const struct rlog_header *h, size_t nh,
                const char *body, size_t len, int status);

/*
 * Checks header ("t=<unix>,v1=<hex>[,v1=...]") against HMAC-SHA256 of
 * "<t>.<body>" keyed with secret. 0 when one v1 matches (and *t set),
 * -1 when missing, malformed or wrong.
 */
int rlog_check_signature(const char *secret, const char *header, const char *body, size_t len,
                         long long *t);

/*
 * Appends to out the "id" of every alert in body: a JSON object with a
 * string "id" (or Splunk HEC's {"event":{"id":...}}), an array of such
 * objects, or several such values one after another. Calls fn once per id
 * found; returns how many.
 */
size_t rlog_each_id(const char *body, size_t len, void (*fn)(const char *id, void *ud), void *ud);

/*
 * The counters as a new JSON object: requests, ok, failed, ids, duplicates,
 * no_id, bad_signatures, good_signatures, connections, delivery_connections, last_path,
 * last_status, last_body, last_headers, last_signature_t. Caller owns it;
 * NULL when out of memory.
 */
json_t *rlog_stats(const struct rlog *l);

/* The deliveries from index since on, as a new JSON array; NULL on OOM. */
json_t *rlog_requests(const struct rlog *l, size_t since);

#endif
