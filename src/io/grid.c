/* Scans, grid geometry and the inverse map projections behind impa_grid_latlon.
 *
 * Projections follow Snyder, "Map Projections - A Working Manual" (USGS PP 1395,
 * 1987), ellipsoidal forms: Albers (eqs 14-*, 3-12/3-16), polar stereographic
 * (21-*), Lambert azimuthal equal-area (24-*, polar and oblique), transverse
 * Mercator (8-*, series to e^6 / A^6) and oblique stereographic on the conformal
 * sphere (21-35..). Albers, LAEA and polar stereographic are exact to iteration
 * tolerance (1e-12 rad); transverse Mercator series are sub-metre within ~5 deg of
 * the central meridian. Checked against PROJ's cs2cs in tests/io/test_grid.c. */
#include "io-impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEG (M_PI / 180.0)

int impa_scan_init(impa_scan_t *scan, const impa_grid_t *grid)
{
    if (!scan || !grid || grid->nx <= 0 || grid->ny <= 0 || grid->nx > IMPA_IO_MAX_SIDE ||
        grid->ny > IMPA_IO_MAX_SIDE)
        return IMPA_EINVAL;
    memset(scan, 0, sizeof *scan);
    scan->grid = *grid;
    size_t n = (size_t)grid->nx * (size_t)grid->ny;
    scan->dbz = malloc(n * sizeof *scan->dbz);
    if (!scan->dbz)
        return IMPA_ENOMEM;
    for (size_t i = 0; i < n; i++)
        scan->dbz[i] = NAN;
    return IMPA_OK;
}

void impa_scan_deinit(impa_scan_t *scan)
{
    if (!scan)
        return;
    free(scan->dbz);
    scan->dbz = NULL;
}

double impa_io_unit_m(const char *u)
{
    if (!u)
        return 0;
    if (!strcasecmp(u, "m") || !strcasecmp(u, "metre") || !strcasecmp(u, "metres") ||
        !strcasecmp(u, "meter") || !strcasecmp(u, "meters"))
        return 1.0;
    if (!strcasecmp(u, "km") || !strcasecmp(u, "kilometre") || !strcasecmp(u, "kilometres") ||
        !strcasecmp(u, "kilometer") || !strcasecmp(u, "kilometers"))
        return 1000.0;
    return 0;
}

/* ---- grid attribute access ---- */

static const impa_grid_attr_t *find_attr(const impa_grid_t *g, const char *name)
{
    for (int i = 0; i < g->n_attrs && i < IMPA_GRID_MAX_ATTRS; i++)
        if (!strcmp(g->attrs[i].name, name))
            return &g->attrs[i];
    return NULL;
}

static double attr_num(const impa_grid_t *g, const char *name, int idx, double dflt)
{
    const impa_grid_attr_t *a = find_attr(g, name);
    if (!a || a->is_text || idx >= a->n_values)
        return dflt;
    return a->values[idx];
}

/* ---- projection parameters ---- */

typedef enum {
    PJ_LATLON, PJ_ALBERS, PJ_POLAR_STEREO, PJ_LAEA, PJ_TMERC, PJ_STEREO,
} pj_kind_t;

typedef struct {
    pj_kind_t kind;
    double a, e2, e;          /* ellipsoid */
    double lat0, lon0;        /* radians */
    double fe, fn;            /* false easting/northing, metres */
    double k0;
    /* Albers */
    double n, C, rho0;
    /* polar stereographic: south = mirrored north; tc, mc of the standard parallel */
    int south, use_k0;
    double tc, mc;
    /* LAEA */
    double qp, rq, beta1, D;
    int polar;
    /* TMerc */
    double ep2, M0;
    /* oblique stereographic */
    double chi1, m1;
} pj_t;

static double pj_m(const pj_t *p, double phi)
{
    double s = sin(phi);
    return cos(phi) / sqrt(1 - p->e2 * s * s);
}

/* Snyder 3-12: authalic q. Spherical limit 2 sin(phi). */
static double pj_q(const pj_t *p, double phi)
{
    double s = sin(phi);
    if (p->e < 1e-10)
        return 2 * s;
    double es = p->e * s;
    return (1 - p->e2) * (s / (1 - es * es) - (1 / (2 * p->e)) * log((1 - es) / (1 + es)));
}

/* Snyder 3-16: latitude from q by fixed-point iteration. */
static double pj_phi_from_q(const pj_t *p, double q)
{
    double r = q / 2;
    if (r > 1) r = 1;
    if (r < -1) r = -1;
    double phi = asin(r);
    if (p->e < 1e-10)
        return phi;
    double qp = pj_q(p, M_PI / 2);
    if (fabs(fabs(q) - qp) < 1e-12)
        return copysign(M_PI / 2, q);
    for (int i = 0; i < 30; i++) {
        double s = sin(phi), c = cos(phi), es = p->e * s, w = 1 - es * es;
        double d = w * w / (2 * c) *
                   (q / (1 - p->e2) - s / w + (1 / (2 * p->e)) * log((1 - es) / (1 + es)));
        phi += d;
        if (fabs(d) < 1e-13)
            break;
    }
    return phi;
}

/* Snyder 15-9: isometric-latitude helper t. */
static double pj_t_of(const pj_t *p, double phi)
{
    double es = p->e * sin(phi);
    return tan(M_PI / 4 - phi / 2) / pow((1 - es) / (1 + es), p->e / 2);
}

static double pj_phi_from_t(const pj_t *p, double t)
{
    double phi = M_PI / 2 - 2 * atan(t);
    for (int i = 0; i < 30; i++) {
        double es = p->e * sin(phi);
        double nphi = M_PI / 2 - 2 * atan(t * pow((1 - es) / (1 + es), p->e / 2));
        if (fabs(nphi - phi) < 1e-13) {
            phi = nphi;
            break;
        }
        phi = nphi;
    }
    return phi;
}

/* Conformal latitude (Snyder 3-1). */
static double pj_chi(const pj_t *p, double phi)
{
    double es = p->e * sin(phi);
    return 2 * atan(tan(M_PI / 4 + phi / 2) * pow((1 - es) / (1 + es), p->e / 2)) - M_PI / 2;
}

static double pj_M(const pj_t *p, double phi)
{
    double e2 = p->e2, e4 = e2 * e2, e6 = e4 * e2;
    return p->a * ((1 - e2 / 4 - 3 * e4 / 64 - 5 * e6 / 256) * phi -
                   (3 * e2 / 8 + 3 * e4 / 32 + 45 * e6 / 1024) * sin(2 * phi) +
                   (15 * e4 / 256 + 45 * e6 / 1024) * sin(4 * phi) - (35 * e6 / 3072) * sin(6 * phi));
}

/* Builds projection constants from the CF grid-mapping attributes. The ellipsoid
 * defaults to WGS84 when the file names none (CF leaves it unspecified). */
static int pj_setup(const impa_grid_t *g, pj_t *p)
{
    memset(p, 0, sizeof *p);
    const char *gm = g->grid_mapping_name;
    if (!strcmp(gm, "latitude_longitude"))
        p->kind = PJ_LATLON;
    else if (!strcmp(gm, "albers_conical_equal_area"))
        p->kind = PJ_ALBERS;
    else if (!strcmp(gm, "polar_stereographic"))
        p->kind = PJ_POLAR_STEREO;
    else if (!strcmp(gm, "lambert_azimuthal_equal_area"))
        p->kind = PJ_LAEA;
    else if (!strcmp(gm, "transverse_mercator"))
        p->kind = PJ_TMERC;
    else if (!strcmp(gm, "stereographic"))
        p->kind = PJ_STEREO;
    else
        return IMPA_ENOTFOUND;
    if (p->kind == PJ_LATLON)
        return IMPA_OK;

    double R = attr_num(g, "earth_radius", 0, 0);
    double a = attr_num(g, "semi_major_axis", 0, 0);
    double b = attr_num(g, "semi_minor_axis", 0, 0);
    double rf = attr_num(g, "inverse_flattening", 0, -1);
    if (a <= 0 && R > 0) {
        p->a = R;
        p->e2 = 0;
    } else {
        p->a = a > 0 ? a : 6378137.0;
        if (b > 0)
            p->e2 = 1 - (b * b) / (p->a * p->a);
        else if (rf == 0)
            p->e2 = 0;
        else {
            double f = 1 / (rf > 0 ? rf : 298.257223563);
            p->e2 = 2 * f - f * f;
        }
    }
    if (p->e2 < 0)
        p->e2 = 0;
    p->e = sqrt(p->e2);
    p->fe = attr_num(g, "false_easting", 0, 0);
    p->fn = attr_num(g, "false_northing", 0, 0);
    p->lat0 = attr_num(g, "latitude_of_projection_origin", 0, 0) * DEG;

    switch (p->kind) {
    case PJ_ALBERS: {
        p->lon0 = attr_num(g, "longitude_of_central_meridian", 0, 0) * DEG;
        double p1 = attr_num(g, "standard_parallel", 0, NAN) * DEG;
        double p2 = attr_num(g, "standard_parallel", 1, p1 / DEG) * DEG;
        if (isnan(p1))
            return IMPA_ENOTFOUND;
        double m1 = pj_m(p, p1), m2 = pj_m(p, p2), q1 = pj_q(p, p1), q2 = pj_q(p, p2);
        p->n = fabs(p1 - p2) > 1e-10 ? (m1 * m1 - m2 * m2) / (q2 - q1) : sin(p1);
        if (fabs(p->n) < 1e-12)
            return IMPA_ENOTFOUND;
        p->C = m1 * m1 + p->n * q1;
        p->rho0 = p->a * sqrt(p->C - p->n * pj_q(p, p->lat0)) / p->n;
        break;
    }
    case PJ_POLAR_STEREO: {
        p->lon0 = attr_num(g, "straight_vertical_longitude_from_pole", 0,
                           attr_num(g, "longitude_of_projection_origin", 0, 0)) * DEG;
        p->south = p->lat0 < 0;
        double sp = attr_num(g, "standard_parallel", 0, NAN);
        p->k0 = attr_num(g, "scale_factor_at_projection_origin", 0, 1.0);
        if (p->south)
            p->lon0 = -p->lon0;
        if (!isnan(sp) && fabs(fabs(sp) - 90) > 1e-9) {
            double phic = (p->south ? -sp : sp) * DEG;
            p->tc = pj_t_of(p, phic);
            p->mc = pj_m(p, phic);
        } else {
            p->use_k0 = 1;
        }
        break;
    }
    case PJ_LAEA: {
        p->lon0 = attr_num(g, "longitude_of_projection_origin", 0, 0) * DEG;
        p->qp = pj_q(p, M_PI / 2);
        p->rq = p->a * sqrt(p->qp / 2);
        p->polar = fabs(fabs(p->lat0) - M_PI / 2) < 1e-10;
        if (!p->polar) {
            p->beta1 = asin(pj_q(p, p->lat0) / p->qp);
            p->D = p->a * pj_m(p, p->lat0) / (p->rq * cos(p->beta1));
        }
        break;
    }
    case PJ_TMERC:
        p->lon0 = attr_num(g, "longitude_of_central_meridian", 0, 0) * DEG;
        p->k0 = attr_num(g, "scale_factor_at_central_meridian", 0, 1.0);
        p->ep2 = p->e2 / (1 - p->e2);
        p->M0 = pj_M(p, p->lat0);
        break;
    case PJ_STEREO:
        p->lon0 = attr_num(g, "longitude_of_projection_origin", 0, 0) * DEG;
        p->k0 = attr_num(g, "scale_factor_at_projection_origin", 0, 1.0);
        p->chi1 = pj_chi(p, p->lat0);
        p->m1 = pj_m(p, p->lat0);
        break;
    case PJ_LATLON:
        break;
    }
    return IMPA_OK;
}

static double wrap_lon(double lon)
{
    while (lon > M_PI) lon -= 2 * M_PI;
    while (lon < -M_PI) lon += 2 * M_PI;
    return lon;
}

/* x, y in metres without false origin -> radians. */
static void pj_inverse(const pj_t *p, double x, double y, double *phi, double *lam)
{
    switch (p->kind) {
    case PJ_ALBERS: {
        double sg = p->n < 0 ? -1 : 1;
        double dy = p->rho0 - y;
        double rho = sqrt(x * x + dy * dy);
        double theta = atan2(x * sg, dy * sg);
        double q = (p->C - rho * rho * p->n * p->n / (p->a * p->a)) / p->n;
        *phi = pj_phi_from_q(p, q);
        *lam = p->lon0 + theta / p->n;
        break;
    }
    case PJ_POLAR_STEREO: {
        if (p->south) {
            x = -x;
            y = -y;
        }
        double rho = sqrt(x * x + y * y), t;
        if (p->use_k0)
            t = rho * sqrt(pow(1 + p->e, 1 + p->e) * pow(1 - p->e, 1 - p->e)) / (2 * p->a * p->k0);
        else
            t = rho * p->tc / (p->a * p->mc);
        *phi = pj_phi_from_t(p, t);
        *lam = rho > 0 ? p->lon0 + atan2(x, -y) : p->lon0;
        if (p->south) {
            *phi = -*phi;
            *lam = -*lam;
        }
        break;
    }
    case PJ_LAEA: {
        if (p->polar) {
            int north = p->lat0 > 0;
            double rho = sqrt(x * x + y * y);
            double q = (p->qp - rho * rho / (p->a * p->a)) * (north ? 1 : -1);
            *phi = pj_phi_from_q(p, q);
            *lam = p->lon0 + (north ? atan2(x, -y) : atan2(x, y));
            break;
        }
        double xd = x / p->D, yd = p->D * y;
        double rho = sqrt(xd * xd + yd * yd);
        if (rho < 1e-9) {
            *phi = p->lat0;
            *lam = p->lon0;
            break;
        }
        double ce = 2 * asin(fmin(1.0, rho / (2 * p->rq)));
        double sb = cos(ce) * sin(p->beta1) + p->D * y * sin(ce) * cos(p->beta1) / rho;
        *phi = pj_phi_from_q(p, p->qp * sb);
        *lam = p->lon0 + atan2(x * sin(ce), p->D * rho * cos(p->beta1) * cos(ce) -
                                                p->D * p->D * y * sin(p->beta1) * sin(ce));
        break;
    }
    case PJ_TMERC: {
        double e2 = p->e2, e4 = e2 * e2, e6 = e4 * e2, ep2 = p->ep2;
        double M = p->M0 + y / p->k0;
        double mu = M / (p->a * (1 - e2 / 4 - 3 * e4 / 64 - 5 * e6 / 256));
        double s1 = sqrt(1 - e2), e1 = (1 - s1) / (1 + s1);
        double phi1 = mu + (3 * e1 / 2 - 27 * pow(e1, 3) / 32) * sin(2 * mu) +
                      (21 * e1 * e1 / 16 - 55 * pow(e1, 4) / 32) * sin(4 * mu) +
                      (151 * pow(e1, 3) / 96) * sin(6 * mu) + (1097 * pow(e1, 4) / 512) * sin(8 * mu);
        double s = sin(phi1), c = cos(phi1), tn = tan(phi1);
        double C1 = ep2 * c * c, T1 = tn * tn, w = 1 - e2 * s * s;
        double N1 = p->a / sqrt(w), R1 = p->a * (1 - e2) / pow(w, 1.5);
        double D = x / (N1 * p->k0), D2 = D * D;
        *phi = phi1 - (N1 * tn / R1) *
                          (D2 / 2 - (5 + 3 * T1 + 10 * C1 - 4 * C1 * C1 - 9 * ep2) * D2 * D2 / 24 +
                           (61 + 90 * T1 + 298 * C1 + 45 * T1 * T1 - 252 * ep2 - 3 * C1 * C1) * D2 * D2 * D2 / 720);
        *lam = p->lon0 + (D - (1 + 2 * T1 + C1) * D2 * D / 6 +
                          (5 - 2 * C1 + 28 * T1 - 3 * C1 * C1 + 8 * ep2 + 24 * T1 * T1) * D2 * D2 * D / 120) / c;
        break;
    }
    case PJ_STEREO: {
        double rho = sqrt(x * x + y * y);
        if (rho < 1e-9) {
            *phi = p->lat0;
            *lam = p->lon0;
            break;
        }
        double ce = 2 * atan(rho * cos(p->chi1) / (2 * p->a * p->k0 * p->m1));
        double chi = asin(cos(ce) * sin(p->chi1) + y * sin(ce) * cos(p->chi1) / rho);
        *lam = p->lon0 + atan2(x * sin(ce), rho * cos(p->chi1) * cos(ce) - y * sin(p->chi1) * sin(ce));
        double ph = chi;
        for (int i = 0; i < 30; i++) {
            double es = p->e * sin(ph);
            double n = 2 * atan(tan(M_PI / 4 + chi / 2) * pow((1 + es) / (1 - es), p->e / 2)) - M_PI / 2;
            if (fabs(n - ph) < 1e-13) {
                ph = n;
                break;
            }
            ph = n;
        }
        *phi = ph;
        break;
    }
    case PJ_LATLON:
        *phi = y * DEG;
        *lam = x * DEG;
        break;
    }
    *lam = wrap_lon(*lam);
}

static void pj_forward(const pj_t *p, double phi, double lam, double *x, double *y)
{
    double dl = wrap_lon(lam - p->lon0);
    switch (p->kind) {
    case PJ_ALBERS: {
        double rho = p->a * sqrt(p->C - p->n * pj_q(p, phi)) / p->n;
        double th = p->n * dl;
        *x = rho * sin(th);
        *y = p->rho0 - rho * cos(th);
        break;
    }
    case PJ_POLAR_STEREO: {
        double ph = p->south ? -phi : phi, l = p->south ? -lam : lam;
        dl = wrap_lon(l - p->lon0);
        double t = pj_t_of(p, ph), rho;
        if (p->use_k0)
            rho = 2 * p->a * p->k0 * t / sqrt(pow(1 + p->e, 1 + p->e) * pow(1 - p->e, 1 - p->e));
        else
            rho = p->a * p->mc * t / p->tc;
        *x = rho * sin(dl);
        *y = -rho * cos(dl);
        if (p->south) {
            *x = -*x;
            *y = -*y;
        }
        break;
    }
    case PJ_LAEA: {
        double q = pj_q(p, phi);
        if (p->polar) {
            int north = p->lat0 > 0;
            double rho = p->a * sqrt(fmax(0.0, north ? p->qp - q : p->qp + q));
            *x = rho * sin(dl);
            *y = north ? -rho * cos(dl) : rho * cos(dl);
            break;
        }
        double beta = asin(fmax(-1.0, fmin(1.0, q / p->qp)));
        double B = p->rq * sqrt(2 / (1 + sin(p->beta1) * sin(beta) + cos(p->beta1) * cos(beta) * cos(dl)));
        *x = B * p->D * cos(beta) * sin(dl);
        *y = (B / p->D) * (cos(p->beta1) * sin(beta) - sin(p->beta1) * cos(beta) * cos(dl));
        break;
    }
    case PJ_TMERC: {
        double s = sin(phi), c = cos(phi), tn = tan(phi);
        double N = p->a / sqrt(1 - p->e2 * s * s), T = tn * tn, C = p->ep2 * c * c, A = dl * c;
        double A2 = A * A;
        *x = p->k0 * N * (A + (1 - T + C) * A2 * A / 6 + (5 - 18 * T + T * T + 72 * C - 58 * p->ep2) * A2 * A2 * A / 120);
        *y = p->k0 * (pj_M(p, phi) - p->M0 +
                      N * tn * (A2 / 2 + (5 - T + 9 * C + 4 * C * C) * A2 * A2 / 24 +
                                (61 - 58 * T + T * T + 600 * C - 330 * p->ep2) * A2 * A2 * A2 / 720));
        break;
    }
    case PJ_STEREO: {
        double chi = pj_chi(p, phi);
        double A = 2 * p->a * p->k0 * p->m1 /
                   (cos(p->chi1) * (1 + sin(p->chi1) * sin(chi) + cos(p->chi1) * cos(chi) * cos(dl)));
        *x = A * cos(chi) * sin(dl);
        *y = A * (cos(p->chi1) * sin(chi) - sin(p->chi1) * cos(chi) * cos(dl));
        break;
    }
    case PJ_LATLON:
        *x = lam / DEG;
        *y = phi / DEG;
        break;
    }
}

int impa_io_project(const impa_grid_t *grid, double lat, double lon, double *x_m, double *y_m)
{
    pj_t p;
    if (pj_setup(grid, &p) != IMPA_OK)
        return IMPA_ENOTFOUND;
    pj_forward(&p, lat * DEG, lon * DEG, x_m, y_m);
    if (p.kind != PJ_LATLON) {
        *x_m += p.fe;
        *y_m += p.fn;
    }
    return IMPA_OK;
}

int impa_grid_latlon(const impa_grid_t *grid, double col, double row, double *lat, double *lon)
{
    if (!grid || !lat || !lon)
        return IMPA_EINVAL;
    pj_t p;
    if (pj_setup(grid, &p) != IMPA_OK)
        return IMPA_ENOTFOUND;
    double x = grid->x0 + col * grid->dx, y = grid->y0 + row * grid->dy;
    if (p.kind == PJ_LATLON) {
        *lat = y;
        *lon = x;
        return IMPA_OK;
    }
    double u = impa_io_unit_m(grid->x_units);
    if (u <= 0)
        return IMPA_ENOTFOUND;
    double phi = NAN, lam = NAN;
    pj_inverse(&p, x * u - p.fe, y * u - p.fn, &phi, &lam);
    if (!isfinite(phi) || !isfinite(lam))
        return IMPA_ENOTFOUND;
    *lat = phi / DEG;
    *lon = lam / DEG;
    return IMPA_OK;
}

int impa_grid_cell_of(const impa_grid_t *grid, double lat, double lon, double *col, double *row)
{
    if (!grid || !col || !row || grid->dx == 0 || grid->dy == 0)
        return IMPA_EINVAL;
    double x, y;
    if (impa_io_project(grid, lat, lon, &x, &y) != IMPA_OK)
        return IMPA_ENOTFOUND;
    if (strcmp(grid->grid_mapping_name, "latitude_longitude") != 0) {
        double u = impa_io_unit_m(grid->x_units);
        if (u <= 0)
            return IMPA_ENOTFOUND;
        x /= u;
        y /= u;
    }
    *col = (x - grid->x0) / grid->dx;
    *row = (y - grid->y0) / grid->dy;
    return IMPA_OK;
}

double impa_grid_cell_area_km2(const impa_grid_t *grid)
{
    if (!grid)
        return 0;
    double u = impa_io_unit_m(grid->x_units);
    if (u > 0)
        return fabs(grid->dx * grid->dy) * u * u / 1e6;
    int deg = !strcmp(grid->grid_mapping_name, "latitude_longitude") ||
              !strncasecmp(grid->x_units, "degree", 6);
    if (deg) {
        /* Spherical Earth of mean radius: the cell is a lat/lon box at the centre. */
        const double r = 6371.0088;
        double lat_c = grid->y0 + 0.5 * (grid->ny - 1) * grid->dy;
        return fabs(grid->dx * DEG * r * cos(lat_c * DEG) * grid->dy * DEG * r);
    }
    return fabs(grid->dx * grid->dy); /* unknown units: grid units squared */
}
