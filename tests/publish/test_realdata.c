/* Alerts and publishing on real radar data: the Brisbane hail storm of
 * 2020-10-31 (BoM radar 66, 512x512 1 km Albers). Three consecutive observed
 * scans stand in for three lead times, so the tracker follows real cells.
 * Skips (77) when $IMPA_SHARED_DATA is absent. Prints the time of one
 * impa_publisher_send_cycle on this grid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "impa/alerts.h"
#include "impa/reader.h"
#include "publish/json.h"
#include "pubtest.h"

#define NL 3

static char g_dir[4096];

static void test_brisbane(void **state)
{
    static const char *names[NL] = {"66_20201031_060000.prcp-c10.nc", "66_20201031_061000.prcp-c10.nc",
                                    "66_20201031_062000.prcp-c10.nc"};
    impa_scan_t scans[NL];
    impa_reader_opts_t ro = impa_reader_opts_default();
    ro.accum_period_s = 600;
    char err[512];
    for (int k = 0; k < NL; k++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", g_dir, names[k]);
        int rc = impa_reader_read(path, &ro, &scans[k], err, sizeof err);
        if (rc)
            print_message("%s\n", err);
        assert_int_equal(rc, 0);
    }
    const impa_grid_t *g = &scans[0].grid;
    size_t n = (size_t)g->nx * g->ny;
    float *dbz = malloc(NL * n * sizeof *dbz);
    for (int k = 0; k < NL; k++)
        memcpy(dbz + k * n, scans[k].dbz, n * sizeof *dbz);
    impa_forecast_t fc;
    pt_forecast(&fc, g, dbz, NL, scans[0].time - 600);

    impa_alert_config_t acfg;
    impa_alert_config_default(&acfg);
    impa_alert_config_immediate(&acfg); /* every cell at once: the life cycle is test_life_cycle's */
    impa_alert_tracker_t *tr = NULL;
    assert_int_equal(impa_alert_tracker_create(&acfg, &tr, err, sizeof err), 0);
    double t0 = impa_time_monotonic();
    assert_int_equal(impa_alert_tracker_update(tr, &fc, err, sizeof err), 0);
    double t_alerts = impa_time_monotonic() - t0;
    int nc = impa_alert_tracker_n_cells(tr);
    assert_true(nc >= NL); /* the storm is >= 45 dBZ at every one of these times */
    double km2 = impa_grid_cell_area_km2(g);
    int64_t big_id[NL] = {0};
    double big_area[NL] = {0};
    for (int i = 0; i < nc; i++) {
        const impa_alert_cell_t *c = impa_alert_tracker_cell(tr, i);
        assert_true(c->max_dbz >= 45.0);
        assert_true(c->mean_dbz >= 45.0 && c->mean_dbz <= c->max_dbz);
        assert_true(c->area_km2 >= 4.0);
        assert_true(fabs(c->area_km2 - c->n_pixels * km2) < 1e-6);
        assert_int_equal(c->has_latlon, 1);
        assert_true(c->lat > -29.5 && c->lat < -26.0 && c->lon > 151.0 && c->lon < 155.0);
        /* recount the pixels >= 45 dBZ in the bbox: at least the cell's */
        const float *f = dbz + (size_t)c->lead * n;
        int cnt = 0;
        for (int r = c->row0; r <= c->row1; r++)
            for (int x = c->col0; x <= c->col1; x++)
                cnt += f[(size_t)r * g->nx + x] >= 45.0f;
        assert_true(cnt >= c->n_pixels);
        if (c->area_km2 > big_area[c->lead])
            big_area[c->lead] = c->area_km2, big_id[c->lead] = c->id;
    }
    /* the largest cell keeps its id over 20 minutes */
    assert_true(big_id[0] == big_id[1] && big_id[1] == big_id[2]);
    print_message("brisbane 06:00-06:20: %d cells over %d frames, largest %.0f km2, "
                  "extraction+tracking %.1f ms for 3 x %dx%d\n",
                  nc, NL, big_area[0], 1e3 * t_alerts, g->ny, g->nx);
    impa_alert_tracker_destroy(&tr);

    /* the whole cycle over ZeroMQ, with a subscriber (alerts computed as the
     * daemon's cycle does, outside the timing of send_cycle) */
    assert_int_equal(impa_alert_tracker_create(&acfg, &tr, err, sizeof err), 0);
    assert_int_equal(impa_alert_tracker_update(tr, &fc, err, sizeof err), 0);
    fc.alerts = impa_alert_tracker_alerts(tr);
    impa_publish_config_t cfg;
    pt_config(&cfg);
    impa_publisher_t *pub = NULL;
    assert_int_equal(impa_publisher_create(&cfg, &pub, NULL, 0, err, sizeof err), 0);
    void *ctx = zmq_ctx_new();
    void *sub = pt_sub(ctx, impa_publisher_endpoint(pub, 0));
    assert_true(pt_wait_ready(pub, sub, 3.0));
    t0 = impa_time_monotonic();
    assert_int_equal(impa_publisher_send_cycle(pub, &fc, err, sizeof err), 0);
    double t_cycle = impa_time_monotonic() - t0;
    /* second cycle: one step later, same storm, cells continue (updated) */
    fc.issue_time += 600;
    assert_int_equal(impa_alert_tracker_update(tr, &fc, err, sizeof err), 0);
    t0 = impa_time_monotonic();
    assert_int_equal(impa_publisher_send_cycle(pub, &fc, err, sizeof err), 0);
    double t_cycle2 = impa_time_monotonic() - t0;
    print_message("send_cycle on 3 x 512x512: first %.1f ms (allocates), steady %.1f ms\n",
                  1e3 * t_cycle, 1e3 * t_cycle2);
    int frames = 0, alerts = 0;
    pt_msg_t m;
    while (pt_recv(sub, 500, &m)) {
        frames += strcmp(m.topic, "impa.frame.test") == 0;
        if (strcmp(m.topic, "impa.alert.test") == 0) {
            alerts++;
            assert_non_null(strstr(m.hdr, "\"coordinates\":\"lonlat\""));
        }
        pt_msg_free(&m);
    }
    assert_int_equal(frames, 2 * NL);
    assert_int_equal(alerts, 2);
    zmq_close(sub);
    zmq_ctx_term(ctx);
    impa_publisher_destroy(&pub);
    impa_alert_tracker_destroy(&tr);
    free(dbz);
    for (int k = 0; k < NL; k++)
        impa_scan_deinit(&scans[k]);
}

int main(void)
{
    const char *data = getenv("IMPA_SHARED_DATA");
    if (!data) {
        printf("IMPA_SHARED_DATA not set: skipping the real-data test\n");
        return 77;
    }
    snprintf(g_dir, sizeof g_dir, "%s/pysteps-data/radar/bom/prcp-c10/66/2020/10/31", data);
    if (access(g_dir, R_OK) != 0) {
        printf("%s absent: skipping the real-data test\n", g_dir);
        return 77;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_brisbane)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
