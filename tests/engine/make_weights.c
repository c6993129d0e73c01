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
    /* "default": the shipped architecture of docs/model.md */
    tu_config_t c = (argc < 3 || strcmp(argv[2], "default") == 0) ? tu_default_config()
                                                                  : tu_small_config();
    uint32_t seed = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 1u;
    int st = tu_write_weights(argv[1], &c, seed);
    if (st) {
        fprintf(stderr, "make-test-weights: %s: netCDF error %d\n", argv[1], st);
        return 1;
    }
    return 0;
}
