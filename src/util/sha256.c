/* SHA-256 through nettle (the provenance hashes: weights file, configuration,
 * alert-state records). impa_sha256_t holds a struct sha256_ctx so the public
 * header does not need nettle's. */
#include "impa/sha256.h"

#include <assert.h>
#include <errno.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <string.h>

static_assert(sizeof(struct sha256_ctx) <= sizeof(((impa_sha256_t *)0)->opaque),
              "impa_sha256_t too small for nettle's sha256_ctx");
static_assert(_Alignof(struct sha256_ctx) <= _Alignof(impa_sha256_t), "impa_sha256_t misaligned");

static struct sha256_ctx *ctx(impa_sha256_t *s)
{
    return (struct sha256_ctx *)(void *)s->opaque;
}

void impa_sha256_init(impa_sha256_t *s)
{
    sha256_init(ctx(s));
}

void impa_sha256_update(impa_sha256_t *s, const void *data, size_t len)
{
    sha256_update(ctx(s), len, data);
}

void impa_sha256_final(impa_sha256_t *s, uint8_t out[32])
{
    sha256_digest(ctx(s), SHA256_DIGEST_SIZE, out);
}

static void to_hex(const uint8_t d[32], char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = '\0';
}

void impa_sha256_hex(const void *data, size_t len, char hex[65])
{
    impa_sha256_t s;
    uint8_t d[32];
    impa_sha256_init(&s);
    impa_sha256_update(&s, data, len);
    impa_sha256_final(&s, d);
    to_hex(d, hex);
}

int impa_sha256_file(const char *path, char hex[65], char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return impa_err(err, errlen, IMPA_EIO, "%s: %s", path, strerror(errno));
    impa_sha256_t s;
    impa_sha256_init(&s);
    uint8_t buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        impa_sha256_update(&s, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return impa_err(err, errlen, IMPA_EIO, "%s: read error", path);
    uint8_t d[32];
    impa_sha256_final(&s, d);
    to_hex(d, hex);
    return IMPA_OK;
}
