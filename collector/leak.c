/* leak.c -- allocation stacks, and the reports built on them: leaks (detect mode) and what collect mode reclaimed.
 *
 * Invariants:
 *  - A block's stack id lives in side metadata, never in a heap page (I1): per chunk, a slice of
 *    uint32 ids indexed by slot (slices[ci][idx], capacity in slice[-1]), carved from mmap'd
 *    NORESERVE segments. A slice only grows (a chunk reused with more slots gets a new one); old
 *    slices are never reused, so a late writer can only scribble on a dead slice.
 *  - When leak_capture is set, every allocation writes its slot (0 when not sampled), so the id
 *    of an allocated block is never a stale one from the slot's previous occupant.
 *  - Capture never allocates and never takes a lock the allocator holds; a thread re-entering
 *    (a signal handler's malloc, libunwind or pthread_getattr_np calling malloc) records no stack.
 *  - The fp unwinder reads memory only inside the current thread's stack, between the outermost
 *    cowgc frame and the stack top. Our own frames (no frame pointers) are stepped with layouts
 *    learned once per return address from DWARF (libunwind), then cached.
 *  - Reports: classification and tallies happen with heap_lock held and the world stopped, and
 *    write only mmap'd side tables (indirect bitmap, tallies); symbolising, suppressions and
 *    output come after the world is resumed. Inline mark headers are cleared before resuming (I6).
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "collector.h"
#include "scanner.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <dlfcn.h>

/* libunwind is loaded with dlopen when stacks are first needed, so a program that never asks
 * for leak reports does not carry it (nor its liblzma) in memory. Until cowgc's constructor has
 * run (libc fully up), nothing is loaded and captures record no stack. */
static struct {
    int (*getcontext)(unw_context_t *);
    int (*init_local)(unw_cursor_t *, unw_context_t *);
    int (*get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
    int (*step)(unw_cursor_t *);
    int (*get_save_loc)(unw_cursor_t *, int, unw_save_loc_t *);
    int (*backtrace)(void **, int);
} unw;
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

void leak_late_init(void)
{
    unw_allowed = true;
    if (leak_capture) unw_load();
}

bool leak_capture;

extern void *__libc_stack_end;
extern const ElfW(Ehdr) __ehdr_start HIDDEN;

/* ---- our own code: frames in [self_lo, self_hi) are cowgc's and never reported ---- */

static uintptr_t self_lo, self_hi;

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
}

void leak_set_self_text(uintptr_t lo, uintptr_t hi) { self_lo = lo; self_hi = hi; }
static inline bool in_self(uintptr_t pc) { return pc - self_lo < self_hi - self_lo; }

/* ---- small helpers: spin lock surviving fork, NORESERVE maps ---- */

static void spin_lock(_Atomic int *l)
{
    int me = getpid();
    for (unsigned spins = 0;; spins++) {
        int expect = 0;
        if (atomic_compare_exchange_weak_explicit(l, &expect, me, memory_order_acquire, memory_order_relaxed))
            return;
        /* The holder is in another process: we are a fork child, it does not exist here. */
        if (expect && expect != me &&
            atomic_compare_exchange_strong_explicit(l, &expect, me, memory_order_acquire, memory_order_relaxed))
            return;
        if (spins > 64) sched_yield();
        else __builtin_ia32_pause();
    }
}

static void spin_unlock(_Atomic int *l) { atomic_store_explicit(l, 0, memory_order_release); }

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

/* ---- per-block stack ids: chunk -> slice of slot ids ---- */

#define SEG_BYTES ((size_t)64 << 20)

static _Atomic(uint32_t *) *slices;    /* heap.nchunks_max entries */
static char *seg_next, *seg_end;
static _Atomic int slice_lock;

static uint32_t *slice_grow(uint32_t ci, uint32_t need)
{
    uint32_t cap = 16;
    while (cap < need) cap <<= 1;
    spin_lock(&slice_lock);
    uint32_t *s = atomic_load_explicit(&slices[ci], memory_order_relaxed);
    if (!s || s[-1] < need) {
        size_t bytes = ((size_t)cap + 4) * sizeof(uint32_t);   /* keeps slices 16-byte aligned */
        if (seg_next + bytes > seg_end) {
            char *m = map_table(SEG_BYTES);
            if (!m) { spin_unlock(&slice_lock); return NULL; }
            seg_next = m;
            seg_end = m + SEG_BYTES;
        }
        uint32_t *ns = (uint32_t *)seg_next + 4;
        seg_next += bytes;
        ns[-1] = cap;
        atomic_store_explicit(&slices[ci], ns, memory_order_release);
        s = ns;
    }
    spin_unlock(&slice_lock);
    return s;
}

/* The id slot of the block at user address p (just allocated, so its span is stable). */
static uint32_t *id_slot(uintptr_t p)
{
    uint32_t ci = chunk_of(p), idx = 0, need = 1;
    const struct span *s = span_at(ci);
    if (likely(s->kind == SPAN_SMALL)) {
        idx = (uint32_t)(((uint64_t)(p - chunk_addr(ci)) * s->recip) >> 32);
        need = s->nblocks;
    } else {
        ci = span_head(ci);
    }
    uint32_t *sl = atomic_load_explicit(&slices[ci], memory_order_acquire);
    if (unlikely(!sl || sl[-1] < need)) sl = slice_grow(ci, need);
    return sl ? &sl[idx] : NULL;
}

uint32_t leak_stack_id(uint32_t ci, uint32_t idx)
{
    if (!slices) return 0;
    const uint32_t *sl = atomic_load_explicit(&slices[ci], memory_order_acquire);
    return sl && idx < sl[-1] ? sl[idx] : 0;
}

/* ---- the current thread's stack bounds, for the fp unwinder ---- */

static __thread uintptr_t stk_lo, stk_hi;
static __thread int stk_known;            /* 0 not yet, 1 known, -1 unknown */

static bool stack_bounds(uintptr_t *lo, uintptr_t *hi)
{
    if (unlikely(!stk_known)) {
        stk_known = -1;
        if (syscall(SYS_gettid) == getpid()) {
            stk_hi = (uintptr_t)__libc_stack_end;
            stk_lo = stk_hi - ((uintptr_t)1 << 30);    /* frames lie between sp and the end */
            stk_known = 1;
        } else {
            pthread_attr_t a;                            /* may malloc: we are re-entrancy guarded */
            void *addr;
            size_t size;
            if (pthread_getattr_np(pthread_self(), &a) == 0) {
                if (pthread_attr_getstack(&a, &addr, &size) == 0) {
                    stk_lo = (uintptr_t)addr;
                    stk_hi = (uintptr_t)addr + size;
                    stk_known = 1;
                }
                pthread_attr_destroy(&a);
            }
        }
    }
    *lo = stk_lo;
    *hi = stk_hi;
    return stk_known == 1;
}

/* ---- unwinders ---- */

/* How to step out of one of our frames, given the return address into it: its CFA is the callee's
 * CFA + delta; it saved its caller's rbp at CFA + rbp_off (0: it did not touch rbp). */
#define LAYOUTS 512
struct layout { _Atomic uintptr_t ra; int32_t delta, rbp_off; };
static struct layout layouts[LAYOUTS];
static _Atomic int layout_lock;

static inline uint32_t layout_hash(uintptr_t ra) { return (uint32_t)((ra * 0x9e3779b97f4a7c15ull) >> 55); }

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
    spin_lock(&layout_lock);
    if (!layout_find(ra)) {
        for (uint32_t i = layout_hash(ra), n = 0; n < LAYOUTS; i = (i + 1) & (LAYOUTS - 1), n++) {
            if (atomic_load_explicit(&layouts[i].ra, memory_order_relaxed)) continue;
            layouts[i].delta = (int32_t)delta;
            layouts[i].rbp_off = (int32_t)rbp_off;
            atomic_store_explicit(&layouts[i].ra, ra, memory_order_release);
            break;
        }
    }
    spin_unlock(&layout_lock);
}

/* Learn the layouts of our frames on the current stack from their DWARF CFI. */
static __attribute__((noinline)) bool learn_layouts(void)
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
    int n = unw.backtrace(buf, (int)(max + 16 < DEPOT_MAX_DEPTH + 16 ? max + 16 : DEPOT_MAX_DEPTH + 16));
    int i = 0;
    while (i < n && in_self((uintptr_t)buf[i])) i++;
    unsigned k = 0;
    for (; i < n && k < max; i++) pcs[k++] = (uintptr_t)buf[i];
    return k;
}

/* Frame-pointer walk. Our frames are stepped with learned layouts; from the first frame outside
 * cowgc on, the rbp chain is followed while it stays inside this thread's stack and grows. */
static __attribute__((noinline, optimize("no-omit-frame-pointer"))) unsigned
unwind_fp(uintptr_t *pcs, unsigned max)
{
    const uintptr_t *fp = __builtin_frame_address(0);
    uintptr_t cfa = (uintptr_t)fp + 16, ra = fp[1], rbp = fp[0];
    for (int hops = 0; in_self(ra); hops++) {
        const struct layout *l = layout_find(ra);
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
    if (!stack_bounds(&lo, &hi) || cfa < lo || cfa >= hi) return n;
    lo = cfa;
    while (n < max) {
        if (rbp < lo || rbp > hi - 16 || (rbp & 7)) break;
        const uintptr_t *f = (const uintptr_t *)rbp;
        uintptr_t next = f[0], pc = f[1];
        if (pc < 4096) break;
        pcs[n++] = pc;
        if (next <= rbp) break;
        lo = rbp + 16;
        rbp = next;
    }
    return n;
}

/* ---- capture ---- */

static __thread int in_leak;               /* re-entrancy guard */
static __thread uint32_t sample_left;

void leak_on_alloc(void *ptr)
{
    uint32_t *slot = id_slot((uintptr_t)ptr);
    if (unlikely(!slot)) return;
    uint32_t every = opt.stack_sample;
    if (every > 1) {
        if (unlikely(!sample_left))     /* first use: spread threads over the period */
            sample_left = 1 + (uint32_t)((((uintptr_t)&sample_left >> 12) * 2654435761u) % every);
        if (--sample_left) { *slot = 0; return; }
        sample_left = every;
    }
    if (in_leak) { *slot = 0; return; }
    in_leak = 1;
    uintptr_t pcs[DEPOT_MAX_DEPTH];
    unsigned max = (unsigned)opt.stack_depth;
    unsigned n = opt.unwind == UNWIND_FP ? unwind_fp(pcs, max) : unwind_libunwind(pcs, max);
    *slot = n ? depot_put(pcs, n) : 0;
    in_leak = 0;
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
        uint32_t id = leak_stack_id(ci, idx);
        if (id >= reclaimed_ids) id = 0;
        reclaimed[id].bytes += s->size;
        reclaimed[id].count++;
    }
}

void leak_init(void)
{
    self_text_init();
    bool want = opt.mode == MODE_DETECT || (opt.mode == MODE_COLLECT && opt.report_reclaimed);
    if (!want) return;
    slices = map_table((size_t)heap.nchunks_max * sizeof *slices);
    if (opt.mode == MODE_COLLECT) {
        reclaimed_ids = (uint64_t)DEPOT_MAX_IDS + 1;
        reclaimed = map_table(reclaimed_ids * sizeof *reclaimed);
    }
    if (!slices || depot_init() != 0) {
        log_line("cannot map the allocation stack tables; leak reports will have no stacks");
        return;
    }
    leak_capture = opt.stack_depth > 0;
}

/* ---- detect: classify the unreachable blocks ---- */

static uint64_t *indirect_bm;              /* same shape as alloc bitmaps, report time only */

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

/* Calls fn for every allocated, unmarked block. World stopped. */
static void for_each_leak(void (*fn)(uint32_t ci, uint32_t idx, uintptr_t user, size_t size, void *arg),
                          void *arg)
{
    uint32_t top = atomic_load(&heap.top);
    for (uint32_t ci = 0; ci < top; ci++) {
        const struct span *s = span_at(ci);
        if (s->kind == SPAN_SMALL) {
            for (unsigned w = 0; w < (s->nblocks + 63) / 64; w++)
                for (uint64_t u = word_unmarked(ci, s, w); u; u &= u - 1) {
                    uint32_t idx = w * 64 + (unsigned)__builtin_ctzll(u);
                    fn(ci, idx, chunk_addr(ci) + (uintptr_t)idx * s->stride + heap.hdr, s->size, arg);
                }
        } else if (s->kind == SPAN_LARGE && (alloc_words(ci)[0] & 1)) {
            uintptr_t user = chunk_addr(ci) + s->offset;
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
    uint32_t id = leak_stack_id(ci, idx);
    if (id > c->nids) id = 0;
    struct tally *t = &c->t[(size_t)id * 2 + (ind_test(ci, idx) ? K_INDIRECT : K_DIRECT)];
    t->bytes += size;
    t->count++;
}

/* ---- groups, sorted largest first ---- */

struct group { uint32_t id; uint8_t kind; bool suppressed; uint64_t bytes, count; };

static void sort_groups(struct group *g, size_t n)
{
    /* Shell sort: no allocation, plenty for a report. Ties: direct first, then id. */
    static const size_t gaps[] = { 1750, 701, 301, 132, 57, 23, 10, 4, 1 };
    for (size_t k = 0; k < sizeof gaps / sizeof gaps[0]; k++)
        for (size_t gap = gaps[k], i = gap; i < n; i++) {
            struct group t = g[i];
            size_t j = i;
            for (; j >= gap; j -= gap) {
                const struct group *o = &g[j - gap];
                bool before = t.bytes > o->bytes ||
                              (t.bytes == o->bytes && (t.kind < o->kind || (t.kind == o->kind && t.id < o->id)));
                if (!before) break;
                g[j] = *o;
            }
            g[j] = t;
        }
}

/* ---- output: an mmap'd buffer flushed to the log with write(2) ---- */

struct out { int fd; size_t len; char buf[1 << 15]; };
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

static void outf(const char *f, ...) __attribute__((format(printf, 1, 2)));
static void outf(const char *f, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, f);
    size_t n = fmt_v(line, sizeof line, f, ap);
    va_end(ap);
    if (n >= sizeof line) n = sizeof line - 1;
    if (out->len + n > sizeof out->buf) out_flush();
    memcpy(out->buf + out->len, line, n);
    out->len += n;
}

static void out_json_str(const char *s)
{
    outf("\"");
    char buf[256];
    size_t k = 0;
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (k > sizeof buf - 8) { buf[k] = 0; outf("%s", buf); k = 0; }
        if (c == '"' || c == '\\') { buf[k++] = '\\'; buf[k++] = (char)c; }
        else if (c < 0x20) k += fmt(buf + k, 8, "\\u%04x", c);
        else buf[k++] = (char)c;
    }
    buf[k] = 0;
    outf("%s\"", buf);
}

/* ---- symbolising: dladdr for the module, the module's own symbol table for the function ---- */

struct module {
    uintptr_t base;            /* dli_fbase */
    char path[256];
    const char *map;           /* the file, read-only; NULL: could not read */
    size_t maplen;
    const ElfW(Sym) *syms;
    size_t nsyms;
    const char *strtab;
    size_t strsz;
    uintptr_t bias;            /* symbol value + bias = address */
};
#define MODULES 64
static struct module *modules;
static unsigned nmodules;

static void module_load(struct module *m)
{
    int fd = open(m->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size > (off_t)sizeof(ElfW(Ehdr))) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p != MAP_FAILED) { m->map = p; m->maplen = (size_t)st.st_size; }
    }
    close(fd);
    if (!m->map) return;
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)m->map;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_shoff + (size_t)eh->e_shnum * sizeof(ElfW(Shdr)) > m->maplen ||
        eh->e_phoff + (size_t)eh->e_phnum * sizeof(ElfW(Phdr)) > m->maplen)
        return;
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(m->map + eh->e_phoff);
    m->bias = 0;
    if (eh->e_type == ET_DYN) {
        m->bias = m->base;
        for (unsigned i = 0; i < eh->e_phnum; i++)
            if (ph[i].p_type == PT_LOAD) { m->bias = m->base - (ph[i].p_vaddr & ~(uintptr_t)0xfff); break; }
    }
    const ElfW(Shdr) *sh = (const ElfW(Shdr) *)(m->map + eh->e_shoff);
    for (int want = SHT_SYMTAB; want; want = want == SHT_SYMTAB ? SHT_DYNSYM : 0)
        for (unsigned i = 0; i < eh->e_shnum; i++) {
            if (sh[i].sh_type != (unsigned)want || sh[i].sh_link >= eh->e_shnum) continue;
            const ElfW(Shdr) *str = &sh[sh[i].sh_link];
            if (sh[i].sh_offset + sh[i].sh_size > m->maplen || str->sh_offset + str->sh_size > m->maplen)
                continue;
            m->syms = (const ElfW(Sym) *)(m->map + sh[i].sh_offset);
            m->nsyms = sh[i].sh_size / sizeof(ElfW(Sym));
            m->strtab = m->map + str->sh_offset;
            m->strsz = str->sh_size;
            return;
        }
}

static struct module *module_of(uintptr_t base, const char *fname)
{
    for (unsigned i = 0; i < nmodules; i++)
        if (modules[i].base == base) return &modules[i];
    if (nmodules == MODULES) return NULL;
    struct module *m = &modules[nmodules++];
    memset(m, 0, sizeof *m);
    m->base = base;
    if (!fname || !strchr(fname, '/')) {    /* the main program: "" or its argv[0] */
        ssize_t n = readlink("/proc/self/exe", m->path, sizeof m->path - 1);
        m->path[n > 0 ? n : 0] = 0;
    } else {
        fmt(m->path, sizeof m->path, "%s", fname);
    }
    module_load(m);
    return m;
}

struct sym { const char *func; uintptr_t func_off; const char *module; uintptr_t module_off; };

/* pc is a return address; the call is at pc - 1. */
static void symbolise(uintptr_t pc, struct sym *out_sym)
{
    memset(out_sym, 0, sizeof *out_sym);
    uintptr_t a = pc - 1;
    Dl_info info;
    if (!dladdr((void *)a, &info)) return;
    struct module *m = module_of((uintptr_t)info.dli_fbase, info.dli_fname);
    out_sym->module = m ? m->path : info.dli_fname;
    out_sym->module_off = a - (uintptr_t)info.dli_fbase;
    if (m && m->syms) {
        const ElfW(Sym) *best = NULL;
        for (size_t i = 0; i < m->nsyms; i++) {
            const ElfW(Sym) *s = &m->syms[i];
            if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF || !s->st_value) continue;
            uintptr_t lo = s->st_value + m->bias;
            if (a < lo) continue;
            if (s->st_size ? a < lo + s->st_size : (!best || s->st_value > best->st_value)) {
                if (!best || s->st_size) best = s;
                if (s->st_size) break;
            }
        }
        if (best && best->st_name < m->strsz) {
            out_sym->func = m->strtab + best->st_name;
            out_sym->func_off = a - (best->st_value + m->bias);
            return;
        }
    }
    if (info.dli_sname) {
        out_sym->func = info.dli_sname;
        out_sym->func_off = a - (uintptr_t)info.dli_saddr;
    }
}

/* ---- suppressions: COWGC_SUPPRESS, lines "leak:pattern" or "pattern"; '*', '^', '$' as LSan ---- */

#define MAX_SUPP 256
static char *supp_buf;
static const char *supp[MAX_SUPP];
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
static bool template_match(const char *pat, const char *s)
{
    if (!s) return false;
    if (*pat == '^') return glob_here(pat + 1, s);
    for (; *s; s++)
        if (glob_here(pat, s)) return true;
    return glob_here(pat, s);
}

static bool group_suppressed(uint32_t id)
{
    if (!nsupp) return false;
    const uintptr_t *pcs;
    unsigned n = depot_get(id, &pcs);
    for (unsigned i = 0; i < n; i++) {
        struct sym sy;
        symbolise(pcs[i], &sy);
        for (unsigned k = 0; k < nsupp; k++)
            if (template_match(supp[k], sy.func) || template_match(supp[k], sy.module)) return true;
    }
    return false;
}

/* ---- the report ---- */

static pthread_mutex_t report_mu = PTHREAD_MUTEX_INITIALIZER;

static void print_stack(uint32_t id, bool json)
{
    const uintptr_t *pcs;
    unsigned n = depot_get(id, &pcs);
    if (json) outf("\"stack\":[");
    else if (!n) outf("    (no allocation stack recorded%s)\n",
                      opt.stack_depth == 0 ? ": COWGC_STACK_DEPTH=0" :
                      opt.stack_sample > 1 ? ": not sampled" : "");
    for (unsigned i = 0; i < n; i++) {
        struct sym sy;
        symbolise(pcs[i], &sy);
        uintptr_t a = pcs[i] - 1;
        if (json) {
            outf("%s{\"pc\":\"0x%lx\",\"function\":", i ? "," : "", (unsigned long)a);
            if (sy.func) out_json_str(sy.func); else outf("null");
            outf(",\"offset\":%lu,\"module\":", (unsigned long)sy.func_off);
            if (sy.module) out_json_str(sy.module); else outf("null");
            outf(",\"module_offset\":%lu}", (unsigned long)sy.module_off);
            continue;
        }
        outf("    #%u 0x%lx", i, (unsigned long)a);
        if (sy.func) outf(" in %s+0x%lx", sy.func, (unsigned long)sy.func_off);
        if (sy.module) outf(" (%s+0x%lx)", sy.module, (unsigned long)sy.module_off);
        else outf(" (<unknown module>)");
        outf("\n");
    }
    if (json) outf("]");
}

static const char *kind_name(int kind, bool json)
{
    static const char *const text[] = { "Direct leak", "Indirect leak", "Reclaimed by cowgc" };
    static const char *const js[] = { "direct", "indirect", "reclaimed" };
    return json ? js[kind] : text[kind];
}

/* Symbolise, suppress and print the groups (world running: dladdr and mmap are fine here). */
static void print_groups(struct group *g, size_t n, bool reclaim_report)
{
    bool json = opt.report == REPORT_JSON;
    supp_load();
    if (!modules) modules = map_noreserve(MODULES * sizeof *modules);
    if (!out) out = map_noreserve(sizeof *out);
    if (!modules || !out) return;
    nmodules = 0;
    out->fd = log_fd();
    out->len = 0;
    uint64_t bytes = 0, count = 0, sbytes = 0, scount = 0;
    for (size_t i = 0; i < n; i++) {
        g[i].suppressed = group_suppressed(g[i].id);
        if (g[i].suppressed) { sbytes += g[i].bytes; scount += g[i].count; }
        else { bytes += g[i].bytes; count += g[i].count; }
    }
    const char *what = reclaim_report ? "reclaimed" : "leaked";
    if (json) {
        outf("{\"cowgc\":\"%s\",\"pid\":%d,\"groups\":[", reclaim_report ? "reclaimed" : "leaks", (int)getpid());
    } else if (count || reclaim_report) {
        outf("=================================================================\n");
        outf(reclaim_report ? "cowgc: blocks reclaimed by the collector (%llu collections), by allocation stack\n"
                            : "cowgc: detected memory leaks (%llu collections)\n",
             (unsigned long long)gcstats.collections);
    }
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (g[i].suppressed) continue;
        if (json) {
            outf("%s{\"kind\":\"%s\",\"bytes\":%llu,\"count\":%llu,", first ? "" : ",", kind_name(g[i].kind, true),
                 (unsigned long long)g[i].bytes, (unsigned long long)g[i].count);
            print_stack(g[i].id, true);
            outf("}");
        } else {
            outf("\n%s%s %llu byte(s) in %llu object(s) allocated from:\n", kind_name(g[i].kind, false),
                 g[i].kind == K_RECLAIMED ? ":" : " of",
                 (unsigned long long)g[i].bytes, (unsigned long long)g[i].count);
            print_stack(g[i].id, false);
        }
        first = false;
    }
    if (json) {
        outf("],\"suppressed\":{\"bytes\":%llu,\"count\":%llu},\"summary\":{\"bytes\":%llu,\"count\":%llu},"
             "\"stacks\":%u,\"stacks_dropped\":%llu}\n",
             (unsigned long long)sbytes, (unsigned long long)scount, (unsigned long long)bytes,
             (unsigned long long)count, depot_count(), (unsigned long long)depot_dropped());
    } else if (count || reclaim_report) {
        if (scount)
            outf("\nSuppressed: %llu byte(s) in %llu object(s) (COWGC_SUPPRESS).\n",
                 (unsigned long long)sbytes, (unsigned long long)scount);
        outf("\nSUMMARY: cowgc: %llu bytes %s in %llu allocations.\n", (unsigned long long)bytes, what,
             (unsigned long long)count);
    }
    out_flush();
    for (unsigned i = 0; i < nmodules; i++)
        if (modules[i].map) munmap((void *)modules[i].map, modules[i].maplen);
    nmodules = 0;
}

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
    const uintptr_t *pcs;
    uint32_t id = leak_stack_id(ci, idx);
    if (!id || !depot_get(id, &pcs)) return 0;
    /* The module table is the report's: take its lock, and leave the table empty again. */
    pthread_mutex_lock(&report_mu);
    if (!modules) modules = map_noreserve(MODULES * sizeof *modules);
    size_t len = 0;
    if (modules) {
        nmodules = 0;
        struct sym sy;
        symbolise(pcs[0], &sy);
        if (sy.func)
            len = fmt(buf, n, "; allocated at %s+0x%lx (%s+0x%lx)", sy.func, (unsigned long)sy.func_off,
                      sy.module ? sy.module : "?", (unsigned long)sy.module_off);
        else
            len = fmt(buf, n, "; allocated at %p (%s+0x%lx)", (void *)pcs[0], sy.module ? sy.module : "?",
                      (unsigned long)sy.module_off);
        if (obj && objn && sy.module) object_name(sy.module, obj, objn);
        for (unsigned i = 0; i < nmodules; i++)
            if (modules[i].map) munmap((void *)modules[i].map, modules[i].maplen);
        nmodules = 0;
    }
    pthread_mutex_unlock(&report_mu);
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

/* Detect mode: stop the world, mark, classify, tally; resume; then symbolise and print.
 * Returns the number of unsuppressed leaked blocks. */
static uint64_t detect_report(void)
{
    if (opt.roots == ROOTS_SEGMENTS) roots_snapshot_segments();
    uint32_t top = atomic_load(&heap.top);
    size_t ind_bytes = ((size_t)top + 1) * BM_WORDS * sizeof(uint64_t);
    uint32_t nids_max = depot_count() + 1024;   /* ids made before the stop, with margin */
    size_t tally_bytes = ((size_t)nids_max + 1) * 2 * sizeof(struct tally);
    indirect_bm = map_noreserve(ind_bytes);
    struct tally *t = map_noreserve(tally_bytes);
    if (!indirect_bm || !t) {
        log_line("leak report: cannot map its tables");
        return 0;
    }
    heap_lock();
    if (stw_stop_all() != 0) {
        heap_unlock();
        log_line("leak report: could not stop every thread; no report");
        munmap(indirect_bm, ind_bytes);
        munmap(t, tally_bytes);
        return 0;
    }
    tcache_flush_all();
    uint32_t top2 = atomic_load(&heap.top);
    for (uint32_t ci = 0; ci < top2; ci++)
        if (span_at(ci)->kind == SPAN_SMALL) span_fold_remote(ci);
    gc_mark_all();
    bool complete = !roots_scan_failed();
    struct tally_ctx ctx = { t, depot_count() < nids_max ? depot_count() : nids_max };
    if (complete && top2 <= top) {
        for_each_leak(tag_children, NULL);
        for_each_leak(tally_leak, &ctx);
    }
    gc_sweep(false);                 /* counts the unreachable in gcstats, clears inline marks (I6) */
    stw_resume_all();
    heap_unlock();
    munmap(indirect_bm, ind_bytes);
    indirect_bm = NULL;
    if (!complete) {
        log_line("leak report: the roots could not be read (/proc/self/maps); no report");
        munmap(t, tally_bytes);
        return 0;
    }
    if (top2 > top) {                /* the heap grew between mapping and stopping: rare, retry */
        munmap(t, tally_bytes);
        return detect_report();
    }
    struct group *g;
    size_t n = collect_groups(t, (size_t)ctx.nids + 1, 2, K_DIRECT, &g);
    munmap(t, tally_bytes);
    uint64_t leaked = 0;
    if (g || opt.report == REPORT_JSON) {
        print_groups(g, n, false);
        for (size_t i = 0; i < n; i++) leaked += g[i].suppressed ? 0 : g[i].count;
    }
    if (g) munmap(g, n * sizeof *g);
    return leaked;
}

void leak_report(bool at_exit)
{
    if (!cowgc_ready || opt.mode != MODE_DETECT) return;
    pthread_mutex_lock(&report_mu);
    int e = errno;
    uint64_t leaked = detect_report();
    errno = e;
    pthread_mutex_unlock(&report_mu);
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
    print_groups(g, n, true);
    if (g) munmap(g, n * sizeof *g);
}

void leak_at_exit(void)
{
    if (!cowgc_ready) return;
    if (opt.mode == MODE_DETECT) leak_report(true);
    else if (opt.mode == MODE_COLLECT && opt.report_reclaimed) reclaimed_report();
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
