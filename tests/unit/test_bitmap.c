/* test_bitmap.c -- the side bitmaps: alloc bits follow malloc/free, remote bits fold, sweep is alloc &= mark. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "scanner.h"

static bool alloc_bit(const void *p)
{
    struct lookup lk;
    return heap_lookup((uintptr_t)p, &lk) && lk.user == (uintptr_t)p;
}

static unsigned span_popcount(uint32_t ci, const uint64_t *words)
{
    unsigned n = 0;
    for (unsigned w = 0; w < BM_WORDS; w++) n += (unsigned)__builtin_popcountll(words[w]);
    return n;
}

/* Fill one span of a class completely: every slot's alloc bit is set, exactly once. */
static void a_full_span_has_every_bit_set(void **state)
{
    size_t sz = 1024;
    void *first = cg_malloc(sz);
    uint32_t ci = chunk_of((uintptr_t)first);
    const struct span *s = span_at(ci);
    enum { MAX = 4096 };
    void **mine = calloc(MAX, sizeof *mine), **other = calloc(MAX, sizeof *other);
    unsigned n = 0, no = 0;
    mine[n++] = first;
    /* Blocks of other spans are kept until the end (freeing them would hand them back). */
    while (span_popcount(ci, alloc_words(ci)) < s->nblocks && n + no < MAX) {
        void *p = cg_malloc(sz);
        if (chunk_of((uintptr_t)p) == ci) mine[n++] = p;
        else other[no++] = p;
    }
    assert_int_equal(span_popcount(ci, alloc_words(ci)), s->nblocks);
    assert_true(s->used >= s->nblocks);
    for (unsigned i = 0; i < n; i++) {
        uintptr_t off = (uintptr_t)mine[i] - chunk_addr(ci) - heap.hdr;
        assert_int_equal(off % s->stride, 0);              /* at slot boundaries */
        for (unsigned j = 0; j < i; j++) assert_ptr_not_equal(mine[i], mine[j]);
    }
    for (unsigned i = 0; i < n; i++) cg_free(mine[i]);
    for (unsigned i = 0; i < no; i++) cg_free(other[i]);
    /* Every alloc bit is clear again (the span may have gone back to the chunk allocator). */
    for (unsigned i = 0; i < n; i++) assert_false(alloc_bit(mine[i]));
    free(mine);
    free(other);
}

struct remote { void **blocks; unsigned n; };

static void *free_all(void *arg)
{
    struct remote *r = arg;
    for (unsigned i = 0; i < r->n; i++) cg_free(r->blocks[i]);
    return NULL;
}

/* Frees from another thread set remote bits (alloc bits stay until folded); folding clears
 * both and gives the slots back to the owner's count. */
static void remote_frees_fold_into_alloc(void **state)
{
    enum { N = 200 };
    void *b[N];
    for (unsigned i = 0; i < N; i++) b[i] = cg_malloc(48);
    uint32_t ci = chunk_of((uintptr_t)b[0]);
    unsigned same = 0;
    for (unsigned i = 0; i < N; i++) same += chunk_of((uintptr_t)b[i]) == ci;
    uint32_t used_before = span_at(ci)->used;
    struct remote r = { b, N };
    pthread_t t;
    pthread_create(&t, NULL, free_all, &r);
    pthread_join(t, NULL);
    /* Still allocated in the alloc bitmap, pending in the remote bitmap. */
    assert_int_equal(span_popcount(ci, remote_words(ci)), same);
    assert_true(atomic_load(&span_at(ci)->remote_count) != 0);
    heap_lock();
    span_fold_remote(ci);
    heap_unlock();
    assert_int_equal(span_popcount(ci, remote_words(ci)), 0);
    assert_int_equal(span_at(ci)->used, used_before - same);
    for (unsigned i = 0; i < N; i++)
        if (chunk_of((uintptr_t)b[i]) == ci) assert_false(alloc_bit(b[i]));
}

/* Sweeping is alloc &= mark: with the world to ourselves (no other thread), mark a chosen set
 * of blocks by hand and sweep; exactly the unmarked ones go. */
static void sweep_is_alloc_and_mark(void **state)
{
    if (heap.mark != MARK_OUTOFLINE) skip();
    enum { N = 300 };
    void *b[N];
    for (unsigned i = 0; i < N; i++) b[i] = cg_malloc(64);
    heap_lock();
    tcache_flush_all();
    uint32_t top = atomic_load(&heap.top);
    /* Mark everything allocated, then unmark every third of ours. As the marker does, a span
     * with marks says so (I10): the sweep reads no mark word of a span that does not. */
    for (uint32_t ci = 0; ci < top; ci++) {
        struct span *s = span_at(ci);
        if (s->kind == SPAN_SMALL) memcpy(mark_words(ci), alloc_words(ci), BM_WORDS * 8);
        else if (s->kind == SPAN_LARGE) mark_words(ci)[0] = alloc_words(ci)[0];
        if (s->kind == SPAN_SMALL || s->kind == SPAN_LARGE) span_use(s, MAP_MARK);
    }
    for (unsigned i = 0; i < N; i += 3) {
        struct lookup lk;
        assert_true(heap_lookup((uintptr_t)b[i], &lk));
        mark_words(lk.ci)[lk.idx >> 6] &= ~(1ull << (lk.idx & 63));
    }
    uint64_t before = gcstats.reclaimed_blocks;
    gc_sweep(true);
    heap_unlock();
    assert_int_equal(gcstats.reclaimed_blocks - before, (N + 2) / 3);
    for (unsigned i = 0; i < N; i++) assert_int_equal(alloc_bit(b[i]), i % 3 != 0);
    for (unsigned i = 0; i < N; i++) if (i % 3) cg_free(b[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_full_span_has_every_bit_set),
        cmocka_unit_test(remote_frees_fold_into_alloc),
        cmocka_unit_test(sweep_is_alloc_and_mark),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
