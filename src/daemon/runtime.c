/* Building and tearing down the runtime (runtime.h); its logging: the start-up
 * notes, the publisher's warnings, the alert state's restore. */
#include "daemon/runtime.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/log.h"

void impa_runtime_destroy(impa_runtime_t **rt)
{
    if (!rt || !*rt)
        return;
    impa_cycle_destroy(&(*rt)->cycle);
    impa_publisher_destroy(&(*rt)->pub);
    impa_alert_tracker_destroy(&(*rt)->tracker);
    impa_watch_destroy(&(*rt)->watch);
    impa_model_destroy(&(*rt)->model);
    free((*rt)->prob_table);
    free(*rt);
    *rt = NULL;
}

void impa_runtime_log_notes(const char *notes)
{
    char buf[8192];
    snprintf(buf, sizeof buf, "%s", notes);
    for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *text = NULL;
        long level = strtol(line, &text, 10);
        impa_log((int)level, "%s", text && *text == ' ' ? text + 1 : line);
    }
}

int impa_runtime_load(const impa_service_opts_t *o, impa_runtime_t **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    impa_runtime_t *rt = calloc(1, sizeof *rt);
    impa_startup_t *s = malloc(sizeof *s);
    char *notes = malloc(8192);
    int rc = IMPA_ENOMEM;
    if (!rt || !s || !notes) {
        impa_err(err, errlen, IMPA_ENOMEM, "out of memory");
        goto done;
    }
    rc = impa_startup_check(o, IMPA_STARTUP_CREATE, s, notes, 8192, err, errlen);
    impa_runtime_log_notes(notes);
    if (rc) {
        impa_startup_release(s);
        goto done;
    }
    rt->cfg = s->cfg;
    rt->model = s->model;
    rt->shape = s->shape;
    rt->prob_table = s->prob;
    s->prob = NULL;
    impa_daemon_config_t *cfg = &rt->cfg;
    rt->dom = (impa_domain_t){.x_offset = cfg->x_offset, .y_offset = cfg->y_offset,
                              .nx = cfg->nx, .ny = cfg->ny, .block = cfg->block,
                              .stride = rt->shape.total_stride};
    rc = impa_alert_tracker_create(&cfg->alerts, &rt->tracker, err, errlen);
done:
    free(s);
    free(notes);
    if (rc)
        impa_runtime_destroy(&rt);
    *out = rt;
    return rc;
}

void impa_runtime_alert_state_path(impa_runtime_t *rt)
{
    rt->alert_state[0] = '\0';
    const char *dir = rt->cfg.state_dir;
    if (!dir[0])
        return;
    if (strlen(dir) + sizeof "/alerts.state" > sizeof rt->alert_state) {
        impa_log(IMPA_LOG_WARNING, "alert tracks will not survive a restart: state directory "
                 "path too long (%zu characters)", strlen(dir));
        return;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        impa_log(IMPA_LOG_WARNING, "alert tracks will not survive a restart: cannot create %s: %s",
                 dir, strerror(errno));
        return;
    }
    snprintf(rt->alert_state, sizeof rt->alert_state, "%.*s/alerts.state",
             (int)(sizeof rt->alert_state - sizeof "/alerts.state"), dir);
}

void impa_runtime_state_dir_check(impa_runtime_t *rt, const char *iso)
{
    const char *dir = rt->cfg.state_dir;
    struct stat st;
    if (!dir[0] || stat(dir, &st) == 0 || errno != ENOENT)
        return;
    if (mkdir(dir, 0755) == 0)
        impa_log(IMPA_LOG_WARNING, "cycle %s: state directory %s was missing: re-created", iso, dir);
    else
        impa_log(IMPA_LOG_ERR, "cycle %s: state directory %s is missing and cannot be made: %s",
                 iso, dir, strerror(errno));
}

int impa_runtime_remove_stale_tmp(const impa_runtime_t *rt)
{
    const char *dir = rt->cfg.output_dir;
    DIR *d = dir[0] ? opendir(dir) : NULL;
    if (!d)
        return 0;
    /* what impa_archive_paths names a temporary: ".<prefix><stamp>.nc.tmp" */
    char head[80];
    snprintf(head, sizeof head, ".%s", rt->cfg.output_prefix);
    size_t hl = strlen(head);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (l <= hl + 7 || strncmp(e->d_name, head, hl) || strcmp(e->d_name + l - 7, ".nc.tmp"))
            continue;
        char p[PATH_MAX];
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p)
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
            n++;
            impa_log(IMPA_LOG_NOTICE, "removed %s, left by an archive write that was interrupted", p);
        } else {
            impa_log(IMPA_LOG_WARNING, "cannot remove %s (an interrupted archive write): %s", p,
                     strerror(errno));
        }
    }
    closedir(d);
    return n;
}

int impa_runtime_open_publisher(impa_runtime_t *rt, char *err, size_t errlen)
{
    char warn[1024] = "";
    rt->cfg.publish.n_leads = rt->shape.t_out;
    int rc = impa_publisher_create(&rt->cfg.publish, &rt->pub, warn, sizeof warn, err, errlen);
    if (warn[0])
        impa_log(IMPA_LOG_WARNING, "publish: %s", warn);
    if (rc)
        return rc;
    const impa_publish_config_t *pc = &rt->cfg.publish;
    impa_log(IMPA_LOG_INFO, "publish: per-subscriber queue %d messages (publish.max_queue_mib %d "
             "of %d-lead cycles' frames, 512 x 512 until the first cycle; publish.sndhwm %d); a "
             "subscriber stuck %d s is %s",
             impa_publisher_queue_hwm(rt->pub), pc->max_queue_mib, pc->n_leads, pc->sndhwm,
             pc->slow_subscriber_s, pc->slow_policy == IMPA_SLOW_SKIP ? "skipped" : "disconnected");
    impa_runtime_alert_state_path(rt);
    if (!rt->alert_state[0])
        return 0;
    char e[1024];
    int lr = impa_publisher_load_state(rt->pub, rt->tracker, rt->alert_state, e, sizeof e);
    if (lr == 0)
        impa_log(IMPA_LOG_NOTICE, "alert tracks restored from %s (%d cells of the last cycle)",
                 rt->alert_state, impa_alert_tracker_n_cells(rt->tracker));
    else if (lr != IMPA_ENOTFOUND)
        impa_log(IMPA_LOG_WARNING, "alert tracks not restored, they start again: %s", e);
    return 0;
}
