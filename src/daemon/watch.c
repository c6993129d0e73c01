#include "daemon/watch.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "impa/error.h"

struct impa_watch {
    int fd, wd;
    int lost;                   /* the watched directory went away (IN_IGNORED/..._SELF) */
    dev_t dev;
    ino_t ino;                  /* the directory watched, to notice a replacement */
    char dir[PATH_MAX];
    char pattern[256];
};

#define WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR | IN_DELETE_SELF | IN_MOVE_SELF)

int impa_watch_name_matches(const char *pattern, const char *name)
{
    return name[0] != '.' && fnmatch(pattern, name, FNM_PERIOD) == 0;
}

int impa_watch_create(const char *dir, const char *pattern, impa_watch_t **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    impa_watch_t *w = calloc(1, sizeof *w);
    if (!w)
        return impa_err(err, errlen, IMPA_ENOMEM, "watch: out of memory");
    snprintf(w->dir, sizeof w->dir, "%s", dir);
    snprintf(w->pattern, sizeof w->pattern, "%s", pattern);
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0) {
        int e = errno;
        free(w);
        return impa_err(err, errlen, IMPA_EIO, "inotify_init1: %s", strerror(e));
    }
    w->wd = inotify_add_watch(w->fd, dir, WATCH_MASK);
    struct stat st;
    if (w->wd >= 0 && stat(dir, &st) == 0)
        w->dev = st.st_dev, w->ino = st.st_ino;
    if (w->wd < 0) {
        int e = errno;
        close(w->fd);
        free(w);
        return impa_err(err, errlen, IMPA_EIO, "%s: cannot watch: %s", dir, strerror(e));
    }
    *out = w;
    return 0;
}

void impa_watch_destroy(impa_watch_t **w)
{
    if (!w || !*w)
        return;
    close((*w)->fd);
    free(*w);
    *w = NULL;
}

int impa_watch_fd(const impa_watch_t *w) { return w->fd; }

int impa_watch_lost(const impa_watch_t *w) { return w->lost; }

int impa_watch_check(impa_watch_t *w, char *err, size_t errlen)
{
    struct stat st;
    int missing = stat(w->dir, &st) != 0;
    if (missing || !S_ISDIR(st.st_mode)) {
        int e = missing ? errno : ENOTDIR;
        if (w->wd >= 0)
            inotify_rm_watch(w->fd, w->wd);
        w->wd = -1;
        w->lost = 1;
        return impa_err(err, errlen, -1, "%s: %s", w->dir, strerror(e));
    }
    if (!w->lost && w->wd >= 0 && st.st_dev == w->dev && st.st_ino == w->ino)
        return 0;
    if (w->wd >= 0)
        inotify_rm_watch(w->fd, w->wd); /* the old directory, moved elsewhere */
    w->wd = inotify_add_watch(w->fd, w->dir, WATCH_MASK);
    if (w->wd < 0) {
        w->lost = 1;
        return impa_err(err, errlen, -1, "%s: cannot watch: %s", w->dir, strerror(errno));
    }
    w->dev = st.st_dev;
    w->ino = st.st_ino;
    w->lost = 0;
    return 1;
}

int impa_watch_read(impa_watch_t *w, void (*cb)(const char *path, void *user), void *user,
                    char *err, size_t errlen)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    int reported = 0, overflow = 0;
    for (;;) {
        ssize_t len = read(w->fd, buf, sizeof buf);
        if (len < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            return impa_err(err, errlen, IMPA_EIO, "%s: inotify read: %s", w->dir,
                            strerror(errno));
        }
        if (len == 0)
            break;
        for (char *p = buf; p < buf + len;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            p += sizeof *ev + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                overflow = 1;
                continue;
            }
            if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
                /* the directory is gone, or moved away with its watch: the path
                 * must be watched again (impa_watch_check). Only for the
                 * current watch: removing the old one (impa_watch_check after a
                 * replacement) queues an IN_IGNORED for it, which taken as a
                 * loss re-established the watch again and again. */
                if (ev->wd == w->wd)
                    w->lost = 1;
                continue;
            }
            if (ev->mask & IN_ISDIR || !ev->len || !impa_watch_name_matches(w->pattern, ev->name))
                continue;
            char path[PATH_MAX];
            if (snprintf(path, sizeof path, "%s/%s", w->dir, ev->name) >= (int)sizeof path)
                continue;
            cb(path, user);
            reported++;
        }
    }
    if (overflow)
        cb(NULL, user);
    return reported;
}

typedef struct {
    char *path;
    struct timespec mtime;
} entry_t;

static int by_mtime_desc(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    if (x->mtime.tv_sec != y->mtime.tv_sec)
        return x->mtime.tv_sec < y->mtime.tv_sec ? 1 : -1;
    if (x->mtime.tv_nsec != y->mtime.tv_nsec)
        return x->mtime.tv_nsec < y->mtime.tv_nsec ? 1 : -1;
    return strcmp(y->path, x->path);
}

void impa_watch_list_free(char ***paths, int n)
{
    if (!paths || !*paths)
        return;
    for (int i = 0; i < n; i++)
        free((*paths)[i]);
    free(*paths);
    *paths = NULL;
}

int impa_watch_list(const char *dir, const char *pattern, char ***paths, int *n, char *err,
                    size_t errlen)
{
    *paths = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return impa_err(err, errlen, IMPA_EIO, "%s: cannot list: %s", dir, strerror(errno));
    entry_t *ents = NULL;
    int count = 0, cap = 0, rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!impa_watch_name_matches(pattern, de->d_name))
            continue;
        char path[PATH_MAX];
        struct stat st;
        if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path ||
            stat(path, &st) || !S_ISREG(st.st_mode))
            continue;
        if (count == cap) {
            cap = cap ? 2 * cap : 64;
            entry_t *e = realloc(ents, (size_t)cap * sizeof *e);
            if (!e) {
                rc = impa_err(err, errlen, IMPA_ENOMEM, "%s: out of memory listing", dir);
                goto done;
            }
            ents = e;
        }
        ents[count].path = strdup(path);
        ents[count].mtime = st.st_mtim;
        if (!ents[count].path) {
            rc = impa_err(err, errlen, IMPA_ENOMEM, "%s: out of memory listing", dir);
            goto done;
        }
        count++;
    }
    if (count > 1) /* ents is NULL for an empty directory: qsort(NULL, 0) is UB */
        qsort(ents, (size_t)count, sizeof *ents, by_mtime_desc);
    *paths = malloc((size_t)(count ? count : 1) * sizeof **paths);
    if (!*paths) {
        rc = impa_err(err, errlen, IMPA_ENOMEM, "%s: out of memory listing", dir);
        goto done;
    }
    for (int i = 0; i < count; i++)
        (*paths)[i] = ents[i].path, ents[i].path = NULL;
    *n = count;
done:
    for (int i = 0; i < count; i++)
        free(ents[i].path);
    free(ents);
    closedir(d);
    return rc;
}
