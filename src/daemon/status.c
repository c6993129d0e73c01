/* Health: the status message (published every publish.status_interval_s and
 * sent to systemd as STATUS=) and the systemd watchdog pings of a cycle. */
#include <stdio.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/notify.h"
#include "daemon/service-impl.h"
#include "impa/timeutil.h"

void impa_status_send(impa_service_t *svc)
{
    impa_runtime_t *rt = svc->rt;
    const impa_model_info_t *mi = rt->model ? impa_model_info(rt->model) : NULL;
    impa_window_t *w = rt->cycle ? impa_cycle_window(rt->cycle) : NULL;
    const char *state = !w || impa_window_fill(w) == 0 ? "waiting"
                        : svc->gap[0]                  ? "gap"
                        : svc->fallback_active         ? "degraded"
                        : svc->archive_failing         ? "archive-failing"
                        : svc->n.cycles                ? "ok"
                                                       : "waiting";
    impa_status_t st = {
        .last_scan_time = svc->last_scan_time,
        .last_cycle_seconds = svc->n.last_cycle_seconds,
        .window_fill = w ? impa_window_fill(w) : 0,
        .window_size = rt->shape.t_in,
        .model_name = mi ? mi->model_name : "none",
        .model_version = mi ? mi->model_version : "",
        .method = svc->last_method,
        .fallback_active = svc->fallback_active,
        .state = state,
        .gap = svc->gap[0] ? svc->gap : NULL,
        .scans = svc->n.scans,
        .cycles = svc->n.cycles,
        .quarantined = svc->n.quarantined,
        .dropped_messages = rt->pub ? impa_publisher_dropped(rt->pub) : 0,
        .duplicate_scans = svc->n.duplicates,
        .late_scans = svc->n.late,
        .too_old_scans = svc->n.too_old,
        .archive_failures = svc->n.archive_failures,
    };
    char err[512], line[900], iso[32] = "none", running[96] = "";
    if (rt->pub && impa_publisher_send_status(rt->pub, &st, err, sizeof err))
        impa_log(IMPA_LOG_WARNING, "status: %s", err);
    if (svc->last_issue != INT64_MIN)
        impa_time_iso(svc->last_issue, iso, sizeof iso);
    if (impa_worker_busy(svc->worker))
        snprintf(running, sizeof running, ", cycle %s running for %.0f s, %d scans queued",
                 svc->job.iso, impa_time_monotonic() - svc->job.t0, svc->n_queue);
    snprintf(line, sizeof line,
             "STATUS=%s: window %d/%d, last cycle %s (%s, %.2f s)%s, %llu scans, %llu cycles, "
             "%llu quarantined%s%s",
             state, st.window_fill, st.window_size, iso, svc->last_method,
             svc->n.last_cycle_seconds, running, (unsigned long long)svc->n.scans,
             (unsigned long long)svc->n.cycles, (unsigned long long)svc->n.quarantined,
             svc->gap[0] ? ", " : "", svc->gap);
    impa_notify(line);
}

/* A cycle pings the watchdog before it starts, between its stages and, through
 * the engine's progress hook, after every network window (at most once a
 * second); the event loop's timer pings only while no cycle runs. So only a
 * stage that makes no progress for WatchdogSec (a hung engine, a write stuck on
 * a dead disk) trips it, not a long forecast on a large grid. */
void impa_status_watchdog_ping(impa_service_t *svc, int force)
{
    if (!svc->watchdog)
        return;
    double now = impa_time_monotonic();
    if (force || now - svc->last_ping >= 1.0) {
        impa_notify("WATCHDOG=1");
        svc->last_ping = now;
    }
}
