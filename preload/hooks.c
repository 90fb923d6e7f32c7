/* hooks.c -- thread start, exit and fork: a thread's stack is known, its cache goes back when it exits; fork leaves a consistent heap; a malloc'd sigaltstack stays allocated.
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
 *  - An alternate signal stack registered through sigaltstack lies in no reclaimable block: the
 *    kernel may hold the only pointer to it (Erlang's BEAM keeps none), and a signal would
 *    write its frame into whatever block took the slot.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "collector.h"
#include "scanner.h"

#define EXPORT __attribute__((visibility("default")))

__thread struct thread_stack hooks_thread_stack __attribute__((tls_model("initial-exec")));

static pthread_key_t exit_key;

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
static _Atomic(create_fn) real_create;

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
    create_fn real = atomic_load_explicit(&real_create, memory_order_acquire);
    if (!real) {
        real = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
        if (!real)
            return EAGAIN;
        atomic_store_explicit(&real_create, real, memory_order_release);
    }
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

/* glibc's sigaltstack is the bare system call: so is this one, plus the keep. (A program that
 * makes the system call itself is not seen: README, limits.) */
EXPORT int sigaltstack(const stack_t *ss, stack_t *old)
{
    long rc = syscall(SYS_sigaltstack, ss, old);
    if (rc == 0 && ss && !(ss->ss_flags & SS_DISABLE)) {
        int e = errno;
        keep_kernel_held((uintptr_t)ss->ss_sp, ss->ss_size);
        errno = e;
    }
    return (int)rc;
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
