/*
 * Estimated cost of a parsed page: sorts the usage samples by (bucket,
 * width, canonical label set) so each series-bucket's token counts sit
 * together, sums them into a col_usage and appends est_cost_usd or
 * unpriced_tokens per group, its labels sorted by name. Sorting copies
 * pointers only; the new samples are appended after the scan because
 * appending may move out->samples.
 */
#include "estimate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { M_IN, M_CACHED, M_CWRITE, M_OUT, M_AUDIO_IN, M_AUDIO_OUT, M_REQUESTS, N_METRICS };

static const char *const METRICS[N_METRICS] = {
    [M_IN] = "input_tokens",
    [M_CACHED] = "input_cached_tokens",
    [M_CWRITE] = "input_cache_write_tokens",
    [M_OUT] = "output_tokens",
    [M_AUDIO_IN] = "input_audio_tokens",
    [M_AUDIO_OUT] = "output_audio_tokens",
    [M_REQUESTS] = "requests",
};

/* A usage sample with its labels' positions sorted by name. */
struct ent {
    const struct col_sample *s;
    size_t idx;
    int metric;
    unsigned char order[COL_MAX_LABELS];
};

/* What to append for one group. */
struct emit {
    size_t rep; /* index of a sample of the group: its labels, bucket and width */
    unsigned char order[COL_MAX_LABELS]; /* rep's labels sorted by name */
    int priced;
    double value;
};

static int metric_of(const char *name)
{
    for (int i = 0; i < N_METRICS; i++)
        if (!strcmp(METRICS[i], name))
            return i;
    return -1;
}

static void sort_labels(struct ent *e)
{
    const struct col_label *l = e->s->labels;
    size_t n = e->s->n_labels;
    for (size_t i = 0; i < n; i++)
        e->order[i] = (unsigned char)i;
    for (size_t i = 1; i < n; i++) {
        unsigned char k = e->order[i];
        size_t j = i;
        for (; j > 0 && strcmp(l[e->order[j - 1]].name, l[k].name) > 0; j--)
            e->order[j] = e->order[j - 1];
        e->order[j] = k;
    }
}

/* Orders by bucket, width, then the label set; 0 means same series and bucket. */
static int ent_cmp(const void *pa, const void *pb)
{
    const struct ent *a = pa, *b = pb;
    const struct col_sample *x = a->s, *y = b->s;
    if (x->bucket != y->bucket)
        return x->bucket < y->bucket ? -1 : 1;
    if (x->width != y->width)
        return x->width < y->width ? -1 : 1;
    if (x->n_labels != y->n_labels)
        return x->n_labels < y->n_labels ? -1 : 1;
    for (size_t i = 0; i < x->n_labels; i++) {
        const struct col_label *lx = &x->labels[a->order[i]], *ly = &y->labels[b->order[i]];
        /* interned strings: equal text is usually the same pointer */
        int c = lx->name == ly->name ? 0 : strcmp(lx->name, ly->name);
        if (!c && lx->value != ly->value)
            c = strcmp(lx->value, ly->value);
        if (c)
            return c;
    }
    return 0;
}

static const char *label(const struct col_sample *s, const char *name)
{
    for (size_t i = 0; i < s->n_labels; i++)
        if (!strcmp(s->labels[i].name, name))
            return s->labels[i].value;
    return NULL;
}

int col_estimate_costs(const struct col_prices *p, struct col_out *out, char *err, size_t errlen)
{
    struct ent *ents = NULL;
    struct emit *emits = NULL;
    size_t n_ents = 0, n_emits = 0, n0 = out->n_samples;
    int rc = -1;

    for (size_t i = 0; i < out->n_samples; i++)
        if (metric_of(out->samples[i].metric) >= 0)
            n_ents++;
    if (!n_ents)
        return 0;
    ents = malloc(n_ents * sizeof *ents);
    emits = malloc(n_ents * sizeof *emits);
    if (!ents || !emits)
        goto nomem;
    n_ents = 0;
    for (size_t i = 0; i < out->n_samples; i++) {
        int m = metric_of(out->samples[i].metric);
        if (m < 0)
            continue;
        struct ent *e = &ents[n_ents++];
        e->s = &out->samples[i];
        e->idx = i;
        e->metric = m;
        sort_labels(e);
    }
    qsort(ents, n_ents, sizeof *ents, ent_cmp);

    for (size_t g = 0; g < n_ents;) {
        size_t end = g + 1;
        while (end < n_ents && ent_cmp(&ents[g], &ents[end]) == 0)
            end++;
        double sum[N_METRICS] = {0};
        int seen[N_METRICS] = {0};
        for (size_t k = g; k < end; k++) {
            sum[ents[k].metric] += ents[k].s->value;
            seen[ents[k].metric] = 1;
        }
        const struct col_sample *rep = ents[g].s;
        const char *model = label(rep, "model");
        int tokens = seen[M_IN] || seen[M_CACHED] || seen[M_CWRITE] || seen[M_OUT] ||
                     seen[M_AUDIO_IN] || seen[M_AUDIO_OUT];
        if (model && tokens) {
            struct col_price pr;
            struct emit *em = &emits[n_emits++];
            em->rep = ents[g].idx;
            memcpy(em->order, ents[g].order, sizeof em->order);
            if (p && col_prices_find(p, label(rep, "provider"), model, rep->bucket, &pr) == 0) {
                struct col_usage u = {
                    .input_tokens = sum[M_IN],
                    .input_cached_tokens = sum[M_CACHED],
                    .input_cache_write_tokens = sum[M_CWRITE],
                    .input_audio_tokens = sum[M_AUDIO_IN],
                    .output_tokens = sum[M_OUT],
                    .output_audio_tokens = sum[M_AUDIO_OUT],
                    .requests = sum[M_REQUESTS],
                };
                em->priced = 1;
                em->value = col_price_cost(&pr, &u);
            } else {
                em->priced = 0;
                em->value = sum[M_IN] + sum[M_OUT];
            }
        }
        g = end;
    }

    for (size_t i = 0; i < n_emits; i++) {
        /* re-read by index: the previous append may have moved the array */
        const struct col_sample *s = &out->samples[emits[i].rep];
        const char *labels[COL_MAX_LABELS][2];
        for (size_t k = 0; k < s->n_labels; k++) {
            labels[k][0] = s->labels[emits[i].order[k]].name;
            labels[k][1] = s->labels[emits[i].order[k]].value;
        }
        if (col_out_sample(out, emits[i].priced ? "est_cost_usd" : "unpriced_tokens",
                           (const char *const(*)[2])labels, s->n_labels, s->bucket, s->width,
                           emits[i].value))
            goto nomem;
    }
    rc = 0;
    goto out;
nomem:
    col_out_truncate(out, n0); /* a failed append leaves nothing behind */
    if (err && errlen)
        snprintf(err, errlen, "estimating costs: out of memory");
out:
    free(ents);
    free(emits);
    return rc;
}
