#include "fuzz_tmpfile.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netcdf.h>

static char g_path[512];

static void remove_tmpfile(void)
{
    if (g_path[0])
        unlink(g_path);
}

const char *impa_fuzz_tmpfile(const uint8_t *data, size_t size, const char *suffix)
{
    char *path = g_path;
    if (!path[0]) {
        const char *dir = getenv("TMPDIR");
        if (!dir || !*dir)
            dir = "/tmp";
        snprintf(path, sizeof g_path, "%s/impa-fuzz-%ld%s", dir, (long)getpid(),
                 suffix ? suffix : "");
        /* fork-mode fuzzing starts a process per job: leave no file per process
         * (a crashing input's file stays, which is what one wants to look at). */
        atexit(remove_tmpfile);
    }
    /* O_TRUNC rather than unlink+create: libFuzzer runs millions of inputs and the
     * same inode keeps the page cache warm. */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return NULL;
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0) {
            close(fd);
            return NULL;
        }
        off += (size_t)w;
    }
    close(fd);
    return path;
}

void impa_fuzz_quiet_hdf5(void)
{
    /* Both must be set before libhdf5 initialises, i.e. before the first nc_open. */
    setenv("HDF5_USE_FILE_LOCKING", "FALSE", 1);
#if defined(NC_HAS_LOGGING) && NC_HAS_LOGGING
    nc_set_log_level(-1);
#endif
}

void impa_fuzz_report(int rc, const char *err)
{
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("IMPA_FUZZ_VERBOSE") != NULL;
    if (verbose)
        fprintf(stderr, "  -> rc=%d %s\n", rc, rc ? err : "accepted");
}
