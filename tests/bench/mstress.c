/* mstress.c -- mstress-like: many threads, mixed sizes, frees in random order, and blocks handed
 * between threads. Each thread keeps a table of slots; every step replaces a random slot (mostly
 * small blocks, now and then a medium or large one) and, now and then, swaps a block with a
 * shared transfer table, so it is freed later by whichever thread picks it up. Rounds end with
 * the threads freeing most of their blocks in random order and new threads taking over.
 *
 *   mstress THREADS ITERS_PER_THREAD [SLOTS [ROUNDS]]
 */
#include <pthread.h>
#include <stdatomic.h>
#include "bench_common.h"

#define TRANSFER 1024
static _Atomic(unsigned char *) transfer[TRANSFER];
static long nslots, iters;

struct targ { int id, round; unsigned long long errors, checksum; unsigned char **keep; };

/* mostly 8..128, sometimes up to 2 KiB, rarely up to 64 KiB */
static size_t pick_size(uint64_t *s)
{
    uint64_t r = rng_next(s) % 1000;
    if (r < 900) return rng_range(s, 8, 128);
    if (r < 995) return rng_range(s, 129, 2048);
    return rng_range(s, 2049, 65536);
}

static unsigned char *fresh(uint64_t *s)
{
    size_t n = pick_size(s);
    unsigned char *b = xmalloc(n < 16 ? 16 : n);
    n = n < 16 ? 16 : n;
    block_stamp(b, n);
    memcpy(b + 8, &n, sizeof n);
    return b;
}

static int check(unsigned char *b, unsigned long long *sum)
{
    size_t n;
    memcpy(&n, b + 8, sizeof n);
    *sum += n;
    return n >= 16 && n <= 65536 && block_ok(b, n);
}

static void *worker(void *a)
{
    struct targ *t = a;
    uint64_t s = rng_seed(7000 + t->id * 131 + t->round);
    unsigned char **w = t->keep;
    unsigned long long errs = 0, sum = 0;
    for (long i = 0; i < nslots; i++)
        if (!w[i]) w[i] = fresh(&s);
    for (long i = 0; i < iters; i++) {
        long k = (long)(rng_next(&s) % (uint64_t)nslots);
        if ((rng_next(&s) & 15) == 0) {          /* hand it to another thread */
            unsigned char *old = atomic_exchange(&transfer[rng_next(&s) % TRANSFER], w[k]);
            w[k] = old ? old : fresh(&s);
            continue;
        }
        if (!check(w[k], &sum)) errs++;
        free(w[k]);
        w[k] = fresh(&s);
    }
    /* free three quarters in random order; the rest lives on into the next round */
    for (long i = nslots - 1; i > 0; i--) {
        long j = (long)(rng_next(&s) % (uint64_t)(i + 1));
        unsigned char *x = w[i]; w[i] = w[j]; w[j] = x;
    }
    for (long i = 0; i < nslots * 3 / 4; i++) {
        if (!check(w[i], &sum)) errs++;
        free(w[i]);
        w[i] = NULL;
    }
    t->errors += errs;
    t->checksum += sum;
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = (int)arg_long(argc, argv, 1, 8);
    iters = arg_long(argc, argv, 2, 200000);
    nslots = arg_long(argc, argv, 3, 2000);
    int rounds = (int)arg_long(argc, argv, 4, 10);
    if (threads < 1 || threads > 256 || iters < 1 || nslots < 4 || rounds < 1) {
        fprintf(stderr, "usage: mstress THREADS ITERS [SLOTS [ROUNDS]]\n");
        return 2;
    }
    struct targ *ta = calloc((size_t)threads, sizeof *ta);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    for (int i = 0; i < threads; i++) {
        ta[i].id = i;
        ta[i].keep = calloc((size_t)nslots, sizeof(unsigned char *));
    }
    double t0 = now_sec();
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < threads; i++) {
            ta[i].round = r;
            if (pthread_create(&tid[i], NULL, worker, &ta[i]) != 0) { perror("pthread_create"); return 3; }
        }
        for (int i = 0; i < threads; i++) pthread_join(tid[i], NULL);
    }
    unsigned long long errs = 0, sum = 0;
    for (int i = 0; i < threads; i++) {
        for (long k = 0; k < nslots; k++)
            if (ta[i].keep[k]) { if (!check(ta[i].keep[k], &sum)) errs++; free(ta[i].keep[k]); }
        free(ta[i].keep);
        errs += ta[i].errors;
        sum += ta[i].checksum;
    }
    for (int k = 0; k < TRANSFER; k++) {
        unsigned char *b = atomic_load(&transfer[k]);
        if (b) { if (!check(b, &sum)) errs++; free(b); }
    }
    double secs = now_sec() - t0;
    report("mstress", secs, (unsigned long long)threads * iters * rounds, errs, sum);
    free(ta);
    free(tid);
    return errs ? 1 : 0;
}
