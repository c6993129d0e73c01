/* The daemon's forecast cycle with an advection-guided model (advection = 1):
 * with residual = 1 and a ZERO readout the network's output is its extrapolated
 * input frames, so the cycle's impanet forecast must equal the optical-flow
 * extrapolation of the window (clamped to [0, 70] dBZ, NaN extrapolation -> 0,
 * NaN where the last frame has no data): the wiring from window to guidance to
 * engine, end to end. A model the guidance refuses falls back with the reason.
 * The guidance computes the scheme the model file records, the published
 * extrapolation (method extrapolation, the fallback) the configured
 * extrapolation.scheme; equal schemes share one extrapolator. */
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

#include "daemon/config.h"
#include "daemon/cycle.h"
#include "impa/extrapolate.h"
#include "../engine/testutil.h"

#define TIN 4
#define TOUT 3
#define NY 48
#define NX 64
#define NPIX (NY * NX)
#define T0 1700000400LL

static float frames[TIN][NPIX];

static void make_frames(void)
{
    for (int t = 0; t < TIN; t++)
        for (int y = 0; y < NY; y++)
            for (int x = 0; x < NX; x++) {
                double cx = 22 + 1.25 * t, cy = 18 + 1.0 * t;
                double d = ((x - cx) * (x - cx) + (y - cy) * (y - cy)) / 50.0;
                frames[t][y * NX + x] = (float)(60.0 * exp(-d) + 8.0 * cos(0.25 * x - 0.2 * y));
            }
    for (int y = 10; y < 14; y++)
        for (int x = 50; x < 56; x++)
            frames[TIN - 1][y * NX + x] = NAN;
}

/* weights NULL: no model loaded (*model NULL); scheme: extrapolation.scheme,
 * 0 = the default; method: model.method. */
static impa_cycle_t *make_cycle_method(const char *weights, impa_model_t **model, char *note,
                                       size_t notelen, int t_in, int scheme, int method)
{
    char err[512];
    *model = NULL;
    if (weights && impa_model_load(weights, model, err, sizeof err))
        fail_msg("%s", err);
    impa_daemon_config_t cfg;
    impa_config_defaults(&cfg);
    if (scheme)
        cfg.extrap_scheme = scheme;
    cfg.method = method;
    cfg.threads = 1;
    cfg.tile = 0;
    cfg.verify_enabled = 0;
    impa_cycle_shape_t shape = {t_in, TOUT, 10, 4};
    impa_grid_t grid;
    memset(&grid, 0, sizeof grid);
    grid.ny = NY;
    grid.nx = NX;
    grid.dx = grid.dy = 1;
    impa_cycle_t *c = NULL;
    if (impa_cycle_create(&cfg, *model, &shape, &grid, &c, note, notelen, err, sizeof err))
        fail_msg("%s", err);
    for (int t = 0; t < t_in; t++) {
        int64_t slot;
        char path[32];
        snprintf(path, sizeof path, "scan%d.nc", t);
        impa_window_add(impa_cycle_window(c), T0 + 600LL * t, frames[TIN - t_in + t], path,
                        &slot);
    }
    return c;
}

static impa_cycle_t *make_cycle_scheme(const char *weights, impa_model_t **model, char *note,
                                       size_t notelen, int t_in, int scheme)
{
    return make_cycle_method(weights, model, note, notelen, t_in, scheme,
                             IMPA_CFG_METHOD_IMPANET);
}

static impa_cycle_t *make_cycle(const char *weights, impa_model_t **model, char *note,
                                size_t notelen, int t_in)
{
    return make_cycle_scheme(weights, model, note, notelen, t_in, 0);
}

/* ref [TOUT][NPIX]: the extrapolation of frames with scheme's defaults at 1 km
 * and 10 min (the test grid and step), motion from all TIN frames */
static void reference(int scheme, float *ref)
{
    char err[512];
    impa_extrap_opts_t o = impa_extrap_opts_scheme((impa_extrap_scheme_t)scheme);
    o.threads = 1;
    impa_extrap_t *ex = NULL;
    assert_int_equal(impa_extrap_create(NY, NX, TOUT, &o, &ex, err, sizeof err), 0);
    const float *fr[TIN];
    for (int t = 0; t < TIN; t++)
        fr[t] = frames[t];
    assert_int_equal(impa_extrap_motion(ex, fr, TIN, err, sizeof err), 0);
    assert_int_equal(impa_extrap_forecast(ex, frames[TIN - 1], TOUT, ref, err, sizeof err), 0);
    impa_extrap_destroy(&ex);
}

/* |forecast - clamp(ref)| <= 1e-4 where the last frame has data (NaN ref -> 0);
 * returns the cells moved by > 1 dBZ from the last frame */
static size_t assert_is_extrapolation(const float *got, const float *ref, const char *what)
{
    size_t moved = 0;
    for (int k = 0; k < TOUT; k++)
        for (size_t i = 0; i < NPIX; i++) {
            float e = ref[(size_t)k * NPIX + i], g = got[(size_t)k * NPIX + i];
            if (isnan(frames[TIN - 1][i]))
                continue;
            float want = isnan(e) ? 0.0f : (e < 0 ? 0.0f : (e > 70 ? 70.0f : e));
            moved += fabsf(want - frames[TIN - 1][i]) > 1.0f;
            if (!(fabsf(g - want) <= 1e-4f))
                fail_msg("%s: lead %d index %zu: %.6g, extrapolation %.6g", what, k, i, g, want);
        }
    return moved;
}

/* The published extrapolation's raw values: only where both are finite */
static size_t assert_same_raw(const float *got, const float *ref, const char *what)
{
    size_t n = 0;
    for (size_t i = 0; i < (size_t)TOUT * NPIX; i++) {
        if (isnan(ref[i]) || isnan(got[i])) {
            if (isnan(ref[i]) != isnan(got[i]))
                fail_msg("%s: index %zu: %g vs %g", what, i, got[i], ref[i]);
            continue;
        }
        if (got[i] != ref[i])
            fail_msg("%s: index %zu: %.9g vs %.9g", what, i, got[i], ref[i]);
        n++;
    }
    return n;
}

/* A zero-readout advection model at tu_path(name) into w; scheme: its
 * `extrapolation` attribute, NULL = none (as the shipped model). */
static void zero_model(const char *name, const char *scheme, char *w, size_t len)
{
    tu_config_t tc = tu_advection_config(TIN, TOUT, 1);
    snprintf(w, len, "%s", tu_path(name));
    assert_int_equal(tu_write_weights(w, &tc, 3u), 0);
    if (!scheme)
        return;
    int nc;
    assert_int_equal(nc_open(w, NC_WRITE, &nc), NC_NOERR);
    assert_int_equal(nc_redef(nc), NC_NOERR);
    assert_int_equal(nc_put_att_text(nc, NC_GLOBAL, "extrapolation", strlen(scheme), scheme),
                     NC_NOERR);
    assert_int_equal(nc_close(nc), NC_NOERR);
}

static void count_progress(void *ctx)
{
    (*(int *)ctx)++;
}

static void test_zero_readout_is_extrapolation(void **state)
{
    (void)state;
    make_frames();
    char w[512];
    zero_model("cycle_adv.nc", NULL, w, sizeof w);
    impa_model_t *m = NULL;
    char note[640], err[512];
    impa_cycle_t *c = make_cycle(w, &m, note, sizeof note, TIN);
    assert_string_equal(note, "");
    /* a model without the attribute (the shipped one) reads impa-extrap-1; the
     * default published scheme is impa-extrap-3: two extrapolators */
    const char *pub, *guide;
    assert_int_equal(impa_cycle_extrapolation(c, &pub, &guide), 2);
    assert_string_equal(guide, "impa-extrap-1");
    assert_string_equal(pub, impa_extrap_scheme_name(IMPA_EXTRAP_BEST));
    impa_forecast_t fc;
    double secs = 0;
    assert_int_equal(impa_cycle_forecast(c, &fc, &secs, err, sizeof err), 0);
    assert_int_equal(fc.method, IMPA_METHOD_IMPANET);
    assert_null(fc.fallback_reason);
    assert_string_equal(fc.extrapolation, "impa-extrap-1");
    assert_int_equal(fc.n_leads, TOUT);

    /* the reference: an extrapolator of its own, the impa-extrapolate way */
    static float ref[TOUT * NPIX];
    reference(IMPA_EXTRAP_SCHEME_1, ref);
    size_t nan = 0, zero = 0, moved = 0;
    for (int k = 0; k < TOUT; k++)
        for (size_t i = 0; i < NPIX; i++) {
            float e = ref[(size_t)k * NPIX + i], got = fc.dbz[(size_t)k * NPIX + i];
            if (isnan(frames[TIN - 1][i])) {
                assert_true(isnan(got));
                nan++;
                continue;
            }
            float want = isnan(e) ? 0.0f : (e < 0 ? 0.0f : (e > 70 ? 70.0f : e));
            zero += isnan(e);
            moved += fabsf(want - frames[TIN - 1][i]) > 1.0f;
            if (!(fabsf(got - want) <= 1e-4f))
                fail_msg("lead %d index %zu: %.6g, extrapolation %.6g", k, i, got, want);
        }
    printf("cycle forecast = extrapolation: %d leads, %zu NaN (last frame), %zu NaN "
           "extrapolation -> 0 dBZ, %zu cells moved by > 1 dBZ\n", TOUT, nan, zero, moved);
    assert_true(nan == (size_t)TOUT * 24);
    assert_true(moved > 100); /* not persistence */

    /* the cycle hands its network's progress on (the service pings the watchdog) */
    int n_progress = 0;
    impa_cycle_set_progress(c, count_progress, &n_progress);
    assert_int_equal(impa_cycle_forecast(c, &fc, &secs, err, sizeof err), 0);
    assert_int_equal(n_progress, 2); /* whole grid: after the encoder and the translator */
    impa_cycle_destroy(&c);
    impa_model_destroy(&m);
}

static void test_refused_model_falls_back(void **state)
{
    (void)state;
    make_frames();
    /* advection with t_in = 1: no motion from one frame, the guidance refuses */
    tu_config_t tc = tu_advection_config(1, TOUT, 0);
    char w[512];
    snprintf(w, sizeof w, "%s", tu_path("cycle_tin1.nc"));
    assert_int_equal(tu_write_weights(w, &tc, 4u), 0);
    impa_model_t *m = NULL;
    char note[640], err[512];
    impa_cycle_t *c = make_cycle(w, &m, note, sizeof note, 1);
    assert_non_null(strstr(note, "network unavailable"));
    assert_non_null(strstr(note, "advection"));
    impa_forecast_t fc;
    double secs = 0;
    assert_int_equal(impa_cycle_forecast(c, &fc, &secs, err, sizeof err), 0);
    assert_int_not_equal(fc.method, IMPA_METHOD_IMPANET);
    assert_non_null(fc.fallback_reason);
    assert_non_null(strstr(fc.fallback_reason, "advection"));
    printf("fallback: %s\n", fc.fallback_reason);
    impa_cycle_destroy(&c);
    impa_model_destroy(&m);
}

/* A model recording impa-extrap-3: the network's input is scheme 3 whatever
 * extrapolation.scheme says; with extrapolation.scheme impa-extrap-3 the two
 * share one extrapolator, with impa-extrap-1 they are two. */
static void test_model_scheme_3(void **state)
{
    (void)state;
    make_frames();
    char w[512];
    zero_model("cycle_adv3.nc", "impa-extrap-3", w, sizeof w);
    static float ref1[TOUT * NPIX], ref3[TOUT * NPIX];
    reference(IMPA_EXTRAP_SCHEME_1, ref1);
    reference(IMPA_EXTRAP_SCHEME_3, ref3);
    int published[2] = {IMPA_EXTRAP_SCHEME_3, IMPA_EXTRAP_SCHEME_1};
    for (int i = 0; i < 2; i++) {
        impa_model_t *m = NULL;
        char note[640], err[512];
        impa_cycle_t *c = make_cycle_scheme(w, &m, note, sizeof note, TIN, published[i]);
        assert_string_equal(note, "");
        const char *pub, *guide;
        /* equal schemes share one extrapolator, different ones have two */
        assert_int_equal(impa_cycle_extrapolation(c, &pub, &guide), i == 0 ? 1 : 2);
        assert_string_equal(guide, "impa-extrap-3");
        assert_string_equal(pub, impa_extrap_scheme_name(published[i]));
        impa_forecast_t fc;
        double secs = 0;
        assert_int_equal(impa_cycle_forecast(c, &fc, &secs, err, sizeof err), 0);
        assert_int_equal(fc.method, IMPA_METHOD_IMPANET);
        assert_string_equal(fc.extrapolation, "impa-extrap-3");
        size_t moved = assert_is_extrapolation(fc.dbz, ref3, "scheme-3 model");
        printf("scheme-3 model, extrapolation.scheme %s: forecast = impa-extrap-3 "
               "extrapolation, %zu cells moved\n", pub, moved);
        assert_true(moved > 100);
        impa_cycle_destroy(&c);
        impa_model_destroy(&m);
    }
    /* the two schemes differ on these frames: the check above can fail */
    size_t differ = 0;
    for (size_t i = 0; i < (size_t)TOUT * NPIX; i++)
        differ += !isnan(ref1[i]) && !isnan(ref3[i]) && fabsf(ref1[i] - ref3[i]) > 0.01f;
    assert_true(differ > 100);
}

/* The fallback (no model loaded) and method extrapolation are the configured
 * scheme's extrapolation of the window, and say so. */
static void test_fallback_uses_configured_scheme(void **state)
{
    (void)state;
    make_frames();
    static float ref[TOUT * NPIX];
    /* k <= LAST: fallback with extrapolation.scheme k; LAST + 1: method
     * extrapolation with the default scheme (no fallback reason) */
    for (int k = IMPA_EXTRAP_SCHEME_1; k <= IMPA_EXTRAP_SCHEME_LAST + 1; k++) {
        int method_ex = k > IMPA_EXTRAP_SCHEME_LAST, scheme = method_ex ? IMPA_EXTRAP_BEST : k;
        reference(scheme, ref);
        impa_model_t *m = NULL;
        char note[640], err[512];
        impa_cycle_t *c = make_cycle_method(
            NULL, &m, note, sizeof note, TIN, method_ex ? 0 : scheme,
            method_ex ? IMPA_CFG_METHOD_EXTRAPOLATION : IMPA_CFG_METHOD_IMPANET);
        const char *pub, *guide;
        assert_int_equal(impa_cycle_extrapolation(c, &pub, &guide), 1);
        assert_null(guide);
        impa_forecast_t fc;
        double secs = 0;
        assert_int_equal(impa_cycle_forecast(c, &fc, &secs, err, sizeof err), 0);
        assert_int_equal(fc.method, IMPA_METHOD_EXTRAPOLATION);
        if (method_ex) {
            assert_null(fc.fallback_reason);
        } else {
            assert_non_null(strstr(note, "no model loaded"));
            assert_non_null(fc.fallback_reason);
        }
        assert_string_equal(fc.extrapolation, impa_extrap_scheme_name(scheme));
        size_t n = assert_same_raw(fc.dbz, ref, impa_extrap_scheme_name(scheme));
        printf("%s with extrapolation.scheme %s: %zu values identical to it\n",
               method_ex ? "method extrapolation" : "fallback", pub, n);
        assert_true(n > (size_t)TOUT * NPIX / 2);
        impa_cycle_destroy(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_readout_is_extrapolation),
        cmocka_unit_test(test_refused_model_falls_back),
        cmocka_unit_test(test_model_scheme_3),
        cmocka_unit_test(test_fallback_uses_configured_scheme),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
