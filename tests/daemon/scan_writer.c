#include "scan_writer.h"

#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>

#define TRY(call)                                                                            \
    do {                                                                                     \
        if ((rc = (call)) != NC_NOERR)                                                       \
            goto done;                                                                       \
    } while (0)

int test_write_scan(const char *path, int ny, int nx, int64_t t)
{
    int rc, ncid = -1, dy, dx, vt, vy, vx, vr;
    float *dbz = malloc((size_t)ny * (size_t)nx * sizeof *dbz);
    double *x = malloc((size_t)nx * sizeof *x), *y = malloc((size_t)ny * sizeof *y);
    if (!dbz || !x || !y) {
        rc = NC_ENOMEM;
        goto done;
    }
    double shift = (double)(t % 86400) / 600.0; /* one cell per 10 min */
    double cx = fmod(nx * 0.25 + shift, (double)nx), cy = ny * 0.5;
    for (int i = 0; i < ny; i++)
        for (int j = 0; j < nx; j++) {
            double r2 = ((j - cx) * (j - cx) + (i - cy) * (i - cy)) / (0.04 * nx * nx);
            dbz[i * nx + j] = (float)(55.0 * exp(-r2)) - 5.0f;
        }
    for (int j = 0; j < nx; j++)
        x[j] = -nx / 2.0 + j + 0.5;
    for (int i = 0; i < ny; i++)
        y[i] = ny / 2.0 - i - 0.5;
    TRY(nc_create(path, NC_CLOBBER | NC_NETCDF4, &ncid));
    TRY(nc_def_dim(ncid, "y", (size_t)ny, &dy));
    TRY(nc_def_dim(ncid, "x", (size_t)nx, &dx));
    TRY(nc_def_var(ncid, "time", NC_DOUBLE, 0, NULL, &vt));
    TRY(nc_put_att_text(ncid, vt, "standard_name", 4, "time"));
    TRY(nc_put_att_text(ncid, vt, "units", 37, "seconds since 1970-01-01 00:00:00 UTC"));
    TRY(nc_def_var(ncid, "y", NC_DOUBLE, 1, &dy, &vy));
    TRY(nc_put_att_text(ncid, vy, "standard_name", 23, "projection_y_coordinate"));
    TRY(nc_put_att_text(ncid, vy, "units", 2, "km"));
    TRY(nc_def_var(ncid, "x", NC_DOUBLE, 1, &dx, &vx));
    TRY(nc_put_att_text(ncid, vx, "standard_name", 23, "projection_x_coordinate"));
    TRY(nc_put_att_text(ncid, vx, "units", 2, "km"));
    int dims[2] = {dy, dx};
    TRY(nc_def_var(ncid, "reflectivity", NC_FLOAT, 2, dims, &vr));
    TRY(nc_put_att_text(ncid, vr, "standard_name", 30, "equivalent_reflectivity_factor"));
    TRY(nc_put_att_text(ncid, vr, "units", 3, "dBZ"));
    float fill = -999.0f;
    TRY(nc_put_att_float(ncid, vr, "_FillValue", NC_FLOAT, 1, &fill));
    TRY(nc_put_att_text(ncid, NC_GLOBAL, "Conventions", 6, "CF-1.8"));
    TRY(nc_enddef(ncid));
    double tv = (double)t;
    TRY(nc_put_var_double(ncid, vt, &tv));
    TRY(nc_put_var_double(ncid, vy, y));
    TRY(nc_put_var_double(ncid, vx, x));
    TRY(nc_put_var_float(ncid, vr, dbz));
done:
    if (ncid >= 0) {
        int rc2 = nc_close(ncid);
        if (rc == NC_NOERR)
            rc = rc2;
    }
    free(dbz);
    free(x);
    free(y);
    return rc;
}

int test_drop_scan(const char *dir, const char *name, int ny, int nx, int64_t t)
{
    char tmp[4200], dst[4200];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    if (test_write_scan(tmp, ny, nx, t))
        return -1;
    return rename(tmp, dst);
}
