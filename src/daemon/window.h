/* The input window: the last t_in frames on the model's step grid.
 *
 * Pure logic, no I/O. Scan times are snapped to the step grid (multiples of
 * step_s since the epoch) when they lie within jitter_s of it; scans off the
 * grid (a 5-min feed for a 10-min model) are not used. The newest grid time seen
 * is the window's head; the window covers head - (t_in-1)*step .. head.
 * The window owns its frames: t_in buffers of ny*nx floats allocated at create
 * time; impa_window_add copies the scan in and allocates nothing. */
#ifndef IMPA_DAEMON_WINDOW_H
#define IMPA_DAEMON_WINDOW_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

typedef struct impa_window impa_window_t;

typedef enum {
    IMPA_WINDOW_NEW_STEP = 0,  /* a newer step: the head advanced, a cycle is due */
    IMPA_WINDOW_LATE = 1,      /* an older step inside the window, inserted */
    IMPA_WINDOW_DUPLICATE = 2, /* a frame for that step is already held: ignored */
    IMPA_WINDOW_TOO_OLD = 3,   /* older than the window: dropped */
    IMPA_WINDOW_OFF_GRID = 4,  /* farther than jitter_s from the step grid: not used */
} impa_window_result_t;

/* "new step", "late", "duplicate", "too old", "off grid" */
const char *impa_window_result_name(impa_window_result_t r);

/* IMPA_EINVAL when t_in < 1, sizes <= 0, step_s <= 0 or jitter_s >= step_s/2
 * (a scan would then belong to two steps). */
int impa_window_create(int t_in, int ny, int nx, int step_s, int jitter_s,
                       impa_window_t **out, char *err, size_t errlen);
void impa_window_destroy(impa_window_t **w);

/* Drops every frame (the head too). */
void impa_window_clear(impa_window_t *w);

/* Offers a scan valid at `time` with dbz [ny][nx] (copied when used). Returns the
 * impa_window_result_t (>= 0); *slot receives the grid time it was snapped to. */
int impa_window_add(impa_window_t *w, int64_t time, const float *dbz, const char *path,
                    int64_t *slot);

/* Newest grid time held (INT64_MIN when empty). */
int64_t impa_window_head(const impa_window_t *w);
/* Frames held inside the window, 0..t_in. */
int impa_window_fill(const impa_window_t *w);
int impa_window_size(const impa_window_t *w);
int impa_window_complete(const impa_window_t *w);

/* Oldest first for the t_in steps of the window: dbz[i], times[i], paths[i]; NULL
 * dbz/path (time still set) where the step is missing. Borrowed pointers, valid
 * until the next add/clear. */
void impa_window_frames(const impa_window_t *w, const float **dbz, int64_t *times,
                        const char **paths);

/* Number of consecutive frames ending at the head (0 when empty): what a fallback
 * can use when the window has a gap. */
int impa_window_recent_run(const impa_window_t *w);

/* Writes "missing 2020-10-31T01:10:00Z, 2020-10-31T01:20:00Z" (the missing steps)
 * into buf; "" when complete. */
void impa_window_describe_gap(const impa_window_t *w, char *buf, size_t len);

#endif
