/* Alert geometry through GEOS (outline.h). */
#include "publish/outline.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "impa/error.h"
#include "impa/grid.h"

static void geos_quiet(const char *fmt, ...) { (void)fmt; }

int impa_outline_init(impa_outline_ctx_t *o)
{
    memset(o, 0, sizeof *o);
    o->h = GEOS_init_r();
    if (!o->h)
        return IMPA_ENOMEM;
    /* GEOS reports to these; the builder checks every result itself */
    GEOSContext_setNoticeHandler_r(o->h, geos_quiet);
    GEOSContext_setErrorHandler_r(o->h, geos_quiet);
    return 0;
}

void impa_outline_deinit(impa_outline_ctx_t *o)
{
    if (o->h)
        GEOS_finish_r(o->h);
    free(o->mask);
    memset(o, 0, sizeof *o);
}

static GEOSGeometry *rect(GEOSContextHandle_t h, double x0, double y0, double x1, double y1)
{
    GEOSCoordSequence *s = GEOSCoordSeq_create_r(h, 5, 2);
    if (!s)
        return NULL;
    double xs[5] = {x0, x1, x1, x0, x0}, ys[5] = {y0, y0, y1, y1, y0};
    for (unsigned i = 0; i < 5; i++)
        GEOSCoordSeq_setXY_r(h, s, i, xs[i], ys[i]);
    GEOSGeometry *ring = GEOSGeom_createLinearRing_r(h, s);
    return ring ? GEOSGeom_createPolygon_r(h, ring, NULL, 0) : NULL;
}

/* Union of the cell's pixel squares (corners at index +- 0.5), in (col,row). */
static GEOSGeometry *from_pixels(impa_outline_ctx_t *o, const impa_grid_t *g,
                                 const impa_alert_cell_t *c, const int32_t *px)
{
    int w = c->col1 - c->col0 + 1, hh = c->row1 - c->row0 + 1;
    if (w <= 0 || hh <= 0)
        return NULL;
    size_t need = (size_t)w * (size_t)hh;
    if (need > o->mask_cap) {
        unsigned char *m = realloc(o->mask, need);
        if (!m)
            return NULL;
        o->mask = m, o->mask_cap = need;
    }
    memset(o->mask, 0, need);
    for (int i = 0; i < c->n_pixels; i++) {
        int p = px[i], r = p / g->nx - c->row0, col = p % g->nx - c->col0;
        if (r >= 0 && r < hh && col >= 0 && col < w)
            o->mask[(size_t)r * w + col] = 1;
    }
    /* row runs: one rectangle each */
    size_t n_runs = 0, cap = 64;
    GEOSGeometry **runs = malloc(cap * sizeof *runs);
    if (!runs)
        return NULL;
    int fail = 0;
    for (int r = 0; r < hh && !fail; r++)
        for (int x = 0; x < w && !fail; x++) {
            if (!o->mask[(size_t)r * w + x])
                continue;
            int x1 = x;
            while (x1 + 1 < w && o->mask[(size_t)r * w + x1 + 1])
                x1++;
            if (n_runs == cap) {
                GEOSGeometry **nr = realloc(runs, 2 * cap * sizeof *runs);
                if (!nr) {
                    fail = 1;
                    break;
                }
                runs = nr, cap *= 2;
            }
            double cx0 = c->col0 + x - 0.5, cx1 = c->col0 + x1 + 0.5;
            double ry0 = c->row0 + r - 0.5, ry1 = c->row0 + r + 0.5;
            GEOSGeometry *pg = rect(o->h, cx0, ry0, cx1, ry1);
            if (!pg)
                fail = 1;
            else
                runs[n_runs++] = pg;
            x = x1;
        }
    if (fail || n_runs == 0) {
        for (size_t i = 0; i < n_runs; i++)
            GEOSGeom_destroy_r(o->h, runs[i]);
        free(runs);
        return NULL;
    }
    GEOSGeometry *coll =
        GEOSGeom_createCollection_r(o->h, GEOS_MULTIPOLYGON, runs, (unsigned)n_runs);
    free(runs); /* the collection owns the polygons */
    if (!coll)
        return NULL;
    GEOSGeometry *u = GEOSUnaryUnion_r(o->h, coll);
    GEOSGeom_destroy_r(o->h, coll);
    return u;
}

/* The stored ring (coarse, possibly self-touching): valid through MakeValid. */
static GEOSGeometry *from_ring(impa_outline_ctx_t *o, const impa_alert_cell_t *c)
{
    if (c->n_outline < 4)
        return NULL;
    GEOSCoordSequence *s = GEOSCoordSeq_create_r(o->h, (unsigned)c->n_outline, 2);
    if (!s)
        return NULL;
    for (int i = 0; i < c->n_outline; i++)
        GEOSCoordSeq_setXY_r(o->h, s, (unsigned)i, c->ox[i], c->oy[i]);
    GEOSGeometry *ring = GEOSGeom_createLinearRing_r(o->h, s);
    GEOSGeometry *pg = ring ? GEOSGeom_createPolygon_r(o->h, ring, NULL, 0) : NULL;
    if (!pg)
        return NULL;
    GEOSGeometry *v = GEOSMakeValid_r(o->h, pg);
    GEOSGeom_destroy_r(o->h, pg);
    return v;
}

static int to_lonlat(double *x, double *y, void *ud)
{
    double lat, lon;
    if (impa_grid_latlon((const impa_grid_t *)ud, *x, *y, &lat, &lon) != 0)
        return 0;
    *x = lon, *y = lat;
    return 1;
}

/* Polygonal parts only (MakeValid may add lines or points). */
static GEOSGeometry *polygonal(GEOSContextHandle_t h, GEOSGeometry *g)
{
    int t = GEOSGeomTypeId_r(h, g);
    if (t == GEOS_POLYGON || t == GEOS_MULTIPOLYGON)
        return g;
    int n = GEOSGetNumGeometries_r(h, g);
    GEOSGeometry **parts = malloc((size_t)(n > 0 ? n : 1) * sizeof *parts);
    unsigned k = 0;
    if (!parts) {
        GEOSGeom_destroy_r(h, g);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        const GEOSGeometry *p = GEOSGetGeometryN_r(h, g, i);
        if (GEOSGeomTypeId_r(h, p) == GEOS_POLYGON)
            parts[k++] = GEOSGeom_clone_r(h, p);
    }
    GEOSGeom_destroy_r(h, g);
    GEOSGeometry *out =
        k ? GEOSGeom_createCollection_r(h, GEOS_MULTIPOLYGON, parts, k) : NULL;
    free(parts);
    return out;
}

GEOSGeometry *impa_outline_build(impa_outline_ctx_t *o, const impa_grid_t *g, int lonlat,
                                 const impa_alert_cell_t *c, const int32_t *pixels)
{
    GEOSContextHandle_t h = o->h;
    GEOSGeometry *u = pixels && c->pix_off >= 0 ? from_pixels(o, g, c, pixels + c->pix_off)
                                                : from_ring(o, c);
    if (!u)
        return NULL;
    /* simplification in cell units, before the projection */
    GEOSGeometry *s = NULL;
    for (double tol = 0.5; tol < 1e4; tol *= 1.5) {
        GEOSGeometry *t = GEOSTopologyPreserveSimplify_r(h, u, tol);
        if (!t || GEOSisValid_r(h, t) != 1 || GEOSisEmpty_r(h, t)) {
            if (t)
                GEOSGeom_destroy_r(h, t);
            break;
        }
        if (s)
            GEOSGeom_destroy_r(h, s);
        s = t;
        if (GEOSGetNumCoordinates_r(h, s) <= IMPA_OUTLINE_MAX_POINTS)
            break;
    }
    if (s) {
        GEOSGeom_destroy_r(h, u);
        u = s;
    }
    if (lonlat) {
        GEOSGeometry *t = GEOSGeom_transformXY_r(h, u, to_lonlat, (void *)g);
        GEOSGeom_destroy_r(h, u);
        if (!t)
            return NULL;
        u = t;
    }
    GEOSGeometry *p = GEOSGeom_setPrecision_r(h, u, 1e-6, 0);
    GEOSGeom_destroy_r(h, u);
    if (!p)
        return NULL;
    if (GEOSisValid_r(h, p) != 1) {
        GEOSGeometry *v = GEOSMakeValid_r(h, p);
        GEOSGeom_destroy_r(h, p);
        if (!v)
            return NULL;
        p = v;
    }
    p = polygonal(h, p);
    if (!p || GEOSisEmpty_r(h, p)) {
        if (p)
            GEOSGeom_destroy_r(h, p);
        return NULL;
    }
    /* GEOSNormalize: exteriors clockwise, holes counterclockwise; reversed, that is
     * RFC 7946's right-hand rule */
    GEOSNormalize_r(h, p);
    GEOSGeometry *r = GEOSReverse_r(h, p);
    GEOSGeom_destroy_r(h, p);
    return r;
}
