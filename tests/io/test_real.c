/* Real radar files from ../shared/data (pysteps-data), when present: BoM Brisbane
 * (CF, Albers, 10-min accumulation), BoM Melbourne (float axes, fill -32768) and
 * KNMI HDF5 (polar stereographic, 5-min accumulation) and the EUMETNET OPERA
 * composites (ODIM_H5 2.4, LAEA, 3800 x 4400 reflectivity; 1900 x 2200 rain rate
 * and accumulation). Skips (77) without data. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "impa/domain.h"
#include "impa/reader.h"

static char root[1024];

static int have(const char *rel, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", root, rel);
    return access(out, R_OK) == 0;
}

static void scan_stats(const impa_scan_t *s, double *max, int *n_nan, int *n_dry)
{
    *max = -INFINITY;
    *n_nan = *n_dry = 0;
    for (int i = 0; i < s->grid.nx * s->grid.ny; i++) {
        float v = s->dbz[i];
        if (isnan(v))
            (*n_nan)++;
        else if (v == IMPA_DBZ_NO_ECHO)
            (*n_dry)++;
        if (v > *max)
            *max = v;
    }
}

static void test_bom_brisbane(void **state)
{
    (void)state;
    char p[1400], err[1600] = "";
    if (!have("pysteps-data/radar/bom/prcp-c10/66/2020/10/31/66_20201031_060000.prcp-c10.nc", p, sizeof p))
        skip();
    impa_scan_t s;
    assert_int_equal(impa_reader_read(p, NULL, &s, err, sizeof err), 0);
    assert_string_equal(s.variable, "precipitation");
    assert_string_equal(s.quantity, "accumulation");
    assert_int_equal(s.time, 1604124000LL); /* 2020-10-31T06:00:00Z = valid_time (end of period) */
    assert_int_equal(s.grid.nx, 512);
    assert_int_equal(s.grid.ny, 512);
    assert_string_equal(s.grid.x_units, "km");
    assert_true(fabs(s.grid.dx - 0.5) < 1e-9 && fabs(s.grid.dy + 0.5) < 1e-9);
    assert_string_equal(s.grid.grid_mapping_name, "albers_conical_equal_area");
    double mx;
    int nn, nd;
    scan_stats(&s, &mx, &nn, &nd);
    print_message("BoM 06:00 max %.1f dBZ, %d NaN, %d dry of %d\n", mx, nn, nd, 512 * 512);
    assert_true(mx >= 45 && mx < 80); /* the hail storm, Marshall-Palmer */
    assert_true(nd > 0);
    /* grid centre = radar site (Mt Stapylton, ~ -27.72, 153.24) */
    double lat, lon;
    assert_int_equal(impa_grid_latlon(&s.grid, 255.5, 255.5, &lat, &lon), 0);
    assert_true(fabs(lat - -27.72) < 0.01 && fabs(lon - 153.24) < 0.01);
    assert_int_equal(impa_grid_latlon(&s.grid, 0, 0, &lat, &lon), 0);
    assert_true(lat > -27.72 && lon < 153.24); /* row 0 is north, col 0 west */
    /* Brisbane CBD (-27.47, 153.03) is inside the grid, NW of the radar */
    double col, row;
    assert_int_equal(impa_grid_cell_of(&s.grid, -27.47, 153.03, &col, &row), 0);
    assert_true(col > 0 && col < 255.5 && row > 0 && row < 255.5);
    /* model domain: 2x2 block average keeps the storm (linear Z) */
    impa_domain_t dom = {.x_offset = 0, .y_offset = 0, .nx = 512, .ny = 512, .block = 2, .stride = 16};
    impa_scan_t out;
    assert_int_equal(impa_domain_apply(&dom, &s, &out, err, sizeof err), 0);
    double mx2;
    scan_stats(&out, &mx2, &nn, &nd);
    assert_int_equal(out.grid.nx, 256);
    assert_true(mx2 <= mx + 1e-3 && mx2 > mx - 10);
    impa_scan_deinit(&out);
    impa_scan_deinit(&s);

    /* a quiet frame: midnight, still a valid scan */
    if (have("pysteps-data/radar/bom/prcp-c10/66/2020/10/31/66_20201031_000000.prcp-c10.nc", p, sizeof p)) {
        assert_int_equal(impa_reader_read(p, NULL, &s, err, sizeof err), 0);
        assert_int_equal(s.time, 1604102400LL);
        impa_scan_deinit(&s);
    }
}

static void test_bom_melbourne(void **state)
{
    (void)state;
    char p[1400], err[1600] = "";
    if (!have("pysteps-data/radar/bom/prcp-cscn/2/2018/06/16/2_20180616_124800.prcp-cscn.nc", p, sizeof p))
        skip();
    impa_scan_t s;
    assert_int_equal(impa_reader_read(p, NULL, &s, err, sizeof err), 0);
    assert_int_equal(s.grid.nx, 512);
    assert_int_equal(s.time, 1529153280LL); /* 2018-06-16T12:48:00Z */
    double lat, lon;
    assert_int_equal(impa_grid_latlon(&s.grid, 255.5, 255.5, &lat, &lon), 0);
    /* the Melbourne file's x runs -128..127.5: cell 256 is the origin */
    assert_int_equal(impa_grid_latlon(&s.grid, 256, 255, &lat, &lon), 0);
    assert_true(fabs(lat - -37.852) < 0.01 && fabs(lon - 144.752) < 0.01);
    double mx;
    int nn, nd;
    scan_stats(&s, &mx, &nn, &nd);
    assert_true(mx > 0 && mx < 70);
    impa_scan_deinit(&s);
}

static void test_knmi(void **state)
{
    (void)state;
    char p[1400], err[1600] = "";
    if (!have("pysteps-data/radar/KNMI/2010/08/RAD_NL25_RAP_5min_201008260300.h5", p, sizeof p))
        skip();
    impa_scan_t s;
    int rc = impa_reader_read(p, NULL, &s, err, sizeof err);
    if (rc)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    assert_string_equal(s.variable, "image1/image_data");
    assert_string_equal(s.quantity, "accumulation");
    assert_int_equal(s.time, 1282791600LL); /* 2010-08-26T03:00:00Z (product end) */
    assert_int_equal(s.grid.nx, 700);
    assert_int_equal(s.grid.ny, 765);
    assert_string_equal(s.grid.grid_mapping_name, "polar_stereographic");
    double mx;
    int nn, nd;
    scan_stats(&s, &mx, &nn, &nd);
    print_message("KNMI 03:00 max %.1f dBZ, %d NaN, %d dry\n", mx, nn, nd);
    assert_true(nn > 0 && nd > 0 && mx > 20 && mx < 80);
    /* corners of the product as stated in geographic/geo_product_corners */
    double lat, lon;
    assert_int_equal(impa_grid_latlon(&s.grid, -0.5, -0.5, &lat, &lon), 0);
    assert_true(fabs(lat - 55.974) < 0.01 && fabs(lon - 0.0) < 0.01);
    assert_int_equal(impa_grid_latlon(&s.grid, 699.5, 764.5, &lat, &lon), 0);
    assert_true(fabs(lat - 48.895) < 0.02 && fabs(lon - 9.009) < 0.02);
    /* De Bilt radar (52.103 N, 5.179 E) inside the grid */
    double col, row;
    assert_int_equal(impa_grid_cell_of(&s.grid, 52.103, 5.179, &col, &row), 0);
    assert_true(col > 0 && col < 700 && row > 0 && row < 765);
    impa_scan_deinit(&s);
}

/* The whole BoM day: every file reads, times step by 10 min from file metadata,
 * and the storm statistics match ../shared/data/README.md (>= 45 dBZ with
 * Marshall-Palmer in 80 of 144 frames). Then every KNMI file reads. */

/* Expected values from h5py on the same file (nodata/undetect counts, maximum and
 * where it is) and from its where/UL_*, LR_* corners; pySTEPS'
 * import_opera_hdf5 gives the same 8208633 missing cells, maximum 78 dBZ and
 * extent x 0..3800000, y -4400000..0 m. */
static void test_opera(void **state)
{
    (void)state;
    char p[1400], err[1600] = "";
    if (!have("pysteps-data/radar/OPERA/20241126/CIRRUS/T_PABV21_C_EUOC_20241126010000.hdf", p, sizeof p))
        skip();
    impa_scan_t s;
    assert_int_equal(impa_reader_read(p, NULL, &s, err, sizeof err), 0);
    assert_string_equal(s.variable, "dataset1/data1");
    assert_string_equal(s.quantity, "reflectivity");
    assert_int_equal(s.time, 1732582800LL); /* 2024-11-26T01:00:00Z */
    assert_int_equal(s.grid.nx, 3800);
    assert_int_equal(s.grid.ny, 4400);
    assert_string_equal(s.grid.grid_mapping_name, "lambert_azimuthal_equal_area");
    assert_true(fabs(s.grid.x0 - 500) < 0.01 && fabs(s.grid.y0 - -500) < 0.01);
    assert_true(s.grid.dx == 1000 && s.grid.dy == -1000);
    int n_nan = 0, n_wet = 0, n_dry = 0;
    for (size_t i = 0; i < (size_t)s.grid.nx * s.grid.ny; i++) {
        float v = s.dbz[i];
        if (isnan(v))
            n_nan++;
        else if (v > IMPA_DBZ_NO_ECHO)
            n_wet++;
        else
            n_dry++;
    }
    assert_int_equal(n_nan, 8208633);            /* nodata */
    assert_int_equal(n_wet, 2031509);            /* above -32 dBZ */
    assert_int_equal(n_dry, 6472855 + 7003);     /* undetect + values at or below -32 */
    assert_true(s.dbz[(size_t)2052 * 3800 + 2403] == 78.0f);
    double lat, lon;
    assert_int_equal(impa_grid_latlon(&s.grid, -0.5, -0.5, &lat, &lon), 0);
    assert_true(fabs(lat - 67.0228327624372) < 1e-6 && fabs(lon - -39.5357864125034) < 1e-6);
    assert_int_equal(impa_grid_latlon(&s.grid, 3799.5, 4399.5, &lat, &lon), 0);
    assert_true(fabs(lat - 31.987650276733) < 1e-6 && fabs(lon - 29.421038635578) < 1e-6);
    /* a configured sub-domain, as the daemon cuts it: 1024 x 1024 km, 4 x 4 blocks */
    impa_domain_t dom = {.x_offset = 1700, .y_offset = 1900, .nx = 1024, .ny = 1024, .block = 4, .stride = 4};
    impa_scan_t cut;
    assert_int_equal(impa_domain_apply(&dom, &s, &cut, err, sizeof err), 0);
    assert_int_equal(cut.grid.nx, 256);
    assert_int_equal(cut.grid.ny, 256);
    double lat2, lon2;
    assert_int_equal(impa_grid_latlon(&cut.grid, 0, 0, &lat, &lon), 0);
    assert_int_equal(impa_grid_latlon(&s.grid, 1700 + 1.5, 1900 + 1.5, &lat2, &lon2), 0);
    assert_true(fabs(lat - lat2) < 1e-9 && fabs(lon - lon2) < 1e-9);
    impa_scan_deinit(&cut);
    impa_scan_deinit(&s);

    /* NIMBUS rain rate (Z-R in data1/how) and 1-h accumulation, 2 km */
    if (have("pysteps-data/radar/OPERA/20241126/NIMBUS/T_PAAH22_C_EUOC_20241126010000.hdf", p, sizeof p)) {
        assert_int_equal(impa_reader_read(p, NULL, &s, err, sizeof err), 0);
        assert_string_equal(s.quantity, "rainfall_rate");
        assert_int_equal(s.grid.nx, 1900);
        assert_true(s.grid.dx == 2000);
        impa_scan_deinit(&s);
    }
    if (have("pysteps-data/radar/OPERA/20241126/NIMBUS/T_PASH22_C_EUOC_20241126010000.hdf", p, sizeof p)) {
        assert_int_equal(impa_reader_read(p, NULL, &s, err, sizeof err), 0);
        assert_string_equal(s.quantity, "accumulation");
        assert_int_equal(s.time, 1732582800LL); /* end of 00:00-01:00 */
        impa_scan_deinit(&s);
    }
}

static void test_sweep(void **state)
{
    (void)state;
    char dir[1400], p[1700], err[2048] = "";
    if (!have("pysteps-data/radar/bom/prcp-c10/66/2020/10/31", dir, sizeof dir))
        skip();
    int n45 = 0;
    double max_frac = 0;
    for (int i = 0; i < 144; i++) {
        snprintf(p, sizeof p, "%s/66_20201031_%02d%02d00.prcp-c10.nc", dir, i / 6, (i % 6) * 10);
        impa_scan_t s;
        int rc = impa_reader_read(p, NULL, &s, err, sizeof err);
        if (rc)
            print_error("%s\n", err);
        assert_int_equal(rc, 0);
        assert_int_equal(s.time, 1604102400LL + 600LL * i);
        int n = s.grid.nx * s.grid.ny, k = 0;
        for (int j = 0; j < n; j++)
            k += s.dbz[j] >= 45.0f;
        n45 += k > 0;
        if ((double)k / n > max_frac)
            max_frac = (double)k / n;
        impa_scan_deinit(&s);
    }
    print_message("BoM day: %d/144 frames with >= 45 dBZ, at most %.2f %% of the domain\n", n45, 100 * max_frac);
    assert_int_equal(n45, 80);
    assert_true(max_frac > 0.05 && max_frac < 0.08);

    if (!have("pysteps-data/radar/KNMI/2010/08", dir, sizeof dir))
        return;
    int nk = 0;
    for (int m = 0; m < 8 * 60; m += 5) {
        snprintf(p, sizeof p, "%s/RAD_NL25_RAP_5min_20100826%02d%02d.h5", dir, m / 60, m % 60);
        if (access(p, R_OK) != 0)
            continue;
        impa_scan_t s;
        int rc = impa_reader_read(p, NULL, &s, err, sizeof err);
        if (rc)
            print_error("%s\n", err);
        assert_int_equal(rc, 0);
        assert_int_equal(s.time, 1282780800LL + 60LL * m);
        impa_scan_deinit(&s);
        nk++;
    }
    print_message("KNMI: %d files read\n", nk);
    assert_int_equal(nk, 92);
}

int main(void)
{
    const char *d = getenv("IMPA_SHARED_DATA");
    if (!d || access(d, R_OK) != 0) {
        printf("IMPA_SHARED_DATA not set or absent (%s): real-data io tests skipped\n", d ? d : "unset");
        return 77;
    }
    snprintf(root, sizeof root, "%s", d);
    char probe[1400];
    if (!have("pysteps-data/radar", probe, sizeof probe)) {
        printf("%s missing: real-data io tests skipped\n", probe);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bom_brisbane),
        cmocka_unit_test(test_bom_melbourne),
        cmocka_unit_test(test_knmi),
        cmocka_unit_test(test_opera),
        cmocka_unit_test(test_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
