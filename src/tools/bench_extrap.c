/* impa-bench-extrap: timing of motion estimation and extrapolation on a synthetic
 * field (Gaussian cells on a dry background translating at a known velocity).
 *   impa-bench-extrap [--grid 512x512] [--leads 12] [--threads 2] [--runs 7]
 *                     [--scheme impa-extrap-3 (default, the best measured) | -1 | -2]
 *                     [--prob TABLE: also the exceedance probabilities (impa/prob.h) of
 *                      the forecast, 35 and 45 dBZ, 1 km cells, timed in the same runs]
 * train/impa/compare.py --bench times pySTEPS on the same field (same formula). */
#include "impa/cli.h"
#include "impa/extrapolate.h"
#include "impa/prob.h"
#include "impa/timeutil.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Deterministic field of storm cells, shifted by (sx, sy) cells. */
static void synth(float *f, int ny, int nx, float sx, float sy)
{
    static const float cx[] = {0.2f, 0.45f, 0.7f, 0.3f, 0.6f, 0.8f, 0.5f};
    static const float cy[] = {0.3f, 0.5f, 0.25f, 0.7f, 0.75f, 0.55f, 0.15f};
    static const float rad[] = {0.06f, 0.09f, 0.05f, 0.08f, 0.04f, 0.07f, 0.05f};
    for (int y = 0; y < ny; y++)
        for (int x = 0; x < nx; x++) {
            double z = 0;
            for (int k = 0; k < 7; k++) {
                double dx = (x - sx) - cx[k] * nx, dy = (y - sy) - cy[k] * ny;
                double r = rad[k] * nx;
                z += pow(10.0, 5.0) * exp(-(dx * dx + dy * dy) / (2 * r * r));
            }
            f[(size_t)y * nx + x] = z > 1 ? (float)(10 * log10(z)) : -32.f;
        }
}

/* CPU seconds of the whole process: on a shared machine, where wall time
 * measures the neighbours as much as the code, this is the stable figure. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: impa-bench-extrap [--grid 512x512] [--leads 12] [--threads 2] [--runs 7]\n"
               "                         [--scheme impa-extrap-3 (default) | impa-extrap-1 | -2]\n"
               "                         [--prob TABLE (models/prob-calibration.txt)]\n"
               "       impa-bench-extrap --version | --help\n"
               "Times motion estimation and the extrapolation of LEADS frames on a synthetic\n"
               "field of storm cells translating at a known velocity.\n");
}

int main(int argc, char **argv)
{
    int ny = 512, nx = 512, leads = 12, threads = 2, runs = 7, scheme = IMPA_EXTRAP_BEST;
    const char *prob_table = NULL;
    static const struct option longopts[] = {
        {"grid", required_argument, NULL, 'g'},    {"leads", required_argument, NULL, 'l'},
        {"threads", required_argument, NULL, 't'}, {"runs", required_argument, NULL, 'r'},
        {"scheme", required_argument, NULL, 's'},  {"prob", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},          {"version", no_argument, NULL, IMPA_CLI_VERSION},
        {NULL, 0, NULL, 0}};
    static const char *prog = "impa-bench-extrap";
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'g':
            if (sscanf(optarg, "%dx%d", &ny, &nx) != 2 || ny < 8 || nx < 8)
                return impa_cli_usage_error(prog, "--grid wants HxW, sides >= 8: '%s'", optarg);
            break;
        case 'l':
            if (impa_cli_int(prog, "--leads", optarg, 1, 1000, &leads))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case 't':
            if (impa_cli_int(prog, "--threads", optarg, 0, 1024, &threads))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case 's':
            if (impa_extrap_scheme_parse(optarg, &scheme))
                return impa_cli_usage_error(prog, "--scheme: impa-extrap-1, -2 or -3");
            break;
        case 'p': prob_table = optarg; break;
        case 'r':
            if (impa_cli_int(prog, "--runs", optarg, 1, 100, &runs))
                return IMPA_CLI_USAGE_EXIT;
            break;
        default: return impa_cli_default(c, prog, usage);
        }
    }
    if (impa_cli_no_operands(prog, argc, argv))
        return IMPA_CLI_USAGE_EXIT;
    const float su = 3.0f, sv = -2.0f; /* true motion, cells per step */
    size_t n = (size_t)ny * nx;
    impa_extrap_opts_t o = impa_extrap_opts_scheme((impa_extrap_scheme_t)scheme);
    o.threads = threads;
    int nf = o.n_frames < 8 ? o.n_frames : 8;
    float *fr[8], *out = malloc(sizeof(float) * n * (size_t)leads);
    for (int k = 0; k < nf; k++) {
        fr[k] = malloc(sizeof(float) * n);
        if (!fr[k] || !out) {
            fprintf(stderr, "impa-bench-extrap: out of memory\n");
            return 1;
        }
        synth(fr[k], ny, nx, su * k, sv * k);
    }
    impa_extrap_t *ex = NULL;
    char err[256];
    if (impa_extrap_create(ny, nx, leads, &o, &ex, err, sizeof err) < 0) {
        fprintf(stderr, "impa-bench-extrap: %s\n", err);
        return 1;
    }
    impa_prob_t *pr = NULL;
    if (prob_table) {
        static impa_prob_table_t table;
        static const float thr[2] = {35.0f, 45.0f};
        if (impa_prob_table_load(prob_table, &table, err, sizeof err) ||
            impa_prob_create(&table, thr, 2, leads, 10, ny, nx, 1.0, &pr, err, sizeof err)) {
            fprintf(stderr, "impa-bench-extrap: %s\n", err);
            return 1;
        }
    }
    double tm[100], ta[100], tt[100], tc[100], tp[100];
    for (int r = 0; r < runs; r++) {
        double c0 = cpu_now();
        double t0 = impa_time_monotonic();
        if (impa_extrap_motion(ex, (const float *const *)fr, nf, err, sizeof err) < 0) {
            fprintf(stderr, "impa-bench-extrap: %s\n", err);
            return 1;
        }
        double t1 = impa_time_monotonic();
        if (impa_extrap_forecast(ex, fr[nf - 1], leads, out, err, sizeof err) < 0) {
            fprintf(stderr, "impa-bench-extrap: %s\n", err);
            return 1;
        }
        double t2 = impa_time_monotonic();
        if (pr) {
            const impa_prob_field_t *pf = NULL;
            if (impa_prob_compute(pr, out, (const float *const *)fr, nf, &pf, err, sizeof err)) {
                fprintf(stderr, "impa-bench-extrap: %s\n", err);
                return 1;
            }
        }
        tp[r] = impa_time_monotonic() - t2;
        tm[r] = t1 - t0;
        ta[r] = t2 - t1;
        tt[r] = t2 - t0;
        tc[r] = cpu_now() - c0;
    }
    /* motion error over the central half, where the field has echo or not */
    const float *u, *v;
    impa_extrap_get_motion(ex, &u, &v);
    double eu = 0, ev = 0;
    size_t cnt = 0;
    for (int y = ny / 4; y < 3 * ny / 4; y++)
        for (int x = nx / 4; x < 3 * nx / 4; x++) {
            eu += u[(size_t)y * nx + x];
            ev += v[(size_t)y * nx + x];
            cnt++;
        }
    qsort(tm, (size_t)runs, sizeof(double), cmp_d);
    qsort(ta, (size_t)runs, sizeof(double), cmp_d);
    qsort(tt, (size_t)runs, sizeof(double), cmp_d);
    qsort(tc, (size_t)runs, sizeof(double), cmp_d);
    qsort(tp, (size_t)runs, sizeof(double), cmp_d);
    printf("grid %dx%d, %d leads, %d threads, %d runs, %d input frames, %s\n", ny, nx, leads,
           threads, runs, nf, impa_extrap_scheme_name(scheme));
    printf("motion:        median %.4f s  min %.4f s\n", tm[runs / 2], tm[0]);
    printf("extrapolation: median %.4f s  min %.4f s\n", ta[runs / 2], ta[0]);
    printf("total:         median %.4f s  min %.4f s\n", tt[runs / 2], tt[0]);
    printf("cpu (all threads): median %.4f s  min %.4f s\n", tc[runs / 2], tc[0]);
    printf("mean motion (centre) u=%.3f v=%.3f cells/step (truth %.1f %.1f)\n", eu / cnt,
           ev / cnt, su, sv);
    printf("extrap grid=%dx%d leads=%d threads=%d motion_s=%.4f advect_s=%.4f total_s=%.4f "
           "cpu_s=%.4f\n",
           ny, nx, leads, threads, tm[runs / 2], ta[runs / 2], tt[runs / 2], tc[runs / 2]);
    if (pr)
        printf("probability (2 thresholds, same runs): median %.4f s  min %.4f s  = %.1f %% of "
               "the extrapolation forecast (motion + advection), memory %.1f MiB\n",
               tp[runs / 2], tp[0], 100.0 * tp[runs / 2] / tt[runs / 2],
               (double)impa_prob_memory(pr) / (1024.0 * 1024.0));
    impa_prob_destroy(&pr);
    impa_extrap_destroy(&ex);
    for (int k = 0; k < nf; k++)
        free(fr[k]);
    free(out);
    return 0;
}
