/* Window logic: step grid and jitter, duplicates, late and too-old scans, gaps,
 * sub-step feeds, ownership of the frames. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/window.h"
#include "impa/error.h"

#define NY 3
#define NX 2
#define T0 1604102400 /* 2020-10-31T00:00:00Z, a multiple of 600 */

static float frame[NY * NX];

static int add(impa_window_t *w, int64_t t, float value, int64_t *slot)
{
    for (int i = 0; i < NY * NX; i++)
        frame[i] = value;
    return impa_window_add(w, t, frame, "f.nc", slot);
}

static void test_create_checks(void **state)
{
    impa_window_t *w = (impa_window_t *)1;
    char err[256];
    assert_int_equal(impa_window_create(4, NY, NX, 600, 300, &w, err, sizeof err), IMPA_EINVAL);
    assert_null(w);
    assert_string_equal(err, "window: jitter_s 300 must be below half the model step (600 s)");
    assert_int_equal(impa_window_create(0, NY, NX, 600, 60, &w, err, sizeof err), IMPA_EINVAL);
    impa_window_destroy(&w); /* NULL is fine */
    (void)state;
}

static void test_fill_in_order(void **state)
{
    impa_window_t *w;
    assert_int_equal(impa_window_create(4, NY, NX, 600, 60, &w, NULL, 0), 0);
    assert_int_equal(impa_window_fill(w), 0);
    assert_true(impa_window_head(w) == INT64_MIN);
    for (int k = 0; k < 4; k++) {
        assert_int_equal(add(w, T0 + k * 600, (float)k, NULL), IMPA_WINDOW_NEW_STEP);
        assert_int_equal(impa_window_fill(w), k + 1);
        assert_int_equal(impa_window_complete(w), k == 3);
    }
    const float *dbz[4];
    int64_t times[4];
    const char *paths[4];
    impa_window_frames(w, dbz, times, paths);
    for (int k = 0; k < 4; k++) {
        assert_non_null(dbz[k]);
        assert_true(dbz[k][NY * NX - 1] == (float)k);
        assert_true(times[k] == T0 + k * 600);
        assert_string_equal(paths[k], "f.nc");
    }
    /* A fifth step pushes the oldest out. */
    assert_int_equal(add(w, T0 + 4 * 600, 4.0f, NULL), IMPA_WINDOW_NEW_STEP);
    impa_window_frames(w, dbz, times, NULL);
    assert_true(times[0] == T0 + 600 && dbz[0][0] == 1.0f && dbz[3][0] == 4.0f);
    assert_int_equal(impa_window_fill(w), 4);
    impa_window_destroy(&w);
    assert_null(w);
    (void)state;
}

static void test_frames_are_copies(void **state)
{
    impa_window_t *w;
    assert_int_equal(impa_window_create(2, NY, NX, 600, 60, &w, NULL, 0), 0);
    add(w, T0, 7.0f, NULL);
    frame[0] = -1.0f; /* the caller reuses its buffer */
    const float *dbz[2];
    impa_window_frames(w, dbz, NULL, NULL);
    assert_null(dbz[0]);
    assert_true(dbz[1][0] == 7.0f);
    impa_window_destroy(&w);
    (void)state;
}

static void test_duplicates(void **state)
{
    impa_window_t *w;
    int64_t slot;
    assert_int_equal(impa_window_create(4, NY, NX, 600, 60, &w, NULL, 0), 0);
    assert_int_equal(add(w, T0, 1.0f, NULL), IMPA_WINDOW_NEW_STEP);
    assert_int_equal(add(w, T0 + 600, 2.0f, NULL), IMPA_WINDOW_NEW_STEP);
    assert_int_equal(add(w, T0 + 600, 9.0f, &slot), IMPA_WINDOW_DUPLICATE);
    assert_true(slot == T0 + 600);
    /* within jitter of the same step: still a duplicate */
    assert_int_equal(add(w, T0 + 600 + 30, 9.0f, NULL), IMPA_WINDOW_DUPLICATE);
    assert_int_equal(add(w, T0, 9.0f, NULL), IMPA_WINDOW_DUPLICATE);
    const float *dbz[4];
    impa_window_frames(w, dbz, NULL, NULL);
    assert_true(dbz[3][0] == 2.0f && dbz[2][0] == 1.0f); /* first copy kept */
    assert_int_equal(impa_window_fill(w), 2);
    impa_window_destroy(&w);
    (void)state;
}

static void test_gap_then_late(void **state)
{
    impa_window_t *w;
    char gap[256];
    assert_int_equal(impa_window_create(4, NY, NX, 600, 60, &w, NULL, 0), 0);
    impa_window_describe_gap(w, gap, sizeof gap);
    assert_string_equal(gap, "no frames yet");
    add(w, T0, 0.0f, NULL);
    add(w, T0 + 600, 1.0f, NULL);
    add(w, T0 + 1800, 3.0f, NULL); /* 00:20 missing */
    assert_int_equal(add(w, T0 + 2400, 4.0f, NULL), IMPA_WINDOW_NEW_STEP);
    assert_int_equal(impa_window_fill(w), 3);
    assert_int_equal(impa_window_complete(w), 0);
    assert_int_equal(impa_window_recent_run(w), 2);
    impa_window_describe_gap(w, gap, sizeof gap);
    assert_string_equal(gap, "missing 2020-10-31T00:20:00Z");
    const float *dbz[4];
    impa_window_frames(w, dbz, NULL, NULL);
    assert_null(dbz[1]);
    /* the late scan fills the gap */
    assert_int_equal(add(w, T0 + 1200, 2.0f, NULL), IMPA_WINDOW_LATE);
    assert_int_equal(impa_window_complete(w), 1);
    assert_int_equal(impa_window_recent_run(w), 4);
    impa_window_describe_gap(w, gap, sizeof gap);
    assert_string_equal(gap, "");
    impa_window_frames(w, dbz, NULL, NULL);
    for (int k = 0; k < 4; k++)
        assert_true(dbz[k][0] == (float)(k + 1));
    /* older than the window: dropped, window unchanged */
    assert_int_equal(add(w, T0, 0.0f, NULL), IMPA_WINDOW_TOO_OLD);
    assert_int_equal(impa_window_fill(w), 4);
    /* a jump of many steps leaves only the new frame */
    assert_int_equal(add(w, T0 + 100 * 600, 5.0f, NULL), IMPA_WINDOW_NEW_STEP);
    assert_int_equal(impa_window_fill(w), 1);
    assert_int_equal(impa_window_recent_run(w), 1);
    impa_window_describe_gap(w, gap, sizeof gap);
    assert_string_equal(gap, "missing 2020-10-31T16:10:00Z, 2020-10-31T16:20:00Z, "
                             "2020-10-31T16:30:00Z");
    impa_window_destroy(&w);
    (void)state;
}

static void test_sub_step_feed_and_jitter(void **state)
{
    impa_window_t *w;
    int64_t slot;
    assert_int_equal(impa_window_create(4, NY, NX, 600, 60, &w, NULL, 0), 0);
    /* a 5-minute feed for a 10-minute model: only the on-grid half is used */
    int used = 0;
    for (int k = 0; k < 12; k++) {
        int r = add(w, T0 + k * 300, (float)k, &slot);
        if (k % 2)
            assert_int_equal(r, IMPA_WINDOW_OFF_GRID);
        else
            assert_int_equal(r, IMPA_WINDOW_NEW_STEP), used++;
    }
    assert_int_equal(used, 6);
    assert_int_equal(impa_window_complete(w), 1);
    assert_true(impa_window_head(w) == T0 + 3000);
    /* a 2-minute feed: 00:58 and 01:02 are off grid, 01:00 on it */
    assert_int_equal(add(w, T0 + 3480, 0, NULL), IMPA_WINDOW_OFF_GRID);
    assert_int_equal(add(w, T0 + 3600, 0, NULL), IMPA_WINDOW_NEW_STEP);
    assert_int_equal(add(w, T0 + 3720, 0, NULL), IMPA_WINDOW_OFF_GRID);
    /* jitter: 45 s late or early snaps to the step */
    assert_int_equal(add(w, T0 + 4200 + 45, 0, &slot), IMPA_WINDOW_NEW_STEP);
    assert_true(slot == T0 + 4200);
    assert_int_equal(add(w, T0 + 4800 - 45, 0, &slot), IMPA_WINDOW_NEW_STEP);
    assert_true(slot == T0 + 4800);
    assert_int_equal(add(w, T0 + 5400 + 61, 0, &slot), IMPA_WINDOW_OFF_GRID);
    /* times before the epoch snap the same way (floor division) */
    impa_window_clear(w);
    assert_int_equal(add(w, -600 - 20, 0, &slot), IMPA_WINDOW_NEW_STEP);
    assert_true(slot == -600);
    impa_window_destroy(&w);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_checks),
        cmocka_unit_test(test_fill_in_order),
        cmocka_unit_test(test_frames_are_copies),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_gap_then_late),
        cmocka_unit_test(test_sub_step_feed_and_jitter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
