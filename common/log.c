/*
 * Structured key=value logging to stderr, with the level filter and the
 * growing-interval throttle for repeated failures (see log.h).
 */
#include "log.h"

#include <string.h>
#include <strings.h>
#include <unistd.h>

#define COMPLAIN_MAX_INTERVAL 86400

static enum log_level g_level = LOG_INFO;
static FILE *g_stream;
static int g_progress_shown;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
    g_level = level;
}

enum log_level log_get_level(void)
{
    return g_level;
}

void log_set_stream(FILE *stream)
{
    g_stream = stream;
}

int log_parse_level(const char *name, enum log_level *out)
{
    if (!name)
        return -1;
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (strcasecmp(name, "warning") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    return -1;
}

const char *log_quote(const char *value, char *buf, size_t len)
{
    if (len == 0)
        return buf;
    if (!value)
        value = "";
    int bare = value[0] != '\0';
    for (const char *p = value; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c == '"' || c == '\\' || c == '=' || c == 0x7f) {
            bare = 0;
            break;
        }
    }
    size_t o = 0;
    if (bare) {
        snprintf(buf, len, "%s", value);
        return buf;
    }
    if (o + 1 < len)
        buf[o++] = '"';
    for (const char *p = value; *p && o + 3 < len; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (c < ' ' || c == 0x7f) {
            buf[o++] = '?';
        } else {
            buf[o++] = (char)c;
        }
    }
    if (o + 1 < len)
        buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

static void vlog(enum log_level level, const char *event, const char *fmt, va_list ap)
{
    FILE *out = g_stream ? g_stream : stderr;
    char line[4096];
    char ts[32];
    struct timespec now;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    int n = snprintf(line, sizeof line, "ts=%s.%03ldZ level=%s event=%s", ts, now.tv_nsec / 1000000,
                     level_names[level], event);
    if (n < 0)
        return;
    if ((size_t)n + 1 < sizeof line && fmt && fmt[0]) {
        line[n] = ' ';
        vsnprintf(line + n + 1, sizeof line - (size_t)n - 1, fmt, ap);
        if (line[n + 1] == '\0')
            line[n] = '\0';
    }
    if (g_progress_shown) {
        fputs("\r\033[K", out);
        g_progress_shown = 0;
    }
    fprintf(out, "%s\n", line);
    fflush(out);
}

void log_progress(const char *fmt, ...)
{
    if (g_stream || !isatty(2))
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\r\033[K%s", line);
    fflush(stderr);
    g_progress_shown = 1;
}

void log_progress_end(void)
{
    if (!g_progress_shown)
        return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    g_progress_shown = 0;
}

void log_event(enum log_level level, const char *event, const char *fmt, ...)
{
    if (level < g_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, event, fmt, ap);
    va_end(ap);
}

void log_complain(struct log_complaint *c, time_t now, enum log_level level, const char *event,
                  const char *fmt, ...)
{
    if (c->interval != 0 && now < c->next) {
        c->suppressed++;
        return;
    }
    c->interval = c->interval == 0 ? 1 : c->interval * 2;
    if (c->interval > COMPLAIN_MAX_INTERVAL)
        c->interval = COMPLAIN_MAX_INTERVAL;
    c->next = now + c->interval;
    if (level < g_level)
        return;
    char msg[3000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt ? fmt : "", ap);
    va_end(ap);
    log_event(level, event, "%s%srepeated=%lu next_log_in=%lds", msg, msg[0] ? " " : "",
              c->suppressed, (long)c->interval);
    c->suppressed = 0;
}

void log_release(struct log_complaint *c, const char *event, const char *fmt, ...)
{
    if (c->interval == 0)
        return;
    unsigned long suppressed = c->suppressed;
    memset(c, 0, sizeof *c);
    if (LOG_INFO < g_level)
        return;
    char msg[3000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt ? fmt : "", ap);
    va_end(ap);
    log_event(LOG_INFO, event, "%s%srecovered=1 suppressed=%lu", msg, msg[0] ? " " : "",
              suppressed);
}

const char *log_secret_tail(const char *secret, char *buf, size_t len)
{
    size_t n = secret ? strlen(secret) : 0;
    if (n >= 12)
        snprintf(buf, len, "...%s", secret + n - 4);
    else
        snprintf(buf, len, "****");
    return buf;
}
