/* impa-prob: exceedance probabilities of forecasts in a NetCDF file, the C
 * side of train/impa/prob.py's agreement check and a way to look at the
 * product offline.
 *
 *   impa-prob --table T --input IN.nc --output OUT.nc [--thresholds 35,45]
 *       [--step-min 10] [--pixel-km 1]
 *
 * IN.nc holds dbz(sample, lead, y, x) float dBZ, NaN = no data (what
 * impa-extrapolate and impa-infer write) and, for a table with trend classes,
 * inputs(sample, t_in, y, x), the frames each forecast was made from (absent:
 * every sample steady); OUT.nc receives
 * prob(sample, threshold, lead, y, x), P(dBZ >= threshold) in 0..1, NaN where
 * the forecast has no value, and threshold(threshold) in dBZ. */
#include <getopt.h>
#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "impa/cli.h"
#include "impa/prob.h"

#define CHECK(call, what)                                                              \
    do {                                                                               \
        int st_ = (call);                                                              \
        if (st_ != NC_NOERR) {                                                         \
            fprintf(stderr, "impa-prob: %s: %s\n", what, nc_strerror(st_));            \
            goto done;                                                                 \
        }                                                                              \
    } while (0)

static void usage(FILE *f)
{
    fprintf(f, "Usage: impa-prob --table T --input IN.nc --output OUT.nc\n"
               "         [--thresholds 35,45] [--step-min MIN (10)] [--pixel-km KM (1)]\n"
               "       impa-prob --version | --help\n"
               "  dbz(sample,lead,y,x) dBZ -> prob(sample,threshold,lead,y,x) 0..1\n");
}

static int parse_thresholds(const char *s, float *thr, int *n)
{
    *n = 0;
    while (*s) {
        char *end;
        float v = strtof(s, &end);
        if (end == s || !isfinite(v) || *n >= IMPA_PROB_MAX_THRESHOLDS)
            return -1;
        thr[(*n)++] = v;
        s = end;
        if (*s == ',')
            s++;
        else if (*s)
            return -1;
    }
    return *n ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *in = NULL, *outpath = NULL, *tpath = NULL;
    float thr[IMPA_PROB_MAX_THRESHOLDS] = {35.0f, 45.0f};
    int n_thr = 2, step = 10;
    double pixel_km = 1.0;
    static const struct option longopts[] = {
        {"input", required_argument, NULL, 'i'},      {"output", required_argument, NULL, 'o'},
        {"table", required_argument, NULL, 'T'},      {"thresholds", required_argument, NULL, 't'},
        {"step-min", required_argument, NULL, 's'},   {"pixel-km", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},             {"version", no_argument, NULL, IMPA_CLI_VERSION},
        {NULL, 0, NULL, 0}};
    static const char *prog = "impa-prob";
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'i': in = optarg; break;
        case 'o': outpath = optarg; break;
        case 'T': tpath = optarg; break;
        case 't':
            if (parse_thresholds(optarg, thr, &n_thr))
                return impa_cli_usage_error(prog, "--thresholds: 1 to 4 numbers, comma-separated");
            break;
        case 's':
            if (impa_cli_int(prog, "--step-min", optarg, 1, 1440, &step))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case 'p': {
            char *end;
            pixel_km = strtod(optarg, &end);
            if (end == optarg || *end || !(pixel_km > 0) || !isfinite(pixel_km))
                return impa_cli_usage_error(prog, "--pixel-km: a number > 0");
            break;
        }
        default: return impa_cli_default(c, prog, usage);
        }
    }
    if (impa_cli_no_operands(prog, argc, argv))
        return IMPA_CLI_USAGE_EXIT;
    if (!in || !outpath || !tpath)
        return impa_cli_usage_error(prog, "--table, --input and --output are required");
    int rc = 1, ncid = -1, outid = -1, varid, dims[NC_MAX_VAR_DIMS], ndims;
    size_t len[4];
    float *x = NULL, *inp = NULL;
    size_t tin = 0;
    impa_prob_t *p = NULL;
    static impa_prob_table_t table;
    char err[512];
    if (impa_prob_table_load(tpath, &table, err, sizeof err)) {
        fprintf(stderr, "impa-prob: %s\n", err);
        return 1;
    }
    CHECK(nc_open(in, NC_NOWRITE, &ncid), in);
    if (nc_inq_varid(ncid, "dbz", &varid) != NC_NOERR) {
        fprintf(stderr, "impa-prob: %s: no variable 'dbz'\n", in);
        goto done;
    }
    CHECK(nc_inq_varndims(ncid, varid, &ndims), in);
    if (ndims != 4) {
        fprintf(stderr, "impa-prob: %s: 'dbz' has %d dimensions, expected (sample, lead, y, x)\n",
                in, ndims);
        goto done;
    }
    CHECK(nc_inq_vardimid(ncid, varid, dims), in);
    for (int i = 0; i < 4; i++)
        CHECK(nc_inq_dimlen(ncid, dims[i], &len[i]), in);
    size_t ns = len[0], nl = len[1], ny = len[2], nx = len[3], npix = ny * nx;
    x = malloc(sizeof(float) * ns * nl * npix);
    if (!x) {
        fprintf(stderr, "impa-prob: out of memory for %zu samples of %zux%zu\n", ns, ny, nx);
        goto done;
    }
    CHECK(nc_get_var_float(ncid, varid, x), in);
    int iv;
    if (nc_inq_varid(ncid, "inputs", &iv) == NC_NOERR) {
        int idims[NC_MAX_VAR_DIMS], ind;
        size_t il[4];
        CHECK(nc_inq_varndims(ncid, iv, &ind), in);
        if (ind == 4)
            CHECK(nc_inq_vardimid(ncid, iv, idims), in);
        for (int i = 0; ind == 4 && i < 4; i++)
            CHECK(nc_inq_dimlen(ncid, idims[i], &il[i]), in);
        if (ind != 4 || il[0] != ns || il[2] != ny || il[3] != nx || il[1] < 1 || il[1] > 64) {
            fprintf(stderr, "impa-prob: %s: 'inputs' is not (sample, t_in <= 64, y, x) of 'dbz'\n",
                    in);
            goto done;
        }
        tin = il[1];
        inp = malloc(sizeof(float) * ns * tin * npix);
        if (!inp) {
            fprintf(stderr, "impa-prob: out of memory for the inputs\n");
            goto done;
        }
        CHECK(nc_get_var_float(ncid, iv, inp), in);
    }
    if (impa_prob_create(&table, thr, n_thr, (int)nl, step, (int)ny, (int)nx, pixel_km, &p, err,
                         sizeof err)) {
        fprintf(stderr, "impa-prob: %s\n", err);
        goto done;
    }
    int d[5], ov, tv;
    CHECK(nc_create(outpath, NC_CLOBBER | NC_NETCDF4, &outid), outpath);
    CHECK(nc_def_dim(outid, "sample", ns, &d[0]), outpath);
    CHECK(nc_def_dim(outid, "threshold", (size_t)n_thr, &d[1]), outpath);
    CHECK(nc_def_dim(outid, "lead", nl, &d[2]), outpath);
    CHECK(nc_def_dim(outid, "y", ny, &d[3]), outpath);
    CHECK(nc_def_dim(outid, "x", nx, &d[4]), outpath);
    CHECK(nc_def_var(outid, "threshold", NC_FLOAT, 1, &d[1], &tv), outpath);
    CHECK(nc_put_att_text(outid, tv, "units", 3, "dBZ"), outpath);
    CHECK(nc_def_var(outid, "prob", NC_FLOAT, 5, d, &ov), outpath);
    const char *ln = "probability of reflectivity >= threshold";
    CHECK(nc_put_att_text(outid, ov, "long_name", strlen(ln), ln), outpath);
    CHECK(nc_put_att_text(outid, ov, "units", 1, "1"), outpath);
    CHECK(nc_put_att_text(outid, NC_GLOBAL, "calibration", strlen(table.name), table.name),
          outpath);
    CHECK(nc_enddef(outid), outpath);
    CHECK(nc_put_var_float(outid, tv, thr), outpath);
    for (size_t s = 0; s < ns; s++) {
        const impa_prob_field_t *f = NULL;
        const float *fr[64];
        for (size_t t = 0; t < tin; t++)
            fr[t] = inp + (s * tin + t) * npix;
        if (impa_prob_compute(p, x + s * nl * npix, inp ? fr : NULL, (int)tin, &f, err,
                              sizeof err)) {
            fprintf(stderr, "impa-prob: sample %zu: %s\n", s, err);
            goto done;
        }
        size_t start[5] = {s, 0, 0, 0, 0}, count[5] = {1, (size_t)n_thr, nl, ny, nx};
        CHECK(nc_put_vara_float(outid, ov, start, count, f->p), outpath);
    }
    rc = 0;
done:
    if (ncid >= 0)
        nc_close(ncid);
    if (outid >= 0 && nc_close(outid) != NC_NOERR)
        rc = 1;
    impa_prob_destroy(&p);
    free(x);
    free(inp);
    return rc;
}
