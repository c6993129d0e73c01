/* Forecast archive: write -> read back equality (values, NaN, grid, projection,
 * times, method), the CF layout (lead_time axis, forecast_reference_time, valid
 * time in seconds since the issue, x/y in metres, crs_wkt), archives of the
 * earlier layout still read, no temporary file left, failure cleanup, prune.
 * tests/io/test_archive_xarray.py opens the same layout with xarray and pyproj. */
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <netcdf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "impa/archive.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/impa-io-archive-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static int count_entries(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        if (strstr(de->d_name, needle))
            n++;
    if (d)
        closedir(d);
    return n;
}

static impa_grid_t test_grid(void)
{
    impa_grid_t g;
    memset(&g, 0, sizeof g);
    g.nx = 5;
    g.ny = 4;
    g.x0 = -127.75;
    g.dx = 0.5;
    g.y0 = 127.75;
    g.dy = -0.5;
    snprintf(g.x_units, sizeof g.x_units, "km");
    snprintf(g.grid_mapping_name, sizeof g.grid_mapping_name, "albers_conical_equal_area");
    impa_grid_attr_t *a = &g.attrs[g.n_attrs++];
    snprintf(a->name, sizeof a->name, "grid_mapping_name");
    a->is_text = 1;
    snprintf(a->text, sizeof a->text, "albers_conical_equal_area");
    a = &g.attrs[g.n_attrs++];
    snprintf(a->name, sizeof a->name, "standard_parallel");
    a->values[0] = -26.2;
    a->values[1] = -29.3;
    a->n_values = 2;
    a = &g.attrs[g.n_attrs++];
    snprintf(a->name, sizeof a->name, "longitude_of_central_meridian");
    a->values[0] = 153.24;
    a->n_values = 1;
    a = &g.attrs[g.n_attrs++];
    snprintf(a->name, sizeof a->name, "latitude_of_projection_origin");
    a->values[0] = -27.7178;
    a->n_values = 1;
    return g;
}

static void test_write_read(void **state)
{
    (void)state;
    impa_grid_t g = test_grid();
    enum { L = 3, N = 20 };
    float dbz[L * N];
    for (int i = 0; i < L * N; i++)
        dbz[i] = (float)(i % 17) * 3.25f - 32.0f;
    dbz[7] = NAN;
    dbz[N + 3] = NAN;
    impa_forecast_t fc;
    memset(&fc, 0, sizeof fc);
    fc.domain = "brisbane";
    fc.issue_time = 1604109000; /* 2020-10-31T01:50:00Z */
    fc.step_minutes = 10;
    fc.n_leads = L;
    fc.grid = &g;
    fc.dbz = dbz;
    fc.method = IMPA_METHOD_EXTRAPOLATION;
    fc.fallback_reason = "weights file missing";
    fc.model_name = "impa-net";
    fc.model_version = "1";
    fc.weights_sha256 = "abc123";
    fc.config_version = "cfg-42";
    fc.n_inputs = 2;
    fc.input_paths[0] = "/data/66_20201031_014000.prcp-c10.nc";
    fc.input_times[0] = 1604108400;
    fc.input_paths[1] = "/data/66_20201031_015000.prcp-c10.nc";
    fc.input_times[1] = 1604109000;
    char path[PATH_MAX], err[512] = "";
    assert_int_equal(impa_archive_write(tmpdir, "bne_", &fc, path, err, sizeof err), 0);
    char expect[PATH_MAX];
    snprintf(expect, sizeof expect, "%s/bne_20201031T015000Z.nc", tmpdir);
    assert_string_equal(path, expect);
    assert_int_equal(access(path, R_OK), 0);
    assert_int_equal(count_entries(tmpdir, ".tmp"), 0);

    impa_grid_t rg;
    int64_t issue;
    int step, nl;
    float *rd = NULL;
    char method[32];
    assert_int_equal(impa_archive_read(path, &rg, &issue, &step, &nl, &rd, method, sizeof method, err, sizeof err), 0);
    assert_int_equal(issue, 1604109000);
    assert_int_equal(step, 10);
    assert_int_equal(nl, L);
    assert_string_equal(method, "extrapolation");
    assert_int_equal(rg.nx, 5);
    assert_int_equal(rg.ny, 4);
    /* written in metres (the input grid is in km) */
    assert_true(fabs(rg.x0 - 1000 * g.x0) < 1e-6 && fabs(rg.dx - 1000 * g.dx) < 1e-6);
    assert_true(fabs(rg.y0 - 1000 * g.y0) < 1e-6 && fabs(rg.dy - 1000 * g.dy) < 1e-6);
    assert_string_equal(rg.x_units, "m");
    assert_string_equal(rg.grid_mapping_name, "albers_conical_equal_area");
    for (int i = 0; i < L * N; i++) {
        if (isnan(dbz[i]))
            assert_true(isnan(rd[i]));
        else
            assert_true(rd[i] == dbz[i]);
    }
    /* same geolocation after the round trip */
    double la1, lo1, la2, lo2;
    assert_int_equal(impa_grid_latlon(&g, 2, 3, &la1, &lo1), 0);
    assert_int_equal(impa_grid_latlon(&rg, 2, 3, &la2, &lo2), 0);
    assert_true(fabs(la1 - la2) < 1e-11 && fabs(lo1 - lo2) < 1e-11);
    free(rd);

    /* CF metadata */
    int ncid, v;
    char buf[1024];
    size_t len;
    assert_int_equal(nc_open(path, NC_NOWRITE, &ncid), NC_NOERR);
    int fmt;
    nc_inq_format(ncid, &fmt);
    assert_int_equal(fmt, NC_FORMAT_NETCDF4);
    assert_int_equal(nc_get_att_text(ncid, NC_GLOBAL, "Conventions", buf), NC_NOERR);
    nc_inq_attlen(ncid, NC_GLOBAL, "Conventions", &len);
    buf[len] = '\0';
    assert_string_equal(buf, "CF-1.8");
    nc_inq_attlen(ncid, NC_GLOBAL, "inputs", &len);
    assert_true(len < sizeof buf);
    nc_get_att_text(ncid, NC_GLOBAL, "inputs", buf);
    buf[len] = '\0';
    assert_non_null(strstr(buf, "66_20201031_015000.prcp-c10.nc @ 2020-10-31T01:50:00Z"));
    nc_inq_attlen(ncid, NC_GLOBAL, "fallback_reason", &len);
    nc_get_att_text(ncid, NC_GLOBAL, "fallback_reason", buf);
    buf[len] = '\0';
    assert_string_equal(buf, "weights file missing");
    nc_inq_attlen(ncid, NC_GLOBAL, "source", &len);
    nc_get_att_text(ncid, NC_GLOBAL, "source", buf);
    buf[len] = '\0';
    assert_non_null(strstr(buf, "abc123"));
    assert_int_equal(nc_inq_varid(ncid, "reflectivity", &v), NC_NOERR);
    int shuffle, deflate, level;
    nc_inq_var_deflate(ncid, v, &shuffle, &deflate, &level);
    assert_true(deflate && level > 0);
    nc_get_att_text(ncid, v, "grid_mapping", buf);
    nc_inq_attlen(ncid, v, "grid_mapping", &len);
    buf[len] = '\0';
    assert_string_equal(buf, "crs");
    int lv, leads[L];
    assert_int_equal(nc_inq_varid(ncid, "lead_time", &lv), NC_NOERR);
    nc_get_var_int(ncid, lv, leads);
    assert_true(leads[0] == 10 && leads[2] == 30);
    /* the CF layout */
    int nd, dim;
    assert_int_equal(nc_inq_varndims(ncid, lv, &nd), NC_NOERR);
    assert_int_equal(nd, 1);
    nc_inq_vardimid(ncid, lv, &dim);
    char dname[NC_MAX_NAME + 1];
    nc_inq_dimname(ncid, dim, dname);
    assert_string_equal(dname, "lead_time"); /* a coordinate variable: the lead axis */
    int rv, tv;
    assert_int_equal(nc_inq_varid(ncid, "forecast_reference_time", &rv), NC_NOERR);
    assert_int_equal(nc_inq_varndims(ncid, rv, &nd), NC_NOERR);
    assert_int_equal(nd, 0);
    double ref, valid[L];
    nc_get_var_double(ncid, rv, &ref);
    assert_true(ref == 1604109000.0);
    assert_int_equal(nc_inq_varid(ncid, "time", &tv), NC_NOERR);
    nc_get_var_double(ncid, tv, valid);
    assert_true(valid[0] == 600.0 && valid[2] == 1800.0);
    memset(buf, 0, sizeof buf);
    nc_get_att_text(ncid, tv, "units", buf);
    assert_string_equal(buf, "seconds since 2020-10-31 01:50:00");
    memset(buf, 0, sizeof buf);
    nc_get_att_text(ncid, v, "coordinates", buf);
    assert_string_equal(buf, "forecast_reference_time time");
    int xv;
    double x[5];
    assert_int_equal(nc_inq_varid(ncid, "x", &xv), NC_NOERR);
    memset(buf, 0, sizeof buf);
    nc_get_att_text(ncid, xv, "units", buf);
    assert_string_equal(buf, "m");
    memset(buf, 0, sizeof buf);
    nc_get_att_text(ncid, xv, "standard_name", buf);
    assert_string_equal(buf, "projection_x_coordinate");
    nc_get_var_double(ncid, xv, x);
    assert_true(x[0] == -127750.0 && x[1] == -127250.0);
    int cv;
    assert_int_equal(nc_inq_varid(ncid, "crs", &cv), NC_NOERR);
    assert_int_equal(nc_inq_attlen(ncid, cv, "crs_wkt", &len), NC_NOERR);
    char *wkt = calloc(1, len + 1);
    nc_get_att_text(ncid, cv, "crs_wkt", wkt);
    assert_non_null(strstr(wkt, "PROJCRS["));
    assert_non_null(strstr(wkt, "Albers Equal Area"));
    free(wkt);
    nc_close(ncid);
}

/* An archive of the layout before forecast_reference_time (scalar "time" =
 * issue, valid_time(lead_time), x/y in km) still reads. */
/* A text attribute as a string (asserting it exists and fits). */
static const char *att_text(int ncid, int v, const char *name, char *buf, size_t cap)
{
    size_t len;
    assert_int_equal(nc_inq_attlen(ncid, v, name, &len), NC_NOERR);
    assert_true(len < cap);
    assert_int_equal(nc_get_att_text(ncid, v, name, buf), NC_NOERR);
    buf[len] = '\0';
    return buf;
}

/* A forecast of n_leads 10-min leads of dbz on g issued at issue, nothing else set. */
static impa_forecast_t bare_forecast(const impa_grid_t *g, int64_t issue, int n_leads,
                                     const float *dbz)
{
    impa_forecast_t fc;
    memset(&fc, 0, sizeof fc);
    fc.issue_time = issue;
    fc.step_minutes = 10;
    fc.n_leads = n_leads;
    fc.grid = g;
    fc.dbz = dbz;
    return fc;
}

/* The exceedance probabilities: variable reflectivity_probability(threshold,
 * lead_time, y, x) in units 1 with a threshold coordinate in dBZ, values and
 * missing data read back. */
static void test_probability(void **state)
{
    (void)state;
    impa_grid_t g = test_grid();
    enum { L = 2, N = 20, T = 2 };
    float dbz[L * N], p[T * L * N], rad[T * L] = {2, 4, 3, 6};
    for (int i = 0; i < L * N; i++)
        dbz[i] = 40.0f;
    for (int i = 0; i < T * L * N; i++)
        p[i] = (float)(i % 11) / 10.0f;
    p[5] = NAN;
    impa_prob_field_t pf = {.n_thresholds = T, .thresholds = {35.0f, 45.0f}, .n_leads = L,
                            .ny = 4, .nx = 5, .p = p, .radius_km = rad,
                            .trend = {0, -1}, .calibration = "unit test table"};
    impa_forecast_t fc = bare_forecast(&g, 1604109000, L, dbz);
    fc.method = IMPA_METHOD_EXTRAPOLATION;
    fc.prob = &pf;
    char path[PATH_MAX], err[512] = "";
    assert_int_equal(impa_archive_write(tmpdir, "prob_", &fc, path, err, sizeof err), 0);
    int ncid, v, vt, vr, dims[4], nd;
    assert_int_equal(nc_open(path, NC_NOWRITE, &ncid), NC_NOERR);
    assert_int_equal(nc_inq_varid(ncid, "reflectivity_probability", &v), NC_NOERR);
    assert_int_equal(nc_inq_varndims(ncid, v, &nd), NC_NOERR);
    assert_int_equal(nd, 4);
    assert_int_equal(nc_inq_vardimid(ncid, v, dims), NC_NOERR);
    char name[NC_MAX_NAME + 1], buf[512];
    const char *want[4] = {"threshold", "lead_time", "y", "x"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(nc_inq_dimname(ncid, dims[i], name), NC_NOERR);
        assert_string_equal(name, want[i]);
    }
    assert_string_equal(att_text(ncid, v, "units", buf, sizeof buf), "1");
    assert_non_null(strstr(att_text(ncid, v, "cell_methods", buf, sizeof buf), "area: mean"));
    assert_string_equal(att_text(ncid, v, "calibration", buf, sizeof buf), "unit test table");
    int trend[2];
    assert_int_equal(nc_get_att_int(ncid, v, "trend", trend), NC_NOERR);
    assert_int_equal(trend[1], -1);
    assert_int_equal(nc_inq_varid(ncid, "threshold", &vt), NC_NOERR);
    float thr[2];
    assert_int_equal(nc_get_var_float(ncid, vt, thr), NC_NOERR);
    assert_true(thr[0] == 35.0f && thr[1] == 45.0f);
    assert_string_equal(att_text(ncid, vt, "units", buf, sizeof buf), "dBZ");
    float back[T * L * N], fill, rb[T * L];
    assert_int_equal(nc_get_var_float(ncid, v, back), NC_NOERR);
    assert_int_equal(nc_get_att_float(ncid, v, "_FillValue", &fill), NC_NOERR);
    for (int i = 0; i < T * L * N; i++) {
        if (isnan(p[i]))
            assert_true(back[i] == fill);
        else
            assert_true(back[i] == p[i]);
    }
    assert_int_equal(nc_inq_varid(ncid, "probability_radius", &vr), NC_NOERR);
    assert_int_equal(nc_get_var_float(ncid, vr, rb), NC_NOERR);
    assert_true(rb[3] == 6.0f);
    nc_close(ncid);
    /* without probabilities: no such variable */
    fc.prob = NULL;
    fc.issue_time += 600;
    assert_int_equal(impa_archive_write(tmpdir, "prob_", &fc, path, err, sizeof err), 0);
    assert_int_equal(nc_open(path, NC_NOWRITE, &ncid), NC_NOERR);
    assert_int_equal(nc_inq_varid(ncid, "reflectivity_probability", &v), NC_ENOTVAR);
    nc_close(ncid);
}

static void test_read_earlier_layout(void **state)
{
    (void)state;
    char cdl[600], nc[600], cmd[1400];
    snprintf(cdl, sizeof cdl, "%s/old.cdl", tmpdir);
    snprintf(nc, sizeof nc, "%s/old_20201031T060000Z.nc", tmpdir);
    FILE *f = fopen(cdl, "w");
    assert_non_null(f);
    fputs("netcdf old {\n"
          "dimensions: lead_time = 2 ; y = 1 ; x = 2 ;\n"
          "variables:\n"
          "  double time ; time:standard_name = \"forecast_reference_time\" ;\n"
          "    time:units = \"seconds since 1970-01-01 00:00:00\" ;\n"
          "  int lead_time(lead_time) ; lead_time:units = \"minutes\" ;\n"
          "  double valid_time(lead_time) ; valid_time:units = \"seconds since 1970-01-01 00:00:00\" ;\n"
          "  double y(y) ; y:units = \"km\" ;\n"
          "  double x(x) ; x:units = \"km\" ;\n"
          "  float reflectivity(lead_time, y, x) ; reflectivity:_FillValue = -999.f ;\n"
          "  :method = \"persistence\" ;\n"
          "data:\n"
          "  time = 1604124000 ; lead_time = 10, 20 ; valid_time = 1604124600, 1604125200 ;\n"
          "  y = 5 ; x = 1, 2 ; reflectivity = 1, 2, 3, -999 ;\n"
          "}\n",
          f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "ncgen -k nc4 -o '%s' '%s'", nc, cdl);
    if (system(cmd) != 0)
        skip();
    impa_grid_t g;
    int64_t issue;
    int step, nl;
    float *d = NULL;
    char method[32], err[512];
    assert_int_equal(impa_archive_read(nc, &g, &issue, &step, &nl, &d, method, sizeof method, err, sizeof err), 0);
    assert_int_equal(issue, 1604124000);
    assert_int_equal(step, 10);
    assert_int_equal(nl, 2);
    assert_string_equal(g.x_units, "km");
    assert_true(g.x0 == 1 && g.dx == 1);
    assert_true(d[2] == 3 && isnan(d[3]));
    assert_string_equal(method, "persistence");
    free(d);
}

static void test_failure_and_prune(void **state)
{
    (void)state;
    impa_grid_t g = test_grid();
    float dbz[20] = {0};
    impa_forecast_t fc;
    memset(&fc, 0, sizeof fc);
    fc.step_minutes = 10;
    fc.n_leads = 1;
    fc.grid = &g;
    fc.dbz = dbz;
    char err[512] = "", dir[400], path[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/missing-dir", tmpdir);
    fc.issue_time = 1604109000;
    int rc = impa_archive_write(dir, "x_", &fc, path, err, sizeof err);
    assert_true(rc == IMPA_EIO || rc == IMPA_ENOSPC);
    assert_non_null(strstr(err, "missing-dir"));

    /* prune: three files 0, 2 and 5 hours old, retention 3 h -> one removed;
     * other prefixes, temporaries and foreign files are untouched */
    snprintf(dir, sizeof dir, "%s/prune", tmpdir);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && touch '%s/other_20000101T000000Z.nc' '%s/.p_20000101T000000Z.nc.tmp' '%s/p_notes.txt'",
             dir, dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    const int64_t now = 1604109000;
    const int ages_h[3] = {0, 2, 5};
    for (int i = 0; i < 3; i++) {
        fc.issue_time = now - ages_h[i] * 3600;
        assert_int_equal(impa_archive_write(dir, "p_", &fc, path, err, sizeof err), 0);
    }
    assert_int_equal(impa_archive_prune(dir, "p_", now, 3 * 3600, err, sizeof err), 1);
    assert_int_equal(count_entries(dir, "p_2020103"), 2);
    assert_int_equal(count_entries(dir, "other_"), 1);
    assert_int_equal(count_entries(dir, ".tmp"), 1);
    assert_int_equal(impa_archive_prune(dir, "p_", now, 3 * 3600, err, sizeof err), 0);
    assert_int_equal(impa_archive_prune(dir, "p_", now + 10 * 3600, 3600, err, sizeof err), 2);
    assert_int_equal(impa_archive_prune("/nonexistent-impa-dir", "p_", now, 0, err, sizeof err), IMPA_EIO);
}

/* Child half of test_enospc: runs inside a private 64 KiB tmpfs. */
static int enospc_child(const char *dir)
{
    impa_grid_t g;
    memset(&g, 0, sizeof g);
    g.nx = g.ny = 256;
    g.dx = g.dy = 1;
    snprintf(g.x_units, sizeof g.x_units, "km");
    enum { L = 12 };
    size_t n = 256 * 256;
    float *d = malloc(L * n * sizeof *d);
    if (!d)
        return 2;
    unsigned x = 12345; /* incompressible values: deflate cannot make it fit */
    for (size_t i = 0; i < L * n; i++) {
        x = x * 1103515245u + 12345u;
        d[i] = (float)(x >> 8) / (float)(1u << 24) * 70.0f - 32.0f;
    }
    impa_forecast_t fc = bare_forecast(&g, 1604124000, L, d);
    char err[1024] = "", out[PATH_MAX];
    int rc = impa_archive_write(dir, "full_", &fc, out, err, sizeof err);
    free(d);
    printf("enospc child: rc %d: %s\n", rc, err);
    if (rc != IMPA_ENOSPC || !strstr(err, "no space"))
        return 1;
    DIR *dd = opendir(dir);
    struct dirent *de;
    int left = 0;
    while (dd && (de = readdir(dd)) != NULL)
        if (de->d_name[0] != '.' || strstr(de->d_name, ".tmp"))
            left++;
    if (dd)
        closedir(dd);
    return left == 0 ? 0 : 3;
}

/* A real full disk: a 64 KiB tmpfs in a private mount namespace (unshare -rm).
 * Skipped where namespaces or tmpfs mounts are not allowed. */
static void test_enospc(void **state)
{
    (void)state;
    char self[PATH_MAX], dir[400], cmd[PATH_MAX + 1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = '\0';
    snprintf(dir, sizeof dir, "%s/full", tmpdir);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(cmd, sizeof cmd,
             "unshare -rm sh -c 'mount -t tmpfs -o size=64k none \"$0\" 2>/dev/null || exit 77; "
             "exec \"$1\" --enospc-child \"$0\"' '%s' '%s'",
             dir, self);
    int rc = system(cmd);
    int code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    if (code == 77 || code == 127 || (code == 1 && system("unshare -rm true 2>/dev/null") != 0)) {
        print_message("cannot mount a small tmpfs here (unshare/mount refused): ENOSPC test skipped\n");
        skip();
    }
    assert_int_equal(code, 0);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--enospc-child"))
        return enospc_child(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_read),
        cmocka_unit_test(test_probability),
        cmocka_unit_test(test_read_earlier_layout),
        cmocka_unit_test(test_failure_and_prune),
        cmocka_unit_test(test_enospc),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
