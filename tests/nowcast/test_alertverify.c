/* Object-based verification of alerts (impa/alertverify.h) on synthetic cells
 * with answers known by construction: hits, false alarms, detected and missed
 * observed cells per lead, the per-region counts, the warning lead time, and
 * the scores computed from them. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "impa/alertverify.h"

#define NX 40
#define NY 40
#define NL 3
#define STEP 10
#define T0 1700000400

static float fc[NL * NY * NX], ob[NY * NX];

static impa_grid_t grid(void)
{
    impa_grid_t g;
    memset(&g, 0, sizeof g);
    g.nx = NX, g.ny = NY;
    g.x0 = 150.0, g.y0 = -27.0, g.dx = 0.01, g.dy = -0.01;
    snprintf(g.x_units, sizeof g.x_units, "degrees_east");
    snprintf(g.grid_mapping_name, sizeof g.grid_mapping_name, "latitude_longitude");
    return g;
}

static void clear(float *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        f[i] = 20.0f;
}

/* 5 x 5 block of 50 dBZ with its top-left pixel at (r, c): 25 px, about 27 km2 */
static void block(float *f, int r, int c)
{
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++)
            f[(r + i) * NX + c + j] = 50.0f;
}

static void run_cycle(impa_alert_tracker_t *tr, impa_alert_verifier_t *av, int64_t issue)
{
    impa_grid_t g = grid();
    impa_forecast_t f;
    memset(&f, 0, sizeof f);
    f.grid = &g, f.dbz = fc, f.n_leads = NL, f.step_minutes = STEP, f.issue_time = issue;
    f.domain = "t";
    char err[256];
    assert_int_equal(impa_alert_tracker_update(tr, &f, err, sizeof err), 0);
    assert_int_equal(impa_alert_verifier_add_cycle(av, issue, NL, impa_alert_tracker_alerts(tr),
                                                   err, sizeof err),
                     0);
}

static void config(impa_alert_config_t *cfg)
{
    impa_alert_config_default(cfg);
    impa_alert_config_immediate(cfg); /* every cell at once: the life cycle is test_life_cycle's */
    cfg->n_regions = 1; /* rows 0..15 (lat -27.00 .. -27.155), every column */
    snprintf(cfg->regions[0].name, sizeof cfg->regions[0].name, "north");
    cfg->regions[0].n_vertices = 4;
    double lat[4] = {-26.99, -26.99, -27.155, -27.155}, lon[4] = {149.99, 150.5, 150.5, 149.99};
    memcpy(cfg->regions[0].lat, lat, sizeof lat);
    memcpy(cfg->regions[0].lon, lon, sizeof lon);
}

static void test_known_answers(void **state)
{
    (void)state;
    impa_alert_config_t cfg;
    config(&cfg);
    impa_alert_tracker_t *tr = NULL;
    impa_alert_verifier_t *av = NULL;
    char err[256];
    assert_int_equal(impa_alert_tracker_create(&cfg, &tr, err, sizeof err), 0);
    assert_int_equal(impa_alert_verifier_create(NL, STEP, &cfg, &av, err, sizeof err), 0);
    impa_grid_t g = grid();

    /* cycle 1 (T0): lead 0: A at (5,5) in the region, B at (20,20); lead 1: A at (5,10);
     * lead 2: A at (5,15) */
    clear(fc, sizeof fc / sizeof fc[0]);
    block(fc, 5, 5);
    block(fc, 20, 20);
    block(fc + NY * NX, 5, 10);
    block(fc + 2 * NY * NX, 5, 15);
    run_cycle(tr, av, T0);

    /* observation T0+10 min: one cell overlapping A (at (7,7)), one nobody forecast (30,30) */
    clear(ob, NY * NX);
    block(ob, 7, 7);
    block(ob, 30, 30);
    impa_alert_table_t now;
    assert_int_equal(impa_alert_verifier_observe(av, &g, T0 + 600, ob, &now, err, sizeof err), 0);
    assert_int_equal(now.lead[0].alerts, 2);
    assert_int_equal(now.lead[0].hits, 1);
    assert_int_equal(now.lead[0].observed, 2);
    assert_int_equal(now.lead[0].detected, 1);
    assert_int_equal(now.lead[1].alerts, 0);
    assert_int_equal(now.lead[1].observed, 0);
    assert_int_equal(now.obs_cells, 2);
    assert_int_equal(now.warned, 1);
    assert_int_equal(now.lead_time_sum_s, 600);
    assert_int_equal(now.warned_at[0], 1);
    assert_int_equal(now.region[0].alerts, 1); /* A */
    assert_int_equal(now.region[0].hits, 1);
    assert_int_equal(now.region[0].observed, 1);
    assert_int_equal(now.region[0].detected, 1);
    impa_scores_t s = impa_alert_counts_scores(&now.lead[0]);
    assert_float_equal(s.pod, 0.5, 1e-12);
    assert_float_equal(s.far, 0.5, 1e-12);
    assert_float_equal(s.csi, 1.0 / 3.0, 1e-12);

    /* cycle 2 (T0+10 min): lead 0 (valid T0+20): A at (5,12) */
    clear(fc, sizeof fc / sizeof fc[0]);
    block(fc, 5, 12);
    run_cycle(tr, av, T0 + 600);

    /* observation T0+20 min: a cell at (6,11), covered by cycle 1's lead 1 (issued
     * 20 min before) and cycle 2's lead 0; cycle 2 has nothing else */
    clear(ob, NY * NX);
    block(ob, 6, 11);
    assert_int_equal(impa_alert_verifier_observe(av, &g, T0 + 1200, ob, &now, err, sizeof err), 0);
    assert_int_equal(now.lead[0].alerts, 1);
    assert_int_equal(now.lead[0].hits, 1);
    assert_int_equal(now.lead[0].observed, 1);
    assert_int_equal(now.lead[0].detected, 1);
    assert_int_equal(now.lead[1].alerts, 1);
    assert_int_equal(now.lead[1].hits, 1);
    assert_int_equal(now.lead[1].observed, 1);
    assert_int_equal(now.lead[1].detected, 1);
    assert_int_equal(now.warned, 1);
    assert_int_equal(now.lead_time_sum_s, 1200); /* the earliest covering issue: T0 */
    assert_int_equal(now.warned_at[1], 1);

    /* observation T0+30 min: dry. Cycle 1's lead 2 (A at (5,15)) is a false alarm;
     * cycle 2's lead 1 has no cell. */
    clear(ob, NY * NX);
    assert_int_equal(impa_alert_verifier_observe(av, &g, T0 + 1800, ob, &now, err, sizeof err), 0);
    assert_int_equal(now.lead[2].alerts, 1);
    assert_int_equal(now.lead[2].hits, 0);
    assert_int_equal(now.lead[1].alerts, 0);
    assert_int_equal(now.obs_cells, 0);
    s = impa_alert_counts_scores(&now.lead[1]);
    assert_true(isnan(s.pod) && isnan(s.far) && isnan(s.csi));

    /* totals */
    const impa_alert_table_t *t = impa_alert_verifier_table(av);
    assert_int_equal(t->n_observations, 3);
    impa_alert_counts_t all = impa_alert_table_pooled(t);
    assert_int_equal(all.alerts, 5);
    assert_int_equal(all.hits, 3);
    assert_int_equal(all.observed, 4);
    assert_int_equal(all.detected, 3);
    assert_int_equal(t->obs_cells, 3);
    assert_int_equal(t->warned, 2);
    assert_int_equal(t->lead_time_max_s, 1200);
    s = impa_alert_counts_scores(&all);
    assert_float_equal(s.pod, 0.75, 1e-12);
    assert_float_equal(s.far, 0.4, 1e-12);
    assert_float_equal(s.csi, 3.0 / 6.0, 1e-12);

    /* the printed table: one row per lead, pooled, region, lead time; whole lines */
    char buf[4096];
    FILE *mf = fmemopen(buf, sizeof buf, "w");
    assert_non_null(mf);
    impa_alert_table_print(t, "test", mf);
    fclose(mf);
    assert_non_null(strstr(buf, "all leads          5       3       2        4        3       1  0.750  0.400  0.500\n"));
    assert_non_null(strstr(buf, "region north"));
    assert_non_null(strstr(buf, "2 of 3 observed cells (3 observations)"));
    assert_non_null(strstr(buf, "mean 15.0 min, max 20 min"));

    /* another grid is refused */
    impa_grid_t g2 = g;
    g2.nx = NX - 1;
    assert_int_equal(impa_alert_verifier_observe(av, &g2, T0 + 2400, ob, NULL, err, sizeof err),
                     IMPA_ESHAPE);
    impa_alert_verifier_destroy(&av);
    assert_null(av);
    impa_alert_verifier_destroy(&av);
    impa_alert_tracker_destroy(&tr);
}

/* The online verifier scores the alerts of the cycles it is handed and reports
 * them in its JSON; without enable_alerts there is no "alerts" member. */
static void test_online(void **state)
{
    (void)state;
    impa_alert_config_t cfg;
    config(&cfg);
    impa_grid_t g = grid();
    float th[1] = {45};
    impa_verifier_t *v = NULL;
    char err[256];
    assert_int_equal(impa_verifier_create(NY, NX, NL, STEP, th, 1, NULL, &v, err, sizeof err), 0);
    size_t jl = IMPA_VERIFIER_JSON_MAX(NL, 1);
    char *json = malloc(jl);
    clear(ob, NY * NX);
    assert_true(impa_verifier_observe(v, T0, ob, json, jl, err, sizeof err) >= 0);
    assert_null(strstr(json, "\"alerts\""));
    assert_null(impa_verifier_alert_table(v, 0));
    assert_int_equal(impa_verifier_enable_alerts(v, &g, &cfg, err, sizeof err), 0);
    assert_int_equal(impa_verifier_enable_alerts(v, &g, &cfg, err, sizeof err), IMPA_ESTATE);

    impa_alert_tracker_t *tr = NULL;
    assert_int_equal(impa_alert_tracker_create(&cfg, &tr, err, sizeof err), 0);
    clear(fc, sizeof fc / sizeof fc[0]);
    block(fc, 5, 5);   /* lead 0: hit */
    block(fc, 20, 20); /* lead 0: false alarm */
    impa_forecast_t f;
    memset(&f, 0, sizeof f);
    f.grid = &g, f.dbz = fc, f.n_leads = NL, f.step_minutes = STEP, f.issue_time = T0;
    f.domain = "t", f.method = IMPA_METHOD_EXTRAPOLATION;
    assert_int_equal(impa_alert_tracker_update(tr, &f, err, sizeof err), 0);
    f.alerts = impa_alert_tracker_alerts(tr);
    assert_int_equal(impa_verifier_add_cycle(v, &f, err, sizeof err), 0);
    clear(ob, NY * NX);
    block(ob, 7, 7);
    block(ob, 30, 30);
    assert_true(impa_verifier_observe(v, T0 + 600, ob, json, jl, err, sizeof err) > 0);
    print_message("%s\n", json);
    assert_non_null(strstr(json, ",\"alerts\":{\"now\":{\"alerts\":2,\"hits\":1,\"observed\":2,"
                                 "\"detected\":1,\"observed_cells\":2,\"warned\":1,\"pod\":0.5000,"
                                 "\"far\":0.5000,\"csi\":0.3333,\"mean_lead_time_min\":10.0000},"
                                 "\"since_start\":{\"alerts\":2,"));
    assert_int_equal(json[strlen(json) - 1], '}');
    const impa_alert_table_t *now = impa_verifier_alert_table(v, 1);
    assert_non_null(now);
    assert_int_equal(now->lead[0].hits, 1);
    impa_alert_tracker_destroy(&tr);
    impa_verifier_destroy(&v);
    free(json);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    impa_alert_config_t cfg;
    impa_alert_config_default(&cfg);
    impa_alert_config_immediate(&cfg); /* every cell at once: the life cycle is test_life_cycle's */
    impa_alert_verifier_t *av = NULL;
    char err[256];
    assert_int_equal(impa_alert_verifier_create(0, STEP, &cfg, &av, err, sizeof err), IMPA_EINVAL);
    assert_int_equal(impa_alert_verifier_create(NL, 0, &cfg, &av, err, sizeof err), IMPA_EINVAL);
    assert_int_equal(impa_alert_verifier_create(IMPA_VERIFY_MAX_LEADS + 1, STEP, &cfg, &av, err,
                                                sizeof err),
                     IMPA_EINVAL);
    assert_null(av);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_online),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
