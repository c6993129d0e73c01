/* NetCDF attribute helpers and PROJ.4 -> CF grid-mapping translation. */
#include "io-impl.h"

#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void rtrim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

int impa_io_att_text(int ncid, int varid, const char *name, char *buf, size_t len)
{
    nc_type t;
    size_t n;
    if (len == 0 || nc_inq_att(ncid, varid, name, &t, &n) != NC_NOERR)
        return IMPA_ENOTFOUND;
    buf[0] = '\0';
    if (t == NC_CHAR) {
        char *tmp = malloc(n + 1);
        if (!tmp)
            return IMPA_ENOMEM;
        if (nc_get_att_text(ncid, varid, name, tmp) != NC_NOERR) {
            free(tmp);
            return IMPA_ENOTFOUND;
        }
        tmp[n] = '\0';
        snprintf(buf, len, "%s", tmp); /* stops at an embedded NUL (fixed-length HDF5 strings) */
        free(tmp);
    } else if (t == NC_STRING) {
        if (n < 1)
            return IMPA_ENOTFOUND;
        char **v = calloc(n, sizeof *v);
        if (!v)
            return IMPA_ENOMEM;
        if (nc_get_att_string(ncid, varid, name, v) != NC_NOERR) {
            free(v);
            return IMPA_ENOTFOUND;
        }
        snprintf(buf, len, "%s", v[0] ? v[0] : "");
        nc_free_string(n, v);
        free(v);
    } else {
        return IMPA_ENOTFOUND;
    }
    rtrim(buf);
    return IMPA_OK;
}

int impa_io_att_doubles(int ncid, int varid, const char *name, double *vals, int max, int *n)
{
    nc_type t;
    size_t len;
    *n = 0;
    if (max <= 0 || nc_inq_att(ncid, varid, name, &t, &len) != NC_NOERR || len == 0)
        return IMPA_ENOTFOUND;
    if (t == NC_CHAR || t == NC_STRING) {
        char buf[256], *end;
        if (impa_io_att_text(ncid, varid, name, buf, sizeof buf) != IMPA_OK)
            return IMPA_ENOTFOUND;
        double v = strtod(buf, &end);
        if (end == buf)
            return IMPA_ENOTFOUND;
        vals[0] = v;
        *n = 1;
        return IMPA_OK;
    }
    if (t > NC_DOUBLE && !(t >= NC_UBYTE && t <= NC_UINT64))
        return IMPA_ENOTFOUND;
    double *tmp = malloc(len * sizeof *tmp);
    if (!tmp)
        return IMPA_ENOMEM;
    if (nc_get_att_double(ncid, varid, name, tmp) != NC_NOERR) {
        free(tmp);
        return IMPA_ENOTFOUND;
    }
    for (size_t i = 0; i < len && (int)i < max; i++)
        vals[(*n)++] = tmp[i];
    free(tmp);
    return IMPA_OK;
}

double impa_io_att_double(int ncid, int varid, const char *name, double dflt, int *found)
{
    double v;
    int n;
    int ok = impa_io_att_doubles(ncid, varid, name, &v, 1, &n) == IMPA_OK && n == 1;
    if (found)
        *found = ok;
    return ok ? v : dflt;
}

static impa_grid_attr_t *slot(impa_grid_t *g, const char *name)
{
    for (int i = 0; i < g->n_attrs; i++)
        if (!strcmp(g->attrs[i].name, name))
            return &g->attrs[i];
    if (g->n_attrs >= IMPA_GRID_MAX_ATTRS)
        return NULL;
    impa_grid_attr_t *a = &g->attrs[g->n_attrs++];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    return a;
}

void impa_io_grid_set_text(impa_grid_t *g, const char *name, const char *text)
{
    impa_grid_attr_t *a = slot(g, name);
    if (!a)
        return;
    a->is_text = 1;
    a->n_values = 0;
    snprintf(a->text, sizeof a->text, "%s", text);
    if (!strcmp(name, "grid_mapping_name"))
        snprintf(g->grid_mapping_name, sizeof g->grid_mapping_name, "%s", text);
}

void impa_io_grid_set_doubles(impa_grid_t *g, const char *name, const double *v, int n)
{
    impa_grid_attr_t *a = slot(g, name);
    if (!a)
        return;
    a->is_text = 0;
    a->text[0] = '\0';
    a->n_values = n > 4 ? 4 : n;
    for (int i = 0; i < a->n_values; i++)
        a->values[i] = v[i];
}

void impa_io_copy_grid_mapping(int ncid, int varid, impa_grid_t *grid)
{
    int natts = 0;
    if (nc_inq_varnatts(ncid, varid, &natts) != NC_NOERR)
        return;
    for (int i = 0; i < natts; i++) {
        char name[NC_MAX_NAME + 1];
        nc_type t;
        size_t len;
        if (nc_inq_attname(ncid, varid, i, name) != NC_NOERR ||
            nc_inq_att(ncid, varid, name, &t, &len) != NC_NOERR || strlen(name) >= 64)
            continue;
        if (t == NC_CHAR || t == NC_STRING) {
            char buf[256];
            if (impa_io_att_text(ncid, varid, name, buf, sizeof buf) == IMPA_OK)
                impa_io_grid_set_text(grid, name, buf);
        } else {
            double v[4];
            int n;
            if (impa_io_att_doubles(ncid, varid, name, v, 4, &n) == IMPA_OK)
                impa_io_grid_set_doubles(grid, name, v, n);
        }
    }
}

/* Value of +key=... in a PROJ.4 string; 1 when present. */
static int proj_param(const char *s, const char *key, char *val, size_t len)
{
    size_t kl = strlen(key);
    for (const char *p = s; (p = strchr(p, '+')) != NULL; p++) {
        if (strncmp(p + 1, key, kl) == 0 && (p[1 + kl] == '=' || p[1 + kl] == ' ' || p[1 + kl] == '\0')) {
            const char *v = p + 1 + kl;
            if (*v == '=')
                v++;
            size_t n = strcspn(v, " \t");
            if (n >= len)
                n = len - 1;
            memcpy(val, v, n);
            val[n] = '\0';
            return 1;
        }
    }
    return 0;
}

static double proj_num(const char *s, const char *key, double dflt)
{
    char v[64];
    if (!proj_param(s, key, v, sizeof v))
        return dflt;
    char *end;
    double d = strtod(v, &end);
    return end == v ? dflt : d;
}

int impa_io_grid_from_proj4(impa_grid_t *g, const char *s, double *unit_m)
{
    char pj[32] = "", v[64];
    *unit_m = 1.0;
    impa_io_grid_set_text(g, "proj4", s);
    if (!proj_param(s, "proj", pj, sizeof pj))
        return IMPA_ENOTFOUND;
    /* Ellipsoid: explicit axes win over +ellps. KNMI writes +a/+b in km, which
     * makes the projected units km: detect an axis below 1e5 as km. */
    double a = proj_num(s, "a", NAN), b = proj_num(s, "b", NAN), rf = proj_num(s, "rf", NAN);
    double R = proj_num(s, "R", NAN);
    if (isnan(a) && proj_param(s, "ellps", v, sizeof v)) {
        if (!strcmp(v, "WGS84")) { a = 6378137.0; rf = 298.257223563; }
        else if (!strcmp(v, "GRS80")) { a = 6378137.0; rf = 298.257222101; }
        else if (!strcmp(v, "intl")) { a = 6378388.0; rf = 297.0; }
        else if (!strcmp(v, "bessel")) { a = 6377397.155; rf = 299.1528128; }
        else if (!strcmp(v, "sphere")) { R = 6370997.0; }
    }
    if (isnan(a) && !isnan(R))
        a = R, rf = 0;
    double unit = 1.0;
    if (proj_param(s, "units", v, sizeof v) && !strcmp(v, "km"))
        unit = 1000.0;
    if (!isnan(a) && a < 1e5) {
        unit = 1000.0;
        a *= 1000.0;
        if (!isnan(b))
            b *= 1000.0;
    }
    *unit_m = unit;

    double lat0 = proj_num(s, "lat_0", 0), lon0 = proj_num(s, "lon_0", 0);
    double fe = proj_num(s, "x_0", 0);
    double fn = proj_num(s, "y_0", 0);
    double one;
    if (!strcmp(pj, "aea")) {
        double sp[2] = {proj_num(s, "lat_1", 0), proj_num(s, "lat_2", proj_num(s, "lat_1", 0))};
        impa_io_grid_set_text(g, "grid_mapping_name", "albers_conical_equal_area");
        impa_io_grid_set_doubles(g, "standard_parallel", sp, 2);
        impa_io_grid_set_doubles(g, "longitude_of_central_meridian", &lon0, 1);
        impa_io_grid_set_doubles(g, "latitude_of_projection_origin", &lat0, 1);
    } else if (!strcmp(pj, "stere") && fabs(fabs(lat0) - 90) < 1e-9) {
        impa_io_grid_set_text(g, "grid_mapping_name", "polar_stereographic");
        impa_io_grid_set_doubles(g, "straight_vertical_longitude_from_pole", &lon0, 1);
        impa_io_grid_set_doubles(g, "latitude_of_projection_origin", &lat0, 1);
        if (proj_param(s, "lat_ts", v, sizeof v)) {
            one = proj_num(s, "lat_ts", lat0);
            impa_io_grid_set_doubles(g, "standard_parallel", &one, 1);
        } else {
            one = proj_num(s, "k_0", proj_num(s, "k", 1.0));
            impa_io_grid_set_doubles(g, "scale_factor_at_projection_origin", &one, 1);
        }
    } else if (!strcmp(pj, "stere") || !strcmp(pj, "sterea")) {
        impa_io_grid_set_text(g, "grid_mapping_name", "stereographic");
        impa_io_grid_set_doubles(g, "longitude_of_projection_origin", &lon0, 1);
        impa_io_grid_set_doubles(g, "latitude_of_projection_origin", &lat0, 1);
        one = proj_num(s, "k_0", proj_num(s, "k", 1.0));
        impa_io_grid_set_doubles(g, "scale_factor_at_projection_origin", &one, 1);
    } else if (!strcmp(pj, "laea")) {
        impa_io_grid_set_text(g, "grid_mapping_name", "lambert_azimuthal_equal_area");
        impa_io_grid_set_doubles(g, "longitude_of_projection_origin", &lon0, 1);
        impa_io_grid_set_doubles(g, "latitude_of_projection_origin", &lat0, 1);
    } else if (!strcmp(pj, "tmerc") || !strcmp(pj, "utm")) {
        if (!strcmp(pj, "utm")) {
            double zone = proj_num(s, "zone", 0);
            lon0 = zone * 6 - 183;
            lat0 = 0;
            fe = 500000.0 / unit;
            fn = (proj_param(s, "south", v, sizeof v) ? 10000000.0 : 0) / unit;
            one = 0.9996;
        } else {
            one = proj_num(s, "k_0", proj_num(s, "k", 1.0));
        }
        impa_io_grid_set_text(g, "grid_mapping_name", "transverse_mercator");
        impa_io_grid_set_doubles(g, "longitude_of_central_meridian", &lon0, 1);
        impa_io_grid_set_doubles(g, "latitude_of_projection_origin", &lat0, 1);
        impa_io_grid_set_doubles(g, "scale_factor_at_central_meridian", &one, 1);
    } else if (!strcmp(pj, "longlat") || !strcmp(pj, "latlong") || !strcmp(pj, "lonlat")) {
        impa_io_grid_set_text(g, "grid_mapping_name", "latitude_longitude");
    } else {
        return IMPA_ENOTFOUND;
    }
    /* False origin in metres, whatever unit the proj string's axes used. */
    fe *= unit;
    fn *= unit;
    if (fe != 0 || strcmp(pj, "longlat"))
        impa_io_grid_set_doubles(g, "false_easting", &fe, 1);
    if (fn != 0 || strcmp(pj, "longlat"))
        impa_io_grid_set_doubles(g, "false_northing", &fn, 1);
    if (!isnan(a)) {
        impa_io_grid_set_doubles(g, "semi_major_axis", &a, 1);
        if (!isnan(b))
            impa_io_grid_set_doubles(g, "semi_minor_axis", &b, 1);
        else if (!isnan(rf))
            impa_io_grid_set_doubles(g, "inverse_flattening", &rf, 1);
    }
    return IMPA_OK;
}
