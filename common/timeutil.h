/*
 * Time helpers shared by every module: RFC 3339 and date parsing, RFC 3339
 * formatting, duration strings ("30s", "5m", "1h30m", "7d", "2w") and UTC
 * bucket arithmetic. All times are UTC Unix seconds (int64_t).
 */
#ifndef BW_TIMEUTIL_H
#define BW_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#define TU_HOUR 3600
#define TU_DAY 86400

/*
 * Parses RFC 3339 ("2026-11-20T13:00:00Z", optional fraction, "Z" or
 * "+hh:mm"/"-hh:mm"; "t"/" " accepted as separator) or a plain date
 * ("2026-11-20", 00:00 UTC). Fractions are truncated. 0 ok, -1 invalid.
 */
int tu_parse_time(const char *s, int64_t *out);

/* Formats t as "YYYY-MM-DDTHH:MM:SSZ" into buf (>= 21 bytes); returns buf. */
const char *tu_format_time(int64_t t, char *buf, size_t len);

/*
 * Parses a duration: one or more <integer><unit> with unit s, m, h, d, w
 * ("90s", "1h30m", "7d"). Must be > 0 and fit in int64 seconds.
 * 0 ok, -1 invalid.
 */
int tu_parse_duration(const char *s, int64_t *out);

/* Formats seconds as the shortest exact form ("1h", "90m", "7d"). */
const char *tu_format_duration(int64_t secs, char *buf, size_t len);

/* Floors t to a multiple of step (step > 0), correct for negative t. */
int64_t tu_floor(int64_t t, int64_t step);

/* Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm). */
int64_t tu_days_from_civil(int64_t y, unsigned m, unsigned d);

/* Inverse of tu_days_from_civil. */
void tu_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

#endif
