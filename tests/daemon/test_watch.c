/* Input watcher: write-then-rename and close-after-write are announced once,
 * hidden and non-matching names are not; listing is newest first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/watch.h"

typedef struct {
    int n, overflow;
    char names[8][256];
} seen_t;

static void on_file(const char *path, void *user)
{
    seen_t *s = user;
    if (!path) {
        s->overflow++;
        return;
    }
    if (s->n < 8)
        snprintf(s->names[s->n], sizeof s->names[0], "%s", strrchr(path, '/') + 1);
    s->n++;
}

static void touch(const char *dir, const char *name, long mtime)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("x", f);
    fclose(f);
    if (mtime) {
        struct timeval tv[2] = {{mtime, 0}, {mtime, 0}};
        assert_int_equal(utimes(p, tv), 0);
    }
}

static void test_names(void **state)
{
    assert_true(impa_watch_name_matches("*.nc", "scan.nc"));
    assert_false(impa_watch_name_matches("*.nc", ".scan.nc.tmp"));
    assert_false(impa_watch_name_matches("*.nc", ".scan.nc"));
    assert_false(impa_watch_name_matches("*.nc", "scan.h5"));
    assert_true(impa_watch_name_matches("66_*.prcp-c10.nc", "66_20201031_000000.prcp-c10.nc"));
    (void)state;
}

static void test_events_and_list(void **state)
{
    char dir[] = "/tmp/impa-watch-XXXXXX";
    assert_non_null(mkdtemp(dir));
    impa_watch_t *w = NULL;
    char err[256];
    assert_int_equal(impa_watch_create(dir, "*.nc", &w, err, sizeof err), 0);
    assert_true(impa_watch_fd(w) >= 0);

    char a[512], b[512];
    touch(dir, ".a.nc.tmp", 0);                 /* close of a hidden name: ignored */
    snprintf(a, sizeof a, "%s/.a.nc.tmp", dir);
    snprintf(b, sizeof b, "%s/a.nc", dir);
    assert_int_equal(rename(a, b), 0);          /* IN_MOVED_TO a.nc: reported */
    touch(dir, "b.nc", 0);                      /* IN_CLOSE_WRITE b.nc: reported */
    touch(dir, "notes.txt", 0);                 /* pattern mismatch: ignored */
    seen_t s = {0};
    assert_int_equal(impa_watch_read(w, on_file, &s, err, sizeof err), 2);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.names[0], "a.nc");
    assert_string_equal(s.names[1], "b.nc");
    assert_int_equal(s.overflow, 0);
    /* nothing pending: returns 0 without blocking */
    assert_int_equal(impa_watch_read(w, on_file, &s, err, sizeof err), 0);
    impa_watch_destroy(&w);
    assert_null(w);

    /* listing: matching regular files, newest modification first */
    touch(dir, "old.nc", 1000000000);
    touch(dir, "new.nc", 1900000000);
    touch(dir, "a.nc", 1500000000);
    touch(dir, "b.nc", 1400000000);
    char **paths = NULL;
    int n = 0;
    assert_int_equal(impa_watch_list(dir, "*.nc", &paths, &n, err, sizeof err), 0);
    assert_int_equal(n, 4);
    assert_non_null(strstr(paths[0], "/new.nc"));
    assert_non_null(strstr(paths[1], "/a.nc"));
    assert_non_null(strstr(paths[2], "/b.nc"));
    assert_non_null(strstr(paths[3], "/old.nc"));
    impa_watch_list_free(&paths, n);
    assert_null(paths);

    assert_int_equal(impa_watch_create("/nonexistent-dir", "*.nc", &w, err, sizeof err) < 0, 1);
    assert_string_equal(err, "/nonexistent-dir: cannot watch: No such file or directory");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_events_and_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
