/* impa-nowcastd: command line, then the service (src/daemon/service.c). */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/privilege.h"
#include "daemon/service.h"
#include "impa/cli.h"
#include "impa/reader.h"
#include "impa_build_config.h"

#define DEFAULT_CONFIG IMPA_SYSCONFDIR "/impa-nowcast.yaml"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: impa-nowcastd [OPTIONS]\n"
            "Radar nowcasting service: watches a directory for scans, runs IMPA-Net (or\n"
            "the extrapolation fallback) each time a model step completes, archives and\n"
            "publishes the forecasts.\n\n"
            "Modes:\n"
            "  --config FILE            run the service (default %s)\n"
            "  --check-config FILE      run the start-up check on FILE (with the overrides)\n"
            "                           without creating or changing anything; print every\n"
            "                           problem and what start-up would create; exit 0\n"
            "                           (start-up would pass) or 1\n"
            "  --replay DIR             process every scan in DIR in scan-time order as if\n"
            "                           it had arrived, write the archive, exit\n"
            "  --print-config-reference print the table of configuration keys (Markdown)\n"
            "  --version, --help\n\n"
            "Overrides (service and replay):\n"
            "  --input-dir DIR          input.directory\n"
            "  --output DIR             output.directory\n"
            "  --state-dir DIR          verification.state_directory\n"
            "  --model FILE             model.weights\n\n"
            "Signals: SIGHUP reloads configuration and weights (kept on failure),\n"
            "SIGTERM/SIGINT stop within a second; a cycle that cannot finish by then is\n"
            "abandoned, nothing of it written (exit 0).\n",
            DEFAULT_CONFIG);
}

static void log_lines(int level, const char *text)
{
    char buf[8192];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
        impa_log(level, "%s", line);
}

/* --check-config: the start-up check (src/daemon/startup.c) as start-up runs
 * it, creating and changing nothing; no sockets are bound. */
static int check_config(const char *path, impa_service_opts_t *o)
{
    char report[8192], err[8192];
    o->config_path = path;
    int rc = impa_service_check_config(o, report, sizeof report, err, sizeof err);
    fputs(report, stdout);
    fflush(stdout);
    if (rc) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    return 0;
}

/* Started as root: drop to daemon.user or refuse (src/daemon/privilege.c),
 * before a reader is forked, a socket bound or a file written. The
 * configuration is read here once for the key; a file that does not load
 * leaves no account to drop to, so root is refused (its errors logged). */
static int leave_root(const char *config_path)
{
    if (geteuid() != 0)
        return 0;
    char err[8192], msg[1024];
    impa_daemon_config_t *cfg = malloc(sizeof *cfg);
    if (!cfg)
        return -1;
    if (impa_config_load(config_path, cfg, err, sizeof err)) {
        log_lines(IMPA_LOG_ERR, err);
        cfg->daemon_user[0] = '\0';
    }
    int rc = 0;
    switch (impa_priv_decide(geteuid(), cfg->daemon_user, getenv("INVOCATION_ID"),
                             getenv("IMPA_ALLOW_ROOT"), msg, sizeof msg)) {
    case IMPA_PRIV_KEEP: break;
    case IMPA_PRIV_ALLOW: impa_log(IMPA_LOG_WARNING, "%s", msg); break;
    case IMPA_PRIV_REFUSE:
        impa_log(IMPA_LOG_ERR, "%s", msg);
        rc = -1;
        break;
    case IMPA_PRIV_DROP:
        impa_log(IMPA_LOG_NOTICE, "%s", msg);
        if (impa_priv_drop(cfg->daemon_user, err, sizeof err)) {
            impa_log(IMPA_LOG_ERR, "%s", err);
            rc = -1;
        } else {
            impa_log(IMPA_LOG_NOTICE, "running as daemon.user '%s' (uid %ld, gid %ld)",
                     cfg->daemon_user, (long)getuid(), (long)getgid());
        }
        break;
    }
    free(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    enum { O_CHECK = 256, O_REPLAY, O_OUTPUT, O_INPUT, O_STATE, O_MODEL, O_REF };
    /* A fixed threshold: every queued ZeroMQ copy of a frame (over 256 KiB at
     * 512 x 512) gets its own mapping and goes back to the system when the
     * subscriber's queue is freed. glibc's sliding threshold would move frames
     * to the heap after the first free, where a queue that was freed (a stuck
     * subscriber disconnected) keeps the memory fragmented. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", required_argument, NULL, O_CHECK},
        {"replay", required_argument, NULL, O_REPLAY},
        {"output", required_argument, NULL, O_OUTPUT},
        {"input-dir", required_argument, NULL, O_INPUT},
        {"state-dir", required_argument, NULL, O_STATE},
        {"model", required_argument, NULL, O_MODEL},
        {"print-config-reference", no_argument, NULL, O_REF},
        {"version", no_argument, NULL, IMPA_CLI_VERSION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    impa_service_opts_t o = {0};
    const char *config = NULL, *check = NULL, *replay = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config = optarg; break;
        case O_CHECK: check = optarg; break;
        case O_REPLAY: replay = optarg; break;
        case O_OUTPUT: o.output_dir = optarg; break;
        case O_INPUT: o.input_dir = optarg; break;
        case O_STATE: o.state_dir = optarg; break;
        case O_MODEL: o.model = optarg; break;
        case O_REF: impa_config_print_reference(stdout); return 0;
        default: return impa_cli_default(opt, "impa-nowcastd", usage);
        }
    }
    if (impa_cli_no_operands("impa-nowcastd", argc, argv))
        return IMPA_CLI_USAGE_EXIT;
    if (check)
        return check_config(check, &o);

    impa_log_setup(IMPA_LOG_INFO, -1, NULL);
    signal(SIGPIPE, SIG_IGN);
    o.config_path = config ? config : DEFAULT_CONFIG;
    if (replay) {
        o.replay = 1;
        o.input_dir = replay;
    }
    if (leave_root(o.config_path))
        return 1;
    char err[8192];
    /* Before any thread (ZeroMQ's, the worker, OpenBLAS's pool is idle): the
     * scan readers are forked from this one-thread copy (reader_server.c). */
    if (impa_reader_server_start(err, sizeof err))
        impa_log(IMPA_LOG_WARNING, "%s; scan readers fork from the daemon itself", err);
    impa_service_t *svc = NULL;
    int rc = impa_service_create(&o, &svc, err, sizeof err);
    if (rc) {
        log_lines(IMPA_LOG_ERR, err);
        return 1;
    }
    impa_log(IMPA_LOG_NOTICE, "impa-nowcastd %s starting (configuration %s, sha256 %.12s)",
             IMPA_VERSION, o.config_path, impa_service_config(svc)->sha256);
    if (replay) {
        rc = impa_service_replay(svc, replay);
    } else {
        impa_service_recover(svc);
        rc = impa_service_run(svc);
    }
    impa_service_destroy(&svc);
    impa_reader_server_stop();
    return rc < 0 ? 1 : 0;
}
