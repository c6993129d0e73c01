/* Fault injection against a running impa-nowcastd (suite 'faults').
 *
 * Every test starts its own daemon (32x32 golden_c model, t_in 4, 10-min step) on
 * a fresh temporary directory, fills the window with 4 valid scans (one cycle),
 * injects one fault, then checks that the daemon
 *   - is still running,
 *   - logged a line naming the file and the reason,
 *   - counts the event in its status (impa.status.<domain> on ZeroMQ) where the
 *     status has a counter for it,
 *   - loses no valid scan: the next valid scan runs its cycle with the network.
 *
 * The daemon runs under a small shell wrapper (optionally inside `unshare -rm`, a
 * private user+mount namespace, for the read-only and full-disk tests: CI runs as
 * root, where chmod 0500 stops nothing). The wrapper runs commands the test drops
 * into ctl.cmd inside that namespace, so the test can remount or fill the
 * daemon's output directory while it runs.
 *
 * IMPA_FAULTS_KEEP=1 keeps every test's directory (daemon.log) for inspection. */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
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
#include <netcdf.h>
#include <zmq.h>

#include "impa/archive.h"
#include "impa/timeutil.h"
#include "impa_build_config.h"
#include "scan_writer.h"

#define N 32
#define T0 ((int64_t)1604102400) /* 2020-10-31T00:00:00Z */
#define STEP 600

static char daemon_path[4200], weights[4200];

/* One daemon under test. */
typedef struct {
    char dir[64], in[128], out[128], qdir[160], cfg[128], logp[128];
    pid_t wrapper, daemon;
    void *zctx, *sub;
    int ns; /* running in a private mount namespace: out/ is invisible from here */
} fx_t;

static fx_t fx;
static int any_failed;

/* ---------------------------------------------------------------- helpers */

static int log_has(const char *text)
{
    FILE *r = fopen(fx.logp, "r");
    char line[4096];
    int found = 0;
    while (r && fgets(line, sizeof line, r))
        found |= strstr(line, text) != NULL;
    if (r)
        fclose(r);
    return found;
}

/* Whether one log line contains both a and b. */
static int log_has2(const char *a, const char *b)
{
    FILE *r = fopen(fx.logp, "r");
    char line[4096];
    int found = 0;
    while (r && fgets(line, sizeof line, r))
        found |= strstr(line, a) && strstr(line, b);
    if (r)
        fclose(r);
    return found;
}

static int wait_log2(const char *a, const char *b, double timeout_s)
{
    double t0 = impa_time_monotonic();
    do {
        if (log_has2(a, b ? b : a))
            return 1;
        usleep(50000);
    } while (impa_time_monotonic() - t0 < timeout_s);
    return 0;
}

static void dump_log(void)
{
    FILE *r = fopen(fx.logp, "r");
    char line[4096];
    print_message("---- daemon log %s\n", fx.logp);
    while (r && fgets(line, sizeof line, r))
        print_message("%s", line);
    if (r)
        fclose(r);
}

static int daemon_alive(void)
{
    return fx.daemon > 0 && kill(fx.daemon, 0) == 0 && waitpid(fx.wrapper, NULL, WNOHANG) == 0;
}

/* Runs sh command text inside the daemon's namespace (through the wrapper).
 * Returns its exit status; its output goes to outbuf. */
static int ctl(const char *cmd, char *outbuf, size_t outlen)
{
    char tmp[200], path[200], rcp[200], outp[200];
    snprintf(tmp, sizeof tmp, "%s/ctl.cmd.tmp", fx.dir);
    snprintf(path, sizeof path, "%s/ctl.cmd", fx.dir);
    snprintf(rcp, sizeof rcp, "%s/ctl.rc", fx.dir);
    snprintf(outp, sizeof outp, "%s/ctl.out", fx.dir);
    unlink(rcp);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", cmd);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0);
    double t0 = impa_time_monotonic();
    while (access(rcp, R_OK) && impa_time_monotonic() - t0 < 20.0)
        usleep(20000);
    FILE *r = fopen(rcp, "r");
    assert_non_null(r);
    int rc = -1;
    if (fscanf(r, "%d", &rc) != 1)
        rc = -1;
    fclose(r);
    if (outbuf) {
        outbuf[0] = '\0';
        FILE *o = fopen(outp, "r");
        if (o) {
            size_t n = fread(outbuf, 1, outlen - 1, o);
            outbuf[n] = '\0';
            fclose(o);
        }
    }
    return rc;
}

/* Value of a numeric field "key":N in a JSON header, or -1. */
static long json_num(const char *json, const char *key)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

/* Reads status messages until one has key >= min (returns its value and keeps the
 * header in hdr), or timeout (returns the last value seen, -1 when none). */
static long status_wait(const char *key, long min, double timeout_s, char *hdr, size_t hlen)
{
    long v = -1;
    double t0 = impa_time_monotonic();
    while (impa_time_monotonic() - t0 < timeout_s) {
        zmq_pollitem_t it = {.socket = fx.sub, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, 200) <= 0)
            continue;
        char topic[128], h[8192];
        int more, n = zmq_recv(fx.sub, topic, sizeof topic - 1, 0);
        size_t ml = sizeof more;
        if (n < 0)
            continue;
        n = zmq_recv(fx.sub, h, sizeof h - 1, 0);
        h[n < 0 ? 0 : (n > (int)sizeof h - 1 ? (int)sizeof h - 1 : n)] = '\0';
        do { /* drain the payload */
            zmq_getsockopt(fx.sub, ZMQ_RCVMORE, &more, &ml);
            if (more) {
                char sink[64];
                zmq_recv(fx.sub, sink, sizeof sink, 0);
            }
        } while (more);
        v = json_num(h, key);
        if (hdr)
            snprintf(hdr, hlen, "%s", h);
        if (v >= min)
            return v;
    }
    return v;
}

/* Writes len bytes to in/name via a hidden temporary and a rename. */
static void drop_bytes(const char *name, const void *data, size_t len)
{
    char tmp[300], dst[300];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", fx.in, name);
    snprintf(dst, sizeof dst, "%s/%s", fx.in, name);
    FILE *f = fopen(tmp, "wb");
    assert_non_null(f);
    if (len)
        assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, dst), 0);
}

/* The bytes of a valid scan at time t (caller frees). */
static unsigned char *scan_bytes(int64_t t, int ny, int nx, size_t *len)
{
    char p[200];
    snprintf(p, sizeof p, "%s/scratch.nc", fx.dir);
    assert_int_equal(test_write_scan(p, ny, nx, t), 0);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    unlink(p);
    *len = (size_t)n;
    return b;
}

static void scan_name(int64_t t, char *name, size_t len)
{
    snprintf(name, len, "radar_%lld.nc", (long long)t);
}

static void cycle_line(int64_t t, char *buf, size_t len)
{
    char iso[32];
    snprintf(buf, len, "cycle %s: impa-net,", impa_time_iso(t, iso, sizeof iso));
}

/* Drops the valid scan k (time T0 + k*STEP); for k >= 3 (window complete) waits
 * for its cycle, run with the network. */
static void drop_valid(int k)
{
    char name[64], line[96];
    int64_t t = T0 + (int64_t)k * STEP;
    scan_name(t, name, sizeof name);
    assert_int_equal(test_drop_scan(fx.in, name, N, N, t), 0);
    if (k < 3)
        return;
    cycle_line(t, line, sizeof line);
    if (!wait_log2(line, NULL, 30.0)) {
        dump_log();
        fail_msg("no '%s' in the log after the valid scan %s", line, name);
    }
}

/* Asserts a quarantine: log line naming the file with the reason fragment, the
 * file moved to the quarantine directory, the status counter at least want. */
static void expect_quarantined(const char *name, const char *reason, long want)
{
    char path[300], q[400];
    snprintf(path, sizeof path, "%s/%s", fx.in, name);
    if (!wait_log2(path, "quarantined to", 20.0)) {
        dump_log();
        fail_msg("%s: no quarantine line", name);
    }
    if (reason && !log_has2(path, reason)) {
        dump_log();
        fail_msg("%s: the quarantine line does not say '%s'", name, reason);
    }
    snprintf(q, sizeof q, "%s/%s", fx.qdir, name);
    assert_int_equal(access(q, F_OK), 0);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(status_wait("quarantined", want, 10.0, NULL, 0), want);
}

/* ---------------------------------------------------------------- fixture */

static void write_config(const char *extra)
{
    FILE *c = fopen(fx.cfg, "w");
    assert_non_null(c);
    fprintf(c,
            "domain: {name: faults}\n"
            "input: {directory: %s/in}\n"
            "output: {directory: %s/out, retention_hours: 0}\n"
            "verification: {state_directory: %s/state}\n"
            "model: {weights: %s/w.nc, threads: 1}\n"
            "publish: {endpoints: ['ipc://%s/pub'], request_endpoint: '',\n"
            "          status_interval_s: 1%s}\n",
            fx.dir, fx.dir, fx.dir, fx.dir, fx.dir, extra ? extra : "");
    fclose(c);
}

static int copy_file(const char *src, const char *dst)
{
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", src, dst);
    return system(cmd);
}

/* Starts the daemon (ns: in a private mount namespace with a 512 KiB tmpfs on
 * out/; 4 MiB: the archive classifies write errors on
 * a file system with under 1 MiB free as ENOSPC). Returns 0, or 77 when the namespace cannot be made here. */
static int launch(void);
static void fill_window(void);

static int start_opts(int ns, const char *publish_extra, int fill)
{
    memset(&fx, 0, sizeof fx);
    snprintf(fx.dir, sizeof fx.dir, "/tmp/impa-faults-XXXXXX");
    assert_non_null(mkdtemp(fx.dir));
    snprintf(fx.in, sizeof fx.in, "%s/in", fx.dir);
    snprintf(fx.out, sizeof fx.out, "%s/out", fx.dir);
    snprintf(fx.qdir, sizeof fx.qdir, "%s/in/quarantine", fx.dir);
    snprintf(fx.cfg, sizeof fx.cfg, "%s/impa.yaml", fx.dir);
    snprintf(fx.logp, sizeof fx.logp, "%s/daemon.log", fx.dir);
    fx.ns = ns;
    mkdir(fx.in, 0755);
    mkdir(fx.out, 0755);
    char w[200];
    snprintf(w, sizeof w, "%s/w.nc", fx.dir);
    assert_int_equal(copy_file(weights, w), 0);
    write_config(publish_extra);
    int rc = launch();
    if (rc)
        return rc;
    if (fill)
        fill_window();
    return 0;
}

static int start(int ns, const char *publish_extra) { return start_opts(ns, publish_extra, 1); }

/* Starts the wrapper and the daemon on fx.dir (again after restart_daemon),
 * subscribes to the status. 0, or 77 (no namespace here). */
static int launch(void)
{
    int ns = fx.ns;
    char pidf[200];
    snprintf(pidf, sizeof pidf, "%s/daemon.pid", fx.dir);
    unlink(pidf);
    /* The wrapper: mount (ns), start the daemon, run ctl.cmd files until the
     * daemon exits, exit with its status. */
    static const char script[] =
        "cd \"$1\" || exit 1\n"
        "if [ \"$2\" = 1 ]; then mount -t tmpfs -o size=4m none out 2>/dev/null || exit 77; fi\n"
        "\"$3\" --config impa.yaml 2> daemon.log &\n"
        "d=$!\n"
        "echo $d > daemon.pid.tmp && mv daemon.pid.tmp daemon.pid\n"
        "while kill -0 $d 2>/dev/null; do\n"
        "  if [ -e ctl.cmd ]; then sh ctl.cmd > ctl.out 2>&1; echo $? > ctl.rc.tmp;\n"
        "    rm -f ctl.cmd; mv ctl.rc.tmp ctl.rc; fi\n"
        "  sleep 0.05\n"
        "done\n"
        "wait $d\n";
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (ns)
            execlp("unshare", "unshare", "-rm", "sh", "-c", script, "wrapper", fx.dir,
                   ns ? "1" : "0", daemon_path, (char *)NULL);
        else
            execlp("sh", "sh", "-c", script, "wrapper", fx.dir, "0", daemon_path,
                   (char *)NULL);
        _exit(127);
    }
    fx.wrapper = pid;
    double t0 = impa_time_monotonic();
    while (access(pidf, R_OK) && impa_time_monotonic() - t0 < 20.0) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fx.wrapper = 0;
            int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            if (ns && (code == 77 || code == 127 || code == 1))
                return 77;
            fail_msg("daemon wrapper exited with %d before starting the daemon", code);
        }
        usleep(20000);
    }
    FILE *f = fopen(pidf, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%d", &fx.daemon), 1);
    fclose(f);
    if (!wait_log2("watching", NULL, 30.0)) {
        dump_log();
        fail_msg("daemon did not start");
    }
    fx.zctx = zmq_ctx_new();
    fx.sub = zmq_socket(fx.zctx, ZMQ_SUB);
    int zero = 0;
    zmq_setsockopt(fx.sub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(fx.sub, ZMQ_SUBSCRIBE, "impa.status.faults", 18);
    char ep[120];
    snprintf(ep, sizeof ep, "ipc://%s/pub", fx.dir);
    assert_int_equal(zmq_connect(fx.sub, ep), 0);
    /* a first status proves the subscription is through */
    assert_true(status_wait("scans", 0, 10.0, NULL, 0) >= 0);
    return 0;
}

static void fill_window(void)
{
    for (int k = 0; k < 4; k++)
        drop_valid(k);
    assert_int_equal(status_wait("cycles", 1, 10.0, NULL, 0), 1);
}

/* SIGTERM: the daemon must exit 0; then the directory is removed (kept when a
 * test failed, for its log). */
static void notify_close(void);

static int stop(void **state)
{
    (void)state;
    unsetenv("IMPA_TEST_CLOCK_START");
    unsetenv("IMPA_TEST_CYCLE_DELAY_S");
    unsetenv("IMPA_TEST_SLOW_READ");
    notify_close();
    if (fx.sub)
        zmq_close(fx.sub);
    if (fx.zctx)
        zmq_ctx_term(fx.zctx);
    fx.sub = fx.zctx = NULL;
    int ok = 1;
    if (fx.wrapper > 0) {
        kill(fx.daemon, SIGTERM);
        int st = 0;
        double t0 = impa_time_monotonic();
        pid_t r = 0;
        while ((r = waitpid(fx.wrapper, &st, WNOHANG)) == 0 && impa_time_monotonic() - t0 < 30.0)
            usleep(50000);
        if (r == 0) {
            kill(fx.daemon, SIGKILL);
            kill(fx.wrapper, SIGKILL);
            waitpid(fx.wrapper, &st, 0);
            ok = 0;
        } else {
            ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        }
        if (!ok)
            print_message("daemon did not exit 0 on SIGTERM (status %d)\n", st);
        fx.wrapper = 0;
    }
    if (ok && !any_failed && fx.dir[0] && !getenv("IMPA_FAULTS_KEEP")) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx.dir);
        if (system(cmd))
            ok = 0;
    } else if (fx.dir[0]) {
        print_message("kept %s\n", fx.dir);
    }
    return ok ? 0 : -1;
}

/* Every test ends with: the daemon alive and the next valid scan processed. */
static void expect_alive_and_next(int k)
{
    assert_true(daemon_alive());
    drop_valid(k);
    assert_true(daemon_alive());
}

#define START(ns, extra)                                                                     \
    do {                                                                                     \
        any_failed = 1; /* cleared at the end of a passing test */                           \
        if (start((ns), (extra)) == 77) {                                                    \
            print_message("cannot make a private mount namespace with a tmpfs here "         \
                          "(unshare -rm / mount refused): skipped\n");                       \
            any_failed = 0;                                                                  \
            skip();                                                                          \
        }                                                                                    \
    } while (0)
#define PASS() (any_failed = 0)

/* ---------------------------------------------------------------- tests */

static void test_truncated_file(void **state)
{
    (void)state;
    START(0, NULL);
    size_t len;
    unsigned char *b = scan_bytes(T0 + 4 * STEP, N, N, &len);
    drop_bytes("truncated.nc", b, len / 2);
    free(b);
    expect_quarantined("truncated.nc", NULL, 1);
    expect_alive_and_next(4);
    PASS();
}

static void test_empty_file(void **state)
{
    (void)state;
    START(0, NULL);
    drop_bytes("empty.nc", "", 0);
    expect_quarantined("empty.nc", NULL, 1);
    expect_alive_and_next(4);
    PASS();
}

static void test_corrupt_random_bytes(void **state)
{
    (void)state;
    START(0, NULL);
    unsigned char junk[8192];
    srand(12345);
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)rand();
    drop_bytes("random.nc", junk, sizeof junk);
    expect_quarantined("random.nc", "Unknown file format", 1);
    /* A valid NetCDF-4 header with its data overwritten by random bytes. */
    size_t len;
    unsigned char *b = scan_bytes(T0 + 4 * STEP, N, N, &len);
    for (size_t i = len / 2; i < len; i++)
        b[i] = (unsigned char)rand();
    drop_bytes("garbled.nc", b, len);
    free(b);
    /* Garbled data may still read (the corruption can fall in the values):
     * either quarantined or used; what matters is that the daemon goes on. */
    char path[300];
    snprintf(path, sizeof path, "%s/garbled.nc", fx.in);
    assert_true(wait_log2(path, NULL, 20.0));
    expect_alive_and_next(4);
    PASS();
}

static void test_wrong_variable(void **state)
{
    (void)state;
    START(0, NULL);
    char p[300];
    snprintf(p, sizeof p, "%s/.wrongvar.nc.tmp", fx.in);
    int ncid, dy, dx, v, dims[2];
    assert_int_equal(nc_create(p, NC_CLOBBER | NC_NETCDF4, &ncid), NC_NOERR);
    assert_int_equal(nc_def_dim(ncid, "y", N, &dy), NC_NOERR);
    assert_int_equal(nc_def_dim(ncid, "x", N, &dx), NC_NOERR);
    dims[0] = dy;
    dims[1] = dx;
    assert_int_equal(nc_def_var(ncid, "air_temperature", NC_FLOAT, 2, dims, &v), NC_NOERR);
    assert_int_equal(nc_put_att_text(ncid, v, "standard_name", 15, "air_temperature"), NC_NOERR);
    assert_int_equal(nc_put_att_text(ncid, v, "units", 1, "K"), NC_NOERR);
    assert_int_equal(nc_close(ncid), NC_NOERR);
    char dst[300];
    snprintf(dst, sizeof dst, "%s/wrongvar.nc", fx.in);
    assert_int_equal(rename(p, dst), 0);
    expect_quarantined("wrongvar.nc", NULL, 1);
    expect_alive_and_next(4);
    PASS();
}

/* Writes the valid scan for time t with some cells replaced by v. */
static void drop_scan_with(const char *name, int64_t t, float v, int ncells)
{
    char p[300], dst[300];
    snprintf(p, sizeof p, "%s/.%s.tmp", fx.in, name);
    snprintf(dst, sizeof dst, "%s/%s", fx.in, name);
    assert_int_equal(test_write_scan(p, N, N, t), 0);
    int ncid, vr;
    assert_int_equal(nc_open(p, NC_WRITE, &ncid), NC_NOERR);
    assert_int_equal(nc_inq_varid(ncid, "reflectivity", &vr), NC_NOERR);
    for (int i = 0; i < ncells; i++) {
        size_t idx[2] = {(size_t)(N / 2), (size_t)(i % N)};
        if (i >= N) {
            idx[0] = (size_t)(i / N);
            idx[1] = (size_t)(i % N);
        }
        assert_int_equal(nc_put_var1_float(ncid, vr, idx, &v), NC_NOERR);
    }
    assert_int_equal(nc_close(ncid), NC_NOERR);
    assert_int_equal(rename(p, dst), 0);
}

/* The newest archive forecast (issue time t) has no infinite value. Run from
 * outside any namespace only. */
static void expect_finite_archive(int64_t t)
{
    char path[300], iso[32], method[32], err[512];
    snprintf(path, sizeof path, "%s/impa_%s.nc", fx.out, impa_time_compact(t, iso, sizeof iso));
    impa_grid_t g;
    int64_t issue;
    int step, n_leads;
    float *dbz = NULL;
    assert_int_equal(impa_archive_read(path, &g, &issue, &step, &n_leads, &dbz, method,
                                       sizeof method, err, sizeof err), 0);
    int finite = 0, inf = 0;
    for (int i = 0; i < n_leads * g.nx * g.ny; i++) {
        finite += isfinite(dbz[i]);
        inf += isinf(dbz[i]);
    }
    free(dbz);
    assert_int_equal(inf, 0);
    assert_true(finite > n_leads * g.nx * g.ny / 2);
}

/* NaN cells are missing data; +-inf must not reach the forecast either. Either
 * the scan is used (the cells as no data) or quarantined: both keep the service
 * producing finite forecasts. */
static void test_nan_and_inf_values(void **state)
{
    (void)state;
    START(0, NULL);
    char line[96];
    drop_scan_with("radar_nan.nc", T0 + 4 * STEP, NAN, 40);
    cycle_line(T0 + 4 * STEP, line, sizeof line);
    char path[300];
    snprintf(path, sizeof path, "%s/radar_nan.nc", fx.in);
    assert_true(wait_log2(path, NULL, 20.0));
    if (!wait_log2(line, NULL, 10.0)) {
        dump_log();
        fail_msg("a scan with 40 NaN cells did not run its cycle");
    }
    expect_finite_archive(T0 + 4 * STEP);

    drop_scan_with("radar_inf.nc", T0 + 5 * STEP, INFINITY, 40);
    snprintf(path, sizeof path, "%s/radar_inf.nc", fx.in);
    assert_true(wait_log2(path, NULL, 20.0));
    cycle_line(T0 + 5 * STEP, line, sizeof line);
    if (wait_log2(line, NULL, 5.0))
        expect_finite_archive(T0 + 5 * STEP);
    else
        assert_true(log_has2(path, "quarantined to"));
    drop_scan_with("radar_ninf.nc", T0 + 6 * STEP, -INFINITY, 40);
    snprintf(path, sizeof path, "%s/radar_ninf.nc", fx.in);
    assert_true(wait_log2(path, NULL, 20.0));
    cycle_line(T0 + 6 * STEP, line, sizeof line);
    if (wait_log2(line, NULL, 5.0))
        expect_finite_archive(T0 + 6 * STEP);
    else
        assert_true(log_has2(path, "quarantined to"));
    assert_true(daemon_alive());
    /* the next valid scan: the window may lack the inf steps if they were
     * quarantined, so wait for its scan line rather than a network cycle */
    char name[64];
    scan_name(T0 + 7 * STEP, name, sizeof name);
    assert_int_equal(test_drop_scan(fx.in, name, N, N, T0 + 7 * STEP), 0);
    snprintf(path, sizeof path, "%s/%s", fx.in, name);
    assert_true(wait_log2(path, "step", 20.0));
    assert_true(daemon_alive());
    PASS();
}

static void test_wrong_grid_size(void **state)
{
    (void)state;
    START(0, NULL);
    char name[64] = "radar_small.nc";
    assert_int_equal(test_drop_scan(fx.in, name, N / 2, N / 2, T0 + 4 * STEP), 0);
    expect_quarantined(name, "wrong grid", 1);
    expect_alive_and_next(4);
    PASS();
}

/* Written in place, slowly, without a rename: the first half, a pause, the rest,
 * close. IN_CLOSE_WRITE fires only at close, so the daemon must read it once,
 * complete, and quarantine nothing. */
static void test_file_written_in_place(void **state)
{
    (void)state;
    START(0, NULL);
    size_t len;
    int64_t t = T0 + 4 * STEP;
    unsigned char *b = scan_bytes(t, N, N, &len);
    char name[64], path[300];
    scan_name(t, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", fx.in, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b, len / 2), (ssize_t)(len / 2));
    usleep(1500000);
    assert_false(log_has(path)); /* not read while open */
    assert_int_equal(write(fd, b + len / 2, len - len / 2), (ssize_t)(len - len / 2));
    assert_int_equal(close(fd), 0);
    free(b);
    char line[96];
    cycle_line(t, line, sizeof line);
    if (!wait_log2(line, NULL, 20.0)) {
        dump_log();
        fail_msg("the scan written in place did not run its cycle");
    }
    assert_false(log_has("quarantined"));
    assert_int_equal(status_wait("cycles", 2, 10.0, NULL, 0), 2);
    char hdr[8192];
    status_wait("quarantined", 0, 5.0, hdr, sizeof hdr);
    assert_int_equal(json_num(hdr, "quarantined"), 0);
    expect_alive_and_next(5);
    PASS();
}

static int count_out(void)
{
    char buf[256];
    int rc = ctl("ls out | grep -c '^impa_.*\\.nc$'", buf, sizeof buf);
    (void)rc;
    return atoi(buf);
}

static int tmp_left(void)
{
    char buf[512];
    ctl("find out -name '.*' -type f | wc -l", buf, sizeof buf);
    return atoi(buf);
}

/* The archive directory turns read-only at run time (a read-only remount in the
 * daemon's private namespace): cycles still publish, the archive failure is
 * logged with its reason, and archiving resumes once it is writable again. */
static void test_output_read_only(void **state)
{
    (void)state;
    START(1, NULL);
    assert_int_equal(count_out(), 1);
    assert_int_equal(ctl("mount -o remount,ro none out", NULL, 0), 0);
    char line[96], iso[32];
    drop_valid(4);
    snprintf(line, sizeof line, "cycle %s: archive not written",
             impa_time_iso(T0 + 4 * STEP, iso, sizeof iso));
    /* libnetcdf reports EROFS from nc_create as EACCES */
    if (!wait_log2(line, NULL, 20.0) ||
        !(log_has2(line, "Read-only file system") || log_has2(line, "Permission denied"))) {
        dump_log();
        fail_msg("no '%s ... Read-only file system/Permission denied' line", line);
    }
    assert_false(log_has2(line, "no space left"));
    assert_true(log_has2("(no archive)", iso));
    assert_int_equal(status_wait("cycles", 2, 10.0, NULL, 0), 2);
    char hdr[8192];
    assert_int_equal(status_wait("archive_failures", 1, 10.0, hdr, sizeof hdr), 1);
    assert_non_null(strstr(hdr, "\"state\":\"archive-failing\""));
    assert_int_equal(ctl("mount -o remount,rw none out", NULL, 0), 0);
    expect_alive_and_next(5);
    assert_int_equal(count_out(), 2);
    assert_int_equal(tmp_left(), 0);
    PASS();
}

/* The archive file system fills up (4 MiB tmpfs filled with dd): ENOSPC is
 * logged, no temporary file is left behind, and archiving resumes once space is
 * freed. */
static void test_output_disk_full(void **state)
{
    (void)state;
    START(1, NULL);
    assert_int_equal(count_out(), 1);
    ctl("dd if=/dev/zero of=out/fill bs=4k 2>/dev/null; true", NULL, 0);
    char line[96], iso[32];
    drop_valid(4);
    snprintf(line, sizeof line, "cycle %s: archive not written",
             impa_time_iso(T0 + 4 * STEP, iso, sizeof iso));
    if (!wait_log2(line, NULL, 10.0)) {
        dump_log();
        fail_msg("no '%s' line with the disk full", line);
    }
    assert_int_equal(tmp_left(), 0);
    assert_int_equal(count_out(), 1);
    assert_int_equal(status_wait("archive_failures", 1, 10.0, NULL, 0), 1);
    assert_int_equal(ctl("rm -f out/fill", NULL, 0), 0);
    expect_alive_and_next(5);
    assert_int_equal(count_out(), 2);
    PASS();
}

/* SIGHUP with the weights file replaced by garbage: the reload is refused, the
 * old model keeps running (impa-net cycles with the same model). */
static void test_corrupt_weights_on_sighup(void **state)
{
    (void)state;
    START(0, NULL);
    char w[200], tmp[200];
    snprintf(w, sizeof w, "%s/w.nc", fx.dir);
    snprintf(tmp, sizeof tmp, "%s/w.nc.tmp", fx.dir);
    /* the first half of the real file: a valid HDF5 signature, then nothing */
    size_t len;
    FILE *f = fopen(weights, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(len);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, len, f), len);
    fclose(f);
    f = fopen(tmp, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len / 3, f), len / 3);
    fclose(f);
    free(b);
    assert_int_equal(rename(tmp, w), 0);
    assert_int_equal(kill(fx.daemon, SIGHUP), 0);
    if (!wait_log2("reload refused", NULL, 20.0)) {
        dump_log();
        fail_msg("no 'reload refused' after SIGHUP with corrupt weights");
    }
    assert_true(log_has2("reload refused", "w.nc"));
    expect_alive_and_next(4);
    char hdr[8192];
    assert_int_equal(status_wait("cycles", 2, 10.0, hdr, sizeof hdr), 2);
    assert_non_null(strstr(hdr, "\"model_name\":\"golden-c\""));
    assert_non_null(strstr(hdr, "\"method\":\"impa-net\""));
    PASS();
}

/* A subscriber that never reads (RCVHWM 1, small buffers) with the daemon's
 * SNDHWM at 2 and drop_policy all: the publisher drops (XPUB_NODROP makes drops
 * visible) and counts them; the daemon keeps running cycles; once the subscriber
 * disconnects, status messages flow again and report the drops. (The default
 * policy, where only the stalled subscriber misses messages, is tested in
 * tests/publish/test_publish.c.) */
static void test_slow_then_gone_subscriber(void **state)
{
    (void)state;
    START(0, ", sndhwm: 2, drop_policy: all, encoding: float32");
    void *slow = zmq_socket(fx.zctx, ZMQ_SUB);
    int one = 1, small = 1024, zero = 0;
    zmq_setsockopt(slow, ZMQ_RCVHWM, &one, sizeof one);
    zmq_setsockopt(slow, ZMQ_RCVBUF, &small, sizeof small);
    zmq_setsockopt(slow, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(slow, ZMQ_SUBSCRIBE, "impa.", 5);
    char ep[120];
    snprintf(ep, sizeof ep, "ipc://%s/pub", fx.dir);
    assert_int_equal(zmq_connect(slow, ep), 0);
    usleep(300000);
    for (int k = 4; k < 16; k++) {
        drop_valid(k);
        assert_true(daemon_alive());
    }
    zmq_close(slow); /* disconnect */
    char hdr[8192];
    /* statuses queued earlier may still say fewer cycles: wait for a current one */
    assert_true(status_wait("cycles", 13, 15.0, hdr, sizeof hdr) >= 13);
    long d = json_num(hdr, "publisher_dropped");
    if (d < 1) {
        dump_log();
        fail_msg("no drops counted in the status (publisher_dropped %ld)", d);
    }
    expect_alive_and_next(16);
    PASS();
}

static int status_has(const char *text, double timeout_s, char *hdr, size_t hlen);

/* A subscriber that stops reading (issue 23 case 6): its queue is bounded
 * (publish.max_queue_mib, not publish.sndhwm 1000 messages), it is found stuck within
 * publish.slow_subscriber_s, logged once at warning level and disconnected
 * (its queue freed), status degraded 'subscriber dropping'; cycles go on and
 * the reading subscriber keeps getting its status. */
static void test_stuck_subscriber_dropped(void **state)
{
    (void)state;
    /* 1 MiB of 512 x 512 float32 frames (not known yet): twice a cycle */
    START(0, ", encoding: float32, slow_subscriber_s: 2, max_queue_mib: 1");
    assert_true(log_has("per-subscriber queue 30 messages"));
    void *slow = zmq_socket(fx.zctx, ZMQ_SUB);
    int one = 1, small = 4096, zero = 0;
    zmq_setsockopt(slow, ZMQ_RCVHWM, &one, sizeof one);
    zmq_setsockopt(slow, ZMQ_RCVBUF, &small, sizeof small);
    zmq_setsockopt(slow, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(slow, ZMQ_SUBSCRIBE, "impa.", 5);
    char ep[120];
    snprintf(ep, sizeof ep, "ipc://%s/pub", fx.dir);
    assert_int_equal(zmq_connect(slow, ep), 0);
    usleep(300000);
    int k = 4;
    for (; k < 12 && !log_has("is not reading"); k++)
        drop_valid(k);
    if (!wait_log2("is not reading", "disconnected, its queue freed", 10.0)) {
        dump_log();
        fail_msg("a subscriber that never reads was not reported and disconnected");
    }
    assert_true(log_has2("is not reading", "<4>"));
    char hdr[8192];
    assert_true(status_has("subscriber dropping", 10.0, hdr, sizeof hdr));
    assert_non_null(strstr(hdr, "\"health\":\"degraded\""));
    expect_alive_and_next(k);
    zmq_close(slow);
    PASS();
}

/* A newline and a priority prefix in a file name (issue 23 hardening): the
 * log line about it stays one line, the name's control characters escaped, so
 * no forged "<3>" journal line appears. */
static void test_control_chars_in_name(void **state)
{
    (void)state;
    START(0, NULL);
    static const char evil[] = "evil\n<3>forged error line.nc";
    drop_bytes(evil, "", 0);
    char path[300];
    snprintf(path, sizeof path, "%s/evil\\x0a<3>forged error line.nc", fx.in);
    if (!wait_log2(path, "quarantined to", 20.0)) {
        dump_log();
        fail_msg("no quarantine line with the escaped name");
    }
    FILE *r = fopen(fx.logp, "r");
    char line[4096];
    int forged = 0;
    while (r && fgets(line, sizeof line, r))
        forged += strncmp(line, "<3>forged", 9) == 0;
    if (r)
        fclose(r);
    assert_int_equal(forged, 0);
    expect_alive_and_next(4);
    PASS();
}

/* A symbolic link in the input directory to a file outside it (a valid scan
 * there) is refused, not read, and quarantined (the link, not its target); a
 * link to a file inside the directory is read. */
static void test_symlink_out_of_input(void **state)
{
    (void)state;
    START(0, NULL);
    char outside[300], link_tmp[300], link_dst[300], name[64];
    snprintf(outside, sizeof outside, "%s/outside.nc", fx.dir);
    assert_int_equal(test_write_scan(outside, N, N, T0 + 4 * STEP), 0);
    snprintf(link_tmp, sizeof link_tmp, "%s/.link.tmp", fx.in);
    snprintf(link_dst, sizeof link_dst, "%s/link.nc", fx.in);
    assert_int_equal(symlink(outside, link_tmp), 0);
    assert_int_equal(rename(link_tmp, link_dst), 0);
    if (!wait_log2(link_dst, "outside", 20.0)) {
        dump_log();
        fail_msg("the link out of the input directory was not refused");
    }
    assert_true(log_has2(link_dst, "refused, not read"));
    assert_false(log_has2("cycle", "impa-net") && log_has("outside.nc:"));
    assert_int_equal(access(outside, F_OK), 0); /* the target stays where it was */
    /* a link inside the directory is fine */
    char inner[300];
    scan_name(T0 + 4 * STEP, name, sizeof name);
    snprintf(inner, sizeof inner, "%s/.real-%s", fx.in, name);
    assert_int_equal(test_write_scan(inner, N, N, T0 + 4 * STEP), 0);
    snprintf(link_dst, sizeof link_dst, "%s/%s", fx.in, name);
    assert_int_equal(symlink(inner, link_tmp), 0);
    assert_int_equal(rename(link_tmp, link_dst), 0);
    char line[96];
    cycle_line(T0 + 4 * STEP, line, sizeof line);
    if (!wait_log2(line, NULL, 20.0)) {
        dump_log();
        fail_msg("a link inside the input directory was not read");
    }
    assert_true(daemon_alive());
    PASS();
}

static void kill9_and_launch(void);

/* The archive and state directories removed under the running daemon: both
 * made again at the next cycle (logged), the forecast archived. Then the
 * archive directory replaced by a plain file: the error names the real cause
 * (ENOTDIR), not libnetcdf's "Permission denied" for everything. */
static void test_output_dirs_removed(void **state)
{
    (void)state;
    START(0, NULL);
    char cmd[600], st[200], line[96], iso[32], p[300];
    snprintf(st, sizeof st, "%s/state", fx.dir);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", fx.out, st);
    assert_int_equal(system(cmd), 0);
    drop_valid(4);
    if (!wait_log2("archive directory", "was missing: re-created", 10.0) ||
        !wait_log2("state directory", "was missing: re-created", 10.0)) {
        dump_log();
        fail_msg("the removed archive/state directories were not made again");
    }
    snprintf(p, sizeof p, "%s/impa_%s.nc", fx.out, impa_time_compact(T0 + 4 * STEP, iso, sizeof iso));
    assert_int_equal(access(p, F_OK), 0);
    assert_int_equal(access(st, F_OK), 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && touch '%s'", fx.out, fx.out);
    assert_int_equal(system(cmd), 0);
    drop_valid(5);
    snprintf(line, sizeof line, "cycle %s: archive not written",
             impa_time_iso(T0 + 5 * STEP, iso, sizeof iso));
    if (!wait_log2(line, "Not a directory", 10.0)) {
        dump_log();
        fail_msg("no '%s ... Not a directory'", line);
    }
    assert_false(log_has2(line, "Permission denied"));
    PASS();
}

/* kill -9 while a cycle runs (IMPA_TEST_CYCLE_DELAY_S holds it after the
 * forecast) and a stale archive temporary: at the next start the temporary is
 * removed and the lost step's forecast is run and archived. */
static void test_killed_during_cycle(void **state)
{
    (void)state;
    /* the clock just after the scans: the lost window is recent */
    char clk[32];
    snprintf(clk, sizeof clk, "%lld", (long long)(T0 + 5 * STEP));
    setenv("IMPA_TEST_CLOCK_START", clk, 1);
    setenv("IMPA_TEST_CYCLE_DELAY_S", "4", 1);
    START(0, NULL);
    unsetenv("IMPA_TEST_CYCLE_DELAY_S");
    char name[64], path[300], iso[32], arch[300], tmp[300];
    int64_t t = T0 + 4 * STEP;
    scan_name(t, name, sizeof name);
    assert_int_equal(test_drop_scan(fx.in, name, N, N, t), 0);
    snprintf(path, sizeof path, "%s/%s", fx.in, name);
    assert_true(wait_log2(path, "step", 20.0));
    usleep(1500000); /* inside the cycle's delay */
    snprintf(arch, sizeof arch, "%s/impa_%s.nc", fx.out, impa_time_compact(t, iso, sizeof iso));
    assert_int_not_equal(access(arch, F_OK), 0);
    /* what a kill during the archive write leaves */
    snprintf(tmp, sizeof tmp, "%s/.impa_%s.nc.tmp", fx.out, impa_time_compact(t - STEP, iso, sizeof iso));
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs("half a file", f);
    fclose(f);
    kill9_and_launch();
    char line[96];
    cycle_line(t, line, sizeof line);
    if (!wait_log2("recovery: no forecast for the newest complete window", NULL, 20.0) ||
        !wait_log2(line, NULL, 30.0)) {
        dump_log();
        fail_msg("the forecast lost to kill -9 was not run at the next start");
    }
    assert_int_equal(access(arch, F_OK), 0);
    assert_true(log_has2("removed", ".nc.tmp"));
    assert_int_not_equal(access(tmp, F_OK), 0);
    expect_alive_and_next(5);
    PASS();
}

/* A systemd notify socket of our own (NOTIFY_SOCKET, WATCHDOG_USEC 4 s for
 * the daemon started next): counts the WATCHDOG=1 datagrams. */
static int notify_fd = -1;
static char notify_path[108];

static void notify_open(void)
{
    snprintf(notify_path, sizeof notify_path, "/tmp/impa-faults-notify-%ld", (long)getpid());
    unlink(notify_path);
    notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    assert_true(notify_fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", notify_path);
    assert_int_equal(bind(notify_fd, (struct sockaddr *)&sa, sizeof sa), 0);
    setenv("NOTIFY_SOCKET", notify_path, 1);
    setenv("WATCHDOG_USEC", "4000000", 1);
}

static void notify_close(void)
{
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    if (notify_fd >= 0)
        close(notify_fd), unlink(notify_path);
    notify_fd = -1;
}

/* WATCHDOG=1 datagrams received within seconds from now. */
static int count_watchdog(double seconds)
{
    int n = 0;
    double t0 = impa_time_monotonic();
    while (impa_time_monotonic() - t0 < seconds) {
        char buf[2048];
        ssize_t r = recv(notify_fd, buf, sizeof buf - 1, 0);
        if (r < 0) {
            usleep(20000);
            continue;
        }
        buf[r] = '\0';
        n += strstr(buf, "WATCHDOG=1") != NULL;
    }
    return n;
}

/* A scan whose read takes 8 s (IMPA_TEST_SLOW_READ delays the reader process
 * for names with "slowscan"; libnetcdf takes 13 s on
 * fuzz/corpus-known/libnetcdf-nc3-header-13s-1GB-reader.nc, and 12 such files
 * took 61 s against WatchdogSec 60): the event loop waits for the reader all
 * that time, so the wait itself must feed the watchdog. */
static void test_watchdog_during_slow_read(void **state)
{
    (void)state;
    notify_open();
    setenv("IMPA_TEST_SLOW_READ", "slowscan:8", 1);
    START(0, NULL);
    count_watchdog(0.1); /* drain */
    int64_t t = T0 + 4 * STEP;
    assert_int_equal(test_drop_scan(fx.in, "slowscan_4.nc", N, N, t), 0);
    usleep(1500000);
    int pings = count_watchdog(5.0);
    print_message("WATCHDOG=1 during 5 s of an 8-s read: %d\n", pings);
    char path[300], line[96];
    snprintf(path, sizeof path, "%s/slowscan_4.nc", fx.in);
    assert_false(log_has(path)); /* still being read */
    assert_true(pings >= 3);
    cycle_line(t, line, sizeof line);
    if (!wait_log2(line, NULL, 20.0)) {
        dump_log();
        fail_msg("the slow scan did not run its cycle");
    }
    unsetenv("IMPA_TEST_SLOW_READ");
    notify_close();
    PASS();
}

/* health.quiet_period_s: no new scan for that long makes the status failing
 * with the reason, logs it once, and stops feeding the watchdog (so systemd
 * restarts a daemon that sees nothing); the next scan feeds it again. */
static void test_quiet_period(void **state)
{
    (void)state;
    notify_open();
    START(0, "}\nhealth: {quiet_period_s: 3");
    assert_true(count_watchdog(2.0) >= 1); /* fed while scans flow */
    char hdr[8192];
    if (!status_has("no new scan for", 10.0, hdr, sizeof hdr)) {
        dump_log();
        fail_msg("no 'no new scan' reason after health.quiet_period_s");
    }
    assert_non_null(strstr(hdr, "\"health\":\"failing\""));
    assert_true(log_has("(health.quiet_period_s): status failing"));
    count_watchdog(0.1);
    assert_int_equal(count_watchdog(5.0), 0);
    drop_valid(4);
    assert_true(count_watchdog(4.0) >= 1);
    notify_close();
    PASS();
}

/* Sets a file's modification time days back. */
static void age_file(const char *path, double days)
{
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= (time_t)(days * 86400);
    ts[1] = ts[0];
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* Retention (issue 23): a scan file 3 days old in the input directory
 * (input.scan_retention_hours 48) and a quarantined file 8 days old
 * (input.quarantine_retention_hours 168) are removed after the next cycle;
 * recent ones stay. */
static int in_dir(const char *dir, const char *name);

static void test_retention(void **state)
{
    (void)state;
    START(0, NULL);
    char p[300], q_old[300], q_new[300];
    /* an old scan already read (a duplicate of a held step: left in place) */
    snprintf(p, sizeof p, "%s/.radar_old.tmp", fx.in);
    assert_int_equal(test_write_scan(p, N, N, T0 + STEP), 0);
    age_file(p, 3);
    char old_scan[300];
    snprintf(old_scan, sizeof old_scan, "%s/radar_old.nc", fx.in);
    assert_int_equal(rename(p, old_scan), 0);
    assert_true(wait_log2(old_scan, NULL, 20.0));
    snprintf(q_old, sizeof q_old, "%s/old.nc", fx.qdir);
    snprintf(q_new, sizeof q_new, "%s/new.nc", fx.qdir);
    FILE *f = fopen(q_old, "w");
    assert_non_null(f);
    fclose(f);
    f = fopen(q_new, "w");
    assert_non_null(f);
    fclose(f);
    age_file(q_old, 8);
    drop_valid(4);
    if (!wait_log2("retention: 1 scans older than 48 h removed", NULL, 10.0) ||
        !wait_log2("retention: 1 quarantined files removed", NULL, 10.0)) {
        dump_log();
        fail_msg("old scans / quarantined files were not removed");
    }
    assert_int_not_equal(access(old_scan, F_OK), 0);
    assert_int_not_equal(access(q_old, F_OK), 0);
    assert_int_equal(access(q_new, F_OK), 0);
    char name[64];
    scan_name(T0 + 4 * STEP, name, sizeof name);
    assert_true(in_dir(fx.in, name)); /* recent scans stay */
    PASS();
}

/* Reads status messages until one's header contains text (kept in hdr). */
static int status_has(const char *text, double timeout_s, char *hdr, size_t hlen)
{
    double t0 = impa_time_monotonic();
    char h[8192];
    while (impa_time_monotonic() - t0 < timeout_s) {
        h[0] = '\0';
        status_wait("scans", LONG_MAX, 1.0, h, sizeof h);
        if (strstr(h, text)) {
            if (hdr)
                snprintf(hdr, hlen, "%s", h);
            return 1;
        }
    }
    return 0;
}

/* SIGTERM, wait for the exit (0), start again on the same directory. */
static void restart_daemon(void)
{
    zmq_close(fx.sub);
    zmq_ctx_term(fx.zctx);
    fx.sub = fx.zctx = NULL;
    kill(fx.daemon, SIGTERM);
    int st = 0;
    assert_int_equal(waitpid(fx.wrapper, &st, 0), fx.wrapper);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    fx.wrapper = 0;
    assert_int_equal(launch(), 0);
}

/* SIGKILL (no clean stop), then start again on the same directory. */
static void kill9_and_launch(void)
{
    zmq_close(fx.sub);
    zmq_ctx_term(fx.zctx);
    fx.sub = fx.zctx = NULL;
    kill(fx.daemon, SIGKILL);
    int st = 0;
    assert_int_equal(waitpid(fx.wrapper, &st, 0), fx.wrapper);
    fx.wrapper = 0;
    assert_int_equal(launch(), 0);
}

static int in_dir(const char *dir, const char *name)
{
    char p[400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

/* The daemon's clock (IMPA_TEST_CLOCK_START) at 05:00 on the test day, after
 * every valid scan the tests drop. */
#define CLOCK ((int64_t)(T0 + 30 * STEP))

/* A scan stamped 5 h ahead of the clock (within the old 6-h tolerance) must
 * not become the window's head (every real scan after it would be "older than
 * the window"): it waits in the input directory, the next real scan cycles, and
 * after a restart the recovery does not take it as the head either. */
static void test_scan_from_the_future(void **state)
{
    (void)state;
    char clk[32];
    snprintf(clk, sizeof clk, "%lld", (long long)CLOCK);
    setenv("IMPA_TEST_CLOCK_START", clk, 1);
    START(0, NULL);
    assert_int_equal(test_drop_scan(fx.in, "ahead.nc", N, N, CLOCK + 5 * 3600), 0);
    char path[300];
    snprintf(path, sizeof path, "%s/ahead.nc", fx.in);
    if (!wait_log2(path, "ahead of the clock", 10.0)) {
        dump_log();
        fail_msg("no log line about the scan ahead of the clock");
    }
    assert_true(log_has2(path, "left in the input directory"));
    assert_false(log_has("clock fault:")); /* one scan: not a clock fault */
    drop_valid(4);
    char hdr[8192];
    assert_int_equal(status_wait("cycles", 2, 10.0, hdr, sizeof hdr), 2);
    assert_int_equal(json_num(hdr, "window_fill"), 4);
    assert_int_equal(json_num(hdr, "quarantined"), 0);
    assert_true(in_dir(fx.in, "ahead.nc"));
    assert_true(status_has("ahead of the clock waiting", 10.0, hdr, sizeof hdr));
    assert_non_null(strstr(hdr, "\"health\":\"degraded\""));
    /* a restart: recovery reads it again and leaves it again */
    restart_daemon();
    assert_true(wait_log2("recovery:", "window 4/4", 20.0));
    assert_true(log_has2(path, "ahead of the clock"));
    drop_valid(5);
    assert_true(in_dir(fx.in, "ahead.nc"));
    assert_false(log_has("older than the window"));
    PASS();
}

/* The host clock 2 h behind the scans: every scan is ahead of it. A clock
 * fault (error line, status failing with the reason), the scans stay in the
 * input directory (nothing quarantined, nothing moved). */
static void test_clock_behind_scans(void **state)
{
    (void)state;
    char clk[32];
    snprintf(clk, sizeof clk, "%lld", (long long)(T0 - 2 * 3600));
    setenv("IMPA_TEST_CLOCK_START", clk, 1);
    any_failed = 1;
    assert_int_equal(start_opts(0, NULL, 0), 0);
    char name[64];
    for (int k = 0; k < 4; k++) {
        scan_name(T0 + (int64_t)k * STEP, name, sizeof name);
        assert_int_equal(test_drop_scan(fx.in, name, N, N, T0 + (int64_t)k * STEP), 0);
    }
    if (!wait_log2("clock fault: the host clock", "behind the scans", 20.0)) {
        dump_log();
        fail_msg("no clock fault logged");
    }
    char hdr[8192];
    assert_true(status_has("clock fault", 10.0, hdr, sizeof hdr));
    assert_non_null(strstr(hdr, "\"health\":\"failing\""));
    assert_int_equal(json_num(hdr, "quarantined"), 0);
    assert_int_equal(json_num(hdr, "cycles"), 0);
    for (int k = 0; k < 4; k++) {
        scan_name(T0 + (int64_t)k * STEP, name, sizeof name);
        assert_true(in_dir(fx.in, name));
        assert_false(in_dir(fx.qdir, name));
    }
    assert_false(log_has("quarantined to"));
    assert_true(daemon_alive());
    PASS();
}

/* The first file on an odd grid (16 x 16) must not fix the grid: the real
 * 32 x 32 scans confirm theirs, cycle, and the odd one is quarantined. */
static void test_grid_not_locked_by_first_file(void **state)
{
    (void)state;
    any_failed = 1;
    assert_int_equal(start_opts(0, NULL, 0), 0);
    assert_int_equal(test_drop_scan(fx.in, "odd.nc", N / 2, N / 2, T0), 0);
    char path[300];
    snprintf(path, sizeof path, "%s/odd.nc", fx.in);
    assert_true(wait_log2(path, "held", 20.0));
    for (int k = 0; k < 4; k++)
        drop_valid(k);
    expect_quarantined("odd.nc", "wrong grid: 16x16", 1);
    assert_true(log_has2(path, "confirmed by 3 scans"));
    assert_false(log_has("wrong grid: 32x32"));
    expect_alive_and_next(4);
    PASS();
}

/* Writes a valid scan for t with every cell v. */
static void drop_scan_all(const char *name, int64_t t, float v)
{
    drop_scan_with(name, t, v, N * N);
}

/* Garbage that parses: all NaN, all _FillValue, too little coverage, values no
 * radar measures (1e30 dBZ). Each is quarantined with the reason and does not
 * claim its step: the genuine scan for the step, arriving after, cycles. */
static void test_implausible_values(void **state)
{
    (void)state;
    START(0, NULL);
    static const struct {
        const char *name;
        float v;
        int cells;
        const char *reason;
    } bad[] = {
        {"allnan.nc", NAN, N * N, "of its 1024 cells hold data"},
        {"allfill.nc", -999.0f, N * N, "of its 1024 cells hold data"},
        {"sparse.nc", NAN, N * N - 50, "of its 1024 cells hold data"},
        {"huge.nc", 1e30f, N * N, "above the physical maximum 100 dBZ"},
    };
    for (int i = 0; i < 4; i++) {
        int64_t t = T0 + (int64_t)(4 + i) * STEP;
        if (bad[i].cells == N * N)
            drop_scan_all(bad[i].name, t, bad[i].v);
        else
            drop_scan_with(bad[i].name, t, bad[i].v, bad[i].cells);
        expect_quarantined(bad[i].name, bad[i].reason, i + 1);
        drop_valid(4 + i); /* the genuine scan of that step cycles: no "duplicate" */
    }
    assert_false(log_has("duplicate"));
    char hdr[8192];
    assert_int_equal(status_wait("cycles", 5, 10.0, hdr, sizeof hdr), 5);
    assert_int_equal(json_num(hdr, "duplicate_scans"), 0);
    PASS();
}

/* The input directory removed and re-created, then replaced (moved away and a
 * new one made): each time the loss is logged and shown in the status, the
 * watch comes back and the next scan cycles. */
static void test_input_dir_recreated(void **state)
{
    (void)state;
    START(0, NULL);
    char cmd[600], hdr[8192];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx.in);
    assert_int_equal(system(cmd), 0);
    if (!wait_log2("input directory missing", fx.in, 10.0)) {
        dump_log();
        fail_msg("the input directory's removal was not logged");
    }
    assert_true(status_has("input directory missing", 10.0, hdr, sizeof hdr));
    assert_non_null(strstr(hdr, "\"health\":\"failing\""));
    assert_int_equal(mkdir(fx.in, 0755), 0);
    assert_true(wait_log2("watch re-established", fx.in, 10.0));
    drop_valid(4);
    /* replaced: the watched directory moved away, a new one in its place */
    snprintf(cmd, sizeof cmd, "mv '%s' '%s.old' && mkdir '%s'", fx.in, fx.in, fx.in);
    assert_int_equal(system(cmd), 0);
    double t0 = impa_time_monotonic();
    int n = 0;
    while (impa_time_monotonic() - t0 < 10.0) {
        FILE *r = fopen(fx.logp, "r");
        char line[4096];
        n = 0;
        while (r && fgets(line, sizeof line, r))
            n += strstr(line, "watch re-established") != NULL;
        if (r)
            fclose(r);
        if (n >= 2)
            break;
        usleep(50000);
    }
    assert_int_equal(n, 2);
    drop_valid(5);
    assert_true(status_has("\"health\":\"ok\"", 10.0, hdr, sizeof hdr));
    /* a bad file still finds its quarantine directory (made again) */
    drop_bytes("empty.nc", "", 0);
    expect_quarantined("empty.nc", NULL, 1);
    assert_true(daemon_alive());
    PASS();
}

/* A scan stamped far in the past: older than the window, dropped with a log
 * line; the window is unaffected. */
static void test_timestamp_far_past(void **state)
{
    (void)state;
    START(0, NULL);
    int64_t past = 315532800; /* 1980-01-01 */
    assert_int_equal(test_drop_scan(fx.in, "past.nc", N, N, past), 0);
    char path[300];
    snprintf(path, sizeof path, "%s/past.nc", fx.in);
    if (!wait_log2(path, "older than the window, dropped", 20.0)) {
        dump_log();
        fail_msg("no 'older than the window, dropped' line for the far-past scan");
    }
    expect_alive_and_next(4);
    char hdr[8192];
    assert_true(status_wait("cycles", 2, 10.0, hdr, sizeof hdr) == 2);
    assert_int_equal(json_num(hdr, "window_fill"), 4);
    assert_int_equal(json_num(hdr, "too_old_scans"), 1);
    assert_int_equal(json_num(hdr, "quarantined"), 0);
    PASS();
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
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_truncated_file, stop),
        cmocka_unit_test_teardown(test_empty_file, stop),
        cmocka_unit_test_teardown(test_corrupt_random_bytes, stop),
        cmocka_unit_test_teardown(test_wrong_variable, stop),
        cmocka_unit_test_teardown(test_nan_and_inf_values, stop),
        cmocka_unit_test_teardown(test_wrong_grid_size, stop),
        cmocka_unit_test_teardown(test_file_written_in_place, stop),
        cmocka_unit_test_teardown(test_output_read_only, stop),
        cmocka_unit_test_teardown(test_output_disk_full, stop),
        cmocka_unit_test_teardown(test_corrupt_weights_on_sighup, stop),
        cmocka_unit_test_teardown(test_slow_then_gone_subscriber, stop),
        cmocka_unit_test_teardown(test_stuck_subscriber_dropped, stop),
        cmocka_unit_test_teardown(test_control_chars_in_name, stop),
        cmocka_unit_test_teardown(test_symlink_out_of_input, stop),
        cmocka_unit_test_teardown(test_output_dirs_removed, stop),
        cmocka_unit_test_teardown(test_killed_during_cycle, stop),
        cmocka_unit_test_teardown(test_watchdog_during_slow_read, stop),
        cmocka_unit_test_teardown(test_quiet_period, stop),
        cmocka_unit_test_teardown(test_retention, stop),
        cmocka_unit_test_teardown(test_scan_from_the_future, stop),
        cmocka_unit_test_teardown(test_clock_behind_scans, stop),
        cmocka_unit_test_teardown(test_grid_not_locked_by_first_file, stop),
        cmocka_unit_test_teardown(test_implausible_values, stop),
        cmocka_unit_test_teardown(test_input_dir_recreated, stop),
        cmocka_unit_test_teardown(test_timestamp_far_past, stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
