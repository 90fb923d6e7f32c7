/* larson.c -- larson-like server pattern: worker threads replace random slots of one shared
 * array with new blocks of random size and free what they displaced, which another thread
 * usually allocated (cross-thread frees). As in larson, workers are short-lived: the run is
 * split into rounds, and each round starts fresh threads that inherit the previous round's
 * blocks.
 *
 *   larson THREADS ITERS_PER_THREAD [SLOTS [MINSZ [MAXSZ [ROUNDS]]]]
 */
#include <pthread.h>
#include <stdatomic.h>
#include "bench_common.h"

static _Atomic(unsigned char *) *slots;
static long nslots;
static size_t minsz, maxsz;

struct targ { int id; long iters; unsigned long long errors, checksum; };

static int check(unsigned char *b, unsigned long long *sum)
{
    size_t n;
    memcpy(&n, b + 8, sizeof n);
    *sum += n;
    return n >= minsz && n <= maxsz && block_ok(b, n);
}

static unsigned char *fresh(uint64_t *s)
{
    size_t n = rng_range(s, minsz, maxsz);
    unsigned char *b = xmalloc(n);
    block_stamp(b, n);
    memcpy(b + 8, &n, sizeof n);
    return b;
}

static void *worker(void *a)
{
    struct targ *t = a;
    uint64_t s = rng_seed(3000 + t->id);
    unsigned long long errs = 0, sum = 0;
    for (long i = 0; i < t->iters; i++) {
        long k = (long)(rng_next(&s) % (uint64_t)nslots);
        unsigned char *old = atomic_exchange_explicit(&slots[k], fresh(&s), memory_order_acq_rel);
        if (old) {
            if (!check(old, &sum))
                errs++;
            free(old);
        }
    }
    t->errors = errs;
    t->checksum = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = (int)arg_long(argc, argv, 1, 4);
    long iters = arg_long(argc, argv, 2, 1000000);
    nslots = arg_long(argc, argv, 3, 20000);
    minsz = (size_t)arg_long(argc, argv, 4, 16);
    maxsz = (size_t)arg_long(argc, argv, 5, 1024);
    int rounds = (int)arg_long(argc, argv, 6, 4);
    if (threads < 1 || threads > 256 || iters < 0 || nslots < 1 || minsz < 16 || maxsz < minsz ||
        rounds < 1) {
        fprintf(stderr, "usage: larson THREADS ITERS [SLOTS [MINSZ>=16 [MAXSZ [ROUNDS]]]]\n");
        return 2;
    }
    slots = calloc((size_t)nslots, sizeof *slots);
    uint64_t s = rng_seed(42);
    double t0 = now_sec();
    for (long k = 0; k < nslots; k++)
        atomic_store(&slots[k], fresh(&s));
    struct targ *ta = calloc((size_t)threads, sizeof *ta);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    unsigned long long errs = 0, sum = 0;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < threads; i++) {
            ta[i] = (struct targ){ .id = r * threads + i, .iters = iters / rounds };
            if (pthread_create(&tid[i], NULL, worker, &ta[i]) != 0) {
                perror("pthread_create");
                return 3;
            }
        }
        for (int i = 0; i < threads; i++) {
            pthread_join(tid[i], NULL);
            errs += ta[i].errors;
            sum += ta[i].checksum;
        }
    }
    for (long k = 0; k < nslots; k++) {
        unsigned char *b = atomic_load(&slots[k]);
        if (!check(b, &sum))
            errs++;
        free(b);
    }
    double secs = now_sec() - t0;
    report("larson", secs, (unsigned long long)threads * (iters / rounds) * rounds, errs, sum);
    free(ta);
    free(tid);
    free(slots);
    return errs ? 1 : 0;
}
