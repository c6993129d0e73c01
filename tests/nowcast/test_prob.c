/* Exceedance probabilities (impa/prob.h) against a scalar reference: uniform
 * fields give the end knots, a disk gives the window fractions a brute-force
 * count gives, radii convert from km, missing data is no echo for the
 * neighbours and NAN itself, the table file is read and checked. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "impa/prob.h"

#define NY 40
#define NX 52

static impa_prob_table_t table;

/* A table with 11 knots for thresholds 35 and 45 at leads 10..60 min: identity
 * calibration (P = f) for 45 dBZ, P = 0.1 + 0.8 f for 35 dBZ, radius 2 km per
 * 10 min of lead. */
static void make_table(impa_prob_table_t *t)
{
    memset(t, 0, sizeof *t);
    t->n_knots = 11;
    snprintf(t->name, sizeof t->name, "test");
    for (int ti = 0; ti < 2; ti++)
        for (int k = 0; k < 6; k++) {
            impa_prob_row_t *r = &t->rows[t->n_rows++];
            r->threshold_dbz = ti ? 45.0f : 35.0f;
            r->lead_min = 10 * (k + 1);
            r->radius_km = 2.0f * (float)(k + 1);
            for (int j = 0; j < 11; j++)
                r->p[j] = ti ? (float)j / 10.0f : 0.1f + 0.08f * (float)j;
        }
}

static impa_prob_t *make(int n_leads, double pixel_km)
{
    static const float thr[2] = {35.0f, 45.0f};
    make_table(&table);
    impa_prob_t *p = NULL;
    char err[256];
    int rc = impa_prob_create(&table, thr, 2, n_leads, 10, NY, NX, pixel_km, &p, err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    return p;
}

static const float *plane(const impa_prob_field_t *f, int ti, int k)
{
    return f->p + ((size_t)ti * f->n_leads + k) * NY * NX;
}

static void test_uniform(void **state)
{
    (void)state;
    static float dbz[3][NY][NX];
    float *d = &dbz[0][0][0];
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < NY * NX; i++)
            d[k * NY * NX + i] = k == 0 ? 50.0f : k == 1 ? 40.0f : 10.0f;
    impa_prob_t *p = make(3, 1.0);
    const impa_prob_field_t *f = NULL;
    char err[256];
    assert_int_equal(impa_prob_compute(p, &dbz[0][0][0], NULL, 0, &f, err, sizeof err), 0);
    assert_int_equal(f->n_thresholds, 2);
    assert_int_equal(f->n_leads, 3);
    for (int i = 0; i < NY * NX; i++) {
        /* lead 0, 50 dBZ: both thresholds exceeded everywhere, f = 1 */
        assert_float_equal(plane(f, 0, 0)[i], 0.9f, 1e-6);
        assert_float_equal(plane(f, 1, 0)[i], 1.0f, 1e-6);
        /* lead 1, 40 dBZ: only 35 */
        assert_float_equal(plane(f, 0, 1)[i], 0.9f, 1e-6);
        assert_float_equal(plane(f, 1, 1)[i], 0.0f, 1e-6);
        /* lead 2, dry: the f = 0 knots */
        assert_float_equal(plane(f, 0, 2)[i], 0.1f, 1e-6);
        assert_float_equal(plane(f, 1, 2)[i], 0.0f, 1e-6);
    }
    assert_float_equal(f->radius_km[0 * 3 + 2], 6.0f, 0);
    assert_string_equal(f->calibration, "test");
    assert_true(impa_prob_memory(p) >= (size_t)2 * 3 * NY * NX * sizeof(float));
    impa_prob_destroy(&p);
    assert_null(p);
    impa_prob_destroy(&p);
}

/* brute-force fraction of the clipped window of half-width r around (y, x) */
static double ref_fraction(const float *d, int y, int x, int r, float thr)
{
    int n = 0, hit = 0;
    for (int yy = y - r; yy <= y + r; yy++)
        for (int xx = x - r; xx <= x + r; xx++) {
            if (yy < 0 || yy >= NY || xx < 0 || xx >= NX)
                continue;
            n++;
            hit += d[yy * NX + xx] >= thr;
        }
    return (double)hit / n;
}

static void test_disk(void **state)
{
    (void)state;
    /* a 48 dBZ disk of radius 7 px at (18, 20) in a 38 dBZ ring of radius 11,
     * off-centre so the windows clip at the top edge at longer leads */
    static float dbz[4][NY][NX];
    for (int k = 0; k < 4; k++)
        for (int y = 0; y < NY; y++)
            for (int x = 0; x < NX; x++) {
                double r2 = (y - 18.0 + 2 * k) * (y - 18.0 + 2 * k) + (x - 20.0 - 3 * k) * (x - 20.0 - 3 * k);
                dbz[k][y][x] = r2 <= 49 ? 48.0f : r2 <= 121 ? 38.0f : 5.0f;
            }
    impa_prob_t *p = make(4, 0.5); /* radius 2 km per 10 min = 4 px per lead */
    const impa_prob_field_t *f = NULL;
    assert_int_equal(impa_prob_compute(p, &dbz[0][0][0], NULL, 0, &f, NULL, 0), 0);
    for (int k = 0; k < 4; k++) {
        int r = 4 * (k + 1);
        for (int y = 0; y < NY; y++)
            for (int x = 0; x < NX; x++) {
                double f45 = ref_fraction(&dbz[k][0][0], y, x, r, 45.0f);
                double f35 = ref_fraction(&dbz[k][0][0], y, x, r, 35.0f);
                assert_float_equal(plane(f, 1, k)[y * NX + x], f45, 1e-5);
                assert_float_equal(plane(f, 0, k)[y * NX + x], 0.1 + 0.8 * f35, 1e-5);
            }
    }
    /* the disk's centre at lead 0: window 9 x 9 wholly inside the r = 7 disk */
    assert_float_equal(plane(f, 1, 0)[18 * NX + 20], 1.0f, 1e-6);
    /* far corner: no echo within reach */
    assert_float_equal(plane(f, 1, 0)[(NY - 1) * NX + NX - 1], 0.0f, 0);
    /* max over a cell's pixels */
    int32_t pix[3] = {(NY - 1) * NX + NX - 1, 18 * NX + 20, 0};
    assert_float_equal(impa_prob_max_over(f, 1, 0, pix, 3), 1.0f, 1e-6);
    assert_float_equal(impa_prob_max_over(f, 1, 0, pix, 1), 0.0f, 0);
    assert_int_equal(impa_prob_threshold_index(f, 45.0f), 1);
    assert_int_equal(impa_prob_threshold_index(f, 20.0f), -1);
    impa_prob_destroy(&p);
}

static void test_missing(void **state)
{
    (void)state;
    static float dbz[NY][NX];
    float *d = &dbz[0][0];
    for (int i = 0; i < NY * NX; i++)
        d[i] = 50.0f;
    for (int x = 0; x < NX; x++)
        dbz[10][x] = NAN;
    impa_prob_t *p = make(1, 1.0); /* r = 2 px */
    const impa_prob_field_t *f = NULL;
    assert_int_equal(impa_prob_compute(p, &dbz[0][0], NULL, 0, &f, NULL, 0), 0);
    const float *q = plane(f, 1, 0);
    assert_true(isnan(q[10 * NX + 5]));
    /* row 9: one of the 5 window rows is missing = no echo */
    assert_float_equal(q[9 * NX + 5], 0.8f, 1e-6);
    assert_float_equal(q[12 * NX + 5], 0.8f, 1e-6);
    assert_float_equal(q[13 * NX + 5], 1.0f, 1e-6);
    int32_t pix[1] = {10 * NX + 5};
    assert_float_equal(impa_prob_max_over(f, 1, 0, pix, 1), 0.0f, 0);
    impa_prob_destroy(&p);
}

static void test_calibrated(void **state)
{
    (void)state;
    impa_prob_row_t r = {45.0f, 10, 0, 0.0f, {0.0f, 0.2f, 0.3f, 0.9f}};
    assert_float_equal(impa_prob_calibrated(&r, 4, 0.0f), 0.0f, 0);
    assert_float_equal(impa_prob_calibrated(&r, 4, 1.0f / 6.0f), 0.1f, 1e-6);
    assert_float_equal(impa_prob_calibrated(&r, 4, 0.5f), 0.25f, 1e-6);
    assert_float_equal(impa_prob_calibrated(&r, 4, 5.0f / 6.0f), 0.6f, 1e-6);
    assert_float_equal(impa_prob_calibrated(&r, 4, 1.0f), 0.9f, 1e-6);
    assert_float_equal(impa_prob_calibrated(&r, 4, 2.0f), 0.9f, 0);
}

/* Trend classes: the >= 45 area of the newest input against the oldest picks
 * the rows; NULL frames are skipped. */
static void test_trend(void **state)
{
    (void)state;
    static float big[NY * NX], small[NY * NX], dbz[NY * NX];
    for (int i = 0; i < NY * NX; i++) {
        big[i] = i < NY * NX / 10 ? 50.0f : 0.0f;   /* 10 % of the grid */
        small[i] = i < NY * NX / 20 ? 50.0f : 0.0f; /* 5 % */
        dbz[i] = 0.0f;
    }
    const float *grow[3] = {small, NULL, big}, *decay[3] = {big, small, NULL};
    const float *same[2] = {big, big}, *one[2] = {NULL, big};
    size_t n = NY * NX;
    assert_int_equal(impa_prob_trend(grow, 3, n, 45.0f, 1.3), IMPA_PROB_GROWING);
    assert_int_equal(impa_prob_trend(decay, 3, n, 45.0f, 1.3), IMPA_PROB_DECAYING);
    assert_int_equal(impa_prob_trend(same, 2, n, 45.0f, 1.3), IMPA_PROB_STEADY);
    assert_int_equal(impa_prob_trend(one, 2, n, 45.0f, 1.3), IMPA_PROB_STEADY);
    assert_int_equal(impa_prob_trend(grow, 3, n, 45.0f, 2.5), IMPA_PROB_STEADY);
    assert_int_equal(impa_prob_trend(grow, 3, n, 45.0f, 0.0), IMPA_PROB_STEADY);
    /* no echo at all: eps / eps = 1 */
    assert_int_equal(impa_prob_trend(grow, 3, n, 60.0f, 1.3), IMPA_PROB_STEADY);

    /* a table whose classes differ in their f = 0 knot: the trend picks it */
    static impa_prob_table_t t;
    memset(&t, 0, sizeof t);
    t.n_knots = 2;
    t.trend_ratio = 1.3;
    for (int c = -1; c <= 1; c++)
        t.rows[t.n_rows++] = (impa_prob_row_t){45.0f, 10, c, 1.0f, {0.1f * (float)(c + 2), 1.0f}};
    static const float thr[1] = {45.0f};
    impa_prob_t *p = NULL;
    char err[256];
    assert_int_equal(impa_prob_create(&t, thr, 1, 1, 10, NY, NX, 1.0, &p, err, sizeof err), 0);
    const impa_prob_field_t *f = NULL;
    assert_int_equal(impa_prob_compute(p, dbz, decay, 3, &f, err, sizeof err), 0);
    assert_int_equal(f->trend[0], IMPA_PROB_DECAYING);
    assert_float_equal(f->p[7], 0.1f, 1e-6);
    assert_int_equal(impa_prob_compute(p, dbz, grow, 3, &f, err, sizeof err), 0);
    assert_int_equal(f->trend[0], IMPA_PROB_GROWING);
    assert_float_equal(f->p[7], 0.3f, 1e-6);
    assert_int_equal(impa_prob_compute(p, dbz, NULL, 0, &f, err, sizeof err), 0);
    assert_float_equal(f->p[7], 0.2f, 1e-6);
    impa_prob_destroy(&p);
    /* a class missing from the table */
    t.rows[2].trend = 0;
    t.n_rows = 2;
    assert_int_equal(impa_prob_create(&t, thr, 1, 1, 10, NY, NX, 1.0, &p, err, sizeof err),
                     IMPA_ECONFIG);
    assert_non_null(strstr(err, "trend 1"));
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A fresh temporary file (path: a mkstemp template) holding text. */
static void temp_file(char *path, const char *text)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, text);
}

static void test_table_file(void **state)
{
    (void)state;
    char path[] = "/tmp/impa-prob-test-XXXXXX";
    temp_file(path, "# a comment\nimpa-prob-calibration 1\nname unit test\nknots 3\n"
                     "45 10 0 1.5 0 0.5 1   # row\n45 20 0 3 0.01 0.4 0.8\n");
    static impa_prob_table_t t;
    char err[256];
    assert_int_equal(impa_prob_table_load(path, &t, err, sizeof err), 0);
    assert_int_equal(t.n_knots, 3);
    assert_int_equal(t.n_rows, 2);
    assert_string_equal(t.name, "unit test");
    assert_int_equal(t.rows[1].lead_min, 20);
    assert_float_equal(t.rows[1].radius_km, 3.0f, 0);
    assert_float_equal(t.rows[1].p[2], 0.8f, 1e-7);
    assert_string_equal(t.scheme, "impa-extrap-1"); /* no scheme line: fitted on scheme 1 */
    write_file(path, "impa-prob-calibration 1\nscheme impa-extrap-3\nknots 2\n45 10 0 1 0 1\n");
    assert_int_equal(impa_prob_table_load(path, &t, err, sizeof err), 0);
    assert_string_equal(t.scheme, "impa-extrap-3");
    write_file(path, "# a comment\nimpa-prob-calibration 1\nname unit test\nknots 3\n"
                     "45 10 0 1.5 0 0.5 1   # row\n45 20 0 3 0.01 0.4 0.8\n");
    assert_int_equal(impa_prob_table_load(path, &t, err, sizeof err), 0);

    /* a threshold or lead the table lacks is a configuration error */
    static const float thr45[1] = {45.0f}, thr35[1] = {35.0f};
    impa_prob_t *p = NULL;
    assert_int_equal(impa_prob_create(&t, thr45, 1, 2, 10, NY, NX, 1.0, &p, err, sizeof err), 0);
    impa_prob_destroy(&p);
    assert_int_equal(impa_prob_create(&t, thr45, 1, 3, 10, NY, NX, 1.0, &p, err, sizeof err),
                     IMPA_ECONFIG);
    assert_non_null(strstr(err, "lead 30 min"));
    assert_null(p);
    assert_int_equal(impa_prob_create(&t, thr35, 1, 1, 10, NY, NX, 1.0, &p, err, sizeof err),
                     IMPA_ECONFIG);

    static const struct {
        const char *text, *what;
    } bad[] = {
        {"impa-prob-calibration 2\nknots 2\n45 10 0 1 0 1\n", "not a calibration table"},
        {"impa-prob-calibration 1\nknots 3\n45 10 0 1 0 0.5 0.4\n", "below the one before"},
        {"impa-prob-calibration 1\nknots 3\n45 10 0 1 0 0.5\n", "expected threshold"},
        {"impa-prob-calibration 1\nknots 2\n45 10 0 -1 0 1\n", "radius"},
        {"impa-prob-calibration 1\nknots 2\n45 10 2 1 0 1\n", "trend 2"},
        {"impa-prob-calibration 1\nknots 2\n45 10 0 1 0 1\n45 10 0 2 0 1\n", "second row"},
        {"impa-prob-calibration 1\n45 10 0 1 0 1\n", "before the `knots`"},
        {"impa-prob-calibration 1\nknots 2\n45 10 0 1 0 x\n", "not a number"},
        {"impa-prob-calibration 1\nknots 2\ntrend 0.5\n45 10 0 1 0 1\n", "trend must be"},
        {"impa-prob-calibration 1\nknots 2\n", "no rows"},
        {"impa-prob-calibration 1\nscheme pysteps\nknots 2\n45 10 0 1 0 1\n",
         "scheme 'pysteps' is not an extrapolation scheme"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i].text);
        assert_int_equal(impa_prob_table_load(path, &t, err, sizeof err), IMPA_EFORMAT);
        if (!strstr(err, bad[i].what))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].what);
    }
    unlink(path);
    assert_int_equal(impa_prob_table_load(path, &t, err, sizeof err), IMPA_EIO);
}

/* Growth terms: the rate and size from known areas, a table file with `growth`
 * and `logistic` lines, and the knots they move (decay lowers P, growth raises
 * it, a lead without a logistic line keeps its knots). */
static void test_growth(void **state)
{
    (void)state;
    /* the forecast holds both leads of the table below */
    static float old_[NY * NX], new_[NY * NX], dbz[2 * NY * NX];
    for (int i = 0; i < NY * NX; i++) {
        old_[i] = i < 400 ? 50.0f : 0.0f; /* 400 px = 100 km^2 at 0.5 km */
        new_[i] = i < 100 ? 50.0f : 0.0f; /* 25 km^2 */
        dbz[i] = dbz[NY * NX + i] = i < NX * 10 ? 50.0f : 0.0f;
    }
    new_[NX * NY - 1] = NAN;
    const float *decay[4] = {old_, NULL, new_, NULL}, *grow[2] = {new_, old_};
    size_t n = NY * NX;
    double rate, size;
    impa_prob_growth(decay, 4, n, 45.0f, 0.5, 10, 25.0, 4.0, &rate, &size);
    /* ln(50 / 125) over 20 minutes */
    assert_float_equal(rate, log(50.0 / 125.0) * 3.0, 1e-12);
    assert_float_equal(size, log(2.0), 1e-12);
    impa_prob_growth(decay, 4, n, 45.0f, 0.5, 10, 25.0, 1.0, &rate, &size);
    assert_float_equal(rate, -1.0, 0); /* clipped */
    impa_prob_growth(grow, 2, n, 45.0f, 0.5, 10, 25.0, 4.0, &rate, &size);
    assert_float_equal(rate, log(125.0 / 50.0) * 6.0 > 4.0 ? 4.0 : log(125.0 / 50.0) * 6.0,
                       1e-12);
    impa_prob_growth(NULL, 0, n, 45.0f, 0.5, 10, 25.0, 4.0, &rate, &size);
    assert_float_equal(rate, 0.0, 0);
    assert_float_equal(size, 0.0, 0);

    char path[] = "/tmp/impa-prob-growth-XXXXXX";
    temp_file(path, "impa-prob-calibration 1\nknots 2\ntrend 0\ngrowth 25 4\n"
                     "45 10 0 0 0.2 0.6\n45 20 0 0 0.2 0.6\nlogistic 45 10 0.1 1.5 0.5 -0.2 0.25 0.01\n");
    static impa_prob_table_t t;
    char err[256];
    assert_int_equal(impa_prob_table_load(path, &t, err, sizeof err), 0);
    assert_int_equal(t.n_logistic, 1);
    assert_float_equal(t.growth_a0_km2, 25.0, 0);
    assert_float_equal(t.logistic[0].b, 1.5, 0);
    static const float thr[1] = {45.0f};
    impa_prob_t *p = NULL;
    assert_int_equal(impa_prob_create(&t, thr, 1, 2, 10, NY, NX, 0.5, &p, err, sizeof err), 0);
    const impa_prob_field_t *f = NULL;
    assert_int_equal(impa_prob_compute(p, dbz, decay, 4, &f, err, sizeof err), 0);
    impa_prob_growth(decay, 4, n, 45.0f, 0.5, 10, 25.0, 4.0, &rate, &size);
    assert_float_equal(f->growth_per_h[0], (float)rate, 1e-6);
    /* pixel 0 (row 0, inside the echo): f = 1 at radius 0 -> the adjusted top knot */
    double z = 0.1 + 1.5 * log(0.6 / 0.4) + 0.5 * rate - 0.2 * size;
    float want1 = (float)(0.75 / (1.0 + exp(-z)) + 0.25 * 0.01);
    assert_float_equal(f->p[0], want1, 1e-6);
    z = 0.1 + 1.5 * log(0.2 / 0.8) + 0.5 * rate - 0.2 * size;
    assert_float_equal(f->p[NX * 20], (float)(0.75 / (1.0 + exp(-z)) + 0.0025), 1e-6); /* f=0 */
    assert_float_equal(f->p[n], 0.6f, 1e-7); /* lead 20: no logistic line, knots as read */
    float decaying = f->p[0];
    assert_int_equal(impa_prob_compute(p, dbz, grow, 2, &f, err, sizeof err), 0);
    assert_true(f->p[0] > decaying);
    impa_prob_destroy(&p);

    /* shrink-target scene: q is the newest input's area fraction >= 45 dBZ
     * (100 of the NY * NX - 1 pixels with a value), not the line's 0.01 */
    write_file(path, "impa-prob-calibration 1\nknots 2\ntrend 0\ngrowth 25 4\n"
                     "shrink-target scene\n45 10 0 0 0.2 0.6\n"
                     "logistic 45 10 0 1 0 0 0.5 0.01\n");
    assert_int_equal(impa_prob_table_load(path, &t, err, sizeof err), 0);
    assert_int_equal(t.shrink_scene, 1);
    assert_int_equal(impa_prob_create(&t, thr, 1, 1, 10, NY, NX, 0.5, &p, err, sizeof err), 0);
    const float *newest[2] = {old_, new_};
    assert_int_equal(impa_prob_compute(p, dbz, newest, 2, &f, err, sizeof err), 0);
    double q = 100.0 / (NY * NX - 1);
    assert_float_equal(f->p[0], (float)(0.5 * 0.6 + 0.5 * q), 1e-6);
    assert_float_equal(f->p[NX * 20], (float)(0.5 * 0.2 + 0.5 * q), 1e-6);
    assert_int_equal(impa_prob_compute(p, dbz, NULL, 0, &f, err, sizeof err), 0);
    assert_float_equal(f->p[0], (float)(0.5 * 0.6 + 0.5 * 0.01), 1e-6); /* no inputs */
    impa_prob_destroy(&p);

    static const struct {
        const char *text, *what;
    } bad[] = {
        {"impa-prob-calibration 1\nknots 2\n45 10 0 1 0 1\nlogistic 45 10 0 1 0 0 0 0\n",
         "without a `growth` line"},
        {"impa-prob-calibration 1\nknots 2\ngrowth 0 4\n45 10 0 1 0 1\n", "growth needs"},
        {"impa-prob-calibration 1\nknots 2\ngrowth 25 4\n45 10 0 1 0 1\n"
         "logistic 45 10 0 -1 0 0 0 0\n",
         "b in [0, 100]"},
        {"impa-prob-calibration 1\nknots 2\ngrowth 25 4\n45 10 0 1 0 1\nlogistic 45 10 0 1\n",
         "logistic needs"},
        {"impa-prob-calibration 1\nknots 2\ngrowth 25 4\n45 10 0 1 0 1\n"
         "logistic 45 10 0 1 0 0 0 0\nlogistic 45 10 0 1 0 0 0 0\n",
         "second logistic"},
        {"impa-prob-calibration 1\nknots 2\ngrowth 25 4\n45 10 0 1 0 1\n"
         "logistic 45 10 0 1 0 0 1.5 0\n",
         "l and q in [0, 1]"},
        {"impa-prob-calibration 1\nknots 2\nshrink-target town\n45 10 0 1 0 1\n",
         "shrink-target must be"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i].text);
        assert_int_equal(impa_prob_table_load(path, &t, err, sizeof err), IMPA_EFORMAT);
        if (!strstr(err, bad[i].what))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].what);
    }
    unlink(path);
}

/* Intensity margin (`margin` lines): the window counts forecast pixels >=
 * threshold + margin; a lead without a line counts >= threshold (as every
 * table before the line); the lines are checked. */
static void test_margin(void **state)
{
    (void)state;
    static float dbz[2 * NY * NX];
    for (int k = 0; k < 2; k++)
        for (int y = 0; y < NY; y++)
            for (int x = 0; x < NX; x++)
                dbz[(k * NY + y) * NX + x] = y < 10 ? 47.0f : y >= 30 ? 52.0f : 20.0f;
    dbz[5 * NX + 5] = 49.0f;  /* exactly 45 + 4: counts */
    dbz[6 * NX + 5] = 48.99f; /* just below */
    char path[] = "/tmp/impa-prob-margin-XXXXXX";
    temp_file(path, "impa-prob-calibration 1\nknots 2\ntrend 0\n"
                     "45 10 0 0 0.1 0.9\n45 20 0 0 0.1 0.9\nmargin 45 10 4   # dB\n");
    static impa_prob_table_t t;
    char err[256];
    assert_int_equal(impa_prob_table_load(path, &t, err, sizeof err), 0);
    assert_int_equal(t.n_margins, 1);
    assert_float_equal(t.margins[0].db, 4.0f, 0);
    static const float thr[1] = {45.0f};
    impa_prob_t *p = NULL;
    assert_int_equal(impa_prob_create(&t, thr, 1, 2, 10, NY, NX, 1.0, &p, err, sizeof err), 0);
    const impa_prob_field_t *f = NULL;
    assert_int_equal(impa_prob_compute(p, dbz, NULL, 0, &f, err, sizeof err), 0);
    const float *p10 = plane(f, 0, 0), *p20 = plane(f, 0, 1);
    assert_float_equal(p10[0], 0.1f, 1e-7);            /* 47 dBZ: below 45 + 4 */
    assert_float_equal(p10[35 * NX + 7], 0.9f, 1e-7);  /* 52 dBZ */
    assert_float_equal(p10[5 * NX + 5], 0.9f, 1e-7);   /* 49 dBZ */
    assert_float_equal(p10[6 * NX + 5], 0.1f, 1e-7);   /* 48.99 dBZ */
    assert_float_equal(p20[0], 0.9f, 1e-7);            /* no margin at 20 min */
    assert_float_equal(p20[20 * NX], 0.1f, 1e-7);
    impa_prob_destroy(&p);

    static const struct {
        const char *text, *what;
    } bad[] = {
        {"impa-prob-calibration 1\nknots 2\n45 10 0 1 0 1\nmargin 45 10 -1\n",
         "margin: lead 1..1440 min, dB in [0, 30]"},
        {"impa-prob-calibration 1\nknots 2\n45 10 0 1 0 1\nmargin 45 10 31\n", "dB in [0, 30]"},
        {"impa-prob-calibration 1\nknots 2\n45 10 0 1 0 1\nmargin 45 10.5 2\n", "lead 1..1440"},
        {"impa-prob-calibration 1\nknots 2\n45 10 0 1 0 1\nmargin 45 10\n",
         "margin needs threshold, lead and dB (value 3)"},
        {"impa-prob-calibration 1\nknots 2\n45 10 0 1 0 1\nmargin 45 10 2 3\n",
         "margin: more than 3 values"},
        {"impa-prob-calibration 1\nknots 2\n45 10 0 1 0 1\nmargin 45 10 2\nmargin 45 10 3\n",
         "second margin line for 45 dBZ at 10 min"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i].text);
        assert_int_equal(impa_prob_table_load(path, &t, err, sizeof err), IMPA_EFORMAT);
        if (!strstr(err, bad[i].what))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].what);
        if (!strstr(err, i == 5 ? ":5:" : ":4:")) /* the line of the bad margin */
            fail_msg("case %zu: \"%s\" does not name the line", i, err);
    }
    unlink(path);
}

/* The shipped table (models/prob-calibration.txt) loads and covers the
 * daemon's defaults: 35 and 45 dBZ at 10..120 min. */
static void test_shipped_table(void **state)
{
    (void)state;
    const char *src = getenv("IMPA_SOURCE_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/models/prob-calibration.txt", src ? src : ".");
    static impa_prob_table_t t;
    char err[512];
    assert_int_equal(impa_prob_table_load(path, &t, err, sizeof err), 0);
    static const float thr[2] = {35.0f, 45.0f};
    impa_prob_t *p = NULL;
    if (impa_prob_create(&t, thr, 2, 12, 10, 64, 64, 1.0, &p, err, sizeof err))
        fail_msg("%s", err);
    impa_prob_destroy(&p);
}

/* ---- verification of the probabilities ---- */

static impa_prob_scores_t score_case(const float *p, const float *dbz, const float *obs, size_t n,
                                     double c)
{
    uint8_t enc[64];
    assert_true(n <= sizeof enc);
    impa_prob_verify_encode(p, dbz, n, 45.0f, enc);
    impa_prob_verify_t a;
    memset(&a, 0, sizeof a);
    impa_prob_verify_add(&a, enc, obs, n, 45.0f, c);
    return impa_prob_verify_scores(&a);
}

/* Known answers: a perfect forecast (BS 0, skill 1, ROC area 1), a climatology
 * forecast (P = base rate: BSS 0 against it, ROC area 0.5, one reliability bin
 * on the diagonal), a small hand-computed case, missing pairs left out. */
static void test_verify_known(void **state)
{
    (void)state;
    enum { N = 40 };
    float p[N], dbz[N], obs[N];
    for (int i = 0; i < N; i++) {
        obs[i] = i % 4 == 0 ? 50.0f : 20.0f; /* base rate 0.25 */
        p[i] = obs[i] >= 45 ? 1.0f : 0.0f;
        dbz[i] = i % 8 == 0 ? 50.0f : 20.0f; /* the 0/1 forecast misses half the events */
    }
    impa_prob_scores_t s = score_case(p, dbz, obs, N, 0.25);
    assert_int_equal(s.n, N);
    assert_int_equal(s.n_events, 10);
    assert_true(s.bs == 0.0);
    assert_true(fabs(s.bss_clim - 1.0) < 1e-12);
    assert_true(fabs(s.bss_det - 1.0) < 1e-12);
    assert_true(fabs(s.bs_det - 5.0 / N) < 1e-12);
    assert_true(fabs(s.roc_area - 1.0) < 1e-12);
    assert_true(fabs(s.base_rate - 0.25) < 1e-12);
    assert_int_equal(s.rel_n[0], 30);
    assert_int_equal(s.rel_n[9], 10);
    assert_true(s.rel_freq[9] == 1.0 && s.rel_freq[0] == 0.0);

    for (int i = 0; i < N; i++)
        p[i] = 0.25f;
    s = score_case(p, dbz, obs, N, 0.25);
    assert_true(fabs(s.bs - 0.1875) < 1e-12);
    assert_true(fabs(s.bss_clim) < 1e-12);
    assert_true(fabs(s.roc_area - 0.5) < 1e-12);
    assert_int_equal(s.rel_n[2], N);
    assert_true(fabs(s.rel_mean[2] - 0.25) < 1e-12 && fabs(s.rel_freq[2] - 0.25) < 1e-12);
    assert_true(isnan(s.rel_mean[5]));

    /* p .9 .2 .1 .6, o 1 0 1 0, d 1 0 1 1: BS (.01+.04+.81+.36)/4 = .305,
     * BS_det 1/4, BS_clim (c = .5) .25, ROC area (Mann-Whitney) 2/4 */
    const float p4[4] = {0.9f, 0.2f, 0.1f, 0.6f}, o4[4] = {50, 10, 46, 30},
                d4[4] = {47, 10, 45, 60};
    s = score_case(p4, d4, o4, 4, 0.5);
    assert_true(fabs(s.bs - 0.305) < 1e-9);
    assert_true(fabs(s.bss_det - (1 - 0.305 / 0.25)) < 1e-9);
    assert_true(fabs(s.bss_clim - (1 - 0.305 / 0.25)) < 1e-9);
    assert_true(fabs(s.roc_area - 0.5) < 1e-12);

    /* missing: a NAN probability, forecast or observation drops the pair */
    const float pm[4] = {NAN, 0.5f, 0.5f, 0.5f}, dm[4] = {50, NAN, 50, 50},
                om[4] = {50, 50, NAN, 50};
    s = score_case(pm, dm, om, 4, 0.5);
    assert_int_equal(s.n, 1);
    assert_true(fabs(s.bs - 0.25) < 1e-12);
    /* no pair: every score NAN */
    s = score_case(pm, dm, om, 3, 0.5);
    assert_int_equal(s.n, 0);
    assert_true(isnan(s.bs) && isnan(s.bss_clim) && isnan(s.roc_area));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uniform),      cmocka_unit_test(test_disk),
        cmocka_unit_test(test_missing),      cmocka_unit_test(test_calibrated),
        cmocka_unit_test(test_table_file),   cmocka_unit_test(test_trend),
        cmocka_unit_test(test_shipped_table), cmocka_unit_test(test_verify_known),
        cmocka_unit_test(test_growth),       cmocka_unit_test(test_margin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
