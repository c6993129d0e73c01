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
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/service-impl.h"
#include "impa/alertverify.h"
#include "impa/archive.h"
#include "impa/reader.h"
#include "impa/timeutil.h"
#include "impa/verify.h"

/* Scans ahead of the clock tracked at most (more are found again by a listing). */
#define IMPA_MAX_AHEAD 4096

/* Scans queued while a cycle runs; beyond it the directory is listed again. */
#define IMPA_INGEST_MAX_QUEUE 4096

/* One line per observation: the alerts that forecast it, as objects (counts of
 * this observation, pooled over leads), and the since-start scores. */
static void log_alert_scores(const impa_verifier_t *v, const char *siso)
{
    const impa_alert_table_t *now = impa_verifier_alert_table(v, 1);
    const impa_alert_table_t *all = impa_verifier_alert_table(v, 0);
    if (!now || !all || !now->n_observations)
        return;
    impa_alert_counts_t c = impa_alert_table_pooled(now), ca = impa_alert_table_pooled(all);
    impa_scores_t s = impa_alert_counts_scores(&ca);
    impa_log(IMPA_LOG_INFO,
             "alerts verified at %s: %lld observed cells, %lld warned before (mean %.0f min); "
             "%lld alerts valid now, %lld hit, %lld false; since start POD %.2f FAR %.2f CSI "
             "%.2f, mean warning lead time %.0f min",
             siso, (long long)now->obs_cells, (long long)now->warned,
             now->warned ? (double)now->lead_time_sum_s / 60.0 / (double)now->warned : 0.0,
             (long long)c.alerts, (long long)c.hits, (long long)(c.alerts - c.hits), s.pod, s.far,
             s.csi, all->warned ? (double)all->lead_time_sum_s / 60.0 / (double)all->warned : 0.0);
}

/* One line per probability threshold: per lead the Brier score, its skill
 * against the running base rate and against the 0/1 forecast and the ROC area
 * (since start), then the reliability table pooled over leads (forecast mean /
 * observed frequency (pairs) per bin). */
static void log_prob_scores(const impa_verifier_t *v, const char *siso)
{
    const float *thr = NULL;
    int n_thr = impa_verifier_prob_thresholds(v, &thr);
    static impa_verify_table_t tab; /* for the step only; the event loop's thread */
    if (n_thr && impa_verifier_table(v, IMPA_METHOD_PERSISTENCE, 0, &tab))
        return;
    for (int t = 0; t < n_thr; t++) {
        char leads[1536] = "", rel[768] = "";
        size_t lu = 0, ru = 0;
        impa_prob_verify_t pooled;
        memset(&pooled, 0, sizeof pooled);
        double c = NAN;
        int64_t n_now = 0;
        for (int l = 0; l < IMPA_VERIFY_MAX_LEADS; l++) {
            impa_prob_scores_t s, sn;
            if (impa_verifier_prob_scores(v, t, l, 0, &s, &c) ||
                impa_verifier_prob_scores(v, t, l, 1, &sn, NULL))
                break;
            n_now += sn.n;
            if (!s.n)
                continue;
            int w = snprintf(leads + lu, sizeof leads - lu,
                             "%s%d: BS %.4f BSS %.2f/%.2f ROC %.2f", lu ? "; " : "",
                             (l + 1) * tab.step_minutes, s.bs, s.bss_clim, s.bss_det, s.roc_area);
            if (w > 0 && lu + (size_t)w < sizeof leads)
                lu += (size_t)w;
            /* an empty bin's frequency is NaN: it adds nothing (and NaN has no int64) */
            for (int b = 0; b < IMPA_PROB_REL_BINS; b++) {
                if (s.rel_n[b] <= 0)
                    continue;
                pooled.pairs[b * 10] += s.rel_n[b];
                pooled.events[b * 10] += (int64_t)(s.rel_freq[b] * (double)s.rel_n[b] + 0.5);
            }
        }
        if (!n_now)
            continue;
        for (int b = 0; b < IMPA_PROB_REL_BINS; b++) {
            int64_t n = pooled.pairs[b * 10];
            int w = n ? snprintf(rel + ru, sizeof rel - ru, "%s%d-%d%%: %.3f (%lld)",
                                 ru ? ", " : "", 10 * b, 10 * b + 10,
                                 (double)pooled.events[b * 10] / (double)n, (long long)n)
                      : 0;
            if (w > 0 && ru + (size_t)w < sizeof rel)
                ru += (size_t)w;
        }
        impa_log(IMPA_LOG_INFO,
                 "probabilities verified at %s, P(>= %g dBZ), base rate %.4f, since start per "
                 "lead (min: BS, BSS vs base rate/vs 0-1 forecast, ROC area): %s; reliability "
                 "(observed frequency per forecast bin, pairs): %s",
                 siso, (double)thr[t], c, lu ? leads : "-", ru ? rel : "-");
    }
}

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

/* A slow file (the reader child has up to 20 s): the loop is blocked, so the
 * watchdog is fed from here, at most once a second and only while health
 * allows (impa_status_watchdog_ping stops once the quiet period passed). */
static void read_waiting(void *user)
{
    impa_status_watchdog_ping(user, 0);
}

/* Untrusted input: libnetcdf/libhdf5 crash or hang on some malformed headers
 * (fuzz/corpus-known/), so scans are parsed in a child process. 0, or 1 when
 * the file was quarantined. */
static int read_scan(impa_service_t *svc, const char *path, impa_scan_t *scan)
{
    impa_reader_opts_t ro = reader_opts(&svc->rt->cfg);
    char err[1024], target[PATH_MAX];
    memset(scan, 0, sizeof *scan);
    /* A symbolic link is read only when it resolves inside the directory it
     * is in: a link to /etc/shadow or another user's files must not make the
     * daemon (and its error messages) read them. The resolved path is what is
     * read, so the link cannot be swapped between this check and the open. */
    const char *src = path;
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        char dir[PATH_MAX], dreal[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(dir, sizeof dir, ".");
        size_t dl = 0;
        if (!realpath(path, target) || !realpath(dir, dreal) ||
            strncmp(target, dreal, (dl = strlen(dreal))) != 0 || target[dl] != '/') {
            char why[3400];
            snprintf(why, sizeof why, "a symbolic link to %.1600s, outside %.1600s: refused, not read",
                     realpath(path, target) ? target : "a missing file", dir);
            quarantine(svc, path, why);
            return 1;
        }
        src = target;
    }
    impa_reader_limits_t lim = impa_reader_limits_default();
    lim.waiting = read_waiting;
    lim.waiting_user = svc;
    if (impa_reader_read_isolated(src, &ro, &lim, scan, err, sizeof err) == 0)
        return 0;
    impa_scan_deinit(scan);
    quarantine(svc, path, err);
    return 1;
}

/* The confirmed grid (confirm_grid): the cycle state is made for it. */
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
    if (rt->prob_table &&
        impa_cycle_set_prob(rt->cycle, rt->prob_table, cfg->prob_thresholds,
                            cfg->n_prob_thresholds, err, sizeof err))
        impa_log(IMPA_LOG_ERR, "probability product off: %s", err);
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
    const char *pub, *guide;
    int n_extrap = impa_cycle_extrapolation(rt->cycle, &pub, &guide);
    if (guide)
        impa_log(IMPA_LOG_NOTICE,
                 "extrapolation: the network's input %s (its model file's), the published "
                 "extrapolation %s (extrapolation.scheme)%s", guide, pub,
                 n_extrap > 1 ? ", two extrapolators" : ", one shared extrapolator");
    else
        impa_log(IMPA_LOG_NOTICE, "extrapolation: the published extrapolation %s "
                 "(extrapolation.scheme)", pub);
    return 0;
}

int64_t impa_service_now(const impa_service_t *svc)
{
    return (int64_t)(impa_time_now() + svc->clock_offset);
}

/* A scan ahead of the clock by more than input.max_ahead_minutes: left where it
 * is and remembered; impa_ingest_tick reads it once the clock reaches it. Scans
 * of several steps ahead at once: the clock, not the scans, is wrong (or the
 * producer's), a clock fault. */
static void ahead_of_clock(impa_service_t *svc, const char *path, int64_t t, int64_t now)
{
    char iso[32], niso[32];
    impa_time_iso(t, iso, sizeof iso);
    impa_time_iso(now, niso, sizeof niso);
    int i = 0;
    while (i < svc->n_ahead && strcmp(svc->ahead[i].path, path))
        i++;
    if (i == svc->n_ahead) {
        if (svc->n_ahead == svc->cap_ahead && svc->n_ahead < IMPA_MAX_AHEAD) {
            int cap = svc->cap_ahead ? 2 * svc->cap_ahead : 16;
            impa_ahead_t *a = realloc(svc->ahead, (size_t)cap * sizeof *a);
            if (a)
                svc->ahead = a, svc->cap_ahead = cap;
        }
        char *copy = svc->n_ahead < svc->cap_ahead ? strdup(path) : NULL;
        if (!copy) {
            impa_log(IMPA_LOG_WARNING, "scan %s: %s is ahead of the clock (%s); left in place, "
                     "not tracked (%d such scans)", path, iso, niso, svc->n_ahead);
            return;
        }
        svc->ahead[svc->n_ahead++] = (impa_ahead_t){.path = copy, .time = t};
        svc->n.ahead++;
        impa_log(IMPA_LOG_WARNING,
                 "scan %s: %s is %.0f min ahead of the clock (%s), more than "
                 "input.max_ahead_minutes %d: left in the input directory, read when the "
                 "clock reaches it", path, iso, (double)(t - now) / 60.0, niso,
                 svc->rt->cfg.max_ahead_minutes);
    } else {
        svc->ahead[i].time = t;
    }
    /* several steps ahead of the clock: the clock is behind */
    int64_t newest = t, oldest = t;
    for (int k = 0; k < svc->n_ahead; k++) {
        if (svc->ahead[k].time > newest)
            newest = svc->ahead[k].time;
        if (svc->ahead[k].time < oldest)
            oldest = svc->ahead[k].time;
    }
    svc->clock_behind_s = newest - now;
    if (!svc->clock_fault && newest != oldest) {
        svc->clock_fault = 1;
        impa_log(IMPA_LOG_ERR,
                 "clock fault: the host clock (%s) is behind the scans: %d scans are up to "
                 "%.0f min ahead of it; they stay in %s and are used when the clock catches "
                 "up: check the time synchronisation (NTP)",
                 niso, svc->n_ahead, (double)svc->clock_behind_s / 60.0,
                 svc->rt->cfg.input_dir);
    }
}

void impa_ingest_tick(impa_service_t *svc)
{
    if (!svc->n_ahead)
        return;
    int64_t now = impa_service_now(svc), tol = (int64_t)svc->rt->cfg.max_ahead_minutes * 60;
    int kept = 0;
    for (int i = 0; i < svc->n_ahead; i++) {
        impa_ahead_t a = svc->ahead[i];
        if (access(a.path, F_OK) != 0) { /* removed meanwhile */
            free(a.path);
        } else if (a.time <= now + tol) {
            impa_log(IMPA_LOG_INFO, "scan %s: the clock has reached it, reading it", a.path);
            impa_ingest_queue(svc, a.path);
            free(a.path);
        } else {
            svc->ahead[kept++] = a;
        }
    }
    svc->n_ahead = kept;
    if (!kept && svc->clock_fault) {
        svc->clock_fault = 0;
        impa_log(IMPA_LOG_NOTICE, "clock fault over: no scan is ahead of the clock any more");
    }
}

void impa_ingest_reset(impa_service_t *svc)
{
    for (int i = 0; i < svc->n_ahead; i++)
        free(svc->ahead[i].path);
    svc->n_ahead = 0;
    svc->clock_fault = 0;
    for (int i = 0; i < svc->n_cand; i++) {
        free(svc->cand[i].path);
        impa_scan_deinit(&svc->cand[i].scan);
    }
    svc->n_cand = 0;
}

/* Values no radar measures: too few cells with data (all NaN, all _FillValue)
 * or reflectivity above the physical maximum. Such a scan must not claim its
 * step: quarantined, the step stays open for the genuine scan. */
static int implausible(impa_service_t *svc, const char *path, const impa_scan_t *scan)
{
    const impa_daemon_config_t *cfg = &svc->rt->cfg;
    size_t n = (size_t)scan->grid.nx * (size_t)scan->grid.ny, valid = 0, above = 0;
    float mx = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        float v = scan->dbz[i];
        if (isnan(v))
            continue;
        valid++;
        if (!(v <= cfg->max_dbz))
            above++;
        if (v > mx)
            mx = v;
    }
    char why[512];
    if (valid == 0 || (double)valid < cfg->min_valid_fraction * (double)n)
        snprintf(why, sizeof why,
                 "implausible: %s of its %zu cells hold data (%.1f %%; input.min_valid_fraction "
                 "%g): all missing, _FillValue or nodata",
                 valid ? "only few" : "none", n, n ? 100.0 * (double)valid / (double)n : 0.0,
                 cfg->min_valid_fraction);
    else if (above)
        snprintf(why, sizeof why,
                 "implausible: %zu of its %zu valid cells above the physical maximum %g dBZ "
                 "(input.max_dbz), largest %g", above, valid, cfg->max_dbz, (double)mx);
    else
        return 0;
    svc->n.implausible++;
    quarantine(svc, path, why);
    return 1;
}

static int ingest_scan(impa_service_t *svc, const char *path, const impa_scan_t *scan,
                       int run_cycles, int *act);

static int by_time(const void *a, const void *b)
{
    const impa_candidate_t *x = a, *y = b;
    if (x->scan.time != y->scan.time)
        return x->scan.time < y->scan.time ? -1 : 1;
    return strcmp(x->path, y->path);
}

/* No grid yet: the scan waits with the others read so far until
 * input.grid_confirm_scans of them agree on a grid. That grid becomes the model
 * grid; the scans on it are ingested in time order, the others quarantined. So
 * one odd file cannot fix the grid for good. Takes the scan's data. */
static int confirm_grid(impa_service_t *svc, const char *path, const impa_scan_t *scan,
                        int run_cycles, int *act)
{
    int need = svc->rt->cfg.grid_confirm_scans;
    if (!svc->cand && !(svc->cand = calloc(IMPA_MAX_CANDIDATES, sizeof *svc->cand)))
        return IMPA_ENOMEM;
    for (int i = 0; i < svc->n_cand; i++)
        if (!strcmp(svc->cand[i].path, path)) {
            /* read again (a listing): the newer read replaces it */
            free(svc->cand[i].path);
            impa_scan_deinit(&svc->cand[i].scan);
            svc->cand[i] = svc->cand[--svc->n_cand];
            break;
        }
    if (svc->n_cand == IMPA_MAX_CANDIDATES) {
        impa_candidate_t old = svc->cand[0];
        memmove(svc->cand, svc->cand + 1, (size_t)(svc->n_cand - 1) * sizeof *svc->cand);
        svc->n_cand--;
        quarantine(svc, old.path, "its grid was never confirmed by other scans");
        free(old.path);
        impa_scan_deinit(&old.scan);
    }
    char *copy = strdup(path);
    if (!copy)
        return IMPA_ENOMEM;
    impa_candidate_t *c = &svc->cand[svc->n_cand++];
    c->path = copy;
    c->scan = *scan;
    ((impa_scan_t *)scan)->dbz = NULL; /* taken: the caller's deinit frees nothing */
    int votes = 0;
    for (int i = 0; i < svc->n_cand; i++)
        votes += same_grid(&svc->cand[i].scan.grid, &c->scan.grid);
    if (votes < need) {
        impa_log(IMPA_LOG_INFO, "scan %s: grid %dx%d seen on %d of the %d scans that confirm "
                 "the model grid; held", path, c->scan.grid.ny, c->scan.grid.nx, votes, need);
        return 0;
    }
    /* confirmed: set up the grid on this scan, then ingest in time order */
    impa_grid_t g = c->scan.grid;
    int n = svc->n_cand;
    impa_candidate_t *all = svc->cand;
    svc->cand = NULL;
    svc->n_cand = 0;
    qsort(all, (size_t)n, sizeof *all, by_time);
    int first = -1;
    for (int i = 0; i < n && first < 0; i++)
        if (same_grid(&all[i].scan.grid, &g))
            first = i;
    int rc = setup_grid(svc, all[first].path, &all[first].scan);
    char why[1400];
    for (int i = 0; i < n; i++) {
        int same = same_grid(&all[i].scan.grid, &g);
        if (rc == 0 && same) {
            int a = 0;
            ingest_scan(svc, all[i].path, &all[i].scan, run_cycles, &a);
            *act |= a;
        } else if (rc == 1 && same && i != first) {
            snprintf(why, sizeof why, "domain does not fit its grid (as for %s)", all[first].path);
            quarantine(svc, all[i].path, why);
        } else if (!same) {
            snprintf(why, sizeof why,
                     "wrong grid: %dx%d, dx %g, dy %g; the model grid is %dx%d, dx %g, dy %g "
                     "(confirmed by %d scans)",
                     all[i].scan.grid.ny, all[i].scan.grid.nx, all[i].scan.grid.dx,
                     all[i].scan.grid.dy, g.ny, g.nx, g.dx, g.dy, votes);
            quarantine(svc, all[i].path, why);
        }
        free(all[i].path);
        impa_scan_deinit(&all[i].scan);
    }
    free(all);
    return rc < 0 ? rc : 0;
}

/* A scan read: checks, domain, window, verification. */
static int ingest_scan(impa_service_t *svc, const char *path, const impa_scan_t *scan,
                       int run_cycles, int *act)
{
    impa_runtime_t *rt = svc->rt;
    char err[1024], why[1400];
    *act = 0;
    /* A scan stamped ahead of the clock would become the window's head and every
     * real scan after it would be "older than the window" until the clock caught
     * up: it waits in the input directory instead (ahead_of_clock). Live only: a
     * replay has no clock. */
    if (!svc->opts.replay) {
        int64_t now = impa_service_now(svc);
        int64_t tol = (int64_t)rt->cfg.max_ahead_minutes * 60;
        if (scan->time > now + tol) {
            ahead_of_clock(svc, path, scan->time, now);
            return 0;
        }
        if (svc->clock_fault && scan->time >= now - tol) {
            svc->clock_fault = 0;
            impa_log(IMPA_LOG_NOTICE, "clock fault over: scan %s agrees with the clock", path);
        }
    }
    if (implausible(svc, path, scan))
        return 1;
    if (!rt->cycle)
        return confirm_grid(svc, path, scan, run_cycles, act);
    if (!same_grid(&rt->in_grid, &scan->grid)) {
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
    if (r == IMPA_WINDOW_NEW_STEP || r == IMPA_WINDOW_LATE) {
        svc->last_flow = impa_time_monotonic();
        if (svc->quiet_logged) {
            svc->quiet_logged = 0;
            impa_log(IMPA_LOG_NOTICE, "scans flow again: %s", path);
        }
    }
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
            if (scored >= 0) {
                log_alert_scores(v, siso);
                log_prob_scores(v, siso);
            }
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

/* When the file at path was closed, for the scan-to-alert time: its mtime (the
 * last write, just before the writer's close: what inotify's close_write
 * reports), or now when the file is older than the daemon (a replay of old
 * files, or scans left while it was down: the scan counts from its intake). */
typedef struct {
    double t;
    int from_read;
} closed_t;

static closed_t scan_closed(const impa_service_t *svc, const char *path)
{
    struct stat st;
    closed_t c = {impa_time_now(), 1};
    if (stat(path, &st) == 0) {
        double m = (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec;
        if (m >= svc->start_wall && m <= c.t) {
            c.t = m;
            c.from_read = 0;
        }
    }
    return c;
}

/* ingest_scan; a scan that asks for a cycle starts that cycle's scan-to-alert
 * clock at c. */
static int ingest_clocked(impa_service_t *svc, const char *path, const impa_scan_t *scan,
                          int run_cycles, int *act, closed_t c)
{
    int rc = ingest_scan(svc, path, scan, run_cycles, act);
    if (*act) {
        svc->scan_closed = c.t;
        svc->scan_from_intake = c.from_read;
    }
    return rc;
}

int impa_ingest_file(impa_service_t *svc, const char *path, int run_cycles, int *act)
{
    impa_scan_t scan;
    *act = 0;
    closed_t c = scan_closed(svc, path); /* before the read: the read counts */
    if (read_scan(svc, path, &scan))
        return 1;
    int rc = ingest_clocked(svc, path, &scan, run_cycles, act, c);
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
    /* read in the look-ahead already: an old file's clock starts at its intake */
    ingest_clocked(svc, p->path, &p->scan, run_cycles, &act, scan_closed(svc, p->path));
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

/* A kill during a cycle (or a crash) loses that step's forecast: when the
 * recovered window is complete, its head recent (at most 6 steps behind the
 * clock: an outage of days is not worth a stale forecast) and its archive file
 * absent, its cycle is made due; the event loop runs it. */
static void missing_forecast(impa_service_t *svc)
{
    impa_runtime_t *rt = svc->rt;
    impa_window_t *w = rt->cycle ? impa_cycle_window(rt->cycle) : NULL;
    if (!w || !impa_window_complete(w) || !rt->cfg.output_dir[0])
        return;
    int64_t head = impa_window_head(w), step = (int64_t)rt->shape.step_minutes * 60;
    char final[PATH_MAX], tmp[PATH_MAX], iso[32];
    if (impa_service_now(svc) - head > 6 * step ||
        impa_archive_paths(rt->cfg.output_dir, rt->cfg.output_prefix, head, final, tmp,
                           sizeof final) ||
        access(final, F_OK) == 0)
        return;
    impa_log(IMPA_LOG_NOTICE, "recovery: no forecast for the newest complete window %s (%s "
             "missing: the daemon stopped during its cycle?): running it",
             impa_time_iso(head, iso, sizeof iso), final);
    /* due as a scan makes it (service.c act_later); the loop starts it */
    if (!svc->due++)
        svc->due_first = head;
}

/* Restart recovery (start-up and reload): the newest files already there
 * rebuild the window; the cycle of a window whose forecast is missing is made
 * due (missing_forecast), no other runs. */
int impa_service_recover(impa_service_t *svc)
{
    int max = 3 * svc->rt->shape.t_in;
    int n = impa_ingest_dir(svc, svc->rt->cfg.input_dir, max, 0, 0, NULL);
    int fill = svc->rt->cycle ? impa_window_fill(impa_cycle_window(svc->rt->cycle)) : 0;
    if (n >= 0)
        impa_log(IMPA_LOG_NOTICE, "recovery: %d existing files read from %s, window %d/%d", n,
                 svc->rt->cfg.input_dir, fill, svc->rt->shape.t_in);
    missing_forecast(svc);
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
