/*
 * est_cost_usd for one parsed page: the token samples a poller produced are
 * grouped by series and bucket and priced with the genai-prices table
 * (prices.h). Pure, no I/O; the daemon runs it on each col_out before the
 * page goes to the store. Unpriced usage is kept as unpriced_tokens,
 * never as a $0 cost.
 */
#ifndef BW_ESTIMATE_H
#define BW_ESTIMATE_H

#include <stddef.h>

#include "normalize.h"
#include "prices.h"

/*
 * Groups out's samples of the metrics input_tokens (total input, cache
 * included), input_cached_tokens, input_cache_write_tokens, output_tokens
 * (and, when present, input_audio_tokens, output_audio_tokens, requests) by
 * bucket, width and identical label set (in any order). For each group with
 * a token metric and a `model` label it appends one sample with the same
 * labels (sorted by name), bucket and width: est_cost_usd (col_price_cost at the price in
 * force at the bucket start, found by the `provider` and `model` labels),
 * or, when the model has no price, unpriced_tokens = input + output tokens.
 * Groups without a model label or a token metric get nothing. p may be
 * NULL: everything is then unpriced. O(n log n) in out->n_samples. Returns
 * 0, or -1 with err set and out as it was (allocation failure).
 */
int col_estimate_costs(const struct col_prices *p, struct col_out *out, char *err, size_t errlen);

#endif
