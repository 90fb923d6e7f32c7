/* test_lookup.c -- every interior address maps to its block in O(1); foreign and freed ones do not. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "scanner.h"

static int a_global;

static void every_offset_of_every_class(void **state)
{
    for (unsigned c = 0; c < NCLASSES; c++) {
        size_t sz = class_size[c];
        enum { K = 5 };
        char *p[K];
        for (int k = 0; k < K; k++) p[k] = cg_malloc(sz);
        for (int k = 0; k < K; k++) {
            struct lookup lk;
            assert_true(heap_lookup((uintptr_t)p[k], &lk));
            assert_ptr_equal((void *)lk.user, p[k]);
            for (size_t off = 0; off < sz; off++) {
                if (!heap_lookup((uintptr_t)p[k] + off, &lk) || lk.user != (uintptr_t)p[k])
                    fail_msg("class %u size %zu offset %zu", c, sz, off);
            }
            for (size_t off = 1; off <= heap.hdr; off++) {   /* the inline header is the block's */
                assert_true(heap_lookup((uintptr_t)p[k] - off, &lk));
                assert_ptr_equal((void *)lk.user, p[k]);
            }
            assert_int_equal(cg_usable_size(p[k]), sz);
        }
        for (int k = 0; k < K; k++) cg_free(p[k]);
        for (int k = 0; k < K; k++) {
            struct lookup lk;
            /* A freed slot is not a block any more. */
            assert_false(heap_lookup((uintptr_t)p[k], &lk) && lk.user == (uintptr_t)p[k]);
        }
    }
}

static void large_blocks(void **state)
{
    size_t sizes[] = { SMALL_MAX + 1, 100000, 1 << 20, (3 << 20) + 5 };
    for (unsigned i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char *p = cg_malloc(sizes[i]);
        assert_non_null(p);
        struct lookup lk;
        for (size_t off = 0; off < sizes[i]; off += 4093) {
            assert_true(heap_lookup((uintptr_t)p + off, &lk));
            assert_ptr_equal((void *)lk.user, p);
        }
        assert_true(heap_lookup((uintptr_t)p + sizes[i] - 1, &lk));
        assert_ptr_equal((void *)lk.user, p);
        assert_true(cg_usable_size(p) >= sizes[i]);
        cg_free(p);
        assert_false(heap_lookup((uintptr_t)p, &lk));
    }
}

static void foreign_addresses(void **state)
{
    int local;
    struct lookup lk;
    assert_false(heap_lookup((uintptr_t)&local, &lk));
    assert_false(heap_lookup((uintptr_t)&a_global, &lk));
    assert_false(heap_lookup(heap.base - 8, &lk));
    assert_false(heap_lookup(heap.base + heap.size, &lk));
    assert_false(heap_lookup(0, &lk));
    assert_false(heap_lookup(~(uintptr_t)0, &lk));
    void *libc = malloc(64);   /* glibc's malloc: the test binary does not interpose */
    assert_false(heap_lookup((uintptr_t)libc, &lk));
    free(libc);
    /* Beyond the chunks ever handed out. */
    assert_false(heap_lookup(heap.base + ((uintptr_t)atomic_load(&heap.top) << CHUNK_SHIFT), &lk));
}

/* A 32-bit store over a stale pointer (0x7f1700000022) must not point at the heap's first
 * blocks: the heap never starts in the low LOW_GUARD of a 4 GiB window. */
static void base_clear_of_small_integers(void **state)
{
    struct lookup lk;
    uintptr_t window = heap.base & ~(LOW_WINDOW - 1);
    for (uintptr_t low = 0; low < LOW_GUARD; low += 4093)
        assert_false(heap_lookup(window + low, &lk));
    assert_true((heap.base & (LOW_WINDOW - 1)) >= LOW_GUARD);
    const uintptr_t raws[] = { 0x7f1700000000, 0x7f1700001000, 0x7f16ffe00000, 0x7f16fffff000,
                               0x7f1700ff0000, 0x7f1701000000, 0x7f1701001000, 0x7f1723456000 };
    for (size_t i = 0; i < sizeof raws / sizeof raws[0]; i++) {
        uintptr_t b = heap_base_for(raws[i]);
        assert_true(b >= raws[i] && b < raws[i] + REGION_BYTES + LOW_GUARD);
        assert_true(b % REGION_BYTES == 0);
        assert_true((b & (LOW_WINDOW - 1)) >= LOW_GUARD);
    }
    assert_int_equal(heap_base_for(0x7f1723456000), 0x7f1723600000);
    /* The page below the heap is mapped (mincore succeeds) and inaccessible (write(2) from it
     * faults), so no mapping of the program's ends at heap.base. */
    unsigned char vec;
    int fds[2];
    assert_int_equal(mincore((void *)(heap.base - 4096), 4096, &vec), 0);
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], (void *)(heap.base - 4096), 1), -1);
    assert_int_equal(errno, EFAULT);
    close(fds[0]);
    close(fds[1]);
}

static void aligned_blocks(void **state)
{
    for (size_t align = 32; align <= (1 << 20); align *= 2) {
        for (size_t sz = 1; sz < 70000; sz = sz * 3 + 5) {
            char *p = cg_memalign(align, sz);
            assert_non_null(p);
            assert_int_equal((uintptr_t)p % align, 0);
            struct lookup lk;
            assert_true(heap_lookup((uintptr_t)p + sz - 1, &lk));
            assert_ptr_equal((void *)lk.user, p);
            assert_true(cg_usable_size(p) >= sz);
            cg_free(p);
        }
    }
}

/* Coalesced free runs keep stale descriptors inside: lookups and frees there must say "not ours". */
static void inside_coalesced_free_runs(void **state)
{
    for (int round = 0; round < 50; round++) {
        char *a = cg_malloc(200000), *b = cg_malloc(300000), *c = cg_malloc(5 << 20);
        cg_free(b);
        cg_free(a);
        cg_free(c);
        struct lookup lk;
        for (uintptr_t off = 0; off < (5u << 20); off += 4096) {
            assert_false(heap_lookup((uintptr_t)a + off, &lk));
            assert_false(heap_lookup((uintptr_t)c + off, &lk));
        }
        cg_free(c + 70000);            /* reported, ignored, no crash */
        char *d = cg_malloc(100000);   /* reuses part of the run */
        assert_true(heap_lookup((uintptr_t)d + 99999, &lk) && lk.user == (uintptr_t)d);
        cg_free(d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_offset_of_every_class),
        cmocka_unit_test(large_blocks),
        cmocka_unit_test(foreign_addresses),
        cmocka_unit_test(base_clear_of_small_integers),
        cmocka_unit_test(aligned_blocks),
        cmocka_unit_test(inside_coalesced_free_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
