/* Every polygon the service emits is valid by GEOS: the GeoJSON features (read
 * back with GEOS's own GeoJSON reader) and the CAP <polygon>s of every cycle of
 * (1) a synthetic run whose cells touch at corners, have holes, rings and
 * staircase edges, and (2) a replay of the Brisbane hail storm of 2020-10-31
 * (BoM radar 66, 512x512 1 km Albers; 04:00-10:00 UTC, consecutive observed
 * scans standing in for the leads), skipped when ../shared/data is absent.
 * Also checked: rings closed, exteriors counterclockwise and holes clockwise
 * (RFC 7946 3.1.6), coordinates on 6 decimals, no foreign member at the
 * collection level. Prints the invalid counts of the published geometry and,
 * for comparison, of the tracker's coarse stored ring (the pre-GEOS outline). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "impa/alerts.h"
#include "impa/reader.h"
#include "impa/timeutil.h"
#include "publish/json.h"
#include "publish/outline.h"
#include "publish/publish-impl.h"

typedef struct {
    long polys, invalid, open_rings, bad_orient, off_grid, null_geom, holes;
    long cap_polys, cap_invalid;
    long old_rings, old_invalid; /* the tracker's stored ring, as published before */
} tally_t;

static GEOSContextHandle_t H;

static void check_ring(tally_t *t, const GEOSGeometry *r, int exterior)
{
    const GEOSCoordSequence *s = GEOSGeom_getCoordSeq_r(H, r);
    unsigned n = 0;
    GEOSCoordSeq_getSize_r(H, s, &n);
    double x0, y0, x1, y1;
    GEOSCoordSeq_getXY_r(H, s, 0, &x0, &y0);
    GEOSCoordSeq_getXY_r(H, s, n - 1, &x1, &y1);
    if (n < 4 || x0 != x1 || y0 != y1)
        t->open_rings++;
    char ccw = 0;
    GEOSCoordSeq_isCCW_r(H, s, &ccw);
    if ((exterior && !ccw) || (!exterior && ccw))
        t->bad_orient++;
    for (unsigned i = 0; i < n; i++) {
        double x, y;
        GEOSCoordSeq_getXY_r(H, s, i, &x, &y);
        if (fabs(x * 1e6 - round(x * 1e6)) > 1e-3 || fabs(y * 1e6 - round(y * 1e6)) > 1e-3)
            t->off_grid++;
    }
}

static void check_polygon(tally_t *t, const GEOSGeometry *p)
{
    t->polys++;
    if (GEOSisValid_r(H, p) != 1)
        t->invalid++;
    check_ring(t, GEOSGetExteriorRing_r(H, p), 1);
    int nh = GEOSGetNumInteriorRings_r(H, p);
    t->holes += nh;
    for (int i = 0; i < nh; i++)
        check_ring(t, GEOSGetInteriorRingN_r(H, p, i), 0);
}

static void check_old_ring(tally_t *t, const impa_alert_cell_t *c)
{
    if (c->n_outline < 4 || !c->has_latlon)
        return;
    GEOSCoordSequence *s = GEOSCoordSeq_create_r(H, (unsigned)c->n_outline, 2);
    for (int i = 0; i < c->n_outline; i++)
        GEOSCoordSeq_setXY_r(H, s, (unsigned)i, c->olon[i], c->olat[i]);
    GEOSGeometry *ring = GEOSGeom_createLinearRing_r(H, s);
    GEOSGeometry *pg = ring ? GEOSGeom_createPolygon_r(H, ring, NULL, 0) : NULL;
    t->old_rings++;
    if (!pg || GEOSisValid_r(H, pg) != 1)
        t->old_invalid++;
    if (pg)
        GEOSGeom_destroy_r(H, pg);
}

/* CAP <polygon>: "lat,lon lat,lon ..." */
static void check_cap(tally_t *t, const char *xml)
{
    for (const char *p = strstr(xml, "<polygon>"); p; p = strstr(p, "<polygon>")) {
        p += 9;
        const char *e = strstr(p, "</polygon>");
        assert_non_null(e);
        double lat[4096], lon[4096];
        unsigned n = 0;
        const char *q = p;
        while (q < e && n < 4096) {
            char *end;
            lat[n] = strtod(q, &end);
            assert_true(*end == ',');
            lon[n] = strtod(end + 1, &end);
            n++;
            q = end;
            while (q < e && *q == ' ')
                q++;
        }
        t->cap_polys++;
        int ok = n >= 4 && lat[0] == lat[n - 1] && lon[0] == lon[n - 1];
        if (ok) {
            GEOSCoordSequence *s = GEOSCoordSeq_create_r(H, n, 2);
            for (unsigned i = 0; i < n; i++)
                GEOSCoordSeq_setXY_r(H, s, i, lon[i], lat[i]);
            GEOSGeometry *ring = GEOSGeom_createLinearRing_r(H, s);
            GEOSGeometry *pg = ring ? GEOSGeom_createPolygon_r(H, ring, NULL, 0) : NULL;
            ok = pg && GEOSisValid_r(H, pg) == 1;
            if (pg)
                GEOSGeom_destroy_r(H, pg);
        }
        t->cap_invalid += !ok;
        p = e;
    }
}

/* One cycle: its GeoJSON through GEOS's reader, its CAP messages, the old rings. */
static void check_cycle(tally_t *t, impa_forecast_t *fc, const impa_alert_tracker_t *tr)
{
    static impa_json_t j;
    static int init;
    if (!init)
        impa_json_init(&j), init = 1;
    const impa_alerts_t *a = impa_alert_tracker_alerts(tr);
    fc->alerts = a;
    assert_int_equal(impa_alerts_geojson(&j, fc), 0);
    /* no foreign member at the collection level: its first keys are type, features */
    assert_non_null(strstr(j.buf, "{\"type\":\"FeatureCollection\",\"features\":["));
    GEOSGeoJSONReader *rd = GEOSGeoJSONReader_create_r(H);
    GEOSGeometry *gc = GEOSGeoJSONReader_readGeometry_r(H, rd, j.buf);
    assert_non_null(gc);
    int nf = GEOSGetNumGeometries_r(H, gc);
    assert_int_equal(nf, a->n_cells + a->n_ended);
    for (int i = 0; i < nf; i++) {
        const GEOSGeometry *g = GEOSGetGeometryN_r(H, gc, i);
        int ty = GEOSGeomTypeId_r(H, g);
        if (ty == GEOS_POLYGON) {
            check_polygon(t, g);
        } else if (ty == GEOS_MULTIPOLYGON) {
            for (int k = 0; k < GEOSGetNumGeometries_r(H, g); k++)
                check_polygon(t, GEOSGetGeometryN_r(H, g, k));
        } else {
            t->null_geom++;
        }
    }
    GEOSGeom_destroy_r(H, gc);
    GEOSGeoJSONReader_destroy_r(H, rd);
    for (int i = 0; i < a->n_cells + a->n_ended; i++) {
        const impa_alert_cell_t *c = i < a->n_cells ? &a->cells[i] : &a->ended[i - a->n_cells];
        check_old_ring(t, c);
        impa_cap_event_t ev = {0};
        ev.cell_id = c->id;
        ev.event = c->event;
        ev.shape = c;
        ev.pixels = i < a->n_cells ? a->pixels : a->ended_pixels;
        ev.grid = fc->grid;
        ev.onset = c->valid_time;
        ev.expires = c->valid_time + 600;
        ev.max_dbz = c->max_dbz;
        ev.area_km2 = c->area_km2;
        static char xml[1 << 20];
        char ident[192], sent[32];
        int len = impa_cap_format(&ev, "test", "test", "0011223344556677", fc->issue_time,
                                  fc->issue_time + 5, ident,
                                  sent, xml, sizeof xml);
        assert_true(len > 0);
        check_cap(t, xml);
    }
}

static void report(const char *what, const tally_t *t)
{
    print_message("%s: GeoJSON %ld polygons (%ld holes), %ld invalid by GEOS, %ld open rings, "
                  "%ld against the right-hand rule, %ld coordinates off 6 decimals, %ld null; "
                  "CAP %ld polygons, %ld invalid; the tracker's stored ring (pre-GEOS outline): "
                  "%ld of %ld invalid\n",
                  what, t->polys, t->holes, t->invalid, t->open_rings, t->bad_orient, t->off_grid,
                  t->null_geom, t->cap_polys, t->cap_invalid, t->old_invalid, t->old_rings);
}

static void assert_clean(const tally_t *t)
{
    assert_true(t->polys > 0);
    assert_int_equal(t->invalid, 0);
    assert_int_equal(t->open_rings, 0);
    assert_int_equal(t->bad_orient, 0);
    assert_int_equal(t->off_grid, 0);
    assert_int_equal(t->null_geom, 0);
    assert_true(t->cap_polys > 0);
    assert_int_equal(t->cap_invalid, 0);
}

enum { NY = 120, NX = 160, NL = 6 };

/* Shapes that break naive outlines: a diagonal chain (corner contacts), an annulus
 * (hole), a blob with a notch and an island in a hole, a checkerboard patch,
 * random blobs; all moving. */
static void paint(float *f, int cyc, int k, unsigned *seed)
{
    for (int i = 0; i < NY * NX; i++)
        f[i] = 20.0f;
    int s = cyc + k;
#define SET(r, c) do { int rr_ = (r), cc_ = (c); \
        if (rr_ >= 0 && rr_ < NY && cc_ >= 0 && cc_ < NX) f[rr_ * NX + cc_] = 50.0f + (float)((rr_ + cc_) % 11); } while (0)
    for (int i = 0; i < 14; i++) /* diagonal staircase of 2x2 blocks touching at corners */
        for (int d = 0; d < 4; d++)
            SET(5 + 2 * i + d / 2, 5 + s + 2 * i + d % 2);
    for (int r = -10; r <= 10; r++) /* annulus */
        for (int c = -10; c <= 10; c++) {
            int q = r * r + c * c;
            if (q <= 100 && q >= 25)
                SET(30 + r, 60 + s + c);
            if (q <= 2) /* island inside the hole */
                SET(30 + r, 60 + s + c);
        }
    for (int r = 0; r < 12; r++) /* checkerboard inside a frame */
        for (int c = 0; c < 12; c++)
            if (r == 0 || c == 0 || r == 11 || c == 11 || ((r + c) % 2 == 0))
                SET(60 + r, 20 + s + c);
    for (int b = 0; b < 6; b++) { /* random blobs */
        int cr = 50 + (int)(rand_r(seed) % 60), cc = 60 + (int)(rand_r(seed) % 90);
        for (int n = 0; n < 120; n++) {
            SET(cr, cc);
            cr += (int)(rand_r(seed) % 3) - 1;
            cc += (int)(rand_r(seed) % 3) - 1;
        }
    }
#undef SET
}

static void test_synthetic(void **state)
{
    (void)state;
    static float f[NL * NY * NX];
    impa_grid_t g;
    memset(&g, 0, sizeof g);
    g.ny = NY, g.nx = NX, g.x0 = 150.0, g.y0 = -27.0, g.dx = 0.01, g.dy = -0.01;
    snprintf(g.x_units, sizeof g.x_units, "degrees_east");
    snprintf(g.grid_mapping_name, sizeof g.grid_mapping_name, "latitude_longitude");
    impa_alert_config_t cfg;
    impa_alert_config_default(&cfg);
    cfg.min_area_km2 = 1.0f;
    impa_alert_tracker_t *tr = NULL;
    char err[256];
    assert_int_equal(impa_alert_tracker_create(&cfg, &tr, err, sizeof err), 0);
    impa_forecast_t fc;
    memset(&fc, 0, sizeof fc);
    fc.grid = &g, fc.dbz = f, fc.n_leads = NL, fc.step_minutes = 10, fc.domain = "t";
    tally_t t = {0};
    unsigned seed = 7;
    for (int cyc = 0; cyc < 10; cyc++) {
        for (int k = 0; k < NL; k++)
            paint(f + (size_t)k * NY * NX, cyc, k, &seed);
        fc.issue_time = 1700000000 + 600 * cyc;
        assert_int_equal(impa_alert_tracker_update(tr, &fc, err, sizeof err), 0);
        check_cycle(&t, &fc, tr);
    }
    report("synthetic, 10 cycles x 6 leads", &t);
    assert_clean(&t);
    assert_true(t.holes > 0);  /* the annulus keeps its hole */
    assert_true(t.old_invalid > 0); /* the shapes do break the coarse ring */
    impa_alert_tracker_destroy(&tr);
}

static void test_brisbane(void **state)
{
    (void)state;
    const char *data = getenv("IMPA_SHARED_DATA");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/pysteps-data/radar/bom/prcp-c10/66/2020/10/31",
             data ? data : "");
    if (!data || access(dir, R_OK) != 0) {
        print_message("%s absent: skipping the Brisbane replay\n", dir);
        skip();
    }
    enum { T0 = 4 * 6, NT = 37, BL = 3 }; /* 04:00 .. 10:00, 3 leads */
    impa_scan_t scans[NT];
    impa_reader_opts_t ro = impa_reader_opts_default();
    ro.accum_period_s = 600;
    char err[512];
    for (int k = 0; k < NT; k++) {
        int m = (T0 + k) * 10;
        char path[8192];
        snprintf(path, sizeof path, "%s/66_20201031_%02d%02d00.prcp-c10.nc", dir, m / 60, m % 60);
        int rc = impa_reader_read(path, &ro, &scans[k], err, sizeof err);
        if (rc)
            print_message("%s\n", err);
        assert_int_equal(rc, 0);
    }
    const impa_grid_t *g = &scans[0].grid;
    size_t n = (size_t)g->nx * g->ny;
    float *dbz = malloc(BL * n * sizeof *dbz);
    impa_alert_config_t acfg;
    impa_alert_config_default(&acfg);
    impa_alert_tracker_t *tr = NULL;
    assert_int_equal(impa_alert_tracker_create(&acfg, &tr, err, sizeof err), 0);
    tally_t t = {0};
    /* churn of the tracks on this replay (leads are observed scans, so consecutive
     * cycles agree far more than forecasts do: not the live-run figure of issue 21):
     * cycles each track id is published in */
    enum { MAXID = 8192 };
    static int cycles_of[MAXID];
    memset(cycles_of, 0, sizeof cycles_of);
    long n_ended_one = 0, n_ended = 0;
    for (int c = 0; c + BL < NT; c++) {
        for (int k = 0; k < BL; k++)
            memcpy(dbz + k * n, scans[c + 1 + k].dbz, n * sizeof *dbz);
        impa_forecast_t fc;
        memset(&fc, 0, sizeof fc);
        fc.grid = g, fc.dbz = dbz, fc.n_leads = BL, fc.step_minutes = 10, fc.domain = "bris";
        fc.issue_time = scans[c].time;
        assert_int_equal(impa_alert_tracker_update(tr, &fc, err, sizeof err), 0);
        check_cycle(&t, &fc, tr);
        const impa_alerts_t *a = impa_alert_tracker_alerts(tr);
        for (int i = 0; i < a->n_cells; i++) {
            int64_t id = a->cells[i].id;
            int first = 1;
            for (int k = 0; k < i && first; k++)
                first = a->cells[k].id != id;
            if (first && id < MAXID)
                cycles_of[id]++;
        }
        for (int i = 0; i < a->n_ended; i++) {
            n_ended++;
            if (a->ended[i].id < MAXID && cycles_of[a->ended[i].id] == 1)
                n_ended_one++;
        }
    }
    long n_tracks = 0, n_one = 0;
    for (int i = 0; i < MAXID; i++)
        if (cycles_of[i]) {
            n_tracks++;
            n_one += cycles_of[i] == 1;
        }
    print_message("Brisbane track churn (observed scans as leads, not forecasts): %ld tracks, %ld (%.0f %%) published in one cycle only; "
                  "%ld ended, %ld of them one cycle after they appeared\n",
                  n_tracks, n_one, n_tracks ? 100.0 * n_one / n_tracks : 0.0, n_ended, n_ended_one);
    report("Brisbane 2020-10-31 04:00-10:00 UTC, 34 cycles x 3 leads", &t);
    assert_clean(&t);
    impa_alert_tracker_destroy(&tr);
    free(dbz);
    for (int k = 0; k < NT; k++)
        impa_scan_deinit(&scans[k]);
}

static int setup(void **state)
{
    (void)state;
    H = GEOS_init_r();
    return H ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    GEOS_finish_r(H);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synthetic),
        cmocka_unit_test(test_brisbane),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
