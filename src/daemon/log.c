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
    char raw[2048], line[4 * sizeof raw];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    /* Control characters (a newline in a scan's file name, an escape sequence
     * in a library's message) are written as \xNN: a name must not forge a
     * journal line of its own with a priority prefix, nor move the cursor. */
    size_t o = 0;
    for (const unsigned char *c = (const unsigned char *)raw; *c && o + 5 < sizeof line; c++) {
        if (*c < 0x20 || *c == 0x7f)
            o += (size_t)snprintf(line + o, sizeof line - o, "\\x%02x", *c);
        else
            line[o++] = (char)*c;
    }
    line[o] = '\0';
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
