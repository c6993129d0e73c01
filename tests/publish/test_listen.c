/* impa-listen and examples/consumer.py against a live publisher: frames, alerts,
 * cycles, NetCDF output, snapshot request, gap/restart detection, --count,
 * --timeout and SIGTERM exits. */
#include <netcdf.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pubtest.h"

#define NX 64
#define NY 48
#define NL 3

static char g_listen[4096], g_consumer[4096], g_python[4096];
static float g_dbz[NL * NY * NX];

static pid_t spawn(char *const argv[], const char *out)
{
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = freopen(out, "w", stdout);
        if (!f || dup2(fileno(stdout), 2) < 0)
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Publishes a cycle every 150 ms (and serves snapshot requests) until the child
 * exits; returns its exit status, -1 on timeout (child killed). */
static int publish_until_exit(impa_publisher_t *pub, pid_t pid, double max_s, int send)
{
    impa_grid_t g = pt_latlon_grid(NX, NY);
    impa_forecast_t fc;
    impa_alert_tracker_t *tr = pt_tracker();
    int64_t issue = 1700000000;
    double t0 = impa_time_monotonic(), last = 0;
    for (;;) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            impa_alert_tracker_destroy(&tr);
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        double now = impa_time_monotonic() - t0;
        if (now > max_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            impa_alert_tracker_destroy(&tr);
            return -1;
        }
        if (send && now - last > 0.15) {
            for (size_t i = 0; i < (size_t)NL * NX * NY; i++)
                g_dbz[i] = 10.0f;
            for (int k = 0; k < NL; k++)
                pt_disk(g_dbz + (size_t)k * NX * NY, NX, NY, 20 + 2 * k, 20, 8);
            pt_forecast(&fc, &g, g_dbz, NL, issue);
            /* probability frames: P = 0.8 on the storm's disk, 0 elsewhere, one NAN */
            static float pv[NL * NY * NX];
            static float radius[NL] = {2, 4, 6};
            for (size_t i = 0; i < (size_t)NL * NX * NY; i++)
                pv[i] = g_dbz[i] >= 45.0f ? 0.8f : 0.0f;
            pv[0] = NAN;
            impa_prob_field_t pf = {.n_thresholds = 1, .thresholds = {45.0f}, .n_leads = NL,
                                    .ny = NY, .nx = NX, .p = pv, .radius_km = radius,
                                    .calibration = "listen-test"};
            fc.prob = &pf;
            issue += 600;
            assert_int_equal(pt_send_cycle(pub, tr, &fc, NULL, 0), 0);
            last = now;
        }
        zmq_pollitem_t it = {impa_publisher_request_socket(pub), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 20) > 0)
            impa_publisher_handle_request(pub, NULL, 0);
    }
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *s = calloc(1, 1 << 20);
    size_t n = fread(s, 1, (1 << 20) - 1, f);
    s[n] = '\0';
    fclose(f);
    return s;
}

static int count_of(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static impa_publisher_t *publisher(void)
{
    impa_publish_config_t cfg;
    pt_config(&cfg);
    impa_publisher_t *pub = NULL;
    char err[256];
    assert_int_equal(impa_publisher_create(&cfg, &pub, NULL, 0, err, sizeof err), 0);
    return pub;
}

static void test_listen_live(void **state)
{
    char dir[] = "/tmp/impa-listen-XXXXXX", out[512], ep[256];
    assert_non_null(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/out.txt", dir);
    impa_publisher_t *pub = publisher();
    snprintf(ep, sizeof ep, "%s", impa_publisher_endpoint(pub, 0));
    char *argv[] = {g_listen, "--endpoint", ep, "--domain", "test", "--count", "2", "--timeout",
                    "10", "--netcdf-dir", dir, "--verbose", NULL};
    pid_t pid = spawn(argv, out);
    assert_int_equal(publish_until_exit(pub, pid, 12, 1), 0);
    char *s = slurp(out);
    assert_true(count_of(s, "frame seq=") >= NL);
    assert_non_null(strstr(s, "lead=+10min (1/3)"));
    assert_true(count_of(s, "alert cell=") >= NL); /* --verbose: per lead */
    assert_non_null(strstr(s, "max=55.0dBZ lat=-27.2000 lon=150.2000"));
    assert_non_null(strstr(s, "storm cell=1 event=new area="));
    assert_non_null(strstr(s, "max=55.0dBZ leads=+10..+30min regions="));
    assert_int_equal(count_of(s, "cycle issue="), 2);
    assert_null(strstr(s, "LOST"));
    /* probability frames decoded: one per lead, max 0.80, the cycle counts them */
    assert_true(count_of(s, "prob seq=") >= NL);
    assert_non_null(strstr(s, "threshold=45.0dBZ lead=+10min (1/3)"));
    assert_non_null(strstr(s, "max=0.80 p50="));
    assert_non_null(strstr(s, "radius=4.0km trend=steady"));
    assert_non_null(strstr(s, "prob_frames=3 alerts="));
    /* a frame written to NetCDF reads back with the storm peak */
    const char *w = strstr(s, "wrote ");
    assert_non_null(w);
    char nc[1024];
    assert_int_equal(sscanf(w, "wrote %1023s", nc), 1);
    int ncid, vid;
    assert_int_equal(nc_open(nc, NC_NOWRITE, &ncid), NC_NOERR);
    assert_int_equal(nc_inq_varid(ncid, "reflectivity", &vid), NC_NOERR);
    size_t idx[2] = {20, 20};
    float v = 0;
    int lead = 0;
    assert_int_equal(nc_get_att_int(ncid, NC_GLOBAL, "lead_minutes", &lead), NC_NOERR);
    idx[1] = 20 + 2 * (lead / 10 - 1);
    assert_int_equal(nc_get_var1_float(ncid, vid, idx, &v), NC_NOERR);
    assert_true(fabsf(v - 55.0f) < 0.26f);
    nc_close(ncid);
    free(s);

    /* snapshot request */
    char rq[256];
    snprintf(rq, sizeof rq, "%s", impa_publisher_request_endpoint(pub));
    char *argv2[] = {g_listen, "--latest", "--request", rq, "--timeout", "5", NULL};
    pid = spawn(argv2, out);
    assert_int_equal(publish_until_exit(pub, pid, 8, 0), 0);
    s = slurp(out);
    assert_non_null(strstr(s, "snapshot type=snapshot available=1 frames=3 alerts=1"));
    assert_int_equal(count_of(s, "frame seq="), NL);
    assert_int_equal(count_of(s, "alert cell="), 0); /* one line per storm without --verbose */
    assert_int_equal(count_of(s, "storm cell="), 1);
    free(s);
    impa_publisher_destroy(&pub);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Hand-made messages: seq 1, 2, 5 then a new run id -> LOST 2, RESTART. */
static void test_listen_gaps_and_exits(void **state)
{
    char dir[] = "/tmp/impa-listen-XXXXXX", out[512], ep[512];
    assert_non_null(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(ep, sizeof ep, "ipc://%s/pub", dir);
    void *ctx = zmq_ctx_new();
    void *pub = zmq_socket(ctx, ZMQ_PUB);
    int zero = 0;
    zmq_setsockopt(pub, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_bind(pub, ep), 0);
    char *argv[] = {g_listen, "--endpoint", ep, "--count", "1", "--timeout", "10", NULL};
    pid_t pid = spawn(argv, out);
    const char *runs[] = {"aaaa", "aaaa", "aaaa", "aaaa", "bbbb"};
    const int seqs[] = {1, 2, 3, 6, 1};
    /* warm up on another topic until the subscriber demonstrably receives */
    double t0 = impa_time_monotonic();
    for (int w = 1; impa_time_monotonic() - t0 < 8.0; w++) {
        char hdr[256];
        snprintf(hdr, sizeof hdr, "{\"protocol\":1,\"type\":\"status\",\"run_id\":\"w\",\"seq\":%d,"
                 "\"domain\":\"warm\",\"state\":\"warm\"}", w);
        zmq_send(pub, "impa.status.warm", 16, ZMQ_SNDMORE);
        zmq_send(pub, hdr, strlen(hdr), ZMQ_SNDMORE);
        zmq_send(pub, "", 0, 0);
        usleep(50000);
        char *o = slurp(out);
        int ready = strstr(o, "state=warm") != NULL;
        free(o);
        if (ready)
            break;
    }
    for (int i = 0; i < 5; i++) {
        char hdr[256];
        snprintf(hdr, sizeof hdr, "{\"protocol\":1,\"type\":\"status\",\"run_id\":\"%s\",\"seq\":%d,"
                 "\"domain\":\"x\",\"state\":\"ok\"}", runs[i], seqs[i]);
        zmq_send(pub, "impa.status.x", 13, ZMQ_SNDMORE);
        zmq_send(pub, hdr, strlen(hdr), ZMQ_SNDMORE);
        zmq_send(pub, "", 0, 0);
        usleep(20000);
    }
    const char *cyc = "{\"protocol\":1,\"type\":\"cycle_end\",\"run_id\":\"bbbb\",\"seq\":1,\"domain\":\"x\","
                      "\"issue_time\":\"2023-11-14T22:13:20Z\",\"n_frames\":0}";
    zmq_send(pub, "impa.cycle.x", 12, ZMQ_SNDMORE);
    zmq_send(pub, cyc, strlen(cyc), ZMQ_SNDMORE);
    zmq_send(pub, "", 0, 0);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    char *s = slurp(out);
    assert_non_null(strstr(s, "LOST 2 messages on impa.status.x"));
    assert_non_null(strstr(s, "RESTART impa.status.x"));
    assert_int_equal(count_of(s, "status state=ok"), 5);
    free(s);
    /* --timeout before --count: exit 3 */
    char *argv2[] = {g_listen, "--endpoint", ep, "--count", "5", "--timeout", "0.5", NULL};
    pid = spawn(argv2, out);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_int_equal(WEXITSTATUS(st), 3);
    /* SIGTERM: clean exit 0 */
    char *argv3[] = {g_listen, "--endpoint", ep, NULL};
    snprintf(out, sizeof out, "%s/out3.txt", dir); /* fresh file: no stale "listening on" */
    pid = spawn(argv3, out);
    /* signal only once the handler is installed ("listening on" comes after it) */
    for (int i = 0; i < 100; i++) {
        if (access(out, R_OK) != 0) {
            usleep(50000);
            continue;
        }
        char *o = slurp(out);
        int up = strstr(o, "listening on") != NULL;
        free(o);
        if (up)
            break;
        usleep(50000);
    }
    kill(pid, SIGTERM);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    zmq_close(pub);
    zmq_ctx_term(ctx);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_python_consumer(void **state)
{
    char check[4200];
    snprintf(check, sizeof check, "'%s' -c 'import zmq, numpy' 2>/dev/null", g_python);
    if (system(check) != 0) {
        print_message("python3 with zmq+numpy not available: consumer.py not tested\n");
        skip();
    }
    char dir[] = "/tmp/impa-consumer-XXXXXX", out[512], ep[256];
    assert_non_null(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/out.txt", dir);
    impa_publisher_t *pub = publisher();
    snprintf(ep, sizeof ep, "%s", impa_publisher_endpoint(pub, 0));
    char *argv[] = {g_python, g_consumer, "--endpoint", ep, "--count", "2", "--timeout", "10", NULL};
    pid_t pid = spawn(argv, out);
    int rc = publish_until_exit(pub, pid, 12, 1);
    char *s = slurp(out);
    if (rc != 0)
        print_message("consumer.py output:\n%s\n", s);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(s, "frame lead=+10min"));
    assert_non_null(strstr(s, "max=55.0 dBZ"));
    assert_non_null(strstr(s, "alert cell="));
    assert_int_equal(count_of(s, "cycle issue="), 2);
    free(s);
    char rq[256];
    snprintf(rq, sizeof rq, "%s", impa_publisher_request_endpoint(pub));
    char *argv2[] = {g_python, g_consumer, "--latest", "--request", rq, "--timeout", "5", NULL};
    pid = spawn(argv2, out);
    assert_int_equal(publish_until_exit(pub, pid, 8, 0), 0);
    s = slurp(out);
    assert_non_null(strstr(s, "snapshot available=True frames=3"));
    free(s);
    impa_publisher_destroy(&pub);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const char *b = getenv("IMPA_BUILD_ROOT"), *src = getenv("IMPA_SOURCE_ROOT");
    const char *py = getenv("IMPA_PYTHON");
    if (!b || !src) {
        printf("IMPA_BUILD_ROOT/IMPA_SOURCE_ROOT not set (run through meson test): skipping\n");
        return 77;
    }
    snprintf(g_listen, sizeof g_listen, "%s/src/tools/impa-listen", b);
    snprintf(g_consumer, sizeof g_consumer, "%s/examples/consumer.py", src);
    snprintf(g_python, sizeof g_python, "%s", py ? py : "/usr/bin/python3");
    if (access(g_listen, X_OK) != 0) {
        printf("%s not built: skipping\n", g_listen);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_live),
        cmocka_unit_test(test_listen_gaps_and_exits),
        cmocka_unit_test(test_python_consumer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
