/* api.c -- the public API of cowgc.h: collect, statistics, disable/enable, extra roots. */
#include "collector.h"
#include "cowgc.h"
#include "scanner.h"

#define EXPORT __attribute__((visibility("default")))

HIDDEN void stats_fill(struct cowgc_stats *st);

EXPORT void cowgc_collect(void)
{
    cowgc_ensure_init();
    if (opt.mode == MODE_OFF) return;
    struct tcache *tc = tls_tc;
    if (tc) alloc_flush_counts(tc);
    gc_collect("api");
}

EXPORT int cowgc_get_stats(struct cowgc_stats *st, size_t size)
{
    struct cowgc_stats full;
    cowgc_ensure_init();
    stats_fill(&full);
    if (size > sizeof full) size = sizeof full;
    __builtin_memcpy(st, &full, size);
    return 0;
}

EXPORT void cowgc_disable(void) { gc_disable(); }
EXPORT void cowgc_enable(void) { gc_enable(); }

EXPORT int cowgc_add_roots(void *start, size_t len)
{
    cowgc_ensure_init();
    return roots_add((uintptr_t)start, (uintptr_t)start + len);
}

EXPORT void cowgc_remove_roots(void *start) { roots_remove((uintptr_t)start); }

EXPORT int cowgc_active(void) { return 1; }
