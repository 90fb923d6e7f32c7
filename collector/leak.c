/* leak.c -- allocation stacks and requested sizes, and the reports built on them: leaks (detect mode) and what collect mode reclaimed.
 *
 * Invariants:
 *  - A block's metadata (stack id, requested size, process generation) lives in side tables,
 *    never in a heap page (I1): per chunk, a slice of struct slot_meta indexed by slot, carved
 *    from mmap'd NORESERVE segments; the index runs downwards from the first segment's start
 *    (one mapping, see leak_init). A slice is a head (its first SLICE_HEAD slots, after a
 *    header giving its capacity and its tail) carved upwards, and a tail (the other slots)
 *    carved downwards from the segment's end: heads lie side by side, so a short program's
 *    first block of each size class lands on one or two pages, not one page per class. Both
 *    parts are made together and never move. A slice only grows (a chunk reused with more
 *    slots gets a new one); old slices are never reused, so a late writer can only scribble on
 *    a dead slice. The tables exist only in detect mode, or in collect mode with
 *    COWGC_REPORT_RECLAIMED.
 *  - When leak_capture is set, every allocation writes its slot (id 0 when not sampled), so the
 *    metadata of an allocated block is never a stale one from the slot's previous occupant.
 *    The requested size is kept as slack = slot size - requested, so a slot never written
 *    reads as its full slot size. malloc_usable_size still answers the slot size.
 *  - Capture never allocates and never takes a lock the allocator holds; a thread re-entering
 *    (a signal handler's malloc, libunwind or pthread_getattr_np calling malloc) records no stack.
 *  - The fp unwinder reads memory only inside the current thread's stack, between the outermost
 *    cowgc frame and the stack top, and ends at a return address that lies in that stack (code
 *    without frame pointers keeps data in rbp). Our own frames (no frame pointers) are stepped
 *    with layouts learned once per return address from DWARF (libunwind), then cached.
 *  - Reports: classification and tallies happen with heap_lock held and the world stopped, and
 *    write only mmap'd side tables (indirect bitmap, tallies); symbolising, suppressions and
 *    output come after the world is resumed, in mmap'd buffers, never the program's heap. Inline
 *    mark headers are cleared before resuming (I6).
 *  - Fork: proc_gen counts fork()s from the exec'd process down to this one, and every block
 *    records the generation that allocated it. A forked child reports only its own blocks
 *    (gen == gen_tag()); inherited blocks are the parent's to report and count as live. While it
 *    has not forked itself, a pointer to one of its own blocks can only sit on a page it wrote,
 *    which is then mapped by it alone (pagemap "exclusive", or swapped, or a shared mapping):
 *    only those pages of the roots and of inherited blocks are scanned. For that scan the
 *    inherited blocks are lent to heap.frozen_bm (freeze.c's machinery: frozen = marked,
 *    untraced) and it is given back before the world resumes.
 *    A block records gen_tag() = proc_gen + 1, so that a zeroed record is no process's. A child
 *    made by a raw clone() runs no fork handler: one of the exec'd process (proc_gen 0) is told
 *    by its pid at the report (raw_clone), one of a fork() child needs nothing (proc_gen >= 1).
 *  - In detect mode the slices are not inherited (MADV_WIPEONFORK, slices_wipe_on_fork): a
 *    child reads an inherited block as { id 0, slack 0, gen 0 }, never its own (gen_tag() >= 1),
 *    a raw clone() child included.
 *    Nothing a fork() child reports depends on them, so a kernel that refuses the advice (the
 *    child then reads its parent's records, gen != gen_tag() all the same) changes only the
 *    cost; a raw clone() child of the exec'd process would then take its parent's blocks for
 *    its own and report them too.
 *  - The exit check runs only when something can observe it: a readable log (log_writable),
 *    COWGC_LEAK_EXITCODE or statistics (leak_at_exit).
 *  - A child's quick check (no stop, no /proc/self/maps) scans only ranges that are roots of the
 *    full check as well, and never cowgc's own globals: a block it reaches is reachable, so it
 *    may skip the full check only when it reaches every own block, and never reports. Which of
 *    those ranges it picks (pages its parent's inherited pagemap, or its own, calls exclusive)
 *    is a matter of cost only: a wrong pick leaves blocks unreached and the full check runs.
 *    While it runs, the granule filter (cs.bloom) holds every granule of every own live block,
 *    or is saturated: a clear bit proves a block is not the child's own (quick_own, asserted).
 *  - After fork() every first store to a page is a copy-on-write fault: code on the allocation
 *    and fork paths stores only what changed.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/auxv.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "collector.h"
#include "scanner.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>

/* libunwind is loaded with dlopen only where it is needed: for COWGC_UNWIND=libunwind, or when
 * our own call frame information cannot be read (layout_from_cfi), so a process does not carry
 * it (nor its liblzma) in memory, and a fork() does not copy their mappings. Until cowgc's
 * constructor has run (libc fully up), nothing is loaded and captures record no stack. */
static struct {
    int (*getcontext)(unw_context_t *);
    int (*init_local)(unw_cursor_t *, unw_context_t *);
    int (*get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
    int (*step)(unw_cursor_t *);
    int (*get_save_loc)(unw_cursor_t *, int, unw_save_loc_t *);
    int (*backtrace)(void **, int);
} unw;
struct slot_meta;
static _Atomic(struct slot_meta *) *slices;    /* heap.nchunks_max entries, descending (slice_ref) */

/* The index runs downwards from the first segment's start, in the middle of a 2 MiB region
 * (leak_init): a program's first slices and their index entries then share one page table. */
static inline _Atomic(struct slot_meta *) *slice_ref(uint32_t ci) { return slices - ci; }
static _Atomic int unw_state;     /* 0 not tried, 1 loading, 2 loaded, -1 unavailable */
static bool unw_allowed;          /* set by leak_late_init() from the constructor */

static bool unw_load(void)
{
    int st = atomic_load_explicit(&unw_state, memory_order_acquire);
    if (likely(st == 2)) return true;
    if (st != 0 || !unw_allowed) return false;
    int expect = 0;
    if (!atomic_compare_exchange_strong(&unw_state, &expect, 1)) return false;
    void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (h) {
        unw.getcontext = (int (*)(unw_context_t *))dlsym(h, "_Ux86_64_getcontext");
        unw.init_local = (int (*)(unw_cursor_t *, unw_context_t *))dlsym(h, "_ULx86_64_init_local");
        unw.get_reg = (int (*)(unw_cursor_t *, unw_regnum_t, unw_word_t *))dlsym(h, "_ULx86_64_get_reg");
        unw.step = (int (*)(unw_cursor_t *))dlsym(h, "_ULx86_64_step");
        unw.get_save_loc = (int (*)(unw_cursor_t *, int, unw_save_loc_t *))dlsym(h, "_ULx86_64_get_save_loc");
        unw.backtrace = (int (*)(void **, int))dlsym(h, "unw_backtrace");
    }
    bool ok = h && unw.getcontext && unw.init_local && unw.get_reg && unw.step && unw.get_save_loc &&
              unw.backtrace;
    if (!ok) log_line("cannot load libunwind.so.8 (Debian package libunwind8): allocation stacks "
                      "cannot be captured; reports will have no stacks");
    atomic_store_explicit(&unw_state, ok ? 2 : -1, memory_order_release);
    return ok;
}

static void fork_prepare_gen(void);
static void fork_child_gen(void);
static void fork_parent_gen(void);

static bool cfi_usable(void);

void leak_late_init(void)
{
    unw_allowed = true;
    /* Loaded now rather than inside a malloc later, when it will be needed. */
    if (leak_capture && opt.stack_depth && (opt.unwind == UNWIND_LIBUNWIND || !cfi_usable())) unw_load();
    if (slices) pthread_atfork(fork_prepare_gen, fork_parent_gen, fork_child_gen);
}

bool leak_capture;

extern void *__libc_stack_end;
extern const ElfW(Ehdr) __ehdr_start HIDDEN;

/* ---- our own code: frames in [self_lo, self_hi) are cowgc's and never reported ---- */

static uintptr_t self_lo, self_hi;
static uintptr_t self_wlo, self_whi;       /* our writable segments: never a quick-check root */
static const uint8_t *self_eh_hdr;         /* our .eh_frame_hdr (its search table), or NULL */

static void self_text_init(void)
{
    const ElfW(Ehdr) *eh = &__ehdr_start;
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)((const char *)eh + eh->e_phoff);
    uintptr_t lo = UINTPTR_MAX, hi = 0, bias = (uintptr_t)eh;
    for (unsigned i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0) bias = (uintptr_t)eh - ph[i].p_vaddr;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_X)) continue;
        if (bias + ph[i].p_vaddr < lo) lo = bias + ph[i].p_vaddr;
        if (bias + ph[i].p_vaddr + ph[i].p_memsz > hi) hi = bias + ph[i].p_vaddr + ph[i].p_memsz;
    }
    if (lo < hi) { self_lo = lo; self_hi = hi; }
    lo = UINTPTR_MAX, hi = 0;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_W)) continue;
        if (bias + ph[i].p_vaddr < lo) lo = bias + ph[i].p_vaddr;
        if (bias + ph[i].p_vaddr + ph[i].p_memsz > hi) hi = bias + ph[i].p_vaddr + ph[i].p_memsz;
    }
    if (lo < hi) { self_wlo = lo & ~(uintptr_t)4095; self_whi = (hi + 4095) & ~(uintptr_t)4095; }
    for (unsigned i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_GNU_EH_FRAME) self_eh_hdr = (const uint8_t *)(bias + ph[i].p_vaddr);
}

void leak_set_self_text(uintptr_t lo, uintptr_t hi) { self_lo = lo; self_hi = hi; }
static inline bool in_self(uintptr_t pc) { return pc - self_lo < self_hi - self_lo; }

/* ---- small helpers: NORESERVE maps (the spin lock surviving fork is pid_lock, below cs) ---- */

/* The log can take a report: a program that closed its stderr (coreutils do, at exit) cannot. */
static bool log_writable(int fd) { return fcntl(fd, F_GETFD) >= 0; }

static void *map_noreserve(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Long-lived tables are not roots: ids and hashes must not keep blocks alive by accident. */
static void *map_table(size_t len)
{
    void *p = map_noreserve(len);
    if (p) roots_exclude((uintptr_t)p, (uintptr_t)p + len);
    return p;
}

/* The slices (index and segments) of detect mode: a forked child gets them zeroed
 * (MADV_WIPEONFORK), not shared. Every allocation writes its slot, so a parent that goes on
 * allocating after fork() (a shell between command substitutions) took a copy-on-write fault
 * on each slice page it wrote, again after every fork: 8.4 per iteration of fork_loop.sh,
 * 11% of the shell's faults. What a child loses is what it never reads: it reports and
 * classifies only its own blocks (gen == gen_tag(), or its own log), and an inherited block
 * reads as { id 0, slack 0, gen 0 }: not its own, as before. Its own blocks past the log get
 * new slices carved from the zeroed segment. Collect mode with COWGC_REPORT_RECLAIMED keeps
 * them shared: a worker reclaims inherited garbage and reports where it was allocated. */
static void slices_wipe_on_fork(void *p, size_t len)
{
    if (opt.mode == MODE_DETECT && p) madvise(p, len, MADV_WIPEONFORK);
}

/* ---- per-block metadata: chunk -> slice of slots ---- */

#define SEG_BYTES ((size_t)64 << 20)

struct slot_meta {
    uint32_t id;               /* stack id, 0 = none */
    uint16_t slack;            /* slot size - requested size */
    uint16_t gen;              /* gen_tag() of the process that allocated it; 0 = no record */
};
_Static_assert(sizeof(struct slot_meta) == 8, "two slots per 16 bytes");

/* A slice's first SLICE_HEAD slots follow its header; the rest are its tail (see the top). */
#define SLICE_HEAD 64
struct slice_hdr {
    struct slot_meta *tail;    /* slots SLICE_HEAD.. of the slice, NULL when cap <= SLICE_HEAD */
    uint32_t cap;              /* slots in the slice: a power of two, 16 or more */
    uint32_t unused;
};
_Static_assert(sizeof(struct slice_hdr) == 16, "heads stay 16-byte aligned");
static inline struct slice_hdr *slice_hdr(struct slot_meta *sl) { return (struct slice_hdr *)sl - 1; }

static char *seg_next, *seg_end;   /* heads are carved upwards from seg_next, tails down from seg_end */
static _Atomic int slice_lock;


/* What a forked child writes on its way (fork handler, log, exit check), in one page-aligned
 * place: after fork() each first store to a page is a copy-on-write fault. The quick check's
 * scratch follows: a filter of the 64-byte granules own blocks cover (bit (offset / 64) % 4096,
 * see qbloom_test), a pagemap buffer, the own log's head (below), the marked set (open
 * addressing, user addresses) and then the work list, so a child that allocated a few dozen
 * blocks writes this one page for all of it. */
#define QUICK_MAX 1024                       /* own live blocks the quick check takes on */
/* cs.qvia, for the verbose line (and its tests): the pagemap the quick check ended with, and
 * whether a pass through the parent's came first and missed. */
enum { QVIA_NONE, QVIA_PARENT, QVIA_OWN, QVIA_OWN_AFTER_PARENT };
#define QBLOOM_WORDS 64
#define QENT 128
struct qrange { uintptr_t lo, hi; };
#define OWN_LOG_CAP 512
#define OWN_HEAD 64                          /* records in cs, found through a byte index */
#define OWN_HEAD_BITS 7
#define OWN_INDEX_BITS 10
#define OWN_INDEX_SLOTS (1u << OWN_INDEX_BITS)  /* record number + 1 per slot; load <= 1/2 */
struct own_rec {
    uintptr_t user;                         /* the block's address (block_user) */
    uint32_t id;
    uint16_t slack;
    uint16_t pad;
};
_Static_assert((1u << OWN_HEAD_BITS) >= 2 * OWN_HEAD && OWN_HEAD < 256, "load <= 1/2; a byte per slot");
_Static_assert(OWN_INDEX_SLOTS >= 2 * OWN_LOG_CAP, "load <= 1/2");
static struct {
    uint16_t proc_gen;                      /* fork generation of this process (see the invariants) */
    bool forked_since_gen;                  /* this process forked: its pages are shared again */
    bool allocated_since_fork;
    bool own_logging;                       /* this process logs (a child, log not outgrown) */
    bool own_log_stale;                     /* the log's pages hold an ancestor's records */
    uint32_t own_count;                     /* log records of this process */
    int pagemap;                            /* the pagemap descriptor of the running check */
    uint8_t qvia;                           /* the pagemap the quick check ended with (QVIA_*) */
    unsigned qmask, nwork;
    uintptr_t *qset;
    struct qrange *qwork;
    /* Not beside nwork: quick_scan bumps both, and the compiler would pair the two increments
     * into one vector add of a constant in .rodata, a page no forked child maps otherwise. */
    unsigned nmarked;
    _Atomic int lock_pid;                   /* pid_lock's: see there */
    bool report_final;                      /* the exit's report: see scratch_unmap */
    uint64_t bloom[QBLOOM_WORDS];
    uintptr_t qwin_first;                   /* page number of ent[0] (qwin_entry) */
    size_t qwin_n;                          /* valid entries in ent */
    uintptr_t qwin_end;                     /* page number past the last one the pass will ask */
    uint64_t ent[QENT];
    uint8_t own_hidx[1u << OWN_HEAD_BITS];  /* the head's index: record number + 1 per slot */
    struct own_rec own_head[OWN_HEAD];      /* the log's first records */
    uintptr_t buf[QUICK_MAX * 4];
} cs COLD_BSS __attribute__((aligned(4096)));
_Static_assert(offsetof(__typeof__(cs), buf) + 1024 <= 4096, "the head and some of the quick check's set share the first page");

/* What a block's metadata records as its process: proc_gen + 1, so that 0 (a slice wiped at
 * fork, or never written) is no process's. */
static inline uint16_t gen_tag(void) { return (uint16_t)(cs.proc_gen + 1); }

/* This report runs in a child made by a raw clone() of the exec'd process (no fork handler ran,
 * so proc_gen is still 0): set by leak_report from the pid. Its own blocks carry the tag its
 * parent's did, but the parent's read 0 here (wiped), so it reports only its own, as a fork()
 * child does. A raw clone of a fork() child needs nothing: proc_gen >= 1 already says child. */
static bool raw_clone;

static inline bool in_child(void) { return cs.proc_gen != 0 || raw_clone; }

static inline int pagemap_fd(void) { return cs.pagemap; }

/* cs.report_final, set by leak_at_exit: the report's scratch memory is then left mapped.
 * Each munmap of touched pages costs a TLB flush and the pages' freeing (10-15 us each in a
 * VM; a leaking short program unmapped eight such areas on its way out), and the exit gives
 * it all back. */
static void scratch_unmap(void *p, size_t len)
{
    if (p && !cs.report_final) munmap(p, len);
}

/* cs.lock_pid: this process's pid for the locks below and the depot's, 0 until a lock first
 * needs it and again in a fork child (fork_child_gen writes its page anyway): taking a lock
 * then costs no system call (a short program took 40 getpid()s, about 1 us each in a VM). A
 * child made by a raw clone() runs no fork handler and keeps its parent's pid, so a lock that
 * stays held is checked against getpid() once before the waiting turns to yields. */
void pid_lock(_Atomic int *l)
{
    int me = atomic_load_explicit(&cs.lock_pid, memory_order_relaxed);
    if (unlikely(!me)) atomic_store_explicit(&cs.lock_pid, me = getpid(), memory_order_relaxed);
    for (unsigned spins = 0;; spins++) {
        int expect = 0;
        if (atomic_compare_exchange_weak_explicit(l, &expect, me, memory_order_acquire, memory_order_relaxed))
            return;
        /* The holder is in another process: we are a fork child, it does not exist here. */
        if (expect && expect != me &&
            atomic_compare_exchange_strong_explicit(l, &expect, me, memory_order_acquire, memory_order_relaxed))
            return;
        if (spins == 64) {
            int real = getpid();
            if (real != me) { atomic_store_explicit(&cs.lock_pid, me = real, memory_order_relaxed); continue; }
        }
        if (spins > 64) sched_yield();
        else __builtin_ia32_pause();
    }
}

void pid_unlock(_Atomic int *l) { atomic_store_explicit(l, 0, memory_order_release); }

/* At the start of each check: the process's pagemap descriptor (scanner.h), checked to be
 * ours and this process's (a forked child's first check opens its own). */
CHILD_PATH static bool pagemap_open(void)
{
    cs.pagemap = proc_pagemap_fd();
    return cs.pagemap >= 0;
}

/* The quick check's pagemap descriptor, closed when it ends. A forked child checks once, on
 * its way out, and needs the descriptor for two or three reads: the cached one
 * (proc_pagemap_fd) would also be moved high and identified, and recorded in a page of
 * cowgc's globals that nothing else in the child writes. Each of those first stores (that
 * page, the stack under getrlimit and fstat) is a copy-on-write fault, which costs a forked
 * child more than the system calls (fork_loop.sh: opening took 60-95 us per child, now 23-35). */
CHILD_PATH static int pagemap_once(void)
{
    static const char path[] CHILD_RODATA = "/proc/self/pagemap";   /* not in .rodata (see quick_check) */
    return (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
}

/* ---- a forked child's own allocations: a private log instead of the slices ----
 * After fork() every first store to a page of the slices is a copy-on-write fault, and a
 * short-lived child's few allocations land on as many slice pages as it touches size classes
 * (a shell's $( ) child: about ten faults, more than the rest of its bookkeeping). So a child
 * records its first OWN_LOG_CAP blocks as (address, stack id, slack) in a log of its own,
 * behind an index (address -> record). The first OWN_HEAD records and their index lie in cs,
 * on the page the child's fork handler writes anyway (a $( ) child logs 10-50); past them the
 * records go on in own_store, and its index is built when the head is full. All allocations of
 * a logging process are logged and nothing else is, so an allocated block is its own iff its
 * address has a record. When the log is full its live blocks move to the slices (gen =
 * proc_gen) and the slices take over. gen 0 (an exec'd program) never logs. */
static bool own_log;                        /* the log can be used (leak_init) */
/* In cowgc's data, beside the child's other state (cs), not in a mapping of its own: each
 * further 2 MiB region is one more page table for a child to fault in. */
COLD_BSS static struct {
    uint16_t index[OWN_INDEX_SLOTS];        /* every record, once there are more than OWN_HEAD */
    struct own_rec rec[OWN_LOG_CAP - OWN_HEAD];
} own_store __attribute__((aligned(4096)));

static inline struct own_rec *own_rec_at(uint32_t i)
{
    return i < OWN_HEAD ? &cs.own_head[i] : &own_store.rec[i - OWN_HEAD];
}
static _Atomic int own_lock;

CHILD_PATH static void fork_child_gen(void)
{
    cs.proc_gen++;
    cg_assert(gen_tag() != 0);      /* 0 is a wiped record's, never a process's */
    cs.forked_since_gen = false;
    cs.allocated_since_fork = false;
    if (cs.own_count) cs.own_log_stale = true;      /* its head index is cleared at the first record */
    cs.own_count = 0;
    if (own_log) cs.own_logging = true;
    if (atomic_load_explicit(&cs.lock_pid, memory_order_relaxed))
        atomic_store_explicit(&cs.lock_pid, 0, memory_order_relaxed);
    if (atomic_load_explicit(&own_lock, memory_order_relaxed))
        atomic_store_explicit(&own_lock, 0, memory_order_relaxed);   /* its holder is gone */
}

/* The log's lock: only once the child has started threads (a getpid-free spin lock; the fork
 * handler frees it). */
static bool own_lock_take(void)
{
    if (__libc_single_threaded) return false;
    int expect = 0;
    while (!atomic_compare_exchange_weak_explicit(&own_lock, &expect, 1, memory_order_acquire,
                                                  memory_order_relaxed)) {
        expect = 0;
        sched_yield();
    }
    return true;
}

static void own_lock_drop(bool taken)
{
    if (taken) atomic_store_explicit(&own_lock, 0, memory_order_release);
}

/* After a fork every first store to a page is a copy-on-write fault: store only changes. */
CHILD_PATH static void fork_parent_gen(void) { if (!cs.forked_since_gen) cs.forked_since_gen = true; }

static struct slot_meta *slice_grow(uint32_t ci, uint32_t need)
{
    uint32_t cap = 16;
    while (cap < need) cap <<= 1;
    pid_lock(&slice_lock);
    struct slot_meta *s = atomic_load_explicit(slice_ref(ci), memory_order_relaxed);
    if (!s || slice_hdr(s)->cap < need) {
        uint32_t nhead = cap < SLICE_HEAD ? cap : SLICE_HEAD;
        size_t head = sizeof(struct slice_hdr) + (size_t)nhead * sizeof(struct slot_meta);
        size_t tail = (size_t)(cap - nhead) * sizeof(struct slot_meta);
        if (seg_next + head + tail > seg_end) {
            char *m = map_table(SEG_BYTES);
            if (!m) { pid_unlock(&slice_lock); return NULL; }
            slices_wipe_on_fork(m, SEG_BYTES);
            seg_next = m;
            seg_end = m + SEG_BYTES;
        }
        struct slice_hdr *h = (struct slice_hdr *)seg_next;
        seg_next += head;
        seg_end -= tail;
        h->cap = cap;
        h->tail = tail ? (struct slot_meta *)seg_end : NULL;
        struct slot_meta *ns = (struct slot_meta *)(h + 1);
        atomic_store_explicit(slice_ref(ci), ns, memory_order_release);
        s = ns;
    }
    pid_unlock(&slice_lock);
    return s;
}

/* Slot idx of slice sl (idx < its capacity). */
static inline struct slot_meta *slice_slot(struct slot_meta *sl, uint32_t idx)
{
    cg_assert(idx < slice_hdr(sl)->cap && (slice_hdr(sl)->cap <= SLICE_HEAD) == !slice_hdr(sl)->tail);
    return idx < SLICE_HEAD ? &sl[idx] : &slice_hdr(sl)->tail[idx - SLICE_HEAD];
}

/* The metadata slot of the block at user address p (just allocated, so its span is stable),
 * and its slot size. */
static struct slot_meta *meta_slot(uintptr_t p, size_t *slot_size)
{
    uint32_t ci = chunk_of(p), idx = 0, need = 1;
    const struct span *s = span_at(ci);
    if (likely(s->kind == SPAN_SMALL)) {
        idx = (uint32_t)(((uint64_t)(p - chunk_addr(ci)) * s->recip) >> 32);
        need = s->nblocks;
    } else {
        ci = span_head(ci);
        s = span_at(ci);
    }
    *slot_size = s->size;
    struct slot_meta *sl = atomic_load_explicit(slice_ref(ci), memory_order_acquire);
    if (unlikely(!sl || slice_hdr(sl)->cap < need)) sl = slice_grow(ci, need);
    return sl ? slice_slot(sl, idx) : NULL;
}

static inline const struct slot_meta *meta_get(uint32_t ci, uint32_t idx)
{
    static const struct slot_meta none = { 0, 0, 0 };
    if (!slices) return &none;
    struct slot_meta *sl = atomic_load_explicit(slice_ref(ci), memory_order_acquire);
    return sl && idx < slice_hdr(sl)->cap ? slice_slot(sl, idx) : &none;
}

static inline uint16_t slack_of(size_t slot_size, size_t requested)
{
    size_t d = requested < slot_size ? slot_size - requested : 0;
    return d > UINT16_MAX ? UINT16_MAX : (uint16_t)d;
}

/* The address of block idx of span ci (its head chunk for a LARGE block). */
static inline uintptr_t block_user(uint32_t ci, uint32_t idx)
{
    const struct span *s = span_at(ci);
    if (s->kind == SPAN_SMALL) return chunk_addr(ci) + (uintptr_t)idx * s->stride + heap.hdr;
    return chunk_addr(ci) + s->offset;
}

/* The block holding p (just allocated, so its span is stable): its address and slot size. */
static inline uintptr_t block_at(uintptr_t p, size_t *slot_size)
{
    uint32_t ci = chunk_of(p);
    const struct span *s = span_at(ci);
    if (likely(s->kind == SPAN_SMALL)) {
        *slot_size = s->size;
        return block_user(ci, (uint32_t)(((uint64_t)(p - chunk_addr(ci)) * s->recip) >> 32));
    }
    ci = span_head(ci);
    *slot_size = span_at(ci)->size;
    return block_user(ci, 0);
}

static inline uint32_t own_hash(uintptr_t user, unsigned bits)
{
    return (uint32_t)(((user >> 4) * 0x9e3779b97f4a7c15ull) >> (64 - bits));
}

/* The record of the block at user, or NULL. Reads only this process's pages (own_count == 0:
 * the indexes may still hold an ancestor's entries; the big one is rebuilt when the head
 * fills, and read only past it). */
CHILD_PATH static struct own_rec *own_find(uintptr_t user)
{
    if (!cs.own_count) return NULL;
    if (cs.own_count <= OWN_HEAD) {
        for (uint32_t i = own_hash(user, OWN_HEAD_BITS);; i = (i + 1) & ((1u << OWN_HEAD_BITS) - 1)) {
            uint8_t r = cs.own_hidx[i];
            if (!r) return NULL;
            if (cs.own_head[r - 1].user == user) return &cs.own_head[r - 1];
        }
    }
    for (uint32_t i = own_hash(user, OWN_INDEX_BITS);; i = (i + 1) & (OWN_INDEX_SLOTS - 1)) {
        uint16_t r = own_store.index[i];
        if (!r) return NULL;
        struct own_rec *rec = own_rec_at(r - 1u);
        if (rec->user == user) return rec;
    }
}

/* Record n (its user set) into the head's index (n < OWN_HEAD) or the big one. */
CHILD_PATH static void own_index_put(uint32_t n)
{
    uintptr_t user = own_rec_at(n)->user;
    if (n < OWN_HEAD) {
        uint32_t i = own_hash(user, OWN_HEAD_BITS);
        while (cs.own_hidx[i]) i = (i + 1) & ((1u << OWN_HEAD_BITS) - 1);
        cs.own_hidx[i] = (uint8_t)(n + 1);
        return;
    }
    uint32_t i = own_hash(user, OWN_INDEX_BITS);
    while (own_store.index[i]) i = (i + 1) & (OWN_INDEX_SLOTS - 1);
    own_store.index[i] = (uint16_t)(n + 1);
}

/* A forked child's own blocks: allocated by this process, not inherited. */
static inline bool own_block(uint32_t ci, uint32_t idx)
{
    if (cs.own_logging) return own_find(block_user(ci, idx)) != NULL;
    return meta_get(ci, idx)->gen == gen_tag();
}

/* The metadata of an allocated block, wherever it is kept. */
static inline struct slot_meta meta_of(uint32_t ci, uint32_t idx)
{
    if (unlikely(cs.own_logging)) {
        const struct own_rec *r = own_find(block_user(ci, idx));
        if (r) return (struct slot_meta){ r->id, r->slack, gen_tag() };
    }
    return *meta_get(ci, idx);
}

uint32_t leak_stack_id(uint32_t ci, uint32_t idx) { return meta_of(ci, idx).id; }

size_t leak_requested_size(uint32_t ci, uint32_t idx, size_t slot_size)
{
    uint16_t slack = meta_of(ci, idx).slack;
    return slack < slot_size ? slot_size - slack : slot_size;
}

/* ---- the current thread's stack bounds, for the fp unwinder ---- */

/* The mapping that holds sp, from /proc/thread-self/maps read with open/read into a stack
 * buffer. Not pthread_getattr_np: it holds the thread's own lock while it calls realloc, so a
 * capture inside that realloc waited for itself forever (Ruby calls it at every thread start). */
static bool mapping_around(uintptr_t sp, uintptr_t *lo, uintptr_t *hi)
{
    /* Raw system calls: this runs inside malloc, which must never be a cancellation point. */
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/thread-self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[2048];
    size_t have = 0;
    bool found = false, eof = false;
    while (!found) {
        if (!eof && have < sizeof buf) {
            ssize_t got = syscall(SYS_read, fd, buf + have, sizeof buf - have);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) eof = true;
            else have += (size_t)got;
        }
        char *nl = memchr(buf, '\n', have);
        if (!nl) {
            if (eof || have == sizeof buf) break;  /* no more lines, or one longer than buf */
            continue;
        }
        uintptr_t a = 0, b = 0;
        const char *q = buf;
        for (; *q != '-'; q++) a = a << 4 | (uintptr_t)(*q <= '9' ? *q - '0' : *q - 'a' + 10);
        for (q++; *q != ' '; q++) b = b << 4 | (uintptr_t)(*q <= '9' ? *q - '0' : *q - 'a' + 10);
        if (a <= sp && sp < b) {
            *lo = a;
            *hi = b;
            found = true;
        }
        size_t used = (size_t)(nl + 1 - buf);
        memmove(buf, nl + 1, have - used);
        have -= used;
    }
    syscall(SYS_close, fd);
    return found;
}

/* A few stacks per thread (its own and the coroutine or fiber stacks it switches to). */
#define STK_CACHE 4
static __thread struct { uintptr_t lo, hi; } stk[STK_CACHE];
static __thread unsigned stk_next;

/* The main thread's stack without /proc (read at every exec'd program's first allocation
 * otherwise): below the top of its used part lie RLIMIT_STACK bytes that the kernel keeps
 * free of other mappings (mmap_base sits below them), and [sp, top) is mapped. Set by
 * leak_init; 0 when the limit is unlimited or huge. */
static uintptr_t main_stack_lo, main_stack_hi;
/* The main stack's mapping goes on above main_stack_hi: argument and environment strings, up
 * to the program's file name (AT_EXECFN), the last. For unwind_fp's test of return addresses. */
static uintptr_t main_stack_end;
static uintptr_t initial_stack_top(void);

static void main_stack_init(void)
{
    struct rlimit rl;
    uintptr_t top = initial_stack_top();
    if (!top || getrlimit(RLIMIT_STACK, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur > ((rlim_t)1 << 30) || rl.rlim_cur >= top)
        return;
    main_stack_lo = top - (uintptr_t)rl.rlim_cur;
    main_stack_hi = main_stack_end = top;
    const char *fn = (const char *)getauxval(AT_EXECFN);
    if ((uintptr_t)fn > top && (uintptr_t)fn - top < ((uintptr_t)1 << 30))
        main_stack_end = ((uintptr_t)fn + strlen(fn) + 1 + 4095) & ~(uintptr_t)4095;
}

static bool stack_bounds(uintptr_t sp, uintptr_t *lo, uintptr_t *hi)
{
    for (unsigned i = 0; i < STK_CACHE; i++)
        if (stk[i].lo <= sp && sp < stk[i].hi) {
            *lo = stk[i].lo;
            *hi = stk[i].hi;
            return true;
        }
    /* Known without /proc: a thread started through our pthread_create, or the main thread. */
    if (hooks_thread_stack.lo <= sp && sp < hooks_thread_stack.hi) {
        *lo = hooks_thread_stack.lo;
        *hi = hooks_thread_stack.hi;
    } else if (main_stack_lo <= sp && sp < main_stack_hi) {
        *lo = main_stack_lo;
        *hi = main_stack_hi;
    } else if (!mapping_around(sp, lo, hi)) {
        return false;
    }
    stk[stk_next].lo = *lo;
    stk[stk_next].hi = *hi;
    stk_next = (stk_next + 1) % STK_CACHE;
    return true;
}

/* ---- unwinders ---- */

/* How to step out of one of our frames, given the return address into it: its CFA is the callee's
 * CFA + delta; it saved its caller's rbp at CFA + rbp_off (0: it did not touch rbp). */
/* Keyed by return addresses into cowgc, of which there are a few dozen: one page, so that a
 * short program's first unwinds fault in one page of it, not the three a random spread over
 * two pages' worth took. Full, a frame's layout is read from .eh_frame each time. */
#define LAYOUTS 256
struct layout { _Atomic uintptr_t ra; int32_t delta, rbp_off; };
COLD_BSS static struct layout layouts[LAYOUTS] __attribute__((aligned(4096)));
_Static_assert(sizeof layouts == 4096, "one page");
static _Atomic int layout_lock;

static inline uint32_t layout_hash(uintptr_t ra) { return (uint32_t)((ra * 0x9e3779b97f4a7c15ull) >> 56); }

static const struct layout *layout_find(uintptr_t ra)
{
    for (uint32_t i = layout_hash(ra), n = 0; n < LAYOUTS; i = (i + 1) & (LAYOUTS - 1), n++) {
        uintptr_t r = atomic_load_explicit(&layouts[i].ra, memory_order_acquire);
        if (r == ra) return &layouts[i];
        if (!r) return NULL;
    }
    return NULL;
}

static void layout_add(uintptr_t ra, intptr_t delta, intptr_t rbp_off)
{
    pid_lock(&layout_lock);
    if (!layout_find(ra)) {
        for (uint32_t i = layout_hash(ra), n = 0; n < LAYOUTS; i = (i + 1) & (LAYOUTS - 1), n++) {
            if (atomic_load_explicit(&layouts[i].ra, memory_order_relaxed)) continue;
            layouts[i].delta = (int32_t)delta;
            layouts[i].rbp_off = (int32_t)rbp_off;
            atomic_store_explicit(&layouts[i].ra, ra, memory_order_release);
            break;
        }
    }
    pid_unlock(&layout_lock);
}

/* ---- our frames' layouts from our own .eh_frame, without libunwind ----
 * libunwind (and its liblzma) mapped into every process costs each fork() a dozen more mappings
 * to copy and each exec'd program two library loads, for a few dozen frame layouts that are a
 * property of this library's code. So the layout at a return address is read from our own
 * call frame information: the FDE found through .eh_frame_hdr's search table, its CIE's and its
 * own instructions run up to the call. Only what GCC emits for x86-64 is understood (CFA =
 * rsp + offset, rbp saved at CFA + offset); anything else answers false and libunwind decides. */

static uint64_t uleb(const uint8_t **p, const uint8_t *end)
{
    uint64_t v = 0;
    for (unsigned sh = 0; *p < end && sh < 64; sh += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << sh;
        if (!(b & 0x80)) break;
    }
    return v;
}

static int64_t sleb(const uint8_t **p, const uint8_t *end)
{
    int64_t v = 0;
    unsigned sh = 0;
    uint8_t b = 0;
    while (*p < end && sh < 64) {
        b = *(*p)++;
        v |= (int64_t)(b & 0x7f) << sh;
        sh += 7;
        if (!(b & 0x80)) break;
    }
    if (sh < 64 && (b & 0x40)) v |= -((int64_t)1 << sh);
    return v;
}

struct cfi_state { uint64_t cfa_reg; int64_t cfa_off; bool rbp_saved; int64_t rbp_off; };

enum { DW_RBP = 6, DW_RSP = 7 };

/* Runs CFA instructions [p, end) from location loc while loc <= target. init: the CIE's rules
 * (for DW_CFA_restore). false: an instruction this reader does not take on. */
static bool cfi_run(const uint8_t *p, const uint8_t *end, uintptr_t loc, uintptr_t target,
                    int64_t data_align, struct cfi_state *st, const struct cfi_state *init)
{
    struct cfi_state saved[4];
    unsigned nsaved = 0;
    while (p < end) {
        uint8_t op = *p++;
        uint64_t reg, delta = 0;
        switch (op >> 6) {
        case 1: delta = op & 0x3f; goto advance;
        case 2:
            reg = op & 0x3f;
            if (reg == DW_RBP) { st->rbp_saved = true; st->rbp_off = (int64_t)uleb(&p, end) * data_align; }
            else uleb(&p, end);
            continue;
        case 3:
            if ((op & 0x3f) == DW_RBP) { st->rbp_saved = init->rbp_saved; st->rbp_off = init->rbp_off; }
            continue;
        }
        switch (op) {
        case 0x00: continue;                                        /* nop */
        case 0x02: if (p + 1 > end) return false; delta = p[0]; p += 1; goto advance;
        case 0x03: if (p + 2 > end) return false; delta = (uint64_t)p[0] | (uint64_t)p[1] << 8; p += 2; goto advance;
        case 0x04:
            if (p + 4 > end) return false;
            delta = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
            p += 4;
            goto advance;
        case 0x05:                                                  /* offset_extended */
            reg = uleb(&p, end);
            if (reg == DW_RBP) { st->rbp_saved = true; st->rbp_off = (int64_t)uleb(&p, end) * data_align; }
            else uleb(&p, end);
            continue;
        case 0x11:                                                  /* offset_extended_sf */
            reg = uleb(&p, end);
            if (reg == DW_RBP) { st->rbp_saved = true; st->rbp_off = sleb(&p, end) * data_align; }
            else sleb(&p, end);
            continue;
        case 0x06: case 0x07: case 0x08:                           /* restore_ext, undefined, same_value */
            reg = uleb(&p, end);
            if (reg == DW_RBP) {
                if (op == 0x07) return false;
                st->rbp_saved = op == 0x06 && init->rbp_saved;
                st->rbp_off = init->rbp_off;
            }
            continue;
        case 0x09:                                                  /* register */
            reg = uleb(&p, end);
            uleb(&p, end);
            if (reg == DW_RBP) return false;
            continue;
        case 0x0a: if (nsaved == 4) return false; saved[nsaved++] = *st; continue;
        case 0x0b: if (!nsaved) return false; *st = saved[--nsaved]; continue;
        case 0x0c: st->cfa_reg = uleb(&p, end); st->cfa_off = (int64_t)uleb(&p, end); continue;
        case 0x0d: st->cfa_reg = uleb(&p, end); continue;
        case 0x0e: st->cfa_off = (int64_t)uleb(&p, end); continue;
        case 0x12: st->cfa_reg = uleb(&p, end); st->cfa_off = sleb(&p, end) * data_align; continue;
        case 0x13: st->cfa_off = sleb(&p, end) * data_align; continue;
        case 0x10: case 0x16: {                                     /* (val_)expression */
            reg = uleb(&p, end);
            uint64_t n = uleb(&p, end);
            if (reg == DW_RBP || n > (uint64_t)(end - p)) return false;
            p += n;
            continue;
        }
        case 0x2e: uleb(&p, end); continue;                         /* GNU_args_size */
        default: return false;                                      /* set_loc, def_cfa_expression, ... */
        }
    advance:
        loc += delta;                                               /* code alignment is 1 (checked) */
        if (loc > target) return true;
    }
    return true;
}

static inline int32_t rd32(const uint8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }

/* .eh_frame_hdr as GCC and ld write it: version 1, eh_frame_ptr pcrel|sdata4, fde_count
 * udata4, a search table of datarel|sdata4 pairs. */
static bool cfi_usable(void)
{
    const uint8_t *h = self_eh_hdr;
    return h && h[0] == 1 && h[1] == 0x1b && h[2] == 0x03 && h[3] == 0x3b && rd32(h + 8) > 0;
}

/* The layout of our frame that returns to ra, from our .eh_frame. */
static bool layout_from_cfi(uintptr_t ra, intptr_t *delta, intptr_t *rbp_off)
{
    const uint8_t *h = self_eh_hdr;
    if (!cfi_usable()) return false;
    uint32_t n = (uint32_t)rd32(h + 8);
    const uint8_t *tab = h + 12;
    uintptr_t pc = ra - 1;                   /* the call instruction */
    uint32_t lo = 0, hi = n;                 /* last entry with initial location <= pc */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)(h + rd32(tab + 8 * mid)) <= pc) lo = mid + 1;
        else hi = mid;
    }
    if (!lo) return false;
    const uint8_t *fde = h + rd32(tab + 8 * (lo - 1) + 4);
    uint32_t flen = (uint32_t)rd32(fde);
    if (flen == 0 || flen == 0xffffffffu) return false;
    const uint8_t *fend = fde + 4 + flen;
    const uint8_t *cie = fde + 4 - rd32(fde + 4);
    uint32_t clen = (uint32_t)rd32(cie);
    if (clen == 0 || clen == 0xffffffffu || rd32(cie + 4) != 0) return false;
    const uint8_t *cend = cie + 4 + clen, *c = cie + 8;
    uint8_t version = *c++;
    const char *aug = (const char *)c;
    if (version != 1 && version != 3) return false;
    while (c < cend && *c) c++;
    c++;
    if (uleb(&c, cend) != 1) return false;   /* code alignment */
    int64_t data_align = sleb(&c, cend);
    if (version == 1) c++; else uleb(&c, cend);
    bool z = aug[0] == 'z';
    uint8_t renc = 0;
    if (z) {
        uint64_t alen = uleb(&c, cend);
        const uint8_t *ad = c;
        for (const char *a = aug + 1; *a; a++) {
            if (*a == 'R') renc = *ad++;
            else if (*a == 'L') ad++;
            else if (*a != 'S') return false;   /* a personality routine: not in our C code */
        }
        c += alen;
    }
    if (renc != 0x1b || !z) return false;   /* pcrel|sdata4 */
    const uint8_t *f = fde + 8;
    uintptr_t begin = (uintptr_t)(f + rd32(f)), range = (uint32_t)rd32(f + 4);
    if (pc < begin || pc >= begin + range) return false;
    f += 8;
    uint64_t flen_aug = uleb(&f, fend);
    f += flen_aug;
    struct cfi_state st = { DW_RSP, 8, false, 0 }, init;
    if (!cfi_run(c, cend, 0, 0, data_align, &st, &st)) return false;
    init = st;
    if (!cfi_run(f, fend, begin, pc, data_align, &st, &init)) return false;
    if (st.cfa_reg != DW_RSP || st.cfa_off <= 0) return false;
    *delta = (intptr_t)st.cfa_off;
    *rbp_off = st.rbp_saved ? (intptr_t)st.rbp_off : 0;
    return true;
}

/* Learn the layouts of our frames on the current stack from their DWARF CFI. */
static __attribute__((noinline)) bool learn_layouts_uncancellable(void);
/* libunwind may call cancellation points (msync, open): inside malloc a pending cancel would
 * act there, so it runs with cancellation disabled. */
static bool learn_layouts(void)
{
    int old;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    bool ok = learn_layouts_uncancellable();
    pthread_setcancelstate(old, NULL);
    return ok;
}

static __attribute__((noinline)) bool learn_layouts_uncancellable(void)
{
    unw_context_t uc;
    unw_cursor_t c;
    if (!unw_load()) return false;
    if (unw.getcontext(&uc) != 0 || unw.init_local(&c, &uc) != 0) return false;
    unw_word_t ip, sp, nsp;
    bool any = false;
    for (int i = 0; i < 32; i++) {
        if (unw.get_reg(&c, UNW_REG_IP, &ip) || unw.get_reg(&c, UNW_REG_SP, &sp)) break;
        bool mine = i > 0 && in_self(ip);      /* frame 0's ip is not a return address */
        if (i > 0 && !mine) break;
        if (unw.step(&c) <= 0 || unw.get_reg(&c, UNW_REG_SP, &nsp)) break;
        if (!mine) continue;
        unw_save_loc_t loc;
        intptr_t rbp_off = 0;
        if (unw.get_save_loc(&c, UNW_X86_64_RBP, &loc) == 0 && loc.type == UNW_SLT_MEMORY &&
            loc.u.addr >= sp && loc.u.addr < nsp)
            rbp_off = (intptr_t)loc.u.addr - (intptr_t)nsp;
        layout_add(ip, (intptr_t)(nsp - sp), rbp_off);
        any = true;
    }
    return any;
}

static unsigned unwind_libunwind(uintptr_t *pcs, unsigned max)
{
    void *buf[DEPOT_MAX_DEPTH + 16];
    if (!unw_load()) return 0;
    int old;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);   /* see learn_layouts */
    int n = unw.backtrace(buf, (int)(max + 16 < DEPOT_MAX_DEPTH + 16 ? max + 16 : DEPOT_MAX_DEPTH + 16));
    pthread_setcancelstate(old, NULL);
    int i = 0;
    while (i < n && in_self((uintptr_t)buf[i])) i++;
    unsigned k = 0;
    for (; i < n && k < max; i++) pcs[k++] = (uintptr_t)buf[i];
    return k;
}

/* Frame-pointer walk. Our frames are stepped with learned layouts; from the first frame outside
 * cowgc on, the rbp chain is followed while it stays inside this thread's stack and grows, and
 * while its return addresses lie outside the stack and the heap. Code built without frame
 * pointers keeps data in rbp, often a pointer to a local array: its "frame" then holds the
 * array's words, stack or heap addresses, and neither is ever a return address (our heap is
 * never executable). Each would be reported as "<unknown module>", and split one allocation
 * site into as many groups as it has such values. */
CHILD_PATH static __attribute__((noinline, optimize("no-omit-frame-pointer"))) unsigned
unwind_fp(uintptr_t *pcs, unsigned max)
{
    const uintptr_t *fp = __builtin_frame_address(0);
    uintptr_t cfa = (uintptr_t)fp + 16, ra = fp[1], rbp = fp[0];
    for (int hops = 0; in_self(ra); hops++) {
        const struct layout *l = layout_find(ra);
        if (!l) {
            intptr_t delta, rbp_off;
            if (layout_from_cfi(ra, &delta, &rbp_off)) {
                layout_add(ra, delta, rbp_off);
                l = layout_find(ra);
            }
        }
        if (!l && (!learn_layouts() || !(l = layout_find(ra)))) return 0;
        if (hops > 16 || l->delta <= 0) return 0;
        uintptr_t ncfa = cfa + (uintptr_t)l->delta;
        if (l->rbp_off) rbp = *(const uintptr_t *)(ncfa + (intptr_t)l->rbp_off);
        ra = *(const uintptr_t *)(ncfa - 8);
        cfa = ncfa;
    }
    unsigned n = 0;
    pcs[n++] = ra;
    uintptr_t lo, hi;
    if (!stack_bounds(cfa, &lo, &hi) || cfa < lo || cfa >= hi) return n;
    const uintptr_t stack_lo = lo;
    lo = cfa;
    while (n < max) {
        if (rbp < lo || rbp > hi - 16 || (rbp & 7)) break;
        const uintptr_t *f = (const uintptr_t *)rbp;
        uintptr_t next = f[0], pc = f[1];
        if (pc < 4096 || (pc >= stack_lo && pc < (hi == main_stack_hi ? main_stack_end : hi)) ||
            pc - heap.base < heap.size)
            break;
        pcs[n++] = pc;
        if (next <= rbp) break;
        lo = rbp + 16;
        rbp = next;
    }
    return n;
}


/* ---- capture ---- */

/* A slot reused by the same call site often gets the same metadata again: a store that changes
 * nothing is skipped, since after a fork() every first store to a page is a copy-on-write fault. */
static inline void meta_store(struct slot_meta *slot, struct slot_meta m)
{
    uint64_t v, old;
    memcpy(&v, &m, sizeof v);
    memcpy(&old, slot, sizeof old);
    if (old != v) memcpy(slot, &v, sizeof v);
}

/* A full log: its live blocks go to the slices, which take over. own_lock held. */
static void own_migrate(void)
{
    const uintptr_t limit = (uintptr_t)atomic_load_explicit(&heap.top, memory_order_relaxed) << CHUNK_SHIFT;
    for (uint32_t i = 0; i < cs.own_count; i++) {
        const struct own_rec *r = own_rec_at(i);
        struct lookup lk;
        if (!ptr_test_in(r->user, limit, &lk) || lk.user != r->user) continue;   /* freed */
        size_t slot_size;
        struct slot_meta *slot = meta_slot(r->user, &slot_size);
        if (slot) meta_store(slot, (struct slot_meta){ r->id, r->slack, gen_tag() });
    }
    cs.own_logging = false;
}

/* Records m for the block at p in the log; false: not logging (any more), use the slices. */
CHILD_PATH static bool own_put(uintptr_t p, struct slot_meta m)
{

    size_t slot_size;
    uintptr_t user = block_at(p, &slot_size);
    bool taken = own_lock_take();
    if (!cs.own_logging) { own_lock_drop(taken); return false; }
    if (cs.own_log_stale) {
        /* An ancestor's records: only the head's index must start empty (records past
         * own_count are never read, the big index is rebuilt). */
        memset(cs.own_hidx, 0, sizeof cs.own_hidx);
        cs.own_log_stale = false;
    }
    struct own_rec *r = own_find(user);
    if (!r && cs.own_count == OWN_LOG_CAP) {
        own_migrate();
        own_lock_drop(taken);
        return false;
    }
    if (!r) {
        uint32_t n = cs.own_count;
        r = own_rec_at(n);
        r->user = user;
        if (n == OWN_HEAD) {                /* the head is full: index everything in own_store */
            memset(own_store.index, 0, sizeof own_store.index);
            for (uint32_t k = 0; k < OWN_HEAD; k++) own_index_put(k);
        }
        own_index_put(n);
        cs.own_count = n + 1;
        /* The head's index answers while own_count <= OWN_HEAD, the big one after: either way
         * the new record is found through the index own_find now reads. */
        cg_assert(own_find(user) == r);
    }
    r->id = m.id;
    r->slack = m.slack;
    own_lock_drop(taken);
    return true;
}

static inline void meta_put(uintptr_t p, struct slot_meta m)
{
    if (unlikely(cs.own_logging) && own_put(p, m)) return;
    size_t slot_size;
    struct slot_meta *slot = meta_slot(p, &slot_size);
    if (likely(slot != NULL)) meta_store(slot, m);
}

static __thread int in_leak;               /* re-entrancy guard */
static __thread uint32_t sample_left;

CHILD_PATH void leak_on_alloc(void *ptr, size_t size)
{
    size_t slot_size;
    block_at((uintptr_t)ptr, &slot_size);
    if (unlikely(cs.proc_gen) && !cs.allocated_since_fork) cs.allocated_since_fork = true;
    struct slot_meta m = { 0, slack_of(slot_size, size), gen_tag() };
    uint32_t every = opt.stack_sample;
    if (every > 1) {
        if (unlikely(!sample_left))     /* first use: spread threads over the period */
            sample_left = 1 + (uint32_t)((((uintptr_t)&sample_left >> 12) * 2654435761u) % every);
        if (--sample_left) { meta_put((uintptr_t)ptr, m); return; }
        sample_left = every;
    }
    unsigned max = (unsigned)opt.stack_depth;
    if (in_leak || !max) { meta_put((uintptr_t)ptr, m); return; }
    in_leak = 1;
    uintptr_t pcs[DEPOT_MAX_DEPTH];
    unsigned n = opt.unwind == UNWIND_FP ? unwind_fp(pcs, max) : unwind_libunwind(pcs, max);
    m.id = n ? depot_put(pcs, n) : 0;
    meta_put((uintptr_t)ptr, m);
    in_leak = 0;
}

void leak_set_size(void *ptr, size_t size)
{
    size_t slot_size;
    uintptr_t user = block_at((uintptr_t)ptr, &slot_size);
    if (unlikely(cs.own_logging)) {
        bool taken = own_lock_take();
        struct own_rec *r = cs.own_logging ? own_find(user) : NULL;
        if (r) r->slack = slack_of(slot_size, size);
        own_lock_drop(taken);
        if (r) return;
    }
    struct slot_meta *slot = meta_slot((uintptr_t)ptr, &slot_size);
    if (slot) slot->slack = slack_of(slot_size, size);
}

/* ---- tallies: bytes and blocks per (stack id, kind) ---- */

enum { K_DIRECT, K_INDIRECT, K_RECLAIMED, K_KINDS };
struct tally { uint64_t bytes, count; };

static struct tally *reclaimed;            /* by stack id; collect mode + COWGC_REPORT_RECLAIMED */
static uint64_t reclaimed_ids;             /* entries mapped */

void leak_note_reclaimed(uint32_t ci, unsigned word, uint64_t bits)
{
    if (!reclaimed) return;
    const struct span *s = span_at(ci);
    for (; bits; bits &= bits - 1) {
        uint32_t idx = word * 64 + (unsigned)__builtin_ctzll(bits);
        const struct slot_meta m = meta_of(ci, idx);
        uint32_t id = m.id < reclaimed_ids ? m.id : 0;
        reclaimed[id].bytes += m.slack < s->size ? s->size - m.slack : s->size;
        reclaimed[id].count++;
    }
}

void leak_init(void)
{
    self_text_init();
    bool want = opt.mode == MODE_DETECT || (opt.mode == MODE_COLLECT && opt.report_reclaimed);
    if (!want) return;
    size_t idx_room = ((size_t)heap.nchunks_max * sizeof *slices + 4095) & ~(size_t)4095;
    char *m = map_table(idx_room + SEG_BYTES + REGION_BYTES);
    slices_wipe_on_fork(m, idx_room + SEG_BYTES + REGION_BYTES);
    if (m) {
        m += region_mid_slide((uintptr_t)m + idx_room);
        slices = (_Atomic(struct slot_meta *) *)(m + idx_room) - 1;
        seg_next = m + idx_room;
        seg_end = seg_next + SEG_BYTES;
    }
    if (opt.mode == MODE_COLLECT) {
        reclaimed_ids = (uint64_t)DEPOT_MAX_IDS + 1;
        reclaimed = map_table(reclaimed_ids * sizeof *reclaimed);
    }
    if (!slices || depot_init() != 0) {
        /* Said in start-up's one line about what an address-space limit took away. */
        limits_note("leak reports have no allocation stacks (their tables could not be mapped)");
        slices = NULL;
        return;
    }
    main_stack_init();
    /* The own log holds own blocks' addresses, so it is no root: cowgc's data is none as a
     * shared object; linked into a test program it would be. */
    roots_exclude((uintptr_t)&own_store, (uintptr_t)(&own_store + 1));
    roots_exclude((uintptr_t)&cs, (uintptr_t)(&cs + 1));
    own_log = true;
    /* Requested sizes are recorded even with COWGC_STACK_DEPTH=0. */
    leak_capture = true;
}

/* ---- detect: classify the unreachable blocks ---- */

static uint64_t *indirect_bm;              /* same shape as alloc bitmaps, report time only */
static bool own_only;                      /* a forked child's report: its own blocks only */

static inline bool ind_test(uint32_t ci, uint32_t idx)
{
    return indirect_bm[(size_t)ci * BM_WORDS + (idx >> 6)] & (1ull << (idx & 63));
}

/* Blocks of one bitmap word that are allocated and unmarked. */
static uint64_t word_unmarked(uint32_t ci, const struct span *s, unsigned w)
{
    uint64_t alloc = alloc_words(ci)[w];
    if (heap.frozen_bm && ci < heap.frozen_top)      /* inherited under COWGC_FORK_FREEZE: live */
        alloc &= ~heap.frozen_bm[(size_t)ci * BM_WORDS + w];
    if (!alloc) return 0;
    if (heap.mark == MARK_OUTOFLINE) return alloc & ~mark_words(ci)[w];
    uint64_t out = 0;
    for (uint64_t a = alloc; a; a &= a - 1) {
        unsigned b = (unsigned)__builtin_ctzll(a);
        uint32_t idx = w * 64 + b;
        if (!block_is_marked(ci, idx, chunk_addr(ci) + (uintptr_t)idx * s->stride + heap.hdr))
            out |= 1ull << b;
    }
    return out;
}

typedef void (*block_fn)(uint32_t ci, uint32_t idx, uintptr_t user, size_t size, void *arg);

/* Calls fn for every allocated, unmarked block (own ones only in a child's report). World stopped. */
static void for_each_leak(block_fn fn, void *arg)
{
    uint32_t top = atomic_load(&heap.top);
    for (uint32_t ci = 0; ci < top; ci++) {
        const struct span *s = span_at(ci);
        if (s->kind == SPAN_SMALL) {
            for (unsigned w = 0; w < (s->nblocks + 63) / 64; w++)
                for (uint64_t u = word_unmarked(ci, s, w); u; u &= u - 1) {
                    uint32_t idx = w * 64 + (unsigned)__builtin_ctzll(u);
                    if (own_only && !own_block(ci, idx)) continue;
                    fn(ci, idx, chunk_addr(ci) + (uintptr_t)idx * s->stride + heap.hdr, s->size, arg);
                }
        } else if (s->kind == SPAN_LARGE && (alloc_words(ci)[0] & 1)) {
            uintptr_t user = chunk_addr(ci) + s->offset;
            if (own_only && !own_block(ci, 0)) continue;
            if (!block_is_marked(ci, 0, user)) fn(ci, 0, user, s->size, arg);
        }
    }
}

/* LSan's rule: a leaked block pointed to by another leaked block (not itself) is indirect. */
static void tag_children(uint32_t ci, uint32_t idx, uintptr_t user, size_t size, void *arg)
{
    for (uintptr_t p = user; p + sizeof(uintptr_t) <= user + size; p += sizeof(uintptr_t)) {
        struct lookup lk;
        if (likely(!ptr_test(*(const uintptr_t *)p, &lk))) continue;
        if (lk.user == user || block_is_marked(lk.ci, lk.idx, lk.user)) continue;
        indirect_bm[(size_t)lk.ci * BM_WORDS + (lk.idx >> 6)] |= 1ull << (lk.idx & 63);
    }
}

struct tally_ctx { struct tally *t; uint32_t nids; };

static void tally_leak(uint32_t ci, uint32_t idx, uintptr_t user, size_t size, void *arg)
{
    struct tally_ctx *c = arg;
    const struct slot_meta m = meta_of(ci, idx);
    uint32_t id = m.id > c->nids ? 0 : m.id;
    struct tally *t = &c->t[(size_t)id * 2 + (ind_test(ci, idx) ? K_INDIRECT : K_DIRECT)];
    t->bytes += m.slack < size ? size - m.slack : size;
    t->count++;
}

/* ---- a forked child's mark: its own blocks, from the pages it wrote ---- */

#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
#define PM_FILE (1ull << 61)                /* file page or shared anonymous memory */
#define PM_EXCLUSIVE (1ull << 56)

/* Inherited allocated blocks into inh (alloc bitmaps' shape), own mark bits cleared; returns
 * the number of own allocated blocks. World stopped. */
static uint64_t split_inherited(uint64_t *inh, uint32_t top)
{
    uint64_t own = 0;
    for (uint32_t ci = 0; ci < top; ci++) {
        const struct span *s = span_at(ci);
        unsigned nw = s->kind == SPAN_SMALL ? (s->nblocks + 63) / 64 : s->kind == SPAN_LARGE ? 1 : 0;
        for (unsigned w = 0; w < nw; w++) {
            uint64_t a = alloc_words(ci)[w], in = 0, mine = 0;
            if (s->kind == SPAN_LARGE) a &= 1;
            for (uint64_t b = a; b; b &= b - 1) {
                unsigned bit = (unsigned)__builtin_ctzll(b);
                if (own_block(ci, w * 64 + bit)) mine |= 1ull << bit;
                else in |= 1ull << bit;
            }
            if (in) inh[(size_t)ci * BM_WORDS + w] = in;
            own += (uint64_t)__builtin_popcountll(mine);
            /* Out-of-line marks start clear for own blocks (inherited ones are never read). */
            if (mine && heap.mark == MARK_OUTOFLINE && (mark_words(ci)[w] & mine))
                mark_words(ci)[w] &= ~mine;
        }
    }
    return own;
}

static void scan_root(uintptr_t lo, uintptr_t hi, enum root_kind kind)
{
    if (hi <= lo) return;
    gcstats.roots_bytes[kind] += hi - lo;
    gc_mark_range(lo, hi);
    gc_mark_drain();
}

static bool pagemap_failed;

/* Scans the pages of [lo, hi) this process may have written since the fork. */
static void written_root(uintptr_t lo, uintptr_t hi, enum root_kind kind)
{
    if (hi <= lo) return;
    if (kind == ROOT_REGS) { scan_root(lo, hi, kind); return; }
    uint64_t ent[512];
    for (uintptr_t pg = lo & ~(uintptr_t)4095; pg < hi;) {
        size_t n = (size_t)((hi - pg + 4095) >> 12);
        if (n > 512) n = 512;
        if (pread(pagemap_fd(), ent, n * 8, (off_t)((pg >> 12) * 8)) != (ssize_t)(n * 8)) {
            pagemap_failed = true;
            return;
        }
        uintptr_t run = 0;
        for (size_t k = 0; k < n; k++, pg += 4096) {
            uint64_t e = ent[k];
            bool scan = (e & PM_SWAPPED) || ((e & PM_PRESENT) && (e & (PM_EXCLUSIVE | PM_FILE)));
            if (scan && !run) run = pg;
            if (!scan && run) {
                scan_root(run > lo ? run : lo, pg < hi ? pg : hi, kind);
                run = 0;
            }
        }
        if (run) scan_root(run > lo ? run : lo, pg < hi ? pg : hi, kind);
    }
}

/* ---- a forked child's quick check: no stop, no /proc, no writes to shared pages ----
 * Stopping the world and reading /proc/self/maps cost more than a short-lived child's whole
 * life (a shell's command substitution), and every page a child writes is a copy-on-write
 * fault. So a single-threaded child first marks its own live blocks from the roots it can name
 * itself: its registers and stack (main thread only), every module's data and TLS and its
 * thread's TCB, into a private set, reading shared pages only. These are roots of the full
 * scan too, so every block it marks is reachable: when it marks them all, there is no leak to
 * report. Otherwise the full scan decides. cowgc's own globals are left out, as roots_scan does. */

#define QUICK_SEGS 512
#define TCB_BYTES 2304          /* glibc's struct pthread on x86-64, above the thread pointer */
COLD_BSS static struct qrange quick_segs[QUICK_SEGS];
static unsigned nquick;
static bool quick_overflow;
struct qwalk { unsigned n; bool changed, overflow; };

static int quick_seg_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    struct qwalk *w = data;
    if (roots_object_is_cowgc(info)) return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        struct qrange r = { 0, 0 };
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W) && ph->p_memsz)
            r = (struct qrange){ info->dlpi_addr + ph->p_vaddr, info->dlpi_addr + ph->p_vaddr + ph->p_memsz };
        else if (ph->p_type == PT_TLS && info->dlpi_tls_data && ph->p_memsz)
            r = (struct qrange){ (uintptr_t)info->dlpi_tls_data, (uintptr_t)info->dlpi_tls_data + ph->p_memsz };
        if (!r.hi) continue;
        if (w->n == QUICK_SEGS) { w->overflow = true; return 1; }
        /* Stored only when it changed: after a fork each first store to a page faults. */
        if (w->n >= nquick || quick_segs[w->n].lo != r.lo || quick_segs[w->n].hi != r.hi) {
            quick_segs[w->n] = r;
            w->changed = true;
        }
        w->n++;
    }
    return 0;
}

/* The modules' data and TLS (the forking thread's), listed by the parent before a fork
 * (dl_iterate_phdr is warm there; in a short-lived child its first call costs more than the
 * whole check), again only when the modules or the forking thread changed. A stale list is
 * safe: an unloaded module's range reads as not present in pagemap and is skipped, a module
 * loaded since is simply not a quick root (the full scan has it), and another thread's TLS
 * was not written by the child. Runs before hooks.c's prepare handler takes heap_lock. */
static uintptr_t quick_sig, quick_tp;       /* the module list and the thread listed last */

/* A cheap signature of the loaded modules, read without the loader's lock (it is only compared:
 * a stale list is safe, see above). */
CHILD_PATH static uintptr_t modules_signature(void)
{
    uintptr_t h = 0;
    unsigned n = 0;
    for (const struct link_map *l = _r_debug.r_map; l && n < 100000; l = l->l_next, n++)
        h = (h ^ ((uintptr_t)l + l->l_addr)) * 0x9e3779b97f4a7c15ull;
    return h ^ n;
}

CHILD_PATH static void fork_prepare_gen(void)
{
    /* Opened once per process that forks, so that its children's exit checks need not open
     * their own (60-120 us each, measured in a VM). */
    if (opt.mode == MODE_DETECT) {
        /* The descriptor's record is shared with reports and collections, which another
         * thread may run. Alone, no lock: its page is then not written before every fork
         * (after a fork each first store to a page is a copy-on-write fault). */
        bool lock = !__libc_single_threaded;
        if (lock) heap_lock();
        proc_pagemap_fd();
        if (lock) heap_unlock();
    }
    uintptr_t sig = modules_signature(), tp = arch_thread_pointer();
    /* dl_iterate_phdr takes the loader's lock, a store: skip it when nothing changed. */
    if (sig == quick_sig && tp == quick_tp) return;
    struct qwalk w = { 0, false, false };
    dl_iterate_phdr(quick_seg_cb, &w);
    /* Sorted by address, so that the libraries' neighbouring data share a pagemap read. */
    for (unsigned i = 1; w.changed && i < w.n; i++)
        for (unsigned j = i; j > 0 && quick_segs[j - 1].lo > quick_segs[j].lo; j--) {
            struct qrange t = quick_segs[j];
            quick_segs[j] = quick_segs[j - 1];
            quick_segs[j - 1] = t;
        }
    nquick = w.n;
    quick_overflow = w.overflow;
    quick_sig = sig;
    quick_tp = tp;
}

/* The top of the initial stack's used part: the end of the auxiliary vector above argv and
 * envp (whose slots setenv may point at heap strings). 0 if it cannot be found. */
CHILD_PATH static uintptr_t initial_stack_top(void)
{
    const uintptr_t *p = (const uintptr_t *)__libc_stack_end;
    if (!p) return 0;
    uintptr_t argc = *p++;
    if (argc > (1u << 24)) return 0;
    p += argc + 1;                         /* argv and its NULL */
    while (*p) p++;                        /* envp */
    p++;
    while (p[0] != AT_NULL) p += 2;        /* auxv */
    return (uintptr_t)(p + 2);
}

/* Allocated and not freed by another thread (remote bits wait to be folded). The remote
 * bitmap is read only where remote frees happened: in a single-threaded child most of its
 * pages were never written, and reading one maps the zero page (a fault). */
static inline bool live_block(uint32_t ci, uint32_t idx)
{
    uint64_t bit = 1ull << (idx & 63);
    if (!(alloc_words(ci)[idx >> 6] & bit)) return false;
    const struct span *s = span_at(ci);
    return s->kind != SPAN_SMALL || !atomic_load_explicit(&s->remote_count, memory_order_relaxed) ||
           !(remote_words(ci)[idx >> 6] & bit);
}

/* The quick check's filter: one bit per 64-byte granule of heap offset, modulo 4096 bits. A
 * word whose bit is clear points into no own block, so most pointers to inherited blocks (the
 * bulk of what a child's written heap pages hold) are dropped without a block lookup; a chunk
 * filter passed every pointer into the chunks a child's slots share with its parent's.
 * Interior pointers count, so every granule a block covers is set, and the one at its end. */
#define QGRANULE_SHIFT 6
#define QBLOOM_BITS (QBLOOM_WORDS * 64)
#define QBLOOM_FILL (QBLOOM_BITS / 4)     /* more granules than this: the filter passes all */

static inline bool qbloom_test(uintptr_t off)
{
    uintptr_t g = (off >> QGRANULE_SHIFT) & (QBLOOM_BITS - 1);
    return cs.bloom[g >> 6] >> (g & 63) & 1;
}

/* own_block behind the granule filter: a clear bit proves the block is not this child's. The
 * inherited pass asks about every live block on each written page (a bash child: about 800),
 * nearly all of them inherited, and each answer from the log is a hash probe. */
CHILD_PATH static inline bool quick_own(uint32_t ci, uint32_t idx)
{
    bool maybe = qbloom_test(block_user(ci, idx) - heap.base);
    cg_assert(maybe || !own_block(ci, idx));
    return maybe && own_block(ci, idx);
}

/* Sets the granules of [user - header, user + size]; false once the filter would be too full
 * to filter (it then passes everything). *budget counts the granules set so far. */
static bool qbloom_set(uintptr_t user, size_t size, unsigned *budget)
{
    uintptr_t g0 = (user - heap.hdr - heap.base) >> QGRANULE_SHIFT, g1 = (user + size - heap.base) >> QGRANULE_SHIFT;
    if (g1 - g0 + 1 > QBLOOM_FILL - *budget) {
        memset(cs.bloom, 0xff, sizeof cs.bloom);
        return false;
    }
    *budget += (unsigned)(g1 - g0 + 1);
    for (uintptr_t g = g0; g <= g1; g++) {
        uintptr_t b = g & (QBLOOM_BITS - 1);
        cs.bloom[b >> 6] |= 1ull << (b & 63);
    }
    return true;
}

CHILD_PATH static void quick_scan(uintptr_t lo, uintptr_t hi)
{
    const uintptr_t limit = (uintptr_t)atomic_load_explicit(&heap.top, memory_order_relaxed) << CHUNK_SHIFT;
    for (uintptr_t p = (lo + 7) & ~(uintptr_t)7; p + 8 <= hi; p += 8) {
        uintptr_t off = *(const uintptr_t *)p - heap.base;
        /* Most heap pointers are to inherited blocks, in chunks holding no own block. */
        if (likely(off >= limit) || !qbloom_test(off)) continue;
        struct lookup lk;
        if (likely(!ptr_test_in(*(const uintptr_t *)p, limit, &lk))) continue;
        if (!own_block(lk.ci, lk.idx) || !live_block(lk.ci, lk.idx)) continue;
        unsigned i = (unsigned)((lk.user * 0x9e3779b97f4a7c15ull) >> 40) & cs.qmask;
        while (cs.qset[i] && cs.qset[i] != lk.user) i = (i + 1) & cs.qmask;
        if (cs.qset[i]) continue;
        cs.qset[i] = lk.user;
        cs.nmarked++;
        cs.qwork[cs.nwork++] = (struct qrange){ lk.user, lk.user + span_at(lk.ci)->size };
    }
}

/* The pagemap entry of page pg, or false: pagemap unreadable. A forward-moving window: one
 * pread fills up to QENT entries from the first page asked for, so ranges that lie within QENT
 * pages of each other (the libraries' data next to one another) share a system call, which
 * costs more than the scan of a page. But not past cs.qwin_end: the kernel's walk costs about
 * 50 ns for each present page it reports (its mapcount is looked up), and past a module's data
 * lie its neighbours' text pages, present and of no use here. */
CHILD_PATH static bool qwin_entry(uintptr_t pg, uint64_t *e)
{
    uintptr_t pn = pg >> 12;
    if (pn - cs.qwin_first >= cs.qwin_n) {
        size_t n = cs.qwin_end > pn && cs.qwin_end - pn < QENT ? cs.qwin_end - pn : QENT;
        ssize_t got = pread(pagemap_fd(), cs.ent, n * sizeof *cs.ent, (off_t)(pn * 8));
        if (got < 8) return false;           /* (short near the top of the address space) */
        cs.qwin_first = pn;
        cs.qwin_n = (size_t)got / 8;
    }
    *e = cs.ent[pn - cs.qwin_first];
    return true;
}

/* quick_scan over the pages of [lo, hi) this child may have written (see written_root);
 * never touches a page that is not mapped or not present. false: pagemap unreadable. */
CHILD_PATH static bool quick_written(uintptr_t lo, uintptr_t hi)
{
    for (uintptr_t pg = lo & ~(uintptr_t)4095; pg < hi; pg += 4096) {
        uint64_t e;
        if (!qwin_entry(pg, &e)) return false;
        if (((e & PM_SWAPPED) || ((e & PM_PRESENT) && (e & (PM_EXCLUSIVE | PM_FILE)))) &&
            !(pg >= self_wlo && pg < self_whi))     /* cowgc's own globals, whatever the list says */
            quick_scan(pg > lo ? pg : lo, pg + 4096 < hi ? pg + 4096 : hi);
    }
    return true;
}

CHILD_PATH static void quick_drain(void)
{
    while (cs.nwork) {
        struct qrange r = cs.qwork[--cs.nwork];
        quick_scan(r.lo, r.hi);
    }
}

/* The inherited blocks on heap pages this child wrote (only the written pages' part: a pointer
 * it stored lies there). false: pagemap unreadable. */
CHILD_PATH static bool quick_inherited(void)
{
    uintptr_t end = heap.base + ((uintptr_t)atomic_load(&heap.top) << CHUNK_SHIFT);
    cs.qwin_end = end >> 12;
    for (uintptr_t pg = heap.base; pg < end; pg += 4096) {
        uint64_t e;
        if (!qwin_entry(pg, &e)) return false;
        if (!((e & PM_PRESENT) && (e & PM_EXCLUSIVE)) && !(e & PM_SWAPPED)) continue;
        uint32_t c = chunk_of(pg), ci = span_head(c);
        const struct span *s = span_at(ci);
        if (s->kind == SPAN_LARGE && ci + s->nchunks > c) {
            uintptr_t lo = chunk_addr(ci) + s->offset, hi = lo + s->size;
            if (live_block(ci, 0) && !quick_own(ci, 0) && lo < pg + 4096 && hi > pg)
                quick_scan(lo > pg ? lo : pg, hi < pg + 4096 ? hi : pg + 4096);
            continue;
        }
        if (s->kind != SPAN_SMALL || ci != c) continue;
        uintptr_t start = chunk_addr(ci);
        uint32_t first = (uint32_t)((pg - start) / s->stride), last = (uint32_t)((pg + 4095 - start) / s->stride);
        if (last >= s->nblocks) last = s->nblocks - 1;
        /* Adjacent blocks are scanned as one range (out of line a slot is its block: a page of
         * small blocks takes a call or two, not one per block). */
        uintptr_t rlo = 0, rhi = 0;
        for (uint32_t i = first; i <= last && first < s->nblocks; i++) {
            if (!live_block(ci, i) || quick_own(ci, i)) continue;
            uintptr_t lo = start + (uintptr_t)i * s->stride + heap.hdr, hi = lo + s->size;
            if (lo < pg) lo = pg;
            if (hi > pg + 4096) hi = pg + 4096;
            if (lo != rhi) {
                if (rhi) quick_scan(rlo, rhi);
                rlo = lo;
            }
            rhi = hi;
        }
        if (rhi) quick_scan(rlo, rhi);
    }
    return true;
}

/* The pagemap-filtered roots through cs.pagemap: the inherited heap first, where a shell's
 * child keeps its blocks, then the modules' data, sorted so neighbours share a pread. True
 * when every one of the own blocks is marked. */
CHILD_PATH static bool quick_pagemap_pass(uint64_t own)
{
    cs.qwin_n = 0;
    bool ok = quick_inherited();
    quick_drain();
    for (unsigned i = 0; i < nquick && ok && cs.nmarked != own; i++) {
        /* A window read for segment i ends with the last segment that starts inside it. */
        uintptr_t first = quick_segs[i].lo >> 12;
        if (first - cs.qwin_first >= cs.qwin_n) {      /* (qwin_entry reads a new window here) */
            uintptr_t end = quick_segs[i].hi;
            for (unsigned j = i + 1; j < nquick && (quick_segs[j].lo >> 12) < first + QENT; j++)
                if (quick_segs[j].hi > end) end = quick_segs[j].hi;
            cs.qwin_end = (end + 4095) >> 12;
        }
        ok = quick_written(quick_segs[i].lo, quick_segs[i].hi);
        quick_drain();
    }
    return ok && cs.nmarked == own;    /* (subset of the roots: sound) */
}

/* Own live blocks (reads only); stops counting past QUICK_MAX. Fills the granule filter
 * (cleared by the caller). Not inlined: its locals hold own blocks' addresses (see scrub_below). */
CHILD_PATH static __attribute__((noinline)) uint64_t own_census(void)
{
    uint64_t own = 0;
    if (cs.own_logging) {                     /* the log lists them all */
        const uintptr_t limit = (uintptr_t)atomic_load(&heap.top) << CHUNK_SHIFT;
        unsigned budget = 0;
        bool filtering = true;
        for (uint32_t i = 0; i < cs.own_count && own <= QUICK_MAX; i++) {
            struct lookup lk;
            uintptr_t user = own_rec_at(i)->user;
            if (!ptr_test_in(user, limit, &lk) || lk.user != user ||
                !live_block(lk.ci, lk.idx))
                continue;
            own++;
            if (filtering) filtering = qbloom_set(lk.user, span_at(lk.ci)->size, &budget);
        }
        return own;
    }
    memset(cs.bloom, 0xff, sizeof cs.bloom);
    uint32_t top = atomic_load(&heap.top);
    for (uint32_t ci = 0; ci < top && own <= QUICK_MAX; ci++) {
        const struct span *s = span_at(ci);
        if (s->kind == SPAN_LARGE) {
            own += live_block(ci, 0) && own_block(ci, 0);
            continue;
        }
        if (s->kind != SPAN_SMALL) continue;
        for (unsigned w = 0; w < (s->nblocks + 63) / 64; w++)
            for (uint64_t a = alloc_words(ci)[w] & ~remote_words(ci)[w]; a; a &= a - 1)
                own += own_block(ci, w * 64 + (unsigned)__builtin_ctzll(a));
    }
    return own;
}

/* Clears the dead stack below the caller, where own_census's frame held own blocks' addresses:
 * the stack scan starts below quick_check's frame and would find them there. */
CHILD_PATH static __attribute__((noinline)) void scrub_below(void)
{
    volatile uint64_t buf[160] __attribute__((unused));   /* stores kept: volatile */
    for (unsigned i = 0; i < 160; i++) buf[i] = 0;
}

/* True if every block this child allocated and still holds is reachable: nothing to report.
 * *nown: how many it holds (0 if the check could not run). */
CHILD_PATH static bool quick_check(uint64_t *nown)
{
    *nown = 0;
    if (cs.qvia != QVIA_NONE) cs.qvia = QVIA_NONE;
    if (!__libc_single_threaded || syscall(SYS_gettid) != getpid()) return false;
    uintptr_t stop = initial_stack_top();
    if (!stop) return false;
    if (quick_overflow) return false;
    /* No heap_lock: there is no other thread (a report signal's runs on a helper thread, so it
     * never gets here), and the lock's page is one that nothing else in a child writes. */
    memset(cs.bloom, 0, sizeof cs.bloom);
    uint64_t own = own_census();
    *nown = own;
    scrub_below();
    bool done = own == 0;
    if (!done && own <= QUICK_MAX) {
        unsigned size = 16;
        while (size < own * 2) size <<= 1;
        cs.qmask = size - 1;
        cs.qset = cs.buf;
        cs.qwork = (struct qrange *)(cs.buf + size);
        memset(cs.qset, 0, size * sizeof *cs.qset);
        cs.nwork = cs.nmarked = 0;
        uintptr_t regs[48], sp;
        unsigned nregs = arch_spill_regs(regs, 48, &sp);
        if (sp < stop && stop - sp < ((uintptr_t)1 << 30)) {
            /* Cheapest first, each step only while blocks remain unreached: the registers,
             * the stack and the TCB (pages this thread surely wrote, read directly), then the
             * pagemap-filtered roots -- the inherited heap first, where a shell's child keeps
             * its blocks, then the modules' data, sorted so neighbours share a pread. Opening
             * pagemap costs as much as the rest of a small check: only when needed. */
            uintptr_t tp = arch_thread_pointer();
            quick_scan((uintptr_t)regs, (uintptr_t)(regs + nregs));
            quick_scan(sp, stop);           /* (below sp: dead, see roots.c) */
            quick_scan(tp, tp + TCB_BYTES);
            quick_drain();
            done = cs.nmarked == own;
            /* The parent's pagemap first, inherited open (see fork_prepare_gen): a page this
             * child wrote is no longer shared with it, so reads as exclusive there too, unless
             * a sibling still shares it. Any set of pages is sound here (it only picks roots
             * of the full check); a miss costs the second pass over our own pagemap. Only
             * when the parent is the exec'd process (proc_gen 1): a forked parent (a subshell
             * running a pipeline) shares nearly every page with its own parent and with its
             * other children, so a page this child wrote still reads as shared there, and
             * that pass missed in nearly every such child (fork_loop.sh: 40-80 us each). */
            bool ours = false, missed = false;
            int kept = done ? -1 : proc_pagemap_kept_fd(&ours);
            if (kept >= 0 && !ours && cs.proc_gen <= 1) {   /* (0: a raw clone()'s child) */
                cs.pagemap = kept;
                done = quick_pagemap_pass(own);
                missed = !done;
                if (done) cs.qvia = QVIA_PARENT;
            }
            /* Our own: the one kept open if this child forked in turn, else opened now. */
            int fd = done ? -1 : kept >= 0 && ours ? kept : pagemap_once();
            if (fd >= 0) {
                cs.pagemap = fd;
                done = quick_pagemap_pass(own);
                if (done) cs.qvia = missed ? QVIA_OWN_AFTER_PARENT : QVIA_OWN;
                if (fd != kept) syscall(SYS_close, fd);
            }
        }
    }
    return done;
}

/* Every inherited block as a root (they count as live), for a child whose pages may be shared
 * with children of its own. */
static void scan_all_inherited(const uint64_t *inh, uint32_t top)
{
    for (uint32_t ci = 0; ci < top; ci++) {
        const struct span *s = span_at(ci);
        if (s->kind == SPAN_LARGE) {
            if (inh[(size_t)ci * BM_WORDS] & 1)
                scan_root(chunk_addr(ci) + s->offset, chunk_addr(ci) + s->offset + s->size, ROOT_INHERITED);
            continue;
        }
        if (s->kind != SPAN_SMALL) continue;
        for (unsigned w = 0; w < (s->nblocks + 63) / 64; w++)
            for (uint64_t b = inh[(size_t)ci * BM_WORDS + w]; b; b &= b - 1) {
                uintptr_t user = chunk_addr(ci) + (uintptr_t)(w * 64 + (unsigned)__builtin_ctzll(b)) * s->stride + heap.hdr;
                scan_root(user, user + s->size, ROOT_INHERITED);
            }
    }
}

/* Marks the own blocks reachable from the roots and the inherited blocks, with the inherited
 * blocks lent to heap.frozen_bm. Only the pages this child wrote are scanned, unless it forked
 * itself (its pages are shared with its children then) or pagemap cannot be read: then every
 * root and every inherited block. false: could not (mark stack overflow, roots unread); the
 * caller then marks everything. World stopped, marks prepared by split_inherited. */
static bool mark_own(uint64_t *inh, uint32_t top)
{
    bool written = !cs.forked_since_gen && pagemap_open();
    uint64_t *saved_bm = heap.frozen_bm;
    uint32_t saved_top = heap.frozen_top;
    heap.frozen_bm = inh;
    heap.frozen_top = top;
    memset(gcstats.roots_bytes, 0, sizeof gcstats.roots_bytes);
    gc_marking_begins();
    markstack_reset();
    pagemap_failed = false;
    roots_scan(written ? written_root : scan_root);
    bool ok = !roots_scan_failed() && !pagemap_failed;
    if (ok && written) ok = freeze_scan_roots(scan_root);
    else if (ok) scan_all_inherited(inh, top);
    gc_mark_drain();
    gc_mark_counts_to_stats();
    ok = ok && !markstack_overflowed();
    if (!ok) {
        heap.frozen_bm = saved_bm;
        heap.frozen_top = saved_top;
    }
    return ok;
}

/* Inline mode: clear the headers mark_own set (I6); only own blocks were marked. */
static void clear_own_headers(uint32_t top)
{
    if (heap.mark != MARK_INLINE) return;
    for (uint32_t ci = 0; ci < top; ci++) {
        const struct span *s = span_at(ci);
        if (s->kind == SPAN_LARGE) {
            uint64_t *h = (uint64_t *)(chunk_addr(ci) + s->offset - INLINE_HDR);
            if ((alloc_words(ci)[0] & 1) && own_block(ci, 0) && *h) *h = 0;
            continue;
        }
        if (s->kind != SPAN_SMALL) continue;
        for (unsigned w = 0; w < (s->nblocks + 63) / 64; w++)
            for (uint64_t a = alloc_words(ci)[w]; a; a &= a - 1) {
                uint32_t idx = w * 64 + (unsigned)__builtin_ctzll(a);
                if (!own_block(ci, idx)) continue;
                uint64_t *h = (uint64_t *)(chunk_addr(ci) + (uintptr_t)idx * s->stride);
                if (*h) *h = 0;
            }
    }
}

/* ---- groups: LSan's order, direct leaks first, each kind largest first ---- */

struct group { uint32_t id; uint8_t kind; bool suppressed; uint64_t bytes, count; };

static bool group_before(const struct group *a, const struct group *b)
{
    if (a->kind != b->kind) return a->kind < b->kind;
    if (a->bytes != b->bytes) return a->bytes > b->bytes;
    return a->id < b->id;
}

static void sort_groups(struct group *g, size_t n)
{
    /* Shell sort: no allocation, plenty for a report. */
    static const size_t gaps[] = { 88573, 29524, 9841, 3280, 1093, 364, 121, 40, 13, 4, 1 };
    for (size_t k = 0; k < sizeof gaps / sizeof gaps[0]; k++)
        for (size_t gap = gaps[k], i = gap; i < n; i++) {
            struct group t = g[i];
            size_t j = i;
            for (; j >= gap && group_before(&t, &g[j - gap]); j -= gap) g[j] = g[j - gap];
            g[j] = t;
        }
}

/* ---- output: an mmap'd buffer flushed to the log with write(2) ---- */

struct out { int fd; size_t len; char buf[1 << 16]; };
static struct out *out;

static void out_flush(void)
{
    for (size_t off = 0; off < out->len;) {
        ssize_t w = write(out->fd, out->buf + off, out->len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    out->len = 0;
}

static void out_bytes(const char *s, size_t n)
{
    while (n) {
        if (out->len == sizeof out->buf) out_flush();
        size_t k = sizeof out->buf - out->len < n ? sizeof out->buf - out->len : n;
        memcpy(out->buf + out->len, s, k);
        out->len += k;
        s += k;
        n -= k;
    }
}

static void outf(const char *f, ...) __attribute__((format(printf, 1, 2)));
static void outf(const char *f, ...)
{
    char line[8192];
    va_list ap;
    va_start(ap, f);
    size_t n = fmt_v(line, sizeof line, f, ap);
    va_end(ap);
    out_bytes(line, n);
}

static void out_json_str(const char *s)
{
    if (!s) { out_bytes("null", 4); return; }
    char buf[512];
    size_t k = 0;
    buf[k++] = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (k > sizeof buf - 8) { out_bytes(buf, k); k = 0; }
        if (c == '"' || c == '\\') { buf[k++] = '\\'; buf[k++] = (char)c; }
        else if (c < 0x20) k += fmt(buf + k, 8, "\\u%04x", c);
        else buf[k++] = (char)c;
    }
    buf[k++] = '"';
    out_bytes(buf, k);
}

/* ---- modules: dladdr for the module, its own symbol table for names without a symbolizer ---- */

struct fsym { uint64_t lo, size; uint32_t name; uint32_t pad; };

struct module {
    uintptr_t base;            /* dli_fbase: where file offset 0 is mapped */
    uintptr_t bias;            /* l_addr: run-time address - link-time address */
    char path[512];
    const char *map;           /* the file, read-only; NULL: not read (yet) */
    size_t maplen;
    bool loaded;
    struct fsym *fsyms;        /* function symbols sorted by address, mmap'd */
    size_t nfsyms, fsyms_len;
    const char *strtab;
    size_t strsz;
    uint32_t npcs, next;       /* report time: pcs in this module, filling cursor */
};
#define MODULES 1024
static struct module *modules;
static unsigned nmodules;

static void fsym_sift(struct fsym *a, size_t i, size_t n)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) return;
        if (c + 1 < n && a[c + 1].lo > a[c].lo) c++;
        if (a[i].lo >= a[c].lo) return;
        struct fsym t = a[i];
        a[i] = a[c];
        a[c] = t;
        i = c;
    }
}

static void fsym_sort(struct fsym *a, size_t n)   /* heap sort: no allocation, n log n */
{
    for (size_t i = n / 2; i-- > 0;) fsym_sift(a, i, n);
    for (size_t end = n; end > 1; end--) {
        struct fsym t = a[0];
        a[0] = a[end - 1];
        a[end - 1] = t;
        fsym_sift(a, 0, end - 1);
    }
}

static void module_load(struct module *m)
{
    m->loaded = true;
    struct elf_file f;
    if (!elf_map(m->path, &f)) return;
    m->map = f.map;
    m->maplen = f.len;
    if (!f.syms) return;
    m->fsyms_len = (f.nsyms ? f.nsyms : 1) * sizeof(struct fsym);
    m->fsyms = map_noreserve(m->fsyms_len);
    if (!m->fsyms) return;
    size_t k = 0;
    for (size_t j = 0; j < f.nsyms; j++)
        if (elf_func_name(&f, &f.syms[j]))
            m->fsyms[k++] = (struct fsym){ f.syms[j].st_value, f.syms[j].st_size, f.syms[j].st_name, 0 };
    fsym_sort(m->fsyms, k);
    m->nfsyms = k;
    m->strtab = f.strtab;
    m->strsz = f.strsz;
}

/* The function symbol containing link-time address a, and a's offset into it. */
static const char *module_func(struct module *m, uint64_t a, uint64_t *off)
{
    if (!m->loaded) module_load(m);
    size_t lo = 0, hi = m->nfsyms;
    while (lo < hi) {                      /* first symbol starting above a */
        size_t mid = (lo + hi) / 2;
        if (m->fsyms[mid].lo <= a) lo = mid + 1;
        else hi = mid;
    }
    /* Symbols ending before a do not contain it (a static function of a stripped file). */
    for (size_t i = lo, tries = 0; i-- > 0 && tries < 8; tries++) {
        const struct fsym *f = &m->fsyms[i];
        if (f->size ? a < f->lo + f->size : i + 1 == lo) {
            *off = a - f->lo;
            return m->strtab + f->name;
        }
    }
    return NULL;
}

static void modules_release(void)
{
    for (unsigned i = 0; i < nmodules; i++) {
        scratch_unmap((void *)modules[i].map, modules[i].maplen);
        scratch_unmap(modules[i].fsyms, modules[i].fsyms_len);
    }
    nmodules = 0;
}

/* The module of code address a (a call instruction): from dladdr and its link map. */
static struct module *module_at(uintptr_t a)
{
    Dl_info info;
    struct link_map *lm = NULL;
    if (!dladdr1((void *)a, &info, (void **)&lm, RTLD_DL_LINKMAP) || !info.dli_fbase) return NULL;
    uintptr_t base = (uintptr_t)info.dli_fbase;
    static unsigned last;
    if (last < nmodules && modules[last].base == base) return &modules[last];
    for (unsigned i = 0; i < nmodules; i++)
        if (modules[i].base == base) return &modules[last = i];
    if (nmodules == MODULES) return NULL;
    struct module *m = &modules[nmodules];
    memset(m, 0, sizeof *m);
    m->base = base;
    m->bias = lm ? lm->l_addr : 0;
    if (!lm || !lm->l_name || !lm->l_name[0]) {      /* the main program */
        ssize_t n = readlink("/proc/self/exe", m->path, sizeof m->path - 1);
        m->path[n > 0 ? n : 0] = 0;
        if (n <= 0 && info.dli_fname) fmt(m->path, sizeof m->path, "%s", info.dli_fname);
    } else {
        fmt(m->path, sizeof m->path, "%s", lm->l_name);
    }
    last = nmodules;
    return &modules[nmodules++];
}

/* ---- the report's frames: every distinct pc of the groups, symbolised once ---- */

struct pcinfo {
    uintptr_t pc;              /* return address as captured; the call is at pc - 1 */
    struct module *mod;        /* NULL: not in a known module */
    uint32_t first;            /* frames in syms.frames[first .. first + count) */
    uint16_t count;
};

static struct symz_out syms;
static struct pcinfo *pcv;
static size_t npc, pcv_len;
static uint32_t *pch;                      /* open addressing: pc -> index + 1 */
static size_t pch_mask, pch_len;

static inline size_t pc_hash(uintptr_t pc) { return (size_t)((pc * 0x9e3779b97f4a7c15ull) >> 20); }

static struct pcinfo *pc_find(uintptr_t pc)
{
    for (size_t i = pc_hash(pc) & pch_mask;; i = (i + 1) & pch_mask) {
        uint32_t v = pch[i];
        if (!v) return NULL;
        if (pcv[v - 1].pc == pc) return &pcv[v - 1];
    }
}

static void pc_add(uintptr_t pc)
{
    size_t i = pc_hash(pc) & pch_mask;
    for (;; i = (i + 1) & pch_mask) {
        uint32_t v = pch[i];
        if (!v) break;
        if (pcv[v - 1].pc == pc) return;
    }
    pcv[npc] = (struct pcinfo){ pc, NULL, 0, 0 };
    pch[i] = (uint32_t)++npc;
}

static void frames_release(void)
{
    scratch_unmap(pcv, pcv_len);
    scratch_unmap(pch, pch_len);
    pcv = NULL;
    pch = NULL;
    npc = 0;
    if (!cs.report_final) symz_out_free(&syms);
    modules_release();
}

/* One frame from the module's symbol table (no symbolizer, or it did not know the function). */
static void frame_from_symtab(struct pcinfo *p, struct symz_frame *f)
{
    uint64_t off;
    const char *name = p->mod ? module_func(p->mod, p->pc - 1 - p->mod->bias, &off) : NULL;
    if (name) f->func = symz_intern(&syms, name, strlen(name));
}

/* Symbolises every pc in pcv: the symbolizer program (external: one run for all, or one per
 * module for addr2line), then symbol tables for what it did not name. */
static void symbolise_all(bool external)
{
    for (size_t i = 0; i < npc; i++) {
        struct pcinfo *p = &pcv[i];
        p->mod = module_at(p->pc - 1);
        if (p->mod) p->mod->npcs++;
    }
    struct symz_tool tool = { SYMZ_NONE, "" };
    /* A set-user-id program must not run a program found through the caller's PATH. */
    if (external && !getauxval(AT_SECURE)) symz_find_tool(opt.symbolize, &tool);
    if (tool.kind != SYMZ_NONE && npc) {
        size_t len = npc * (sizeof(uint64_t) + sizeof(char *) + sizeof(uint32_t) * 2 + sizeof(uint16_t)) + 64;
        char *mem = map_noreserve(len);
        if (mem) {
            uint64_t *addrs = (uint64_t *)mem;
            const char **mods = (const char **)(addrs + npc);
            uint32_t *order = (uint32_t *)(mods + npc), *first = order + npc;
            uint16_t *count = (uint16_t *)(first + npc);
            for (unsigned m = 0; m < nmodules; m++)     /* readable files only (not the vdso) */
                if (modules[m].npcs && access(modules[m].path, R_OK) != 0) modules[m].npcs = 0;
            uint32_t at = 0;                            /* counting sort of pcs by module */
            for (unsigned m = 0; m < nmodules; m++) { modules[m].next = at; at += modules[m].npcs; }
            for (size_t i = 0; i < npc; i++)
                if (pcv[i].mod && pcv[i].mod->npcs) order[pcv[i].mod->next++] = (uint32_t)i;
            for (uint32_t k = 0; k < at; k++) {
                const struct pcinfo *p = &pcv[order[k]];
                addrs[k] = p->pc - 1 - p->mod->bias;   /* link-time address, as the file has it */
                mods[k] = p->mod->path;
            }
            if (symz_run_many(&tool, mods, addrs, at, &syms, first, count))
                for (uint32_t k = 0; k < at; k++) {
                    pcv[order[k]].first = first[k];
                    pcv[order[k]].count = count[k];
                }
            scratch_unmap(mem, len);
        }
    }
    for (size_t i = 0; i < npc; i++) {
        struct pcinfo *p = &pcv[i];
        if (!p->count) {
            struct symz_frame f = { 0, 0, 0, 0 };
            frame_from_symtab(p, &f);
            uint32_t at = (uint32_t)syms.nframes;
            if (symz_add_frame(&syms, &f)) { p->first = at; p->count = 1; }
        } else if (!syms.frames[p->first + p->count - 1].func) {
            frame_from_symtab(p, &syms.frames[p->first + p->count - 1]);
        }
    }
}

/* Collects the distinct pcs of the groups' stacks and symbolises them. false: out of memory. */
static bool frames_prepare(const struct group *g, size_t n, bool external)
{
    size_t refs = 0;
    for (size_t i = 0; i < n; i++) {
        const uintptr_t *pcs;
        refs += depot_get(g[i].id, &pcs);
    }
    size_t cap = refs ? refs : 1, hsize = 16;
    while (hsize < cap * 2) hsize <<= 1;
    pcv_len = cap * sizeof *pcv;
    pch_len = hsize * sizeof *pch;
    pcv = map_noreserve(pcv_len);
    pch = map_noreserve(pch_len);
    pch_mask = hsize - 1;
    npc = 0;
    if (!pcv || !pch) { frames_release(); return false; }
    for (size_t i = 0; i < n; i++) {
        const uintptr_t *pcs;
        unsigned d = depot_get(g[i].id, &pcs);
        for (unsigned k = 0; k < d; k++) pc_add(pcs[k]);
    }
    symbolise_all(external);
    return true;
}
/* ---- suppressions: COWGC_SUPPRESS, lines "leak:pattern" or "pattern"; '*', '^', '$' as LSan ---- */

#define MAX_SUPP 256
static char *supp_buf;
COLD_BSS static const char *supp[MAX_SUPP];
static unsigned nsupp;
static bool supp_loaded;

static void supp_load(void)
{
    if (supp_loaded || !opt.suppress) return;
    supp_loaded = true;
    int fd = open(opt.suppress, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        const char *why = strerrorname_np(errno);   /* static text: strerror may allocate */
        log_line("COWGC_SUPPRESS=%s: cannot open it (%s); no suppressions", opt.suppress, why ? why : "error");
        if (fd >= 0) close(fd);
        return;
    }
    size_t len = (size_t)st.st_size;
    supp_buf = mmap(NULL, len + 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (supp_buf == MAP_FAILED) { supp_buf = NULL; close(fd); return; }
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, supp_buf + got, len - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    supp_buf[got] = 0;
    for (char *line = supp_buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        while (*line == ' ' || *line == '\t') line++;
        char *end = line + strlen(line);
        while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) *--end = 0;
        const char *colon = strchr(line, ':');
        if (*line && *line != '#') {
            if (colon && strncmp(line, "leak:", 5) == 0) line += 5;
            else if (colon && colon > line && !strchr(line, '*') && strncmp(line, "leak", 4) != 0 &&
                     (colon - line) < 16 && colon[1] != ':')
                line = NULL;                        /* another tool's type, e.g. "race:" */
            if (line && *line && nsupp < MAX_SUPP) supp[nsupp++] = line;
        }
        line = nl ? nl + 1 : NULL;
    }
}

static bool glob_here(const char *p, const char *s)
{
    for (;; p++, s++) {
        if (*p == '*') {
            while (*p == '*') p++;
            if (!*p) return true;
            for (; *s; s++)
                if (glob_here(p, s)) return true;
            return glob_here(p, s);
        }
        if (*p == '$' && !p[1]) return !*s;
        if (!*p) return true;                 /* a prefix match: substring semantics */
        if (*p != *s) return false;
    }
}

/* LSan's TemplateMatch: substring unless anchored with ^ or $, '*' matches anything. */
bool leak_template_match(const char *pat, const char *s)
{
    if (!s) return false;
    if (*pat == '^') return glob_here(pat + 1, s);
    for (; *s; s++)
        if (glob_here(pat, s)) return true;
    return glob_here(pat, s);
}

COLD_BSS static uint64_t supp_hits[MAX_SUPP];
COLD_BSS static uint64_t supp_bytes[MAX_SUPP];

static int match_any(const char *s)
{
    for (unsigned k = 0; s && k < nsupp; k++)
        if (leak_template_match(supp[k], s)) return (int)k;
    return -1;
}

/* LSan's order: frame by frame, the module's name, then each (inlined) function and source file;
 * the first template that matches. -1 if none does. */
static int group_suppression(uint32_t id)
{
    if (!nsupp) return -1;
    const uintptr_t *pcs;
    unsigned n = depot_get(id, &pcs);
    for (unsigned i = 0; i < n; i++) {
        const struct pcinfo *p = pc_find(pcs[i]);
        if (!p) continue;
        int k = p->mod ? match_any(p->mod->path) : -1;
        for (unsigned j = 0; k < 0 && j < p->count; j++) {
            const struct symz_frame *f = &syms.frames[p->first + j];
            k = match_any(symz_str(&syms, f->func));
            if (k < 0) k = match_any(symz_str(&syms, f->file));
        }
        if (k >= 0) return k;
    }
    return -1;
}

/* ---- the report ---- */

static pthread_mutex_t report_mu = PTHREAD_MUTEX_INITIALIZER;

static void print_stack(uint32_t id, bool json)
{
    const uintptr_t *pcs;
    unsigned n = depot_get(id, &pcs);
    char line[8192];
    if (json) outf("\"stack\":[");
    else if (!n) outf("    (no allocation stack recorded%s)\n",
                      opt.stack_depth == 0 ? ": COWGC_STACK_DEPTH=0" :
                      opt.stack_sample > 1 ? ": not sampled" : "");
    unsigned k = 0;
    for (unsigned i = 0; i < n; i++) {
        const struct pcinfo *p = pc_find(pcs[i]);
        uintptr_t a = pcs[i] - 1;
        const char *module = p && p->mod ? p->mod->path : NULL;
        uint64_t moff = p && p->mod ? a - p->mod->base : 0;
        unsigned nf = p && p->count ? p->count : 1;
        for (unsigned j = 0; j < nf; j++) {
            static const struct symz_frame none = { 0, 0, 0, 0 };
            const struct symz_frame *f = p && p->count ? &syms.frames[p->first + j] : &none;
            const char *func = symz_str(&syms, f->func), *file = symz_str(&syms, f->file);
            if (!json) {
                out_bytes(line, symz_text_frame(line, sizeof line, k++, a, func, file, f->line, f->col,
                                                module, moff));
                continue;
            }
            outf("%s{\"pc\":\"0x%lx\",\"module\":", k++ ? "," : "", (unsigned long)a);
            out_json_str(module);
            outf(",\"module_offset\":%llu,\"function\":", (unsigned long long)moff);
            out_json_str(func);
            outf(",\"file\":");
            out_json_str(file);
            outf(",\"line\":%u,\"column\":%u%s}", f->line, f->col, j + 1 < nf ? ",\"inlined\":true" : "");
        }
    }
    if (json) outf("]");
}

static const char *kind_name(int kind)
{
    static const char *const names[] = { "direct", "indirect", "reclaimed" };
    return names[kind];
}

/* Symbolise, suppress and print the groups (world running: dladdr, mmap and vfork are fine here). */
static void print_groups(struct group *g, size_t n, bool reclaim_report)
{
    bool json = opt.report == REPORT_JSON;
    supp_load();
    if (!modules) modules = map_noreserve(MODULES * sizeof *modules);
    if (!out) out = map_noreserve(sizeof *out);
    if (!modules || !out) return;
    out->fd = log_fd();
    out->len = 0;
    /* A program that closed its stderr (coreutils do, at exit) gets no report to read: a
     * symbolizer run would be wasted (suppressions still apply, by symbol table names). */
    bool writable = log_writable(out->fd);
    if (!frames_prepare(g, n, writable)) {
        log_line("leak report: cannot map its tables");
        return;
    }
    memset(supp_hits, 0, sizeof supp_hits);
    memset(supp_bytes, 0, sizeof supp_bytes);
    uint64_t bytes = 0, count = 0, sbytes = 0, scount = 0;
    for (size_t i = 0; i < n; i++) {
        int k = group_suppression(g[i].id);
        g[i].suppressed = k >= 0;
        if (k >= 0) {
            supp_hits[k] += g[i].count;
            supp_bytes[k] += g[i].bytes;
            sbytes += g[i].bytes;
            scount += g[i].count;
        } else {
            bytes += g[i].bytes;
            count += g[i].count;
        }
    }
    char line[1024];
    if (json) {
        outf("{\"cowgc\":\"%s\",\"pid\":%d,\"collections\":%llu,\"groups\":[", reclaim_report ? "reclaimed" : "leaks",
             (int)getpid(), (unsigned long long)gcstats.collections);
    } else if (count || reclaim_report) {
        out_bytes(line, symz_text_banner(line, sizeof line, reclaim_report, (int)getpid(), gcstats.collections));
    }
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (g[i].suppressed) continue;
        if (json) {
            outf("%s{\"kind\":\"%s\",\"bytes\":%llu,\"count\":%llu,", first ? "" : ",", kind_name(g[i].kind),
                 (unsigned long long)g[i].bytes, (unsigned long long)g[i].count);
            print_stack(g[i].id, true);
            outf("}");
        } else {
            out_bytes(line, symz_text_group(line, sizeof line, kind_name(g[i].kind), g[i].bytes, g[i].count));
            print_stack(g[i].id, false);
        }
        first = false;
    }
    if (json) {
        outf("],\"suppressed\":{\"bytes\":%llu,\"count\":%llu,\"templates\":[",
             (unsigned long long)sbytes, (unsigned long long)scount);
        for (unsigned k = 0, any = 0; k < nsupp; k++) {
            if (!supp_hits[k]) continue;
            outf("%s{\"template\":", any++ ? "," : "");
            out_json_str(supp[k]);
            outf(",\"count\":%llu,\"bytes\":%llu}", (unsigned long long)supp_hits[k], (unsigned long long)supp_bytes[k]);
        }
        outf("]},\"summary\":{\"bytes\":%llu,\"count\":%llu},\"stacks\":%u,\"stacks_dropped\":%llu}\n",
             (unsigned long long)bytes, (unsigned long long)count, depot_count(),
             (unsigned long long)depot_dropped());
    } else if (count || reclaim_report) {
        if (scount) {
            out_bytes(line, symz_text_suppressions_head(line, sizeof line));
            for (unsigned k = 0; k < nsupp; k++)
                if (supp_hits[k])
                    out_bytes(line, symz_text_suppression(line, sizeof line, supp_hits[k], supp_bytes[k], supp[k]));
            out_bytes(line, symz_text_suppressions_tail(line, sizeof line));
        }
        out_bytes(line, symz_text_summary(line, sizeof line, reclaim_report, bytes, count));
    }
    out_flush();
    frames_release();
}

/* ---- bad frees: the allocation site of a block, from symbol tables only ---- */

/* For error messages about a bad free: "; allocated at func+0xoff (module+0xoff)" for the slot
 * p falls in, when allocation stacks are recorded. The slot keeps its id after a free, so a
 * double free names the allocation that was freed twice. Writes nothing when unknown. */
size_t leak_site_of(uintptr_t p, char *buf, size_t n) { return leak_site_object(p, buf, n, NULL, 0); }

/* The name COWGC_KEEP matches an object by: its file name up to ".so" ("libfoo" for
 * /usr/lib/libfoo.so.1), or the program's own file name. */
static void object_name(const char *path, char *obj, size_t n)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *so = strstr(b, ".so");
    size_t len = so && so > b ? (size_t)(so - b) : strlen(b);
    if (len >= n) len = n - 1;
    memcpy(obj, b, len);
    obj[len] = 0;
}

size_t leak_site_object(uintptr_t p, char *buf, size_t n, char *obj, size_t objn)
{
    if (obj && objn) obj[0] = 0;
    if (!leak_capture || !n || p - heap.base >= heap.size) return 0;
    uint32_t c = chunk_of(p);
    if (c >= atomic_load(&heap.top)) return 0;
    uint32_t ci = span_head(c);
    const struct span *s = span_at(ci);
    uint32_t idx;
    if (s->kind == SPAN_SMALL) {
        idx = (uint32_t)((((uint64_t)(p - chunk_addr(ci))) * s->recip) >> 32);
        if (idx >= s->nblocks) return 0;
    } else if (s->kind == SPAN_LARGE && ci + s->nchunks > c) {
        idx = 0;
    } else {
        return 0;
    }
    return leak_site_of_stack(leak_stack_id(ci, idx), buf, n, obj, objn);
}

size_t leak_site_of_stack(uint32_t id, char *buf, size_t n, char *obj, size_t objn)
{
    if (obj && objn) obj[0] = 0;
    const uintptr_t *pcs;
    if (!leak_capture || !n || !id || !depot_get(id, &pcs)) return 0;
    /* The module table is the report's: take its lock, and leave the table empty again. open and
     * close are cancellation points: a pending cancel must not leave report_mu locked. */
    int cancel_state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    pthread_mutex_lock(&report_mu);
    if (!modules) modules = map_noreserve(MODULES * sizeof *modules);
    size_t len = 0;
    if (modules) {
        uintptr_t a = pcs[0] - 1;
        struct module *m = module_at(a);
        uint64_t off = 0;
        const char *func = m ? module_func(m, a - m->bias, &off) : NULL;
        if (func)
            len = fmt(buf, n, "; allocated at %s+0x%llx (%s+0x%lx)", func, (unsigned long long)off,
                      m->path, (unsigned long)(a - m->base));
        else
            len = fmt(buf, n, "; allocated at %p (%s+0x%lx)", (void *)a, m ? m->path : "?",
                      (unsigned long)(m ? a - m->base : 0));
        if (obj && objn && m) object_name(m->path, obj, objn);
        modules_release();
    }
    pthread_mutex_unlock(&report_mu);
    pthread_setcancelstate(cancel_state, NULL);
    return len;
}

/* Groups from a tally array of ntallies entries (2 kinds per id, or 1 for reclaimed). */
static size_t collect_groups(const struct tally *t, size_t nids, unsigned kinds, int kind0,
                             struct group **gout)
{
    size_t n = 0;
    for (size_t i = 0; i < nids * kinds; i++) n += t[i].count != 0;
    *gout = NULL;
    if (!n) return 0;
    struct group *g = map_noreserve(n * sizeof *g);
    if (!g) return 0;
    size_t k = 0;
    for (size_t i = 0; i < nids * kinds; i++) {
        if (!t[i].count) continue;
        g[k++] = (struct group){ (uint32_t)(i / kinds), (uint8_t)(kind0 + i % kinds), false, t[i].bytes, t[i].count };
    }
    sort_groups(g, n);
    *gout = g;
    return n;
}

/* A forked child reports only what it allocated itself: true when it has nothing to report,
 * having allocated nothing since the fork or reached every own live block in the quick check
 * (*nown: how many it holds). Apart from detect_report, so that a child's usual exit runs only
 * code in CHILD_PATH. */
CHILD_PATH static bool child_settled(uint64_t *nown)
{
    *nown = 0;
    if (!in_child()) return false;
    if (cs.proc_gen && !cs.allocated_since_fork) return true;   /* (not counted after a raw clone) */
    if (!quick_check(nown)) return false;
    static const char *const via[] = { "none", "the parent's", "its own", "its own, after the parent's" };
    if (opt.verbose) log_line("leak check of forked child %d: quick, its %llu live blocks are reachable "
                              "(pagemap read: %s; %u logged)", (int)getpid(), (unsigned long long)*nown, via[cs.qvia], cs.own_count);
    return true;
}

/* Detect mode: stop the world, mark, classify, tally; resume; then symbolise and print.
 * nown: a forked child's own live blocks, for the verbose line. Returns the number of
 * unsuppressed leaked blocks. */
static uint64_t detect_report(uint64_t nown)
{
    bool child = in_child();
    if (child && opt.verbose)
        log_line("leak check of forked child %d: full (%llu live blocks of its own)", (int)getpid(),
                 (unsigned long long)nown);
    if (opt.roots == ROOTS_SEGMENTS) roots_snapshot_segments();
    uint32_t top = atomic_load(&heap.top);
    size_t ind_bytes = ((size_t)top + 1) * BM_WORDS * sizeof(uint64_t);
    uint32_t nids_max = depot_count() + 1024;   /* ids made before the stop, with margin */
    size_t tally_bytes = ((size_t)nids_max + 1) * 2 * sizeof(struct tally);
    indirect_bm = map_noreserve(ind_bytes);
    uint64_t *inh = child ? map_noreserve(ind_bytes) : NULL;
    struct tally *t = map_noreserve(tally_bytes);
    if (!indirect_bm || !t || (child && !inh)) {
        log_line("leak report: cannot map its tables");
        scratch_unmap(indirect_bm, ind_bytes);
        scratch_unmap(inh, ind_bytes);
        scratch_unmap(t, tally_bytes);
        indirect_bm = NULL;
        return 0;
    }
    heap_lock();
    if (stw_stop_all() != 0) {
        heap_unlock();
        log_line("leak report: could not stop every thread; no report");
        scratch_unmap(indirect_bm, ind_bytes);
        scratch_unmap(inh, ind_bytes);
        scratch_unmap(t, tally_bytes);
        indirect_bm = NULL;
        return 0;
    }
    tcache_flush_all();
    uint32_t top2 = atomic_load(&heap.top);
    for (uint32_t ci = 0; ci < top2; ci++)
        if (span_at(ci)->kind == SPAN_SMALL) span_fold_remote(ci);
    bool held = true;
    bool grew = top2 > top, complete = true, lent = false;
    struct tally_ctx ctx = { t, depot_count() < nids_max ? depot_count() : nids_max };
    uint64_t own = 1;
    uint64_t *saved_bm = heap.frozen_bm;
    uint32_t saved_top = heap.frozen_top;
    if (!grew && child) {
        own = split_inherited(inh, top2);
        if (own) {
            lent = mark_own(inh, top2);
            if (!lent) {                        /* mark everything, report own blocks */
                clear_own_headers(top2);
                gc_mark_all();
            }
        }
    } else if (!grew) {
        gc_mark_all();
    }
    held = stw_world_held();         /* no thread counted as stopped while asleep ran */
    complete = !roots_scan_failed() && held;
    own_only = child;
    if (complete && !grew && own) {
        for_each_leak(tag_children, NULL);
        for_each_leak(tally_leak, &ctx);
    }
    own_only = false;
    if (lent) {
        clear_own_headers(top2);        /* I6: only own blocks were marked */
        heap.frozen_bm = saved_bm;
        heap.frozen_top = saved_top;
    } else if (!grew && own) {
        gc_sweep(false);             /* counts the unreachable in gcstats, clears inline marks (I6) */
    }
    stw_resume_all();
    heap_unlock();
    scratch_unmap(indirect_bm, ind_bytes);
    indirect_bm = NULL;
    scratch_unmap(inh, ind_bytes);
    if (grew) {                      /* the heap grew between mapping and stopping: rare, retry */
        scratch_unmap(t, tally_bytes);
        return detect_report(nown);
    }
    if (!complete) {
        log_line(held ? "leak report: the roots could not be read (/proc/self/maps); no report"
                      : "leak report: a thread ran during the scan; no report");
        scratch_unmap(t, tally_bytes);
        return 0;
    }
    struct group *g;
    size_t n = collect_groups(t, (size_t)ctx.nids + 1, 2, K_DIRECT, &g);
    scratch_unmap(t, tally_bytes);
    uint64_t leaked = 0;
    if (g || opt.report == REPORT_JSON) {
        print_groups(g, n, false);
        for (size_t i = 0; i < n; i++) leaked += g[i].suppressed ? 0 : g[i].count;
    }
    scratch_unmap(g, n * sizeof *g);
    return leaked;
}

CHILD_PATH void leak_report(bool at_exit)
{
    if (!cowgc_ready || opt.mode != MODE_DETECT) return;
    /* Alone, nobody can race us: no store to the lock's page (an exiting child's fault). */
    bool lock = !__libc_single_threaded;
    if (lock) pthread_mutex_lock(&report_mu);
    int e = errno;
    if (cs.proc_gen == 0) raw_clone = policy_in_child();   /* (a fork() child's path: no getpid) */
    uint64_t nown;
    uint64_t leaked = child_settled(&nown) ? 0 : detect_report(nown);
    errno = e;
    if (lock) pthread_mutex_unlock(&report_mu);
    if (at_exit && leaked && opt.leak_exitcode) {
        if (opt.stats_json) stats_write_json(opt.stats_json);
        else if (opt.stats) stats_print(log_fd());
        fflush(NULL);                /* exit() would have flushed the program's stdio after us */
        _exit(opt.leak_exitcode);
    }
}

static void reclaimed_report(void)
{
    if (!reclaimed) return;
    heap_lock();                     /* sweeps write the tallies under heap_lock */
    uint32_t nids = depot_count();
    struct group *g;
    size_t n = collect_groups(reclaimed, (size_t)nids + 1, 1, K_RECLAIMED, &g);
    heap_unlock();
    pthread_mutex_lock(&report_mu);
    print_groups(g, n, true);
    pthread_mutex_unlock(&report_mu);
    scratch_unmap(g, n * sizeof *g);
}

CHILD_PATH void leak_at_exit(void)
{
    if (!cowgc_ready) return;
    bool detect = opt.mode == MODE_DETECT, reclaimed = opt.mode == MODE_COLLECT && opt.report_reclaimed;
    if (!detect && !reclaimed) return;    /* (and cs stays untouched: a fault in every child) */
    /* A report nobody can read: the log is the program's stderr and the program has closed it
     * (coreutils do, at exit), and no exit status (COWGC_LEAK_EXITCODE) nor statistics depend
     * on the check. It would stop the world, mark and read symbol tables for no output: about
     * 1 ms of the 5 that tr takes in detect mode, once per command a shell script runs. */
    if (!opt.leak_exitcode && !opt.stats && !opt.stats_json && !log_writable(log_fd())) return;
    if (!cs.report_final) cs.report_final = true;     /* (a page a detect child writes anyway) */
    if (detect) leak_report(true);
    else reclaimed_report();
}

/* ---- COWGC_REPORT_SIGNAL: the handler wakes a helper thread that reports ---- */

static sem_t report_sem;

static void on_report_signal(int sig)
{
    int e = errno;
    sem_post(&report_sem);
    errno = e;
}

static void *report_thread(void *arg)
{
    for (;;) {
        while (sem_wait(&report_sem) != 0) {}
        leak_report(false);
    }
    return NULL;
}

__attribute__((constructor(102))) static void leak_signal_init(void)
{
    if (!opt.report_signal || opt.mode != MODE_DETECT || !cowgc_ready) return;
    if (sem_init(&report_sem, 0, 0) != 0) return;
    pthread_t t;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);  /* the helper never runs the program's handlers */
    int rc = pthread_create(&t, NULL, report_thread, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) { log_line("COWGC_REPORT_SIGNAL: cannot start the report thread"); return; }
    pthread_detach(t);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_report_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(opt.report_signal, &sa, NULL) != 0)
        log_line("COWGC_REPORT_SIGNAL: cannot install the handler");
}
