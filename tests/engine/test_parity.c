/* Parity of the C forward pass with the PyTorch reference (golden files written
 * by train/impa, tests/data/golden_{a..g}.nc + golden_{a..g}_weights.nc;
 * d is the advection-guided variant, t_in + t_out input frames; e is d with the
 * size-independent norms: norm_local = 1 over 2 groups, se_window = 3; f is d at
 * the shipped hid_s 16 on 240-pixel rows, where the AVX-512 variant runs the
 * stride-1 3x3 convolutions with the direct kernel, g the same at the daemon's
 * 80-pixel window width (the flattened kernel on 40 and 20); every golden also runs under
 * each ISA variant the CPU has), the
 * size independence of norm_local models (the centre of a crop's forecast is
 * the centre of the whole grid's), and
 * properties that need no golden: forward twice is bit-identical, 1 vs 2 threads
 * agree, normalise/forecast follow docs/model.md.
 *
 * Tolerance: max abs error <= 2e-4 in normalised units (docs/engine.md). */
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

#include "engine/engine-impl.h"
#include "impa/engine.h"
#include "testutil.h"

#define PARITY_TOL 2e-4

/* Reads variable `name` (rank `nd`, or nd+1 with a leading dimension of 1) into
 * a new buffer; the trailing nd lengths go to len. NULL if absent. */
static float *read_golden_var(int ncid, const char *name, int nd, size_t *len)
{
    int varid, ndims, dims[NC_MAX_VAR_DIMS];
    if (nc_inq_varid(ncid, name, &varid) != NC_NOERR)
        return NULL;
    nc_inq_varndims(ncid, varid, &ndims);
    nc_inq_vardimid(ncid, varid, dims);
    size_t all[NC_MAX_VAR_DIMS], n = 1;
    for (int i = 0; i < ndims; i++) {
        nc_inq_dimlen(ncid, dims[i], &all[i]);
        n *= all[i];
    }
    if (ndims != nd && !(ndims == nd + 1 && all[0] == 1))
        return NULL;
    for (int i = 0; i < nd; i++)
        len[i] = all[ndims - nd + i];
    float *buf = malloc(n * sizeof(float));
    if (buf && nc_get_var_float(ncid, varid, buf) != NC_NOERR) {
        free(buf);
        return NULL;
    }
    return buf;
}

static double max_abs(const float *a, const float *b, size_t n, double *mean)
{
    double m = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m))
            m = d;
        s += d;
    }
    if (mean)
        *mean = s / (double)n;
    return m;
}

static void test_golden(void **state)
{
    (void)state;
    const char *root = getenv("IMPA_SOURCE_ROOT");
    if (!root)
        root = ".";
    int found = 0;
    for (const char *c = "abcdefg"; *c; c++) {
        char gpath[1024], wpath[1024], err[512];
        snprintf(gpath, sizeof(gpath), "%s/tests/data/golden_%c.nc", root, *c);
        snprintf(wpath, sizeof(wpath), "%s/tests/data/golden_%c_weights.nc", root, *c);
        int ncid;
        if (nc_open(gpath, NC_NOWRITE, &ncid) != NC_NOERR) {
            printf("golden %c: %s absent, not checked\n", *c, gpath);
            continue;
        }
        found++;
        size_t il[4] = {0}, ol[3] = {0};
        float *in = read_golden_var(ncid, "input", 4, il);
        float *ref = read_golden_var(ncid, "output", 3, ol);
        nc_close(ncid);
        if (!in || !ref)
            fail_msg("%s: needs input(frame_in,field,y,x) and output(t_out,y,x)", gpath);
        impa_model_t *m = NULL;
        if (impa_model_load(wpath, &m, err, sizeof(err)) != 0)
            fail_msg("golden %c: %s", *c, err);
        const impa_model_info_t *I = impa_model_info(m);
        /* d-g exercise the advection-guided variant, e the size-independent
         * norms; a-c are the plain network */
        int adv = *c == 'd' || *c == 'e' || *c == 'f' || *c == 'g', loc = *c == 'e';
        assert_int_equal(I->advection, adv);
        assert_int_equal(I->norm_local, loc);
        assert_int_equal(I->se_window, loc ? 3 : 0);
        if (loc)
            assert_int_equal(I->norm_groups, 2); /* per-pixel statistics over a group */
        assert_int_equal(il[0], (size_t)impa_model_input_frames(m));
        assert_int_equal(impa_model_input_frames(m), I->t_in + (adv ? I->t_out : 0));
        assert_int_equal(il[1], (size_t)I->n_fields);
        assert_int_equal(ol[0], (size_t)I->t_out);
        int ny = (int)il[2], nx = (int)il[3];
        size_t nout = (size_t)I->t_out * ny * nx;
        float *out1 = malloc(nout * sizeof(float)), *out2 = malloc(nout * sizeof(float));
        impa_engine_t *e = NULL;
        /* run 3: 2 threads with the translator split over them (a golden grid is
         * below the size where it splits by default); runs 4-6: 1 thread under the
         * generic, AVX2 and AVX-512 kernel variants, those this CPU has (the
         * direct 3x3 kernel is the AVX-512 variant's), with decoder bands of one row */
        impa_isa_t best = impa_kernels_isa();
        for (int run = 1; run <= 6; run++) {
            int threads = run == 2 || run == 3 ? 2 : 1;
            impa_isa_t isa = run == 4 ? IMPA_ISA_GENERIC : run == 5 ? IMPA_ISA_AVX2 : IMPA_ISA_AVX512;
            if (run >= 4 && impa_kernels_set_isa(isa) != 0)
                continue;
            if ((*c == 'f' || *c == 'g') && run >= 4)
                assert_int_equal(impa_conv2d_direct(&m->dec_conv[2], 3, 1, 1, 1, I->hid_s, nx),
                                 isa != IMPA_ISA_GENERIC); /* AVX2 and AVX-512 kernels */
            /* the stride-2 direct kernel on golden f's 120- and 60-pixel rows and
             * golden g's 40 and 20 (enc.1, enc.2) */
            if ((*c == 'f' || *c == 'g') && run >= 4) {
                assert_int_equal(impa_conv2d_direct(&m->enc_conv[1], 3, 2, 1, 1, I->hid_s, nx / 2),
                                 isa == IMPA_ISA_AVX512);
                assert_int_equal(impa_conv2d_direct(&m->enc_conv[2], 3, 2, 1, 1, I->hid_s, nx / 4),
                                 isa == IMPA_ISA_AVX512);
            }
            if (impa_engine_create(m, ny, nx, threads, &e, err, sizeof(err)) != 0)
                fail_msg("golden %c: %s", *c, err);
            if (run == 3)
                impa_engine_set_translator_split(e, 0);
            if (run >= 4) /* the advection decoder's skip one pre row at a time (a golden
                           * grid fits one band by default) */
                impa_engine_set_decoder_band(e, 1);
            assert_int_equal(impa_engine_input_frames(e), (int)il[0]);
            float *o = run == 1 ? out1 : out2;
            assert_int_equal(impa_engine_forward(e, in, o, err, sizeof(err)), 0);
            double mean, mx = max_abs(o, ref, nout, &mean);
            printf("golden %c (%s, %dx%d, threads %d%s%s%s): max abs error %.3g, mean %.3g "
                   "(tolerance %.0e)\n", *c, I->model_name, ny, nx, threads,
                   run == 3 ? ", translator split" : "", run >= 4 ? ", kernels " : "",
                   run >= 4 ? impa_kernels_isa_name(isa) : "", mx, mean, PARITY_TOL);
            if (!(mx <= PARITY_TOL))
                fail_msg("golden %c: max abs error %g > %g", *c, mx, PARITY_TOL);
            impa_engine_destroy(&e);
            if (run >= 4)
                assert_true(max_abs(out1, o, nout, NULL) <= PARITY_TOL);
        }
        assert_int_equal(impa_kernels_set_isa(best), 0);
        assert_true(max_abs(out1, out2, nout, NULL) <= PARITY_TOL);
        free(out1);
        free(out2);
        free(in);
        free(ref);
        impa_model_destroy(&m);
    }
    if (!found)
        skip();
}

/* Engine on the small generated model; input uniform in [0,1). */
typedef struct {
    impa_model_t *m;
    float *in;
    int ny, nx;
} fixture_t;

static int setup(void **state)
{
    static fixture_t f;
    tu_config_t c = tu_small_config();
    const char *path = tu_path("parity_small.nc");
    if (tu_write_weights(path, &c, 7u) != 0)
        return -1;
    char err[512];
    if (impa_model_load(path, &f.m, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    f.ny = 24;
    f.nx = 36;
    size_t n = (size_t)c.t_in * c.n_fields * f.ny * f.nx;
    f.in = malloc(n * sizeof(float));
    uint32_t s = 99;
    for (size_t i = 0; i < n; i++)
        f.in[i] = tu_rand(&s, 0, 1);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    impa_model_destroy(&f->m);
    free(f->in);
    return 0;
}

static void test_repeat_and_threads(void **state)
{
    fixture_t *f = *state;
    const impa_model_info_t *I = impa_model_info(f->m);
    size_t nout = (size_t)I->t_out * f->ny * f->nx;
    float *a = malloc(nout * sizeof(float)), *b = malloc(nout * sizeof(float)),
          *c = malloc(nout * sizeof(float));
    impa_engine_t *e1 = NULL, *e2 = NULL;
    char err[256];
    assert_int_equal(impa_engine_create(f->m, f->ny, f->nx, 1, &e1, err, sizeof(err)), 0);
    assert_int_equal(impa_engine_threads(e1), 1);
    assert_int_equal(impa_engine_forward(e1, f->in, a, err, sizeof(err)), 0);
    assert_int_equal(impa_engine_forward(e1, f->in, b, err, sizeof(err)), 0);
    assert_memory_equal(a, b, nout * sizeof(float)); /* no state leaks between calls */
    assert_int_equal(impa_engine_create(f->m, f->ny, f->nx, 2, &e2, err, sizeof(err)), 0);
    assert_int_equal(impa_engine_forward(e2, f->in, c, err, sizeof(err)), 0);
    double mx = max_abs(a, c, nout, NULL);
    printf("threads 1 vs 2: max abs difference %.3g\n", mx);
    assert_true(mx <= 1e-5);
    /* the output is not trivial */
    double mean;
    max_abs(a, c, nout, &mean);
    float lo = a[0], hi = a[0];
    for (size_t i = 0; i < nout; i++) {
        assert_true(isfinite(a[i]));
        lo = a[i] < lo ? a[i] : lo;
        hi = a[i] > hi ? a[i] : hi;
    }
    assert_true(hi - lo > 0.1f);
    impa_engine_destroy(&e1);
    impa_engine_destroy(&e2);
    free(a);
    free(b);
    free(c);
}

static void test_normalise_forecast(void **state)
{
    fixture_t *f = *state;
    const impa_model_info_t *I = impa_model_info(f->m);
    int ny = f->ny, nx = f->nx;
    size_t hw = (size_t)ny * nx;
    impa_engine_t *e = NULL;
    char err[256];
    assert_int_equal(impa_engine_create(f->m, ny, nx, 2, &e, err, sizeof(err)), 0);
    float *dbz[2], *terrain = malloc(hw * sizeof(float));
    for (int t = 0; t < 2; t++) {
        dbz[t] = malloc(hw * sizeof(float));
        for (size_t i = 0; i < hw; i++)
            dbz[t][i] = -10.0f + 90.0f * (float)i / (float)hw; /* -10 .. 80 dBZ */
    }
    dbz[1][5] = NAN;
    dbz[0][7] = NAN;
    for (size_t i = 0; i < hw; i++)
        terrain[i] = (float)i * 10.0f - 500.0f;
    const float *statics[4] = {NULL, NULL, terrain, NULL};
    size_t nin = (size_t)I->t_in * I->n_fields * hw;
    float *in = malloc(nin * sizeof(float));
    assert_int_equal(impa_engine_normalise(e, (const float *const *)dbz, statics, in, err,
                                           sizeof(err)), 0);
    for (int t = 0; t < 2; t++) {
        const float *refl = in + ((size_t)t * 4 + 0) * hw, *rate = in + ((size_t)t * 4 + 1) * hw;
        const float *ter = in + ((size_t)t * 4 + 2) * hw, *wind = in + ((size_t)t * 4 + 3) * hw;
        for (size_t i = 0; i < hw; i++) {
            float d = dbz[t][i];
            double r = 0, er = 0;
            if (!isnan(d)) {
                er = fmin(fmax(d / 70.0, 0.0), 1.0);
                if (d >= 0)
                    r = pow(pow(10.0, d / 10.0) / 200.0, 1.0 / 1.6);
            }
            double en = fmin(fmax(log10(1.0 + r) / 2.0, 0.0), 1.0);
            double et = fmin(fmax(terrain[i] / 3000.0, -0.1), 1.0);
            assert_float_equal(refl[i], er, 1e-6);
            assert_float_equal(rate[i], en, 1e-5);
            assert_float_equal(ter[i], et, 1e-6);
            assert_float_equal(wind[i], 0.0f, 0);
        }
    }

    /* forecast = clamp(forward(normalise(dbz)), 0, 1) * 70, NaN where the last frame is */
    size_t nout = (size_t)I->t_out * hw;
    float *y = malloc(nout * sizeof(float)), *fc = malloc(nout * sizeof(float));
    assert_int_equal(impa_engine_forward(e, in, y, err, sizeof(err)), 0);
    assert_int_equal(impa_engine_forecast(e, (const float *const *)dbz, statics, fc, err,
                                          sizeof(err)), 0);
    int clamped = 0;
    for (int t = 0; t < I->t_out; t++) {
        for (size_t i = 0; i < hw; i++) {
            float v = fc[(size_t)t * hw + i], yy = y[(size_t)t * hw + i];
            if (i == 5) {
                assert_true(isnan(v));
                continue;
            }
            double ex = fmin(fmax(yy, 0.0), 1.0) * 70.0;
            assert_float_equal(v, ex, 1e-4);
            clamped += yy < 0 || yy > 1;
        }
    }
    assert_true(isfinite(fc[7])); /* NaN in an older frame does not mask */
    printf("forecast: %d of %zu values clamped\n", clamped, nout);
    impa_engine_destroy(&e);
    for (int t = 0; t < 2; t++)
        free(dbz[t]);
    free(terrain);
    free(in);
    free(y);
    free(fc);
}

/* Forward of `e` on the window (y0, x0, ch x cw) of in [nch][H][W]; out
 * [t_out][ch][cw]. */
static void crop_forward(const impa_model_t *m, const float *in, int nch, int H, int W,
                         int y0, int x0, int ch, int cw, float *out)
{
    char err[256];
    impa_engine_t *e = NULL;
    if (impa_engine_create(m, ch, cw, 1, &e, err, sizeof err))
        fail_msg("%s", err);
    float *ci = malloc((size_t)nch * ch * cw * sizeof(float));
    for (int c = 0; c < nch; c++)
        for (int y = 0; y < ch; y++)
            memcpy(ci + ((size_t)c * ch + y) * cw, in + ((size_t)c * H + y0 + y) * W + x0,
                   (size_t)cw * sizeof(float));
    assert_int_equal(impa_engine_forward(e, ci, out, err, sizeof err), 0);
    free(ci);
    impa_engine_destroy(&e);
}

/* Max abs difference between the forecast of the window (y0, x0, CH x CW) of an
 * H x W input and the whole grid's forecast, on the cn x cn pixels of the window
 * starting at (c0, c0) inside it; *spread: the largest difference of the window's
 * forecast there from its value at (c0, c0) (the forecast is not constant). The
 * input has rain in the window only: the grid is mostly dry, as a radar composite
 * is and an 80 px training crop is not. */
static double crop_vs_grid(const tu_config_t *c, uint32_t seed, int H, int W, int y0, int x0,
                           int CH, int CW, int c0, int cn, double *spread)
{
    const char *path = tu_path("size_independent.nc");
    assert_int_equal(tu_write_weights(path, c, seed), 0);
    char err[256];
    impa_model_t *m = NULL;
    if (impa_model_load(path, &m, err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(impa_model_info(m)->norm_local, c->norm_local);
    assert_int_equal(impa_model_info(m)->se_window, c->se_window);
    int nch = c->t_in * c->n_fields;
    size_t n = (size_t)nch * H * W;
    float *in = malloc(n * sizeof(float));
    uint32_t s = 2024;
    for (int k = 0; k < nch; k++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int inside = y >= y0 && y < y0 + CH && x >= x0 && x < x0 + CW;
                float v = tu_rand(&s, 0, 1);
                in[((size_t)k * H + y) * W + x] = inside ? v : 0.05f * v;
            }
    float *full = malloc((size_t)c->t_out * H * W * sizeof(float));
    float *crop = malloc((size_t)c->t_out * CH * CW * sizeof(float));
    crop_forward(m, in, nch, H, W, 0, 0, H, W, full);
    crop_forward(m, in, nch, H, W, y0, x0, CH, CW, crop);
    double mx = 0;
    *spread = 0;
    for (int t = 0; t < c->t_out; t++)
        for (int y = c0; y < c0 + cn; y++)
            for (int x = c0; x < c0 + cn; x++) {
                float a = crop[((size_t)t * CH + y) * CW + x];
                float b = full[((size_t)t * H + y0 + y) * W + x0 + x];
                mx = fmax(mx, fabs((double)a - b));
                *spread = fmax(*spread, fabs((double)a - crop[((size_t)t * CH + c0) * CW + c0]));
            }
    printf("norm_local %d, se_window %d, hid_s %d, hid_t %d, %d blocks: centre %dx%d of the "
           "%dx%d crop vs the %dx%d grid: max abs difference %.3g (output spread %.3g)\n",
           c->norm_local, c->se_window, c->hid_s, c->hid_t, c->n_blocks, cn, cn, CH, CW, H, W,
           mx, *spread);
    free(in);
    free(full);
    free(crop);
    impa_model_destroy(&m);
    return mx;
}

/* Size independence (issue 3): with norm_local = 1 and se_window > 0 no
 * statistic spans the grid, so a pixel's forecast depends only on the input
 * within the receptive field.
 * - small config, 2 groups, se_window 3: the forecast of the whole 192x192 grid
 *   and of its 96x96 crop [48:144] agree on the crop's centre 16x16 (40 px from
 *   the crop's border; the receptive field is ~40 px). The same weights with
 *   GroupNorm over the grid (no norm_local/se_window attributes) do not: that is
 *   the seam the variant removes.
 * - the lead's PyTorch check, in C: hid_s 16, hid_t 64, 2 blocks, branches 3,5,7
 *   dilations 1,2,3, one group (LayerNorm), se_window 11; 320x320 grid vs its
 *   [40:280] crop, centre 20x20 of the crop (PyTorch: 8e-7). */
static void test_size_independent(void **state)
{
    (void)state;
    double spread, d;
    tu_config_t c = tu_small_config();
    c.norm_groups = 2;
    c.norm_local = 1;
    c.se_window = 3;
    d = crop_vs_grid(&c, 11u, 192, 192, 48, 48, 96, 96, 40, 16, &spread);
    assert_true(spread > 0.05);
    assert_true(d <= 1e-5);
    c.norm_local = 0; /* same weights, GroupNorm and the grid-mean SE */
    c.se_window = 0;
    d = crop_vs_grid(&c, 11u, 192, 192, 48, 48, 96, 96, 40, 16, &spread);
    assert_true(spread > 0.05);
    assert_true(d > 1e-3);

    tu_config_t wide = tu_default_config();
    wide.t_out = 3;
    wide.norm_groups = 1;
    wide.norm_local = 1;
    wide.se_window = 11;
    d = crop_vs_grid(&wide, 12u, 320, 320, 40, 40, 240, 240, 110, 20, &spread);
    assert_true(spread > 0.05);
    assert_true(d <= 1e-5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_repeat_and_threads),
        cmocka_unit_test(test_normalise_forecast),
        cmocka_unit_test(test_size_independent),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
