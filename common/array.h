/*
 * Growable arrays: the one capacity-doubling helper the store, the
 * collector's page output and others share.
 */
#ifndef BW_ARRAY_H
#define BW_ARRAY_H

#include <stddef.h>

/*
 * Makes *arr (of *cap elements of elem bytes) hold at least need elements,
 * doubling from 32. The array keeps its contents; *arr and *cap change only
 * on success. 0 ok, -1 when out of memory or the size would overflow.
 */
int arr_reserve(void **arr, size_t *cap, size_t need, size_t elem);

#endif
