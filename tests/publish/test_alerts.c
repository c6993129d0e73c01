/* Alert extraction, outlines, watch regions and tracking, without sockets; and
 * the JSON writer/reader they are serialised with. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "impa/alerts.h"
#include "impa/error.h"
#include "impa/prob.h"
#include "publish/json.h"
#include "publish/publish-impl.h"

#define NX 100
#define NY 80
#define NL 3
#define STEP 10

static float g_dbz[NL * NY * NX];

/* 1 km cells, no projection: area = pixel count. */
static impa_grid_t plain_grid(void)
{
    impa_grid_t g;
    memset(&g, 0, sizeof g);
    g.nx = NX, g.ny = NY;
    g.x0 = 500, g.y0 = 79500, g.dx = 1000, g.dy = -1000;
    snprintf(g.x_units, sizeof g.x_units, "m");
    return g;
}

/* 0.01 degree cells, north-up. */
static impa_grid_t latlon_grid(void)
{
    impa_grid_t g;
    memset(&g, 0, sizeof g);
    g.nx = NX, g.ny = NY;
    g.x0 = 150.0, g.y0 = -27.0, g.dx = 0.01, g.dy = -0.01;
    snprintf(g.x_units, sizeof g.x_units, "degrees_east");
    snprintf(g.grid_mapping_name, sizeof g.grid_mapping_name, "latitude_longitude");
    return g;
}

/* Disk storm: 55 dBZ at the centre falling 1 dBZ per cell to the radius, 20 dBZ
 * elsewhere. Returns the truth for pixels >= 45. */
typedef struct {
    int n;
    double sum, max, sc, sr;
    int c0, r0, c1, r1;
} truth_t;

static truth_t paint_disk(float *f, double cc, double cr, double radius)
{
    truth_t t = {0, 0, -1e9, 0, 0, NX, NY, -1, -1};
    for (int r = 0; r < NY; r++)
        for (int c = 0; c < NX; c++) {
            double d = hypot(c - cc, r - cr);
            if (d > radius)
                continue;
            float v = (float)(55.0 - d);
            f[r * NX + c] = v;
            if (v >= 45.0f) {
                t.n++, t.sum += v, t.sc += c, t.sr += r;
                if (v > t.max) t.max = v;
                if (c < t.c0) t.c0 = c;
                if (c > t.c1) t.c1 = c;
                if (r < t.r0) t.r0 = r;
                if (r > t.r1) t.r1 = r;
            }
        }
    return t;
}

static void fill(float *f, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        f[i] = v;
}

static impa_forecast_t forecast(const impa_grid_t *g, int64_t issue)
{
    impa_forecast_t fc;
    memset(&fc, 0, sizeof fc);
    fc.domain = "test";
    fc.issue_time = issue;
    fc.step_minutes = STEP;
    fc.n_leads = NL;
    fc.grid = g;
    fc.dbz = g_dbz;
    fc.method = IMPA_METHOD_EXTRAPOLATION;
    return fc;
}

/* The publisher's GeoJSON of the tracker's last update of fc (valid until the
 * next call). */
static const char *geojson(const impa_alert_tracker_t *tr, impa_forecast_t *fc, size_t *len)
{
    static impa_json_t j;
    static int init;
    if (!init)
        impa_json_init(&j), init = 1;
    fc->alerts = impa_alert_tracker_alerts(tr);
    *len = 0;
    if (impa_alerts_geojson(&j, fc) != 0)
        return NULL;
    *len = j.len;
    return j.buf;
}

static impa_alert_tracker_t *tracker(const impa_alert_config_t *cfg)
{
    impa_alert_tracker_t *tr = NULL;
    char err[256];
    assert_int_equal(impa_alert_tracker_create(cfg, &tr, err, sizeof err), 0);
    return tr;
}

static void test_json_roundtrip(void **state)
{
    impa_json_t j;
    impa_json_init(&j);
    impa_json_obj_begin(&j, NULL);
    impa_json_str(&j, "s", "a\"b\\c\n\x01");
    impa_json_num(&j, "nan", NAN);
    impa_json_num(&j, "x", 1.5);
    impa_json_arr_begin(&j, "a");
    impa_json_int(&j, NULL, -3);
    impa_json_bool(&j, NULL, 1);
    impa_json_arr_end(&j);
    impa_json_obj_end(&j);
    assert_int_equal(impa_json_finish(&j), 0);
    assert_string_equal(j.buf, "{\"s\":\"a\\\"b\\\\c\\n\\u0001\",\"nan\":null,\"x\":1.5,\"a\":[-3,true]}");
    impa_json_node_t nodes[32];
    assert_true(impa_json_parse(j.buf, j.len, nodes, 32) > 0);
    char buf[32];
    assert_string_equal(impa_json_get_str(nodes, 0, "s", buf, sizeof buf, ""), "a\"b\\c\n\x01");
    assert_true(impa_json_get_num(nodes, 0, "x", 0) == 1.5);
    int a = impa_json_get(nodes, 0, "a");
    assert_int_equal(nodes[a].n_children, 2);
    assert_int_equal(nodes[nodes[a].first_child].num, -3);
    assert_int_equal(impa_json_get(nodes, 0, "nan") >= 0, 1);
    impa_json_parse_free(nodes);
    assert_int_equal(impa_json_parse("{\"a\":", 5, nodes, 32) < 0, 1);
    /* bytes that are not UTF-8 are written as '?', the document stays valid */
    impa_json_reset(&j);
    impa_json_obj_begin(&j, NULL);
    impa_json_str(&j, "p", "/data/\xff\xfe.nc");
    impa_json_obj_end(&j);
    assert_int_equal(impa_json_finish(&j), 0);
    assert_string_equal(j.buf, "{\"p\":\"/data/??.nc\"}");
    impa_json_deinit(&j);
}

static void test_storm_stats(void **state)
{
    impa_grid_t g = plain_grid();
    fill(g_dbz, NL * NY * NX, 20.0f);
    truth_t t = paint_disk(g_dbz, 30, 40, 12);
    g_dbz[5 * NX + 80] = 60; /* 2-pixel blob: area 2 km2 < min 4 km2 */
    g_dbz[5 * NX + 81] = 60;
    g_dbz[70 * NX + 10] = NAN;
    impa_alert_config_t cfg;
    impa_alert_config_default(&cfg);
    impa_alert_config_immediate(&cfg); /* every cell at once: the life cycle is test_life_cycle's */
    impa_alert_tracker_t *tr = tracker(&cfg);
    impa_forecast_t fc = forecast(&g, 1700000000);
    fc.n_leads = 1;
    assert_int_equal(impa_alert_tracker_update(tr, &fc, NULL, 0), 0);
    assert_int_equal(impa_alert_tracker_n_cells(tr), 1);
    const impa_alert_cell_t *c = impa_alert_tracker_cell(tr, 0);
    assert_int_equal(c->n_pixels, t.n);
    assert_true(fabs(c->area_km2 - t.n) < 1e-9);
    assert_true(fabs(c->max_dbz - 55.0) < 1e-6);
    assert_true(fabs(c->mean_dbz - t.sum / t.n) < 1e-4);
    assert_true(fabs(c->cx - 30.0) < 1e-9 && fabs(c->cy - 40.0) < 1e-9);
    assert_int_equal(c->col0, t.c0);
    assert_int_equal(c->col1, t.c1);
    assert_int_equal(c->row0, t.r0);
    assert_int_equal(c->row1, t.r1);
    assert_int_equal(c->event, IMPA_ALERT_NEW);
    assert_int_equal(c->valid_time, 1700000000 + STEP * 60);
    assert_int_equal(c->has_latlon, 0);
    /* Outline: closed ring hugging the disk (radius 10 px => within 10.5 +- 1 px). */
    assert_true(c->n_outline >= 8 && c->n_outline <= IMPA_ALERT_MAX_OUTLINE + 1);
    assert_true(c->ox[0] == c->ox[c->n_outline - 1] && c->oy[0] == c->oy[c->n_outline - 1]);
    double area2 = 0;
    for (int i = 0; i < c->n_outline; i++) {
        double d = hypot(c->ox[i] - 30, c->oy[i] - 40);
        assert_true(d > 8.5 && d < 12.0);
        if (i)
            area2 += c->ox[i - 1] * c->oy[i] - c->ox[i] * c->oy[i - 1];
    }
    /* Polygon area close to the pixel area. */
    assert_true(fabs(fabs(area2) / 2 - t.n) < 0.1 * t.n);
    size_t len;
    const char *gj = geojson(tr, &fc, &len);
    assert_non_null(gj);
    assert_null(strstr(gj, "\"coordinates\":\"grid\"")); /* protocol 2: in the alert header */
    assert_null(strstr(gj, "\"note\""));
    impa_json_node_t *nodes = malloc(4096 * sizeof *nodes);
    assert_true(impa_json_parse(gj, len, nodes, 4096) > 0);
    int feats = impa_json_get(nodes, 0, "features");
    assert_int_equal(nodes[feats].n_children, 1);
    int p = impa_json_get(nodes, nodes[feats].first_child, "properties");
    assert_true(fabs(impa_json_get_num(nodes, p, "area_km2", 0) - t.n) < 1e-6);
    /* no probability product: probability null */
    int pn = impa_json_get(nodes, p, "probability");
    assert_true(pn >= 0);
    assert_true(nodes[pn].type == IMPA_JSON_NULL);
    impa_json_parse_free(nodes);

    /* with it: the maximum P(>= 45) over the cell's pixels at its lead; the 0.9
     * outside the cell does not count */
    static float pp[NY * NX];
    fill(pp, NY * NX, 0.2f);
    pp[40 * NX + 30] = 0.7f;
    pp[5 * NX + 5] = 0.9f;
    impa_prob_field_t pf = {.n_thresholds = 2, .thresholds = {35.0f, 45.0f}, .n_leads = 1,
                            .ny = NY, .nx = NX, .p = NULL};
    static float both[2 * NY * NX];
    fill(both, NY * NX, 1.0f); /* the 35 dBZ field, not the one to read */
    memcpy(both + NY * NX, pp, sizeof pp);
    pf.p = both;
    fc.prob = &pf;
    gj = geojson(tr, &fc, &len);
    assert_true(impa_json_parse(gj, len, nodes, 4096) > 0);
    feats = impa_json_get(nodes, 0, "features");
    p = impa_json_get(nodes, nodes[feats].first_child, "properties");
    assert_true(fabs(impa_json_get_num(nodes, p, "probability", -1) - 0.7) < 1e-6);
    impa_json_parse_free(nodes), free(nodes);
    impa_alert_tracker_destroy(&tr);
    assert_null(tr);
}

/* A single pixel and an L shape with a diagonal-only contact: 8-connected, one
 * cell each, outlines closed. */
static void test_shapes(void **state)
{
    impa_grid_t g = plain_grid();
    fill(g_dbz, NY * NX, 0.0f);
    /* diagonal chain of 5 pixels: one 8-connected cell */
    for (int k = 0; k < 5; k++)
        g_dbz[(10 + k) * NX + 10 + k] = 50;
    /* 2x3 block */
    for (int r = 30; r < 32; r++)
        for (int c = 50; c < 53; c++)
            g_dbz[r * NX + c] = 47;
    impa_alert_config_t cfg;
    impa_alert_config_default(&cfg);
    impa_alert_config_immediate(&cfg); /* every cell at once: the life cycle is test_life_cycle's */
    impa_alert_tracker_t *tr = tracker(&cfg);
    impa_forecast_t fc = forecast(&g, 0);
    fc.n_leads = 1;
    assert_int_equal(impa_alert_tracker_update(tr, &fc, NULL, 0), 0);
    assert_int_equal(impa_alert_tracker_n_cells(tr), 2);
    const impa_alert_cell_t *a = impa_alert_tracker_cell(tr, 0), *b = impa_alert_tracker_cell(tr, 1);
    assert_int_equal(a->n_pixels, 5);
    assert_int_equal(b->n_pixels, 6);
    /* the block's outline is exactly its 4 corners (+ closing vertex) */
    assert_int_equal(b->n_outline, 5);
    for (int i = 0; i < 4; i++) {
        assert_true(b->ox[i] == 49.5 || b->ox[i] == 52.5);
        assert_true(b->oy[i] == 29.5 || b->oy[i] == 31.5);
    }
    assert_true(a->n_outline >= 4);
    assert_true(a->ox[0] == a->ox[a->n_outline - 1]);
    impa_alert_tracker_destroy(&tr);
}

/* A cell moving 3 columns per lead keeps its id over the leads and into the next
 * cycle (issued one step later), and is reported ended when it disappears. */
static void test_tracking(void **state)
{
    impa_grid_t g = plain_grid();
    impa_alert_config_t cfg;
    impa_alert_config_default(&cfg);
    impa_alert_config_immediate(&cfg); /* every cell at once: the life cycle is test_life_cycle's */
    impa_alert_tracker_t *tr = tracker(&cfg);
    int64_t t0 = 1700000000;
    /* cycle 1: centre at col 20 + 3*(k+1) */
    fill(g_dbz, NL * NY * NX, 10.0f);
    for (int k = 0; k < NL; k++)
        paint_disk(g_dbz + k * NY * NX, 20 + 3 * (k + 1), 40, 8);
    impa_forecast_t fc = forecast(&g, t0);
    assert_int_equal(impa_alert_tracker_update(tr, &fc, NULL, 0), 0);
    assert_int_equal(impa_alert_tracker_n_cells(tr), NL);
    int64_t id = impa_alert_tracker_cell(tr, 0)->id;
    for (int k = 0; k < NL; k++) {
        assert_int_equal(impa_alert_tracker_cell(tr, k)->id, id);
        assert_int_equal(impa_alert_tracker_cell(tr, k)->lead, k);
        assert_int_equal(impa_alert_tracker_cell(tr, k)->event, IMPA_ALERT_NEW);
    }
    /* cycle 2, one step later, cell moved on; a second cell appears far away */
    fill(g_dbz, NL * NY * NX, 10.0f);
    for (int k = 0; k < NL; k++) {
        paint_disk(g_dbz + k * NY * NX, 20 + 3 * (k + 2), 40, 8);
        paint_disk(g_dbz + k * NY * NX, 80, 10, 6);
    }
    fc = forecast(&g, t0 + STEP * 60);
    assert_int_equal(impa_alert_tracker_update(tr, &fc, NULL, 0), 0);
    assert_int_equal(impa_alert_tracker_n_cells(tr), 2 * NL);
    int seen_old = 0, seen_new = 0;
    int64_t other = -1;
    for (int i = 0; i < 2 * NL; i++) {
        const impa_alert_cell_t *c = impa_alert_tracker_cell(tr, i);
        if (c->cx < 60) {
            assert_int_equal(c->id, id);
            assert_int_equal(c->event, IMPA_ALERT_UPDATED);
            seen_old++;
        } else {
            assert_true(c->id != id);
            assert_int_equal(c->event, IMPA_ALERT_NEW);
            if (other < 0)
                other = c->id;
            assert_int_equal(c->id, other);
            seen_new++;
        }
    }
    assert_int_equal(seen_old, NL);
    assert_int_equal(seen_new, NL);
    assert_int_equal(impa_alert_tracker_n_ended(tr), 0);
    /* cycle 3: the moving cell is gone, the other stays */
    fill(g_dbz, NL * NY * NX, 10.0f);
    for (int k = 0; k < NL; k++)
        paint_disk(g_dbz + k * NY * NX, 80, 10, 6);
    fc = forecast(&g, t0 + 2 * STEP * 60);
    assert_int_equal(impa_alert_tracker_update(tr, &fc, NULL, 0), 0);
    assert_int_equal(impa_alert_tracker_n_ended(tr), 1);
    const impa_alert_cell_t *e = impa_alert_tracker_ended(tr, 0);
    assert_int_equal(e->id, id);
    assert_int_equal(e->event, IMPA_ALERT_ENDED);
    /* representative: the previous cycle's cell valid at the new first lead */
    assert_int_equal(e->valid_time, t0 + 3 * STEP * 60);
    for (int i = 0; i < impa_alert_tracker_n_cells(tr); i++) {
        assert_int_equal(impa_alert_tracker_cell(tr, i)->id, other);
        assert_int_equal(impa_alert_tracker_cell(tr, i)->event, IMPA_ALERT_UPDATED);
    }
    size_t len;
    const char *gj = geojson(tr, &fc, &len);
    assert_non_null(strstr(gj, "\"event\":\"ended\""));
    impa_alert_tracker_destroy(&tr);
}

/* Lat/lon grid: centroid and outline in degrees; a cell moving east first touches
 * a watch region at lead index 2 and the region is named with that time. */
static void test_watch_region(void **state)
{
    impa_grid_t g = latlon_grid();
    impa_alert_config_t cfg;
    impa_alert_config_default(&cfg);
    impa_alert_config_immediate(&cfg); /* every cell at once: the life cycle is test_life_cycle's */
    cfg.min_area_km2 = 1;
    cfg.n_regions = 2;
    impa_watch_region_t *r = &cfg.regions[0];
    snprintf(r->name, sizeof r->name, "town");
    /* columns 50..60, rows 30..50: lon 150.50..150.60, lat -27.30..-27.50 */
    double lat[4] = {-27.295, -27.295, -27.505, -27.505}, lon[4] = {150.495, 150.605, 150.605, 150.495};
    r->n_vertices = 4;
    memcpy(r->lat, lat, sizeof lat);
    memcpy(r->lon, lon, sizeof lon);
    impa_watch_region_t *far = &cfg.regions[1];
    snprintf(far->name, sizeof far->name, "far");
    double flat[3] = {-26.0, -26.0, -26.1}, flon[3] = {140.0, 140.1, 140.0};
    far->n_vertices = 3;
    memcpy(far->lat, flat, sizeof flat);
    memcpy(far->lon, flon, sizeof flon);
    impa_alert_tracker_t *tr = tracker(&cfg);
    /* disk radius 8 (>= 45 dBZ within 10 px), right edge at col cx+10:
     * leads: cx = 25, 33, 41 -> right edges 35, 43, 51: touches col 50 at lead 2 only */
    fill(g_dbz, NL * NY * NX, 0.0f);
    for (int k = 0; k < NL; k++)
        paint_disk(g_dbz + k * NY * NX, 25 + 8 * k, 40, 12);
    int64_t t0 = 1700000000;
    impa_forecast_t fc = forecast(&g, t0);
    assert_int_equal(impa_alert_tracker_update(tr, &fc, NULL, 0), 0);
    assert_int_equal(impa_alert_tracker_n_cells(tr), NL);
    for (int k = 0; k < NL; k++) {
        const impa_alert_cell_t *c = impa_alert_tracker_cell(tr, k);
        assert_int_equal(c->has_latlon, 1);
        assert_true(fabs(c->lat - (-27.40)) < 1e-9);
        assert_true(fabs(c->lon - (150.0 + 0.01 * (25 + 8 * k))) < 1e-9);
        assert_int_equal(c->regions, k == 2 ? 1u : 0u);
        assert_int_equal(c->region_first[0], t0 + 3 * STEP * 60);
        assert_int_equal(c->region_first[1], 0);
        /* outline vertices within the cell bbox in degrees */
        for (int i = 0; i < c->n_outline; i++) {
            assert_true(c->olat[i] <= -27.0 - 0.01 * (c->row0 - 0.5) + 1e-9);
            assert_true(c->olat[i] >= -27.0 - 0.01 * (c->row1 + 0.5) - 1e-9);
        }
    }
    size_t len;
    const char *gj = geojson(tr, &fc, &len);
    assert_non_null(strstr(gj, "\"name\":\"town\",\"first_valid_time\":\"2023-11-14T22:43:20Z\""));
    assert_null(strstr(gj, "\"coordinates\":\"lonlat\"")); /* RFC 7946 7.1: not in the collection */
    assert_null(strstr(gj, "\"far\""));
    impa_alert_tracker_destroy(&tr);
}

/* Watch regions through GEOS prepared geometries give the same bits as the plain
 * GEOSIntersects path, on a lattice and on every vertex and edge midpoint (border
 * points count as inside), and the even-odd test's bits off the borders. */
static void test_region_masks_prepared(void **state)
{
    (void)state;
    impa_watch_region_t reg[3];
    memset(reg, 0, sizeof reg);
    /* concave "L", a triangle, a comb with 3 teeth (open ring: closed by the code) */
    double l_lat[6] = {0, 0, 1, 1, 3, 3}, l_lon[6] = {0, 3, 3, 1, 1, 0};
    double t_lat[3] = {0.5, 2.5, 0.5}, t_lon[3] = {0.5, 1.5, 2.9};
    double c_lat[8] = {-1, -1, 2, 2, 0, 0, 2, 2}, c_lon[8] = {-1, 2.5, 2.5, 1.6, 1.6, 0.4, 0.4, -1};
    const double *la[3] = {l_lat, t_lat, c_lat}, *lo[3] = {l_lon, t_lon, c_lon};
    int nv[3] = {6, 3, 8};
    for (int k = 0; k < 3; k++) {
        snprintf(reg[k].name, sizeof reg[k].name, "r%d", k);
        reg[k].n_vertices = nv[k];
        memcpy(reg[k].lat, la[k], (size_t)nv[k] * sizeof(double));
        memcpy(reg[k].lon, lo[k], (size_t)nv[k] * sizeof(double));
    }
    enum { NG = 97 };
    size_t n_border = 0;
    for (int k = 0; k < 3; k++)
        n_border += 2 * (size_t)nv[k];
    size_t n = (size_t)NG * NG + n_border;
    double *lat = malloc(n * sizeof *lat), *lon = malloc(n * sizeof *lon);
    uint32_t *mp = malloc(n * sizeof *mp), *mu = malloc(n * sizeof *mu);
    assert_non_null(lat);
    assert_non_null(lon);
    assert_non_null(mp);
    assert_non_null(mu);
    /* lattice from -1.5 to 3.5 in steps of 5/96 + a tiny offset: never on a border */
    for (int i = 0; i < NG; i++)
        for (int j = 0; j < NG; j++) {
            lat[i * NG + j] = -1.5 + 5.0 * i / (NG - 1) + 1e-7;
            lon[i * NG + j] = -1.5 + 5.0 * j / (NG - 1) + 1e-7;
        }
    size_t p = (size_t)NG * NG;
    for (int k = 0; k < 3; k++)
        for (int v = 0; v < nv[k]; v++) {
            int w = (v + 1) % nv[k];
            lat[p] = la[k][v];
            lon[p++] = lo[k][v];
            lat[p] = 0.5 * (la[k][v] + la[k][w]);
            lon[p++] = 0.5 * (lo[k][v] + lo[k][w]);
        }
    char err[256] = "";
    assert_int_equal(impa_alert_region_masks(reg, 3, lat, lon, n, 1, mp, err, sizeof err), 0);
    assert_int_equal(impa_alert_region_masks(reg, 3, lat, lon, n, 0, mu, err, sizeof err), 0);
    size_t in[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(mp[i], mu[i]);
        for (int k = 0; k < 3; k++)
            in[k] += (mp[i] >> k) & 1u;
        if (i < (size_t)NG * NG) {
            uint32_t eo = 0;
            for (int k = 0; k < 3; k++)
                if (impa_alert_point_in_region(&reg[k], lat[i], lon[i]))
                    eo |= 1u << k;
            assert_int_equal(mp[i], eo);
        }
    }
    /* vertices (exact border points) are inside their region; edge midpoints may
     * round off the edge, so only the equality above holds for them */
    p = (size_t)NG * NG;
    for (int k = 0; k < 3; k++)
        for (int v = 0; v < nv[k]; v++, p += 2)
            assert_true(mp[p] & (1u << k));
    for (int k = 0; k < 3; k++) {
        assert_true(in[k] > 100);
        assert_true(in[k] < n / 2);
    }
    /* a region with too few vertices is refused, named */
    reg[1].n_vertices = 2;
    assert_int_equal(impa_alert_region_masks(reg, 3, lat, lon, n, 1, mp, err, sizeof err),
                     IMPA_EINVAL);
    assert_non_null(strstr(err, "'r1'"));
    free(lat);
    free(lon);
    free(mp);
    free(mu);
}

/* A cell that splits: the larger part keeps the id, the smaller gets a new one. */
static void test_split(void **state)
{
    impa_grid_t g = plain_grid();
    impa_alert_config_t cfg;
    impa_alert_config_default(&cfg);
    impa_alert_config_immediate(&cfg); /* every cell at once: the life cycle is test_life_cycle's */
    impa_alert_tracker_t *tr = tracker(&cfg);
    fill(g_dbz, 2 * NY * NX, 0.0f);
    /* lead 0: two disks joined by a bridge; lead 1: the same disks apart */
    paint_disk(g_dbz, 30, 40, 10);
    paint_disk(g_dbz, 50, 40, 7);
    for (int c = 30; c <= 50; c++)
        g_dbz[40 * NX + c] = 50;
    paint_disk(g_dbz + NY * NX, 30, 40, 10);
    paint_disk(g_dbz + NY * NX, 52, 40, 7);
    impa_forecast_t fc = forecast(&g, 0);
    fc.n_leads = 2;
    assert_int_equal(impa_alert_tracker_update(tr, &fc, NULL, 0), 0);
    assert_int_equal(impa_alert_tracker_n_cells(tr), 3);
    const impa_alert_cell_t *a = impa_alert_tracker_cell(tr, 0);
    assert_int_equal(a->lead, 0);
    for (int i = 1; i < 3; i++) {
        const impa_alert_cell_t *c = impa_alert_tracker_cell(tr, i);
        assert_int_equal(c->lead, 1);
        if (c->cx < 40)
            assert_int_equal(c->id, a->id);
        else
            assert_true(c->id != a->id);
    }
    impa_alert_tracker_destroy(&tr);
}

/* w x h block of v dBZ with its top-left pixel at (r, c) on lead k of g_dbz */
static void lc_block(int k, int r, int c, int h, int w, float v)
{
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++)
            g_dbz[(size_t)k * NY * NX + (size_t)(r + i) * NX + c + j] = v;
}

static const impa_alerts_t *lc_update(impa_alert_tracker_t *tr, const impa_grid_t *g,
                                      int64_t issue)
{
    impa_forecast_t fc;
    memset(&fc, 0, sizeof fc);
    fc.grid = g, fc.dbz = g_dbz, fc.n_leads = NL, fc.step_minutes = STEP, fc.issue_time = issue;
    fc.domain = "t";
    char err[256];
    assert_int_equal(impa_alert_tracker_update(tr, &fc, err, sizeof err), 0);
    return impa_alert_tracker_alerts(tr);
}

/* The life cycle with the default configuration: persistence before an Alert
 * (a small cell waits one cycle; a large or intense one is alerted at once),
 * hysteresis before Cancel (one missing cycle holds, two end), candidates never
 * cancelled, fragments within cluster_km one cell, matching by overlap alone. */
static void test_life_cycle(void **state)
{
    (void)state;
    impa_grid_t g = plain_grid();
    impa_alert_config_t cfg;
    impa_alert_config_default(&cfg);
    assert_int_equal(cfg.confirm_age_minutes, 10);
    assert_int_equal(cfg.cancel_after_minutes, 10);
    cfg.match_km = 0; /* continuation by overlap of the advected outline only */
    impa_alert_tracker_t *tr = NULL;
    char err[256];
    assert_int_equal(impa_alert_tracker_create(&cfg, &tr, err, sizeof err), 0);
    const int64_t T = 1700000000;
    size_t n = (size_t)NL * NY * NX;

    /* cycle 1: a 5 x 5 km cell (25 km2 < 50, 50 dBZ < 60) at every lead: a candidate */
    fill(g_dbz, n, 20);
    for (int k = 0; k < NL; k++)
        lc_block(k, 10, 10 + k, 5, 5, 50);
    const impa_alerts_t *a = lc_update(tr, &g, T);
    assert_int_equal(a->n_cells, 0);
    assert_int_equal(a->n_candidates, 1);
    assert_int_equal(impa_alert_tracker_n_cells(tr), 0);

    /* cycle 2: found again where cycle 1 forecast it: alerted, event new */
    fill(g_dbz, n, 20);
    for (int k = 0; k < NL; k++)
        lc_block(k, 10, 11 + k, 5, 5, 50);
    a = lc_update(tr, &g, T + 600);
    assert_int_equal(a->n_cells, NL);
    assert_int_equal(a->n_new, 1);
    int64_t id = a->cells[0].id;
    assert_int_equal(a->cells[0].event, IMPA_ALERT_NEW);
    assert_int_equal(a->cells[0].status, IMPA_ALERT_ALERTED);
    assert_int_equal(a->cells[0].first_issue, T);

    /* cycle 3: not forecast: held (no Cancel), its last forecast kept */
    fill(g_dbz, n, 20);
    a = lc_update(tr, &g, T + 1200);
    assert_int_equal(a->n_cells, 0);
    assert_int_equal(a->n_ended, 0);
    assert_int_equal(a->n_held_tracks, 1);
    assert_int_equal(a->n_held, 2); /* cycle 2's leads valid after T+1200 */
    assert_int_equal(a->held[0].id, id);

    /* cycle 4: back where the held forecast has it: the same track, updated */
    fill(g_dbz, n, 20);
    for (int k = 0; k < NL; k++)
        lc_block(k, 10, 13 + k, 5, 5, 50);
    a = lc_update(tr, &g, T + 1800);
    assert_int_equal(a->n_cells, NL);
    assert_int_equal(a->cells[0].id, id);
    assert_int_equal(a->cells[0].event, IMPA_ALERT_UPDATED);
    assert_int_equal(a->n_ended, 0);

    /* cycles 5 and 6: gone: held, then ended (missing 20 min > 10) */
    fill(g_dbz, n, 20);
    a = lc_update(tr, &g, T + 2400);
    assert_int_equal(a->n_ended, 0);
    assert_int_equal(a->n_held_tracks, 1);
    a = lc_update(tr, &g, T + 3000);
    assert_int_equal(a->n_ended, 1);
    assert_int_equal(a->ended[0].id, id);
    assert_int_equal(a->n_held, 0);

    /* a large (10 x 10 = 100 km2) and an intense (62 dBZ) cell: alerted at once; a
     * small one stays a candidate; two 3 x 3 blocks 2 km apart are one cell */
    fill(g_dbz, n, 20);
    lc_block(0, 30, 10, 10, 10, 50);
    lc_block(0, 30, 40, 3, 3, 62);
    lc_block(0, 30, 60, 5, 5, 50);
    lc_block(0, 60, 10, 3, 3, 50);
    lc_block(0, 60, 15, 3, 3, 50);
    a = lc_update(tr, &g, T + 3600);
    assert_int_equal(a->n_cells, 2);
    assert_int_equal(a->n_new, 2);
    assert_int_equal(a->n_candidates, 2);
    assert_int_equal(a->cells[0].n_pixels + a->cells[1].n_pixels, 100 + 9);
    assert_int_equal(a->n_ended, 0);
    /* next cycle nothing: the alerted two are held, the candidates vanish silently */
    fill(g_dbz, n, 20);
    a = lc_update(tr, &g, T + 4200);
    assert_int_equal(a->n_held_tracks, 0); /* both were forecast at lead 0 only: nothing left to hold */
    assert_int_equal(a->n_ended, 2);
    impa_alert_tracker_destroy(&tr);

    /* cluster_km: the two 3 x 3 blocks 2 km apart are one cell of 18 px; 0 splits them */
    for (int cl = 0; cl < 2; cl++) {
        impa_alert_config_default(&cfg);
        impa_alert_config_immediate(&cfg);
        cfg.cluster_km = cl ? 3 : 0;
        cfg.min_area_km2 = 1;
        assert_int_equal(impa_alert_tracker_create(&cfg, &tr, err, sizeof err), 0);
        fill(g_dbz, n, 20);
        lc_block(0, 60, 10, 3, 3, 50);
        lc_block(0, 60, 15, 3, 3, 50);
        a = lc_update(tr, &g, T);
        assert_int_equal(a->n_cells, cl ? 1 : 2);
        assert_int_equal(a->cells[0].n_pixels, cl ? 18 : 9);
        impa_alert_tracker_destroy(&tr);
    }
}

static void test_bad_config(void **state)
{
    impa_alert_config_t cfg;
    impa_alert_config_default(&cfg);
    impa_alert_config_immediate(&cfg); /* every cell at once: the life cycle is test_life_cycle's */
    cfg.n_regions = 1;
    cfg.regions[0].n_vertices = 2;
    impa_alert_tracker_t *tr = NULL;
    char err[256] = "";
    assert_int_equal(impa_alert_tracker_create(&cfg, &tr, err, sizeof err), IMPA_EINVAL);
    assert_null(tr);
    assert_non_null(strstr(err, "vertices"));
    impa_alert_tracker_destroy(&tr); /* NULL is fine */
}

/* Paints cycle c of two storms: one moving east 3 cells per step, one standing. */
static void paint_cycle(int c)
{
    fill(g_dbz, NL * NY * NX, 10.0f);
    for (int k = 0; k < NL; k++) {
        paint_disk(g_dbz + k * NY * NX, 20 + 3 * (k + 1 + c), 40, 8);
        paint_disk(g_dbz + k * NY * NX, 80, 10, 6);
    }
}

/* A tracker restored from another's state continues its tracks exactly as the
 * original does (ids, events, ended tracks); damaged or misplaced states are
 * refused; tracks that ran out are not continued. */
static void test_state_restore(void **state)
{
    (void)state;
    impa_grid_t g = plain_grid();
    impa_alert_config_t cfg;
    impa_alert_config_default(&cfg);
    impa_alert_config_immediate(&cfg); /* every cell at once: the life cycle is test_life_cycle's */
    impa_alert_tracker_t *a = tracker(&cfg), *b = tracker(&cfg);
    int64_t t0 = 1700000000;
    for (int c = 0; c < 2; c++) { /* two cycles, so ids are not simply 1 and 2 */
        paint_cycle(c);
        impa_forecast_t fc = forecast(&g, t0 + c * STEP * 60);
        assert_int_equal(impa_alert_tracker_update(a, &fc, NULL, 0), 0);
    }
    size_t n = impa_alert_tracker_state_size(a);
    unsigned char *buf = malloc(n + 1);
    assert_int_equal(impa_alert_tracker_state_write(a, buf, n - 1), 0); /* too small */
    assert_int_equal(impa_alert_tracker_state_write(a, buf, n), n);
    char err[256];
    /* damaged: cut short, or a cell id beyond the next id */
    assert_int_equal(impa_alert_tracker_state_read(b, buf, n - 1, err, sizeof err), IMPA_EFORMAT);
    assert_int_equal(impa_alert_tracker_state_read(b, buf, n, err, sizeof err), 0);
    /* cycle 3: the moving storm is gone; both trackers must agree */
    fill(g_dbz, NL * NY * NX, 10.0f);
    for (int k = 0; k < NL; k++)
        paint_disk(g_dbz + k * NY * NX, 80, 10, 6);
    impa_forecast_t fc = forecast(&g, t0 + 2 * STEP * 60);
    assert_int_equal(impa_alert_tracker_update(a, &fc, NULL, 0), 0);
    assert_int_equal(impa_alert_tracker_update(b, &fc, NULL, 0), 0);
    assert_int_equal(impa_alert_tracker_n_cells(b), NL);
    assert_int_equal(impa_alert_tracker_n_cells(b), impa_alert_tracker_n_cells(a));
    for (int i = 0; i < NL; i++) {
        assert_int_equal(impa_alert_tracker_cell(b, i)->id, impa_alert_tracker_cell(a, i)->id);
        assert_int_equal(impa_alert_tracker_cell(b, i)->event, IMPA_ALERT_UPDATED);
    }
    assert_int_equal(impa_alert_tracker_n_ended(b), 1);
    assert_int_equal(impa_alert_tracker_ended(b, 0)->id, impa_alert_tracker_ended(a, 0)->id);
    assert_int_equal(impa_alert_tracker_ended(b, 0)->valid_time,
                     impa_alert_tracker_ended(a, 0)->valid_time);
    /* a tracker that has run refuses a state */
    assert_int_equal(impa_alert_tracker_state_read(b, buf, n, err, sizeof err), IMPA_ESTATE);
    impa_alert_tracker_destroy(&b);

    /* a cell id at or beyond the stored next id is damage */
    unsigned char *bad = malloc(n);
    memcpy(bad, buf, n);
    impa_alert_cell_t cell;
    /* the last cell, before the raised flags of the watch regions */
    size_t off = n - IMPA_ALERT_MAX_REGIONS * sizeof(int32_t) - sizeof cell;
    memcpy(&cell, bad + off, sizeof cell);
    cell.id = 1000000;
    memcpy(bad + off, &cell, sizeof cell);
    b = tracker(&cfg);
    assert_int_equal(impa_alert_tracker_state_read(b, bad, n, err, sizeof err), IMPA_EFORMAT);
    assert_non_null(strstr(err, "id 1000000"));
    free(bad);

    /* restored on another grid: nothing continues, ids keep counting */
    impa_grid_t g2 = plain_grid();
    g2.x0 += 1000;
    assert_int_equal(impa_alert_tracker_state_read(b, buf, n, err, sizeof err), 0);
    paint_cycle(2);
    fc = forecast(&g2, t0 + 2 * STEP * 60);
    assert_int_equal(impa_alert_tracker_update(b, &fc, NULL, 0), 0);
    int64_t max_old = 0;
    for (int i = 0; i < impa_alert_tracker_n_cells(a); i++)
        if (impa_alert_tracker_cell(a, i)->id > max_old)
            max_old = impa_alert_tracker_cell(a, i)->id;
    for (int i = 0; i < impa_alert_tracker_n_cells(b); i++) {
        assert_int_equal(impa_alert_tracker_cell(b, i)->event, IMPA_ALERT_NEW);
        assert_true(impa_alert_tracker_cell(b, i)->id > max_old);
    }
    assert_int_equal(impa_alert_tracker_n_ended(b), 0);
    impa_alert_tracker_destroy(&b);

    /* restored long after its forecast ran out: not continued, nothing ended */
    b = tracker(&cfg);
    assert_int_equal(impa_alert_tracker_state_read(b, buf, n, err, sizeof err), 0);
    paint_cycle(2);
    fc = forecast(&g, t0 + 24 * 3600);
    assert_int_equal(impa_alert_tracker_update(b, &fc, NULL, 0), 0);
    for (int i = 0; i < impa_alert_tracker_n_cells(b); i++)
        assert_int_equal(impa_alert_tracker_cell(b, i)->event, IMPA_ALERT_NEW);
    assert_int_equal(impa_alert_tracker_n_ended(b), 0);
    impa_alert_tracker_destroy(&b);
    impa_alert_tracker_destroy(&a);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_roundtrip), cmocka_unit_test(test_storm_stats),
        cmocka_unit_test(test_shapes),         cmocka_unit_test(test_tracking),
        cmocka_unit_test(test_watch_region),   cmocka_unit_test(test_split),
        cmocka_unit_test(test_bad_config),     cmocka_unit_test(test_state_restore),
        cmocka_unit_test(test_life_cycle),     cmocka_unit_test(test_region_masks_prepared),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
