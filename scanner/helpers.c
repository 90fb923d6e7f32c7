/* helpers.c -- helper marking threads for big collections, and the pool they share work through.
 *
 * Invariants:
 *  - A helper exists only between helpers_start and helpers_finish, both called by the
 *    collector with the world stopped and heap_lock held: no program thread runs beside one,
 *    so fork, exec, setuid broadcasts and the next stop-the-world never meet one.
 *  - A helper runs on its creator's thread pointer (arch_thread_start) and touches no TLS
 *    (but errno, through glibc's syscall(), should widening its CPU mask fail: the collector's,
 *    restored when the collection returns); every signal is blocked in it, so no handler of the
 *    program ever runs on it. It reads the heap, sets marks with atomic operations (gc.c),
 *    pushes on its own stack and takes the pool's lock: nothing else, and never a heap page
 *    write in out-of-line mode (I1).
 *  - A helper's CPU mask is narrower than the collector's (not the collector's CPU) only from
 *    its start until it runs or the collector's own share is done, whichever is first
 *    (away_from_collector, widen); the collector's mask is never changed.
 *  - A range given away whole or in part is scanned whole by someone: a halved range keeps a
 *    word past its cut, so the 4-byte offset straddling it is still read (give_half_range).
 *  - Termination: a marker counts as hungry only with an empty stack, and stops being hungry
 *    only by taking items from the pool under its lock. So "every marker hungry and the pool
 *    empty", seen under the lock, means that no work is left anywhere.
 *  - Nothing is allocated: the helpers' machine stacks and mark stacks and the pool are one
 *    MAP_NORESERVE mapping made at the first start, excluded from the roots.
 *  - cpus_available() is computed once per process (affinity, capped by the cgroup's CPU
 *    quota, read from /proc and /sys without allocating) and is never below 1.
 */
#include <linux/futex.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "scanner.h"

#define MAX_HELPERS 7
#define HELPER_STACK ((size_t)128 << 10)       /* resident_runs keeps 4.6 KiB on it */
#define HELPER_ENTRIES ((size_t)1 << 18)       /* 4 MiB of address space per helper */
#define POOL_ENTRIES ((size_t)1 << 16)
#define GIVE_MAX 256                           /* items given or taken at once */
#define KEEP_ENTRIES 4096                      /* a helper keeps this much of its stack resident */
#define SPLIT_MIN ((uintptr_t)128 << 10)       /* a lone range this long (2 scan pieces) is halved for the hungry */

struct mark_share mark_share = { .markers = 1 };

struct helper {
    struct markstack st;
    atomic_int ctid;            /* 1 while the thread runs; the kernel clears it at exit */
    pid_t tid;
    void (*fn)(struct markstack *);
    uint64_t cpu_ns;            /* its CPU time: collector time, like the collector's own */
    atomic_bool running;        /* it has begun (and widened its CPU mask again) */
};

static struct {
    char *map;                  /* NULL until the first start, MAP_FAILED if there is none */
    struct mark_item *pool;
    atomic_int lock;
    struct helper h[MAX_HELPERS];
    unsigned n;                 /* helpers started by the running collection */
    uint64_t mask[16];          /* the collector's CPU mask, mask_len bytes (0: none read) */
    long mask_len;
} hp;

static void lock(void)
{
    while (atomic_exchange_explicit(&hp.lock, 1, memory_order_acquire))
        while (atomic_load_explicit(&hp.lock, memory_order_relaxed)) __builtin_ia32_pause();
}

static void unlock(void) { atomic_store_explicit(&hp.lock, 0, memory_order_release); }

/* ---- how many CPUs: affinity, and a cgroup's CPU quota ---- */

/* CPUs a quota of `quota` per `period` (the same unit) amounts to, rounded up; 0 = no limit. */
unsigned cgroup_quota_cpus(long long quota, long long period)
{
    if (quota <= 0 || period <= 0) return 0;
    long long n = (quota + period - 1) / period;
    return n > 4096 ? 4096 : (unsigned)n;
}

/* cgroup v2's cpu.max: "max PERIOD" (no limit) or "QUOTA PERIOD"; 0 = no limit or unreadable. */
unsigned cgroup_cpu_max_cpus(const char *text)
{
    char *end;
    if (strncmp(text, "max", 3) == 0) return 0;
    long long quota = strtoll(text, &end, 10);
    if (end == text) return 0;
    long long period = strtoll(end, NULL, 10);
    return cgroup_quota_cpus(quota, period);
}

/* The tighter of two CPU limits, 0 meaning none. */
static unsigned tighter(unsigned a, unsigned b) { return !a || (b && b < a) ? b : a; }

/* The tightest CPU limit on the way from cgroup `path` up to the root of hierarchy `mnt`
 * (a parent's quota binds its children too); 0 = none. v2 reads cpu.max, v1 the CFS pair. */
static unsigned cgroup_walk(const char *mnt, const char *path, bool v2)
{
    char dir[512], file[600], text[64];
    unsigned best = 0;
    if (fmt(dir, sizeof dir, "%s%s", mnt, path) >= sizeof dir - 1) return 0;   /* too long: not ours to guess */
    for (;;) {
        unsigned n = 0;
        if (v2) {
            fmt(file, sizeof file, "%s/cpu.max", dir);
            if (read_small_file(file, text, sizeof text) > 0) n = cgroup_cpu_max_cpus(text);
        } else {
            fmt(file, sizeof file, "%s/cpu.cfs_quota_us", dir);
            if (read_small_file(file, text, sizeof text) > 0) {
                long long quota = strtoll(text, NULL, 10);
                fmt(file, sizeof file, "%s/cpu.cfs_period_us", dir);
                if (quota > 0 && read_small_file(file, text, sizeof text) > 0)
                    n = cgroup_quota_cpus(quota, strtoll(text, NULL, 10));
            }
        }
        best = tighter(best, n);
        char *slash = strrchr(dir, '/');
        if (!slash || (size_t)(slash - dir) < strlen(mnt)) break;
        *slash = 0;
    }
    return best;
}

/* The CPU quota of this process's cgroup, in CPUs rounded up; 0 = none found. Container
 * runtimes (Docker's --cpus, Kubernetes' CPU limits) set it, and affinity does not show it:
 * helpers beyond it would only be throttled with the world stopped. Looks at the usual mount
 * points (/sys/fs/cgroup for v2, or its unified/ and cpu/ directories in hybrid layouts); a
 * hierarchy mounted elsewhere is not found. Reads /proc and /sys, allocates nothing. */
unsigned cgroup_cpus(void)
{
    static char text[4096];
    if (read_small_file("/proc/self/cgroup", text, sizeof text) <= 0) return 0;
    unsigned best = 0;
    for (char *line = text, *next; *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0; else next = line + strlen(line);
        /* "ID:CONTROLLERS:PATH"; v2 is "0::PATH" */
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        *c2 = 0;
        const char *ctl = c1 + 1, *path = c2 + 1;
        unsigned n = 0;
        if (!*ctl && strcmp(line, "0:") == 0) {   /* v2: line is now "0:", the controller list empty */
            n = cgroup_walk("/sys/fs/cgroup", path, true);
            if (!n) n = cgroup_walk("/sys/fs/cgroup/unified", path, true);
        } else {
            bool cpu = false;
            for (const char *t = ctl; *t;) {      /* is "cpu" one of the comma-separated names? */
                size_t len = strcspn(t, ",");
                if (len == 3 && strncmp(t, "cpu", 3) == 0) cpu = true;
                t += len + (t[len] == ',');
            }
            if (cpu) {
                n = cgroup_walk("/sys/fs/cgroup/cpu", path, false);
                if (!n) n = cgroup_walk("/sys/fs/cgroup/cpu,cpuacct", path, false);
            }
        }
        best = tighter(best, n);
    }
    return best;
}

unsigned cpus_available(void)
{
    static unsigned n;
    if (!n) {
        uint64_t mask[16] = { 0 };
        long got = syscall(SYS_sched_getaffinity, 0, sizeof mask, mask);
        unsigned c = 0;
        for (long i = 0; got > 0 && i < got / 8; i++) c += (unsigned)__builtin_popcountll(mask[i]);
        if (!c) c = 1;
        unsigned quota = cgroup_cpus();
        if (quota && quota < c) {
            if (opt.verbose) log_line("CPUs available: %u (%u by affinity, limited by the cgroup's CPU quota)", quota, c);
            c = quota;
        }
        cg_assert(c >= 1);
        n = c;
    }
    return n;
}

/* Layout: the machine stacks, then the helpers' mark stacks, then the pool; room for
 * MAX_HELPERS, made once. */
static bool map_area(void)
{
    if (hp.map) return hp.map != MAP_FAILED;
    /* Under an address-space limit the program's own mappings come first: the helpers' 29 MiB
     * of stacks could be what pushes a later mmap of the program's over the limit. */
    if (as_share != SIZE_MAX) {
        hp.map = MAP_FAILED;
        return false;
    }
    size_t stacks = MAX_HELPERS * HELPER_STACK, marks = MAX_HELPERS * HELPER_ENTRIES * sizeof(struct mark_item);
    size_t len = stacks + marks + POOL_ENTRIES * sizeof(struct mark_item);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    hp.map = p;                 /* MAP_FAILED: never tried again */
    if (p == MAP_FAILED) {
        if (opt.verbose) log_line("no helper markers: %zu MiB of address space for their stacks could not be mapped", len >> 20);
        return false;
    }
    roots_exclude((uintptr_t)p, (uintptr_t)p + len);
    for (unsigned i = 0; i < MAX_HELPERS; i++)
        hp.h[i].st.base = (struct mark_item *)(hp.map + stacks) + i * HELPER_ENTRIES;
    hp.pool = (struct mark_item *)(hp.map + stacks + marks);
    return true;
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts = { 0, 0 };
    syscall(SYS_clock_gettime, CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void widen(pid_t tid)
{
    if (hp.mask_len > 0) syscall(SYS_sched_setaffinity, tid, (size_t)hp.mask_len, hp.mask);
}

static void helper_main(void *arg)
{
    struct helper *h = arg;
    /* Once running, any of the collector's CPUs again: it may have to move to escape one
     * that something else holds. (glibc's syscall() would set errno on failure: the
     * collector's, which the collection restores before it returns.) */
    widen(0);
    atomic_store_explicit(&h->running, true, memory_order_release);
    uint64_t c0 = thread_cpu_ns();
    h->fn(&h->st);
    h->cpu_ns = thread_cpu_ns() - c0;
}

/* A new thread starts on its creator's CPU and waits there for the load balancer to move it
 * (a tick or more), while the creator marks on: a collection of a few milliseconds could end
 * before its helper ran at all (GCBench, 2 CPUs: helper CPU time 0 in 7 MiB minor
 * collections). So each helper starts allowed every CPU of the collector's but the one the
 * collector runs on, which moves it at once. The narrow mask lasts only until it runs (it
 * widens it first thing) or until the collector is done with its own share (helpers_finish
 * widens one that has not run: the other CPUs may all be busy, and the collector waits for
 * it). Helpers exit at the end of the marking: no program thread ever sees either mask.
 * Best effort: a failure changes nothing. */
static void away_from_collector(pid_t tid)
{
    uint64_t mask[16];
    unsigned cpu = 0;
    if (hp.mask_len <= 0 || syscall(SYS_getcpu, &cpu, NULL, NULL) != 0 || cpu >= (unsigned)hp.mask_len * 8) return;
    memcpy(mask, hp.mask, sizeof mask);
    mask[cpu / 64] &= ~(1ull << (cpu % 64));
    uint64_t any = 0;
    for (long i = 0; i < hp.mask_len / 8; i++) any |= mask[i];
    if (any) syscall(SYS_sched_setaffinity, tid, (size_t)hp.mask_len, mask);
}

unsigned helpers_start(unsigned n, void (*fn)(struct markstack *))
{
    if (n > MAX_HELPERS + 1) n = MAX_HELPERS + 1;
    if (n < 2 || !map_area()) return 1;
    atomic_store(&mark_share.hungry, 0);
    atomic_store(&mark_share.count, 0);
    atomic_store(&mark_share.done, false);
    atomic_store_explicit(&mark_share.markers, 1, memory_order_relaxed);
    /* Raw: glibc's sigprocmask keeps its own internal signals open, and the helper inherits
     * this mask. Restored at once for the collecting thread. */
    uint64_t all = ~0ull, old = 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, sizeof all);
    hp.n = 0;
    memset(hp.mask, 0, sizeof hp.mask);
    hp.mask_len = syscall(SYS_sched_getaffinity, 0, sizeof hp.mask, hp.mask);
    for (unsigned i = 0; i < n - 1; i++) {
        struct helper *h = &hp.h[i];
        h->st.depth = 0;
        h->st.cap = HELPER_ENTRIES;
        h->st.overflowed = false;
        h->st.marked_bytes = h->st.overflows = h->st.pages_written = 0;
        h->st.pend_word = NULL;
        h->st.pend_bits = 0;
        h->fn = fn;
        h->cpu_ns = 0;
        atomic_store_explicit(&h->running, false, memory_order_relaxed);
        atomic_store(&h->ctid, 1);
        atomic_fetch_add_explicit(&mark_share.markers, 1, memory_order_relaxed);   /* before it runs: it may go hungry at once */
        pid_t t = arch_thread_start(helper_main, h, hp.map + (i + 1) * HELPER_STACK, (int *)&h->ctid);
        if (t <= 0) {           /* EAGAIN under RLIMIT_NPROC or pids.max: mark alone */
            atomic_fetch_sub_explicit(&mark_share.markers, 1, memory_order_relaxed);
            atomic_store(&h->ctid, 0);
            break;
        }
        h->tid = t;
        hp.n++;
        away_from_collector(t);
    }
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, sizeof old);
    return mark_share_markers();
}

/* A marker whose stack holds one range (the rest of a big block it scans a piece at a time:
 * its pieces wait in its prefetch FIFO, gc.c) gives the range's upper half. It keeps one word
 * past the cut, as the piece cutting does, for the 4-byte offset that straddles it. */
static void give_half_range(struct markstack *st)
{
    struct mark_item *it = &st->base[0];
    if (it->hi - it->lo < SPLIT_MIN) return;
    uintptr_t mid = (it->lo + (it->hi - it->lo) / 2) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    cg_assert(mid > it->lo && mid + sizeof(uintptr_t) < it->hi && !(it->lo & (sizeof(uintptr_t) - 1)));
    lock();
    size_t c = atomic_load_explicit(&mark_share.count, memory_order_relaxed);
    if (c < POOL_ENTRIES) {
        hp.pool[c] = (struct mark_item){ mid, it->hi };
        it->hi = mid + sizeof(uintptr_t);
        atomic_store_explicit(&mark_share.count, c + 1, memory_order_relaxed);
    }
    unlock();
}

void mark_share_give(struct markstack *st)
{
    if (st->depth == 1) give_half_range(st);
    if (st->depth < 2) return;
    lock();
    size_t c = atomic_load_explicit(&mark_share.count, memory_order_relaxed);
    size_t k = st->depth / 2;
    if (k > GIVE_MAX) k = GIVE_MAX;
    if (k > POOL_ENTRIES - c) k = POOL_ENTRIES - c;
    if (k) {
        /* The oldest entries are the biggest subtrees of a depth-first trace: a taker that
         * gets them stays busy. A deep stack (a wide structure) gives its newest instead,
         * without moving the rest. */
        if (st->depth <= 4 * GIVE_MAX) {
            memcpy(hp.pool + c, st->base, k * sizeof *st->base);
            memmove(st->base, st->base + k, (st->depth - k) * sizeof *st->base);
        } else {
            memcpy(hp.pool + c, st->base + st->depth - k, k * sizeof *st->base);
        }
        st->depth -= k;
        atomic_store_explicit(&mark_share.count, c + k, memory_order_relaxed);
    }
    unlock();
}

bool mark_share_wait(struct markstack *st)
{
    cg_assert(st->depth == 0 && st->pend_bits == 0);   /* a drain ends flushed */
    atomic_fetch_add(&mark_share.hungry, 1);
    for (unsigned spins = 1;; spins++) {
        if (atomic_load_explicit(&mark_share.done, memory_order_acquire)) return false;
        size_t seen = atomic_load_explicit(&mark_share.count, memory_order_relaxed);
        if (seen || atomic_load(&mark_share.hungry) == mark_share_markers()) {
            lock();
            size_t c = atomic_load_explicit(&mark_share.count, memory_order_relaxed);
            if (c) {
                unsigned hungry = atomic_load(&mark_share.hungry);
                size_t k = (c + hungry - 1) / hungry;   /* a fair share for each hungry marker */
                if (k > GIVE_MAX) k = GIVE_MAX;
                memcpy(st->base, hp.pool + c - k, k * sizeof *st->base);
                st->depth = k;
                atomic_store_explicit(&mark_share.count, c - k, memory_order_relaxed);
                atomic_fetch_sub(&mark_share.hungry, 1);
                unlock();
                return true;
            }
            if (atomic_load(&mark_share.hungry) == mark_share_markers())
                atomic_store_explicit(&mark_share.done, true, memory_order_release);
            unlock();
            continue;
        }
        /* A busy marker looks at the hungry count every few blocks; yield now and then for a
         * machine with fewer free CPUs than markers. */
        if (spins % 256 == 0) syscall(SYS_sched_yield);
        else __builtin_ia32_pause();
    }
}

void helpers_finish(void (*drain)(struct markstack *), uint64_t *cpu_ns)
{
    if (mark_share_markers() < 2) return;
    for (unsigned i = 0; i < hp.n; i++)
        if (!atomic_load_explicit(&hp.h[i].running, memory_order_acquire)) widen(hp.h[i].tid);
    while (mark_share_wait(&markstack)) drain(&markstack);
    pid_t pid = getpid();
    for (unsigned i = 0; i < hp.n; i++) {
        struct helper *h = &hp.h[i];
        for (int v; (v = atomic_load(&h->ctid)) != 0;)
            syscall(SYS_futex, &h->ctid, FUTEX_WAIT, v, NULL, NULL, 0);
        /* The kernel clears ctid a moment before the thread leaves /proc/self/task: wait for
         * that too, so that the next stop never finds it. */
        for (unsigned k = 0; k < 1000 && syscall(SYS_tgkill, pid, h->tid, 0) == 0; k++) syscall(SYS_sched_yield);
        markstack.marked_bytes += h->st.marked_bytes;
        markstack.overflows += h->st.overflows;
        markstack.pages_written += h->st.pages_written;
        markstack.overflowed |= h->st.overflowed;   /* the collector's recovery pass rescans */
        *cpu_ns += h->cpu_ns;
        cg_assert(h->st.depth == 0 || h->st.overflowed);
        cg_assert(h->st.pend_bits == 0);
        if (h->st.cap > KEEP_ENTRIES)   /* a deep trace must not leave its stack resident */
            madvise(h->st.base + KEEP_ENTRIES, (h->st.cap - KEEP_ENTRIES) * sizeof *h->st.base, MADV_DONTNEED);
    }
    hp.n = 0;
    atomic_store_explicit(&mark_share.markers, 1, memory_order_relaxed);
}
