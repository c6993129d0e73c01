/* impa_engine_forward and impa_engine_forecast allocate nothing, nor does
 * impa_guided_forecast (extrapolation + network + calibration): this program
 * interposes malloc/calloc/realloc/aligned_alloc/posix_memalign (tests/noalloc.h)
 * and counts calls made while a forward runs, after one
 * warm-up forward (OpenBLAS and libgomp set up their own buffers and threads on
 * first use; that is theirs, not the engine's). Allocations made by OpenBLAS
 * inside a call (its AVX-512 small-matrix kernels, tests/noalloc.h) are
 * printed but not failed on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine-impl.h"
#include "impa/engine.h"
#include "impa/guided.h"
#include "testutil.h"

#include "noalloc.h"

static void test_forward_allocates_nothing(void **state)
{
    (void)state;
    /* the interposition works: a call made while counting is seen */
    assert_true(noalloc_works());

    /* plain model, the advection-guided variant (t_in + t_out frames), then the
     * latter with the size-independent norms (per-pixel SE buffers) */
    for (int variant = 0; variant <= 2; variant++) {
        int adv = variant >= 1;
        tu_config_t c = tu_small_config();
        c.advection = adv;
        c.norm_local = variant == 2;
        c.se_window = variant == 2 ? 5 : 0;
        const char *path = tu_path("noalloc.nc");
        assert_int_equal(tu_write_weights(path, &c, 5u), 0);
        char err[256];
        impa_model_t *m = NULL;
        assert_int_equal(impa_model_load(path, &m, err, sizeof(err)), 0);
        int nf = impa_model_input_frames(m);
        assert_int_equal(nf, c.t_in + (adv ? c.t_out : 0));
        /* layout 0: whole grid; 1: abutting 16 px windows (copy path); 2: windows
         * overlapping by 4 px (blend path, its buffers made at create) */
        for (int run = 0; run < 6; run++) {
            int threads = 1 + run % 2, layout = run / 2;
            impa_engine_t *e = NULL;
            int ny = 32, nx = 48;
            assert_int_equal(impa_engine_create_tiled(m, ny, nx, layout ? 16 : 0,
                                                      layout == 2 ? 4 : 0, threads, &e, err,
                                                      sizeof(err)), 0);
            assert_int_equal(impa_engine_tile_overlap(e), layout == 2 ? 4 : 0);
            if (threads == 2) /* the translator split over the threads, on a small grid */
                impa_engine_set_translator_split(e, 0);
            size_t hw = (size_t)ny * nx, nin = (size_t)nf * c.n_fields * hw;
            float *in = calloc(nin, sizeof(float)), *out = calloc((size_t)c.t_out * hw, 4);
            float *fc = calloc((size_t)c.t_out * hw, 4), *fr = calloc((size_t)nf * hw, 4);
            const float *frames[8];
            for (int t = 0; t < nf; t++) {
                for (size_t i = 0; i < hw; i++)
                    fr[(size_t)t * hw + i] = (float)((i * (size_t)(2 * t + 1)) % 60);
                frames[t] = fr + (size_t)t * hw;
            }
            assert_int_equal(impa_engine_forecast(e, frames, NULL, fc, err, sizeof(err)), 0);
            counting = 1;
            n_alloc = n_alloc_blas = 0;
            int rc1 = impa_engine_normalise(e, frames, NULL, in, err, sizeof(err));
            int rc2 = impa_engine_forward(e, in, out, err, sizeof(err));
            int rc3 = impa_engine_forecast(e, frames, NULL, fc, err, sizeof(err));
            counting = 0;
            assert_int_equal(rc1, 0);
            assert_int_equal(rc2, 0);
            assert_int_equal(rc3, 0);
            printf("advection %d, norm_local %d, se_window %d, layout %d, threads %d: %ld "
                   "allocations during normalise + forward + forecast (OpenBLAS inside sgemm: %ld)\n",
                   adv, c.norm_local, c.se_window, layout, threads, n_alloc, n_alloc_blas);
            assert_int_equal(n_alloc, 0);
            if (adv) {
                /* the daemon's call: extrapolation, network, calibration */
                impa_guided_t *g = NULL;
                assert_int_equal(impa_guided_create(e, NULL, threads, &g, err, sizeof(err)), 0);
                assert_int_equal(impa_guided_calibration(g), IMPA_CALIBRATION_EXTRAPOLATION);
                assert_int_equal(impa_guided_forecast(g, frames, NULL, fc, err, sizeof(err)), 0);
                counting = 1;
                n_alloc = n_alloc_blas = 0;
                int rc4 = impa_guided_forecast(g, frames, NULL, fc, err, sizeof(err));
                counting = 0;
                assert_int_equal(rc4, 0);
                printf("  guided forecast, calibrated: %ld allocations (OpenBLAS inside sgemm: %ld)\n",
                       n_alloc, n_alloc_blas);
                assert_int_equal(n_alloc, 0);
                impa_guided_destroy(&g);
            }
            free(in);
            free(out);
            free(fc);
            free(fr);
            impa_engine_destroy(&e);
        }
        impa_model_destroy(&m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_allocates_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
