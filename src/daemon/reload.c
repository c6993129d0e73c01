/* SIGHUP: a new runtime is built completely (configuration, directories, model,
 * and the publisher and watch when theirs changed) and swapped in only on
 * success; on failure the old one keeps running. The event loop calls it only
 * while no cycle runs. Logs the reload. */
#include <stdio.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/notify.h"
#include "daemon/service-impl.h"

int impa_service_reload(impa_service_t *svc)
{
    impa_runtime_t *old = svc->rt, *nrt = NULL;
    char err[4096];
    impa_log(IMPA_LOG_NOTICE, "reload: reading %s", svc->opts.config_path ? svc->opts.config_path
                                                                          : "built-in defaults");
    impa_notify("RELOADING=1");
    int rc = impa_runtime_load(&svc->opts, &nrt, err, sizeof err);
    if (rc)
        goto refused;
    if (!svc->opts.replay) {
        if (strcmp(nrt->cfg.input_dir, old->cfg.input_dir) ||
            strcmp(nrt->cfg.input_pattern, old->cfg.input_pattern)) {
            rc = impa_watch_create(nrt->cfg.input_dir, nrt->cfg.input_pattern, &nrt->watch, err,
                                   sizeof err);
            if (rc)
                goto refused;
        }
        /* The publisher's CAP references and the tracker's tracks continue each
         * other: both are kept, or both rebuilt and restored from alerts.state. */
        if (memcmp(&nrt->cfg.publish, &old->cfg.publish, sizeof old->cfg.publish) ||
            memcmp(&nrt->cfg.alerts, &old->cfg.alerts, sizeof old->cfg.alerts)) {
            /* The same endpoints cannot be bound twice: close the old sockets first and
             * reopen them if the new ones fail. */
            impa_publisher_destroy(&old->pub);
            rc = impa_runtime_open_publisher(nrt, err, sizeof err);
            if (rc) {
                /* the old publisher comes back as a restart would: a fresh tracker,
                 * both restored from the state saved after the last cycle */
                char err2[1024];
                impa_alert_tracker_destroy(&old->tracker);
                if (impa_alert_tracker_create(&old->cfg.alerts, &old->tracker, err2, sizeof err2))
                    impa_log(IMPA_LOG_ERR, "reload: alerts are off: %s", err2);
                impa_cycle_set_alerts(old->cycle, old->tracker);
                if (impa_runtime_open_publisher(old, err2, sizeof err2))
                    impa_log(IMPA_LOG_ERR, "reload: the previous publisher could not be "
                             "reopened either, publishing is off: %s", err2);
                goto refused;
            }
        } else {
            nrt->pub = old->pub;
            old->pub = NULL;
            impa_alert_tracker_destroy(&nrt->tracker);
            nrt->tracker = old->tracker;
            old->tracker = NULL;
            impa_runtime_alert_state_path(nrt);
        }
        if (!nrt->watch) {
            nrt->watch = old->watch;
            old->watch = NULL;
        }
    }
    impa_runtime_destroy(&svc->rt);
    svc->rt = nrt;
    impa_ingest_reset(svc); /* recovery finds them again */
    svc->last_issue = INT64_MIN;
    svc->gap[0] = '\0';
    svc->due = 0; /* the new runtime's window is rebuilt below, without cycles */
    impa_log_set_level(nrt->cfg.log_level);
    svc->n.reloads++;
    const impa_model_info_t *mi = nrt->model ? impa_model_info(nrt->model) : NULL;
    impa_log(IMPA_LOG_NOTICE, "reload: configuration %.12s, model %s %s (%.12s) in use",
             nrt->cfg.sha256, mi ? mi->model_name : "none", mi ? mi->model_version : "",
             mi ? mi->sha256 : "-");
    if (!svc->opts.replay)
        impa_service_recover(svc);
    impa_notify("READY=1");
    return 0;
refused:
    impa_runtime_destroy(&nrt);
    svc->n.reload_failures++;
    for (char *save = NULL, *line = strtok_r(err, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
        impa_log(IMPA_LOG_ERR, "reload refused, the running configuration stays: %s", line);
    impa_notify("READY=1");
    return rc;
}
