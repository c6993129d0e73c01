/* ZeroMQ publisher: frames, alerts, CAP, status, verification, snapshots.
 * Wire format: docs/protocol.md. Every message is three frames: topic, JSON
 * header, payload (possibly empty). */
#include "impa/publish.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "impa/alerts.h"
#include "impa_build_config.h"
#include "impa/error.h"
#include "impa/sha256.h"
#include "impa/statefile.h"
#include "impa/timeutil.h"
#include "publish/json.h"
#include "publish/publish-impl.h"

#define UINT8_GAIN 0.5
#define UINT8_OFFSET (-32.0)
#define UINT8_NODATA 255
#define CAP_XML_MAX 16384

enum { T_FRAME, T_CYCLE, T_ALERT, T_CAP, T_STATUS, T_VERIFY, T_PROB, T_COUNT };
static const char *const topic_kind[T_COUNT] = {"frame", "cycle", "alert", "cap",
                                                "status", "verify", "prob"};
/* Probability frames (topic prob): uint8 percent, P = PROB_GAIN * q. */
#define PROB_GAIN 0.01
#define PROB_NODATA 255

/* One complete cycle as served to late joiners; two of them alternate (the one
 * being built, the last complete one) so building never disturbs a reply. */
typedef struct {
    int n_frames, cap_frames;
    impa_json_t *hdr;          /* [cap_frames] frame headers */
    unsigned char *payload;    /* [cap_frames * frame_bytes] */
    size_t frame_bytes, payload_cap;
    impa_json_t alert_hdr, alerts, cycle;
    int complete;
    /* the probability frames of the cycle (uint8 percent, one byte a cell),
     * threshold order then lead order: the snapshot's `latest prob` */
    int n_prob, cap_prob;
    impa_json_t *prob_hdr;     /* [cap_prob] */
    unsigned char *prob_payload; /* [cap_prob * prob_bytes] */
    size_t prob_bytes, prob_payload_cap;
} cycle_buf_t;

typedef struct {
    int64_t id;
    char ref[400]; /* "sender,identifier,sent" */
    /* what the last message said (impa_publish_config_t.cap_update_*) */
    double area_km2, max_dbz, x_km, y_km;
    int64_t onset, expires;
    int first_lead_minutes;
} cap_ref_t;

struct impa_publisher {
    impa_publish_config_t cfg;
    void *ctx, *pub, *rep;
    impa_zap_t *zap;
    char run_id[17];
    char endpoints[IMPA_PUBLISH_MAX_ENDPOINTS][256];
    char request_endpoint[256];
    char topics[T_COUNT][96];
    uint64_t seq[T_COUNT];
    uint64_t dropped, cap_count, cycles, cap_unchanged;
    impa_subwatch_t *subwatch; /* slow subscribers (subscribers.c) */
    int hwm;                   /* SNDHWM for new connections */
    size_t hwm_frame_bytes;    /* frame size hwm was derived from; 0 = none yet */
    int hwm_msgs;              /* frame messages a cycle (forecast + probability) it assumed */
    cycle_buf_t cb[2];
    int building;              /* index of cb being built; the other is the snapshot */
    impa_json_t hdr;           /* scratch header for single messages */
    cap_ref_t *refs, *refs_next;
    int n_refs, cap_refs;
    /* the last CAP message of each watch region's probability alert ("" = none):
     * reference, and what it said */
    struct {
        char ref[400];
        double prob;
        int first_lead_minutes;
        int64_t expires;
    } region_refs[IMPA_ALERT_MAX_REGIONS];
    char cap_xml[CAP_XML_MAX];
};

void impa_publish_config_default(impa_publish_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->domain, sizeof cfg->domain, "default");
    cfg->n_endpoints = 1;
    snprintf(cfg->endpoints[0], sizeof cfg->endpoints[0], "%s", IMPA_PUBLISH_DEFAULT_ENDPOINT);
    snprintf(cfg->request_endpoint, sizeof cfg->request_endpoint, "%s",
             IMPA_PUBLISH_DEFAULT_REQUEST_ENDPOINT);
    cfg->sndhwm = IMPA_PUBLISH_DEFAULT_SNDHWM;
    cfg->slow_subscriber_s = IMPA_PUBLISH_DEFAULT_SLOW_S;
    cfg->max_queue_mib = IMPA_PUBLISH_DEFAULT_QUEUE_MIB;
    cfg->cap_update_area_percent = IMPA_PUBLISH_DEFAULT_CAP_UPDATE_AREA_PERCENT;
    cfg->cap_update_dbz = IMPA_PUBLISH_DEFAULT_CAP_UPDATE_DBZ;
    cfg->cap_update_km = IMPA_PUBLISH_DEFAULT_CAP_UPDATE_KM;
    cfg->cap_update_minutes = IMPA_PUBLISH_DEFAULT_CAP_UPDATE_MINUTES;
    cfg->encoding = IMPA_ENCODING_UINT8;
    snprintf(cfg->cap_sender, sizeof cfg->cap_sender, "%s", IMPA_PUBLISH_DEFAULT_CAP_SENDER);
}

static void make_run_id(char out[17])
{
    struct {
        double wall, mono;
        pid_t pid;
        unsigned char rnd[16];
    } seed;
    memset(&seed, 0, sizeof seed);
    seed.wall = impa_time_now();
    seed.mono = impa_time_monotonic();
    seed.pid = getpid();
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd >= 0) {
        if (read(fd, seed.rnd, sizeof seed.rnd) < 0)
            seed.rnd[0] = 0;
        close(fd);
    }
    char hex[65];
    impa_sha256_hex(&seed, sizeof seed, hex);
    memcpy(out, hex, 16);
    out[16] = '\0';
}

static int setup_curve_server(impa_publisher_t *p, void *sock, char *err, size_t errlen)
{
    char pub_z85[41], sec_z85[41];
    int rc = impa_curve_read_keypair(p->cfg.curve_secret_key_file, pub_z85, sec_z85, err, errlen);
    if (rc)
        return rc;
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec_z85, 40) != 0)
        rc = impa_err(err, errlen, IMPA_ENET, "CURVE server options: %s", zmq_strerror(zmq_errno()));
    memset(sec_z85, 0, sizeof sec_z85);
    return rc;
}

static int bind_one(void *sock, const char *ep, char *last, size_t lastlen, char *err, size_t errlen)
{
    if (zmq_bind(sock, ep) != 0)
        return impa_err(err, errlen, IMPA_ENET, "bind %s: %s", ep, zmq_strerror(zmq_errno()));
    size_t l = lastlen;
    if (zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, last, &l) != 0)
        snprintf(last, lastlen, "%s", ep);
    return 0;
}

int impa_publisher_create(const impa_publish_config_t *cfg, impa_publisher_t **out, char *warn,
                          size_t warnlen, char *err, size_t errlen)
{
    if (warn && warnlen)
        warn[0] = '\0';
    if (!cfg || !out)
        return impa_err(err, errlen, IMPA_EINVAL, "publisher: NULL argument");
    *out = NULL;
    if (cfg->n_endpoints < 1 || cfg->n_endpoints > IMPA_PUBLISH_MAX_ENDPOINTS)
        return impa_err(err, errlen, IMPA_ECONFIG, "publish.endpoints: %d endpoints (1..%d)",
                        cfg->n_endpoints, IMPA_PUBLISH_MAX_ENDPOINTS);
    if (cfg->domain[0] == '\0' || strpbrk(cfg->domain, " .\t\n"))
        return impa_err(err, errlen, IMPA_ECONFIG,
                        "publish: domain '%s' must be non-empty without spaces or dots",
                        cfg->domain);
    if (cfg->encoding != IMPA_ENCODING_UINT8 && cfg->encoding != IMPA_ENCODING_FLOAT32)
        return impa_err(err, errlen, IMPA_ECONFIG, "publish.encoding: unknown value %d",
                        (int)cfg->encoding);
    if (cfg->curve_enabled && !zmq_has("curve"))
        return impa_err(err, errlen, IMPA_ECONFIG, "publish.curve: libzmq was built without CURVE");

    impa_publisher_t *p = calloc(1, sizeof *p);
    if (!p)
        return impa_err(err, errlen, IMPA_ENOMEM, "publisher: out of memory");
    p->cfg = *cfg;
    make_run_id(p->run_id);
    for (int t = 0; t < T_COUNT; t++)
        snprintf(p->topics[t], sizeof p->topics[t], "impa.%s.%s", topic_kind[t], cfg->domain);
    impa_json_init(&p->hdr);
    for (int b = 0; b < 2; b++) {
        impa_json_init(&p->cb[b].alert_hdr);
        impa_json_init(&p->cb[b].alerts);
        impa_json_init(&p->cb[b].cycle);
    }
    int rc = 0, zero = 0;
    p->ctx = zmq_ctx_new();
    if (!p->ctx) {
        rc = impa_err(err, errlen, IMPA_ENET, "zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (cfg->curve_enabled) {
        rc = impa_zap_start(p->ctx, cfg->curve_allowed_keys_file, &p->zap, err, errlen);
        if (rc)
            goto fail;
    }
    p->pub = zmq_socket(p->ctx, ZMQ_PUB);
    if (!p->pub) {
        rc = impa_err(err, errlen, IMPA_ENET, "PUB socket: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    int one = 1;
    p->hwm = impa_publish_queue_hwm(cfg, cfg->n_leads > 0 ? cfg->n_leads : 12, 0);
    zmq_setsockopt(p->pub, ZMQ_SNDHWM, &p->hwm, sizeof p->hwm);
    if ((rc = impa_subwatch_start(p->ctx, p->pub, p->run_id, cfg, &p->subwatch, err, errlen)))
        goto fail;
    zmq_setsockopt(p->pub, ZMQ_LINGER, &zero, sizeof zero);
    /* Without NODROP a PUB socket drops silently at the HWM, for the subscriber
     * whose queue is full only. With it the send fails with EAGAIN, which lets
     * us count drops, but libzmq then refuses the message for every subscriber
     * as soon as one queue is full: one stuck alert consumer would silence all
     * the others, hence not the default. */
    if (cfg->drop_policy == IMPA_DROP_ALL)
        zmq_setsockopt(p->pub, ZMQ_XPUB_NODROP, &one, sizeof one);
    if (cfg->curve_enabled && (rc = setup_curve_server(p, p->pub, err, errlen)) != 0)
        goto fail;
    for (int i = 0; i < cfg->n_endpoints; i++) {
        rc = bind_one(p->pub, cfg->endpoints[i], p->endpoints[i], sizeof p->endpoints[i], err, errlen);
        if (rc)
            goto fail;
    }
    if (cfg->request_endpoint[0]) {
        p->rep = zmq_socket(p->ctx, ZMQ_REP);
        if (!p->rep) {
            rc = impa_err(err, errlen, IMPA_ENET, "REP socket: %s", zmq_strerror(zmq_errno()));
            goto fail;
        }
        zmq_setsockopt(p->rep, ZMQ_LINGER, &zero, sizeof zero);
        if (cfg->curve_enabled && (rc = setup_curve_server(p, p->rep, err, errlen)) != 0)
            goto fail;
        rc = bind_one(p->rep, cfg->request_endpoint, p->request_endpoint,
                      sizeof p->request_endpoint, err, errlen);
        if (rc)
            goto fail;
    }
    if (!cfg->curve_enabled && warn && warnlen) {
        size_t used = 0;
        for (int i = 0; i <= cfg->n_endpoints; i++) {
            const char *ep = i < cfg->n_endpoints ? cfg->endpoints[i] : cfg->request_endpoint;
            if (!ep[0] || impa_endpoint_is_local(ep) || used + 1 >= warnlen)
                continue;
            int n = snprintf(warn + used, warnlen - used,
                             "%s%s is reachable from other hosts without CURVE: anyone can "
                             "subscribe (set publish.curve)",
                             used ? "; " : "", ep);
            used += n > 0 ? (size_t)n : 0;
            if (used >= warnlen)
                used = warnlen - 1;
        }
    }
    *out = p;
    return 0;
fail:
    impa_publisher_destroy(&p);
    return rc;
}

static void cycle_buf_deinit(cycle_buf_t *b)
{
    for (int i = 0; i < b->cap_frames; i++)
        impa_json_deinit(&b->hdr[i]);
    free(b->hdr);
    free(b->payload);
    for (int i = 0; i < b->cap_prob; i++)
        impa_json_deinit(&b->prob_hdr[i]);
    free(b->prob_hdr);
    free(b->prob_payload);
    impa_json_deinit(&b->alert_hdr);
    impa_json_deinit(&b->alerts);
    impa_json_deinit(&b->cycle);
}

void impa_publisher_destroy(impa_publisher_t **pp)
{
    if (!pp || !*pp)
        return;
    impa_publisher_t *p = *pp;
    impa_subwatch_stop(&p->subwatch, p->pub);
    if (p->pub)
        zmq_close(p->pub);
    if (p->rep)
        zmq_close(p->rep);
    impa_zap_stop(&p->zap);
    if (p->ctx)
        zmq_ctx_term(p->ctx);
    for (int b = 0; b < 2; b++)
        cycle_buf_deinit(&p->cb[b]);
    impa_json_deinit(&p->hdr);
    free(p->refs);
    free(p->refs_next);
    free(p);
    *pp = NULL;
}

/* Sends topic + header + payload without blocking. A full queue (EAGAIN) is a
 * counted drop; the sequence number was consumed anyway so consumers see a gap. */
static int send_msg(impa_publisher_t *p, int topic, const char *hdr, size_t hlen,
                    const void *payload, size_t plen, char *err, size_t errlen)
{
    const char *t = p->topics[topic];
    if (zmq_send(p->pub, t, strlen(t), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        if (zmq_errno() == EAGAIN) {
            p->dropped++;
            return 0;
        }
        return impa_err(err, errlen, IMPA_ENET, "send %s: %s", t, zmq_strerror(zmq_errno()));
    }
    /* Once the first frame is queued the pipe accepts the rest of the message
     * (libzmq counts the HWM in whole messages), so these do not fail with EAGAIN. */
    if (zmq_send(p->pub, hdr, hlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(p->pub, payload ? payload : "", plen, ZMQ_DONTWAIT) < 0)
        return impa_err(err, errlen, IMPA_ENET, "send %s (header/payload): %s", t,
                        zmq_strerror(zmq_errno()));
    return 0;
}

static const char *drop_policy_name(impa_drop_policy_t d)
{
    return d == IMPA_DROP_ALL ? "all" : "subscriber";
}

static void common_header(impa_publisher_t *p, impa_json_t *j, int topic, const char *type)
{
    impa_json_int(j, "protocol", IMPA_PROTOCOL_VERSION);
    impa_json_str(j, "type", type);
    impa_json_str(j, "run_id", p->run_id);
    impa_json_uint(j, "seq", ++p->seq[topic]);
    impa_json_str(j, "domain", p->cfg.domain);
}

static void grid_json(impa_json_t *j, const impa_grid_t *g)
{
    impa_json_obj_begin(j, "grid");
    impa_json_int(j, "ny", g->ny);
    impa_json_int(j, "nx", g->nx);
    impa_json_num(j, "x0", g->x0);
    impa_json_num(j, "y0", g->y0);
    impa_json_num(j, "dx", g->dx);
    impa_json_num(j, "dy", g->dy);
    impa_json_str(j, "xy_units", g->x_units);
    impa_json_obj_begin(j, "projection");
    impa_json_str(j, "grid_mapping_name", g->grid_mapping_name[0] ? g->grid_mapping_name : NULL);
    impa_json_obj_begin(j, "attrs");
    for (int a = 0; a < g->n_attrs && a < IMPA_GRID_MAX_ATTRS; a++) {
        const impa_grid_attr_t *at = &g->attrs[a];
        if (at->is_text)
            impa_json_str(j, at->name, at->text);
        else if (at->n_values == 1)
            impa_json_num(j, at->name, at->values[0]);
        else {
            impa_json_arr_begin(j, at->name);
            for (int v = 0; v < at->n_values && v < 4; v++)
                impa_json_num(j, NULL, at->values[v]);
            impa_json_arr_end(j);
        }
    }
    impa_json_obj_end(j);
    impa_json_obj_end(j);
    /* Corner cell centres: (row 0, col 0), (0, nx-1), (ny-1, nx-1), (ny-1, 0). */
    const double cc[4][2] = {{0, 0}, {g->nx - 1, 0}, {g->nx - 1, g->ny - 1}, {0, g->ny - 1}};
    double lat[4], lon[4];
    int ok = 1;
    for (int k = 0; k < 4 && ok; k++)
        ok = impa_grid_latlon(g, cc[k][0], cc[k][1], &lat[k], &lon[k]) == 0;
    if (ok) {
        impa_json_obj_begin(j, "corners");
        impa_json_arr_begin(j, "lat");
        for (int k = 0; k < 4; k++)
            impa_json_num(j, NULL, lat[k]);
        impa_json_arr_end(j);
        impa_json_arr_begin(j, "lon");
        for (int k = 0; k < 4; k++)
            impa_json_num(j, NULL, lon[k]);
        impa_json_arr_end(j);
        impa_json_obj_end(j);
    } else {
        impa_json_null(j, "corners");
    }
    impa_json_obj_end(j);
}

static const char *trend_name(int t)
{
    return t < 0 ? "decaying" : t > 0 ? "growing" : "steady";
}

/* The header of lead k's forecast frame (ti < 0) or of its probability frame of
 * threshold index ti (topic prob; docs/protocol.md, "Probability frames"): the
 * same time, grid, method and provenance fields, its own encoding. */
static void frame_header(impa_publisher_t *p, impa_json_t *j, const impa_forecast_t *fc, int k,
                         int ti)
{
    char tb[32];
    int64_t valid = fc->issue_time + (int64_t)(k + 1) * fc->step_minutes * 60;
    impa_json_reset(j);
    impa_json_obj_begin(j, NULL);
    common_header(p, j, ti < 0 ? T_FRAME : T_PROB, ti < 0 ? "frame" : "prob");
    impa_json_str(j, "issue_time", impa_time_iso(fc->issue_time, tb, sizeof tb));
    impa_json_str(j, "valid_time", impa_time_iso(valid, tb, sizeof tb));
    impa_json_int(j, "lead_minutes", (int64_t)(k + 1) * fc->step_minutes);
    impa_json_int(j, "lead_index", k);
    impa_json_int(j, "n_leads", fc->n_leads);
    impa_json_int(j, "step_minutes", fc->step_minutes);
    if (ti >= 0) {
        const impa_prob_field_t *pf = fc->prob;
        impa_json_num(j, "threshold_dbz", pf->thresholds[ti]);
        impa_json_int(j, "threshold_index", ti);
        impa_json_int(j, "n_thresholds", pf->n_thresholds);
        impa_json_arr_begin(j, "thresholds_dbz");
        for (int t = 0; t < pf->n_thresholds; t++)
            impa_json_num(j, NULL, pf->thresholds[t]);
        impa_json_arr_end(j);
        impa_json_num(j, "radius_km", pf->radius_km[(size_t)ti * pf->n_leads + k]);
        impa_json_str(j, "trend", trend_name(pf->trend[ti]));
        if (isnan(pf->growth_per_h[ti]))
            impa_json_null(j, "growth_per_h");
        else
            impa_json_num(j, "growth_per_h", pf->growth_per_h[ti]);
        impa_json_str(j, "calibration", pf->calibration);
    }
    grid_json(j, fc->grid);
    impa_json_obj_begin(j, "encoding");
    if (ti >= 0) {
        impa_json_str(j, "dtype", "uint8");
        impa_json_num(j, "gain", PROB_GAIN);
        impa_json_num(j, "offset", 0);
        impa_json_int(j, "nodata", PROB_NODATA);
        impa_json_int(j, "max", 100);
        impa_json_str(j, "order", "row-major [ny][nx], row 0 = y0");
        impa_json_str(j, "units", "1");
    } else if (p->cfg.encoding == IMPA_ENCODING_UINT8) {
        impa_json_str(j, "dtype", "uint8");
        impa_json_num(j, "gain", UINT8_GAIN);
        impa_json_num(j, "offset", UINT8_OFFSET);
        impa_json_int(j, "nodata", UINT8_NODATA);
        impa_json_int(j, "below_min", 0);
    } else {
        impa_json_str(j, "dtype", "float32");
        impa_json_str(j, "byte_order", "little");
        impa_json_str(j, "nodata", "NaN");
    }
    if (ti < 0) {
        impa_json_str(j, "order", "row-major [ny][nx], row 0 = y0");
        impa_json_str(j, "units", "dBZ");
    }
    impa_json_obj_end(j);
    impa_json_str(j, "method", impa_method_name(fc->method));
    impa_json_str(j, "fallback_reason", fc->fallback_reason);
    impa_json_obj_begin(j, "provenance");
    impa_json_str(j, "model_name", fc->model_name);
    impa_json_str(j, "model_version", fc->model_version);
    impa_json_str(j, "weights_sha256", fc->weights_sha256);
    impa_json_str(j, "config_version", fc->config_version);
    impa_json_str(j, "publisher_version", IMPA_VERSION);
    impa_json_arr_begin(j, "inputs");
    for (int i = 0; i < fc->n_inputs && i < IMPA_MAX_INPUTS; i++) {
        impa_json_obj_begin(j, NULL);
        impa_json_str(j, "path", fc->input_paths[i]);
        impa_json_str(j, "time", impa_time_iso(fc->input_times[i], tb, sizeof tb));
        impa_json_obj_end(j);
    }
    impa_json_arr_end(j);
    impa_json_obj_end(j);
    impa_json_obj_end(j);
}

static void encode(impa_encoding_t enc, const float *src, size_t n, unsigned char *dst)
{
    if (enc == IMPA_ENCODING_UINT8) {
        for (size_t i = 0; i < n; i++) {
            float v = src[i];
            if (isnan(v)) {
                dst[i] = UINT8_NODATA;
                continue;
            }
            double q = floor((v - UINT8_OFFSET) / UINT8_GAIN + 0.5);
            dst[i] = (unsigned char)(q < 0 ? 0 : q > 254 ? 254 : q);
        }
        return;
    }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i], 4);
        u = __builtin_bswap32(u);
        memcpy(dst + 4 * i, &u, 4);
    }
#else
    memcpy(dst, src, n * 4);
#endif
}

/* P in [0, 1] as uint8 percent (rounded), NAN as PROB_NODATA. */
static void encode_prob(const float *src, size_t n, unsigned char *dst)
{
    for (size_t i = 0; i < n; i++) {
        float v = src[i];
        if (isnan(v)) {
            dst[i] = PROB_NODATA;
            continue;
        }
        double q = floor(v / PROB_GAIN + 0.5);
        dst[i] = (unsigned char)(q < 0 ? 0 : q > 100 ? 100 : q);
    }
}

/* Room in b for n probability frames of bytes each (kept for the snapshot). */
static int prob_buf_reserve(cycle_buf_t *b, int n, size_t bytes)
{
    if (n > b->cap_prob) {
        impa_json_t *nh = realloc(b->prob_hdr, (size_t)n * sizeof *nh);
        if (!nh)
            return IMPA_ENOMEM;
        for (int i = b->cap_prob; i < n; i++)
            impa_json_init(&nh[i]);
        b->prob_hdr = nh;
        b->cap_prob = n;
    }
    if ((size_t)n * bytes > b->prob_payload_cap) {
        unsigned char *np = realloc(b->prob_payload, (size_t)n * bytes);
        if (!np)
            return IMPA_ENOMEM;
        b->prob_payload = np;
        b->prob_payload_cap = (size_t)n * bytes;
    }
    b->prob_bytes = bytes;
    return 0;
}

/* The probability frames of a cycle: one per threshold and lead, threshold
 * order then lead order, kept in b for the snapshot. Nothing without fc->prob. */
static int send_prob_frames(impa_publisher_t *p, cycle_buf_t *b, const impa_forecast_t *fc,
                            char *err, size_t errlen)
{
    const impa_prob_field_t *pf = fc->prob;
    size_t n = (size_t)fc->grid->nx * fc->grid->ny;
    b->n_prob = 0;
    if (!pf || pf->nx != fc->grid->nx || pf->ny != fc->grid->ny || pf->n_leads != fc->n_leads)
        return 0;
    int rc = prob_buf_reserve(b, pf->n_thresholds * fc->n_leads, n);
    if (rc)
        return impa_err(err, errlen, rc, "probability frames: out of memory");
    for (int t = 0; t < pf->n_thresholds; t++)
        for (int k = 0; k < fc->n_leads; k++) {
            int i = t * fc->n_leads + k;
            impa_json_t *j = &b->prob_hdr[i];
            unsigned char *pl = b->prob_payload + (size_t)i * n;
            frame_header(p, j, fc, k, t);
            if ((rc = impa_json_finish(j)) != 0)
                return impa_err(err, errlen, rc, "probability frame header: out of memory");
            encode_prob(pf->p + ((size_t)t * pf->n_leads + k) * n, n, pl);
            if ((rc = send_msg(p, T_PROB, j->buf, j->len, pl, n, err, errlen)) != 0)
                return rc;
            b->n_prob = i + 1;
        }
    return 0;
}

static int cycle_buf_reserve(cycle_buf_t *b, int n_frames, size_t frame_bytes)
{
    if (n_frames > b->cap_frames) {
        impa_json_t *nh = realloc(b->hdr, (size_t)n_frames * sizeof *nh);
        if (!nh)
            return IMPA_ENOMEM;
        for (int i = b->cap_frames; i < n_frames; i++)
            impa_json_init(&nh[i]);
        b->hdr = nh;
        b->cap_frames = n_frames;
    }
    size_t need = (size_t)n_frames * frame_bytes;
    if (need > b->payload_cap) {
        unsigned char *np = realloc(b->payload, need);
        if (!np)
            return IMPA_ENOMEM;
        b->payload = np;
        b->payload_cap = need;
    }
    b->frame_bytes = frame_bytes;
    return 0;
}

/* Remembers the last CAP message of every live track, for <references>. */
static const cap_ref_t *find_ref_entry(const impa_publisher_t *p, int64_t id)
{
    for (int i = 0; i < p->n_refs; i++)
        if (p->refs[i].id == id)
            return &p->refs[i];
    return NULL;
}

static const char *find_ref(const impa_publisher_t *p, int64_t id)
{
    const cap_ref_t *r = find_ref_entry(p, id);
    return r ? r->ref : NULL;
}

/* Whether a continuing track's new message differs from its last one (r) in
 * something a consumer acts on (impa_publish_config_t.cap_update_*). */
static int cap_changed(const impa_publish_config_t *k, const cap_ref_t *r,
                       const impa_cap_event_t *ev, double x_km, double y_km, int64_t issue,
                       int step_minutes)
{
    int64_t win = (int64_t)k->cap_update_minutes * 60, now = issue + (int64_t)step_minutes * 60;
    int64_t o0 = r->onset > now ? r->onset : now, o1 = ev->onset > now ? ev->onset : now;
    return fabs(ev->area_km2 - r->area_km2) > k->cap_update_area_percent / 100.0 * r->area_km2 ||
           fabs(ev->max_dbz - r->max_dbz) >= k->cap_update_dbz ||
           hypot(x_km - r->x_km, y_km - r->y_km) >= k->cap_update_km ||
           strcmp(impa_cap_severity(ev->max_dbz), impa_cap_severity(r->max_dbz)) != 0 ||
           strcmp(impa_cap_urgency(ev->first_lead_minutes),
                  impa_cap_urgency(r->first_lead_minutes)) != 0 ||
           strcmp(impa_cap_certainty(ev->first_lead_minutes),
                  impa_cap_certainty(r->first_lead_minutes)) != 0 ||
           llabs(o1 - o0) >= win || r->expires - issue <= win;
}

static int write_cap_file(const char *dir, const char *ident, const char *xml, size_t len,
                          char *err, size_t errlen)
{
    char path[4400], tmp[4420];
    snprintf(path, sizeof path, "%s/%s.xml", dir, ident);
    snprintf(tmp, sizeof tmp, "%s/.%s.xml.tmp", dir, ident);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return impa_err(err, errlen, IMPA_EIO, "CAP file %s: %s", tmp, strerror(errno));
    int ok = fwrite(xml, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return impa_err(err, errlen, e == ENOSPC ? IMPA_ENOSPC : IMPA_EIO, "CAP file %s: %s", path,
                        strerror(e));
    }
    return 0;
}

/* Sizes both reference tables (this cycle's and the next's) for need tracks. */
static int reserve_refs(impa_publisher_t *p, int need, char *err, size_t errlen)
{
    if (need <= p->cap_refs)
        return 0;
    cap_ref_t *a = realloc(p->refs, (size_t)need * sizeof *a);
    if (a)
        p->refs = a;
    cap_ref_t *b = realloc(p->refs_next, (size_t)need * sizeof *b);
    if (b)
        p->refs_next = b;
    if (!a || !b)
        return impa_err(err, errlen, IMPA_ENOMEM, "CAP references: out of memory");
    p->cap_refs = need;
    return 0;
}

/* Publishes the CAP message in p->cap_xml (header: identifier, the cell's id
 * or the region's name, event) and writes its file when publish.cap.directory
 * is set. */
static int emit_cap(impa_publisher_t *p, const char *ident, size_t len, int64_t cell_id,
                    const char *region, impa_alert_event_t event, char *err, size_t errlen)
{
    impa_json_t *j = &p->hdr;
    impa_json_reset(j);
    impa_json_obj_begin(j, NULL);
    common_header(p, j, T_CAP, "cap");
    impa_json_str(j, "identifier", ident);
    if (region)
        impa_json_str(j, "region", region);
    else
        impa_json_int(j, "cell_id", cell_id);
    impa_json_str(j, "event", impa_alert_event_name(event));
    impa_json_obj_end(j);
    int rc = impa_json_finish(j);
    if (!rc)
        rc = send_msg(p, T_CAP, j->buf, j->len, p->cap_xml, len, err, errlen);
    if (!rc && p->cfg.cap_dir[0])
        rc = write_cap_file(p->cfg.cap_dir, ident, p->cap_xml, len, err, errlen);
    p->cap_count++;
    return rc;
}

/* The CAP XML of ev into p->cap_xml, sent now (impa_cap_format). */
static int format_cap(impa_publisher_t *p, const impa_cap_event_t *ev, int64_t issue,
                      char ident[192], char sent[32])
{
    return impa_cap_format(ev, p->cfg.cap_sender, p->cfg.domain, p->run_id, issue,
                           (int64_t)time(NULL), ident, sent, p->cap_xml, sizeof p->cap_xml);
}

/* "sender,identifier,sent" of a message (CAP <references>). */
static void cap_reference(const impa_publisher_t *p, const char *ident, const char *sent,
                          char *ref, size_t reflen)
{
    char sn[128];
    snprintf(sn, sizeof sn, "%s", p->cfg.cap_sender[0] ? p->cfg.cap_sender : "impa-nowcast");
    for (char *s = sn; *s; s++)
        if (*s == ' ' || *s == ',' || *s == '<' || *s == '&' || *s == '>' || *s == '"' ||
            *s == '\'' || *s == '/')
            *s = '_';
    snprintf(ref, reflen, "%s,%s,%s", sn, ident, sent);
}

/* The watch regions' probability alerts as CAP: Alert when raised, Update
 * while raised only when its certainty or urgency changed, its probability moved
 * by 0.1 or more or its last message expires within cap_update_minutes (all
 * cap_update_* 0: every cycle), Cancel when it ends. */
static int send_region_cap(impa_publisher_t *p, const impa_forecast_t *fc, char *err,
                           size_t errlen)
{
    const impa_alerts_t *a = fc->alerts;
    int rc = 0;
    for (int r = 0; r < a->n_regions && a->region_alerts; r++) {
        const impa_region_alert_t *ra = &a->region_alerts[r];
        if (ra->event < 0)
            continue;
        const impa_watch_region_t *reg = &a->regions[r];
        impa_cap_event_t ev = {0};
        ev.event = (impa_alert_event_t)ra->event;
        ev.region = reg;
        ev.region_index = r;
        ev.threshold_dbz = a->threshold_dbz;
        ev.references = p->region_refs[r].ref[0] ? p->region_refs[r].ref : NULL;
        ev.has_prob = ra->probability >= 0;
        ev.prob = ra->probability;
        if (ra->event == IMPA_ALERT_ENDED) {
            ev.onset = fc->issue_time, ev.expires = fc->issue_time + 60;
        } else {
            ev.first_lead_minutes = (ra->first_lead + 1) * fc->step_minutes;
            ev.onset = fc->issue_time + (int64_t)ev.first_lead_minutes * 60;
            ev.expires = fc->issue_time + (int64_t)reg->alert_within_minutes * 60;
        }
        const impa_publish_config_t *k = &p->cfg;
        int every = k->cap_update_area_percent == 0 && k->cap_update_dbz == 0 &&
                    k->cap_update_km == 0 && k->cap_update_minutes == 0;
        if (ra->event == IMPA_ALERT_UPDATED && ev.references && !every) {
            double lp = p->region_refs[r].prob;
            int ll = p->region_refs[r].first_lead_minutes;
            int changed =
                strcmp(impa_cap_certainty_prob(lp), impa_cap_certainty_prob(ev.prob)) != 0 ||
                strcmp(impa_cap_urgency(ll), impa_cap_urgency(ev.first_lead_minutes)) != 0 ||
                fabs(lp - ev.prob) >= 0.1 ||
                p->region_refs[r].expires - fc->issue_time <= (int64_t)k->cap_update_minutes * 60;
            if (!changed) {
                p->cap_unchanged++;
                continue;
            }
        }
        char ident[192], sent[32];
        int len = format_cap(p, &ev, fc->issue_time, ident, sent);
        if (len < 0) {
            rc = impa_err(err, errlen, len, "CAP message for region %s too large", reg->name);
            continue;
        }
        if (ra->event == IMPA_ALERT_ENDED) {
            p->region_refs[r].ref[0] = '\0';
        } else {
            cap_reference(p, ident, sent, p->region_refs[r].ref, sizeof p->region_refs[r].ref);
            p->region_refs[r].prob = ev.prob;
            p->region_refs[r].first_lead_minutes = ev.first_lead_minutes;
            p->region_refs[r].expires = ev.expires;
        }
        int r2 = emit_cap(p, ident, (size_t)len, 0, reg->name, ev.event, err, errlen);
        if (r2)
            rc = r2;
    }
    return rc;
}

static int send_cap(impa_publisher_t *p, const impa_forecast_t *fc, char *err, size_t errlen)
{
    const impa_alerts_t *a = fc->alerts;
    int nc = a->n_cells, ne = a->n_ended;
    int rc = reserve_refs(p, nc + ne + a->n_held + 1, err, errlen);
    if (rc)
        return rc;
    int n_next = 0;
    for (int i = 0; i < nc + ne; i++) {
        const impa_alert_cell_t *c = i < nc ? &a->cells[i] : &a->ended[i - nc];
        if (i < nc) { /* one message per track: its first (earliest) cell */
            int seen = 0;
            for (int j = 0; j < i && !seen; j++)
                seen = a->cells[j].id == c->id;
            if (seen)
                continue;
        }
        impa_cap_event_t ev = {0};
        ev.cell_id = c->id;
        ev.event = c->event;
        ev.shape = c;
        ev.pixels = i < nc ? a->pixels : a->ended_pixels;
        ev.grid = fc->grid;
        ev.references = find_ref(p, c->id);
        ev.onset = c->valid_time;
        ev.expires = c->valid_time + (int64_t)fc->step_minutes * 60;
        ev.first_lead_minutes = i < nc ? (c->lead + 1) * fc->step_minutes : 0;
        ev.max_dbz = c->max_dbz;
        ev.area_km2 = c->area_km2;
        ev.prob = -1;
        if (i < nc)
            for (int j = i; j < nc; j++) {
                const impa_alert_cell_t *o = &a->cells[j];
                if (o->id != c->id)
                    continue;
                double pr = impa_alert_cell_prob(fc, o, a->pixels);
                if (pr > ev.prob)
                    ev.prob = pr;
                ev.has_prob = ev.prob >= 0;
                if (o->max_dbz > ev.max_dbz)
                    ev.max_dbz = o->max_dbz;
                if (o->area_km2 > ev.area_km2)
                    ev.area_km2 = o->area_km2;
                ev.expires = o->valid_time + (int64_t)fc->step_minutes * 60;
            }
        else
            ev.onset = fc->issue_time, ev.expires = fc->issue_time + 60;
        double ckm = sqrt(impa_grid_cell_area_km2(fc->grid));
        if (!(ckm > 0) || !isfinite(ckm))
            ckm = 1.0;
        double x_km = c->cx * ckm, y_km = c->cy * ckm;
        const cap_ref_t *old = find_ref_entry(p, c->id);
        if (c->event == IMPA_ALERT_UPDATED && old &&
            !cap_changed(&p->cfg, old, &ev, x_km, y_km, fc->issue_time, fc->step_minutes)) {
            p->refs_next[n_next++] = *old; /* its last message stands */
            p->cap_unchanged++;
            continue;
        }
        char ident[192], sent[32];
        int len = format_cap(p, &ev, fc->issue_time, ident, sent);
        if (len < 0) {
            rc = impa_err(err, errlen, len, "CAP message for cell %lld too large", (long long)c->id);
            continue;
        }
        if (c->event != IMPA_ALERT_ENDED) {
            cap_ref_t *r = &p->refs_next[n_next++];
            r->id = c->id;
            cap_reference(p, ident, sent, r->ref, sizeof r->ref);
            r->area_km2 = ev.area_km2, r->max_dbz = ev.max_dbz, r->x_km = x_km, r->y_km = y_km;
            r->onset = ev.onset, r->expires = ev.expires;
            r->first_lead_minutes = ev.first_lead_minutes;
        }
        int r2 = emit_cap(p, ident, (size_t)len, c->id, NULL, c->event, err, errlen);
        if (r2)
            rc = r2;
    }
    /* held tracks send nothing; their last message stays the one referenced */
    for (int i = 0; i < a->n_held; i++) {
        const char *ref = find_ref(p, a->held[i].id);
        int dup = 0;
        for (int j = 0; j < n_next && !dup; j++)
            dup = p->refs_next[j].id == a->held[i].id;
        if (!ref || dup)
            continue;
        p->refs_next[n_next++] = *find_ref_entry(p, a->held[i].id);
    }
    cap_ref_t *t = p->refs;
    p->refs = p->refs_next;
    p->refs_next = t;
    p->n_refs = n_next;
    int r3 = send_region_cap(p, fc, err, errlen);
    return r3 ? r3 : rc;
}

int impa_publisher_send_cycle(impa_publisher_t *p, const impa_forecast_t *fc, char *err,
                              size_t errlen)
{
    if (!p || !fc || !fc->grid || !fc->dbz || fc->n_leads < 1 || fc->grid->nx < 1 ||
        fc->grid->ny < 1 || fc->step_minutes < 1)
        return impa_err(err, errlen, IMPA_EINVAL, "send_cycle: bad forecast (n_leads %d, step %d)",
                        fc ? fc->n_leads : -1, fc ? fc->step_minutes : -1);
    size_t n = (size_t)fc->grid->nx * fc->grid->ny;
    size_t elem = p->cfg.encoding == IMPA_ENCODING_UINT8 ? 1 : 4;
    cycle_buf_t *b = &p->cb[p->building];
    int rc = cycle_buf_reserve(b, fc->n_leads, n * elem);
    if (rc)
        return impa_err(err, errlen, rc, "send_cycle: out of memory for %d frames of %zu bytes",
                        fc->n_leads, n * elem);
    b->complete = 0;
    b->n_prob = 0;
    /* probability frames are messages of the burst too (no larger than frames) */
    int n_msgs = fc->n_leads * (1 + (fc->prob ? fc->prob->n_thresholds : 0));
    if (b->frame_bytes != p->hwm_frame_bytes || n_msgs != p->hwm_msgs) {
        /* the real frame size: for subscribers connecting from now on */
        p->hwm_frame_bytes = b->frame_bytes;
        p->hwm_msgs = n_msgs;
        p->hwm = impa_publish_queue_hwm(&p->cfg, n_msgs, b->frame_bytes);
        zmq_setsockopt(p->pub, ZMQ_SNDHWM, &p->hwm, sizeof p->hwm);
    }
    const impa_alerts_t *al = fc->alerts;
    const char *aerr = al ? NULL : fc->alert_error ? fc->alert_error : "alerts not computed";

    for (int k = 0; k < fc->n_leads; k++) {
        impa_json_t *j = &b->hdr[k];
        frame_header(p, j, fc, k, -1);
        if ((rc = impa_json_finish(j)) != 0)
            return impa_err(err, errlen, rc, "frame header: out of memory");
        unsigned char *pl = b->payload + (size_t)k * b->frame_bytes;
        encode(p->cfg.encoding, fc->dbz + (size_t)k * n, n, pl);
        if ((rc = send_msg(p, T_FRAME, j->buf, j->len, pl, b->frame_bytes, err, errlen)) != 0)
            return rc;
    }
    b->n_frames = fc->n_leads;
    uint64_t prob_seq0 = p->seq[T_PROB];
    if ((rc = send_prob_frames(p, b, fc, err, errlen)) != 0)
        return rc;
    uint64_t n_prob = p->seq[T_PROB] - prob_seq0;

    char tb[32];
    int n_features = 0;
    impa_json_reset(&b->alerts);
    if (al) {
        if (impa_alerts_geojson(&b->alerts, fc) != 0)
            return impa_err(err, errlen, IMPA_ENOMEM, "alerts GeoJSON: out of memory");
        n_features = al->n_cells + al->n_ended;
        impa_json_t *j = &b->alert_hdr;
        impa_json_reset(j);
        impa_json_obj_begin(j, NULL);
        common_header(p, j, T_ALERT, "alert");
        impa_json_str(j, "issue_time", impa_time_iso(fc->issue_time, tb, sizeof tb));
        impa_json_int(j, "n_features", n_features);
        impa_json_int(j, "n_new", al->n_new);
        impa_json_int(j, "n_updated", al->n_updated);
        impa_json_int(j, "n_ended", al->n_ended);
        impa_json_int(j, "n_held", al->n_held_tracks);
        impa_json_int(j, "n_candidates", al->n_candidates);
        impa_json_uint(j, "truncated_cells", al->truncated);
        /* protocol 2: what the FeatureCollection carried as foreign members */
        impa_json_num(j, "threshold_dbz", al->threshold_dbz);
        impa_json_num(j, "min_area_km2", al->min_area_km2);
        impa_json_str(j, "coordinates", al->lonlat ? "lonlat" : "grid");
        impa_json_int(j, "n_cells", al->n_cells);
        impa_json_int(j, "n_region_features", impa_alerts_region_features(al));
        impa_json_obj_end(j);
        if ((rc = impa_json_finish(j)) != 0)
            return impa_err(err, errlen, rc, "alert header: out of memory");
        if ((rc = send_msg(p, T_ALERT, j->buf, j->len, b->alerts.buf, b->alerts.len, err, errlen)))
            return rc;
        if (p->cfg.cap_enabled && (rc = send_cap(p, fc, err, errlen)) != 0)
            return rc;
    }

    impa_json_t *j = &b->cycle;
    impa_json_reset(j);
    impa_json_obj_begin(j, NULL);
    common_header(p, j, T_CYCLE, "cycle_end");
    impa_json_str(j, "issue_time", impa_time_iso(fc->issue_time, tb, sizeof tb));
    impa_json_int(j, "n_frames", fc->n_leads);
    impa_json_uint(j, "first_frame_seq", p->seq[T_FRAME] - (uint64_t)fc->n_leads + 1);
    impa_json_uint(j, "last_frame_seq", p->seq[T_FRAME]);
    impa_json_uint(j, "alert_seq", al ? p->seq[T_ALERT] : 0);
    impa_json_uint(j, "n_prob_frames", n_prob);
    impa_json_uint(j, "first_prob_seq", n_prob ? prob_seq0 + 1 : 0);
    impa_json_uint(j, "last_prob_seq", n_prob ? p->seq[T_PROB] : 0);
    impa_json_int(j, "n_alert_features", n_features);
    impa_json_int(j, "n_new", al ? al->n_new : 0);
    impa_json_int(j, "n_updated", al ? al->n_updated : 0);
    impa_json_int(j, "n_ended", al ? al->n_ended : 0);
    impa_json_str(j, "alert_error", aerr);
    impa_json_str(j, "method", impa_method_name(fc->method));
    impa_json_uint(j, "dropped", p->dropped);
    impa_json_str(j, "drop_policy", drop_policy_name(p->cfg.drop_policy));
    impa_json_obj_end(j);
    if ((rc = impa_json_finish(j)) != 0)
        return impa_err(err, errlen, rc, "cycle header: out of memory");
    if ((rc = send_msg(p, T_CYCLE, j->buf, j->len, NULL, 0, err, errlen)) != 0)
        return rc;
    b->complete = al ? 1 : 2; /* 2: frames only */
    p->building ^= 1;
    p->cycles++;
    if (!al)
        return impa_err(err, errlen, IMPA_EINVAL, "alerts not published: %s", aerr);
    return 0;
}

/* ---- state across restarts: payload of the state file (impa/statefile.h) ---
 * head, the CAP references of the last cycle, the last CAP message of each
 * watch region's probability alert (version 2: its next Update or Cancel
 * references it), the tracker's state. */
typedef struct {
    uint32_t version, ref_size;
    int32_t n_refs, n_regions;
    uint64_t tracker_len;
    char domain[64];
} pub_state_head_t;

#define PUB_STATE_VERSION 2
#define REGION_REFS_BYTES (sizeof(((impa_publisher_t *)0)->region_refs))

int impa_publisher_save_state(const impa_publisher_t *p, const impa_alert_tracker_t *tr,
                              const char *path, char *err, size_t errlen)
{
    if (!p || !tr || !path)
        return impa_err(err, errlen, IMPA_EINVAL, "save_state: NULL argument");
    pub_state_head_t h = {PUB_STATE_VERSION, sizeof(cap_ref_t), p->n_refs,
                          IMPA_ALERT_MAX_REGIONS, impa_alert_tracker_state_size(tr), {0}};
    snprintf(h.domain, sizeof h.domain, "%s", p->cfg.domain);
    size_t nref = (size_t)p->n_refs * sizeof(cap_ref_t),
           len = sizeof h + nref + REGION_REFS_BYTES + h.tracker_len;
    unsigned char *buf = malloc(len);
    if (!buf)
        return impa_err(err, errlen, IMPA_ENOMEM, "save_state: out of memory");
    memcpy(buf, &h, sizeof h);
    if (nref)
        memcpy(buf + sizeof h, p->refs, nref);
    memcpy(buf + sizeof h + nref, p->region_refs, REGION_REFS_BYTES);
    impa_alert_tracker_state_write(tr, buf + sizeof h + nref + REGION_REFS_BYTES,
                                   (size_t)h.tracker_len);
    int rc = impa_state_file_write(path, buf, len, err, errlen);
    free(buf);
    return rc;
}

int impa_publisher_load_state(impa_publisher_t *p, impa_alert_tracker_t *tr, const char *path,
                              char *err, size_t errlen)
{
    if (!p || !tr || !path)
        return impa_err(err, errlen, IMPA_EINVAL, "load_state: NULL argument");
    if (p->cycles)
        return impa_err(err, errlen, IMPA_ESTATE,
                        "load_state: the publisher has sent a cycle already");
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = impa_state_file_read(path, &buf, &len, err, errlen);
    if (rc)
        return rc;
    pub_state_head_t h;
    if (len < sizeof h) {
        free(buf);
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: %zu bytes, too short", path, len);
    }
    memcpy(&h, buf, sizeof h);
    h.domain[sizeof h.domain - 1] = '\0';
    size_t nref = h.n_refs >= 0 ? (size_t)h.n_refs * sizeof(cap_ref_t) : 0;
    if (h.version != PUB_STATE_VERSION || h.ref_size != sizeof(cap_ref_t) || h.n_refs < 0 ||
        h.n_regions != IMPA_ALERT_MAX_REGIONS || h.tracker_len > len ||
        len != sizeof h + nref + REGION_REFS_BYTES + h.tracker_len)
        rc = impa_err(err, errlen, IMPA_EFORMAT,
                      "%s: version %u, %d references, %zu bytes: not this build's layout", path,
                      h.version, h.n_refs, len);
    else if (strcmp(h.domain, p->cfg.domain) != 0)
        rc = impa_err(err, errlen, IMPA_EFORMAT, "%s: state of domain '%s', not '%s'", path,
                      h.domain, p->cfg.domain);
    else if ((rc = reserve_refs(p, h.n_refs + 1, err, errlen)) == 0) {
        char why[256];
        rc = impa_alert_tracker_state_read(tr, buf + sizeof h + nref + REGION_REFS_BYTES,
                                           (size_t)h.tracker_len, why, sizeof why);
        if (rc)
            impa_err(err, errlen, rc, "%s: %s", path, why);
    }
    if (rc == 0) {
        if (nref)
            memcpy(p->refs, buf + sizeof h, nref);
        for (int i = 0; i < h.n_refs; i++)
            p->refs[i].ref[sizeof p->refs[i].ref - 1] = '\0';
        p->n_refs = h.n_refs;
        memcpy(p->region_refs, buf + sizeof h + nref, REGION_REFS_BYTES);
        for (int r = 0; r < IMPA_ALERT_MAX_REGIONS; r++)
            p->region_refs[r].ref[sizeof p->region_refs[r].ref - 1] = '\0';
    }
    free(buf);
    return rc;
}

int impa_publisher_send_status(impa_publisher_t *p, const impa_status_t *st, char *err,
                               size_t errlen)
{
    if (!p || !st)
        return impa_err(err, errlen, IMPA_EINVAL, "send_status: NULL argument");
    char tb[32];
    impa_json_t *j = &p->hdr;
    impa_json_reset(j);
    impa_json_obj_begin(j, NULL);
    common_header(p, j, T_STATUS, "status");
    impa_json_str(j, "time", impa_time_iso((int64_t)impa_time_now(), tb, sizeof tb));
    if (st->last_scan_time)
        impa_json_str(j, "last_scan_time", impa_time_iso(st->last_scan_time, tb, sizeof tb));
    else
        impa_json_null(j, "last_scan_time");
    impa_json_num(j, "last_cycle_seconds", st->last_cycle_seconds);
    impa_json_int(j, "window_fill", st->window_fill);
    impa_json_int(j, "window_size", st->window_size);
    impa_json_str(j, "model_name", st->model_name);
    impa_json_str(j, "model_version", st->model_version);
    impa_json_str(j, "method", st->method);
    impa_json_bool(j, "fallback_active", st->fallback_active);
    impa_json_str(j, "state", st->state);
    impa_json_str(j, "gap", st->gap);
    impa_json_uint(j, "scans", st->scans);
    impa_json_uint(j, "cycles", st->cycles);
    impa_json_uint(j, "quarantined", st->quarantined);
    impa_json_uint(j, "dropped_messages", st->dropped_messages);
    impa_json_uint(j, "duplicate_scans", st->duplicate_scans);
    impa_json_uint(j, "late_scans", st->late_scans);
    impa_json_uint(j, "too_old_scans", st->too_old_scans);
    impa_json_uint(j, "archive_failures", st->archive_failures);
    if (st->health) {
        impa_json_str(j, "health", st->health);
        impa_json_str(j, "reasons", st->reasons);
    }
    impa_json_uint(j, "publisher_dropped", p->dropped);
    impa_json_str(j, "drop_policy", drop_policy_name(p->cfg.drop_policy));
    impa_json_obj_end(j);
    int rc = impa_json_finish(j);
    if (rc)
        return impa_err(err, errlen, rc, "status header: out of memory");
    return send_msg(p, T_STATUS, j->buf, j->len, NULL, 0, err, errlen);
}

int impa_publisher_send_verification(impa_publisher_t *p, const char *json, char *err,
                                     size_t errlen)
{
    if (!p || !json)
        return impa_err(err, errlen, IMPA_EINVAL, "send_verification: NULL argument");
    impa_json_t *j = &p->hdr;
    impa_json_reset(j);
    impa_json_obj_begin(j, NULL);
    common_header(p, j, T_VERIFY, "verification");
    impa_json_obj_end(j);
    int rc = impa_json_finish(j);
    if (rc)
        return impa_err(err, errlen, rc, "verification header: out of memory");
    return send_msg(p, T_VERIFY, j->buf, j->len, json, strlen(json), err, errlen);
}

void *impa_publisher_request_socket(impa_publisher_t *p) { return p ? p->rep : NULL; }

static int reply_part(void *s, const void *d, size_t n, int more)
{
    return zmq_send(s, d ? d : "", n, (more ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

int impa_publisher_handle_request(impa_publisher_t *p, char *err, size_t errlen)
{
    if (!p || !p->rep)
        return impa_err(err, errlen, IMPA_ESTATE, "handle_request: no request socket");
    char req[64];
    int n = zmq_recv(p->rep, req, sizeof req - 1, ZMQ_DONTWAIT);
    if (n < 0) {
        if (zmq_errno() == EAGAIN)
            return 0;
        return impa_err(err, errlen, IMPA_ENET, "snapshot request: %s", zmq_strerror(zmq_errno()));
    }
    req[n < (int)sizeof req - 1 ? n : (int)sizeof req - 1] = '\0';
    int more = 0;
    size_t ml = sizeof more;
    zmq_getsockopt(p->rep, ZMQ_RCVMORE, &more, &ml);
    while (more) { /* only the first frame matters; drain the rest */
        char sink[16];
        zmq_recv(p->rep, sink, sizeof sink, 0);
        zmq_getsockopt(p->rep, ZMQ_RCVMORE, &more, &ml);
    }
    int want_frames = 1, want_alerts = 1, want_prob = 0;
    if (strcmp(req, "latest frames") == 0)
        want_alerts = 0;
    else if (strcmp(req, "latest alerts") == 0)
        want_frames = 0;
    else if (strcmp(req, "latest prob") == 0)
        want_frames = want_alerts = 0, want_prob = 1;
    const cycle_buf_t *b = &p->cb[p->building ^ 1];
    impa_json_t *j = &p->hdr;
    impa_json_reset(j);
    impa_json_obj_begin(j, NULL);
    impa_json_int(j, "protocol", IMPA_PROTOCOL_VERSION);
    int known = strcmp(req, "latest") == 0 || !want_alerts || !want_frames || want_prob;
    if (!known) {
        impa_json_str(j, "type", "error");
        impa_json_str(j, "run_id", p->run_id);
        impa_json_str(j, "error", "unknown request (use \"latest\", \"latest frames\", "
                                  "\"latest alerts\" or \"latest prob\")");
        impa_json_str(j, "request", req);
        impa_json_obj_end(j);
        if (impa_json_finish(j) || reply_part(p->rep, j->buf, j->len, 0))
            return impa_err(err, errlen, IMPA_ENET, "snapshot reply failed");
        return 0;
    }
    int avail = b->complete != 0;
    int alerts = avail && want_alerts && b->complete == 1;
    int frames = avail && want_frames;
    int probs = avail && want_prob ? b->n_prob : 0;
    impa_json_str(j, "type", "snapshot");
    impa_json_str(j, "run_id", p->run_id);
    impa_json_str(j, "domain", p->cfg.domain);
    impa_json_str(j, "request", req);
    impa_json_bool(j, "available", avail);
    impa_json_int(j, "n_frames", frames ? b->n_frames : 0);
    impa_json_int(j, "n_prob_frames", probs);
    impa_json_bool(j, "has_alerts", alerts);
    if (avail)
        impa_json_raw(j, "cycle", b->cycle.buf, b->cycle.len);
    impa_json_obj_end(j);
    if (impa_json_finish(j))
        return impa_err(err, errlen, IMPA_ENOMEM, "snapshot header: out of memory");
    int last = !frames && !alerts && !probs;
    int bad = reply_part(p->rep, j->buf, j->len, !last);
    for (int k = 0; frames && k < b->n_frames && !bad; k++) {
        bad |= reply_part(p->rep, b->hdr[k].buf, b->hdr[k].len, 1);
        bad |= reply_part(p->rep, b->payload + (size_t)k * b->frame_bytes, b->frame_bytes,
                          alerts || k + 1 < b->n_frames);
    }
    if (alerts && !bad) {
        bad |= reply_part(p->rep, b->alert_hdr.buf, b->alert_hdr.len, 1);
        bad |= reply_part(p->rep, b->alerts.buf, b->alerts.len, 0);
    }
    for (int i = 0; i < probs && !bad; i++) {
        bad |= reply_part(p->rep, b->prob_hdr[i].buf, b->prob_hdr[i].len, 1);
        bad |= reply_part(p->rep, b->prob_payload + (size_t)i * b->prob_bytes, b->prob_bytes,
                          i + 1 < probs);
    }
    if (bad)
        return impa_err(err, errlen, IMPA_ENET, "snapshot reply: %s", zmq_strerror(zmq_errno()));
    return 0;
}

uint64_t impa_publisher_dropped(const impa_publisher_t *p) { return p ? p->dropped : 0; }
const char *impa_publisher_run_id(const impa_publisher_t *p) { return p ? p->run_id : NULL; }
uint64_t impa_publisher_cap_count(const impa_publisher_t *p) { return p ? p->cap_count : 0; }
uint64_t impa_publisher_cap_unchanged(const impa_publisher_t *p)
{
    return p ? p->cap_unchanged : 0;
}
int impa_publisher_queue_hwm(const impa_publisher_t *p) { return p ? p->hwm : 0; }

int impa_publisher_watch_subscribers(impa_publisher_t *p, impa_slow_subscriber_t *ev, int max_ev)
{
    return p ? impa_subwatch_check(p->subwatch, impa_time_monotonic(), ev, max_ev) : 0;
}

void impa_publisher_subscribers(const impa_publisher_t *p, impa_subscriber_counts_t *c)
{
    impa_subwatch_counts(p ? p->subwatch : NULL, impa_time_monotonic(), c);
}

const char *impa_publisher_endpoint(const impa_publisher_t *p, int i)
{
    return p && i >= 0 && i < p->cfg.n_endpoints ? p->endpoints[i] : NULL;
}

const char *impa_publisher_request_endpoint(const impa_publisher_t *p)
{
    return p && p->rep ? p->request_endpoint : NULL;
}

