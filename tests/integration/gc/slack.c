/* slack.c -- a pointer left in the unused tail of a reused slot keeps nothing alive (I9).
 *
 * Collect mode scans whole slots. Three victims, each referenced only through bytes past the
 * end of a live block, where an earlier block of the same slot (or the block itself before
 * an in-place realloc) stored its address:
 *   reuse     a 32-byte block holds the victim's address at offset 24; it is freed and the
 *             same slot comes back (this thread's most recent free) for malloc(24);
 *   shrink    a 64-byte block holds it at offset 48 and is realloc'd in place to 40 bytes;
 *   calloc    as reuse, through calloc(1, 20).
 * After collections every victim must be reclaimed (malloc_usable_size says 0, with cowgc's
 * one line each), while the blocks themselves keep their contents. Without I9 the victims
 * survive. Reachable blocks are checked too, so the test cannot pass by reclaiming all.
 */
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIDE ((uintptr_t)0x5a5a5a5a5a5a5a5aull)   /* stored XORed: not a pointer to anyone */
static uintptr_t victim[3];
static char *holder[3];                          /* the live blocks, normal references */
static const size_t victim_size[3] = { 200, 300, 400 };

static __attribute__((noinline)) void scrub(void)
{
    volatile char buf[1 << 16];
    memset((char *)buf, 0, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");
}

/* Writes v's address at byte off of a fresh block of n bytes, frees it, and returns the
 * block that takes its slot (the caller checks it is the same one). */
static __attribute__((noinline)) char *stale(size_t n, size_t off, void *v, int use_calloc, size_t want)
{
    char *p = malloc(n);
    if (!p) { perror("malloc"); exit(2); }
    memset(p, 0x11, n);
    memcpy(p + off, &v, sizeof v);
    __asm__ volatile("" : : "r"(p) : "memory");   /* the compiler may not drop stores before free */
    uintptr_t slot = (uintptr_t)p;
    free(p);
    char *q = use_calloc ? calloc(1, want) : malloc(want);
    if ((uintptr_t)q != slot) {
        printf("FAIL: the freed slot %#lx was not reused (got %p); the test needs LIFO reuse\n", (unsigned long)slot, (void *)q);
        exit(1);
    }
    memset(q, 0x22, want);
    return q;
}

static __attribute__((noinline)) void setup(void)
{
    void *v[3];
    for (int i = 0; i < 3; i++) {
        v[i] = malloc(victim_size[i]);
        memset(v[i], 0x33, victim_size[i]);
        victim[i] = (uintptr_t)v[i] ^ HIDE;
    }
    holder[0] = stale(32, 24, v[0], 0, 24);
    char *r = malloc(64);
    memset(r, 0x22, 64);
    memcpy(r + 48, &v[1], sizeof v[1]);
    char *r2 = realloc(r, 40);
    if (r2 != r) { printf("FAIL: realloc(64 -> 40) moved the block\n"); exit(1); }
    holder[1] = r2;
    holder[2] = stale(32, 24, v[2], 1, 20);
}

int main(void)
{
    void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    if (!collect) { puts("not running under cowgc: nothing to test"); return 0; }
    setup();
    scrub();
    const char *mode = getenv("COWGC_MODE");
    if (mode && !strcmp(mode, "detect")) {
        /* The exit report must list each victim as a direct leak, as LeakSanitizer does. */
        puts("detect mode: the leak report at exit names the three victims");
        return 0;
    }
    collect();
    scrub();
    collect();
    int bad = 0;
    const char *what[3] = { "reuse", "shrink", "calloc" };
    const size_t live_size[3] = { 24, 40, 20 };
    for (int i = 0; i < 3; i++) {
        for (size_t k = 0; k < live_size[i]; k++)
            if (holder[i][k] != 0x22) { printf("FAIL: %s: live block byte %zu changed\n", what[i], k); bad++; break; }
        size_t u = malloc_usable_size((void *)(victim[i] ^ HIDE));
        if (u != 0) { printf("FAIL: %s: the victim (%zu bytes) is still allocated: a stale pointer in the slack kept it\n", what[i], u); bad++; }
    }
    if (bad) return 1;
    puts("ok: 3 victims held only through slack bytes were reclaimed");
    return 0;
}
