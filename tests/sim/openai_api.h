/*
 * The simulated OpenAI Administration API (paths under /v1/organization).
 */
#ifndef BW_OPENAI_API_H
#define BW_OPENAI_API_H

#include "simapi.h"

/*
 * Answers one authenticated GET whose path below /v1/organization is c->sub,
 * writing status and body into r (which starts as an empty 200 JSON answer).
 */
void oa_handle(struct sim_ctx *c, struct sim_resp *r);

#endif
