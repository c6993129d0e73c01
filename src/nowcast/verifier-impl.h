/* Internals of the online verifier, shared by verifier.c (levels, scoring,
 * JSON), verifier_tables.c (the aggregates both others add to) and
 * verifier_log.c (the CSV log in the state directory: replay at create,
 * appending, monthly rotation with carried totals). Not installed. */
#ifndef IMPA_VERIFIER_IMPL_H
#define IMPA_VERIFIER_IMPL_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include "impa/alertverify.h"
#include "impa/verify.h"

#define N_METHODS IMPA_VERIFIER_N_METHODS
#define N_BUCKETS 25 /* hourly buckets: the last 24 h plus the current hour */
#define N_LEVELS (IMPA_VERIFY_MAX_THRESH + 1)
#define LEVEL_MISSING UINT8_MAX

struct impa_verifier {
    int ny, nx, n_leads, step_min, n_thresh;
    size_t npix;
    float thresholds[IMPA_VERIFY_MAX_THRESH]; /* in the caller's order (log, JSON) */
    float sorted[IMPA_VERIFY_MAX_THRESH];     /* ascending, for the levels */
    /* thresholds[i] is reached by the levels above below[i] (thresholds strictly lower) */
    int below[IMPA_VERIFY_MAX_THRESH];
    /* forecast rings of levels, per method except persistence:
     * fc[m] [n_leads slots][n_leads][ny][nx] */
    uint8_t *fc[N_METHODS];
    int64_t fc_time[N_METHODS][IMPA_VERIFY_MAX_LEADS];
    int fc_used[N_METHODS][IMPA_VERIFY_MAX_LEADS];
    int fc_next[N_METHODS];
    /* observation ring of levels for persistence: obs [n_leads slots][ny][nx] */
    uint8_t *obs;
    uint8_t *obs_now; /* levels of the observation being scored [ny][nx] */
    int64_t obs_time[IMPA_VERIFY_MAX_LEADS];
    int obs_used[IMPA_VERIFY_MAX_LEADS];
    int obs_next;
    int64_t last_scored; /* newest observation time scored (log included); INT64_MIN = none */
    impa_verify_table_t total[N_METHODS];
    impa_verify_table_t *bucket;          /* [N_BUCKETS][N_METHODS] */
    int64_t bucket_hour[N_BUCKETS];       /* hour index (t / 3600) held, INT64_MIN = empty */
    /* the log (verifier_log.c); state_dir[0] == '\0': no log */
    char state_dir[PATH_MAX];
    FILE *log;
    int log_month;        /* year * 12 + month - 1 of the rows in the log; -1 = none yet */
    int64_t carried_upto; /* rows up to this time are in the carried totals; INT64_MIN = none */
    /* alerts as objects (impa_verifier_enable_alerts); NULL = not scored */
    impa_alert_verifier_t *alerts;
    impa_grid_t alert_grid;
    impa_alert_table_t alerts_now; /* the latest observation's counts */
    /* probabilities (impa_verifier_enable_prob, verifier_prob.c); NULL = not scored */
    struct impa_vprob *prob;
};

/* ---- probabilities (verifier_prob.c) ---- */

/* Keeps the cycle's probabilities (fc->prob, encoded with its forecast); a cycle
 * without them takes no slot. */
void impa_vprob_add_cycle(impa_verifier_t *v, const impa_forecast_t *fc);
/* Scores every kept probability forecast valid at obs_time against obs (into
 * the since-start and this observation's accumulators). */
void impa_vprob_observe(impa_verifier_t *v, int64_t obs_time, const float *obs);
void impa_vprob_destroy(impa_verifier_t *v);

/* ---- aggregates (verifier_tables.c) ---- */

/* Hour index of t (floor(t / 3600), also for t < 0). */
int64_t impa_verifier_floor_hour(int64_t t);

/* Where impa_verifier_account puts a row's counts. */
#define IMPA_VACC_TOTAL 1u
#define IMPA_VACC_BUCKET 2u

/* Adds counts of (method m, lead index, threshold index ti) observed at obs_time
 * to the since-start table and/or its hourly bucket. `pairs` forecast/observation
 * pairs are counted once per (method, lead), with the first threshold's counts. */
void impa_verifier_account(impa_verifier_t *v, int m, int64_t obs_time, int lead, int ti,
                           const impa_contingency_t *c, int64_t pairs, unsigned where);

/* ---- the log (verifier_log.c) ---- */

/* Rebuilds the aggregates from the state directory and opens the log for
 * appending. */
int impa_vlog_open(impa_verifier_t *v, const char *state_dir, char *err, size_t errlen);
/* Before the rows of an observation at obs_time: starts a new log when obs_time
 * is in another month than the log's rows (the old one is kept as
 * verification-YYYY-MM.csv, its totals carried), and reopens a log that could
 * not be opened before. Rows are written whatever it returns. */
int impa_vlog_prepare(impa_verifier_t *v, int64_t obs_time, char *err, size_t errlen);
/* Appends one row (no-op without a log). */
void impa_vlog_row(impa_verifier_t *v, const char *obs_iso, int64_t obs_time, int m,
                   int64_t issue, int lead, int ti, const impa_contingency_t *c);
/* Flushes the rows of one observation; IMPA_EIO when they could not be written. */
int impa_vlog_flush(impa_verifier_t *v, char *err, size_t errlen);
void impa_vlog_close(impa_verifier_t *v);

#endif
