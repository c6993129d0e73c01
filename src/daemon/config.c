#include "daemon/config.h"

#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "daemon/privilege.h"
#include "impa/error.h"
#include "impa/extrapolate.h"
#include "impa/sha256.h"
#include "impa_build_config.h"

typedef enum {
    K_INT,
    K_DOUBLE,
    K_FLOAT,
    K_BOOL,
    K_STRING,
    K_PATH,      /* string; relative values resolve against the config file's directory */
    K_ENUM,      /* stored as int: base + index of the choice */
    K_STRLIST,   /* char[max][size] + int count */
    K_FLOATLIST, /* float[max] + int count */
    K_REGIONS,   /* list of {name, polygon: [[lat, lon], ...]} */
} key_type_t;

typedef struct {
    const char *path;    /* dotted key, e.g. "window.jitter_s" */
    key_type_t type;
    size_t offset;       /* of the value in impa_daemon_config_t */
    size_t size;         /* string capacity (per element for K_STRLIST) */
    double min, max;     /* numeric bounds; lists: max is the element capacity */
    const char *def;     /* default, as text; lists: comma separated */
    const char *choices; /* K_ENUM: "a|b|c" */
    size_t count_offset; /* lists: offset of the int element count */
    const char *help;
} cfg_key_t;

#define OFF(f) offsetof(impa_daemon_config_t, f)
#define STR_(x) #x
#define STR(x) STR_(x) /* a numeric default macro as the table's text */
#define SZ(f) sizeof(((impa_daemon_config_t *)0)->f)
#define SZ0(f) sizeof(((impa_daemon_config_t *)0)->f[0])

_Static_assert(sizeof(impa_encoding_t) == sizeof(int), "encoding stored through an int");
_Static_assert(sizeof(impa_drop_policy_t) == sizeof(int), "drop policy stored through an int");
_Static_assert(sizeof(impa_slow_policy_t) == sizeof(int), "slow policy stored through an int");

/* The single description of every configuration key: parsing, defaults, bounds,
 * --print-config-reference and docs/configuration.md all come from here. */
static const cfg_key_t keys[] = {
    {"config_version", K_INT, OFF(config_version), 0, 1, 1, "1", NULL, 0,
     "Version of this file's layout; only 1 exists."},
    {"domain.name", K_STRING, OFF(domain_name), SZ(domain_name), 0, 0, "radar", NULL, 0,
     "Name of the forecast domain, carried by every product."},
    {"domain.x_offset", K_INT, OFF(x_offset), 0, 0, 100000, "0", NULL, 0,
     "First input column of the crop."},
    {"domain.y_offset", K_INT, OFF(y_offset), 0, 0, 100000, "0", NULL, 0,
     "First input row of the crop."},
    {"domain.nx", K_INT, OFF(nx), 0, 0, 100000, "0", NULL, 0,
     "Crop width in input cells; 0 = whole grid from x_offset."},
    {"domain.ny", K_INT, OFF(ny), 0, 0, 100000, "0", NULL, 0,
     "Crop height in input cells; 0 = whole grid from y_offset."},
    {"domain.block", K_INT, OFF(block), 0, 1, 64, "1", NULL, 0,
     "Block-average factor from input cells to model cells (averages of linear Z)."},
    {"input.directory", K_PATH, OFF(input_dir), SZ(input_dir), 0, 0,
     "/var/lib/impa-nowcast/input", NULL, 0,
     "Directory watched for new scans (created if missing)."},
    {"input.pattern", K_STRING, OFF(input_pattern), SZ(input_pattern), 0, 0, "*.nc", NULL, 0,
     "fnmatch pattern of scan file names; names starting with '.' are always ignored."},
    {"input.variable", K_STRING, OFF(input_variable), SZ(input_variable), 0, 0, "", NULL, 0,
     "Variable to read; empty = found by CF standard_name/units."},
    {"input.zr_a", K_DOUBLE, OFF(zr_a), 0, 1, 10000, "200", NULL, 0,
     "a in Z = a R^b, to turn rain rates/accumulations into dBZ."},
    {"input.zr_b", K_DOUBLE, OFF(zr_b), 0, 0.5, 5, "1.6", NULL, 0, "b in Z = a R^b."},
    {"input.accumulation_period_s", K_DOUBLE, OFF(accum_period_s), 0, 0, 86400, "0", NULL, 0,
     "Accumulation period when a file does not state it; 0 = refuse such files."},
    {"input.quarantine_directory", K_PATH, OFF(quarantine_dir), SZ(quarantine_dir), 0, 0, "",
     NULL, 0, "Where unreadable or inconsistent scans are moved; empty = <input.directory>/quarantine."},
    {"input.max_ahead_minutes", K_INT, OFF(max_ahead_minutes), 0, 1, 525600, "5", NULL, 0,
     "A scan stamped more than this ahead of the host clock is not used: it stays in the input directory and is read when the clock reaches it (several such scans: a clock fault, in the log and the status)."},
    {"input.grid_confirm_scans", K_INT, OFF(grid_confirm_scans), 0, 1, 16, "3", NULL, 0,
     "Scans on the same grid needed before that grid becomes the model grid; scans on another grid are then quarantined."},
    {"input.min_valid_fraction", K_DOUBLE, OFF(min_valid_fraction), 0, 0, 1, "0.1", NULL, 0,
     "Smallest fraction of a scan's cells holding data (not NaN/_FillValue/nodata); a scan with less is quarantined."},
    {"input.scan_retention_hours", K_DOUBLE, OFF(scan_retention_hours), 0, 0, 87600, "48", NULL, 0,
     "Scans in input.directory (matching input.pattern) whose file is older than this are removed after each cycle; 0 = keep them (the producer cleans up)."},
    {"input.quarantine_retention_hours", K_DOUBLE, OFF(quarantine_retention_hours), 0, 0, 87600,
     "168", NULL, 0, "Quarantined files older than this are removed after each cycle; 0 = keep."},
    {"input.quarantine_max_mib", K_INT, OFF(quarantine_max_mib), 0, 0, 1048576, "1024", NULL, 0,
     "The oldest quarantined files are removed while the quarantine directory holds more than this; 0 = no bound."},
    {"input.max_dbz", K_DOUBLE, OFF(max_dbz), 0, 60, 1000, "100", NULL, 0,
     "Physical maximum of a scan's reflectivity (rain rates converted); a scan with any cell above it is quarantined."},
    {"window.jitter_s", K_INT, OFF(jitter_s), 0, 0, 3600, "60", NULL, 0,
     "Tolerance around the model's step grid; must be below half the model step."},
    {"window.gap_policy", K_ENUM, OFF(gap_policy), 0, 0, 0, "wait", "wait|extrapolate", 0,
     "Missing step in the window: wait (no cycle) or extrapolate (fallback forecast)."},
    {"model.weights", K_PATH, OFF(weights), SZ(weights), 0, 0, "", NULL, 0,
     "IMPA-Net weights file; empty = the installed model (MODELDIR/impa-net.nc)."},
    {"model.threads", K_INT, OFF(threads), 0, 0, 256, "0", NULL, 0,
     "Threads for inference and extrapolation; 0 = all cores."},
    {"model.tile", K_INT, OFF(tile), 0, 0, 4096, "80", NULL, 0,
     "Run a size-dependent network (GroupNorm, grid-mean SE) on tile x tile windows (multiple of 4; 0 = whole grid): such a model trained on 80 x 80 crops paints echo over dry areas on whole large grids. Size-independent models (norm_local, se_window) always run on the whole grid."},
    {"model.tile_overlap", K_INT, OFF(tile_overlap), 0, 0, 2048, "32", NULL, 0,
     "Pixels shared by neighbouring model.tile windows (at most model.tile/2), blended with linear ramps: abutting windows (0) leave seams at their borders, where each window has lost context. Cost: up to (tile/(tile-overlap))^2 times the windows (2.8x at 80/32); 2x on 512 x 512 (100 windows instead of 49). Ignored with model.tile 0 and by size-independent models."},
    {"model.calibration", K_ENUM, OFF(calibration), 0, 0, 0, "auto", "auto|none|extrapolation", 0,
     "Probability matching of the network's forecast: extrapolation = each lead takes the intensity distribution of that lead's optical-flow extrapolation (the network keeps where the echo is, the extrapolation sets how much of it is how strong; without it the shipped model's >= 45 dBZ area is 2-3 times too large). auto = extrapolation for advection-guided models, none for plain ones. Scores with and without: models/README.md."},
    {"model.method", K_ENUM, OFF(method), 0, 0, 0, "impa-net", "impa-net|extrapolation", 0,
     "Primary method; extrapolation skips the network entirely."},
    {"extrapolation.scheme", K_ENUM, OFF(extrap_scheme), 0, IMPA_EXTRAP_SCHEME_1, 0,
     "impa-extrap-3", IMPA_EXTRAP_SCHEME_CHOICES, 0,
     "Optical-flow extrapolation the service publishes: model.method extrapolation, the fallback when the network cannot run (window gap, no model, inference error), and so the extrapolation rows of the online verification (docs/nowcast.md, \"Every event\": impa-extrap-3 is the best on every radar). The network's own advection input does not follow this key: it is always the scheme its weights file records (attribute extrapolation, absent = impa-extrap-1); when the two differ both are computed, each only when its product needs it, and the cycle log names the scheme of each forecast."},
    {"output.directory", K_PATH, OFF(output_dir), SZ(output_dir), 0, 0,
     "/var/lib/impa-nowcast/forecasts", NULL, 0, "Forecast archive directory (created if missing)."},
    {"output.prefix", K_STRING, OFF(output_prefix), SZ(output_prefix), 0, 0, "impa_", NULL, 0,
     "Archive file name prefix: <prefix><issue time>.nc."},
    {"output.retention_hours", K_INT, OFF(retention_hours), 0, 0, 87600, "48", NULL, 0,
     "Archive files older than this are deleted after each cycle; 0 = keep all."},
    {"publish.endpoints", K_STRLIST, OFF(publish.endpoints), SZ0(publish.endpoints), 1,
     IMPA_PUBLISH_MAX_ENDPOINTS, IMPA_PUBLISH_DEFAULT_ENDPOINT, NULL, OFF(publish.n_endpoints),
     "ZeroMQ PUB endpoints to bind (frames, alerts, status, verification)."},
    {"publish.request_endpoint", K_STRING, OFF(publish.request_endpoint),
     SZ(publish.request_endpoint), 0, 0, IMPA_PUBLISH_DEFAULT_REQUEST_ENDPOINT, NULL, 0,
     "Snapshot REP endpoint for late joiners; empty = off."},
    {"publish.sndhwm", K_INT, OFF(publish.sndhwm), 0, 1, 1000000,
     STR(IMPA_PUBLISH_DEFAULT_SNDHWM), NULL, 0,
     "Upper bound of the per-subscriber send queue (messages); the queue itself is sized from the frames (publish.max_queue_mib); beyond it a subscriber misses messages."},
    {"publish.max_queue_mib", K_INT, OFF(publish.max_queue_mib), 0, 1, 4096,
     STR(IMPA_PUBLISH_DEFAULT_QUEUE_MIB), NULL, 0,
     "Per-subscriber queue in MiB of frames: publish.sndhwm = this / frame size (32 messages at 512 x 512 float32, 128 at uint8), at least twice one cycle, at most publish.sndhwm. What a stuck subscriber can hold in the daemon's memory until it is found (publish.slow_subscriber_s)."},
    {"publish.slow_subscriber_s", K_INT, OFF(publish.slow_subscriber_s), 0, 1, 86400,
     STR(IMPA_PUBLISH_DEFAULT_SLOW_S), NULL, 0,
     "A subscriber whose kernel send buffer holds 32 KiB (or a quarter of it) unread for this long is not reading: logged once (warning), status degraded 'subscriber dropping', publish.slow_policy applied."},
    {"publish.slow_policy", K_ENUM, OFF(publish.slow_policy), 0, 0, 0, "disconnect",
     "disconnect|skip", 0,
     "A stuck subscriber: disconnect = its connection is closed, which frees its queue (its libzmq reconnects, it sees the seq gap); skip = it stays and misses what does not fit in its queue."},
    {"publish.drop_policy", K_ENUM, OFF(publish.drop_policy), 0, 0, 0, "subscriber",
     "subscriber|all", 0,
     "A subscriber's full queue: subscriber = only it misses messages (it sees the seq gap); all = the message is refused for every subscriber and counted (publisher_dropped)."},
    {"publish.encoding", K_ENUM, OFF(publish.encoding), 0, 0, 0, "uint8", "uint8|float32", 0,
     "Frame payload encoding."},
    {"publish.status_interval_s", K_INT, OFF(status_interval_s), 0, 1, 3600, "30", NULL, 0,
     "Seconds between status messages (and watchdog pings)."},
    {"publish.alerts.threshold_dbz", K_FLOAT, OFF(alerts.threshold_dbz), 0, 0, 80,
     STR(IMPA_ALERT_DEFAULT_THRESHOLD_DBZ), NULL, 0,
     "Reflectivity above which an alert area is formed."},
    {"publish.alerts.min_area_km2", K_FLOAT, OFF(alerts.min_area_km2), 0, 0, 1e6,
     STR(IMPA_ALERT_DEFAULT_MIN_AREA_KM2), NULL, 0, "Smallest alert area."},
    {"publish.alerts.cluster_km", K_DOUBLE, OFF(alerts.cluster_km), 0, 0, 50,
     STR(IMPA_ALERT_DEFAULT_CLUSTER_KM), NULL, 0,
     "Pixels at or above the threshold within this distance belong to one alert cell (a storm's fragments are one object, one track); 0 = 8-connected pixels only."},
    {"publish.alerts.confirm_age_minutes", K_INT, OFF(alerts.confirm_age_minutes), 0, 0, 1440,
     STR(IMPA_ALERT_DEFAULT_CONFIRM_AGE_MINUTES), NULL, 0,
     "Persistence before an Alert: a new track is published once it was first found at least this long before the cycle (10 = in the previous cycle too); 0 = at once."},
    {"publish.alerts.confirm_area_km2", K_FLOAT, OFF(alerts.confirm_area_km2), 0, 0, 1e6,
     STR(IMPA_ALERT_DEFAULT_CONFIRM_AREA_KM2), NULL, 0,
     "...or at once when a cell of the track has at least this area; 0 = no such route."},
    {"publish.alerts.confirm_dbz", K_FLOAT, OFF(alerts.confirm_dbz), 0, 0, 100,
     STR(IMPA_ALERT_DEFAULT_CONFIRM_DBZ), NULL, 0,
     "...or at once when a cell of the track reaches this reflectivity; 0 = no such route."},
    {"publish.alerts.confirm_minutes", K_INT, OFF(alerts.confirm_minutes), 0, 0, 1440,
     STR(IMPA_ALERT_DEFAULT_CONFIRM_MINUTES), NULL, 0,
     "...or at once when the track is forecast over at least this many minutes of leads in one cycle (leads x step); 0 = no such route."},
    {"publish.alerts.cancel_after_minutes", K_INT, OFF(alerts.cancel_after_minutes), 0, 0, 1440,
     STR(IMPA_ALERT_DEFAULT_CANCEL_AFTER_MINUTES), NULL, 0,
     "Hysteresis before Cancel: an alerted track no longer forecast is held (no message; matched again if it returns) and cancelled only once it has been missing for longer than this; 0 = cancel at once."},
    {"publish.alerts.regions", K_REGIONS, OFF(alerts.regions), 0, 0, IMPA_ALERT_MAX_REGIONS,
     "", NULL, OFF(alerts.n_regions),
     "Watch regions: list of {name, polygon: [[lat, lon], ...]} (3 to 64 vertices), each "
     "optionally with alert_probability (above 0, at most 1) and alert_within_minutes (1 to "
     "1440), together: the region alerts (GeoJSON region feature, CAP) while the probability "
     "of >= publish.alerts.threshold_dbz reaches alert_probability in it at a lead of at most "
     "alert_within_minutes (needs prob.enabled, the threshold in prob.thresholds, and at least "
     "one lead within the window). Every region's maximum probability per lead is published "
     "with the alerts."},
    {"publish.cap.enabled", K_BOOL, OFF(publish.cap_enabled), 0, 0, 0, "false", NULL, 0,
     "Write CAP 1.2 alert messages."},
    {"publish.cap.directory", K_PATH, OFF(publish.cap_dir), SZ(publish.cap_dir), 0, 0, "", NULL,
     0, "Where CAP XML files are written; empty = publish only."},
    {"publish.cap.sender", K_STRING, OFF(publish.cap_sender), SZ(publish.cap_sender), 0, 0,
     IMPA_PUBLISH_DEFAULT_CAP_SENDER, NULL, 0, "CAP sender field."},
    {"publish.cap.update_area_percent", K_DOUBLE, OFF(publish.cap_update_area_percent), 0, 0,
     1000, STR(IMPA_PUBLISH_DEFAULT_CAP_UPDATE_AREA_PERCENT), NULL, 0,
     "A continuing track gets a CAP Update only when something changed since its last message: its area by more than this many percent, ..."},
    {"publish.cap.update_dbz", K_DOUBLE, OFF(publish.cap_update_dbz), 0, 0, 100,
     STR(IMPA_PUBLISH_DEFAULT_CAP_UPDATE_DBZ), NULL, 0,
     "... its maximum reflectivity by this much (or its severity, urgency or certainty), ..."},
    {"publish.cap.update_km", K_DOUBLE, OFF(publish.cap_update_km), 0, 0, 1000,
     STR(IMPA_PUBLISH_DEFAULT_CAP_UPDATE_KM), NULL, 0,
     "... its centroid moved this far, ..."},
    {"publish.cap.update_minutes", K_INT, OFF(publish.cap_update_minutes), 0, 0, 1440,
     STR(IMPA_PUBLISH_DEFAULT_CAP_UPDATE_MINUTES), NULL, 0,
     "... its onset (when not under way) by this much, or its last message expires within this; all four 0 = an Update every cycle."},
    {"publish.curve.enabled", K_BOOL, OFF(publish.curve_enabled), 0, 0, 0, "false", NULL, 0,
     "CURVE encryption and client authentication on every socket."},
    {"publish.curve.secret_key_file", K_PATH, OFF(publish.curve_secret_key_file),
     SZ(publish.curve_secret_key_file), 0, 0, "", NULL, 0, "Server secret key (z85)."},
    {"publish.curve.allowed_keys_file", K_PATH, OFF(publish.curve_allowed_keys_file),
     SZ(publish.curve_allowed_keys_file), 0, 0, "", NULL, 0,
     "Allowed client public keys (z85), one per line."},
    {"prob.enabled", K_BOOL, OFF(prob_enabled), 0, 0, 0, "true", NULL, 0,
     "Exceedance probabilities P(dBZ >= threshold) per lead, computed from every forecast (docs/nowcast.md, \"Probability of severe echo\"): archived, published (topic prob), carried by the alerts and verified online. Needs a calibration table: off, with a notice, when prob.calibration is empty and none is installed."},
    {"prob.calibration", K_PATH, OFF(prob_calibration), SZ(prob_calibration), 0, 0, "", NULL, 0,
     "Calibration table of the probabilities (window radius, calibration, growth terms and intensity margin per threshold and lead, written by train/impa/probloeo.py --fit; impa-prob-1 tables of train/impa/prob.py still load); empty = MODELDIR/prob-calibration.txt (in a source checkout: its models/prob-calibration.txt). A table named here must load and cover every threshold and lead, or the start-up fails."},
    {"prob.thresholds", K_FLOATLIST, OFF(prob_thresholds), 0, -32, 80, "35,45", NULL,
     OFF(n_prob_thresholds), "Thresholds of the probabilities in dBZ (1 to 4 values); the alerts use 45 when listed."},
    {"verification.enabled", K_BOOL, OFF(verify_enabled), 0, 0, 0, "true", NULL, 0,
     "Online verification of every forecast against the scans that arrive later."},
    {"verification.thresholds", K_FLOATLIST, OFF(thresholds), 0, -32, 80,
     "20,35,45", NULL, OFF(n_thresholds), "Event thresholds in dBZ (1 to 8 values)."},
    {"verification.state_directory", K_PATH, OFF(state_dir), SZ(state_dir), 0, 0,
     "/var/lib/impa-nowcast/state", NULL, 0,
     "State kept across restarts: verification.csv (this month), verification-YYYY-MM.csv (earlier months), verification-totals.csv, alerts.state (alert tracks, CAP references and raised watch region alerts of the last cycle) and prob-verify.state (the probability scores since start)."},
    {"security.permissions", K_ENUM, OFF(perm_policy), 0, 0, 0, "warn", "warn|refuse", 0,
     "Config, weights or CURVE key files writable by group/others or owned by another user: warn, or refuse to start/reload."},
    {"daemon.user", K_STRING, OFF(daemon_user), SZ(daemon_user), 0, 0, "", NULL, 0,
     "Started as root (outside the shipped systemd unit, which never runs it as root): drop to this account before anything is opened; empty = refuse to run as root (docs/security.md)."},
    {"health.quiet_period_s", K_INT, OFF(quiet_period_s), 0, 0, 604800, "3600", NULL, 0,
     "No new scan for this long: status failing and the systemd watchdog no longer fed (systemd restarts the service); 0 = never."},
    {"log.level", K_ENUM, OFF(log_level), 0, 3, 0, "info", "error|warning|notice|info|debug", 0,
     "Least severe level logged."},
};
#define N_KEYS (sizeof keys / sizeof keys[0])

static const char *type_name(key_type_t t)
{
    switch (t) {
    case K_INT: return "integer";
    case K_DOUBLE:
    case K_FLOAT: return "number";
    case K_BOOL: return "boolean";
    case K_STRING: return "string";
    case K_PATH: return "path";
    case K_ENUM: return "choice";
    case K_STRLIST: return "list of strings";
    case K_FLOATLIST: return "list of numbers";
    case K_REGIONS: return "list of regions";
    }
    return "?";
}

const char *impa_config_log_level_name(int level)
{
    static const char *names[] = {"error", "warning", "notice", "info", "debug"};
    return level >= 3 && level <= 7 ? names[level - 3] : "?";
}

/* Parsing context: where errors go and how many there were. */
typedef struct {
    const char *name;     /* file name for messages */
    const char *base_dir; /* relative paths resolve against it */
    char *err;
    size_t errlen, used;
    int n_errors;
    unsigned char seen[N_KEYS];
} ctx_t;

static void add_err(ctx_t *c, int line, const char *key, const char *fmt, ...) IMPA_PRINTF(4, 5);
static void add_err(ctx_t *c, int line, const char *key, const char *fmt, ...)
{
    c->n_errors++;
    if (!c->err || c->errlen == 0 || c->used + 1 >= c->errlen)
        return;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char lineb[32] = "";
    if (line > 0)
        snprintf(lineb, sizeof lineb, "%d:", line);
    int n = snprintf(c->err + c->used, c->errlen - c->used, "%s%s:%s %s%s%s%s",
                     c->used ? "\n" : "", c->name, lineb, key ? "key '" : "", key ? key : "",
                     key ? "': " : "", msg);
    if (n > 0)
        c->used += (size_t)n < c->errlen - c->used ? (size_t)n : c->errlen - c->used - 1;
}

static int parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static int check_bounds(double v, const cfg_key_t *k, const char *text, char *why, size_t len)
{
    if (v < k->min)
        return impa_err(why, len, -1, "%s is below the minimum %g", text, k->min);
    if (v > k->max)
        return impa_err(why, len, -1, "%s is above the maximum %g", text, k->max);
    return 0;
}

static int resolve_path(const char *text, const char *base_dir, char *dst, size_t size,
                        char *why, size_t len)
{
    int n;
    if (text[0] == '\0' || text[0] == '/' || !base_dir || !base_dir[0])
        n = snprintf(dst, size, "%s", text);
    else
        n = snprintf(dst, size, "%s/%s", base_dir, text);
    if (n < 0 || (size_t)n >= size)
        return impa_err(why, len, -1, "path longer than %zu characters", size - 1);
    return 0;
}

/* Stores one scalar value (or one list element, index idx) for key k. */
static int set_scalar(const cfg_key_t *k, const char *text, int idx, const char *base_dir,
                      impa_daemon_config_t *cfg, char *why, size_t len)
{
    char *base = (char *)cfg + k->offset;
    switch (k->type) {
    case K_INT: {
        long v;
        if (parse_long(text, &v))
            return impa_err(why, len, -1, "'%s' is not an integer", text);
        if (check_bounds((double)v, k, text, why, len))
            return -1;
        *(int *)base = (int)v;
        return 0;
    }
    case K_DOUBLE:
    case K_FLOAT:
    case K_FLOATLIST: {
        double v;
        if (parse_double(text, &v))
            return impa_err(why, len, -1, "'%s' is not a number", text);
        if (check_bounds(v, k, text, why, len) && k->type != K_FLOATLIST)
            return -1;
        if (k->type == K_DOUBLE)
            *(double *)base = v;
        else if (k->type == K_FLOAT)
            *(float *)base = (float)v;
        else {
            if (v < k->min || v > k->max)
                return impa_err(why, len, -1, "%s is outside [%g, %g]", text, k->min, k->max);
            ((float *)base)[idx] = (float)v;
        }
        return 0;
    }
    case K_BOOL:
        if (!strcmp(text, "true") || !strcmp(text, "yes") || !strcmp(text, "on"))
            *(int *)base = 1;
        else if (!strcmp(text, "false") || !strcmp(text, "no") || !strcmp(text, "off"))
            *(int *)base = 0;
        else
            return impa_err(why, len, -1, "'%s' is not a boolean (true or false)", text);
        return 0;
    case K_STRING:
    case K_STRLIST: {
        char *dst = k->type == K_STRLIST ? base + (size_t)idx * k->size : base;
        if (strlen(text) >= k->size)
            return impa_err(why, len, -1, "longer than %zu characters", k->size - 1);
        memcpy(dst, text, strlen(text) + 1);
        return 0;
    }
    case K_PATH:
        return resolve_path(text, base_dir, base, k->size, why, len);
    case K_ENUM: {
        const char *p = k->choices;
        for (int i = 0; p && *p; i++) {
            size_t n = strcspn(p, "|");
            if (strlen(text) == n && !strncmp(p, text, n)) {
                *(int *)base = (int)k->min + i;
                return 0;
            }
            p += n + (p[n] == '|');
        }
        char list[256];
        snprintf(list, sizeof list, "%s", k->choices);
        for (char *q = list; *q; q++)
            if (*q == '|')
                *q = '/';
        return impa_err(why, len, -1, "'%s' is not one of %s", text, list);
    }
    case K_REGIONS:
        break;
    }
    return impa_err(why, len, -1, "cannot be given as a scalar");
}

static void apply_default(const cfg_key_t *k, impa_daemon_config_t *cfg)
{
    char why[256];
    if (k->type == K_STRLIST || k->type == K_FLOATLIST) {
        int n = 0;
        char buf[512];
        snprintf(buf, sizeof buf, "%s", k->def);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok && n < (int)k->max;
             tok = strtok_r(NULL, ",", &save))
            if (set_scalar(k, tok, n, NULL, cfg, why, sizeof why) == 0)
                n++;
        *(int *)((char *)cfg + k->count_offset) = n;
    } else if (k->type == K_REGIONS) {
        *(int *)((char *)cfg + k->count_offset) = 0;
    } else {
        (void)set_scalar(k, k->def, 0, NULL, cfg, why, sizeof why);
    }
}

/* What the keys' values imply, after the defaults and after a file: an empty
 * model.weights is the installed model, and the publisher carries the domain. */
static void derive(impa_daemon_config_t *cfg)
{
    if (!cfg->weights[0])
        snprintf(cfg->weights, sizeof cfg->weights, "%s/impa-net.nc", IMPA_MODELDIR);
    snprintf(cfg->publish.domain, sizeof cfg->publish.domain, "%s", cfg->domain_name);
}

void impa_config_defaults(impa_daemon_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    impa_alert_config_default(&cfg->alerts); /* match_km, max_cells: not keys */
    for (size_t i = 0; i < N_KEYS; i++)
        apply_default(&keys[i], cfg);
    derive(cfg);
}

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

static int line_of(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }

static const char *scalar(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

/* A YAML null (`key:` or `~`) given for a string means "empty". */
static int is_null(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (!strcmp(scalar(n), "") || !strcmp(scalar(n), "~") || !strcmp(scalar(n), "null"));
}

static void parse_regions(ctx_t *c, yaml_document_t *doc, const cfg_key_t *k, yaml_node_t *v,
                          impa_daemon_config_t *cfg)
{
    int *count = (int *)((char *)cfg + k->count_offset);
    *count = 0;
    if (is_null(v))
        return;
    if (v->type != YAML_SEQUENCE_NODE) {
        add_err(c, line_of(v), k->path, "expected a list of regions, got %s", node_kind(v));
        return;
    }
    int i = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++, i++) {
        yaml_node_t *r = yaml_document_get_node(doc, *it);
        char key[128];
        snprintf(key, sizeof key, "%s[%d]", k->path, i);
        if (i >= (int)k->max) {
            add_err(c, line_of(r), key, "more than %d regions", (int)k->max);
            return;
        }
        if (r->type != YAML_MAPPING_NODE) {
            add_err(c, line_of(r), key, "expected a mapping {name, polygon}, got %s",
                    node_kind(r));
            continue;
        }
        impa_watch_region_t *reg = &cfg->alerts.regions[i];
        memset(reg, 0, sizeof *reg);
        int have_name = 0, have_poly = 0;
        for (yaml_node_pair_t *p = r->data.mapping.pairs.start; p < r->data.mapping.pairs.top;
             p++) {
            yaml_node_t *kn = yaml_document_get_node(doc, p->key);
            yaml_node_t *vn = yaml_document_get_node(doc, p->value);
            const char *name = kn->type == YAML_SCALAR_NODE ? scalar(kn) : "?";
            char sub[160];
            snprintf(sub, sizeof sub, "%s.%s", key, name);
            if (!strcmp(name, "name")) {
                if (vn->type != YAML_SCALAR_NODE || strlen(scalar(vn)) >= sizeof reg->name)
                    add_err(c, line_of(vn), sub, "expected a name shorter than %zu characters",
                            sizeof reg->name);
                else
                    snprintf(reg->name, sizeof reg->name, "%s", scalar(vn)), have_name = 1;
            } else if (!strcmp(name, "polygon")) {
                if (vn->type != YAML_SEQUENCE_NODE) {
                    add_err(c, line_of(vn), sub, "expected a list of [lat, lon], got %s",
                            node_kind(vn));
                    continue;
                }
                int nv = 0, bad = 0;
                for (yaml_node_item_t *pt = vn->data.sequence.items.start;
                     pt < vn->data.sequence.items.top && !bad; pt++, nv++) {
                    yaml_node_t *pn = yaml_document_get_node(doc, *pt);
                    double ll[2];
                    if (nv >= IMPA_ALERT_MAX_VERTICES) {
                        add_err(c, line_of(pn), sub, "more than %d vertices",
                                IMPA_ALERT_MAX_VERTICES);
                        bad = 1;
                        break;
                    }
                    if (pn->type != YAML_SEQUENCE_NODE ||
                        pn->data.sequence.items.top - pn->data.sequence.items.start != 2) {
                        add_err(c, line_of(pn), sub, "vertex %d: expected [lat, lon]", nv);
                        bad = 1;
                        break;
                    }
                    for (int j = 0; j < 2; j++) {
                        yaml_node_t *x =
                            yaml_document_get_node(doc, pn->data.sequence.items.start[j]);
                        if (x->type != YAML_SCALAR_NODE || parse_double(scalar(x), &ll[j]) ||
                            fabs(ll[j]) > (j ? 360.0 : 90.0)) {
                            add_err(c, line_of(x), sub, "vertex %d: bad %s", nv,
                                    j ? "longitude" : "latitude");
                            bad = 1;
                            break;
                        }
                    }
                    if (!bad)
                        reg->lat[nv] = ll[0], reg->lon[nv] = ll[1];
                }
                if (!bad && nv < 3)
                    add_err(c, line_of(vn), sub, "a polygon needs at least 3 vertices, got %d",
                            nv);
                else if (!bad)
                    reg->n_vertices = nv, have_poly = 1;
            } else if (!strcmp(name, "alert_probability")) {
                double pv;
                if (vn->type != YAML_SCALAR_NODE || parse_double(scalar(vn), &pv) || !(pv > 0) ||
                    pv > 1)
                    add_err(c, line_of(vn), sub,
                            "expected a probability above 0 and at most 1 (e.g. 0.3), got '%s'",
                            vn->type == YAML_SCALAR_NODE ? scalar(vn) : node_kind(vn));
                else
                    reg->alert_probability = pv;
            } else if (!strcmp(name, "alert_within_minutes")) {
                long m;
                if (vn->type != YAML_SCALAR_NODE || parse_long(scalar(vn), &m) || m < 1 ||
                    m > 1440)
                    add_err(c, line_of(vn), sub,
                            "expected whole minutes from 1 to 1440 (e.g. 60), got '%s'",
                            vn->type == YAML_SCALAR_NODE ? scalar(vn) : node_kind(vn));
                else
                    reg->alert_within_minutes = (int)m;
            } else {
                add_err(c, line_of(kn), sub,
                        "unknown key (expected name, polygon, alert_probability or "
                        "alert_within_minutes)");
            }
        }
        if (!have_name && !have_poly)
            continue;
        if (!have_name)
            add_err(c, line_of(r), key, "missing 'name'");
        if (!have_poly)
            add_err(c, line_of(r), key, "missing 'polygon'");
        if ((reg->alert_probability > 0) != (reg->alert_within_minutes > 0))
            add_err(c, line_of(r), key,
                    "alert_probability and alert_within_minutes go together (a region alerts "
                    "when P >= alert_probability within alert_within_minutes)");
        if (have_name && have_poly)
            (*count)++;
    }
}

static void parse_value(ctx_t *c, yaml_document_t *doc, size_t ki, yaml_node_t *v,
                        impa_daemon_config_t *cfg)
{
    const cfg_key_t *k = &keys[ki];
    char why[512];
    if (k->type == K_REGIONS) {
        parse_regions(c, doc, k, v, cfg);
        return;
    }
    if (k->type == K_STRLIST || k->type == K_FLOATLIST) {
        if (v->type != YAML_SEQUENCE_NODE) {
            add_err(c, line_of(v), k->path, "expected a %s, got %s", type_name(k->type),
                    node_kind(v));
            return;
        }
        int n = 0;
        int cap = k->type == K_STRLIST ? (int)k->max : IMPA_VERIFY_MAX_THRESH;
        for (yaml_node_item_t *it = v->data.sequence.items.start;
             it < v->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(doc, *it);
            if (n >= cap) {
                add_err(c, line_of(e), k->path, "more than %d elements", cap);
                return;
            }
            if (e->type != YAML_SCALAR_NODE) {
                add_err(c, line_of(e), k->path, "element %d: expected a scalar, got %s", n,
                        node_kind(e));
                return;
            }
            if (set_scalar(k, scalar(e), n, c->base_dir, cfg, why, sizeof why)) {
                add_err(c, line_of(e), k->path, "element %d: %s", n, why);
                return;
            }
            n++;
        }
        int min_n = k->type == K_STRLIST ? (int)k->min : 1;
        if (n < min_n) {
            add_err(c, line_of(v), k->path, "needs at least %d element%s", min_n,
                    min_n > 1 ? "s" : "");
            return;
        }
        *(int *)((char *)cfg + k->count_offset) = n;
        return;
    }
    if (v->type != YAML_SCALAR_NODE) {
        add_err(c, line_of(v), k->path, "expected a %s, got %s", type_name(k->type),
                node_kind(v));
        return;
    }
    const char *text = scalar(v);
    if ((k->type == K_STRING || k->type == K_PATH) && is_null(v))
        text = "";
    if (set_scalar(k, text, 0, c->base_dir, cfg, why, sizeof why))
        add_err(c, line_of(v), k->path, "%s", why);
}

static int is_section(const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strncmp(keys[i].path, path, n) && keys[i].path[n] == '.')
            return 1;
    return 0;
}

static void walk_mapping(ctx_t *c, yaml_document_t *doc, yaml_node_t *map, const char *prefix,
                         impa_daemon_config_t *cfg)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(doc, p->value);
        if (kn->type != YAML_SCALAR_NODE) {
            add_err(c, line_of(kn), NULL, "keys must be plain names");
            continue;
        }
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", scalar(kn));
        size_t ki = 0;
        while (ki < N_KEYS && strcmp(keys[ki].path, path))
            ki++;
        if (ki < N_KEYS) {
            if (c->seen[ki]++)
                add_err(c, line_of(kn), path, "given more than once");
            parse_value(c, doc, ki, vn, cfg);
        } else if (is_section(path)) {
            if (vn->type == YAML_MAPPING_NODE)
                walk_mapping(c, doc, vn, path, cfg);
            else if (!is_null(vn))
                add_err(c, line_of(vn), path, "expected a mapping (section), got %s",
                        node_kind(vn));
        } else {
            add_err(c, line_of(kn), path, "unknown key");
        }
    }
}

int impa_config_parse(const char *text, size_t len, const char *name, const char *base_dir,
                      impa_daemon_config_t *cfg, char *err, size_t errlen)
{
    impa_config_defaults(cfg);
    ctx_t c = {.name = name ? name : "<config>", .base_dir = base_dir, .err = err,
               .errlen = errlen};
    if (err && errlen)
        err[0] = '\0';
    impa_sha256_hex(text, len, cfg->sha256);
    snprintf(cfg->path, sizeof cfg->path, "%s", c.name);

    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return impa_err(err, errlen, IMPA_ENOMEM, "%s: cannot initialise the YAML parser",
                        c.name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        add_err(&c, (int)parser.problem_mark.line + 1, NULL, "YAML syntax error: %s%s%s",
                parser.problem ? parser.problem : "?", parser.context ? " " : "",
                parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return IMPA_ECONFIG;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && root->type == YAML_MAPPING_NODE)
        walk_mapping(&c, &doc, root, "", cfg);
    else if (root && !is_null(root))
        add_err(&c, line_of(root), NULL, "the top level must be a mapping of keys, got %s",
                node_kind(root));
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);

    derive(cfg);
    /* checked here, not only at engine create, so a bad pair stops the start-up
     * (or is refused by a reload) instead of leaving the daemon without network */
    if (cfg->tile > 0 && 2 * cfg->tile_overlap > cfg->tile)
        add_err(&c, 0, "model.tile_overlap", "%d is more than half of model.tile %d (at most %d)",
                cfg->tile_overlap, cfg->tile, cfg->tile / 2);
    if (cfg->n_prob_thresholds > IMPA_PROB_MAX_THRESHOLDS)
        add_err(&c, 0, "prob.thresholds", "%d values, at most %d", cfg->n_prob_thresholds,
                IMPA_PROB_MAX_THRESHOLDS);
    for (int r = 0; r < cfg->alerts.n_regions; r++) {
        const impa_watch_region_t *reg = &cfg->alerts.regions[r];
        if (!(reg->alert_probability > 0))
            continue;
        char key[96];
        snprintf(key, sizeof key, "publish.alerts.regions[%d].alert_probability", r);
        int listed = 0;
        for (int t = 0; t < cfg->n_prob_thresholds && t < IMPA_PROB_MAX_THRESHOLDS; t++)
            listed |= (float)cfg->prob_thresholds[t] == (float)cfg->alerts.threshold_dbz;
        if (!cfg->prob_enabled)
            add_err(&c, 0, key, "region '%s' alerts on the probability, which needs prob.enabled",
                    reg->name);
        else if (!listed)
            add_err(&c, 0, key,
                    "region '%s' alerts on P(dBZ >= %g) (publish.alerts.threshold_dbz), which "
                    "prob.thresholds does not list",
                    reg->name, (double)cfg->alerts.threshold_dbz);
    }
    if (!impa_priv_user_name_valid(cfg->daemon_user))
        add_err(&c, 0, "daemon.user", "'%s' is not a user name ([A-Za-z0-9._-], not starting with '-')",
                cfg->daemon_user);
    if (cfg->publish.curve_enabled && !cfg->publish.curve_secret_key_file[0])
        add_err(&c, 0, "publish.curve.secret_key_file", "required when publish.curve.enabled");
    return c.n_errors ? IMPA_ECONFIG : 0;
}

int impa_config_load(const char *path, impa_daemon_config_t *cfg, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        impa_config_defaults(cfg);
        return impa_err(err, errlen, IMPA_EIO, "%s: cannot open: %s", path, strerror(e));
    }
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    while (text) {
        size_t n = fread(text + len, 1, cap - len, f);
        len += n;
        if (len < cap)
            break;
        char *t = realloc(text, cap * 2);
        if (!t) {
            free(text);
            text = NULL;
            break;
        }
        text = t;
        cap *= 2;
    }
    int rerr = ferror(f);
    fclose(f);
    if (!text)
        return impa_err(err, errlen, IMPA_ENOMEM, "%s: out of memory", path);
    if (rerr) {
        free(text);
        return impa_err(err, errlen, IMPA_EIO, "%s: read error", path);
    }
    char dirbuf[PATH_MAX];
    snprintf(dirbuf, sizeof dirbuf, "%s", path);
    int rc = impa_config_parse(text, len, path, dirname(dirbuf), cfg, err, errlen);
    free(text);
    snprintf(cfg->path, sizeof cfg->path, "%s", path);
    return rc;
}

/* mkdir -p; 0 or -1 with errno set. */
static int mkdirs(const char *path)
{
    char buf[PATH_MAX];
    struct stat st;
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0755) && errno != EEXIST)
        return -1;
    if (stat(buf, &st))
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return access(buf, W_OK);
}

/* What mkdirs would do, without doing it: 0 when path is a writable directory,
 * 1 when it is missing and mkdirs could create it (its nearest existing
 * ancestor is a writable directory), -1 with errno set as mkdirs would fail. */
static int mkdirs_dry(const char *path)
{
    char buf[PATH_MAX];
    struct stat st;
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (stat(buf, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            errno = ENOTDIR;
            return -1;
        }
        return access(buf, W_OK) ? -1 : 0;
    }
    if (errno != ENOENT)
        return -1;
    /* the nearest existing ancestor: mkdir of its child needs it writable */
    for (;;) {
        char *slash = strrchr(buf, '/');
        if (!slash)
            snprintf(buf, sizeof buf, ".");
        else if (slash == buf)
            buf[1] = '\0';
        else
            *slash = '\0';
        if (stat(buf, &st) == 0)
            break;
        if (errno != ENOENT || !slash || slash == buf)
            return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return access(buf, W_OK | X_OK) ? -1 : 1;
}

/* The directories and files the configuration names (impa_config_prepare_dirs
 * and impa_config_check_dirs): one pass for both, so the dry run and the
 * start-up report the same problems with the same words. */
static int dirs_pass(impa_daemon_config_t *cfg, int create, char *notes, size_t noteslen,
                     char *err, size_t errlen)
{
    ctx_t c = {.name = cfg->path[0] ? cfg->path : "<config>", .err = err, .errlen = errlen};
    ctx_t n = {.name = c.name, .err = notes, .errlen = noteslen};
    if (err && errlen)
        err[0] = '\0';
    if (notes && noteslen)
        notes[0] = '\0';
    if (!cfg->quarantine_dir[0])
        snprintf(cfg->quarantine_dir, sizeof cfg->quarantine_dir, "%.4000s/quarantine",
                 cfg->input_dir);
    struct {
        const char *key, *dir;
        int needed;
    } dirs[] = {
        {"input.directory", cfg->input_dir, 1},
        {"input.quarantine_directory", cfg->quarantine_dir, 1},
        {"output.directory", cfg->output_dir, 1},
        {"verification.state_directory", cfg->state_dir, cfg->verify_enabled},
        {"publish.cap.directory", cfg->publish.cap_dir,
         cfg->publish.cap_enabled && cfg->publish.cap_dir[0]},
    };
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (!dirs[i].needed)
            continue;
        if (i == 0 && cfg->input_read_only) {
            if (access(dirs[i].dir, R_OK | X_OK))
                add_err(&c, 0, dirs[i].key, "directory '%s' cannot be read: %s", dirs[i].dir,
                        strerror(errno));
            continue;
        }
        if (!dirs[i].dir[0]) {
            add_err(&c, 0, dirs[i].key, "must not be empty");
            continue;
        }
        int r = create ? mkdirs(dirs[i].dir) : mkdirs_dry(dirs[i].dir);
        if (r < 0)
            add_err(&c, 0, dirs[i].key, "directory '%s' cannot be created or written: %s",
                    dirs[i].dir, strerror(errno));
        else if (r == 1)
            add_err(&n, 0, dirs[i].key, "directory '%s' does not exist; start-up creates it",
                    dirs[i].dir);
    }
    if (cfg->method == IMPA_CFG_METHOD_IMPANET && access(cfg->weights, R_OK))
        add_err(&c, 0, "model.weights", "cannot read '%s': %s", cfg->weights, strerror(errno));
    if (cfg->publish.curve_enabled) {
        if (access(cfg->publish.curve_secret_key_file, R_OK))
            add_err(&c, 0, "publish.curve.secret_key_file", "cannot read '%s': %s",
                    cfg->publish.curve_secret_key_file, strerror(errno));
        if (cfg->publish.curve_allowed_keys_file[0] &&
            access(cfg->publish.curve_allowed_keys_file, R_OK))
            add_err(&c, 0, "publish.curve.allowed_keys_file", "cannot read '%s': %s",
                    cfg->publish.curve_allowed_keys_file, strerror(errno));
    }
    return c.n_errors ? IMPA_ECONFIG : 0;
}

int impa_config_prepare_dirs(impa_daemon_config_t *cfg, char *err, size_t errlen)
{
    return dirs_pass(cfg, 1, NULL, 0, err, errlen);
}

int impa_config_check_dirs(impa_daemon_config_t *cfg, char *notes, size_t noteslen, char *err,
                           size_t errlen)
{
    return dirs_pass(cfg, 0, notes, noteslen, err, errlen);
}

static void print_default(FILE *out, const cfg_key_t *k)
{
    if (k->type == K_STRLIST || k->type == K_FLOATLIST) {
        fputs("`[", out);
        for (const char *p = k->def; *p; p++)
            fputs(*p == ',' ? ", " : (char[2]){*p, 0}, out);
        fputs("]`", out);
    } else if (k->type == K_REGIONS) {
        fputs("`[]`", out);
    } else if (!strcmp(k->path, "model.weights")) {
        fputs("MODELDIR/impa-net.nc", out);
    } else if (!strcmp(k->path, "prob.calibration")) {
        fputs("MODELDIR/prob-calibration.txt", out);
    } else if (!k->def[0]) {
        fputs("(empty)", out);
    } else {
        fprintf(out, "`%s`", k->def);
    }
}

void impa_config_print_reference(FILE *out)
{
    fputs("| key | type | default | allowed | description |\n"
          "| --- | --- | --- | --- | --- |\n",
          out);
    for (size_t i = 0; i < N_KEYS; i++) {
        const cfg_key_t *k = &keys[i];
        fprintf(out, "| `%s` | %s | ", k->path, type_name(k->type));
        print_default(out, k);
        fputs(" | ", out);
        switch (k->type) {
        case K_INT:
        case K_DOUBLE:
        case K_FLOAT:
        case K_FLOATLIST: fprintf(out, "%g .. %g", k->min, k->max); break;
        case K_ENUM:
            for (const char *p = k->choices; *p; p++)
                fputs(*p == '|' ? ", " : (char[2]){*p, 0}, out);
            break;
        case K_BOOL: fputs("true, false", out); break;
        case K_STRLIST: fprintf(out, "%g .. %g elements", k->min, k->max); break;
        case K_REGIONS: fprintf(out, "up to %g regions", k->max); break;
        case K_STRING:
        case K_PATH: fprintf(out, "up to %zu characters", k->size - 1); break;
        }
        fprintf(out, " | %s |\n", k->help);
    }
}
