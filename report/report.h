/*
 * The weekly report (INTERFACE.md "The weekly report"): rep_build reads one
 * period of whole UTC days and the equally long period before it from the
 * store (daily rollups, the events log, the meta and alerts families) and
 * returns the report as a JSON document with full-precision money; the
 * renderers (render.h) turn that document into md, html and csv. ISO week
 * arithmetic lives here too. Weeks are UTC weeks: a configured timezone is
 * not applied (daily rollups and billed cost are per UTC day).
 */
#ifndef BW_REPORT_H
#define BW_REPORT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../collector/config.h"
#include "../storage/ts.h"

#define REP_MAX_DAYS 366         /* longest period rep_build accepts */
#define REP_TOP_KEYS 20          /* by_api_key lists this many */
#define REP_DEFAULT_MAX_AGE 90LL /* days, rotation due without a key_age rule */

/*
 * The ISO 8601 week `week` of ISO year `year` as [*from, *to) in UTC
 * seconds: Monday 00:00 to the next Monday 00:00. Week 1 is the week
 * holding 4 January, so it may start in the previous calendar year
 * (2026-W01 starts 2025-12-29). 0 ok; -1 when week is not in 1..52 or 53
 * (years with 53 weeks) or year is outside 1..9999.
 */
int rep_iso_week(int year, int week, int64_t *from, int64_t *to);

/* The ISO year and week holding time t (UTC). */
void rep_week_of(int64_t t, int *year, int *week);

/*
 * Parses "YYYY-Www" (e.g. "2026-W47") into the week's [*from, *to).
 * 0 ok, -1 when malformed or the week does not exist.
 */
int rep_parse_week(const char *s, int64_t *from, int64_t *to);

/*
 * The last ISO week that ended at or before now: [*from, *to) with *to the
 * Monday 00:00 UTC at or before now.
 */
void rep_last_complete_week(int64_t now, int64_t *from, int64_t *to);

/*
 * Builds the report of [from, to) (both multiples of a day, at most
 * REP_MAX_DAYS days) with the period of equal length just before it as the
 * comparison; now is the report's "as of" time (key ages, still-open
 * alerts). st and cfg are borrowed (cfg gives business units, the key_age
 * rule's max_age and the configured sources). On success returns 0 and a
 * new JSON object in *out (caller json_decref's) whose top-level keys are
 * period, totals, previous_totals, change_pct, by_provider,
 * by_business_unit, by_project, by_api_key, by_model, daily, alerts, keys,
 * new_entities, auth_failures, countries, unpriced, data_freshness and
 * empty (plus message when the period has no usage data). Returns -1 with a
 * message in err on a bad period, a store read failure or no memory.
 */
int rep_build(struct ts_store *st, const struct config *cfg, int64_t from, int64_t to, int64_t now,
              json_t **out, char *err, size_t errlen);

#endif
