/* The command-line tools end to end on files the test writes itself: impa-verify
 * (archives vs observations, alerts as objects, and extrapolation vs persistence) and
 * impa-extrapolate (batch NetCDF). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "impa/archive.h"

#define NY 40
#define NX 64
#define NT 9
#define STEP 600
#define T0 1604102400LL /* 2020-10-31T00:00:00Z */

static char root[64], obsdir[128], fcdir[128];
static const char *build;

/* A 45 dBZ disc of radius 7 on a dry background, centre moving 2 cells east and
 * 1 cell south per step; a weaker 30 dBZ halo around it. */
static void blob(float *f, int k)
{
    float cx = 15.f + 2.f * k, cy = 12.f + 1.f * k;
    for (int y = 0; y < NY; y++)
        for (int x = 0; x < NX; x++) {
            float d = hypotf(x - cx, y - cy);
            f[y * NX + x] = d < 7 ? 45.f : (d < 11 ? 30.f : -32.f);
        }
}

#define NCOK(call) assert_int_equal((call), NC_NOERR)

static void write_obs(int k)
{
    char p[256];
    snprintf(p, sizeof p, "%s/obs_%02d.nc", obsdir, k);
    int nc, dt, dy, dx, vt, vy, vx, vr;
    NCOK(nc_create(p, NC_CLOBBER | NC_NETCDF4, &nc));
    NCOK(nc_def_dim(nc, "time", 1, &dt));
    NCOK(nc_def_dim(nc, "y", NY, &dy));
    NCOK(nc_def_dim(nc, "x", NX, &dx));
    NCOK(nc_def_var(nc, "time", NC_DOUBLE, 1, &dt, &vt));
    NCOK(nc_put_att_text(nc, vt, "units", 33, "seconds since 1970-01-01 00:00:00"));
    NCOK(nc_put_att_text(nc, vt, "standard_name", 4, "time"));
    NCOK(nc_def_var(nc, "y", NC_DOUBLE, 1, &dy, &vy));
    NCOK(nc_put_att_text(nc, vy, "units", 2, "km"));
    NCOK(nc_put_att_text(nc, vy, "standard_name", 23, "projection_y_coordinate"));
    NCOK(nc_def_var(nc, "x", NC_DOUBLE, 1, &dx, &vx));
    NCOK(nc_put_att_text(nc, vx, "units", 2, "km"));
    NCOK(nc_put_att_text(nc, vx, "standard_name", 23, "projection_x_coordinate"));
    int d3[3] = {dt, dy, dx};
    NCOK(nc_def_var(nc, "reflectivity", NC_FLOAT, 3, d3, &vr));
    NCOK(nc_put_att_text(nc, vr, "units", 3, "dBZ"));
    NCOK(nc_put_att_text(nc, vr, "standard_name", 30, "equivalent_reflectivity_factor"));
    float fill = -999.f;
    NCOK(nc_put_att_float(nc, vr, "_FillValue", NC_FLOAT, 1, &fill));
    NCOK(nc_enddef(nc));
    double t = (double)(T0 + (int64_t)k * STEP), ys[NY], xs[NX];
    for (int i = 0; i < NY; i++)
        ys[i] = i;
    for (int i = 0; i < NX; i++)
        xs[i] = i;
    float f[NY * NX];
    blob(f, k);
    NCOK(nc_put_var_double(nc, vt, &t));
    NCOK(nc_put_var_double(nc, vy, ys));
    NCOK(nc_put_var_double(nc, vx, xs));
    NCOK(nc_put_var_float(nc, vr, f));
    NCOK(nc_close(nc));
}

static int setup(void **state)
{
    build = getenv("IMPA_BUILD_ROOT");
    if (!build)
        build = ".";
    strcpy(root, "/tmp/impa_tools_XXXXXX");
    if (!mkdtemp(root))
        return -1;
    snprintf(obsdir, sizeof obsdir, "%s/obs", root);
    snprintf(fcdir, sizeof fcdir, "%s/fc", root);
    mkdir(obsdir, 0755);
    mkdir(fcdir, 0755);
    return 0;
}

static int teardown(void **state)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

/* Runs cmd, returns its stdout (malloc'ed) and exit status. */
static char *run(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    n = fread(buf, 1, cap - 1, p);
    buf[n] = '\0';
    *status = pclose(p);
    return buf;
}

static void test_verify_archives(void **state)
{
    for (int k = 0; k < NT; k++)
        write_obs(k);
    /* a perfect forecast issued at step 2 for 3 leads, archived by the io module */
    impa_grid_t g;
    memset(&g, 0, sizeof g);
    g.nx = NX;
    g.ny = NY;
    g.dx = g.dy = 1;
    strcpy(g.x_units, "km");
    static float fc[3 * NY * NX];
    for (int k = 0; k < 3; k++)
        blob(fc + k * NY * NX, 3 + k);
    impa_forecast_t f;
    memset(&f, 0, sizeof f);
    f.domain = "test";
    f.issue_time = T0 + 2 * STEP;
    f.step_minutes = STEP / 60;
    f.n_leads = 3;
    f.grid = &g;
    f.dbz = fc;
    f.method = IMPA_METHOD_EXTRAPOLATION;
    f.model_name = "none";
    f.model_version = "0";
    f.weights_sha256 = "";
    f.config_version = "test";
    char err[512] = "";
    int rc = impa_archive_write(fcdir, "fc_", &f, NULL, err, sizeof err);
    if (rc)
        print_error("archive: %s\n", err);
    assert_int_equal(rc, 0);

    char cmd[1024];
    int st;
    snprintf(cmd, sizeof cmd,
             "'%s/src/tools/impa-verify' --forecasts '%s' --observations '%s' "
             "--thresholds 20,40 --persistence",
             build, fcdir, obsdir);
    char *out = run(cmd, &st);
    print_message("%s", out);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "forecast files used: 1"));
    assert_non_null(strstr(out, "summary extrapolation hss_mean 20:1.000 40:1.000"));
    /* persistence of a moving disc: clearly worse, not perfect */
    char *p = strstr(out, "summary persistence hss_mean 20:");
    assert_non_null(p);
    double hp = atof(p + strlen("summary persistence hss_mean 20:"));
    assert_true(hp > 0.0 && hp < 0.8);
    free(out);

    /* --method-filter that matches nothing: no file used, exit status 1 */
    snprintf(cmd, sizeof cmd,
             "'%s/src/tools/impa-verify' --forecasts '%s' --observations '%s' "
             "--method-filter impa-net 2>/dev/null",
             build, fcdir, obsdir);
    out = run(cmd, &st);
    assert_int_not_equal(st, 0);
    free(out);

    /* extrapolation run by the tool itself: 3 inputs, 3 leads, starts 2..5 */
    snprintf(cmd, sizeof cmd,
             "'%s/src/tools/impa-verify' --extrapolation-vs-persistence --observations '%s' "
             "--t-in 3 --leads 3 --thresholds 20,40",
             build, obsdir);
    out = run(cmd, &st);
    print_message("%s", out);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "start times scored: 4"));
    p = strstr(out, "summary extrapolation hss_mean 20:");
    char *q = strstr(out, "summary persistence hss_mean 20:");
    assert_non_null(p);
    assert_non_null(q);
    double he = atof(p + strlen("summary extrapolation hss_mean 20:"));
    hp = atof(q + strlen("summary persistence hss_mean 20:"));
    assert_true(he > hp + 0.2);
    free(out);

    /* --alerts: a second perfect forecast issued at step 3; the disc is one track alerted
     * in both cycles, every alert a hit, every observed cell detected; observations at
     * steps 3..6 are scored (the earlier ones precede the first cycle), warned 10, 20,
     * 30 and 30 min ahead (the earliest cycle covering each) */
    for (int k = 0; k < 3; k++)
        blob(fc + k * NY * NX, 4 + k);
    f.issue_time = T0 + 3 * STEP;
    assert_int_equal(impa_archive_write(fcdir, "fc_", &f, NULL, err, sizeof err), 0);
    snprintf(cmd, sizeof cmd,
             "'%s/src/tools/impa-verify' --alerts --forecasts '%s' --observations '%s'", build,
             fcdir, obsdir);
    out = run(cmd, &st);
    print_message("%s", out);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "alert cycles: 2; tracks alerted: 1, in one cycle only: 0 (0.0 %)"));
    assert_non_null(
        strstr(out, "all leads          6       6       0        6        6       0  1.000  0.000  1.000\n"));
    assert_non_null(strstr(out, "4 of 4 observed cells (4 observations)"));
    assert_non_null(strstr(out, "mean 22.5 min, max 30 min"));
    free(out);
    /* a threshold above the disc: no alert, no observed cell, scores undefined */
    snprintf(cmd, sizeof cmd,
             "'%s/src/tools/impa-verify' --alerts --forecasts '%s' --observations '%s' "
             "--alert-threshold 50",
             build, fcdir, obsdir);
    out = run(cmd, &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "tracks alerted: 0"));
    assert_non_null(strstr(out, "all leads          0       0       0        0        0       0      -      -      -\n"));
    free(out);

    /* --domain: crop 48x32 from (8, 4), 2x2 blocks -> a 16x24 grid */
    snprintf(cmd, sizeof cmd,
             "'%s/src/tools/impa-verify' --extrapolation-vs-persistence --observations '%s' "
             "--t-in 3 --leads 2 --domain 8,4,48,32,2",
             build, obsdir);
    out = run(cmd, &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "grid 16x24"));
    assert_non_null(strstr(out, "start times scored: 5"));
    free(out);
}

static void test_extrapolate_tool(void **state)
{
    char in[256], outp[256], cmd[1024];
    snprintf(in, sizeof in, "%s/in.nc", root);
    snprintf(outp, sizeof outp, "%s/out.nc", root);
    int nc, d[4], v;
    NCOK(nc_create(in, NC_CLOBBER | NC_NETCDF4, &nc));
    NCOK(nc_def_dim(nc, "sample", 1, &d[0]));
    NCOK(nc_def_dim(nc, "t_in", 3, &d[1]));
    NCOK(nc_def_dim(nc, "y", NY, &d[2]));
    NCOK(nc_def_dim(nc, "x", NX, &d[3]));
    NCOK(nc_def_var(nc, "dbz", NC_FLOAT, 4, d, &v));
    NCOK(nc_enddef(nc));
    static float x[3 * NY * NX];
    for (int k = 0; k < 3; k++)
        blob(x + k * NY * NX, k);
    x[0] = NAN; /* missing data is accepted */
    NCOK(nc_put_var_float(nc, v, x));
    NCOK(nc_close(nc));
    int st;
    snprintf(cmd, sizeof cmd, "'%s/src/tools/impa-extrapolate' --input '%s' --output '%s' "
                              "--leads 2 --threads 1",
             build, in, outp);
    free(run(cmd, &st));
    assert_int_equal(st, 0);
    NCOK(nc_open(outp, NC_NOWRITE, &nc));
    NCOK(nc_inq_varid(nc, "dbz", &v));
    int nd;
    NCOK(nc_inq_varndims(nc, v, &nd));
    assert_int_equal(nd, 4);
    size_t len[4];
    NCOK(nc_inq_vardimid(nc, v, d));
    for (int i = 0; i < 4; i++)
        NCOK(nc_inq_dimlen(nc, d[i], &len[i]));
    assert_int_equal(len[0], 1);
    assert_int_equal(len[1], 2);
    assert_int_equal(len[2], NY);
    assert_int_equal(len[3], NX);
    static float y[2 * NY * NX];
    NCOK(nc_get_var_float(nc, v, y));
    NCOK(nc_close(nc));
    /* lead 2 = step 4: the 45 dBZ core centred near (23, 16) */
    double sx = 0, sy = 0;
    int n = 0;
    for (int r = 0; r < NY; r++)
        for (int c = 0; c < NX; c++)
            if (y[NY * NX + r * NX + c] >= 40) {
                sx += c;
                sy += r;
                n++;
            }
    assert_true(n > 50);
    print_message("lead 2 core centroid %.2f %.2f (truth 23, 16)\n", sx / n, sy / n);
    assert_true(fabs(sx / n - 23) < 1.0);
    assert_true(fabs(sy / n - 16) < 1.0);
}

/* impa-verify --probability: the archive's probabilities scored as the online
 * verifier scores them. P(>= 40) perfect (1 on the disc, 0 off it): BS 0, BSS 1,
 * ROC area 1; P(>= 20) = 0.5 everywhere: BS 0.25, ROC area 0.5. */
static void test_verify_probability(void **state)
{
    (void)state;
    for (int k = 0; k < NT; k++)
        write_obs(k);
    char pdir[160];
    snprintf(pdir, sizeof pdir, "%s/fcp", root);
    mkdir(pdir, 0755);
    impa_grid_t g;
    memset(&g, 0, sizeof g);
    g.nx = NX, g.ny = NY, g.dx = g.dy = 1;
    strcpy(g.x_units, "km");
    static float fc[3 * NY * NX], pv[2 * 3 * NY * NX];
    for (int k = 0; k < 3; k++)
        blob(fc + k * NY * NX, 3 + k);
    for (int i = 0; i < 3 * NY * NX; i++) {
        pv[i] = fc[i] >= 40 ? 1.0f : 0.0f;
        pv[3 * NY * NX + i] = 0.5f;
    }
    float radius[6] = {1, 2, 3, 1, 2, 3};
    impa_prob_field_t pf = {.n_thresholds = 2, .thresholds = {40, 20}, .n_leads = 3, .ny = NY,
                            .nx = NX, .p = pv, .radius_km = radius, .calibration = "t"};
    impa_forecast_t f;
    memset(&f, 0, sizeof f);
    f.domain = "test", f.issue_time = T0 + 2 * STEP, f.step_minutes = STEP / 60, f.n_leads = 3;
    f.grid = &g, f.dbz = fc, f.method = IMPA_METHOD_EXTRAPOLATION, f.model_name = "none";
    f.model_version = "0", f.weights_sha256 = "", f.config_version = "test", f.prob = &pf;
    char err[512] = "", cmd[1024];
    assert_int_equal(impa_archive_write(pdir, "fc_", &f, NULL, err, sizeof err), 0);
    snprintf(cmd, sizeof cmd,
             "'%s/src/tools/impa-verify' --forecasts '%s' --observations '%s' --thresholds 40 "
             "--probability",
             build, pdir, obsdir);
    int st;
    char *out = run(cmd, &st);
    print_message("%s", out);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "probability files used: 1"));
    const char *p40 = strstr(out, "probability >= 40 dBZ"), *p20 = strstr(out, "probability >= 20 dBZ");
    assert_non_null(p40);
    assert_non_null(p20);
    int lead;
    long long n;
    double bs, bssc, roc;
    char det[32];
    const char *row = strstr(p40, "\n      10 ");
    assert_non_null(row);
    assert_int_equal(sscanf(row, " %d %lld %lf %lf %31s %lf", &lead, &n, &bs, &bssc, det, &roc), 6);
    assert_int_equal(n, NY * NX);
    assert_true(bs == 0.0 && fabs(bssc - 1) < 1e-9 && fabs(roc - 1) < 1e-9);
    row = strstr(p20, "\n      30 ");
    assert_non_null(row);
    assert_int_equal(sscanf(row, " %d %lld %lf %lf %31s %lf", &lead, &n, &bs, &bssc, det, &roc), 6);
    assert_true(fabs(bs - 0.25) < 1e-9 && fabs(roc - 0.5) < 1e-9);
    assert_non_null(strstr(out, "reliability >= 20 dBZ +10 min"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_archives),
        cmocka_unit_test(test_extrapolate_tool),
        cmocka_unit_test(test_verify_probability),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
