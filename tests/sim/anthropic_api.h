/*
 * The simulated Anthropic Admin API (paths under /v1/organizations).
 */
#ifndef BW_ANTHROPIC_API_H
#define BW_ANTHROPIC_API_H

#include "simapi.h"

/*
 * Answers one authenticated GET whose path below /v1/organizations is c->sub,
 * writing status and body into r (which starts as an empty 200 JSON answer).
 */
void an_handle(struct sim_ctx *c, struct sim_resp *r);

#endif
