/* Tiled engines: every window of the tiled output equals a whole-grid engine run
 * on that window alone (including the last, border-aligned window), for the plain
 * network (golden c) and the advection-guided one (golden d: the windows slice
 * all t_in + t_out input frames), and overlap 0 is, bit for bit, those windows
 * copied in order with the border ones overwriting; overlapping windows equal a
 * blend computed here from single-window forwards, a constant output stays
 * constant through the blend, a tile that covers the grid is the plain engine,
 * and bad tiles and overlaps are refused. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "impa/engine.h"
#include "testutil.h"

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
    assert_int_equal(impa_engine_create_tiled(model, H, W, tile, 0, 1, &e, err, sizeof err), 0);
    assert_int_equal(impa_engine_tile(e), tile);
    assert_int_equal(impa_engine_tile_overlap(e), 0);
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
    /* bit for bit the layout before overlaps: windows at 0, 16 and the border
     * (24 / 40), copied in order, the border ones overwriting */
    float *old = malloc(sizeof(float) * mi->t_out * HW);
    assert_non_null(old);
    const int oy[] = {0, 16, 24}, ox[] = {0, 16, 32, 40};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 4; b++) {
            window_forward(in, nch, H, W, oy[a], ox[b], tile, tile, ref);
            for (int t = 0; t < mi->t_out; t++)
                for (int y = 0; y < tile; y++)
                    memcpy(old + (size_t)t * HW + (size_t)(oy[a] + y) * W + ox[b],
                           ref + ((size_t)t * tile + y) * tile, sizeof(float) * tile);
        }
    assert_memory_equal(out, old, sizeof(float) * mi->t_out * HW);
    free(old);
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

/* Window origins of the documented rule (engine.h), written out independently:
 * 0, S, 2S, ... while the window fits, then one ending at the border. */
static int ref_origins(int n, int T, int overlap, int *o)
{
    int k = 0, S = T - overlap;
    for (int p = 0; p + T <= n; p += S)
        o[k++] = p;
    if (o[k - 1] + T < n)
        o[k++] = n - T;
    return k;
}

static double ref_ramp(int i, int T, int overlap)
{
    return fmin(1.0, fmin((i + 0.5) / overlap, (T - i - 0.5) / overlap));
}

/* Overlapping windows on a grid that is not a multiple of the stride (40 x 60,
 * tile 16, overlap 6: stride 10, origins 0 10 20 24 and 0 10 20 30 40 44): the
 * output is the blend of single-window forwards, computed here in double. */
static void test_overlap_blend_one(void)
{
    const impa_model_info_t *mi = impa_model_info(model);
    int H = 40, W = 60, tile = 16, ov = 6, nch = impa_model_input_frames(model) * mi->n_fields;
    size_t HW = (size_t)H * W, n_out = (size_t)mi->t_out * HW;
    float *in = malloc(sizeof(float) * nch * HW), *out = malloc(sizeof(float) * n_out);
    float *win = malloc(sizeof(float) * mi->t_out * tile * tile);
    double *acc = calloc(n_out, sizeof(double)), *wsum = calloc(HW, sizeof(double));
    assert_true(in && out && win && acc && wsum);
    fill(in, (size_t)nch * HW);
    impa_engine_t *e = NULL, *plain = NULL;
    char err[512];
    assert_int_equal(impa_engine_create_tiled(model, H, W, tile, ov, 1, &e, err, sizeof err), 0);
    assert_int_equal(impa_engine_tile(e), tile);
    assert_int_equal(impa_engine_tile_overlap(e), ov);
    assert_int_equal(impa_engine_forward(e, in, out, err, sizeof err), 0);

    int oy[16], ox[16];
    int ky = ref_origins(H, tile, ov, oy), kx = ref_origins(W, tile, ov, ox);
    assert_int_equal(ky, 4);
    assert_int_equal(kx, 6);
    assert_int_equal(oy[3], 24);
    assert_int_equal(ox[5], 44);
    for (int a = 0; a < ky; a++)
        for (int b = 0; b < kx; b++) {
            window_forward(in, nch, H, W, oy[a], ox[b], tile, tile, win);
            for (int y = 0; y < tile; y++)
                for (int x = 0; x < tile; x++) {
                    double wt = ref_ramp(y, tile, ov) * ref_ramp(x, tile, ov);
                    size_t p = (size_t)(oy[a] + y) * W + ox[b] + x;
                    wsum[p] += wt;
                    for (int t = 0; t < mi->t_out; t++)
                        acc[(size_t)t * HW + p] += wt * win[((size_t)t * tile + y) * tile + x];
                }
        }
    double maxd = 0, maxv = 0;
    for (size_t i = 0; i < n_out; i++) {
        double r = acc[i] / wsum[i % HW];
        maxd = fmax(maxd, fabs(out[i] - r));
        maxv = fmax(maxv, fabs(r));
    }
    fprintf(stderr, "%s overlap %d: max abs difference to the blend %.3g (max |value| %.3g)\n",
            mi->model_name, ov, maxd, maxv);
    assert_true(maxd < 1e-5);

    /* the cost counts every window (24 instead of 3 x 4 without overlap) and the blend */
    assert_int_equal(impa_engine_create(model, tile, tile, 1, &plain, err, sizeof err), 0);
    double want = 24.0 * impa_engine_flops(plain) +
                  24.0 * tile * tile * (1 + 2.0 * mi->t_out) + (double)n_out;
    assert_true(fabs(impa_engine_flops(e) - want) <= 1e-9 * want);
    assert_true(impa_engine_workspace_bytes(e) >=
                impa_engine_workspace_bytes(plain) + sizeof(float) * (HW + 2 * tile));
    impa_engine_destroy(&plain);
    impa_engine_destroy(&e);
    free(in);
    free(out);
    free(win);
    free(acc);
    free(wsum);
}

static void test_overlap_blend(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        model = models[k];
        test_overlap_blend_one();
    }
    model = models[0];
}

/* The weights are normalised per pixel: a network whose output is its
 * residual input (zero readout) on a constant input gives that constant in every
 * window, and the blend must give it back everywhere, also where 2 or 4 windows
 * meet. overlap = tile / 2 is the largest accepted. */
static void test_overlap_constant(void **state)
{
    (void)state;
    tu_config_t c = tu_small_config();
    c.zero_readout = 1;
    const char *path = tu_path("zero_readout.nc");
    assert_int_equal(tu_write_weights(path, &c, 7u), 0);
    impa_model_t *m = NULL;
    char err[512];
    assert_int_equal(impa_model_load(path, &m, err, sizeof err), 0);
    const impa_model_info_t *mi = impa_model_info(m);
    assert_int_equal(mi->residual, 1);
    int H = 44, W = 52, nch = impa_model_input_frames(m) * mi->n_fields;
    size_t HW = (size_t)H * W, n_out = (size_t)mi->t_out * HW;
    float *in = malloc(sizeof(float) * nch * HW), *out = malloc(sizeof(float) * n_out);
    assert_true(in && out);
    const float v = 0.4375f;
    for (size_t i = 0; i < (size_t)nch * HW; i++)
        in[i] = v;
    const int cases[3][2] = {{16, 8}, {16, 3}, {20, 10}}; /* tile, overlap */
    for (int k = 0; k < 3; k++) {
        impa_engine_t *e = NULL;
        assert_int_equal(impa_engine_create_tiled(m, H, W, cases[k][0], cases[k][1], 1, &e, err,
                                                  sizeof err),
                         0);
        for (size_t i = 0; i < n_out; i++)
            out[i] = NAN;
        assert_int_equal(impa_engine_forward(e, in, out, err, sizeof err), 0);
        double maxd = 0;
        for (size_t i = 0; i < n_out; i++)
            maxd = fmax(maxd, fabs(out[i] - v));
        fprintf(stderr, "constant %g, tile %d overlap %d: max abs difference %.3g\n", v,
                cases[k][0], cases[k][1], maxd);
        assert_true(maxd < 1e-6);
        impa_engine_destroy(&e);
    }
    free(in);
    free(out);
    impa_model_destroy(&m);
}

static void test_tile_covering_grid_is_plain(void **state)
{
    (void)state;
    impa_engine_t *e = NULL;
    char err[512];
    assert_int_equal(impa_engine_create_tiled(model, 32, 32, 64, 16, 1, &e, err, sizeof err), 0);
    assert_int_equal(impa_engine_tile(e), 0);
    impa_engine_destroy(&e);
    assert_int_equal(impa_engine_create_tiled(model, 32, 32, 0, 0, 1, &e, err, sizeof err), 0);
    assert_int_equal(impa_engine_tile(e), 0);
    impa_engine_destroy(&e);
}

static void test_bad_tile(void **state)
{
    (void)state;
    impa_engine_t *e = NULL;
    char err[512] = "";
    assert_int_equal(impa_engine_create_tiled(model, 40, 56, 18, 0, 1, &e, err, sizeof err),
                     IMPA_ESHAPE);
    assert_non_null(strstr(err, "multiple of total_stride"));
    assert_null(e);
}

/* overlap outside 0 .. tile/2 is refused, naming both; tile/2 is accepted. */
static void test_bad_overlap(void **state)
{
    (void)state;
    impa_engine_t *e = NULL;
    char err[512] = "";
    assert_int_equal(impa_engine_create_tiled(model, 40, 56, 16, 9, 1, &e, err, sizeof err),
                     IMPA_EINVAL);
    assert_null(e);
    assert_non_null(strstr(err, "overlap 9"));
    assert_non_null(strstr(err, "tile 16"));
    err[0] = '\0';
    assert_int_equal(impa_engine_create_tiled(model, 40, 56, 16, -1, 1, &e, err, sizeof err),
                     IMPA_EINVAL);
    assert_null(e);
    assert_non_null(strstr(err, "overlap -1"));
    /* also when the tile covers the grid: the configuration is wrong either way */
    assert_int_equal(impa_engine_create_tiled(model, 32, 32, 64, 33, 1, &e, err, sizeof err),
                     IMPA_EINVAL);
    assert_int_equal(impa_engine_create_tiled(model, 40, 56, 16, 8, 1, &e, err, sizeof err), 0);
    assert_int_equal(impa_engine_tile_overlap(e), 8);
    impa_engine_destroy(&e);
    assert_null(e);
}

static void count_progress(void *ctx)
{
    (*(int *)ctx)++;
}

/* The progress hook runs once per window of a tiled engine (40 x 60, tile 16,
 * overlap 6: 4 x 6 windows), twice per whole-grid forward (after the encoder and
 * after the translator), and not once removed. */
static void test_progress_hook(void **state)
{
    (void)state;
    const impa_model_info_t *mi = impa_model_info(model);
    int H = 40, W = 60, nch = impa_model_input_frames(model) * mi->n_fields;
    size_t HW = (size_t)H * W;
    float *in = malloc(sizeof(float) * nch * HW), *out = malloc(sizeof(float) * mi->t_out * HW);
    assert_true(in && out);
    fill(in, (size_t)nch * HW);
    impa_engine_t *tiled = NULL, *whole = NULL;
    char err[512];
    assert_int_equal(impa_engine_create_tiled(model, H, W, 16, 6, 1, &tiled, err, sizeof err), 0);
    assert_int_equal(impa_engine_create(model, H, W, 1, &whole, err, sizeof err), 0);
    int n = 0;
    impa_engine_set_progress(tiled, count_progress, &n);
    assert_int_equal(impa_engine_forward(tiled, in, out, err, sizeof err), 0);
    assert_int_equal(n, 24);
    n = 0;
    impa_engine_set_progress(whole, count_progress, &n);
    assert_int_equal(impa_engine_forward(whole, in, out, err, sizeof err), 0);
    assert_int_equal(n, 2);
    n = 0;
    impa_engine_set_progress(tiled, NULL, NULL);
    assert_int_equal(impa_engine_forward(tiled, in, out, err, sizeof err), 0);
    assert_int_equal(n, 0);
    impa_engine_set_progress(NULL, count_progress, &n); /* ignored */
    impa_engine_destroy(&tiled);
    impa_engine_destroy(&whole);
    free(in);
    free(out);
}

typedef struct {
    int n;
    int other_thread; /* calls from a thread other than the caller's */
    pthread_t caller;
} progress_t;

static void count_caller_progress(void *ctx)
{
    progress_t *p = ctx;
    p->n++;
    p->other_thread += !pthread_equal(pthread_self(), p->caller);
}

/* Windows run side by side, one single-threaded window engine per thread: with
 * 2 and 3 threads the output is the 1-thread engine's within 1e-5 (the im2col
 * tiles are evened out over the process's thread count, as for whole grids,
 * test_parity), and bit for bit the same on a repeat (the outputs go into the
 * grid in window order, whichever thread finishes first); overlap 0 and 6, plain
 * and advection model; the progress hook still runs once per window and only on
 * the calling thread; the workspace holds one window engine per thread. */
static void test_windows_side_by_side(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        model = models[k];
        const impa_model_info_t *mi = impa_model_info(model);
        int H = 40, W = 60, nch = impa_model_input_frames(model) * mi->n_fields;
        size_t HW = (size_t)H * W, n_out = (size_t)mi->t_out * HW;
        float *in = malloc(sizeof(float) * nch * HW), *ref = malloc(sizeof(float) * n_out);
        float *out = malloc(sizeof(float) * n_out), *again = malloc(sizeof(float) * n_out);
        assert_true(in && ref && out && again);
        fill(in, (size_t)nch * HW);
        char err[512];
        for (int ov = 0; ov <= 6; ov += 6) {
            impa_engine_t *one = NULL;
            assert_int_equal(impa_engine_create_tiled(model, H, W, 16, ov, 1, &one, err,
                                                      sizeof err), 0);
            assert_int_equal(impa_engine_forward(one, in, ref, err, sizeof err), 0);
            for (int nt = 2; nt <= 3; nt++) {
                impa_engine_t *e = NULL;
                assert_int_equal(impa_engine_create_tiled(model, H, W, 16, ov, nt, &e, err,
                                                          sizeof err), 0);
                assert_int_equal(impa_engine_threads(e), nt);
                assert_true(impa_engine_workspace_bytes(e) > impa_engine_workspace_bytes(one));
                progress_t p = {0, 0, pthread_self()};
                impa_engine_set_progress(e, count_caller_progress, &p);
                for (size_t i = 0; i < n_out; i++)
                    out[i] = NAN;
                assert_int_equal(impa_engine_forward(e, in, out, err, sizeof err), 0);
                double maxd = 0;
                for (size_t i = 0; i < n_out; i++)
                    maxd = fmax(maxd, fabs((double)out[i] - ref[i]));
                fprintf(stderr, "%s overlap %d, %d threads: max abs difference to 1 thread "
                        "%.3g\n", mi->model_name, ov, nt, maxd);
                assert_true(maxd < 1e-5);
                assert_int_equal(p.n, ov ? 24 : 12); /* 4 x 6 windows; 3 x 4 abutting */
                assert_int_equal(p.other_thread, 0);
                for (int r = 0; r < 3; r++) {
                    assert_int_equal(impa_engine_forward(e, in, again, err, sizeof err), 0);
                    assert_memory_equal(out, again, sizeof(float) * n_out);
                }
                impa_engine_destroy(&e);
            }
            impa_engine_destroy(&one);
        }
        free(in);
        free(ref);
        free(out);
        free(again);
    }
    model = models[0];
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_windows_match),
        cmocka_unit_test(test_tile_covering_grid_is_plain),
        cmocka_unit_test(test_bad_tile),
        cmocka_unit_test(test_overlap_blend),
        cmocka_unit_test(test_overlap_constant),
        cmocka_unit_test(test_bad_overlap),
        cmocka_unit_test(test_progress_hook),
        cmocka_unit_test(test_windows_side_by_side),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
