/* hidden_free.c -- a block whose only pointer is hidden (XOR'd) is reclaimed; freeing it later gets one line, not a crash.
 *
 * usage: hidden_free [reuse]
 *   The block is allocated, filled, and its address kept only XOR'd in a global; collections
 *   reclaim it. With "reuse", blocks of the same size are then allocated and kept (they would
 *   take the reclaimed slot unless COWGC_QUARANTINE keeps it out of use) and must be intact
 *   after the late free. Exit 0 unless a live block was damaged.
 */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY ((uintptr_t)0x5a5a5a5a5a5a5a5aull)
#define SIZE 40
#define NREUSE 256

static uintptr_t hidden;
static char *reuse[NREUSE];

static char *volatile neighbour;

static __attribute__((noinline)) void make_hidden(void)
{
    /* A live block of the same class keeps the span: the report can name the site of a
     * reclaimed block whose span is still in use (a span freed whole has no slots any more). */
    neighbour = malloc(SIZE);
    char *p = malloc(SIZE);
    memset(p, 0x33, SIZE);
    hidden = (uintptr_t)p ^ KEY;
}

static __attribute__((noinline)) void scrub(void)
{
    volatile char buf[1 << 16];
    memset((char *)buf, 0, sizeof buf);
    /* Without this the compiler drops the memset (buf is never read again) and scrub with it. */
    __asm__ volatile("" : : "r"(buf) : "memory");
}

int main(int argc, char **argv)
{
    void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    bool with_reuse = argc > 1 && !strcmp(argv[1], "reuse");
    make_hidden();
    scrub();
    if (!collect) { puts("not running under cowgc"); return 0; }
    collect();
    collect();
    if (with_reuse)
        for (int i = 0; i < NREUSE; i++) {
            reuse[i] = malloc(SIZE);
            memset(reuse[i], 0x44, SIZE);
        }
    free((void *)(hidden ^ KEY));       /* the bug: the block was reclaimed long ago */
    int bad = 0;
    for (int i = 0; with_reuse && i < NREUSE; i++)
        for (int k = 0; k < SIZE; k++)
            if ((unsigned char)reuse[i][k] != 0x44) { bad++; break; }
    /* A block freed by mistake is handed out again: it would now be shared. */
    for (int i = 0; with_reuse && i < NREUSE; i++) {
        char *q = malloc(SIZE);
        for (int j = 0; j < NREUSE; j++)
            if (q == reuse[j]) { printf("FAIL: live block %p handed out again\n", (void *)q); bad++; }
        memset(q, 0x55, SIZE);
    }
    if (bad) { printf("FAIL: %d live blocks damaged\n", bad); return 1; }
    puts("ok");
    return 0;
}
