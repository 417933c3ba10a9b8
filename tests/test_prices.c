/*
 * Unit tests for collector/prices.c and collector/estimate.c: known prices
 * read by hand from the shipped conf/prices.json (genai-prices), dated and
 * time-of-day prices, every match rule on crafted files under
 * tests/data/prices/, the cost arithmetic (cached and cache-write tokens
 * inside the input total), est_cost_usd / unpriced_tokens on a crafted
 * page, and load errors. Run from the repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../collector/estimate.h"
#include "../collector/normalize.h"
#include "../collector/prices.h"
#include "../common/timeutil.h"

#define SHIPPED "conf/prices.json"
#define RULES "tests/data/prices/rules.json"
#define EPS 1e-9

static int64_t at(const char *rfc3339)
{
    int64_t t = 0;
    assert_int_equal(tu_parse_time(rfc3339, &t), 0);
    return t;
}

static struct col_prices *load_ok(const char *path)
{
    char err[512] = "";
    struct col_prices *p = NULL;
    int rc = col_prices_load(path, &p, err, sizeof err);
    if (rc != 0)
        fail_msg("load %s: %s", path, err);
    assert_non_null(p);
    return p;
}

static int setup_shipped(void **state)
{
    *state = load_ok(SHIPPED);
    return 0;
}

static int setup_rules(void **state)
{
    *state = load_ok(RULES);
    return 0;
}

static int teardown_prices(void **state)
{
    col_prices_free(*state);
    return 0;
}

/* Finds provider/model at when and returns the model id it resolved to (or NULL). */
static const char *find(void **state, const char *provider, const char *model, const char *when,
                        struct col_price *pr)
{
    memset(pr, 0, sizeof *pr);
    if (col_prices_find(*state, provider, model, at(when), pr) != 0)
        return NULL;
    assert_non_null(pr->model_id);
    return pr->model_id;
}

#define NOW "2026-11-27T12:00:00Z"

/* ---- the shipped file ---- */

static void test_shipped_stats(void **state)
{
    struct col_prices_stats st;
    col_prices_stats(*state, &st);
    assert_int_equal(st.providers, 34);
    assert_int_equal(st.skipped_providers, 0);
    assert_int_equal(st.skipped_regex, 0);
    assert_int_equal(st.skipped_models, 0);
    assert_int_equal(st.models, 1442);
}

static void test_shipped_gpt4o(void **state)
{
    struct col_price pr;
    assert_string_equal(find(state, "openai", "gpt-4o", NOW, &pr), "gpt-4o");
    assert_string_equal(pr.provider_id, "openai");
    assert_float_equal(pr.input_mtok, 2.5, EPS);
    assert_float_equal(pr.cache_read_mtok, 1.25, EPS);
    assert_float_equal(pr.output_mtok, 10, EPS);
    assert_int_equal(pr.have, COL_PRICE_INPUT | COL_PRICE_CACHE_READ | COL_PRICE_OUTPUT);
    /* dated snapshot names resolve to the same model; case does not matter */
    assert_string_equal(find(state, "openai", "gpt-4o-2024-08-06", NOW, &pr), "gpt-4o");
    assert_string_equal(find(state, " OpenAI ", "GPT-4o", NOW, &pr), "gpt-4o");
}

static void test_shipped_gpt4o_mini(void **state)
{
    struct col_price pr;
    assert_string_equal(find(state, "openai", "gpt-4o-mini-2024-07-18", NOW, &pr), "gpt-4o-mini");
    assert_float_equal(pr.input_mtok, 0.15, EPS);
    assert_float_equal(pr.cache_read_mtok, 0.075, EPS);
    assert_float_equal(pr.output_mtok, 0.6, EPS);
}

static void test_shipped_claude(void **state)
{
    struct col_price pr;
    assert_string_equal(find(state, "anthropic", "claude-3-5-sonnet-20241022", NOW, &pr),
                        "claude-3-5-sonnet");
    assert_float_equal(pr.input_mtok, 3, EPS);
    assert_float_equal(pr.cache_write_mtok, 3.75, EPS);
    assert_float_equal(pr.cache_read_mtok, 0.3, EPS);
    assert_float_equal(pr.output_mtok, 15, EPS);
    assert_string_equal(find(state, "anthropic", "claude-sonnet-4-20250514", NOW, &pr),
                        "claude-sonnet-4-0");
    assert_float_equal(pr.input_mtok, 3, EPS);
    assert_float_equal(pr.output_mtok, 15, EPS);
    assert_int_equal(pr.have & COL_PRICE_TIERED, 0);
}

/* o3 went from $10/$40 to $2/$8 on 2025-06-10. */
static void test_shipped_dated_o3(void **state)
{
    struct col_price pr;
    assert_string_equal(find(state, "openai", "o3-2025-04-16", "2025-06-09T23:59:59Z", &pr), "o3");
    assert_float_equal(pr.input_mtok, 10, EPS);
    assert_float_equal(pr.output_mtok, 40, EPS);
    assert_float_equal(pr.cache_read_mtok, 0.5, EPS);
    assert_string_equal(find(state, "openai", "o3", "2025-06-10T00:00:00Z", &pr), "o3");
    assert_float_equal(pr.input_mtok, 2, EPS);
    assert_float_equal(pr.output_mtok, 8, EPS);
}

/* claude-sonnet-5: $2/$10 until 2026-08-31, $3/$15 from 2026-09-01. */
static void test_shipped_dated_sonnet5(void **state)
{
    struct col_price pr;
    assert_string_equal(find(state, "anthropic", "claude-sonnet-5", "2026-08-31T23:00:00Z", &pr),
                        "claude-sonnet-5");
    assert_float_equal(pr.input_mtok, 2, EPS);
    assert_float_equal(pr.output_mtok, 10, EPS);
    assert_string_equal(find(state, "anthropic", "claude-sonnet-5", "2026-09-01T00:00:00Z", &pr),
                        "claude-sonnet-5");
    assert_float_equal(pr.input_mtok, 3, EPS);
    assert_float_equal(pr.cache_write_mtok, 3.75, EPS);
    assert_float_equal(pr.output_mtok, 15, EPS);
}

/* claude-sonnet-4-5 is tiered ($3 base, $6 past 200k input): the base price is charged. */
static void test_shipped_tiered(void **state)
{
    struct col_price pr;
    assert_string_equal(find(state, "anthropic", "claude-sonnet-4-5-20250929", NOW, &pr),
                        "claude-sonnet-4-5");
    assert_true(pr.have & COL_PRICE_TIERED);
    assert_float_equal(pr.input_mtok, 3, EPS);
    assert_float_equal(pr.output_mtok, 15, EPS);
    /* claude-opus-4-6 was tiered until 2026-03-13, flat after */
    assert_non_null(find(state, "anthropic", "claude-opus-4-6", "2026-03-12T12:00:00Z", &pr));
    assert_true(pr.have & COL_PRICE_TIERED);
    assert_float_equal(pr.input_mtok, 5, EPS);
    assert_non_null(find(state, "anthropic", "claude-opus-4-6", "2026-03-13T00:00:00Z", &pr));
    assert_false(pr.have & COL_PRICE_TIERED);
    assert_float_equal(pr.input_mtok, 5, EPS);
}

/* deepseek-chat: $0.27 between 00:30 and 16:30 UTC, otherwise the first ($0.135) entry. */
static void test_shipped_time_of_day(void **state)
{
    struct col_price pr;
    assert_string_equal(find(state, "deepseek", "deepseek-chat", "2026-01-05T12:00:00Z", &pr),
                        "deepseek-chat");
    assert_float_equal(pr.input_mtok, 0.27, EPS);
    assert_non_null(find(state, "deepseek", "deepseek-chat", "2026-01-05T16:30:00Z", &pr));
    assert_float_equal(pr.input_mtok, 0.135, EPS);
    assert_non_null(find(state, "deepseek", "deepseek-chat", "2026-01-05T00:29:59Z", &pr));
    assert_float_equal(pr.input_mtok, 0.135, EPS);
}

static void test_shipped_other_providers(void **state)
{
    struct col_price pr;
    assert_string_equal(find(state, "mistral", "mistral-large-latest", NOW, &pr), "mistral-large");
    assert_float_equal(pr.input_mtok, 2, EPS);
    assert_float_equal(pr.output_mtok, 6, EPS);
    assert_string_equal(find(state, "groq", "llama-3.3-70b-versatile", NOW, &pr),
                        "llama-3.3-70b-versatile");
    assert_float_equal(pr.input_mtok, 0.59, EPS);
    assert_float_equal(pr.output_mtok, 0.79, EPS);
    /* no provider: mistral's model_match is the Python regex (?:mi|code|dev|magi|mini)stral */
    assert_string_equal(find(state, NULL, "codestral-latest", NOW, &pr), "codestral");
    assert_string_equal(pr.provider_id, "mistral");
    /* and openai's includes ^o[134] */
    assert_string_equal(find(state, "", "o3", "2025-07-01T00:00:00Z", &pr), "o3");
    assert_string_equal(pr.provider_id, "openai");
    /* Python-dialect regexes in the data: ^gemini-3\.5-flash-\d and ^grok-4\.3-\d{8}$ */
    assert_string_equal(find(state, "google", "gemini-3.5-flash-20260101", NOW, &pr),
                        "gemini-3.5-flash");
    assert_float_equal(pr.input_mtok, 1.5, EPS);
    assert_float_equal(pr.output_mtok, 9, EPS);
    assert_null(find(state, "google", "gemini-3.5-flash-d", NOW, &pr));
    assert_string_equal(find(state, "x-ai", "grok-4.3-20260101", NOW, &pr), "grok-4.3");
    assert_null(find(state, "x-ai", "grok-4.3-2026010", NOW, &pr));
    /* a model listed with an empty price object is free, and priced */
    assert_string_equal(find(state, "google", "gemma-3-27b-it", NOW, &pr), "gemma-3");
    assert_int_equal(pr.have, 0);
}

static void test_shipped_unpriced(void **state)
{
    struct col_price pr;
    assert_null(find(state, "openai", "gpt-99-imaginary", NOW, &pr));
    assert_null(find(state, "anthropic", "gpt-4o", NOW, &pr));
    assert_null(find(state, "no-such-provider", "gpt-4o", NOW, &pr));
    assert_null(find(state, "openai", "", NOW, &pr));
    assert_int_equal(col_prices_find(*state, "openai", NULL, 0, &pr), -1);
    assert_int_equal(col_prices_find(NULL, "openai", "gpt-4o", 0, &pr), -1);
}

/* ---- match rules on a crafted file ---- */

static void expect_model(void **state, const char *provider, const char *model, const char *id,
                         double input)
{
    struct col_price pr;
    const char *got = find(state, provider, model, NOW, &pr);
    if (!id) {
        if (got)
            fail_msg("%s/%s matched %s, expected no match", provider, model, got);
        return;
    }
    if (!got)
        fail_msg("%s/%s did not match, expected %s", provider, model, id);
    assert_string_equal(got, id);
    assert_float_equal(pr.input_mtok, input, EPS);
}

static void test_rule_equals(void **state)
{
    expect_model(state, "acme", "eq-model", "m-equals", 1);
    expect_model(state, "acme", "EQ-Model", "m-equals", 1);
    expect_model(state, "acme", "eq-model2", NULL, 0);
    expect_model(state, "acme", "xeq-model", NULL, 0);
}

static void test_rule_starts_with(void **state)
{
    expect_model(state, "acme", "sw-anything", "m-starts", 3);
    expect_model(state, "acme", "sw-", "m-starts", 3);
    expect_model(state, "acme", "sw", NULL, 0);
    expect_model(state, "acme", "x-sw-1", NULL, 0);
}

static void test_rule_ends_with(void **state)
{
    expect_model(state, "acme", "model-ew", "m-ends", 4);
    expect_model(state, "acme", "-ew", "m-ends", 4);
    expect_model(state, "acme", "ew", NULL, 0);
    expect_model(state, "acme", "model-ew2", NULL, 0);
}

static void test_rule_contains(void **state)
{
    expect_model(state, "acme", "inside", "m-contains", 5);
    expect_model(state, "acme", "a-inside-b", "m-contains", 5);
    expect_model(state, "acme", "insid", NULL, 0);
}

/* ^rx-\d{4}(?:-v[0-9]+)?$ in Python re, rewritten to POSIX ERE. */
static void test_rule_regex(void **state)
{
    expect_model(state, "acme", "rx-2024", "m-regex", 6);
    expect_model(state, "acme", "rx-2024-v12", "m-regex", 6);
    expect_model(state, "acme", "rx-202", NULL, 0);
    expect_model(state, "acme", "rx-20245", NULL, 0);
    expect_model(state, "acme", "rx-dddd", NULL, 0); /* \d is a digit, not a 'd' */
    expect_model(state, "acme", "rx-2024-v", NULL, 0);
    expect_model(state, "acme", "xrx-2024", NULL, 0);
}

static void test_rule_or(void **state)
{
    expect_model(state, "acme", "or-a", "m-or", 7);
    expect_model(state, "acme", "or-b", "m-or", 7);
    expect_model(state, "acme", "or-c", NULL, 0);
}

static void test_rule_and(void **state)
{
    expect_model(state, "acme", "and-1-x", "m-and", 8);
    expect_model(state, "acme", "and-1-y", NULL, 0);
    expect_model(state, "acme", "or-and-x", NULL, 0);
    /* and(contains nest, or(ends_with -1, regex \w+-z$)) */
    expect_model(state, "acme", "nest-1", "m-nested", 9);
    expect_model(state, "acme", "my_nest-z", "m-nested", 9);
    expect_model(state, "acme", "nest-2", NULL, 0);
    expect_model(state, "acme", "nest.-z", NULL, 0);
}

static void test_rule_first_match_wins(void **state)
{
    expect_model(state, "acme", "dup-1", "dup-first", 10);
}

static void test_provider_resolution(void **state)
{
    struct col_price pr;
    /* provider_match: contains "acme" */
    assert_string_equal(find(state, "Acme-Corp", "eq-model", NOW, &pr), "m-equals");
    assert_string_equal(pr.provider_id, "acme");
    /* no provider: the first provider whose model_match accepts the model */
    assert_string_equal(find(state, NULL, "acme-tiered", NOW, &pr), "acme-tiered");
    assert_null(find(state, NULL, "eq-model", NOW, &pr));
    /* a provider's own model first, then one level of fallback_model_providers */
    assert_string_equal(find(state, "reseller", "eq-model", NOW, &pr), "own");
    assert_float_equal(pr.input_mtok, 100, EPS);
    assert_string_equal(pr.provider_id, "reseller");
    assert_string_equal(find(state, "reseller", "sw-1", NOW, &pr), "m-starts");
    assert_string_equal(pr.provider_id, "acme");
    assert_null(find(state, "reseller", "nothing-like-it", NOW, &pr));
}

static void test_skipped_models(void **state)
{
    struct col_prices_stats st;
    col_prices_stats(*state, &st);
    assert_int_equal(st.providers, 2);
    assert_int_equal(st.skipped_providers, 1);
    assert_int_equal(st.skipped_models, 5);
    assert_int_equal(st.skipped_regex, 2);
    assert_int_equal(st.models, 16);
    struct col_price pr;
    assert_null(find(state, "acme", "lookahead", NOW, &pr));
    assert_null(find(state, "acme", "bad-price", NOW, &pr));
    assert_null(find(state, "acme", "bad-constraint", NOW, &pr));
}

static void test_dated_crafted(void **state)
{
    struct col_price pr;
    assert_non_null(find(state, "acme", "acme-dated", "2025-12-31T23:59:59Z", &pr));
    assert_float_equal(pr.input_mtok, 1, EPS);
    assert_non_null(find(state, "acme", "acme-dated", "2026-01-01T00:00:00Z", &pr));
    assert_float_equal(pr.input_mtok, 2, EPS);
    assert_non_null(find(state, "acme", "acme-dated", "2026-05-31T23:59:59Z", &pr));
    assert_float_equal(pr.input_mtok, 2, EPS);
    assert_non_null(find(state, "acme", "acme-dated", "2026-06-01T00:00:00Z", &pr));
    assert_float_equal(pr.input_mtok, 3, EPS);
}

/* 22:00-06:00 UTC wraps past midnight. */
static void test_time_of_day_crafted(void **state)
{
    static const struct {
        const char *when;
        double input;
    } cases[] = {
        {"2026-02-01T21:59:59Z", 1},   {"2026-02-01T22:00:00Z", 0.5}, {"2026-02-01T23:30:00Z", 0.5},
        {"2026-02-02T03:00:00Z", 0.5}, {"2026-02-02T06:00:00Z", 1},   {"2026-02-02T12:00:00Z", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct col_price pr;
        assert_non_null(find(state, "acme", "acme-offpeak", cases[i].when, &pr));
        assert_float_equal(pr.input_mtok, cases[i].input, EPS);
    }
}

/* ---- cost arithmetic ---- */

static void test_cost_openai_cached(void **state)
{
    struct col_price pr;
    assert_non_null(find(state, "openai", "gpt-4o", NOW, &pr));
    /* 1M input of which 200k cached: 800k x 2.5 + 200k x 1.25 + 100k output x 10 */
    struct col_usage u = {.input_tokens = 1e6, .input_cached_tokens = 2e5, .output_tokens = 1e5};
    assert_float_equal(col_price_cost(&pr, &u), 2.0 + 0.25 + 1.0, EPS);
    /* gpt-4o has no cache-write price: those tokens are charged as input */
    u.input_cache_write_tokens = 1e5;
    assert_float_equal(col_price_cost(&pr, &u), 700e3 * 2.5 / 1e6 + 0.25 + 1e5 * 2.5 / 1e6 + 1.0,
                       EPS);
    /* more cached than total (inconsistent provider data): uncached clamps at 0 */
    struct col_usage odd = {.input_tokens = 100, .input_cached_tokens = 300};
    assert_float_equal(col_price_cost(&pr, &odd), 300 * 1.25 / 1e6, EPS);
    struct col_usage none = {0};
    assert_float_equal(col_price_cost(&pr, &none), 0, 0);
}

static void test_cost_anthropic_cache_write(void **state)
{
    struct col_price pr;
    assert_non_null(find(state, "anthropic", "claude-3-5-sonnet-latest", NOW, &pr));
    /* total 1M = 500k uncached + 300k cache reads + 200k cache writes */
    struct col_usage u = {.input_tokens = 1e6,
                          .input_cached_tokens = 3e5,
                          .input_cache_write_tokens = 2e5,
                          .output_tokens = 5e4};
    double want = (5e5 * 3 + 3e5 * 0.3 + 2e5 * 3.75 + 5e4 * 15) / 1e6;
    assert_float_equal(want, 3.09, EPS);
    assert_float_equal(col_price_cost(&pr, &u), want, EPS);
}

static void test_cost_media_requests_tiered(void **state)
{
    struct col_price pr;
    assert_non_null(find(state, "acme", "acme-media", NOW, &pr));
    assert_int_equal(pr.have, COL_PRICE_INPUT | COL_PRICE_CACHE_READ | COL_PRICE_OUTPUT |
                                  COL_PRICE_INPUT_AUDIO | COL_PRICE_OUTPUT_AUDIO |
                                  COL_PRICE_REQUESTS);
    struct col_usage u = {.input_tokens = 1e6,
                          .input_cached_tokens = 1e5,
                          .input_audio_tokens = 2e5,
                          .output_tokens = 3e5,
                          .output_audio_tokens = 1e5,
                          .requests = 2000};
    /* 700k x 2 + 100k x 1 + 200k x 40 + 200k x 10 + 100k x 80, /1e6; + 2000 x 5 / 1000 */
    assert_float_equal(col_price_cost(&pr, &u), 1.4 + 0.1 + 8 + 2 + 8 + 10, EPS);

    assert_non_null(find(state, "acme", "acme-tiered", NOW, &pr));
    assert_true(pr.have & COL_PRICE_TIERED);
    struct col_usage big = {.input_tokens = 5e5, .output_tokens = 1e5};
    assert_float_equal(col_price_cost(&pr, &big), (5e5 * 2 + 1e5 * 8) / 1e6, EPS);

    assert_non_null(find(state, "acme", "acme-free", NOW, &pr));
    assert_float_equal(col_price_cost(&pr, &big), 0, 0);
}

/* ---- estimate ---- */

static void add(struct col_out *o, const char *metric, const char *provider, const char *model,
                const char *project, int64_t bucket, double v)
{
    const char *labels[][2] = {
        {"provider", provider}, {"account", "acct"}, {"project", project}, {"model", model}};
    assert_int_equal(col_out_sample(o, metric, labels, 4, bucket, 3600, v), 0);
}

/* The same series with its labels in another order. */
static void add_reordered(struct col_out *o, const char *metric, const char *provider,
                          const char *model, const char *project, int64_t bucket, double v)
{
    const char *labels[][2] = {
        {"model", model}, {"project", project}, {"account", "acct"}, {"provider", provider}};
    assert_int_equal(col_out_sample(o, metric, labels, 4, bucket, 3600, v), 0);
}

static const struct col_sample *find_sample(const struct col_out *o, const char *metric,
                                            const char *model, int64_t bucket)
{
    const struct col_sample *hit = NULL;
    for (size_t i = 0; i < o->n_samples; i++) {
        const struct col_sample *s = &o->samples[i];
        if (strcmp(s->metric, metric) || s->bucket != bucket)
            continue;
        for (size_t k = 0; k < s->n_labels; k++) {
            if (!strcmp(s->labels[k].name, "model") && !strcmp(s->labels[k].value, model)) {
                assert_null(hit); /* exactly one */
                hit = s;
            }
        }
    }
    return hit;
}

static size_t count_metric(const struct col_out *o, const char *metric)
{
    size_t n = 0;
    for (size_t i = 0; i < o->n_samples; i++)
        n += !strcmp(o->samples[i].metric, metric);
    return n;
}

static void test_estimate_page(void **state)
{
    struct col_out o = {0};
    int64_t b = at("2026-11-20T10:00:00Z");
    add(&o, "input_tokens", "openai", "gpt-4o", "p1", b, 1e6);
    add(&o, "requests", "openai", "gpt-4o", "p1", b, 7);
    add(&o, "images", "openai", "gpt-4o", "p1", b, 3);
    add(&o, "input_tokens", "openai", "mystery-model", "p1", b, 1000);
    add_reordered(&o, "input_cached_tokens", "openai", "gpt-4o", "p1", b, 2e5);
    add(&o, "output_tokens", "openai", "mystery-model", "p1", b, 500);
    add_reordered(&o, "output_tokens", "openai", "gpt-4o", "p1", b, 1e5);
    add(&o, "input_cached_tokens", "openai", "mystery-model", "p1", b, 100);
    /* a series with requests only gets nothing; so does usage without a model label */
    add(&o, "requests", "openai", "gpt-4o-mini", "p1", b, 5);
    const char *nomodel[][2] = {{"provider", "openai"}, {"project", "p1"}};
    assert_int_equal(col_out_sample(&o, "input_tokens", nomodel, 2, b, 3600, 10), 0);
    size_t before = o.n_samples;

    char err[128] = "";
    assert_int_equal(col_estimate_costs(*state, &o, err, sizeof err), 0);
    assert_int_equal(o.n_samples, before + 2);
    assert_int_equal(count_metric(&o, "est_cost_usd"), 1);
    assert_int_equal(count_metric(&o, "unpriced_tokens"), 1);

    const struct col_sample *c = find_sample(&o, "est_cost_usd", "gpt-4o", b);
    assert_non_null(c);
    assert_float_equal(c->value, 3.25, EPS);
    assert_int_equal(c->width, 3600);
    assert_int_equal(c->n_labels, 4);
    /* the group's labels, sorted by name */
    static const char *const want[][2] = {
        {"account", "acct"}, {"model", "gpt-4o"}, {"project", "p1"}, {"provider", "openai"}};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(c->labels[i].name, want[i][0]);
        assert_string_equal(c->labels[i].value, want[i][1]);
    }

    const struct col_sample *u = find_sample(&o, "unpriced_tokens", "mystery-model", b);
    assert_non_null(u);
    assert_float_equal(u->value, 1500, 0); /* input (cache included) + output, never $0 */
    assert_null(find_sample(&o, "est_cost_usd", "mystery-model", b));
    col_out_free(&o);
}

/* Same series in two buckets, two projects: four groups; o3's price changes between days. */
static void test_estimate_groups_and_dates(void **state)
{
    struct col_out o = {0};
    int64_t d1 = at("2025-06-09T00:00:00Z"), d2 = at("2025-06-10T00:00:00Z");
    add(&o, "input_tokens", "openai", "o3", "p1", d1, 1e6);
    add(&o, "input_tokens", "openai", "o3", "p1", d2, 1e6);
    add(&o, "input_tokens", "openai", "o3", "p2", d1, 1e6);
    add(&o, "output_tokens", "openai", "o3", "p2", d1, 1e6);
    add(&o, "input_tokens", "openai", "o3", "p2", d2, 2e6);
    char err[128];
    assert_int_equal(col_estimate_costs(*state, &o, err, sizeof err), 0);
    assert_int_equal(count_metric(&o, "est_cost_usd"), 4);
    double p1d1 = 0, p1d2 = 0, p2d1 = 0, p2d2 = 0;
    for (size_t i = 0; i < o.n_samples; i++) {
        const struct col_sample *s = &o.samples[i];
        if (strcmp(s->metric, "est_cost_usd"))
            continue;
        int p2 = !strcmp(s->labels[2].value, "p2");
        double *slot = s->bucket == d1 ? (p2 ? &p2d1 : &p1d1) : (p2 ? &p2d2 : &p1d2);
        assert_float_equal(*slot, 0, 0);
        *slot = s->value;
    }
    assert_float_equal(p1d1, 10, EPS);
    assert_float_equal(p1d2, 2, EPS);
    assert_float_equal(p2d1, 10 + 40, EPS);
    assert_float_equal(p2d2, 4, EPS);
    col_out_free(&o);
}

static void test_estimate_without_prices(void **state)
{
    (void)state;
    struct col_out o = {0};
    int64_t b = at("2026-11-20T00:00:00Z");
    add(&o, "input_tokens", "openai", "gpt-4o", "p1", b, 10);
    add(&o, "output_tokens", "openai", "gpt-4o", "p1", b, 5);
    char err[128];
    assert_int_equal(col_estimate_costs(NULL, &o, err, sizeof err), 0);
    assert_int_equal(count_metric(&o, "est_cost_usd"), 0);
    const struct col_sample *u = find_sample(&o, "unpriced_tokens", "gpt-4o", b);
    assert_non_null(u);
    assert_float_equal(u->value, 15, 0);
    col_out_free(&o);

    /* a page with no usage is left alone */
    struct col_out empty = {0};
    assert_int_equal(col_estimate_costs(NULL, &empty, err, sizeof err), 0);
    assert_int_equal(empty.n_samples, 0);
    add(&empty, "cost_usd", "openai", "gpt-4o", "p1", b, 1);
    assert_int_equal(col_estimate_costs(NULL, &empty, err, sizeof err), 0);
    assert_int_equal(empty.n_samples, 1);
    col_out_free(&empty);
}

/* Many series interleaved: every group found once with the exact sum. */
static void test_estimate_many(void **state)
{
    enum { SERIES = 3000 };
    static const char *const metrics[] = {"input_tokens", "input_cached_tokens", "output_tokens"};
    struct col_out o = {0};
    int64_t b = at("2026-11-20T00:00:00Z");
    char model[32], project[32];
    for (int m = 2; m >= 0; m--) {
        for (int i = 0; i < SERIES; i++) {
            int k = (i * 7919) % SERIES; /* a permutation: the order differs per metric */
            snprintf(project, sizeof project, "proj-%d", k);
            snprintf(model, sizeof model, "%s", k % 3 ? "gpt-4o-mini" : "unknown-model");
            double v = m == 1 ? 1000 : 4000 + k;
            if (m == 2)
                add_reordered(&o, metrics[m], "openai", model, project, b, v);
            else
                add(&o, metrics[m], "openai", model, project, b, v);
        }
    }
    char err[128];
    assert_int_equal(col_estimate_costs(*state, &o, err, sizeof err), 0);
    assert_int_equal(count_metric(&o, "est_cost_usd"), 2000);
    assert_int_equal(count_metric(&o, "unpriced_tokens"), 1000);
    for (size_t i = 3 * SERIES; i < o.n_samples; i++) {
        const struct col_sample *s = &o.samples[i];
        int k = -1;
        for (size_t l = 0; l < s->n_labels; l++)
            if (!strcmp(s->labels[l].name, "project"))
                k = atoi(s->labels[l].value + 5);
        assert_true(k >= 0);
        double in = 4000 + k, out = 4000 + k;
        if (k % 3) {
            assert_string_equal(s->metric, "est_cost_usd");
            assert_float_equal(s->value, ((in - 1000) * 0.15 + 1000 * 0.075 + out * 0.6) / 1e6,
                               1e-12);
        } else {
            assert_string_equal(s->metric, "unpriced_tokens");
            assert_float_equal(s->value, in + out, 0);
        }
    }
    col_out_free(&o);
}

/* ---- load errors ---- */

static void expect_load_error(const char *path, const char *fragment)
{
    char err[512] = "";
    struct col_prices *p = (struct col_prices *)&err; /* must stay untouched */
    assert_int_equal(col_prices_load(path, &p, err, sizeof err), -1);
    assert_ptr_equal(p, (struct col_prices *)&err);
    if (!strstr(err, path))
        fail_msg("error does not name %s: %s", path, err);
    if (!strstr(err, fragment))
        fail_msg("error lacks \"%s\": %s", fragment, err);
}

static void test_load_errors(void **state)
{
    (void)state;
    expect_load_error("tests/data/prices/does-not-exist.json", "No such file");
    expect_load_error("tests/data/prices/truncated.json", "JSON syntax");
    expect_load_error("tests/data/prices/notproviders.json", "not a genai-prices data file");
    expect_load_error("tests/data/prices/empty.json", "no provider");
    char err[64];
    struct col_prices *p = NULL;
    assert_int_equal(col_prices_load("", &p, err, sizeof err), -1);
    assert_null(p);
    assert_int_equal(col_prices_load(NULL, &p, err, sizeof err), -1);
    assert_int_equal(col_prices_load("tests/data/prices/truncated.json", &p, NULL, 0), -1);
    col_prices_free(NULL);
}

/* Wrong types, nulls, missing fields and deep nesting skip the entry, not the file. */
static void test_load_hostile(void **state)
{
    (void)state;
    struct col_prices *p = load_ok("tests/data/prices/hostile.json");
    struct col_prices_stats st;
    col_prices_stats(p, &st);
    assert_int_equal(st.providers, 1);
    assert_int_equal(st.skipped_providers, 3);
    assert_int_equal(st.models, 3);
    assert_int_equal(st.skipped_models, 18);
    assert_int_equal(st.skipped_regex, 0);
    struct col_price pr;
    assert_int_equal(col_prices_find(p, "hostile", "ok", 0, &pr), 0);
    assert_string_equal(pr.model_id, "ok");
    assert_float_equal(pr.input_mtok, 1, EPS);
    /* an empty `or` never matches, an empty `and` always does */
    assert_int_equal(col_prices_find(p, "hostile", "negative", 0, &pr), 0);
    assert_string_equal(pr.model_id, "ok-empty-and");
    /* the unsupported provider_match (a named group) and model_match (7) are dropped */
    assert_int_equal(col_prices_find(p, "hostile-x", "ok", 0, &pr), -1);
    assert_int_equal(col_prices_find(p, NULL, "ok", 0, &pr), -1);
    col_prices_free(p);
}

static void test_load_wrapped(void **state)
{
    (void)state;
    struct col_prices *p = load_ok("tests/data/prices/wrapped.json");
    struct col_price pr;
    assert_int_equal(col_prices_find(p, "acme", "wrapped-model", 0, &pr), 0);
    assert_float_equal(pr.input_mtok, 1.5, EPS);
    assert_float_equal(pr.output_mtok, 3, EPS);
    assert_int_equal(pr.have, COL_PRICE_INPUT | COL_PRICE_OUTPUT);
    col_prices_free(p);
}

int main(void)
{
    const struct CMUnitTest shipped[] = {
        cmocka_unit_test(test_shipped_stats),
        cmocka_unit_test(test_shipped_gpt4o),
        cmocka_unit_test(test_shipped_gpt4o_mini),
        cmocka_unit_test(test_shipped_claude),
        cmocka_unit_test(test_shipped_dated_o3),
        cmocka_unit_test(test_shipped_dated_sonnet5),
        cmocka_unit_test(test_shipped_tiered),
        cmocka_unit_test(test_shipped_time_of_day),
        cmocka_unit_test(test_shipped_other_providers),
        cmocka_unit_test(test_shipped_unpriced),
        cmocka_unit_test(test_cost_openai_cached),
        cmocka_unit_test(test_cost_anthropic_cache_write),
        cmocka_unit_test(test_estimate_page),
        cmocka_unit_test(test_estimate_groups_and_dates),
        cmocka_unit_test(test_estimate_many),
    };
    const struct CMUnitTest rules[] = {
        cmocka_unit_test(test_rule_equals),
        cmocka_unit_test(test_rule_starts_with),
        cmocka_unit_test(test_rule_ends_with),
        cmocka_unit_test(test_rule_contains),
        cmocka_unit_test(test_rule_regex),
        cmocka_unit_test(test_rule_or),
        cmocka_unit_test(test_rule_and),
        cmocka_unit_test(test_rule_first_match_wins),
        cmocka_unit_test(test_provider_resolution),
        cmocka_unit_test(test_skipped_models),
        cmocka_unit_test(test_dated_crafted),
        cmocka_unit_test(test_time_of_day_crafted),
        cmocka_unit_test(test_cost_media_requests_tiered),
    };
    const struct CMUnitTest plain[] = {
        cmocka_unit_test(test_estimate_without_prices),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_load_hostile),
        cmocka_unit_test(test_load_wrapped),
    };
    int failed = cmocka_run_group_tests_name("prices: shipped conf/prices.json", shipped,
                                             setup_shipped, teardown_prices);
    failed += cmocka_run_group_tests_name("prices: crafted match rules", rules, setup_rules,
                                          teardown_prices);
    failed += cmocka_run_group_tests_name("prices: no table", plain, NULL, NULL);
    return failed ? 1 : 0;
}
