/* end_pointers.c -- blocks reachable only through one-past-the-end pointers (p + n) survive collections.
 *
 * For each size, three blocks: A1, B, A2 allocated in a row. B is referenced normally; A1 and A2
 * only through p + n, stored in a global array. With n equal to the slot size, A1's end pointer
 * is B's first byte (or B's inline header) and A2's is the start of the next, probably free, slot.
 * Sizes cover exact class sizes (the case that was broken), in-between sizes, the largest small
 * class and LARGE blocks whose usable size reaches the end of their chunks. Forced collections
 * with garbage allocated in between (which would reuse reclaimed slots); then every block must
 * still be allocated (malloc_usable_size) with its contents intact, and free must be quiet.
 * Plain libc API; cowgc_collect is looked up with dlsym.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>

#define NSIZES 16
static size_t sizes[NSIZES];
static char *a1_end[NSIZES], *a2_end[NSIZES];   /* the only references: p + n */
static char *b_blk[NSIZES];                      /* a normal reference */
static int nsizes;

static __attribute__((noinline)) void make(int i, size_t n)
{
    char *a1 = malloc(n), *b = malloc(n), *a2 = malloc(n);
    if (!a1 || !b || !a2) { perror("malloc"); exit(2); }
    memset(a1, 0x40 + i, n);
    memset(b, 0x20 + i, n);
    memset(a2, 0x60 + i, n);
    a1_end[i] = a1 + n;
    a2_end[i] = a2 + n;
    b_blk[i] = b;
    sizes[i] = n;
}

/* Overwrite the dead part of the stack, so no stale copy of a block pointer stays visible. */
static __attribute__((noinline)) void scrub(void)
{
    volatile char buf[1 << 16];
    memset((char *)buf, 0, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");   /* the stores are kept: buf escapes */
}

static __attribute__((noinline)) void garbage(void)
{
    for (int round = 0; round < 4; round++)
        for (int i = 0; i < nsizes; i++)
            for (int k = 0; k < 8; k++) {
                char *g = malloc(sizes[i]);
                if (g) memset(g, 0xee, sizes[i]);   /* dropped: reclaimed by the next collection */
            }
}

static int check(const char *what, const char *p, size_t n, int byte)
{
    size_t u = malloc_usable_size((void *)p);
    if (u < n) {
        printf("FAIL: %s of %zu bytes at %p was reclaimed (usable size %zu)\n", what, n, (void *)p, u);
        return 1;
    }
    for (size_t k = 0; k < n; k++)
        if ((unsigned char)p[k] != byte) {
            printf("FAIL: %s of %zu bytes: byte %zu is 0x%02x, expected 0x%02x\n", what, n, k,
                   (unsigned char)p[k], byte);
            return 1;
        }
    return 0;
}

int main(void)
{
    void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    const char *mark = getenv("COWGC_MARK");
    size_t hdr = mark && !strcmp(mark, "inline") ? 16 : 0;
    /* Exact class sizes, sizes in between (p + n inside the slot), the largest small class,
     * and LARGE blocks that fill one and two chunks exactly. */
    const size_t want[] = { 16, 24, 32, 48, 64, 100, 128, 256, 1024, 4096, 32768,
                            65536 - hdr, 2 * 65536 - hdr, 100000 };
    nsizes = (int)(sizeof want / sizeof want[0]);
    for (int i = 0; i < nsizes; i++) make(i, want[i]);
    scrub();
    if (!collect) { puts("not running under cowgc: nothing to test"); return 0; }
    for (int c = 0; c < 3; c++) {
        collect();
        garbage();
        scrub();
    }
    collect();
    int bad = 0;
    for (int i = 0; i < nsizes; i++) {
        size_t n = sizes[i];
        bad += check("A1 (end pointer onto the next block)", a1_end[i] - n, n, 0x40 + i);
        bad += check("B (normal pointer)", b_blk[i], n, 0x20 + i);
        bad += check("A2 (end pointer onto the next slot)", a2_end[i] - n, n, 0x60 + i);
    }
    for (int i = 0; i < nsizes; i++) {
        free(a1_end[i] - sizes[i]);
        free(b_blk[i]);
        free(a2_end[i] - sizes[i]);
    }
    if (bad) { printf("%d blocks lost\n", bad); return 1; }
    printf("ok: %d sizes, 3 blocks each, survived 4 collections\n", nsizes);
    return 0;
}
