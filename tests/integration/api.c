/* api.c -- semantics of the malloc family that programs rely on, as an ordinary program.
 *
 * The portable checks run everywhere (they pass with glibc) and print one line per group on
 * stdout, the same with and without cowgc. When the cowgc API is present (dlsym of cowgc_active)
 * it also checks cowgc's promises about misuse: a double free, a free of a stack address and a
 * free of an interior pointer each write exactly one line containing "cowgc" to stderr, and the
 * program goes on. Those results go to stderr only (glibc would abort on them).
 * With CGT_UNDER_COWGC=1 in the environment, not finding cowgc is itself a failure.
 * Exit 0 iff every check passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cgt.h"

static int failures, checks;

#define CHECK(cond, ...) do { \
        checks++; \
        if (!(cond)) { failures++; fprintf(stderr, "api: FAIL line %d: %s: ", __LINE__, #cond); \
                       fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } \
    } while (0)

/* Keep the compiler from reasoning about our allocations (it may elide malloc/free pairs or
 * fold malloc(huge) to NULL). */
static void *(*volatile p_malloc)(size_t) = malloc;
static void *(*volatile p_calloc)(size_t, size_t) = calloc;
static void *(*volatile p_realloc)(void *, size_t) = realloc;
static void (*volatile p_free)(void *) = free;
static void *(*volatile p_reallocarray)(void *, size_t, size_t) = reallocarray;
static void *(*volatile p_memalign)(size_t, size_t) = memalign;
static void *(*volatile p_aligned_alloc)(size_t, size_t) = aligned_alloc;
static int (*volatile p_posix_memalign)(void **, size_t, size_t) = posix_memalign;

static void group(const char *name, int before_fail, int before_checks)
{
    printf("%-28s %s (%d checks)\n", name, failures == before_fail ? "ok" : "FAILED", checks - before_checks);
}
#define GROUP_BEGIN int f0 = failures, c0 = checks
#define GROUP_END(name) group(name, f0, c0)

static void t_zero(void)
{
    GROUP_BEGIN;
    void *a = p_malloc(0), *b = p_malloc(0), *c = p_malloc(0);
    CHECK(a && b && c, "malloc(0) returned NULL: %p %p %p", a, b, c);
    CHECK(a != b && b != c && a != c, "malloc(0) not unique: %p %p %p", a, b, c);
    p_free(a); p_free(b); p_free(c);
    void *z = p_calloc(0, 10);
    CHECK(z != NULL, "calloc(0, 10) returned NULL");
    p_free(z);
    errno = 0;
    p_free(NULL);
    CHECK(errno == 0, "free(NULL) set errno %d", errno);
    CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) = %zu", malloc_usable_size(NULL));
    void *r = p_realloc(NULL, 100);
    CHECK(r != NULL && malloc_usable_size(r) >= 100, "realloc(NULL, 100) = %p", r);
    p_free(r);
    GROUP_END("malloc(0), free(NULL)");
}

static void t_overflow(void)
{
    GROUP_BEGIN;
    errno = 0;
    void *p = p_calloc(SIZE_MAX / 2, 3);
    CHECK(p == NULL && errno == ENOMEM, "calloc overflow: %p errno %d", p, errno);
    errno = 0;
    p = p_calloc((size_t)1 << 33, (size_t)1 << 33);
    CHECK(p == NULL && errno == ENOMEM, "calloc 2^33 x 2^33: %p errno %d", p, errno);
    void *q = p_malloc(64);
    memset(q, 0x33, 64);
    errno = 0;
    p = p_reallocarray(q, SIZE_MAX / 4, 8);
    CHECK(p == NULL && errno == ENOMEM, "reallocarray overflow: %p errno %d", p, errno);
    CHECK(((unsigned char *)q)[63] == 0x33, "reallocarray failure damaged the old block");
    p = p_reallocarray(q, 100, 8);
    CHECK(p != NULL && malloc_usable_size(p) >= 800 && ((unsigned char *)p)[63] == 0x33,
          "p_reallocarray(q, 100, 8) = %p", p);
    p_free(p);
    errno = 0;
    p = p_malloc((size_t)1 << 62);
    CHECK(p == NULL && errno == ENOMEM, "malloc(1<<62): %p errno %d", p, errno);
    errno = 0;
    p = p_malloc(SIZE_MAX);
    CHECK(p == NULL && errno == ENOMEM, "malloc(SIZE_MAX): %p errno %d", p, errno);
    errno = 0;
    p = p_malloc(SIZE_MAX - 4096);
    CHECK(p == NULL && errno == ENOMEM, "malloc(SIZE_MAX-4096): %p errno %d", p, errno);
    q = p_malloc(10);
    strcpy(q, "keepme");
    errno = 0;
    p = p_realloc(q, (size_t)1 << 62);
    CHECK(p == NULL && errno == ENOMEM, "realloc to 1<<62: %p errno %d", p, errno);
    CHECK(strcmp(q, "keepme") == 0, "failed realloc damaged the old block");
    p_free(q);
    void *m = NULL;
    errno = 0;
    int rc = p_posix_memalign(&m, 64, (size_t)1 << 62);
    CHECK(rc == ENOMEM, "posix_memalign(64, 1<<62) = %d", rc);
    errno = 0;
    p = p_memalign(4096, SIZE_MAX - 100);
    CHECK(p == NULL && errno == ENOMEM, "p_memalign(4096, SIZE_MAX-100): %p errno %d", p, errno);
    GROUP_END("overflow and huge sizes");
}

static void t_align(void)
{
    GROUP_BEGIN;
    void *p = (void *)1;
    CHECK(p_posix_memalign(&p, 3, 16) == EINVAL, "posix_memalign alignment 3");
    CHECK(p_posix_memalign(&p, 0, 16) == EINVAL, "posix_memalign alignment 0");
    CHECK(p_posix_memalign(&p, 4, 16) == EINVAL, "posix_memalign alignment 4 (< sizeof(void *))");
    CHECK(p_posix_memalign(&p, 48, 16) == EINVAL, "posix_memalign alignment 48");
    CHECK(p_posix_memalign(&p, (size_t)1 << 63 | 16, 16) == EINVAL, "posix_memalign alignment 2^63+16");
    /* Size 0 with any valid alignment succeeds (NULL or a unique, aligned, freeable pointer). */
    for (size_t al = 8; al <= ((size_t)1 << 20); al *= 2) {
        void *z = (void *)1;
        int rc = p_posix_memalign(&z, al, 0);
        CHECK(rc == 0 && ((uintptr_t)z & (al - 1)) == 0, "posix_memalign(&p, %zu, 0) = %d, %p", al, rc, rc ? NULL : z);
        if (rc == 0) free(z);
        errno = 0;
        z = p_memalign(al, 0);
        CHECK(errno == 0 && ((uintptr_t)z & (al - 1)) == 0, "memalign(%zu, 0) = %p, errno %d", al, z, errno);
        free(z);
    }
    for (size_t al = 16; al <= ((size_t)1 << 20); al *= 2) {
        size_t sizes[] = { 1, al - 1, al, al + 1, 3 * al + 5 };
        for (int k = 0; k < 5; k++) {
            size_t sz = sizes[k];
            void *a = NULL;
            int rc = p_posix_memalign(&a, al, sz);
            CHECK(rc == 0 && a && ((uintptr_t)a & (al - 1)) == 0, "posix_memalign(%zu, %zu) = %d %p", al, sz, rc, a);
            void *b = p_memalign(al, sz);
            CHECK(b && ((uintptr_t)b & (al - 1)) == 0, "memalign(%zu, %zu) = %p", al, sz, b);
            size_t asz = (sz + al - 1) / al * al;
            void *c = p_aligned_alloc(al, asz);
            CHECK(c && ((uintptr_t)c & (al - 1)) == 0, "aligned_alloc(%zu, %zu) = %p", al, asz, c);
            if (a) { CHECK(malloc_usable_size(a) >= sz, "usable %zu < %zu", malloc_usable_size(a), sz); memset(a, 0xab, sz); }
            if (b) { CHECK(malloc_usable_size(b) >= sz, "usable %zu < %zu", malloc_usable_size(b), sz); memset(b, 0xcd, sz); }
            if (c) { CHECK(malloc_usable_size(c) >= asz, "usable %zu < %zu", malloc_usable_size(c), asz); memset(c, 0xef, asz); }
            if (a) CHECK(((unsigned char *)a)[sz - 1] == 0xab, "posix_memalign block overlaps another");
            if (b) CHECK(((unsigned char *)b)[sz - 1] == 0xcd, "memalign block overlaps another");
            free(a); free(b); free(c);
        }
    }
    long ps = sysconf(_SC_PAGESIZE);
    void *v = valloc(100);
    CHECK(v && ((uintptr_t)v % (uintptr_t)ps) == 0, "valloc(100) = %p", v);
    free(v);
    v = pvalloc(100);
    CHECK(v && ((uintptr_t)v % (uintptr_t)ps) == 0 && malloc_usable_size(v) >= (size_t)ps, "pvalloc(100) = %p", v);
    free(v);
    /* realloc of an aligned block keeps contents (alignment need not survive). */
    void *a = p_memalign(4096, 100);
    memset(a, 0x42, 100);
    a = p_realloc(a, 100000);
    CHECK(a && ((unsigned char *)a)[99] == 0x42, "realloc of memalign block lost contents");
    free(a);
    GROUP_END("alignment 16 .. 1 MiB, EINVAL");
}

static void t_realloc(void)
{
    GROUP_BEGIN;
    /* Grow through small, medium and large sizes, then shrink back; contents must follow. */
    size_t steps[] = { 1, 7, 16, 100, 1000, 4000, 32768, 32769, 70000, 1 << 20, 5 << 20, 3 << 20,
                       100000, 40000, 2000, 24, 3, 50 << 20, 10 };
    unsigned char *p = NULL;
    size_t have = 0;
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        size_t n = steps[i];
        unsigned char *q = p_realloc(p, n);
        CHECK(q != NULL, "realloc(%p, %zu) returned NULL", (void *)p, n);
        if (!q) break;
        size_t keep = have < n ? have : n;
        size_t bad = SIZE_MAX;
        for (size_t k = 0; k < keep; k++)
            if (q[k] != (unsigned char)(k * 7 + 1)) { bad = k; break; }
        CHECK(bad == SIZE_MAX, "realloc %zu -> %zu lost byte %zu", have, n, bad);
        CHECK(malloc_usable_size(q) >= n, "usable %zu < %zu after realloc", malloc_usable_size(q), n);
        for (size_t k = keep; k < n; k++) q[k] = (unsigned char)(k * 7 + 1);
        p = q;
        have = n;
    }
    p_free(p);
    /* Many realloc'd blocks alive at once. */
    char *v[200];
    for (int i = 0; i < 200; i++) { v[i] = p_malloc(8); snprintf(v[i], 8, "%d", i); }
    for (int r = 1; r < 6; r++)
        for (int i = 0; i < 200; i++) v[i] = p_realloc(v[i], (size_t)(8 + r * i * 37));
    int bad = 0;
    for (int i = 0; i < 200; i++) { char w[8]; snprintf(w, 8, "%d", i); bad += strcmp(v[i], w) != 0; p_free(v[i]); }
    CHECK(bad == 0, "%d realloc'd strings damaged", bad);
    GROUP_END("realloc grow/shrink");
}

static void t_calloc_errno(void)
{
    GROUP_BEGIN;
    /* calloc must zero even memory that was just used and freed. */
    int nonzero = 0;
    for (int r = 0; r < 50; r++) {
        size_t n = (size_t)(1 + r * 997);
        unsigned char *m = p_malloc(n);
        memset(m, 0xff, n);
        p_free(m);
        unsigned char *c = p_calloc(1, n);
        for (size_t k = 0; k < n; k++) if (c[k]) { nonzero++; break; }
        p_free(c);
    }
    unsigned char *big = p_malloc(4 << 20);
    memset(big, 0xff, 4 << 20);
    p_free(big);
    unsigned char *cb = p_calloc(4 << 20, 1);
    for (size_t k = 0; k < (4 << 20); k += 64) if (cb[k]) { nonzero++; break; }
    p_free(cb);
    CHECK(nonzero == 0, "%d calloc blocks not zeroed", nonzero);
    /* free preserves errno, for small and large blocks. */
    size_t sizes[] = { 8, 1000, 40000, 1 << 20, 64 << 20 };
    for (int i = 0; i < 5; i++) {
        void *m = p_malloc(sizes[i]);
        errno = EILSEQ;
        p_free(m);
        CHECK(errno == EILSEQ, "free of %zu bytes changed errno to %d", sizes[i], errno);
    }
    /* libc functions that allocate internally return memory that free accepts. */
    char *s = strdup("hello");
    char *a = NULL;
    int n = asprintf(&a, "%s-%d", s, 42);
    CHECK(n == 8 && strcmp(a, "hello-42") == 0, "asprintf gave %s", a);
    free(s); free(a);
    GROUP_END("calloc zeroing, errno, libc");
}

/* ---- cowgc-only: misuse reports ---- */

/* Runs fn with stderr redirected; returns the number of lines written and whether every one of
 * them contains "cowgc". The captured text is echoed to the real stderr. */
static int capture(void (*fn)(void *), void *arg, int *all_cowgc)
{
    char path[] = "/tmp/cowgc-api-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) { perror("mkstemp"); return -1; }
    unlink(path);
    fcntl(fd, F_SETFL, O_APPEND);   /* a log file: cowgc writes to no other file put on fd 2 */
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    fn(arg);
    dup2(saved, 2);
    close(saved);
    char buf[4096];
    ssize_t len = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    if (len < 0) len = 0;
    buf[len] = 0;
    int lines = 0;
    *all_cowgc = 1;
    for (char *l = buf; *l; ) {
        char *nl = strchr(l, '\n');
        if (nl) *nl = 0;
        lines++;
        fprintf(stderr, "api:   captured: %s\n", l);
        if (!strstr(l, "cowgc")) *all_cowgc = 0;
        if (!nl) { *all_cowgc = 0; break; }   /* an unterminated line */
        l = nl + 1;
    }
    return lines;
}

static void do_free(void *p) { p_free(p); }

static void t_misuse(void)
{
    int f0 = failures;
    int all, n;

    void *p = p_malloc(64);
    p_free(p);
    n = capture(do_free, p, &all);
    CHECK(n == 1 && all, "double free: %d stderr lines (want exactly 1, containing \"cowgc\")", n);

    long on_stack[4] = { 1, 2, 3, 4 };
    n = capture(do_free, &on_stack[1], &all);
    CHECK(n == 1 && all, "free of a stack address: %d stderr lines (want 1, containing \"cowgc\")", n);
    CHECK(on_stack[0] == 1 && on_stack[3] == 4, "free of a stack address wrote to the stack");

    char *q = p_malloc(100);
    strcpy(q, "interior");
    n = capture(do_free, q + 16, &all);
    CHECK(n == 1 && all, "free of an interior pointer: %d stderr lines (want 1, containing \"cowgc\")", n);
    CHECK(strcmp(q, "interior") == 0, "the block survives a bad interior free");
    p_free(q);   /* still a valid block */

    char *big = p_malloc(1 << 20);
    n = capture(do_free, big + 4096, &all);
    CHECK(n == 1 && all, "free of an interior pointer of a large block: %d stderr lines", n);
    p_free(big);

    static char in_data[64];
    n = capture(do_free, in_data, &all);
    CHECK(n == 1 && all, "free of a static (data) address: %d stderr lines", n);

    /* the allocator still works afterwards */
    void *v[100];
    for (int i = 0; i < 100; i++) v[i] = p_malloc((size_t)i * 10 + 1);
    for (int i = 0; i < 100; i++) p_free(v[i]);
    fprintf(stderr, "api: cowgc misuse reports %s\n", failures == f0 ? "ok" : "FAILED");
}

int main(void)
{
    int (*active)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "cowgc_active");
    int under = getenv("CGT_UNDER_COWGC") != NULL;
    setvbuf(stdout, NULL, _IOLBF, 0);   /* keep what was printed if a check crashes */
    if (under && cgt_check_loaded("api")) return 3;
    t_zero();
    t_overflow();
    t_align();
    t_realloc();
    t_calloc_errno();
    printf("portable checks: %s\n", failures ? "FAILED" : "all ok");
    if (active) {
        CHECK(active() == 1, "cowgc_active() = %d", active());
        t_misuse();
    }
    fflush(stdout);
    if (failures) fprintf(stderr, "api: %d of %d checks failed\n", failures, checks);
    return failures ? 1 : 0;
}
