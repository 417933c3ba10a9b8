/*
 * The corpus replayer: a main() for the fuzz targets that feeds every file
 * named on the command line, and every regular file of every directory
 * named there (in name order, not recursing), to LLVMFuzzerTestOneInput
 * once. Linked with one target and the normal build flags, it runs the
 * seed corpora in `make test` without libFuzzer. Prints one count line per
 * argument and a total; exits 1 when an argument or file cannot be read or
 * a directory holds no inputs. A crash or broken contract aborts.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

struct tally {
    size_t files;
    size_t bytes;
};

/*
 * Reads path into an exactly sized malloc'd buffer (at least 1 byte, so
 * an empty file still has a valid pointer) and runs the target on it.
 * 0 ok, -1 when the file cannot be read (reported on stderr).
 */
static int replay_file(const char *path, struct tally *t)
{
    int rc = -1;
    uint8_t *buf = NULL;
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) < 0 || st.st_size < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        goto out;
    }
    size_t size = (size_t)st.st_size;
    buf = malloc(size ? size : 1);
    if (!buf) {
        fprintf(stderr, "replay: %s: out of memory\n", path);
        goto out;
    }
    if (size && fread(buf, 1, size, f) != size) {
        fprintf(stderr, "replay: %s: short read\n", path);
        goto out;
    }
    LLVMFuzzerTestOneInput(buf, size);
    t->files++;
    t->bytes += size;
    rc = 0;
out:
    free(buf);
    if (f)
        fclose(f);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays the regular files of dir in name order; 0 ok, -1 when any could not be read. */
static int replay_dir(const char *dir, struct tally *t)
{
    int rc = -1;
    char **names = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **nn = realloc(names, ncap * sizeof *nn);
            if (!nn) {
                fprintf(stderr, "replay: %s: out of memory\n", dir);
                goto out;
            }
            names = nn;
            cap = ncap;
        }
        if (!(names[n] = strdup(e->d_name))) {
            fprintf(stderr, "replay: %s: out of memory\n", dir);
            goto out;
        }
        n++;
    }
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    rc = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        int w = snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (w < 0 || (size_t)w >= sizeof path) {
            fprintf(stderr, "replay: %s/%s: path too long\n", dir, names[i]);
            rc = -1;
            continue;
        }
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (replay_file(path, t) < 0)
            rc = -1;
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    int failed = 0;
    struct tally total = {0, 0};
    const char *self = argc > 0 ? argv[0] : "replay";
    if (argc < 2) {
        fprintf(stderr, "usage: %s corpus-dir-or-file ...\n", self);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        struct tally t = {0, 0};
        struct stat st;
        int rc;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            rc = replay_dir(argv[i], &t);
        else
            rc = replay_file(argv[i], &t);
        if (rc == 0 && t.files == 0) {
            fprintf(stderr, "replay: %s: no inputs (an empty corpus tests nothing)\n", argv[i]);
            rc = -1;
        }
        if (rc < 0)
            failed = 1;
        printf("%s: %s: %zu inputs, %zu bytes%s\n", self, argv[i], t.files, t.bytes,
               rc < 0 ? " (FAILED)" : "");
        total.files += t.files;
        total.bytes += t.bytes;
    }
    printf("%s: replayed %zu inputs (%zu bytes)%s\n", self, total.files, total.bytes,
           failed ? "; some arguments FAILED" : ", all ran to completion");
    fflush(stdout);
    return failed;
}
