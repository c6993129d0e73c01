/* Optical-flow extrapolation.
 *
 * Motion: pyramidal dense Lucas-Kanade with warping, solved jointly over all
 * consecutive frame pairs (one constant motion explains every pair, so the
 * structure tensors of the pairs are summed before solving), Tikhonov-damped so
 * that cells without texture keep the coarser estimate, and regularised by a
 * confidence-weighted (normalised) box smoothing after every iteration: wide at
 * the coarsest level, so echo-free areas ahead of a storm inherit the storm's
 * motion. Intensity is dBZ clipped at 10 dBZ (weak clutter/noise carries no
 * motion), missing = no echo, then smoothed with a 5-tap binomial filter.
 *
 * Advection: semi-Lagrangian, backwards, one midpoint step per lead along the
 * motion field, bilinear interpolation of the latest frame; a trajectory that
 * leaves the domain, or lands next to missing data, gives NAN.
 *
 * Box sums are running sums (O(1) per cell whatever the radius). All buffers are
 * allocated in impa_extrap_create. */
#include "impa/extrapolate.h"

#include "impa_build_config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if IMPA_HAVE_OPENMP
#include <omp.h>
#define PRAGMA_(x) _Pragma(#x)
/* dynamic: when the cores are shared, a descheduled thread's static share would
 * hold up the whole pass; with small dynamic chunks the running thread takes it */
#define OMP_FOR(nth) PRAGMA_(omp parallel for num_threads(nth) schedule(dynamic, 4))
#define OMP_FOR_MAX(nth, var) \
    PRAGMA_(omp parallel for num_threads(nth) schedule(dynamic, 4) reduction(max : var))
#define THREAD_NUM() omp_get_thread_num()
#else
#define OMP_FOR(nth)
#define OMP_FOR_MAX(nth, var)
#define THREAD_NUM() 0
#endif

#define MAX_LEVELS 8
#define MAX_FRAMES 16
#define CLIP_DBZ 10.0f      /* below: no echo for motion */
#define LK_RADIUS 4         /* LK window 9x9 cells at every level */
#define ITERS 3             /* warps per level */
#define DAMP_FRAC 0.01f     /* Tikhonov damping, fraction of the mean tensor trace */
#define MAX_STEP 1.0f       /* largest update per iteration, cells of the level */
#define FINE_SMOOTH_R 3     /* normalised smoothing radius at finer levels (cells) */
#define MIN_COARSE_SIDE 24  /* coarsest level is at least this many cells */
/* Smaller passes run on one thread: at 512 x 512 only level 0 is parallel. On
 * shared cores every barrier can wait a scheduler slice for a descheduled peer,
 * which costs more than level 1's 65536 cells save (measured under load 6-10:
 * 1.06-1.21 s against 1.34-1.71 s with level 1 parallel). Values do not depend
 * on it. */
#define PAR_MIN_CELLS 65537
#define WARP_ROWS 16        /* rows per job of the fused warp + structure tensor pass */

struct impa_extrap {
    int ny, nx, max_leads, n_frames, n_levels, threads;
    int scheme;
    /* motion/advection parameters in cells and frame steps (scheme 1: the
     * constants above; scheme 2: from the physical-unit options) */
    float clip, edge;
    int lk_radius, fine_r[MAX_LEVELS], substeps;
    int residue_floor; /* scheme 3: smoothing sums below their rounding residue are zero */
    float spread_cells_per_step; /* output smoothing radius per lead step, cells */
    size_t npix;
    int lw[MAX_LEVELS], lh[MAX_LEVELS];
    size_t loff[MAX_LEVELS]; /* offset of level l in a pyramid buffer */
    size_t pyr_size;         /* cells in all levels together */
    float *pyr;    /* [n_frames][pyr_size] preprocessed intensity pyramids */
    float *u, *v;  /* [pyr_size] flow per level; level 0 is the result */
    float *a11, *a12, *a22, *b1, *b2; /* [npix] structure tensor / mismatch sums */
    float *wrows;  /* [threads][WARP_ROWS + 4][nx] rows of one job, per thread (the
                    * warped rows of the tensor pass, the filtered rows of preprocess) */
    float *tmp;    /* [5][npix] box-filter and preprocessing scratch */
    float *cu, *cv, *conf; /* [npix] normalised smoothing scratch */
    int have_motion;
    impa_extrap_opts_t opts; /* as created, scheme resolved */
};

impa_extrap_opts_t impa_extrap_opts_default(void)
{
    return impa_extrap_opts_scheme(IMPA_EXTRAP_SCHEME_1);
}

/* Scheme 2 defaults, fixed a priori: scheme 1's values read in km and minutes
 * (its 9-cell window and 3-cell smoothing at 1 km), so the same physical window
 * on a 500 m grid; checked on every event in docs/nowcast.md, not tuned. */
#define S2_FRAMES 3
#define S2_CLIP_DBZ 10.0f
#define S2_EDGE_DB 0.0f
#define S2_WINDOW_KM 9.0f
#define S2_SMOOTH_KM 3.0f
#define S2_SUBSTEP_MIN 10.0f
#define S2_SPREAD_KMH 0.0f

/* Scheme 3: impa-extrap-2's algorithm with wider motion scales, the values
 * chosen among a few candidates by leave-one-event-out on all events of
 * ../shared/data (docs/nowcast.md, "Choosing impa-extrap-3"). */
#define S3_FRAMES 4
#define S3_CLIP_DBZ 10.0f
#define S3_WINDOW_KM 50.0f
#define S3_SMOOTH_KM 30.0f
#define S3_SUBSTEP_MIN 10.0f

impa_extrap_opts_t impa_extrap_opts_scheme(impa_extrap_scheme_t scheme)
{
    impa_extrap_opts_t o;
    memset(&o, 0, sizeof o);
    o.n_frames = 3;
    o.scheme = scheme;
    o.pixel_km = 1.0f;
    o.step_min = 10.0f;
    o.clip_dbz = CLIP_DBZ;
    o.edge_db = 0.0f;
    o.window_km = 2 * LK_RADIUS + 1;
    o.smooth_km = FINE_SMOOTH_R;
    o.substep_min = 10.0f;
    o.spread_kmh = 0.0f;
    /* physical-unit defaults of schemes 2 and 3: frames, clip dBZ, edge dB,
     * window km, smoothing km, sub-step min, spread km/h */
    static const struct {
        int frames;
        float clip, edge, window, smooth, substep, spread;
    } phys[] = {
        [IMPA_EXTRAP_SCHEME_2] = {S2_FRAMES, S2_CLIP_DBZ, S2_EDGE_DB, S2_WINDOW_KM, S2_SMOOTH_KM,
                                  S2_SUBSTEP_MIN, S2_SPREAD_KMH},
        [IMPA_EXTRAP_SCHEME_3] = {S3_FRAMES, S3_CLIP_DBZ, 0.0f, S3_WINDOW_KM, S3_SMOOTH_KM,
                                  S3_SUBSTEP_MIN, 0.0f},
    };
    if (scheme >= IMPA_EXTRAP_SCHEME_2 && scheme <= IMPA_EXTRAP_SCHEME_LAST) {
        o.n_frames = phys[scheme].frames;
        o.clip_dbz = phys[scheme].clip;
        o.edge_db = phys[scheme].edge;
        o.window_km = phys[scheme].window;
        o.smooth_km = phys[scheme].smooth;
        o.substep_min = phys[scheme].substep;
        o.spread_kmh = phys[scheme].spread;
    }
    return o;
}

const char *impa_extrap_scheme_name(int scheme)
{
    switch (scheme) {
    case IMPA_EXTRAP_SCHEME_1: return "impa-extrap-1";
    case IMPA_EXTRAP_SCHEME_2: return "impa-extrap-2";
    case IMPA_EXTRAP_SCHEME_3: return "impa-extrap-3";
    default: return NULL;
    }
}

int impa_extrap_scheme_parse(const char *name, int *scheme)
{
    for (int k = IMPA_EXTRAP_SCHEME_1; k <= IMPA_EXTRAP_SCHEME_LAST; k++)
        if (name && strcmp(name, impa_extrap_scheme_name(k)) == 0) {
            if (scheme)
                *scheme = k;
            return IMPA_OK;
        }
    return IMPA_EINVAL;
}

const char *impa_extrap_scheme_known(void)
{
    /* test_extrapolate checks it against impa_extrap_scheme_name */
    return "impa-extrap-1, impa-extrap-2, impa-extrap-3";
}

const impa_extrap_opts_t *impa_extrap_get_opts(const impa_extrap_t *ex)
{
    return ex ? &ex->opts : NULL;
}

void impa_extrap_destroy(impa_extrap_t **exp)
{
    if (!exp || !*exp)
        return;
    impa_extrap_t *ex = *exp;
    float *bufs[] = {ex->pyr, ex->u,    ex->v,   ex->a11,  ex->a12, ex->a22, ex->b1, ex->b2,
                     ex->wrows, ex->tmp, ex->cu, ex->cv,   ex->conf};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(ex);
    *exp = NULL;
}

int impa_extrap_create(int ny, int nx, int max_leads, const impa_extrap_opts_t *opts,
                       impa_extrap_t **out, char *err, size_t errlen)
{
    if (!out)
        return impa_err(err, errlen, IMPA_EINVAL, "extrapolation: out is NULL");
    *out = NULL;
    impa_extrap_opts_t o = opts ? *opts : impa_extrap_opts_default();
    if (o.scheme == 0)
        o.scheme = IMPA_EXTRAP_SCHEME_1;
    if (!impa_extrap_scheme_name(o.scheme))
        return impa_err(err, errlen, IMPA_EINVAL, "extrapolation: unknown scheme %d", o.scheme);
    const char *sname = impa_extrap_scheme_name(o.scheme);
    if (o.scheme != IMPA_EXTRAP_SCHEME_1 &&
        !(o.pixel_km > 0 && o.step_min > 0 && o.window_km > 0 && o.smooth_km >= 0 &&
          o.substep_min > 0 && o.spread_kmh >= 0 && o.edge_db >= 0 && isfinite(o.clip_dbz)))
        return impa_err(err, errlen, IMPA_EINVAL,
                        "extrapolation: bad %s parameters (pixel %g km, step %g min, "
                        "window %g km, smoothing %g km, sub-step %g min, spread %g km/h, "
                        "edge %g dB must be positive)", sname, o.pixel_km, o.step_min, o.window_km,
                        o.smooth_km, o.substep_min, o.spread_kmh, o.edge_db);
    if (ny < 8 || nx < 8 || max_leads < 1 || o.n_frames < 2 || o.n_frames > MAX_FRAMES ||
        o.pyramid_levels < 0 || o.pyramid_levels > MAX_LEVELS || o.threads < 0)
        return impa_err(err, errlen, IMPA_EINVAL,
                        "extrapolation: bad parameters (grid %dx%d >= 8x8, %d leads >= 1, "
                        "%d frames in 2..%d, %d levels in 0..%d, %d threads >= 0)",
                        ny, nx, max_leads, o.n_frames, MAX_FRAMES, o.pyramid_levels, MAX_LEVELS,
                        o.threads);
    impa_extrap_t *ex = calloc(1, sizeof(*ex));
    if (!ex)
        return impa_err(err, errlen, IMPA_ENOMEM, "extrapolation: out of memory");
    ex->opts = o;
    ex->ny = ny;
    ex->nx = nx;
    ex->max_leads = max_leads;
    ex->n_frames = o.n_frames;
    ex->npix = (size_t)ny * (size_t)nx;
#if IMPA_HAVE_OPENMP
    ex->threads = o.threads > 0 ? o.threads : omp_get_num_procs();
#else
    ex->threads = 1;
#endif
    int levels = o.pyramid_levels;
    if (levels == 0) {
        levels = 1;
        while (levels < MAX_LEVELS && (nx >> levels) >= MIN_COARSE_SIDE &&
               (ny >> levels) >= MIN_COARSE_SIDE)
            levels++;
    }
    ex->n_levels = levels;
    ex->scheme = o.scheme;
    ex->clip = CLIP_DBZ;
    ex->edge = 0;
    ex->lk_radius = LK_RADIUS;
    for (int l = 0; l < MAX_LEVELS; l++)
        ex->fine_r[l] = FINE_SMOOTH_R;
    ex->substeps = 1;
    ex->spread_cells_per_step = 0;
    if (o.scheme != IMPA_EXTRAP_SCHEME_1) { /* physical-unit parameters */
        ex->clip = o.clip_dbz;
        ex->edge = o.edge_db;
        int r = (int)lroundf(0.5f * (o.window_km / o.pixel_km - 1));
        ex->lk_radius = r < 1 ? 1 : r;
        for (int l = 0; l < MAX_LEVELS; l++) {
            int fr = (int)lroundf(o.smooth_km / (o.pixel_km * (float)(1 << l)));
            ex->fine_r[l] = fr < 1 ? 1 : fr;
        }
        int ns = (int)ceilf(o.step_min / o.substep_min - 1e-4f);
        ex->substeps = ns < 1 ? 1 : (ns > 16 ? 16 : ns);
        ex->spread_cells_per_step = o.spread_kmh * (o.step_min / 60.f) / o.pixel_km;
    }
    ex->residue_floor = o.scheme == IMPA_EXTRAP_SCHEME_3;
    size_t off = 0;
    for (int l = 0; l < levels; l++) {
        ex->lw[l] = nx >> l;
        ex->lh[l] = ny >> l;
        if (ex->lw[l] < 2 || ex->lh[l] < 2) {
            impa_extrap_destroy(&ex);
            return impa_err(err, errlen, IMPA_EINVAL,
                            "extrapolation: %d pyramid levels too many for %dx%d", levels, ny,
                            nx);
        }
        ex->loff[l] = off;
        off += (size_t)ex->lw[l] * (size_t)ex->lh[l];
    }
    ex->pyr_size = off;
    size_t n = ex->npix;
    ex->pyr = malloc(sizeof(float) * off * (size_t)o.n_frames);
    ex->u = malloc(sizeof(float) * off);
    ex->v = malloc(sizeof(float) * off);
    float **bufs[] = {&ex->a11, &ex->a12, &ex->a22, &ex->b1, &ex->b2,
                      &ex->cu,  &ex->cv,  &ex->conf};
    ex->tmp = malloc(sizeof(float) * n * 5);
    ex->wrows = malloc(sizeof(float) * (size_t)ex->threads * (WARP_ROWS + 4) * (size_t)nx);
    int ok = ex->pyr && ex->u && ex->v && ex->tmp && ex->wrows;
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        *bufs[i] = malloc(sizeof(float) * n);
        ok = ok && *bufs[i];
    }
    if (!ok) {
        impa_extrap_destroy(&ex);
        return impa_err(err, errlen, IMPA_ENOMEM, "extrapolation: cannot allocate buffers for %dx%d",
                        ny, nx);
    }
    memset(ex->u, 0, sizeof(float) * off);
    memset(ex->v, 0, sizeof(float) * off);
    *out = ex;
    return IMPA_OK;
}

/* Bilinear sample of f [h][w] at (x, y), coordinates clamped to the grid. */
static inline float sample_clamped(const float *f, int w, int h, float x, float y)
{
    if (x < 0)
        x = 0;
    if (y < 0)
        y = 0;
    if (x > (float)(w - 1))
        x = (float)(w - 1);
    if (y > (float)(h - 1))
        y = (float)(h - 1);
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
    float fx = x - (float)x0, fy = y - (float)y0;
    const float *r0 = f + (size_t)y0 * w, *r1 = f + (size_t)y1 * w;
    return (1 - fy) * ((1 - fx) * r0[x0] + fx * r0[x1]) + fy * ((1 - fx) * r1[x0] + fx * r1[x1]);
}

/* Box sums of radius r (zero outside the grid), in place, of nm maps [h][w]
 * at once so that a call costs two parallel regions whatever nm is:
 * map[y][x] = sum of map over the (2r+1)^2 window. tmp: [nm][h][w]. */
static void box_sum_n(float *const *maps, int nm, float *tmp, int w, int h, int r, int nth)
{
    size_t n = (size_t)w * (size_t)h;
    int rows = nm * h;
    OMP_FOR(nth)
    for (int job = 0; job < rows; job++) {
        int m = job / h, y = job % h;
        const float *s = maps[m] + (size_t)y * w;
        float *t = tmp + (size_t)m * n + (size_t)y * w;
        float acc = 0;
        for (int x = 0; x <= r && x < w; x++)
            acc += s[x];
        for (int x = 0; x < w; x++) {
            t[x] = acc;
            if (x + r + 1 < w)
                acc += s[x + r + 1];
            if (x - r >= 0)
                acc -= s[x - r];
        }
    }
    /* vertical pass by column blocks, so each job streams whole rows */
    const int cb = 64;
    int nblk = (w + cb - 1) / cb, jobs = nm * nblk;
    OMP_FOR(nth)
    for (int job = 0; job < jobs; job++) {
        int m = job / nblk, b = job % nblk;
        const float *tm = tmp + (size_t)m * n;
        float *dst = maps[m];
        int xa = b * cb, xb = xa + cb < w ? xa + cb : w;
        float acc[64];
        for (int x = xa; x < xb; x++) {
            float a = 0;
            for (int y = 0; y <= r && y < h; y++)
                a += tm[(size_t)y * w + x];
            acc[x - xa] = a;
        }
        for (int y = 0; y < h; y++) {
            float *d = dst + (size_t)y * w;
            const float *add = y + r + 1 < h ? tm + (size_t)(y + r + 1) * w : NULL;
            const float *sub = y - r >= 0 ? tm + (size_t)(y - r) * w : NULL;
            for (int x = xa; x < xb; x++) {
                float a = acc[x - xa];
                d[x] = a;
                if (add)
                    a += add[x];
                if (sub)
                    a -= sub[x];
                acc[x - xa] = a;
            }
        }
    }
}

/* Threads for a pass over n cells: forking a team costs more than it saves on
 * small pyramid levels, and much more when the cores are shared with other
 * busy processes (a spinning OpenMP barrier then waits for a descheduled peer). */
static int threads_for(const impa_extrap_t *ex, size_t n)
{
    return n >= PAR_MIN_CELLS ? ex->threads : 1;
}

/* Level-0 intensity of frames src[0..nfr) into dst[f]: clip, missing -> no
 * echo, separable 5-tap binomial smoothing (rows, then columns, edges clamped).
 * One pass for all frames, jobs of WARP_ROWS rows of one frame: each filters
 * the rows it needs (its own and two either side) along x into its thread's
 * buffer, then along y; the same values as two whole-grid passes per frame,
 * with one barrier instead of two per frame. */
static void preprocess(impa_extrap_t *ex, const float *const *src, int nfr, float *const *dst)
{
    int w = ex->nx, h = ex->ny, nth = ex->threads;
    const float clip = ex->clip, edge = ex->edge;
    static const float k[5] = {1.f / 16, 4.f / 16, 6.f / 16, 4.f / 16, 1.f / 16};
    int nblk = (h + WARP_ROWS - 1) / WARP_ROWS, jobs = nfr * nblk;
    OMP_FOR(nth)
    for (int job = 0; job < jobs; job++) {
        int f = job / nblk, ya = (job % nblk) * WARP_ROWS;
        int yb = ya + WARP_ROWS < h ? ya + WARP_ROWS : h;
        int ra = ya - 2 > 0 ? ya - 2 : 0, rb = yb + 2 < h ? yb + 2 : h; /* rows [ra, rb) */
        float *t = ex->wrows + (size_t)THREAD_NUM() * (WARP_ROWS + 4) * (size_t)w;
        for (int y = ra; y < rb; y++) {
            const float *s = src[f] + (size_t)y * w;
            float *d = t + (size_t)(y - ra) * w;
            for (int x = 0; x < w; x++) {
                float acc = 0;
                for (int j = -2; j <= 2; j++) {
                    int xx = x + j < 0 ? 0 : (x + j >= w ? w - 1 : x + j);
                    float a = s[xx];
                    a = (!isfinite(a) || a < clip) ? 0.f : a - clip + edge; /* inf: garbage */
                    acc += k[j + 2] * a;
                }
                d[x] = acc;
            }
        }
        for (int y = ya; y < yb; y++) {
            float *d = dst[f] + (size_t)y * w;
            for (int x = 0; x < w; x++) {
                float acc = 0;
                for (int j = -2; j <= 2; j++) {
                    int yy = y + j < 0 ? 0 : (y + j >= h ? h - 1 : y + j);
                    acc += k[j + 2] * t[(size_t)(yy - ra) * w + x];
                }
                d[x] = acc;
            }
        }
    }
}

static void downsample(const float *src, int w, int h, float *dst, int w2, int h2, int nth)
{
    OMP_FOR(nth)
    for (int y = 0; y < h2; y++) {
        int ya = 2 * y, yb = 2 * y + 1 < h ? 2 * y + 1 : 2 * y;
        for (int x = 0; x < w2; x++) {
            int xa = 2 * x, xb = 2 * x + 1 < w ? 2 * x + 1 : 2 * x;
            dst[(size_t)y * w2 + x] = 0.25f * (src[(size_t)ya * w + xa] + src[(size_t)ya * w + xb] +
                                               src[(size_t)yb * w + xa] + src[(size_t)yb * w + xb]);
        }
    }
}

/* Flow of level l+1 (w2 x h2) resampled onto level l (w x h), doubled. */
static void upsample_flow(const float *f2, int w2, int h2, float *f, int w, int h, int nth)
{
    OMP_FOR(nth)
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            f[(size_t)y * w + x] =
                2.f * sample_clamped(f2, w2, h2, 0.5f * ((float)x + 0.5f) - 0.5f,
                                     0.5f * ((float)y + 0.5f) - 0.5f);
}

/* One LK iteration at level l: sums the tensors of every pair with the next frame
 * warped by the current flow, solves the damped 2x2 system per cell, updates the
 * flow, then replaces it by its confidence-weighted box average of radius sr. */
static void lk_iterate(impa_extrap_t *ex, int l, int nfr, const float *const *lev, int sr)
{
    int w = ex->lw[l], h = ex->lh[l];
    size_t n = (size_t)w * (size_t)h;
    int nth = threads_for(ex, n);
    float *u = ex->u + ex->loff[l], *v = ex->v + ex->loff[l];
    memset(ex->a11, 0, n * sizeof(float));
    memset(ex->a12, 0, n * sizeof(float));
    memset(ex->a22, 0, n * sizeof(float));
    memset(ex->b1, 0, n * sizeof(float));
    memset(ex->b2, 0, n * sizeof(float));
    /* One pass for all pairs, jobs of WARP_ROWS rows: each warps the rows it
     * needs (its own and one either side, for the gradient) into its thread's
     * buffer, pair by pair, and adds the pair's terms; per cell the pairs add in
     * order, as pair-by-pair passes over the whole grid would (same values),
     * with one barrier instead of two per pair. */
    int jobs = (h + WARP_ROWS - 1) / WARP_ROWS;
    OMP_FOR(nth)
    for (int job = 0; job < jobs; job++) {
        int ya = job * WARP_ROWS, yb = ya + WARP_ROWS < h ? ya + WARP_ROWS : h;
        int ra = ya > 0 ? ya - 1 : 0, rb = yb < h ? yb + 1 : h; /* warped rows [ra, rb) */
        float *wb = ex->wrows + (size_t)THREAD_NUM() * (WARP_ROWS + 4) * (size_t)w;
        for (int p = 0; p + 1 < nfr; p++) {
            const float *i0 = lev[p], *i1 = lev[p + 1];
            for (int y = ra; y < rb; y++)
                for (int x = 0; x < w; x++) {
                    size_t i = (size_t)y * w + x;
                    wb[(size_t)(y - ra) * w + x] =
                        sample_clamped(i1, w, h, (float)x + u[i], (float)y + v[i]);
                }
            for (int y = ya; y < yb; y++) {
                int ym = y > 0 ? y - 1 : y, yp = y + 1 < h ? y + 1 : y;
                float sy = 1.f / (float)(yp - ym > 0 ? yp - ym : 1);
                const float *wc = wb + (size_t)(y - ra) * w, *wm = wb + (size_t)(ym - ra) * w,
                            *wq = wb + (size_t)(yp - ra) * w;
                for (int x = 0; x < w; x++) {
                    int xm = x > 0 ? x - 1 : x, xp = x + 1 < w ? x + 1 : x;
                    float sx = 1.f / (float)(xp - xm > 0 ? xp - xm : 1);
                    size_t i = (size_t)y * w + x;
                    /* gradient averaged over template and warped frame (symmetric LK) */
                    float gx = 0.5f * sx *
                               (i0[(size_t)y * w + xp] - i0[(size_t)y * w + xm] + wc[xp] -
                                wc[xm]);
                    float gy = 0.5f * sy *
                               (i0[(size_t)yp * w + x] - i0[(size_t)ym * w + x] + wq[x] -
                                wm[x]);
                    float gt = wc[x] - i0[i];
                    ex->a11[i] += gx * gx;
                    ex->a12[i] += gx * gy;
                    ex->a22[i] += gy * gy;
                    ex->b1[i] += gx * gt;
                    ex->b2[i] += gy * gt;
                }
            }
        }
    }
    float *const maps[5] = {ex->a11, ex->a12, ex->a22, ex->b1, ex->b2};
    box_sum_n(maps, 5, ex->tmp, w, h, ex->lk_radius, nth);
    double tr = 0;
    size_t ntr = 0;
    for (size_t i = 0; i < n; i++) {
        float t = ex->a11[i] + ex->a22[i];
        if (t > 0) {
            tr += t;
            ntr++;
        }
    }
    float damp = (float)(ntr ? DAMP_FRAC * tr / (double)ntr : 0.0) + 1e-6f;
    /* the rounding residue of the running sums grows with the total summed
     * along a row/column: about float epsilon times the largest window sum
     * (cmax, scheme 3; a max, so the same whatever the order) */
    float cmax = 0;
    const int floor_on = ex->residue_floor;
    /* by rows: one chunk grab per 4 rows, not per 4 cells */
    OMP_FOR_MAX(nth, cmax)
    for (int y = 0; y < h; y++)
        for (size_t i = (size_t)y * w; i < (size_t)(y + 1) * w; i++) {
            float a11 = ex->a11[i] > 0 ? ex->a11[i] : 0, a22 = ex->a22[i] > 0 ? ex->a22[i] : 0;
            float a = a11 + damp, b = ex->a12[i], d = a22 + damp;
            float det = a * d - b * b;
            float du = (-d * ex->b1[i] + b * ex->b2[i]) / det;
            float dv = (b * ex->b1[i] - a * ex->b2[i]) / det;
            du = du > MAX_STEP ? MAX_STEP : (du < -MAX_STEP ? -MAX_STEP : du);
            dv = dv > MAX_STEP ? MAX_STEP : (dv < -MAX_STEP ? -MAX_STEP : dv);
            /* confidence: the smaller eigenvalue of the tensor (aperture problem) */
            float ta = a11, td = a22;
            float half = 0.5f * (ta + td), disc = sqrtf(0.25f * (ta - td) * (ta - td) + b * b);
            float c = half - disc;
            u[i] += du;
            v[i] += dv;
            ex->conf[i] = c > 0 ? c : 0;
            ex->cu[i] = ex->conf[i] * u[i];
            ex->cv[i] = ex->conf[i] * v[i];
            if (floor_on)
                cmax = ex->conf[i] > cmax ? ex->conf[i] : cmax;
        }
    float *const cmaps[3] = {ex->conf, ex->cu, ex->cv};
    box_sum_n(cmaps, 3, ex->tmp, w, h, sr, nth);
    float floor_c = ex->residue_floor ? cmax * (float)(2 * sr + 1) * (float)(2 * sr + 1) * 1e-5f
                                      : 0.f;
    /* eps keeps the current flow where no cell nearby has texture */
    float eps = damp * 1e-3f;
    OMP_FOR(nth)
    for (int y = 0; y < h; y++)
        for (size_t i = (size_t)y * w; i < (size_t)(y + 1) * w; i++) {
            /* running sums leave rounding residue: a sum of non-negatives may come
             * out slightly negative, which must not flip the division, and in a
             * window without texture the residues of c and c*u are noise whose
             * ratio can be anything (scheme 3's wide windows: tens of cells/step) */
            float c = ex->conf[i] > floor_c ? ex->conf[i] : 0;
            if (c == 0 && floor_c > 0) {
                ex->cu[i] = 0;
                ex->cv[i] = 0;
            }
            u[i] = (ex->cu[i] + eps * u[i]) / (c + eps);
            v[i] = (ex->cv[i] + eps * v[i]) / (c + eps);
        }
}

int impa_extrap_motion(impa_extrap_t *ex, const float *const *dbz, int n, char *err,
                       size_t errlen)
{
    if (!ex || !dbz || n < 2)
        return impa_err(err, errlen, IMPA_EINVAL, "extrapolation: motion needs >= 2 frames, got %d",
                        n);
    int nfr = n < ex->n_frames ? n : ex->n_frames;
    const float *const *src = dbz + (n - nfr);
    for (int f = 0; f < nfr; f++)
        if (!src[f])
            return impa_err(err, errlen, IMPA_EINVAL, "extrapolation: frame %d is NULL", f);
    float *lev0[MAX_FRAMES];
    for (int f = 0; f < nfr; f++)
        lev0[f] = ex->pyr + (size_t)f * ex->pyr_size;
    preprocess(ex, src, nfr, lev0);
    for (int f = 0; f < nfr; f++) {
        float *pyr = lev0[f];
        for (int l = 1; l < ex->n_levels; l++)
            downsample(pyr + ex->loff[l - 1], ex->lw[l - 1], ex->lh[l - 1], pyr + ex->loff[l],
                       ex->lw[l], ex->lh[l], threads_for(ex, (size_t)ex->lw[l] * ex->lh[l]));
    }
    int top = ex->n_levels - 1;
    memset(ex->u + ex->loff[top], 0, sizeof(float) * (size_t)ex->lw[top] * (size_t)ex->lh[top]);
    memset(ex->v + ex->loff[top], 0, sizeof(float) * (size_t)ex->lw[top] * (size_t)ex->lh[top]);
    for (int l = top; l >= 0; l--) {
        int nthl = threads_for(ex, (size_t)ex->lw[l] * ex->lh[l]);
        if (l < top) {
            upsample_flow(ex->u + ex->loff[l + 1], ex->lw[l + 1], ex->lh[l + 1],
                          ex->u + ex->loff[l], ex->lw[l], ex->lh[l], nthl);
            upsample_flow(ex->v + ex->loff[l + 1], ex->lw[l + 1], ex->lh[l + 1],
                          ex->v + ex->loff[l], ex->lw[l], ex->lh[l], nthl);
        }
        const float *lev[MAX_FRAMES];
        for (int f = 0; f < nfr; f++)
            lev[f] = ex->pyr + (size_t)f * ex->pyr_size + ex->loff[l];
        int side = ex->lw[l] > ex->lh[l] ? ex->lw[l] : ex->lh[l];
        int fr = ex->fine_r[l];
        int sr = l == top ? (side / 4 > fr ? side / 4 : fr) : fr;
        for (int it = 0; it < ITERS; it++)
            lk_iterate(ex, l, nfr, lev, sr);
    }
    ex->have_motion = 1;
    return IMPA_OK;
}

void impa_extrap_get_motion(const impa_extrap_t *ex, const float **u, const float **v)
{
    if (u)
        *u = ex ? ex->u : NULL;
    if (v)
        *v = ex ? ex->v : NULL;
}

/* Bilinear sample of both motion components at (x, y), clamped to the grid: one
 * set of weights for the two fields. */
static inline void sample_uv(const float *u, const float *v, int w, int h, float x, float y,
                             float *ou, float *ov)
{
    x = x < 0 ? 0 : (x > (float)(w - 1) ? (float)(w - 1) : x);
    y = y < 0 ? 0 : (y > (float)(h - 1) ? (float)(h - 1) : y);
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
    float fx = x - (float)x0, fy = y - (float)y0;
    float w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy), w10 = (1 - fx) * fy, w11 = fx * fy;
    size_t i00 = (size_t)y0 * w + x0, i01 = (size_t)y0 * w + x1, i10 = (size_t)y1 * w + x0,
           i11 = (size_t)y1 * w + x1;
    *ou = w00 * u[i00] + w01 * u[i01] + w10 * u[i10] + w11 * u[i11];
    *ov = w00 * v[i00] + w01 * v[i01] + w10 * v[i10] + w11 * v[i11];
}

/* Bilinear sample of the frame; NAN outside the grid or when a cell that carries
 * weight is missing. */
static inline float sample_frame(const float *f, int w, int h, float x, float y)
{
    if (!(x >= 0 && y >= 0 && x <= (float)(w - 1) && y <= (float)(h - 1)))
        return NAN;
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
    float fx = x - (float)x0, fy = y - (float)y0;
    float w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy), w10 = (1 - fx) * fy, w11 = fx * fy;
    const float *r0 = f + (size_t)y0 * w, *r1 = f + (size_t)y1 * w;
    float acc = 0;
    if (w00 > 0) acc += w00 * r0[x0];
    if (w01 > 0) acc += w01 * r0[x1];
    if (w10 > 0) acc += w10 * r1[x0];
    if (w11 > 0) acc += w11 * r1[x1];
    return acc; /* a NAN neighbour with weight > 0 propagates */
}

/* Scheme 2: smooths one extrapolated lead in linear Z (Z = 10^(dBZ/10)) with
 * two box passes of radius r cells (a triangle kernel, sigma ~ 0.8 r), normalised
 * over the cells with data: as predictability is lost with lead, the small
 * scales that extrapolation cannot place are spread over the area they may be
 * in (the role of S-PROG's cascade decay in pySTEPS). NAN cells stay NAN. */
static void spread_lead(impa_extrap_t *ex, float *f, float rc)
{
    int r = (int)lroundf(rc);
    if (r < 1)
        return;
    int w = ex->nx, h = ex->ny, nth = ex->threads;
    size_t n = ex->npix;
    float *z = ex->a11, *wt = ex->a12;
    OMP_FOR(nth)
    for (size_t i = 0; i < n; i++) {
        int ok = isfinite(f[i]);
        z[i] = ok ? exp10f(0.1f * f[i]) : 0.f;
        wt[i] = ok ? 1.f : 0.f;
    }
    float *const maps[2] = {z, wt};
    box_sum_n(maps, 2, ex->tmp, w, h, r, nth);
    box_sum_n(maps, 2, ex->tmp, w, h, r, nth);
    OMP_FOR(nth)
    for (size_t i = 0; i < n; i++)
        if (isfinite(f[i])) {
            float zz = wt[i] > 0 ? z[i] / wt[i] : 0.f;
            f[i] = zz > 1e-10f ? 10.f * log10f(zz) : -100.f;
        }
}

int impa_extrap_forecast(impa_extrap_t *ex, const float *last, int n_leads, float *out, char *err,
                         size_t errlen)
{
    if (!ex || !last || !out || n_leads < 1 || n_leads > ex->max_leads)
        return impa_err(err, errlen, IMPA_EINVAL,
                        "extrapolation: bad forecast request (%d leads, max %d)", n_leads,
                        ex ? ex->max_leads : 0);
    if (!ex->have_motion)
        return impa_err(err, errlen, IMPA_ESTATE, "extrapolation: no motion field yet");
    int w = ex->nx, h = ex->ny, nth = ex->threads, ns = ex->substeps;
    const float *u = ex->u, *v = ex->v;
    const float f = 1.0f / (float)ns; /* 1 for scheme 1: the same arithmetic */
    size_t npix = ex->npix;
    /* trajectories are independent: one parallel pass over cells, all leads of a
     * cell at once, so there is no barrier between leads */
    OMP_FOR(nth)
    for (int y = 0; y < h; y++)
        for (int x0 = 0; x0 < w; x0++) {
            size_t i = (size_t)y * w + x0;
            float x = (float)x0, yy = (float)y;
            int k = 0;
            for (; k < n_leads; k++) {
                int in = 1;
                for (int s = 0; s < ns && in; s++) {
                    /* midpoint rule: motion taken half a sub-step back along the trajectory */
                    float mu, mv;
                    sample_uv(u, v, w, h, x, yy, &mu, &mv);
                    sample_uv(u, v, w, h, x - 0.5f * f * mu, yy - 0.5f * f * mv, &mu, &mv);
                    x -= f * mu;
                    yy -= f * mv;
                    in = x >= 0 && yy >= 0 && x <= (float)(w - 1) && yy <= (float)(h - 1);
                }
                if (!in)
                    break;
                out[(size_t)k * npix + i] = sample_frame(last, w, h, x, yy);
            }
            for (; k < n_leads; k++) /* left the domain: stays out */
                out[(size_t)k * npix + i] = NAN;
        }
    if (ex->spread_cells_per_step > 0)
        for (int k = 0; k < n_leads; k++)
            spread_lead(ex, out + (size_t)k * npix, ex->spread_cells_per_step * (float)(k + 1));
    return IMPA_OK;
}
