/* stress.c -- randomised malloc-family stress test, an ordinary program (plain libc API).
 *
 * usage: stress [SEED [OPS_PER_THREAD [THREADS]]]   (defaults: time-based seed, 60000, 4)
 *
 * Each thread keeps a table of live blocks and does random malloc / calloc / realloc / memalign /
 * posix_memalign / aligned_alloc / valloc / free. Every block is filled with a pattern derived
 * from a per-block key and re-checked before it is freed or realloc'd; alignment,
 * malloc_usable_size >= requested (and the extra bytes being writable), calloc zeroing and
 * realloc keeping contents are checked. 3% of operations drop a block without freeing it: garbage
 * that a collector must reclaim (and the libc allocator leaks, boundedly). Threads also trade blocks through a shared exchange, so
 * many frees happen on a thread other than the allocating one. Block tables live in the heap
 * themselves, so a collector must trace through them.
 *
 * Prints the seed and per-thread op counts (deterministic for a given seed); errors go to stderr
 * and make the exit status 1.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgt.h"

#define SLOTS 1024
#define XSLOTS 64

struct blk { unsigned char *p; size_t size; uint32_t key; uint32_t zero; };

struct thr {
    int id;
    uint64_t rng;
    long ops;
    long counts[10];
    struct blk *tab;      /* SLOTS entries, heap-allocated */
};

static struct blk xch[XSLOTS];
static pthread_mutex_t xch_mu = PTHREAD_MUTEX_INITIALIZER;
static long ops_per_thread = 60000;
static int errors;
static pthread_mutex_t err_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *opname[10] = { "malloc", "calloc", "realloc", "memalign", "posix_memalign",
                                  "aligned_alloc", "valloc", "free", "exchange", "drop" };

static void err(struct thr *t, const char *fmt, const void *p, size_t a, size_t b)
{
    pthread_mutex_lock(&err_mu);
    if (errors++ < 30) {
        fprintf(stderr, "stress: thread %d op %ld: ", t->id, t->ops);
        fprintf(stderr, fmt, p, a, b);
        fputc('\n', stderr);
    }
    pthread_mutex_unlock(&err_mu);
}

static uint64_t next(uint64_t *s)
{   /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline unsigned char pat(uint32_t key, size_t i) { return (unsigned char)(key + i * 131 + (i >> 9)); }

/* Blocks up to 64 KiB are filled and checked entirely; larger ones in their first and last
 * 4 KiB and at every 512th byte in between, to bound the time. */
#define FULL_MAX 65536
#define EDGE 4096
#define STEP 512

static void fill(struct blk *b)
{
    size_t n = b->size;
    if (n <= FULL_MAX) {
        for (size_t i = 0; i < n; i++) b->p[i] = pat(b->key, i);
        return;
    }
    for (size_t i = 0; i < EDGE; i++) b->p[i] = pat(b->key, i);
    for (size_t i = EDGE; i < n - EDGE; i += STEP) b->p[i] = pat(b->key, i);
    for (size_t i = n - EDGE; i < n; i++) b->p[i] = pat(b->key, i);
}

static int bad_byte(struct thr *t, const struct blk *b, size_t i, const char *when)
{
    err(t, "block %p size %zu: byte %zu corrupted", b->p, b->size, i);
    fprintf(stderr, "stress:   (found %02x, want %02x, %s)\n", b->p[i], pat(b->key, i), when);
    return 0;
}

/* Checks the pattern b->size was filled with, in [0, upto). */
static int verify(struct thr *t, const struct blk *b, size_t upto, const char *when)
{
    size_t n = b->size;
    if (n <= FULL_MAX) {
        for (size_t i = 0; i < upto; i++)
            if (b->p[i] != pat(b->key, i)) return bad_byte(t, b, i, when);
        return 1;
    }
    for (size_t i = 0; i < EDGE && i < upto; i++)
        if (b->p[i] != pat(b->key, i)) return bad_byte(t, b, i, when);
    for (size_t i = EDGE; i < n - EDGE && i < upto; i += STEP)
        if (b->p[i] != pat(b->key, i)) return bad_byte(t, b, i, when);
    for (size_t i = n - EDGE; i < n && i < upto; i++)
        if (b->p[i] != pat(b->key, i)) return bad_byte(t, b, i, when);
    return 1;
}

static size_t pick_size(uint64_t r)
{
    unsigned c = r % 1000;
    r >>= 10;
    if (c < 5) return 65536 + r % (2u << 20);       /* 0.5%: large, up to 2 MiB */
    if (c < 130) return 257 + r % 16384;            /* 12.5%: medium */
    if (c < 140) return 0;                          /* 1%: zero-sized */
    return 1 + r % 256;                             /* small */
}

static size_t pick_align(uint64_t r)
{
    unsigned lg = 3 + r % 14;                        /* 8 .. 64 KiB; sometimes 1 MiB */
    if (r % 97 == 0) lg = 20;
    return (size_t)1 << lg;
}

/* What malloc must guarantee for an object of this size: max_align_t (16 on x86-64), or less
 * when no object that small can need it (allocators such as jemalloc give 8 for 8 bytes). */
static size_t fundamental_align(size_t size)
{
    size_t a = 1;
    while (a < 16 && a * 2 <= size) a *= 2;
    return a;
}

static void check_new(struct thr *t, struct blk *b, size_t align, int zeroed, const char *what)
{
    if (!b->p) {
        if (b->size == 0 && strcmp(what, "malloc") != 0) return;  /* tolerated for sizes 0 */
        err(t, "%p: %s(%zu) returned NULL", NULL, b->size, 0);
        return;
    }
    if (((uintptr_t)b->p & (align - 1)) != 0)
        err(t, "%p: misaligned, want alignment %zu (size %zu)", b->p, align, b->size);
    size_t us = malloc_usable_size(b->p);
    if (us < b->size) err(t, "%p: malloc_usable_size %zu < requested %zu", b->p, us, b->size);
    if (zeroed) {
        for (size_t i = 0; i < b->size; i++)
            if (b->p[i] != 0) { err(t, "%p: calloc memory not zero at byte %zu of %zu", b->p, i, b->size); break; }
    }
    /* The usable tail must be writable; only a few bytes to stay fast. */
    if (us > b->size && us - b->size < (1u << 20)) {
        b->p[us - 1] = 0xa5;
        b->p[b->size] = 0x5a;
    }
    b->zero = 0;
    fill(b);
}

static void release(struct thr *t, struct blk *b)
{
    if (!b->p) return;
    verify(t, b, b->size, "before free");
    int e = errno = 1234;
    free(b->p);
    if (errno != e) err(t, "%p: free changed errno to %zu (size %zu)", b->p, (size_t)errno, b->size);
    b->p = NULL;
    b->size = 0;
}

static void *run(void *arg)
{
    struct thr *t = arg;
    t->tab = calloc(SLOTS, sizeof *t->tab);
    if (!t->tab) { err(t, "%p: calloc(table) failed %zu %zu", NULL, 0, 0); return NULL; }
    for (t->ops = 0; t->ops < ops_per_thread; t->ops++) {
        uint64_t r = next(&t->rng);
        struct blk *b = &t->tab[(r >> 8) % SLOTS];
        unsigned op = r % 100;
        uint64_t r2 = next(&t->rng);
        uint32_t key = (uint32_t)(r2 >> 32);
        if (op < 30) {                                       /* malloc */
            release(t, b);
            b->size = pick_size(r2); b->key = key;
            b->p = malloc(b->size);
            check_new(t, b, fundamental_align(b->size), 0, "malloc");
            t->counts[0]++;
        } else if (op < 40) {                                /* calloc */
            release(t, b);
            size_t n = 1 + r2 % 64, sz = pick_size(r2 >> 8) / 64 + 1;
            b->size = n * sz; b->key = key;
            b->p = calloc(n, sz);
            check_new(t, b, fundamental_align(b->size), 1, "calloc");
            t->counts[1]++;
        } else if (op < 58) {                                /* realloc */
            if (b->p) verify(t, b, b->size, "before realloc");
            size_t ns = pick_size(r2);
            if (ns == 0) ns = 1;      /* realloc(p, 0) semantics differ between allocators */
            unsigned char *np = realloc(b->p, ns);
            if (!np) { err(t, "%p: realloc to %zu returned NULL (old size %zu)", b->p, ns, b->size); continue; }
            size_t keep = b->size < ns ? b->size : ns;
            if (b->p) {
                /* the kept prefix, checked with the old block's layout */
                struct blk old = { np, b->size, b->key, 0 };
                verify(t, &old, keep, "after realloc");
            }
            if (((uintptr_t)np & (fundamental_align(ns) - 1)) != 0)
                err(t, "%p: realloc result misaligned, want %zu (size %zu)", np, fundamental_align(ns), ns);
            if (malloc_usable_size(np) < ns) err(t, "%p: usable size %zu < %zu after realloc", np, malloc_usable_size(np), ns);
            b->p = np; b->size = ns; b->key = key;
            fill(b);
            t->counts[2]++;
        } else if (op < 63) {                                /* memalign */
            release(t, b);
            size_t al = pick_align(r2);
            b->size = pick_size(r2 >> 20); b->key = key;
            b->p = memalign(al, b->size);
            check_new(t, b, al, 0, "memalign");
            t->counts[3]++;
        } else if (op < 68) {                                /* posix_memalign */
            release(t, b);
            size_t al = pick_align(r2);
            b->size = pick_size(r2 >> 20); b->key = key;
            void *p = NULL;
            int rc = posix_memalign(&p, al, b->size);
            if (rc != 0) { err(t, "%p: posix_memalign(%zu, %zu) failed", NULL, al, b->size); b->p = NULL; b->size = 0; continue; }
            b->p = p;
            check_new(t, b, al, 0, "posix_memalign");
            t->counts[4]++;
        } else if (op < 72) {                                /* aligned_alloc: size multiple of align */
            release(t, b);
            size_t al = pick_align(r2);
            if (al > 4096) al = 4096;
            size_t sz = pick_size(r2 >> 20);
            b->size = (sz + al - 1) / al * al; b->key = key;
            b->p = aligned_alloc(al, b->size);
            check_new(t, b, al, 0, "aligned_alloc");
            t->counts[5]++;
        } else if (op < 73) {                                /* valloc */
            release(t, b);
            b->size = pick_size(r2); b->key = key;
            b->p = valloc(b->size);
            check_new(t, b, (size_t)sysconf(_SC_PAGESIZE), 0, "valloc");
            t->counts[6]++;
        } else if (op < 90) {                                /* free */
            release(t, b);
            t->counts[7]++;
        } else if (op < 93) {                                /* drop: garbage for a collector */
            if (b->p) verify(t, b, b->size, "before drop");
            b->p = NULL;
            b->size = 0;
            t->counts[9]++;
        } else {                                             /* trade with other threads */
            struct blk *x = &xch[r2 % XSLOTS];
            pthread_mutex_lock(&xch_mu);
            struct blk tmp = *x; *x = *b; *b = tmp;
            pthread_mutex_unlock(&xch_mu);
            if (b->p) verify(t, b, b->size, "after exchange");
            t->counts[8]++;
        }
    }
    for (int i = 0; i < SLOTS; i++) release(t, &t->tab[i]);
    free(t->tab);
    t->tab = NULL;
    return NULL;
}

int main(int argc, char **argv)
{
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
    if (argc > 2) ops_per_thread = strtol(argv[2], NULL, 0);
    int nthreads = argc > 3 ? atoi(argv[3]) : 4;
    if (nthreads < 1 || nthreads > 64) nthreads = 4;
    printf("stress: seed %llu, %d threads x %ld ops (rerun: stress %llu %ld %d)\n",
           (unsigned long long)seed, nthreads, ops_per_thread, (unsigned long long)seed,
           ops_per_thread, nthreads);
    fflush(stdout);
    if (cgt_check_loaded("stress")) return 3;
    struct thr *ts = calloc((size_t)nthreads, sizeof *ts);
    pthread_t *th = calloc((size_t)nthreads, sizeof *th);
    for (int i = 0; i < nthreads; i++) {
        ts[i].id = i;
        ts[i].rng = seed * 1000003u + (uint64_t)i;
        if (pthread_create(&th[i], NULL, run, &ts[i])) { perror("pthread_create"); return 1; }
    }
    for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
    struct thr dummy = { .id = -1 };
    for (int i = 0; i < XSLOTS; i++) release(&dummy, &xch[i]);
    for (int i = 0; i < nthreads; i++) {
        printf("thread %d:", i);
        for (int k = 0; k < 10; k++) printf(" %s %ld", opname[k], ts[i].counts[k]);
        printf("\n");
    }
    free(ts);
    free(th);
    int gc_bad = cgt_expect_collections("stress", 1);
    printf("stress: %s\n", errors ? "FAILED" : "ok");
    if (errors) fprintf(stderr, "stress: %d errors (seed %llu)\n", errors, (unsigned long long)seed);
    return errors || gc_bad ? 1 : 0;
}
