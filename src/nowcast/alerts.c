/* Severe-echo cells: labelling, outlines, watch regions, tracking (alerts.h). */
#include "impa/alerts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "impa/error.h"
#include "impa/prob.h"
#include "impa/timeutil.h"

struct impa_alert_tracker {
    impa_alert_config_t cfg;

    /* Grid-sized buffers, (re)allocated when the grid changes. */
    impa_grid_t grid;
    int have_grid, has_proj;
    double cell_km2, cell_km;  /* area of a cell; side length used for distances */
    int32_t *label[2];         /* [ny*nx] per lead: cell index+1, -1 rejected, 0 none */
    int32_t *queue;            /* [ny*nx] flood-fill queue = pixels of the last component */
    int32_t *plab;             /* [ny*nx] previous-cycle cells painted at one valid time:
                                * prev index + 1, 0 none (cleared after each lead) */
    int32_t *painted;          /* [ny*nx] the pixels painted into plab */
    size_t n_painted;
    uint32_t *pix_regions;     /* [ny*nx] watch-region bits per pixel, NULL without regions */
    int32_t *tx, *ty;          /* [trace_cap] outline vertices in corner coordinates */
    unsigned char *keep;       /* [trace_cap] Douglas-Peucker flags */
    int32_t *stack;            /* [2*trace_cap] Douglas-Peucker segments */
    size_t trace_cap;

    /* Cell pools (grow by doubling up to cfg.max_cells, then reused). */
    impa_alert_cell_t *cells, *prev, *ended;
    int n_cells, n_prev, n_ended;
    int cap_cells, cap_prev, cap_ended;
    int *ov, *order;           /* [cap_cells] overlap counts, processing order */
    int *ovp;                  /* [cap_ovp] overlap counts with prev[] */
    int cap_ovp;
    impa_alert_cell_t *pub;    /* [cap_pub] the published (ALERTED) cells, lead order */
    int n_pub, cap_pub;
    int first_held;            /* cells[first_held..n_cells) are held copies */
    int64_t next_id;
    uint64_t truncated;
    /* Pixel lists of the cells (this cycle) and of prev[] (last cycle); grow by
     * doubling, swapped with the cell pools. */
    int32_t *pix, *pix_prev;
    size_t n_pix, cap_pix, cap_pix_prev;

    /* Cycle context for the cross-cycle match. */
    int64_t issue, prev_issue;
    int step_minutes;
    int prev_valid;            /* prev[] holds a cycle on the same grid */
    int restored;              /* cells[] came from impa_alert_tracker_state_read */
    impa_alerts_t view;        /* the last update as a product (impa_alert_tracker_alerts) */

    /* Probabilities over the watch regions (impa_alerts_t.region_prob/_alerts). */
    int region_npix[IMPA_ALERT_MAX_REGIONS]; /* pixel centres inside each region */
    double *region_prob;       /* [n_regions * cap_region_leads] */
    int cap_region_leads;
    impa_region_alert_t ralert[IMPA_ALERT_MAX_REGIONS];
    int ralert_on[IMPA_ALERT_MAX_REGIONS];   /* raised in the last update */
};

void impa_alert_config_default(impa_alert_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->threshold_dbz = IMPA_ALERT_DEFAULT_THRESHOLD_DBZ;
    cfg->min_area_km2 = IMPA_ALERT_DEFAULT_MIN_AREA_KM2;
    cfg->match_km = 20.0;
    cfg->max_cells = 4096;
    cfg->cluster_km = IMPA_ALERT_DEFAULT_CLUSTER_KM;
    cfg->confirm_minutes = IMPA_ALERT_DEFAULT_CONFIRM_MINUTES;
    cfg->confirm_age_minutes = IMPA_ALERT_DEFAULT_CONFIRM_AGE_MINUTES;
    cfg->confirm_area_km2 = IMPA_ALERT_DEFAULT_CONFIRM_AREA_KM2;
    cfg->confirm_dbz = IMPA_ALERT_DEFAULT_CONFIRM_DBZ;
    cfg->cancel_after_minutes = IMPA_ALERT_DEFAULT_CANCEL_AFTER_MINUTES;
}

void impa_alert_config_immediate(impa_alert_config_t *cfg)
{
    cfg->cluster_km = 0;
    cfg->confirm_age_minutes = 0;
    cfg->cancel_after_minutes = 0;
}

int impa_alert_tracker_create(const impa_alert_config_t *cfg, impa_alert_tracker_t **out,
                              char *err, size_t errlen)
{
    if (!cfg || !out)
        return impa_err(err, errlen, IMPA_EINVAL, "alert tracker: NULL argument");
    *out = NULL;
    if (cfg->max_cells < 1 || cfg->n_regions < 0 || cfg->n_regions > IMPA_ALERT_MAX_REGIONS ||
        !(cfg->match_km >= 0) || !(cfg->min_area_km2 >= 0) || !(cfg->cluster_km >= 0) || cfg->confirm_minutes < 0 ||
        cfg->confirm_age_minutes < 0 || cfg->cancel_after_minutes < 0 ||
        !(cfg->confirm_area_km2 >= 0) || !(cfg->confirm_dbz >= 0))
        return impa_err(err, errlen, IMPA_EINVAL,
                        "alert tracker: bad configuration (max_cells %d, n_regions %d, match_km %g, "
                        "confirm %d min / %d min / %g km2 / %g dBZ, cancel after %d min)",
                        cfg->max_cells, cfg->n_regions, cfg->match_km, cfg->confirm_minutes,
                        cfg->confirm_age_minutes, (double)cfg->confirm_area_km2,
                        (double)cfg->confirm_dbz, cfg->cancel_after_minutes);
    for (int r = 0; r < cfg->n_regions; r++)
        if (cfg->regions[r].n_vertices < 3 || cfg->regions[r].n_vertices > IMPA_ALERT_MAX_VERTICES)
            return impa_err(err, errlen, IMPA_EINVAL, "watch region '%s': %d vertices (3..%d)",
                            cfg->regions[r].name, cfg->regions[r].n_vertices,
                            IMPA_ALERT_MAX_VERTICES);
    impa_alert_tracker_t *tr = calloc(1, sizeof *tr);
    if (!tr)
        return impa_err(err, errlen, IMPA_ENOMEM, "alert tracker: out of memory");
    tr->cfg = *cfg;
    tr->next_id = 1;
    tr->view.threshold_dbz = cfg->threshold_dbz;
    tr->view.min_area_km2 = cfg->min_area_km2;
    tr->view.n_regions = cfg->n_regions;
    tr->view.regions = tr->cfg.regions;
    *out = tr;
    return 0;
}

static void free_grid_buffers(impa_alert_tracker_t *tr)
{
    free(tr->label[0]);
    free(tr->label[1]);
    free(tr->queue);
    free(tr->plab);
    free(tr->painted);
    free(tr->pix_regions);
    free(tr->tx);
    free(tr->ty);
    free(tr->keep);
    free(tr->stack);
    tr->label[0] = tr->label[1] = tr->queue = tr->tx = tr->ty = tr->stack = NULL;
    tr->plab = tr->painted = NULL;
    tr->pix_regions = NULL;
    tr->keep = NULL;
    tr->have_grid = 0;
}

void impa_alert_tracker_destroy(impa_alert_tracker_t **trp)
{
    if (!trp || !*trp)
        return;
    impa_alert_tracker_t *tr = *trp;
    free_grid_buffers(tr);
    free(tr->cells);
    free(tr->prev);
    free(tr->ended);
    free(tr->ov);
    free(tr->order);
    free(tr->ovp);
    free(tr->pub);
    free(tr->pix);
    free(tr->pix_prev);
    free(tr->region_prob);
    free(tr);
    *trp = NULL;
}

static int same_grid(const impa_grid_t *a, const impa_grid_t *b)
{
    return a->nx == b->nx && a->ny == b->ny && a->x0 == b->x0 && a->y0 == b->y0 &&
           a->dx == b->dx && a->dy == b->dy && strcmp(a->x_units, b->x_units) == 0 &&
           strcmp(a->grid_mapping_name, b->grid_mapping_name) == 0;
}

/* Sizes every per-grid buffer once; precomputes the watch-region mask of every
 * pixel centre so the per-cycle work needs no projection per pixel. */
static int setup_grid(impa_alert_tracker_t *tr, const impa_grid_t *g, char *err, size_t errlen)
{
    if (tr->have_grid && same_grid(&tr->grid, g))
        return 0;
    /* restored cells continue only on the grid they were found on */
    int keep = tr->restored && same_grid(&tr->grid, g);
    free_grid_buffers(tr);
    tr->prev_valid = keep;
    size_t n = (size_t)g->nx * (size_t)g->ny;
    tr->trace_cap = 2 * ((size_t)g->nx + 1) * ((size_t)g->ny + 1) + 8;
    tr->label[0] = calloc(n, sizeof(int32_t));
    tr->label[1] = calloc(n, sizeof(int32_t));
    tr->queue = malloc(n * sizeof(int32_t));
    tr->plab = calloc(n, sizeof(int32_t));
    tr->painted = malloc(n * sizeof(int32_t));
    tr->n_painted = 0;
    tr->tx = malloc(tr->trace_cap * sizeof(int32_t));
    tr->ty = malloc(tr->trace_cap * sizeof(int32_t));
    tr->keep = malloc(tr->trace_cap);
    tr->stack = malloc(2 * tr->trace_cap * sizeof(int32_t));
    if (tr->cfg.n_regions > 0)
        tr->pix_regions = calloc(n, sizeof(uint32_t));
    if (!tr->label[0] || !tr->label[1] || !tr->queue || !tr->plab || !tr->painted || !tr->tx ||
        !tr->ty || !tr->keep ||
        !tr->stack || (tr->cfg.n_regions > 0 && !tr->pix_regions)) {
        free_grid_buffers(tr);
        return impa_err(err, errlen, IMPA_ENOMEM, "alert tracker: out of memory for a %dx%d grid",
                        g->ny, g->nx);
    }
    tr->grid = *g;
    double lat, lon;
    tr->has_proj = impa_grid_latlon(g, 0.0, 0.0, &lat, &lon) == 0;
    tr->cell_km2 = impa_grid_cell_area_km2(g);
    if (!(tr->cell_km2 > 0) || !isfinite(tr->cell_km2)) {
        /* No usable units: treat the grid spacing as km so thresholds still apply. */
        double f = strcmp(g->x_units, "m") == 0 ? 1e-3 : 1.0;
        tr->cell_km2 = fabs(g->dx * f * g->dy * f);
        if (!(tr->cell_km2 > 0))
            tr->cell_km2 = 1.0;
    }
    tr->cell_km = sqrt(tr->cell_km2);
    if (tr->pix_regions && tr->has_proj) {
        /* pixel centres against GEOS prepared region polygons (regions.c) */
        double *plat = malloc(n * sizeof *plat), *plon = malloc(n * sizeof *plon);
        unsigned char *ok = malloc(n);
        int rc = plat && plon && ok ? 0
                                    : impa_err(err, errlen, IMPA_ENOMEM,
                                               "alert tracker: out of memory for watch regions");
        for (size_t i = 0; i < n && rc == 0; i++) {
            ok[i] = impa_grid_latlon(g, (double)(i % (size_t)g->nx), (double)(i / (size_t)g->nx),
                                     &plat[i], &plon[i]) == 0;
            if (!ok[i])
                plat[i] = plon[i] = 0.0;
        }
        if (rc == 0)
            rc = impa_alert_region_masks(tr->cfg.regions, tr->cfg.n_regions, plat, plon, n, 1,
                                         tr->pix_regions, err, errlen);
        for (int r = 0; r < IMPA_ALERT_MAX_REGIONS; r++)
            tr->region_npix[r] = 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (!ok[i])
                tr->pix_regions[i] = 0;
            for (int r = 0; r < tr->cfg.n_regions; r++)
                tr->region_npix[r] += (tr->pix_regions[i] >> r) & 1u;
        }
        free(plat);
        free(plon);
        free(ok);
        if (rc != 0) {
            free_grid_buffers(tr);
            return rc;
        }
    }
    tr->have_grid = 1;
    return 0;
}

/* Sizes the cell pool and its per-cell scratch to cap cells. 0 or -1. */
static int reserve_cells(impa_alert_tracker_t *tr, int cap)
{
    impa_alert_cell_t *nc = realloc(tr->cells, (size_t)cap * sizeof *nc);
    if (!nc)
        return -1;
    tr->cells = nc;
    int *nov = realloc(tr->ov, (size_t)cap * sizeof(int));
    if (!nov)
        return -1;
    tr->ov = nov;
    int *nor = realloc(tr->order, (size_t)cap * sizeof(int));
    if (!nor)
        return -1;
    tr->order = nor;
    tr->cap_cells = cap;
    return 0;
}

/* Grows the cell pool (doubling, bounded by max_cells). 0 or -1 when full. */
static int grow_cells(impa_alert_tracker_t *tr)
{
    if (tr->n_cells < tr->cap_cells)
        return 0;
    if (tr->cap_cells >= tr->cfg.max_cells)
        return -1;
    int cap = tr->cap_cells ? tr->cap_cells * 2 : 64;
    return reserve_cells(tr, cap > tr->cfg.max_cells ? tr->cfg.max_cells : cap);
}

static int in_cell(const int32_t *lab, int nx, int ny, int c, int r, int32_t L)
{
    return c >= 0 && c < nx && r >= 0 && r < ny && lab[(size_t)r * nx + c] == L;
}

/* Outer boundary of cell L along pixel edges, region kept on the right (clockwise
 * on screen, rows down); at a diagonal-only contact it turns towards the cell, which
 * is what 8-connectivity asks for. Starts at the top-left corner of the raster-first
 * pixel (c0,r0), a vertex the boundary visits exactly once. Stores turning vertices
 * only. Returns their count. */
static size_t trace_outline(impa_alert_tracker_t *tr, const int32_t *lab, int32_t L, int c0, int r0)
{
    static const int ddx[4] = {1, 0, -1, 0}, ddy[4] = {0, 1, 0, -1}; /* E S W N */
    int nx = tr->grid.nx, ny = tr->grid.ny;
    int vx = c0, vy = r0, d = 0;
    size_t m = 0;
    tr->tx[m] = vx, tr->ty[m] = vy, m++;
    for (size_t steps = 0; steps < tr->trace_cap; steps++) {
        int lc, lr, rc, rr;
        switch (d) {
        case 0: rc = vx, rr = vy, lc = vx, lr = vy - 1; break;
        case 1: rc = vx - 1, rr = vy, lc = vx, lr = vy; break;
        case 2: rc = vx - 1, rr = vy - 1, lc = vx - 1, lr = vy; break;
        default: rc = vx, rr = vy - 1, lc = vx - 1, lr = vy - 1; break;
        }
        int nd;
        if (in_cell(lab, nx, ny, lc, lr, L))
            nd = (d + 3) & 3;
        else if (in_cell(lab, nx, ny, rc, rr, L))
            nd = d;
        else
            nd = (d + 1) & 3;
        if (steps > 0 && vx == c0 && vy == r0 && nd == 0)
            break;
        if (nd != d && steps > 0 && m < tr->trace_cap)
            tr->tx[m] = vx, tr->ty[m] = vy, m++;
        d = nd;
        vx += ddx[d];
        vy += ddy[d];
    }
    return m;
}

static double seg_dist(double px, double py, double ax, double ay, double bx, double by)
{
    double vx = bx - ax, vy = by - ay, wx = px - ax, wy = py - ay;
    double l2 = vx * vx + vy * vy;
    double t = l2 > 0 ? (wx * vx + wy * vy) / l2 : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double dx = wx - t * vx, dy = wy - t * vy;
    return sqrt(dx * dx + dy * dy);
}

/* Douglas-Peucker on the closed ring tx/ty[0..m) with tolerance eps (cells):
 * anchors vertex 0 and the vertex farthest from it. Returns vertices kept. */
static size_t simplify(impa_alert_tracker_t *tr, size_t m, double eps)
{
    size_t far = 0;
    double best = -1;
    for (size_t i = 1; i < m; i++) {
        double dx = tr->tx[i] - tr->tx[0], dy = tr->ty[i] - tr->ty[0];
        if (dx * dx + dy * dy > best)
            best = dx * dx + dy * dy, far = i;
    }
    memset(tr->keep, 0, m);
    tr->keep[0] = tr->keep[far] = 1;
    size_t sp = 0;
    /* segment (a, b) with b == m meaning vertex 0 again */
    tr->stack[sp++] = 0, tr->stack[sp++] = (int32_t)far;
    tr->stack[sp++] = (int32_t)far, tr->stack[sp++] = (int32_t)m;
    while (sp > 0) {
        size_t b = (size_t)tr->stack[--sp], a = (size_t)tr->stack[--sp];
        size_t bi = b == m ? 0 : b, imax = 0;
        double dmax = -1;
        for (size_t i = a + 1; i < b; i++) {
            double dd = seg_dist(tr->tx[i], tr->ty[i], tr->tx[a], tr->ty[a], tr->tx[bi], tr->ty[bi]);
            if (dd > dmax)
                dmax = dd, imax = i;
        }
        if (dmax > eps && sp + 4 <= 2 * tr->trace_cap) {
            tr->keep[imax] = 1;
            tr->stack[sp++] = (int32_t)a, tr->stack[sp++] = (int32_t)imax;
            tr->stack[sp++] = (int32_t)imax, tr->stack[sp++] = (int32_t)b;
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < m; i++)
        k += tr->keep[i];
    return k;
}

static void build_outline(impa_alert_tracker_t *tr, impa_alert_cell_t *cell, const int32_t *lab,
                          int32_t L, int c0, int r0)
{
    size_t m = trace_outline(tr, lab, L, c0, r0);
    size_t k = m;
    if (m > 4) {
        double eps = 0.5; /* removes the pixel staircase */
        for (;;) {
            k = simplify(tr, m, eps);
            if (k <= IMPA_ALERT_MAX_OUTLINE && k >= 3)
                break;
            if (k < 3) { /* degenerate: keep everything that fits */
                memset(tr->keep, 1, m);
                k = m;
                break;
            }
            eps *= 1.5;
        }
    } else {
        memset(tr->keep, 1, m);
    }
    int n = 0;
    for (size_t i = 0; i < m && n < IMPA_ALERT_MAX_OUTLINE; i++) {
        if (!tr->keep[i])
            continue;
        cell->ox[n] = tr->tx[i] - 0.5; /* corner -> fractional cell index */
        cell->oy[n] = tr->ty[i] - 0.5;
        n++;
    }
    cell->ox[n] = cell->ox[0];
    cell->oy[n] = cell->oy[0];
    n++;
    cell->n_outline = n;
    cell->has_latlon = tr->has_proj;
    if (!tr->has_proj)
        return;
    double area2 = 0;
    for (int i = 0; i < n; i++) {
        if (impa_grid_latlon(&tr->grid, cell->ox[i], cell->oy[i], &cell->olat[i], &cell->olon[i]) != 0)
            cell->has_latlon = 0;
        if (i > 0)
            area2 += cell->olon[i - 1] * cell->olat[i] - cell->olon[i] * cell->olat[i - 1];
    }
    if (area2 < 0) { /* RFC 7946: exterior rings counterclockwise in lon/lat */
        for (int i = 0, j = n - 1; i < j; i++, j--) {
            double t;
            t = cell->ox[i], cell->ox[i] = cell->ox[j], cell->ox[j] = t;
            t = cell->oy[i], cell->oy[i] = cell->oy[j], cell->oy[j] = t;
            t = cell->olat[i], cell->olat[i] = cell->olat[j], cell->olat[j] = t;
            t = cell->olon[i], cell->olon[i] = cell->olon[j], cell->olon[j] = t;
        }
    }
}

/* Appends n pixel indices to the cycle's pixel list (grows by doubling).
 * Returns their offset, or -1 when out of memory. */
static int64_t append_pixels(impa_alert_tracker_t *tr, const int32_t *src, size_t n)
{
    if (tr->n_pix + n > tr->cap_pix) {
        size_t cap = tr->cap_pix ? tr->cap_pix : 4096;
        while (cap < tr->n_pix + n)
            cap *= 2;
        int32_t *np = realloc(tr->pix, cap * sizeof *np);
        if (!np)
            return -1;
        tr->pix = np, tr->cap_pix = cap;
    }
    int64_t off = (int64_t)tr->n_pix;
    memcpy(tr->pix + tr->n_pix, src, n * sizeof *tr->pix);
    tr->n_pix += n;
    return off;
}

/* Labels one lead into lab; appends kept cells to tr->cells. */
static void extract_lead(impa_alert_tracker_t *tr, const float *dbz, int32_t *lab, int lead,
                         int64_t valid)
{
    int nx = tr->grid.nx, ny = tr->grid.ny;
    size_t n = (size_t)nx * ny;
    float thr = tr->cfg.threshold_dbz;
    /* neighbourhood radius in cells: 1 = 8-connected; cluster_km joins the pixels
     * within that distance (a storm's fragments are one cell) */
    int R = 1;
    if (tr->cfg.cluster_km > 0) {
        double rc = tr->cfg.cluster_km / tr->cell_km;
        R = rc > 1 ? (int)floor(rc) : 1;
        if (R > 64)
            R = 64;
    }
    int R2 = (int)floor((tr->cfg.cluster_km / tr->cell_km) * (tr->cfg.cluster_km / tr->cell_km));
    memset(lab, 0, n * sizeof *lab);
    for (size_t p0 = 0; p0 < n; p0++) {
        if (lab[p0] != 0 || !(dbz[p0] >= thr))
            continue;
        size_t head = 0, tail = 0;
        tr->queue[tail++] = (int32_t)p0;
        lab[p0] = -2; /* in progress */
        double sum = 0, sc = 0, sr = 0, mx = -INFINITY;
        int c0 = nx, r0 = ny, c1 = -1, r1 = -1;
        uint32_t regions = 0;
        while (head < tail) {
            int32_t p = tr->queue[head++];
            int r = p / nx, c = p % nx;
            float v = dbz[p];
            sum += v, sc += c, sr += r;
            if (v > mx)
                mx = v;
            if (c < c0) c0 = c;
            if (c > c1) c1 = c;
            if (r < r0) r0 = r;
            if (r > r1) r1 = r;
            if (tr->pix_regions)
                regions |= tr->pix_regions[p];
            for (int dr = -R; dr <= R; dr++)
                for (int dc = -R; dc <= R; dc++) {
                    int rr = r + dr, cc = c + dc;
                    if (rr < 0 || rr >= ny || cc < 0 || cc >= nx ||
                        (R > 1 && dr * dr + dc * dc > R2))
                        continue;
                    size_t q = (size_t)rr * nx + cc;
                    if (lab[q] == 0 && dbz[q] >= thr) {
                        lab[q] = -2;
                        tr->queue[tail++] = (int32_t)q;
                    }
                }
        }
        double area = (double)tail * tr->cell_km2;
        int32_t L = -1;
        if (area >= tr->cfg.min_area_km2) {
            if (grow_cells(tr) == 0)
                L = tr->n_cells + 1;
            else
                tr->truncated++;
        }
        for (size_t i = 0; i < tail; i++)
            lab[tr->queue[i]] = L;
        if (L < 0)
            continue;
        int64_t off = append_pixels(tr, tr->queue, tail);
        if (off < 0) {
            tr->truncated++;
            for (size_t i = 0; i < tail; i++)
                lab[tr->queue[i]] = -1;
            continue;
        }
        impa_alert_cell_t *cell = &tr->cells[tr->n_cells++];
        memset(cell, 0, sizeof *cell);
        cell->pix_off = off;
        cell->lead = lead;
        cell->valid_time = valid;
        cell->n_pixels = (int)tail;
        cell->area_km2 = area;
        cell->max_dbz = mx;
        cell->mean_dbz = sum / (double)tail;
        cell->cx = sc / (double)tail;
        cell->cy = sr / (double)tail;
        cell->col0 = c0, cell->row0 = r0, cell->col1 = c1, cell->row1 = r1;
        cell->regions = regions;
        if (tr->has_proj && impa_grid_latlon(&tr->grid, cell->cx, cell->cy, &cell->lat, &cell->lon) == 0)
            cell->has_latlon = 1;
        build_outline(tr, cell, lab, L, tr->queue[0] % nx, tr->queue[0] / nx);
    }
}

static double cell_dist_km(const impa_alert_tracker_t *tr, const impa_alert_cell_t *a,
                           const impa_alert_cell_t *b)
{
    return hypot(a->cx - b->cx, a->cy - b->cy) * tr->cell_km;
}

static int id_used(const impa_alert_tracker_t *tr, int from, int to, int64_t id)
{
    for (int i = from; i < to; i++)
        if (tr->cells[i].id == id)
            return 1;
    return 0;
}

/* Larger cells first; equal sizes in cell order (the order a stable sort keeps). */
static int before(const impa_alert_cell_t *cells, int a, int b)
{
    int na = cells[a].n_pixels, nb = cells[b].n_pixels;
    return na > nb || (na == nb && a < b);
}

static void sift_down(int *o, int n, int i, const impa_alert_cell_t *cells)
{
    for (;;) {
        int m = i, l = 2 * i + 1, r = l + 1;
        if (l < n && before(cells, o[m], o[l]))
            m = l;
        if (r < n && before(cells, o[m], o[r]))
            m = r;
        if (m == i)
            return;
        int t = o[i];
        o[i] = o[m], o[m] = t, i = m;
    }
}

/* Heap sort of o[0..n) by `before`: in place, because qsort may allocate (glibc
 * sorts through a malloc'ed buffer above 1 KiB) and an update allocates nothing.
 * The order is total, so the result is the one a stable sort by size gives. */
static void sort_by_size(int *o, int n, const impa_alert_cell_t *cells)
{
    for (int i = n / 2 - 1; i >= 0; i--)
        sift_down(o, n, i, cells);
    for (int e = n - 1; e > 0; e--) {
        int t = o[0];
        o[0] = o[e], o[e] = t;
        sift_down(o, e, 0, cells);
    }
}

/* Paints into tr->plab (prev index + 1) the previous cycle's cells valid at
 * `valid` (that cycle's forecast of them for this time, i.e. their outline
 * advected by that forecast) and, for tracks whose forecast there ended one step
 * earlier, their last cell moved on by the track's motion over its last step
 * (none when it had one cell): the advected outline a new cell must overlap to
 * continue the track. Cells at the exact time win where they meet. */
static void paint_prev(impa_alert_tracker_t *tr, int64_t valid)
{
    int nx = tr->grid.nx, ny = tr->grid.ny;
    int64_t step = (int64_t)tr->step_minutes * 60, half = step / 2;
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < tr->n_prev; k++) {
            const impa_alert_cell_t *pc = &tr->prev[k];
            if (pc->pix_off < 0)
                continue;
            int64_t dt = valid - pc->valid_time;
            int dr = 0, dc = 0;
            if (pass == 0) {
                if (dt < -half || dt > half)
                    continue;
            } else {
                if (dt <= half || dt > step + half)
                    continue;
                int later = 0, before = -1;
                for (int j = 0; j < tr->n_prev && !later; j++) {
                    const impa_alert_cell_t *q = &tr->prev[j];
                    if (q->id != pc->id)
                        continue;
                    later = q->valid_time > pc->valid_time + half;
                    if (llabs(q->valid_time + step - pc->valid_time) <= half)
                        before = j;
                }
                if (later)
                    continue;
                if (before >= 0) {
                    dc = (int)lround(pc->cx - tr->prev[before].cx);
                    dr = (int)lround(pc->cy - tr->prev[before].cy);
                }
            }
            for (int i = 0; i < pc->n_pixels; i++) {
                int32_t p = tr->pix_prev[pc->pix_off + i];
                int r = p / nx + dr, c = p % nx + dc;
                if (r < 0 || r >= ny || c < 0 || c >= nx)
                    continue;
                size_t q = (size_t)r * nx + c;
                if (tr->plab[q] == 0) {
                    tr->plab[q] = k + 1;
                    tr->painted[tr->n_painted++] = (int32_t)q;
                }
            }
        }
}

static void clear_prev(impa_alert_tracker_t *tr)
{
    for (size_t i = 0; i < tr->n_painted; i++)
        tr->plab[tr->painted[i]] = 0;
    tr->n_painted = 0;
}

/* The previous cycle's cell a new cell (label L in lab, not continued from the
 * previous lead) continues: the one its pixels overlap most in tr->plab, else
 * (no overlap, or cells restored without pixels) the nearest centroid valid at the
 * same time within match_km. Ids continued already in this cycle are not taken
 * (matches stay one-to-one). Returns a prev index or -1. */
static int match_prev(impa_alert_tracker_t *tr, const impa_alert_cell_t *c, int32_t L,
                      const int32_t *lab, int s, int e, int64_t valid)
{
    int nx = tr->grid.nx;
    for (int k = 0; k < tr->n_prev; k++)
        tr->ovp[k] = 0;
    for (int r = c->row0; r <= c->row1; r++)
        for (int x = c->col0; x <= c->col1; x++) {
            size_t p = (size_t)r * nx + x;
            if (lab[p] == L && tr->plab[p] > 0)
                tr->ovp[tr->plab[p] - 1]++;
        }
    int best = -1, bo = 0;
    for (int k = 0; k < tr->n_prev; k++)
        if (tr->ovp[k] > bo && !id_used(tr, s, e, tr->prev[k].id) &&
            !id_used(tr, 0, s, tr->prev[k].id))
            bo = tr->ovp[k], best = k;
    if (best >= 0)
        return best;
    double bd = tr->cfg.match_km, half_step = tr->step_minutes * 30.0;
    for (int k = 0; k < tr->n_prev; k++) {
        const impa_alert_cell_t *pc = &tr->prev[k];
        if (fabs((double)(pc->valid_time - valid)) > half_step)
            continue;
        double d = cell_dist_km(tr, c, pc);
        if (d <= bd && !id_used(tr, s, e, pc->id) && !id_used(tr, 0, s, pc->id))
            bd = d, best = k;
    }
    return best;
}

/* Gives ids to the cells [s, e) of one lead: overlap with the previous lead's cells
 * [ps, pe) (labels in plab), else nearest previous-lead centroid, else the previous
 * cycle's track whose advected outline it overlaps (match_prev), else a new id.
 * Larger cells choose first, so after a split the biggest part keeps the id and
 * the others become new tracks; after a merge the cell continues the track it
 * overlaps most and the other track is not continued (held, then ended). A cell
 * inherits the track's first issue time and prior status; the life cycle is
 * decided once all leads are labelled (life_cycle). */
static void assign_ids(impa_alert_tracker_t *tr, int s, int e, int ps, int pe,
                       const int32_t *lab, const int32_t *plab, int64_t valid)
{
    int nx = tr->grid.nx;
    int nn = e - s;
    for (int i = 0; i < nn; i++)
        tr->order[i] = s + i;
    if (nn > 1)
        sort_by_size(tr->order, nn, tr->cells);
    for (int oi = 0; oi < nn; oi++) {
        impa_alert_cell_t *c = &tr->cells[tr->order[oi]];
        int32_t L = tr->order[oi] + 1;
        int best = -1;
        if (plab && pe > ps) {
            for (int k = 0; k < pe - ps; k++)
                tr->ov[k] = 0;
            for (int r = c->row0; r <= c->row1; r++)
                for (int x = c->col0; x <= c->col1; x++) {
                    size_t p = (size_t)r * nx + x;
                    if (lab[p] == L && plab[p] > 0)
                        tr->ov[plab[p] - 1 - ps]++;
                }
            int bo = 0;
            for (int k = 0; k < pe - ps; k++)
                if (tr->ov[k] > bo && !id_used(tr, s, e, tr->cells[ps + k].id))
                    bo = tr->ov[k], best = ps + k;
            if (best < 0) {
                double bd = tr->cfg.match_km;
                for (int k = ps; k < pe; k++) {
                    double d = cell_dist_km(tr, c, &tr->cells[k]);
                    if (d <= bd && !id_used(tr, s, e, tr->cells[k].id))
                        bd = d, best = k;
                }
            }
        }
        if (best >= 0) {
            c->id = tr->cells[best].id;
            c->event = tr->cells[best].event;
            c->first_issue = tr->cells[best].first_issue;
            c->status = tr->cells[best].status;
            continue;
        }
        int pb = tr->prev_valid ? match_prev(tr, c, L, lab, s, e, valid) : -1;
        if (pb >= 0) {
            c->id = tr->prev[pb].id;
            c->event = IMPA_ALERT_UPDATED;
            c->first_issue = tr->prev[pb].first_issue;
            c->status = tr->prev[pb].status;
            continue;
        }
        c->id = tr->next_id++;
        c->event = IMPA_ALERT_NEW;
        c->first_issue = tr->issue;
        c->status = IMPA_ALERT_CANDIDATE;
    }
}

/* The life cycle of every track found in this cycle (cells[0..n_cells)): alerted
 * when it was alerted (or held) before, or the persistence rule confirms it now
 * (impa_alert_config_t); event updated when it was alerted before, new
 * otherwise. Candidates are kept for the next cycle but not published. */
static void life_cycle(impa_alert_tracker_t *tr)
{
    const impa_alert_config_t *k = &tr->cfg;
    for (int i = 0; i < tr->n_cells; i++) {
        impa_alert_cell_t *c = &tr->cells[i];
        if (id_used(tr, 0, i, c->id))
            continue;
        int was = c->status != IMPA_ALERT_CANDIDATE, n = 0;
        double amax = 0, dmax = -INFINITY;
        for (int j = i; j < tr->n_cells; j++)
            if (tr->cells[j].id == c->id) {
                n++;
                if (tr->cells[j].area_km2 > amax)
                    amax = tr->cells[j].area_km2;
                if (tr->cells[j].max_dbz > dmax)
                    dmax = tr->cells[j].max_dbz;
            }
        int confirm = was || (k->confirm_minutes > 0 && n * tr->step_minutes >= k->confirm_minutes) ||
                      tr->issue - c->first_issue >= (int64_t)k->confirm_age_minutes * 60 ||
                      (k->confirm_area_km2 > 0 && amax >= k->confirm_area_km2) ||
                      (k->confirm_dbz > 0 && dmax >= k->confirm_dbz);
        impa_alert_status_t st = confirm ? IMPA_ALERT_ALERTED : IMPA_ALERT_CANDIDATE;
        impa_alert_event_t ev = was ? IMPA_ALERT_UPDATED : IMPA_ALERT_NEW;
        for (int j = i; j < tr->n_cells; j++)
            if (tr->cells[j].id == c->id) {
                tr->cells[j].status = st;
                tr->cells[j].event = ev;
                tr->cells[j].last_seen = tr->issue;
            }
    }
}

/* Alerted (or held) tracks of the previous cycle not forecast now are held
 * while they have been missing for at most cancel_after_minutes: their cells
 * still valid after this issue time are copied (status held) so that the next
 * cycle can match them and they end later. Appended after this cycle's cells. */
static void hold_missing(impa_alert_tracker_t *tr)
{
    tr->first_held = tr->n_cells;
    if (!tr->prev_valid || tr->cfg.cancel_after_minutes <= 0)
        return;
    int64_t limit = (int64_t)tr->cfg.cancel_after_minutes * 60;
    for (int k = 0; k < tr->n_prev; k++) {
        const impa_alert_cell_t *pc = &tr->prev[k];
        if (pc->status == IMPA_ALERT_CANDIDATE || id_used(tr, 0, tr->n_cells, pc->id) ||
            tr->issue - pc->last_seen > limit)
            continue;
        for (int j = k; j < tr->n_prev; j++) {
            const impa_alert_cell_t *q = &tr->prev[j];
            if (q->id != pc->id || q->valid_time <= tr->issue)
                continue;
            if (grow_cells(tr) != 0) {
                tr->truncated++;
                continue;
            }
            impa_alert_cell_t *h = &tr->cells[tr->n_cells];
            *h = *q;
            if (q->pix_off >= 0) {
                h->pix_off = append_pixels(tr, tr->pix_prev + q->pix_off, (size_t)q->n_pixels);
                if (h->pix_off < 0) {
                    tr->truncated++;
                    continue;
                }
            }
            h->status = IMPA_ALERT_HELD;
            h->event = IMPA_ALERT_UPDATED;
            tr->n_cells++;
        }
    }
}

/* A track that reappears at lead k after an earlier lead of this cycle must not
 * steal a previous-cycle id already continued by another track: the
 * !id_used(0, s) test above keeps cross-cycle matches one-to-one. */

static int grow_ended(impa_alert_tracker_t *tr)
{
    if (tr->n_ended < tr->cap_ended)
        return 0;
    if (tr->cap_ended >= tr->cfg.max_cells)
        return -1;
    int cap = tr->cap_ended ? tr->cap_ended * 2 : 16;
    if (cap > tr->cfg.max_cells)
        cap = tr->cfg.max_cells;
    impa_alert_cell_t *ne = realloc(tr->ended, (size_t)cap * sizeof *ne);
    if (!ne)
        return -1;
    tr->ended = ne;
    tr->cap_ended = cap;
    return 0;
}

static void find_ended(impa_alert_tracker_t *tr)
{
    int64_t first_valid = tr->issue + (int64_t)tr->step_minutes * 60;
    tr->n_ended = 0;
    if (!tr->prev_valid)
        return;
    for (int k = 0; k < tr->n_prev; k++) {
        int64_t id = tr->prev[k].id;
        /* continued or held now; candidates were never alerted: nothing to cancel */
        if (tr->prev[k].status == IMPA_ALERT_CANDIDATE || id_used(tr, 0, tr->n_cells, id))
            continue;
        int dup = 0;
        for (int e = 0; e < tr->n_ended && !dup; e++)
            dup = tr->ended[e].id == id;
        if (dup)
            continue;
        /* Representative: earliest cell valid at/after the new first lead, else the last. */
        int rep = -1;
        for (int j = k; j < tr->n_prev; j++) {
            if (tr->prev[j].id != id)
                continue;
            if (tr->prev[j].valid_time >= first_valid) {
                if (rep < 0 || tr->prev[rep].valid_time < first_valid ||
                    tr->prev[j].valid_time < tr->prev[rep].valid_time)
                    rep = j;
            } else if (rep < 0 || (tr->prev[rep].valid_time < first_valid &&
                                   tr->prev[j].valid_time > tr->prev[rep].valid_time)) {
                rep = j;
            }
        }
        if (grow_ended(tr) != 0) {
            tr->truncated++;
            continue;
        }
        tr->ended[tr->n_ended] = tr->prev[rep];
        tr->ended[tr->n_ended].event = IMPA_ALERT_ENDED;
        tr->n_ended++;
    }
}

/* The product of the last update; counts per track (a track has one cell per lead
 * it is forecast at, all with the same event). */
/* The watch regions' maximum probability per lead and their probability
 * alerts (impa_alerts_t.region_prob, .region_alerts), from fc->prob at the
 * alert threshold. Without it (or without regions) the view has none, and a
 * region alert raised in the last update ends. Allocates only when the number
 * of leads grows. */
static int region_probabilities(impa_alert_tracker_t *tr, const impa_forecast_t *fc, char *err,
                                size_t errlen)
{
    impa_alerts_t *v = &tr->view;
    int nr = tr->cfg.n_regions, nl = fc->n_leads;
    const impa_prob_field_t *pf = fc->prob;
    int ti = impa_prob_threshold_index(pf, tr->cfg.threshold_dbz);
    int have = nr > 0 && ti >= 0 && tr->pix_regions && pf->n_leads == nl &&
               pf->nx == fc->grid->nx && pf->ny == fc->grid->ny;
    v->n_region_leads = 0;
    v->region_prob = NULL;
    v->region_alerts = nr > 0 ? tr->ralert : NULL;
    if (have && nl > tr->cap_region_leads) {
        double *np = realloc(tr->region_prob, (size_t)nr * (size_t)nl * sizeof *np);
        if (!np)
            return impa_err(err, errlen, IMPA_ENOMEM, "alert tracker: out of memory");
        tr->region_prob = np, tr->cap_region_leads = nl;
    }
    if (have) {
        size_t plane = (size_t)fc->grid->nx * fc->grid->ny;
        for (int r = 0; r < nr; r++)
            for (int k = 0; k < nl; k++)
                tr->region_prob[r * nl + k] = tr->region_npix[r] > 0 ? 0.0 : -1.0;
        for (int k = 0; k < nl; k++) {
            const float *q = pf->p + ((size_t)ti * nl + k) * plane;
            for (size_t i = 0; i < plane; i++) {
                uint32_t m = tr->pix_regions[i];
                float pv = q[i];
                if (!m || !(pv > 0.0f)) /* also skips NAN */
                    continue;
                for (int r = 0; r < nr; r++)
                    if ((m >> r) & 1u && pv > tr->region_prob[r * nl + k])
                        tr->region_prob[r * nl + k] = pv;
            }
        }
        v->n_region_leads = nl;
        v->region_prob = tr->region_prob;
    }
    for (int r = 0; r < nr; r++) {
        const impa_watch_region_t *reg = &tr->cfg.regions[r];
        impa_region_alert_t *a = &tr->ralert[r];
        int was = tr->ralert_on[r], on = 0;
        a->probability = -1, a->first_lead = -1;
        if (have && reg->alert_probability > 0) {
            a->probability = 0;
            for (int k = 0; k < nl && (k + 1) * fc->step_minutes <= reg->alert_within_minutes;
                 k++) {
                double pv = tr->region_prob[r * nl + k];
                if (pv > a->probability)
                    a->probability = pv;
                if (a->first_lead < 0 && pv >= reg->alert_probability)
                    a->first_lead = k;
            }
            on = a->first_lead >= 0;
        }
        a->event = on ? (was ? IMPA_ALERT_UPDATED : IMPA_ALERT_NEW) : was ? IMPA_ALERT_ENDED : -1;
        if (on && !was)
            a->since = fc->issue_time;
        else if (!on)
            a->since = 0;
        tr->ralert_on[r] = on;
    }
    return 0;
}

static void fill_view(impa_alert_tracker_t *tr)
{
    impa_alerts_t *v = &tr->view;
    tr->n_pub = 0;
    v->n_candidates = v->n_held_tracks = 0;
    for (int i = 0; i < tr->n_cells; i++) {
        const impa_alert_cell_t *c = &tr->cells[i];
        if (c->status == IMPA_ALERT_ALERTED && i < tr->first_held)
            tr->pub[tr->n_pub++] = *c;
        else if (!id_used(tr, 0, i, c->id)) {
            v->n_candidates += c->status == IMPA_ALERT_CANDIDATE;
            v->n_held_tracks += c->status == IMPA_ALERT_HELD;
        }
    }
    v->n_cells = tr->n_pub;
    v->cells = tr->pub;
    v->n_held = tr->n_cells - tr->first_held;
    v->held = tr->cells + tr->first_held;
    v->n_ended = tr->n_ended;
    v->ended = tr->ended;
    v->truncated = tr->truncated;
    v->prev_issue_time = tr->prev_issue;
    v->lonlat = tr->has_proj;
    v->pixels = tr->pix;
    v->ended_pixels = tr->pix_prev;
    v->n_tracks = v->n_new = v->n_updated = 0;
    for (int i = 0; i < tr->n_pub; i++) {
        const impa_alert_cell_t *c = &tr->pub[i];
        int dup = 0;
        for (int j = 0; j < i && !dup; j++)
            dup = tr->pub[j].id == c->id;
        if (dup)
            continue;
        v->n_tracks++;
        v->n_new += c->event == IMPA_ALERT_NEW;
        v->n_updated += c->event == IMPA_ALERT_UPDATED;
    }
}

int impa_alert_tracker_update(impa_alert_tracker_t *tr, const impa_forecast_t *fc, char *err,
                              size_t errlen)
{
    if (!tr || !fc || !fc->grid || !fc->dbz || fc->n_leads < 0 || fc->grid->nx <= 0 ||
        fc->grid->ny <= 0)
        return impa_err(err, errlen, IMPA_EINVAL, "alert tracker: bad forecast argument");
    int rc = setup_grid(tr, fc->grid, err, errlen);
    if (rc)
        return rc;
    if (tr->restored) {
        /* Tracks whose forecast ran out before this cycle are not continued: they
         * would only end, i.e. cancel alerts that have expired already. */
        int64_t last = INT64_MIN;
        for (int i = 0; i < tr->n_cells; i++)
            if (tr->cells[i].valid_time > last)
                last = tr->cells[i].valid_time;
        if (last <= fc->issue_time)
            tr->prev_valid = 0;
        tr->restored = 0;
    }
    /* Last cycle's cells become prev (pools swapped, nothing allocated). */
    impa_alert_cell_t *tc = tr->prev;
    int tcap = tr->cap_prev;
    tr->prev = tr->cells, tr->cap_prev = tr->cap_cells, tr->n_prev = tr->n_cells;
    tr->cells = tc, tr->cap_cells = tcap, tr->n_cells = 0;
    int32_t *tp = tr->pix_prev;
    size_t tpc = tr->cap_pix_prev;
    tr->pix_prev = tr->pix, tr->cap_pix_prev = tr->cap_pix;
    tr->pix = tp, tr->cap_pix = tpc, tr->n_pix = 0;
    if (tr->cap_cells < tr->cap_prev) { /* keep ov/order sized for the larger pool */
        impa_alert_cell_t *nc = realloc(tr->cells, (size_t)tr->cap_prev * sizeof *nc);
        if (nc)
            tr->cells = nc, tr->cap_cells = tr->cap_prev;
    }
    tr->prev_issue = tr->issue;
    tr->issue = fc->issue_time;
    tr->step_minutes = fc->step_minutes;
    if (tr->n_prev > tr->cap_ovp) {
        int *no = realloc(tr->ovp, (size_t)tr->cap_prev * sizeof *no);
        if (!no)
            return impa_err(err, errlen, IMPA_ENOMEM, "alert tracker: out of memory");
        tr->ovp = no, tr->cap_ovp = tr->cap_prev;
    }

    size_t n = (size_t)fc->grid->nx * fc->grid->ny;
    int ps = 0, pe = 0;
    for (int k = 0; k < fc->n_leads; k++) {
        int32_t *lab = tr->label[k & 1], *plab = k > 0 ? tr->label[(k - 1) & 1] : NULL;
        int64_t valid = fc->issue_time + (int64_t)(k + 1) * fc->step_minutes * 60;
        int s = tr->n_cells;
        extract_lead(tr, fc->dbz + (size_t)k * n, lab, k, valid);
        if (tr->prev_valid)
            paint_prev(tr, valid);
        assign_ids(tr, s, tr->n_cells, ps, pe, lab, plab, valid);
        clear_prev(tr);
        ps = s, pe = tr->n_cells;
    }
    life_cycle(tr);
    hold_missing(tr);
    if (tr->cap_pub < tr->cap_cells) {
        impa_alert_cell_t *np = realloc(tr->pub, (size_t)tr->cap_cells * sizeof *np);
        if (!np)
            return impa_err(err, errlen, IMPA_ENOMEM, "alert tracker: out of memory");
        tr->pub = np, tr->cap_pub = tr->cap_cells;
    }
    /* Track-wide first valid time per watch region. */
    for (int i = 0; i < tr->n_cells; i++) {
        impa_alert_cell_t *c = &tr->cells[i];
        for (int r = 0; r < tr->cfg.n_regions; r++) {
            c->region_first[r] = 0;
            for (int j = 0; j < tr->n_cells; j++)
                if (tr->cells[j].id == c->id && (tr->cells[j].regions & (1u << r)) &&
                    (c->region_first[r] == 0 || tr->cells[j].valid_time < c->region_first[r]))
                    c->region_first[r] = tr->cells[j].valid_time;
        }
    }
    find_ended(tr);
    tr->prev_valid = 1;
    fill_view(tr);
    return region_probabilities(tr, fc, err, errlen);
}

/* ---- state across restarts ------------------------------------------------
 * Layout (host byte order, read back by the same build only): the sizes of
 * impa_alert_cell_t and impa_grid_t (a build with other layouts refuses the
 * state), the grid, issue time, step, next id, number of cells, the cells,
 * then which watch region probability alerts were raised (by region index:
 * raised before the restart, the next cycle updates or ends it rather than
 * raising it again). */
typedef struct {
    uint32_t cell_size, grid_size;
    int32_t step_minutes, n_cells;
    int64_t issue, next_id;
    int32_t n_regions, reserved;
} state_head_t;

#define STATE_REGIONS_BYTES (IMPA_ALERT_MAX_REGIONS * sizeof(int32_t))

size_t impa_alert_tracker_state_size(const impa_alert_tracker_t *tr)
{
    return tr ? sizeof(state_head_t) + sizeof(impa_grid_t) +
                    (size_t)tr->n_cells * sizeof(impa_alert_cell_t) + STATE_REGIONS_BYTES
              : 0;
}

size_t impa_alert_tracker_state_write(const impa_alert_tracker_t *tr, unsigned char *buf,
                                      size_t len)
{
    size_t need = impa_alert_tracker_state_size(tr);
    if (!tr || !buf || len < need)
        return 0;
    state_head_t h = {sizeof(impa_alert_cell_t), sizeof(impa_grid_t), tr->step_minutes,
                      tr->n_cells, tr->issue, tr->next_id, IMPA_ALERT_MAX_REGIONS, 0};
    memcpy(buf, &h, sizeof h);
    memcpy(buf + sizeof h, &tr->grid, sizeof tr->grid);
    size_t cells = (size_t)tr->n_cells * sizeof(impa_alert_cell_t);
    if (tr->n_cells)
        memcpy(buf + sizeof h + sizeof tr->grid, tr->cells, cells);
    int32_t on[IMPA_ALERT_MAX_REGIONS];
    for (int r = 0; r < IMPA_ALERT_MAX_REGIONS; r++)
        on[r] = tr->ralert_on[r];
    memcpy(buf + sizeof h + sizeof tr->grid + cells, on, sizeof on);
    return need;
}

int impa_alert_tracker_state_read(impa_alert_tracker_t *tr, const unsigned char *buf, size_t len,
                                  char *err, size_t errlen)
{
    if (!tr || !buf)
        return impa_err(err, errlen, IMPA_EINVAL, "alert state: NULL argument");
    if (tr->have_grid || tr->n_cells || tr->issue)
        return impa_err(err, errlen, IMPA_ESTATE,
                        "alert state: the tracker has run already; restore before the first update");
    state_head_t h;
    if (len < sizeof h + sizeof(impa_grid_t))
        return impa_err(err, errlen, IMPA_EFORMAT, "alert state: %zu bytes, too short", len);
    memcpy(&h, buf, sizeof h);
    if (h.cell_size != sizeof(impa_alert_cell_t) || h.grid_size != sizeof(impa_grid_t))
        return impa_err(err, errlen, IMPA_EFORMAT,
                        "alert state: written by a build with other cell/grid layouts "
                        "(%u/%u bytes, this build %zu/%zu)",
                        h.cell_size, h.grid_size, sizeof(impa_alert_cell_t), sizeof(impa_grid_t));
    if (h.n_cells < 0 || h.n_cells > tr->cfg.max_cells || h.next_id < 1 ||
        h.n_regions != IMPA_ALERT_MAX_REGIONS ||
        len != sizeof h + sizeof(impa_grid_t) + (size_t)h.n_cells * sizeof(impa_alert_cell_t) +
                   STATE_REGIONS_BYTES)
        return impa_err(err, errlen, IMPA_EFORMAT,
                        "alert state: %d cells (max %d), next id %lld, %d regions, %zu bytes: "
                        "inconsistent",
                        h.n_cells, tr->cfg.max_cells, (long long)h.next_id, h.n_regions, len);
    const impa_alert_cell_t *src =
        (const impa_alert_cell_t *)(const void *)(buf + sizeof h + sizeof(impa_grid_t));
    for (int i = 0; i < h.n_cells; i++)
        if (src[i].id < 1 || src[i].id >= h.next_id || src[i].lead < 0 ||
            src[i].n_outline < 0 || src[i].n_outline > IMPA_ALERT_MAX_OUTLINE + 1)
            return impa_err(err, errlen, IMPA_EFORMAT,
                            "alert state: cell %d has id %lld, lead %d, %d outline vertices", i,
                            (long long)src[i].id, src[i].lead, src[i].n_outline);
    if (h.n_cells > tr->cap_cells && reserve_cells(tr, h.n_cells))
        return impa_err(err, errlen, IMPA_ENOMEM, "alert state: out of memory");
    memcpy(&tr->grid, buf + sizeof h, sizeof tr->grid);
    if (h.n_cells)
        memcpy(tr->cells, src, (size_t)h.n_cells * sizeof *src);
    for (int i = 0; i < h.n_cells; i++)
        tr->cells[i].pix_off = -1; /* pixel lists are not saved: outlines stand in */
    tr->n_cells = h.n_cells;
    tr->issue = h.issue;
    tr->step_minutes = h.step_minutes;
    tr->next_id = h.next_id;
    int32_t on[IMPA_ALERT_MAX_REGIONS];
    memcpy(on, buf + sizeof h + sizeof(impa_grid_t) + (size_t)h.n_cells * sizeof *src, sizeof on);
    for (int r = 0; r < IMPA_ALERT_MAX_REGIONS; r++)
        tr->ralert_on[r] = on[r] != 0;
    tr->restored = 1;
    return 0;
}

const impa_alerts_t *impa_alert_tracker_alerts(const impa_alert_tracker_t *tr)
{
    return tr ? &tr->view : NULL;
}

const impa_alert_config_t *impa_alert_tracker_config(const impa_alert_tracker_t *tr)
{
    return tr ? &tr->cfg : NULL;
}

int impa_alert_tracker_n_cells(const impa_alert_tracker_t *tr) { return tr ? tr->n_pub : 0; }
int impa_alert_tracker_n_ended(const impa_alert_tracker_t *tr) { return tr ? tr->n_ended : 0; }
uint64_t impa_alert_tracker_truncated(const impa_alert_tracker_t *tr) { return tr ? tr->truncated : 0; }

const impa_alert_cell_t *impa_alert_tracker_cell(const impa_alert_tracker_t *tr, int i)
{
    return tr && i >= 0 && i < tr->n_pub ? &tr->pub[i] : NULL;
}

const impa_alert_cell_t *impa_alert_tracker_ended(const impa_alert_tracker_t *tr, int i)
{
    return tr && i >= 0 && i < tr->n_ended ? &tr->ended[i] : NULL;
}
