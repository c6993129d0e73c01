/* One forecast cycle as it flows from the daemon to the archive, the publisher
 * and the verification: borrowed pointers only, valid for the duration of the
 * call that receives it. */
#ifndef IMPA_FORECAST_H
#define IMPA_FORECAST_H

#include <stdint.h>

#include "impa/grid.h"

#define IMPA_MAX_INPUTS 16

typedef enum {
    IMPA_METHOD_IMPANET = 0,
    IMPA_METHOD_EXTRAPOLATION = 1,
    IMPA_METHOD_PERSISTENCE = 2,
} impa_method_t;

/* "impa-net", "extrapolation", "persistence" */
IMPA_API const char *impa_method_name(impa_method_t m);

typedef struct {
    const char *domain;         /* configured domain name, e.g. "brisbane" */
    int64_t issue_time;         /* valid time of the newest input frame (UTC s) */
    int step_minutes;           /* minutes between lead times */
    int n_leads;                /* lead k (0-based) is valid at issue + (k+1)*step */
    const impa_grid_t *grid;
    const float *dbz;           /* [n_leads][ny][nx] forecast dBZ, NAN = no data */
    impa_method_t method;       /* what produced this forecast */
    const char *fallback_reason;/* NULL, or why the primary method was not used */
    /* provenance */
    const char *model_name;
    const char *model_version;
    const char *weights_sha256;
    const char *config_version; /* hash or version string of the configuration */
    int n_inputs;
    const char *input_paths[IMPA_MAX_INPUTS];
    int64_t input_times[IMPA_MAX_INPUTS];
} impa_forecast_t;

#endif
