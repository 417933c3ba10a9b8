/*
 * libFuzzer target for the Anthropic poller's page parser: every endpoint
 * of col_anthropic_poller (the first byte picks it, see fuzz_poller.h) on
 * arbitrary page bodies. Seeds: tests/fuzz/corpus/anthropic/. Also built
 * with replay.c as the corpus replayer `make test` runs.
 */
#include "../../collector/anthropic.h"
#include "fuzz_poller.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_poller_one(&col_anthropic_poller, "anthropic", data, size);
}
