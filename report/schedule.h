/*
 * The weekly report's schedule (config "report"): when a completed ISO
 * week's report is due ("mon 09:00" = the Monday after the week, 09:00
 * UTC), writing it in every configured form into out_dir, and the short
 * summary the sinks listed in report.sinks receive. The daemon keeps the
 * last week written in meta ("report/last_week") so a restart never writes
 * or announces the same week twice.
 */
#ifndef BW_REP_SCHEDULE_H
#define BW_REP_SCHEDULE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../collector/config.h"
#include "../storage/ts.h"

#define REP_LAST_WEEK_KEY "report/last_week"

/* Parses "mon 09:00" into the ISO weekday (1 = Monday) and minutes after midnight. 0 ok. */
int rep_schedule_parse(const char *s, int *weekday, int *minute);

/*
 * The week whose report is due at now under schedule: the last complete ISO
 * week before now, once now has reached its due time (the following week's
 * weekday at the given time, UTC). 1 with [*from, *to) and its name
 * ("2026-W47") in week when due, 0 when not yet, -1 on a bad schedule.
 */
int rep_schedule_due(const char *schedule, int64_t now, int64_t *from, int64_t *to, char *week,
                     size_t weeklen);

/*
 * Writes the report of [from, to) into cfg->report.out_dir (created when
 * missing) as byokwatch-<week>.<form> for every configured form, each
 * atomically (temporary file, fsync, rename). Returns 0 with the built
 * report in *report (caller frees) and the files' common path stem in
 * stem ("./reports/byokwatch-2026-W47"); -1 with err.
 */
int rep_write_week(struct ts_store *st, const struct config *cfg, int64_t from, int64_t to,
                   int64_t now, const char *week, json_t **report, char *stem, size_t stemlen,
                   char *err, size_t errlen);

/*
 * The summary notification for the report sinks: an INTERFACE.md alert
 * payload (rule "weekly_report", severity info, status firing) whose
 * summary gives the headline figures, the five largest movers among
 * projects, the number of alerts and where the files are. Its id is
 * "report-<week>", so a receiver can drop a repeat. New reference.
 */
json_t *rep_summary_payload(const json_t *report, const char *week, const char *stem, int64_t now);

#endif
