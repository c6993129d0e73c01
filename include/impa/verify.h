/* Verification of forecasts against observations: contingency tables and
 * CSI/POD/FAR/HSS per lead time and threshold, pixel events `>= threshold`,
 * pixels missing in the observation or the forecast excluded. The same code
 * serves online verification in the daemon and the offline impa-verify tool. */
#ifndef IMPA_VERIFY_H
#define IMPA_VERIFY_H

#include <stdint.h>
#include <stdio.h>

#include "impa/error.h"

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

#endif
