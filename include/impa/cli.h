/* The command-line convention of every impa program (impa-nowcastd and the tools):
 *
 *   - options parsed by getopt_long; long options, a few with short forms;
 *   - --help (-h): the usage on stdout, exit 0;
 *   - --version: impa_cli_version on stdout, exit 0;
 *   - usage errors (unknown option, missing or malformed argument, missing
 *     required option): "PROG: reason" and "Try 'PROG --help'." on stderr,
 *     nothing on stdout, exit 2 (IMPA_CLI_USAGE_EXIT);
 *   - other failures exit 1.
 * tests/tools/test_cli.sh checks it for every program. */
#ifndef IMPA_CLI_H
#define IMPA_CLI_H

#include <stdio.h>

#include "impa/error.h"

#define IMPA_CLI_USAGE_EXIT 2

/* getopt_long value of --version; with 'h' for --help:
 *   {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, IMPA_CLI_VERSION} */
#define IMPA_CLI_VERSION 0x7fff

/* Prints on stdout:
 *   PROG VERSION
 *   git: <git describe of the build>
 *   build: buildtype=... native=... sanitizers=... openmp=... systemd=... */
IMPA_API void impa_cli_version(const char *prog);

/* Prints "PROG: <fmt ...>" (when fmt is not NULL) and "Try 'PROG --help'." on
 * stderr; returns IMPA_CLI_USAGE_EXIT, for `return impa_cli_usage_error(...)`. */
IMPA_API int impa_cli_usage_error(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The cases every program's getopt_long switch shares, for its default: label:
 * 'h' -> usage(stdout), 0; IMPA_CLI_VERSION -> impa_cli_version, 0; anything else
 * (getopt's '?', already reported by getopt) -> the "Try" line, 2. Returns the
 * exit status:  default: return impa_cli_default(c, "impa-x", usage); */
IMPA_API int impa_cli_default(int opt, const char *prog, void (*usage)(FILE *));

/* 0 when no operand is left after the options (getopt's optind), else a usage
 * error naming the first one (IMPA_CLI_USAGE_EXIT). */
IMPA_API int impa_cli_no_operands(const char *prog, int argc, char **argv);

/* Whole-string integer / number of option opt within [lo, hi]. 0, or a usage
 * error printed (IMPA_CLI_USAGE_EXIT returned). */
IMPA_API int impa_cli_int(const char *prog, const char *opt, const char *arg, long lo, long hi, int *out);
IMPA_API int impa_cli_double(const char *prog, const char *opt, const char *arg, double lo, double hi,
                             double *out);

#endif
