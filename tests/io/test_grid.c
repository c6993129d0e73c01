/* Map projections of impa_grid_latlon / impa_grid_cell_of (PROJ underneath) against
 * values from PROJ's own command-line tools and pyproj's CRS.from_cf (output pasted
 * below: they check the CF -> PROJ translation, not PROJ), round trips, the PROJ
 * string parser of the ODIM/KNMI readers, the WKT of the archive, the per-thread
 * cache of PROJ objects (a changed grid is never served a stale projection; more
 * grids than cache slots; two threads), cell areas and scan init. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "impa/grid.h"
#include "io/io-impl.h"

static void set_text(impa_grid_t *g, const char *name, const char *text)
{
    impa_grid_attr_t *a = &g->attrs[g->n_attrs++];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    a->is_text = 1;
    snprintf(a->text, sizeof a->text, "%s", text);
}

static void set_num(impa_grid_t *g, const char *name, double v0, double v1, int n)
{
    impa_grid_attr_t *a = &g->attrs[g->n_attrs++];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    a->values[0] = v0;
    a->values[1] = v1;
    a->n_values = n;
}

/* Unit grid in metres: cell (col,row) == projected (x,y). */
static impa_grid_t unit_grid(const char *mapping)
{
    impa_grid_t g;
    memset(&g, 0, sizeof g);
    g.nx = g.ny = 10;
    g.dx = g.dy = 1;
    snprintf(g.x_units, sizeof g.x_units, "m");
    snprintf(g.grid_mapping_name, sizeof g.grid_mapping_name, "%s", mapping);
    return g;
}

static void check_forward(const impa_grid_t *g, double lat, double lon, double ex, double ey, double tol_m)
{
    double x, y, la, lo;
    assert_int_equal(impa_grid_cell_of(g, lat, lon, &x, &y), 0);
    assert_true(fabs(x - ex) < tol_m);
    assert_true(fabs(y - ey) < tol_m);
    /* round trip through the inverse */
    assert_int_equal(impa_grid_latlon(g, x, y, &la, &lo), 0);
    assert_true(fabs(la - lat) < 1e-8);
    assert_true(fabs(lo - lon) < 1e-8);
}

static void test_albers_bom(void **state)
{
    (void)state;
    impa_grid_t g = unit_grid("albers_conical_equal_area");
    set_num(&g, "standard_parallel", -26.2, -29.3, 2);
    set_num(&g, "longitude_of_central_meridian", 153.24, 0, 1);
    set_num(&g, "latitude_of_projection_origin", -27.7178, 0, 1);
    set_num(&g, "semi_major_axis", 6378137.0, 0, 1);
    set_num(&g, "semi_minor_axis", 6356752.31414, 0, 1);
    double lat, lon;
    /* cs2cs: 100000 -50000 -> 154.258567282 -28.165095306 */
    assert_int_equal(impa_grid_latlon(&g, 100000, -50000, &lat, &lon), 0);
    assert_true(fabs(lat - -28.165095306) < 1e-8);
    assert_true(fabs(lon - 154.258567282) < 1e-8);
    /* cs2cs: -127750 127750 -> 151.957658470 -26.559210969 */
    assert_int_equal(impa_grid_latlon(&g, -127750, 127750, &lat, &lon), 0);
    assert_true(fabs(lat - -26.559210969) < 1e-8);
    assert_true(fabs(lon - 151.957658470) < 1e-8);
    /* BoM layout: km, 512 cells of 0.5 km centred on the origin, north-up. */
    g.nx = g.ny = 512;
    snprintf(g.x_units, sizeof g.x_units, "km");
    g.x0 = -127.75;
    g.dx = 0.5;
    g.y0 = 127.75;
    g.dy = -0.5;
    assert_int_equal(impa_grid_latlon(&g, 255.5, 255.5, &lat, &lon), 0);
    assert_true(fabs(lat - -27.7178) < 1e-9);
    assert_true(fabs(lon - 153.24) < 1e-9);
    assert_int_equal(impa_grid_latlon(&g, 0, 511, &lat, &lon), 0);
    assert_true(fabs(lat - -26.559210969) < 1e-4 || lat < -28); /* row 511 is the south edge */
    assert_true(lat < -28.8 && lon < 152.0);
    assert_true(fabs(impa_grid_cell_area_km2(&g) - 0.25) < 1e-12);
}

static void test_polar_stereo(void **state)
{
    (void)state;
    /* proj +proj=stere +lat_0=90 +lon_0=0 +lat_ts=60 +a=6378137 +b=6356752 */
    impa_grid_t g = unit_grid("polar_stereographic");
    set_num(&g, "straight_vertical_longitude_from_pole", 0, 0, 1);
    set_num(&g, "latitude_of_projection_origin", 90, 0, 1);
    set_num(&g, "standard_parallel", 60, 0, 1);
    set_num(&g, "semi_major_axis", 6378137, 0, 1);
    set_num(&g, "semi_minor_axis", 6356752, 0, 1);
    check_forward(&g, 52.1, 5.18, 369687.1188, -4077947.9395, 0.01);
    /* EPSG:3031-like south pole, lat_ts -71 */
    impa_grid_t s = unit_grid("polar_stereographic");
    set_num(&s, "straight_vertical_longitude_from_pole", 0, 0, 1);
    set_num(&s, "latitude_of_projection_origin", -90, 0, 1);
    set_num(&s, "standard_parallel", -71, 0, 1);
    check_forward(&s, -75, 45, 1158794.7408, 1158794.7408, 0.01);
    /* scale factor form: +lat_0=90 +lon_0=-45 +k=0.994 +ellps=WGS84 */
    impa_grid_t k = unit_grid("polar_stereographic");
    set_num(&k, "straight_vertical_longitude_from_pole", -45, 0, 1);
    set_num(&k, "latitude_of_projection_origin", 90, 0, 1);
    set_num(&k, "scale_factor_at_projection_origin", 0.994, 0, 1);
    check_forward(&k, 70, -40, 195437.1458, -2233856.7989, 0.01);
}

static void test_laea_tmerc_stereo(void **state)
{
    (void)state;
    /* +proj=laea +lat_0=52 +lon_0=10 +x_0=4321000 +y_0=3210000 +ellps=GRS80 */
    impa_grid_t g = unit_grid("lambert_azimuthal_equal_area");
    set_num(&g, "longitude_of_projection_origin", 10, 0, 1);
    set_num(&g, "latitude_of_projection_origin", 52, 0, 1);
    set_num(&g, "false_easting", 4321000, 0, 1);
    set_num(&g, "false_northing", 3210000, 0, 1);
    set_num(&g, "semi_major_axis", 6378137, 0, 1);
    set_num(&g, "inverse_flattening", 298.257222101, 0, 1);
    check_forward(&g, 50, 8, 4177612.5211, 2989464.3148, 0.01);
    /* +proj=tmerc +lat_0=49 +lon_0=-2 +k=0.9996012717 +x_0=400000 +y_0=-100000 +ellps=airy */
    impa_grid_t t = unit_grid("transverse_mercator");
    set_num(&t, "longitude_of_central_meridian", -2, 0, 1);
    set_num(&t, "latitude_of_projection_origin", 49, 0, 1);
    set_num(&t, "scale_factor_at_central_meridian", 0.9996012717, 0, 1);
    set_num(&t, "false_easting", 400000, 0, 1);
    set_num(&t, "false_northing", -100000, 0, 1);
    set_num(&t, "semi_major_axis", 6377563.396, 0, 1);
    set_num(&t, "inverse_flattening", 299.3249646, 0, 1);
    double x, y;
    assert_int_equal(impa_grid_cell_of(&t, 52, 1, &x, &y), 0);
    assert_true(fabs(x - 605909.1303) < 1e-3);
    assert_true(fabs(y - 237803.3652) < 1e-3);
    double la, lo;
    assert_int_equal(impa_grid_latlon(&t, x, y, &la, &lo), 0);
    assert_true(fabs(la - 52) < 1e-7 && fabs(lo - 1) < 1e-7);
    /* +proj=stere +lat_0=46 +lon_0=8 +k_0=1 +ellps=WGS84 */
    impa_grid_t s = unit_grid("stereographic");
    set_num(&s, "longitude_of_projection_origin", 8, 0, 1);
    set_num(&s, "latitude_of_projection_origin", 46, 0, 1);
    set_num(&s, "scale_factor_at_projection_origin", 1, 0, 1);
    check_forward(&s, 47.2, 9.5, 113674.3004, 134483.0247, 0.01);
}

static void test_latlon_and_errors(void **state)
{
    (void)state;
    impa_grid_t g = unit_grid("latitude_longitude");
    snprintf(g.x_units, sizeof g.x_units, "degrees_east");
    g.x0 = 5;
    g.y0 = 50;
    g.dx = 0.01;
    g.dy = -0.01;
    g.nx = g.ny = 1;
    double lat, lon;
    assert_int_equal(impa_grid_latlon(&g, 10, 20, &lat, &lon), 0);
    assert_true(fabs(lat - 49.8) < 1e-12 && fabs(lon - 5.1) < 1e-12);
    /* 0.01 deg box at 50 N: (0.01*pi/180*R)^2*cos(50) */
    double r = 6371.0088, d = 0.01 * M_PI / 180 * r;
    assert_true(fabs(impa_grid_cell_area_km2(&g) - d * d * cos(50 * M_PI / 180)) < 1e-9);
    impa_grid_t u = unit_grid("");
    assert_int_equal(impa_grid_latlon(&u, 1, 1, &lat, &lon), IMPA_ENOTFOUND);
    impa_grid_t w = unit_grid("no_such_mapping");
    assert_int_equal(impa_grid_latlon(&w, 1, 1, &lat, &lon), IMPA_ENOTFOUND);
    u.dx = 1000;
    u.dy = -1000;
    assert_true(fabs(impa_grid_cell_area_km2(&u) - 1.0) < 1e-12);
}


static void test_more_cf_mappings(void **state)
{
    (void)state;
    /* pyproj CRS.from_cf: lambert_conformal_conic sp 45,50, lat0 47, lon 10, FE 1000,
     * FN 2000, R 6371229: (10.5, 47.3) -> 38669.4334 35449.8693 */
    impa_grid_t l = unit_grid("lambert_conformal_conic");
    set_num(&l, "standard_parallel", 45, 50, 2);
    set_num(&l, "latitude_of_projection_origin", 47, 0, 1);
    set_num(&l, "longitude_of_central_meridian", 10, 0, 1);
    set_num(&l, "false_easting", 1000, 0, 1);
    set_num(&l, "false_northing", 2000, 0, 1);
    set_num(&l, "earth_radius", 6371229, 0, 1);
    check_forward(&l, 47.3, 10.5, 38669.4334, 35449.8693, 1e-3);
    /* mercator standard_parallel 30, lon -80, WGS84 by default: (-75, 40) */
    impa_grid_t m = unit_grid("mercator");
    set_num(&m, "standard_parallel", 30, 0, 1);
    set_num(&m, "longitude_of_projection_origin", -80, 0, 1);
    check_forward(&m, 40, -75, 482431.4013, 4193749.9352, 1e-3);
    /* rotated pole (COSMO-EU: pole 40 N, 170 W); grid in rotated degrees.
     * pyproj: (10 E, 50 N) -> (0, 0); (2.35 E, 48.85 N) -> (-5.026059054, -0.892903758) */
    impa_grid_t r = unit_grid("rotated_latitude_longitude");
    snprintf(r.x_units, sizeof r.x_units, "degrees");
    set_num(&r, "grid_north_pole_latitude", 40, 0, 1);
    set_num(&r, "grid_north_pole_longitude", -170, 0, 1);
    double x, y, lat, lon;
    assert_int_equal(impa_grid_cell_of(&r, 50, 10, &x, &y), 0);
    assert_true(fabs(x) < 1e-9 && fabs(y) < 1e-9);
    assert_int_equal(impa_grid_cell_of(&r, 48.85, 2.35, &x, &y), 0);
    assert_true(fabs(x - -5.026059054) < 1e-8 && fabs(y - -0.892903758) < 1e-8);
    assert_int_equal(impa_grid_latlon(&r, x, y, &lat, &lon), 0);
    assert_true(fabs(lat - 48.85) < 1e-9 && fabs(lon - 2.35) < 1e-9);
    /* a required parameter missing: no projection rather than a wrong one */
    impa_grid_t bad = unit_grid("albers_conical_equal_area");
    set_num(&bad, "longitude_of_central_meridian", 10, 0, 1);
    assert_int_equal(impa_grid_latlon(&bad, 0, 0, &lat, &lon), IMPA_ENOTFOUND);
}

/* A grid that has only a PROJ string (no CF name for its projection). */
static void test_proj4_only(void **state)
{
    (void)state;
    /* proj +proj=sterea (Dutch RD): (5.1 E, 52.1 N) -> 135293.8355 456791.3653 */
    impa_grid_t g = unit_grid("");
    set_text(&g, "proj4", "+proj=sterea +lat_0=52.15616055555555 +lon_0=5.38763888888889 +k=0.9999079 "
                          "+x_0=155000 +y_0=463000 +ellps=bessel");
    check_forward(&g, 52.1, 5.1, 135293.8355, 456791.3653, 1e-3);
    /* the same in km grid units */
    snprintf(g.x_units, sizeof g.x_units, "km");
    double x, y;
    assert_int_equal(impa_grid_cell_of(&g, 52.1, 5.1, &x, &y), 0);
    assert_true(fabs(x - 135.2938355) < 1e-6 && fabs(y - 456.7913653) < 1e-6);
    /* proj +proj=somerc (Swiss LV03): (8.5 E, 47.4 N) -> 680037.4531 250297.1976 */
    impa_grid_t s = unit_grid("");
    set_text(&s, "proj4", "+proj=somerc +lat_0=46.95240555555556 +lon_0=7.439583333333333 +k_0=1 "
                          "+x_0=600000 +y_0=200000 +ellps=bessel");
    check_forward(&s, 47.4, 8.5, 680037.4531, 250297.1976, 1e-3);
}

static const impa_grid_attr_t *find_attr(const impa_grid_t *g, const char *name)
{
    for (int i = 0; i < g->n_attrs; i++)
        if (!strcmp(g->attrs[i].name, name))
            return &g->attrs[i];
    return NULL;
}

static void test_parse_proj4(void **state)
{
    (void)state;
    impa_grid_t g;
    double u;
    const impa_grid_attr_t *a;
#define ATTR(name) (a = find_attr(&g, name))
    /* the OPERA composite's projdef */
    memset(&g, 0, sizeof g);
    assert_int_equal(impa_io_grid_from_proj4(&g, "+proj=laea +lat_0=55.0 +lon_0=10.0 +x_0=1950000.0 "
                                                 "+y_0=-2100000.0 +units=m +ellps=WGS84", &u), 0);
    assert_string_equal(g.grid_mapping_name, "lambert_azimuthal_equal_area");
    assert_true(u == 1);
    assert_non_null(ATTR("latitude_of_projection_origin"));
    assert_true(a->values[0] == 55);
    assert_non_null(ATTR("longitude_of_projection_origin"));
    assert_true(a->values[0] == 10);
    assert_non_null(ATTR("false_northing"));
    assert_true(a->values[0] == -2100000);
    assert_non_null(ATTR("inverse_flattening"));
    assert_true(fabs(a->values[0] - 298.257223563) < 1e-9);
    assert_non_null(ATTR("proj4"));
    assert_true(a->is_text && strstr(a->text, "+proj=laea"));
    /* KNMI: ellipsoid in km -> metres, polar stereographic variant B */
    memset(&g, 0, sizeof g);
    assert_int_equal(impa_io_grid_from_proj4(&g, "+proj=stere +lat_0=90 +lon_0=0 +lat_ts=60 +a=6378.14 "
                                                 "+b=6356.75 +x_0=0 y_0=0", &u), 0);
    assert_string_equal(g.grid_mapping_name, "polar_stereographic");
    assert_true(u == 1000);
    assert_non_null(ATTR("semi_major_axis"));
    assert_true(fabs(a->values[0] - 6378140) < 1e-6);
    assert_non_null(ATTR("standard_parallel"));
    assert_true(fabs(a->values[0] - 60) < 1e-12);
    assert_non_null(ATTR("latitude_of_projection_origin"));
    assert_true(a->values[0] == 90);
    /* UTM: PROJ expands it to transverse Mercator */
    memset(&g, 0, sizeof g);
    assert_int_equal(impa_io_grid_from_proj4(&g, "+proj=utm +zone=33 +south +ellps=GRS80", &u), 0);
    assert_string_equal(g.grid_mapping_name, "transverse_mercator");
    assert_non_null(ATTR("longitude_of_central_meridian"));
    assert_true(a->values[0] == 15);
    assert_non_null(ATTR("scale_factor_at_central_meridian"));
    assert_true(fabs(a->values[0] - 0.9996) < 1e-12);
    assert_non_null(ATTR("false_northing"));
    assert_true(a->values[0] == 1e7);
    /* Albers in km: unit 1000; +x_0 is metres whatever +units says (PROJ's rule) */
    memset(&g, 0, sizeof g);
    assert_int_equal(impa_io_grid_from_proj4(&g, "+proj=aea +lat_1=-26.2 +lat_2=-29.3 +lon_0=153.24 "
                                                 "+lat_0=-27.7 +x_0=3 +ellps=GRS80 +units=km", &u), 0);
    assert_string_equal(g.grid_mapping_name, "albers_conical_equal_area");
    assert_true(u == 1000);
    assert_non_null(ATTR("standard_parallel"));
    assert_int_equal(a->n_values, 2);
    assert_true(fabs(a->values[1] - -29.3) < 1e-12);
    assert_non_null(ATTR("false_easting"));
    assert_true(fabs(a->values[0] - 3) < 1e-12);
    /* a sphere */
    memset(&g, 0, sizeof g);
    assert_int_equal(impa_io_grid_from_proj4(&g, "+proj=laea +lat_0=90 +lon_0=0 +R=6371007.181", &u), 0);
    assert_non_null(ATTR("earth_radius"));
    assert_true(a->values[0] == 6371007.181);
    /* no CF name: only the ellipsoid, latlon goes by the PROJ string */
    memset(&g, 0, sizeof g);
    g.nx = g.ny = 1;
    g.dx = g.dy = 1;
    snprintf(g.x_units, sizeof g.x_units, "m");
    assert_int_equal(impa_io_grid_from_proj4(&g, "+proj=sterea +lat_0=52.15616055555555 +lon_0=5.38763888888889 "
                                                 "+k=0.9999079 +x_0=155000 +y_0=463000 +ellps=bessel", &u), 0);
    assert_string_equal(g.grid_mapping_name, "");
    assert_non_null(ATTR("semi_major_axis"));
    double x, y;
    assert_int_equal(impa_grid_cell_of(&g, 52.1, 5.1, &x, &y), 0);
    assert_true(fabs(x - 135293.8355) < 1e-3);
    /* longlat */
    memset(&g, 0, sizeof g);
    assert_int_equal(impa_io_grid_from_proj4(&g, "+proj=longlat +ellps=WGS84", &u), 0);
    assert_string_equal(g.grid_mapping_name, "latitude_longitude");
    /* not PROJ */
    memset(&g, 0, sizeof g);
    assert_int_equal(impa_io_grid_from_proj4(&g, "+proj=nonsense +lat_0=3", &u), IMPA_ENOTFOUND);
    assert_string_equal(g.grid_mapping_name, "");
    memset(&g, 0, sizeof g);
    assert_int_equal(impa_io_grid_from_proj4(&g, "garbage", &u), IMPA_ENOTFOUND);
#undef ATTR
}

static void test_wkt(void **state)
{
    (void)state;
    impa_grid_t g = unit_grid("lambert_azimuthal_equal_area");
    set_num(&g, "longitude_of_projection_origin", 10, 0, 1);
    set_num(&g, "latitude_of_projection_origin", 52, 0, 1);
    char *w = NULL;
    assert_int_equal(impa_io_grid_wkt(&g, &w), 0);
    assert_non_null(w);
    assert_non_null(strstr(w, "PROJCRS["));
    assert_non_null(strstr(w, "Lambert Azimuthal Equal Area"));
    assert_null(strchr(w, '\n'));
    free(w);
    impa_grid_t u = unit_grid("");
    assert_int_equal(impa_io_grid_wkt(&u, &w), IMPA_ENOTFOUND);
    assert_null(w);
}

static impa_grid_t laea_at(double lon0)
{
    impa_grid_t g = unit_grid("lambert_azimuthal_equal_area");
    set_num(&g, "longitude_of_projection_origin", lon0, 0, 1);
    set_num(&g, "latitude_of_projection_origin", 50, 0, 1);
    return g;
}

/* More grids than cache slots, in turn, and a grid changed in place. */
static void test_cache(void **state)
{
    (void)state;
    impa_grid_t g[7];
    for (int k = 0; k < 7; k++)
        g[k] = laea_at(10.0 * k);
    double x0 = 0, y0 = 0;
    for (int round = 0; round < 3; round++)
        for (int k = 0; k < 7; k++) {
            double x, y;
            /* by symmetry every grid puts (lat 51, lon0 + 1) at the same x/y */
            assert_int_equal(impa_grid_cell_of(&g[k], 51, 10.0 * k + 1, &x, &y), 0);
            if (round == 0 && k == 0) {
                x0 = x;
                y0 = y;
                assert_true(x > 60000 && x < 80000 && y > 100000);
            }
            assert_true(fabs(x - x0) < 1e-6 && fabs(y - y0) < 1e-6);
        }
    /* the same struct, its central meridian changed: never the cached projection */
    impa_grid_t c = laea_at(0);
    double x, y;
    assert_int_equal(impa_grid_cell_of(&c, 50, 0, &x, &y), 0);
    assert_true(fabs(x) < 1e-6 && fabs(y) < 1e-6);
    c.attrs[0].values[0] = 5;
    assert_int_equal(impa_grid_cell_of(&c, 50, 0, &x, &y), 0);
    assert_true(x < -300000);
    /* and its units */
    snprintf(c.x_units, sizeof c.x_units, "km");
    double xk, yk;
    assert_int_equal(impa_grid_cell_of(&c, 50, 0, &xk, &yk), 0);
    assert_true(fabs(xk * 1000 - x) < 1e-6 && fabs(yk * 1000 - y) < 1e-6);
}

static void *thread_main(void *arg)
{
    double lon0 = *(double *)arg;
    impa_grid_t g = laea_at(lon0);
    long bad = 0;
    for (int i = 0; i < 20000; i++) {
        double x, y, lat, lon;
        if (impa_grid_cell_of(&g, 50 + (i % 100) * 0.01, lon0 + 1, &x, &y) != 0 ||
            impa_grid_latlon(&g, x, y, &lat, &lon) != 0 || fabs(lat - (50 + (i % 100) * 0.01)) > 1e-8 ||
            fabs(lon - (lon0 + 1)) > 1e-8)
            bad++;
    }
    if (bad)
        fprintf(stderr, "thread lon0 %g: %ld bad\n", lon0, bad);
    return (void *)bad;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t t[2];
    double lon0[2] = {-20, 30};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, thread_main, &lon0[i]), 0);
    for (int i = 0; i < 2; i++) {
        void *bad;
        assert_int_equal(pthread_join(t[i], &bad), 0);
        assert_true(bad == NULL);
    }
}

static void test_scan_init(void **state)
{
    (void)state;
    impa_grid_t g = unit_grid("");
    g.nx = 3;
    g.ny = 2;
    impa_scan_t s;
    assert_int_equal(impa_scan_init(&s, &g), 0);
    assert_non_null(s.dbz);
    for (int i = 0; i < 6; i++)
        assert_true(isnan(s.dbz[i]));
    assert_int_equal(s.grid.nx, 3);
    impa_scan_deinit(&s);
    assert_null(s.dbz);
    impa_scan_deinit(&s); /* idempotent */
    g.nx = 0;
    assert_int_equal(impa_scan_init(&s, &g), IMPA_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_albers_bom),
        cmocka_unit_test(test_polar_stereo),
        cmocka_unit_test(test_laea_tmerc_stereo),
        cmocka_unit_test(test_latlon_and_errors),
        cmocka_unit_test(test_more_cf_mappings),
        cmocka_unit_test(test_proj4_only),
        cmocka_unit_test(test_parse_proj4),
        cmocka_unit_test(test_wkt),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_scan_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
