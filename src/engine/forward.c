/* The IMPA-Net graph (docs/model.md, "Forward pass"): what to compute, in
 * order, on buffers carved once from one arena in impa_engine_create().
 * impa_engine_forward() allocates nothing and opens nothing.
 *
 * Shapes: C = n_fields, S = hid_s, T = hid_t, Tm = T*mlp_ratio,
 * Tr = T/se_reduction, H x W = grid, H2 x W2 = H/2 x W/2, h x w = H/4 x W/4,
 * F = frames read = Tin (+ Tout extrapolated frames when advection = 1).
 *
 * Memory: the decoder's skip of lead t is enc.0 of frame Tin - 1 (one skip,
 * kept from the encoder) or, with advection, of the extrapolated frame Tin + t.
 * Those per-lead skips are not kept ([Tout][S][H][W], 192 MiB at 512x512): the
 * decoder worker recomputes enc.0 of its frame (a 36-deep 3x3 convolution, about
 * 7 % of the forward's FLOPs, not counted in impa_engine_flops). */
#include "engine-impl.h"

#include <cblas.h>
#include <math.h>

#include "impa_build_config.h"
#if IMPA_HAVE_OPENMP
#include <omp.h>
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Buffers of one worker thread: the encoder runs frames and the decoder runs
 * leads one per thread (coarse-grained: two parallel regions per forward
 * instead of one per kernel, which matters on a loaded machine where every
 * barrier may wait for a descheduled thread). */
typedef struct {
    float *mix;    /* [C][H][W] one frame after the Spatial Mixer */
    float *half;   /* [S][H2][W2] enc.1 output; decoder: dec.0 output after shuffle */
    float *pre;    /* [4S][H2][W2] conv output before pixel_shuffle (dec.0 uses [4S][h][w]);
                    * also the dec.2 output [S][H][W] */
    float *full;   /* [S][H][W] enc.0 output (frames other than the last); decoder: the
                    * recomputed skip, then in place the dec.1 output + skip */
    float *col;    /* im2col tile */
    double conv_s, elem_s; /* stage timing of the last forward (impa_engine_stage_times) */
    char pad_[64];         /* the timing fields of two workers never share a cache line */
} impa_worker_t;

struct impa_engine {
    const impa_model_t *model; /* borrowed */
    int H, W, threads;
    /* Tiled engines (impa_engine_create_tiled): the network runs on tile x tile
     * windows through `inner`; this engine then owns only in/out and, with
     * overlap > 0, the blend's buffers. */
    int tile;
    int overlap;   /* pixels shared by neighbouring windows, 0 = abutting windows */
    impa_engine_t *inner;   /* window engine of thread 0; NULL = not tiled */
    impa_engine_t **inners; /* [n_inner] one single-threaded window engine per thread
                             * (inners[0] = inner): windows run side by side */
    int n_inner;
    float *ramp_y; /* overlap > 0: [th] window weights along y (w(i) of create_tiled) */
    float *ramp_x; /* overlap > 0: [tw] along x */
    float *wsum;   /* overlap > 0: [H][W] sum of the window weights covering each pixel
                    * (input-independent, so computed once at create) */
    size_t ws_bytes;
    double flops;
    impa_progress_fn progress; /* impa_engine_set_progress; NULL = none */
    void *progress_ctx;
    float *arena;  /* every buffer below, 64-byte aligned inside arena_base */
    void *arena_base; /* owned (calloc) */
    /* engine-owned I/O for impa_engine_forecast */
    float *in;     /* [F][C][H][W] normalised input */
    float *out;    /* [Tout][H][W] normalised output */
    float *skip;   /* [S][H][W] the decoder skip, enc.0 output of the last observed
                    * frame; NULL with advection (recomputed per lead, see top) */
    /* translator; u..m2 share memory with worker 0's buffers (see create) */
    float *u0;     /* [F*S][h][w] encoder latents stacked frame-major */
    float *u;      /* [T][h][w] translator state */
    float *a;      /* [T][h][w] norm outputs; fuse output / gate */
    float *v;      /* [T][h][w] silu(attn.v(a)) */
    float *s;      /* [T][h][w] sum of depthwise branches */
    float *m1;     /* [Tm][h][w] mlp.fc1 output */
    float *m2;     /* [Tm][h][w] mlp.dw output, then GELU */
    float *se;     /* [2T + Tr] SE scratch: pooled, hidden, gate */
    float *se_pool; /* se_window > 0: [T][h][w] local means, then gate logits */
    float *se_hid;  /* se_window > 0: [Tr][h][w] fc1 output (first the box filter's
                     * [h][w] scratch) */
    float *zo;     /* [Tout*S][h][w] trans.out: latents per lead */
    float *skip_aff; /* advection with GroupNorm: [Tout][scale, shift][S] enc.0's norm of
                      * each extrapolated frame, from the encoder; the decoder applies it
                      * to the skip it recomputes band by band (dec1_skip); else NULL */
    /* the translator on several threads (translator_par): per-slice GroupNorm
     * statistics [3 norms][mean, m2][threads][T] and per-thread scratch */
    int trans_par_min; /* smallest h*w split (IMPA_TRANS_PAR_MIN; tests lower it) */
    int dec_band;      /* pre rows per band of dec1_skip, 0 = from IMPA_DEC_BAND_FLOATS */
    double *tpart;
    double *tcomb; /* [threads][mean, m2][T] combined statistics */
    float *tscr;   /* [threads][4T + Tr] scale, shift, pooled, gate, SE hidden */
    impa_worker_t *work; /* [threads] (owned, buffers in the arena) */
    impa_stage_times_t times; /* of the last forward */
};

#include <time.h>

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* GroupNorm statistics on the stack: at most this many conv output channels
 * (4 * hid_s; create refuses wider models). */
#define IMPA_MAX_NORM_CH (4 * 1024)

/* Smallest latent plane h*w the translator splits over the threads (64 x 64, a
 * 256 x 256 grid). Below, its ~10 barriers cost more than the halved work: the
 * daemon's 80 x 80 windows (20 x 20 latents) ran 1.6x slower with the split on the
 * loaded 2-core machine. The tests lower it (impa_engine_set_translator_split). */
#define IMPA_TRANS_PAR_MIN 4096

/* Upper bound on worker threads (each has its own full-resolution buffers). */
#define IMPA_ENGINE_MAX_THREADS 64

/* Floats rounded up to 64 bytes: every buffer starts on a cache line. */
#define PAD16(n) (((n) + 15) / 16 * 16)

/* n zeroed floats on a 64-byte boundary; *base gets the pointer to free. calloc,
 * not aligned_alloc + memset: a large calloc maps zero pages that become
 * resident only when first written, so buffers a caller never uses (e->in when
 * impa_engine_forward is given its own input) cost address space, not RSS. */
static float *arena_alloc(size_t n, void **base)
{
    *base = calloc(n * sizeof(float) + 64, 1);
    if (!*base)
        return NULL;
    return (float *)(((uintptr_t)*base + 63) & ~(uintptr_t)63);
}

static size_t max_sz(size_t a, size_t b)
{
    return a > b ? a : b;
}

/* FLOPs of the forward pass with the formula of docs/engine.md:
 * convolution 2 * MACs (bias adds not counted), one FLOP per element per
 * elementwise operation (norm, activation, add, multiply, shuffle excluded). */
static double count_flops(const impa_model_info_t *mi, int H, int W)
{
    double C = mi->n_fields, S = mi->hid_s, T = mi->hid_t, Tm = T * mi->mlp_ratio,
           Tr = T / mi->se_reduction, Tout = mi->t_out;
    /* every frame the network reads goes through the encoder (impa.model.count_flops) */
    double Tin = mi->t_in + (mi->advection ? mi->t_out : 0);
    double HW = (double)H * W, hw2 = HW / 4, hw = HW / 16;
    double f = 0;
    /* encoder, per input frame: conv + GroupNorm + SiLU */
    f += Tin * (2 * S * C * 9 * HW + 2 * S * HW);
    f += Tin * (2 * S * S * 9 * hw2 + 2 * S * hw2);
    f += Tin * (2 * S * S * 9 * hw + 2 * S * hw);
    /* translator */
    f += 2 * T * Tin * S * hw;
    double blk = 0, dw = 0;
    for (int j = 0; j < mi->n_branches; j++)
        dw += 2.0 * mi->branch_kernels[j] * mi->branch_kernels[j] * T * hw;
    blk += T * hw + 2 * T * T * hw + T * hw;    /* norm1, attn.v, silu */
    blk += dw + 2 * T * T * hw;                 /* branches, fuse */
    blk += 2 * T * hw + 2 * T * T * hw + T * hw; /* gate, proj, residual */
    /* norm2, SE, residual; with se_window the SE 1x1 convs run on every pixel
     * (the box mean counts like the grid mean: one FLOP per element read) */
    blk += T * hw + T * hw + (2 * T * Tr + 2 * Tr * T) * (mi->se_window ? hw : 1) + 2 * T * hw;
    blk += T * hw + 2 * Tm * T * hw + 2 * 9 * Tm * hw + Tm * hw + 2 * T * Tm * hw + T * hw;
    f += mi->n_blocks * blk;
    f += 2 * Tout * S * T * hw;
    /* decoder, per lead */
    double dec = 0;
    dec += 2 * 4 * S * S * 9 * hw + 2 * S * hw2;
    dec += 2 * 4 * S * S * 9 * hw2 + 2 * S * HW + S * HW;
    dec += 2 * S * S * 9 * HW + 2 * S * HW;
    dec += 2 * S * HW + (mi->residual ? HW : 0);
    f += Tout * dec;
    return f;
}

static int nearest_msg(int n, int stride, int *lo, int *hi)
{
    *lo = n / stride * stride;
    if (*lo < stride)
        *lo = stride;
    *hi = (n / stride + 1) * stride;
    return n % stride == 0;
}

int impa_engine_create(const impa_model_t *model, int ny, int nx, int threads,
                       impa_engine_t **out, char *err, size_t errlen)
{
    if (!model || !out)
        return impa_err(err, errlen, IMPA_EINVAL, "impa_engine_create: NULL argument");
    *out = NULL;
    const impa_model_info_t *mi = &model->info;
    int st = mi->total_stride;
    if (ny <= 0 || nx <= 0 || ny % st != 0 || nx % st != 0) {
        int ylo, yhi, xlo, xhi;
        nearest_msg(ny > 0 ? ny : 0, st, &ylo, &yhi);
        nearest_msg(nx > 0 ? nx : 0, st, &xlo, &xhi);
        if (ny % st == 0 && ny > 0)
            ylo = yhi = ny;
        if (nx % st == 0 && nx > 0)
            xlo = xhi = nx;
        if (ylo == yhi && xlo == xhi)
            return impa_err(err, errlen, IMPA_ESHAPE, "grid %dx%d: sides must be positive "
                            "multiples of total_stride %d (nearest valid: %dx%d)", ny, nx, st,
                            ylo, xlo);
        return impa_err(err, errlen, IMPA_ESHAPE,
                        "grid %dx%d: sides must be multiples of total_stride %d (nearest "
                        "valid: %dx%d or %dx%d)", ny, nx, st, ylo, xlo, yhi, xhi);
    }
    if ((long long)ny * nx > 16LL * 1024 * 1024)
        return impa_err(err, errlen, IMPA_ESHAPE, "grid %dx%d: more than 16 Mi cells", ny, nx);
    if (mi->hid_t > 4096 || mi->hid_s > 1024)
        return impa_err(err, errlen, IMPA_EINVAL, "model too wide for GroupNorm scratch");

    impa_engine_t *e = calloc(1, sizeof(*e));
    if (!e)
        return impa_err(err, errlen, IMPA_ENOMEM, "engine: out of memory");
    e->model = model;
    e->H = ny;
    e->W = nx;
    if (threads > IMPA_ENGINE_MAX_THREADS)
        threads = IMPA_ENGINE_MAX_THREADS;
    e->threads = impa_kernels_set_threads(threads);
    if (e->threads > IMPA_ENGINE_MAX_THREADS)
        e->threads = impa_kernels_set_threads(IMPA_ENGINE_MAX_THREADS);

    size_t C = (size_t)mi->n_fields, S = (size_t)mi->hid_s, T = (size_t)mi->hid_t;
    size_t Tm = T * (size_t)mi->mlp_ratio, Tr = T / (size_t)mi->se_reduction;
    size_t F = (size_t)impa_model_input_frames(model), Tout = (size_t)mi->t_out;
    size_t HW = (size_t)ny * nx, hw2 = HW / 4, hw = HW / 16;
    int H = ny, W = nx;

    size_t col = 0;
    col = max_sz(col, impa_conv2d_col_floats((int)C, H, W, 3, 1, 1, 1));           /* enc.0 */
    col = max_sz(col, impa_conv2d_col_floats((int)S, H, W, 3, 2, 1, 1));           /* enc.1 */
    col = max_sz(col, impa_conv2d_col_floats((int)S, H / 2, W / 2, 3, 2, 1, 1));   /* enc.2 */
    col = max_sz(col, impa_conv2d_col_floats((int)S, H / 4, W / 4, 3, 1, 1, 1));   /* dec.0 */
    col = max_sz(col, impa_conv2d_col_floats((int)S, H / 2, W / 2, 3, 1, 1, 1));   /* dec.1 */
    col = max_sz(col, impa_conv2d_col_floats((int)S, H, W, 3, 1, 1, 1));           /* dec.2 */
    size_t nth = (size_t)e->threads;

    e->work = calloc(nth, sizeof(*e->work));
    if (!e->work) {
        free(e);
        return impa_err(err, errlen, IMPA_ENOMEM, "engine: out of memory");
    }
    e->trans_par_min = IMPA_TRANS_PAR_MIN;
    e->tpart = calloc(6 * nth * T, sizeof(double));
    e->tcomb = calloc(2 * nth * T, sizeof(double));
    e->tscr = calloc(nth * (4 * T + Tr), sizeof(float));
    if (!e->tpart || !e->tcomb || !e->tscr) {
        impa_engine_destroy(&e);
        return impa_err(err, errlen, IMPA_ENOMEM, "engine: out of memory");
    }
    typedef struct {
        float **p;
        size_t n;
    } plan_t;
    size_t nplan = 0;
    plan_t plan[16 + 5 * IMPA_ENGINE_MAX_THREADS];
#define PLAN(ptr, count) (plan[nplan].p = (ptr), plan[nplan].n = (count), nplan++)
    PLAN(&e->in, F * C * HW);
    PLAN(&e->out, Tout * HW);
    if (!mi->advection)
        PLAN(&e->skip, S * HW);
    PLAN(&e->u0, F * S * hw);
    PLAN(&e->se, 2 * T + Tr);
    PLAN(&e->zo, Tout * S * hw);
    if (mi->advection && !mi->norm_local)
        PLAN(&e->skip_aff, Tout * 2 * S);
    /* The translator runs while the workers are idle: its tensors share one
     * region with worker 0's frame/lead buffers (32 MiB less at 512x512). */
    size_t worker_floats = PAD16(C * HW) + PAD16(S * hw2) + PAD16(4 * S * hw2) + PAD16(S * HW);
    size_t trans_floats = 4 * PAD16(T * hw) + 2 * PAD16(Tm * hw);
    if (mi->se_window > 0)
        trans_floats += PAD16(T * hw) + PAD16(Tr * hw);
    float *region0 = NULL;
    PLAN(&region0, max_sz(worker_floats, trans_floats));
    for (size_t t = 0; t < nth; t++) {
        if (t > 0) {
            PLAN(&e->work[t].mix, C * HW);
            PLAN(&e->work[t].half, S * hw2);
            PLAN(&e->work[t].pre, 4 * S * hw2);
            PLAN(&e->work[t].full, S * HW);
        }
        PLAN(&e->work[t].col, col);
    }
#undef PLAN
    /* Each buffer starts on a 64-byte boundary (16 floats) for the SIMD kernels. */
    size_t total = 0;
    for (size_t i = 0; i < nplan; i++)
        total += (plan[i].n + 15) / 16 * 16;
    e->arena = arena_alloc(total, &e->arena_base);
    if (!e->arena) {
        impa_engine_destroy(&e);
        return impa_err(err, errlen, IMPA_ENOMEM, "engine: cannot allocate %zu MiB workspace",
                        total * sizeof(float) >> 20);
    }
    size_t off = 0;
    for (size_t i = 0; i < nplan; i++) {
        *plan[i].p = e->arena + off;
        off += (plan[i].n + 15) / 16 * 16;
    }
    float *r = region0; /* worker 0's view of the shared region */
    e->work[0].mix = r;
    e->work[0].half = r += PAD16(C * HW);
    e->work[0].pre = r += PAD16(S * hw2);
    e->work[0].full = r += PAD16(4 * S * hw2);
    r = region0;        /* the translator's view */
    e->u = r;
    e->a = r += PAD16(T * hw);
    e->v = r += PAD16(T * hw);
    e->s = r += PAD16(T * hw);
    e->m1 = r += PAD16(T * hw);
    e->m2 = r += PAD16(Tm * hw);
    if (mi->se_window > 0) {
        e->se_pool = r += PAD16(Tm * hw);
        e->se_hid = r += PAD16(T * hw);
    }
    e->ws_bytes = total * sizeof(float);
    e->flops = count_flops(mi, H, W);
    *out = e;
    return 0;
}

/* Window origins along one side of length n, windows of side T <= n advancing by
 * stride S = T - overlap: 0, S, 2S, ... while the window fits, then one more ending
 * at the border when the last one does not (overlap 0: n/T abutting windows plus
 * the border one, the layout before overlaps existed). A window covering the side
 * is the only one (S may be <= 0 there). Returns the count, at most max. */
static int tile_origins(int n, int T, int overlap, int *o, int max)
{
    int k = 0;
    if (T >= n) {
        if (max > 0)
            o[k++] = 0;
        return k;
    }
    int S = T - overlap;
    for (int p = 0; p + T <= n && k < max; p += S)
        o[k++] = p;
    if (k > 0 && o[k - 1] + T < n && k < max)
        o[k++] = n - T;
    return k;
}

/* tile_origins' count without filling anything, for the size check (T < n). */
static long tile_count(int n, int T, int overlap)
{
    if (T >= n)
        return 1;
    long S = T - overlap, full = (n - T) / S + 1;
    return full + ((full - 1) * S + T < n);
}

#define IMPA_MAX_TILES_PER_SIDE 1024

/* The blend ramp of one window side: w(i) = min(1, (i + 0.5) / overlap,
 * (T - i - 0.5) / overlap). Weights fall towards every window border, where the
 * window has lost context, and never reach 0, so every pixel has a weight. */
static void blend_ramp(float *w, int T, int overlap)
{
    for (int i = 0; i < T; i++) {
        double a = (i + 0.5) / overlap, b = (T - i - 0.5) / overlap;
        double v = a < b ? a : b;
        w[i] = (float)(v < 1.0 ? v : 1.0);
    }
}

int impa_engine_create_tiled(const impa_model_t *model, int ny, int nx, int tile, int overlap,
                             int threads, impa_engine_t **out, char *err, size_t errlen)
{
    if (out)
        *out = NULL;
    if (overlap < 0 || (tile > 0 && 2 * (long)overlap > tile))
        return impa_err(err, errlen, IMPA_EINVAL,
                        "tile overlap %d: must be between 0 and half the tile %d (%d)",
                        overlap, tile, tile > 0 ? tile / 2 : 0);
    if (tile <= 0 || (tile >= ny && tile >= nx))
        return impa_engine_create(model, ny, nx, threads, out, err, errlen);
    if (!model || !out)
        return impa_err(err, errlen, IMPA_EINVAL, "impa_engine_create_tiled: NULL argument");
    const impa_model_info_t *mi = &model->info;
    int st = mi->total_stride;
    if (tile % st != 0)
        return impa_err(err, errlen, IMPA_ESHAPE,
                        "tile %d: must be a multiple of total_stride %d", tile, st);
    if (ny % st != 0 || nx % st != 0 || ny <= 0 || nx <= 0)
        return impa_engine_create(model, ny, nx, threads, out, err, errlen); /* its message */
    int th = tile < ny ? tile : ny, tw = tile < nx ? tile : nx;
    /* with the stride T - overlap (>= tile/2 on a side the tile does not cover) */
    long ny_win = tile_count(ny, th, overlap), nx_win = tile_count(nx, tw, overlap);
    if (ny_win > IMPA_MAX_TILES_PER_SIDE || nx_win > IMPA_MAX_TILES_PER_SIDE)
        return impa_err(err, errlen, IMPA_ESHAPE,
                        "tile %d, overlap %d: %ld x %ld windows for %dx%d, more than %d per side",
                        tile, overlap, ny_win, nx_win, ny, nx, IMPA_MAX_TILES_PER_SIDE);
    impa_engine_t *e = calloc(1, sizeof(*e));
    if (!e)
        return impa_err(err, errlen, IMPA_ENOMEM, "engine: out of memory");
    /* One single-threaded window engine per thread, each window a forward on one
     * thread: an 80 x 80 window's translator (20 x 20 latents) is too small to
     * split, so a 2-thread window left one core idle through it and met two
     * fork/joins per window; windows side by side keep both cores on the network. */
    if (threads > IMPA_ENGINE_MAX_THREADS)
        threads = IMPA_ENGINE_MAX_THREADS;
    int nt = impa_kernels_set_threads(threads);
    if (nt > IMPA_ENGINE_MAX_THREADS)
        nt = IMPA_ENGINE_MAX_THREADS;
    long nwin = ny_win * nx_win;
    e->n_inner = nt < nwin ? nt : (int)nwin;
    e->inners = calloc((size_t)e->n_inner, sizeof(*e->inners));
    if (!e->inners)
        e->n_inner = 0;
    int rc = e->inners ? 0 : impa_err(err, errlen, IMPA_ENOMEM, "engine: out of memory");
    for (int i = 0; i < e->n_inner && rc == 0; i++)
        rc = impa_engine_create(model, th, tw, 1, &e->inners[i], err, errlen);
    impa_kernels_set_threads(nt); /* the window engines set it to 1: the process's count */
    if (rc) {
        impa_engine_destroy(&e);
        return rc;
    }
    e->inner = e->inners[0];
    e->model = model;
    e->H = ny;
    e->W = nx;
    e->tile = tile;
    e->overlap = overlap;
    e->threads = nt;
    size_t HW = (size_t)ny * nx;
    /* tiles slice all F input frames */
    size_t nin = PAD16((size_t)impa_model_input_frames(model) * mi->n_fields * HW);
    size_t nout = PAD16((size_t)mi->t_out * HW);
    /* the blend accumulates into the caller's out: no [Tout][H][W] accumulator */
    size_t nblend = overlap > 0 ? PAD16((size_t)th) + PAD16((size_t)tw) + PAD16(HW) : 0;
    size_t total = nin + nout + nblend;
    e->arena = arena_alloc(total, &e->arena_base);
    if (!e->arena) {
        impa_engine_destroy(&e);
        return impa_err(err, errlen, IMPA_ENOMEM, "engine: out of memory");
    }
    e->in = e->arena;
    e->out = e->arena + nin;
    int oy[IMPA_MAX_TILES_PER_SIDE], ox[IMPA_MAX_TILES_PER_SIDE];
    int ky = tile_origins(ny, th, overlap, oy, IMPA_MAX_TILES_PER_SIDE);
    int kx = tile_origins(nx, tw, overlap, ox, IMPA_MAX_TILES_PER_SIDE);
    double blend_flops = 0;
    if (overlap > 0) {
        e->ramp_y = e->out + nout;
        e->ramp_x = e->ramp_y + PAD16((size_t)th);
        e->wsum = e->ramp_x + PAD16((size_t)tw);
        blend_ramp(e->ramp_y, th, overlap);
        blend_ramp(e->ramp_x, tw, overlap);
        for (int a = 0; a < ky; a++)
            for (int b = 0; b < kx; b++)
                for (int y = 0; y < th; y++)
                    for (int x = 0; x < tw; x++)
                        e->wsum[(size_t)(oy[a] + y) * nx + ox[b] + x] +=
                            e->ramp_y[y] * e->ramp_x[x];
        /* per window and pixel: the weight product, then a multiply-add per lead;
         * per output value: the division by the weight sum */
        blend_flops = (double)ky * kx * th * tw * (1 + 2.0 * mi->t_out) +
                      (double)mi->t_out * HW;
    }
    e->ws_bytes = total * sizeof(float);
    for (int i = 0; i < e->n_inner; i++)
        e->ws_bytes += e->inners[i]->ws_bytes;
    e->flops = (double)ky * kx * e->inner->flops + blend_flops;
    *out = e;
    return 0;
}

/* One window of in [nch][H][W] at (y0, x0) into the window engine t's input. */
static void window_in(const impa_engine_t *e, impa_engine_t *t, const float *in, int nch,
                      int y0, int x0)
{
    size_t HW = (size_t)e->H * e->W, thw = (size_t)t->H * t->W;
    for (int c = 0; c < nch; c++)
        for (int y = 0; y < t->H; y++)
            memcpy(t->in + c * thw + (size_t)y * t->W, in + c * HW + (size_t)(y0 + y) * e->W + x0,
                   sizeof(float) * t->W);
}

/* The window engine t's output into out at (y0, x0): copied (overlap 0) or added
 * with its weights; its stage times added to e's. */
static void window_out(impa_engine_t *e, const impa_engine_t *t, float *out, int y0, int x0)
{
    const impa_model_info_t *mi = &e->model->info;
    size_t HW = (size_t)e->H * e->W, thw = (size_t)t->H * t->W;
    int th = t->H, tw = t->W;
    e->times.encoder_s += t->times.encoder_s;
    e->times.translator_s += t->times.translator_s;
    e->times.decoder_s += t->times.decoder_s;
    e->times.conv_s += t->times.conv_s;
    e->times.elementwise_s += t->times.elementwise_s;
    for (int k = 0; k < mi->t_out; k++)
        for (int y = 0; y < th; y++) {
            float *o = out + k * HW + (size_t)(y0 + y) * e->W + x0;
            const float *s = t->out + k * thw + (size_t)y * tw;
            if (e->overlap == 0) {
                memcpy(o, s, sizeof(float) * tw);
                continue;
            }
            float wy = e->ramp_y[y];
            for (int x = 0; x < tw; x++)
                o[x] += wy * e->ramp_x[x] * s[x];
        }
}

/* The forward pass window by window: each window is a complete forward of a
 * window engine, so GroupNorm sees the statistics of a window, as in training on
 * crops. overlap 0: windows are copied, and the border windows overwrite the
 * overlapping part of their neighbours (the original behaviour, kept bit for
 * bit). overlap > 0: out accumulates every window's output times its weight
 * ramp_y[y] * ramp_x[x] and is then divided by wsum, so each window fades out
 * towards its borders, where its context was cut, and the seams disappear.
 * Threads run windows side by side, one window engine each; the outputs go into
 * out in window order (omp ordered), so the result is the same bit for bit
 * whatever the thread count. Stage times are summed over the windows
 * (thread-seconds when windows run side by side). */
static int forward_tiled(impa_engine_t *e, const float *in, float *out, char *err,
                         size_t errlen)
{
    const impa_model_info_t *mi = &e->model->info;
    int nch = impa_model_input_frames(e->model) * mi->n_fields;
    int th = e->inner->H, tw = e->inner->W;
    int oy[IMPA_MAX_TILES_PER_SIDE], ox[IMPA_MAX_TILES_PER_SIDE];
    int ky = tile_origins(e->H, th, e->overlap, oy, IMPA_MAX_TILES_PER_SIDE);
    int kx = tile_origins(e->W, tw, e->overlap, ox, IMPA_MAX_TILES_PER_SIDE);
    size_t HW = (size_t)e->H * e->W;
    int nwin = ky * kx, rc = 0, done = 0, told = 0;
    if (e->overlap > 0)
        memset(out, 0, sizeof(float) * (size_t)mi->t_out * HW);
    memset(&e->times, 0, sizeof e->times);
#if IMPA_HAVE_OPENMP
#pragma omp parallel num_threads(e->n_inner) if (e->n_inner > 1)
#endif
    {
#if IMPA_HAVE_OPENMP
        int id = omp_get_thread_num();
#else
        int id = 0;
#endif
        impa_engine_t *t = e->inners[id];
        char terr[256];
        int trc = 0;
#if IMPA_HAVE_OPENMP
#pragma omp for schedule(static, 1) ordered
#endif
        for (int i = 0; i < nwin; i++) {
            int y0 = oy[i / kx], x0 = ox[i % kx];
            if (trc == 0) {
                window_in(e, t, in, nch, y0, x0);
                trc = impa_engine_forward(t, t->in, t->out, terr, sizeof terr);
            }
#if IMPA_HAVE_OPENMP
#pragma omp ordered
#endif
            {
                if (trc && !rc) {
                    rc = trc;
                    impa_err(err, errlen, trc, "%s", terr);
                }
                if (!rc)
                    window_out(e, t, out, y0, x0);
                done++;
                /* the progress hook runs on the calling thread (thread 0) only */
                for (; id == 0 && e->progress && told < done; told++)
                    e->progress(e->progress_ctx);
            }
        }
    }
    for (; e->progress && told < nwin; told++)
        e->progress(e->progress_ctx);
    if (rc)
        return rc;
    if (e->overlap > 0)
        for (int k = 0; k < mi->t_out; k++) {
            float *o = out + k * HW;
            for (size_t i = 0; i < HW; i++)
                o[i] /= e->wsum[i];
        }
    return 0;
}

int impa_engine_input_frames(const impa_engine_t *e)
{
    return e ? impa_model_input_frames(e->model) : 0;
}

const impa_model_info_t *impa_engine_info(const impa_engine_t *e)
{
    return e ? &e->model->info : NULL;
}

void impa_engine_grid(const impa_engine_t *e, int *ny, int *nx)
{
    if (ny)
        *ny = e ? e->H : 0;
    if (nx)
        *nx = e ? e->W : 0;
}

void impa_engine_set_progress(impa_engine_t *e, impa_progress_fn fn, void *ctx)
{
    if (!e)
        return;
    e->progress = fn;
    e->progress_ctx = ctx;
}

int impa_engine_tile(const impa_engine_t *e)
{
    return e && e->inner ? e->tile : 0;
}

int impa_engine_tile_overlap(const impa_engine_t *e)
{
    return e && e->inner ? e->overlap : 0;
}

void impa_engine_destroy(impa_engine_t **engine)
{
    if (!engine || !*engine)
        return;
    for (int i = 0; i < (*engine)->n_inner; i++)
        impa_engine_destroy(&(*engine)->inners[i]);
    free((*engine)->inners);
    free((*engine)->arena_base);
    free((*engine)->work);
    free((*engine)->tpart);
    free((*engine)->tcomb);
    free((*engine)->tscr);
    free(*engine);
    *engine = NULL;
}

size_t impa_engine_workspace_bytes(const impa_engine_t *engine)
{
    return engine ? engine->ws_bytes : 0;
}

double impa_engine_flops(const impa_engine_t *engine)
{
    return engine ? engine->flops : 0.0;
}

const char *impa_engine_blas_core(void)
{
    return openblas_get_corename();
}

const char *impa_engine_blas_config(void)
{
    return openblas_get_config();
}

const char *impa_engine_kernel_isa(void)
{
    return impa_kernels_isa_name(impa_kernels_isa());
}

int impa_engine_set_kernel_isa(const char *name)
{
    static const impa_isa_t all[] = {IMPA_ISA_GENERIC, IMPA_ISA_AVX2, IMPA_ISA_AVX512};
    for (size_t i = 0; name && i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(name, impa_kernels_isa_name(all[i])) == 0)
            return impa_kernels_set_isa(all[i]) == 0 ? 0 : IMPA_EINVAL;
    }
    return IMPA_EINVAL;
}

void impa_engine_stage_times(const impa_engine_t *e, impa_stage_times_t *out)
{
    if (!out)
        return;
    if (!e)
        memset(out, 0, sizeof *out);
    else
        *out = e->times;
}

/* The network's norm: GroupNorm over the grid, or (norm_local = 1) per pixel
 * over each group's channels. */
static void norm(const impa_model_info_t *mi, const float *in, float *out, int c, int hw,
                 const impa_norm_param_t *p, impa_act_t act, const float *add)
{
    if (mi->norm_local)
        impa_groupnorm_local(in, out, c, hw, mi->norm_groups, mi->gn_eps, p, act, add);
    else
        impa_groupnorm(in, out, c, hw, mi->norm_groups, mi->gn_eps, p, act, add);
}

/* pixel_shuffle(2) then the norm: pre [4c][h][w] -> out [c][2h][2w]. The
 * per-pixel norm does not need the fused kernel's per-plane statistics, so it
 * runs on the shuffled output. */
static void norm_shuffle2(const impa_model_info_t *mi, const float *pre, float *out, int c,
                          int h, int w, const impa_norm_param_t *p, impa_act_t act,
                          const float *add)
{
    if (mi->norm_local) {
        impa_pixel_shuffle(pre, out, c, h, w, 2);
        impa_groupnorm_local(out, out, c, 4 * h * w, mi->norm_groups, mi->gn_eps, p, act,
                             add);
    } else {
        impa_groupnorm_shuffle2(pre, out, c, h, w, mi->norm_groups, mi->gn_eps, p, act, add);
    }
}

/* A 3x3 convolution then its norm + SiLU in place: with GroupNorm the
 * statistics come out of the convolution's tiles (impa_conv2d_stats) and the
 * norm is one pass; the per-pixel norm needs none. Times go to wk. */
static void conv_norm(const impa_engine_t *e, impa_worker_t *wk, const float *x, int cin,
                      int hin, int win, float *y, int cout, int stride,
                      const impa_conv_param_t *cp, const impa_norm_param_t *np)
{
    const impa_model_info_t *mi = &e->model->info;
    int hw = impa_conv_out_size(hin, 3, stride, 1, 1) * impa_conv_out_size(win, 3, stride, 1, 1);
    double t0 = mono_s(), t1;
    if (mi->norm_local) {
        impa_conv2d(x, cin, hin, win, y, cout, cp, 3, stride, 1, 1, wk->col, 0);
        t1 = mono_s();
        impa_groupnorm_local(y, y, cout, hw, mi->norm_groups, mi->gn_eps, np, IMPA_ACT_SILU,
                             NULL);
    } else {
        double mean[IMPA_MAX_NORM_CH], m2[IMPA_MAX_NORM_CH];
        impa_conv2d_stats(x, cin, hin, win, y, cout, cp, 3, stride, 1, 1, wk->col, mean, m2);
        t1 = mono_s();
        impa_groupnorm_apply(y, y, cout, hw, mi->norm_groups, mi->gn_eps, np, IMPA_ACT_SILU,
                             NULL, mean, m2);
    }
    wk->conv_s += t1 - t0;
    wk->elem_s += mono_s() - t1;
}

/* A decoder 3x3 convolution to [4S] planes pre, then pixel_shuffle(2) + norm +
 * SiLU (+ add, which may be out, normalised on read by add_pre when not NULL:
 * GroupNorm models only) into out [S][2h][2w]; statistics as in conv_norm. */
static void conv_norm_shuffle2(const impa_engine_t *e, impa_worker_t *wk, const float *x,
                               int h, int w, float *pre, float *out,
                               const impa_conv_param_t *cp, const impa_norm_param_t *np,
                               const float *add, const impa_pre_t *add_pre)
{
    const impa_model_info_t *mi = &e->model->info;
    int S = mi->hid_s;
    double t0 = mono_s(), t1;
    if (mi->norm_local) {
        impa_conv2d(x, S, h, w, pre, 4 * S, cp, 3, 1, 1, 1, wk->col, 0);
        t1 = mono_s();
        norm_shuffle2(mi, pre, out, S, h, w, np, IMPA_ACT_SILU, add);
    } else {
        double mean[IMPA_MAX_NORM_CH], m2[IMPA_MAX_NORM_CH];
        impa_conv2d_stats(x, S, h, w, pre, 4 * S, cp, 3, 1, 1, 1, wk->col, mean, m2);
        t1 = mono_s();
        impa_groupnorm_shuffle2_apply(pre, out, S, h, w, mi->norm_groups, mi->gn_eps, np,
                                      IMPA_ACT_SILU, add, add_pre, mean, m2);
    }
    wk->conv_s += t1 - t0;
    wk->elem_s += mono_s() - t1;
}

/* enc.0 of one frame (Spatial Mixer, conv, norm, SiLU): x [C][H][W] (before
 * the mixer) -> e0 [S][H][W], on worker wk's mix and col buffers; adds its
 * time to wk's conv/elementwise counters. */
static void enc0(const impa_engine_t *e, impa_worker_t *wk, const float *x, float *e0)
{
    const impa_model_t *M = e->model;
    const impa_model_info_t *mi = &M->info;
    int C = mi->n_fields, S = mi->hid_s, H = e->H, W = e->W;
    if (mi->spatial_mixer) {
        impa_mixer(x, wk->mix, C, H, W);
        x = wk->mix;
    }
    conv_norm(e, wk, x, C, H, W, e0, S, 1, &M->enc_conv[0], &M->enc_norm[0]);
}

/* The Spatial Mixer as the producer of enc.0's input rows (mix_rows): each
 * band of mixed rows is still in cache when the convolution reads it. */
typedef struct {
    const float *x;
    float *mix;
    int c, h, w;
} mix_ctx_t;

static void mix_rows(void *ctx, int r0, int r1)
{
    const mix_ctx_t *m = ctx;
    impa_mixer_rows(m->x, m->mix, m->c, m->h, m->w, r0, r1);
}

/* enc.0's convolution + statistics (GroupNorm models): x [C][H][W] before the
 * mixer -> e0 [S][H][W] raw; mean, m2: [S]. */
static void enc0_conv_stats(const impa_engine_t *e, impa_worker_t *wk, const float *x, float *e0,
                            double *mean, double *m2)
{
    const impa_model_t *M = e->model;
    const impa_model_info_t *mi = &M->info;
    int C = mi->n_fields, S = mi->hid_s, H = e->H, W = e->W;
    if (!mi->spatial_mixer) {
        impa_conv2d_stats(x, C, H, W, e0, S, &M->enc_conv[0], 3, 1, 1, 1, wk->col, mean, m2);
        return;
    }
    mix_ctx_t mc = {x, wk->mix, C, H, W};
    impa_rows_src_t src = {mix_rows, &mc};
    impa_conv2d_stats_src(wk->mix, C, H, W, e0, S, &M->enc_conv[0], 3, 1, 1, 1, wk->col, &src,
                          mean, m2);
}

/* The encoder of one frame with GroupNorm (steps 1-2): x [C][H][W] -> e0
 * [S][H][W] (enc.0; normalised on return when it is e->skip, else scratch) ->
 * wk->half -> z [S][h][w]; aff (NULL or [2][S]) gets enc.0's norm (scale, shift). Each norm + SiLU but the last is applied by the next
 * convolution as it reads the rows (the stride-2 direct kernel,
 * impa_conv2d_stats_normin) or band by band just before (im2col,
 * impa_conv2d_stats_pre), not in a pass of its own. */
static void encoder_frame(const impa_engine_t *e, impa_worker_t *wk, const float *x, float *e0,
                          float *z, float *aff)
{
    const impa_model_t *M = e->model;
    const impa_model_info_t *mi = &M->info;
    int S = mi->hid_s, H = e->H, W = e->W;
    double mean[IMPA_MAX_NORM_CH / 4], m2[IMPA_MAX_NORM_CH / 4];
    float scale[2][IMPA_MAX_NORM_CH / 4], shift[2][IMPA_MAX_NORM_CH / 4];
    impa_pre_t pre0 = {scale[0], shift[0], 1}, pre1 = {scale[1], shift[1], 1};
    double t0 = mono_s();
    enc0_conv_stats(e, wk, x, e0, mean, m2);
    impa_groupnorm_affine(mean, m2, S, mi->norm_groups, H * W, mi->gn_eps, &M->enc_norm[0],
                          scale[0], shift[0]);
    if (aff) {
        memcpy(aff, scale[0], sizeof(float) * (size_t)S);
        memcpy(aff + S, shift[0], sizeof(float) * (size_t)S);
    }
    /* e0 stays normalised only where it is the decoder's skip */
    if (e0 == e->skip)
        impa_conv2d_stats_pre(e0, S, H, W, wk->half, S, &M->enc_conv[1], 3, 2, 1, 1, wk->col,
                              &pre0, mean, m2);
    else
        impa_conv2d_stats_normin(e0, S, H, W, wk->half, S, &M->enc_conv[1], 3, 2, 1, 1, wk->col,
                                 &pre0, mean, m2);
    int H2 = impa_conv_out_size(H, 3, 2, 1, 1), W2 = impa_conv_out_size(W, 3, 2, 1, 1);
    impa_groupnorm_affine(mean, m2, S, mi->norm_groups, H2 * W2, mi->gn_eps, &M->enc_norm[1],
                          scale[1], shift[1]);
    impa_conv2d_stats_normin(wk->half, S, H2, W2, z, S, &M->enc_conv[2], 3, 2, 1, 1, wk->col,
                             &pre1, mean, m2);
    double t1 = mono_s();
    int hw = impa_conv_out_size(H2, 3, 2, 1, 1) * impa_conv_out_size(W2, 3, 2, 1, 1);
    impa_groupnorm_apply(z, z, S, hw, mi->norm_groups, mi->gn_eps, &M->enc_norm[2],
                         IMPA_ACT_SILU, NULL, mean, m2);
    wk->conv_s += t1 - t0; /* the two fused norms count as convolution time */
    wk->elem_s += mono_s() - t1;
}

/* Floats of the working set of one band of dec1_skip (its pre rows, full rows
 * and mixed rows): about 1 MiB, half the 2 MiB L2 of the Xeon (SPR-class). */
#define IMPA_DEC_BAND_FLOATS (256 * 1024)

/* dec.1 of lead t with its skip (advection, GroupNorm): dec.1's convolution
 * wk->half -> wk->pre [4S][H2][W2], then band by band of pre rows: enc.0 of the
 * lead's extrapolated frame `base` (mixer rows, then the convolution rows) into
 * those rows of wk->full, raw, and dec.1's shuffle + norm + SiLU onto them in
 * place, applying the skip's norm + SiLU (e->skip_aff, computed by the encoder
 * on the same frame) as it reads them. The raw skip rows never leave cache,
 * instead of a [S][H][W] plane set written by one pass and read back by the
 * next (32 MiB a lead at 512 x 512). On return wk->full = dec.1's output +
 * skip [S][H][W]. */
static void dec1_skip(const impa_engine_t *e, impa_worker_t *wk, const float *base, int lead)
{
    const impa_model_t *M = e->model;
    const impa_model_info_t *mi = &M->info;
    int C = mi->n_fields, S = mi->hid_s, H = e->H, W = e->W, H2 = H / 2, W2 = W / 2;
    const float *aff = e->skip_aff + (size_t)lead * 2 * S;
    impa_pre_t sk = {aff, aff + S, 1};
    double mean[IMPA_MAX_NORM_CH], m2[IMPA_MAX_NORM_CH];
    float scale[IMPA_MAX_NORM_CH / 4], shift[IMPA_MAX_NORM_CH / 4];
    double t0 = mono_s();
    impa_conv2d_stats(wk->half, S, H2, W2, wk->pre, 4 * S, &M->dec_conv[1], 3, 1, 1, 1, wk->col,
                      mean, m2);
    impa_groupnorm_shuffle2_affine(mean, m2, S, mi->norm_groups, H2 * W2, mi->gn_eps,
                                   &M->dec_norm[1], scale, shift);
    double tc = mono_s() - t0, te = 0.0;
    int band = e->dec_band > 0 ? e->dec_band
                               : IMPA_DEC_BAND_FLOATS / (2 * S * W + 4 * S * W2 + 2 * C * W);
    if (band < 1)
        band = 1;
    const float *x = mi->spatial_mixer ? wk->mix : base;
    int mixed = 0; /* rows of wk->mix written */
    for (int y0 = 0; y0 < H2; y0 += band) {
        int y1 = y0 + band < H2 ? y0 + band : H2;
        double a = mono_s();
        if (mi->spatial_mixer) {
            int hi = 2 * y1 + 1 < H ? 2 * y1 + 1 : H; /* enc.0 rows 2y0..2y1-1 read up to 2y1 */
            impa_mixer_rows(base, wk->mix, C, H, W, mixed, hi);
            mixed = hi > mixed ? hi : mixed;
        }
        impa_conv2d_rows(x, C, H, W, wk->full, S, &M->enc_conv[0], 3, 1, 1, 1, wk->col, 2 * y0,
                         2 * y1);
        double b = mono_s();
        impa_shuffle2_apply_rows(wk->pre, wk->full, S, H2, W2, scale, shift, IMPA_ACT_SILU,
                                 wk->full, &sk, y0, y1);
        tc += b - a;
        te += mono_s() - b;
    }
    wk->conv_s += tc;
    wk->elem_s += te;
}

/* IMPA translator block i on e->u: [T][h][w] (docs/model.md step 4). */
static void impa_block(impa_engine_t *e, const impa_block_param_t *B, int h, int w)
{
    const impa_model_info_t *mi = &e->model->info;
    int T = mi->hid_t, Tm = T * mi->mlp_ratio, Tr = T / mi->se_reduction;
    int hw = h * w;

    /* gated multi-scale attention: u += proj(v * sigmoid(fuse(sum_j branch_j(v)))) */
    norm(mi, e->u, e->a, T, hw, &B->norm1, IMPA_ACT_NONE, NULL);
    impa_conv2d(e->a, T, h, w, e->v, T, &B->attn_v, 1, 1, 0, 1, NULL, 0);
    impa_silu(e->v, (size_t)T * hw);
    for (int j = 0; j < mi->n_branches; j++)
        impa_dwconv2d(e->v, e->s, T, h, w, &B->branch[j], mi->branch_kernels[j],
                      mi->branch_dilations[j], j > 0);
    impa_conv2d(e->s, T, h, w, e->a, T, &B->attn_fuse, 1, 1, 0, 1, NULL, 0);
    impa_gate(e->v, e->a, (size_t)T * hw);
    impa_conv2d(e->a, T, h, w, e->u, T, &B->attn_proj, 1, 1, 0, 1, NULL, 1);

    /* channel attention: u += c * se(c), c = norm2(u) */
    norm(mi, e->u, e->a, T, hw, &B->norm2, IMPA_ACT_NONE, NULL);
    if (mi->se_window > 0)
        impa_se_local(e->a, e->u, T, Tr, h, w, mi->se_window, &B->se_fc1, &B->se_fc2,
                      e->se_pool, e->se_hid);
    else
        impa_se(e->a, e->u, T, Tr, hw, &B->se_fc1, &B->se_fc2, e->se);

    /* conv-MLP: u += fc2(gelu(dw(fc1(norm3(u))))) */
    norm(mi, e->u, e->a, T, hw, &B->norm3, IMPA_ACT_NONE, NULL);
    impa_conv2d(e->a, T, h, w, e->m1, Tm, &B->mlp_fc1, 1, 1, 0, 1, NULL, 0);
    impa_dwconv2d(e->m1, e->m2, Tm, h, w, &B->mlp_dw, 3, 1, 0);
    impa_gelu(e->m2, (size_t)Tm * hw);
    impa_conv2d(e->m2, Tm, h, w, e->u, T, &B->mlp_fc2, 1, 1, 0, 1, NULL, 1);
}

#if IMPA_HAVE_OPENMP
/* One thread's share of the parallel translator: rows r0..r1-1 of every
 * [.][h][w] tensor, i.e. columns c0..c0+n-1 of each channel plane. */
typedef struct {
    int id, nt;          /* thread number, team size */
    int h, w, r0, r1, c0, n;
    int count[IMPA_ENGINE_MAX_THREADS]; /* pixels of each thread's slice */
    double *mean, *m2;   /* [T] combined statistics (this thread's) */
    float *scale, *shift, *pooled, *gate, *hid; /* [T] x 4, [Tr] */
} tslice_t;

/* GroupNorm of x into out on this thread's slice: slice statistics into slot
 * `which`, a barrier, every thread combines all slices itself (T values, cheaper
 * than a second barrier) and applies the affine to its own columns. */
static void norm_par(impa_engine_t *e, tslice_t *ts, int which, const float *x, float *out,
                     const impa_norm_param_t *np)
{
    const impa_model_info_t *mi = &e->model->info;
    int T = mi->hid_t, hw = ts->h * ts->w;
    size_t nt_max = (size_t)e->threads;
    double *pm = e->tpart + (size_t)(2 * which) * nt_max * T;
    double *pq = pm + nt_max * T;
    impa_channel_stats_cols(x, T, hw, ts->c0, ts->n, pm + (size_t)ts->id * T,
                            pq + (size_t)ts->id * T);
#pragma omp barrier
    impa_stats_combine(ts->nt, pm, pq, ts->count, T, ts->mean, ts->m2);
    impa_groupnorm_affine(ts->mean, ts->m2, T, mi->norm_groups, hw, mi->gn_eps, np, ts->scale,
                          ts->shift);
    impa_channel_apply_cols(x, out, T, hw, ts->c0, ts->n, ts->scale, ts->shift, IMPA_ACT_NONE,
                            NULL);
}

/* impa_block on this thread's slice (the same operations in the same order;
 * GroupNorm models with the grid-mean SE only). Each norm reads u's statistics
 * after a barrier; each depthwise conv reads its neighbours' rows after one.
 * The SE's pooled mean of c = norm2(u) comes from u's statistics
 * (mean(c) = scale * mean(u) + shift), so the SE needs no pass of its own. */
static void block_par(impa_engine_t *e, tslice_t *ts, const impa_block_param_t *B)
{
    const impa_model_info_t *mi = &e->model->info;
    int T = mi->hid_t, Tm = T * mi->mlp_ratio, Tr = T / mi->se_reduction;
    int h = ts->h, w = ts->w, hw = h * w, c0 = ts->c0, n = ts->n;

    norm_par(e, ts, 0, e->u, e->a, &B->norm1);
    impa_conv1x1_cols(e->a, T, hw, e->v, T, &B->attn_v, c0, n, 0);
    for (int ch = 0; ch < T && n > 0; ch++)
        impa_silu(e->v + (size_t)ch * hw + c0, (size_t)n);
#pragma omp barrier
    for (int j = 0; j < mi->n_branches; j++)
        impa_dwconv2d_rows(e->v, e->s, T, h, w, &B->branch[j], mi->branch_kernels[j],
                           mi->branch_dilations[j], j > 0, ts->r0, ts->r1);
    impa_conv1x1_cols(e->s, T, hw, e->a, T, &B->attn_fuse, c0, n, 0);
    for (int ch = 0; ch < T && n > 0; ch++)
        impa_gate(e->v + (size_t)ch * hw + c0, e->a + (size_t)ch * hw + c0, (size_t)n);
    impa_conv1x1_cols(e->a, T, hw, e->u, T, &B->attn_proj, c0, n, 1);

    norm_par(e, ts, 1, e->u, e->a, &B->norm2);
    for (int ch = 0; ch < T; ch++)
        ts->pooled[ch] = (float)(ts->scale[ch] * ts->mean[ch] + ts->shift[ch]);
    impa_se_gate(ts->pooled, T, Tr, &B->se_fc1, &B->se_fc2, ts->hid, ts->gate);
    for (int ch = 0; ch < T && n > 0; ch++) {
        const float *cc = e->a + (size_t)ch * hw + c0;
        float *uu = e->u + (size_t)ch * hw + c0, g = ts->gate[ch];
        for (int i = 0; i < n; i++)
            uu[i] += cc[i] * g;
    }

    norm_par(e, ts, 2, e->u, e->a, &B->norm3);
    impa_conv1x1_cols(e->a, T, hw, e->m1, Tm, &B->mlp_fc1, c0, n, 0);
#pragma omp barrier
    impa_dwconv2d_rows(e->m1, e->m2, Tm, h, w, &B->mlp_dw, 3, 1, 0, ts->r0, ts->r1);
    for (int ch = 0; ch < Tm && n > 0; ch++)
        impa_gelu(e->m2 + (size_t)ch * hw + c0, (size_t)n);
    impa_conv1x1_cols(e->m2, Tm, hw, e->u, T, &B->mlp_fc2, c0, n, 1);
}
#endif

/* Steps 3-4: [F*S][h][w] latents u0 -> trans.inp -> blocks -> trans.out zo.
 * With several threads and a GroupNorm + grid-mean SE model, one parallel
 * region in which each thread owns a band of rows (block_par); otherwise on
 * the calling thread: ~6 % of the FLOPs in ~40 small kernels, and splitting
 * each kernel over the threads cost more in fork-joins than it saved on the
 * loaded 2-core machine (CPU time per forward 0.55 s vs 0.30 s at 256x256). */
static void translator(impa_engine_t *e, int h, int w)
{
    const impa_model_t *M = e->model;
    const impa_model_info_t *mi = &M->info;
    int S = mi->hid_s, T = mi->hid_t, Tout = mi->t_out, F = impa_model_input_frames(M);
#if IMPA_HAVE_OPENMP
    if (e->threads > 1 && h * w >= e->trans_par_min && !mi->norm_local &&
        mi->se_window == 0) {
        int hw = h * w, Tr = T / mi->se_reduction;
#pragma omp parallel num_threads(e->threads)
        {
            tslice_t ts;
            ts.id = omp_get_thread_num();
            ts.nt = omp_get_num_threads();
            ts.h = h;
            ts.w = w;
            for (int k = 0; k < ts.nt; k++)
                ts.count[k] = (h * (k + 1) / ts.nt - h * k / ts.nt) * w;
            ts.r0 = h * ts.id / ts.nt;
            ts.r1 = h * (ts.id + 1) / ts.nt;
            ts.c0 = ts.r0 * w;
            ts.n = (ts.r1 - ts.r0) * w;
            ts.mean = e->tcomb + (size_t)ts.id * 2 * T;
            ts.m2 = ts.mean + T;
            ts.scale = e->tscr + (size_t)ts.id * (4 * T + Tr);
            ts.shift = ts.scale + T;
            ts.pooled = ts.shift + T;
            ts.gate = ts.pooled + T;
            ts.hid = ts.gate + T;
            impa_kernels_serial(1);
            impa_conv1x1_cols(e->u0, F * S, hw, e->u, T, &M->trans_inp, ts.c0, ts.n, 0);
            for (int b = 0; b < mi->n_blocks; b++)
                block_par(e, &ts, &M->blocks[b]);
            impa_conv1x1_cols(e->u, T, hw, e->zo, Tout * S, &M->trans_out, ts.c0, ts.n, 0);
            impa_kernels_serial(0);
        }
        return;
    }
#endif
    impa_kernels_serial(1);
    impa_conv2d(e->u0, F * S, h, w, e->u, T, &M->trans_inp, 1, 1, 0, 1, NULL, 0);
    for (int b = 0; b < mi->n_blocks; b++)
        impa_block(e, &M->blocks[b], h, w);
    impa_conv2d(e->u, T, h, w, e->zo, Tout * S, &M->trans_out, 1, 1, 0, 1, NULL, 0);
    impa_kernels_serial(0);
}

int impa_engine_forward(impa_engine_t *e, const float *in, float *out, char *err,
                        size_t errlen)
{
    if (!e || !in || !out)
        return impa_err(err, errlen, IMPA_EINVAL, "impa_engine_forward: NULL argument");
    if (e->inner)
        return forward_tiled(e, in, out, err, errlen);
    const impa_model_t *M = e->model;
    const impa_model_info_t *mi = &M->info;
    int C = mi->n_fields, S = mi->hid_s;
    int Tin = mi->t_in, Tout = mi->t_out, F = impa_model_input_frames(M);
    int H = e->H, W = e->W, H2 = H / 2, W2 = W / 2, h = H / 4, w = W / 4;
    size_t HW = (size_t)H * W, hw = (size_t)h * w;
    int nth = e->threads;
    for (int i = 0; i < nth; i++)
        e->work[i].conv_s = e->work[i].elem_s = 0.0;
    double ts0 = mono_s();

    /* 1-2. Spatial Mixer and encoder, one frame per thread; z_t lands in
     * u0[t*S..]. The enc.0 outputs the decoder needs land in skip: the last
     * observed frame's, or with advection every extrapolated frame's (lead
     * t - Tin + 1 corrects its own advected field). */
#if IMPA_HAVE_OPENMP
#pragma omp parallel for num_threads(nth) schedule(static) if (nth > 1 && F > 1)
#endif
    for (int t = 0; t < F; t++) {
#if IMPA_HAVE_OPENMP
        impa_worker_t *wk = &e->work[omp_get_thread_num()];
#else
        impa_worker_t *wk = &e->work[0];
#endif
        const float *x = in + (size_t)t * C * HW;           /* [C][H][W] */
        float *e0 = wk->full;                               /* [S][H][W] */
        if (!mi->advection && t == Tin - 1)
            e0 = e->skip;
        float *z = e->u0 + (size_t)t * S * hw;              /* [S][h][w] */
        if (!mi->norm_local) {
            float *aff = e->skip_aff && t >= Tin ? e->skip_aff + (size_t)(t - Tin) * 2 * S : NULL;
            encoder_frame(e, wk, x, e0, z, aff);
            continue;
        }
        enc0(e, wk, x, e0);
        conv_norm(e, wk, e0, S, H, W, wk->half, S, 2, &M->enc_conv[1], &M->enc_norm[1]);
        conv_norm(e, wk, wk->half, S, H2, W2, z, S, 2, &M->enc_conv[2], &M->enc_norm[2]);
    }
    double ts1 = mono_s();
    if (e->progress)
        e->progress(e->progress_ctx);

    /* 3-4. Translator on [F*S][h][w] -> [T][h][w] -> blocks -> [Tout*S][h][w]. */
    translator(e, h, w);
    double ts2 = mono_s();
    if (e->progress)
        e->progress(e->progress_ctx);
    double ts3 = mono_s();

    /* 5. Decoder, one lead per thread. */
#if IMPA_HAVE_OPENMP
#pragma omp parallel for num_threads(nth) schedule(static) if (nth > 1 && Tout > 1)
#endif
    for (int t = 0; t < Tout; t++) {
#if IMPA_HAVE_OPENMP
        impa_worker_t *wk = &e->work[omp_get_thread_num()];
#else
        impa_worker_t *wk = &e->work[0];
#endif
        const float *z = e->zo + (size_t)t * S * hw; /* [S][h][w] */
        float *y = out + (size_t)t * HW;             /* [H][W] */
        /* skip and residual base: the last observed frame, or (advection) the
         * extrapolated frame of this lead; base is reflectivity before the mixer */
        int bf = mi->advection ? Tin + t : Tin - 1;
        const float *base = in + (size_t)bf * C * HW; /* [H][W] */
        conv_norm_shuffle2(e, wk, z, h, w, wk->pre, wk->half, &M->dec_conv[0],
                           &M->dec_norm[0], NULL, NULL);
        if (!mi->advection) {
            conv_norm_shuffle2(e, wk, wk->half, H2, W2, wk->pre, wk->full, &M->dec_conv[1],
                               &M->dec_norm[1], e->skip, NULL);
        } else if (!mi->norm_local) {
            dec1_skip(e, wk, base, t);
        } else {
            /* the per-pixel path shuffles before it norms: dec.1 into full first, the
             * skip into the then free pre, and one add */
            conv_norm_shuffle2(e, wk, wk->half, H2, W2, wk->pre, wk->full, &M->dec_conv[1],
                               &M->dec_norm[1], NULL, NULL);
            enc0(e, wk, base, wk->pre);
            for (size_t i = 0; i < (size_t)S * HW; i++)
                wk->full[i] += wk->pre[i];
        }
        float *d2 = wk->pre; /* [S][H][W] dec.2 output */
        if (!mi->norm_local) {
            /* dec.2's norm + SiLU, the readout and the residual in one pass over d2 */
            double mean[IMPA_MAX_NORM_CH], m2[IMPA_MAX_NORM_CH];
            double t5 = mono_s();
            impa_conv2d_stats(wk->full, S, H, W, d2, S, &M->dec_conv[2], 3, 1, 1, 1, wk->col,
                              mean, m2);
            double t6 = mono_s();
            impa_groupnorm_apply_readout(d2, S, (int)HW, mi->norm_groups, mi->gn_eps,
                                         &M->dec_norm[2], IMPA_ACT_SILU, mean, m2, &M->readout,
                                         mi->residual ? base : NULL, y);
            wk->conv_s += t6 - t5;
            wk->elem_s += mono_s() - t6;
            continue;
        }
        conv_norm(e, wk, wk->full, S, H, W, d2, S, 1, &M->dec_conv[2], &M->dec_norm[2]);
        double t6 = mono_s();
        impa_conv2d(d2, S, H, W, y, 1, &M->readout, 1, 1, 0, 1, NULL, 0);
        if (mi->residual) {
            for (size_t i = 0; i < HW; i++)
                y[i] += base[i];
        }
        wk->elem_s += mono_s() - t6;
    }
    double ts4 = mono_s();
    e->times.encoder_s = ts1 - ts0;
    e->times.translator_s = ts2 - ts1;
    e->times.decoder_s = ts4 - ts3;
    e->times.conv_s = e->times.elementwise_s = 0.0;
    for (int i = 0; i < nth; i++) {
        e->times.conv_s += e->work[i].conv_s;
        e->times.elementwise_s += e->work[i].elem_s;
    }
    return 0;
}

/* Normalisation of docs/model.md for one raw value. */
static float normalise1(const impa_model_info_t *mi, int f, float x)
{
    if (isnan(x))
        return 0.0f;
    float u = x - mi->norm_offset[f];
    if (mi->norm_transform[f] == IMPA_NORM_LOG10P1)
        u = log10f(1.0f + (u > 0.0f ? u : 0.0f));
    u /= mi->norm_scale[f];
    if (u < mi->norm_min[f])
        u = mi->norm_min[f];
    if (u > mi->norm_max[f])
        u = mi->norm_max[f];
    return u;
}

int impa_engine_normalise(const impa_engine_t *e, const float *const *dbz,
                          const float *const *statics, float *in, char *err, size_t errlen)
{
    if (!e || !dbz || !in)
        return impa_err(err, errlen, IMPA_EINVAL, "impa_engine_normalise: NULL argument");
    const impa_model_info_t *mi = &e->model->info;
    int C = mi->n_fields, F = impa_model_input_frames(e->model);
    size_t HW = (size_t)e->H * e->W;
    for (int t = 0; t < F; t++) {
        if (!dbz[t])
            return impa_err(err, errlen, IMPA_EINVAL, "impa_engine_normalise: frame %d is NULL",
                            t);
    }
    /* R = (10^(dBZ/10) / a)^(1/b) = exp(dBZ * ln10 / (10 b) - ln(a) / b): one expf
     * per pixel instead of two pow (normalise was 59 ms at 512x512, 1 thread) */
    float k_dbz = (float)(log(10.0) / (10.0 * mi->zr_b));
    float k_a = (float)(log((double)mi->zr_a) / mi->zr_b);
#if IMPA_HAVE_OPENMP
#pragma omp parallel for num_threads(e->threads) schedule(static) if (e->threads > 1)
#endif
    for (int t = 0; t < F; t++) {
        for (int f = 0; f < C; f++) {
            float *dst = in + ((size_t)t * C + f) * HW;
            const char *name = mi->field_names[f];
            if (strcmp(name, "reflectivity") == 0) {
                for (size_t i = 0; i < HW; i++)
                    dst[i] = normalise1(mi, f, dbz[t][i]);
            } else if (strcmp(name, "precip_rate") == 0) {
                /* Z = a R^b: R = (10^(dBZ/10) / a)^(1/b); no echo below 0 dBZ */
                for (size_t i = 0; i < HW; i++) {
                    float d = dbz[t][i];
                    float r = 0.0f;
                    if (!isnan(d) && d >= 0.0f)
                        r = expf(d * k_dbz - k_a);
                    dst[i] = normalise1(mi, f, r);
                }
            } else if (statics && statics[f]) {
                for (size_t i = 0; i < HW; i++)
                    dst[i] = normalise1(mi, f, statics[f][i]);
            } else {
                memset(dst, 0, HW * sizeof(float));
            }
        }
    }
    return 0;
}

int impa_engine_forecast(impa_engine_t *e, const float *const *dbz,
                         const float *const *statics, float *out_dbz, char *err, size_t errlen)
{
    if (!e || !dbz || !out_dbz)
        return impa_err(err, errlen, IMPA_EINVAL, "impa_engine_forecast: NULL argument");
    const impa_model_info_t *mi = &e->model->info;
    int rc = impa_engine_normalise(e, dbz, statics, e->in, err, errlen);
    if (rc)
        return rc;
    rc = impa_engine_forward(e, e->in, e->out, err, errlen);
    if (rc)
        return rc;
    size_t HW = (size_t)e->H * e->W;
    const float *last = dbz[mi->t_in - 1];
    float sc = mi->norm_scale[0], of = mi->norm_offset[0];
    for (int t = 0; t < mi->t_out; t++) {
        const float *y = e->out + (size_t)t * HW;
        float *d = out_dbz + (size_t)t * HW;
        for (size_t i = 0; i < HW; i++) {
            float v = y[i] < 0.0f ? 0.0f : (y[i] > 1.0f ? 1.0f : y[i]);
            d[i] = isnan(last[i]) ? NAN : v * sc + of;
        }
    }
    return 0;
}

void impa_engine_set_decoder_band(impa_engine_t *e, int rows)
{
    if (e)
        e->dec_band = rows;
    for (int i = 0; e && i < e->n_inner; i++)
        e->inners[i]->dec_band = rows;
}

void impa_engine_set_translator_split(impa_engine_t *e, int min_hw)
{
    if (e)
        e->trans_par_min = min_hw;
    for (int i = 0; e && i < e->n_inner; i++)
        e->inners[i]->trans_par_min = min_hw;
}

int impa_engine_threads(const impa_engine_t *e)
{
    return e ? e->threads : 0;
}
