/*
 * The body of the poller fuzz targets (fuzz_openai.c, fuzz_anthropic.c):
 * the first input byte picks an endpoint of the poller and a request
 * variant, the rest is a page body for that endpoint's parse(). The
 * output's documented invariants are checked, and a next-page cursor is
 * fed back to url() as the daemon would.
 */
#ifndef BW_FUZZ_POLLER_H
#define BW_FUZZ_POLLER_H

#include <jansson.h>
#include <math.h>

#include "../../collector/normalize.h"
#include "../../collector/poller.h"
#include "fuzz.h"

/* The page cursor and project id that request variants carry (also in the dictionaries). */
#define FZ_PREV_PAGE "fuzz_prev_page"
#define FZ_PROJECT "proj_fuzz"

/* Aborts unless text is a JSON object. */
static inline void fz_check_json_object(const char *text, const char *what)
{
    FZ_CHECK(text != NULL, what);
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    FZ_CHECK(json_is_object(j), what);
    json_decref(j);
}

/* Aborts unless a successful parse's col_out is what normalize.h promises. */
static inline void fz_check_out(const struct col_out *o)
{
    FZ_CHECK(o->n_samples <= o->cap_samples, "n_samples <= cap_samples");
    FZ_CHECK(o->n_events <= o->cap_events, "n_events <= cap_events");
    FZ_CHECK(o->n_items <= o->cap_items, "n_items <= cap_items");
    for (size_t i = 0; i < o->n_samples; i++) {
        const struct col_sample *s = &o->samples[i];
        FZ_CHECK(s->metric && s->metric[0], "sample has a metric");
        FZ_CHECK(s->n_labels <= COL_MAX_LABELS, "sample has at most COL_MAX_LABELS labels");
        for (size_t k = 0; k < s->n_labels; k++)
            FZ_CHECK(s->labels[k].name && s->labels[k].value && s->labels[k].value[0],
                     "sample label has a name and a non-empty value");
        FZ_CHECK(s->width == 3600 || s->width == 86400, "sample width is 3600 or 86400");
        FZ_CHECK(isfinite(s->value), "sample value is finite");
    }
    for (size_t i = 0; i < o->n_events; i++) {
        FZ_CHECK(o->events[i].type && o->events[i].type[0], "event has a type");
        fz_check_json_object(o->events[i].json, "event json is a JSON object");
    }
    for (size_t i = 0; i < o->n_items; i++) {
        FZ_CHECK(o->items[i].kind && o->items[i].kind[0], "item has a kind");
        FZ_CHECK(o->items[i].id != NULL, "item has an id");
        fz_check_json_object(o->items[i].json, "item json is a JSON object");
    }
}

/*
 * Builds the URL of the page after this one, as the daemon does with the
 * parsed cursor, and aborts when url() reports success but wrote something
 * that is not a NUL-terminated URL without spaces or control characters
 * (a cursor from the provider must not inject into the request line).
 */
static inline void fz_check_next_url(const struct col_poller_ops *ops,
                                     const struct col_request *req, const char *cursor)
{
    struct col_request next = *req;
    next.page = cursor;
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    int rc = ops->url("https://api.fuzz.invalid/v1", &next, buf, sizeof buf);
    FZ_CHECK(rc == 0 || rc == -1, "url() returns 0 or -1");
    if (rc != 0)
        return;
    const char *end = memchr(buf, '\0', sizeof buf);
    FZ_CHECK(end != NULL, "url() NUL-terminates");
    for (const char *c = buf; c < end; c++)
        FZ_CHECK((unsigned char)*c > 0x20 && (unsigned char)*c < 0x7f,
                 "url() writes no space, control or non-ASCII byte");
}

/*
 * Parses data[1..size) as a page of endpoint data[0] % n_endpoints of ops.
 * (data[0] / n_endpoints) % 4 picks the request variant: bit 0 sets the
 * previous page cursor FZ_PREV_PAGE, bit 1 the project FZ_PROJECT. So a
 * seed for endpoint i with neither starts with byte i.
 */
static inline int fz_poller_one(const struct col_poller_ops *ops, const char *provider,
                                const uint8_t *data, size_t size)
{
    if (size < 1 || ops->n_endpoints == 0)
        return 0;
    fz_quiet_log();
    size_t pick = data[0] % ops->n_endpoints;
    unsigned variant = (unsigned)(data[0] / ops->n_endpoints) % 4u;
    struct col_request req = {
        .ep = &ops->endpoints[pick],
        .start = 0,
        .end = 4102444800, /* 2100-01-01: every bucket a page could hold is in the window */
        .page = (variant & 1u) ? FZ_PREV_PAGE : NULL,
        .project = (variant & 2u) ? FZ_PROJECT : NULL,
    };
    struct col_parse_ctx ctx = {.provider = provider, .account = "fuzz-account", .req = &req};

    /* An exact-size copy, so a read past the body's end is caught. */
    size_t len = size - 1;
    char *body = malloc(len ? len : 1);
    FZ_CHECK(body != NULL, "malloc");
    if (len)
        memcpy(body, data + 1, len);

    struct col_out out;
    memset(&out, 0, sizeof out);
    char err[256];
    memset(err, 'x', sizeof err);
    int rc = ops->parse(&ctx, body, len, &out, err, sizeof err);
    FZ_CHECK(rc == 0 || rc == -1, "parse() returns 0 or -1");
    if (fz_verbose())
        fprintf(stderr, "fuzz: %s %s%s%s: rc=%d samples=%zu events=%zu items=%zu next=%s%s%.*s\n",
                provider, req.ep->name, req.page ? " +page" : "", req.project ? " +project" : "",
                rc, out.n_samples, out.n_events, out.n_items, out.next_page ? "yes" : "no",
                rc ? " err=" : "", rc ? (int)sizeof err : 0, err);
    if (rc == 0) {
        fz_check_out(&out);
        if (out.next_page)
            fz_check_next_url(ops, &req, out.next_page);
    } else {
        FZ_CHECK(fz_err_ok(err, sizeof err), "a failed parse() says why in err");
    }
    col_out_free(&out);
    free(body);
    return 0;
}

#endif
