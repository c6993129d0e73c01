/* Forecast archive: one CF-1.8 NetCDF file per cycle, named
 * <prefix><issue YYYYMMDDTHHMMSSZ>.nc, written under a temporary name
 * (".<name>.tmp") then renamed, so readers never see half a file.
 *
 * Content: reflectivity(lead_time, y, x) float dBZ with _FillValue, lead_time (min),
 * time (issue, seconds since 1970-01-01), y/x coordinates and the input's
 * grid_mapping, global attributes: Conventions, title, institution/source (model
 * name, version, weights hash), method, inputs (files and times), history, and
 * the cycle's alerts summarised (alert_threshold_dbz, alert_cells over all leads,
 * alert_tracks; or alert_error when they could not be computed). */
#ifndef IMPA_ARCHIVE_H
#define IMPA_ARCHIVE_H

#include "impa/forecast.h"

/* Writes the forecast into dir. path_out (optional, PATH_MAX) receives the final
 * path. IMPA_ENOSPC when the disk is full, IMPA_EIO otherwise; no temp file is
 * left behind on failure. */
IMPA_API int impa_archive_write(const char *dir, const char *prefix, const impa_forecast_t *fc,
                                char *path_out, char *err, size_t errlen);

/* The file impa_archive_write makes for issue_time, and the temporary name it
 * writes it under (len bytes each). 0, or IMPA_EINVAL when a path is too long. */
IMPA_API int impa_archive_paths(const char *dir, const char *prefix, int64_t issue_time,
                                char *final, char *tmp, size_t len);

/* Reads an archive file back: dbz [n_leads][ny][nx] malloc'ed (caller frees),
 * grid, issue time, step and number of leads, method name (>= 32 bytes). */
IMPA_API int impa_archive_read(const char *path, impa_grid_t *grid, int64_t *issue_time,
                               int *step_minutes, int *n_leads, float **dbz,
                               char *method, size_t method_len, char *err, size_t errlen);

/* Reads the exceedance probabilities of an archive file back (variable
 * reflectivity_probability [threshold][lead_time][y][x] and its threshold
 * coordinate): *p malloc'ed [n_thr][n_leads][ny][nx] (caller frees; NAN where
 * the forecast had no value), thr[0..*n_thr) in dBZ (at most max_thr are read).
 * IMPA_ENOTFOUND when the file has no probabilities (written with the product
 * off), IMPA_EFORMAT, IMPA_EIO, IMPA_ENOMEM. */
IMPA_API int impa_archive_read_prob(const char *path, float *thr, int max_thr, int *n_thr,
                                    int *n_leads, int *ny, int *nx, float **p, char *err,
                                    size_t errlen);

/* Deletes archive files in dir (matching prefix*.nc) whose issue time is older
 * than now - retention_s. Returns the number removed (>= 0) or a negative code. */
IMPA_API int impa_archive_prune(const char *dir, const char *prefix, int64_t now,
                                int64_t retention_s, char *err, size_t errlen);

#endif
