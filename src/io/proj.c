/* Map projections through PROJ: CF grid mappings and PROJ strings to PROJ
 * operations, the transforms behind impa_grid_latlon / impa_grid_cell_of, the
 * PROJ-string parser of the ODIM/KNMI readers and the WKT of the archive.
 *
 * Two translations stay here because no library does them in C: CF grid-mapping
 * attributes -> a PROJ string (the table below, the same correspondence as
 * pyproj's CRS.from_cf), and a parsed PROJ CRS -> CF attributes (EPSG method and
 * parameter codes, as pyproj's to_cf). Everything geodetic is PROJ's.
 *
 * Cost: creating a PROJ object takes tens of microseconds, a transform a few
 * hundred nanoseconds. Callers transform point by point (alert outlines, watch
 * region masks over a whole grid), so each thread keeps its PROJ context and the
 * objects of the last few grid mappings it used; a call compares the grid's
 * mapping with the cached copy (a memcmp) and only builds a PROJ object when the
 * mapping is new. PROJ contexts and objects are per thread (PROJ's rule): the
 * cache is thread-local and freed when the thread ends. */
#include "io-impl.h"

#include <math.h>
#include <pthread.h>
#include <proj.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEG (M_PI / 180.0)

/* ---- grid attribute access ---- */

static const impa_grid_attr_t *find_attr(const impa_grid_t *g, const char *name)
{
    for (int i = 0; i < g->n_attrs && i < IMPA_GRID_MAX_ATTRS; i++)
        if (!strcmp(g->attrs[i].name, name))
            return &g->attrs[i];
    return NULL;
}

static int attr_num(const impa_grid_t *g, const char *name, int idx, double *v)
{
    const impa_grid_attr_t *a = find_attr(g, name);
    if (!a || a->is_text || idx >= a->n_values || !isfinite(a->values[idx]))
        return 0;
    *v = a->values[idx];
    return 1;
}

/* ---- CF grid mapping -> PROJ string ---- */

typedef struct {
    const char *cf;   /* CF attribute */
    int idx;          /* value index (standard_parallel has two) */
    const char *proj; /* PROJ parameter */
} cf_param_t;

typedef struct {
    const char *cf_name;
    const char *proj;
    cf_param_t p[6];
} cf_mapping_t;

#define LAT0 {"latitude_of_projection_origin", 0, "lat_0"}
static const cf_mapping_t CF_MAPPINGS[] = {
    {"albers_conical_equal_area", "aea",
     {{"standard_parallel", 0, "lat_1"}, {"standard_parallel", 1, "lat_2"}, LAT0,
      {"longitude_of_central_meridian", 0, "lon_0"}}},
    {"lambert_conformal_conic", "lcc",
     {{"standard_parallel", 0, "lat_1"}, {"standard_parallel", 1, "lat_2"}, LAT0,
      {"longitude_of_central_meridian", 0, "lon_0"}}},
    {"lambert_azimuthal_equal_area", "laea", {LAT0, {"longitude_of_projection_origin", 0, "lon_0"}}},
    {"azimuthal_equidistant", "aeqd", {LAT0, {"longitude_of_projection_origin", 0, "lon_0"}}},
    {"orthographic", "ortho", {LAT0, {"longitude_of_projection_origin", 0, "lon_0"}}},
    {"polar_stereographic", "stere",
     {LAT0, {"straight_vertical_longitude_from_pole", 0, "lon_0"}, {"standard_parallel", 0, "lat_ts"},
      {"scale_factor_at_projection_origin", 0, "k_0"}}},
    {"stereographic", "stere",
     {LAT0, {"longitude_of_projection_origin", 0, "lon_0"}, {"scale_factor_at_projection_origin", 0, "k_0"}}},
    {"transverse_mercator", "tmerc",
     {LAT0, {"longitude_of_central_meridian", 0, "lon_0"}, {"scale_factor_at_central_meridian", 0, "k_0"}}},
    {"mercator", "merc",
     {{"longitude_of_projection_origin", 0, "lon_0"}, {"standard_parallel", 0, "lat_ts"},
      {"scale_factor_at_projection_origin", 0, "k_0"}}},
    {"lambert_cylindrical_equal_area", "cea",
     {{"longitude_of_central_meridian", 0, "lon_0"}, {"standard_parallel", 0, "lat_ts"},
      {"scale_factor_at_projection_origin", 0, "k_0"}}},
    {"sinusoidal", "sinu", {{"longitude_of_projection_origin", 0, "lon_0"}}},
    /* Not oblique_mercator: CF does not say whether the rectified-grid angle is
     * the azimuth (Swiss +proj=somerc) or 0 (pyproj's reading), so such grids go
     * by their PROJ string and the archive's crs_wkt. */
};
#undef LAT0

static int append_s(char *buf, size_t len, size_t *off, const char *text)
{
    size_t n = strlen(text);
    if (n >= len - *off)
        return -1;
    memcpy(buf + *off, text, n + 1);
    *off += n;
    return 0;
}

static int append_param(char *buf, size_t len, size_t *off, const char *name, double v)
{
    int n = snprintf(buf + *off, len - *off, " +%s=%.17g", name, v);
    if (n < 0 || (size_t)n >= len - *off)
        return -1;
    *off += (size_t)n;
    return 0;
}

/* The ellipsoid as CF gives it; WGS84 when the file names none (CF leaves it
 * unspecified) and WGS84's flattening when only the semi-major axis is given. */
static int append_ellipsoid(const impa_grid_t *g, char *buf, size_t len, size_t *off)
{
    double a = 0, b = 0, rf = 0, r = 0;
    int ha = attr_num(g, "semi_major_axis", 0, &a) && a > 0;
    int hb = attr_num(g, "semi_minor_axis", 0, &b) && b > 0;
    int hrf = attr_num(g, "inverse_flattening", 0, &rf) && rf >= 0;
    int hr = attr_num(g, "earth_radius", 0, &r) && r > 0;
    if (!ha && hr)
        return append_param(buf, len, off, "R", r);
    if (!ha)
        return append_s(buf, len, off, " +ellps=WGS84");
    if (append_param(buf, len, off, "a", a))
        return -1;
    if (hb)
        return append_param(buf, len, off, "b", b);
    if (hrf && rf == 0)
        return append_param(buf, len, off, "b", a);
    return append_param(buf, len, off, "rf", hrf ? rf : 298.257223563);
}

/* PROJ string (x/y in metres) of a CF grid mapping. IMPA_ENOTFOUND when the
 * mapping is unknown or lacks a required parameter. */
static int cf_to_proj(const impa_grid_t *g, char *buf, size_t len)
{
    const char *gm = g->grid_mapping_name;
    size_t off = 0;
    double v;
    if (!strcmp(gm, "rotated_latitude_longitude")) {
        double plat, plon, olon = 0;
        if (!attr_num(g, "grid_north_pole_latitude", 0, &plat) || !attr_num(g, "grid_north_pole_longitude", 0, &plon))
            return IMPA_ENOTFOUND;
        attr_num(g, "north_pole_grid_longitude", 0, &olon);
        int n = snprintf(buf, len, "+proj=ob_tran +o_proj=longlat +o_lat_p=%.17g +o_lon_p=%.17g +lon_0=%.17g",
                         plat, olon, 180.0 + plon);
        if (n < 0 || (size_t)n >= len)
            return IMPA_ENOTFOUND;
        off = (size_t)n;
        return append_ellipsoid(g, buf, len, &off) ? IMPA_ENOTFOUND : IMPA_OK;
    }
    const cf_mapping_t *m = NULL;
    for (size_t i = 0; i < sizeof CF_MAPPINGS / sizeof CF_MAPPINGS[0]; i++)
        if (!strcmp(gm, CF_MAPPINGS[i].cf_name))
            m = &CF_MAPPINGS[i];
    if (!m)
        return IMPA_ENOTFOUND;
    int n = snprintf(buf, len, "+proj=%s", m->proj);
    if (n < 0 || (size_t)n >= len)
        return IMPA_ENOTFOUND;
    off = (size_t)n;
    int is_polar = !strcmp(gm, "polar_stereographic");
    for (int i = 0; i < 6 && m->p[i].cf; i++) {
        const cf_param_t *p = &m->p[i];
        if (attr_num(g, p->cf, p->idx, &v)) {
            if (append_param(buf, len, &off, p->proj, v))
                return IMPA_ENOTFOUND;
        } else if (p->idx == 1 && attr_num(g, p->cf, 0, &v)) {
            /* One standard parallel given: PROJ would take 0 for the second. */
            if (append_param(buf, len, &off, p->proj, v))
                return IMPA_ENOTFOUND;
        } else if (is_polar && !strcmp(p->proj, "lat_0") && attr_num(g, "standard_parallel", 0, &v)) {
            /* Variant B names only the standard parallel: the pole is on its side. */
            if (append_param(buf, len, &off, p->proj, v < 0 ? -90.0 : 90.0))
                return IMPA_ENOTFOUND;
        } else if (!strcmp(p->proj, "lat_1") || (is_polar && !strcmp(p->proj, "lat_0"))) {
            return IMPA_ENOTFOUND; /* required */
        }
    }
    if (attr_num(g, "false_easting", 0, &v) && append_param(buf, len, &off, "x_0", v))
        return IMPA_ENOTFOUND;
    if (attr_num(g, "false_northing", 0, &v) && append_param(buf, len, &off, "y_0", v))
        return IMPA_ENOTFOUND;
    if (append_ellipsoid(g, buf, len, &off) || append_s(buf, len, &off, " +units=m"))
        return IMPA_ENOTFOUND;
    return IMPA_OK;
}

/* KNMI writes the ellipsoid axes in km (+a=6378.137), which makes PROJ's x/y km:
 * scale every length of such a string to metres. *unit_m: 1000 then, else 1. */
static void normalise_proj4(const char *in, char *out, size_t len, double *unit_m)
{
    *unit_m = 1;
    const char *pa = strstr(in, "+a=");
    double a = pa ? strtod(pa + 3, NULL) : 0;
    if (!(a > 0 && a < 1e5)) {
        snprintf(out, len, "%s", in);
        return;
    }
    *unit_m = 1000;
    size_t off = 0;
    out[0] = '\0';
    char *copy = strdup(in), *save = NULL;
    if (!copy) {
        snprintf(out, len, "%s", in);
        return;
    }
    for (char *tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        const char *t = tok[0] == '+' ? tok + 1 : tok;
        static const char *const lengths[] = {"a=", "b=", "R=", "x_0=", "y_0="};
        int scaled = 0;
        for (size_t k = 0; k < sizeof lengths / sizeof lengths[0] && !scaled; k++) {
            size_t kl = strlen(lengths[k]);
            if (!strncmp(t, lengths[k], kl)) {
                int n = snprintf(out + off, len - off, "%s+%.*s%.17g", off ? " " : "", (int)kl, t,
                                 strtod(t + kl, NULL) * 1000.0);
                off += n > 0 && (size_t)n < len - off ? (size_t)n : 0;
                scaled = 1;
            }
        }
        if (!scaled) {
            int n = snprintf(out + off, len - off, "%s+%s", off ? " " : "", t);
            off += n > 0 && (size_t)n < len - off ? (size_t)n : 0;
        }
    }
    free(copy);
}

/* ---- per-thread cache of PROJ objects ---- */

#define SLOTS 4
#define DEF_LEN 1024

typedef struct {
    int used;
    unsigned long stamp;
    /* key: the grid's mapping as it was when the slot was made */
    char gm[sizeof ((impa_grid_t *)0)->grid_mapping_name];
    char x_units[sizeof ((impa_grid_t *)0)->x_units];
    int n_attrs;
    impa_grid_attr_t attrs[IMPA_GRID_MAX_ATTRS];
    /* value */
    int rc;             /* IMPA_OK, or IMPA_ENOTFOUND (cached too) */
    int latlon;         /* identity: x = lon, y = lat in degrees */
    char def[DEF_LEN];  /* PROJ string */
    PJ *pj;             /* lon/lat <-> projected */
    double unit_in;     /* grid unit -> PROJ's projected unit (or radians when angular) */
    int angular;        /* PROJ's projected side is angular (ob_tran) */
} slot_t;

typedef struct {
    PJ_CONTEXT *ctx;
    int warm; /* PROJ's database opened (impa_io_proj_init) */
    unsigned long tick;
    slot_t slot[SLOTS];
} cache_t;

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static _Thread_local cache_t *tls_cache; /* also keeps the cache reachable for LeakSanitizer */

static void cache_free(void *p)
{
    cache_t *c = p;
    if (!c)
        return;
    for (int i = 0; i < SLOTS; i++)
        proj_destroy(c->slot[i].pj);
    proj_context_destroy(c->ctx);
    free(c);
}

static void cache_key_init(void)
{
    pthread_key_create(&cache_key, cache_free);
}

static cache_t *cache_get(void)
{
    if (tls_cache)
        return tls_cache;
    pthread_once(&cache_once, cache_key_init);
    cache_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ctx = proj_context_create();
    if (!c->ctx) {
        free(c);
        return NULL;
    }
    proj_log_level(c->ctx, PJ_LOG_NONE); /* library code never prints; errors are returned */
    pthread_setspecific(cache_key, c);
    tls_cache = c;
    return c;
}

static int same_key(const slot_t *s, const impa_grid_t *g)
{
    return s->used && s->n_attrs == g->n_attrs && !strcmp(s->gm, g->grid_mapping_name) &&
           !strcmp(s->x_units, g->x_units) &&
           !memcmp(s->attrs, g->attrs, (size_t)(g->n_attrs > 0 ? g->n_attrs : 0) * sizeof g->attrs[0]);
}

static void set_key(slot_t *s, const impa_grid_t *g)
{
    int n = g->n_attrs < 0 ? 0 : g->n_attrs > IMPA_GRID_MAX_ATTRS ? IMPA_GRID_MAX_ATTRS : g->n_attrs;
    memcpy(s->gm, g->grid_mapping_name, sizeof s->gm);
    memcpy(s->x_units, g->x_units, sizeof s->x_units);
    s->n_attrs = n;
    memcpy(s->attrs, g->attrs, (size_t)n * sizeof g->attrs[0]);
}

/* Metres (or, for angular grids, degrees) per PROJ unit of a PROJ string's x/y. */
static double proj_unit_m(PJ_CONTEXT *ctx, const char *def)
{
    char crs_def[DEF_LEN + 16];
    snprintf(crs_def, sizeof crs_def, "%s +type=crs", def);
    PJ *crs = proj_create(ctx, crs_def);
    double f = 1;
    PJ *cs = crs ? proj_crs_get_coordinate_system(ctx, crs) : NULL;
    if (!cs || !proj_cs_get_axis_info(ctx, cs, 0, NULL, NULL, NULL, &f, NULL, NULL, NULL))
        f = 1;
    proj_destroy(cs);
    proj_destroy(crs);
    return f > 0 ? f : 1;
}

/* Fills slot s for grid g (the key is already set). */
static void slot_build(cache_t *c, slot_t *s, const impa_grid_t *g)
{
    s->rc = IMPA_ENOTFOUND;
    s->latlon = 0;
    s->angular = 0;
    s->def[0] = '\0';
    proj_destroy(s->pj);
    s->pj = NULL;
    if (!strcmp(g->grid_mapping_name, "latitude_longitude")) {
        s->latlon = 1;
        s->rc = IMPA_OK;
        return;
    }
    double proj_unit = 1; /* metres per unit of PROJ's x/y */
    if (g->grid_mapping_name[0]) {
        if (cf_to_proj(g, s->def, sizeof s->def) != IMPA_OK)
            return;
    } else {
        /* No CF mapping but a PROJ string (an ODIM/KNMI projection that has no CF
         * equivalent, e.g. +proj=sterea): PROJ reads it as it is. A grid marked
         * as unplaced (relative coordinates) has no "proj4" attribute. */
        const impa_grid_attr_t *a = find_attr(g, "proj4");
        double unit_m;
        if (!a || !a->is_text || !a->text[0])
            return;
        normalise_proj4(a->text, s->def, sizeof s->def, &unit_m);
        proj_unit = proj_unit_m(c->ctx, s->def);
    }
    s->pj = proj_create(c->ctx, s->def);
    if (!s->pj)
        return;
    /* ob_tran's output is angular (radians) although PROJ does not flag it so */
    s->angular = proj_angular_output(s->pj, PJ_FWD) || strstr(s->def, "+proj=ob_tran") != NULL;
    double gu = impa_io_unit_m(g->x_units);
    if (s->angular) {
        if (strncasecmp(g->x_units, "degree", 6) != 0)
            return; /* rotated-pole grids are in degrees */
        s->unit_in = DEG;
    } else {
        if (!(gu > 0))
            return;
        s->unit_in = gu / proj_unit;
    }
    s->rc = IMPA_OK;
}

static const slot_t *grid_proj(const impa_grid_t *g)
{
    cache_t *c = cache_get();
    if (!c)
        return NULL;
    c->tick++;
    for (int i = 0; i < SLOTS; i++)
        if (same_key(&c->slot[i], g)) {
            c->slot[i].stamp = c->tick;
            return &c->slot[i];
        }
    slot_t *s = &c->slot[0]; /* a free slot, else the least recently used */
    for (int i = 1; i < SLOTS && s->used; i++)
        if (!c->slot[i].used || c->slot[i].stamp < s->stamp)
            s = &c->slot[i];
    set_key(s, g);
    s->used = 1;
    s->stamp = c->tick;
    slot_build(c, s, g);
    return s;
}

void impa_io_proj_init(void)
{
    cache_t *c = cache_get();
    if (c && !c->warm) {
        proj_destroy(proj_create(c->ctx, "+proj=longlat +ellps=WGS84"));
        c->warm = 1;
    }
}

/* ---- public transforms ---- */

int impa_io_project(const impa_grid_t *grid, double lat, double lon, double *x_m, double *y_m)
{
    const slot_t *s = grid_proj(grid);
    if (!s || s->rc != IMPA_OK)
        return IMPA_ENOTFOUND;
    if (s->latlon) {
        *x_m = lon;
        *y_m = lat;
        return IMPA_OK;
    }
    PJ_COORD o = proj_trans(s->pj, PJ_FWD, proj_coord(lon * DEG, lat * DEG, 0, 0));
    if (!isfinite(o.xy.x) || !isfinite(o.xy.y) || o.xy.x == HUGE_VAL)
        return IMPA_ENOTFOUND;
    /* back to metres (angular: degrees) */
    double per_unit = s->angular ? 1.0 / DEG : impa_io_unit_m(grid->x_units) / s->unit_in;
    *x_m = o.xy.x * per_unit;
    *y_m = o.xy.y * per_unit;
    return IMPA_OK;
}

int impa_grid_latlon(const impa_grid_t *grid, double col, double row, double *lat, double *lon)
{
    if (!grid || !lat || !lon)
        return IMPA_EINVAL;
    const slot_t *s = grid_proj(grid);
    if (!s || s->rc != IMPA_OK)
        return IMPA_ENOTFOUND;
    double x = grid->x0 + col * grid->dx, y = grid->y0 + row * grid->dy;
    if (s->latlon) {
        *lat = y;
        *lon = x;
        return IMPA_OK;
    }
    PJ_COORD o = proj_trans(s->pj, PJ_INV, proj_coord(x * s->unit_in, y * s->unit_in, 0, 0));
    if (!isfinite(o.lp.lam) || !isfinite(o.lp.phi) || o.lp.lam == HUGE_VAL)
        return IMPA_ENOTFOUND;
    *lat = o.lp.phi / DEG;
    *lon = remainder(o.lp.lam / DEG, 360.0);
    return IMPA_OK;
}

int impa_grid_cell_of(const impa_grid_t *grid, double lat, double lon, double *col, double *row)
{
    if (!grid || !col || !row || grid->dx == 0 || grid->dy == 0)
        return IMPA_EINVAL;
    const slot_t *s = grid_proj(grid);
    if (!s || s->rc != IMPA_OK)
        return IMPA_ENOTFOUND;
    double x = lon, y = lat;
    if (!s->latlon) {
        PJ_COORD o = proj_trans(s->pj, PJ_FWD, proj_coord(lon * DEG, lat * DEG, 0, 0));
        if (!isfinite(o.xy.x) || !isfinite(o.xy.y) || o.xy.x == HUGE_VAL)
            return IMPA_ENOTFOUND;
        x = o.xy.x / s->unit_in;
        y = o.xy.y / s->unit_in;
    }
    *col = (x - grid->x0) / grid->dx;
    *row = (y - grid->y0) / grid->dy;
    return IMPA_OK;
}

int impa_io_grid_wkt(const impa_grid_t *grid, char **wkt)
{
    *wkt = NULL;
    const slot_t *s = grid_proj(grid);
    cache_t *c = cache_get();
    if (!s || !c || s->rc != IMPA_OK)
        return IMPA_ENOTFOUND;
    char def[DEF_LEN + 16];
    if (s->latlon) {
        size_t off = 0;
        snprintf(def, sizeof def, "+proj=longlat");
        off = strlen(def);
        if (append_ellipsoid(grid, def, sizeof def, &off))
            return IMPA_ENOTFOUND;
    } else {
        snprintf(def, sizeof def, "%s", s->def);
    }
    strncat(def, " +type=crs", sizeof def - strlen(def) - 1);
    PJ *crs = proj_create(c->ctx, def);
    const char *opts[] = {"MULTILINE=NO", NULL};
    const char *w = crs ? proj_as_wkt(c->ctx, crs, PJ_WKT2_2019, opts) : NULL;
    if (w)
        *wkt = strdup(w);
    proj_destroy(crs);
    return *wkt ? IMPA_OK : IMPA_ENOTFOUND;
}

/* ---- PROJ string -> CF grid mapping (ODIM projdef, KNMI proj4 params) ---- */

typedef struct {
    const char *cf;
    int code; /* EPSG parameter code */
    int idx;
} epsg_param_t;

typedef struct {
    int method;        /* EPSG method code, 0: matched by name */
    const char *name;  /* PROJ method name when it has no EPSG code */
    const char *cf_name;
    epsg_param_t p[7];
} epsg_mapping_t;

#define FE_FN {"false_easting", 8806, 0}, {"false_northing", 8807, 0}
static const epsg_mapping_t EPSG_MAPPINGS[] = {
    {9822, NULL, "albers_conical_equal_area",
     {{"standard_parallel", 8823, 0}, {"standard_parallel", 8824, 1}, {"latitude_of_projection_origin", 8821, 0},
      {"longitude_of_central_meridian", 8822, 0}, {"false_easting", 8826, 0}, {"false_northing", 8827, 0}}},
    {9802, NULL, "lambert_conformal_conic",
     {{"standard_parallel", 8823, 0}, {"standard_parallel", 8824, 1}, {"latitude_of_projection_origin", 8821, 0},
      {"longitude_of_central_meridian", 8822, 0}, {"false_easting", 8826, 0}, {"false_northing", 8827, 0}}},
    {9801, NULL, "lambert_conformal_conic", /* 1SP with scale 1 (checked below) */
     {{"standard_parallel", 8801, 0}, {"latitude_of_projection_origin", 8801, 0},
      {"longitude_of_central_meridian", 8802, 0}, FE_FN}},
    {9820, NULL, "lambert_azimuthal_equal_area",
     {{"latitude_of_projection_origin", 8801, 0}, {"longitude_of_projection_origin", 8802, 0}, FE_FN}},
    {1027, NULL, "lambert_azimuthal_equal_area", /* spherical form */
     {{"latitude_of_projection_origin", 8801, 0}, {"longitude_of_projection_origin", 8802, 0}, FE_FN}},
    {9810, NULL, "polar_stereographic",
     {{"latitude_of_projection_origin", 8801, 0}, {"straight_vertical_longitude_from_pole", 8802, 0},
      {"scale_factor_at_projection_origin", 8805, 0}, FE_FN}},
    {9829, NULL, "polar_stereographic",
     {{"standard_parallel", 8832, 0}, {"straight_vertical_longitude_from_pole", 8833, 0}, FE_FN}},
    {0, "Stereographic", "stereographic",
     {{"latitude_of_projection_origin", 8801, 0}, {"longitude_of_projection_origin", 8802, 0},
      {"scale_factor_at_projection_origin", 8805, 0}, FE_FN}},
    {9807, NULL, "transverse_mercator",
     {{"latitude_of_projection_origin", 8801, 0}, {"longitude_of_central_meridian", 8802, 0},
      {"scale_factor_at_central_meridian", 8805, 0}, FE_FN}},
    {9804, NULL, "mercator",
     {{"longitude_of_projection_origin", 8802, 0}, {"scale_factor_at_projection_origin", 8805, 0}, FE_FN}},
    {9805, NULL, "mercator",
     {{"standard_parallel", 8823, 0}, {"longitude_of_projection_origin", 8802, 0}, FE_FN}},
};
#undef FE_FN

/* Value of EPSG parameter `code` of operation op in degrees, metres or unity. */
static int op_param(PJ_CONTEXT *ctx, PJ *op, int code, double *v)
{
    int n = proj_coordoperation_get_param_count(ctx, op);
    for (int i = 0; i < n; i++) {
        const char *auth = NULL, *pcode = NULL, *cat = NULL;
        double value = 0, conv = 1;
        if (!proj_coordoperation_get_param(ctx, op, i, NULL, &auth, &pcode, &value, NULL, &conv, NULL, NULL, NULL,
                                           &cat))
            continue;
        if (!pcode || atoi(pcode) != code)
            continue;
        /* degrees, metres and unity as given (no rounding through radians) */
        if (cat && !strcmp(cat, "angular"))
            *v = fabs(conv - DEG) < 1e-15 ? value : value * conv / DEG;
        else
            *v = conv == 1 ? value : value * conv;
        return 1;
    }
    return 0;
}

/* Sets the CF attributes of a projected CRS on g. 0 or IMPA_ENOTFOUND. */
static int crs_to_cf(PJ_CONTEXT *ctx, PJ *crs, impa_grid_t *g)
{
    PJ *op = proj_crs_get_coordoperation(ctx, crs);
    if (!op)
        return IMPA_ENOTFOUND;
    const char *mname = NULL, *mcode = NULL;
    proj_coordoperation_get_method_info(ctx, op, &mname, NULL, &mcode);
    int code = mcode ? atoi(mcode) : 0;
    const epsg_mapping_t *m = NULL;
    for (size_t i = 0; i < sizeof EPSG_MAPPINGS / sizeof EPSG_MAPPINGS[0] && !m; i++)
        if ((EPSG_MAPPINGS[i].method && EPSG_MAPPINGS[i].method == code) ||
            (!EPSG_MAPPINGS[i].method && mname && !strcmp(EPSG_MAPPINGS[i].name, mname)))
            m = &EPSG_MAPPINGS[i];
    double k = 1;
    if (m && m->method == 9801 && op_param(ctx, op, 8805, &k) && fabs(k - 1) > 1e-12)
        m = NULL; /* CF's one-parallel Lambert conformal has scale 1 */
    int rc = IMPA_ENOTFOUND;
    if (m) {
        impa_grid_t t = *g; /* all or nothing */
        double vals[2][2] = {{0}};
        int nvals[2] = {0, 0};
        rc = IMPA_OK;
        impa_io_grid_set_text(&t, "grid_mapping_name", m->cf_name);
        for (int i = 0; i < 7 && m->p[i].cf && rc == IMPA_OK; i++) {
            double v;
            if (!op_param(ctx, op, m->p[i].code, &v)) {
                rc = IMPA_ENOTFOUND;
                break;
            }
            if (!strcmp(m->p[i].cf, "standard_parallel")) {
                vals[0][m->p[i].idx] = v;
                nvals[0] = m->p[i].idx + 1 > nvals[0] ? m->p[i].idx + 1 : nvals[0];
            } else {
                impa_io_grid_set_doubles(&t, m->p[i].cf, &v, 1);
            }
        }
        if (nvals[0])
            impa_io_grid_set_doubles(&t, "standard_parallel", vals[0], nvals[0]);
        if (rc == IMPA_OK && m->method == 9829) {
            double lat0 = vals[0][0] < 0 ? -90 : 90;
            impa_io_grid_set_doubles(&t, "latitude_of_projection_origin", &lat0, 1);
        }
        if (rc == IMPA_OK)
            *g = t;
    }
    proj_destroy(op);
    return rc;
}

/* Ellipsoid of a CRS as CF attributes (earth_radius for a sphere). */
static void ellipsoid_to_cf(PJ_CONTEXT *ctx, PJ *crs, impa_grid_t *g)
{
    PJ *e = proj_get_ellipsoid(ctx, crs);
    double a = 0, b = 0, rf = 0;
    int computed = 0; /* semi-minor axis computed from 1/f */
    if (e && proj_ellipsoid_get_parameters(ctx, e, &a, &b, &computed, &rf) && a > 0) {
        if (fabs(a - b) < 1e-9 * a) {
            impa_io_grid_set_doubles(g, "earth_radius", &a, 1);
        } else {
            impa_io_grid_set_doubles(g, "semi_major_axis", &a, 1);
            if (computed && rf > 0) /* defined by a and 1/f (WGS84, GRS80, ...) */
                impa_io_grid_set_doubles(g, "inverse_flattening", &rf, 1);
            else
                impa_io_grid_set_doubles(g, "semi_minor_axis", &b, 1);
        }
    }
    proj_destroy(e);
}

int impa_io_grid_from_proj4(impa_grid_t *g, const char *s, double *unit_m)
{
    *unit_m = 1.0;
    impa_io_grid_set_text(g, "proj4", s);
    cache_t *c = cache_get();
    if (!c)
        return IMPA_ENOTFOUND;
    char def[DEF_LEN];
    normalise_proj4(s, def, sizeof def - 16, unit_m);
    strncat(def, " +type=crs", sizeof def - strlen(def) - 1);
    PJ *crs = proj_create(c->ctx, def);
    if (!crs)
        return IMPA_ENOTFOUND;
    int rc = IMPA_ENOTFOUND;
    PJ_TYPE type = proj_get_type(crs);
    if (type == PJ_TYPE_GEOGRAPHIC_2D_CRS || type == PJ_TYPE_GEOGRAPHIC_3D_CRS) {
        impa_io_grid_set_text(g, "grid_mapping_name", "latitude_longitude");
        rc = IMPA_OK;
    } else if (proj_is_crs(crs)) {
        rc = crs_to_cf(c->ctx, crs, g);
        if (rc != IMPA_OK) {
            /* PROJ knows it, CF has no name for it: impa_grid_latlon uses the
             * PROJ string itself. */
            rc = IMPA_OK;
        }
    }
    if (rc == IMPA_OK) {
        ellipsoid_to_cf(c->ctx, crs, g);
        PJ *cs = proj_crs_get_coordinate_system(c->ctx, crs);
        double f = 0;
        if (cs && proj_cs_get_axis_info(c->ctx, cs, 0, NULL, NULL, NULL, &f, NULL, NULL, NULL) && f > 0 &&
            type != PJ_TYPE_GEOGRAPHIC_2D_CRS && type != PJ_TYPE_GEOGRAPHIC_3D_CRS)
            *unit_m *= f;
        proj_destroy(cs);
    }
    proj_destroy(crs);
    return rc;
}
