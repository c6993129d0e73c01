/* Severe-echo cells: extraction, outlines, watch regions and tracking; a
 * product of every forecast cycle (the cycle runs it after the forecast and
 * hands impa_alert_tracker_alerts to the archive, the publisher and the
 * verifier through impa_forecast_t.alerts). The cell and product types are in
 * impa/forecast.h; the GeoJSON and CAP encodings are the publisher's.
 *
 * Per lead time, cells are regions of pixels with dBZ >= threshold, joined when
 * within cluster_km of each other (8-connected at 0), whose area is >=
 * min_area_km2. Each cell gets statistics (area, max and mean dBZ, centroid,
 * bounding box), a coarse outline ring (the published geometry is built from the
 * pixels by the publisher) and the watch regions it touches (any pixel centre
 * inside the region polygon). Cells keep an id across lead times (pixel overlap
 * with the previous lead, else the nearest centroid within match_km) and across
 * cycles (overlap with the previous cycle's advected outline of the track, else
 * the nearest centroid valid at the same time within match_km). Tracks go through
 * a life cycle (candidate, alerted, held, ended; impa_alert_config_t): only
 * alerted cells are in the product. docs/protocol.md, "Tracking and events".
 *
 * Memory: the label image, the flood-fill queue, the outline scratch and the
 * per-pixel region masks are allocated when the grid is first seen (or changes);
 * the cell pools grow by doubling up to max_cells and are then reused, so a
 * steady-state update allocates nothing (tests/nowcast/test_alerts_noalloc.c). */
#ifndef IMPA_ALERTS_H
#define IMPA_ALERTS_H

#include <stddef.h>
#include <stdint.h>

#include "impa/forecast.h"

#define IMPA_ALERT_DEFAULT_THRESHOLD_DBZ 45 /* publish.alerts.threshold_dbz */
#define IMPA_ALERT_DEFAULT_MIN_AREA_KM2 4   /* publish.alerts.min_area_km2 */
/* The life cycle (docs/protocol.md, "Tracking and events"; chosen on the Brisbane
 * storm of 2020-10-31, see there). */
#define IMPA_ALERT_DEFAULT_CLUSTER_KM 3          /* publish.alerts.cluster_km */
#define IMPA_ALERT_DEFAULT_CONFIRM_MINUTES 0      /* publish.alerts.confirm_minutes (off) */
#define IMPA_ALERT_DEFAULT_CONFIRM_AGE_MINUTES 10 /* publish.alerts.confirm_age_minutes */
#define IMPA_ALERT_DEFAULT_CONFIRM_AREA_KM2 50    /* publish.alerts.confirm_area_km2 */
#define IMPA_ALERT_DEFAULT_CONFIRM_DBZ 60         /* publish.alerts.confirm_dbz */
#define IMPA_ALERT_DEFAULT_CANCEL_AFTER_MINUTES 10 /* publish.alerts.cancel_after_minutes */

typedef struct {
    float threshold_dbz;   /* default IMPA_ALERT_DEFAULT_THRESHOLD_DBZ */
    float min_area_km2;    /* default IMPA_ALERT_DEFAULT_MIN_AREA_KM2 */
    double match_km;       /* max centroid distance for a match, default 20 */
    /* Pixels >= threshold within cluster_km of each other belong to one cell (a
     * storm's fragments are one object; its geometry is then a MultiPolygon);
     * 0 = 8-connected pixels only. Default IMPA_ALERT_DEFAULT_CLUSTER_KM. */
    double cluster_km;
    /* Persistence before an Alert: a track found in a cycle is a candidate (not
     * published) until it was first found at least confirm_age_minutes before this
     * cycle (i.e. in an earlier cycle; 0 = alert at once), or has a cell of at
     * least confirm_area_km2 or confirm_dbz at some lead (0 = no such route), or is
     * forecast over at least confirm_minutes of leads in one cycle (leads x step;
     * 0 = no such route). */
    int confirm_minutes, confirm_age_minutes;
    float confirm_area_km2, confirm_dbz;
    /* Hysteresis before Cancel: an alerted track no longer forecast is held (not
     * published, not ended; its last forecast kept for matching) until it has not
     * been forecast for more than cancel_after_minutes; 0 = end it at once. */
    int cancel_after_minutes;
    int max_cells;         /* cells kept per cycle (all leads), default 4096 */
    int n_regions;
    impa_watch_region_t regions[IMPA_ALERT_MAX_REGIONS];
} impa_alert_config_t;

IMPA_API void impa_alert_config_default(impa_alert_config_t *cfg);
/* Turns the life cycle off: every cell is published at once, every track ends
 * as soon as it is not forecast (the observed cells of verification; tests). */
IMPA_API void impa_alert_config_immediate(impa_alert_config_t *cfg);

typedef struct impa_alert_tracker impa_alert_tracker_t;

IMPA_API int impa_alert_tracker_create(const impa_alert_config_t *cfg, impa_alert_tracker_t **out,
                                       char *err, size_t errlen);
IMPA_API void impa_alert_tracker_destroy(impa_alert_tracker_t **tr);
/* The configuration the tracker was created with. */
IMPA_API const impa_alert_config_t *impa_alert_tracker_config(const impa_alert_tracker_t *tr);

/* Extracts and tracks the cells of every lead of fc (fc->alerts is not read).
 * Afterwards the cells of this cycle (lead order) and the ended tracks are
 * readable until the next update. IMPA_ENOSPC is never returned: cells beyond
 * max_cells are counted in impa_alert_tracker_truncated and left out. */
IMPA_API int impa_alert_tracker_update(impa_alert_tracker_t *tr, const impa_forecast_t *fc,
                                       char *err, size_t errlen);
/* The last update as a product (impa/forecast.h), owned by the tracker, valid
 * until the next update. */
IMPA_API const impa_alerts_t *impa_alert_tracker_alerts(const impa_alert_tracker_t *tr);
IMPA_API int impa_alert_tracker_n_cells(const impa_alert_tracker_t *tr);
IMPA_API const impa_alert_cell_t *impa_alert_tracker_cell(const impa_alert_tracker_t *tr, int i);
/* Ended tracks: one entry each, the previous cycle's cell of that track valid
 * closest after the new issue time (event == IMPA_ALERT_ENDED). */
IMPA_API int impa_alert_tracker_n_ended(const impa_alert_tracker_t *tr);
IMPA_API const impa_alert_cell_t *impa_alert_tracker_ended(const impa_alert_tracker_t *tr, int i);
IMPA_API uint64_t impa_alert_tracker_truncated(const impa_alert_tracker_t *tr);

/* Alert continuity across restarts (impa_publisher_save_state writes these
 * into alerts.state with the CAP references): the tracking state of the last
 * update (its cells, the next track id, the grid and issue time) as bytes of
 * this build, and back into a tracker that has not run an update yet. The next
 * update then matches its cells to the restored ones exactly as to a previous
 * cycle's, on the same grid, unless every restored cell is valid before its
 * issue time (tracks that ran out are dropped, not ended). state_write returns
 * the bytes written (state_size), 0 when len is too small. state_read:
 * IMPA_ESTATE (the tracker has run), IMPA_EFORMAT (other build's layout,
 * inconsistent sizes or ids), IMPA_ENOMEM. */
IMPA_API size_t impa_alert_tracker_state_size(const impa_alert_tracker_t *tr);
IMPA_API size_t impa_alert_tracker_state_write(const impa_alert_tracker_t *tr, unsigned char *buf,
                                              size_t len);
IMPA_API int impa_alert_tracker_state_read(impa_alert_tracker_t *tr, const unsigned char *buf,
                                           size_t len, char *err, size_t errlen);

/* Point-in-polygon (even-odd) on lat/lon: the fallback of impa_alert_region_masks;
 * exposed for tests. */
IMPA_API int impa_alert_point_in_region(const impa_watch_region_t *r, double lat, double lon);

/* Watch-region bits of n points (bit k set: inside or on the border of regions[k]),
 * tested by GEOS: each region's polygon is built and prepared once (GEOSPrepare),
 * then one GEOSPreparedIntersects per point and region; prepared = 0 uses the plain
 * GEOSIntersects (the reference the tests compare with). A point GEOS cannot
 * decide falls back to impa_alert_point_in_region. 0, or IMPA_ENOMEM / IMPA_EINVAL. */
IMPA_API int impa_alert_region_masks(const impa_watch_region_t *regions, int n_regions,
                                     const double *lat, const double *lon, size_t n,
                                     int prepared, uint32_t *mask, char *err, size_t errlen);

#endif
