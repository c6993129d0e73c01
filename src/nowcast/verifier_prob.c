/* The online verifier's probability scores (impa/verify.h,
 * impa_verifier_enable_prob): a ring of the last n_leads cycles' probabilities,
 * encoded one byte per pixel with the deterministic forecast's exceedance
 * (impa_prob_verify_encode), scored against each observation valid at their
 * leads (prob_verify.c). Everything is allocated at enable; observe allocates
 * nothing. */
#include "verifier-impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "impa/error.h"

struct impa_vprob {
    int n_thr;
    float thr[IMPA_PROB_MAX_THRESHOLDS];
    uint8_t *ring;                         /* [n_leads slots][n_thr][n_leads][npix] */
    int64_t time[IMPA_VERIFY_MAX_LEADS];
    int used[IMPA_VERIFY_MAX_LEADS], next;
    int64_t obs_n[IMPA_PROB_MAX_THRESHOLDS], obs_events[IMPA_PROB_MAX_THRESHOLDS];
    impa_prob_verify_t *total, *now;       /* [n_thr][n_leads] */
};

int impa_verifier_enable_prob(impa_verifier_t *v, const float *thr, int n, char *err,
                              size_t errlen)
{
    if (!v || !thr || n < 1 || n > IMPA_PROB_MAX_THRESHOLDS)
        return impa_err(err, errlen, IMPA_EINVAL, "verifier: probabilities: %d thresholds (1..%d)",
                        n, IMPA_PROB_MAX_THRESHOLDS);
    if (v->prob)
        return impa_err(err, errlen, IMPA_ESTATE, "verifier: probabilities are scored already");
    struct impa_vprob *p = calloc(1, sizeof *p);
    size_t ring = (size_t)v->n_leads * (size_t)n * (size_t)v->n_leads * v->npix;
    size_t acc = (size_t)n * (size_t)v->n_leads;
    if (p) {
        p->ring = malloc(ring);
        p->total = calloc(acc, sizeof *p->total);
        p->now = calloc(acc, sizeof *p->now);
    }
    if (!p || !p->ring || !p->total || !p->now) {
        if (p) {
            free(p->ring);
            free(p->total);
            free(p->now);
        }
        free(p);
        return impa_err(err, errlen, IMPA_ENOMEM,
                        "verifier: cannot allocate %zu MB for the probability ring", ring >> 20);
    }
    p->n_thr = n;
    memcpy(p->thr, thr, sizeof(float) * (size_t)n);
    v->prob = p;
    return 0;
}

void impa_vprob_destroy(impa_verifier_t *v)
{
    if (!v->prob)
        return;
    free(v->prob->ring);
    free(v->prob->total);
    free(v->prob->now);
    free(v->prob);
    v->prob = NULL;
}

void impa_vprob_add_cycle(impa_verifier_t *v, const impa_forecast_t *fc)
{
    struct impa_vprob *p = v->prob;
    const impa_prob_field_t *pf = fc->prob;
    if (!p || !pf || !fc->dbz || pf->n_leads != v->n_leads || pf->ny != v->ny || pf->nx != v->nx)
        return;
    int slot = p->next;
    for (int s = 0; s < v->n_leads; s++) /* a re-run of an issue time replaces it */
        if (p->used[s] && p->time[s] == fc->issue_time)
            slot = s;
    size_t plane = v->npix, per_thr = (size_t)v->n_leads * plane;
    uint8_t *dst = p->ring + (size_t)slot * (size_t)p->n_thr * per_thr;
    for (int t = 0; t < p->n_thr; t++) {
        int ti = impa_prob_threshold_index(pf, p->thr[t]);
        for (int k = 0; k < v->n_leads; k++) {
            uint8_t *o = dst + (size_t)t * per_thr + (size_t)k * plane;
            if (ti < 0)
                memset(o, IMPA_PROB_VERIFY_MISSING, plane);
            else
                impa_prob_verify_encode(pf->p + ((size_t)ti * pf->n_leads + k) * plane,
                                        fc->dbz + (size_t)k * plane, plane, p->thr[t], o);
        }
    }
    p->time[slot] = fc->issue_time;
    p->used[slot] = 1;
    if (slot == p->next)
        p->next = (slot + 1) % v->n_leads;
}

void impa_vprob_observe(impa_verifier_t *v, int64_t obs_time, const float *obs)
{
    struct impa_vprob *p = v->prob;
    if (!p)
        return;
    size_t plane = v->npix, per_thr = (size_t)v->n_leads * plane;
    memset(p->now, 0, sizeof *p->now * (size_t)p->n_thr * (size_t)v->n_leads);
    const int64_t step_s = (int64_t)v->step_min * 60;
    for (int t = 0; t < p->n_thr; t++) {
        for (size_t i = 0; i < plane; i++)
            if (obs[i] == obs[i]) { /* not NAN */
                p->obs_n[t]++;
                p->obs_events[t] += obs[i] >= p->thr[t];
            }
        double c = p->obs_n[t] ? (double)p->obs_events[t] / (double)p->obs_n[t] : 0.0;
        for (int s = 0; s < v->n_leads; s++) {
            int64_t dt = obs_time - p->time[s];
            if (!p->used[s] || dt <= 0 || dt % step_s)
                continue;
            int lead = (int)(dt / step_s) - 1;
            if (lead >= v->n_leads)
                continue;
            const uint8_t *fc =
                p->ring + ((size_t)s * (size_t)p->n_thr + (size_t)t) * per_thr + (size_t)lead * plane;
            impa_prob_verify_t *now = &p->now[t * v->n_leads + lead];
            impa_prob_verify_add(now, fc, obs, plane, p->thr[t], c);
            impa_prob_verify_merge(&p->total[t * v->n_leads + lead], now);
        }
    }
}

int impa_verifier_prob_scores(const impa_verifier_t *v, int ti, int lead, int now,
                              impa_prob_scores_t *scores, double *base_rate)
{
    if (!v || !v->prob || ti < 0 || ti >= v->prob->n_thr || lead < 0 || lead >= v->n_leads ||
        !scores)
        return IMPA_EINVAL;
    const struct impa_vprob *p = v->prob;
    *scores = impa_prob_verify_scores(now ? &p->now[ti * v->n_leads + lead]
                                          : &p->total[ti * v->n_leads + lead]);
    if (base_rate)
        *base_rate = p->obs_n[ti] ? (double)p->obs_events[ti] / (double)p->obs_n[ti] : NAN;
    return 0;
}

int impa_verifier_prob_thresholds(const impa_verifier_t *v, const float **thr)
{
    if (!v || !v->prob)
        return 0;
    if (thr)
        *thr = v->prob->thr;
    return v->prob->n_thr;
}
