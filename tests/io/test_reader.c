/* Scan readers on files generated here from CDL with ncgen: CF reflectivity,
 * packed shorts, rain rates, accumulations (time bounds, start_time, configured
 * period), ODIM_H5 (netCDF-4 = HDF5 groups) and broken inputs. Values are checked
 * exactly against the unpacking and Marshall-Palmer formulas. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "impa/reader.h"

static char tmpdir[256];

/* 10 log10(200 R^1.6) */
static double mp(double r) { return 10 * log10(200 * pow(r, 1.6)); }

/* Writes CDL to <tmpdir>/<name>.cdl and runs ncgen -k KIND ("classic", "64-bit offset"
 * or "nc4"; note ncgen's "3" means netCDF-4, not netCDF-3). */
static const char *gen(const char *name, const char *kind, const char *cdl)
{
    static char out[512];
    char cdlp[512], cmd[1200];
    snprintf(cdlp, sizeof cdlp, "%s/%s.cdl", tmpdir, name);
    snprintf(out, sizeof out, "%s/%s.nc", tmpdir, name);
    FILE *f = fopen(cdlp, "w");
    assert_non_null(f);
    fputs(cdl, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "ncgen -k %s -o '%s' '%s'", kind, out, cdlp);
    assert_int_equal(system(cmd), 0);
    return out;
}

static int setup(void **state)
{
    (void)state;
    if (system("ncgen -h >/dev/null 2>&1") != 0 && system("command -v ncgen >/dev/null") != 0) {
        fprintf(stderr, "ncgen not found\n");
        return -1;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/impa-io-reader-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

#define T_20201031 1604102400LL

static const char *cdl_dbz =
    "netcdf dbz {\n"
    "dimensions: time = 1 ; y = 3 ; x = 4 ;\n"
    "variables:\n"
    "  double time(time) ; time:units = \"minutes since 2020-10-31 00:00:00\" ;\n"
    "  double y(y) ; y:units = \"km\" ; y:standard_name = \"projection_y_coordinate\" ;\n"
    "  double x(x) ; x:units = \"km\" ; x:standard_name = \"projection_x_coordinate\" ;\n"
    "  float dbzh(time, y, x) ; dbzh:units = \"dBZ\" ; dbzh:_FillValue = -999.f ;\n"
    "    dbzh:grid_mapping = \"crs\" ;\n"
    "  int crs ; crs:grid_mapping_name = \"albers_conical_equal_area\" ;\n"
    "    crs:standard_parallel = -26.2, -29.3 ; crs:longitude_of_central_meridian = 153.24 ;\n"
    "    crs:latitude_of_projection_origin = -27.7178 ;\n"
    "    crs:crs_wkt = \"PROJCRS[\\\"a WKT longer than an attribute slot (255 characters) is left out, "
    "not kept cut short: .................................................................................."
    "..........................................................................................\\\"]\" ;\n"
    "data:\n"
    "  time = 30 ; y = 10, 9, 8 ; x = -1.5, -0.5, 0.5, 1.5 ;\n"
    "  dbzh = 10, 20, 30, 40, -999, NaNf, Infinityf, -40, 0, 1, 2, 3 ;\n"
    "}\n";

static void test_cf_dbz(void **state)
{
    (void)state;
    const char *p = gen("dbz", "classic", cdl_dbz);
    impa_scan_t s;
    char err[512] = "";
    assert_int_equal(impa_reader_read(p, NULL, &s, err, sizeof err), 0);
    assert_string_equal(s.variable, "dbzh");
    assert_string_equal(s.quantity, "reflectivity");
    assert_string_equal(s.path, p);
    assert_int_equal(s.time, T_20201031 + 1800);
    assert_int_equal(s.grid.nx, 4);
    assert_int_equal(s.grid.ny, 3);
    assert_true(s.grid.x0 == -1.5 && s.grid.dx == 1 && s.grid.y0 == 10 && s.grid.dy == -1);
    assert_string_equal(s.grid.x_units, "km");
    assert_string_equal(s.grid.grid_mapping_name, "albers_conical_equal_area");
    assert_true(s.dbz[0] == 10 && s.dbz[3] == 40);
    assert_true(isnan(s.dbz[4]) && isnan(s.dbz[5]) && isnan(s.dbz[6]));
    assert_true(s.dbz[7] == IMPA_DBZ_NO_ECHO); /* below the floor */
    assert_true(s.dbz[11] == 3);
    /* the grid_mapping survived: the origin (between cells 1 and 2, row "y=0" off-grid) */
    double lat, lon;
    assert_int_equal(impa_grid_latlon(&s.grid, 1.5, 10, &lat, &lon), 0);
    assert_true(fabs(lat - -27.7178) < 1e-9 && fabs(lon - 153.24) < 1e-9);
    for (int i = 0; i < s.grid.n_attrs; i++)
        assert_string_not_equal(s.grid.attrs[i].name, "crs_wkt");
    impa_scan_deinit(&s);
}

static const char *cdl_short =
    "netcdf packed {\n"
    "dimensions: y = 2 ; x = 3 ;\n"
    "variables:\n"
    "  int time ; time:units = \"seconds since 1970-01-01 00:00:00 UTC\" ;\n"
    "  float x(x) ; x:units = \"m\" ; float y(y) ; y:units = \"m\" ;\n"
    "  float other(y, x) ; other:units = \"dBZ\" ;\n"
    "  short refl(y, x) ; refl:standard_name = \"equivalent_reflectivity_factor\" ;\n"
    "    refl:units = \"dBZ\" ; refl:scale_factor = 0.5f ; refl:add_offset = -32.f ;\n"
    "    refl:_FillValue = -1s ; refl:missing_value = 255s ; refl:valid_range = 0s, 254s ;\n"
    "data:\n"
    "  time = 1604110200 ; x = 0, 500, 1000 ; y = 0, 500 ;\n"
    "  other = 1, 1, 1, 1, 1, 1 ;\n"
    "  refl = 0, 100, 164, -1, 255, 300 ;\n"
    "}\n";

static void test_cf_packed_short(void **state)
{
    (void)state;
    const char *p = gen("packed", "'64-bit offset'", cdl_short);
    impa_scan_t s;
    char err[512] = "";
    assert_int_equal(impa_reader_read(p, NULL, &s, err, sizeof err), 0);
    assert_string_equal(s.variable, "refl"); /* standard_name beats units */
    assert_int_equal(s.time, 1604110200LL);
    assert_true(s.dbz[0] == -32.0f);
    assert_true(s.dbz[1] == 18.0f);
    assert_true(s.dbz[2] == 50.0f);
    assert_true(isnan(s.dbz[3]) && isnan(s.dbz[4]) && isnan(s.dbz[5]));
    assert_true(s.grid.dx == 500 && s.grid.dy == 500);
    impa_scan_deinit(&s);
}

/* _Unsigned bytes, and valid_min/valid_max given in the unpacked type (compared
 * after unpacking, as CF says for attributes of the scale_factor's type). */
static const char *cdl_unsigned =
    "netcdf uns {\n"
    "dimensions: y = 1 ; x = 4 ;\n"
    "variables:\n"
    "  double time ; time:units = \"seconds since 2020-10-31 00:00:00\" ;\n"
    "  byte z(y, x) ; z:units = \"dBZ\" ; z:_Unsigned = \"true\" ;\n"
    "    z:scale_factor = 0.5f ; z:add_offset = -32.f ; z:_FillValue = -1b ;\n"
    "    z:valid_min = -20.f ; z:valid_max = 60.f ;\n"
    "data:\n"
    "  time = 0 ; z = -56, 10, -1, 100 ;\n"
    "}\n";

static void test_cf_unsigned_valid(void **state)
{
    (void)state;
    const char *p = gen("uns", "3", cdl_unsigned);
    impa_scan_t s;
    char err[512] = "";
    assert_int_equal(impa_reader_read(p, NULL, &s, err, sizeof err), 0);
    assert_true(isnan(s.dbz[0]));    /* 200 unsigned -> 68 dBZ > valid_max 60 */
    assert_true(isnan(s.dbz[1]));    /* 10 -> -27 dBZ < valid_min -20 */
    assert_true(isnan(s.dbz[2]));    /* fill (-1 = 255 unsigned) */
    assert_true(s.dbz[3] == 18.0f);  /* 100 -> 18 dBZ */
    impa_scan_deinit(&s);
}

static const char *cdl_rate =
    "netcdf rate {\n"
    "dimensions: y = 1 ; x = 5 ;\n"
    "variables:\n"
    "  double time ; time:units = \"hours since 2020-10-31\" ; time:standard_name = \"time\" ;\n"
    "  float rainrate(y, x) ; rainrate:standard_name = \"rainfall_rate\" ; rainrate:units = \"mm h-1\" ;\n"
    "  float flux(y, x) ; flux:standard_name = \"precipitation_flux\" ; flux:units = \"kg m-2 s-1\" ;\n"
    "data:\n"
    "  time = 2.5 ;\n"
    "  rainrate = 0, 1, 10, -1, NaNf ;\n"
    "  flux = 0.000277777777777778, 0, 0.00277777777777778, 1e-9, NaNf ;\n"
    "}\n";

static void test_cf_rain_rate(void **state)
{
    (void)state;
    const char *p = gen("rate", "nc7", cdl_rate);
    impa_scan_t s;
    char err[512] = "";
    assert_int_equal(impa_reader_read(p, NULL, &s, err, sizeof err), 0);
    assert_string_equal(s.variable, "rainrate");
    assert_string_equal(s.quantity, "rainfall_rate");
    assert_int_equal(s.time, T_20201031 + 9000);
    assert_true(s.dbz[0] == IMPA_DBZ_NO_ECHO);
    assert_true(fabs(s.dbz[1] - 23.0103) < 1e-4);
    assert_true(fabs(s.dbz[2] - 39.0103) < 1e-4);
    assert_true(s.dbz[3] == IMPA_DBZ_NO_ECHO);
    assert_true(isnan(s.dbz[4]));
    impa_scan_deinit(&s);

    /* configured variable, kg m-2 s-1 -> x3600 mm/h; custom Z-R */
    impa_reader_opts_t o = impa_reader_opts_default();
    o.variable = "flux";
    assert_int_equal(impa_reader_read(p, &o, &s, err, sizeof err), 0);
    assert_string_equal(s.variable, "flux");
    assert_true(fabs(s.dbz[0] - mp(1.0)) < 1e-3);
    assert_true(fabs(s.dbz[2] - mp(10.0)) < 1e-3);
    assert_true(s.dbz[3] == IMPA_DBZ_NO_ECHO); /* 3.6e-6 mm/h: below -32 dBZ */
    impa_scan_deinit(&s);
    o.zr_a = 300;
    o.zr_b = 1.4;
    assert_int_equal(impa_reader_read(p, &o, &s, err, sizeof err), 0);
    assert_true(fabs(s.dbz[2] - 10 * log10(300 * pow(10, 1.4))) < 1e-3);
    impa_scan_deinit(&s);
    o.variable = "nosuch";
    assert_int_equal(impa_reader_read(p, &o, &s, err, sizeof err), IMPA_ENOTFOUND);
    assert_non_null(strstr(err, "nosuch"));
    assert_null(s.dbz);
}

static const char *cdl_accum_bnds =
    "netcdf accb {\n"
    "dimensions: time = 1 ; nv = 2 ; y = 1 ; x = 3 ;\n"
    "variables:\n"
    "  double time(time) ; time:units = \"seconds since 2020-10-31 00:00:00\" ;\n"
    "    time:bounds = \"time_bnds\" ;\n"
    "  double time_bnds(time, nv) ;\n"
    "  short precipitation(time, y, x) ; precipitation:standard_name = \"precipitation_amount\" ;\n"
    "    precipitation:units = \"kg m-2\" ; precipitation:scale_factor = 0.05 ;\n"
    "    precipitation:_FillValue = -1s ;\n"
    "data:\n"
    "  time = 300 ; time_bnds = 0, 600 ;\n"
    "  precipitation = 20, 0, -1 ;\n"
    "}\n";

static const char *cdl_accum_bom =
    "netcdf accbom {\n"
    "dimensions: y = 1 ; x = 2 ;\n"
    "variables:\n"
    "  int64 valid_time ; valid_time:standard_name = \"time\" ;\n"
    "    valid_time:units = \"seconds since 1970-01-01 00:00:00 UTC\" ;\n"
    "  int64 start_time ; start_time:units = \"seconds since 1970-01-01 00:00:00 UTC\" ;\n"
    "  float precipitation(y, x) ; precipitation:standard_name = \"lwe_thickness_of_precipitation_amount\" ;\n"
    "    precipitation:units = \"mm\" ;\n"
    "data:\n"
    "  valid_time = 1604102700 ; start_time = 1604102400 ;\n"
    "  precipitation = 0.5, 0 ;\n"
    "}\n";

static const char *cdl_accum_none =
    "netcdf accn {\n"
    "dimensions: y = 1 ; x = 1 ;\n"
    "variables:\n"
    "  double time ; time:units = \"seconds since 2020-10-31 00:00:00\" ;\n"
    "  float precipitation(y, x) ; precipitation:units = \"mm\" ;\n"
    "data:\n"
    "  time = 600 ; precipitation = 1 ;\n"
    "}\n";

static const char *cdl_accum_cm =
    "netcdf acccm {\n"
    "dimensions: y = 1 ; x = 1 ;\n"
    "variables:\n"
    "  double time ; time:units = \"seconds since 2020-10-31 00:00:00\" ;\n"
    "  float rr(y, x) ; rr:units = \"mm\" ; rr:standard_name = \"precipitation_amount\" ;\n"
    "    rr:cell_methods = \"time: sum (interval: 15 minutes)\" ;\n"
    "data:\n"
    "  time = 900 ; rr = 1 ;\n"
    "}\n";

static void test_cf_accumulation(void **state)
{
    (void)state;
    impa_scan_t s;
    char err[512] = "";
    /* time bounds: 1 mm in 600 s = 6 mm/h; scan time = upper bound */
    const char *p = gen("accb", "3", cdl_accum_bnds);
    assert_int_equal(impa_reader_read(p, NULL, &s, err, sizeof err), 0);
    assert_string_equal(s.quantity, "accumulation");
    assert_int_equal(s.time, T_20201031 + 600);
    assert_true(fabs(s.dbz[0] - mp(6.0)) < 1e-3);
    assert_true(fabs(s.dbz[0] - 35.4608) < 1e-3);
    assert_true(s.dbz[1] == IMPA_DBZ_NO_ECHO);
    assert_true(isnan(s.dbz[2]));
    impa_scan_deinit(&s);

    /* BoM layout: valid_time + start_time (300 s): 0.5 mm -> 6 mm/h */
    p = gen("accbom", "nc4", cdl_accum_bom);
    assert_int_equal(impa_reader_read(p, NULL, &s, err, sizeof err), 0);
    assert_int_equal(s.time, 1604102700LL);
    assert_true(fabs(s.dbz[0] - mp(6.0)) < 1e-3);
    assert_true(s.dbz[1] == IMPA_DBZ_NO_ECHO);
    impa_scan_deinit(&s);

    /* cell_methods interval: 1 mm in 15 min = 4 mm/h */
    p = gen("acccm", "3", cdl_accum_cm);
    assert_int_equal(impa_reader_read(p, NULL, &s, err, sizeof err), 0);
    assert_true(fabs(s.dbz[0] - mp(4.0)) < 1e-3);
    impa_scan_deinit(&s);

    /* no period anywhere: refused unless configured; found by the name "precipitation" */
    p = gen("accn", "3", cdl_accum_none);
    assert_int_equal(impa_reader_read(p, NULL, &s, err, sizeof err), IMPA_EFORMAT);
    assert_non_null(strstr(err, "period"));
    assert_non_null(strstr(err, p));
    assert_null(s.dbz);
    impa_reader_opts_t o = impa_reader_opts_default();
    o.accum_period_s = 300;
    assert_int_equal(impa_reader_read(p, &o, &s, err, sizeof err), 0);
    assert_string_equal(s.variable, "precipitation");
    assert_true(fabs(s.dbz[0] - mp(12.0)) < 1e-3);
    impa_scan_deinit(&s);
}

static void test_cf_errors(void **state)
{
    (void)state;
    impa_scan_t s;
    char err[512] = "";
    const char *p = gen("novar", "3",
                        "netcdf novar {\n dimensions: y = 2 ; x = 2 ;\n variables:\n"
                        "  double time ; time:units = \"seconds since 2020-01-01\" ;\n"
                        "  float temperature(y, x) ; temperature:units = \"K\" ;\n"
                        " data: time = 0 ; temperature = 1, 2, 3, 4 ;\n}\n");
    assert_int_equal(impa_reader_read(p, NULL, &s, err, sizeof err), IMPA_ENOTFOUND);
    assert_non_null(strstr(err, p));
    assert_null(s.dbz);

    p = gen("badtime", "3",
            "netcdf badtime {\n dimensions: y = 1 ; x = 2 ;\n variables:\n"
            "  double time ; time:units = \"furlongs since 2020-01-01\" ;\n"
            "  float d(y, x) ; d:units = \"dBZ\" ;\n data: time = 0 ; d = 1, 2 ;\n}\n");
    assert_int_equal(impa_reader_read(p, NULL, &s, err, sizeof err), IMPA_EFORMAT);
    assert_non_null(strstr(err, "furlongs"));
    assert_non_null(strstr(err, p));

    p = gen("notime", "3",
            "netcdf notime {\n dimensions: y = 1 ; x = 2 ;\n variables:\n"
            "  float d(y, x) ; d:units = \"dBZ\" ;\n data: d = 1, 2 ;\n}\n");
    assert_int_equal(impa_reader_read(p, NULL, &s, err, sizeof err), IMPA_EFORMAT);
    assert_non_null(strstr(err, "time"));

    p = gen("huge", "3",
            "netcdf huge {\n dimensions: y = 10001 ; x = 1 ;\n variables:\n"
            "  double time ; time:units = \"seconds since 2020-01-01\" ;\n"
            "  byte d(y, x) ; d:units = \"dBZ\" ;\n data: time = 0 ;\n}\n");
    assert_int_equal(impa_reader_read(p, NULL, &s, err, sizeof err), IMPA_EFORMAT);
    assert_non_null(strstr(err, "refused"));

    p = gen("twotimes", "3",
            "netcdf twotimes {\n dimensions: time = 2 ; y = 1 ; x = 1 ;\n variables:\n"
            "  double time(time) ; time:units = \"seconds since 2020-01-01\" ;\n"
            "  float d(time, y, x) ; d:units = \"dBZ\" ;\n data: time = 0, 1 ; d = 1, 2 ;\n}\n");
    assert_int_equal(impa_reader_read(p, NULL, &s, err, sizeof err), IMPA_EFORMAT);

    /* missing file, empty file */
    char path[400];
    snprintf(path, sizeof path, "%s/does-not-exist.nc", tmpdir);
    assert_int_equal(impa_reader_read(path, NULL, &s, err, sizeof err), IMPA_EIO);
    assert_non_null(strstr(err, path));
    snprintf(path, sizeof path, "%s/empty.nc", tmpdir);
    fclose(fopen(path, "w"));
    assert_int_equal(impa_reader_read(path, NULL, &s, err, sizeof err), IMPA_EFORMAT);
    assert_non_null(strstr(err, "empty"));
    /* not NetCDF at all */
    snprintf(path, sizeof path, "%s/text.nc", tmpdir);
    FILE *f = fopen(path, "w");
    fputs("this is not a radar file\n", f);
    fclose(f);
    assert_int_equal(impa_reader_read(path, NULL, &s, err, sizeof err), IMPA_EFORMAT);
    assert_non_null(strstr(err, path));
}

/* A valid file cut in half, classic and netCDF-4: an error, never a crash. */
static void test_truncated(void **state)
{
    (void)state;
    char big[8192];
    /* 64x64 so the data section is most of the file */
    int n = snprintf(big, sizeof big,
                     "netcdf trunc {\n dimensions: y = 64 ; x = 64 ;\n variables:\n"
                     "  double time ; time:units = \"seconds since 2020-01-01\" ;\n"
                     "  float d(y, x) ; d:units = \"dBZ\" ;\n data: time = 0 ;\n d = ");
    for (int i = 0; i < 64 * 64 && n < (int)sizeof big - 16; i++)
        n += snprintf(big + n, sizeof big - (size_t)n, i ? ",%d" : "%d", i % 7);
    snprintf(big + n, sizeof big - (size_t)n, " ;\n}\n");
    const char *kinds[2] = {"3", "nc4"};
    for (int k = 0; k < 2; k++) {
        char name[32];
        snprintf(name, sizeof name, "trunc%d", k);
        const char *p = gen(name, kinds[k], big);
        impa_scan_t s;
        char err[512] = "";
        /* d = i % 7 is mostly filled up to where the CDL buffer ran out; NaN elsewhere */
        assert_int_equal(impa_reader_read(p, NULL, &s, err, sizeof err), 0);
        impa_scan_deinit(&s);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(truncate(p, st.st_size / 2), 0);
        int rc = impa_reader_read(p, NULL, &s, err, sizeof err);
        assert_int_equal(rc, IMPA_EFORMAT);
        assert_non_null(strstr(err, p));
        assert_null(s.dbz);
    }
}

/* ODIM_H5 composite; data1 holds TH, data2 DBZH (preferred). Corners from cs2cs:
 * aea GRS80, LL (-2000,-1500) m = 153.219709619 -27.731329660,
 * UR (2000,1500) m = 153.260285366 -27.704267338. */
static const char *cdl_odim =
    "netcdf odim {\n"
    ":Conventions = \"ODIM_H5/V2_2\" ;\n"
    "group: what {\n :object = \"COMP\" ; :date = \"20201031\" ; string :time = \"021000\" ;\n }\n"
    "group: where {\n"
    "  :projdef = \"+proj=aea +lat_1=-26.2 +lat_2=-29.3 +lon_0=153.24 +lat_0=-27.7178 +ellps=GRS80\" ;\n"
    "  :xsize = 4 ; :ysize = 3 ; :xscale = 1000. ; :yscale = 1000. ;\n"
    "  :LL_lon = 153.219709619 ; :LL_lat = -27.731329660 ;\n"
    "  :UR_lon = 153.260285366 ; :UR_lat = -27.704267338 ;\n"
    " }\n"
    "group: dataset1 {\n"
    " group: what {\n :product = \"COMP\" ; :startdate = \"20201031\" ; :starttime = \"020500\" ;\n"
    "   :enddate = \"20201031\" ; :endtime = \"021000\" ;\n }\n"
    " group: data1 {\n dimensions: ty = 3 ; tx = 4 ;\n variables: ubyte data(ty, tx) ;\n"
    "   data: data = 1,1,1,1, 1,1,1,1, 1,1,1,1 ;\n"
    "   group: what {\n :quantity = \"TH\" ; :gain = 1. ; :offset = 0. ; :nodata = 255. ; :undetect = 0. ;\n }\n"
    " }\n"
    " group: data2 {\n dimensions: dy = 3 ; dx = 4 ;\n variables: ubyte data(dy, dx) ;\n"
    "   data: data = 0, 100, 255, 164, 2, 2, 2, 2, 2, 2, 2, 2 ;\n"
    "   group: what {\n :quantity = \"DBZH\" ; :gain = 0.5 ; :offset = -32. ; :nodata = 255. ;\n"
    "     :undetect = 0. ;\n }\n"
    " }\n"
    "}\n"
    "}\n";

static const char *cdl_odim_acrr =
    "netcdf odimacrr {\n"
    ":Conventions = \"ODIM_H5/V2_1\" ;\n"
    "group: what {\n :object = \"COMP\" ; :date = \"20201031\" ; :time = \"020500\" ;\n }\n"
    "group: where {\n :xsize = 2 ; :ysize = 1 ; :xscale = 500. ; :yscale = 500. ;\n }\n"
    "group: dataset1 {\n"
    " group: what {\n :startdate = \"20201031\" ; :starttime = \"020500\" ;\n"
    "   :enddate = \"20201031\" ; :endtime = \"021000\" ;\n }\n"
    " group: data1 {\n dimensions: ty = 1 ; tx = 2 ;\n variables: ushort data(ty, tx) ;\n"
    "   data: data = 100, 65535 ;\n"
    "   group: what {\n :quantity = \"ACRR\" ; :gain = 0.01 ; :offset = 0. ; :nodata = 65535. ;\n"
    "     :undetect = 0. ;\n }\n"
    " }\n"
    "}\n"
    "}\n";

static void test_odim(void **state)
{
    (void)state;
    const char *p = gen("odim", "nc4", cdl_odim);
    impa_scan_t s;
    char err[512] = "";
    assert_int_equal(impa_reader_read(p, NULL, &s, err, sizeof err), 0);
    assert_string_equal(s.variable, "dataset1/data2");
    assert_string_equal(s.quantity, "reflectivity");
    assert_int_equal(s.time, T_20201031 + 2 * 3600 + 600);
    assert_int_equal(s.grid.nx, 4);
    assert_int_equal(s.grid.ny, 3);
    assert_true(s.dbz[0] == IMPA_DBZ_NO_ECHO); /* undetect */
    assert_true(s.dbz[1] == 18.0f);             /* 100 * 0.5 - 32 */
    assert_true(isnan(s.dbz[2]));               /* nodata */
    assert_true(s.dbz[3] == 50.0f);
    assert_true(s.dbz[4] == -31.0f);
    /* absolute coordinates from the corners: first cell centre (-1500, 1000) m */
    assert_string_equal(s.grid.grid_mapping_name, "albers_conical_equal_area");
    assert_true(fabs(s.grid.x0 - -1500) < 0.01 && fabs(s.grid.y0 - 1000) < 0.01);
    assert_true(s.grid.dx == 1000 && s.grid.dy == -1000);
    double lat, lon;
    assert_int_equal(impa_grid_latlon(&s.grid, 0, 0, &lat, &lon), 0);
    assert_true(fabs(lat - -27.708778383) < 1e-7 && fabs(lon - 153.224785349) < 1e-7);
    impa_scan_deinit(&s);

    /* ACRR over 300 s: 1 mm -> 12 mm/h; no projdef -> relative grid, no lat/lon */
    p = gen("odimacrr", "nc4", cdl_odim_acrr);
    assert_int_equal(impa_reader_read(p, NULL, &s, err, sizeof err), 0);
    assert_string_equal(s.quantity, "accumulation");
    assert_int_equal(s.time, T_20201031 + 2 * 3600 + 600); /* end of the interval */
    assert_true(fabs(s.dbz[0] - mp(12.0)) < 1e-3);
    assert_true(isnan(s.dbz[1]));
    assert_true(s.grid.x0 == 250 && s.grid.y0 == 250 && s.grid.dy == -500);
    assert_int_equal(impa_grid_latlon(&s.grid, 0, 0, &lat, &lon), IMPA_ENOTFOUND);
    impa_scan_deinit(&s);
}


/* ODIM_H5 2.x attribute inheritance: what/where/how at data, dataset and top
 * level, the lowest level winning. Raw values 0 (undetect), 100, 255 (nodata),
 * 164 in every file below. */
#define ODIM_DATA(q) \
    " group: data1 {\n dimensions: y = 1 ; x = 4 ;\n variables: ubyte data(y, x) ;\n" \
    "   data: data = 0, 100, 255, 164 ;\n" q " }\n"

/* The OPERA layout of the issue: quantity and calibration in dataset1/what only. */
static const char *cdl_odim_dataset_level =
    "netcdf odimds {\n"
    ":Conventions = \"ODIM_H5/V2_4\" ;\n"
    "group: what {\n :object = \"COMP\" ; :date = \"20201031\" ; :time = \"021000\" ;\n }\n"
    "group: where {\n :xsize = 4 ; :ysize = 1 ; :xscale = 1000. ; :yscale = 1000. ;\n }\n"
    "group: dataset1 {\n"
    " group: what {\n :product = \"MAX\" ; :quantity = \"DBZH\" ; :gain = 0.5 ; :offset = -32. ;\n"
    "   :nodata = 255. ; :undetect = 0. ;\n }\n"
    ODIM_DATA("")
    "}\n"
    "}\n";

/* Every level says something: top gain 2 and nodata 255, dataset gain 0.5 and
 * offset -10 and undetect 0, data offset -32. Lowest wins: gain 0.5 (dataset),
 * offset -32 (data), nodata 255 (top), undetect 0 (dataset). where: top xscale
 * 1000, dataset xscale/yscale 250. */
static const char *cdl_odim_mixed =
    "netcdf odimmix {\n"
    ":Conventions = \"ODIM_H5/V2_4\" ;\n"
    "group: what {\n :object = \"IMAGE\" ; :date = \"20201031\" ; :time = \"021000\" ; :quantity = \"TH\" ;\n"
    "  :gain = 2. ; :nodata = 255. ;\n }\n"
    "group: where {\n :xsize = 4 ; :ysize = 1 ; :xscale = 1000. ; :yscale = 1000. ;\n }\n"
    "group: dataset1 {\n"
    " group: what {\n :quantity = \"DBZH\" ; :gain = 0.5 ; :offset = -10. ; :undetect = 0. ;\n }\n"
    " group: where {\n :xscale = 250. ; :yscale = 250. ;\n }\n"
    ODIM_DATA("   group: what {\n :offset = -32. ;\n }\n")
    "}\n"
    "}\n";

/* Quantity at the top level only (applies to every data group), several datasets:
 * dataset1 is an echo top (HGHT at data level overrides the top's DBZH),
 * dataset2 a rain rate whose own Z-R is in data1/how; dataset3 DBZH by
 * inheritance. DBZH wins: dataset3/data1. */
static const char *cdl_odim_datasets =
    "netcdf odimsets {\n"
    ":Conventions = \"ODIM_H5/V2_4\" ;\n"
    "group: what {\n :object = \"COMP\" ; :date = \"20201031\" ; :time = \"021000\" ; :quantity = \"DBZH\" ;\n"
    "  :gain = 0.5 ; :offset = -32. ; :nodata = 255. ; :undetect = 0. ;\n }\n"
    "group: where {\n :xsize = 4 ; :ysize = 1 ; :xscale = 1000. ; :yscale = 1000. ;\n }\n"
    "group: dataset1 {\n"
    ODIM_DATA("   group: what {\n :quantity = \"HGHT\" ;\n }\n")
    "}\n"
    "group: dataset2 {\n"
    ODIM_DATA("   group: what {\n :quantity = \"RATE\" ; :gain = 0.1 ; :offset = 0. ;\n }\n"
              "   group: how {\n :zr_a = 500. ; :zr_b = 1.5 ;\n }\n")
    "}\n"
    "group: dataset3 {\n"
    ODIM_DATA("")
    "}\n"
    "}\n";

/* A rain rate with the producer's Z-R at dataset level (how). */
static const char *cdl_odim_rate_how =
    "netcdf odimrate {\n"
    ":Conventions = \"ODIM_H5/V2_4\" ;\n"
    "group: what {\n :object = \"COMP\" ; :date = \"20201031\" ; :time = \"021000\" ;\n }\n"
    "group: where {\n :xsize = 4 ; :ysize = 1 ; :xscale = 1000. ; :yscale = 1000. ;\n }\n"
    "group: dataset1 {\n"
    " group: how {\n :zr_a = 500. ; :zr_b = 1.5 ;\n }\n"
    ODIM_DATA("   group: what {\n :quantity = \"RATE\" ; :gain = 0.1 ; :offset = 0. ; :nodata = 255. ;\n"
              "     :undetect = 0. ;\n }\n")
    "}\n"
    "}\n";

static const char *cdl_odim_pvol =
    "netcdf odimpvol {\n"
    ":Conventions = \"ODIM_H5/V2_4\" ;\n"
    "group: what {\n :object = \"PVOL\" ; :date = \"20201031\" ; :time = \"021000\" ;\n }\n"
    "group: dataset1 {\n"
    ODIM_DATA("   group: what {\n :quantity = \"DBZH\" ;\n }\n")
    "}\n"
    "}\n";

static const char *cdl_odim_noquantity =
    "netcdf odimnoq {\n"
    ":Conventions = \"ODIM_H5/V2_4\" ;\n"
    "group: what {\n :object = \"COMP\" ; :date = \"20201031\" ; :time = \"021000\" ;\n }\n"
    "group: dataset1 {\n"
    " group: what {\n :product = \"MAX\" ;\n }\n"
    ODIM_DATA("   group: what {\n :gain = 0.5 ;\n }\n")
    "}\n"
    "}\n";

static void check_dbzh_row(const impa_scan_t *s)
{
    assert_true(s->dbz[0] == IMPA_DBZ_NO_ECHO); /* undetect */
    assert_true(s->dbz[1] == 18.0f);             /* 100 * 0.5 - 32 */
    assert_true(isnan(s->dbz[2]));               /* nodata */
    assert_true(s->dbz[3] == 50.0f);             /* 164 * 0.5 - 32 */
}

static void test_odim_levels(void **state)
{
    (void)state;
    impa_scan_t s;
    char err[512] = "";
    impa_reader_opts_t o = impa_reader_opts_default();

    assert_int_equal(impa_reader_read(gen("odimds", "nc4", cdl_odim_dataset_level), NULL, &s, err, sizeof err), 0);
    assert_string_equal(s.variable, "dataset1/data1");
    assert_string_equal(s.quantity, "reflectivity");
    assert_int_equal(s.time, T_20201031 + 2 * 3600 + 600);
    check_dbzh_row(&s);
    impa_scan_deinit(&s);

    assert_int_equal(impa_reader_read(gen("odimmix", "nc4", cdl_odim_mixed), NULL, &s, err, sizeof err), 0);
    assert_string_equal(s.variable, "dataset1/data1");
    check_dbzh_row(&s);
    assert_true(s.grid.dx == 250 && s.grid.dy == -250); /* dataset where over top where */
    impa_scan_deinit(&s);

    assert_int_equal(impa_reader_read(gen("odimsets", "nc4", cdl_odim_datasets), NULL, &s, err, sizeof err), 0);
    assert_string_equal(s.variable, "dataset3/data1");
    assert_string_equal(s.quantity, "reflectivity");
    check_dbzh_row(&s);
    impa_scan_deinit(&s);

    /* 10 mm/h (raw 100 * 0.1) with the file's Z = 500 R^1.5, not the configured 200 R^1.6 */
    assert_int_equal(impa_reader_read(gen("odimrate", "nc4", cdl_odim_rate_how), &o, &s, err, sizeof err), 0);
    assert_string_equal(s.quantity, "rainfall_rate");
    assert_true(fabs(s.dbz[1] - 10 * log10(500 * pow(10.0, 1.5))) < 1e-4);
    assert_true(fabs(s.dbz[1] - mp(10.0)) > 1.0);
    assert_true(s.dbz[0] == IMPA_DBZ_NO_ECHO && isnan(s.dbz[2]));
    impa_scan_deinit(&s);

    err[0] = '\0';
    assert_int_equal(impa_reader_read(gen("odimpvol", "nc4", cdl_odim_pvol), NULL, &s, err, sizeof err),
                     IMPA_EFORMAT);
    assert_non_null(strstr(err, "PVOL"));
    assert_null(s.dbz);

    err[0] = '\0';
    assert_int_equal(impa_reader_read(gen("odimnoq", "nc4", cdl_odim_noquantity), NULL, &s, err, sizeof err),
                     IMPA_ENOTFOUND);
    assert_non_null(strstr(err, "quantity"));
}

/* A real HDF5 ODIM file as h5py writes it (fixed-length string attributes, int64
 * scalars, gzip dataset, CLASS/IMAGE_VERSION on the dataset); LAEA, UL corner from
 * PROJ invproj: (4176612.5211, 2990464.3148) = 7.985680025 E, 50.008741733 N. */
static const char *py_odim =
    "import sys\n"
    "import numpy as np\n"
    "import h5py\n"
    "out = sys.argv[1]\n"
    "with h5py.File(out, \"w\") as f:\n"
    "    f.attrs[\"Conventions\"] = np.bytes_(\"ODIM_H5/V2_3\")\n"
    "    w = f.create_group(\"what\")\n"
    "    w.attrs[\"object\"] = np.bytes_(\"COMP\")\n"
    "    w.attrs[\"version\"] = np.bytes_(\"H5rad 2.3\")\n"
    "    w.attrs[\"date\"] = np.bytes_(\"20201031\")\n"
    "    w.attrs[\"time\"] = np.bytes_(\"021000\")\n"
    "    w.attrs[\"source\"] = np.bytes_(\"ORG:247\")\n"
    "    wh = f.create_group(\"where\")\n"
    "    wh.attrs[\"projdef\"] = np.bytes_(\"+proj=laea +lat_0=52 +lon_0=10 +x_0=4321000 +y_0=3210000 +ellps=GRS80\")\n"
    "    wh.attrs[\"xsize\"] = np.int64(4)\n"
    "    wh.attrs[\"ysize\"] = np.int64(3)\n"
    "    wh.attrs[\"xscale\"] = np.float64(2000.0)\n"
    "    wh.attrs[\"yscale\"] = np.float64(2000.0)\n"
    "    # corners of a 4x3 grid of 2 km cells whose UL corner is at projected (4177612.5211-1000, 2989464.3148+1000)\n"
    "    wh.attrs[\"UL_lon\"] = np.float64(float(sys.argv[2]))\n"
    "    wh.attrs[\"UL_lat\"] = np.float64(float(sys.argv[3]))\n"
    "    ds = f.create_group(\"dataset1\")\n"
    "    dw = ds.create_group(\"what\")\n"
    "    dw.attrs[\"product\"] = np.bytes_(\"COMP\")\n"
    "    d1 = ds.create_group(\"data1\")\n"
    "    a = np.array([[0, 10, 255, 200], [1, 2, 3, 4], [5, 6, 7, 8]], dtype=np.uint8)\n"
    "    dset = d1.create_dataset(\"data\", data=a, compression=\"gzip\", compression_opts=6)\n"
    "    dset.attrs[\"CLASS\"] = np.bytes_(\"IMAGE\")\n"
    "    dset.attrs[\"IMAGE_VERSION\"] = np.bytes_(\"1.2\")\n"
    "    q = d1.create_group(\"what\")\n"
    "    q.attrs[\"quantity\"] = np.bytes_(\"DBZH\")\n"
    "    q.attrs[\"gain\"] = np.float64(0.5)\n"
    "    q.attrs[\"offset\"] = np.float64(-32.0)\n"
    "    q.attrs[\"nodata\"] = np.float64(255)\n"
    "    q.attrs[\"undetect\"] = np.float64(0)\n";

static void test_odim_h5py(void **state)
{
    (void)state;
    const char *py = getenv("IMPA_PYTHON");
    char cmd[1400], script[512], out[512];
    if (!py)
        py = "/usr/bin/python3";
    snprintf(cmd, sizeof cmd, "'%s' -c 'import h5py, numpy' 2>/dev/null", py);
    if (system(cmd) != 0) {
        print_message("h5py not available to %s: h5py ODIM test skipped\n", py);
        skip();
    }
    snprintf(script, sizeof script, "%s/mkodim.py", tmpdir);
    snprintf(out, sizeof out, "%s/odim_h5py.h5", tmpdir);
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fputs(py_odim, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' 7.985680025 50.008741733", py, script, out);
    assert_int_equal(system(cmd), 0);
    impa_scan_t s;
    char err[512] = "";
    assert_int_equal(impa_reader_read(out, NULL, &s, err, sizeof err), 0);
    assert_string_equal(s.variable, "dataset1/data1");
    assert_int_equal(s.time, T_20201031 + 2 * 3600 + 600);
    assert_int_equal(s.grid.nx, 4);
    assert_int_equal(s.grid.ny, 3);
    assert_string_equal(s.grid.grid_mapping_name, "lambert_azimuthal_equal_area");
    /* first cell centre = UL corner + half a cell; PROJ forward of (50 N, 8 E) is
     * (4177612.5211, 2989464.3148) */
    assert_true(fabs(s.grid.x0 - 4177612.5211) < 0.01 && fabs(s.grid.y0 - 2989464.3148) < 0.01);
    assert_true(s.grid.dx == 2000 && s.grid.dy == -2000);
    assert_true(s.dbz[0] == IMPA_DBZ_NO_ECHO && s.dbz[1] == -27.0f && isnan(s.dbz[2]) && s.dbz[3] == 68.0f);
    double lat, lon;
    assert_int_equal(impa_grid_latlon(&s.grid, 0, 0, &lat, &lon), 0);
    assert_true(fabs(lat - 50) < 1e-6 && fabs(lon - 8) < 1e-6);
    impa_scan_deinit(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cf_dbz),
        cmocka_unit_test(test_cf_packed_short),
        cmocka_unit_test(test_cf_unsigned_valid),
        cmocka_unit_test(test_cf_rain_rate),
        cmocka_unit_test(test_cf_accumulation),
        cmocka_unit_test(test_cf_errors),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_odim),
        cmocka_unit_test(test_odim_levels),
        cmocka_unit_test(test_odim_h5py),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
