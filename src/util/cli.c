/* The command-line convention of every program (include/impa/cli.h). */
#include "impa/cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "impa_build_config.h"
#include "impa_git.h"

void impa_cli_version(const char *prog)
{
    printf("%s %s\ngit: %s\nbuild: %s\n", prog, IMPA_VERSION, IMPA_GIT_DESCRIBE, IMPA_BUILD_OPTIONS);
}

int impa_cli_usage_error(const char *prog, const char *fmt, ...)
{
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "%s: ", prog);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    fprintf(stderr, "Try '%s --help'.\n", prog);
    return IMPA_CLI_USAGE_EXIT;
}

int impa_cli_int(const char *prog, const char *opt, const char *arg, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = arg ? strtol(arg, &end, 10) : 0;
    if (!arg || end == arg || *end || errno || v < lo || v > hi)
        return impa_cli_usage_error(prog, "%s: '%s' is not an integer in %ld..%ld", opt, arg ? arg : "", lo, hi);
    *out = (int)v;
    return 0;
}

int impa_cli_double(const char *prog, const char *opt, const char *arg, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = arg ? strtod(arg, &end) : 0;
    if (!arg || end == arg || *end || errno || !isfinite(v) || v < lo || v > hi)
        return impa_cli_usage_error(prog, "%s: '%s' is not a number in %g..%g", opt, arg ? arg : "", lo, hi);
    *out = v;
    return 0;
}

int impa_cli_default(int opt, const char *prog, void (*usage)(FILE *))
{
    if (opt == 'h') {
        usage(stdout);
        return 0;
    }
    if (opt == IMPA_CLI_VERSION) {
        impa_cli_version(prog);
        return 0;
    }
    return impa_cli_usage_error(prog, NULL);
}

int impa_cli_no_operands(const char *prog, int argc, char **argv)
{
    return optind < argc ? impa_cli_usage_error(prog, "unexpected argument '%s'", argv[optind]) : 0;
}
