/* sparse_blocks.c -- a collection reads only the pages of big blocks that were ever written: the others stay unmapped (no zero-page mappings for fork() to copy), and pointers on the written ones still keep their blocks.
 *
 * 256 blocks of 256 KiB each are written on two of their 64 pages only: the first, and a
 * page in the middle holding the only pointer to a small block. After collections every small
 * block must be alive with its contents, and /proc/self/pagemap must show no more present
 * pages in the big blocks than the program wrote (before the fix a collection mapped the zero
 * page under every page it read: 64 per block).
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NBIG 256
#define BIG (256u << 10)
#define MID (100u << 10)        /* offset of the written middle page's pointer */
static char *big[NBIG];

static long present_pages(int fd, const char *p, size_t len)
{
    long n = 0;
    for (uintptr_t pg = (uintptr_t)p & ~(uintptr_t)4095; pg < (uintptr_t)p + len; pg += 4096) {
        uint64_t e;
        if (pread(fd, &e, 8, (off_t)(pg / 4096 * 8)) != 8) return -1;
        n += (e >> 63) & 1;
    }
    return n;
}

static __attribute__((noinline)) void build(void)
{
    for (int i = 0; i < NBIG; i++) {
        big[i] = malloc(BIG);
        if (!big[i]) { perror("malloc"); exit(2); }
        big[i][0] = 1;
        char *small = malloc(40);
        memset(small, 0x40 + i % 32, 40);
        memcpy(big[i] + MID, &small, sizeof small);     /* its only pointer */
    }
}

static __attribute__((noinline)) void scrub(void)
{
    volatile char buf[1 << 16];
    memset((char *)buf, 0, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");
}

static __attribute__((noinline)) void garbage(void)
{
    for (int k = 0; k < 20000; k++) {
        char *volatile g = malloc(40);
        memset(g, 0xee, 40);
    }
}

int main(void)
{
    void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    if (!collect) { puts("not running under cowgc: nothing to test"); return 0; }
    int fd = open("/proc/self/pagemap", O_RDONLY);
    if (fd < 0) { puts("no /proc/self/pagemap: skipped"); return 77; }
    build();
    scrub();
    long before = 0;
    for (int i = 0; i < NBIG; i++) before += present_pages(fd, big[i], BIG);
    for (int r = 0; r < 3; r++) { collect(); garbage(); scrub(); }
    collect();
    long after = 0;
    for (int i = 0; i < NBIG; i++) after += present_pages(fd, big[i], BIG);
    int bad = 0;
    for (int i = 0; i < NBIG; i++) {
        char *small;
        memcpy(&small, big[i] + MID, sizeof small);
        for (int k = 0; k < 40; k++)
            if (small[k] != (char)(0x40 + i % 32)) { printf("FAIL: block %d's small block was lost\n", i); bad++; break; }
    }
    if (after > before) {
        printf("FAIL: the collections mapped %ld never-written pages of the big blocks (%ld present before)\n",
               after - before, before);
        bad++;
    }
    if (bad) return 1;
    printf("ok: %d big blocks, %ld pages present before and after, every small block kept\n", NBIG, after);
    return 0;
}
