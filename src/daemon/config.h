/* The daemon's configuration: one table of keys (config.c) describes every key
 * (dotted path, type, bounds, default, help); the YAML file is parsed once into
 * impa_daemon_config_t and the rest of the daemon reads only the struct.
 *
 * Errors name the file, the line and the key: "impa.yaml:12: key 'window.jitter_s':
 * 900 is above the maximum 300". Loading collects every error, one per line, so
 * --check-config can report them all at once. */
#ifndef IMPA_DAEMON_CONFIG_H
#define IMPA_DAEMON_CONFIG_H

#include <limits.h>
#include <stdio.h>

#include "impa/alerts.h"
#include "impa/publish.h"
#include "impa/verify.h"

typedef enum { IMPA_GAP_WAIT = 0, IMPA_GAP_EXTRAPOLATE = 1 } impa_gap_policy_t;
typedef enum { IMPA_CFG_METHOD_IMPANET = 0, IMPA_CFG_METHOD_EXTRAPOLATION = 1 } impa_cfg_method_t;

typedef struct {
    int config_version;
    /* domain: crop + block average of every scan onto the model grid */
    char domain_name[64];
    int x_offset, y_offset, nx, ny, block;
    /* input */
    char input_dir[PATH_MAX];
    char input_pattern[256];      /* fnmatch pattern on file names */
    char input_variable[128];     /* "" = detect by CF standard_name/units */
    double zr_a, zr_b;
    double accum_period_s;
    char quarantine_dir[PATH_MAX];/* "" = <input_dir>/quarantine */
    int max_ahead_minutes;        /* a scan further ahead of the clock waits in place */
    int grid_confirm_scans;       /* scans on one grid before it becomes the model's */
    double min_valid_fraction;    /* of a scan's cells that must hold data */
    double max_dbz;               /* physical maximum; a scan with a cell above is refused */
    double scan_retention_hours;  /* scans in the input directory older than this removed; 0 = keep */
    double quarantine_retention_hours; /* quarantined files older than this removed; 0 = keep */
    int quarantine_max_mib;       /* the oldest quarantined files removed beyond this; 0 = no bound */
    /* window */
    int jitter_s;
    int gap_policy;               /* impa_gap_policy_t */
    /* model */
    char weights[PATH_MAX];       /* "" in the file = IMPA_MODELDIR/impa-net.nc */
    int threads;
    int tile;                     /* engine window side, 0 = whole grid (impa_engine_create_tiled) */
    int tile_overlap;             /* pixels shared by neighbouring windows, <= tile/2 (blended) */
    int method;                   /* impa_cfg_method_t */
    int calibration;              /* impa_calibration_t (impa/guided.h) */
    /* extrapolation */
    int extrap_scheme;            /* impa_extrap_scheme_t of the published extrapolation */
    /* output */
    char output_dir[PATH_MAX];
    char output_prefix[64];
    int retention_hours;          /* 0 = keep everything */
    /* publish (domain copied from domain_name) */
    impa_publish_config_t publish;
    int status_interval_s;
    impa_alert_config_t alerts;   /* publish.alerts.* (the cycle's alert tracker) */
    /* probability product (impa/prob.h) */
    int prob_enabled;
    char prob_calibration[PATH_MAX]; /* "" = MODELDIR/prob-calibration.txt when installed */
    int n_prob_thresholds;
    float prob_thresholds[IMPA_VERIFY_MAX_THRESH]; /* at most IMPA_PROB_MAX_THRESHOLDS used */
    /* verification */
    int verify_enabled;
    int n_thresholds;
    float thresholds[IMPA_VERIFY_MAX_THRESH];
    char state_dir[PATH_MAX];
    /* security */
    int perm_policy;              /* 0 = warn, 1 = refuse (impa_file_check_private) */
    /* daemon */
    char daemon_user[33];         /* started as root: drop to this account; "" = refuse root */
    /* health */
    int quiet_period_s;           /* no new scan for this long: failing, watchdog starved */
    /* log */
    int log_level;                /* 3 error .. 7 debug (syslog priorities) */

    /* not keys */
    int input_read_only;          /* replay: input.directory must exist and be readable only */
    /* where the configuration came from */
    char path[PATH_MAX];          /* the file read, "" = built-in defaults */
    char sha256[65];              /* hash of the file's text: the forecasts' config_version */
} impa_daemon_config_t;

/* Fills cfg with every key's default (the weights default resolved to
 * IMPA_MODELDIR/impa-net.nc). */
void impa_config_defaults(impa_daemon_config_t *cfg);

/* Defaults, then the YAML file at path. Relative paths in the file resolve against
 * the file's directory. On error returns IMPA_ECONFIG (IMPA_EIO when unreadable)
 * and writes every problem, one "file:line: key 'x.y': reason" per line, into err.
 * Directories are not touched: see impa_config_prepare_dirs. */
int impa_config_load(const char *path, impa_daemon_config_t *cfg, char *err, size_t errlen);

/* Same as impa_config_load from text in memory; `name` is used in messages and
 * relative paths resolve against base_dir (NULL = current directory). */
int impa_config_parse(const char *text, size_t len, const char *name, const char *base_dir,
                      impa_daemon_config_t *cfg, char *err, size_t errlen);

/* Checks the files and directories the configuration names: input, output and state
 * directories exist or are created (quarantine too); the weights file is readable
 * when the method is impa-net. Every problem is reported, one per line. */
int impa_config_prepare_dirs(impa_daemon_config_t *cfg, char *err, size_t errlen);

/* The same checks without creating or changing anything (--check-config): a
 * missing directory whose nearest existing ancestor is a writable directory is
 * no error but a note ("... does not exist; start-up creates it", one per line
 * in notes); every other problem is reported exactly as impa_config_prepare_dirs
 * would report it. */
int impa_config_check_dirs(impa_daemon_config_t *cfg, char *notes, size_t noteslen, char *err,
                           size_t errlen);

/* Writes the key table as Markdown (docs/configuration.md's reference section). */
void impa_config_print_reference(FILE *out);

/* Level name ("error".."debug") for a syslog priority 3..7. */
const char *impa_config_log_level_name(int level);

#endif
