/* impa-extrapolate: batch optical-flow extrapolation for evaluation scripts.
 *
 *   impa-extrapolate --input IN.nc --output OUT.nc [--leads N] [--frames N] [--threads N]
 *       [--scheme impa-extrap-1|impa-extrap-2|impa-extrap-3] [--pixel-km KM] [--step-min MIN]
 *       [impa-extrap-2/3 parameters: --clip-dbz --edge-db --window-km --smooth-km
 *        --substep-min --spread-kmh]
 *
 * IN.nc holds dbz(sample, t_in, y, x) float dBZ, NaN = no data (the layout
 * impa-infer reads); OUT.nc receives dbz(sample, lead, y, x), lead k (0-based) one
 * input step after lead k-1, the first one step after the last input frame. */
#include <getopt.h>
#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "impa/cli.h"
#include "impa/extrapolate.h"

#define CHECK(call, what)                                                              \
    do {                                                                               \
        int st_ = (call);                                                              \
        if (st_ != NC_NOERR) {                                                         \
            fprintf(stderr, "impa-extrapolate: %s: %s\n", what, nc_strerror(st_));     \
            goto done;                                                                 \
        }                                                                              \
    } while (0)

static void usage(FILE *f)
{
    fprintf(f, "Usage: impa-extrapolate --input IN.nc --output OUT.nc [--leads N (12)] "
               "[--frames N (3)] [--threads N (0 = all cores)]\n"
               "         [--scheme impa-extrap-1 (default) | impa-extrap-2 | impa-extrap-3]\n"
               "         [--pixel-km KM (1)]\n"
               "         [--step-min MIN (10)] [--clip-dbz DBZ] [--edge-db DB] [--window-km KM]\n"
               "         [--smooth-km KM] [--substep-min MIN] [--spread-kmh KMH]\n"
               "  (--pixel-km, --step-min and the parameters after them: impa-extrap-2 and -3)\n"
               "       impa-extrapolate --version | --help\n"
               "  dbz(sample,t_in,y,x) dBZ -> dbz(sample,lead,y,x) dBZ, NaN = no data\n");
}

int main(int argc, char **argv)
{
    const char *in = NULL, *outpath = NULL;
    int leads = 12;
    impa_extrap_opts_t o = impa_extrap_opts_default();
    static const struct option longopts[] = {
        {"input", required_argument, NULL, 'i'},   {"output", required_argument, NULL, 'o'},
        {"leads", required_argument, NULL, 'l'},   {"frames", required_argument, NULL, 'f'},
        {"threads", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {"scheme", required_argument, NULL, 's'},  {"pixel-km", required_argument, NULL, 1000},
        {"step-min", required_argument, NULL, 1001}, {"clip-dbz", required_argument, NULL, 1002},
        {"edge-db", required_argument, NULL, 1003}, {"window-km", required_argument, NULL, 1004},
        {"smooth-km", required_argument, NULL, 1005},
        {"substep-min", required_argument, NULL, 1006},
        {"spread-kmh", required_argument, NULL, 1007},
        {"version", no_argument, NULL, IMPA_CLI_VERSION}, {NULL, 0, NULL, 0}};
    /* physical parameters are applied after --scheme, whatever the order given */
    float phys[8];
    int have[8] = {0}, frames_set = 0;
    static const char *prog = "impa-extrapolate";
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'i': in = optarg; break;
        case 'o': outpath = optarg; break;
        case 'l':
            if (impa_cli_int(prog, "--leads", optarg, 1, 1000, &leads))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case 'f':
            if (impa_cli_int(prog, "--frames", optarg, 2, 64, &o.n_frames))
                return IMPA_CLI_USAGE_EXIT;
            frames_set = 1;
            break;
        case 't':
            if (impa_cli_int(prog, "--threads", optarg, 0, 1024, &o.threads))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case 's': {
            int sc, nf = o.n_frames, th = o.threads;
            if (impa_extrap_scheme_parse(optarg, &sc))
                return impa_cli_usage_error(prog, "--scheme: impa-extrap-1, -2 or -3");
            o = impa_extrap_opts_scheme((impa_extrap_scheme_t)sc);
            if (frames_set)
                o.n_frames = nf;
            o.threads = th;
            break;
        }
        case 1000: case 1001: case 1002: case 1003: case 1004: case 1005: case 1006: case 1007: {
            char *end;
            float val = strtof(optarg, &end);
            if (end == optarg || *end || !isfinite(val))
                return impa_cli_usage_error(prog, "a number expected");
            phys[c - 1000] = val;
            have[c - 1000] = 1;
            break;
        }
        default: return impa_cli_default(c, prog, usage);
        }
    }
    float *dst[8] = {&o.pixel_km, &o.step_min, &o.clip_dbz, &o.edge_db, &o.window_km,
                     &o.smooth_km, &o.substep_min, &o.spread_kmh};
    for (int k = 0; k < 8; k++)
        if (have[k])
            *dst[k] = phys[k];
    if (impa_cli_no_operands(prog, argc, argv))
        return IMPA_CLI_USAGE_EXIT;
    if (!in || !outpath)
        return impa_cli_usage_error(prog, "--input and --output are required");
    int rc = 1, ncid = -1, outid = -1, varid, dims[NC_MAX_VAR_DIMS], ndims;
    size_t len[4];
    float *x = NULL, *y = NULL;
    impa_extrap_t *ex = NULL;
    char err[512];
    CHECK(nc_open(in, NC_NOWRITE, &ncid), in);
    if (nc_inq_varid(ncid, "dbz", &varid) != NC_NOERR) {
        fprintf(stderr, "impa-extrapolate: %s: no variable 'dbz'\n", in);
        goto done;
    }
    CHECK(nc_inq_varndims(ncid, varid, &ndims), in);
    if (ndims != 4) {
        fprintf(stderr, "impa-extrapolate: %s: 'dbz' has %d dimensions, expected "
                        "(sample, t_in, y, x)\n", in, ndims);
        goto done;
    }
    CHECK(nc_inq_vardimid(ncid, varid, dims), in);
    for (int i = 0; i < 4; i++)
        CHECK(nc_inq_dimlen(ncid, dims[i], &len[i]), in);
    size_t ns = len[0], tin = len[1], ny = len[2], nx = len[3], npix = ny * nx;
    if (tin < 2) {
        fprintf(stderr, "impa-extrapolate: %s: t_in = %zu, need >= 2 frames\n", in, tin);
        goto done;
    }
    x = malloc(sizeof(float) * ns * tin * npix);
    y = malloc(sizeof(float) * ns * (size_t)leads * npix);
    if (!x || !y) {
        fprintf(stderr, "impa-extrapolate: out of memory for %zu samples of %zux%zu\n", ns, ny, nx);
        goto done;
    }
    CHECK(nc_get_var_float(ncid, varid, x), in);
    if ((size_t)o.n_frames > tin)
        o.n_frames = (int)tin;
    if (impa_extrap_create((int)ny, (int)nx, leads, &o, &ex, err, sizeof err) < 0) {
        fprintf(stderr, "impa-extrapolate: %s\n", err);
        goto done;
    }
    for (size_t s = 0; s < ns; s++) {
        const float *fr[64];
        size_t nt = tin < 64 ? tin : 64;
        for (size_t t = 0; t < nt; t++)
            fr[t] = x + (s * tin + (tin - nt + t)) * npix;
        if (impa_extrap_motion(ex, fr, (int)nt, err, sizeof err) < 0 ||
            impa_extrap_forecast(ex, fr[nt - 1], leads, y + s * (size_t)leads * npix, err,
                                 sizeof err) < 0) {
            fprintf(stderr, "impa-extrapolate: sample %zu: %s\n", s, err);
            goto done;
        }
    }
    int d[4], ov;
    CHECK(nc_create(outpath, NC_CLOBBER | NC_NETCDF4, &outid), outpath);
    CHECK(nc_def_dim(outid, "sample", ns, &d[0]), outpath);
    CHECK(nc_def_dim(outid, "lead", (size_t)leads, &d[1]), outpath);
    CHECK(nc_def_dim(outid, "y", ny, &d[2]), outpath);
    CHECK(nc_def_dim(outid, "x", nx, &d[3]), outpath);
    CHECK(nc_def_var(outid, "dbz", NC_FLOAT, 4, d, &ov), outpath);
    const char *ln = "optical-flow extrapolation of reflectivity", *un = "dBZ";
    CHECK(nc_put_att_text(outid, ov, "long_name", strlen(ln), ln), outpath);
    CHECK(nc_put_att_text(outid, ov, "units", strlen(un), un), outpath);
    CHECK(nc_put_att_int(outid, NC_GLOBAL, "motion_frames", NC_INT, 1, &o.n_frames), outpath);
    const char *sn = impa_extrap_scheme_name(o.scheme);
    CHECK(nc_put_att_text(outid, NC_GLOBAL, "extrapolation", strlen(sn), sn), outpath);
    CHECK(nc_enddef(outid), outpath);
    CHECK(nc_put_var_float(outid, ov, y), outpath);
    rc = 0;
done:
    if (ncid >= 0)
        nc_close(ncid);
    if (outid >= 0 && nc_close(outid) != NC_NOERR)
        rc = 1;
    impa_extrap_destroy(&ex);
    free(x);
    free(y);
    return rc;
}
