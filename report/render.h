/*
 * The report's renderers: each turns the JSON document rep_build returns
 * (report.h) into one form for people or tools. They read only that
 * document, so a stored report can be re-rendered. Money is rounded to
 * cents in md, html and csv; the json form keeps full precision.
 */
#ifndef BW_REPORT_RENDER_H
#define BW_REPORT_RENDER_H

#include <jansson.h>
#include <stddef.h>

/*
 * Each renderer writes its form of report into a new NUL-terminated
 * buffer: *out (caller frees) of *len bytes (not counting the NUL).
 * 0 ok; -1 with a message in err (not a report document, no memory).
 */

/* JSON, indented, full precision (report/report.c). */
int rep_render_json(const json_t *report, char **out, size_t *len, char *err, size_t errlen);

/* Markdown for Slack, email and wikis: headline totals, one table per section. */
int rep_render_md(const json_t *report, char **out, size_t *len, char *err, size_t errlen);

/*
 * CSV for finance: "date,provider,account,project,cost_usd,billed_cost_usd,
 * estimated_cost_usd", one row per project per day with data.
 */
int rep_render_csv(const json_t *report, char **out, size_t *len, char *err, size_t errlen);

/* HTML with inline SVG charts (report/render_html.c). */
int rep_render_html(const json_t *report, char **out, size_t *len, char *err, size_t errlen);

#endif
