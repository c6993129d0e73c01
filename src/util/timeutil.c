#include "impa/timeutil.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <udunits2.h>

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

/* CF time units are UDUNITS-2 units, parsed by udunits2 itself: its unit
 * database (read once per process, ~15 ms) and its parser, which is not
 * reentrant, hence the lock. The lock is held across fork() (pthread_atfork) so
 * that a reader child never inherits it locked or udunits half-way through a
 * parse. */
static pthread_once_t ud_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t ud_lock = PTHREAD_MUTEX_INITIALIZER;
static ut_system *ud_sys;
static ut_unit *ud_epoch; /* seconds since 1970-01-01 00:00:00 UTC */

static void ud_lock_fn(void)
{
    pthread_mutex_lock(&ud_lock);
}

static void ud_unlock_fn(void)
{
    pthread_mutex_unlock(&ud_lock);
}

static void ud_init(void)
{
    ut_set_error_message_handler(ut_ignore); /* library code never prints */
    ud_sys = ut_read_xml(NULL);
    if (ud_sys)
        ud_epoch = ut_parse(ud_sys, "seconds since 1970-01-01 00:00:00 UTC", UT_ASCII);
    pthread_atfork(ud_lock_fn, ud_unlock_fn, ud_unlock_fn);
}

int impa_time_units_init(void)
{
    pthread_once(&ud_once, ud_init);
    return ud_epoch ? IMPA_OK : IMPA_EIO;
}

int impa_time_parse_cf_units(const char *units, double *scale_s, int64_t *epoch)
{
    if (!units || !strstr(units, " since ")) /* CF: a time coordinate's units name a reference time */
        return IMPA_EINVAL;
    if (impa_time_units_init() != IMPA_OK)
        return IMPA_EIO;
    int rc = IMPA_EINVAL;
    pthread_mutex_lock(&ud_lock);
    ut_unit *u = ut_parse(ud_sys, units, UT_ASCII);
    cv_converter *cv = u && ut_are_convertible(u, ud_epoch) ? ut_get_converter(u, ud_epoch) : NULL;
    if (cv) {
        double t0 = cv_convert_double(cv, 0.0);
        /* the step over a long interval: exact to ~1e-13 even far from 1970 */
        double scale = (cv_convert_double(cv, 1e6) - t0) / 1e6;
        if (isfinite(t0) && isfinite(scale) && scale > 0 && fabs(t0) < 1e15) {
            *epoch = (int64_t)llround(t0);
            *scale_s = scale;
            rc = IMPA_OK;
        }
        cv_free(cv);
    }
    ut_free(u);
    pthread_mutex_unlock(&ud_lock);
    return rc;
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
