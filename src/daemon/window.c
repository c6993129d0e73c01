#include "daemon/window.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "impa/error.h"
#include "impa/timeutil.h"

struct impa_window {
    int t_in, ny, nx, step_s, jitter_s;
    int64_t head;          /* newest grid time, INT64_MIN = empty */
    /* ring indexed by (grid time / step) mod t_in */
    int64_t *times;        /* [t_in] grid time held by the slot, INT64_MIN = empty */
    float *frames;         /* [t_in][ny][nx] */
    char (*paths)[PATH_MAX]; /* [t_in] */
};

const char *impa_window_result_name(impa_window_result_t r)
{
    switch (r) {
    case IMPA_WINDOW_NEW_STEP: return "new step";
    case IMPA_WINDOW_LATE: return "late";
    case IMPA_WINDOW_DUPLICATE: return "duplicate";
    case IMPA_WINDOW_TOO_OLD: return "too old";
    case IMPA_WINDOW_OFF_GRID: return "off grid";
    }
    return "?";
}

int impa_window_create(int t_in, int ny, int nx, int step_s, int jitter_s,
                       impa_window_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (t_in < 1 || ny < 1 || nx < 1 || step_s < 1)
        return impa_err(err, errlen, IMPA_EINVAL, "window: bad size t_in=%d grid=%dx%d step=%ds",
                        t_in, ny, nx, step_s);
    if (jitter_s < 0 || 2 * jitter_s >= step_s)
        return impa_err(err, errlen, IMPA_EINVAL,
                        "window: jitter_s %d must be below half the model step (%d s)", jitter_s,
                        step_s);
    impa_window_t *w = calloc(1, sizeof *w);
    if (!w)
        return impa_err(err, errlen, IMPA_ENOMEM, "window: out of memory");
    w->t_in = t_in, w->ny = ny, w->nx = nx, w->step_s = step_s, w->jitter_s = jitter_s;
    w->times = malloc((size_t)t_in * sizeof *w->times);
    w->frames = malloc((size_t)t_in * (size_t)ny * (size_t)nx * sizeof *w->frames);
    w->paths = calloc((size_t)t_in, sizeof *w->paths);
    if (!w->times || !w->frames || !w->paths) {
        impa_window_destroy(&w);
        return impa_err(err, errlen, IMPA_ENOMEM, "window: out of memory for %d frames of %dx%d",
                        t_in, ny, nx);
    }
    impa_window_clear(w);
    *out = w;
    return 0;
}

void impa_window_destroy(impa_window_t **w)
{
    if (!w || !*w)
        return;
    free((*w)->times);
    free((*w)->frames);
    free((*w)->paths);
    free(*w);
    *w = NULL;
}

void impa_window_clear(impa_window_t *w)
{
    w->head = INT64_MIN;
    for (int i = 0; i < w->t_in; i++)
        w->times[i] = INT64_MIN, w->paths[i][0] = '\0';
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int ring_index(const impa_window_t *w, int64_t grid_time)
{
    int64_t k = floor_div(grid_time, w->step_s) % w->t_in;
    return (int)(k < 0 ? k + w->t_in : k);
}

/* Slot of grid time t when the window holds it, else -1. */
static int find(const impa_window_t *w, int64_t t)
{
    int i = ring_index(w, t);
    return w->times[i] == t ? i : -1;
}

static int64_t oldest(const impa_window_t *w)
{
    return w->head - (int64_t)(w->t_in - 1) * w->step_s;
}

static void store(impa_window_t *w, int i, int64_t t, const float *dbz, const char *path)
{
    size_t n = (size_t)w->ny * (size_t)w->nx;
    memcpy(w->frames + (size_t)i * n, dbz, n * sizeof *dbz);
    w->times[i] = t;
    snprintf(w->paths[i], sizeof w->paths[i], "%s", path ? path : "");
}

int impa_window_add(impa_window_t *w, int64_t time, const float *dbz, const char *path,
                    int64_t *slot)
{
    int64_t g = floor_div(time + w->step_s / 2, w->step_s) * w->step_s;
    if (slot)
        *slot = g;
    int64_t off = time - g;
    if (off > w->jitter_s || -off > w->jitter_s)
        return IMPA_WINDOW_OFF_GRID;
    if (w->head == INT64_MIN || g > w->head) {
        /* The head advances: slots that fall out of the window are freed implicitly
         * because their ring positions are overwritten or their times are < oldest. */
        w->head = g;
        int64_t lo = oldest(w);
        for (int i = 0; i < w->t_in; i++)
            if (w->times[i] != INT64_MIN && w->times[i] < lo)
                w->times[i] = INT64_MIN, w->paths[i][0] = '\0';
        store(w, ring_index(w, g), g, dbz, path);
        return IMPA_WINDOW_NEW_STEP;
    }
    if (find(w, g) >= 0)
        return IMPA_WINDOW_DUPLICATE;
    if (g < oldest(w))
        return IMPA_WINDOW_TOO_OLD;
    store(w, ring_index(w, g), g, dbz, path);
    return IMPA_WINDOW_LATE;
}

int64_t impa_window_head(const impa_window_t *w) { return w->head; }
int impa_window_size(const impa_window_t *w) { return w->t_in; }

int impa_window_fill(const impa_window_t *w)
{
    if (w->head == INT64_MIN)
        return 0;
    int n = 0;
    for (int k = 0; k < w->t_in; k++)
        n += find(w, oldest(w) + (int64_t)k * w->step_s) >= 0;
    return n;
}

int impa_window_complete(const impa_window_t *w) { return impa_window_fill(w) == w->t_in; }

void impa_window_frames(const impa_window_t *w, const float **dbz, int64_t *times,
                        const char **paths)
{
    size_t n = (size_t)w->ny * (size_t)w->nx;
    for (int k = 0; k < w->t_in; k++) {
        int64_t t = w->head == INT64_MIN ? INT64_MIN : oldest(w) + (int64_t)k * w->step_s;
        int i = w->head == INT64_MIN ? -1 : find(w, t);
        if (dbz)
            dbz[k] = i >= 0 ? w->frames + (size_t)i * n : NULL;
        if (times)
            times[k] = t;
        if (paths)
            paths[k] = i >= 0 ? w->paths[i] : NULL;
    }
}

int impa_window_recent_run(const impa_window_t *w)
{
    if (w->head == INT64_MIN)
        return 0;
    int n = 0;
    while (n < w->t_in && find(w, w->head - (int64_t)n * w->step_s) >= 0)
        n++;
    return n;
}

void impa_window_describe_gap(const impa_window_t *w, char *buf, size_t len)
{
    size_t used = 0;
    if (len)
        buf[0] = '\0';
    if (w->head == INT64_MIN) {
        snprintf(buf, len, "no frames yet");
        return;
    }
    for (int k = 0; k < w->t_in; k++) {
        int64_t t = oldest(w) + (int64_t)k * w->step_s;
        if (find(w, t) >= 0)
            continue;
        char iso[32];
        impa_time_iso(t, iso, sizeof iso);
        int n = snprintf(buf + used, len > used ? len - used : 0, "%s%s",
                         used ? ", " : "missing ", iso);
        if (n < 0 || used + (size_t)n >= len)
            return;
        used += (size_t)n;
    }
}
