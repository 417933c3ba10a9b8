/*
 * libFuzzer target for the price table loader: the input is written to a
 * scratch file and loaded with col_prices_load(); a loaded table is asked
 * for a few prices (which walks the match trees and dated price lists the
 * load built) and freed. Seeds: tests/fuzz/corpus/prices/.
 */
#include <math.h>
#include <string.h>

#include "../../collector/prices.h"
#include "fuzz.h"

/* Lookups: the seeds' own model names plus real ones; provider NULL means any. */
static const char *const fz_lookups[][2] = {
    {"openai", "gpt-4o"},
    {"openai", "gpt-4o-mini-2024-07-18"},
    {"anthropic", "claude-sonnet-4-5"},
    {"anthropic", "Claude-3-5-Haiku-20241022"},
    {"google", "gemini-1.5-pro"},
    {"acme", "wrapped-model"},
    {"acme", "x"},
    {NULL, "gpt-4o"},
    {"", "claude-opus-4-1"},
    {"mistral", ""},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_quiet_log();
    const char *path = fz_write_temp(data, size);
    struct col_prices *p = NULL;
    char err[512];
    memset(err, 'x', sizeof err);
    int rc = col_prices_load(path, &p, err, sizeof err);
    FZ_CHECK(rc == 0 || rc == -1, "col_prices_load returns 0 or -1");
    if (fz_verbose())
        fprintf(stderr, "fuzz: prices: rc=%d%s%.*s\n", rc, rc ? " err=" : "",
                rc ? (int)sizeof err : 0, err);
    if (rc != 0) {
        FZ_CHECK(p == NULL, "a failed col_prices_load leaves *out untouched");
        FZ_CHECK(fz_err_ok(err, sizeof err), "a failed col_prices_load says why in err");
        return 0;
    }
    FZ_CHECK(p != NULL, "col_prices_load sets *out on success");

    struct col_prices_stats st;
    col_prices_stats(p, &st);
    size_t found = 0;
    FZ_CHECK(st.skipped_regex <= st.skipped_models, "skipped_regex is part of skipped_models");

    static const int64_t whens[] = {0, 1735689600 /* 2025-01-01 */, INT64_MAX};
    const struct col_usage u = {.input_tokens = 1e6,
                                .input_cached_tokens = 2e5,
                                .input_cache_write_tokens = 1e5,
                                .input_audio_tokens = 1e4,
                                .output_tokens = 5e5,
                                .output_audio_tokens = 1e3,
                                .requests = 42};
    for (size_t i = 0; i < sizeof fz_lookups / sizeof fz_lookups[0]; i++) {
        for (size_t w = 0; w < sizeof whens / sizeof whens[0]; w++) {
            struct col_price pr;
            if (col_prices_find(p, fz_lookups[i][0], fz_lookups[i][1], whens[w], &pr) != 0)
                continue;
            FZ_CHECK(pr.provider_id && pr.model_id, "a found price names its provider and model");
            double cost = col_price_cost(&pr, &u);
            FZ_CHECK(!isnan(cost), "a cost is a number");
            found++;
        }
    }
    if (fz_verbose())
        fprintf(stderr, "fuzz: prices: %zu providers, %zu models, %zu skipped, %zu lookups found\n",
                st.providers, st.models, st.skipped_models, found);
    col_prices_free(p);
    return 0;
}
