/* IMPA-Net inference engine: load a weights file once, build a workspace for one
 * grid, run forward passes that allocate nothing.
 *
 * Architecture and weights format: docs/model.md.
 *
 * Ownership: impa_model_load() returns a model owned by the caller
 * (impa_model_destroy). impa_engine_create() borrows the model: the model must
 * outlive every engine created from it. An engine is not thread-safe; use one
 * per thread. */
#ifndef IMPA_ENGINE_H
#define IMPA_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "impa/error.h"

#define IMPA_MAX_FIELDS 8
#define IMPA_MAX_BRANCHES 8
#define IMPA_MAX_SE_WINDOW 255 /* largest se_window the loader accepts */
#define IMPA_WEIGHTS_FORMAT "impa-nowcast-weights"
#define IMPA_WEIGHTS_FORMAT_VERSION 1

typedef enum {
    IMPA_NORM_LINEAR = 0,  /* (x - offset) / scale */
    IMPA_NORM_LOG10P1 = 1, /* log10(1 + max(x - offset, 0)) / scale */
} impa_norm_transform_t;

/* Every hyper-parameter of a model, as read from the weights file's attributes. */
typedef struct {
    char model_name[64];
    char model_version[32];
    char description[256];
    int n_fields;
    char field_names[IMPA_MAX_FIELDS][32]; /* field_names[0] == "reflectivity" */
    impa_norm_transform_t norm_transform[IMPA_MAX_FIELDS];
    float norm_offset[IMPA_MAX_FIELDS];
    float norm_scale[IMPA_MAX_FIELDS];
    float norm_min[IMPA_MAX_FIELDS];
    float norm_max[IMPA_MAX_FIELDS];
    int t_in, t_out, step_minutes;
    int hid_s, hid_t, n_blocks, norm_groups, se_reduction, mlp_ratio;
    int n_branches;
    int branch_kernels[IMPA_MAX_BRANCHES];
    int branch_dilations[IMPA_MAX_BRANCHES];
    int spatial_mixer, residual, total_stride;
    /* 1: advection-guided variant (docs/model.md "Advection guidance"): the network
     * also reads t_out extrapolated frames and corrects them. Optional attribute:
     * absent = 0, so files written before the variant load unchanged. */
    int advection;
    /* Extrapolation scheme the advection input was made with (extrapolate.h):
     * optional text attribute `extrapolation`, absent = "impa-extrap-1" (every
     * file written before the attribute existed). */
    char extrapolation[32];
    /* Size-independent variant (docs/model.md "Size-independent normalisation").
     * Optional attributes, absent = 0, so older files load unchanged.
     * norm_local 1: every norm takes mean and variance at each pixel over the
     * channels of its group (not over the group and the whole grid).
     * se_window k > 0 (odd, <= IMPA_MAX_SE_WINDOW): the squeeze-excitation gate is
     * computed at every pixel from the mean over the k x k window centred on it
     * (pixels outside the grid not counted); 0: from the mean of the whole grid. */
    int norm_local;
    int se_window;
    float gn_eps, zr_a, zr_b;
    char sha256[65]; /* hash of the weights file, for provenance */
} impa_model_info_t;

typedef struct impa_model impa_model_t;
typedef struct impa_engine impa_engine_t;

/* Reads and validates a weights file (every tensor present with the shape the
 * attributes imply, every attribute present and in range). On failure returns
 * a negative code and writes e.g. "model.nc: tensor 'enc.1.conv.weight' has shape
 * [16,8,3,3], expected [16,16,3,3]" into err. */
IMPA_API int impa_model_load(const char *path, impa_model_t **out, char *err, size_t errlen);
IMPA_API void impa_model_destroy(impa_model_t **model);
IMPA_API const impa_model_info_t *impa_model_info(const impa_model_t *model);

/* Frames the network reads: t_in observed, plus t_out extrapolated when
 * advection = 1 (t_in + advection * t_out). 0 for NULL. */
IMPA_API int impa_model_input_frames(const impa_model_t *model);

/* The window side to run `model` with when `tile` is configured (0 = whole
 * grid): `tile` for a model whose norms see the whole input (GroupNorm or a
 * grid-mean SE gate: it must run on windows of its training crop), 0 for a
 * size-independent model (norm_local = 1 and se_window > 0), where windows
 * would only cut the network's context. The daemon and impa-infer both use
 * it, so they cannot run one model two ways. */
IMPA_API int impa_model_effective_tile(const impa_model_t *model, int tile);

/* Builds an engine for an ny x nx grid using `threads` threads (0 = all cores).
 * Sizes that are not multiples of total_stride are refused with a message giving
 * the nearest valid sizes. Every buffer of the forward pass is allocated here. */
IMPA_API int impa_engine_create(const impa_model_t *model, int ny, int nx, int threads,
                                impa_engine_t **out, char *err, size_t errlen);
IMPA_API void impa_engine_destroy(impa_engine_t **engine);

/* Like impa_engine_create, but the network runs on tile x tile windows covering
 * the grid. Why: GroupNorm normalises over the whole input, and a model trained
 * on small crops meets other statistics on a large, mostly dry grid: the shipped
 * model paints 20-30 dBZ over dry areas on 512x512 and not on its 80x80 training
 * scale (models/README.md). tile must be a multiple of total_stride; tile <= 0,
 * or a tile covering the grid, is impa_engine_create. Models with norm_local = 1
 * and se_window > 0 have no grid-wide statistic and can run on the whole grid.
 *
 * Windows lose context at their borders (seams at the receptive-field scale);
 * `overlap` (pixels, 0 <= overlap <= tile/2, else IMPA_EINVAL) blends them away.
 * Along a side of length n, with T = min(tile, n) and stride S = T - overlap,
 * windows start at 0, S, 2S, ... while they fit, plus one ending at the border
 * when the last does not.
 * - overlap 0: abutting windows; the border window overwrites the part it shares
 *   with its neighbour (the behaviour before overlaps existed, bit for bit).
 * - overlap > 0: each window's output (every lead) is weighted by w(y) * w(x),
 *   w(i) = min(1, (i + 0.5) / overlap, (T - i - 0.5) / overlap), i = 0..T-1,
 *   and the forecast is the weighted sum over the windows divided by the sum of
 *   the weights (every pixel has weight > 0; a NaN window output stays NaN).
 *   Cost: up to (T / (T - overlap))^2 times the windows of overlap 0 on a
 *   large grid (2.8x at 80/32); on 512x512 at 80/32, 100 windows instead of
 *   49 (2.0x), since overlap 0 already pays for a partial border window.
 * The weights and their per-pixel sum are computed here; forward accumulates
 * into its `out` and allocates nothing. */
IMPA_API int impa_engine_create_tiled(const impa_model_t *model, int ny, int nx, int tile,
                                      int overlap, int threads, impa_engine_t **out,
                                      char *err, size_t errlen);
/* Tile size of a tiled engine, 0 for a whole-grid engine. */
IMPA_API int impa_engine_tile(const impa_engine_t *engine);
/* Window overlap of a tiled engine (pixels), 0 for a whole-grid engine. */
IMPA_API int impa_engine_tile_overlap(const impa_engine_t *engine);

/* Called from the calling thread (never from a worker) while a forward pass
 * makes progress: after each window of a tiled engine, after the encoder and
 * after the translator of a whole-grid one. For liveness reports (the daemon
 * pings the systemd watchdog from it, so a long forecast on a large grid is
 * not taken for a hang while a stuck one still is); it must be quick and must
 * not use the engine. fn NULL removes it. */
typedef void (*impa_progress_fn)(void *ctx);
IMPA_API void impa_engine_set_progress(impa_engine_t *engine, impa_progress_fn fn, void *ctx);

/* Bytes held by the engine's workspace (all activations). */
IMPA_API size_t impa_engine_workspace_bytes(const impa_engine_t *engine);

/* Floating-point operations of one forward pass, counted from the architecture
 * (multiply-add = 2; convolutions, norms and activations). */
IMPA_API double impa_engine_flops(const impa_engine_t *engine);

/* Frames per forward: impa_model_input_frames of the engine's model (F below). */
IMPA_API int impa_engine_input_frames(const impa_engine_t *engine);

/* The engine's model's hyper-parameters (borrowed) and its grid. */
IMPA_API const impa_model_info_t *impa_engine_info(const impa_engine_t *engine);
IMPA_API void impa_engine_grid(const impa_engine_t *engine, int *ny, int *nx);

/* Forward pass on normalised tensors.
 * in:  [F][n_fields][ny][nx] normalised (see impa_engine_normalise), F =
 *      impa_engine_input_frames: the t_in observed frames, oldest first, then
 *      for advection models the t_out extrapolated frames, lead 1 first
 * out: [t_out][ny][nx] normalised network output, not clamped.
 * Allocates nothing. */
IMPA_API int impa_engine_forward(impa_engine_t *engine, const float *in, float *out,
                                 char *err, size_t errlen);

/* Builds the normalised input from observations.
 * dbz[t]: F = impa_engine_input_frames reflectivity frames [ny][nx] in dBZ,
 *   NAN = no data: the t_in observations, oldest first, then (advection = 1)
 *   the t_out extrapolated frames, lead 1 first (impa_guided_* in
 *   impa/guided.h makes them the way training did). Every frame is normalised
 *   the same way (precip_rate derived, statics repeated, NaN -> 0).
 * statics[f]: optional raw field for input field f (terrain, wind850, ...), or
 *   NULL for zeros; statics may be NULL. precip_rate is derived from dBZ.
 * in: [F][n_fields][ny][nx] output. */
IMPA_API int impa_engine_normalise(const impa_engine_t *engine, const float *const *dbz,
                                   const float *const *statics, float *in,
                                   char *err, size_t errlen);

/* Convenience: normalise + forward + denormalise into out_dbz [t_out][ny][nx]
 * (dBZ, clamped to the model's range; NaN where the last OBSERVED frame,
 * dbz[t_in - 1], had no data). dbz: F frames as for impa_engine_normalise.
 * Uses the engine's own input/output buffers; allocates nothing. */
IMPA_API int impa_engine_forecast(impa_engine_t *engine, const float *const *dbz,
                                  const float *const *statics, float *out_dbz,
                                  char *err, size_t errlen);

/* Threads the engine's kernels use (the count resolved at create). */
IMPA_API int impa_engine_threads(const impa_engine_t *engine);

/* Name of the OpenBLAS kernel in use (openblas_get_corename), for benchmarks. */
IMPA_API const char *impa_engine_blas_core(void);
/* OpenBLAS build configuration (openblas_get_config), for benchmarks. */
IMPA_API const char *impa_engine_blas_config(void);
/* The variant of the engine's own ISA-dispatched kernels in use: "avx512",
 * "avx2", "generic" (x86-64 baseline) or "build" (a -march build's only one),
 * for benchmarks (docs/engine.md, "Runtime ISA dispatch"). */
IMPA_API const char *impa_engine_kernel_isa(void);
/* Selects that variant by its name ("generic", "avx2", "avx512"; the best the
 * CPU has is chosen at load): 0, or IMPA_EINVAL for a name this build or CPU
 * lacks (nothing changed). Process-wide, not while a forward runs; for
 * benchmarks and tests (impa-bench --kernels). The AVX-512 variant includes the
 * direct 3x3 convolution kernel. */
IMPA_API int impa_engine_set_kernel_isa(const char *name);

/* Where the time of the last impa_engine_forward went (wall seconds on the
 * calling thread; a tiled engine sums its windows). elementwise_s: thread-seconds
 * summed over the workers spent in norms, activations, shuffles and residual
 * adds inside the encoder and decoder (divide by the threads for wall time);
 * conv_s likewise for the convolutions. Recorded on every forward (a few clock
 * reads per frame and lead). */
typedef struct {
    double encoder_s, translator_s, decoder_s;
    double conv_s, elementwise_s;
} impa_stage_times_t;
IMPA_API void impa_engine_stage_times(const impa_engine_t *engine, impa_stage_times_t *out);

#endif
