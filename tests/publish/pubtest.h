/* Helpers shared by the socket tests of the publish module: synthetic forecasts,
 * subscribers, waiting for the PUB/SUB handshake. */
#ifndef IMPA_TEST_PUBTEST_H
#define IMPA_TEST_PUBTEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "impa/alerts.h"
#include "impa/publish.h"
#include "impa/timeutil.h"

typedef struct {
    char topic[128];
    char *hdr;
    size_t hlen;
    unsigned char *payload;
    size_t plen;
    int n_parts;
} pt_msg_t;

static inline void pt_msg_free(pt_msg_t *m)
{
    free(m->hdr);
    free(m->payload);
    memset(m, 0, sizeof *m);
}

/* Receives one 3-part message within timeout_ms. 1 received, 0 timeout. */
static inline int pt_recv(void *s, int timeout_ms, pt_msg_t *m)
{
    memset(m, 0, sizeof *m);
    zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return 0;
    int more = 1;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, s, 0) < 0)
            return 0;
        size_t n = zmq_msg_size(&part);
        if (m->n_parts == 0) {
            snprintf(m->topic, sizeof m->topic, "%.*s", (int)(n < 127 ? n : 127),
                     (char *)zmq_msg_data(&part));
        } else if (m->n_parts == 1) {
            m->hdr = malloc(n + 1);
            memcpy(m->hdr, zmq_msg_data(&part), n);
            m->hdr[n] = '\0';
            m->hlen = n;
        } else if (m->n_parts == 2) {
            m->payload = malloc(n + 1);
            memcpy(m->payload, zmq_msg_data(&part), n);
            m->payload[n] = '\0';
            m->plen = n;
        }
        m->n_parts++;
        more = zmq_msg_more(&part);
        zmq_msg_close(&part);
    }
    return 1;
}

static inline void *pt_sub(void *ctx, const char *ep)
{
    void *s = zmq_socket(ctx, ZMQ_SUB);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_SUBSCRIBE, "impa.", 5);
    if (zmq_connect(s, ep) != 0) {
        zmq_close(s);
        return NULL;
    }
    return s;
}

/* PUB/SUB joins asynchronously: publish status until the subscriber sees one,
 * then drain. Returns 1 when the subscription is live. */
static inline int pt_wait_ready(impa_publisher_t *pub, void *sub, double max_s)
{
    impa_status_t st;
    memset(&st, 0, sizeof st);
    st.state = "ok";
    double t0 = impa_time_monotonic();
    while (impa_time_monotonic() - t0 < max_s) {
        impa_publisher_send_status(pub, &st, NULL, 0);
        pt_msg_t m;
        if (pt_recv(sub, 50, &m)) {
            pt_msg_free(&m);
            while (pt_recv(sub, 50, &m))
                pt_msg_free(&m);
            return 1;
        }
    }
    return 0;
}

/* Disk storm (55 dBZ centre, -1 dBZ per cell) on a background. */
static inline void pt_disk(float *f, int nx, int ny, double cc, double cr, double radius)
{
    for (int r = 0; r < ny; r++)
        for (int c = 0; c < nx; c++) {
            double d = hypot(c - cc, r - cr);
            if (d <= radius)
                f[r * nx + c] = (float)(55.0 - d);
        }
}

static inline impa_grid_t pt_latlon_grid(int nx, int ny)
{
    impa_grid_t g;
    memset(&g, 0, sizeof g);
    g.nx = nx, g.ny = ny;
    g.x0 = 150.0, g.y0 = -27.0, g.dx = 0.01, g.dy = -0.01;
    snprintf(g.x_units, sizeof g.x_units, "degrees_east");
    snprintf(g.grid_mapping_name, sizeof g.grid_mapping_name, "latitude_longitude");
    g.n_attrs = 1;
    snprintf(g.attrs[0].name, sizeof g.attrs[0].name, "earth_radius");
    g.attrs[0].values[0] = 6371000.0;
    g.attrs[0].n_values = 1;
    return g;
}

static inline void pt_forecast(impa_forecast_t *fc, const impa_grid_t *g, const float *dbz,
                               int n_leads, int64_t issue)
{
    memset(fc, 0, sizeof *fc);
    fc->domain = "test";
    fc->issue_time = issue;
    fc->step_minutes = 10;
    fc->n_leads = n_leads;
    fc->grid = g;
    fc->dbz = dbz;
    fc->method = IMPA_METHOD_IMPANET;
    fc->model_name = "impa-net";
    fc->model_version = "test \"quoted\"";
    fc->weights_sha256 = "00ff";
    fc->config_version = "cfg1";
    fc->n_inputs = 2;
    fc->input_paths[0] = "/data/a.nc";
    fc->input_paths[1] = "/data/b.nc";
    fc->input_times[0] = issue - 600;
    fc->input_times[1] = issue;
}

/* An alert tracker with the default configuration (NULL on failure). */
static inline impa_alert_tracker_t *pt_tracker(void)
{
    impa_alert_config_t cfg;
    impa_alert_config_default(&cfg);
    impa_alert_config_immediate(&cfg); /* every cell at once: the life cycle is test_life_cycle's */
    impa_alert_tracker_t *tr = NULL;
    return impa_alert_tracker_create(&cfg, &tr, NULL, 0) == 0 ? tr : NULL;
}

/* One cycle as the daemon runs it: the cycle's alerts (tracker tr) computed
 * from fc, then handed to the publisher with the frames. */
static inline int pt_send_cycle(impa_publisher_t *pub, impa_alert_tracker_t *tr,
                                impa_forecast_t *fc, char *err, size_t errlen)
{
    int rc = impa_alert_tracker_update(tr, fc, err, errlen);
    if (rc)
        return rc;
    fc->alerts = impa_alert_tracker_alerts(tr);
    return impa_publisher_send_cycle(pub, fc, err, errlen);
}

static inline void pt_config(impa_publish_config_t *cfg)
{
    impa_publish_config_default(cfg);
    snprintf(cfg->domain, sizeof cfg->domain, "test");
    snprintf(cfg->endpoints[0], sizeof cfg->endpoints[0], "tcp://127.0.0.1:*");
    snprintf(cfg->request_endpoint, sizeof cfg->request_endpoint, "tcp://127.0.0.1:*");
}

/* A float32 publisher on ipc://<dir>/pub (dir: a new temporary directory, at
 * least 32 bytes), no snapshot endpoint, the given HWM and drop policy. */
static inline impa_publisher_t *pt_ipc_publisher(char *dir, int sndhwm,
                                                 impa_drop_policy_t policy)
{
    snprintf(dir, 32, "/tmp/impa-pub-XXXXXX");
    if (!mkdtemp(dir))
        return NULL;
    impa_publish_config_t cfg;
    pt_config(&cfg);
    snprintf(cfg.endpoints[0], sizeof cfg.endpoints[0], "ipc://%s/pub", dir);
    cfg.request_endpoint[0] = '\0';
    cfg.sndhwm = sndhwm;
    cfg.drop_policy = policy;
    cfg.encoding = IMPA_ENCODING_FLOAT32;
    impa_publisher_t *pub = NULL;
    return impa_publisher_create(&cfg, &pub, NULL, 0, NULL, 0) == 0 ? pub : NULL;
}

/* Closes the sockets of a test, its context and publisher, removes dir. 0 = ok. */
static inline int pt_teardown(void *ctx, void **socks, int n, impa_publisher_t **pub,
                              const char *dir)
{
    for (int i = 0; i < n; i++)
        zmq_close(socks[i]);
    zmq_ctx_term(ctx);
    impa_publisher_destroy(pub);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

#endif
