#include "daemon/log.h"

#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include "impa/timeutil.h"

static int log_level = IMPA_LOG_INFO;
static int log_prefix = -1;
static FILE *log_out;

void impa_log_setup(int level, int prefix, FILE *out)
{
    log_level = level;
    log_out = out;
    log_prefix = prefix >= 0 ? prefix : !isatty(fileno(out ? out : stderr));
}

void impa_log_set_level(int level) { log_level = level; }

void impa_log(int level, const char *fmt, ...)
{
    static const char *names[] = {"emerg", "alert", "crit", "error",
                                  "warning", "notice", "info", "debug"};
    if (level > log_level)
        return;
    FILE *out = log_out ? log_out : stderr;
    if (log_prefix < 0)
        log_prefix = !isatty(fileno(out));
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (level < 0)
        level = 0;
    if (level > 7)
        level = 7;
    /* One fprintf per line so concurrent writers never interleave inside a line. */
    if (log_prefix) {
        fprintf(out, "<%d>%s\n", level, line);
    } else {
        char iso[32];
        impa_time_iso((int64_t)time(NULL), iso, sizeof iso);
        fprintf(out, "%s %s: %s\n", iso, names[level], line);
    }
    fflush(out);
}
