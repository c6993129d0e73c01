/* CAP 1.2: a track produces Alert, then Update (referencing the Alert), then
 * Cancel (referencing the Update); the files validate against the OASIS schema.
 * Skips (77) when the schema in $IMPA_SHARED_DATA/../schemas or xmllint is absent. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "impa/alerts.h"
#include "publish/publish-impl.h"
#include "pubtest.h"

#define NX 64
#define NY 48
#define NL 3

static char g_schema[4096];
static float g_dbz[NL * NY * NX];

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

/* Files in dir sorted by name (identifiers carry the issue time) -> names. */
static int list_xml(const char *dir, char names[][256], int max)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) && n < max)
        if (strstr(e->d_name, ".xml") && e->d_name[0] != '.')
            snprintf(names[n++], 256, "%s", e->d_name);
    closedir(d);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(names[j], names[i]) < 0) {
                char t[256];
                memcpy(t, names[i], 256);
                memcpy(names[i], names[j], 256);
                memcpy(names[j], t, 256);
            }
    return n;
}

static void test_cap_sequence(void **state)
{
    char dir[] = "/tmp/impa-cap-XXXXXX";
    assert_non_null(mkdtemp(dir));
    impa_publish_config_t cfg;
    pt_config(&cfg);
    cfg.cap_enabled = 1;
    snprintf(cfg.cap_dir, sizeof cfg.cap_dir, "%s", dir);
    snprintf(cfg.cap_sender, sizeof cfg.cap_sender, "nowcast@example.org");
    impa_publisher_t *pub = NULL;
    char err[256];
    assert_int_equal(impa_publisher_create(&cfg, &pub, NULL, 0, err, sizeof err), 0);
    void *ctx = zmq_ctx_new();
    void *sub = pt_sub(ctx, impa_publisher_endpoint(pub, 0));
    assert_true(pt_wait_ready(pub, sub, 3.0));
    impa_grid_t g = pt_latlon_grid(NX, NY);
    impa_forecast_t fc;
    impa_alert_tracker_t *tr = pt_tracker();
    for (int cyc = 0; cyc < 3; cyc++) {
        for (size_t i = 0; i < (size_t)NL * NX * NY; i++)
            g_dbz[i] = 10.0f;
        if (cyc < 2)
            for (int k = 0; k < NL; k++)
                pt_disk(g_dbz + (size_t)k * NX * NY, NX, NY, 20 + 3 * (k + cyc), 20, 8);
        if (cyc == 0) /* 61 dBZ core: Extreme */
            g_dbz[20 * NX + 20] = 61.0f;
        pt_forecast(&fc, &g, g_dbz, NL, 1700000000 + 600 * cyc);
        assert_int_equal(pt_send_cycle(pub, tr, &fc, err, sizeof err), 0);
    }
    assert_int_equal(impa_publisher_cap_count(pub), 3);
    int n_cap_msgs = 0;
    pt_msg_t m;
    while (pt_recv(sub, 300, &m)) {
        if (strcmp(m.topic, "impa.cap.test") == 0) {
            n_cap_msgs++;
            assert_non_null(strstr((char *)m.payload, "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">"));
        }
        pt_msg_free(&m);
    }
    assert_int_equal(n_cap_msgs, 3);
    char names[8][256];
    assert_int_equal(list_xml(dir, names, 8), 3);
    char *x[3];
    for (int i = 0; i < 3; i++) {
        char path[4400], cmd[9000];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        x[i] = slurp(path);
        assert_non_null(x[i]);
        snprintf(cmd, sizeof cmd, "xmllint --noout --schema '%s' '%s' 2>/dev/null", g_schema, path);
        int rc = system(cmd);
        if (rc != 0)
            print_message("CAP file failing validation: %s\n%s\n", path, x[i]);
        assert_int_equal(rc, 0);
    }
    assert_non_null(strstr(x[0], "<msgType>Alert</msgType>"));
    assert_non_null(strstr(x[0], "<severity>Extreme</severity>"));
    assert_non_null(strstr(x[0], "<urgency>Immediate</urgency>"));
    assert_non_null(strstr(x[0], "<sent>2023-11-14T22:13:20+00:00</sent>"));
    assert_non_null(strstr(x[0], "<onset>2023-11-14T22:23:20+00:00</onset>"));
    assert_non_null(strstr(x[0], "<polygon>"));
    assert_null(strstr(x[0], "<references>"));
    assert_non_null(strstr(x[1], "<msgType>Update</msgType>"));
    assert_non_null(strstr(x[1], "<severity>Severe</severity>")); /* 55 dBZ peak */
    /* Update references the Alert: "sender,identifier,sent" */
    char ident0[256];
    snprintf(ident0, sizeof ident0, "%.*s", (int)(strlen(names[0]) - 4), names[0]);
    char ref[512];
    snprintf(ref, sizeof ref, "<references>nowcast@example.org,%s,2023-11-14T22:13:20+00:00</references>", ident0);
    assert_non_null(strstr(x[1], ref));
    assert_non_null(strstr(x[2], "<msgType>Cancel</msgType>"));
    char ident1[256];
    snprintf(ident1, sizeof ident1, "%.*s", (int)(strlen(names[1]) - 4), names[1]);
    assert_non_null(strstr(x[2], ident1));
    for (int i = 0; i < 3; i++)
        free(x[i]);
    impa_alert_tracker_destroy(&tr);
    assert_int_equal(pt_teardown(ctx, &sub, 1, &pub, dir), 0);
}

static void test_cap_mapping(void **state)
{
    assert_string_equal(impa_cap_severity(44.9), "Minor");
    assert_string_equal(impa_cap_severity(50), "Moderate");
    assert_string_equal(impa_cap_severity(55), "Severe");
    assert_string_equal(impa_cap_severity(60), "Extreme");
    assert_string_equal(impa_cap_urgency(10), "Immediate");
    assert_string_equal(impa_cap_urgency(60), "Expected");
    assert_string_equal(impa_cap_urgency(70), "Future");
    assert_string_equal(impa_cap_certainty(30), "Likely");
    assert_string_equal(impa_cap_certainty(90), "Possible");
    assert_string_equal(impa_cap_certainty(120), "Unlikely");
}

int main(void)
{
    const char *data = getenv("IMPA_SHARED_DATA");
    if (!data) {
        printf("IMPA_SHARED_DATA not set: skipping CAP schema test\n");
        return 77;
    }
    snprintf(g_schema, sizeof g_schema, "%s/../schemas/CAP-v1.2.xsd", data);
    if (access(g_schema, R_OK) != 0) {
        printf("%s not found: skipping CAP schema test\n", g_schema);
        return 77;
    }
    if (system("xmllint --version >/dev/null 2>&1") != 0) {
        printf("xmllint not found (Debian: libxml2-utils): skipping CAP schema test\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap_mapping),
        cmocka_unit_test(test_cap_sequence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
