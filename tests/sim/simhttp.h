/*
 * Request and response helpers of the provider simulator (bw-sim): a query
 * string parser that keeps repeated keys and accepts both "x" and "x[]"
 * array forms, a JSON writer onto libevent buffers, the opaque page cursor,
 * and the two providers' error bodies.
 */
#ifndef BW_SIMHTTP_H
#define BW_SIMHTTP_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>

struct sim_param {
    char *key;
    char *val;
};

/* A parsed query string: every key=value pair in order, percent-decoded. */
struct sim_query {
    struct sim_param *p;
    size_t n;
};

/*
 * Parses qs (may be NULL or empty) into q. '+' is kept literally (so an
 * unencoded "+00:00" offset survives); %XX is decoded. 0 ok, -1 out of memory
 * or a bad escape. q must be freed with sim_query_free either way.
 */
int sim_query_parse(const char *qs, struct sim_query *q);
void sim_query_free(struct sim_query *q);

/* First value of key (exact match), or NULL. */
const char *sim_query_get(const struct sim_query *q, const char *key);

/*
 * Values of an array parameter given either as "name=v" or "name[]=v"
 * (repeatable, in request order). Stores up to max pointers into vals and
 * returns the total count found (which may exceed max).
 */
size_t sim_query_multi(const struct sim_query *q, const char *name, const char **vals, size_t max);

/* Parses a whole decimal integer; 0 ok, -1 otherwise. */
int sim_parse_i64(const char *s, int64_t *out);

/* An HTTP answer being built; body is owned until sent. */
struct sim_resp {
    int status;
    struct evbuffer *body;
    const char *content_type;
    char retry_after[64]; /* empty = no Retry-After header */
};

/* Resets r to an empty 200 JSON answer with a fresh body. 0 ok, -1 OOM. */
int sim_resp_init(struct sim_resp *r);
void sim_resp_free(struct sim_resp *r);
/* Empties the body (keeps headers and status). */
void sim_resp_clear(struct sim_resp *r);

/* JSON fragments. sj_str writes null for NULL and escapes as needed. */
void sj_str(struct evbuffer *b, const char *s);
void sj_i64(struct evbuffer *b, int64_t v);
void sj_raw(struct evbuffer *b, const char *s);
/* Micro-dollars as a JSON number of dollars, exact ("12.345678", "0.5"). */
void sj_dollars(struct evbuffer *b, int64_t micro);
/* Micro-dollars as a JSON string of cents with up to 4 fraction digits. */
void sj_cents_string(struct evbuffer *b, int64_t micro);
/* A time as a JSON RFC 3339 string, or null when t < 0 and nullable. */
void sj_time(struct evbuffer *b, int64_t t);

/*
 * Page cursor: "page_" + base64 of the RFC 3339 start of the next bucket
 * (the shape of Anthropic's published example). out needs >= 48 bytes.
 */
int sim_cursor_encode(int64_t t, char *out, size_t len);
/* Decodes a cursor made by sim_cursor_encode (a ' ' is read as '+'). 0 ok, -1 bad. */
int sim_cursor_decode(const char *s, int64_t *t);

/* OpenAI error body {"error":{"message","type","param","code"}} with status. */
void sim_openai_error(struct sim_resp *r, int status, const char *type, const char *param,
                      const char *code, const char *msg);
/* Sets the id that sim_anthropic_error puts in request_id (the request-id header's value). */
void sim_request_id_set(const char *id);

/* Anthropic error body {"type":"error","error":{"type","message"},"request_id"}. */
void sim_anthropic_error(struct sim_resp *r, int status, const char *type, const char *msg);

#endif
