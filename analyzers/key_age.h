/*
 * The decision of the key_age rule (analyzers/key_age.c), pure so the tests
 * can table it: given one inventory item (an API or admin key as the
 * collector stored it under "inv/<account>/<kind>/<id>"), is it too old or
 * idle for too long at a given time.
 */
#ifndef BW_ANA_KEY_AGE_H
#define BW_ANA_KEY_AGE_H

#include <jansson.h>
#include <stdint.h>

struct ana_key_verdict {
    int active;           /* status absent or "active", and not past expires_at */
    int too_old;          /* fires with reason "age" */
    int idle;             /* fires with reason "idle" */
    double age_days;      /* (now - created_at) / 1d, NAN when unknown */
    double idle_days;     /* (now - last_used_at) / 1d, NAN when unknown */
    int64_t created_at;   /* 0 when unknown */
    int64_t last_used_at; /* 0 when unknown */
    int64_t old_since;    /* created_at + max_age */
    int64_t idle_since;   /* last_used_at + max_idle */
};

/*
 * Judges item at now. A key is active when its "status" is absent, null or
 * "active" (any case) and its "expires_at" (when given) is after now; any
 * other status ("archived", "inactive", "expired", "disabled", "deleted"...)
 * never fires. An active key is too old when created_at < now - max_age
 * (strictly: at exactly max_age it does not fire yet). With max_idle > 0
 * (0 = off) an active key is idle when the provider reports last_used_at
 * and last_used_at < now - max_idle (strictly); a key without last_used_at
 * is never idle (Anthropic does not report it). A key created after now (a
 * backtest before its creation) never fires, nor does one without a usable
 * created_at for the age check. Times are unix seconds (integer, real or
 * RFC 3339 string). Fills *v; never fails.
 */
void ana_key_judge(const json_t *item, int64_t now, int64_t max_age, int64_t max_idle,
                   struct ana_key_verdict *v);

#endif
