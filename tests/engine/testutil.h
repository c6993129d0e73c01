/* Helpers shared by the engine tests: a weights-file writer (independent of the
 * loader, from docs/model.md) and temp paths. */
#ifndef IMPA_TEST_ENGINE_UTIL_H
#define IMPA_TEST_ENGINE_UTIL_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int n_fields, t_in, t_out, hid_s, hid_t, n_blocks, norm_groups, se_reduction, mlp_ratio;
    int n_branches, branch_kernels[8], branch_dilations[8];
    int spatial_mixer, residual;
    /* advection: < 0 writes no attribute (files from before the variant), else
     * the value; 1 also widens trans.inp to (t_in + t_out) * hid_s.
     * zero_readout: readout weight and bias are written as zeros. */
    int advection, zero_readout;
    /* norm_local, se_window: 0 writes no attribute (files from before the
     * size-independent variant), else the value. */
    int norm_local, se_window;
} tu_config_t;

/* Small config: 4 fields, t_in 2, t_out 3, S 8, T 16, 1 block, branches 3/5 d 1/2. */
tu_config_t tu_small_config(void);

/* The shipped architecture of docs/model.md (t_in 4, t_out 12, S 16, T 64,
 * 2 blocks, branches 3/5/7 d 1/2/3, GroupNorm with 4 groups, grid-mean SE). */
tu_config_t tu_default_config(void);

/* The small config as an advection-guided model (residual on) with t_in / t_out
 * frames; zero_readout 1 makes it forecast exactly its extrapolated input. */
tu_config_t tu_advection_config(int t_in, int t_out, int zero_readout);

/* Writes a valid weights file for cfg, tensors uniform(-1,1)/sqrt(fan_in) from seed.
 * Returns 0 or a netCDF status. */
int tu_write_weights(const char *path, const tu_config_t *cfg, uint32_t seed);

/* Path "<tmpdir>/<name>" in a per-process temporary directory. */
const char *tu_path(const char *name);

/* Deterministic uniform [lo, hi). */
float tu_rand(uint32_t *state, float lo, float hi);

#endif
