/* Writes a random-weights model file for benchmarking and manual checks before
 * trained weights exist: make-test-weights OUT.nc [small|default] [seed]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: make-test-weights OUT.nc [small|default] [seed]\n");
        return 2;
    }
    tu_config_t c = tu_small_config();
    if (argc < 3 || strcmp(argv[2], "default") == 0) {
        /* the shipped architecture of docs/model.md */
        c.t_in = 4;
        c.t_out = 12;
        c.hid_s = 16;
        c.hid_t = 64;
        c.n_blocks = 2;
        c.n_branches = 3;
        c.branch_kernels[0] = 3;
        c.branch_kernels[1] = 5;
        c.branch_kernels[2] = 7;
        c.branch_dilations[0] = 1;
        c.branch_dilations[1] = 2;
        c.branch_dilations[2] = 3;
    }
    uint32_t seed = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 1u;
    int st = tu_write_weights(argv[1], &c, seed);
    if (st) {
        fprintf(stderr, "make-test-weights: %s: netCDF error %d\n", argv[1], st);
        return 1;
    }
    return 0;
}
