/* Online verifier: the daemon hands it every forecast it issues and every
 * observation it receives; each observation is scored against the forecasts
 * valid at its time. Everything is sized at create; observe() allocates nothing.
 * The CSV log is the only persistent state: aggregates are rebuilt from it at
 * create, so a restart loses only the forecasts in flight.
 *
 * The rings keep each pixel as its threshold level (how many of the configured
 * thresholds it reaches, LEVEL_MISSING for no data), one byte instead of a
 * float: the scores only ever ask `value >= threshold`, which the level answers
 * exactly, and the rings are the daemon's largest buffers (n_leads^2 frames per
 * method). */
#include "verifier-impl.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "impa/timeutil.h"

/* Threshold level of each value: the number of thresholds it reaches. */
static void to_levels(const impa_verifier_t *v, const float *x, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float a = x[i];
        if (isnan(a)) {
            out[i] = LEVEL_MISSING;
            continue;
        }
        uint8_t k = 0;
        while (k < v->n_thresh && a >= v->sorted[k])
            k++;
        out[i] = k;
    }
}

/* Contingency counts at every threshold from one pass over a level pair: the
 * joint histogram of (forecast level, observed level) over pixels with data in
 * both. An event at thresholds[i] is a level above below[i], so
 * value >= threshold is decided exactly as impa_contingency_add does on floats. */
static void level_contingency(const impa_verifier_t *v, const uint8_t *fc, const uint8_t *obs,
                              impa_contingency_t *c /* [n_thresh] */)
{
    int64_t joint[N_LEVELS][N_LEVELS] = {{0}};
    for (size_t p = 0; p < v->npix; p++)
        if (fc[p] != LEVEL_MISSING && obs[p] != LEVEL_MISSING)
            joint[fc[p]][obs[p]]++;
    for (int i = 0; i < v->n_thresh; i++) {
        impa_contingency_t t = {0, 0, 0, 0};
        for (int a = 0; a <= v->n_thresh; a++)
            for (int b = 0; b <= v->n_thresh; b++) {
                int ef = a > v->below[i], eo = b > v->below[i];
                int64_t k = joint[a][b];
                if (ef && eo)
                    t.hits += k;
                else if (eo)
                    t.misses += k;
                else if (ef)
                    t.false_alarms += k;
                else
                    t.correct_negatives += k;
            }
        c[i] = t;
    }
}

int impa_verifier_create(int ny, int nx, int n_leads, int step_minutes, const float *thresholds,
                         int n_thresh, const char *state_dir, impa_verifier_t **out, char *err,
                         size_t errlen)
{
    if (!out)
        return impa_err(err, errlen, IMPA_EINVAL, "verifier: out is NULL");
    *out = NULL;
    if (ny < 1 || nx < 1 || n_leads < 1 || n_leads > IMPA_VERIFY_MAX_LEADS || step_minutes < 1 ||
        !thresholds || n_thresh < 1 || n_thresh > IMPA_VERIFY_MAX_THRESH)
        return impa_err(err, errlen, IMPA_EINVAL,
                        "verifier: bad sizes (grid %dx%d, %d leads (max %d), step %d min, "
                        "%d thresholds (max %d))",
                        ny, nx, n_leads, IMPA_VERIFY_MAX_LEADS, step_minutes, n_thresh,
                        IMPA_VERIFY_MAX_THRESH);
    impa_verifier_t *v = calloc(1, sizeof(*v));
    if (!v)
        return impa_err(err, errlen, IMPA_ENOMEM, "verifier: out of memory");
    v->ny = ny;
    v->nx = nx;
    v->n_leads = n_leads;
    v->step_min = step_minutes;
    v->n_thresh = n_thresh;
    v->npix = (size_t)ny * (size_t)nx;
    memcpy(v->thresholds, thresholds, sizeof(float) * (size_t)n_thresh);
    for (int i = 0; i < n_thresh; i++) {
        if (!isfinite(thresholds[i])) {
            free(v);
            return impa_err(err, errlen, IMPA_EINVAL, "verifier: threshold %d is not finite",
                            i + 1);
        }
        /* insertion sort: at most IMPA_VERIFY_MAX_THRESH values */
        int k = i;
        while (k > 0 && v->sorted[k - 1] > thresholds[i]) {
            v->sorted[k] = v->sorted[k - 1];
            k--;
        }
        v->sorted[k] = thresholds[i];
    }
    for (int i = 0; i < n_thresh; i++)
        for (int k = 0; k < n_thresh; k++)
            v->below[i] += v->sorted[k] < thresholds[i];
    v->last_scored = INT64_MIN;
    int rc = IMPA_OK;
    size_t ring = (size_t)n_leads * (size_t)n_leads * v->npix;
    for (int m = 0; m < N_METHODS; m++) {
        impa_verify_table_init(&v->total[m], n_leads, step_minutes, thresholds, n_thresh);
        if (m == IMPA_METHOD_PERSISTENCE)
            continue;
        v->fc[m] = malloc(ring);
        if (!v->fc[m]) {
            rc = impa_err(err, errlen, IMPA_ENOMEM,
                          "verifier: cannot allocate %zu MB for the %s forecast ring",
                          ring >> 20, impa_method_name((impa_method_t)m));
            goto fail;
        }
    }
    v->obs = malloc((size_t)n_leads * v->npix);
    v->obs_now = malloc(v->npix);
    v->bucket = malloc(sizeof(impa_verify_table_t) * N_BUCKETS * N_METHODS);
    if (!v->obs || !v->obs_now || !v->bucket) {
        rc = impa_err(err, errlen, IMPA_ENOMEM, "verifier: out of memory");
        goto fail;
    }
    for (int b = 0; b < N_BUCKETS; b++)
        v->bucket_hour[b] = INT64_MIN;
    v->log_month = -1;
    v->carried_upto = INT64_MIN;
    if (state_dir && *state_dir) {
        rc = impa_vlog_open(v, state_dir, err, errlen);
        if (rc < 0)
            goto fail;
    }
    *out = v;
    return IMPA_OK;
fail:
    impa_verifier_destroy(&v);
    return rc;
}

void impa_verifier_destroy(impa_verifier_t **vp)
{
    if (!vp || !*vp)
        return;
    impa_verifier_t *v = *vp;
    for (int m = 0; m < N_METHODS; m++)
        free(v->fc[m]);
    free(v->obs);
    free(v->obs_now);
    free(v->bucket);
    impa_vlog_close(v);
    impa_alert_verifier_destroy(&v->alerts);
    impa_vprob_destroy(v);
    free(v);
    *vp = NULL;
}

int impa_verifier_add_forecast(impa_verifier_t *v, impa_method_t m, int64_t issue_time,
                               const float *dbz, char *err, size_t errlen)
{
    if (!v || !dbz || (int)m < 0 || (int)m >= N_METHODS || !v->fc[m])
        return impa_err(err, errlen, IMPA_EINVAL,
                        "verifier: bad forecast (method %d; persistence is derived, not added)",
                        (int)m);
    int slot = v->fc_next[m];
    /* the same issue time again (a re-run) replaces the earlier copy */
    for (int s = 0; s < v->n_leads; s++)
        if (v->fc_used[m][s] && v->fc_time[m][s] == issue_time)
            slot = s;
    size_t cycle = (size_t)v->n_leads * v->npix;
    to_levels(v, dbz, v->fc[m] + (size_t)slot * cycle, cycle);
    v->fc_time[m][slot] = issue_time;
    v->fc_used[m][slot] = 1;
    if (slot == v->fc_next[m])
        v->fc_next[m] = (slot + 1) % v->n_leads;
    return IMPA_OK;
}

int impa_verifier_add_cycle(impa_verifier_t *v, const impa_forecast_t *fc, char *err,
                            size_t errlen)
{
    if (!v || !fc)
        return impa_err(err, errlen, IMPA_EINVAL, "verifier: NULL cycle");
    /* the alerts were published whatever made the forecast, persistence included */
    if (v->alerts && fc->alerts) {
        int rc = impa_alert_verifier_add_cycle(v->alerts, fc->issue_time, fc->n_leads, fc->alerts,
                                               err, errlen);
        if (rc)
            return rc;
    }
    impa_vprob_add_cycle(v, fc); /* the probabilities published, whatever made them */
    if (fc->method == IMPA_METHOD_PERSISTENCE)
        return IMPA_OK; /* derived from the observations kept, never stored twice */
    return impa_verifier_add_forecast(v, fc->method, fc->issue_time, fc->dbz, err, errlen);
}

/* Bounded JSON writer: once the buffer is full, later writes are dropped. */
typedef struct {
    char *buf;
    size_t len, pos;
} jbuf_t;

IMPA_PRINTF(2, 3) static void jput(jbuf_t *j, const char *fmt, ...)
{
    if (!j->buf || j->pos >= j->len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(j->buf + j->pos, j->len - j->pos, fmt, ap);
    va_end(ap);
    if (n > 0)
        j->pos += (size_t)n;
}

static void jnum(jbuf_t *j, double x)
{
    if (isnan(x))
        jput(j, "null");
    else
        jput(j, "%.4f", x);
}

static void json_window(jbuf_t *j, impa_verifier_t *v, int window)
{
    jput(j, "{");
    for (int m = 0; m < N_METHODS; m++) {
        impa_verify_table_t t;
        impa_verifier_table(v, (impa_method_t)m, window, &t);
        int64_t pairs = 0;
        for (int l = 0; l < t.n_leads; l++)
            pairs += t.n_pairs[l];
        jput(j, "%s\"%s\":{\"pairs\":%" PRId64 ",\"hss_mean\":[", m ? "," : "",
             impa_method_name((impa_method_t)m), pairs);
        for (int i = 0; i < v->n_thresh; i++) {
            jput(j, i ? "," : "");
            jnum(j, impa_verify_table_mean(&t, i, 3));
        }
        jput(j, "],\"csi_mean\":[");
        for (int i = 0; i < v->n_thresh; i++) {
            jput(j, i ? "," : "");
            jnum(j, impa_verify_table_mean(&t, i, 0));
        }
        jput(j, "]}");
    }
    jput(j, "}");
}

/* Scores one forecast field (levels) against the observation's levels at every
 * threshold, logs and accounts it. */
static void score_one(impa_verifier_t *v, jbuf_t *j, int *n_scored, int m, int64_t obs_time,
                      int64_t issue, int lead, const uint8_t *fc, const char *obs_iso)
{
    char iso[32];
    impa_contingency_t counts[IMPA_VERIFY_MAX_THRESH];
    level_contingency(v, fc, v->obs_now, counts);
    jput(j, "%s{\"method\":\"%s\",\"issue_time\":\"%s\",\"lead_min\":%d,\"scores\":[",
         *n_scored ? "," : "", impa_method_name((impa_method_t)m),
         impa_time_iso(issue, iso, sizeof iso), (lead + 1) * v->step_min);
    for (int ti = 0; ti < v->n_thresh; ti++) {
        const impa_contingency_t c = counts[ti];
        impa_verifier_account(v, m, obs_time, lead, ti, &c, 1,
                              IMPA_VACC_TOTAL | IMPA_VACC_BUCKET);
        impa_vlog_row(v, obs_iso, obs_time, m, issue, lead, ti, &c);
        impa_scores_t s = impa_contingency_scores(&c);
        jput(j, "%s{\"threshold\":%g,\"csi\":", ti ? "," : "", (double)v->thresholds[ti]);
        jnum(j, s.csi);
        jput(j, ",\"pod\":");
        jnum(j, s.pod);
        jput(j, ",\"far\":");
        jnum(j, s.far);
        jput(j, ",\"hss\":");
        jnum(j, s.hss);
        jput(j, "}");
    }
    jput(j, "]}");
    (*n_scored)++;
}

static void jkey(jbuf_t *j, const char *key, double x)
{
    jput(j, ",\"%s\":", key);
    jnum(j, x);
}

/* The probability scores (verifier_prob.c): per threshold, the running base
 * rate and per lead the scores of this observation's pairs ("now") and since
 * start, with the reliability table as [forecast mean, observed frequency,
 * count] per bin. */
static void json_prob(jbuf_t *j, const impa_verifier_t *v)
{
    const float *thr = NULL;
    int n_thr = impa_verifier_prob_thresholds(v, &thr);
    jput(j, ",\"probability\":[");
    for (int t = 0; t < n_thr; t++) {
        double c = NAN;
        impa_prob_scores_t s;
        impa_verifier_prob_scores(v, t, 0, 0, &s, &c);
        jput(j, "%s{\"threshold\":%g", t ? "," : "", (double)thr[t]);
        jkey(j, "base_rate", c);
        jput(j, ",\"leads\":[");
        for (int l = 0; l < v->n_leads; l++) {
            for (int now = 1; now >= 0; now--) {
                impa_verifier_prob_scores(v, t, l, now, &s, NULL);
                if (now)
                    jput(j, "%s{\"lead_min\":%d,\"now\":{\"n\":%" PRId64, l ? "," : "",
                         (l + 1) * v->step_min, s.n);
                else
                    jput(j, "},\"since_start\":{\"n\":%" PRId64, s.n);
                jkey(j, "bs", s.bs);
                jkey(j, "bss_clim", s.bss_clim);
                jkey(j, "bss_det", s.bss_det);
                jkey(j, "roc_area", s.roc_area);
            }
            jput(j, ",\"reliability\":[");
            for (int b = 0; b < IMPA_PROB_REL_BINS; b++) {
                jput(j, "%s[", b ? "," : "");
                jnum(j, s.rel_mean[b]);
                jput(j, ",");
                jnum(j, s.rel_freq[b]);
                jput(j, ",%" PRId64 "]", s.rel_n[b]);
            }
            jput(j, "]}}");
        }
        jput(j, "]}");
    }
    jput(j, "]");
}

/* Alerts as objects, pooled over leads (alertverify.h). */
static void json_alerts(jbuf_t *j, const impa_alert_table_t *t)
{
    impa_alert_counts_t c = impa_alert_table_pooled(t);
    impa_scores_t s = impa_alert_counts_scores(&c);
    jput(j,
         "{\"alerts\":%" PRId64 ",\"hits\":%" PRId64 ",\"observed\":%" PRId64
         ",\"detected\":%" PRId64 ",\"observed_cells\":%" PRId64 ",\"warned\":%" PRId64,
         c.alerts, c.hits, c.observed, c.detected, t->obs_cells, t->warned);
    jkey(j, "pod", s.pod);
    jkey(j, "far", s.far);
    jkey(j, "csi", s.csi);
    jkey(j, "mean_lead_time_min",
         t->warned ? (double)t->lead_time_sum_s / 60.0 / (double)t->warned : NAN);
    jput(j, "}");
}

int impa_verifier_enable_alerts(impa_verifier_t *v, const impa_grid_t *grid,
                                const impa_alert_config_t *cfg, char *err, size_t errlen)
{
    if (!v || !grid || !cfg || grid->ny != v->ny || grid->nx != v->nx)
        return impa_err(err, errlen, IMPA_EINVAL, "verifier: alerts: bad grid or configuration");
    if (v->alerts)
        return impa_err(err, errlen, IMPA_ESTATE, "verifier: alerts are scored already");
    int rc = impa_alert_verifier_create(v->n_leads, v->step_min, cfg, &v->alerts, err, errlen);
    if (rc)
        return rc;
    v->alert_grid = *grid;
    return 0;
}

const impa_alert_table_t *impa_verifier_alert_table(const impa_verifier_t *v, int now)
{
    if (!v || !v->alerts)
        return NULL;
    return now ? &v->alerts_now : impa_alert_verifier_table(v->alerts);
}

int impa_verifier_observe(impa_verifier_t *v, int64_t obs_time, const float *obs, char *json,
                          size_t jsonlen, char *err, size_t errlen)
{
    if (!v || !obs)
        return impa_err(err, errlen, IMPA_EINVAL, "verifier: NULL observation");
    jbuf_t j = {json, jsonlen, 0};
    if (json && jsonlen)
        json[0] = '\0';
    char obs_iso[32];
    impa_time_iso(obs_time, obs_iso, sizeof obs_iso);
    int n_scored = 0;
    const int64_t step_s = (int64_t)v->step_min * 60;
    /* An observation not newer than the last one scored (a replay after a restart)
     * is kept for persistence but not scored again: the log already holds it. */
    int score = obs_time > v->last_scored;
    to_levels(v, obs, v->obs_now, v->npix);
    jput(&j, "{\"obs_time\":\"%s\",\"step_minutes\":%d,\"scored_now\":%s,\"thresholds\":[",
         obs_iso, v->step_min, score ? "true" : "false");
    for (int i = 0; i < v->n_thresh; i++)
        jput(&j, "%s%g", i ? "," : "", (double)v->thresholds[i]);
    jput(&j, "],\"pairs\":[");
    int log_rc = IMPA_OK;
    if (score) {
        log_rc = impa_vlog_prepare(v, obs_time, err, errlen);
        for (int m = 0; m < N_METHODS; m++) {
            if (!v->fc[m])
                continue;
            for (int s = 0; s < v->n_leads; s++) {
                int64_t dt = obs_time - v->fc_time[m][s];
                if (!v->fc_used[m][s] || dt <= 0 || dt % step_s)
                    continue;
                int lead = (int)(dt / step_s) - 1;
                if (lead >= v->n_leads)
                    continue;
                const uint8_t *fc =
                    v->fc[m] + ((size_t)s * v->n_leads + (size_t)lead) * v->npix;
                score_one(v, &j, &n_scored, m, obs_time, v->fc_time[m][s], lead, fc, obs_iso);
            }
        }
        for (int s = 0; s < v->n_leads; s++) {
            int64_t dt = obs_time - v->obs_time[s];
            if (!v->obs_used[s] || dt <= 0 || dt % step_s)
                continue;
            int lead = (int)(dt / step_s) - 1;
            if (lead >= v->n_leads)
                continue;
            score_one(v, &j, &n_scored, IMPA_METHOD_PERSISTENCE, obs_time, v->obs_time[s], lead,
                      v->obs + (size_t)s * v->npix, obs_iso);
        }
        v->last_scored = obs_time;
        /* the first problem is the one reported */
        int frc = impa_vlog_flush(v, log_rc == IMPA_OK ? err : NULL, errlen);
        if (log_rc == IMPA_OK)
            log_rc = frc;
    }
    if (score)
        impa_vprob_observe(v, obs_time, obs);
    int arc = IMPA_OK;
    memset(&v->alerts_now, 0, sizeof v->alerts_now);
    if (v->alerts && score)
        arc = impa_alert_verifier_observe(v->alerts, &v->alert_grid, obs_time, obs, &v->alerts_now,
                                          log_rc == IMPA_OK ? err : NULL, errlen);
    if (log_rc == IMPA_OK)
        log_rc = arc;
    jput(&j, "],\"last_24h\":");
    json_window(&j, v, 1);
    jput(&j, ",\"since_start\":");
    json_window(&j, v, 0);
    if (v->alerts) {
        jput(&j, ",\"alerts\":{\"now\":");
        json_alerts(&j, &v->alerts_now);
        jput(&j, ",\"since_start\":");
        json_alerts(&j, impa_alert_verifier_table(v->alerts));
        jput(&j, "}");
    }
    if (v->prob)
        json_prob(&j, v);
    jput(&j, "}");
    if (json && jsonlen && j.pos >= jsonlen) /* cut JSON is useless: say so instead */
        snprintf(json, jsonlen, "%s", jsonlen > 18 ? "{\"truncated\":true}" : "");

    /* keep obs for persistence unless an equal or newer one is already kept */
    int newest = 1, slot = v->obs_next;
    for (int s = 0; s < v->n_leads; s++)
        if (v->obs_used[s] && v->obs_time[s] >= obs_time)
            newest = 0;
    if (newest) {
        memcpy(v->obs + (size_t)slot * v->npix, v->obs_now, v->npix);
        v->obs_time[slot] = obs_time;
        v->obs_used[slot] = 1;
        v->obs_next = (slot + 1) % v->n_leads;
    }
    return log_rc < 0 ? log_rc : n_scored;
}

int impa_verifier_table(const impa_verifier_t *v, impa_method_t m, int window,
                        impa_verify_table_t *out)
{
    if (!v || !out || (int)m < 0 || (int)m >= N_METHODS)
        return IMPA_EINVAL;
    if (window == 0) {
        *out = v->total[m];
        return IMPA_OK;
    }
    impa_verify_table_init(out, v->n_leads, v->step_min, v->thresholds, v->n_thresh);
    if (v->last_scored == INT64_MIN)
        return IMPA_OK;
    int64_t cur = impa_verifier_floor_hour(v->last_scored);
    for (int b = 0; b < N_BUCKETS; b++) {
        if (v->bucket_hour[b] == INT64_MIN || v->bucket_hour[b] <= cur - N_BUCKETS ||
            v->bucket_hour[b] > cur)
            continue;
        const impa_verify_table_t *t = &v->bucket[b * N_METHODS + m];
        for (int l = 0; l < v->n_leads; l++) {
            out->n_pairs[l] += t->n_pairs[l];
            for (int i = 0; i < v->n_thresh; i++) {
                out->table[l][i].hits += t->table[l][i].hits;
                out->table[l][i].misses += t->table[l][i].misses;
                out->table[l][i].false_alarms += t->table[l][i].false_alarms;
                out->table[l][i].correct_negatives += t->table[l][i].correct_negatives;
            }
        }
    }
    return IMPA_OK;
}
