/* Exceedance probabilities of a deterministic forecast: P(dBZ >= T) per lead
 * for a few thresholds T (default 35 and 45 dBZ), cheap enough to run every
 * cycle beside the forecast.
 *
 * Method (docs/nowcast.md, "Probability of severe echo"): for each threshold
 * and lead, the fraction f of pixels with forecast >= T in a square window of
 * half-width r(lead) km around each pixel (clipped at the grid's edges; the
 * window grows with lead time, since the position error does), then a
 * calibration P = c(f), piecewise linear and non-decreasing between knots at
 * f = j / (n_knots - 1). r and c come from a small table fitted on the
 * training events by train/impa/prob.py (models/prob-calibration.txt, the
 * daemon's prob.calibration). Radii are in km, so one table serves radars of
 * any pixel size.
 *
 * Missing data: a forecast pixel with no value (NAN) counts as no echo inside
 * the windows of its neighbours, and its own probability is NAN.
 *
 * Memory (bounded, all at _create): the output, 4 * n_thresholds * n_leads *
 * ny * nx bytes (25 MiB for 2 thresholds, 12 leads, 512 x 512), plus one
 * summed-area table of 4 * (ny + 1) * (nx + 1) bytes (1 MiB at 512 x 512).
 * _compute allocates nothing and opens no file; one object per thread. */
#ifndef IMPA_PROB_H
#define IMPA_PROB_H

#include <stddef.h>
#include <stdint.h>

#include "impa/error.h"
#include "impa/forecast.h"

#define IMPA_PROB_MAX_KNOTS 32
#define IMPA_PROB_MAX_ROWS 256

/* One row of the calibration table: what one threshold at one lead uses. */
#define IMPA_PROB_TREND_EPS 1e-4

/* Trend classes of a table row. */
enum { IMPA_PROB_DECAYING = -1, IMPA_PROB_STEADY = 0, IMPA_PROB_GROWING = 1 };

typedef struct {
    float threshold_dbz;
    int lead_min;                  /* minutes after the issue time */
    int trend;                     /* IMPA_PROB_DECAYING .. IMPA_PROB_GROWING */
    float radius_km;               /* window half-width, >= 0 */
    float p[IMPA_PROB_MAX_KNOTS];  /* P at f = j / (n_knots - 1), non-decreasing, in [0, 1] */
} impa_prob_row_t;

/* Growth terms of one threshold and lead (a `logistic` line of a table with a
 * `growth` line): the row's knots p_j become, every cycle,
 *   (1 - l) sigmoid(a + b logit(p_j) + g rate + d size) + l q
 * (p_j clamped to [IMPA_PROB_LOGIT_EPS, 1 - IMPA_PROB_LOGIT_EPS]), with
 *   rate = ln((A_new + A0) / (A_old + A0)) / span, clipped to +-rate_max per hour,
 *   size = ln(1 + A_new / A0),
 * A the area >= threshold (km^2) of the newest and oldest input frame and span
 * the hours between them: a storm that shrinks in its inputs keeps its echo
 * less often, one that grows more often, in proportion to how fast; l moves
 * the result towards q (shrinkage): the line's q (the fitted events' base
 * rate), or with the table's `shrink-target scene` line the area fraction >=
 * threshold of the newest input frame (of its pixels with a value; the line's
 * q without inputs), the climatology of this scene rather than of the
 * training events. b >= 0 keeps the calibration non-decreasing. */
#define IMPA_PROB_LOGIT_EPS 1e-5

typedef struct {
    float threshold_dbz;
    int lead_min;
    double a, b, g, d, l, q;
} impa_prob_logistic_t;

/* Intensity margin of one threshold and lead (a `margin THRESHOLD LEAD_MIN DB`
 * line): that lead's window fraction counts the forecast pixels >= threshold +
 * db (the probability is still of the observation >= threshold). An
 * extrapolation keeps a core's intensity while real cores weaken, so at long
 * leads the echo well above the threshold is what still reaches it. A
 * threshold and lead without a line: margin 0 (every table before the line
 * existed). */
#define IMPA_PROB_MAX_MARGIN_DB 30.0

typedef struct {
    float threshold_dbz;
    int lead_min;
    float db;                      /* 0 .. IMPA_PROB_MAX_MARGIN_DB */
} impa_prob_margin_t;

typedef struct {
    int n_knots;                   /* 2 .. IMPA_PROB_MAX_KNOTS */
    double trend_ratio;            /* > 1: three trend classes; 0: one (every row steady) */
    int n_rows;
    impa_prob_row_t rows[IMPA_PROB_MAX_ROWS];
    char name[128];                /* what it is: the file's `name` line, or set by the caller */
    /* the extrapolation scheme of the forecasts it was fitted on (the file's
     * `scheme` line; a table without one was fitted on "impa-extrap-1") */
    char scheme[32];
    /* growth terms (the `growth A0 RATE_MAX` line; growth_a0_km2 0: none) */
    double growth_a0_km2, growth_rate_max;
    int shrink_scene;              /* `shrink-target scene`: q from the newest input */
    int n_logistic;
    impa_prob_logistic_t logistic[IMPA_PROB_MAX_ROWS];
    int n_margins;                 /* `margin` lines (impa_prob_margin_t) */
    impa_prob_margin_t margins[IMPA_PROB_MAX_ROWS];
} impa_prob_table_t;

/* Reads a calibration table (text; the format is in docs/nowcast.md and in the
 * header of models/prob-calibration.txt): a first line `impa-prob-calibration 1`,
 * `name TEXT`, `knots K`, optionally `trend RATIO` (> 1, or 0 = none) and
 * `scheme NAME` (an impa-extrapolate scheme, impa/extrapolate.h) and
 * `growth A0_KM2 RATE_MAX_PER_H`, `shrink-target scene|base`, then
 * one row per line `THRESHOLD LEAD_MIN TREND RADIUS_KM p_0 .. p_{K-1}` (TREND
 * -1, 0 or 1) and, with `growth`, lines `logistic THRESHOLD LEAD_MIN a b g d l q`
 * (see impa_prob_logistic_t; a threshold and lead without one keeps its knots)
 * and lines `margin THRESHOLD LEAD_MIN DB` (impa_prob_margin_t; without one 0 dB);
 * `#` starts a comment. Checks every value (knots non-decreasing
 * in [0, 1], radius 0..500 km, no duplicate threshold/lead/trend, b >= 0,
 * margin 0..IMPA_PROB_MAX_MARGIN_DB dB, one per threshold and lead);
 * IMPA_EIO, or IMPA_EFORMAT with the file and line in err. */
IMPA_API int impa_prob_table_load(const char *path, impa_prob_table_t *t, char *err,
                                  size_t errlen);

/* The calibrated probability for a neighbourhood fraction f in [0, 1] (the
 * scalar reference of the field computation). */
IMPA_API float impa_prob_calibrated(const impa_prob_row_t *row, int n_knots, float f);

typedef struct impa_prob impa_prob_t;

/* For forecasts of n_leads leads step_minutes apart on an ny x nx grid of
 * pixel_km spacing (the square root of impa_grid_cell_area_km2) and the
 * thresholds thr[0..n_thr) (n_thr <= IMPA_PROB_MAX_THRESHOLDS, dBZ). Every
 * (threshold, (k+1) * step_minutes, trend class in use) must have a row in t,
 * else IMPA_ECONFIG naming the missing one. The table is copied. */
IMPA_API int impa_prob_create(const impa_prob_table_t *t, const float *thr, int n_thr,
                              int n_leads, int step_minutes, int ny, int nx, double pixel_km,
                              impa_prob_t **out, char *err, size_t errlen);
IMPA_API void impa_prob_destroy(impa_prob_t **p);

/* The trend class of frames[0..n) (oldest first, [ny][nx] dBZ, NULL entries
 * skipped) at thr: the area fraction >= thr (of the finite pixels) of the
 * newest against the oldest frame, each plus IMPA_PROB_TREND_EPS; ratio <= 0
 * or fewer than two frames: steady. */
IMPA_API int impa_prob_trend(const float *const *frames, int n, size_t npix, float thr,
                             double ratio);

/* The growth terms of frames[0..n) (oldest first, NULL entries skipped) at
 * thr, step_minutes apart, pixel_km spacing (impa_prob_logistic_t): *rate per
 * hour (0 with fewer than two frames) and *size (0 without a frame). */
IMPA_API void impa_prob_growth(const float *const *frames, int n, size_t npix, float thr,
                               double pixel_km, int step_minutes, double a0_km2,
                               double rate_max, double *rate, double *size);

/* Computes every probability field of a forecast dbz [n_leads][ny][nx] (the
 * shape given at _create) into the object's buffer and returns it in *out
 * (borrowed: valid until the next _compute or _destroy). inputs[0..n_inputs)
 * are the forecast's input frames, oldest first (NULL entries = missing), for
 * the trend and the growth terms; inputs NULL: steady, growth terms 0.
 * Allocates nothing. */
IMPA_API int impa_prob_compute(impa_prob_t *p, const float *dbz, const float *const *inputs,
                               int n_inputs, const impa_prob_field_t **out, char *err,
                               size_t errlen);

/* Bytes the object holds (the documented bound). */
IMPA_API size_t impa_prob_memory(const impa_prob_t *p);

/* Index of threshold thr_dbz in f (exact match), -1 when absent. */
IMPA_API int impa_prob_threshold_index(const impa_prob_field_t *f, float thr_dbz);

/* Maximum probability of threshold index ti at lead over the pixel indices
 * pix[0..n) (row * nx + col; NAN pixels skipped); 0 when none is finite. */
IMPA_API float impa_prob_max_over(const impa_prob_field_t *f, int ti, int lead,
                                  const int32_t *pix, int n);

/* ---- verification of the probabilities (prob_verify.c) --------------------
 * Per threshold and lead: the Brier score BS = mean (P - o)^2 over the pairs
 * (forecast pixel with a probability, observation with a value; o = observed
 * dBZ >= threshold), its skill against the climatological base rate c
 * (BSS_clim = 1 - BS / BS_clim, BS_clim = mean (c - o)^2; c is given by the
 * caller: the online verifier's running base rate of every observation it has
 * scored, this one included) and against the deterministic forecast as 0/1
 * (BSS_det = 1 - BS / BS_det, d = forecast dBZ >= threshold), a reliability
 * table of IMPA_PROB_REL_BINS bins (P in [b/10, (b+1)/10), the last bin closed;
 * forecast mean, observed frequency, count) and the ROC area (hit rate against
 * false-alarm rate at the 101 probability levels P >= j %, trapezoids).
 *
 * Forecasts are scored as published: P as whole percent (the probability
 * frames' encoding). One byte per pixel holds it (impa_prob_verify_encode): bits
 * 0-6 the percent 0..100, bit 7 the deterministic forecast's exceedance,
 * IMPA_PROB_VERIFY_MISSING where either has no value. */
#define IMPA_PROB_REL_BINS 10
#define IMPA_PROB_LEVELS 101
#define IMPA_PROB_VERIFY_MISSING 255u
#define IMPA_PROB_VERIFY_DET 128u

typedef struct {
    int64_t n, n_events;                  /* pairs; observed events among them */
    double bs, bs_clim, bs_det;           /* sums of the squared errors */
    int64_t events[IMPA_PROB_LEVELS];     /* pairs per forecast percent: observed events */
    int64_t pairs[IMPA_PROB_LEVELS];      /* ... all pairs */
} impa_prob_verify_t;                     /* 1.7 KB; zero it to start */

typedef struct {
    int64_t n, n_events;
    double bs, bs_clim, bs_det;           /* means; NAN without pairs */
    double bss_clim, bss_det;             /* NAN when the reference's BS is 0 */
    double base_rate;                     /* observed frequency of the pairs */
    double roc_area;                      /* NAN without both events and non-events */
    double rel_mean[IMPA_PROB_REL_BINS];  /* forecast mean per bin (NAN when empty) */
    double rel_freq[IMPA_PROB_REL_BINS];  /* observed frequency per bin (NAN when empty) */
    int64_t rel_n[IMPA_PROB_REL_BINS];
} impa_prob_scores_t;

/* The bytes the scores read (see above) of a probability field p [n] (0..1, NAN
 * = none) and its deterministic forecast dbz [n] at threshold thr. */
IMPA_API void impa_prob_verify_encode(const float *p, const float *dbz, size_t n, float thr,
                                      uint8_t *out);
/* Adds the pairs of one encoded forecast fc [n] against obs [n] (dBZ, NAN =
 * missing) at thr; c: the climatological base rate the reference forecasts. */
IMPA_API void impa_prob_verify_add(impa_prob_verify_t *a, const uint8_t *fc, const float *obs,
                                   size_t n, float thr, double c);
/* Sums b into a. */
IMPA_API void impa_prob_verify_merge(impa_prob_verify_t *a, const impa_prob_verify_t *b);
IMPA_API impa_prob_scores_t impa_prob_verify_scores(const impa_prob_verify_t *a);

#endif
