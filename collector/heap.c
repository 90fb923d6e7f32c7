/* heap.c -- the reserved heap range, its side metadata, and runs of chunks (spans) within it.
 *
 * Invariants (see collector.h for the global ones):
 *  - [heap.base, heap.base + top*CHUNK_SIZE) is the only part of the reserve ever handed out;
 *    every chunk below top belongs to exactly one span or free run.
 *  - A free run of n chunks has a SPAN_FREE head (nchunks = n, list = its bin) and, when n > 1,
 *    a SPAN_FREE_TAIL last chunk whose nchunks is the distance back to the head. Two free runs
 *    are never adjacent (heap_run_free coalesces). Every other chunk inside a run is SPAN_CONT,
 *    possibly with a stale distance.
 *  - A free run with flag SF_ZEROED reads as zeroes (fresh or purged with MADV_DONTNEED).
 *  - Only a SMALL span's head has a non-NULL owner: free's fast path takes owner == its
 *    cache as proof of SMALL.
 *  - Everything here runs under heap_lock; nothing here touches a heap page except madvise.
 *  - The descriptors descend from the alloc bitmap: span_at(ci) == heap.descs - ci, and
 *    heap.descs + 1 == (void *)heap.alloc_bm, the middle of a 2 MiB region; heap.base starts
 *    a 2 MiB region (REGION_BYTES).
 *  - heap.base's low 32 bits are at least LOW_GUARD: the first blocks never sit where a 32-bit
 *    integer stored over a stale pointer's upper half would point (see heap_base_for); and the
 *    page below heap.base is ours and inaccessible, so no other mapping ends at heap.base.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "collector.h"

struct heap heap = { .lock = PTHREAD_MUTEX_INITIALIZER };
_Atomic bool malloc_gate;

void heap_lock(void) { pthread_mutex_lock(&heap.lock); }
void heap_unlock(void) { pthread_mutex_unlock(&heap.lock); }

/* Both mappings get one region's room: the heap to start on a region (a heap below 2 MiB in
 * one page table, not across two), the metadata to put its alloc bitmap mid-region. */
_Static_assert(REGION_BYTES % CHUNK_SIZE == 0, "chunks stay aligned");

/* A 32-bit store (flags, a count, an fd) into a stack slot that held a pointer leaves a word
 * like 0x7f1700000022: a library-region upper half over a small integer. If the heap started
 * 4 GiB aligned, that word would point at its first, busiest blocks and pin them (measured: one
 * leak in about 700 runs of the leak checker went unreported, held by exactly such a word in the
 * exit path's stack). So the heap starts at least LOW_GUARD into its 4 GiB window, above the
 * integers programs store most. Costs address space only (LOW_GUARD, collector.h). */
uintptr_t heap_base_for(uintptr_t raw)
{
    uintptr_t base = (raw + REGION_BYTES - 1) & ~(uintptr_t)(REGION_BYTES - 1);
    if ((base & (LOW_WINDOW - 1)) < LOW_GUARD)
        base = (base & ~(LOW_WINDOW - 1)) + LOW_GUARD;
    return base;
}

static void *map_noreserve(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Side metadata for a reserve of `want` bytes (one mapping; layout in heap_init). */
static size_t meta_bytes_for(size_t want, size_t *descs, size_t *bm, size_t *pages, size_t *gone)
{
    size_t n = want >> CHUNK_SHIFT;
    *descs = (n * sizeof(struct span) + 4095) & ~(size_t)4095;
    *bm = (n * BM_WORDS * 8 + 4095) & ~(size_t)4095;
    *pages = ((want >> 12) / 8 + 4095) & ~(size_t)4095;   /* written-page bits */
    *gone = (n + 4095) & ~(size_t)4095;
    return *descs + 5 * *bm + 4096 + *pages + *gone;
}

int heap_init(void)
{
    size_t asked = opt.reserve & ~(CHUNK_SIZE - 1), want = asked;
    size_t descs, bm, pages, gone, meta = 0;
    /* Under an address-space limit the reserve and its metadata (about 4% of it) take at most
     * three quarters of cowgc's share; the mark stack and the stop-the-world area fit in the rest. */
    if (as_share != SIZE_MAX) {
        size_t budget = as_share / 4 * 3;
        while (want > HEAP_MIN_RESERVE &&
               want + meta_bytes_for(want, &descs, &bm, &pages, &gone) + 2 * REGION_BYTES + LOW_GUARD > budget)
            want = (want - want / 8) & ~(CHUNK_SIZE - 1);
        if (want < HEAP_MIN_RESERVE) want = HEAP_MIN_RESERVE;
    }
    /* The reserve costs address space only; shrink it (by eighths) while the kernel refuses it
     * or its metadata. */
    void *raw = NULL;
    char *m = NULL;
    for (;;) {
        meta = meta_bytes_for(want, &descs, &bm, &pages, &gone);
        if ((raw = map_noreserve(want + REGION_BYTES + LOW_GUARD)) != NULL) {
            if ((m = map_noreserve(meta + REGION_BYTES)) != NULL) break;
            munmap(raw, want + REGION_BYTES + LOW_GUARD);
            raw = NULL;
        }
        if (want <= HEAP_MIN_RESERVE) return -1;
        want = (want - want / 8) & ~(CHUNK_SIZE - 1);
        if (want < HEAP_MIN_RESERVE) want = HEAP_MIN_RESERVE;
    }
    if (want != asked)
        limits_note("heap reserve %zu MiB (of COWGC_RESERVE=%zu)", want >> 20, asked >> 20);
    /* Give back the slop on both sides, but for an inaccessible page just below the heap (so
     * the heap starts at least a page into the reserve): a mapping placed right under it (a
     * thread stack, measured) would hand the program its one-past-the-end pointer (pthread's
     * stack bounds, in the TCB and on the stack itself), which is heap.base, and pin the heap's
     * first block. */
    enum { GUARD_PAGE = 4096 };
    uintptr_t base = heap_base_for((uintptr_t)raw + GUARD_PAGE);
    if (base - GUARD_PAGE > (uintptr_t)raw) munmap(raw, base - GUARD_PAGE - (uintptr_t)raw);
    mprotect((void *)(base - GUARD_PAGE), GUARD_PAGE, PROT_NONE);
    uintptr_t end = (uintptr_t)raw + want + REGION_BYTES + LOW_GUARD;
    if (end > base + want) munmap((void *)(base + want), end - (base + want));
    /* No transparent huge pages: older kernels copied all 2 MiB on a forked child's first write
     * to one; Linux 6.18 splits it instead (measured: 4 KiB copied, about 14 us per huge page),
     * which forking programs and the collector's snapshots would still pay. */
    madvise((void *)base, want, MADV_NOHUGEPAGE);

    /* The descriptors run downwards from the alloc bitmap's start (span_at(ci) = descs - ci),
     * so a small heap's descriptors and alloc bits lie side by side, and that boundary sits in
     * the middle of a 2 MiB region: a heap up to 128 MiB keeps both in one page table (a
     * forked child's first touch of each further region is a fault of its own). */
    size_t slide = region_mid_slide((uintptr_t)m + descs);   /* < REGION_BYTES */
    if (slide) munmap(m, slide);
    if (REGION_BYTES - slide) munmap(m + slide + meta, REGION_BYTES - slide);
    m += slide;

    uint32_t n = (uint32_t)(want >> CHUNK_SHIFT);
    /* The ext bitmap is written next to the alloc bitmap on every malloc and free: at the same
     * offset within a page, each access would wait on the other (4 KiB aliasing) and share a
     * cache set. EXT_SKEW puts it half a page and a line apart. */
    enum { EXT_SKEW = 2048 + 64 };
    heap.base = base;
    heap.size = want;
    heap.nchunks_max = n;
    heap.descs = (struct span *)(m + descs) - 1;
    heap.alloc_bm = (uint64_t *)(m + descs);
    heap.mark_bm = (uint64_t *)(m + descs + bm);
    heap.remote_bm = (uint64_t *)(m + descs + 2 * bm);
    heap.ext_bm = (uint64_t *)(m + descs + 3 * bm + EXT_SKEW);
    heap.keep_bm = (uint64_t *)(m + descs + 4 * bm + 4096);
    heap.page_bm = (uint64_t *)(m + descs + 5 * bm + 4096);
    heap.gone = (uint8_t *)(m + descs + 5 * bm + 4096 + pages);
    cg_assert((void *)(heap.descs + 1) == (void *)heap.alloc_bm &&
              ((uintptr_t)heap.alloc_bm & (REGION_BYTES - 1)) == REGION_BYTES / 2 &&
              (heap.base & (REGION_BYTES - 1)) == 0 && (heap.base & (LOW_WINDOW - 1)) >= LOW_GUARD);
    heap.meta_lo = (uintptr_t)m;
    heap.meta_hi = (uintptr_t)m + meta;
    heap.meta_bytes = meta;
    heap.mark = opt.mark;
    heap.hdr = opt.mark == MARK_INLINE ? INLINE_HDR : 0;
    /* Only where a miss frees live memory: leak reports stay exact (as LeakSanitizer's). */
    heap.end_pointers = opt.mode == MODE_COLLECT;
    /* Exact fits and reclaimed slots matter only where blocks are reclaimed: elsewhere the
     * malloc and free fast paths skip the ext word (a second cache line each). */
    heap.track_ext = opt.mode == MODE_COLLECT;
    heap.clear_slack = opt.mode != MODE_OFF;
    /* Every mode but off has slot work, and only those modes ever set up leak capture or a
     * COWGC_KEEP table: malloc's ungated path (alloc.c, malloc_fast) is off mode's. */
    atomic_store(&malloc_gate, opt.mode != MODE_OFF);
    /* COWGC_FREE=ignore: only where the collector reclaims (elsewhere nothing ever would). */
    heap.free_ignore = opt.free_policy == FREE_IGNORE && opt.mode == MODE_COLLECT;
    /* One compare on free's fast path stands for the range and these, which never change. */
    heap.free_lim = !heap.free_ignore && opt.mode != MODE_DETECT && !opt.fork_freeze ? heap.size : 0;
    for (unsigned c = 0; c < NCLASSES; c++) heap.orphans[c] = NONE32;
    for (unsigned b = 0; b <= 64; b++) heap.free_runs[b] = NONE32;
    return 0;
}

bool heap_is_meta(uintptr_t p) { return p >= heap.meta_lo && p < heap.meta_hi; }

/* ---- doubly linked lists of spans, threaded through descs by chunk index ---- */

void span_list_push(uint32_t *head, uint32_t ci, uint8_t list)
{
    struct span *s = span_at(ci);
    s->list = list;
    s->prev = NONE32;
    s->next = *head;
    if (*head != NONE32) span_at(*head)->prev = ci;
    *head = ci;
}

void span_list_remove(uint32_t *head, uint32_t ci)
{
    struct span *s = span_at(ci);
    if (s->prev != NONE32) span_at(s->prev)->next = s->next;
    else *head = s->next;
    if (s->next != NONE32) span_at(s->next)->prev = s->prev;
    s->next = s->prev = NONE32;
    s->list = LIST_NONE;
}

/* Give dirty free runs back to the OS. A run is purged once it has stayed unused for
 * PURGE_DELAY: memory a program frees and soon allocates again (a server's request buffers, a
 * cycle of large blocks) keeps its pages instead of faulting them in anew, while memory it
 * stopped using goes back within a fraction of a second of its next allocator slow path. Past
 * four times the budget, young runs go too. all = true (malloc_trim) purges everything. */
#define PURGE_DELAY_NS ((uint64_t)250 * 1000 * 1000)

static uint64_t last_purge_check;

/* Free but unpurged memory kept for reuse, beyond which aged runs are purged. */
static uint64_t dirty_limit(void) { return ((uint64_t)32 << 20) + heap.mapped / 4; }

static inline unsigned run_bin(uint32_t n) { return n < 64 ? n : 64; }

/* flags: SF_CLEAN (not counted as dirty: purged) and SF_ZEROED (reads as zeroes). */
static void run_insert(uint32_t ci, uint32_t n, uint8_t flags)
{
    struct span *s = span_at(ci);
    bool clean = flags & SF_CLEAN;
    s->kind = SPAN_FREE;
    s->nchunks = n;
    s->flags = flags;
    s->owner = NULL;
    if (n > 1) {
        struct span *t = span_at(ci + n - 1);
        t->kind = SPAN_FREE_TAIL;
        t->nchunks = n - 1;
    }
    span_list_push(&heap.free_runs[run_bin(n)], ci, clean ? LIST_CLEAN : LIST_DIRTY);
    if (!clean) {
        heap.dirty_bytes += (uint64_t)n << CHUNK_SHIFT;
        s->dirty_since = now_ns();
    }
}

static void run_remove(uint32_t ci)
{
    struct span *s = span_at(ci);
    cg_assert(s->kind == SPAN_FREE);
    if (!(s->flags & SF_CLEAN)) heap.dirty_bytes -= (uint64_t)s->nchunks << CHUNK_SHIFT;
    span_list_remove(&heap.free_runs[run_bin(s->nchunks)], ci);
}

/* Carve n chunks for a new span. The head's kind is left to the caller; chunks after the
 * head become SPAN_CONT. Returns NONE32 when the reserve or COWGC_MAX_HEAP is exhausted. */
uint32_t heap_run_alloc(uint32_t n, bool *zeroed)
{
    if (n == 0 || n > heap.nchunks_max) return NONE32;
    if (!heap.defer_purge) heap_purge_if_needed();
    if (opt.max_heap && heap.mapped + ((uint64_t)n << CHUNK_SHIFT) > opt.max_heap) return NONE32;
    uint32_t ci = NONE32;
    for (unsigned b = run_bin(n); b <= 64 && ci == NONE32; b++) {
        for (uint32_t r = heap.free_runs[b]; r != NONE32; r = span_at(r)->next)
            if (span_at(r)->nchunks >= n) { ci = r; break; }
    }
    if (ci != NONE32) {
        struct span *s = span_at(ci);
        uint32_t have = s->nchunks;
        uint8_t f = s->flags;
        run_remove(ci);
        if (have > n) run_insert(ci + n, have - n, f);
        *zeroed = f & SF_ZEROED;
    } else {
        uint32_t top = atomic_load_explicit(&heap.top, memory_order_relaxed);
        if (n > heap.nchunks_max - top) return NONE32;
        ci = top;
        atomic_store_explicit(&heap.top, top + n, memory_order_release);
        *zeroed = true;
    }
    struct span *s = span_at(ci);
    memset(s, 0, sizeof *s);
    s->nchunks = n;
    s->next = s->prev = NONE32;
    if (heap.track_ext) memset(heap.gone + ci, 0, n);   /* a reused chunk no longer holds a reclaimed block */
    for (uint32_t i = 1; i < n; i++) {
        struct span *c = span_at(ci + i);
        c->kind = SPAN_CONT;
        c->nchunks = i;
        c->owner = NULL;
    }
    heap.mapped += (uint64_t)n << CHUNK_SHIFT;
    if (heap.mapped > heap.peak_mapped) heap.peak_mapped = heap.mapped;
    return ci;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23            /* Linux 5.14 */
#endif

/* Fault in the pages of a fresh run of n chunks now, in one system call: each first write to
 * an untouched page is a fault of its own, 9.9 us per page here (a VM with shadow paging),
 * against 0.6 us per page populated plus 4.5 us at the first touch. Only for pages that read
 * as zeroes (SF_ZEROED): populating for write a page still shared copy-on-write with a parent
 * would copy it. Not under heap_lock; a kernel without it says EINVAL once, then it is skipped. */
void heap_populate(uint32_t ci, uint32_t n)
{
    static _Atomic bool unsupported;
    if (atomic_load_explicit(&unsupported, memory_order_relaxed)) return;
    if (madvise((void *)chunk_addr(ci), (size_t)n << CHUNK_SHIFT, MADV_POPULATE_WRITE) != 0 &&
        errno == EINVAL)
        atomic_store_explicit(&unsupported, true, memory_order_relaxed);
}

/* I10's debug check: words [w, w + n) are zero, reading only pages that are already mapped
 * (a read of one nobody wrote would map it, and the check itself would then cost the fault
 * I10 avoids; tests look at residency). */
bool words_clear_or_untouched(const uint64_t *w, unsigned n)
{
    const uint64_t *end = w + n;
    while (w < end) {
        uintptr_t pg = (uintptr_t)w & ~(uintptr_t)4095;
        const uint64_t *stop = (const uint64_t *)(pg + 4096) < end ? (const uint64_t *)(pg + 4096) : end;
        unsigned char vec = 0;
        if (mincore((void *)pg, 4096, &vec) != 0 || (vec & 1))
            for (const uint64_t *x = w; x < stop; x++)
                if (*x) return false;
        w = stop;
    }
    return true;
}

/* I10: only nonzero words are stored (a zero store still dirties, and in a forked child copies,
 * a page); a span whose `map` bit is clear has none, which debug builds check without touching
 * a page. */
void span_map_clear(struct span *s, unsigned map, uint64_t *const maps[], unsigned nmaps)
{
    unsigned n = span_map_words(s);
    bool used = span_uses(s, map);
    for (unsigned k = 0; k < nmaps; k++) {
        if (!used) {
            cg_assert(!config_debug || words_clear_or_untouched(maps[k], n));
            continue;
        }
        for (unsigned i = 0; i < n; i++)
            if (maps[k][i]) maps[k][i] = 0;
    }
    if (used) atomic_fetch_and_explicit(&s->maps, (uint8_t)~map, memory_order_relaxed);
}

/* Return a whole span to the free runs, coalescing with free neighbours. Its bitmaps are
 * cleared here so a new span starts with no allocated and no remote bits. */
void heap_run_free(uint32_t ci)
{
    struct span *s = span_at(ci);
    uint32_t n = s->nchunks;
    cg_assert(s->kind == SPAN_SMALL || s->kind == SPAN_LARGE);
    cg_assert(s->list == LIST_NONE);
    heap.mapped -= (uint64_t)n << CHUNK_SHIFT;
    /* Free chunks have all-zero bitmaps; a LARGE span only ever sets bit 0 of its head. A span
     * that still has reclaimed slots (I7: every slot is free here, so any ext bit says so) leaves
     * its chunks marked gone, so a late free of a reclaimed block is still diagnosed. */
    bool reclaimed = false;
    if (s->kind == SPAN_SMALL) {
        for (unsigned w = 0; w < BM_WORDS && heap.track_ext && !reclaimed; w++) reclaimed = ext_words(ci)[w] != 0;
        memset(alloc_words(ci), 0, BM_WORDS * 8);
        span_map_clear(s, MAP_REMOTE, (uint64_t *const[]){ remote_words(ci) }, 1);   /* I10 */
        if (heap.track_ext) memset(ext_words(ci), 0, BM_WORDS * 8);
        if (s->flags & SF_KEPT) memset(keep_words(ci), 0, BM_WORDS * 8);
        /* (Held slots are allocated, so none is left; a forked child cleared what others held.) */
        cg_assert(!span_uses(s, MAP_HOLD) || words_clear_or_untouched(hold_words(ci), span_map_words(s)));
        if (span_uses(s, MAP_HOLD)) span_map_clear(s, MAP_HOLD, (uint64_t *const[]){ hold_words(ci) }, 1);
    } else {
        reclaimed = heap.track_ext && (ext_words(ci)[0] & 1);
        alloc_words(ci)[0] = 0;
        if (reclaimed) ext_words(ci)[0] = 0;         /* a read leaves an untouched page unmapped */
        /* Only a span keep_set flagged can hold a keep bit (I8): the keep map's page is read
         * for those alone (any other first read of it maps a page, a fault). */
        if ((s->flags & SF_KEPT) && keep_words(ci)[0]) keep_words(ci)[0] = 0;
        cg_assert((s->flags & SF_KEPT) || words_clear_or_untouched(keep_words(ci), 1));
    }
    if (reclaimed) memset(heap.gone + ci, 1, n);
    /* I10: the next span here starts with no marks, in every mode */
    span_map_clear(s, MAP_MARK, (uint64_t *const[]){ mark_words(ci) }, 1);
    gen_span_freed(ci);
    uint32_t top = atomic_load_explicit(&heap.top, memory_order_relaxed);
    /* Every chunk that ends up inside the merged run becomes SPAN_CONT, so walks over the
     * descriptors (sweep, fork) never mistake it for a span. Chunks that were already CONT
     * keep stale distances: span_head() and ptr_test() check each head against its extent. */
    if (ci + n < top && span_at(ci + n)->kind == SPAN_FREE) {
        uint32_t nx = ci + n, m = span_at(nx)->nchunks;
        run_remove(nx);
        span_at(nx)->kind = SPAN_CONT;
        n += m;
    }
    if (ci > 0) {
        struct span *p = span_at(ci - 1);
        if (p->kind == SPAN_FREE || p->kind == SPAN_FREE_TAIL) {
            uint32_t h = span_head(ci - 1), m = span_at(h)->nchunks;
            run_remove(h);
            if (p->kind == SPAN_FREE_TAIL) p->kind = SPAN_CONT;
            s->kind = SPAN_CONT;
            s->owner = NULL;                   /* only SMALL heads have one (alloc.c's free) */
            ci = h;
            n += m;
        }
    }
    run_insert(ci, n, 0);
    if (!heap.defer_purge) heap_purge_if_needed();
}

/* Over budget: purge what has aged, at most every PURGE_DELAY/4 unless far over budget. */
void heap_purge_if_needed(void)
{
    if (heap.dirty_bytes <= dirty_limit()) return;
    if (heap.dirty_bytes <= 4 * dirty_limit() && now_ns() - last_purge_check < PURGE_DELAY_NS / 4)
        return;
    heap_purge(false);
}


void heap_purge(bool all)
{
    if (opt.purge == PURGE_NONE) return;
    uint64_t now = now_ns();
    last_purge_check = now;
    uint64_t keep = all ? 0 : dirty_limit() / 2;
    for (int pass = 0; pass < 2 && heap.dirty_bytes > keep; pass++) {
        /* pass 0: only runs older than the delay; pass 1 (over twice the budget): any run */
        if (pass == 1 && !all && heap.dirty_bytes <= 4 * dirty_limit()) break;
        for (int b = 64; b >= 1 && heap.dirty_bytes > keep; b--) {
            uint32_t r = heap.free_runs[b];
            while (r != NONE32 && heap.dirty_bytes > keep) {
                struct span *s = span_at(r);
                uint32_t next = s->next;
                bool old = all || pass == 1 || now - s->dirty_since >= PURGE_DELAY_NS;
                if (!(s->flags & SF_CLEAN) && old) {
                    size_t len = (size_t)s->nchunks << CHUNK_SHIFT;
                    int advice = opt.purge == PURGE_FREE ? MADV_FREE : MADV_DONTNEED;
                    int e = errno;
                    if (madvise((void *)chunk_addr(r), len, advice) == 0) {
                        heap.dirty_bytes -= len;
                        heap.purged += len;
                        /* MADV_FREE pages may keep their contents until the kernel reclaims them. */
                        s->flags |= SF_CLEAN | (advice == MADV_DONTNEED ? SF_ZEROED : 0);
                        s->list = LIST_CLEAN;
                    }
                    errno = e;
                }
                r = next;
            }
        }
    }
}

/* Grow LARGE span ci to n chunks over the free run (or the untouched top) right after it. */
bool heap_large_extend(uint32_t ci, uint32_t n)
{
    bool ok = false;
    heap_lock();
    struct span *s = span_at(ci);
    uint32_t have = s->nchunks, next = ci + have;
    uint32_t top = atomic_load_explicit(&heap.top, memory_order_relaxed);
    if (s->kind != SPAN_LARGE || n <= have) goto out;
    if (opt.max_heap && heap.mapped + ((uint64_t)(n - have) << CHUNK_SHIFT) > opt.max_heap) goto out;
    if (next == top) {
        if (n - have > heap.nchunks_max - top) goto out;
        atomic_store_explicit(&heap.top, ci + n, memory_order_release);
    } else if (next < top && span_at(next)->kind == SPAN_FREE && span_at(next)->nchunks >= n - have) {
        uint32_t m = span_at(next)->nchunks;
        uint8_t f = span_at(next)->flags;
        run_remove(next);
        if (m > n - have) run_insert(ci + n, m - (n - have), f);
    } else {
        goto out;
    }
    for (uint32_t i = have; i < n; i++) {
        struct span *c = span_at(ci + i);
        c->kind = SPAN_CONT;
        c->nchunks = i;
    }
    if (heap.track_ext) memset(heap.gone + ci + have, 0, n - have);
    s->nchunks = n;
    gen_span_grown(ci);
    heap.mapped += (uint64_t)(n - have) << CHUNK_SHIFT;
    if (heap.mapped > heap.peak_mapped) heap.peak_mapped = heap.mapped;
    ok = true;
out:
    heap_unlock();
    return ok;
}
