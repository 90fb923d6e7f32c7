/* test_roots.c -- every kind of root is reported, cowgc's own memory is not, and every range is safe to read. */
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "scanner.h"
#include "collector.h"


#define MAXR 65536
struct rec { uintptr_t lo, hi; enum root_kind kind; };
static struct rec recs[MAXR];
static size_t nrecs;
static int bad_align;
static volatile uintptr_t sink;

/* Called with the world stopped: record, and read every word (a range that is not safely
 * readable crashes the test here rather than a collection later). */
static void record(uintptr_t lo, uintptr_t hi, enum root_kind kind)
{
    if (lo % sizeof(uintptr_t) || hi % sizeof(uintptr_t) || lo >= hi)
        bad_align++;
    uintptr_t s = 0;
    for (const volatile uintptr_t *p = (const uintptr_t *)lo; (uintptr_t)p < hi; p++)
        s += *p;
    sink += s;
    if (nrecs < MAXR)
        recs[nrecs++] = (struct rec){ lo, hi, kind };
}

static void scan(int roots_mode)
{
    opt.roots = roots_mode;
    roots_snapshot_segments();
    nrecs = 0;
    bad_align = 0;
    heap_lock();
    int rc = stw_stop_all();
    if (rc == 0) {
        roots_scan(record);
        stw_resume_all();
    }
    heap_unlock();
    assert_int_equal(rc, 0);
    assert_int_equal(bad_align, 0);
    assert_true(nrecs < MAXR);
    if (getenv("TEST_ROOTS_VERBOSE")) {     /* printed after the world runs again */
        static const char *names[] = { "stack", "regs", "data", "tls", "mapping", "user" };
        for (size_t i = 0; i < nrecs; i++)
            printf("%s %lx-%lx %-7s %lu\n", roots_mode == ROOTS_ALL ? "all" : "seg",
                   recs[i].lo, recs[i].hi, names[recs[i].kind], recs[i].hi - recs[i].lo);
    }
}

/* The kind of a range holding [a, a + n), or -1. */
static int covered(const void *a, size_t n)
{
    for (size_t i = 0; i < nrecs; i++)
        if (recs[i].lo <= (uintptr_t)a && (uintptr_t)a + n <= recs[i].hi)
            return (int)recs[i].kind;
    return -1;
}

static bool overlaps_any(uintptr_t lo, uintptr_t hi, bool count_regs)
{
    for (size_t i = 0; i < nrecs; i++)
        if (recs[i].lo < hi && lo < recs[i].hi && (count_regs || recs[i].kind != ROOT_REGS))
            return true;
    return false;
}

/* ---- a worker whose stack and TLS must be found ---- */

static __thread uintptr_t tls_marker;
static uintptr_t global_marker = 0x1234;
static atomic_int worker_phase;
static uintptr_t *worker_stack_var, *worker_tls_var;
static pid_t worker_tid;

static void *worker(void *arg)
{
    volatile uintptr_t on_stack = 0xabcd;
    tls_marker = 0xdcba;
    worker_stack_var = (uintptr_t *)&on_stack;
    worker_tls_var = &tls_marker;
    worker_tid = (pid_t)syscall(SYS_gettid);
    atomic_store(&worker_phase, 1);
    while (atomic_load(&worker_phase) == 1)
        usleep(1000);
    return (void *)on_stack;
}

static pthread_t worker_th;

static int group_setup(void **state)
{
    cowgc_init_slow();
    atomic_store(&worker_phase, 0);
    pthread_create(&worker_th, NULL, worker, NULL);
    while (atomic_load(&worker_phase) != 1)
        sched_yield();
    return 0;
}

static int group_teardown(void **state)
{
    atomic_store(&worker_phase, 2);
    pthread_join(worker_th, NULL);
    return 0;
}

static void *map_rw(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    memset(p, 1, n);
    return p;
}

static void all_mode_reports_every_kind(void **state)
{
    volatile uintptr_t main_stack_var = 1;
    tls_marker = 2;
    uintptr_t *region = map_rw(1 << 16);
    uintptr_t *hidden = map_rw(1 << 16);
    roots_exclude((uintptr_t)hidden, (uintptr_t)hidden + (1 << 16));

    scan(ROOTS_ALL);
    assert_int_equal(covered(&global_marker, 8), ROOT_DATA);
    assert_int_equal(covered(region + 100, 8), ROOT_MAPPING);
    assert_int_equal(covered(worker_stack_var, 8), ROOT_STACK);
    assert_int_equal(covered(worker_tls_var, 8), ROOT_STACK);  /* top of its stack mapping */
    assert_int_equal(covered((const void *)&main_stack_var, 8), ROOT_STACK);
    assert_true(covered(&tls_marker, 8) >= 0);
    assert_false(overlaps_any((uintptr_t)hidden, (uintptr_t)hidden + (1 << 16), true));
    munmap(region, 1 << 16);
}

static void segments_mode_reports_data_stacks_tls_only(void **state)
{
    volatile uintptr_t main_stack_var = 1;
    tls_marker = 3;
    uintptr_t *region = map_rw(1 << 16);

    scan(ROOTS_SEGMENTS);
    assert_int_equal(covered(&global_marker, 8), ROOT_DATA);
    assert_int_equal(covered(worker_stack_var, 8), ROOT_STACK);
    assert_int_equal(covered(worker_tls_var, 8), ROOT_STACK);
    assert_int_equal(covered((const void *)&main_stack_var, 8), ROOT_STACK);
    int k = covered(&tls_marker, 8);            /* the main thread's static TLS */
    assert_true(k == ROOT_TLS || k == ROOT_DATA);
    assert_int_equal(covered(region + 100, 8), -1);
    munmap(region, 1 << 16);
}

static _Atomic pid_t exited_tid;
static void *exit_at_once(void *arg)
{
    atomic_store(&exited_tid, (pid_t)syscall(SYS_gettid));
    return arg;
}

/* An exited, not yet joined thread keeps its TCB (and the DTV ld.so malloc'd, which glibc
 * frees at join): in segments mode that TCB must still be a root. */
static void exited_threads_tcb_is_a_root(void **state)
{
    pthread_t t;
    atomic_store(&exited_tid, 0);
    assert_int_equal(pthread_create(&t, NULL, exit_at_once, NULL), 0);
    while (!atomic_load(&exited_tid))
        sched_yield();
    for (;;) {      /* wait until the thread is gone from /proc (its stack stays) */
        char path[64];
        snprintf(path, sizeof path, "/proc/self/task/%d", (int)atomic_load(&exited_tid));
        if (access(path, F_OK) != 0)
            break;
        usleep(1000);
    }
    scan(ROOTS_SEGMENTS);
    assert_true(covered((const void *)t, 16) >= 0);     /* pthread_t is the TCB's address */
    pthread_join(t, NULL);
}

/* After the thread-group leader calls pthread_exit it is a zombie: stops must skip it and
 * the maps must still be read (through our own thread, not the leader's empty view). */
static int leader_state(void)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)getpid());
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 'X';
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    char *rp = strrchr(buf, ')');
    return rp ? rp[2] : '?';
}

static void *after_leader_exit(void *arg)
{
    while (leader_state() != 'Z')
        usleep(1000);
    opt.roots = ROOTS_ALL;
    nrecs = 0;
    heap_lock();
    int rc = stw_stop_all();
    if (rc == 0) {
        roots_scan(record);
        stw_resume_all();
    }
    heap_unlock();
    if (rc != 0)
        _exit(2);
    if (covered(&global_marker, 8) != ROOT_DATA)
        _exit(3);
    _exit(0);
}

static void zombie_leader_does_not_blind_the_scan(void **state)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, after_leader_exit, NULL) != 0)
            _exit(4);
        pthread_exit(NULL);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void own_memory_is_never_a_root(void **state)
{
    for (int mode = ROOTS_ALL; mode <= ROOTS_SEGMENTS; mode++) {
        scan(mode);
        if (heap.size)
            assert_false(overlaps_any(heap.base, heap.base + heap.size, true));
        if (heap.meta_hi > heap.meta_lo)
            assert_false(overlaps_any(heap.meta_lo, heap.meta_hi, true));
        assert_false(overlaps_any(markstack_lo(), markstack_hi(), true));
        uintptr_t klo, khi;
        keep_scratch_range(&klo, &khi);
        if (klo) assert_false(overlaps_any(klo, khi, true));
        /* Registers are the one root inside stw's slot table. */
        const struct stopped_thread *th;
        heap_lock();
        int rc = stw_stop_all();
        size_t n = rc == 0 ? stw_threads(&th) : 0;
        uintptr_t slots = n ? (uintptr_t)th : 0;
        if (rc == 0)
            stw_resume_all();
        heap_unlock();
        assert_true(slots != 0);
        assert_false(overlaps_any(slots, slots + 4096, false));
        int regs = 0;
        for (size_t i = 0; i < nrecs; i++)
            regs += recs[i].kind == ROOT_REGS;
        assert_true(regs >= 2);                 /* the worker and us */
    }
}

static void user_roots_come_and_go(void **state)
{
    uintptr_t *region = map_rw(1 << 16);
    assert_int_equal(roots_add((uintptr_t)region + 3, (uintptr_t)region + 4096 + 5), 0);
    scan(ROOTS_SEGMENTS);
    assert_int_equal(covered(region + 1, 8), ROOT_USER);
    assert_int_equal(covered(region + 511, 8), ROOT_USER);
    assert_int_equal(covered(region + 513, 8), -1);
    roots_remove((uintptr_t)region + 3);
    scan(ROOTS_SEGMENTS);
    assert_int_equal(covered(region + 1, 8), -1);

    /* A user root over a hole is cut to what is mapped. */
    uintptr_t *three = map_rw(3 * 4096);
    munmap((char *)three + 4096, 4096);
    assert_int_equal(roots_add((uintptr_t)three, (uintptr_t)three + 3 * 4096), 0);
    scan(ROOTS_SEGMENTS);       /* record() reads every word: a hole would crash here */
    assert_int_equal(covered(three, 8), ROOT_USER);
    assert_int_equal(covered((char *)three + 8192, 8), ROOT_USER);
    roots_remove((uintptr_t)three);
    munmap(three, 4096);
    munmap((char *)three + 8192, 4096);

    /* The scan reads the table up to the last entry ever used: one behind a removed entry is
     * still scanned, and a new one takes the removed entry's place. */
    uintptr_t a = (uintptr_t)region, b = a + 8192, c = a + 16384;
    assert_int_equal(roots_add(a, a + 64), 0);
    assert_int_equal(roots_add(b, b + 64), 0);
    roots_remove(a);
    scan(ROOTS_SEGMENTS);
    assert_int_equal(covered((void *)b, 8), ROOT_USER);
    assert_int_equal(covered((void *)a, 8), -1);
    assert_int_equal(roots_add(c, c + 64), 0);
    scan(ROOTS_SEGMENTS);
    assert_int_equal(covered((void *)b, 8), ROOT_USER);
    assert_int_equal(covered((void *)c, 8), ROOT_USER);
    roots_remove(b);
    roots_remove(c);
    scan(ROOTS_SEGMENTS);
    assert_int_equal(covered((void *)b, 8), -1);
    assert_int_equal(covered((void *)c, 8), -1);
    munmap(region, 1 << 16);
}

/* An unlinked temporary file one page long. */
static int one_page_file(void)
{
    char path[] = "/tmp/cowgc-roots-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(ftruncate(fd, 4096), 0);
    return fd;
}

/* File mappings that would SIGBUS past the end of the file are not (or not wholly) read. */
static void file_mappings_are_read_only_where_backed(void **state)
{
    int fd = one_page_file();
    char *shared = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *priv = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    assert_true(shared != MAP_FAILED && priv != MAP_FAILED);
    priv[0] = 1;

    scan(ROOTS_ALL);            /* would die of SIGBUS if either tail were read */
    assert_false(overlaps_any((uintptr_t)shared, (uintptr_t)shared + 3 * 4096, true));
    assert_int_equal(covered(priv, 8), ROOT_MAPPING);
    assert_false(overlaps_any((uintptr_t)priv + 4096, (uintptr_t)priv + 3 * 4096, true));

    munmap(shared, 3 * 4096);
    munmap(priv, 3 * 4096);
    close(fd);
}

/* Finding where a file mapping's file ends costs system calls (process_vm_readv probes): a
 * mapping that is never scanned (read-only file contents) is never probed. */
static void unscanned_file_mappings_are_not_probed(void **state)
{
    int fd = one_page_file();
    scan(ROOTS_ALL);
    uint64_t before = roots_probes;
    scan(ROOTS_ALL);
    uint64_t without = roots_probes - before;
    /* Three pages over a one-page file: probing it would take several calls. */
    char *ro = mmap(NULL, 3 * 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    assert_true(ro != MAP_FAILED);
    before = roots_probes;
    scan(ROOTS_ALL);
    uint64_t with = roots_probes - before;
    assert_false(overlaps_any((uintptr_t)ro, (uintptr_t)ro + 3 * 4096, true));
    assert_int_equal(with, without);
    munmap(ro, 3 * 4096);
    close(fd);
}

/* A writable file mapping that is cowgc's own (libcowgc.so's .data page, outside the data
 * segments the scanner reads) is never scanned, so it is never probed either: the probe was a
 * system call at every collection. Without the exclusion the same mapping is probed. */
static void excluded_file_mappings_are_not_probed(void **state)
{
    (void)state;
    int fd = one_page_file();
    char *w = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    assert_true(w != MAP_FAILED);
    w[0] = 1;
    uint64_t before = roots_probes;
    scan(ROOTS_ALL);
    uint64_t probed = roots_probes - before;
    roots_exclude((uintptr_t)w, (uintptr_t)w + 3 * 4096);
    scan(ROOTS_ALL);
    before = roots_probes;
    scan(ROOTS_ALL);
    uint64_t excluded = roots_probes - before;
    assert_false(overlaps_any((uintptr_t)w, (uintptr_t)w + 3 * 4096, true));
    assert_true(probed > 0);
    assert_int_equal(excluded, 0);
    /* The exclusion stays: keep its addresses from being reused by a later test's mapping. */
    assert_true(mmap(w, 3 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == w);
    close(fd);
}

/* Writable PT_LOAD segments of every loaded object, widened to whole pages. */
static struct { uintptr_t lo, hi; } wsegs[128];
static int nwsegs;

static int wseg_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    for (int i = 0; i < info->dlpi_phnum && nwsegs < 128; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W)) continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        wsegs[nwsegs].lo = lo & ~(uintptr_t)4095;
        wsegs[nwsegs].hi = (lo + ph->p_memsz + 4095) & ~(uintptr_t)4095;
        nwsegs++;
    }
    return 0;
}

/* A data segment's file mapping ends on the page holding .data's last byte, past the segment's
 * end: that page is mapped whole, so reading it needs no probe (and a probe per such mapping
 * per collection is what there was). Needs a process whose writable file mappings all belong
 * to data segments, as a test binary's do. */
static void data_segment_mappings_are_not_probed(void **state)
{
    (void)state;
    nwsegs = 0;
    dl_iterate_phdr(wseg_cb, NULL);
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    char line[512];
    int outside = 0, inside = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi, off, ino;
        char perm[8], dev[16];
        if (sscanf(line, "%lx-%lx %7s %lx %15s %lu", &lo, &hi, perm, &off, dev, &ino) != 6) continue;
        if (perm[1] != 'w' || perm[3] != 'p' || ino == 0) continue;
        bool in = false;
        for (int k = 0; k < nwsegs; k++)
            in |= wsegs[k].lo <= lo && wsegs[k].hi >= hi;
        if (in) inside++;
        else outside++;
    }
    fclose(f);
    if (outside || !inside) skip();
    scan(ROOTS_ALL);
    uint64_t before = roots_probes;
    scan(ROOTS_ALL);
    assert_int_equal(roots_probes - before, 0);
}

/* Every range lies inside a readable mapping (checked against /proc/self/maps afterwards). */
static void ranges_are_inside_readable_mappings(void **state)
{
    scan(ROOTS_ALL);
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    static struct { uintptr_t lo, hi; } m[8192];
    size_t nm = 0;
    char line[512];
    while (nm < 8192 && fgets(line, sizeof line, f)) {
        char perms[5];
        if (sscanf(line, "%lx-%lx %4s", &m[nm].lo, &m[nm].hi, perms) == 3 && perms[0] == 'r')
            nm++;
    }
    fclose(f);
    for (size_t i = 0; i < nrecs; i++) {
        if (recs[i].kind == ROOT_REGS)
            continue;
        /* merge adjacent readable mappings as we go */
        uintptr_t at = recs[i].lo;
        bool ok = true;
        while (ok && at < recs[i].hi) {
            ok = false;
            for (size_t j = 0; j < nm; j++)
                if (m[j].lo <= at && at < m[j].hi) {
                    at = m[j].hi;
                    ok = true;
                    break;
                }
        }
        if (!ok)
            fail_msg("range %lx-%lx (kind %d) is not all readable", recs[i].lo, recs[i].hi,
                     recs[i].kind);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(all_mode_reports_every_kind),
        cmocka_unit_test(segments_mode_reports_data_stacks_tls_only),
        cmocka_unit_test(exited_threads_tcb_is_a_root),
        cmocka_unit_test(zombie_leader_does_not_blind_the_scan),
        cmocka_unit_test(own_memory_is_never_a_root),
        cmocka_unit_test(user_roots_come_and_go),
        cmocka_unit_test(file_mappings_are_read_only_where_backed),
        cmocka_unit_test(unscanned_file_mappings_are_not_probed),
        cmocka_unit_test(excluded_file_mappings_are_not_probed),
        cmocka_unit_test(data_segment_mappings_are_not_probed),
        cmocka_unit_test(ranges_are_inside_readable_mappings),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
