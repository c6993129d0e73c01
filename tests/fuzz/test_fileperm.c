/* impa_file_check_private: modes and owners of a file, its directory and a
 * symlink's directory, strict and non-strict. Works in a private mkdtemp tree;
 * the foreign-owner cases need root (chown) and are skipped otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "impa/fileperm.h"

static char g_dir[PATH_MAX];
static char g_file[PATH_MAX + 16];

static int setup(void **state)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/impa-fileperm-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_file, sizeof g_file, "%s/impa.yaml", g_dir);
    FILE *f = fopen(g_file, "w");
    if (!f)
        return -1;
    fputs("config_version: 1\n", f);
    fclose(f);
    chmod(g_file, 0600);
    chmod(g_dir, 0700);
    return 0;
}

static int teardown(void **state)
{
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/link.yaml", g_dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/sub/link.yaml", g_dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/sub", g_dir);
    rmdir(p);
    unlink(g_file);
    rmdir(g_dir);
    return 0;
}

static void test_private_file_ok(void **state)
{
    char err[512] = "stale";
    assert_int_equal(impa_file_check_private(g_file, 1, err, sizeof err), 0);
    assert_string_equal(err, "");
    chmod(g_file, 0644); /* world-readable is fine: only writing matters */
    chmod(g_dir, 0755);
    assert_int_equal(impa_file_check_private(g_file, 1, err, sizeof err), 0);
    chmod(g_file, 0400);
    assert_int_equal(impa_file_check_private(g_file, 1, NULL, 0), 0);
}

static void test_group_writable_file(void **state)
{
    char err[512];
    chmod(g_file, 0664);
    assert_int_equal(impa_file_check_private(g_file, 1, err, sizeof err), IMPA_ECONFIG);
    assert_non_null(strstr(err, "writable by group"));
    assert_non_null(strstr(err, "0664"));
    assert_non_null(strstr(err, "chmod go-w"));
    assert_non_null(strstr(err, g_file));
    /* non-strict: same message, warning code */
    err[0] = '\0';
    assert_int_equal(impa_file_check_private(g_file, 0, err, sizeof err), IMPA_FILEPERM_WARNING);
    assert_non_null(strstr(err, "writable by group"));
    chmod(g_file, 0602);
    assert_int_equal(impa_file_check_private(g_file, 1, err, sizeof err), IMPA_ECONFIG);
    assert_non_null(strstr(err, "writable by others"));
    chmod(g_file, 0666);
    assert_int_equal(impa_file_check_private(g_file, 1, err, sizeof err), IMPA_ECONFIG);
    assert_non_null(strstr(err, "writable by group and others"));
    chmod(g_file, 0600);
}

static void test_writable_directory(void **state)
{
    char err[1024];
    chmod(g_dir, 0777);
    assert_int_equal(impa_file_check_private(g_file, 1, err, sizeof err), IMPA_ECONFIG);
    assert_non_null(strstr(err, "directory "));
    assert_non_null(strstr(err, "writable by group and others (mode 0777)"));
    /* the file itself is fine: exactly one finding */
    assert_null(strstr(err, "; "));
    /* both bad: both reported */
    chmod(g_file, 0660);
    assert_int_equal(impa_file_check_private(g_file, 0, err, sizeof err), IMPA_FILEPERM_WARNING);
    assert_non_null(strstr(err, "; "));
    chmod(g_file, 0600);
    chmod(g_dir, 0770);
    assert_int_equal(impa_file_check_private(g_file, 1, err, sizeof err), IMPA_ECONFIG);
    assert_non_null(strstr(err, "writable by group (mode 0770)"));
    chmod(g_dir, 0700);
    assert_int_equal(impa_file_check_private(g_file, 1, err, sizeof err), 0);
}

static void test_symlink_directory(void **state)
{
    char sub[PATH_MAX + 8], link[PATH_MAX + 32], err[1024];
    snprintf(sub, sizeof sub, "%s/sub", g_dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(link, sizeof link, "%s/link.yaml", sub);
    assert_int_equal(symlink(g_file, link), 0);
    assert_int_equal(impa_file_check_private(link, 1, err, sizeof err), 0);
    /* whoever can write the link's directory can point the link elsewhere */
    chmod(sub, 0777);
    assert_int_equal(impa_file_check_private(link, 1, err, sizeof err), IMPA_ECONFIG);
    assert_non_null(strstr(err, "directory of the symlink"));
    chmod(sub, 0700);
    unlink(link);
    rmdir(sub);
}

static void test_foreign_owner(void **state)
{
    if (geteuid() != 0) {
        skip(); /* only root can give a file away */
        return;
    }
    char err[512];
    assert_int_equal(chown(g_file, 12345, (gid_t)-1), 0);
    assert_int_equal(impa_file_check_private(g_file, 1, err, sizeof err), IMPA_ECONFIG);
    assert_non_null(strstr(err, "owned by uid 12345"));
    assert_int_equal(impa_file_check_private(g_file, 0, err, sizeof err), IMPA_FILEPERM_WARNING);
    assert_int_equal(chown(g_file, 0, (gid_t)-1), 0);
    assert_int_equal(chown(g_dir, 12345, (gid_t)-1), 0);
    assert_int_equal(impa_file_check_private(g_file, 1, err, sizeof err), IMPA_ECONFIG);
    assert_non_null(strstr(err, "directory "));
    assert_non_null(strstr(err, "owned by uid 12345"));
    assert_int_equal(chown(g_dir, 0, (gid_t)-1), 0);
    assert_int_equal(impa_file_check_private(g_file, 1, err, sizeof err), 0);
}

static void test_errors(void **state)
{
    char err[512], missing[PATH_MAX + 16];
    assert_int_equal(impa_file_check_private(NULL, 1, err, sizeof err), IMPA_EINVAL);
    assert_int_equal(impa_file_check_private("", 0, err, sizeof err), IMPA_EINVAL);
    snprintf(missing, sizeof missing, "%s/missing", g_dir);
    /* a missing file is an error even when not strict */
    assert_int_equal(impa_file_check_private(missing, 0, err, sizeof err), IMPA_EIO);
    assert_non_null(strstr(err, "cannot stat"));
    assert_int_equal(impa_file_check_private(g_dir, 1, err, sizeof err), IMPA_EINVAL);
    assert_non_null(strstr(err, "not a regular file"));
    /* a tiny buffer is truncated, never overrun */
    char tiny[8];
    memset(tiny, 'x', sizeof tiny);
    chmod(g_file, 0666);
    assert_int_equal(impa_file_check_private(g_file, 1, tiny, sizeof tiny), IMPA_ECONFIG);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
    chmod(g_file, 0600);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_private_file_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_writable_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writable_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
