/* packed_ptrs.c -- pointers at 4-byte offsets (packed structures) keep their blocks alive.
 * Ruby holds every IO's read buffer in a packed member (rb_io_t.rbuf.ptr); a collector that
 * looks only at 8-byte offsets reclaimed it while the script was still being read. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct __attribute__((packed)) holder {
    int32_t tag;
    char *p;        /* offset 4 */
    char *q;        /* offset 12 */
};

#define BUF 8192
#define BIG (200 << 10)

static struct holder *in_heap;      /* an ordinary pointer to a block holding packed pointers */
static struct holder in_data;       /* packed pointers in .bss */
static char *big;                   /* a large block, a packed pointer straddling its 64 KiB cut */

static __attribute__((noinline)) char *filled(int c)
{
    char *b = malloc(BUF);
    memset(b, c, BUF);
    return b;
}

static __attribute__((noinline)) void setup(void)
{
    in_heap = malloc(sizeof *in_heap);
    in_heap->tag = 1;
    in_heap->p = filled('a');
    in_heap->q = filled('b');
    in_data.tag = 2;
    in_data.p = filled('c');
    in_data.q = filled('d');
    big = malloc(BIG);
    memset(big, 0, BIG);
    char *e = filled('e');
    memcpy(big + (64 << 10) - 4, &e, sizeof e);
}

/* Garbage of the buffers' size: a reclaimed buffer is soon handed out again and overwritten. */
static __attribute__((noinline)) void churn(void)
{
    for (int i = 0; i < 4000; i++) {
        char *g = malloc(BUF);
        memset(g, 'x', BUF);
        if (i % 2) free(g);
    }
}

static int check(const char *what, const char *b, int c)
{
    for (size_t i = 0; i < BUF; i++)
        if (b[i] != c) {
            fprintf(stderr, "packed_ptrs: %s overwritten at byte %zu ('%c', expected '%c'): "
                    "its block was reclaimed while reachable\n", what, i, b[i], c);
            return 1;
        }
    return 0;
}

int main(void)
{
    void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    setup();
    for (int round = 0; round < 3; round++) {
        if (collect) collect();
        churn();
    }
    char *e;
    memcpy(&e, big + (64 << 10) - 4, sizeof e);
    int bad = check("heap holder .p", in_heap->p, 'a') + check("heap holder .q", in_heap->q, 'b') +
              check("static holder .p", in_data.p, 'c') + check("static holder .q", in_data.q, 'd') +
              check("large block, pointer across 64 KiB", e, 'e');
    if (bad) return 1;
    printf("packed_ptrs: ok\n");
    return 0;
}
