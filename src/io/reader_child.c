/* The body of a reader child process, forked directly (reader_isolated.c) or by
 * the fork server (reader_server.c): reads one file with impa_reader_read and
 * streams the result into a pipe, an impa_io_wire_header_t and then the ny*nx
 * dBZ values. Ends with _exit so no atexit handler or stdio buffer of the
 * parent runs twice. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "io-impl.h"

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

_Noreturn void impa_io_reader_child(int fd, const char *path, const impa_reader_opts_t *opts,
                                    const impa_reader_limits_t *lim)
{
    /* Inherited handlers must not run here: the daemon's write to its signal
     * self-pipe (a Ctrl-C to the process group must simply end the child), and any
     * crash handler of the caller (a crash must end the child, never resume it). */
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGALRM};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
#if !defined(__SANITIZE_ADDRESS__)
    /* ASan reserves terabytes of address space: no RLIMIT_AS under it. */
    if (lim->max_memory_bytes > 0) {
        struct rlimit rl = {lim->max_memory_bytes, lim->max_memory_bytes};
        setrlimit(RLIMIT_AS, &rl);
    }
#endif
    /* CPU-bound hangs end here even if the parent is gone; default action kills. */
    alarm((unsigned)ceil(lim->timeout_s) + 1);
    /* test hook: IMPA_TEST_SLOW_READ=<name part>:<seconds> makes the read of
     * every file whose path contains the part that much slower (a libnetcdf
     * that takes its time, without depending on how fast this machine is) */
    const char *slow = getenv("IMPA_TEST_SLOW_READ"), *colon = slow ? strrchr(slow, ':') : NULL;
    if (colon && colon > slow) {
        char part[256];
        snprintf(part, sizeof part, "%.*s", (int)(colon - slow), slow);
        if (strstr(path, part)) {
            struct timespec ts = {.tv_sec = atoi(colon + 1)};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
        }
    }
    static impa_io_wire_header_t h;
    memset(&h, 0, sizeof h);
    h.rc = impa_reader_read(path, opts, &h.scan, h.err, sizeof h.err);
    int bad = write_all(fd, &h, sizeof h);
    if (!bad && h.rc == 0)
        bad = write_all(fd, h.scan.dbz, sizeof(float) * (size_t)h.scan.grid.nx * (size_t)h.scan.grid.ny);
    _exit(bad ? 3 : 0);
}

