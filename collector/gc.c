/* gc.c -- one collection: stop the world, mark from the roots, sweep or count, resume.
 *
 * Invariants:
 *  - A collection runs with heap_lock held and every other thread stopped outside a busy
 *    section (I5), so caches, lists and bitmaps are all consistent while it runs.
 *  - Marking reads heap pages and, in out-of-line mode, writes only mark bitmaps (I1). In inline
 *    mode it writes the header word before each block it marks, and records the page.
 *  - A block is marked iff it is reachable from a root through words that point into allocated
 *    blocks (interior pointers included); a full mark stack never loses a block: the overflow
 *    pass rescans every marked block until a pass ends without overflow.
 *  - Inside collect(), a heap range of SPARSE_MIN bytes or more is read only on its populated
 *    pages (present, or swapped out for real): the others read as zeroes, and reading them
 *    would map the zero page, a mapping every later fork() copies.
 *  - While helper markers run (mark_share_markers() > 1), a mark reaches the bitmap only by an
 *    atomic OR (a marker's pending word, flushed at the end of each of its drains; asserted) and
 *    an inline header only by an atomic exchange, so no marker's store undoes another's. A
 *    block two markers reach at once may be traced twice, never left untraced. The helpers
 *    have exited (par_end) before mark_recover, the sweep, or anything else reads the marks.
 *  - Until the first marking of this process or of the process it was forked from
 *    (marks_pristine), every mark bit, inline header and written-page bit is zero, so
 *    clear_marks writes nothing: an exec'd program's one leak check at exit does not fault in
 *    those pages. Every marking (gc_mark_all, gc_mark_minor, leak.c's mark_own) calls
 *    gc_marking_begins first; debug builds check the out-of-line bits.
 *  - Helpers run only inside collect()'s own marking; leak checks and other callers of
 *    gc_mark_all mark alone (par.allowed is false outside collect()).
 *  - A minor marking (skip_old_spans) takes every allocated block of a SMALL span with neither
 *    SF_YOUNG nor SF_AGED as marked, and does not look it up (old_span_word); debug builds check
 *    each such skip against the bitmaps. Not under COWGC_FORK_FREEZE, whose inherited blocks
 *    are frozen, not marked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"
#include "scanner.h"

struct gc_stats gcstats;
_Static_assert(ROOT_KINDS <= sizeof gcstats.roots_bytes / sizeof gcstats.roots_bytes[0], "a byte count per root kind");
static atomic_int disable_count;
static bool gc_enabled;
static uint64_t gc_epoch;
static uint64_t baseline;   /* in_use right after the last collection */
/* Where the last collection's pause went (COWGC_VERBOSE): stopping the other threads (wall time:
 * mostly waiting for a signalled thread to get a CPU), written pages and old blocks on them,
 * roots (minor only: a full's roots are part of its marking), sweep, re-arming the tracker. */
static struct { uint64_t stop_ns, written_ns, roots_ns, sweep_ns, rearm_ns; } phase;

#define PIECE ((uintptr_t)64 << 10)   /* large blocks are scanned in pieces of this size */

/* A collection reads only the pages of a big block (or piece) that were ever written
 * (present or swapped out, by /proc/self/pagemap): the rest reads as zeroes and holds no
 * pointer, and reading it would map the zero page there. Those mappings cost nothing in RSS
 * but every later fork() copies them: after one collection over 256 MiB of 64 KiB buffers
 * touched on their first page only, fork went from 1.3 to 6.6 ms. Only inside collect():
 * the leak checks of a forked child (leak.c) read pagemap their own way. */
#define SPARSE_MIN ((uintptr_t)16 << 10)
static struct { bool on; int fd; } sparse = { false, -1 };

static void mark_range_on(struct markstack *st, uintptr_t lo, uintptr_t hi);

static void mark_run(uintptr_t lo, uintptr_t hi, void *st)
{
    mark_range_on(st, lo, hi);
}

/* The pagemap descriptor for sparse reads, opened at the first big range. Helpers only read
 * what the collector resolved before it started them (par_start). */
static bool sparse_ready(void)
{
    if (sparse.fd < 0) {
        sparse.fd = proc_pagemap_fd();
        if (sparse.fd < 0) sparse.on = false;   /* unreadable: scan whole blocks for the rest of this one */
    }
    return sparse.on;
}

/* A heap range: whole, or (big, inside collect()) by its populated pages. */
static void mark_heap_range(struct markstack *st, uintptr_t lo, uintptr_t hi)
{
    if (likely(!sparse.on) || hi - lo < SPARSE_MIN || !sparse_ready())
        mark_range_on(st, lo, hi);
    else
        resident_runs(sparse.fd, lo, hi, mark_run, st);
}

static void sparse_begin(void) { sparse.on = true; }

static void sparse_end(void)
{
    sparse.on = false;
    sparse.fd = -1;
}

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void gc_init(void)
{
    gc_enabled = opt.mode != MODE_OFF;
    policy_init();
    gen_init();
    heap.sticky_marks = gen_on();
}
bool gc_disabled(void) { return atomic_load(&disable_count) > 0; }
void gc_disable(void) { atomic_fetch_add(&disable_count, 1); }
void gc_enable(void) { if (atomic_load(&disable_count) > 0) atomic_fetch_sub(&disable_count, 1); }

/* ---- marking ---- */

/* Inline marks: the heap page of a header the collector wrote, counted once (par: helpers
 * mark beside the collector, so the page bit is set with an atomic OR). */
static inline void page_written(struct markstack *st, uintptr_t addr, const bool par)
{
    uintptr_t pg = (addr - heap.base) >> 12;
    uint64_t bit = 1ull << (pg & 63);
    uint64_t *w = &heap.page_bm[pg >> 6];
    if (*w & bit) return;
    if (!par) *w |= bit;
    else if (__atomic_fetch_or(w, bit, __ATOMIC_RELAXED) & bit) return;
    st->pages_written++;
}

/* A marking's counts are its markers' (markstack_reset zeroed the collector's; helpers_finish
 * added the helpers'): they reach gcstats once, after the last mark of the collection. */
void gc_mark_counts_to_stats(void)
{
    gcstats.marked_bytes_last = markstack.marked_bytes;
    gcstats.mark_overflows += markstack.overflows;
    gcstats.heap_pages_written += markstack.pages_written;
    markstack.marked_bytes = markstack.overflows = markstack.pages_written = 0;
}

static inline size_t block_size(const struct span *s) { return s->size; }

/* A marker's pending marks go into the bitmap word: one atomic OR for a run of marks in the
 * same word (a depth-first trace of blocks allocated in order sets dozens in a row). Every
 * drain ends with it, so no mark is pending when a marker goes hungry or marking ends. */
static inline void pend_flush(struct markstack *st)
{
    if (st->pend_bits) __atomic_fetch_or(st->pend_word, st->pend_bits, __ATOMIC_RELAXED);
    st->pend_word = NULL;
    st->pend_bits = 0;
}

/* Mark the block lk names unless it is marked already; true when it was newly marked. With
 * helpers running (par) the counts are the marker's, inline headers are set with an atomic
 * exchange, and out-of-line marks wait in the marker's pending word (pend_flush): another
 * marker that reaches one of those blocks first sees it unmarked and traces it too. Tracing a
 * block twice is harmless and bounded (one word of marks per marker is ever pending). */
static inline __attribute__((always_inline)) bool
mark_one(struct markstack *st, const struct lookup *lk, const bool inline_marks, const bool par)
{
    /* Inherited and frozen: live by definition, and what it points to is found elsewhere. */
    if (unlikely(heap.frozen_bm != NULL) && frozen_test(lk->ci, lk->idx)) return false;
    struct span *s = span_at(lk->ci);
    if (!inline_marks) {
        uint64_t *m = mark_words(lk->ci) + (lk->idx >> 6);
        uint64_t bit = 1ull << (lk->idx & 63);
        if (!par) {
            if (*m & bit) return false;
            *m |= bit;
            span_use(s, MAP_MARK);          /* I10 */
        } else if (m == st->pend_word) {   /* the word's span was flagged when it became pending */
            if ((st->pend_bits | *m) & bit) return false;
            st->pend_bits |= bit;
        } else {
            if (*m & bit) return false;
            pend_flush(st);
            span_use(s, MAP_MARK);          /* I10, before the sweep: markers end first */
            st->pend_word = m;
            st->pend_bits = bit;
        }
    } else {
        uint64_t *h = (uint64_t *)(lk->user - INLINE_HDR);
        if (*h & 1) return false;
        if (!par) *h = 1;
        else if (__atomic_exchange_n(h, 1, __ATOMIC_RELAXED) & 1) return false;
        page_written(st, (uintptr_t)h, par);
    }
    st->marked_bytes += block_size(s);
    /* The block is scanned when popped; start fetching its first line now. */
    __builtin_prefetch((const void *)lk->user);
    if (!markstack_push_on(st, lk->user, lk->user + block_size(s))) st->overflows++;
    return true;
}

/* v may point one past the end of a block that the request filled exactly (p + n): v is the
 * start of the next slot or chunk, or of the heap's untouched top. The block is the one holding
 * v - 1, if it ends at v and (SMALL) its ext bit says exact fit (I7); a LARGE block ends at v
 * only when its usable size reaches its span's end, which its descriptor tells. */
static inline bool end_test(uintptr_t v, uintptr_t limit, struct lookup *lk)
{
    if (!ptr_test_in(v - 1, limit, lk)) return false;
    const struct span *s = span_at(lk->ci);
    if (s->kind == SPAN_SMALL && !(s->flags & SF_EXACT)) return false;
    if (lk->user + block_size(s) != v) return false;
    return s->kind != SPAN_SMALL || ext_test(lk->ci, lk->idx);
}

/* During a minor marking: true. A SMALL span with neither SF_YOUNG nor SF_AGED holds old blocks
 * only (collector.h): every allocated block in it is marked (its last sweep left alloc == marks,
 * and a slot taken since is old by G1 and keeps its mark), so a word pointing into it can mark
 * nothing, and the span's descriptor says so without its alloc and mark words. In a forked
 * worker's first collection those words lie on pages of the parent's bitmaps that the child has
 * not touched yet (a fault each under shadow paging, one page per 8 chunks of inherited heap).
 * Not under COWGC_FORK_FREEZE: inherited blocks are frozen there, not marked, and stay unmarked
 * in such spans after the process unfreezes (it forked again), for its next marking to trace. */
static bool skip_old_spans;

/* Debug builds: what old_span_word skips, the full test would have found marked (or no block). */
static bool old_word_marked(uintptr_t v, uintptr_t limit, bool inline_marks)
{
    struct lookup lk;
    if (!ptr_test_in(v, limit, &lk)) return true;
    if (heap.frozen_bm && frozen_test(lk.ci, lk.idx)) return true;   /* as in mark_one */
    if (inline_marks) return *(const uint64_t *)(lk.user - INLINE_HDR) & 1;
    return (mark_words(lk.ci)[lk.idx >> 6] >> (lk.idx & 63)) & 1;
}

/* True when v (a heap address below limit) can be skipped: skip_old (skip_old_spans, read once
 * per scan) and v in a span of old blocks only. A chunk's first byte is left to the full test:
 * in collect mode it may end the block of the chunk before. */
static inline __attribute__((always_inline)) bool
old_span_word(bool skip_old, uintptr_t v, uintptr_t limit, bool inline_marks)
{
    if (!skip_old || !(v & (CHUNK_SIZE - 1))) return false;
    const struct span *s = span_at((uint32_t)((v - heap.base) >> CHUNK_SHIFT));
    if (s->kind != SPAN_SMALL || (s->flags & (SF_YOUNG | SF_AGED))) return false;
    cg_assert(old_word_marked(v, limit, inline_marks));
    return true;
}

/* One aligned word v: the block it points into, and in collect mode (ends) the exact-fit block
 * it may point one past the end of. skip_old: see old_span_word. */
static inline __attribute__((always_inline)) void
scan_word(struct markstack *st, uintptr_t v, uintptr_t limit, uintptr_t *last, const bool inline_marks,
          const bool ends, const bool par, const bool skip_old)
{
    struct lookup lk;
    const uintptr_t base = heap.base, hdr = heap.hdr;
    if (v == *last) return;
    /* One past the heap's top can still end a block: off == limit is tested below. */
    if (ends ? v - base > limit : v - base >= limit) return;
    if (old_span_word(skip_old, v, limit, inline_marks)) return;
    bool hit = ptr_test_in(v, limit, &lk);
    if (hit) {
        *last = v;
        mark_one(st, &lk, inline_marks, par);
    }
    /* A slot's (or chunk's) first byte is also one past the end of the block before it.
     * Block starts are 16-aligned; exact fits end 16-aligned too. */
    if (!ends || (v & 15) || v == base) return;
    if (hit) {
        if (v != lk.user - hdr) {
            if (v & (CHUNK_SIZE - 1)) return;   /* inside an aligned large block's lead */
        } else if (lk.idx > 0) {
            /* The block before is slot idx - 1 of the same span. */
            const struct span *s = span_at(lk.ci);
            uint32_t a = lk.idx - 1;
            uint64_t abit = 1ull << (a & 63);
            if (!(s->flags & SF_EXACT) || !(alloc_words(lk.ci)[a >> 6] & abit)) return;
            /* Marked already: no need to fetch its ext word (usually a cache miss). */
            if (!inline_marks && (mark_words(lk.ci)[a >> 6] & abit)) return;
            if (!ext_test(lk.ci, a)) return;
            lk.idx = a;
            lk.user -= s->stride;
            mark_one(st, &lk, inline_marks, par);
            return;
        }
    }
    if (end_test(v, limit, &lk)) {
        *last = v;
        mark_one(st, &lk, inline_marks, par);
    }
}

/* The first word at or after p (below end) that differs from v, or end. Runs of equal words
 * (zeroed memory; an array filled with one pointer) are most of the words some heaps hold, and
 * a word-by-word loop crosses them at one word per compare-and-branch. This one reads a cache
 * line's 8 words per branch: XOR with v, OR together, one test of zero (generic vectors: SSE2
 * here, whatever the target has elsewhere). Reads only words below end. */
static inline const uintptr_t *run_end(const uintptr_t *p, const uintptr_t *end, uintptr_t v)
{
    typedef uintptr_t v2 __attribute__((vector_size(16)));
    const v2 vv = { v, v };
    while (end - p >= 8) {
        v2 a, b, c, d;
        memcpy(&a, p, sizeof a);
        memcpy(&b, p + 2, sizeof b);
        memcpy(&c, p + 4, sizeof c);
        memcpy(&d, p + 6, sizeof d);
        v2 x = ((a ^ vv) | (b ^ vv)) | ((c ^ vv) | (d ^ vv));
        if (x[0] | x[1]) break;
        p += 8;
    }
    while (p < end && *p == v) p++;
    return p;
}

/* The mark loop, specialised at compile time per layout and per mode (inline_marks and ends are
 * constants at each call site below): detect mode does not pay for end pointers. Newly marked
 * blocks go on the mark stack.
 * Pointers are looked for at every 4-byte offset, not only at 8-byte ones: packed structures
 * (__attribute__((packed)), #pragma pack) hold pointers at 4-byte offsets, and Ruby keeps the
 * read buffer of every IO that way (rb_io_t.rbuf.ptr, a PACKED_STRUCT_UNALIGNED member).
 * The value at p + 4 is assembled from the two aligned words around it, and both candidates
 * share one range test, so the common case (neither is a heap address) stays one branch.
 * End pointers are looked for at aligned words only (block ends are 16-aligned). */
static inline __attribute__((always_inline)) void
scan_words(struct markstack *st, uintptr_t lo, uintptr_t hi, const bool inline_marks, const bool ends, const bool par)
{
    /* The world is stopped: the heap's extent cannot change during the scan. */
    const uintptr_t limit = (uintptr_t)atomic_load_explicit(&heap.top, memory_order_relaxed) << CHUNK_SHIFT;
    const uintptr_t base = heap.base;
    const bool skip_old = skip_old_spans;
    uintptr_t last = 0;
    const uintptr_t *w = (const uintptr_t *)lo, *end = (const uintptr_t *)hi;
    if (w == end) return;
    uintptr_t cur = *w, prev = ~cur;
    for (; w + 1 < end; w++) {
        uintptr_t next = w[1];
        /* In a run of equal words both candidates repeat the previous step's: done already.
         * The run is crossed in a tight loop up to its last word, which is scanned (its odd
         * candidate takes half of the word after the run). */
        if (cur == prev && next == cur) {
            if (w + 2 < end) w = run_end(w + 2, end, cur) - 2;
            continue;
        }
        prev = cur;
        uintptr_t odd = cur >> 32 | next << 32;     /* the 8 bytes at (char *)w + 4 */
        uintptr_t a = cur - base, b = odd - base;
        if (likely((a < b ? a : b) > limit)) {
            cur = next;
            continue;
        }
        scan_word(st, cur, limit, &last, inline_marks, ends, par, skip_old);
        if (b < limit && !old_span_word(skip_old, odd, limit, inline_marks)) {
            struct lookup lk;
            if (ptr_test_in(odd, limit, &lk)) mark_one(st, &lk, inline_marks, par);
        }
        cur = next;
    }
    scan_word(st, cur, limit, &last, inline_marks, ends, par, skip_old);
}

/* One instance per layout, mode and marker count: (inline marks, end pointers, helpers). */
#define SCAN_FN(name, inl, ends, par) \
    static void name(struct markstack *st, uintptr_t lo, uintptr_t hi) { scan_words(st, lo, hi, inl, ends, par); }
SCAN_FN(scan_outofline, false, false, false)
SCAN_FN(scan_inline, true, false, false)
SCAN_FN(scan_outofline_ends, false, true, false)
SCAN_FN(scan_inline_ends, true, true, false)
SCAN_FN(scan_outofline_par, false, false, true)
SCAN_FN(scan_inline_par, true, false, true)
SCAN_FN(scan_outofline_ends_par, false, true, true)
SCAN_FN(scan_inline_ends_par, true, true, true)
static void (*const scan_fns[8])(struct markstack *, uintptr_t, uintptr_t) = {
    scan_outofline, scan_inline, scan_outofline_ends, scan_inline_ends,
    scan_outofline_par, scan_inline_par, scan_outofline_ends_par, scan_inline_ends_par,
};

static void mark_range_on(struct markstack *st, uintptr_t lo, uintptr_t hi)
{
    lo = (lo + 7) & ~(uintptr_t)7;
    hi &= ~(uintptr_t)7;
    if (lo >= hi) return;
    unsigned k = (heap.mark == MARK_INLINE) | (unsigned)heap.end_pointers << 1 | (mark_share_markers() > 1) << 2;
    scan_fns[k](st, lo, hi);
}

void gc_mark_range(uintptr_t lo, uintptr_t hi) { mark_range_on(&markstack, lo, hi); }

/* Blocks popped from the mark stack wait in a small FIFO before they are scanned, their first
 * KiB fetched as they enter it: a block pushed last is popped next, so the prefetch at push
 * time (mark_one) has no time to land, and tracing a linked structure larger than the caches
 * (a tree) would wait for memory at every block. A KiB, not a line: most blocks are short
 * arrays, which end before the hardware prefetcher catches on. Every popped range is scanned
 * before the drain returns: the FIFO changes the order of the scans, never which ones happen. */
#define PREFETCH_FIFO 16

/* Helper marking threads (helpers.c): the collector starts them once a collection has traced
 * COWGC_MARKERS_MIN bytes and still has work on its stack; they live until its marking ends. */
static struct {
    bool allowed;               /* this collection may still start them */
    uint64_t after;             /* bytes this collection traces alone first */
    unsigned want;              /* markers wanted, the collector included */
    unsigned used;              /* markers in this collection (verbose) */
    uint64_t helper_cpu_ns;     /* the helpers' CPU time in this collection */
} par;

static void drain_par(struct markstack *st);
static void par_start(void);

/* Pops and scans until st is empty. A lone collector (!par) looks every 64 blocks (a piece of a
 * big block counts a block per 4 KiB) at whether to start helpers; when it does, what it holds
 * goes back on the stack and false tells the caller to go on with helpers. With helpers, a
 * busy marker looks as often at whether another is hungry, and gives it half its stack (or of
 * the one big range left on it: helpers.c). Counting blocks only, a 4 MiB array scanned in
 * 64 KiB pieces went by between two looks, its marker alone (GCBench's first full collection:
 * CPU time = pause). */
static inline __attribute__((always_inline)) bool drain_on(struct markstack *st, const bool par_on)
{
    struct mark_item fifo[PREFETCH_FIFO], it;
    unsigned head = 0, n = 0, tick = 0;
    for (;;) {
        while (n < PREFETCH_FIFO && markstack_pop_on(st, &it)) {
            /* (A piece already cut is PIECE + a word long: it goes back on the stack whole when
             * helpers start, and must not be cut again into a word on an unread page.) */
            if (it.hi - it.lo > PIECE + sizeof(uintptr_t)) {
                /* Keep the rest for later so one huge block cannot flood the stack. */
                if (!markstack_push_on(st, it.lo + PIECE, it.hi)) st->overflows++;
                /* One word more, so the 4-byte offset that straddles the cut is seen. */
                it.hi = it.lo + PIECE + sizeof(uintptr_t);
            }
            for (uintptr_t q = it.lo, e = it.hi < it.lo + 1024 ? it.hi : it.lo + 1024; q < e; q += 64)
                __builtin_prefetch((const void *)q);
            fifo[(head + n++) % PREFETCH_FIFO] = it;
        }
        if (!n) {
            if (par_on) pend_flush(st);
            return true;
        }
        tick += 1 + (unsigned)((fifo[head].hi - fifo[head].lo) >> 12);
        if (tick >= 64) {
            tick = 0;
            if (par_on) {
                if (atomic_load_explicit(&mark_share.hungry, memory_order_relaxed) &&
                    !atomic_load_explicit(&mark_share.count, memory_order_relaxed))
                    mark_share_give(st);
            } else if (unlikely(par.allowed) && st->marked_bytes >= par.after && st->depth + n >= 2) {
                par_start();
                if (mark_share_markers() > 1) {
                    /* Unscanned ranges: back on the stack (a push that does not fit is an
                     * overflow, recovered like any other). */
                    for (; n; n--, head = (head + 1) % PREFETCH_FIFO)
                        markstack_push_on(st, fifo[head].lo, fifo[head].hi);
                    return false;
                }
            }
        }
        it = fifo[head];
        head = (head + 1) % PREFETCH_FIFO;
        n--;
        mark_heap_range(st, it.lo, it.hi);
    }
}

static void drain_par(struct markstack *st) { drain_on(st, true); }

/* A helper's life: take work from the pool, trace it, until marking is over. */
static void helper_mark(struct markstack *st)
{
    while (mark_share_wait(st)) drain_par(st);
}

static void par_start(void)
{
    par.allowed = false;        /* one try per collection */
    /* A sandbox's filter may kill the process for the clone the program never makes itself. */
    if (stw_seccomp_filtered()) return;
    if (sparse.on) sparse_ready();
    markstack.pend_word = NULL;
    markstack.pend_bits = 0;
    par.used = helpers_start(par.want, helper_mark);
    if (par.used > 1) gcstats.par_collections++;
}

/* The collector's marking is done: it helps until all are hungry, then joins the helpers,
 * whose counts join its own. Idempotent; the world is still stopped. */
static void par_end(void)
{
    par.allowed = false;
    if (mark_share_markers() < 2) return;
    helpers_finish(drain_par, &par.helper_cpu_ns);
    cg_assert(markstack.depth == 0 || markstack.overflowed);   /* every marker hungry at the end */
    cg_assert(markstack.pend_bits == 0);
}

void gc_mark_drain(void)
{
    if (mark_share_markers() > 1 || !drain_on(&markstack, false)) drain_par(&markstack);
}

bool block_is_marked(uint32_t ci, uint32_t idx, uintptr_t user)
{
    if (heap.frozen_bm && frozen_test(ci, idx)) return true;   /* COWGC_FORK_FREEZE: live */
    if (heap.mark == MARK_INLINE) return *(const uint64_t *)(user - INLINE_HDR) & 1;
    return span_uses(span_at(ci), MAP_MARK) && (mark_words(ci)[idx >> 6] & (1ull << (idx & 63)));
}

/* After an overflow some marked blocks were never scanned: scan every marked block again
 * (cheap to repeat: already marked children are skipped) until a pass does not overflow. */
static void mark_recover(void)
{
    while (markstack_overflowed()) {
        uint32_t top = atomic_load(&heap.top);
        for (uint32_t ci = 0; ci < top; ci++) {
            const struct span *s = span_at(ci);
            if (s->kind == SPAN_SMALL) {
                const uint64_t *a = alloc_words(ci);
                for (uint32_t i = 0; i < s->nblocks; i++) {
                    if (!(a[i >> 6] & (1ull << (i & 63)))) continue;
                    uintptr_t user = chunk_addr(ci) + (uintptr_t)i * s->stride + heap.hdr;
                    if (!block_is_marked(ci, i, user)) continue;
                    gc_mark_range(user, user + s->size);
                    gc_mark_drain();
                }
            } else if (s->kind == SPAN_LARGE && (alloc_words(ci)[0] & 1)) {
                uintptr_t user = chunk_addr(ci) + s->offset;
                if (!block_is_marked(ci, 0, user)) continue;
                if (!markstack_push(user, user + s->size)) markstack.overflows++;
                gc_mark_drain();
            }
        }
    }
}

/* Inline marks kept between collections (generations): every set header goes back to zero. */
static void clear_sticky_headers(uint32_t top)
{
    for (uint32_t ci = 0; ci < top; ci++) {
        const struct span *s = span_at(ci);
        if (s->kind == SPAN_SMALL) {
            const uint64_t *a = alloc_words(ci);
            for (uint32_t w = 0; w < (s->nblocks + 63) / 64; w++)
                for (uint64_t bits = a[w]; bits; bits &= bits - 1) {
                    uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(bits);
                    uint64_t *h = (uint64_t *)(chunk_addr(ci) + (uintptr_t)i * s->stride);
                    if (*h) { *h = 0; page_written(&markstack, (uintptr_t)h, false); }
                }
        } else if (s->kind == SPAN_LARGE && (alloc_words(ci)[0] & 1)) {
            uint64_t *h = (uint64_t *)(chunk_addr(ci) + s->offset - INLINE_HDR);
            if (*h) { *h = 0; page_written(&markstack, (uintptr_t)h, false); }
        }
    }
}

/* SF_EXACT for every SMALL span: does an allocated slot hold an exact fit? World stopped.
 * A minor collection skips spans that hold old blocks only (SF_YOUNG, SF_AGED): an end pointer
 * can only find a block that is marked already there. */
static void note_exact_spans(bool minor)
{
    uint32_t top = atomic_load(&heap.top);
    for (uint32_t ci = 0; ci < top; ci++) {
        struct span *s = span_at(ci);
        if (s->kind != SPAN_SMALL) continue;
        if (minor && !(s->flags & (SF_YOUNG | SF_AGED))) continue;
        uint64_t any = 0;
        const uint64_t *a = alloc_words(ci), *x = ext_words(ci);
        for (unsigned w = 0; w < (s->nblocks + 63) / 64; w++) any |= a[w] & x[w];
        if (any) s->flags |= SF_EXACT;
        else s->flags &= (uint8_t)~SF_EXACT;
    }
}

/* See the invariants: true until the first marking of this process or of its fork ancestors. */
static bool marks_pristine = true;

/* Every marking calls this before it sets a mark (stored only when it changes: fork). */
void gc_marking_begins(void) { if (marks_pristine) marks_pristine = false; }

static void clear_marks(void)
{
    uint32_t top = atomic_load(&heap.top);
    if (marks_pristine) {
        for (uint32_t ci = 0; ci < top && config_debug && heap.mark == MARK_OUTOFLINE; ci++)
            cg_assert(words_clear_or_untouched(mark_words(ci), BM_WORDS));
        gc_marking_begins();
        return;
    }
    if (heap.mark == MARK_INLINE) {
        if (heap.sticky_marks) {
            memset(heap.page_bm, 0, ((((size_t)top << CHUNK_SHIFT) >> 12) + 63) / 64 * 8);
            clear_sticky_headers(top);
            return;
        }
        /* I6: headers are already zero; reset the written-pages record for this collection. */
        memset(heap.page_bm, 0, ((((size_t)top << CHUNK_SHIFT) >> 12) + 63) / 64 * 8);
        return;
    }
    /* Only spans that have marks (I10): a forked child would copy every page of the map it
     * wrote zeroes over, and fault on every one it read. */
    for (uint32_t ci = 0; ci < top; ci++) {
        struct span *s = span_at(ci);
        if (s->kind == SPAN_SMALL || s->kind == SPAN_LARGE) span_map_clear(s, MAP_MARK, (uint64_t *const[]){ mark_words(ci) }, 1);
    }
}

static void root_range(uintptr_t lo, uintptr_t hi, enum root_kind kind)
{
    if (hi <= lo) return;
    gcstats.roots_bytes[kind] += hi - lo;
    gc_mark_range(lo, hi);
    gc_mark_drain();
}

/* Old blocks on written pages (a minor collection): their words are roots. */
static void old_range(uintptr_t lo, uintptr_t hi)
{
    gcstats.roots_bytes[ROOT_OLD] += hi - lo;
    /* The tracker reports never-populated pages as written too: an old big block's unwritten
     * pages must not be read here either. */
    mark_heap_range(&markstack, lo, hi);
    gc_mark_drain();
}

static void mark_block(const struct lookup *lk, bool inl)
{
    if (mark_share_markers() > 1) mark_one(&markstack, lk, inl, true);
    else mark_one(&markstack, lk, inl, false);
}

/* COWGC_KEEP: kept blocks (I8) are marked and traced like roots. Only the chunks that ever got
 * a keep bit (heap.kept_chunks) are visited: the others' descriptors are not read (in a forked
 * child each first read of a page of them is a fault of its own). */
static void mark_kept(void)
{
    uint32_t top = atomic_load(&heap.top);
    const bool inl = heap.mark == MARK_INLINE;
    const uint64_t *kc = heap.kept_all ? NULL : atomic_load_explicit(&heap.kept_chunks, memory_order_acquire);
    for (uint32_t ci = 0; ci < top; ci++) {
        if (kc && !(kc[ci >> 6] >> (ci & 63) & 1)) {
            cg_assert(!(span_at(ci)->flags & SF_KEPT) && !(span_at(ci)->kind == SPAN_LARGE && (keep_words(ci)[0] & 1)));   /* I8 */
            if (!config_debug && !kc[ci >> 6]) ci |= 63;     /* (the loop's ++ moves to the next word) */
            continue;
        }
        const struct span *s = span_at(ci);
        if (s->kind == SPAN_LARGE) {
            if (!(keep_words(ci)[0] & alloc_words(ci)[0] & 1)) continue;
            struct lookup lk = { chunk_addr(ci) + s->offset, ci, 0 };
            gcstats.roots_bytes[ROOT_KEPT] += s->size;
            mark_block(&lk, inl);
            gc_mark_drain();
            continue;
        }
        if (s->kind != SPAN_SMALL || !(s->flags & SF_KEPT)) continue;
        for (unsigned w = 0; w < (s->nblocks + 63) / 64; w++)
            for (uint64_t k = keep_words(ci)[w] & alloc_words(ci)[w]; k; k &= k - 1) {
                uint32_t idx = w * 64 + (unsigned)__builtin_ctzll(k);
                struct lookup lk = { chunk_addr(ci) + (uintptr_t)idx * s->stride + heap.hdr, ci, idx };
                gcstats.roots_bytes[ROOT_KEPT] += s->size;
                mark_block(&lk, inl);
                gc_mark_drain();
            }
    }
}

/* The roots, only their written pages for tracked mappings in a minor collection (gen.c G10). */
static void scan_roots(bool minor)
{
    gen_roots_begin(minor);
    roots_scan(root_range);
    gen_roots_end();
}

/* A minor collection: marks are kept (the old generation), old blocks are not traced again,
 * and the old blocks on pages written since the last collection are roots (gen.c, G3).
 * false: the written pages could not be read, and nothing may be swept on this marking. */
static bool gc_mark_minor(void)
{
    cg_assert(gen_on() && heap.sticky_marks);   /* G1: the marks are the old generation */
    gc_marking_begins();
    if (heap.end_pointers) note_exact_spans(true);
    markstack_reset();
    memset(gcstats.roots_bytes, 0, sizeof gcstats.roots_bytes);
    uint64_t t0 = now_ns();
    skip_old_spans = !opt.fork_freeze;
    bool ok = gen_scan_written(old_range);
    if (ok) {
        uint64_t t1 = now_ns();
        scan_roots(true);
        phase.written_ns = t1 - t0;
        phase.roots_ns = now_ns() - t1;
        if (heap.kept_any) mark_kept();
        ok = !heap.frozen_bm || freeze_scan_roots(root_range);
        if (ok) gc_mark_drain();
    }
    par_end();
    if (ok) mark_recover();
    skip_old_spans = false;
    gc_mark_counts_to_stats();
    return ok;
}

/* Mark everything reachable from the roots. World stopped, heap_lock held. */
void gc_mark_all(void)
{
    markstack_reset();          /* first: clearing inline headers counts pages written */
    clear_marks();
    if (heap.end_pointers) note_exact_spans(false);
    memset(gcstats.roots_bytes, 0, sizeof gcstats.roots_bytes);
    scan_roots(false);
    if (heap.kept_any) mark_kept();
    if (heap.frozen_bm && !freeze_scan_roots(root_range)) {
        par_end();
        gc_mark_counts_to_stats();
        /* Without pagemap the written pages are unknown: trace the whole heap, now and later. */
        log_line("COWGC_FORK_FREEZE: /proc/self/pagemap unreadable; tracing the whole heap");
        heap.frozen_bm = NULL;
        gc_mark_all();
        return;
    }
    gc_mark_drain();
    par_end();
    mark_recover();
    gc_mark_counts_to_stats();
}

/* Marking without every root seen, or while a thread counted as stopped ran, must not lead
 * to a sweep. */
static bool mark_complete(void) { return !roots_scan_failed() && stw_world_held(); }

/* ---- one collection ---- */

static void collect(const char *why);

/* The marking frames below the caller held heap addresses (FIFO entries, lookups, a helper's
 * stack handed back): left there, the program's later frames would keep them in slots it never
 * writes, and the next collection would take them as roots. */
static __attribute__((noinline)) void scrub_marking_frames(void)
{
    volatile uint64_t buf[2048] __attribute__((unused));   /* 16 KiB; volatile: the stores stay */
    for (unsigned i = 0; i < 2048; i++) buf[i] = 0;
}

/* No cancellation point inside may act on a pending pthread_cancel: the thread would die
 * holding heap_lock and its exit hook would wait for it forever. */
void gc_collect(const char *why)
{
    if (!gc_enabled || gc_disabled()) return;
    int old;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    collect(why);
    scrub_marking_frames();
    pthread_setcancelstate(old, NULL);
}

static void collect(const char *why)
{
    int saved_errno = errno;   /* a collection inside malloc must not change the program's errno */
    if (opt.roots == ROOTS_SEGMENTS) roots_snapshot_segments();
    /* Only the policy's own trigger may be minor or yield to a collection that just ran;
     * explicit and heap-limit collections promise that everything unreachable is gone. */
    bool triggered = why && (strcmp(why, "trigger") == 0 || strcmp(why, "fork") == 0);
    uint64_t seen = __atomic_load_n(&gc_epoch, __ATOMIC_ACQUIRE);
    heap_lock();
    /* Another thread collected while we waited for the lock: the trigger is satisfied. */
    if (triggered && seen != gc_epoch) { heap_unlock(); errno = saved_errno; return; }
    uint64_t t0 = now_ns();
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    /* Verbose: how often the scheduler took the CPU away inside the pause (wall time), and how
     * many page faults the collecting thread took in it (first touches of pages in a forked
     * child: a demo worker's first collection takes ~40, later ones 0-10). */
    struct rusage ru0 = { 0 }, ru1 = { 0 };
    if (opt.verbose) getrusage(RUSAGE_THREAD, &ru0);
    bool minor = gen_next_is_minor(!triggered);
    /* A forked child rechecking the blocks it promoted (gen.c, G11). */
    bool recheck = minor && gen_recheck_due();
    /* What a parent holds when it forks is what its children inherit: old at once, so that no
     * child traces it again (a young survivor otherwise waits for a second minor collection). */
    bool promote_all = why && strcmp(why, "fork") == 0;
    phase.written_ns = phase.roots_ns = 0;
    int stopped = stw_stop_all();
    phase.stop_ns = now_ns() - t0;
    if (stopped != 0) {
        gcstats.skipped++;
        heap_unlock();
        errno = saved_errno;
        return;
    }
    proc_files_trust(true);
    tcache_flush_all();
    if (recheck) gen_recheck_begin();
    sparse_begin();
    /* Helpers only for the collector's own marking, where the world stays stopped to the end. */
    par.want = opt.markers ? (unsigned)opt.markers : (cpus_available() < 4 ? cpus_available() : 4);
    par.allowed = par.want > 1;
    /* After a collection that traced twice the threshold, the next one is likely big too: its
     * helpers start at once instead of after MARKERS_MIN bytes traced alone. */
    par.after = gcstats.marked_bytes_last >= 2 * opt.markers_min ? 0 : opt.markers_min;
    par.used = 1;
    par.helper_cpu_ns = 0;
    if (minor && !gc_mark_minor()) {
        log_line("collection %llu: the written pages could not be read; a full collection instead",
                 (unsigned long long)gcstats.collections + 1);
        minor = false;
    }
    if (!minor) gc_mark_all();
    par.allowed = false;
    sparse_end();
    uint64_t t1 = now_ns();
    bool complete = mark_complete();
    /* An io_uring request carries pointers the kernel holds while it is in flight (user_data,
     * its buffers), where no scan sees them; liburing's system calls cannot be interposed. While
     * a ring is mapped, collect mode reclaims nothing (said once). Rings made with
     * IORING_SETUP_NO_MMAP have no mapping of their own and are not seen (README, limits). */
    bool uring = complete && opt.mode == MODE_COLLECT && roots_io_uring();
    if (uring) complete = false;
    if (complete) {
        /* madvise of freed spans waits until the world runs again: it is not part of the pause. */
        heap.defer_purge = true;
        if (heap.sticky_marks) gen_begin(minor, promote_all);
        gc_sweep(opt.mode == MODE_COLLECT);
        heap.defer_purge = false;
    } else {
        gcstats.skipped++;
        static bool uring_told;
        if (uring && !uring_told) {
            uring_told = true;
            log_line("this process uses io_uring, whose requests hold pointers only the kernel "
                     "sees: collect mode reclaims nothing while a ring is mapped "
                     "(COWGC_MODE=off or detect to run without collections)");
        } else if (roots_scan_failed())   /* else stw.c said why (verbose) */
            log_line("collection %llu: the roots could not be read (/proc/self/maps); nothing reclaimed",
                     (unsigned long long)gcstats.collections + 1);
    }
    uint64_t ts = now_ns();
    gen_after_collection(minor, complete);
    uint64_t t2 = now_ns();
    phase.sweep_ns = ts - t1;
    phase.rearm_ns = t2 - ts;
    baseline = atomic_load(&heap.in_use);
    proc_files_trust(false);
    stw_resume_all();
    heap_purge_if_needed();
    __atomic_store_n(&gc_epoch, gc_epoch + 1, __ATOMIC_RELEASE);
    uint64_t pause = t2 - t0;
    gcstats.collections++;
    gcstats.pause_total_ns += pause;
    if (pause > gcstats.pause_max_ns) gcstats.pause_max_ns = pause;
    gcstats.mark_ns += t1 - t0;
    gcstats.sweep_ns += t2 - t1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    uint64_t cpu = (uint64_t)(c1.tv_sec - c0.tv_sec) * 1000000000u + (uint64_t)c1.tv_nsec - (uint64_t)c0.tv_nsec +
                   par.helper_cpu_ns;
    gcstats.cpu_ns += cpu;
    if (opt.verbose) getrusage(RUSAGE_THREAD, &ru1);
    heap_unlock();
    if (opt.verbose)
        log_line("collection %llu (%s, %s): %llu us, live %llu KiB, traced %llu KiB"
                 " (stop %llu us, written pages %llu us, roots %llu us, mark %llu us, sweep %llu us, re-arm %llu us;"
                 " %llu pages written, %llu protected in %llu runs; promoted %llu KiB, rechecked %llu KiB; roots KiB: stacks %llu, data %llu, mappings %llu, old %llu,"
                 " tracked %llu, of which unwritten %llu, written %llu, protected again %llu;"
                 " cpu %llu us, preempted %ld times, page faults %ld; markers %u)",
                 (unsigned long long)gcstats.collections,
                 why ? why : "?", minor ? "minor" : "full", (unsigned long long)(pause / 1000),
                 (unsigned long long)(gcstats.live_bytes >> 10),
                 (unsigned long long)(gcstats.marked_bytes_last >> 10),
                 (unsigned long long)(phase.stop_ns / 1000),
                 (unsigned long long)(phase.written_ns / 1000), (unsigned long long)(phase.roots_ns / 1000),
                 (unsigned long long)((t1 - t0 - phase.stop_ns - phase.written_ns - phase.roots_ns) / 1000),
                 (unsigned long long)(phase.sweep_ns / 1000), (unsigned long long)(phase.rearm_ns / 1000),
                 (unsigned long long)(minor ? genstats.pages_written_last : 0),
                 (unsigned long long)genstats.protected_last, (unsigned long long)genstats.protect_runs_last,
                 (unsigned long long)(genstats.promoted_last >> 10),
                 (unsigned long long)(recheck ? genstats.rechecked_last >> 10 : 0),
                 (unsigned long long)(gcstats.roots_bytes[ROOT_STACK] >> 10),
                 (unsigned long long)((gcstats.roots_bytes[ROOT_DATA] + gcstats.roots_bytes[ROOT_TLS]) >> 10),
                 (unsigned long long)(gcstats.roots_bytes[ROOT_MAPPING] >> 10),
                 (unsigned long long)(gcstats.roots_bytes[ROOT_OLD] >> 10),
                 (unsigned long long)(genstats.root_tracked_last >> 10),
                 (unsigned long long)(genstats.root_skipped_last >> 10),
                 (unsigned long long)(genstats.root_written_last >> 10),
                 (unsigned long long)(genstats.root_protected_last >> 10),
                 (unsigned long long)(cpu / 1000), ru1.ru_nivcsw - ru0.ru_nivcsw, ru1.ru_minflt - ru0.ru_minflt,
                 par.used);
    errno = saved_errno;
}

/* Per-thread byte counts reach the shared counters only every FLUSH_NET bytes of net growth
 * (or FLUSH_ANY of allocation): a churning thread touches no shared line on its refills. */
#define FLUSH_NET ((uint64_t)256 << 10)
#define FLUSH_ANY ((uint64_t)64 << 20)

CHILD_PATH void gc_maybe_collect(struct tcache *tc)
{
    if (tc->alloc_bytes < tc->free_bytes + FLUSH_NET && tc->alloc_bytes < FLUSH_ANY) return;
    alloc_flush_counts(tc);
    uint64_t in_use = atomic_load_explicit(&heap.in_use, memory_order_relaxed);
    if (in_use > heap.peak_in_use) heap.peak_in_use = in_use;
    if (!gc_enabled) return;
    if (opt.young_trigger && gen_on()) {
        if (in_use > baseline && in_use - baseline > opt.young_trigger) gc_collect("trigger");
        return;
    }
    /* A forked child with generations keeps what its minor collections promote until a full
     * collection, garbage included (a block held by a stale word for two collections), and its
     * baseline creeps up with it. Its budget starts from what it inherited instead, so that
     * garbage comes out of the young budget and not out of private memory: the heap's extent
     * stays within the inheritance plus FORK_GROWTH, as with full collections. Never less than
     * MIN_TRIGGER of growth between two collections: the trigger is
     * in_use > max(base + threshold(base), baseline + MIN_TRIGGER), base = fork_base or baseline. */
    uint64_t fork_base = opt.young_trigger ? 0 : gen_fork_base();
    uint64_t base = fork_base && baseline > fork_base ? fork_base : baseline;
    if (in_use <= base + policy_floor(base) || in_use <= baseline + opt.min_trigger) return;
    if (in_use > base + policy_threshold(base)) gc_collect("trigger");
}

CHILD_PATH uint64_t gc_collections(void) { return gcstats.collections; }

/* Before fork, with generations: a child treats what is old at the fork as old, but traces
 * everything young it inherits at its first collection -- once per child, inside that child's
 * pause (forkyoung: 27 MiB of young list nodes over 224 MiB of old ones cost each child a 47-66 ms
 * first pause). When the young generation is large (a server that built data since its last
 * collection), one minor collection here does that work once, in the parent, and the
 * children share its marks. "Large" is FORK_YOUNG_SHARE of the heap and more than
 * MIN_TRIGGER: so a process that forks between every few MiB it allocates collects at most once
 * per max(MIN_TRIGGER, in_use / FORK_YOUNG_SHARE) bytes, and a shell's command substitutions
 * (a young generation of kilobytes) never. */
#define FORK_YOUNG_SHARE 32
CHILD_PATH void gc_before_fork(void)
{
    if (!gc_enabled || !gen_on() || gc_disabled()) return;
    struct tcache *tc = tls_tc;
    if (tc) alloc_flush_counts(tc);
    uint64_t in_use = atomic_load_explicit(&heap.in_use, memory_order_relaxed);
    uint64_t young = in_use > baseline ? in_use - baseline : 0;
    if (young > opt.min_trigger && young > in_use / FORK_YOUNG_SHARE) gc_collect("fork");
}

/* Statistics are per process: a forked child starts its counts of collections, pauses and
 * reclaimed blocks from zero (the heap state it inherited stays). */
CHILD_PATH void gc_fork_child(void)
{
    struct gc_stats fresh = { 0 };
    fresh.live_bytes = gcstats.live_bytes;
    fresh.live_blocks = gcstats.live_blocks;
    /* (A store that changes nothing still costs a copy-on-write fault after fork. Compared
     * word by word here rather than by memcmp: libc's memcmp lies on a page of its text the
     * child may not have touched, one more fault.) */
    _Static_assert(sizeof fresh % sizeof(uint64_t) == 0, "whole words");
    const uint64_t *a = (const uint64_t *)&gcstats, *b = (const uint64_t *)&fresh;
    bool same = true;
    for (size_t i = 0; i < sizeof fresh / sizeof *a; i++) same &= a[i] == b[i];
    if (!same) gcstats = fresh;
    /* Arming the child's write tracking is collector work: its CPU counts as the collector's.
     * (Without generations no clock is read: the thread CPU clock is a system call, and the
     * vDSO's page one more fault in a short-lived child.) */
    if (!gen_on()) return;
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    if (gen_arm_child()) {
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
        gcstats.cpu_ns += (uint64_t)(c1.tv_sec - c0.tv_sec) * 1000000000u + (uint64_t)c1.tv_nsec - (uint64_t)c0.tv_nsec;
    }
}

CHILD_PATH void gc_at_exit(void)
{
    leak_at_exit();
    if (opt.stats_json) stats_write_json(opt.stats_json);   /* the same figures, as JSON instead */
    else if (opt.stats) stats_print(log_fd());
}
