/* impa-bench: latency, GFLOP/s, workspace and peak RSS of the C engine.
 *
 *   impa-bench [--weights FILE] [--grid 256x256 ...] [--threads 2] [--runs 10]
 *
 * Per grid: one untimed warm-up forward, then --runs timed forwards on a fixed
 * pseudo-random normalised input. Prints a readable block and one
 * machine-readable line (grid=... threads=... median_s=... min_s=... gflops=...
 * peak_rss_mib=...). GFLOP/s = impa_engine_flops / median latency.
 *
 * Advection models (advection = 1) also need the optical-flow extrapolation of
 * the observed frames before each forward (impa/guided.h): it is timed apart,
 * on a synthetic moving echo (t_in frames), with the same threads, and reported
 * as extrap_median_s= (plus total_median_s= = forward + extrapolation); the
 * forward timing is the network alone, so GFLOP/s stay comparable. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>
#if IMPA_BENCH_OPENMP
#include <omp.h>
#endif

#include "impa/cli.h"
#include "impa/engine.h"
#include "impa/calibrate.h"
#include "impa/guided.h"
#include "impa_build_config.h"

#define MAX_GRIDS 16

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* "AMD EPYC 7763 64-Core Processor" from /proc/cpuinfo ("unknown" elsewhere). */
static void cpu_model(char *buf, size_t len)
{
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *v = strchr(line, ':');
            if (v) {
                v++;
                while (*v == ' ' || *v == '\t')
                    v++;
                v[strcspn(v, "\n")] = 0;
                snprintf(buf, len, "%s", v);
            }
            break;
        }
    }
    fclose(f);
}

/* Widest vector ISA the CPU offers (what the engine's dispatch can use). */
static const char *cpu_isa(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return "AVX-512";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "AVX2+FMA";
    if (__builtin_cpu_supports("avx"))
        return "AVX";
    return "SSE2";
#else
    return "unknown";
#endif
}

/* The machine's sgemm, measured in this run, for the engine's fraction of it.
 * conv: every 3x3 convolution of the forward as the GEMM it is (M = cout,
 * K = cin * 9, N = output pixels of an im2col tile of <= 64 Ki floats, the
 * shape the im2col engine called), `threads` threads each running its own
 * single-threaded GEMMs at once (the engine's threading); FLOP-weighted over
 * the forward's convolution FLOPs. best: each shape also as equal column
 * chunks within OpenBLAS's small-matrix threshold (M N K <= 100^3, its
 * SkylakeX/Cooperlake path, faster there), and the better of the two: the
 * most OpenBLAS does with that convolution as a GEMM, a stricter reference
 * than one tile (the engine itself no longer calls one tile's GEMM on
 * AVX-512: docs/engine.md, "Runtime ISA dispatch"). square: one 1024^3 product
 * through OpenBLAS's own threads, `threads` of them. */
typedef struct {
    int m, k, n;
    int chunk;    /* columns per call of the chunked timing (n: not chunked) */
    double flops; /* of this shape in one forward */
    double gflops, gflops_best;
} gemm_shape_t;

/* GFLOP/s of C[m][n] += A[m][k] B[k][n], `threads` threads each running its
 * own, in calls of `chunk` columns (chunk >= n: one call). */
static double time_gemm_shape(int m, int k, int n, int chunk, int threads, double min_s)
{
    double rate = 0.0;
    int nth = threads > 0 ? threads : 1;
#if IMPA_BENCH_OPENMP
#pragma omp parallel num_threads(nth) reduction(+ : rate)
#endif
    {
        float *a = malloc(sizeof(float) * (size_t)m * k), *b = malloc(sizeof(float) * (size_t)k * n),
              *c = malloc(sizeof(float) * (size_t)m * n);
        if (a && b && c) {
            for (size_t i = 0; i < (size_t)m * k; i++)
                a[i] = (float)(i % 7) * 0.1f;
            for (size_t i = 0; i < (size_t)k * n; i++)
                b[i] = (float)(i % 5) * 0.1f;
            memset(c, 0, sizeof(float) * (size_t)m * n);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 1.0f,
                        c, n);
            long reps = 0;
            double t0 = now_s(), dt;
            do {
                for (int r = 0; r < 8; r++)
                    for (int j0 = 0; j0 < n; j0 += chunk) {
                        int nc = n - j0 < chunk ? n - j0 : chunk;
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, nc, k, 1.0f, a,
                                    k, b + j0, n, 1.0f, c + j0, n);
                    }
                reps += 8;
                dt = now_s() - t0;
            } while (dt < min_s);
            rate = 2.0 * m * k * (double)n * reps / dt;
        }
        free(a);
        free(b);
        free(c);
    }
    (void)nth;
    return rate * 1e-9;
}

static double square_sgemm(int threads)
{
    int n = 1024;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n),
          *c = malloc(sizeof(float) * n * n);
    double g = 0.0;
    if (a && b && c) {
        for (int i = 0; i < n * n; i++) {
            a[i] = (float)(i % 7) * 0.1f;
            b[i] = (float)(i % 5) * 0.1f;
            c[i] = 0.0f;
        }
        openblas_set_num_threads(threads > 0 ? threads : 1);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double best = 1e30;
        for (int r = 0; r < 5; r++) {
            double t0 = now_s();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f,
                        c, n);
            double dt = now_s() - t0;
            if (dt < best)
                best = dt;
        }
        g = 2.0 * n * n * (double)n / best * 1e-9;
        openblas_set_num_threads(1); /* the engine's setting */
    }
    free(a);
    free(b);
    free(c);
    return g;
}

/* The six 3x3 convolutions of docs/model.md at grid ny x nx: shapes and the
 * FLOPs they carry in one forward (frames F through the encoder, t_out leads
 * through the decoder). Returns the FLOP-weighted sgemm GFLOP/s of one tile's
 * GEMM, and in *best that of the better of one tile and its small-path chunks. */
static double conv_sgemm(const impa_model_info_t *mi, int F, int ny, int nx, int threads,
                         gemm_shape_t *sh, double *best)
{
    int C = mi->n_fields, S = mi->hid_s, To = mi->t_out;
    struct {
        int cout, cin, hout, wout, times;
    } L[6] = {
        {S, C, ny, nx, F},             /* enc.0 */
        {S, S, ny / 2, nx / 2, F},     /* enc.1 (stride 2) */
        {S, S, ny / 4, nx / 4, F},     /* enc.2 (stride 2) */
        {4 * S, S, ny / 4, nx / 4, To}, /* dec.0 */
        {4 * S, S, ny / 2, nx / 2, To}, /* dec.1 */
        {S, S, ny, nx, To},            /* dec.2 */
    };
    double flops = 0.0, t = 0.0, tb = 0.0;
    for (int i = 0; i < 6; i++) {
        int k = L[i].cin * 9, rows = 65536 / (k * L[i].wout);
        if (rows < 1)
            rows = 1;
        if (rows > L[i].hout)
            rows = L[i].hout;
        sh[i].m = L[i].cout;
        sh[i].k = k;
        sh[i].n = rows * L[i].wout;
        sh[i].flops = 2.0 * L[i].cout * k * (double)L[i].hout * L[i].wout * L[i].times;
        sh[i].gflops = time_gemm_shape(sh[i].m, k, sh[i].n, sh[i].n, threads, 0.15);
        /* equal chunks, a multiple of 16 columns, at most 100^3 / (M K) (the engine's
         * conv_gemm rule, not below 64 columns) */
        long cmax = 1000000L / ((long)sh[i].m * k) / 16 * 16;
        sh[i].chunk = sh[i].n;
        if ((long)sh[i].n > cmax && cmax >= 64) {
            long nch = (sh[i].n + cmax - 1) / cmax;
            sh[i].chunk = (int)(((sh[i].n + nch - 1) / nch + 15) / 16 * 16);
        }
        sh[i].gflops_best = sh[i].gflops;
        if (sh[i].chunk < sh[i].n) {
            double g = time_gemm_shape(sh[i].m, k, sh[i].n, sh[i].chunk, threads, 0.15);
            if (g > sh[i].gflops_best)
                sh[i].gflops_best = g;
        }
        flops += sh[i].flops;
        t += sh[i].flops / (sh[i].gflops * 1e9);
        tb += sh[i].flops / (sh[i].gflops_best * 1e9);
    }
    *best = flops / tb * 1e-9;
    return flops / t * 1e-9;
}


/* CPU seconds of the whole process (all threads): on a shared, loaded machine
 * this moves less than the wall clock and shows the work itself. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* "1.23 0.98 0.77" from /proc/loadavg: other work on the machine skews every figure. */
static const char *loadavg_str(void)
{
    static char buf[64] = "unknown";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fgets(buf, sizeof buf, f)) {
            char *p = buf;
            for (int i = 0; i < 3 && p; i++)
                p = strchr(p + (i > 0), ' ');
            if (p)
                *p = 0;
        }
        fclose(f);
    }
    return buf;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Median seconds of impa_guided_extrapolate (one warm-up, then `runs`) on t_in
 * frames of an echo moving 1.5 cells a step, through the guided helper the
 * daemon uses. times: scratch of `runs`. */
/* The calibration of the t_out leads (impa_guided_forecast's last step), timed
 * on the extrapolated frames raised by 5 dB as the forecast to match. */
static int bench_calibration(const float *ext, int t_out, size_t hw, int runs, double *times,
                             double *med, char *err, size_t errlen)
{
    impa_calib_t *c = NULL;
    float *f = malloc(sizeof(float) * (size_t)t_out * hw);
    int rc = f ? impa_calib_create(0.0f, 70.0f, 0.01f, &c, err, errlen)
               : impa_err(err, errlen, IMPA_ENOMEM, "out of memory");
    for (int r = 0; r < runs && rc == 0; r++) {
        for (size_t i = 0; i < (size_t)t_out * hw; i++)
            f[i] = ext[i] + 5.0f;
        double t0 = now_s();
        for (int k = 0; k < t_out && rc == 0; k++)
            rc = impa_calib_match(c, f + (size_t)k * hw, ext + (size_t)k * hw, hw, NULL, err,
                                  errlen);
        times[r] = now_s() - t0;
    }
    if (rc == 0)
        *med = median(times, runs);
    impa_calib_destroy(&c);
    free(f);
    return rc;
}

static int bench_extrapolation(impa_engine_t *eng, int threads, int runs, double *times,
                               double *med, double *cal_med, char *err, size_t errlen)
{
    const impa_model_info_t *info = impa_engine_info(eng);
    int ny, nx;
    impa_engine_grid(eng, &ny, &nx);
    size_t hw = (size_t)ny * nx;
    float *obs = malloc(sizeof(float) * (size_t)info->t_in * hw);
    const float *fr[64];
    impa_guided_t *g = NULL;
    if (!obs)
        return impa_err(err, errlen, IMPA_ENOMEM, "out of memory");
    for (int t = 0; t < info->t_in && t < 64; t++) {
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++) {
                double u = (x - 1.5 * t) * 0.05, v = (y - 0.75 * t) * 0.07;
                obs[(size_t)t * hw + (size_t)y * nx + x] =
                    (float)(25.0 + 25.0 * sin(u) * cos(v) + 10.0 * sin(3.1 * u + 1.7 * v));
            }
        fr[t] = obs + (size_t)t * hw;
    }
    int rc = impa_guided_create(eng, NULL, threads, &g, err, errlen);
    if (rc == 0)
        rc = impa_guided_extrapolate(g, fr, err, errlen); /* warm-up */
    for (int r = 0; r < runs && rc == 0; r++) {
        double t0 = now_s();
        rc = impa_guided_extrapolate(g, fr, err, errlen);
        times[r] = now_s() - t0;
    }
    if (rc == 0)
        *med = median(times, runs);
    if (rc == 0)
        rc = bench_calibration(impa_guided_extrapolation(g), info->t_out, hw, runs, times,
                               cal_med, err, errlen);
    impa_guided_destroy(&g);
    free(obs);
    return rc;
}

/* The daemon's windowed forward (model.tile, model.tile_overlap) on the same
 * input, right after the whole-grid one (whole_s, its median): median time,
 * windows' GFLOP (the overlap counted), and the ratio of the daemon's forecast
 * (extrapolation + windows + calibration, extra_s the first and last) to one
 * whole-grid forward (whole_gflop its FLOPs), the figure issue 19 asks to bring
 * to <= 1.3. Also the CPU time per windowed forward against the whole grid's
 * (whole_cpu_s): on a shared machine it moves less with the other work. */
static int bench_tiled(const impa_model_t *model, int ny, int nx, int tile, int overlap,
                       int threads, int runs, const float *in, float *out, double whole_s,
                       double whole_cpu_s, double whole_gflop, double extra_s, double *times,
                       double *cpus)
{
    char err[512];
    impa_engine_t *t = NULL;
    int rc = impa_engine_create_tiled(model, ny, nx, tile, overlap, threads, &t, err, sizeof err);
    if (rc == 0)
        rc = impa_engine_forward(t, in, out, err, sizeof err); /* warm-up */
    for (int r = 0; r < runs && rc == 0; r++) {
        double t0 = now_s(), c0 = cpu_s();
        rc = impa_engine_forward(t, in, out, err, sizeof err);
        times[r] = now_s() - t0;
        cpus[r] = cpu_s() - c0;
    }
    if (rc) {
        fprintf(stderr, "impa-bench: windows %d/%d: %s\n", tile, overlap, err);
        impa_engine_destroy(&t);
        return 1;
    }
    double med = median(times, runs), cpu = median(cpus, runs);
    double gflop = impa_engine_flops(t) * 1e-9;
    printf("  windows %dx%d overlap %d (the daemon's forward), same run: median %.4f s, "
           "%.2f GFLOP (%.2fx the whole grid's); %.2fx the whole-grid forward; daemon "
           "forecast (extrapolation + windows + calibration) %.4f s = %.2fx one whole-grid "
           "forward\n", tile, tile, overlap, med, gflop,
           gflop / whole_gflop,
           med / whole_s, med + extra_s, (med + extra_s) / whole_s);
    printf("  windows: CPU time median %.4f s (all threads) = %.2fx the whole-grid forward's\n",
           cpu, cpu / whole_cpu_s);
    printf("grid=%dx%d tile=%d tile_overlap=%d tiled_median_s=%.4f tiled_gflop=%.3f "
           "tiled_over_whole=%.3f cycle_over_whole=%.3f tiled_cpu_s=%.4f "
           "tiled_cpu_over_whole=%.3f\n", ny, nx, tile, overlap, med, gflop,
           med / whole_s, (med + extra_s) / whole_s, cpu, cpu / whole_cpu_s);
    fflush(stdout);
    impa_engine_destroy(&t);
    return 0;
}

/* Per-stage medians of n runs' stage times (each field sorted on its own;
 * the runs of one forward vary together on a loaded machine, the median of
 * each stage is steadier than the last run). Sorts in place. */
static void stage_medians(impa_stage_times_t *st, int n, impa_stage_times_t *out)
{
    double v[5][1024];
    int m = n < 1024 ? n : 1024;
    for (int i = 0; i < m; i++) {
        v[0][i] = st[i].encoder_s;
        v[1][i] = st[i].translator_s;
        v[2][i] = st[i].decoder_s;
        v[3][i] = st[i].conv_s;
        v[4][i] = st[i].elementwise_s;
    }
    double med[5];
    for (int k = 0; k < 5; k++) {
        qsort(v[k], (size_t)m, sizeof(double), cmp_double);
        med[k] = m % 2 ? v[k][m / 2] : 0.5 * (v[k][m / 2 - 1] + v[k][m / 2]);
    }
    out->encoder_s = med[0];
    out->translator_s = med[1];
    out->decoder_s = med[2];
    out->conv_s = med[3];
    out->elementwise_s = med[4];
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: impa-bench [--weights FILE] [--grid NYxNX]... [--threads N] "
               "[--runs N] [--tile N [--tile-overlap N]] [--kernels NAME]\n"
               "       impa-bench --version | --help\n"
               "  default weights: %s/impa-net.nc (from a checkout: --weights models/impa-net.nc)\n"
               "  default grids: 256x256 and 512x512; threads 2; runs 10\n"
               "  --tile N: also time the forward on N x N windows (the daemon's model.tile,\n"
               "    overlap --tile-overlap, default 32) in the same run, and its ratio to the\n"
               "    whole-grid forward\n"
               "  --kernels NAME: the engine's kernel variant (generic, avx2, avx512; default:\n"
               "    the best this CPU has), e.g. the AVX2 path on an AVX-512 machine\n",
            IMPA_MODELDIR);
}

int main(int argc, char **argv)
{
    char default_weights[4096];
    const char *weights = NULL;
    int grids[MAX_GRIDS][2], ngrids = 0, threads = 2, runs = 10, tile = 0, overlap = 32;
    static const struct option longopts[] = {
        {"weights", required_argument, NULL, 'w'}, {"grid", required_argument, NULL, 'g'},
        {"threads", required_argument, NULL, 't'}, {"runs", required_argument, NULL, 'r'},
        {"tile", required_argument, NULL, 'T'},    {"tile-overlap", required_argument, NULL, 'O'},
        {"kernels", required_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},          {"version", no_argument, NULL, IMPA_CLI_VERSION},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'w': weights = optarg; break;
        case 'g':
            if (ngrids == MAX_GRIDS || sscanf(optarg, "%dx%d", &grids[ngrids][0], &grids[ngrids][1]) != 2)
                return impa_cli_usage_error("impa-bench", "bad --grid '%s' (NYxNX, at most %d)", optarg,
                                            MAX_GRIDS);
            ngrids++;
            break;
        case 't':
            if (impa_cli_int("impa-bench", "--threads", optarg, 0, 1024, &threads))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case 'r':
            if (impa_cli_int("impa-bench", "--runs", optarg, 1, 100000, &runs))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case 'T':
            if (impa_cli_int("impa-bench", "--tile", optarg, 0, 16384, &tile))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case 'O':
            if (impa_cli_int("impa-bench", "--tile-overlap", optarg, 0, 8192, &overlap))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case 'K':
            if (impa_engine_set_kernel_isa(optarg) != 0)
                return impa_cli_usage_error("impa-bench",
                                            "--kernels '%s': not a variant of this build and "
                                            "CPU (generic, avx2, avx512)", optarg);
            break;
        default: return impa_cli_default(c, "impa-bench", usage);
        }
    }
    if (impa_cli_no_operands("impa-bench", argc, argv))
        return IMPA_CLI_USAGE_EXIT;
    if (!weights) {
        /* The installed model: no build-tree path is compiled into the program. */
        snprintf(default_weights, sizeof(default_weights), "%s/impa-net.nc", IMPA_MODELDIR);
        weights = default_weights;
    }
    if (ngrids == 0) {
        grids[0][0] = grids[0][1] = 256;
        grids[1][0] = grids[1][1] = 512;
        ngrids = 2;
    }

    char err[512];
    impa_model_t *model = NULL;
    int rc = impa_model_load(weights, &model, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "impa-bench: %s\n", err);
        return 1;
    }
    const impa_model_info_t *info = impa_model_info(model);
    printf("weights: %s (sha256 %.12s, %s %s)\n", weights, info->sha256, info->model_name,
           info->model_version);
    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    printf("machine: %s, %s, %ld online CPUs, load average %s; OpenBLAS core %s (%s); engine "
           "kernels %s\n", cpu, cpu_isa(), sysconf(_SC_NPROCESSORS_ONLN), loadavg_str(),
           impa_engine_blas_core(), impa_engine_blas_config(), impa_engine_kernel_isa());
    double *times = malloc(sizeof(double) * (size_t)runs);
    double *cpus = malloc(sizeof(double) * (size_t)runs);
    impa_stage_times_t *stages = malloc(sizeof(*stages) * (size_t)runs);
    if (!times || !cpus || !stages) {
        free(times);
        free(cpus);
        free(stages);
        impa_model_destroy(&model);
        return 1;
    }
    int status = 0;
    for (int g = 0; g < ngrids; g++) {
        int ny = grids[g][0], nx = grids[g][1];
        impa_engine_t *eng = NULL;
        rc = impa_engine_create(model, ny, nx, threads, &eng, err, sizeof(err));
        if (rc) {
            fprintf(stderr, "impa-bench: %s\n", err);
            status = 1;
            continue;
        }
        size_t nin = (size_t)impa_engine_input_frames(eng) * info->n_fields * ny * nx;
        size_t nout = (size_t)info->t_out * ny * nx;
        float *in = malloc(nin * sizeof(float)), *out = malloc(nout * sizeof(float));
        if (!in || !out) {
            free(in);
            free(out);
            impa_engine_destroy(&eng);
            status = 1;
            continue;
        }
        uint32_t s = 12345u;
        for (size_t i = 0; i < nin; i++) {
            s = s * 1664525u + 1013904223u;
            in[i] = (float)(s >> 8) / 16777216.0f;
        }
        /* advection: the extrapolation step, timed apart */
        double ext_med = 0, cal_med = 0;
        if (info->advection) {
            rc = bench_extrapolation(eng, threads, runs, times, &ext_med, &cal_med, err,
                                     sizeof(err));
            if (rc) {
                fprintf(stderr, "impa-bench: %s\n", err);
                status = 1;
                free(in);
                free(out);
                impa_engine_destroy(&eng);
                continue;
            }
        }
        rc = impa_engine_forward(eng, in, out, err, sizeof(err)); /* warm-up */
        for (int r = 0; r < runs && rc == 0; r++) {
            double t0 = now_s(), c0 = cpu_s();
            rc = impa_engine_forward(eng, in, out, err, sizeof(err));
            times[r] = now_s() - t0;
            cpus[r] = cpu_s() - c0;
            impa_engine_stage_times(eng, &stages[r]);
        }
        if (rc) {
            fprintf(stderr, "impa-bench: %s\n", err);
            status = 1;
        } else {
            qsort(times, (size_t)runs, sizeof(double), cmp_double);
            qsort(cpus, (size_t)runs, sizeof(double), cmp_double);
            double cpu_med = runs % 2 ? cpus[runs / 2]
                                      : 0.5 * (cpus[runs / 2 - 1] + cpus[runs / 2]);
            double med = runs % 2 ? times[runs / 2]
                                  : 0.5 * (times[runs / 2 - 1] + times[runs / 2]);
            double gflop = impa_engine_flops(eng) * 1e-9;
            struct rusage ru;
            getrusage(RUSAGE_SELF, &ru);
            double rss_mib = (double)ru.ru_maxrss / 1024.0;
            double ws_mib = (double)impa_engine_workspace_bytes(eng) / (1024.0 * 1024.0);
            printf("grid %dx%d: OpenBLAS core %s, threads %d, workspace %.1f MiB\n", ny, nx,
                   impa_engine_blas_core(), impa_engine_threads(eng), ws_mib);
            printf("  latency median %.4f s, min %.4f s over %d runs (CPU time median %.4f s, "
                   "all threads); %.2f GFLOP/forward, %.1f GFLOP/s; peak RSS %.1f MiB\n",
                   med, times[0], runs, cpu_med, gflop, gflop / med, rss_mib);
            impa_stage_times_t st;
            stage_medians(stages, runs, &st);
            int nth = impa_engine_threads(eng);
            printf("  stages (median of the runs): encoder %.4f s, translator %.4f s, decoder %.4f s; "
                   "inside encoder + decoder: convolutions %.4f s, element-wise (norms, "
                   "activations, shuffles, residual) %.4f s (thread-seconds / %d threads)\n",
                   st.encoder_s, st.translator_s, st.decoder_s, st.conv_s / nth,
                   st.elementwise_s / nth, nth);
            gemm_shape_t sh[6];
            double g_best;
            double g_conv = conv_sgemm(info, impa_engine_input_frames(eng), ny, nx, nth, sh,
                                       &g_best);
            double g_sq = square_sgemm(nth);
            printf("  sgemm, same run, %d threads: conv shapes %.1f GFLOP/s (", nth, g_conv);
            for (int i = 0; i < 6; i++)
                printf("%s%dx%dx%d %.1f", i ? ", " : "", sh[i].m, sh[i].k, sh[i].n, sh[i].gflops);
            printf("), square 1024^3 %.1f GFLOP/s\n", g_sq);
            printf("  sgemm on the conv shapes, the better of one tile and small-path column "
                   "chunks: %.1f GFLOP/s (", g_best);
            for (int i = 0; i < 6; i++)
                printf("%s%dx%dx%d%s %.1f", i ? ", " : "", sh[i].m, sh[i].k, sh[i].n,
                       sh[i].chunk < sh[i].n ? "/chunks" : "", sh[i].gflops_best);
            printf(")\n");
            printf("  engine %.1f GFLOP/s (median) = %.0f %% of sgemm on the conv shapes, "
                   "%.0f %% of the square sgemm, %.0f %% of the best conv-shape sgemm\n",
                   gflop / med, 100.0 * gflop / med / g_conv, 100.0 * gflop / med / g_sq,
                   100.0 * gflop / med / g_best);
            if (info->advection)
                printf("  advection: extrapolation (%d frames, the network input) median %.4f s, "
                       "calibration of the %d leads %.4f s, forecast (extrapolation + forward "
                       "+ calibration) %.4f s\n", info->t_out, ext_med, info->t_out, cal_med,
                       ext_med + med + cal_med);
            printf("grid=%dx%d threads=%d median_s=%.4f min_s=%.4f gflops=%.1f "
                   "peak_rss_mib=%.1f workspace_mib=%.1f gflop=%.3f cpu_s=%.4f core=%s",
                   ny, nx, impa_engine_threads(eng), med, times[0], gflop / med, rss_mib,
                   ws_mib, gflop, cpu_med, impa_engine_blas_core());
            printf(" sgemm_conv_gflops=%.1f sgemm_square_gflops=%.1f frac_conv=%.3f "
                   "frac_square=%.3f sgemm_conv_best_gflops=%.1f frac_conv_best=%.3f enc_s=%.4f trans_s=%.4f dec_s=%.4f elem_s=%.4f isa=%s "
                   "kernels=%s",
                   g_conv, g_sq, gflop / med / g_conv, gflop / med / g_sq, g_best,
                   gflop / med / g_best, st.encoder_s,
                   st.translator_s, st.decoder_s, st.elementwise_s / nth, cpu_isa(),
                   impa_engine_kernel_isa());
            if (info->advection)
                printf(" advection=1 extrap_median_s=%.4f calib_median_s=%.4f "
                       "total_median_s=%.4f", ext_med, cal_med, ext_med + med + cal_med);
            if (info->norm_local || info->se_window)
                printf(" norm_local=%d se_window=%d", info->norm_local, info->se_window);
            printf("\n");
            fflush(stdout);
            if (tile > 0)
                status |= bench_tiled(model, ny, nx, tile, overlap, threads, runs, in, out, med,
                                      cpu_med, gflop, ext_med + cal_med, times, cpus);
        }
        free(in);
        free(out);
        impa_engine_destroy(&eng);
    }
    free(times);
    free(cpus);
    free(stages);
    impa_model_destroy(&model);
    return status;
}
