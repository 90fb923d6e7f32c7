/* gen.c -- generations: which heap pages were written since the last collection (the kernel's dirty-page tracking is the write barrier), and whether the next collection can be minor.
 *
 * Sticky-mark generations (Demers et al.; Ungar's generation scavenging without copying): a
 * block that survives a collection keeps its mark, so the mark bitmap (or the inline header
 * bit) *is* the old generation. A minor collection clears no mark: it marks from the roots,
 * never traces through an old block (already marked), and scans as extra roots only the old
 * blocks on heap pages written since the last collection. A full collection clears every
 * mark first, as a non-generational one does.
 *
 * Invariants:
 *  G1 While generations are on, between collections a block with its alloc and mark bits set
 *     is old: it survived two minor collections (or one full one, or the one before a fork),
 *     or it took the slot of one that was freed since (then it is kept until the next full
 *     collection: floating garbage, never a lost block, because what it points to was written
 *     after the last collection, see G3). old_bm holds the old set as the last sweep left it,
 *     always a subset of the marks; a freed span leaves no mark, old or age bit behind.
 *  G2 Every heap page written since the last collection, by the program or by the kernel on
 *     its behalf (read(2) into a buffer), is reported by gen_scan_written() at the next one
 *     (out of line: every such page of a chunk that may hold an old block, G8).
 *     Reporting and re-arming happen while the world is stopped, so no write slips between.
 *  G3 So a young block reachable only through old blocks is found: the pointer to it was
 *     stored after the last collection, which wrote the page of the old block holding it.
 *  G4 Tracking never writes a heap page. It changes bits in our own page tables only:
 *     write-protecting a copy-on-write page shared with a parent or sibling does not copy it.
 *  G5 A forked child inherits no kernel tracking (userfaultfd registrations are dropped at
 *     fork and soft-dirty bits are the parent's). Until its first collection it counts as
 *     written every page written in the parent since the parent's last collection (captured
 *     by the fork prepare handler into inherited_bm) plus every page it wrote since the fork:
 *     with pagemap-scan, the pages its own registration reports (made and armed over the
 *     whole heap by the fork child handler, before the child runs any code of its own: the
 *     first collection then re-protects only what the child wrote, not every inherited
 *     page); otherwise every page it holds exclusively (pagemap bit 56: a copy-on-write
 *     copy it made, or a page its relatives let go of).
 *  G6 Ages: a young block reached by a minor collection for the first time stays young (its
 *     mark cleared, its age bit set) and is promoted by the next minor collection that reaches
 *     it. A block that stayed young may be held by an old block on a page that is not written
 *     again, or by a block promoted in the same collection; so the pages of the old blocks a
 *     minor collection scanned as written, and of the blocks it promoted, form the carry set,
 *     scanned again by the next minor collection (which promotes what they hold). A collection
 *     that keeps nothing young needs no carry set.
 *  G7 Out of line, only written pages whose every slot is old (and pages of old LARGE blocks)
 *     are write-protected again (inline marks: every written page); any other page stays
 *     writable, and a writable page is reported
 *     written by every scan. So which pages are protected is a matter of cost only: G2 holds
 *     for every page (protection is applied with the world stopped, after the scan that saw
 *     the page's earlier writes).
 *  G8 Out of line, a minor collection asks the tracker only about chunks that may hold a mark
 *     bit (old_chunks): a chunk with no mark bit holds no old block, so what was written there
 *     can hold no pointer that G3 needs, and its young blocks are traced from the roots like
 *     any other. A young span's pages, written at every cycle and left writable (G7), are then
 *     neither walked by the kernel nor looked through for old blocks. The bit is a superset:
 *     every sweep of a span sets it exactly from the span's mark words (a freed block's mark
 *     stays, and the slot's next block is old by G1), a span that no sweep visits cannot gain
 *     a mark (the minor sweep skips only spans that took no slot), an old LARGE block that
 *     realloc grows in place sets the bits of its new chunks, and only a freed span clears
 *     it. Valid once a full collection has swept every span (old_chunks_ok), in this process
 *     or the parent it was forked from; until then every chunk is asked about.
 *  G9 The tracker's descriptors (the userfaultfd; pagemap is the process's one pagemap
 *     descriptor, scanner.h proc_pagemap_fd, checked the same way at each use) stay open between
 *     collections, so the program may close them and get their numbers for its own files (a
 *     daemon closing every descriptor). They are moved to high numbers when opened, and
 *     checked (preload.h, fd_is) before each collection and fork: a number that names
 *     something else now is forgotten, never read, ioctl'd or closed (it is the program's;
 *     reading its bytes as pagemap entries would make written pages look clean). A lost
 *     userfaultfd took its registration with it: that collection is full and the next
 *     re-arming registers afresh.
 *
 *  G10 Root pages (COWGC_ROOT_PAGES=written). A minor collection scans a tracked root mapping
 *     (private, writable, no stack in it, ROOT_TRACK_MIN or more, none of cowgc's own memory:
 *     roots.c decides) only on the pages the tracker reports written since the collection
 *     before, and on the carry set: the pages the collection before scanned because they were
 *     reported written, and whole the tracked mappings it scanned whole. Stacks, registers,
 *     TLS windows, user roots and every other mapping are scanned whole. Sound by G6's
 *     argument: a page neither reported nor carried was last written before some collection
 *     that scanned it, and the next one scanned it again (carried), so what it points to was
 *     reached twice and is old, or took an old block's slot (G1), or no block stayed young
 *     then (nothing carried). A forked child's first collection scans its roots whole.
 *     pagemap-scan: a tracked mapping is registered with our userfaultfd at the first
 *     collection that meets it (PM_SCAN_CHECK_WPASYNC says "not registered" for a new,
 *     replaced or inherited one, scanned whole that time). A page stays reported written until
 *     a call for its mapping protects it, and that call scans it: so which written pages are
 *     protected again is a matter of cost only -- not those reported at two collections in a
 *     row, nor a mapping just registered (hot), except at every ROOT_REFRESH-th collection.
 *     soft-dirty: the bits of the whole process are reset after every collection, so a
 *     mapping the collection before did not read here (new, or scanned whole elsewhere) is
 *     scanned whole, once. Only collect()'s markings ask (gen_roots_begin); a marking
 *     that asked and was not followed by gen_after_collection would leave pages protected
 *     that no carry set holds (detect mode's leak checks mark with generations off).
 *
 *  G11 Rechecks (COWGC_FORK_RECHECK), out of line, in a forked child. Its full collections
 *     would trace everything it inherited, so what its minor collections promote (young blocks
 *     live at two of them, and garbage a stale word held that long) stays old for good: each
 *     such block keeps its chunk among the old ones, whose pages are then reported written at
 *     every collection (G7, G8), more of them the longer the child runs. From its first (or a
 *     full) collection on, it records the blocks it promotes (rc_promoted) and every page
 *     whose old blocks a collection scanned (rc_since, old_blocks_on). Once the blocks it
 *     promoted since the last recheck lie in COWGC_FORK_RECHECK chunks, a minor collection
 *     makes all it ever promoted young again first (gen_recheck_begin) and scans as roots,
 *     beyond its usual ones, the roots whole (no G10 filter) and the old blocks on every page
 *     of rc_since (carried like written pages, G6); what it reaches of them is old again at
 *     once, the rest is freed.
 *     Sound: let d be a block made young again and still reachable, o the last old block on a
 *     path to it, and C the first collection after the pointer in o was stored (o was old at
 *     C: had this process promoted it, it would be young again too). If C is the child's
 *     first collection or a later one, it scanned o's page as written (G2, or G5 for a store
 *     in the parent since its last collection): in rc_since. If C ran in the parent, d was
 *     young there (else old at the fork, not ours to recheck) and reached through o's page,
 *     so stayed young once (reached twice it would be old), in the parent's last collection,
 *     which carried o's page (G6) into the child's first one: scanned there, in rc_since.
 *     Roots are scanned whole; young blocks are traced. A stale bit (its block freed) can only
 *     name a block allocated after that first collection, which the same argument covers. A
 *     full collection starts both sets over.
 *
 * Trackers, best first:
 *   pagemap-scan  userfaultfd write-protection in asynchronous mode over the heap reserve,
 *                 read and re-armed by one PAGEMAP_SCAN ioctl (Linux 6.7+). The kernel
 *                 resolves each first write itself: no signal, no thread. UFFD_USER_MODE_ONLY
 *                 makes it work without privileges.
 *   soft-dirty    /proc/self/pagemap bit 55, reset by writing 4 to /proc/self/clear_refs
 *                 (Linux 3.11+, Debian 12's 6.1). It re-protects every page of the process,
 *                 not only the heap: each first write anywhere costs a fault.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"
#include "scanner.h"

/* The PAGEMAP_SCAN interface (linux/fs.h of 6.7+; Debian 12's headers are 6.1). */
struct pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
struct page_region { uint64_t start, end, categories; };
#define PAGEMAP_SCAN_IOCTL _IOWR('f', 16, struct pm_scan_arg)
#define PM_SCAN_WP_MATCHING (1ull << 0)
#define PM_SCAN_CHECK_WPASYNC (1ull << 1)
#define PAGE_IS_WRITTEN (1ull << 1)
#define UFFD_FEATURE_WP_ASYNC_BIT (1ull << 15)
#define UFFD_USER_MODE_ONLY_FLAG 1

#define PM_SOFT_DIRTY (1ull << 55)
#define PM_EXCLUSIVE (1ull << 56)
#define PAGE 4096ul
#define VEC_LEN 4096            /* regions per PAGEMAP_SCAN call */
#define MERGE_GAP 4             /* protect_written: pages between runs that share a call */

static const char *const tracker_names[] = { "none", "pagemap-scan", "soft-dirty" };

static struct {
    int tracker;                /* enum tracker_kind */
    bool on;                    /* generations in use */
    bool armed;                 /* the tracker has been reset since start-up or fork */
    bool child_pending;         /* G5: forked, no collection yet */
    bool child_armed;           /* G5: ...and our registration has tracked the heap since */
    int uffd;                   /* G9: kept only while fd_is() says it is still ours */
    struct fd_ident uffd_id;
    struct page_region *vec;
    uint64_t *inherited_bm;     /* G5: one bit per heap page, [0, inherited_pages) */
    size_t inherited_pages;
    uint64_t old_at_full;       /* live bytes after the last full collection */
    bool want_full;
    uint64_t inherited_live;    /* live bytes when we were forked: shared, not ours */
    /* One bit per heap page, [0, heap.size / PAGE): */
    uint64_t *written_bm;       /* reported written by this collection's scan (re-protection) */
    uint64_t *carry_bm;         /* G6: scanned again by the next minor collection */
    uint64_t *carry_new;        /* the carry set this collection builds */
    bool noting_carry;          /* old blocks scanned now go into carry_new */
    bool have_written;          /* written_bm holds this collection's scan */
    bool minor, promote_all;    /* the collection being swept (gen_begin) */
    uint64_t stayed;            /* blocks this collection kept young (G6) */
    /* G8: one bit per chunk, [0, heap.nchunks_max): out of line, set for every chunk that may
     * hold a mark bit (so an old block); valid once old_chunks_ok. */
    uint64_t *old_chunks;
    uint64_t *fresh_chunks;     /* G8: chunks whose bit this collection's sweep set */
    bool old_chunks_ok;
    /* G11: a forked child's rechecks (COWGC_FORK_RECHECK). One reservation, never a root. */
    bool rc_valid;              /* the sets below hold since this process's first or full collection */
    bool rc_now;                /* this collection rechecks (gen_recheck_begin) */
    uint64_t *rc_since;         /* per heap page: a collection scanned old blocks on it since then */
    uint64_t *rc_promoted;      /* per block (alloc bitmap's shape): promoted by this process since
                                   then (a superset: bits of blocks freed since may stay) */
    uint64_t *rc_chunks;        /* per chunk: may hold rc_promoted bits */
    uint64_t *rc_fresh;         /* per chunk: got rc_promoted bits since the last recheck */
    uint32_t rc_nfresh;         /* bits set in rc_fresh */
    size_t rc_bytes;            /* the reservation's size */
} g = { .uffd = -1 };

struct gen_meta genmeta;

struct gen_stats genstats;

static long sys_pread(int fd, void *buf, size_t n, off_t off) { return syscall(SYS_pread64, fd, buf, n, off); }
static int sys_open(const char *path, int flags) { return (int)syscall(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC); }
static void sys_close(int fd) { if (fd >= 0) syscall(SYS_close, fd); }

static uintptr_t heap_end(void) { return heap.base + ((uintptr_t)atomic_load(&heap.top) << CHUNK_SHIFT); }

/* ---- trackers ---- */

static bool uffd_start(void)
{
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY_FLAG);
    if (fd < 0)
        return false;
    fd = fd_move_high(fd);      /* G9 */
    struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC_BIT };
    struct uffdio_register reg = {
        .range = { .start = heap.base, .len = heap.size }, .mode = UFFDIO_REGISTER_MODE_WP };
    if (ioctl(fd, UFFDIO_API, &api) != 0 || ioctl(fd, UFFDIO_REGISTER, &reg) != 0) {
        sys_close(fd);
        return false;
    }
    g.uffd = fd;
    fd_ident(fd, &g.uffd_id);
    return true;
}

/* G9: forget a userfaultfd of ours whose number names something else now. */
static void fds_check(void)
{
    if (g.uffd >= 0 && !fd_is(g.uffd, &g.uffd_id)) {
        g.uffd = -1;                /* its registration went with it */
        g.want_full = true;
        if (opt.verbose) log_line("generations: the program closed the tracker's userfaultfd; a full collection, then a new registration");
    }
}

/* Pages of [lo, hi) written since the last arming, each range passed to fn; re-armed when
 * rearm. false if the kernel refused (then nothing can be trusted). */
static bool pms_scan_fd(int fd, uintptr_t lo, uintptr_t hi, bool rearm, void (*fn)(uintptr_t, uintptr_t))
{
    while (lo < hi) {
        struct pm_scan_arg a = {
            .size = sizeof a, .start = lo, .end = hi,
            .flags = PM_SCAN_CHECK_WPASYNC | (rearm ? PM_SCAN_WP_MATCHING : 0),
            .vec = (uintptr_t)g.vec, .vec_len = VEC_LEN,
            .category_mask = PAGE_IS_WRITTEN, .return_mask = PAGE_IS_WRITTEN,
        };
        long n = ioctl(fd, PAGEMAP_SCAN_IOCTL, &a);
        if (n < 0)
            return false;
        for (long i = 0; i < n && fn; i++)
            fn(g.vec[i].start, g.vec[i].end);
        if (a.walk_end <= lo)
            return false;
        /* A full vector may end the walk inside the last region it reported: go on after
         * that region, or its pages would be reported twice. */
        lo = n > 0 && g.vec[n - 1].end > a.walk_end ? g.vec[n - 1].end : a.walk_end;
    }
    return true;
}

static bool pms_scan(uintptr_t lo, uintptr_t hi, bool rearm, void (*fn)(uintptr_t, uintptr_t))
{
    int fd = proc_pagemap_fd();
    return fd >= 0 && pms_scan_fd(fd, lo, hi, rearm, fn);
}

/* Soft-dirty or exclusive pages of [lo, hi) (by pagemap bit `bit`), each range to fn. */
static bool pagemap_bits_fd(int fd, uintptr_t lo, uintptr_t hi, uint64_t bit, void (*fn)(uintptr_t, uintptr_t))
{
    uint64_t ent[512];
    uintptr_t run = 0;
    for (uintptr_t pg = lo; pg < hi;) {
        size_t n = (hi - pg) / PAGE;
        if (n > 512) n = 512;
        if (sys_pread(fd, ent, n * 8, (off_t)(pg / PAGE * 8)) != (long)(n * 8))
            return false;
        for (size_t k = 0; k < n; k++, pg += PAGE) {
            bool w = ent[k] & bit;
            if (w && !run) run = pg;
            if (!w && run) { fn(run, pg); run = 0; }
        }
    }
    if (run) fn(run, hi);
    return true;
}

static bool pagemap_bits(uintptr_t lo, uintptr_t hi, uint64_t bit, void (*fn)(uintptr_t, uintptr_t))
{
    int fd = proc_pagemap_fd();
    return fd >= 0 && pagemap_bits_fd(fd, lo, hi, bit, fn);
}

static bool soft_dirty_reset(void)
{
    int fd = sys_open("/proc/self/clear_refs", O_WRONLY);
    if (fd < 0)
        return false;
    bool ok = syscall(SYS_write, fd, "4", 1) == 1;
    sys_close(fd);
    return ok;
}

/* Can the tracker work here? Tried once at start-up. */
static bool tracker_try(int t)
{
    if (t == TRACKER_PAGEMAP_SCAN) {
        if (!uffd_start())
            return false;
        /* One scan of the empty heap: a kernel without PAGEMAP_SCAN says EINVAL/ENOTTY. */
        if (!pms_scan(heap.base, heap.base + CHUNK_SIZE, true, NULL)) {
            sys_close(g.uffd);
            g.uffd = -1;
            return false;
        }
        return true;
    }
    /* A kernel without CONFIG_MEM_SOFT_DIRTY accepts the reset and never sets the bit, which
     * would make every page look clean: see the bit go down and come back on a page of ours. */
    volatile char *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return false;
    uint64_t clean = PM_SOFT_DIRTY, dirty = 0;
    off_t off = (off_t)((uintptr_t)p / PAGE * 8);
    p[0] = 1;
    int fd = proc_pagemap_fd();
    bool ok = fd >= 0 && soft_dirty_reset() && sys_pread(fd, &clean, 8, off) == 8;
    p[0] = 2;
    ok = ok && sys_pread(fd, &dirty, 8, off) == 8;
    munmap((void *)p, PAGE);
    return ok && !(clean & PM_SOFT_DIRTY) && (dirty & PM_SOFT_DIRTY);
}

/* The side bitmaps: per block (the mark bitmap's shape) the old set and the age bits, per heap
 * page the written, carried and next carried sets, per chunk the chunks that may hold marks
 * and those that got them in this collection (G8). One reservation, touched where used, never
 * a root. */
/* Bytes of one side map, whole pages: per block (the mark bitmap's shape), per heap page, per chunk. */
static void side_map_sizes(size_t *blk, size_t *pg, size_t *ck)
{
    *blk = ((size_t)heap.nchunks_max * BM_WORDS * 8 + PAGE - 1) & ~(PAGE - 1);
    *pg = ((heap.size / PAGE + 63) / 64 * 8 + PAGE - 1) & ~(PAGE - 1);
    *ck = ((size_t)(heap.nchunks_max + 63) / 64 * 8 + PAGE - 1) & ~(PAGE - 1);
}

static bool side_maps(void)
{
    size_t blk, pg, ck;
    side_map_sizes(&blk, &pg, &ck);
    char *m = mmap(NULL, 2 * blk + 3 * pg + 2 * ck, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return false;
    roots_exclude((uintptr_t)m, (uintptr_t)m + 2 * blk + 3 * pg + 2 * ck);
    g.old_chunks = (uint64_t *)(m + 2 * blk + 3 * pg);
    g.fresh_chunks = (uint64_t *)(m + 2 * blk + 3 * pg + ck);
    genmeta.old_bm = (uint64_t *)m;
    genmeta.age_bm = (uint64_t *)(m + blk);
    g.written_bm = (uint64_t *)(m + 2 * blk);
    g.carry_bm = (uint64_t *)(m + 2 * blk + pg);
    g.carry_new = (uint64_t *)(m + 2 * blk + 2 * pg);
    return true;
}

/* G11: the recheck sets start empty and valid (first or full collection of a forked child),
 * or recording stops (rc_valid false) until the next such collection. */
static void rc_reset(bool child)
{
    if (!child || heap.mark != MARK_OUTOFLINE || opt.fork_freeze || !opt.fork_recheck) {
        if (g.rc_valid) g.rc_valid = false;
        return;
    }
    size_t blk, pg, ck;
    side_map_sizes(&blk, &pg, &ck);
    if (!g.rc_since) {
        char *m = mmap(NULL, blk + pg + 2 * ck, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) {
            g.rc_valid = false;
            return;
        }
        roots_exclude((uintptr_t)m, (uintptr_t)m + blk + pg + 2 * ck);
        g.rc_promoted = (uint64_t *)m;
        g.rc_since = (uint64_t *)(m + blk);
        g.rc_chunks = (uint64_t *)(m + blk + pg);
        g.rc_fresh = (uint64_t *)(m + blk + pg + ck);
        g.rc_bytes = blk + pg + 2 * ck;
    } else if (madvise(g.rc_promoted, g.rc_bytes, MADV_DONTNEED) != 0) {
        /* (private anonymous memory: reads as zeroes again; a parent's copy is not touched) */
        g.rc_valid = false;
        return;
    }
    g.rc_nfresh = 0;
    g.rc_valid = true;
}

/* G11: block bits (word w of chunk ci) this minor collection promoted. What a recheck promotes
 * again of what it demoted is no fresh promotion: the next recheck waits for new ones. */
static void rc_note_promoted(uint32_t ci, unsigned w, uint64_t bits)
{
    uint64_t *p = &g.rc_promoted[(size_t)ci * BM_WORDS + w];
    uint64_t fresh = bits & ~*p;
    if (!fresh) return;
    *p |= fresh;
    uint64_t bit = 1ull << (ci & 63);
    g.rc_chunks[ci >> 6] |= bit;
    if (!(g.rc_fresh[ci >> 6] & bit)) {
        g.rc_fresh[ci >> 6] |= bit;
        g.rc_nfresh++;
    }
}

/* (rc_valid implies COWGC_FORK_RECHECK > 0 and a first collection behind: rc_reset.) */
bool gen_recheck_due(void)
{
    return g.rc_valid && g.rc_nfresh >= opt.fork_recheck;
}

/* G11, world stopped, before the marking: the blocks this process promoted are young again
 * (marks, old and age bits cleared; their SMALL spans flagged young, so that the marking looks
 * them up and the sweep visits them). Their rc_promoted bits stay: the sweep promotes again at
 * once what the marking reaches of them (gen_age_word), and frees the rest. */
void gen_recheck_begin(void)
{
    cg_assert(g.rc_valid && heap.mark == MARK_OUTOFLINE && opt.fork_recheck && !g.child_pending);
    g.rc_now = true;
    uint64_t bytes = 0;
    uint32_t top = atomic_load(&heap.top);
    for (uint32_t c = 0; c < top; c++) {
        uint64_t cw = g.rc_chunks[c >> 6];
        if (!cw) {
            c |= 63;                    /* (the loop's ++ moves to the next word) */
            continue;
        }
        if (!(cw >> (c & 63) & 1)) continue;
        struct span *s = span_at(c);
        size_t base = (size_t)c * BM_WORDS;
        /* Bits past the span's words are stale (a span freed since): a block there now was
         * allocated after them, and would be as safe to demote (G11), but is not ours to. */
        unsigned nw = s->kind == SPAN_SMALL ? (s->nblocks + 63) / 64 : s->kind == SPAN_LARGE ? 1 : 0;
        bool any = false;
        for (unsigned w = 0; w < BM_WORDS; w++) {
            uint64_t p = g.rc_promoted[base + w];
            if (!p) continue;
            uint64_t live = w < nw ? p & alloc_words(c)[w] & mark_words(c)[w] : 0;
            if (live != p) g.rc_promoted[base + w] = live;      /* stale bits go */
            if (!live) continue;
            mark_words(c)[w] &= ~live;
            if (span_uses(s, MAP_GEN)) {
                if (genmeta.old_bm[base + w] & live) genmeta.old_bm[base + w] &= ~live;
                if (genmeta.age_bm[base + w] & live) genmeta.age_bm[base + w] &= ~live;
            }
            bytes += (uint64_t)__builtin_popcountll(live) * s->size;
            any = true;
        }
        if (!any) g.rc_chunks[c >> 6] &= ~(1ull << (c & 63));
        else if (s->kind == SPAN_SMALL && !(s->flags & SF_YOUNG)) s->flags |= SF_YOUNG;
    }
    for (size_t i = 0, n = ((size_t)top + 63) / 64; i < n; i++)
        if (g.rc_fresh[i]) g.rc_fresh[i] = 0;
    g.rc_nfresh = 0;
    genstats.rechecked_last = bytes;
}

void gen_init(void)
{
    genstats = (struct gen_stats){ 0 };
    if (opt.mode != MODE_COLLECT || opt.generational == GEN_OFF)
        return;
    const char *why = NULL;
    int pm = proc_pagemap_fd();
    g.vec = mmap(NULL, VEC_LEN * sizeof *g.vec, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (pm < 0 || g.vec == MAP_FAILED) {
        g.vec = NULL;
        why = "/proc/self/pagemap cannot be opened";
    } else {
        roots_exclude((uintptr_t)g.vec, (uintptr_t)(g.vec + VEC_LEN));
        int first = opt.tracker == TRACKER_SOFT_DIRTY ? TRACKER_SOFT_DIRTY : TRACKER_PAGEMAP_SCAN;
        if (tracker_try(first))
            g.tracker = first;
        else if (opt.tracker == TRACKER_AUTO && tracker_try(TRACKER_SOFT_DIRTY))
            g.tracker = TRACKER_SOFT_DIRTY;
        else
            why = first == TRACKER_PAGEMAP_SCAN
                ? "no userfaultfd write-protection with PAGEMAP_SCAN (Linux 6.7+) nor working soft-dirty bits"
                : "soft-dirty bits unavailable (the kernel never sets them: CONFIG_MEM_SOFT_DIRTY is off, or /proc/self/clear_refs is closed)";
    }
    if (g.tracker != TRACKER_NONE && !side_maps()) {
        why = "no address space for the generations' side bitmaps";
        g.tracker = TRACKER_NONE;
    }
    g.on = g.tracker != TRACKER_NONE;
    g.armed = false;
    if (!g.on)
        proc_pagemap_drop();    /* no tracker: not open before the first collection needs it */
    if (!g.on && (opt.generational == GEN_ON || opt.verbose))
        log_line("generations off: %s; every collection is full", why);
    else if (opt.verbose)
        log_line("generations on: tracker %s", tracker_names[g.tracker]);
}

CHILD_PATH bool gen_on(void) { return g.on; }
uint64_t gen_fork_base(void) { return g.on ? g.inherited_live : 0; }
const char *gen_tracker_name(void) { return tracker_names[g.tracker]; }
void gen_request_full(void) { g.want_full = true; }

/* ---- policy ---- */

bool gen_next_is_minor(bool forced)
{
    if (g.on)
        fds_check();
    if (!g.on || forced || g.want_full || (!g.armed && !g.child_pending))
        return false;
    /* Full once the old generation has grown by FULL_GROWTH since the last full collection.
     * A forked child's inherited data is shared and costs it nothing; what it promotes is
     * private, so its budget is FORK_GROWTH of what it inherited, as for young garbage. */
    uint64_t base = g.old_at_full, permille = opt.full_growth_permille;
    if (g.inherited_live > base) {
        base = g.inherited_live;
        permille = opt.fork_growth_permille;
    }
    uint64_t grow = base / 1000 * permille;
    return gcstats.live_bytes <= base + (grow > opt.min_trigger ? grow : opt.min_trigger);
}

/* ---- page sets ---- */

static size_t heap_pages(void) { return (heap_end() - heap.base) / PAGE; }

static void set_pages(uint64_t *bm, uintptr_t lo, uintptr_t hi)
{
    for (size_t i = (lo - heap.base) / PAGE, e = (hi - heap.base + PAGE - 1) / PAGE; i < e; i++)
        bm[i >> 6] |= 1ull << (i & 63);
}

static void clear_pages(uint64_t *bm)
{
    for (size_t w = 0, n = (heap_pages() + 63) / 64; w < n; w++)
        if (bm[w]) bm[w] = 0;
}

/* G8: set or clear the bits of chunks [ci, ci + n) in bm. */
static void chunk_bits_in(uint64_t *bm, uint32_t ci, uint32_t n, bool on)
{
    for (uint32_t c = ci; c < ci + n; c++) {
        uint64_t *w = &bm[c >> 6], bit = 1ull << (c & 63);
        if (on && !(*w & bit)) *w |= bit;
        else if (!on && (*w & bit)) *w &= ~bit;
    }
}

static void chunk_bits(uint32_t ci, uint32_t n, bool on)
{
    if (g.old_chunks) chunk_bits_in(g.old_chunks, ci, n, on);
}

/* How pages of [lo, hi) are found written: a tracker's report, or pages held exclusively. */
typedef bool (*page_scan_fn)(uintptr_t lo, uintptr_t hi, void (*fn)(uintptr_t, uintptr_t));
static bool pms_report(uintptr_t lo, uintptr_t hi, void (*fn)(uintptr_t, uintptr_t)) { return pms_scan(lo, hi, false, fn); }
static bool soft_dirty_report(uintptr_t lo, uintptr_t hi, void (*fn)(uintptr_t, uintptr_t)) { return pagemap_bits(lo, hi, PM_SOFT_DIRTY, fn); }
static bool exclusive_report(uintptr_t lo, uintptr_t hi, void (*fn)(uintptr_t, uintptr_t)) { return pagemap_bits(lo, hi, PM_EXCLUSIVE, fn); }
static page_scan_fn tracker_report(void) { return g.tracker == TRACKER_PAGEMAP_SCAN ? pms_report : soft_dirty_report; }
/* G5: a forked child before its first collection: its own registration, else its exclusive pages. */
static page_scan_fn child_report(void) { return g.child_armed ? pms_report : exclusive_report; }

/* Chunks this close together share one call: each costs about what walking 16 chunks' page
 * tables does. */
#define CHUNK_MERGE_GAP 8

/* scan over the runs of chunks set in bm (each bit cleared when clear; no scan: clear only). */
static bool chunk_runs(uint64_t *bm, bool clear, page_scan_fn scan, void (*fn)(uintptr_t, uintptr_t))
{
    uint32_t top = atomic_load(&heap.top), lo = 0, hi = 0;   /* the pending run [lo, hi) */
    bool ok = true;
    for (uint32_t w = 0; w < (top + 63) / 64; w++) {
        uint64_t bits = bm[w];
        if (!bits) continue;
        if (clear) bm[w] = 0;
        for (; bits; bits &= bits - 1) {
            uint32_t c = w * 64 + (uint32_t)__builtin_ctzll(bits);
            if (c >= top) break;
            if (hi && c <= hi + CHUNK_MERGE_GAP) { hi = c + 1; continue; }
            if (hi && ok && scan) ok = scan(chunk_addr(lo), chunk_addr(hi), fn);
            lo = c;
            hi = c + 1;
        }
    }
    if (hi && ok && scan) ok = scan(chunk_addr(lo), chunk_addr(hi), fn);
    return ok;
}

/* G8, debug builds: every chunk with a mark bit has its bit. Checked before a scan's first
 * range is handed on: what that marks is young, in any chunk. */
static void old_chunks_check(void)
{
    if (!config_debug || !g.old_chunks_ok || heap.mark != MARK_OUTOFLINE)
        return;
    uint32_t top = atomic_load(&heap.top);
    for (uint32_t c = 0; c < top; c++) {
        if (g.old_chunks[c >> 6] >> (c & 63) & 1)
            continue;
        cg_assert(words_clear_or_untouched(mark_words(c), BM_WORDS));
        /* The chunks after a LARGE block's first hold its bytes: old if it is. */
        if (span_at(c)->kind == SPAN_CONT) {
            uint32_t h = span_head(c);
            const struct span *hs = span_at(h);
            cg_assert(hs->kind != SPAN_LARGE || c >= h + hs->nchunks || !(mark_words(h)[0] & 1));
        }
    }
}

/* G8: scan's written pages in the chunks that may hold old blocks (out of line, once the
 * chunk bits are valid; else in the whole heap). */
static bool scan_old_chunks(page_scan_fn scan, void (*fn)(uintptr_t, uintptr_t))
{
    if (!g.old_chunks_ok || heap.mark != MARK_OUTOFLINE)
        return scan(heap.base, heap_end(), fn);
    return chunk_runs(g.old_chunks, false, scan, fn);
}

/* ---- the written pages (world stopped) ---- */

static void (*scan_fn)(uintptr_t, uintptr_t);

/* The old blocks on [lo, hi), each overlap handed to scan_fn (and, for a minor collection's
 * written pages, its pages noted for the next one: G6). */
static void old_blocks_on(uintptr_t lo, uintptr_t hi)
{
    uintptr_t end = heap_end();
    if (hi > end) hi = end;
    while (lo < hi) {
        uint32_t ci = (uint32_t)((lo - heap.base) >> CHUNK_SHIFT);
        uintptr_t chunk_hi = chunk_addr(ci) + CHUNK_SIZE;
        uintptr_t stop = hi < chunk_hi ? hi : chunk_hi;
        const struct span *s = span_at(ci);
        if (s->kind == SPAN_SMALL) {
            uint32_t first = (uint32_t)((lo - chunk_addr(ci)) / s->stride);
            uint32_t last = (uint32_t)((stop - 1 - chunk_addr(ci)) / s->stride);
            if (last >= s->nblocks) last = s->nblocks - 1;
            const uint64_t *a = alloc_words(ci), *m = mark_words(ci);
            for (uint32_t w = first >> 6; first <= last && w <= last >> 6; w++) {
                uint64_t bits = a[w];
                /* Out of line, old = alloc & mark, a word at a time; inline reads headers. */
                if (heap.mark == MARK_OUTOFLINE) bits &= m[w];
                if (w == first >> 6) bits &= ~0ull << (first & 63);
                if (w == last >> 6 && (last & 63) != 63) bits &= (2ull << (last & 63)) - 1;
                for (; bits; bits &= bits - 1) {
                    uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(bits);
                    uintptr_t user = chunk_addr(ci) + (uintptr_t)i * s->stride + heap.hdr;
                    if (heap.mark == MARK_INLINE && !block_is_marked(ci, i, user)) continue;
                    uintptr_t b = user > lo ? user : lo, e = user + s->size < stop ? user + s->size : stop;
                    if (b < e) {
                        if (g.noting_carry) set_pages(g.carry_new, b, e);
                        if (g.rc_valid) set_pages(g.rc_since, b, e);   /* G11 */
                        scan_fn(b, e);
                    }
                }
            }
        } else if (s->kind == SPAN_LARGE || s->kind == SPAN_CONT) {
            uint32_t h = s->kind == SPAN_LARGE ? ci : span_head(ci);
            const struct span *hs = span_at(h);
            if (hs->kind == SPAN_LARGE && (alloc_words(h)[0] & 1)) {
                uintptr_t user = chunk_addr(h) + hs->offset;
                if (block_is_marked(h, 0, user)) {
                    uintptr_t b = user > lo ? user : lo, e = user + hs->size < stop ? user + hs->size : stop;
                    if (b < e) {
                        if (g.noting_carry) set_pages(g.carry_new, b, e);
                        if (g.rc_valid) set_pages(g.rc_since, b, e);   /* G11 */
                        scan_fn(b, e);
                    }
                }
            }
        }
        lo = stop;
    }
}

/* A minor collection's written range: noted for re-protection, its old blocks scanned. */
static void minor_written(uintptr_t lo, uintptr_t hi)
{
    genstats.pages_written += (hi - lo) / PAGE;
    set_pages(g.written_bm, lo, hi);
    old_blocks_on(lo, hi);
}

static void note_written(uintptr_t lo, uintptr_t hi) { set_pages(g.written_bm, lo, hi); }

static void mark_inherited_range(uintptr_t lo, uintptr_t hi)
{
    for (uintptr_t pg = lo; pg < hi; pg += PAGE) {
        size_t i = (pg - heap.base) / PAGE;
        g.inherited_bm[i >> 6] |= 1ull << (i & 63);
    }
}

/* G5: what a child counts as written before its first collection. */
static bool child_written(void (*fn)(uintptr_t, uintptr_t))
{
    for (size_t i = 0; i < g.inherited_pages; i++) {
        if (!(g.inherited_bm[i >> 6] & (1ull << (i & 63)))) {
            if (!(i & 63) && !g.inherited_bm[i >> 6]) i += 63;
            continue;
        }
        size_t j = i;
        while (j < g.inherited_pages && (g.inherited_bm[j >> 6] & (1ull << (j & 63)))) j++;
        fn(heap.base + i * PAGE, heap.base + j * PAGE);
        i = j;
    }
    return scan_old_chunks(child_report(), fn);
}

/* The old blocks on the pages of set bm that this collection's scan did not report (those were
 * scanned already), consecutive pages in one call: gc.c then reads only the populated pages of
 * a big block's run. used_up: bm is cleared on the way. */
static void old_blocks_on_pages(uint64_t *bm, bool used_up)
{
    size_t n = (heap_pages() + 63) / 64;
    uintptr_t run_lo = 0, run_hi = 0;
    for (size_t w = 0; w < n; w++) {
        uint64_t bits = bm[w];
        if (!bits) continue;
        if (used_up) bm[w] = 0;
        bits &= ~g.written_bm[w];
        for (; bits; bits &= bits - 1) {
            uintptr_t pg = heap.base + (w * 64 + (unsigned)__builtin_ctzll(bits)) * PAGE;
            if (pg != run_hi) {
                if (run_hi) old_blocks_on(run_lo, run_hi);
                run_lo = pg;
            }
            run_hi = pg + PAGE;
        }
    }
    if (run_hi) old_blocks_on(run_lo, run_hi);
}

/* G6: the carried pages the tracker did not report again; the carry set is used up. */
static void scan_carried(void) { old_blocks_on_pages(g.carry_bm, true); }

/* G7: the pages of chunk ci (bit p: its page p) worth write-protecting, out of line: pages
 * where every slot holds an old block (alloc & mark), and the pages of an old LARGE block.
 * A page that also has young or free slots is left writable: the allocator is likely to
 * write it again, and a fault costs more than scanning its few old blocks at every minor
 * collection (an unprotected page is always reported written, so nothing is missed). */
static bool bits_all(const uint64_t *a, const uint64_t *m, uint32_t first, uint32_t last)
{
    for (uint32_t w = first >> 6; w <= last >> 6; w++) {
        uint64_t want = ~0ull;
        if (w == first >> 6) want &= ~0ull << (first & 63);
        if (w == last >> 6 && (last & 63) != 63) want &= (2ull << (last & 63)) - 1;
        if ((a[w] & m[w] & want) != want) return false;
    }
    return true;
}

static unsigned protect_pages(uint32_t ci)
{
    const struct span *s = span_at(ci);
    if (s->kind == SPAN_SMALL) {
        const uint64_t *a = alloc_words(ci), *m = mark_words(ci);
        unsigned mask = 0;
        for (unsigned p = 0; p < CHUNK_SIZE / PAGE; p++) {
            uint32_t first = (uint32_t)(p * PAGE / s->stride), last = (uint32_t)(((p + 1) * PAGE - 1) / s->stride);
            if (first >= s->nblocks) break;
            if (last >= s->nblocks) last = s->nblocks - 1;
            if (bits_all(a, m, first, last)) mask |= 1u << p;
        }
        return mask;
    }
    if (s->kind == SPAN_LARGE || s->kind == SPAN_CONT) {
        uint32_t h = s->kind == SPAN_LARGE ? ci : span_head(ci);
        const struct span *hs = span_at(h);
        if (hs->kind == SPAN_LARGE && ci < h + hs->nchunks && (alloc_words(h)[0] & mark_words(h)[0] & 1))
            return (1u << (CHUNK_SIZE / PAGE)) - 1;
    }
    return 0;
}

/* G7: write-protect the written pages worth it (inline: every written page), one
 * PAGEMAP_SCAN per run; written_bm is cleared on the way. */
static bool protect_written(void)
{
    const bool selective = heap.mark == MARK_OUTOFLINE;
    const size_t per_chunk = CHUNK_SIZE / PAGE, npages = heap_pages();
    uintptr_t run_lo = 0, run_hi = 0;
    genstats.protect_runs_last = genstats.protected_last = 0;
    uint32_t mask_ci = NONE32;
    unsigned mask = 0;
    bool ok = true;
    for (size_t w = 0; w < (npages + 63) / 64; w++) {
        uint64_t bits = g.written_bm[w];
        if (!bits) continue;
        g.written_bm[w] = 0;
        for (; bits; bits &= bits - 1) {
            size_t pg = w * 64 + (unsigned)__builtin_ctzll(bits);
            if (pg >= npages) break;
            if (selective) {
                uint32_t ci = (uint32_t)(pg / per_chunk);
                if (ci != mask_ci) { mask_ci = ci; mask = protect_pages(ci); }
                if (!(mask >> (pg % per_chunk) & 1)) continue;
            }
            uintptr_t a = heap.base + pg * PAGE;
            /* Runs a few pages apart share one call (an ioctl costs a few fault's worth):
             * the written pages between get protected too, unwritten ones are already. */
            if (run_hi && a <= run_hi + MERGE_GAP * PAGE) {
                genstats.protected_last += (a + PAGE - run_hi) / PAGE;
                run_hi = a + PAGE;
                continue;
            }
            if (run_hi) { ok &= pms_scan(run_lo, run_hi, true, NULL); genstats.protect_runs_last++; }
            run_lo = a;
            run_hi = a + PAGE;
            genstats.protected_last++;
        }
    }
    if (run_hi) { ok &= pms_scan(run_lo, run_hi, true, NULL); genstats.protect_runs_last++; }
    return ok;
}

/* Re-arm after a collection. */
static bool rearm(void)
{
    /* G8: the chunks that got their first old blocks in this collection were not in its scan
     * of written pages; theirs may be worth protecting (a fork's collection promotes all). A
     * scan of the whole heap below covers them; either way the set is used up here. */
    bool fresh = g.tracker == TRACKER_PAGEMAP_SCAN && g.uffd >= 0 && g.have_written;
    bool ok = chunk_runs(g.fresh_chunks, true, fresh ? pms_report : NULL, note_written);
    if (g.tracker != TRACKER_PAGEMAP_SCAN)
        return soft_dirty_reset();
    if (g.uffd < 0) {
        /* A fresh registration protects nothing: every populated page reads as written. */
        if (!uffd_start()) return false;
        g.have_written = false;
    }
    if (!ok || (!g.have_written && !pms_scan(heap.base, heap_end(), false, note_written)))
        return false;
    g.have_written = false;
    return protect_written();
}

bool gen_scan_written(void (*fn)(uintptr_t, uintptr_t))
{
    old_chunks_check();
    scan_fn = fn;
    uint64_t before = genstats.pages_written;
    bool ok;
    clear_pages(g.written_bm);
    if (g.child_pending) rc_reset(true);     /* G11: a forked child's first collection */
    g.noting_carry = true;
    if (g.child_pending)
        ok = child_written(minor_written);
    else
        ok = scan_old_chunks(tracker_report(), minor_written);
    g.noting_carry = false;
    /* After a fork the child's written set is not what its own tracker reports, but holds
     * it when the child armed at fork: the re-protection then needs no second scan. */
    g.have_written = ok && (!g.child_pending || g.child_armed);
    if (ok) scan_carried();
    if (ok && g.rc_now) {
        /* A young block first reached through these pages may stay young: carried (G6). */
        g.noting_carry = true;
        old_blocks_on_pages(g.rc_since, false);
        g.noting_carry = false;
    }
    genstats.pages_written_last = genstats.pages_written - before;
    return ok;
}

/* ---- root pages (G10) ---- */

#define ROOT_RUNS 8192              /* runs per set; more: scanned whole (set full: next one too) */
#define ROOT_REFUSED 16             /* mappings the kernel would not register, not asked again */
#define ROOT_REFRESH 8              /* every so many collections, hot pages are protected too */

static struct {
    bool active;                /* between gen_roots_begin and gen_roots_end: a collection's roots_scan */
    bool track;                 /* this collection reads and re-arms root pages */
    bool filter;                /* ...and may skip the pages it need not scan (a minor collection) */
    bool minor;
    int pmfd;                   /* the pagemap descriptor, checked once for the collection */
    struct page_run *w;         /* the tracker's runs for one mapping, then the runs to scan */
    size_t nw;
    bool w_overflow;
    /* The carry set: root pages the last minor collection scanned because they were written
     * (or whole mappings it could not filter), ascending; the next set is built as the
     * collection walks the mappings in address order. */
    struct page_run *carry, *carry_next;
    size_t ncarry, nnext, cur;
    bool overflow, next_overflow;
    /* pagemap-scan: the pages the last collection found written, and the mappings it
     * registered (hot_next: this one's). A page found written twice in a row is left writable
     * (hot) until the next refresh: it is scanned at every collection instead of faulting
     * after each. */
    struct page_run *hot, *hot_next;
    size_t nhot, nhot_next, hcur;
    bool hot_overflow;
    /* soft-dirty: the tracked mappings the last collection read (seen_next: this one's). A
     * mapping it did not read (scanned whole elsewhere, or new) has pages written before the
     * bits were last reset that nothing carried: scanned whole, once. */
    struct page_run *seen, *seen_next;
    size_t nseen, nseen_next, scur;
    bool seen_overflow;
    bool refresh;               /* this collection protects every written page (ROOT_REFRESH) */
    uint64_t collections;
    struct page_run refused[ROOT_REFUSED];
    unsigned nrefused;
    uintptr_t last_hi;          /* the end of the last mapping asked about (ascending order) */
    uint64_t tracked, skipped;  /* bytes of tracked mappings, and of those not scanned */
    uint64_t written, protected;/* bytes found written, and protected again */
} rp;

static bool root_maps(void)
{
    if (rp.w) return true;
    size_t bytes = 7 * ROOT_RUNS * sizeof(struct page_run);
    char *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return false;
    roots_exclude((uintptr_t)m, (uintptr_t)m + bytes);
    rp.w = (struct page_run *)m;
    rp.carry = rp.w + ROOT_RUNS;
    rp.carry_next = rp.carry + ROOT_RUNS;
    rp.hot = rp.carry_next + ROOT_RUNS;
    rp.hot_next = rp.hot + ROOT_RUNS;
    rp.seen = rp.hot_next + ROOT_RUNS;
    rp.seen_next = rp.seen + ROOT_RUNS;
    return true;
}

void gen_roots_begin(bool minor)
{
    rp.track = rp.filter = rp.active = false;
    rp.tracked = rp.skipped = rp.written = rp.protected = 0;
    rp.nnext = rp.cur = rp.nhot_next = rp.hcur = rp.nseen_next = rp.scur = rp.last_hi = 0;
    rp.next_overflow = rp.hot_overflow = rp.seen_overflow = false;
    rp.minor = minor;
    rp.refresh = ++rp.collections % ROOT_REFRESH == 0;
    if (!g.on || opt.root_pages != ROOT_PAGES_WRITTEN || !root_maps())
        return;
    rp.pmfd = proc_pagemap_fd();
    if (rp.pmfd < 0)
        return;
    rp.track = rp.active = true;
    /* A minor collection right after a complete one of this process, with a whole carry set.
     * (A forked child's first collection has neither our registrations nor our soft-dirty
     * resets behind it.) */
    rp.filter = minor && g.armed && !g.child_pending && !rp.overflow && !g.rc_now;   /* G11: whole */
}

/* Appends [lo, hi) to a set built in ascending order of lo, merging with its last run. */
static bool run_add(struct page_run *set, size_t *n, uintptr_t lo, uintptr_t hi)
{
    if (*n && lo <= set[*n - 1].hi) {
        if (hi > set[*n - 1].hi) set[*n - 1].hi = hi;
        return true;
    }
    if (*n == ROOT_RUNS) return false;
    set[(*n)++] = (struct page_run){ lo, hi };
    return true;
}

static void next_add(uintptr_t lo, uintptr_t hi)
{
    if (rp.minor && !run_add(rp.carry_next, &rp.nnext, lo, hi)) rp.next_overflow = true;
}

static void note_root_run(uintptr_t lo, uintptr_t hi)
{
    if (!run_add(rp.w, &rp.nw, lo, hi)) rp.w_overflow = true;
}

static uint64_t runs_bytes(const struct page_run *r, size_t n)
{
    uint64_t b = 0;
    for (size_t i = 0; i < n; i++) b += r[i].hi - r[i].lo;
    return b;
}

/* pagemap-scan: protect every written page of [lo, hi) again (rp.w holds them). */
static void protect_all(uintptr_t lo, uintptr_t hi)
{
    pms_scan_fd(rp.pmfd, lo, hi, true, NULL);
    rp.protected += runs_bytes(rp.w, rp.nw);
}

static bool refused(uintptr_t lo, uintptr_t hi)
{
    for (unsigned i = 0; i < ROOT_REFUSED && i < rp.nrefused; i++)
        if (rp.refused[i].lo == lo && rp.refused[i].hi == hi) return true;
    return false;
}

/* pagemap-scan, a minor collection: protect again the pages of [lo, hi) found written now
 * (rp.w) that the last minor collection did not find written; a page written in both is hot
 * and stays writable. Runs one call each, or one call for the whole mapping when there are
 * many. */
#define PROTECT_CALLS_MAX 32
static void protect_cold(uintptr_t lo, uintptr_t hi)
{
    while (rp.hcur < rp.nhot && rp.hot[rp.hcur].hi <= lo) rp.hcur++;
    struct page_run todo[PROTECT_CALLS_MAX];
    size_t n = 0, h = rp.hcur;
    for (size_t k = 0; k < rp.nw; k++) {
        uintptr_t a = rp.w[k].lo, b = rp.w[k].hi;
        while (a < b) {
            while (h < rp.nhot && rp.hot[h].hi <= a) h++;
            uintptr_t cut = h < rp.nhot && rp.hot[h].lo < b ? rp.hot[h].lo : b;
            if (a < cut) {
                if (n == PROTECT_CALLS_MAX) {
                    protect_all(lo, hi);
                    return;
                }
                todo[n++] = (struct page_run){ a, cut };
            }
            a = h < rp.nhot && rp.hot[h].lo < b ? (rp.hot[h].hi < b ? rp.hot[h].hi : b) : b;
        }
    }
    for (size_t i = 0; i < n; i++) {
        pms_scan_fd(rp.pmfd, todo[i].lo, todo[i].hi, true, NULL);
        rp.protected += todo[i].hi - todo[i].lo;
    }
}

/* pagemap-scan: pages of [lo, hi) written since they were last protected, and the protection
 * of those that are not hot (protect_cold), or of all of them every ROOT_REFRESH-th
 * collection. Which pages are protected is a matter of cost only: a writable page reads as
 * written at every call. A mapping not registered with our userfaultfd (new, replaced, or a
 * forked child's) is registered now and counts as hot (not protected before the next refresh:
 * protecting all of python3's arenas at each full collection cost it a write fault on nearly
 * every arena page after each, 25,000 faults and +40% wall time in a VM where one costs 15 us);
 * false says that nothing is known of it yet. */
static bool root_written_pms(uintptr_t lo, uintptr_t hi)
{
    if (g.uffd < 0 || refused(lo, hi))
        return false;
    bool all = rp.refresh || rp.hot_overflow;
    if (pms_scan_fd(rp.pmfd, lo, hi, all, note_root_run)) {
        uint64_t w = runs_bytes(rp.w, rp.nw);
        rp.written += w;
        if (all) {
            rp.protected += w;         /* the scan itself protected them */
        } else if (rp.w_overflow) {
            protect_all(lo, hi);
        } else {
            protect_cold(lo, hi);
            for (size_t k = 0; k < rp.nw; k++)
                if (!run_add(rp.hot_next, &rp.nhot_next, rp.w[k].lo, rp.w[k].hi)) rp.hot_overflow = true;
        }
        return true;
    }
    struct uffdio_register reg = { .range = { .start = lo, .len = hi - lo }, .mode = UFFDIO_REGISTER_MODE_WP };
    if (ioctl(g.uffd, UFFDIO_REGISTER, &reg) != 0) {
        rp.refused[rp.nrefused++ % ROOT_REFUSED] = (struct page_run){ lo, hi };
        if (opt.verbose)
            log_line("generations: root mapping %p-%p cannot be write-tracked (errno %d); it is scanned whole",
                     (void *)lo, (void *)hi, errno);
    } else if (!run_add(rp.hot_next, &rp.nhot_next, lo, hi)) {
        rp.hot_overflow = true;
    }
    return false;
}

/* The pages of tracked root mapping [lo, hi) the collection must scan: true with the runs in
 * *runs (ascending, inside [lo, hi)), or false: scan it whole. Called for each tracked mapping
 * in ascending address order, world stopped. */
bool gen_root_runs(uintptr_t lo, uintptr_t hi, const struct page_run **runs, size_t *n)
{
    if (!rp.active)
        return false;
    /* The cursors into the carry, hot and seen sets rely on it. */
    cg_assert(lo < hi && lo >= rp.last_hi);
    rp.last_hi = hi;
    rp.tracked += hi - lo;
    rp.nw = 0;
    rp.w_overflow = false;
    /* pagemap-scan reads (and re-arms) even when the whole mapping is scanned: the next
     * collection needs to know only what is written from now on. Soft-dirty bits are reset
     * for the whole process after the collection (rearm), whatever is read here. */
    bool ok;
    if (g.tracker == TRACKER_PAGEMAP_SCAN) {
        ok = root_written_pms(lo, hi);
    } else {
        while (rp.scur < rp.nseen && rp.seen[rp.scur].hi <= lo) rp.scur++;
        bool seen = rp.scur < rp.nseen && rp.seen[rp.scur].lo <= lo && rp.seen[rp.scur].hi >= hi;
        if (!run_add(rp.seen_next, &rp.nseen_next, lo, hi)) rp.seen_overflow = true;
        ok = rp.filter && seen && pagemap_bits_fd(rp.pmfd, lo, hi, PM_SOFT_DIRTY, note_root_run);
    }
    while (rp.cur < rp.ncarry && rp.carry[rp.cur].hi <= lo) rp.cur++;
    if (!ok || rp.w_overflow || !rp.filter) {
        /* Scanned whole: in a minor collection what it reaches may stay young (G6), so all of
         * it is scanned again by the next one. */
        next_add(lo, hi);
        return false;
    }
    /* What was written since the last collection (carried into the next set), with what the
     * last one carried, clipped to the mapping. */
    size_t k = 0, nw = rp.nw, j = rp.cur, nu = 0;
    struct page_run *u = rp.w + nw;             /* built after the tracker's runs */
    while (k < nw || (j < rp.ncarry && rp.carry[j].lo < hi)) {
        struct page_run r;
        if (k < nw && (j >= rp.ncarry || rp.carry[j].lo >= hi || rp.w[k].lo <= rp.carry[j].lo)) {
            r = rp.w[k++];
            next_add(r.lo, r.hi);
        } else {
            r = rp.carry[j++];
        }
        if (r.lo < lo) r.lo = lo;
        if (r.hi > hi) r.hi = hi;
        if (r.lo >= r.hi) continue;
        if (nu && r.lo <= u[nu - 1].hi) { if (r.hi > u[nu - 1].hi) u[nu - 1].hi = r.hi; continue; }
        if (nw + nu == ROOT_RUNS) {
            /* Too fragmented to list: whole, now and at the next collection. */
            rp.next_overflow = true;
            return false;
        }
        u[nu++] = r;
    }
    /* A carried run may go on into the next mapping (adjacent runs merge): not used up. */
    if (j > rp.cur && rp.carry[j - 1].hi > hi) j--;
    rp.cur = j;
    memmove(rp.w, u, nu * sizeof *u);
    rp.nw = nu;
    rp.skipped += (hi - lo) - runs_bytes(rp.w, nu);
    for (size_t i = 0; config_debug && i < nu; i++)
        cg_assert(rp.w[i].lo >= lo && rp.w[i].lo < rp.w[i].hi && rp.w[i].hi <= hi &&
                  (i == 0 || rp.w[i].lo > rp.w[i - 1].hi));
    *runs = rp.w;
    *n = nu;
    return true;
}

/* The roots of the collection are scanned: other scans of the roots (a leak check) see none of this. */
void gen_roots_end(void) { rp.active = false; }

/* After the collection (world stopped): the carry set for the next one. */
static void roots_after(bool minor, bool ok)
{
    if (!rp.track) {
        /* Its roots were scanned whole without us (no pagemap descriptor): no set describes
         * it, so the next collection carries nothing from it and reads every mapping anew
         * (soft-dirty bits were reset after this one). */
        rp.ncarry = rp.nhot = rp.nseen = 0;
        rp.overflow = false;
        return;
    }
    rp.track = false;
    struct page_run *t = rp.carry;
    rp.carry = rp.carry_next;
    rp.carry_next = t;
    /* A full collection made what the roots reach old: nothing to carry. An incomplete one is
     * followed by a full one (not armed). A minor one that kept no block young carries nothing
     * either (G6). */
    rp.ncarry = ok && minor && g.stayed ? rp.nnext : 0;
    rp.overflow = ok && minor && g.stayed && rp.next_overflow;
    t = rp.hot;
    rp.hot = rp.hot_next;
    rp.hot_next = t;
    rp.nhot = ok && !rp.hot_overflow ? rp.nhot_next : 0;
    t = rp.seen;
    rp.seen = rp.seen_next;
    rp.seen_next = t;
    rp.nseen = ok && !rp.seen_overflow ? rp.nseen_next : 0;
}

/* ---- ages (sweep, world stopped) ---- */

/* Clears span ci's old and age words (I10: only if it may have any). */
static void gen_words_clear(uint32_t ci, struct span *s)
{
    size_t i = (size_t)ci * BM_WORDS;
    span_map_clear(s, MAP_GEN, (uint64_t *const[]){ genmeta.old_bm + i, genmeta.age_bm + i }, 2);
}

void gen_begin(bool minor, bool promote_all)
{
    g.minor = genmeta.minor = minor;
    g.promote_all = promote_all;
    g.stayed = 0;
    genstats.promoted_last = 0;
    if (minor)
        return;
    /* A full collection: every survivor is old (G6 needs no carry), ages start over. Only the
     * spans that may hold such bits are read (I10): the rest of both maps may be pages nobody
     * wrote, each a fault to read in a forked child. */
    uint32_t top = atomic_load(&heap.top);
    for (uint32_t ci = 0; ci < top; ci++) {
        struct span *s = span_at(ci);
        if (s->kind == SPAN_SMALL || s->kind == SPAN_LARGE) gen_words_clear(ci, s);
    }
}

uint64_t gen_age_word(uint32_t ci, unsigned w, uint64_t marks)
{
    size_t i = (size_t)ci * BM_WORDS + w;
    struct span *sp = span_at(ci);
    bool used = span_uses(sp, MAP_GEN);   /* I10 */
    uint64_t old = used ? genmeta.old_bm[i] : 0, age = used ? genmeta.age_bm[i] : 0, stay = 0;
    cg_assert(heap.mark != MARK_OUTOFLINE || !(old & ~mark_words(ci)[w]));   /* G1 */
    if (g.minor) {
        uint64_t fresh = marks & ~old;                 /* young, reached by this collection */
        stay = g.promote_all ? 0 : fresh & ~age;       /* first survival: stays young */
        if (g.rc_now) stay &= ~g.rc_promoted[i];       /* G11: demoted, reached: old again */
        uint64_t promoted = fresh & ~stay;
        if (promoted)
            genstats.promoted_last += (uint64_t)__builtin_popcountll(promoted) * span_at(ci)->size;
        if (promoted && g.rc_valid) rc_note_promoted(ci, w, promoted);   /* G11 */
        if (promoted && !g.promote_all) {
            /* G6: what a promoted block points to may have stayed young. */
            const struct span *s = span_at(ci);
            if (s->kind == SPAN_LARGE) {
                uintptr_t u = chunk_addr(ci) + s->offset;
                set_pages(g.carry_new, u - heap.hdr, u + s->size);
            } else {
                for (; promoted; promoted &= promoted - 1) {
                    uintptr_t b = chunk_addr(ci) + (uintptr_t)(w * 64 + (unsigned)__builtin_ctzll(promoted)) * s->stride;
                    set_pages(g.carry_new, b, b + s->stride);
                }
            }
        }
    }
    uint64_t now_old = marks & ~stay;
    if (!used && (now_old | stay)) span_use(sp, MAP_GEN);
    if (old != now_old) genmeta.old_bm[i] = now_old;
    if (age != stay) genmeta.age_bm[i] = stay;
    g.stayed += (uint64_t)__builtin_popcountll(stay);
    return stay;
}

void gen_span_freed(uint32_t ci)
{
    if (!heap.sticky_marks || !genmeta.old_bm)
        return;
    /* A new span on these chunks starts with no old block (G7 reads marks by its layout).
     * By I3 only the span's own words can hold bits (a span of 1600-byte slots clears 1 word
     * of each map, not 64: sweeps free hundreds of spans). */
    struct span *s = span_at(ci);
    unsigned n = span_map_words(s);
    chunk_bits(ci, s->nchunks, false);    /* G8 */
    uint64_t *m = mark_words(ci), *o = genmeta.old_bm + (size_t)ci * BM_WORDS, *a = genmeta.age_bm + (size_t)ci * BM_WORDS;
    gen_words_clear(ci, s);             /* (heap_run_free cleared the marks) */
    if (config_debug && s->kind == SPAN_SMALL)
        cg_assert(words_clear_or_untouched(m + n, BM_WORDS - n) && words_clear_or_untouched(o + n, BM_WORDS - n) &&
                  words_clear_or_untouched(a + n, BM_WORDS - n));
}

/* G8: after the sweep of span ci (world stopped), whether its chunks may hold an old block.
 * A span the sweep freed has cleared its bits already (gen_span_freed). */
void gen_span_swept(uint32_t ci)
{
    if (!g.old_chunks || heap.mark != MARK_OUTOFLINE)
        return;
    const struct span *s = span_at(ci);
    bool marks = false;
    if ((s->kind == SPAN_SMALL || s->kind == SPAN_LARGE) && !span_uses(s, MAP_MARK)) {
        /* I10: no marks, and their words are not read */
    } else if (s->kind == SPAN_SMALL) {
        const uint64_t *m = mark_words(ci);
        for (unsigned w = 0, n = (s->nblocks + 63) / 64; w < n && !marks; w++) marks = m[w] != 0;
    } else if (s->kind == SPAN_LARGE) {
        marks = mark_words(ci)[0] & 1;
    } else {
        return;
    }
    if (marks && !(g.old_chunks[ci >> 6] >> (ci & 63) & 1))
        chunk_bits_in(g.fresh_chunks, ci, s->nchunks, true);
    chunk_bits(ci, s->nchunks, marks);
}

/* G8: an old LARGE block grown in place (realloc) is old over its new chunks too: a pointer
 * the program stores there must be found by the next minor collection. */
void gen_span_grown(uint32_t ci)
{
    if (g.old_chunks && (g.old_chunks[ci >> 6] >> (ci & 63) & 1))
        chunk_bits(ci, span_at(ci)->nchunks, true);
}

/* G11, debug builds, after a recheck's sweep: a block it made young again is either freed or
 * old again (what the marking reached of them never stays young). */
static void rc_check_reached(void)
{
    if (!config_debug) return;
    uint32_t top = atomic_load(&heap.top);
    for (uint32_t c = 0; c < top; c++) {
        if (!(g.rc_chunks[c >> 6] >> (c & 63) & 1)) continue;
        const struct span *s = span_at(c);
        unsigned nw = s->kind == SPAN_SMALL ? (s->nblocks + 63) / 64 : s->kind == SPAN_LARGE ? 1 : 0;
        for (unsigned w = 0; w < nw; w++)
            cg_assert(!(g.rc_promoted[(size_t)c * BM_WORDS + w] & alloc_words(c)[w] & ~mark_words(c)[w]));
    }
}

void gen_after_collection(bool minor, bool ok)
{
    if (!g.on)
        return;
    if (minor) {
        genstats.minor++;
        genstats.young_marked += gcstats.marked_bytes_last;
    } else {
        genstats.full++;
    }
    roots_after(minor, ok);
    genstats.root_tracked_last = rp.tracked;
    genstats.root_skipped_last = rp.skipped;
    genstats.root_skipped += rp.skipped;
    genstats.root_written_last = rp.written;
    genstats.root_protected_last = rp.protected;
    /* G8: a full sweep visited every span; marking without a sweep left marks it did not see. */
    if (!ok) g.old_chunks_ok = false;
    else if (!minor) g.old_chunks_ok = g.old_chunks != NULL;
    if (!minor) {
        g.old_at_full = gcstats.live_bytes;
        g.inherited_live = 0;
        g.want_full = false;
    }
    /* G11: a full collection starts the sets over (what it left marked is what the next
     * recheck takes as given); one that did not finish stops them until the next full. */
    if (g.rc_now && minor && ok) {
        genstats.rechecks++;
        rc_check_reached();
    }
    g.rc_now = false;
    if (!ok) rc_reset(false);
    else if (!minor) rc_reset(policy_in_child());
    if (g.child_pending) {
        g.child_pending = g.child_armed = false;
        if (g.inherited_bm) {
            munmap(g.inherited_bm, (g.inherited_pages + 63) / 64 * 8);
            g.inherited_bm = NULL;
        }
    }
    /* G6: the next minor collection rescans this one's carry set only if a block stayed young. */
    clear_pages(g.carry_bm);
    if (!g.stayed || !minor || !ok)
        clear_pages(g.carry_new);
    uint64_t *t = g.carry_bm;
    g.carry_bm = g.carry_new;
    g.carry_new = t;
    genstats.stayed_young_last = g.stayed;
    g.armed = ok && rearm();
    if (ok && !g.armed) {
        log_line("generations: the %s tracker failed (errno %d); collections are full from now on",
                 tracker_names[g.tracker], errno);
        g.on = false;
    }
}

/* ---- fork ---- */

/* gen_fork_prepare's work when generations are on; its test of g.on is in CHILD_PATH (below),
 * as a subshell forks in turn. */
static void fork_prepare_on(void)
{
    fds_check();
    if (!g.child_pending && !g.armed) {
        /* Never armed: no old block is known yet, so the child's first collection is full
         * anyway. No mapping, no scan: a shell that forks per command pays nothing here. */
        if (g.inherited_bm) {
            munmap(g.inherited_bm, (g.inherited_pages + 63) / 64 * 8);
            g.inherited_bm = NULL;
            g.inherited_pages = 0;
        }
        return;
    }
    old_chunks_check();
    /* G5: the pages written since our last collection, for the child. Kept in a fresh
     * mapping; the parent unmaps its copy in gen_fork_parent. */
    size_t pages = (heap_end() - heap.base) / PAGE;
    size_t bytes = ((pages + 63) / 64 * 8 + PAGE - 1) & ~(PAGE - 1);
    uint64_t *bm = bytes ? mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) : NULL;
    if (bm == MAP_FAILED) bm = NULL;
    uint64_t *old = g.inherited_bm;
    size_t old_pages = g.inherited_pages;
    g.inherited_bm = bm;
    g.inherited_pages = bm ? pages : 0;
    bool ok = bm != NULL;
    if (ok && g.child_pending) {
        /* Not collected since our own fork: our inherited set and our exclusive pages. */
        for (size_t i = 0; i < old_pages && i < pages; i++)
            if (old[i >> 6] & (1ull << (i & 63))) bm[i >> 6] |= 1ull << (i & 63);
        ok = scan_old_chunks(child_report(), mark_inherited_range);
    } else if (ok && g.armed) {
        ok = scan_old_chunks(tracker_report(), mark_inherited_range);
    } else {
        ok = false;         /* never armed: no old block is known yet */
    }
    if (old && old != bm) munmap(old, (old_pages + 63) / 64 * 8);
    if (!ok) {
        if (bm) munmap(bm, bytes);
        g.inherited_bm = NULL;
        g.inherited_pages = 0;
    }
}

CHILD_PATH void gen_fork_prepare(void)
{
    if (g.on) fork_prepare_on();
}

CHILD_PATH void gen_fork_parent(void)
{
    if (!g.on || !g.inherited_bm)
        return;
    if (g.child_pending)
        return;             /* still ours: the union of our inherited set and exclusive pages */
    munmap(g.inherited_bm, (g.inherited_pages + 63) / 64 * 8);
    g.inherited_bm = NULL;
    g.inherited_pages = 0;
}

CHILD_PATH void gen_fork_child(void)
{
    if (!g.on)
        return;
    /* The registration did not follow us (no UFFD_FEATURE_EVENT_FORK): gen_arm_child makes a
     * new one. */
    if (g.uffd >= 0 && fd_is(g.uffd, &g.uffd_id))   /* G9: else the number is the program's */
        sys_close(g.uffd);
    g.uffd = -1;
    g.child_armed = false;
    /* A pagemap descriptor reads the page tables of the process that opened it: the child's
     * is opened at its first use (proc_pagemap_fd sees the pid change). */
    /* Stored only if it changes: after fork() each first store to a page is a copy-on-write fault. */
    static const struct gen_stats zero;
    if (memcmp(&genstats, &zero, sizeof zero) != 0) genstats = zero;
    g.inherited_live = atomic_load(&heap.in_use);
    if (g.rc_valid) g.rc_valid = false;      /* G11: the sets are the parent's (reset at our first collection) */
    /* Without a record of the parent's written pages, the first collection must be full. */
    g.child_pending = g.inherited_bm != NULL;
    if (!g.child_pending)
        g.want_full = true;
}

/* G5, pagemap-scan: a new registration over the heap, every page of it protected, before the
 * child runs code of its own. Otherwise the first collection would have to protect every
 * inherited page (a fresh registration protects nothing) and read the exclusive bits of the
 * whole heap, inside its pause: in a prefork worker, the longest pause of its life. Here it
 * is part of the fork (about 0.1 us a page: the kernel sets a bit in each of the child's
 * page-table entries and copies no page, G4). A child that only execs pays it too. */
bool gen_arm_child(void)
{
    if (!g.on || !g.child_pending || g.tracker != TRACKER_PAGEMAP_SCAN)
        return false;
    uint64_t t0 = now_ns();
    /* A fresh registration reports every page written: matching them all protects them all. */
    if (uffd_start() && pms_scan(heap.base, heap_end(), true, NULL)) {
        g.child_armed = true;
    } else if (g.uffd >= 0) {
        sys_close(g.uffd);
        g.uffd = -1;
    }
    uint64_t ns = now_ns() - t0;
    if (opt.verbose)
        log_line("generations: fork: %s the heap's %zu pages in %llu us", g.child_armed ? "protected" : "could not protect",
                 heap_pages(), (unsigned long long)(ns / 1000));
    return true;
}
