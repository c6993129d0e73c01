/* Rain rate -> reflectivity (Z = a R^b), shared by every scan reader (reader.c
 * for CF NetCDF, reader_odim.c for ODIM_H5 and KNMI): its own file so that the
 * readers depend on it and not on each other. */
#include <math.h>

#include "io-impl.h"

float impa_io_rate_to_dbz(double r, double a, double b)
{
    if (isnan(r))
        return NAN;
    if (r <= 0)
        return IMPA_DBZ_NO_ECHO;
    double dbz = 10.0 * (log10(a) + b * log10(r)); /* = 10 log10(a R^b), one log instead of pow+log */
    if (!isfinite(dbz))
        return NAN;
    return dbz < IMPA_DBZ_NO_ECHO ? IMPA_DBZ_NO_ECHO : (float)dbz;
}
