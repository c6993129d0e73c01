/* Watch-region membership of points through GEOS prepared geometries (alerts.h). */
#include "impa/alerts.h"

#include <geos_c.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "impa/error.h"

static void geos_quiet(const char *fmt, ...)
{
    (void)fmt;
}

int impa_alert_point_in_region(const impa_watch_region_t *r, double lat, double lon)
{
    int inside = 0;
    for (int i = 0, j = r->n_vertices - 1; i < r->n_vertices; j = i++) {
        double yi = r->lat[i], yj = r->lat[j], xi = r->lon[i], xj = r->lon[j];
        if ((yi > lat) != (yj > lat) && lon < (xj - xi) * (lat - yi) / (yj - yi) + xi)
            inside = !inside;
    }
    return inside;
}

/* The region as a GEOS polygon in (lon, lat), its ring closed. NULL on failure. */
static GEOSGeometry *region_polygon(GEOSContextHandle_t h, const impa_watch_region_t *r)
{
    int n = r->n_vertices;
    int closed = r->lat[0] == r->lat[n - 1] && r->lon[0] == r->lon[n - 1];
    unsigned m = (unsigned)(closed ? n : n + 1);
    GEOSCoordSequence *s = GEOSCoordSeq_create_r(h, m, 2);
    if (!s)
        return NULL;
    for (unsigned i = 0; i < m; i++) {
        int k = (int)i < n ? (int)i : 0;
        GEOSCoordSeq_setXY_r(h, s, i, r->lon[k], r->lat[k]);
    }
    GEOSGeometry *ring = GEOSGeom_createLinearRing_r(h, s);
    return ring ? GEOSGeom_createPolygon_r(h, ring, NULL, 0) : NULL;
}

int impa_alert_region_masks(const impa_watch_region_t *regions, int n_regions, const double *lat,
                            const double *lon, size_t n, int prepared, uint32_t *mask, char *err,
                            size_t errlen)
{
    if (n_regions < 0 || n_regions > IMPA_ALERT_MAX_REGIONS || (n > 0 && (!lat || !lon || !mask)))
        return impa_err(err, errlen, IMPA_EINVAL, "watch regions: bad arguments (%d regions)",
                        n_regions);
    for (int k = 0; k < n_regions; k++)
        if (regions[k].n_vertices < 3 || regions[k].n_vertices > IMPA_ALERT_MAX_VERTICES)
            return impa_err(err, errlen, IMPA_EINVAL, "watch region '%s': %d vertices",
                            regions[k].name, regions[k].n_vertices);
    for (size_t i = 0; i < n; i++)
        mask[i] = 0;
    if (n_regions == 0 || n == 0)
        return 0;
    GEOSContextHandle_t h = GEOS_init_r();
    if (!h)
        return impa_err(err, errlen, IMPA_ENOMEM, "watch regions: GEOS context");
    GEOSContext_setNoticeHandler_r(h, geos_quiet);
    GEOSContext_setErrorHandler_r(h, geos_quiet);
    GEOSGeometry *poly[IMPA_ALERT_MAX_REGIONS] = {0};
    const GEOSPreparedGeometry *prep[IMPA_ALERT_MAX_REGIONS] = {0};
    int rc = 0;
    for (int k = 0; k < n_regions && rc == 0; k++) {
        poly[k] = region_polygon(h, &regions[k]);
        if (poly[k] && prepared)
            prep[k] = GEOSPrepare_r(h, poly[k]);
        if (!poly[k] || (prepared && !prep[k]))
            rc = impa_err(err, errlen, IMPA_ENOMEM, "watch region '%s': GEOS polygon",
                          regions[k].name);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        GEOSGeometry *pt = GEOSGeom_createPointFromXY_r(h, lon[i], lat[i]);
        if (!pt) {
            rc = impa_err(err, errlen, IMPA_ENOMEM, "watch regions: GEOS point");
            break;
        }
        uint32_t m = 0;
        for (int k = 0; k < n_regions; k++) {
            char in = prepared ? GEOSPreparedIntersects_r(h, prep[k], pt)
                               : GEOSIntersects_r(h, poly[k], pt);
            if (in == 2) /* GEOS could not decide (e.g. a non-finite point) */
                in = (char)impa_alert_point_in_region(&regions[k], lat[i], lon[i]);
            if (in)
                m |= 1u << k;
        }
        GEOSGeom_destroy_r(h, pt);
        mask[i] = m;
    }
    for (int k = 0; k < n_regions; k++) {
        if (prep[k])
            GEOSPreparedGeom_destroy_r(h, prep[k]);
        if (poly[k])
            GEOSGeom_destroy_r(h, poly[k]);
    }
    GEOS_finish_r(h);
    return rc;
}
