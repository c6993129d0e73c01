/* Advection guidance for IMPA-Net (impa/guided.h, docs/model.md "Advection
 * guidance"): the extrapolated frames an advection = 1 model reads are made here
 * and only here, the way impa-extrapolate made the training data. */
#include "impa/guided.h"

#include <stdlib.h>
#include <string.h>

#include "impa/calibrate.h"

/* Histogram bins of the calibration: far below any threshold that matters
 * (alerts at 45 dBZ, verification at 20..45) and still only 7,000 bins over
 * the 0..70 dBZ of the shipped model. */
#define GUIDED_CALIB_BIN_DB 0.01f

/* t_in + t_out frame pointers for the engine (weights.c bounds t_in <= 32,
 * t_out <= 64). */
#define GUIDED_MAX_FRAMES 96

struct impa_guided {
    impa_engine_t *engine;   /* borrowed */
    impa_extrap_t *extrap;   /* borrowed or owned (own_extrap) */
    int own_extrap;
    int advection, t_in, t_out, ny, nx;
    float *ext;              /* [t_out][ny][nx] extrapolated frames (advection only) */
    impa_calib_t *calib;     /* advection only */
    impa_calibration_t calibration; /* resolved: NONE or EXTRAPOLATION */
    const float *frames[GUIDED_MAX_FRAMES]; /* obs then ext, for impa_engine_forecast */
};

int impa_guided_model_scheme(const impa_model_info_t *mi, int *scheme, char *err,
                             size_t errlen)
{
    if (!mi || !scheme)
        return impa_err(err, errlen, IMPA_EINVAL, "impa_guided_model_scheme: NULL argument");
    const char *name = mi->extrapolation[0] ? mi->extrapolation : "impa-extrap-1";
    if (impa_extrap_scheme_parse(name, scheme))
        return impa_err(err, errlen, IMPA_EINVAL,
                        "the model was trained on extrapolation '%s', which this build does not "
                        "know (it knows %s); use a build that knows it or a model trained on "
                        "one of these", name, impa_extrap_scheme_known());
    return 0;
}

int impa_guided_extrap_opts(const impa_model_info_t *mi, float pixel_km, int threads,
                            impa_extrap_opts_t *out, char *err, size_t errlen)
{
    int scheme;
    int rc = impa_guided_model_scheme(mi, &scheme, err, errlen);
    if (rc)
        return rc;
    if (!out)
        return impa_err(err, errlen, IMPA_EINVAL, "impa_guided_extrap_opts: NULL argument");
    *out = impa_extrap_opts_scheme((impa_extrap_scheme_t)scheme);
    out->step_min = (float)mi->step_minutes;
    if (pixel_km > 0)
        out->pixel_km = pixel_km;
    out->threads = threads;
    return 0;
}

int impa_guided_create(impa_engine_t *engine, impa_extrap_t *extrap, int threads,
                       impa_guided_t **out, char *err, size_t errlen)
{
    if (!engine || !out)
        return impa_err(err, errlen, IMPA_EINVAL, "impa_guided_create: NULL argument");
    *out = NULL;
    const impa_model_info_t *mi = impa_engine_info(engine);
    impa_guided_t *g = calloc(1, sizeof *g);
    if (!g)
        return impa_err(err, errlen, IMPA_ENOMEM, "guided: out of memory");
    g->engine = engine;
    g->advection = mi->advection;
    g->t_in = mi->t_in;
    g->t_out = mi->t_out;
    impa_engine_grid(engine, &g->ny, &g->nx);
    g->calibration = g->advection ? IMPA_CALIBRATION_EXTRAPOLATION : IMPA_CALIBRATION_NONE;
    if (!g->advection) {
        *out = g;
        return 0;
    }
    int rc = 0;
    impa_extrap_opts_t want;
    char why[512];
    if ((rc = impa_guided_extrap_opts(mi, 0, threads, &want, why, sizeof why)) != 0) {
        rc = impa_err(err, errlen, rc, "guided: %s", why);
        goto fail;
    }
    if (extrap) {
        /* scheme 1 works in cells and frames: its step does not enter */
        const impa_extrap_opts_t *have = impa_extrap_get_opts(extrap);
        if (have->scheme != want.scheme ||
            (want.scheme != IMPA_EXTRAP_SCHEME_1 && have->step_min != want.step_min)) {
            rc = impa_err(err, errlen, IMPA_EINVAL,
                          "guided: the model was trained on extrapolation '%s' at %g min, the "
                          "extrapolator given computes '%s' at %g min",
                          impa_extrap_scheme_name(want.scheme), want.step_min,
                          impa_extrap_scheme_name(have->scheme), have->step_min);
            goto fail;
        }
    }
    if (g->t_in < 2 || g->t_in + g->t_out > GUIDED_MAX_FRAMES) {
        rc = impa_err(err, errlen, IMPA_EINVAL,
                      "guided: model with advection needs 2 <= t_in and t_in + t_out <= %d "
                      "(t_in %d, t_out %d)", GUIDED_MAX_FRAMES, g->t_in, g->t_out);
        goto fail;
    }
    g->ext = malloc(sizeof(float) * (size_t)g->t_out * (size_t)g->ny * (size_t)g->nx);
    if (!g->ext) {
        rc = impa_err(err, errlen, IMPA_ENOMEM, "guided: out of memory for %d frames of %dx%d",
                      g->t_out, g->ny, g->nx);
        goto fail;
    }
    /* the dBZ range impa_engine_forecast clamps its output to: normalised 0..1 */
    rc = impa_calib_create(mi->norm_offset[0], mi->norm_offset[0] + mi->norm_scale[0],
                           GUIDED_CALIB_BIN_DB, &g->calib, err, errlen);
    if (rc)
        goto fail;
    if (extrap) {
        g->extrap = extrap;
    } else {
        rc = impa_extrap_create(g->ny, g->nx, g->t_out, &want, &g->extrap, err, errlen);
        if (rc)
            goto fail;
        g->own_extrap = 1;
    }
    for (int k = 0; k < g->t_out; k++)
        g->frames[g->t_in + k] = g->ext + (size_t)k * g->ny * g->nx;
    *out = g;
    return 0;
fail:
    impa_guided_destroy(&g);
    return rc;
}

void impa_guided_destroy(impa_guided_t **gp)
{
    if (!gp || !*gp)
        return;
    impa_guided_t *g = *gp;
    if (g->own_extrap)
        impa_extrap_destroy(&g->extrap);
    free(g->ext);
    impa_calib_destroy(&g->calib);
    free(g);
    *gp = NULL;
}

int impa_calibration_parse(const char *name, impa_calibration_t *out, char *err, size_t errlen)
{
    static const impa_calibration_t modes[] = {IMPA_CALIBRATION_AUTO, IMPA_CALIBRATION_NONE,
                                               IMPA_CALIBRATION_EXTRAPOLATION};
    for (size_t i = 0; name && out && i < sizeof modes / sizeof modes[0]; i++) {
        if (strcmp(name, impa_calibration_name(modes[i])) == 0) {
            *out = modes[i];
            return 0;
        }
    }
    return impa_err(err, errlen, IMPA_EINVAL,
                    "calibration '%s' unknown (auto, none or extrapolation)",
                    name ? name : "(null)");
}

const char *impa_calibration_name(impa_calibration_t mode)
{
    switch (mode) {
    case IMPA_CALIBRATION_AUTO: return "auto";
    case IMPA_CALIBRATION_NONE: return "none";
    case IMPA_CALIBRATION_EXTRAPOLATION: return "extrapolation";
    }
    return "?";
}

int impa_guided_set_calibration(impa_guided_t *g, impa_calibration_t mode, char *err,
                                size_t errlen)
{
    if (!g)
        return impa_err(err, errlen, IMPA_EINVAL, "impa_guided_set_calibration: NULL argument");
    switch (mode) {
    case IMPA_CALIBRATION_AUTO:
        g->calibration = g->advection ? IMPA_CALIBRATION_EXTRAPOLATION : IMPA_CALIBRATION_NONE;
        return 0;
    case IMPA_CALIBRATION_NONE:
        g->calibration = mode;
        return 0;
    case IMPA_CALIBRATION_EXTRAPOLATION:
        if (!g->advection)
            return impa_err(err, errlen, IMPA_EINVAL,
                            "calibration 'extrapolation' needs an advection-guided model "
                            "(advection = 1); this one is plain: use 'auto' or 'none'");
        g->calibration = mode;
        return 0;
    }
    return impa_err(err, errlen, IMPA_EINVAL, "calibration mode %d unknown", (int)mode);
}

impa_calibration_t impa_guided_calibration(const impa_guided_t *g)
{
    return g ? g->calibration : IMPA_CALIBRATION_NONE;
}

int impa_guided_advection(const impa_guided_t *g)
{
    return g ? g->advection : 0;
}

const float *impa_guided_extrapolation(const impa_guided_t *g)
{
    return g && g->advection ? g->ext : NULL;
}

int impa_guided_extrapolate(impa_guided_t *g, const float *const *obs, char *err,
                            size_t errlen)
{
    if (!g || !obs)
        return impa_err(err, errlen, IMPA_EINVAL, "impa_guided_extrapolate: NULL argument");
    if (!g->advection)
        return 0;
    for (int t = 0; t < g->t_in; t++) {
        if (!obs[t])
            return impa_err(err, errlen, IMPA_EINVAL,
                            "extrapolation for the network input: observed frame %d is "
                            "missing", t);
    }
    /* As impa-extrapolate: all t_in frames, the extrapolator keeps the newest
     * n_frames; leads from the last observed frame. */
    char why[512];
    int rc = impa_extrap_motion(g->extrap, obs, g->t_in, why, sizeof why);
    if (rc == 0)
        rc = impa_extrap_forecast(g->extrap, obs[g->t_in - 1], g->t_out, g->ext, why,
                                  sizeof why);
    if (rc)
        return impa_err(err, errlen, rc, "extrapolation for the network input failed: %s",
                        why);
    return 0;
}

int impa_guided_forecast(impa_guided_t *g, const float *const *obs,
                         const float *const *statics, float *out_dbz, char *err, size_t errlen)
{
    if (!g || !obs || !out_dbz)
        return impa_err(err, errlen, IMPA_EINVAL, "impa_guided_forecast: NULL argument");
    if (!g->advection)
        return impa_engine_forecast(g->engine, obs, statics, out_dbz, err, errlen);
    int rc = impa_guided_extrapolate(g, obs, err, errlen);
    if (rc)
        return rc;
    for (int t = 0; t < g->t_in; t++)
        g->frames[t] = obs[t];
    rc = impa_engine_forecast(g->engine, g->frames, statics, out_dbz, err, errlen);
    if (rc || g->calibration != IMPA_CALIBRATION_EXTRAPOLATION)
        return rc;
    size_t plane = (size_t)g->ny * (size_t)g->nx;
    char why[256];
    for (int k = 0; k < g->t_out; k++) {
        rc = impa_calib_match(g->calib, out_dbz + (size_t)k * plane, g->ext + (size_t)k * plane,
                              plane, NULL, why, sizeof why);
        if (rc)
            return impa_err(err, errlen, rc, "calibration of lead %d: %s", k + 1, why);
    }
    return 0;
}
