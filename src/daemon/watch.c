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
    char dir[PATH_MAX];
    char pattern[256];
};

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
    w->wd = inotify_add_watch(w->fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR);
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
