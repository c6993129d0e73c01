/* The online verifier's CSV log: the only persistent state of verification.
 *
 * <state_dir>/verification.csv holds one row per (observation, method, lead,
 * threshold) scored, for one calendar month (UTC) of observation times. When an
 * observation of a new month is scored, the verifier
 *   1. writes the since-start totals (everything logged so far) to
 *      verification-totals.csv (temp file, fsync, rename, directory fsync),
 *      stamped with the newest observation time they include (upto);
 *   2. renames verification.csv to verification-YYYY-MM.csv;
 *   3. starts a new verification.csv.
 * At create it reads the totals, then the newest monthly file (only to refill
 * the last-24-h buckets), then verification.csv, whose rows newer than upto are
 * added to the totals too. A restart so reads at most about two months of rows
 * instead of the whole history, and the totals stay exact: a crash between any
 * two steps leaves either rows <= upto in verification.csv (not counted twice,
 * thanks to the stamp) or no verification.csv (a new one is started). */
#include "verifier-impl.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "impa/durable.h"
#include "impa/timeutil.h"

#define LOG_NAME "verification.csv"
#define TOTALS_NAME "verification-totals.csv"
#define LOG_HEADER "obs_time_utc,obs_time,method,issue_time,lead_min,threshold," \
                   "hits,misses,false_alarms,correct_negatives"
#define TOTALS_HEADER "upto_obs_time,method,lead_min,threshold,pairs," \
                      "hits,misses,false_alarms,correct_negatives"

static int month_of(int64_t t)
{
    char iso[32];
    impa_time_iso(t, iso, sizeof iso);
    int y = 0, mo = 0;
    if (sscanf(iso, "%d-%d", &y, &mo) != 2)
        return -1;
    return y * 12 + mo - 1;
}

static int path_in(const impa_verifier_t *v, const char *name, char *out, size_t len)
{
    size_t nd = strlen(v->state_dir), nn = strlen(name);
    if (nd + 1 + nn + 1 > len)
        return IMPA_EINVAL;
    memcpy(out, v->state_dir, nd);
    out[nd] = '/';
    memcpy(out + nd + 1, name, nn + 1);
    return IMPA_OK;
}

/* verification-YYYY-MM.csv of a month key. */
static int month_path(const impa_verifier_t *v, int month, char *out, size_t len)
{
    char name[64];
    snprintf(name, sizeof name, "verification-%04d-%02d.csv", month / 12, month % 12 + 1);
    return path_in(v, name, out, len);
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

/* (method, lead index, threshold index) of a row, or -1 when the current
 * configuration has no such method, lead or threshold (it changed). */
static int row_key(const impa_verifier_t *v, const char *method, int lead_min, double thr,
                   int *m, int *lead, int *ti)
{
    *m = method_from_name(method);
    *ti = thresh_index(v, thr);
    if (*m < 0 || *ti < 0 || lead_min % v->step_min != 0)
        return -1;
    *lead = lead_min / v->step_min - 1;
    return *lead >= 0 && *lead < v->n_leads ? 0 : -1;
}

static FILE *open_with_header(const char *path, const char *header, int *missing, char *err,
                              size_t errlen, int *rc)
{
    *rc = IMPA_OK;
    *missing = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        *missing = errno == ENOENT;
        if (!*missing)
            *rc = impa_err(err, errlen, IMPA_EIO, "verifier: %s: %s", path, strerror(errno));
        return NULL;
    }
    char line[512];
    if (!fgets(line, sizeof line, f) || strncmp(line, header, strlen(header)) != 0) {
        fclose(f);
        *rc = impa_err(err, errlen, IMPA_EFORMAT,
                       "verifier: %s: line 1 is not the header \"%s\"", path, header);
        return NULL;
    }
    return f;
}

static int read_totals(impa_verifier_t *v, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (path_in(v, TOTALS_NAME, path, sizeof path))
        return impa_err(err, errlen, IMPA_EINVAL, "verifier: state_dir path too long");
    int missing, rc;
    FILE *f = open_with_header(path, TOTALS_HEADER, &missing, err, errlen, &rc);
    if (!f)
        return missing ? IMPA_OK : rc;
    char line[512], method[32];
    long long upto, pairs, h, mi, fa, cn;
    int lead_min, m, lead, ti;
    double thr;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%lld,%31[^,],%d,%lf,%lld,%lld,%lld,%lld,%lld", &upto, method, &lead_min,
                   &thr, &pairs, &h, &mi, &fa, &cn) != 9) {
            /* written whole and renamed into place: a bad row is damage, not a crash */
            fclose(f);
            return impa_err(err, errlen, IMPA_EFORMAT, "verifier: %s: unreadable row \"%.80s\"",
                            path, line);
        }
        if ((int64_t)upto > v->carried_upto)
            v->carried_upto = (int64_t)upto;
        if (row_key(v, method, lead_min, thr, &m, &lead, &ti))
            continue;
        impa_contingency_t c = {h, mi, fa, cn};
        impa_verifier_account(v, m, (int64_t)upto, lead, ti, &c, pairs, IMPA_VACC_TOTAL);
    }
    fclose(f);
    if (v->carried_upto > v->last_scored)
        v->last_scored = v->carried_upto;
    return IMPA_OK;
}

/* Replays the rows of a log file: rows newer than carried_upto count in the
 * totals (when `totals`), every row in its hourly bucket. Sets log_month from
 * the first row when `current`. */
static int replay_rows(impa_verifier_t *v, const char *path, int totals, int current,
                       char *err, size_t errlen)
{
    int missing, rc;
    FILE *f = open_with_header(path, LOG_HEADER, &missing, err, errlen, &rc);
    if (!f)
        return missing ? IMPA_OK : rc;
    char line[512], iso[32], method[32];
    long long ot, it, h, mi, fa, cn;
    int lead_min, m, lead, ti;
    double thr;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%31[^,],%lld,%31[^,],%lld,%d,%lf,%lld,%lld,%lld,%lld", iso, &ot,
                   method, &it, &lead_min, &thr, &h, &mi, &fa, &cn) != 10)
            continue; /* a row cut by a crash: the rest of the log is still good */
        if (current && v->log_month < 0)
            v->log_month = month_of((int64_t)ot);
        if ((int64_t)ot > v->last_scored)
            v->last_scored = (int64_t)ot;
        if (row_key(v, method, lead_min, thr, &m, &lead, &ti))
            continue;
        unsigned where = IMPA_VACC_BUCKET;
        if (totals && (int64_t)ot > v->carried_upto)
            where |= IMPA_VACC_TOTAL;
        impa_contingency_t c = {h, mi, fa, cn};
        impa_verifier_account(v, m, (int64_t)ot, lead, ti, &c, 1, where);
    }
    fclose(f);
    return IMPA_OK;
}

static int open_log(impa_verifier_t *v, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (path_in(v, LOG_NAME, path, sizeof path))
        return impa_err(err, errlen, IMPA_EINVAL, "verifier: state_dir path too long");
    v->log = fopen(path, "a");
    if (!v->log)
        return impa_err(err, errlen, IMPA_EIO, "verifier: cannot append to %s: %s", path,
                        strerror(errno));
    if (ftell(v->log) == 0) {
        fprintf(v->log, "%s\n", LOG_HEADER);
        fflush(v->log);
    }
    return IMPA_OK;
}

int impa_vlog_open(impa_verifier_t *v, const char *state_dir, char *err, size_t errlen)
{
    if (snprintf(v->state_dir, sizeof v->state_dir, "%s", state_dir) >= (int)sizeof v->state_dir)
        return impa_err(err, errlen, IMPA_EINVAL, "verifier: state_dir path too long");
    if (mkdir(state_dir, 0755) != 0 && errno != EEXIST)
        return impa_err(err, errlen, IMPA_EIO, "verifier: cannot create %s: %s", state_dir,
                        strerror(errno));
    int rc = read_totals(v, err, errlen);
    char path[PATH_MAX];
    if (rc == IMPA_OK && v->carried_upto != INT64_MIN) {
        /* the month that ended at the last rotation: its last day fills the buckets */
        if (month_path(v, month_of(v->carried_upto), path, sizeof path))
            return impa_err(err, errlen, IMPA_EINVAL, "verifier: state_dir path too long");
        rc = replay_rows(v, path, 0, 0, err, errlen);
    }
    if (rc == IMPA_OK) {
        if (path_in(v, LOG_NAME, path, sizeof path))
            return impa_err(err, errlen, IMPA_EINVAL, "verifier: state_dir path too long");
        rc = replay_rows(v, path, 1, 1, err, errlen);
    }
    return rc < 0 ? rc : open_log(v, err, errlen);
}

static int write_totals(impa_verifier_t *v, char *err, size_t errlen)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    if (path_in(v, TOTALS_NAME, path, sizeof path) ||
        path_in(v, "." TOTALS_NAME ".tmp", tmp, sizeof tmp))
        return impa_err(err, errlen, IMPA_EINVAL, "verifier: state_dir path too long");
    FILE *f = fopen(tmp, "w");
    if (!f)
        return impa_err(err, errlen, IMPA_EIO, "verifier: cannot write %s: %s", tmp,
                        strerror(errno));
    fprintf(f, "%s\n", TOTALS_HEADER);
    for (int m = 0; m < N_METHODS; m++)
        for (int l = 0; l < v->n_leads; l++)
            for (int ti = 0; ti < v->n_thresh; ti++) {
                const impa_contingency_t *c = &v->total[m].table[l][ti];
                fprintf(f, "%" PRId64 ",%s,%d,%g,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
                           ",%" PRId64 "\n",
                        v->last_scored, impa_method_name((impa_method_t)m),
                        (l + 1) * v->step_min, (double)v->thresholds[ti],
                        v->total[m].n_pairs[l], c->hits, c->misses, c->false_alarms,
                        c->correct_negatives);
            }
    int bad = fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0;
    int e = errno;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        e = bad ? e : errno;
        unlink(tmp);
        return impa_err(err, errlen, IMPA_EIO, "verifier: cannot write %s: %s", path,
                        strerror(e));
    }
    impa_fsync_path(v->state_dir, 1);
    v->carried_upto = v->last_scored;
    return IMPA_OK;
}

/* verification.csv -> verification-YYYY-MM.csv (-N.csv if taken: a clock that
 * went back, a state directory copied between hosts). The open FILE keeps
 * pointing at the renamed file. */
static int archive_log(impa_verifier_t *v, char *err, size_t errlen)
{
    char cur[PATH_MAX], dst[PATH_MAX];
    if (path_in(v, LOG_NAME, cur, sizeof cur) || month_path(v, v->log_month, dst, sizeof dst))
        return impa_err(err, errlen, IMPA_EINVAL, "verifier: state_dir path too long");
    struct stat st;
    for (int k = 1; k < 100 && stat(dst, &st) == 0; k++) {
        char name[64];
        snprintf(name, sizeof name, "verification-%04d-%02d-%d.csv", v->log_month / 12,
                 v->log_month % 12 + 1, k);
        path_in(v, name, dst, sizeof dst);
    }
    if (rename(cur, dst) != 0)
        return impa_err(err, errlen, IMPA_EIO, "verifier: cannot rename %s to %s: %s", cur, dst,
                        strerror(errno));
    return IMPA_OK;
}

int impa_vlog_prepare(impa_verifier_t *v, int64_t obs_time, char *err, size_t errlen)
{
    if (!v->state_dir[0])
        return IMPA_OK;
    int month = month_of(obs_time);
    int rc = IMPA_OK;
    if (v->log && v->log_month >= 0 && month != v->log_month) {
        fflush(v->log);
        rc = write_totals(v, err, errlen);
        if (rc == IMPA_OK)
            rc = archive_log(v, err, errlen);
        if (rc == IMPA_OK) {
            fclose(v->log);
            v->log = NULL;
            v->log_month = -1;
        }
        /* on failure the rows go on into the old file: rows <= carried_upto are
         * never counted twice, and the next observation tries again */
    }
    if (!v->log) {
        int orc = open_log(v, rc == IMPA_OK ? err : NULL, errlen);
        if (rc == IMPA_OK)
            rc = orc;
    }
    if (v->log && v->log_month < 0)
        v->log_month = month;
    return rc;
}

void impa_vlog_row(impa_verifier_t *v, const char *obs_iso, int64_t obs_time, int m,
                   int64_t issue, int lead, int ti, const impa_contingency_t *c)
{
    if (!v->log)
        return;
    fprintf(v->log, "%s,%" PRId64 ",%s,%" PRId64 ",%d,%g,%" PRId64 ",%" PRId64 ",%" PRId64
                    ",%" PRId64 "\n",
            obs_iso, obs_time, impa_method_name((impa_method_t)m), issue,
            (lead + 1) * v->step_min, (double)v->thresholds[ti], c->hits, c->misses,
            c->false_alarms, c->correct_negatives);
}

int impa_vlog_flush(impa_verifier_t *v, char *err, size_t errlen)
{
    if (!v->log)
        return v->state_dir[0] ? impa_err(err, errlen, IMPA_EIO,
                                          "verifier: %s/%s is not open: rows not logged",
                                          v->state_dir, LOG_NAME)
                               : IMPA_OK;
    if (fflush(v->log) != 0 || ferror(v->log)) {
        clearerr(v->log);
        return impa_err(err, errlen, IMPA_EIO, "verifier: writing %s/%s failed: %s",
                        v->state_dir, LOG_NAME, strerror(errno));
    }
    return IMPA_OK;
}

void impa_vlog_close(impa_verifier_t *v)
{
    if (v->log)
        fclose(v->log);
    v->log = NULL;
}
