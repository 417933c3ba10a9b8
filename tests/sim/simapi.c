/*
 * Shared front-end logic of the simulator: report page windows with the
 * opaque bucket cursor, list paging and array filters.
 */
#include "simapi.h"

#include <stdio.h>
#include <string.h>

#include "../../common/timeutil.h"

int sim_window_plan(struct sim_window *win, int64_t start, int has_end, int64_t end, int64_t width,
                    int64_t limit, const char *page, int64_t hl, char *msg, size_t msglen)
{
    int64_t s0 = tu_floor(start, width), first = s0;
    if (page) {
        int64_t t;
        if (sim_cursor_decode(page, &t) || t < s0 || (t - s0) % width != 0) {
            snprintf(msg, msglen, "Invalid page cursor.");
            return -1;
        }
        first = t;
    }
    int64_t stop = hl;
    if (has_end && end < stop)
        stop = end;
    int64_t avail = first < stop ? (stop - first + width - 1) / width : 0;
    win->width = width;
    win->first = first;
    win->count = (size_t)(avail < limit ? avail : limit);
    win->has_more = avail > limit;
    win->next = first + (int64_t)win->count * width;
    return 0;
}

void sim_window_next(struct evbuffer *b, const struct sim_window *win, int repeat_cursor)
{
    char cur[64];
    if (repeat_cursor) {
        sim_cursor_encode(win->first, cur, sizeof cur);
        sj_raw(b, "\"has_more\":true,\"next_page\":");
        sj_str(b, cur);
        return;
    }
    sj_raw(b, win->has_more ? "\"has_more\":true" : "\"has_more\":false");
    sj_raw(b, ",\"next_page\":");
    if (win->has_more && sim_cursor_encode(win->next, cur, sizeof cur) == 0)
        sj_str(b, cur);
    else
        sj_raw(b, "null");
}

void sim_list_page(size_t n, long after, long before, size_t limit, size_t *lo, size_t *hi,
                   int *has_more)
{
    if (before >= 0) {
        *hi = (size_t)before;
        *lo = *hi > limit ? *hi - limit : 0;
        *has_more = *lo > 0;
        return;
    }
    *lo = after >= 0 ? (size_t)after + 1 : 0;
    if (*lo > n)
        *lo = n;
    *hi = n - *lo > limit ? *lo + limit : n;
    *has_more = *hi < n;
}

int sim_filter_get(const struct sim_query *q, const char *name, struct sim_filter *f)
{
    f->n = sim_query_multi(q, name, f->v, SIM_MAX_FILTER);
    return f->n > SIM_MAX_FILTER ? -1 : 0;
}

int sim_filter_match(const struct sim_filter *f, const char *s)
{
    if (f->n == 0)
        return 1;
    if (!s)
        return 0;
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i], s) == 0)
            return 1;
    return 0;
}
