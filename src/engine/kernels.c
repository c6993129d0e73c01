/* Kernels of the IMPA-Net forward pass: how to compute, never what. Every
 * function works on caller-provided buffers, allocates nothing and cannot fail
 * (shapes are validated once, when the engine is created).
 *
 * Parallelism: one OpenMP pool, team size fixed by impa_kernels_set_threads();
 * OpenBLAS runs single-threaded and impa_conv2d splits GEMMs itself. Called
 * inside a caller's parallel region (or after impa_kernels_serial(1)) every
 * kernel runs on the calling thread alone. */
#include "engine-impl.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "impa_build_config.h"

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && !defined(__AVX2__)
/* the direct 3x3 kernel (AVX-512 intrinsics in a target(x86-64-v4) function):
 * with the ISA variants only, see "Runtime ISA dispatch" */
#define IMPA_HAVE_DIRECT512 1
#include <immintrin.h>
#else
#define IMPA_HAVE_DIRECT512 0
#endif

#if IMPA_HAVE_OPENMP
#include <omp.h>
#endif

/* Runtime ISA dispatch of the kernels written for it (the g_isa_fn table:
 * GroupNorm statistics and apply, fused shuffle and readout, depthwise rows,
 * SiLU, gate and GELU): the body is compiled three times, for the baseline, for
 * x86-64-v3 (AVX2 + FMA) and for x86-64-v4 (AVX-512), and a table of pointers
 * picks one at load time from __builtin_cpu_supports (impa_kernels_set_isa
 * overrides it, for the tests). Without the variants (-march=native or not
 * x86-64 GCC) only the build's own code exists and the table points at it. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && !defined(__AVX2__)
#define IMPA_HAVE_ISA_VARIANTS 1
#define IMPA_ISA_VARIANTS(name, params, args)                                                   \
    static void name##_generic params { name##_body args; }                                      \
    __attribute__((target("arch=x86-64-v3"))) static void name##_avx2 params { name##_body args; } \
    __attribute__((target("arch=x86-64-v4"))) static void name##_avx512 params                   \
    {                                                                                            \
        name##_body args;                                                                        \
    }
#else
#define IMPA_HAVE_ISA_VARIANTS 0
#define IMPA_ISA_VARIANTS(name, params, args)                                                   \
    static void name##_generic params { name##_body args; }
#endif

/* GroupNorm keeps per-channel statistics on the stack; the loader limits the
 * channel counts that are normalised (hid_s, hid_t) well below this. */
#define IMPA_GN_MAX_CHANNELS 4096

static int g_threads = 1;

/* The ISA variants in use (see "Runtime ISA dispatch" below; filled before main). */
static struct {
    void (*channel_apply)(const float *x, float *y, const float *add, int hw, float sc, float sh,
                          int silu);
    void (*readout_block)(const float *x, int c, int hw, int n, const float *scale,
                          const float *shift, const float *rw, float rb, int silu,
                          const float *add, float *y);
    void (*channel_stats)(const float *x, int hw, double *mean_out, double *m2_out);
    void (*shuffle_row)(const float *const *p, float *o0, float *o1, const float *a0,
                        const float *a1, int w, float sc, float sh, int silu, float asc,
                        float ash, int amode);
    void (*dw_rows)(const float *src, float *dst, int h, int w, const float *wk, float b, int k,
                    int dilation, int accumulate, int r0, int r1);
    void (*silu)(float *x, size_t n);
    void (*gelu)(float *x, size_t n);
    void (*gate)(const float *v, float *gate, size_t n);
} g_isa_fn;
static impa_isa_t g_isa = IMPA_ISA_GENERIC;

/* OpenBLAS's small-matrix path: in 0.3.21 its SkylakeX and Cooperlake kernels
 * (the cores it picks on AVX-512 CPUs) take every NN product with
 * M * N * K <= 100^3 (sgemm_small_kernel_permit_skylakex.c) straight from the
 * unpacked operands. On AMD Zen 4 that path ran the engine's im2col products at
 * 105-115 GFLOP/s on one core against 65-97 for the packed path on neighbouring
 * shapes (16 x 144 x 384: 114, 16 x 144 x 512: 65; 64 x 144 x 96: 113, x 384:
 * 97), so conv_gemm splits the columns of a larger im2col product into chunks
 * within the threshold (1-thread 512 x 512 forward before the direct kernel:
 * CPU time 7 % less). g_small_mnk: the threshold in use, 0 = no split (other
 * cores: their permit refuses every shape, and smaller products would only
 * repack A). */
static long g_small_mnk;

/* The largest M * N * K OpenBLAS 0.3.21's SkylakeX/Cooperlake kernels send to
 * their small-matrix path (see conv_gemm). */
#define IMPA_BLAS_SMALL_MNK 1000000L

/* Whether the OpenBLAS core in use has that path: its name, as OpenBLAS
 * prints it (openblas_get_corename). */
static int blas_has_small_path(void)
{
    const char *core = openblas_get_corename();
    return core && (strcasecmp(core, "skylakex") == 0 || strcasecmp(core, "cooperlake") == 0 ||
                    strcasecmp(core, "sapphirerapids") == 0);
}

int impa_kernels_set_threads(int threads)
{
    if (threads <= 0) {
#if IMPA_HAVE_OPENMP
        threads = omp_get_num_procs();
#else
        threads = 1;
#endif
    }
    g_threads = threads;
    g_small_mnk = blas_has_small_path() ? IMPA_BLAS_SMALL_MNK : 0;
    /* GEMMs are split between our own threads (impa_conv2d), never by OpenBLAS */
    openblas_set_num_threads(1);
    /* No omp_set_num_threads: every parallel region here names its team size,
     * and the process-wide default belongs to the other modules (extrapolation). */
    return threads;
}


void impa_gemm(int M, int N, int K, float alpha, const float *A, int lda, const float *B,
               int ldb, float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, alpha, A, lda, B, ldb,
                beta, C, ldc);
}

int impa_conv_out_size(int n, int k, int stride, int pad, int dilation)
{
    return (n + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
}

/* Output rows per im2col tile: as many as fit in IMPA_COL_BUDGET (at least
 * one), then evened out so that the tiles split over the threads evenly. */
static int conv_tile_rows(int cin, int k, int hout, int wout)
{
    size_t per_row = (size_t)cin * (size_t)k * (size_t)k * (size_t)wout;
    int rows = (int)(IMPA_COL_BUDGET / per_row);
    if (rows < 1)
        rows = 1;
    if (rows > hout)
        rows = hout;
    int ntiles = (hout + rows - 1) / rows;
    ntiles = (ntiles + g_threads - 1) / g_threads * g_threads;
    if (ntiles > hout)
        ntiles = hout;
    return (hout + ntiles - 1) / ntiles;
}

static size_t s2_scratch_floats(int cin, int win, int wout);

/* Floats of one thread's slice of `col`: the im2col tile, or for a 3x3
 * stride-2 convolution the direct kernel's scratch if that is larger. */
static size_t col_slice_floats(int cin, int win, int k, int stride, int pad, int dilation,
                               int hout, int wout)
{
    int rows = conv_tile_rows(cin, k, hout, wout);
    size_t n = (size_t)cin * (size_t)k * (size_t)k * (size_t)rows * (size_t)wout;
    if (k == 3 && stride == 2 && pad == 1 && dilation == 1) {
        size_t d = s2_scratch_floats(cin, win, wout);
        n = d > n ? d : n;
    }
    return n;
}

size_t impa_conv2d_col_floats(int cin, int hin, int win, int k, int stride, int pad,
                              int dilation)
{
    if (k == 1 && stride == 1 && pad == 0)
        return 0;
    int hout = impa_conv_out_size(hin, k, stride, pad, dilation);
    int wout = impa_conv_out_size(win, k, stride, pad, dilation);
    return col_slice_floats(cin, win, k, stride, pad, dilation, hout, wout);
}

/* True inside a parallel region of the caller (forward.c runs the encoder
 * frames and the decoder leads one per thread) or when the calling thread asked
 * for serial kernels: kernels then run on the calling thread only. */
static _Thread_local int tl_serial;

void impa_kernels_serial(int on)
{
    tl_serial = on;
}

static int in_parallel(void)
{
#if IMPA_HAVE_OPENMP
    return tl_serial || omp_in_parallel();
#else
    return 1;
#endif
}

int impa_kernels_threads(void)
{
    return g_threads;
}

/* d[i] = s[2 i]: with the stride a constant and restrict, GCC vectorises it
 * (the generic strided loop was a scalar load per element, a third of im2col's
 * time in the stride-2 encoder convolutions). */
static void copy_stride2(float *restrict d, const float *restrict s, int n)
{
    for (int i = 0; i < n; i++)
        d[i] = s[2 * i];
}

/* col: [cin*k*k][(r1-r0)*wout], the receptive fields of output rows r0..r1-1. */
static void im2col_rows(const float *in, int cin, int hin, int win, int k, int stride,
                        int pad, int dilation, int wout, int r0, int r1, float *col)
{
    int nrows = r1 - r0;
    int kk = cin * k * k;
    for (int row = 0; row < kk; row++) {
        int ci = row / (k * k);
        int ky = (row / k) % k;
        int kx = row % k;
        const float *plane = in + (size_t)ci * hin * win;
        float *dst = col + (size_t)row * nrows * wout;
        int off = kx * dilation - pad;
        /* valid ox: 0 <= ox*stride + off < win */
        int lo = off < 0 ? (-off + stride - 1) / stride : 0;
        int hi = win - 1 - off < 0 ? 0 : (win - 1 - off) / stride + 1;
        if (hi > wout)
            hi = wout;
        if (lo > hi)
            lo = hi;
        for (int oy = r0; oy < r1; oy++) {
            int iy = oy * stride - pad + ky * dilation;
            float *d = dst + (size_t)(oy - r0) * wout;
            if (iy < 0 || iy >= hin) {
                memset(d, 0, sizeof(float) * (size_t)wout);
                continue;
            }
            const float *src = plane + (size_t)iy * win;
            for (int ox = 0; ox < lo; ox++)
                d[ox] = 0.0f;
            if (stride == 1) {
                memcpy(d + lo, src + lo + off, sizeof(float) * (size_t)(hi - lo));
            } else if (stride == 2) {
                copy_stride2(d + lo, src + 2 * lo + off, hi - lo);
            } else {
                for (int ox = lo; ox < hi; ox++)
                    d[ox] = src[ox * stride + off];
            }
            for (int ox = hi; ox < wout; ox++)
                d[ox] = 0.0f;
        }
    }
}

/* out[co][0..n) = bias[co] (or += when accumulating), for a column range of a
 * [cout][ld] matrix; the following GEMM then runs with beta = 1. */
static void bias_init(float *out, int cout, int n, int ld, const float *bias, int accumulate)
{
    for (int co = 0; co < cout; co++) {
        float *o = out + (size_t)co * ld;
        float b = bias[co];
        if (accumulate) {
            for (int i = 0; i < n; i++)
                o[i] += b;
        } else {
            for (int i = 0; i < n; i++)
                o[i] = b;
        }
    }
}

/* Threading: OpenBLAS runs single-threaded and the threads split the output
 * columns (1x1) or the im2col row tiles (k x k) between them, each thread with
 * its own slice of `col`. One thread pool instead of two (OpenBLAS's and
 * OpenMP's) matters on a small shared machine: two pools that both spin-wait
 * made a 2-thread forward 20x slower than 1 thread under load. */
/* Mean and sum of squared deviations of hw values (the ISA variant in use). */
static void channel_stats(const float *x, int hw, double *mean_out, double *m2_out)
{
    g_isa_fn.channel_stats(x, hw, mean_out, m2_out);
}

/* Adds the statistics of one output tile, n values per channel at out + ch *
 * plane, to the running (mean, m2) of every channel over `done` earlier values
 * (Chan et al.): the tile was just written by the GEMM and is still in cache, so
 * the GroupNorm that follows needs no statistics pass over the whole plane. */
static void tile_stats_add(const float *out, int cout, int n, int plane, long done,
                           double *mean_c, double *m2_c)
{
    for (int ch = 0; ch < cout; ch++) {
        double mt, m2t;
        channel_stats(out + (size_t)ch * plane, n, &mt, &m2t);
        if (done == 0) {
            mean_c[ch] = mt;
            m2_c[ch] = m2t;
            continue;
        }
        double na = (double)done, nb = (double)n, d = mt - mean_c[ch];
        mean_c[ch] += d * nb / (na + nb);
        m2_c[ch] += m2t + d * d * na * nb / (na + nb);
    }
}

void impa_conv1x1_cols(const float *in, int cin, int plane, float *out, int cout,
                       const impa_conv_param_t *p, int c0, int n, int accumulate)
{
    if (n <= 0)
        return;
    bias_init(out + c0, cout, n, plane, p->b, accumulate);
    impa_gemm(cout, n, cin, 1.0f, p->w, cin, in + c0, plane, 1.0f, out + c0, plane);
}

/* Asks src for the input rows [*done, hi) (clamped to hin); *done advances. */
static void src_rows(const impa_rows_src_t *src, int hin, int *done, int hi)
{
    if (hi > hin)
        hi = hin;
    if (hi <= *done)
        return;
    src->rows(src->ctx, *done, hi);
    *done = hi;
}

/* The producer of impa_conv2d_stats_pre: the input's rows normalised in place. */
typedef struct {
    float *in;
    int cin, hin, win;
    const impa_pre_t *pre;
} pre_ctx_t;

static void pre_rows(void *ctx, int r0, int r1)
{
    const pre_ctx_t *pc = ctx;
    size_t plane = (size_t)pc->hin * pc->win, o = (size_t)r0 * pc->win;
    int n = (r1 - r0) * pc->win;
    for (int ci = 0; ci < pc->cin; ci++)
        g_isa_fn.channel_apply(pc->in + ci * plane + o, pc->in + ci * plane + o, NULL, n,
                               pc->pre->scale[ci], pc->pre->shift[ci], pc->pre->silu);
}

/* ---- direct 3x3 convolution --------------------------------------------------
 * For cout = 16 (enc.0, dec.2) im2col + GEMM is bound by memory traffic, not by
 * arithmetic: every tap copies the input once more (9 copies), and the GEMM
 * reads those copies back for only 16 multiply-adds each. On AMD Zen 4 im2col
 * was 17 % of a 1-thread 512 x 512 forward next to 43 % in sgemm. The direct
 * kernel keeps a block of 16 output channels x 16 pixels of one output row in
 * 16 AVX-512 accumulators and streams the input rows: per tap one (unaligned)
 * 16-pixel load and 16 FMAs against broadcast weights of the packed layout
 * wt [cin*9][cout] (impa_conv_pack). Measured alone on one Zen 4 core (load 3):
 * 512 x 512, 16 -> 16: 95 against 59 GFLOP/s for im2col + GEMM; 4 -> 16: 86
 * against 52; 128 x 128, 16 -> 64: 106 against 89; 20 x 20, 16 -> 64: 68
 * against 92 (a 20-pixel row fills two vectors to 62 %), hence the flattened
 * variant below for such rows. Accumulation order: taps in (ci, ky, kx) order
 * per output, as the GEMM's K loop (within the parity tolerance). */

void impa_conv_pack(const float *w, int cout, int kk, float *wt)
{
    for (int co = 0; co < cout; co++)
        for (int j = 0; j < kk; j++)
            wt[(size_t)j * cout + co] = w[(size_t)co * kk + j];
}

#if IMPA_HAVE_DIRECT512
/* The 16 output channels of one 16-lane block, shared by both direct kernels:
 * accumulators start at the bias (plus what `o` holds when accumulating), take
 * one tap for all 16 channels, and are stored through the block's lane mask. */
#define DIRECT512_INLINE __attribute__((target("arch=x86-64-v4"), always_inline)) static inline

DIRECT512_INLINE void direct512_init(__m512 *acc, const float *bias, int accumulate,
                                     const float *o, size_t hw, __mmask16 sm)
{
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++) {
        acc[j] = _mm512_set1_ps(bias[j]);
        if (accumulate)
            acc[j] = _mm512_add_ps(acc[j], _mm512_maskz_loadu_ps(sm, o + (size_t)j * hw));
    }
}

/* The lanes of a block of n pixels (n > 16: all). */
DIRECT512_INLINE __mmask16 direct512_lanes(int n)
{
    return (__mmask16)(n >= 16 ? 0xFFFFu : (1u << n) - 1u);
}

/* The block at output channels co0.., row y, pixels x0.. of out [cout][ohw]
 * (rows of wout pixels): its store address *o and lanes *sm, and its
 * accumulators started (direct512_init). */
DIRECT512_INLINE void direct512_begin(__m512 *acc, float *out, size_t ohw, int wout, int y,
                                      int co0, int x0, const float *bias, int accumulate,
                                      float **o, __mmask16 *sm)
{
    *sm = direct512_lanes(wout - x0);
    *o = out + (size_t)co0 * ohw + (size_t)y * wout + x0;
    direct512_init(acc, bias + co0, accumulate, *o, ohw, *sm);
}

DIRECT512_INLINE void direct512_tap(__m512 *acc, __m512 v, const float *wj)
{
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++)
        acc[j] = _mm512_fmadd_ps(v, _mm512_set1_ps(wj[j]), acc[j]);
}

DIRECT512_INLINE void direct512_store(const __m512 *acc, float *o, size_t hw, __mmask16 sm)
{
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++)
        _mm512_mask_storeu_ps(o + (size_t)j * hw, sm, acc[j]);
}

/* Output rows r0..r1-1 of a 3x3 stride-1 padding-1 convolution, cout % 16 == 0:
 * out[co][y][x] = (out +) bias[co] + sum_{ci,ky,kx} wt[(ci*9+ky*3+kx)*cout+co] *
 * in[ci][y+ky-1][x+kx-1] (zero outside the plane). Border and tail lanes use
 * masked loads, which never fault on the masked-off addresses. */
__attribute__((target("arch=x86-64-v4"))) static void
conv3x3_direct_avx512(const float *in, int cin, int h, int w, float *out, int cout,
                      const float *wt, const float *bias, int accumulate, int r0, int r1)
{
    size_t hw = (size_t)h * w;
    for (int y = r0; y < r1; y++) {
        int ky0 = y == 0 ? 1 : 0, ky1 = y == h - 1 ? 2 : 3;
        for (int co0 = 0; co0 < cout; co0 += 16) {
            for (int x0 = 0; x0 < w; x0 += 16) {
                float *o;
                __mmask16 sm;
                __m512 acc[16];
                direct512_begin(acc, out, hw, w, y, co0, x0, bias, accumulate, &o, &sm);
                /* lanes of the three taps kx that lie inside the row */
                __mmask16 m[3];
                for (int kx = 0; kx < 3; kx++) {
                    int xs = x0 + kx - 1;
                    int lo = xs < 0 ? -xs : 0, hi = w - xs < 16 ? w - xs : 16;
                    m[kx] = (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
                }
                int inner = x0 >= 1 && x0 + 17 <= w;
                for (int ci = 0; ci < cin; ci++) {
                    for (int ky = ky0; ky < ky1; ky++) {
                        const float *row = in + (size_t)ci * hw + (size_t)(y + ky - 1) * w + x0 - 1;
                        const float *wk = wt + (size_t)(ci * 9 + ky * 3) * cout + co0;
                        for (int kx = 0; kx < 3; kx++) {
                            __m512 v = inner ? _mm512_loadu_ps(row + kx)
                                             : _mm512_maskz_loadu_ps(m[kx], row + kx);
                            direct512_tap(acc, v, wk + (size_t)kx * cout);
                        }
                    }
                }
                direct512_store(acc, o, hw, sm);
            }
        }
    }
}

/* conv3x3_direct_avx512 for planes whose rows fill 16-wide vectors badly (the
 * daemon's 80 x 80 windows: dec.0 on 20-pixel rows, dec.1 on 40): each block is
 * 16 consecutive pixels of the flattened plane, across row ends, and every tap
 * loads with a per-lane mask of the lanes whose source pixel lies inside the
 * plane (x and y borders both), computed once per block. Alone on one Zen 4
 * core (load 2.6), 16 -> 64 channels: 20 x 20 107 against 94 GFLOP/s for im2col
 * + GEMM, 40 x 40 107 against 97; on 128-pixel rows the row kernel's 95 against
 * 73 (the masks cost), hence both. Same sum order as the row kernel. */
__attribute__((target("arch=x86-64-v4"))) static void
conv3x3_direct_flat_avx512(const float *in, int cin, int h, int w, float *out, int cout,
                           const float *wt, const float *bias, int accumulate, int r0, int r1)
{
    size_t hw = (size_t)h * w;
    int pend = r1 * w;
    for (int p0 = r0 * w; p0 < pend; p0 += 16) {
        /* lanes inside the range, and those whose tap kx = 0 / 2, ky = 0 / 2 is inside */
        unsigned valid = 0, mx0 = 0, mx2 = 0, my0 = 0, my2 = 0;
        int y = p0 / w, x = p0 - y * w;
        for (int l = 0; l < 16 && p0 + l < pend; l++) {
            unsigned bit = 1u << l;
            valid |= bit;
            mx0 |= x > 0 ? bit : 0;
            mx2 |= x < w - 1 ? bit : 0;
            my0 |= y > 0 ? bit : 0;
            my2 |= y < h - 1 ? bit : 0;
            if (++x == w) {
                x = 0;
                y++;
            }
        }
        unsigned mx[3] = {mx0, valid, mx2}, my[3] = {my0, valid, my2};
        __mmask16 m[9];
        for (int t = 0; t < 9; t++)
            m[t] = (__mmask16)(mx[t % 3] & my[t / 3]);
        __mmask16 sm = (__mmask16)valid;
        for (int co0 = 0; co0 < cout; co0 += 16) {
            float *o = out + (size_t)co0 * hw + p0;
            __m512 acc[16];
            direct512_init(acc, bias + co0, accumulate, o, hw, sm);
            for (int ci = 0; ci < cin; ci++) {
                const float *base = in + (size_t)ci * hw + p0;
                for (int t = 0; t < 9; t++) {
                    __m512 v = _mm512_maskz_loadu_ps(m[t], base + (t / 3 - 1) * w + (t % 3 - 1));
                    direct512_tap(acc, v, wt + (size_t)(ci * 9 + t) * cout + co0);
                }
            }
            direct512_store(acc, o, hw, sm);
        }
    }
}

/* ---- the AVX2 variant of the stride-1 direct kernel (AMD Zen 3: no AVX-512) ----
 * The row kernel's scheme with 8-wide vectors and the 16 registers of AVX2: 8
 * output channels x 8 pixels of one output row in 8 accumulators; per tap one
 * (masked at borders) 8-pixel load, 8 broadcast weights and 8 FMAs; same
 * weight layout and accumulation order. Every row width (an 8-pixel vector
 * wastes little on 20- and 40-pixel rows). */
#define DIRECT256_INLINE __attribute__((target("arch=x86-64-v3"), always_inline)) static inline

/* Lanes lo..hi-1 of an 8-lane vector, as the integer mask maskload/maskstore
 * take; masked-off lanes are neither read nor written. */
DIRECT256_INLINE __m256i direct256_lanes(int lo, int hi)
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_and_si256(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32(lo - 1)),
                            _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), idx));
}

__attribute__((target("arch=x86-64-v3"))) static void
conv3x3_direct_avx2(const float *in, int cin, int h, int w, float *out, int cout,
                    const float *wt, const float *bias, int accumulate, int r0, int r1)
{
    size_t hw = (size_t)h * w;
    for (int y = r0; y < r1; y++) {
        int ky0 = y == 0 ? 1 : 0, ky1 = y == h - 1 ? 2 : 3;
        for (int co0 = 0; co0 < cout; co0 += 8) {
            for (int x0 = 0; x0 < w; x0 += 8) {
                __m256i sm = direct256_lanes(0, w - x0 < 8 ? w - x0 : 8);
                float *o = out + (size_t)co0 * hw + (size_t)y * w + x0;
                __m256 acc[8];
#pragma GCC unroll 8
                for (int j = 0; j < 8; j++) {
                    acc[j] = _mm256_set1_ps(bias[co0 + j]);
                    if (accumulate)
                        acc[j] = _mm256_add_ps(acc[j], _mm256_maskload_ps(o + (size_t)j * hw, sm));
                }
                __m256i m[3];
                for (int kx = 0; kx < 3; kx++) {
                    int xs = x0 + kx - 1;
                    m[kx] = direct256_lanes(xs < 0 ? -xs : 0, w - xs < 8 ? w - xs : 8);
                }
                int inner = x0 >= 1 && x0 + 9 <= w;
                for (int ci = 0; ci < cin; ci++) {
                    for (int ky = ky0; ky < ky1; ky++) {
                        const float *row = in + (size_t)ci * hw + (size_t)(y + ky - 1) * w + x0 - 1;
                        const float *wk = wt + (size_t)(ci * 9 + ky * 3) * cout + co0;
                        for (int kx = 0; kx < 3; kx++) {
                            __m256 v = inner ? _mm256_loadu_ps(row + kx)
                                             : _mm256_maskload_ps(row + kx, m[kx]);
                            const float *wj = wk + (size_t)kx * cout;
#pragma GCC unroll 8
                            for (int j = 0; j < 8; j++)
                                acc[j] = _mm256_fmadd_ps(v, _mm256_broadcast_ss(wj + j), acc[j]);
                        }
                    }
                }
#pragma GCC unroll 8
                for (int j = 0; j < 8; j++)
                    _mm256_maskstore_ps(o + (size_t)j * hw, sm, acc[j]);
            }
        }
    }
}

/* Rows that fill 16-wide vectors to >= 90 % (80, 128, 512: yes; 20, 40: no)
 * run on the row kernel, the others on the flattened one. */
static int direct_rows_fill(int wout)
{
    return wout * 10 >= (wout + 15) / 16 * 16 * 9;
}
#endif

int impa_conv2d_direct(const impa_conv_param_t *p, int k, int stride, int pad, int dilation,
                       int cout, int wout)
{
    (void)wout; /* every row width: see conv3x3s2_direct_avx512 */
#if IMPA_HAVE_DIRECT512
    int dense3 = p->wt && k == 3 && pad == 1 && dilation == 1;
    if (g_isa == IMPA_ISA_AVX2)
        return dense3 && stride == 1 && cout % 8 == 0;
    return g_isa == IMPA_ISA_AVX512 && dense3 && cout % 16 == 0 && (stride == 1 || stride == 2);
#else
    (void)p, (void)k, (void)stride, (void)pad, (void)dilation, (void)cout;
    return 0;
#endif
}

/* Floats of the stride-2 direct kernel's scratch (conv3x3s2_direct_avx512):
 * a header, one normalised input row, and per input channel three input rows
 * split into even and odd columns. */
static size_t s2_scratch_floats(int cin, int win, int wout)
{
    size_t L = (size_t)(wout + 15) / 16 * 16 + 16;
    return 16 + (size_t)(win + 15) / 16 * 16 + (size_t)cin * 6 * L;
}

#if IMPA_HAVE_DIRECT512
__attribute__((target("arch=x86-64-v4"))) static void
conv3x3s2_direct_avx512(const float *in, int cin, int h, int w, float *out, int cout,
                        const float *wt, const float *bias, int accumulate, const impa_pre_t *pre,
                        float *scr, int r0, int r1);
#endif

/* Narrowest column chunk worth splitting a product into: narrower
 * small-path products lost to one packed product (measured down to 64). */
#define IMPA_SMALL_MIN_COLS 64

/* The GEMM of one im2col tile, out[cout][n] (row stride ldc) += W[cout][kk] *
 * col[kk][n]: with OpenBLAS's small-matrix path in use (g_small_mnk), split
 * into equal column chunks, a multiple of 16 wide, within its threshold. Only
 * here: the tile was just written and sits in L2, where the unpacked path is
 * fast; on the translator's 1x1 products, whose operands are whole planes
 * read from memory, it was slower than the packed one (64 x 64 x 8192: 60 vs
 * 68 GFLOP/s). */
static void conv_gemm(int cout, int n, int kk, const float *w, const float *col, float *out,
                      int ldc)
{
    long mk = (long)cout * kk;
    if (g_small_mnk > 0 && mk * n > g_small_mnk && g_small_mnk / mk >= IMPA_SMALL_MIN_COLS) {
        int cmax = (int)(g_small_mnk / mk) / 16 * 16;
        int nch = (n + cmax - 1) / cmax;
        int chunk = ((n + nch - 1) / nch + 15) / 16 * 16;
        for (int j0 = 0; j0 < n; j0 += chunk) {
            int nc = n - j0 < chunk ? n - j0 : chunk;
            impa_gemm(cout, nc, kk, 1.0f, w, kk, col + j0, n, 1.0f, out + j0, ldc);
        }
        return;
    }
    impa_gemm(cout, n, kk, 1.0f, w, kk, col, n, 1.0f, out, ldc);
}

/* Output rows rb..re-1 (re < 0: all) of the convolution; a partial range runs
 * on the calling thread (impa_conv2d_rows). */
static void conv2d_impl(const float *in, int cin, int hin, int win, float *out, int cout,
                        const impa_conv_param_t *p, int k, int stride, int pad, int dilation,
                        float *col, int accumulate, double *mean_c, double *m2_c,
                        const impa_rows_src_t *src, const impa_pre_t *pre_read, int rb, int re)
{
    int hout = impa_conv_out_size(hin, k, stride, pad, dilation);
    int wout = impa_conv_out_size(win, k, stride, pad, dilation);
    int plane = hout * wout;
    if (re < 0) {
        rb = 0;
        re = hout;
    }
    if (k == 1 && stride == 1 && pad == 0) {
        /* columns per thread, a multiple of 16 floats (one cache line) */
        int nth = plane >= 1024 && !in_parallel() ? g_threads : 1;
        int chunk = ((plane + nth - 1) / nth + 15) / 16 * 16;
#if IMPA_HAVE_OPENMP
#pragma omp parallel for num_threads(nth) schedule(static) if (nth > 1)
#endif
        for (int t = 0; t < nth; t++) {
            int c0 = t * chunk, n = plane - c0 < chunk ? plane - c0 : chunk;
            impa_conv1x1_cols(in, cin, plane, out, cout, p, c0, n, accumulate);
        }
        return;
    }
    int kk = cin * k * k;
    int rows = conv_tile_rows(cin, k, hout, wout);
    int ntiles = (re - rb + rows - 1) / rows;
    size_t colsz = col_slice_floats(cin, win, k, stride, pad, dilation, hout, wout);
    int par = ntiles > 1 && !in_parallel() && g_threads > 1 && rb == 0 && re == hout;
    int done = 0; /* input rows produced so far (src) */
    int direct = impa_conv2d_direct(p, k, stride, pad, dilation, cout, wout);
    (void)direct;
    if (src && par) /* tiles out of order: the whole input first */
        src_rows(src, hin, &done, hin);
    if (mean_c && par) {
        /* tiles on several threads: the statistics afterwards, over the planes */
        conv2d_impl(in, cin, hin, win, out, cout, p, k, stride, pad, dilation, col, accumulate,
                    NULL, NULL, NULL, pre_read, 0, -1);
        for (int ch = 0; ch < cout; ch++)
            channel_stats(out + (size_t)ch * plane, plane, &mean_c[ch], &m2_c[ch]);
        return;
    }
#if IMPA_HAVE_DIRECT512
    /* the stride-2 kernel's scratch rows are kept from tile to tile of a thread:
     * none is valid for this input yet */
    if (direct && stride == 2)
        for (int t = 0; t < (par ? g_threads : 1); t++)
            for (int j = 0; j < 3; j++)
                col[colsz * (size_t)t + (size_t)j] = -1.0f;
#endif
#if IMPA_HAVE_OPENMP
#pragma omp parallel for num_threads(g_threads) schedule(static) if (par)
#endif
    for (int tile = 0; tile < ntiles; tile++) {
        int r0 = rb + tile * rows;
        int r1 = r0 + rows < re ? r0 + rows : re;
        int n = (r1 - r0) * wout;
#if IMPA_HAVE_OPENMP
        /* inside a caller's parallel region the inner team has one thread
         * (number 0) and `col` is the caller thread's own */
        float *c = col + colsz * (size_t)omp_get_thread_num();
#else
        float *c = col;
#endif
        if (src && !par) /* the rows this tile reads, just before it reads them */
            src_rows(src, hin, &done, (r1 - 1) * stride - pad + (k - 1) * dilation + 1);
        float *o = out + (size_t)r0 * wout;
#if IMPA_HAVE_DIRECT512
        if (direct && g_isa == IMPA_ISA_AVX2) {
            conv3x3_direct_avx2(in, cin, hin, win, out, cout, p->wt, p->b, accumulate, r0, r1);
        } else if (direct && stride == 2) {
            conv3x3s2_direct_avx512(in, cin, hin, win, out, cout, p->wt, p->b, accumulate,
                                    pre_read, c, r0, r1);
        } else if (direct && direct_rows_fill(wout)) {
            conv3x3_direct_avx512(in, cin, hin, win, out, cout, p->wt, p->b, accumulate, r0, r1);
        } else if (direct) {
            conv3x3_direct_flat_avx512(in, cin, hin, win, out, cout, p->wt, p->b, accumulate, r0,
                                       r1);
        } else
#endif
        {
            im2col_rows(in, cin, hin, win, k, stride, pad, dilation, wout, r0, r1, c);
            bias_init(o, cout, n, plane, p->b, accumulate);
            conv_gemm(cout, n, kk, p->w, c, o, plane);
        }
        if (mean_c) /* serial here: tiles in order */
            tile_stats_add(o, cout, n, plane, (long)r0 * wout, mean_c, m2_c);
    }
    if (src) /* rows no output reads (none for the shapes of this model) */
        src_rows(src, hin, &done, hin);
}

void impa_conv2d(const float *in, int cin, int hin, int win, float *out, int cout,
                 const impa_conv_param_t *p, int k, int stride, int pad, int dilation,
                 float *col, int accumulate)
{
    conv2d_impl(in, cin, hin, win, out, cout, p, k, stride, pad, dilation, col, accumulate,
                NULL, NULL, NULL, NULL, 0, -1);
}

void impa_conv2d_rows(const float *in, int cin, int hin, int win, float *out, int cout,
                      const impa_conv_param_t *p, int k, int stride, int pad, int dilation,
                      float *col, int r0, int r1)
{
    if (r1 <= r0)
        return;
    conv2d_impl(in, cin, hin, win, out, cout, p, k, stride, pad, dilation, col, 0, NULL, NULL,
                NULL, NULL, r0, r1);
}

void impa_conv2d_stats(const float *in, int cin, int hin, int win, float *out, int cout,
                       const impa_conv_param_t *p, int k, int stride, int pad, int dilation,
                       float *col, double *mean_c, double *m2_c)
{
    int hout = impa_conv_out_size(hin, k, stride, pad, dilation);
    int wout = impa_conv_out_size(win, k, stride, pad, dilation);
    if (k == 1 && stride == 1 && pad == 0) {
        impa_conv2d(in, cin, hin, win, out, cout, p, k, stride, pad, dilation, col, 0);
        for (int ch = 0; ch < cout; ch++)
            channel_stats(out + (size_t)ch * hout * wout, hout * wout, &mean_c[ch], &m2_c[ch]);
        return;
    }
    conv2d_impl(in, cin, hin, win, out, cout, p, k, stride, pad, dilation, col, 0, mean_c,
                m2_c, NULL, NULL, 0, -1);
}

void impa_conv2d_stats_src(const float *in, int cin, int hin, int win, float *out, int cout,
                           const impa_conv_param_t *p, int k, int stride, int pad, int dilation,
                           float *col, const impa_rows_src_t *src, double *mean_c, double *m2_c)
{
    if (k == 1 && stride == 1 && pad == 0) {
        int done = 0;
        src_rows(src, hin, &done, hin);
        impa_conv2d_stats(in, cin, hin, win, out, cout, p, k, stride, pad, dilation, col, mean_c,
                          m2_c);
        return;
    }
    conv2d_impl(in, cin, hin, win, out, cout, p, k, stride, pad, dilation, col, 0, mean_c,
                m2_c, src, NULL, 0, -1);
}

void impa_conv2d_stats_pre(float *in, int cin, int hin, int win, float *out, int cout,
                           const impa_conv_param_t *p, int k, int stride, int pad, int dilation,
                           float *col, const impa_pre_t *pre, double *mean_c, double *m2_c)
{
    pre_ctx_t pc = {in, cin, hin, win, pre};
    impa_rows_src_t src = {pre_rows, &pc};
    impa_conv2d_stats_src(in, cin, hin, win, out, cout, p, k, stride, pad, dilation, col, &src,
                          mean_c, m2_c);
}

void impa_conv2d_stats_normin(float *in, int cin, int hin, int win, float *out, int cout,
                              const impa_conv_param_t *p, int k, int stride, int pad,
                              int dilation, float *col, const impa_pre_t *pre, double *mean_c,
                              double *m2_c)
{
    int wout = impa_conv_out_size(win, k, stride, pad, dilation);
    if (stride == 2 && impa_conv2d_direct(p, k, stride, pad, dilation, cout, wout)) {
        conv2d_impl(in, cin, hin, win, out, cout, p, k, stride, pad, dilation, col, 0, mean_c,
                    m2_c, NULL, pre, 0, -1);
        return;
    }
    impa_conv2d_stats_pre(in, cin, hin, win, out, cout, p, k, stride, pad, dilation, col, pre,
                          mean_c, m2_c);
}

/* Output rows r0..r1-1 of one depthwise plane: dst = b (+ dst) + conv(src).
 * Compiled per ISA (the translator's depthwise convolutions were a baseline
 * SSE2 loop: 2.6 % of a 512 x 512 forward on the Xeon). */
static inline __attribute__((always_inline)) void
dw_plane_rows_body(const float *src, float *dst, int h, int w, const float *wk, float b, int k,
                   int dilation, int accumulate, int r0, int r1)
{
    int pad = dilation * (k - 1) / 2;
    float *d0 = dst + (size_t)r0 * w;
    size_t n = (size_t)(r1 - r0) * w;
    if (accumulate) {
        for (size_t i = 0; i < n; i++)
            d0[i] += b;
    } else {
        for (size_t i = 0; i < n; i++)
            d0[i] = b;
    }
    for (int ky = 0; ky < k; ky++) {
        int dy = ky * dilation - pad;
        int y0 = dy < 0 ? -dy : 0;
        int y1 = dy > 0 ? h - dy : h;
        if (y0 < r0)
            y0 = r0;
        if (y1 > r1)
            y1 = r1;
        for (int kx = 0; kx < k; kx++) {
            int dx = kx * dilation - pad;
            int x0 = dx < 0 ? -dx : 0;
            int x1 = dx > 0 ? w - dx : w;
            float wv = wk[ky * k + kx];
            for (int y = y0; y < y1; y++) {
                float *o = dst + (size_t)y * w;
                const float *s = src + (size_t)(y + dy) * w + dx;
                for (int x = x0; x < x1; x++)
                    o[x] += wv * s[x];
            }
        }
    }
}

IMPA_ISA_VARIANTS(dw_plane_rows,
                  (const float *src, float *dst, int h, int w, const float *wk, float b, int k,
                   int dilation, int accumulate, int r0, int r1),
                  (src, dst, h, w, wk, b, k, dilation, accumulate, r0, r1))

static void dw_plane_rows(const float *src, float *dst, int h, int w, const float *wk, float b,
                          int k, int dilation, int accumulate, int r0, int r1)
{
    g_isa_fn.dw_rows(src, dst, h, w, wk, b, k, dilation, accumulate, r0, r1);
}

void impa_dwconv2d(const float *in, float *out, int c, int h, int w,
                   const impa_conv_param_t *p, int k, int dilation, int accumulate)
{
#if IMPA_HAVE_OPENMP
#pragma omp parallel for num_threads(g_threads) schedule(static) if (!in_parallel())
#endif
    for (int ch = 0; ch < c; ch++)
        dw_plane_rows(in + (size_t)ch * h * w, out + (size_t)ch * h * w, h, w,
                      p->w + (size_t)ch * k * k, p->b[ch], k, dilation, accumulate, 0, h);
}

void impa_dwconv2d_rows(const float *in, float *out, int c, int h, int w,
                        const impa_conv_param_t *p, int k, int dilation, int accumulate, int r0,
                        int r1)
{
    if (r1 <= r0)
        return;
    for (int ch = 0; ch < c; ch++)
        dw_plane_rows(in + (size_t)ch * h * w, out + (size_t)ch * h * w, h, w,
                      p->w + (size_t)ch * k * k, p->b[ch], k, dilation, accumulate, r0, r1);
}

/* e^-a for a in [0, 87], written so that GCC vectorises the loops that call
 * it (libm's expf is a scalar call per element: it was 8 % of a forward).
 * Cephes' expf: -a = n ln2 + r, |r| <= ln2/2, degree-6 polynomial for e^r,
 * 2^n built in the exponent bits (n >= -126: no subnormal scale); max relative
 * error ~1e-7. */
static inline float exp_neg(float a)
{
    float x = -a;
    /* round to nearest with the 1.5 * 2^23 trick: no SSE4.1 roundps needed */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union {
        int32_t i;
        float f;
    } e;
    e.i = ((int32_t)n + 127) << 23;
    return p * e.f;
}

/* sigmoid through t = e^-|x| in (0, 1]: never overflows, and the vectorised
 * code has no clamped branch whose unused lanes compute subnormals (an earlier
 * x / (1 + e^88) branch did, on every element, and subnormal arithmetic made
 * the whole forward 1.5x slower). */
static inline float sigmoid1(float x)
{
    float a = fabsf(x);
    a = a > 87.0f ? 87.0f : a;
    float t = exp_neg(a);
    float s = 1.0f / (1.0f + t);
    return x >= 0.0f ? s : t * s;
}

static inline float silu1(float x)
{
    return x * sigmoid1(x);
}

/* Hot element-wise loops are compiled twice, for AVX2+FMA and for the generic
 * x86-64 baseline, and picked at load time (GNU ifunc): the default build does
 * not use -march=native, and SSE2 alone left GroupNorm + SiLU at 25 % of a
 * forward. */
/* Not with -march=native (or any AVX2 baseline): the clones would then have
 * fewer ISA features than the inline helpers they call, GCC cannot inline
 * sigmoid1 into them, and the forward became 2x slower. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && !defined(__AVX2__)
#define IMPA_HOT __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define IMPA_HOT
#endif

/* Channel statistics in two passes (mean, then squared deviations: no
 * E[x^2] - E[x]^2 cancellation); float partial sums over blocks of 1024
 * (vectorised), added in double. */
static inline __attribute__((always_inline)) void
channel_stats_body(const float *x, int hw, double *mean_out, double *m2_out)
{
    double s = 0.0, q = 0.0;
    for (int i0 = 0; i0 < hw; i0 += 1024) {
        int i1 = i0 + 1024 < hw ? i0 + 1024 : hw;
        float fs = 0.0f;
#if IMPA_HAVE_OPENMP
#pragma omp simd reduction(+ : fs)
#endif
        for (int i = i0; i < i1; i++)
            fs += x[i];
        s += fs;
    }
    float mean = (float)(s / hw);
    for (int i0 = 0; i0 < hw; i0 += 1024) {
        int i1 = i0 + 1024 < hw ? i0 + 1024 : hw;
        float fq = 0.0f;
#if IMPA_HAVE_OPENMP
#pragma omp simd reduction(+ : fq)
#endif
        for (int i = i0; i < i1; i++)
            fq += (x[i] - mean) * (x[i] - mean);
        q += fq;
    }
    *mean_out = mean;
    *m2_out = q;
}
IMPA_ISA_VARIANTS(channel_stats, (const float *x, int hw, double *mean_out, double *m2_out),
                  (x, hw, mean_out, m2_out))

/* y = act(x * sc + sh) (+ add). y may be x: element i reads x[i] before
 * writing y[i]. */
static inline __attribute__((always_inline)) void
channel_apply_body(const float *x, float *y, const float *add, int hw, float sc, float sh,
                   int silu)
{
    if (silu) {
#if IMPA_HAVE_OPENMP
#pragma omp simd
#endif
        for (int i = 0; i < hw; i++)
            y[i] = silu1(x[i] * sc + sh);
    } else {
        for (int i = 0; i < hw; i++)
            y[i] = x[i] * sc + sh;
    }
    if (add) {
        for (int i = 0; i < hw; i++)
            y[i] += add[i];
    }
}
IMPA_ISA_VARIANTS(channel_apply,
                  (const float *x, float *y, const float *add, int hw, float sc, float sh,
                   int silu),
                  (x, y, add, hw, sc, sh, silu))

#if IMPA_HAVE_DIRECT512
/* Input row iy of channel ci (normalised by pre when not NULL: act(x * scale +
 * shift)) split into its even columns E[j] = x[2j] and its odd columns shifted
 * by one, O[j + 1] = x[2j + 1], O[0] = 0 (the left padding): the three taps kx
 * of output pixel j then read O[j], E[j] and O[j + 1], plain loads. Zeros past
 * the row: the right padding and the vector tails. E, O: L floats each. */
__attribute__((target("arch=x86-64-v4"))) static void
s2_fill_row(const float *row, int w, const impa_pre_t *pre, int ci, float *tmp, float *E, float *O,
            int L)
{
    if (pre) {
        channel_apply_body(row, tmp, NULL, w, pre->scale[ci], pre->shift[ci], pre->silu);
        row = tmp;
    }
    int ne = (w + 1) / 2, no = w / 2;
    for (int j = 0; j < ne; j++)
        E[j] = row[2 * j];
    for (int j = ne; j < L; j++)
        E[j] = 0.0f;
    O[0] = 0.0f;
    for (int j = 0; j < no; j++)
        O[j + 1] = row[2 * j + 1];
    for (int j = no + 1; j < L; j++)
        O[j] = 0.0f;
}

/* Output rows r0..r1-1 of a 3x3 stride-2 padding-1 convolution, cout % 16 ==
 * 0 (enc.1, enc.2): the row kernel's blocking (16 output channels x 16 pixels
 * in 16 accumulators, taps in (ci, ky, kx) order) on input rows split into
 * even and odd columns (s2_fill_row) in scr, three rows per input channel kept
 * by iy % 3, so each input row is split (and normalised, pre) once however
 * many output rows read it, and tile to tile. scr: s2_scratch_floats; scr[0..2]
 * = the input row each of the three slots holds (-1: none, set by the caller
 * for each new input). With pre the input is normalised as it is read and
 * left as it is: no pass of its own over the planes and no write-back (on
 * the Xeon (SPR-class), one core: 16 -> 16 channels, 512 x 512 input 91
 * against 50 GFLOP/s for im2col + GEMM (AVX2 kernels), 80 x 80 (40-pixel output
 * rows) 87 against 68, 40 x 40 63 against 60). */
__attribute__((target("arch=x86-64-v4"))) static void
conv3x3s2_direct_avx512(const float *in, int cin, int h, int w, float *out, int cout,
                        const float *wt, const float *bias, int accumulate, const impa_pre_t *pre,
                        float *scr, int r0, int r1)
{
    int wout = (w - 1) / 2 + 1, hout = (h - 1) / 2 + 1;
    size_t hw = (size_t)h * w, ohw = (size_t)hout * wout;
    int L = (wout + 15) / 16 * 16 + 16;
    float *hdr = scr, *tmp = scr + 16, *slots = tmp + (w + 15) / 16 * 16;
    for (int y = r0; y < r1; y++) {
        int ky0 = 2 * y - 1 < 0 ? 1 : 0, ky1 = 2 * y + 1 >= h ? 2 : 3;
        for (int ky = ky0; ky < ky1; ky++) {
            int iy = 2 * y - 1 + ky, sl = iy % 3;
            if (hdr[sl] == (float)iy)
                continue;
            for (int ci = 0; ci < cin; ci++) {
                float *E = slots + ((size_t)ci * 3 + sl) * 2 * L;
                s2_fill_row(in + (size_t)ci * hw + (size_t)iy * w, w, pre, ci, tmp, E, E + L, L);
            }
            hdr[sl] = (float)iy;
        }
        for (int co0 = 0; co0 < cout; co0 += 16) {
            for (int x0 = 0; x0 < wout; x0 += 16) {
                float *o;
                __mmask16 sm;
                __m512 acc[16];
                direct512_begin(acc, out, ohw, wout, y, co0, x0, bias, accumulate, &o, &sm);
                for (int ci = 0; ci < cin; ci++) {
                    for (int ky = ky0; ky < ky1; ky++) {
                        const float *E = slots + ((size_t)ci * 3 + (2 * y - 1 + ky) % 3) * 2 * L;
                        const float *O = E + L;
                        const float *wk = wt + (size_t)(ci * 9 + ky * 3) * cout + co0;
                        direct512_tap(acc, _mm512_loadu_ps(O + x0), wk);
                        direct512_tap(acc, _mm512_loadu_ps(E + x0), wk + cout);
                        direct512_tap(acc, _mm512_loadu_ps(O + x0 + 1), wk + 2 * (size_t)cout);
                    }
                }
                direct512_store(acc, o, ohw, sm);
            }
        }
    }
}
#endif

/* Per-channel affine (y = x*scale + shift) of a GroupNorm from statistics of
 * `planes` planes per channel (1, or 4 for the fused pixel shuffle, where output
 * channel ch owns planes 4ch..4ch+3): the group variance is combined from the
 * planes' means and sums of squared deviations (Chan et al.), each plane hw
 * values. */
static void group_affine(const double *mean_c, const double *m2_c, int planes, int c,
                         int groups, int hw, float eps, const impa_norm_param_t *p,
                         float *scale, float *shift)
{
    int cg = c / groups, kg = planes * cg;
    double n = (double)kg * hw;
    for (int g = 0; g < groups; g++) {
        double mean = 0.0, m2 = 0.0;
        for (int k = g * kg; k < (g + 1) * kg; k++)
            mean += mean_c[k];
        mean /= kg;
        for (int k = g * kg; k < (g + 1) * kg; k++)
            m2 += m2_c[k] + (double)hw * (mean_c[k] - mean) * (mean_c[k] - mean);
        double inv = 1.0 / sqrt(m2 / n + (double)eps);
        for (int ch = g * cg; ch < (g + 1) * cg; ch++) {
            scale[ch] = (float)(inv * p->w[ch]);
            shift[ch] = (float)(p->b[ch] - mean * inv * p->w[ch]);
        }
    }
}

void impa_groupnorm_apply(const float *in, float *out, int c, int hw, int groups, float eps,
                          const impa_norm_param_t *p, impa_act_t act, const float *add,
                          const double *mean_c, const double *m2_c)
{
    float scale[IMPA_GN_MAX_CHANNELS], shift[IMPA_GN_MAX_CHANNELS];
    group_affine(mean_c, m2_c, 1, c, groups, hw, eps, p, scale, shift);
#if IMPA_HAVE_OPENMP
#pragma omp parallel for num_threads(g_threads) schedule(static) if (!in_parallel())
#endif
    for (int ch = 0; ch < c; ch++)
        g_isa_fn.channel_apply(in + (size_t)ch * hw, out + (size_t)ch * hw,
                      add ? add + (size_t)ch * hw : NULL, hw, scale[ch], shift[ch],
                      act == IMPA_ACT_SILU);
}

void impa_groupnorm_affine(const double *mean_c, const double *m2_c, int c, int groups,
                           int hw, float eps, const impa_norm_param_t *p, float *scale,
                           float *shift)
{
    group_affine(mean_c, m2_c, 1, c, groups, hw, eps, p, scale, shift);
}

void impa_channel_stats_cols(const float *x, int c, int plane, int c0, int n, double *mean_c,
                             double *m2_c)
{
    for (int ch = 0; ch < c; ch++) {
        if (n > 0) {
            channel_stats(x + (size_t)ch * plane + c0, n, &mean_c[ch], &m2_c[ch]);
        } else {
            mean_c[ch] = 0.0;
            m2_c[ch] = 0.0;
        }
    }
}

void impa_stats_combine(int parts, const double *mean_p, const double *m2_p, const int *count_p,
                        int c, double *mean_c, double *m2_c)
{
    for (int ch = 0; ch < c; ch++) {
        double n = 0.0, mean = 0.0, m2 = 0.0;
        for (int k = 0; k < parts; k++) {
            double nb = (double)count_p[k];
            if (nb <= 0.0)
                continue;
            double mb = mean_p[(size_t)k * c + ch], d = mb - mean;
            mean += d * nb / (n + nb);
            m2 += m2_p[(size_t)k * c + ch] + d * d * n * nb / (n + nb);
            n += nb;
        }
        mean_c[ch] = mean;
        m2_c[ch] = m2;
    }
}

void impa_channel_apply_cols(const float *in, float *out, int c, int plane, int c0, int n,
                             const float *scale, const float *shift, impa_act_t act,
                             const float *add)
{
    if (n <= 0)
        return;
    for (int ch = 0; ch < c; ch++) {
        size_t o = (size_t)ch * plane + c0;
        g_isa_fn.channel_apply(in + o, out + o, add ? add + o : NULL, n, scale[ch], shift[ch],
                      act == IMPA_ACT_SILU);
    }
}

/* Pixels per block of the fused readout: the block's accumulator stays in L1. */
#define IMPA_READOUT_BLOCK 512

/* y[0..n) = rb + sum_ch rw[ch] * act(x[ch][i] * scale[ch] + shift[ch]) (+ add[i]),
 * x with a plane stride of hw. */
static inline __attribute__((always_inline)) void
readout_block_body(const float *x, int c, int hw, int n, const float *scale, const float *shift,
                   const float *rw, float rb, int silu, const float *add, float *y)
{
    float acc[IMPA_READOUT_BLOCK];
    for (int i = 0; i < n; i++)
        acc[i] = rb;
    for (int ch = 0; ch < c; ch++) {
        const float *xc = x + (size_t)ch * hw;
        float sc = scale[ch], sh = shift[ch], w = rw[ch];
        if (silu) {
#if IMPA_HAVE_OPENMP
#pragma omp simd
#endif
            for (int i = 0; i < n; i++)
                acc[i] += w * silu1(xc[i] * sc + sh);
        } else {
            for (int i = 0; i < n; i++)
                acc[i] += w * (xc[i] * sc + sh);
        }
    }
    if (add) {
        for (int i = 0; i < n; i++)
            y[i] = acc[i] + add[i];
    } else {
        for (int i = 0; i < n; i++)
            y[i] = acc[i];
    }
}

IMPA_ISA_VARIANTS(readout_block,
                  (const float *x, int c, int hw, int n, const float *scale, const float *shift,
                   const float *rw, float rb, int silu, const float *add, float *y),
                  (x, c, hw, n, scale, shift, rw, rb, silu, add, y))

void impa_groupnorm_apply_readout(const float *in, int c, int hw, int groups, float eps,
                                  const impa_norm_param_t *p, impa_act_t act,
                                  const double *mean_c, const double *m2_c,
                                  const impa_conv_param_t *ro, const float *add, float *y)
{
    float scale[IMPA_GN_MAX_CHANNELS], shift[IMPA_GN_MAX_CHANNELS];
    group_affine(mean_c, m2_c, 1, c, groups, hw, eps, p, scale, shift);
    int nblk = (hw + IMPA_READOUT_BLOCK - 1) / IMPA_READOUT_BLOCK;
#if IMPA_HAVE_OPENMP
#pragma omp parallel for num_threads(g_threads) schedule(static) if (nblk > 1 && !in_parallel())
#endif
    for (int b = 0; b < nblk; b++) {
        int i0 = b * IMPA_READOUT_BLOCK;
        int n = hw - i0 < IMPA_READOUT_BLOCK ? hw - i0 : IMPA_READOUT_BLOCK;
        g_isa_fn.readout_block(in + i0, c, hw, n, scale, shift, ro->w, ro->b[0], act == IMPA_ACT_SILU,
                      add ? add + i0 : NULL, y + i0);
    }
}

void impa_groupnorm(const float *in, float *out, int c, int hw, int groups, float eps,
                    const impa_norm_param_t *p, impa_act_t act, const float *add)
{
    /* Per-channel mean and sum of squared deviations, combined per group. */
    double mean_c[IMPA_GN_MAX_CHANNELS], m2_c[IMPA_GN_MAX_CHANNELS];
#if IMPA_HAVE_OPENMP
#pragma omp parallel for num_threads(g_threads) schedule(static) if (!in_parallel())
#endif
    for (int ch = 0; ch < c; ch++)
        channel_stats(in + (size_t)ch * hw, hw, &mean_c[ch], &m2_c[ch]);
    impa_groupnorm_apply(in, out, c, hw, groups, eps, p, act, add, mean_c, m2_c);
}

/* Pixels per block of the per-pixel GroupNorm: the block's statistics stay on
 * the stack, and the channel loops over a block vectorise. */
#define IMPA_LN_BLOCK 256

/* impa_groupnorm_local on pixels i0..i0+n-1 (n <= IMPA_LN_BLOCK). For each
 * group every channel of the block is read for the statistics before any is
 * written, so in place is safe. */
IMPA_HOT static void local_norm_block(const float *in, float *out, const float *add, int c,
                                      int hw, int groups, float eps, const impa_norm_param_t *p,
                                      int silu, int i0, int n)
{
    int cg = c / groups;
    float inv_cg = 1.0f / (float)cg;
    float mean[IMPA_LN_BLOCK], inv[IMPA_LN_BLOCK];
    for (int g = 0; g < groups; g++) {
        const float *xg = in + (size_t)g * cg * hw + i0;
        for (int j = 0; j < n; j++)
            mean[j] = 0.0f;
        for (int k = 0; k < cg; k++) {
            const float *x = xg + (size_t)k * hw;
            for (int j = 0; j < n; j++)
                mean[j] += x[j];
        }
        for (int j = 0; j < n; j++) {
            mean[j] *= inv_cg;
            inv[j] = 0.0f;
        }
        /* two passes: no E[x^2] - E[x]^2 cancellation */
        for (int k = 0; k < cg; k++) {
            const float *x = xg + (size_t)k * hw;
            for (int j = 0; j < n; j++) {
                float d = x[j] - mean[j];
                inv[j] += d * d;
            }
        }
        for (int j = 0; j < n; j++)
            inv[j] = 1.0f / sqrtf(inv[j] * inv_cg + eps);
        for (int k = 0; k < cg; k++) {
            int ch = g * cg + k;
            const float *x = xg + (size_t)k * hw;
            float *y = out + (size_t)ch * hw + i0;
            float wv = p->w[ch], bv = p->b[ch];
            if (silu) {
#if IMPA_HAVE_OPENMP
#pragma omp simd
#endif
                for (int j = 0; j < n; j++)
                    y[j] = silu1((x[j] - mean[j]) * inv[j] * wv + bv);
            } else {
                for (int j = 0; j < n; j++)
                    y[j] = (x[j] - mean[j]) * inv[j] * wv + bv;
            }
            if (add) {
                const float *a = add + (size_t)ch * hw + i0;
                for (int j = 0; j < n; j++)
                    y[j] += a[j];
            }
        }
    }
}

void impa_groupnorm_local(const float *in, float *out, int c, int hw, int groups, float eps,
                          const impa_norm_param_t *p, impa_act_t act, const float *add)
{
    int nblk = (hw + IMPA_LN_BLOCK - 1) / IMPA_LN_BLOCK;
#if IMPA_HAVE_OPENMP
#pragma omp parallel for num_threads(g_threads) schedule(static) if (nblk > 1 && !in_parallel())
#endif
    for (int b = 0; b < nblk; b++) {
        int i0 = b * IMPA_LN_BLOCK;
        int n = hw - i0 < IMPA_LN_BLOCK ? hw - i0 : IMPA_LN_BLOCK;
        local_norm_block(in, out, add, c, hw, groups, eps, p, act == IMPA_ACT_SILU, i0, n);
    }
}

/* The add operand of the fused shuffle at one element: amode 1 as it is, 2
 * affine (a * asc + ash), 3 affine + SiLU (its own GroupNorm applied on read). */
static inline float shuffle_add1(float a, float asc, float ash, int amode)
{
    if (amode == 1)
        return a;
    return amode == 3 ? silu1(a * asc + ash) : a * asc + ash;
}

/* One output row pair of the fused shuffle: out rows 2y and 2y+1 of channel c
 * from the four sub-pixel planes' rows p[dy*2 + dx] (row y of pre[4c + dy*2 +
 * dx]), normalised (x * sc + sh, then SiLU if silu), plus the add rows a0/a1
 * (amode 0: none, else shuffle_add1). Each output element reads a0/a1 at its
 * own index before writing it, so add may alias out (the decoder adds its skip
 * in place). */
static inline __attribute__((always_inline)) void
shuffle_row_body(const float *const *p, float *o0, float *o1, const float *a0, const float *a1,
                 int w, float sc, float sh, int silu, float asc, float ash, int amode)
{
    const float *p00 = p[0], *p01 = p[1], *p10 = p[2], *p11 = p[3];
    if (silu && amode == 3) {
#if IMPA_HAVE_OPENMP
#pragma omp simd
#endif
        for (int x = 0; x < w; x++) {
            o0[2 * x] = silu1(p00[x] * sc + sh) + silu1(a0[2 * x] * asc + ash);
            o0[2 * x + 1] = silu1(p01[x] * sc + sh) + silu1(a0[2 * x + 1] * asc + ash);
            o1[2 * x] = silu1(p10[x] * sc + sh) + silu1(a1[2 * x] * asc + ash);
            o1[2 * x + 1] = silu1(p11[x] * sc + sh) + silu1(a1[2 * x + 1] * asc + ash);
        }
    } else if (silu && amode == 1) {
#if IMPA_HAVE_OPENMP
#pragma omp simd
#endif
        for (int x = 0; x < w; x++) {
            o0[2 * x] = silu1(p00[x] * sc + sh) + a0[2 * x];
            o0[2 * x + 1] = silu1(p01[x] * sc + sh) + a0[2 * x + 1];
            o1[2 * x] = silu1(p10[x] * sc + sh) + a1[2 * x];
            o1[2 * x + 1] = silu1(p11[x] * sc + sh) + a1[2 * x + 1];
        }
    } else if (silu && amode == 0) {
#if IMPA_HAVE_OPENMP
#pragma omp simd
#endif
        for (int x = 0; x < w; x++) {
            o0[2 * x] = silu1(p00[x] * sc + sh);
            o0[2 * x + 1] = silu1(p01[x] * sc + sh);
            o1[2 * x] = silu1(p10[x] * sc + sh);
            o1[2 * x + 1] = silu1(p11[x] * sc + sh);
        }
    } else {
        /* the rest (no SiLU, or an affine-only add): not on the shipped model's path */
        for (int x = 0; x < w; x++) {
            float v[4] = {p00[x] * sc + sh, p01[x] * sc + sh, p10[x] * sc + sh, p11[x] * sc + sh};
            for (int k = 0; k < 4; k++) {
                if (silu)
                    v[k] = silu1(v[k]);
                if (amode) {
                    const float *a = k < 2 ? a0 : a1;
                    v[k] += shuffle_add1(a[2 * x + (k & 1)], asc, ash, amode);
                }
            }
            o0[2 * x] = v[0];
            o0[2 * x + 1] = v[1];
            o1[2 * x] = v[2];
            o1[2 * x + 1] = v[3];
        }
    }
}
IMPA_ISA_VARIANTS(shuffle_row,
                  (const float *const *p, float *o0, float *o1, const float *a0, const float *a1,
                   int w, float sc, float sh, int silu, float asc, float ash, int amode),
                  (p, o0, o1, a0, a1, w, sc, sh, silu, asc, ash, amode))

/* The fused shuffle on rows y0..y1-1 of the pre planes of output channels
 * ch0..ch1-1 (output rows 2y0..2y1-1), on the calling thread. */
static void shuffle_rows(const float *pre, float *out, int ch0, int ch1, int h, int w,
                         const float *scale, const float *shift, int silu, const float *add,
                         const impa_pre_t *add_pre, int y0, int y1)
{
    size_t hw = (size_t)h * w, wo = 2 * (size_t)w;
    int amode = !add ? 0 : !add_pre ? 1 : add_pre->silu ? 3 : 2;
    for (int ch = ch0; ch < ch1; ch++) {
        const float *q = pre + 4 * (size_t)ch * hw;
        float *o = out + (size_t)ch * 4 * hw;
        const float *a = add ? add + (size_t)ch * 4 * hw : NULL;
        float asc = add_pre ? add_pre->scale[ch] : 1.0f, ash = add_pre ? add_pre->shift[ch] : 0.0f;
        for (int y = y0; y < y1; y++) {
            size_t r = (size_t)y * w, o0 = (size_t)(2 * y) * wo, o1 = o0 + wo;
            const float *pr[4] = {q + r, q + hw + r, q + 2 * hw + r, q + 3 * hw + r};
            g_isa_fn.shuffle_row(pr, o + o0, o + o1, a ? a + o0 : NULL, a ? a + o1 : NULL, w,
                                 scale[ch], shift[ch], silu, asc, ash, amode);
        }
    }
}

void impa_groupnorm_shuffle2_affine(const double *mean_c, const double *m2_c, int c, int groups,
                                    int hw, float eps, const impa_norm_param_t *p, float *scale,
                                    float *shift)
{
    group_affine(mean_c, m2_c, 4, c, groups, hw, eps, p, scale, shift);
}

void impa_shuffle2_apply_rows(const float *pre, float *out, int c, int h, int w,
                              const float *scale, const float *shift, impa_act_t act,
                              const float *add, const impa_pre_t *add_pre, int y0, int y1)
{
    shuffle_rows(pre, out, 0, c, h, w, scale, shift, act == IMPA_ACT_SILU, add, add_pre, y0, y1);
}

void impa_groupnorm_shuffle2_apply(const float *pre, float *out, int c, int h, int w,
                                   int groups, float eps, const impa_norm_param_t *p,
                                   impa_act_t act, const float *add, const impa_pre_t *add_pre,
                                   const double *mean_c, const double *m2_c)
{
    float scale[IMPA_GN_MAX_CHANNELS / 4], shift[IMPA_GN_MAX_CHANNELS / 4];
    group_affine(mean_c, m2_c, 4, c, groups, h * w, eps, p, scale, shift);
#if IMPA_HAVE_OPENMP
#pragma omp parallel for num_threads(g_threads) schedule(static) if (!in_parallel())
#endif
    for (int ch = 0; ch < c; ch++)
        shuffle_rows(pre, out, ch, ch + 1, h, w, scale, shift, act == IMPA_ACT_SILU, add,
                     add_pre, 0, h);
}

void impa_groupnorm_shuffle2(const float *pre, float *out, int c, int h, int w, int groups,
                             float eps, const impa_norm_param_t *p, impa_act_t act,
                             const float *add)
{
    /* statistics per pre-shuffle plane; output channel ch owns planes 4ch..4ch+3,
     * so a group of output channels is a contiguous run of planes */
    double mean_c[IMPA_GN_MAX_CHANNELS], m2_c[IMPA_GN_MAX_CHANNELS];
    int hw = h * w, np = 4 * c;
#if IMPA_HAVE_OPENMP
#pragma omp parallel for num_threads(g_threads) schedule(static) if (!in_parallel())
#endif
    for (int k = 0; k < np; k++)
        channel_stats(pre + (size_t)k * hw, hw, &mean_c[k], &m2_c[k]);
    impa_groupnorm_shuffle2_apply(pre, out, c, h, w, groups, eps, p, act, add, NULL, mean_c,
                                  m2_c);
}

static inline __attribute__((always_inline)) void silu_n_body(float *x, size_t n)
{
#if IMPA_HAVE_OPENMP
#pragma omp simd
#endif
    for (size_t i = 0; i < n; i++)
        x[i] = silu1(x[i]);
}
IMPA_ISA_VARIANTS(silu_n, (float *x, size_t n), (x, n))

static inline __attribute__((always_inline)) void gate_n_body(const float *v, float *gate,
                                                               size_t n)
{
#if IMPA_HAVE_OPENMP
#pragma omp simd
#endif
    for (size_t i = 0; i < n; i++)
        gate[i] = v[i] * sigmoid1(gate[i]);
}
IMPA_ISA_VARIANTS(gate_n, (const float *v, float *gate, size_t n), (v, gate, n))

/* Threads for an element-wise pass over n floats: all above 16 Ki floats
 * outside a caller's parallel region, else the calling thread. */
static int elem_threads(size_t n)
{
    return n > 16384 && !in_parallel() ? g_threads : 1;
}

void impa_silu(float *x, size_t n)
{
    int nth = elem_threads(n);
#if IMPA_HAVE_OPENMP
#pragma omp parallel for num_threads(nth) schedule(static) if (nth > 1)
#endif
    for (int t = 0; t < nth; t++) {
        size_t a = n * (size_t)t / (size_t)nth, b = n * (size_t)(t + 1) / (size_t)nth;
        g_isa_fn.silu(x + a, b - a);
    }
}

/* erf(z) for GELU, written so that it vectorises (libm's erff is a scalar call
 * per element): Abramowitz & Stegun 7.1.26, erf(|z|) = 1 - t (a1 + t (a2 + ...
 * a5)) e^-z^2, t = 1 / (1 + p |z|), absolute error <= 1.5e-7 (GELU's then
 * <= 0.75e-7 |x|); e^-z^2 by exp_neg, clamped where it is below float's range. */
static inline float erf1(float z)
{
    float a = fabsf(z);
    float t = 1.0f / (1.0f + 0.3275911f * a);
    float q = 1.061405429f;
    q = q * t - 1.453152027f;
    q = q * t + 1.421413741f;
    q = q * t - 0.284496736f;
    q = q * t + 0.254829592f;
    float a2 = a * a;
    float r = 1.0f - q * t * exp_neg(a2 > 87.0f ? 87.0f : a2);
    return z < 0.0f ? -r : r;
}

static inline __attribute__((always_inline)) void gelu_n_body(float *x, size_t n)
{
#if IMPA_HAVE_OPENMP
#pragma omp simd
#endif
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erf1(x[i] * (float)M_SQRT1_2));
}
IMPA_ISA_VARIANTS(gelu_n, (float *x, size_t n), (x, n))

void impa_gelu(float *x, size_t n)
{
    int nth = elem_threads(n);
#if IMPA_HAVE_OPENMP
#pragma omp parallel for num_threads(nth) schedule(static) if (nth > 1)
#endif
    for (int t = 0; t < nth; t++) {
        size_t a = n * (size_t)t / (size_t)nth, b = n * (size_t)(t + 1) / (size_t)nth;
        g_isa_fn.gelu(x + a, b - a);
    }
}

void impa_sigmoid(float *x, size_t n)
{
#if IMPA_HAVE_OPENMP
#pragma omp parallel for simd num_threads(g_threads) schedule(static) if (n > 16384 && !in_parallel())
#endif
    for (size_t i = 0; i < n; i++)
        x[i] = sigmoid1(x[i]);
}

void impa_gate(const float *v, float *gate, size_t n)
{
    int nth = elem_threads(n);
#if IMPA_HAVE_OPENMP
#pragma omp parallel for num_threads(nth) schedule(static) if (nth > 1)
#endif
    for (int t = 0; t < nth; t++) {
        size_t a = n * (size_t)t / (size_t)nth, b = n * (size_t)(t + 1) / (size_t)nth;
        g_isa_fn.gate(v + a, gate + a, b - a);
    }
}

void impa_pixel_shuffle(const float *in, float *out, int c, int h, int w, int r)
{
    int wo = w * r;
#if IMPA_HAVE_OPENMP
#pragma omp parallel for num_threads(g_threads) schedule(static) if (!in_parallel())
#endif
    for (int ch = 0; ch < c; ch++) {
        for (int dy = 0; dy < r; dy++) {
            for (int dx = 0; dx < r; dx++) {
                const float *src = in + ((size_t)ch * r * r + dy * r + dx) * h * w;
                float *dst = out + (size_t)ch * h * r * wo;
                for (int y = 0; y < h; y++) {
                    float *d = dst + (size_t)(y * r + dy) * wo + dx;
                    const float *s = src + (size_t)y * w;
                    for (int x = 0; x < w; x++)
                        d[x * r] = s[x];
                }
            }
        }
    }
}

void impa_pixel_unshuffle(const float *in, float *out, int c, int h, int w, int r)
{
    int ho = h / r, wo = w / r;
#if IMPA_HAVE_OPENMP
#pragma omp parallel for num_threads(g_threads) schedule(static) if (!in_parallel())
#endif
    for (int ch = 0; ch < c; ch++) {
        for (int dy = 0; dy < r; dy++) {
            for (int dx = 0; dx < r; dx++) {
                float *dst = out + ((size_t)ch * r * r + dy * r + dx) * ho * wo;
                const float *src = in + (size_t)ch * h * w;
                for (int y = 0; y < ho; y++) {
                    const float *s = src + (size_t)(y * r + dy) * w + dx;
                    float *d = dst + (size_t)y * wo;
                    for (int x = 0; x < wo; x++)
                        d[x] = s[x * r];
                }
            }
        }
    }
}

#if IMPA_HAVE_DIRECT512
/* dst[px][2i] = src[px][2i], i < w/2, px = 0, 1 (one row of mixer_map): the
 * even lanes of a masked load stored through the same mask, 16 columns per
 * step; masked-off lanes are neither read nor written. Compiled for the
 * baseline, the strided scalar copy was 3 % of a 512 x 512 forward. */
__attribute__((target("arch=x86-64-v4"))) static void mixer_row_avx512(float *const *dst,
                                                                      const float *const *src,
                                                                      int w)
{
    for (int x = 0; x < w; x += 16) {
        __mmask16 m = (__mmask16)((w - x >= 16 ? 0xFFFFu : (1u << (w - x)) - 1u) & 0x5555u);
        for (int px = 0; px < 2; px++)
            _mm512_mask_storeu_ps(dst[px] + x, m, _mm512_maskz_loadu_ps(m, src[px] + x));
    }
}
#endif

/* The mixer as one gather (docs/model.md step 1): mixed channel cm at sub-pixel
 * km = (y%2)*2 + x%2 holds field j % c from sub-pixel j / c, j = cm*4 + km, of
 * the same 2x2 block. `inverse` swaps source and destination. For one mixed
 * channel and one row the even and the odd columns each read one fixed source
 * row, so the loops run over column pairs with no index arithmetic per pixel
 * (the per-pixel divisions made the mixer 4 % of a forward). */
static void mixer_rows(const float *in, float *out, int c, int cm, int h, int w, int inverse,
                       int y0, int y1)
{
    for (int y = y0; y < y1; y++) {
        const float *src[2];
        float *dst[2];
        size_t mixed = ((size_t)cm * h + y) * w;
        for (int px = 0; px < 2; px++) {
            int j = cm * 4 + (y % 2) * 2 + px;
            int cs = j % c, ks = j / c;
            /* the source pixel of column x = 2i + px is 2i + ks % 2 */
            size_t orig = ((size_t)cs * h + (y & ~1) + ks / 2) * w + ks % 2;
            if (inverse) {
                src[px] = in + mixed + px;
                dst[px] = out + orig;
            } else {
                src[px] = in + orig;
                dst[px] = out + mixed + px;
            }
        }
#if IMPA_HAVE_DIRECT512
        if (g_isa == IMPA_ISA_AVX512) {
            mixer_row_avx512(dst, src, w);
            continue;
        }
#endif
        int half = w / 2;
        for (int i = 0; i < half; i++) {
            dst[0][2 * i] = src[0][2 * i];
            dst[1][2 * i] = src[1][2 * i];
        }
    }
}

static void mixer_map(const float *in, float *out, int c, int h, int w, int inverse)
{
#if IMPA_HAVE_OPENMP
#pragma omp parallel for num_threads(g_threads) schedule(static) if (!in_parallel())
#endif
    for (int cm = 0; cm < c; cm++)
        mixer_rows(in, out, c, cm, h, w, inverse, 0, h);
}

void impa_mixer_rows(const float *in, float *out, int c, int h, int w, int y0, int y1)
{
    for (int cm = 0; cm < c; cm++)
        mixer_rows(in, out, c, cm, h, w, 0, y0, y1);
}

void impa_mixer(const float *in, float *out, int c, int h, int w)
{
    mixer_map(in, out, c, h, w, 0);
}

void impa_mixer_inverse(const float *in, float *out, int c, int h, int w)
{
    mixer_map(in, out, c, h, w, 1);
}

void impa_mean_hw(const float *in, float *out, int c, int hw)
{
#if IMPA_HAVE_OPENMP
#pragma omp parallel for num_threads(g_threads) schedule(static) if (!in_parallel())
#endif
    for (int ch = 0; ch < c; ch++) {
        const float *x = in + (size_t)ch * hw;
        double s = 0.0;
        for (int i = 0; i < hw; i++)
            s += x[i];
        out[ch] = (float)(s / hw);
    }
}

void impa_se_gate(const float *pooled, int t, int tr, const impa_conv_param_t *fc1,
                  const impa_conv_param_t *fc2, float *hid, float *gate)
{
    for (int j = 0; j < tr; j++) {
        const float *wr = fc1->w + (size_t)j * t;
        float s = fc1->b[j];
        for (int ch = 0; ch < t; ch++)
            s += wr[ch] * pooled[ch];
        hid[j] = silu1(s);
    }
    for (int ch = 0; ch < t; ch++) {
        const float *wr = fc2->w + (size_t)ch * tr;
        float s = fc2->b[ch];
        for (int j = 0; j < tr; j++)
            s += wr[j] * hid[j];
        gate[ch] = sigmoid1(s);
    }
}

void impa_se(const float *c_in, float *u, int t, int tr, int hw, const impa_conv_param_t *fc1,
             const impa_conv_param_t *fc2, float *scratch)
{
    float *pooled = scratch;    /* [t] */
    float *hid = scratch + t;   /* [tr] */
    float *g = hid + tr;        /* [t] */
    impa_mean_hw(c_in, pooled, t, hw);
    impa_se_gate(pooled, t, tr, fc1, fc2, hid, g);
#if IMPA_HAVE_OPENMP
#pragma omp parallel for num_threads(g_threads) schedule(static) if (!in_parallel())
#endif
    for (int ch = 0; ch < t; ch++) {
        float gc = g[ch];
        const float *cc = c_in + (size_t)ch * hw;
        float *uu = u + (size_t)ch * hw;
        for (int i = 0; i < hw; i++)
            uu[i] += cc[i] * gc;
    }
}

/* Running window sum along one line of n values with stride `st` (a row:
 * st = 1, a column: st = w), divided by the count of the window's values that
 * lie on the line. The sum is kept in double: a float running sum drifts by
 * its rounding errors along the line. */
static void box_line(const float *src, float *dst, int n, size_t st, int r)
{
    double s = 0.0;
    int hi = r < n - 1 ? r : n - 1; /* last index inside the window of 0 */
    for (int i = 0; i <= hi; i++)
        s += src[(size_t)i * st];
    for (int i = 0; i < n; i++) {
        int lo = i - r < 0 ? 0 : i - r, top = i + r > n - 1 ? n - 1 : i + r;
        dst[(size_t)i * st] = (float)(s / (double)(top - lo + 1));
        if (i + r + 1 < n)
            s += src[(size_t)(i + r + 1) * st];
        if (i - r >= 0)
            s -= src[(size_t)(i - r) * st];
    }
}

void impa_box_mean(const float *in, float *out, int c, int h, int w, int k, float *scratch)
{
    int r = k / 2;
    size_t hw = (size_t)h * w;
    for (int ch = 0; ch < c; ch++) {
        const float *x = in + (size_t)ch * hw;
        float *y = out + (size_t)ch * hw;
        /* mean over the window's columns, then over its rows: the product of the
         * two counts is the count of the window's pixels inside the plane */
        for (int row = 0; row < h; row++)
            box_line(x + (size_t)row * w, scratch + (size_t)row * w, w, 1, r);
        for (int col = 0; col < w; col++)
            box_line(scratch + col, y + col, h, (size_t)w, r);
    }
}

void impa_se_local(const float *c_in, float *u, int t, int tr, int h, int w, int k,
                   const impa_conv_param_t *fc1, const impa_conv_param_t *fc2, float *pooled,
                   float *hid)
{
    int hw = h * w;
    impa_box_mean(c_in, pooled, t, h, w, k, hid);
    impa_conv2d(pooled, t, h, w, hid, tr, fc1, 1, 1, 0, 1, NULL, 0);
    impa_silu(hid, (size_t)tr * hw);
    impa_conv2d(hid, tr, h, w, pooled, t, fc2, 1, 1, 0, 1, NULL, 0); /* pooled: gate logits */
#if IMPA_HAVE_OPENMP
#pragma omp parallel for num_threads(g_threads) schedule(static) if (!in_parallel())
#endif
    for (int ch = 0; ch < t; ch++) {
        const float *cc = c_in + (size_t)ch * hw, *gg = pooled + (size_t)ch * hw;
        float *uu = u + (size_t)ch * hw;
        for (int i = 0; i < hw; i++)
            uu[i] += cc[i] * sigmoid1(gg[i]);
    }
}

/* ---- the ISA table ---------------------------------------------------------- */

int impa_kernels_isa_supported(impa_isa_t isa)
{
    switch (isa) {
    case IMPA_ISA_GENERIC:
        return 1;
#if IMPA_HAVE_ISA_VARIANTS
    case IMPA_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("x86-64-v3") > 0;
    case IMPA_ISA_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("x86-64-v4") > 0;
#endif
    default:
        return 0;
    }
}

int impa_kernels_set_isa(impa_isa_t isa)
{
    if (!impa_kernels_isa_supported(isa))
        return -1;
    g_isa = isa;
#define IMPA_ISA_PICK(v)                                                                        \
    (g_isa_fn.channel_apply = channel_apply_##v, g_isa_fn.readout_block = readout_block_##v,     \
     g_isa_fn.channel_stats = channel_stats_##v, g_isa_fn.shuffle_row = shuffle_row_##v,     \
     g_isa_fn.dw_rows = dw_plane_rows_##v, g_isa_fn.silu = silu_n_##v, g_isa_fn.gate = gate_n_##v, \
     g_isa_fn.gelu = gelu_n_##v)
    IMPA_ISA_PICK(generic);
#if IMPA_HAVE_ISA_VARIANTS
    if (isa == IMPA_ISA_AVX2)
        IMPA_ISA_PICK(avx2);
    else if (isa == IMPA_ISA_AVX512)
        IMPA_ISA_PICK(avx512);
#endif
#undef IMPA_ISA_PICK
    return 0;
}

impa_isa_t impa_kernels_isa_best(void)
{
    if (impa_kernels_isa_supported(IMPA_ISA_AVX512))
        return IMPA_ISA_AVX512;
    if (impa_kernels_isa_supported(IMPA_ISA_AVX2))
        return IMPA_ISA_AVX2;
    return IMPA_ISA_GENERIC;
}

impa_isa_t impa_kernels_isa(void)
{
    return g_isa;
}

const char *impa_kernels_isa_name(impa_isa_t isa)
{
    switch (isa) {
    case IMPA_ISA_AVX2: return "avx2";
    case IMPA_ISA_AVX512: return "avx512";
    default: return IMPA_HAVE_ISA_VARIANTS ? "generic" : "build";
    }
}

/* Before main: the kernels never run with an empty table. */
__attribute__((constructor)) static void isa_init(void)
{
    impa_kernels_set_isa(impa_kernels_isa_best());
}
