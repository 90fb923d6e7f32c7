/* stw.c -- stopping every other thread of the process with a signal, and letting them go again.
 *
 * Protocol (one stop = one odd value E of world_epoch; even = running):
 *   stopper: claim := E<<32; world_epoch := E; queue the signal (tagged with &cookie) to every
 *            tid of /proc/self/task; wait for their records; re-read /proc/self/task and repeat
 *            until a re-read finds no new tid; record itself; return.
 *   handler: if world_epoch is odd and this thread has not stopped for it yet: claim a slot
 *            (only while claim's epoch is E), fill it, publish ready[slot] = E, wake the
 *            stopper, sleep on world_epoch until it moves. If the thread is inside an
 *            allocator busy section (I5) it only sets tc->stop_pending; stw_deferred_stop()
 *            does the same later with spilled registers.
 *   resume:  world_epoch := E + 1; wake everyone.
 * Invariants:
 *  - Between stw_stop_all() returning 0 and stw_resume_all(), slots [0, nslots) hold one
 *    complete record per thread of the process (caller included, exited threads excluded),
 *    and every thread but the caller is asleep in the handler or in stw_deferred_stop.
 *  - A stale or duplicate request is harmless: a thread stops at most once per epoch
 *    (tls_stopped_epoch), claims are tagged with the epoch, and a tagged request that arrives
 *    while no stop is in progress is dropped. Only untagged deliveries reach the program.
 *  - Nothing here allocates or takes a lock: slots and bookkeeping live in one mapping made
 *    by stw_init, /proc is read with open/getdents64/read into stack buffers, waiting is futex.
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

#define MAX_THREADS 65536
#define NREGS (sizeof(((struct stopped_thread *)0)->regs) / sizeof(uintptr_t))
#define STOP_TIMEOUT_NS 2000000000ull       /* give up on a stop after 2 s */
#define LIVENESS_PERIOD_NS 20000000ull      /* how often unacknowledged tids are checked */
#define WAIT_SLICE_NS 2000000ull            /* one futex sleep of the stopper */

/* The stopper's view of one thread. */
enum tstate {
    T_UNSENT,       /* not yet signalled (queueing failed with EAGAIN) */
    T_SIGNALED,     /* signalled, no record yet */
    T_ACKED,        /* record published */
    T_EXITED,       /* tgkill said ESRCH: gone; if the tid shows up again it is a new thread */
    T_ZOMBIE,       /* still listed but dead (a leader that called pthread_exit) */
};
struct target { pid_t tid; uint32_t state; };

/* All of stw.c's memory: one MAP_NORESERVE mapping, excluded from the roots. */
struct stw_area {
    struct stopped_thread slots[MAX_THREADS];
    _Atomic uint32_t ready[MAX_THREADS];    /* epoch whose record slots[i] holds */
    uintptr_t tps[MAX_THREADS];             /* thread pointer (fs base) of slots[i] */
    struct target targets[MAX_THREADS];     /* sorted by tid */
    struct target listed[MAX_THREADS];      /* one read of /proc/self/task, sorted (tid only) */
};

static struct stw_area *area;
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

static __thread uint32_t tls_stopped_epoch; /* the last epoch this thread stopped for */
static __thread bool tls_is_stopper;        /* never stop the thread that is stopping others */

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

/* Heapsort by tid: bounded time and no recursion, for up to MAX_THREADS entries. */
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

/* Every tid of /proc/self/task, sorted, into area->listed. -1 if /proc cannot be read. */
static long read_tasks(void)
{
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    long n = 0;
    char buf[8192] __attribute__((aligned(8)));
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
            if (n == MAX_THREADS) {
                close(fd);
                return -1;
            }
            area->listed[n++].tid = tid;
        }
    }
    close(fd);
    if (n > 0)
        sort_targets(area->listed, (size_t)n);
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

/* Dead but still listed: only a zombie thread-group leader (its tgkill succeeds but the
 * signal is never delivered). Read the state letter after the last ')' of stat. */
static bool is_zombie(pid_t tid)
{
    char path[48] = "/proc/self/task/", num[16], buf[512];
    int k = 0;
    do num[k++] = (char)('0' + tid % 10); while ((tid /= 10) && k < 15);
    size_t p = strlen(path);
    while (k)
        path[p++] = num[--k];
    memcpy(path + p, "/stat", 6);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT;
    long got = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (got <= 0)
        return false;
    const char *rp = NULL;
    for (long i = 0; i < got; i++)
        if (buf[i] == ')')
            rp = buf + i;
    return rp && rp + 2 < buf + got && (rp[2] == 'Z' || rp[2] == 'X');
}

/* ---- the stopped side ---- */

/* Claim a slot of epoch e, record the thread, publish, sleep until the epoch moves. */
static void stop_self(uint32_t e, void *uc)
{
    uint64_t c = atomic_load_explicit(&claim, memory_order_acquire);
    for (;;) {
        if ((uint32_t)(c >> 32) != e)
            return;     /* that stop is already over */
        if ((uint32_t)c >= MAX_THREADS) {
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
    t->tid = my_tid();
    t->nregs = uc ? arch_regs_from_ucontext(uc, t->regs, NREGS, &t->sp)
                  : arch_spill_regs(t->regs, NREGS, &t->sp);
    area->tps[idx] = arch_thread_pointer();
    atomic_store_explicit(&area->ready[idx], e, memory_order_release);
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
    if ((e & 1) && tls_stopped_epoch != e && !tls_is_stopper) {
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

HIDDEN void stw_init(void)
{
    if (area)
        return;
    void *p = mmap(NULL, sizeof(struct stw_area), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        log_line("stw: cannot map %zu bytes: collections will be skipped", sizeof(struct stw_area));
        return;
    }
    roots_exclude((uintptr_t)p, (uintptr_t)p + sizeof(struct stw_area));

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
        munmap(p, sizeof(struct stw_area));
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

HIDDEN void stw_fork_child(void)
{
    /* Only the forking thread exists. Epochs keep counting (never reused), so thread-local
     * "already stopped for epoch" marks copied from the parent cannot match a future stop. */
    uint32_t e = atomic_load(&world_epoch);
    if (e & 1)
        atomic_store(&world_epoch, e + 1);
    atomic_store(&claim, 0);
    atomic_store(&nack, 0);
    atomic_store(&slot_overflow, 0);
    ntargets = 0;
    nslots = 0;
    tls_is_stopper = false;
}

/* ---- the stopper ---- */

/* Merge a fresh read of /proc/self/task into targets: signal new tids, drop vanished ones.
 * Returns how many tids were new, or -1. */
static long refresh_targets(pid_t self)
{
    long n = read_tasks();
    if (n < 0)
        return -1;
    size_t i = 0, nold = ntargets;
    long added = 0;
    for (long j = 0; j < n; j++) {
        pid_t tid = area->listed[j].tid;
        while (i < nold && area->targets[i].tid < tid) {
            struct target *t = &area->targets[i++];
            if (t->state == T_SIGNALED || t->state == T_UNSENT)
                t->state = T_EXITED;    /* no longer listed: it exited before stopping */
        }
        if (i < nold && area->targets[i].tid == tid) {
            struct target *t = &area->targets[i++];
            if (t->state == T_EXITED) {  /* the tid was reused by a new thread */
                signal_target(t);
                added++;
            }
            continue;
        }
        if (tid == self)
            continue;
        if (ntargets == MAX_THREADS)
            return -1;
        struct target *t = &area->targets[ntargets++];
        t->tid = tid;
        signal_target(t);
        added++;
    }
    for (; i < nold; i++)
        if (area->targets[i].state == T_SIGNALED || area->targets[i].state == T_UNSENT)
            area->targets[i].state = T_EXITED;
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

/* Mark the targets whose records were published since *seen (in claim order). */
static void collect_acks(uint32_t e, uint32_t *seen)
{
    uint32_t claimed = (uint32_t)atomic_load_explicit(&claim, memory_order_acquire);
    while (*seen < claimed &&
           atomic_load_explicit(&area->ready[*seen], memory_order_acquire) == e) {
        struct target *t = find_target(area->slots[*seen].tid);
        if (t)      /* else a thread we never listed: recorded all the same */
            t->state = T_ACKED;
        (*seen)++;
    }
}

/* Retry failed sends, drop the dead: only threads that still exist may keep us waiting. */
static void check_liveness(void)
{
    for (size_t i = 0; i < ntargets; i++) {
        struct target *t = &area->targets[i];
        if (t->state == T_UNSENT) {
            signal_target(t);
        } else if (t->state == T_SIGNALED) {
            if (syscall(SYS_tgkill, stop_pid, t->tid, 0) != 0 && errno == ESRCH)
                t->state = T_EXITED;
            else if (is_zombie(t->tid))
                t->state = T_ZOMBIE;
        }
    }
}

/* Wait until every target acknowledged or vanished. 0, or -1 at the deadline. */
static int wait_acks(uint32_t e, uint32_t *seen, uint64_t start)
{
    uint64_t next_check = mono_ns() + LIVENESS_PERIOD_NS / 4;
    for (;;) {
        uint32_t word = atomic_load(&nack);
        collect_acks(e, seen);
        if (count_pending() == 0)
            return 0;
        if (atomic_load(&slot_overflow))
            return -1;
        uint64_t now = mono_ns();
        if (now - start > STOP_TIMEOUT_NS)
            return -1;
        if (now >= next_check) {
            check_liveness();
            next_check = now + LIVENESS_PERIOD_NS;
            continue;
        }
        futex_wait(&nack, word, WAIT_SLICE_NS);
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

HIDDEN int stw_stop_all(void)
{
    if (!area)
        return -1;
    int saved = errno;
    pid_t self = my_tid();
    uint64_t start = mono_ns();
    uint32_t e = atomic_load(&world_epoch) + 1;
    cg_assert(e & 1);

    tls_is_stopper = true;
    stop_pid = getpid();    /* not cached across stops: fork changes it */
    stop_uid = getuid();
    ntargets = 0;
    nslots = 0;
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
        long added = refresh_targets(self);
        if (added < 0) {
            why = "cannot list /proc/self/task";
            break;
        }
        if (added == 0 && count_pending() == 0)
            break;
        if (wait_acks(e, &seen, start) != 0) {
            why = atomic_load(&slot_overflow) ? "too many threads" : "timeout";
            break;
        }
    }

    /* Claims come only from threads that exist, and all of them are listed and stopped;
     * still, wait for any claimed slot whose record is being written. */
    uint32_t claimed = (uint32_t)atomic_load(&claim);
    while (!why && seen < claimed) {
        uint32_t word = atomic_load(&nack);
        collect_acks(e, &seen);
        if (seen < claimed) {
            if (mono_ns() - start > STOP_TIMEOUT_NS)
                why = "timeout";
            else
                futex_wait(&nack, word, WAIT_SLICE_NS);
        }
    }

    /* Our own record, last, so slots [0, nslots) are contiguous. */
    if (!why) {
        uint64_t c = atomic_fetch_add(&claim, 1);
        uint32_t idx = (uint32_t)c;
        if (idx >= MAX_THREADS) {
            why = "too many threads";
        } else {
            struct stopped_thread *t = &area->slots[idx];
            t->tid = self;
            t->nregs = arch_spill_regs(t->regs, NREGS, &t->sp);
            area->tps[idx] = arch_thread_pointer();
            atomic_store(&area->ready[idx], e);
            nslots = idx + 1;
        }
    }
    if (why) {
        pid_t stuck = first_pending();
        release(e);
        nslots = 0;
        log_line("stw: could not stop the world (%s%s%d); collection skipped", why,
                 stuck ? ", thread " : "", stuck ? (int)stuck : 0);
        errno = saved;
        return -1;
    }
    errno = saved;
    return 0;
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
    return i < nslots ? area->tps[i] : 0;
}
