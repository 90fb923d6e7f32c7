/* gcbench.c -- GCBench-style binary-tree workload (after Ellis, Kovac and Boehm's GCBench).
 *
 * One source, three builds:
 *   (default)        plain malloc, never frees: garbage must be reclaimed by a collector
 *                    running underneath (cowgc via LD_PRELOAD). Collector statistics come from
 *                    dlsym(RTLD_DEFAULT, "cowgc_get_stats") when present; without it the
 *                    program still runs (and simply grows).
 *   -DEXPLICIT_FREE  plain malloc with explicit free of every dead tree: a reference line
 *                    for ordinary allocators (glibc, ...).
 *   -DUSE_BOEHM      Boehm GC (libgc): GC_MALLOC / GC_MALLOC_ATOMIC, GC_INIT; statistics from
 *                    GC_set_on_collection_event and GC_get_gc_no. GCBENCH_INCREMENTAL=1 in the
 *                    environment calls GC_enable_incremental() (Boehm's generational and
 *                    incremental mode) and reports whether it took and how Boehm finds
 *                    written pages (GC_incremental_protection_needs: soft-dirty bits need no
 *                    protection, mprotect-based tracking protects the pointer heap).
 *
 *   gcbench [STRETCH_DEPTH [LONG_LIVED_DEPTH [ARRAY_SIZE [MIN_DEPTH [MAX_DEPTH]]]]]
 *   defaults: 18 16 500000 4 16 (the classic parameters)
 *
 * Every collector's pauses are also observed from the program's side, the same way for all:
 * the clock is read every 256 allocations, and the longest gap between two readings is the
 * longest stall (stall_max_ms: a collection's pause as the program feels it, including the
 * increments of an incremental collector that run inside allocation calls, plus the ~256
 * allocations' own work, a few microseconds).
 *
 * Output: human-readable lines, then one "RESULT key=value ..." line for the runner.
 * "prog_live_bytes" is the heap the program keeps reachable throughout (long-lived tree +
 * array, at the requested sizes); marking throughput is reported both against that
 * (comparable across collectors) and against the collector's own live_bytes when it has one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef USE_BOEHM
#  define GC_THREADS 1      /* declares GC_get_parallel; the Debian libgc is a threaded build */
#  include <gc/gc.h>
#  define ALLOC(n)        GC_MALLOC(n)
#  define ALLOC_ATOMIC(n) GC_MALLOC_ATOMIC(n)
#  define VARIANT "boehm"
#else
#  include <dlfcn.h>
#  include "cowgc.h"
#  define ALLOC(n)        malloc(n)
#  define ALLOC_ATOMIC(n) malloc(n)
#  ifdef EXPLICIT_FREE
#    define VARIANT "malloc-free"
#  else
#    define VARIANT "malloc-nofree"
#  endif
#endif

typedef struct Node0 {
    struct Node0 *left, *right;
    int i, j;
} Node0, *Node;

static int kStretchTreeDepth = 18, kLongLivedTreeDepth = 16, kArraySize = 500000;
static int kMinTreeDepth = 4, kMaxTreeDepth = 16;

static Node volatile sink;    /* keeps the optimizer from dropping dead trees */

/* The stall probe (see the top comment). */
static unsigned probe_count;
static double probe_last, stall_max;

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}


static void probe(void)
{
    double t = now_sec();
    if (probe_last > 0 && t - probe_last > stall_max)
        stall_max = t - probe_last;
    probe_last = t;
}

static Node new_node(Node l, Node r)
{
    if (++probe_count % 256 == 0)
        probe();
    Node n = ALLOC(sizeof(Node0));
    if (!n) {
        fprintf(stderr, "gcbench: out of memory\n");
        exit(3);
    }
    n->left = l;
    n->right = r;
    n->i = 0;
    n->j = 0;
    return n;
}

static void free_tree(Node n)
{
#ifdef EXPLICIT_FREE
    if (!n)
        return;
    free_tree(n->left);
    free_tree(n->right);
    free(n);
#else
    (void)n;
#endif
}

static int tree_size(int i) { return (1 << (i + 1)) - 1; }
static int num_iters(int i) { return 2 * tree_size(kStretchTreeDepth) / tree_size(i); }

/* Build tree top down, assigning to older objects. */
static void populate(int depth, Node n)
{
    if (depth <= 0)
        return;
    depth--;
    n->left = new_node(NULL, NULL);
    n->right = new_node(NULL, NULL);
    populate(depth, n->left);
    populate(depth, n->right);
}

/* Build tree bottom-up. */
static Node make_tree(int depth)
{
    if (depth <= 0)
        return new_node(NULL, NULL);
    return new_node(make_tree(depth - 1), make_tree(depth - 1));
}

static long count_nodes(Node n)
{
    return n ? 1 + count_nodes(n->left) + count_nodes(n->right) : 0;
}

/* ---- collector statistics ---- */

static uint64_t gcs, pause_total_ns, pause_max_ns, mark_ns, sweep_ns;
static double live_sum;          /* sum over collections of the collector's live bytes */
static uint64_t last_live;
static int have_stats;

#ifdef USE_BOEHM
static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t t_start, t_mark, t_stop, stw_total, stw_max;
static int saw_stw;

static void GC_CALLBACK on_event(GC_EventType e)
{
    uint64_t t = now_ns();
    switch (e) {
    case GC_EVENT_START: t_start = t; break;
    case GC_EVENT_MARK_START: t_mark = t; break;
    case GC_EVENT_MARK_END: mark_ns += t - t_mark; break;
    case GC_EVENT_RECLAIM_START: t_mark = t; break;
    case GC_EVENT_RECLAIM_END: sweep_ns += t - t_mark; break;
    case GC_EVENT_END: {
        uint64_t d = t - t_start;
        pause_total_ns += d;
        if (d > pause_max_ns)
            pause_max_ns = d;
        gcs++;
        break;
    }
    case GC_EVENT_PRE_STOP_WORLD: t_stop = t; break;
    case GC_EVENT_POST_START_WORLD: {
        uint64_t d = t - t_stop;
        saw_stw = 1;
        stw_total += d;
        if (d > stw_max)
            stw_max = d;
        break;
    }
    default: break;
    }
}

static int incremental;
static unsigned long gc_no_at_start;

static void stats_init(void)
{
    const char *inc = getenv("GCBENCH_INCREMENTAL");
    if (inc && *inc && strcmp(inc, "0") != 0)
        GC_enable_incremental();
    incremental = GC_is_incremental_mode();
    gc_no_at_start = GC_get_gc_no();
    GC_set_on_collection_event(on_event);
    GC_start_performance_measurement();
    have_stats = 1;
}

static void stats_sample(void) { }
static const char *phase_live(void) { return ""; }

static void stats_final(void)
{
    /* Boehm's collections are stop-the-world in this configuration: the pause is the world-
     * stopped interval when the library reports it, else START..END of the collection. */
    if (saw_stw) {
        pause_total_ns = stw_total;
        pause_max_ns = stw_max;
    }
    /* Incremental cycles finish without GC_EVENT_END: count completed collections instead. */
    if (!gcs)
        gcs = GC_get_gc_no() - gc_no_at_start;
    int prot = GC_incremental_protection_needs();
    printf("boehm: GC_get_gc_no=%lu events=%llu stw_events=%d full_gc_total_time=%lums heap=%zu "
           "markers=%d incremental=%d protection_needs=%d (%s)\n", (unsigned long)GC_get_gc_no(),
           (unsigned long long)gcs, saw_stw, (unsigned long)GC_get_full_gc_total_time(),
           GC_get_heap_size(), GC_get_parallel() + 1, incremental, prot,
           !incremental ? "not incremental" : prot == GC_PROTECTS_NONE ? "dirty bits without protection: soft-dirty"
           : "mprotect: write faults on the pointer heap");
}
static const char *extra_result(void)
{
    static char buf[64];
    snprintf(buf, sizeof buf, "incremental=%d protection_needs=%d", incremental,
             GC_incremental_protection_needs());
    return buf;
}
#else
typedef int (*get_stats_fn)(struct cowgc_stats *, size_t);
static get_stats_fn get_stats;
static uint64_t seen_collections;

static void stats_init(void)
{
    get_stats = (get_stats_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "cowgc_get_stats");
    have_stats = get_stats != NULL;
    if (have_stats) {
        struct cowgc_stats st;
        memset(&st, 0, sizeof st);
        get_stats(&st, sizeof st);
        seen_collections = st.collections;
    }
}

/* Called between phases: credit the live bytes of the last collection to every collection
 * since the previous sample (the live heap is nearly constant during this benchmark). */
static void stats_sample(void)
{
    if (!have_stats)
        return;
    struct cowgc_stats st;
    memset(&st, 0, sizeof st);
    get_stats(&st, sizeof st);
    if (st.collections > seen_collections) {
        live_sum += (double)st.live_bytes * (double)(st.collections - seen_collections);
        seen_collections = st.collections;
    }
    last_live = st.live_bytes;
    gcs = st.collections;
    pause_total_ns = st.pause_total_ns;
    pause_max_ns = st.pause_max_ns;
    mark_ns = st.mark_ns;
    sweep_ns = st.sweep_ns;
}

/* the collector's live bytes after its last collection, for the per-phase lines */
static const char *phase_live(void)
{
    static char buf[64];
    snprintf(buf, sizeof buf, ", live after last %.1f MB", last_live / 1e6);
    return buf;
}

static uint64_t minor, full, pages_written, gc_cpu_ns;

static const char *extra_result(void)
{
    static char buf[160];
    snprintf(buf, sizeof buf, "minor=%llu full=%llu pages_written=%llu gc_cpu_ms=%.3f",
             (unsigned long long)minor, (unsigned long long)full,
             (unsigned long long)pages_written, gc_cpu_ns / 1e6);
    return buf;
}

static void stats_final(void)
{
    stats_sample();
    if (have_stats) {
        struct cowgc_stats st;
        memset(&st, 0, sizeof st);
        get_stats(&st, sizeof st);
        minor = st.minor_collections;
        full = st.full_collections;
        pages_written = st.pages_written;
        gc_cpu_ns = st.gc_cpu_ns;
    }
    if (have_stats)
        printf("cowgc: collections=%llu live_bytes(last)=%llu\n", (unsigned long long)gcs,
               (unsigned long long)last_live);
    else
        printf("cowgc_get_stats not found: not running under cowgc (no collector statistics)\n");
}
#endif

static void time_construction(int depth)
{
    int iters = num_iters(depth);
    double t0 = now_sec();
    for (int i = 0; i < iters; i++) {
        Node t = new_node(NULL, NULL);
        populate(depth, t);
        sink = t;
        free_tree(t);
    }
    sink = NULL;
    double t1 = now_sec();
    for (int i = 0; i < iters; i++) {
        Node t = make_tree(depth);
        sink = t;
        free_tree(t);
    }
    sink = NULL;
    double t2 = now_sec();
    stats_sample();
    printf("  %d iterations of depth %d: top-down %.0f ms, bottom-up %.0f ms", iters, depth,
           (t1 - t0) * 1e3, (t2 - t1) * 1e3);
    if (have_stats)
        printf("  [collections %llu, max pause %.1f ms%s]", (unsigned long long)gcs,
               pause_max_ns / 1e6, phase_live());
    printf("\n");
}

int main(int argc, char **argv)
{
    if (argc > 1) kStretchTreeDepth = atoi(argv[1]);
    if (argc > 2) kLongLivedTreeDepth = atoi(argv[2]);
    if (argc > 3) kArraySize = atoi(argv[3]);
    if (argc > 4) kMinTreeDepth = atoi(argv[4]);
    if (argc > 5) kMaxTreeDepth = atoi(argv[5]);
    if (kStretchTreeDepth < 1 || kStretchTreeDepth > 28 || kLongLivedTreeDepth < 1 ||
        kLongLivedTreeDepth > 28 || kArraySize < 1001 || kMinTreeDepth < 1 ||
        kMaxTreeDepth < kMinTreeDepth || kMaxTreeDepth > kStretchTreeDepth) {
        fprintf(stderr, "usage: gcbench [STRETCH [LONGLIVED [ARRAY>1000 [MIN [MAX<=STRETCH]]]]]\n");
        return 2;
    }
#ifdef USE_BOEHM
    GC_INIT();
#endif
    stats_init();
    printf("gcbench (" VARIANT "): stretch depth %d, long-lived depth %d, array %d doubles, "
           "depths %d..%d\n", kStretchTreeDepth, kLongLivedTreeDepth, kArraySize, kMinTreeDepth,
           kMaxTreeDepth);
    double t0 = now_sec();

    /* Stretch the memory space quickly. */
    Node temp = make_tree(kStretchTreeDepth);
    sink = temp;
    free_tree(temp);
    sink = temp = NULL;
    stats_sample();

    /* A long-lived tree and array that stay live for the whole run. */
    Node long_lived = new_node(NULL, NULL);
    populate(kLongLivedTreeDepth, long_lived);
    double *array = ALLOC_ATOMIC(sizeof(double) * (size_t)kArraySize);
    if (!array)
        return 3;
    for (int i = 0; i < kArraySize / 2; i++)
        array[i] = 1.0 / (i + 1);   /* (the classic GCBench fills half of it) */
    for (int i = kArraySize / 2; i < kArraySize; i++)
        array[i] = 0.0;

    for (int d = kMinTreeDepth; d <= kMaxTreeDepth; d += 2)
        time_construction(d);

    int ok = long_lived != NULL && array[1000] == 1.0 / 1001 &&
             count_nodes(long_lived) == tree_size(kLongLivedTreeDepth);
    double secs = now_sec() - t0;
    stats_final();

    double prog_live = (double)tree_size(kLongLivedTreeDepth) * sizeof(Node0) +
                       (double)kArraySize * sizeof(double);
    double mark_s = mark_ns * 1e-9;
    double mbps_prog = mark_s > 0 ? prog_live * (double)gcs / mark_s / 1e6 : 0.0;
    double mbps_coll = mark_s > 0 && live_sum > 0 ? live_sum / mark_s / 1e6 : 0.0;
    printf("completed in %.0f ms%s\n", secs * 1e3, ok ? "" : " -- LONG-LIVED DATA CORRUPTED");
    printf("RESULT variant=%s ok=%d secs=%.6f stats=%d collections=%llu pause_total_ms=%.3f "
           "pause_max_ms=%.3f mark_ms=%.3f sweep_ms=%.3f prog_live_bytes=%.0f "
           "coll_live_bytes=%llu mark_mbps_prog=%.1f mark_mbps_coll=%.1f stall_max_ms=%.3f %s\n",
           VARIANT, ok, secs, have_stats, (unsigned long long)gcs, pause_total_ns / 1e6,
           pause_max_ns / 1e6, mark_ns / 1e6, sweep_ns / 1e6, prog_live,
           (unsigned long long)last_live, mbps_prog, mbps_coll, stall_max * 1e3, extra_result());
    free_tree(long_lived);
#ifdef EXPLICIT_FREE
    free(array);
#endif
    return ok ? 0 : 1;
}
