/*
 * Open addressing with linear probing and a load factor of at most 1/2;
 * no deletion (the store's registries only grow during a process's life).
 */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

uint64_t strmap_hash(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void strmap_free(struct strmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static struct strmap_slot *find(const struct strmap *m, const char *key, size_t len, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        struct strmap_slot *s = &m->slots[i];
        if (!s->key)
            return s;
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
            return s;
    }
}

int strmap_get(const struct strmap *m, const char *key, size_t len, size_t *value)
{
    if (m->cap == 0)
        return -1;
    struct strmap_slot *s = find(m, key, len, strmap_hash(key, len));
    if (!s->key)
        return -1;
    *value = s->value;
    return 0;
}

static int grow(struct strmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    struct strmap_slot *old = m->slots;
    size_t ocap = m->cap;
    m->slots = calloc(ncap, sizeof *m->slots);
    if (!m->slots) {
        m->slots = old;
        return -1;
    }
    m->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].key)
            *find(m, old[i].key, old[i].len, old[i].hash) = old[i];
    }
    free(old);
    return 0;
}

int strmap_put(struct strmap *m, const char *key, size_t len, size_t value)
{
    if ((m->count + 1) * 2 > m->cap && grow(m) != 0)
        return -1;
    uint64_t h = strmap_hash(key, len);
    struct strmap_slot *s = find(m, key, len, h);
    if (!s->key) {
        s->key = key;
        s->len = len;
        s->hash = h;
        m->count++;
    }
    s->value = value;
    return 0;
}
