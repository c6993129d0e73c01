/* Cutting a scan to the model grid: crop a window of the input grid, then
 * block-average by an integer factor (in dBZ-space averages of Z, i.e. linear
 * reflectivity, so a 2x2 block of 50 dBZ and dry is 44 dBZ, not 25). A block
 * with more than half its cells missing is missing. */
#ifndef IMPA_DOMAIN_H
#define IMPA_DOMAIN_H

#include "impa/grid.h"

typedef struct {
    int x_offset, y_offset; /* first input column/row of the crop */
    int nx, ny;             /* crop size in input cells; 0 = whole grid from offset */
    int block;              /* block-average factor >= 1 */
    int stride;             /* output sides are trimmed down to a multiple of this */
} impa_domain_t;

/* Output grid of applying dom to an input grid. IMPA_EINVAL with a message when the
 * crop leaves the input grid or the result is smaller than one stride. */
IMPA_API int impa_domain_grid(const impa_domain_t *dom, const impa_grid_t *in,
                              impa_grid_t *out, char *err, size_t errlen);

/* Applies dom: *out is impa_scan_init'ed by the call (time, path, variable copied). */
IMPA_API int impa_domain_apply(const impa_domain_t *dom, const impa_scan_t *in,
                               impa_scan_t *out, char *err, size_t errlen);

#endif
