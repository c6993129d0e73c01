/* The service in-process: quarantine of bad scans, restart recovery from the files
 * in the input directory, gap policies, late and duplicate scans, sub-step feeds.
 * Uses the 32x32 golden_c test model and scans written by scan_writer.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/log.h"
#include "daemon/service.h"
#include "impa/archive.h"
#include "impa/reader.h"
#include "impa/timeutil.h"
#include "impa_build_config.h"
#include "scan_writer.h"

#define N 32
#define T0 1604102400 /* 2020-10-31T00:00:00Z */

typedef struct {
    char dir[64], in[128], out[128], cfg[128], log[128];
    FILE *logf;
} fixture_t;

static void write_config_model(fixture_t *f, const char *extra, const char *model_extra)
{
    const char *root = getenv("IMPA_SOURCE_ROOT");
    FILE *c = fopen(f->cfg, "w");
    assert_non_null(c);
    fprintf(c,
            "domain: {name: test}\n"
            "input: {directory: in, grid_confirm_scans: 1}\n" /* the grid of the first scan */
            "output: {directory: out, retention_hours: 0}\n"
            "verification: {state_directory: state}\n"
            "model: {weights: %s/tests/data/golden_c_weights.nc, threads: 1%s}\n"
            "publish: {endpoints: ['ipc://%s/pub'], request_endpoint: ''}\n"
            "log: {level: debug}\n%s",
            root ? root : IMPA_SOURCE_ROOT, model_extra ? model_extra : "", f->dir,
            extra ? extra : "");
    fclose(c);
}

static void write_config(fixture_t *f, const char *extra)
{
    write_config_model(f, extra, NULL);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/impa-svc-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->in, sizeof f->in, "%s/in", f->dir);
    snprintf(f->out, sizeof f->out, "%s/out", f->dir);
    snprintf(f->cfg, sizeof f->cfg, "%s/impa.yaml", f->dir);
    snprintf(f->log, sizeof f->log, "%s/log", f->dir);
    mkdir(f->in, 0755);
    f->logf = fopen(f->log, "w+");
    impa_log_setup(IMPA_LOG_DEBUG, 1, f->logf);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    impa_log_setup(IMPA_LOG_INFO, -1, NULL);
    fclose(f->logf);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd))
        return -1;
    free(f);
    return 0;
}

static int log_has(fixture_t *f, const char *text)
{
    fflush(f->logf);
    FILE *r = fopen(f->log, "r");
    char line[4096];
    int found = 0;
    while (r && fgets(line, sizeof line, r))
        found |= strstr(line, text) != NULL;
    if (r)
        fclose(r);
    return found;
}

/* The forecast, whole-cycle and scan-to-alert seconds of the last cycle line in
 * the log; 0 when there is none. */
static int last_cycle_times(fixture_t *f, double *forecast, double *total, double *s2a)
{
    fflush(f->logf);
    FILE *r = fopen(f->log, "r");
    char line[4096];
    int found = 0;
    while (r && fgets(line, sizeof line, r)) {
        const char *p = strstr(line, " total ");
        const char *q = strstr(line, " forecast ");
        if (p && q && sscanf(p, " total %lf s, scan-to-alert %lf s", total, s2a) == 2 &&
            sscanf(q, " forecast %lf s", forecast) == 1)
            found = 1;
    }
    if (r)
        fclose(r);
    return found;
}

static impa_service_t *start(fixture_t *f, const char *extra)
{
    write_config(f, extra);
    impa_service_opts_t o = {.config_path = f->cfg};
    impa_service_t *svc = NULL;
    char err[4096];
    int rc = impa_service_create(&o, &svc, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    return svc;
}

static void scan_path(fixture_t *f, char *buf, size_t len, int64_t t)
{
    snprintf(buf, len, "%s/scan_%lld.nc", f->in, (long long)t);
}

static int drop(impa_service_t *svc, fixture_t *f, int64_t t, int size)
{
    char name[64], path[256];
    snprintf(name, sizeof name, "scan_%lld.nc", (long long)t);
    assert_int_equal(test_drop_scan(f->in, name, size, size, t), 0);
    scan_path(f, path, sizeof path, t);
    return svc ? impa_service_ingest(svc, path, 1) : 0;
}

static void read_archive(fixture_t *f, int64_t issue, char *method, int *n_leads)
{
    char path[256], iso[32], err[512];
    impa_time_compact(issue, iso, sizeof iso);
    snprintf(path, sizeof path, "%s/impa_%s.nc", f->out, iso);
    impa_grid_t g;
    int64_t it;
    int step;
    float *dbz = NULL;
    int rc = impa_archive_read(path, &g, &it, &step, n_leads, &dbz, method, 32, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(g.nx, N);
    assert_int_equal(g.ny, N);
    assert_true(it == issue);
    assert_int_equal(step, 10);
    free(dbz);
}

static void test_quarantine(void **state)
{
    fixture_t *f = *state;
    impa_service_t *svc = start(f, NULL);
    assert_int_equal(drop(svc, f, T0, N), 0);

    /* truncated file */
    char path[256], q[256];
    scan_path(f, path, sizeof path, T0 + 600);
    assert_int_equal(test_write_scan(path, N, N, T0 + 600), 0);
    assert_int_equal(truncate(path, 200), 0);
    assert_int_equal(impa_service_ingest(svc, path, 1), 1);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(q, sizeof q, "%s/quarantine/scan_%d.nc", f->in, T0 + 600);
    assert_int_equal(access(q, F_OK), 0);
    assert_true(log_has(f, "quarantined to"));

    /* not NetCDF at all */
    snprintf(path, sizeof path, "%s/junk.nc", f->in);
    FILE *j = fopen(path, "w");
    fputs("not a radar file\n", j);
    fclose(j);
    assert_int_equal(impa_service_ingest(svc, path, 1), 1);
    snprintf(q, sizeof q, "%s/quarantine/junk.nc", f->in);
    assert_int_equal(access(q, F_OK), 0);

    /* a grid that is not the one the service runs on */
    assert_int_equal(drop(svc, f, T0 + 600, 48), 1);
    assert_true(log_has(f, "wrong grid: 48x48"));

    const impa_service_counters_t *n = impa_service_counters(svc);
    assert_int_equal(n->quarantined, 3);
    assert_int_equal(n->scans, 1);

    /* the service carries on: three more good scans complete the window */
    for (int k = 1; k < 4; k++)
        assert_int_equal(drop(svc, f, T0 + k * 600, N), 0);
    assert_int_equal(n->scans, 4);
    assert_int_equal(n->cycles, 1);
    char method[32];
    int n_leads;
    read_archive(f, T0 + 1800, method, &n_leads);
    assert_string_equal(method, "impa-net");
    assert_int_equal(n_leads, 12);
    impa_service_destroy(&svc);
    assert_null(svc);
}

static void test_recovery(void **state)
{
    fixture_t *f = *state;
    /* six scans already there, written newest first so mtimes disagree with times */
    for (int k = 5; k >= 0; k--)
        drop(NULL, f, T0 + k * 600, N);
    impa_service_t *svc = start(f, NULL);
    assert_int_equal(impa_service_recover(svc), 4);
    const impa_service_counters_t *n = impa_service_counters(svc);
    assert_int_equal(n->cycles, 0);
    assert_int_equal(n->scans, 6);
    /* the next scan runs a cycle straight away */
    assert_int_equal(drop(svc, f, T0 + 6 * 600, N), 0);
    assert_int_equal(n->cycles, 1);
    /* written after the start: its clock starts at its mtime, before the read, so
     * the scan-to-alert time covers the forecast (the cycle's total also counts the
     * verification after the publication) and not much more than the cycle */
    double forecast = -1, total = -1, s2a = -1;
    assert_true(last_cycle_times(f, &forecast, &total, &s2a));
    assert_true(s2a >= forecast);
    assert_true(s2a < total + 30.0);
    assert_false(log_has(f, "(from the intake)"));
    char method[32];
    int n_leads;
    read_archive(f, T0 + 3600, method, &n_leads);
    assert_string_equal(method, "impa-net");
    impa_service_destroy(&svc);
}

static void test_gap_wait_then_late(void **state)
{
    fixture_t *f = *state;
    impa_service_t *svc = start(f, NULL);
    const impa_service_counters_t *n = impa_service_counters(svc);
    drop(svc, f, T0, N);
    drop(svc, f, T0 + 600, N);
    drop(svc, f, T0 + 1800, N); /* 00:20 missing */
    drop(svc, f, T0 + 2400, N);
    assert_int_equal(n->cycles, 0);
    assert_true(log_has(f, "cycle 2020-10-31T00:10:00Z: not run, window filling 2/4"));
    assert_true(log_has(f, "missing 2020-10-31T00:20:00Z); gap_policy wait"));
    assert_int_equal(n->gaps, 2); /* 00:30 and 00:40; the filling steps are no gaps */
    drop(svc, f, T0 + 1200, N); /* late: completes 00:10..00:40 */
    assert_int_equal(n->late, 1);
    assert_int_equal(n->cycles, 1);
    char method[32];
    int n_leads;
    read_archive(f, T0 + 2400, method, &n_leads);
    assert_string_equal(method, "impa-net");
    /* the same late scan again is a duplicate; an older one is dropped */
    drop(svc, f, T0 + 1200, N);
    assert_int_equal(n->duplicates, 1);
    drop(svc, f, T0 - 600, N);
    assert_int_equal(n->too_old, 1);
    assert_int_equal(n->cycles, 1);
    impa_service_destroy(&svc);
}

static void test_gap_extrapolate(void **state)
{
    fixture_t *f = *state;
    impa_service_t *svc = start(f, "window: {gap_policy: extrapolate}\n");
    const impa_service_counters_t *n = impa_service_counters(svc);
    char method[32];
    int n_leads;
    drop(svc, f, T0, N);
    assert_int_equal(n->cycles, 1);
    read_archive(f, T0, method, &n_leads);
    assert_string_equal(method, "persistence");
    drop(svc, f, T0 + 600, N);
    read_archive(f, T0 + 600, method, &n_leads);
    assert_string_equal(method, "extrapolation");
    assert_int_equal(n_leads, 12);
    drop(svc, f, T0 + 1200, N);
    drop(svc, f, T0 + 1800, N);
    read_archive(f, T0 + 1800, method, &n_leads);
    assert_string_equal(method, "impa-net");
    assert_int_equal(n->cycles, 4);
    assert_int_equal(n->fallbacks, 3);
    assert_true(log_has(f, "fallback to extrapolation: window gap (missing"));
    impa_service_destroy(&svc);
}

static void test_sub_step_feed(void **state)
{
    fixture_t *f = *state;
    impa_service_t *svc = start(f, NULL);
    const impa_service_counters_t *n = impa_service_counters(svc);
    for (int k = 0; k < 8; k++) /* 5-minute feed */
        drop(svc, f, T0 + k * 300, N);
    assert_int_equal(n->off_grid, 4);
    assert_int_equal(n->scans, 8);
    assert_int_equal(n->cycles, 1); /* 00:00..00:30 on the 10-min grid */
    impa_service_destroy(&svc);
}

static void test_replay(void **state)
{
    fixture_t *f = *state;
    /* scans written out of time order, one junk file, one duplicate-time file */
    for (int k = 5; k >= 0; k--)
        drop(NULL, f, T0 + k * 600, N);
    char junk[256], dup[256];
    snprintf(junk, sizeof junk, "%s/bad.nc", f->in);
    FILE *j = fopen(junk, "w");
    fputs("garbage", j);
    fclose(j);
    snprintf(dup, sizeof dup, "%s/copy.nc", f->in);
    assert_int_equal(test_write_scan(dup, N, N, T0 + 600), 0);
    chmod(f->in, 0555); /* replay must not need to write its input */
    write_config(f, NULL);
    impa_service_opts_t o = {.config_path = f->cfg, .replay = 1, .input_dir = f->in,
                             .output_dir = f->out};
    impa_service_t *svc = NULL;
    char err[4096];
    int rc = impa_service_create(&o, &svc, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(impa_service_replay(svc, f->in), 3);
    const impa_service_counters_t *n = impa_service_counters(svc);
    assert_int_equal(n->scans, 7);
    assert_int_equal(n->duplicates, 1);
    assert_int_equal(n->quarantined, 1);
    assert_int_equal(access(junk, F_OK), 0); /* left in place */
    char method[32];
    int n_leads;
    for (int k = 3; k < 6; k++) {
        read_archive(f, T0 + k * 600, method, &n_leads);
        assert_string_equal(method, "impa-net");
    }
    char csv[256];
    snprintf(csv, sizeof csv, "%s/verification.csv", f->out);
    assert_int_equal(access(csv, F_OK), 0);
    assert_true(log_has(f, "replay "));
    /* files older than the replay: each cycle's clock starts at its scan's intake */
    assert_true(log_has(f, "over 3 cycles (3 from the intake)"));
    assert_true(log_has(f, "MiB"));
    impa_service_destroy(&svc);
    chmod(f->in, 0755);
}

/* Opens of files in dir seen by inotify since the watch was made (any process:
 * scans are read in a child), per name in names[] (NULL-terminated). */
static void count_opens(int fd, const char *const *names, int *counts)
{
    char buf[16384] __attribute__((aligned(8)));
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)(void *)p;
            for (int i = 0; names[i]; i++)
                if ((e->mask & IN_OPEN) && e->len && strcmp(e->name, names[i]) == 0)
                    counts[i]++;
            p += sizeof *e + e->len;
        }
}

/* Replay reads each file once: every scan file is opened exactly as often as
 * one read of it opens it (libnetcdf/libhdf5 may open a file more than once
 * per read), never twice that. */
static void test_replay_reads_once(void **state)
{
    fixture_t *f = *state;
    const char *names[7] = {NULL};
    char name_buf[6][64];
    for (int k = 0; k < 6; k++) {
        drop(NULL, f, T0 + k * 600, N);
        snprintf(name_buf[k], sizeof name_buf[k], "scan_%lld.nc", (long long)(T0 + k * 600));
        names[k] = name_buf[k];
    }
    int fd = inotify_init1(IN_NONBLOCK);
    assert_true(fd >= 0);
    assert_true(inotify_add_watch(fd, f->in, IN_OPEN) >= 0);
    /* one read of one file, for the opens a read takes */
    impa_reader_opts_t ro = impa_reader_opts_default();
    impa_scan_t scan;
    char path[256], err[4096];
    scan_path(f, path, sizeof path, T0);
    assert_int_equal(impa_reader_read_isolated(path, &ro, NULL, &scan, err, sizeof err), 0);
    impa_scan_deinit(&scan);
    int one[7] = {0};
    count_opens(fd, names, one);
    assert_true(one[0] >= 1);

    write_config(f, NULL);
    impa_service_opts_t o = {.config_path = f->cfg, .replay = 1, .input_dir = f->in,
                             .output_dir = f->out};
    impa_service_t *svc = NULL;
    assert_int_equal(impa_service_create(&o, &svc, err, sizeof err), 0);
    assert_int_equal(impa_service_replay(svc, f->in), 3);
    int opens[7] = {0};
    count_opens(fd, names, opens);
    printf("a read opens a scan %d times; replay opened them", one[0]);
    for (int k = 0; k < 6; k++)
        printf(" %d", opens[k]);
    printf("\n");
    for (int k = 0; k < 6; k++)
        assert_int_equal(opens[k], one[0]);
    close(fd);
    impa_service_destroy(&svc);
}

/* model.calibration extrapolation needs an advection-guided model: with the
 * plain golden model the service refuses to start and says why; auto runs it
 * uncalibrated and the log says so. */
static void test_calibration_needs_advection(void **state)
{
    fixture_t *f = *state;
    write_config_model(f, NULL, ", calibration: extrapolation");
    impa_service_opts_t o = {.config_path = f->cfg};
    impa_service_t *svc = NULL;
    char err[4096];
    assert_int_equal(impa_service_create(&o, &svc, err, sizeof err), IMPA_ECONFIG);
    assert_null(svc);
    assert_non_null(strstr(err, "model.calibration"));
    assert_non_null(strstr(err, "advection"));
    printf("refused: %s\n", err);
    svc = start(f, NULL);
    assert_int_equal(drop(svc, f, T0, N), 0);
    assert_true(log_has(f, "network forecasts calibrated: none (model.calibration auto)"));
    impa_service_destroy(&svc);
}

int main(void)
{
    const char *root = getenv("IMPA_SOURCE_ROOT");
    char w[4200];
    snprintf(w, sizeof w, "%s/tests/data/golden_c_weights.nc", root ? root : IMPA_SOURCE_ROOT);
    if (access(w, R_OK)) {
        printf("skip: %s not found\n", w);
        return 77;
    }
    /* as the daemon does: reader children forked from a process with one thread */
    char err[256];
    if (impa_reader_server_start(err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_quarantine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_wait_then_late, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_extrapolate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sub_step_feed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_reads_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_calibration_needs_advection, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
