/* Publisher over real ZeroMQ (tcp loopback with ephemeral ports, ipc in a temp
 * dir): frames in order with contiguous sequence numbers, alert values against
 * the synthetic truth, snapshot for late joiners, CURVE access control, and a
 * full queue that drops instead of blocking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "impa/alerts.h"
#include "publish/json.h"
#include "publish/publish-impl.h"
#include "pubtest.h"

#define NX 64
#define NY 48
#define NL 3

static float g_dbz[NL * NY * NX];

static void make_storm(double c0, double dc)
{
    for (size_t i = 0; i < (size_t)NL * NY * NX; i++)
        g_dbz[i] = 15.0f;
    g_dbz[3] = NAN;
    for (int k = 0; k < NL; k++)
        pt_disk(g_dbz + (size_t)k * NY * NX, NX, NY, c0 + dc * k, 20, 9);
}

static impa_json_node_t *parse(const char *t, size_t n)
{
    impa_json_node_t *nodes = malloc((n / 2 + 16) * sizeof *nodes);
    assert_true(impa_json_parse(t, n, nodes, (int)(n / 2 + 16)) > 0);
    return nodes;
}

static void test_frames_alerts_seq(void **state)
{
    impa_publish_config_t cfg;
    pt_config(&cfg);
    impa_publisher_t *pub = NULL;
    char err[256], warn[256];
    assert_int_equal(impa_publisher_create(&cfg, &pub, warn, sizeof warn, err, sizeof err), 0);
    assert_string_equal(warn, ""); /* loopback: no warning */
    void *ctx = zmq_ctx_new();
    void *sub = pt_sub(ctx, impa_publisher_endpoint(pub, 0));
    assert_non_null(sub);
    assert_true(pt_wait_ready(pub, sub, 3.0));

    impa_grid_t g = pt_latlon_grid(NX, NY);
    impa_forecast_t fc;
    impa_alert_tracker_t *tr = pt_tracker();
    uint64_t last_frame_seq = 0;
    for (int cyc = 0; cyc < 2; cyc++) {
        make_storm(20 + 4 * cyc, 4);
        pt_forecast(&fc, &g, g_dbz, NL, 1700000000 + 600 * cyc);
        assert_int_equal(pt_send_cycle(pub, tr, &fc, err, sizeof err), 0);
        pt_msg_t m;
        for (int k = 0; k < NL; k++) {
            assert_true(pt_recv(sub, 2000, &m));
            assert_int_equal(m.n_parts, 3);
            assert_string_equal(m.topic, "impa.frame.test");
            impa_json_node_t *h = parse(m.hdr, m.hlen);
            uint64_t seq = (uint64_t)impa_json_get_num(h, 0, "seq", 0);
            if (last_frame_seq)
                assert_int_equal(seq, last_frame_seq + 1);
            else
                assert_int_equal(seq, 1);
            last_frame_seq = seq;
            assert_int_equal((int)impa_json_get_num(h, 0, "lead_index", -1), k);
            assert_int_equal((int)impa_json_get_num(h, 0, "lead_minutes", -1), 10 * (k + 1));
            char buf[64];
            assert_string_equal(impa_json_get_str(h, 0, "run_id", buf, sizeof buf, ""),
                                impa_publisher_run_id(pub));
            assert_string_equal(impa_json_get_str(h, 0, "method", buf, sizeof buf, ""), "impa-net");
            int gr = impa_json_get(h, 0, "grid");
            assert_int_equal((int)impa_json_get_num(h, gr, "nx", 0), NX);
            int corners = impa_json_get(h, gr, "corners");
            int clat = impa_json_get(h, corners, "lat");
            assert_true(fabs(h[h[clat].first_child].num - (-27.0)) < 1e-12);
            int prov = impa_json_get(h, 0, "provenance");
            assert_string_equal(impa_json_get_str(h, prov, "model_version", buf, sizeof buf, ""),
                                "test \"quoted\"");
            /* uint8 payload decodes to the forecast within half a step */
            assert_int_equal(m.plen, (size_t)NX * NY);
            const float *src = g_dbz + (size_t)k * NX * NY;
            for (int i = 0; i < NX * NY; i++) {
                if (isnan(src[i]))
                    assert_int_equal(m.payload[i], 255);
                else
                    assert_true(fabs((0.5 * m.payload[i] - 32) - src[i]) <= 0.25 + 1e-6);
            }
            impa_json_parse_free(h), free(h);
            pt_msg_free(&m);
        }
        assert_true(pt_recv(sub, 2000, &m));
        assert_string_equal(m.topic, "impa.alert.test");
        impa_json_node_t *h = parse(m.hdr, m.hlen);
        assert_int_equal((int)impa_json_get_num(h, 0, "seq", 0), cyc + 1);
        impa_json_parse_free(h), free(h);
        impa_json_node_t *a = parse((char *)m.payload, m.plen);
        int feats = impa_json_get(a, 0, "features");
        assert_int_equal(a[feats].n_children, NL);
        int k = 0;
        for (int f = a[feats].first_child; f >= 0; f = a[f].next, k++) {
            int p = impa_json_get(a, f, "properties"), c = impa_json_get(a, p, "centroid");
            char ev[16];
            impa_json_get_str(a, p, "event", ev, sizeof ev, "");
            assert_string_equal(ev, cyc == 0 ? "new" : "updated");
            assert_true(fabs(impa_json_get_num(a, p, "max_dbz", 0) - 55.0) < 1e-6);
            /* centroid = disk centre */
            assert_true(fabs(impa_json_get_num(a, c, "lon", 0) - (150.0 + 0.01 * (20 + 4 * cyc + 4 * k))) < 1e-9);
            assert_true(fabs(impa_json_get_num(a, c, "lat", 0) - (-27.20)) < 1e-9);
            /* area: pixels with d <= 9 (>= 46 dBZ, all >= 45) times the cell area */
            int npx = 0;
            for (int r = 0; r < NY; r++)
                for (int cc = 0; cc < NX; cc++)
                    npx += hypot(cc - (20 + 4 * cyc + 4 * k), r - 20) <= 9;
            assert_int_equal((int)impa_json_get_num(a, p, "n_pixels", 0), npx);
            assert_true(fabs(impa_json_get_num(a, p, "area_km2", 0) - npx * impa_grid_cell_area_km2(&g)) < 1e-6);
        }
        impa_json_parse_free(a), free(a);
        pt_msg_free(&m);
        assert_true(pt_recv(sub, 2000, &m));
        assert_string_equal(m.topic, "impa.cycle.test");
        h = parse(m.hdr, m.hlen);
        assert_int_equal((int)impa_json_get_num(h, 0, "n_frames", 0), NL);
        assert_int_equal((uint64_t)impa_json_get_num(h, 0, "last_frame_seq", 0), last_frame_seq);
        impa_json_parse_free(h), free(h);
        pt_msg_free(&m);
    }
    /* verification and status topics */
    assert_int_equal(impa_publisher_send_verification(pub, "{\"csi\":0.5}", err, sizeof err), 0);
    pt_msg_t m;
    assert_true(pt_recv(sub, 2000, &m));
    assert_string_equal(m.topic, "impa.verify.test");
    assert_string_equal((char *)m.payload, "{\"csi\":0.5}");
    pt_msg_free(&m);
    impa_status_t st = {0};
    st.state = "degraded";
    st.gap = "missing 12:00";
    st.cycles = 7;
    assert_int_equal(impa_publisher_send_status(pub, &st, err, sizeof err), 0);
    assert_true(pt_recv(sub, 2000, &m));
    assert_string_equal(m.topic, "impa.status.test");
    impa_json_node_t *h = parse(m.hdr, m.hlen);
    char buf[64];
    assert_string_equal(impa_json_get_str(h, 0, "state", buf, sizeof buf, ""), "degraded");
    assert_int_equal((int)impa_json_get_num(h, 0, "cycles", 0), 7);
    assert_true(impa_json_get(h, 0, "publisher_dropped") >= 0);
    assert_true(impa_json_get(h, 0, "late_scans") >= 0);
    impa_json_parse_free(h), free(h);
    pt_msg_free(&m);
    assert_int_equal(impa_publisher_dropped(pub), 0);
    zmq_close(sub);
    zmq_ctx_term(ctx);
    impa_publisher_destroy(&pub);
    impa_alert_tracker_destroy(&tr);
    assert_null(pub);
}

static int request(impa_publisher_t *pub, void *req, const char *what, pt_msg_t *parts, int max);

/* Probability frames (topic prob): one per threshold and lead after the
 * forecast frames, uint8 percent (NAN = 255), header fields, the cycle_end
 * seq range that names them, and the snapshot's `latest prob` that serves
 * them again to a late joiner. */
static void test_prob_frames(void **state)
{
    (void)state;
    impa_publish_config_t cfg;
    pt_config(&cfg);
    impa_publisher_t *pub = NULL;
    char err[256], buf[64];
    assert_int_equal(impa_publisher_create(&cfg, &pub, NULL, 0, err, sizeof err), 0);
    void *ctx = zmq_ctx_new();
    void *sub = pt_sub(ctx, impa_publisher_endpoint(pub, 0));
    assert_true(pt_wait_ready(pub, sub, 3.0));
    impa_grid_t g = pt_latlon_grid(NX, NY);
    impa_forecast_t fc;
    impa_alert_tracker_t *tr = pt_tracker();
    make_storm(20, 4);
    static float pv[2 * NL * NY * NX];
    float radius[2 * NL];
    for (size_t i = 0; i < sizeof pv / sizeof pv[0]; i++)
        pv[i] = (float)(i % 1001) / 1000.0f; /* 0 .. 1 in steps of 0.001 */
    pv[5] = NAN;
    for (int i = 0; i < 2 * NL; i++)
        radius[i] = 2.0f + (float)i;
    impa_prob_field_t pf = {.n_thresholds = 2, .thresholds = {35.0f, 45.0f}, .n_leads = NL,
                            .ny = NY, .nx = NX, .p = pv, .radius_km = radius,
                            .trend = {0, -1}, .growth_per_h = {NAN, -0.5f},
                            .calibration = "test-table"};
    pt_forecast(&fc, &g, g_dbz, NL, 1700000000);
    fc.prob = &pf;
    assert_int_equal(pt_send_cycle(pub, tr, &fc, err, sizeof err), 0);
    pt_msg_t m;
    for (int k = 0; k < NL; k++) {
        assert_true(pt_recv(sub, 2000, &m));
        assert_string_equal(m.topic, "impa.frame.test");
        pt_msg_free(&m);
    }
    size_t n = (size_t)NX * NY;
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < NL; k++) {
            assert_true(pt_recv(sub, 2000, &m));
            assert_int_equal(m.n_parts, 3);
            assert_string_equal(m.topic, "impa.prob.test");
            impa_json_node_t *h = parse(m.hdr, m.hlen);
            assert_string_equal(impa_json_get_str(h, 0, "type", buf, sizeof buf, ""), "prob");
            assert_int_equal((int)impa_json_get_num(h, 0, "seq", 0), t * NL + k + 1);
            assert_int_equal((int)impa_json_get_num(h, 0, "lead_index", -1), k);
            assert_int_equal((int)impa_json_get_num(h, 0, "lead_minutes", -1), 10 * (k + 1));
            assert_true(impa_json_get_num(h, 0, "threshold_dbz", 0) == (t ? 45.0 : 35.0));
            assert_int_equal((int)impa_json_get_num(h, 0, "threshold_index", -1), t);
            assert_true(impa_json_get_num(h, 0, "radius_km", 0) == radius[t * NL + k]);
            assert_string_equal(impa_json_get_str(h, 0, "trend", buf, sizeof buf, ""),
                                t ? "decaying" : "steady");
            assert_string_equal(impa_json_get_str(h, 0, "calibration", buf, sizeof buf, ""),
                                "test-table");
            /* the growth rate the calibration read; null for a table without one */
            if (t)
                assert_true(impa_json_get_num(h, 0, "growth_per_h", 0) == -0.5);
            else
                assert_true(strstr(m.hdr, "\"growth_per_h\":null") != NULL);
            int gr = impa_json_get(h, 0, "grid"), enc = impa_json_get(h, 0, "encoding");
            assert_int_equal((int)impa_json_get_num(h, gr, "nx", 0), NX);
            assert_string_equal(impa_json_get_str(h, enc, "dtype", buf, sizeof buf, ""), "uint8");
            assert_true(impa_json_get_num(h, enc, "gain", 0) == 0.01);
            assert_int_equal((int)impa_json_get_num(h, enc, "nodata", 0), 255);
            assert_string_equal(impa_json_get_str(h, enc, "units", buf, sizeof buf, ""), "1");
            impa_json_parse_free(h), free(h);
            assert_int_equal(m.plen, n);
            const float *src = pv + ((size_t)t * NL + k) * n;
            for (size_t i = 0; i < n; i++) {
                if (isnan(src[i]))
                    assert_int_equal(m.payload[i], 255);
                else
                    assert_true(fabs(m.payload[i] * 0.01 - src[i]) <= 0.005 + 1e-6);
            }
            pt_msg_free(&m);
        }
    assert_true(pt_recv(sub, 2000, &m));
    assert_string_equal(m.topic, "impa.alert.test");
    pt_msg_free(&m);
    assert_true(pt_recv(sub, 2000, &m));
    assert_string_equal(m.topic, "impa.cycle.test");
    impa_json_node_t *h = parse(m.hdr, m.hlen);
    assert_int_equal((int)impa_json_get_num(h, 0, "n_prob_frames", 0), 2 * NL);
    assert_int_equal((int)impa_json_get_num(h, 0, "first_prob_seq", 0), 1);
    assert_int_equal((int)impa_json_get_num(h, 0, "last_prob_seq", 0), 2 * NL);
    impa_json_parse_free(h), free(h);
    pt_msg_free(&m);
    /* a late joiner: `latest prob` serves the same frames, headers and payloads */
    void *req = zmq_socket(ctx, ZMQ_REQ);
    int zero = 0;
    zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_connect(req, impa_publisher_request_endpoint(pub)), 0);
    static pt_msg_t parts[1 + 4 * NL];
    memset(parts, 0, sizeof parts);
    assert_int_equal(request(pub, req, "latest prob", parts, 1 + 4 * NL), 1 + 4 * NL);
    h = parse(parts[0].hdr, parts[0].hlen);
    assert_int_equal((int)impa_json_get_num(h, 0, "n_prob_frames", -1), 2 * NL);
    assert_int_equal((int)impa_json_get_num(h, 0, "n_frames", -1), 0);
    assert_int_equal((int)impa_json_get_num(h, 0, "has_alerts", -1), 0);
    impa_json_parse_free(h), free(h);
    for (int i = 0; i < 2 * NL; i++) {
        h = parse(parts[1 + 2 * i].hdr, parts[1 + 2 * i].hlen);
        assert_string_equal(impa_json_get_str(h, 0, "type", buf, sizeof buf, ""), "prob");
        assert_int_equal((int)impa_json_get_num(h, 0, "seq", 0), i + 1);
        impa_json_parse_free(h), free(h);
        assert_int_equal(parts[2 + 2 * i].hlen, n);
        const float *src = pv + (size_t)i * n;
        for (size_t q = 0; q < n; q += 97)
            if (!isnan(src[q]))
                assert_true(fabs((unsigned char)parts[2 + 2 * i].hdr[q] * 0.01 - src[q]) <=
                            0.005 + 1e-6);
    }
    for (int i = 0; i < 1 + 4 * NL; i++)
        pt_msg_free(&parts[i]);
    /* `latest` is unchanged by them: header, frames, alerts */
    int nl = request(pub, req, "latest", parts, 1 + 4 * NL);
    assert_int_equal(nl, 1 + 2 * NL + 2);
    for (int i = 0; i < nl; i++)
        pt_msg_free(&parts[i]);
    /* without the product: no probability frame, the range is 0 */
    fc.prob = NULL;
    fc.issue_time += 600;
    assert_int_equal(pt_send_cycle(pub, tr, &fc, err, sizeof err), 0);
    int n_prob = 0, got_end = 0;
    while (!got_end && pt_recv(sub, 2000, &m)) {
        n_prob += strcmp(m.topic, "impa.prob.test") == 0;
        if (strcmp(m.topic, "impa.cycle.test") == 0) {
            got_end = 1;
            h = parse(m.hdr, m.hlen);
            assert_int_equal((int)impa_json_get_num(h, 0, "n_prob_frames", -1), 0);
            assert_int_equal((int)impa_json_get_num(h, 0, "first_prob_seq", -1), 0);
            impa_json_parse_free(h), free(h);
        }
        pt_msg_free(&m);
    }
    assert_true(got_end);
    assert_int_equal(n_prob, 0);
    /* ... and the snapshot of that cycle has none */
    assert_int_equal(request(pub, req, "latest prob", parts, 1 + 4 * NL), 1);
    assert_non_null(strstr(parts[0].hdr, "\"n_prob_frames\":0"));
    pt_msg_free(&parts[0]);
    zmq_close(req);
    zmq_close(sub);
    zmq_ctx_term(ctx);
    impa_publisher_destroy(&pub);
    impa_alert_tracker_destroy(&tr);
}

/* Sends req on a REQ socket and serves it from the publisher; returns parts. */
static int request(impa_publisher_t *pub, void *req, const char *what, pt_msg_t *parts, int max)
{
    zmq_send(req, what, strlen(what), 0);
    double t0 = impa_time_monotonic();
    while (impa_time_monotonic() - t0 < 3.0) {
        zmq_pollitem_t it = {impa_publisher_request_socket(pub), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 20) > 0) {
            assert_int_equal(impa_publisher_handle_request(pub, NULL, 0), 0);
            break;
        }
    }
    zmq_pollitem_t it = {req, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, 2000) <= 0)
        return 0;
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        zmq_msg_recv(&part, req, 0);
        if (n < max) {
            parts[n].hlen = zmq_msg_size(&part);
            parts[n].hdr = malloc(parts[n].hlen + 1);
            memcpy(parts[n].hdr, zmq_msg_data(&part), parts[n].hlen);
            parts[n].hdr[parts[n].hlen] = '\0';
        }
        n++;
        more = zmq_msg_more(&part);
        zmq_msg_close(&part);
    }
    return n;
}

static void test_snapshot(void **state)
{
    impa_publish_config_t cfg;
    pt_config(&cfg);
    impa_publisher_t *pub = NULL;
    char err[256];
    assert_int_equal(impa_publisher_create(&cfg, &pub, NULL, 0, err, sizeof err), 0);
    void *ctx = zmq_ctx_new();
    void *req = zmq_socket(ctx, ZMQ_REQ);
    int zero = 0;
    zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_connect(req, impa_publisher_request_endpoint(pub)), 0);
    pt_msg_t parts[2 * NL + 4];
    memset(parts, 0, sizeof parts);
    /* before any cycle: available false */
    assert_int_equal(request(pub, req, "latest", parts, 2 * NL + 4), 1);
    assert_non_null(strstr(parts[0].hdr, "\"available\":false"));
    pt_msg_free(&parts[0]);

    impa_grid_t g = pt_latlon_grid(NX, NY);
    impa_forecast_t fc;
    impa_alert_tracker_t *tr = pt_tracker();
    make_storm(20, 3);
    pt_forecast(&fc, &g, g_dbz, NL, 1700000000);
    /* nobody subscribed: the cycle still becomes the snapshot */
    assert_int_equal(pt_send_cycle(pub, tr, &fc, err, sizeof err), 0);
    int n = request(pub, req, "latest", parts, 2 * NL + 4);
    assert_int_equal(n, 1 + 2 * NL + 2);
    impa_json_node_t *h = parse(parts[0].hdr, parts[0].hlen);
    assert_int_equal((int)impa_json_get_num(h, 0, "n_frames", 0), NL);
    assert_int_equal((int)impa_json_get_num(h, 0, "available", 0), 1);
    assert_int_equal((int)impa_json_get_num(h, 0, "has_alerts", 0), 1);
    int cyc = impa_json_get(h, 0, "cycle");
    assert_int_equal((int)impa_json_get_num(h, cyc, "n_frames", 0), NL);
    impa_json_parse_free(h), free(h);
    for (int k = 0; k < NL; k++) {
        h = parse(parts[1 + 2 * k].hdr, parts[1 + 2 * k].hlen);
        assert_int_equal((int)impa_json_get_num(h, 0, "lead_index", -1), k);
        impa_json_parse_free(h), free(h);
        assert_int_equal(parts[2 + 2 * k].hlen, (size_t)NX * NY);
        unsigned char q = (unsigned char)parts[2 + 2 * k].hdr[20 * NX + 20 + 3 * k];
        assert_int_equal(q, 174); /* 55 dBZ = 0.5*174 - 32 */
    }
    assert_non_null(strstr(parts[2 * NL + 1].hdr, "\"type\":\"alert\""));
    assert_non_null(strstr(parts[2 * NL + 2].hdr, "FeatureCollection"));
    for (int i = 0; i < n; i++)
        pt_msg_free(&parts[i]);
    assert_int_equal(request(pub, req, "latest alerts", parts, 2 * NL + 4), 3);
    for (int i = 0; i < 3; i++)
        pt_msg_free(&parts[i]);
    assert_int_equal(request(pub, req, "latest frames", parts, 2 * NL + 4), 1 + 2 * NL);
    for (int i = 0; i < 1 + 2 * NL; i++)
        pt_msg_free(&parts[i]);
    assert_int_equal(request(pub, req, "bogus", parts, 2 * NL + 4), 1);
    assert_non_null(strstr(parts[0].hdr, "\"type\":\"error\""));
    pt_msg_free(&parts[0]);
    /* no pending request: handle_request returns at once */
    assert_int_equal(impa_publisher_handle_request(pub, NULL, 0), 0);
    zmq_close(req);
    zmq_ctx_term(ctx);
    impa_publisher_destroy(&pub);
    impa_alert_tracker_destroy(&tr);
}

static void test_curve(void **state)
{
    char dir[] = "/tmp/impa-curve-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char server[256], good[256], bad[256], allowed[256], err[256];
    char spub[41], gpub[41], bpub[41], gsec[41], bsec[41];
    snprintf(server, sizeof server, "%s/server.key", dir);
    snprintf(good, sizeof good, "%s/good.key", dir);
    snprintf(bad, sizeof bad, "%s/bad.key", dir);
    snprintf(allowed, sizeof allowed, "%s/allowed", dir);
    assert_int_equal(impa_curve_write_keypair(server, spub, err, sizeof err), 0);
    assert_int_equal(impa_curve_write_keypair(good, gpub, err, sizeof err), 0);
    assert_int_equal(impa_curve_write_keypair(bad, bpub, err, sizeof err), 0);
    char tmp[41];
    assert_int_equal(impa_curve_read_keypair(good, tmp, gsec, err, sizeof err), 0);
    assert_string_equal(tmp, gpub);
    assert_int_equal(impa_curve_read_keypair(bad, tmp, bsec, err, sizeof err), 0);
    /* a bare secret key file is read too, the public key derived from it */
    char bare[256], bp[41], bs[41];
    snprintf(bare, sizeof bare, "%s/bare.key", dir);
    FILE *f = fopen(bare, "w");
    fprintf(f, "%s\n", gsec);
    fclose(f);
    assert_int_equal(impa_curve_read_keypair(bare, bp, bs, err, sizeof err), 0);
    assert_string_equal(bp, gpub);
    assert_string_equal(bs, gsec);
    f = fopen(allowed, "w");
    fprintf(f, "# allowed clients\n%s\n", gpub);
    fclose(f);

    impa_publish_config_t cfg;
    pt_config(&cfg);
    cfg.curve_enabled = 1;
    snprintf(cfg.curve_secret_key_file, sizeof cfg.curve_secret_key_file, "%s", server);
    snprintf(cfg.curve_allowed_keys_file, sizeof cfg.curve_allowed_keys_file, "%s", allowed);
    impa_publisher_t *pub = NULL;
    assert_int_equal(impa_publisher_create(&cfg, &pub, NULL, 0, err, sizeof err), 0);
    void *ctx = zmq_ctx_new();
    void *sg = zmq_socket(ctx, ZMQ_SUB), *sb = zmq_socket(ctx, ZMQ_SUB), *sn = zmq_socket(ctx, ZMQ_SUB);
    int zero = 0;
    void *socks[3] = {sg, sb, sn};
    for (int i = 0; i < 3; i++) {
        zmq_setsockopt(socks[i], ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(socks[i], ZMQ_SUBSCRIBE, "", 0);
    }
    zmq_setsockopt(sg, ZMQ_CURVE_SERVERKEY, spub, 40);
    zmq_setsockopt(sg, ZMQ_CURVE_PUBLICKEY, gpub, 40);
    zmq_setsockopt(sg, ZMQ_CURVE_SECRETKEY, gsec, 40);
    zmq_setsockopt(sb, ZMQ_CURVE_SERVERKEY, spub, 40);
    zmq_setsockopt(sb, ZMQ_CURVE_PUBLICKEY, bpub, 40);
    zmq_setsockopt(sb, ZMQ_CURVE_SECRETKEY, bsec, 40);
    /* sn: no CURVE at all */
    for (int i = 0; i < 3; i++)
        assert_int_equal(zmq_connect(socks[i], impa_publisher_endpoint(pub, 0)), 0);
    assert_true(pt_wait_ready(pub, sg, 3.0));
    impa_grid_t g = pt_latlon_grid(NX, NY);
    impa_forecast_t fc;
    impa_alert_tracker_t *tr = pt_tracker();
    make_storm(20, 3);
    pt_forecast(&fc, &g, g_dbz, NL, 1700000000);
    /* give the refused clients time to try, then publish */
    impa_status_t st = {0};
    st.state = "ok";
    for (int i = 0; i < 10; i++) {
        impa_publisher_send_status(pub, &st, NULL, 0);
        usleep(30000);
    }
    assert_int_equal(pt_send_cycle(pub, tr, &fc, err, sizeof err), 0);
    int got_frames = 0, got_alert = 0, got_cycle = 0, got_bad = 0;
    pt_msg_t m;
    while (pt_recv(sg, 500, &m)) {
        got_frames += strcmp(m.topic, "impa.frame.test") == 0;
        got_alert += strcmp(m.topic, "impa.alert.test") == 0;
        got_cycle += strcmp(m.topic, "impa.cycle.test") == 0;
        pt_msg_free(&m);
    }
    while (pt_recv(sb, 100, &m) || pt_recv(sn, 100, &m)) {
        got_bad++;
        pt_msg_free(&m);
    }
    assert_int_equal(got_frames, NL);
    assert_int_equal(got_alert, 1);
    assert_int_equal(got_cycle, 1);
    assert_int_equal(got_bad, 0);
    for (int i = 0; i < 3; i++)
        zmq_close(socks[i]);
    zmq_ctx_term(ctx);
    impa_publisher_destroy(&pub);
    impa_alert_tracker_destroy(&tr);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_warn_and_errors(void **state)
{
    impa_publish_config_t cfg;
    pt_config(&cfg);
    snprintf(cfg.endpoints[0], sizeof cfg.endpoints[0], "tcp://0.0.0.0:*");
    cfg.request_endpoint[0] = '\0';
    impa_publisher_t *pub = NULL;
    char err[256] = "", warn[256] = "";
    assert_int_equal(impa_publisher_create(&cfg, &pub, warn, sizeof warn, err, sizeof err), 0);
    assert_non_null(strstr(warn, "without CURVE"));
    assert_null(impa_publisher_request_socket(pub));
    impa_publisher_destroy(&pub);
    pt_config(&cfg);
    snprintf(cfg.endpoints[0], sizeof cfg.endpoints[0], "bogus://x");
    assert_true(impa_publisher_create(&cfg, &pub, NULL, 0, err, sizeof err) < 0);
    assert_null(pub);
    assert_non_null(strstr(err, "bogus://x"));
    pt_config(&cfg);
    cfg.curve_enabled = 1;
    snprintf(cfg.curve_secret_key_file, sizeof cfg.curve_secret_key_file, "/nonexistent/key");
    snprintf(cfg.curve_allowed_keys_file, sizeof cfg.curve_allowed_keys_file, "/nonexistent/allowed");
    assert_true(impa_publisher_create(&cfg, &pub, NULL, 0, err, sizeof err) < 0);
    assert_non_null(strstr(err, "/nonexistent/"));
}

/* A subscriber that never reads, tiny HWMs, drop_policy all: send_cycle keeps
 * returning quickly and the dropped counter grows. ipc:// in a temp dir. */
static void test_hwm_drop(void **state)
{
    enum { BX = 256, BY = 256, BL = 4 };
    char dir[32], err[256];
    impa_publisher_t *pub = pt_ipc_publisher(dir, 2, IMPA_DROP_ALL);
    assert_non_null(pub);
    void *ctx = zmq_ctx_new();
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    int zero = 0, two = 2;
    zmq_setsockopt(sub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(sub, ZMQ_RCVHWM, &two, sizeof two);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    assert_int_equal(zmq_connect(sub, impa_publisher_endpoint(pub, 0)), 0);
    assert_true(pt_wait_ready(pub, sub, 3.0));
    float *f = malloc(sizeof(float) * BX * BY * BL);
    for (int i = 0; i < BX * BY * BL; i++)
        f[i] = (float)(i % 40);
    impa_grid_t g = pt_latlon_grid(BX, BY);
    impa_forecast_t fc;
    impa_alert_tracker_t *tr = pt_tracker();
    pt_forecast(&fc, &g, f, BL, 1700000000);
    double worst = 0, t_all = impa_time_monotonic();
    for (int c = 0; c < 40; c++) {
        fc.issue_time += 600;
        double t0 = impa_time_monotonic();
        assert_int_equal(pt_send_cycle(pub, tr, &fc, err, sizeof err), 0);
        double dt = impa_time_monotonic() - t0;
        if (dt > worst)
            worst = dt;
    }
    t_all = impa_time_monotonic() - t_all;
    print_message("hwm: 40 cycles of %d x %d KiB in %.3f s, worst send_cycle %.4f s, dropped %llu\n",
                  BL, BX * BY * 4 / 1024, t_all, worst,
                  (unsigned long long)impa_publisher_dropped(pub));
    assert_true(worst < 0.5);
    assert_true(impa_publisher_dropped(pub) > 0);
    free(f);
    impa_alert_tracker_destroy(&tr);
    assert_int_equal(pt_teardown(ctx, &sub, 1, &pub, dir), 0);
}

/* One subscriber stalls (never reads; RCVHWM 1 and small kernel buffers), another
 * reads after every cycle. Runs 80 cycles of 6 messages (4 frames) with SNDHWM
 * 200, so the stalled queue is full after about 35 cycles, and reports what the
 * reader got. (Much smaller HWMs drop for a reading subscriber too: libzmq learns
 * that a pipe was read only every HWM/2 messages.) */
typedef struct {
    uint64_t dropped;
    int frames, frame_gaps, cycle_ends;
} stalled_run_t;

static stalled_run_t run_stalled(impa_drop_policy_t policy)
{
    enum { BX = 64, BY = 64, BL = 4, CYCLES = 80 };
    char dir[32], err[256];
    impa_publisher_t *pub = pt_ipc_publisher(dir, 200, policy);
    assert_non_null(pub);
    void *ctx = zmq_ctx_new();
    void *stalled = pt_sub(ctx, impa_publisher_endpoint(pub, 0));
    void *reader = pt_sub(ctx, impa_publisher_endpoint(pub, 0));
    int one = 1, small = 4096;
    zmq_setsockopt(stalled, ZMQ_RCVHWM, &one, sizeof one);
    zmq_setsockopt(stalled, ZMQ_RCVBUF, &small, sizeof small);
    assert_true(pt_wait_ready(pub, reader, 3.0));
    assert_true(pt_wait_ready(pub, stalled, 3.0)); /* its last read: it stalls from here */
    pt_msg_t m;
    while (pt_recv(reader, 50, &m))
        pt_msg_free(&m);
    static float f[BX * BY * BL];
    for (int i = 0; i < BX * BY * BL; i++)
        f[i] = (float)(i % 40);
    impa_grid_t g = pt_latlon_grid(BX, BY);
    impa_forecast_t fc;
    impa_alert_tracker_t *tr = pt_tracker();
    pt_forecast(&fc, &g, f, BL, 1700000000);
    stalled_run_t r = {0, 0, 0, 0};
    uint64_t last_seq = 0;
    for (int c = 0; c < CYCLES; c++) {
        fc.issue_time += 600;
        assert_int_equal(pt_send_cycle(pub, tr, &fc, err, sizeof err), 0);
        /* read this cycle: until its cycle_end, or a short wait when it was dropped */
        int timeout = policy == IMPA_DROP_ALL ? 100 : 2000;
        while (pt_recv(reader, timeout, &m)) {
            int end = strncmp(m.topic, "impa.cycle.", 11) == 0;
            if (strncmp(m.topic, "impa.frame.", 11) == 0) {
                impa_json_node_t *h = parse(m.hdr, m.hlen);
                uint64_t seq = (uint64_t)impa_json_get_num(h, 0, "seq", 0);
                impa_json_parse_free(h), free(h);
                r.frame_gaps += last_seq && seq != last_seq + 1;
                last_seq = seq;
                r.frames++;
            }
            r.cycle_ends += end;
            pt_msg_free(&m);
            if (end)
                break;
        }
    }
    r.dropped = impa_publisher_dropped(pub);
    print_message("drop_policy %s: reader got %d of %d frames (%d seq gaps), %d of %d "
                  "cycle_end; publisher counted %llu drops\n",
                  policy == IMPA_DROP_ALL ? "all" : "subscriber", r.frames, CYCLES * BL,
                  r.frame_gaps, r.cycle_ends, CYCLES, (unsigned long long)r.dropped);
    void *socks[2] = {stalled, reader};
    impa_alert_tracker_destroy(&tr);
    assert_int_equal(pt_teardown(ctx, socks, 2, &pub, dir), 0);
    return r;
}

/* The default policy isolates a stalled subscriber: the reader misses nothing.
 * With drop_policy all the same stall costs the reader messages too (what the
 * policy trades for the drop count). */
static void test_stalled_subscriber(void **state)
{
    (void)state;
    impa_publish_config_t d;
    impa_publish_config_default(&d);
    assert_int_equal(d.drop_policy, IMPA_DROP_SUBSCRIBER);
    stalled_run_t sub = run_stalled(IMPA_DROP_SUBSCRIBER);
    assert_int_equal(sub.frames, 80 * 4);
    assert_int_equal(sub.frame_gaps, 0);
    assert_int_equal(sub.cycle_ends, 80);
    assert_int_equal(sub.dropped, 0);
    stalled_run_t all = run_stalled(IMPA_DROP_ALL);
    assert_true(all.dropped > 0);
    assert_true(all.frames < 80 * 4);
}

/* Sends one cycle of a disk storm at column col (no storm when col < 0) and
 * returns the CAP message of it (payload, malloc'ed) and its identifier. */
static char *cap_cycle(impa_publisher_t *pub, impa_alert_tracker_t *tr, void *sub, int cyc,
                       int col, char ident[192])
{
    enum { CX = 64, CY = 48, CL = 3 };
    static float f[CL * CX * CY];
    for (int i = 0; i < CL * CX * CY; i++)
        f[i] = 10.0f;
    for (int k = 0; k < CL && col >= 0; k++)
        pt_disk(f + (size_t)k * CX * CY, CX, CY, col + 3 * k, 20, 8);
    impa_grid_t g = pt_latlon_grid(CX, CY);
    impa_forecast_t fc;
    pt_forecast(&fc, &g, f, CL, 1700000000 + 600 * cyc);
    char err[256];
    assert_int_equal(pt_send_cycle(pub, tr, &fc, err, sizeof err), 0);
    pt_msg_t m;
    char *xml = NULL;
    while (!xml && pt_recv(sub, 2000, &m)) {
        if (strcmp(m.topic, "impa.cap.test") == 0) {
            impa_json_node_t *h = parse(m.hdr, m.hlen);
            impa_json_get_str(h, 0, "identifier", ident, 192, "");
            impa_json_parse_free(h), free(h);
            xml = (char *)m.payload;
            m.payload = NULL;
        }
        pt_msg_free(&m);
    }
    while (pt_recv(sub, 100, &m)) /* the rest of the cycle */
        pt_msg_free(&m);
    assert_non_null(xml);
    return xml;
}

/* A storm's CAP track survives a restart of the publisher: the state saved after
 * cycle 0 and loaded into a new publisher (new run_id) makes cycle 1 an Update
 * referencing the Alert sent before, and cycle 2 a Cancel. Missing, damaged and
 * foreign state files are refused with their reason. */
static void test_state_across_restart(void **state)
{
    (void)state;
    char dir[] = "/tmp/impa-state-XXXXXX", path[64], err[256], ident[3][192];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/alerts.state", dir);
    impa_publish_config_t cfg;
    pt_config(&cfg);
    cfg.request_endpoint[0] = '\0';
    cfg.cap_enabled = 1;
    cfg.cap_update_area_percent = cfg.cap_update_dbz = cfg.cap_update_km = 0; /* Update every cycle */
    cfg.cap_update_minutes = 0;
    void *ctx = zmq_ctx_new();
    impa_publisher_t *p1 = NULL, *p2 = NULL;
    impa_alert_tracker_t *t1 = pt_tracker(), *t2 = pt_tracker(), *t3 = pt_tracker();
    assert_int_equal(impa_publisher_create(&cfg, &p1, NULL, 0, err, sizeof err), 0);
    assert_int_equal(impa_publisher_load_state(p1, t1, path, err, sizeof err), IMPA_ENOTFOUND);
    void *s1 = pt_sub(ctx, impa_publisher_endpoint(p1, 0));
    assert_true(pt_wait_ready(p1, s1, 3.0));
    char *x0 = cap_cycle(p1, t1, s1, 0, 20, ident[0]);
    assert_non_null(strstr(x0, "<msgType>Alert</msgType>"));
    assert_int_equal(impa_publisher_save_state(p1, t1, path, err, sizeof err), 0);
    assert_int_equal(impa_publisher_load_state(p1, t1, path, err, sizeof err), IMPA_ESTATE);
    char run1[32];
    snprintf(run1, sizeof run1, "%s", impa_publisher_run_id(p1));
    zmq_close(s1);
    impa_publisher_destroy(&p1); /* the restart */
    impa_alert_tracker_destroy(&t1);

    assert_int_equal(impa_publisher_create(&cfg, &p2, NULL, 0, err, sizeof err), 0);
    assert_string_not_equal(impa_publisher_run_id(p2), run1);
    assert_int_equal(impa_publisher_load_state(p2, t2, path, err, sizeof err), 0);
    void *s2 = pt_sub(ctx, impa_publisher_endpoint(p2, 0));
    assert_true(pt_wait_ready(p2, s2, 3.0));
    char *x1 = cap_cycle(p2, t2, s2, 1, 23, ident[1]);
    char ref[512];
    snprintf(ref, sizeof ref, "<references>impa-nowcast,%s,", ident[0]);
    assert_non_null(strstr(x1, "<msgType>Update</msgType>"));
    assert_non_null(strstr(x1, ref));
    char *x2 = cap_cycle(p2, t2, s2, 2, -1, ident[2]);
    snprintf(ref, sizeof ref, "<references>impa-nowcast,%s,", ident[1]);
    assert_non_null(strstr(x2, "<msgType>Cancel</msgType>"));
    assert_non_null(strstr(x2, ref));
    free(x0);
    free(x1);
    free(x2);

    /* a damaged file (one byte flipped) and another domain's file are refused */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 40, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, 40, SEEK_SET);
    fputc(ch ^ 0x55, f);
    fclose(f);
    impa_publisher_t *p3 = NULL;
    assert_int_equal(impa_publisher_create(&cfg, &p3, NULL, 0, err, sizeof err), 0);
    assert_int_equal(impa_publisher_load_state(p3, t3, path, err, sizeof err), IMPA_EFORMAT);
    assert_non_null(strstr(err, "checksum"));
    assert_int_equal(impa_publisher_save_state(p2, t2, path, err, sizeof err), 0);
    impa_publisher_destroy(&p3);
    snprintf(cfg.domain, sizeof cfg.domain, "other");
    assert_int_equal(impa_publisher_create(&cfg, &p3, NULL, 0, err, sizeof err), 0);
    assert_int_equal(impa_publisher_load_state(p3, t3, path, err, sizeof err), IMPA_EFORMAT);
    assert_non_null(strstr(err, "domain 'test'"));
    impa_publisher_destroy(&p3);
    impa_alert_tracker_destroy(&t2);
    impa_alert_tracker_destroy(&t3);
    assert_int_equal(pt_teardown(ctx, &s2, 1, &p2, dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames_alerts_seq), cmocka_unit_test(test_snapshot),
        cmocka_unit_test(test_prob_frames),
        cmocka_unit_test(test_curve),             cmocka_unit_test(test_warn_and_errors),
        cmocka_unit_test(test_hwm_drop),          cmocka_unit_test(test_stalled_subscriber),
        cmocka_unit_test(test_state_across_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
