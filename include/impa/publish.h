/* Publishing forecasts, alerts and status over ZeroMQ (protocol: docs/protocol.md).
 *
 * The publisher owns its sockets (PUB for frames/alerts/status/verification, REP
 * or ROUTER for late-joiner snapshots). It never blocks: sends are non-blocking
 * with a high-water mark and drops are counted. The daemon's event loop polls
 * the request socket (impa_publisher_poll_items) and calls
 * impa_publisher_handle_request when it is readable. */
#ifndef IMPA_PUBLISH_H
#define IMPA_PUBLISH_H

#include <stdint.h>

#include "impa/forecast.h"

#define IMPA_PUBLISH_MAX_ENDPOINTS 4
/* Defaults (impa_publish_config_default, and the daemon's key table). */
#define IMPA_PUBLISH_DEFAULT_ENDPOINT "tcp://127.0.0.1:5560"
#define IMPA_PUBLISH_DEFAULT_REQUEST_ENDPOINT "tcp://127.0.0.1:5561"
#define IMPA_PUBLISH_DEFAULT_SNDHWM 1000
#define IMPA_PUBLISH_DEFAULT_CAP_SENDER "impa-nowcast"

typedef enum { IMPA_ENCODING_UINT8 = 0, IMPA_ENCODING_FLOAT32 = 1 } impa_encoding_t;

/* What a subscriber's full queue (sndhwm reached) does:
 * SUBSCRIBER: that subscriber misses the message (it sees the seq gap), every
 *   other subscriber gets it; the publisher cannot count these drops.
 * ALL: ZMQ_XPUB_NODROP: the message is refused for every subscriber and counted
 *   (publisher_dropped), so one stalled subscriber silences all of them. */
typedef enum { IMPA_DROP_SUBSCRIBER = 0, IMPA_DROP_ALL = 1 } impa_drop_policy_t;

/* A subscriber that stays stuck (32 KiB or a quarter of its kernel send buffer unread)
 * for slow_subscriber_s: DISCONNECT = it is disconnected, which frees its queue
 * (its libzmq reconnects and it sees the seq gap); SKIP = it stays connected and
 * misses what does not fit in its queue. Reported once either way. */
typedef enum { IMPA_SLOW_DISCONNECT = 0, IMPA_SLOW_SKIP = 1 } impa_slow_policy_t;
#define IMPA_PUBLISH_DEFAULT_SLOW_S 30
#define IMPA_PUBLISH_DEFAULT_QUEUE_MIB 32

typedef struct {
    char domain[64];
    int n_endpoints;
    char endpoints[IMPA_PUBLISH_MAX_ENDPOINTS][256]; /* PUB bind */
    char request_endpoint[256];   /* snapshot REP bind, "" = off */
    int sndhwm;                   /* messages: upper bound of the derived queue */
    int max_queue_mib;            /* per-subscriber queue of frames; 0 = the default (impa_publish_queue_hwm) */
    int slow_subscriber_s;        /* stuck this long: reported, policy applied */
    impa_slow_policy_t slow_policy;
    int n_leads;                  /* frames a cycle, sizes the queue; 0 = 12 */
    impa_drop_policy_t drop_policy; /* default IMPA_DROP_SUBSCRIBER */
    impa_encoding_t encoding;     /* frame payload */
    int cap_enabled;
    char cap_dir[4096];           /* where CAP XML files are written ("" = publish only) */
    char cap_sender[128];
    /* A continuing track gets a CAP Update only when something a consumer acts on
     * changed since its last message: area by more than cap_update_area_percent,
     * max dBZ by cap_update_dbz or more, its centroid moved cap_update_km or more,
     * its severity/urgency/certainty, its onset (when not under way) by
     * cap_update_minutes or more, or its last message expires within
     * cap_update_minutes. 0 for all four = an Update every cycle. */
    double cap_update_area_percent, cap_update_dbz, cap_update_km;
    int cap_update_minutes;
    int curve_enabled;
    char curve_secret_key_file[4096];   /* server secret key (z85, zmq_curve_keypair) */
    char curve_allowed_keys_file[4096]; /* one client public key (z85) per line */
} impa_publish_config_t;

#define IMPA_PUBLISH_DEFAULT_CAP_UPDATE_AREA_PERCENT 25
#define IMPA_PUBLISH_DEFAULT_CAP_UPDATE_DBZ 5
#define IMPA_PUBLISH_DEFAULT_CAP_UPDATE_KM 5
#define IMPA_PUBLISH_DEFAULT_CAP_UPDATE_MINUTES 10

/* Defaults as documented above. */
IMPA_API void impa_publish_config_default(impa_publish_config_t *cfg);

/* The per-subscriber send high-water mark, in messages, for frames of
 * frame_bytes (0 = not known yet: 512 x 512 assumed) and n_leads frames a
 * cycle: max_queue_mib (default IMPA_PUBLISH_DEFAULT_QUEUE_MIB) MiB of frames,
 * at least twice one cycle's burst (below that a subscriber that keeps up loses
 * messages), never above sndhwm. The queue then holds at most about
 * hwm * frame_bytes. */
IMPA_API int impa_publish_queue_hwm(const impa_publish_config_t *cfg, int n_leads,
                                    size_t frame_bytes);

/* A subscriber found stuck (impa_publisher_watch_subscribers). */
typedef struct {
    char peer[96];        /* "tcp://host:port" or "ipc peer pid N" */
    size_t queued_bytes;  /* unread in its kernel send buffer */
    double stuck_s;       /* seconds it had been stuck */
    int disconnected;     /* the policy disconnected it */
    int repeated;         /* the same peer (pid, or host without port) was reported before */
} impa_slow_subscriber_t;

typedef struct {
    int connected, stuck;          /* now */
    uint64_t slow_total, disconnected;
    double since_last_slow_s;      /* -1: none yet */
    char last_peer[96];
} impa_subscriber_counts_t;

typedef struct {
    int64_t last_scan_time;       /* 0 = none yet */
    double last_cycle_seconds;
    int window_fill, window_size;
    const char *model_name, *model_version, *method; /* method of the last cycle */
    int fallback_active;
    const char *state;            /* "ok", "waiting", "degraded" ... */
    const char *gap;              /* NULL or description of a window gap */
    uint64_t scans, cycles, quarantined, dropped_messages, duplicate_scans, late_scans;
    uint64_t too_old_scans;       /* scans dropped as older than the window */
    uint64_t archive_failures;    /* cycles whose archive file could not be written */
    const char *health;           /* "ok", "degraded", "failing" (NULL: not sent) */
    const char *reasons;          /* why not ok, "; "-separated, or NULL */
} impa_status_t;

typedef struct impa_publisher impa_publisher_t;

/* Binds every socket. A non-loopback endpoint without CURVE yields a warning
 * written into warn (the daemon logs it); errors (bad endpoint, bad key file) fail. */
IMPA_API int impa_publisher_create(const impa_publish_config_t *cfg, impa_publisher_t **out,
                                   char *warn, size_t warnlen, char *err, size_t errlen);
IMPA_API void impa_publisher_destroy(impa_publisher_t **pub);

/* Publishes one cycle: frames (one per lead, lead order), the alerts the cycle
 * computed (fc->alerts: new/updated/ended events, as GeoJSON), CAP when enabled,
 * then end-of-cycle; and keeps the cycle as the snapshot served to late joiners.
 * Without fc->alerts only the frames and the end-of-cycle go out (its
 * alert_error says fc->alert_error) and the call fails after sending them. */
IMPA_API int impa_publisher_send_cycle(impa_publisher_t *pub, const impa_forecast_t *fc,
                                       char *err, size_t errlen);
IMPA_API int impa_publisher_send_status(impa_publisher_t *pub, const impa_status_t *st,
                                        char *err, size_t errlen);
/* Publishes a verification summary (JSON text built by the caller) on the
 * verification topic. */
IMPA_API int impa_publisher_send_verification(impa_publisher_t *pub, const char *json,
                                              char *err, size_t errlen);

/* Socket the event loop must poll for ZMQ_POLLIN (void* zmq socket), or NULL. */
IMPA_API void *impa_publisher_request_socket(impa_publisher_t *pub);
/* Serves one pending snapshot request; never blocks. */
IMPA_API int impa_publisher_handle_request(impa_publisher_t *pub, char *err, size_t errlen);

/* Messages dropped so far because a subscriber queue was full. */
IMPA_API uint64_t impa_publisher_dropped(const impa_publisher_t *pub);

/* Alert continuity across restarts. save_state writes what the next cycle's
 * tracking and CAP messages build on (the tracker's last cells and next cell id,
 * impa/alerts.h, and the publisher's CAP references) to path, a checksummed
 * file replaced by rename; the daemon calls it after every cycle. load_state
 * reads it into a publisher that has not sent a cycle yet and a tracker that
 * has not run yet: the next cycle then continues the tracks (same cell_id,
 * event "updated", CAP Update/Cancel referencing the messages sent before the
 * restart) instead of starting them again. Tracks whose forecast has run out by
 * then are dropped. load_state: IMPA_ENOTFOUND (no file: start fresh),
 * IMPA_EFORMAT (not a state file, damaged, another build's layout or another
 * domain), IMPA_ESTATE (a cycle was sent or tracked already), IMPA_EIO. */
struct impa_alert_tracker;
IMPA_API int impa_publisher_save_state(const impa_publisher_t *pub,
                                       const struct impa_alert_tracker *tracker, const char *path,
                                       char *err, size_t errlen);
IMPA_API int impa_publisher_load_state(impa_publisher_t *pub, struct impa_alert_tracker *tracker,
                                       const char *path, char *err, size_t errlen);

/* ---- additions (publish module) ---- */

/* Endpoint actually bound for PUB endpoint i (ZMQ_LAST_ENDPOINT: resolves
 * "tcp://127.0.0.1:*" to the ephemeral port), or NULL. Owned by the publisher. */
IMPA_API const char *impa_publisher_endpoint(const impa_publisher_t *pub, int i);
/* Bound snapshot (REP) endpoint, or NULL when off. */
IMPA_API const char *impa_publisher_request_endpoint(const impa_publisher_t *pub);
/* 16 hex characters chosen at create; changes on every daemon start so consumers
 * can tell a restart (sequence numbers start again at 1) from lost messages. */
IMPA_API const char *impa_publisher_run_id(const impa_publisher_t *pub);
/* Number of CAP messages written/published so far. */
IMPA_API uint64_t impa_publisher_cap_count(const impa_publisher_t *pub);
/* Continuing tracks whose CAP Update was not sent because nothing a consumer
 * acts on changed (impa_publish_config_t.cap_update_*), since start. */
IMPA_API uint64_t impa_publisher_cap_unchanged(const impa_publisher_t *pub);

/* The send high-water mark given to subscribers connecting now (messages). */
IMPA_API int impa_publisher_queue_hwm(const impa_publisher_t *pub);
/* Checks the subscribers' queues (call every second or so from the loop that
 * owns the publisher): fills ev with up to max_ev subscribers newly found stuck,
 * each reported once per connection, and applies publish.slow_policy. Returns
 * how many it filled. */
IMPA_API int impa_publisher_watch_subscribers(impa_publisher_t *pub, impa_slow_subscriber_t *ev,
                                              int max_ev);
/* Subscribers connected and stuck now, stuck and disconnected so far. */
IMPA_API void impa_publisher_subscribers(const impa_publisher_t *pub,
                                         impa_subscriber_counts_t *counts);

#endif
