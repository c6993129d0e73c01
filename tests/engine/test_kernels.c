/* Each kernel of src/engine/kernels.c against a naive reference computed here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine-impl.h"
#include "testutil.h"

static float *rnd(size_t n, uint32_t seed, float lo, float hi)
{
    float *x = malloc(n * sizeof(float));
    assert_non_null(x);
    for (size_t i = 0; i < n; i++)
        x[i] = tu_rand(&seed, lo, hi);
    return x;
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m))
            m = d; /* NaN propagates as a failure */
    }
    return m;
}

/* Direct convolution with groups, stride, padding and dilation, in double. */
/* The norm kernels' epilogue in double: mode 0 plain, 1 SiLU, 2 SiLU + add. */
static double norm_epilogue(double y, int mode, float add)
{
    if (mode >= 1)
        y = y / (1.0 + exp(-y));
    if (mode == 2)
        y += add;
    return y;
}

static void naive_conv(const float *in, int cin, int hin, int win, float *out, int cout,
                       const float *w, const float *b, int k, int stride, int pad, int dil,
                       int groups)
{
    int hout = (hin + 2 * pad - dil * (k - 1) - 1) / stride + 1;
    int wout = (win + 2 * pad - dil * (k - 1) - 1) / stride + 1;
    int cpg = cin / groups, opg = cout / groups;
    for (int co = 0; co < cout; co++) {
        int g = co / opg;
        for (int oy = 0; oy < hout; oy++) {
            for (int ox = 0; ox < wout; ox++) {
                double s = b[co];
                for (int ci = 0; ci < cpg; ci++) {
                    for (int ky = 0; ky < k; ky++) {
                        for (int kx = 0; kx < k; kx++) {
                            int iy = oy * stride - pad + ky * dil;
                            int ix = ox * stride - pad + kx * dil;
                            if (iy < 0 || iy >= hin || ix < 0 || ix >= win)
                                continue;
                            s += (double)w[((co * cpg + ci) * k + ky) * k + kx] *
                                 in[((size_t)(g * cpg + ci) * hin + iy) * win + ix];
                        }
                    }
                }
                out[((size_t)co * hout + oy) * wout + ox] = (float)s;
            }
        }
    }
}

typedef struct {
    int cin, cout, h, w, k, stride, pad, dil;
} conv_case_t;

static void test_conv2d(void **state)
{
    (void)state;
    impa_kernels_set_threads(2);
    const conv_case_t cases[] = {
        {4, 16, 20, 24, 3, 1, 1, 1},   /* enc.0 */
        {16, 16, 20, 24, 3, 2, 1, 1},  /* enc.1, stride 2 */
        {8, 32, 9, 11, 3, 2, 1, 1},    /* odd sides */
        {6, 5, 13, 12, 5, 1, 4, 2},    /* dilated */
        {7, 3, 10, 10, 3, 3, 0, 1},    /* stride 3, no padding */
        {12, 20, 7, 9, 1, 1, 0, 1},    /* 1x1, GEMM without im2col */
        {16, 4, 6, 3000, 3, 1, 1, 1},  /* wide: several im2col tiles of one row */
        /* the direct kernels' shapes (AVX-512, packed weights, cout % 16 == 0). By
         * rows (rows fill 16-wide vectors to >= 90 %): masked tails, one- and
         * two-row planes, a one-vector row, several tiles and output-channel
         * blocks; over the flattened plane (the others): the windows' 20 and 40
         * pixel rows, a one-row plane, blocks across several row ends */
        {4, 16, 7, 15, 3, 1, 1, 1},
        {16, 64, 5, 31, 3, 1, 1, 1},
        {3, 32, 1, 47, 3, 1, 1, 1},
        {8, 16, 2, 16, 3, 1, 1, 1},
        {16, 16, 9, 80, 3, 1, 1, 1},
        {16, 32, 40, 512, 3, 1, 1, 1},
        {16, 16, 4, 33, 3, 1, 1, 1},
        {16, 64, 20, 20, 3, 1, 1, 1},
        {16, 64, 6, 40, 3, 1, 1, 1},
        {4, 16, 1, 20, 3, 1, 1, 1},
        {5, 16, 9, 7, 3, 1, 1, 1},
        /* the stride-2 direct kernel (any row width; also cases 1 and 2): several
         * tiles (its scratch rows kept from tile to tile, and over the threads),
         * odd sides (the right and bottom padding), one output row from one and
         * from two input rows, two output-channel blocks */
        {16, 16, 40, 256, 3, 2, 1, 1},
        {16, 32, 7, 61, 3, 2, 1, 1},
        {4, 16, 2, 32, 3, 2, 1, 1},
        {4, 16, 1, 32, 3, 2, 1, 1},
        {8, 16, 9, 64, 3, 2, 1, 1},
    };
    int n_direct = 0;
    for (size_t cp = 0; cp < 2 * sizeof(cases) / sizeof(cases[0]); cp++) {
        /* each case twice: weights as loaded, then also packed (the direct kernel
         * where impa_conv2d_direct allows it) */
        size_t c = cp / 2;
        int packed = (int)(cp % 2);
        const conv_case_t *t = &cases[c];
        int ho = impa_conv_out_size(t->h, t->k, t->stride, t->pad, t->dil);
        int wo = impa_conv_out_size(t->w, t->k, t->stride, t->pad, t->dil);
        size_t nin = (size_t)t->cin * t->h * t->w, nout = (size_t)t->cout * ho * wo;
        float *in = rnd(nin, 1 + (uint32_t)c, -1, 1);
        float *w = rnd((size_t)t->cout * t->cin * t->k * t->k, 7, -0.5f, 0.5f);
        float *b = rnd((size_t)t->cout, 9, -1, 1);
        float *ref = malloc(nout * sizeof(float)), *out = malloc(nout * sizeof(float));
        size_t ncol = impa_conv2d_col_floats(t->cin, t->h, t->w, t->k, t->stride, t->pad,
                                             t->dil);
        float *col = malloc((ncol * (size_t)impa_kernels_threads() + 1) * sizeof(float));
        naive_conv(in, t->cin, t->h, t->w, ref, t->cout, w, b, t->k, t->stride, t->pad, t->dil,
                   1);
        size_t kk = (size_t)t->cin * t->k * t->k;
        float *wt = malloc(kk * t->cout * sizeof(float));
        impa_conv_pack(w, t->cout, (int)kk, wt);
        impa_conv_param_t p = {w, b, packed ? wt : NULL};
        int direct = impa_conv2d_direct(&p, t->k, t->stride, t->pad, t->dil, t->cout, wo);
        assert_true(!direct || packed);
        n_direct += direct;
        impa_conv2d(in, t->cin, t->h, t->w, out, t->cout, &p, t->k, t->stride, t->pad, t->dil,
                    col, 0);
        double e = max_abs_diff(out, ref, nout);
        if (e > 1e-4)
            fail_msg("conv case %zu%s: max abs error %g", c, direct ? " (direct)" : "", e);
        /* accumulate: out += conv(in) */
        impa_conv2d(in, t->cin, t->h, t->w, out, t->cout, &p, t->k, t->stride, t->pad, t->dil,
                    col, 1);
        for (size_t i = 0; i < nout; i++)
            ref[i] *= 2.0f;
        e = max_abs_diff(out, ref, nout);
        if (e > 2e-4)
            fail_msg("conv case %zu%s accumulate: max abs error %g", c, direct ? " (direct)" : "",
                     e);
        /* impa_conv2d_stats: the same output, and per channel the mean and sum of
         * squared deviations of its plane (computed here in double from the naive
         * output), on the tiles in order (serial: the engine's workers) and over
         * the threads (the statistics afterwards) */
        for (size_t i = 0; i < nout; i++)
            ref[i] *= 0.5f;
        int plane = ho * wo;
        for (int serial = 0; serial < 2; serial++) {
            double mean[64], m2[64];
            impa_kernels_serial(serial);
            impa_conv2d_stats(in, t->cin, t->h, t->w, out, t->cout, &p, t->k, t->stride, t->pad,
                              t->dil, col, mean, m2);
            impa_kernels_serial(0);
            e = max_abs_diff(out, ref, nout);
            if (e > 1e-4)
                fail_msg("conv_stats case %zu serial %d: max abs error %g", c, serial, e);
            for (int ch = 0; ch < t->cout; ch++) {
                double s = 0, q = 0;
                for (int i = 0; i < plane; i++)
                    s += ref[(size_t)ch * plane + i];
                s /= plane;
                for (int i = 0; i < plane; i++)
                    q += (ref[(size_t)ch * plane + i] - s) * (ref[(size_t)ch * plane + i] - s);
                if (fabs(mean[ch] - s) > 1e-5 * (1 + fabs(s)) || fabs(m2[ch] - q) > 1e-4 * (1 + q))
                    fail_msg("conv_stats case %zu serial %d channel %d: mean %g / %g, m2 %g / %g",
                             c, serial, ch, mean[ch], s, m2[ch], q);
            }
            /* the norm from those statistics == impa_groupnorm on the output */
            if (t->cout % 4 == 0) {
                float *gw = rnd((size_t)t->cout, 41, 0.5f, 1.5f);
                float *gb = rnd((size_t)t->cout, 42, -0.5f, 0.5f);
                float *g1 = malloc(nout * sizeof(float)), *g2 = malloc(nout * sizeof(float));
                impa_norm_param_t np = {gw, gb};
                impa_groupnorm(out, g1, t->cout, plane, 4, 1e-5f, &np, IMPA_ACT_SILU, NULL);
                memcpy(g2, out, nout * sizeof(float));
                impa_groupnorm_apply(g2, g2, t->cout, plane, 4, 1e-5f, &np, IMPA_ACT_SILU,
                                     NULL, mean, m2);
                e = max_abs_diff(g1, g2, nout);
                if (e > 1e-5)
                    fail_msg("groupnorm_apply case %zu: max abs error %g", c, e);
                free(gw);
                free(gb);
                free(g1);
                free(g2);
            }
        }
        free(in);
        free(w);
        free(wt);
        free(b);
        free(ref);
        free(out);
        free(col);
    }
    printf("conv2d: %d cases on the direct kernel (kernels %s)\n", n_direct,
           impa_kernels_isa_name(impa_kernels_isa()));
    if (impa_kernels_isa() == IMPA_ISA_AVX2)
        assert_int_equal(n_direct, 12); /* the stride-1 3x3 cases with cout % 8 == 0 */
    if (impa_kernels_isa() == IMPA_ISA_AVX512)
        assert_int_equal(n_direct, 19); /* the last 16 cases, enc.0 and both stride-2 cases
                                         * with cout % 16 == 0 */
}

static void test_dwconv(void **state)
{
    (void)state;
    const int ks[] = {3, 5, 7, 3}, ds[] = {1, 2, 3, 4};
    int c = 6, h = 13, w = 17;
    size_t n = (size_t)c * h * w;
    float *in = rnd(n, 3, -1, 1);
    float *acc = calloc(n, sizeof(float)), *ref = malloc(n * sizeof(float)),
          *sum = calloc(n, sizeof(float));
    for (int j = 0; j < 4; j++) {
        float *wt = rnd((size_t)c * ks[j] * ks[j], 11 + (uint32_t)j, -1, 1);
        float *b = rnd((size_t)c, 21 + (uint32_t)j, -1, 1);
        int pad = ds[j] * (ks[j] - 1) / 2;
        naive_conv(in, c, h, w, ref, c, wt, b, ks[j], 1, pad, ds[j], c);
        for (size_t i = 0; i < n; i++)
            sum[i] += ref[i];
        impa_conv_param_t p = {wt, b, NULL};
        impa_dwconv2d(in, acc, c, h, w, &p, ks[j], ds[j], j > 0);
        double e = max_abs_diff(acc, sum, n);
        if (e > 1e-4)
            fail_msg("depthwise k=%d d=%d: max abs error %g", ks[j], ds[j], e);
        free(wt);
        free(b);
    }
    free(in);
    free(acc);
    free(ref);
    free(sum);
}

static void test_groupnorm(void **state)
{
    (void)state;
    int c = 16, hw = 37 * 41, groups = 4;
    size_t n = (size_t)c * hw;
    float *in = rnd(n, 5, -3, 5), *add = rnd(n, 6, -1, 1);
    float *gw = rnd((size_t)c, 7, 0.5f, 1.5f), *gb = rnd((size_t)c, 8, -0.5f, 0.5f);
    for (int i = 0; i < c * hw; i += hw)
        in[i] += 3.0f * (float)(i / hw); /* different statistics per channel */
    float *out = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float));
    impa_norm_param_t p = {gw, gb};
    for (int mode = 0; mode < 3; mode++) {
        int cg = c / groups;
        for (int g = 0; g < groups; g++) {
            double s = 0, q = 0, m = (double)cg * hw;
            for (size_t i = (size_t)g * cg * hw; i < (size_t)(g + 1) * cg * hw; i++)
                s += in[i];
            double mean = s / m;
            for (size_t i = (size_t)g * cg * hw; i < (size_t)(g + 1) * cg * hw; i++)
                q += (in[i] - mean) * (in[i] - mean);
            double inv = 1.0 / sqrt(q / m + 1e-5);
            for (size_t i = (size_t)g * cg * hw; i < (size_t)(g + 1) * cg * hw; i++) {
                int ch = (int)(i / (size_t)hw);
                ref[i] = (float)norm_epilogue((in[i] - mean) * inv * gw[ch] + gb[ch], mode,
                                              mode == 2 ? add[i] : 0.0f);
            }
        }
        impa_groupnorm(in, out, c, hw, groups, 1e-5f, &p,
                       mode >= 1 ? IMPA_ACT_SILU : IMPA_ACT_NONE, mode == 2 ? add : NULL);
        double e = max_abs_diff(out, ref, n);
        if (e > 1e-5)
            fail_msg("groupnorm mode %d: max abs error %g", mode, e);
    }
    /* in place gives the same result */
    memcpy(out, in, n * sizeof(float));
    impa_groupnorm(out, out, c, hw, groups, 1e-5f, &p, IMPA_ACT_SILU, add);
    assert_true(max_abs_diff(out, ref, n) < 1e-5);
    free(in);
    free(add);
    free(gw);
    free(gb);
    free(out);
    free(ref);
}

static void test_activations(void **state)
{
    (void)state;
    size_t n = 40001;
    float *x = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float)),
          *s = malloc(n * sizeof(float)), *v = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        x[i] = g[i] = s[i] = -10.0f + 20.0f * (float)i / (float)(n - 1);
    for (size_t i = 0; i < n; i++)
        v[i] = 0.5f - (float)(i % 7) * 0.1f;
    impa_gelu(g, n);
    impa_silu(s, n);
    double eg = 0, es = 0;
    for (size_t i = 0; i < n; i++) {
        double xd = x[i];
        double gr = 0.5 * xd * (1.0 + erf(xd / sqrt(2.0)));
        double sr = xd / (1.0 + exp(-xd));
        eg = fmax(eg, fabs(gr - g[i]));
        es = fmax(es, fabs(sr - s[i]));
    }
    assert_true(eg < 1e-5);
    assert_true(es < 1e-5);
    /* GELU(1) = 0.8413447, exact erf form, not the tanh approximation */
    float one = 1.0f;
    impa_gelu(&one, 1);
    assert_float_equal(one, 0.8413447f, 1e-6);
    memcpy(s, x, n * sizeof(float));
    impa_sigmoid(s, n);
    memcpy(g, x, n * sizeof(float));
    impa_gate(v, g, n);
    for (size_t i = 0; i < n; i++) {
        double sr = 1.0 / (1.0 + exp(-(double)x[i]));
        assert_true(fabs(sr - s[i]) < 1e-6);
        assert_true(fabs(v[i] * sr - g[i]) < 1e-6);
    }
    free(x);
    free(g);
    free(s);
    free(v);
}

/* PyTorch definitions: shuffle out[c][y*r+i][x*r+j] = in[c*r*r + i*r + j][y][x]. */
static void naive_shuffle(const float *in, float *out, int c, int h, int w, int r)
{
    for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < r; i++)
            for (int j = 0; j < r; j++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                        out[((size_t)ch * h * r + y * r + i) * w * r + x * r + j] =
                            in[(((size_t)ch * r * r + i * r + j) * h + y) * w + x];
}

static void naive_unshuffle(const float *in, float *out, int c, int h, int w, int r)
{
    int ho = h / r, wo = w / r;
    for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < r; i++)
            for (int j = 0; j < r; j++)
                for (int y = 0; y < ho; y++)
                    for (int x = 0; x < wo; x++)
                        out[(((size_t)ch * r * r + i * r + j) * ho + y) * wo + x] =
                            in[((size_t)ch * h + y * r + i) * w + x * r + j];
}

static void test_pixel_shuffle(void **state)
{
    (void)state;
    int c = 3, h = 5, w = 7, r = 2;
    size_t n = (size_t)c * r * r * h * w;
    float *in = rnd(n, 13, -1, 1), *a = malloc(n * sizeof(float)),
          *b = malloc(n * sizeof(float)), *back = malloc(n * sizeof(float));
    naive_shuffle(in, a, c, h, w, r);
    impa_pixel_shuffle(in, b, c, h, w, r);
    assert_memory_equal(a, b, n * sizeof(float));
    naive_unshuffle(a, back, c, h * r, w * r, r);
    impa_pixel_unshuffle(a, b, c, h * r, w * r, r);
    assert_memory_equal(back, b, n * sizeof(float));
    assert_memory_equal(in, b, n * sizeof(float));
    free(in);
    free(a);
    free(b);
    free(back);
}

/* docs/model.md step 1 literally: unshuffle(2), out[k*C + c] = in[c*4 + k], shuffle(2). */
static void naive_mixer(const float *in, float *out, int c, int h, int w)
{
    size_t plane = (size_t)(h / 2) * (w / 2);
    float *u = malloc(4 * c * plane * sizeof(float)), *p = malloc(4 * c * plane * sizeof(float));
    naive_unshuffle(in, u, c, h, w, 2);
    for (int k = 0; k < 4; k++)
        for (int ch = 0; ch < c; ch++)
            memcpy(p + (size_t)(k * c + ch) * plane, u + (size_t)(ch * 4 + k) * plane,
                   plane * sizeof(float));
    naive_shuffle(p, out, c, h / 2, w / 2, 2);
    free(u);
    free(p);
}

static void test_mixer(void **state)
{
    (void)state;
    /* rows of one vector with a tail, and (AVX-512: 16 columns per step) of
     * several vectors and a tail */
    const int cs[] = {4, 3, 1, 5, 4, 3};
    for (int t = 0; t < 6; t++) {
        int c = cs[t], h = 6, w = t < 4 ? 10 : 38;
        size_t n = (size_t)c * h * w;
        float *in = rnd(n, 17, -1, 1), *ref = malloc(n * sizeof(float)),
              *out = malloc(n * sizeof(float)), *back = malloc(n * sizeof(float));
        naive_mixer(in, ref, c, h, w);
        impa_mixer(in, out, c, h, w);
        assert_memory_equal(ref, out, n * sizeof(float));
        /* by row bands (enc.0's input producer), an odd band first */
        memset(out, 0, n * sizeof(float));
        impa_mixer_rows(in, out, c, h, w, 0, 1);
        impa_mixer_rows(in, out, c, h, w, 1, 4);
        impa_mixer_rows(in, out, c, h, w, 4, h);
        assert_memory_equal(ref, out, n * sizeof(float));
        impa_mixer_inverse(out, back, c, h, w);
        assert_memory_equal(in, back, n * sizeof(float));
        free(in);
        free(ref);
        free(out);
        free(back);
    }
    /* C = 4: a transpose of field and sub-pixel: mixed channel 1 at sub-pixel 0
     * (top-left) holds field 0 from sub-pixel 1 (top-right). */
    float x[4 * 2 * 2], y[4 * 2 * 2];
    for (int i = 0; i < 16; i++)
        x[i] = (float)i; /* value = field*4 + subpixel */
    impa_mixer(x, y, 4, 2, 2);
    for (int cm = 0; cm < 4; cm++)
        for (int k = 0; k < 4; k++)
            assert_float_equal(y[cm * 4 + k], (float)(k * 4 + cm), 0);
}

static void test_se_mean(void **state)
{
    (void)state;
    int t = 8, tr = 2, hw = 50;
    float *c = rnd((size_t)t * hw, 23, -1, 1), *u = rnd((size_t)t * hw, 24, -1, 1);
    float *u0 = malloc((size_t)t * hw * sizeof(float));
    memcpy(u0, u, (size_t)t * hw * sizeof(float));
    float *w1 = rnd((size_t)tr * t, 25, -1, 1), *b1 = rnd((size_t)tr, 26, -1, 1);
    float *w2 = rnd((size_t)t * tr, 27, -1, 1), *b2 = rnd((size_t)t, 28, -1, 1);
    float mean[8], scratch[2 * 8 + 2];
    impa_mean_hw(c, mean, t, hw);
    double pooled[8], hid[2];
    for (int ch = 0; ch < t; ch++) {
        double s = 0;
        for (int i = 0; i < hw; i++)
            s += c[ch * hw + i];
        pooled[ch] = s / hw;
        assert_float_equal(mean[ch], pooled[ch], 1e-6);
    }
    for (int j = 0; j < tr; j++) {
        double s = b1[j];
        for (int ch = 0; ch < t; ch++)
            s += w1[j * t + ch] * pooled[ch];
        hid[j] = s / (1 + exp(-s));
    }
    impa_conv_param_t p1 = {w1, b1, NULL}, p2 = {w2, b2, NULL};
    impa_se(c, u, t, tr, hw, &p1, &p2, scratch);
    for (int ch = 0; ch < t; ch++) {
        double s = b2[ch];
        for (int j = 0; j < tr; j++)
            s += w2[ch * tr + j] * hid[j];
        double g = 1 / (1 + exp(-s));
        for (int i = 0; i < hw; i++)
            assert_float_equal(u[ch * hw + i], u0[ch * hw + i] + c[ch * hw + i] * g, 1e-5);
    }
    free(c);
    free(u);
    free(u0);
    free(w1);
    free(b1);
    free(w2);
    free(b2);
}

/* fused pixel_shuffle(2) + GroupNorm (+ SiLU) (+ add) == the two kernels in
 * turn; modes 2 and 3 add in place (add == out, the decoder's skip) */
static void test_groupnorm_shuffle(void **state)
{
    (void)state;
    int c = 8, h = 9, w = 13, groups = 4;
    size_t n = (size_t)4 * c * h * w;
    float *pre = rnd(n, 31, -2, 3), *add = rnd(n, 32, -1, 1);
    float *gw = rnd((size_t)c, 33, 0.5f, 1.5f), *gb = rnd((size_t)c, 34, -0.5f, 0.5f);
    float *sh = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float)),
          *out = malloc(n * sizeof(float));
    impa_norm_param_t p = {gw, gb};
    for (int mode = 0; mode < 4; mode++) {
        impa_act_t act = mode == 1 || mode == 3 ? IMPA_ACT_SILU : IMPA_ACT_NONE;
        const float *ra = mode == 0 ? NULL : add;
        naive_shuffle(pre, sh, c, h, w, 2);
        impa_groupnorm(sh, ref, c, 4 * h * w, groups, 1e-5f, &p, act, ra);
        if (mode >= 2) {
            memcpy(out, add, n * sizeof(float));
            impa_groupnorm_shuffle2(pre, out, c, h, w, groups, 1e-5f, &p, act, out);
        } else {
            impa_groupnorm_shuffle2(pre, out, c, h, w, groups, 1e-5f, &p, act, ra);
        }
        double e = max_abs_diff(out, ref, n);
        if (e > 1e-5)
            fail_msg("groupnorm_shuffle2 mode %d: max abs error %g", mode, e);
        /* _apply with the pre planes' statistics (here from a 1x1 identity conv) */
        double mean[32], m2[32];
        float *idw = calloc((size_t)16 * c * c, sizeof(float)), *idb = calloc((size_t)4 * c, 4);
        float *pre2 = malloc(n * sizeof(float));
        for (int k = 0; k < 4 * c; k++)
            idw[(size_t)k * 4 * c + k] = 1.0f;
        impa_conv_param_t idp = {idw, idb, NULL};
        impa_conv2d_stats(pre, 4 * c, h, w, pre2, 4 * c, &idp, 1, 1, 0, 1, NULL, mean, m2);
        if (mode >= 2)
            memcpy(out, add, n * sizeof(float));
        impa_groupnorm_shuffle2_apply(pre2, out, c, h, w, groups, 1e-5f, &p, act,
                                      mode >= 2 ? out : ra, NULL, mean, m2);
        e = max_abs_diff(out, ref, n);
        if (e > 1e-5)
            fail_msg("groupnorm_shuffle2_apply mode %d: max abs error %g", mode, e);
        /* the add normalised on read (add_pre: its own affine, + SiLU or not), in
         * place (the decoder's raw skip), whole planes and by row bands
         * (impa_shuffle2_apply_rows with the affine of impa_groupnorm_shuffle2_affine) */
        if (mode >= 1) {
            float *asc = rnd((size_t)c, 35, 0.5f, 1.5f), *ash = rnd((size_t)c, 36, -0.5f, 0.5f);
            float *ref2 = malloc(n * sizeof(float));
            for (int asilu = 0; asilu <= 1; asilu++) {
                impa_pre_t ap = {asc, ash, asilu};
                size_t cp = n / (size_t)c;
                for (size_t i = 0; i < n; i++) {
                    int ch = (int)(i / cp);
                    double a = (double)add[i] * asc[ch] + ash[ch];
                    ref2[i] = (float)((double)ref[i] - add[i] + norm_epilogue(a, asilu, 0.0f));
                }
                memcpy(out, add, n * sizeof(float));
                impa_groupnorm_shuffle2_apply(pre2, out, c, h, w, groups, 1e-5f, &p, act, out, &ap,
                                              mean, m2);
                e = max_abs_diff(out, ref2, n);
                if (e > 1e-5)
                    fail_msg("groupnorm_shuffle2_apply mode %d, add normalised (silu %d): max abs "
                             "error %g", mode, asilu, e);
                float scale[8], shift[8];
                impa_groupnorm_shuffle2_affine(mean, m2, c, groups, h * w, 1e-5f, &p, scale, shift);
                memcpy(out, add, n * sizeof(float));
                const int bands[] = {0, 1, 4, h};
                for (int b = 0; b < 3; b++)
                    impa_shuffle2_apply_rows(pre2, out, c, h, w, scale, shift, act, out, &ap,
                                             bands[b], bands[b + 1]);
                e = max_abs_diff(out, ref2, n);
                if (e > 1e-5)
                    fail_msg("shuffle2_apply_rows mode %d (silu %d): max abs error %g", mode, asilu,
                             e);
            }
            free(asc);
            free(ash);
            free(ref2);
        }
        free(idw);
        free(idb);
        free(pre2);
    }
    free(pre);
    free(add);
    free(gw);
    free(gb);
    free(sh);
    free(ref);
    free(out);
}

/* Per-pixel GroupNorm against a direct double computation: statistics over
 * each group's channels at one pixel (groups 1: LayerNorm; 2, 4; in place), a
 * pixel count that is not a multiple of the kernel's block. Tolerance per
 * element: float32 rounds x - mean to ~1e-7 |x|, and the norm multiplies that
 * by 1 / sqrt(var + eps), large where a group's few channels nearly agree (the
 * conditioning of the operation, PyTorch's float32 has it as well). */
static void test_groupnorm_local(void **state)
{
    (void)state;
    int c = 8, hw = 23 * 29;
    size_t n = (size_t)c * hw;
    float *in = rnd(n, 41, -3, 5), *add = rnd(n, 42, -1, 1);
    float *gw = rnd((size_t)c, 43, 0.5f, 1.5f), *gb = rnd((size_t)c, 44, -0.5f, 0.5f);
    for (size_t i = 0; i < n; i += 7)
        in[i] *= 10.0f; /* large values: per-pixel statistics differ a lot */
    float *out = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float));
    double *tol = malloc(n * sizeof(double));
    impa_norm_param_t p = {gw, gb};
    const int groups_list[3] = {1, 2, 4};
    for (int gi = 0; gi < 3; gi++) {
        int groups = groups_list[gi], cg = c / groups;
        for (int mode = 0; mode < 3; mode++) {
            for (int g = 0; g < groups; g++) {
                for (int i = 0; i < hw; i++) {
                    double s = 0, q = 0, big = 0;
                    for (int k = 0; k < cg; k++) {
                        s += in[(size_t)(g * cg + k) * hw + i];
                        big = fmax(big, fabs(in[(size_t)(g * cg + k) * hw + i]));
                    }
                    double mean = s / cg;
                    for (int k = 0; k < cg; k++) {
                        double d = in[(size_t)(g * cg + k) * hw + i] - mean;
                        q += d * d;
                    }
                    double inv = 1.0 / sqrt(q / cg + 1e-5);
                    for (int k = 0; k < cg; k++) {
                        int ch = g * cg + k;
                        size_t j = (size_t)ch * hw + i;
                        ref[j] = (float)norm_epilogue((in[j] - mean) * inv * gw[ch] + gb[ch],
                                                      mode, mode == 2 ? add[j] : 0.0f);
                        tol[j] = 2e-6 + 1e-6 * big * inv * gw[ch];
                    }
                }
            }
            impa_groupnorm_local(in, out, c, hw, groups, 1e-5f, &p,
                                 mode >= 1 ? IMPA_ACT_SILU : IMPA_ACT_NONE,
                                 mode == 2 ? add : NULL);
            double e = 0, emax = 0;
            for (size_t j = 0; j < n; j++) {
                double d = fabs((double)out[j] - ref[j]);
                if (!(d <= tol[j]))
                    fail_msg("groupnorm_local groups %d mode %d: element %zu error %g > %g",
                             groups, mode, j, d, tol[j]);
                e = fmax(e, d / tol[j]);
                emax = fmax(emax, d);
            }
            if (mode == 0)
                printf("groupnorm_local groups %d: max abs error %.3g, max error/tolerance "
                       "%.3g\n", groups, emax, e);
        }
        /* in place (ref holds mode 2: SiLU + add) */
        memcpy(out, in, n * sizeof(float));
        impa_groupnorm_local(out, out, c, hw, groups, 1e-5f, &p, IMPA_ACT_SILU, add);
        for (size_t j = 0; j < n; j++)
            assert_true(fabs((double)out[j] - ref[j]) <= tol[j]);
    }
    /* groups = 1, a pixel whose channels are all equal: variance 0, output = bias */
    for (int k = 0; k < c; k++)
        in[(size_t)k * hw + 5] = 2.5f;
    impa_groupnorm_local(in, out, c, hw, 1, 1e-5f, &p, IMPA_ACT_NONE, NULL);
    for (int k = 0; k < c; k++)
        assert_float_equal(out[(size_t)k * hw + 5], gb[k], 1e-6);
    free(in);
    free(add);
    free(gw);
    free(gb);
    free(out);
    free(ref);
    free(tol);
}

/* avg_pool2d(k, stride 1, padding k/2, count_include_pad=False) computed
 * directly (O(k^2) per pixel), in double. */
static void naive_box(const float *in, double *out, int c, int h, int w, int k)
{
    int r = k / 2;
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double s = 0;
                int n = 0;
                for (int yy = y - r; yy <= y + r; yy++)
                    for (int xx = x - r; xx <= x + r; xx++)
                        if (yy >= 0 && yy < h && xx >= 0 && xx < w) {
                            s += in[((size_t)ch * h + yy) * w + xx];
                            n++;
                        }
                out[((size_t)ch * h + y) * w + x] = s / n;
            }
}

/* Box mean: windows 1, 3, 11 and wider than the plane (only the inside counts),
 * a non-square plane; then the local SE against the direct formula. */
static void test_box_mean_se_local(void **state)
{
    (void)state;
    int c = 4, h = 9, w = 14;
    size_t n = (size_t)c * h * w;
    float *in = rnd(n, 51, -2, 3), *out = malloc(n * sizeof(float));
    float *scratch = malloc((size_t)h * w * sizeof(float));
    double *ref = malloc(n * sizeof(double));
    const int ks[5] = {1, 3, 5, 11, 31};
    for (int ki = 0; ki < 5; ki++) {
        naive_box(in, ref, c, h, w, ks[ki]);
        impa_box_mean(in, out, c, h, w, ks[ki], scratch);
        double e = 0;
        for (size_t i = 0; i < n; i++)
            e = fmax(e, fabs(out[i] - ref[i]));
        if (!(e <= 1e-6))
            fail_msg("box mean k %d: max abs error %g", ks[ki], e);
    }
    /* k 1 is the identity; k >= 2 * side - 1 is the plane mean everywhere */
    impa_box_mean(in, out, c, h, w, 1, scratch);
    assert_memory_equal(out, in, n * sizeof(float));
    impa_box_mean(in, out, c, h, w, 31, scratch);
    float mean[4];
    impa_mean_hw(in, mean, c, h * w);
    for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < h * w; i++)
            assert_float_equal(out[(size_t)ch * h * w + i], mean[ch], 1e-6);

    /* local SE: u += c * sigmoid(fc2(silu(fc1(box(c))))) at every pixel */
    int t = 4, tr = 2, k = 5, hw = h * w;
    float *u = rnd(n, 52, -1, 1), *u0 = malloc(n * sizeof(float));
    memcpy(u0, u, n * sizeof(float));
    float *w1 = rnd((size_t)tr * t, 53, -1, 1), *b1 = rnd((size_t)tr, 54, -1, 1);
    float *w2 = rnd((size_t)t * tr, 55, -1, 1), *b2 = rnd((size_t)t, 56, -1, 1);
    float *pooled = malloc(n * sizeof(float)), *hid = malloc((size_t)tr * hw * sizeof(float));
    impa_conv_param_t p1 = {w1, b1, NULL}, p2 = {w2, b2, NULL};
    naive_box(in, ref, t, h, w, k);
    impa_se_local(in, u, t, tr, h, w, k, &p1, &p2, pooled, hid);
    double emax = 0;
    for (int i = 0; i < hw; i++) {
        double hd[2];
        for (int j = 0; j < tr; j++) {
            double s = b1[j];
            for (int ch = 0; ch < t; ch++)
                s += w1[j * t + ch] * ref[(size_t)ch * hw + i];
            hd[j] = s / (1 + exp(-s));
        }
        for (int ch = 0; ch < t; ch++) {
            double s = b2[ch];
            for (int j = 0; j < tr; j++)
                s += w2[ch * tr + j] * hd[j];
            double g = 1 / (1 + exp(-s));
            size_t q = (size_t)ch * hw + i;
            emax = fmax(emax, fabs(u[q] - (u0[q] + in[q] * g)));
        }
    }
    printf("local SE (k %d, %dx%d): max abs error %.3g\n", k, h, w, emax);
    assert_true(emax <= 1e-5);
    free(in);
    free(out);
    free(scratch);
    free(ref);
    free(u);
    free(u0);
    free(w1);
    free(b1);
    free(w2);
    free(b2);
    free(pooled);
    free(hid);
}

/* The translator's slice kernels (several threads, each on a band of rows)
 * against the whole-plane kernels and the naive references: the slices put
 * together give the whole result. */
static void test_slices(void **state)
{
    (void)state;
    int c = 8, h = 11, w = 13, hw = h * w, cout = 6, groups = 2;
    size_t n = (size_t)c * hw;
    float *in = rnd(n, 31, -2, 3), *ref = malloc((size_t)cout * hw * sizeof(float));
    float *out = malloc(n * sizeof(float)), *out2 = malloc(n * sizeof(float));
    for (int i = 0; i < c * hw; i += hw)
        in[i] += 2.0f * (float)(i / hw);
    const int cuts[] = {0, 3, 4, 11}; /* three bands of rows, one of one row */
    /* 1x1 convolution by column slices, plain and accumulating */
    float *wt = rnd((size_t)cout * c, 32, -1, 1), *b = rnd((size_t)cout, 33, -1, 1);
    impa_conv_param_t p1 = {wt, b, NULL};
    naive_conv(in, c, h, w, ref, cout, wt, b, 1, 1, 0, 1, 1);
    for (int s = 0; s < 3; s++)
        impa_conv1x1_cols(in, c, hw, out, cout, &p1, cuts[s] * w, (cuts[s + 1] - cuts[s]) * w, 0);
    assert_true(max_abs_diff(out, ref, (size_t)cout * hw) < 1e-5);
    for (int s = 0; s < 3; s++)
        impa_conv1x1_cols(in, c, hw, out, cout, &p1, cuts[s] * w, (cuts[s + 1] - cuts[s]) * w, 1);
    for (size_t i = 0; i < (size_t)cout * hw; i++)
        ref[i] *= 2.0f;
    assert_true(max_abs_diff(out, ref, (size_t)cout * hw) < 1e-5);
    /* depthwise by row bands == the whole-plane kernel (and so the naive one) */
    const int ks[] = {3, 7}, ds[] = {1, 3};
    for (int j = 0; j < 2; j++) {
        float *dw = rnd((size_t)c * ks[j] * ks[j], 34 + (uint32_t)j, -1, 1);
        float *db = rnd((size_t)c, 36 + (uint32_t)j, -1, 1);
        impa_conv_param_t pd = {dw, db, NULL};
        memcpy(out, in, n * sizeof(float));
        memcpy(out2, in, n * sizeof(float));
        impa_dwconv2d(in, out, c, h, w, &pd, ks[j], ds[j], j);
        for (int s = 0; s < 3; s++)
            impa_dwconv2d_rows(in, out2, c, h, w, &pd, ks[j], ds[j], j, cuts[s], cuts[s + 1]);
        assert_memory_equal(out, out2, n * sizeof(float));
        free(dw);
        free(db);
    }
    /* GroupNorm from slice statistics == impa_groupnorm */
    float *gw = rnd((size_t)c, 38, 0.5f, 1.5f), *gb = rnd((size_t)c, 39, -0.5f, 0.5f);
    impa_norm_param_t pn = {gw, gb};
    double pm[3 * 8], pq[3 * 8], mean[8], m2[8];
    int count[3];
    for (int s = 0; s < 3; s++) {
        count[s] = (cuts[s + 1] - cuts[s]) * w;
        impa_channel_stats_cols(in, c, hw, cuts[s] * w, count[s], pm + s * c, pq + s * c);
    }
    impa_stats_combine(3, pm, pq, count, c, mean, m2);
    for (int ch = 0; ch < c; ch++) {
        double sm = 0, sq = 0;
        for (int i = 0; i < hw; i++)
            sm += in[ch * hw + i];
        sm /= hw;
        for (int i = 0; i < hw; i++)
            sq += (in[ch * hw + i] - sm) * (in[ch * hw + i] - sm);
        assert_float_equal(mean[ch], sm, 1e-6);
        assert_float_equal(m2[ch], sq, 1e-4 * sq);
    }
    float scale[8], shift[8];
    impa_groupnorm_affine(mean, m2, c, groups, hw, 1e-5f, &pn, scale, shift);
    impa_groupnorm(in, out, c, hw, groups, 1e-5f, &pn, IMPA_ACT_NONE, NULL);
    for (int s = 0; s < 3; s++)
        impa_channel_apply_cols(in, out2, c, hw, cuts[s] * w, count[s], scale, shift,
                                IMPA_ACT_NONE, NULL);
    assert_true(max_abs_diff(out, out2, n) < 1e-5);
    /* the SE gate from pooled means == the one impa_se applies (u += c * gate) */
    int tr = 2;
    float *w1 = rnd((size_t)tr * c, 40, -1, 1), *b1 = rnd((size_t)tr, 41, -1, 1);
    float *w2 = rnd((size_t)c * tr, 42, -1, 1), *b2 = rnd((size_t)c, 43, -1, 1);
    impa_conv_param_t f1 = {w1, b1, NULL}, f2 = {w2, b2, NULL};
    float pooled[8], hid[2], gate[8], scratch[2 * 8 + 2];
    impa_mean_hw(in, pooled, c, hw);
    impa_se_gate(pooled, c, tr, &f1, &f2, hid, gate);
    for (int ch = 0; ch < c; ch++) {
        double hs[2];
        for (int j = 0; j < tr; j++) {
            double a = b1[j];
            for (int k = 0; k < c; k++)
                a += (double)w1[j * c + k] * pooled[k];
            hs[j] = a / (1 + exp(-a));
        }
        double g = b2[ch];
        for (int j = 0; j < tr; j++)
            g += (double)w2[ch * tr + j] * hs[j];
        assert_float_equal(gate[ch], 1 / (1 + exp(-g)), 1e-6);
    }
    memset(out, 0, n * sizeof(float));
    impa_se(in, out, c, tr, hw, &f1, &f2, scratch);
    for (int ch = 0; ch < c; ch++)
        assert_float_equal(out[ch * hw + 5], in[ch * hw + 5] * gate[ch], 1e-6);
    free(in);
    free(ref);
    free(out);
    free(out2);
    free(wt);
    free(b);
    free(gw);
    free(gb);
    free(w1);
    free(b1);
    free(w2);
    free(b2);
}

/* GroupNorm + SiLU + readout (1x1 to one channel) + add in one pass == the
 * kernels in turn: impa_groupnorm then the naive 1x1 convolution. */
static void test_apply_readout(void **state)
{
    (void)state;
    int c = 8, hw = 1300, groups = 4; /* 1300: two full blocks of 512 and a partial */
    size_t n = (size_t)c * hw;
    float *in = rnd(n, 51, -2, 3), *add = rnd((size_t)hw, 52, -1, 1);
    float *gw = rnd((size_t)c, 53, 0.5f, 1.5f), *gb = rnd((size_t)c, 54, -0.5f, 0.5f);
    float *rw = rnd((size_t)c, 55, -1, 1), rb = 0.25f;
    float *normed = malloc(n * sizeof(float)), *ref = malloc((size_t)hw * sizeof(float));
    float *y = malloc((size_t)hw * sizeof(float));
    impa_norm_param_t pn = {gw, gb};
    impa_conv_param_t ro = {rw, &rb, NULL};
    double mean[8], m2[8];
    for (int ch = 0; ch < c; ch++)
        in[(size_t)ch * hw] += (float)ch; /* different statistics per channel */
    impa_channel_stats_cols(in, c, hw, 0, hw, mean, m2);
    for (int mode = 0; mode < 3; mode++) {
        impa_act_t act = mode == 0 ? IMPA_ACT_NONE : IMPA_ACT_SILU;
        const float *a = mode == 2 ? add : NULL;
        impa_groupnorm(in, normed, c, hw, groups, 1e-5f, &pn, act, NULL);
        naive_conv(normed, c, 1, hw, ref, 1, rw, &rb, 1, 1, 0, 1, 1);
        if (a)
            for (int i = 0; i < hw; i++)
                ref[i] += a[i];
        impa_groupnorm_apply_readout(in, c, hw, groups, 1e-5f, &pn, act, mean, m2, &ro, a, y);
        double e = max_abs_diff(y, ref, (size_t)hw);
        if (e > 1e-5)
            fail_msg("apply_readout mode %d: max abs error %g", mode, e);
    }
    free(in);
    free(add);
    free(gw);
    free(gb);
    free(rw);
    free(normed);
    free(ref);
    free(y);
}

/* The dispatcher chose the best ISA this CPU has (here, a Zen 3 without
 * AVX-512: AVX2), and the kernels compiled per ISA give the reference results
 * under each variant the CPU can run. */
static void test_conv_pre(void **state);

static void run_isa_kernels(impa_isa_t isa)
{
    assert_int_equal(impa_kernels_set_isa(isa), 0);
    assert_int_equal(impa_kernels_isa(), isa);
    printf("ISA variant %s: GroupNorm statistics and apply, fused shuffle + norm, fused "
           "readout, mixer, depthwise, activations and convolutions against the references\n",
           impa_kernels_isa_name(isa));
    test_conv2d(NULL);
    test_groupnorm(NULL);
    test_apply_readout(NULL);
    test_slices(NULL);
    test_groupnorm_shuffle(NULL);
    test_conv_pre(NULL);
    test_mixer(NULL);
    test_dwconv(NULL);
    test_activations(NULL);
    assert_int_equal(impa_kernels_set_isa(impa_kernels_isa_best()), 0);
}

static void test_isa_dispatch(void **state)
{
    (void)state;
    impa_isa_t best = impa_kernels_isa_best();
    assert_int_equal(impa_kernels_isa(), best); /* chosen at load */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && !defined(__AVX2__)
    __builtin_cpu_init();
    impa_isa_t want = __builtin_cpu_supports("x86-64-v4")   ? IMPA_ISA_AVX512
                      : __builtin_cpu_supports("x86-64-v3") ? IMPA_ISA_AVX2
                                                             : IMPA_ISA_GENERIC;
    assert_int_equal(best, want);
    assert_int_equal(impa_kernels_isa_supported(IMPA_ISA_AVX2),
                     __builtin_cpu_supports("x86-64-v3") > 0);
#endif
    printf("dispatch: %s chosen\n", impa_kernels_isa_name(best));
    /* the public selector (impa-bench --kernels) by name ("generic"; "build" in a
     * -Dnative=true build, which has only its own code) */
    const char *gen = impa_kernels_isa_name(IMPA_ISA_GENERIC);
    assert_int_equal(impa_engine_set_kernel_isa(gen), 0);
    assert_string_equal(impa_engine_kernel_isa(), gen);
    assert_int_equal(impa_engine_set_kernel_isa("sse9"), IMPA_EINVAL);
    assert_int_equal(impa_engine_set_kernel_isa(NULL), IMPA_EINVAL);
    assert_string_equal(impa_engine_kernel_isa(), gen);
    assert_int_equal(impa_engine_set_kernel_isa(impa_kernels_isa_name(best)), 0);
    assert_int_equal(impa_kernels_isa(), best);
    run_isa_kernels(IMPA_ISA_GENERIC);
    if (impa_kernels_isa_supported(IMPA_ISA_AVX2))
        run_isa_kernels(IMPA_ISA_AVX2);
    /* an ISA the CPU lacks is refused and leaves the choice alone */
    if (!impa_kernels_isa_supported(IMPA_ISA_AVX512)) {
        assert_int_equal(impa_kernels_set_isa(IMPA_ISA_AVX512), -1);
        assert_int_equal(impa_kernels_isa(), best);
    }
}

static void test_isa_avx512(void **state)
{
    (void)state;
    if (!impa_kernels_isa_supported(IMPA_ISA_AVX512)) {
        printf("AVX-512 variant: skipped, this CPU (or build) has no x86-64-v4\n");
        skip();
    }
    run_isa_kernels(IMPA_ISA_AVX512);
}

/* A row producer for impa_conv2d_stats_src: copies rows of src into dst and
 * counts calls that are out of order (bad). */
typedef struct {
    const float *src;
    float *dst;
    int c, h, w, done, bad;
    int calls;
} rows_ctx_t;

static void copy_rows(void *ctx, int r0, int r1)
{
    rows_ctx_t *rc = ctx;
    if (r0 != rc->done || r1 <= r0 || r1 > rc->h)
        rc->bad++;
    for (int ch = 0; ch < rc->c; ch++)
        memcpy(rc->dst + ((size_t)ch * rc->h + r0) * rc->w, rc->src + ((size_t)ch * rc->h + r0) * rc->w,
               sizeof(float) * (size_t)(r1 - r0) * rc->w);
    rc->done = r1;
    rc->calls++;
}

/* A convolution whose input's norm + SiLU is applied band by band inside it
 * (impa_conv2d_stats_pre) == impa_groupnorm_apply then impa_conv2d_stats, for
 * the output, its statistics and the input left normalised; several im2col
 * tiles (cin 8, 64 x 64), stride 1 and 2, SiLU and none. */
static void test_conv_pre(void **state)
{
    (void)state;
    int cin = 8, cout = 16, h = 64, w = 64, groups = 2;
    size_t n = (size_t)cin * h * w;
    float *x0 = rnd(n, 61, -2, 3), *x1 = malloc(n * sizeof(float)), *x2 = malloc(n * sizeof(float));
    float *wt = rnd((size_t)cout * cin * 9, 62, -0.3f, 0.3f), *b = rnd((size_t)cout, 63, -1, 1);
    float *gw = rnd((size_t)cin, 64, 0.5f, 1.5f), *gb = rnd((size_t)cin, 65, -0.5f, 0.5f);
    float *o1 = malloc((size_t)cout * h * w * sizeof(float)), *o2 = malloc((size_t)cout * h * w * sizeof(float));
    size_t colf = impa_conv2d_col_floats(cin, h, w, 3, 1, 1, 1);
    float *col = malloc(colf * (size_t)impa_kernels_threads() * sizeof(float));
    assert_true(colf < (size_t)cin * 9 * h * w); /* more than one tile */
    /* packed weights: the stride-1 case runs on the direct kernel under AVX-512 */
    float *wp = malloc((size_t)cout * cin * 9 * sizeof(float));
    impa_conv_pack(wt, cout, cin * 9, wp);
    impa_conv_param_t pc = {wt, b, wp};
    impa_norm_param_t pn = {gw, gb};
    double mx[8], qx[8], m1[16], q1[16], m2[16], q2[16];
    float scale[8], shift[8];
    impa_channel_stats_cols(x0, cin, h * w, 0, h * w, mx, qx);
    impa_groupnorm_affine(mx, qx, cin, groups, h * w, 1e-5f, &pn, scale, shift);
    for (int stride = 1; stride <= 2; stride++)
        for (int silu = 0; silu <= 1; silu++) {
            memcpy(x1, x0, n * sizeof(float));
            memcpy(x2, x0, n * sizeof(float));
            impa_groupnorm_apply(x1, x1, cin, h * w, groups, 1e-5f, &pn,
                                 silu ? IMPA_ACT_SILU : IMPA_ACT_NONE, NULL, mx, qx);
            impa_conv2d_stats(x1, cin, h, w, o1, cout, &pc, 3, stride, 1, 1, col, m1, q1);
            impa_pre_t pre = {scale, shift, silu};
            impa_conv2d_stats_pre(x2, cin, h, w, o2, cout, &pc, 3, stride, 1, 1, col, &pre, m2,
                                  q2);
            int ho = impa_conv_out_size(h, 3, stride, 1, 1);
            assert_memory_equal(x1, x2, n * sizeof(float)); /* the same kernel on the same values */
            assert_true(max_abs_diff(o1, o2, (size_t)cout * ho * ho) < 1e-5);
            for (int c = 0; c < cout; c++) {
                assert_float_equal(m1[c], m2[c], 1e-6);
                assert_float_equal(q1[c], q2[c], 1e-6 * q1[c] + 1e-6);
            }
            /* a producer of the input rows (impa_conv2d_stats_src): rows copied from
             * x1 into a NaN-filled input, asked for in order, each once, all rows
             * before the convolution returns; serial (the engine's workers: band
             * by band) and over the threads (all at once) */
            for (int serial = 0; serial < 2; serial++) {
                for (size_t i = 0; i < n; i++)
                    x2[i] = NAN;
                rows_ctx_t rc = {x1, x2, cin, h, w, 0, 0, 0};
                impa_rows_src_t src = {copy_rows, &rc};
                impa_kernels_serial(serial);
                impa_conv2d_stats_src(x2, cin, h, w, o2, cout, &pc, 3, stride, 1, 1, col, &src,
                                      m2, q2);
                impa_kernels_serial(0);
                assert_int_equal(rc.bad, 0);
                assert_int_equal(rc.done, h);
                if (serial)
                    assert_true(rc.calls > 1); /* band by band */
                assert_true(max_abs_diff(o1, o2, (size_t)cout * ho * ho) < 1e-5);
                /* tiles in order (serial) and over the threads compute the statistics
                 * differently (tile by tile, or over the planes in float blocks): the
                 * tolerances of test_conv2d */
                for (int c = 0; c < cout; c++) {
                    assert_float_equal(m1[c], m2[c], 1e-5 * (1 + fabs(m1[c])));
                    assert_float_equal(q1[c], q2[c], 1e-4 * (1 + q1[c]));
                }
            }
            /* the input normalised as it is read (impa_conv2d_stats_normin: the
             * stride-2 direct kernel under AVX-512 leaves x2 raw), serial and over
             * the threads */
            for (int serial = 0; serial < 2; serial++) {
                memcpy(x2, x0, n * sizeof(float));
                impa_kernels_serial(serial);
                impa_conv2d_stats_normin(x2, cin, h, w, o2, cout, &pc, 3, stride, 1, 1, col, &pre,
                                         m2, q2);
                impa_kernels_serial(0);
                if (max_abs_diff(o1, o2, (size_t)cout * ho * ho) > 1e-5)
                    fail_msg("conv_stats_normin stride %d silu %d serial %d: max abs error %g",
                             stride, silu, serial, max_abs_diff(o1, o2, (size_t)cout * ho * ho));
                for (int c = 0; c < cout; c++) {
                    assert_float_equal(m1[c], m2[c], 1e-5 * (1 + fabs(m1[c])));
                    assert_float_equal(q1[c], q2[c], 1e-4 * (1 + q1[c]));
                }
                int raw = stride == 2 && impa_kernels_isa() == IMPA_ISA_AVX512;
                assert_int_equal(memcmp(x2, x0, n * sizeof(float)) == 0, raw);
            }
        }
    free(x0);
    free(x1);
    free(x2);
    free(wt);
    free(wp);
    free(b);
    free(gw);
    free(gb);
    free(o1);
    free(o2);
    free(col);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d),         cmocka_unit_test(test_dwconv),
        cmocka_unit_test(test_groupnorm),      cmocka_unit_test(test_activations),
        cmocka_unit_test(test_pixel_shuffle),  cmocka_unit_test(test_mixer),
        cmocka_unit_test(test_se_mean),        cmocka_unit_test(test_groupnorm_shuffle),
        cmocka_unit_test(test_groupnorm_local), cmocka_unit_test(test_box_mean_se_local),
        cmocka_unit_test(test_slices),
        cmocka_unit_test(test_apply_readout),
        cmocka_unit_test(test_conv_pre),
        cmocka_unit_test(test_isa_dispatch),
        cmocka_unit_test(test_isa_avx512),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
