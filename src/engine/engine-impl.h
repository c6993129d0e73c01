/* Internals of the engine module: the model's tensor table (weights.c), the
 * kernels (kernels.c) and the engine struct (forward.c). Not installed.
 *
 * Tensor layout everywhere: batch 1, channels-first, row-major: [C][H][W]. */
#ifndef IMPA_ENGINE_IMPL_H
#define IMPA_ENGINE_IMPL_H

#include <stddef.h>

#include "impa/engine.h"

/* A convolution's parameters, borrowed from the model's weight blob.
 * w: [out][in/groups][kh][kw] (PyTorch order), b: [out]; wt: NULL, or for
 * the dense 3x3 convolutions the same weights packed once at load
 * as [in*kh*kw][out] (impa_conv_pack), what the direct kernel reads. */
typedef struct {
    const float *w;
    const float *b;
    const float *wt;
} impa_conv_param_t;

/* GroupNorm affine parameters. w, b: [channels]. */
typedef struct {
    const float *w;
    const float *b;
} impa_norm_param_t;

/* One IMPA translator block (docs/model.md, "IMPA block"); T = hid_t,
 * Tm = hid_t * mlp_ratio, Tr = hid_t / se_reduction. */
typedef struct {
    impa_norm_param_t norm1, norm2, norm3;       /* [T] each */
    impa_conv_param_t attn_v;                    /* [T][T][1][1] */
    impa_conv_param_t branch[IMPA_MAX_BRANCHES]; /* [T][1][k_j][k_j] depthwise */
    impa_conv_param_t attn_fuse;                 /* [T][T][1][1] */
    impa_conv_param_t attn_proj;                 /* [T][T][1][1] */
    impa_conv_param_t se_fc1;                    /* [Tr][T][1][1] */
    impa_conv_param_t se_fc2;                    /* [T][Tr][1][1] */
    impa_conv_param_t mlp_fc1;                   /* [Tm][T][1][1] */
    impa_conv_param_t mlp_dw;                    /* [Tm][1][3][3] depthwise */
    impa_conv_param_t mlp_fc2;                   /* [T][Tm][1][1] */
} impa_block_param_t;

struct impa_model {
    impa_model_info_t info;
    float *blob;                 /* every tensor, back to back (owned) */
    size_t blob_floats;
    size_t n_tensors;
    impa_conv_param_t enc_conv[3]; /* enc.0: [S][C][3][3]; enc.1, enc.2: [S][S][3][3] */
    impa_norm_param_t enc_norm[3]; /* [S] */
    impa_conv_param_t trans_inp;   /* [T][F*S][1][1], F = t_in (+ t_out if advection) */
    impa_block_param_t *blocks;    /* [n_blocks] (owned) */
    impa_conv_param_t trans_out;   /* [Tout*S][T][1][1] */
    impa_conv_param_t dec_conv[3]; /* dec.0, dec.1: [4S][S][3][3]; dec.2: [S][S][3][3] */
    impa_norm_param_t dec_norm[3]; /* [S] */
    impa_conv_param_t readout;     /* [1][S][1][1] */
    float *packed;                 /* the wt of enc.0-2 and dec.0-2 (owned) */
};

/* forward.c: the translator runs on all threads when its latent plane has at
 * least min_hw pixels (default IMPA_TRANS_PAR_MIN, 4096), else on one; the tests
 * set 0 to run the split path on small grids. A tiled engine passes it on. */
void impa_engine_set_translator_split(impa_engine_t *e, int min_hw);

/* forward.c: rows of pre per band of the advection decoder's skip + dec.1
 * shuffle (dec1_skip); 0 (default) = from its cache budget. The tests set 1 so
 * that the golden grids run several bands. A tiled engine passes it on. */
void impa_engine_set_decoder_band(impa_engine_t *e, int rows);

/* ---- kernels.c: how to compute; no allocation, no I/O ---------------------- */

/* Activation applied after a GroupNorm (fused into its write pass). */
typedef enum {
    IMPA_ACT_NONE = 0,
    IMPA_ACT_SILU = 1,
} impa_act_t;

/* The one call into BLAS: row-major C[M][N] = alpha * A[M][K] * B[K][N] + beta * C,
 * with leading dimensions lda, ldb, ldc. */
void impa_gemm(int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc);

/* Number of floats the tiled im2col of impa_conv2d needs PER THREAD for this
 * convolution (cin * k * k * rows_per_tile * wout, rows_per_tile chosen so that
 * the tile stays under IMPA_COL_BUDGET floats, at least one output row, and
 * the tiles divide evenly over the threads). Depends on the thread count: call
 * after impa_kernels_set_threads(). */
#define IMPA_COL_BUDGET (64 * 1024)
size_t impa_conv2d_col_floats(int cin, int hin, int win, int k, int stride, int pad,
                              int dilation);

/* Dense k x k convolution (groups = 1), im2col tiled by output rows + GEMM.
 * in: [cin][hin][win], out: [cout][hout][wout], col: scratch of
 * impa_kernels_threads() * impa_conv2d_col_floats() floats. 1x1 stride-1 convolutions skip im2col.
 * If accumulate, out += conv(in) (bias included), else out = conv(in). */
void impa_conv2d(const float *in, int cin, int hin, int win, float *out, int cout,
                 const impa_conv_param_t *p, int k, int stride, int pad, int dilation,
                 float *col, int accumulate);

/* Output rows r0..r1-1 of impa_conv2d (accumulate 0; k > 1) only, on the
 * calling thread; col: one thread's impa_conv2d_col_floats. The caller
 * computes a plane band by band, each band in cache for its consumer. */
void impa_conv2d_rows(const float *in, int cin, int hin, int win, float *out, int cout,
                      const impa_conv_param_t *p, int k, int stride, int pad, int dilation,
                      float *col, int r0, int r1);

/* impa_conv2d (accumulate 0) that also returns, per output channel, the mean
 * and the sum of squared deviations of its plane (what impa_groupnorm_apply
 * and impa_groupnorm_shuffle2_apply take): computed tile by tile right after
 * each tile's GEMM, while the tile is in cache, and combined in double (Chan et
 * al.). mean_c, m2_c: [cout]. */
void impa_conv2d_stats(const float *in, int cin, int hin, int win, float *out, int cout,
                       const impa_conv_param_t *p, int k, int stride, int pad, int dilation,
                       float *col, double *mean_c, double *m2_c);

/* Columns c0..c0+n-1 of a 1x1 stride-1 convolution on [cin][plane] -> [cout][plane]
 * (out = or += bias + W in), on the calling thread: the translator's threads
 * each take a slice of the pixels. */
void impa_conv1x1_cols(const float *in, int cin, int plane, float *out, int cout,
                       const impa_conv_param_t *p, int c0, int n, int accumulate);

/* A per-channel normalisation not yet applied to a tensor: x = act(x * scale[c] +
 * shift[c]) (silu: 0 none, 1 SiLU); scale, shift: [c] (impa_groupnorm_affine). */
typedef struct {
    const float *scale, *shift;
    int silu;
} impa_pre_t;

/* impa_conv2d_stats on the input normalised by pre, which is applied to `in`
 * in place, row band by row band just before the tiles' im2col reads them (in
 * cache), instead of in a pass of its own over the planes; on return all of
 * `in` is normalised, as impa_groupnorm_apply would have left it. */
void impa_conv2d_stats_pre(float *in, int cin, int hin, int win, float *out, int cout,
                           const impa_conv_param_t *p, int k, int stride, int pad, int dilation,
                           float *col, const impa_pre_t *pre, double *mean_c, double *m2_c);

/* impa_conv2d_stats on act(in * scale + shift) (pre), where the caller has no
 * further use for the raw input: the stride-2 direct kernel normalises the
 * rows as it reads them and leaves `in` as it was; every other path is
 * impa_conv2d_stats_pre (in normalised in place). `in` is unspecified after. */
void impa_conv2d_stats_normin(float *in, int cin, int hin, int win, float *out, int cout,
                              const impa_conv_param_t *p, int k, int stride, int pad,
                              int dilation, float *col, const impa_pre_t *pre, double *mean_c,
                              double *m2_c);

/* A producer of a convolution's input rows: rows(ctx, r0, r1) writes input
 * rows r0..r1-1 of every channel of the convolution's `in`. Called with
 * consecutive ranges in order, each row once, just before the first tile that
 * reads them (all at once first when the tiles run on several threads), so
 * that a stage feeding a convolution leaves its rows in cache for it instead
 * of writing a whole plane set that the convolution then reads back. */
typedef struct {
    void (*rows)(void *ctx, int r0, int r1);
    void *ctx;
} impa_rows_src_t;

/* impa_conv2d_stats on an input that src produces row band by row band
 * (impa_conv2d_stats_pre is this with a producer that normalises in place). */
void impa_conv2d_stats_src(const float *in, int cin, int hin, int win, float *out, int cout,
                           const impa_conv_param_t *p, int k, int stride, int pad, int dilation,
                           float *col, const impa_rows_src_t *src, double *mean_c, double *m2_c);

/* w [cout][kk] (kk = cin * k * k, PyTorch order) transposed into wt [kk][cout]:
 * the direct kernel's weight layout, one 64-byte row of 16 output channels per
 * tap. */
void impa_conv_pack(const float *w, int cout, int kk, float *wt);

/* Whether impa_conv2d* runs this convolution (output rows of wout pixels) with
 * a direct kernel (no im2col, no GEMM) with the ISA now in use: p->wt set, 3x3,
 * padding 1, no dilation, and with the AVX-512 variant cout a multiple of 16
 * and stride 1 (rows that fill 16-wide vectors to >= 90 % by rows, others over
 * the flattened plane) or stride 2 (by rows), with the AVX2 variant cout a
 * multiple of 8 and stride 1 (by rows). wout is not used. */
int impa_conv2d_direct(const impa_conv_param_t *p, int k, int stride, int pad, int dilation,
                       int cout, int wout);

/* Output side of a convolution. */
int impa_conv_out_size(int n, int k, int stride, int pad, int dilation);

/* Depthwise k x k convolution (groups = channels), "same" padding
 * pad = dilation*(k-1)/2, stride 1. in, out: [c][h][w] (distinct).
 * w: [c][1][k][k], b: [c]. If accumulate, out += result. */
void impa_dwconv2d(const float *in, float *out, int c, int h, int w,
                   const impa_conv_param_t *p, int k, int dilation, int accumulate);

/* impa_dwconv2d for output rows r0..r1-1 of every channel only (reads the rows
 * of `in` their receptive fields cover), on the calling thread. */
void impa_dwconv2d_rows(const float *in, float *out, int c, int h, int w,
                        const impa_conv_param_t *p, int k, int dilation, int accumulate, int r0,
                        int r1);

/* GroupNorm over [c][hw] with `groups` groups (biased variance, eps), affine,
 * then `act`, then, if add is not NULL, + add[c][hw]. In place is allowed
 * (out == in). */
void impa_groupnorm(const float *in, float *out, int c, int hw, int groups, float eps,
                    const impa_norm_param_t *p, impa_act_t act, const float *add);

/* impa_groupnorm with the per-channel statistics given (mean_c, m2_c: [c],
 * from impa_conv2d_stats): one pass over the planes instead of three. */
void impa_groupnorm_apply(const float *in, float *out, int c, int hw, int groups, float eps,
                          const impa_norm_param_t *p, impa_act_t act, const float *add,
                          const double *mean_c, const double *m2_c);

/* The pieces of a GroupNorm split over pixel slices (the translator's
 * threads), each on the calling thread:
 * - impa_channel_stats_cols: mean and sum of squared deviations of columns
 *   c0..c0+n-1 of each of c planes of `plane` floats (n = 0 gives zeros);
 * - impa_stats_combine: the statistics of `parts` slices of count_p[k] values
 *   each (mean_p, m2_p: [parts][c]) combined per channel (Chan et al.);
 * - impa_groupnorm_affine: per-channel scale/shift of the GroupNorm from
 *   per-channel statistics over hw values each (what impa_groupnorm_apply uses);
 * - impa_channel_apply_cols: out = act(in * scale + shift) (+ add) on columns
 *   c0..c0+n-1 of every channel (in place allowed). */
void impa_channel_stats_cols(const float *x, int c, int plane, int c0, int n, double *mean_c,
                             double *m2_c);
void impa_stats_combine(int parts, const double *mean_p, const double *m2_p, const int *count_p,
                        int c, double *mean_c, double *m2_c);
void impa_groupnorm_affine(const double *mean_c, const double *m2_c, int c, int groups,
                           int hw, float eps, const impa_norm_param_t *p, float *scale,
                           float *shift);
void impa_channel_apply_cols(const float *in, float *out, int c, int plane, int c0, int n,
                             const float *scale, const float *shift, impa_act_t act,
                             const float *add);

/* impa_groupnorm_apply (+ act) followed by a 1x1 convolution to one channel
 * (the readout, ro: w [1][c], b [1]) and + add[hw] if add is not NULL, in one
 * pass: y[i] = b + sum_ch w[ch] * act(norm(in)[ch][i]) (+ add[i]). The normalised
 * [c][hw] planes are never written. in: [c][hw]; y, add: [hw]. */
void impa_groupnorm_apply_readout(const float *in, int c, int hw, int groups, float eps,
                                  const impa_norm_param_t *p, impa_act_t act,
                                  const double *mean_c, const double *m2_c,
                                  const impa_conv_param_t *ro, const float *add, float *y);

/* Per-pixel GroupNorm (norm_local = 1): at every pixel, mean and biased
 * variance over the c/groups channels of each group only (groups = 1: a channel
 * LayerNorm), then the per-channel affine, `act`, and + add[c][hw] if add is not
 * NULL. Nothing depends on the other pixels, hence not on the grid size. In
 * place is allowed (out == in). */
void impa_groupnorm_local(const float *in, float *out, int c, int hw, int groups, float eps,
                          const impa_norm_param_t *p, impa_act_t act, const float *add);

/* pixel_shuffle(2) fused with GroupNorm (+ act, + add): pre [4c][h][w] ->
 * out [c][2h][2w], the same result as impa_pixel_shuffle then impa_groupnorm
 * without the intermediate pass. pre and out distinct; add may equal out
 * (the add is fused into the write pass, element by element). */
void impa_groupnorm_shuffle2(const float *pre, float *out, int c, int h, int w, int groups,
                             float eps, const impa_norm_param_t *p, impa_act_t act,
                             const float *add);
/* The same with the statistics of the 4c pre-shuffle planes given (mean_c,
 * m2_c: [4c], from impa_conv2d_stats on the convolution that wrote pre), and
 * optionally the add operand's own norm applied as it is read: add_pre NULL,
 * out += add as it is; else out = norm(shuffle(pre)) + act'(add * scale' +
 * shift') with add_pre's per-channel scale', shift' and SiLU flag (the
 * decoder's skip, enc.0's raw convolution output, normalised on the fly: no
 * pass of its own over its [c][2h][2w] planes). */
void impa_groupnorm_shuffle2_apply(const float *pre, float *out, int c, int h, int w,
                                   int groups, float eps, const impa_norm_param_t *p,
                                   impa_act_t act, const float *add, const impa_pre_t *add_pre,
                                   const double *mean_c, const double *m2_c);
/* The per-channel scale/shift that impa_groupnorm_shuffle2_apply derives from
 * the [4c] pre-shuffle statistics (planes 4ch..4ch+3 are channel ch). */
void impa_groupnorm_shuffle2_affine(const double *mean_c, const double *m2_c, int c, int groups,
                                    int hw, float eps, const impa_norm_param_t *p, float *scale,
                                    float *shift);
/* impa_groupnorm_shuffle2_apply with the affine given, on rows y0..y1-1 of the
 * pre planes only (output rows 2y0..2y1-1 of every channel), on the calling
 * thread: the producer of the next convolution's input rows. */
void impa_shuffle2_apply_rows(const float *pre, float *out, int c, int h, int w,
                              const float *scale, const float *shift, impa_act_t act,
                              const float *add, const impa_pre_t *add_pre, int y0, int y1);

/* Elementwise, in place, over n floats. */
void impa_silu(float *x, size_t n);
void impa_gelu(float *x, size_t n);    /* exact: 0.5 x (1 + erf(x / sqrt 2)) */
void impa_sigmoid(float *x, size_t n);
/* Gated attention product, in place on the gate: gate[i] = v[i] * sigmoid(gate[i]). */
void impa_gate(const float *v, float *gate, size_t n);

/* pixel_shuffle(r): in [c*r*r][h][w] -> out [c][h*r][w*r]. */
void impa_pixel_shuffle(const float *in, float *out, int c, int h, int w, int r);
/* pixel_unshuffle(r): in [c][h][w] -> out [c*r*r][h/r][w/r]. */
void impa_pixel_unshuffle(const float *in, float *out, int c, int h, int w, int r);

/* Spatial Mixer (docs/model.md step 1), [c][h][w] -> [c][h][w], h and w even;
 * impa_mixer_inverse undoes it exactly. in and out distinct. */
void impa_mixer(const float *in, float *out, int c, int h, int w);
void impa_mixer_inverse(const float *in, float *out, int c, int h, int w);
/* impa_mixer on output rows y0..y1-1 of every channel only (reads source rows
 * y0 & ~1 .. y1 | 1), on the calling thread: enc.0's input row producer. */
void impa_mixer_rows(const float *in, float *out, int c, int h, int w, int y0, int y1);

/* mean over the plane: out[ch] = mean(in[ch][0..hw)). */
void impa_mean_hw(const float *in, float *out, int c, int hw);

/* The SE gate from pooled means: gate = sigmoid(fc2(silu(fc1(pooled)))).
 * pooled, gate: [t]; hid: [tr] scratch. */
void impa_se_gate(const float *pooled, int t, int tr, const impa_conv_param_t *fc1,
                  const impa_conv_param_t *fc2, float *hid, float *gate);

/* Squeeze-and-excitation with residual: u += c * sigmoid(fc2(silu(fc1(mean_hw(c))))).
 * c_in: [t][hw]; u: [t][hw]; scratch: 2*t + tr floats. */
void impa_se(const float *c_in, float *u, int t, int tr, int hw, const impa_conv_param_t *fc1,
             const impa_conv_param_t *fc2, float *scratch);

/* Local mean (PyTorch avg_pool2d(k, stride 1, padding k/2,
 * count_include_pad=False)): out[ch][y][x] = mean of in[ch] over the k x k
 * window centred on (y, x), counting only the window's pixels inside the h x w
 * plane. k odd. Separable running sums (double accumulators): O(h*w) per
 * channel whatever k. in, out: [c][h][w] (distinct); scratch: h*w floats.
 * Runs on the calling thread (the translator's tensors are small). */
void impa_box_mean(const float *in, float *out, int c, int h, int w, int k, float *scratch);

/* Squeeze-and-excitation with a local window (se_window = k > 0), residual:
 * u += c * sigmoid(fc2(silu(fc1(box_mean_k(c))))), fc1/fc2 1x1 convolutions
 * at every pixel. c_in, u: [t][h][w]; pooled: [t][h][w] scratch (box mean, then
 * the gate); hid: [tr][h][w] scratch (also the box filter's h*w scratch). */
void impa_se_local(const float *c_in, float *u, int t, int tr, int h, int w, int k,
                   const impa_conv_param_t *fc1, const impa_conv_param_t *fc2, float *pooled,
                   float *hid);

/* Runtime ISA dispatch (kernels.c, the kernels compiled per ISA: the GroupNorm
 * statistics and apply, the fused shuffle + norm and the fused readout). GENERIC is the build's own code (x86-64
 * baseline in the default build; the -march=native build has only that one,
 * named "build"); AVX2 = x86-64-v3 (AVX2, FMA), AVX512 = x86-64-v4 (AVX-512
 * F/BW/CD/DQ/VL). At load the best the CPU supports is chosen
 * (impa_kernels_isa_best, by __builtin_cpu_supports). set_isa returns -1 and
 * changes nothing for an ISA this CPU or build lacks; process-wide, not to be
 * called while a forward runs (tests). */
typedef enum {
    IMPA_ISA_GENERIC = 0,
    IMPA_ISA_AVX2 = 1,
    IMPA_ISA_AVX512 = 2,
} impa_isa_t;
int impa_kernels_isa_supported(impa_isa_t isa);
int impa_kernels_set_isa(impa_isa_t isa);
impa_isa_t impa_kernels_isa_best(void);
impa_isa_t impa_kernels_isa(void);
const char *impa_kernels_isa_name(impa_isa_t isa);

/* on = 1: kernels called from this thread run on it alone until reset with 0
 * (thread-local; forward.c uses it for the small translator tensors). */
void impa_kernels_serial(int on);

/* Thread count in effect (set by impa_kernels_set_threads). */
int impa_kernels_threads(void);

/* Sets the kernels' thread count (0 = all cores) and OpenBLAS to one thread
 * (the kernels split GEMMs themselves). Process-wide. Returns the count. */
int impa_kernels_set_threads(int threads);

#endif
