/* NetCDF attribute helpers and the grid-mapping attribute store of impa_grid_t.
 * (PROJ strings are parsed by PROJ: proj.c.) */
#include "io-impl.h"

#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void rtrim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

int impa_io_att_text(int ncid, int varid, const char *name, char *buf, size_t len)
{
    nc_type t;
    size_t n;
    if (len == 0 || nc_inq_att(ncid, varid, name, &t, &n) != NC_NOERR)
        return IMPA_ENOTFOUND;
    buf[0] = '\0';
    if (t == NC_CHAR) {
        char *tmp = malloc(n + 1);
        if (!tmp)
            return IMPA_ENOMEM;
        if (nc_get_att_text(ncid, varid, name, tmp) != NC_NOERR) {
            free(tmp);
            return IMPA_ENOTFOUND;
        }
        tmp[n] = '\0';
        snprintf(buf, len, "%s", tmp); /* stops at an embedded NUL (fixed-length HDF5 strings) */
        free(tmp);
    } else if (t == NC_STRING) {
        if (n < 1)
            return IMPA_ENOTFOUND;
        char **v = calloc(n, sizeof *v);
        if (!v)
            return IMPA_ENOMEM;
        if (nc_get_att_string(ncid, varid, name, v) != NC_NOERR) {
            free(v);
            return IMPA_ENOTFOUND;
        }
        snprintf(buf, len, "%s", v[0] ? v[0] : "");
        nc_free_string(n, v);
        free(v);
    } else {
        return IMPA_ENOTFOUND;
    }
    rtrim(buf);
    return IMPA_OK;
}

int impa_io_att_doubles(int ncid, int varid, const char *name, double *vals, int max, int *n)
{
    nc_type t;
    size_t len;
    *n = 0;
    if (max <= 0 || nc_inq_att(ncid, varid, name, &t, &len) != NC_NOERR || len == 0)
        return IMPA_ENOTFOUND;
    if (t == NC_CHAR || t == NC_STRING) {
        char buf[256], *end;
        if (impa_io_att_text(ncid, varid, name, buf, sizeof buf) != IMPA_OK)
            return IMPA_ENOTFOUND;
        double v = strtod(buf, &end);
        if (end == buf)
            return IMPA_ENOTFOUND;
        vals[0] = v;
        *n = 1;
        return IMPA_OK;
    }
    if (t > NC_DOUBLE && !(t >= NC_UBYTE && t <= NC_UINT64))
        return IMPA_ENOTFOUND;
    double *tmp = malloc(len * sizeof *tmp);
    if (!tmp)
        return IMPA_ENOMEM;
    if (nc_get_att_double(ncid, varid, name, tmp) != NC_NOERR) {
        free(tmp);
        return IMPA_ENOTFOUND;
    }
    for (size_t i = 0; i < len && (int)i < max; i++)
        vals[(*n)++] = tmp[i];
    free(tmp);
    return IMPA_OK;
}

double impa_io_att_double(int ncid, int varid, const char *name, double dflt, int *found)
{
    double v;
    int n;
    int ok = impa_io_att_doubles(ncid, varid, name, &v, 1, &n) == IMPA_OK && n == 1;
    if (found)
        *found = ok;
    return ok ? v : dflt;
}

static impa_grid_attr_t *slot(impa_grid_t *g, const char *name)
{
    for (int i = 0; i < g->n_attrs; i++)
        if (!strcmp(g->attrs[i].name, name))
            return &g->attrs[i];
    if (g->n_attrs >= IMPA_GRID_MAX_ATTRS)
        return NULL;
    impa_grid_attr_t *a = &g->attrs[g->n_attrs++];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    return a;
}

void impa_io_grid_set_text(impa_grid_t *g, const char *name, const char *text)
{
    impa_grid_attr_t *a = slot(g, name);
    if (!a)
        return;
    a->is_text = 1;
    a->n_values = 0;
    snprintf(a->text, sizeof a->text, "%s", text);
    if (!strcmp(name, "grid_mapping_name"))
        snprintf(g->grid_mapping_name, sizeof g->grid_mapping_name, "%s", text);
}

void impa_io_grid_set_doubles(impa_grid_t *g, const char *name, const double *v, int n)
{
    impa_grid_attr_t *a = slot(g, name);
    if (!a)
        return;
    a->is_text = 0;
    a->text[0] = '\0';
    a->n_values = n > 4 ? 4 : n;
    for (int i = 0; i < a->n_values; i++)
        a->values[i] = v[i];
}

void impa_io_copy_grid_mapping(int ncid, int varid, impa_grid_t *grid)
{
    int natts = 0;
    if (nc_inq_varnatts(ncid, varid, &natts) != NC_NOERR)
        return;
    for (int i = 0; i < natts; i++) {
        char name[NC_MAX_NAME + 1];
        nc_type t;
        size_t len;
        if (nc_inq_attname(ncid, varid, i, name) != NC_NOERR ||
            nc_inq_att(ncid, varid, name, &t, &len) != NC_NOERR || strlen(name) >= 64)
            continue;
        if (t == NC_CHAR || t == NC_STRING) {
            /* A text that does not fit (a crs_wkt, GDAL's spatial_ref) is left
             * out rather than kept cut short; the archive writes its own crs_wkt. */
            char buf[1024];
            if (impa_io_att_text(ncid, varid, name, buf, sizeof buf) == IMPA_OK &&
                strlen(buf) < sizeof grid->attrs[0].text)
                impa_io_grid_set_text(grid, name, buf);
        } else {
            double v[4];
            int n;
            if (impa_io_att_doubles(ncid, varid, name, v, 4, &n) == IMPA_OK)
                impa_io_grid_set_doubles(grid, name, v, n);
        }
    }
}

void impa_io_cache_chunk_row(int ncid, int varid)
{
    int storage = 0, nd = 0;
    size_t chunks[NC_MAX_VAR_DIMS], elem = 0;
    nc_type t;
    int dims[NC_MAX_VAR_DIMS];
    if (nc_inq_varndims(ncid, varid, &nd) != NC_NOERR || nd < 1 || nd > NC_MAX_VAR_DIMS ||
        nc_inq_var_chunking(ncid, varid, &storage, chunks) != NC_NOERR || storage != NC_CHUNKED ||
        nc_inq_vartype(ncid, varid, &t) != NC_NOERR || nc_inq_type(ncid, t, NULL, &elem) != NC_NOERR ||
        nc_inq_vardimid(ncid, varid, dims) != NC_NOERR)
        return;
    size_t nx = 0;
    if (nc_inq_dimlen(ncid, dims[nd - 1], &nx) != NC_NOERR || chunks[nd - 1] == 0)
        return;
    double chunk_bytes = (double)elem;
    for (int i = 0; i < nd; i++)
        chunk_bytes *= (double)chunks[i];
    double across = ceil((double)nx / (double)chunks[nd - 1]);
    double want = chunk_bytes * (across + 1);
    if (want > 256.0 * 1024 * 1024)
        want = 256.0 * 1024 * 1024; /* bounded: a hostile header cannot make us cache gigabytes */
    size_t slots = (size_t)(across * 101) | 1;
    if (slots < 1009)
        slots = 1009;
    nc_set_var_chunk_cache(ncid, varid, (size_t)want, slots, 1.0f);
}
