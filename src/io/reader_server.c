/* The reader fork server: a single-threaded process, forked before the daemon
 * starts any thread, that forks the per-scan reader children.
 *
 * Why: fork() in a multi-threaded process copies only the calling thread; any
 * lock another thread held at that moment stays locked in the child for good.
 * glibc's malloc guards itself with fork handlers, but AddressSanitizer's
 * allocator (GCC 12) does not, and ZeroMQ's I/O threads allocate at any time:
 * under ASan a reader child hung on the allocator lock in about 1 fork of 20
 * (CI, test_daemon_service), and the scan was quarantined after the 20 s limit.
 * Libraries other than malloc (libhdf5, PROJ, udunits2) have no fork handlers
 * either. Forking from a process that never has a second thread removes the
 * whole class. Without a server (tools, tests that do not start one, or a
 * server that died) impa_reader_read_isolated forks directly as before.
 *
 * Protocol on a SOCK_SEQPACKET pair, one request at a time:
 *   client -> server  request_t + the write end of a result pipe (SCM_RIGHTS)
 *   server -> client  reply_t {pid of the reader child, errno of fork}
 *   server -> client  reply_t {wait status of the child} once it has ended
 * The child writes its result into the pipe exactly as a directly forked one. */
#include "impa/reader.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "impa/error.h"
#include "impa/timeutil.h"
#include "io-impl.h"

typedef struct {
    char path[4096];
    char variable[256];
    int has_variable;
    impa_reader_opts_t opts; /* opts.variable meaningless here: see variable */
    impa_reader_limits_t lim;
} request_t;

typedef struct {
    int32_t pid;
    int32_t value; /* errno of fork (first reply), wait status (second) */
} reply_t;

static pthread_mutex_t server_lock = PTHREAD_MUTEX_INITIALIZER;
static int server_fd = -1;
static pid_t server_pid = -1;

static int recv_request(int sock, request_t *req, int *fd)
{
    char ctl[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {.iov_base = req, .iov_len = sizeof *req};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                       .msg_controllen = sizeof ctl};
    ssize_t n;
    do
        n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return -1; /* the daemon is gone */
    *fd = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(fd, CMSG_DATA(c), sizeof(int));
    if ((size_t)n != sizeof *req || *fd < 0) {
        if (*fd >= 0)
            close(*fd);
        return 1; /* malformed: skip it */
    }
    req->path[sizeof req->path - 1] = req->variable[sizeof req->variable - 1] = '\0';
    return 0;
}

static void send_reply(int sock, int32_t pid, int32_t value)
{
    reply_t r = {.pid = pid, .value = value};
    while (send(sock, &r, sizeof r, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

static void serve(int sock)
{
    /* The server lives exactly as long as the daemon: it dies with it
     * (PDEATHSIG, or EOF on the socket) and leaves terminal and stop signals
     * to the daemon, which ends it by closing the socket. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (;;) {
        request_t req;
        int fd, rc = recv_request(sock, &req, &fd);
        if (rc < 0)
            _exit(0);
        if (rc > 0)
            continue;
        pid_t pid = fork();
        if (pid == 0) {
            close(sock);
            req.opts.variable = req.has_variable ? req.variable : NULL;
            impa_io_reader_child(fd, req.path, &req.opts, &req.lim);
        }
        int e = pid < 0 ? errno : 0;
        close(fd);
        send_reply(sock, pid < 0 ? -1 : pid, e);
        if (pid < 0)
            continue;
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        send_reply(sock, pid, status);
    }
}

int impa_reader_server_start(char *err, size_t errlen)
{
    pthread_mutex_lock(&server_lock);
    int rc = IMPA_OK;
    if (server_fd >= 0)
        goto out;
    /* Children inherit the databases read here, as in the direct path. */
    impa_time_units_init();
    impa_io_proj_init();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
        rc = impa_err(err, errlen, IMPA_EIO, "reader server: socketpair: %s", strerror(errno));
        goto out;
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        rc = impa_err(err, errlen, IMPA_ENOMEM, "reader server: fork: %s", strerror(e));
        goto out;
    }
    if (pid == 0) {
        close(sv[0]);
        serve(sv[1]);
    }
    close(sv[1]);
    server_fd = sv[0];
    server_pid = pid;
out:
    pthread_mutex_unlock(&server_lock);
    return rc;
}

static void server_drop(void)
{
    if (server_fd < 0)
        return;
    close(server_fd); /* EOF: the server exits */
    server_fd = -1;
    while (waitpid(server_pid, NULL, 0) < 0 && errno == EINTR)
        ;
    server_pid = -1;
}

void impa_reader_server_stop(void)
{
    pthread_mutex_lock(&server_lock);
    server_drop();
    pthread_mutex_unlock(&server_lock);
}

int impa_reader_server_running(void)
{
    pthread_mutex_lock(&server_lock);
    int up = server_fd >= 0;
    pthread_mutex_unlock(&server_lock);
    return up;
}

/* One reply within `wait_s` seconds: 0, or -1 (the server is then dropped). */
static int recv_reply(reply_t *r, double wait_s)
{
    double deadline = impa_time_monotonic() + wait_s;
    for (;;) {
        double left = deadline - impa_time_monotonic();
        struct pollfd p = {.fd = server_fd, .events = POLLIN};
        int pr = left > 0 ? poll(&p, 1, (int)(left * 1000) + 1) : 0;
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            break;
        ssize_t n = recv(server_fd, r, sizeof *r, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == (ssize_t)sizeof *r)
            return 0;
        break;
    }
    server_drop();
    return -1;
}

int impa_io_server_spawn(int fd, const char *path, const impa_reader_opts_t *opts,
                         const impa_reader_limits_t *lim, pid_t *pid)
{
    pthread_mutex_lock(&server_lock);
    int rc = -1;
    if (server_fd < 0 || strlen(path) >= sizeof ((request_t *)0)->path)
        goto out;
    request_t req;
    memset(&req, 0, sizeof req);
    memcpy(req.path, path, strlen(path) + 1);
    req.opts = *opts;
    req.opts.variable = NULL;
    if (opts->variable && opts->variable[0]) {
        if (strlen(opts->variable) >= sizeof req.variable)
            goto out;
        strcpy(req.variable, opts->variable);
        req.has_variable = 1;
    }
    req.lim = *lim;
    char ctl[CMSG_SPACE(sizeof(int))];
    memset(ctl, 0, sizeof ctl);
    struct iovec iov = {.iov_base = &req, .iov_len = sizeof req};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                       .msg_controllen = sizeof ctl};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    ssize_t n;
    do
        n = sendmsg(server_fd, &m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof req) {
        server_drop();
        goto out;
    }
    reply_t r;
    if (recv_reply(&r, 10.0) == 0 && r.pid > 0) {
        *pid = r.pid;
        return 0; /* the server stays locked until impa_io_server_wait */
    }
out:
    pthread_mutex_unlock(&server_lock);
    return rc;
}

int impa_io_server_wait(pid_t pid, int *status)
{
    int rc = -1;
    reply_t r;
    /* The child has sent its result, failed or been killed: the server's
     * waitpid returns at once; the child's own alarm bounds the rest. */
    if (server_fd >= 0 && recv_reply(&r, 30.0) == 0 && r.pid == pid) {
        *status = r.value;
        rc = 0;
    }
    pthread_mutex_unlock(&server_lock);
    return rc;
}
