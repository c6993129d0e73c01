/* Retention of what the daemon leaves in the input directory (service-impl.h):
 * scans already read stay where the producer put them, quarantined files in
 * the quarantine directory; without a bound both fill the disk. After each
 * cycle the loop removes scans older than input.scan_retention_hours and
 * quarantined files older than input.quarantine_retention_hours, then the
 * oldest quarantined files while the directory holds more than
 * input.quarantine_max_mib. Ages are file modification times (wall clock). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/service-impl.h"
#include "daemon/watch.h"

typedef struct {
    char name[256];
    time_t mtime;
    off_t size;
} old_t;

static int older_first(const void *a, const void *b)
{
    const old_t *x = a, *y = b;
    return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

/* Regular, non-hidden files of dir matching pattern (NULL = all): removes those
 * older than max_age_s (0 = no age limit), then the oldest while the rest
 * exceeds max_bytes (0 = no size limit). Returns the number removed, -1 when
 * the directory cannot be listed. */
static int prune_dir(const char *dir, const char *pattern, double max_age_s, double max_bytes,
                     double *bytes_left)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    old_t *f = NULL;
    int n = 0, cap = 0, removed = 0;
    double total = 0;
    time_t now = time(NULL);
    for (struct dirent *e; (e = readdir(d));) {
        struct stat st;
        if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof f->name ||
            (pattern && !impa_watch_name_matches(pattern, e->d_name)) ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (max_age_s > 0 && difftime(now, st.st_mtime) > max_age_s) {
            removed += unlinkat(dirfd(d), e->d_name, 0) == 0;
            continue;
        }
        if (n == cap) {
            old_t *nf = realloc(f, (size_t)(cap = cap ? 2 * cap : 64) * sizeof *f);
            if (!nf)
                break;
            f = nf;
        }
        snprintf(f[n].name, sizeof f[n].name, "%s", e->d_name);
        f[n].mtime = st.st_mtime;
        f[n].size = st.st_size;
        total += (double)st.st_size;
        n++;
    }
    if (max_bytes > 0 && total > max_bytes) {
        qsort(f, (size_t)n, sizeof *f, older_first);
        for (int i = 0; i < n && total > max_bytes; i++)
            if (unlinkat(dirfd(d), f[i].name, 0) == 0) {
                total -= (double)f[i].size;
                removed++;
            }
    }
    closedir(d);
    free(f);
    if (bytes_left)
        *bytes_left = total;
    return removed;
}

void impa_retention_run(impa_service_t *svc)
{
    const impa_daemon_config_t *c = &svc->rt->cfg;
    if (svc->opts.replay)
        return;
    if (c->scan_retention_hours > 0) {
        int r = prune_dir(c->input_dir, c->input_pattern, c->scan_retention_hours * 3600.0, 0,
                          NULL);
        if (r > 0)
            impa_log(IMPA_LOG_NOTICE, "retention: %d scans older than %g h removed from %s "
                     "(input.scan_retention_hours)", r, c->scan_retention_hours, c->input_dir);
    }
    if (c->quarantine_retention_hours > 0 || c->quarantine_max_mib > 0) {
        double left = 0;
        int r = prune_dir(c->quarantine_dir, NULL, c->quarantine_retention_hours * 3600.0,
                          (double)c->quarantine_max_mib * 1048576.0, &left);
        if (r > 0)
            impa_log(IMPA_LOG_NOTICE, "retention: %d quarantined files removed from %s "
                     "(older than %g h, input.quarantine_retention_hours, or beyond %d MiB, "
                     "input.quarantine_max_mib); %.1f MiB left", r, c->quarantine_dir,
                     c->quarantine_retention_hours, c->quarantine_max_mib, left / 1048576.0);
    }
}
