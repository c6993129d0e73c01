/* The start-up check (startup.h), shared by start-up, reload and --check-config. */
#include "daemon/startup.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"
#include "impa/engine.h"
#include "impa/extrapolate.h"
#include "impa/fileperm.h"
#include "impa/guided.h"
#include "impa/verify.h"
#include "impa_build_config.h"

const impa_cycle_shape_t impa_default_shape = {4, 12, 10, 4};

/* Appends one "level text" line to the notes (level a syslog priority). */
IMPA_PRINTF(4, 5)
static void note(char *notes, size_t len, int level, const char *fmt, ...)
{
    if (!notes || !len)
        return;
    size_t used = strlen(notes);
    if (used + 4 >= len)
        return;
    int n = snprintf(notes + used, len - used, "%s%d ", used ? "\n" : "", level);
    if (n < 0 || (size_t)n >= len - used)
        return;
    used += (size_t)n;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(notes + used, len - used, fmt, ap);
    va_end(ap);
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
 * rewrite them controls the forecasts (docs/security.md). Warnings go to notes
 * (level 4), or are logged when notes is NULL. */
static int check_permissions(const impa_daemon_config_t *cfg, char *notes, size_t noteslen,
                             char *err, size_t errlen)
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
        if (rc == IMPA_FILEPERM_WARNING) {
            if (notes)
                note(notes, noteslen, IMPA_LOG_WARNING, "%s (security.permissions: warn)", why);
            else
                impa_log(IMPA_LOG_WARNING, "%s (security.permissions: warn)", why);
        } else if (rc < 0 && rc != IMPA_ENOTFOUND && rc != IMPA_EIO) {
            return impa_err(err, errlen, IMPA_ECONFIG, "%s (security.permissions: refuse)", why);
        }
    }
    return 0;
}

int impa_service_check_permissions(const impa_daemon_config_t *cfg, char *err, size_t errlen)
{
    return check_permissions(cfg, NULL, 0, err, errlen);
}

/* model.weights unset means the installed model; in a source checkout, where
 * nothing is installed, the checkout's own models/impa-net.nc next to the etc/
 * the configuration file is in (so the shipped file validates and runs from a
 * checkout without --model). Only for the default path, never for a file the
 * configuration or --model names. */
static void checkout_model(impa_daemon_config_t *cfg, const char *config_path, char *notes,
                           size_t noteslen)
{
    if (!config_path || strcmp(cfg->weights, IMPA_MODELDIR "/impa-net.nc") ||
        access(cfg->weights, R_OK) == 0)
        return;
    char dir[PATH_MAX], cand[PATH_MAX], real[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", config_path);
    if (snprintf(cand, sizeof cand, "%.4000s/../models/impa-net.nc", dirname(dir)) >=
            (int)sizeof cand ||
        access(cand, R_OK))
        return;
    if (realpath(cand, real))
        snprintf(cand, sizeof cand, "%s", real);
    note(notes, noteslen, IMPA_LOG_NOTICE,
         "model.weights: %s is not installed; using the source checkout's %s", cfg->weights,
         cand);
    snprintf(cfg->weights, sizeof cfg->weights, "%s", cand);
}

/* The checks that need the model: what it is, against what the file asks. */
static int check_model(impa_startup_t *s, char *notes, size_t noteslen, char *err, size_t errlen)
{
    impa_daemon_config_t *cfg = &s->cfg;
    const char *file = cfg->path[0] ? cfg->path : "<defaults>";
    s->shape = impa_default_shape;
    char why[1024];
    if (cfg->method == IMPA_CFG_METHOD_IMPANET || access(cfg->weights, R_OK) == 0) {
        int rc = impa_model_load(cfg->weights, &s->model, why, sizeof why);
        if (rc && cfg->method == IMPA_CFG_METHOD_IMPANET)
            return impa_err(err, errlen, IMPA_ECONFIG, "%s: key 'model.weights': %s", file, why);
        if (rc)
            note(notes, noteslen, IMPA_LOG_WARNING,
                 "model %s not loaded (%s); extrapolation uses t_in %d, t_out %d, step %d min",
                 cfg->weights, why, impa_default_shape.t_in, impa_default_shape.t_out,
                 impa_default_shape.step_minutes);
    }
    if (s->model) {
        const impa_model_info_t *mi = impa_model_info(s->model);
        s->shape.t_in = mi->t_in;
        s->shape.t_out = mi->t_out;
        s->shape.step_minutes = mi->step_minutes;
        s->shape.total_stride = mi->total_stride;
        if (mi->t_out > IMPA_VERIFY_MAX_LEADS && cfg->verify_enabled)
            return impa_err(err, errlen, IMPA_ECONFIG, "model t_out %d above the verifier's %d",
                            mi->t_out, IMPA_VERIFY_MAX_LEADS);
        /* the guidance computes the model's own scheme; one this build does not
         * know cannot be computed */
        int scheme;
        if (mi->advection && impa_guided_model_scheme(mi, &scheme, why, sizeof why))
            return impa_err(err, errlen, IMPA_ECONFIG, "%s: key 'model.weights': %s: %s", file,
                            cfg->weights, why);
        if (mi->advection && cfg->method == IMPA_CFG_METHOD_IMPANET)
            note(notes, noteslen, IMPA_LOG_NOTICE,
                 "extrapolation: the network reads %s (recorded in %s), the service "
                 "publishes %s (extrapolation.scheme)%s",
                 impa_extrap_scheme_name(scheme), cfg->weights,
                 impa_extrap_scheme_name(cfg->extrap_scheme),
                 scheme == cfg->extrap_scheme ? "" : "; both are computed, each when needed");
        if (cfg->method == IMPA_CFG_METHOD_IMPANET &&
            cfg->calibration == IMPA_CALIBRATION_EXTRAPOLATION && !mi->advection)
            return impa_err(err, errlen, IMPA_ECONFIG,
                            "%s: key 'model.calibration': extrapolation needs an advection-guided "
                            "model, and %s is plain (advection = 0); use auto or none",
                            file, cfg->weights);
    }
    if (2 * cfg->jitter_s >= s->shape.step_minutes * 60)
        return impa_err(err, errlen, IMPA_ECONFIG,
                        "%s: key 'window.jitter_s': %d must be below half the model step (%d s)",
                        file, cfg->jitter_s, s->shape.step_minutes * 60);
    return 0;
}

/* The extrapolation scheme of the forecasts the probabilities are computed
 * from: the advection network's input (its model file's scheme) or the
 * published extrapolation (method extrapolation, the fallback). */
static const char *forecast_scheme(const impa_startup_t *s)
{
    if (s->model && s->cfg.method == IMPA_CFG_METHOD_IMPANET &&
        impa_model_info(s->model)->advection)
        return impa_model_info(s->model)->extrapolation;
    return impa_extrap_scheme_name(s->cfg.extrap_scheme);
}

/* prob.calibration: a table named in the file must load and cover every
 * threshold and lead of the shape; the default one (MODELDIR, else the
 * checkout's models/ beside the configuration's etc/) may be absent, which
 * turns the product off with a notice. */
static int check_prob(impa_startup_t *s, const char *config_path, char *notes, size_t noteslen,
                      char *err, size_t errlen)
{
    impa_daemon_config_t *cfg = &s->cfg;
    const char *file = cfg->path[0] ? cfg->path : "<defaults>";
    if (!cfg->prob_enabled)
        return 0;
    int region_alerts = 0;
    for (int r = 0; r < cfg->alerts.n_regions; r++) {
        const impa_watch_region_t *reg = &cfg->alerts.regions[r];
        if (!(reg->alert_probability > 0))
            continue;
        region_alerts++;
        if (reg->alert_within_minutes < s->shape.step_minutes)
            return impa_err(err, errlen, IMPA_ECONFIG,
                            "%s: key 'publish.alerts.regions[%d].alert_within_minutes': %d "
                            "minutes holds no lead (the first is %d minutes after issue)",
                            file, r, reg->alert_within_minutes, s->shape.step_minutes);
    }
    char path[PATH_MAX];
    int named = cfg->prob_calibration[0] != '\0';
    if (named) {
        snprintf(path, sizeof path, "%s", cfg->prob_calibration);
    } else {
        snprintf(path, sizeof path, "%s/prob-calibration.txt", IMPA_MODELDIR);
        if (access(path, R_OK) && config_path) {
            char dir[PATH_MAX];
            snprintf(dir, sizeof dir, "%s", config_path);
            snprintf(path, sizeof path, "%.4000s/../models/prob-calibration.txt", dirname(dir));
        }
        if (access(path, R_OK)) {
            note(notes, noteslen, IMPA_LOG_NOTICE,
                 "prob: no calibration table installed (%s/prob-calibration.txt); the "
                 "probability product is off",
                 IMPA_MODELDIR);
            if (region_alerts)
                note(notes, noteslen, IMPA_LOG_WARNING,
                     "prob: without the probability product the %d watch region probability "
                     "alert(s) (alert_probability) never fire",
                     region_alerts);
            return 0;
        }
    }
    s->prob = malloc(sizeof *s->prob);
    if (!s->prob)
        return impa_err(err, errlen, IMPA_ENOMEM, "out of memory");
    char why[1024];
    impa_prob_t *p = NULL;
    if (impa_prob_table_load(path, s->prob, why, sizeof why) ||
        impa_prob_create(s->prob, cfg->prob_thresholds, cfg->n_prob_thresholds, s->shape.t_out,
                         s->shape.step_minutes, 1, 1, 1.0, &p, why, sizeof why)) {
        free(s->prob);
        s->prob = NULL;
        return impa_err(err, errlen, IMPA_ECONFIG, "%s: key 'prob.calibration': %s", file, why);
    }
    impa_prob_destroy(&p);
    snprintf(cfg->prob_calibration, sizeof cfg->prob_calibration, "%s", path);
    const char *fs = forecast_scheme(s);
    if (fs && strcmp(fs, s->prob->scheme) != 0)
        note(notes, noteslen, IMPA_LOG_WARNING,
             "prob: the calibration table %s was fitted on forecasts of extrapolation '%s', "
             "but the daemon's forecasts come from '%s': the probabilities may be "
             "miscalibrated (refit: train/impa/probloeo.py --fit rate --scheme %s)",
             path, s->prob->scheme, fs, fs);
    return 0;
}

int impa_startup_check(const impa_service_opts_t *o, int mode, impa_startup_t *s, char *notes,
                       size_t noteslen, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    if (notes && noteslen)
        notes[0] = '\0';
    impa_daemon_config_t *cfg = &s->cfg;
    int rc = 0;
    if (o->config_path)
        rc = impa_config_load(o->config_path, cfg, err, errlen);
    else
        impa_config_defaults(cfg);
    if (rc)
        return rc;
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
    checkout_model(cfg, o->config_path, notes, noteslen);
    char dirnotes[4096] = "";
    rc = mode == IMPA_STARTUP_CREATE
             ? impa_config_prepare_dirs(cfg, err, errlen)
             : impa_config_check_dirs(cfg, dirnotes, sizeof dirnotes, err, errlen);
    for (char *save = NULL, *line = strtok_r(dirnotes, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
        note(notes, noteslen, IMPA_LOG_NOTICE, "%s", line);
    if (rc)
        return rc;
    rc = check_permissions(cfg, notes, noteslen, err, errlen);
    if (rc)
        return rc;
    rc = check_model(s, notes, noteslen, err, errlen);
    if (rc)
        return rc;
    return check_prob(s, o->config_path, notes, noteslen, err, errlen);
}

void impa_startup_release(impa_startup_t *s)
{
    if (s) {
        impa_model_destroy(&s->model);
        free(s->prob);
        s->prob = NULL;
    }
}
