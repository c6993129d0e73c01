/* impa-simulate: file layout (CF attributes, coordinates, grid mapping), the
 * physical content (coverage mask, no-echo floor, stratiform band, convective
 * cores >= 50 dBZ), reproducibility from the seed, independence of a scan from
 * the run that produced it, atomic naming and argument checking. Runs the
 * built executable and reads its output with libnetcdf. */
#include <math.h>
#include <netcdf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include "impa/timeutil.h"

#define NX 96
#define NY 80

static char g_exe[4096];
static char g_tmp[256];

/* Runs impa-simulate with the given arguments (already quoted for sh), returns
 * its exit status. */
static int run_sim(const char *fmt, ...)
{
    char args[2048], cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' --quiet %s >/dev/null 2>&1", g_exe, args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Reads reflectivity unpacked to dBZ (NAN for _FillValue) plus the time. */
static void read_scan(const char *path, float *dbz, double *t)
{
    int ncid, v;
    assert_int_equal(nc_open(path, NC_NOWRITE, &ncid), NC_NOERR);
    assert_int_equal(nc_inq_varid(ncid, "reflectivity", &v), NC_NOERR);
    short *raw = malloc(sizeof(short) * NX * NY);
    assert_non_null(raw);
    assert_int_equal(nc_get_var_short(ncid, v, raw), NC_NOERR);
    float scale = 0.0f, offset = 1.0f;
    short fill = 0;
    assert_int_equal(nc_get_att_float(ncid, v, "scale_factor", &scale), NC_NOERR);
    assert_int_equal(nc_get_att_float(ncid, v, "add_offset", &offset), NC_NOERR);
    assert_int_equal(nc_get_att_short(ncid, v, "_FillValue", &fill), NC_NOERR);
    for (int k = 0; k < NX * NY; k++)
        dbz[k] = raw[k] == fill ? NAN : raw[k] * scale + offset;
    free(raw);
    int vt;
    assert_int_equal(nc_inq_varid(ncid, "time", &vt), NC_NOERR);
    assert_int_equal(nc_get_var_double(ncid, vt, t), NC_NOERR);
    nc_close(ncid);
}

static void text_att(int ncid, int var, const char *name, char *out, size_t len)
{
    size_t n = 0;
    assert_int_equal(nc_inq_attlen(ncid, var, name, &n), NC_NOERR);
    assert_true(n < len);
    assert_int_equal(nc_get_att_text(ncid, var, name, out), NC_NOERR);
    out[n] = '\0';
}

static void test_layout_and_content(void **state)
{
    (void)state;
    char dir[512], path[1024];
    snprintf(dir, sizeof dir, "%s/a", g_tmp);
    assert_int_equal(run_sim("--out '%s' --seed 7 --count 3 --grid %dx%d --dx-km 2 "
                             "--start 2026-06-01T12:00Z --step-min 5",
                             dir, NX, NY), 0);
    /* exactly the three final names; no temp file left */
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n_files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        assert_true(strncmp(e->d_name, "sim_20260601T12", 15) == 0);
        assert_null(strstr(e->d_name, ".tmp"));
        n_files++;
    }
    closedir(d);
    assert_int_equal(n_files, 3);

    snprintf(path, sizeof path, "%s/sim_20260601T121000Z.nc", dir);
    int ncid, v, dims[2], ndims;
    char txt[256], dname[32];
    size_t len;
    assert_int_equal(nc_open(path, NC_NOWRITE, &ncid), NC_NOERR);
    text_att(ncid, NC_GLOBAL, "Conventions", txt, sizeof txt);
    assert_string_equal(txt, "CF-1.8");
    assert_int_equal(nc_inq_varid(ncid, "reflectivity", &v), NC_NOERR);
    assert_int_equal(nc_inq_varndims(ncid, v, &ndims), NC_NOERR);
    assert_int_equal(ndims, 2);
    assert_int_equal(nc_inq_vardimid(ncid, v, dims), NC_NOERR);
    assert_int_equal(nc_inq_dim(ncid, dims[0], dname, &len), NC_NOERR);
    assert_string_equal(dname, "y");
    assert_int_equal(len, NY);
    assert_int_equal(nc_inq_dim(ncid, dims[1], dname, &len), NC_NOERR);
    assert_string_equal(dname, "x");
    assert_int_equal(len, NX);
    text_att(ncid, v, "units", txt, sizeof txt);
    assert_string_equal(txt, "dBZ");
    text_att(ncid, v, "standard_name", txt, sizeof txt);
    assert_string_equal(txt, "equivalent_reflectivity_factor");
    text_att(ncid, v, "grid_mapping", txt, sizeof txt);
    assert_string_equal(txt, "proj");
    int vp;
    assert_int_equal(nc_inq_varid(ncid, "proj", &vp), NC_NOERR);
    text_att(ncid, vp, "grid_mapping_name", txt, sizeof txt);
    assert_string_equal(txt, "lambert_azimuthal_equal_area");
    double lat0 = 0;
    assert_int_equal(nc_get_att_double(ncid, vp, "latitude_of_projection_origin", &lat0), NC_NOERR);
    assert_float_equal(lat0, 47.5, 1e-9);
    int vt;
    assert_int_equal(nc_inq_varid(ncid, "time", &vt), NC_NOERR);
    text_att(ncid, vt, "units", txt, sizeof txt);
    double scale_s = 0;
    int64_t epoch = -1;
    assert_int_equal(impa_time_parse_cf_units(txt, &scale_s, &epoch), 0);
    assert_float_equal(scale_s, 1.0, 0);
    assert_true(epoch == 0);
    /* x ascending, y descending (north-up), 2 km spacing, centred on the radar */
    double xs[NX], ys[NY];
    int vx, vy;
    assert_int_equal(nc_inq_varid(ncid, "x", &vx), NC_NOERR);
    assert_int_equal(nc_inq_varid(ncid, "y", &vy), NC_NOERR);
    assert_int_equal(nc_get_var_double(ncid, vx, xs), NC_NOERR);
    assert_int_equal(nc_get_var_double(ncid, vy, ys), NC_NOERR);
    text_att(ncid, vx, "units", txt, sizeof txt);
    assert_string_equal(txt, "m");
    assert_float_equal(xs[1] - xs[0], 2000.0, 1e-6);
    assert_float_equal(ys[1] - ys[0], -2000.0, 1e-6);
    assert_float_equal(xs[0] + xs[NX - 1], 0.0, 1e-6);
    assert_float_equal(ys[0] + ys[NY - 1], 0.0, 1e-6);
    nc_close(ncid);

    static float dbz[NX * NY];
    double t = 0;
    read_scan(path, dbz, &t);
    int64_t want;
    assert_int_equal(impa_time_parse_iso("2026-06-01T12:10Z", &want), 0);
    assert_true((int64_t)t == want);
    /* coverage: corners outside range (radius = min side / 2 cells), centre inside */
    assert_true(isnan(dbz[0]));
    assert_true(isnan(dbz[NX * NY - 1]));
    assert_false(isnan(dbz[(NY / 2) * NX + NX / 2]));
    int inside = 0, nan_inside = 0, no_echo = 0, strat = 0, n45 = 0;
    float mx = -100.0f;
    for (int j = 0; j < NY; j++) {
        for (int i = 0; i < NX; i++) {
            double r = hypot(i - 0.5 * (NX - 1), j - 0.5 * (NY - 1));
            float z = dbz[j * NX + i];
            if (r > 0.5 * NY) {
                assert_true(isnan(z));
                continue;
            }
            inside++;
            if (isnan(z)) {
                nan_inside++;
                continue;
            }
            /* values: either exactly no-echo or at or above the 8 dBZ floor */
            assert_true(z == -32.0f || (z >= 8.0f && z < 75.0f));
            no_echo += z == -32.0f;
            strat += z >= 15.0f && z <= 35.0f;
            n45 += z >= 45.0f;
            if (z > mx)
                mx = z;
        }
    }
    assert_int_equal(nan_inside, 0);
    assert_true(no_echo > 0);              /* it is not raining everywhere */
    assert_true(strat > inside / 10);      /* a real stratiform shield */
    assert_true(mx >= 50.0f);              /* at least one mature core */
    assert_true(n45 * 4.0 >= 4.0);         /* >= the default 4 km2 alert area */
}

static void test_reproducible(void **state)
{
    (void)state;
    char a[512], b[512], c[512], pa[1024], pb[1024], pc[1024];
    static float fa[NX * NY], fb[NX * NY], fc[NX * NY];
    double ta, tb, tc;
    snprintf(a, sizeof a, "%s/r1", g_tmp);
    snprintf(b, sizeof b, "%s/r2", g_tmp);
    snprintf(c, sizeof c, "%s/r3", g_tmp);
    assert_int_equal(run_sim("--out '%s' --seed 11 --count 3 --grid %dx%d", a, NX, NY), 0);
    /* a later start, one scan: the 12:20 scan must not depend on the run */
    assert_int_equal(run_sim("--out '%s' --seed 11 --count 1 --grid %dx%d "
                             "--start 2026-06-01T12:20Z", b, NX, NY), 0);
    assert_int_equal(run_sim("--out '%s' --seed 12 --count 3 --grid %dx%d", c, NX, NY), 0);
    snprintf(pa, sizeof pa, "%s/sim_20260601T122000Z.nc", a);
    snprintf(pb, sizeof pb, "%s/sim_20260601T122000Z.nc", b);
    snprintf(pc, sizeof pc, "%s/sim_20260601T122000Z.nc", c);
    read_scan(pa, fa, &ta);
    read_scan(pb, fb, &tb);
    read_scan(pc, fc, &tc);
    assert_true(ta == tb);
    assert_true(ta == tc);
    int diff_seed = 0;
    for (int k = 0; k < NX * NY; k++) {
        if (isnan(fa[k])) {
            assert_true(isnan(fb[k]));
            continue;
        }
        assert_true(fa[k] == fb[k]);
        diff_seed += fabsf(fa[k] - fc[k]) > 1.0f;
    }
    assert_true(diff_seed > NX * NY / 20); /* another seed is other weather */
}

static void test_motion(void **state)
{
    (void)state;
    /* consecutive scans differ (advection, lifecycle) but stay correlated:
     * mean absolute change well below the field's spread */
    char a[512], p0[1024], p1[1024];
    static float f0[NX * NY], f1[NX * NY];
    double t0, t1;
    snprintf(a, sizeof a, "%s/r1", g_tmp);
    snprintf(p0, sizeof p0, "%s/sim_20260601T120000Z.nc", a);
    snprintf(p1, sizeof p1, "%s/sim_20260601T121000Z.nc", a);
    read_scan(p0, f0, &t0);
    read_scan(p1, f1, &t1);
    double step = t1 - t0;
    assert_true(step == 600.0);
    double sad = 0, n = 0, changed = 0;
    for (int k = 0; k < NX * NY; k++) {
        if (isnan(f0[k]) || f0[k] < 8.0f || f1[k] < 8.0f)
            continue;
        sad += fabs(f0[k] - f1[k]);
        changed += fabsf(f0[k] - f1[k]) > 0.5f;
        n++;
    }
    assert_true(n > 100);
    assert_true(changed > n / 10);
    assert_true(sad / n < 8.0);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/bad", g_tmp);
    assert_int_equal(run_sim("--out '%s' --grid 4x4", dir), 2);
    assert_int_equal(run_sim("--out '%s' --pace sometimes", dir), 2);
    assert_int_equal(run_sim("--out '%s' --start yesterday", dir), 2);
    assert_int_equal(run_sim("--count 1"), 2); /* --out is required */
    assert_int_equal(access(dir, F_OK), -1);  /* nothing created on a usage error */
}

int main(void)
{
    const char *build = getenv("IMPA_BUILD_ROOT");
    snprintf(g_exe, sizeof g_exe, "%s/src/tools/impa-simulate", build ? build : ".");
    if (access(g_exe, X_OK) != 0) {
        printf("SKIP: %s not built\n", g_exe);
        return 77;
    }
    snprintf(g_tmp, sizeof g_tmp, "/tmp/impa-test-simulate-XXXXXX");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_and_content),
        cmocka_unit_test(test_reproducible),
        cmocka_unit_test(test_motion),
        cmocka_unit_test(test_bad_arguments),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_tmp);
    return rc;
}
