/* realloc_grow.c -- realloc growth: BUFS buffers are grown together, round-robin, by random
 * steps until each reaches ~TARGET bytes (1 MiB by default), then freed and restarted. Each
 * step writes the new tail; content is verified at the end of every growth run.
 *
 *   realloc_grow BUFS RUNS [TARGET [MAXSTEP]]
 * RUNS is the number of complete growths per buffer.
 */
#include "bench_common.h"

struct buf { unsigned char *p; size_t n; };

static inline unsigned char byte_at(size_t i, int b) { return (unsigned char)(i * 131u + (unsigned)b * 7u); }

int main(int argc, char **argv)
{
    int bufs = (int)arg_long(argc, argv, 1, 16);
    long runs = arg_long(argc, argv, 2, 20);
    size_t target = (size_t)arg_long(argc, argv, 3, 1 << 20);
    size_t maxstep = (size_t)arg_long(argc, argv, 4, 8192);
    if (bufs < 1 || runs < 0 || target < 64 || maxstep < 1) {
        fprintf(stderr, "usage: realloc_grow BUFS RUNS [TARGET [MAXSTEP]]\n");
        return 2;
    }
    struct buf *b = calloc((size_t)bufs, sizeof *b);
    uint64_t s = rng_seed(4000);
    unsigned long long errs = 0, sum = 0, ops = 0;
    double t0 = now_sec();
    for (long r = 0; r < runs; r++) {
        int growing = bufs;
        for (int i = 0; i < bufs; i++)
            b[i] = (struct buf){ NULL, 0 };
        while (growing) {
            growing = 0;
            for (int i = 0; i < bufs; i++) {
                if (b[i].n >= target)
                    continue;
                growing++;
                size_t n = b[i].n + rng_range(&s, 1, maxstep);
                unsigned char *p = realloc(b[i].p, n);
                if (!p) {
                    fprintf(stderr, "realloc(%zu) failed\n", n);
                    return 3;
                }
                /* spot-check the old content survived the move */
                if (b[i].n && (p[b[i].n - 1] != byte_at(b[i].n - 1, i) || p[0] != byte_at(0, i)))
                    errs++;
                for (size_t k = b[i].n; k < n; k++)
                    p[k] = byte_at(k, i);
                b[i].p = p;
                b[i].n = n;
                ops++;
            }
        }
        for (int i = 0; i < bufs; i++) {
            for (size_t k = 0; k < b[i].n; k += 4093)
                if (b[i].p[k] != byte_at(k, i))
                    errs++;
            sum += b[i].n;
            free(b[i].p);
        }
    }
    double secs = now_sec() - t0;
    report("realloc", secs, ops, errs, sum);
    free(b);
    return errs ? 1 : 0;
}
