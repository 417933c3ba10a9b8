/*
 * The alert lifecycle (INTERFACE.md "The alert"): turns the rules' firing
 * conditions into alerts with a stable fingerprint, fires each fingerprint
 * once until it resolves or its re-alert interval passes, and sends one
 * "resolved" when the condition clears. State lives in the store's alerts
 * family, so a restart neither repeats nor forgets an alert.
 *
 * Keys in the alerts family:
 *   "a/<fingerprint>"            the alert's state (JSON, below)
 *   "n/<16 hex time>/<id>"       a notification: INTERFACE.md's alert
 *                                payload as it is to be delivered
 * A state is {"fingerprint","rule","rule_name","severity","status",
 * "labels","summary","observed","root_causes","details","starts_at",
 * "ends_at","last_eval","last_notified","notifications"}.
 */
#ifndef BW_ALERT_LIFECYCLE_H
#define BW_ALERT_LIFECYCLE_H

#include <stddef.h>
#include <stdint.h>

#include "../analyzers/engine.h"
#include "../storage/ts.h"

#define ALERT_FP_LEN 16 /* hex characters of a fingerprint */

/*
 * Writes the fingerprint of (rule name + labels) into fp (ALERT_FP_LEN+1
 * bytes): the first 64 bits of SHA-256 over the rule name and the labels
 * sorted by name, in hex. Independent of label order.
 */
void alert_fingerprint(const char *rule_name, const struct ana_label *labels, size_t n,
                       char fp[ALERT_FP_LEN + 1]);

struct alert_stats {
    json_t *notifications; /* set by the caller to a JSON array to receive each new
                              notification payload (borrowed), or NULL */
    json_t *firing_now;    /* likewise: the payload of every alert firing after the run
                              (for sinks that want firing alerts re-sent, Alertmanager) */
    size_t firing;         /* alerts firing after the run */
    size_t fired;          /* notifications of newly firing alerts */
    size_t realert;        /* notifications repeated because realert passed */
    size_t resolved;       /* alerts that resolved in this run */
};

/*
 * Applies one engine run at now to the stored states: every candidate of
 * a rule that evaluated fires (or stays firing) its fingerprint; every
 * alert of such a rule that is firing and was not a candidate resolves.
 * Rules that failed (ok == 0) and rules no longer configured keep their
 * alerts unchanged. A state last evaluated after now (a backtest at an
 * earlier time) is left alone. State changes and notifications are put
 * into b; nothing is written until the caller writes b. stats is zeroed
 * except for stats->notifications, which receives a copy of each new
 * notification payload when set. Applying the same
 * results at the same now twice adds nothing the second time.
 * 0 ok, -1 with a message in err (store read or allocation failure).
 */
int alert_apply(struct ts_store *st, struct ts_batch *b, const struct ana_rule_result *results,
                size_t n, int64_t now, struct alert_stats *stats, char *err, size_t errlen);

/*
 * Calls cb with each stored alert state (parsed; borrowed during the call)
 * whose status is status ("firing", "resolved") or any when NULL, in
 * fingerprint order. 0 ok.
 */
int alert_list(struct ts_store *st, const char *status, int (*cb)(const json_t *state, void *ud),
               void *ud, char *err, size_t errlen);

/*
 * Calls cb with each stored notification (parsed payload) generated at or
 * after from, oldest first. 0 ok.
 */
int alert_notifications(struct ts_store *st, int64_t from,
                        int (*cb)(const json_t *payload, void *ud), void *ud, char *err,
                        size_t errlen);

#endif
