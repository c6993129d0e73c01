/* Alert geometry through GEOS (C API, reentrant _r functions): the published
 * outline of a cell, built from its exact pixel mask.
 *
 *   1. the cell's pixels as row runs (rectangles on pixel edges), united
 *      (GEOSUnaryUnion): a valid Polygon, holes kept; pixels that touch only at a
 *      corner (8-connectivity) become parts of a MultiPolygon that touch at a
 *      point, which is valid, instead of a ring that touches itself, which is not;
 *   2. topology-preserving simplification (GEOSTopologyPreserveSimplify) with a
 *      tolerance of 0.5 cell (removes the pixel staircase), raised by 1.5x until
 *      at most IMPA_OUTLINE_MAX_POINTS coordinates remain;
 *   3. to lon/lat (every vertex through the grid's projection) when the grid has
 *      one, else fractional (col,row) cell indices;
 *   4. snapped to 1e-6 (6 decimals, GEOSGeom_setPrecision, which keeps the result
 *      valid), checked with GEOSisValid (GEOSMakeValid if ever not), and oriented
 *      per RFC 7946 section 3.1.6: exterior rings counterclockwise, holes
 *      clockwise. Rings are closed (first coordinate repeated last).
 * Cells without a pixel list (restored from a state file) start from their
 * stored ring instead, made valid by GEOSMakeValid. */
#ifndef IMPA_PUBLISH_OUTLINE_H
#define IMPA_PUBLISH_OUTLINE_H

#ifndef GEOS_USE_ONLY_R_API
#define GEOS_USE_ONLY_R_API
#endif
#include <geos_c.h>

#include "impa/forecast.h"

#define IMPA_OUTLINE_MAX_POINTS 256

typedef struct {
    GEOSContextHandle_t h;
    unsigned char *mask; /* bbox-sized scratch */
    size_t mask_cap;
} impa_outline_ctx_t;

/* 0 or IMPA_ENOMEM. */
int impa_outline_init(impa_outline_ctx_t *o);
void impa_outline_deinit(impa_outline_ctx_t *o);

/* The geometry of cell c (pixels: the list c->pix_off indexes, may be NULL);
 * lonlat: output in lon/lat (else col,row). A Polygon or MultiPolygon owned by
 * the caller (GEOSGeom_destroy_r(o->h, g)), NULL on failure. */
GEOSGeometry *impa_outline_build(impa_outline_ctx_t *o, const impa_grid_t *g, int lonlat,
                                 const impa_alert_cell_t *c, const int32_t *pixels);

#endif
