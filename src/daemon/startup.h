/* The start-up check: everything the service verifies before it runs, in one
 * function that both start-up (and reload) and --check-config call, so the two
 * can never disagree. It reads the configuration (with the command-line
 * overrides), checks the directories and files it names, the permissions of
 * the files that decide what the service computes, and loads and checks the
 * model against the configuration. Only the directories differ: start-up
 * creates missing ones, the dry run (--check-config) creates and changes
 * nothing and notes what start-up would create. Warnings (permissions under
 * security.permissions: warn, a model that does not load for the
 * extrapolation method) are logged. */
#ifndef IMPA_DAEMON_STARTUP_H
#define IMPA_DAEMON_STARTUP_H

#include <stddef.h>

#include "daemon/config.h"
#include "daemon/cycle.h"
#include "impa/engine.h"
#include "impa/prob.h"

typedef struct {
    const char *config_path; /* NULL = built-in defaults */
    /* command-line overrides (NULL = as configured); kept across SIGHUP reloads */
    const char *input_dir, *output_dir, *state_dir, *model;
    int replay;              /* 1: no publisher, no watcher, bad files are not moved */
} impa_service_opts_t;

/* What the check establishes: the configuration as the service runs it, the
 * model (NULL when none is needed and none loads) and the window shape. */
typedef struct {
    impa_daemon_config_t cfg;
    impa_model_t *model;
    impa_cycle_shape_t shape;
    impa_prob_table_t *prob;  /* the probability calibration table; NULL = product off */
} impa_startup_t;

enum { IMPA_STARTUP_DRY = 0, IMPA_STARTUP_CREATE = 1 };

/* Runs the check; mode IMPA_STARTUP_CREATE creates missing directories,
 * IMPA_STARTUP_DRY touches nothing and writes a note per missing directory into
 * notes (may be NULL). 0, or a negative code with every reason found, one per
 * line ("file:line: key 'x.y': reason"), in err. The caller owns out->model
 * (impa_startup_release) whatever the result. */
int impa_startup_check(const impa_service_opts_t *o, int mode, impa_startup_t *out, char *notes,
                       size_t noteslen, char *err, size_t errlen);
void impa_startup_release(impa_startup_t *s);

/* Checks that the configuration, weights and CURVE key files are private
 * (impa_file_check_private): logs a warning per problem under
 * security.permissions: warn, fails with IMPA_ECONFIG under refuse. */
int impa_service_check_permissions(const impa_daemon_config_t *cfg, char *err, size_t errlen);

/* Shape of the shipped model, the window's when no model is loaded (method
 * extrapolation without weights). */
extern const impa_cycle_shape_t impa_default_shape;

#endif
