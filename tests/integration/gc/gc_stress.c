/* gc_stress.c -- threads build, share and drop checksummed linked structures while the collector runs.
 *
 * An unmodified program: plain malloc, never free for most lists (the collector must reclaim
 * them), explicit free for some. Every node reachable from a live list is verified. Prints its
 * seed; `gc_stress SEED [ITERS [blocksig|bigslots]]` replays one run. With "blocksig" every worker
 * blocks all signals first, as compression tools and thread pools do: the collector must still
 * stop it. With "bigslots" the shared slots lie one per 16 KiB of a 1 MiB anonymous mapping, a
 * root mapping big enough for minor collections to skip its unwritten pages (gen.c G10) while
 * the threads keep writing it.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define THREADS 4
#define SLOTS 64

struct node {
    struct node *next;
    uint64_t id;
    uint32_t n;
    uint64_t sum;
    unsigned char payload[];
};

static pthread_mutex_t slot_mu[SLOTS];
static struct node *slot_array[SLOTS];
static struct node **slot_base = slot_array;
static size_t slot_stride = 1;                 /* words between two slots */
#define SLOT(i) slot_base[(size_t)(i) * slot_stride]
static unsigned long iters = 20000;
static unsigned long long seed;
static int block_signals;

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17;
    return *s;
}

static uint64_t checksum(const struct node *x)
{
    uint64_t h = x->id * 0x9e3779b97f4a7c15ull ^ x->n;
    for (uint32_t i = 0; i < x->n; i++) h = (h ^ x->payload[i]) * 0x100000001b3ull;
    return h;
}

static struct node *build(uint64_t *r, unsigned len)
{
    struct node *head = NULL;
    for (unsigned i = 0; i < len; i++) {
        uint32_t n = (uint32_t)(rnd(r) % 200);
        struct node *x = malloc(sizeof *x + n);
        if (!x) { fprintf(stderr, "malloc failed\n"); exit(1); }
        x->next = head;
        x->id = rnd(r);
        x->n = n;
        for (uint32_t k = 0; k < n; k++) x->payload[k] = (unsigned char)rnd(r);
        x->sum = checksum(x);
        head = x;
    }
    return head;
}

static unsigned verify(const struct node *x, const char *where)
{
    unsigned count = 0;
    for (; x; x = x->next, count++)
        if (x->sum != checksum(x)) {
            fprintf(stderr, "gc_stress: checksum mismatch in %s at node %u (seed %llu)\n", where, count, seed);
            exit(1);
        }
    return count;
}

static void *worker(void *arg)
{
    if (block_signals) {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, NULL);
    }
    uint64_t r = seed * 2654435761u + (uintptr_t)arg + 1;
    struct node *mine = NULL;
    for (unsigned long i = 0; i < iters; i++) {
        unsigned op = (unsigned)(rnd(&r) % 10);
        unsigned s = (unsigned)(rnd(&r) % SLOTS);
        if (op < 4) {
            /* Publish a new list; the old one becomes garbage (or is still being read). */
            struct node *l = build(&r, 1 + (unsigned)(rnd(&r) % 60));
            pthread_mutex_lock(&slot_mu[s]);
            SLOT(s) = l;
            pthread_mutex_unlock(&slot_mu[s]);
        } else if (op < 7) {
            pthread_mutex_lock(&slot_mu[s]);
            verify(SLOT(s), "shared list");
            pthread_mutex_unlock(&slot_mu[s]);
        } else if (op < 9) {
            /* A private list: verified, then dropped or freed explicitly. */
            verify(mine, "private list");
            if (rnd(&r) & 1) {
                while (mine) { struct node *n = mine->next; free(mine); mine = n; }
            }
            mine = build(&r, 1 + (unsigned)(rnd(&r) % 30));
        } else {
            /* Take a shared list over: it lives on only through this thread's stack. */
            pthread_mutex_lock(&slot_mu[s]);
            struct node *l = SLOT(s);
            SLOT(s) = NULL;
            pthread_mutex_unlock(&slot_mu[s]);
            struct node *extra = build(&r, 5);
            verify(l, "taken list");
            verify(extra, "fresh list");
        }
    }
    verify(mine, "private list at exit");
    return NULL;
}

int main(int argc, char **argv)
{
    seed = argc > 1 ? strtoull(argv[1], NULL, 0) : (unsigned long long)time(NULL);
    if (argc > 2) iters = strtoul(argv[2], NULL, 0);
    block_signals = argc > 3 && !strcmp(argv[3], "blocksig");
    if (argc > 3 && !strcmp(argv[3], "bigslots")) {
        slot_stride = (16 << 10) / sizeof(void *);
        slot_base = mmap(NULL, SLOTS * slot_stride * sizeof(void *), PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (slot_base == MAP_FAILED) { perror("mmap"); return 2; }
    }
    printf("gc_stress: seed %llu, %lu iterations x %d threads%s\n", seed, iters, THREADS,
           block_signals ? ", workers block every signal" : slot_stride > 1 ? ", slots in a 1 MiB mapping" : "");
    fflush(stdout);
    for (int i = 0; i < SLOTS; i++) pthread_mutex_init(&slot_mu[i], NULL);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    unsigned total = 0;
    for (int i = 0; i < SLOTS; i++) total += verify(SLOT(i), "final");
    /* Under cowgc in collect mode, the run must have collected (else the test proves nothing). */
    struct st { uint64_t collections, pt, pm, m, s, rb, rbytes, ub, ubytes, lb, lblocks, roots, hpw, mallocs, frees, inuse, mapped, purged; } st = { 0 };
    int (*get)(void *, size_t) = (int (*)(void *, size_t))dlsym(RTLD_DEFAULT, "cowgc_get_stats");
    const char *mode = getenv("COWGC_MODE");
    if (get) {
        get(&st, sizeof st);
        printf("gc_stress: %u nodes live in slots; %llu collections, %llu blocks reclaimed\n", total,
               (unsigned long long)st.collections, (unsigned long long)st.rb);
        if ((!mode || !strcmp(mode, "collect")) && (st.collections == 0 || st.rb == 0)) {
            fprintf(stderr, "gc_stress: expected collections that reclaim blocks\n");
            return 1;
        }
    }
    printf("gc_stress: ok\n");
    return 0;
}
