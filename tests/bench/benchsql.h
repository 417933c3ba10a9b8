/*
 * The SQLite side the benchmarks compare the store with: statements run
 * with their error printed, a fresh database in WAL mode with
 * synchronous=NORMAL (SQLite's usual fast and safe setting), and the
 * settling step after a load (ANALYZE, the WAL folded into the file).
 * Included by the benchmarks that link SQLite.
 */
#ifndef BW_BENCHSQL_H
#define BW_BENCHSQL_H

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "benchutil.h"

/* Runs sql; 0 ok, -1 with the statement and SQLite's message on stderr. */
static inline int bench_sql_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s: %s\n", sql, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/*
 * Makes dir and opens dir/points.db in it, WAL, synchronous=NORMAL. 0 ok
 * with *out set; -1 with the reason on stderr and *out NULL.
 */
static inline int bench_sql_open(const char *dir, sqlite3 **out)
{
    char path[4096];
    sqlite3 *db = NULL;
    *out = NULL;
    if (mkdir(dir, 0755) != 0 || join_path(path, sizeof path, dir, "points.db") != 0) {
        fprintf(stderr, "sqlite: cannot create %s: %s\n", dir, strerror(errno));
        return -1;
    }
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        fprintf(stderr, "sqlite: open %s: %s\n", path, db ? sqlite3_errmsg(db) : "no memory");
        sqlite3_close(db);
        return -1;
    }
    if (bench_sql_exec(db, "PRAGMA journal_mode=WAL") ||
        bench_sql_exec(db, "PRAGMA synchronous=NORMAL")) {
        sqlite3_close(db);
        return -1;
    }
    *out = db;
    return 0;
}

/* After a load: statistics for the planner, and the WAL folded into the file. */
static inline int bench_sql_settle(sqlite3 *db)
{
    return bench_sql_exec(db, "ANALYZE") || bench_sql_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)")
               ? -1
               : 0;
}

#endif
