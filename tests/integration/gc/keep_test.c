/* keep_test.c -- COWGC_KEEP: the blocks a library hides (libcgthide) survive collections when it is listed; detect mode names the entry.
 *
 * usage: keep_test kept       both hidden blocks (malloc'd and strdup'd) and the child the first
 *                             points to must survive, intact
 *        keep_test kept_alloc only hide_alloc's block is listed (COWGC_KEEP=leak:hide_alloc):
 *                             it survives; the strdup'd one is reclaimed (one diagnostic line)
 *        keep_test reclaimed  the library is not listed: only free the hidden blocks (the
 *                             collector reclaimed them: diagnostic lines are expected)
 *        keep_test suggest    detect mode: free the hidden block and its child after a
 *                             collection saw no pointer to them (a hint line each)
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
void hide_dup(const char *s);
char *hide_dup_block(void);
void hide_dup_free(void);

static const char text[] = "a string only the library knows where it keeps";

static __attribute__((noinline)) void make(void)
{
    char *child = malloc(40);
    memset(child, 0x77, 40);
    hide_alloc(child);
    hide_dup(text);
}

static __attribute__((noinline)) void scrub(void)
{
    volatile char buf[1 << 16];
    memset((char *)buf, 0, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");   /* the stores are kept: buf escapes */
}

static __attribute__((noinline)) void garbage(void)
{
    for (int i = 0; i < 2000; i++) {
        char *g = malloc(i % 2 ? 96 : 48);
        memset(g, 0xee, i % 2 ? 96 : 48);
    }
}

static int check_alloc(void)
{
    unsigned char *b = hide_block();
    if (malloc_usable_size(b) < hide_size()) { puts("FAIL: the hidden block was reclaimed"); return 1; }
    for (size_t k = sizeof(void *); k < hide_size(); k++)
        if (b[k] != 0x5a) { printf("FAIL: hidden block byte %zu is 0x%02x\n", k, b[k]); return 1; }
    unsigned char *child = *(unsigned char **)b;
    if (malloc_usable_size(child) < 40) { puts("FAIL: the child of the kept block was reclaimed"); return 1; }
    for (int k = 0; k < 40; k++)
        if (child[k] != 0x77) { printf("FAIL: child byte %d is 0x%02x\n", k, child[k]); return 1; }
    free(child);
    hide_free();
    return 0;
}

static int check_dup(void)
{
    char *d = hide_dup_block();
    if (malloc_usable_size(d) < sizeof text) { puts("FAIL: the strdup'd block was reclaimed"); return 1; }
    if (strcmp(d, text)) { printf("FAIL: the strdup'd block reads \"%.60s\"\n", d); return 1; }
    hide_dup_free();
    return 0;
}

int main(int argc, char **argv)
{
    void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    const char *mode = argc > 1 ? argv[1] : "kept";
    make();
    scrub();
    if (!collect) { puts("not running under cowgc"); return 0; }
    if (!strcmp(mode, "suggest")) {
        collect();
        unsigned char *b = hide_block();
        free(*(void **)b);
        hide_free();
        hide_dup_free();
        puts("ok");
        return 0;
    }
    for (int i = 0; i < 3; i++) { collect(); garbage(); scrub(); }
    collect();
    int bad = 0;
    if (!strcmp(mode, "reclaimed")) { hide_free(); hide_dup_free(); }
    else if (!strcmp(mode, "kept_alloc")) { bad = check_alloc(); hide_dup_free(); }
    else bad = check_alloc() | check_dup();
    if (!bad) puts("ok");
    return bad;
}
