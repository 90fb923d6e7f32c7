/* sweep.c -- return unmarked blocks to the allocator, or count them in detect mode.
 *
 * Invariants:
 *  - Out-of-line mode: never writes a heap page; a SMALL span is swept word by word with
 *    alloc &= mark (I1, I3). Inline mode: reads each allocated block's header and clears it
 *    when set (that write is the cost inline marking pays, recorded in page_bm).
 *  - World stopped, caches flushed: every SMALL span is in exactly one list (an owner's partial
 *    or full list, or the orphans), so an empty span can be unlinked and freed here.
 *  - Sweeping a span writes no other span's kind or flags (freeing a run may absorb the free
 *    chunks after it, which the sweep skips either way): gc_sweep decides on each span one
 *    step ahead of sweeping it, to prefetch its bitmaps meanwhile.
 *  - A reclaimed slot gets its ext bit (I7). In detect mode an unreachable block gets its hidden
 *    bit (keep.c), which only the program's free or realloc clears, unless it is an exact fit
 *    that its end pointer may hold.
 *    With COWGC_QUARANTINE=N, a span or LARGE block
 *    that lost blocks in collection k keeps them out of use until collection k + N has run:
 *    such a span is not released while empty, such a LARGE block keeps its chunks.
 */
#include <string.h>

#include "collector.h"
#include "scanner.h"

/* The number the running collection will have once it completes. */
static uint32_t this_collection(void) { return (uint32_t)gcstats.collections + 1; }

/* Reclaimed blocks of s must stay out of use after this collection. */
static bool quarantined(const struct span *s) { return s->quar_until > this_collection(); }

static void span_unlink(uint32_t ci)
{
    struct span *s = span_at(ci);
    switch (s->list) {
    case LIST_PARTIAL: span_list_remove(&s->owner->bins[s->cls].partial, ci); break;
    case LIST_FULL: span_list_remove(&s->owner->bins[s->cls].full, ci); break;
    case LIST_ORPHAN: span_list_remove(&heap.orphans[s->cls], ci); break;
    default: s->list = LIST_NONE; break;
    }
}

/* The marked bits of one word of a SMALL span; inline mode clears the headers it reads. */
static uint64_t word_marks(uint32_t ci, const struct span *s, unsigned w, uint64_t alloc)
{
    if (heap.mark == MARK_OUTOFLINE) return span_uses(s, MAP_MARK) ? mark_words(ci)[w] : 0;   /* I10 */
    uint64_t marks = 0;
    uintptr_t slot0 = chunk_addr(ci) + (uintptr_t)w * 64 * s->stride;
    for (uint64_t a = alloc; a; a &= a - 1) {
        unsigned b = (unsigned)__builtin_ctzll(a);
        uint64_t *h = (uint64_t *)(slot0 + (uintptr_t)b * s->stride);
        if (*h & 1) {
            marks |= 1ull << b;
            if (!heap.sticky_marks) *h = 0;
        }
    }
    return marks;
}

static void unmark(uint32_t ci, const struct span *s, unsigned w, uint64_t bits)
{
    if (heap.mark == MARK_OUTOFLINE) {
        mark_words(ci)[w] &= ~bits;
        return;
    }
    uintptr_t slot0 = chunk_addr(ci) + (uintptr_t)w * 64 * s->stride;
    for (; bits; bits &= bits - 1)
        *(uint64_t *)(slot0 + (uintptr_t)__builtin_ctzll(bits) * s->stride) = 0;
}

/* Detect mode (no ext bits): of the unreachable blocks `gone` in word w, those no end pointer
 * can have held: not exact fits by their requested size, or followed by an unreachable slot. */
static uint64_t hidden_candidates(uint32_t ci, const struct span *s, unsigned w, uint64_t gone)
{
    uint64_t out = gone & (gone >> 1);
    for (uint64_t g = gone & ~out; g; g &= g - 1) {
        unsigned b = (unsigned)__builtin_ctzll(g);
        if (leak_requested_size(ci, w * 64 + b, s->size) != s->size) out |= 1ull << b;
    }
    return out;
}

static void sweep_small(uint32_t ci, bool reclaim)
{
    struct span *s = span_at(ci);
    span_fold_remote(ci);
    uint64_t *a = alloc_words(ci);
    uint32_t dead = 0, live = 0;
    unsigned nw = (s->nblocks + 63) / 64;
    bool aged = false;
    for (unsigned w = 0; w < nw; w++) {
        uint64_t alloc = a[w];
        if (!alloc) continue;
        uint64_t marks = word_marks(ci, s, w, alloc) & alloc;
        if (heap.sticky_marks && reclaim) {
            /* Generations: a block reached for the first time stays young, unmarked, and is
             * traced again by the next minor collection (gen.c, G6). A word whose marked
             * blocks are all old already and holds no aged block has nothing to change. */
            size_t gi = (size_t)ci * BM_WORDS + w;
            bool used = span_uses(s, MAP_GEN);   /* I10 */
            if (used ? marks != genmeta.old_bm[gi] || genmeta.age_bm[gi] : marks != 0) {
                uint64_t stay = gen_age_word(ci, w, marks);
                if (stay) { unmark(ci, s, w, stay); aged = true; }
            }
        }
        if (unlikely(heap.frozen_bm) && ci < heap.frozen_top)
            marks |= heap.frozen_bm[(size_t)ci * BM_WORDS + w] & alloc;
        uint64_t gone = alloc & ~marks;
        live += (uint32_t)__builtin_popcountll(marks);
        if (!gone) continue;
        dead += (uint32_t)__builtin_popcountll(gone);
        /* Detect mode: remembered until the program frees them (keep.c). An exact fit may be
         * held by its end pointer, which detect mode does not follow, unless the next slot is
         * allocated and unmarked too: then no word pointed there. */
        if (!reclaim && heap.hidden_bm) hidden_words(ci)[w] |= hidden_candidates(ci, s, w, gone);
        if (reclaim) {
            a[w] = marks;
            ext_words(ci)[w] |= gone;
            leak_note_reclaimed(ci, w, gone);
        }
    }
    if (heap.sticky_marks && reclaim) {
        uint8_t f = (uint8_t)((s->flags & ~(SF_YOUNG | SF_AGED)) | (aged ? SF_AGED : 0));
        if (f != s->flags) s->flags = f;
    }
    uint64_t dead_bytes = (uint64_t)dead * s->size;
    gcstats.live_blocks += live;
    gcstats.live_bytes += (uint64_t)live * s->size;
    if (!reclaim) {
        gcstats.unreachable_blocks += dead;
        gcstats.unreachable_bytes += dead_bytes;
        return;
    }
    gcstats.reclaimed_blocks += dead;
    gcstats.reclaimed_bytes += dead_bytes;
    atomic_fetch_sub_explicit(&heap.in_use, dead_bytes, memory_order_relaxed);
    s->used -= dead;
    if (dead && opt.quarantine) s->quar_until = this_collection() + (uint32_t)opt.quarantine;
    if (s->used == 0 && !quarantined(s)) {
        span_unlink(ci);
        heap_run_free(ci);
    } else if (s->list == LIST_FULL && s->used < s->nblocks) {
        struct bin *b = &s->owner->bins[s->cls];
        span_list_remove(&b->full, ci);
        span_list_push(&b->partial, ci, LIST_PARTIAL);
    }
}

static void sweep_large(uint32_t ci, bool reclaim)
{
    struct span *s = span_at(ci);
    if (!(alloc_words(ci)[0] & 1)) {
        /* A reclaimed block in quarantine: its chunks go back once the quarantine is over. */
        if ((ext_words(ci)[0] & 1) && !quarantined(s)) heap_run_free(ci);
        return;
    }
    uintptr_t user = chunk_addr(ci) + s->offset;
    if (heap.sticky_marks && reclaim) {
        uint64_t *h = (uint64_t *)(user - INLINE_HDR);
        uint64_t own = heap.mark == MARK_INLINE ? *h & 1 : span_uses(s, MAP_MARK) && (mark_words(ci)[0] & 1);
        if (gen_age_word(ci, 0, own)) {       /* stays young (gen.c, G6) */
            if (heap.mark == MARK_INLINE) *h = 0;
            else mark_words(ci)[0] &= ~1ull;
            gcstats.live_blocks++;
            gcstats.live_bytes += s->size;
            return;
        }
    }
    bool marked = block_is_marked(ci, 0, user);   /* frozen blocks count as marked */
    if (heap.mark == MARK_INLINE && marked && !heap.sticky_marks) *(uint64_t *)(user - INLINE_HDR) = 0;
    if (marked) {
        gcstats.live_blocks++;
        gcstats.live_bytes += s->size;
        return;
    }
    if (!reclaim) {
        if (heap.hidden_bm && leak_requested_size(ci, 0, s->size) != s->size) hidden_words(ci)[0] |= 1;
        gcstats.unreachable_blocks++;
        gcstats.unreachable_bytes += s->size;
        return;
    }
    gcstats.reclaimed_blocks++;
    gcstats.reclaimed_bytes += s->size;
    leak_note_reclaimed(ci, 0, 1);
    alloc_words(ci)[0] = 0;
    ext_words(ci)[0] |= 1;
    atomic_fetch_sub_explicit(&heap.in_use, s->size, memory_order_relaxed);
    if (opt.quarantine) s->quar_until = this_collection() + (uint32_t)opt.quarantine;
    else heap_run_free(ci);
}

/* The bitmap lines sweep_small or sweep_large reads and writes for chunk ci: the sweep
 * waits for memory at each of them otherwise (five maps, each word of a span in a different
 * place: at about 240 young spans per minor collection, most of a sweep's time). */
static void sweep_prefetch(uint32_t ci)
{
    const struct span *s = span_at(ci);
    size_t bytes = s->kind == SPAN_SMALL ? (size_t)(s->nblocks + 63) / 64 * 8 : 8;
    size_t gi = (size_t)ci * BM_WORDS;
    bool gen = heap.sticky_marks && span_uses(s, MAP_GEN);   /* I10 */
    for (size_t off = 0; off < bytes; off += 64) {
        __builtin_prefetch((const char *)alloc_words(ci) + off, 1);
        if (span_uses(s, MAP_MARK)) __builtin_prefetch((const char *)mark_words(ci) + off, 1);
        __builtin_prefetch((const char *)ext_words(ci) + off, 1);
        if (gen) {
            __builtin_prefetch((const char *)(genmeta.old_bm + gi) + off, 1);
            __builtin_prefetch((const char *)(genmeta.age_bm + gi) + off, 1);
        }
    }
}

static void sweep_chunk(uint32_t ci, bool reclaim)
{
    uint8_t kind = span_at(ci)->kind;
    if (kind == SPAN_SMALL) sweep_small(ci, reclaim);
    else if (kind == SPAN_LARGE) sweep_large(ci, reclaim);
    if (heap.sticky_marks && reclaim) gen_span_swept(ci);
}

void gc_sweep(bool reclaim)
{
    gcstats.live_blocks = gcstats.live_bytes = 0;
    if (!reclaim) gcstats.unreachable_blocks = gcstats.unreachable_bytes = 0;
    if (!reclaim) keep_hidden_arm();
    uint32_t top = atomic_load(&heap.top);
    /* Each span is swept one step after its bitmaps were prefetched (see the invariants). */
    uint32_t pending = UINT32_MAX;
    for (uint32_t ci = 0; ci < top; ci++) {
        uint8_t kind = span_at(ci)->kind;
        if (kind == SPAN_SMALL) {
            const struct span *s = span_at(ci);
            /* A minor collection: a span that got no slot handed out and holds no aged block
             * holds old blocks only, all marked; nothing in it changes (SF_YOUNG). */
            if (genmeta.minor && reclaim && !(s->flags & (SF_YOUNG | SF_AGED)) && s->used &&
                !(s->list == LIST_FULL && s->used < s->nblocks) && !heap.frozen_bm) {
                gcstats.live_blocks += s->used;
                gcstats.live_bytes += (uint64_t)s->used * s->size;
                continue;
            }
        } else if (kind != SPAN_LARGE) {
            continue;
        }
        sweep_prefetch(ci);
        if (pending != UINT32_MAX) sweep_chunk(pending, reclaim);
        pending = ci;
    }
    if (pending != UINT32_MAX) sweep_chunk(pending, reclaim);
}
