/* ODIM_H5 image products and KNMI HDF5 images, both read through libnetcdf's
 * HDF5 support (group attributes are NetCDF attributes, datasets are variables
 * with phony dimensions).
 *
 * ODIM (EUMETNET OPERA ODIM_H5 2.x): datasetM/dataN/data with what (quantity,
 * gain, offset, nodata, undetect, date, time, startdate ... endtime), where
 * (projdef, xsize, ysize, xscale, yscale, corner lon/lat) and how (zr_a, zr_b),
 * each at data, dataset or top level, the lowest level winning. Rows run north to
 * south (first row = top), as in ODIM. */
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

/* Sets x0/y0/dx/dy from the PROJ string and the corner lon/lat (ODIM corners
 * are the outer corners of the corner cells). When PROJ cannot read the string
 * or the corners are missing the grid is relative (origin at the lower-left
 * corner) and carries no projection, so impa_grid_latlon says it cannot; the
 * text is kept as "projdef" for the record. */
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
    int ok = projdef && projdef[0] && impa_io_grid_from_proj4(g, projdef, &unit) == IMPA_OK;
    if (ok && !strcmp(g->grid_mapping_name, "latitude_longitude"))
        snprintf(g->x_units, sizeof g->x_units, "degrees"); /* xscale/yscale are degrees then */
    double x, y, x2, y2;
    if (ok && have_ul && impa_io_project(g, ul_lat, ul_lon, &x, &y) == IMPA_OK) {
        g->x0 = x + 0.5 * xs_m;
        g->y0 = y - 0.5 * ys_m;
    } else if (ok && have_ll_ur && impa_io_project(g, ll_lat, ll_lon, &x, &y) == IMPA_OK &&
               impa_io_project(g, ur_lat, ur_lon, &x2, &y2) == IMPA_OK) {
        g->x0 = x + 0.5 * xs_m;
        g->y0 = y2 - 0.5 * ys_m;
    } else {
        memset(g->attrs, 0, sizeof g->attrs);
        g->n_attrs = 0;
        g->grid_mapping_name[0] = '\0';
        snprintf(g->x_units, sizeof g->x_units, "m");
        if (projdef && projdef[0])
            impa_io_grid_set_text(g, "projdef", projdef);
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
    impa_io_cache_chunk_row(ncid, v);
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

/* ---- ODIM_H5 2.x attribute inheritance ----
 *
 * what/where/how may sit at the top, at dataset level and at data level; a lower
 * level applies to everything below it and overrides the levels above (ODIM_H5
 * 2.4, section 3: "lowest level wins"). A chain lists one kind of group from the
 * lowest level up; -1 where the level has none. */
typedef struct {
    int g[3];
} chain_t;

static chain_t chain_of(int gdata, int gdataset, int groot, const char *kind)
{
    chain_t c = {{gdata >= 0 ? subgroup(gdata, kind) : -1, gdataset >= 0 ? subgroup(gdataset, kind) : -1,
                  groot >= 0 ? subgroup(groot, kind) : -1}};
    return c;
}

static int chain_text(const chain_t *c, const char *name, char *buf, size_t len)
{
    for (int i = 0; i < 3; i++)
        if (c->g[i] >= 0 && impa_io_att_text(c->g[i], NC_GLOBAL, name, buf, len) == IMPA_OK)
            return IMPA_OK;
    return IMPA_ENOTFOUND;
}

static double chain_num(const chain_t *c, const char *name, double dflt, int *found)
{
    for (int i = 0; i < 3; i++) {
        int f = 0;
        double v = c->g[i] >= 0 ? impa_io_att_double(c->g[i], NC_GLOBAL, name, 0, &f) : 0;
        if (f) {
            if (found)
                *found = 1;
            return v;
        }
    }
    if (found)
        *found = 0;
    return dflt;
}

static int chain_time(const chain_t *c, const char *dkey, const char *tkey, int64_t *t)
{
    char d[32], h[32];
    if (chain_text(c, dkey, d, sizeof d) || chain_text(c, tkey, h, sizeof h))
        return IMPA_ENOTFOUND;
    return odim_time(d, h, t);
}

/* Child groups of g named <prefix><N> (N >= 1), ordered by N. Returns the count. */
static int numbered_groups(int g, const char *prefix, int *ids, int *nums, int max)
{
    int n = 0, count = 0;
    if (nc_inq_grps(g, &n, NULL) != NC_NOERR || n <= 0)
        return 0;
    int *all = malloc((size_t)n * sizeof *all);
    if (!all || nc_inq_grps(g, &n, all) != NC_NOERR) {
        free(all);
        return 0;
    }
    size_t pl = strlen(prefix);
    for (int i = 0; i < n && count < max; i++) {
        char name[NC_MAX_NAME + 1], *end;
        if (nc_inq_grpname(all[i], name) != NC_NOERR || strncmp(name, prefix, pl) != 0)
            continue;
        long k = strtol(name + pl, &end, 10);
        if (end == name + pl || *end || k < 1 || k > 100000)
            continue;
        int j = count++;
        while (j > 0 && nums[j - 1] > k) { /* insertion sort by N */
            ids[j] = ids[j - 1];
            nums[j] = nums[j - 1];
            j--;
        }
        ids[j] = all[i];
        nums[j] = (int)k;
    }
    free(all);
    return count;
}

#define ODIM_MAX_GROUPS 256

int impa_io_read_odim(int ncid, const char *path, const impa_reader_opts_t *opts, impa_scan_t *scan,
                      char *err, size_t errlen)
{
    /* DBZH first; TH (uncorrected) and the vertical polarisation next; rain
     * rates and accumulations last (they need a Z-R relation back to dBZ). */
    static const char *const pref[] = {"DBZH", "TH", "DBZV", "TV", "RATE", "ACRR"};
    char buf[256];
    chain_t top = chain_of(-1, -1, ncid, "what");
    if (!chain_text(&top, "object", buf, sizeof buf) && strcmp(buf, "COMP") && strcmp(buf, "IMAGE") &&
        strcmp(buf, "CVOL"))
        return impa_err(err, errlen, IMPA_EFORMAT,
                        "%s: ODIM object '%s' is not supported: only Cartesian image products "
                        "(COMP composites, IMAGE single-site images, CVOL), not polar volumes or scans",
                        path, buf);
    int ds_ids[ODIM_MAX_GROUPS], ds_nums[ODIM_MAX_GROUPS];
    int nds = numbered_groups(ncid, "dataset", ds_ids, ds_nums, ODIM_MAX_GROUPS);
    if (nds == 0)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: ODIM file without a /datasetN group", path);
    int best_rank = 99, best_ds = -1, best_d = -1, best_dsn = 0, best_dn = 0;
    for (int i = 0; i < nds; i++) {
        int d_ids[ODIM_MAX_GROUPS], d_nums[ODIM_MAX_GROUPS];
        int nd = numbered_groups(ds_ids[i], "data", d_ids, d_nums, ODIM_MAX_GROUPS);
        for (int j = 0; j < nd; j++) {
            chain_t w = chain_of(d_ids[j], ds_ids[i], ncid, "what");
            if (chain_text(&w, "quantity", buf, sizeof buf))
                continue;
            for (int k = 0; k < (int)(sizeof pref / sizeof pref[0]); k++)
                if (!strcmp(buf, pref[k]) && k < best_rank) {
                    best_rank = k;
                    best_ds = ds_ids[i];
                    best_d = d_ids[j];
                    best_dsn = ds_nums[i];
                    best_dn = d_nums[j];
                }
        }
    }
    if (best_d < 0)
        return impa_err(err, errlen, IMPA_ENOTFOUND,
                        "%s: no datasetM/dataN with quantity DBZH, TH, DBZV, TV, RATE or ACRR "
                        "(looked at data, dataset and top level what/quantity of %d dataset(s))",
                        path, nds);
    const char *qty = pref[best_rank];
    char what[64];
    snprintf(what, sizeof what, "dataset%d/data%d", best_dsn, best_dn);
    int v;
    if (nc_inq_varid(best_d, "data", &v) != NC_NOERR)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: %s has no 'data' dataset", path, what);
    size_t ny, nx;
    int rc = data_dims(best_d, v, path, what, &ny, &nx, err, errlen);
    if (rc)
        return rc;
    chain_t cw = chain_of(best_d, best_ds, ncid, "what");
    chain_t cwhere = chain_of(best_d, best_ds, ncid, "where");
    chain_t chow = chain_of(best_d, best_ds, ncid, "how");

    /* Calibration: value = gain * raw + offset; nodata = outside coverage,
     * undetect = observed, no echo. */
    odim_map_t m = {.a = opts->zr_a, .b = opts->zr_b};
    m.gain = chain_num(&cw, "gain", 1, NULL);
    m.offset = chain_num(&cw, "offset", 0, NULL);
    m.nodata = chain_num(&cw, "nodata", 0, &m.has_nodata);
    m.undetect = chain_num(&cw, "undetect", 0, &m.has_undetect);
    if (m.gain == 0 || !isfinite(m.gain) || !isfinite(m.offset))
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: %s has gain %g, offset %g", path, what, m.gain,
                        m.offset);

    /* Time: the nominal what/date+time; for accumulations the end of the
     * interval, the period from start to end. */
    int64_t t = 0, t0 = 0, t1 = 0;
    int have_t = chain_time(&cw, "date", "time", &t) == IMPA_OK;
    int have_t1 = chain_time(&cw, "enddate", "endtime", &t1) == IMPA_OK;
    int have_t0 = chain_time(&cw, "startdate", "starttime", &t0) == IMPA_OK;
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
    if (m.q != 1) {
        /* The producer's own Z-R relation (how/zr_a, zr_b) inverts its conversion
         * exactly; the configured one applies when the file does not say. */
        int fa, fb;
        double a = chain_num(&chow, "zr_a", 0, &fa), b = chain_num(&chow, "zr_b", 0, &fb);
        if (fa && fb && a > 0 && b > 0 && isfinite(a) && isfinite(b)) {
            m.a = a;
            m.b = b;
        }
    }
    if (!have_t && have_t1)
        t = t1, have_t = 1;
    if (!have_t)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: no time (what/date+time or what/enddate+endtime)", path);

    impa_grid_t g;
    memset(&g, 0, sizeof g);
    g.nx = (int)nx;
    g.ny = (int)ny;
    int f1, f2, f3, f4;
    double sx = chain_num(&cwhere, "xsize", 0, &f1), sy = chain_num(&cwhere, "ysize", 0, &f2);
    if (f1 && f2 && ((size_t)sx != nx || (size_t)sy != ny))
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: where/xsize,ysize %gx%g but %s is %zux%zu", path, sx, sy,
                        what, nx, ny);
    double xs = chain_num(&cwhere, "xscale", 1000, NULL), ys = chain_num(&cwhere, "yscale", 1000, NULL);
    if (!(xs > 0) || !(ys > 0) || !isfinite(xs) || !isfinite(ys))
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: where/xscale,yscale %g,%g must be > 0", path, xs, ys);
    char projdef[256] = "";
    chain_text(&cwhere, "projdef", projdef, sizeof projdef);
    double ul_lon = chain_num(&cwhere, "UL_lon", 0, &f1), ul_lat = chain_num(&cwhere, "UL_lat", 0, &f2);
    int have_ul = f1 && f2;
    double ll_lon = chain_num(&cwhere, "LL_lon", 0, &f1), ll_lat = chain_num(&cwhere, "LL_lat", 0, &f2);
    double ur_lon = chain_num(&cwhere, "UR_lon", 0, &f3), ur_lat = chain_num(&cwhere, "UR_lat", 0, &f4);
    int have_llur = f1 && f2 && f3 && f4;
    corner_grid(&g, projdef, xs, ys, have_ul, ul_lon, ul_lat, have_llur, ll_lon, ll_lat, ur_lon, ur_lat);

    if ((rc = impa_scan_init(scan, &g)))
        return impa_err(err, errlen, rc, "%s: cannot allocate a %zux%zu scan", path, ny, nx);
    if ((rc = read_rows(best_d, v, path, what, &m, scan, err, errlen))) {
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
