/* gen_cases.c -- generations: a young block reachable only through old memory written since the last collection survives minor collections; a forked child's minor collections copy no inherited heap page.
 *
 * usage: gen_cases CASE   (old-block, old-large, global, anon, tls, fork-shared, age,
 *                          carry-written, carry-promoted, reuse, fork-written,
 *                          fork-budget, young-pages, large-grown, global-pages, anon-pages,
 *                          fork-roots, fork-young, fork-recheck)
 * Run under libcowgc.so with a small COWGC_MIN_TRIGGER. Each case makes old data with a full
 * collection (cowgc_collect), then stores pointers to young blocks only where the case says,
 * allocates garbage until the trigger has run minor collections, and checks every young block.
 * With COWGC_GENERATIONAL=on it also requires that minor collections happened, so a run that
 * silently fell back to full collections cannot pass as a test of minor ones.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cowgc.h"

#define N 64
#define SIZE 40

static void (*collect)(void);
static int (*get_stats)(struct cowgc_stats *, size_t);
static const char *which;

static uint64_t minors(void)
{
    struct cowgc_stats st;
    memset(&st, 0, sizeof st);
    if (get_stats) get_stats(&st, sizeof st);
    return st.minor_collections;
}

static void *young(unsigned tag)
{
    unsigned char *p = malloc(SIZE);
    memset(p, (int)(tag & 0xff), SIZE);
    return p;
}

static int check(const void *p, unsigned tag, const char *where)
{
    const unsigned char *c = p;
    for (int i = 0; i < SIZE; i++)
        if (c[i] != (unsigned char)(tag & 0xff)) {
            fprintf(stderr, "gen_cases %s: young block %u held only in %s was reclaimed (byte %d is 0x%02x)\n",
                    which, tag, where, i, c[i]);
            return 1;
        }
    return 0;
}

/* Garbage of the young blocks' size class until `want` more minor collections ran (or, when
 * generations are off, the same amount of garbage). */
static void churn_minors(uint64_t want)
{
    uint64_t start = minors();
    for (int round = 0; round < 4000 && (minors() - start < want || round < 200); round++)
        for (int i = 0; i < 100; i++) {
            volatile char *g = malloc(SIZE);
            memset((char *)g, 0xEE, SIZE);
        }
}

static int require_minors(uint64_t before)
{
    const char *gen = getenv("COWGC_GENERATIONAL");
    if (gen && strcmp(gen, "on") == 0 && minors() == before) {
        fprintf(stderr, "gen_cases %s: COWGC_GENERATIONAL=on but no minor collection ran\n", which);
        return 1;
    }
    return 0;
}

/* Stores pointers to young blocks with `store`, one round per minor collection. */
static int rounds(void (*store)(unsigned i, void *p), void *(*load)(unsigned i), const char *where)
{
    int bad = 0;
    uint64_t before = minors();
    for (unsigned r = 0; r < 4; r++) {
        for (unsigned i = 0; i < N / 4; i++) {
            unsigned k = r * (N / 4) + i;
            store(k, young(k + 1));
        }
        churn_minors(1);
    }
    churn_minors(2);
    for (unsigned k = 0; k < N; k++)
        bad |= check(load(k), k + 1, where);
    return bad | require_minors(before);
}

/* ---- an old small block ---- */
static void **old_small;
static void store_small(unsigned i, void *p) { old_small[i] = p; }
static void *load_small(unsigned i) { return old_small[i]; }

static int case_old_block(void)
{
    old_small = malloc(N * sizeof(void *));
    memset(old_small, 0, N * sizeof(void *));
    collect();                                   /* old_small is old now */
    return rounds(store_small, load_small, "an old block");
}

/* ---- an old large block: the pointers land on different pages of it ---- */
static void **old_large;
static void store_large(unsigned i, void *p) { old_large[i * 512] = p; }   /* one per 4 KiB */
static void *load_large(unsigned i) { return old_large[i * 512]; }

static int case_old_large(void)
{
    old_large = calloc(N * 512, sizeof(void *));
    collect();
    return rounds(store_large, load_large, "an old large block");
}

/* ---- a global, an anonymous mapping, another thread's TLS ---- */
static void *global_keep[N];
static void store_global(unsigned i, void *p) { global_keep[i] = p; }
static void *load_global(unsigned i) { return global_keep[i]; }

static int case_global(void)
{
    collect();
    return rounds(store_global, load_global, "a global");
}

static void **anon;
static void store_anon(unsigned i, void *p) { anon[i * 512] = p; }
static void *load_anon(unsigned i) { return anon[i * 512]; }

static int case_anon(void)
{
    anon = mmap(NULL, N * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (anon == MAP_FAILED) return 2;
    collect();
    return rounds(store_anon, load_anon, "an anonymous mapping");
}

/* Root pages (gen.c G10): a big global and an anonymous mapping whose pointers sit one per
 * two pages, each page written once and then left alone while minor collections skip
 * unwritten root pages. Each block is reached the first time from a page written since the
 * collection before, then only from the carry set: without it the next minor collection frees
 * it. (A mapping just registered is not protected before the tracker's refresh, every 8th
 * collection; the rounds after it are the ones that fail without the carry set.) */
#define ROOT_STRIDE 1024                        /* words: two pages, a 512 KiB mapping */
static void *global_pages[N * ROOT_STRIDE];
static void store_global_pages(unsigned i, void *p) { global_pages[i * ROOT_STRIDE] = p; }
static void *load_global_pages(unsigned i) { return global_pages[i * ROOT_STRIDE]; }
static void **big_anon;
static void store_big_anon(unsigned i, void *p) { big_anon[i * ROOT_STRIDE] = p; }
static void *load_big_anon(unsigned i) { return big_anon[i * ROOT_STRIDE]; }

static uint64_t root_skipped(void)
{
    struct cowgc_stats st;
    memset(&st, 0, sizeof st);
    if (get_stats) get_stats(&st, sizeof st);
    return st.root_bytes_skipped;
}

/* With the pagemap-scan tracker the kernel says which root pages were written: some must have
 * been skipped, or the case did not test the skipping. */
static int require_skipped(uint64_t before)
{
    const char *gen = getenv("COWGC_GENERATIONAL"), *tr = getenv("COWGC_TRACKER");
    if (gen && strcmp(gen, "on") == 0 && !tr && root_skipped() == before) {
        fprintf(stderr, "gen_cases %s: no unwritten root page was skipped\n", which);
        return 1;
    }
    return 0;
}

/* rounds() after a full collection, and some unwritten root page skipped meanwhile. */
static int skipping_rounds(void (*store)(unsigned i, void *p), void *(*load)(unsigned i), const char *where)
{
    uint64_t before = root_skipped();
    int bad = rounds(store, load, where);
    return bad | require_skipped(before);
}

static int case_global_pages(void)
{
    collect();
    return skipping_rounds(store_global_pages, load_global_pages, "a page of a big global");
}

static int case_anon_pages(void)
{
    big_anon = mmap(NULL, N * ROOT_STRIDE * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (big_anon == MAP_FAILED) return 2;
    collect();
    return skipping_rounds(store_big_anon, load_big_anon, "a page of a big anonymous mapping");
}

/* A forked child inherits the mapping but not its registration: its first collection scans it
 * whole and registers it, the later ones skip what it did not write. */
static int case_fork_roots(void)
{
    big_anon = mmap(NULL, N * ROOT_STRIDE * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (big_anon == MAP_FAILED) return 2;
    memset(big_anon, 0, N * ROOT_STRIDE * 8);
    collect();
    pid_t pid = fork();
    if (pid < 0) return 2;
    if (pid == 0)
        _exit(skipping_rounds(store_big_anon, load_big_anon, "an inherited anonymous mapping, in a forked child"));
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

static __thread void *tls_keep[N];
static void **volatile tls_of_thread;           /* the other thread's tls_keep */
static pthread_barrier_t bar;

static void *tls_thread(void *arg)
{
    (void)arg;
    tls_of_thread = tls_keep;
    pthread_barrier_wait(&bar);                 /* main stores into our TLS and collects */
    pthread_barrier_wait(&bar);
    return NULL;
}

static void store_tls(unsigned i, void *p) { tls_of_thread[i] = p; }
static void *load_tls(unsigned i) { return tls_of_thread[i]; }

static int case_tls(void)
{
    pthread_t t;
    pthread_barrier_init(&bar, NULL, 2);
    if (pthread_create(&t, NULL, tls_thread, NULL)) return 2;
    pthread_barrier_wait(&bar);
    collect();
    int bad = rounds(store_tls, load_tls, "another thread's TLS");
    pthread_barrier_wait(&bar);
    pthread_join(t, NULL);
    return bad;
}

/* ---- ages (G6): young survivors are traced again, old-to-young pointers are not lost ---- */
static struct cowgc_stats stats_now(void)
{
    struct cowgc_stats st;
    memset(&st, 0, sizeof st);
    get_stats(&st, sizeof st);
    return st;
}

static bool gen_forced(void)
{
    const char *gen = getenv("COWGC_GENERATIONAL");
    return gen && strcmp(gen, "on") == 0;
}

/* A block held through one minor collection and dropped before the next is reclaimed by that
 * next minor collection, not kept until a full one. */
#define AGE_LARGE 8
#define AGE_SMALL 2048
static void *volatile age_large[AGE_LARGE];
static void **volatile age_list;

static __attribute__((noinline)) void age_build(void)
{
    for (int i = 0; i < AGE_LARGE; i++) {
        age_large[i] = malloc(256 << 10);
        memset(age_large[i], 0x11, 256 << 10);
    }
    for (int i = 0; i < AGE_SMALL; i++) {     /* a chain of small blocks: traced, not roots */
        void **b = malloc(48);
        memset(b, 0x22, 48);
        b[0] = age_list;
        age_list = b;
    }
}

static __attribute__((noinline)) void age_drop(void)
{
    for (int i = 0; i < AGE_LARGE; i++) age_large[i] = NULL;
    age_list = NULL;
}

static int case_age(void)
{
    collect();
    uint64_t m0 = minors();
    age_build();
    if (minors() != m0) {
        fprintf(stderr, "gen_cases age: a collection ran while the blocks were made (the young trigger is too small)\n");
        return 1;
    }
    churn_minors(1);                             /* survives one minor collection: age 1 */
    struct cowgc_stats a = stats_now();
    age_drop();
    churn_minors(1);                             /* the next minor collection */
    struct cowgc_stats b = stats_now();
    uint64_t held = (uint64_t)AGE_LARGE * (256 << 10) + (uint64_t)AGE_SMALL * 48;
    fprintf(stderr, "gen_cases age: live %llu KiB after the first minor, %llu KiB after the next (%llu KiB dropped); minor %llu, full %llu -> %llu\n",
            (unsigned long long)(a.live_bytes >> 10), (unsigned long long)(b.live_bytes >> 10),
            (unsigned long long)(held >> 10), (unsigned long long)(b.minor_collections - m0),
            (unsigned long long)a.full_collections, (unsigned long long)b.full_collections);
    if (!gen_forced() || b.minor_collections == m0) return require_minors(m0);
    if (b.full_collections != a.full_collections) {
        fprintf(stderr, "gen_cases age: a full collection ran; the case needs two minor ones\n");
        return 1;
    }
    /* Half: a stale register or stack word may still hold a block or two (conservative roots). */
    if (a.live_bytes < held || b.live_bytes + held / 2 > a.live_bytes) {
        fprintf(stderr, "gen_cases age: the dropped blocks were not reclaimed by the next minor collection\n");
        return 1;
    }
    return 0;
}

/* An old block whose page is written once: the young block it then holds survives that minor
 * collection young, and must be found by the next ones although the page is not written again.
 * The block sits amid old neighbours of its size, so its page holds old blocks only and is
 * write-protected again (a page with free slots stays writable and is rescanned anyway). */
#define FILL 64
static void **carry_fill[FILL];
static void **carry_old;

static int case_carry_written(void)
{
    for (int i = 0; i < FILL; i++) {
        carry_fill[i] = malloc(N * sizeof(void *));
        memset(carry_fill[i], 0, N * sizeof(void *));
    }
    carry_old = carry_fill[FILL / 2];
    collect();                                   /* carry_old and its neighbours are old */
    uint64_t before = minors();
    for (unsigned k = 0; k < N; k++) carry_old[k] = young(k + 1);
    churn_minors(4);                             /* page written before the 1st only */
    int bad = 0;
    for (unsigned k = 0; k < N; k++) bad |= check(carry_old[k], k + 1, "an old block written once");
    return bad | require_minors(before);
}

/* An old block freed by the program and its slot handed out again: the new block keeps the
 * old mark (it is old at once, G1) and lies on a write-protected page; what it then holds must
 * be found through the page's write. */
static void **reuse_fill[FILL];
static void **reused;

static int case_reuse(void)
{
    for (int i = 0; i < FILL; i++) {
        reuse_fill[i] = malloc(N * sizeof(void *) + 8);   /* a size class of its own here */
        memset(reuse_fill[i], 0, N * sizeof(void *) + 8);
    }
    collect();                                   /* all old; their pages protected */
    volatile uintptr_t slot = (uintptr_t)reuse_fill[FILL / 2];   /* compared after the free: an address */
    free((void *)slot);
    reuse_fill[FILL / 2] = NULL;
    reused = malloc(N * sizeof(void *) + 8);
    if ((uintptr_t)reused != slot)
        fprintf(stderr, "gen_cases reuse: the freed slot was not handed out again (%p, %p); the case checks less\n",
                (void *)slot, (void *)reused);
    uint64_t before = minors();
    for (unsigned k = 0; k < N; k++) reused[k] = young(k + 1);
    churn_minors(4);
    int bad = 0;
    for (unsigned k = 0; k < N; k++) bad |= check(reused[k], k + 1, "a block in a reused old slot");
    return bad | require_minors(before);
}

/* A block promoted by its second minor collection whose child, stored after its first, stays
 * young there: only the promoted parent holds it, and the parent's page is not written again. */
#define PARENT_SIZE 200          /* another size class than the garbage and the children */
static void **volatile parents[N];

static int case_carry_promoted(void)
{
    collect();
    uint64_t before = minors();
    for (unsigned k = 0; k < N; k++) {
        parents[k] = malloc(PARENT_SIZE);
        memset(parents[k], 0, PARENT_SIZE);
    }
    churn_minors(1);                             /* parents: age 1 */
    for (unsigned k = 0; k < N; k++) parents[k][0] = young(k + 1);
    churn_minors(1);                             /* parents promoted, children age 1 */
    churn_minors(3);                             /* the parents' pages are not written again */
    int bad = 0;
    for (unsigned k = 0; k < N; k++) bad |= check(parents[k][0], k + 1, "a block promoted by this minor collection");
    return bad | require_minors(before);
}

/* ---- a forked child's minor collections leave the inherited heap pages shared ---- */
#define OLD_BLOCKS 20000
static void *old_blocks[OLD_BLOCKS];

static size_t exclusive_pages(void)
{
    int fd = open("/proc/self/pagemap", O_RDONLY);
    if (fd < 0) return (size_t)-1;
    size_t n = 0;
    uintptr_t last = 0;
    for (int i = 0; i < OLD_BLOCKS; i++) {
        uintptr_t pg = (uintptr_t)old_blocks[i] & ~(uintptr_t)4095;
        if (pg == last) continue;
        last = pg;
        uint64_t e = 0;
        if (pread(fd, &e, 8, (off_t)(pg / 4096 * 8)) == 8 && (e >> 56 & 1)) n++;
    }
    close(fd);
    return n;
}

static int case_fork_shared(void)
{
    for (int i = 0; i < OLD_BLOCKS; i++)
        old_blocks[i] = young((unsigned)i);
    collect();                                   /* all old */
    pid_t pid = fork();
    if (pid == 0) {
        uint64_t before = minors();
        size_t ex0 = exclusive_pages();
        churn_minors(3);
        size_t ex1 = exclusive_pages();
        int bad = require_minors(before);
        for (int i = 0; i < OLD_BLOCKS; i++)
            bad |= check(old_blocks[i], (unsigned)i, "inherited old data");
        fprintf(stderr, "gen_cases fork-shared: %llu minor collections; inherited pages held privately: %zu before, %zu after\n",
                (unsigned long long)(minors() - before), ex0, ex1);
        /* A few pages may be the child's own writes (the bin's current span); none may be
         * copies made by the collector. (Full collections in inline mode write every live
         * block's header: that is the layout difference the demo measures, not checked here.) */
        const char *mark = getenv("COWGC_MARK");
        bool inline_full = mark && strcmp(mark, "inline") == 0 && minors() == before;
        if (ex1 > ex0 + 2 && !inline_full) {
            fprintf(stderr, "gen_cases fork-shared: the child's collections copied %zu inherited heap pages\n",
                    ex1 - ex0);
            bad = 1;
        }
        _exit(bad);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

/* ---- a forked child: its own writes to inherited old blocks are seen by its first minor
 * collection, and (pagemap-scan) its heap is write-protected from the fork on ---- */
struct pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
struct page_region { uint64_t start, end, categories; };
#define PAGEMAP_SCAN_IOCTL _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_WRITTEN (1ull << 1)

static void **volatile holders[N];

/* Pages of the holders that the kernel reports written (not write-protected) in this
 * process; -1 when it has no PAGEMAP_SCAN. */
static long holder_pages_written(void)
{
    int fd = open("/proc/self/pagemap", O_RDONLY);
    if (fd < 0) return -1;
    long n = 0;
    for (unsigned k = 0; k < N && n >= 0; k++) {
        uintptr_t pg = (uintptr_t)holders[k] & ~(uintptr_t)4095;
        struct page_region r[1];
        struct pm_scan_arg a = { .size = sizeof a, .start = pg, .end = pg + 4096, .vec = (uintptr_t)r,
                                 .vec_len = 1, .category_mask = PAGE_IS_WRITTEN, .return_mask = PAGE_IS_WRITTEN };
        long got = ioctl(fd, PAGEMAP_SCAN_IOCTL, &a);
        if (got < 0) n = -1;
        else n += got;
    }
    close(fd);
    return n;
}

static int case_fork_written(void)
{
    for (unsigned k = 0; k < N; k++) {
        holders[k] = malloc(PARENT_SIZE);
        memset(holders[k], 0, PARENT_SIZE);
    }
    collect();                                   /* the holders are old */
    const char *tracker = getenv("COWGC_TRACKER");
    bool want_armed = gen_forced() && !(tracker && strcmp(tracker, "soft-dirty") == 0) && holder_pages_written() >= 0;
    pid_t pid = fork();
    if (pid == 0) {
        int bad = 0;
        /* The tracker is armed by the fork itself, not by the child's first collection. */
        long w = want_armed ? holder_pages_written() : 0;
        if (w > 0) {
            fprintf(stderr, "gen_cases fork-written: %ld inherited heap pages are not write-protected in the child before its first collection\n", w);
            bad = 1;
        }
        uint64_t before = minors();
        for (unsigned k = 0; k < N; k++) holders[k][0] = young(k + 1);
        churn_minors(3);
        for (unsigned k = 0; k < N; k++) bad |= check(holders[k][0], k + 1, "an inherited old block written by the child");
        _exit(bad | require_minors(before));
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

/* ---- a forked child's young budget starts from what it inherited: blocks promoted since the
 * fork and dropped since (garbage until a full collection) do not widen its heap ----
 * Run with COWGC_FORK_GROWTH=1 COWGC_MIN_TRIGGER=1M: 8 MiB inherited, so 8 MiB of growth
 * before the first minor collection, and a full collection only once 8 MiB were promoted. */
#define BUDGET_OLD 8192                  /* 1 KiB blocks: 8 MiB, old at the fork */
#define BUDGET_PROMOTED 4096             /* 4 MiB promoted in the child, then dropped */
static void **budget_old, **budget_promoted;

/* An old LARGE block that realloc grows in place: its new chunks are part of an old block,
 * so what the program stores there must be found (G8: they are asked about too). */
static void **grown;

static int case_large_grown(void)
{
    grown = malloc(256 << 10);
    memset(grown, 0, 256 << 10);
    collect();                                   /* old, the last block of the heap */
    uintptr_t was = (uintptr_t)grown;          /* an address only: compared, never used */
    grown = realloc(grown, 4u << 20);
    if ((uintptr_t)grown != was)
        fprintf(stderr, "gen_cases large-grown: realloc moved the block (%#lx -> %p); the case checks less\n",
                (unsigned long)was, (void *)grown);
    uint64_t before = minors();
    size_t tail = (256 << 10) / sizeof(void *), step = 4096 / sizeof(void *);
    for (unsigned k = 0; k < N; k++) grown[tail + k * step] = young(k + 1);   /* new chunks only */
    churn_minors(4);
    int bad = 0;
    for (unsigned k = 0; k < N; k++) bad |= check(grown[tail + k * step], k + 1, "the grown part of an old large block");
    return bad | require_minors(before);
}

/* ---- G8: a minor collection asks the tracker only about chunks that hold old blocks ---- */
#define YP_OLD 4096
static void **yp_old[YP_OLD];

static int case_young_pages(void)
{
    for (int i = 0; i < YP_OLD; i++) {          /* 256 KiB of old data */
        yp_old[i] = malloc(64);
        memset(yp_old[i], 0, 64);
    }
    collect();
    struct cowgc_stats a = stats_now();
    churn_minors(4);                             /* young garbage in spans of its own */
    struct cowgc_stats b = stats_now();
    uint64_t n = b.minor_collections - a.minor_collections;
    uint64_t per = n ? (b.pages_written - a.pages_written) / n : 0;
    fprintf(stderr, "gen_cases young-pages: %llu minor collections, %llu pages reported written each (young budget %llu pages)\n",
            (unsigned long long)n, (unsigned long long)per, (unsigned long long)((4u << 20) / 4096));
    const char *mark = getenv("COWGC_MARK");
    bool outofline = !mark || strcmp(mark, "outofline") == 0;
    /* The young blocks fill about 1024 fresh pages per minor collection; the old data's chunks
     * and the bins' current spans are a few dozen. */
    if (gen_forced() && outofline && n && per > 256) {
        fprintf(stderr, "gen_cases young-pages: the young spans' pages were scanned for old blocks\n");
        return 1;
    }
    int bad = 0;
    for (int i = 0; i < YP_OLD; i++) {
        const unsigned char *c = (const void *)yp_old[i];
        for (int k = 0; k < 64; k++) bad |= c[k] != 0;
    }
    return bad | require_minors(a.minor_collections);
}

static int case_fork_budget(void)
{
    budget_old = malloc(BUDGET_OLD * sizeof(void *));
    for (int i = 0; i < BUDGET_OLD; i++) budget_old[i] = young((unsigned)i);
    for (int i = 0; i < BUDGET_OLD; i++) budget_old[i] = realloc(budget_old[i], 1024);
    collect();
    pid_t pid = fork();
    if (pid == 0) {
        struct cowgc_stats st = stats_now();
        uint64_t at_fork = st.in_use_bytes, before = minors(), peak = 0;
        budget_promoted = malloc(BUDGET_PROMOTED * sizeof(void *));
        for (int i = 0; i < BUDGET_PROMOTED; i++) budget_promoted[i] = calloc(1, 1024);
        /* Survive two minor collections: promoted. (Bounded: without generations there are
         * no minor collections, and the case only has to stay correct.) */
        for (uint64_t m = minors(), n = 0; minors() - m < 2 && n < 400000; n++) {
            volatile char *g = malloc(1024);
            g[0] = 1;
        }
        memset(budget_promoted, 0, BUDGET_PROMOTED * sizeof(void *));   /* old garbage now */
        for (uint64_t m = minors(), n = 0; minors() - m < 4 && n < 400000; n++) {
            volatile char *g = malloc(1024);
            g[0] = 1;
            if (n % 64 == 0) {
                st = stats_now();
                if (st.in_use_bytes > peak) peak = st.in_use_bytes;
            }
        }
        st = stats_now();
        int bad = require_minors(before);
        /* Inherited plus FORK_GROWTH (1x) of it, and slack for the per-thread counts. */
        uint64_t limit = 2 * at_fork + (2u << 20);
        fprintf(stderr, "gen_cases fork-budget: in use at the fork %llu KiB, peak %llu KiB (limit %llu KiB); %llu minor, %llu full\n",
                (unsigned long long)(at_fork >> 10), (unsigned long long)(peak >> 10), (unsigned long long)(limit >> 10),
                (unsigned long long)(minors() - before), (unsigned long long)st.full_collections);
        if (gen_forced() && st.full_collections == 0 && peak > limit) {
            fprintf(stderr, "gen_cases fork-budget: the child's heap grew past what it inherited plus its budget\n");
            bad = 1;
        }
        _exit(bad);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

/* gc.c gc_before_fork: a process about to fork with a young generation of more than 1/32 of
 * its heap (and more than MIN_TRIGGER) collects first, once, so that its children inherit it
 * old instead of each tracing it at its first collection; a smaller one forks as it is. Run
 * with COWGC_MIN_TRIGGER=256K: 32 MiB old makes the threshold 1 MiB, and the normal trigger
 * (another 32 MiB) stays out of the way. */
#define FY_OLD 32768            /* blocks of 1 KiB */
static void **volatile fy_old;       /* volatile: a write-only static would be optimised away */
static void **volatile fy_young;
static int fork_young_round(unsigned n, bool expect, bool gen)
{
    fy_young = malloc(n * sizeof(void *));
    for (unsigned i = 0; i < n; i++) {
        fy_young[i] = malloc(1024);
        memset(fy_young[i], (int)(i & 0xff), 1024);
    }
    uint64_t before = stats_now().collections;
    pid_t pid = fork();
    if (pid == 0) {
        /* The child's copy: every young block intact, whatever the parent did at the fork. */
        int bad = 0;
        for (unsigned i = 0; i < n && !bad; i++)
            if (((unsigned char *)fy_young[i])[1023] != (i & 0xff)) bad = 1;
        _exit(bad);
    }
    int st, bad = 0;
    waitpid(pid, &st, 0);
    uint64_t ran = stats_now().collections - before;
    fprintf(stderr, "gen_cases fork-young: %u KiB young over %d KiB old: %llu collection(s) at the fork\n",
            n, FY_OLD, (unsigned long long)ran);
    if (!WIFEXITED(st) || WEXITSTATUS(st)) {
        fprintf(stderr, "gen_cases fork-young: the child found a young block damaged\n");
        bad = 1;
    }
    if (gen && (ran != 0) != expect) {
        fprintf(stderr, "gen_cases fork-young: expected %s collection before the fork\n", expect ? "a" : "no");
        bad = 1;
    }
    for (unsigned i = 0; i < n && !bad; i++)
        bad |= check(fy_young[i], i & 0xff, "a young block of the forking parent");
    return bad;
}

static int case_fork_young(void)
{
    fy_old = malloc(FY_OLD * sizeof(void *));
    for (int i = 0; i < FY_OLD; i++) fy_old[i] = calloc(1, 1024);
    collect();
    /* Generations on (a tracker works) is what makes the fork collection: a full count says. */
    bool gen = stats_now().full_collections > 0;
    if (gen_forced() && !gen) fprintf(stderr, "gen_cases fork-young: generations are off here (no tracker)\n");
    int bad = fork_young_round(512, false, gen);        /* 512 KiB: below 1 MiB */
    collect();
    bad |= fork_young_round(4096, true, gen);           /* 4 MiB: above */
    return bad;
}

/* ---- G11: a forked child rechecks what it promoted: the garbage among it is freed, and the
 * blocks it promoted that only inherited old blocks hold, through pages not written since,
 * survive: stored by the child, by the parent after its last collection, and by the parent
 * before it (young and carried at the fork); and those held by a page of a big anonymous
 * mapping that minor collections skip as unwritten by then (G10: a recheck reads roots whole).
 * Run with COWGC_FORK_RECHECK=8 (chunks), COWGC_FORK_GROWTH=1 and 4 MiB inherited: no full
 * collection in the child. ---- */
#define RC_OLD 4096                      /* 1 KiB blocks: 4 MiB, old at the fork */
#define RC_GARBAGE 2048                  /* 1 KiB blocks: 2 MiB promoted in the child, then dropped */
static void **volatile rc_old;
static void **volatile rc_holders[N];
static void **volatile rc_garbage;

static int case_fork_recheck(void)
{
    void (*disable)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_disable");
    void (*enable)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_enable");
    rc_old = malloc(RC_OLD * sizeof(void *));
    for (int i = 0; i < RC_OLD; i++) rc_old[i] = calloc(1, 1024);
    for (unsigned k = 0; k < N; k++) {
        rc_holders[k] = malloc(PARENT_SIZE);
        memset(rc_holders[k], 0, PARENT_SIZE);
    }
    collect();                                   /* the holders are old */
    for (unsigned k = 0; k < N; k++) rc_holders[k][2] = young(k + 201);
    churn_minors(1);                             /* [2]: aged, their holders' pages carried */
    for (unsigned k = 0; k < N; k++) rc_holders[k][1] = young(k + 1);        /* young at the fork */
    pid_t pid = fork();
    if (pid == 0) {
        int bad = 0;
        uint64_t before = minors();
        void **roots = mmap(NULL, N * ROOT_STRIDE * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (roots == MAP_FAILED) _exit(2);
        memset(roots, 0, N * ROOT_STRIDE * 8);
        for (unsigned k = 0; k < N; k++) roots[k * ROOT_STRIDE] = young(k + 301);
        uint64_t skipped = root_skipped();
        churn_minors(12);                        /* promoted; the mapping protected (ROOT_REFRESH) */
        if (disable) disable();                 /* allocated between two collections */
        for (unsigned k = 0; k < N; k++) rc_holders[k][0] = young(k + 101);
        rc_garbage = malloc(RC_GARBAGE * sizeof(void *));
        for (int i = 0; i < RC_GARBAGE; i++) rc_garbage[i] = calloc(1, 1024);
        if (enable) enable();
        churn_minors(2);                         /* aged, then promoted by the child */
        memset((void *)rc_garbage, 0, RC_GARBAGE * sizeof(void *));   /* old garbage now */
        struct cowgc_stats a = stats_now();
        /* New promotions (half as many, kept) make the next recheck due, whenever the last ran. */
        if (disable) disable();
        rc_garbage = malloc(RC_GARBAGE / 2 * sizeof(void *));
        for (int i = 0; i < RC_GARBAGE / 2; i++) rc_garbage[i] = calloc(1, 1024);
        if (enable) enable();
        for (int n = 0; n < 100 && stats_now().recheck_collections == a.recheck_collections; n++) churn_minors(1);
        churn_minors(2);
        struct cowgc_stats b = stats_now();
        for (unsigned k = 0; k < N; k++) {
            bad |= check(rc_holders[k][0], k + 101, "an inherited old block (stored by the child), after a recheck");
            bad |= check(rc_holders[k][1], k + 1, "an inherited old block (stored in the parent), after a recheck");
            bad |= check(rc_holders[k][2], k + 201, "an inherited old block (carried at the fork), after a recheck");
            bad |= check(roots[k * ROOT_STRIDE], k + 301, "an unwritten page of a big anonymous mapping, after a recheck");
        }
        bad |= require_skipped(skipped);
        const char *mark = getenv("COWGC_MARK");
        bool outofline = !mark || strcmp(mark, "outofline") == 0;
        fprintf(stderr, "gen_cases fork-recheck: %llu recheck(s); live %llu KiB before, %llu KiB after; %llu full\n",
                (unsigned long long)(b.recheck_collections - a.recheck_collections),
                (unsigned long long)(a.live_bytes >> 10), (unsigned long long)(b.live_bytes >> 10),
                (unsigned long long)(b.full_collections - a.full_collections));
        if (gen_forced() && outofline && minors() > before && b.full_collections == a.full_collections) {
            if (b.recheck_collections == a.recheck_collections) {
                fprintf(stderr, "gen_cases fork-recheck: no minor collection rechecked the child's promoted blocks\n");
                bad = 1;
            } else if (b.live_bytes + (RC_GARBAGE / 4) * 1024 > a.live_bytes) {
                fprintf(stderr, "gen_cases fork-recheck: the promoted garbage (%d KiB) was not freed\n", RC_GARBAGE);
                bad = 1;
            }
        }
        _exit(bad | require_minors(before));
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

int main(int argc, char **argv)
{
    static const struct { const char *name; int (*fn)(void); } cases[] = {
        { "old-block", case_old_block }, { "old-large", case_old_large }, { "global", case_global },
        { "anon", case_anon }, { "tls", case_tls }, { "fork-shared", case_fork_shared },
        { "age", case_age }, { "carry-written", case_carry_written }, { "carry-promoted", case_carry_promoted },
        { "reuse", case_reuse }, { "fork-written", case_fork_written },
        { "fork-budget", case_fork_budget }, { "young-pages", case_young_pages },
        { "large-grown", case_large_grown }, { "global-pages", case_global_pages },
        { "anon-pages", case_anon_pages }, { "fork-roots", case_fork_roots },
        { "fork-young", case_fork_young }, { "fork-recheck", case_fork_recheck },
    };
    collect = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    get_stats = (int (*)(struct cowgc_stats *, size_t))dlsym(RTLD_DEFAULT, "cowgc_get_stats");
    if (!collect || !get_stats) {
        fprintf(stderr, "gen_cases: run it under libcowgc.so (LD_PRELOAD)\n");
        return 2;
    }
    which = argc > 1 ? argv[1] : "";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(which, cases[i].name) == 0) {
            int rc = cases[i].fn();
            if (rc == 0) printf("gen_cases %s: ok (%llu minor collections)\n", which, (unsigned long long)minors());
            return rc;
        }
    fprintf(stderr, "gen_cases: unknown case '%s'\n", which);
    return 2;
}
