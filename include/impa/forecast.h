/* The products of one forecast cycle as they flow from the cycle (the daemon's
 * cycle module) to the archive, the publisher and the verifier: the forecast
 * field and, computed from it by the alert tracker (impa/alerts.h), the alert
 * cells. Data types only, and borrowed pointers only: valid for the duration of
 * the call that receives them. The io module owns this header (its archive is
 * the lowest module that reads a forecast; src/io/forecast.c has the names). */
#ifndef IMPA_FORECAST_H
#define IMPA_FORECAST_H

#include <stdint.h>

#include "impa/grid.h"

#define IMPA_MAX_INPUTS 16

typedef enum {
    IMPA_METHOD_IMPANET = 0,
    IMPA_METHOD_EXTRAPOLATION = 1,
    IMPA_METHOD_PERSISTENCE = 2,
} impa_method_t;

/* "impa-net", "extrapolation", "persistence" */
IMPA_API const char *impa_method_name(impa_method_t m);

/* ---- alerts: severe-echo cells of the forecast ------------------------------ */

#define IMPA_ALERT_MAX_OUTLINE 64
#define IMPA_ALERT_MAX_REGIONS 16  /* watch regions (publish.alerts.regions) */
#define IMPA_ALERT_MAX_VERTICES 64 /* per watch region polygon */

typedef struct {
    char name[64];
    int n_vertices;
    double lat[IMPA_ALERT_MAX_VERTICES], lon[IMPA_ALERT_MAX_VERTICES];
    /* Probability alert of the region (docs/protocol.md, "Watch regions"): raised
     * while P(dBZ >= the alert threshold) reaches alert_probability somewhere in
     * the region at a lead of at most alert_within_minutes. 0 / 0 = off. */
    double alert_probability;      /* (0, 1] */
    int alert_within_minutes;      /* >= 1 */
} impa_watch_region_t;

/* A watch region's probability alert in one cycle (impa_alerts_t.region_alerts). */
typedef struct {
    int event;          /* -1: none (off, or neither raised now nor last cycle); else an
                         * impa_alert_event_t: NEW raised in this cycle, UPDATED raised in
                         * this and the last cycle, ENDED raised last cycle, not now */
    double probability; /* max P over the leads within the window; -1: unknown */
    int first_lead;     /* first lead index (0-based) with P >= alert_probability, -1 none */
    int64_t since;      /* issue time of the cycle that raised it (0 when none) */
} impa_region_alert_t;

typedef enum {
    IMPA_ALERT_NEW = 0,     /* track not present in the previous cycle */
    IMPA_ALERT_UPDATED = 1, /* track continues from the previous cycle */
    IMPA_ALERT_ENDED = 2,   /* track of the previous cycle no longer forecast */
} impa_alert_event_t;

/* "new", "updated", "ended" */
IMPA_API const char *impa_alert_event_name(impa_alert_event_t e);

/* Where a track stands in the tracker's life cycle (impa/alerts.h). Only
 * ALERTED cells are published (impa_alerts_t.cells). */
typedef enum {
    IMPA_ALERT_CANDIDATE = 0, /* found, not yet confirmed by the persistence rule */
    IMPA_ALERT_ALERTED = 1,   /* confirmed: published */
    IMPA_ALERT_HELD = 2,      /* alerted before, not forecast this cycle; held before Cancel */
} impa_alert_status_t;

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
    int64_t pix_off;           /* first of its n_pixels pixel indices (row*nx+col) in the
                                * product's pixel list; -1 = not kept (cells restored
                                * from a state file: the outline below stands in) */
    int n_outline;             /* closed ring: last vertex == first (coarse; the published
                                * geometry is built from the pixels, src/publish/outline.c) */
    double ox[IMPA_ALERT_MAX_OUTLINE + 1], oy[IMPA_ALERT_MAX_OUTLINE + 1]; /* (col,row) of pixel corners */
    double olat[IMPA_ALERT_MAX_OUTLINE + 1], olon[IMPA_ALERT_MAX_OUTLINE + 1];
    uint32_t regions;          /* bit r: touches watch region r at this lead */
    /* Track-wide in this cycle (same in every cell of the track): first valid time at
     * which the track touches region r, 0 = never. */
    int64_t region_first[IMPA_ALERT_MAX_REGIONS];
    /* Track-wide: issue time of the cycle that first found the track, and of the
     * last cycle that forecast it (earlier than this cycle's for held cells). */
    int64_t first_issue, last_seen;
    impa_alert_status_t status;
} impa_alert_cell_t;

/* The alerts of one cycle (impa_alert_tracker_alerts): what the publisher
 * encodes (GeoJSON, CAP), the archive summarises and the verifier may score. */
typedef struct {
    int n_cells;                       /* this cycle's cells, lead order */
    const impa_alert_cell_t *cells;
    int n_ended;                       /* tracks of the previous cycle that ended */
    const impa_alert_cell_t *ended;    /* one cell each (event IMPA_ALERT_ENDED) */
    int n_held;                        /* cells of the tracks held before Cancel (not */
    const impa_alert_cell_t *held;     /* forecast now; their last forecast), not published */
    int n_held_tracks, n_candidates;   /* tracks held; candidate tracks (not published) */
    int n_tracks, n_new, n_updated;    /* distinct track ids among cells, by event */
    uint64_t truncated;                /* cells left out beyond max_cells, since start */
    int64_t prev_issue_time;           /* issue time of the cycle the ended cells are from */
    float threshold_dbz, min_area_km2;
    int lonlat;                        /* outlines/centroids have lat/lon (grid has a projection) */
    int n_regions;
    const impa_watch_region_t *regions;
    /* With the probability product at threshold_dbz (impa_forecast_t.prob; else
     * n_region_leads = 0 and both NULL): per region r and lead k, the maximum
     * P(dBZ >= threshold_dbz) over the region's pixel centres,
     * region_prob[r * n_region_leads + k] (-1: no pixel centre of the grid lies in
     * the region), and each region's probability alert. */
    int n_region_leads;
    const double *region_prob;
    const impa_region_alert_t *region_alerts;
    /* pixel indices (row*nx+col) of the cells (cells[i].pix_off ..) and of the ended
     * cells (ended[i].pix_off .., the previous cycle's list); the cells' exact masks,
     * from which the publisher builds their geometry */
    const int32_t *pixels, *ended_pixels;
} impa_alerts_t;

/* ---- exceedance probabilities of the forecast (impa/prob.h) -------------------- */

#define IMPA_PROB_MAX_THRESHOLDS 4

typedef struct {
    int n_thresholds;
    float thresholds[IMPA_PROB_MAX_THRESHOLDS]; /* dBZ, in the configured order */
    int n_leads, ny, nx;                        /* as the forecast */
    const float *p;         /* [n_thresholds][n_leads][ny][nx] P(dBZ >= threshold), 0..1,
                             * NAN where the forecast has no value */
    const float *radius_km; /* [n_thresholds][n_leads] neighbourhood half-width used */
    int trend[IMPA_PROB_MAX_THRESHOLDS]; /* -1 decaying, 0 steady, 1 growing (impa/prob.h) */
    /* growth rate of the area >= threshold in the inputs, per hour, that the
     * calibration read (impa_prob_growth); NAN: the table has no growth terms */
    float growth_per_h[IMPA_PROB_MAX_THRESHOLDS];
    const char *calibration;/* name of the calibration table (impa_prob_table_t.name) */
} impa_prob_field_t;

/* ---- the forecast -------------------------------------------------------------- */

typedef struct {
    const char *domain;         /* configured domain name, e.g. "brisbane" */
    int64_t issue_time;         /* valid time of the newest input frame (UTC s) */
    int step_minutes;           /* minutes between lead times */
    int n_leads;                /* lead k (0-based) is valid at issue + (k+1)*step */
    const impa_grid_t *grid;
    const float *dbz;           /* [n_leads][ny][nx] forecast dBZ, NAN = no data */
    impa_method_t method;       /* what produced this forecast */
    const char *fallback_reason;/* NULL, or why the primary method was not used */
    const char *extrapolation;  /* scheme name ("impa-extrap-3") of the optical-flow
                                 * extrapolation in this forecast: the network's
                                 * advection input (impanet) or the forecast itself
                                 * (extrapolation); NULL when none was used */
    /* provenance */
    const char *model_name;
    const char *model_version;
    const char *weights_sha256;
    const char *config_version; /* hash or version string of the configuration */
    int n_inputs;
    const char *input_paths[IMPA_MAX_INPUTS];
    int64_t input_times[IMPA_MAX_INPUTS];
    /* alerts computed from dbz; NULL = not computed (alert_error says why when set) */
    const impa_alerts_t *alerts;
    const char *alert_error;
    /* exceedance probabilities computed from dbz; NULL = not computed (prob disabled) */
    const impa_prob_field_t *prob;
} impa_forecast_t;

#endif
