/* Brier score, skill scores, reliability table and ROC area of the exceedance
 * probabilities (impa/prob.h, "verification of the probabilities"): the same
 * code for the online verifier (verifier_prob.c) and the offline tools. */
#include "impa/prob.h"

#include <math.h>
#include <string.h>

void impa_prob_verify_encode(const float *p, const float *dbz, size_t n, float thr, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        float v = p[i], d = dbz[i];
        if (isnan(v) || isnan(d)) {
            out[i] = IMPA_PROB_VERIFY_MISSING;
            continue;
        }
        double q = floor((double)v * 100.0 + 0.5);
        uint8_t pc = (uint8_t)(q < 0 ? 0 : q > 100 ? 100 : q);
        out[i] = (uint8_t)(pc | (d >= thr ? IMPA_PROB_VERIFY_DET : 0u));
    }
}

void impa_prob_verify_add(impa_prob_verify_t *a, const uint8_t *fc, const float *obs, size_t n,
                          float thr, double c)
{
    /* per percent and outcome, so the sums of squares need no per-pixel double */
    int64_t cnt[IMPA_PROB_LEVELS][2][2] = {{{0}}}; /* [percent][det][obs] */
    for (size_t i = 0; i < n; i++) {
        uint8_t q = fc[i];
        float o = obs[i];
        if (q == IMPA_PROB_VERIFY_MISSING || isnan(o))
            continue;
        int pc = q & 0x7f;
        if (pc > 100)
            continue;
        cnt[pc][(q & IMPA_PROB_VERIFY_DET) != 0][o >= thr]++;
    }
    for (int pc = 0; pc < IMPA_PROB_LEVELS; pc++) {
        double p = pc / 100.0;
        for (int d = 0; d < 2; d++)
            for (int o = 0; o < 2; o++) {
                int64_t k = cnt[pc][d][o];
                if (!k)
                    continue;
                a->n += k;
                a->n_events += o ? k : 0;
                a->bs += (double)k * (p - o) * (p - o);
                a->bs_clim += (double)k * (c - o) * (c - o);
                a->bs_det += (double)k * (double)(d != o);
                a->pairs[pc] += k;
                a->events[pc] += o ? k : 0;
            }
    }
}

void impa_prob_verify_merge(impa_prob_verify_t *a, const impa_prob_verify_t *b)
{
    a->n += b->n;
    a->n_events += b->n_events;
    a->bs += b->bs;
    a->bs_clim += b->bs_clim;
    a->bs_det += b->bs_det;
    for (int j = 0; j < IMPA_PROB_LEVELS; j++) {
        a->pairs[j] += b->pairs[j];
        a->events[j] += b->events[j];
    }
}

impa_prob_scores_t impa_prob_verify_scores(const impa_prob_verify_t *a)
{
    impa_prob_scores_t s;
    memset(&s, 0, sizeof s);
    s.n = a->n, s.n_events = a->n_events;
    double n = (double)a->n;
    s.bs = a->n ? a->bs / n : NAN;
    s.bs_clim = a->n ? a->bs_clim / n : NAN;
    s.bs_det = a->n ? a->bs_det / n : NAN;
    s.bss_clim = a->n && a->bs_clim > 0 ? 1.0 - a->bs / a->bs_clim : NAN;
    s.bss_det = a->n && a->bs_det > 0 ? 1.0 - a->bs / a->bs_det : NAN;
    s.base_rate = a->n ? (double)a->n_events / n : NAN;
    double psum[IMPA_PROB_REL_BINS] = {0};
    int64_t ev[IMPA_PROB_REL_BINS] = {0};
    for (int j = 0; j < IMPA_PROB_LEVELS; j++) {
        int b = j / 10 < IMPA_PROB_REL_BINS ? j / 10 : IMPA_PROB_REL_BINS - 1;
        s.rel_n[b] += a->pairs[j];
        ev[b] += a->events[j];
        psum[b] += (double)a->pairs[j] * (j / 100.0);
    }
    for (int b = 0; b < IMPA_PROB_REL_BINS; b++) {
        s.rel_mean[b] = s.rel_n[b] ? psum[b] / (double)s.rel_n[b] : NAN;
        s.rel_freq[b] = s.rel_n[b] ? (double)ev[b] / (double)s.rel_n[b] : NAN;
    }
    /* ROC: "yes" when P >= j %, j = 0 (H = F = 1) .. 101 (H = F = 0) */
    int64_t n_ev = a->n_events, n_no = a->n - a->n_events;
    if (n_ev > 0 && n_no > 0) {
        double area = 0, h_prev = 1, f_prev = 1;
        int64_t ev_above = n_ev, no_above = n_no; /* pairs with P >= j % */
        for (int j = 1; j <= IMPA_PROB_LEVELS; j++) {
            ev_above -= a->events[j - 1];
            no_above -= a->pairs[j - 1] - a->events[j - 1];
            double h = (double)ev_above / (double)n_ev, f = (double)no_above / (double)n_no;
            area += (f_prev - f) * (h + h_prev) / 2;
            h_prev = h, f_prev = f;
        }
        s.roc_area = area;
    } else {
        s.roc_area = NAN;
    }
    return s;
}
