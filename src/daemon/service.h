/* The running service: configuration, model, publisher, input watcher and the
 * per-grid cycle state, plus the event loop that ties them together.
 *
 * Scans enter through impa_service_ingest (from inotify, from the restart
 * recovery, or from --replay). A bad scan is logged, quarantined and counted;
 * it never stops the service. Everything is logged here (daemon layer). */
#ifndef IMPA_DAEMON_SERVICE_H
#define IMPA_DAEMON_SERVICE_H

#include <signal.h>
#include <stdint.h>

#include "daemon/config.h"

typedef struct {
    const char *config_path; /* NULL = built-in defaults */
    /* command-line overrides (NULL = as configured); kept across SIGHUP reloads */
    const char *input_dir, *output_dir, *state_dir, *model;
    int replay;              /* 1: no publisher, no watcher, bad files are not moved */
} impa_service_opts_t;

typedef struct {
    uint64_t scans, cycles, quarantined, duplicates, late, too_old, off_grid, gaps,
        fallbacks, cycle_failures, reloads, reload_failures;
    uint64_t archive_failures; /* cycles published but not archived (full disk, read-only) */
    double cycle_seconds_total, cycle_seconds_max, last_cycle_seconds;
} impa_service_counters_t;

typedef struct impa_service impa_service_t;

/* Loads the configuration (with overrides), prepares directories, loads the
 * model and binds the publisher. Every start-up problem is fatal: returns a
 * negative code with all reasons (one per line) in err. */
int impa_service_create(const impa_service_opts_t *opts, impa_service_t **out, char *err,
                        size_t errlen);
void impa_service_destroy(impa_service_t **svc);

/* Reads one scan and moves it through domain -> window -> cycle. run_cycles 0:
 * only fill the window (restart recovery). Returns 0 when the scan was used or
 * deliberately ignored, 1 when it was quarantined, < 0 on an internal error. */
int impa_service_ingest(impa_service_t *svc, const char *path, int run_cycles);

/* Rebuilds the window from the newest files already in the input directory, in
 * scan-time order, without running cycles. Returns the number of frames held. */
int impa_service_recover(impa_service_t *svc);

/* Processes every scan in dir in scan-time order as if it had arrived; returns
 * the number of cycles run or a negative code. */
int impa_service_replay(impa_service_t *svc, const char *dir);

/* Reloads configuration and weights: the new state is built fully and swapped in
 * only on success; on failure the old one keeps running. 0 or negative. */
int impa_service_reload(impa_service_t *svc);

/* The event loop: inotify, the publisher's request socket, status/watchdog timer,
 * signals through a self-pipe. Returns 0 after SIGTERM/SIGINT. */
int impa_service_run(impa_service_t *svc);

const impa_service_counters_t *impa_service_counters(const impa_service_t *svc);
const impa_daemon_config_t *impa_service_config(const impa_service_t *svc);

/* Checks that the configuration, weights and CURVE key files are private
 * (impa_file_check_private): logs a warning per problem under
 * security.permissions: warn, fails with IMPA_ECONFIG under refuse. */
int impa_service_check_permissions(const impa_daemon_config_t *cfg, char *err, size_t errlen);

#endif
