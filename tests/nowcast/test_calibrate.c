/* Probability matching (impa/calibrate.h) on hand-made frames: matching a frame
 * onto itself changes nothing, a monotone distortion is undone, ranks are kept,
 * the >= 45 dBZ area becomes the reference's, missing data is handled. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "impa/calibrate.h"

#define N 4096

/* a rain field: 70 % dry (0 dBZ), the rest spread over 5..60 dBZ */
static void rain_field(float *f, unsigned seed)
{
    uint32_t s = seed * 2654435761u + 1u;
    for (int i = 0; i < N; i++) {
        s = s * 1664525u + 1013904223u;
        float u = (float)(s >> 8) / 16777216.0f;
        f[i] = u < 0.7f ? 0.0f : 5.0f + 55.0f * (u - 0.7f) / 0.3f;
    }
}

static int count_ge(const float *f, float t)
{
    int c = 0;
    for (int i = 0; i < N; i++)
        c += isfinite(f[i]) && f[i] >= t;
    return c;
}

static impa_calib_t *make(void)
{
    char err[256];
    impa_calib_t *c = NULL;
    assert_int_equal(impa_calib_create(0.0f, 70.0f, 0.01f, &c, err, sizeof err), 0);
    assert_non_null(c);
    return c;
}

static void test_identity(void **state)
{
    (void)state;
    static float ref[N], f[N];
    rain_field(ref, 1);
    memcpy(f, ref, sizeof f);
    impa_calib_t *c = make();
    char err[256];
    size_t matched = 0;
    assert_int_equal(impa_calib_match(c, f, ref, N, &matched, err, sizeof err), 0);
    assert_int_equal(matched, N);
    for (int i = 0; i < N; i++)
        assert_float_equal(f[i], ref[i], 1e-3);
    impa_calib_destroy(&c);
    assert_null(c);
}

/* The network's bias: the same ranks, intensities inflated. Matching restores
 * the reference values (to within the gaps between the 4096 values) and its
 * 45 dBZ area exactly. */
static void test_undoes_monotone_distortion(void **state)
{
    (void)state;
    static float ref[N], f[N];
    rain_field(ref, 2);
    for (int i = 0; i < N; i++)
        f[i] = 1.1f * ref[i] + 3.0f; /* below the 70 dBZ clamp: no ties made */
    assert_true(count_ge(f, 45.0f) > count_ge(ref, 45.0f) * 4 / 3);
    impa_calib_t *c = make();
    char err[256];
    assert_int_equal(impa_calib_match(c, f, ref, N, NULL, err, sizeof err), 0);
    for (int i = 0; i < N; i++)
        assert_float_equal(f[i], ref[i], 0.1); /* 4096 values: bins mostly empty */
    assert_int_equal(count_ge(f, 45.0f), count_ge(ref, 45.0f));
    impa_calib_destroy(&c);
}

/* Different fields: order kept (a monotone map), the distribution becomes the
 * reference's (areas above every threshold agree to within the pixels of one
 * bin), values stay in [lo, hi]. */
static void test_keeps_ranks_takes_distribution(void **state)
{
    (void)state;
    static float ref[N], f[N], orig[N];
    rain_field(ref, 3);
    for (int i = 0; i < N; i++)
        f[i] = 70.0f * (float)((i * 7919) % N) / N; /* uniform, no dry area */
    memcpy(orig, f, sizeof f);
    impa_calib_t *c = make();
    char err[256];
    assert_int_equal(impa_calib_match(c, f, ref, N, NULL, err, sizeof err), 0);
    for (int i = 0; i < N; i++) {
        assert_true(f[i] >= 0.0f && f[i] <= 70.0f);
        for (int j = i + 1; j < i + 50 && j < N; j++) {
            if (orig[i] < orig[j])
                assert_true(f[i] <= f[j]);
        }
    }
    const float thr[] = {5.0f, 20.0f, 35.0f, 45.0f, 55.0f};
    for (size_t t = 0; t < sizeof thr / sizeof thr[0]; t++)
        assert_true(abs(count_ge(f, thr[t]) - count_ge(ref, thr[t])) <= 2);
    impa_calib_destroy(&c);
}

/* NAN in the forecast stays NAN; pixels missing only in the reference do not
 * shape the distributions but are mapped with the others. */
static void test_missing_data(void **state)
{
    (void)state;
    static float ref[N], f[N];
    rain_field(ref, 4);
    for (int i = 0; i < N; i++)
        f[i] = ref[i] + 10.0f;
    for (int i = 0; i < 64; i++) {
        f[i] = NAN;
        ref[100 + i] = NAN; /* f[100 + i] is finite: outflow of the extrapolation */
    }
    f[200] = 35.0f;
    ref[200] = NAN;
    impa_calib_t *c = make();
    char err[256];
    size_t matched = 0;
    assert_int_equal(impa_calib_match(c, f, ref, N, &matched, err, sizeof err), 0);
    assert_int_equal(matched, N - 64 - 64 - 1);
    for (int i = 0; i < 64; i++)
        assert_true(isnan(f[i]));
    for (int i = 100; i < 164; i++)
        assert_true(isfinite(f[i]));
    assert_float_equal(f[200], 25.0f, 0.15); /* shifted back like its neighbours */
    for (int i = 300; i < N; i++) {
        if (isfinite(ref[i]))
            assert_float_equal(f[i], ref[i], 0.15);
    }
    impa_calib_destroy(&c);
}

static void test_nothing_to_match(void **state)
{
    (void)state;
    float f[4] = {10, 20, NAN, 40}, ref[4] = {NAN, NAN, 5, NAN};
    impa_calib_t *c = make();
    char err[256];
    size_t matched = 7;
    assert_int_equal(impa_calib_match(c, f, ref, 4, &matched, err, sizeof err), 0);
    assert_int_equal(matched, 0);
    assert_float_equal(f[0], 10, 0);
    assert_float_equal(f[3], 40, 0);
    assert_int_equal(impa_calib_match(c, NULL, NULL, 0, NULL, err, sizeof err), 0);
    impa_calib_destroy(&c);
}

static void test_errors(void **state)
{
    (void)state;
    char err[256];
    impa_calib_t *c = NULL;
    assert_int_equal(impa_calib_create(10, 10, 0.1f, &c, err, sizeof err), IMPA_EINVAL);
    assert_non_null(strstr(err, "lo < hi"));
    assert_null(c);
    assert_int_equal(impa_calib_create(0, 70, 0, &c, err, sizeof err), IMPA_EINVAL);
    assert_int_equal(impa_calib_create(0, 70, NAN, &c, err, sizeof err), IMPA_EINVAL);
    assert_int_equal(impa_calib_create(0, 1e6f, 1e-4f, &c, err, sizeof err), IMPA_EINVAL);
    assert_non_null(strstr(err, "bins"));
    assert_int_equal(impa_calib_create(0, 70, 1, NULL, err, sizeof err), IMPA_EINVAL);
    float f[2] = {1, 2};
    assert_int_equal(impa_calib_match(NULL, f, f, 2, NULL, err, sizeof err), IMPA_EINVAL);
    c = make();
    assert_int_equal(impa_calib_match(c, f, NULL, 2, NULL, err, sizeof err), IMPA_EINVAL);
    impa_calib_destroy(&c);
    impa_calib_destroy(&c); /* NULL is fine */
    impa_calib_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_undoes_monotone_distortion),
        cmocka_unit_test(test_keeps_ranks_takes_distribution),
        cmocka_unit_test(test_missing_data),
        cmocka_unit_test(test_nothing_to_match),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
