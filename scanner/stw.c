/* stw.c -- stopping every other thread of the process with a signal, and letting them go again.
 *
 * Protocol (one stop = one odd value E of world_epoch; even = running):
 *   stopper: claim := E<<32; world_epoch := E; queue the signal (tagged with &cookie) to every
 *            tid of /proc/self/task; wait for their records; re-read /proc/self/task and repeat
 *            until a re-read finds no new tid; record itself; return.
 *   handler: if world_epoch is odd and this thread has not stopped for it yet: claim a slot
 *            (only while claim's epoch is E), fill it, publish its ready := E, wake the
 *            stopper, sleep on world_epoch until it moves. If the thread is inside an
 *            allocator busy section (I5) it only sets tc->stop_pending; stw_deferred_stop()
 *            does the same later with spilled registers.
 *   resume:  world_epoch := E + 1; wake everyone.
 * Threads that never run the handler (found by classify() when they are late, at once for
 * tids that were such threads at the previous stop -- the hints):
 *   - io_uring workers (PF_IO_WORKER in /proc/<tid>/stat): kernel threads in our thread group
 *     with no user stack and no user registers. Left out of the stop (T_IOWORKER).
 *   - asleep in a system call with the signal blocked (glibc's timer_create / mq_notify
 *     SIGEV_THREAD helpers; raw rt_sigprocmask users): counted as stopped (T_ASLEEP) with the
 *     stack pointer and arguments of /proc/<tid>/syscall as its record. Its tcache gets
 *     stop_pending first, so if it wakes it parks at its next busy section entry
 *     (alloc.c busy_enter); one without a cache parks on heap_lock; a pending request parks it
 *     if it unblocks the signal. Whether it stayed asleep (same State S/D and context-switch
 *     counts in /proc/<tid>/status) is checked by stw_world_held() before anything is freed.
 *     Limit: callee-saved registers the syscall wrapper did not spill, and the static TLS of a
 *     thread whose TLS is not on its stack (the main thread's), are not in that record.
 *   - running with the signal blocked (glibc's SIGEV_THREAD callback threads run user code
 *     with every signal blocked): once it has run BLOCKED_CPU_NS of CPU (schedstat) since it
 *     was first seen so, the stop is given up at once (one line under COWGC_VERBOSE, once);
 *     the policy retries later. A thread that is merely preempted inside one of glibc's short
 *     all-blocked windows runs no CPU meanwhile, and is waited for.
 * Invariants:
 *  - Between stw_stop_all() returning 0 and stw_resume_all(), slots [0, nslots) hold one
 *    record per thread of the process (caller included, exited threads and io_uring workers
 *    excluded; a /proc record superseded by the thread's own is dropped), and every thread but
 *    the caller is asleep in the handler or in stw_deferred_stop, or is T_ASLEEP as above.
 *  - A stale or duplicate request is harmless: a thread stops at most once per epoch
 *    (tls_stopped_epoch), claims are tagged with the epoch, and a tagged request that arrives
 *    while no stop is in progress is dropped. Only untagged deliveries reach the program.
 *  - A blocked thread never has more than one of our requests queued by us (SigPnd is looked at
 *    before a hinted thread is signalled), so real-time stop signals cannot pile up.
 *  - Nothing here allocates or takes a lock: slots and bookkeeping live in one mapping made
 *    by stw_init, /proc is read with raw openat/getdents64/read/close system calls (none is a
 *    cancellation point) into stack buffers, waiting is futex.
 *  - A thread that cannot be stopped costs at most STOP_TIMEOUT_NS, then the world is resumed
 *    and stw_stop_all() returns -1.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "scanner.h"
#include "../collector/collector.h"

#define MAX_THREADS 65536                   /* threads one stop can hold, address space permitting */
#define NREGS (sizeof(((struct stopped_thread *)0)->regs) / sizeof(uintptr_t))
#define STOP_TIMEOUT_NS 2000000000ull       /* give up on a stop after 2 s */
#define LIVENESS_PERIOD_NS 20000000ull      /* how often unacknowledged tids are checked */
#define WAIT_SLICE_NS 2000000ull            /* one futex sleep of the stopper */
#define MAX_HINTS 256                       /* tids classified at the previous stop */
#define LISTED_HEAD 16                      /* tids listed in the area's first page */
#define PF_IO_WORKER 0x10                   /* task flag of io_uring's iou-wrk/iou-sqp threads */
#define BLOCKED_CPU_NS 2000000ull           /* CPU time run with the signal blocked: it stays so */

/* The stopper's view of one thread. */
enum tstate {
    T_UNSENT,       /* not yet signalled (queueing failed with EAGAIN) */
    T_SIGNALED,     /* signalled, no record yet */
    T_ACKED,        /* record published */
    T_EXITED,       /* tgkill said ESRCH: gone; if the tid shows up again it is a new thread */
    T_ZOMBIE,       /* still listed but dead (a leader that called pthread_exit) */
    T_IOWORKER,     /* an io_uring worker: not part of the stop */
    T_ASLEEP,       /* asleep in a syscall with the signal blocked: recorded from /proc */
};
struct target {
    pid_t tid;
    uint8_t state;
    uint8_t blocked_runs;   /* checks in a row that found it running with the signal blocked */
    uint64_t switches;      /* T_ASLEEP: its context switches when it was recorded */
    uint64_t cpu_ns;        /* its CPU time at the first of those checks */
};

/* All of stw.c's memory: one MAP_NORESERVE mapping, excluded from the roots: this header,
 * then the arrays it points to, max_threads entries each (fewer than MAX_THREADS only under an
 * address-space limit: a stop that finds more threads is given up). */
struct stw_area {
    struct stopped_thread *slots;           /* follows this header: a few lie on its page */
    struct target *targets;                 /* sorted by tid */
    struct target *listed;                  /* one read of /proc/self/task, sorted (tid only)... */
    struct target listed_head[LISTED_HEAD]; /* ...or here while it has at most LISTED_HEAD */
    pid_t hints[MAX_HINTS];                 /* sorted; kept from one stop to the next */
};

static struct stw_area *area;
static size_t max_threads;
static int stop_sig;
static struct sigaction our_act;
static sigset_t async_mask;                 /* blocked while stopped: all but fault signals */
static char cookie;                         /* its address tags our requests */

static _Atomic uint32_t world_epoch;        /* odd: a stop is in progress */
static _Atomic uint64_t claim;              /* epoch << 32 | slots claimed in that epoch */
static _Atomic uint32_t nack;               /* futex word the stopper sleeps on */
static _Atomic int slot_overflow;

static size_t ntargets;
static size_t nslots;                       /* records valid for stw_threads() */
static pid_t stop_pid;                      /* getpid(), getuid() of the current stop */
static uid_t stop_uid;
static size_t nhints;
static pid_t blocked_tid;                   /* current stop: gave up, this thread runs blocked */
static bool asleep_gone;                    /* current stop: a T_ASLEEP thread vanished */

static __thread uint32_t tls_stopped_epoch; /* the last epoch this thread stopped for */
static __thread bool tls_is_stopper;        /* never stop the thread that is stopping others */
static __thread uint32_t tls_requests;      /* stop requests this thread's handler has answered */

/* ---- small helpers: time, futex, tids ---- */

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void futex_wait(_Atomic uint32_t *w, uint32_t val, uint64_t ns)
{
    struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
    syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, val, ns ? &ts : NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w, int n)
{
    syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static pid_t my_tid(void) { return (pid_t)syscall(SYS_gettid); }

/* Raw system calls: the libc wrappers of open, read and close are cancellation points, and a
 * thread cancelled in here would die holding heap_lock. */
static int sys_open(const char *path, int flags)
{
    return (int)syscall(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC, 0);
}

static void sys_close(int fd) { syscall(SYS_close, fd); }

/* Heapsort by tid: bounded time and no recursion, for up to max_threads entries. */
static void sift(struct target *a, size_t root, size_t n)
{
    for (;;) {
        size_t c = 2 * root + 1;
        if (c >= n)
            return;
        if (c + 1 < n && a[c + 1].tid > a[c].tid)
            c++;
        if (a[root].tid >= a[c].tid)
            return;
        struct target t = a[root]; a[root] = a[c]; a[c] = t;
        root = c;
    }
}

static void sort_targets(struct target *a, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift(a, i, n);
    for (size_t i = n; i-- > 1;) {
        struct target t = a[0]; a[0] = a[i]; a[i] = t;
        sift(a, 0, i);
    }
}

static struct proc_file task_dir = PROC_FILE("/proc/self/task", O_DIRECTORY);   /* kept open */

/* Every tid of /proc/self/task, sorted, into *out: the area's header while there are at most
 * LISTED_HEAD, else area->listed. -1 if /proc cannot be read. */
static long read_tasks(struct target **out)
{
    int fd = proc_file_fd(&task_dir, stop_pid);
    if (fd < 0 || syscall(SYS_lseek, fd, 0L, SEEK_SET) != 0)
        return -1;
    struct target *l = area->listed_head;
    size_t cap = LISTED_HEAD;
    long n = 0;
    /* (A small buffer: a short program's exit check runs on a shallow stack, and each page
     * below what it ever used is one more fault. 80 tids fit.) */
    char buf[2048] __attribute__((aligned(8)));
    for (;;) {
        long got = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (got <= 0) {
            if (got < 0)
                n = -1;
            break;
        }
        for (long off = 0; off < got;) {
            /* struct linux_dirent64: ino(8) off(8) reclen(2) type(1) name[] */
            unsigned short reclen;
            memcpy(&reclen, buf + off + 16, sizeof reclen);
            const char *name = buf + off + 19;
            off += reclen;
            if (*name < '0' || *name > '9')
                continue;
            pid_t tid = 0;
            while (*name >= '0' && *name <= '9')
                tid = tid * 10 + (*name++ - '0');
            if ((size_t)n == cap) {
                if (l != area->listed_head)
                    return -1;
                memcpy(area->listed, area->listed_head, sizeof area->listed_head);
                l = area->listed;
                cap = max_threads;
            }
            l[n++].tid = tid;
        }
    }
    if (n > 0)
        sort_targets(l, (size_t)n);
    *out = l;
    return n;
}

static struct target *find_target(pid_t tid)
{
    size_t lo = 0, hi = ntargets;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (area->targets[mid].tid < tid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ntargets && area->targets[lo].tid == tid ? &area->targets[lo] : NULL;
}

/* Queue the tagged stop request. The tag (SI_QUEUE from our pid with &cookie) is what lets
 * the handler tell our requests from the program's own uses of the signal. */
static int send_request(pid_t tid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = stop_sig;
    si.si_code = SI_QUEUE;
    si.si_pid = stop_pid;
    si.si_uid = stop_uid;
    si.si_value.sival_ptr = &cookie;
    if (syscall(SYS_rt_tgsigqueueinfo, stop_pid, tid, stop_sig, &si) == 0)
        return 0;
    return errno;
}

static void signal_target(struct target *t)
{
    int err = send_request(t->tid);
    t->state = err == 0 ? T_SIGNALED : err == ESRCH ? T_EXITED : T_UNSENT;
}

/* ---- /proc/self/task/<tid>/...: what a thread that does not answer is doing ---- */

/* The whole (small) file into buf, NUL-terminated; its length, or -1 with errno. */
/* All of a small file (up to n - 1 bytes) into buf, NUL-terminated: its length, or -1 when it
 * cannot be opened or its first read fails. Preserves errno; allocates nothing. */
long read_small_file(const char *path, char *buf, size_t n)
{
    int fd = sys_open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    long got = 0;
    while ((size_t)got < n - 1) {
        long r = syscall(SYS_read, fd, buf + got, n - 1 - (size_t)got);
        if (r <= 0) {
            if (r < 0 && got == 0)
                got = -1;
            break;
        }
        got += r;
    }
    int saved = errno;
    sys_close(fd);
    errno = saved;
    if (got >= 0)
        buf[got] = '\0';
    return got;
}

static long read_task_file(pid_t tid, const char *leaf, char *buf, size_t n)
{
    char path[64] = "/proc/self/task/", num[16];
    int k = 0;
    do num[k++] = (char)('0' + tid % 10); while ((tid /= 10) && k < 15);
    size_t p = strlen(path);
    while (k)
        path[p++] = num[--k];
    path[p++] = '/';
    size_t l = strlen(leaf);
    memcpy(path + p, leaf, l + 1);
    return read_small_file(path, buf, n);
}

static const char *skip_spaces(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Decimal, or hex with a 0x prefix; *ok stays true only if digits were found. */
static uint64_t parse_num(const char **pp, bool *ok)
{
    const char *p = skip_spaces(*pp);
    uint64_t v = 0;
    bool any = false;
    if (p[0] == '0' && p[1] == 'x') {
        for (p += 2;; p++, any = true) {
            unsigned d;
            if (*p >= '0' && *p <= '9') d = (unsigned)(*p - '0');
            else if (*p >= 'a' && *p <= 'f') d = (unsigned)(*p - 'a' + 10);
            else break;
            v = v << 4 | d;
        }
    } else {
        for (; *p >= '0' && *p <= '9'; p++, any = true)
            v = v * 10 + (uint64_t)(*p - '0');
    }
    *ok = *ok && any;
    *pp = p;
    return v;
}

/* The value of "Name:" in a status file (a hex mask or a decimal count). */
static bool status_field(const char *buf, const char *name, bool hex, uint64_t *out)
{
    size_t l = strlen(name);
    for (const char *p = buf; *p; ) {
        if (!strncmp(p, name, l) && p[l] == ':') {
            const char *q = skip_spaces(p + l + 1);
            uint64_t v = 0;
            bool any = false;
            for (;; q++) {
                unsigned d;
                if (*q >= '0' && *q <= '9') d = (unsigned)(*q - '0');
                else if (hex && *q >= 'a' && *q <= 'f') d = (unsigned)(*q - 'a' + 10);
                else break;
                v = v * (hex ? 16 : 10) + d;
                any = true;
            }
            *out = v;
            return any;
        }
        while (*p && *p != '\n')
            p++;
        if (*p)
            p++;
    }
    return false;
}

struct task_view {
    char state;             /* stat's state letter; 0 if the thread is gone */
    uint64_t flags;         /* stat's task flags */
};

/* State and flags from stat (after the last ')': state, ppid, pgrp, session, tty, tpgid,
 * flags). false if it could not be read, state 0 if it is gone. */
static bool read_stat(pid_t tid, struct task_view *v)
{
    char buf[512];
    v->state = 0;
    v->flags = 0;
    long got = read_task_file(tid, "stat", buf, sizeof buf);
    if (got < 0)
        return errno == ENOENT || errno == ESRCH;
    const char *rp = NULL;
    for (long i = 0; i < got; i++)
        if (buf[i] == ')')
            rp = buf + i;
    if (!rp || rp + 2 >= buf + got)
        return false;
    v->state = rp[2];
    const char *p = rp + 3;
    for (int f = 0; f < 5; f++) {      /* ppid pgrp session tty_nr tpgid (may be -1) */
        p = skip_spaces(p);
        while (*p && *p != ' ')
            p++;
    }
    bool ok = true;
    v->flags = parse_num(&p, &ok);
    return ok;
}

struct task_sig {
    char state;             /* "State:" letter */
    uint64_t blocked, pending;
    uint64_t switches;      /* voluntary + nonvoluntary context switches */
};

/* True unless the caller's status says it runs under no seccomp filter ("Seccomp: 0"). A
 * filter may kill the process for a system call the program itself never makes (a new
 * thread, for one): what cowgc adds to a collection beyond reading /proc is then left out. */
bool stw_seccomp_filtered(void)
{
    char buf[4096];
    uint64_t mode = 1;
    if (read_task_file((pid_t)syscall(SYS_gettid), "status", buf, sizeof buf) < 0 ||
        !status_field(buf, "Seccomp", false, &mode))
        return true;
    return mode != 0;
}

static bool read_status(pid_t tid, struct task_sig *v)
{
    char buf[4096];
    if (read_task_file(tid, "status", buf, sizeof buf) < 0)
        return false;
    uint64_t vol = 0, nonvol = 0;
    const char *st = strstr(buf, "\nState:");
    if (!st || !status_field(buf, "SigBlk", true, &v->blocked) ||
        !status_field(buf, "SigPnd", true, &v->pending) ||
        !status_field(buf, "voluntary_ctxt_switches", false, &vol) ||
        !status_field(buf, "nonvoluntary_ctxt_switches", false, &nonvol))
        return false;
    v->state = *skip_spaces(st + 7);
    v->switches = vol + nonvol;
    return true;
}

/* CPU time the thread has run, in ns: the first field of schedstat. */
static bool read_cpu(pid_t tid, uint64_t *ns)
{
    char buf[128];
    if (read_task_file(tid, "schedstat", buf, sizeof buf) <= 0)
        return false;
    const char *p = buf;
    bool ok = true;
    *ns = parse_num(&p, &ok);
    return ok;
}

static uint64_t sig_bit(int sig) { return 1ull << (sig - 1); }

/* Where a thread asleep in a system call is: "nr a1 .. a6 sp pc". false if it is running or
 * not inside a system call ("running", "-1 sp pc"). */
static bool read_syscall(pid_t tid, uintptr_t args[6], uintptr_t *sp)
{
    char buf[256];
    if (read_task_file(tid, "syscall", buf, sizeof buf) <= 0)
        return false;
    if (buf[0] < '0' || buf[0] > '9')
        return false;
    const char *p = buf;
    bool ok = true;
    parse_num(&p, &ok);
    for (int i = 0; i < 6; i++)
        args[i] = (uintptr_t)parse_num(&p, &ok);
    *sp = (uintptr_t)parse_num(&p, &ok);
    return ok && *sp;
}

/* ---- the stopped side ---- */

/* Claim a slot of epoch e, record the thread, publish, sleep until the epoch moves. */
static void stop_self(uint32_t e, void *uc)
{
    uint64_t c = atomic_load_explicit(&claim, memory_order_acquire);
    for (;;) {
        if ((uint32_t)(c >> 32) != e)
            return;     /* that stop is already over */
        if ((uint32_t)c >= max_threads) {
            atomic_store(&slot_overflow, 1);
            futex_wake(&nack, 1);
            return;
        }
        if (atomic_compare_exchange_weak(&claim, &c, c + 1))
            break;
    }
    uint32_t idx = (uint32_t)c;
    tls_stopped_epoch = e;
    struct stopped_thread *t = &area->slots[idx];
    t->from_proc = false;
    t->tid = my_tid();
    t->nregs = uc ? arch_regs_from_ucontext(uc, t->regs, NREGS, &t->sp)
                  : arch_spill_regs(t->regs, NREGS, &t->sp);
    t->in_call = !uc;
    t->tp = arch_thread_pointer();
    __atomic_store_n(&t->ready, e, __ATOMIC_RELEASE);
    atomic_fetch_add(&nack, 1);
    futex_wake(&nack, 1);
    while (atomic_load_explicit(&world_epoch, memory_order_acquire) == e)
        futex_wait(&world_epoch, e, 0);
}

static bool is_request(const siginfo_t *si)
{
    return si && si->si_code == SI_QUEUE && si->si_pid == getpid() &&
           si->si_value.sival_ptr == &cookie;
}

static void stop_handler(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    bool ours = is_request(si);
    uint32_t e = atomic_load_explicit(&world_epoch, memory_order_acquire);

    /* Any delivery during a stop stops the thread, ours or not: a standard signal that was
     * already pending swallows the next one, so the program's may stand in for ours. */
    if (ours)
        tls_requests++;
    if ((e & 1) && tls_stopped_epoch != e && !tls_is_stopper) {
        if (!ours)
            tls_requests++;
        struct tcache *tc = tls_tc;
        if (tc && tc->busy)
            tc->stop_pending = 1;   /* I5: stw_deferred_stop() when the busy section ends */
        else
            stop_self(e, uc);
    }
    /* The program's own delivery runs after we resumed, so its handler may allocate. */
    if (!ours)
        signals_forward(sig, si, uc);
    errno = saved;
}

HIDDEN void stw_deferred_stop(void)
{
    int saved = errno;
    struct tcache *tc = tls_tc;
    if (tc)
        tc->stop_pending = 0;
    uint32_t e = atomic_load_explicit(&world_epoch, memory_order_acquire);
    if ((e & 1) && tls_stopped_epoch != e && !tls_is_stopper && area) {
        /* Stopped outside the handler, so block what the handler's sa_mask would have:
         * no program handler may run (and move pointers around) while we are scanned. */
        sigset_t old;
        syscall(SYS_rt_sigprocmask, SIG_BLOCK, &async_mask, &old, _NSIG / 8);
        stop_self(e, NULL);
        syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, _NSIG / 8);
    }
    errno = saved;
}

/* ---- set-up ---- */

/* A stop of a process with a thread or two writes the header's page only. */
_Static_assert(((sizeof(struct stw_area) + 63) & ~(size_t)63) + 2 * sizeof(struct stopped_thread) <= 4096,
               "the first slots share the header's page");

/* The mapping for n threads: the header, then each array 64-byte aligned. */
static size_t area_size(size_t n, size_t off[3])
{
    size_t sz[3] = { n * sizeof(struct stopped_thread), n * sizeof(struct target), n * sizeof(struct target) };
    size_t at = (sizeof(struct stw_area) + 63) & ~(size_t)63;
    for (int i = 0; i < 3; i++) {
        off[i] = at;
        at = (at + sz[i] + 63) & ~(size_t)63;
    }
    return (at + 4095) & ~(size_t)4095;
}

HIDDEN void stw_init(void)
{
    if (area)
        return;
    /* Room for MAX_THREADS threads (30 MiB of address space, touched only as threads come);
     * under an address-space limit at most a sixteenth of cowgc's share, at least 64 threads. */
    size_t off[3], n = MAX_THREADS, len = area_size(n, off);
    while (n > 64 && len > as_share / 16)
        len = area_size(n /= 2, off);
    void *p = MAP_FAILED;
    for (;;) {
        p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED || n <= 64)
            break;
        len = area_size(n /= 2, off);
    }
    if (p == MAP_FAILED) {
        limits_note("collections disabled: the stop-the-world area (%zu KiB for %zu threads) could not be mapped",
                    len >> 10, n);
        return;
    }
    if (n < MAX_THREADS)
        limits_note("collections stop at most %zu threads (a process with more skips them)", n);
    struct stw_area *a = p;
    char *b = p;
    a->slots = (struct stopped_thread *)(b + off[0]);
    a->targets = (struct target *)(b + off[1]);
    a->listed = (struct target *)(b + off[2]);
    max_threads = n;
    roots_exclude((uintptr_t)p, (uintptr_t)p + len);

    stop_sig = opt.signal > 0 ? opt.signal : SIGPWR;
    /* Synchronous faults stay deliverable (a bug in here must crash, not hang); everything
     * else waits until the thread resumes. */
    sigfillset(&async_mask);
    static const int faults[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS, SIGABRT };
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
        sigdelset(&async_mask, faults[i]);
    memset(&our_act, 0, sizeof our_act);
    our_act.sa_sigaction = stop_handler;
    our_act.sa_mask = async_mask;
    /* SA_RESTART: a read() on a pipe interrupted by a stop must not see EINTR. */
    our_act.sa_flags = SA_SIGINFO | SA_RESTART;
    if (signals_take_over(stop_sig, &our_act) != 0) {
        log_line("stw: cannot install the handler for signal %d: collections will be skipped",
                 stop_sig);
        munmap(p, len);
        return;
    }
    area = p;
    /* Once at start-up, whatever COWGC_ROOTS says: roots.c learns which segments are
     * cowgc's own and the static TLS size (dlsym; fine here, we are not stopped). */
    roots_snapshot_segments();
}

HIDDEN bool stw_is_stop_signal(int sig) { return stop_sig && sig == stop_sig; }

/* Called by signals.c after the program asked to change our signal's action. The interposer
 * only records that request, but a raw rt_sigaction would have replaced our handler: check
 * the kernel's view and take the signal back if so. */
HIDDEN void stw_handler_check(int sig)
{
    struct { void *handler; unsigned long flags; void *restorer; uint64_t mask; } k;
    if (!area || sig != stop_sig)
        return;
    if (syscall(SYS_rt_sigaction, sig, NULL, &k, sizeof k.mask) != 0)
        return;
    if (k.handler != (void *)stop_handler) {
        log_line("stw: the handler for signal %d was replaced behind our back; reinstalling", sig);
        signals_take_over(sig, &our_act);
    }
}

CHILD_PATH HIDDEN void stw_fork_child(void)
{
    /* Only the forking thread exists. Epochs keep counting (never reused), so thread-local
     * "already stopped for epoch" marks copied from the parent cannot match a future stop. */
    uint32_t e = atomic_load(&world_epoch);
    if (e & 1)
        atomic_store(&world_epoch, e + 1);
    /* Stores only what changed: after fork() each first store to a page is a copy-on-write
     * fault, and a shell's short-lived children pay it on every fork. */
    if (atomic_load(&claim)) atomic_store(&claim, 0);
    if (atomic_load(&nack)) atomic_store(&nack, 0);
    if (atomic_load(&slot_overflow)) atomic_store(&slot_overflow, 0);
    if (ntargets) ntargets = 0;
    if (nslots) nslots = 0;
    if (nhints) nhints = 0;
    if (tls_is_stopper) tls_is_stopper = false;
    /* classify() finds a thread's cache by tid: this one's was made under the parent's. Not
     * in COWGC_MODE=off (no area: nothing ever stops), where the store was a shell child's
     * copy-on-write fault on its cache's first page, half the time its only one there. */
    struct tcache *tc = tls_tc;
    if (tc && area)
        tc->tid = my_tid();
}

HIDDEN uint32_t stw_requests_seen(void) { return tls_requests; }

/* ---- the stopper ---- */

static bool hinted(pid_t tid)
{
    size_t lo = 0, hi = nhints;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (area->hints[mid] < tid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < nhints && area->hints[lo] == tid;
}

/* Claim a slot of epoch e for the stopper's use; -1 when there is none. */
static long claim_slot(uint32_t e)
{
    uint64_t c = atomic_fetch_add(&claim, 1);
    if ((uint32_t)(c >> 32) != e || (uint32_t)c >= max_threads) {
        atomic_store(&slot_overflow, 1);
        return -1;
    }
    return (long)(uint32_t)c;
}

/* Record a thread asleep in a system call from /proc: its stack from sp, its arguments as
 * registers. Published like a handler's record, but collect_acks leaves it T_ASLEEP. */
static bool record_asleep(uint32_t e, pid_t tid, const uintptr_t args[6], uintptr_t sp)
{
    long idx = claim_slot(e);
    if (idx < 0)
        return false;
    struct stopped_thread *t = &area->slots[idx];
    t->from_proc = true;
    t->tid = tid;
    t->sp = sp;
    t->in_call = false;     /* (a wrapper's syscall instruction is no call: its red zone lives) */
    for (unsigned i = 0; i < 6; i++)
        t->regs[i] = args[i];
    t->nregs = 6;
    t->tp = 0;              /* unknown: a glibc thread's TLS is on its stack */
    __atomic_store_n(&t->ready, e, __ATOMIC_RELEASE);
    return true;
}

/* The cache of thread tid gets stop_pending: it parks at its next busy section (alloc.c).
 * heap_lock is held by our caller, so the list is stable. */
static void park_on_allocation(pid_t tid)
{
    for (struct tcache *tc = heap.tcaches; tc; tc = tc->next)
        if (tc->tid == tid && tc->in_use)
            tc->stop_pending = 1;
}

/* A thread that has not answered (or, hinted, was not asked yet): what is it doing?
 * Sets t->state to T_EXITED, T_ZOMBIE, T_IOWORKER or T_ASLEEP, or leaves it (it will answer,
 * or it runs with the signal blocked: blocked_runs counts that, blocked_tid gives up).
 * A thread still T_UNSENT afterwards has not been asked: ask it. */
static void look_at(struct target *t, uint32_t e);
static void classify(struct target *t, uint32_t e)
{
    look_at(t, e);
    if (t->state == T_UNSENT)
        signal_target(t);
}

static void look_at(struct target *t, uint32_t e)
{
    struct task_view v;
    if (!read_stat(t->tid, &v))
        return;
    if (!v.state) {
        t->state = T_EXITED;
        return;
    }
    if (v.state == 'Z' || v.state == 'X') {
        t->state = T_ZOMBIE;
        return;
    }
    if (v.flags & PF_IO_WORKER) {
        t->state = T_IOWORKER;
        return;
    }
    struct task_sig g;
    if (!read_status(t->tid, &g))
        return;
    if (!(g.blocked & sig_bit(stop_sig))) {
        t->blocked_runs = 0;
        return;
    }
    /* Blocked. One request stays queued, for the moment it unblocks: it parks it then. */
    if (!(g.pending & sig_bit(stop_sig)))
        send_request(t->tid);
    /* stop_pending before the look at the syscall, which waits until the thread is off the
     * CPU: if it is asleep there, it sees the flag whenever it runs again. */
    park_on_allocation(t->tid);
    uintptr_t args[6], sp;
    if ((g.state == 'S' || g.state == 'D') && read_syscall(t->tid, args, &sp)) {
        if (!record_asleep(e, t->tid, args, sp))
            return;
        t->state = T_ASLEEP;
        t->switches = g.switches;
        t->blocked_runs = 0;
        return;
    }
    if (t->state == T_UNSENT)
        t->state = T_SIGNALED;  /* it has a request queued; wait like for the others */
    /* Running (or runnable) with the signal blocked. glibc blocks everything for a few
     * microseconds in pthread_create, fork and friends, and a preempted thread may sit in such
     * a window for long on a busy machine; but one that has run BLOCKED_CPU_NS since it was
     * first seen so without unblocking (which would have delivered our request) stays so. */
    uint64_t cpu;
    bool timed = read_cpu(t->tid, &cpu);
    if (!t->blocked_runs) {
        t->blocked_runs = 1;
        t->cpu_ns = timed ? cpu : 0;
    } else if (timed ? cpu - t->cpu_ns >= BLOCKED_CPU_NS : ++t->blocked_runs >= 3) {
        if (!blocked_tid)
            blocked_tid = t->tid;
    }
}

/* No longer listed: it exited. One counted as stopped while asleep ran to get there. */
static void vanished(struct target *t)
{
    if (t->state == T_ASLEEP)
        asleep_gone = true;
    if (t->state == T_SIGNALED || t->state == T_UNSENT || t->state == T_ASLEEP)
        t->state = T_EXITED;
}

/* Merge a fresh read of /proc/self/task into targets: signal new tids, drop vanished ones.
 * Returns how many tids were new, or -1. */
static long refresh_targets(pid_t self, uint32_t e)
{
    struct target *listed;
    long n = read_tasks(&listed);
    if (n < 0)
        return -1;
    size_t i = 0, nold = ntargets;
    long added = 0;
    for (long j = 0; j < n; j++) {
        pid_t tid = listed[j].tid;
        while (i < nold && area->targets[i].tid < tid)
            vanished(&area->targets[i++]);
        if (i < nold && area->targets[i].tid == tid) {
            struct target *t = &area->targets[i++];
            if (t->state == T_EXITED) {  /* the tid was reused by a new thread */
                t->blocked_runs = 0;
                signal_target(t);
                added++;
            }
            continue;
        }
        if (tid == self)
            continue;
        if (ntargets == max_threads)
            return -1;
        struct target *t = &area->targets[ntargets++];
        t->tid = tid;
        t->blocked_runs = 0;
        t->switches = 0;
        t->cpu_ns = 0;
        if (hinted(tid)) {
            /* It did not answer last time: look before queueing another request. */
            t->state = T_UNSENT;
            classify(t, e);
        } else {
            signal_target(t);
        }
        added++;
    }
    for (; i < nold; i++)
        vanished(&area->targets[i]);
    if (ntargets != nold)
        sort_targets(area->targets, ntargets);
    return added;
}

/* Everyone we signalled has either published a record or is known to be gone. */
static size_t count_pending(void)
{
    size_t n = 0;
    for (size_t i = 0; i < ntargets; i++)
        n += area->targets[i].state == T_SIGNALED || area->targets[i].state == T_UNSENT;
    return n;
}

/* Mark the targets whose records were published since *seen (in claim order), up to limit. */
static void collect_acks(uint32_t e, uint32_t *seen, uint32_t limit)
{
    uint32_t claimed = (uint32_t)atomic_load_explicit(&claim, memory_order_acquire);
    if (claimed > limit)
        claimed = limit;
    while (*seen < claimed &&
           __atomic_load_n(&area->slots[*seen].ready, __ATOMIC_ACQUIRE) == e) {
        struct target *t = area->slots[*seen].from_proc ? NULL : find_target(area->slots[*seen].tid);
        if (t)      /* else a thread we never listed, or a record of ours: recorded all the same */
            t->state = T_ACKED;
        (*seen)++;
    }
}

/* Retry failed sends, drop the dead, sort out those that will not answer: only threads that
 * still exist and can run our handler may keep us waiting. */
static void check_liveness(uint32_t e)
{
    for (size_t i = 0; i < ntargets; i++) {
        struct target *t = &area->targets[i];
        if (t->state == T_UNSENT) {
            signal_target(t);
        } else if (t->state == T_SIGNALED) {
            if (syscall(SYS_tgkill, stop_pid, t->tid, 0) != 0 && errno == ESRCH)
                t->state = T_EXITED;
            else
                classify(t, e);
        }
    }
}

/* Wait until every target acknowledged or vanished. 0, or -1 at the deadline, on a slot
 * overflow, or when a thread runs with the signal blocked (blocked_tid). */
static int wait_acks(uint32_t e, uint32_t *seen, uint64_t start)
{
    uint64_t next_check = mono_ns() + LIVENESS_PERIOD_NS / 4;
    for (;;) {
        uint32_t word = atomic_load(&nack);
        collect_acks(e, seen, UINT32_MAX);
        if (count_pending() == 0)
            return 0;
        if (atomic_load(&slot_overflow) || blocked_tid)
            return -1;
        uint64_t now = mono_ns();
        if (now - start > STOP_TIMEOUT_NS)
            return -1;
        if (now >= next_check) {
            check_liveness(e);
            next_check = now + LIVENESS_PERIOD_NS;
            continue;
        }
        futex_wait(&nack, word, WAIT_SLICE_NS);
    }
}

/* The threads that did not answer this time are looked at first next time. */
static void keep_hints(void)
{
    nhints = 0;
    for (size_t i = 0; i < ntargets && nhints < MAX_HINTS; i++) {
        const struct target *t = &area->targets[i];
        if (t->state == T_IOWORKER || t->state == T_ASLEEP || t->blocked_runs)
            area->hints[nhints++] = t->tid;     /* targets are sorted: so are the hints */
    }
}

static void release(uint32_t e)
{
    atomic_store_explicit(&world_epoch, e + 1, memory_order_release);
    futex_wake(&world_epoch, INT_MAX);
    tls_is_stopper = false;
}

static pid_t first_pending(void)
{
    for (size_t i = 0; i < ntargets; i++)
        if (area->targets[i].state == T_SIGNALED || area->targets[i].state == T_UNSENT)
            return area->targets[i].tid;
    return 0;
}

/* A thread recorded from /proc that then stopped itself (it unblocked the signal, or parked
 * in the allocator) has a complete record of its own: drop the /proc one. No slot below
 * nslots is written any more, so moving them is safe. */
static void drop_superseded(void)
{
    size_t out = 0;
    for (size_t i = 0; i < nslots; i++) {
        if (area->slots[i].from_proc) {
            const struct target *t = find_target(area->slots[i].tid);
            if (!t || t->state != T_ASLEEP)
                continue;
        }
        if (out != i)
            area->slots[out] = area->slots[i];
        out++;
    }
    nslots = out;
}

HIDDEN int stw_stop_all(void)
{
    if (!area)
        return -1;
    int saved = errno;
    pid_t self = my_tid();
    uint64_t start = mono_ns();
    uint32_t e = atomic_load(&world_epoch) + 1;
    cg_assert(e & 1);
    /* I5: COWGC_MODE=off (malloc_gate clear) runs malloc and free outside busy sections. */
    cg_assert(atomic_load_explicit(&malloc_gate, memory_order_relaxed));

    tls_is_stopper = true;
    stop_pid = getpid();    /* not cached across stops: fork changes it */
    stop_uid = getuid();
    ntargets = 0;
    nslots = 0;
    blocked_tid = 0;
    asleep_gone = false;
    atomic_store(&slot_overflow, 0);
    atomic_store(&nack, 0);
    atomic_store_explicit(&claim, (uint64_t)e << 32, memory_order_release);
    atomic_store_explicit(&world_epoch, e, memory_order_release);

    /* Threads created while we stop (by a thread that had not stopped yet) show up in the
     * next read of /proc/self/task; once a read finds nobody new, nobody is left to create
     * more. */
    uint32_t seen = 0;
    const char *why = NULL;
    for (;;) {
        long added = refresh_targets(self, e);
        if (added < 0) {
            why = "cannot list /proc/self/task";
            break;
        }
        if (added == 0 && count_pending() == 0 && !blocked_tid)
            break;
        if (wait_acks(e, &seen, start) != 0) {
            why = atomic_load(&slot_overflow) ? "too many threads" :
                  blocked_tid ? "blocked" : "timeout";
            break;
        }
    }

    /* Our own record, last: slots [0, nslots) are then every record claimed before it. A
     * T_ASLEEP thread that woke may be claiming one right now: wait until each is written. */
    if (!why) {
        long idx = claim_slot(e);
        if (idx < 0) {
            why = "too many threads";
        } else {
            struct stopped_thread *t = &area->slots[idx];
            t->from_proc = false;
            t->tid = self;
            t->nregs = arch_spill_regs(t->regs, NREGS, &t->sp);
            t->in_call = true;
            t->tp = arch_thread_pointer();
            __atomic_store_n(&t->ready, e, __ATOMIC_SEQ_CST);
            nslots = (size_t)idx + 1;
        }
    }
    while (!why && seen < nslots) {
        uint32_t word = atomic_load(&nack);
        collect_acks(e, &seen, (uint32_t)nslots);
        if (seen < nslots) {
            if (mono_ns() - start > STOP_TIMEOUT_NS)
                why = "timeout";
            else
                futex_wait(&nack, word, WAIT_SLICE_NS);
        }
    }
    if (!why)
        drop_superseded();
    keep_hints();
    if (why) {
        pid_t stuck = blocked_tid ? blocked_tid : first_pending();
        release(e);
        nslots = 0;
        if (blocked_tid) {
            /* Not an error: a program design (SIGEV_THREAD callbacks); said once. */
            static bool told;
            if (opt.verbose && !told) {
                told = true;
                log_line("stw: thread %d runs with signal %d blocked (glibc's SIGEV_THREAD "
                         "callbacks do); collection skipped, retried later", (int)stuck, stop_sig);
            }
        } else {
            log_line("stw: could not stop the world (%s%s%d); collection skipped", why,
                     stuck ? ", thread " : "", stuck ? (int)stuck : 0);
        }
        errno = saved;
        return -1;
    }
    errno = saved;
    return 0;
}

/* World stopped: did every T_ASLEEP thread stay asleep? A thread that ran may have moved a
 * pointer where the mark had already looked; then nothing may be freed this time. */
HIDDEN bool stw_world_held(void)
{
    if (!area || !nslots)
        return true;
    int saved = errno;
    bool held = !asleep_gone;
    pid_t woke = 0;
    for (size_t i = 0; held && i < ntargets; i++) {
        const struct target *t = &area->targets[i];
        if (t->state != T_ASLEEP)
            continue;
        struct task_sig g;
        if (!read_status(t->tid, &g) || (g.state != 'S' && g.state != 'D') ||
            g.switches != t->switches) {
            held = false;
            woke = t->tid;
        }
    }
    if (!held && opt.verbose)
        log_line("stw: thread %d, counted as stopped while asleep with signal %d blocked, "
                 "ran during the collection: nothing is freed this time", (int)woke, stop_sig);
    errno = saved;
    return held;
}

HIDDEN void stw_resume_all(void)
{
    int saved = errno;
    uint32_t e = atomic_load(&world_epoch);
    if (e & 1)
        release(e);
    nslots = 0;
    errno = saved;
}

HIDDEN size_t stw_threads(const struct stopped_thread **out)
{
    *out = area ? area->slots : NULL;
    return nslots;
}

HIDDEN uintptr_t stw_thread_tp(size_t i)
{
    return i < nslots ? area->slots[i].tp : 0;
}
