/* impa-infer: batch inference for evaluation scripts and golden parity.
 *
 *   impa-infer --weights FILE --input IN.nc --output OUT.nc [--threads N] [--tile N]
 *              [--tile-overlap N] [--calibration auto|none|extrapolation] [--normalised]
 *              [--pixel-km KM]
 *
 * Default mode: IN.nc holds dbz(sample, t_in, y, x) float32 dBZ, NaN = no data;
 * OUT.nc receives dbz(sample, t_out, y, x), the forecast of impa_guided_forecast
 * (statics, e.g. terrain, are zeros), calibrated as the daemon's
 * model.calibration (default auto). For an advection model (advection = 1) IN
 * still holds only the t_in observed frames: the extrapolated frames the network
 * also reads are computed per sample by the guided helper, as the daemon does.
 * --normalised: IN.nc holds input(frames, field, y, x) already normalised, frames
 * = impa_model_input_frames (t_in, or t_in + t_out with advection); OUT.nc
 * receives output(t_out, y, x), the raw network output of impa_engine_forward. */
#include <getopt.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "impa/cli.h"
#include "impa/engine.h"
#include "impa/guided.h"

#define CHECK(call, what)                                                              \
    do {                                                                               \
        int st_ = (call);                                                              \
        if (st_ != NC_NOERR) {                                                         \
            fprintf(stderr, "impa-infer: %s: %s\n", what, nc_strerror(st_));           \
            goto done;                                                                 \
        }                                                                              \
    } while (0)

static void usage(FILE *f)
{
    fprintf(f, "Usage: impa-infer --weights FILE --input IN.nc --output OUT.nc "
               "[--threads N] [--tile N] [--tile-overlap N]\n"
               "       [--calibration auto|none|extrapolation] [--normalised] [--pixel-km KM]\n"
               "       impa-infer --version | --help\n"
               "  --tile N: N x N windows for size-dependent models (0 = whole grid, the\n"
               "    default); size-independent models (norm_local, se_window) always\n"
               "    run on the whole grid\n"
               "  --tile-overlap N: neighbouring windows share N pixels (0 .. tile/2) and\n"
               "    are blended with linear ramps, which removes the seams at window\n"
               "    borders; costs up to (tile/(tile-N))^2 times the windows (100 instead\n"
               "    of 49 at 80/32 on 512x512). Default 0: abutting windows, as before the\n"
               "    option existed (the daemon's model.tile_overlap defaults to 32)\n"
               "  --calibration: match each lead of an advection model to the distribution\n"
               "    of its extrapolated frame (extrapolation; auto = that for advection\n"
               "    models, none for plain ones; the daemon's model.calibration)\n"
               "  --pixel-km KM: grid spacing for the extrapolated input of a model trained\n"
               "    on impa-extrap-2 or -3 (their windows are in km; default 1, as\n"
               "    impa-extrapolate; the daemon takes it from the grid)\n"
               "  default: dbz(sample,t_in,y,x) dBZ -> dbz(sample,t_out,y,x) dBZ\n"
               "    (advection models: the extrapolated input frames are computed here)\n"
               "  --normalised: input(frames,field,y,x) -> output(t_out,y,x), raw forward\n"
               "    (frames = t_in, or t_in + t_out for advection models)\n");
}

/* Reads variable `name` of rank `nd` into a new buffer; dims returned in len. */
static float *read_var(int ncid, const char *path, const char *name, int nd, size_t *len)
{
    int varid, ndims, dims[NC_MAX_VAR_DIMS];
    if (nc_inq_varid(ncid, name, &varid) != NC_NOERR) {
        fprintf(stderr, "impa-infer: %s: no variable '%s'\n", path, name);
        return NULL;
    }
    nc_inq_varndims(ncid, varid, &ndims);
    if (ndims != nd) {
        fprintf(stderr, "impa-infer: %s: variable '%s' has %d dimensions, expected %d\n", path,
                name, ndims, nd);
        return NULL;
    }
    nc_inq_vardimid(ncid, varid, dims);
    size_t n = 1;
    for (int i = 0; i < nd; i++) {
        nc_inq_dimlen(ncid, dims[i], &len[i]);
        n *= len[i];
    }
    float *buf = malloc(n * sizeof(float) + 1);
    if (!buf)
        return NULL;
    int st = nc_get_var_float(ncid, varid, buf);
    if (st != NC_NOERR) {
        fprintf(stderr, "impa-infer: %s: '%s': %s\n", path, name, nc_strerror(st));
        free(buf);
        return NULL;
    }
    return buf;
}

int main(int argc, char **argv)
{
    const char *weights = NULL, *inpath = NULL, *outpath = NULL;
    int threads = 0, tile = 0, overlap = 0, normalised = 0, status = 1;
    impa_calibration_t calibration = IMPA_CALIBRATION_AUTO;
    char err[512];
    float pixel_km = 1.0f;
    enum { O_TILE_OVERLAP = 256, O_CALIBRATION, O_NORMALISED, O_PIXEL_KM };
    static const struct option longopts[] = {
        {"weights", required_argument, NULL, 'w'},       {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},        {"threads", required_argument, NULL, 't'},
        {"tile", required_argument, NULL, 'T'},          {"tile-overlap", required_argument, NULL, O_TILE_OVERLAP},
        {"calibration", required_argument, NULL, O_CALIBRATION},
        {"normalised", no_argument, NULL, O_NORMALISED}, {"help", no_argument, NULL, 'h'},
        {"pixel-km", required_argument, NULL, O_PIXEL_KM},
        {"version", no_argument, NULL, IMPA_CLI_VERSION}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'w': weights = optarg; break;
        case 'i': inpath = optarg; break;
        case 'o': outpath = optarg; break;
        case 't':
            if (impa_cli_int("impa-infer", "--threads", optarg, 0, 1024, &threads))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case 'T':
            if (impa_cli_int("impa-infer", "--tile", optarg, 0, 100000, &tile))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case O_TILE_OVERLAP:
            if (impa_cli_int("impa-infer", "--tile-overlap", optarg, 0, 100000, &overlap))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case O_CALIBRATION:
            if (impa_calibration_parse(optarg, &calibration, err, sizeof err) != 0)
                return impa_cli_usage_error("impa-infer", "--calibration: %s", err);
            break;
        case O_NORMALISED: normalised = 1; break;
        case O_PIXEL_KM: {
            char *end;
            pixel_km = strtof(optarg, &end);
            if (end == optarg || *end || !(pixel_km > 0 && pixel_km < 1000))
                return impa_cli_usage_error("impa-infer", "--pixel-km: a positive number");
            break;
        }
        default: return impa_cli_default(c, "impa-infer", usage);
        }
    }
    if (impa_cli_no_operands("impa-infer", argc, argv))
        return IMPA_CLI_USAGE_EXIT;
    if (!weights || !inpath || !outpath)
        return impa_cli_usage_error("impa-infer", "--weights, --input and --output are required");
    impa_model_t *model = NULL;
    impa_engine_t *eng = NULL;
    impa_guided_t *guided = NULL;
    impa_extrap_t *extrap = NULL;
    float *in = NULL, *out = NULL;
    int inid = -1, outid = -1;
    if (impa_model_load(weights, &model, err, sizeof(err)) != 0) {
        fprintf(stderr, "impa-infer: %s\n", err);
        return 1;
    }
    const impa_model_info_t *I = impa_model_info(model);
    CHECK(nc_open(inpath, NC_NOWRITE, &inid), inpath);
    size_t len[4];
    in = read_var(inid, inpath, normalised ? "input" : "dbz", 4, len);
    if (!in)
        goto done;
    size_t nsamp = normalised ? 1 : len[0];
    int ny = (int)len[2], nx = (int)len[3];
    /* normalised input is the network's own: every frame it reads */
    int want = normalised ? impa_model_input_frames(model) : I->t_in;
    if ((int)len[normalised ? 0 : 1] != want || (normalised && (int)len[1] != I->n_fields)) {
        fprintf(stderr, "impa-infer: %s: input has %zu frames%s, the model takes %d%s "
                "(and %d fields)\n", inpath, len[normalised ? 0 : 1],
                normalised ? " and some fields" : "", want,
                normalised && I->advection ? " (t_in + t_out: advection)" : " (t_in)",
                I->n_fields);
        goto done;
    }
    tile = impa_model_effective_tile(model, tile);
    if (impa_engine_create_tiled(model, ny, nx, tile, overlap, threads, &eng, err,
                                 sizeof(err)) != 0) {
        fprintf(stderr, "impa-infer: %s\n", err);
        goto done;
    }
    /* the guidance's extrapolator: the model's scheme on this grid spacing */
    impa_extrap_opts_t eo;
    if (!normalised && I->advection &&
        (impa_guided_extrap_opts(I, pixel_km, threads, &eo, err, sizeof err) != 0 ||
         impa_extrap_create(ny, nx, I->t_out, &eo, &extrap, err, sizeof err) != 0)) {
        fprintf(stderr, "impa-infer: %s\n", err);
        goto done;
    }
    if (!normalised && (impa_guided_create(eng, extrap, threads, &guided, err, sizeof(err)) != 0 ||
                        impa_guided_set_calibration(guided, calibration, err, sizeof err) != 0)) {
        fprintf(stderr, "impa-infer: %s\n", err);
        goto done;
    }
    size_t plane = (size_t)ny * nx;
    out = malloc(nsamp * (size_t)I->t_out * plane * sizeof(float));
    if (!out)
        goto done;
    if (normalised) {
        if (impa_engine_forward(eng, in, out, err, sizeof(err)) != 0) {
            fprintf(stderr, "impa-infer: %s\n", err);
            goto done;
        }
    } else {
        for (size_t s = 0; s < nsamp; s++) {
            const float *frames[64];
            for (int t = 0; t < I->t_in; t++)
                frames[t] = in + (s * (size_t)I->t_in + (size_t)t) * plane;
            if (impa_guided_forecast(guided, frames, NULL, out + s * (size_t)I->t_out * plane,
                                     err, sizeof(err)) != 0) {
                fprintf(stderr, "impa-infer: sample %zu: %s\n", s, err);
                goto done;
            }
        }
    }

    int d[4], varid;
    CHECK(nc_create(outpath, NC_CLOBBER | NC_NETCDF4, &outid), outpath);
    int nd = 0;
    if (!normalised)
        CHECK(nc_def_dim(outid, "sample", nsamp, &d[nd++]), outpath);
    CHECK(nc_def_dim(outid, "t_out", (size_t)I->t_out, &d[nd++]), outpath);
    CHECK(nc_def_dim(outid, "y", (size_t)ny, &d[nd++]), outpath);
    CHECK(nc_def_dim(outid, "x", (size_t)nx, &d[nd++]), outpath);
    const char *vname = normalised ? "output" : "dbz";
    CHECK(nc_def_var(outid, vname, NC_FLOAT, nd, d, &varid), outpath);
    if (normalised) {
        const char *ln = "normalised network output (not clamped)";
        CHECK(nc_put_att_text(outid, varid, "long_name", strlen(ln), ln), outpath);
    } else {
        const char *ln = "forecast radar reflectivity", *un = "dBZ";
        CHECK(nc_put_att_text(outid, varid, "long_name", strlen(ln), ln), outpath);
        CHECK(nc_put_att_text(outid, varid, "units", strlen(un), un), outpath);
    }
    CHECK(nc_put_att_text(outid, NC_GLOBAL, "weights_sha256", 64, I->sha256), outpath);
    CHECK(nc_put_att_int(outid, NC_GLOBAL, "step_minutes", NC_INT, 1, &I->step_minutes),
          outpath);
    CHECK(nc_put_att_int(outid, NC_GLOBAL, "advection", NC_INT, 1, &I->advection), outpath);
    CHECK(nc_put_att_int(outid, NC_GLOBAL, "norm_local", NC_INT, 1, &I->norm_local), outpath);
    CHECK(nc_put_att_int(outid, NC_GLOBAL, "se_window", NC_INT, 1, &I->se_window), outpath);
    CHECK(nc_enddef(outid), outpath);
    CHECK(nc_put_var_float(outid, varid, out), outpath);
    CHECK(nc_close(outid), outpath);
    outid = -1;
    status = 0;
done:
    if (outid >= 0)
        nc_close(outid);
    if (inid >= 0)
        nc_close(inid);
    free(in);
    free(out);
    impa_guided_destroy(&guided);
    impa_extrap_destroy(&extrap);
    impa_engine_destroy(&eng);
    impa_model_destroy(&model);
    return status;
}
