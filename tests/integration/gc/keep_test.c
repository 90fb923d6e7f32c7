/* keep_test.c -- COWGC_KEEP: the block a library hides (libcgthide) survives collections when the library is listed.
 *
 * usage: keep_test kept     the block and the child it points to must survive, intact
 *        keep_test reclaimed the library is not listed: only free the hidden block (the
 *                            collector reclaimed it: one diagnostic line is expected)
 */
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hide_alloc(void *child);
void *hide_block(void);
size_t hide_size(void);
void hide_free(void);

static __attribute__((noinline)) void make(void)
{
    char *child = malloc(48);
    memset(child, 0x77, 48);
    hide_alloc(child);
}

static __attribute__((noinline)) void scrub(void)
{
    volatile char buf[1 << 16];
    memset((char *)buf, 0, sizeof buf);
}

static __attribute__((noinline)) void garbage(void)
{
    for (int i = 0; i < 2000; i++) {
        char *g = malloc(i % 2 ? 96 : 48);
        memset(g, 0xee, i % 2 ? 96 : 48);
    }
}

int main(int argc, char **argv)
{
    void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    int kept = argc > 1 && !strcmp(argv[1], "kept");
    make();
    scrub();
    if (!collect) { puts("not running under cowgc"); return 0; }
    for (int i = 0; i < 3; i++) { collect(); garbage(); scrub(); }
    collect();
    if (!kept) { hide_free(); puts("ok"); return 0; }
    unsigned char *b = hide_block();
    int bad = 0;
    if (malloc_usable_size(b) < hide_size()) { puts("FAIL: the hidden block was reclaimed"); return 1; }
    for (size_t k = sizeof(void *); k < hide_size(); k++)
        if (b[k] != 0x5a) { printf("FAIL: hidden block byte %zu is 0x%02x\n", k, b[k]); bad = 1; break; }
    unsigned char *child = *(unsigned char **)b;
    if (malloc_usable_size(child) < 48) { puts("FAIL: the child of the kept block was reclaimed"); return 1; }
    for (int k = 0; k < 48; k++)
        if (child[k] != 0x77) { printf("FAIL: child byte %d is 0x%02x\n", k, child[k]); bad = 1; break; }
    free(child);
    hide_free();
    if (!bad) puts("ok");
    return bad;
}
