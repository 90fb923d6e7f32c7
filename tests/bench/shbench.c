/* shbench.c -- sh6bench/sh8bench-like: each thread allocates a batch of blocks whose sizes
 * sweep a range, frees every other one itself (newest first), and passes the rest as one batch
 * to the next thread, which frees the whole batch at once: cross-thread frees in batches.
 *
 *   shbench THREADS ITERS_PER_THREAD [BATCH [MINSZ [MAXSZ]]]
 */
#include <pthread.h>
#include "bench_common.h"

struct handoff {          /* one pending batch per receiving thread */
    pthread_mutex_t lock;
    unsigned char **items;
    long n;
    int full;
};

static struct handoff *hand;
static int nthreads;
static long iters, batch;
static size_t minsz, maxsz;

struct targ { int id; unsigned long long errors, checksum; };

static int check(unsigned char *b, unsigned long long *sum)
{
    size_t n;
    memcpy(&n, b + 8, sizeof n);
    *sum += n;
    return n >= minsz && n <= maxsz && block_ok(b, n);
}

static long take(struct handoff *h, unsigned char **into)
{
    long n = 0;
    pthread_mutex_lock(&h->lock);
    if (h->full) {
        n = h->n;
        memcpy(into, h->items, (size_t)n * sizeof *into);
        h->full = 0;
    }
    pthread_mutex_unlock(&h->lock);
    return n;
}

static void *worker(void *a)
{
    struct targ *t = a;
    unsigned char **mine = calloc((size_t)batch, sizeof *mine);
    unsigned char **got = calloc((size_t)batch, sizeof *got);
    struct handoff *out = &hand[(t->id + 1) % nthreads], *in = &hand[t->id];
    unsigned long long errs = 0, sum = 0;
    size_t n = minsz;
    for (long it = 0; it < iters; it++) {
        for (long i = 0; i < batch; i++) {
            mine[i] = xmalloc(n);
            block_stamp(mine[i], n);
            memcpy(mine[i] + 8, &n, sizeof n);
            n = n + 7 > maxsz ? minsz : n + 7;
        }
        for (long i = batch - 1; i >= 0; i -= 2) {
            if (!check(mine[i], &sum)) errs++;
            free(mine[i]);
        }
        /* pass the even ones on as one batch; a receiver that stopped taking (it finished)
         * leaves its box full, and then we free them ourselves */
        pthread_mutex_lock(&out->lock);
        int passed = !out->full;
        if (passed) {
            out->n = 0;
            for (long i = 0; i < batch; i += 2) out->items[out->n++] = mine[i];
            out->full = 1;
        }
        pthread_mutex_unlock(&out->lock);
        if (!passed)
            for (long i = 0; i < batch; i += 2) { if (!check(mine[i], &sum)) errs++; free(mine[i]); }
        long g = take(in, got);
        for (long i = 0; i < g; i++) { if (!check(got[i], &sum)) errs++; free(got[i]); }
    }
    t->errors = errs;
    t->checksum = sum;
    free(mine);
    free(got);
    return NULL;
}

int main(int argc, char **argv)
{
    nthreads = (int)arg_long(argc, argv, 1, 4);
    iters = arg_long(argc, argv, 2, 2000);
    batch = arg_long(argc, argv, 3, 2000);
    minsz = (size_t)arg_long(argc, argv, 4, 16);
    maxsz = (size_t)arg_long(argc, argv, 5, 1000);
    if (nthreads < 2 || nthreads > 256 || iters < 1 || batch < 2 || minsz < 16 || maxsz < minsz) {
        fprintf(stderr, "usage: shbench THREADS>=2 ITERS [BATCH [MINSZ>=16 [MAXSZ]]]\n");
        return 2;
    }
    hand = calloc((size_t)nthreads, sizeof *hand);
    for (int i = 0; i < nthreads; i++) {
        pthread_mutex_init(&hand[i].lock, NULL);
        hand[i].items = calloc((size_t)batch, sizeof(unsigned char *));
    }
    struct targ *ta = calloc((size_t)nthreads, sizeof *ta);
    pthread_t *tid = calloc((size_t)nthreads, sizeof *tid);
    double t0 = now_sec();
    for (int i = 0; i < nthreads; i++) {
        ta[i].id = i;
        if (pthread_create(&tid[i], NULL, worker, &ta[i]) != 0) { perror("pthread_create"); return 3; }
    }
    for (int i = 0; i < nthreads; i++) pthread_join(tid[i], NULL);
    unsigned long long errs = 0, sum = 0;
    unsigned char **got = calloc((size_t)batch, sizeof *got);
    for (int i = 0; i < nthreads; i++) {
        errs += ta[i].errors;
        sum += ta[i].checksum;
        long g = take(&hand[i], got);
        for (long k = 0; k < g; k++) { if (!check(got[k], &sum)) errs++; free(got[k]); }
        free(hand[i].items);
    }
    double secs = now_sec() - t0;
    report("shbench", secs, (unsigned long long)nthreads * iters * batch, errs, sum);
    free(got);
    free(ta);
    free(tid);
    free(hand);
    return errs ? 1 : 0;
}
