#include "impa/timeutil.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

char *impa_time_iso(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

char *impa_time_compact(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y%m%dT%H%M%SZ", &tm);
    return buf;
}

int impa_time_parse_iso(const char *s, int64_t *out)
{
    int Y, M, D, h = 0, m = 0;
    double sec = 0;
    char sep;
    int n = sscanf(s, "%d-%d-%d%c%d:%d:%lf", &Y, &M, &D, &sep, &h, &m, &sec);
    if (n < 3 || (n > 3 && n < 6) || (n >= 4 && sep != 'T' && sep != ' '))
        return IMPA_EINVAL;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec >= 61)
        return IMPA_EINVAL;
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = (int)sec;
    *out = (int64_t)timegm(&tm);
    return IMPA_OK;
}

int impa_time_parse_cf_units(const char *units, double *scale_s, int64_t *epoch)
{
    static const struct { const char *name; double s; } unit[] = {
        {"seconds", 1}, {"second", 1}, {"secs", 1}, {"sec", 1}, {"s", 1},
        {"minutes", 60}, {"minute", 60}, {"mins", 60}, {"min", 60},
        {"hours", 3600}, {"hour", 3600}, {"hrs", 3600}, {"h", 3600},
        {"days", 86400}, {"day", 86400}, {"d", 86400},
    };
    char word[32];
    int consumed = 0;
    if (!units || sscanf(units, " %31s since %n", word, &consumed) != 1 || consumed == 0)
        return IMPA_EINVAL;
    double sc = 0;
    for (size_t i = 0; i < sizeof unit / sizeof unit[0]; i++)
        if (strcasecmp(word, unit[i].name) == 0) {
            sc = unit[i].s;
            break;
        }
    if (sc == 0)
        return IMPA_EINVAL;
    /* The reference may omit the time or carry a "UTC"/"Z" suffix. */
    char ref[64];
    snprintf(ref, sizeof ref, "%s", units + consumed);
    char *utc = strstr(ref, " UTC");
    if (utc)
        *utc = '\0';
    if (impa_time_parse_iso(ref, epoch) != IMPA_OK)
        return IMPA_EINVAL;
    *scale_s = sc;
    return IMPA_OK;
}

double impa_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

double impa_time_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
