/* A cycle's alerts (src/nowcast/alerts.c, run by the daemon after every
 * forecast) allocate nothing in steady state: after the tracker has seen the
 * grid and its cell pools have grown, an update makes no allocation, neither
 * its own nor one inside a library on its behalf (tests/noalloc.h counts both).
 * Not built with sanitizers, which replace the allocator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "impa/alerts.h"
#include "noalloc.h"

static int cmp_int(const void *a, const void *b)
{
    return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

static void test_interposer_counts(void **state)
{
    (void)state;
    /* the interposition works: a call made while counting is seen */
    assert_true(noalloc_works());
    /* and an allocation inside libc on the caller's behalf (qsort's buffer) */
    static int a[4096];
    for (int i = 0; i < 4096; i++)
        a[i] = (i * 7919) % 4096;
    counting = 1;
    n_alloc = 0;
    qsort(a, 4096, sizeof a[0], cmp_int);
    counting = 0;
    assert_true(n_alloc >= 1);
}

/* Storms that move, split and vary in number from cycle to cycle, on a lat/lon
 * grid with a watch region, and over 256 cells per lead (where glibc's qsort
 * allocates its merge buffer). */
static void paint_alert_cycle(float *f, int ny, int nx, int n_leads, int cyc)
{
    for (int k = 0; k < n_leads; k++) {
        float *p = f + (size_t)k * ny * nx;
        for (int i = 0; i < ny * nx; i++)
            p[i] = 10.0f;
        int shift = 2 * (cyc + k);
        for (int r = 2; r < ny / 2; r += 4) /* a field of 2x2 cells: 300+ per lead */
            for (int c = 2 + (cyc + k) % 2; c + 1 < nx; c += 4)
                for (int d = 0; d < 4; d++)
                    p[(r + d / 2) * nx + c + d % 2] = 47.0f;
        int n_storms = 2 + (cyc + k) % 3;
        for (int s = 0; s < n_storms; s++) {
            int cr = ny / 2 + 10 + 12 * (s % 2), cc = 10 + 25 * s + shift;
            for (int r = cr - 6; r <= cr + 6; r++)
                for (int c = cc - 6; c <= cc + 6; c++)
                    if (r >= 0 && r < ny && c >= 0 && c < nx &&
                        (r - cr) * (r - cr) + (c - cc) * (c - cc) <= 36)
                        p[r * nx + c] = 55.0f - 0.5f * (float)abs(r - cr);
        }
    }
}

static void test_alerts_allocate_nothing(void **state)
{
    (void)state;
    enum { NY = 96, NX = 160, NL = 6 };
    static float f[NL * NY * NX];
    impa_grid_t g;
    memset(&g, 0, sizeof g);
    g.ny = NY, g.nx = NX, g.x0 = 150.0, g.y0 = -27.0, g.dx = 0.01, g.dy = -0.01;
    snprintf(g.x_units, sizeof g.x_units, "degrees_east");
    snprintf(g.grid_mapping_name, sizeof g.grid_mapping_name, "latitude_longitude");
    impa_alert_config_t cfg;
    impa_alert_config_default(&cfg);
    impa_alert_config_immediate(&cfg); /* every cell at once: the life cycle is test_life_cycle's */
    cfg.min_area_km2 = 1.0f;
    cfg.n_regions = 1;
    impa_watch_region_t *r = &cfg.regions[0];
    snprintf(r->name, sizeof r->name, "town");
    r->n_vertices = 4;
    double lat[4] = {-27.5, -27.5, -27.9, -27.9}, lon[4] = {150.2, 150.6, 150.6, 150.2};
    memcpy(r->lat, lat, sizeof lat);
    memcpy(r->lon, lon, sizeof lon);
    char err[256];
    impa_alert_tracker_t *tr = NULL;
    assert_int_equal(impa_alert_tracker_create(&cfg, &tr, err, sizeof err), 0);
    impa_forecast_t fc;
    memset(&fc, 0, sizeof fc);
    fc.grid = &g, fc.dbz = f, fc.n_leads = NL, fc.step_minutes = 10, fc.domain = "t";
    long total = 0;
    int max_cells = 0;
    for (int cyc = 0; cyc < 12; cyc++) {
        paint_alert_cycle(f, NY, NX, NL, cyc);
        fc.issue_time = 1700000000 + 600 * cyc;
        counting = cyc >= 4; /* warm-up: grid buffers, pools grown to their size */
        n_alloc = 0;
        int rc = impa_alert_tracker_update(tr, &fc, err, sizeof err);
        const impa_alerts_t *a = impa_alert_tracker_alerts(tr);
        counting = 0;
        assert_int_equal(rc, 0);
        assert_true(a->n_cells > 256 * NL && (cyc == 0 || a->n_updated > 0));
        if (a->n_cells > max_cells)
            max_cells = a->n_cells;
        if (cyc >= 4)
            total += n_alloc;
    }
    printf("alerts: 8 steady-state cycles of up to %d cells over %d leads: %ld allocations\n",
           max_cells, NL, total);
    assert_int_equal(total, 0);
    impa_alert_tracker_destroy(&tr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interposer_counts),
        cmocka_unit_test(test_alerts_allocate_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
