/* The alerts of a cycle (impa_forecast_t.alerts, computed by the alert tracker
 * in src/nowcast/alerts.c) as a GeoJSON FeatureCollection: the payload of the
 * alert message and of the snapshot (schema: docs/protocol.md). */
#include <math.h>
#include <stdio.h>

#include "impa/timeutil.h"
#include "impa/error.h"
#include "impa/prob.h"
#include "publish/json.h"
#include "publish/outline.h"
#include "publish/publish-impl.h"

static void ring(impa_json_t *j, GEOSContextHandle_t h, const GEOSGeometry *r)
{
    const GEOSCoordSequence *s = GEOSGeom_getCoordSeq_r(h, r);
    unsigned n = 0;
    GEOSCoordSeq_getSize_r(h, s, &n);
    impa_json_arr_begin(j, NULL);
    for (unsigned i = 0; i < n; i++) {
        double x, y;
        GEOSCoordSeq_getXY_r(h, s, i, &x, &y);
        impa_json_arr_begin(j, NULL);
        impa_json_num(j, NULL, round(x * 1e6) / 1e6); /* 6 decimals (RFC 7946 section 11.2) */
        impa_json_num(j, NULL, round(y * 1e6) / 1e6);
        impa_json_arr_end(j);
    }
    impa_json_arr_end(j);
}

static void polygon(impa_json_t *j, GEOSContextHandle_t h, const GEOSGeometry *p)
{
    impa_json_arr_begin(j, NULL);
    ring(j, h, GEOSGetExteriorRing_r(h, p));
    int nh = GEOSGetNumInteriorRings_r(h, p);
    for (int i = 0; i < nh; i++)
        ring(j, h, GEOSGetInteriorRingN_r(h, p, i));
    impa_json_arr_end(j);
}

/* RFC 7946 geometry of g (Polygon or MultiPolygon); null when g is NULL. */
static void impa_geojson_geometry(impa_json_t *j, const char *key, GEOSContextHandle_t h,
                           const GEOSGeometry *g)
{
    if (!g) {
        impa_json_null(j, key);
        return;
    }
    impa_json_obj_begin(j, key);
    if (GEOSGeomTypeId_r(h, g) == GEOS_POLYGON) {
        impa_json_str(j, "type", "Polygon");
        impa_json_arr_begin(j, "coordinates");
        for (int k = 0; k < 1; k++) {
            /* the polygon's rings directly */
            ring(j, h, GEOSGetExteriorRing_r(h, g));
            int nh = GEOSGetNumInteriorRings_r(h, g);
            for (int i = 0; i < nh; i++)
                ring(j, h, GEOSGetInteriorRingN_r(h, g, i));
        }
        impa_json_arr_end(j);
    } else {
        impa_json_str(j, "type", "MultiPolygon");
        impa_json_arr_begin(j, "coordinates");
        int n = GEOSGetNumGeometries_r(h, g);
        for (int i = 0; i < n; i++)
            polygon(j, h, GEOSGetGeometryN_r(h, g, i));
        impa_json_arr_end(j);
    }
    impa_json_obj_end(j);
}

double impa_alert_cell_prob(const impa_forecast_t *fc, const impa_alert_cell_t *c,
                            const int32_t *pixels)
{
    if (!fc->prob || !fc->alerts || !pixels || c->pix_off < 0 || c->n_pixels < 1)
        return -1;
    int ti = impa_prob_threshold_index(fc->prob, fc->alerts->threshold_dbz);
    if (ti < 0)
        return -1;
    return impa_prob_max_over(fc->prob, ti, c->lead, pixels + c->pix_off, c->n_pixels);
}

static void feature(impa_json_t *j, impa_outline_ctx_t *o, const impa_forecast_t *fc,
                    const impa_alert_cell_t *c, const int32_t *pixels, int64_t issue)
{
    const impa_alerts_t *a = fc->alerts;
    char tb[32], idb[48];
    impa_json_obj_begin(j, NULL);
    impa_json_str(j, "type", "Feature");
    snprintf(idb, sizeof idb, "%lld-%d", (long long)c->id, c->lead);
    impa_json_str(j, "id", idb);
    GEOSGeometry *geom = impa_outline_build(o, fc->grid, a->lonlat && c->has_latlon, c, pixels);
    impa_geojson_geometry(j, "geometry", o->h, geom);
    if (geom)
        GEOSGeom_destroy_r(o->h, geom);
    impa_json_obj_begin(j, "properties");
    impa_json_str(j, "kind", "cell");
    impa_json_int(j, "cell_id", c->id);
    impa_json_str(j, "event", impa_alert_event_name(c->event));
    impa_json_int(j, "lead_index", c->lead);
    impa_json_int(j, "lead_minutes", (c->valid_time - issue) / 60);
    impa_json_str(j, "valid_time", impa_time_iso(c->valid_time, tb, sizeof tb));
    impa_json_num(j, "area_km2", c->area_km2);
    impa_json_int(j, "n_pixels", c->n_pixels);
    impa_json_num(j, "max_dbz", c->max_dbz);
    impa_json_num(j, "mean_dbz", c->mean_dbz);
    /* max P(dBZ >= threshold) over the cell at its lead; null without the product */
    double pr = c->event == IMPA_ALERT_ENDED ? -1 : impa_alert_cell_prob(fc, c, pixels);
    if (pr >= 0)
        impa_json_num(j, "probability", pr);
    else
        impa_json_null(j, "probability");
    /* flat copies of centroid.col/row: the simplest consumers (e2e test) read these */
    impa_json_num(j, "col", c->cx);
    impa_json_num(j, "row", c->cy);
    impa_json_obj_begin(j, "centroid");
    impa_json_num(j, "col", c->cx);
    impa_json_num(j, "row", c->cy);
    if (c->has_latlon) {
        impa_json_num(j, "lat", c->lat);
        impa_json_num(j, "lon", c->lon);
    } else {
        impa_json_null(j, "lat");
        impa_json_null(j, "lon");
    }
    impa_json_obj_end(j);
    impa_json_obj_begin(j, "bbox");
    impa_json_int(j, "col0", c->col0);
    impa_json_int(j, "row0", c->row0);
    impa_json_int(j, "col1", c->col1);
    impa_json_int(j, "row1", c->row1);
    impa_json_obj_end(j);
    impa_json_arr_begin(j, "regions");
    for (int r = 0; r < a->n_regions; r++) {
        if (!c->region_first[r])
            continue;
        impa_json_obj_begin(j, NULL);
        impa_json_str(j, "name", a->regions[r].name);
        impa_json_str(j, "first_valid_time", impa_time_iso(c->region_first[r], tb, sizeof tb));
        impa_json_obj_end(j);
    }
    impa_json_arr_end(j);
    impa_json_arr_begin(j, "regions_now");
    for (int r = 0; r < a->n_regions; r++)
        if (c->regions & (1u << r))
            impa_json_str(j, NULL, a->regions[r].name);
    impa_json_arr_end(j);
    impa_json_obj_end(j);
    impa_json_obj_end(j);
}

int impa_alerts_region_features(const impa_alerts_t *a)
{
    int any = a->n_region_leads > 0;
    for (int r = 0; r < a->n_regions && !any && a->region_alerts; r++)
        any = a->region_alerts[r].event >= 0;
    return any ? a->n_regions : 0;
}

/* Watch region r as a feature (kind watch_region): its polygon (lon, lat; ring
 * closed, counterclockwise as RFC 7946 asks), the maximum probability over it per
 * lead, its probability alert. */
static void region_feature(impa_json_t *j, const impa_forecast_t *fc, int r)
{
    const impa_alerts_t *a = fc->alerts;
    const impa_watch_region_t *reg = &a->regions[r];
    char tb[32], idb[96];
    int n = reg->n_vertices;
    int closed = reg->lat[0] == reg->lat[n - 1] && reg->lon[0] == reg->lon[n - 1];
    int m = closed ? n - 1 : n; /* distinct vertices */
    double area2 = 0;
    for (int i = 0; i < m; i++) {
        int k = (i + 1) % m;
        area2 += reg->lon[i] * reg->lat[k] - reg->lon[k] * reg->lat[i];
    }
    impa_json_obj_begin(j, NULL);
    impa_json_str(j, "type", "Feature");
    snprintf(idb, sizeof idb, "region-%d", r + 1);
    impa_json_str(j, "id", idb);
    impa_json_obj_begin(j, "geometry");
    impa_json_str(j, "type", "Polygon");
    impa_json_arr_begin(j, "coordinates");
    impa_json_arr_begin(j, NULL);
    for (int i = 0; i <= m; i++) {
        int k = area2 >= 0 ? i % m : (m - i) % m;
        impa_json_arr_begin(j, NULL);
        impa_json_num(j, NULL, round(reg->lon[k] * 1e6) / 1e6);
        impa_json_num(j, NULL, round(reg->lat[k] * 1e6) / 1e6);
        impa_json_arr_end(j);
    }
    impa_json_arr_end(j);
    impa_json_arr_end(j);
    impa_json_obj_end(j);
    impa_json_obj_begin(j, "properties");
    impa_json_str(j, "kind", "watch_region");
    impa_json_str(j, "region", reg->name);
    impa_json_num(j, "threshold_dbz", a->threshold_dbz);
    int nl = a->n_region_leads;
    double mx = -1;
    if (nl > 0) {
        impa_json_arr_begin(j, "lead_minutes");
        for (int k = 0; k < nl; k++)
            impa_json_int(j, NULL, (int64_t)(k + 1) * fc->step_minutes);
        impa_json_arr_end(j);
        impa_json_arr_begin(j, "probability");
        for (int k = 0; k < nl; k++) {
            double v = a->region_prob[r * nl + k];
            if (v >= 0)
                impa_json_num(j, NULL, round(v * 1e4) / 1e4);
            else
                impa_json_null(j, NULL);
            mx = v > mx ? v : mx;
        }
        impa_json_arr_end(j);
    } else {
        impa_json_null(j, "lead_minutes");
        impa_json_null(j, "probability");
    }
    if (mx >= 0)
        impa_json_num(j, "max_probability", round(mx * 1e4) / 1e4);
    else
        impa_json_null(j, "max_probability");
    const impa_region_alert_t *ra = a->region_alerts ? &a->region_alerts[r] : NULL;
    if (ra && reg->alert_probability > 0) {
        impa_json_obj_begin(j, "alert");
        impa_json_num(j, "min_probability", reg->alert_probability);
        impa_json_int(j, "within_minutes", reg->alert_within_minutes);
        impa_json_bool(j, "raised", ra->event == IMPA_ALERT_NEW || ra->event == IMPA_ALERT_UPDATED);
        impa_json_str(j, "event", ra->event >= 0 ? impa_alert_event_name(ra->event) : NULL);
        if (ra->probability >= 0)
            impa_json_num(j, "probability", round(ra->probability * 1e4) / 1e4);
        else
            impa_json_null(j, "probability");
        if (ra->first_lead >= 0) {
            int64_t t = fc->issue_time + (int64_t)(ra->first_lead + 1) * fc->step_minutes * 60;
            impa_json_int(j, "first_lead_minutes", (int64_t)(ra->first_lead + 1) * fc->step_minutes);
            impa_json_str(j, "first_valid_time", impa_time_iso(t, tb, sizeof tb));
        } else {
            impa_json_null(j, "first_lead_minutes");
            impa_json_null(j, "first_valid_time");
        }
        impa_json_str(j, "since", ra->since ? impa_time_iso(ra->since, tb, sizeof tb) : NULL);
        impa_json_obj_end(j);
    } else {
        impa_json_null(j, "alert");
    }
    impa_json_obj_end(j);
    impa_json_obj_end(j);
}

int impa_alerts_geojson(impa_json_t *j, const impa_forecast_t *fc)
{
    const impa_alerts_t *a = fc->alerts;
    if (!a)
        return IMPA_EINVAL;
    char tb[32];
    impa_outline_ctx_t o;
    if (impa_outline_init(&o) != 0)
        return IMPA_ENOMEM;
    impa_json_reset(j);
    impa_json_obj_begin(j, NULL);
    impa_json_str(j, "type", "FeatureCollection");
    /* RFC 7946 section 7.1: no foreign members here; the alert header carries the
     * issue time, threshold, coordinate order and counts (docs/protocol.md) */
    (void)tb;
    impa_json_arr_begin(j, "features");
    for (int i = 0; i < a->n_cells; i++)
        feature(j, &o, fc, &a->cells[i], a->pixels, fc->issue_time);
    for (int i = 0; i < a->n_ended; i++)
        feature(j, &o, fc, &a->ended[i], a->ended_pixels, a->prev_issue_time);
    for (int r = 0; r < impa_alerts_region_features(a); r++)
        region_feature(j, fc, r);
    impa_json_arr_end(j);
    impa_json_obj_end(j);
    impa_outline_deinit(&o);
    return impa_json_finish(j);
}
