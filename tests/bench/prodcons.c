/* prodcons.c -- producer/consumer: producers malloc blocks and pass them through a bounded
 * single-producer/single-consumer ring to a consumer thread that checks and frees them, so
 * every free is a cross-thread free.
 *
 *   prodcons PAIRS BLOCKS_PER_PAIR [MINSZ [MAXSZ [RING]]]
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include "bench_common.h"

struct ring {
    _Alignas(64) _Atomic size_t head;   /* next slot the producer writes */
    _Alignas(64) _Atomic size_t tail;   /* next slot the consumer reads */
    _Alignas(64) size_t cap;
    void **slot;
};

struct pair {
    int id;
    long blocks;
    size_t minsz, maxsz;
    struct ring r;
    unsigned long long errors, checksum;
};

static void *producer(void *a)
{
    struct pair *p = a;
    uint64_t s = rng_seed(2000 + p->id);
    size_t cap = p->r.cap, tail_seen = 0;
    for (long i = 0; i < p->blocks; i++) {
        size_t n = rng_range(&s, p->minsz, p->maxsz);
        unsigned char *b = xmalloc(n);
        block_stamp(b, n);
        memcpy(b + 8, &n, sizeof n);        /* the consumer learns the size from the block */
        size_t h = (size_t)i;
        int spins = 0;
        while (h - tail_seen >= cap) {   /* full: look at the consumer's index again */
            tail_seen = atomic_load_explicit(&p->r.tail, memory_order_acquire);
            if (h - tail_seen >= cap && ++spins > 64) { sched_yield(); spins = 0; }
        }
        p->r.slot[h % cap] = b;
        atomic_store_explicit(&p->r.head, h + 1, memory_order_release);
    }
    return NULL;
}

static void *consumer(void *a)
{
    struct pair *p = a;
    size_t cap = p->r.cap;
    unsigned long long errs = 0, sum = 0;
    size_t head_seen = 0;
    for (long i = 0; i < p->blocks; i++) {
        size_t t = (size_t)i;
        int spins = 0;
        while (head_seen == t) {         /* empty: look at the producer's index again */
            head_seen = atomic_load_explicit(&p->r.head, memory_order_acquire);
            if (head_seen == t && ++spins > 64) { sched_yield(); spins = 0; }
        }
        unsigned char *b = p->r.slot[t % cap];
        atomic_store_explicit(&p->r.tail, t + 1, memory_order_release);
        size_t n;
        memcpy(&n, b + 8, sizeof n);
        if (n < p->minsz || n > p->maxsz || !block_ok(b, n))
            errs++;
        sum += n;
        free(b);
    }
    p->errors = errs;
    p->checksum = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    int pairs = (int)arg_long(argc, argv, 1, 1);
    long blocks = arg_long(argc, argv, 2, 4000000);
    size_t minsz = (size_t)arg_long(argc, argv, 3, 16);
    size_t maxsz = (size_t)arg_long(argc, argv, 4, 1024);
    size_t cap = (size_t)arg_long(argc, argv, 5, 4096);
    if (pairs < 1 || pairs > 64 || blocks < 0 || minsz < 16 || maxsz < minsz || cap < 1) {
        fprintf(stderr, "usage: prodcons PAIRS BLOCKS [MINSZ>=16 [MAXSZ [RING]]]\n");
        return 2;
    }
    struct pair *pp = aligned_alloc(64, sizeof *pp * (size_t)pairs);
    pthread_t *tid = calloc((size_t)pairs * 2, sizeof *tid);
    double t0 = now_sec();
    for (int i = 0; i < pairs; i++) {
        memset(&pp[i], 0, sizeof pp[i]);
        pp[i].id = i;
        pp[i].blocks = blocks;
        pp[i].minsz = minsz;
        pp[i].maxsz = maxsz;
        pp[i].r.cap = cap;
        pp[i].r.slot = calloc(cap, sizeof(void *));
        if (pthread_create(&tid[2 * i], NULL, consumer, &pp[i]) ||
            pthread_create(&tid[2 * i + 1], NULL, producer, &pp[i])) {
            perror("pthread_create");
            return 3;
        }
    }
    for (int i = 0; i < 2 * pairs; i++)
        pthread_join(tid[i], NULL);
    double secs = now_sec() - t0;
    unsigned long long errs = 0, sum = 0;
    for (int i = 0; i < pairs; i++) {
        errs += pp[i].errors;
        sum += pp[i].checksum;
        free(pp[i].r.slot);
    }
    report("prodcons", secs, (unsigned long long)pairs * blocks, errs, sum);
    free(pp);
    free(tid);
    return errs ? 1 : 0;
}
