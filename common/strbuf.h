/*
 * A growing NUL-terminated string for the formatters (the Slack and syslog
 * sinks, the HTML report). Appends never fail loudly: out of memory sets
 * oom, later appends do nothing, and the caller checks oom (or sb_str)
 * once at the end. A zeroed struct is an empty string; the caller frees p.
 */
#ifndef BW_STRBUF_H
#define BW_STRBUF_H

#include <stddef.h>

struct strbuf {
    char *p; /* NULL until something is appended (see sb_str) */
    size_t len, cap;
    int oom;
};

void sb_putn(struct strbuf *b, const char *s, size_t n);
void sb_puts(struct strbuf *b, const char *s);
void sb_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The string so far ("" when nothing was appended); NULL after running out of memory. */
const char *sb_str(struct strbuf *b);

#endif
