/* large.c -- large blocks: keep a window of live blocks of 64 KiB .. 4 MiB (log-uniform
 * sizes), replace a random one per step; every new block is touched once per page (and
 * fully, for the first 64 KiB) as a program reading a file into it would.
 *
 *   large ITERS [WINDOW [MINSZ [MAXSZ]]]
 */
#include <math.h>
#include "bench_common.h"

struct slot { unsigned char *p; size_t n; };

static size_t logsize(uint64_t *s, size_t lo, size_t hi)
{
    double u = (double)(rng_next(s) >> 11) / 9007199254740992.0;
    double v = exp(log((double)lo) + u * (log((double)hi) - log((double)lo)));
    size_t n = (size_t)v;
    return n < lo ? lo : n > hi ? hi : n;
}

static void touch(unsigned char *p, size_t n)
{
    size_t head = n < 65536 ? n : 65536;
    memset(p, 0x5a, head);
    for (size_t k = head; k < n; k += 4096)
        p[k] = (unsigned char)k;
    block_stamp(p, n);
}

int main(int argc, char **argv)
{
    long iters = arg_long(argc, argv, 1, 20000);
    long window = arg_long(argc, argv, 2, 16);
    size_t lo = (size_t)arg_long(argc, argv, 3, 64 << 10);
    size_t hi = (size_t)arg_long(argc, argv, 4, 4 << 20);
    if (iters < 0 || window < 1 || lo < 16 || hi < lo) {
        fprintf(stderr, "usage: large ITERS [WINDOW [MINSZ [MAXSZ]]]\n");
        return 2;
    }
    struct slot *w = calloc((size_t)window, sizeof *w);
    uint64_t s = rng_seed(5000);
    unsigned long long errs = 0, sum = 0;
    double t0 = now_sec();
    for (long i = 0; i < window; i++) {
        w[i].n = logsize(&s, lo, hi);
        w[i].p = xmalloc(w[i].n);
        touch(w[i].p, w[i].n);
    }
    for (long i = 0; i < iters; i++) {
        long k = (long)(rng_next(&s) % (uint64_t)window);
        if (!block_ok(w[k].p, w[k].n))
            errs++;
        sum += w[k].n;
        free(w[k].p);
        w[k].n = logsize(&s, lo, hi);
        w[k].p = xmalloc(w[k].n);
        touch(w[k].p, w[k].n);
    }
    for (long i = 0; i < window; i++) {
        if (!block_ok(w[i].p, w[i].n))
            errs++;
        free(w[i].p);
    }
    double secs = now_sec() - t0;
    report("large", secs, (unsigned long long)iters, errs, sum);
    free(w);
    return errs ? 1 : 0;
}
