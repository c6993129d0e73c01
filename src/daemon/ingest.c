/* Scans in: reading (in a child process), the checks a scan must pass,
 * quarantine, the model grid set up by the first scan, the window, the online
 * verifier's observation; reading a directory in scan-time order (restart
 * recovery, replay, a lost inotify queue); the queue of scans that arrive while
 * a cycle runs. Logs every scan. */
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/service-impl.h"
#include "impa/reader.h"
#include "impa/timeutil.h"
#include "impa/verify.h"

/* How far a live scan may lie after both the clock and the newest step held. */
#define IMPA_SERVICE_MAX_AHEAD_S (6 * 3600)

/* Scans queued while a cycle runs; beyond it the directory is listed again. */
#define IMPA_INGEST_MAX_QUEUE 4096

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

static impa_reader_opts_t reader_opts(const impa_daemon_config_t *cfg)
{
    impa_reader_opts_t ro = impa_reader_opts_default();
    ro.variable = cfg->input_variable[0] ? cfg->input_variable : NULL;
    ro.zr_a = cfg->zr_a;
    ro.zr_b = cfg->zr_b;
    ro.accum_period_s = cfg->accum_period_s;
    return ro;
}

/* Untrusted input: libnetcdf/libhdf5 crash or hang on some malformed headers
 * (fuzz/corpus-known/), so scans are parsed in a child process. 0, or 1 when
 * the file was quarantined. */
static int read_scan(impa_service_t *svc, const char *path, impa_scan_t *scan)
{
    impa_reader_opts_t ro = reader_opts(&svc->rt->cfg);
    char err[1024];
    memset(scan, 0, sizeof *scan);
    if (impa_reader_read_isolated(path, &ro, NULL, scan, err, sizeof err) == 0)
        return 0;
    impa_scan_deinit(scan);
    quarantine(svc, path, err);
    return 1;
}

/* The first scan fixes the model grid: the cycle state is made for it. */
static int setup_grid(impa_service_t *svc, const char *path, const impa_scan_t *scan)
{
    impa_runtime_t *rt = svc->rt;
    impa_daemon_config_t *cfg = &rt->cfg;
    impa_grid_t mgrid;
    char err[1024], why[1400];
    int rc = impa_domain_grid(&rt->dom, &scan->grid, &mgrid, err, sizeof err);
    if (rc) {
        snprintf(why, sizeof why, "domain does not fit the scan: %s", err);
        quarantine(svc, path, why);
        return 1;
    }
    char note[1024];
    rc = impa_cycle_create(cfg, rt->model, &rt->shape, &mgrid, &rt->cycle, note, sizeof note, err,
                           sizeof err);
    if (rc) {
        impa_log(IMPA_LOG_ERR, "scan %s: cannot set up the %dx%d model grid: %s", path, mgrid.ny,
                 mgrid.nx, err);
        return rc;
    }
    rt->in_grid = scan->grid;
    impa_cycle_set_alerts(rt->cycle, rt->tracker);
    impa_log(IMPA_LOG_NOTICE,
             "model grid %dx%d (input %dx%d, crop at %d,%d, block %d), window %d x %d min",
             mgrid.ny, mgrid.nx, scan->grid.ny, scan->grid.nx, cfg->x_offset, cfg->y_offset,
             cfg->block, rt->shape.t_in, rt->shape.step_minutes);
    if (note[0])
        impa_log(IMPA_LOG_WARNING, "cycles will use the fallback: %s", note);
    else if (cfg->method == IMPA_CFG_METHOD_IMPANET)
        impa_log(IMPA_LOG_NOTICE, "network forecasts calibrated: %s (model.calibration %s)",
                 impa_calibration_name(impa_cycle_calibration(rt->cycle)),
                 impa_calibration_name((impa_calibration_t)cfg->calibration));
    return 0;
}

/* A scan read: checks, domain, window, verification. */
static int ingest_scan(impa_service_t *svc, const char *path, const impa_scan_t *scan,
                       int run_cycles, int *act)
{
    impa_runtime_t *rt = svc->rt;
    char err[1024], why[1400];
    *act = 0;
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
        if (scan->time > ref + IMPA_SERVICE_MAX_AHEAD_S) {
            char siso[32], riso[32];
            snprintf(why, sizeof why,
                     "scan time %s is in the future: more than %d h after both the clock "
                     "and the newest scan held (%s)",
                     impa_time_iso(scan->time, siso, sizeof siso),
                     IMPA_SERVICE_MAX_AHEAD_S / 3600, impa_time_iso(ref, riso, sizeof riso));
            quarantine(svc, path, why);
            return 1;
        }
    }
    if (!rt->cycle) {
        int rc = setup_grid(svc, path, scan);
        if (rc)
            return rc;
    } else if (!same_grid(&rt->in_grid, &scan->grid)) {
        snprintf(why, sizeof why,
                 "wrong grid: %dx%d, dx %g, dy %g, origin (%g, %g); expected %dx%d, dx %g, dy %g, "
                 "origin (%g, %g)",
                 scan->grid.ny, scan->grid.nx, scan->grid.dx, scan->grid.dy, scan->grid.x0,
                 scan->grid.y0, rt->in_grid.ny, rt->in_grid.nx, rt->in_grid.dx, rt->in_grid.dy,
                 rt->in_grid.x0, rt->in_grid.y0);
        quarantine(svc, path, why);
        return 1;
    }
    impa_scan_t ms;
    memset(&ms, 0, sizeof ms);
    if (impa_domain_apply(&rt->dom, scan, &ms, err, sizeof err)) {
        impa_scan_deinit(&ms);
        quarantine(svc, path, err);
        return 1;
    }
    svc->n.scans++;
    if (scan->time > svc->last_scan_time)
        svc->last_scan_time = scan->time;

    impa_window_t *w = impa_cycle_window(rt->cycle);
    int64_t slot;
    char iso[32], siso[32];
    impa_time_iso(scan->time, iso, sizeof iso);
    int r = impa_window_add(w, scan->time, ms.dbz, path, &slot);
    impa_time_iso(slot, siso, sizeof siso);
    switch (r) {
    case IMPA_WINDOW_NEW_STEP:
        impa_log(IMPA_LOG_INFO, "scan %s: %s (%s), step %s, window %d/%d", path, iso,
                 scan->quantity, siso, impa_window_fill(w), impa_window_size(w));
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
        *act = 1;
        break;
    case IMPA_WINDOW_LATE:
        svc->n.late++;
        impa_log(IMPA_LOG_NOTICE, "scan %s: late (%s), inserted at step %s, window %d/%d", path,
                 iso, siso, impa_window_fill(w), impa_window_size(w));
        /* A late scan that completes the window of a step that was skipped or
         * forecast by the fallback because of the gap earns that step its cycle. */
        *act = run_cycles && impa_window_complete(w) &&
               !(svc->last_issue == impa_window_head(w) && svc->last_issue_complete);
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
    impa_scan_deinit(&ms);
    return 0;
}

int impa_ingest_file(impa_service_t *svc, const char *path, int run_cycles, int *act)
{
    impa_scan_t scan;
    *act = 0;
    if (read_scan(svc, path, &scan))
        return 1;
    int rc = ingest_scan(svc, path, &scan, run_cycles, act);
    impa_scan_deinit(&scan);
    return rc;
}

/* ---------------------------------------------------------------- directories */

typedef struct {
    impa_scan_t scan;
    char *path;
} pending_t;

/* Scan-time order, then name: the order a sorted listing gives. */
static int earlier(const pending_t *a, const pending_t *b)
{
    if (a->scan.time != b->scan.time)
        return a->scan.time < b->scan.time;
    return strcmp(a->path, b->path) < 0;
}

static void heap_push(pending_t *h, int *n, pending_t x)
{
    int i = (*n)++;
    h[i] = x;
    while (i > 0 && earlier(&h[i], &h[(i - 1) / 2])) {
        pending_t t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static pending_t heap_pop(pending_t *h, int *n)
{
    pending_t top = h[0];
    h[0] = h[--*n];
    for (int i = 0;;) {
        int m = i, l = 2 * i + 1, r = l + 1;
        if (l < *n && earlier(&h[l], &h[m]))
            m = l;
        if (r < *n && earlier(&h[r], &h[m]))
            m = r;
        if (m == i)
            break;
        pending_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
    return top;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ingest_pending(impa_service_t *svc, pending_t *p, int run_cycles,
                           void (*on_act)(impa_service_t *svc))
{
    int act = 0;
    ingest_scan(svc, p->path, &p->scan, run_cycles, &act);
    impa_scan_deinit(&p->scan);
    if (act && on_act)
        on_act(svc);
}

int impa_ingest_dir(impa_service_t *svc, const char *dir, int max, int lookahead,
                    int run_cycles, void (*on_act)(impa_service_t *svc))
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
    else if (max == 0)
        qsort(paths, (size_t)n, sizeof *paths, by_name);
    int cap = lookahead > 0 && lookahead < n ? lookahead : n;
    pending_t *heap = calloc((size_t)(cap ? cap : 1), sizeof *heap);
    if (!heap) {
        impa_watch_list_free(&paths, n_all);
        return IMPA_ENOMEM;
    }
    /* Each file is read once. Scans wait in a heap of `cap` by scan time: when
     * no file is more than cap places from its time order in the list (names
     * that carry the time, or cap = all), they come out in scan-time order;
     * one farther out arrives late, as it would live. Unreadable files are
     * quarantined as they are read. */
    int held = 0;
    for (int i = 0; i < n; i++) {
        pending_t p = {.path = paths[i]};
        if (read_scan(svc, paths[i], &p.scan))
            continue;
        if (held == cap) {
            pending_t first = heap_pop(heap, &held);
            ingest_pending(svc, &first, run_cycles, on_act);
        }
        heap_push(heap, &held, p);
    }
    while (held > 0) {
        pending_t first = heap_pop(heap, &held);
        ingest_pending(svc, &first, run_cycles, on_act);
    }
    free(heap);
    impa_watch_list_free(&paths, n_all);
    return n;
}

/* Restart recovery (start-up and reload): the newest files already there
 * rebuild the window; no cycle runs. */
int impa_service_recover(impa_service_t *svc)
{
    int max = 3 * svc->rt->shape.t_in;
    int n = impa_ingest_dir(svc, svc->rt->cfg.input_dir, max, 0, 0, NULL);
    int fill = svc->rt->cycle ? impa_window_fill(impa_cycle_window(svc->rt->cycle)) : 0;
    if (n >= 0)
        impa_log(IMPA_LOG_NOTICE, "recovery: %d existing files read from %s, window %d/%d", n,
                 svc->rt->cfg.input_dir, fill, svc->rt->shape.t_in);
    return n < 0 ? n : fill;
}

/* ---------------------------------------------------------------- the queue */

void impa_ingest_queue(impa_service_t *svc, const char *path)
{
    if (!path || svc->n_queue >= IMPA_INGEST_MAX_QUEUE) {
        if (!svc->relist)
            impa_log(IMPA_LOG_WARNING, "%s: %s listed again after the cycle",
                     path ? "more than 4096 scans queued during a cycle"
                          : "inotify queue overflowed",
                     svc->rt->cfg.input_dir);
        svc->relist = 1;
        return;
    }
    if (svc->n_queue == svc->cap_queue) {
        int cap = svc->cap_queue ? 2 * svc->cap_queue : 16;
        char **q = realloc(svc->queue, (size_t)cap * sizeof *q);
        if (!q) {
            svc->relist = 1;
            return;
        }
        svc->queue = q;
        svc->cap_queue = cap;
    }
    char *copy = strdup(path);
    if (!copy) {
        svc->relist = 1;
        return;
    }
    svc->queue[svc->n_queue++] = copy;
    impa_log(IMPA_LOG_DEBUG, "scan %s: queued until the cycle in progress ends (%d queued)",
             path, svc->n_queue);
}

void impa_ingest_queue_clear(impa_service_t *svc)
{
    for (int i = 0; i < svc->n_queue; i++)
        free(svc->queue[i]);
    svc->n_queue = 0;
}
