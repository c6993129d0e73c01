/* The advection guidance (impa/guided.h):
 * - its extrapolated frames are bit-identical to impa-extrapolate's (the tool
 *   that made the training data) for the same (sample, t_in, y, x) input;
 * - a model with advection = 1, residual = 1 and a ZERO readout forecasts the
 *   extrapolation itself (clamped to [0, 70] dBZ, NaN extrapolation -> 0 dBZ,
 *   NaN where the last observed frame has no data), through the helper, a tiled
 *   engine and impa-infer: the wiring end to end;
 * - for a plain model it is impa_engine_forecast, and errors of the
 *   extrapolation step are reported as such;
 * - calibration: on by default for advection models, each lead matched to its
 *   extrapolated frame (impa/calibrate.h), refused for plain models. */
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
#include <unistd.h>

#include "impa/engine.h"
#include "impa/calibrate.h"
#include "impa/guided.h"
#include "../engine/testutil.h"

#define NS 2   /* samples */
#define TIN 4
#define TOUT 3
#define NY 48
#define NX 64
#define NPIX (NY * NX)

#define NCOK(call) assert_int_equal((call), NC_NOERR)

static const char *build;
static float obs[NS][TIN][NPIX]; /* dBZ, NaN = no data */
static char in_nc[512], extrap_nc[512], w_zero[512], w_plain[512], w_adv[512];
/* the zero-readout model recording impa-extrap-3 / an unknown scheme, and the
 * training data's way of making impa-extrap-3 frames */
static char w_zero3[512], w_zero9[512], extrap3_nc[512];

/* Two blobs moving (+1.5, +0.75) cells per frame (sample 1: the other way), a
 * NaN patch in the last frame and one in an older frame. */
static void make_obs(void)
{
    for (int s = 0; s < NS; s++)
        for (int t = 0; t < TIN; t++)
            for (int y = 0; y < NY; y++)
                for (int x = 0; x < NX; x++) {
                    double sg = s ? -1.0 : 1.0;
                    double cx = 24 + sg * 1.5 * t, cy = 20 + sg * 0.75 * t;
                    double d1 = ((x - cx) * (x - cx) + (y - cy) * (y - cy)) / 60.0;
                    double d2 = ((x - cx - 18) * (x - cx - 18) + (y - cy - 12) * (y - cy - 12)) /
                                25.0;
                    double v = 55.0 * exp(-d1) + 40.0 * exp(-d2) + 5.0 * sin(0.3 * x + y);
                    obs[s][t][y * NX + x] = (float)v;
                }
    for (int y = 30; y < 36; y++)
        for (int x = 40; x < 47; x++)
            obs[0][TIN - 1][y * NX + x] = NAN;
    obs[1][0][5 * NX + 5] = NAN;
}

static void write_input(const char *path)
{
    int nc, d[4], v;
    NCOK(nc_create(path, NC_CLOBBER | NC_NETCDF4, &nc));
    NCOK(nc_def_dim(nc, "sample", NS, &d[0]));
    NCOK(nc_def_dim(nc, "t_in", TIN, &d[1]));
    NCOK(nc_def_dim(nc, "y", NY, &d[2]));
    NCOK(nc_def_dim(nc, "x", NX, &d[3]));
    NCOK(nc_def_var(nc, "dbz", NC_FLOAT, 4, d, &v));
    NCOK(nc_enddef(nc));
    NCOK(nc_put_var_float(nc, v, &obs[0][0][0]));
    NCOK(nc_close(nc));
}

/* dbz(sample, lead, y, x) of a tool's output: n floats. */
static float *read_dbz(const char *path, size_t n)
{
    int nc, v;
    NCOK(nc_open(path, NC_NOWRITE, &nc));
    NCOK(nc_inq_varid(nc, "dbz", &v));
    float *buf = malloc(n * sizeof(float));
    assert_non_null(buf);
    NCOK(nc_get_var_float(nc, v, buf));
    NCOK(nc_close(nc));
    return buf;
}

static int sh(const char *cmd)
{
    int st = system(cmd);
    if (st != 0)
        fprintf(stderr, "command failed (%d): %s\n", st, cmd);
    return st;
}

/* Sets the `extrapolation` attribute of the weights file at path. */
static int set_scheme_attribute(const char *path, const char *scheme)
{
    int nc;
    if (nc_open(path, NC_WRITE, &nc) != NC_NOERR)
        return -1;
    int st = nc_redef(nc);
    if (st == NC_NOERR)
        st = nc_put_att_text(nc, NC_GLOBAL, "extrapolation", strlen(scheme), scheme);
    return nc_close(nc) != NC_NOERR || st != NC_NOERR ? -1 : 0;
}

static int setup(void **state)
{
    (void)state;
    build = getenv("IMPA_BUILD_ROOT");
    if (!build)
        build = ".";
    make_obs();
    snprintf(in_nc, sizeof in_nc, "%s", tu_path("in.nc"));
    snprintf(extrap_nc, sizeof extrap_nc, "%s", tu_path("extrap.nc"));
    snprintf(w_zero, sizeof w_zero, "%s", tu_path("zero_readout.nc"));
    snprintf(w_plain, sizeof w_plain, "%s", tu_path("plain.nc"));
    snprintf(w_adv, sizeof w_adv, "%s", tu_path("adv_random.nc"));
    write_input(in_nc);
    /* the training data's way: impa-extrapolate --leads t_out, default options */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s/src/tools/impa-extrapolate' --input '%s' --output '%s' "
             "--leads %d --threads 1", build, in_nc, extrap_nc, TOUT);
    if (sh(cmd))
        return -1;
    tu_config_t c = tu_advection_config(TIN, TOUT, 0);
    if (tu_write_weights(w_adv, &c, 13u))
        return -1;
    c = tu_advection_config(TIN, TOUT, 1);
    if (tu_write_weights(w_zero, &c, 11u))
        return -1;
    c.advection = -1;
    c.zero_readout = 0;
    if (tu_write_weights(w_plain, &c, 12u))
        return -1;
    snprintf(w_zero3, sizeof w_zero3, "%s", tu_path("zero_readout3.nc"));
    snprintf(w_zero9, sizeof w_zero9, "%s", tu_path("zero_readout9.nc"));
    snprintf(extrap3_nc, sizeof extrap3_nc, "%s", tu_path("extrap3.nc"));
    c = tu_advection_config(TIN, TOUT, 1);
    if (tu_write_weights(w_zero3, &c, 11u) || set_scheme_attribute(w_zero3, "impa-extrap-3") ||
        tu_write_weights(w_zero9, &c, 11u) || set_scheme_attribute(w_zero9, "impa-extrap-9"))
        return -1;
    snprintf(cmd, sizeof cmd, "'%s/src/tools/impa-extrapolate' --input '%s' --output '%s' "
             "--leads %d --threads 1 --scheme impa-extrap-3", build, in_nc, extrap3_nc, TOUT);
    if (sh(cmd))
        return -1;
    return 0;
}

/* a and b equal bit for bit, NaN where NaN */
static void assert_same_frames(const float *a, const float *b, size_t n, const char *what)
{
    size_t nan = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i])) {
            if (!(isnan(a[i]) && isnan(b[i])))
                fail_msg("%s: index %zu: %g vs %g", what, i, a[i], b[i]);
            nan++;
        } else if (a[i] != b[i]) {
            fail_msg("%s: index %zu: %.9g vs %.9g", what, i, a[i], b[i]);
        }
    }
    printf("%s: %zu values identical (%zu NaN)\n", what, n, nan);
}

static impa_model_t *load(const char *path)
{
    impa_model_t *m = NULL;
    char err[512];
    if (impa_model_load(path, &m, err, sizeof err))
        fail_msg("%s", err);
    return m;
}

static void test_frames_equal_impa_extrapolate(void **state)
{
    (void)state;
    float *tool = read_dbz(extrap_nc, (size_t)NS * TOUT * NPIX);
    impa_model_t *m = load(w_zero);
    char err[512];
    /* 2 threads here, 1 in the tool: the thread count must not change values */
    impa_engine_t *e = NULL;
    impa_guided_t *g = NULL;
    assert_int_equal(impa_engine_create(m, NY, NX, 2, &e, err, sizeof err), 0);
    assert_int_equal(impa_guided_create(e, NULL, 2, &g, err, sizeof err), 0);
    assert_int_equal(impa_guided_advection(g), 1);
    for (int s = 0; s < NS; s++) {
        const float *fr[TIN];
        for (int t = 0; t < TIN; t++)
            fr[t] = obs[s][t];
        assert_int_equal(impa_guided_extrapolate(g, fr, err, sizeof err), 0);
        const float *ext = impa_guided_extrapolation(g);
        assert_non_null(ext);
        char what[64];
        snprintf(what, sizeof what, "sample %d: helper vs impa-extrapolate", s);
        assert_same_frames(ext, tool + (size_t)s * TOUT * NPIX, (size_t)TOUT * NPIX, what);
    }
    /* the extrapolation moved the field: lead 1 differs from the last frame */
    const float *ext = impa_guided_extrapolation(g);
    size_t moved = 0;
    for (size_t i = 0; i < NPIX; i++)
        moved += !isnan(ext[i]) && fabsf(ext[i] - obs[NS - 1][TIN - 1][i]) > 1.0f;
    assert_true(moved > NPIX / 20);
    impa_guided_destroy(&g);
    assert_null(g);
    impa_engine_destroy(&e);
    impa_model_destroy(&m);
    free(tool);
}

/* What a zero-readout, residual advection model must forecast from extrapolation
 * ext (one sample, [TOUT][NPIX]) and the last observed frame. */
static float expected(float ext, float last)
{
    if (isnan(last))
        return NAN;
    if (isnan(ext))
        return 0.0f;
    return ext < 0.0f ? 0.0f : (ext > 70.0f ? 70.0f : ext);
}

static void check_forecast(const float *fc, const float *ext, const float *last,
                           const char *what)
{
    size_t nan = 0, zero = 0;
    double maxd = 0;
    for (int k = 0; k < TOUT; k++)
        for (size_t i = 0; i < NPIX; i++) {
            float want = expected(ext[(size_t)k * NPIX + i], last[i]);
            float got = fc[(size_t)k * NPIX + i];
            if (isnan(want)) {
                if (!isnan(got))
                    fail_msg("%s: lead %d index %zu: %g, expected NaN", what, k, i, got);
                nan++;
                continue;
            }
            if (isnan(ext[(size_t)k * NPIX + i]))
                zero++;
            double d = fabs((double)got - want);
            maxd = d > maxd ? d : maxd;
            if (!(d <= 1e-4))
                fail_msg("%s: lead %d index %zu: %.6g, expected %.6g", what, k, i, got, want);
        }
    printf("%s: max |forecast - extrapolation| %.2g dBZ, %zu NaN (last frame), %zu NaN "
           "extrapolation -> 0 dBZ\n", what, maxd, nan, zero);
    assert_true(nan > 0);
}

static void test_zero_readout_forecasts_extrapolation(void **state)
{
    (void)state;
    float *tool = read_dbz(extrap_nc, (size_t)NS * TOUT * NPIX);
    impa_model_t *m = load(w_zero);
    char err[512];
    static float fc[TOUT * NPIX];
    /* whole grid, then 32 x 32 windows (the tiles slice the extrapolated frames too) */
    for (int tile = 0; tile <= 32; tile += 32) {
        impa_engine_t *e = NULL;
        impa_guided_t *g = NULL;
        assert_int_equal(impa_engine_create_tiled(m, NY, NX, tile, 0, 1, &e, err, sizeof err), 0);
        assert_int_equal(impa_guided_create(e, NULL, 1, &g, err, sizeof err), 0);
        for (int s = 0; s < NS; s++) {
            const float *fr[TIN];
            for (int t = 0; t < TIN; t++)
                fr[t] = obs[s][t];
            assert_int_equal(impa_guided_forecast(g, fr, NULL, fc, err, sizeof err), 0);
            char what[64];
            snprintf(what, sizeof what, "tile %d, sample %d", tile, s);
            if (s == 0)
                check_forecast(fc, tool, obs[0][TIN - 1], what);
            else {
                /* sample 1 has no NaN in its last frame: check values only */
                for (int k = 0; k < TOUT; k++)
                    for (size_t i = 0; i < NPIX; i++)
                        assert_float_equal(fc[(size_t)k * NPIX + i],
                                           expected(tool[((size_t)TOUT + k) * NPIX + i],
                                                    obs[1][TIN - 1][i]), 1e-4);
            }
        }
        impa_guided_destroy(&g);
        impa_engine_destroy(&e);
    }
    impa_model_destroy(&m);
    free(tool);
}

/* impa-infer on the test input: its dbz output, n floats (extra: more options) */
static float *run_infer(const char *weights, const char *name, const char *extra, size_t n)
{
    char out[512], cmd[2048];
    snprintf(out, sizeof out, "%s", tu_path(name));
    snprintf(cmd, sizeof cmd, "'%s/src/tools/impa-infer' --weights '%s' --input '%s' "
             "--output '%s' %s", build, weights, in_nc, out, extra);
    assert_int_equal(sh(cmd), 0);
    return read_dbz(out, n);
}

/* impa-infer computes the extrapolated frames itself from the t_in observed
 * frames (evaluate.py calls it unchanged) */
static void test_impa_infer(void **state)
{
    (void)state;
    float *tool = read_dbz(extrap_nc, (size_t)NS * TOUT * NPIX);
    float *fc = run_infer(w_zero, "infer.nc", "--threads 2", (size_t)NS * TOUT * NPIX);
    check_forecast(fc, tool, obs[0][TIN - 1], "impa-infer, sample 0");
    for (size_t i = 0; i < (size_t)TOUT * NPIX; i++)
        assert_float_equal(fc[(size_t)TOUT * NPIX + i],
                           expected(tool[(size_t)TOUT * NPIX + i], obs[1][TIN - 1][i % NPIX]),
                           1e-4);
    free(tool);
    free(fc);
}

/* impa-infer --normalised takes every input frame of an advection model: golden d
 * (t_in 3 + t_out 4 frames) through the tool equals PyTorch's output */
static void test_impa_infer_normalised(void **state)
{
    (void)state;
    const char *root = getenv("IMPA_SOURCE_ROOT");
    if (!root)
        root = ".";
    char out[512], cmd[2048], ref[1024];
    snprintf(out, sizeof out, "%s", tu_path("golden_d_c.nc"));
    snprintf(ref, sizeof ref, "%s/tests/data/golden_d.nc", root);
    snprintf(cmd, sizeof cmd, "'%s/src/tools/impa-infer' --weights '%s/tests/data/"
             "golden_d_weights.nc' --input '%s' --output '%s' --normalised --threads 1",
             build, root, ref, out);
    assert_int_equal(sh(cmd), 0);
    int nc, v, nd;
    size_t n = 1, len;
    int dims[4];
    NCOK(nc_open(ref, NC_NOWRITE, &nc));
    NCOK(nc_inq_varid(nc, "output", &v));
    NCOK(nc_inq_varndims(nc, v, &nd));
    NCOK(nc_inq_vardimid(nc, v, dims));
    for (int i = 0; i < nd; i++) {
        NCOK(nc_inq_dimlen(nc, dims[i], &len));
        n *= len;
    }
    float *want = malloc(n * sizeof(float)), *got = NULL;
    assert_non_null(want);
    NCOK(nc_get_var_float(nc, v, want));
    NCOK(nc_close(nc));
    NCOK(nc_open(out, NC_NOWRITE, &nc));
    NCOK(nc_inq_varid(nc, "output", &v));
    got = malloc(n * sizeof(float));
    assert_non_null(got);
    NCOK(nc_get_var_float(nc, v, got));
    NCOK(nc_close(nc));
    double maxd = 0;
    for (size_t i = 0; i < n; i++)
        maxd = fmax(maxd, fabs((double)got[i] - want[i]));
    printf("impa-infer --normalised golden d: max abs error %.3g over %zu values\n", maxd, n);
    assert_true(maxd <= 2e-4);
    free(want);
    free(got);
}

static void test_plain_model_is_engine(void **state)
{
    (void)state;
    impa_model_t *m = load(w_plain);
    char err[512];
    impa_engine_t *e = NULL;
    impa_guided_t *g = NULL;
    assert_int_equal(impa_engine_create(m, NY, NX, 1, &e, err, sizeof err), 0);
    assert_int_equal(impa_guided_create(e, NULL, 1, &g, err, sizeof err), 0);
    assert_int_equal(impa_guided_advection(g), 0);
    assert_null(impa_guided_extrapolation(g));
    const float *fr[TIN];
    for (int t = 0; t < TIN; t++)
        fr[t] = obs[0][t];
    static float a[TOUT * NPIX], b[TOUT * NPIX];
    assert_int_equal(impa_guided_forecast(g, fr, NULL, a, err, sizeof err), 0);
    assert_int_equal(impa_engine_forecast(e, fr, NULL, b, err, sizeof err), 0);
    assert_memory_equal(a, b, sizeof a);
    impa_guided_destroy(&g);
    impa_engine_destroy(&e);
    impa_model_destroy(&m);
}

static void test_errors(void **state)
{
    (void)state;
    impa_model_t *m = load(w_zero);
    char err[512] = "";
    impa_engine_t *e = NULL;
    impa_guided_t *g = NULL;
    assert_int_equal(impa_engine_create(m, NY, NX, 1, &e, err, sizeof err), 0);
    assert_int_equal(impa_guided_create(e, NULL, 1, &g, err, sizeof err), 0);
    const float *fr[TIN] = {obs[0][0], NULL, obs[0][2], obs[0][3]};
    static float fc[TOUT * NPIX];
    assert_int_equal(impa_guided_forecast(g, fr, NULL, fc, err, sizeof err), IMPA_EINVAL);
    assert_non_null(strstr(err, "extrapolation"));
    assert_non_null(strstr(err, "frame 1"));
    impa_guided_destroy(&g);
    impa_guided_destroy(&g); /* NULL is fine */
    impa_engine_destroy(&e);
    impa_model_destroy(&m);
}

static void test_calibration_modes(void **state)
{
    (void)state;
    char err[512];
    impa_calibration_t mode;
    const char *names[] = {"auto", "none", "extrapolation"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(impa_calibration_parse(names[i], &mode, err, sizeof err), 0);
        assert_string_equal(impa_calibration_name(mode), names[i]);
    }
    assert_int_equal(impa_calibration_parse("cdf", &mode, err, sizeof err), IMPA_EINVAL);
    assert_non_null(strstr(err, "'cdf'"));

    impa_model_t *mp = load(w_plain), *ma = load(w_adv);
    impa_engine_t *ep = NULL, *ea = NULL;
    impa_guided_t *gp = NULL, *ga = NULL;
    assert_int_equal(impa_engine_create(mp, NY, NX, 1, &ep, err, sizeof err), 0);
    assert_int_equal(impa_engine_create(ma, NY, NX, 1, &ea, err, sizeof err), 0);
    assert_int_equal(impa_guided_create(ep, NULL, 1, &gp, err, sizeof err), 0);
    assert_int_equal(impa_guided_create(ea, NULL, 1, &ga, err, sizeof err), 0);
    /* defaults: auto, resolved */
    assert_int_equal(impa_guided_calibration(gp), IMPA_CALIBRATION_NONE);
    assert_int_equal(impa_guided_calibration(ga), IMPA_CALIBRATION_EXTRAPOLATION);
    assert_int_equal(impa_guided_set_calibration(gp, IMPA_CALIBRATION_EXTRAPOLATION, err,
                                                 sizeof err), IMPA_EINVAL);
    assert_non_null(strstr(err, "advection"));
    assert_int_equal(impa_guided_calibration(gp), IMPA_CALIBRATION_NONE);
    assert_int_equal(impa_guided_set_calibration(gp, IMPA_CALIBRATION_AUTO, err, sizeof err), 0);
    assert_int_equal(impa_guided_calibration(gp), IMPA_CALIBRATION_NONE);
    assert_int_equal(impa_guided_set_calibration(ga, IMPA_CALIBRATION_NONE, err, sizeof err), 0);
    assert_int_equal(impa_guided_calibration(ga), IMPA_CALIBRATION_NONE);
    assert_int_equal(impa_guided_set_calibration(ga, IMPA_CALIBRATION_AUTO, err, sizeof err), 0);
    assert_int_equal(impa_guided_calibration(ga), IMPA_CALIBRATION_EXTRAPOLATION);
    assert_int_equal(impa_guided_set_calibration(ga, (impa_calibration_t)7, err, sizeof err),
                     IMPA_EINVAL);
    assert_int_equal(impa_guided_set_calibration(NULL, IMPA_CALIBRATION_NONE, err, sizeof err),
                     IMPA_EINVAL);
    impa_guided_destroy(&gp);
    impa_guided_destroy(&ga);
    impa_engine_destroy(&ep);
    impa_engine_destroy(&ea);
    impa_model_destroy(&mp);
    impa_model_destroy(&ma);
}

/* A random readout moves the forecast's distribution away from the
 * extrapolation's; the calibrated forecast is the raw one matched lead by lead
 * to the helper's extrapolated frames, so its areas above a threshold are the
 * extrapolation's, and NaN stays where the last observed frame has none. */
static void test_calibrated_forecast(void **state)
{
    (void)state;
    impa_model_t *m = load(w_adv);
    char err[512];
    impa_engine_t *e = NULL;
    impa_guided_t *g = NULL;
    assert_int_equal(impa_engine_create(m, NY, NX, 1, &e, err, sizeof err), 0);
    assert_int_equal(impa_guided_create(e, NULL, 1, &g, err, sizeof err), 0);
    const float *fr[TIN];
    for (int t = 0; t < TIN; t++)
        fr[t] = obs[0][t];
    static float raw[TOUT * NPIX], cal[TOUT * NPIX], want[TOUT * NPIX];
    assert_int_equal(impa_guided_set_calibration(g, IMPA_CALIBRATION_NONE, err, sizeof err), 0);
    assert_int_equal(impa_guided_forecast(g, fr, NULL, raw, err, sizeof err), 0);
    assert_int_equal(impa_guided_set_calibration(g, IMPA_CALIBRATION_AUTO, err, sizeof err), 0);
    assert_int_equal(impa_guided_forecast(g, fr, NULL, cal, err, sizeof err), 0);
    const float *ext = impa_guided_extrapolation(g);
    impa_calib_t *c = NULL;
    assert_int_equal(impa_calib_create(0.0f, 70.0f, 0.01f, &c, err, sizeof err), 0);
    memcpy(want, raw, sizeof want);
    for (int k = 0; k < TOUT; k++)
        assert_int_equal(impa_calib_match(c, want + (size_t)k * NPIX, ext + (size_t)k * NPIX,
                                          NPIX, NULL, err, sizeof err), 0);
    impa_calib_destroy(&c);
    size_t changed = 0;
    for (size_t i = 0; i < (size_t)TOUT * NPIX; i++) {
        assert_int_equal(isnan(cal[i]), isnan(raw[i]));
        if (isnan(cal[i]))
            continue;
        assert_float_equal(cal[i], want[i], 0.0f);
        changed += fabsf(cal[i] - raw[i]) > 0.5f;
    }
    assert_true(changed > NPIX / 10);
    for (int k = 0; k < TOUT; k++) {
        int n_cal = 0, n_ext = 0;
        for (size_t i = 0; i < NPIX; i++) {
            float x = ext[(size_t)k * NPIX + i], f = cal[(size_t)k * NPIX + i];
            if (isnan(x) || isnan(f))
                continue;
            n_cal += f >= 40.0f;
            n_ext += x >= 40.0f;
        }
        printf("lead %d: >= 40 dBZ calibrated %d, extrapolation %d\n", k + 1, n_cal, n_ext);
        assert_true(n_ext > 20);
        assert_true(abs(n_cal - n_ext) <= 2);
    }
    impa_guided_destroy(&g);
    impa_engine_destroy(&e);
    impa_model_destroy(&m);
}

/* The scheme is the model file's: a model recording impa-extrap-3 gets frames
 * bit-identical to impa-extrapolate --scheme impa-extrap-3 (which differ from
 * scheme 1's), through the helper and impa-infer, with no option anywhere; an
 * extrapolator of another scheme is refused, and so is a scheme this build
 * does not know, naming it and the known ones. */
static void test_model_scheme_drives_guidance(void **state)
{
    (void)state;
    float *tool1 = read_dbz(extrap_nc, (size_t)NS * TOUT * NPIX);
    float *tool3 = read_dbz(extrap3_nc, (size_t)NS * TOUT * NPIX);
    size_t differ = 0;
    for (size_t i = 0; i < (size_t)NS * TOUT * NPIX; i++)
        differ += !isnan(tool1[i]) && !isnan(tool3[i]) && fabsf(tool1[i] - tool3[i]) > 0.01f;
    printf("impa-extrap-3 vs impa-extrap-1 frames: %zu values differ\n", differ);
    assert_true(differ > 100);
    impa_model_t *m = load(w_zero3);
    int scheme = 0;
    char err[512];
    assert_int_equal(impa_guided_model_scheme(impa_model_info(m), &scheme, err, sizeof err), 0);
    assert_int_equal(scheme, IMPA_EXTRAP_SCHEME_3);
    impa_engine_t *e = NULL;
    impa_guided_t *g = NULL;
    assert_int_equal(impa_engine_create(m, NY, NX, 2, &e, err, sizeof err), 0);
    assert_int_equal(impa_guided_create(e, NULL, 2, &g, err, sizeof err), 0);
    for (int s = 0; s < NS; s++) {
        const float *fr[TIN];
        for (int t = 0; t < TIN; t++)
            fr[t] = obs[s][t];
        assert_int_equal(impa_guided_extrapolate(g, fr, err, sizeof err), 0);
        char what[80];
        snprintf(what, sizeof what, "sample %d: scheme-3 model vs impa-extrapolate", s);
        assert_same_frames(impa_guided_extrapolation(g), tool3 + (size_t)s * TOUT * NPIX,
                           (size_t)TOUT * NPIX, what);
    }
    impa_guided_destroy(&g);
    /* a scheme-1 extrapolator for a scheme-3 model: refused */
    impa_extrap_opts_t o1 = impa_extrap_opts_default();
    impa_extrap_t *x1 = NULL;
    assert_int_equal(impa_extrap_create(NY, NX, TOUT, &o1, &x1, err, sizeof err), 0);
    assert_int_equal(impa_guided_create(e, x1, 1, &g, err, sizeof err), IMPA_EINVAL);
    assert_null(g);
    assert_non_null(strstr(err, "'impa-extrap-3'"));
    assert_non_null(strstr(err, "computes 'impa-extrap-1'"));
    impa_extrap_destroy(&x1);
    impa_engine_destroy(&e);
    impa_model_destroy(&m);

    /* impa-infer with the scheme-3 model: its forecast is the scheme-3 extrapolation */
    float *fc = run_infer(w_zero3, "infer3.nc", "--threads 1", (size_t)NS * TOUT * NPIX);
    check_forecast(fc, tool3, obs[0][TIN - 1], "impa-infer, scheme-3 model, sample 0");
    free(fc);

    /* --pixel-km: scheme 3's windows are in km; the tool's frames at 0.5 km */
    char x05[512], cmd[2048];
    snprintf(x05, sizeof x05, "%s", tu_path("extrap3_05.nc"));
    snprintf(cmd, sizeof cmd, "'%s/src/tools/impa-extrapolate' --input '%s' --output '%s' "
             "--leads %d --threads 1 --scheme impa-extrap-3 --pixel-km 0.5", build, in_nc, x05,
             TOUT);
    assert_int_equal(sh(cmd), 0);
    float *t05 = read_dbz(x05, (size_t)NS * TOUT * NPIX);
    fc = run_infer(w_zero3, "infer3_05.nc", "--threads 1 --pixel-km 0.5",
                   (size_t)NS * TOUT * NPIX);
    check_forecast(fc, t05, obs[0][TIN - 1], "impa-infer --pixel-km 0.5, scheme-3 model");
    size_t d05 = 0;
    for (size_t i = 0; i < (size_t)TOUT * NPIX; i++)
        d05 += !isnan(t05[i]) && !isnan(tool3[i]) && fabsf(t05[i] - tool3[i]) > 0.01f;
    printf("impa-extrap-3 at 0.5 km vs 1 km: %zu values differ\n", d05);
    assert_true(d05 > 10);
    free(fc);
    free(t05);

    /* a scheme this build does not know */
    m = load(w_zero9);
    assert_int_equal(impa_guided_model_scheme(impa_model_info(m), &scheme, err, sizeof err),
                     IMPA_EINVAL);
    assert_non_null(strstr(err, "'impa-extrap-9', which this build does not know (it knows "
                                "impa-extrap-1, impa-extrap-2, impa-extrap-3)"));
    assert_int_equal(impa_engine_create(m, NY, NX, 1, &e, err, sizeof err), 0);
    assert_int_equal(impa_guided_create(e, NULL, 1, &g, err, sizeof err), IMPA_EINVAL);
    printf("unknown scheme: %s\n", err);
    assert_non_null(strstr(err, "'impa-extrap-9'"));
    assert_null(g);
    impa_engine_destroy(&e);
    impa_model_destroy(&m);
    free(tool1);
    free(tool3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames_equal_impa_extrapolate),
        cmocka_unit_test(test_zero_readout_forecasts_extrapolation),
        cmocka_unit_test(test_impa_infer),
        cmocka_unit_test(test_impa_infer_normalised),
        cmocka_unit_test(test_plain_model_is_engine),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_calibration_modes),
        cmocka_unit_test(test_calibrated_forecast),
        cmocka_unit_test(test_model_scheme_drives_guidance),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
