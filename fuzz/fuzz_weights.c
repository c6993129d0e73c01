/* libFuzzer harness for impa_model_load: the weights file is read once at start-up
 * and must be refused with a message, never crash the daemon, whatever it holds
 * (a truncated download, a file for another architecture, a hostile one). On
 * success the info must be within the bounds the loader promises. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_tmpfile.h"
#include "impa/engine.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    impa_fuzz_quiet_hdf5();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = impa_fuzz_tmpfile(data, size, ".nc");
    if (!path)
        return 0;
    impa_model_t *model = NULL;
    char err[512];
    int rc = impa_model_load(path, &model, err, sizeof err);
    impa_fuzz_report(rc, err);
    if (rc == 0) {
        const impa_model_info_t *info = impa_model_info(model);
        if (!info || info->n_fields < 1 || info->n_fields > IMPA_MAX_FIELDS ||
            info->n_branches < 1 || info->n_branches > IMPA_MAX_BRANCHES || info->t_in < 1 ||
            info->t_out < 1)
            abort();
        impa_model_destroy(&model);
        if (model)
            abort(); /* destroy must NULL the caller's pointer */
    } else if (rc > 0 || model || err[0] == '\0') {
        abort();
    }
    return 0;
}
