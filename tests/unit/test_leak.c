/* test_leak.c -- capture (libunwind), sampling, requested sizes, LSan's direct/indirect classification and order in-process, and the symbolizer's parsing. */
#include <dlfcn.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "scanner.h"

#define MASK ((uintptr_t)0x5a5a5a5a5a5a5a5aull)

static uint32_t id_of(const void *p)
{
    struct lookup lk;
    assert_true(heap_lookup((uintptr_t)p, &lk));
    return leak_stack_id(lk.ci, lk.idx);
}

/* pc (a return address) is inside fn: the site functions are exported (-rdynamic) for dladdr. */
static bool in_fn(uintptr_t pc, const void *fn)
{
    Dl_info info;
    return dladdr((void *)(pc - 1), &info) && info.dli_saddr == fn;
}

static bool stack_has(uint32_t id, const void *fn)
{
    const uintptr_t *pcs;
    unsigned n = depot_get(id, &pcs);
    for (unsigned i = 0; i < n; i++)
        if (in_fn(pcs[i], fn)) return true;
    return false;
}

/* Linked into the test, cowgc's own frames are part of the stack and differ by allocation path
 * (fast, slow, large): two stacks are "the same site" when they agree from fn's frame on. */
static bool same_from(uint32_t x, uint32_t y, const void *fn)
{
    const uintptr_t *px, *py;
    unsigned nx = depot_get(x, &px), ny = depot_get(y, &py), i = 0, j = 0;
    while (i < nx && !in_fn(px[i], fn)) i++;
    while (j < ny && !in_fn(py[j], fn)) j++;
    return i < nx && nx - i == ny - j && !memcmp(px + i, py + j, (nx - i) * sizeof *px);
}

__attribute__((noinline)) void *site_a(size_t n) { void *p = cg_malloc(n); __asm__ volatile("" ::: "memory"); return p; }
__attribute__((noinline)) void *site_b(size_t n) { void *p = cg_malloc(n); __asm__ volatile("" ::: "memory"); return p; }

static void stacks_are_captured_and_deduplicated(void **state)
{
    void *p[4], *b = site_b(64), *big = site_a(100000);
    for (int i = 0; i < 4; i++) p[i] = site_a(64);    /* one call site */
    uint32_t id[4];
    for (int i = 0; i < 4; i++) id[i] = id_of(p[i]);
    uint32_t ib = id_of(b), ibig = id_of(big);
    assert_true(id[0] != 0 && ib != 0 && ibig != 0);
    for (int i = 1; i < 4; i++) assert_true(same_from(id[0], id[i], (void *)site_a));
    assert_int_equal(id[2], id[3]);                 /* same path, same frames: one id */
    assert_true(stack_has(id[0], (void *)site_a));
    assert_true(stack_has(ib, (void *)site_b));
    assert_false(stack_has(ib, (void *)site_a));
    assert_true(stack_has(ibig, (void *)site_a));   /* large blocks have ids too */
    for (int i = 0; i < 4; i++) cg_free(p[i]);
    cg_free(b);
    cg_free(big);
}

static void sampling_records_one_in_n(void **state)
{
    enum { N = 400 };
    void *p[N];
    opt.stack_sample = 4;
    int with = 0;
    for (int i = 0; i < N; i++) p[i] = site_a(32);
    for (int i = 0; i < N; i++) with += id_of(p[i]) != 0;
    opt.stack_sample = 1;
    for (int i = 0; i < N; i++) cg_free(p[i]);
    assert_int_equal(with, N / 4);
}

static __attribute__((noinline)) void scrub_stack(void)
{
    volatile char buf[16384];
    memset((char *)buf, 0, sizeof buf);
}

__attribute__((noinline)) void *site_root(void) { void *p = cg_malloc(32); __asm__ volatile("" ::: "memory"); return p; }
__attribute__((noinline)) void *site_child(void) { void *p = cg_malloc(48); memset(p, 0, 48); return p; }
__attribute__((noinline)) void *site_cycle(void) { void *p = cg_malloc(96); memset(p, 0, 96); return p; }

enum { ROOTS = 100, CYCLES = 100 };
static uintptr_t hidden[ROOTS + CYCLES * 2];

static __attribute__((noinline)) void build_leaks(void)
{
    int k = 0;
    for (int i = 0; i < ROOTS; i++) {
        void **r = site_root();
        r[0] = site_child();
        r[1] = (char *)site_child() + 8;     /* an interior pointer still makes it indirect */
        r[2] = r[3] = r;                      /* self pointers do not count */
        hidden[k++] = (uintptr_t)r ^ MASK;
    }
    for (int i = 0; i < CYCLES; i++) {
        void **a = site_cycle(), **b = site_cycle();
        a[0] = b;
        b[0] = a;
        hidden[k++] = (uintptr_t)a ^ MASK;
        hidden[k++] = (uintptr_t)b ^ MASK;
    }
}

/* The report, in JSON, captured from the log fd. */
static char report[1 << 20];

static void run_report(void)
{
    char path[] = "/tmp/cowgc-test-leak-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fcntl(fd, F_SETFL, O_APPEND);   /* a log file: cowgc writes to no other file on fd 2 */
    int saved = dup(log_fd());
    dup2(fd, log_fd());
    leak_report(false);
    dup2(saved, log_fd());
    close(saved);
    ssize_t n = pread(fd, report, sizeof report - 1, 0);
    close(fd);
    assert_true(n > 0);
    report[n] = 0;
}

struct site_sum { uint64_t direct, indirect; };

/* Blocks per kind over groups whose stack names fn. */
static struct site_sum sum_for(const char *fn)
{
    struct site_sum s = { 0, 0 };
    char needle[64];
    snprintf(needle, sizeof needle, "\"function\":\"%s\"", fn);
    for (char *g = strstr(report, "{\"kind\":\""); g; ) {
        char *next = strstr(g + 1, "{\"kind\":\"");
        char *end = next ? next : report + strlen(report);
        char saved = *end;
        *end = 0;
        unsigned long long bytes = 0, count = 0;
        char kind[16] = "";
        sscanf(g, "{\"kind\":\"%15[a-z]\",\"bytes\":%llu,\"count\":%llu", kind, &bytes, &count);
        if (strstr(g, needle)) {
            if (!strcmp(kind, "direct")) s.direct += count;
            else if (!strcmp(kind, "indirect")) s.indirect += count;
        }
        *end = saved;
        g = next;
    }
    return s;
}

static void direct_and_indirect_like_lsan(void **state)
{
    build_leaks();
    scrub_stack();
    uint64_t written = gcstats.heap_pages_written;
    run_report();
    if (heap.mark == MARK_OUTOFLINE) assert_int_equal(gcstats.heap_pages_written, written);
    struct site_sum r = sum_for("site_root"), c = sum_for("site_child"), y = sum_for("site_cycle");
    /* Conservative: a stray word may keep a few structures alive, never most; kinds never flip. */
    assert_true(r.direct >= ROOTS * 9 / 10 && r.direct <= ROOTS);
    assert_int_equal(r.indirect, 0);
    assert_int_equal(c.direct, 0);
    assert_true(c.indirect >= 2 * r.direct && c.indirect <= 2 * ROOTS);
    assert_int_equal(y.direct, 0);                  /* a leaked cycle is indirect, as in LSan */
    assert_true(y.indirect >= CYCLES * 2 * 9 / 10 && y.indirect <= CYCLES * 2);
    assert_non_null(strstr(report, "\"summary\":{\"bytes\":"));
    /* Everything reported is still allocated: the report does not free (detect mode). */
    int gone = 0;
    for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++) {
        struct lookup lk;
        gone += !heap_lookup(hidden[i] ^ MASK, &lk);
    }
    assert_int_equal(gone, 0);
}

static void *g_keep;

static void reachable_blocks_are_not_reported(void **state)
{
    void **k = site_root();
    k[0] = site_child();
    g_keep = k;
    k = NULL;
    scrub_stack();
    run_report();
    struct site_sum r = sum_for("site_root"), c = sum_for("site_child");
    /* The earlier test's leaks are still there; ours adds nothing to them. */
    assert_true(r.direct <= ROOTS);
    assert_true(c.indirect <= 2 * ROOTS);
    assert_true(c.direct == 0);
    g_keep = NULL;
}

/* The size asked for is kept beside the stack (usable size stays the slot's), through every path. */
static size_t requested(const void *p, size_t *slot)
{
    struct lookup lk;
    assert_true(heap_lookup((uintptr_t)p, &lk));
    const struct span *s = span_at(lk.ci);
    *slot = s->size;
    return leak_requested_size(lk.ci, lk.idx, s->size);
}

static void requested_sizes_are_recorded(void **state)
{
    size_t slot;
    void *a = site_a(100), *big = site_a(100001), *z = cg_calloc(7, 9);
    void *al = cg_memalign(64, 200);
    assert_int_equal(requested(a, &slot), 100);
    assert_int_equal(slot, cg_usable_size(a));
    assert_true(slot > 100);
    assert_int_equal(requested(big, &slot), 100001);
    assert_int_equal(requested(z, &slot), 63);
    assert_int_equal(requested(al, &slot), 200);
    assert_true(cg_usable_size(al) >= 200);
    void *r = cg_realloc(a, 110);            /* same class: in place, and counted with its new size */
    assert_ptr_equal(r, a);
    assert_int_equal(requested(r, &slot), 110);
    cg_free(r);
    cg_free(big);
    cg_free(z);
    cg_free(al);
}

/* A slice keeps its first 64 slots in its head and the rest in its tail (leak.c): blocks on both
 * sides of that line each keep their own requested size. The sizes (all of the 16-byte class)
 * differ between blocks 64 apart, so two slots sharing an entry would show. */
static size_t size_of_nth(int i) { return (size_t)(1 + (i % 8 + i / 64) % 16); }

static void requested_sizes_past_the_slice_head(void **state)
{
    enum { N = 900 };
    static void *p[N];
    unsigned past_head = 0;
    for (int i = 0; i < N; i++) p[i] = cg_malloc(size_of_nth(i));
    for (int i = 0; i < N; i++) {
        size_t slot;
        struct lookup lk;
        assert_true(heap_lookup((uintptr_t)p[i], &lk));
        past_head += lk.idx >= 64;
        assert_int_equal(requested(p[i], &slot), size_of_nth(i));
    }
    assert_true(past_head > N / 2);
    for (int i = 0; i < N; i++) cg_free(p[i]);
}

/* A fake symbolizer: a shell script printing canned answers in either tool's format. */
static void fake_tool(char *path, const char *answer)
{
    strcpy(path, "/tmp/cowgc-test-symbolizer-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    dprintf(fd, "#!/bin/sh\ncat >/dev/null\ncat <<'EOF'\n%sEOF\n", answer);
    fchmod(fd, 0755);
    close(fd);
}

static void symbolizer_output_is_parsed(void **state)
{
    uint64_t addrs[3] = { 0x1000, 0x2000, 0x3000 };
    uint32_t first[3];
    uint16_t count[3];
    struct symz_tool t = { SYMZ_LLVM, "" };
    struct symz_out o = { 0 };
    /* llvm-symbolizer: pairs, a blank line per address; inlined frames innermost first */
    fake_tool(t.path, "inner\n/src/a.c:3:43\nouter\n/src/a.c:9:5\n\nstatic_fn\n??:0:0\n\n??\n??:0:0\n\n");
    assert_true(symz_run(&t, "/bin/true", addrs, 3, &o, first, count));
    unlink(t.path);
    assert_int_equal(count[0], 2);
    assert_string_equal(symz_str(&o, o.frames[first[0]].func), "inner");
    assert_string_equal(symz_str(&o, o.frames[first[0]].file), "/src/a.c");
    assert_int_equal(o.frames[first[0]].line, 3);
    assert_int_equal(o.frames[first[0]].col, 43);
    assert_string_equal(symz_str(&o, o.frames[first[0] + 1].func), "outer");
    assert_int_equal(count[1], 1);
    assert_string_equal(symz_str(&o, o.frames[first[1]].func), "static_fn");
    assert_null(symz_str(&o, o.frames[first[1]].file));
    assert_int_equal(count[2], 1);
    assert_null(symz_str(&o, o.frames[first[2]].func));
    symz_out_free(&o);
    /* addr2line -a: the address, then pairs; discriminators dropped; a short answer leaves the rest */
    t.kind = SYMZ_ADDR2LINE;
    fake_tool(t.path, "0x0000000000001000\nf\n/src/b.c:10 (discriminator 3)\ng\n/src/b.c:20\n"
                      "0x0000000000002000\n??\n??:0\n");
    assert_true(symz_run(&t, "/bin/true", addrs, 3, &o, first, count));
    unlink(t.path);
    assert_int_equal(count[0], 2);
    assert_string_equal(symz_str(&o, o.frames[first[0]].file), "/src/b.c");
    assert_int_equal(o.frames[first[0]].line, 10);
    assert_int_equal(o.frames[first[0]].col, 0);
    assert_string_equal(symz_str(&o, o.frames[first[0] + 1].func), "g");
    assert_int_equal(count[1], 1);
    assert_null(symz_str(&o, o.frames[first[1]].func));
    assert_int_equal(count[2], 0);
    symz_out_free(&o);
    /* stdin closed (a daemon): the address file must not land on fd 0 and be lost at exec */
    t.kind = SYMZ_LLVM;
    fake_tool(t.path, "");
    FILE *f = fopen(t.path, "w");
    fprintf(f, "#!/bin/sh\nwhile read a; do printf 'f\\nx.c:1:1\\n\\n'; done\n");
    fclose(f);
    int saved = dup(0);
    close(0);
    bool ran = symz_run(&t, "/bin/true", addrs, 3, &o, first, count);
    dup2(saved, 0);
    close(saved);
    unlink(t.path);
    assert_true(ran);
    assert_int_equal(count[0] + count[1] + count[2], 3);
    assert_string_equal(symz_str(&o, o.frames[first[2]].file), "x.c");
    symz_out_free(&o);
    /* a tool that cannot run */
    strcpy(t.path, "/nonexistent/symbolizer");
    assert_false(symz_run(&t, "/bin/true", addrs, 3, &o, first, count));
    assert_int_equal(count[0] + count[1] + count[2], 0);
}

/* Report lines are LeakSanitizer's, with cowgc as the tool's name. */
static void report_lines_are_lsans(void **state)
{
    char b[512];
    symz_text_group(b, sizeof b, "direct", 300, 3);
    assert_string_equal(b, "\nDirect leak of 300 byte(s) in 3 object(s) allocated from:\n");
    symz_text_group(b, sizeof b, "indirect", 64, 1);
    assert_string_equal(b, "\nIndirect leak of 64 byte(s) in 1 object(s) allocated from:\n");
    symz_text_frame(b, sizeof b, 1, 0x55b773b7e160, "leak_direct", "/tmp/lk/leak_check.c", 13, 0, "/tmp/lk/x", 0x1160);
    assert_string_equal(b, "    #1 0x55b773b7e160 in leak_direct /tmp/lk/leak_check.c:13\n");
    symz_text_frame(b, sizeof b, 2, 0x7f00, "f", NULL, 0, 0, "/lib/libc.so.6", 0x27249);
    assert_string_equal(b, "    #2 0x7f00 in f (/lib/libc.so.6+0x27249)\n");
    symz_text_frame(b, sizeof b, 3, 0x7f00, NULL, NULL, 0, 0, "/lib/libc.so.6", 0x27249);
    assert_string_equal(b, "    #3 0x7f00  (/lib/libc.so.6+0x27249)\n");
    symz_text_summary(b, sizeof b, false, 540, 8);
    assert_string_equal(b, "\nSUMMARY: cowgc: 540 byte(s) leaked in 8 allocation(s).\n");
}

/* Direct groups come first, each kind largest first (the JSON keeps the text's order). */
static void groups_in_lsans_order(void **state)
{
    run_report();
    bool seen_indirect = false;
    unsigned long long last[2] = { ~0ull, ~0ull };
    for (char *g = strstr(report, "{\"kind\":\""); g; g = strstr(g + 1, "{\"kind\":\"")) {
        char kind[16] = "";
        unsigned long long bytes = 0;
        sscanf(g, "{\"kind\":\"%15[a-z]\",\"bytes\":%llu", kind, &bytes);
        int k = !strcmp(kind, "indirect");
        if (k) seen_indirect = true;
        else assert_false(seen_indirect);
        assert_true(bytes <= last[k]);
        last[k] = bytes;
    }
    assert_true(seen_indirect);
}

/* Detect mode's slices are wiped in a forked child (leak.c, slices_wipe_on_fork): an inherited
 * block reads there as no stack and its full slot size, while the child's own new blocks get
 * new slices, and the parent's records stay as they were. Without the wipe the child would read
 * the parent's records (and the parent copy the pages it shares with the child when it writes
 * them). The child reports through its exit status: cmocka's checks are the parent's. */
static void a_forked_child_starts_with_no_slices(void **state)
{
    size_t slot;
    void *inherited = site_a(100);
    uint32_t id = id_of(inherited);
    assert_int_not_equal(id, 0);
    assert_int_equal(requested(inherited, &slot), 100);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct lookup lk;
        int bad = 0;
        if (!heap_lookup((uintptr_t)inherited, &lk)) _exit(9);
        if (leak_stack_id(lk.ci, lk.idx) != 0) bad |= 1;
        if (leak_requested_size(lk.ci, lk.idx, span_at(lk.ci)->size) != span_at(lk.ci)->size) bad |= 2;
        void *own = site_b(50);
        if (!heap_lookup((uintptr_t)own, &lk)) _exit(10);
        if (leak_stack_id(lk.ci, lk.idx) == 0) bad |= 4;
        if (leak_requested_size(lk.ci, lk.idx, span_at(lk.ci)->size) != 50) bad |= 8;
        _exit(bad);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(id_of(inherited), id);
    assert_int_equal(requested(inherited, &slot), 100);
    cg_free(inherited);
}

static int setup(void **state)
{
    opt.mode = MODE_DETECT;
    opt.report = REPORT_JSON;
    opt.stack_depth = 16;
    opt.stack_sample = 1;
    opt.unwind = UNWIND_LIBUNWIND;     /* fp needs cowgc's own frames told apart: integration tests */
    leak_init();
    leak_set_self_text(0, 0);          /* linked into the test: nothing is "cowgc's own" code */
    return leak_capture ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stacks_are_captured_and_deduplicated),
        cmocka_unit_test(sampling_records_one_in_n),
        cmocka_unit_test(direct_and_indirect_like_lsan),
        cmocka_unit_test(reachable_blocks_are_not_reported),
        cmocka_unit_test(groups_in_lsans_order),
        cmocka_unit_test(requested_sizes_are_recorded),
        cmocka_unit_test(requested_sizes_past_the_slice_head),
        cmocka_unit_test(a_forked_child_starts_with_no_slices),
        cmocka_unit_test(symbolizer_output_is_parsed),
        cmocka_unit_test(report_lines_are_lsans),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
