/* Internals of the publish module shared by publish.c, curve.c, cap.c and
 * impa-listen. Not installed. */
#ifndef IMPA_PUBLISH_IMPL_H
#define IMPA_PUBLISH_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "impa/alerts.h"
#include "impa/publish.h"
#include "publish/json.h"

#define IMPA_PROTOCOL_VERSION 2
#define IMPA_Z85_KEY_LEN 40

/* ---- alerts as GeoJSON (geojson.c) ---- */

/* Writes the FeatureCollection of fc->alerts (schema: docs/protocol.md) into j
 * (reset first, finished after). 0, IMPA_EINVAL (no alerts) or IMPA_ENOMEM. */
int impa_alerts_geojson(impa_json_t *j, const impa_forecast_t *fc);
/* Watch-region features the collection ends with (kind watch_region, one per
 * region): every region when the cycle has region probabilities or a region
 * alert event, else 0. */
int impa_alerts_region_features(const impa_alerts_t *a);

/* ---- CURVE (curve.c) ---- */

/* Reads a keypair file ("public = <z85>" and "secret = <z85>" lines, '#' comments;
 * format in docs/protocol.md). public_z85 is derived from the secret when the
 * file lacks it. Buffers hold 41 bytes. 0, IMPA_EIO or IMPA_EFORMAT. */
int impa_curve_read_keypair(const char *path, char public_z85[41], char secret_z85[41],
                            char *err, size_t errlen);
/* Writes a fresh keypair file with mode 0600 (temp + rename). */
int impa_curve_write_keypair(const char *path, char public_z85[41], char *err, size_t errlen);

typedef struct impa_zap impa_zap_t;
/* Starts a ZAP handler (REP on inproc://zeromq.zap.01 in ctx, one thread) that
 * accepts CURVE clients whose public key is listed in allowed_path (one z85 key
 * per line) and rejects everything else. Must run before CURVE sockets bind. */
int impa_zap_start(void *ctx, const char *allowed_path, impa_zap_t **out, char *err, size_t errlen);
void impa_zap_stop(impa_zap_t **zap);
/* Clients accepted / refused so far. */
uint64_t impa_zap_accepted(const impa_zap_t *zap);
uint64_t impa_zap_refused(const impa_zap_t *zap);

/* 1 when a bind endpoint only accepts local peers (ipc, inproc, loopback tcp). */
int impa_endpoint_is_local(const char *endpoint);

/* ---- bounded queues, slow subscribers (subscribers.c) ---- */

typedef struct impa_subwatch impa_subwatch_t;
/* Watches the connections of pub (a socket monitor on inproc://...-tag in ctx).
 * 0 or IMPA_ENET/IMPA_ENOMEM. Stop before closing pub. */
int impa_subwatch_start(void *ctx, void *pub, const char *tag, const impa_publish_config_t *cfg,
                        impa_subwatch_t **out, char *err, size_t errlen);
void impa_subwatch_stop(impa_subwatch_t **w, void *pub);
/* Takes in connection events, measures every subscriber's unread kernel
 * buffer; fills up to max_ev subscribers newly found stuck (each reported once
 * per connection; disconnected under IMPA_SLOW_DISCONNECT). Returns their count. */
int impa_subwatch_check(impa_subwatch_t *w, double now, impa_slow_subscriber_t *ev, int max_ev);
void impa_subwatch_counts(const impa_subwatch_t *w, double now, impa_subscriber_counts_t *c);

/* ---- CAP (cap.c) ---- */

/* One track's CAP message for this cycle. */
typedef struct {
    int64_t cell_id;
    impa_alert_event_t event;
    int64_t onset, expires;     /* first valid time; last valid time + step */
    int first_lead_minutes;
    double max_dbz, area_km2;
    int has_prob;               /* prob is set (the probability product ran) */
    double prob;                /* max P(dBZ >= the alert threshold) over the track's cells of
                                 * this cycle (impa/prob.h) */
    const impa_alert_cell_t *shape; /* polygon source (earliest lead), lat/lon when has_latlon */
    const int32_t *pixels;      /* the pixel list shape->pix_off indexes (NULL: its ring) */
    const impa_grid_t *grid;    /* grid of the pixels */
    const char *references;     /* "sender,identifier,sent" of the previous message or NULL */
    /* Set: the message is a watch region's probability alert (docs/protocol.md,
     * "CAP for watch regions"): region_index (0-based), the probability (has_prob,
     * prob), first_lead_minutes, onset/expires and threshold_dbz are read; cell_id,
     * shape, pixels, max_dbz and area_km2 are not. */
    const impa_watch_region_t *region;
    int region_index;
    double threshold_dbz;
} impa_cap_event_t;

/* Urgency/severity/certainty mapping (documented in docs/protocol.md). */
const char *impa_cap_urgency(int first_lead_minutes);
const char *impa_cap_severity(double max_dbz);
const char *impa_cap_certainty(int first_lead_minutes);
/* From the probability instead, CAP 1.2's words: Likely (p > ~50 %) for p >= 0.5,
 * Possible (p <= ~50 %) for p >= 0.1, else Unlikely (p ~ 0). */
const char *impa_cap_certainty_prob(double p);

/* The maximum probability of dBZ >= the alert threshold over cell c's pixels at
 * its lead (pixels: the list c->pix_off indexes); -1 when fc has no probability
 * at that threshold or the cell has no pixels. */
double impa_alert_cell_prob(const impa_forecast_t *fc, const impa_alert_cell_t *c,
                            const int32_t *pixels);

/* Formats the CAP 1.2 XML (libxml2 xmlTextWriter) into buf (NUL-terminated):
 * identifier from the issue time, `sent` = sent (the time of sending), the issue
 * (scan) time in a parameter. identifier/sent are written into ident/sent_out
 * (>= 192 and 32 bytes) for later references. Returns the length, IMPA_ENOSPC
 * when buf is too small, IMPA_ENOMEM. */
int impa_cap_format(const impa_cap_event_t *ev, const char *sender, const char *domain,
                    const char *run_id, int64_t issue, int64_t sent, char *ident,
                    char *sent_out, char *buf, size_t buflen);
/* CAP dateTime "YYYY-MM-DDThh:mm:ss+00:00" (>= 26 bytes). */
char *impa_cap_time(int64_t t, char *buf, size_t len);

#endif
