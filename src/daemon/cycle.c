#include "daemon/cycle.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "impa/alertverify.h"
#include "impa/guided.h"
#include "impa/timeutil.h"

struct impa_cycle {
    impa_cycle_shape_t shape;
    impa_grid_t grid;             /* model grid */
    int method;                   /* impa_cfg_method_t configured */
    impa_window_t *window;
    impa_engine_t *engine;        /* NULL: network unavailable for this grid */
    char engine_note[640];        /* why engine is NULL */
    impa_extrap_t *extrap;        /* the published extrapolation (extrapolation.scheme):
                                   * method extrapolation and the fallback; also makes an
                                   * advection model's input when gextrap is NULL */
    impa_extrap_t *gextrap;       /* the guidance's own, when the model's scheme differs */
    const char *pub_scheme;       /* scheme names of extrap and of the guidance (NULL: */
    const char *guide_scheme;     /*   no advection network) */
    impa_guided_t *guided;        /* engine + advection guidance; NULL with engine */
    impa_verifier_t *verifier;
    impa_prob_t *prob;            /* NULL: no probability product */
    impa_alert_tracker_t *tracker;/* borrowed, NULL: no alerts */
    char alert_err[256];          /* why the last cycle has no alerts */
    float *out;                   /* [t_out][ny][nx] forecast dBZ */
    char reason[768];             /* fallback reason of the last forecast */
    /* borrowed views of the window, filled per cycle (no allocation) */
    const float *frames[IMPA_MAX_INPUTS];
    const char *paths[IMPA_MAX_INPUTS];
    int64_t times[IMPA_MAX_INPUTS];
};

/* The extrapolator an advection model's guidance reads: the published one when
 * the model was trained on the same scheme (one motion field and one set of
 * leads serve both), else one of its own (c->gextrap), computed only when the
 * network runs. Plain models read none. */
static int guidance_extrap(impa_cycle_t *c, const impa_model_info_t *mi, float pixel_km,
                           int threads, char *err, size_t errlen)
{
    if (!mi->advection)
        return 0;
    impa_extrap_opts_t go;
    int rc = impa_guided_extrap_opts(mi, pixel_km, threads, &go, err, errlen);
    if (rc)
        return rc;
    c->guide_scheme = impa_extrap_scheme_name(go.scheme);
    const impa_extrap_opts_t *po = impa_extrap_get_opts(c->extrap);
    if (go.scheme == po->scheme && go.step_min == po->step_min && go.pixel_km == po->pixel_km &&
        go.n_frames == po->n_frames)
        return 0;
    return impa_extrap_create(c->grid.ny, c->grid.nx, c->shape.t_out, &go, &c->gextrap, err,
                              errlen);
}

int impa_cycle_create(const impa_daemon_config_t *cfg, const impa_model_t *model,
                      const impa_cycle_shape_t *shape, const impa_grid_t *grid,
                      impa_cycle_t **out, char *engine_note, size_t notelen, char *err,
                      size_t errlen)
{
    *out = NULL;
    if (engine_note && notelen)
        engine_note[0] = '\0';
    if (shape->t_in < 1 || shape->t_in > IMPA_MAX_INPUTS)
        return impa_err(err, errlen, IMPA_EINVAL, "model t_in %d outside 1..%d", shape->t_in,
                        IMPA_MAX_INPUTS);
    impa_cycle_t *c = calloc(1, sizeof *c);
    if (!c)
        return impa_err(err, errlen, IMPA_ENOMEM, "cycle: out of memory");
    c->shape = *shape;
    c->grid = *grid;
    c->method = cfg->method;
    int rc = impa_window_create(shape->t_in, grid->ny, grid->nx, shape->step_minutes * 60,
                                cfg->jitter_s, &c->window, err, errlen);
    if (rc)
        goto fail;
    size_t n = (size_t)shape->t_out * (size_t)grid->ny * (size_t)grid->nx;
    c->out = malloc(n * sizeof *c->out);
    if (!c->out) {
        rc = impa_err(err, errlen, IMPA_ENOMEM, "cycle: out of memory for %d leads of %dx%d",
                      shape->t_out, grid->ny, grid->nx);
        goto fail;
    }
    /* The published extrapolation: the configured scheme on this grid and step
     * (schemes 2 and 3 read their parameters in km and minutes). */
    float pixel_km = (float)sqrt(impa_grid_cell_area_km2(grid));
    if (!(pixel_km > 0) || !isfinite(pixel_km))
        pixel_km = 1.0f;
    impa_extrap_opts_t eo = impa_extrap_opts_scheme((impa_extrap_scheme_t)cfg->extrap_scheme);
    eo.pixel_km = pixel_km;
    eo.step_min = (float)shape->step_minutes;
    eo.threads = cfg->threads;
    rc = impa_extrap_create(grid->ny, grid->nx, shape->t_out, &eo, &c->extrap, err, errlen);
    if (rc)
        goto fail;
    c->pub_scheme = impa_extrap_scheme_name(eo.scheme);
    if (model && cfg->method == IMPA_CFG_METHOD_IMPANET) {
        char why[512];
        int tile = impa_model_effective_tile(model, cfg->tile);
        if (impa_engine_create_tiled(model, grid->ny, grid->nx, tile, cfg->tile_overlap,
                                     cfg->threads, &c->engine, why, sizeof why)) {
            snprintf(c->engine_note, sizeof c->engine_note, "network unavailable: %s", why);
            c->engine = NULL;
        } else if (guidance_extrap(c, impa_model_info(model), pixel_km, cfg->threads, why,
                                   sizeof why) ||
                   impa_guided_create(c->engine, c->gextrap ? c->gextrap : c->extrap,
                                      cfg->threads, &c->guided, why, sizeof why)) {
            snprintf(c->engine_note, sizeof c->engine_note, "network unavailable: %s", why);
            c->guide_scheme = NULL;
            impa_extrap_destroy(&c->gextrap);
            impa_engine_destroy(&c->engine);
        } else if ((rc = impa_guided_set_calibration(c->guided,
                                                     (impa_calibration_t)cfg->calibration, why,
                                                     sizeof why)) != 0) {
            /* the service refuses this combination at start; here for other callers */
            rc = impa_err(err, errlen, IMPA_ECONFIG, "model.calibration: %s", why);
            goto fail;
        }
    } else if (cfg->method == IMPA_CFG_METHOD_IMPANET) {
        snprintf(c->engine_note, sizeof c->engine_note, "network unavailable: no model loaded");
    }
    if (engine_note && notelen)
        snprintf(engine_note, notelen, "%s", c->engine_note);
    if (cfg->verify_enabled) {
        rc = impa_verifier_create(grid->ny, grid->nx, shape->t_out, shape->step_minutes,
                                  cfg->thresholds, cfg->n_thresholds,
                                  cfg->state_dir[0] ? cfg->state_dir : NULL, &c->verifier, err,
                                  errlen);
        if (!rc) /* alerts scored as objects against the observed cells */
            rc = impa_verifier_enable_alerts(c->verifier, grid, &cfg->alerts, err, errlen);
        if (rc)
            goto fail;
    }
    *out = c;
    return 0;
fail:
    impa_cycle_destroy(&c);
    return rc;
}

impa_calibration_t impa_cycle_calibration(const impa_cycle_t *c)
{
    return c && c->guided ? impa_guided_calibration(c->guided) : IMPA_CALIBRATION_NONE;
}

int impa_cycle_extrapolation(const impa_cycle_t *c, const char **published,
                             const char **guidance)
{
    if (published)
        *published = c ? c->pub_scheme : NULL;
    if (guidance)
        *guidance = c && c->guided ? c->guide_scheme : NULL;
    return c ? 1 + (c->gextrap != NULL) : 0;
}

void impa_cycle_set_progress(impa_cycle_t *c, impa_progress_fn fn, void *ctx)
{
    if (c && c->engine)
        impa_engine_set_progress(c->engine, fn, ctx);
}

void impa_cycle_destroy(impa_cycle_t **c)
{
    if (!c || !*c)
        return;
    impa_window_destroy(&(*c)->window);
    impa_guided_destroy(&(*c)->guided);
    impa_engine_destroy(&(*c)->engine);
    impa_extrap_destroy(&(*c)->extrap);
    impa_extrap_destroy(&(*c)->gextrap);
    impa_verifier_destroy(&(*c)->verifier);
    impa_prob_destroy(&(*c)->prob);
    free((*c)->out);
    free(*c);
    *c = NULL;
}

int impa_cycle_set_prob(impa_cycle_t *c, const impa_prob_table_t *t, const float *thr, int n,
                        char *err, size_t errlen)
{
    impa_prob_destroy(&c->prob);
    int rc = impa_prob_create(t, thr, n, c->shape.t_out, c->shape.step_minutes, c->grid.ny,
                              c->grid.nx, sqrt(impa_grid_cell_area_km2(&c->grid)), &c->prob, err,
                              errlen);
    /* the online verifier scores what is published (impa_verifier_enable_prob) */
    if (!rc && c->verifier && !impa_verifier_prob_thresholds(c->verifier, NULL) &&
        (rc = impa_verifier_enable_prob(c->verifier, thr, n, err, errlen)) != 0)
        impa_prob_destroy(&c->prob);
    return rc;
}

int impa_cycle_prob(impa_cycle_t *c, impa_forecast_t *fc, double *prob_s, char *err,
                    size_t errlen)
{
    double t0 = impa_time_monotonic();
    fc->prob = NULL;
    int rc = 0;
    if (c->prob)
        rc = impa_prob_compute(c->prob, fc->dbz, c->frames, c->shape.t_in, &fc->prob, err,
                               errlen);
    *prob_s = impa_time_monotonic() - t0;
    return rc;
}

void impa_cycle_set_alerts(impa_cycle_t *c, impa_alert_tracker_t *tracker)
{
    if (c)
        c->tracker = tracker;
}

int impa_cycle_alerts(impa_cycle_t *c, impa_forecast_t *fc, double *alerts_s)
{
    double t0 = impa_time_monotonic();
    fc->alerts = NULL;
    fc->alert_error = c->alert_err;
    int rc = IMPA_ESTATE;
    if (!c->tracker)
        snprintf(c->alert_err, sizeof c->alert_err, "no alert tracker");
    else if ((rc = impa_alert_tracker_update(c->tracker, fc, c->alert_err,
                                             sizeof c->alert_err)) == 0) {
        fc->alerts = impa_alert_tracker_alerts(c->tracker);
        fc->alert_error = NULL;
    }
    *alerts_s = impa_time_monotonic() - t0;
    return rc;
}

impa_window_t *impa_cycle_window(impa_cycle_t *c) { return c->window; }
impa_verifier_t *impa_cycle_verifier(impa_cycle_t *c) { return c->verifier; }
const impa_grid_t *impa_cycle_grid(const impa_cycle_t *c) { return &c->grid; }

static void persistence(impa_cycle_t *c, const float *last)
{
    size_t n = (size_t)c->grid.ny * (size_t)c->grid.nx;
    for (int k = 0; k < c->shape.t_out; k++)
        memcpy(c->out + (size_t)k * n, last, n * sizeof *last);
}

int impa_cycle_forecast(impa_cycle_t *c, impa_forecast_t *fc, double *forecast_s, char *err,
                        size_t errlen)
{
    double t0 = impa_time_monotonic();
    int t_in = c->shape.t_in;
    impa_window_frames(c->window, c->frames, c->times, c->paths);
    int run = impa_window_recent_run(c->window);
    if (run < 1)
        return impa_err(err, errlen, IMPA_ESTATE, "cycle: the window holds no frame at its head");
    const float *last = c->frames[t_in - 1];

    memset(fc, 0, sizeof *fc);
    fc->issue_time = impa_window_head(c->window);
    fc->step_minutes = c->shape.step_minutes;
    fc->n_leads = c->shape.t_out;
    fc->grid = &c->grid;
    fc->dbz = c->out;
    for (int k = 0; k < t_in; k++) {
        if (!c->frames[k])
            continue;
        fc->input_paths[fc->n_inputs] = c->paths[k];
        fc->input_times[fc->n_inputs] = c->times[k];
        fc->n_inputs++;
    }

    c->reason[0] = '\0';
    int complete = run == t_in;
    if (c->method == IMPA_CFG_METHOD_EXTRAPOLATION) {
        snprintf(c->reason, sizeof c->reason, "configured method is extrapolation");
    } else if (!complete) {
        char gap[512];
        impa_window_describe_gap(c->window, gap, sizeof gap);
        snprintf(c->reason, sizeof c->reason, "window gap (%s)", gap);
    } else if (!c->engine) {
        snprintf(c->reason, sizeof c->reason, "%s", c->engine_note);
    } else {
        /* advection models: extrapolation of the window first, then the network;
         * a failure of either falls back below with its reason */
        char why[512];
        int rc = impa_guided_forecast(c->guided, c->frames, NULL, c->out, why, sizeof why);
        if (rc == 0) {
            fc->method = IMPA_METHOD_IMPANET;
            fc->extrapolation = c->guide_scheme;
            *forecast_s = impa_time_monotonic() - t0;
            return 0;
        }
        snprintf(c->reason, sizeof c->reason, "inference failed: %s", why);
    }
    fc->fallback_reason = c->method == IMPA_CFG_METHOD_EXTRAPOLATION ? NULL : c->reason;

    /* Extrapolation from the newest consecutive frames: motion is in cells per step,
     * so the frames it sees must be evenly spaced. */
    if (run >= 2) {
        char why[512];
        int rc = impa_extrap_motion(c->extrap, c->frames + (t_in - run), run, why, sizeof why);
        if (rc == 0)
            rc = impa_extrap_forecast(c->extrap, last, c->shape.t_out, c->out, why, sizeof why);
        if (rc == 0) {
            fc->method = IMPA_METHOD_EXTRAPOLATION;
            fc->extrapolation = c->pub_scheme;
            *forecast_s = impa_time_monotonic() - t0;
            return 0;
        }
        size_t used = strlen(c->reason);
        snprintf(c->reason + used, sizeof c->reason - used, "%sextrapolation failed: %s",
                 used ? "; " : "", why);
    } else {
        size_t used = strlen(c->reason);
        snprintf(c->reason + used, sizeof c->reason - used,
                 "%sonly one recent frame for motion", used ? "; " : "");
    }
    fc->fallback_reason = c->reason;
    persistence(c, last);
    fc->method = IMPA_METHOD_PERSISTENCE;
    *forecast_s = impa_time_monotonic() - t0;
    return 0;
}
