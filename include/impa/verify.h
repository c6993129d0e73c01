/* Verification of forecasts against observations: contingency tables and
 * CSI/POD/FAR/HSS per lead time and threshold, pixel events `>= threshold`,
 * pixels missing in the observation or the forecast excluded. The same code
 * serves online verification in the daemon and the offline impa-verify tool. */
#ifndef IMPA_VERIFY_H
#define IMPA_VERIFY_H

#include <stdint.h>
#include <stdio.h>

#include "impa/error.h"
#include "impa/forecast.h"
#include "impa/prob.h"

#define IMPA_VERIFY_MAX_THRESH 8
#define IMPA_VERIFY_MAX_LEADS 64

typedef struct {
    int64_t hits, misses, false_alarms, correct_negatives;
} impa_contingency_t;

typedef struct {
    double csi, pod, far, hss; /* NAN when undefined (no events) */
} impa_scores_t;

/* Adds the counts of one forecast/observation pair (n cells) at threshold t. */
IMPA_API void impa_contingency_add(impa_contingency_t *c, const float *fc, const float *obs,
                                   size_t n, float threshold);
IMPA_API impa_scores_t impa_contingency_scores(const impa_contingency_t *c);

/* Accumulated tables for one method: [lead][threshold]. */
typedef struct {
    int n_leads, n_thresh, step_minutes;
    float thresholds[IMPA_VERIFY_MAX_THRESH];
    impa_contingency_t table[IMPA_VERIFY_MAX_LEADS][IMPA_VERIFY_MAX_THRESH];
    int64_t n_pairs[IMPA_VERIFY_MAX_LEADS];
} impa_verify_table_t;

IMPA_API int impa_verify_table_init(impa_verify_table_t *t, int n_leads, int step_minutes,
                                    const float *thresholds, int n_thresh);
/* Adds a forecast for lead index `lead` (0-based) against obs. */
IMPA_API void impa_verify_table_add(impa_verify_table_t *t, int lead, const float *fc,
                                    const float *obs, size_t n);
/* Prints the per-lead table (lead min, then CSI POD FAR HSS per threshold) and the
 * mean over leads, for humans. */
IMPA_API void impa_verify_table_print(const impa_verify_table_t *t, const char *title, FILE *out);

/* Mean of a score over the leads of a table at threshold index ti, ignoring NAN
 * leads; NAN when every lead is NAN. which: 0 CSI, 1 POD, 2 FAR, 3 HSS. */
IMPA_API double impa_verify_table_mean(const impa_verify_table_t *t, int ti, int which);
/* Scores of the counts summed over all leads at threshold index ti. */
IMPA_API impa_scores_t impa_verify_table_pooled(const impa_verify_table_t *t, int ti);

/* ---- Online verifier (used by the daemon) ----------------------------------
 * Keeps the last n_leads forecast cycles of every method and the last n_leads
 * observations; each new observation is scored against every kept forecast valid
 * at its time (persistence is derived from the kept observations: the forecast
 * issued at t is the observation at t for every lead). Aggregates: since start
 * and over the last 24 h (hourly buckets, so "24 h" is 24 to 25 h wide).
 * All buffers are allocated at create: memory ~ (2 * n_leads + 1) * n_leads * ny * nx
 * bytes (each pixel kept as the number of thresholds it reaches, so thresholds
 * are decided exactly as impa_contingency_add does on the floats). */
typedef struct impa_verifier impa_verifier_t;

#define IMPA_VERIFIER_N_METHODS 3 /* impa_method_t values */
/* A JSON buffer size always large enough for impa_verifier_observe. */
#define IMPA_VERIFIER_JSON_MAX(n_leads, n_thresh) \
    (3072 + IMPA_VERIFIER_N_METHODS * (size_t)(n_leads) * (128 + 128 * (size_t)(n_thresh)) + \
     1024 + 4 * (size_t)(n_leads) * 1280) /* + the probabilities (4 thresholds at most) */

/* thresholds: n_thresh (1..IMPA_VERIFY_MAX_THRESH) finite dBZ values, any order; n_leads
 * 1..IMPA_VERIFY_MAX_LEADS. state_dir: directory of the log (created if missing;
 * NULL = no log): verification.csv gets the rows of the current month (UTC); at
 * the first observation of a new month it becomes verification-YYYY-MM.csv and
 * the since-start totals are carried in verification-totals.csv. Create rebuilds
 * both aggregates from the totals, the last monthly file and verification.csv
 * (docs/nowcast.md, "Online verifier"). Errors: IMPA_EINVAL, IMPA_ENOMEM,
 * IMPA_EIO (log not writable), IMPA_EFORMAT (a log or totals file whose header
 * does not match, or a damaged totals row). */
IMPA_API int impa_verifier_create(int ny, int nx, int n_leads, int step_minutes,
                                  const float *thresholds, int n_thresh, const char *state_dir,
                                  impa_verifier_t **out, char *err, size_t errlen);
IMPA_API void impa_verifier_destroy(impa_verifier_t **v);

/* Keeps a copy of the forecast dbz [n_leads][ny][nx] (NAN = no data) issued at
 * issue_time (lead k valid at issue_time + (k+1)*step). Replaces the oldest cycle
 * of that method. m = IMPA_METHOD_PERSISTENCE is refused (IMPA_EINVAL): the
 * verifier derives persistence itself. */
IMPA_API int impa_verifier_add_forecast(impa_verifier_t *v, impa_method_t m, int64_t issue_time,
                                        const float *dbz, char *err, size_t errlen);

/* The daemon's entry: one cycle's products (impa/forecast.h). Keeps the
 * forecast field as impa_verifier_add_forecast does; a persistence forecast
 * (the fallback of last resort) is not kept, since the verifier derives
 * persistence from the observations itself (returns 0). With alert scoring
 * enabled the cycle's alerts (fc->alerts, whatever the method) are kept too. */
IMPA_API int impa_verifier_add_cycle(impa_verifier_t *v, const impa_forecast_t *fc, char *err,
                                     size_t errlen);

/* Scores every kept forecast valid at obs_time (obs [ny][nx], NAN = missing),
 * persistence included, updates the aggregates, appends one CSV row per
 * (method, lead, threshold) scored to <state_dir>/verification.csv (starting a
 * new month's file first when obs_time is in another month) and writes a JSON
 * summary into json (may be NULL): the pairs scored now and, per method, the
 * lead-mean HSS/CSI over the last 24 h and since start. jsonlen of
 * IMPA_VERIFIER_JSON_MAX(n_leads, n_thresh) is enough (20 KB for 12 leads and
 * 3 thresholds); when too small, json is {"truncated":true}. Then keeps obs for
 * persistence. An observation not newer than the latest one scored (a replay
 * after a restart) is kept for persistence but not scored again. Returns the
 * number of (method, lead) pairs scored (>= 0) or a negative code (IMPA_EIO when
 * the log could not be written or rotated; the in-memory aggregates and json are
 * updated anyway, and a failed rotation is tried again at the next observation). */
IMPA_API int impa_verifier_observe(impa_verifier_t *v, int64_t obs_time, const float *obs,
                                   char *json, size_t jsonlen, char *err, size_t errlen);

/* Alert scoring of the online verifier: impa_verifier_enable_alerts in
 * impa/alertverify.h. */

/* Probability scoring of the online verifier (impa/prob.h, "verification of
 * the probabilities"): from now on each cycle's probabilities at the thresholds
 * thr[0..n) (those of impa_forecast_t.prob; n <= IMPA_PROB_MAX_THRESHOLDS) are
 * kept with the cycle's forecast and scored against every observation valid at
 * their leads: per threshold and lead the Brier score, its skill against the
 * running base rate of the observations scored (all pixels of every one so far,
 * this one included) and against the forecast as 0/1, the reliability table and
 * the ROC area, since start and for the latest observation, in the JSON summary
 * ("probability") and through impa_verifier_prob_scores. With a state
 * directory the since-start scores and the base rate are kept across a restart
 * (<state_dir>/prob-verify.state, written after every observation, read back
 * here when it has the same thresholds, leads, grid and step; the forecasts in
 * flight are lost). Memory, at this call: n * n_leads^2 * ny * nx bytes (the rings; 72
 * MiB for 2 thresholds, 12 leads, 512 x 512) plus 2 * n * n_leads accumulators of
 * 1.7 KB. IMPA_EINVAL, IMPA_ESTATE (enabled already), IMPA_ENOMEM. */
IMPA_API int impa_verifier_enable_prob(impa_verifier_t *v, const float *thr, int n, char *err,
                                       size_t errlen);
/* Scores of threshold index ti (in the order given at enable_prob) at lead
 * (0-based): now = 1 the latest observation's pairs, 0 since start. The
 * threshold's running base rate in *base_rate when not NULL. IMPA_EINVAL when
 * probabilities are not scored or the indices are out of range. */
IMPA_API int impa_verifier_prob_scores(const impa_verifier_t *v, int ti, int lead, int now,
                                       impa_prob_scores_t *scores, double *base_rate);
/* 1 when enable_prob read the since-start probability scores back from the
 * state directory, else 0. */
IMPA_API int impa_verifier_prob_restored(const impa_verifier_t *v);
/* Thresholds scored (enable_prob), 0 when off; *thr points at them. */
IMPA_API int impa_verifier_prob_thresholds(const impa_verifier_t *v, const float **thr);

/* Copies an aggregate table of method m: window 0 = since start (log included),
 * 1 = last 24 h before the latest observation. */
IMPA_API int impa_verifier_table(const impa_verifier_t *v, impa_method_t m, int window,
                                 impa_verify_table_t *out);

#endif
