/* Online verifier: forecast then matching observations give the expected tables;
 * the CSV log rebuilds the aggregates after destroy/create. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "impa/verify.h"

#define NY 2
#define NX 3
#define NL 2
#define NP (NY * NX)

static char dir[64];

static int setup(void **state)
{
    strcpy(dir, "/tmp/impa_verifier_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char p[128];
    snprintf(p, sizeof p, "%s/verification.csv", dir);
    unlink(p);
    rmdir(dir);
    return 0;
}

static void assert_cont(const impa_contingency_t *c, int h, int m, int f, int cn)
{
    assert_int_equal(c->hits, h);
    assert_int_equal(c->misses, m);
    assert_int_equal(c->false_alarms, f);
    assert_int_equal(c->correct_negatives, cn);
}

static void test_forecast_then_observation(void **state)
{
    const float th[] = {30};
    impa_verifier_t *v = NULL;
    char err[256] = "", json[IMPA_VERIFIER_JSON_MAX(NL, 1)];
    assert_int_equal(impa_verifier_create(NY, NX, NL, 10, th, 1, dir, &v, err, sizeof err), 0);
    const int64_t t0 = 1604102400; /* 2020-10-31T00:00:00Z */
    /* obs at t0 (the persistence forecast issued at t0) */
    const float o0[NP] = {40, 40, 10, 10, NAN, 35};
    assert_int_equal(impa_verifier_observe(v, t0, o0, json, sizeof json, err, sizeof err), 0);
    /* extrapolation issued at t0: lead 1 (t0+10 min), lead 2 (t0+20 min) */
    const float fc[NL * NP] = {40, 10, 40, 10, 40, 40, /* lead 1 */
                               40, 40, 40, 40, 40, 40};
    assert_int_equal(impa_verifier_add_forecast(v, IMPA_METHOD_EXTRAPOLATION, t0, fc, err,
                                                sizeof err), 0);
    assert_int_equal(impa_verifier_add_forecast(v, IMPA_METHOD_PERSISTENCE, t0, fc, err,
                                                sizeof err), IMPA_EINVAL);
    const float o1[NP] = {40, 40, 10, 10, 40, NAN};
    /* extrapolation lead 1 and persistence lead 1 */
    assert_int_equal(impa_verifier_observe(v, t0 + 600, o1, json, sizeof json, err, sizeof err), 2);
    assert_non_null(strstr(json, "\"method\":\"extrapolation\""));
    assert_non_null(strstr(json, "\"method\":\"persistence\""));
    assert_non_null(strstr(json, "\"obs_time\":\"2020-10-31T00:10:00Z\""));
    impa_verify_table_t t;
    assert_int_equal(impa_verifier_table(v, IMPA_METHOD_EXTRAPOLATION, 0, &t), 0);
    /* fc 40 10 40 10 40 (40) vs obs 40 40 10 10 40 NaN: H M F CN H */
    assert_cont(&t.table[0][0], 2, 1, 1, 1);
    assert_int_equal(t.n_pairs[0], 1);
    assert_int_equal(impa_verifier_table(v, IMPA_METHOD_PERSISTENCE, 0, &t), 0);
    /* o0 40 40 10 10 NaN 35 vs o1 40 40 10 10 40 NaN: H H CN CN */
    assert_cont(&t.table[0][0], 2, 0, 0, 2);
    /* t0+20: extrapolation lead 2, persistence lead 2 (from t0) and lead 1 (from t0+10) */
    const float o2[NP] = {10, 10, 10, 10, 10, 10};
    assert_int_equal(impa_verifier_observe(v, t0 + 1200, o2, json, sizeof json, err, sizeof err), 3);
    assert_int_equal(impa_verifier_table(v, IMPA_METHOD_EXTRAPOLATION, 0, &t), 0);
    assert_cont(&t.table[1][0], 0, 0, 6, 0);
    assert_int_equal(impa_verifier_table(v, IMPA_METHOD_PERSISTENCE, 0, &t), 0);
    assert_cont(&t.table[1][0], 0, 0, 3, 2);
    /* the JSON parses, with null for undefined scores (POD of lead 2: no observed event) */
    const char *py = getenv("IMPA_PYTHON");
    if (py) {
        char jp[128], cmd[512];
        snprintf(jp, sizeof jp, "%s/summary.json", dir);
        FILE *jf = fopen(jp, "w");
        assert_non_null(jf);
        fputs(json, jf);
        fclose(jf);
        snprintf(cmd, sizeof cmd,
                 "%s -c \"import json; d = json.load(open('%s')); "
                 "assert len(d['pairs']) == 3; "
                 "assert d['pairs'][0]['scores'][0]['pod'] is None and d['pairs'][0]['scores'][0]['far'] == 1.0; "
                 "assert d['since_start']['persistence']['pairs'] == 3\"",
                 py, jp);
        assert_int_equal(system(cmd), 0);
        unlink(jp);
    } /* o0 vs o2: F F CN CN x F */
    assert_cont(&t.table[0][0], 2, 0, 3, 4); /* + o1 vs o2: F F CN CN F x */
    /* last 24 h holds the same as since start here */
    impa_verify_table_t d;
    assert_int_equal(impa_verifier_table(v, IMPA_METHOD_PERSISTENCE, 1, &d), 0);
    assert_cont(&d.table[0][0], 2, 0, 3, 4);
    /* a replayed (older) observation is not scored twice */
    assert_int_equal(impa_verifier_observe(v, t0 + 600, o1, NULL, 0, err, sizeof err), 0);
    impa_verifier_destroy(&v);
    assert_null(v);

    /* restart: the log rebuilds both aggregates */
    assert_int_equal(impa_verifier_create(NY, NX, NL, 10, th, 1, dir, &v, err, sizeof err), 0);
    assert_int_equal(impa_verifier_table(v, IMPA_METHOD_EXTRAPOLATION, 0, &t), 0);
    assert_cont(&t.table[0][0], 2, 1, 1, 1);
    assert_cont(&t.table[1][0], 0, 0, 6, 0);
    assert_int_equal(t.n_pairs[0], 1);
    assert_int_equal(t.n_pairs[1], 1);
    assert_int_equal(impa_verifier_table(v, IMPA_METHOD_PERSISTENCE, 0, &t), 0);
    assert_cont(&t.table[0][0], 2, 0, 3, 4);
    assert_int_equal(t.n_pairs[0], 2);
    assert_int_equal(impa_verifier_table(v, IMPA_METHOD_PERSISTENCE, 1, &d), 0);
    assert_cont(&d.table[1][0], 0, 0, 3, 2);
    /* an observation 2 days later: the 24 h window forgets, since-start does not */
    assert_int_equal(impa_verifier_observe(v, t0 + 2 * 86400, o2, json, sizeof json, err,
                                           sizeof err), 0);
    assert_int_equal(impa_verifier_table(v, IMPA_METHOD_PERSISTENCE, 1, &d), 0);
    assert_cont(&d.table[0][0], 0, 0, 0, 0);
    assert_int_equal(impa_verifier_table(v, IMPA_METHOD_PERSISTENCE, 0, &t), 0);
    assert_cont(&t.table[0][0], 2, 0, 3, 4);
    assert_non_null(strstr(json, "\"since_start\""));
    impa_verifier_destroy(&v);

    /* the log itself: header + 6 rows */
    char p[128], line[256];
    snprintf(p, sizeof p, "%s/verification.csv", dir);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    int n = 0;
    while (fgets(line, sizeof line, f))
        n++;
    fclose(f);
    assert_int_equal(n, 1 + 5);
}

static void test_bad_arguments(void **state)
{
    const float th[] = {30};
    impa_verifier_t *v = NULL;
    char err[256] = "";
    assert_int_equal(impa_verifier_create(0, NX, NL, 10, th, 1, NULL, &v, err, sizeof err),
                     IMPA_EINVAL);
    assert_null(v);
    assert_true(strlen(err) > 0);
    assert_int_equal(impa_verifier_create(NY, NX, IMPA_VERIFY_MAX_LEADS + 1, 10, th, 1, NULL, &v,
                                          err, sizeof err), IMPA_EINVAL);
    /* no log: works in memory only */
    assert_int_equal(impa_verifier_create(NY, NX, NL, 10, th, 1, NULL, &v, err, sizeof err), 0);
    const float o[NP] = {0};
    assert_int_equal(impa_verifier_observe(v, 0, o, NULL, 0, err, sizeof err), 0);
    /* a JSON buffer too small says so rather than holding cut JSON */
    char small[32];
    assert_int_equal(impa_verifier_observe(v, 600, o, small, sizeof small, err, sizeof err), 1);
    assert_string_equal(small, "{\"truncated\":true}");
    impa_verifier_destroy(&v);
    impa_verifier_destroy(&v);
}

/* Every method at every lead with the most thresholds: the JSON still fits in
 * IMPA_VERIFIER_JSON_MAX and parses. */
static void test_json_worst_case(void **state)
{
    enum { L = 12, T = IMPA_VERIFY_MAX_THRESH };
    float th[T];
    for (int i = 0; i < T; i++)
        th[i] = 10.25f + 5.5f * i;
    impa_verifier_t *v = NULL;
    char err[256];
    static char json[IMPA_VERIFIER_JSON_MAX(L, T)];
    assert_int_equal(impa_verifier_create(1, 2, L, 10, th, T, NULL, &v, err, sizeof err), 0);
    static float fc[L * 2];
    const float o[2] = {30, 50};
    for (int i = 0; i < L * 2; i++)
        fc[i] = (float)(i % 7) * 8;
    for (int k = 0; k < L; k++) {
        int64_t t = 1000000000LL + 600LL * k;
        assert_int_equal(impa_verifier_add_forecast(v, IMPA_METHOD_IMPANET, t, fc, err, sizeof err), 0);
        assert_int_equal(impa_verifier_add_forecast(v, IMPA_METHOD_EXTRAPOLATION, t, fc, err,
                                                    sizeof err), 0);
        impa_verifier_observe(v, t, o, NULL, 0, err, sizeof err);
    }
    assert_int_equal(impa_verifier_observe(v, 1000000000LL + 600LL * L, o, json, sizeof json, err,
                                           sizeof err), 3 * L);
    assert_null(strstr(json, "truncated"));
    print_message("worst-case JSON: %zu of %zu bytes\n", strlen(json), sizeof json);
    const char *py = getenv("IMPA_PYTHON");
    if (py) {
        char jp[64] = "/tmp/impa_vjson_XXXXXX", cmd[256];
        int fd = mkstemp(jp);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
        close(fd);
        snprintf(cmd, sizeof cmd,
                 "%s -c \"import json; d = json.load(open('%s')); assert len(d['pairs']) == %d\"",
                 py, jp, 3 * L);
        assert_int_equal(system(cmd), 0);
        unlink(jp);
    }
    impa_verifier_destroy(&v);
}

/* The verifier keeps threshold levels, not floats: with thresholds out of order,
 * repeated, between 0.5 dB steps and hit exactly, and with missing pixels in
 * both fields, its tables equal impa_verify_table_add on the floats. */
static void test_levels_match_float_scores(void **state)
{
    enum { Y = 17, X = 23, L = 3, N = Y * X, T = 5 };
    const float th[T] = {45, 20, 35.3f, 20, -1e-3f};
    static float fc[L * N], obs[L + 1][N];
    uint32_t r = 12345;
    for (int i = 0; i < L * N; i++) {
        r = r * 1664525u + 1013904223u;
        /* a third of the values sit exactly on a threshold, a few are missing */
        fc[i] = (r >> 8) % 3 == 0 ? th[(r >> 12) % T] : (float)((r >> 10) % 800) / 10.0f - 10;
        if ((r >> 20) % 29 == 0)
            fc[i] = NAN;
    }
    for (int k = 0; k <= L; k++)
        for (int i = 0; i < N; i++) {
            r = r * 1664525u + 1013904223u;
            obs[k][i] = (r >> 8) % 4 == 0 ? th[(r >> 12) % T] : (float)((r >> 10) % 700) / 10.0f;
            if ((r >> 20) % 31 == 0)
                obs[k][i] = NAN;
        }
    impa_verifier_t *v = NULL;
    char err[256] = "";
    assert_int_equal(impa_verifier_create(Y, X, L, 10, th, T, NULL, &v, err, sizeof err), 0);
    const int64_t t0 = 1604102400;
    assert_int_equal(impa_verifier_add_forecast(v, IMPA_METHOD_IMPANET, t0, fc, err, sizeof err),
                     0);
    for (int k = 0; k <= L; k++)
        assert_int_equal(impa_verifier_observe(v, t0 + 600 * k, obs[k], NULL, 0, err, sizeof err),
                         k == 0 ? 0 : 1 + k); /* impa-net lead k, persistence from each earlier obs */
    impa_verify_table_t want_fc, want_pers, got;
    impa_verify_table_init(&want_fc, L, 10, th, T);
    impa_verify_table_init(&want_pers, L, 10, th, T);
    for (int k = 1; k <= L; k++) {
        impa_verify_table_add(&want_fc, k - 1, fc + (size_t)(k - 1) * N, obs[k], N);
        for (int j = 0; j < k; j++)
            impa_verify_table_add(&want_pers, k - j - 1, obs[j], obs[k], N);
    }
    const impa_method_t ms[2] = {IMPA_METHOD_IMPANET, IMPA_METHOD_PERSISTENCE};
    const impa_verify_table_t *want[2] = {&want_fc, &want_pers};
    int64_t events = 0;
    for (int m = 0; m < 2; m++) {
        assert_int_equal(impa_verifier_table(v, ms[m], 0, &got), 0);
        for (int l = 0; l < L; l++)
            for (int i = 0; i < T; i++) {
                const impa_contingency_t *w = &want[m]->table[l][i];
                assert_cont(&got.table[l][i], (int)w->hits, (int)w->misses,
                            (int)w->false_alarms, (int)w->correct_negatives);
                events += w->hits + w->misses;
            }
    }
    assert_true(events > 1000); /* the fields do cross the thresholds */
    impa_verifier_destroy(&v);
    /* a threshold that is not a number is refused */
    const float bad[2] = {20, NAN};
    assert_int_equal(impa_verifier_create(Y, X, L, 10, bad, 2, NULL, &v, err, sizeof err),
                     IMPA_EINVAL);
    assert_null(v);
    assert_non_null(strstr(err, "threshold 2"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_forecast_then_observation, setup, teardown),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_json_worst_case),
        cmocka_unit_test(test_levels_match_float_scores),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
