/* Contingency counts and scores against hand-computed values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "impa/verify.h"

static void test_contingency_hand_table(void **state)
{
    /* threshold 30, events are >= 30:
     * fc : 35 30 10 40 NaN 20 50 29.9 31  5
     * obs: 40 29 35 30 50  10 NaN 30  45  -32
     *       H  F  M  H  x  CN  x   M   H  CN  */
    const float fc[] = {35, 30, 10, 40, NAN, 20, 50, 29.9f, 31, 5};
    const float obs[] = {40, 29, 35, 30, 50, 10, NAN, 30, 45, -32};
    impa_contingency_t c = {0, 0, 0, 0};
    impa_contingency_add(&c, fc, obs, 10, 30.f);
    assert_int_equal(c.hits, 3);
    assert_int_equal(c.false_alarms, 1);
    assert_int_equal(c.misses, 2);
    assert_int_equal(c.correct_negatives, 2);
    /* adding again accumulates */
    impa_contingency_add(&c, fc, obs, 10, 30.f);
    assert_int_equal(c.hits, 6);
    assert_int_equal(c.correct_negatives, 4);
}

static void test_scores_known_table(void **state)
{
    impa_contingency_t c = {.hits = 50, .misses = 30, .false_alarms = 20, .correct_negatives = 900};
    impa_scores_t s = impa_contingency_scores(&c);
    assert_float_equal(s.csi, 0.5, 1e-12);
    assert_float_equal(s.pod, 0.625, 1e-12);
    assert_float_equal(s.far, 20.0 / 70.0, 1e-12);
    /* HSS = 2(ad - bc) / ((a+c)(c+d) + (a+b)(b+d)) */
    assert_float_equal(s.hss, 2.0 * (50 * 900 - 20 * 30) / (80.0 * 930 + 70.0 * 920), 1e-12);
    /* perfect forecast: HSS 1; no events at all: everything undefined */
    impa_contingency_t p = {.hits = 10, .correct_negatives = 90};
    assert_float_equal(impa_contingency_scores(&p).hss, 1.0, 1e-12);
    impa_contingency_t z = {.correct_negatives = 100};
    impa_scores_t sz = impa_contingency_scores(&z);
    assert_true(isnan(sz.csi) && isnan(sz.pod) && isnan(sz.far) && isnan(sz.hss));
    /* events observed, none forecast: POD 0, FAR undefined */
    impa_contingency_t m = {.misses = 5, .correct_negatives = 95};
    impa_scores_t sm = impa_contingency_scores(&m);
    assert_float_equal(sm.pod, 0.0, 0);
    assert_true(isnan(sm.far));
}

static void test_table_and_print(void **state)
{
    const float th[] = {20, 35};
    impa_verify_table_t t;
    assert_int_equal(impa_verify_table_init(&t, 3, 10, th, 2), 0);
    assert_int_equal(impa_verify_table_init(&t, 0, 10, th, 2), IMPA_EINVAL);
    assert_int_equal(impa_verify_table_init(&t, 3, 10, th, IMPA_VERIFY_MAX_THRESH + 1), IMPA_EINVAL);
    assert_int_equal(impa_verify_table_init(&t, 3, 10, th, 2), 0);
    const float fc[] = {25, 40, 10, 36};
    const float obs[] = {22, 30, 21, 40};
    impa_verify_table_add(&t, 1, fc, obs, 4);
    /* >= 20: H H M H ; >= 35: CN F CN H */
    assert_int_equal(t.table[1][0].hits, 3);
    assert_int_equal(t.table[1][0].misses, 1);
    assert_int_equal(t.table[1][1].hits, 1);
    assert_int_equal(t.table[1][1].false_alarms, 1);
    assert_int_equal(t.table[1][1].correct_negatives, 2);
    assert_int_equal(t.n_pairs[1], 1);
    assert_int_equal(t.n_pairs[0], 0);
    /* leads without pairs are NAN and ignored by the mean */
    assert_float_equal(impa_verify_table_mean(&t, 1, 0), 0.5, 1e-12);
    assert_float_equal(impa_verify_table_pooled(&t, 0).pod, 0.75, 1e-12);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    impa_verify_table_print(&t, "unit", f);
    fclose(f);
    assert_non_null(strstr(buf, "# unit"));
    assert_non_null(strstr(buf, "   20 "));  /* lead 2 at 10 min */
    assert_non_null(strstr(buf, "0.500"));   /* CSI at 35 dBZ */
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contingency_hand_table),
        cmocka_unit_test(test_scores_known_table),
        cmocka_unit_test(test_table_and_print),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
