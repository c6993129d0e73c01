/* impa-listen: a reference consumer of the impa-nowcast ZeroMQ protocol
 * (docs/protocol.md). Prints one line per frame and per alert cell event, detects
 * sequence gaps and publisher restarts, optionally writes frames to NetCDF,
 * fetches the latest cycle from the snapshot endpoint, and makes CURVE keypairs.
 *
 * Exit status: 0 after --count cycles, on SIGINT/SIGTERM, or at --timeout without
 * --count; 3 when --timeout expires before --count cycles; 1 on errors; 2 on usage. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netcdf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "impa/cli.h"
#include "impa/error.h"
#include "impa/timeutil.h"
#include "publish/json.h"
#include "publish/publish-impl.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

typedef struct {
    const char *endpoint, *domain, *request, *netcdf_dir, *server_key, *keypair;
    int latest, count, verbose;
    double timeout;
} opts_t;

typedef struct {
    char topic[96];
    char run_id[32];
    unsigned long long seq;
} seqstate_t;

static seqstate_t g_seq[64];
static int g_nseq;
static unsigned long long g_lost;

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: impa-listen [--endpoint tcp://127.0.0.1:5560] [--domain D]\n"
            "                   [--request tcp://127.0.0.1:5561] [--latest] [--netcdf-dir DIR]\n"
            "                   [--curve-server-key Z85 --curve-keypair FILE]\n"
            "                   [--count N] [--timeout S] [--verbose]\n"
            "       impa-listen --gen-keypair FILE\n"
            "       impa-listen --version | --help\n");
}

/* Parses a whole message body into a freshly allocated node array. */
static impa_json_node_t *parse(const char *text, size_t len, int *n_out)
{
    int cap = (int)(len / 2) + 16;
    impa_json_node_t *nodes = malloc((size_t)cap * sizeof *nodes);
    if (!nodes)
        return NULL;
    int n = impa_json_parse(text, len, nodes, cap);
    if (n < 0) {
        free(nodes);
        return NULL;
    }
    *n_out = n;
    return nodes;
}

static void check_seq(const char *topic, const char *run_id, unsigned long long seq)
{
    seqstate_t *s = NULL;
    for (int i = 0; i < g_nseq; i++)
        if (strcmp(g_seq[i].topic, topic) == 0)
            s = &g_seq[i];
    if (!s) {
        if (g_nseq >= 64)
            return;
        s = &g_seq[g_nseq++];
        snprintf(s->topic, sizeof s->topic, "%s", topic);
        snprintf(s->run_id, sizeof s->run_id, "%s", run_id);
        s->seq = seq;
        return;
    }
    if (strcmp(s->run_id, run_id) != 0) {
        printf("RESTART %s: publisher run %s (was %s), sequence restarts at %llu\n", topic, run_id,
               s->run_id, seq);
        snprintf(s->run_id, sizeof s->run_id, "%s", run_id);
    } else if (seq > s->seq + 1) {
        printf("LOST %llu messages on %s (seq %llu -> %llu)\n", seq - s->seq - 1, topic, s->seq,
               seq);
        g_lost += seq - s->seq - 1;
    } else if (seq <= s->seq) {
        printf("OUT-OF-ORDER %s: seq %llu after %llu\n", topic, seq, s->seq);
    }
    s->seq = seq;
}

/* Decodes a frame payload into dBZ floats (NaN = no data). 0 or -1. */
static int decode_frame(const impa_json_node_t *h, int root, const void *payload, size_t plen,
                        float *out, size_t n)
{
    int enc = impa_json_get(h, root, "encoding");
    char dtype[16];
    impa_json_get_str(h, enc, "dtype", dtype, sizeof dtype, "");
    if (strcmp(dtype, "uint8") == 0) {
        if (plen != n)
            return -1;
        double gain = impa_json_get_num(h, enc, "gain", 0.5);
        double off = impa_json_get_num(h, enc, "offset", -32);
        int nodata = (int)impa_json_get_num(h, enc, "nodata", 255);
        const unsigned char *q = payload;
        for (size_t i = 0; i < n; i++)
            out[i] = q[i] == nodata ? NAN : (float)(gain * q[i] + off);
        return 0;
    }
    if (strcmp(dtype, "float32") == 0 && plen == 4 * n) {
        const unsigned char *b = payload;
        for (size_t i = 0; i < n; i++) { /* little-endian on the wire */
            uint32_t u = (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 |
                         (uint32_t)b[4 * i + 2] << 16 | (uint32_t)b[4 * i + 3] << 24;
            memcpy(&out[i], &u, 4);
        }
        return 0;
    }
    return -1;
}

#define NC(call)                                                                                   \
    do {                                                                                           \
        if ((st = (call)) != NC_NOERR)                                                             \
            goto done;                                                                             \
    } while (0)

static int write_netcdf(const char *dir, const impa_json_node_t *h, int root, const float *dbz,
                        int ny, int nx)
{
    char issue[32], valid[32], domain[64], method[32], run_id[32], path[4200], tmp[4220];
    impa_json_get_str(h, root, "issue_time", issue, sizeof issue, "");
    impa_json_get_str(h, root, "valid_time", valid, sizeof valid, "");
    impa_json_get_str(h, root, "domain", domain, sizeof domain, "domain");
    impa_json_get_str(h, root, "method", method, sizeof method, "");
    impa_json_get_str(h, root, "run_id", run_id, sizeof run_id, "");
    int lead = (int)impa_json_get_num(h, root, "lead_minutes", 0);
    int64_t it = 0;
    char compact[32] = "unknown";
    if (impa_time_parse_iso(issue, &it) == 0)
        impa_time_compact(it, compact, sizeof compact);
    snprintf(path, sizeof path, "%s/%s_%s_+%03dmin.nc", dir, domain, compact, lead);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int g = impa_json_get(h, root, "grid");
    double x0 = impa_json_get_num(h, g, "x0", 0), y0 = impa_json_get_num(h, g, "y0", 0);
    double dx = impa_json_get_num(h, g, "dx", 1), dy = impa_json_get_num(h, g, "dy", 1);
    char units[16], gm[64];
    impa_json_get_str(h, g, "xy_units", units, sizeof units, "");
    int proj = impa_json_get(h, g, "projection");
    impa_json_get_str(h, proj, "grid_mapping_name", gm, sizeof gm, "");
    int ncid = -1, st, dims[2], vx, vy, vd, vgm = -1;
    double *coord = NULL;
    NC(nc_create(tmp, NC_CLOBBER | NC_NETCDF4, &ncid));
    NC(nc_def_dim(ncid, "y", (size_t)ny, &dims[0]));
    NC(nc_def_dim(ncid, "x", (size_t)nx, &dims[1]));
    NC(nc_def_var(ncid, "y", NC_DOUBLE, 1, &dims[0], &vy));
    NC(nc_def_var(ncid, "x", NC_DOUBLE, 1, &dims[1], &vx));
    if (units[0]) {
        NC(nc_put_att_text(ncid, vx, "units", strlen(units), units));
        NC(nc_put_att_text(ncid, vy, "units", strlen(units), units));
    }
    NC(nc_def_var(ncid, "reflectivity", NC_FLOAT, 2, dims, &vd));
    float fill = NAN;
    NC(nc_put_att_float(ncid, vd, "_FillValue", NC_FLOAT, 1, &fill));
    NC(nc_put_att_text(ncid, vd, "units", 3, "dBZ"));
    if (gm[0]) {
        NC(nc_def_var(ncid, "crs", NC_INT, 0, NULL, &vgm));
        NC(nc_put_att_text(ncid, vgm, "grid_mapping_name", strlen(gm), gm));
        int attrs = impa_json_get(h, proj, "attrs");
        for (int c = attrs >= 0 ? h[attrs].first_child : -1; c >= 0; c = h[c].next) {
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)h[c].key_len, h[c].key);
            if (h[c].type == IMPA_JSON_NUM) {
                NC(nc_put_att_double(ncid, vgm, name, NC_DOUBLE, 1, &h[c].num));
            } else if (h[c].type == IMPA_JSON_ARR) {
                double v[8];
                size_t k = 0;
                for (int e = h[c].first_child; e >= 0 && k < 8; e = h[e].next)
                    v[k++] = h[e].num;
                NC(nc_put_att_double(ncid, vgm, name, NC_DOUBLE, k, v));
            } else if (h[c].type == IMPA_JSON_STR && strcmp(name, "grid_mapping_name") != 0) {
                NC(nc_put_att_text(ncid, vgm, name, h[c].str_len, h[c].str));
            }
        }
        NC(nc_put_att_text(ncid, vd, "grid_mapping", 3, "crs"));
    }
    NC(nc_put_att_text(ncid, NC_GLOBAL, "issue_time", strlen(issue), issue));
    NC(nc_put_att_text(ncid, NC_GLOBAL, "valid_time", strlen(valid), valid));
    NC(nc_put_att_int(ncid, NC_GLOBAL, "lead_minutes", NC_INT, 1, &lead));
    NC(nc_put_att_text(ncid, NC_GLOBAL, "method", strlen(method), method));
    NC(nc_put_att_text(ncid, NC_GLOBAL, "publisher_run_id", strlen(run_id), run_id));
    NC(nc_enddef(ncid));
    coord = malloc(sizeof(double) * (size_t)(nx > ny ? nx : ny));
    if (!coord) {
        st = NC_ENOMEM;
        goto done;
    }
    for (int i = 0; i < ny; i++)
        coord[i] = y0 + i * dy;
    NC(nc_put_var_double(ncid, vy, coord));
    for (int i = 0; i < nx; i++)
        coord[i] = x0 + i * dx;
    NC(nc_put_var_double(ncid, vx, coord));
    NC(nc_put_var_float(ncid, vd, dbz));
    st = nc_close(ncid);
    ncid = -1;
    if (st == NC_NOERR && rename(tmp, path) != 0) {
        fprintf(stderr, "impa-listen: rename %s: %s\n", path, strerror(errno));
        free(coord);
        return -1;
    }
done:
    free(coord);
    if (ncid >= 0)
        nc_close(ncid);
    if (st != NC_NOERR) {
        fprintf(stderr, "impa-listen: %s: %s\n", tmp, nc_strerror(st));
        remove(tmp);
        return -1;
    }
    printf("wrote %s\n", path);
    return 0;
}

static void handle_frame(const opts_t *o, const impa_json_node_t *h, int root, const void *payload,
                         size_t plen)
{
    char valid[32], method[32];
    int g = impa_json_get(h, root, "grid");
    int ny = (int)impa_json_get_num(h, g, "ny", 0), nx = (int)impa_json_get_num(h, g, "nx", 0);
    size_t n = (size_t)nx * (size_t)ny;
    float *dbz = n ? malloc(n * sizeof *dbz) : NULL;
    double mx = NAN;
    int ok = dbz && decode_frame(h, root, payload, plen, dbz, n) == 0;
    if (ok)
        for (size_t i = 0; i < n; i++)
            if (!isnan(dbz[i]) && (isnan(mx) || dbz[i] > mx))
                mx = dbz[i];
    printf("frame seq=%.0f lead=+%.0fmin (%.0f/%.0f) valid=%s %dx%d method=%s max=%.1fdBZ%s\n",
           impa_json_get_num(h, root, "seq", 0), impa_json_get_num(h, root, "lead_minutes", 0),
           impa_json_get_num(h, root, "lead_index", 0) + 1, impa_json_get_num(h, root, "n_leads", 0),
           impa_json_get_str(h, root, "valid_time", valid, sizeof valid, "?"), ny, nx,
           impa_json_get_str(h, root, "method", method, sizeof method, "?"), mx,
           ok ? "" : " (payload does not match the header)");
    if (ok && o->netcdf_dir)
        write_netcdf(o->netcdf_dir, h, root, dbz, ny, nx);
    free(dbz);
}

/* A probability frame (topic prob): uint8 percent per pixel, P = gain * q, q =
 * nodata where the forecast has no value. One line: threshold, lead, largest P,
 * the share of the grid with P >= 50 %, the window radius and trend class. */
static void handle_prob(const impa_json_node_t *h, int root, const void *payload, size_t plen)
{
    char valid[32], trend[16];
    int g = impa_json_get(h, root, "grid"), enc = impa_json_get(h, root, "encoding");
    int ny = (int)impa_json_get_num(h, g, "ny", 0), nx = (int)impa_json_get_num(h, g, "nx", 0);
    size_t n = (size_t)nx * (size_t)ny;
    double gain = impa_json_get_num(h, enc, "gain", 0.01);
    int nodata = (int)impa_json_get_num(h, enc, "nodata", 255);
    double mx = NAN;
    size_t n_half = 0, n_valid = 0;
    int ok = n > 0 && plen == n;
    const unsigned char *q = payload;
    for (size_t i = 0; ok && i < n; i++) {
        if (q[i] == nodata)
            continue;
        double v = gain * q[i];
        n_valid++;
        n_half += v >= 0.5;
        if (isnan(mx) || v > mx)
            mx = v;
    }
    printf("prob seq=%.0f threshold=%.1fdBZ lead=+%.0fmin (%.0f/%.0f) valid=%s %dx%d max=%.2f "
           "p50=%.2f%% radius=%.1fkm trend=%s%s\n",
           impa_json_get_num(h, root, "seq", 0), impa_json_get_num(h, root, "threshold_dbz", NAN),
           impa_json_get_num(h, root, "lead_minutes", 0),
           impa_json_get_num(h, root, "lead_index", 0) + 1, impa_json_get_num(h, root, "n_leads", 0),
           impa_json_get_str(h, root, "valid_time", valid, sizeof valid, "?"), ny, nx, mx,
           n_valid ? 100.0 * (double)n_half / (double)n_valid : 0.0,
           impa_json_get_num(h, root, "radius_km", NAN),
           impa_json_get_str(h, root, "trend", trend, sizeof trend, "?"),
           ok ? "" : " (payload does not match the header)");
}

/* Whether feature f is a watch region's (kind watch_region), not a cell's. */
static int is_region(const impa_json_node_t *h, int f)
{
    char kind[32];
    impa_json_get_str(h, impa_json_get(h, f, "properties"), "kind", kind, sizeof kind, "cell");
    return strcmp(kind, "watch_region") == 0;
}

/* One line per watch region feature: its maximum probability per lead and its
 * probability alert (event, level, window, the probability within it). */
static void print_regions(const impa_json_node_t *h, int feats)
{
    for (int f = feats >= 0 ? h[feats].first_child : -1; f >= 0; f = h[f].next) {
        if (!is_region(h, f))
            continue;
        int p = impa_json_get(h, f, "properties"), pr = impa_json_get(h, p, "probability");
        char name[64], list[1024] = "", alert[160] = "-";
        size_t used = 0;
        for (int e = pr >= 0 ? h[pr].first_child : -1; e >= 0; e = h[e].next) {
            int w = h[e].type == IMPA_JSON_NUM
                        ? snprintf(list + used, sizeof list - used, "%s%.2f", used ? "," : "", h[e].num)
                        : snprintf(list + used, sizeof list - used, "%s-", used ? "," : "");
            if (w > 0 && used + (size_t)w < sizeof list)
                used += (size_t)w;
        }
        int al = impa_json_get(h, p, "alert");
        if (al >= 0 && h[al].type == IMPA_JSON_OBJ) {
            char ev[16];
            impa_json_get_str(h, al, "event", ev, sizeof ev, "none");
            snprintf(alert, sizeof alert, "%s(P>=%.2f within %.0fmin: %.2f)", ev,
                     impa_json_get_num(h, al, "min_probability", NAN),
                     impa_json_get_num(h, al, "within_minutes", NAN),
                     impa_json_get_num(h, al, "probability", NAN));
        }
        printf("region name=%s threshold=%.1fdBZ p=%s max=%.2f alert=%s\n",
               impa_json_get_str(h, p, "region", name, sizeof name, "?"),
               impa_json_get_num(h, p, "threshold_dbz", NAN), used ? list : "-",
               impa_json_get_num(h, p, "max_probability", NAN), alert);
    }
}

/* One line per storm (track) of the cycle: event (new / continues / ends), the
 * largest area and the highest max dBZ over its leads, the first and last lead
 * it is forecast at, the regions it will touch. Features are in lead order. */
static void print_storms(const impa_json_node_t *h, int feats)
{
    enum { MAXS = 4096 };
    static double ids[MAXS];
    int ns = 0;
    for (int f = feats >= 0 ? h[feats].first_child : -1; f >= 0; f = h[f].next) {
        if (is_region(h, f))
            continue;
        double id = impa_json_get_num(h, impa_json_get(h, f, "properties"), "cell_id", 0);
        int seen = 0;
        for (int i = 0; i < ns && !seen; i++)
            seen = ids[i] == id;
        if (seen || ns == MAXS)
            continue;
        ids[ns++] = id;
        double area = 0, mx = -INFINITY, l0 = INFINITY, l1 = -INFINITY;
        char ev[16] = "?", regions[512] = "";
        size_t used = 0;
        for (int g = f; g >= 0; g = h[g].next) {
            int p = impa_json_get(h, g, "properties");
            if (impa_json_get_num(h, p, "cell_id", 0) != id)
                continue;
            double a = impa_json_get_num(h, p, "area_km2", 0), m = impa_json_get_num(h, p, "max_dbz", NAN);
            double lm = impa_json_get_num(h, p, "lead_minutes", 0);
            area = a > area ? a : area;
            mx = m > mx ? m : mx;
            l0 = lm < l0 ? lm : l0;
            l1 = lm > l1 ? lm : l1;
            if (g == f) {
                impa_json_get_str(h, p, "event", ev, sizeof ev, "?");
                int rs = impa_json_get(h, p, "regions");
                for (int r = rs >= 0 ? h[rs].first_child : -1; r >= 0; r = h[r].next) {
                    char name[64];
                    impa_json_get_str(h, r, "name", name, sizeof name, "?");
                    int w = snprintf(regions + used, sizeof regions - used, "%s%s",
                                     used ? "," : "", name);
                    if (w > 0 && used + (size_t)w < sizeof regions)
                        used += (size_t)w;
                }
            }
        }
        const char *what = strcmp(ev, "new") == 0       ? "new"
                           : strcmp(ev, "updated") == 0 ? "continues"
                           : strcmp(ev, "ended") == 0   ? "ends"
                                                        : ev;
        printf("storm cell=%.0f event=%s area=%.1fkm2 max=%.1fdBZ leads=+%.0f..+%.0fmin "
               "regions=%s\n",
               id, what, area, mx, l0, l1, used ? regions : "-");
    }
}

static void handle_alerts(const char *text, size_t len, int verbose)
{
    int n;
    impa_json_node_t *h = parse(text, len, &n);
    if (!h) {
        printf("alert: unparsable GeoJSON (%zu bytes)\n", len);
        return;
    }
    int feats = impa_json_get(h, 0, "features");
    print_storms(h, feats);
    print_regions(h, feats);
    for (int f = verbose && feats >= 0 ? h[feats].first_child : -1; f >= 0; f = h[f].next) {
        if (is_region(h, f))
            continue;
        int p = impa_json_get(h, f, "properties"), c = impa_json_get(h, p, "centroid");
        char ev[16], valid[32], regions[512] = "";
        int rs = impa_json_get(h, p, "regions");
        size_t used = 0;
        for (int r = rs >= 0 ? h[rs].first_child : -1; r >= 0; r = h[r].next) {
            char name[64], t[32];
            impa_json_get_str(h, r, "name", name, sizeof name, "?");
            impa_json_get_str(h, r, "first_valid_time", t, sizeof t, "?");
            int w = snprintf(regions + used, sizeof regions - used, "%s%s@%s", used ? "," : "", name, t);
            if (w > 0 && used + (size_t)w < sizeof regions)
                used += (size_t)w;
        }
        printf("alert cell=%.0f event=%s lead=+%.0fmin valid=%s area=%.1fkm2 max=%.1fdBZ "
               "lat=%.4f lon=%.4f regions=%s\n",
               impa_json_get_num(h, p, "cell_id", 0),
               impa_json_get_str(h, p, "event", ev, sizeof ev, "?"),
               impa_json_get_num(h, p, "lead_minutes", 0),
               impa_json_get_str(h, p, "valid_time", valid, sizeof valid, "?"),
               impa_json_get_num(h, p, "area_km2", NAN), impa_json_get_num(h, p, "max_dbz", NAN),
               impa_json_get_num(h, c, "lat", NAN), impa_json_get_num(h, c, "lon", NAN),
               used ? regions : "-");
    }
    impa_json_parse_free(h), free(h);
}

/* Handles one received message (topic, header, payload). Returns 1 at an end-of-cycle. */
static int handle(const opts_t *o, const char *topic, const char *hdr, size_t hlen,
                  const void *payload, size_t plen, int check)
{
    int n;
    impa_json_node_t *h = parse(hdr, hlen, &n);
    if (!h) {
        printf("%s: unparsable header\n", topic);
        return 0;
    }
    char type[32], run_id[32];
    impa_json_get_str(h, 0, "type", type, sizeof type, "");
    impa_json_get_str(h, 0, "run_id", run_id, sizeof run_id, "");
    if (check)
        check_seq(topic, run_id, (unsigned long long)impa_json_get_num(h, 0, "seq", 0));
    int end = 0;
    if (strcmp(type, "frame") == 0) {
        handle_frame(o, h, 0, payload, plen);
    } else if (strcmp(type, "prob") == 0) {
        handle_prob(h, 0, payload, plen);
    } else if (strcmp(type, "alert") == 0) {
        handle_alerts(payload, plen, o->verbose);
    } else if (strcmp(type, "cycle_end") == 0) {
        char issue[32];
        printf("cycle issue=%s frames=%.0f prob_frames=%.0f alerts=%.0f new=%.0f updated=%.0f "
               "ended=%.0f dropped=%.0f\n",
               impa_json_get_str(h, 0, "issue_time", issue, sizeof issue, "?"),
               impa_json_get_num(h, 0, "n_frames", 0), impa_json_get_num(h, 0, "n_prob_frames", 0),
               impa_json_get_num(h, 0, "n_alert_features", 0),
               impa_json_get_num(h, 0, "n_new", 0), impa_json_get_num(h, 0, "n_updated", 0),
               impa_json_get_num(h, 0, "n_ended", 0), impa_json_get_num(h, 0, "dropped", 0));
        end = 1;
    } else if (strcmp(type, "status") == 0) {
        char state[32];
        printf("status state=%s cycles=%.0f scans=%.0f publisher_dropped=%.0f\n",
               impa_json_get_str(h, 0, "state", state, sizeof state, "?"),
               impa_json_get_num(h, 0, "cycles", 0), impa_json_get_num(h, 0, "scans", 0),
               impa_json_get_num(h, 0, "publisher_dropped", 0));
    } else if (strcmp(type, "cap") == 0) {
        char id[192], ev[16], region[64];
        if (impa_json_get_str(h, 0, "region", region, sizeof region, NULL))
            printf("cap %s region=%s event=%s (%zu bytes XML)\n",
                   impa_json_get_str(h, 0, "identifier", id, sizeof id, "?"), region,
                   impa_json_get_str(h, 0, "event", ev, sizeof ev, "?"), plen);
        else
            printf("cap %s event=%s (%zu bytes XML)\n",
                   impa_json_get_str(h, 0, "identifier", id, sizeof id, "?"),
                   impa_json_get_str(h, 0, "event", ev, sizeof ev, "?"), plen);
    } else if (strcmp(type, "verification") == 0) {
        printf("verification %.*s\n", (int)(plen < 300 ? plen : 300), (const char *)payload);
    } else {
        printf("%s: message type '%s' (ignored)\n", topic, type);
    }
    fflush(stdout);
    impa_json_parse_free(h), free(h);
    return end;
}

static int set_curve_client(void *s, const opts_t *o)
{
    if (!o->server_key && !o->keypair)
        return 0;
    if (!o->server_key || !o->keypair) {
        fprintf(stderr, "impa-listen: --curve-server-key and --curve-keypair go together\n");
        return -1;
    }
    char pub[41], sec[41], err[256];
    if (impa_curve_read_keypair(o->keypair, pub, sec, err, sizeof err) != 0) {
        fprintf(stderr, "impa-listen: %s\n", err);
        return -1;
    }
    if (zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, o->server_key, strlen(o->server_key)) != 0 ||
        zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 40) != 0 ||
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 40) != 0) {
        fprintf(stderr, "impa-listen: CURVE options: %s\n", zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

/* Receives all parts of one message into msgs (up to max); returns the count or -1. */
static int recv_all(void *s, zmq_msg_t *msgs, int max)
{
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t tmp, *m = n < max ? &msgs[n] : &tmp;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, s, 0) < 0) {
            zmq_msg_close(m);
            return -1;
        }
        more = zmq_msg_more(m);
        if (n < max)
            n++;
        else
            zmq_msg_close(m);
    }
    return n;
}

static int do_latest(void *ctx, const opts_t *o)
{
    void *s = zmq_socket(ctx, ZMQ_REQ);
    int zero = 0, rc = 1;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (set_curve_client(s, o) != 0 || zmq_connect(s, o->request) != 0) {
        fprintf(stderr, "impa-listen: connect %s: %s\n", o->request, zmq_strerror(zmq_errno()));
        goto done;
    }
    zmq_send(s, "latest", 6, 0);
    zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
    long wait_ms = (long)((o->timeout > 0 ? o->timeout : 10) * 1000);
    if (zmq_poll(&it, 1, wait_ms) <= 0) {
        fprintf(stderr, "impa-listen: no snapshot reply from %s\n", o->request);
        goto done;
    }
    enum { MAXP = 1024 };
    static zmq_msg_t parts[MAXP];
    int n = recv_all(s, parts, MAXP);
    if (n < 1)
        goto done;
    int nn;
    impa_json_node_t *h = parse(zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]), &nn);
    if (h) {
        char type[32];
        impa_json_get_str(h, 0, "type", type, sizeof type, "");
        int avail = (int)impa_json_get_num(h, 0, "available", 0);
        int nf = (int)impa_json_get_num(h, 0, "n_frames", 0);
        int has_alerts = (int)impa_json_get_num(h, 0, "has_alerts", 0);
        printf("snapshot type=%s available=%d frames=%d alerts=%d\n", type, avail, nf, has_alerts);
        int k = 1;
        for (int f = 0; f < nf && k + 1 < n; f++, k += 2)
            handle(o, "snapshot", zmq_msg_data(&parts[k]), zmq_msg_size(&parts[k]),
                   zmq_msg_data(&parts[k + 1]), zmq_msg_size(&parts[k + 1]), 0);
        if (has_alerts && k + 1 < n)
            handle(o, "snapshot", zmq_msg_data(&parts[k]), zmq_msg_size(&parts[k]),
                   zmq_msg_data(&parts[k + 1]), zmq_msg_size(&parts[k + 1]), 0);
        rc = avail ? 0 : 1;
        impa_json_parse_free(h), free(h);
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
done:
    zmq_close(s);
    return rc;
}

static int do_listen(void *ctx, const opts_t *o)
{
    void *s = zmq_socket(ctx, ZMQ_SUB);
    int zero = 0, rc = 1, cycles = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (set_curve_client(s, o) != 0)
        goto done;
    zmq_setsockopt(s, ZMQ_SUBSCRIBE, "impa.", 5);
    if (zmq_connect(s, o->endpoint) != 0) {
        fprintf(stderr, "impa-listen: connect %s: %s\n", o->endpoint, zmq_strerror(zmq_errno()));
        goto done;
    }
    fprintf(stderr, "impa-listen: listening on %s\n", o->endpoint);
    double t0 = impa_time_monotonic();
    while (!g_stop) {
        if (o->timeout > 0 && impa_time_monotonic() - t0 >= o->timeout) {
            fprintf(stderr, "impa-listen: timeout after %g s (%d cycles)\n", o->timeout, cycles);
            rc = o->count > 0 ? 3 : 0;
            goto done;
        }
        zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
        int pr = zmq_poll(&it, 1, 200); /* short: signals and the timeout are checked between */
        if (pr < 0) {
            if (zmq_errno() == EINTR)
                continue;
            fprintf(stderr, "impa-listen: poll: %s\n", zmq_strerror(zmq_errno()));
            goto done;
        }
        if (pr == 0)
            continue;
        zmq_msg_t parts[3];
        int n = recv_all(s, parts, 3);
        if (n < 0) {
            if (zmq_errno() == EINTR)
                continue;
            goto done;
        }
        if (n == 3) {
            char topic[128];
            size_t tl = zmq_msg_size(&parts[0]);
            snprintf(topic, sizeof topic, "%.*s", (int)(tl < 127 ? tl : 127),
                     (const char *)zmq_msg_data(&parts[0]));
            const char *dot = strrchr(topic, '.');
            if (!o->domain || (dot && strcmp(dot + 1, o->domain) == 0))
                cycles += handle(o, topic, zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]),
                                 zmq_msg_data(&parts[2]), zmq_msg_size(&parts[2]), 1);
        } else if (n > 0) {
            printf("malformed message: %d frames (expected 3)\n", n);
        }
        for (int i = 0; i < n; i++)
            zmq_msg_close(&parts[i]);
        if (o->count > 0 && cycles >= o->count) {
            rc = 0;
            goto done;
        }
    }
    rc = 0; /* SIGINT / SIGTERM */
done:
    if (g_lost)
        fprintf(stderr, "impa-listen: %llu messages lost in total\n", g_lost);
    zmq_close(s);
    return rc;
}

int main(int argc, char **argv)
{
    opts_t o = {.endpoint = "tcp://127.0.0.1:5560", .request = "tcp://127.0.0.1:5561"};
    const char *gen = NULL;
    static const struct option lo[] = {
        {"endpoint", required_argument, 0, 'e'},   {"domain", required_argument, 0, 'd'},
        {"request", required_argument, 0, 'r'},    {"latest", no_argument, 0, 'l'},
        {"netcdf-dir", required_argument, 0, 'n'}, {"curve-server-key", required_argument, 0, 'k'},
        {"curve-keypair", required_argument, 0, 'p'}, {"count", required_argument, 0, 'c'},
        {"timeout", required_argument, 0, 't'},    {"gen-keypair", required_argument, 0, 'g'},
        {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},             {"version", no_argument, 0, IMPA_CLI_VERSION},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "e:d:r:ln:k:p:c:t:g:vh", lo, NULL)) != -1) {
        switch (c) {
        case 'v': o.verbose = 1; break;
        case 'e': o.endpoint = optarg; break;
        case 'd': o.domain = optarg; break;
        case 'r': o.request = optarg; break;
        case 'l': o.latest = 1; break;
        case 'n': o.netcdf_dir = optarg; break;
        case 'k': o.server_key = optarg; break;
        case 'p': o.keypair = optarg; break;
        case 'c':
            if (impa_cli_int("impa-listen", "--count", optarg, 0, 1 << 30, &o.count))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case 't':
            if (impa_cli_double("impa-listen", "--timeout", optarg, 0, 1e9, &o.timeout))
                return IMPA_CLI_USAGE_EXIT;
            break;
        case 'g': gen = optarg; break;
        default: return impa_cli_default(c, "impa-listen", usage);
        }
    }
    if (impa_cli_no_operands("impa-listen", argc, argv))
        return IMPA_CLI_USAGE_EXIT;
    if (gen) {
        char pub[41], err[256];
        if (impa_curve_write_keypair(gen, pub, err, sizeof err) != 0) {
            fprintf(stderr, "impa-listen: %s\n", err);
            return 1;
        }
        printf("%s\n", pub);
        return 0;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    void *ctx = zmq_ctx_new();
    if (!ctx)
        return 1;
    int rc = o.latest ? do_latest(ctx, &o) : do_listen(ctx, &o);
    zmq_ctx_term(ctx);
    return rc;
}
