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

/* Parses a CF time unit such as "seconds since 1970-01-01 00:00:00 UTC",
 * "minutes since 2020-10-31T00:00:00Z", "days since 2000-01-01" or "hours since
 * 2020-10-31 10:00 +10:00" with udunits2 (any UDUNITS time unit and time zone).
 * On success *scale_s is seconds per unit and *epoch the reference time (UTC).
 * Returns 0, IMPA_EINVAL (not "<time unit> since <time>", or unparsable) or
 * IMPA_EIO (udunits2's unit database could not be read: libudunits2-data). The
 * standard calendar only, as udunits2. Thread-safe. */
IMPA_API int impa_time_parse_cf_units(const char *units, double *scale_s, int64_t *epoch);

/* Reads udunits2's unit database now (once per process; done by the first
 * impa_time_parse_cf_units otherwise). Callers that fork reader processes call
 * it first so the children inherit it. 0 or IMPA_EIO. */
IMPA_API int impa_time_units_init(void);

/* Wall clock and monotonic clock in seconds (double). */
IMPA_API double impa_time_now(void);
IMPA_API double impa_time_monotonic(void);

#endif
