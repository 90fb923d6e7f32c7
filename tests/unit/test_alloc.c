/* test_alloc.c -- the allocator alone: bins, remote frees, span release, realloc, errors. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "scanner.h"

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed + i * 7);
}

static int check(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed + i * 7)) return 0;
    return 1;
}

static void blocks_are_distinct_and_aligned(void **state)
{
    enum { N = 20000 };
    static unsigned char *p[N];
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(i * 37) % 3000;
        p[i] = cg_malloc(n);
        assert_non_null(p[i]);
        assert_int_equal((uintptr_t)p[i] % 16, 0);
        fill(p[i], n, (unsigned)i);
    }
    for (int i = 0; i < N; i++) assert_true(check(p[i], (size_t)(i * 37) % 3000, (unsigned)i));
    for (int i = 0; i < N; i += 2) cg_free(p[i]);
    for (int i = 1; i < N; i += 2) assert_true(check(p[i], (size_t)(i * 37) % 3000, (unsigned)i));
    for (int i = 1; i < N; i += 2) cg_free(p[i]);
}

static void malloc_zero_is_unique(void **state)
{
    void *a = cg_malloc(0), *b = cg_malloc(0);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    cg_free(a);
    cg_free(b);
    cg_free(NULL);
}

static void calloc_zeroes_and_checks_overflow(void **state)
{
    for (size_t n = 1; n < 200000; n = n * 2 + 3) {
        unsigned char *p = cg_malloc(n);
        memset(p, 0xab, n);
        cg_free(p);
        p = cg_calloc(1, n);
        for (size_t i = 0; i < n; i++) if (p[i]) fail_msg("calloc(%zu) byte %zu not zero", n, i);
        cg_free(p);
    }
    errno = 0;
    assert_null(cg_calloc(SIZE_MAX / 2, 3));
    assert_int_equal(errno, ENOMEM);
}

static void huge_requests_fail_with_enomem(void **state)
{
    errno = 0;
    assert_null(cg_malloc((size_t)1 << 62));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(cg_malloc(SIZE_MAX));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(cg_memalign(1 << 20, SIZE_MAX - 100));
    assert_int_equal(errno, ENOMEM);
}

static void realloc_keeps_contents(void **state)
{
    unsigned char *p = cg_malloc(10);
    fill(p, 10, 3);
    size_t last = 10;
    for (size_t n = 17; n < (8u << 20); n = n * 3 / 2 + 1) {
        p = cg_realloc(p, n);
        assert_non_null(p);
        assert_true(check(p, last, 3));
        fill(p, n, 3);
        last = n;
    }
    for (size_t n = last; n > 5; n /= 3) {
        p = cg_realloc(p, n);
        assert_true(check(p, n, 3));
    }
    cg_free(p);
    assert_null(cg_realloc(cg_malloc(5), 0));
}

static void large_realloc_grows_in_place_at_the_top(void **state)
{
    char *p = cg_malloc(1 << 20);
    char *q = cg_realloc(p, 2 << 20);
    /* Either in place or moved, contents are kept; moving is allowed only if something follows. */
    assert_non_null(q);
    cg_free(q);
}

static void double_and_foreign_free_are_survived(void **state)
{
    int local;
    char *p = cg_malloc(40);
    cg_free(p);
    errno = 1234;
    cg_free(p);                       /* double free: reported, ignored */
    cg_free(&local);                  /* foreign */
    char *q = cg_malloc(100);
    cg_free(q + 8);                   /* interior */
    char *big = cg_malloc(1 << 20);
    cg_free(big + 4096);              /* interior of a large block */
    cg_free(big);
    cg_free(big);                     /* large double free */
    assert_int_equal(errno, 1234);    /* free preserves errno */
    /* The heap still works and q is intact. */
    memset(q, 1, 100);
    cg_free(q);
    void *r = cg_malloc(40);
    assert_non_null(r);
    cg_free(r);
}

/* A free of a pointer into a block (not its start) is refused in every size class, for every
 * 16-byte offset inside the slot and a few unaligned ones: the block stays allocated and the
 * blocks around it are untouched. (The fast path tells a slot's start from the low half of one
 * multiply; this checks that against every stride.) */
static void interior_frees_are_refused_in_every_class(void **state)
{
    int e = errno;
    for (unsigned c = 0; c < NCLASSES; c++) {
        size_t n = class_size[c];
        unsigned char *a = cg_malloc(n), *b = cg_malloc(n), *d = cg_malloc(n);
        assert_non_null(a);
        assert_non_null(b);
        assert_non_null(d);
        fill(b, n, c);
        /* 1, 8, 15, then every multiple of 16 (past 1 KiB: every 16 bytes of the first and
         * last KiB, and every 256 between). */
        for (size_t k = 1; k < n; k = k < 15 ? k + 7 : k == 15 ? 16 :
                                      k + (n > 1024 && k >= 1024 && k + 1024 < n ? 256 : 16)) {
            cg_free(b + k);
            struct lookup lk;
            assert_true(heap_lookup((uintptr_t)b, &lk));
            assert_int_equal(lk.user, (uintptr_t)b);
        }
        assert_true(check(b, n, c));
        unsigned char *x = cg_malloc(n);           /* must not be b */
        assert_ptr_not_equal(x, b);
        cg_free(x);
        cg_free(a);
        cg_free(b);
        cg_free(d);
    }
    errno = e;
}

/* Pointers past the last slot of a span (the tail when the stride does not divide the chunk)
 * and, in inline mode, into the first header of a chunk (free's fast path wraps that offset to
 * the chunk's end) are refused: free's fast path has no slot < nblocks test and relies on the
 * alloc bit past the last slot never being set. Checked by freeing them with every slot of the
 * span allocated, then allocating: no block may start there. */
static void frees_past_the_last_slot_are_refused(void **state)
{
    int e = errno;
    enum { MAXB = 2 * 4096 + 2 };
    static unsigned char *blk[MAXB];
    for (unsigned c = 0; c < NCLASSES; c++) {
        size_t n = class_size[c];
        int nb = 0, last = -1;
        struct lookup lk;
        /* Fill until some block sits in the last slot of its span. */
        while (nb < MAXB && last < 0) {
            blk[nb] = cg_malloc(n);
            assert_non_null(blk[nb]);
            assert_true(heap_lookup((uintptr_t)blk[nb], &lk));
            if (lk.idx == span_at(lk.ci)->nblocks - 1) last = nb;
            nb++;
        }
        assert_true(last >= 0);
        assert_true(heap_lookup((uintptr_t)blk[last], &lk));
        const struct span *s = span_at(lk.ci);
        uintptr_t chunk = chunk_addr(lk.ci);
        uintptr_t bad[20];
        int nbad = 0;
        uintptr_t tail = chunk + (uintptr_t)s->nblocks * s->stride + heap.hdr;
        if (tail < chunk + CHUNK_SIZE) bad[nbad++] = tail;
        for (uint32_t k = 0; k < heap.hdr; k += 8) bad[nbad++] = chunk + k;
        for (int i = 0; i < nbad; i++) cg_free((void *)bad[i]);
        assert_true(heap_lookup((uintptr_t)blk[last], &lk));
        for (int i = 0; i < 3 * 32; i++) {           /* more than the LIFO holds */
            unsigned char *x = cg_malloc(n);
            for (int j = 0; j < nbad; j++) assert_true((uintptr_t)x != bad[j]);
            cg_free(x);
        }
        for (int i = 0; i < nb; i++) cg_free(blk[i]);
    }
    errno = e;
}

struct xfer { void **slots; int n; };

static void *consumer(void *arg)
{
    struct xfer *x = arg;
    for (int i = 0; i < x->n; i++) {
        assert_true(check(x->slots[i], 64, (unsigned)i));
        cg_free(x->slots[i]);
    }
    return NULL;
}

static void cross_thread_frees_come_back(void **state)
{
    enum { N = 100000 };
    struct xfer x = { calloc(N, sizeof(void *)), N };
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < N; i++) { x.slots[i] = cg_malloc(64); fill(x.slots[i], 64, (unsigned)i); }
        pthread_t t;
        pthread_create(&t, NULL, consumer, &x);
        pthread_join(t, NULL);
    }
    /* The remote frees were folded: five rounds reuse the same memory. */
    assert_true(heap.mapped < (64u << 20));
    free(x.slots);
}

static void *free_one(void *arg)
{
    cg_free(arg);
    return NULL;
}

/* A block another thread freed is freed for malloc_usable_size too, before its owner folds
 * the remote bit, as one its own thread freed is. */
static void usable_size_of_a_remotely_freed_block_is_zero(void **state)
{
    void *keep = cg_malloc(48), *p = cg_malloc(48);
    assert_int_equal(cg_usable_size(p), 48);
    pthread_t t;
    pthread_create(&t, NULL, free_one, p);
    pthread_join(t, NULL);
    assert_int_equal(cg_usable_size(p), 0);
    assert_int_equal(cg_usable_size(keep), 48);
    cg_free(keep);
}

static void *churner(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    void *keep[256] = { 0 };
    for (int i = 0; i < 200000; i++) {
        unsigned k = (seed = seed * 1103515245 + 12345) >> 16;
        unsigned slot = k % 256;
        if (keep[slot]) cg_free(keep[slot]);
        size_t n = (k >> 8) % 2048;
        keep[slot] = cg_malloc(n);
        memset(keep[slot], (int)slot, n);
    }
    for (int i = 0; i < 256; i++) cg_free(keep[i]);
    return NULL;
}

static void many_threads_and_exit_give_caches_back(void **state)
{
    for (int round = 0; round < 4; round++) {
        pthread_t t[16];
        for (int i = 0; i < 16; i++) pthread_create(&t[i], NULL, churner, (void *)(uintptr_t)(i + 1));
        for (int i = 0; i < 16; i++) pthread_join(t[i], NULL);
    }
    /* Thread exits orphaned their spans; mapped memory stays bounded across rounds. */
    assert_true(heap.mapped < (128u << 20));
}

static void empty_spans_go_back(void **state)
{
    enum { N = 200000 };
    void **p = calloc(N, sizeof *p);
    for (int i = 0; i < N; i++) p[i] = cg_malloc(256);
    uint64_t full = heap.mapped;
    for (int i = 0; i < N; i++) cg_free(p[i]);
    assert_true(heap.mapped < full / 4);
    free(p);
}

/* RSS follows live data: freed chunks that stay unused go back to the OS at the next slow path
 * after the purge delay, and malloc_trim-style purges return everything at once. */
static long rss_kib(void)
{
    char buf[128] = { 0 };
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f && fgets(buf, sizeof buf, f)) sscanf(buf, "%ld %ld", &pages, &resident);
    if (f) fclose(f);
    return resident * 4;
}

static void freed_memory_goes_back_to_the_os(void **state)
{
    enum { N = 256 };
    void *p[N];
    for (int i = 0; i < N; i++) { p[i] = cg_malloc(1 << 20); memset(p[i], 1, 1 << 20); }
    long full = rss_kib();
    uint64_t purged = heap.purged;
    for (int i = 0; i < N; i++) cg_free(p[i]);
    usleep(400 * 1000);
    cg_free(cg_malloc(1 << 20));          /* a slow path after the delay */
    assert_true(heap.purged - purged >= (uint64_t)150 << 20);
    assert_true(rss_kib() < full - 150 * 1024);
    if (opt.purge == PURGE_DONTNEED) {
        heap_lock();
        heap_purge(true);
        heap_unlock();
        assert_int_equal(heap.dirty_bytes, 0);
    }
}

static bool resident(const void *p)
{
    unsigned char vec = 0;
    assert_int_equal(mincore((void *)((uintptr_t)p & ~(uintptr_t)4095), 4096, &vec), 0);
    return vec & 1;
}

/* I10: a span that never had a remote free leaves the remote bitmap alone when it goes back
 * (a forked demo worker faulted on ~27 such pages in one collection). 1024-byte blocks fill
 * fresh chunks past the heap's top until a whole page of their remote words is theirs. */
static void spans_without_remote_frees_leave_the_remote_map_untouched(void **state)
{
    enum { N = 64 * 400 };
    static void *p[N];
    /* A page of map words for chunks past the heap's top: nothing ever used them. */
    const uint32_t per_page = 4096 / (BM_WORDS * 8);
    uint32_t page_ci = (atomic_load(&heap.top) + 2 * per_page - 1) / per_page * per_page;
    assert_false(resident(remote_words(page_ci)));
    int n = 0;
    for (uint32_t top_ci = 0; top_ci < page_ci + per_page; n++) {
        assert_true(n < N);
        assert_non_null(p[n] = cg_malloc(1024));
        struct lookup lk;
        assert_true(heap_lookup((uintptr_t)p[n], &lk));
        top_ci = lk.ci > top_ci ? lk.ci : top_ci;
    }
    uint64_t mapped = heap.mapped;
    for (int i = 0; i < n; i++) cg_free(p[i]);
    assert_true(heap.mapped < mapped);            /* the emptied spans went back */
    assert_false(resident(remote_words(page_ci)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* First: it needs chunks past the top that no earlier test used. */
        cmocka_unit_test(spans_without_remote_frees_leave_the_remote_map_untouched),
        cmocka_unit_test(blocks_are_distinct_and_aligned),
        cmocka_unit_test(malloc_zero_is_unique),
        cmocka_unit_test(calloc_zeroes_and_checks_overflow),
        cmocka_unit_test(huge_requests_fail_with_enomem),
        cmocka_unit_test(realloc_keeps_contents),
        cmocka_unit_test(large_realloc_grows_in_place_at_the_top),
        cmocka_unit_test(double_and_foreign_free_are_survived),
        cmocka_unit_test(interior_frees_are_refused_in_every_class),
        cmocka_unit_test(frees_past_the_last_slot_are_refused),
        cmocka_unit_test(cross_thread_frees_come_back),
        cmocka_unit_test(usable_size_of_a_remotely_freed_block_is_zero),
        cmocka_unit_test(many_threads_and_exit_give_caches_back),
        cmocka_unit_test(empty_spans_go_back),
        cmocka_unit_test(freed_memory_goes_back_to_the_os),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
