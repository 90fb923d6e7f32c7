/* collector.h -- the heap, its side metadata, and the collector that marks and sweeps it.
 *
 * Layout (collector/README.md says why):
 *   heap    one reserved range [heap_base, heap_base + heap_size) cut into 64 KiB chunks.
 *           A span is a run of chunks: SMALL spans (one chunk) hold blocks of one size class,
 *           LARGE spans hold one block. Heap pages hold user bytes only -- except in
 *           COWGC_MARK=inline, where each block is preceded by a 16-byte header holding its
 *           mark bit (the baseline we compare against).
 *   descs   one struct span per chunk, in its own mapping: kind, class, owner, list links.
 *   bitmaps alloc / mark / remote / ext / keep, BM_WORDS words per chunk, each in its own
 *           mapping, indexed by chunk; a multi-chunk span owns the bits of all its chunks.
 *   gone    one byte per chunk: the chunk is free because the collector reclaimed what it held.
 *
 * Invariants:
 *  I1 Heap pages hold user bytes only (out-of-line mode): every allocator and collector write
 *     goes to descs/bitmaps/tcaches. Releasing a wholly free span with madvise is allowed.
 *  I2 Any address maps in O(1), without touching heap pages, to "inside block B" or "not ours":
 *     range check, chunk descriptor, reciprocal multiply (heap_lookup).
 *  I3 A block is allocated iff its alloc bit is set. Mark bitmaps have the same shape, so
 *     sweeping a span is alloc &= mark, word by word. No per-block bit (mark, old, age) is set
 *     at or past a span's block count, and a freed span clears the words it used: a new span
 *     finds every word past its own clear (gen_span_freed asserts it in debug builds).
 *  I4 A SMALL span's blocks are handed out only by its owner thread (from tcache bins);
 *     other threads free into the span's remote bitmap with atomics; the owner or the
 *     collector (world stopped) folds remote bits into alloc.
 *  I5 A thread modifies its tcache or an owned span only inside tc->busy; the stop signal
 *     handler defers while busy is set, so the stopped world never sees a half-done update.
 *     Nobody waits for heap_lock while busy (the collector holds heap_lock while it stops).
 *     Only collections and detect mode's leak checks stop the world, so COWGC_MODE=off
 *     (malloc_gate clear) has no stops, and malloc's and free's fast paths enter no busy
 *     section there (stw_stop_all asserts the mode in debug builds).
 *  I6 Outside a collection, every inline mark header is zero and mark bitmaps are don't-care --
 *     unless generations are on (heap.sticky_marks): then a set mark on an allocated block
 *     means "old" (gen.c, G1), and only a full collection clears marks.
 *  I7 (Collect mode only, heap.track_ext: no other mode reads or writes these bits, nor
 *     heap.gone, so they stay clear there and their pages are never touched.) The ext bit of a SMALL slot means "exact fit" while the slot is allocated (the request
 *     filled the slot, so p + size is the next slot's start: the mark phase keeps the block
 *     alive through such a one-past-the-end pointer) and "reclaimed by the collector, not handed
 *     out since" while it is free. Every hand-out writes it (= exact), every free by the program
 *     clears it, a reclaiming sweep sets it. Bit 0 of a LARGE span's word: reclaimed and kept in
 *     quarantine (alloc bit clear). A LARGE block's exact fit is read from its descriptor.
 *  I10 A span's remote, out-of-line mark, old and age words are all zero unless its `maps` says
 *     that map may hold bits (a span starts with maps == 0 and its words clear, I3). Nothing
 *     reads or clears a map's words for a span that never used it: in a forked child each
 *     first touch of a page nobody wrote is a fault (a demo worker's first collection took
 *     ~130 page faults, ~90 of them on such pages; now ~40).
 *  I9 (Collect and detect modes, heap.clear_slack.) A SMALL slot is handed out with the bytes
 *     past the request zero, and an in-place realloc zeroes them again: the mark phase scans
 *     the whole slot, and stale pointers left there by the slot's earlier blocks would keep
 *     dead blocks alive (collect mode; with generations they were promoted: old garbage that
 *     every minor collection rescans where it shares pages with young blocks) or hide leaks
 *     that LeakSanitizer, which scans only the requested bytes, reports (detect mode).
 *     Writing there is writing a block the program is about to fill; no other heap write is
 *     added (I1).
 *  I8 A keep bit (COWGC_KEEP) is set only on allocated blocks of spans with SF_KEPT; a kept block
 *     is a root of every collection. Free and remote folding clear it; all its writers use
 *     atomics (the realloc of another thread may set one). Its chunk's bit in heap.kept_chunks
 *     is set too (keep_set; never cleared), unless heap.kept_all: mark_kept visits only those.
 */
#ifndef COWGC_COLLECTOR_H
#define COWGC_COLLECTOR_H

#include <elf.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../preload/preload.h"

#define CHUNK_SHIFT 16
#define CHUNK_SIZE ((size_t)1 << CHUNK_SHIFT)
#define GRANULE 16
#define BM_WORDS (CHUNK_SIZE / GRANULE / 64)   /* 64 words = 4096 bits per chunk */
_Static_assert(BM_WORDS == 64, "lifo_slot.bit >> 12 is the chunk: 6 bits of word, 6 of bit");
#define INLINE_HDR 16                           /* inline mark header, keeps 16-byte alignment */
#define NCLASSES 40
#define SMALL_MAX 32768                         /* larger requests get a LARGE span */
#define NONE32 0xffffffffu
#define HEAP_MIN_RESERVE ((size_t)1 << 20)      /* the smallest reserve start-up settles for */

enum span_kind { SPAN_UNUSED = 0, SPAN_SMALL, SPAN_LARGE, SPAN_CONT, SPAN_FREE, SPAN_FREE_TAIL };
enum span_list { LIST_NONE = 0, LIST_CURRENT, LIST_PARTIAL, LIST_FULL, LIST_ORPHAN, LIST_DIRTY, LIST_CLEAN };
/* SF_EXACT: during a collection, some allocated slot of this SMALL span is an exact fit (I7);
 * the mark loop skips the one-past-the-end test in spans without it. Computed from the ext and
 * alloc bitmaps when a collection starts (world stopped), so the allocator never writes it. */
/* SF_YOUNG: a bin took slots of this SMALL span since the last collection (set by the allocator,
 * cleared by the sweep); SF_AGED: the span holds blocks that survived one minor collection young
 * (gen.c, G6). A minor collection neither sweeps nor recomputes SF_EXACT for a span with
 * neither, and its marking does not look up words pointing there: every allocated block in it
 * is old, so marked (its last sweep left alloc == marks; a slot taken since keeps the mark of
 * the block freed from it, G1), except COWGC_FORK_FREEZE's frozen blocks (gc.c). */
enum span_flag { SF_ZEROED = 1, SF_CLEAN = 2, SF_HWM = 4, SF_KEPT = 8, SF_EXACT = 16, SF_YOUNG = 32, SF_AGED = 64 };

/* Side maps a span's words may be nonzero in (a superset, I10): MAP_REMOTE, the remote bitmap
 * (set by free_remote before its first bit); MAP_GEN, the old and age bitmaps (set by the sweep
 * before it writes a nonzero word); MAP_MARK, the out-of-line mark bitmap (set by the marker
 * with the span's first mark bit, before any sweep reads it); MAP_HOLD, the hold bits
 * (COWGC_MODE=off only, see hold_words; set by free_hold before its first bit). Cleared with
 * all the words. */
enum span_map { MAP_REMOTE = 1, MAP_GEN = 2, MAP_MARK = 4, MAP_HOLD = 8 };

struct tcache;

/* One per chunk. Only the head chunk of a span carries the span's state; CONT and FREE_TAIL
 * chunks carry `nchunks` = distance back to the head. */
struct span {
    uint8_t kind;          /* enum span_kind */
    uint8_t cls;           /* SMALL: size class */
    uint8_t list;          /* enum span_list: which list `next/prev` link into */
    uint8_t flags;         /* enum span_flag */
    uint32_t nchunks;      /* heads: chunks in the span/run; CONT, FREE_TAIL: distance to head */
    uint32_t stride;       /* SMALL: bytes per slot (class size, + INLINE_HDR in inline mode) */
    uint32_t recip;        /* SMALL: ceil(2^32 / stride); slot = (off * recip) >> 32 */
    uint32_t nblocks;      /* SMALL: slots in the span */
    uint32_t used;         /* SMALL: allocated + reserved in the owner's bin */
    union {
        uint32_t offset;   /* LARGE: user pointer - span start */
        uint32_t hwm;      /* SMALL: highest bitmap word ever handed out (valid with SF_HWM) */
    };
    _Atomic uint32_t remote_count; /* SMALL: nonzero when remote frees may wait to be folded */
    uint64_t size;         /* LARGE: usable size; SMALL: class size */
    struct tcache *owner;  /* SMALL: owning thread cache, NULL when orphaned; NULL in all others */
    uint32_t next, prev;   /* chunk indexes of list neighbours, NONE32 at the ends */
    union {
        uint64_t dirty_since; /* FREE runs: when the run last became dirty (ns), for purge decay */
        struct {
            uint32_t quar_until;  /* SMALL, LARGE: reclaimed slots stay out of use while the number
                                     of collections is below this (COWGC_QUARANTINE) */
            _Atomic uint8_t maps; /* SMALL, LARGE: enum span_map */
        };
    };
};
_Static_assert(sizeof(struct span) == 64, "one descriptor per cache line");

static inline bool span_uses(const struct span *s, unsigned map)
{
    return atomic_load_explicit(&s->maps, memory_order_relaxed) & map;
}

static inline void span_use(struct span *s, unsigned map)
{
    if (!span_uses(s, map)) atomic_fetch_or_explicit(&s->maps, (uint8_t)map, memory_order_relaxed);
}

/* The words a SMALL or LARGE span uses in each per-slot map: one per 64 slots, or bit 0 of one. */
static inline unsigned span_map_words(const struct span *s)
{
    return s->kind == SPAN_SMALL ? (s->nblocks + 63) / 64 : 1;
}

#define LIFO_CAP 32
#define LIFO_HELD (1ull << 63)     /* lifo_slot.bit of a held slot (above any chunk << 12 | slot) */

/* A thread's cache for one size class, one cache line (the fast paths index bins with a shift).
 * The LIFO (tcache.lifo[class]) holds slots this thread freed recently, so a program that frees
 * and allocates reuses warm blocks without touching its span's lists:
 *   LIFO slots are free in the alloc bitmap (so a double free is still seen), still counted in
 *   span.used, and lie in spans this thread owns; the mask is refilled only when the LIFO is
 *   empty, so a refill never hands out a slot the LIFO also holds.
 *   Held slots (bit has LIFO_HELD; COWGC_MODE=off only): blocks of another thread's (or an
 *   orphaned) span that this thread freed. It reuses them while their lines are still in its
 *   own caches, as glibc's and jemalloc's thread caches do, instead of sending each back to
 *   its owner's core. A held slot stays allocated in the alloc bitmap and counted in span.used
 *   (so its span is never freed or handed to another class under it, and its owner never hands
 *   it out), and has its hold bit set (hold_words): a second free by anyone sees that bit (the
 *   owner's fast path looks at it on spans flagged MAP_HOLD; every other path through
 *   freed_by_other). A held slot leaves the LIFO by malloc (hold bit cleared) or by bin_flush
 *   (hold bit cleared, then a remote free). */
struct lifo_slot {
    uintptr_t user;        /* the block */
    uint64_t bit;          /* its alloc bit: chunk << 12 | slot = alloc_bm word index << 6 | bit */
};

struct bin {
    uint32_t nlifo;        /* entries in the class's lifo[] */
    uint32_t stride;       /* bytes per slot of this class: class size (+ INLINE_HDR) */
    uint64_t mask;         /* free slots of the current word, handed out lowest first */
    uint64_t *allocw;      /* the alloc bitmap word the mask belongs to */
    uint64_t *extw;        /* and its ext bitmap word (I7) */
    uintptr_t base;        /* user address of slot 0 of that word */
    uint32_t span;         /* chunk of the current span, NONE32 if none */
    uint32_t word;         /* index of the current word within the span's bitmap */
    uint32_t partial, full;/* heads of this thread's lists of spans of this class */
    struct lifo_slot *lifo;/* = tcache.lifo[class]: the fast paths index it without the class */
} __attribute__((aligned(64)));
_Static_assert(sizeof(struct bin) == 64, "bins are indexed with a shift");


struct tcache {
    /* The owner's fast paths write this line and the bins. */
    volatile int busy;             /* I5 */
    volatile int stop_pending;     /* set by the stop handler when it found busy */
    uint64_t nmalloc, nfree;       /* counts since last flush into global stats */
    uint64_t alloc_bytes;          /* bytes reserved since the last flush into heap.in_use */
    uint64_t free_bytes;           /* bytes freed locally since then */
    struct tcache *next;           /* registry, under heap_lock */
    pid_t tid;
    uint32_t nforeign;             /* of nfree, frees of other threads' blocks (free_hold) */
    bool in_use;
    struct bin bins[NCLASSES];
    struct lifo_slot lifo[NCLASSES][LIFO_CAP];
    /* Written by other threads: on its own cache line so remote frees do not bounce the line
     * that the owner's fast path writes, and far from it (beside the owner's line, as the
     * adjacent-line prefetcher pairs lines, it cost churn-8t and shbench 9-10% CPU). */
    _Alignas(64) _Atomic uint32_t remote_pending;
};

/* Global heap state. Written under heap_lock unless the field says otherwise. */
struct heap {
    /* Read by every malloc and free: one cache line. */
    uintptr_t base;        /* heap_base, CHUNK_SIZE aligned */
    size_t size;           /* bytes reserved */
    struct span *descs;
    uint64_t *alloc_bm;
    uint64_t *ext_bm;      /* I7: exact fit (allocated) / reclaimed (free) */
    size_t free_lim;       /* free's fast path takes offsets below this: size, or 0 where it must
                              not run (free_ignore, and the modes that ever set frozen_bm or
                              hidden_bm: detect, COWGC_FORK_FREEZE) */
    uint32_t hdr;          /* INLINE_HDR or 0 */
    bool free_ignore;      /* COWGC_FREE=ignore in collect mode: free() is a no-op */
    bool track_ext;        /* collect mode: the allocator keeps the ext bitmap (I7) */
    bool clear_slack;      /* collect and detect modes: slots are handed out with clean slack (I9) */
    uint32_t nchunks_max;
    _Atomic uint32_t top;  /* chunks ever handed out: [base, base + top*CHUNK) is the live range */
    uint64_t *frozen_bm;   /* COWGC_FORK_FREEZE in a forked child: blocks inherited, untraced */
    uint64_t *mark_bm, *remote_bm;
    uint64_t *keep_bm;     /* I8: COWGC_KEEP blocks */
    uint64_t *hidden_bm;   /* detect mode: allocated, and unreachable at the last collection (keep.c) */
    uint8_t *gone;         /* per chunk: freed by the collector's reclaim, not reused since */
    bool kept_any;         /* some block was ever kept (COWGC_KEEP) */
    uint64_t *_Atomic kept_chunks;   /* bit per chunk that got a keep bit since (keep_set; a superset,
                                        never cleared): what mark_kept visits */
    bool kept_all;         /* a keep found no kept_chunks map (mmap failed): mark_kept visits every chunk */
    bool end_pointers;     /* collect mode: p + size keeps an exact-fit block alive (I7) */
    uint64_t *page_bm;     /* inline mode: heap pages the collector wrote this collection */
    uint32_t frozen_top;   /* chunks that existed at the fork */
    size_t meta_bytes;     /* bytes reserved for descs + bitmaps (for roots exclusion) */
    uintptr_t meta_lo, meta_hi;
    int mark;              /* opt.mark, copied: the layout never changes after start-up */
    bool defer_purge;      /* a collection is sweeping: madvise after the world resumes */
    bool sticky_marks;     /* generations: marks survive sweeping (gen.c G1) */
    pthread_mutex_t lock;
    struct tcache *tcaches;/* registry of all thread caches */
    uint32_t orphans[NCLASSES];       /* SMALL spans without owner */
    uint32_t free_runs[65];           /* free chunk runs by length, [64] = longer */
    uint64_t dirty_bytes;             /* freed but not purged */
    /* accounting, in bytes */
    _Atomic uint64_t in_use;          /* bytes in allocated blocks; small: counted at refill/flush */
    uint64_t peak_in_use;
    uint64_t mapped;                  /* chunks in SMALL/LARGE spans x CHUNK_SIZE */
    uint64_t peak_mapped;
    uint64_t purged;                  /* bytes returned to the OS */
    _Atomic uint64_t nmalloc, nfree;
};
HIDDEN extern struct heap heap;

/* sizeclass.c */
HIDDEN extern const uint32_t class_size[NCLASSES];
/* Classes: 16..128 in steps of 16, then 4 per power of two up to 32 KiB. */
HIDDEN extern const uint8_t class_of_small[65];
static inline unsigned size_class(size_t size)
{
    if (size <= 1024) return class_of_small[(size + 15) >> 4];
    /* 4 classes per power of two: class = 4*log2 + the two bits below the top one. */
    size_t s = size - 1;
    unsigned lg = 63 - (unsigned)__builtin_clzl(s);
    return (unsigned)(4 * lg + ((s >> (lg - 2)) & 3)) - 20;
}
HIDDEN unsigned size_class_aligned(size_t size, size_t align); /* NCLASSES if none fits */
HIDDEN uint32_t reciprocal(uint32_t stride);

/* heap.c: chunk runs and spans (under heap_lock unless noted) */
HIDDEN int heap_init(void);
/* The slide (< REGION_BYTES) that puts address edge in the middle of a 2 MiB region: a table
 * that runs downwards from edge and one that runs upwards from it then share one page table
 * while they are small (the descriptors and alloc bits, the depot, the leak slices). */
enum { REGION_BYTES = 2 << 20 };
static inline size_t region_mid_slide(uintptr_t edge)
{
    uintptr_t want = (edge & ~(uintptr_t)(REGION_BYTES - 1)) + REGION_BYTES / 2;
    return (want < edge ? want + REGION_BYTES : want) - edge;
}
/* Where the heap starts in a reserve mapped at raw (mapped LOW_GUARD + REGION_BYTES larger than
 * the heap): 2 MiB aligned, and at least LOW_GUARD into its 4 GiB window (why: heap.c). */
enum { LOW_GUARD = 16 << 20 };
#define LOW_WINDOW (UINT64_C(1) << 32)
HIDDEN uintptr_t heap_base_for(uintptr_t raw);
static inline uintptr_t chunk_addr(uint32_t ci) { return heap.base + ((uintptr_t)ci << CHUNK_SHIFT); }
static inline uint32_t chunk_of(uintptr_t p) { return (uint32_t)((p - heap.base) >> CHUNK_SHIFT); }
static inline struct span *span_at(uint32_t ci) { return heap.descs - ci; }   /* descending: see heap_init */
/* The head chunk of the span or free run containing chunk ci. Chunks inside a free run may hold
 * stale distances (coalescing does not rewrite them), so the result must be checked against the
 * head's own extent; a distance that would reach below chunk 0 yields ci itself. */
static inline uint32_t span_head(uint32_t ci)
{
    const struct span *s = span_at(ci);
    if (s->kind != SPAN_CONT && s->kind != SPAN_FREE_TAIL) return ci;
    return s->nchunks <= ci ? ci - s->nchunks : ci;
}
static inline uint64_t *alloc_words(uint32_t ci) { return heap.alloc_bm + (size_t)ci * BM_WORDS; }
static inline uint64_t *mark_words(uint32_t ci) { return heap.mark_bm + (size_t)ci * BM_WORDS; }
static inline uint64_t *remote_words(uint32_t ci) { return heap.remote_bm + (size_t)ci * BM_WORDS; }
static inline uint64_t *ext_words(uint32_t ci) { return heap.ext_bm + (size_t)ci * BM_WORDS; }
static inline uint64_t *keep_words(uint32_t ci) { return heap.keep_bm + (size_t)ci * BM_WORDS; }
static inline uint64_t *hidden_words(uint32_t ci) { return heap.hidden_bm + (size_t)ci * BM_WORDS; }
static inline bool ext_test(uint32_t ci, uint32_t idx)
{
    return __atomic_load_n(&ext_words(ci)[idx >> 6], __ATOMIC_RELAXED) & (1ull << (idx & 63));
}
HIDDEN uint32_t heap_run_alloc(uint32_t nchunks, bool *zeroed);  /* NONE32: out of reserve/limit */
HIDDEN void span_list_push(uint32_t *head, uint32_t ci, uint8_t list);
HIDDEN void span_list_remove(uint32_t *head, uint32_t ci);
HIDDEN void heap_run_free(uint32_t ci);            /* releases a whole span */
HIDDEN void heap_populate(uint32_t ci, uint32_t n); /* fault in a fresh (SF_ZEROED) run now */
HIDDEN bool words_clear_or_untouched(const uint64_t *w, unsigned n);   /* debug checks of I8 and I10 */
/* I10: zero span s's words in maps[0..nmaps) if its `map` bit is set, and drop the bit. */
HIDDEN void span_map_clear(struct span *s, unsigned map, uint64_t *const maps[], unsigned nmaps);
HIDDEN void heap_purge(bool all);                  /* return dirty runs to the OS */
HIDDEN void heap_purge_if_needed(void);            /* the dirty budget is exceeded: purge */
HIDDEN void heap_lock(void);
HIDDEN void heap_unlock(void);
/* The block containing p: 0 = not ours; otherwise its user start, with *ci, *idx set. O(1). */
struct lookup { uintptr_t user; uint32_t ci; uint32_t idx; };
HIDDEN bool heap_lookup(uintptr_t p, struct lookup *out);  /* allocated blocks only */
HIDDEN bool heap_is_meta(uintptr_t p);

/* alloc.c: the malloc family (called from preload/interpose.c) */
HIDDEN void *cg_malloc(size_t size);
HIDDEN void *cg_malloc_caller(size_t size, uintptr_t caller);   /* COWGC_KEEP: the caller's return address */
HIDDEN void *cg_calloc(size_t n, size_t size);
HIDDEN void *cg_realloc(void *p, size_t size);
HIDDEN void cg_free(void *p);
HIDDEN void *cg_memalign(size_t align, size_t size);   /* align: power of two */
HIDDEN size_t cg_usable_size(const void *p);
HIDDEN struct tcache *tcache_get(void);               /* creates on first use */
HIDDEN void tcache_release(struct tcache *tc);        /* thread exit */
HIDDEN void tcache_flush_all(void);                   /* world stopped, heap_lock held */
HIDDEN void alloc_fork_child(void);                   /* orphan every tcache but ours */
HIDDEN uint32_t span_fold_remote(uint32_t ci);        /* owner or collector: slots freed */
HIDDEN void alloc_flush_counts(struct tcache *tc);
HIDDEN void *malloc_small_slow(size_t size);
HIDDEN bool heap_large_extend(uint32_t ci, uint32_t nchunks);  /* grow a LARGE span in place */
HIDDEN extern __thread struct tcache *tls_tc __attribute__((tls_model("initial-exec")));

/* gc.c, mark.c, sweep.c, policy.c */
HIDDEN void gc_collect(const char *why);             /* stop, mark, sweep/count, resume */
HIDDEN void gc_maybe_collect(struct tcache *tc);     /* the trigger, from slow paths */
HIDDEN bool gc_disabled(void);
HIDDEN void gc_disable(void);
HIDDEN void gc_enable(void);
HIDDEN void gc_init(void);
HIDDEN void gc_at_exit(void);
HIDDEN void gc_mark_all(void);                       /* world stopped: marks from all roots */
HIDDEN void gc_marking_begins(void);                 /* every marking, before its first mark */
HIDDEN bool block_is_marked(uint32_t ci, uint32_t idx, uintptr_t user);
HIDDEN uint64_t gc_collections(void);
HIDDEN void gc_fork_child(void);                     /* per-process statistics */
HIDDEN void gc_mark_range(uintptr_t lo, uintptr_t hi);    /* conservative scan of a root range */
HIDDEN void gc_mark_drain(void);
HIDDEN void gc_mark_counts_to_stats(void);          /* after a marking: its counts into gcstats */
HIDDEN void gc_sweep(bool reclaim);
HIDDEN uint64_t policy_threshold(uint64_t baseline);  /* bytes of growth before the next one */
HIDDEN uint64_t policy_floor(uint64_t baseline);      /* <= policy_threshold in every process; no syscall */
HIDDEN void policy_init(void);                       /* gc_init: forked children (other pids) use COWGC_FORK_GROWTH */
HIDDEN bool policy_in_child(void);                   /* a process forked (or cloned) from the one that set up: a getpid() */

/* freeze.c: COWGC_FORK_FREEZE */
HIDDEN void freeze_fork_child(void);
HIDDEN void freeze_fork_parent(void);
static inline bool frozen_test(uint32_t ci, uint32_t idx)
{
    return ci < heap.frozen_top &&
           (heap.frozen_bm[(size_t)ci * BM_WORDS + (idx >> 6)] & (1ull << (idx & 63)));
}
/* A freed block is no longer inherited data: its slot may be reused for the child's own. */
static inline void frozen_clear(uint32_t ci, uint32_t idx)
{
    if (ci < heap.frozen_top)
        __atomic_fetch_and(&heap.frozen_bm[(size_t)ci * BM_WORDS + (idx >> 6)], ~(1ull << (idx & 63)),
                           __ATOMIC_RELAXED);
}

/* leak.c: allocation stacks and leak reports */
HIDDEN extern bool leak_capture;                     /* allocation stacks are being recorded */
/* Set at start-up in every mode but off (heap_init), never changed: the modes with slot work
 * (slack, ext bits) and the only ones that set up leak_capture or a COWGC_KEEP table. While
 * it is clear, malloc looks at none of them (cg_malloc_caller, which asserts so). */
HIDDEN extern _Atomic bool malloc_gate;

/* COWGC_MODE=off keeps no ext bits (track_ext is false for the process's life): its ext map
 * holds the hold bits of held LIFO slots instead (see struct lifo_slot). No other mode holds. */
static inline uint64_t *hold_words(uint32_t ci)
{
    cg_assert(!heap.track_ext && !atomic_load_explicit(&malloc_gate, memory_order_relaxed));
    return ext_words(ci);
}
/* The hold word of the slot with alloc bit gbit (chunk << 12 | slot, as in struct lifo_slot). */
static inline _Atomic uint64_t *hold_word_of(uint64_t gbit)
{
    return (_Atomic uint64_t *)(hold_words(0) + (gbit >> 6));
}

HIDDEN void leak_init(void);                         /* start-up, after options and heap */
HIDDEN void leak_late_init(void);                    /* from the constructor: may load libunwind */
HIDDEN void leak_on_alloc(void *p, size_t size);     /* p was just handed out for size bytes: record its stack */
HIDDEN void leak_set_size(void *p, size_t size);     /* p was handed out for size bytes after all (memalign) */
HIDDEN void leak_note_reclaimed(uint32_t ci, unsigned word, uint64_t bits);  /* sweep, world stopped */
HIDDEN void leak_at_exit(void);                      /* detect report / reclaimed report */
HIDDEN size_t leak_site_of(uintptr_t p, char *buf, size_t n);  /* "; allocated at ..." or "" */
/* The same, and the name of the object that called malloc (for COWGC_KEEP) into obj ("" if unknown). */
HIDDEN size_t leak_site_object(uintptr_t p, char *buf, size_t n, char *obj, size_t objn);
HIDDEN size_t leak_site_of_stack(uint32_t id, char *buf, size_t n, char *obj, size_t objn);  /* the same, by stack id */
HIDDEN void leak_report(bool at_exit);               /* detect mode: stop, mark, classify, print */
HIDDEN uint32_t leak_stack_id(uint32_t ci, uint32_t idx);   /* the block's stack, 0 = none */
HIDDEN size_t leak_requested_size(uint32_t ci, uint32_t idx, size_t slot_size);  /* as asked for */
HIDDEN void leak_set_self_text(uintptr_t lo, uintptr_t hi); /* tests: frames in [lo,hi) are skipped */
HIDDEN bool leak_template_match(const char *pat, const char *s);  /* LSan's: '*', '^', '$', substring */

/* keep.c: COWGC_KEEP. The malloc entry points call keep_note with their return address. A
 * table's hull [lo, lo + len) covers all its ranges: one compare on the common path. The empty
 * table (COWGC_KEEP off) has len 0; the stale table has len ~0, so every caller looks again. */
enum { KEEP_OBJECT = 1, KEEP_LOADER };
struct keep_range { uintptr_t lo, hi; uint32_t kind; };
struct keep_table {
    uintptr_t lo, len;
    uint32_t n;
    struct keep_range r[];     /* sorted by lo, disjoint */
};
HIDDEN extern struct keep_table *_Atomic keep_tab;
HIDDEN void keep_slow(void *p, uintptr_t ra);
HIDDEN void keep_set(void *p);                        /* p is kept from now on (I8) */
HIDDEN void keep_kernel_held(uintptr_t lo, size_t len); /* blocks under [lo, lo+len) the kernel points at: kept */
HIDDEN void keep_hidden_arm(void);                    /* detect: heap.hidden_bm from now on (sweeps) */
HIDDEN void keep_scratch_range(uintptr_t *lo, uintptr_t *hi);   /* its table-building buffer, or 0s (tests) */
/* Detect mode: the program frees or reallocs block (ci, idx) at p; if the last collection found it
 * unreachable (its hidden bit), say which COWGC_KEEP entry would keep such blocks. */
HIDDEN void keep_hidden_used(uint32_t ci, uint32_t idx, const void *p, const char *who);
HIDDEN void keep_hidden_report(uint32_t stack_id, const void *p, const char *who);  /* bit already cleared */
static inline void keep_hidden_check(uint32_t ci, uint32_t idx, const void *p, const char *who)
{
    if (unlikely(heap.hidden_bm) && (hidden_words(ci)[idx >> 6] & (1ull << (idx & 63))))
        keep_hidden_used(ci, idx, p, who);
}
static inline void keep_note(void *p, uintptr_t ra)
{
    const struct keep_table *t = atomic_load_explicit(&keep_tab, memory_order_acquire);
    if (unlikely(ra - t->lo < t->len)) keep_slow(p, ra);
}

/* stackdepot.c: deduplicated allocation stacks, dense ids 1..depot_count(), 0 = none */
#define DEPOT_MAX_DEPTH 64
#define DEPOT_MAX_IDS ((1u << 21) / 4 * 3)                  /* 3/4 of the hash table */
/* A spin lock that a fork child finds free when its holder was another thread of the parent
 * (the lock word is the holder's pid; leak.c). */
HIDDEN void pid_lock(_Atomic int *l);
HIDDEN void pid_unlock(_Atomic int *l);
HIDDEN int depot_init(void);                                 /* idempotent; 0, or -1 */
HIDDEN uint32_t depot_put(const uintptr_t *pcs, unsigned n); /* 0: could not store */
HIDDEN unsigned depot_get(uint32_t id, const uintptr_t **pcs);
HIDDEN uint32_t depot_count(void);
HIDDEN uint64_t depot_dropped(void);

/* symbolize.c: function, file:line and inlined frames from a symbolizer program (llvm-symbolizer
 * or addr2line), one process per module and batch; the report's words. No malloc: mmap'd output. */
enum symz_kind { SYMZ_NONE, SYMZ_LLVM, SYMZ_ADDR2LINE };
struct symz_tool { enum symz_kind kind; char path[256]; };
/* One frame of an address (several when calls were inlined there, innermost first). func and
 * file are offsets into symz_out.text, 0 = unknown; line 0 = unknown, col 0 = unknown. */
struct symz_frame { uint32_t func, file, line, col; };
struct symz_out {
    char *text;
    size_t text_len, text_cap;
    struct symz_frame *frames;
    size_t nframes, frames_cap;
};
/* setting: COWGC_SYMBOLIZE's value (NULL = 1: llvm-symbolizer from PATH, else addr2line; "0": none;
 * else the program, a path or a name looked up in PATH). false: no tool (logged if one was named). */
HIDDEN bool symz_find_tool(const char *setting, struct symz_tool *t);
/* Symbolises addrs (link-time addresses in module) with one process: addrs[i]'s frames are
 * o->frames[first[i] .. first[i] + count[i]); count 0 = no answer. false: the tool did not run. */
HIDDEN bool symz_run(const struct symz_tool *t, const char *module, const uint64_t *addrs, size_t n,
                     struct symz_out *o, uint32_t *first, uint16_t *count);
/* The same for addresses of several modules (mods[i] is addrs[i]'s; runs of one module are
 * consecutive): llvm-symbolizer answers all in one process, addr2line needs one per module. */
HIDDEN bool symz_run_many(const struct symz_tool *t, const char *const *mods, const uint64_t *addrs,
                          size_t n, struct symz_out *o, uint32_t *first, uint16_t *count);
HIDDEN bool symz_add_frame(struct symz_out *o, const struct symz_frame *f);
HIDDEN uint32_t symz_intern(struct symz_out *o, const char *s, size_t len);   /* offset, 0 = failed */
static inline const char *symz_str(const struct symz_out *o, uint32_t off) { return off ? o->text + off : NULL; }
HIDDEN void symz_out_free(struct symz_out *o);
HIDDEN uint64_t symz_file_vbase(const char *path);   /* link-time address of file offset 0 */
/* An ELF file mapped read-only, with its function symbol table: .symtab, else .dynsym (syms
 * NULL when it has neither). Raw system calls and mmap only: callable anywhere cowgc runs. */
struct elf_file {
    const char *map;
    size_t len;
    const Elf64_Sym *syms;
    size_t nsyms;
    const char *strtab;
    size_t strsz;
};
HIDDEN bool elf_map(const char *path, struct elf_file *f);   /* false: not a readable file */
HIDDEN void elf_unmap(struct elf_file *f);
HIDDEN const char *elf_func_name(const struct elf_file *f, const Elf64_Sym *s);   /* NULL: not a defined function */
/* The report's lines, LeakSanitizer's words with cowgc as the tool. kind: direct|indirect|reclaimed. */
HIDDEN size_t symz_text_banner(char *buf, size_t n, bool reclaimed, int pid, uint64_t collections);
HIDDEN size_t symz_text_group(char *buf, size_t n, const char *kind, uint64_t bytes, uint64_t count);
HIDDEN size_t symz_text_frame(char *buf, size_t n, unsigned idx, uint64_t pc, const char *func,
                              const char *file, uint32_t line, uint32_t col, const char *module,
                              uint64_t module_off);
HIDDEN size_t symz_text_suppressions_head(char *buf, size_t n);
HIDDEN size_t symz_text_suppression(char *buf, size_t n, uint64_t count, uint64_t bytes, const char *templ);
HIDDEN size_t symz_text_suppressions_tail(char *buf, size_t n);
HIDDEN size_t symz_text_summary(char *buf, size_t n, bool reclaimed, uint64_t bytes, uint64_t count);

/* stats.c */
struct gc_stats {
    uint64_t collections, skipped;
    uint64_t pause_total_ns, pause_max_ns, mark_ns, sweep_ns;
    uint64_t reclaimed_blocks, reclaimed_bytes;
    uint64_t unreachable_blocks, unreachable_bytes;   /* detect mode, last collection */
    uint64_t live_bytes, live_blocks;                 /* after the last collection */
    uint64_t roots_bytes[12];                          /* by enum root_kind (scanner.h) */
    uint64_t heap_pages_written;                      /* by the collector, inline headers */
    uint64_t mark_overflows;
    uint64_t par_collections;                         /* collections that started helper markers */
    uint64_t marked_bytes_last;                       /* traced by the last collection */
    uint64_t cpu_ns;                                  /* collector thread CPU, all collections */
};
HIDDEN extern struct gc_stats gcstats;

/* gen.c: generations over the kernel's dirty-page tracking. */
struct gen_stats {
    uint64_t minor, full;              /* collections of each kind (generations on) */
    uint64_t pages_written;            /* heap pages reported written, all collections */
    uint64_t pages_written_last;       /* by the last minor collection */
    uint64_t young_marked;             /* bytes traced by minor collections */
    uint64_t stayed_young_last;        /* blocks the last collection kept young (age 1) */
    uint64_t protected_last, protect_runs_last;   /* pages write-protected again, in runs */
    uint64_t promoted_last;            /* bytes the last minor collection promoted */
    uint64_t root_tracked_last;        /* bytes of tracked root mappings in the last collection (G10) */
    uint64_t root_skipped_last;        /* ...of which its scan skipped as unwritten */
    uint64_t root_skipped;             /* the same, all collections */
    uint64_t root_written_last, root_protected_last; /* pagemap-scan: of them written, and protected again by a minor */
    uint64_t rechecks;                 /* minor collections that rechecked this forked process's promotions (G11) */
    uint64_t rechecked_last;           /* bytes the last one made young again */
};
HIDDEN extern struct gen_stats genstats;
/* Per block, the mark bitmap's shape (BM_WORDS words per chunk); NULL without generations. */
struct gen_meta {
    uint64_t *old_bm;      /* alloc & mark as the last sweep left them: the old generation */
    uint64_t *age_bm;      /* young blocks that survived one minor collection */
    bool minor;            /* the collection being swept is a minor one (gen_begin) */
};
HIDDEN extern struct gen_meta genmeta;
/* Sweep (world stopped): gen_begin once, then gen_age_word for every word of allocated blocks
 * with their marks; it returns the blocks that stay young, whose marks the caller clears. */
HIDDEN void gen_begin(bool minor, bool promote_all);
HIDDEN uint64_t gen_age_word(uint32_t ci, unsigned w, uint64_t marks);
HIDDEN void gen_span_freed(uint32_t ci);   /* heap_run_free: no stale mark outlives a span */
HIDDEN void gen_span_swept(uint32_t ci);   /* after a collecting sweep of span ci (gen.c, G8) */
HIDDEN void gen_span_grown(uint32_t ci);   /* LARGE span ci grew in place (heap_lock held, G8) */
HIDDEN void gen_init(void);                /* after heap_init: pick the tracker */
HIDDEN bool gen_on(void);
HIDDEN uint64_t gen_fork_base(void);       /* a forked child before its first full collection: bytes in use at the fork; else 0 */
HIDDEN const char *gen_tracker_name(void);
HIDDEN void gen_request_full(void);        /* the next collection is full */
HIDDEN bool gen_next_is_minor(bool forced);
/* G11, a forked child: this minor collection also rechecks the blocks this process promoted;
 * then gen_recheck_begin, world stopped, before the marking. */
HIDDEN bool gen_recheck_due(void);
HIDDEN void gen_recheck_begin(void);
/* World stopped: each part of an old block on a page written since the last collection. */
HIDDEN bool gen_scan_written(void (*fn)(uintptr_t lo, uintptr_t hi));
/* G10: root pages. gen_roots_begin before the roots are scanned; gen_root_runs for each tracked
 * root mapping, in ascending address order: true with the runs of it to scan, false: whole. */
struct page_run { uintptr_t lo, hi; };
HIDDEN void gen_roots_begin(bool minor), gen_roots_end(void);
HIDDEN bool gen_root_runs(uintptr_t lo, uintptr_t hi, const struct page_run **runs, size_t *n);
HIDDEN void gen_after_collection(bool minor, bool ok);   /* world stopped: re-arm */
HIDDEN void gen_fork_prepare(void), gen_fork_parent(void), gen_fork_child(void);
HIDDEN bool gen_arm_child(void);   /* fork child, after gen_fork_child (G5): false if idle */
HIDDEN void gc_before_fork(void);          /* gc.c: a minor collection when the young generation is large */
HIDDEN void stats_print(int fd);
HIDDEN void stats_write_json(const char *path);
HIDDEN uint64_t now_ns(void);

#endif
