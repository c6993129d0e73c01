/* libFuzzer harness for impa_reader_read (CF NetCDF, ODIM_H5, KNMI HDF5): the
 * parser that sees files anyone able to write the incoming directory controls.
 *
 * Beyond "no crash, no leak, no UB" it checks the reader's contract on success:
 * a grid inside the documented 1..10000 limits and a dBZ field that is finite or
 * NaN (a value the nowcast would propagate as +-inf must never come out). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_tmpfile.h"
#include "impa/reader.h"

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
    impa_reader_opts_t opts = impa_reader_opts_default();
    /* A default period lets accumulation files reach the Z-R conversion too. */
    opts.accum_period_s = 600;
    impa_scan_t scan;
    char err[512];
    int rc = impa_reader_read(path, &opts, &scan, err, sizeof err);
    impa_fuzz_report(rc, err);
    if (rc == 0) {
        if (scan.grid.nx < 1 || scan.grid.ny < 1 || scan.grid.nx > 10000 ||
            scan.grid.ny > 10000 || !scan.dbz)
            abort();
        size_t n = (size_t)scan.grid.nx * (size_t)scan.grid.ny;
        for (size_t i = 0; i < n; i++)
            if (isinf(scan.dbz[i]))
                abort();
        impa_scan_deinit(&scan);
    } else if (rc > 0 || err[0] == '\0') {
        abort(); /* errors are negative codes with a message */
    }
    return 0;
}
