/* Helpers shared by the fuzz harnesses: the file parsers under test (libnetcdf,
 * libhdf5) only open paths, so each input is written to a private temporary file
 * first. Not part of libimpa; compiled into the harnesses and replay programs. */
#ifndef IMPA_FUZZ_TMPFILE_H
#define IMPA_FUZZ_TMPFILE_H

#include <stddef.h>
#include <stdint.h>

/* Writes data[0..size) to a per-process file (created once in $TMPDIR or /tmp,
 * mode 0600, rewritten on each call) and returns its path, or NULL when it
 * cannot be written. The returned string is static: valid until the next call. */
const char *impa_fuzz_tmpfile(const uint8_t *data, size_t size, const char *suffix);

/* Makes the process fit for parsing hostile HDF5: no file locking (the harness
 * rewrites the same file) and no HDF5 error stack printed for every bad input. */
void impa_fuzz_quiet_hdf5(void);

/* With IMPA_FUZZ_VERBOSE set, prints the entry point's result and message to stderr
 * (the replay test's log then shows which seeds parse and why the others fail). */
void impa_fuzz_report(int rc, const char *err);

#endif
