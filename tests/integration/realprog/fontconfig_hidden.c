/* fontconfig_hidden.c -- fontconfig reaches a pattern's elements through an offset: the reason libfontconfig is kept by default.
 *
 * Many patterns, each with string and integer elements, are held from a global array; then
 * garbage and collections; then every element is read back and the patterns are destroyed.
 * FcPattern stores its element array as an offset from the pattern (FcPtrToOffset), and the
 * strings (FcValueSave copies) are reached only from that array, so no word the collector scans
 * points at either.
 *
 * usage: fontconfig_hidden    exit 0 when every element reads back as written
 * Expected: collect mode with the built-in COWGC_KEEP: silent and exact. With
 * COWGC_KEEP=-libfontconfig and COWGC_QUARANTINE: the late frees are diagnosed (the element
 * arrays were reclaimed). Detect mode: names COWGC_KEEP=libfontconfig.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct FcPattern FcPattern;
enum { FcResultMatch = 0 };

#define NPAT 300

static FcPattern *pats[NPAT];

static __attribute__((noinline)) void scrub(void)
{
    volatile char buf[1 << 16];
    memset((char *)buf, 0, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");   /* the stores are kept: buf escapes */
}

static __attribute__((noinline)) void garbage(void)
{
    for (int i = 0; i < 20000; i++) {
        char *g = malloc(16 + i % 200);
        memset(g, 0xee, 16 + i % 200);
    }
}

int main(void)
{
    void *fc = dlopen("libfontconfig.so.1", RTLD_NOW);
    if (!fc) { printf("SKIP: %s\n", dlerror()); return 77; }
    FcPattern *(*create)(void) = (FcPattern *(*)(void))dlsym(fc, "FcPatternCreate");
    int (*add_int)(FcPattern *, const char *, int) = (int (*)(FcPattern *, const char *, int))dlsym(fc, "FcPatternAddInteger");
    int (*add_str)(FcPattern *, const char *, const unsigned char *) =
        (int (*)(FcPattern *, const char *, const unsigned char *))dlsym(fc, "FcPatternAddString");
    int (*get_int)(const FcPattern *, const char *, int, int *) =
        (int (*)(const FcPattern *, const char *, int, int *))dlsym(fc, "FcPatternGetInteger");
    int (*get_str)(const FcPattern *, const char *, int, unsigned char **) =
        (int (*)(const FcPattern *, const char *, int, unsigned char **))dlsym(fc, "FcPatternGetString");
    void (*destroy)(FcPattern *) = (void (*)(FcPattern *))dlsym(fc, "FcPatternDestroy");
    void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    if (!create || !add_int || !add_str || !get_int || !get_str || !destroy) { puts("SKIP: symbols"); return 77; }

    static const char *const objs[] = { "family", "style", "file", "foundry" };
    char text[64];
    for (int i = 0; i < NPAT; i++) {
        pats[i] = create();
        for (int k = 0; k < 4; k++) {
            snprintf(text, sizeof text, "%s of pattern %d, a string long enough", objs[k], i);
            add_str(pats[i], objs[k], (const unsigned char *)text);
        }
        add_int(pats[i], "weight", i * 7);
        add_int(pats[i], "index", i);
    }
    memset(text, 0, sizeof text);
    scrub();
    for (int r = 0; r < 4; r++) {
        garbage();
        scrub();
        if (collect) collect();
    }
    int bad = 0;
    for (int i = 0; i < NPAT && !bad; i++) {
        int v;
        if (get_int(pats[i], "weight", 0, &v) != FcResultMatch || v != i * 7) {
            printf("FAIL: pattern %d: weight lost\n", i);
            bad = 1;
        }
        for (int k = 0; k < 4 && !bad; k++) {
            unsigned char *s;
            snprintf(text, sizeof text, "%s of pattern %d, a string long enough", objs[k], i);
            if (get_str(pats[i], objs[k], 0, &s) != FcResultMatch || strcmp((char *)s, text)) {
                printf("FAIL: pattern %d: %s lost\n", i, objs[k]);
                bad = 1;
            }
        }
    }
    for (int i = 0; i < NPAT; i++) destroy(pats[i]);
    if (!bad) puts("ok");
    return bad;
}
