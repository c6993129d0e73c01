/* ODIM_H5 composites and KNMI HDF5 images, both read through libnetcdf's HDF5
 * support (group attributes are NetCDF attributes, datasets are variables with
 * phony dimensions).
 *
 * ODIM: /what (date, time), /where (projdef, xsize, ysize, xscale, yscale, corner
 * lon/lat), /dataset1/what (startdate, starttime, enddate, endtime),
 * /dataset1/dataN/what (quantity, gain, offset, nodata, undetect), dataN/data.
 * Rows run north to south (first row = top), as in ODIM. */
#include "io-impl.h"

#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "impa/timeutil.h"

static int subgroup(int ncid, const char *name)
{
    int g;
    return nc_inq_grp_ncid(ncid, name, &g) == NC_NOERR ? g : -1;
}

/* "YYYYMMDD" + "HHMMSS" -> epoch seconds. */
static int odim_time(const char *date, const char *hms, int64_t *t)
{
    char iso[40];
    if (strlen(date) < 8 || strlen(hms) < 4)
        return IMPA_EINVAL;
    snprintf(iso, sizeof iso, "%.4s-%.2s-%.2sT%.2s:%.2s:%.2s", date, date + 4, date + 6, hms, hms + 2,
             strlen(hms) >= 6 ? hms + 4 : "00");
    return impa_time_parse_iso(iso, t);
}

static int group_time(int g, const char *dkey, const char *tkey, int64_t *t)
{
    char d[32], h[32];
    if (g < 0 || impa_io_att_text(g, NC_GLOBAL, dkey, d, sizeof d) ||
        impa_io_att_text(g, NC_GLOBAL, tkey, h, sizeof h))
        return IMPA_ENOTFOUND;
    return odim_time(d, h, t);
}

/* Sets x0/y0/dx/dy from the proj string and corner lon/lat; relative coordinates
 * (origin at the lower-left corner) when the projection or corners are unusable,
 * and then no grid_mapping_name so impa_grid_latlon says it cannot. */
static void corner_grid(impa_grid_t *g, const char *projdef, double xs_m, double ys_m, int have_ul,
                        double ul_lon, double ul_lat, int have_ll_ur, double ll_lon, double ll_lat,
                        double ur_lon, double ur_lat)
{
    double unit = 1.0;
    snprintf(g->x_units, sizeof g->x_units, "m");
    g->dx = xs_m;
    g->dy = -ys_m;
    g->x0 = 0.5 * xs_m;
    g->y0 = (g->ny - 0.5) * ys_m;
    if (!projdef || !projdef[0] || impa_io_grid_from_proj4(g, projdef, &unit) != IMPA_OK) {
        g->grid_mapping_name[0] = '\0';
        return;
    }
    if (!strcmp(g->grid_mapping_name, "latitude_longitude"))
        snprintf(g->x_units, sizeof g->x_units, "degrees"); /* xscale/yscale are degrees then */
    double x, y, x2, y2;
    if (have_ul && impa_io_project(g, ul_lat, ul_lon, &x, &y) == IMPA_OK) {
        g->x0 = x + 0.5 * xs_m;
        g->y0 = y - 0.5 * ys_m;
    } else if (have_ll_ur && impa_io_project(g, ll_lat, ll_lon, &x, &y) == IMPA_OK &&
               impa_io_project(g, ur_lat, ur_lon, &x2, &y2) == IMPA_OK) {
        g->x0 = x + 0.5 * xs_m;
        g->y0 = y2 - 0.5 * ys_m;
    } else {
        g->grid_mapping_name[0] = '\0';
        for (int i = 0; i < g->n_attrs; i++)
            if (!strcmp(g->attrs[i].name, "grid_mapping_name"))
                g->attrs[i].text[0] = '\0';
    }
}

/* Reads variable v (2-D, ny x nx) row by row and maps raw values through fn. */
typedef struct {
    double gain, offset, nodata, undetect;
    int has_nodata, has_undetect, has_nodata2;
    double nodata2;
    int q;              /* 1 dBZ, 2 rate mm/h, 3 amount mm */
    double to_rate;     /* amount mm -> mm/h */
    double a, b;
} odim_map_t;

static int read_rows(int ncid, int v, const char *path, const char *what, const odim_map_t *m,
                     impa_scan_t *scan, char *err, size_t errlen)
{
    size_t nx = (size_t)scan->grid.nx, ny = (size_t)scan->grid.ny;
    double *row = malloc(nx * sizeof *row);
    if (!row)
        return impa_err(err, errlen, IMPA_ENOMEM, "%s: no memory for a row", path);
    for (size_t r = 0; r < ny; r++) {
        size_t start[2] = {r, 0}, count[2] = {1, nx};
        int nrc = nc_get_vara_double(ncid, v, start, count, row);
        if (nrc != NC_NOERR && nrc != NC_ERANGE) {
            free(row);
            return impa_err(err, errlen, IMPA_EFORMAT, "%s: reading %s row %zu failed (truncated or corrupt?): %s",
                            path, what, r, nc_strerror(nrc));
        }
        float *out = scan->dbz + r * nx;
        for (size_t c = 0; c < nx; c++) {
            double raw = row[c];
            if (!isfinite(raw) || (m->has_nodata && raw == m->nodata) || (m->has_nodata2 && raw == m->nodata2)) {
                out[c] = NAN;
                continue;
            }
            if (m->has_undetect && raw == m->undetect) {
                out[c] = IMPA_DBZ_NO_ECHO;
                continue;
            }
            double val = raw * m->gain + m->offset;
            if (m->q == 1)
                out[c] = !isfinite(val) ? NAN : val < IMPA_DBZ_NO_ECHO ? IMPA_DBZ_NO_ECHO : (float)val;
            else
                out[c] = impa_io_rate_to_dbz(m->q == 2 ? val : val * m->to_rate, m->a, m->b);
        }
    }
    free(row);
    return IMPA_OK;
}

static int data_dims(int ncid, int v, const char *path, const char *what, size_t *ny, size_t *nx, char *err,
                     size_t errlen)
{
    int nd = -1, dims[NC_MAX_VAR_DIMS];
    if (nc_inq_varndims(ncid, v, &nd) != NC_NOERR || nd != 2)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: %s is not 2-D (%d dims)", path, what, nd);
    nc_inq_vardimid(ncid, v, dims);
    nc_inq_dimlen(ncid, dims[0], ny);
    nc_inq_dimlen(ncid, dims[1], nx);
    if (*nx == 0 || *ny == 0 || *nx > IMPA_IO_MAX_SIDE || *ny > IMPA_IO_MAX_SIDE)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: %s is %zux%zu (refused: 1..%d a side)", path, what, *ny,
                        *nx, IMPA_IO_MAX_SIDE);
    return IMPA_OK;
}

int impa_io_read_odim(int ncid, const char *path, const impa_reader_opts_t *opts, impa_scan_t *scan,
                      char *err, size_t errlen)
{
    static const char *const pref[] = {"DBZH", "TH", "DBZV", "TV", "RATE", "ACRR"};
    int gwhat = subgroup(ncid, "what"), gwhere = subgroup(ncid, "where"), gds = subgroup(ncid, "dataset1");
    if (gds < 0)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: ODIM file without /dataset1", path);
    int dswhat = subgroup(gds, "what");
    int best_g = -1, best_rank = 99, best_n = 0;
    char qty[32] = "", buf[256];
    for (int n = 1; n <= 32; n++) {
        char nm[16];
        snprintf(nm, sizeof nm, "data%d", n);
        int gd = subgroup(gds, nm);
        if (gd < 0)
            continue;
        int gw = subgroup(gd, "what");
        if (gw < 0 || impa_io_att_text(gw, NC_GLOBAL, "quantity", buf, sizeof buf))
            continue;
        for (int k = 0; k < (int)(sizeof pref / sizeof pref[0]); k++)
            if (!strcmp(buf, pref[k]) && k < best_rank) {
                best_rank = k;
                best_g = gd;
                best_n = n;
                snprintf(qty, sizeof qty, "%s", pref[k]);
            }
    }
    if (best_g < 0)
        return impa_err(err, errlen, IMPA_ENOTFOUND,
                        "%s: no dataset1/dataN with quantity DBZH, TH, DBZV, TV, RATE or ACRR", path);
    char what[64];
    snprintf(what, sizeof what, "dataset1/data%d", best_n);
    int v;
    if (nc_inq_varid(best_g, "data", &v) != NC_NOERR)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: %s has no 'data' dataset", path, what);
    size_t ny, nx;
    int rc = data_dims(best_g, v, path, what, &ny, &nx, err, errlen);
    if (rc)
        return rc;

    /* Calibration: dataN/what, falling back to dataset1/what then /what. */
    int gw = subgroup(best_g, "what");
    const int src[3] = {gw, dswhat, gwhat};
    odim_map_t m = {.gain = 1, .offset = 0, .a = opts->zr_a, .b = opts->zr_b};
    int fg = 0, fo = 0;
    for (int i = 0; i < 3; i++) {
        if (src[i] < 0)
            continue;
        int f;
        double x;
        if (!fg && (x = impa_io_att_double(src[i], NC_GLOBAL, "gain", 0, &f), f)) { m.gain = x; fg = 1; }
        if (!fo && (x = impa_io_att_double(src[i], NC_GLOBAL, "offset", 0, &f), f)) { m.offset = x; fo = 1; }
        if (!m.has_nodata && (x = impa_io_att_double(src[i], NC_GLOBAL, "nodata", 0, &f), f)) {
            m.nodata = x;
            m.has_nodata = 1;
        }
        if (!m.has_undetect && (x = impa_io_att_double(src[i], NC_GLOBAL, "undetect", 0, &f), f)) {
            m.undetect = x;
            m.has_undetect = 1;
        }
    }
    if (m.gain == 0)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: %s has gain 0", path, what);

    /* Time: nominal /what date+time; for accumulations the end of the interval. */
    int64_t t = 0, t0 = 0, t1 = 0;
    int have_t = group_time(gwhat, "date", "time", &t) == IMPA_OK;
    int have_t1 = group_time(dswhat, "enddate", "endtime", &t1) == IMPA_OK;
    int have_t0 = group_time(dswhat, "startdate", "starttime", &t0) == IMPA_OK;
    const char *quantity;
    if (!strcmp(qty, "ACRR")) {
        m.q = 3;
        quantity = "accumulation";
        if (have_t1)
            t = t1, have_t = 1;
        double period = have_t0 && have_t1 && t1 > t0 ? (double)(t1 - t0) : opts->accum_period_s;
        if (!(period > 0))
            return impa_err(err, errlen, IMPA_EFORMAT,
                            "%s: ACRR without start/end times and no configured accumulation period", path);
        m.to_rate = 3600.0 / period;
    } else if (!strcmp(qty, "RATE")) {
        m.q = 2;
        quantity = "rainfall_rate";
    } else {
        m.q = 1;
        quantity = "reflectivity";
    }
    if (!have_t && have_t1)
        t = t1, have_t = 1;
    if (!have_t)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: no time (what/date+time or dataset1/what/enddate+endtime)",
                        path);

    impa_grid_t g;
    memset(&g, 0, sizeof g);
    g.nx = (int)nx;
    g.ny = (int)ny;
    double xs = 1000, ys = 1000;
    char projdef[256] = "";
    double ul_lon = 0, ul_lat = 0, ll_lon = 0, ll_lat = 0, ur_lon = 0, ur_lat = 0;
    int have_ul = 0, have_llur = 0;
    if (gwhere >= 0) {
        int f1, f2, f3, f4;
        double sx = impa_io_att_double(gwhere, NC_GLOBAL, "xsize", 0, &f1);
        double sy = impa_io_att_double(gwhere, NC_GLOBAL, "ysize", 0, &f2);
        if (f1 && f2 && ((size_t)sx != nx || (size_t)sy != ny))
            return impa_err(err, errlen, IMPA_EFORMAT, "%s: where/xsize,ysize %gx%g but %s is %zux%zu", path, sx,
                            sy, what, nx, ny);
        xs = impa_io_att_double(gwhere, NC_GLOBAL, "xscale", 1000, NULL);
        ys = impa_io_att_double(gwhere, NC_GLOBAL, "yscale", 1000, NULL);
        impa_io_att_text(gwhere, NC_GLOBAL, "projdef", projdef, sizeof projdef);
        ul_lon = impa_io_att_double(gwhere, NC_GLOBAL, "UL_lon", 0, &f1);
        ul_lat = impa_io_att_double(gwhere, NC_GLOBAL, "UL_lat", 0, &f2);
        have_ul = f1 && f2;
        ll_lon = impa_io_att_double(gwhere, NC_GLOBAL, "LL_lon", 0, &f1);
        ll_lat = impa_io_att_double(gwhere, NC_GLOBAL, "LL_lat", 0, &f2);
        ur_lon = impa_io_att_double(gwhere, NC_GLOBAL, "UR_lon", 0, &f3);
        ur_lat = impa_io_att_double(gwhere, NC_GLOBAL, "UR_lat", 0, &f4);
        have_llur = f1 && f2 && f3 && f4;
    }
    if (!(xs > 0) || !(ys > 0))
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: where/xscale,yscale %g,%g must be > 0", path, xs, ys);
    corner_grid(&g, projdef, xs, ys, have_ul, ul_lon, ul_lat, have_llur, ll_lon, ll_lat, ur_lon, ur_lat);

    if ((rc = impa_scan_init(scan, &g)))
        return impa_err(err, errlen, rc, "%s: cannot allocate a %zux%zu scan", path, ny, nx);
    if ((rc = read_rows(best_g, v, path, what, &m, scan, err, errlen))) {
        impa_scan_deinit(scan);
        return rc;
    }
    scan->time = t;
    snprintf(scan->variable, sizeof scan->variable, "%s", what);
    snprintf(scan->quantity, sizeof scan->quantity, "%s", quantity);
    return IMPA_OK;
}

/* "26-AUG-2010;00:00:00.000" -> epoch seconds. */
static int knmi_time(const char *s, int64_t *t)
{
    static const char *const mon[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                      "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
    int d, y, h, mi, sec;
    char ms[4];
    if (sscanf(s, "%d-%3[A-Za-z]-%d;%d:%d:%d", &d, ms, &y, &h, &mi, &sec) != 6)
        return IMPA_EINVAL;
    for (int i = 0; i < 12; i++)
        if (!strcasecmp(ms, mon[i])) {
            char iso[40];
            snprintf(iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:%02d", y, i + 1, d, h, mi, sec);
            return impa_time_parse_iso(iso, t);
        }
    return IMPA_EINVAL;
}

int impa_io_read_knmi(int ncid, const char *path, const impa_reader_opts_t *opts, impa_scan_t *scan,
                      char *err, size_t errlen)
{
    int gimg = subgroup(ncid, "image1"), gov = subgroup(ncid, "overview"), ggeo = subgroup(ncid, "geographic");
    int gcal = gimg >= 0 ? subgroup(gimg, "calibration") : -1;
    int gmap = ggeo >= 0 ? subgroup(ggeo, "map_projection") : -1;
    char buf[256];
    int v;
    if (gimg < 0 || nc_inq_varid(gimg, "image_data", &v) != NC_NOERR)
        return impa_err(err, errlen, IMPA_ENOTFOUND, "%s: KNMI file without image1/image_data", path);
    size_t ny, nx;
    int rc = data_dims(gimg, v, path, "image1/image_data", &ny, &nx, err, errlen);
    if (rc)
        return rc;
    odim_map_t m = {.gain = 1, .offset = 0, .a = opts->zr_a, .b = opts->zr_b};
    if (gcal < 0 || impa_io_att_text(gcal, NC_GLOBAL, "calibration_formulas", buf, sizeof buf) ||
        sscanf(buf, "GEO=%lf*PV+%lf", &m.gain, &m.offset) != 2)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: no usable image1/calibration/calibration_formulas", path);
    int f;
    m.nodata = impa_io_att_double(gcal, NC_GLOBAL, "calibration_missing_data", 0, &f);
    m.has_nodata = f;
    m.nodata2 = impa_io_att_double(gcal, NC_GLOBAL, "calibration_out_of_image", 0, &f);
    m.has_nodata2 = f;
    int64_t t0 = 0, t1 = 0;
    if (gov < 0 || impa_io_att_text(gov, NC_GLOBAL, "product_datetime_end", buf, sizeof buf) ||
        knmi_time(buf, &t1))
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: no overview/product_datetime_end", path);
    int have_t0 = !impa_io_att_text(gov, NC_GLOBAL, "product_datetime_start", buf, sizeof buf) &&
                  !knmi_time(buf, &t0);
    const char *quantity = "reflectivity";
    buf[0] = '\0';
    impa_io_att_text(gimg, NC_GLOBAL, "image_geo_parameter", buf, sizeof buf);
    if (strstr(buf, "PRECIPITATION")) {
        quantity = "accumulation";
        m.q = 3;
        double period = have_t0 && t1 > t0 ? (double)(t1 - t0) : opts->accum_period_s;
        if (!(period > 0))
            return impa_err(err, errlen, IMPA_EFORMAT, "%s: accumulation without start time or configured period",
                            path);
        m.to_rate = 3600.0 / period;
    } else if (strstr(buf, "REFLECTIVITY")) {
        m.q = 1;
    } else {
        return impa_err(err, errlen, IMPA_ENOTFOUND, "%s: image_geo_parameter '%s' is not supported", path, buf);
    }
    impa_grid_t g;
    memset(&g, 0, sizeof g);
    g.nx = (int)nx;
    g.ny = (int)ny;
    char projdef[256] = "";
    double xs = 1000, ys = 1000, corners[8];
    int nc = 0;
    if (ggeo >= 0) {
        xs = fabs(impa_io_att_double(ggeo, NC_GLOBAL, "geo_pixel_size_x", 1, NULL)) * 1000;
        ys = fabs(impa_io_att_double(ggeo, NC_GLOBAL, "geo_pixel_size_y", 1, NULL)) * 1000;
        impa_io_att_doubles(ggeo, NC_GLOBAL, "geo_product_corners", corners, 8, &nc);
    }
    if (gmap >= 0)
        impa_io_att_text(gmap, NC_GLOBAL, "projection_proj4_params", projdef, sizeof projdef);
    /* Corners are (lon, lat) pairs: lower-left, upper-left, upper-right, lower-right. */
    corner_grid(&g, projdef, xs, ys, nc == 8, corners[2], corners[3], 0, 0, 0, 0, 0);
    if ((rc = impa_scan_init(scan, &g)))
        return impa_err(err, errlen, rc, "%s: cannot allocate a %zux%zu scan", path, ny, nx);
    if ((rc = read_rows(gimg, v, path, "image1/image_data", &m, scan, err, errlen))) {
        impa_scan_deinit(scan);
        return rc;
    }
    scan->time = t1;
    snprintf(scan->variable, sizeof scan->variable, "image1/image_data");
    snprintf(scan->quantity, sizeof scan->quantity, "%s", quantity);
    return IMPA_OK;
}
