/* hooks.c -- thread start, exit and fork: a thread's stack is known, its cache goes back when it exits; fork leaves a consistent heap; blocks the kernel points at stay allocated.
 *
 * Invariants:
 *  - Every thread started through pthread_create records its stack bounds in
 *    hooks_thread_stack before running the program's start routine, so the scanner can tell
 *    a thread's own stack (dead below sp) from any other memory its sp may lie in.
 *  - fork() happens with heap_lock held by the forking thread (prepare handler), unless the
 *    process never started a thread, so no other thread is inside a locked slow path or a
 *    collection; the child rebuilds everything that a
 *    busy section of a vanished thread could have left half-done (alloc_fork_child).
 *  - The exit destructor runs at most once per cache; frees after it go through remote frees
 *    and mallocs through the fallback cache.
 *  - A block the kernel was handed a pointer to, through the calls below, is never reclaimed
 *    (kept, I8, until the program frees it): an alternate signal stack (sigaltstack: Erlang's
 *    BEAM keeps no other pointer, and a signal would write its frame into whatever block took
 *    the slot), an epoll_event's data (epoll_ctl: an event loop's connection, handed back by
 *    epoll_wait), a timer's or a message queue's sigev_value delivered with a signal
 *    (timer_create, mq_notify). The kernel keeps these pointers; the program need not.
 */
#include <dlfcn.h>
#include <errno.h>
#include <mqueue.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "collector.h"
#include "scanner.h"

#define EXPORT __attribute__((visibility("default")))

__thread struct thread_stack hooks_thread_stack __attribute__((tls_model("initial-exec")));

static pthread_key_t exit_key;

/* The next definition of name (glibc's), looked up once; NULL if there is none. */
static void *next_fn(void *_Atomic *slot, const char *name)
{
    void *f = atomic_load_explicit(slot, memory_order_acquire);
    if (!f) {
        f = dlsym(RTLD_NEXT, name);
        if (f) atomic_store_explicit(slot, f, memory_order_release);
    }
    return f;
}

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
static void *_Atomic real_create;

struct start { void *(*fn)(void *); void *arg; };

static void *start_thread(void *p)
{
    struct start s = *(struct start *)p;
    free(p);
    pthread_attr_t a;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
        void *lo;
        size_t size;
        if (pthread_attr_getstack(&a, &lo, &size) == 0) {
            hooks_thread_stack.lo = (uintptr_t)lo;
            hooks_thread_stack.hi = (uintptr_t)lo + size;
        }
        pthread_attr_destroy(&a);
    }
    return s.fn(s.arg);
}

EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    create_fn real = (create_fn)next_fn(&real_create, "pthread_create");
    if (!real)
        return EAGAIN;
    struct start *s = opt.mode == MODE_OFF ? NULL : malloc(sizeof *s);
    if (!s)
        return real(t, attr, fn, arg);      /* the scanner then treats its stack as unknown */
    s->fn = fn;
    s->arg = arg;
    int rc = real(t, attr, start_thread, s);
    if (rc)
        free(s);
    return rc;
}

/* ---- pointers the kernel keeps (see the invariant above; README, limits) ----
 * glibc's sigaltstack and epoll_ctl are the bare system calls: so are these, plus the keep.
 * timer_create and mq_notify do more in glibc (SIGEV_THREAD helpers): glibc's run, found with
 * dlsym. A program that makes the system calls itself is not seen. */

static void kernel_held(uintptr_t p, size_t len)
{
    int e = errno;
    keep_kernel_held(p, len);
    errno = e;
}

EXPORT int sigaltstack(const stack_t *ss, stack_t *old)
{
    long rc = syscall(SYS_sigaltstack, ss, old);
    if (rc == 0 && ss && !(ss->ss_flags & SS_DISABLE)) kernel_held((uintptr_t)ss->ss_sp, ss->ss_size);
    return (int)rc;
}

EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    long rc = syscall(SYS_epoll_ctl, epfd, op, fd, ev);
    if (rc == 0 && ev && (op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD)) kernel_held((uintptr_t)ev->data.ptr, 1);
    return (int)rc;
}

/* SIGEV_SIGNAL and SIGEV_THREAD_ID hand sigev_value to the kernel; glibc's SIGEV_THREAD keeps its
 * own copy in a block of its own, which it reaches. */
static void sigev_held(const struct sigevent *sev)
{
    if (sev && (sev->sigev_notify == SIGEV_SIGNAL || sev->sigev_notify == SIGEV_THREAD_ID))
        kernel_held((uintptr_t)sev->sigev_value.sival_ptr, 1);
}

typedef int (*timer_create_fn)(clockid_t, struct sigevent *, timer_t *);
static void *_Atomic real_timer_create;

EXPORT int timer_create(clockid_t clock, struct sigevent *sev, timer_t *t)
{
    timer_create_fn real = (timer_create_fn)next_fn(&real_timer_create, "timer_create");
    if (!real) { errno = ENOSYS; return -1; }
    int rc = real(clock, sev, t);
    if (rc == 0) sigev_held(sev);
    return rc;
}

typedef int (*mq_notify_fn)(mqd_t, const struct sigevent *);
static void *_Atomic real_mq_notify;

EXPORT int mq_notify(mqd_t q, const struct sigevent *sev)
{
    mq_notify_fn real = (mq_notify_fn)next_fn(&real_mq_notify, "mq_notify");
    if (!real) { errno = ENOSYS; return -1; }
    int rc = real(q, sev);
    if (rc == 0) sigev_held(sev);
    return rc;
}

static bool have_key;

static void thread_exit(void *tc)
{
    int e = errno;
    if (tc) tcache_release(tc);
    errno = e;
}

void hooks_thread_started(void *tc)
{
    if (have_key) pthread_setspecific(exit_key, tc);
}

/* Whether fork_prepare took heap_lock. A process that never started a thread has no other
 * thread to exclude, so, as glibc's own malloc does, it forks without the lock: then neither
 * parent nor child writes the lock's page after fork(), each write being a copy-on-write fault
 * in a shell that forks for every command substitution. */
static bool fork_locked;

CHILD_PATH static void fork_prepare(void)
{
    gc_before_fork();
    bool lock = !__libc_single_threaded;
    if (fork_locked != lock) fork_locked = lock;   /* stored only when it changes */
    if (lock) heap_lock();
    gen_fork_prepare();
}

CHILD_PATH static void fork_parent(void)
{
    gen_fork_parent();
    freeze_fork_parent();
    if (fork_locked) heap_unlock();
}

CHILD_PATH static void fork_child(void)
{
    if (fork_locked) pthread_mutex_init(&heap.lock, NULL);
    alloc_fork_child();
    freeze_fork_child();
    gen_fork_child();
    stw_fork_child();
    gc_fork_child();
}

void hooks_init(void)
{
    if (pthread_key_create(&exit_key, thread_exit) == 0) have_key = true;
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    struct tcache *tc = tls_tc;
    if (tc) hooks_thread_started(tc);
}
