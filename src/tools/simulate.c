/* impa-simulate: writes synthetic but plausible radar reflectivity scans as CF-1.8
 * NetCDF files, one per time step, for the demo, the end-to-end test and for
 * feeding a daemon when no radar is at hand (documented in docs/deploy.md).
 *
 * The weather is a pure function of (seed, time, grid, start): the file for a
 * given valid time is the same whatever --count, --pace or the order in which
 * scans are produced, so a run can be resumed or replayed exactly. Nothing is
 * carried from one scan to the next except the clock.
 *
 * Field model (all in linear reflectivity Z = 10^(dBZ/10), summed, then dBZ):
 *   - stratiform rain: 3-D value noise (x, y, slow time) advected by the mean
 *     wind; where the noise exceeds a threshold it maps to 15..35 dBZ;
 *   - ordinary convective cells spawned at random (per 20-minute slot, hashed
 *     from the seed), each with its own motion (mean wind + deviation), a
 *     lifetime of 40..120 min, growth and decay (sin-shaped) and a Gaussian
 *     core of 48..60 dBZ at maturity, elongated along its motion;
 *   - two long-lived "lead" storms alive at any time, born every 90 min and
 *     crossing the radar in 3 h, with 25-minute ramps: at every time at least one
 *     mature core >= 50 dBZ is inside radar range (the demo and the e2e test rely
 *     on >= 45 dBZ alerts);
 *   - +-2 dB of small-scale texture (6 km value noise) carried by the wind;
 *   - a circular coverage mask: outside the radar range the value is _FillValue.
 * Pixels below the 8 dBZ noise floor are written as -32 dBZ ("no echo": valid,
 * dry), which is what IMPA_DBZ_NO_ECHO means to the reader. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netcdf.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "impa/cli.h"
#include "impa/error.h"
#include "impa/timeutil.h"
#include "impa_build_config.h"

#define SIM_NO_ECHO_DBZ (-32.0)
#define SIM_NOISE_FLOOR_DBZ 8.0
#define SIM_FILL ((short)-32768)
#define SIM_SCALE 0.01f       /* packed short = dBZ / 0.01: 0.01 dB resolution */
#define SIM_SLOT_S 1200       /* convective spawning slot (20 min) */
#define SIM_MAX_LIFE_S 7200   /* longest ordinary cell: slots further back are dead */
#define SIM_LEAD_LIFE_S 10800 /* lead storm lifecycle (3 h), two offset by half */
#define SIM_MAX_CELLS 128
#define SIM_T_REF 1577836800 /* 2020-01-01: origin of all phases, keeps the weather
                              * at a valid time independent of --start */
#define SIM_EARTH_RADIUS_M 6371007.181 /* authalic sphere: LAEA is equal-area */

typedef struct {
    char out_dir[PATH_MAX];
    uint64_t seed;
    int step_min;
    int64_t start;
    int start_now;   /* --start now: anchor the burst so its last scan is "now" */
    int count;       /* 0 = until SIGINT/SIGTERM */
    double pace_s;   /* wall seconds between scans; 0 = as fast as possible */
    int burst;       /* first scans written without pausing (pre-seeds a window) */
    int nx, ny;
    double dx_km;
    double radar_lat, radar_lon;
    char prefix[64];
    int quiet;
} sim_opts_t;

/* Weather regime derived once from the seed. */
typedef struct {
    uint64_t seed;
    double u, v;         /* steering wind, m/s (x east, y north) */
    double range_m;      /* radar range: coverage circle radius */
    double half_x, half_y;
    int64_t t_ref;       /* fixed origin of advection and storm phases */
} sim_world_t;

/* A convective cell's state at one time, in metres and dBZ. */
typedef struct {
    double x, y;
    double peak_dbz;
    double sigma_m;
    double ca, sa;   /* unit vector of the long axis (along the cell's motion) */
    double aspect;   /* long/short axis ratio >= 1; the area stays pi*sigma^2 */
} sim_cell_t;

static volatile sig_atomic_t g_stop = 0;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* splitmix64 finaliser: a good 64-bit mixer, so hashing (seed, lattice index)
 * gives independent-looking values without storing any table. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* splitmix64 generator step: state advanced by the golden-ratio increment. */
static uint64_t rng_next(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15ULL;
    return mix64(*state);
}

/* Uniform in [0, 1). */
static double rng_unit(uint64_t *state)
{
    return (double)(rng_next(state) >> 11) * 0x1.0p-53;
}

static double rng_range(uint64_t *state, double lo, double hi)
{
    return lo + (hi - lo) * rng_unit(state);
}

/* Lattice value in [0, 1) at integer point (i, j, k) of noise layer `seed`. */
static double lattice(uint64_t seed, int64_t i, int64_t j, int64_t k)
{
    uint64_t h = mix64(seed ^ ((uint64_t)i * 0x9e3779b97f4a7c15ULL));
    h = mix64(h ^ ((uint64_t)j * 0xc2b2ae3d27d4eb4fULL));
    h = mix64(h ^ ((uint64_t)k * 0x165667b19e3779f9ULL));
    return (double)(h >> 11) * 0x1.0p-53;
}

static double smooth(double t)
{
    return t * t * (3.0 - 2.0 * t);
}

/* Value noise in 3-D with smoothstep interpolation: continuous, correlated over
 * about one lattice unit, unbounded domain (the field can be advected forever). */
static double value_noise3(uint64_t seed, double x, double y, double z)
{
    double fx = floor(x), fy = floor(y), fz = floor(z);
    int64_t i = (int64_t)fx, j = (int64_t)fy, k = (int64_t)fz;
    double tx = smooth(x - fx), ty = smooth(y - fy), tz = smooth(z - fz);
    double c[2];
    for (int dz = 0; dz < 2; dz++) {
        double a = lattice(seed, i, j, k + dz), b = lattice(seed, i + 1, j, k + dz);
        double cc = lattice(seed, i, j + 1, k + dz), d = lattice(seed, i + 1, j + 1, k + dz);
        double r0 = a + (b - a) * tx, r1 = cc + (d - cc) * tx;
        c[dz] = r0 + (r1 - r0) * ty;
    }
    return c[0] + (c[1] - c[0]) * tz;
}

/* Fractal sum of 4 octaves normalised to [0, 1]. */
static double fbm3(uint64_t seed, double x, double y, double z)
{
    double sum = 0.0, amp = 1.0, norm = 0.0;
    for (int o = 0; o < 4; o++) {
        sum += amp * value_noise3(seed + (uint64_t)o * 0x51ed2701ULL, x, y, z);
        norm += amp;
        amp *= 0.5;
        x *= 2.03;
        y *= 2.03;
        z *= 1.7;
    }
    return sum / norm;
}

static void world_init(sim_world_t *w, const sim_opts_t *o)
{
    uint64_t s = o->seed ^ 0x1234567ULL;
    double speed = rng_range(&s, 8.0, 15.0);
    double dir = rng_range(&s, 0.0, 2.0 * M_PI);
    w->seed = o->seed;
    w->u = speed * cos(dir);
    w->v = speed * sin(dir);
    w->half_x = 0.5 * (o->nx - 1) * o->dx_km * 1000.0;
    w->half_y = 0.5 * (o->ny - 1) * o->dx_km * 1000.0;
    w->range_m = 0.5 * (o->nx < o->ny ? o->nx : o->ny) * o->dx_km * 1000.0;
    w->t_ref = SIM_T_REF;
}

/* Lifecycle intensity in [0, 1] of an ordinary cell at fraction a of its life:
 * grows, matures, decays. */
static double cell_life(double a)
{
    if (a <= 0.0 || a >= 1.0)
        return 0.0;
    return sin(M_PI * a);
}

/* Lead storm lifecycle: 25-minute ramps around a long plateau, so the two
 * offset lead storms always leave one of them mature. */
static double lead_life(double age_s, double life_s)
{
    const double ramp = 1500.0;
    if (age_s <= 0.0 || age_s >= life_s)
        return 0.0;
    double f = fmin(1.0, fmin(age_s / ramp, (life_s - age_s) / ramp));
    return f;
}

/* Fills cells[] with every convective cell alive at time t. Returns the count. */
static int cells_at(const sim_world_t *w, int64_t t, sim_cell_t *cells, int max)
{
    int n = 0;
    int64_t slot_now = (int64_t)floor((double)t / SIM_SLOT_S);
    int64_t slots_back = SIM_MAX_LIFE_S / SIM_SLOT_S + 1;
    for (int64_t slot = slot_now - slots_back; slot <= slot_now && n < max; slot++) {
        uint64_t s = mix64(w->seed ^ mix64((uint64_t)slot * 0x2545f4914f6cdd1dULL));
        int spawned = (int)(rng_unit(&s) * 4.0); /* 0..3 cells per slot */
        for (int c = 0; c < spawned && n < max; c++) {
            double birth = (double)slot * SIM_SLOT_S + rng_range(&s, 0.0, SIM_SLOT_S);
            double life = rng_range(&s, 2400.0, SIM_MAX_LIFE_S);
            double peak = rng_range(&s, 48.0, 60.0);
            double sigma = rng_range(&s, 2500.0, 5000.0);
            double cu = w->u + rng_range(&s, -3.0, 3.0), cv = w->v + rng_range(&s, -3.0, 3.0);
            /* Mid-life position uniform over the coverage disc, so cells are seen
             * maturing inside range rather than being born off-screen. */
            double rr = w->range_m * sqrt(rng_unit(&s)), th = rng_range(&s, 0.0, 2.0 * M_PI);
            double mid = birth + 0.5 * life;
            double age = (double)t - birth;
            double f = cell_life(age / life);
            if (f <= 0.0)
                continue;
            cells[n].x = rr * cos(th) + cu * ((double)t - mid);
            cells[n].y = rr * sin(th) + cv * ((double)t - mid);
            cells[n].peak_dbz = 30.0 + (peak - 30.0) * f;
            cells[n].sigma_m = sigma * (0.5 + 0.5 * f);
            cells[n].aspect = rng_range(&s, 1.0, 1.8);
            cells[n].ca = cu / hypot(cu, cv);
            cells[n].sa = cv / hypot(cu, cv);
            n++;
        }
    }
    /* Lead storms k: born at t_ref + k * life/2, crossing the radar with a
     * random lateral offset of up to 30 km at mid-life. */
    const double half = 0.5 * SIM_LEAD_LIFE_S;
    double k0 = floor(((double)t - (double)w->t_ref) / half);
    for (int64_t k = (int64_t)k0 - 2; k <= (int64_t)k0 && n < max; k++) {
        uint64_t s = mix64(w->seed ^ 0xabcdef12345ULL ^ mix64((uint64_t)k));
        double birth = (double)w->t_ref + (double)k * half;
        double age = (double)t - birth;
        double f = lead_life(age, SIM_LEAD_LIFE_S);
        if (f <= 0.0)
            continue;
        double peak = rng_range(&s, 56.0, 61.0);
        double sigma = rng_range(&s, 4500.0, 6000.0);
        double cu = w->u + rng_range(&s, -2.0, 2.0), cv = w->v + rng_range(&s, -2.0, 2.0);
        double off = rng_range(&s, -30000.0, 30000.0);
        double sp = hypot(cu, cv);
        double mid = birth + half;
        /* lateral offset perpendicular to the motion */
        cells[n].x = -cv / sp * off + cu * ((double)t - mid);
        cells[n].y = cu / sp * off + cv * ((double)t - mid);
        cells[n].peak_dbz = 35.0 + (peak - 35.0) * f;
        cells[n].sigma_m = sigma * (0.6 + 0.4 * f);
        cells[n].aspect = rng_range(&s, 1.2, 1.6);
        cells[n].ca = cu / sp;
        cells[n].sa = cv / sp;
        n++;
    }
    return n;
}

/* Reflectivity (dBZ) of the whole grid at time t into dbz[ny*nx]; NAN outside
 * radar range. Row 0 is the northernmost row (north-up, dy < 0). */
static void render(const sim_world_t *w, const sim_opts_t *o, int64_t t, float *dbz)
{
    sim_cell_t cells[SIM_MAX_CELLS];
    int nc = cells_at(w, t, cells, SIM_MAX_CELLS);
    double dx = o->dx_km * 1000.0;
    double dt = (double)(t - w->t_ref);
    const double wavelength = 45000.0; /* stratiform correlation length, m */
    const double thr = 0.52;           /* noise level above which it rains */
    for (int j = 0; j < o->ny; j++) {
        double y = w->half_y - j * dx;
        for (int i = 0; i < o->nx; i++) {
            double x = -w->half_x + i * dx;
            float *px = &dbz[(size_t)j * o->nx + i];
            if (hypot(x, y) > w->range_m) {
                *px = NAN;
                continue;
            }
            double n = fbm3(w->seed, (x - w->u * dt) / wavelength, (y - w->v * dt) / wavelength,
                            dt / 5400.0);
            double z = 0.0;
            if (n > thr) {
                double s = fmin(1.0, (n - thr) / 0.2);
                z += pow(10.0, (15.0 + 20.0 * s) / 10.0);
            }
            for (int c = 0; c < nc; c++) {
                const sim_cell_t *cl = &cells[c];
                double ddx = x - cl->x, ddy = y - cl->y;
                double along = ddx * cl->ca + ddy * cl->sa, across = ddy * cl->ca - ddx * cl->sa;
                double r2 = (along * along / cl->aspect + across * across * cl->aspect) /
                            (cl->sigma_m * cl->sigma_m);
                if (r2 < 32.0)
                    z += pow(10.0, cells[c].peak_dbz / 10.0) * exp(-0.5 * r2);
            }
            double d = z > 0.0 ? 10.0 * log10(z) : SIM_NO_ECHO_DBZ;
            if (z > 0.0) {
                /* +-2 dB of small-scale texture (6 km), carried by the wind: real
                 * echoes are never smooth Gaussians. */
                double tx = value_noise3(w->seed ^ 0x7e57ULL, (x - w->u * dt) / 6000.0,
                                         (y - w->v * dt) / 6000.0, dt / 1800.0);
                d += 4.0 * (tx - 0.5);
            }
            *px = (float)(d < SIM_NOISE_FLOOR_DBZ ? SIM_NO_ECHO_DBZ : d);
        }
    }
}

#define NC_TRY(call, what)                                                                  \
    do {                                                                                    \
        int st_ = (call);                                                                   \
        if (st_ != NC_NOERR) {                                                              \
            rc = impa_err(err, errlen, IMPA_EIO, "%s: %s: %s", tmp, what, nc_strerror(st_)); \
            goto done;                                                                      \
        }                                                                                   \
    } while (0)

/* Writes one scan under ".<name>.tmp" in the output dir, then renames it, so a
 * watcher never sees a partial file. On failure no temp file is left. */
static int write_scan(const sim_opts_t *o, int64_t t, const float *dbz, short *packed,
                      char *path_out, size_t path_len, char *err, size_t errlen)
{
    char stamp[32], iso[32], name[128], tmp[PATH_MAX + 160], final[PATH_MAX + 160];
    int rc = 0, ncid = -1, created = 0;
    impa_time_compact(t, stamp, sizeof stamp);
    impa_time_iso(t, iso, sizeof iso);
    snprintf(name, sizeof name, "%s%s.nc", o->prefix, stamp);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", o->out_dir, name);
    snprintf(final, sizeof final, "%s/%s", o->out_dir, name);

    size_t n = (size_t)o->nx * (size_t)o->ny;
    for (size_t k = 0; k < n; k++) {
        if (isnan(dbz[k]))
            packed[k] = SIM_FILL;
        else
            packed[k] = (short)lrintf(dbz[k] / SIM_SCALE);
    }
    double *xs = malloc(sizeof(double) * (size_t)o->nx);
    double *ys = malloc(sizeof(double) * (size_t)o->ny);
    if (!xs || !ys) {
        rc = impa_err(err, errlen, IMPA_ENOMEM, "%s: coordinate arrays", tmp);
        goto done;
    }
    double dx = o->dx_km * 1000.0;
    for (int i = 0; i < o->nx; i++)
        xs[i] = (i - 0.5 * (o->nx - 1)) * dx;
    for (int j = 0; j < o->ny; j++)
        ys[j] = (0.5 * (o->ny - 1) - j) * dx;

    NC_TRY(nc_create(tmp, NC_NETCDF4 | NC_CLOBBER, &ncid), "create");
    created = 1;
    int dim_y, dim_x, v_time, v_x, v_y, v_proj, v_refl;
    NC_TRY(nc_def_dim(ncid, "y", (size_t)o->ny, &dim_y), "dimension y");
    NC_TRY(nc_def_dim(ncid, "x", (size_t)o->nx, &dim_x), "dimension x");
    NC_TRY(nc_def_var(ncid, "time", NC_DOUBLE, 0, NULL, &v_time), "variable time");
    NC_TRY(nc_put_att_text(ncid, v_time, "standard_name", 4, "time"), "time attributes");
    NC_TRY(nc_put_att_text(ncid, v_time, "long_name", 19, "valid time of scan"), "time attributes");
    NC_TRY(nc_put_att_text(ncid, v_time, "units", 37, "seconds since 1970-01-01 00:00:00 UTC"),
           "time attributes");
    NC_TRY(nc_put_att_text(ncid, v_time, "calendar", 8, "standard"), "time attributes");

    NC_TRY(nc_def_var(ncid, "y", NC_DOUBLE, 1, &dim_y, &v_y), "variable y");
    NC_TRY(nc_put_att_text(ncid, v_y, "standard_name", 23, "projection_y_coordinate"), "y attributes");
    NC_TRY(nc_put_att_text(ncid, v_y, "units", 1, "m"), "y attributes");
    NC_TRY(nc_put_att_text(ncid, v_y, "axis", 1, "Y"), "y attributes");
    NC_TRY(nc_def_var(ncid, "x", NC_DOUBLE, 1, &dim_x, &v_x), "variable x");
    NC_TRY(nc_put_att_text(ncid, v_x, "standard_name", 23, "projection_x_coordinate"), "x attributes");
    NC_TRY(nc_put_att_text(ncid, v_x, "units", 1, "m"), "x attributes");
    NC_TRY(nc_put_att_text(ncid, v_x, "axis", 1, "X"), "x attributes");

    NC_TRY(nc_def_var(ncid, "proj", NC_INT, 0, NULL, &v_proj), "variable proj");
    {
        const char *gm = "lambert_azimuthal_equal_area";
        double lat = o->radar_lat, lon = o->radar_lon, zero = 0.0, er = SIM_EARTH_RADIUS_M;
        NC_TRY(nc_put_att_text(ncid, v_proj, "grid_mapping_name", strlen(gm), gm), "proj attributes");
        NC_TRY(nc_put_att_double(ncid, v_proj, "latitude_of_projection_origin", NC_DOUBLE, 1, &lat),
               "proj attributes");
        NC_TRY(nc_put_att_double(ncid, v_proj, "longitude_of_projection_origin", NC_DOUBLE, 1, &lon),
               "proj attributes");
        NC_TRY(nc_put_att_double(ncid, v_proj, "false_easting", NC_DOUBLE, 1, &zero), "proj attributes");
        NC_TRY(nc_put_att_double(ncid, v_proj, "false_northing", NC_DOUBLE, 1, &zero), "proj attributes");
        NC_TRY(nc_put_att_double(ncid, v_proj, "earth_radius", NC_DOUBLE, 1, &er), "proj attributes");
    }

    int dims[2] = {dim_y, dim_x};
    NC_TRY(nc_def_var(ncid, "reflectivity", NC_SHORT, 2, dims, &v_refl), "variable reflectivity");
    {
        size_t chunks[2] = {(size_t)o->ny, (size_t)o->nx};
        short fill = SIM_FILL, vmin = (short)lrint(SIM_NO_ECHO_DBZ / SIM_SCALE), vmax = 8000;
        float scale = SIM_SCALE, offset = 0.0f;
        const char *ln = "equivalent reflectivity factor (synthetic)";
        NC_TRY(nc_def_var_chunking(ncid, v_refl, NC_CHUNKED, chunks), "reflectivity chunking");
        NC_TRY(nc_def_var_deflate(ncid, v_refl, 1, 1, 1), "reflectivity deflate");
        NC_TRY(nc_def_var_fill(ncid, v_refl, 0, &fill), "reflectivity _FillValue");
        NC_TRY(nc_put_att_text(ncid, v_refl, "standard_name", 31, "equivalent_reflectivity_factor"),
               "reflectivity attributes");
        NC_TRY(nc_put_att_text(ncid, v_refl, "long_name", strlen(ln), ln), "reflectivity attributes");
        NC_TRY(nc_put_att_text(ncid, v_refl, "units", 3, "dBZ"), "reflectivity attributes");
        NC_TRY(nc_put_att_float(ncid, v_refl, "scale_factor", NC_FLOAT, 1, &scale),
               "reflectivity attributes");
        NC_TRY(nc_put_att_float(ncid, v_refl, "add_offset", NC_FLOAT, 1, &offset),
               "reflectivity attributes");
        NC_TRY(nc_put_att_short(ncid, v_refl, "valid_min", NC_SHORT, 1, &vmin), "reflectivity attributes");
        NC_TRY(nc_put_att_short(ncid, v_refl, "valid_max", NC_SHORT, 1, &vmax), "reflectivity attributes");
        NC_TRY(nc_put_att_text(ncid, v_refl, "grid_mapping", 4, "proj"), "reflectivity attributes");
        NC_TRY(nc_put_att_text(ncid, v_refl, "coordinates", 4, "time"), "reflectivity attributes");
        const char *cm = "-32 dBZ = no echo (below the 8 dBZ noise floor); _FillValue = outside radar range";
        NC_TRY(nc_put_att_text(ncid, v_refl, "comment", strlen(cm), cm), "reflectivity attributes");
    }

    {
        char src[160], hist[200];
        const char *title = "Synthetic radar reflectivity scan";
        const char *inst = "impa-nowcast scan simulator (synthetic data, not a real radar)";
        double lat = o->radar_lat, lon = o->radar_lon;
        snprintf(src, sizeof src, "impa-simulate %s seed=%llu", IMPA_VERSION,
                 (unsigned long long)o->seed);
        snprintf(hist, sizeof hist, "%s impa-simulate: synthetic scan valid at %s", iso, iso);
        NC_TRY(nc_put_att_text(ncid, NC_GLOBAL, "Conventions", 6, "CF-1.8"), "global attributes");
        NC_TRY(nc_put_att_text(ncid, NC_GLOBAL, "title", strlen(title), title), "global attributes");
        NC_TRY(nc_put_att_text(ncid, NC_GLOBAL, "institution", strlen(inst), inst), "global attributes");
        NC_TRY(nc_put_att_text(ncid, NC_GLOBAL, "source", strlen(src), src), "global attributes");
        NC_TRY(nc_put_att_text(ncid, NC_GLOBAL, "history", strlen(hist), hist), "global attributes");
        NC_TRY(nc_put_att_text(ncid, NC_GLOBAL, "station_name", 3, "SIM"), "global attributes");
        NC_TRY(nc_put_att_double(ncid, NC_GLOBAL, "station_latitude", NC_DOUBLE, 1, &lat),
               "global attributes");
        NC_TRY(nc_put_att_double(ncid, NC_GLOBAL, "station_longitude", NC_DOUBLE, 1, &lon),
               "global attributes");
    }
    NC_TRY(nc_enddef(ncid), "enddef");
    double tv = (double)t;
    NC_TRY(nc_put_var_double(ncid, v_time, &tv), "write time");
    NC_TRY(nc_put_var_double(ncid, v_y, ys), "write y");
    NC_TRY(nc_put_var_double(ncid, v_x, xs), "write x");
    int pv = 0;
    NC_TRY(nc_put_var_int(ncid, v_proj, &pv), "write proj");
    NC_TRY(nc_put_var_short(ncid, v_refl, packed), "write reflectivity");
    int st = nc_close(ncid);
    ncid = -1;
    if (st != NC_NOERR) {
        rc = impa_err(err, errlen, IMPA_EIO, "%s: close: %s", tmp, nc_strerror(st));
        goto done;
    }
    if (rename(tmp, final) != 0) {
        rc = impa_err(err, errlen, IMPA_EIO, "rename %s -> %s: %s", tmp, final, strerror(errno));
        goto done;
    }
    created = 0;
    if (path_out)
        snprintf(path_out, path_len, "%s", final);
done:
    if (ncid >= 0)
        nc_close(ncid);
    if (created)
        unlink(tmp);
    free(xs);
    free(ys);
    return rc;
}

/* Sleeps s seconds unless a stop signal arrives first. */
static void pause_for(double s)
{
    double until = impa_time_monotonic() + s;
    while (!g_stop) {
        double left = until - impa_time_monotonic();
        if (left <= 0.0)
            break;
        if (left > 0.2)
            left = 0.2; /* bounded naps: a signal between checks is seen quickly */
        struct timespec ts = {(time_t)left, (long)((left - floor(left)) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: impa-simulate --out DIR [options]\n"
            "       impa-simulate --version | --help\n"
            "  --out DIR          directory for the scans (created if missing)\n"
            "  --seed N           weather seed (default 1)\n"
            "  --step-min M       minutes between scans (default 10)\n"
            "  --start TIME       first valid time, YYYY-MM-DDTHH:MMZ or 'now'\n"
            "                     (default 2026-06-01T12:00Z)\n"
            "  --count N          number of scans, 0 = until SIGINT/SIGTERM (default 12)\n"
            "  --pace P           realtime (step minutes), fast (no pause) or SECONDS\n"
            "                     of wall time between scans (default fast)\n"
            "  --burst N          write the first N scans without pausing (pre-seed a\n"
            "                     nowcast window; default 0)\n"
            "  --grid WxH         grid size in cells (default 256x256)\n"
            "  --dx-km D          cell size in km (default 1)\n"
            "  --radar-lat LAT    radar latitude (default 47.5)\n"
            "  --radar-lon LON    radar longitude (default 10.0)\n"
            "  --prefix P         file name prefix (default sim_)\n"
            "  --quiet            no per-scan line on stdout\n");
}

static int parse_args(int argc, char **argv, sim_opts_t *o)
{
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},     {"seed", required_argument, NULL, 's'},
        {"step-min", required_argument, NULL, 'm'}, {"start", required_argument, NULL, 't'},
        {"count", required_argument, NULL, 'n'},   {"pace", required_argument, NULL, 'p'},
        {"burst", required_argument, NULL, 'b'},   {"grid", required_argument, NULL, 'g'},
        {"dx-km", required_argument, NULL, 'd'},   {"radar-lat", required_argument, NULL, 'A'},
        {"radar-lon", required_argument, NULL, 'O'}, {"prefix", required_argument, NULL, 'P'},
        {"quiet", no_argument, NULL, 'q'},         {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, IMPA_CLI_VERSION}, {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->step_min = 10;
    o->count = 12;
    o->nx = o->ny = 256;
    o->dx_km = 1.0;
    o->radar_lat = 47.5;
    o->radar_lon = 10.0;
    snprintf(o->prefix, sizeof o->prefix, "sim_");
    impa_time_parse_iso("2026-06-01T12:00Z", &o->start);
    char *end;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            snprintf(o->out_dir, sizeof o->out_dir, "%s", optarg);
            break;
        case 's':
            errno = 0;
            o->seed = strtoull(optarg, &end, 0);
            if (errno || *end) {
                fprintf(stderr, "impa-simulate: --seed: not an integer: %s\n", optarg);
                return -1;
            }
            break;
        case 'm':
            o->step_min = (int)strtol(optarg, &end, 10);
            if (*end || o->step_min < 1 || o->step_min > 1440) {
                fprintf(stderr, "impa-simulate: --step-min must be 1..1440: %s\n", optarg);
                return -1;
            }
            break;
        case 't':
            if (strcmp(optarg, "now") == 0) {
                o->start_now = 1;
            } else if (impa_time_parse_iso(optarg, &o->start) != 0) {
                fprintf(stderr, "impa-simulate: --start: expected YYYY-MM-DDTHH:MMZ or now: %s\n",
                        optarg);
                return -1;
            }
            break;
        case 'n':
            o->count = (int)strtol(optarg, &end, 10);
            if (*end || o->count < 0) {
                fprintf(stderr, "impa-simulate: --count must be >= 0: %s\n", optarg);
                return -1;
            }
            break;
        case 'p':
            if (strcmp(optarg, "fast") == 0) {
                o->pace_s = 0.0;
            } else if (strcmp(optarg, "realtime") == 0) {
                o->pace_s = -1.0; /* resolved once step_min is known */
            } else {
                o->pace_s = strtod(optarg, &end);
                if (*end || !(o->pace_s >= 0.0) || o->pace_s > 86400.0) {
                    fprintf(stderr, "impa-simulate: --pace: realtime, fast or seconds: %s\n", optarg);
                    return -1;
                }
            }
            break;
        case 'b':
            o->burst = (int)strtol(optarg, &end, 10);
            if (*end || o->burst < 0) {
                fprintf(stderr, "impa-simulate: --burst must be >= 0: %s\n", optarg);
                return -1;
            }
            break;
        case 'g':
            if (sscanf(optarg, "%dx%d", &o->nx, &o->ny) != 2 || o->nx < 8 || o->ny < 8 ||
                o->nx > 8192 || o->ny > 8192) {
                fprintf(stderr, "impa-simulate: --grid: WxH with sides 8..8192: %s\n", optarg);
                return -1;
            }
            break;
        case 'd':
            o->dx_km = strtod(optarg, &end);
            if (*end || !(o->dx_km > 0.0) || o->dx_km > 100.0) {
                fprintf(stderr, "impa-simulate: --dx-km must be in (0, 100]: %s\n", optarg);
                return -1;
            }
            break;
        case 'A':
            o->radar_lat = strtod(optarg, &end);
            if (*end || fabs(o->radar_lat) > 89.0) {
                fprintf(stderr, "impa-simulate: --radar-lat must be in [-89, 89]: %s\n", optarg);
                return -1;
            }
            break;
        case 'O':
            o->radar_lon = strtod(optarg, &end);
            if (*end || fabs(o->radar_lon) > 180.0) {
                fprintf(stderr, "impa-simulate: --radar-lon must be in [-180, 180]: %s\n", optarg);
                return -1;
            }
            break;
        case 'P':
            if (strchr(optarg, '/') || strlen(optarg) >= sizeof o->prefix) {
                fprintf(stderr, "impa-simulate: --prefix: no '/', < 64 chars: %s\n", optarg);
                return -1;
            }
            snprintf(o->prefix, sizeof o->prefix, "%s", optarg);
            break;
        case 'q':
            o->quiet = 1;
            break;
        default:
            exit(impa_cli_default(c, "impa-simulate", usage));
        }
    }
    if (impa_cli_no_operands("impa-simulate", argc, argv))
        return -1;
    if (o->out_dir[0] == '\0') {
        impa_cli_usage_error("impa-simulate", "--out DIR is required");
        return -1;
    }
    int64_t step_s = (int64_t)o->step_min * 60;
    if (o->pace_s < 0.0)
        o->pace_s = (double)step_s;
    if (o->start_now) {
        int64_t now = (int64_t)impa_time_now();
        int64_t back = o->burst > 1 ? o->burst - 1 : 0;
        o->start = now / step_s * step_s - back * step_s;
    }
    return 0;
}

int main(int argc, char **argv)
{
    sim_opts_t o;
    if (parse_args(argc, argv, &o) != 0)
        return 2;
    if (mkdir(o.out_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "impa-simulate: cannot create %s: %s\n", o.out_dir, strerror(errno));
        return 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    sim_world_t w;
    world_init(&w, &o);
    size_t n = (size_t)o.nx * (size_t)o.ny;
    float *dbz = malloc(sizeof(float) * n);
    short *packed = malloc(sizeof(short) * n);
    if (!dbz || !packed) {
        fprintf(stderr, "impa-simulate: out of memory for a %dx%d grid\n", o.nx, o.ny);
        free(dbz);
        free(packed);
        return 1;
    }
    double cell_km2 = o.dx_km * o.dx_km;
    int rc = 0;
    for (int k = 0; (o.count == 0 || k < o.count) && !g_stop; k++) {
        int64_t t = o.start + (int64_t)k * o.step_min * 60;
        char path[PATH_MAX + 160], err[512], iso[32];
        render(&w, &o, t, dbz);
        if (write_scan(&o, t, dbz, packed, path, sizeof path, err, sizeof err) != 0) {
            fprintf(stderr, "impa-simulate: %s\n", err);
            rc = 1;
            break;
        }
        if (!o.quiet) {
            float mx = -INFINITY;
            size_t n45 = 0;
            for (size_t q = 0; q < n; q++) {
                if (isnan(dbz[q]))
                    continue;
                if (dbz[q] > mx)
                    mx = dbz[q];
                n45 += dbz[q] >= 45.0f;
            }
            printf("impa-simulate: %s valid %s max %.1f dBZ, >=45 dBZ over %.0f km2\n", path,
                   impa_time_iso(t, iso, sizeof iso), mx, (double)n45 * cell_km2);
            fflush(stdout);
        }
        if (k + 1 >= o.burst && o.pace_s > 0.0 && (o.count == 0 || k + 1 < o.count))
            pause_for(o.pace_s);
    }
    free(dbz);
    free(packed);
    return rc;
}
