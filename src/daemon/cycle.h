/* One forecast cycle and the per-grid state it needs: the window of input frames,
 * the IMPA-Net engine, the extrapolation fallback, the online verifier and the
 * output buffer, all sized once for the model grid when the first scan tells the
 * daemon what that grid is. A cycle's products are the forecast
 * (impa_cycle_forecast, allocates nothing) and the alerts computed from it
 * (impa_cycle_alerts: the alert tracker, which allocates nothing in steady
 * state); both travel in one impa_forecast_t to the archive, the publisher and
 * the verifier. */
#ifndef IMPA_DAEMON_CYCLE_H
#define IMPA_DAEMON_CYCLE_H

#include "daemon/config.h"
#include "daemon/window.h"
#include "impa/alerts.h"
#include "impa/engine.h"
#include "impa/extrapolate.h"
#include "impa/forecast.h"
#include "impa/guided.h"
#include "impa/prob.h"
#include "impa/verify.h"

/* What the window and products look like: from the model when one is loaded,
 * otherwise the shipped model's values (t_in 4, t_out 12, 10 min). */
typedef struct {
    int t_in, t_out, step_minutes, total_stride;
} impa_cycle_shape_t;

typedef struct impa_cycle impa_cycle_t;

/* model may be NULL (extrapolation only). The engine is created when the
 * configured method is impa-net; when that fails (grid refused, out of memory) the
 * cycle still works with the fallback and *engine_note says why. verifier:
 * created when cfg->verify_enabled (an error there is returned). */
int impa_cycle_create(const impa_daemon_config_t *cfg, const impa_model_t *model,
                      const impa_cycle_shape_t *shape, const impa_grid_t *grid,
                      impa_cycle_t **out, char *engine_note, size_t notelen, char *err,
                      size_t errlen);
void impa_cycle_destroy(impa_cycle_t **c);

impa_window_t *impa_cycle_window(impa_cycle_t *c);
impa_verifier_t *impa_cycle_verifier(impa_cycle_t *c);
const impa_grid_t *impa_cycle_grid(const impa_cycle_t *c);
/* The network's calibration in effect (NONE when the network is unavailable). */
impa_calibration_t impa_cycle_calibration(const impa_cycle_t *c);
/* Scheme names of the extrapolations: *published the configured one
 * (extrapolation.scheme: method extrapolation and the fallback), *guidance the
 * one the network's advection input computes (its model file's; NULL without an
 * advection network). Returns the number of extrapolators: 1 when the
 * guidance shares the published one (equal schemes: one motion field, one set
 * of leads), 2 when it has its own (computed only when the network runs). */
int impa_cycle_extrapolation(const impa_cycle_t *c, const char **published,
                             const char **guidance);
/* impa_engine_set_progress on the cycle's network (no-op without one). */
void impa_cycle_set_progress(impa_cycle_t *c, impa_progress_fn fn, void *ctx);

/* Runs the forecast for the window's head into the cycle's buffer and fills *fc
 * (dbz, method, fallback_reason, inputs, issue time, shape; the caller adds
 * domain and provenance). IMPA-Net when the window is complete and the engine
 * exists, else extrapolation from the newest consecutive frames (>= 2), else
 * persistence of the newest frame. An inference error falls back too. A model
 * with advection = 1 runs through impa/guided.h (extrapolation of the window,
 * then the network; method impanet); an error of that extrapolation falls back
 * like an inference error ("inference failed: extrapolation ...").
 * *forecast_s receives the seconds spent. */
int impa_cycle_forecast(impa_cycle_t *c, impa_forecast_t *fc, double *forecast_s, char *err,
                        size_t errlen);

/* Makes the cycle compute exceedance probabilities (impa/prob.h) of every
 * forecast for thresholds thr[0..n) with table t (copied), on the cycle's
 * grid (pixel size: the square root of the cell area). 0, or the error of
 * impa_prob_create. */
int impa_cycle_set_prob(impa_cycle_t *c, const impa_prob_table_t *t, const float *thr, int n,
                        char *err, size_t errlen);

/* Computes the probabilities of the forecast impa_cycle_forecast made (from its
 * dbz and the window's frames, for the trend) and sets fc->prob; without
 * impa_cycle_set_prob fc->prob stays NULL. Allocates nothing. *prob_s receives
 * the seconds spent. */
int impa_cycle_prob(impa_cycle_t *c, impa_forecast_t *fc, double *prob_s, char *err,
                    size_t errlen);

/* The alert tracker the cycle's alerts come from (borrowed: it lives as long as
 * the publisher whose CAP references continue its tracks, across reloads that
 * keep both); NULL = no alerts. */
void impa_cycle_set_alerts(impa_cycle_t *c, impa_alert_tracker_t *tracker);

/* Runs the tracker on the forecast impa_cycle_forecast made and sets fc->alerts
 * (or, when that fails or there is no tracker, fc->alert_error). *alerts_s
 * receives the seconds spent. 0, or the tracker's error (also in fc->alert_error). */
int impa_cycle_alerts(impa_cycle_t *c, impa_forecast_t *fc, double *alerts_s);

#endif
