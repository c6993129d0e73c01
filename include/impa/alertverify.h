/* Object-based verification of alerts: for each alert (a published cell at a
 * lead), did an observed severe-echo cell overlap it at its valid time? The
 * figure a warning desk asks for, where impa/verify.h scores pixels.
 *
 * Observed cells are found in each observation exactly as alert cells are in a
 * forecast (8-connected pixels >= threshold_dbz, area >= min_area_km2, the watch
 * regions they touch), by an alert tracker of its own with no persistence rule.
 * Overlap = at least one common pixel. Per lead k (a cycle's alerts valid at the
 * observation's time):
 *   alerts      alert cells scored
 *   hits        ... of which overlap an observed cell         (false alarms = alerts - hits)
 *   observed    observed cells at the valid times scored
 *   detected    ... of which overlapped by an alert cell      (misses = observed - detected)
 *   POD = detected / observed, FAR = (alerts - hits) / alerts,
 *   CSI = detected / (observed + alerts - hits)   (NAN when the denominator is 0)
 * Per watch region r the same counts pooled over leads, over the alert cells and
 * observed cells that touch r. Warning lead time: for every observed cell of
 * every observation, the earliest issue time among the kept cycles whose alerts
 * overlap it; lead time = observation time - that issue time ("warned"), none
 * when no alert of any kept cycle overlapped it.
 *
 * The verifier keeps the alert cells (lead, regions, pixels) of the last n_leads
 * cycles, so an observation is scored against every cycle that forecast its
 * time, in whichever order cycles and observations arrive as long as a cycle is
 * added before the observations it forecasts. Pools grow by doubling and are
 * then reused (no allocation in steady state). */
#ifndef IMPA_ALERTVERIFY_H
#define IMPA_ALERTVERIFY_H

#include <stdint.h>
#include <stdio.h>

#include "impa/alerts.h"
#include "impa/verify.h"

typedef struct {
    int64_t alerts, hits, observed, detected;
} impa_alert_counts_t;

/* POD, FAR, CSI of the counts as described above (hss is NAN). */
IMPA_API impa_scores_t impa_alert_counts_scores(const impa_alert_counts_t *c);

typedef struct {
    int n_leads, step_minutes, n_regions;
    impa_alert_counts_t lead[IMPA_VERIFY_MAX_LEADS];
    impa_alert_counts_t region[IMPA_ALERT_MAX_REGIONS]; /* pooled over leads */
    char region_name[IMPA_ALERT_MAX_REGIONS][64];
    int64_t n_observations;   /* observations scored */
    int64_t obs_cells;        /* observed cells over all observations (each once) */
    int64_t warned;           /* ... of which covered by an alert of some kept cycle */
    int64_t lead_time_sum_s;  /* sum of the warned cells' lead times */
    int64_t lead_time_max_s;
    /* warned[k]: cells whose earliest covering alert was issued (k+1) steps before */
    int64_t warned_at[IMPA_VERIFY_MAX_LEADS];
} impa_alert_table_t;

/* Counts pooled over every lead. */
IMPA_API impa_alert_counts_t impa_alert_table_pooled(const impa_alert_table_t *t);
/* A short table for people: one row per lead (alerts, hits, false alarms,
 * observed, detected, misses, POD, FAR, CSI), the pooled row, one row per
 * watch region, then the warning lead time. */
IMPA_API void impa_alert_table_print(const impa_alert_table_t *t, const char *title, FILE *out);

typedef struct impa_alert_verifier impa_alert_verifier_t;

/* n_leads 1..IMPA_VERIFY_MAX_LEADS, step_minutes >= 1; cfg: threshold, minimum
 * area and watch regions of the observed cells (the alerts' own configuration;
 * its persistence rule is not applied to observations). Grid-sized buffers are
 * allocated at the first observation. */
IMPA_API int impa_alert_verifier_create(int n_leads, int step_minutes,
                                        const impa_alert_config_t *cfg,
                                        impa_alert_verifier_t **out, char *err, size_t errlen);
IMPA_API void impa_alert_verifier_destroy(impa_alert_verifier_t **v);

/* Keeps a copy of the alert cells of the cycle issued at issue_time with n_leads
 * leads (cells without a pixel list, i.e. restored from a state file, are left
 * out), replacing the oldest kept cycle. IMPA_ENOMEM. */
IMPA_API int impa_alert_verifier_add_cycle(impa_alert_verifier_t *v, int64_t issue_time,
                                           int n_leads, const impa_alerts_t *alerts, char *err,
                                           size_t errlen);

/* Scores the observation obs [ny][nx] (NAN = missing) on grid g valid at
 * obs_time against every kept cycle with a lead valid then; adds to the totals
 * and, when now is not NULL, writes this observation's counts alone into it.
 * IMPA_EINVAL, IMPA_ESHAPE (grid differs from the first observation's),
 * IMPA_ENOMEM. */
IMPA_API int impa_alert_verifier_observe(impa_alert_verifier_t *v, const impa_grid_t *g,
                                         int64_t obs_time, const float *obs,
                                         impa_alert_table_t *now, char *err, size_t errlen);

/* The totals since create. */
IMPA_API const impa_alert_table_t *impa_alert_verifier_table(const impa_alert_verifier_t *v);

/* ---- in the online verifier (impa/verify.h) ---- */

/* Scores the alerts of every cycle as objects against the observed cells
 * (impa/alertverify.h; cfg gives the cells' threshold, area and watch regions),
 * from now on: impa_verifier_observe then adds an "alerts" member to its JSON
 * ({"now": ..., "since_start": ...}: alerts, hits, observed, detected,
 * observed_cells, warned, pod, far, csi, mean_lead_time_min, pooled over leads).
 * The alert totals live in memory only (a restart starts them again).
 * grid: the verifier's (ny, nx) with its projection. IMPA_EINVAL, IMPA_ESTATE
 * (enabled already), IMPA_ENOMEM. */
IMPA_API int impa_verifier_enable_alerts(impa_verifier_t *v, const impa_grid_t *grid,
                                         const impa_alert_config_t *cfg, char *err,
                                         size_t errlen);
/* now = 1: the counts of the latest observation alone; 0: since enabled. NULL
 * when alerts are not scored. */
IMPA_API const impa_alert_table_t *impa_verifier_alert_table(const impa_verifier_t *v, int now);

#endif
