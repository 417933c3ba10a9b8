/*
 * The model price table behind est_cost_usd: pydantic's genai-prices data
 * (conf/prices.json, or the file the config's `prices` names) loaded into
 * match trees and dated price lists, plus the usage x price arithmetic.
 * Lookups follow the genai-prices reference implementation; see prices.c
 * for the exact rules and the few places byokwatch has to choose.
 */
#ifndef BW_PRICES_H
#define BW_PRICES_H

#include <stddef.h>
#include <stdint.h>

struct col_prices;

/* Bits of col_price.have: which prices the data gives for the model. */
enum {
    COL_PRICE_INPUT = 1u << 0,
    COL_PRICE_CACHE_READ = 1u << 1,
    COL_PRICE_CACHE_WRITE = 1u << 2,
    COL_PRICE_OUTPUT = 1u << 3,
    COL_PRICE_INPUT_AUDIO = 1u << 4,
    COL_PRICE_OUTPUT_AUDIO = 1u << 5,
    COL_PRICE_REQUESTS = 1u << 6,
    COL_PRICE_TIERED = 1u << 7 /* some price was tiered; its base price is used */
};

/* The prices of one model at one time. Prices absent from the data are 0 and their bit clear. */
struct col_price {
    const char *provider_id; /* genai-prices provider id, borrowed from the table */
    const char *model_id;    /* genai-prices model id, borrowed from the table */
    unsigned have;
    double input_mtok; /* USD per million tokens */
    double cache_read_mtok;
    double cache_write_mtok;
    double output_mtok;
    double input_audio_mtok;
    double output_audio_mtok;
    double requests_kcount; /* USD per thousand requests */
};

/*
 * Usage of one series over one bucket. input_tokens is the TOTAL input,
 * cached reads and cache writes (and audio) included, as OpenAI counts it;
 * the cache and audio counts are parts of it. output_audio_tokens is part
 * of output_tokens. Zero what the provider does not report.
 */
struct col_usage {
    double input_tokens;
    double input_cached_tokens;
    double input_cache_write_tokens;
    double input_audio_tokens;
    double output_tokens;
    double output_audio_tokens;
    double requests;
};

/* What a load kept and what it had to leave out. */
struct col_prices_stats {
    size_t providers;         /* providers loaded */
    size_t models;            /* models loaded */
    size_t skipped_providers; /* provider entries without an id or a models list */
    size_t skipped_models;    /* models of a shape this loader does not support (all causes) */
    size_t skipped_regex;     /* ... of which: a regex POSIX ERE cannot express */
};

/*
 * Loads a genai-prices data file: a JSON array of providers (the v1
 * data.json shape), or an object whose "providers" member is that array.
 * A model whose match rule, constraint or price is of an unsupported shape
 * is skipped with a debug log line and counted; a file that cannot be read,
 * is not JSON or has neither top-level shape fails with a message naming
 * path in err. On success *out is a new table the caller frees with
 * col_prices_free. Returns 0, or -1 with *out untouched.
 */
int col_prices_load(const char *path, struct col_prices **out, char *err, size_t errlen);

/* Copies the load statistics of p into *st. */
void col_prices_stats(const struct col_prices *p, struct col_prices_stats *st);

/*
 * Finds the price of model (as the provider's API names it, compared in
 * lower case) used through provider (a byokwatch provider type such as
 * "openai"; genai-prices provider ids are the same words) at time when
 * (UTC seconds). The provider is the one whose id equals it, else the first
 * whose provider_match accepts it; the model is the first of that
 * provider's models in file order whose match rule accepts it, else the
 * same in each of its fallback_model_providers. A NULL or empty provider
 * picks the first provider whose model_match accepts the model. Returns 0
 * with *out filled (strings borrowed from p), or -1 when the model is
 * unpriced (also when p is NULL or a name is 512 bytes or longer).
 */
int col_prices_find(const struct col_prices *p, const char *provider, const char *model,
                    int64_t when, struct col_price *out);

/*
 * Estimated USD cost of usage u at prices pr: uncached text input at the
 * input price, cache reads and writes and audio at their own prices (at
 * the input or output price when the data has none), requests per
 * thousand. Tiered prices are charged at their base price. Pure.
 */
double col_price_cost(const struct col_price *pr, const struct col_usage *u);

/* Frees a table from col_prices_load; NULL is a no-op. */
void col_prices_free(struct col_prices *p);

#endif
