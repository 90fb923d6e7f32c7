/* freeze.c -- COWGC_FORK_FREEZE: in a forked child, inherited blocks are live and are not traced.
 *
 * The C counterpart of CPython's gc.freeze(): a prefork worker's collections then cost what the
 * worker itself allocated, not the parent's whole heap.
 *
 * Invariants:
 *  - frozen_bm has the alloc bitmaps' shape and is a subset of the blocks allocated at fork;
 *    a block leaves it when it is freed. A frozen block counts as marked and is never pushed.
 *  - A pointer the child stores into a frozen block lies on a page the child wrote, and a page
 *    the child wrote is mapped exclusively by it (its own copy after copy-on-write), which
 *    /proc/self/pagemap reports (bit 56; swapped-out pages, bit 62, are scanned too). Every
 *    frozen block on such a page is scanned as a root, so whatever the child hung off inherited
 *    data is found without tracing the inherited heap.
 *  - A process that forks again loses the exclusivity of its pages to the new child: the parent
 *    side of fork() unfreezes (full tracing from then on); the new child freezes anew.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "collector.h"
#include "scanner.h"

#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
#define PM_EXCLUSIVE (1ull << 56)

static uint64_t *frozen_map;    /* the mapping, kept across freezes */
static size_t frozen_len;

CHILD_PATH void freeze_fork_child(void)
{
    if (heap.frozen_bm) heap.frozen_bm = NULL;   /* stored only if set: no copy-on-write fault */
    if (!opt.fork_freeze) return;
    uint32_t top = atomic_load(&heap.top);
    size_t len = ((size_t)heap.nchunks_max * BM_WORDS * 8 + 4095) & ~(size_t)4095;
    if (!frozen_map) {
        void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) {
            log_line("COWGC_FORK_FREEZE: cannot map the frozen bitmap; collecting the whole heap");
            return;
        }
        frozen_map = m;
        frozen_len = len;
        roots_exclude((uintptr_t)m, (uintptr_t)m + len);
    } else {
        madvise(frozen_map, frozen_len, MADV_DONTNEED);   /* a new freeze starts empty */
    }
    for (uint32_t ci = 0; ci < top; ci++) {
        const struct span *s = span_at(ci);
        if (s->kind == SPAN_SMALL)
            memcpy(frozen_map + (size_t)ci * BM_WORDS, alloc_words(ci), ((s->nblocks + 63) / 64) * 8);
        else if (s->kind == SPAN_LARGE)
            frozen_map[(size_t)ci * BM_WORDS] = alloc_words(ci)[0] & 1;
    }
    heap.frozen_top = top;
    heap.frozen_bm = frozen_map;
}

CHILD_PATH void freeze_fork_parent(void)
{
    if (heap.frozen_bm) heap.frozen_bm = NULL;   /* our written pages are shared with the new child now */
}

/* Scan [lo, hi) of every frozen block in span ci that overlaps page [pg, pg + 4096). */
static void scan_frozen_on_page(uint32_t ci, uintptr_t pg, root_fn fn)
{
    const struct span *s = span_at(ci);
    const uint64_t *fz = heap.frozen_bm + (size_t)ci * BM_WORDS, *a = alloc_words(ci);
    uintptr_t start = chunk_addr(ci);
    if (s->kind == SPAN_LARGE) {
        if (!(fz[0] & a[0] & 1)) return;
        uintptr_t lo = start + s->offset, hi = lo + s->size;
        lo = lo > pg ? lo : pg;
        hi = hi < pg + 4096 ? hi : pg + 4096;
        if (lo < hi) fn(lo, hi, ROOT_INHERITED);
        return;
    }
    uint32_t first = (uint32_t)((pg - start) / s->stride);
    uint32_t last = (uint32_t)((pg + 4095 - start) / s->stride);
    if (last >= s->nblocks) last = s->nblocks - 1;
    for (uint32_t i = first; i <= last; i++) {
        if (!(fz[i >> 6] & a[i >> 6] & (1ull << (i & 63)))) continue;
        uintptr_t lo = start + (uintptr_t)i * s->stride + heap.hdr, hi = lo + s->size;
        lo = lo > pg ? lo : pg;
        hi = hi < pg + 4096 ? hi : pg + 4096;
        if (lo < hi) fn(lo, hi, ROOT_INHERITED);
    }
}

/* World stopped: the frozen blocks on pages this process wrote since the fork are roots. */
bool freeze_scan_roots(root_fn fn)
{
    int fd = open("/proc/thread-self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    uint64_t ent[512];
    uintptr_t end = heap.base + ((uintptr_t)heap.frozen_top << CHUNK_SHIFT);
    bool ok = true;
    for (uintptr_t pg = heap.base; pg < end && ok;) {
        size_t n = (size_t)((end - pg) >> 12);
        if (n > 512) n = 512;
        if (pread(fd, ent, n * 8, (off_t)((pg >> 12) * 8)) != (ssize_t)(n * 8)) { ok = false; break; }
        for (size_t k = 0; k < n; k++, pg += 4096) {
            uint64_t e = ent[k];
            if (!((e & PM_PRESENT) && (e & PM_EXCLUSIVE)) && !(e & PM_SWAPPED)) continue;
            uint32_t c = chunk_of(pg), ci = span_head(c);
            const struct span *s = span_at(ci);
            if ((s->kind == SPAN_SMALL || s->kind == SPAN_LARGE) && ci + s->nchunks > c &&
                ci < heap.frozen_top)
                scan_frozen_on_page(ci, pg, fn);
        }
    }
    close(fd);
    return ok;
}
