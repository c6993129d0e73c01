/* Optical-flow extrapolation nowcast: the fallback when the network cannot run,
 * and a baseline. Motion from the last frames, then semi-Lagrangian backward
 * advection of the latest frame for every lead time (the approach of pySTEPS's
 * extrapolation nowcast). All buffers are sized at create time. */
#ifndef IMPA_EXTRAPOLATE_H
#define IMPA_EXTRAPOLATE_H

#include <stddef.h>

#include "impa/error.h"

typedef struct impa_extrap impa_extrap_t;

typedef struct {
    int n_frames;      /* frames used for motion (>= 2), default 3 */
    int pyramid_levels;/* 0 = automatic */
    int threads;       /* 0 = all cores */
} impa_extrap_opts_t;

IMPA_API impa_extrap_opts_t impa_extrap_opts_default(void);

IMPA_API int impa_extrap_create(int ny, int nx, int max_leads, const impa_extrap_opts_t *opts,
                                impa_extrap_t **out, char *err, size_t errlen);
IMPA_API void impa_extrap_destroy(impa_extrap_t **ex);

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
