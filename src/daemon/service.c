#include "daemon/service.h"

#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "daemon/cycle.h"
#include "daemon/log.h"
#include "daemon/notify.h"
#include "daemon/watch.h"
#include "impa/archive.h"
#include "impa/domain.h"
#include "impa/engine.h"
#include "impa/fileperm.h"
#include "impa/alerts.h"
#include "impa/guided.h"
#include "impa/publish.h"
#include "impa/reader.h"
#include "impa/timeutil.h"
#include "impa/verify.h"

/* Shape of the shipped model, used for the window when no model is loaded
 * (method extrapolation without weights). */
static const impa_cycle_shape_t default_shape = {4, 12, 10, 4};

/* Everything a SIGHUP reload rebuilds; swapped as a whole. */
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
} runtime_t;

struct impa_service {
    char config_path[PATH_MAX], input_dir[PATH_MAX], output_dir[PATH_MAX],
        state_dir[PATH_MAX], model[PATH_MAX];
    impa_service_opts_t opts;   /* pointers into the copies above */
    runtime_t *rt;
    impa_service_counters_t n;
    int64_t last_scan_time;     /* 0 = none */
    int64_t last_issue;         /* head of the last cycle run, INT64_MIN = none */
    int last_issue_complete;    /* that cycle saw a complete window */
    const char *last_method;
    int fallback_active;
    int archive_failing;        /* the last cycle's archive file could not be written */
    char gap[512];              /* "" or the current window gap */
    int watchdog;               /* systemd asked for WATCHDOG=1 pings */
    double last_ping;           /* monotonic time of the last ping from a cycle */
    char *vjson;                /* verification JSON buffer */
    size_t vjson_len;
};

/* ---------------------------------------------------------------- runtime */

static void runtime_destroy(runtime_t **rt)
{
    if (!rt || !*rt)
        return;
    impa_cycle_destroy(&(*rt)->cycle);
    impa_publisher_destroy(&(*rt)->pub);
    impa_alert_tracker_destroy(&(*rt)->tracker);
    impa_watch_destroy(&(*rt)->watch);
    impa_model_destroy(&(*rt)->model);
    free(*rt);
    *rt = NULL;
}

static void absolute(const char *in, char *out, size_t len)
{
    char cwd[PATH_MAX];
    if (in[0] == '/' || !getcwd(cwd, sizeof cwd))
        snprintf(out, len, "%s", in);
    else
        snprintf(out, len, "%.2000s/%.2000s", cwd, in);
}

/* Files that decide what the service computes and who may listen: anyone who can
 * rewrite them controls the forecasts (docs/security.md). */
int impa_service_check_permissions(const impa_daemon_config_t *cfg, char *err, size_t errlen)
{
    const char *files[4];
    int n = 0;
    if (cfg->path[0])
        files[n++] = cfg->path;
    if (cfg->method == IMPA_CFG_METHOD_IMPANET || access(cfg->weights, R_OK) == 0)
        files[n++] = cfg->weights;
    if (cfg->publish.curve_enabled) {
        files[n++] = cfg->publish.curve_secret_key_file;
        files[n++] = cfg->publish.curve_allowed_keys_file;
    }
    int strict = cfg->perm_policy == 1;
    for (int i = 0; i < n; i++) {
        char why[1024];
        int rc = impa_file_check_private(files[i], strict, why, sizeof why);
        if (rc == IMPA_FILEPERM_WARNING)
            impa_log(IMPA_LOG_WARNING, "%s (security.permissions: warn)", why);
        else if (rc < 0 && rc != IMPA_ENOTFOUND && rc != IMPA_EIO)
            return impa_err(err, errlen, IMPA_ECONFIG, "%s (security.permissions: refuse)", why);
    }
    return 0;
}

/* Configuration (file + overrides), directories, model; no sockets. */
static int runtime_load(const impa_service_opts_t *o, runtime_t **out, char *err, size_t errlen)
{
    *out = NULL;
    runtime_t *rt = calloc(1, sizeof *rt);
    if (!rt)
        return impa_err(err, errlen, IMPA_ENOMEM, "out of memory");
    impa_daemon_config_t *cfg = &rt->cfg;
    int rc;
    if (o->config_path)
        rc = impa_config_load(o->config_path, cfg, err, errlen);
    else
        impa_config_defaults(cfg), rc = 0;
    if (rc)
        goto fail;
    if (o->input_dir)
        absolute(o->input_dir, cfg->input_dir, sizeof cfg->input_dir);
    if (o->output_dir)
        absolute(o->output_dir, cfg->output_dir, sizeof cfg->output_dir);
    if (o->state_dir)
        absolute(o->state_dir, cfg->state_dir, sizeof cfg->state_dir);
    if (o->model)
        absolute(o->model, cfg->weights, sizeof cfg->weights);
    if (o->replay) {
        /* Replay reads a directory it must not modify (often read-only shared data):
         * nothing is quarantined there, and state goes beside the archive. */
        snprintf(cfg->quarantine_dir, sizeof cfg->quarantine_dir, "%.4000s/quarantine",
                 cfg->output_dir);
        if (!o->state_dir)
            snprintf(cfg->state_dir, sizeof cfg->state_dir, "%s", cfg->output_dir);
        cfg->input_read_only = 1;
    }
    rc = impa_config_prepare_dirs(cfg, err, errlen);
    if (rc)
        goto fail;

    rc = impa_service_check_permissions(cfg, err, errlen);
    if (rc)
        goto fail;

    rt->shape = default_shape;
    char why[1024];
    if (cfg->method == IMPA_CFG_METHOD_IMPANET || access(cfg->weights, R_OK) == 0) {
        rc = impa_model_load(cfg->weights, &rt->model, why, sizeof why);
        if (rc && cfg->method == IMPA_CFG_METHOD_IMPANET) {
            rc = impa_err(err, errlen, IMPA_ECONFIG, "%s: key 'model.weights': %s",
                          cfg->path[0] ? cfg->path : "<defaults>", why);
            goto fail;
        }
        if (rc)
            impa_log(IMPA_LOG_WARNING, "model %s not loaded (%s); extrapolation uses t_in %d, "
                     "t_out %d, step %d min", cfg->weights, why, default_shape.t_in,
                     default_shape.t_out, default_shape.step_minutes);
        rc = 0;
    }
    if (rt->model) {
        const impa_model_info_t *mi = impa_model_info(rt->model);
        rt->shape.t_in = mi->t_in;
        rt->shape.t_out = mi->t_out;
        rt->shape.step_minutes = mi->step_minutes;
        rt->shape.total_stride = mi->total_stride;
        if (mi->t_out > IMPA_VERIFY_MAX_LEADS && cfg->verify_enabled) {
            rc = impa_err(err, errlen, IMPA_ECONFIG, "model t_out %d above the verifier's %d",
                          mi->t_out, IMPA_VERIFY_MAX_LEADS);
            goto fail;
        }
    }
    if (rt->model && cfg->method == IMPA_CFG_METHOD_IMPANET &&
        cfg->calibration == IMPA_CALIBRATION_EXTRAPOLATION &&
        !impa_model_info(rt->model)->advection) {
        rc = impa_err(err, errlen, IMPA_ECONFIG,
                      "%s: key 'model.calibration': extrapolation needs an advection-guided "
                      "model, and %s is plain (advection = 0); use auto or none",
                      cfg->path[0] ? cfg->path : "<defaults>", cfg->weights);
        goto fail;
    }
    if (2 * cfg->jitter_s >= rt->shape.step_minutes * 60) {
        rc = impa_err(err, errlen, IMPA_ECONFIG,
                      "%s: key 'window.jitter_s': %d must be below half the model step (%d s)",
                      cfg->path[0] ? cfg->path : "<defaults>", cfg->jitter_s,
                      rt->shape.step_minutes * 60);
        goto fail;
    }
    rt->dom = (impa_domain_t){.x_offset = cfg->x_offset, .y_offset = cfg->y_offset,
                              .nx = cfg->nx, .ny = cfg->ny, .block = cfg->block,
                              .stride = rt->shape.total_stride};
    rc = impa_alert_tracker_create(&cfg->alerts, &rt->tracker, err, errlen);
    if (rc)
        goto fail;
    *out = rt;
    return 0;
fail:
    runtime_destroy(&rt);
    return rc ? rc : IMPA_ECONFIG;
}

/* Where the alert tracks are kept for a restart: <state_dir>/alerts.state
 * (the directory created if missing), "" when there is no state directory. */
static void runtime_alert_state_path(runtime_t *rt)
{
    rt->alert_state[0] = '\0';
    const char *dir = rt->cfg.state_dir;
    if (!dir[0])
        return;
    if (strlen(dir) + sizeof "/alerts.state" > sizeof rt->alert_state) {
        impa_log(IMPA_LOG_WARNING, "alert tracks will not survive a restart: state directory "
                 "path too long (%zu characters)", strlen(dir));
        return;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        impa_log(IMPA_LOG_WARNING, "alert tracks will not survive a restart: cannot create %s: %s",
                 dir, strerror(errno));
        return;
    }
    snprintf(rt->alert_state, sizeof rt->alert_state, "%.*s/alerts.state",
             (int)(sizeof rt->alert_state - sizeof "/alerts.state"), dir);
}

/* Opens the publisher and gives it and the (fresh) alert tracker the alert
 * tracks of the last cycle before a restart or reload (written after every
 * cycle), so storms keep their cell ids and CAP messages continue with
 * Update/Cancel. */
static int runtime_open_publisher(runtime_t *rt, char *err, size_t errlen)
{
    char warn[1024] = "";
    int rc = impa_publisher_create(&rt->cfg.publish, &rt->pub, warn, sizeof warn, err, errlen);
    if (warn[0])
        impa_log(IMPA_LOG_WARNING, "publish: %s", warn);
    if (rc)
        return rc;
    runtime_alert_state_path(rt);
    if (!rt->alert_state[0])
        return 0;
    char e[1024];
    int lr = impa_publisher_load_state(rt->pub, rt->tracker, rt->alert_state, e, sizeof e);
    if (lr == 0)
        impa_log(IMPA_LOG_NOTICE, "alert tracks restored from %s (%d cells of the last cycle)",
                 rt->alert_state, impa_alert_tracker_n_cells(rt->tracker));
    else if (lr != IMPA_ENOTFOUND)
        impa_log(IMPA_LOG_WARNING, "alert tracks not restored, they start again: %s", e);
    return 0;
}

/* ---------------------------------------------------------------- service */

static void copy_opt(const char *in, char *buf, size_t len, const char **out)
{
    if (in) {
        snprintf(buf, len, "%s", in);
        *out = buf;
    } else {
        *out = NULL;
    }
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
    /* Sized for the largest table the verifier can hold, so no model or
     * threshold list can truncate the published summary. */
    svc->vjson_len = IMPA_VERIFIER_JSON_MAX(IMPA_VERIFY_MAX_LEADS, IMPA_VERIFY_MAX_THRESH);
    svc->vjson = malloc(svc->vjson_len);
    int rc = svc->vjson ? runtime_load(&svc->opts, &svc->rt, err, errlen)
                        : impa_err(err, errlen, IMPA_ENOMEM, "out of memory");
    if (rc)
        goto fail;
    impa_log_set_level(svc->rt->cfg.log_level);
    if (!opts->replay) {
        rc = runtime_open_publisher(svc->rt, err, errlen);
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
    runtime_destroy(&(*svc)->rt);
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

/* ---------------------------------------------------------------- scans */

/* How far a live scan may lie after both the clock and the newest step held. */
#define IMPA_SERVICE_MAX_AHEAD_S (6 * 3600)

static void quarantine(impa_service_t *svc, const char *path, const char *reason)
{
    svc->n.quarantined++;
    if (svc->opts.replay) {
        impa_log(IMPA_LOG_WARNING, "scan %s: skipped: %s", path, reason);
        return;
    }
    char name[PATH_MAX], dst[PATH_MAX];
    snprintf(name, sizeof name, "%s", path);
    snprintf(dst, sizeof dst, "%.3000s/%.1000s", svc->rt->cfg.quarantine_dir, basename(name));
    if (rename(path, dst) == 0)
        impa_log(IMPA_LOG_WARNING, "scan %s: quarantined to %s: %s", path, dst, reason);
    else
        impa_log(IMPA_LOG_ERR, "scan %s: %s; moving it to %s failed: %s", path, reason, dst,
                 strerror(errno));
}

static int same_grid(const impa_grid_t *a, const impa_grid_t *b)
{
    double tol_x = fabs(a->dx) * 1e-3, tol_y = fabs(a->dy) * 1e-3;
    return a->nx == b->nx && a->ny == b->ny && fabs(a->dx - b->dx) <= tol_x &&
           fabs(a->dy - b->dy) <= tol_y && fabs(a->x0 - b->x0) <= tol_x &&
           fabs(a->y0 - b->y0) <= tol_y;
}

static void send_status(impa_service_t *svc)
{
    runtime_t *rt = svc->rt;
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
    char err[512], line[768], iso[32] = "none";
    if (rt->pub && impa_publisher_send_status(rt->pub, &st, err, sizeof err))
        impa_log(IMPA_LOG_WARNING, "status: %s", err);
    if (svc->last_issue != INT64_MIN)
        impa_time_iso(svc->last_issue, iso, sizeof iso);
    snprintf(line, sizeof line,
             "STATUS=%s: window %d/%d, last cycle %s (%s, %.2f s), %llu scans, %llu cycles, "
             "%llu quarantined%s%s",
             state, st.window_fill, st.window_size, iso, svc->last_method,
             svc->n.last_cycle_seconds, (unsigned long long)svc->n.scans,
             (unsigned long long)svc->n.cycles, (unsigned long long)svc->n.quarantined,
             svc->gap[0] ? ", " : "", svc->gap);
    impa_notify(line);
}

/* Cycles run inside the event loop, so the watchdog is pinged around and during
 * them: before, between stages and, through the engine's progress hook, after
 * every network window (at most once a second). Only a stage that makes no
 * progress for WatchdogSec (a hung engine, a write stuck on a dead disk) trips
 * it, not a long forecast on a large grid. */
static void watchdog_ping(impa_service_t *svc, int force)
{
    if (!svc->watchdog)
        return;
    double now = impa_time_monotonic();
    if (force || now - svc->last_ping >= 1.0) {
        impa_notify("WATCHDOG=1");
        svc->last_ping = now;
    }
}

static void on_engine_progress(void *ctx)
{
    watchdog_ping(ctx, 0);
}

static void run_cycle(impa_service_t *svc)
{
    runtime_t *rt = svc->rt;
    impa_daemon_config_t *cfg = &rt->cfg;
    impa_window_t *w = impa_cycle_window(rt->cycle);
    double t0 = impa_time_monotonic();
    char iso[32], err[1024], path[PATH_MAX] = "";
    impa_time_iso(impa_window_head(w), iso, sizeof iso);
    impa_forecast_t fc;
    double fsec = 0;
    int complete = impa_window_complete(w);
    watchdog_ping(svc, 1);
    if (impa_cycle_forecast(rt->cycle, &fc, &fsec, err, sizeof err)) {
        svc->n.cycle_failures++;
        impa_log(IMPA_LOG_ERR, "cycle %s: failed: %s", iso, err);
        return;
    }
    const impa_model_info_t *mi = rt->model ? impa_model_info(rt->model) : NULL;
    fc.domain = cfg->domain_name;
    fc.model_name = mi ? mi->model_name : "none";
    fc.model_version = mi ? mi->model_version : "";
    fc.weights_sha256 = mi ? mi->sha256 : "";
    fc.config_version = cfg->sha256;

    double ta = impa_time_monotonic();
    watchdog_ping(svc, 1);
    double asec = 0;
    if (impa_cycle_alerts(rt->cycle, &fc, &asec))
        impa_log(IMPA_LOG_WARNING, "cycle %s: alerts: %s", iso, fc.alert_error);
    int rc = impa_archive_write(cfg->output_dir, cfg->output_prefix, &fc, path, err, sizeof err);
    /* A forecaster watching the status must see a broken archive, not only a counter. */
    svc->archive_failing = rc != 0;
    if (rc) {
        svc->n.archive_failures++;
        impa_log(IMPA_LOG_ERR, "cycle %s: archive not written: %s", iso, err);
    }
    double tp = impa_time_monotonic();
    if (rt->pub && impa_publisher_send_cycle(rt->pub, &fc, err, sizeof err))
        impa_log(IMPA_LOG_WARNING, "cycle %s: publish: %s", iso, err);
    if (rt->pub && rt->alert_state[0] &&
        impa_publisher_save_state(rt->pub, rt->tracker, rt->alert_state, err, sizeof err))
        impa_log(IMPA_LOG_WARNING, "cycle %s: alert tracks not saved for a restart: %s", iso, err);
    impa_verifier_t *v = impa_cycle_verifier(rt->cycle);
    if (v && impa_verifier_add_cycle(v, &fc, err, sizeof err))
        impa_log(IMPA_LOG_WARNING, "cycle %s: verification: %s", iso, err);
    if (cfg->retention_hours > 0) {
        /* Relative to the issue time, not the wall clock, so a replay of an old event
         * keeps its own last retention_hours. */
        int pr = impa_archive_prune(cfg->output_dir, cfg->output_prefix, fc.issue_time,
                                    (int64_t)cfg->retention_hours * 3600, err, sizeof err);
        if (pr < 0)
            impa_log(IMPA_LOG_WARNING, "cycle %s: prune: %s", iso, err);
        else if (pr > 0)
            impa_log(IMPA_LOG_INFO, "cycle %s: pruned %d archive files older than %d h", iso,
                     pr, cfg->retention_hours);
    }
    double total = impa_time_monotonic() - t0;
    watchdog_ping(svc, 1);
    svc->n.cycles++;
    svc->n.last_cycle_seconds = total;
    svc->n.cycle_seconds_total += total;
    if (total > svc->n.cycle_seconds_max)
        svc->n.cycle_seconds_max = total;
    svc->last_issue = impa_window_head(w);
    svc->last_issue_complete = complete;
    svc->last_method = impa_method_name(fc.method);
    svc->fallback_active = fc.fallback_reason != NULL;
    if (fc.fallback_reason) {
        svc->n.fallbacks++;
        impa_log(IMPA_LOG_WARNING, "cycle %s: fallback to %s: %s", iso, svc->last_method,
                 fc.fallback_reason);
    }
    impa_log(IMPA_LOG_INFO,
             "cycle %s: %s, %d leads from %d frames, forecast %.3f s, archive %.3f s, "
             "publish+verify %.3f s, total %.3f s -> %s",
             iso, svc->last_method, fc.n_leads, fc.n_inputs, fsec, tp - ta,
             t0 + total - tp, total, rc ? "(no archive)" : path);
}

/* After the window changed: run a cycle when a new step completed it, apply the
 * gap policy when it did not. */
static void after_new_step(impa_service_t *svc)
{
    runtime_t *rt = svc->rt;
    impa_window_t *w = impa_cycle_window(rt->cycle);
    char iso[32];
    impa_time_iso(impa_window_head(w), iso, sizeof iso);
    if (impa_window_complete(w)) {
        svc->gap[0] = '\0';
        run_cycle(svc);
        return;
    }
    /* Missing steps only before the oldest frame held: the window is still filling
     * (start-up, or after an outage), not a hole in the feed. */
    int filling = impa_window_recent_run(w) == impa_window_fill(w);
    if (filling && rt->cfg.gap_policy == IMPA_GAP_WAIT) {
        svc->gap[0] = '\0';
        impa_log(IMPA_LOG_INFO, "cycle %s: not run, window filling %d/%d", iso,
                 impa_window_fill(w), impa_window_size(w));
        return;
    }
    impa_window_describe_gap(w, svc->gap, sizeof svc->gap);
    if (!filling)
        svc->n.gaps++;
    if (rt->cfg.gap_policy == IMPA_GAP_WAIT) {
        impa_log(IMPA_LOG_NOTICE, "cycle %s: not run, window %d/%d (%s); gap_policy wait", iso,
                 impa_window_fill(w), impa_window_size(w), svc->gap);
        return;
    }
    run_cycle(svc);
}

int impa_service_ingest(impa_service_t *svc, const char *path, int run_cycles)
{
    runtime_t *rt = svc->rt;
    impa_daemon_config_t *cfg = &rt->cfg;
    impa_reader_opts_t ro = impa_reader_opts_default();
    ro.variable = cfg->input_variable[0] ? cfg->input_variable : NULL;
    ro.zr_a = cfg->zr_a;
    ro.zr_b = cfg->zr_b;
    ro.accum_period_s = cfg->accum_period_s;
    impa_scan_t scan, ms;
    memset(&scan, 0, sizeof scan);
    memset(&ms, 0, sizeof ms);
    char err[1024], why[1400];
    int ret = 0;

    /* Untrusted input: libnetcdf/libhdf5 crash or hang on some malformed headers
     * (fuzz/corpus-known/), so scans are parsed in a child process. */
    int rc = impa_reader_read_isolated(path, &ro, NULL, &scan, err, sizeof err);
    if (rc) {
        quarantine(svc, path, err);
        ret = 1;
        goto done;
    }
    /* A scan stamped far ahead would become the window's head and every real scan
     * after it would be "older than the window" until the clock caught up. Ahead
     * of both the clock and the newest step held: a clock or metadata error. The
     * newest step counts too so that an accelerated feed (tools/demo.sh) that
     * runs ahead of the clock step by step is accepted. Live only: a replay has
     * no clock. */
    if (!svc->opts.replay) {
        int64_t ref = (int64_t)impa_time_now();
        impa_window_t *hw = rt->cycle ? impa_cycle_window(rt->cycle) : NULL;
        if (hw && impa_window_fill(hw) > 0 && impa_window_head(hw) > ref)
            ref = impa_window_head(hw);
        if (scan.time > ref + IMPA_SERVICE_MAX_AHEAD_S) {
            char siso[32], riso[32];
            snprintf(why, sizeof why,
                     "scan time %s is in the future: more than %d h after both the clock "
                     "and the newest scan held (%s)",
                     impa_time_iso(scan.time, siso, sizeof siso), IMPA_SERVICE_MAX_AHEAD_S / 3600,
                     impa_time_iso(ref, riso, sizeof riso));
            quarantine(svc, path, why);
            ret = 1;
            goto done;
        }
    }
    if (!rt->cycle) {
        impa_grid_t mgrid;
        rc = impa_domain_grid(&rt->dom, &scan.grid, &mgrid, err, sizeof err);
        if (rc) {
            snprintf(why, sizeof why, "domain does not fit the scan: %s", err);
            quarantine(svc, path, why);
            ret = 1;
            goto done;
        }
        char note[1024];
        rc = impa_cycle_create(cfg, rt->model, &rt->shape, &mgrid, &rt->cycle, note, sizeof note,
                               err, sizeof err);
        if (rc) {
            impa_log(IMPA_LOG_ERR, "scan %s: cannot set up the %dx%d model grid: %s", path,
                     mgrid.ny, mgrid.nx, err);
            ret = rc;
            goto done;
        }
        rt->in_grid = scan.grid;
        impa_cycle_set_progress(rt->cycle, on_engine_progress, svc);
        impa_cycle_set_alerts(rt->cycle, rt->tracker);
        impa_log(IMPA_LOG_NOTICE,
                 "model grid %dx%d (input %dx%d, crop at %d,%d, block %d), window %d x %d min",
                 mgrid.ny, mgrid.nx, scan.grid.ny, scan.grid.nx, cfg->x_offset, cfg->y_offset,
                 cfg->block, rt->shape.t_in, rt->shape.step_minutes);
        if (note[0])
            impa_log(IMPA_LOG_WARNING, "cycles will use the fallback: %s", note);
        else if (cfg->method == IMPA_CFG_METHOD_IMPANET)
            impa_log(IMPA_LOG_NOTICE, "network forecasts calibrated: %s (model.calibration %s)",
                     impa_calibration_name(impa_cycle_calibration(rt->cycle)),
                     impa_calibration_name((impa_calibration_t)cfg->calibration));
    } else if (!same_grid(&rt->in_grid, &scan.grid)) {
        snprintf(why, sizeof why,
                 "wrong grid: %dx%d, dx %g, dy %g, origin (%g, %g); expected %dx%d, dx %g, dy %g, "
                 "origin (%g, %g)",
                 scan.grid.ny, scan.grid.nx, scan.grid.dx, scan.grid.dy, scan.grid.x0,
                 scan.grid.y0, rt->in_grid.ny, rt->in_grid.nx, rt->in_grid.dx, rt->in_grid.dy,
                 rt->in_grid.x0, rt->in_grid.y0);
        quarantine(svc, path, why);
        ret = 1;
        goto done;
    }
    rc = impa_domain_apply(&rt->dom, &scan, &ms, err, sizeof err);
    if (rc) {
        quarantine(svc, path, err);
        ret = 1;
        goto done;
    }
    svc->n.scans++;
    if (scan.time > svc->last_scan_time)
        svc->last_scan_time = scan.time;

    impa_window_t *w = impa_cycle_window(rt->cycle);
    int64_t slot;
    char iso[32], siso[32];
    impa_time_iso(scan.time, iso, sizeof iso);
    int r = impa_window_add(w, scan.time, ms.dbz, path, &slot);
    impa_time_iso(slot, siso, sizeof siso);
    switch (r) {
    case IMPA_WINDOW_NEW_STEP:
        impa_log(IMPA_LOG_INFO, "scan %s: %s (%s), step %s, window %d/%d", path, iso,
                 scan.quantity, siso, impa_window_fill(w), impa_window_size(w));
        if (!run_cycles)
            break;
        impa_verifier_t *v = impa_cycle_verifier(rt->cycle);
        if (v) {
            int scored = impa_verifier_observe(v, slot, ms.dbz, svc->vjson, svc->vjson_len, err,
                                               sizeof err);
            if (scored < 0)
                impa_log(IMPA_LOG_WARNING, "scan %s: verification: %s", path, err);
            else if (scored > 0 && rt->pub &&
                     impa_publisher_send_verification(rt->pub, svc->vjson, err, sizeof err))
                impa_log(IMPA_LOG_WARNING, "scan %s: publish verification: %s", path, err);
        }
        after_new_step(svc);
        break;
    case IMPA_WINDOW_LATE:
        svc->n.late++;
        impa_log(IMPA_LOG_NOTICE, "scan %s: late (%s), inserted at step %s, window %d/%d", path,
                 iso, siso, impa_window_fill(w), impa_window_size(w));
        /* A late scan that completes the window of a step that was skipped or
         * forecast by the fallback because of the gap earns that step its cycle. */
        if (run_cycles && impa_window_complete(w) &&
            !(svc->last_issue == impa_window_head(w) && svc->last_issue_complete))
            after_new_step(svc);
        break;
    case IMPA_WINDOW_DUPLICATE:
        svc->n.duplicates++;
        impa_log(IMPA_LOG_NOTICE, "scan %s: duplicate of step %s (%s), ignored", path, siso, iso);
        break;
    case IMPA_WINDOW_TOO_OLD:
        svc->n.too_old++;
        impa_log(IMPA_LOG_NOTICE, "scan %s: %s is older than the window, dropped", path, iso);
        break;
    case IMPA_WINDOW_OFF_GRID:
        svc->n.off_grid++;
        impa_log(IMPA_LOG_DEBUG, "scan %s: %s is off the %d-min step grid, not used", path, iso,
                 rt->shape.step_minutes);
        break;
    }
done:
    impa_scan_deinit(&scan);
    impa_scan_deinit(&ms);
    return ret;
}

/* ---------------------------------------------------------------- directories */

typedef struct {
    int64_t time;
    char *path;
} timed_t;

static int by_time(const void *a, const void *b)
{
    const timed_t *x = a, *y = b;
    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    return strcmp(x->path, y->path);
}

/* Ingests the (at most max, newest by modification time) matching files of dir in
 * scan-time order; unreadable ones first (they are quarantined). */
static int ingest_dir(impa_service_t *svc, const char *dir, int max, int run_cycles)
{
    char **paths = NULL, err[1024];
    int n = 0;
    int rc = impa_watch_list(dir, svc->rt->cfg.input_pattern, &paths, &n, err, sizeof err);
    if (rc) {
        impa_log(IMPA_LOG_ERR, "%s", err);
        return rc;
    }
    int n_all = n;
    if (max > 0 && n > max)
        n = max; /* the list is newest first */
    timed_t *t = calloc((size_t)(n ? n : 1), sizeof *t);
    if (!t) {
        impa_watch_list_free(&paths, n);
        return IMPA_ENOMEM;
    }
    impa_reader_opts_t ro = impa_reader_opts_default();
    ro.variable = svc->rt->cfg.input_variable[0] ? svc->rt->cfg.input_variable : NULL;
    ro.zr_a = svc->rt->cfg.zr_a;
    ro.zr_b = svc->rt->cfg.zr_b;
    ro.accum_period_s = svc->rt->cfg.accum_period_s;
    for (int i = 0; i < n; i++) {
        impa_scan_t scan;
        memset(&scan, 0, sizeof scan);
        t[i].path = paths[i];
        t[i].time = impa_reader_read_isolated(paths[i], &ro, NULL, &scan, NULL, 0) ? INT64_MIN : scan.time;
        impa_scan_deinit(&scan);
    }
    qsort(t, (size_t)n, sizeof *t, by_time);
    for (int i = 0; i < n; i++)
        impa_service_ingest(svc, t[i].path, run_cycles);
    free(t);
    impa_watch_list_free(&paths, n_all);
    return n;
}

int impa_service_recover(impa_service_t *svc)
{
    int max = 3 * svc->rt->shape.t_in;
    int n = ingest_dir(svc, svc->rt->cfg.input_dir, max, 0);
    int fill = svc->rt->cycle ? impa_window_fill(impa_cycle_window(svc->rt->cycle)) : 0;
    if (n >= 0)
        impa_log(IMPA_LOG_NOTICE, "recovery: %d existing files read from %s, window %d/%d", n,
                 svc->rt->cfg.input_dir, fill, svc->rt->shape.t_in);
    return n < 0 ? n : fill;
}

int impa_service_replay(impa_service_t *svc, const char *dir)
{
    double t0 = impa_time_monotonic();
    uint64_t c0 = svc->n.cycles;
    int n = ingest_dir(svc, dir, 0, 1);
    if (n < 0)
        return n;
    uint64_t cycles = svc->n.cycles - c0;
    impa_log(IMPA_LOG_NOTICE,
             "replay %s: %d files, %llu scans used, %llu cycles (%llu fallback), %llu "
             "quarantined, mean cycle %.3f s, max %.3f s, wall %.1f s",
             dir, n, (unsigned long long)svc->n.scans, (unsigned long long)cycles,
             (unsigned long long)svc->n.fallbacks, (unsigned long long)svc->n.quarantined,
             cycles ? svc->n.cycle_seconds_total / (double)cycles : 0.0,
             svc->n.cycle_seconds_max, impa_time_monotonic() - t0);
    return (int)cycles;
}

/* ---------------------------------------------------------------- reload */

int impa_service_reload(impa_service_t *svc)
{
    runtime_t *old = svc->rt, *nrt = NULL;
    char err[4096];
    impa_log(IMPA_LOG_NOTICE, "reload: reading %s", svc->opts.config_path ? svc->opts.config_path
                                                                          : "built-in defaults");
    impa_notify("RELOADING=1");
    int rc = runtime_load(&svc->opts, &nrt, err, sizeof err);
    if (rc)
        goto refused;
    if (!svc->opts.replay) {
        if (strcmp(nrt->cfg.input_dir, old->cfg.input_dir) ||
            strcmp(nrt->cfg.input_pattern, old->cfg.input_pattern)) {
            rc = impa_watch_create(nrt->cfg.input_dir, nrt->cfg.input_pattern, &nrt->watch, err,
                                   sizeof err);
            if (rc)
                goto refused;
        }
        /* The publisher's CAP references and the tracker's tracks continue each
         * other: both are kept, or both rebuilt and restored from alerts.state. */
        if (memcmp(&nrt->cfg.publish, &old->cfg.publish, sizeof old->cfg.publish) ||
            memcmp(&nrt->cfg.alerts, &old->cfg.alerts, sizeof old->cfg.alerts)) {
            /* The same endpoints cannot be bound twice: close the old sockets first and
             * reopen them if the new ones fail. */
            impa_publisher_destroy(&old->pub);
            rc = runtime_open_publisher(nrt, err, sizeof err);
            if (rc) {
                /* the old publisher comes back as a restart would: a fresh tracker,
                 * both restored from the state saved after the last cycle */
                char err2[1024];
                impa_alert_tracker_destroy(&old->tracker);
                if (impa_alert_tracker_create(&old->cfg.alerts, &old->tracker, err2, sizeof err2))
                    impa_log(IMPA_LOG_ERR, "reload: alerts are off: %s", err2);
                impa_cycle_set_alerts(old->cycle, old->tracker);
                if (runtime_open_publisher(old, err2, sizeof err2))
                    impa_log(IMPA_LOG_ERR, "reload: the previous publisher could not be "
                             "reopened either, publishing is off: %s", err2);
                goto refused;
            }
        } else {
            nrt->pub = old->pub;
            old->pub = NULL;
            impa_alert_tracker_destroy(&nrt->tracker);
            nrt->tracker = old->tracker;
            old->tracker = NULL;
            runtime_alert_state_path(nrt);
        }
        if (!nrt->watch) {
            nrt->watch = old->watch;
            old->watch = NULL;
        }
    }
    runtime_destroy(&svc->rt);
    svc->rt = nrt;
    svc->last_issue = INT64_MIN;
    svc->gap[0] = '\0';
    impa_log_set_level(nrt->cfg.log_level);
    svc->n.reloads++;
    const impa_model_info_t *mi = nrt->model ? impa_model_info(nrt->model) : NULL;
    impa_log(IMPA_LOG_NOTICE, "reload: configuration %.12s, model %s %s (%.12s) in use",
             nrt->cfg.sha256, mi ? mi->model_name : "none", mi ? mi->model_version : "",
             mi ? mi->sha256 : "-");
    if (!svc->opts.replay)
        impa_service_recover(svc);
    impa_notify("READY=1");
    return 0;
refused:
    runtime_destroy(&nrt);
    svc->n.reload_failures++;
    for (char *line = strtok(err, "\n"); line; line = strtok(NULL, "\n"))
        impa_log(IMPA_LOG_ERR, "reload refused, the running configuration stays: %s", line);
    impa_notify("READY=1");
    return rc;
}

/* ---------------------------------------------------------------- event loop */

/* Signals: the handler only sets a flag and writes one byte to a self-pipe that the
 * loop polls. Any thread may take the signal (OpenBLAS starts its pool before
 * main, so blocking them in main cannot cover every thread): the pipe wakes the
 * loop wherever it lands, and a signal during a cycle is seen right after it. */
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
    if (!path) {
        impa_log(IMPA_LOG_WARNING, "inotify queue overflowed: listing %s again",
                 svc->rt->cfg.input_dir);
        ingest_dir(svc, svc->rt->cfg.input_dir, 3 * svc->rt->shape.t_in, 1);
        return;
    }
    impa_service_ingest(svc, path, 1);
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

int impa_service_run(impa_service_t *svc)
{
    if (sig_pipe[0] < 0 && pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC)) {
        impa_log(IMPA_LOG_ERR, "pipe: %s", strerror(errno));
        return IMPA_EIO;
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
    double interval = svc->rt->cfg.status_interval_s;
    if (wd_usec && (double)wd_usec / 2e6 < interval)
        interval = (double)wd_usec / 2e6;
    double next_tick = impa_time_monotonic();

    impa_log(IMPA_LOG_NOTICE, "watching %s for %s; publishing on %s%s", svc->rt->cfg.input_dir,
             svc->rt->cfg.input_pattern, svc->rt->cfg.publish.endpoints[0],
             wd_usec ? "; watchdog on" : "");
    impa_notify("READY=1");
    int stop = 0, rc = 0;
    while (!stop) {
        zmq_pollitem_t items[3];
        int n = 0;
        items[n++] = (zmq_pollitem_t){.fd = sfd, .events = ZMQ_POLLIN};
        items[n++] = (zmq_pollitem_t){.fd = impa_watch_fd(svc->rt->watch), .events = ZMQ_POLLIN};
        void *req = svc->rt->pub ? impa_publisher_request_socket(svc->rt->pub) : NULL;
        if (req)
            items[n++] = (zmq_pollitem_t){.socket = req, .events = ZMQ_POLLIN};
        double wait = next_tick - impa_time_monotonic();
        long timeout_ms = wait > 0 ? (long)(wait * 1000.0) + 1 : 0;
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
            stop = 1;
        } else if (sig_reload) {
            sig_reload = 0;
            impa_service_reload(svc);
            interval = svc->rt->cfg.status_interval_s;
            if (wd_usec && (double)wd_usec / 2e6 < interval)
                interval = (double)wd_usec / 2e6;
        }
        if (!stop && (items[1].revents & ZMQ_POLLIN)) {
            char err[512];
            if (impa_watch_read(svc->rt->watch, on_new_file, svc, err, sizeof err) < 0)
                impa_log(IMPA_LOG_ERR, "%s", err);
        }
        if (!stop && req && n > 2 && (items[2].revents & ZMQ_POLLIN)) {
            char err[512];
            if (impa_publisher_handle_request(svc->rt->pub, err, sizeof err))
                impa_log(IMPA_LOG_WARNING, "snapshot request: %s", err);
        }
        if (impa_time_monotonic() >= next_tick) {
            send_status(svc);
            if (wd_usec)
                impa_notify("WATCHDOG=1");
            next_tick = impa_time_monotonic() + interval;
        }
    }
    impa_notify("STOPPING=1");
    impa_log(IMPA_LOG_NOTICE, "stopped: %llu scans, %llu cycles, %llu quarantined",
             (unsigned long long)svc->n.scans, (unsigned long long)svc->n.cycles,
             (unsigned long long)svc->n.quarantined);
    return rc;
}
