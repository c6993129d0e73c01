/* The online verifier's probability scores (impa/verify.h,
 * impa_verifier_enable_prob): a ring of the last n_leads cycles' probabilities,
 * encoded one byte per pixel with the deterministic forecast's exceedance
 * (impa_prob_verify_encode), scored against each observation valid at their
 * leads (prob_verify.c). Everything is allocated at enable; observe allocates
 * nothing. With a state directory the since-start scores and the running base
 * rate are kept in <state_dir>/prob-verify.state after every observation and
 * read back at enable, so a restart loses only the forecasts in flight (as the
 * CSV log does for the deterministic scores). */
#include "verifier-impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "impa/error.h"
#include "impa/statefile.h"

#define PROB_STATE "prob-verify.state"
#define PROB_STATE_VERSION 1u

struct impa_vprob {
    int n_thr;
    float thr[IMPA_PROB_MAX_THRESHOLDS];
    uint8_t *ring;                         /* [n_leads slots][n_thr][n_leads][npix] */
    int64_t time[IMPA_VERIFY_MAX_LEADS];
    int used[IMPA_VERIFY_MAX_LEADS], next;
    int64_t obs_n[IMPA_PROB_MAX_THRESHOLDS], obs_events[IMPA_PROB_MAX_THRESHOLDS];
    impa_prob_verify_t *total, *now;       /* [n_thr][n_leads] */
    int restored;                          /* the scores came from the state file */
    unsigned char *state_buf;              /* [prob_state_len] (state directory only) */
};

/* The state file: this head, obs_n[n_thr], obs_events[n_thr], total[n_thr][n_leads]. */
typedef struct {
    uint32_t version, acc_size;
    int32_t n_thr, n_leads, ny, nx, step_min, reserved;
    float thr[IMPA_PROB_MAX_THRESHOLDS];
} prob_state_head_t;

static size_t prob_state_len(const impa_verifier_t *v)
{
    size_t n = (size_t)v->prob->n_thr;
    return sizeof(prob_state_head_t) + 2 * n * sizeof(int64_t) +
           n * (size_t)v->n_leads * sizeof(impa_prob_verify_t);
}

static void prob_state_path(const impa_verifier_t *v, char *path, size_t len)
{
    snprintf(path, len, "%.4000s/" PROB_STATE, v->state_dir);
}

/* Reads the scores back when the file is of this verifier's thresholds, leads,
 * grid and step (else they start again: another configuration's scores). */
static void prob_state_load(impa_verifier_t *v)
{
    struct impa_vprob *p = v->prob;
    char path[4200];
    prob_state_path(v, path, sizeof path);
    unsigned char *buf = NULL;
    size_t len = 0;
    if (impa_state_file_read(path, &buf, &len, NULL, 0))
        return;
    prob_state_head_t h;
    size_t n = (size_t)p->n_thr, acc = n * (size_t)v->n_leads;
    int ok = len == prob_state_len(v);
    if (ok) {
        memcpy(&h, buf, sizeof h);
        ok = h.version == PROB_STATE_VERSION && h.acc_size == sizeof(impa_prob_verify_t) &&
             h.n_thr == p->n_thr && h.n_leads == v->n_leads && h.ny == v->ny && h.nx == v->nx &&
             h.step_min == v->step_min && !memcmp(h.thr, p->thr, n * sizeof(float));
    }
    if (ok) {
        const unsigned char *q = buf + sizeof h;
        memcpy(p->obs_n, q, n * sizeof(int64_t));
        memcpy(p->obs_events, q + n * sizeof(int64_t), n * sizeof(int64_t));
        memcpy(p->total, q + 2 * n * sizeof(int64_t), acc * sizeof *p->total);
        p->restored = 1;
    }
    free(buf);
}

/* Writes the scores; a failure costs their continuity across a restart only. */
static void prob_state_save(const impa_verifier_t *v)
{
    const struct impa_vprob *p = v->prob;
    size_t n = (size_t)p->n_thr, acc = n * (size_t)v->n_leads, len = prob_state_len(v);
    unsigned char *buf = p->state_buf;
    if (!buf)
        return;
    prob_state_head_t h = {PROB_STATE_VERSION, sizeof(impa_prob_verify_t), p->n_thr,
                           v->n_leads, v->ny, v->nx, v->step_min, 0, {0}};
    memcpy(h.thr, p->thr, n * sizeof(float));
    memcpy(buf, &h, sizeof h);
    unsigned char *q = buf + sizeof h;
    memcpy(q, p->obs_n, n * sizeof(int64_t));
    memcpy(q + n * sizeof(int64_t), p->obs_events, n * sizeof(int64_t));
    memcpy(q + 2 * n * sizeof(int64_t), p->total, acc * sizeof *p->total);
    char path[4200];
    prob_state_path(v, path, sizeof path);
    impa_state_file_write(path, buf, len, NULL, 0);
}

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
    if (v->state_dir[0]) {
        p->state_buf = calloc(1, prob_state_len(v));
        if (!p->state_buf) {
            impa_vprob_destroy(v);
            return impa_err(err, errlen, IMPA_ENOMEM, "verifier: out of memory");
        }
        prob_state_load(v);
    }
    return 0;
}

void impa_vprob_destroy(impa_verifier_t *v)
{
    if (!v->prob)
        return;
    free(v->prob->ring);
    free(v->prob->total);
    free(v->prob->now);
    free(v->prob->state_buf);
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
    if (v->state_dir[0])
        prob_state_save(v);
}

int impa_verifier_prob_restored(const impa_verifier_t *v)
{
    return v && v->prob ? v->prob->restored : 0;
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
