/* The running service: it orchestrates the daemon's modules and does no job of
 * its own (docs/architecture.md):
 *   startup.c   the start-up check (also --check-config)     runtime.c  what start-up builds
 *   ingest.c    scans: read, check, quarantine, window        cyclerun.c a cycle: run, hand on
 *   worker.c    the thread a cycle runs on off the loop       status.c   status, watchdog
 *   reload.c    SIGHUP                                        service.c  the event loop
 * Scans enter through impa_service_ingest (from the tests, the restart
 * recovery and --replay) or the event loop. A bad scan is logged, quarantined
 * and counted; it never stops the service. */
#ifndef IMPA_DAEMON_SERVICE_H
#define IMPA_DAEMON_SERVICE_H

#include <signal.h>
#include <stdint.h>

#include "daemon/config.h"
#include "daemon/startup.h"

typedef struct {
    uint64_t scans, cycles, quarantined, duplicates, late, too_old, off_grid, gaps,
        fallbacks, cycle_failures, reloads, reload_failures;
    uint64_t archive_failures; /* cycles published but not archived (full disk, read-only) */
    uint64_t coalesced;        /* cycles skipped because a newer window was due (backlog) */
    uint64_t abandoned;        /* cycles given up at a stop, nothing of them written */
    uint64_t ahead;            /* scans found ahead of the clock (left in place) */
    uint64_t implausible;      /* scans quarantined for their values (coverage, range) */
    double cycle_seconds_total, cycle_seconds_max, last_cycle_seconds;
} impa_service_counters_t;

typedef struct impa_service impa_service_t;

/* Runs the start-up check (startup.h), loads the model and binds the publisher.
 * Every start-up problem is fatal: returns a negative code with all reasons
 * (one per line) in err. */
int impa_service_create(const impa_service_opts_t *opts, impa_service_t **out, char *err,
                        size_t errlen);
void impa_service_destroy(impa_service_t **svc);

/* --check-config: the start-up check without creating or changing anything.
 * report receives the notes (what start-up would create or warn about, one per
 * line) and, when valid, "<file>: valid (sha256 ...)". 0 when start-up would
 * pass the same check, else its code and message (err). */
int impa_service_check_config(const impa_service_opts_t *opts, char *report, size_t reportlen,
                              char *err, size_t errlen);

/* Reads one scan and moves it through domain -> window -> cycle, the cycle run
 * to its end before returning. run_cycles 0: only fill the window (restart
 * recovery). Returns 0 when the scan was used or deliberately ignored, 1 when
 * it was quarantined, < 0 on an internal error. */
int impa_service_ingest(impa_service_t *svc, const char *path, int run_cycles);

/* Rebuilds the window from the newest files already in the input directory, in
 * scan-time order, without running cycles. Returns the number of frames held. */
int impa_service_recover(impa_service_t *svc);

/* Processes every scan in dir in scan-time order as if it had arrived (each
 * file read once); returns the number of cycles run or a negative code. */
int impa_service_replay(impa_service_t *svc, const char *dir);

/* Reloads configuration and weights: the new state is built fully and swapped in
 * only on success; on failure the old one keeps running. 0 or negative. */
int impa_service_reload(impa_service_t *svc);

/* The event loop: inotify, the publisher's request socket, status/watchdog timer,
 * signals through a self-pipe; cycles on the worker thread. Returns 0 after
 * SIGTERM/SIGINT. */
int impa_service_run(impa_service_t *svc);

const impa_service_counters_t *impa_service_counters(const impa_service_t *svc);
const impa_daemon_config_t *impa_service_config(const impa_service_t *svc);

#endif
