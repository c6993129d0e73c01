/* Scan readers: a radar product file -> reflectivity in dBZ on its native grid.
 *
 * Supported: CF NetCDF (classic or NetCDF-4) gridded reflectivity, rain rate or
 * accumulation; ODIM_H5 composites (read through libnetcdf's HDF5 support).
 * scale_factor/add_offset, _FillValue/missing_value and valid_min/valid_max/
 * valid_range are honoured; ODIM gain/offset/nodata/undetect likewise
 * (undetect = no echo, nodata = missing). Rates and accumulations become dBZ
 * through Z = a R^b (R in mm/h; an accumulation over `period` seconds gives
 * R = A * 3600 / period, the period from the file's cell_methods/time bounds/
 * attributes or the configured default). Values with R <= 0 become
 * IMPA_DBZ_NO_ECHO, not NaN: dry is data, NaN is missing. */
#ifndef IMPA_READER_H
#define IMPA_READER_H

#include "impa/grid.h"

#define IMPA_DBZ_NO_ECHO (-32.0f) /* dry pixel with valid radar data */

typedef struct {
    const char *variable;     /* NULL/"" = find by CF standard_name / units */
    double zr_a, zr_b;        /* Z = a R^b, default 200, 1.6 (Marshall-Palmer) */
    double accum_period_s;    /* accumulation period when the file does not say; 0 = refuse */
} impa_reader_opts_t;

/* Default options (Marshall-Palmer, auto variable, accum_period_s = 0). */
IMPA_API impa_reader_opts_t impa_reader_opts_default(void);

/* Reads one file into *scan (impa_scan_init'ed by the call; impa_scan_deinit it).
 * scan->variable and scan->quantity say what was taken. The time comes from file
 * metadata (CF time variable or ODIM what/date+time), never from the name.
 * Errors: IMPA_EIO (cannot open), IMPA_EFORMAT (not a radar product / truncated /
 * inconsistent), IMPA_ENOTFOUND (no usable variable), with file and reason in err. */
IMPA_API int impa_reader_read(const char *path, const impa_reader_opts_t *opts,
                              impa_scan_t *scan, char *err, size_t errlen);

/* Limits for impa_reader_read_isolated. */
typedef struct {
    double timeout_s;         /* wall-clock limit for one file, default 20 s */
    size_t max_memory_bytes;  /* address-space limit of the reading process, default 4 GiB; 0 = none */
    /* Called about once a second while the reading process has not answered
     * (the daemon feeds its watchdog from it); NULL = none. */
    void (*waiting)(void *user);
    void *waiting_user;
} impa_reader_limits_t;

IMPA_API impa_reader_limits_t impa_reader_limits_default(void);

/* impa_reader_read in a short-lived child process, for files from an untrusted
 * directory: libnetcdf/libhdf5 can crash, hang or allocate gigabytes on a
 * malformed header (see fuzz/corpus-known/). A crash, a time-out or the memory
 * limit fail this call with IMPA_EFORMAT and a message ("reader crashed: signal 11
 * (Segmentation fault)", "reader timed out after 20 s") instead of taking the
 * caller down. Same results and errors as impa_reader_read otherwise. Costs one
 * fork (copy-on-write) per file. */
IMPA_API int impa_reader_read_isolated(const char *path, const impa_reader_opts_t *opts,
                                       const impa_reader_limits_t *limits, impa_scan_t *scan,
                                       char *err, size_t errlen);

/* The reader fork server: a process started while the caller still has one
 * thread, from which impa_reader_read_isolated forks its children from then on.
 * A fork from a multi-threaded process can leave a lock another thread held
 * (an allocator's, a library's) locked in the child for good; the daemon starts
 * the server before any thread of its own. Without a server, or after it died,
 * the reads fork directly. start: 0 (also when running) or IMPA_EIO/IMPA_ENOMEM;
 * stop: ends it (also at exit: the server dies with its parent). */
IMPA_API int impa_reader_server_start(char *err, size_t errlen);
IMPA_API void impa_reader_server_stop(void);
IMPA_API int impa_reader_server_running(void);

#endif
