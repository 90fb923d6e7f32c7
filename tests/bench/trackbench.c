/* trackbench.c -- what finding written pages costs: the dirty-page trackers cowgc's generations can use, and mprotect as Boehm GC uses it.
 *
 * A region of MIB MiB is populated, then, ROUNDS times per tracker:
 *   arm     make every page clean again (write-protect / clear the bits)    -> ns per page
 *   write   write one byte into WRITE_PCT% of the pages (spread evenly)       -> ns per written page,
 *           less the same writes with no tracker armed: the write fault itself
 *   find    list the written pages (without re-arming)                         -> ns per page of the region
 *   both    list and re-arm in one step, where the tracker can                 -> ns per page of the region
 * Trackers:
 *   pagemap-scan  userfaultfd write-protection in asynchronous mode (the kernel resolves the
 *                 fault itself), read and re-armed by the PAGEMAP_SCAN ioctl (Linux 6.7+)
 *   soft-dirty    /proc/self/clear_refs "4" re-arms (every page of the process), pagemap bit 55
 *                 says written (needs CONFIG_MEM_SOFT_DIRTY; reported unavailable otherwise)
 *   mprotect      PROT_READ, a SIGSEGV handler records the page and makes it writable (what
 *                 Boehm GC's incremental mode does where soft-dirty bits are missing)
 * For reference, "fresh page": the fault of a first write after MADV_DONTNEED (a zero-filled
 * page, which is what an allocator pays for memory it gave back).
 *
 *   trackbench [MIB [WRITE_PCT [ROUNDS]]]     defaults: 64 25 5
 * Output: a table (median of the rounds), then one "RESULT tracker=... key=value" line each.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ul

/* PAGEMAP_SCAN (linux/fs.h of 6.7+) and the userfaultfd bits newer than Debian 12's headers. */
struct scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
struct region { uint64_t start, end, categories; };
#define SCAN_IOCTL _IOWR('f', 16, struct scan_arg)
#define SCAN_WP_MATCHING (1ull << 0)
#define SCAN_CHECK_WPASYNC (1ull << 1)
#define CAT_WRITTEN (1ull << 1)
#define FEATURE_WP_UNPOPULATED (1ull << 14)
#define FEATURE_WP_ASYNC (1ull << 15)
#define USER_MODE_ONLY 1
#define SOFT_DIRTY_BIT (1ull << 55)

static char *mem;
static size_t npages, stride;
static int pagemap_fd = -1;
static struct region vec[4096];
static uint64_t *pm_buf;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Writes one byte into every stride-th page; returns the pages written. */
static size_t write_pages(unsigned char v)
{
    size_t n = 0;
    for (size_t i = 0; i < npages; i += stride, n++)
        ((volatile char *)mem)[i * PAGE + 8] = (char)v;
    return n;
}

/* ---- pagemap-scan ---- */

static int uffd = -1;

static bool uffd_setup(void)
{
    uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | USER_MODE_ONLY);
    if (uffd < 0)
        return false;
    struct uffdio_api api = { .api = UFFD_API, .features = FEATURE_WP_ASYNC | FEATURE_WP_UNPOPULATED };
    if (ioctl(uffd, UFFDIO_API, &api) != 0) {
        api.features = FEATURE_WP_ASYNC;     /* kernels with async WP but not the unpopulated flag */
        close(uffd);
        uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | USER_MODE_ONLY);
        if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) != 0)
            return false;
    }
    struct uffdio_register reg = { .range = { .start = (uintptr_t)mem, .len = npages * PAGE },
                                   .mode = UFFDIO_REGISTER_MODE_WP };
    return ioctl(uffd, UFFDIO_REGISTER, &reg) == 0;
}

/* Pages reported twice by the last pass: when the output vector fills, the kernel (6.18 here)
 * may set walk_end to the start of the last page table it walked, before the end of the last
 * region it returned, so the next call returns some pages again. */
static long pms_dups;

/* One pass over the region; returns the distinct written pages found (-1: refused). */
static long pms_pass(bool rearm)
{
    long pages = 0;
    uint64_t lo = (uintptr_t)mem, hi = lo + npages * PAGE, seen_end = lo;
    pms_dups = 0;
    while (lo < hi) {
        struct scan_arg a = { .size = sizeof a, .start = lo, .end = hi, .vec = (uintptr_t)vec,
                              .vec_len = sizeof vec / sizeof vec[0],
                              .flags = SCAN_CHECK_WPASYNC | (rearm ? SCAN_WP_MATCHING : 0),
                              .category_mask = CAT_WRITTEN, .return_mask = CAT_WRITTEN };
        long n = ioctl(pagemap_fd, SCAN_IOCTL, &a);
        if (n < 0)
            return -1;
        for (long i = 0; i < n; i++) {
            uint64_t b = vec[i].start, e = vec[i].end;
            if (b < seen_end) {
                pms_dups += (long)(((e < seen_end ? e : seen_end) - b) / PAGE);
                b = seen_end;
            }
            if (e > b) {
                pages += (long)((e - b) / PAGE);
                seen_end = e;
            }
        }
        if (a.walk_end <= lo)
            return -1;
        lo = a.walk_end;
    }
    return pages;
}
static bool pms_arm(void) { return pms_pass(true) >= 0; }
static long pms_find(void) { return pms_pass(false); }
static long pms_both(void) { return pms_pass(true); }

/* ---- soft-dirty ---- */

static bool sd_arm(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = write(fd, "4", 1) == 1;
    close(fd);
    return ok;
}

static long sd_find(void)
{
    size_t bytes = npages * 8;
    off_t off = (off_t)((uintptr_t)mem / PAGE * 8);
    if (pread(pagemap_fd, pm_buf, bytes, off) != (ssize_t)bytes)
        return -1;
    long n = 0;
    for (size_t i = 0; i < npages; i++)
        n += (pm_buf[i] & SOFT_DIRTY_BIT) != 0;
    return n;
}
static long sd_both(void) { long n = sd_find(); return n >= 0 && sd_arm() ? n : -1; }

/* A kernel without CONFIG_MEM_SOFT_DIRTY takes the reset and never sets the bit: check that the
 * bit goes down and comes back on one of our pages. */
static const char *sd_unavailable(void)
{
    volatile char *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return "mmap failed";
    uint64_t clean = 0, dirty = 0;
    off_t off = (off_t)((uintptr_t)p / PAGE * 8);
    p[0] = 1;
    if (!sd_arm()) {
        munmap((void *)p, PAGE);
        return "/proc/self/clear_refs cannot be written";
    }
    bool ok = pread(pagemap_fd, &clean, 8, off) == 8;
    p[0] = 2;
    ok = ok && pread(pagemap_fd, &dirty, 8, off) == 8;
    munmap((void *)p, PAGE);
    if (!ok)
        return "/proc/self/pagemap cannot be read";
    if (!(dirty & SOFT_DIRTY_BIT))
        return "the kernel never sets the soft-dirty bit (CONFIG_MEM_SOFT_DIRTY is off)";
    if (clean & SOFT_DIRTY_BIT)
        return "clear_refs does not clear the soft-dirty bit";
    return NULL;
}

/* ---- mprotect ---- */

static uint8_t *mp_dirty;     /* one byte per page, set by the handler */

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    uintptr_t a = (uintptr_t)si->si_addr;
    if (a < (uintptr_t)mem || a >= (uintptr_t)mem + npages * PAGE) {
        signal(sig, SIG_DFL);
        return;
    }
    size_t i = (a - (uintptr_t)mem) / PAGE;
    mp_dirty[i] = 1;
    mprotect(mem + i * PAGE, PAGE, PROT_READ | PROT_WRITE);
}

static bool mp_arm(void)
{
    memset(mp_dirty, 0, npages);
    return mprotect(mem, npages * PAGE, PROT_READ) == 0;
}
static long mp_find(void)
{
    long n = 0;
    for (size_t i = 0; i < npages; i++)
        n += mp_dirty[i];
    return n;
}
static long mp_both(void) { long n = mp_find(); return mp_arm() ? n : -1; }

/* ---- the measurement ---- */

struct tracker {
    const char *name;
    bool (*arm)(void);
    long (*find)(void);
    long (*both)(void);
    const char *why_not;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
    int pct = argc > 2 ? atoi(argv[2]) : 25;
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    if (mib < 1 || mib > 65536 || pct < 1 || pct > 100 || rounds < 1 || rounds > 1000) {
        fprintf(stderr, "usage: trackbench [MIB [WRITE_PCT(1..100) [ROUNDS]]]\n");
        return 2;
    }
    npages = mib << 8;
    stride = (size_t)(100 / pct);
    mem = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    pm_buf = mmap(NULL, npages * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mp_dirty = mmap(NULL, npages, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED || pm_buf == MAP_FAILED || mp_dirty == MAP_FAILED) {
        perror("trackbench: mmap");
        return 1;
    }
    madvise(mem, npages * PAGE, MADV_NOHUGEPAGE);   /* page-sized faults, as in cowgc's heap */
    memset(mem, 1, npages * PAGE);
    pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pagemap_fd < 0) {
        perror("trackbench: /proc/self/pagemap");
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);

    /* Plain writes (no tracker) and fresh-page faults, for reference. */
    double plain[1000], fresh[1000];
    size_t nw = 0;
    for (int r = 0; r < rounds; r++) {
        uint64_t t0 = now_ns();
        nw = write_pages((unsigned char)r);
        plain[r] = (double)(now_ns() - t0) / (double)nw;
        for (size_t i = 0; i < npages; i += stride)
            madvise(mem + i * PAGE, PAGE, MADV_DONTNEED);
        t0 = now_ns();
        write_pages((unsigned char)r);
        fresh[r] = (double)(now_ns() - t0) / (double)nw;
    }
    memset(mem, 1, npages * PAGE);
    double plain_ns = median(plain, rounds), fresh_ns = median(fresh, rounds);

    struct tracker tr[] = {
        { "pagemap-scan", pms_arm, pms_find, pms_both, NULL },
        { "soft-dirty", sd_arm, sd_find, sd_both, NULL },
        { "mprotect", mp_arm, mp_find, mp_both, NULL },
    };
    if (!uffd_setup())
        tr[0].why_not = "no userfaultfd with asynchronous write-protection";
    else if (pms_find() < 0)
        tr[0].why_not = "no PAGEMAP_SCAN (Linux 6.7+)";
    tr[1].why_not = sd_unavailable();

    printf("trackbench: %zu MiB = %zu pages, %zu written per round (every %zu-th), %d rounds, medians\n",
           mib, npages, nw, stride, rounds);
    printf("reference: a write to a writable page %.1f ns; first write after MADV_DONTNEED (fresh zero page) %.0f ns\n",
           plain_ns, fresh_ns);
    printf("%-13s %12s %16s %14s %14s %14s  %s\n", "tracker", "arm ns/page", "write fault ns",
           "find ns/page", "both ns/page", "found/written", "");
    for (size_t k = 0; k < sizeof tr / sizeof tr[0]; k++) {
        struct tracker *t = &tr[k];
        if (t->why_not) {
            printf("%-13s %12s %16s %14s %14s %14s  unavailable: %s\n", t->name, "-", "-", "-", "-", "-",
                   t->why_not);
            printf("RESULT tracker=%s available=0\n", t->name);
            continue;
        }
        double arm[1000], flt[1000], find[1000], both[1000];
        long found = 0, dups = 0;
        bool ok = true;
        for (int r = 0; r < rounds && ok; r++) {
            memset(mem, 2, npages * PAGE);             /* every page written before arming */
            uint64_t t0 = now_ns();
            ok = t->arm();
            arm[r] = (double)(now_ns() - t0) / (double)npages;
            t0 = now_ns();
            write_pages((unsigned char)(r + 3));
            flt[r] = (double)(now_ns() - t0) / (double)nw - plain_ns;
            t0 = now_ns();
            found = t->find();
            dups = k == 0 ? pms_dups : 0;
            find[r] = (double)(now_ns() - t0) / (double)npages;
            t0 = now_ns();
            ok = ok && found >= 0 && t->both() >= 0;
            both[r] = (double)(now_ns() - t0) / (double)npages;
        }
        if (k == 2)
            mprotect(mem, npages * PAGE, PROT_READ | PROT_WRITE);
        if (!ok) {
            printf("%-13s failed (errno %d: %s)\n", t->name, errno, strerror(errno));
            printf("RESULT tracker=%s available=1 failed=1\n", t->name);
            continue;
        }
        double a = median(arm, rounds), f = median(flt, rounds), d = median(find, rounds),
               b = median(both, rounds);
        printf("%-13s %12.1f %16.0f %14.1f %14.1f %7ld/%-6zu", t->name, a, f, d, b, found, nw);
        if (dups)
            printf("  (%ld pages reported twice: walk_end fell short when the %zu-region vector filled)",
                   dups, sizeof vec / sizeof vec[0]);
        printf("\n");
        printf("RESULT tracker=%s available=1 arm_ns_per_page=%.2f write_fault_ns=%.1f find_ns_per_page=%.2f "
               "both_ns_per_page=%.2f found=%ld written=%zu reported_twice=%ld plain_write_ns=%.2f "
               "fresh_page_ns=%.1f\n", t->name, a, f, d, b, found, nw, dups, plain_ns, fresh_ns);
    }
    return 0;
}
