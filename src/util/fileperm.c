/* impa_file_check_private: see include/impa/fileperm.h. */
#include "impa/fileperm.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char *buf;
    size_t len;
    int n; /* findings so far */
} findings_t;

static void add_finding(findings_t *f, const char *fmt, ...) IMPA_PRINTF(2, 3);

static void add_finding(findings_t *f, const char *fmt, ...)
{
    f->n++;
    if (!f->buf || f->len == 0)
        return;
    size_t used = strlen(f->buf);
    if (used + 1 >= f->len)
        return;
    if (f->n > 1) {
        snprintf(f->buf + used, f->len - used, "; ");
        used = strlen(f->buf);
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->buf + used, f->len - used, fmt, ap);
    va_end(ap);
}

/* One object (the file or a directory): `what` names it in messages. */
static void check_stat(findings_t *f, const char *what, const char *name, const struct stat *st)
{
    mode_t w = st->st_mode & (S_IWGRP | S_IWOTH);
    if (w) {
        const char *who = w == (S_IWGRP | S_IWOTH) ? "group and others"
                          : (w & S_IWGRP)          ? "group"
                                                   : "others";
        add_finding(f, "%s%s is writable by %s (mode %04o): chmod go-w %s", what, name, who,
                    (unsigned)(st->st_mode & 07777), name);
    }
    uid_t me = geteuid();
    if (st->st_uid != 0 && st->st_uid != me)
        add_finding(f, "%s%s is owned by uid %lu, neither root nor this process (uid %lu): "
                       "chown it to root or to the service user", what, name,
                    (unsigned long)st->st_uid, (unsigned long)me);
}

/* dirname into buf without modifying the input; "." when there is no slash. */
static void dir_of(const char *path, char *buf, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(buf, len, ".");
    else if (slash == path)
        snprintf(buf, len, "/");
    else
        snprintf(buf, len, "%.*s", (int)(slash - path), path);
}

int impa_file_check_private(const char *path, int strict, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!path || !*path)
        return impa_err(err, errlen, IMPA_EINVAL, "file permission check: no path");

    struct stat lst, st;
    if (lstat(path, &lst) != 0 || stat(path, &st) != 0)
        return impa_err(err, errlen, IMPA_EIO, "%s: cannot stat: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return impa_err(err, errlen, IMPA_EINVAL, "%s: not a regular file", path);
    char real[PATH_MAX];
    if (!realpath(path, real))
        return impa_err(err, errlen, IMPA_EIO, "%s: cannot resolve: %s", path, strerror(errno));

    findings_t f = {err, errlen, 0};
    check_stat(&f, "", path, &st);

    char dir[PATH_MAX];
    struct stat dst;
    dir_of(real, dir, sizeof dir);
    if (stat(dir, &dst) != 0)
        return impa_err(err, errlen, IMPA_EIO, "%s: cannot stat: %s", dir, strerror(errno));
    check_stat(&f, "directory ", dir, &dst);

    if (S_ISLNK(lst.st_mode)) {
        char ldir[PATH_MAX];
        dir_of(path, ldir, sizeof ldir);
        char lreal[PATH_MAX];
        /* The link's own directory, resolved, unless it is the one checked above. */
        if (realpath(ldir, lreal) && strcmp(lreal, dir) != 0) {
            if (stat(lreal, &dst) != 0)
                return impa_err(err, errlen, IMPA_EIO, "%s: cannot stat: %s", lreal,
                                strerror(errno));
            check_stat(&f, "directory of the symlink ", lreal, &dst);
        }
    }
    if (f.n == 0)
        return 0;
    return strict ? IMPA_ECONFIG : IMPA_FILEPERM_WARNING;
}
