/*
 * The group-by engine shared by every report endpoint of the simulator:
 * items (series, or series x billed line) are mapped to groups by their
 * dimension tuples, with the dimensions not named in group_by masked out so
 * that results aggregate over them.
 */
#ifndef BW_SIMGROUP_H
#define BW_SIMGROUP_H

#include <stddef.h>

#define SIM_MAX_DIMS 8

/* Fills dims[0..n_dims) for item; returns 1 to include it, 0 to filter it out. */
typedef int (*sim_dims_fn)(void *ctx, size_t item, int dims[SIM_MAX_DIMS]);

struct sim_groups {
    size_t n_items, n_groups;
    int *group_of; /* per item: group index, or -1 when filtered out */
    size_t *rep;   /* per group: its first item, which supplies grouped field values */
};

/*
 * Groups n_items items on the dimensions whose bit is set in mask (bit i =
 * dimension i). Group order is the order of each group's first item.
 * 0 ok, -1 out of memory; free with sim_groups_free either way.
 */
int sim_groups_build(struct sim_groups *g, size_t n_items, size_t n_dims, unsigned mask,
                     sim_dims_fn fn, void *ctx);
void sim_groups_free(struct sim_groups *g);

/*
 * Turns group_by values into a mask over names[]; on an unknown value
 * returns -1 and points *bad at it.
 */
int sim_group_mask(const char *const *vals, size_t n_vals, const char *const *names, size_t n_names,
                   unsigned *mask, const char **bad);

#endif
