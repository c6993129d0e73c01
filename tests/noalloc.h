/* Counting allocations: include in exactly one file of a test program. It
 * interposes malloc/calloc/realloc/aligned_alloc/posix_memalign (glibc's
 * __libc_* underneath) with default visibility, so that allocations made on the
 * code's behalf inside shared libraries (qsort's merge buffer, stdio) count as
 * well as the code's own. Calls made while `counting` is set are counted in
 * `n_alloc`. */
#ifndef IMPA_TEST_NOALLOC_H
#define IMPA_TEST_NOALLOC_H

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t a, size_t n);

static volatile int counting;
static long n_alloc;

static void note(void)
{
    if (counting)
        __atomic_add_fetch(&n_alloc, 1, __ATOMIC_RELAXED);
}

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
