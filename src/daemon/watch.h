/* Watching the input directory for complete scan files (inotify IN_CLOSE_WRITE |
 * IN_MOVED_TO: a writer that writes then renames, or closes, announces a whole
 * file), and listing the files already there. Names starting with '.' (temporary
 * files of write-then-rename) and names not matching the fnmatch pattern are
 * ignored. */
#ifndef IMPA_DAEMON_WATCH_H
#define IMPA_DAEMON_WATCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct impa_watch impa_watch_t;

/* 1 when `name` (no directory) is a scan name: not hidden and matches pattern. */
int impa_watch_name_matches(const char *pattern, const char *name);

int impa_watch_create(const char *dir, const char *pattern, impa_watch_t **out, char *err,
                      size_t errlen);
void impa_watch_destroy(impa_watch_t **w);

/* Descriptor to poll for input (non-blocking). */
int impa_watch_fd(const impa_watch_t *w);

/* 1 when the watched directory went away (removed, moved, unmounted): call
 * impa_watch_check. */
int impa_watch_lost(const impa_watch_t *w);

/* Makes sure the directory's path is what is watched: 0 when it is, 1 when the
 * watch was (re-)established on the path (the directory was re-created or
 * replaced: the caller lists it), < 0 when the path is missing or cannot be
 * watched (reason with the real errno in err; the caller tries again later). */
int impa_watch_check(impa_watch_t *w, char *err, size_t errlen);

/* Drains pending events: cb(full path, user) for each new scan file, in event
 * order; cb(NULL, user) once if the kernel queue overflowed (events were lost:
 * the caller should list the directory again). Returns the number of files
 * reported or a negative code. */
int impa_watch_read(impa_watch_t *w, void (*cb)(const char *path, void *user), void *user,
                    char *err, size_t errlen);

/* Regular files in dir whose names match, newest modification first: *paths is a
 * malloc'ed array of *n malloc'ed full paths (impa_watch_list_free). */
int impa_watch_list(const char *dir, const char *pattern, char ***paths, int *n, char *err,
                    size_t errlen);
void impa_watch_list_free(char ***paths, int n);

#endif
