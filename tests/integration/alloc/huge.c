/* huge.c -- impossible sizes on every allocation path (issue 11, defect 3): each fails with
 * ENOMEM (posix_memalign returns it) as under glibc, leaves the old block of a realloc as it was,
 * and the heap still works afterwards; under cowgc a collection then runs (cowgc_collect).
 * Any failure prints a FAIL line and the exit status is 1. */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cowgc.h"

static int failures;

#define FAIL(...) do { printf("FAIL: " __VA_ARGS__); putchar('\n'); failures++; } while (0)

/* volatile: the compiler must not fold a call with a constant impossible size. */
static volatile size_t huge[] = {
    ((size_t)1 << 48) + ((size_t)1 << 20),    /* the realloc */
    (size_t)1 << 40,                          /* beyond any reserve by default, and glibc's RAM */
    (size_t)1 << 47,
    ((size_t)1 << 32) * 70000,                /* chunk count above 2^32 */
    (size_t)PTRDIFF_MAX,
    (size_t)PTRDIFF_MAX + 1,
    SIZE_MAX - 4095,
    SIZE_MAX - 15,
    SIZE_MAX,
};
#define NHUGE (sizeof huge / sizeof huge[0])

static void expect_null(void *p, const char *what, size_t size)
{
    int e = errno;
    if (p) FAIL("%s(%#zx) returned %p", what, size, p);
    else if (e != ENOMEM) FAIL("%s(%#zx): errno %d, not ENOMEM", what, size, e);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(i * 7 + seed);
}

static int intact(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(i * 7 + seed)) return 0;
    return 1;
}

/* realloc and reallocarray of a block of `n` bytes to each huge size: NULL, ENOMEM, unchanged. */
static void realloc_cases(unsigned char *p, size_t n, const char *kind)
{
    size_t usable = malloc_usable_size(p);
    fill(p, n, (unsigned)n);
    for (size_t i = 0; i < NHUGE; i++) {
        errno = 0;
        void *q = realloc(p, huge[i]);
        char what[64];
        snprintf(what, sizeof what, "realloc[%s]", kind);
        expect_null(q, what, huge[i]);
        if (q) return;   /* p may be gone */
        if (malloc_usable_size(p) != usable)
            FAIL("realloc[%s](%#zx) changed the usable size from %zu to %zu", kind, huge[i], usable,
                 malloc_usable_size(p));
        if (!intact(p, n, (unsigned)n)) FAIL("realloc[%s](%#zx) changed the contents", kind, huge[i]);
    }
    errno = 0;
    volatile size_t a = (size_t)1 << 24, b = ((size_t)1 << 24) + 1;   /* 2^48 + 2^24 */
    expect_null(reallocarray(p, a, b), "reallocarray", a * b);
    volatile size_t c = SIZE_MAX / 2, d = 3;                          /* overflows */
    errno = 0;
    expect_null(reallocarray(p, c, d), "reallocarray(overflow)", c);
    if (!intact(p, n, (unsigned)n)) FAIL("reallocarray[%s] changed the contents", kind);
}

int main(void)
{
    for (size_t i = 0; i < NHUGE; i++) {
        size_t s = huge[i];
        errno = 0; expect_null(malloc(s), "malloc", s);
        errno = 0; expect_null(calloc(1, s), "calloc(1, n)", s);
        errno = 0; expect_null(calloc(s, 1), "calloc(n, 1)", s);
        errno = 0; expect_null(valloc(s), "valloc", s);
        errno = 0; expect_null(pvalloc(s), "pvalloc", s);
        size_t aligns[] = { 32, 64, 4096, (size_t)1 << 16, (size_t)1 << 20, (size_t)1 << 24 };
        for (size_t k = 0; k < sizeof aligns / sizeof aligns[0]; k++) {
            errno = 0; expect_null(memalign(aligns[k], s), "memalign", s);
            errno = 0; expect_null(aligned_alloc(aligns[k], s), "aligned_alloc", s);
            void *out = (void *)1;
            int rc = posix_memalign(&out, aligns[k], s);
            if (rc != ENOMEM) FAIL("posix_memalign(%zu, %#zx) returned %d, not ENOMEM", aligns[k], s, rc);
            if (out != (void *)1) FAIL("posix_memalign(%zu, %#zx) wrote its result", aligns[k], s);
        }
    }
    /* n * size overflows. */
    volatile size_t big = (size_t)1 << 32, two = 2;
    errno = 0; expect_null(calloc(big, big), "calloc(2^32, 2^32)", big);
    errno = 0; expect_null(calloc(SIZE_MAX, two), "calloc(SIZE_MAX, 2)", SIZE_MAX);

    /* Huge alignments: refused, or a block that behaves (aligned, writable, freed quietly). */
    for (int lg = 28; lg <= 40; lg += 2) {
        size_t al = (size_t)1 << lg;
        errno = 0;
        char *p = memalign(al, 16);
        if (!p) { if (errno != ENOMEM) FAIL("memalign(2^%d, 16): errno %d", lg, errno); continue; }
        if ((uintptr_t)p & (al - 1)) FAIL("memalign(2^%d, 16) = %p is not aligned", lg, (void *)p);
        if (malloc_usable_size(p) < 16) FAIL("memalign(2^%d, 16): usable size %zu", lg, malloc_usable_size(p));
        memset(p, 1, 16);
        free(p);
    }

    /* realloc from a small block, a 100 KB block, a block grown by realloc (room to grow in
     * place), and an aligned large block. */
    unsigned char *small = malloc(40), *mid = malloc(100000), *grown = malloc(70000);
    grown = realloc(grown, 400000);
    unsigned char *al = memalign((size_t)1 << 20, 200000);
    if (!small || !mid || !grown || !al) { FAIL("ordinary allocations failed"); return 1; }
    realloc_cases(small, 40, "small");
    realloc_cases(mid, 100000, "100 KB");
    realloc_cases(grown, 400000, "grown");
    realloc_cases(al, 200000, "aligned");

    /* The heap still works: ordinary sizes, and the old blocks grow for real. */
    mid = realloc(mid, 3000000);
    if (!mid || !intact(mid, 100000, 100000)) FAIL("realloc to 3 MB after the failures");
    void *keep[2000];
    for (int i = 0; i < 2000; i++) {
        keep[i] = malloc((size_t)(i % 7 == 0 ? 50000 : 16 + i % 3000));
        if (!keep[i]) { FAIL("malloc %d failed", i); return 1; }
        memset(keep[i], i & 0xff, 16);
    }
    int (*get)(struct cowgc_stats *, size_t) = (int (*)(struct cowgc_stats *, size_t))dlsym(RTLD_DEFAULT, "cowgc_get_stats");
    void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    const char *mode = getenv("COWGC_MODE");
    if (get && collect && mode && strcmp(mode, "off")) {
        struct cowgc_stats st0 = { 0 }, st1 = { 0 };
        get(&st0, sizeof st0);
        collect();
        get(&st1, sizeof st1);
        if (st1.collections <= st0.collections) FAIL("no collection ran (collections %llu)",
                                                      (unsigned long long)st1.collections);
        else printf("collections: %llu\n", (unsigned long long)st1.collections);
    }
    for (int i = 0; i < 2000; i++) {
        unsigned char *q = keep[i];
        for (int j = 0; j < 16; j++)
            if (q[j] != (unsigned char)(i & 0xff)) { FAIL("block %d changed", i); break; }
        free(q);
    }
    free(small); free(mid); free(grown); free(al);
    if (failures) return 1;
    puts("ok");
    return 0;
}
