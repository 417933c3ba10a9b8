/*
 * The decisions of the new_entity rule (analyzers/new_entity.c), pure so the
 * tests can table them: when an entity counts as newly seen, and which
 * reason an entity's alert carries.
 */
#ifndef BW_ANA_NEW_ENTITY_H
#define BW_ANA_NEW_ENTITY_H

#include <stdint.h>

/*
 * 1 when an entity first seen at first_seen counts as new at now:
 * first_seen lies in [now - lookback, now) and first_seen >= earliest +
 * learning, where earliest is the source's earliest first-seen of that kind
 * (exactly at the end of the learning period counts as new). 0 otherwise.
 */
int ana_ne_first_seen(int64_t first_seen, int64_t earliest, int64_t learning, int64_t lookback,
                      int64_t now);

/*
 * The "reason" label of an entity's alert, or NULL when it does not fire.
 * "not_in_inventory" when the entity was used in the lookback (used), the
 * source's inventory of that kind has been listed (inventory_listed: it
 * holds at least one item, so an empty or failed listing never makes every
 * key a shadow key) and does not hold it (!in_inventory); this reason wins
 * when the entity is also new. "first_seen" when only first_seen_new holds.
 */
const char *ana_ne_reason(int used, int inventory_listed, int in_inventory, int first_seen_new);

#endif
