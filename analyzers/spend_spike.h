/*
 * The arithmetic of the spend_spike rule (analyzers/spend_spike.c), pure so
 * that it can be table-tested: where the windows lie, which baseline
 * windows count, the baseline median and the firing decision.
 */
#ifndef BW_ANA_SPEND_SPIKE_H
#define BW_ANA_SPEND_SPIKE_H

#include <stddef.h>
#include <stdint.h>

/*
 * The windows of one evaluation at now, each window seconds long (a whole
 * number of hours): starts[0] is the current window, ending at now floored
 * to the hour; starts[1..] are the baseline / window baseline windows,
 * newest first. They lie right before the current window; for windows of
 * whole days they are whole UTC days ending at the midnight that begins
 * the current window (so they come from daily rollups; the hours between
 * that midnight and the current window belong to neither). With
 * same_hour_of_week and a 1h window they are instead the same hour in each
 * of the baseline / 7d previous weeks.
 * Fills at most cap starts (starts may be NULL with cap 0) and returns how
 * many windows there are in all.
 */
size_t ana_spike_windows(int64_t now, int64_t window, int64_t baseline, int same_hour_of_week,
                         int64_t *starts, size_t cap);

/* 1 when the group's first data (INT64_MAX = none) is at or before now - learning. */
int ana_spike_learned(int64_t first, int64_t now, int64_t learning);

/*
 * The baseline: the median of spend[i] over the n baseline windows whose
 * start is at or after first (windows beginning before the group's first
 * data are missing, not zero). scratch holds n doubles. *n_present gets the
 * number of windows that counted. NAN when none did.
 */
double ana_spike_baseline(const double *spend, const int64_t *starts, size_t n, int64_t first,
                          double *scratch, size_t *n_present);

/*
 * The decision. Fires (returns 1) when learned, the baseline is known (not
 * NAN), value >= min_spend and either value / baseline reaches threshold
 * (ana_spend_reached: exactly at the threshold fires) or the baseline is 0
 * and value > 0 ("new spend": *ratio is then NAN). *ratio is value /
 * baseline whenever that is defined.
 */
int ana_spike_fires(double value, double baseline, double threshold, double min_spend, int learned,
                    double *ratio);

#endif
