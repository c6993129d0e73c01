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
    const char *names[] = {"verification.csv", "verification-totals.csv",
                           "verification-2020-10.csv", "verification-2020-11.csv",
                           "prob-verify.state"};
    char p[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    return rmdir(dir);
}

/* Lines of a file in the test directory; -1 when it does not exist. */
static int count_lines(const char *name)
{
    char p[128], line[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "r");
    if (!f)
        return -1;
    int n = 0;
    while (fgets(line, sizeof line, f))
        n++;
    fclose(f);
    return n;
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

    /* the log itself: the observation of November started a new month, so the
     * October rows (header + 5) are in verification-2020-10.csv and
     * verification.csv holds only the header (nothing was scored in November) */
    assert_int_equal(count_lines("verification-2020-10.csv"), 1 + 5);
    assert_int_equal(count_lines("verification.csv"), 1);
    assert_int_equal(count_lines("verification-totals.csv"), 1 + 3 * NL * 1);
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
    /* and the probabilities at the most thresholds, with long numbers */
    const float pth[IMPA_PROB_MAX_THRESHOLDS] = {25, 35, 45, 55};
    assert_int_equal(impa_verifier_enable_prob(v, pth, IMPA_PROB_MAX_THRESHOLDS, err, sizeof err),
                     0);
    static float fc[L * 2], pv[IMPA_PROB_MAX_THRESHOLDS * L * 2], radius[IMPA_PROB_MAX_THRESHOLDS * L];
    const float o[2] = {30, 50};
    for (int i = 0; i < L * 2; i++)
        fc[i] = (float)(i % 7) * 8;
    for (int i = 0; i < IMPA_PROB_MAX_THRESHOLDS * L * 2; i++)
        pv[i] = (float)((i * 37) % 101) / 100.0f;
    impa_prob_field_t pf = {.n_thresholds = IMPA_PROB_MAX_THRESHOLDS,
                            .thresholds = {25, 35, 45, 55}, .n_leads = L, .ny = 1, .nx = 2,
                            .p = pv, .radius_km = radius};
    for (int k = 0; k < L; k++) {
        int64_t t = 1000000000LL + 600LL * k;
        impa_forecast_t cyc;
        memset(&cyc, 0, sizeof cyc);
        cyc.issue_time = t, cyc.step_minutes = 10, cyc.n_leads = L, cyc.dbz = fc;
        cyc.method = IMPA_METHOD_IMPANET, cyc.prob = &pf;
        assert_int_equal(impa_verifier_add_cycle(v, &cyc, err, sizeof err), 0);
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
        char jp[64] = "/tmp/impa_vjson_XXXXXX", cmd[1024];
        int fd = mkstemp(jp);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
        close(fd);
        snprintf(cmd, sizeof cmd,
                 "%s -c \"import json; d = json.load(open('%s')); assert len(d['pairs']) == %d; "
                 "p = d['probability']; assert len(p) == 4 and all(len(t['leads']) == %d for t in p); "
                 "assert all(len(l['since_start']['reliability']) == 10 for t in p for l in t['leads'])\"",
                 py, jp, 3 * L, L);
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

/* Feeds observations and extrapolation forecasts every 10 min in [from, to) to
 * every verifier of vs (pseudo-random fields, the same for each). */
static void feed(impa_verifier_t **vs, int n, int64_t from, int64_t to)
{
    for (int64_t t = from; t < to; t += 600) {
        float o[NP], fc[NL * NP];
        uint32_t r = (uint32_t)(t / 600) * 2654435761u;
        for (int i = 0; i < NP; i++) {
            r = r * 1664525u + 1013904223u;
            o[i] = (float)((r >> 16) % 60);
        }
        for (int i = 0; i < NL * NP; i++) {
            r = r * 1664525u + 1013904223u;
            fc[i] = (float)((r >> 16) % 60);
        }
        char err[256];
        for (int k = 0; k < n; k++) {
            assert_true(impa_verifier_observe(vs[k], t, o, NULL, 0, err, sizeof err) >= 0);
            assert_int_equal(impa_verifier_add_forecast(vs[k], IMPA_METHOD_EXTRAPOLATION, t, fc,
                                                        err, sizeof err), 0);
        }
    }
}

static void assert_same_tables(const impa_verifier_t *a, const impa_verifier_t *b)
{
    for (int m = 0; m < IMPA_VERIFIER_N_METHODS; m++)
        for (int w = 0; w < 2; w++) {
            impa_verify_table_t ta, tb;
            assert_int_equal(impa_verifier_table(a, (impa_method_t)m, w, &ta), 0);
            assert_int_equal(impa_verifier_table(b, (impa_method_t)m, w, &tb), 0);
            for (int l = 0; l < NL; l++) {
                assert_int_equal(ta.n_pairs[l], tb.n_pairs[l]);
                for (int i = 0; i < 2; i++) {
                    const impa_contingency_t *c = &tb.table[l][i];
                    assert_cont(&ta.table[l][i], (int)c->hits, (int)c->misses,
                                (int)c->false_alarms, (int)c->correct_negatives);
                }
            }
        }
}

/* The log starts a new file each month and carries the totals: a restart after
 * the rotation, and one after a crash between writing the totals and renaming
 * the log, rebuild exactly the aggregates of a verifier that never stopped. */
static void test_monthly_rotation(void **state)
{
    const float th[] = {30, 45};
    char err[256] = "", p[128], q[128];
    const int64_t oct31_20h = 1604174400, nov1_04h = 1604203200, nov1_06h = 1604210400;
    impa_verifier_t *v = NULL, *ref = NULL;
    assert_int_equal(impa_verifier_create(NY, NX, NL, 10, th, 2, dir, &v, err, sizeof err), 0);
    assert_int_equal(impa_verifier_create(NY, NX, NL, 10, th, 2, NULL, &ref, err, sizeof err), 0);
    impa_verifier_t *both[2] = {v, ref};
    feed(both, 2, oct31_20h, nov1_04h);
    assert_same_tables(v, ref);
    /* 24 observations of October (20:00-23:50): the first scores nothing, the
     * second 2 pairs (lead 1 of extrapolation and persistence), the others 4;
     * a row per pair and threshold. Then 24 of November, 4 pairs each. */
    assert_int_equal(count_lines("verification-2020-10.csv") - 1, 2 * (2 + 4 * 22));
    assert_int_equal(count_lines("verification.csv") - 1, 2 * 4 * 24);
    assert_int_equal(count_lines("verification-totals.csv"), 1 + 3 * NL * 2);
    impa_verifier_destroy(&v);
    assert_int_equal(impa_verifier_create(NY, NX, NL, 10, th, 2, dir, &v, err, sizeof err), 0);
    assert_same_tables(v, ref); /* totals + October's last hours + November */
    impa_verifier_destroy(&v);

    /* the state a crash leaves after the totals were written and before the log
     * was renamed: October's rows still in verification.csv, November's not yet
     * written. They are in the totals already and must not count twice. */
    impa_verifier_t *oct = NULL;
    assert_int_equal(impa_verifier_create(NY, NX, NL, 10, th, 2, NULL, &oct, err, sizeof err), 0);
    feed(&oct, 1, oct31_20h, oct31_20h + 4 * 3600);
    snprintf(p, sizeof p, "%s/verification-2020-10.csv", dir);
    snprintf(q, sizeof q, "%s/verification.csv", dir);
    assert_int_equal(rename(p, q), 0);
    assert_int_equal(impa_verifier_create(NY, NX, NL, 10, th, 2, dir, &v, err, sizeof err), 0);
    assert_same_tables(v, oct);
    /* the next November observation finishes the rotation (the restart lost the
     * forecasts in flight: 04:00 scores nothing, 04:10 2 pairs, then 4) */
    feed(&v, 1, nov1_04h, nov1_06h);
    assert_int_equal(count_lines("verification-2020-10.csv") - 1, 2 * (2 + 4 * 22));
    assert_int_equal(count_lines("verification.csv") - 1, 2 * (2 + 4 * 10));
    impa_verifier_destroy(&v);
    impa_verifier_destroy(&oct);
    impa_verifier_destroy(&ref);
}

/* The probabilities through the online verifier: kept with their cycle,
 * scored at the observation valid at their lead against the running base rate
 * and the 0/1 forecast; in the JSON summary. A perfect forecast at lead 1, a
 * climatology one (P = the base rate) at lead 2. */
static void test_probabilities(void **state)
{
    (void)state;
    const float th[] = {45};
    impa_verifier_t *v = NULL;
    char err[256] = "";
    static char json[IMPA_VERIFIER_JSON_MAX(NL, 1)];
    assert_int_equal(impa_verifier_create(NY, NX, NL, 10, th, 1, NULL, &v, err, sizeof err), 0);
    const float pthr[] = {45};
    assert_int_equal(impa_verifier_enable_prob(v, pthr, 1, err, sizeof err), 0);
    assert_int_equal(impa_verifier_enable_prob(v, pthr, 1, err, sizeof err), IMPA_ESTATE);
    const int64_t t0 = 1604102400;
    /* observations: 2 of 4 valid pixels >= 45 (NP = 6: one NAN, one 35) */
    const float o1[NP] = {50, 50, 10, 10, NAN, 10};
    const float o2[NP] = {50, 10, 50, 10, 10, 10};
    static float dbz[NL * NP] = {50, 10, 10, 10, 50, 10, /* lead 1: one hit, one miss */
                                 50, 50, 50, 50, 50, 50};
    static float pv[NL * NP] = {1, 1, 0, 0, 0.3f, 0,     /* lead 1: perfect */
                                0, 0, 0, 0, 0, 0};
    for (int i = 0; i < NP; i++)
        pv[NP + i] = 2.0f / 6.0f; /* filled below with the running base rate */
    float radius[NL] = {1, 2};
    impa_prob_field_t pf = {.n_thresholds = 1, .thresholds = {45.0f}, .n_leads = NL,
                            .ny = NY, .nx = NX, .p = pv, .radius_km = radius};
    impa_forecast_t fc;
    memset(&fc, 0, sizeof fc);
    fc.issue_time = t0, fc.step_minutes = 10, fc.n_leads = NL, fc.dbz = dbz;
    fc.method = IMPA_METHOD_EXTRAPOLATION, fc.prob = &pf;
    /* running base rate at t0+20: o1 2 of 5, o2 2 of 6 -> 4/11; 36 % as a percent */
    for (int i = 0; i < NP; i++)
        pv[NP + i] = 0.36f;
    assert_int_equal(impa_verifier_add_cycle(v, &fc, err, sizeof err), 0);
    assert_true(impa_verifier_observe(v, t0 + 600, o1, json, sizeof json, err, sizeof err) > 0);
    impa_prob_scores_t s;
    double c;
    assert_int_equal(impa_verifier_prob_scores(v, 0, 0, 1, &s, &c), 0);
    assert_int_equal(s.n, 5);
    assert_true(s.bs == 0.0 && fabs(s.bss_clim - 1) < 1e-12 && fabs(s.bss_det - 1) < 1e-12);
    assert_true(fabs(s.bs_det - 1.0 / 5.0) < 1e-12); /* the miss at pixel 1 */
    assert_true(fabs(c - 0.4) < 1e-12);
    assert_non_null(strstr(json, "\"probability\":[{\"threshold\":45,\"base_rate\":0.4000"));
    assert_non_null(strstr(json, "\"lead_min\":10,\"now\":{\"n\":5,\"bs\":0.0000,"
                                 "\"bss_clim\":1.0000,\"bss_det\":1.0000,\"roc_area\":1.0000}"));
    assert_true(impa_verifier_observe(v, t0 + 1200, o2, json, sizeof json, err, sizeof err) > 0);
    assert_int_equal(impa_verifier_prob_scores(v, 0, 1, 1, &s, &c), 0);
    assert_int_equal(s.n, 6);
    assert_true(fabs(c - 4.0 / 11.0) < 1e-12);
    /* P 0.36 against c = 4/11 = 0.3636: BSS within 1e-3 of 0 */
    assert_true(fabs(s.bss_clim) < 1e-3);
    assert_true(fabs(s.roc_area - 0.5) < 1e-12);
    /* the 0/1 forecast (all 50) has BS 4/6 */
    assert_true(fabs(s.bs_det - 4.0 / 6.0) < 1e-12);
    assert_int_equal(impa_verifier_prob_scores(v, 0, 0, 0, &s, NULL), 0);
    assert_int_equal(s.n, 5); /* since start: lead 1 scored once */
    assert_int_equal(impa_verifier_prob_scores(v, 1, 0, 0, &s, NULL), IMPA_EINVAL);
    assert_null(strstr(json, "truncated"));
    impa_verifier_destroy(&v);
}

/* The since-start probability scores and the base rate survive a restart
 * (prob-verify.state in the state directory); another threshold list starts
 * them again. */
static void test_probabilities_restart(void **state)
{
    (void)state;
    const float th[] = {45}, pthr[] = {45}, other[] = {35};
    char err[256] = "";
    const int64_t t0 = 1604102400;
    const float o1[NP] = {50, 50, 10, 10, NAN, 10}, o2[NP] = {50, 10, 50, 10, 10, 10};
    static float dbz[NL * NP] = {50, 10, 10, 10, 50, 10, 50, 50, 50, 50, 50, 50};
    static float pv[NL * NP] = {1, 1, 0, 0, 0.3f, 0, 0.36f, 0.36f, 0.36f, 0.36f, 0.36f, 0.36f};
    float radius[NL] = {1, 2};
    impa_prob_field_t pf = {.n_thresholds = 1, .thresholds = {45.0f}, .n_leads = NL,
                            .ny = NY, .nx = NX, .p = pv, .radius_km = radius};
    impa_forecast_t fc;
    memset(&fc, 0, sizeof fc);
    fc.issue_time = t0, fc.step_minutes = 10, fc.n_leads = NL, fc.dbz = dbz;
    fc.method = IMPA_METHOD_EXTRAPOLATION, fc.prob = &pf;
    impa_verifier_t *v = NULL;
    assert_int_equal(impa_verifier_create(NY, NX, NL, 10, th, 1, dir, &v, err, sizeof err), 0);
    assert_int_equal(impa_verifier_enable_prob(v, pthr, 1, err, sizeof err), 0);
    assert_int_equal(impa_verifier_prob_restored(v), 0); /* nothing to read yet */
    assert_int_equal(impa_verifier_add_cycle(v, &fc, err, sizeof err), 0);
    assert_true(impa_verifier_observe(v, t0 + 600, o1, NULL, 0, err, sizeof err) > 0);
    assert_true(impa_verifier_observe(v, t0 + 1200, o2, NULL, 0, err, sizeof err) > 0);
    impa_prob_scores_t before[NL], after;
    double c0, c1;
    for (int k = 0; k < NL; k++)
        assert_int_equal(impa_verifier_prob_scores(v, 0, k, 0, &before[k], &c0), 0);
    assert_int_equal(before[0].n, 5);
    assert_int_equal(before[1].n, 6);
    impa_verifier_destroy(&v); /* the restart */

    assert_int_equal(impa_verifier_create(NY, NX, NL, 10, th, 1, dir, &v, err, sizeof err), 0);
    assert_int_equal(impa_verifier_enable_prob(v, pthr, 1, err, sizeof err), 0);
    assert_int_equal(impa_verifier_prob_restored(v), 1);
    for (int k = 0; k < NL; k++) {
        assert_int_equal(impa_verifier_prob_scores(v, 0, k, 0, &after, &c1), 0);
        assert_int_equal(after.n, before[k].n);
        assert_int_equal(after.n_events, before[k].n_events);
        assert_true(after.bs == before[k].bs && after.bs_det == before[k].bs_det);
        assert_true(after.roc_area == before[k].roc_area || (isnan(after.roc_area) &&
                                                              isnan(before[k].roc_area)));
    }
    assert_true(c1 == c0);
    impa_verifier_destroy(&v);

    /* other thresholds: another configuration's scores are not taken */
    assert_int_equal(impa_verifier_create(NY, NX, NL, 10, th, 1, dir, &v, err, sizeof err), 0);
    assert_int_equal(impa_verifier_enable_prob(v, other, 1, err, sizeof err), 0);
    assert_int_equal(impa_verifier_prob_restored(v), 0);
    assert_int_equal(impa_verifier_prob_scores(v, 0, 0, 0, &after, NULL), 0);
    assert_int_equal(after.n, 0);
    impa_verifier_destroy(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_forecast_then_observation, setup, teardown),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_probabilities),
        cmocka_unit_test_setup_teardown(test_probabilities_restart, setup, teardown),
        cmocka_unit_test(test_json_worst_case),
        cmocka_unit_test(test_levels_match_float_scores),
        cmocka_unit_test_setup_teardown(test_monthly_rotation, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
