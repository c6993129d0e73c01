/* Scans, grid units and cell areas. The map projections behind impa_grid_latlon
 * are PROJ's (proj.c). */
#include "io-impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEG (M_PI / 180.0)

int impa_scan_init(impa_scan_t *scan, const impa_grid_t *grid)
{
    if (!scan || !grid || grid->nx <= 0 || grid->ny <= 0 || grid->nx > IMPA_IO_MAX_SIDE ||
        grid->ny > IMPA_IO_MAX_SIDE)
        return IMPA_EINVAL;
    memset(scan, 0, sizeof *scan);
    scan->grid = *grid;
    size_t n = (size_t)grid->nx * (size_t)grid->ny;
    scan->dbz = malloc(n * sizeof *scan->dbz);
    if (!scan->dbz)
        return IMPA_ENOMEM;
    for (size_t i = 0; i < n; i++)
        scan->dbz[i] = NAN;
    return IMPA_OK;
}

void impa_scan_deinit(impa_scan_t *scan)
{
    if (!scan)
        return;
    free(scan->dbz);
    scan->dbz = NULL;
}

double impa_io_unit_m(const char *u)
{
    if (!u)
        return 0;
    if (!strcasecmp(u, "m") || !strcasecmp(u, "metre") || !strcasecmp(u, "metres") ||
        !strcasecmp(u, "meter") || !strcasecmp(u, "meters"))
        return 1.0;
    if (!strcasecmp(u, "km") || !strcasecmp(u, "kilometre") || !strcasecmp(u, "kilometres") ||
        !strcasecmp(u, "kilometer") || !strcasecmp(u, "kilometers"))
        return 1000.0;
    return 0;
}

double impa_grid_cell_area_km2(const impa_grid_t *grid)
{
    if (!grid)
        return 0;
    double u = impa_io_unit_m(grid->x_units);
    if (u > 0)
        return fabs(grid->dx * grid->dy) * u * u / 1e6;
    int deg = !strcmp(grid->grid_mapping_name, "latitude_longitude") ||
              !strncasecmp(grid->x_units, "degree", 6);
    if (deg) {
        /* Spherical Earth of mean radius: the cell is a lat/lon box at the centre. */
        const double r = 6371.0088;
        double lat_c = grid->y0 + 0.5 * (grid->ny - 1) * grid->dy;
        return fabs(grid->dx * DEG * r * cos(lat_c * DEG) * grid->dy * DEG * r);
    }
    return fabs(grid->dx * grid->dy); /* unknown units: grid units squared */
}
