/* A georeferenced regular grid and a reflectivity scan on it.
 *
 * Row 0 is the first row of the source file (y[0]); dy may be negative (north-up
 * files). Coordinates are cell centres in projection units (x_units, usually "m"
 * or "km"); latitude_longitude grids use degrees. */
#ifndef IMPA_GRID_H
#define IMPA_GRID_H

#include <limits.h>
#include <stdint.h>

#include "impa/error.h"

#define IMPA_GRID_MAX_ATTRS 24

/* One attribute of a CF grid_mapping variable, copied so the forecast archive can
 * reproduce the input's projection exactly. */
typedef struct {
    char name[64];
    int is_text;
    char text[256];
    double values[4];
    int n_values;
} impa_grid_attr_t;

typedef struct {
    int nx, ny;
    double x0, y0; /* centre of cell (0,0) */
    double dx, dy; /* spacing between cell centres (dy < 0 when rows go north->south) */
    char x_units[16];
    char grid_mapping_name[64]; /* CF grid_mapping_name, "" when unknown */
    int n_attrs;
    impa_grid_attr_t attrs[IMPA_GRID_MAX_ATTRS]; /* grid_mapping attributes */
} impa_grid_t;

/* A reflectivity scan in dBZ on its grid. Owned fields: dbz (impa_scan_deinit). */
typedef struct {
    impa_grid_t grid;
    int64_t time;          /* valid time, seconds since epoch UTC, from file metadata */
    float *dbz;            /* [ny][nx] dBZ; NAN = no data (outside coverage, nodata) */
    char path[PATH_MAX];   /* file it came from */
    char variable[128];    /* variable/dataset read, e.g. "precipitation" or "dataset1/data1" */
    char quantity[64];     /* what it held: "reflectivity", "rainfall_rate", "accumulation" */
} impa_scan_t;

/* Allocates dbz for grid (NaN-filled); the rest of *scan is zeroed. 0, IMPA_ENOMEM, or
 * IMPA_EINVAL when a side is outside 1..10000 (the readers' sanity limit). */
IMPA_API int impa_scan_init(impa_scan_t *scan, const impa_grid_t *grid);
IMPA_API void impa_scan_deinit(impa_scan_t *scan);

/* Latitude/longitude (degrees) of a point given in grid-cell coordinates (col, row:
 * fractional cell indices). Supports CF latitude_longitude,
 * albers_conical_equal_area, polar_stereographic, lambert_azimuthal_equal_area,
 * transverse_mercator, stereographic. Returns IMPA_ENOTFOUND when the grid has no
 * usable projection (then consumers report grid coordinates only). */
IMPA_API int impa_grid_latlon(const impa_grid_t *grid, double col, double row,
                              double *lat, double *lon);

/* Inverse of impa_grid_latlon: fractional (col, row) of a latitude/longitude, e.g.
 * to place a city or a radar on the grid. Same projections and errors. */
IMPA_API int impa_grid_cell_of(const impa_grid_t *grid, double lat, double lon,
                               double *col, double *row);

/* Cell area in km^2 (|dx*dy| converted from x_units; for latitude_longitude grids,
 * at the grid centre). */
IMPA_API double impa_grid_cell_area_km2(const impa_grid_t *grid);

#endif
