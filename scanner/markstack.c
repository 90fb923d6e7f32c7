/* markstack.c -- the explicit, bounded stack of address ranges still to be scanned by the marker.
 *
 * Invariants:
 *  - Lives in one MAP_NORESERVE mapping made once (pages are touched only as the stack grows),
 *    never in the heap and never via libc malloc; its range is excluded from the roots.
 *  - Used by one marking thread at a time (the collector, world stopped, heap_lock held), so
 *    no atomics: push/pop are a bounds check and a store.
 *  - A push that does not fit is dropped and remembered in `overflowed`; the marker then
 *    rescans to recover what was dropped (collector's job), so a full stack costs time, not
 *    correctness.
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>

#include "scanner.h"

#define MARKSTACK_ENTRIES ((size_t)4 << 20)   /* 4M ranges = 64 MiB of address space */
static size_t mapped_entries;

struct markstack markstack = { NULL, 0, 0, false };
#define stack_base markstack.base
#define depth markstack.depth
#define overflowed markstack.overflowed

HIDDEN void markstack_init(void)
{
    if (stack_base)
        return;
    /* Under a tight address-space limit take a sixteenth of cowgc's share, or what there is:
     * a small stack overflows more often, which costs rescans but never loses a block. */
    void *p = MAP_FAILED;
    size_t n = MARKSTACK_ENTRIES;
    while (n > 4096 && n * sizeof(struct mark_item) > as_share / 16)
        n /= 4;
    for (; n >= 4096; n /= 4) {
        p = mmap(NULL, n * sizeof(struct mark_item), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED) break;
    }
    if (p == MAP_FAILED) {
        limits_note("no mark stack (not even %zu KiB could be mapped): collections rely on overflow rescans",
                    (size_t)4096 * sizeof(struct mark_item) >> 10);
        return;
    }
    if (n < MARKSTACK_ENTRIES)
        limits_note("mark stack %zu KiB (of %zu)", n * sizeof(struct mark_item) >> 10,
                    MARKSTACK_ENTRIES * sizeof(struct mark_item) >> 10);
    stack_base = p;
    mapped_entries = n;
    markstack.cap = n;
}

/* Tests shrink the stack to exercise overflow recovery. */
HIDDEN void markstack_set_capacity(size_t n)
{
    markstack.cap = n < mapped_entries ? n : mapped_entries;
}

HIDDEN bool markstack_overflowed(void)
{
    bool o = overflowed;
    overflowed = false;
    return o;
}

/* Also gives the pages back: a deep mark must not leave 64 MiB resident for the program's life. */
HIDDEN void markstack_reset(void)
{
    if (stack_base && depth > 4096)
        madvise(stack_base, depth * sizeof(struct mark_item), MADV_DONTNEED);
    depth = 0;
    overflowed = false;
    markstack.marked_bytes = markstack.overflows = markstack.pages_written = 0;
}

HIDDEN uintptr_t markstack_lo(void) { return (uintptr_t)stack_base; }

HIDDEN uintptr_t markstack_hi(void)
{
    return stack_base ? (uintptr_t)(stack_base + mapped_entries) : 0;
}
