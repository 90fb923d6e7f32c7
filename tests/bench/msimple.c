/* msimple.c -- after glibc's malloc-simple benchmark: blocks of one small size (16..64 bytes)
 * are allocated COUNT at a time and freed oldest-first (FIFO), newest-first (LIFO), or half and
 * half (the first half oldest-first, the rest newest-first), over several counts, on the main
 * thread or on a second thread.
 *
 *   msimple WHERE ITERS [ORDERS]     WHERE: main | thread; ITERS: blocks allocated per case
 *                                    ORDERS: fifo,lifo,mixed (default all three)
 */
#include <pthread.h>
#include "bench_common.h"

static long iters;
static const char *orders = "fifo,lifo,mixed";
static unsigned long long errs, sum, ops;

static void one_case(size_t size, long count, int order)
{
    void **b = xmalloc((size_t)count * sizeof *b);
    for (long r = 0; r < iters / count; r++) {
        for (long i = 0; i < count; i++) {
            b[i] = xmalloc(size);
            *(uint64_t *)b[i] = (uint64_t)i;
        }
        for (long k = 0; k < count; k++) {
            long i = order == 0 ? k : order == 1 ? count - 1 - k
                   : k < count / 2 ? k : count - 1 - (k - count / 2);
            if (*(uint64_t *)b[i] != (uint64_t)i) errs++;
            sum += (uintptr_t)b[i] & 0xff;
            free(b[i]);
        }
        ops += (unsigned long long)count;
    }
    free(b);
}

static void *run(void *unused)
{
    static const size_t sizes[] = { 16, 32, 64 };
    static const long counts[] = { 25, 100, 400, 1600 };
    static const char *names[] = { "fifo", "lifo", "mixed" };
    (void)unused;
    for (int o = 0; o < 3; o++) {
        if (!strstr(orders, names[o])) continue;
        for (unsigned si = 0; si < 3; si++)
            for (unsigned ci = 0; ci < 4; ci++) one_case(sizes[si], counts[ci], o);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *where = argc > 1 ? argv[1] : "main";
    iters = arg_long(argc, argv, 2, 1000000);
    if (argc > 3) orders = argv[3];
    if ((strcmp(where, "main") && strcmp(where, "thread")) || iters < 1600) {
        fprintf(stderr, "usage: msimple main|thread ITERS>=1600 [fifo,lifo,mixed]\n");
        return 2;
    }
    double t0 = now_sec();
    if (strcmp(where, "thread") == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, run, NULL) != 0) { perror("pthread_create"); return 3; }
        pthread_join(t, NULL);
    } else {
        run(NULL);
    }
    report(strcmp(where, "thread") == 0 ? "msimple-thread" : "msimple-main", now_sec() - t0, ops, errs, sum);
    return errs ? 1 : 0;
}
