/* churn.c -- drops many blocks from churn_site so collect mode reclaims them; keeps one list alive. */
#include <stdlib.h>
#include <string.h>

static void *volatile sink;
static void **kept;

__attribute__((noinline)) static void churn_site(void) { sink = memset(malloc(60), 0, 60); }
__attribute__((noinline)) static void kept_site(void)
{
    void **n = malloc(32);
    n[0] = kept;
    kept = n;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 200000;
    for (int i = 0; i < rounds; i++) {
        churn_site();
        if (i % 1000 == 0) kept_site();
    }
    sink = NULL;
    return 0;
}
