/* State files: what the daemon keeps across restarts (the publisher's alert
 * tracks and CAP references, the online verifier's probability scores). A file
 * is a checksummed payload, written to a temporary name and renamed, so a
 * reader sees the old file or the new one, never a mixture; a damaged or cut
 * file fails the checksum and is refused. */
#ifndef IMPA_STATEFILE_H
#define IMPA_STATEFILE_H

#include <stddef.h>

#include "impa/error.h"

/* Writes payload as a checksummed state file (temporary name, then rename).
 * 0, IMPA_EINVAL, IMPA_EIO or IMPA_ENOSPC. */
IMPA_API int impa_state_file_write(const char *path, const void *payload, size_t len, char *err,
                                   size_t errlen);
/* Reads a state file back; *payload is malloc'ed (the caller frees it).
 * IMPA_ENOTFOUND (no file), IMPA_EFORMAT (not a state file, other format
 * version, cut short, checksum mismatch), IMPA_EIO, IMPA_ENOMEM. */
IMPA_API int impa_state_file_read(const char *path, unsigned char **payload, size_t *len,
                                  char *err, size_t errlen);

#endif
