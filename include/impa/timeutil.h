/* Time helpers: all times in impa-nowcast are int64 seconds since the Unix
 * epoch, UTC. These are the only conversions to and from text. */
#ifndef IMPA_TIMEUTIL_H
#define IMPA_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "impa/error.h"

/* Formats t as "YYYY-MM-DDTHH:MM:SSZ" into buf (>= 21 bytes). Returns buf. */
IMPA_API char *impa_time_iso(int64_t t, char *buf, size_t len);

/* Formats t as "YYYYMMDDTHHMMSSZ" (file-name safe) into buf (>= 17 bytes). */
IMPA_API char *impa_time_compact(int64_t t, char *buf, size_t len);

/* Parses "YYYY-MM-DD[T ]HH:MM[:SS][Z]" or "YYYY-MM-DD". 0 or IMPA_EINVAL. */
IMPA_API int impa_time_parse_iso(const char *s, int64_t *out);

/* Parses a CF/UDUNITS time unit such as "seconds since 1970-01-01 00:00:00 UTC",
 * "minutes since 2020-10-31T00:00:00Z" or "days since 2000-01-01".
 * On success *scale_s is seconds per unit and *epoch the reference time.
 * Returns 0 or IMPA_EINVAL (unsupported unit or unparsable reference). */
IMPA_API int impa_time_parse_cf_units(const char *units, double *scale_s, int64_t *epoch);

/* Wall clock and monotonic clock in seconds (double). */
IMPA_API double impa_time_now(void);
IMPA_API double impa_time_monotonic(void);

#endif
