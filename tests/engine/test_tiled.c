/* Tiled engines: every window of the tiled output equals a whole-grid engine run
 * on that window alone (including the last, border-aligned window), for the plain
 * network (golden c) and the advection-guided one (golden d: the windows slice
 * all t_in + t_out input frames), a tile that covers the grid is the plain
 * engine, and bad tiles are refused. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "impa/engine.h"

static impa_model_t *models[2]; /* golden c (plain), golden d (advection) */
static impa_model_t *model;     /* the one under test */

static int setup(void **state)
{
    (void)state;
    const char *root = getenv("IMPA_SOURCE_ROOT");
    char path[1024], err[512];
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/tests/data/golden_%c_weights.nc", root ? root : ".",
                 "cd"[k]);
        if (impa_model_load(path, &models[k], err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return -1;
        }
    }
    model = models[0];
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    impa_model_destroy(&models[0]);
    impa_model_destroy(&models[1]);
    return 0;
}

/* Deterministic input in [0, 1) with structure at several scales. */
static void fill(float *x, size_t n)
{
    unsigned s = 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        x[i] = (float)((s >> 8) & 0xffff) / 65536.0f;
    }
}

/* Output of a plain engine on the window (y0, x0, th, tw) of `in` [nch][H][W]. */
static void window_forward(const float *in, int nch, int H, int W, int y0, int x0, int th,
                           int tw, float *out)
{
    impa_engine_t *e = NULL;
    char err[512];
    assert_int_equal(impa_engine_create(model, th, tw, 1, &e, err, sizeof err), 0);
    float *win = malloc(sizeof(float) * (size_t)nch * th * tw);
    assert_non_null(win);
    for (int c = 0; c < nch; c++)
        for (int y = 0; y < th; y++)
            memcpy(win + ((size_t)c * th + y) * tw, in + ((size_t)c * H + y0 + y) * W + x0,
                   sizeof(float) * tw);
    assert_int_equal(impa_engine_forward(e, win, out, err, sizeof err), 0);
    free(win);
    impa_engine_destroy(&e);
}

static void test_windows_match_one(void)
{
    const impa_model_info_t *mi = impa_model_info(model);
    int H = 40, W = 56, tile = 16, nch = impa_model_input_frames(model) * mi->n_fields;
    fprintf(stderr, "model %s (advection %d, %d input frames)\n", mi->model_name,
            mi->advection, impa_model_input_frames(model));
    size_t HW = (size_t)H * W;
    float *in = malloc(sizeof(float) * nch * HW), *out = malloc(sizeof(float) * mi->t_out * HW);
    float *ref = malloc(sizeof(float) * mi->t_out * tile * tile);
    assert_true(in && out && ref);
    fill(in, (size_t)nch * HW);
    impa_engine_t *e = NULL;
    char err[512];
    assert_int_equal(impa_engine_create_tiled(model, H, W, tile, 1, &e, err, sizeof err), 0);
    assert_int_equal(impa_engine_tile(e), tile);
    assert_int_equal(impa_engine_forward(e, in, out, err, sizeof err), 0);
    /* (0,0): first window; (24,40): the border-aligned last window of both sides */
    const int wins[2][2] = {{0, 0}, {24, 40}};
    for (int k = 0; k < 2; k++) {
        window_forward(in, nch, H, W, wins[k][0], wins[k][1], tile, tile, ref);
        double maxd = 0;
        for (int t = 0; t < mi->t_out; t++)
            for (int y = 0; y < tile; y++)
                for (int x = 0; x < tile; x++) {
                    float a = out[(size_t)t * HW + (size_t)(wins[k][0] + y) * W + wins[k][1] + x];
                    float b = ref[((size_t)t * tile + y) * tile + x];
                    maxd = fmax(maxd, fabs((double)a - b));
                }
        fprintf(stderr, "window (%d,%d): max abs difference %.3g\n", wins[k][0], wins[k][1], maxd);
        assert_true(maxd < 1e-6);
    }
    /* every output value was written */
    for (size_t i = 0; i < (size_t)mi->t_out * HW; i++)
        assert_true(isfinite(out[i]));
    impa_engine_destroy(&e);
    assert_null(e);
    free(in);
    free(out);
    free(ref);
}

static void test_windows_match(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        model = models[k];
        test_windows_match_one();
    }
    model = models[0];
}

static void test_tile_covering_grid_is_plain(void **state)
{
    (void)state;
    impa_engine_t *e = NULL;
    char err[512];
    assert_int_equal(impa_engine_create_tiled(model, 32, 32, 64, 1, &e, err, sizeof err), 0);
    assert_int_equal(impa_engine_tile(e), 0);
    impa_engine_destroy(&e);
    assert_int_equal(impa_engine_create_tiled(model, 32, 32, 0, 1, &e, err, sizeof err), 0);
    assert_int_equal(impa_engine_tile(e), 0);
    impa_engine_destroy(&e);
}

static void test_bad_tile(void **state)
{
    (void)state;
    impa_engine_t *e = NULL;
    char err[512] = "";
    assert_int_equal(impa_engine_create_tiled(model, 40, 56, 18, 1, &e, err, sizeof err),
                     IMPA_ESHAPE);
    assert_non_null(strstr(err, "multiple of total_stride"));
    assert_null(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_windows_match),
        cmocka_unit_test(test_tile_covering_grid_is_plain),
        cmocka_unit_test(test_bad_tile),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
