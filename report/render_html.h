/*
 * The weekly report as one self-contained HTML5 page: inline CSS, inline SVG
 * charts, no scripts and no external assets, readable on a phone and printed.
 * Input is the report JSON documented in INTERFACE.md ("The weekly report").
 */
#ifndef BW_RENDER_HTML_H
#define BW_RENDER_HTML_H

#include <stddef.h>

#include <jansson.h>

/*
 * Renders report (a JSON object) into *out, a malloc'd NUL-terminated HTML
 * page of *len bytes (excluding the NUL) that the caller frees. Missing keys,
 * nulls and values of the wrong type render as "—" or are skipped; every
 * string taken from the JSON is HTML-escaped. Output depends only on report.
 * Returns 0, or -1 with a message in err (when report is not an object, or
 * out of memory); *out is untouched on failure.
 */
int rep_render_html(const json_t *report, char **out, size_t *len, char *err, size_t errlen);

#endif
