/* libFuzzer harness for impa_config_parse: the YAML configuration is trusted
 * (root-owned, checked by impa_file_check_private) but hand-edited, so any text
 * must give a list of errors, never a crash or an overflow of the fixed-size
 * string fields of impa_daemon_config_t. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"
#include "fuzz_tmpfile.h"
#include "impa/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static impa_daemon_config_t cfg; /* ~30 KiB: too big for a fuzzer's stack frame */
    char err[4096];
    /* The base directory is never created: parsing must not touch the file system. */
    int rc = impa_config_parse((const char *)data, size, "fuzz.yaml", "/nonexistent/impa-fuzz",
                               &cfg, err, sizeof err);
    impa_fuzz_report(rc, err);
    if (rc != 0 && (rc > 0 || err[0] == '\0'))
        abort();
    /* Every string field must stay terminated within its array. */
    if (memchr(cfg.input_dir, 0, sizeof cfg.input_dir) == NULL ||
        memchr(cfg.weights, 0, sizeof cfg.weights) == NULL ||
        memchr(cfg.output_dir, 0, sizeof cfg.output_dir) == NULL ||
        memchr(cfg.domain_name, 0, sizeof cfg.domain_name) == NULL ||
        memchr(cfg.input_pattern, 0, sizeof cfg.input_pattern) == NULL ||
        memchr(cfg.output_prefix, 0, sizeof cfg.output_prefix) == NULL)
        abort();
    if (rc == 0 && (cfg.n_thresholds < 0 || cfg.n_thresholds > IMPA_VERIFY_MAX_THRESH))
        abort();
    return 0;
}
