/*
 * The table of built-in pollers: adding a provider is one file and one
 * line here.
 */
#include <string.h>

#include "anthropic.h"
#include "openai.h"
#include "poller.h"

static const struct col_poller_ops *const pollers[] = {
    &col_openai_poller,
    &col_anthropic_poller,
};

const struct col_poller_ops *col_poller_find(const char *type)
{
    for (size_t i = 0; i < sizeof pollers / sizeof pollers[0]; i++) {
        if (strcmp(pollers[i]->type, type) == 0)
            return pollers[i];
    }
    return NULL;
}
