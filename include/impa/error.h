/* Error codes shared by every impa-nowcast module.
 *
 * Contract: library functions return 0 on success or a negative IMPA_E* code,
 * and, when given a non-NULL buffer, write a one-line message with context
 * (file, variable, tensor, both shapes...) into it. Library code never prints,
 * logs or exits; only the daemon layer logs and only main() exits. */
#ifndef IMPA_ERROR_H
#define IMPA_ERROR_H

#include <stddef.h>

#if defined(__GNUC__)
#define IMPA_API __attribute__((visibility("default")))
#define IMPA_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define IMPA_API
#define IMPA_PRINTF(fmt, args)
#endif

enum {
    IMPA_OK = 0,
    IMPA_EINVAL = -1,    /* bad argument or value out of range */
    IMPA_ENOMEM = -2,    /* allocation failed */
    IMPA_EIO = -3,       /* file could not be opened, read or written */
    IMPA_EFORMAT = -4,   /* file readable but its content is not what is expected */
    IMPA_ESHAPE = -5,    /* tensor or grid shape mismatch */
    IMPA_ECONFIG = -6,   /* configuration error */
    IMPA_ENOTFOUND = -7, /* variable, key, tensor or file missing */
    IMPA_ESTATE = -8,    /* call not valid in the object's current state */
    IMPA_ENET = -9,      /* ZeroMQ / socket error */
    IMPA_ENOSPC = -10,   /* no space left on the output device */
};

/* Short constant description of an IMPA_E* code ("invalid argument", ...). */
IMPA_API const char *impa_strerror(int code);

/* printf-style write into an optional error buffer (NULL or len 0: no-op).
 * Returns `code` so callers can write `return impa_err(err, len, IMPA_EIO, ...)`. */
IMPA_API int impa_err(char *buf, size_t len, int code, const char *fmt, ...) IMPA_PRINTF(4, 5);

#endif
