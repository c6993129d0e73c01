/* Contingency tables and categorical scores. Events are `value >= threshold`;
 * a pixel missing (NAN) in either field is excluded, so radar gaps never count
 * as misses or correct negatives. */
#include "impa/verify.h"

#include <math.h>
#include <string.h>

void impa_contingency_add(impa_contingency_t *c, const float *fc, const float *obs, size_t n,
                          float threshold)
{
    int64_t h = 0, m = 0, f = 0, cn = 0;
    for (size_t i = 0; i < n; i++) {
        float a = fc[i], b = obs[i];
        if (isnan(a) || isnan(b))
            continue;
        int ef = a >= threshold, eo = b >= threshold;
        h += ef & eo;
        m += (!ef) & eo;
        f += ef & (!eo);
        cn += (!ef) & (!eo);
    }
    c->hits += h;
    c->misses += m;
    c->false_alarms += f;
    c->correct_negatives += cn;
}

impa_scores_t impa_contingency_scores(const impa_contingency_t *c)
{
    /* a hits, b false alarms, c misses, d correct negatives (Wilks notation) */
    double a = (double)c->hits, b = (double)c->false_alarms, cc = (double)c->misses,
           d = (double)c->correct_negatives;
    impa_scores_t s;
    s.csi = (a + b + cc) > 0 ? a / (a + b + cc) : NAN;
    s.pod = (a + cc) > 0 ? a / (a + cc) : NAN;
    s.far = (a + b) > 0 ? b / (a + b) : NAN;
    double den = (a + cc) * (cc + d) + (a + b) * (b + d);
    s.hss = den > 0 ? 2.0 * (a * d - b * cc) / den : NAN;
    return s;
}

int impa_verify_table_init(impa_verify_table_t *t, int n_leads, int step_minutes,
                           const float *thresholds, int n_thresh)
{
    if (!t || n_leads < 1 || n_leads > IMPA_VERIFY_MAX_LEADS || n_thresh < 1 ||
        n_thresh > IMPA_VERIFY_MAX_THRESH || !thresholds || step_minutes < 1)
        return IMPA_EINVAL;
    memset(t, 0, sizeof(*t));
    t->n_leads = n_leads;
    t->n_thresh = n_thresh;
    t->step_minutes = step_minutes;
    for (int i = 0; i < n_thresh; i++)
        t->thresholds[i] = thresholds[i];
    return IMPA_OK;
}

void impa_verify_table_add(impa_verify_table_t *t, int lead, const float *fc, const float *obs,
                           size_t n)
{
    if (!t || lead < 0 || lead >= t->n_leads)
        return;
    for (int i = 0; i < t->n_thresh; i++)
        impa_contingency_add(&t->table[lead][i], fc, obs, n, t->thresholds[i]);
    t->n_pairs[lead]++;
}

static double score_pick(impa_scores_t s, int which)
{
    switch (which) {
    case 0: return s.csi;
    case 1: return s.pod;
    case 2: return s.far;
    default: return s.hss;
    }
}

double impa_verify_table_mean(const impa_verify_table_t *t, int ti, int which)
{
    double sum = 0;
    int n = 0;
    for (int l = 0; l < t->n_leads; l++) {
        double x = score_pick(impa_contingency_scores(&t->table[l][ti]), which);
        if (!isnan(x)) {
            sum += x;
            n++;
        }
    }
    return n ? sum / n : NAN;
}

impa_scores_t impa_verify_table_pooled(const impa_verify_table_t *t, int ti)
{
    impa_contingency_t c = {0, 0, 0, 0};
    for (int l = 0; l < t->n_leads; l++) {
        c.hits += t->table[l][ti].hits;
        c.misses += t->table[l][ti].misses;
        c.false_alarms += t->table[l][ti].false_alarms;
        c.correct_negatives += t->table[l][ti].correct_negatives;
    }
    return impa_contingency_scores(&c);
}

static void print_num(FILE *out, double x)
{
    if (isnan(x))
        fprintf(out, " %6s", "-");
    else
        fprintf(out, " %6.3f", x);
}

void impa_verify_table_print(const impa_verify_table_t *t, const char *title, FILE *out)
{
    if (!t || !out)
        return;
    fprintf(out, "# %s\n", title ? title : "verification");
    fprintf(out, "%5s %6s", "lead", "pairs");
    for (int i = 0; i < t->n_thresh; i++)
        fprintf(out, " | %5.1f dBZ: %4s %6s %6s %6s", t->thresholds[i], "CSI", "POD", "FAR",
                "HSS");
    fputc('\n', out);
    for (int l = 0; l < t->n_leads; l++) {
        fprintf(out, "%5d %6lld", (l + 1) * t->step_minutes, (long long)t->n_pairs[l]);
        for (int i = 0; i < t->n_thresh; i++) {
            impa_scores_t s = impa_contingency_scores(&t->table[l][i]);
            fprintf(out, " | %9s", "");
            print_num(out, s.csi);
            print_num(out, s.pod);
            print_num(out, s.far);
            print_num(out, s.hss);
        }
        fputc('\n', out);
    }
    fprintf(out, "%5s %6s", "mean", "");
    for (int i = 0; i < t->n_thresh; i++) {
        fprintf(out, " | %9s", "");
        for (int w = 0; w < 4; w++)
            print_num(out, impa_verify_table_mean(t, i, w));
    }
    fputc('\n', out);
}
