/* max_heap.c -- COWGC_MAX_HEAP: garbage is collected to stay under it; live data over it gets NULL/ENOMEM. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    /* 1. 2 GiB of allocations that are dropped at once: under a 64 MiB limit the collector must
     *    reclaim them (collect first, then fail) -- none may fail. */
    for (int i = 0; i < 2048; i++) {
        char *p = malloc(1 << 20);
        if (!p) { fprintf(stderr, "max_heap: garbage allocation %d failed\n", i); return 1; }
        memset(p, i, 4096);
    }
    for (int i = 0; i < 200000; i++) {
        char *p = malloc(1000);
        if (!p) { fprintf(stderr, "max_heap: small garbage allocation %d failed\n", i); return 1; }
        p[0] = 1;
    }
    /* 2. Live data beyond the limit: eventually NULL with ENOMEM, never a crash or abort. */
    static void *keep[1024];
    int got = 0;
    errno = 0;
    for (; got < 1024; got++) {
        keep[got] = malloc(1 << 20);
        if (!keep[got]) break;
        memset(keep[got], 1, 1 << 20);
    }
    if (got == 1024 || errno != ENOMEM) {
        fprintf(stderr, "max_heap: %d MiB live accepted (errno %d), expected ENOMEM under 64 MiB\n", got, errno);
        return 1;
    }
    printf("max_heap: garbage reclaimed under the limit; live data stopped at %d MiB with ENOMEM\n", got);
    /* 3. Freeing makes room again. */
    for (int i = 0; i < got; i++) free(keep[i]);
    void *again = malloc(32 << 20);
    if (!again) { fprintf(stderr, "max_heap: no room after freeing\n"); return 1; }
    printf("max_heap: ok\n");
    return 0;
}
