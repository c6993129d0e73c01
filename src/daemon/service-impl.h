/* The service's state and the internal interfaces of the modules it
 * orchestrates (service.h lists them). Not installed; daemon files only.
 *
 * Threads: the event loop's thread owns all of this. While a cycle runs on the
 * worker (cyclerun.c), the worker uses the runtime's cycle, model and tracker
 * and the job; the loop then only reads them (status), queues the scans that
 * arrive (ingest waits) and answers status and snapshot requests. */
#ifndef IMPA_DAEMON_SERVICE_IMPL_H
#define IMPA_DAEMON_SERVICE_IMPL_H

#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>

#include "daemon/runtime.h"
#include "daemon/service.h"
#include "daemon/worker.h"
#include "impa/forecast.h"

/* ---- the job of one cycle (cyclerun.c) ----------------------------------- */

enum { IMPA_STAGE_IDLE, IMPA_STAGE_FORECAST, IMPA_STAGE_ALERTS, IMPA_STAGE_ARCHIVE,
       IMPA_STAGE_DONE };

typedef struct {
    impa_service_t *svc;
    int64_t issue;              /* window head */
    int complete;               /* the window was complete */
    char iso[32];
    double t0;                  /* monotonic start */
    impa_forecast_t fc;         /* the products (borrowed from the cycle and tracker) */
    double forecast_s, prob_s, alerts_s, archive_s, prune_s;
    int prob_err_set;
    char prob_err[256];
    int rc;                     /* forecast failed: no products */
    int archive_rc, pruned, abandoned;
    char err[1024], archive_err[1024], prune_err[512];
    char path[PATH_MAX];        /* archive file written */
    char tmp[PATH_MAX];         /* its temporary name while being written */
    int dir_made, dir_errno;    /* the archive directory was missing: re-created / mkdir errno */
    double scan_closed;         /* wall time the triggering scan's file was closed (its
                                 * mtime) or, for a file older than the daemon's start,
                                 * taken in; 0 = unknown */
    int scan_from_intake;         /* scan_closed is the intake time, not the mtime */
    atomic_int stage;           /* IMPA_STAGE_*: where the worker is */
    atomic_int cancel;          /* set by the loop at a stop: give up at the next stage */
} impa_cycle_job_t;

/* ---- the service ---------------------------------------------------------- */

typedef struct {
    char *path;
    int64_t time;
} impa_ahead_t;

typedef struct {
    char *path;
    impa_scan_t scan;
} impa_candidate_t;

/* Scans held while no grid is confirmed (at most this many). */
#define IMPA_MAX_CANDIDATES 48

struct impa_service {
    char config_path[PATH_MAX], input_dir[PATH_MAX], output_dir[PATH_MAX],
        state_dir[PATH_MAX], model[PATH_MAX];
    impa_service_opts_t opts;   /* pointers into the copies above */
    impa_runtime_t *rt;
    impa_service_counters_t n;
    /* ingest.c */
    int64_t last_scan_time;     /* 0 = none */
    char *vjson;                /* verification JSON buffer */
    size_t vjson_len;
    char **queue;               /* scans that arrived while a cycle ran, in order */
    int n_queue, cap_queue;
    int relist;                 /* events were lost: list the input directory again */
    double clock_offset;        /* IMPA_TEST_CLOCK_START: the daemon's wall clock, moved (tests) */
    impa_ahead_t *ahead;        /* scans ahead of the clock, left in the input directory */
    int n_ahead, cap_ahead;
    int clock_fault;            /* scans on several steps ahead of the clock */
    int64_t clock_behind_s;     /* how far the newest of them is ahead of the clock */
    impa_candidate_t *cand;     /* scans read before the grid is confirmed */
    int n_cand;
    double last_flow;           /* monotonic time of the last new scan used (or of the start) */
    double start_wall;          /* wall time of impa_service_create */
    double scan_closed;         /* of the last scan that asked for a cycle (job.scan_closed) */
    int scan_from_intake;
    /* scan-to-alert of the cycles run (cyclerun.c): sum, max, count; and how many
     * of them counted from the intake (files older than the start: a replay) */
    double s2a_sum, s2a_max;
    uint64_t s2a_n, s2a_from_intake;
    int quiet_logged;           /* the quiet period's end was logged */
    int input_missing;          /* the input directory is gone (watch.c re-establishes it) */
    /* cyclerun.c */
    int64_t last_issue;         /* head of the last cycle run, INT64_MIN = none */
    int last_issue_complete;    /* that cycle saw a complete window */
    const char *last_method;
    int fallback_active;
    int archive_failing;        /* the last cycle's archive file could not be written */
    char gap[512];              /* "" or the current window gap */
    impa_worker_t *worker;      /* NULL: cycles run on the caller's thread */
    impa_cycle_job_t job;
    int due;                    /* steps whose cycle waits for the backlog to be read */
    int64_t due_first;          /* the first of them */
    double delay_s;             /* IMPA_TEST_CYCLE_DELAY_S: a long forecast, for tests */
    /* status.c */
    int watchdog;               /* systemd asked for WATCHDOG=1 pings */
    double last_ping;           /* monotonic time of the last ping from a cycle */
    double last_subcheck;       /* monotonic time the subscribers were last checked */
};

/* ingest.c */
/* Reads path (in a child process) and ingests it; quarantines what fails.
 * *act: 1 when the window's head changed in a way that asks for a cycle (or
 * the gap policy's verdict), 0 otherwise. Returns 0 (used or ignored), 1
 * (quarantined) or < 0. */
int impa_ingest_file(impa_service_t *svc, const char *path, int run_cycles, int *act);
/* Ingests the (at most max, newest by modification time; 0 = all in name
 * order) matching files of dir in scan-time order, each read once: a sliding
 * look-ahead of `lookahead` scans (0 = all) puts them in time order.
 * on_act(svc) is called when a scan asks for a cycle (NULL: none is run).
 * Returns the number of files or a negative code. */
int impa_ingest_dir(impa_service_t *svc, const char *dir, int max, int lookahead,
                    int run_cycles, void (*on_act)(impa_service_t *svc));
/* The daemon's wall clock (impa_time_now, moved by IMPA_TEST_CLOCK_START). */
int64_t impa_service_now(const impa_service_t *svc);
/* On the status timer: scans the clock has caught up with are queued to be read. */
void impa_ingest_tick(impa_service_t *svc);
/* Forgets the scans ahead of the clock and those waiting for the grid (reload, end). */
void impa_ingest_reset(impa_service_t *svc);
/* Queues a scan that arrived while a cycle runs; NULL path: events were lost. */
void impa_ingest_queue(impa_service_t *svc, const char *path);
void impa_ingest_queue_clear(impa_service_t *svc);

/* cyclerun.c */
/* After the window's head changed: applies the gap policy and returns 1 when a
 * cycle is to run for the head (logging why not otherwise). */
int impa_cycles_due(impa_service_t *svc);
/* Runs the cycle for the window's head to its end on this thread. */
void impa_cycles_run_now(impa_service_t *svc);
/* Starts the cycle for the window's head on the worker (which must be idle). */
int impa_cycles_start(impa_service_t *svc);
/* On the loop once the worker has finished: publishes, verifies and logs the
 * cycle. */
void impa_cycles_finish(impa_service_t *svc);
/* A stop while a cycle runs: asks the worker to give up, waits at most grace_s.
 * Returns 1 when the worker is idle again (the cycle finished or gave up and
 * was collected), 0 when it is still inside a stage it cannot leave (its
 * temporary archive file, if any, is removed: nothing of the cycle is left). */
int impa_cycles_stop(impa_service_t *svc, double grace_s);

/* status.c */
void impa_status_send(impa_service_t *svc);
/* retention.c: old scans and quarantined files removed (after each cycle). */
void impa_retention_run(impa_service_t *svc);
/* 1 when no new scan came for health.quiet_period_s (logged once). */
int impa_status_quiet(impa_service_t *svc);
/* Every second at most: subscribers found stuck are logged (once each). */
void impa_status_check_subscribers(impa_service_t *svc);
/* WATCHDOG=1 from a cycle or a read: forced, or at most once a second; never
 * while quiet. */
void impa_status_watchdog_ping(impa_service_t *svc, int force);

#endif
