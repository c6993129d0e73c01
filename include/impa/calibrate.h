/* Probability matching (quantile mapping) of a forecast frame onto the
 * distribution of a reference frame: the forecast keeps its ranks (where the
 * echo is, what is stronger than what) and takes the reference's values.
 *
 * Why: MAD-Loss makes the network over-forecast intense echo on purpose
 * (under-forecasting >= 50 dBZ costs twice as much), so its >= 45 dBZ area was
 * 2-3 times the observed one and most of its alerts were false
 * (models/README.md). Matching each lead to the distribution of the
 * optical-flow extrapolation of that lead -- the latest scan moved, its
 * intensities unchanged -- takes that bias out and keeps the network's
 * placement. pySTEPS does the same for its S-PROG nowcast (matching to the
 * latest observation).
 *
 * Method: histograms of both frames over the pixels where both are finite, in
 * bins of `bin_db` between `lo` and `hi` (values outside count in the end bins);
 * both cumulative distributions are piecewise linear within a bin; every finite
 * forecast pixel v goes to the reference quantile of v's forecast quantile. The
 * map is monotone and computed once per frame (O(pixels + bins)), so pixels
 * where only the reference is missing (advected from outside the domain) are
 * mapped too. Results differ from an exact rank matching by less than one bin.
 *
 * Ownership: _create allocates the histograms, _match allocates nothing; one
 * object per thread. */
#ifndef IMPA_CALIBRATE_H
#define IMPA_CALIBRATE_H

#include <stddef.h>

#include "impa/error.h"

typedef struct impa_calib impa_calib_t;

/* lo < hi, 0 < bin_db, at most IMPA_CALIB_MAX_BINS bins. */
#define IMPA_CALIB_MAX_BINS 1000000
IMPA_API int impa_calib_create(float lo, float hi, float bin_db, impa_calib_t **out, char *err,
                               size_t errlen);
IMPA_API void impa_calib_destroy(impa_calib_t **c);

/* Remaps field[0..n) in place onto the distribution of ref[0..n) (NAN = no
 * data in either). Non-finite field pixels stay as they are. When no pixel is
 * finite in both, field is left unchanged and *matched (if not NULL) is 0,
 * else the number of pixels that set the distributions. Output values lie in
 * [lo, hi]. */
IMPA_API int impa_calib_match(impa_calib_t *c, float *field, const float *ref, size_t n,
                              size_t *matched, char *err, size_t errlen);

#endif
