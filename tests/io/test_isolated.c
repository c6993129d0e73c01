/* impa_reader_read_isolated: same result as the in-process reader on a good file,
 * and the caller survives the inputs that crash, hang or exhaust memory inside
 * libnetcdf (fuzz/corpus-known/). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "impa/reader.h"
#include "impa/timeutil.h"

static char tmpdir[256];
static char known[1024];

static const char *cdl =
    "netcdf s {\n"
    "dimensions: time = 1 ; y = 2 ; x = 3 ;\n"
    "variables:\n"
    "  double time(time) ; time:units = \"seconds since 2020-10-31 00:00:00\" ;\n"
    "  double y(y) ; y:units = \"km\" ; y:standard_name = \"projection_y_coordinate\" ;\n"
    "  double x(x) ; x:units = \"km\" ; x:standard_name = \"projection_x_coordinate\" ;\n"
    "  float r(time, y, x) ; r:units = \"dBZ\" ; r:_FillValue = -999.f ;\n"
    "    r:standard_name = \"equivalent_reflectivity_factor\" ;\n"
    "data:\n"
    "  time = 600 ; y = 0, 1 ; x = 0, 1, 2 ;\n"
    "  r = 10, 20, -999, 45.5, 50, 0 ;\n"
    "}\n";

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/impa-io-iso-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    const char *root = getenv("IMPA_SOURCE_ROOT");
    snprintf(known, sizeof known, "%s/fuzz/corpus-known", root ? root : ".");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_same_as_direct(void **state)
{
    (void)state;
    char cdlp[512], nc[512], cmd[1200];
    snprintf(cdlp, sizeof cdlp, "%s/s.cdl", tmpdir);
    snprintf(nc, sizeof nc, "%s/s.nc", tmpdir);
    FILE *f = fopen(cdlp, "w");
    assert_non_null(f);
    fputs(cdl, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "ncgen -k classic -o '%s' '%s'", nc, cdlp);
    assert_int_equal(system(cmd), 0);

    impa_scan_t a, b;
    char err[1024];
    assert_int_equal(impa_reader_read(nc, NULL, &a, err, sizeof err), 0);
    assert_int_equal(impa_reader_read_isolated(nc, NULL, NULL, &b, err, sizeof err), 0);
    assert_int_equal(a.grid.nx, b.grid.nx);
    assert_int_equal(a.grid.ny, b.grid.ny);
    assert_true(a.time == b.time);
    assert_true(b.time == 1604102400LL + 600);
    assert_string_equal(a.variable, b.variable);
    assert_string_equal(a.quantity, b.quantity);
    assert_string_equal(b.path, nc);
    for (int i = 0; i < 6; i++) {
        if (isnan(a.dbz[i]))
            assert_true(isnan(b.dbz[i]));
        else
            assert_true(a.dbz[i] == b.dbz[i]);
    }
    assert_true(b.dbz[3] == 45.5f);
    impa_scan_deinit(&a);
    impa_scan_deinit(&b);
}

static void test_errors_pass_through(void **state)
{
    (void)state;
    impa_scan_t s;
    char err[1024];
    int rc = impa_reader_read_isolated("/nonexistent/x.nc", NULL, NULL, &s, err, sizeof err);
    assert_int_equal(rc, IMPA_EIO);
    assert_non_null(strstr(err, "/nonexistent/x.nc"));
    assert_null(s.dbz);
}

static int have_known(const char *name, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", known, name);
    return access(path, R_OK) == 0;
}

/* libnetcdf 4.9.0 segfaults inside nc_open on this 2.5 KiB CDF5 file. */
static void test_crash_contained(void **state)
{
    (void)state;
    char path[1200], err[1024];
    if (!have_known("libnetcdf-cdf5-header-segv.nc", path, sizeof path))
        skip();
    impa_scan_t s;
    int rc = impa_reader_read_isolated(path, NULL, NULL, &s, err, sizeof err);
    fprintf(stderr, "crash file: rc=%d %s\n", rc, err);
    assert_true(rc < 0);
    assert_null(s.dbz);
    /* a plain build dies by SIGSEGV; under ASan the child reports and exits */
    assert_true(strstr(err, "crashed") || strstr(err, "ended early") || strstr(err, "NetCDF"));
}

/* nc_open spends ~13 s and 1 GB on this 958-byte header: the time limit ends it. */
static void test_timeout(void **state)
{
    (void)state;
    char path[1200], err[1024];
    if (!have_known("libnetcdf-nc3-header-13s-1GB-reader.nc", path, sizeof path))
        skip();
    impa_reader_limits_t lim = {.timeout_s = 1.0, .max_memory_bytes = 0};
    impa_scan_t s;
    double t0 = impa_time_monotonic();
    int rc = impa_reader_read_isolated(path, NULL, &lim, &s, err, sizeof err);
    double dt = impa_time_monotonic() - t0;
    fprintf(stderr, "slow file: rc=%d after %.2f s: %s\n", rc, dt, err);
    assert_true(rc < 0);
    assert_true(dt < 5.0);
}

/* A header asking for 3.3 GB under a 512 MiB limit: an error, not a dead caller. */
static void test_memory_limit(void **state)
{
    (void)state;
    char path[1200], err[1024];
    if (!have_known("libnetcdf-nc3-header-3GB-reader.nc", path, sizeof path))
        skip();
    impa_reader_limits_t lim = {.timeout_s = 10.0, .max_memory_bytes = (size_t)512 << 20};
    impa_scan_t s;
    int rc = impa_reader_read_isolated(path, NULL, &lim, &s, err, sizeof err);
    fprintf(stderr, "huge header: rc=%d %s\n", rc, err);
    assert_true(rc < 0);
    assert_null(s.dbz);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_direct),
        cmocka_unit_test(test_errors_pass_through),
        cmocka_unit_test(test_crash_contained),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_memory_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
