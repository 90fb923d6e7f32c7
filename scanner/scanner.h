/* scanner.h -- finding roots, stopping threads, the conservative pointer test and the mark stack.
 *
 * Invariants owned here:
 *  - Nothing in scanner/ allocates with libc or takes a lock another thread may hold while it
 *    is stopped: /proc is read with open/read/getdents64 into mmap'd buffers; no stdio, no
 *    dl_iterate_phdr while the world is stopped (segments are snapshot before stopping).
 *  - Every thread but the caller is either stopped in the stop handler (registers and stack
 *    pointer recorded), or asleep in a system call with the signal blocked (recorded from
 *    /proc; stw_world_held() says whether it stayed so), or an io_uring worker (no user
 *    state), or has exited, between stw_stop_all() returning 0 and stw_resume_all().
 *  - The stop signal is never left blocked by the program (signals.c strips it from masks).
 */
#ifndef COWGC_SCANNER_H
#define COWGC_SCANNER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../preload/preload.h"

enum root_kind {
    ROOT_STACK,     /* a thread's stack from its stack pointer (minus the red zone) up */
    ROOT_REGS,      /* a stopped thread's registers */
    ROOT_DATA,      /* data and bss of the executable and every shared object */
    ROOT_TLS,       /* static TLS blocks not inside another root */
    ROOT_MAPPING,   /* other writable mappings (COWGC_ROOTS=all) */
    ROOT_USER,      /* cowgc_add_roots() */
    ROOT_INHERITED, /* COWGC_FORK_FREEZE: frozen blocks on pages this child wrote */
    ROOT_OLD,       /* minor collections: old blocks on pages written since the last one */
    ROOT_KEPT,      /* COWGC_KEEP: blocks allocated by listed objects */
    ROOT_KINDS
};

/* Callback for one root range [lo, hi): the collector scans it word by word. */
typedef void (*root_fn)(uintptr_t lo, uintptr_t hi, enum root_kind kind);

/* stw.c: stop the world. The caller must hold heap_lock (so no stopped thread holds it). */
struct stopped_thread {
    pid_t tid;
    uintptr_t sp;
    uintptr_t regs[48];     /* general registers and the low halves of vector registers */
    unsigned nregs;
    bool in_call;           /* captured by a call (arch_spill_regs): the red zone below sp is dead */
    /* stw.c's bookkeeping, here rather than in arrays of their own, so that a stop of a few
     * threads writes one page of the stop area, not one per array: */
    bool from_proc;         /* written by the stopper for a thread asleep with the signal blocked */
    uint32_t ready;         /* the stop epoch this record was published for (__atomic) */
    uintptr_t tp;           /* the thread pointer (fs base), 0 if unknown */
};
HIDDEN void stw_init(void);                     /* installs the handler for opt.signal */
HIDDEN int stw_stop_all(void);                  /* 0, or -1: someone could not be stopped (world resumed) */
HIDDEN void stw_resume_all(void);
HIDDEN size_t stw_threads(const struct stopped_thread **out);  /* incl. the caller, valid until resume */
HIDDEN void stw_fork_child(void);               /* reset after fork */
HIDDEN bool stw_is_stop_signal(int sig);
HIDDEN void stw_deferred_stop(void);            /* called when a busy section ends with stop_pending */
HIDDEN void stw_handler_check(int sig);         /* reinstall our handler if a raw call replaced it */
HIDDEN uintptr_t stw_thread_tp(size_t i);       /* fs base of stw_threads()[i], 0 if unknown */
HIDDEN bool stw_world_held(void);   /* world stopped: no thread counted as stopped ran; else do not free */
HIDDEN uint32_t stw_requests_seen(void);        /* stop requests this thread answered (signals.c) */
HIDDEN bool stw_seccomp_filtered(void);         /* the caller runs under a seccomp filter (or cannot tell) */

/* roots.c */
HIDDEN void roots_snapshot_segments(void);      /* before stopping: dl_iterate_phdr into a buffer */
HIDDEN void roots_note_startup(void);           /* at start-up: ld.so's anonymous mappings (segments mode) */
HIDDEN void roots_scan(root_fn fn);             /* world stopped: every root range, by kind */
HIDDEN int roots_add(uintptr_t lo, uintptr_t hi);    /* cowgc_add_roots: 0, or -1 when full */
HIDDEN void roots_exclude(uintptr_t lo, uintptr_t hi);   /* a cowgc-owned mapping: never a root */
HIDDEN bool roots_scan_failed(void);   /* the last roots_scan could not read the maps: do not sweep */
HIDDEN bool roots_io_uring(void);      /* the last roots_scan saw an io_uring ring mapped */
/* /proc/thread-self/pagemap, the process's one pagemap descriptor (roots, generations, leak
 * checks), kept open and checked at each call (preload.h proc_file); -1 if it cannot be opened.
 * proc_pagemap_drop closes it until the next call. */
HIDDEN int proc_pagemap_fd(void);
HIDDEN int proc_pagemap_kept_fd(bool *ours);   /* open only; an inherited one: the parent's */
HIDDEN void proc_pagemap_drop(void);
/* The runs of pages of [lo, hi) that are present or swapped out, by fd (a pagemap of this
 * process): private memory outside them was never written and reads as zeroes, so it holds
 * no pointer. All of [lo, hi) (or the rest) when the pagemap cannot be read. */
HIDDEN void resident_runs(int fd, uintptr_t lo, uintptr_t hi, void (*fn)(uintptr_t, uintptr_t, void *), void *arg);
HIDDEN extern uint64_t roots_probes;   /* file-end probes made by roots_scan (process_vm_readv): tests */
HIDDEN bool freeze_scan_roots(root_fn fn);  /* collector/freeze.c: false if pagemap is unreadable */
HIDDEN void roots_remove(uintptr_t lo);
struct dl_phdr_info;
HIDDEN bool roots_object_is_cowgc(const struct dl_phdr_info *info);   /* cowgc's own .so */

/* arch_x86_64.c: the only architecture-specific code. */
struct ucontext_t;
/* A raw thread (clone) running fn(arg) on stack_top that shares the caller's thread pointer and
 * so must touch no TLS; *ctid goes to 0 when it has exited. All signals stay blocked in it. */
HIDDEN pid_t arch_thread_start(void (*fn)(void *), void *arg, void *stack_top, int *ctid);
HIDDEN unsigned arch_regs_from_ucontext(void *uc, uintptr_t *regs, unsigned max, uintptr_t *sp);
HIDDEN unsigned arch_spill_regs(uintptr_t *regs, unsigned max, uintptr_t *sp);  /* the caller's */
HIDDEN uintptr_t arch_thread_pointer(void);   /* the caller's fs base */
#define ARCH_RED_ZONE 128

/* markstack.c: an explicit stack of ranges to scan, in mmap'd memory, bounded. push and pop are
 * inline because the mark loop calls them once per marked block. One per marking thread: the
 * collector's (markstack) and each helper's (helpers.c). Each counts what its marker did;
 * joining the helpers adds theirs to the collector's, which markstack_reset zeroes. */
struct mark_item { uintptr_t lo, hi; };
struct markstack {
    struct mark_item *base;
    size_t depth, cap;      /* cap == 0 until markstack_init: every push overflows */
    bool overflowed;
    uint64_t marked_bytes, overflows, pages_written;
    /* With helpers (out of line): this marker's marks in one bitmap word, not yet ORed into
     * it. Marks go to the bitmap with one atomic OR per word run instead of one per block. */
    uint64_t *pend_word, pend_bits;
};
HIDDEN extern struct markstack markstack;
HIDDEN void markstack_init(void);
HIDDEN void markstack_set_capacity(size_t n);            /* tests: force overflows */
static inline bool markstack_push_on(struct markstack *st, uintptr_t lo, uintptr_t hi)
{
    if (unlikely(st->depth >= st->cap)) {
        st->overflowed = true;
        return false;
    }
    st->base[st->depth].lo = lo;
    st->base[st->depth].hi = hi;
    st->depth++;
    return true;
}
static inline bool markstack_pop_on(struct markstack *st, struct mark_item *it)
{
    if (st->depth == 0) return false;
    *it = st->base[--st->depth];
    return true;
}
/* false: full (overflow noted) */
static inline bool markstack_push(uintptr_t lo, uintptr_t hi) { return markstack_push_on(&markstack, lo, hi); }
static inline bool markstack_pop(struct mark_item *it) { return markstack_pop_on(&markstack, it); }
HIDDEN bool markstack_overflowed(void);                  /* and clears the flag */
HIDDEN void markstack_reset(void);
HIDDEN uintptr_t markstack_lo(void), markstack_hi(void);   /* its mapping, excluded from roots */

/* helpers.c: helper marking threads for big collections. They are started by the collector
 * while the world is stopped and have exited before it resumes, so the program never sees
 * them; they take work from a shared pool that the busy markers fill when one is hungry. */
struct mark_share {
    atomic_uint markers;        /* marking threads now, the collector included; 1 = alone.
                                   Written by the collector only; helpers read it */
    atomic_uint hungry;         /* markers with nothing to do, waiting on the pool */
    atomic_size_t count;        /* items in the pool (read without the lock as a hint) */
    atomic_bool done;           /* a marker saw every marker hungry and the pool empty */
};
HIDDEN extern struct mark_share mark_share;
static inline unsigned mark_share_markers(void)
{
    return atomic_load_explicit(&mark_share.markers, memory_order_relaxed);
}
/* Starts up to n - 1 helpers, each running fn(its own empty mark stack); returns how many
 * marking threads there are now (1: none could be started). World stopped, heap_lock held. */
HIDDEN unsigned helpers_start(unsigned n, void (*fn)(struct markstack *));
/* The collector's last drain is done: waits with the helpers (taking work itself through
 * drain) until all are hungry and the pool is empty, then for every helper to exit. Adds the
 * helpers' counts and overflow to the collector's markstack, their CPU time to *cpu_ns. */
HIDDEN void helpers_finish(void (*drain)(struct markstack *), uint64_t *cpu_ns);
/* A marker with work gives up to half of it to the pool (the oldest part: the biggest
 * subtrees); only call when mark_share.hungry. */
HIDDEN void mark_share_give(struct markstack *st);
/* A hungry marker: items from the pool onto st; false once marking is over (done). */
HIDDEN bool mark_share_wait(struct markstack *st);
HIDDEN unsigned cpus_available(void);   /* CPUs this process may use (>= 1): affinity, capped by a cgroup CPU quota */
HIDDEN long read_small_file(const char *path, char *buf, size_t n);   /* stw.c: whole file, NUL-terminated; -1 */
HIDDEN unsigned cgroup_cpus(void);      /* this process's cgroup CPU quota in CPUs (rounded up), 0 = none */
HIDDEN unsigned cgroup_quota_cpus(long long quota, long long period);   /* 0 = no limit */
HIDDEN unsigned cgroup_cpu_max_cpus(const char *cpu_max);             /* v2 cpu.max text; 0 = no limit */

#endif

/* ptrtest.c -- the conservative pointer test: a ladder of cheap rejections on metadata only
 * (I2: never touches a heap page). Included inline because the mark loop runs it per word. */
#include "../collector/collector.h"

/* limit: heap.top << CHUNK_SHIFT, read once by callers that test many words. */
static inline bool ptr_test_in(uintptr_t v, uintptr_t limit, struct lookup *out)
{
    uintptr_t off = v - heap.base;
    /* Below the base or beyond the chunks ever handed out: not a heap address. */
    if (off >= limit)
        return false;
    uint32_t ci = (uint32_t)(off >> CHUNK_SHIFT);
    const struct span *s = span_at(ci);
    if (likely(s->kind == SPAN_SMALL)) {
        uint32_t rel = (uint32_t)(off & (CHUNK_SIZE - 1));
        uint32_t idx = (uint32_t)(((uint64_t)rel * s->recip) >> 32);
        /* The tail of a span past its last slot holds no block. */
        if (idx >= s->nblocks) return false;
        /* A free slot: a stale pointer, or a pointer-like integer. */
        if (!(alloc_words(ci)[idx >> 6] & (1ull << (idx & 63)))) return false;
        out->ci = ci;
        out->idx = idx;
        out->user = chunk_addr(ci) + (uintptr_t)idx * s->stride + heap.hdr;
        return true;
    }
    if (s->kind == SPAN_CONT) {
        /* Interior chunk of a large block; a stale CONT left in a free run fails the checks below. */
        uint32_t h = span_head(ci);
        const struct span *hs = span_at(h);
        if (h == ci || hs->kind != SPAN_LARGE || h + hs->nchunks <= ci) return false;
        ci = h;
        s = hs;
    } else if (s->kind != SPAN_LARGE) {
        return false;   /* a free run */
    }
    if (!(alloc_words(ci)[0] & 1)) return false;
    out->ci = ci;
    out->idx = 0;
    out->user = chunk_addr(ci) + s->offset;
    return true;
}

static inline bool ptr_test(uintptr_t v, struct lookup *out)
{
    uintptr_t limit = (uintptr_t)atomic_load_explicit(&heap.top, memory_order_relaxed) << CHUNK_SHIFT;
    return ptr_test_in(v, limit, out);
}
