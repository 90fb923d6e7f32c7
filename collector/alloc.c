/* alloc.c -- the malloc family on top of spans: per-thread bins, remote frees, large blocks.
 *
 * Invariants (besides collector.h's I1-I6):
 *  - span.used == allocated slots + slots reserved in the owner's bin mask + slots in the
 *    owner's bin LIFO; a SMALL span with used == 0 that is nobody's current span can be given
 *    back (a span with LIFO slots never has used == 0, so the LIFO never points into a freed span).
 *  - A bin's mask holds only slots whose alloc bit is clear; the alloc bit is set when the slot
 *    is handed out, so the alloc bitmap is exact at every stop and double frees are visible.
 *  - Remote bits are a subset of alloc bits until folded (free checks the alloc bit first).
 *    A block whose remote bit is set is freed already: the owner's free checks that bit too
 *    (only when the span's remote_count says some may be set), so a free after another
 *    thread's is reported and ignored, never put in the LIFO to be handed out twice.
 *  - COWGC_MODE=off only: hold bits (collector.h, struct lifo_slot) are a subset of alloc bits
 *    and never share a slot with a remote bit; each marks a slot in exactly one thread's LIFO
 *    (LIFO_HELD), and every path that takes an alloc bit for "allocated" asks freed_by_other
 *    or the hold bit first (asserted where a held slot leaves a LIFO).
 *  - Across a window where busy == 0 inside a slow path, a thread holds no private reference to
 *    a span: it re-reads its lists after the window, so a collection in between is harmless.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "collector.h"
#include "scanner.h"

__thread struct tcache *tls_tc __attribute__((tls_model("initial-exec")));
/* Set once this thread's cache was given back at exit: later calls (glibc frees the DTV after
 * the key destructors) use the shared fallback cache instead of leaking a new one. */
static __thread int tls_exiting __attribute__((tls_model("initial-exec")));

/* Used, under heap_lock, by threads that have no cache of their own (exiting threads). */
COLD_BSS static struct tcache fallback_tc;
/* The first thread's cache (usually the main thread's, the only one of a forked shell): in
 * cowgc's data segment, beside the globals the fast paths read and usually within the 2 MiB
 * that hold libc's data, instead of a slab mapping of its own: a forked child's first touch of
 * every further 2 MiB region costs a page-table fault of its own (10-30 us measured in a VM). */
COLD_BSS static struct tcache first_tc;
static bool first_tc_taken;


static struct tcache *tc_free_list;
static void *fallback_alloc(size_t size);
static void *large_alloc(size_t size, size_t align, bool zero, size_t slack);
static char *tc_slab, *tc_slab_end;

/* ---- busy sections (I5) ---- */

static inline void busy_enter(struct tcache *tc)
{
    tc->busy = 1;
    atomic_signal_fence(memory_order_seq_cst);
    /* stw.c counted this thread as stopped while it slept with the signal blocked: it parks
     * before touching its cache (a no-op when that stop is over). */
    if (unlikely(tc->stop_pending)) stw_deferred_stop();
}

static inline void busy_leave(struct tcache *tc)
{
    atomic_signal_fence(memory_order_seq_cst);
    tc->busy = 0;
    atomic_signal_fence(memory_order_seq_cst);
    if (unlikely(tc->stop_pending)) stw_deferred_stop();   /* preserves errno */
}

/* The same for the fast paths, which call nothing in the middle (a call there costs every
 * malloc and free the registers it must save): false = a stop is pending, and the caller hands
 * over to a noinline function that calls stw_deferred_stop(). */
static inline bool busy_enter_fast(struct tcache *tc)
{
    tc->busy = 1;
    atomic_signal_fence(memory_order_seq_cst);
    return likely(!tc->stop_pending);
}

static inline bool busy_leave_fast(struct tcache *tc)
{
    atomic_signal_fence(memory_order_seq_cst);
    tc->busy = 0;
    atomic_signal_fence(memory_order_seq_cst);
    return likely(!tc->stop_pending);
}

/* ext := exact (I7): one read-modify-write of a word next to the alloc word's. */
static inline void ext_put(uint64_t *w, uint64_t bit, bool exact)
{
    *w = (*w & ~bit) | (exact ? bit : 0);
}

/* Hand out the lowest slot of the bin's mask (mask != 0) and say which bit of the word it is.
 * busy held. */
static inline void *bin_pop_mask(struct bin *b, uint64_t *bit)
{
    uint64_t m = b->mask;
    unsigned i = (unsigned)__builtin_ctzll(m);
    b->mask = m & (m - 1);
    *bit = 1ull << i;
    *b->allocw |= *bit;
    return (void *)(b->base + (uintptr_t)i * b->stride);
}

/* I9: zero the slot's bytes past the request. The slot holds no program data yet, so whole
 * words from the one holding byte `size` on may go: a few aligned stores, no call. */
static inline void clear_slack(void *p, size_t size, size_t cs)
{
    /* A slot being handed out holds nothing of the program's yet, so the bytes before the
     * request's end may be cleared too: in the classes 16 bytes apart (up to 128), the slack
     * lies in the slot's last 16 bytes, one store. */
    if (likely(cs <= 128)) {
        typedef uint64_t v2 __attribute__((vector_size(16), aligned(16)));
        *(v2 *)((char *)p + cs - 16) = (v2){ 0, 0 };
        return;
    }
    for (uintptr_t q = (uintptr_t)p + (size & ~(size_t)7), e = (uintptr_t)p + cs; q < e; q += 8)
        *(uint64_t *)q = 0;
}

/* What a collecting mode adds to handing out slot p (bit `bit` of ext word extw) for a
 * request of `size` in class c: the exact-fit bit (collect mode, I7) and the slack (I9). */
static inline void gc_hand_out(uint64_t *extw, uint64_t bit, void *p, size_t size, unsigned c)
{
    size_t cs = class_size[c];
    if (heap.track_ext) ext_put(extw, bit, size == cs);
    if (size != cs) clear_slack(p, size, cs);
}

/* The same, keeping the ext bit, for a request of `size` in class c, as bin_take_lifo.
 * gc: heap.clear_slack, or false where the caller knows the mode is off. */
static inline void *bin_take_mask_for(struct bin *b, size_t size, unsigned c, bool gc)
{
    uint64_t bit;
    void *p = bin_pop_mask(b, &bit);
    if (gc) gc_hand_out(b->extw, bit, p, size, c);
    return p;
}

/* Hand out the most recently freed slot of the bin (nlifo != 0) for a request of `size` in
 * class c (exact: size is the class's size, looked up only when the ext bitmap is kept). busy
 * held. */
static inline void *bin_take_lifo(struct bin *b, size_t size, unsigned c, bool gc)
{
    const struct lifo_slot *e = &b->lifo[--b->nlifo];
    /* A held slot (COWGC_MODE=off, where gc is false): allocated already, its hold bit goes. */
    if (!gc && unlikely(e->bit & LIFO_HELD)) {
        uint64_t g = e->bit & ~LIFO_HELD, bit = 1ull << (g & 63);
        cg_assert(heap.alloc_bm[g >> 6] & bit);
        uint64_t was = atomic_fetch_and_explicit(hold_word_of(g), ~bit, memory_order_relaxed);
        cg_assert(was & bit);
        (void)was;
        return (void *)e->user;
    }
    heap.alloc_bm[e->bit >> 6] |= 1ull << (e->bit & 63);
    if (gc) gc_hand_out(&heap.ext_bm[e->bit >> 6], 1ull << (e->bit & 63), (void *)e->user, size, c);
    return (void *)e->user;
}


/* ---- thread caches ---- */

static void bins_init(struct tcache *tc)
{
    for (unsigned c = 0; c < NCLASSES; c++) {
        struct bin *b = &tc->bins[c];
        memset(b, 0, sizeof *b);
        b->span = b->partial = b->full = NONE32;
        b->stride = class_size[c] + heap.hdr;
        b->lifo = tc->lifo[c];
    }
}

static struct tcache *tcache_new_locked(void)
{
    struct tcache *tc = tc_free_list;
    if (tc) {
        tc_free_list = tc->next;
        tc->remote_pending = 0;     /* (a fresh cache's is zero: its page, the last, is not written) */
    } else if (!first_tc_taken) {
        first_tc_taken = true;
        tc = &first_tc;
        /* Bins keep stale span addresses (base): as for the slab, the cache is no root
         * (cowgc's own data is none as a shared object; linked into a test program it is). */
        roots_exclude((uintptr_t)tc, (uintptr_t)(tc + 1));
    } else {
        if (tc_slab + sizeof *tc > tc_slab_end) {
            size_t len = 64 * sizeof *tc;
            void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED) return NULL;
            tc_slab = m;
            tc_slab_end = tc_slab + len;
            /* Bins keep stale span addresses (base): the caches must not be roots. */
            roots_exclude((uintptr_t)m, (uintptr_t)m + len);
        }
        tc = (struct tcache *)tc_slab;
        tc_slab += sizeof *tc;
    }
    /* Everything but the LIFO arrays (20 KiB, most of the cache), which are read only below
     * nlifo: a cache from a fresh mapping leaves them untouched, and a process that allocates
     * a little never faults those pages in. */
    memset(tc, 0, offsetof(struct tcache, bins));
    bins_init(tc);
    tc->in_use = true;
    tc->tid = (pid_t)syscall(SYS_gettid);
    tc->next = heap.tcaches;
    heap.tcaches = tc;
    return tc;
}

struct tcache *tcache_get(void)
{
    struct tcache *tc = tls_tc;
    if (likely(tc)) return tc;
    cowgc_ensure_init();
    if (tls_exiting) return NULL;
    heap_lock();
    tc = tcache_new_locked();
    heap_unlock();
    tls_tc = tc;
    hooks_thread_started(tc);
    return tc;
}

/* Move every byte counter of tc into the globals (under no lock: atomics). */
static void tcache_flush_counts(struct tcache *tc)
{
    if (tc->alloc_bytes | tc->free_bytes) {
        atomic_fetch_add_explicit(&heap.in_use, tc->alloc_bytes - tc->free_bytes, memory_order_relaxed);
        tc->alloc_bytes = tc->free_bytes = 0;
    }
    if (tc->nmalloc | tc->nfree) {
        atomic_fetch_add_explicit(&heap.nmalloc, tc->nmalloc, memory_order_relaxed);
        atomic_fetch_add_explicit(&heap.nfree, tc->nfree, memory_order_relaxed);
        tc->nmalloc = tc->nfree = 0;
        tc->nforeign = 0;
    }
}

/* After a remote bit was set in span s: flags, not counters. A load first keeps the span's and
 * the owner's lines shared while they are already set. The folder clears remote_count before it
 * exchanges the words, so a bit set after the exchange finds the flag clear and sets it again. */
static inline void remote_signal(struct span *s)
{
    if (!atomic_load_explicit(&s->remote_count, memory_order_relaxed))
        atomic_store_explicit(&s->remote_count, 1, memory_order_release);
    struct tcache *owner = s->owner;
    if (owner && !atomic_load_explicit(&owner->remote_pending, memory_order_relaxed))
        atomic_store_explicit(&owner->remote_pending, 1, memory_order_relaxed);
}

/* A held slot (gbit = chunk << 12 | slot) leaves this thread's LIFO without being handed out:
 * it becomes an ordinary remote free, for its span's owner (or adopter) to fold. The hold bit
 * goes first: in between, the slot is allocated with neither bit, which only a concurrent double
 * free of it could notice (then it goes unreported, see free_hold). */
static void held_release(struct tcache *tc, uint64_t gbit)
{
    struct span *s = span_at((uint32_t)(gbit >> 12));
    uint64_t bit = 1ull << (gbit & 63);
    uint64_t was = atomic_fetch_and_explicit(hold_word_of(gbit), ~bit, memory_order_relaxed);
    cg_assert(was & bit);
    (void)was;
    span_use(s, MAP_REMOTE);   /* I10: the flag before the bit */
    atomic_fetch_or_explicit((_Atomic uint64_t *)(heap.remote_bm + (gbit >> 6)), bit, memory_order_release);
    remote_signal(s);
    tc->free_bytes += s->size;
}

/* Give back the unhanded slots of a bin (LIFO and mask) and park its span on the partial list. */
static void bin_flush(struct tcache *tc, struct bin *b)
{
    const struct lifo_slot *lifo = tc->lifo[b - tc->bins];
    for (uint32_t i = 0; i < b->nlifo; i++) {
        if (lifo[i].bit & LIFO_HELD) {
            held_release(tc, lifo[i].bit & ~LIFO_HELD);
            continue;
        }
        struct span *s = span_at((uint32_t)(lifo[i].bit >> 12));   /* word / BM_WORDS */
        cg_assert(s->kind == SPAN_SMALL && s->used > 0);
        s->used--;
        tc->free_bytes += s->size;
    }
    b->nlifo = 0;
    if (b->span == NONE32) return;
    struct span *s = span_at(b->span);
    unsigned n = (unsigned)__builtin_popcountll(b->mask);
    s->used -= n;
    tc->alloc_bytes -= (uint64_t)n * s->size;
    b->mask = 0;
    b->allocw = b->extw = NULL;
    span_list_push(&b->partial, b->span, LIST_PARTIAL);
    b->span = NONE32;
}

/* World stopped, heap_lock held (I5 guarantees no cache is half-updated). Afterwards the
 * alloc bitmaps are exact: no slot is reserved in a bin, no free is pending in a remote bitmap
 * (so marking never sets the inline header of a block that is already free). */
void tcache_flush_all(void)
{
    for (struct tcache *tc = heap.tcaches; tc; tc = tc->next) {
        for (unsigned c = 0; c < NCLASSES; c++) bin_flush(tc, &tc->bins[c]);
        tcache_flush_counts(tc);
    }
    uint32_t top = atomic_load(&heap.top);
    for (uint32_t ci = 0; ci < top; ci++)
        if (span_at(ci)->kind == SPAN_SMALL) span_fold_remote(ci);
}

static void span_orphan_locked(uint32_t ci)
{
    struct span *s = span_at(ci);
    s->owner = NULL;
    span_fold_remote(ci);
    if (s->used == 0 && s->quar_until <= gc_collections()) {
        s->list = LIST_NONE;
        heap_run_free(ci);
    } else {
        span_list_push(&heap.orphans[s->cls], ci, LIST_ORPHAN);
    }
}

static void tcache_abandon_locked(struct tcache *tc)
{
    for (unsigned c = 0; c < NCLASSES; c++) {
        struct bin *b = &tc->bins[c];
        bin_flush(tc, b);
        uint32_t *lists[2] = { &b->partial, &b->full };
        for (int l = 0; l < 2; l++)
            while (*lists[l] != NONE32) {
                uint32_t ci = *lists[l];
                span_list_remove(lists[l], ci);
                span_orphan_locked(ci);
            }
    }
    tcache_flush_counts(tc);
}

/* Thread exit: hand the spans to the orphan lists, recycle the cache. */
void tcache_release(struct tcache *tc)
{
    if (!tc || tc == &fallback_tc) return;
    heap_lock();
    tcache_abandon_locked(tc);
    struct tcache **pp = &heap.tcaches;
    while (*pp && *pp != tc) pp = &(*pp)->next;
    if (*pp) *pp = tc->next;
    tc->in_use = false;
    tc->next = tc_free_list;
    tc_free_list = tc;
    tls_tc = NULL;
    tls_exiting = 1;
    heap_unlock();
}

/* A forked child's cache lets go of its held slots (alloc_fork_child clears their bits). */
static void held_drop(struct tcache *tc)
{
    for (unsigned c = 0; c < NCLASSES; c++) {
        struct bin *b = &tc->bins[c];
        uint32_t k = 0;
        for (uint32_t i = 0; i < b->nlifo; i++) {
            if (b->lifo[i].bit & LIFO_HELD) tc->free_bytes += class_size[c];
            else b->lifo[k++] = b->lifo[i];
        }
        b->nlifo = k;
    }
}

/* In the child of fork only the forking thread exists: every other cache is abandoned. Their
 * owners may have been inside a busy section at the fork, so lists and counts of their spans are
 * rebuilt from the bitmaps, which are exact word by word. */
CHILD_PATH void alloc_fork_child(void)
{
    struct tcache *me = tls_tc;
    /* The forking thread's cache was the only one (or there was none): no other owner can have
     * been inside a busy section, every small span is the forking thread's or an orphan on its
     * list, and the lists are as the parent left them. Nothing to rebuild, and nothing read:
     * in a forked child each first touch of a page is a fault of its own (the loop below read
     * every span's descriptor, about 100 us per child of fork_loop.sh). */
    struct tcache *tc = heap.tcaches, *keep = NULL;
    if (tc == me && (!me || !me->next)) {
        for (uint32_t ci = 0; config_debug && ci < atomic_load(&heap.top); ci++)
            cg_assert(span_at(ci)->kind != SPAN_SMALL || !span_at(ci)->owner || span_at(ci)->owner == me);
        return;
    }
    for (unsigned c = 0; c < NCLASSES; c++)
        if (heap.orphans[c] != NONE32) heap.orphans[c] = NONE32;
    heap.tcaches = NULL;
    while (tc) {
        struct tcache *next = tc->next;
        if (tc == me) { keep = tc; tc->next = NULL; }
        else if (tc == &fallback_tc) tc->in_use = false;   /* re-registered on next use */
        else { tc->in_use = false; tc->next = tc_free_list; tc_free_list = tc; }
        tc = next;
    }
    heap.tcaches = keep;
    /* Held slots (struct lifo_slot) of the threads that did not come along are held by no one
     * now. Ours are let go too, so that every hold bit can be cleared below: their blocks are
     * free again in their spans. */
    if (me) held_drop(me);
    uint32_t top = atomic_load(&heap.top);
    for (uint32_t ci = 0; ci < top; ci++) {
        struct span *s = span_at(ci);
        if (s->kind != SPAN_SMALL) continue;
        for (unsigned w = 0; span_uses(s, MAP_HOLD) && w < (s->nblocks + 63) / 64; w++) {
            uint64_t h = hold_words(ci)[w];
            if (!h) continue;
            alloc_words(ci)[w] &= ~h;
            hold_words(ci)[w] = 0;
            if (s->owner == me) s->used -= (uint32_t)__builtin_popcountll(h);   /* others: recounted */
        }
        if (s->owner == me) continue;
        uint64_t *a = alloc_words(ci), *r = remote_words(ci), *x = ext_words(ci);
        uint32_t used = 0;
        for (unsigned w = 0; w < (s->nblocks + 63) / 64; w++) {
            if (heap.track_ext) x[w] &= ~(r[w] & a[w]);
            if (s->flags & SF_KEPT) keep_words(ci)[w] &= ~(r[w] & a[w]);
            a[w] &= ~r[w];
            r[w] = 0;
            used += (uint32_t)__builtin_popcountll(a[w]);
        }
        atomic_store(&s->remote_count, 0);
        s->used = used;
        s->owner = NULL;
        s->list = LIST_NONE;
        s->next = s->prev = NONE32;
        if (used == 0) heap_run_free(ci);
        else span_list_push(&heap.orphans[s->cls], ci, LIST_ORPHAN);
    }
}

/* ---- small spans ---- */

static inline unsigned span_words(const struct span *s) { return (s->nblocks + 63) / 64; }

static inline uint64_t word_valid(const struct span *s, unsigned w)
{
    unsigned left = s->nblocks - w * 64;
    return left >= 64 ? ~0ull : ((1ull << left) - 1);
}

/* Fold remote frees into the alloc bitmap. Owner (busy) or collector (world stopped). */
uint32_t span_fold_remote(uint32_t ci)
{
    struct span *s = span_at(ci);
    if (atomic_load_explicit(&s->remote_count, memory_order_relaxed) == 0) return 0;
    atomic_store_explicit(&s->remote_count, 0, memory_order_seq_cst);
    uint64_t *a = alloc_words(ci), *r = remote_words(ci);
    uint32_t freed = 0;
    for (unsigned w = 0; w < span_words(s); w++) {
        if (!atomic_load_explicit((_Atomic uint64_t *)&r[w], memory_order_relaxed)) continue;
        uint64_t bits = atomic_exchange_explicit((_Atomic uint64_t *)&r[w], 0, memory_order_acquire);
        bits &= a[w];
        a[w] &= ~bits;
        if (heap.track_ext) ext_words(ci)[w] &= ~bits;   /* freed by the program, not reclaimed (I7) */
        if (s->flags & SF_KEPT) __atomic_fetch_and(&keep_words(ci)[w], ~bits, __ATOMIC_RELAXED);
        freed += (uint32_t)__builtin_popcountll(bits);
    }
    /* The freeing threads already counted these bytes and calls (free_remote). */
    s->used -= freed;
    return freed;
}

static void span_init_small(uint32_t ci, unsigned cls, struct tcache *owner, bool zeroed)
{
    struct span *s = span_at(ci);
    s->kind = SPAN_SMALL;
    s->cls = (uint8_t)cls;
    s->size = class_size[cls];
    s->stride = class_size[cls] + heap.hdr;
    s->recip = reciprocal(s->stride);
    s->nblocks = (uint32_t)(CHUNK_SIZE / s->stride);
    s->used = 0;
    s->owner = owner;
    atomic_store(&s->remote_count, 0);
    /* I6: a reused chunk holds old bytes where the new headers go. */
    if (heap.hdr && !zeroed)
        for (uint32_t i = 0; i < s->nblocks; i++)
            *(uint64_t *)(chunk_addr(ci) + (uintptr_t)i * s->stride) = 0;
}

/* Take the next word of the bin's span with free slots, from word `from` on. */
CHILD_PATH static bool bin_take_word(struct tcache *tc, struct bin *b, unsigned from)
{
    struct span *s = span_at(b->span);
    uint64_t *a = alloc_words(b->span);
    /* Before a word no one has used yet (fresh pages), take back what other threads freed in
     * this span: reusing touched memory first keeps a producer/consumer pair's RSS down. */
    if (from > s->hwm && atomic_load_explicit(&s->remote_count, memory_order_relaxed) &&
        span_fold_remote(b->span))
        from = 0;   /* (a rescan from the start only when the fold freed slots) */
    /* COWGC_QUARANTINE: slots the collector reclaimed stay out of use for a while (I7). */
    bool quarantine = s->quar_until > gc_collections();
    for (unsigned w = from; w < span_words(s); w++) {
        uint64_t free = ~a[w] & word_valid(s, w);
        if (quarantine) free &= ~ext_words(b->span)[w];
        if (!free) continue;
        unsigned n = (unsigned)__builtin_popcountll(free);
        b->mask = free;
        b->allocw = &a[w];
        b->extw = &ext_words(b->span)[w];
        b->word = w;
        b->base = chunk_addr(b->span) + (uintptr_t)w * 64 * s->stride + heap.hdr;
        if (w > s->hwm || !(s->flags & SF_HWM)) {
            s->hwm = w;
            __atomic_fetch_or(&s->flags, SF_HWM, __ATOMIC_RELAXED);   /* keep_set ORs in SF_KEPT */
        }
        s->used += n;
        if (!(s->flags & SF_YOUNG)) __atomic_fetch_or(&s->flags, SF_YOUNG, __ATOMIC_RELAXED);
        tc->alloc_bytes += (uint64_t)n * s->size;
        return true;
    }
    return false;
}

/* Refill bin c from the thread's own spans. busy is held. */
CHILD_PATH static bool bin_refill_local(struct tcache *tc, unsigned c)
{
    struct bin *b = &tc->bins[c];
    for (;;) {
        if (b->span != NONE32) {
            if (bin_take_word(tc, b, b->word + 1)) return true;
            struct span *s = span_at(b->span);
            if (atomic_load_explicit(&s->remote_count, memory_order_relaxed)) span_fold_remote(b->span);
            /* Slots freed behind the cursor (this thread's frees while the span was current do
             * not move it between lists) are found by starting over at word 0. Only a span that
             * is nearly full goes to the full list: a span parked there with free slots would
             * wait for a free that may never come while new spans are taken (issue 11). The LIFO
             * is empty here, so the rescan cannot hand out a slot it holds. */
            if (s->used < s->nblocks - s->nblocks / 8 && bin_take_word(tc, b, 0)) return true;
            span_list_push(&b->full, b->span, LIST_FULL);
            b->span = NONE32;
        }
        if (b->partial == NONE32 && atomic_load_explicit(&tc->remote_pending, memory_order_relaxed)) {
            atomic_store_explicit(&tc->remote_pending, 0, memory_order_relaxed);
            for (unsigned k = 0; k < NCLASSES; k++) {
                struct bin *bk = &tc->bins[k];
                uint32_t ci = bk->full;
                while (ci != NONE32) {
                    struct span *s = span_at(ci);
                    uint32_t next = s->next;
                    if (atomic_load_explicit(&s->remote_count, memory_order_relaxed)) {
                        span_fold_remote(ci);
                        if (s->used < s->nblocks) {
                            span_list_remove(&bk->full, ci);
                            span_list_push(&bk->partial, ci, LIST_PARTIAL);
                        }
                    }
                    ci = next;
                }
            }
        }
        if (b->partial == NONE32) return false;
        uint32_t ci = b->partial;
        span_list_remove(&b->partial, ci);
        b->span = ci;
        b->word = (uint32_t)-1;
        span_at(ci)->list = LIST_CURRENT;
        span_fold_remote(ci);
    }
}

#define POPULATE_MAX 4096                  /* up to a page: every page holds a slot's start */

/* Get a span for class c from the orphans or the chunk allocator onto tc's partial list.
 * Called with busy == 0; takes heap_lock. Returns false when the heap is exhausted. */
static bool bin_get_span(struct tcache *tc, unsigned c)
{
    struct bin *b = &tc->bins[c];
    bool got = false;
    uint32_t fresh = NONE32;
    heap_lock();
    while (heap.orphans[c] != NONE32) {
        uint32_t ci = heap.orphans[c];
        span_list_remove(&heap.orphans[c], ci);
        struct span *s = span_at(ci);
        s->owner = tc;
        span_fold_remote(ci);
        if (s->used < s->nblocks) { span_list_push(&b->partial, ci, LIST_PARTIAL); got = true; break; }
        span_list_push(&b->full, ci, LIST_FULL);
    }
    if (!got) {
        bool zeroed;
        uint32_t ci = heap_run_alloc(1, &zeroed);
        if (ci != NONE32) {
            span_init_small(ci, c, tc, zeroed);
            span_list_push(&b->partial, ci, LIST_PARTIAL);
            got = true;
            /* A class that already filled a span of this thread's will likely fill this one
             * too: its pages are faulted in at once (heap_populate). A class's first span is
             * left to fault page by page, so a class used a little costs no more RSS; so are
             * classes above POPULATE_MAX, whose blocks cover whole pages holding no block's
             * start, which a program may never touch (a big buffer per connection of which
             * it uses the start). */
            if (zeroed && b->full != NONE32 && class_size[c] <= POPULATE_MAX) fresh = ci;
        }
    }
    heap_unlock();
    if (fresh != NONE32) heap_populate(fresh, 1);
    return got;
}

static void *alloc_fail(size_t size)
{
    errno = ENOMEM;
    return NULL;
}

CHILD_PATH void *malloc_small_slow(size_t size)
{
    unsigned c = size_class(size);
    struct tcache *tc = tcache_get();
    if (unlikely(!tc)) return fallback_alloc(size);
    gc_maybe_collect(tc);
    struct bin *b = &tc->bins[c];
    bool retried = false;
    for (;;) {
        busy_enter(tc);
        cg_assert(b->nlifo == 0);
        if (b->mask || bin_refill_local(tc, c)) {
            void *p = bin_take_mask_for(b, size, c, heap.clear_slack);
            tc->nmalloc++;
            busy_leave(tc);
            if (unlikely(leak_capture)) leak_on_alloc(p, size);
            return p;
        }
        busy_leave(tc);
        if (bin_get_span(tc, c)) continue;
        if (retried) return alloc_fail(size);
        /* COWGC_MAX_HEAP or the reserve is reached: collect, then try once more. */
        gc_collect("heap limit");
        retried = true;
    }
}

/* ---- large blocks ---- */

/* slack: extra bytes of address space after the block, for realloc to grow into in place
 * (untouched, so they cost no memory). */
static void *large_alloc(size_t size, size_t align, bool zero, size_t slack)
{
    if (size > heap.size) return alloc_fail(size);
    if (size == 0) size = 1;   /* memalign(big, 0) still returns a unique block */
    size_t hdr = heap.hdr;
    size_t lead = align > CHUNK_SIZE ? align : (hdr ? (align > hdr ? align : hdr) : 0);
    /* span.offset (user - span start < lead) is 32 bits: larger alignments are refused. */
    if (lead > ((size_t)1 << 31)) return alloc_fail(size);
    size_t total = size + lead;
    if (total < size) return alloc_fail(size);
    if (total + slack > total && total + slack <= heap.size / 16) total += slack;
    uint32_t n = (uint32_t)((total + CHUNK_SIZE - 1) >> CHUNK_SHIFT);
    struct tcache *tc = tls_tc;
    if (tc) gc_maybe_collect(tc);
    for (int attempt = 0; attempt < 2; attempt++) {
        bool zeroed;
        heap_lock();
        uint32_t ci = heap_run_alloc(n, &zeroed);
        if (ci != NONE32) {
            struct span *s = span_at(ci);
            uintptr_t start = chunk_addr(ci);
            uintptr_t user = start + hdr;
            if (align > 16) user = (start + hdr + align - 1) & ~(uintptr_t)(align - 1);
            s->kind = SPAN_LARGE;
            s->offset = (uint32_t)(user - start);
            if (hdr && !zeroed) *(uint64_t *)(user - hdr) = 0;   /* I6 */
            s->size = (size + 15) & ~(size_t)15;
            alloc_words(ci)[0] = 1;
            heap_unlock();
            atomic_fetch_add_explicit(&heap.in_use, s->size, memory_order_relaxed);
            atomic_fetch_add_explicit(&heap.nmalloc, 1, memory_order_relaxed);
            if (zero && !zeroed) memset((void *)user, 0, size);
            if (unlikely(leak_capture)) leak_on_alloc((void *)user, size);
            return (void *)user;
        }
        heap_unlock();
        if (attempt == 0 && opt.mode != MODE_OFF) gc_collect("heap limit");
    }
    return alloc_fail(size);
}

static void large_free_locked(uint32_t ci)
{
    struct span *s = span_at(ci);
    atomic_fetch_sub_explicit(&heap.in_use, s->size, memory_order_relaxed);
    atomic_fetch_add_explicit(&heap.nfree, 1, memory_order_relaxed);
    heap_run_free(ci);
}

/* ---- the fallback cache: exiting threads allocate under heap_lock ---- */

static void *fallback_alloc(size_t size)
{
    unsigned c = size_class(size);
    heap_lock();
    if (!fallback_tc.in_use) {
        /* Registered like any cache, so a collection flushes its bins too. */
        bins_init(&fallback_tc);
        fallback_tc.in_use = true;
        fallback_tc.next = heap.tcaches;
        heap.tcaches = &fallback_tc;
    }
    struct tcache *tc = &fallback_tc;
    struct bin *b = &tc->bins[c];
    void *p = NULL;
    for (int attempt = 0; attempt < 2 && !p; attempt++) {
        if (b->mask || bin_refill_local(tc, c)) {
            p = bin_take_mask_for(b, size, c, heap.clear_slack);
            tc->nmalloc++;
            break;
        }
        bool zeroed;
        uint32_t ci = heap_run_alloc(1, &zeroed);
        if (ci == NONE32) break;
        span_init_small(ci, c, tc, zeroed);
        span_list_push(&b->partial, ci, LIST_PARTIAL);
    }
    tcache_flush_counts(tc);
    heap_unlock();
    if (p && unlikely(leak_capture)) leak_on_alloc(p, size);
    return p ? p : alloc_fail(size);
}

/* ---- entry points ---- */

/* The end of a fast malloc that found a stop pending. */
CHILD_PATH static __attribute__((noinline)) void *malloc_done(void *p)
{
    stw_deferred_stop();
    return p;
}

/* Everything but the common case: no cache yet, an empty bin, a pending stop, a large block. */
CHILD_PATH static __attribute__((noinline)) void *malloc_other(size_t size)
{
    if (size <= SMALL_MAX) {
        struct tcache *tc = tls_tc;
        unsigned c = size_class(size);
        if (tc) {
            struct bin *b = &tc->bins[c];
            busy_enter(tc);
            if (b->nlifo | b->mask) {
                void *p = b->nlifo ? bin_take_lifo(b, size, c, heap.clear_slack)
                                   : bin_take_mask_for(b, size, c, heap.clear_slack);
                tc->nmalloc++;
                busy_leave(tc);
                if (unlikely(leak_capture)) leak_on_alloc(p, size);
                return p;
            }
            busy_leave(tc);
        }
        return malloc_small_slow(size);
    }
    cowgc_ensure_init();
    return large_alloc(size, 16, false, 0);
}

/* The malloc family's common case: a small request served from this thread's bin of class c:
 * the LIFO's newest slot, else the lowest of the current word's mask. Anything else (no cache,
 * both empty, a pending stop (I5), stacks being recorded) goes to malloc_other, in tail position
 * so that the common case saves no registers. */
static inline __attribute__((always_inline)) void *malloc_fast(size_t size, bool ungated)
{
    struct tcache *tc = tls_tc;
    if (unlikely(tc == NULL || size > 1024 || (!ungated && leak_capture))) return malloc_other(size);
    unsigned c = class_of_small[(size + 15) >> 4];
    struct bin *b = &tc->bins[c];
    void *p;
    /* Ungated (malloc_gate clear): COWGC_MODE=off, where nothing stops the world (I5): no busy
     * section, and no slack or ext to keep. */
    if (!ungated && unlikely(!busy_enter_fast(tc))) { tc->busy = 0; return malloc_other(size); }
    bool gc = !ungated && heap.clear_slack;
    if (likely(b->nlifo)) {
        p = bin_take_lifo(b, size, c, gc);
    } else if (likely(b->mask)) {
        p = bin_take_mask_for(b, size, c, gc);
    } else {
        if (!ungated) tc->busy = 0;   /* nothing written: the full path re-enters and checks */
        return malloc_other(size);
    }
    tc->nmalloc++;
    if (!ungated && unlikely(!busy_leave_fast(tc))) return malloc_done(p);
    return p;
}

/* malloc for the family's other members (calloc, realloc, strdup, memalign): the keep table
 * is only malloc's, the rest is gated as in cg_malloc_caller. */
CHILD_PATH void *cg_malloc(size_t size)
{
    if (likely(!atomic_load_explicit(&malloc_gate, memory_order_relaxed))) return malloc_fast(size, true);
    return malloc_fast(size, false);
}

static __attribute__((noinline)) void *malloc_keep(size_t size, uintptr_t caller)
{
    void *p = cg_malloc(size);
    keep_slow(p, caller);
    return p;
}

/* Behind malloc_gate: the COWGC_KEEP table (callers outside its hull, nearly all, go straight
 * on), leak_capture, and the collecting modes' slack and ext bits. */
CHILD_PATH static __attribute__((noinline)) void *malloc_gated(size_t size, uintptr_t caller)
{
    const struct keep_table *t = atomic_load_explicit(&keep_tab, memory_order_acquire);
    if (unlikely(caller - t->lo < t->len)) return malloc_keep(size, caller);
    return malloc_fast(size, false);
}

/* One test of malloc_gate stands for the keep table's hull, leak_capture and the slot work of
 * the collecting modes, so COWGC_MODE=off's malloc runs one branch instead of four. malloc
 * stays a tail call with the frames and registers it had before. */
CHILD_PATH void *cg_malloc_caller(size_t size, uintptr_t caller)
{
    if (unlikely(atomic_load_explicit(&malloc_gate, memory_order_relaxed)))
        return malloc_gated(size, caller);
    cg_assert(!leak_capture && !heap.clear_slack && !heap.track_ext &&
              atomic_load_explicit(&keep_tab, memory_order_relaxed)->len == 0);
    return malloc_fast(size, true);
}

CHILD_PATH void *cg_calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) return alloc_fail(total);
    if (total > SMALL_MAX) {
        cowgc_ensure_init();
        return large_alloc(total, 16, true, 0);
    }
    void *p = cg_malloc(total);
    if (p) memset(p, 0, total);
    return p;
}

static void bad_free(const char *what, const void *p, const char *detail)
{
    char site[320] = "";
    leak_site_of((uintptr_t)p, site, sizeof site);
    report_error("%s(%p): %s%s; ignored", what, p, detail, site);
}

/* ---- blocks the collector reclaimed (I7) ---- */

/* p is where a block started that the collector reclaimed, and nothing was handed out there
 * since. *bytes: what the slot still holds (the collector never writes a user byte), or 0 when
 * only its chunk is known (released: the contents may be gone). Reads metadata only. */
static bool reclaimed_at(uintptr_t p, size_t *bytes)
{
    uintptr_t off = p - heap.base;
    *bytes = 0;
    if (off >= ((uintptr_t)atomic_load_explicit(&heap.top, memory_order_acquire) << CHUNK_SHIFT))
        return false;
    uint32_t c = (uint32_t)(off >> CHUNK_SHIFT), h = span_head(c);
    const struct span *s = span_at(h);
    if (s->kind == SPAN_SMALL) {
        uint32_t rel = (uint32_t)(off & (CHUNK_SIZE - 1));
        uint32_t idx = (uint32_t)(((uint64_t)rel * s->recip) >> 32);
        if (idx >= s->nblocks || rel != idx * s->stride + heap.hdr) return false;
        if (__atomic_load_n(&alloc_words(h)[idx >> 6], __ATOMIC_RELAXED) & (1ull << (idx & 63)))
            return false;
        if (!ext_test(h, idx)) return false;
        *bytes = s->size;
        return true;
    }
    if (s->kind == SPAN_LARGE && h + s->nchunks > c) {
        if (p != chunk_addr(h) + s->offset || (alloc_words(h)[0] & 1) || !ext_test(h, 0)) return false;
        *bytes = s->size;
        return true;
    }
    return heap.gone[c] != 0;
}

/* One line: the program used a block the collector reclaimed, so it had hidden every pointer
 * to it. Names the allocation site when stacks are recorded, and the COWGC_KEEP entry that
 * keeps what the allocating object allocates. */
static void report_reclaimed(const char *who, const void *p, const char *outcome)
{
    char site[320] = "", obj[64] = "", keep[160] = "";
    leak_site_object((uintptr_t)p, site, sizeof site, obj, sizeof obj);
    if (obj[0]) fmt(keep, sizeof keep, "; COWGC_KEEP=%s keeps the blocks %s allocates", obj, obj);
    else if (!leak_capture) fmt(keep, sizeof keep, "; COWGC_REPORT_RECLAIMED=1 names where it was allocated");
    report_error("%s(%p): the collector reclaimed this block: no pointer to it was visible "
                 "(hidden as an integer, XOR'd, as an offset, or in memory cowgc does not scan)%s%s; %s",
                 who, p, site, keep, outcome);
}

/* free of a block that is not allocated: reclaimed by the collector, or freed twice. */
static __attribute__((noinline, cold)) void free_unallocated(const char *who, void *p, const char *detail)
{
    int e = errno;
    size_t bytes;
    if (reclaimed_at((uintptr_t)p, &bytes)) report_reclaimed(who, p, "ignored");
    else bad_free(who, p, detail);
    errno = e;
}

/* Slow free: large blocks, foreign pointers, double frees. */
static void free_slow(void *p, uintptr_t off, const char *who)
{
    if (off >= ((uintptr_t)atomic_load_explicit(&heap.top, memory_order_acquire) << CHUNK_SHIFT)) {
        bad_free(who, p, "pointer was not allocated by cowgc (foreign pointer)");
        return;
    }
    uint32_t ci = (uint32_t)(off >> CHUNK_SHIFT);
    heap_lock();
    uint32_t h = span_head(ci);
    struct span *s = span_at(h);
    const char *why = NULL, *unalloc = NULL;
    uint32_t hidden_id = 0;
    bool hidden = false;
    if (s->kind == SPAN_LARGE && h + s->nchunks > ci) {
        if ((uintptr_t)p != chunk_addr(h) + s->offset) why = "pointer into the middle of a block";
        else if (!(alloc_words(h)[0] & 1)) unalloc = "double free";
        else if (heap.free_ignore) why = "";
        else {
            if (unlikely(heap.hidden_bm) && (__atomic_fetch_and(&hidden_words(h)[0], ~1ull, __ATOMIC_RELAXED) & 1)) {
                hidden = true;                /* reported once the lock is dropped */
                hidden_id = leak_stack_id(h, 0);
            }
            alloc_words(h)[0] = 0;
            if (heap.frozen_bm) frozen_clear(h, 0);
            large_free_locked(h);
        }
    } else if (s->kind == SPAN_SMALL) {
        why = "pointer into the middle of a block";
    } else {
        unalloc = "pointer into free heap memory (double free?)";
    }
    heap_unlock();
    if (hidden) keep_hidden_report(hidden_id, p, who);
    if (unalloc) free_unallocated(who, p, unalloc);
    else if (why && *why) bad_free(who, p, why);
}

/* Cold parts of free, out of line so the common path keeps few registers. Each preserves errno
 * (it may log or make system calls); the common path makes none. */
static __attribute__((noinline, cold)) void free_bad(const char *who, void *p, const char *detail)
{
    int e = errno;
    bad_free(who, p, detail);
    errno = e;
}

static __attribute__((noinline, cold)) void free_slow_keep_errno(void *p, uintptr_t off, const char *who)
{
    int e = errno;
    free_slow(p, off, who);
    errno = e;
}

/* A local free that found the LIFO full emptied its span, or freed a slot of a span on the full
 * list (s->used and tc->free_bytes already count the free): move the span. busy held. */
CHILD_PATH static __attribute__((noinline)) void free_span_settle(struct tcache *tc, struct span *s, uint32_t ci)
{
    struct bin *b = &tc->bins[s->cls];
    if (s->list == LIST_FULL) {
        span_list_remove(&b->full, ci);
        span_list_push(&b->partial, ci, LIST_PARTIAL);
    }
    /* An empty span is kept when it is the only spare of its class, or while reclaimed slots in
     * it are in quarantine; otherwise it goes back. */
    if (s->used != 0 || s->list != LIST_PARTIAL || (b->partial == ci && s->next == NONE32) ||
        s->quar_until > gc_collections()) {
        busy_leave(tc);
        return;
    }
    span_list_remove(&b->partial, ci);
    busy_leave(tc);
    int e = errno;
    heap_lock();
    /* A collection may have run between busy_leave and the lock: recheck ownership. */
    if (s->kind == SPAN_SMALL && s->owner == tc && s->used == 0 && s->list == LIST_NONE)
        heap_run_free(ci);
    heap_unlock();
    errno = e;
}

/* busy_leave for the fast paths' rare case, out of line. */
CHILD_PATH static __attribute__((noinline)) void free_leave(struct tcache *tc) { busy_leave(tc); }

/* A local free that found the LIFO full: the slot goes back to its span for real, counted
 * inline (in FIFO frees of more blocks than the LIFO holds, this is nearly every free); only
 * moving the span between lists costs a call. busy held (unless `ungated`: COWGC_MODE=off has
 * no busy sections, I5), and left on return. */
static inline __attribute__((always_inline)) void
free_to_span(struct tcache *tc, struct span *s, uint32_t ci, const bool ungated)
{
    tc->free_bytes += s->size;
    /* free_span_settle leaves a busy section: with none held it stores 0 over 0. */
    if (unlikely(--s->used == 0 || s->list == LIST_FULL)) { free_span_settle(tc, s, ci); return; }
    if (!ungated && unlikely(!busy_leave_fast(tc))) free_leave(tc);
}

/* Another thread's (or an orphaned) span: set the remote bit with one atomic OR. */
static __attribute__((noinline)) void free_remote(void *p, struct span *s, uint32_t ci, unsigned w,
                                                  uint64_t bit, const char *who)
{
    if (unlikely(!(__atomic_load_n(alloc_words(ci) + w, __ATOMIC_RELAXED) & bit))) {
        free_unallocated(who, p, "double free (block is not allocated)");
        return;
    }
    /* Held in another thread's LIFO (COWGC_MODE=off, struct lifo_slot): freed already. */
    if (unlikely(span_uses(s, MAP_HOLD)) && (atomic_load_explicit(hold_word_of((uint64_t)ci << 12 | w << 6),
                                                                  memory_order_relaxed) & bit)) {
        free_bad(who, p, "double free (already freed by another thread)");
        return;
    }
    /* I10: the flag before the bit, so whoever clears the span's words sees that there are some. */
    span_use(s, MAP_REMOTE);
    /* Written as a one-bit fetch_or whose other bits are unused, so that it compiles to one
     * locked bit-test-and-set: a compare-and-swap loop first loads the word (the line comes in
     * shared) and then asks for it exclusive, two transfers of a line other threads free into. */
    unsigned b = (unsigned)__builtin_ctzll(bit);
    bool was = atomic_fetch_or_explicit((_Atomic uint64_t *)(remote_words(ci) + w), 1ull << b,
                                        memory_order_release) & (1ull << b);
    if (unlikely(was)) {
        free_bad(who, p, "double free (already freed by another thread)");
        return;
    }
    if (unlikely(heap.frozen_bm)) frozen_clear(ci, (uint32_t)(w * 64 + __builtin_ctzll(bit)));
    remote_signal(s);
    /* Counted now, by the freeing thread, so memory waiting to be folded does not look like
     * growth to the collection trigger. */
    struct tcache *me = tls_tc;
    if (me) {
        me->nfree++;
        me->free_bytes += s->size;
    } else {
        atomic_fetch_add_explicit(&heap.nfree, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&heap.in_use, s->size, memory_order_relaxed);
    }
}

/* Bit `bit` of word w of span ci, allocated in its alloc bitmap: freed already by another thread
 * (a remote free not folded yet, or a slot held in that thread's LIFO)? */
static inline bool freed_by_other(const struct span *s, uint32_t ci, unsigned w, uint64_t bit)
{
    if (atomic_load_explicit(&s->remote_count, memory_order_relaxed) &&
        (__atomic_load_n(remote_words(ci) + w, __ATOMIC_RELAXED) & bit))
        return true;
    return span_uses(s, MAP_HOLD) &&
           (atomic_load_explicit(hold_word_of((uint64_t)ci << 12 | w << 6), memory_order_relaxed) & bit);
}

/* COWGC_MODE=off: a SMALL block of another thread's (or an orphaned) span goes onto this
 * thread's LIFO as a held slot (struct lifo_slot), to be reused here while its lines are in this
 * core's caches; with the LIFO full, to its owner (free_remote). One locked operation, as a
 * remote free takes. A double free of it by any thread sees its hold bit (or, here, a pending
 * remote free); two frees of one block racing on two threads can both pass. */
static __attribute__((noinline)) void free_hold(struct tcache *tc, void *p, struct span *s, uint32_t ci,
                                                uint32_t idx, const char *who)
{
    unsigned w = idx >> 6;
    uint64_t bit = 1ull << (idx & 63);
    struct bin *b = &tc->bins[s->cls];
    uint32_t n = b->nlifo;
    /* Only a thread whose frees are mostly of other threads' blocks (a quarter or more since its
     * counts were last flushed) holds. Elsewhere a held block, reused here, stays the other
     * thread's: each later free of it would be a foreign one too, where returning it made
     * it a local block again (mstress, whose blocks move between threads now and then, ran
     * 1.2x slower holding every one). */
    bool hold = (uint64_t)tc->nforeign++ * 4 >= tc->nfree;
    if (unlikely(n >= LIFO_CAP) || !hold) { free_remote(p, s, ci, w, bit, who); return; }
    if (unlikely(!(__atomic_load_n(alloc_words(ci) + w, __ATOMIC_RELAXED) & bit))) {
        free_unallocated(who, p, "double free (block is not allocated)");
        return;
    }
    span_use(s, MAP_HOLD);     /* I10: the flag before the bit */
    _Atomic uint64_t *h = hold_word_of((uint64_t)ci << 12 | idx);
    if (unlikely(atomic_fetch_or_explicit(h, bit, memory_order_acq_rel) & bit)) {
        free_bad(who, p, "double free (already freed by another thread)");
        return;
    }
    if (unlikely(atomic_load_explicit(&s->remote_count, memory_order_relaxed)) &&
        (__atomic_load_n(remote_words(ci) + w, __ATOMIC_RELAXED) & bit)) {
        atomic_fetch_and_explicit(h, ~bit, memory_order_relaxed);
        free_bad(who, p, "double free (already freed by another thread)");
        return;
    }
    b->lifo[n].user = (uintptr_t)p;
    b->lifo[n].bit = ((uint64_t)ci << 12 | idx) | LIFO_HELD;
    b->nlifo = n + 1;
    tc->nfree++;
}

/* A SMALL block of a span this thread owns goes onto its bin's LIFO. */
static inline __attribute__((always_inline)) void
free_owned(struct tcache *tc, struct span *s, uint32_t ci, uint32_t idx, void *p, const char *who)
{
    unsigned w = idx >> 6;
    uint64_t bit = 1ull << (idx & 63);
    busy_enter(tc);
    uint64_t *a = alloc_words(ci) + w;
    uint64_t v = *a;
    if (unlikely(!(v & bit))) {
        busy_leave(tc);
        free_unallocated(who, p, "double free (block is not allocated)");
        return;
    }
    /* A remote free of this block may wait to be folded: freed already. remote_count was
     * stored after the remote bit (free_remote), so a free that happened before ours shows. */
    if (unlikely(freed_by_other(s, ci, w, bit))) {
        busy_leave(tc);
        free_bad(who, p, "double free (already freed by another thread)");
        return;
    }
    *a = v & ~bit;
    if (heap.track_ext) ext_words(ci)[w] &= ~bit;   /* freed by the program (I7) */
    if (unlikely(s->flags & SF_KEPT)) __atomic_fetch_and(&keep_words(ci)[w], ~bit, __ATOMIC_RELAXED);
    if (unlikely(heap.frozen_bm)) frozen_clear(ci, idx);
    tc->nfree++;
    unsigned c = s->cls;
    struct bin *b = &tc->bins[c];
    uint32_t n = b->nlifo;
    if (unlikely(n >= LIFO_CAP)) { free_to_span(tc, s, ci, false); return; }
    b->lifo[n].user = (uintptr_t)p;
    b->lifo[n].bit = (uint64_t)ci << 12 | idx;    /* = (ci * BM_WORDS + w) << 6 | idx % 64 */
    b->nlifo = n + 1;
    busy_leave(tc);
}

/* Every free but the common one, with the checks in full: foreign pointers, large blocks,
 * pointers into a block, COWGC_FREE=ignore, other threads' blocks. */
CHILD_PATH static __attribute__((noinline)) void free_other(void *p, const char *who)
{
    uintptr_t off = (uintptr_t)p - heap.base;
    if (unlikely(off >= heap.size)) {
        if (p) free_bad(who, p, "pointer was not allocated by cowgc (foreign pointer)");
        return;
    }
    uint32_t ci = (uint32_t)(off >> CHUNK_SHIFT);
    struct span *s = span_at(ci);
    if (unlikely(s->kind != SPAN_SMALL)) { free_slow_keep_errno(p, off, who); return; }
    uint32_t rel = (uint32_t)(off & (CHUNK_SIZE - 1));
    uint32_t idx = (uint32_t)(((uint64_t)rel * s->recip) >> 32);
    if (unlikely(rel != idx * s->stride + heap.hdr || idx >= s->nblocks)) {
        free_bad(who, p, "pointer into the middle of a block");
        return;
    }
    if (unlikely(heap.free_ignore)) return;
    keep_hidden_check(ci, idx, p, who);
    unsigned w = idx >> 6;
    uint64_t bit = 1ull << (idx & 63);
    struct tcache *tc = tls_tc;
    if (unlikely(!tc || s->owner != tc)) {
        if (tc && !(s->flags & SF_KEPT) && !atomic_load_explicit(&malloc_gate, memory_order_relaxed))
            free_hold(tc, p, s, ci, idx, who);
        else
            free_remote(p, s, ci, w, bit, who);
        return;
    }
    free_owned(tc, s, ci, idx, p, who);
}

/* free_block's common case, once the span is this thread's, p a slot's start and no remote
 * free pending: the alloc bit cleared and the slot on the LIFO (or back to the span). */
static inline __attribute__((always_inline)) void
free_local(struct tcache *tc, struct span *s, uintptr_t ci, uint32_t idx, void *p, const char *who,
           const bool ungated)
{
    uint64_t gbit = ci << 12 | idx;   /* alloc_bm word << 6 | bit, as in the LIFO */
    uint64_t *a = heap.alloc_bm + (gbit >> 6);
    uint64_t bit = 1ull << (gbit & 63);
    struct bin *b = &tc->bins[s->cls];
    /* The cache is read only inside the busy section: a collection that ran before it may have
     * flushed the bin. Leaving it early is safe: free_other enters again (and parks when a
     * stop is pending) before it writes anything. */
    if (!ungated && unlikely(!busy_enter_fast(tc))) { tc->busy = 0; free_other(p, who); return; }
    uint64_t v = *a;
    /* A held slot (COWGC_MODE=off) is allocated in the bitmap, but freed: free_other says so. */
    if (unlikely(!(v & bit)) ||
        (ungated && unlikely(span_uses(s, MAP_HOLD)) && (atomic_load_explicit(hold_word_of(gbit), memory_order_relaxed) & bit))) {
        if (!ungated) tc->busy = 0;
        free_other(p, who);
        return;
    }
    cg_assert(idx < s->nblocks);
    *a = v & ~bit;
    if (!ungated && heap.track_ext) heap.ext_bm[gbit >> 6] &= ~bit;   /* freed by the program (I7) */
    tc->nfree++;
    uint32_t n = b->nlifo;
    if (unlikely(n >= LIFO_CAP)) { free_to_span(tc, s, (uint32_t)ci, ungated); return; }
    b->lifo[n].user = (uintptr_t)p;
    b->lifo[n].bit = gbit;
    b->nlifo = n + 1;
    if (!ungated && unlikely(!busy_leave_fast(tc))) free_leave(tc);
}

/* The common free: a SMALL block of a span this thread owns, not freed twice, nothing pending.
 * Calls nothing but in tail position (free_span_settle when a full LIFO's free moves a span); anything else
 * goes to free_other, which repeats the checks and does what free_owned does. */
static inline void free_block(void *p, const char *who)
{
    uintptr_t off = (uintptr_t)p - heap.base;
    struct tcache *tc = tls_tc;
    if (likely(off < heap.free_lim && tc != NULL)) {
        cg_assert(!heap.free_ignore && !heap.frozen_bm && !heap.hidden_bm);
        uintptr_t ci = off >> CHUNK_SHIFT;       /* < 2^32: off < heap.free_lim <= heap.size */
        struct span *s = heap.descs - ci;      /* span_at */
        /* The slot's offset (wrapping within the chunk below the first slot's header)
         * times the reciprocal: the high half is the slot, and the low half is below recip
         * exactly when p is a slot's start (sizeclass.c: the quotient is exact for offsets
         * below 2^16, and the remainder's share k*err stays below 2^16 < recip). No second
         * multiply, and no idx < nblocks test: idx <= nblocks < 4096 (the bit lies in this
         * chunk's words), and a pointer that passes the start test with idx == nblocks (the
         * tail past the last slot; in inline mode, the first header's bytes wrap to the
         * chunk's end) finds its bit clear, as bits past the last slot never get set, and
         * free_other reports it. */
        uint32_t rel = (uint16_t)((uint32_t)off - heap.hdr);   /* CHUNK_SIZE == 1 << 16 */
        uint64_t prod = (uint64_t)rel * s->recip;
        if (unlikely(s->owner != tc)) {
            /* Another thread's span, or an orphan: straight to the remote bit, after the
             * checks free_other makes first (so its messages stay exact). Anything but a
             * SMALL span (recip and nblocks mean nothing there) goes to free_other. */
            uint32_t idx = (uint32_t)(prod >> 32);
            if (likely(s->kind == SPAN_SMALL && (uint32_t)prod < s->recip && idx < s->nblocks &&
                       !(s->flags & SF_KEPT))) {
                if (likely(!atomic_load_explicit(&malloc_gate, memory_order_relaxed)))
                    free_hold(tc, p, s, (uint32_t)ci, idx, who);
                else
                    free_remote(p, s, (uint32_t)ci, idx >> 6, 1ull << (idx & 63), who);
                return;
            }
            free_other(p, who);
            return;
        }
        /* Only a SMALL span has an owner (heap.c clears it in every other descriptor):
         * owner == tc says SMALL without looking at kind. */
        cg_assert(s->kind == SPAN_SMALL);
        uint32_t idx = (uint32_t)(prod >> 32);
        /* remote_count: a remote free of this block may wait to be folded (free_owned checks
         * its bit). COWGC_MODE=off (malloc_gate clear) keeps no table (SF_KEPT) and no ext
         * bits, and has no busy sections (I5). */
        if (likely((uint32_t)prod < s->recip && !atomic_load_explicit(&s->remote_count, memory_order_relaxed))) {
            if (likely(!atomic_load_explicit(&malloc_gate, memory_order_relaxed))) {
                cg_assert(!(s->flags & SF_KEPT) && !heap.track_ext);
                free_local(tc, s, ci, idx, p, who, true);
                return;
            }
            if (!(s->flags & SF_KEPT)) {
                free_local(tc, s, ci, idx, p, who, false);
                return;
            }
        }
    }
    free_other(p, who);
}

CHILD_PATH void cg_free(void *p)
{
    free_block(p, "free");
}

size_t cg_usable_size(const void *p)
{
    if (!p) return 0;
    struct lookup lk;
    if (!heap_lookup((uintptr_t)p, &lk) || lk.user != (uintptr_t)p) {
        size_t bytes;
        if (reclaimed_at((uintptr_t)p, &bytes)) {
            int e = errno;
            report_reclaimed("malloc_usable_size", p, "returning 0");
            errno = e;
        }
        return 0;
    }
    struct span *s = span_at(lk.ci);
    /* Freed by another thread and not folded yet (or held): freed, as a block this thread freed is. */
    if (s->kind == SPAN_SMALL && unlikely(freed_by_other(s, lk.ci, lk.idx >> 6, 1ull << (lk.idx & 63))))
        return 0;
    return s->kind == SPAN_SMALL ? class_size[s->cls] : s->size;
}

/* realloc in place and memalign change whether the request fills the slot. The ext bit is the
 * owner's to write (I7); false when this thread is not the owner. */
static bool exact_update(uint32_t ci, uint32_t idx, bool exact)
{
    struct tcache *tc = tls_tc;
    if (!heap.track_ext) return true;
    if (!tc || span_at(ci)->owner != tc) return false;
    busy_enter(tc);
    ext_put(&ext_words(ci)[idx >> 6], 1ull << (idx & 63), exact);
    busy_leave(tc);
    return true;
}

/* realloc of a reclaimed block. Nothing the program did to it can be trusted to still be there
 * once its slot is reused, but until then the slot holds the old bytes: a new block gets them
 * (the program goes on as it would under glibc). A released chunk may have been purged: NULL. */
static void *realloc_reclaimed(void *p, size_t size, size_t bytes)
{
    int e = errno;
    if (!bytes) {
        report_reclaimed("realloc", p, "its contents are gone; returning NULL");
        errno = ENOMEM;
        return NULL;
    }
    report_reclaimed("realloc", p, "returning a new block holding the bytes it still had");
    errno = e;
    void *q = cg_malloc(size);
    if (q) memmove(q, p, bytes < size ? bytes : size);
    return q;
}

CHILD_PATH void *cg_realloc(void *p, size_t size)
{
    if (!p) return cg_malloc(size);
    struct lookup lk;
    size_t bytes;
    bool found = heap_lookup((uintptr_t)p, &lk);
    if (!found && size && reclaimed_at((uintptr_t)p, &bytes)) return realloc_reclaimed(p, size, bytes);
    if (size == 0) { cg_free(p); return NULL; }   /* glibc's behaviour */
    if (!found || lk.user != (uintptr_t)p) {
        bad_free("realloc", p, (uintptr_t)p - heap.base < heap.size
                 ? "pointer is not the start of an allocated block" : "pointer was not allocated by cowgc");
        errno = EINVAL;
        return NULL;
    }
    keep_hidden_check(lk.ci, lk.idx, p, "realloc");
    struct span *s = span_at(lk.ci);
    /* Freed by another thread, not yet folded: not allocated any more (see free_block). */
    if (s->kind == SPAN_SMALL && unlikely(freed_by_other(s, lk.ci, lk.idx >> 6, 1ull << (lk.idx & 63)))) {
        bad_free("realloc", p, "the block was already freed (by another thread)");
        errno = EINVAL;
        return NULL;
    }
    size_t old;
    if (s->kind == SPAN_SMALL) {
        old = class_size[s->cls];
        /* In place when the class fits and we do not waste more than half of it. Whether the
         * request now fills the slot must be recorded; exact = true is always safe (it can only
         * keep the block alive longer), so only a block becoming exact must move when this
         * thread may not write the bit. */
        if (size <= old && (size > old / 2 || old <= 16)) {
            bool exact = size == old;
            if (!heap.track_ext || exact == ext_test(lk.ci, lk.idx) || exact_update(lk.ci, lk.idx, exact) ||
                !exact) {
                /* I9: what the block held past its new end is stale now. */
                if (heap.clear_slack && !exact) memset((char *)p + size, 0, old - size);
                if (unlikely(leak_capture)) leak_on_alloc(p, size);   /* as LSan: realloc's site */
                return p;
            }
        }
    } else {
        old = s->size;
        /* Beyond the reserve nothing can hold it; checked before any chunk count is computed
         * (a uint32 count of 2^48 bytes' chunks would wrap to a small one). */
        if (size > heap.size - s->offset) return alloc_fail(size);
        uintptr_t cap = ((uintptr_t)s->nchunks << CHUNK_SHIFT) - s->offset;
        if (size <= cap && size >= old / 2) {
            size_t ns = (size + 15) & ~(size_t)15;
            heap_lock();
            atomic_fetch_add_explicit(&heap.in_use, ns - s->size, memory_order_relaxed);
            s->size = ns;
            heap_unlock();
            if (unlikely(leak_capture)) leak_on_alloc(p, size);
            return p;
        }
        /* Grow in place over a free run that follows the span. */
        if (size > cap) {
            uint32_t need = (uint32_t)((s->offset + size + CHUNK_SIZE - 1) >> CHUNK_SHIFT);
            if (heap_large_extend(lk.ci, need)) {
                size_t ns = (size + 15) & ~(size_t)15;
                atomic_fetch_add_explicit(&heap.in_use, ns - s->size, memory_order_relaxed);
                s->size = ns;
                if (unlikely(leak_capture)) leak_on_alloc(p, size);
                return p;
            }
        }
    }
    /* A block that keeps growing gets room to grow in place next time. */
    void *q = size > SMALL_MAX && size > old ? large_alloc(size, 16, false, size / 2) : cg_malloc(size);
    if (!q) return NULL;
    memcpy(q, p, old < size ? old : size);
    cg_free(p);
    return q;
}

void *cg_memalign(size_t align, size_t size)
{
    if (align <= 16) return cg_malloc(size);
    cowgc_ensure_init();
    if (heap.hdr == 0 && size <= SMALL_MAX) {
        unsigned c = size_class_aligned(size, align);
        if (c < NCLASSES) {
            void *p = cg_malloc(class_size[c]);
            if (p && heap.clear_slack) memset((char *)p + size, 0, class_size[c] - size);   /* I9 */
            if (p && unlikely(leak_capture)) leak_set_size(p, size);
            struct lookup lk;
            if (p && size != class_size[c] && heap_lookup((uintptr_t)p, &lk)) exact_update(lk.ci, lk.idx, false);
            return p;
        }
    }
    if (align > heap.size / 4) return alloc_fail(size);
    return large_alloc(size, align, false, 0);
}

/* ---- accounting for stats and the trigger ---- */

void alloc_flush_counts(struct tcache *tc) { tcache_flush_counts(tc); }
