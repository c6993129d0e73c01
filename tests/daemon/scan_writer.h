/* Test helper: writes small CF-1.8 reflectivity scans with nc_* calls (a moving
 * Gaussian storm on a dry background), for the daemon's tests. */
#ifndef IMPA_TEST_SCAN_WRITER_H
#define IMPA_TEST_SCAN_WRITER_H

#include <stdint.h>

/* Writes path: reflectivity(y, x) float dBZ, time (s since 1970), x/y in km with
 * 1 km spacing. The storm centre moves by one cell per 10 minutes eastward.
 * Returns 0 or a netCDF error code. */
int test_write_scan(const char *path, int ny, int nx, int64_t t);

/* Writes the scan to dir/.name.tmp and renames it to dir/name, as a producer
 * should. Returns 0 or -1. */
int test_drop_scan(const char *dir, const char *name, int ny, int nx, int64_t t);

#endif
