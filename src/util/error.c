#include "impa/error.h"

#include <stdarg.h>
#include <stdio.h>

const char *impa_strerror(int code)
{
    switch (code) {
    case IMPA_OK: return "success";
    case IMPA_EINVAL: return "invalid argument";
    case IMPA_ENOMEM: return "out of memory";
    case IMPA_EIO: return "input/output error";
    case IMPA_EFORMAT: return "bad file format";
    case IMPA_ESHAPE: return "shape mismatch";
    case IMPA_ECONFIG: return "configuration error";
    case IMPA_ENOTFOUND: return "not found";
    case IMPA_ESTATE: return "invalid state";
    case IMPA_ENET: return "messaging error";
    case IMPA_ENOSPC: return "no space left on device";
    default: return "unknown error";
    }
}

int impa_err(char *buf, size_t len, int code, const char *fmt, ...)
{
    if (buf && len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, len, fmt, ap);
        va_end(ap);
    }
    return code;
}
