/* Internals shared by the io module's files: NetCDF attribute helpers and the
 * map projections behind impa_grid_latlon (PROJ, proj.c). Not installed, not exported. */
#ifndef IMPA_IO_IMPL_H
#define IMPA_IO_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "impa/grid.h"
#include "impa/reader.h"

/* Text attribute (NC_CHAR or NC_STRING, fixed- or variable-length) into buf,
 * NUL-terminated and right-trimmed. 0, or IMPA_ENOTFOUND when absent / not text. */
int impa_io_att_text(int ncid, int varid, const char *name, char *buf, size_t len);

/* Numeric attribute: up to max values converted to double; text attributes holding
 * a number are parsed too (some ODIM writers store numbers as strings).
 * *n receives the count. 0 or IMPA_ENOTFOUND. */
int impa_io_att_doubles(int ncid, int varid, const char *name, double *vals, int max, int *n);

/* Single numeric attribute, or dflt when absent; *found (optional) says which. */
double impa_io_att_double(int ncid, int varid, const char *name, double dflt, int *found);

/* Sizes the HDF5 chunk cache of a chunked variable to one row of its chunks
 * (at most 256 MiB), so reading it a row at a time decompresses each chunk once
 * instead of once per row (the OPERA composite: 400 s -> 3 s). No-op for
 * unchunked and classic variables. */
void impa_io_cache_chunk_row(int ncid, int varid);

/* Copies every attribute of variable varid (a CF grid_mapping variable) into grid->attrs
 * and sets grid->grid_mapping_name. */
void impa_io_copy_grid_mapping(int ncid, int varid, impa_grid_t *grid);

/* Appends/replaces one attribute of grid (text when text != NULL). */
void impa_io_grid_set_text(impa_grid_t *grid, const char *name, const char *text);
void impa_io_grid_set_doubles(impa_grid_t *grid, const char *name, const double *v, int n);

/* Parses a PROJ string with PROJ (ODIM projdef, KNMI proj4 params; KNMI's
 * ellipsoid in km is scaled to metres first) and sets the CF grid-mapping
 * attributes on grid (grid_mapping_name + parameters + ellipsoid) when CF has a
 * name for the projection; when it has none (e.g. +proj=sterea) only the
 * ellipsoid is set and impa_grid_latlon uses the PROJ string. The text is always
 * kept as the "proj4" attribute. 0, or IMPA_ENOTFOUND when PROJ cannot read it
 * (grid untouched then but for "proj4"). *unit_m receives metres per unit of
 * the string's x/y (1000 for +units=km or an ellipsoid given in km). */
int impa_io_grid_from_proj4(impa_grid_t *grid, const char *proj4, double *unit_m);

/* Forward projection for grid's mapping: lat/lon (degrees) to x/y in metres,
 * false easting/northing included (degrees for latitude_longitude and rotated
 * grids). 0 or IMPA_ENOTFOUND. */
int impa_io_project(const impa_grid_t *grid, double lat, double lon, double *x_m, double *y_m);

/* Opens this thread's PROJ context and PROJ's database now: the first PROJ
 * object of a process costs 20-250 ms (reading proj.db), which a reader child
 * forked afterwards inherits instead of paying per scan. */
void impa_io_proj_init(void);

/* OGC WKT2 (one line, malloc'ed, caller frees) of grid's CRS, for the archive's
 * crs_wkt. 0 or IMPA_ENOTFOUND (no usable projection). */
int impa_io_grid_wkt(const impa_grid_t *grid, char **wkt);

/* Metres per grid x/y unit ("m", "km"); 0 when unknown or angular. */
double impa_io_unit_m(const char *units);

/* NetCDF-backed ODIM_H5 and KNMI readers (reader_odim.c); the file is open. */
int impa_io_read_odim(int ncid, const char *path, const impa_reader_opts_t *opts,
                      impa_scan_t *scan, char *err, size_t errlen);
int impa_io_read_knmi(int ncid, const char *path, const impa_reader_opts_t *opts,
                      impa_scan_t *scan, char *err, size_t errlen);

/* Rain rate (mm/h) -> dBZ with Z = a R^b; R <= 0 -> IMPA_DBZ_NO_ECHO, NaN stays NaN. */
float impa_io_rate_to_dbz(double r, double a, double b);

#define IMPA_IO_MAX_SIDE 10000 /* larger grids are refused as absurd */

/* What a reader child sends first; the ny*nx dBZ values follow. */
typedef struct {
    int32_t rc;
    char err[1024];
    impa_scan_t scan; /* dbz pointer meaningless here: values follow */
} impa_io_wire_header_t;

/* The reader child's body (reader_child.c): reads path and writes the result
 * into fd; never returns. Run by a direct fork or by the fork server. */
_Noreturn void impa_io_reader_child(int fd, const char *path, const impa_reader_opts_t *opts,
                                    const impa_reader_limits_t *lim);

/* The fork server (reader_server.c). spawn: starts a reader child writing into fd;
 * 0 with *pid set and the server held for the caller until impa_io_server_wait,
 * or -1 when there is no server or it failed (nothing held; fork directly then).
 * wait: the child's wait status into *status and the server released; -1 when
 * the server died meanwhile. */
int impa_io_server_spawn(int fd, const char *path, const impa_reader_opts_t *opts,
                         const impa_reader_limits_t *lim, pid_t *pid);
int impa_io_server_wait(pid_t pid, int *status);

#endif
