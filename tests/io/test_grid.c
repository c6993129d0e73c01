/* Map projections of impa_grid_latlon / impa_grid_cell_of against PROJ (cs2cs/proj
 * 9.x output pasted below), round trips, cell areas and scan init. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "impa/grid.h"

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
    assert_true(fabs(x - 605909.1303) < 0.1); /* Snyder series vs PROJ's exact Poder/Engsager */
    assert_true(fabs(y - 237803.3652) < 0.1);
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
    impa_grid_t w = unit_grid("vertical_perspective");
    assert_int_equal(impa_grid_latlon(&w, 1, 1, &lat, &lon), IMPA_ENOTFOUND);
    u.dx = 1000;
    u.dy = -1000;
    assert_true(fabs(impa_grid_cell_area_km2(&u) - 1.0) < 1e-12);
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
        cmocka_unit_test(test_scan_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
