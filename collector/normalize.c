/*
 * The col_out container: growable arrays of samples, events and inventory
 * items. Sample strings (metric, label names and values) repeat across a
 * page, so they are interned in a per-col_out pool of chunks: one copy per
 * distinct string, no allocation per sample. No domain logic lives here.
 */
#include "normalize.h"

#include "../common/array.h"

#include <stdlib.h>
#include <string.h>

struct col_pool_chunk {
    struct col_pool_chunk *next;
    size_t used, cap;
    char data[];
};

#define POOL_CHUNK 65536

static const char *intern(struct col_out *o, const char *str)
{
    size_t n = strlen(str), found;
    if (strmap_get(&o->pool, str, n, &found) == 0)
        return (const char *)found;
    struct col_pool_chunk *c = o->chunks;
    if (!c || c->cap - c->used < n + 1) {
        size_t cap = n + 1 > POOL_CHUNK ? n + 1 : POOL_CHUNK;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = o->chunks;
        o->chunks = c;
    }
    char *p = c->data + c->used;
    memcpy(p, str, n + 1);
    c->used += n + 1;
    if (strmap_put(&o->pool, p, n, (size_t)p) != 0)
        return NULL;
    return p;
}

void col_out_free(struct col_out *o)
{
    for (size_t i = 0; i < o->n_events; i++) {
        free(o->events[i].type);
        free(o->events[i].uid);
        free(o->events[i].json);
    }
    for (size_t i = 0; i < o->n_items; i++) {
        free(o->items[i].kind);
        free(o->items[i].id);
        free(o->items[i].json);
    }
    free(o->samples);
    free(o->events);
    free(o->items);
    free(o->next_page);
    strmap_free(&o->pool);
    while (o->chunks) {
        struct col_pool_chunk *next = o->chunks->next;
        free(o->chunks);
        o->chunks = next;
    }
    memset(o, 0, sizeof *o);
}

void col_out_truncate(struct col_out *o, size_t n)
{
    if (n < o->n_samples)
        o->n_samples = n;
}

int col_out_sample(struct col_out *o, const char *metric, const char *const labels[][2], size_t n,
                   int64_t bucket, int64_t width, double value)
{
    if (arr_reserve((void **)&o->samples, &o->cap_samples, o->n_samples + 1, sizeof *o->samples))
        return -1;
    struct col_sample *s = &o->samples[o->n_samples];
    s->n_labels = 0;
    if (!(s->metric = intern(o, metric)))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!labels[i][1] || !labels[i][1][0])
            continue;
        if (s->n_labels == COL_MAX_LABELS)
            return -1;
        struct col_label *l = &s->labels[s->n_labels];
        if (!(l->name = intern(o, labels[i][0])) || !(l->value = intern(o, labels[i][1])))
            return -1;
        s->n_labels++;
    }
    s->bucket = bucket;
    s->width = width;
    s->value = value;
    o->n_samples++;
    return 0;
}

static char *dump(json_t *obj)
{
    return json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
}

int col_out_event(struct col_out *o, int64_t time, const char *type, const char *uid, json_t *obj)
{
    if (arr_reserve((void **)&o->events, &o->cap_events, o->n_events + 1, sizeof *o->events))
        return -1;
    struct col_event *e = &o->events[o->n_events];
    e->time = time;
    e->type = strdup(type);
    e->uid = uid ? strdup(uid) : NULL;
    e->json = dump(obj);
    if (!e->type || !e->json || (uid && !e->uid)) {
        free(e->type);
        free(e->uid);
        free(e->json);
        return -1;
    }
    if (time > o->max_time)
        o->max_time = time;
    o->n_events++;
    return 0;
}

int col_out_item(struct col_out *o, const char *kind, const char *id, json_t *obj)
{
    if (arr_reserve((void **)&o->items, &o->cap_items, o->n_items + 1, sizeof *o->items))
        return -1;
    struct col_item *it = &o->items[o->n_items];
    it->kind = strdup(kind);
    it->id = strdup(id);
    it->json = dump(obj);
    if (!it->kind || !it->id || !it->json) {
        free(it->kind);
        free(it->id);
        free(it->json);
        return -1;
    }
    o->n_items++;
    return 0;
}

int col_out_set_next(struct col_out *o, const char *cursor)
{
    free(o->next_page);
    o->next_page = NULL;
    if (cursor && !(o->next_page = strdup(cursor)))
        return -1;
    return 0;
}
