/* End to end: impa-nowcastd as a separate process on a temporary directory with
 * the 32x32 golden_c model. Scans are dropped with write-then-rename; archive
 * files must appear and read back as CF NetCDF; a SIGHUP with a broken
 * configuration must leave the service running; SIGTERM must exit 0. Also
 * --check-config on good and bad files and on the shipped file, and the cycle
 * on its worker thread (made long by IMPA_TEST_CYCLE_DELAY_S): a stop within a
 * second with nothing of the cycle written, status and snapshots answered
 * during the cycle, scans that arrive during it queued and the backlog
 * coalesced. */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "impa/archive.h"
#include "impa/timeutil.h"
#include "impa_build_config.h"
#include "scan_writer.h"

#define N 32
#define T0 1604102400

static pid_t daemon_pid = -1; /* killed at exit if a failed assertion left it running */

/* Plays systemd's side of sd_notify: reads the datagrams as they come, as
 * systemd does. A socket read only at the end would fill up (net.unix.
 * max_dgram_qlen, 10 by default) and block the daemon in sendmsg. */
typedef struct {
    int fd;
    atomic_int stop;
    char first[64], last[64];
    int n_msgs, n_status, n_reloading, n_watchdog;
} notify_log_t;

static void *collect_notify(void *arg)
{
    notify_log_t *nl = arg;
    char msg[1024];
    for (;;) {
        struct pollfd p = {.fd = nl->fd, .events = POLLIN};
        int ready = poll(&p, 1, 100);
        ssize_t len = ready > 0 ? recv(nl->fd, msg, sizeof msg - 1, 0) : -1;
        if (len <= 0) {
            if (nl->stop)
                return NULL;
            continue;
        }
        msg[len] = '\0';
        if (!nl->n_msgs++)
            snprintf(nl->first, sizeof nl->first, "%.60s", msg);
        snprintf(nl->last, sizeof nl->last, "%.60s", msg);
        nl->n_status += !strncmp(msg, "STATUS=", 7);
        nl->n_reloading += !strcmp(msg, "RELOADING=1");
        nl->n_watchdog += !strcmp(msg, "WATCHDOG=1");
    }
}
static char dir[64], in[128], out[128], cfg[128], logp[128], daemon_path[4200], weights[4200];
static const char *cycle_delay; /* IMPA_TEST_CYCLE_DELAY_S of the next start_daemon */

static void write_config(const char *path, const char *extra)
{
    FILE *c = fopen(path, "w");
    assert_non_null(c);
    fprintf(c,
            "domain: {name: e2e}\n"
            "input: {directory: in}\n"
            "output: {directory: out, retention_hours: 0}\n"
            "verification: {state_directory: state}\n"
            "model: {weights: %s, threads: 1}\n"
            "publish: {endpoints: ['ipc://%s/pub'], request_endpoint: 'ipc://%s/req',\n"
            "          status_interval_s: 1}\n"
            "%s",
            weights, dir, dir, extra ? extra : "");
    fclose(c);
}

static int run_check(const char *path, char *output, size_t len)
{
    char cmd[8600];
    snprintf(cmd, sizeof cmd, "'%s' --check-config '%s' 2>&1", daemon_path, path);
    FILE *p = popen(cmd, "r");
    size_t n = fread(output, 1, len - 1, p);
    output[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_check_config(void **state)
{
    char outb[4096], bad[160];
    write_config(cfg, NULL);
    assert_int_equal(run_check(cfg, outb, sizeof outb), 0);
    assert_non_null(strstr(outb, "valid (sha256 "));
    snprintf(bad, sizeof bad, "%s/bad.yaml", dir);
    write_config(bad, "window: {jitter_s: x, gap_policy: later}\nfoo: 1\n");
    assert_int_equal(run_check(bad, outb, sizeof outb), 1);
    char expect[1024];
    snprintf(expect, sizeof expect,
             "%s:8: key 'window.jitter_s': 'x' is not an integer\n"
             "%s:8: key 'window.gap_policy': 'later' is not one of wait/extrapolate\n"
             "%s:9: key 'foo': unknown key\n",
             bad, bad, bad);
    assert_string_equal(outb, expect);

    /* The shipped file from the source tree, without --model: valid, and the
     * directories it names are reported, not created. */
    char cmd[8800], shipped[160];
    snprintf(shipped, sizeof shipped, "%s/shipped", dir);
    snprintf(cmd, sizeof cmd,
             "'%s' --check-config '%s/etc/impa-nowcast.yaml' --input-dir %s/in --output %s/out "
             "--state-dir %s/st 2>&1",
             daemon_path, getenv("IMPA_SOURCE_ROOT") ? getenv("IMPA_SOURCE_ROOT")
                                                      : IMPA_SOURCE_ROOT,
             shipped, shipped, shipped);
    FILE *p = popen(cmd, "r");
    size_t n = fread(outb, 1, sizeof outb - 1, p);
    outb[n] = '\0';
    int st = pclose(p);
    printf("%s", outb);
    if (access(IMPA_MODELDIR "/impa-net.nc", R_OK) != 0)
        assert_non_null(strstr(outb, "using the source checkout's"));
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_non_null(strstr(outb, "does not exist; start-up creates it"));
    assert_non_null(strstr(outb, "impa-nowcast.yaml: valid (sha256 "));
    assert_int_equal(access(shipped, F_OK), -1);
    (void)state;
}

static int count_archives(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls '%s' 2>/dev/null | grep -c '^impa_.*\\.nc$'", out);
    FILE *p = popen(cmd, "r");
    int n = 0;
    if (fscanf(p, "%d", &n) != 1)
        n = 0;
    pclose(p);
    return n;
}

static int wait_archives(int want, double timeout_s)
{
    double t0 = impa_time_monotonic();
    while (impa_time_monotonic() - t0 < timeout_s) {
        if (count_archives() >= want)
            return 1;
        usleep(100000);
    }
    return 0;
}

static int log_has(const char *text)
{
    FILE *r = fopen(logp, "r");
    char line[4096];
    int found = 0;
    while (r && fgets(line, sizeof line, r))
        found |= strstr(line, text) != NULL;
    if (r)
        fclose(r);
    return found;
}

static int wait_log(const char *text, double timeout_s)
{
    double t0 = impa_time_monotonic();
    while (impa_time_monotonic() - t0 < timeout_s) {
        if (log_has(text))
            return 1;
        usleep(100000);
    }
    return 0;
}

static void drop(int64_t t)
{
    char name[64];
    snprintf(name, sizeof name, "radar_%lld.nc", (long long)t);
    assert_int_equal(test_drop_scan(in, name, N, N, t), 0);
}

/* Starts impa-nowcastd on cfg, stderr to logp (truncated); notify_sock NULL =
 * no sd_notify. */
static pid_t start_daemon(const char *notify_sock)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    daemon_pid = pid;
    if (pid == 0) {
        if (notify_sock) {
            setenv("NOTIFY_SOCKET", notify_sock, 1);
            setenv("WATCHDOG_USEC", "60000000", 1); /* as WatchdogSec=60 */
        }
        if (cycle_delay)
            setenv("IMPA_TEST_CYCLE_DELAY_S", cycle_delay, 1);
        FILE *l = freopen(logp, "w", stderr);
        (void)l;
        execl(daemon_path, daemon_path, "--config", cfg, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* SIGTERM, then exit 0 within 60 s. */
static void stop_daemon(pid_t pid)
{
    assert_int_equal(kill(pid, SIGTERM), 0);
    double t0 = impa_time_monotonic();
    int status;
    pid_t r = 0;
    while ((r = waitpid(pid, &status, WNOHANG)) == 0 && impa_time_monotonic() - t0 < 60.0)
        usleep(100000);
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("impa-nowcastd did not stop on SIGTERM");
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    daemon_pid = -1;
}

static void test_service_lifecycle(void **state)
{
    write_config(cfg, NULL);
    mkdir(in, 0755);
    drop(T0); /* present before start: restart recovery picks it up */
    /* play systemd: collect the sd_notify datagrams */
    char sock[100]; /* fits sun_path */
    snprintf(sock, sizeof sock, "%.60s/notify.sock", dir);
    int nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
    assert_int_equal(bind(nfd, (struct sockaddr *)&sa, sizeof sa), 0);
    static notify_log_t nl;
    nl.fd = nfd;
    pthread_t collector;
    assert_int_equal(pthread_create(&collector, NULL, collect_notify, &nl), 0);
    pid_t pid = start_daemon(sock);
    assert_true(wait_log("READY", 0.0) || wait_log("watching", 60.0));
    assert_true(log_has("recovery: 1 existing files"));
    for (int k = 1; k < 5; k++)
        drop(T0 + k * 600);
    if (!wait_archives(2, 120.0)) {
        kill(pid, SIGKILL);
        fail_msg("no archive files appeared");
    }
    /* The archive is valid CF NetCDF that the io module reads back. */
    char path[256], iso[32], method[32], err[512];
    snprintf(path, sizeof path, "%s/impa_%s.nc", out, impa_time_compact(T0 + 1800, iso, sizeof iso));
    impa_grid_t g;
    int64_t issue;
    int step, n_leads;
    float *dbz = NULL;
    assert_int_equal(impa_archive_read(path, &g, &issue, &step, &n_leads, &dbz, method,
                                       sizeof method, err, sizeof err), 0);
    assert_int_equal(g.nx, N);
    assert_int_equal(g.ny, N);
    assert_true(issue == T0 + 1800);
    assert_int_equal(n_leads, 12);
    assert_int_equal(step, 10);
    assert_string_equal(method, "impa-net");
    int finite = 0;
    for (int i = 0; i < n_leads * N * N; i++)
        finite += dbz[i] == dbz[i];
    assert_true(finite > 0);
    free(dbz);

    /* A broken configuration on SIGHUP: refused, the service keeps running. */
    write_config(cfg, "window: {gap_policy: sometimes}\n");
    assert_int_equal(kill(pid, SIGHUP), 0);
    assert_true(wait_log("reload refused", 30.0));
    int status;
    assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
    drop(T0 + 5 * 600);
    assert_true(wait_archives(3, 120.0));

    /* A valid configuration on SIGHUP is taken. */
    write_config(cfg, NULL);
    assert_int_equal(kill(pid, SIGHUP), 0);
    assert_true(wait_log("reload: configuration", 60.0));
    drop(T0 + 6 * 600);
    assert_true(wait_archives(4, 120.0));

    /* SIGTERM: clean exit 0. */
    stop_daemon(pid);
    assert_true(log_has("stopped:"));
    nl.stop = 1; /* the daemon has exited: what it sent is queued */
    pthread_join(collector, NULL);
    close(nfd);
    assert_string_equal(nl.first, "READY=1");
    assert_string_equal(nl.last, "STOPPING=1");
    assert_true(nl.n_status >= 1);
    assert_int_equal(nl.n_reloading, 2);
    /* pinged before the forecast, before the archive write and after each cycle
     * (at least 4 cycles ran), on top of the status interval's pings */
    printf("notify: %d messages, %d WATCHDOG=1\n", nl.n_msgs, nl.n_watchdog);
    assert_true(nl.n_watchdog >= 3 * 4);

    /* A restart picks up the alert tracks saved after the last cycle. */
    char st[160];
    snprintf(st, sizeof st, "%s/state/alerts.state", dir);
    assert_int_equal(access(st, R_OK), 0);
    snprintf(logp, sizeof logp, "%s/daemon2.log", dir); /* a log of its own */
    pid = start_daemon(NULL);
    assert_true(wait_log("watching", 60.0)); /* signal handlers are in place */
    assert_true(log_has("alert tracks restored from"));
    stop_daemon(pid);
    (void)state;
}


/* A fresh input, output and state directory and log for a test of its own. */
static void fresh(const char *log_name)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s' '%s/state'", in, out, dir);
    assert_int_equal(system(cmd), 0);
    mkdir(in, 0755);
    snprintf(logp, sizeof logp, "%s/%s", dir, log_name);
    write_config(cfg, NULL);
}

/* A daemon of its own whose cycles' forecasts last delay more seconds
 * (IMPA_TEST_CYCLE_DELAY_S), ready when this returns. */
static pid_t start_slow_daemon(const char *log_name, const char *delay)
{
    fresh(log_name);
    cycle_delay = delay;
    pid_t pid = start_daemon(NULL);
    cycle_delay = NULL;
    assert_true(wait_log("watching", 60.0));
    return pid;
}

static int archive_exists(int64_t issue)
{
    char path[256], iso[32];
    snprintf(path, sizeof path, "%s/impa_%s.nc", out, impa_time_compact(issue, iso, sizeof iso));
    return access(path, F_OK) == 0;
}

/* SIGTERM while a cycle is inside its forecast (made 30 s long): the daemon is
 * gone within a second, exit 0, and nothing of that cycle is written (no
 * archive file, no temporary file). */
static void test_stop_during_cycle(void **state)
{
    (void)state;
    pid_t pid = start_slow_daemon("stop.log", "30");
    for (int k = 0; k < 4; k++)
        drop(T0 + k * 600);
    assert_true(wait_log("window 4/4", 60.0));
    usleep(300000); /* the cycle has started */
    double t0 = impa_time_monotonic();
    assert_int_equal(kill(pid, SIGTERM), 0);
    int status;
    while (waitpid(pid, &status, WNOHANG) == 0 && impa_time_monotonic() - t0 < 10.0)
        usleep(10000);
    double took = impa_time_monotonic() - t0;
    daemon_pid = -1;
    printf("stopped %.3f s after SIGTERM, during the cycle\n", took);
    assert_true(took < 1.0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(log_has("abandoned in its forecast stage (stopping), nothing of it written"));
    assert_true(log_has("stopped: 4 scans, 0 cycles"));
    assert_int_equal(count_archives(), 0);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -c tmp", out);
    FILE *p = popen(cmd, "r");
    int tmps = -1;
    assert_int_equal(fscanf(p, "%d", &tmps), 1);
    pclose(p);
    assert_int_equal(tmps, 0);
}

/* A cycle made 4 s long: while it runs the loop publishes status (every second)
 * and answers a snapshot request; three scans for new steps arrive and are
 * queued; when it ends they are read and the three windows they complete run
 * as one cycle, the newest, with the count logged. Every scan is counted. */
static void test_cycle_off_the_loop(void **state)
{
    (void)state;
    pid_t pid = start_slow_daemon("worker.log", "4");
    void *ctx = zmq_ctx_new();
    void *sub = zmq_socket(ctx, ZMQ_SUB), *req = zmq_socket(ctx, ZMQ_REQ);
    int zero = 0;
    zmq_setsockopt(sub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "impa.status.", 12);
    char ep[160];
    snprintf(ep, sizeof ep, "ipc://%s/pub", dir);
    assert_int_equal(zmq_connect(sub, ep), 0);
    snprintf(ep, sizeof ep, "ipc://%s/req", dir);
    assert_int_equal(zmq_connect(req, ep), 0);
    for (int k = 0; k < 4; k++)
        drop(T0 + k * 600);
    assert_true(wait_log("window 4/4", 60.0));
    double t_start = impa_time_monotonic();
    for (int k = 4; k < 7; k++) /* arrive during the cycle */
        drop(T0 + k * 600);
    /* status during the cycle: count the messages of the next 2.5 s */
    int n_status = 0;
    while (impa_time_monotonic() - t_start < 2.5) {
        zmq_pollitem_t it = {sub, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 100) > 0) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            int more = 1;
            while (more && zmq_msg_recv(&m, sub, 0) >= 0)
                more = zmq_msg_more(&m);
            zmq_msg_close(&m);
            n_status++;
        }
    }
    /* a snapshot request, answered at once although the cycle runs */
    double t_req = impa_time_monotonic();
    assert_int_equal(zmq_send(req, "latest", 6, 0), 6);
    zmq_pollitem_t it = {req, 0, ZMQ_POLLIN, 0};
    assert_int_equal(zmq_poll(&it, 1, 1000), 1);
    double t_reply = impa_time_monotonic() - t_req;
    char reply[512];
    int rn = zmq_recv(req, reply, sizeof reply - 1, 0);
    assert_true(rn > 0);
    reply[rn] = '\0';
    int during = !log_has("cycle 2020-10-31T00:30:00Z: impa-net");
    printf("during the cycle: %d status messages, snapshot reply in %.3f s (%s)\n", n_status,
           t_reply, during ? "cycle still running" : "cycle over");
    assert_true(during);
    assert_true(n_status >= 2);
    assert_non_null(strstr(reply, "\"type\":\"snapshot\""));
    assert_non_null(strstr(reply, "\"available\":false"));
    /* the backlog: 00:40, 00:50 and 01:00 due, one cycle for 01:00 */
    assert_true(wait_log("backlog: 3 windows became due while a cycle ran (from "
                         "2020-10-31T00:40:00Z); 2 cycles coalesced into the newest, "
                         "2020-10-31T01:00:00Z", 60.0));
    assert_true(wait_archives(2, 60.0));
    assert_true(archive_exists(T0 + 1800));
    assert_true(archive_exists(T0 + 3600));
    assert_false(archive_exists(T0 + 2400));
    assert_false(archive_exists(T0 + 3000));
    zmq_close(sub);
    zmq_close(req);
    zmq_ctx_term(ctx);
    stop_daemon(pid);
    assert_true(log_has("stopped: 7 scans, 2 cycles, 0 quarantined"));
}

int main(void)
{
    const char *root = getenv("IMPA_SOURCE_ROOT"), *build = getenv("IMPA_BUILD_ROOT");
    snprintf(weights, sizeof weights, "%s/tests/data/golden_c_weights.nc",
             root ? root : IMPA_SOURCE_ROOT);
    snprintf(daemon_path, sizeof daemon_path, "%s/src/daemon/impa-nowcastd", build ? build : ".");
    if (access(weights, R_OK) || access(daemon_path, X_OK)) {
        printf("skip: %s or %s missing\n", weights, daemon_path);
        return 77;
    }
    snprintf(dir, sizeof dir, "/tmp/impa-e2e-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(in, sizeof in, "%s/in", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(cfg, sizeof cfg, "%s/impa.yaml", dir);
    snprintf(logp, sizeof logp, "%s/daemon.log", dir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_config),
        cmocka_unit_test(test_service_lifecycle),
        cmocka_unit_test(test_stop_during_cycle),
        cmocka_unit_test(test_cycle_off_the_loop),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (daemon_pid > 0) {
        kill(daemon_pid, SIGKILL);
        waitpid(daemon_pid, NULL, 0);
    }
    if (rc) {
        fprintf(stderr, "daemon log kept in %s\n", logp);
    } else {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd))
            rc = 1;
    }
    return rc;
}
