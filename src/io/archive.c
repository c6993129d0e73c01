/* Forecast archive: CF-1.8 NetCDF-4 files, written atomically (contract in archive.h).
 *
 * The file is written as ".<name>.tmp" in the target directory, closed, fsync'ed and
 * renamed, then the directory is fsync'ed: a reader (verification, a web server)
 * sees either no file or a complete one, also across a power cut. */
#include "io-impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "impa/archive.h"
#include "impa/durable.h"
#include "impa/timeutil.h"
#include "impa_build_config.h"

#define ARCHIVE_FILL (-999.0f)

/* errno survives poorly through HDF5, so a failed write is also called ENOSPC when
 * the directory's file system has (almost) no room left. */
static int classify_write_error(const char *dir, int nrc, int saved_errno)
{
    if (nrc == ENOSPC || saved_errno == ENOSPC || saved_errno == EDQUOT)
        return IMPA_ENOSPC;
    struct statvfs vfs;
    if (statvfs(dir, &vfs) == 0 && (double)vfs.f_bavail * (double)vfs.f_frsize < 1024.0 * 1024.0)
        return IMPA_ENOSPC;
    return IMPA_EIO;
}

/* Why a file cannot be created at path, from the system itself: libnetcdf
 * reports a missing directory, a file in the way and a read-only file system
 * all as EACCES ("Permission denied"). 0 when creating it works (the file is
 * removed again): the failure was libnetcdf's own. */
static int create_errno(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno;
    close(fd);
    unlink(path);
    return 0;
}

static int put_text(int ncid, int varid, const char *name, const char *text)
{
    return nc_put_att_text(ncid, varid, name, strlen(text), text);
}

/* CF standard names of the x/y axes: projected metres, latitude/longitude,
 * rotated-pole degrees; none for grid-index coordinates. */
static const char *axis_standard_name(const impa_grid_t *g, int is_x)
{
    if (!strcmp(g->grid_mapping_name, "rotated_latitude_longitude"))
        return is_x ? "grid_longitude" : "grid_latitude";
    if (!strcmp(g->grid_mapping_name, "latitude_longitude") || !strncmp(g->x_units, "degree", 6))
        return is_x ? "longitude" : "latitude";
    if (impa_io_unit_m(g->x_units) > 0)
        return is_x ? "projection_x_coordinate" : "projection_y_coordinate";
    return NULL;
}

/* Defines and writes everything into the open file. Returns an nc_* code.
 *
 * Layout (docs/io.md, "Forecast archive"): the lead time is the first axis
 * (lead_time, a coordinate variable: forecast_period in minutes); the issue time
 * is the scalar coordinate forecast_reference_time; time(lead_time) is the valid
 * time, in seconds since the issue time so that its values are the lead times
 * in seconds (what pySTEPS' import_netcdf_pysteps reads); projected x/y are in
 * metres, the unit the grid mapping's false easting/northing and every reader
 * (xarray, pyproj, pySTEPS, GDAL) take without a units lookup. */
static int write_content(int ncid, const impa_forecast_t *fc, char *inputs, size_t inputs_len)
{
    const impa_grid_t *g = fc->grid;
    int rc, d_lead, d_y, d_x, v_ref, v_lead, v_valid, v_x, v_y, v_crs = -1, v_refl;
    int d_thr = -1, v_thr = -1, v_prob = -1, v_rad = -1;
    const impa_prob_field_t *pf = fc->prob;
    char iso[32], units[64];
#define CK(call)                                                                                   \
    do {                                                                                           \
        if ((rc = (call)) != NC_NOERR)                                                             \
            return rc;                                                                             \
    } while (0)
    CK(nc_def_dim(ncid, "lead_time", (size_t)fc->n_leads, &d_lead));
    CK(nc_def_dim(ncid, "y", (size_t)g->ny, &d_y));
    CK(nc_def_dim(ncid, "x", (size_t)g->nx, &d_x));

    CK(nc_def_var(ncid, "lead_time", NC_INT, 1, &d_lead, &v_lead));
    CK(put_text(ncid, v_lead, "standard_name", "forecast_period"));
    CK(put_text(ncid, v_lead, "long_name", "lead time after issue"));
    CK(put_text(ncid, v_lead, "units", "minutes"));

    CK(nc_def_var(ncid, "forecast_reference_time", NC_DOUBLE, 0, NULL, &v_ref));
    CK(put_text(ncid, v_ref, "standard_name", "forecast_reference_time"));
    CK(put_text(ncid, v_ref, "long_name", "forecast issue time (valid time of the newest input)"));
    CK(put_text(ncid, v_ref, "units", "seconds since 1970-01-01 00:00:00"));
    CK(put_text(ncid, v_ref, "calendar", "standard"));

    /* "seconds since <issue>": UDUNITS' form, a space between date and time */
    impa_time_iso(fc->issue_time, iso, sizeof iso);
    snprintf(units, sizeof units, "seconds since %.10s %.8s", iso, iso + 11);
    CK(nc_def_var(ncid, "time", NC_DOUBLE, 1, &d_lead, &v_valid));
    CK(put_text(ncid, v_valid, "standard_name", "time"));
    CK(put_text(ncid, v_valid, "long_name", "valid time (issue time + lead time)"));
    CK(put_text(ncid, v_valid, "units", units));
    CK(put_text(ncid, v_valid, "calendar", "standard"));

    CK(nc_def_var(ncid, "y", NC_DOUBLE, 1, &d_y, &v_y));
    CK(nc_def_var(ncid, "x", NC_DOUBLE, 1, &d_x, &v_x));
    const char *sx = axis_standard_name(g, 1), *sy = axis_standard_name(g, 0);
    if (sx) {
        CK(put_text(ncid, v_x, "standard_name", sx));
        CK(put_text(ncid, v_y, "standard_name", sy));
    }
    double to_m = impa_io_unit_m(g->x_units); /* grid unit -> metres; 1: written as they are */
    if (!strcmp(g->grid_mapping_name, "latitude_longitude")) {
        to_m = 1;
        CK(put_text(ncid, v_x, "units", "degrees_east"));
        CK(put_text(ncid, v_y, "units", "degrees_north"));
    } else if (!strncmp(g->x_units, "degree", 6)) {
        to_m = 1;
        CK(put_text(ncid, v_x, "units", "degrees"));
        CK(put_text(ncid, v_y, "units", "degrees"));
    } else if (to_m > 0) {
        CK(put_text(ncid, v_x, "units", "m"));
        CK(put_text(ncid, v_y, "units", "m"));
    } else {
        to_m = 1;
        CK(put_text(ncid, v_x, "units", g->x_units[0] ? g->x_units : "1"));
        CK(put_text(ncid, v_y, "units", g->x_units[0] ? g->x_units : "1"));
    }
    CK(put_text(ncid, v_x, "axis", "X"));
    CK(put_text(ncid, v_y, "axis", "Y"));

    if (g->grid_mapping_name[0] || g->n_attrs > 0) {
        CK(nc_def_var(ncid, "crs", NC_INT, 0, NULL, &v_crs));
        for (int i = 0; i < g->n_attrs && i < IMPA_GRID_MAX_ATTRS; i++) {
            const impa_grid_attr_t *a = &g->attrs[i];
            if (!a->name[0] || !strcmp(a->name, "crs_wkt"))
                continue;
            if (a->is_text)
                CK(put_text(ncid, v_crs, a->name, a->text));
            else if (a->n_values > 0)
                CK(nc_put_att_double(ncid, v_crs, a->name, NC_DOUBLE, (size_t)a->n_values, a->values));
        }
        if (g->grid_mapping_name[0])
            CK(put_text(ncid, v_crs, "grid_mapping_name", g->grid_mapping_name));
        /* The CRS in OGC WKT2 from PROJ: unambiguous for every reader, also for
         * projections CF has no name for (+proj=sterea, somerc). */
        char *wkt = NULL;
        if (impa_io_grid_wkt(g, &wkt) == IMPA_OK) {
            rc = put_text(ncid, v_crs, "crs_wkt", wkt);
            free(wkt);
            if (rc != NC_NOERR)
                return rc;
        }
    }

    int dims[3] = {d_lead, d_y, d_x};
    size_t chunk[3] = {1, (size_t)g->ny, (size_t)g->nx};
    CK(nc_def_var(ncid, "reflectivity", NC_FLOAT, 3, dims, &v_refl));
    CK(nc_def_var_chunking(ncid, v_refl, NC_CHUNKED, chunk));
    CK(nc_def_var_deflate(ncid, v_refl, 1, 1, 4));
    float fill = ARCHIVE_FILL;
    CK(nc_def_var_fill(ncid, v_refl, 0, &fill));
    CK(put_text(ncid, v_refl, "standard_name", "equivalent_reflectivity_factor"));
    CK(put_text(ncid, v_refl, "long_name", "forecast radar reflectivity"));
    CK(put_text(ncid, v_refl, "units", "dBZ"));
    CK(put_text(ncid, v_refl, "coordinates", "forecast_reference_time time"));
    if (v_crs >= 0)
        CK(put_text(ncid, v_refl, "grid_mapping", "crs"));

    /* The exceedance probabilities (impa/prob.h): CF's way for a probability of
     * a quantity above thresholds, a threshold coordinate in the quantity's
     * units and the probability in units 1 (docs/io.md). */
    if (pf) {
        CK(nc_def_dim(ncid, "threshold", (size_t)pf->n_thresholds, &d_thr));
        CK(nc_def_var(ncid, "threshold", NC_FLOAT, 1, &d_thr, &v_thr));
        CK(put_text(ncid, v_thr, "standard_name", "equivalent_reflectivity_factor"));
        CK(put_text(ncid, v_thr, "long_name", "reflectivity threshold of the probability"));
        CK(put_text(ncid, v_thr, "units", "dBZ"));
        int pd[4] = {d_thr, d_lead, d_y, d_x};
        size_t pchunk[4] = {1, 1, (size_t)g->ny, (size_t)g->nx};
        CK(nc_def_var(ncid, "reflectivity_probability", NC_FLOAT, 4, pd, &v_prob));
        CK(nc_def_var_chunking(ncid, v_prob, NC_CHUNKED, pchunk));
        CK(nc_def_var_deflate(ncid, v_prob, 1, 1, 4));
        float pfill = ARCHIVE_FILL;
        CK(nc_def_var_fill(ncid, v_prob, 0, &pfill));
        CK(put_text(ncid, v_prob, "long_name",
                    "probability of forecast radar reflectivity >= threshold"));
        CK(put_text(ncid, v_prob, "units", "1"));
        CK(put_text(ncid, v_prob, "cell_methods",
                    "area: mean (comment: calibrated fraction of a window, growing with lead "
                    "time, where the forecast reflectivity is >= threshold)"));
        CK(put_text(ncid, v_prob, "coordinates", "forecast_reference_time time"));
        if (v_crs >= 0)
            CK(put_text(ncid, v_prob, "grid_mapping", "crs"));
        if (pf->calibration)
            CK(put_text(ncid, v_prob, "calibration", pf->calibration));
        CK(nc_put_att_int(ncid, v_prob, "trend", NC_INT, (size_t)pf->n_thresholds, pf->trend));
        CK(put_text(ncid, v_prob, "trend_meaning",
                    "per threshold: -1 decaying, 0 steady, 1 growing (area >= threshold in the "
                    "newest input against the oldest)"));
        if (!isnan(pf->growth_per_h[0])) /* a table with growth terms: all thresholds have it */
            CK(nc_put_att_float(ncid, v_prob, "growth_per_hour", NC_FLOAT,
                                (size_t)pf->n_thresholds, pf->growth_per_h));
        int rd[2] = {d_thr, d_lead};
        CK(nc_def_var(ncid, "probability_radius", NC_FLOAT, 2, rd, &v_rad));
        CK(put_text(ncid, v_rad, "long_name", "half-width of the probability's window"));
        CK(put_text(ncid, v_rad, "units", "km"));
    }

    /* Global attributes */
    char buf[1024];
    CK(put_text(ncid, NC_GLOBAL, "Conventions", "CF-1.8"));
    snprintf(buf, sizeof buf, "impa-nowcast radar reflectivity nowcast%s%s", fc->domain ? " for " : "",
             fc->domain ? fc->domain : "");
    CK(put_text(ncid, NC_GLOBAL, "title", buf));
    CK(put_text(ncid, NC_GLOBAL, "institution", "impa-nowcast operational nowcasting service"));
    snprintf(buf, sizeof buf, "impa-nowcast %s; model %s %s; weights sha256 %s", IMPA_VERSION,
             fc->model_name ? fc->model_name : "none", fc->model_version ? fc->model_version : "",
             fc->weights_sha256 ? fc->weights_sha256 : "none");
    CK(put_text(ncid, NC_GLOBAL, "source", buf));
    CK(put_text(ncid, NC_GLOBAL, "method", impa_method_name(fc->method)));
    if (fc->fallback_reason && fc->fallback_reason[0])
        CK(put_text(ncid, NC_GLOBAL, "fallback_reason", fc->fallback_reason));
    if (fc->domain)
        CK(put_text(ncid, NC_GLOBAL, "domain", fc->domain));
    if (fc->model_name)
        CK(put_text(ncid, NC_GLOBAL, "model_name", fc->model_name));
    if (fc->model_version)
        CK(put_text(ncid, NC_GLOBAL, "model_version", fc->model_version));
    if (fc->weights_sha256)
        CK(put_text(ncid, NC_GLOBAL, "weights_sha256", fc->weights_sha256));
    CK(put_text(ncid, NC_GLOBAL, "config_version", fc->config_version ? fc->config_version : "unknown"));
    size_t off = 0;
    inputs[0] = '\0';
    for (int i = 0; i < fc->n_inputs && i < IMPA_MAX_INPUTS; i++) {
        int n = snprintf(inputs + off, inputs_len - off, "%s%s @ %s", i ? "\n" : "",
                         fc->input_paths[i] ? fc->input_paths[i] : "?",
                         impa_time_iso(fc->input_times[i], iso, sizeof iso));
        if (n < 0 || (size_t)n >= inputs_len - off)
            break;
        off += (size_t)n;
    }
    CK(put_text(ncid, NC_GLOBAL, "inputs", inputs));
    CK(nc_put_att_int(ncid, NC_GLOBAL, "step_minutes", NC_INT, 1, &fc->step_minutes));
    if (fc->alerts) { /* the cycle's alert cells, summarised (the cells are published) */
        const impa_alerts_t *a = fc->alerts;
        CK(nc_put_att_float(ncid, NC_GLOBAL, "alert_threshold_dbz", NC_FLOAT, 1, &a->threshold_dbz));
        CK(nc_put_att_int(ncid, NC_GLOBAL, "alert_cells", NC_INT, 1, &a->n_cells));
        CK(nc_put_att_int(ncid, NC_GLOBAL, "alert_tracks", NC_INT, 1, &a->n_tracks));
    } else if (fc->alert_error) {
        CK(put_text(ncid, NC_GLOBAL, "alert_error", fc->alert_error));
    }
    snprintf(buf, sizeof buf, "%s: written by impa-nowcast %s", impa_time_iso((int64_t)impa_time_now(), iso, sizeof iso),
             IMPA_VERSION);
    CK(put_text(ncid, NC_GLOBAL, "history", buf));
    CK(nc_enddef(ncid));

    double t = (double)fc->issue_time;
    CK(nc_put_var_double(ncid, v_ref, &t));
    for (int k = 0; k < fc->n_leads; k++) {
        size_t idx = (size_t)k;
        int lead = (k + 1) * fc->step_minutes;
        double since_issue = 60.0 * lead;
        CK(nc_put_var1_int(ncid, v_lead, &idx, &lead));
        CK(nc_put_var1_double(ncid, v_valid, &idx, &since_issue));
    }
    for (int i = 0; i < g->nx; i++) {
        size_t idx = (size_t)i;
        double c = (g->x0 + i * g->dx) * to_m;
        CK(nc_put_var1_double(ncid, v_x, &idx, &c));
    }
    for (int i = 0; i < g->ny; i++) {
        size_t idx = (size_t)i;
        double c = (g->y0 + i * g->dy) * to_m;
        CK(nc_put_var1_double(ncid, v_y, &idx, &c));
    }
    size_t plane = (size_t)g->nx * (size_t)g->ny;
    float *frame = malloc(plane * sizeof *frame);
    if (!frame)
        return NC_ENOMEM;
    for (int k = 0; k < fc->n_leads && rc == NC_NOERR; k++) {
        const float *src = fc->dbz + (size_t)k * plane;
        for (size_t i = 0; i < plane; i++)
            frame[i] = isfinite(src[i]) ? src[i] : ARCHIVE_FILL;
        size_t start[3] = {(size_t)k, 0, 0}, count[3] = {1, (size_t)g->ny, (size_t)g->nx};
        rc = nc_put_vara_float(ncid, v_refl, start, count, frame);
    }
    if (pf && rc == NC_NOERR)
        rc = nc_put_var_float(ncid, v_thr, pf->thresholds);
    if (pf && rc == NC_NOERR)
        rc = nc_put_var_float(ncid, v_rad, pf->radius_km);
    if (pf) {
        for (int ti = 0; ti < pf->n_thresholds && rc == NC_NOERR; ti++)
            for (int k = 0; k < fc->n_leads && rc == NC_NOERR; k++) {
                const float *src = pf->p + ((size_t)ti * pf->n_leads + k) * plane;
                for (size_t i = 0; i < plane; i++)
                    frame[i] = isfinite(src[i]) ? src[i] : ARCHIVE_FILL;
                size_t start[4] = {(size_t)ti, (size_t)k, 0, 0};
                size_t count[4] = {1, 1, (size_t)g->ny, (size_t)g->nx};
                rc = nc_put_vara_float(ncid, v_prob, start, count, frame);
            }
    }
    free(frame);
    return rc;
#undef CK
}

int impa_archive_paths(const char *dir, const char *prefix, int64_t issue_time, char *final,
                       char *tmp, size_t len)
{
    char stamp[32], name[PATH_MAX];
    impa_time_compact(issue_time, stamp, sizeof stamp);
    snprintf(name, sizeof name, "%s%s.nc", prefix ? prefix : "", stamp);
    if (snprintf(tmp, len, "%s/.%s.tmp", dir, name) >= (int)len ||
        snprintf(final, len, "%s/%s", dir, name) >= (int)len)
        return IMPA_EINVAL;
    return 0;
}

int impa_archive_write(const char *dir, const char *prefix, const impa_forecast_t *fc, char *path_out,
                       char *err, size_t errlen)
{
    if (!dir || !fc || !fc->grid || !fc->dbz || fc->n_leads <= 0 || fc->grid->nx <= 0 || fc->grid->ny <= 0)
        return impa_err(err, errlen, IMPA_EINVAL, "archive: NULL or empty forecast");
    char tmp[PATH_MAX], final[PATH_MAX];
    if (impa_archive_paths(dir, prefix, fc->issue_time, final, tmp, PATH_MAX))
        return impa_err(err, errlen, IMPA_EINVAL, "archive: path too long in %s", dir);
    char *inputs = malloc(IMPA_MAX_INPUTS * (PATH_MAX + 32));
    if (!inputs)
        return impa_err(err, errlen, IMPA_ENOMEM, "archive: no memory");
    int ncid, nrc, rc = IMPA_OK;
    errno = 0;
    nrc = nc_create(tmp, NC_NETCDF4 | NC_CLOBBER, &ncid);
    if (nrc != NC_NOERR) {
        unlink(tmp);
        int e = create_errno(tmp);
        rc = classify_write_error(dir, e ? e : nrc, e);
        impa_err(err, errlen, rc, "archive: cannot create %s: %s%s", tmp,
                 e ? strerror(e) : nrc > 0 ? strerror(nrc) : nc_strerror(nrc),
                 rc == IMPA_ENOSPC && e != ENOSPC ? " (no space left on device)" : "");
        goto done;
    }
    nrc = write_content(ncid, fc, inputs, IMPA_MAX_INPUTS * (PATH_MAX + 32));
    int e = errno;
    int crc = nc_close(ncid);
    if (nrc == NC_NOERR && crc != NC_NOERR) {
        nrc = crc;
        e = errno;
    }
    if (nrc != NC_NOERR) {
        unlink(tmp);
        rc = classify_write_error(dir, nrc, e);
        impa_err(err, errlen, rc, "archive: writing %s failed: %s%s", tmp, nrc > 0 ? strerror(nrc) : nc_strerror(nrc),
                 rc == IMPA_ENOSPC ? " (no space left on device; temporary file removed)" : "");
        goto done;
    }
    errno = 0;
    if (impa_fsync_path(tmp, 0) != 0 || rename(tmp, final) != 0) {
        e = errno;
        unlink(tmp);
        rc = classify_write_error(dir, e, e);
        impa_err(err, errlen, rc, "archive: fsync/rename %s -> %s failed: %s", tmp, final, strerror(e));
        goto done;
    }
    impa_fsync_path(dir, 1); /* the rename is durable once the directory is */
    if (path_out)
        snprintf(path_out, PATH_MAX, "%s", final);
done:
    free(inputs);
    return rc;
}

int impa_archive_read_prob(const char *path, float *thr, int max_thr, int *n_thr, int *n_leads,
                           int *ny, int *nx, float **p, char *err, size_t errlen)
{
    if (!path || !thr || max_thr < 1 || !n_thr || !n_leads || !ny || !nx || !p)
        return impa_err(err, errlen, IMPA_EINVAL, "archive: NULL argument");
    *p = NULL;
    int ncid, nrc = nc_open(path, NC_NOWRITE, &ncid);
    if (nrc != NC_NOERR)
        return impa_err(err, errlen, nrc > 0 ? IMPA_EIO : IMPA_EFORMAT,
                        "%s: cannot open archive: %s", path, nc_strerror(nrc));
    int rc = IMPA_OK, v_prob, v_thr, dims[4], nd = 0;
    size_t len[4];
    float *data = NULL;
    if (nc_inq_varid(ncid, "reflectivity_probability", &v_prob) != NC_NOERR) {
        rc = impa_err(err, errlen, IMPA_ENOTFOUND, "%s: no reflectivity_probability", path);
        goto done;
    }
    if (nc_inq_varndims(ncid, v_prob, &nd) || nd != 4 || nc_inq_vardimid(ncid, v_prob, dims) ||
        nc_inq_varid(ncid, "threshold", &v_thr)) {
        rc = impa_err(err, errlen, IMPA_EFORMAT,
                      "%s: reflectivity_probability is not [threshold][lead_time][y][x]", path);
        goto done;
    }
    for (int i = 0; i < 4; i++)
        nc_inq_dimlen(ncid, dims[i], &len[i]);
    if (len[0] < 1 || len[0] > 64 || len[1] < 1 || len[1] > 10000 || len[2] < 1 ||
        len[3] < 1 || len[2] > IMPA_IO_MAX_SIDE || len[3] > IMPA_IO_MAX_SIDE) {
        rc = impa_err(err, errlen, IMPA_EFORMAT, "%s: absurd probability shape", path);
        goto done;
    }
    float all_thr[64];
    size_t n = len[0] * len[1] * len[2] * len[3];
    data = malloc(n * sizeof *data);
    if (!data) {
        rc = impa_err(err, errlen, IMPA_ENOMEM, "%s: no memory", path);
        goto done;
    }
    if (nc_get_var_float(ncid, v_thr, all_thr) || nc_get_var_float(ncid, v_prob, data)) {
        rc = impa_err(err, errlen, IMPA_EFORMAT, "%s: reading reflectivity_probability failed",
                      path);
        goto done;
    }
    int f;
    float fill = (float)impa_io_att_double(ncid, v_prob, "_FillValue", ARCHIVE_FILL, &f);
    for (size_t i = 0; i < n; i++)
        if (data[i] == fill || !isfinite(data[i]))
            data[i] = NAN;
    *n_thr = (int)len[0] < max_thr ? (int)len[0] : max_thr;
    for (int i = 0; i < *n_thr; i++)
        thr[i] = all_thr[i];
    *n_leads = (int)len[1], *ny = (int)len[2], *nx = (int)len[3];
    *p = data;
    data = NULL;
done:
    free(data);
    nc_close(ncid);
    return rc;
}

int impa_archive_read(const char *path, impa_grid_t *grid, int64_t *issue_time, int *step_minutes, int *n_leads,
                      float **dbz, char *method, size_t method_len, char *err, size_t errlen)
{
    if (!path || !grid || !issue_time || !step_minutes || !n_leads || !dbz)
        return impa_err(err, errlen, IMPA_EINVAL, "archive: NULL argument");
    *dbz = NULL;
    int ncid, nrc = nc_open(path, NC_NOWRITE, &ncid);
    if (nrc != NC_NOERR)
        return impa_err(err, errlen, nrc > 0 ? IMPA_EIO : IMPA_EFORMAT, "%s: cannot open archive: %s", path,
                        nc_strerror(nrc));
    int rc = IMPA_OK, d_lead, d_y, d_x, v_refl, v_time, v_lead, v_x, v_y;
    size_t nl, ny, nx;
    double *xs = NULL, *ys = NULL;
    int *leads = NULL;
    float *data = NULL;
    char buf[64];
    /* The issue time: forecast_reference_time; files written before it became
     * a coordinate of its own held it in the scalar "time". */
    if (nc_inq_dimid(ncid, "lead_time", &d_lead) || nc_inq_dimid(ncid, "y", &d_y) || nc_inq_dimid(ncid, "x", &d_x) ||
        nc_inq_varid(ncid, "reflectivity", &v_refl) ||
        (nc_inq_varid(ncid, "forecast_reference_time", &v_time) && nc_inq_varid(ncid, "time", &v_time)) ||
        nc_inq_varid(ncid, "lead_time", &v_lead) || nc_inq_varid(ncid, "x", &v_x) || nc_inq_varid(ncid, "y", &v_y)) {
        rc = impa_err(err, errlen, IMPA_EFORMAT, "%s: not an impa-nowcast archive (missing dims/variables)", path);
        goto done;
    }
    int tnd = -1;
    if (nc_inq_varndims(ncid, v_time, &tnd) || tnd != 0) {
        rc = impa_err(err, errlen, IMPA_EFORMAT, "%s: no scalar forecast_reference_time", path);
        goto done;
    }
    nc_inq_dimlen(ncid, d_lead, &nl);
    nc_inq_dimlen(ncid, d_y, &ny);
    nc_inq_dimlen(ncid, d_x, &nx);
    if (nl == 0 || nx == 0 || ny == 0 || nx > IMPA_IO_MAX_SIDE || ny > IMPA_IO_MAX_SIDE || nl > 10000) {
        rc = impa_err(err, errlen, IMPA_EFORMAT, "%s: absurd archive shape %zux%zux%zu", path, nl, ny, nx);
        goto done;
    }
    xs = malloc(nx * sizeof *xs);
    ys = malloc(ny * sizeof *ys);
    leads = malloc(nl * sizeof *leads);
    data = malloc(nl * ny * nx * sizeof *data);
    if (!xs || !ys || !leads || !data) {
        rc = impa_err(err, errlen, IMPA_ENOMEM, "%s: no memory", path);
        goto done;
    }
    double t;
    if (nc_get_var_double(ncid, v_x, xs) || nc_get_var_double(ncid, v_y, ys) ||
        nc_get_var_int(ncid, v_lead, leads) || nc_get_var_double(ncid, v_time, &t) ||
        nc_get_var_float(ncid, v_refl, data)) {
        rc = impa_err(err, errlen, IMPA_EFORMAT, "%s: reading archive data failed (truncated?)", path);
        goto done;
    }
    memset(grid, 0, sizeof *grid);
    grid->nx = (int)nx;
    grid->ny = (int)ny;
    grid->x0 = xs[0];
    grid->y0 = ys[0];
    grid->dx = nx > 1 ? (xs[nx - 1] - xs[0]) / (double)(nx - 1) : 1;
    grid->dy = ny > 1 ? (ys[ny - 1] - ys[0]) / (double)(ny - 1) : 1;
    if (!impa_io_att_text(ncid, v_x, "units", buf, sizeof buf) && strncmp(buf, "degree", 6) && strcmp(buf, "1"))
        snprintf(grid->x_units, sizeof grid->x_units, "%.15s", buf);
    else if (!strncmp(buf, "degree", 6))
        snprintf(grid->x_units, sizeof grid->x_units, "degrees");
    int v_crs;
    if (nc_inq_varid(ncid, "crs", &v_crs) == NC_NOERR)
        impa_io_copy_grid_mapping(ncid, v_crs, grid);
    double scale = 1;
    int64_t epoch = 0;
    if (!impa_io_att_text(ncid, v_time, "units", buf, sizeof buf) &&
        impa_time_parse_cf_units(buf, &scale, &epoch) != IMPA_OK) {
        rc = impa_err(err, errlen, IMPA_EFORMAT, "%s: issue time units '%s' are not '<unit> since <date>'", path, buf);
        goto done;
    }
    *issue_time = epoch + llround(t * scale);
    *n_leads = (int)nl;
    *step_minutes = nl > 1 ? leads[1] - leads[0] : leads[0];
    float fill = ARCHIVE_FILL;
    int f;
    fill = (float)impa_io_att_double(ncid, v_refl, "_FillValue", fill, &f);
    for (size_t i = 0; i < nl * ny * nx; i++)
        if (data[i] == fill || !isfinite(data[i]))
            data[i] = NAN;
    if (method && method_len > 0 && impa_io_att_text(ncid, NC_GLOBAL, "method", method, method_len))
        method[0] = '\0';
    *dbz = data;
    data = NULL;
done:
    free(xs);
    free(ys);
    free(leads);
    free(data);
    nc_close(ncid);
    return rc;
}

/* "<prefix>YYYYMMDDTHHMMSSZ.nc" -> issue time; -1 when the name does not match. */
static int name_time(const char *name, const char *prefix, int64_t *t)
{
    size_t pl = strlen(prefix), nl = strlen(name);
    if (strncmp(name, prefix, pl) != 0 || nl != pl + 16 + 3 || strcmp(name + nl - 3, ".nc") != 0)
        return -1;
    const char *s = name + pl;
    if (s[8] != 'T' || s[15] != 'Z')
        return -1;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (s[i] < '0' || s[i] > '9'))
            return -1;
    char iso[32];
    snprintf(iso, sizeof iso, "%.4s-%.2s-%.2sT%.2s:%.2s:%.2s", s, s + 4, s + 6, s + 9, s + 11, s + 13);
    return impa_time_parse_iso(iso, t) == IMPA_OK ? 0 : -1;
}

int impa_archive_prune(const char *dir, const char *prefix, int64_t now, int64_t retention_s, char *err,
                       size_t errlen)
{
    if (!dir || retention_s < 0)
        return impa_err(err, errlen, IMPA_EINVAL, "archive prune: bad directory or retention");
    if (!prefix)
        prefix = "";
    DIR *d = opendir(dir);
    if (!d)
        return impa_err(err, errlen, IMPA_EIO, "archive prune: cannot open %s: %s", dir, strerror(errno));
    int removed = 0, rc = IMPA_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        int64_t t;
        if (de->d_name[0] == '.' || name_time(de->d_name, prefix, &t) != 0 || t >= now - retention_s)
            continue;
        char p[PATH_MAX];
        if (snprintf(p, sizeof p, "%s/%s", dir, de->d_name) >= (int)sizeof p)
            continue;
        if (unlink(p) == 0)
            removed++;
        else if (errno != ENOENT)
            rc = impa_err(err, errlen, IMPA_EIO, "archive prune: cannot remove %s: %s", p, strerror(errno));
    }
    closedir(d);
    return rc ? rc : removed;
}
