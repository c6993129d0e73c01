/* Permission checks for the files the daemon trusts at start-up (configuration,
 * weights, CURVE secret key): whoever can write them controls what the service
 * runs and publishes, so they must be writable by their owner only, and that owner
 * must be root or the user the service runs as. Same idea as OpenSSH's
 * StrictModes. docs/security.md gives the threat model. */
#ifndef IMPA_FILEPERM_H
#define IMPA_FILEPERM_H

#include <stddef.h>

#include "impa/error.h"

/* Returned by impa_file_check_private in non-strict mode when a problem was found.
 * Positive on purpose: it is a warning (the caller logs err and goes on), not one of
 * the negative IMPA_E* errors, so `if (rc < 0)` keeps meaning "failed". */
#define IMPA_FILEPERM_WARNING 1

/* Checks that `path` (a regular file, symlinks followed) and the directory holding
 * it are
 *   - not writable by group or others, and
 *   - owned by root or by the effective user of this process.
 * When path is a symlink the directory holding the link is checked as well: whoever
 * can rewrite the link chooses the file.
 * Returns 0 when all is well. On a problem writes every finding, "; "-separated,
 * with the mode or owner and the fix (e.g. "impa.yaml: writable by group (mode
 * 0664): chmod go-w impa.yaml") into err and returns IMPA_ECONFIG when strict,
 * IMPA_FILEPERM_WARNING otherwise. Errors in any mode: IMPA_EINVAL (NULL path, not
 * a regular file), IMPA_EIO (cannot stat or resolve). Never opens the file. */
IMPA_API int impa_file_check_private(const char *path, int strict, char *err, size_t errlen);

#endif
