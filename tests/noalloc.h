/* Counting allocations: include in exactly one file of a test program. It
 * interposes malloc/calloc/realloc/aligned_alloc/posix_memalign (glibc's
 * __libc_* underneath) with default visibility, so that allocations made on the
 * code's behalf inside shared libraries (qsort's merge buffer, stdio) count as
 * well as the code's own. Calls made while `counting` is set are counted in
 * `n_alloc`.
 *
 * Calls whose caller is OpenBLAS itself are counted apart, in `n_alloc_blas`:
 * OpenBLAS 0.3.21's SkylakeX/Cooperlake small-matrix sgemm kernels (chosen on
 * AVX-512 machines such as AMD Zen 4) malloc and free a packing buffer inside
 * every cblas_sgemm call below their size threshold. That is the library's,
 * bounded and freed before it returns; the engine's own code must still make
 * none. */
#ifndef IMPA_TEST_NOALLOC_H
#define IMPA_TEST_NOALLOC_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr */
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t a, size_t n);

static volatile int counting;
static long n_alloc, n_alloc_blas;

static int from_openblas(const void *caller)
{
    Dl_info info;
    return dladdr(caller, &info) && info.dli_fname && strstr(info.dli_fname, "libopenblas");
}

static void note_from(const void *caller)
{
    if (!counting)
        return;
    if (from_openblas(caller))
        __atomic_add_fetch(&n_alloc_blas, 1, __ATOMIC_RELAXED);
    else
        __atomic_add_fetch(&n_alloc, 1, __ATOMIC_RELAXED);
}

/* a macro, so that the return address is the allocating function's caller */
#define note() note_from(__builtin_return_address(0))

#define NOALLOC_API __attribute__((visibility("default")))

NOALLOC_API void *malloc(size_t n)
{
    note();
    return __libc_malloc(n);
}

NOALLOC_API void *calloc(size_t n, size_t m)
{
    note();
    return __libc_calloc(n, m);
}

NOALLOC_API void *realloc(void *p, size_t n)
{
    note();
    return __libc_realloc(p, n);
}

NOALLOC_API void *aligned_alloc(size_t a, size_t n)
{
    note();
    return __libc_memalign(a, n);
}

NOALLOC_API int posix_memalign(void **out, size_t a, size_t n)
{
    note();
    *out = __libc_memalign(a, n);
    return *out ? 0 : ENOMEM;
}

/* The interposition works: 1 when a malloc made while counting is counted. */
static int noalloc_works(void)
{
    counting = 1;
    n_alloc = 0;
    void *volatile probe = malloc(16);
    counting = 0;
    free(probe);
    return n_alloc == 1;
}

#endif
