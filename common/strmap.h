/*
 * A small open-addressing hash map from byte strings to size_t values.
 * Keys are NOT copied: the caller keeps each key's bytes alive and
 * unchanged for as long as the map holds it (the store keys series by
 * their canonical label strings, which it owns).
 */
#ifndef BW_STRMAP_H
#define BW_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap_slot {
    const char *key;
    size_t len;
    uint64_t hash;
    size_t value;
};

struct strmap {
    struct strmap_slot *slots;
    size_t cap; /* power of two, or 0 */
    size_t count;
};

/* Zero-initialised maps are valid and empty. Frees the table only. */
void strmap_free(struct strmap *m);

/* Looks key up; 0 and *value when present, -1 when absent. */
int strmap_get(const struct strmap *m, const char *key, size_t len, size_t *value);

/* Inserts or replaces key -> value; 0 ok, -1 out of memory. */
int strmap_put(struct strmap *m, const char *key, size_t len, size_t value);

/* 64-bit FNV-1a of the bytes. */
uint64_t strmap_hash(const char *key, size_t len);

#endif
