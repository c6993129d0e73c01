/* State files (impa/statefile.h): what the daemon keeps across restarts (the
 * publisher's alert tracks and CAP references, the online verifier's
 * probability scores). A file is the magic "IMPASTAT", a format version, the payload
 * length, the payload and the SHA-256 of the payload, written to a temporary
 * name and renamed, so a reader sees the old file or the new one, never a
 * mixture; a file cut short or damaged fails the checksum and is refused.
 * Losing the file costs continuity only (tracks start again), hence no fsync. */
#include "impa/statefile.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "impa/sha256.h"

#define MAGIC "IMPASTAT"
#define VERSION 1u

typedef struct {
    char magic[8];
    uint32_t version;
    uint32_t reserved;
    uint64_t len;
} state_file_head_t;

int impa_state_file_write(const char *path, const void *payload, size_t len, char *err,
                          size_t errlen)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return impa_err(err, errlen, IMPA_EINVAL, "state file %s: path too long", path);
    state_file_head_t h = {{0}, VERSION, 0, len};
    memcpy(h.magic, MAGIC, 8);
    uint8_t sum[32];
    impa_sha256_t s;
    impa_sha256_init(&s);
    impa_sha256_update(&s, payload, len);
    impa_sha256_final(&s, sum);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return impa_err(err, errlen, IMPA_EIO, "state file %s: %s", tmp, strerror(errno));
    int bad = fwrite(&h, sizeof h, 1, f) != 1 || (len && fwrite(payload, len, 1, f) != 1) ||
              fwrite(sum, sizeof sum, 1, f) != 1;
    int e = errno;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        e = bad ? e : errno;
        unlink(tmp);
        return impa_err(err, errlen, e == ENOSPC ? IMPA_ENOSPC : IMPA_EIO, "state file %s: %s",
                        path, strerror(e));
    }
    return 0;
}

int impa_state_file_read(const char *path, unsigned char **payload, size_t *len, char *err,
                         size_t errlen)
{
    *payload = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return impa_err(err, errlen, errno == ENOENT ? IMPA_ENOTFOUND : IMPA_EIO,
                        "state file %s: %s", path, strerror(errno));
    state_file_head_t h;
    uint8_t sum[32], want[32];
    int rc = 0;
    unsigned char *buf = NULL;
    if (fread(&h, sizeof h, 1, f) != 1 || memcmp(h.magic, MAGIC, 8) != 0) {
        rc = impa_err(err, errlen, IMPA_EFORMAT, "state file %s: not a state file", path);
    } else if (h.version != VERSION) {
        rc = impa_err(err, errlen, IMPA_EFORMAT, "state file %s: format version %u, expected %u",
                      path, h.version, VERSION);
    } else if (h.len > ((uint64_t)1 << 32)) {
        rc = impa_err(err, errlen, IMPA_EFORMAT, "state file %s: payload of %llu bytes", path,
                      (unsigned long long)h.len);
    } else if (!(buf = malloc(h.len ? (size_t)h.len : 1))) {
        rc = impa_err(err, errlen, IMPA_ENOMEM, "state file %s: out of memory", path);
    } else if ((h.len && fread(buf, (size_t)h.len, 1, f) != 1) || fread(sum, 32, 1, f) != 1) {
        rc = impa_err(err, errlen, IMPA_EFORMAT, "state file %s: cut short", path);
    } else {
        impa_sha256_t s;
        impa_sha256_init(&s);
        impa_sha256_update(&s, buf, (size_t)h.len);
        impa_sha256_final(&s, want);
        if (memcmp(sum, want, 32) != 0)
            rc = impa_err(err, errlen, IMPA_EFORMAT, "state file %s: checksum mismatch", path);
    }
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    *payload = buf;
    *len = (size_t)h.len;
    return 0;
}
