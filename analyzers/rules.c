/*
 * The table of rule types (engine.h): one line per analyzers/<type>.c.
 * Adding a rule type is one new file plus one line here.
 */
#include <string.h>

#include "engine.h"

extern const struct ana_rule_ops ana_spend_spike, ana_spend_threshold, ana_budget_forecast,
    ana_cost_drift, ana_unexpected_model, ana_new_entity, ana_auth_failures, ana_geo_anomaly,
    ana_rate_limited, ana_key_age, ana_collector_health;

static const struct ana_rule_ops *const RULES[] = {
    &ana_spend_spike,      &ana_spend_threshold, &ana_budget_forecast,  &ana_cost_drift,
    &ana_unexpected_model, &ana_new_entity,      &ana_auth_failures,    &ana_geo_anomaly,
    &ana_rate_limited,     &ana_key_age,         &ana_collector_health,
};

const struct ana_rule_ops *ana_rule_find(const char *type)
{
    for (size_t i = 0; i < sizeof RULES / sizeof RULES[0]; i++) {
        if (strcmp(RULES[i]->type, type) == 0)
            return RULES[i];
    }
    return NULL;
}
