/* CURVE key files and the ZAP handler that admits only listed client keys. */
#include "publish/publish-impl.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "impa/error.h"

int impa_endpoint_is_local(const char *ep)
{
    if (strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "inproc://", 9) == 0)
        return 1;
    if (strncmp(ep, "tcp://", 6) != 0)
        return 0;
    const char *h = ep + 6;
    /* "tcp://eth0;127.0.0.1:..." (source;dest) style is not used for binds. */
    return strncmp(h, "127.", 4) == 0 || strncmp(h, "localhost:", 10) == 0 ||
           strncmp(h, "[::1]:", 6) == 0 || strncmp(h, "lo:", 3) == 0;
}

/* z85 keys may contain '#' and '=', so a comment is "#" alone or "# ..." (z85 has
 * no spaces), and "name = key" splits at the first '='. */
static int is_comment(const char *s)
{
    return *s == '\0' || (s[0] == '#' && (s[1] == '\0' || s[1] == ' ' || s[1] == '\t'));
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int impa_curve_read_keypair(const char *path, char public_z85[41], char secret_z85[41],
                            char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return impa_err(err, errlen, IMPA_EIO, "CURVE key file %s: %s", path, strerror(errno));
    char line[512];
    int lineno = 0, rc = 0;
    public_z85[0] = secret_z85[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (is_comment(s))
            continue;
        uint8_t raw0[32];
        if (strlen(s) == IMPA_Z85_KEY_LEN && !strchr(s, ' ') && zmq_z85_decode(raw0, s)) {
            memcpy(secret_z85, s, 41); /* a bare key: the file holds only the secret */
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = impa_err(err, errlen, IMPA_EFORMAT, "CURVE key file %s:%d: expected 'name = key'",
                          path, lineno);
            goto done;
        }
        *eq = '\0';
        char *name = trim(s), *val = trim(eq + 1);
        if (strlen(val) != IMPA_Z85_KEY_LEN) {
            rc = impa_err(err, errlen, IMPA_EFORMAT,
                          "CURVE key file %s:%d: key must be %d z85 characters, got %zu", path,
                          lineno, IMPA_Z85_KEY_LEN, strlen(val));
            goto done;
        }
        uint8_t raw[32];
        if (!zmq_z85_decode(raw, val)) {
            rc = impa_err(err, errlen, IMPA_EFORMAT, "CURVE key file %s:%d: not z85", path, lineno);
            goto done;
        }
        if (strcmp(name, "public") == 0)
            memcpy(public_z85, val, 41);
        else if (strcmp(name, "secret") == 0)
            memcpy(secret_z85, val, 41);
        else {
            rc = impa_err(err, errlen, IMPA_EFORMAT,
                          "CURVE key file %s:%d: unknown name '%s' (public, secret)", path, lineno,
                          name);
            goto done;
        }
    }
    if (secret_z85[0] == '\0') {
        rc = impa_err(err, errlen, IMPA_EFORMAT, "CURVE key file %s: no 'secret = ...' line", path);
        goto done;
    }
    if (public_z85[0] == '\0' && zmq_curve_public(public_z85, secret_z85) != 0)
        rc = impa_err(err, errlen, IMPA_EFORMAT, "CURVE key file %s: cannot derive the public key",
                      path);
done:
    fclose(f);
    return rc;
}

int impa_curve_write_keypair(const char *path, char public_z85[41], char *err, size_t errlen)
{
    char secret[41], tmp[4096];
    if (zmq_curve_keypair(public_z85, secret) != 0)
        return impa_err(err, errlen, IMPA_ENET, "zmq_curve_keypair: %s (libzmq without CURVE?)",
                        zmq_strerror(errno));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return impa_err(err, errlen, IMPA_EIO, "%s: %s", tmp, strerror(errno));
    char text[256];
    int n = snprintf(text, sizeof text,
                     "# impa-nowcast CURVE keypair (z85). Keep this file private.\n"
                     "public = %s\nsecret = %s\n", public_z85, secret);
    int ok = write(fd, text, (size_t)n) == n;
    ok = (close(fd) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return impa_err(err, errlen, IMPA_EIO, "%s: %s", path, strerror(errno));
    }
    return 0;
}

/* ------------------------------------------------------------------ ZAP */

struct impa_zap {
    void *sock;
    pthread_t thread;
    atomic_int stop;
    atomic_ullong accepted, refused;
    int n_keys;
    uint8_t (*keys)[32];
};

static int recv_part(void *s, char *buf, size_t cap, size_t *len, int *more)
{
    int n = zmq_recv(s, buf, cap, 0);
    if (n < 0)
        return -1;
    *len = (size_t)n < cap ? (size_t)n : cap;
    int m = 0;
    size_t ml = sizeof m;
    zmq_getsockopt(s, ZMQ_RCVMORE, &m, &ml);
    *more = m;
    return 0;
}

/* ZAP 1.0 (RFC 27): request = version, request id, domain, address, identity,
 * mechanism, credentials...; reply = version, request id, status code, status
 * text, user id, metadata. */
static void zap_serve_one(impa_zap_t *z)
{
    char parts[8][256];
    size_t lens[8] = {0};
    int n = 0, more = 1;
    while (more) {
        char sink[256];
        size_t l;
        if (recv_part(z->sock, n < 8 ? parts[n] : sink, 256, n < 8 ? &lens[n] : &l, &more) != 0)
            return;
        n++;
    }
    if (n < 6)
        return;
    int ok = 0;
    if (lens[5] == 5 && memcmp(parts[5], "CURVE", 5) == 0 && n >= 7 && lens[6] == 32)
        for (int k = 0; k < z->n_keys && !ok; k++)
            ok = memcmp(z->keys[k], parts[6], 32) == 0;
    const char *code = ok ? "200" : "400", *text = ok ? "OK" : "client key not allowed";
    zmq_send(z->sock, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(z->sock, parts[1], lens[1], ZMQ_SNDMORE);
    zmq_send(z->sock, code, 3, ZMQ_SNDMORE);
    zmq_send(z->sock, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(z->sock, "", 0, ZMQ_SNDMORE);
    zmq_send(z->sock, "", 0, 0);
    if (ok)
        atomic_fetch_add(&z->accepted, 1);
    else
        atomic_fetch_add(&z->refused, 1);
}

static void *zap_thread(void *arg)
{
    impa_zap_t *z = arg;
    while (!atomic_load(&z->stop)) {
        zmq_pollitem_t it = {z->sock, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&it, 1, 100); /* 100 ms: bounds how long stop waits */
        if (rc < 0 && zmq_errno() == ETERM)
            break;
        if (rc > 0)
            zap_serve_one(z);
    }
    return NULL;
}

int impa_zap_start(void *ctx, const char *allowed_path, impa_zap_t **out, char *err, size_t errlen)
{
    *out = NULL;
    impa_zap_t *z = calloc(1, sizeof *z);
    if (!z)
        return impa_err(err, errlen, IMPA_ENOMEM, "ZAP: out of memory");
    int rc = 0;
    FILE *f = fopen(allowed_path, "r");
    if (!f) {
        rc = impa_err(err, errlen, IMPA_EIO, "allowed CURVE keys %s: %s", allowed_path,
                      strerror(errno));
        goto fail;
    }
    char line[512];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (is_comment(s))
            continue;
        /* accept "public = KEY" lines too (a keypair file's public line) */
        if (strlen(s) != IMPA_Z85_KEY_LEN && strncmp(s, "public", 6) == 0 && strchr(s, '='))
            s = trim(strchr(s, '=') + 1);
        uint8_t raw[32];
        if (strlen(s) != IMPA_Z85_KEY_LEN || !zmq_z85_decode(raw, s)) {
            rc = impa_err(err, errlen, IMPA_EFORMAT,
                          "allowed CURVE keys %s:%d: expected a 40-character z85 public key",
                          allowed_path, lineno);
            fclose(f);
            goto fail;
        }
        void *nk = realloc(z->keys, (size_t)(z->n_keys + 1) * sizeof *z->keys);
        if (!nk) {
            rc = impa_err(err, errlen, IMPA_ENOMEM, "ZAP: out of memory");
            fclose(f);
            goto fail;
        }
        z->keys = nk;
        memcpy(z->keys[z->n_keys++], raw, 32);
    }
    fclose(f);
    z->sock = zmq_socket(ctx, ZMQ_REP);
    if (!z->sock || zmq_bind(z->sock, "inproc://zeromq.zap.01") != 0) {
        rc = impa_err(err, errlen, IMPA_ENET, "ZAP handler bind: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    int linger = 0;
    zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof linger);
    if (pthread_create(&z->thread, NULL, zap_thread, z) != 0) {
        rc = impa_err(err, errlen, IMPA_ENOMEM, "ZAP handler thread: cannot start");
        goto fail;
    }
    *out = z;
    return 0;
fail:
    if (z->sock)
        zmq_close(z->sock);
    free(z->keys);
    free(z);
    return rc;
}

void impa_zap_stop(impa_zap_t **zp)
{
    if (!zp || !*zp)
        return;
    impa_zap_t *z = *zp;
    atomic_store(&z->stop, 1);
    pthread_join(z->thread, NULL);
    zmq_close(z->sock);
    free(z->keys);
    free(z);
    *zp = NULL;
}

uint64_t impa_zap_accepted(const impa_zap_t *z) { return z ? atomic_load(&((impa_zap_t *)z)->accepted) : 0; }
uint64_t impa_zap_refused(const impa_zap_t *z) { return z ? atomic_load(&((impa_zap_t *)z)->refused) : 0; }
