/*
 * The decisions of the unexpected_model rule (analyzers/unexpected_model.c),
 * pure so the tests can table them: which allow list applies to usage in a
 * project, whether a model breaks it, and whether a model is "new".
 */
#ifndef BW_ANA_UNEXPECTED_MODEL_H
#define BW_ANA_UNEXPECTED_MODEL_H

#include <jansson.h>
#include <stdint.h>

/*
 * 1 when name matches one of the fnmatch(3) globs in the JSON array globs
 * (flags 0: case-sensitive, '*' also matches '/', '[...]' classes and '\'
 * escapes work); 0 otherwise, also for a NULL name or a NULL or non-array
 * globs.
 */
int ana_um_glob_any(const json_t *globs, const char *name);

/*
 * The allow list that governs usage of a source in a project:
 * per_project[project] when the project is listed there (it replaces the
 * source's list for that project, so it can narrow or widen it, and it
 * applies even when the source has no allow entry), else allow[account]
 * (the configured source name), else allow[provider] (the provider type).
 * NULL when none applies: the model is not checked. *scoped (may be NULL)
 * is set to 1 when the per-project list applied, 0 otherwise. Any of the
 * maps and project may be NULL.
 */
const json_t *ana_um_allowlist(const json_t *allow, const json_t *per_project, const char *provider,
                               const char *account, const char *project, int *scoped);

/*
 * 1 when model, used by the source in project, matches no glob of the list
 * ana_um_allowlist picks; 0 when it matches or no list applies. *scoped
 * (may be NULL) as in ana_um_allowlist.
 */
int ana_um_violates(const json_t *allow, const json_t *per_project, const char *provider,
                    const char *account, const char *project, const char *model, int *scoped);

/*
 * Mode "new": 1 when a model first seen at first_seen counts as new at now:
 * first_seen lies in [now - lookback, now) and first_seen >= earliest +
 * learning, where earliest is the source's earliest model first-seen
 * (exactly at the end of the learning period counts as new). 0 otherwise.
 */
int ana_um_is_new(int64_t first_seen, int64_t earliest, int64_t learning, int64_t lookback,
                  int64_t now);

#endif
