/* interpose.c -- the malloc family that LD_PRELOAD puts in front of glibc's; thin forwards only.
 *
 * Invariant: these are the only exported allocation symbols; each checks its arguments the way
 * C, POSIX and glibc define, then calls the allocator (collector/alloc.c). Each allocating one
 * hands its caller's return address to keep_note (COWGC_KEEP, collector/keep.c): one compare
 * against the hull of a table of text ranges (malloc does it inside cg_malloc_caller, behind
 * malloc_gate, so it stays a tail call).
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector.h"

/* libcowgc.so is linked with -nostartfiles (preload.h, CHILD_PATH), so crtbeginS.o does not
 * define this DSO's handle. pthread_atfork (libc_nonshared.a) passes it to glibc, which keys
 * the fork handlers to it so as to drop them if the library is unloaded; it never is (-z
 * nodelete). Defined here, in the one file only the shared library is built from, because the
 * test programs keep crtbeginS. */
HIDDEN void *__dso_handle = &__dso_handle;

#define EXPORT __attribute__((visibility("default")))
#define CALLER ((uintptr_t)__builtin_return_address(0))

static inline void *kept(void *p, uintptr_t caller)
{
    if (p) keep_note(p, caller);
    return p;
}

CHILD_PATH EXPORT void *malloc(size_t size) { return cg_malloc_caller(size, CALLER); }
CHILD_PATH EXPORT void free(void *p) { cg_free(p); }
EXPORT void cfree(void *p) { cg_free(p); }
CHILD_PATH EXPORT void *calloc(size_t n, size_t size) { return kept(cg_calloc(n, size), CALLER); }
CHILD_PATH EXPORT void *realloc(void *p, size_t size) { return kept(cg_realloc(p, size), CALLER); }

EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) { errno = ENOMEM; return NULL; }
    return kept(cg_realloc(p, total), CALLER);
}

static inline bool pow2(size_t a) { return a && !(a & (a - 1)); }

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    if (!pow2(align) || align % sizeof(void *)) return EINVAL;
    int e = errno;
    void *p = cg_memalign(align, size);
    if (!p) { errno = e; return ENOMEM; }
    *out = kept(p, CALLER);
    return 0;
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
    /* glibc accepts any power of two here (C17 leaves the rest undefined). */
    if (!pow2(align)) { errno = EINVAL; return NULL; }
    return kept(cg_memalign(align, size), CALLER);
}

EXPORT void *memalign(size_t align, size_t size)
{
    /* glibc rounds a non-power-of-two alignment up to the next power of two. */
    if (!pow2(align)) {
        if (align > ((size_t)1 << 62)) { errno = EINVAL; return NULL; }
        size_t a = 1;
        while (a < align) a <<= 1;
        align = a;
    }
    return kept(cg_memalign(align, size), CALLER);
}

EXPORT void *valloc(size_t size) { return kept(cg_memalign((size_t)getpagesize(), size), CALLER); }

EXPORT void *pvalloc(size_t size)
{
    size_t pg = (size_t)getpagesize(), r;
    if (__builtin_add_overflow(size, pg - 1, &r)) { errno = ENOMEM; return NULL; }
    return kept(cg_memalign(pg, r & ~(pg - 1)), CALLER);
}

/* Ours, so that COWGC_KEEP sees who asked for the copy (libraries that hide pointers strdup too). */
EXPORT char *strdup(const char *str)
{
    size_t n = strlen(str) + 1;
    char *p = cg_malloc(n);
    if (!p) return NULL;
    keep_note(p, CALLER);
    return memcpy(p, str, n);
}

EXPORT char *strndup(const char *str, size_t max)
{
    size_t n = strnlen(str, max);
    char *p = cg_malloc(n + 1);
    if (!p) return NULL;
    keep_note(p, CALLER);
    memcpy(p, str, n);
    p[n] = 0;
    return p;
}

EXPORT size_t malloc_usable_size(void *p) { return cg_usable_size(p); }

EXPORT int malloc_trim(size_t pad)
{
    cowgc_ensure_init();
    heap_lock();
    uint64_t before = heap.purged;
    heap_purge(true);
    bool any = heap.purged != before;
    heap_unlock();
    return any;
}
