/* Object-based verification of alerts (alertverify.h). */
#include "impa/alertverify.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "impa/error.h"

typedef struct {
    int lead;
    uint32_t regions;
    int n_pixels;
    size_t pix_off; /* into the cycle's pix */
} kept_cell_t;

typedef struct {
    int used, n_leads;
    int64_t issue;
    kept_cell_t *cells;
    int n_cells, cap_cells;
    int32_t *pix;
    size_t n_pix, cap_pix;
} kept_cycle_t;

struct impa_alert_verifier {
    int n_leads, step_minutes;
    impa_alert_config_t cfg;
    impa_alert_tracker_t *obs_tracker; /* labels the observations */
    kept_cycle_t *ring;                /* [n_leads] */
    int next;
    /* observation scratch, sized at the first observation / grown */
    int ny, nx;
    int32_t *olab;      /* [ny*nx] observed cell index + 1, 0 = none */
    int64_t *earliest;  /* [cap_obs] earliest issue covering observed cell i */
    int *stamp;         /* [cap_obs] last (cycle slot + 1) that detected cell i */
    int cap_obs;
    impa_alert_table_t total;
};

impa_scores_t impa_alert_counts_scores(const impa_alert_counts_t *c)
{
    impa_scores_t s;
    double fa = (double)(c->alerts - c->hits);
    s.pod = c->observed > 0 ? (double)c->detected / (double)c->observed : NAN;
    s.far = c->alerts > 0 ? fa / (double)c->alerts : NAN;
    double den = (double)c->observed + fa;
    s.csi = den > 0 ? (double)c->detected / den : NAN;
    s.hss = NAN;
    return s;
}

static void table_init(impa_alert_table_t *t, int n_leads, int step, const impa_alert_config_t *cfg)
{
    memset(t, 0, sizeof *t);
    t->n_leads = n_leads;
    t->step_minutes = step;
    t->n_regions = cfg->n_regions;
    for (int r = 0; r < cfg->n_regions; r++)
        snprintf(t->region_name[r], sizeof t->region_name[r], "%s", cfg->regions[r].name);
}

int impa_alert_verifier_create(int n_leads, int step_minutes, const impa_alert_config_t *cfg,
                               impa_alert_verifier_t **out, char *err, size_t errlen)
{
    if (!cfg || !out || n_leads < 1 || n_leads > IMPA_VERIFY_MAX_LEADS || step_minutes < 1)
        return impa_err(err, errlen, IMPA_EINVAL,
                        "alert verifier: bad argument (%d leads, step %d min)", n_leads,
                        step_minutes);
    *out = NULL;
    impa_alert_verifier_t *v = calloc(1, sizeof *v);
    if (!v)
        return impa_err(err, errlen, IMPA_ENOMEM, "alert verifier: out of memory");
    v->n_leads = n_leads;
    v->step_minutes = step_minutes;
    v->cfg = *cfg;
    impa_alert_config_t ocfg = *cfg; /* every observed cell counts, at once */
    impa_alert_config_immediate(&ocfg);
    int rc = impa_alert_tracker_create(&ocfg, &v->obs_tracker, err, errlen);
    v->ring = calloc((size_t)n_leads, sizeof *v->ring);
    if (rc || !v->ring) {
        impa_alert_verifier_destroy(&v);
        return rc ? rc : impa_err(err, errlen, IMPA_ENOMEM, "alert verifier: out of memory");
    }
    table_init(&v->total, n_leads, step_minutes, cfg);
    *out = v;
    return 0;
}

void impa_alert_verifier_destroy(impa_alert_verifier_t **vp)
{
    if (!vp || !*vp)
        return;
    impa_alert_verifier_t *v = *vp;
    impa_alert_tracker_destroy(&v->obs_tracker);
    if (v->ring)
        for (int i = 0; i < v->n_leads; i++) {
            free(v->ring[i].cells);
            free(v->ring[i].pix);
        }
    free(v->ring);
    free(v->olab);
    free(v->earliest);
    free(v->stamp);
    free(v);
    *vp = NULL;
}

int impa_alert_verifier_add_cycle(impa_alert_verifier_t *v, int64_t issue_time, int n_leads,
                                  const impa_alerts_t *a, char *err, size_t errlen)
{
    if (!v || !a)
        return impa_err(err, errlen, IMPA_EINVAL, "alert verifier: NULL argument");
    kept_cycle_t *c = &v->ring[v->next];
    c->used = 0;
    c->n_cells = 0;
    c->n_pix = 0;
    size_t need_pix = 0;
    int need_cells = 0;
    for (int i = 0; i < a->n_cells; i++)
        if (a->cells[i].pix_off >= 0) {
            need_pix += (size_t)a->cells[i].n_pixels;
            need_cells++;
        }
    if (need_cells > c->cap_cells) {
        int cap = c->cap_cells ? c->cap_cells : 16;
        while (cap < need_cells)
            cap *= 2;
        kept_cell_t *nc = realloc(c->cells, (size_t)cap * sizeof *nc);
        if (!nc)
            return impa_err(err, errlen, IMPA_ENOMEM, "alert verifier: out of memory");
        c->cells = nc, c->cap_cells = cap;
    }
    if (need_pix > c->cap_pix) {
        size_t cap = c->cap_pix ? c->cap_pix : 4096;
        while (cap < need_pix)
            cap *= 2;
        int32_t *np = realloc(c->pix, cap * sizeof *np);
        if (!np)
            return impa_err(err, errlen, IMPA_ENOMEM, "alert verifier: out of memory");
        c->pix = np, c->cap_pix = cap;
    }
    for (int i = 0; i < a->n_cells; i++) {
        const impa_alert_cell_t *src = &a->cells[i];
        if (src->pix_off < 0)
            continue;
        kept_cell_t *k = &c->cells[c->n_cells++];
        k->lead = src->lead;
        k->regions = src->regions;
        k->n_pixels = src->n_pixels;
        k->pix_off = c->n_pix;
        memcpy(c->pix + c->n_pix, a->pixels + src->pix_off, (size_t)src->n_pixels * sizeof *c->pix);
        c->n_pix += (size_t)src->n_pixels;
    }
    c->issue = issue_time;
    c->n_leads = n_leads;
    c->used = 1;
    v->next = (v->next + 1) % v->n_leads;
    return 0;
}

static int reserve_obs(impa_alert_verifier_t *v, int n)
{
    if (n <= v->cap_obs)
        return 0;
    int cap = v->cap_obs ? v->cap_obs : 64;
    while (cap < n)
        cap *= 2;
    int64_t *ne = realloc(v->earliest, (size_t)cap * sizeof *ne);
    if (!ne)
        return -1;
    v->earliest = ne;
    int *ns = realloc(v->stamp, (size_t)cap * sizeof *ns);
    if (!ns)
        return -1;
    v->stamp = ns;
    v->cap_obs = cap;
    return 0;
}

static void add_counts(impa_alert_counts_t *d, const impa_alert_counts_t *s)
{
    d->alerts += s->alerts;
    d->hits += s->hits;
    d->observed += s->observed;
    d->detected += s->detected;
}

static void table_add(impa_alert_table_t *d, const impa_alert_table_t *s)
{
    for (int k = 0; k < d->n_leads && k < s->n_leads; k++)
        add_counts(&d->lead[k], &s->lead[k]);
    for (int r = 0; r < d->n_regions && r < s->n_regions; r++)
        add_counts(&d->region[r], &s->region[r]);
    d->n_observations += s->n_observations;
    d->obs_cells += s->obs_cells;
    d->warned += s->warned;
    d->lead_time_sum_s += s->lead_time_sum_s;
    if (s->lead_time_max_s > d->lead_time_max_s)
        d->lead_time_max_s = s->lead_time_max_s;
    for (int k = 0; k < d->n_leads && k < s->n_leads; k++)
        d->warned_at[k] += s->warned_at[k];
}

/* Scores the alerts of kept cycle slot si at lead k against the labelled
 * observation (cells ob[0..no)) into t. */
static void score_cycle(impa_alert_verifier_t *v, int si, int k, const impa_alert_cell_t *ob,
                        int no, impa_alert_table_t *t)
{
    const kept_cycle_t *c = &v->ring[si];
    impa_alert_counts_t *L = &t->lead[k];
    L->observed += no;
    for (int i = 0; i < no; i++)
        for (int r = 0; r < t->n_regions; r++)
            t->region[r].observed += (ob[i].regions >> r) & 1u;
    for (int ci = 0; ci < c->n_cells; ci++) {
        const kept_cell_t *a = &c->cells[ci];
        if (a->lead != k)
            continue;
        int hit = 0;
        for (int p = 0; p < a->n_pixels; p++) {
            int32_t o = v->olab[c->pix[a->pix_off + (size_t)p]];
            if (o <= 0)
                continue;
            hit = 1;
            if (v->stamp[o - 1] != si + 1) {
                v->stamp[o - 1] = si + 1;
                L->detected++;
                for (int r = 0; r < t->n_regions; r++)
                    t->region[r].detected += (ob[o - 1].regions >> r) & 1u;
            }
            if (c->issue < v->earliest[o - 1])
                v->earliest[o - 1] = c->issue;
        }
        L->alerts++;
        L->hits += hit;
        for (int r = 0; r < t->n_regions; r++)
            if ((a->regions >> r) & 1u) {
                t->region[r].alerts++;
                t->region[r].hits += hit;
            }
    }
}

int impa_alert_verifier_observe(impa_alert_verifier_t *v, const impa_grid_t *g, int64_t obs_time,
                                const float *obs, impa_alert_table_t *now, char *err,
                                size_t errlen)
{
    if (!v || !g || !obs || g->nx <= 0 || g->ny <= 0)
        return impa_err(err, errlen, IMPA_EINVAL, "alert verifier: bad observation argument");
    if (!v->olab) {
        v->olab = calloc((size_t)g->nx * (size_t)g->ny, sizeof *v->olab);
        if (!v->olab)
            return impa_err(err, errlen, IMPA_ENOMEM, "alert verifier: out of memory");
        v->ny = g->ny, v->nx = g->nx;
    } else if (g->ny != v->ny || g->nx != v->nx) {
        return impa_err(err, errlen, IMPA_ESHAPE,
                        "alert verifier: observation grid %dx%d, earlier ones %dx%d", g->ny,
                        g->nx, v->ny, v->nx);
    }
    /* the observation as a one-lead "forecast" valid at obs_time */
    int64_t step_s = (int64_t)v->step_minutes * 60;
    impa_forecast_t f;
    memset(&f, 0, sizeof f);
    f.grid = g, f.dbz = obs, f.n_leads = 1, f.step_minutes = v->step_minutes;
    f.issue_time = obs_time - step_s;
    f.domain = "observed";
    int rc = impa_alert_tracker_update(v->obs_tracker, &f, err, errlen);
    if (rc)
        return rc;
    const impa_alerts_t *oa = impa_alert_tracker_alerts(v->obs_tracker);
    int no = oa->n_cells;
    if (reserve_obs(v, no))
        return impa_err(err, errlen, IMPA_ENOMEM, "alert verifier: out of memory");
    for (int i = 0; i < no; i++) {
        const impa_alert_cell_t *c = &oa->cells[i];
        for (int p = 0; p < c->n_pixels; p++)
            v->olab[oa->pixels[c->pix_off + p]] = i + 1;
        v->earliest[i] = INT64_MAX;
        v->stamp[i] = 0;
    }
    impa_alert_table_t t;
    table_init(&t, v->n_leads, v->step_minutes, &v->cfg);
    for (int si = 0; si < v->n_leads; si++) {
        const kept_cycle_t *c = &v->ring[si];
        int64_t d = obs_time - c->issue;
        if (!c->used || d <= 0 || d % step_s != 0)
            continue;
        int k = (int)(d / step_s) - 1;
        if (k >= c->n_leads || k >= v->n_leads)
            continue;
        score_cycle(v, si, k, oa->cells, no, &t);
    }
    t.n_observations = 1;
    t.obs_cells = no;
    for (int i = 0; i < no; i++) {
        if (v->earliest[i] == INT64_MAX)
            continue;
        int64_t lt = obs_time - v->earliest[i];
        t.warned++;
        t.lead_time_sum_s += lt;
        if (lt > t.lead_time_max_s)
            t.lead_time_max_s = lt;
        int k = (int)(lt / step_s) - 1;
        if (k >= 0 && k < t.n_leads)
            t.warned_at[k]++;
    }
    for (int i = 0; i < no; i++) { /* clear the labels for the next observation */
        const impa_alert_cell_t *c = &oa->cells[i];
        for (int p = 0; p < c->n_pixels; p++)
            v->olab[oa->pixels[c->pix_off + p]] = 0;
    }
    table_add(&v->total, &t);
    if (now)
        *now = t;
    return 0;
}

const impa_alert_table_t *impa_alert_verifier_table(const impa_alert_verifier_t *v)
{
    return v ? &v->total : NULL;
}

impa_alert_counts_t impa_alert_table_pooled(const impa_alert_table_t *t)
{
    impa_alert_counts_t c = {0, 0, 0, 0};
    for (int k = 0; k < t->n_leads; k++)
        add_counts(&c, &t->lead[k]);
    return c;
}

static void print_num(FILE *out, double x)
{
    if (isnan(x))
        fprintf(out, " %6s", "-");
    else
        fprintf(out, " %6.3f", x);
}

static void print_row(FILE *out, const char *label, const impa_alert_counts_t *c)
{
    impa_scores_t s = impa_alert_counts_scores(c);
    fprintf(out, "%-12s %7lld %7lld %7lld %8lld %8lld %7lld", label, (long long)c->alerts,
            (long long)c->hits, (long long)(c->alerts - c->hits), (long long)c->observed,
            (long long)c->detected, (long long)(c->observed - c->detected));
    print_num(out, s.pod);
    print_num(out, s.far);
    print_num(out, s.csi);
    fputc('\n', out);
}

void impa_alert_table_print(const impa_alert_table_t *t, const char *title, FILE *out)
{
    if (!t || !out)
        return;
    fprintf(out, "# %s\n", title ? title : "alerts against observed cells");
    fprintf(out, "%-12s %7s %7s %7s %8s %8s %7s %6s %6s %6s\n", "lead", "alerts", "hits",
            "false", "observed", "detected", "missed", "POD", "FAR", "CSI");
    char label[80];
    for (int k = 0; k < t->n_leads; k++) {
        snprintf(label, sizeof label, "%d min", (k + 1) * t->step_minutes);
        print_row(out, label, &t->lead[k]);
    }
    impa_alert_counts_t all = impa_alert_table_pooled(t);
    print_row(out, "all leads", &all);
    for (int r = 0; r < t->n_regions; r++) {
        snprintf(label, sizeof label, "region %s", t->region_name[r]);
        print_row(out, label, &t->region[r]);
    }
    fprintf(out, "warning lead time: %lld of %lld observed cells (%lld observations) covered "
                 "by an earlier alert",
            (long long)t->warned, (long long)t->obs_cells, (long long)t->n_observations);
    if (t->warned > 0) {
        fprintf(out, ", mean %.1f min, max %lld min; by lead time:",
                (double)t->lead_time_sum_s / 60.0 / (double)t->warned,
                (long long)(t->lead_time_max_s / 60));
        for (int k = 0; k < t->n_leads; k++)
            if (t->warned_at[k])
                fprintf(out, " %d min %lld", (k + 1) * t->step_minutes,
                        (long long)t->warned_at[k]);
    }
    fputc('\n', out);
}
