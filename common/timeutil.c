/*
 * UTC time parsing and formatting without the C library's time zone state
 * (no timegm/setenv("TZ")): civil-date arithmetic is done directly.
 */
#include "timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

int64_t tu_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void tu_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

int tu_parse_time(const char *s, int64_t *out)
{
    int Y, M, D, h = 0, mi = 0, sec = 0;
    if (!s || strlen(s) < 10)
        return -1;
    if (digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
        digits(s + 8, 2, &D))
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > days_in_month(Y, M))
        return -1;
    const char *p = s + 10;
    int64_t offset = 0;
    if (*p != '\0') {
        if (*p != 'T' && *p != 't' && *p != ' ')
            return -1;
        p++;
        if (strlen(p) < 8 || digits(p, 2, &h) || p[2] != ':' || digits(p + 3, 2, &mi) ||
            p[5] != ':' || digits(p + 6, 2, &sec))
            return -1;
        if (h > 23 || mi > 59 || sec > 60)
            return -1;
        p += 8;
        if (*p == '.') {
            p++;
            if (!isdigit((unsigned char)*p))
                return -1;
            while (isdigit((unsigned char)*p))
                p++;
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int oh, om;
            if (strlen(p) < 6 || digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) ||
                oh > 23 || om > 59)
                return -1;
            offset = (int64_t)(oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
            p += 6;
        } else {
            return -1;
        }
        if (*p != '\0')
            return -1;
    }
    if (sec == 60)
        sec = 59; /* leap second: clamp */
    *out = tu_days_from_civil(Y, (unsigned)M, (unsigned)D) * TU_DAY + (int64_t)h * 3600 +
           (int64_t)mi * 60 + sec - offset;
    return 0;
}

const char *tu_format_time(int64_t t, char *buf, size_t len)
{
    int64_t days = tu_floor(t, TU_DAY) / TU_DAY;
    int64_t rem = t - days * TU_DAY;
    int64_t y;
    unsigned m, d;
    tu_civil_from_days(days, &y, &m, &d);
    snprintf(buf, len, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m, d, (int)(rem / 3600),
             (int)(rem % 3600 / 60), (int)(rem % 60));
    return buf;
}

int tu_parse_duration(const char *s, int64_t *out)
{
    int64_t total = 0;
    if (!s || !*s)
        return -1;
    const char *p = s;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -1;
        int64_t n = 0;
        while (isdigit((unsigned char)*p)) {
            if (n > INT64_MAX / 10 - 10)
                return -1;
            n = n * 10 + (*p - '0');
            p++;
        }
        int64_t unit;
        switch (*p) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = TU_DAY; break;
        case 'w': unit = (int64_t)7 * TU_DAY; break;
        default: return -1;
        }
        p++;
        if (n > (INT64_MAX - total) / unit)
            return -1;
        total += n * unit;
    }
    if (total <= 0)
        return -1;
    *out = total;
    return 0;
}

const char *tu_format_duration(int64_t secs, char *buf, size_t len)
{
    static const struct {
        int64_t n;
        char u;
    } units[] = {{(int64_t)7 * TU_DAY, 'w'}, {TU_DAY, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (secs != 0 && secs % units[i].n == 0) {
            snprintf(buf, len, "%lld%c", (long long)(secs / units[i].n), units[i].u);
            return buf;
        }
    }
    snprintf(buf, len, "%llds", (long long)secs);
    return buf;
}

int64_t tu_floor(int64_t t, int64_t step)
{
    int64_t r = t % step;
    return r < 0 ? t - r - step : t - r;
}
