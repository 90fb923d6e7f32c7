/* par_mark.c -- trees, wide arrays and cross links, checked after every round, while helper threads mark.
 *
 * An unmodified program: it builds binary trees (deep and bushy: work a helper can take), arrays
 * of pointers big enough to be scanned in pieces, and links from new structures into old ones
 * whose roots it then drops, so that some blocks are reachable only through a link another
 * marker may be tracing. Every round drops structures (garbage), builds new ones, runs a
 * collection (cowgc_collect, and the trigger in between), fills the free slots of the nodes'
 * size class with other bytes, and walks everything still reachable, checking each node's key
 * against its address: a block the collector freed fails the check. A second thread keeps a tree on its own stack only.
 *
 * usage: par_mark SEED ROUNDS [expect-parallel]   (with expect-parallel, at least one
 * collection must have started helper markers, and the test fails otherwise)
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcstat.h"

#define ROOTS 48
#define WIDE 24000              /* pointers in a wide array: 187 KiB, several scan pieces */

struct node {
    struct node *kid[2];
    struct node *link;          /* into an older structure, maybe one whose root is gone */
    uint64_t key, check;
    uint32_t epoch;
};

struct wide {
    uint64_t key, check;
    uint32_t n, epoch;
    struct node *item[];
};

#define FILL 60000
static void *fill[FILL];
static void *roots[ROOTS];      /* a node or a wide array; kind in the low bit */
static uint64_t rs;
static unsigned long failures, walked;

static uint64_t rnd(void)
{
    rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
    return rs;
}

static uint64_t mix(uint64_t k, const void *at)
{
    uint64_t x = k ^ (uintptr_t)at;
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33;
    return x;
}

static struct node *any_old_node(void);

static struct node *tree(unsigned depth, uint64_t *s)
{
    struct node *n = malloc(sizeof *n);
    if (!n) { perror("malloc"); exit(2); }
    n->key = (*s += 0x9e3779b97f4a7c15ull);
    n->check = mix(n->key, n);
    n->epoch = 0;
    n->kid[0] = depth ? tree(depth - 1, s) : NULL;
    n->kid[1] = depth ? tree(depth - 1, s) : NULL;
    n->link = depth == 3 && (*s >> 60) == 0 ? any_old_node() : NULL;
    return n;
}

static struct wide *wide_array(uint64_t *s)
{
    struct wide *w = malloc(sizeof *w + WIDE * sizeof w->item[0]);
    if (!w) { perror("malloc"); exit(2); }
    w->n = WIDE;
    w->epoch = 0;
    w->key = (*s += 0x9e3779b97f4a7c15ull);
    w->check = mix(w->key, w);
    for (unsigned i = 0; i < WIDE; i++) w->item[i] = tree(i % 7 == 0 ? 2 : 0, s);
    return w;
}

static struct node *any_old_node(void)
{
    for (int tries = 0; tries < 4; tries++) {
        uintptr_t r = (uintptr_t)roots[rnd() % ROOTS];
        if (r && !(r & 1)) {
            struct node *n = (struct node *)r;
            return n->kid[rnd() & 1] ? n->kid[rnd() & 1] : n;
        }
    }
    return NULL;
}

static void walk(struct node *n, uint32_t epoch)
{
    while (n && n->epoch != epoch) {
        walked++;
        if (n->check != mix(n->key, n)) {
            if (failures++ < 5) fprintf(stderr, "par_mark: node %p lost (key %#llx, check %#llx)\n",
                                        (void *)n, (unsigned long long)n->key, (unsigned long long)n->check);
            return;
        }
        n->epoch = epoch;
        walk(n->kid[0], epoch);
        walk(n->link, epoch);
        n = n->kid[1];
    }
}

static void walk_root(void *r, uint32_t epoch)
{
    uintptr_t v = (uintptr_t)r;
    if (!v) return;
    if (!(v & 1)) { walk(r, epoch); return; }
    struct wide *w = (struct wide *)(v & ~(uintptr_t)1);
    if (w->epoch == epoch) return;
    w->epoch = epoch;
    if (w->check != mix(w->key, w)) {
        if (failures++ < 5) fprintf(stderr, "par_mark: wide array %p lost\n", (void *)w);
        return;
    }
    for (unsigned i = 0; i < w->n; i++) walk(w->item[i], epoch);
}

/* A tree held by this thread's stack alone, checked until main says stop. */
static volatile int stop;
static void *holder(void *arg)
{
    uint64_t s = (uintptr_t)arg;
    struct node *mine = tree(14, &s);
    uint32_t epoch = 1u << 30;
    while (!stop) {
        unsigned long before = failures;
        walk(mine, ++epoch);
        if (failures != before) break;
        struct timespec ts = { 0, 2000000 };
        nanosleep(&ts, NULL);
    }
    __asm__ volatile("" : : "r"(mine) : "memory");
    return NULL;
}

int main(int argc, char **argv)
{
    rs = argc > 1 ? strtoull(argv[1], NULL, 0) : 1;
    unsigned rounds = argc > 2 ? (unsigned)atoi(argv[2]) : 30;
    int expect_parallel = argc > 3 && strcmp(argv[3], "expect-parallel") == 0;
    if (!rs) rs = 1;
    printf("par_mark: seed %llu, %u rounds\n", (unsigned long long)rs, rounds);
    void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    int (*get)(struct cowgc_stats *, size_t) =
        (int (*)(struct cowgc_stats *, size_t))dlsym(RTLD_DEFAULT, "cowgc_get_stats");

    pthread_t th;
    if (pthread_create(&th, NULL, holder, (void *)(uintptr_t)(rs | 1))) { perror("pthread_create"); return 2; }
    uint64_t s = rs;
    for (unsigned r = 1; r <= rounds; r++) {
        /* Drop a third of the structures, then build new ones (some linking into the old). */
        for (unsigned i = 0; i < ROOTS; i++) {
            if (roots[i] && rnd() % 3) continue;
            roots[i] = NULL;
            switch (rnd() % 8) {
            case 0: roots[i] = (void *)((uintptr_t)wide_array(&s) | 1); break;
            case 1: case 2: roots[i] = tree(12 + (unsigned)(rnd() % 3), &s); break;
            default: roots[i] = tree(6 + (unsigned)(rnd() % 5), &s); break;
            }
        }
        if (collect && r % 3 == 0) collect();
        /* Refill freed slots of the nodes' class with other bytes: a node the collector freed
         * while it was reachable fails its check even when nothing else reused the slot. */
        for (unsigned k = 0; k < FILL; k++) {
            fill[k] = malloc(sizeof(struct node));
            if (!fill[k]) { perror("malloc"); exit(2); }
            memset(fill[k], 0xee, sizeof(struct node));
        }
        for (unsigned i = 0; i < ROOTS; i++) walk_root(roots[i], r);
        for (unsigned k = 0; k < FILL; k++) free(fill[k]);
        if (failures) break;
    }
    stop = 1;
    pthread_join(th, NULL);
    struct cowgc_stats st;
    memset(&st, 0, sizeof st);
    if (get) get(&st, sizeof st);
    printf("par_mark: %lu nodes checked, %llu collections (%llu with helpers), %llu KiB reclaimed\n", walked,
           (unsigned long long)st.collections, (unsigned long long)st.parallel_collections,
           (unsigned long long)(st.reclaimed_bytes >> 10));
    if (failures) {
        fprintf(stderr, "par_mark: FAIL: %lu blocks reachable from the program were reclaimed\n", failures);
        return 1;
    }
    if (get && st.collections == 0) {
        fprintf(stderr, "par_mark: FAIL: no collection ran\n");
        return 1;
    }
    if (expect_parallel && st.parallel_collections == 0) {
        fprintf(stderr, "par_mark: FAIL: no collection started helper markers\n");
        return 1;
    }
    if (getenv("COWGC_MODE") && strcmp(getenv("COWGC_MODE"), "collect") == 0 && st.reclaimed_bytes == 0) {
        fprintf(stderr, "par_mark: FAIL: nothing was reclaimed: the test dropped structures every round\n");
        return 1;
    }
    puts("par_mark: ok");
    return 0;
}
