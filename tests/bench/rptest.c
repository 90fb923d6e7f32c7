/* rptest.c -- rptest-like: threads allocate batches of blocks of mixed sizes (small ones far
 * more often), keep them a while, and free them in a random order; a fraction of every batch
 * goes to the next thread through a mailbox and is freed there.
 *
 *   rptest THREADS LOOPS_PER_THREAD [BATCH [MAXSZ]]
 */
#include <pthread.h>
#include "bench_common.h"

struct mailbox {
    pthread_mutex_t lock;
    unsigned char **items;
    long n, cap;
};

static struct mailbox *boxes;
static int nthreads;
static long loops, batch;
static size_t maxsz;

struct targ { int id; unsigned long long errors, checksum; };

static size_t pick_size(uint64_t *s)
{
    /* a log-uniform size: as many blocks of 16-32 bytes as of 1-2 KiB */
    unsigned lg = (unsigned)rng_range(s, 4, 63 - (unsigned)__builtin_clzl(maxsz));
    size_t lo = (size_t)1 << lg, hi = lo * 2 - 1;
    if (hi > maxsz) hi = maxsz;
    return rng_range(s, lo, hi);
}

static int check(unsigned char *b, unsigned long long *sum)
{
    size_t n;
    memcpy(&n, b + 8, sizeof n);
    *sum += n;
    return n >= 16 && n <= maxsz && block_ok(b, n);
}

static void *worker(void *a)
{
    struct targ *t = a;
    uint64_t s = rng_seed(500 + t->id);
    unsigned char **mine = calloc((size_t)batch, sizeof *mine);
    unsigned char **got = calloc((size_t)batch, sizeof *got);
    struct mailbox *out = &boxes[(t->id + 1) % nthreads], *in = &boxes[t->id];
    unsigned long long errs = 0, sum = 0;
    for (long l = 0; l < loops; l++) {
        for (long i = 0; i < batch; i++) {
            size_t n = pick_size(&s);
            mine[i] = xmalloc(n);
            block_stamp(mine[i], n);
            memcpy(mine[i] + 8, &n, sizeof n);
        }
        for (long i = batch - 1; i > 0; i--) {   /* random order */
            long j = (long)(rng_next(&s) % (uint64_t)(i + 1));
            unsigned char *x = mine[i]; mine[i] = mine[j]; mine[j] = x;
        }
        long give = batch / 8;
        pthread_mutex_lock(&out->lock);
        for (long i = 0; i < give && out->n < out->cap; i++) { out->items[out->n++] = mine[i]; mine[i] = NULL; }
        pthread_mutex_unlock(&out->lock);
        for (long i = 0; i < batch; i++)
            if (mine[i]) { if (!check(mine[i], &sum)) errs++; free(mine[i]); }
        long ng = 0;
        pthread_mutex_lock(&in->lock);
        while (in->n > 0 && ng < batch) got[ng++] = in->items[--in->n];
        pthread_mutex_unlock(&in->lock);
        for (long i = 0; i < ng; i++) { if (!check(got[i], &sum)) errs++; free(got[i]); }
    }
    free(mine);
    free(got);
    t->errors = errs;
    t->checksum = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    nthreads = (int)arg_long(argc, argv, 1, 8);
    loops = arg_long(argc, argv, 2, 2000);
    batch = arg_long(argc, argv, 3, 1000);
    maxsz = (size_t)arg_long(argc, argv, 4, 8192);
    if (nthreads < 1 || nthreads > 256 || loops < 1 || batch < 8 || maxsz < 32) {
        fprintf(stderr, "usage: rptest THREADS LOOPS [BATCH>=8 [MAXSZ>=32]]\n");
        return 2;
    }
    boxes = calloc((size_t)nthreads, sizeof *boxes);
    for (int i = 0; i < nthreads; i++) {
        pthread_mutex_init(&boxes[i].lock, NULL);
        boxes[i].cap = batch * 4;
        boxes[i].items = calloc((size_t)boxes[i].cap, sizeof(unsigned char *));
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
    for (int i = 0; i < nthreads; i++) {
        errs += ta[i].errors;
        sum += ta[i].checksum;
        for (long k = 0; k < boxes[i].n; k++) { if (!check(boxes[i].items[k], &sum)) errs++; free(boxes[i].items[k]); }
        free(boxes[i].items);
    }
    double secs = now_sec() - t0;
    report("rptest", secs, (unsigned long long)nthreads * loops * batch, errs, sum);
    free(ta);
    free(tid);
    free(boxes);
    return errs ? 1 : 0;
}
