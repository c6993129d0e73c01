/* Health: the status message (published every publish.status_interval_s and
 * sent to systemd as STATUS=) and the systemd watchdog pings of a cycle. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/notify.h"
#include "daemon/service-impl.h"
#include "impa/timeutil.h"

int impa_status_quiet(impa_service_t *svc)
{
    int q = svc->rt->cfg.quiet_period_s;
    if (q <= 0 || svc->opts.replay || impa_time_monotonic() - svc->last_flow <= (double)q)
        return 0;
    if (!svc->quiet_logged) {
        svc->quiet_logged = 1;
        impa_log(IMPA_LOG_ERR,
                 "no new scan for %d s (health.quiet_period_s): status failing%s", q,
                 svc->watchdog ? "; the watchdog is no longer fed, so systemd restarts the "
                                 "service"
                               : "");
    }
    return 1;
}

void impa_status_check_subscribers(impa_service_t *svc)
{
    double now = impa_time_monotonic();
    if (!svc->rt->pub || now - svc->last_subcheck < 1.0)
        return;
    svc->last_subcheck = now;
    impa_slow_subscriber_t ev[4];
    int n = impa_publisher_watch_subscribers(svc->rt->pub, ev, 4);
    /* a peer that reconnects and stalls again is logged at info after the first */
    for (int i = 0; i < n; i++)
        impa_log(ev[i].repeated ? IMPA_LOG_INFO : IMPA_LOG_WARNING,
                 "subscriber %s is not reading: its queue is full (%zu bytes unread in the "
                 "kernel buffer for %.0f s, publish.slow_subscriber_s %d; queue %d messages); %s",
                 ev[i].peer, ev[i].queued_bytes, ev[i].stuck_s,
                 svc->rt->cfg.publish.slow_subscriber_s, impa_publisher_queue_hwm(svc->rt->pub),
                 ev[i].disconnected ? "disconnected, its queue freed (publish.slow_policy "
                                      "disconnect)"
                                    : "it misses what does not fit (publish.slow_policy skip)");
}

static void add_reason(char *buf, size_t len, const char *fmt, ...) IMPA_PRINTF(3, 4);
static void add_reason(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used && used + 2 < len)
        memcpy(buf + used, "; ", 3), used += 2;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

/* ok / degraded / failing, with the reasons: what an operator must know. */
static const char *health(impa_service_t *svc, char *why, size_t len)
{
    int failing = 0, degraded = 0;
    why[0] = '\0';
    if (svc->input_missing)
        failing = 1, add_reason(why, len, "input directory missing (%s)", svc->rt->cfg.input_dir);
    if (svc->clock_fault)
        failing = 1, add_reason(why, len, "clock fault: the host clock is %.0f min behind %d scans",
                                (double)svc->clock_behind_s / 60.0, svc->n_ahead);
    if (impa_status_quiet(svc)) {
        double s = impa_time_monotonic() - svc->last_flow;
        int step = svc->rt->shape.step_minutes > 0 ? svc->rt->shape.step_minutes * 60 : 600;
        failing = 1, add_reason(why, len, "no new scan for %.0f s (%.0f steps)", s, s / step);
    }
    if (svc->archive_failing)
        degraded = 1, add_reason(why, len, "archive failing");
    if (svc->fallback_active)
        degraded = 1, add_reason(why, len, "fallback forecasts");
    if (svc->gap[0])
        degraded = 1, add_reason(why, len, "window gap");
    impa_subscriber_counts_t sc;
    impa_publisher_subscribers(svc->rt->pub, &sc);
    /* shown while one is stuck and for 10 min after the last one was found */
    if (sc.stuck || (sc.since_last_slow_s >= 0 && sc.since_last_slow_s < 600))
        degraded = 1, add_reason(why, len, "subscriber dropping: %d stuck now, %llu found so far "
                                 "(last %s, %.0f s ago), %llu disconnected", sc.stuck,
                                 (unsigned long long)sc.slow_total, sc.last_peer,
                                 sc.since_last_slow_s, (unsigned long long)sc.disconnected);
    if (svc->n_ahead && !svc->clock_fault)
        degraded = 1, add_reason(why, len, "%d scan%s ahead of the clock waiting", svc->n_ahead,
                                 svc->n_ahead > 1 ? "s" : "");
    return failing ? "failing" : degraded ? "degraded" : "ok";
}

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
    char why[600];
    st.health = health(svc, why, sizeof why);
    st.reasons = why[0] ? why : NULL;
    char err[512], line[1600], iso[32] = "none", running[96] = "";
    if (rt->pub && impa_publisher_send_status(rt->pub, &st, err, sizeof err))
        impa_log(IMPA_LOG_WARNING, "status: %s", err);
    if (svc->last_issue != INT64_MIN)
        impa_time_iso(svc->last_issue, iso, sizeof iso);
    if (impa_worker_busy(svc->worker))
        snprintf(running, sizeof running, ", cycle %s running for %.0f s, %d scans queued",
                 svc->job.iso, impa_time_monotonic() - svc->job.t0, svc->n_queue);
    snprintf(line, sizeof line,
             "STATUS=%s%s%s%s, %s: window %d/%d, last cycle %s (%s, %.2f s)%s, %llu scans, "
             "%llu cycles, %llu quarantined%s%s",
             st.health, why[0] ? " (" : "", why, why[0] ? ")" : "", state, st.window_fill, st.window_size, iso, svc->last_method,
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
    if (impa_status_quiet(svc))
        return;
    if (force || now - svc->last_ping >= 1.0) {
        impa_notify("WATCHDOG=1");
        svc->last_ping = now;
    }
}
