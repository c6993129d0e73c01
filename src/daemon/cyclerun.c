/* Running a cycle: the gap policy that decides whether one is due, the job
 * (forecast, alerts, archive, retention: on the worker thread in service mode,
 * on the caller's in replay and tests) and, back on the loop, its hand-over to
 * the publisher, the alert state file and the verifier. Logs every cycle. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/service-impl.h"
#include "impa/archive.h"
#include "impa/timeutil.h"
#include "impa/verify.h"

int impa_cycles_due(impa_service_t *svc)
{
    impa_runtime_t *rt = svc->rt;
    impa_window_t *w = impa_cycle_window(rt->cycle);
    char iso[32];
    impa_time_iso(impa_window_head(w), iso, sizeof iso);
    if (impa_window_complete(w)) {
        svc->gap[0] = '\0';
        return 1;
    }
    /* Missing steps only before the oldest frame held: the window is still filling
     * (start-up, or after an outage), not a hole in the feed. */
    int filling = impa_window_recent_run(w) == impa_window_fill(w);
    if (filling && rt->cfg.gap_policy == IMPA_GAP_WAIT) {
        svc->gap[0] = '\0';
        impa_log(IMPA_LOG_INFO, "cycle %s: not run, window filling %d/%d", iso,
                 impa_window_fill(w), impa_window_size(w));
        return 0;
    }
    impa_window_describe_gap(w, svc->gap, sizeof svc->gap);
    if (!filling)
        svc->n.gaps++;
    if (rt->cfg.gap_policy == IMPA_GAP_WAIT) {
        impa_log(IMPA_LOG_NOTICE, "cycle %s: not run, window %d/%d (%s); gap_policy wait", iso,
                 impa_window_fill(w), impa_window_size(w), svc->gap);
        return 0;
    }
    return 1;
}

static void on_engine_progress(void *ctx)
{
    impa_status_watchdog_ping(ctx, 0);
}

/* A long forecast, for the tests of the worker (docs/daemon.md, "Threads"):
 * sleeps inside the forecast stage, where a stop cannot interrupt it. */
static void test_delay(double s)
{
    struct timespec t = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&t, &t) != 0)
        ;
}

/* The job: everything a cycle computes and writes. Logs nothing (it may run on
 * the worker): impa_cycles_finish reports. */
static void job_run(void *arg)
{
    impa_cycle_job_t *j = arg;
    impa_service_t *svc = j->svc;
    impa_runtime_t *rt = svc->rt;
    impa_daemon_config_t *cfg = &rt->cfg;
    impa_status_watchdog_ping(svc, 1);
    atomic_store(&j->stage, IMPA_STAGE_FORECAST);
    if (impa_cycle_forecast(rt->cycle, &j->fc, &j->forecast_s, j->err, sizeof j->err)) {
        j->rc = -1;
        atomic_store(&j->stage, IMPA_STAGE_DONE);
        return;
    }
    if (svc->delay_s > 0)
        test_delay(svc->delay_s);
    const impa_model_info_t *mi = rt->model ? impa_model_info(rt->model) : NULL;
    j->fc.domain = cfg->domain_name;
    j->fc.model_name = mi ? mi->model_name : "none";
    j->fc.model_version = mi ? mi->model_version : "";
    j->fc.weights_sha256 = mi ? mi->sha256 : "";
    j->fc.config_version = cfg->sha256;
    if (impa_cycle_prob(rt->cycle, &j->fc, &j->prob_s, j->prob_err, sizeof j->prob_err))
        j->prob_err_set = 1;
    if (atomic_load(&j->cancel))
        goto abandon;
    atomic_store(&j->stage, IMPA_STAGE_ALERTS);
    impa_cycle_alerts(rt->cycle, &j->fc, &j->alerts_s);
    if (atomic_load(&j->cancel))
        goto abandon;

    double ta = impa_time_monotonic();
    impa_status_watchdog_ping(svc, 1);
    atomic_store(&j->stage, IMPA_STAGE_ARCHIVE);
    /* removed under a running daemon (a clean-up script, an operator): made
     * again rather than failing every cycle until a restart */
    struct stat ds;
    if (stat(cfg->output_dir, &ds) != 0 && errno == ENOENT) {
        if (mkdir(cfg->output_dir, 0755) == 0)
            j->dir_made = 1;
        else
            j->dir_errno = errno;
    }
    j->archive_rc = impa_archive_write(cfg->output_dir, cfg->output_prefix, &j->fc, j->path,
                                       j->archive_err, sizeof j->archive_err);
    j->archive_s = impa_time_monotonic() - ta;
    if (cfg->retention_hours > 0) {
        /* Relative to the issue time, not the wall clock, so a replay of an old event
         * keeps its own last retention_hours. */
        double tp = impa_time_monotonic();
        j->pruned = impa_archive_prune(cfg->output_dir, cfg->output_prefix, j->fc.issue_time,
                                       (int64_t)cfg->retention_hours * 3600, j->prune_err,
                                       sizeof j->prune_err);
        j->prune_s = impa_time_monotonic() - tp;
    }
    atomic_store(&j->stage, IMPA_STAGE_DONE);
    return;
abandon:
    j->abandoned = 1;
    atomic_store(&j->stage, IMPA_STAGE_DONE);
}

static void job_init(impa_service_t *svc)
{
    impa_cycle_job_t *j = &svc->job;
    impa_window_t *w = impa_cycle_window(svc->rt->cycle);
    memset(j, 0, offsetof(impa_cycle_job_t, stage));
    atomic_store(&j->stage, IMPA_STAGE_IDLE);
    atomic_store(&j->cancel, 0);
    j->svc = svc;
    j->issue = impa_window_head(w);
    j->complete = impa_window_complete(w);
    impa_time_iso(j->issue, j->iso, sizeof j->iso);
    char final[PATH_MAX];
    if (impa_archive_paths(svc->rt->cfg.output_dir, svc->rt->cfg.output_prefix, j->issue, final,
                           j->tmp, sizeof j->tmp))
        j->tmp[0] = '\0';
    j->t0 = impa_time_monotonic();
    j->scan_closed = svc->scan_closed;
    j->scan_from_intake = svc->scan_from_intake;
    impa_cycle_set_progress(svc->rt->cycle, on_engine_progress, svc);
}

void impa_cycles_run_now(impa_service_t *svc)
{
    job_init(svc);
    job_run(&svc->job);
    impa_cycles_finish(svc);
}

int impa_cycles_start(impa_service_t *svc)
{
    job_init(svc);
    int rc = impa_worker_submit(svc->worker, job_run, &svc->job);
    if (rc)
        impa_log(IMPA_LOG_ERR, "cycle %s: the worker is busy", svc->job.iso);
    return rc;
}

void impa_cycles_finish(impa_service_t *svc)
{
    impa_runtime_t *rt = svc->rt;
    impa_cycle_job_t *j = &svc->job;
    impa_forecast_t *fc = &j->fc;
    char err[1024];
    if (j->rc) {
        svc->n.cycle_failures++;
        impa_log(IMPA_LOG_ERR, "cycle %s: failed: %s", j->iso, j->err);
        return;
    }
    if (j->abandoned) {
        svc->n.abandoned++;
        impa_log(IMPA_LOG_NOTICE, "cycle %s: abandoned (stopping), nothing of it written",
                 j->iso);
        return;
    }
    if (!fc->alerts)
        impa_log(IMPA_LOG_WARNING, "cycle %s: alerts: %s", j->iso, fc->alert_error);
    if (j->prob_err_set)
        impa_log(IMPA_LOG_WARNING, "cycle %s: probabilities: %s", j->iso, j->prob_err);
    if (j->dir_made)
        impa_log(IMPA_LOG_WARNING, "cycle %s: archive directory %s was missing: re-created", j->iso,
                 svc->rt->cfg.output_dir);
    else if (j->dir_errno)
        impa_log(IMPA_LOG_ERR, "cycle %s: archive directory %s is missing and cannot be made: %s",
                 j->iso, svc->rt->cfg.output_dir, strerror(j->dir_errno));
    impa_runtime_state_dir_check(rt, j->iso);
    /* A forecaster watching the status must see a broken archive, not only a counter. */
    svc->archive_failing = j->archive_rc != 0;
    if (j->archive_rc) {
        svc->n.archive_failures++;
        impa_log(IMPA_LOG_ERR, "cycle %s: archive not written: %s", j->iso, j->archive_err);
    }
    double tp = impa_time_monotonic();
    if (rt->pub && impa_publisher_send_cycle(rt->pub, fc, err, sizeof err))
        impa_log(IMPA_LOG_WARNING, "cycle %s: publish: %s", j->iso, err);
    if (rt->pub && rt->alert_state[0] &&
        impa_publisher_save_state(rt->pub, rt->tracker, rt->alert_state, err, sizeof err))
        impa_log(IMPA_LOG_WARNING, "cycle %s: alert tracks not saved for a restart: %s", j->iso,
                 err);
    /* scan-to-alert: the triggering scan's file closed -> the alert message sent */
    double s2a = j->scan_closed > 0 ? impa_time_now() - j->scan_closed : -1.0;
    if (s2a >= 0) {
        svc->s2a_sum += s2a;
        svc->s2a_n++;
        svc->s2a_from_intake += (uint64_t)j->scan_from_intake;
        if (s2a > svc->s2a_max)
            svc->s2a_max = s2a;
    }
    impa_verifier_t *v = impa_cycle_verifier(rt->cycle);
    if (v && impa_verifier_add_cycle(v, fc, err, sizeof err))
        impa_log(IMPA_LOG_WARNING, "cycle %s: verification: %s", j->iso, err);
    if (j->pruned < 0)
        impa_log(IMPA_LOG_WARNING, "cycle %s: prune: %s", j->iso, j->prune_err);
    else if (j->pruned > 0)
        impa_log(IMPA_LOG_INFO, "cycle %s: pruned %d archive files older than %d h", j->iso,
                 j->pruned, rt->cfg.retention_hours);
    double total = impa_time_monotonic() - j->t0;
    impa_status_watchdog_ping(svc, 1);
    svc->n.cycles++;
    svc->n.last_cycle_seconds = total;
    svc->n.cycle_seconds_total += total;
    if (total > svc->n.cycle_seconds_max)
        svc->n.cycle_seconds_max = total;
    svc->last_issue = j->issue;
    svc->last_issue_complete = j->complete;
    svc->last_method = impa_method_name(fc->method);
    svc->fallback_active = fc->fallback_reason != NULL;
    if (fc->fallback_reason) {
        svc->n.fallbacks++;
        impa_log(IMPA_LOG_WARNING, "cycle %s: fallback to %s: %s", j->iso, svc->last_method,
                 fc->fallback_reason);
    }
    /* which extrapolation the product used: the network's input or the forecast */
    char scheme[64] = "";
    if (fc->extrapolation)
        snprintf(scheme, sizeof scheme, " (%s %s)",
                 fc->method == IMPA_METHOD_IMPANET ? "input" : "scheme", fc->extrapolation);
    impa_log(IMPA_LOG_INFO,
             "cycle %s: %s%s, %d leads from %d frames, forecast %.3f s, prob %.3f s, alerts %.3f s, "
             "archive %.3f s, publish+verify %.3f s, total %.3f s, scan-to-alert %.3f s%s -> %s",
             j->iso, svc->last_method, scheme, fc->n_leads, fc->n_inputs, j->forecast_s, j->prob_s,
             j->alerts_s,
             j->archive_s, impa_time_monotonic() - tp, total, s2a,
             j->scan_from_intake ? " (from the intake)" : "",
             j->archive_rc ? "(no archive)" : j->path);
}

int impa_cycles_stop(impa_service_t *svc, double grace_s)
{
    impa_cycle_job_t *j = &svc->job;
    atomic_store(&j->cancel, 1);
    if (impa_worker_wait(svc->worker, grace_s)) {
        impa_worker_collect(svc->worker);
        impa_cycles_finish(svc);
        return 1;
    }
    static const char *names[] = {"idle", "forecast", "alerts", "archive", "done"};
    int stage = atomic_load(&j->stage);
    /* The archive is written under a temporary name and renamed: removing that
     * name now leaves either the complete file (renamed already) or none (the
     * rename finds nothing). */
    if (stage == IMPA_STAGE_ARCHIVE && j->tmp[0])
        unlink(j->tmp);
    svc->n.abandoned++;
    impa_log(IMPA_LOG_NOTICE,
             "cycle %s: abandoned in its %s stage (stopping), nothing of it written", j->iso,
             names[stage >= 0 && stage <= IMPA_STAGE_DONE ? stage : 0]);
    return 0;
}
