/* signals.c -- keeps the stop-the-world signal deliverable and ours, whatever the program does with signal APIs.
 *
 * Invariants:
 *  - Once signals_init() has run (and COWGC_MODE is not off), no interposed call can leave
 *    `guard_sig` blocked: it is removed from every mask the program blocks or installs
 *    (sigprocmask, pthread_sigmask, sigsuspend, ppoll, pselect, epoll_pwait, handler masks,
 *    pthread_attr_setsigmask_np). Masks reported back (oldset) are the kernel's, i.e. honest:
 *    the signal shows as unblocked.
 *  - No interposed call consumes `guard_sig`: it is removed from the sets of sigwait,
 *    sigwaitinfo, sigtimedwait and signalfd, so a program that waits for every signal never
 *    dequeues a stop request (which would leave the stopper waiting) and never sees it.
 *    The price: a program that waits for that very signal itself no longer gets it (it is
 *    told once on the log; COWGC_SIGNAL picks another).
 *  - Stripping lets a stop interrupt those waits: sigwaitinfo/sigtimedwait would return EINTR
 *    where the program, having blocked everything, expects none. An EINTR during which this
 *    thread answered a stop request (stw_requests_seen() moved) is retried, with the time
 *    left for sigtimedwait. (A program handler that ran in the same call loses its EINTR.)
 *  - Once stw.c has taken the signal over (signals_take_over), the kernel's action for it is
 *    ours for good: the program's sigaction/signal/sigset calls on it are recorded here
 *    (and reported back in oldact) instead of installed; stw.c forwards deliveries that were
 *    not stop requests through signals_forward().
 *  - Before signals_init, or with COWGC_MODE=off, every interposer is a pass-through.
 *  - dlsym runs only from signals_init or the first interposed call, never inside a signal
 *    handler, never under heap_lock. The recorded handler is read in the signal handler with
 *    atomics only.
 *  - SIG_SETMASK in a thread that has glibc's internal signals (32, 33) blocked -- only its
 *    helper threads do -- leaves them blocked (setmask_keeping_internal).
 * Raw rt_sigprocmask/rt_sigaction syscalls and glibc-internal calls bypass all this; stw.c's
 * bounded wait turns such a thread into a skipped collection, not a hang.
 */
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "preload.h"
#include "../scanner/scanner.h"

#define EXPORT __attribute__((visibility("default")))


typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
typedef int (*sigmask_fn)(int, const sigset_t *, sigset_t *);
typedef sighandler_t (*signal_fn)(int, sighandler_t);

static struct {
    sigaction_fn sigaction;
    sigmask_fn sigprocmask, pthread_sigmask;
    int (*sigsuspend)(const sigset_t *);
    int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
    int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *);
    int (*epoll_pwait)(int, struct epoll_event *, int, int, const sigset_t *);
    int (*attr_setsigmask)(pthread_attr_t *, const sigset_t *);
    int (*sigtimedwait)(const sigset_t *, siginfo_t *, const struct timespec *);
    int (*signalfd)(int, const sigset_t *, int);
    signal_fn signal, bsd_signal, sysv_signal, sigset;
    int (*sighold)(int), (*sigignore)(int), (*siginterrupt)(int, int);
} real;

static volatile int guard_sig;          /* the signal we protect, 0 = pass everything through */
static volatile int taken_sig;          /* the signal whose kernel action is ours */

/* The program's view of its action for taken_sig. The handler fields are what the signal
 * handler reads, so they are atomics; `prog_act` is what oldact reports. */
static struct sigaction prog_act;
static _Atomic(uintptr_t) prog_handler;  /* SIG_DFL/SIG_IGN or a function */
static _Atomic int prog_flags;

static void *resolve(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

/* What an interposer answers when libc's function could not be found. */
static int nosys(void)
{
    errno = ENOSYS;
    return -1;
}

static void resolve_all(void)
{
    if (real.sigaction)
        return;
    /* Assign in dependency order: sigaction last, it is the "resolved" flag. */
    real.sigprocmask = (sigmask_fn)resolve("sigprocmask");
    real.pthread_sigmask = (sigmask_fn)resolve("pthread_sigmask");
    real.sigsuspend = resolve("sigsuspend");
    real.ppoll = resolve("ppoll");
    real.pselect = resolve("pselect");
    real.epoll_pwait = resolve("epoll_pwait");
    real.attr_setsigmask = resolve("pthread_attr_setsigmask_np");
    real.sigtimedwait = resolve("sigtimedwait");
    real.signalfd = resolve("signalfd");
    real.signal = (signal_fn)resolve("signal");
    real.bsd_signal = (signal_fn)resolve("bsd_signal");
    real.sysv_signal = (signal_fn)resolve("sysv_signal");
    real.sigset = (signal_fn)resolve("sigset");
    real.sighold = resolve("sighold");
    real.sigignore = resolve("sigignore");
    real.siginterrupt = resolve("siginterrupt");
    real.sigaction = (sigaction_fn)resolve("sigaction");
}

HIDDEN void signals_init(void)
{
    resolve_all();
    if (!real.sigaction || !real.sigprocmask || !real.pthread_sigmask) {
        log_line("signals: cannot find libc's signal functions; the stop signal is unprotected");
        return;
    }
    guard_sig = opt.mode == MODE_OFF ? 0 : opt.signal;
}

/* The stripped copy of a mask, or the mask itself when it does not name our signal. */
static const sigset_t *strip(const sigset_t *set, sigset_t *copy)
{
    int g = guard_sig;
    if (!g || !set || !sigismember(set, g))
        return set;
    *copy = *set;
    sigdelset(copy, g);
    return copy;
}

/* ---- masks ---- */

static int mask_syscall(int how, const sigset_t *set, sigset_t *old)
{
    /* Only if dlsym failed: the kernel call, without glibc's filtering of its own signals. */
    return (int)syscall(SYS_rt_sigprocmask, how, set, old, _NSIG / 8);
}

/* glibc's SIG_SETMASK always unblocks its two internal signals (SIGCANCEL = SIGTIMER and
 * SIGSETXID, 32 and 33). Its helper threads (timer_create SIGEV_THREAD, mq_notify) block them
 * with internal calls, and code of ours running there -- malloc, libunwind's save/restore of
 * the mask in detect mode -- would unblock SIGTIMER, whose next expiry then kills the process.
 * A thread that has them blocked keeps them blocked: the set is installed with the raw call.
 * Returns -1 (not handled) when they are not blocked, which is every program thread. */
CHILD_PATH static int setmask_keeping_internal(const sigset_t *set, sigset_t *old)
{
    /* Bit operations on the kernel's word: glibc's sigaddset refuses these two signals. */
    const unsigned long internal = 3ul << 31;      /* signals 32 and 33 */
    sigset_t cur, want;
    if (mask_syscall(SIG_BLOCK, NULL, &cur) != 0 || !(cur.__val[0] & internal))
        return -1;
    want = *set;
    want.__val[0] |= cur.__val[0] & internal;
    want.__val[0] &= ~((1ul << (SIGKILL - 1)) | (1ul << (SIGSTOP - 1)));
    if (mask_syscall(SIG_SETMASK, &want, old) != 0)
        return errno ? errno : EINVAL;
    return 0;
}

CHILD_PATH EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    sigset_t copy;
    resolve_all();
    if (how != SIG_UNBLOCK)
        set = strip(set, &copy);
    if (how == SIG_SETMASK && set && guard_sig) {
        int r = setmask_keeping_internal(set, old);
        if (r >= 0) {
            if (r == 0)
                return 0;
            errno = r;
            return -1;
        }
    }
    return real.sigprocmask ? real.sigprocmask(how, set, old) : mask_syscall(how, set, old);
}

CHILD_PATH EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    sigset_t copy;
    resolve_all();
    if (how != SIG_UNBLOCK)
        set = strip(set, &copy);
    if (how == SIG_SETMASK && set && guard_sig) {
        int r = setmask_keeping_internal(set, old);
        if (r >= 0)
            return r;
    }
    if (real.pthread_sigmask)
        return real.pthread_sigmask(how, set, old);
    return mask_syscall(how, set, old) ? errno : 0;
}

EXPORT int sigsuspend(const sigset_t *mask)
{
    sigset_t copy;
    resolve_all();
    return real.sigsuspend ? real.sigsuspend(strip(mask, &copy)) : nosys();
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
    sigset_t copy;
    resolve_all();
    return real.ppoll ? real.ppoll(fds, n, ts, strip(mask, &copy)) : nosys();
}

EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *ts,
                   const sigset_t *mask)
{
    sigset_t copy;
    resolve_all();
    return real.pselect ? real.pselect(n, r, w, e, ts, strip(mask, &copy)) : nosys();
}

EXPORT int epoll_pwait(int fd, struct epoll_event *ev, int max, int timeout, const sigset_t *mask)
{
    sigset_t copy;
    resolve_all();
    return real.epoll_pwait ? real.epoll_pwait(fd, ev, max, timeout, strip(mask, &copy)) : nosys();
}

/* A thread created with a mask must not start life with our signal blocked. */
EXPORT int pthread_attr_setsigmask_np(pthread_attr_t *attr, const sigset_t *mask)
{
    sigset_t copy;
    resolve_all();
    return real.attr_setsigmask ? real.attr_setsigmask(attr, strip(mask, &copy)) : ENOSYS;
}

/* ---- waiting for signals: never dequeue ours ---- */

/* Once per process: a set that names our signal among few others was written for it. */
static void note_wait_for_guard(const sigset_t *set)
{
    static int told;
    int g = guard_sig, n = 0;
    for (int s = 1; s < 32; s++)
        n += sigismember(set, s) == 1;
    if (n < 16 && !__atomic_exchange_n(&told, 1, __ATOMIC_RELAXED))
        log_line("the program waits for signal %d, which cowgc uses to stop threads: it will "
                 "not receive it (set COWGC_SIGNAL to a signal it does not use)", g);
}

static const sigset_t *strip_wait(const sigset_t *set, sigset_t *copy)
{
    const sigset_t *s = strip(set, copy);
    if (s != set)
        note_wait_for_guard(set);
    return s;
}

static uint64_t mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* sigtimedwait on the stripped set; an EINTR that only a stop request caused is retried. */
static int wait_stripped(const sigset_t *set, siginfo_t *info, const struct timespec *timeout)
{
    sigset_t copy;
    resolve_all();
    if (!real.sigtimedwait)
        return nosys();
    set = strip_wait(set, &copy);
    if (!guard_sig)
        return real.sigtimedwait(set, info, timeout);
    uint64_t deadline = 0;
    if (timeout) {
        if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000)
            return real.sigtimedwait(set, info, timeout);   /* EINVAL, from libc */
        uint64_t ns = (uint64_t)timeout->tv_sec * 1000000000ull + (uint64_t)timeout->tv_nsec;
        deadline = mono_now() + ns;
        if (deadline < ns)
            timeout = NULL, deadline = 0;   /* too far to matter */
    }
    struct timespec left, *tp = timeout ? &left : NULL;
    for (;;) {
        if (timeout) {
            uint64_t now = mono_now(), rest = now < deadline ? deadline - now : 0;
            left.tv_sec = (time_t)(rest / 1000000000ull);
            left.tv_nsec = (long)(rest % 1000000000ull);
        }
        uint32_t seen = stw_requests_seen();
        int r = real.sigtimedwait(set, info, tp);
        if (r >= 0 || errno != EINTR || stw_requests_seen() == seen)
            return r;
        if (timeout && mono_now() >= deadline) {
            errno = EAGAIN;     /* what the timeout would have said */
            return -1;
        }
    }
}

EXPORT int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *timeout)
{
    return wait_stripped(set, info, timeout);
}

EXPORT int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
    return wait_stripped(set, info, NULL);
}

EXPORT int sigwait(const sigset_t *set, int *sig)
{
    siginfo_t si;
    int r;
    do
        r = wait_stripped(set, &si, NULL);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return errno;
    *sig = r;
    return 0;
}

/* The descriptor must never report our signal: it is not in its mask. */
EXPORT int signalfd(int fd, const sigset_t *mask, int flags)
{
    sigset_t copy;
    resolve_all();
    return real.signalfd ? real.signalfd(fd, strip_wait(mask, &copy), flags) : nosys();
}

/* ---- actions ---- */

static void record(const struct sigaction *act)
{
    prog_act = *act;
    atomic_store(&prog_flags, act->sa_flags);
    atomic_store(&prog_handler, (uintptr_t)act->sa_handler);
}

static int fake_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    struct sigaction prev = prog_act;
    if (act)
        record(act);
    if (old)
        *old = prev;
    stw_handler_check(sig);
    return 0;
}

CHILD_PATH EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    resolve_all();
    int t = taken_sig;
    if (t && sig == t)
        return fake_sigaction(sig, act, old);
    /* A handler that blocks our signal while it runs would hold off a stop for its duration. */
    struct sigaction copy;
    int g = guard_sig;
    if (g && act && sigismember(&act->sa_mask, g)) {
        copy = *act;
        sigdelset(&copy.sa_mask, g);
        act = &copy;
    }
    return real.sigaction ? real.sigaction(sig, act, old) : nosys();
}

/* signal() and friends install through glibc's internal __sigaction, which we cannot see:
 * emulate them for our signal, pass the rest through. */
static sighandler_t fake_signal(int sig, sighandler_t h, int flags)
{
    struct sigaction act, old;
    memset(&act, 0, sizeof act);
    act.sa_handler = h;
    act.sa_flags = flags;
    fake_sigaction(sig, &act, &old);
    return old.sa_handler;
}

EXPORT sighandler_t signal(int sig, sighandler_t h)
{
    resolve_all();
    int t = taken_sig;
    if (t && sig == t)
        return fake_signal(sig, h, SA_RESTART);   /* glibc signal(): BSD semantics */
    return real.signal ? real.signal(sig, h) : SIG_ERR;
}

EXPORT sighandler_t bsd_signal(int sig, sighandler_t h)
{
    resolve_all();
    int t = taken_sig;
    if (t && sig == t)
        return fake_signal(sig, h, SA_RESTART);
    return real.bsd_signal ? real.bsd_signal(sig, h) : SIG_ERR;
}

EXPORT sighandler_t sysv_signal(int sig, sighandler_t h)
{
    resolve_all();
    int t = taken_sig;
    if (t && sig == t)
        return fake_signal(sig, h, SA_RESETHAND | SA_NODEFER);
    return real.sysv_signal ? real.sysv_signal(sig, h) : SIG_ERR;
}

/* What `signal` means under strict X/Open compilation (see <signal.h>). */
EXPORT sighandler_t __sysv_signal(int sig, sighandler_t h)
{
    return sysv_signal(sig, h);
}

EXPORT sighandler_t sigset(int sig, sighandler_t h)
{
    resolve_all();
    int t = taken_sig;
    if (t && sig == t) {
        if (h == SIG_HOLD)      /* holding our signal is exactly what we cannot allow */
            return (sighandler_t)atomic_load(&prog_handler);
        return fake_signal(sig, h, 0);
    }
    return real.sigset ? real.sigset(sig, h) : SIG_ERR;
}

EXPORT int sighold(int sig)
{
    resolve_all();
    int g = guard_sig;
    if (g && sig == g)
        return 0;
    return real.sighold ? real.sighold(sig) : nosys();
}

EXPORT int sigignore(int sig)
{
    resolve_all();
    int t = taken_sig;
    if (t && sig == t) {
        fake_signal(sig, SIG_IGN, 0);
        return 0;
    }
    return real.sigignore ? real.sigignore(sig) : nosys();
}

EXPORT int siginterrupt(int sig, int flag)
{
    resolve_all();
    int t = taken_sig;
    if (t && sig == t) {
        struct sigaction act = prog_act;
        if (flag)
            act.sa_flags &= ~SA_RESTART;
        else
            act.sa_flags |= SA_RESTART;
        fake_sigaction(sig, &act, NULL);
        return 0;
    }
    return real.siginterrupt ? real.siginterrupt(sig, flag) : nosys();
}

/* ---- for stw.c ---- */

/* Install `ours` for sig for good. Whatever was installed before (a handler set up by a
 * constructor that ran before us) becomes the program's recorded action. Also unblocks sig
 * in the calling thread: the mask may have been inherited blocked across exec. */
HIDDEN int signals_take_over(int sig, const struct sigaction *ours)
{
    struct sigaction old;
    resolve_all();
    if (!real.sigaction)
        return -1;
    if (real.sigaction(sig, ours, &old) != 0)
        return -1;
    if (old.sa_handler != ours->sa_handler)
        record(&old);
    taken_sig = sig;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    mask_syscall(SIG_UNBLOCK, &s, NULL);
    return 0;
}

/* Deliver a signal that was not a stop request to the program's own handler, if it has one.
 * SIG_DFL is treated as SIG_IGN: the default action of SIGPWR (terminate) would turn a stray
 * signal into a crash that the program, without cowgc, would have had anyway -- but a stale
 * stop request must never kill it, and the two cannot always be told apart. */
HIDDEN bool signals_forward(int sig, siginfo_t *si, void *uc)
{
    uintptr_t h = atomic_load(&prog_handler);
    int flags = atomic_load(&prog_flags);
    if (h == (uintptr_t)SIG_DFL || h == (uintptr_t)SIG_IGN)
        return false;
    if (flags & SA_RESETHAND)
        atomic_store(&prog_handler, (uintptr_t)SIG_DFL);
    if (flags & SA_SIGINFO)
        ((void (*)(int, siginfo_t *, void *))h)(sig, si, uc);
    else
        ((void (*)(int))h)(sig);
    return true;
}
