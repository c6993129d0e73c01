/* Crop + block average of a scan onto the model grid (contract in domain.h).
 *
 * Averaging is done on linear reflectivity Z = 10^(dBZ/10) because the model and
 * the alerts care about rain intensity; averaging dBZ would turn one 50 dBZ cell
 * in a dry block into a moderate shower everywhere. Dry cells (IMPA_DBZ_NO_ECHO)
 * count as Z = 0 so that a block that is mostly dry stays mostly dry; an all-dry
 * block gives IMPA_DBZ_NO_ECHO. */
#include "impa/domain.h"

#include <math.h>
#include <string.h>

#include "impa/reader.h"

int impa_domain_grid(const impa_domain_t *dom, const impa_grid_t *in, impa_grid_t *out,
                     char *err, size_t errlen)
{
    if (!dom || !in || !out)
        return impa_err(err, errlen, IMPA_EINVAL, "domain: NULL argument");
    int block = dom->block, stride = dom->stride > 0 ? dom->stride : 1;
    if (block < 1)
        return impa_err(err, errlen, IMPA_EINVAL, "domain: block factor %d < 1", block);
    if (dom->x_offset < 0 || dom->y_offset < 0 || dom->nx < 0 || dom->ny < 0)
        return impa_err(err, errlen, IMPA_EINVAL, "domain: negative offset or size (%d,%d %dx%d)",
                        dom->x_offset, dom->y_offset, dom->nx, dom->ny);
    int cnx = dom->nx ? dom->nx : in->nx - dom->x_offset;
    int cny = dom->ny ? dom->ny : in->ny - dom->y_offset;
    if (cnx <= 0 || cny <= 0 || dom->x_offset + cnx > in->nx || dom->y_offset + cny > in->ny)
        return impa_err(err, errlen, IMPA_EINVAL,
                        "domain: crop x %d+%d, y %d+%d leaves the %dx%d input grid",
                        dom->x_offset, cnx, dom->y_offset, cny, in->nx, in->ny);
    int onx = cnx / block, ony = cny / block;
    onx -= onx % stride;
    ony -= ony % stride;
    if (onx < stride || ony < stride || onx <= 0 || ony <= 0)
        return impa_err(err, errlen, IMPA_EINVAL,
                        "domain: crop %dx%d / block %d is smaller than one stride (%d)", cnx, cny,
                        block, stride);
    *out = *in;
    out->nx = onx;
    out->ny = ony;
    /* New cell centres: centre of each block of input cell centres. */
    out->x0 = in->x0 + (dom->x_offset + 0.5 * (block - 1)) * in->dx;
    out->y0 = in->y0 + (dom->y_offset + 0.5 * (block - 1)) * in->dy;
    out->dx = in->dx * block;
    out->dy = in->dy * block;
    return IMPA_OK;
}

int impa_domain_apply(const impa_domain_t *dom, const impa_scan_t *in, impa_scan_t *out,
                      char *err, size_t errlen)
{
    if (!in || !out || !in->dbz)
        return impa_err(err, errlen, IMPA_EINVAL, "domain: NULL scan");
    impa_grid_t g;
    int rc = impa_domain_grid(dom, &in->grid, &g, err, errlen);
    if (rc)
        return rc;
    rc = impa_scan_init(out, &g);
    if (rc)
        return impa_err(err, errlen, rc, "domain: cannot allocate %dx%d scan", g.nx, g.ny);
    out->time = in->time;
    memcpy(out->path, in->path, sizeof out->path);
    memcpy(out->variable, in->variable, sizeof out->variable);
    memcpy(out->quantity, in->quantity, sizeof out->quantity);
    const int b = dom->block, inx = in->grid.nx;
    const int nb = b * b;
    for (int r = 0; r < g.ny; r++) {
        for (int c = 0; c < g.nx; c++) {
            double zsum = 0;
            int valid = 0, wet = 0;
            for (int i = 0; i < b; i++) {
                const float *src = in->dbz + (size_t)(dom->y_offset + r * b + i) * inx +
                                   dom->x_offset + c * b;
                for (int j = 0; j < b; j++) {
                    float v = src[j];
                    if (isnan(v))
                        continue;
                    valid++;
                    if (v > IMPA_DBZ_NO_ECHO) {
                        zsum += pow(10.0, v / 10.0);
                        wet++;
                    }
                }
            }
            float o;
            if (2 * valid < nb) /* more than half missing (exactly half: kept) */
                o = NAN;
            else if (wet == 0)
                o = IMPA_DBZ_NO_ECHO;
            else {
                double z = zsum / valid;
                o = (float)(10.0 * log10(z));
                if (o < IMPA_DBZ_NO_ECHO)
                    o = IMPA_DBZ_NO_ECHO;
            }
            out->dbz[(size_t)r * g.nx + c] = o;
        }
    }
    return IMPA_OK;
}
