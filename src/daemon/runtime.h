/* The runtime: everything a start-up builds and a SIGHUP reload rebuilds and
 * swaps as a whole: the checked configuration and model (startup.h), the
 * domain, the publisher and the alert tracker whose tracks it continues, the
 * input watch, and the per-grid cycle state made at the first scan. */
#ifndef IMPA_DAEMON_RUNTIME_H
#define IMPA_DAEMON_RUNTIME_H

#include <limits.h>

#include "daemon/cycle.h"
#include "daemon/startup.h"
#include "daemon/watch.h"
#include "impa/alerts.h"
#include "impa/domain.h"
#include "impa/publish.h"

typedef struct {
    impa_daemon_config_t cfg;
    impa_model_t *model;        /* NULL when method is extrapolation and none loads */
    impa_cycle_shape_t shape;
    impa_domain_t dom;
    impa_publisher_t *pub;      /* NULL in replay */
    impa_alert_tracker_t *tracker; /* the cycle's alerts; kept and restored with pub */
    impa_watch_t *watch;        /* NULL in replay */
    impa_cycle_t *cycle;        /* created at the first scan: its grid fixes the model grid */
    impa_grid_t in_grid;        /* input grid of that first scan */
    char alert_state[PATH_MAX]; /* <state_dir>/alerts.state, "" = not kept */
    impa_prob_table_t *prob_table; /* owned; NULL = no probability product */
} impa_runtime_t;

/* The start-up check (creating missing directories; its notes logged), then
 * the domain and the alert tracker; no sockets. */
int impa_runtime_load(const impa_service_opts_t *o, impa_runtime_t **out, char *err,
                      size_t errlen);
void impa_runtime_destroy(impa_runtime_t **rt);

/* verification.state_directory removed at run time: made again (logged with
 * the cycle's time iso). */
void impa_runtime_state_dir_check(impa_runtime_t *rt, const char *iso);
/* Start-up: removes the temporary files of archive writes a kill interrupted
 * (".<prefix>*.nc.tmp" in output.directory), each logged. Returns how many. */
int impa_runtime_remove_stale_tmp(const impa_runtime_t *rt);

/* Binds the publisher and restores the alert tracks of the last cycle before a
 * restart (alerts.state) into it and the runtime's fresh tracker. */
int impa_runtime_open_publisher(impa_runtime_t *rt, char *err, size_t errlen);
/* Sets rt->alert_state: <state_dir>/alerts.state (the directory created if
 * missing), "" with a warning when it cannot be kept. */
void impa_runtime_alert_state_path(impa_runtime_t *rt);

/* Logs the start-up check's notes ("level text" lines) at their levels. */
void impa_runtime_log_notes(const char *notes);

#endif
