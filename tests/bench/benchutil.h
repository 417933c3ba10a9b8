/*
 * Small helpers the benchmarks share: clocks (wall, process CPU), the load
 * average, medians, command-line numbers, and directory trees (join,
 * exists, remove, size).
 */
#ifndef BW_BENCHUTIL_H
#define BW_BENCHUTIL_H

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static inline double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* CPU time of the whole process (every thread) in ms. */
static inline double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The 1-minute load average, to show how busy the machine was; NAN when unknown. */
static inline double loadavg(void)
{
    double l = NAN;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f && fscanf(f, "%lf", &l) != 1)
        l = NAN;
    if (f)
        fclose(f);
    return l;
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) without reordering it; NAN when n == 0 or out of memory. */
static inline double median_of(const double *v, size_t n)
{
    if (n == 0)
        return NAN;
    double *c = malloc(n * sizeof *c);
    if (!c)
        return NAN;
    memcpy(c, v, n * sizeof *c);
    qsort(c, n, sizeof *c, cmp_double);
    double m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2.0;
    free(c);
    return m;
}

static inline double max_of(const double *v, size_t n)
{
    double m = -INFINITY;
    for (size_t i = 0; i < n; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

/* A decimal integer in [lo, hi] (a command-line value); 0 ok, -1 otherwise. */
static inline int bench_parse_num(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static inline int join_path(char *buf, size_t len, const char *a, const char *b)
{
    int n = snprintf(buf, len, "%s/%s", a, b);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static inline int path_exists(const char *p)
{
    struct stat sb;
    return lstat(p, &sb) == 0;
}

/* Removes a directory tree; missing is fine. 0 ok. */
static inline int rm_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(sb.st_mode))
        return unlink(path);
    DIR *dir = opendir(path);
    if (!dir)
        return -1;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char p[4096];
        if (join_path(p, sizeof p, path, de->d_name) != 0 || rm_tree(p) != 0)
            rc = -1;
    }
    closedir(dir);
    if (rmdir(path) != 0)
        rc = -1;
    return rc;
}

/* Sums the sizes of regular files under path. */
static inline uint64_t du_tree(const char *path)
{
    DIR *dir = opendir(path);
    uint64_t total = 0;
    struct dirent *de;
    while (dir && (de = readdir(dir)) != NULL) {
        char p[4096];
        struct stat sb;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
            join_path(p, sizeof p, path, de->d_name) != 0 || lstat(p, &sb) != 0)
            continue;
        total += S_ISDIR(sb.st_mode) ? du_tree(p) : S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
    }
    if (dir)
        closedir(dir);
    return total;
}

#endif
