/* The alerts of a cycle (impa_forecast_t.alerts, computed by the alert tracker
 * in src/nowcast/alerts.c) as a GeoJSON FeatureCollection: the payload of the
 * alert message and of the snapshot (schema: docs/protocol.md). */
#include <stdio.h>

#include "impa/timeutil.h"
#include "publish/json.h"
#include "publish/publish-impl.h"

static void feature(impa_json_t *j, const impa_alerts_t *a, const impa_alert_cell_t *c,
                    int64_t issue)
{
    char tb[32], idb[48];
    impa_json_obj_begin(j, NULL);
    impa_json_str(j, "type", "Feature");
    snprintf(idb, sizeof idb, "%lld-%d", (long long)c->id, c->lead);
    impa_json_str(j, "id", idb);
    impa_json_obj_begin(j, "geometry");
    impa_json_str(j, "type", "Polygon");
    impa_json_arr_begin(j, "coordinates");
    impa_json_arr_begin(j, NULL);
    for (int i = 0; i < c->n_outline; i++) {
        impa_json_arr_begin(j, NULL);
        impa_json_num(j, NULL, c->has_latlon ? c->olon[i] : c->ox[i]);
        impa_json_num(j, NULL, c->has_latlon ? c->olat[i] : c->oy[i]);
        impa_json_arr_end(j);
    }
    impa_json_arr_end(j);
    impa_json_arr_end(j);
    impa_json_obj_end(j);
    impa_json_obj_begin(j, "properties");
    impa_json_int(j, "cell_id", c->id);
    impa_json_str(j, "event", impa_alert_event_name(c->event));
    impa_json_int(j, "lead_index", c->lead);
    impa_json_int(j, "lead_minutes", (c->valid_time - issue) / 60);
    impa_json_str(j, "valid_time", impa_time_iso(c->valid_time, tb, sizeof tb));
    impa_json_num(j, "area_km2", c->area_km2);
    impa_json_int(j, "n_pixels", c->n_pixels);
    impa_json_num(j, "max_dbz", c->max_dbz);
    impa_json_num(j, "mean_dbz", c->mean_dbz);
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

int impa_alerts_geojson(impa_json_t *j, const impa_forecast_t *fc)
{
    const impa_alerts_t *a = fc->alerts;
    if (!a)
        return IMPA_EINVAL;
    char tb[32];
    impa_json_reset(j);
    impa_json_obj_begin(j, NULL);
    impa_json_str(j, "type", "FeatureCollection");
    impa_json_str(j, "domain", fc->domain ? fc->domain : "");
    impa_json_str(j, "issue_time", impa_time_iso(fc->issue_time, tb, sizeof tb));
    impa_json_num(j, "threshold_dbz", a->threshold_dbz);
    impa_json_num(j, "min_area_km2", a->min_area_km2);
    impa_json_str(j, "coordinates", a->lonlat ? "lonlat" : "grid");
    if (!a->lonlat)
        impa_json_str(j, "note",
                      "grid has no projection: coordinates are (col,row) fractional cell indices, "
                      "cell (0,0) centre at (0,0)");
    impa_json_int(j, "n_cells", a->n_cells);
    impa_json_int(j, "n_ended", a->n_ended);
    impa_json_arr_begin(j, "features");
    for (int i = 0; i < a->n_cells; i++)
        feature(j, a, &a->cells[i], fc->issue_time);
    for (int i = 0; i < a->n_ended; i++)
        feature(j, a, &a->ended[i], a->prev_issue_time);
    impa_json_arr_end(j);
    impa_json_obj_end(j);
    return impa_json_finish(j);
}
