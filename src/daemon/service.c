/* The service: orchestration of the daemon's modules (service.h) and the event
 * loop. It decides what runs when; each job it hands out is done, and logged,
 * by its module. */
#include "daemon/service.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "daemon/log.h"
#include "daemon/notify.h"
#include "daemon/service-impl.h"
#include "impa/timeutil.h"
#include "impa/verify.h"

/* A stop waits this long for a cycle in progress to finish or give up. */
#define IMPA_STOP_GRACE_S 0.5

static void copy_opt(const char *in, char *buf, size_t len, const char **out)
{
    if (in) {
        snprintf(buf, len, "%s", in);
        *out = buf;
    } else {
        *out = NULL;
    }
}

int impa_service_check_config(const impa_service_opts_t *opts, char *report, size_t reportlen,
                              char *err, size_t errlen)
{
    impa_startup_t *s = malloc(sizeof *s);
    char notes[8192];
    if (!s)
        return impa_err(err, errlen, IMPA_ENOMEM, "out of memory");
    int rc = impa_startup_check(opts, IMPA_STARTUP_DRY, s, notes, sizeof notes, err, errlen);
    /* the notes without their levels: "warning: ..." / "notice: ..." lines */
    size_t used = 0;
    if (report && reportlen)
        report[0] = '\0';
    for (char *save = NULL, *line = strtok_r(notes, "\n", &save); line && report;
         line = strtok_r(NULL, "\n", &save)) {
        char *text = NULL;
        long level = strtol(line, &text, 10);
        int n = snprintf(report + used, reportlen - used, "%s: %s\n",
                         level <= IMPA_LOG_WARNING ? "warning" : "note",
                         text && *text == ' ' ? text + 1 : line);
        if (n > 0 && (size_t)n < reportlen - used)
            used += (size_t)n;
    }
    if (rc == 0 && report && used < reportlen)
        snprintf(report + used, reportlen - used, "%s: valid (sha256 %s)\n",
                 s->cfg.path[0] ? s->cfg.path : "<defaults>", s->cfg.sha256);
    impa_startup_release(s);
    free(s);
    return rc;
}

int impa_service_create(const impa_service_opts_t *opts, impa_service_t **out, char *err,
                        size_t errlen)
{
    *out = NULL;
    impa_service_t *svc = calloc(1, sizeof *svc);
    if (!svc)
        return impa_err(err, errlen, IMPA_ENOMEM, "out of memory");
    svc->opts.replay = opts->replay;
    copy_opt(opts->config_path, svc->config_path, sizeof svc->config_path, &svc->opts.config_path);
    copy_opt(opts->input_dir, svc->input_dir, sizeof svc->input_dir, &svc->opts.input_dir);
    copy_opt(opts->output_dir, svc->output_dir, sizeof svc->output_dir, &svc->opts.output_dir);
    copy_opt(opts->state_dir, svc->state_dir, sizeof svc->state_dir, &svc->opts.state_dir);
    copy_opt(opts->model, svc->model, sizeof svc->model, &svc->opts.model);
    svc->last_issue = INT64_MIN;
    svc->last_method = "none";
    svc->watchdog = !opts->replay && impa_notify_watchdog_usec() > 0;
    const char *delay = getenv("IMPA_TEST_CYCLE_DELAY_S");
    svc->delay_s = delay ? strtod(delay, NULL) : 0;
    /* test hook: the daemon's wall clock starts at this epoch time (and runs) */
    const char *clock = getenv("IMPA_TEST_CLOCK_START");
    if (clock && *clock)
        svc->clock_offset = strtod(clock, NULL) - impa_time_now();
    svc->last_flow = impa_time_monotonic();
    svc->start_wall = impa_time_now();
    /* Sized for the largest table the verifier can hold, so no model or
     * threshold list can truncate the published summary. */
    svc->vjson_len = IMPA_VERIFIER_JSON_MAX(IMPA_VERIFY_MAX_LEADS, IMPA_VERIFY_MAX_THRESH);
    svc->vjson = malloc(svc->vjson_len);
    int rc = svc->vjson ? impa_runtime_load(&svc->opts, &svc->rt, err, errlen)
                        : impa_err(err, errlen, IMPA_ENOMEM, "out of memory");
    if (rc)
        goto fail;
    impa_log_set_level(svc->rt->cfg.log_level);
    impa_runtime_remove_stale_tmp(svc->rt);
    if (!opts->replay) {
        rc = impa_runtime_open_publisher(svc->rt, err, errlen);
        if (rc)
            goto fail;
        rc = impa_watch_create(svc->rt->cfg.input_dir, svc->rt->cfg.input_pattern,
                               &svc->rt->watch, err, errlen);
        if (rc)
            goto fail;
    }
    *out = svc;
    return 0;
fail:
    impa_service_destroy(&svc);
    return rc;
}

void impa_service_destroy(impa_service_t **svc)
{
    if (!svc || !*svc)
        return;
    impa_worker_destroy(&(*svc)->worker);
    impa_runtime_destroy(&(*svc)->rt);
    impa_ingest_queue_clear(*svc);
    impa_ingest_reset(*svc);
    free((*svc)->ahead);
    free((*svc)->cand);
    free((*svc)->queue);
    free((*svc)->vjson);
    free(*svc);
    *svc = NULL;
}

const impa_service_counters_t *impa_service_counters(const impa_service_t *svc)
{
    return &svc->n;
}

const impa_daemon_config_t *impa_service_config(const impa_service_t *svc)
{
    return &svc->rt->cfg;
}

/* ---------------------------------------------------------------- scans and cycles */

/* A scan asked for a cycle: run it now, on this thread (tests, replay). */
static void act_now(impa_service_t *svc)
{
    if (impa_cycles_due(svc))
        impa_cycles_run_now(svc);
}

int impa_service_ingest(impa_service_t *svc, const char *path, int run_cycles)
{
    int act = 0;
    int rc = impa_ingest_file(svc, path, run_cycles, &act);
    if (act)
        act_now(svc);
    return rc;
}

/* Peak resident set of the process (VmHWM of /proc/self/status) in KiB, -1 when
 * it cannot be read (not Linux). */
static long vm_hwm_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* "scan-to-alert mean 2.345 s, max 3.456 s over 12 cycles (2 from the intake)" */
static void s2a_summary(const impa_service_t *svc, char *buf, size_t len)
{
    if (!svc->s2a_n) {
        snprintf(buf, len, "scan-to-alert: no cycle");
        return;
    }
    snprintf(buf, len, "scan-to-alert mean %.3f s, max %.3f s over %llu cycles (%llu from the intake)",
             svc->s2a_sum / (double)svc->s2a_n, svc->s2a_max, (unsigned long long)svc->s2a_n,
             (unsigned long long)svc->s2a_from_intake);
}

int impa_service_replay(impa_service_t *svc, const char *dir)
{
    double t0 = impa_time_monotonic();
    uint64_t c0 = svc->n.cycles;
    /* read once each, in name order, put in scan-time order by a look-ahead of
     * one window (impa_ingest_dir) */
    int n = impa_ingest_dir(svc, dir, 0, svc->rt->shape.t_in, 1, act_now);
    if (n < 0)
        return n;
    uint64_t cycles = svc->n.cycles - c0;
    char s2a[160];
    s2a_summary(svc, s2a, sizeof s2a);
    impa_log(IMPA_LOG_NOTICE,
             "replay %s: %d files, %llu scans used, %llu cycles (%llu fallback), %llu "
             "quarantined, mean cycle %.3f s, max %.3f s, %s, wall %.1f s, peak RSS %.1f MiB",
             dir, n, (unsigned long long)svc->n.scans, (unsigned long long)cycles,
             (unsigned long long)svc->n.fallbacks, (unsigned long long)svc->n.quarantined,
             cycles ? svc->n.cycle_seconds_total / (double)cycles : 0.0,
             svc->n.cycle_seconds_max, s2a, impa_time_monotonic() - t0,
             (double)vm_hwm_kib() / 1024.0);
    return (int)cycles;
}

/* In the event loop a due cycle waits while scans are queued: they are read
 * first, and only the newest window's cycle runs (the backlog coalesced). */
static void act_later(impa_service_t *svc)
{
    if (!svc->due++)
        svc->due_first = impa_window_head(impa_cycle_window(svc->rt->cycle));
}

/* Once the queue is read: the due cycle, for the newest window. */
static void start_due(impa_service_t *svc)
{
    if (!svc->due || svc->n_queue || svc->relist || impa_worker_busy(svc->worker))
        return;
    int due = svc->due;
    svc->due = 0;
    if (!impa_cycles_due(svc))
        return;
    impa_window_t *w = impa_cycle_window(svc->rt->cycle);
    if (due > 1) {
        char a[32], b[32];
        svc->n.coalesced += (uint64_t)(due - 1);
        impa_log(IMPA_LOG_NOTICE,
                 "backlog: %d windows became due while a cycle ran (from %s); %d cycles "
                 "coalesced into the newest, %s",
                 due, impa_time_iso(svc->due_first, a, sizeof a), due - 1,
                 impa_time_iso(impa_window_head(w), b, sizeof b));
    }
    impa_cycles_start(svc);
}

/* One queued scan (or the listing after lost events) per loop turn, so that a
 * signal is seen between two scans. */
static void read_queued(impa_service_t *svc)
{
    if (svc->relist) {
        svc->relist = 0;
        impa_ingest_queue_clear(svc);
        impa_ingest_dir(svc, svc->rt->cfg.input_dir, 3 * svc->rt->shape.t_in, 0, 1, act_later);
        return;
    }
    char *path = svc->queue[0];
    memmove(svc->queue, svc->queue + 1, (size_t)(svc->n_queue - 1) * sizeof *svc->queue);
    svc->n_queue--;
    int act = 0;
    impa_ingest_file(svc, path, 1, &act);
    impa_status_watchdog_ping(svc, 0); /* a backlog of slow reads */
    free(path);
    if (act)
        act_later(svc);
}

/* ---------------------------------------------------------------- event loop */

/* The input directory removed, re-created or replaced: the watch follows the
 * path (inotify events and, as a safety net, every status tick); while it is
 * missing the status says so. Re-established: the quarantine directory made
 * again and the directory listed. */
static void check_input(impa_service_t *svc)
{
    char msg[600];
    const impa_daemon_config_t *cfg = &svc->rt->cfg;
    int r = impa_watch_check(svc->rt->watch, msg, sizeof msg);
    if (r < 0) {
        if (!svc->input_missing)
            impa_log(IMPA_LOG_ERR, "input directory missing: %s: no scan can arrive; "
                     "watching for it to come back", msg);
        svc->input_missing = 1;
    } else if (r == 1) {
        svc->input_missing = 0;
        if (mkdir(cfg->quarantine_dir, 0755) != 0 && errno != EEXIST)
            impa_log(IMPA_LOG_ERR, "quarantine directory %s: cannot create it: %s",
                     cfg->quarantine_dir, strerror(errno));
        impa_log(IMPA_LOG_NOTICE, "input directory %s is there again (re-created or "
                 "replaced): watch re-established, listing it", cfg->input_dir);
        svc->relist = 1;
    }
}

/* Signals: the handler only sets a flag and writes one byte to a self-pipe that the
 * loop polls. Any thread may take the signal (OpenBLAS starts its pool before
 * main, so blocking them in main cannot cover every thread; the worker blocks
 * them): the pipe wakes the loop wherever it lands. */
static volatile sig_atomic_t sig_stop, sig_reload;

static void on_new_file(const char *path, void *user)
{
    impa_service_t *svc = user;
    /* A stop request is honoured between scans, not after a whole backlog: the
     * scans left stay in the input directory and restart recovery takes them. */
    if (sig_stop) {
        if (path)
            impa_log(IMPA_LOG_INFO, "scan %s: left for the next start (stopping)", path);
        return;
    }
    /* While a cycle runs, or scans wait before this one, it queues (the scans
     * read now would change the window the cycle reads). */
    if (!path || impa_worker_busy(svc->worker) || svc->n_queue || svc->relist) {
        impa_ingest_queue(svc, path);
        return;
    }
    int act = 0;
    impa_ingest_file(svc, path, 1, &act);
    impa_status_watchdog_ping(svc, 0);
    if (act && impa_cycles_due(svc))
        impa_cycles_start(svc);
}

static int sig_pipe[2] = {-1, -1};

static void on_signal(int signo)
{
    int saved = errno;
    if (signo == SIGHUP)
        sig_reload = 1;
    else
        sig_stop = signo;
    if (sig_pipe[1] >= 0) {
        ssize_t r = write(sig_pipe[1], "s", 1);
        (void)r; /* a full pipe already wakes the loop */
    }
    errno = saved;
}

static double tick_interval(const impa_service_t *svc, uint64_t wd_usec)
{
    double interval = svc->rt->cfg.status_interval_s;
    if (wd_usec && (double)wd_usec / 2e6 < interval)
        interval = (double)wd_usec / 2e6;
    return interval;
}

static void log_stopped(const impa_service_t *svc)
{
    if (svc->n_queue)
        impa_log(IMPA_LOG_NOTICE, "%d queued scans left in %s for the next start", svc->n_queue,
                 svc->rt->cfg.input_dir);
    char s2a[160];
    s2a_summary(svc, s2a, sizeof s2a);
    impa_log(IMPA_LOG_NOTICE, "stopped: %llu scans, %llu cycles, %llu quarantined, %s, "
             "peak RSS %.1f MiB",
             (unsigned long long)svc->n.scans, (unsigned long long)svc->n.cycles,
             (unsigned long long)svc->n.quarantined, s2a, (double)vm_hwm_kib() / 1024.0);
}

int impa_service_run(impa_service_t *svc)
{
    char err[512];
    if (sig_pipe[0] < 0 && pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC)) {
        impa_log(IMPA_LOG_ERR, "pipe: %s", strerror(errno));
        return IMPA_EIO;
    }
    if (!svc->worker && impa_worker_create(&svc->worker, err, sizeof err)) {
        impa_log(IMPA_LOG_ERR, "%s", err);
        return IMPA_ENOMEM;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_UNBLOCK, &mask, NULL);
    int sfd = sig_pipe[0];
    uint64_t wd_usec = impa_notify_watchdog_usec();
    double interval = tick_interval(svc, wd_usec);
    double next_tick = impa_time_monotonic();

    impa_log(IMPA_LOG_NOTICE, "watching %s for %s; publishing on %s%s", svc->rt->cfg.input_dir,
             svc->rt->cfg.input_pattern, svc->rt->cfg.publish.endpoints[0],
             wd_usec ? "; watchdog on" : "");
    impa_notify("READY=1");
    int rc = 0;
    for (;;) {
        int busy = impa_worker_busy(svc->worker);
        zmq_pollitem_t items[4];
        int n = 0;
        items[n++] = (zmq_pollitem_t){.fd = sfd, .events = ZMQ_POLLIN};
        items[n++] = (zmq_pollitem_t){.fd = impa_watch_fd(svc->rt->watch), .events = ZMQ_POLLIN};
        items[n++] = (zmq_pollitem_t){.fd = impa_worker_fd(svc->worker), .events = ZMQ_POLLIN};
        void *req = svc->rt->pub ? impa_publisher_request_socket(svc->rt->pub) : NULL;
        if (req)
            items[n++] = (zmq_pollitem_t){.socket = req, .events = ZMQ_POLLIN};
        double wait = next_tick - impa_time_monotonic();
        long timeout_ms = wait > 0 ? (long)(wait * 1000.0) + 1 : 0;
        if (timeout_ms > 1000)
            timeout_ms = 1000; /* the subscribers' queues are checked every second */
        if (!busy && (svc->n_queue || svc->relist))
            timeout_ms = 0; /* queued scans to read */
        int pr = zmq_poll(items, n, timeout_ms);
        if (pr < 0) {
            if (zmq_errno() == EINTR)
                continue;
            impa_log(IMPA_LOG_ERR, "zmq_poll: %s", zmq_strerror(zmq_errno()));
            rc = IMPA_ENET;
            break;
        }
        if (items[0].revents & ZMQ_POLLIN) {
            char drain[64];
            while (read(sfd, drain, sizeof drain) > 0)
                ;
        }
        if (sig_stop) {
            impa_log(IMPA_LOG_NOTICE, "signal %s: stopping", strsignal((int)sig_stop));
            if (impa_worker_busy(svc->worker) && !impa_cycles_stop(svc, IMPA_STOP_GRACE_S)) {
                /* the worker is inside a stage that cannot be interrupted (the
                 * network's forecast): the process ends without it */
                impa_notify("STOPPING=1");
                log_stopped(svc);
                fflush(NULL);
                _exit(0);
            }
            break;
        }
        if (items[2].revents & ZMQ_POLLIN && impa_worker_collect(svc->worker)) {
            impa_cycles_finish(svc);
            impa_retention_run(svc);
        }
        busy = impa_worker_busy(svc->worker);
        if (sig_reload && !busy) {
            sig_reload = 0;
            impa_service_reload(svc);
            interval = tick_interval(svc, wd_usec);
        }
        if (items[1].revents & ZMQ_POLLIN) {
            if (impa_watch_read(svc->rt->watch, on_new_file, svc, err, sizeof err) < 0)
                impa_log(IMPA_LOG_ERR, "%s", err);
            if (impa_watch_lost(svc->rt->watch))
                check_input(svc);
        }
        if (!impa_worker_busy(svc->worker) && (svc->n_queue || svc->relist))
            read_queued(svc);
        start_due(svc);
        impa_status_check_subscribers(svc);
        if (req && n > 3 && (items[3].revents & ZMQ_POLLIN)) {
            if (impa_publisher_handle_request(svc->rt->pub, err, sizeof err))
                impa_log(IMPA_LOG_WARNING, "snapshot request: %s", err);
        }
        if (impa_time_monotonic() >= next_tick) {
            check_input(svc);
            impa_ingest_tick(svc);
            impa_status_send(svc);
            /* during a cycle the cycle pings, from its progress (status.c); none
             * once no scan came for health.quiet_period_s (systemd restarts) */
            if (wd_usec && !impa_worker_busy(svc->worker) && !impa_status_quiet(svc))
                impa_notify("WATCHDOG=1");
            next_tick = impa_time_monotonic() + interval;
        }
    }
    impa_notify("STOPPING=1");
    log_stopped(svc);
    return rc;
}
