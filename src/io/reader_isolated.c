/* Reading untrusted scans in a child process.
 *
 * The child (reader_child.c) reads the file with impa_reader_read and streams the
 * result through a pipe. The parent never trusts the child either: sizes are
 * re-checked and the stream must be complete. */
#include "impa/reader.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "impa/timeutil.h"
#include "io-impl.h"

#define MAX_SIDE 10000


impa_reader_limits_t impa_reader_limits_default(void)
{
    impa_reader_limits_t l = {.timeout_s = 20.0, .max_memory_bytes = (size_t)4 << 30};
    return l;
}

/* Reads exactly len bytes before the deadline (monotonic seconds), calling
 * lim->waiting every second it waits. 0, or -1 on EOF/error, -2 on time-out. */
static int read_all(int fd, void *buf, size_t len, double deadline, const impa_reader_limits_t *lim)
{
    char *p = buf;
    while (len > 0) {
        double left = deadline - impa_time_monotonic();
        if (left <= 0)
            return -2;
        if (lim->waiting && left > 1.0)
            left = 1.0;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            return -1;
        if (pr == 0 && lim->waiting && impa_time_monotonic() < deadline) {
            lim->waiting(lim->waiting_user);
            continue;
        }
        if (pr == 0)
            return -2;
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int impa_reader_read_isolated(const char *path, const impa_reader_opts_t *opts,
                              const impa_reader_limits_t *limits, impa_scan_t *scan,
                              char *err, size_t errlen)
{
    if (!path || !scan)
        return impa_err(err, errlen, IMPA_EINVAL, "reader: NULL path or scan");
    memset(scan, 0, sizeof *scan);
    impa_reader_limits_t lim = limits ? *limits : impa_reader_limits_default();
    if (!(lim.timeout_s > 0))
        lim.timeout_s = impa_reader_limits_default().timeout_s;
    impa_reader_opts_t def = impa_reader_opts_default();
    if (!opts)
        opts = &def;

    /* Read udunits2's and PROJ's databases once, here, not in every child. */
    impa_time_units_init();
    impa_io_proj_init();
    /* The fork server first (see reader_server.c); a fresh pipe for the direct
     * fork if it fails, so a child it may have started cannot write into ours. */
    int fds[2], served = 0;
    pid_t pid = -1;
    if (pipe2(fds, O_CLOEXEC) != 0)
        return impa_err(err, errlen, IMPA_EIO, "%s: pipe: %s", path, strerror(errno));
    if (impa_io_server_spawn(fds[1], path, opts, &lim, &pid) == 0) {
        served = 1;
    } else {
        close(fds[0]);
        close(fds[1]);
        if (pipe2(fds, O_CLOEXEC) != 0)
            return impa_err(err, errlen, IMPA_EIO, "%s: pipe: %s", path, strerror(errno));
        pid = fork();
        if (pid < 0) {
            int e = errno;
            close(fds[0]);
            close(fds[1]);
            return impa_err(err, errlen, IMPA_ENOMEM, "%s: fork: %s", path, strerror(e));
        }
        if (pid == 0) {
            close(fds[0]);
            impa_io_reader_child(fds[1], path, opts, &lim);
        }
    }
    close(fds[1]);

    double deadline = impa_time_monotonic() + lim.timeout_s;
    impa_io_wire_header_t *h = malloc(sizeof *h);
    int rc = IMPA_OK, got = h ? read_all(fds[0], h, sizeof *h, deadline, &lim) : -1;
    if (!h) {
        rc = impa_err(err, errlen, IMPA_ENOMEM, "%s: out of memory", path);
    } else if (got == 0 && h->rc != 0) {
        h->err[sizeof h->err - 1] = '\0';
        rc = impa_err(err, errlen, h->rc < 0 ? h->rc : IMPA_EFORMAT, "%s", h->err);
    } else if (got == 0) {
        impa_grid_t g = h->scan.grid;
        if (g.nx < 1 || g.ny < 1 || g.nx > MAX_SIDE || g.ny > MAX_SIDE || g.n_attrs < 0 ||
            g.n_attrs > IMPA_GRID_MAX_ATTRS) {
            rc = impa_err(err, errlen, IMPA_EFORMAT, "%s: reader process sent a bad grid", path);
        } else if ((rc = impa_scan_init(scan, &g)) != 0) {
            impa_err(err, errlen, rc, "%s: cannot allocate a %dx%d scan", path, g.ny, g.nx);
        } else {
            got = read_all(fds[0], scan->dbz, sizeof(float) * (size_t)g.nx * (size_t)g.ny, deadline,
                           &lim);
            scan->time = h->scan.time;
            memcpy(scan->path, h->scan.path, sizeof scan->path);
            memcpy(scan->variable, h->scan.variable, sizeof scan->variable);
            memcpy(scan->quantity, h->scan.quantity, sizeof scan->quantity);
            scan->path[sizeof scan->path - 1] = scan->variable[sizeof scan->variable - 1] =
                scan->quantity[sizeof scan->quantity - 1] = '\0';
        }
    }
    close(fds[0]);
    /* Killed only on a time-out, while the child still runs (it has not sent its
     * result), so the pid is still its own. */
    if (got == -2)
        kill(pid, SIGKILL);
    int status = 0;
    if (served) {
        if (impa_io_server_wait(pid, &status))
            status = 0; /* the server died: the child's end is not known */
    } else {
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    free(h);
    if (rc == IMPA_OK && got != 0) {
        if (got == -2)
            rc = impa_err(err, errlen, IMPA_EFORMAT, "%s: reader timed out after %g s", path,
                          lim.timeout_s);
        else if (WIFSIGNALED(status))
            rc = impa_err(err, errlen, IMPA_EFORMAT, "%s: reader crashed: signal %d (%s)", path,
                          WTERMSIG(status), strsignal(WTERMSIG(status)));
        else
            rc = impa_err(err, errlen, IMPA_EFORMAT,
                          "%s: reader process ended early (exit status %d; memory limit %zu MiB?)",
                          path, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                          lim.max_memory_bytes >> 20);
    }
    if (rc != IMPA_OK)
        impa_scan_deinit(scan);
    return rc;
}
