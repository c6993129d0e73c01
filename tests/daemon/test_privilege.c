/* Root without a sandbox (src/daemon/privilege.c): the keep/drop/refuse
 * decision with injected euid and environment, its messages, daemon.user's
 * validation, and - when the suite runs as root - the real drop in a child
 * (ids, no way back) and the daemon binary refusing root. */
#include <fcntl.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/config.h"
#include "daemon/privilege.h"
#include "impa/error.h"

static void test_decide(void **state)
{
    (void)state;
    char msg[1024];
    assert_int_equal(impa_priv_decide(1000, "", NULL, NULL, msg, sizeof msg), IMPA_PRIV_KEEP);
    assert_string_equal(msg, "");
    /* not root: daemon.user changes nothing */
    assert_int_equal(impa_priv_decide(1000, "nobody", NULL, NULL, msg, sizeof msg),
                     IMPA_PRIV_KEEP);
    assert_int_equal(impa_priv_decide(0, "nobody", NULL, NULL, msg, sizeof msg), IMPA_PRIV_DROP);
    assert_non_null(strstr(msg, "daemon.user 'nobody'"));
    /* daemon.user wins over IMPA_ALLOW_ROOT and systemd */
    assert_int_equal(impa_priv_decide(0, "nobody", "abc", "1", msg, sizeof msg), IMPA_PRIV_DROP);

    assert_int_equal(impa_priv_decide(0, "", NULL, NULL, msg, sizeof msg), IMPA_PRIV_REFUSE);
    assert_non_null(strstr(msg, "refusing to run as root outside systemd"));
    assert_non_null(strstr(msg, "daemon.user: NAME"));
    assert_non_null(strstr(msg, "DynamicUser=yes"));
    assert_int_equal(impa_priv_decide(0, NULL, "", NULL, msg, sizeof msg), IMPA_PRIV_REFUSE);
    assert_non_null(strstr(msg, "outside systemd"));
    /* under systemd, root means a unit without DynamicUser/User: refused too */
    assert_int_equal(impa_priv_decide(0, "", "0123abcd", NULL, msg, sizeof msg), IMPA_PRIV_REFUSE);
    assert_non_null(strstr(msg, "this systemd unit starts impa-nowcastd as root"));
    assert_non_null(strstr(msg, "daemon.user: NAME"));
    /* only exactly "1" keeps root */
    assert_int_equal(impa_priv_decide(0, "", NULL, "0", msg, sizeof msg), IMPA_PRIV_REFUSE);
    assert_int_equal(impa_priv_decide(0, "", NULL, "yes", msg, sizeof msg), IMPA_PRIV_REFUSE);
    assert_int_equal(impa_priv_decide(0, "", NULL, "1", msg, sizeof msg), IMPA_PRIV_ALLOW);
    assert_non_null(strstr(msg, "running as root (IMPA_ALLOW_ROOT=1)"));
}

static void test_user_name(void **state)
{
    (void)state;
    assert_true(impa_priv_user_name_valid(""));
    assert_true(impa_priv_user_name_valid("impa-nowcast"));
    assert_true(impa_priv_user_name_valid("_impa.1"));
    assert_false(impa_priv_user_name_valid("-impa"));
    assert_false(impa_priv_user_name_valid("impa nowcast"));
    assert_false(impa_priv_user_name_valid("a/b"));
    assert_false(impa_priv_user_name_valid("abcdefghijabcdefghijabcdefghijabc")); /* 33 */

    impa_daemon_config_t cfg;
    char err[2048];
    const char *ok = "daemon:\n  user: impa-nowcast\n";
    assert_int_equal(impa_config_parse(ok, strlen(ok), "t.yaml", NULL, &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.daemon_user, "impa-nowcast");
    assert_int_equal(impa_config_parse("", 0, "t.yaml", NULL, &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.daemon_user, "");
    const char *bad = "daemon:\n  user: \"imp a\"\n";
    assert_int_equal(impa_config_parse(bad, strlen(bad), "t.yaml", NULL, &cfg, err, sizeof err),
                     IMPA_ECONFIG);
    assert_non_null(strstr(err, "key 'daemon.user': 'imp a' is not a user name"));
}

static void test_drop_refused(void **state)
{
    (void)state;
    char err[1024];
    assert_int_equal(impa_priv_drop("no-such-user-impa-test", err, sizeof err), IMPA_ECONFIG);
    assert_non_null(strstr(err, "daemon.user 'no-such-user-impa-test'"));
    if (getpwnam("root")) {
        assert_int_equal(impa_priv_drop("root", err, sizeof err), IMPA_ECONFIG);
        assert_non_null(strstr(err, "has uid 0"));
    }
}

/* The cases below need root and `what`; skipped otherwise. */
static void need_root_and(const void *what, const char *name)
{
    if (geteuid() != 0 || !what) {
        printf("skip: not root or no %s\n", name);
        skip();
    }
}

/* The real drop, in a child so the test process keeps its ids. */
static void test_drop_real(void **state)
{
    (void)state;
    struct passwd *pw = getpwnam("nobody");
    need_root_and(pw, "user 'nobody'");
    uid_t want_uid = pw->pw_uid;
    gid_t want_gid = pw->pw_gid;
    char secret[] = "/tmp/impa-priv-XXXXXX";
    int fd = mkstemp(secret); /* 0600, root's */
    assert_true(fd >= 0);
    close(fd);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[1024];
        if (impa_priv_drop("nobody", err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            _exit(2);
        }
        if (getuid() != want_uid || geteuid() != want_uid || getgid() != want_gid ||
            getegid() != want_gid)
            _exit(3);
        if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0)
            _exit(4);
        gid_t groups[64];
        int n = getgroups(64, groups);
        for (int i = 0; i < n; i++)
            if (groups[i] == 0)
                _exit(5);
        if (open(secret, O_RDONLY) >= 0) /* root's private file is out of reach */
            _exit(6);
        _exit(0);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    unlink(secret);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* The daemon itself as root, IMPA_ALLOW_ROOT and INVOCATION_ID unset: exit 1
 * with the refusal before anything else (the configuration does not exist). */
static void test_daemon_refuses_root(void **state)
{
    (void)state;
    const char *broot = getenv("IMPA_BUILD_ROOT");
    need_root_and(broot, "IMPA_BUILD_ROOT");
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "env -u IMPA_ALLOW_ROOT -u INVOCATION_ID %s/src/daemon/impa-nowcastd "
             "--config /nonexistent/impa-priv-test.yaml 2>&1",
             broot);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[16384];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    assert_non_null(strstr(out, "refusing to run as root outside systemd"));
    assert_null(strstr(out, "starting"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_user_name),
        cmocka_unit_test(test_drop_refused),
        cmocka_unit_test(test_drop_real),
        cmocka_unit_test(test_daemon_refuses_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
