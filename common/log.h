/*
 * Structured logging: one line per event on stderr in key=value form,
 * "ts=... level=... event=... key=value ...". A "complaint" throttles a
 * failure that repeats (logged at growing intervals, its recovery once),
 * after collectd's c_complain. Never pass a secret to these functions.
 */
#ifndef BW_LOG_H
#define BW_LOG_H

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Sets the lowest level written; default LOG_INFO. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parses "debug", "info", "warn"/"warning", "error" into *out; 0 ok, -1 unknown. */
int log_parse_level(const char *name, enum log_level *out);

/* Redirects output (tests); NULL restores stderr. The stream is not owned. */
void log_set_stream(FILE *stream);

/*
 * Writes one line: ts=<RFC 3339> level=<level> event=<event> then the
 * caller's key=value text formatted from fmt (may be NULL). Values that
 * may hold spaces or quotes should go through log_quote().
 */
void log_event(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Quotes a value for key=value output into buf: bare when it has no space,
 * quote, backslash, '=' or control character, else "..." with \" \\ \n
 * escapes. Always NUL-terminates; returns buf.
 */
const char *log_quote(const char *value, char *buf, size_t len);

/*
 * Throttle for a repeating failure. Zero-initialise. log_complain() writes
 * the line when the failure is new or its interval has passed, then doubles
 * the interval (from 1 s up to 1 day); log_release() writes a recovery line
 * once when a complaint was active.
 */
struct log_complaint {
    time_t next;     /* earliest time of the next line */
    time_t interval; /* current interval in seconds; 0 = not complaining */
    unsigned long suppressed;
};

void log_complain(struct log_complaint *c, time_t now, enum log_level level, const char *event,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void log_release(struct log_complaint *c, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Shows a one-line progress status on stderr when it is a terminal (and
 * does nothing otherwise): the line is redrawn in place and cleared by the
 * next log line or by log_progress_end().
 */
void log_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_progress_end(void);

/*
 * Returns a display form of a secret: "..." plus its last four characters
 * when it is at least 12 characters long, else "****". Writes into buf.
 */
const char *log_secret_tail(const char *secret, char *buf, size_t len);

#endif
