/*
 * The OpenAI Administration API poller: projects, project and admin API
 * keys, the ten /organization/usage/{kind} endpoints, /organization/costs and
 * the audit log, turned into normalized samples, events and inventory
 * items. The lead lists it in the poller table (collector/pollers.c).
 */
#ifndef BW_OPENAI_H
#define BW_OPENAI_H

#include "poller.h"

/*
 * The "openai" poller (see poller.h for the meaning of each member). Its
 * endpoints, in polling order: "projects", "project_api_keys" (one listing
 * per project), "admin_api_keys", "usage/<kind>" for the ten usage kinds
 * (1 h buckets), "costs" (1 d buckets) and "audit_logs". base_url is the
 * configured one including /v1. headers() adds "Authorization: Bearer"
 * and "Content-Type: application/json"; it also returns NULL, adding
 * nothing, when the key is empty or holds CR/LF. parse() is pure and never
 * keeps pointers into the body; everything in the col_out is owned by it.
 */
extern const struct col_poller_ops col_openai_poller;

#endif
