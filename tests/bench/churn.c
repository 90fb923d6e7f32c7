/* churn.c -- small-object churn: each thread keeps a window of live objects and replaces a
 * random one per step with a new block of random size (8..512 by default).
 *
 *   churn THREADS ITERS_PER_THREAD [WINDOW [MINSZ [MAXSZ]]]
 * THREADS=1 is the single-thread workload; 2 and 8 are the multi-thread ones (threads never
 * share blocks here: this measures per-thread fast paths and contention on shared state).
 */
#include <pthread.h>
#include "bench_common.h"

struct slot { void *p; size_t n; };
struct targ {
    int id;
    long iters, window;
    size_t minsz, maxsz;
    unsigned long long errors, checksum;
};

static void *worker(void *a)
{
    struct targ *t = a;
    uint64_t s = rng_seed(1000 + t->id);
    struct slot *w = calloc((size_t)t->window, sizeof *w);
    unsigned long long errs = 0, sum = 0;
    for (long i = 0; i < t->window; i++) {
        size_t n = rng_range(&s, t->minsz, t->maxsz);
        w[i].p = xmalloc(n);
        w[i].n = n;
        block_stamp(w[i].p, n);
    }
    for (long i = 0; i < t->iters; i++) {
        long k = (long)(rng_next(&s) % (uint64_t)t->window);
        if (!block_ok(w[k].p, w[k].n))
            errs++;
        sum += ((unsigned char *)w[k].p)[mid_of(w[k].n)];
        free(w[k].p);
        size_t n = rng_range(&s, t->minsz, t->maxsz);
        w[k].p = xmalloc(n);
        w[k].n = n;
        block_stamp(w[k].p, n);
        if (mid_of(n))
            ((unsigned char *)w[k].p)[mid_of(n)] = (unsigned char)i;
    }
    for (long i = 0; i < t->window; i++) {
        if (!block_ok(w[i].p, w[i].n))
            errs++;
        free(w[i].p);
    }
    free(w);
    t->errors = errs;
    t->checksum = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = (int)arg_long(argc, argv, 1, 1);
    long iters = arg_long(argc, argv, 2, 5000000);
    long window = arg_long(argc, argv, 3, 20000);
    size_t minsz = (size_t)arg_long(argc, argv, 4, 8);
    size_t maxsz = (size_t)arg_long(argc, argv, 5, 512);
    if (threads < 1 || threads > 256 || iters < 0 || window < 1 || minsz < 8 || maxsz < minsz) {
        fprintf(stderr, "usage: churn THREADS ITERS [WINDOW [MINSZ>=8 [MAXSZ]]]\n");
        return 2;
    }
    struct targ *ta = calloc((size_t)threads, sizeof *ta);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    double t0 = now_sec();
    for (int i = 0; i < threads; i++) {
        ta[i] = (struct targ){ .id = i, .iters = iters, .window = window, .minsz = minsz, .maxsz = maxsz };
        if (threads == 1)
            break;
        if (pthread_create(&tid[i], NULL, worker, &ta[i]) != 0) {
            perror("pthread_create");
            return 3;
        }
    }
    if (threads == 1)
        worker(&ta[0]);
    else
        for (int i = 0; i < threads; i++)
            pthread_join(tid[i], NULL);
    double secs = now_sec() - t0;
    unsigned long long errs = 0, sum = 0;
    for (int i = 0; i < threads; i++) {
        errs += ta[i].errors;
        sum += ta[i].checksum;
    }
    char name[32];
    snprintf(name, sizeof name, "churn-t%d", threads);
    report(name, secs, (unsigned long long)threads * iters, errs, sum);
    free(ta);
    free(tid);
    return errs ? 1 : 0;
}
