/* Severe-echo cells: extraction, outlines, watch regions and tracking.
 *
 * Per lead time, cells are 8-connected regions of pixels with dBZ >= threshold
 * whose area is >= min_area_km2. Each cell gets statistics (area, max and mean
 * dBZ, centroid, bounding box), an outline polygon (outer boundary traced along
 * pixel edges, then simplified to at most IMPA_ALERT_MAX_OUTLINE vertices; holes
 * are not represented) and the watch regions it touches (any pixel centre inside
 * the region polygon). Cells keep an id across lead times (pixel overlap with
 * the previous lead, else the nearest centroid within match_km) and across
 * cycles (the new cycle's cells are matched to the previous cycle's cells valid
 * at the same time, by nearest centroid within match_km).
 *
 * Memory: the label image, the flood-fill queue, the outline scratch and the
 * per-pixel region masks are allocated when the grid is first seen (or changes);
 * the cell pool grows by doubling up to max_cells and is then reused, so a
 * steady-state update allocates nothing. This API needs no sockets: the
 * publisher (publish.h) calls it and serialises the result. */
#ifndef IMPA_ALERTS_H
#define IMPA_ALERTS_H

#include <stdint.h>

#include "impa/forecast.h"
#include "impa/publish.h"

#define IMPA_ALERT_MAX_OUTLINE 64

typedef enum {
    IMPA_ALERT_NEW = 0,     /* track not present in the previous cycle */
    IMPA_ALERT_UPDATED = 1, /* track continues from the previous cycle */
    IMPA_ALERT_ENDED = 2,   /* track of the previous cycle no longer forecast */
} impa_alert_event_t;

/* "new", "updated", "ended" */
IMPA_API const char *impa_alert_event_name(impa_alert_event_t e);

typedef struct {
    float threshold_dbz;   /* default 45 */
    float min_area_km2;    /* default 4 */
    double match_km;       /* max centroid distance for a match, default 20 */
    int max_cells;         /* cells kept per cycle (all leads), default 4096 */
    int n_regions;
    impa_watch_region_t regions[IMPA_PUBLISH_MAX_REGIONS];
} impa_alert_config_t;

IMPA_API void impa_alert_config_default(impa_alert_config_t *cfg);

/* One cell at one lead time. */
typedef struct {
    int64_t id;                /* track id, unique within a tracker's life (>= 1) */
    impa_alert_event_t event;  /* of the track in this cycle */
    int lead;                  /* 0-based lead index */
    int64_t valid_time;
    int n_pixels;
    double area_km2, max_dbz, mean_dbz; /* mean: arithmetic mean of the pixels' dBZ */
    double cx, cy;             /* centroid in fractional grid coordinates (col, row) */
    int has_latlon;            /* lat/lon fields valid (grid has a projection) */
    double lat, lon;           /* centroid */
    int col0, row0, col1, row1;/* bounding box, inclusive cell indices */
    int n_outline;             /* closed ring: last vertex == first */
    double ox[IMPA_ALERT_MAX_OUTLINE + 1], oy[IMPA_ALERT_MAX_OUTLINE + 1]; /* (col,row) of pixel corners */
    double olat[IMPA_ALERT_MAX_OUTLINE + 1], olon[IMPA_ALERT_MAX_OUTLINE + 1];
    uint32_t regions;          /* bit r: touches watch region r at this lead */
    /* Track-wide in this cycle (same in every cell of the track): first valid time at
     * which the track touches region r, 0 = never. */
    int64_t region_first[IMPA_PUBLISH_MAX_REGIONS];
} impa_alert_cell_t;

typedef struct impa_alert_tracker impa_alert_tracker_t;

IMPA_API int impa_alert_tracker_create(const impa_alert_config_t *cfg, impa_alert_tracker_t **out,
                                       char *err, size_t errlen);
IMPA_API void impa_alert_tracker_destroy(impa_alert_tracker_t **tr);

/* Extracts and tracks the cells of every lead of fc. Afterwards the cells of this
 * cycle (lead order) and the ended tracks are readable until the next update.
 * IMPA_ENOSPC is never returned: cells beyond max_cells are counted in
 * impa_alert_tracker_truncated and left out. */
IMPA_API int impa_alert_tracker_update(impa_alert_tracker_t *tr, const impa_forecast_t *fc,
                                       char *err, size_t errlen);
IMPA_API int impa_alert_tracker_n_cells(const impa_alert_tracker_t *tr);
IMPA_API const impa_alert_cell_t *impa_alert_tracker_cell(const impa_alert_tracker_t *tr, int i);
/* Ended tracks: one entry each, the previous cycle's cell of that track valid
 * closest after the new issue time (event == IMPA_ALERT_ENDED). */
IMPA_API int impa_alert_tracker_n_ended(const impa_alert_tracker_t *tr);
IMPA_API const impa_alert_cell_t *impa_alert_tracker_ended(const impa_alert_tracker_t *tr, int i);
IMPA_API uint64_t impa_alert_tracker_truncated(const impa_alert_tracker_t *tr);

/* Alert continuity across restarts (impa_publisher_save_state uses these): the
 * tracking state of the last update (its cells, the next track id, the grid and
 * issue time) as bytes of this build, and back into a tracker that has not run
 * an update yet. The next update then matches its cells to the restored ones
 * exactly as to a previous cycle's, on the same grid, unless every restored
 * cell is valid before its issue time (tracks that ran out are dropped, not
 * ended). state_write returns the bytes written (state_size), 0 when len is too
 * small. state_read: IMPA_ESTATE (the tracker has run), IMPA_EFORMAT (other
 * build's layout, inconsistent sizes or ids), IMPA_ENOMEM. */
IMPA_API size_t impa_alert_tracker_state_size(const impa_alert_tracker_t *tr);
IMPA_API size_t impa_alert_tracker_state_write(const impa_alert_tracker_t *tr, unsigned char *buf,
                                              size_t len);
IMPA_API int impa_alert_tracker_state_read(impa_alert_tracker_t *tr, const unsigned char *buf,
                                           size_t len, char *err, size_t errlen);

/* GeoJSON FeatureCollection of the last update (schema: docs/protocol.md), NUL-
 * terminated, owned by the tracker, valid until the next update or geojson call.
 * NULL on allocation failure. */
IMPA_API const char *impa_alert_tracker_geojson(impa_alert_tracker_t *tr, size_t *len);

/* Point-in-polygon (even-odd) on lat/lon; exposed for tests. */
IMPA_API int impa_alert_point_in_region(const impa_watch_region_t *r, double lat, double lon);

#endif
