/* Online verifier: the daemon hands it every forecast it issues and every
 * observation it receives; each observation is scored against the forecasts
 * valid at its time. Everything is sized at create; observe() allocates nothing.
 * The CSV log is the only persistent state: aggregates are rebuilt from it at
 * create, so a restart loses only the forecasts in flight.
 *
 * The rings keep each pixel as its threshold level (how many of the configured
 * thresholds it reaches, LEVEL_MISSING for no data), one byte instead of a
 * float: the scores only ever ask `value >= threshold`, which the level answers
 * exactly, and the rings are the daemon's largest buffers (n_leads^2 frames per
 * method). */
#include "impa/verify.h"
#include "impa/timeutil.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define N_METHODS IMPA_VERIFIER_N_METHODS
#define N_BUCKETS 25 /* hourly buckets: the last 24 h plus the current hour */
#define N_LEVELS (IMPA_VERIFY_MAX_THRESH + 1)
#define LEVEL_MISSING UINT8_MAX
#define LOG_NAME "verification.csv"
#define LOG_HEADER "obs_time_utc,obs_time,method,issue_time,lead_min,threshold," \
                   "hits,misses,false_alarms,correct_negatives"

struct impa_verifier {
    int ny, nx, n_leads, step_min, n_thresh;
    size_t npix;
    float thresholds[IMPA_VERIFY_MAX_THRESH]; /* in the caller's order (log, JSON) */
    float sorted[IMPA_VERIFY_MAX_THRESH];     /* ascending, for the levels */
    /* thresholds[i] is reached by the levels above below[i] (thresholds strictly lower) */
    int below[IMPA_VERIFY_MAX_THRESH];
    /* forecast rings of levels, per method except persistence:
     * fc[m] [n_leads slots][n_leads][ny][nx] */
    uint8_t *fc[N_METHODS];
    int64_t fc_time[N_METHODS][IMPA_VERIFY_MAX_LEADS];
    int fc_used[N_METHODS][IMPA_VERIFY_MAX_LEADS];
    int fc_next[N_METHODS];
    /* observation ring of levels for persistence: obs [n_leads slots][ny][nx] */
    uint8_t *obs;
    uint8_t *obs_now; /* levels of the observation being scored [ny][nx] */
    int64_t obs_time[IMPA_VERIFY_MAX_LEADS];
    int obs_used[IMPA_VERIFY_MAX_LEADS];
    int obs_next;
    int64_t last_scored; /* newest observation time scored (log included); INT64_MIN = none */
    impa_verify_table_t total[N_METHODS];
    impa_verify_table_t *bucket;          /* [N_BUCKETS][N_METHODS] */
    int64_t bucket_hour[N_BUCKETS];       /* hour index (t / 3600) held, INT64_MIN = empty */
    FILE *log;
};

static int64_t floor_hour(int64_t t)
{
    return t >= 0 ? t / 3600 : -((-t + 3599) / 3600);
}

static impa_verify_table_t *bucket_for(impa_verifier_t *v, int64_t t)
{
    int64_t h = floor_hour(t);
    int slot = (int)(((h % N_BUCKETS) + N_BUCKETS) % N_BUCKETS);
    if (v->bucket_hour[slot] != h) {
        for (int m = 0; m < N_METHODS; m++)
            impa_verify_table_init(&v->bucket[slot * N_METHODS + m], v->n_leads, v->step_min,
                                   v->thresholds, v->n_thresh);
        v->bucket_hour[slot] = h;
    }
    return &v->bucket[slot * N_METHODS];
}

static int method_from_name(const char *s)
{
    for (int m = 0; m < N_METHODS; m++)
        if (strcmp(s, impa_method_name((impa_method_t)m)) == 0)
            return m;
    return -1;
}

static int thresh_index(const impa_verifier_t *v, double t)
{
    for (int i = 0; i < v->n_thresh; i++)
        if (fabs(t - v->thresholds[i]) < 1e-3)
            return i;
    return -1;
}

/* Threshold level of each value: the number of thresholds it reaches. */
static void to_levels(const impa_verifier_t *v, const float *x, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float a = x[i];
        if (isnan(a)) {
            out[i] = LEVEL_MISSING;
            continue;
        }
        uint8_t k = 0;
        while (k < v->n_thresh && a >= v->sorted[k])
            k++;
        out[i] = k;
    }
}

/* Contingency counts at every threshold from one pass over a level pair: the
 * joint histogram of (forecast level, observed level) over pixels with data in
 * both. An event at thresholds[i] is a level above below[i], so
 * value >= threshold is decided exactly as impa_contingency_add does on floats. */
static void level_contingency(const impa_verifier_t *v, const uint8_t *fc, const uint8_t *obs,
                              impa_contingency_t *c /* [n_thresh] */)
{
    int64_t joint[N_LEVELS][N_LEVELS] = {{0}};
    for (size_t p = 0; p < v->npix; p++)
        if (fc[p] != LEVEL_MISSING && obs[p] != LEVEL_MISSING)
            joint[fc[p]][obs[p]]++;
    for (int i = 0; i < v->n_thresh; i++) {
        impa_contingency_t t = {0, 0, 0, 0};
        for (int a = 0; a <= v->n_thresh; a++)
            for (int b = 0; b <= v->n_thresh; b++) {
                int ef = a > v->below[i], eo = b > v->below[i];
                int64_t k = joint[a][b];
                if (ef && eo)
                    t.hits += k;
                else if (eo)
                    t.misses += k;
                else if (ef)
                    t.false_alarms += k;
                else
                    t.correct_negatives += k;
            }
        c[i] = t;
    }
}

/* Adds one row's counts to the since-start table and to its hourly bucket. The
 * pair count is bumped once per (method, lead), on the first threshold's row. */
static void account(impa_verifier_t *v, int m, int64_t obs_time, int lead, int ti,
                    const impa_contingency_t *c)
{
    impa_verify_table_t *tabs[2] = {&v->total[m], &bucket_for(v, obs_time)[m]};
    for (int k = 0; k < 2; k++) {
        impa_contingency_t *d = &tabs[k]->table[lead][ti];
        d->hits += c->hits;
        d->misses += c->misses;
        d->false_alarms += c->false_alarms;
        d->correct_negatives += c->correct_negatives;
        if (ti == 0)
            tabs[k]->n_pairs[lead]++;
    }
}

/* Rebuilds the aggregates from an existing log. Rows with a threshold or lead the
 * current configuration does not have are skipped (the configuration changed). */
static int replay_log(impa_verifier_t *v, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? IMPA_OK : impa_err(err, errlen, IMPA_EIO, "%s: %s", path,
                                                     strerror(errno));
    char line[512];
    int rc = IMPA_OK;
    long lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (lineno == 1) {
            if (strncmp(line, LOG_HEADER, strlen(LOG_HEADER)) != 0) {
                rc = impa_err(err, errlen, IMPA_EFORMAT,
                              "%s: line 1 is not the verification log header", path);
                break;
            }
            continue;
        }
        char iso[32], method[32];
        long long ot, it;
        int lead_min;
        double thr;
        long long h, mi, fa, cn;
        if (sscanf(line, "%31[^,],%lld,%31[^,],%lld,%d,%lf,%lld,%lld,%lld,%lld", iso, &ot,
                   method, &it, &lead_min, &thr, &h, &mi, &fa, &cn) != 10)
            continue; /* a row cut by a crash: the rest of the log is still good */
        int m = method_from_name(method);
        int ti = thresh_index(v, thr);
        if (m < 0 || ti < 0 || lead_min % v->step_min != 0)
            continue;
        int lead = lead_min / v->step_min - 1;
        if (lead < 0 || lead >= v->n_leads)
            continue;
        impa_contingency_t c = {h, mi, fa, cn};
        account(v, m, (int64_t)ot, lead, ti, &c);
        if ((int64_t)ot > v->last_scored)
            v->last_scored = (int64_t)ot;
    }
    fclose(f);
    return rc;
}

int impa_verifier_create(int ny, int nx, int n_leads, int step_minutes, const float *thresholds,
                         int n_thresh, const char *state_dir, impa_verifier_t **out, char *err,
                         size_t errlen)
{
    if (!out)
        return impa_err(err, errlen, IMPA_EINVAL, "verifier: out is NULL");
    *out = NULL;
    if (ny < 1 || nx < 1 || n_leads < 1 || n_leads > IMPA_VERIFY_MAX_LEADS || step_minutes < 1 ||
        !thresholds || n_thresh < 1 || n_thresh > IMPA_VERIFY_MAX_THRESH)
        return impa_err(err, errlen, IMPA_EINVAL,
                        "verifier: bad sizes (grid %dx%d, %d leads (max %d), step %d min, "
                        "%d thresholds (max %d))",
                        ny, nx, n_leads, IMPA_VERIFY_MAX_LEADS, step_minutes, n_thresh,
                        IMPA_VERIFY_MAX_THRESH);
    impa_verifier_t *v = calloc(1, sizeof(*v));
    if (!v)
        return impa_err(err, errlen, IMPA_ENOMEM, "verifier: out of memory");
    v->ny = ny;
    v->nx = nx;
    v->n_leads = n_leads;
    v->step_min = step_minutes;
    v->n_thresh = n_thresh;
    v->npix = (size_t)ny * (size_t)nx;
    memcpy(v->thresholds, thresholds, sizeof(float) * (size_t)n_thresh);
    for (int i = 0; i < n_thresh; i++) {
        if (!isfinite(thresholds[i])) {
            free(v);
            return impa_err(err, errlen, IMPA_EINVAL, "verifier: threshold %d is not finite",
                            i + 1);
        }
        /* insertion sort: at most IMPA_VERIFY_MAX_THRESH values */
        int k = i;
        while (k > 0 && v->sorted[k - 1] > thresholds[i]) {
            v->sorted[k] = v->sorted[k - 1];
            k--;
        }
        v->sorted[k] = thresholds[i];
    }
    for (int i = 0; i < n_thresh; i++)
        for (int k = 0; k < n_thresh; k++)
            v->below[i] += v->sorted[k] < thresholds[i];
    v->last_scored = INT64_MIN;
    int rc = IMPA_OK;
    size_t ring = (size_t)n_leads * (size_t)n_leads * v->npix;
    for (int m = 0; m < N_METHODS; m++) {
        impa_verify_table_init(&v->total[m], n_leads, step_minutes, thresholds, n_thresh);
        if (m == IMPA_METHOD_PERSISTENCE)
            continue;
        v->fc[m] = malloc(ring);
        if (!v->fc[m]) {
            rc = impa_err(err, errlen, IMPA_ENOMEM,
                          "verifier: cannot allocate %zu MB for the %s forecast ring",
                          ring >> 20, impa_method_name((impa_method_t)m));
            goto fail;
        }
    }
    v->obs = malloc((size_t)n_leads * v->npix);
    v->obs_now = malloc(v->npix);
    v->bucket = malloc(sizeof(impa_verify_table_t) * N_BUCKETS * N_METHODS);
    if (!v->obs || !v->obs_now || !v->bucket) {
        rc = impa_err(err, errlen, IMPA_ENOMEM, "verifier: out of memory");
        goto fail;
    }
    for (int b = 0; b < N_BUCKETS; b++)
        v->bucket_hour[b] = INT64_MIN;
    if (state_dir && *state_dir) {
        char path[PATH_MAX];
        if (mkdir(state_dir, 0755) != 0 && errno != EEXIST) {
            rc = impa_err(err, errlen, IMPA_EIO, "verifier: cannot create %s: %s", state_dir,
                          strerror(errno));
            goto fail;
        }
        if (snprintf(path, sizeof path, "%s/%s", state_dir, LOG_NAME) >= (int)sizeof path) {
            rc = impa_err(err, errlen, IMPA_EINVAL, "verifier: state_dir path too long");
            goto fail;
        }
        rc = replay_log(v, path, err, errlen);
        if (rc < 0)
            goto fail;
        v->log = fopen(path, "a");
        if (!v->log) {
            rc = impa_err(err, errlen, IMPA_EIO, "verifier: cannot append to %s: %s", path,
                          strerror(errno));
            goto fail;
        }
        if (ftell(v->log) == 0) {
            fprintf(v->log, "%s\n", LOG_HEADER);
            fflush(v->log);
        }
    }
    *out = v;
    return IMPA_OK;
fail:
    impa_verifier_destroy(&v);
    return rc;
}

void impa_verifier_destroy(impa_verifier_t **vp)
{
    if (!vp || !*vp)
        return;
    impa_verifier_t *v = *vp;
    for (int m = 0; m < N_METHODS; m++)
        free(v->fc[m]);
    free(v->obs);
    free(v->obs_now);
    free(v->bucket);
    if (v->log)
        fclose(v->log);
    free(v);
    *vp = NULL;
}

int impa_verifier_add_forecast(impa_verifier_t *v, impa_method_t m, int64_t issue_time,
                               const float *dbz, char *err, size_t errlen)
{
    if (!v || !dbz || (int)m < 0 || (int)m >= N_METHODS || !v->fc[m])
        return impa_err(err, errlen, IMPA_EINVAL,
                        "verifier: bad forecast (method %d; persistence is derived, not added)",
                        (int)m);
    int slot = v->fc_next[m];
    /* the same issue time again (a re-run) replaces the earlier copy */
    for (int s = 0; s < v->n_leads; s++)
        if (v->fc_used[m][s] && v->fc_time[m][s] == issue_time)
            slot = s;
    size_t cycle = (size_t)v->n_leads * v->npix;
    to_levels(v, dbz, v->fc[m] + (size_t)slot * cycle, cycle);
    v->fc_time[m][slot] = issue_time;
    v->fc_used[m][slot] = 1;
    if (slot == v->fc_next[m])
        v->fc_next[m] = (slot + 1) % v->n_leads;
    return IMPA_OK;
}

/* Bounded JSON writer: once the buffer is full, later writes are dropped. */
typedef struct {
    char *buf;
    size_t len, pos;
} jbuf_t;

IMPA_PRINTF(2, 3) static void jput(jbuf_t *j, const char *fmt, ...)
{
    if (!j->buf || j->pos >= j->len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(j->buf + j->pos, j->len - j->pos, fmt, ap);
    va_end(ap);
    if (n > 0)
        j->pos += (size_t)n;
}

static void jnum(jbuf_t *j, double x)
{
    if (isnan(x))
        jput(j, "null");
    else
        jput(j, "%.4f", x);
}

static void json_window(jbuf_t *j, impa_verifier_t *v, int window)
{
    jput(j, "{");
    for (int m = 0; m < N_METHODS; m++) {
        impa_verify_table_t t;
        impa_verifier_table(v, (impa_method_t)m, window, &t);
        int64_t pairs = 0;
        for (int l = 0; l < t.n_leads; l++)
            pairs += t.n_pairs[l];
        jput(j, "%s\"%s\":{\"pairs\":%" PRId64 ",\"hss_mean\":[", m ? "," : "",
             impa_method_name((impa_method_t)m), pairs);
        for (int i = 0; i < v->n_thresh; i++) {
            jput(j, i ? "," : "");
            jnum(j, impa_verify_table_mean(&t, i, 3));
        }
        jput(j, "],\"csi_mean\":[");
        for (int i = 0; i < v->n_thresh; i++) {
            jput(j, i ? "," : "");
            jnum(j, impa_verify_table_mean(&t, i, 0));
        }
        jput(j, "]}");
    }
    jput(j, "}");
}

/* Scores one forecast field (levels) against the observation's levels at every
 * threshold, logs and accounts it. */
static void score_one(impa_verifier_t *v, jbuf_t *j, int *n_scored, int m, int64_t obs_time,
                      int64_t issue, int lead, const uint8_t *fc, const char *obs_iso)
{
    char iso[32];
    impa_contingency_t counts[IMPA_VERIFY_MAX_THRESH];
    level_contingency(v, fc, v->obs_now, counts);
    jput(j, "%s{\"method\":\"%s\",\"issue_time\":\"%s\",\"lead_min\":%d,\"scores\":[",
         *n_scored ? "," : "", impa_method_name((impa_method_t)m),
         impa_time_iso(issue, iso, sizeof iso), (lead + 1) * v->step_min);
    for (int ti = 0; ti < v->n_thresh; ti++) {
        const impa_contingency_t c = counts[ti];
        account(v, m, obs_time, lead, ti, &c);
        if (v->log)
            fprintf(v->log, "%s,%" PRId64 ",%s,%" PRId64 ",%d,%g,%" PRId64 ",%" PRId64
                            ",%" PRId64 ",%" PRId64 "\n",
                    obs_iso, obs_time, impa_method_name((impa_method_t)m), issue,
                    (lead + 1) * v->step_min, (double)v->thresholds[ti], c.hits, c.misses,
                    c.false_alarms, c.correct_negatives);
        impa_scores_t s = impa_contingency_scores(&c);
        jput(j, "%s{\"threshold\":%g,\"csi\":", ti ? "," : "", (double)v->thresholds[ti]);
        jnum(j, s.csi);
        jput(j, ",\"pod\":");
        jnum(j, s.pod);
        jput(j, ",\"far\":");
        jnum(j, s.far);
        jput(j, ",\"hss\":");
        jnum(j, s.hss);
        jput(j, "}");
    }
    jput(j, "]}");
    (*n_scored)++;
}

int impa_verifier_observe(impa_verifier_t *v, int64_t obs_time, const float *obs, char *json,
                          size_t jsonlen, char *err, size_t errlen)
{
    if (!v || !obs)
        return impa_err(err, errlen, IMPA_EINVAL, "verifier: NULL observation");
    jbuf_t j = {json, jsonlen, 0};
    if (json && jsonlen)
        json[0] = '\0';
    char obs_iso[32];
    impa_time_iso(obs_time, obs_iso, sizeof obs_iso);
    int n_scored = 0;
    const int64_t step_s = (int64_t)v->step_min * 60;
    /* An observation not newer than the last one scored (a replay after a restart)
     * is kept for persistence but not scored again: the log already holds it. */
    int score = obs_time > v->last_scored;
    to_levels(v, obs, v->obs_now, v->npix);
    jput(&j, "{\"obs_time\":\"%s\",\"step_minutes\":%d,\"scored_now\":%s,\"thresholds\":[",
         obs_iso, v->step_min, score ? "true" : "false");
    for (int i = 0; i < v->n_thresh; i++)
        jput(&j, "%s%g", i ? "," : "", (double)v->thresholds[i]);
    jput(&j, "],\"pairs\":[");
    if (score) {
        for (int m = 0; m < N_METHODS; m++) {
            if (!v->fc[m])
                continue;
            for (int s = 0; s < v->n_leads; s++) {
                int64_t dt = obs_time - v->fc_time[m][s];
                if (!v->fc_used[m][s] || dt <= 0 || dt % step_s)
                    continue;
                int lead = (int)(dt / step_s) - 1;
                if (lead >= v->n_leads)
                    continue;
                const uint8_t *fc =
                    v->fc[m] + ((size_t)s * v->n_leads + (size_t)lead) * v->npix;
                score_one(v, &j, &n_scored, m, obs_time, v->fc_time[m][s], lead, fc, obs_iso);
            }
        }
        for (int s = 0; s < v->n_leads; s++) {
            int64_t dt = obs_time - v->obs_time[s];
            if (!v->obs_used[s] || dt <= 0 || dt % step_s)
                continue;
            int lead = (int)(dt / step_s) - 1;
            if (lead >= v->n_leads)
                continue;
            score_one(v, &j, &n_scored, IMPA_METHOD_PERSISTENCE, obs_time, v->obs_time[s], lead,
                      v->obs + (size_t)s * v->npix, obs_iso);
        }
        v->last_scored = obs_time;
        if (v->log)
            fflush(v->log);
    }
    jput(&j, "],\"last_24h\":");
    json_window(&j, v, 1);
    jput(&j, ",\"since_start\":");
    json_window(&j, v, 0);
    jput(&j, "}");
    if (json && jsonlen && j.pos >= jsonlen) /* cut JSON is useless: say so instead */
        snprintf(json, jsonlen, "%s", jsonlen > 18 ? "{\"truncated\":true}" : "");

    /* keep obs for persistence unless an equal or newer one is already kept */
    int newest = 1, slot = v->obs_next;
    for (int s = 0; s < v->n_leads; s++)
        if (v->obs_used[s] && v->obs_time[s] >= obs_time)
            newest = 0;
    if (newest) {
        memcpy(v->obs + (size_t)slot * v->npix, v->obs_now, v->npix);
        v->obs_time[slot] = obs_time;
        v->obs_used[slot] = 1;
        v->obs_next = (slot + 1) % v->n_leads;
    }
    if (v->log && ferror(v->log))
        return impa_err(err, errlen, IMPA_EIO, "verifier: writing %s failed", LOG_NAME);
    return n_scored;
}

int impa_verifier_table(const impa_verifier_t *v, impa_method_t m, int window,
                        impa_verify_table_t *out)
{
    if (!v || !out || (int)m < 0 || (int)m >= N_METHODS)
        return IMPA_EINVAL;
    if (window == 0) {
        *out = v->total[m];
        return IMPA_OK;
    }
    impa_verify_table_init(out, v->n_leads, v->step_min, v->thresholds, v->n_thresh);
    if (v->last_scored == INT64_MIN)
        return IMPA_OK;
    int64_t cur = floor_hour(v->last_scored);
    for (int b = 0; b < N_BUCKETS; b++) {
        if (v->bucket_hour[b] == INT64_MIN || v->bucket_hour[b] <= cur - N_BUCKETS ||
            v->bucket_hour[b] > cur)
            continue;
        const impa_verify_table_t *t = &v->bucket[b * N_METHODS + m];
        for (int l = 0; l < v->n_leads; l++) {
            out->n_pairs[l] += t->n_pairs[l];
            for (int i = 0; i < v->n_thresh; i++) {
                out->table[l][i].hits += t->table[l][i].hits;
                out->table[l][i].misses += t->table[l][i].misses;
                out->table[l][i].false_alarms += t->table[l][i].false_alarms;
                out->table[l][i].correct_negatives += t->table[l][i].correct_negatives;
            }
        }
    }
    return IMPA_OK;
}
