/* Durability of files written by replace-by-rename (archive, verification
 * totals): a rename survives a power cut only once the file's data and then its
 * directory have reached the disk. */
#ifndef IMPA_DURABLE_H
#define IMPA_DURABLE_H

#include "impa/error.h"

/* fsync()s the file or (dir != 0) directory at path. 0, or -1 with errno set. */
IMPA_API int impa_fsync_path(const char *path, int dir);

#endif
