/* Optical-flow extrapolation nowcast: the fallback when the network cannot run,
 * and a baseline. Motion from the last frames, then semi-Lagrangian backward
 * advection of the latest frame for every lead time (the approach of pySTEPS's
 * extrapolation nowcast). All buffers are sized at create time. */
#ifndef IMPA_EXTRAPOLATE_H
#define IMPA_EXTRAPOLATE_H

#include <stddef.h>

#include "impa/error.h"

typedef struct impa_extrap impa_extrap_t;

/* Named schemes. A model trained on extrapolated frames records the scheme it
 * read (model attribute `extrapolation`, absent = "impa-extrap-1"): the frames
 * of another scheme mean something else to it. */
typedef enum {
    IMPA_EXTRAP_SCHEME_1 = 1, /* "impa-extrap-1": the original scheme, unchanged */
    IMPA_EXTRAP_SCHEME_2 = 2, /* "impa-extrap-2": physical-unit parameters (docs/nowcast.md) */
    IMPA_EXTRAP_SCHEME_3 = 3, /* "impa-extrap-3": scheme 2 with the motion scales chosen on
                                 every event (4 frames, wider window and smoothing) */
    IMPA_EXTRAP_SCHEME_LAST = IMPA_EXTRAP_SCHEME_3,
} impa_extrap_scheme_t;

/* The best measured scheme (docs/nowcast.md, every event): what impa-bench-extrap
 * times and the default of the daemon's extrapolation.scheme (its published
 * extrapolation: method extrapolation and the fallback). The network's guidance
 * computes whatever scheme its model file records, whatever this says
 * (impa/guided.h). */
#define IMPA_EXTRAP_BEST IMPA_EXTRAP_SCHEME_3
/* Every scheme name of this build, '|'-separated in scheme order (the daemon's
 * configuration choice list; tests check it against impa_extrap_scheme_name). */
#define IMPA_EXTRAP_SCHEME_CHOICES "impa-extrap-1|impa-extrap-2|impa-extrap-3"

typedef struct {
    int n_frames;      /* frames used for motion (>= 2), default 3 */
    int pyramid_levels;/* 0 = automatic */
    int threads;       /* 0 = all cores */
    /* --- fields below: schemes 2 and 3 (scheme 1 ignores them) --- */
    int scheme;        /* impa_extrap_scheme_t; default IMPA_EXTRAP_SCHEME_1 */
    float pixel_km;    /* grid spacing, km (default 1) */
    float step_min;    /* time between frames = between leads, minutes (default 10) */
    float clip_dbz;    /* below: no echo for the motion */
    float edge_db;     /* intensity step at the clip level (echo edges as texture) */
    float window_km;   /* Lucas-Kanade window side at full resolution */
    float smooth_km;   /* radius of the confidence-weighted flow smoothing, finer levels */
    float substep_min; /* longest trajectory sub-step */
    float spread_kmh;  /* output smoothing in linear Z: radius grows by this per hour of lead */
} impa_extrap_opts_t;

/* Scheme 1 defaults (what the shipped network was trained on). */
IMPA_API impa_extrap_opts_t impa_extrap_opts_default(void);
/* Defaults of a named scheme. */
IMPA_API impa_extrap_opts_t impa_extrap_opts_scheme(impa_extrap_scheme_t scheme);
/* "impa-extrap-1" / "-2" / "-3" <-> scheme; name NULL for an unknown scheme,
 * parse returns IMPA_EINVAL for an unknown name. */
IMPA_API const char *impa_extrap_scheme_name(int scheme);
IMPA_API int impa_extrap_scheme_parse(const char *name, int *scheme);
/* "impa-extrap-1, impa-extrap-2, impa-extrap-3": the schemes this build knows,
 * for messages (static storage). */
IMPA_API const char *impa_extrap_scheme_known(void);

IMPA_API int impa_extrap_create(int ny, int nx, int max_leads, const impa_extrap_opts_t *opts,
                                impa_extrap_t **out, char *err, size_t errlen);
IMPA_API void impa_extrap_destroy(impa_extrap_t **ex);
/* The options ex was created with, scheme 0 resolved to IMPA_EXTRAP_SCHEME_1
 * (borrowed, valid while ex lives). */
IMPA_API const impa_extrap_opts_t *impa_extrap_get_opts(const impa_extrap_t *ex);

/* Motion field from n frames (dBZ, oldest first, NAN = no data, consecutive at
 * the forecast step; when n > opts.n_frames the newest n_frames are used), in
 * grid cells per frame step. Non-finite values and values below 10 dBZ count as
 * no echo. u: eastward along columns (+x), v: along rows (+row index).
 * Result kept in ex and readable through impa_extrap_motion. */
IMPA_API int impa_extrap_motion(impa_extrap_t *ex, const float *const *dbz, int n,
                                char *err, size_t errlen);
/* Borrowed pointers to the last motion field [ny][nx] each. */
IMPA_API void impa_extrap_get_motion(const impa_extrap_t *ex, const float **u, const float **v);

/* Extrapolates `last` (dBZ) for n_leads steps with the current motion field:
 * out [n_leads][ny][nx]; pixels advected from outside the domain or from missing
 * data are NAN. */
IMPA_API int impa_extrap_forecast(impa_extrap_t *ex, const float *last, int n_leads,
                                  float *out, char *err, size_t errlen);

#endif
