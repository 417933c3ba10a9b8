/*
 * The durable outbox (issue "Alert sinks"): every notification the
 * lifecycle writes is queued for each sink that wants it, in the same
 * batch that changes the alert's state, and a worker on the daemon's event
 * loop delivers the queue of each sink in order. An attempt is OK (2xx),
 * RETRY (408, 429, 5xx, transport errors: capped exponential backoff with
 * full jitter, Retry-After honoured) or DROP (other 4xx, or older than the
 * sink's max_age: moved to the dead-letter list with the response snippet).
 *
 * Keys in the store's outbox family:
 *   "q/<sink>/<16 hex generated_at>/<id>"  a queued delivery
 *   "d/<sink>/<16 hex time>/<id>"           a dead letter
 */
#ifndef BW_ALERT_OUTBOX_H
#define BW_ALERT_OUTBOX_H

#include <event2/event.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../collector/config.h"
#include "../collector/http.h"
#include "../storage/ts.h"

/*
 * Queues each notification (INTERFACE.md payloads) for every configured
 * sink whose min_severity and rules filters let it through, unless an
 * active silence matches its labels (then it is counted in *silenced and
 * not queued). firing_now (may be NULL) holds every alert firing after the
 * run: Alertmanager sinks get each re-sent (one entry per alert, replaced
 * each run) since Alertmanager expires alerts that are not. Entries go into
 * b. 0 ok, -1 with err.
 */
int alert_outbox_enqueue(struct ts_store *st, struct ts_batch *b, const struct config *cfg,
                         const json_t *notifications, const json_t *firing_now, int64_t now,
                         size_t *queued, size_t *silenced, char *err, size_t errlen);

/*
 * Queues one payload for the named sinks whatever their filters (the weekly
 * report's summary goes to report.sinks). Entries go into b. 0 ok.
 */
int alert_outbox_enqueue_to(struct ts_batch *b, const struct config *cfg, char *const *sinks,
                            size_t n_sinks, const json_t *payload, int64_t now, size_t *queued,
                            char *err, size_t errlen);

/* Number of queued deliveries for sink (NULL = every sink). */
size_t alert_outbox_pending(struct ts_store *st, const char *sink);

/* Calls cb with each dead letter (parsed) of sink (NULL = all). 0 ok. */
int alert_outbox_dead(struct ts_store *st, const char *sink,
                      int (*cb)(const json_t *entry, void *ud), void *ud, char *err, size_t errlen);

/* ---- silences ---- */

/*
 * Silences are kept in "<data_dir>/silences.json" so the CLI can change
 * them while the daemon holds the store; the daemon reads the file each
 * time it queues notifications.
 */

/*
 * Adds a silence for alerts whose labels equal every "label=value" pair of
 * match (comma separated), from now for dur seconds. Writes its id into id
 * (at least 17 bytes). 0 ok, -1 with err (bad matcher, I/O failure).
 */
int alert_silence_add(const char *data_dir, const char *match, int64_t dur, const char *comment,
                      int64_t now, char *id, size_t idlen, char *err, size_t errlen);

/* Calls cb with each silence (parsed; "active" set against now), oldest first. 0 ok. */
int alert_silence_list(const char *data_dir, int64_t now,
                       int (*cb)(const json_t *silence, void *ud), void *ud, char *err,
                       size_t errlen);

/* Ends a silence now. 0 ok, -1 with err (unknown id, I/O failure). */
int alert_silence_expire(const char *data_dir, const char *id, int64_t now, char *err,
                         size_t errlen);

/* Every silence (a new JSON array; [] when there is none), or NULL with err. */
json_t *alert_silences_load(const char *data_dir, char *err, size_t errlen);

/*
 * The id of the first silence active at now whose matchers all hold for
 * alert (a payload or a state: a matcher names one of its labels, or its
 * "rule", "rule_name" or "severity"), or NULL.
 */
const char *alert_silenced_by(const json_t *silences, const json_t *alert, int64_t now);

/* ---- the worker ---- */

struct alert_worker;

struct alert_worker_opts {
    struct event_base *base;
    struct col_http *http;
    struct ts_store *st;
    const struct config *cfg;  /* borrowed; outlives the worker */
    int once;                  /* give up on a sink at its first RETRY (run --once) */
    int fresh_connect;         /* a new connection per delivery (benchmark baseline) */
    int64_t (*now)(void *ud);  /* the daemon's clock */
    void (*on_idle)(void *ud); /* every sink is empty, waiting or given up */
    void *ud;
};

/* 0 ok; -1 with err (a sink failed to initialize: a secret could not be read). */
int alert_worker_new(const struct alert_worker_opts *o, struct alert_worker **out, char *err,
                     size_t errlen);
void alert_worker_free(struct alert_worker *w);

/* Starts delivering what is queued (after an analysis, at start-up, on a timer). */
void alert_worker_kick(struct alert_worker *w);

/* Deliveries this worker moved to the dead-letter list (refused, or too old). */
size_t alert_worker_dead(const struct alert_worker *w);

/* 1 when no delivery is in flight and no sink will try again on its own now. */
int alert_worker_idle(const struct alert_worker *w);

/*
 * Sends payload to one sink now, outside the outbox (sink-test): runs its
 * own event loop until the answer. 0 delivered; -1 with the reason in err.
 */
int alert_sink_send_once(const struct config *cfg, const struct cfg_sink *sink,
                         const json_t *payload, int64_t now, char *err, size_t errlen);

#endif
