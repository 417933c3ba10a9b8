/*
 * What the fuzz targets under tests/fuzz/ share: the libFuzzer entry point
 * every target defines (also called by replay.c's main, the plain corpus
 * replayer `make test` runs), and the helpers for targets whose parser
 * reads a file or whose output has invariants to check.
 */
#ifndef BW_FUZZ_H
#define BW_FUZZ_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "../../common/log.h"

/*
 * Runs the parser under test on one input. Frees everything it allocates;
 * calls abort() when the parser breaks its documented contract, so that
 * both libFuzzer and the replayer report the input. Returns 0.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Aborts with a message naming the broken contract. Used instead of
 * assert() so the check stays in -DNDEBUG builds.
 */
#define FZ_CHECK(cond, what)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz: contract broken: %s (%s:%d)\n", (what), __FILE__, __LINE__);    \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/*
 * True when $BW_FUZZ_VERBOSE is set: targets then describe each input's
 * outcome on stderr (for checking what a seed reaches).
 */
static inline int fz_verbose(void)
{
    static int v = -1;
    if (v < 0)
        v = getenv("BW_FUZZ_VERBOSE") != NULL;
    return v;
}

/*
 * Sends the library's log lines, at every level, to /dev/null: the debug
 * lines' formatting is exercised without flooding the fuzzer's output.
 * Idempotent; the stream stays open for the life of the process.
 */
static inline void fz_quiet_log(void)
{
    static FILE *devnull;
    if (devnull)
        return;
    devnull = fopen("/dev/null", "w");
    FZ_CHECK(devnull != NULL, "open /dev/null");
    log_set_stream(devnull);
    log_set_level(LOG_DEBUG);
}

#define FZ_PATH_MAX 4096

/* The path of the process's scratch file for fz_write_temp, or "" before its first call. */
static inline char *fz_temp_path(void)
{
    static char path[FZ_PATH_MAX];
    return path;
}

static inline void fz_remove_temp(void)
{
    if (fz_temp_path()[0])
        unlink(fz_temp_path());
}

/*
 * Replaces the contents of this process's scratch file (created once, mode
 * 0600, under $TMPDIR or /tmp, removed at exit) with data and returns its
 * path (static storage). Aborts when the file cannot be written: a fuzz run
 * that silently tests nothing is worse than one that stops.
 */
static inline const char *fz_write_temp(const uint8_t *data, size_t size)
{
    static int fd = -1;
    char *path = fz_temp_path();
    if (fd < 0) {
        const char *dir = getenv("TMPDIR");
        int n = snprintf(path, FZ_PATH_MAX, "%s/bwfuzz.XXXXXX", dir && *dir ? dir : "/tmp");
        FZ_CHECK(n > 0 && n < FZ_PATH_MAX, "temp path fits");
        fd = mkstemp(path);
        FZ_CHECK(fd >= 0, "mkstemp");
        FZ_CHECK(atexit(fz_remove_temp) == 0, "atexit");
    }
    FZ_CHECK(ftruncate(fd, 0) == 0, "ftruncate temp file");
    size_t off = 0;
    while (off < size) {
        ssize_t w = pwrite(fd, data + off, size - off, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        FZ_CHECK(w > 0, "write temp file");
        off += (size_t)w;
    }
    return path;
}

/* True when err (errlen bytes) holds a non-empty, NUL-terminated message. */
static inline int fz_err_ok(const char *err, size_t errlen)
{
    return errlen > 0 && err[0] != '\0' && memchr(err, '\0', errlen) != NULL;
}

#endif
