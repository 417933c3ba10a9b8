/*
 * The collector daemon: one thread, one event_base, one curl multi handle.
 * Each configured source has its own timer; each of its endpoints is an
 * independent job (window by window, page by page) so a slow or throttled
 * endpoint never delays another, and a source never delays another source.
 * A unit of work (a window, a listing) is committed to the store in one
 * batch together with its cursor.
 */
#ifndef BW_DAEMON_H
#define BW_DAEMON_H

#include <stdint.h>

#include "config.h"

struct col_run_opts {
    const char *config_path; /* re-read on SIGHUP */
    struct config *cfg;      /* ownership passes to the daemon */
    int once;                /* one full cycle of every source, then exit */
    int64_t now;             /* pinned clock (0 = wall clock) */
};

/*
 * Runs the daemon until SIGTERM/SIGINT (or, with once, until every source
 * finished one cycle). Returns the process exit code: 0 when (with once)
 * every source succeeded or (without) after a clean shutdown; 1 on a
 * runtime failure, with the reason logged.
 */
int col_run(struct col_run_opts *opts);

/* Cursor key of a source's endpoint in the store's meta family. */
int col_cursor_key(const char *source, const char *endpoint, char *buf, size_t len);

#endif
