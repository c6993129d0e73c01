/* Configuration: defaults, every kind of error with its exact message, relative
 * paths, the shipped etc/impa-nowcast.yaml, and docs/configuration.md being the
 * table's own output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/config.h"
#include "impa/extrapolate.h"
#include "impa/guided.h"
#include "daemon/service.h"
#include "impa/error.h"
#include "impa_build_config.h"

static int parse(const char *text, impa_daemon_config_t *cfg, char *err, size_t len)
{
    return impa_config_parse(text, strlen(text), "t.yaml", "/etc/impa", cfg, err, len);
}

static void test_defaults(void **state)
{
    impa_daemon_config_t cfg;
    char err[1024];
    assert_int_equal(parse("", &cfg, err, sizeof err), 0);
    assert_int_equal(cfg.config_version, 1);
    assert_string_equal(cfg.input_pattern, "*.nc");
    assert_int_equal(cfg.jitter_s, 60);
    assert_int_equal(cfg.gap_policy, IMPA_GAP_WAIT);
    assert_int_equal(cfg.method, IMPA_CFG_METHOD_IMPANET);
    assert_string_equal(cfg.weights, IMPA_MODELDIR "/impa-net.nc");
    assert_int_equal(cfg.publish.n_endpoints, 1);
    assert_string_equal(cfg.publish.endpoints[0], "tcp://127.0.0.1:5560");
    assert_int_equal(cfg.publish.encoding, IMPA_ENCODING_UINT8);
    assert_true(cfg.alerts.threshold_dbz == 45.0f);
    assert_int_equal(cfg.n_thresholds, 3);
    assert_true(cfg.thresholds[0] == 20.0f && cfg.thresholds[2] == 45.0f);
    assert_int_equal(cfg.log_level, 6);
    assert_true(cfg.zr_a == 200.0 && cfg.zr_b == 1.6);
    assert_int_equal(cfg.retention_hours, 48);
    assert_int_equal(cfg.verify_enabled, 1);
    assert_string_equal(cfg.publish.domain, "radar");
    assert_int_equal(cfg.tile, 80);
    assert_int_equal(cfg.tile_overlap, 32);
    assert_int_equal(cfg.calibration, IMPA_CALIBRATION_AUTO);
    (void)state;
}

/* model.calibration: the three names map onto impa_calibration_t, anything else
 * is refused with the choices. */
static void test_calibration(void **state)
{
    (void)state;
    impa_daemon_config_t cfg;
    char err[1024];
    assert_int_equal(parse("model:\n  calibration: none\n", &cfg, err, sizeof err), 0);
    assert_int_equal(cfg.calibration, IMPA_CALIBRATION_NONE);
    assert_int_equal(parse("model:\n  calibration: extrapolation\n", &cfg, err, sizeof err), 0);
    assert_int_equal(cfg.calibration, IMPA_CALIBRATION_EXTRAPOLATION);
    assert_int_equal(parse("model:\n  calibration: auto\n", &cfg, err, sizeof err), 0);
    assert_int_equal(cfg.calibration, IMPA_CALIBRATION_AUTO);
    assert_int_equal(parse("model:\n  calibration: cdf\n", &cfg, err, sizeof err), IMPA_ECONFIG);
    assert_non_null(strstr(err, "model.calibration"));
    if (!strstr(err, "auto") || !strstr(err, "extrapolation"))
        fail_msg("error without the choices: %s", err);
}

/* extrapolation.scheme: every scheme name of this build maps onto its
 * impa_extrap_scheme_t, the default is the best measured one, anything else is
 * refused with the choices. */
static void test_extrapolation_scheme(void **state)
{
    (void)state;
    impa_daemon_config_t cfg;
    char err[1024], text[128];
    impa_config_defaults(&cfg);
    assert_int_equal(cfg.extrap_scheme, IMPA_EXTRAP_BEST);
    for (int k = IMPA_EXTRAP_SCHEME_1; k <= IMPA_EXTRAP_SCHEME_LAST; k++) {
        snprintf(text, sizeof text, "extrapolation:\n  scheme: %s\n", impa_extrap_scheme_name(k));
        assert_int_equal(parse(text, &cfg, err, sizeof err), 0);
        assert_int_equal(cfg.extrap_scheme, k);
    }
    assert_int_equal(parse("extrapolation:\n  scheme: pysteps\n", &cfg, err, sizeof err),
                     IMPA_ECONFIG);
    assert_string_equal(err, "t.yaml:2: key 'extrapolation.scheme': 'pysteps' is not one of "
                             "impa-extrap-1/impa-extrap-2/impa-extrap-3");
}

/* model.tile_overlap: in range, its own bounds, and at most half of model.tile
 * (checked against the tile given in the same file, in either order). */
static void test_tile_overlap(void **state)
{
    impa_daemon_config_t cfg;
    char err[1024];
    assert_int_equal(parse("model:\n  tile: 96\n  tile_overlap: 48\n", &cfg, err, sizeof err),
                     0);
    assert_int_equal(cfg.tile, 96);
    assert_int_equal(cfg.tile_overlap, 48);
    assert_int_equal(parse("model:\n  tile_overlap: 0\n", &cfg, err, sizeof err), 0);
    assert_int_equal(cfg.tile_overlap, 0);
    /* tile 0 = whole grid: the overlap is unused, whatever its value */
    assert_int_equal(parse("model: {tile: 0, tile_overlap: 2048}\n", &cfg, err, sizeof err), 0);
    assert_int_equal(parse("model:\n  tile_overlap: 41\n", &cfg, err, sizeof err),
                     IMPA_ECONFIG);
    assert_string_equal(err, "t.yaml: key 'model.tile_overlap': 41 is more than half of "
                             "model.tile 80 (at most 40)");
    assert_int_equal(parse("model:\n  tile_overlap: 32\n  tile: 48\n", &cfg, err, sizeof err),
                     IMPA_ECONFIG);
    assert_string_equal(err, "t.yaml: key 'model.tile_overlap': 32 is more than half of "
                             "model.tile 48 (at most 24)");
    assert_int_equal(parse("model:\n  tile_overlap: -1\n", &cfg, err, sizeof err),
                     IMPA_ECONFIG);
    assert_string_equal(err, "t.yaml:2: key 'model.tile_overlap': -1 is below the minimum 0");
    assert_int_equal(parse("model:\n  tile_overlap: 4096\n", &cfg, err, sizeof err),
                     IMPA_ECONFIG);
    assert_string_equal(err,
                        "t.yaml:2: key 'model.tile_overlap': 4096 is above the maximum 2048");
    (void)state;
}

static void test_values(void **state)
{
    impa_daemon_config_t cfg;
    char err[1024];
    const char *text = "config_version: 1\n"
                       "domain:\n  name: brisbane\n  block: 4\n  nx: 512\n"
                       "window: {jitter_s: 30, gap_policy: extrapolate}\n"
                       "model:\n  weights: ../models/impa-net.nc\n  method: extrapolation\n"
                       "publish:\n  endpoints: [ipc:///tmp/a, 'tcp://*:6000']\n"
                       "  encoding: float32\n"
                       "  alerts:\n    threshold_dbz: 40.5\n    regions:\n"
                       "      - name: city\n        polygon: [[-27.4, 153.0], [-27.5, 153.1], "
                       "[-27.3, 153.2]]\n"
                       "verification:\n  thresholds: [10, 30]\n  enabled: false\n"
                       "log:\n  level: debug\n"
                       "output:\n  directory: /srv/fc\n";
    assert_int_equal(parse(text, &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.domain_name, "brisbane");
    assert_string_equal(cfg.publish.domain, "brisbane");
    assert_int_equal(cfg.block, 4);
    assert_int_equal(cfg.nx, 512);
    assert_int_equal(cfg.jitter_s, 30);
    assert_int_equal(cfg.gap_policy, IMPA_GAP_EXTRAPOLATE);
    assert_string_equal(cfg.weights, "/etc/impa/../models/impa-net.nc");
    assert_int_equal(cfg.method, IMPA_CFG_METHOD_EXTRAPOLATION);
    assert_int_equal(cfg.publish.n_endpoints, 2);
    assert_string_equal(cfg.publish.endpoints[1], "tcp://*:6000");
    assert_int_equal(cfg.publish.encoding, IMPA_ENCODING_FLOAT32);
    assert_true(cfg.alerts.threshold_dbz == 40.5f);
    assert_int_equal(cfg.alerts.n_regions, 1);
    assert_string_equal(cfg.alerts.regions[0].name, "city");
    assert_int_equal(cfg.alerts.regions[0].n_vertices, 3);
    assert_true(cfg.alerts.regions[0].lat[1] == -27.5 && cfg.alerts.regions[0].lon[2] == 153.2);
    assert_int_equal(cfg.n_thresholds, 2);
    assert_true(cfg.thresholds[1] == 30.0f);
    assert_int_equal(cfg.verify_enabled, 0);
    assert_int_equal(cfg.log_level, 7);
    assert_string_equal(cfg.output_dir, "/srv/fc");
    (void)state;
}

static void test_unknown_key(void **state)
{
    impa_daemon_config_t cfg;
    char err[1024];
    assert_int_equal(parse("domain:\n  name: x\n  nmae: y\n", &cfg, err, sizeof err),
                     IMPA_ECONFIG);
    assert_string_equal(err, "t.yaml:3: key 'domain.nmae': unknown key");
    assert_int_equal(parse("bogus: 1\n", &cfg, err, sizeof err), IMPA_ECONFIG);
    assert_string_equal(err, "t.yaml:1: key 'bogus': unknown key");
    (void)state;
}

static void test_wrong_type(void **state)
{
    impa_daemon_config_t cfg;
    char err[1024];
    assert_int_equal(parse("window:\n  jitter_s: abc\n", &cfg, err, sizeof err), IMPA_ECONFIG);
    assert_string_equal(err, "t.yaml:2: key 'window.jitter_s': 'abc' is not an integer");
    assert_int_equal(parse("window: 3\n", &cfg, err, sizeof err), IMPA_ECONFIG);
    assert_string_equal(err, "t.yaml:1: key 'window': expected a mapping (section), got a scalar");
    assert_int_equal(parse("publish:\n  endpoints: tcp://x:1\n", &cfg, err, sizeof err),
                     IMPA_ECONFIG);
    assert_string_equal(err,
                        "t.yaml:2: key 'publish.endpoints': expected a list of strings, got a scalar");
    assert_int_equal(parse("verification:\n  enabled: maybe\n", &cfg, err, sizeof err),
                     IMPA_ECONFIG);
    assert_string_equal(err,
                        "t.yaml:2: key 'verification.enabled': 'maybe' is not a boolean (true or false)");
    assert_int_equal(parse("window:\n  gap_policy: never\n", &cfg, err, sizeof err),
                     IMPA_ECONFIG);
    assert_string_equal(err,
                        "t.yaml:2: key 'window.gap_policy': 'never' is not one of wait/extrapolate");
    assert_int_equal(parse("domain:\n  block: [1, 2]\n", &cfg, err, sizeof err), IMPA_ECONFIG);
    assert_string_equal(err, "t.yaml:2: key 'domain.block': expected a integer, got a list");
    (void)state;
}

static void test_out_of_range(void **state)
{
    impa_daemon_config_t cfg;
    char err[1024];
    assert_int_equal(parse("window:\n  jitter_s: 9000\n", &cfg, err, sizeof err), IMPA_ECONFIG);
    assert_string_equal(err, "t.yaml:2: key 'window.jitter_s': 9000 is above the maximum 3600");
    assert_int_equal(parse("\n\ndomain:\n  block: 0\n", &cfg, err, sizeof err), IMPA_ECONFIG);
    assert_string_equal(err, "t.yaml:4: key 'domain.block': 0 is below the minimum 1");
    assert_int_equal(parse("verification:\n  thresholds: [20, 95]\n", &cfg, err, sizeof err),
                     IMPA_ECONFIG);
    assert_string_equal(err,
                        "t.yaml:2: key 'verification.thresholds': element 1: 95 is outside [-32, 80]");
    (void)state;
}

static void test_every_error_reported(void **state)
{
    impa_daemon_config_t cfg;
    char err[2048];
    const char *text = "config_version: 2\n"
                       "input:\n  zr_b: 9\n  colour: red\n"
                       "publish:\n  alerts:\n    regions:\n      - name: a\n"
                       "        polygon: [[1, 2], [3, 4]]\n"
                       "window:\n  jitter_s: 10\n  jitter_s: 20\n";
    assert_int_equal(parse(text, &cfg, err, sizeof err), IMPA_ECONFIG);
    assert_string_equal(
        err, "t.yaml:1: key 'config_version': 2 is above the maximum 1\n"
             "t.yaml:3: key 'input.zr_b': 9 is above the maximum 5\n"
             "t.yaml:4: key 'input.colour': unknown key\n"
             "t.yaml:9: key 'publish.alerts.regions[0].polygon': a polygon needs at least 3 "
             "vertices, got 2\n"
             "t.yaml:8: key 'publish.alerts.regions[0]': missing 'polygon'\n"
             "t.yaml:12: key 'window.jitter_s': given more than once");
    (void)state;
}

/* Region probability alerts: both keys read; bad values, one key without the
 * other, and a threshold that prob.thresholds does not list are clear errors. */
static void test_region_alert_keys(void **state)
{
    impa_daemon_config_t cfg;
    char err[2048];
    const char *ok = "publish:\n  alerts:\n    regions:\n      - name: city\n"
                     "        polygon: [[-27.4, 153.0], [-27.5, 153.1], [-27.3, 153.2]]\n"
                     "        alert_probability: 0.3\n        alert_within_minutes: 60\n";
    assert_int_equal(parse(ok, &cfg, err, sizeof err), 0);
    assert_true(cfg.alerts.regions[0].alert_probability == 0.3);
    assert_int_equal(cfg.alerts.regions[0].alert_within_minutes, 60);
    const char *bad = "publish:\n  alerts:\n    regions:\n      - name: a\n"
                      "        polygon: [[1, 2], [3, 4], [5, 5]]\n"
                      "        alert_probability: 1.5\n"
                      "      - name: b\n"
                      "        polygon: [[1, 2], [3, 4], [5, 5]]\n"
                      "        alert_within_minutes: 0\n"
                      "      - name: c\n"
                      "        polygon: [[1, 2], [3, 4], [5, 5]]\n"
                      "        alert_within_minutes: 30\n";
    assert_int_equal(parse(bad, &cfg, err, sizeof err), IMPA_ECONFIG);
    assert_string_equal(
        err, "t.yaml:6: key 'publish.alerts.regions[0].alert_probability': expected a "
             "probability above 0 and at most 1 (e.g. 0.3), got '1.5'\n"
             "t.yaml:9: key 'publish.alerts.regions[1].alert_within_minutes': expected whole "
             "minutes from 1 to 1440 (e.g. 60), got '0'\n"
             "t.yaml:10: key 'publish.alerts.regions[2]': alert_probability and "
             "alert_within_minutes go together (a region alerts when P >= alert_probability "
             "within alert_within_minutes)");
    const char *unlisted = "prob:\n  thresholds: [35]\n"
                           "publish:\n  alerts:\n    regions:\n      - name: city\n"
                           "        polygon: [[-27.4, 153.0], [-27.5, 153.1], [-27.3, 153.2]]\n"
                           "        alert_probability: 0.3\n        alert_within_minutes: 60\n";
    assert_int_equal(parse(unlisted, &cfg, err, sizeof err), IMPA_ECONFIG);
    assert_string_equal(err, "t.yaml: key 'publish.alerts.regions[0].alert_probability': region "
                             "'city' alerts on P(dBZ >= 45) (publish.alerts.threshold_dbz), which "
                             "prob.thresholds does not list");
    (void)state;
}

static void test_syntax_error(void **state)
{
    impa_daemon_config_t cfg;
    char err[1024];
    assert_int_equal(parse("domain:\n  name: [x\n", &cfg, err, sizeof err), IMPA_ECONFIG);
    assert_non_null(strstr(err, "t.yaml:"));
    assert_non_null(strstr(err, "YAML syntax error"));
    (void)state;
}

static void test_prepare_dirs(void **state)
{
    char tmpl[] = "/tmp/impa-cfg-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    impa_daemon_config_t cfg;
    char err[2048], text[1024];
    snprintf(text, sizeof text,
             "input: {directory: in}\noutput: {directory: out/deep}\n"
             "verification: {state_directory: st}\nmodel: {method: extrapolation}\n");
    assert_int_equal(impa_config_parse(text, strlen(text), "t.yaml", tmpl, &cfg, err, sizeof err),
                     0);
    assert_int_equal(impa_config_prepare_dirs(&cfg, err, sizeof err), 0);
    char p[PATH_MAX];
    struct stat st;
    snprintf(p, sizeof p, "%s/out/deep", tmpl);
    assert_int_equal(stat(p, &st), 0);
    snprintf(p, sizeof p, "%s/in/quarantine", tmpl);
    assert_string_equal(cfg.quarantine_dir, p);
    assert_int_equal(stat(p, &st), 0);

    /* A file where a directory should be, and unreadable weights: both reported. */
    snprintf(p, sizeof p, "%s/afile", tmpl);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(text, sizeof text,
             "input: {directory: in}\nverification: {state_directory: st}\n"
             "output: {directory: afile/x}\nmodel: {weights: nothere.nc}\n");
    assert_int_equal(impa_config_parse(text, strlen(text), "t.yaml", tmpl, &cfg, err, sizeof err),
                     0);
    assert_int_equal(impa_config_prepare_dirs(&cfg, err, sizeof err), IMPA_ECONFIG);
    char expect[2048];
    snprintf(expect, sizeof expect,
             "t.yaml: key 'output.directory': directory '%s/afile/x' cannot be created or "
             "written: Not a directory\n"
             "t.yaml: key 'model.weights': cannot read '%s/nothere.nc': No such file or directory",
             tmpl, tmpl);
    assert_string_equal(err, expect);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
    assert_int_equal(system(cmd), 0);
    (void)state;
}

static void test_shipped_config(void **state)
{
    const char *root = getenv("IMPA_SOURCE_ROOT");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/etc/impa-nowcast.yaml", root ? root : IMPA_SOURCE_ROOT);
    impa_daemon_config_t cfg;
    char err[4096];
    int rc = impa_config_load(path, &cfg, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    assert_string_equal(cfg.weights, IMPA_MODELDIR "/impa-net.nc");
    assert_string_equal(cfg.input_dir, "/var/lib/impa-nowcast/input");
    assert_int_equal(strlen(cfg.sha256), 64);
    assert_int_equal(cfg.tile, 80);
    assert_int_equal(cfg.tile_overlap, 32);
    (void)state;
}

/* The shipped file lists every key with its default: it must say exactly what
 * the key table says (the defaults are written once, in config.c; the file is
 * their commented copy and may not drift). */
static void test_shipped_config_is_defaults(void **state)
{
    (void)state;
    const char *root = getenv("IMPA_SOURCE_ROOT");
    char path[PATH_MAX], err[4096];
    snprintf(path, sizeof path, "%s/etc/impa-nowcast.yaml", root ? root : IMPA_SOURCE_ROOT);
    static impa_daemon_config_t shipped, defaults;
    assert_int_equal(impa_config_load(path, &shipped, err, sizeof err), 0);
    impa_config_defaults(&defaults);
    memcpy(defaults.path, shipped.path, sizeof defaults.path);
    memcpy(defaults.sha256, shipped.sha256, sizeof defaults.sha256);
    assert_memory_equal(&shipped, &defaults, sizeof shipped);
}

static void test_missing_file(void **state)
{
    impa_daemon_config_t cfg;
    char err[512];
    assert_int_equal(impa_config_load("/nonexistent/impa.yaml", &cfg, err, sizeof err), IMPA_EIO);
    assert_string_equal(err, "/nonexistent/impa.yaml: cannot open: No such file or directory");
    (void)state;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 17];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* docs/configuration.md must contain --print-config-reference's output verbatim. */
static void test_reference_matches_docs(void **state)
{
    const char *root = getenv("IMPA_SOURCE_ROOT");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/docs/configuration.md", root ? root : IMPA_SOURCE_ROOT);
    char *doc = slurp(path);
    assert_non_null(doc);
    char *ref = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&ref, &len);
    impa_config_print_reference(m);
    fclose(m);
    if (!strstr(doc, ref))
        fprintf(stderr, "docs/configuration.md is out of date; regenerate the table with "
                        "impa-nowcastd --print-config-reference\n");
    assert_non_null(strstr(doc, ref));
    free(ref);
    (void)state;
}

/* security.permissions: a config writable by others is a warning under warn and
 * refused under refuse; a private one passes both. */
static void test_permissions_policy(void **state)
{
    (void)state;
    char dir[] = "/tmp/impa-perm-XXXXXX", path[256], err[1024];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/impa.yaml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("log: {level: info}\n", f);
    fclose(f);
    impa_daemon_config_t cfg;
    impa_config_defaults(&cfg);
    snprintf(cfg.path, sizeof cfg.path, "%s", path);
    cfg.method = IMPA_CFG_METHOD_EXTRAPOLATION;
    snprintf(cfg.weights, sizeof cfg.weights, "%s/none.nc", dir);

    assert_int_equal(chmod(path, 0644), 0);
    cfg.perm_policy = 1;
    assert_int_equal(impa_service_check_permissions(&cfg, err, sizeof err), 0);
    assert_int_equal(chmod(path, 0666), 0);
    cfg.perm_policy = 0;
    assert_int_equal(impa_service_check_permissions(&cfg, err, sizeof err), 0);
    cfg.perm_policy = 1;
    err[0] = '\0';
    assert_int_equal(impa_service_check_permissions(&cfg, err, sizeof err), IMPA_ECONFIG);
    assert_non_null(strstr(err, "writable by group and others"));
    assert_non_null(strstr(err, "security.permissions: refuse"));
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_tile_overlap),
        cmocka_unit_test(test_every_error_reported),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_region_alert_keys),
        cmocka_unit_test(test_prepare_dirs),
        cmocka_unit_test(test_extrapolation_scheme),
        cmocka_unit_test(test_shipped_config),
        cmocka_unit_test(test_shipped_config_is_defaults),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_reference_matches_docs),
        cmocka_unit_test(test_calibration),
        cmocka_unit_test(test_permissions_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
