/* CAP 1.2: a track produces Alert, then Update (referencing the Alert), then
 * Cancel (referencing the Update); `sent` is the time of sending, the scan time a
 * parameter; a Cancel carries severity Minor / certainty Unlikely, not the
 * track's. Every message is well-formed (libxml2 parses it) and validates against
 * the OASIS schema (libxml2's XML Schema validator) shipped in
 * tests/publish/schemas/CAP-v1.2.xsd (NOTICE.md there: source and licence), or
 * $IMPA_CAP_XSD when set; a missing schema fails the test. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>

#include "impa/alerts.h"
#include "publish/json.h"
#include "publish/publish-impl.h"
#include "pubtest.h"

#define NX 64
#define NY 48
#define NL 3

static char g_schema[4096];
static xmlSchemaPtr g_xsd;

/* 0: well-formed and (with the schema) valid; prints libxml2's reasons otherwise. */
static int validate(const char *xml)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "cap.xml", NULL, XML_PARSE_NONET);
    if (!doc)
        return -1;
    int rc = 0;
    if (g_xsd) {
        xmlSchemaValidCtxtPtr v = xmlSchemaNewValidCtxt(g_xsd);
        rc = xmlSchemaValidateDoc(v, doc);
        xmlSchemaFreeValidCtxt(v);
    }
    xmlFreeDoc(doc);
    return rc;
}
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

/* A publisher of cfg and a subscriber that receives from it. */
static void open_pub(const impa_publish_config_t *cfg, impa_publisher_t **pub, void **ctx,
                     void **sub)
{
    char err[256];
    assert_int_equal(impa_publisher_create(cfg, pub, NULL, 0, err, sizeof err), 0);
    *ctx = zmq_ctx_new();
    *sub = pt_sub(*ctx, impa_publisher_endpoint(*pub, 0));
    assert_true(pt_wait_ready(*pub, *sub, 3.0));
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
    void *ctx = NULL, *sub = NULL;
    open_pub(&cfg, &pub, &ctx, &sub);
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
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        x[i] = slurp(path);
        assert_non_null(x[i]);
        int rc = validate(x[i]);
        if (rc != 0)
            print_message("CAP file failing validation: %s\n%s\n", path, x[i]);
        assert_int_equal(rc, 0);
    }
    assert_non_null(strstr(x[0], "<msgType>Alert</msgType>"));
    assert_non_null(strstr(x[0], "<severity>Extreme</severity>"));
    assert_non_null(strstr(x[0], "<urgency>Immediate</urgency>"));
    /* sent: the time of sending (now), not the scan time; the scan time a parameter */
    assert_null(strstr(x[0], "<sent>2023-11-14T22:13:20+00:00</sent>"));
    char now_s[32];
    impa_cap_time((int64_t)time(NULL), now_s, sizeof now_s);
    assert_non_null(strstr(x[0], "<sent>"));
    assert_memory_equal(strstr(x[0], "<sent>") + 6, now_s, 13); /* same date and hour */
    assert_non_null(strstr(x[0], "<valueName>issue_time</valueName>\n      <value>2023-11-14T22:13:20+00:00</value>"));
    assert_non_null(strstr(x[0], "<onset>2023-11-14T22:23:20+00:00</onset>"));
    assert_non_null(strstr(x[0], "<polygon>"));
    assert_null(strstr(x[0], "<references>"));
    assert_non_null(strstr(x[1], "<msgType>Update</msgType>"));
    assert_non_null(strstr(x[1], "<severity>Severe</severity>")); /* 55 dBZ peak */
    /* Update references the Alert: "sender,identifier,sent" */
    char ident0[256];
    snprintf(ident0, sizeof ident0, "%.*s", (int)(strlen(names[0]) - 4), names[0]);
    char ref[512];
    const char *st = strstr(x[0], "<sent>") + 6;
    snprintf(ref, sizeof ref, "<references>nowcast@example.org,%s,%.25s</references>", ident0, st);
    assert_non_null(strstr(x[1], ref));
    assert_non_null(strstr(x[2], "<msgType>Cancel</msgType>"));
    /* a cancellation: not the track's severity (Extreme at cycle 0, Severe at 1) */
    assert_non_null(strstr(x[2], "<urgency>Past</urgency>"));
    assert_non_null(strstr(x[2], "<severity>Minor</severity>"));
    assert_non_null(strstr(x[2], "<certainty>Unlikely</certainty>"));
    assert_non_null(strstr(x[2], "<responseType>AllClear</responseType>"));
    assert_null(strstr(x[2], "<valueName>max_dbz</valueName>"));
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

/* Text that needs escaping (domain in areaDesc) is escaped by libxml2. */
static void test_cap_escaping(void **state)
{
    (void)state;
    impa_cap_event_t ev = {0};
    ev.cell_id = 7;
    ev.event = IMPA_ALERT_NEW;
    ev.onset = 1700000600, ev.expires = 1700001200;
    ev.max_dbz = 52, ev.area_km2 = 10, ev.first_lead_minutes = 10;
    static char xml[65536];
    char ident[192], sent[32];
    int len = impa_cap_format(&ev, "a b,<c>", "x<&>\"y", "0011223344556677", 1700000000,
                              1700000042, ident, sent, xml, sizeof xml);
    assert_true(len > 0);
    assert_int_equal(validate(xml), 0);
    assert_non_null(strstr(xml, "<areaDesc>x&lt;&amp;&gt;"));
    assert_non_null(strstr(xml, "<sender>a_b__c_</sender>"));
    assert_non_null(strstr(xml, "<sent>2023-11-14T22:14:02+00:00</sent>"));
    assert_string_equal(sent, "2023-11-14T22:14:02+00:00");
    assert_int_equal(impa_cap_format(&ev, "s", "d", "r", 1700000000, 1700000042, ident, sent, xml,
                                     64), IMPA_ENOSPC);
}

/* With the probability product: certainty from the probability, the
 * probability itself as a parameter; the message still validates. */
static void test_cap_probability(void **state)
{
    (void)state;
    assert_string_equal(impa_cap_certainty_prob(0.62), "Likely");
    assert_string_equal(impa_cap_certainty_prob(0.5), "Likely");
    assert_string_equal(impa_cap_certainty_prob(0.2), "Possible");
    assert_string_equal(impa_cap_certainty_prob(0.05), "Unlikely");
    impa_cap_event_t ev = {0};
    ev.cell_id = 9;
    ev.event = IMPA_ALERT_NEW;
    ev.onset = 1700000600, ev.expires = 1700001200;
    ev.max_dbz = 52, ev.area_km2 = 10, ev.first_lead_minutes = 100; /* by lead: Unlikely */
    ev.has_prob = 1, ev.prob = 0.62;
    static char xml[65536];
    char ident[192], sent[32];
    int len = impa_cap_format(&ev, "s", "d", "0011223344556677", 1700000000, 1700000042, ident,
                              sent, xml, sizeof xml);
    assert_true(len > 0);
    assert_int_equal(validate(xml), 0);
    assert_non_null(strstr(xml, "<certainty>Likely</certainty>"));
    assert_non_null(strstr(xml, "<valueName>probability</valueName>"));
    assert_non_null(strstr(xml, "<value>0.62</value>"));
    ev.has_prob = 0;
    len = impa_cap_format(&ev, "s", "d", "0011223344556677", 1700000000, 1700000042, ident, sent,
                          xml, sizeof xml);
    assert_true(len > 0);
    assert_non_null(strstr(xml, "<certainty>Unlikely</certainty>"));
    assert_null(strstr(xml, "<valueName>probability</valueName>"));
}

/* An Update only when something a consumer acts on changed: a storm that stays
 * as it was gets no message in cycles 1 and 2; in cycle 3 its last message would
 * expire within cap_update_minutes, so it is renewed; in cycle 4 its area doubles
 * (Update); cycle 5 it is gone (Cancel, referencing the cycle-4 Update). */
static void test_cap_update_only_on_change(void **state)
{
    (void)state;
    impa_publish_config_t cfg;
    pt_config(&cfg);
    cfg.cap_enabled = 1;
    assert_true(cfg.cap_update_area_percent == 25 && cfg.cap_update_minutes == 10);
    impa_publisher_t *pub = NULL;
    char err[256];
    void *ctx = NULL, *sub = NULL;
    open_pub(&cfg, &pub, &ctx, &sub);
    impa_grid_t g = pt_latlon_grid(NX, NY);
    impa_forecast_t fc;
    impa_alert_tracker_t *tr = pt_tracker();
    const uint64_t sent_after[6] = {1, 1, 1, 2, 3, 4}, unchanged_after[6] = {0, 1, 2, 2, 2, 2};
    for (int cyc = 0; cyc < 6; cyc++) {
        for (size_t i = 0; i < (size_t)NL * NX * NY; i++)
            g_dbz[i] = 10.0f;
        if (cyc < 5)
            for (int k = 0; k < NL; k++)
                pt_disk(g_dbz + (size_t)k * NX * NY, NX, NY, 20, 20, cyc == 4 ? 12 : 8);
        pt_forecast(&fc, &g, g_dbz, NL, 1700000000 + 600 * cyc);
        assert_int_equal(pt_send_cycle(pub, tr, &fc, err, sizeof err), 0);
        assert_int_equal(impa_publisher_cap_count(pub), sent_after[cyc]);
        assert_int_equal(impa_publisher_cap_unchanged(pub), unchanged_after[cyc]);
    }
    char *kinds[4];
    int n = 0;
    pt_msg_t m;
    while (n < 4 && pt_recv(sub, 500, &m)) {
        if (strcmp(m.topic, "impa.cap.test") == 0) {
            assert_int_equal(validate((char *)m.payload), 0);
            kinds[n++] = strdup((char *)m.payload);
        }
        pt_msg_free(&m);
    }
    assert_int_equal(n, 4);
    assert_non_null(strstr(kinds[0], "<msgType>Alert</msgType>"));
    assert_non_null(strstr(kinds[1], "<msgType>Update</msgType>"));
    assert_non_null(strstr(kinds[2], "<msgType>Update</msgType>"));
    assert_non_null(strstr(kinds[3], "<msgType>Cancel</msgType>"));
    /* each message references the one before it, across the unchanged cycles */
    for (int i = 1; i < 4; i++) {
        char *id0 = strstr(kinds[i - 1], "<identifier>");
        assert_non_null(id0);
        char ident[192];
        assert_int_equal(sscanf(id0 + 12, "%191[^<]", ident), 1);
        char *refs = strstr(kinds[i], "<references>");
        assert_non_null(refs);
        assert_non_null(strstr(refs, ident));
    }
    for (int i = 0; i < 4; i++)
        free(kinds[i]);
    impa_alert_tracker_destroy(&tr);
    zmq_close(sub);
    zmq_ctx_term(ctx);
    impa_publisher_destroy(&pub);
}

/* Alerts at once, one watch region "town" (rows/cols about 5-30 of the test
 * grid) alerting on P >= 0.5 within 20 min. */
static void town_config(impa_alert_config_t *ac)
{
    impa_alert_config_default(ac);
    impa_alert_config_immediate(ac);
    ac->n_regions = 1;
    impa_watch_region_t *reg = &ac->regions[0];
    snprintf(reg->name, sizeof reg->name, "town");
    const double la[4] = {-27.05, -27.05, -27.30, -27.30}, lo[4] = {150.05, 150.30, 150.30, 150.05};
    for (int i = 0; i < 4; i++)
        reg->lat[i] = la[i], reg->lon[i] = lo[i];
    reg->n_vertices = 4;
    reg->alert_probability = 0.5;
    reg->alert_within_minutes = 20;
}

/* A watch region's probability alert end to end through the tracker and the
 * publisher: the maximum P(>= 45) over the region per lead (a higher P outside
 * the region and beyond the 20-min window does not count), in the GeoJSON region
 * feature; CAP Alert when P >= 0.5 within 20 min, nothing while it stays (0.70 ->
 * 0.72), Cancel (referencing the Alert) when it drops, a new Alert after; every
 * message validates against the CAP 1.2 schema. */
static void test_cap_region_alerts(void **state)
{
    (void)state;
    impa_publish_config_t cfg;
    pt_config(&cfg);
    cfg.cap_enabled = 1;
    cfg.cap_update_minutes = 5; /* the 20-min window's message is not renewed after 10 min */
    impa_publisher_t *pub = NULL;
    char err[256], buf[64];
    void *ctx = NULL, *sub = NULL;
    open_pub(&cfg, &pub, &ctx, &sub);
    impa_grid_t g = pt_latlon_grid(NX, NY);
    impa_alert_config_t ac;
    town_config(&ac);
    impa_alert_tracker_t *tr = NULL;
    assert_int_equal(impa_alert_tracker_create(&ac, &tr, err, sizeof err), 0);
    static float pv[NL * NY * NX];
    float radius[NL] = {1, 2, 3};
    impa_prob_field_t pf = {.n_thresholds = 1, .thresholds = {45.0f}, .n_leads = NL, .ny = NY,
                            .nx = NX, .p = pv, .radius_km = radius, .calibration = "t"};
    /* in-region P at lead 1 (20 min) per cycle, and the event it gives */
    const float in_p[4] = {0.70f, 0.72f, 0.10f, 0.60f};
    const char *events[4] = {"new", "updated", "ended", "new"};
    const char *msg[3] = {"<msgType>Alert</msgType>", "<msgType>Cancel</msgType>",
                          "<msgType>Alert</msgType>"};
    impa_forecast_t fc;
    impa_json_t j;
    impa_json_init(&j);
    for (int cyc = 0; cyc < 4; cyc++) {
        for (size_t i = 0; i < (size_t)NL * NX * NY; i++)
            g_dbz[i] = 10.0f, pv[i] = 0.05f;
        pv[(size_t)1 * NX * NY + 15 * NX + 15] = in_p[cyc];       /* row 15 col 15: inside */
        pv[(size_t)1 * NX * NY + 40 * NX + 50] = 0.99f;           /* outside the region */
        pv[(size_t)2 * NX * NY + 10 * NX + 10] = 0.95f;           /* inside, at 30 min */
        pv[(size_t)0 * NX * NY + 12 * NX + 12] = NAN;
        pt_forecast(&fc, &g, g_dbz, NL, 1700000000 + 600 * cyc);
        fc.prob = &pf;
        assert_int_equal(pt_send_cycle(pub, tr, &fc, err, sizeof err), 0);
        const impa_alerts_t *a = impa_alert_tracker_alerts(tr);
        assert_int_equal(a->n_region_leads, NL);
        assert_true(fabs(a->region_prob[0] - 0.05) < 1e-6);
        assert_true(fabs(a->region_prob[1] - in_p[cyc]) < 1e-6);
        assert_true(fabs(a->region_prob[2] - 0.95) < 1e-6);
        assert_string_equal(impa_alert_event_name(a->region_alerts[0].event), events[cyc]);
        assert_true(fabs(a->region_alerts[0].probability - in_p[cyc]) < 1e-6);
        assert_int_equal(a->region_alerts[0].first_lead, in_p[cyc] >= 0.5f ? 1 : -1);
        /* the GeoJSON region feature */
        fc.alerts = a;
        assert_int_equal(impa_alerts_geojson(&j, &fc), 0);
        impa_json_node_t *h = malloc(8192 * sizeof *h);
        assert_true(impa_json_parse(j.buf, j.len, h, 8192) > 0);
        int feats = impa_json_get(h, 0, "features"), rf = -1;
        for (int f = h[feats].first_child; f >= 0; f = h[f].next) {
            int p = impa_json_get(h, f, "properties");
            if (strcmp(impa_json_get_str(h, p, "kind", buf, sizeof buf, ""), "watch_region") == 0)
                rf = f;
        }
        assert_true(rf >= 0);
        int p = impa_json_get(h, rf, "properties"), pr = impa_json_get(h, p, "probability");
        assert_string_equal(impa_json_get_str(h, p, "region", buf, sizeof buf, ""), "town");
        assert_int_equal(h[pr].n_children, NL);
        int e = h[h[pr].first_child].next; /* lead 1 */
        assert_true(fabs(h[e].num - in_p[cyc]) < 1e-4);
        assert_true(fabs(impa_json_get_num(h, p, "max_probability", 0) - 0.95) < 1e-4);
        int al = impa_json_get(h, p, "alert");
        assert_string_equal(impa_json_get_str(h, al, "event", buf, sizeof buf, ""), events[cyc]);
        assert_true(impa_json_get_num(h, al, "min_probability", 0) == 0.5);
        assert_int_equal((int)impa_json_get_num(h, al, "within_minutes", 0), 20);
        int geom = impa_json_get(h, rf, "geometry"), co = impa_json_get(h, geom, "coordinates");
        assert_int_equal(h[h[co].first_child].n_children, 5); /* closed ring */
        impa_json_parse_free(h), free(h);
    }
    impa_json_deinit(&j);
    assert_int_equal(impa_publisher_cap_unchanged(pub), 1);
    char *got[3];
    int n = 0;
    pt_msg_t m;
    while (n < 3 && pt_recv(sub, 500, &m)) {
        if (strcmp(m.topic, "impa.cap.test") == 0 && strstr(m.hdr, "\"region\":\"town\"")) {
            assert_int_equal(validate((char *)m.payload), 0);
            got[n++] = strdup((char *)m.payload);
        }
        pt_msg_free(&m);
    }
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++)
        assert_non_null(strstr(got[i], msg[i]));
    assert_non_null(strstr(got[0], "<certainty>Likely</certainty>"));
    assert_non_null(strstr(got[0], "<value>0.70</value>"));
    assert_non_null(strstr(got[0], "<areaDesc>test: watch region town</areaDesc>"));
    assert_non_null(strstr(got[0], "<polygon>-27.050000,150.050000 -27.050000,150.300000"));
    assert_non_null(strstr(got[0], "<valueName>within_minutes</valueName>"));
    char *id0 = strstr(got[0], "<identifier>"), ident[192];
    assert_int_equal(sscanf(id0 + 12, "%191[^<]", ident), 1);
    assert_non_null(strstr(ident, "-region1-"));
    assert_non_null(strstr(strstr(got[1], "<references>"), ident));
    assert_null(strstr(got[2], "<references>"));
    for (int i = 0; i < 3; i++)
        free(got[i]);
    impa_alert_tracker_destroy(&tr);
    zmq_close(sub);
    zmq_ctx_term(ctx);
    impa_publisher_destroy(&pub);
}

/* A raised region probability alert survives a restart (the publisher's state
 * file): after it the region's P drops, and the new publisher sends the Cancel
 * that references the Alert sent before the restart, not nothing. */
static void test_cap_region_alert_restart(void **state)
{
    (void)state;
    char dir[] = "/tmp/impa-rstate-XXXXXX", path[64], err[256], ident[192];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/alerts.state", dir);
    impa_publish_config_t cfg;
    pt_config(&cfg);
    cfg.cap_enabled = 1;
    impa_alert_config_t ac;
    town_config(&ac);
    impa_grid_t g = pt_latlon_grid(NX, NY);
    static float pv[NL * NY * NX];
    float radius[NL] = {1, 2, 3};
    impa_prob_field_t pf = {.n_thresholds = 1, .thresholds = {45.0f}, .n_leads = NL, .ny = NY,
                            .nx = NX, .p = pv, .radius_km = radius, .calibration = "t"};
    const float in_p[2] = {0.70f, 0.10f};
    const char *want[2] = {"<msgType>Alert</msgType>", "<msgType>Cancel</msgType>"};
    char *got[2] = {NULL, NULL};
    for (int cyc = 0; cyc < 2; cyc++) {
        impa_publisher_t *pub = NULL;
        void *ctx = NULL, *sub = NULL;
        open_pub(&cfg, &pub, &ctx, &sub);
        impa_alert_tracker_t *tr = NULL;
        assert_int_equal(impa_alert_tracker_create(&ac, &tr, err, sizeof err), 0);
        if (cyc)
            assert_int_equal(impa_publisher_load_state(pub, tr, path, err, sizeof err), 0);
        for (size_t i = 0; i < (size_t)NL * NX * NY; i++)
            g_dbz[i] = 10.0f, pv[i] = 0.05f;
        pv[(size_t)1 * NX * NY + 15 * NX + 15] = in_p[cyc];
        impa_forecast_t fc;
        pt_forecast(&fc, &g, g_dbz, NL, 1700000000 + 600 * cyc);
        fc.prob = &pf;
        assert_int_equal(pt_send_cycle(pub, tr, &fc, err, sizeof err), 0);
        const impa_alerts_t *a = impa_alert_tracker_alerts(tr);
        assert_string_equal(impa_alert_event_name(a->region_alerts[0].event),
                            cyc ? "ended" : "new");
        pt_msg_t m;
        while (!got[cyc] && pt_recv(sub, 500, &m)) {
            if (strcmp(m.topic, "impa.cap.test") == 0 && strstr(m.hdr, "\"region\":\"town\"")) {
                assert_int_equal(validate((char *)m.payload), 0);
                got[cyc] = strdup((char *)m.payload);
            }
            pt_msg_free(&m);
        }
        assert_non_null(got[cyc]);
        assert_non_null(strstr(got[cyc], want[cyc]));
        if (!cyc)
            assert_int_equal(impa_publisher_save_state(pub, tr, path, err, sizeof err), 0);
        impa_alert_tracker_destroy(&tr);
        zmq_close(sub);
        zmq_ctx_term(ctx);
        impa_publisher_destroy(&pub); /* the restart */
    }
    char *id0 = strstr(got[0], "<identifier>");
    assert_int_equal(sscanf(id0 + 12, "%191[^<]", ident), 1);
    assert_non_null(strstr(strstr(got[1], "<references>"), ident));
    free(got[0]);
    free(got[1]);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const char *src = getenv("IMPA_SOURCE_ROOT"), *xsd = getenv("IMPA_CAP_XSD");
    if (xsd)
        snprintf(g_schema, sizeof g_schema, "%s", xsd);
    else
        snprintf(g_schema, sizeof g_schema, "%s/tests/publish/schemas/CAP-v1.2.xsd",
                 src ? src : ".");
    if (access(g_schema, R_OK) != 0) {
        printf("%s not found: the CAP schema ships with the tests\n", g_schema);
        return 1;
    }
    {
        xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(g_schema);
        g_xsd = xmlSchemaParse(pc);
        xmlSchemaFreeParserCtxt(pc);
        if (!g_xsd) {
            printf("%s: not a usable XML schema\n", g_schema);
            return 1;
        }
        printf("CAP messages validated against %s\n", g_schema);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap_mapping),
        cmocka_unit_test(test_cap_escaping),
        cmocka_unit_test(test_cap_probability),
        cmocka_unit_test(test_cap_sequence),
        cmocka_unit_test(test_cap_update_only_on_change),
        cmocka_unit_test(test_cap_region_alerts),
        cmocka_unit_test(test_cap_region_alert_restart),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (g_xsd)
        xmlSchemaFree(g_xsd);
    xmlCleanupParser();
    return rc;
}
