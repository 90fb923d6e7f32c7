/* cowgc.h -- the public API of libcowgc.so, for programs that know they may run under it.
 *
 * Every function is optional: a program can look them up with dlsym(RTLD_DEFAULT, "cowgc_...")
 * or declare them weak and test for NULL, so it still runs without cowgc.
 */
#ifndef COWGC_H
#define COWGC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cowgc_stats {
    uint64_t collections;          /* completed collections */
    uint64_t pause_total_ns;       /* sum of stop-the-world pauses */
    uint64_t pause_max_ns;         /* longest pause */
    uint64_t mark_ns, sweep_ns;    /* time in marking and in sweeping */
    uint64_t reclaimed_blocks;     /* blocks the collector reclaimed, all collections */
    uint64_t reclaimed_bytes;
    uint64_t unreachable_blocks;   /* detect mode: unreachable at the last collection */
    uint64_t unreachable_bytes;
    uint64_t live_bytes;           /* reachable bytes after the last collection */
    uint64_t live_blocks;
    uint64_t roots_bytes;          /* root bytes scanned by the last collection */
    uint64_t heap_pages_written;   /* heap pages the collector wrote (0 in out-of-line mode) */
    uint64_t mallocs, frees;       /* calls, all threads */
    uint64_t in_use_bytes;         /* bytes in allocated blocks now */
    uint64_t mapped_bytes;         /* heap bytes backed by spans now */
    uint64_t purged_bytes;         /* heap bytes returned to the OS so far */
    uint64_t inherited_roots_bytes;/* COWGC_FORK_FREEZE: inherited bytes scanned as roots by the
                                      last collection (0 when the process is not frozen) */
    /* Generations (COWGC_GENERATIONAL): 0 when they are off. */
    uint64_t minor_collections;    /* collections that traced only young blocks */
    uint64_t full_collections;
    uint64_t pages_written;        /* heap pages the tracker reported written, all collections */
    uint64_t young_bytes_marked;   /* bytes traced by minor collections, all of them */
    uint64_t gc_cpu_ns;            /* CPU time of the collecting threads inside collections */
    uint64_t process_cpu_ns;       /* CPU time of the whole process so far */
    uint64_t parallel_collections; /* collections whose marking used helper threads (COWGC_MARKERS) */
    uint64_t root_bytes_skipped;   /* root mapping bytes minor collections did not scan, as unwritten
                                      since the collection before (COWGC_ROOT_PAGES), all of them */
    uint64_t recheck_collections;  /* minor collections of a forked child that traced again the blocks
                                      it had promoted (COWGC_FORK_RECHECK) */
};

/* Run a full collection now (in COWGC_MODE=off it does nothing). */
void cowgc_collect(void);
/* Fill *st (size: sizeof(struct cowgc_stats), for forward compatibility). Returns 0. */
int cowgc_get_stats(struct cowgc_stats *st, size_t size);
/* Nesting: collections wait until every disable is matched by an enable. */
void cowgc_disable(void);
void cowgc_enable(void);
/* Treat [start, start+len) as a root (memory cowgc cannot see, e.g. a file-backed shared
 * mapping). Up to 1024 ranges. Returns 0, or -1 when the table is full. */
int cowgc_add_roots(void *start, size_t len);
void cowgc_remove_roots(void *start);
/* 1 when the program runs under cowgc (for weak-symbol users: a resolved symbol says so too). */
int cowgc_active(void);

#ifdef __cplusplus
}
#endif
#endif
