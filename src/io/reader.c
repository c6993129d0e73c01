/* CF NetCDF scan reader and the format dispatch (contract in reader.h).
 *
 * Every error names the file; the scan is left with dbz == NULL on failure so a
 * caller's impa_scan_deinit is always safe. Data are read one row at a time so an
 * accepted 10000x10000 grid costs its float output and one row of doubles. */
#include "io-impl.h"

#include <errno.h>
#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "impa/timeutil.h"

enum { Q_NONE = 0, Q_DBZ, Q_RATE, Q_ACCUM };

static const char *const quantity_name[] = {"", "reflectivity", "rainfall_rate", "accumulation"};

impa_reader_opts_t impa_reader_opts_default(void)
{
    impa_reader_opts_t o = {.variable = NULL, .zr_a = 200.0, .zr_b = 1.6, .accum_period_s = 0};
    return o;
}

/* CF standard names accepted, best first within each quantity. */
static const struct {
    const char *name;
    int q;
} std_names[] = {
    {"equivalent_reflectivity_factor", Q_DBZ},
    {"rainfall_rate", Q_RATE},
    {"precipitation_flux", Q_RATE},
    {"rainfall_flux", Q_RATE},
    {"lwe_precipitation_rate", Q_RATE},
    {"precipitation_amount", Q_ACCUM},
    {"lwe_thickness_of_precipitation_amount", Q_ACCUM},
    {"thickness_of_rainfall_amount", Q_ACCUM},
    {"rainfall_amount", Q_ACCUM},
};

static int quantity_of_standard_name(const char *sn)
{
    for (size_t i = 0; i < sizeof std_names / sizeof std_names[0]; i++)
        if (!strcmp(sn, std_names[i].name))
            return std_names[i].q;
    return Q_NONE;
}

/* Units -> quantity class and factor to dBZ (1), mm/h (rates) or mm (amounts).
 * Spaces, dots, '*' and '^' are dropped before matching ("kg m**-2 s**-1"). */
static int quantity_of_units(const char *units, double *factor)
{
    char u[64];
    size_t k = 0;
    for (const char *p = units; *p && k + 1 < sizeof u; p++)
        if (*p != ' ' && *p != '.' && *p != '*' && *p != '^')
            u[k++] = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
    u[k] = '\0';
    static const struct {
        const char *u;
        int q;
        double f;
    } tab[] = {
        {"dbz", Q_DBZ, 1}, {"dbze", Q_DBZ, 1},
        {"mm/h", Q_RATE, 1}, {"mmh-1", Q_RATE, 1}, {"mm/hr", Q_RATE, 1}, {"mmhr-1", Q_RATE, 1},
        {"mmhour-1", Q_RATE, 1}, {"kgm-2h-1", Q_RATE, 1},
        {"kgm-2s-1", Q_RATE, 3600}, {"kg/m2/s", Q_RATE, 3600}, {"mms-1", Q_RATE, 3600},
        {"mm/s", Q_RATE, 3600}, {"ms-1", Q_RATE, 3.6e6}, {"m/s", Q_RATE, 3.6e6},
        {"mm", Q_ACCUM, 1}, {"kgm-2", Q_ACCUM, 1}, {"kg/m2", Q_ACCUM, 1}, {"m", Q_ACCUM, 1000},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcmp(u, tab[i].u)) {
            *factor = tab[i].f;
            return tab[i].q;
        }
    *factor = 0;
    return Q_NONE;
}

/* Seconds in "<n> <unit>" ("10 minutes", "1 hour"); 0 when unparsable. */
static double parse_duration(const char *s)
{
    double n;
    char unit[32], tmp[64];
    if (sscanf(s, " %lf %31[A-Za-z]", &n, unit) != 2)
        return 0;
    double scale;
    int64_t epoch;
    snprintf(tmp, sizeof tmp, "%s since 1970-01-01", unit);
    if (impa_time_parse_cf_units(tmp, &scale, &epoch) != IMPA_OK)
        return 0;
    return n * scale;
}

static int var_ndims(int ncid, int varid)
{
    int nd = -1;
    if (nc_inq_varndims(ncid, varid, &nd) != NC_NOERR)
        return -1;
    return nd;
}

/* Picks the data variable; fills *q and the unit factor. */
static int find_data_var(int ncid, const char *path, const impa_reader_opts_t *opts, int *varid,
                         int *q, double *factor, char *err, size_t errlen)
{
    char sn[256], units[64], name[NC_MAX_NAME + 1];
    int nvars = 0;
    *varid = -1;
    if (opts->variable && opts->variable[0]) {
        if (nc_inq_varid(ncid, opts->variable, varid) != NC_NOERR)
            return impa_err(err, errlen, IMPA_ENOTFOUND, "%s: no variable '%s' (configured)", path,
                            opts->variable);
    } else {
        nc_inq_nvars(ncid, &nvars);
        int best = -1, best_q = Q_NONE;
        /* standard_name first, reflectivity over rates over amounts. */
        for (int v = 0; v < nvars; v++) {
            int nd = var_ndims(ncid, v);
            if ((nd != 2 && nd != 3) || impa_io_att_text(ncid, v, "standard_name", sn, sizeof sn))
                continue;
            int qq = quantity_of_standard_name(sn);
            if (qq != Q_NONE && (best < 0 || qq < best_q)) {
                best = v;
                best_q = qq;
            }
        }
        /* then units dBZ, then a variable called "precipitation" holding an amount. */
        for (int v = 0; best < 0 && v < nvars; v++) {
            int nd = var_ndims(ncid, v);
            double f;
            if ((nd == 2 || nd == 3) && !impa_io_att_text(ncid, v, "units", units, sizeof units) &&
                quantity_of_units(units, &f) == Q_DBZ)
                best = v;
        }
        if (best < 0 && nc_inq_varid(ncid, "precipitation", &best) != NC_NOERR)
            best = -1;
        if (best < 0)
            return impa_err(err, errlen, IMPA_ENOTFOUND,
                            "%s: no reflectivity or precipitation variable (no CF standard_name "
                            "equivalent_reflectivity_factor/rainfall_rate/precipitation_flux/"
                            "precipitation_amount..., no variable in dBZ)",
                            path);
        *varid = best;
    }
    nc_inq_varname(ncid, *varid, name);
    int q_sn = Q_NONE;
    if (!impa_io_att_text(ncid, *varid, "standard_name", sn, sizeof sn))
        q_sn = quantity_of_standard_name(sn);
    if (impa_io_att_text(ncid, *varid, "units", units, sizeof units))
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: variable '%s' has no units", path, name);
    int q_u = quantity_of_units(units, factor);
    if (q_u == Q_NONE)
        return impa_err(err, errlen, IMPA_EFORMAT,
                        "%s: variable '%s' has units '%s' (expected dBZ, mm/h, kg m-2 s-1, mm or kg m-2)",
                        path, name, units);
    if (q_sn != Q_NONE && q_sn != q_u)
        return impa_err(err, errlen, IMPA_EFORMAT,
                        "%s: variable '%s' units '%s' do not fit standard_name '%s'", path, name, units, sn);
    *q = q_u;
    return IMPA_OK;
}

/* Coordinate variable of dimension dim: same-named 1-D variable, or a 1-D variable
 * over dim with a projection/lat/lon standard_name. -1 when none. */
static int coord_var(int ncid, int dim)
{
    char dname[NC_MAX_NAME + 1], sn[128];
    int v, nvars = 0, d;
    nc_inq_dimname(ncid, dim, dname);
    if (nc_inq_varid(ncid, dname, &v) == NC_NOERR && var_ndims(ncid, v) == 1 &&
        nc_inq_vardimid(ncid, v, &d) == NC_NOERR && d == dim)
        return v;
    nc_inq_nvars(ncid, &nvars);
    for (v = 0; v < nvars; v++) {
        if (var_ndims(ncid, v) != 1 || nc_inq_vardimid(ncid, v, &d) != NC_NOERR || d != dim)
            continue;
        if (!impa_io_att_text(ncid, v, "standard_name", sn, sizeof sn) &&
            (strstr(sn, "projection_") || !strcmp(sn, "latitude") || !strcmp(sn, "longitude") ||
             !strncmp(sn, "grid_l", 6)))
            return v;
    }
    return -1;
}

/* Regular axis from a coordinate variable: first value, spacing, units. */
static int read_axis(int ncid, int dim, size_t n, const char *path, const char *axis, double *v0,
                     double *d, char *units, size_t ulen, char *err, size_t errlen)
{
    int v = coord_var(ncid, dim);
    *v0 = 0;
    *d = 1;
    units[0] = '\0';
    if (v < 0)
        return IMPA_OK; /* grid index coordinates; latlon unavailable */
    double *c = malloc(n * sizeof *c);
    if (!c)
        return impa_err(err, errlen, IMPA_ENOMEM, "%s: no memory for %s axis", path, axis);
    int rc = IMPA_OK;
    if (nc_get_var_double(ncid, v, c) != NC_NOERR) {
        rc = impa_err(err, errlen, IMPA_EFORMAT, "%s: cannot read %s coordinates (truncated?)", path, axis);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(c[i])) {
            rc = impa_err(err, errlen, IMPA_EFORMAT, "%s: non-finite %s coordinate at %zu", path, axis, i);
            goto done;
        }
    *v0 = c[0];
    if (n > 1) {
        *d = (c[n - 1] - c[0]) / (double)(n - 1);
        if (*d == 0) {
            rc = impa_err(err, errlen, IMPA_EFORMAT, "%s: %s coordinates are constant", path, axis);
            goto done;
        }
        for (size_t i = 1; i < n; i++)
            if (fabs((c[i] - c[i - 1]) - *d) > 1e-3 * fabs(*d)) {
                rc = impa_err(err, errlen, IMPA_EFORMAT, "%s: %s coordinates are not regular at %zu",
                              path, axis, i);
                goto done;
            }
    }
    impa_io_att_text(ncid, v, "units", units, ulen);
done:
    free(c);
    return rc;
}

static int read_time_value(int ncid, int tv, double *out)
{
    int nd = var_ndims(ncid, tv);
    size_t idx[1] = {0};
    if (nd > 1 || nd < 0)
        return -1;
    if (nc_get_var1_double(ncid, tv, nd == 0 ? NULL : idx, out) != NC_NOERR || !isfinite(*out))
        return -1;
    return 0;
}

typedef struct {
    double scale, offset;
    int has_fill;
    double fill;
    int n_missing;
    double missing[4];
    double vmin, vmax;  /* valid range, -inf/+inf when absent */
    int range_packed;   /* compare raw (packed) values, per CF when the type matches */
    int unsigned_fix;   /* _Unsigned = "true": add 2^bits to negative raw values */
    double wrap;
} packing_t;

static void read_packing(int ncid, int v, packing_t *pk)
{
    nc_type vt, at;
    size_t len;
    char buf[16];
    memset(pk, 0, sizeof *pk);
    nc_inq_vartype(ncid, v, &vt);
    pk->scale = impa_io_att_double(ncid, v, "scale_factor", 1.0, NULL);
    pk->offset = impa_io_att_double(ncid, v, "add_offset", 0.0, NULL);
    pk->fill = impa_io_att_double(ncid, v, "_FillValue", 0, &pk->has_fill);
    if (!pk->has_fill) {
        /* NetCDF default fill values apply when the attribute is absent (not for bytes). */
        pk->has_fill = 1;
        switch (vt) {
        case NC_SHORT: pk->fill = NC_FILL_SHORT; break;
        case NC_USHORT: pk->fill = NC_FILL_USHORT; break;
        case NC_INT: pk->fill = NC_FILL_INT; break;
        case NC_UINT: pk->fill = NC_FILL_UINT; break;
        case NC_FLOAT: pk->fill = NC_FILL_FLOAT; break;
        case NC_DOUBLE: pk->fill = NC_FILL_DOUBLE; break;
        default: pk->has_fill = 0;
        }
    }
    impa_io_att_doubles(ncid, v, "missing_value", pk->missing, 4, &pk->n_missing);
    pk->vmin = -INFINITY;
    pk->vmax = INFINITY;
    double r[2];
    int n, typed = 0;
    if (!impa_io_att_doubles(ncid, v, "valid_range", r, 2, &n) && n == 2) {
        pk->vmin = r[0];
        pk->vmax = r[1];
        nc_inq_att(ncid, v, "valid_range", &at, &len);
        typed = at == vt;
    } else {
        int f;
        pk->vmin = impa_io_att_double(ncid, v, "valid_min", -INFINITY, &f);
        if (f && nc_inq_att(ncid, v, "valid_min", &at, &len) == NC_NOERR)
            typed = at == vt;
        pk->vmax = impa_io_att_double(ncid, v, "valid_max", INFINITY, &f);
        if (f && nc_inq_att(ncid, v, "valid_max", &at, &len) == NC_NOERR)
            typed = typed || at == vt;
    }
    /* CF: valid_* of the packed type are packed values; of the unpacked type unpacked. */
    pk->range_packed = typed && (pk->scale != 1.0 || pk->offset != 0.0);
    if ((vt == NC_BYTE || vt == NC_SHORT || vt == NC_INT) &&
        !impa_io_att_text(ncid, v, "_Unsigned", buf, sizeof buf) && !strcasecmp(buf, "true")) {
        pk->unsigned_fix = 1;
        pk->wrap = vt == NC_BYTE ? 256.0 : vt == NC_SHORT ? 65536.0 : 4294967296.0;
    }
}

/* Raw file value -> physical value, NaN when missing/invalid. */
static double unpack(const packing_t *pk, double raw)
{
    if (!isfinite(raw))
        return NAN;
    if (pk->has_fill && raw == pk->fill)
        return NAN;
    for (int i = 0; i < pk->n_missing; i++)
        if (raw == pk->missing[i])
            return NAN;
    if (pk->unsigned_fix && raw < 0)
        raw += pk->wrap;
    if (pk->range_packed && (raw < pk->vmin || raw > pk->vmax))
        return NAN;
    double v = raw * pk->scale + pk->offset;
    if (!isfinite(v))
        return NAN;
    if (!pk->range_packed && (v < pk->vmin || v > pk->vmax))
        return NAN;
    return v;
}

/* Accumulation period of variable v: time bounds, start_time, cell_methods interval,
 * accumulation_period attribute, else the configured default. */
static double accum_period(int ncid, int v, int tv, int64_t t_end_bnds, int64_t t_start_bnds,
                           int have_bnds, double t_val, double scale, int64_t epoch,
                           const impa_reader_opts_t *opts)
{
    char buf[256];
    if (have_bnds && t_end_bnds > t_start_bnds)
        return (double)(t_end_bnds - t_start_bnds);
    int sv;
    static const char *const starts[] = {"start_time", "time_start", "starttime"};
    for (size_t i = 0; i < 3; i++)
        if (nc_inq_varid(ncid, starts[i], &sv) == NC_NOERR && sv != tv) {
            double s, ss = scale;
            int64_t ep = epoch;
            if (!impa_io_att_text(ncid, sv, "units", buf, sizeof buf))
                impa_time_parse_cf_units(buf, &ss, &ep);
            if (read_time_value(ncid, sv, &s) == 0) {
                double p = (double)(epoch - ep) + t_val * scale - s * ss;
                if (p > 0)
                    return p;
            }
        }
    if (!impa_io_att_text(ncid, v, "cell_methods", buf, sizeof buf)) {
        char *iv = strstr(buf, "interval:");
        double p = iv ? parse_duration(iv + 9) : 0;
        if (p > 0)
            return p;
    }
    static const char *const attrs[] = {"accumulation_period", "accumulation_time", "period"};
    for (size_t i = 0; i < 3; i++) {
        if (!impa_io_att_text(ncid, v, attrs[i], buf, sizeof buf)) {
            double p = parse_duration(buf);
            if (p > 0)
                return p;
        }
        int f;
        double p = impa_io_att_double(ncid, v, attrs[i], 0, &f);
        if (f && p > 0)
            return p; /* numeric: seconds */
    }
    return opts->accum_period_s;
}

static int read_cf(int ncid, const char *path, const impa_reader_opts_t *opts, impa_scan_t *scan,
                   char *err, size_t errlen)
{
    int v = -1, q = Q_NONE, rc;
    double factor = 1;
    char name[NC_MAX_NAME + 1], buf[256];
    rc = find_data_var(ncid, path, opts, &v, &q, &factor, err, errlen);
    if (rc)
        return rc;
    nc_inq_varname(ncid, v, name);
    int nd = var_ndims(ncid, v), dims[NC_MAX_VAR_DIMS];
    if (nd != 2 && nd != 3)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: variable '%s' has %d dimensions (need y,x or time,y,x)",
                        path, name, nd);
    nc_inq_vardimid(ncid, v, dims);
    size_t nt = 1, ny, nx;
    if (nd == 3) {
        nc_inq_dimlen(ncid, dims[0], &nt);
        if (nt != 1)
            return impa_err(err, errlen, IMPA_EFORMAT, "%s: variable '%s' holds %zu times (need 1)", path,
                            name, nt);
    }
    nc_inq_dimlen(ncid, dims[nd - 2], &ny);
    nc_inq_dimlen(ncid, dims[nd - 1], &nx);
    if (nx == 0 || ny == 0 || nx > IMPA_IO_MAX_SIDE || ny > IMPA_IO_MAX_SIDE)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: variable '%s' is %zux%zu (refused: 1..%d a side)",
                        path, name, ny, nx, IMPA_IO_MAX_SIDE);
    {
        char dy_name[NC_MAX_NAME + 1], dx_name[NC_MAX_NAME + 1];
        nc_inq_dimname(ncid, dims[nd - 2], dy_name);
        nc_inq_dimname(ncid, dims[nd - 1], dx_name);
        if (!strcmp(dy_name, "x") && !strcmp(dx_name, "y"))
            return impa_err(err, errlen, IMPA_EFORMAT, "%s: variable '%s' is (x,y); only (y,x) is supported",
                            path, name);
    }

    impa_grid_t g;
    memset(&g, 0, sizeof g);
    g.nx = (int)nx;
    g.ny = (int)ny;
    char yu[16];
    if ((rc = read_axis(ncid, dims[nd - 1], nx, path, "x", &g.x0, &g.dx, g.x_units, sizeof g.x_units, err, errlen)) ||
        (rc = read_axis(ncid, dims[nd - 2], ny, path, "y", &g.y0, &g.dy, yu, sizeof yu, err, errlen)))
        return rc;
    if (strcmp(g.x_units, yu) != 0 && !(strncmp(g.x_units, "degree", 6) == 0 && strncmp(yu, "degree", 6) == 0))
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: x units '%s' differ from y units '%s'", path, g.x_units, yu);
    if (!impa_io_att_text(ncid, v, "grid_mapping", buf, sizeof buf)) {
        buf[strcspn(buf, ": ")] = '\0'; /* extended form "crs: x y" */
        int gm;
        if (nc_inq_varid(ncid, buf, &gm) == NC_NOERR)
            impa_io_copy_grid_mapping(ncid, gm, &g);
    }
    if (!g.grid_mapping_name[0] && !strncmp(g.x_units, "degree", 6))
        impa_io_grid_set_text(&g, "grid_mapping_name", "latitude_longitude");

    /* Time: the data's time coordinate, else "time", else any standard_name time. */
    int tv = -1, nvars = 0;
    if (nd == 3)
        tv = coord_var(ncid, dims[0]);
    if (tv < 0 && nc_inq_varid(ncid, "time", &tv) != NC_NOERR)
        tv = -1;
    nc_inq_nvars(ncid, &nvars);
    for (int i = 0; tv < 0 && i < nvars; i++)
        if (var_ndims(ncid, i) <= 1 && !impa_io_att_text(ncid, i, "standard_name", buf, sizeof buf) &&
            !strcmp(buf, "time"))
            tv = i;
    if (tv < 0)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: no time variable (CF 'time' or standard_name time)", path);
    char tname[NC_MAX_NAME + 1];
    nc_inq_varname(ncid, tv, tname);
    double scale, tval;
    int64_t epoch;
    if (impa_io_att_text(ncid, tv, "units", buf, sizeof buf))
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: time variable '%s' has no units", path, tname);
    if ((rc = impa_time_parse_cf_units(buf, &scale, &epoch)) == IMPA_EIO)
        return impa_err(err, errlen, IMPA_EIO, "%s: udunits2's unit database is unreadable (package libudunits2-data; "
                        "UDUNITS2_XML_PATH)", path);
    if (rc)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: time variable '%s' has units '%s' (need '<unit> since <date>')",
                        path, tname, buf);
    if (read_time_value(ncid, tv, &tval))
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: time variable '%s' unreadable or missing", path, tname);
    int64_t t = epoch + llround(tval * scale);
    int have_bnds = 0;
    int64_t t_lo = 0, t_hi = 0;
    if (!impa_io_att_text(ncid, tv, "bounds", buf, sizeof buf)) {
        int bv;
        double b[2];
        if (nc_inq_varid(ncid, buf, &bv) == NC_NOERR && nc_get_var_double(ncid, bv, b) == NC_NOERR &&
            isfinite(b[0]) && isfinite(b[1])) {
            have_bnds = 1;
            t_lo = epoch + llround(b[0] * scale);
            t_hi = epoch + llround(b[1] * scale);
        }
    }
    double period = 0;
    if (q == Q_ACCUM) {
        if (have_bnds)
            t = t_hi;
        period = accum_period(ncid, v, tv, t_hi, t_lo, have_bnds, tval, scale, epoch, opts);
        if (!(period > 0))
            return impa_err(err, errlen, IMPA_EFORMAT,
                            "%s: accumulation '%s' has no period (no time bounds, start_time, cell_methods "
                            "interval or attribute) and none is configured",
                            path, name);
    }

    packing_t pk;
    read_packing(ncid, v, &pk);
    if ((rc = impa_scan_init(scan, &g)))
        return impa_err(err, errlen, rc, "%s: cannot allocate a %zux%zu scan", path, ny, nx);
    double *row = malloc(nx * sizeof *row);
    if (!row) {
        impa_scan_deinit(scan);
        return impa_err(err, errlen, IMPA_ENOMEM, "%s: no memory for a row", path);
    }
    const double to_rate = q == Q_ACCUM ? factor * 3600.0 / period : factor;
    for (size_t r = 0; r < ny; r++) {
        size_t start[3] = {0, 0, 0}, count[3] = {1, 1, 1};
        start[nd - 2] = r;
        count[nd - 1] = nx;
        int nrc = nc_get_vara_double(ncid, v, start, count, row);
        if (nrc != NC_NOERR && nrc != NC_ERANGE) {
            free(row);
            impa_scan_deinit(scan);
            return impa_err(err, errlen, IMPA_EFORMAT, "%s: reading '%s' row %zu failed (truncated or corrupt?): %s",
                            path, name, r, nc_strerror(nrc));
        }
        float *out = scan->dbz + r * nx;
        for (size_t c = 0; c < nx; c++) {
            double val = unpack(&pk, row[c]);
            if (q == Q_DBZ)
                out[c] = isnan(val) ? NAN : val < IMPA_DBZ_NO_ECHO ? IMPA_DBZ_NO_ECHO : (float)val;
            else
                out[c] = impa_io_rate_to_dbz(val * to_rate, opts->zr_a, opts->zr_b);
        }
    }
    free(row);
    scan->time = t;
    snprintf(scan->variable, sizeof scan->variable, "%.127s", name);
    snprintf(scan->quantity, sizeof scan->quantity, "%s", quantity_name[q]);
    return IMPA_OK;
}

/* netCDF 4.9 answers NC_NOERR to nc_inq_grp_ncid on classic (netCDF-3) files,
 * handing back the root group, so only files with an enhanced data model can
 * have groups at all; without this check every classic CF file looked like ODIM. */
static int has_group(int ncid, const char *name)
{
    int fmt = 0, g;
    if (nc_inq_format(ncid, &fmt) != NC_NOERR || fmt != NC_FORMAT_NETCDF4)
        return 0;
    if (nc_inq_grp_ncid(ncid, name, &g) != NC_NOERR)
        return 0;
    return g != ncid;
}

int impa_reader_read(const char *path, const impa_reader_opts_t *opts, impa_scan_t *scan, char *err,
                     size_t errlen)
{
    if (!path || !scan)
        return impa_err(err, errlen, IMPA_EINVAL, "reader: NULL path or scan");
    memset(scan, 0, sizeof *scan);
    impa_reader_opts_t def = impa_reader_opts_default();
    if (!opts)
        opts = &def;
    if (!(opts->zr_a > 0) || !(opts->zr_b > 0))
        return impa_err(err, errlen, IMPA_EINVAL, "%s: Z-R coefficients a=%g b=%g must be > 0", path,
                        opts->zr_a, opts->zr_b);
    struct stat st;
    if (stat(path, &st) != 0)
        return impa_err(err, errlen, IMPA_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return impa_err(err, errlen, IMPA_EIO, "%s: not a regular file", path);
    if (st.st_size == 0)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: empty file", path);
    int ncid, nrc = nc_open(path, NC_NOWRITE, &ncid);
    if (nrc != NC_NOERR)
        return impa_err(err, errlen, nrc > 0 ? IMPA_EIO : IMPA_EFORMAT,
                        "%s: not a readable NetCDF/HDF5 file (truncated or corrupt?): %s", path, nc_strerror(nrc));
    int rc;
    char conv[64] = "";
    impa_io_att_text(ncid, NC_GLOBAL, "Conventions", conv, sizeof conv);
    if (!strncmp(conv, "ODIM_H5", 7) || (has_group(ncid, "what") && has_group(ncid, "dataset1")))
        rc = impa_io_read_odim(ncid, path, opts, scan, err, errlen);
    else if (has_group(ncid, "image1") && has_group(ncid, "overview"))
        rc = impa_io_read_knmi(ncid, path, opts, scan, err, errlen);
    else
        rc = read_cf(ncid, path, opts, scan, err, errlen);
    nc_close(ncid);
    if (rc) {
        impa_scan_deinit(scan);
        return rc;
    }
    snprintf(scan->path, sizeof scan->path, "%s", path);
    return IMPA_OK;
}
