/* SHA-256 (FIPS 180-4, computed by nettle), used for the provenance hash of the
 * weights file and of the configuration that every published message carries. */
#ifndef IMPA_SHA256_H
#define IMPA_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "impa/error.h"

/* Streaming state (nettle's sha256_ctx inside; src/util/sha256.c). */
typedef struct {
    _Alignas(8) unsigned char opaque[128];
} impa_sha256_t;

IMPA_API void impa_sha256_init(impa_sha256_t *s);
IMPA_API void impa_sha256_update(impa_sha256_t *s, const void *data, size_t len);
/* Writes the 32-byte digest. */
IMPA_API void impa_sha256_final(impa_sha256_t *s, uint8_t out[32]);
/* Hashes a whole file into 64 lowercase hex characters + NUL. 0 or IMPA_EIO. */
IMPA_API int impa_sha256_file(const char *path, char hex[65], char *err, size_t errlen);
/* Hex of a buffer, 64 chars + NUL. */
IMPA_API void impa_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
