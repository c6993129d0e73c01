/* sd_notify datagrams (READY=1 reaches $NOTIFY_SOCKET, watchdog interval parsing)
 * and the log line format (syslog priority prefixes, level filtering). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/log.h"
#include "daemon/notify.h"

static void test_notify_socket(void **state)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/impa-notify-%d.sock", (int)getpid());
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);

    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(impa_notify("READY=1"), 0); /* no service manager: no-op */
    setenv("NOTIFY_SOCKET", path, 1);
    assert_true(impa_notify("READY=1") > 0);
    assert_true(impa_notify("STATUS=waiting for scans") > 0);
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, "READY=1");
    n = recv(fd, buf, sizeof buf - 1, 0);
    buf[n] = '\0';
    assert_string_equal(buf, "STATUS=waiting for scans");
    unsetenv("NOTIFY_SOCKET");
    close(fd);
    unlink(path);
    (void)state;
}

static void test_watchdog_usec(void **state)
{
    char pid[32];
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    assert_true(impa_notify_watchdog_usec() == 0);
    setenv("WATCHDOG_USEC", "60000000", 1);
    assert_true(impa_notify_watchdog_usec() == 60000000u);
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    assert_true(impa_notify_watchdog_usec() == 60000000u);
    setenv("WATCHDOG_PID", "1", 1); /* meant for another process */
    assert_true(impa_notify_watchdog_usec() == 0);
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    (void)state;
}

static void test_log_format(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    impa_log_setup(IMPA_LOG_NOTICE, 1, m);
    impa_log(IMPA_LOG_WARNING, "scan %s: quarantined", "a.nc");
    impa_log(IMPA_LOG_INFO, "not written: below the level");
    impa_log(IMPA_LOG_NOTICE, "reload");
    impa_log_set_level(IMPA_LOG_DEBUG);
    impa_log(IMPA_LOG_DEBUG, "off grid");
    fclose(m);
    assert_string_equal(text, "<4>scan a.nc: quarantined\n<5>reload\n<7>off grid\n");
    free(text);

    m = open_memstream(&text, &len);
    impa_log_setup(IMPA_LOG_INFO, 0, m);
    impa_log(IMPA_LOG_ERR, "cycle failed");
    fclose(m);
    /* terminal form: "YYYY-MM-DDTHH:MM:SSZ error: cycle failed" */
    assert_int_equal(strlen(text), 20 + strlen(" error: cycle failed\n"));
    assert_string_equal(text + 20, " error: cycle failed\n");
    free(text);
    impa_log_setup(IMPA_LOG_INFO, -1, NULL);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notify_socket),
        cmocka_unit_test(test_watchdog_usec),
        cmocka_unit_test(test_log_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
