/*
 * Small helpers shared by the cmocka test binaries: temporary directories,
 * writing files, and running the byokwatch binary (path in $BW_BIN, default
 * build/byokwatch) to capture its exit code, stdout and stderr.
 */
#ifndef BW_TESTUTIL_H
#define BW_TESTUTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Creates a fresh directory under $TMPDIR (or /tmp); returns a static-free malloc'd path. */
static inline char *tu_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/bwtest.XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

/* Removes a directory tree (rm -rf). */
static inline void tu_rmtree(const char *dir)
{
    if (!dir)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", dir, (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
}

/* Writes text to path with the given mode; 0 ok. */
static inline int tu_write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0)
        return -1;
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    fchmod(fd, mode);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

/* Reads a whole file into a malloc'd string, or NULL. */
static inline char *tu_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

struct tu_run {
    int status; /* exit code, or 128+signal */
    char *out;  /* stdout, malloc'd */
    char *err;  /* stderr, malloc'd */
};

static inline const char *tu_bin(void)
{
    const char *b = getenv("BW_BIN");
    return b && *b ? b : "build/byokwatch";
}

/*
 * Runs the byokwatch binary with argv (NULL-terminated, argv[0] ignored),
 * waits, and fills r. Extra environment entries "K=V" may be given in env
 * (NULL-terminated, may be NULL); they are added to the current environment.
 */
static inline int tu_run_bw(struct tu_run *r, char *const argv[], char *const env[])
{
    char outp[] = "/tmp/bwout.XXXXXX", errp[] = "/tmp/bwerr.XXXXXX";
    memset(r, 0, sizeof *r);
    int fo = mkstemp(outp), fe = mkstemp(errp);
    if (fo < 0 || fe < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(fo, 1);
        dup2(fe, 2);
        for (size_t i = 0; env && env[i]; i++)
            putenv(env[i]);
        execv(tu_bin(), argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    close(fo);
    close(fe);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r->out = tu_read_file(outp);
    r->err = tu_read_file(errp);
    unlink(outp);
    unlink(errp);
    return 0;
}

static inline void tu_run_free(struct tu_run *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/*
 * Starts the byokwatch binary with argv (argv[0] ignored) in the background,
 * its stderr written to logpath and the entries of env ("K=V", NULL-
 * terminated, may be NULL) added to its environment. Returns the pid.
 */
static inline pid_t tu_spawn_bw(char *const argv[], char *const env[], const char *logpath)
{
    pid_t pid = fork();
    if (pid == 0) {
        int log = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(log, 2);
        for (size_t i = 0; env && env[i]; i++)
            putenv(env[i]);
        execv(tu_bin(), argv);
        _exit(127);
    }
    return pid;
}

/* Polls logpath every step_ms (at most tries times) until it contains needle; 1 when it did. */
static inline int tu_wait_for_log(const char *logpath, const char *needle, int tries, int step_ms)
{
    for (int i = 0; i < tries; i++) {
        usleep((useconds_t)step_ms * 1000);
        char *log = tu_read_file(logpath);
        int found = log && strstr(log, needle);
        free(log);
        if (found)
            return 1;
    }
    return 0;
}

#endif
