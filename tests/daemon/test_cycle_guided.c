/* The daemon's forecast cycle with an advection-guided model (advection = 1):
 * with residual = 1 and a ZERO readout the network's output is its extrapolated
 * input frames, so the cycle's impanet forecast must equal the optical-flow
 * extrapolation of the window (clamped to [0, 70] dBZ, NaN extrapolation -> 0,
 * NaN where the last frame has no data): the wiring from window to guidance to
 * engine, end to end. A model the guidance refuses falls back with the reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
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

static impa_cycle_t *make_cycle(const char *weights, impa_model_t **model, char *note,
                                size_t notelen, int t_in)
{
    char err[512];
    if (impa_model_load(weights, model, err, sizeof err))
        fail_msg("%s", err);
    impa_daemon_config_t cfg;
    impa_config_defaults(&cfg);
    cfg.method = IMPA_CFG_METHOD_IMPANET;
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

static void count_progress(void *ctx)
{
    (*(int *)ctx)++;
}

static void test_zero_readout_is_extrapolation(void **state)
{
    (void)state;
    make_frames();
    tu_config_t tc = tu_advection_config(TIN, TOUT, 1);
    char w[512];
    snprintf(w, sizeof w, "%s", tu_path("cycle_adv.nc"));
    assert_int_equal(tu_write_weights(w, &tc, 3u), 0);
    impa_model_t *m = NULL;
    char note[640], err[512];
    impa_cycle_t *c = make_cycle(w, &m, note, sizeof note, TIN);
    assert_string_equal(note, "");
    impa_forecast_t fc;
    double secs = 0;
    assert_int_equal(impa_cycle_forecast(c, &fc, &secs, err, sizeof err), 0);
    assert_int_equal(fc.method, IMPA_METHOD_IMPANET);
    assert_null(fc.fallback_reason);
    assert_int_equal(fc.n_leads, TOUT);

    /* the reference: an extrapolator of its own, the impa-extrapolate way */
    impa_extrap_opts_t o = impa_extrap_opts_default();
    impa_extrap_t *ex = NULL;
    static float ref[TOUT * NPIX];
    assert_int_equal(impa_extrap_create(NY, NX, TOUT, &o, &ex, err, sizeof err), 0);
    const float *fr[TIN];
    for (int t = 0; t < TIN; t++)
        fr[t] = frames[t];
    assert_int_equal(impa_extrap_motion(ex, fr, TIN, err, sizeof err), 0);
    assert_int_equal(impa_extrap_forecast(ex, frames[TIN - 1], TOUT, ref, err, sizeof err), 0);
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
    impa_extrap_destroy(&ex);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_readout_is_extrapolation),
        cmocka_unit_test(test_refused_model_falls_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
