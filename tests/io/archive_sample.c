/* Writes sample forecast archives for tests/io/test_archive_xarray.py and prints,
 * per file, where impa_grid_latlon puts the first and the last cell:
 *   archive_sample DIR  ->  "<path> <lat0> <lon0> <lat1> <lon1>" lines.
 * Grids: BoM Brisbane (CF Albers attributes, x/y in km), KNMI (its proj4 string
 * with the ellipsoid in km, polar stereographic) and the Dutch RD grid
 * (+proj=sterea, which has no CF name: crs_wkt only). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "impa/archive.h"
#include "io/io-impl.h"

static int write_one(const char *dir, const char *prefix, const impa_grid_t *g, int64_t issue)
{
    enum { L = 3 };
    static float dbz[L * 64 * 64];
    size_t n = (size_t)g->nx * (size_t)g->ny;
    for (size_t i = 0; i < L * n; i++)
        dbz[i] = (float)(i % 23) * 2.5f - 10.0f;
    dbz[1] = NAN;
    impa_forecast_t fc;
    memset(&fc, 0, sizeof fc);
    fc.domain = prefix;
    fc.issue_time = issue;
    fc.step_minutes = 10;
    fc.n_leads = L;
    fc.grid = g;
    fc.dbz = dbz;
    fc.method = IMPA_METHOD_EXTRAPOLATION;
    char path[4096], err[512];
    if (impa_archive_write(dir, prefix, &fc, path, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double la0, lo0, la1, lo1;
    if (impa_grid_latlon(g, 0, 0, &la0, &lo0) || impa_grid_latlon(g, g->nx - 1, g->ny - 1, &la1, &lo1)) {
        fprintf(stderr, "%s: no lat/lon\n", prefix);
        return 1;
    }
    printf("%s %.10f %.10f %.10f %.10f\n", path, la0, lo0, la1, lo1);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: archive_sample DIR\n");
        return 2;
    }
    impa_grid_t g;
    double u;
    /* BoM Brisbane: CF attributes as in the file, km */
    memset(&g, 0, sizeof g);
    g.nx = 8;
    g.ny = 6;
    g.x0 = -127.75;
    g.dx = 0.5;
    g.y0 = 127.75;
    g.dy = -0.5;
    snprintf(g.x_units, sizeof g.x_units, "km");
    impa_io_grid_set_text(&g, "grid_mapping_name", "albers_conical_equal_area");
    double sp[2] = {-26.2, -29.3}, v;
    impa_io_grid_set_doubles(&g, "standard_parallel", sp, 2);
    v = 153.24;
    impa_io_grid_set_doubles(&g, "longitude_of_central_meridian", &v, 1);
    v = -27.7178;
    impa_io_grid_set_doubles(&g, "latitude_of_projection_origin", &v, 1);
    v = 6378137.0;
    impa_io_grid_set_doubles(&g, "semi_major_axis", &v, 1);
    v = 6356752.31414;
    impa_io_grid_set_doubles(&g, "semi_minor_axis", &v, 1);
    if (write_one(argv[1], "bom_", &g, 1604124000)) /* 2020-10-31T06:00:00Z */
        return 1;
    /* KNMI: polar stereographic from its proj4 string, 1 km cells in metres */
    memset(&g, 0, sizeof g);
    g.nx = 7;
    g.ny = 5;
    g.x0 = 500;
    g.dx = 1000;
    g.y0 = -3650500;
    g.dy = -1000;
    snprintf(g.x_units, sizeof g.x_units, "m");
    if (impa_io_grid_from_proj4(&g, "+proj=stere +lat_0=90 +lon_0=0.0 +lat_ts=60.0 +a=6378.137 +b=6356.752 "
                                    "+x_0=0 +y_0=0", &u))
        return 1;
    if (write_one(argv[1], "knmi_", &g, 1282780800)) /* 2010-08-26T00:00:00Z */
        return 1;
    /* Dutch RD: no CF name */
    memset(&g, 0, sizeof g);
    g.nx = 4;
    g.ny = 4;
    g.x0 = 155500;
    g.dx = 1000;
    g.y0 = 462500;
    g.dy = -1000;
    snprintf(g.x_units, sizeof g.x_units, "m");
    if (impa_io_grid_from_proj4(&g, "+proj=sterea +lat_0=52.15616055555555 +lon_0=5.38763888888889 "
                                    "+k=0.9999079 +x_0=155000 +y_0=463000 +ellps=bessel", &u))
        return 1;
    return write_one(argv[1], "rd_", &g, 1732582800) ? 1 : 0; /* 2024-11-26T01:00:00Z */
}
