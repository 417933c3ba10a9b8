/*
 * The Anthropic Admin API poller (Claude Console organizations): workspace
 * and API key inventory, the hourly Messages usage report and the daily
 * cost report. One const table; see anthropic.c for the endpoint facts.
 */
#ifndef BW_ANTHROPIC_H
#define BW_ANTHROPIC_H

#include "poller.h"

/*
 * The poller for provider type "anthropic". Endpoints, in polling order:
 * "workspaces" (LIST), "api_keys" (LIST), "usage_report/messages"
 * (BUCKETS, 1h), "cost_report" (BUCKETS, 1d). base_url is the host root
 * ("https://api.anthropic.com"). parse() is pure and reentrant; it needs
 * ctx->req->ep to point into this table's endpoints.
 */
extern const struct col_poller_ops col_anthropic_poller;

#endif
