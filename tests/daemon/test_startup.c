/* One start-up check (src/daemon/startup.c): --check-config
 * (impa_service_check_config) and start-up (impa_service_create) run on the
 * same set of good and bad configurations and must give the same verdict and
 * the same message; the check leaves the filesystem exactly as it found it;
 * the shipped configuration validates from a checkout without --model. */
#include <dirent.h>
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
#include <netcdf.h>

#include "daemon/log.h"
#include "daemon/service.h"
#include "impa_build_config.h"

static char g_root[4096], g_weights[4200], g_dir[64];
/* XTRAP in a case: an advection model whose `extrapolation` attribute names a
 * scheme this build does not know; XTRA3: one trained on impa-extrap-3 (runs
 * with no change: the guidance computes the model file's scheme) */
static char g_xweights[128], g_x3weights[128];
/* TABLE3 in a case: the shipped probability table marked as fitted on impa-extrap-2 (the
 * published extrapolation is impa-extrap-3 by default) */
static char g_table3[128];

/* Everything under dir (recursively), with types, sizes, modes and mtimes, as
 * text: equal before and after means nothing was created, removed or changed. */
static void tree(const char *dir, char *out, size_t len)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char names[256][256];
    int n = 0;
    while ((e = readdir(d)) && n < 256)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            snprintf(names[n++], sizeof names[0], "%s", e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    for (int i = 0; i < n; i++) {
        char p[4400];
        struct stat st;
        snprintf(p, sizeof p, "%.2000s/%.255s", dir, names[i]);
        if (lstat(p, &st))
            continue;
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s %o %lld %lld.%09ld\n", p, (unsigned)st.st_mode,
                 (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        if (S_ISDIR(st.st_mode))
            tree(p, out, len);
    }
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

typedef struct {
    const char *name;
    const char *yaml;      /* WEIGHTS: the test model's file */
    int valid;             /* expected verdict of both */
    const char *message;   /* a part of the message both give, NULL when valid */
} case_t;

/* The test set. Every configuration lives in its own fresh directory: in/,
 * out/, st/ relative to it. */
static const case_t cases[] = {
    {"good", "model: {weights: WEIGHTS, threads: 1}\n", 1, NULL},
    {"extrapolation without weights",
     "model: {method: extrapolation, weights: none.nc}\n", 1, NULL},
    {"no verification, no state directory",
     "model: {weights: WEIGHTS}\nverification: {enabled: false, state_directory: /proc/nope}\n", 1,
     NULL},
    {"calibration needs an advection model",
     "model: {weights: WEIGHTS, calibration: extrapolation}\n", 0,
     "key 'model.calibration': extrapolation needs an advection-guided model"},
    {"jitter above half the step", "model: {weights: WEIGHTS}\nwindow: {jitter_s: 300}\n", 0,
     "key 'window.jitter_s': 300 must be below half the model step (600 s)"},
    {"model trained on an unknown extrapolation", "model: {weights: XTRAP}\n", 0,
     "was trained on extrapolation 'impa-extrap-9', which this build does not know (it knows "
     "impa-extrap-1, impa-extrap-2, impa-extrap-3)"},
    {"model trained on impa-extrap-3", "model: {weights: XTRA3}\n", 1, NULL},
    {"published extrapolation impa-extrap-1",
     "model: {weights: XTRA3}\nextrapolation: {scheme: impa-extrap-1}\n", 1, NULL},
    {"unknown published extrapolation",
     "model: {weights: WEIGHTS}\nextrapolation: {scheme: impa-extrap-4}\n", 0,
     "key 'extrapolation.scheme': 'impa-extrap-4' is not one of "
     "impa-extrap-1/impa-extrap-2/impa-extrap-3"},
    {"weights missing", "model: {weights: nothere.nc}\n", 0,
     "key 'model.weights': cannot read"},
    {"weights not a model", "model: {weights: impa.yaml}\n", 0, "key 'model.weights': "},
    {"directory under a file", "model: {weights: WEIGHTS}\noutput: {directory: impa.yaml/x}\n", 0,
     "key 'output.directory': directory"},
    {"state directory is a file",
     "model: {weights: WEIGHTS}\nverification: {state_directory: impa.yaml}\n", 0,
     "key 'verification.state_directory': directory"},
    {"unknown key and bad value", "model: {weights: WEIGHTS}\nwindow: {gap_policy: later}\nfoo: 1\n",
     0, "key 'foo': unknown key"},
    {"curve without a key", "model: {weights: WEIGHTS}\npublish: {curve: {enabled: true}}\n", 0,
     "key 'publish.curve.secret_key_file': required"},
    {"probability table of another scheme",
     "model: {method: extrapolation, weights: none.nc}\nprob: {calibration: TABLE3}\n", 1, NULL},
    {"writable config refused",
     "model: {weights: WEIGHTS}\nsecurity: {permissions: refuse}\n", 0,
     "(security.permissions: refuse)"},
};

/* What the check's report of a valid case must say (a warning), by case name. */
static const struct {
    const char *name, *report;
} reports[] = {
    {"probability table of another scheme",
     "was fitted on forecasts of extrapolation 'impa-extrap-2', but the daemon's forecasts "
     "come from 'impa-extrap-3'"},
};

static const char *report_of(const char *name)
{
    for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++)
        if (!strcmp(reports[i].name, name))
            return reports[i].report;
    return NULL;
}

static void case_dir(int i, char *dir, size_t len)
{
    snprintf(dir, len, "%s/case%02d", g_dir, i);
    mkdir(dir, 0755);
}

static void write_case(int i, char *cfg, size_t len)
{
    char dir[128], text[16384], body[8192];
    case_dir(i, dir, sizeof dir);
    /* WEIGHTS in a case: the test model */
    const char *y = cases[i].yaml, *at = strstr(y, "WEIGHTS"), *xt = strstr(y, "XTRAP"),
               *x3 = strstr(y, "XTRA3"), *t3 = strstr(y, "TABLE3");
    if (t3)
        snprintf(body, sizeof body, "%.*s%s%s", (int)(t3 - y), y, g_table3, t3 + 6);
    else if (xt)
        snprintf(body, sizeof body, "%.*s%s%s", (int)(xt - y), y, g_xweights, xt + 5);
    else if (x3)
        snprintf(body, sizeof body, "%.*s%s%s", (int)(x3 - y), y, g_x3weights, x3 + 5);
    else if (at)
        snprintf(body, sizeof body, "%.*s%s%s", (int)(at - y), y, g_weights, at + 7);
    else
        snprintf(body, sizeof body, "%s", y);
    snprintf(text, sizeof text,
             "input: {directory: in}\noutput: {directory: out, retention_hours: 0}\n"
             "verification: {state_directory: st}\n"
             "publish: {endpoints: ['ipc://%s/pub%02d'], request_endpoint: ''}\n%s",
             g_dir, i, body);
    /* a later `output:` or `verification:` in body would repeat a key: merge */
    if (strstr(body, "output:") || strstr(body, "verification:"))
        snprintf(text, sizeof text,
                 "input: {directory: in}\n%s%s"
                 "publish: {endpoints: ['ipc://%s/pub%02d'], request_endpoint: ''}\n%s",
                 strstr(body, "output:") ? "" : "output: {directory: out}\n",
                 strstr(body, "verification:") ? "" : "verification: {state_directory: st}\n",
                 g_dir, i, body);
    snprintf(cfg, len, "%s/impa.yaml", dir);
    int world = strstr(cases[i].name, "writable config") != NULL;
    write_file(cfg, text, world ? 0666 : 0644);
}

/* --check-config and start-up agree on every configuration of the set: the
 * same verdict, and a refusal in the same words; the check changes nothing. */
static void test_check_agrees_with_startup(void **state)
{
    (void)state;
    static char before[1 << 16], after[1 << 16];
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        char cfg[256], dir[128], report[8192], e1[8192] = "", e2[8192] = "";
        write_case(i, cfg, sizeof cfg);
        case_dir(i, dir, sizeof dir);
        impa_service_opts_t o = {.config_path = cfg};
        before[0] = after[0] = '\0';
        tree(dir, before, sizeof before);
        int rc1 = impa_service_check_config(&o, report, sizeof report, e1, sizeof e1);
        tree(dir, after, sizeof after);
        assert_string_equal(before, after); /* nothing created, nothing changed */

        impa_service_t *svc = NULL;
        int rc2 = impa_service_create(&o, &svc, e2, sizeof e2);
        printf("%-38s check %d, start-up %d%s%s\n", cases[i].name, rc1, rc2, rc1 ? ": " : "",
               rc1 ? e1 : "");
        assert_int_equal(rc1 == 0, cases[i].valid);
        assert_int_equal(rc2 == 0, cases[i].valid);
        if (cases[i].valid) {
            assert_non_null(svc);
            assert_non_null(strstr(report, ": valid (sha256 "));
            /* what the check announced, start-up made */
            char in[160];
            snprintf(in, sizeof in, "%s/in", dir);
            assert_non_null(strstr(report, "does not exist; start-up creates it"));
            const char *want = report_of(cases[i].name);
            if (want && !strstr(report, want))
                fail_msg("%s: '%s' not in the report '%s'", cases[i].name, want, report);
            assert_int_equal(access(in, F_OK), 0);
        } else {
            assert_null(svc);
            assert_int_equal(rc1, rc2);
            assert_string_equal(e1, e2);
            if (!strstr(e1, cases[i].message))
                fail_msg("%s: '%s' not in '%s'", cases[i].name, cases[i].message, e1);
        }
        impa_service_destroy(&svc);
    }
}

/* The shipped etc/impa-nowcast.yaml from the source tree, without --model: the
 * default weights are not installed, the checkout's models/impa-net.nc is
 * used, the shipped probability table fits its scheme, and the check passes
 * and creates nothing. */
static void test_shipped_config_from_checkout(void **state)
{
    (void)state;
    char cfg[4200], in[128], out[128], st[128], report[8192], err[8192];
    snprintf(cfg, sizeof cfg, "%s/etc/impa-nowcast.yaml", g_root);
    snprintf(in, sizeof in, "%s/shipped/in", g_dir);
    snprintf(out, sizeof out, "%s/shipped/out", g_dir);
    snprintf(st, sizeof st, "%s/shipped/st", g_dir);
    if (access(IMPA_MODELDIR "/impa-net.nc", R_OK) == 0) {
        printf("skip: a model is installed in %s\n", IMPA_MODELDIR);
        return;
    }
    impa_service_opts_t o = {.config_path = cfg, .input_dir = in, .output_dir = out,
                             .state_dir = st};
    int rc = impa_service_check_config(&o, report, sizeof report, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    printf("%s", report);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(report, "using the source checkout's"));
    assert_non_null(strstr(report, "models/impa-net.nc"));
    assert_non_null(strstr(report, ": valid (sha256 "));
    /* the shipped probability table matches the shipped configuration's forecasts
     * (the network's advection input): the product is on and the start-up does not
     * warn that it may be miscalibrated */
    assert_null(strstr(report, "no calibration table installed"));
    assert_null(strstr(report, "was fitted on forecasts of extrapolation"));
    char shipped[160];
    snprintf(shipped, sizeof shipped, "%s/shipped", g_dir);
    assert_int_equal(access(shipped, F_OK), -1);
}

int main(void)
{
    const char *root = getenv("IMPA_SOURCE_ROOT");
    snprintf(g_root, sizeof g_root, "%s", root ? root : IMPA_SOURCE_ROOT);
    snprintf(g_weights, sizeof g_weights, "%s/tests/data/golden_c_weights.nc", g_root);
    if (access(g_weights, R_OK)) {
        printf("skip: %s not found\n", g_weights);
        return 77;
    }
    snprintf(g_dir, sizeof g_dir, "/tmp/impa-startup-XXXXXX");
    if (!mkdtemp(g_dir))
        return 1;
    /* the advection golden model, marked as trained on an unknown scheme and on
     * impa-extrap-3 */
    snprintf(g_xweights, sizeof g_xweights, "%s/xtrap.nc", g_dir);
    snprintf(g_x3weights, sizeof g_x3weights, "%s/xtrap3.nc", g_dir);
    const char *copies[2] = {g_xweights, g_x3weights}, *schemes[2] = {"impa-extrap-9",
                                                                       "impa-extrap-3"};
    for (int k = 0; k < 2; k++) {
        char cp[8400];
        snprintf(cp, sizeof cp, "cp '%s/tests/data/golden_d_weights.nc' '%s'", g_root,
                 copies[k]);
        int ncid;
        if (system(cp) || nc_open(copies[k], NC_WRITE, &ncid) != NC_NOERR || nc_redef(ncid) ||
            nc_put_att_text(ncid, NC_GLOBAL, "extrapolation", strlen(schemes[k]), schemes[k]) ||
            nc_close(ncid)) {
            printf("cannot make %s\n", copies[k]);
            return 1;
        }
    }
    snprintf(g_table3, sizeof g_table3, "%s/table3.txt", g_dir);
    char cp[8400];
    snprintf(cp, sizeof cp,
             "sed -e '/^scheme /d' -e 's/^knots /scheme impa-extrap-2\\nknots /' "
             "'%s/models/prob-calibration.txt' > '%s'",
             g_root, g_table3);
    if (system(cp)) {
        printf("cannot make %s\n", g_table3);
        return 1;
    }
    FILE *logf = fopen("/dev/null", "w");
    impa_log_setup(IMPA_LOG_ERR, 1, logf);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_agrees_with_startup),
        cmocka_unit_test(test_shipped_config_from_checkout),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd))
        rc = 1;
    fclose(logf);
    return rc;
}
