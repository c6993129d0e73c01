/* Domain cutting: crop offsets, linear-Z block averages, missing-data rule,
 * stride trimming and the output grid geometry. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "impa/domain.h"
#include "impa/reader.h"

static impa_scan_t make_scan(int nx, int ny)
{
    impa_grid_t g;
    memset(&g, 0, sizeof g);
    g.nx = nx;
    g.ny = ny;
    g.x0 = -10;
    g.y0 = 20;
    g.dx = 1;
    g.dy = -1;
    snprintf(g.x_units, sizeof g.x_units, "km");
    impa_scan_t s;
    assert_int_equal(impa_scan_init(&s, &g), 0);
    for (int i = 0; i < nx * ny; i++)
        s.dbz[i] = IMPA_DBZ_NO_ECHO;
    s.time = 1234;
    snprintf(s.variable, sizeof s.variable, "precipitation");
    return s;
}

static void test_block_average_linear_z(void **state)
{
    (void)state;
    impa_scan_t in = make_scan(8, 6);
    /* block (0,0): one 50 dBZ, three dry -> 10log10(1e5/4) = 43.979 */
    in.dbz[0] = 50;
    /* block (0,1) (cols 2-3, rows 0-1): 30 and 40 dBZ and two NaN -> half valid, kept:
     * mean over the 2 valid cells */
    in.dbz[2] = 30;
    in.dbz[3] = 40;
    in.dbz[8 + 2] = NAN;
    in.dbz[8 + 3] = NAN;
    /* block (0,2) (cols 4-5): three NaN -> missing */
    in.dbz[4] = NAN;
    in.dbz[5] = NAN;
    in.dbz[8 + 4] = NAN;
    impa_domain_t dom = {.x_offset = 0, .y_offset = 0, .nx = 0, .ny = 0, .block = 2, .stride = 1};
    impa_scan_t out;
    char err[256];
    assert_int_equal(impa_domain_apply(&dom, &in, &out, err, sizeof err), 0);
    assert_int_equal(out.grid.nx, 4);
    assert_int_equal(out.grid.ny, 3);
    assert_int_equal(out.time, 1234);
    assert_string_equal(out.variable, "precipitation");
    assert_true(fabs(out.dbz[0] - 43.9794) < 1e-3);
    assert_true(fabs(out.dbz[1] - 10 * log10((1e3 + 1e4) / 2)) < 1e-4);
    assert_true(isnan(out.dbz[2]));
    assert_true(out.dbz[3] == IMPA_DBZ_NO_ECHO);
    /* geometry: centre of block (0,0) = mean of cell centres 0,1 */
    assert_true(fabs(out.grid.x0 - -9.5) < 1e-12 && fabs(out.grid.y0 - 19.5) < 1e-12);
    assert_true(out.grid.dx == 2 && out.grid.dy == -2);
    impa_scan_deinit(&out);
    impa_scan_deinit(&in);
}

static void test_crop_and_stride(void **state)
{
    (void)state;
    impa_scan_t in = make_scan(20, 16);
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 20; c++)
            in.dbz[r * 20 + c] = (float)(r * 100 + c) / 100.0f; /* distinct, > -32 */
    impa_domain_t dom = {.x_offset = 3, .y_offset = 2, .nx = 13, .ny = 11, .block = 1, .stride = 4};
    impa_grid_t g;
    char err[256];
    assert_int_equal(impa_domain_grid(&dom, &in.grid, &g, err, sizeof err), 0);
    assert_int_equal(g.nx, 12); /* 13 trimmed to a multiple of 4 */
    assert_int_equal(g.ny, 8);
    assert_true(fabs(g.x0 - (-10 + 3)) < 1e-12 && fabs(g.y0 - (20 - 2)) < 1e-12);
    impa_scan_t out;
    assert_int_equal(impa_domain_apply(&dom, &in, &out, err, sizeof err), 0);
    assert_true(fabs(out.dbz[0] - in.dbz[2 * 20 + 3]) < 1e-6);
    assert_true(fabs(out.dbz[7 * 12 + 11] - in.dbz[9 * 20 + 14]) < 1e-6);
    impa_scan_deinit(&out);

    /* errors: crop outside, too small for a stride, bad block */
    impa_domain_t bad = {.x_offset = 10, .y_offset = 0, .nx = 11, .ny = 4, .block = 1, .stride = 1};
    assert_int_equal(impa_domain_grid(&bad, &in.grid, &g, err, sizeof err), IMPA_EINVAL);
    assert_non_null(strstr(err, "leaves"));
    impa_domain_t small = {.x_offset = 0, .y_offset = 0, .nx = 6, .ny = 6, .block = 2, .stride = 4};
    assert_int_equal(impa_domain_grid(&small, &in.grid, &g, err, sizeof err), IMPA_EINVAL);
    assert_non_null(strstr(err, "stride"));
    impa_domain_t zero = {.block = 0, .stride = 1};
    assert_int_equal(impa_domain_grid(&zero, &in.grid, &g, err, sizeof err), IMPA_EINVAL);
    impa_scan_deinit(&in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_average_linear_z),
        cmocka_unit_test(test_crop_and_stride),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
