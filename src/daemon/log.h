/* Daemon logging: one line per event on stderr. When stderr is not a terminal
 * (journald, a pipe) every line starts with its syslog priority "<3>".."<7>",
 * which journald turns into the entry's priority; on a terminal the line starts
 * with a UTC time stamp and the level name instead. Only the daemon layer logs. */
#ifndef IMPA_DAEMON_LOG_H
#define IMPA_DAEMON_LOG_H

#include <stdio.h>

#include "impa/error.h"

enum {
    IMPA_LOG_ERR = 3,     /* the service cannot do its job (start-up failure, cycle failure) */
    IMPA_LOG_WARNING = 4, /* bad input quarantined, fallback used, reload refused */
    IMPA_LOG_NOTICE = 5,  /* lifecycle: start, ready, reload, stop */
    IMPA_LOG_INFO = 6,    /* every scan and every cycle */
    IMPA_LOG_DEBUG = 7,   /* off-grid scans, timings of each stage */
};

/* level: least severe priority written. prefix: 1 = syslog prefixes, 0 = time
 * stamps, -1 = decide from isatty(stderr). out NULL = stderr. */
void impa_log_setup(int level, int prefix, FILE *out);
void impa_log_set_level(int level);
void impa_log(int level, const char *fmt, ...) IMPA_PRINTF(2, 3);

#endif
