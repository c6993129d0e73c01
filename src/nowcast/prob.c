/* Neighbourhood exceedance probabilities (impa/prob.h). A summed-area table
 * makes each window sum four reads whatever the radius, so a field costs two
 * passes over the grid: about 2 ms at 512 x 512. */
#include "impa/prob.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "impa/extrapolate.h"

#define MAX_LEADS 64

struct impa_prob {
    int n_thr, n_leads, ny, nx, n_knots;
    double trend_ratio;
    /* [thr][trend + 1][lead]: the rows used and their half-widths in pixels */
    impa_prob_row_t rows[IMPA_PROB_MAX_THRESHOLDS][3][MAX_LEADS];
    int rpix[IMPA_PROB_MAX_THRESHOLDS][3][MAX_LEADS];
    float radius[IMPA_PROB_MAX_THRESHOLDS * MAX_LEADS];        /* [thr][lead] km, as published */
    /* growth terms: [thr][lead] coefficients (NULL = none there), the grid */
    double a0_km2, rate_max, pixel_km;
    int step_minutes, shrink_scene;
    const impa_prob_logistic_t *logi[IMPA_PROB_MAX_THRESHOLDS][MAX_LEADS];
    /* [thr][lead] the exceedance the window counts: threshold + margin, dBZ */
    float count_thr[IMPA_PROB_MAX_THRESHOLDS][MAX_LEADS];
    impa_prob_logistic_t logistic[IMPA_PROB_MAX_ROWS];
    impa_prob_row_t adj; /* the row of the current field with its knots adjusted */
    int32_t *sat;   /* [(ny+1)*(nx+1)] summed-area table of the exceedance indicator */
    float *p;       /* [n_thr][n_leads][ny][nx] */
    impa_prob_field_t field;
    char name[128];
};

float impa_prob_calibrated(const impa_prob_row_t *row, int n_knots, float f)
{
    if (!(f > 0.0f))
        return row->p[0];
    if (f >= 1.0f)
        return row->p[n_knots - 1];
    float x = f * (float)(n_knots - 1);
    int j = (int)x;
    if (j > n_knots - 2)
        j = n_knots - 2;
    float w = x - (float)j;
    return row->p[j] + w * (row->p[j + 1] - row->p[j]);
}

/* ---- the table file -------------------------------------------------------- */

static char *skip_ws(char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    return s;
}

static int parse_row(char *s, impa_prob_table_t *t, const char *path, int line, char *err,
                     size_t errlen)
{
    if (t->n_knots < 2)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s:%d: a row before the `knots` line", path,
                        line);
    if (t->n_rows >= IMPA_PROB_MAX_ROWS)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s:%d: more than %d rows", path, line,
                        IMPA_PROB_MAX_ROWS);
    impa_prob_row_t *r = &t->rows[t->n_rows];
    double v[4 + IMPA_PROB_MAX_KNOTS];
    int n = 0;
    char *end;
    for (;;) {
        s = skip_ws(s);
        if (!*s)
            break;
        if (n >= 4 + t->n_knots)
            return impa_err(err, errlen, IMPA_EFORMAT, "%s:%d: more than %d values", path,
                            line, 4 + t->n_knots);
        errno = 0;
        v[n] = strtod(s, &end);
        if (end == s || errno || !isfinite(v[n]))
            return impa_err(err, errlen, IMPA_EFORMAT, "%s:%d: value %d is not a number", path,
                            line, n + 1);
        n++;
        s = end;
    }
    if (n != 4 + t->n_knots)
        return impa_err(err, errlen, IMPA_EFORMAT,
                        "%s:%d: %d values, expected threshold, lead, trend, radius and %d knots",
                        path, line, n, t->n_knots);
    if (v[1] < 1 || v[1] > 1440 || v[1] != floor(v[1]))
        return impa_err(err, errlen, IMPA_EFORMAT, "%s:%d: lead %g min is not 1..1440", path,
                        line, v[1]);
    if (v[2] != -1 && v[2] != 0 && v[2] != 1)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s:%d: trend %g is not -1, 0 or 1", path,
                        line, v[2]);
    if (v[3] < 0 || v[3] > 500)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s:%d: radius %g km is not 0..500", path,
                        line, v[3]);
    if (v[0] < -50 || v[0] > 100)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s:%d: threshold %g dBZ is not -50..100",
                        path, line, v[0]);
    r->threshold_dbz = (float)v[0];
    r->lead_min = (int)v[1];
    r->trend = (int)v[2];
    r->radius_km = (float)v[3];
    for (int j = 0; j < t->n_knots; j++) {
        double p = v[4 + j];
        if (p < 0 || p > 1 || (j > 0 && p < v[3 + j]))
            return impa_err(err, errlen, IMPA_EFORMAT,
                            "%s:%d: knot %d (%g) is outside 0..1 or below the one before", path,
                            line, j, p);
        r->p[j] = (float)p;
    }
    for (int i = 0; i < t->n_rows; i++)
        if (t->rows[i].threshold_dbz == r->threshold_dbz && t->rows[i].lead_min == r->lead_min &&
            t->rows[i].trend == r->trend)
            return impa_err(err, errlen, IMPA_EFORMAT,
                            "%s:%d: second row for %g dBZ at %d min, trend %d", path, line, v[0],
                            r->lead_min, r->trend);
    t->n_rows++;
    return 0;
}

/* `growth A0 RATE_MAX` (after `growth `) */
static int parse_growth(char *s, impa_prob_table_t *t, const char *path, int line, char *err,
                        size_t errlen)
{
    char *end;
    double a0 = strtod(s, &end);
    char *e2;
    double rm = strtod(end, &e2);
    if (end == s || e2 == end || *skip_ws(e2) || !(a0 > 0 && a0 <= 1e6) ||
        !(rm > 0 && rm <= 100) || t->growth_a0_km2 > 0)
        return impa_err(err, errlen, IMPA_EFORMAT,
                        "%s:%d: growth needs A0 km^2 in (0, 1e6] and a rate clip per hour in "
                        "(0, 100], once",
                        path, line);
    t->growth_a0_km2 = a0;
    t->growth_rate_max = rm;
    return 0;
}

/* Exactly n finite numbers of a table line after its keyword `name`; `needs`
 * lists them for the error message. */
static int parse_values(char *s, double *v, int n, const char *name, const char *needs,
                        const char *path, int line, char *err, size_t errlen)
{
    char *end;
    for (int i = 0; i < n; i++) {
        s = skip_ws(s);
        errno = 0;
        v[i] = strtod(s, &end);
        if (end == s || errno || !isfinite(v[i]))
            return impa_err(err, errlen, IMPA_EFORMAT, "%s:%d: %s needs %s (value %d)", path,
                            line, name, needs, i + 1);
        s = end;
    }
    if (*skip_ws(s))
        return impa_err(err, errlen, IMPA_EFORMAT, "%s:%d: %s: more than %d values", path, line,
                        name, n);
    return 0;
}

/* `logistic THRESHOLD LEAD a b g d l q` (after `logistic `) */
static int parse_logistic(char *s, impa_prob_table_t *t, const char *path, int line, char *err,
                          size_t errlen)
{
    double v[8];
    int rc = parse_values(s, v, 8, "logistic", "threshold, lead, a, b, g, d, l, q", path, line,
                          err, errlen);
    if (rc)
        return rc;
    if (v[1] < 1 || v[1] > 1440 || v[1] != floor(v[1]) || !(v[3] >= 0 && v[3] <= 100) ||
        fabs(v[2]) > 100 || fabs(v[4]) > 100 || fabs(v[5]) > 100 || !(v[6] >= 0 && v[6] <= 1) ||
        !(v[7] >= 0 && v[7] <= 1))
        return impa_err(err, errlen, IMPA_EFORMAT,
                        "%s:%d: logistic: lead 1..1440 min, b in [0, 100], |a|, |g|, |d| <= 100, "
                        "l and q in [0, 1]",
                        path, line);
    if (t->n_logistic >= IMPA_PROB_MAX_ROWS)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s:%d: more than %d logistic lines", path,
                        line, IMPA_PROB_MAX_ROWS);
    for (int i = 0; i < t->n_logistic; i++)
        if (t->logistic[i].threshold_dbz == (float)v[0] && t->logistic[i].lead_min == (int)v[1])
            return impa_err(err, errlen, IMPA_EFORMAT,
                            "%s:%d: second logistic line for %g dBZ at %d min", path, line, v[0],
                            (int)v[1]);
    impa_prob_logistic_t *l = &t->logistic[t->n_logistic++];
    l->threshold_dbz = (float)v[0];
    l->lead_min = (int)v[1];
    l->a = v[2];
    l->b = v[3];
    l->g = v[4];
    l->d = v[5];
    l->l = v[6];
    l->q = v[7];
    return 0;
}

/* `margin THRESHOLD LEAD DB` (after `margin `) */
static int parse_margin(char *s, impa_prob_table_t *t, const char *path, int line, char *err,
                        size_t errlen)
{
    double v[3];
    int rc = parse_values(s, v, 3, "margin", "threshold, lead and dB", path, line, err, errlen);
    if (rc)
        return rc;
    if (v[1] < 1 || v[1] > 1440 || v[1] != floor(v[1]) ||
        !(v[2] >= 0 && v[2] <= IMPA_PROB_MAX_MARGIN_DB))
        return impa_err(err, errlen, IMPA_EFORMAT,
                        "%s:%d: margin: lead 1..1440 min, dB in [0, %g]", path, line,
                        IMPA_PROB_MAX_MARGIN_DB);
    if (t->n_margins >= IMPA_PROB_MAX_ROWS)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s:%d: more than %d margin lines", path,
                        line, IMPA_PROB_MAX_ROWS);
    for (int i = 0; i < t->n_margins; i++)
        if (t->margins[i].threshold_dbz == (float)v[0] && t->margins[i].lead_min == (int)v[1])
            return impa_err(err, errlen, IMPA_EFORMAT,
                            "%s:%d: second margin line for %g dBZ at %d min", path, line, v[0],
                            (int)v[1]);
    impa_prob_margin_t *m = &t->margins[t->n_margins++];
    m->threshold_dbz = (float)v[0];
    m->lead_min = (int)v[1];
    m->db = (float)v[2];
    return 0;
}

int impa_prob_table_load(const char *path, impa_prob_table_t *t, char *err, size_t errlen)
{
    if (!path || !t)
        return impa_err(err, errlen, IMPA_EINVAL, "impa_prob_table_load: NULL argument");
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "r");
    if (!f)
        return impa_err(err, errlen, IMPA_EIO, "%s: %s", path, strerror(errno));
    char buf[1024];
    int line = 0, rc = 0, have_magic = 0;
    while (fgets(buf, sizeof buf, f)) {
        line++;
        if (!strchr(buf, '\n') && !feof(f)) {
            rc = impa_err(err, errlen, IMPA_EFORMAT, "%s:%d: line longer than %zu bytes", path,
                          line, sizeof buf - 2);
            goto done;
        }
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = '\0';
        char *s = skip_ws(buf);
        size_t len = strlen(s);
        while (len && isspace((unsigned char)s[len - 1]))
            s[--len] = '\0';
        if (!*s)
            continue;
        if (!have_magic) {
            if (strcmp(s, "impa-prob-calibration 1") != 0) {
                rc = impa_err(err, errlen, IMPA_EFORMAT,
                              "%s:%d: not a calibration table (first line must be "
                              "`impa-prob-calibration 1`)",
                              path, line);
                goto done;
            }
            have_magic = 1;
        } else if (strncmp(s, "name ", 5) == 0) {
            snprintf(t->name, sizeof t->name, "%s", skip_ws(s + 5));
        } else if (strncmp(s, "scheme ", 7) == 0) {
            int sc;
            const char *name = skip_ws(s + 7);
            if (impa_extrap_scheme_parse(name, &sc) || t->n_rows) {
                rc = impa_err(err, errlen, IMPA_EFORMAT,
                              "%s:%d: scheme '%s' is not an extrapolation scheme "
                              "(impa-extrap-1 .. -%d) or comes after the rows",
                              path, line, name, IMPA_EXTRAP_SCHEME_LAST);
                goto done;
            }
            snprintf(t->scheme, sizeof t->scheme, "%s", impa_extrap_scheme_name(sc));
        } else if (strncmp(s, "knots ", 6) == 0) {
            char *end;
            long k = strtol(s + 6, &end, 10);
            if (*skip_ws(end) || k < 2 || k > IMPA_PROB_MAX_KNOTS || t->n_rows) {
                rc = impa_err(err, errlen, IMPA_EFORMAT,
                              "%s:%d: knots must be 2..%d and come before the rows", path, line,
                              IMPA_PROB_MAX_KNOTS);
                goto done;
            }
            t->n_knots = (int)k;
        } else if (strncmp(s, "trend ", 6) == 0) {
            char *end;
            double r = strtod(s + 6, &end);
            if (*skip_ws(end) || end == s + 6 || !(r == 0 || (r > 1 && r < 1000)) || t->n_rows) {
                rc = impa_err(err, errlen, IMPA_EFORMAT,
                              "%s:%d: trend must be 0 or a ratio in (1, 1000) and come before "
                              "the rows",
                              path, line);
                goto done;
            }
            t->trend_ratio = r;
        } else if (strncmp(s, "growth ", 7) == 0) {
            if ((rc = parse_growth(s + 7, t, path, line, err, errlen)))
                goto done;
        } else if (strncmp(s, "shrink-target ", 14) == 0) {
            const char *v = skip_ws(s + 14);
            if (strcmp(v, "scene") && strcmp(v, "base")) {
                rc = impa_err(err, errlen, IMPA_EFORMAT,
                              "%s:%d: shrink-target must be scene or base", path, line);
                goto done;
            }
            t->shrink_scene = strcmp(v, "scene") == 0;
        } else if (strncmp(s, "logistic ", 9) == 0) {
            if ((rc = parse_logistic(s + 9, t, path, line, err, errlen)))
                goto done;
        } else if (strncmp(s, "margin ", 7) == 0) {
            if ((rc = parse_margin(s + 7, t, path, line, err, errlen)))
                goto done;
        } else if ((rc = parse_row(s, t, path, line, err, errlen))) {
            goto done;
        }
    }
    if (ferror(f)) {
        rc = impa_err(err, errlen, IMPA_EIO, "%s: read error", path);
        goto done;
    }
    if (!t->n_rows)
        rc = impa_err(err, errlen, IMPA_EFORMAT, "%s: no rows", path);
    else if (t->n_logistic && !(t->growth_a0_km2 > 0))
        rc = impa_err(err, errlen, IMPA_EFORMAT, "%s: logistic lines without a `growth` line",
                      path);
    if (!t->scheme[0]) /* tables before the scheme line: fitted on scheme 1 */
        snprintf(t->scheme, sizeof t->scheme, "%s", impa_extrap_scheme_name(IMPA_EXTRAP_SCHEME_1));
done:
    fclose(f);
    return rc;
}

/* ---- the fields ---------------------------------------------------------------- */

static const impa_prob_row_t *find_row(const impa_prob_table_t *t, float thr, int lead_min,
                                       int trend)
{
    for (int i = 0; i < t->n_rows; i++)
        if (t->rows[i].threshold_dbz == thr && t->rows[i].lead_min == lead_min &&
            t->rows[i].trend == trend)
            return &t->rows[i];
    return NULL;
}

int impa_prob_create(const impa_prob_table_t *t, const float *thr, int n_thr, int n_leads,
                     int step_minutes, int ny, int nx, double pixel_km, impa_prob_t **out,
                     char *err, size_t errlen)
{
    if (!t || !thr || !out)
        return impa_err(err, errlen, IMPA_EINVAL, "impa_prob_create: NULL argument");
    *out = NULL;
    if (n_thr < 1 || n_thr > IMPA_PROB_MAX_THRESHOLDS || n_leads < 1 || n_leads > MAX_LEADS ||
        step_minutes < 1 || ny < 1 || nx < 1 || ny > 20000 || nx > 20000 ||
        !(pixel_km > 0 && isfinite(pixel_km)) || t->n_knots < 2 ||
        t->n_knots > IMPA_PROB_MAX_KNOTS)
        return impa_err(err, errlen, IMPA_EINVAL,
                        "probability: bad shape (%d thresholds (1..%d), %d leads (1..%d), step "
                        "%d min, %d x %d, pixel %g km, %d knots)",
                        n_thr, IMPA_PROB_MAX_THRESHOLDS, n_leads, MAX_LEADS, step_minutes, ny,
                        nx, pixel_km, t->n_knots);
    impa_prob_t *p = calloc(1, sizeof *p);
    if (!p)
        return impa_err(err, errlen, IMPA_ENOMEM, "probability: out of memory");
    p->n_thr = n_thr;
    p->n_leads = n_leads;
    p->ny = ny;
    p->nx = nx;
    p->n_knots = t->n_knots;
    p->trend_ratio = t->trend_ratio;
    p->a0_km2 = t->growth_a0_km2;
    p->rate_max = t->growth_rate_max;
    p->pixel_km = pixel_km;
    p->step_minutes = step_minutes;
    p->shrink_scene = t->shrink_scene;
    memcpy(p->logistic, t->logistic, (size_t)t->n_logistic * sizeof *t->logistic);
    snprintf(p->name, sizeof p->name, "%s", t->name);
    int rc = 0;
    int c0 = t->trend_ratio > 0 ? IMPA_PROB_DECAYING : IMPA_PROB_STEADY;
    int c1 = t->trend_ratio > 0 ? IMPA_PROB_GROWING : IMPA_PROB_STEADY;
    for (int i = 0; i < n_thr; i++) {
        for (int c = c0; c <= c1; c++)
            for (int k = 0; k < n_leads; k++) {
                const impa_prob_row_t *r = find_row(t, thr[i], (k + 1) * step_minutes, c);
                if (!r) {
                    rc = impa_err(err, errlen, IMPA_ECONFIG,
                                  "probability: the calibration table \"%s\" has no row for %g "
                                  "dBZ at lead %d min, trend %d",
                                  t->name, (double)thr[i], (k + 1) * step_minutes, c);
                    goto fail;
                }
                p->rows[i][c + 1][k] = *r;
                double rp = floor((double)r->radius_km / pixel_km + 0.5);
                p->rpix[i][c + 1][k] = rp > 20000 ? 20000 : (int)rp;
            }
        p->field.thresholds[i] = thr[i];
        for (int k = 0; k < n_leads; k++) {
            p->count_thr[i][k] = thr[i];
            for (int j = 0; j < t->n_margins; j++)
                if (t->margins[j].threshold_dbz == thr[i] &&
                    t->margins[j].lead_min == (k + 1) * step_minutes)
                    p->count_thr[i][k] = thr[i] + t->margins[j].db;
        }
        for (int k = 0; k < n_leads; k++)
            for (int j = 0; j < t->n_logistic; j++)
                if (p->a0_km2 > 0 && t->logistic[j].threshold_dbz == thr[i] &&
                    t->logistic[j].lead_min == (k + 1) * step_minutes)
                    p->logi[i][k] = &p->logistic[j];
    }
    size_t plane = (size_t)ny * (size_t)nx;
    p->sat = malloc((size_t)(ny + 1) * (size_t)(nx + 1) * sizeof *p->sat);
    p->p = malloc((size_t)n_thr * (size_t)n_leads * plane * sizeof *p->p);
    if (!p->sat || !p->p) {
        rc = impa_err(err, errlen, IMPA_ENOMEM,
                      "probability: out of memory for %d x %d fields of %d x %d", n_thr, n_leads,
                      ny, nx);
        goto fail;
    }
    p->field.n_thresholds = n_thr;
    p->field.n_leads = n_leads;
    p->field.ny = ny;
    p->field.nx = nx;
    p->field.p = p->p;
    p->field.radius_km = p->radius;
    p->field.calibration = p->name;
    *out = p;
    return 0;
fail:
    impa_prob_destroy(&p);
    return rc;
}

void impa_prob_destroy(impa_prob_t **pp)
{
    if (!pp || !*pp)
        return;
    free((*pp)->sat);
    free((*pp)->p);
    free(*pp);
    *pp = NULL;
}

size_t impa_prob_memory(const impa_prob_t *p)
{
    if (!p)
        return 0;
    return sizeof *p + (size_t)(p->ny + 1) * (size_t)(p->nx + 1) * sizeof *p->sat +
           (size_t)p->n_thr * (size_t)p->n_leads * (size_t)p->ny * (size_t)p->nx * sizeof *p->p;
}

/* One field: out[y][x] = c(f), f the fraction of the window's in-grid pixels
 * with dbz >= thr (NAN = below; thr: the threshold plus the lead's margin). */
static void one_field(impa_prob_t *p, const float *dbz, float thr, int r,
                      const impa_prob_row_t *row, float *out)
{
    const int ny = p->ny, nx = p->nx, w = nx + 1;
    int32_t *s = p->sat;
    memset(s, 0, (size_t)w * sizeof *s);
    for (int y = 0; y < ny; y++) {
        const float *d = dbz + (size_t)y * nx;
        int32_t *cur = s + (size_t)(y + 1) * w, *up = cur - w;
        int32_t acc = 0;
        cur[0] = 0;
        for (int x = 0; x < nx; x++) {
            acc += d[x] >= thr; /* false for NAN */
            cur[x + 1] = up[x + 1] + acc;
        }
    }
    for (int y = 0; y < ny; y++) {
        int y0 = y - r < 0 ? 0 : y - r, y1 = y + r + 1 > ny ? ny : y + r + 1;
        const int32_t *a = s + (size_t)y0 * w, *b = s + (size_t)y1 * w;
        const float *d = dbz + (size_t)y * nx;
        float *o = out + (size_t)y * nx;
        for (int x = 0; x < nx; x++) {
            if (isnan(d[x])) {
                o[x] = NAN;
                continue;
            }
            int x0 = x - r < 0 ? 0 : x - r, x1 = x + r + 1 > nx ? nx : x + r + 1;
            int32_t n = b[x1] - b[x0] - a[x1] + a[x0];
            float f = n ? (float)n / (float)((y1 - y0) * (x1 - x0)) : 0.0f;
            o[x] = impa_prob_calibrated(row, p->n_knots, f);
        }
    }
}

static double area_fraction(const float *f, size_t npix, float thr)
{
    size_t fin = 0, hit = 0;
    for (size_t i = 0; i < npix; i++) {
        fin += !isnan(f[i]);
        hit += f[i] >= thr;
    }
    return fin ? (double)hit / (double)fin : 0.0;
}

int impa_prob_trend(const float *const *frames, int n, size_t npix, float thr, double ratio)
{
    if (!frames || ratio <= 0)
        return IMPA_PROB_STEADY;
    int a = 0, b = n - 1;
    while (a < n && !frames[a])
        a++;
    while (b >= 0 && !frames[b])
        b--;
    if (a >= b)
        return IMPA_PROB_STEADY;
    double g = (area_fraction(frames[b], npix, thr) + IMPA_PROB_TREND_EPS) /
               (area_fraction(frames[a], npix, thr) + IMPA_PROB_TREND_EPS);
    return g > ratio ? IMPA_PROB_GROWING : g < 1.0 / ratio ? IMPA_PROB_DECAYING : IMPA_PROB_STEADY;
}

static size_t count_ge(const float *f, size_t npix, float thr)
{
    size_t hit = 0;
    for (size_t i = 0; i < npix; i++)
        hit += f[i] >= thr; /* false for NAN */
    return hit;
}

void impa_prob_growth(const float *const *frames, int n, size_t npix, float thr, double pixel_km,
                      int step_minutes, double a0_km2, double rate_max, double *rate,
                      double *size)
{
    *rate = 0.0;
    *size = 0.0;
    if (!frames || !(a0_km2 > 0))
        return;
    int a = 0, b = n - 1;
    while (a < n && !frames[a])
        a++;
    while (b >= 0 && !frames[b])
        b--;
    if (b < 0)
        return;
    double px2 = pixel_km * pixel_km;
    double a_new = (double)count_ge(frames[b], npix, thr) * px2;
    *size = log1p(a_new / a0_km2);
    if (a >= b)
        return;
    double a_old = (double)count_ge(frames[a], npix, thr) * px2;
    double r = log((a_new + a0_km2) / (a_old + a0_km2)) / ((b - a) * step_minutes / 60.0);
    *rate = r > rate_max ? rate_max : r < -rate_max ? -rate_max : r;
}

/* row with its knots moved by the growth terms (impa_prob_logistic_t) into *o */
static void adjust_row(const impa_prob_row_t *row, int n_knots, const impa_prob_logistic_t *l,
                       double rate, double size, double q_to, impa_prob_row_t *o)
{
    *o = *row;
    double t = l->a + l->g * rate + l->d * size;
    for (int j = 0; j < n_knots; j++) {
        double q = row->p[j];
        q = q < IMPA_PROB_LOGIT_EPS ? IMPA_PROB_LOGIT_EPS
            : q > 1 - IMPA_PROB_LOGIT_EPS ? 1 - IMPA_PROB_LOGIT_EPS : q;
        double sg = 1.0 / (1.0 + exp(-(t + l->b * log(q / (1 - q)))));
        float v = (float)((1 - l->l) * sg + l->l * q_to);
        o->p[j] = j && v < o->p[j - 1] ? o->p[j - 1] : v; /* non-decreasing after rounding */
    }
}

int impa_prob_compute(impa_prob_t *p, const float *dbz, const float *const *inputs,
                      int n_inputs, const impa_prob_field_t **out, char *err, size_t errlen)
{
    if (!p || !dbz || !out)
        return impa_err(err, errlen, IMPA_EINVAL, "impa_prob_compute: NULL argument");
    size_t plane = (size_t)p->ny * (size_t)p->nx;
    for (int i = 0; i < p->n_thr; i++) {
        float thr = p->field.thresholds[i];
        int c = impa_prob_trend(inputs, n_inputs, plane, thr, p->trend_ratio);
        p->field.trend[i] = c;
        double rate = 0.0, size = 0.0, scene = -1.0;
        p->field.growth_per_h[i] = NAN;
        if (p->a0_km2 > 0) {
            impa_prob_growth(inputs, n_inputs, plane, thr, p->pixel_km, p->step_minutes,
                             p->a0_km2, p->rate_max, &rate, &size);
            p->field.growth_per_h[i] = (float)rate;
            for (int j = n_inputs - 1; p->shrink_scene && inputs && j >= 0 && scene < 0; j--)
                if (inputs[j])
                    scene = area_fraction(inputs[j], plane, thr);
        }
        for (int k = 0; k < p->n_leads; k++) {
            const impa_prob_row_t *row = &p->rows[i][c + 1][k];
            if (p->logi[i][k]) {
                adjust_row(row, p->n_knots, p->logi[i][k], rate, size,
                           scene >= 0 ? scene : p->logi[i][k]->q, &p->adj);
                row = &p->adj;
            }
            one_field(p, dbz + (size_t)k * plane, p->count_thr[i][k], p->rpix[i][c + 1][k], row,
                      p->p + ((size_t)i * p->n_leads + k) * plane);
            p->radius[i * p->n_leads + k] = p->rows[i][c + 1][k].radius_km;
        }
    }
    *out = &p->field;
    return 0;
}

int impa_prob_threshold_index(const impa_prob_field_t *f, float thr_dbz)
{
    if (!f)
        return -1;
    for (int i = 0; i < f->n_thresholds; i++)
        if (f->thresholds[i] == thr_dbz)
            return i;
    return -1;
}

float impa_prob_max_over(const impa_prob_field_t *f, int ti, int lead, const int32_t *pix,
                         int n)
{
    if (!f || ti < 0 || ti >= f->n_thresholds || lead < 0 || lead >= f->n_leads || !pix)
        return 0.0f;
    size_t plane = (size_t)f->ny * (size_t)f->nx;
    const float *q = f->p + ((size_t)ti * f->n_leads + lead) * plane;
    float m = 0.0f;
    for (int i = 0; i < n; i++) {
        if (pix[i] < 0 || (size_t)pix[i] >= plane)
            continue;
        float v = q[pix[i]];
        if (v > m) /* false for NAN */
            m = v;
    }
    return m;
}
