/* impa-verify: offline verification with the same tables as the daemon.
 *
 *   impa-verify --forecasts DIR --observations DIR [--thresholds 20,35,45]
 *               [--method-filter NAME] [--persistence] [--probability]
 *               [--domain XOFF,YOFF,NX,NY,BLOCK]
 *   impa-verify --extrapolation-vs-persistence --observations DIR [--t-in 3]
 *               [--leads 12] [--every N] [--from ISO] [--to ISO] [--threads 2]
 *               [--thresholds ...] [--domain ...]
 *   impa-verify --alerts --forecasts DIR --observations DIR [--domain ...]
 *               [--alert-threshold 45] [--alert-min-area 4] [--alert-confirm-minutes 0]
 *               [--alert-confirm-age-minutes 10] [--alert-confirm-area 50]
 *               [--alert-confirm-dbz 60] [--alert-cancel-after-minutes 10]
 *               [--alert-cluster-km 3]
 *
 * --alerts runs the daemon's alert tracker over the forecast archives in issue
 * order (as the daemon does cycle by cycle; the --alert-* options are the
 * publish.alerts keys, their defaults the daemon's), prints the track churn (tracks
 * alerted in one cycle only) and scores the alerts as objects against the
 * observed cells (impa/alertverify.h), as a table per lead.
 *
 * Common: [--accum-period S] seconds of an accumulation product when the file
 * does not say; [--variable NAME] the variable to read. Observation files are every
 * regular file in DIR (not recursive) that impa_reader_read accepts; the others are
 * reported on stderr and skipped. Valid times come from file metadata. */
#include <dirent.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "impa/alertverify.h"
#include "impa/alerts.h"
#include "impa/archive.h"
#include "impa/cli.h"
#include "impa/domain.h"
#include "impa/extrapolate.h"
#include "impa/prob.h"
#include "impa/reader.h"
#include "impa/timeutil.h"
#include "impa/verify.h"

#define MAX_METHODS 8

typedef struct {
    int64_t time;
    float *dbz; /* [ny][nx] after the domain */
} obs_t;

typedef struct {
    int n;
    obs_t *o; /* sorted by time */
    int ny, nx;
} obs_set_t;

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: impa-verify --forecasts DIR --observations DIR [--thresholds 20,35,45]\n"
            "                   [--method-filter NAME] [--persistence] [--probability]\n"
            "                   [--domain XOFF,YOFF,NX,NY,BLOCK]\n"
            "       impa-verify --extrapolation-vs-persistence --observations DIR [--t-in 3]\n"
            "                   [--leads 12] [--every N] [--from ISO] [--to ISO] [--threads 2]\n"
            "                   [--thresholds ...] [--domain ...]\n"
            "       impa-verify --alerts --forecasts DIR --observations DIR [--domain ...]\n"
            "                   [--alert-threshold 45] [--alert-min-area 4]\n"
            "                   [--alert-confirm-minutes 0] [--alert-confirm-age-minutes 10]\n"
            "                   [--alert-confirm-area 50] [--alert-confirm-dbz 60]\n"
            "                   [--alert-cancel-after-minutes 10]\n"
            "       impa-verify --version | --help\n"
            "common: [--accum-period SECONDS] [--variable NAME]\n");
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted list of regular files in dir (malloc'ed strings). */
static int list_dir(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "impa-verify: cannot open directory %s\n", dir);
        return -1;
    }
    int n = 0, cap = 0;
    char **names = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[PATH_MAX];
        struct stat st;
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p ||
            stat(p, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, sizeof(char *) * (size_t)cap);
            if (!nn)
                break;
            names = nn;
        }
        names[n++] = strdup(p);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(char *), cmp_name);
    *out = names;
    return n;
}

static int cmp_obs(const void *a, const void *b)
{
    int64_t x = ((const obs_t *)a)->time, y = ((const obs_t *)b)->time;
    return x < y ? -1 : x > y;
}

static int load_observations(const char *dir, const impa_reader_opts_t *ro,
                             const impa_domain_t *dom, obs_set_t *set)
{
    char **names = NULL;
    int nf = list_dir(dir, &names);
    if (nf < 0)
        return -1;
    set->o = calloc((size_t)(nf > 0 ? nf : 1), sizeof(obs_t));
    set->n = 0;
    set->ny = set->nx = 0;
    char err[512];
    for (int i = 0; i < nf; i++) {
        impa_scan_t raw, cut;
        memset(&raw, 0, sizeof raw);
        memset(&cut, 0, sizeof cut);
        if (impa_reader_read(names[i], ro, &raw, err, sizeof err) < 0) {
            fprintf(stderr, "impa-verify: skipped %s\n", err);
            free(names[i]);
            continue;
        }
        if (impa_domain_apply(dom, &raw, &cut, err, sizeof err) < 0) {
            fprintf(stderr, "impa-verify: %s: domain: %s\n", names[i], err);
            impa_scan_deinit(&raw);
            free(names[i]);
            continue;
        }
        if (set->n == 0) {
            set->ny = cut.grid.ny;
            set->nx = cut.grid.nx;
        }
        if (cut.grid.ny != set->ny || cut.grid.nx != set->nx) {
            fprintf(stderr, "impa-verify: %s: grid %dx%d differs from %dx%d, skipped\n",
                    names[i], cut.grid.ny, cut.grid.nx, set->ny, set->nx);
            impa_scan_deinit(&cut);
        } else {
            set->o[set->n].time = cut.time;
            set->o[set->n].dbz = cut.dbz; /* ownership moves to set */
            set->n++;
        }
        impa_scan_deinit(&raw);
        free(names[i]);
    }
    free(names);
    qsort(set->o, (size_t)set->n, sizeof(obs_t), cmp_obs);
    return set->n;
}

static const float *find_obs(const obs_set_t *set, int64_t t)
{
    int lo = 0, hi = set->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (set->o[mid].time == t)
            return set->o[mid].dbz;
        if (set->o[mid].time < t)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

static int parse_thresholds(const char *s, float *th)
{
    int n = 0;
    char *end;
    while (*s && n < IMPA_VERIFY_MAX_THRESH) {
        th[n++] = strtof(s, &end);
        if (end == s)
            return -1;
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

static void print_summary(const impa_verify_table_t *t, const char *name)
{
    printf("summary %s hss_mean", name);
    for (int i = 0; i < t->n_thresh; i++)
        printf(" %g:%.3f", (double)t->thresholds[i], impa_verify_table_mean(t, i, 3));
    printf(" csi_mean");
    for (int i = 0; i < t->n_thresh; i++)
        printf(" %g:%.3f", (double)t->thresholds[i], impa_verify_table_mean(t, i, 0));
    printf("\n");
}

/* --probability: the archives' probabilities scored as the online verifier
 * scores them (impa/prob.h), against the base rate of all the observations
 * (the sample climatology: offline there is no "so far"). */
typedef struct {
    int n_thr, n_leads, step, files;
    float thr[IMPA_PROB_MAX_THRESHOLDS];
    double base_rate[IMPA_PROB_MAX_THRESHOLDS];
    impa_prob_verify_t acc[IMPA_PROB_MAX_THRESHOLDS][IMPA_VERIFY_MAX_LEADS];
} prob_run_t;

static void prob_add_file(prob_run_t *pr, const char *path, const obs_set_t *obs, int64_t issue,
                          int step, const float *dbz, int nl)
{
    float thr[IMPA_PROB_MAX_THRESHOLDS];
    int n_thr, pl, ny, nx;
    float *p = NULL;
    char err[512];
    int rc = impa_archive_read_prob(path, thr, IMPA_PROB_MAX_THRESHOLDS, &n_thr, &pl, &ny, &nx,
                                    &p, err, sizeof err);
    if (rc) {
        if (rc != IMPA_ENOTFOUND)
            fprintf(stderr, "impa-verify: probabilities skipped: %s\n", err);
        return;
    }
    size_t npix = (size_t)obs->ny * (size_t)obs->nx;
    if (ny != obs->ny || nx != obs->nx || pl != nl) {
        free(p);
        return;
    }
    if (!pr->n_thr) { /* the first file's thresholds; base rates of all observations */
        pr->n_thr = n_thr, pr->step = step;
        pr->n_leads = nl < IMPA_VERIFY_MAX_LEADS ? nl : IMPA_VERIFY_MAX_LEADS;
        memcpy(pr->thr, thr, sizeof thr);
        for (int t = 0; t < n_thr; t++) {
            int64_t n = 0, e = 0;
            for (int i = 0; i < obs->n; i++)
                for (size_t k = 0; k < npix; k++)
                    if (!isnan(obs->o[i].dbz[k]))
                        n++, e += obs->o[i].dbz[k] >= thr[t];
            pr->base_rate[t] = n ? (double)e / (double)n : 0.0;
        }
    }
    uint8_t *enc = malloc(npix);
    for (int t = 0; t < pr->n_thr && enc; t++) {
        int ti = -1;
        for (int j = 0; j < n_thr; j++)
            if (thr[j] == pr->thr[t])
                ti = j;
        for (int k = 0; ti >= 0 && k < pr->n_leads; k++) {
            const float *o = find_obs(obs, issue + (int64_t)(k + 1) * step * 60);
            if (!o)
                continue;
            impa_prob_verify_encode(p + ((size_t)ti * nl + k) * npix, dbz + (size_t)k * npix,
                                    npix, pr->thr[t], enc);
            impa_prob_verify_add(&pr->acc[t][k], enc, o, npix, pr->thr[t], pr->base_rate[t]);
        }
    }
    pr->files++;
    free(enc);
    free(p);
}

static void prob_print(const prob_run_t *pr)
{
    printf("probability files used: %d\n", pr->files);
    for (int t = 0; t < pr->n_thr; t++) {
        printf("probability >= %g dBZ (base rate of the observations %.5f)\n",
               (double)pr->thr[t], pr->base_rate[t]);
        printf("lead_min          n        BS  BSS_clim   BSS_det  ROC_area\n");
        for (int k = 0; k < pr->n_leads; k++) {
            impa_prob_scores_t s = impa_prob_verify_scores(&pr->acc[t][k]);
            printf("%8d %10lld %9.6f %9.3f %9.3f %9.3f\n", (k + 1) * pr->step, (long long)s.n,
                   s.bs, s.bss_clim, s.bss_det, s.roc_area);
        }
        for (int k = 0; k < pr->n_leads; k++) {
            impa_prob_scores_t s = impa_prob_verify_scores(&pr->acc[t][k]);
            printf("reliability >= %g dBZ +%d min (bin: forecast mean / observed frequency / n):",
                   (double)pr->thr[t], (k + 1) * pr->step);
            for (int b = 0; b < IMPA_PROB_REL_BINS; b++)
                printf(" %.3f/%.3f/%lld", s.rel_mean[b], s.rel_freq[b], (long long)s.rel_n[b]);
            printf("\n");
        }
    }
}

/* Forecast archives against observations. */
static int run_archives(const char *fdir, const obs_set_t *obs, const float *th, int nth,
                        const char *filter, int persistence, prob_run_t *pr)
{
    char **names = NULL;
    int nf = list_dir(fdir, &names);
    if (nf < 0)
        return 1;
    char mnames[MAX_METHODS][64];
    impa_verify_table_t *tabs = calloc(MAX_METHODS + 1, sizeof(impa_verify_table_t));
    int64_t *pers_done = calloc((size_t)(nf > 0 ? nf : 1), sizeof(int64_t));
    int nm = 0, npers = 0, n_used = 0;
    impa_verify_table_t *pers = &tabs[MAX_METHODS];
    int pers_init = 0;
    char err[512];
    for (int i = 0; i < nf; i++) {
        impa_grid_t g;
        int64_t issue;
        int step, nl;
        float *dbz = NULL;
        char method[64];
        if (strlen(names[i]) < 3 || strcmp(names[i] + strlen(names[i]) - 3, ".nc") != 0)
            goto next;
        if (impa_archive_read(names[i], &g, &issue, &step, &nl, &dbz, method, sizeof method, err,
                              sizeof err) < 0) {
            fprintf(stderr, "impa-verify: skipped %s\n", err);
            goto next;
        }
        if (filter && strcmp(filter, method) != 0)
            goto next;
        if (g.ny != obs->ny || g.nx != obs->nx) {
            fprintf(stderr,
                    "impa-verify: %s: forecast grid %dx%d, observations %dx%d (use --domain)\n",
                    names[i], g.ny, g.nx, obs->ny, obs->nx);
            goto next;
        }
        if (nl > IMPA_VERIFY_MAX_LEADS)
            nl = IMPA_VERIFY_MAX_LEADS;
        int m;
        for (m = 0; m < nm; m++)
            if (!strcmp(mnames[m], method))
                break;
        if (m == nm) {
            if (nm == MAX_METHODS)
                goto next;
            snprintf(mnames[nm], sizeof mnames[nm], "%s", method);
            impa_verify_table_init(&tabs[nm], nl, step, th, nth);
            nm++;
        }
        if (tabs[m].step_minutes != step) {
            fprintf(stderr, "impa-verify: %s: step %d min differs from %d, skipped\n", names[i],
                    step, tabs[m].step_minutes);
            goto next;
        }
        size_t npix = (size_t)g.ny * (size_t)g.nx;
        for (int k = 0; k < nl && k < tabs[m].n_leads; k++) {
            const float *o = find_obs(obs, issue + (int64_t)(k + 1) * step * 60);
            if (o)
                impa_verify_table_add(&tabs[m], k, dbz + (size_t)k * npix, o, npix);
        }
        if (pr)
            prob_add_file(pr, names[i], obs, issue, step, dbz, nl);
        n_used++;
        if (persistence) {
            int seen = 0;
            for (int j = 0; j < npers; j++)
                seen |= pers_done[j] == issue;
            const float *p0 = find_obs(obs, issue);
            if (!seen && p0) {
                pers_done[npers++] = issue;
                if (!pers_init) {
                    impa_verify_table_init(pers, nl, step, th, nth);
                    pers_init = 1;
                }
                for (int k = 0; k < pers->n_leads; k++) {
                    const float *o = find_obs(obs, issue + (int64_t)(k + 1) * step * 60);
                    if (o)
                        impa_verify_table_add(pers, k, p0, o, npix);
                }
            }
        }
    next:
        free(dbz);
        free(names[i]);
    }
    free(names);
    printf("forecast files used: %d\n", n_used);
    for (int m = 0; m < nm; m++) {
        impa_verify_table_print(&tabs[m], mnames[m], stdout);
        print_summary(&tabs[m], mnames[m]);
    }
    if (pers_init) {
        impa_verify_table_print(pers, "persistence", stdout);
        print_summary(pers, "persistence");
    }
    if (pr)
        prob_print(pr);
    free(tabs);
    free(pers_done);
    return n_used > 0 ? 0 : 1;
}

/* Runs the extrapolation itself from the observations and scores it with persistence. */
static int run_extrap_vs_pers(const obs_set_t *obs, const float *th, int nth, int t_in,
                              int leads, int every, int64_t from, int64_t to, int threads)
{
    if (obs->n < t_in + 1) {
        fprintf(stderr, "impa-verify: %d observations, need more than %d\n", obs->n, t_in);
        return 1;
    }
    /* the step is the most common spacing between consecutive observations */
    int64_t step_s = 0;
    int best = 0;
    for (int i = 1; i < obs->n && i < 64; i++) {
        int64_t d = obs->o[i].time - obs->o[i - 1].time;
        int c = 0;
        for (int j = 1; j < obs->n && j < 64; j++)
            c += obs->o[j].time - obs->o[j - 1].time == d;
        if (c > best && d > 0) {
            best = c;
            step_s = d;
        }
    }
    if (step_s <= 0 || step_s % 60) {
        fprintf(stderr, "impa-verify: cannot infer a whole-minute step from the observations\n");
        return 1;
    }
    int step_min = (int)(step_s / 60);
    impa_verify_table_t te, tp;
    impa_verify_table_init(&te, leads, step_min, th, nth);
    impa_verify_table_init(&tp, leads, step_min, th, nth);
    impa_extrap_opts_t o = impa_extrap_opts_default();
    o.n_frames = t_in;
    o.threads = threads;
    impa_extrap_t *ex = NULL;
    char err[512];
    size_t npix = (size_t)obs->ny * (size_t)obs->nx;
    float *out = malloc(sizeof(float) * npix * (size_t)leads);
    if (!out || impa_extrap_create(obs->ny, obs->nx, leads, &o, &ex, err, sizeof err) < 0) {
        fprintf(stderr, "impa-verify: %s\n", out ? err : "out of memory");
        free(out);
        return 1;
    }
    int n_starts = 0;
    double t_motion = 0, t_adv = 0;
    int64_t t0 = obs->o[0].time;
    for (int i = t_in - 1; i < obs->n; i++) {
        int64_t ti = obs->o[i].time;
        if ((ti - t0) % (step_s * every) != 0 || ti < from || ti > to)
            continue;
        /* inputs must be consecutive steps, and every lead must be observed, so all
         * start times are scored on the same leads */
        const float *fr[16];
        int ok = 1;
        for (int k = 0; k < t_in && ok; k++) {
            fr[k] = find_obs(obs, ti - (int64_t)(t_in - 1 - k) * step_s);
            ok = fr[k] != NULL;
        }
        for (int k = 0; k < leads && ok; k++)
            ok = find_obs(obs, ti + (int64_t)(k + 1) * step_s) != NULL;
        if (!ok)
            continue;
        double a = impa_time_monotonic();
        if (impa_extrap_motion(ex, fr, t_in, err, sizeof err) < 0) {
            fprintf(stderr, "impa-verify: %s\n", err);
            break;
        }
        double b = impa_time_monotonic();
        impa_extrap_forecast(ex, fr[t_in - 1], leads, out, err, sizeof err);
        double c = impa_time_monotonic();
        t_motion += b - a;
        t_adv += c - b;
        for (int k = 0; k < leads; k++) {
            const float *ob = find_obs(obs, ti + (int64_t)(k + 1) * step_s);
            impa_verify_table_add(&te, k, out + (size_t)k * npix, ob, npix);
            impa_verify_table_add(&tp, k, fr[t_in - 1], ob, npix);
        }
        n_starts++;
    }
    char a[32], b[32];
    printf("observations: %d (%s .. %s), grid %dx%d, step %d min\n", obs->n,
           impa_time_iso(obs->o[0].time, a, sizeof a),
           impa_time_iso(obs->o[obs->n - 1].time, b, sizeof b), obs->ny, obs->nx, step_min);
    printf("start times scored: %d (every %d steps, %d input frames, %d leads); mean motion "
           "%.3f s, advection %.3f s per start\n",
           n_starts, every, t_in, leads, n_starts ? t_motion / n_starts : 0.0,
           n_starts ? t_adv / n_starts : 0.0);
    impa_verify_table_print(&te, "extrapolation", stdout);
    print_summary(&te, "extrapolation");
    impa_verify_table_print(&tp, "persistence", stdout);
    print_summary(&tp, "persistence");
    impa_extrap_destroy(&ex);
    free(out);
    return n_starts > 0 ? 0 : 1;
}

/* Cycles each track id is alerted in (ids grow from 1). */
typedef struct {
    int *cycles;
    int64_t cap;
} churn_t;

static int churn_count(churn_t *ch, const impa_alerts_t *a)
{
    for (int i = 0; i < a->n_cells; i++) {
        int64_t id = a->cells[i].id;
        int first = 1;
        for (int k = 0; k < i && first; k++)
            first = a->cells[k].id != id;
        if (!first)
            continue;
        if (id >= ch->cap) {
            int64_t cap = ch->cap ? ch->cap : 1024;
            while (cap <= id)
                cap *= 2;
            int *nc = realloc(ch->cycles, (size_t)cap * sizeof *nc);
            if (!nc)
                return -1;
            memset(nc + ch->cap, 0, (size_t)(cap - ch->cap) * sizeof *nc);
            ch->cycles = nc, ch->cap = cap;
        }
        ch->cycles[id]++;
    }
    return 0;
}

/* Alerts of the forecast archives (through the alert tracker, in issue order)
 * against the observed cells; track churn. */
static int run_alerts(const char *fdir, const obs_set_t *obs, const impa_alert_config_t *acfg)
{
    char **names = NULL;
    int nf = list_dir(fdir, &names);
    if (nf < 0)
        return 1;
    impa_alert_tracker_t *tr = NULL;
    impa_alert_verifier_t *av = NULL;
    churn_t ch = {NULL, 0};
    char err[512];
    int rc = 1, n_cycles = 0, oi = 0, step0 = 0, nl0 = 0;
    int64_t last_issue = 0, n_ended = 0;
    impa_grid_t g0;
    if (impa_alert_tracker_create(acfg, &tr, err, sizeof err)) {
        fprintf(stderr, "impa-verify: %s\n", err);
        goto done;
    }
    for (int i = 0; i < nf; i++) {
        impa_grid_t g;
        int64_t issue;
        int step, nl;
        float *dbz = NULL;
        char method[64];
        size_t len = strlen(names[i]);
        if (len < 3 || strcmp(names[i] + len - 3, ".nc") != 0)
            continue;
        if (impa_archive_read(names[i], &g, &issue, &step, &nl, &dbz, method, sizeof method, err,
                              sizeof err) < 0) {
            fprintf(stderr, "impa-verify: skipped %s\n", err);
            continue;
        }
        if (g.ny != obs->ny || g.nx != obs->nx || (n_cycles && (step != step0 || nl != nl0)) ||
            (n_cycles && issue <= last_issue)) {
            fprintf(stderr, "impa-verify: %s: grid %dx%d, step %d, %d leads: does not fit the "
                            "observations (%dx%d) or the earlier archives, skipped\n",
                    names[i], g.ny, g.nx, step, nl, obs->ny, obs->nx);
            free(dbz);
            continue;
        }
        if (!n_cycles) {
            step0 = step, nl0 = nl, g0 = g;
            if (impa_alert_verifier_create(nl, step, acfg, &av, err, sizeof err)) {
                fprintf(stderr, "impa-verify: %s\n", err);
                free(dbz);
                goto done;
            }
        }
        /* observations the kept cycles forecast, before this cycle joins them */
        for (; oi < obs->n && obs->o[oi].time <= issue; oi++)
            if (n_cycles && impa_alert_verifier_observe(av, &g0, obs->o[oi].time, obs->o[oi].dbz,
                                                        NULL, err, sizeof err)) {
                fprintf(stderr, "impa-verify: %s\n", err);
                free(dbz);
                goto done;
            }
        impa_forecast_t fc;
        memset(&fc, 0, sizeof fc);
        fc.grid = &g, fc.dbz = dbz, fc.n_leads = nl, fc.step_minutes = step;
        fc.issue_time = issue, fc.domain = "verify";
        int e = impa_alert_tracker_update(tr, &fc, err, sizeof err);
        free(dbz);
        const impa_alerts_t *a = impa_alert_tracker_alerts(tr);
        if (e || churn_count(&ch, a) ||
            impa_alert_verifier_add_cycle(av, issue, nl, a, err, sizeof err)) {
            fprintf(stderr, "impa-verify: %s: %s\n", names[i], e ? err : "out of memory");
            goto done;
        }
        n_ended += a->n_ended;
        last_issue = issue;
        n_cycles++;
    }
    for (; n_cycles && oi < obs->n && obs->o[oi].time <= last_issue + (int64_t)nl0 * step0 * 60;
         oi++)
        if (obs->o[oi].time > last_issue &&
            impa_alert_verifier_observe(av, &g0, obs->o[oi].time, obs->o[oi].dbz, NULL, err,
                                        sizeof err)) {
            fprintf(stderr, "impa-verify: %s\n", err);
            goto done;
        }
    long n_tracks = 0, n_one = 0;
    for (int64_t id = 0; id < ch.cap; id++)
        if (ch.cycles[id]) {
            n_tracks++;
            n_one += ch.cycles[id] == 1;
        }
    printf("alert cycles: %d; tracks alerted: %ld, in one cycle only: %ld (%.1f %%); ended: "
           "%lld\n",
           n_cycles, n_tracks, n_one, n_tracks ? 100.0 * (double)n_one / (double)n_tracks : 0.0,
           (long long)n_ended);
    if (n_cycles) {
        char title[160];
        snprintf(title, sizeof title,
                 "alerts against observed cells (>= %g dBZ, >= %g km2), object-based",
                 (double)acfg->threshold_dbz, (double)acfg->min_area_km2);
        impa_alert_table_print(impa_alert_verifier_table(av), title, stdout);
        rc = 0;
    }
done:
    for (int i = 0; i < nf; i++)
        free(names[i]);
    free(names);
    free(ch.cycles);
    impa_alert_tracker_destroy(&tr);
    impa_alert_verifier_destroy(&av);
    return rc;
}

int main(int argc, char **argv)
{
    const char *fdir = NULL, *odir = NULL, *filter = NULL;
    int persistence = 0, probability = 0, evp = 0, alerts = 0, t_in = 3, leads = 12, every = 1, threads = 2;
    float th[IMPA_VERIFY_MAX_THRESH] = {20, 35, 45};
    int nth = 3;
    impa_domain_t dom = {0, 0, 0, 0, 1, 1};
    impa_reader_opts_t ro = impa_reader_opts_default();
    int64_t from = INT64_MIN, to = INT64_MAX;
    impa_alert_config_t acfg;
    impa_alert_config_default(&acfg);
    double athr = acfg.threshold_dbz, aarea = acfg.min_area_km2, carea = acfg.confirm_area_km2,
           cdbz = acfg.confirm_dbz;
    enum { O_FC = 256, O_OBS, O_FILTER, O_PERS, O_EVP, O_TIN, O_LEADS, O_EVERY, O_THREADS, O_ACCUM,
           O_VAR, O_FROM, O_TO, O_THRESH, O_DOMAIN, O_ALERTS, O_ATHR, O_AAREA, O_CMIN, O_CAGE, O_CAREA, O_CDBZ, O_CANCEL, O_CLUSTER, O_PROB };
    static const struct option longopts[] = {
        {"forecasts", required_argument, NULL, O_FC},
        {"observations", required_argument, NULL, O_OBS},
        {"method-filter", required_argument, NULL, O_FILTER},
        {"persistence", no_argument, NULL, O_PERS},
        {"probability", no_argument, NULL, O_PROB},
        {"extrapolation-vs-persistence", no_argument, NULL, O_EVP},
        {"t-in", required_argument, NULL, O_TIN},
        {"leads", required_argument, NULL, O_LEADS},
        {"every", required_argument, NULL, O_EVERY},
        {"threads", required_argument, NULL, O_THREADS},
        {"accum-period", required_argument, NULL, O_ACCUM},
        {"variable", required_argument, NULL, O_VAR},
        {"from", required_argument, NULL, O_FROM},
        {"to", required_argument, NULL, O_TO},
        {"thresholds", required_argument, NULL, O_THRESH},
        {"domain", required_argument, NULL, O_DOMAIN},
        {"alerts", no_argument, NULL, O_ALERTS},
        {"alert-threshold", required_argument, NULL, O_ATHR},
        {"alert-min-area", required_argument, NULL, O_AAREA},
        {"alert-confirm-minutes", required_argument, NULL, O_CMIN},
        {"alert-confirm-age-minutes", required_argument, NULL, O_CAGE},
        {"alert-confirm-area", required_argument, NULL, O_CAREA},
        {"alert-confirm-dbz", required_argument, NULL, O_CDBZ},
        {"alert-cancel-after-minutes", required_argument, NULL, O_CANCEL},
        {"alert-cluster-km", required_argument, NULL, O_CLUSTER},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, IMPA_CLI_VERSION},
        {NULL, 0, NULL, 0}};
    static const char *prog = "impa-verify";
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_FC: fdir = optarg; break;
        case O_OBS: odir = optarg; break;
        case O_FILTER: filter = optarg; break;
        case O_PERS: persistence = 1; break;
        case O_PROB: probability = 1; break;
        case O_EVP: evp = 1; break;
        case O_TIN:
            if (impa_cli_int(prog, "--t-in", optarg, 2, 16, &t_in))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case O_LEADS:
            if (impa_cli_int(prog, "--leads", optarg, 1, IMPA_VERIFY_MAX_LEADS, &leads))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case O_EVERY:
            if (impa_cli_int(prog, "--every", optarg, 1, 100000, &every))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case O_THREADS:
            if (impa_cli_int(prog, "--threads", optarg, 0, 1024, &threads))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case O_ACCUM:
            if (impa_cli_double(prog, "--accum-period", optarg, 0, 1e7, &ro.accum_period_s))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case O_VAR: ro.variable = optarg; break;
        case O_FROM:
        case O_TO:
            if (impa_time_parse_iso(optarg, c == O_FROM ? &from : &to) < 0)
                return impa_cli_usage_error(prog, "%s: cannot parse time '%s'", c == O_FROM ? "--from" : "--to",
                                            optarg);
            break;
        case O_THRESH:
            nth = parse_thresholds(optarg, th);
            if (nth < 1)
                return impa_cli_usage_error(prog, "bad --thresholds '%s'", optarg);
            break;
        case O_DOMAIN:
            if (sscanf(optarg, "%d,%d,%d,%d,%d", &dom.x_offset, &dom.y_offset, &dom.nx, &dom.ny, &dom.block) != 5)
                return impa_cli_usage_error(prog, "--domain wants XOFF,YOFF,NX,NY,BLOCK");
            break;
        case O_ALERTS: alerts = 1; break;
        case O_ATHR:
            if (impa_cli_double(prog, "--alert-threshold", optarg, 0, 80, &athr))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case O_AAREA:
            if (impa_cli_double(prog, "--alert-min-area", optarg, 0, 1e6, &aarea))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case O_CMIN:
            if (impa_cli_int(prog, "--alert-confirm-minutes", optarg, 0, 1440, &acfg.confirm_minutes))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case O_CAGE:
            if (impa_cli_int(prog, "--alert-confirm-age-minutes", optarg, 0, 1440,
                             &acfg.confirm_age_minutes))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case O_CANCEL:
            if (impa_cli_int(prog, "--alert-cancel-after-minutes", optarg, 0, 1440,
                             &acfg.cancel_after_minutes))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case O_CAREA:
            if (impa_cli_double(prog, "--alert-confirm-area", optarg, 0, 1e6, &carea))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case O_CLUSTER:
            if (impa_cli_double(prog, "--alert-cluster-km", optarg, 0, 100, &acfg.cluster_km))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case O_CDBZ:
            if (impa_cli_double(prog, "--alert-confirm-dbz", optarg, 0, 100, &cdbz))
                return IMPA_CLI_USAGE_EXIT;
            break;
        default: return impa_cli_default(c, prog, usage);
        }
    }
    if (impa_cli_no_operands(prog, argc, argv))
        return IMPA_CLI_USAGE_EXIT;
    if (!odir || (!evp && !fdir))
        return impa_cli_usage_error(prog, "--observations and --forecasts (or "
                                          "--extrapolation-vs-persistence) are required");
    obs_set_t obs = {0, NULL, 0, 0};
    int n = load_observations(odir, &ro, &dom, &obs);
    if (n <= 0) {
        fprintf(stderr, "impa-verify: no readable observations in %s\n", odir);
        free(obs.o);
        return 1;
    }
    acfg.threshold_dbz = (float)athr;
    acfg.min_area_km2 = (float)aarea;
    acfg.confirm_area_km2 = (float)carea;
    acfg.confirm_dbz = (float)cdbz;
    prob_run_t *pr = probability ? calloc(1, sizeof *pr) : NULL; /* 200 KB */
    int rc = evp      ? run_extrap_vs_pers(&obs, th, nth, t_in, leads, every, from, to, threads)
             : alerts ? run_alerts(fdir, &obs, &acfg)
                      : run_archives(fdir, &obs, th, nth, filter, persistence,
                                     pr);
    free(pr);
    for (int i = 0; i < obs.n; i++)
        free(obs.o[i].dbz);
    free(obs.o);
    return rc;
}
