/* IMPA-Net forecasts with the advection guidance the model was trained with
 * (docs/model.md, "Advection guidance"): for a model with advection = 1 the
 * network reads, after its t_in observed frames, the t_out frames of the
 * optical-flow extrapolation of the last observed frame. This is the ONE place
 * those frames are made, for the daemon, impa-infer and impa-bench alike, and it
 * makes them exactly as impa-extrapolate (which made the training data) does:
 * the defaults of the scheme the model file records (attribute `extrapolation`,
 * absent = impa-extrap-1; impa_guided_model_scheme) at the model's step, motion
 * from all t_in observed frames (the extrapolator keeps the newest
 * opts.n_frames), then t_out leads from the last observed frame. The scheme is
 * chosen at run time from the file: a model trained on impa-extrap-3 runs with
 * no change to the code, and a scheme this build does not know is refused. For
 * a model with advection = 0 it only runs the engine.
 *
 * Ownership: the engine is borrowed and must outlive the helper; the
 * extrapolator is borrowed when given, else the helper creates and owns one.
 * Not thread-safe (neither are the engine and the extrapolator). */
#ifndef IMPA_GUIDED_H
#define IMPA_GUIDED_H

#include <stddef.h>

#include "impa/engine.h"
#include "impa/error.h"
#include "impa/extrapolate.h"

/* What the network's output is calibrated against (impa/calibrate.h), per lead:
 * EXTRAPOLATION matches each lead to the distribution of that lead's
 * extrapolated frame (advection models only); AUTO is EXTRAPOLATION for an
 * advection model and NONE for a plain one. The daemon's model.calibration and
 * impa-infer --calibration; docs/model.md "Calibration". */
typedef enum {
    IMPA_CALIBRATION_AUTO = 0,
    IMPA_CALIBRATION_NONE = 1,
    IMPA_CALIBRATION_EXTRAPOLATION = 2,
} impa_calibration_t;

/* "auto", "none", "extrapolation" -> *out; IMPA_EINVAL for anything else. */
IMPA_API int impa_calibration_parse(const char *name, impa_calibration_t *out, char *err,
                                    size_t errlen);
IMPA_API const char *impa_calibration_name(impa_calibration_t mode);

typedef struct impa_guided impa_guided_t;

/* The extrapolation scheme (impa_extrap_scheme_t) the model was trained on: its
 * `extrapolation` attribute (absent = impa-extrap-1). IMPA_EINVAL for a scheme
 * this build does not know, with a message naming it and the known ones (the
 * daemon's start-up check and impa_guided_create give this message). */
IMPA_API int impa_guided_model_scheme(const impa_model_info_t *mi, int *scheme, char *err,
                                      size_t errlen);

/* Options of the extrapolator the guidance of model mi must use: the defaults
 * of its scheme (impa_guided_model_scheme; its errors), the model's step in
 * minutes, grid spacing pixel_km (<= 0: 1 km; schemes 2 and 3 read their
 * windows in km, scheme 1 ignores it) and `threads` (the thread count changes
 * timing, not values). Use them when creating an extrapolator to pass to
 * impa_guided_create. */
IMPA_API int impa_guided_extrap_opts(const impa_model_info_t *mi, float pixel_km, int threads,
                                     impa_extrap_opts_t *out, char *err, size_t errlen);

/* engine: any engine (plain or tiled) of an ny x nx grid. extrap: NULL, or an
 * extrapolator for the same grid with at least t_out leads created with
 * impa_guided_extrap_opts (the daemon shares its fallback's when the schemes
 * agree); NULL: one is created here with `threads` and a 1 km grid spacing
 * (impa-extrapolate's default). An advection model is refused when its scheme
 * is unknown, when extrap computes another scheme or another step than the
 * model's, or with t_in < 2 (no motion from one frame). Allocates every buffer
 * (the t_out extrapolated frames). */
IMPA_API int impa_guided_create(impa_engine_t *engine, impa_extrap_t *extrap, int threads,
                                impa_guided_t **out, char *err, size_t errlen);
IMPA_API void impa_guided_destroy(impa_guided_t **g);

/* Calibration of the forecasts (default after create: AUTO, resolved). EXTRAPOLATION
 * for a model without advection is refused: there is nothing to match to. */
IMPA_API int impa_guided_set_calibration(impa_guided_t *g, impa_calibration_t mode, char *err,
                                         size_t errlen);
/* The resolved mode (NONE or EXTRAPOLATION, never AUTO). */
IMPA_API impa_calibration_t impa_guided_calibration(const impa_guided_t *g);
/* 1 when the model reads extrapolated frames (advection = 1). */
IMPA_API int impa_guided_advection(const impa_guided_t *g);

/* Step 1 alone (advection models; a no-op returning 0 otherwise): motion from
 * obs[0..t_in) (dBZ, oldest first, NAN = no data), then the t_out extrapolated
 * frames of obs[t_in - 1] into the helper's buffer. An error here is an
 * extrapolation error: the message starts with "extrapolation". */
IMPA_API int impa_guided_extrapolate(impa_guided_t *g, const float *const *obs, char *err,
                                     size_t errlen);

/* Borrowed [t_out][ny][nx] extrapolated frames of the last impa_guided_extrapolate
 * (NAN where advected from outside the domain or from missing data); NULL for a
 * model without advection. */
IMPA_API const float *impa_guided_extrapolation(const impa_guided_t *g);

/* The forecast: obs are the t_in observed frames; for advection models step 1,
 * then impa_engine_forecast on obs + the extrapolated frames, then (calibration
 * EXTRAPOLATION) each lead matched to its extrapolated frame; otherwise
 * impa_engine_forecast on obs. out_dbz [t_out][ny][nx] as impa_engine_forecast
 * (clamped dBZ, NAN where obs[t_in - 1] has no data). Allocates nothing. */
IMPA_API int impa_guided_forecast(impa_guided_t *g, const float *const *obs,
                                  const float *const *statics, float *out_dbz, char *err,
                                  size_t errlen);

#endif
