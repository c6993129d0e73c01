/* util: SHA-256 (nettle underneath) on the FIPS 180-4 / NIST vectors, streamed
 * in odd pieces and from a file; CF time units (udunits2 underneath): the forms
 * radar files use, time zones, units other than seconds, and refusals. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "impa/sha256.h"
#include "impa/timeutil.h"

static void test_sha256_vectors(void **state)
{
    (void)state;
    char hex[65];
    impa_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    impa_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    impa_sha256_hex(m, strlen(m), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* one million 'a', streamed in pieces that straddle the 64-byte blocks */
    static char a[1000];
    memset(a, 'a', sizeof a);
    impa_sha256_t s;
    impa_sha256_init(&s);
    size_t done = 0, piece = 1;
    while (done < 1000000) {
        size_t n = piece < 1000000 - done ? piece : 1000000 - done;
        impa_sha256_update(&s, a, n > sizeof a ? sizeof a : n);
        done += n > sizeof a ? sizeof a : n;
        piece = piece * 7 % 997 + 1;
    }
    uint8_t d[32];
    impa_sha256_final(&s, d);
    assert_true(d[0] == 0xcd && d[1] == 0xc7 && d[31] == 0xd0); /* cdc76e5c...c7112cd0 */
}

static void test_sha256_file(void **state)
{
    (void)state;
    char path[] = "/tmp/impa-test-sha-XXXXXX", hex[65], err[256];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "abc", 3), 3);
    close(fd);
    assert_int_equal(impa_sha256_file(path, hex, err, sizeof err), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    unlink(path);
    assert_int_equal(impa_sha256_file(path, hex, err, sizeof err), IMPA_EIO);
    assert_non_null(strstr(err, path));
}

static void check_units(const char *u, double scale, int64_t epoch)
{
    double s = 0;
    int64_t e = 0;
    if (impa_time_parse_cf_units(u, &s, &e) != 0)
        fail_msg("'%s' refused", u);
    if (fabs(s - scale) > 1e-9 * scale || e != epoch)
        fail_msg("'%s': scale %.12g epoch %lld, want %.12g %lld", u, s, (long long)e, scale, (long long)epoch);
}

static void test_cf_units(void **state)
{
    (void)state;
    assert_int_equal(impa_time_units_init(), 0);
    check_units("seconds since 1970-01-01 00:00:00 UTC", 1, 0);
    check_units("seconds since 1970-01-01 00:00:00", 1, 0);
    check_units("minutes since 2020-10-31T00:00:00Z", 60, 1604102400);
    check_units("minutes since 2020-10-31 00:00", 60, 1604102400);
    check_units("hours since 2020-10-31", 3600, 1604102400);
    check_units("days since 2000-01-01", 86400, 946684800);
    check_units("days since 1900-01-01 00:00:00", 86400, -2208988800LL);
    check_units("s since 2000-1-1 0:0:0", 1, 946684800);
    /* time zones (the old hand parser ignored them) */
    check_units("hours since 2020-10-31 10:00 +10:00", 3600, 1604102400);
    check_units("minutes since 2020-10-31T01:00:00+01:00", 60, 1604102400);
    /* the archive's own valid-time units */
    check_units("seconds since 2020-10-31 01:50:00", 1, 1604109000);
    double s;
    int64_t e;
    assert_int_equal(impa_time_parse_cf_units("days", &s, &e), IMPA_EINVAL);                     /* no reference */
    assert_int_equal(impa_time_parse_cf_units("furlongs since 2000-01-01", &s, &e), IMPA_EINVAL); /* not time */
    assert_int_equal(impa_time_parse_cf_units("seconds since yesterday", &s, &e), IMPA_EINVAL);
    assert_int_equal(impa_time_parse_cf_units("", &s, &e), IMPA_EINVAL);
    assert_int_equal(impa_time_parse_cf_units(NULL, &s, &e), IMPA_EINVAL);
}

static void test_iso(void **state)
{
    (void)state;
    int64_t t;
    char buf[32];
    assert_int_equal(impa_time_parse_iso("2020-10-31T06:00:00Z", &t), 0);
    assert_int_equal(t, 1604124000);
    assert_string_equal(impa_time_iso(t, buf, sizeof buf), "2020-10-31T06:00:00Z");
    assert_string_equal(impa_time_compact(t, buf, sizeof buf), "20201031T060000Z");
    assert_int_equal(impa_time_parse_iso("2020-13-01", &t), IMPA_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_sha256_file),
        cmocka_unit_test(test_cf_units),
        cmocka_unit_test(test_iso),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
