/*
 * Group-by engine: an open-addressing hash over masked dimension tuples
 * assigns each item a group, so that a report page sums cells per group.
 */
#include "simgroup.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MASKED INT32_MIN

static uint64_t tuple_hash(const int *t, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint32_t)t[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

int sim_groups_build(struct sim_groups *g, size_t n_items, size_t n_dims, unsigned mask,
                     sim_dims_fn fn, void *ctx)
{
    int rc = -1;
    size_t cap = 16;
    while (cap < n_items * 2)
        cap *= 2;
    memset(g, 0, sizeof *g);
    g->n_items = n_items;
    g->group_of = malloc((n_items ? n_items : 1) * sizeof *g->group_of);
    g->rep = malloc((n_items ? n_items : 1) * sizeof *g->rep);
    int *tuples = malloc((n_items ? n_items : 1) * SIM_MAX_DIMS * sizeof *tuples);
    size_t *slots = calloc(cap, sizeof *slots); /* group index + 1; 0 = empty */
    if (!g->group_of || !g->rep || !tuples || !slots)
        goto out;
    for (size_t i = 0; i < n_items; i++) {
        int dims[SIM_MAX_DIMS] = {0};
        g->group_of[i] = -1;
        if (!fn(ctx, i, dims))
            continue;
        for (size_t d = 0; d < n_dims; d++)
            if (!(mask & (1u << d)))
                dims[d] = MASKED;
        size_t pos = (size_t)tuple_hash(dims, n_dims) & (cap - 1);
        for (;;) {
            size_t s = slots[pos];
            if (s == 0) {
                size_t gi = g->n_groups++;
                memcpy(&tuples[gi * SIM_MAX_DIMS], dims, sizeof dims);
                g->rep[gi] = i;
                slots[pos] = gi + 1;
                g->group_of[i] = (int)gi;
                break;
            }
            if (memcmp(&tuples[(s - 1) * SIM_MAX_DIMS], dims, n_dims * sizeof *dims) == 0) {
                g->group_of[i] = (int)(s - 1);
                break;
            }
            pos = (pos + 1) & (cap - 1);
        }
    }
    rc = 0;
out:
    free(tuples);
    free(slots);
    return rc;
}

void sim_groups_free(struct sim_groups *g)
{
    free(g->group_of);
    free(g->rep);
    memset(g, 0, sizeof *g);
}

int sim_group_mask(const char *const *vals, size_t n_vals, const char *const *names, size_t n_names,
                   unsigned *mask, const char **bad)
{
    *mask = 0;
    for (size_t i = 0; i < n_vals; i++) {
        size_t j = 0;
        while (j < n_names && strcmp(vals[i], names[j]) != 0)
            j++;
        if (j == n_names) {
            *bad = vals[i];
            return -1;
        }
        *mask |= 1u << j;
    }
    return 0;
}
