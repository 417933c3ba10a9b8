/*
 * The configuration file (INTERFACE.md): a JSON document loaded strictly.
 * Every key is checked against a per-type schema; an error names the file,
 * line, column and key path ("conf.json:12:5: providers[1].poll_interval:
 * bad duration \"5x\""). Secrets are never read into this structure: only
 * where they come from (an env var name or a 0600 file path), validated
 * at load time and fetched with cfg_secret_get() by whoever needs them.
 */
#ifndef BW_CONFIG_H
#define BW_CONFIG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/log.h"

/* Where a secret comes from: exactly one of env or file is set. */
struct cfg_secret {
    char *env;  /* environment variable name, or NULL */
    char *file; /* path of a file readable by its owner only, or NULL */
};

struct cfg_provider {
    char *type;                  /* openai, anthropic, google, mistral, groq, gateway */
    char *name;                  /* unique among providers */
    char *base_url;              /* NULL for gateway; defaulted per type otherwise */
    struct cfg_secret admin_key; /* unset for gateway */
    int64_t poll_interval;       /* seconds, default 300 */
    int64_t backfill;            /* seconds, default 35d */
    int64_t timeout;             /* seconds per HTTP request, default 60 */
    int tls_min_13;              /* 1 when tls_min_version is "1.3" */
    int enabled;                 /* default 1 */
    json_t *params;              /* the whole validated object (borrowed by users) */
};

struct cfg_rule {
    char *type;     /* one of INTERFACE.md's rule types */
    char *name;     /* unique among rules; defaults to type */
    char *severity; /* info, warning, critical; default warning */
    json_t *params; /* the whole validated object with defaults filled in */
};

struct cfg_sink {
    char *type;         /* slack, webhook, splunk_hec, alertmanager, syslog */
    char *name;         /* unique among sinks */
    char *min_severity; /* default info */
    json_t *params;     /* the whole validated object */
};

struct cfg_business_unit {
    char *name;
    char **projects;
    size_t n_projects;
    char **api_keys;
    size_t n_api_keys;
};

struct cfg_report {
    char *schedule; /* "mon 09:00" (day and UTC/timezone time) or NULL for off */
    char *timezone; /* IANA name or NULL for UTC */
    char *out_dir;  /* default "./reports" */
    char **sinks;
    size_t n_sinks;
    char **formats; /* default md, html, csv, json */
    size_t n_formats;
};

struct config {
    char *path;     /* file the config came from */
    char *data_dir; /* default "./data" */
    char *listen;   /* default "127.0.0.1:9464" */
    enum log_level log_level;
    char *prices;      /* default "conf/prices.json" */
    int64_t retention; /* raw hourly points, seconds; default 400d */
    char *timezone;    /* NULL = UTC */
    struct cfg_provider *providers;
    size_t n_providers;
    struct cfg_rule *rules;
    size_t n_rules;
    struct cfg_sink *sinks;
    size_t n_sinks;
    struct cfg_business_unit *units;
    size_t n_units;
    struct cfg_report report;
    json_t *root; /* the parsed document, owned */
};

/*
 * Loads and validates path. On success returns 0 and *out (free with
 * cfg_free). On failure returns -1 and writes "file:line:col: key.path:
 * reason" into err; nothing is allocated. Referenced env vars must be set
 * and non-empty; *_file secrets must exist, be regular files and not be
 * readable or writable by group or others.
 */
int cfg_load(const char *path, struct config **out, char *err, size_t errlen);

void cfg_free(struct config *cfg);

/*
 * Reads the secret's current value into a new NUL-terminated string
 * (trailing newline stripped) that the caller frees after wiping. 0 ok,
 * -1 with a message in err that never contains the value.
 */
int cfg_secret_get(const struct cfg_secret *s, char **value, char *err, size_t errlen);

/*
 * Writes check-config's human summary (sources, rules, sinks, report) to
 * out; secrets appear only as their source ("env OPENAI_ADMIN_KEY") plus
 * log_secret_tail() of the value.
 */
void cfg_print_summary(const struct config *cfg, FILE *out);

#endif
