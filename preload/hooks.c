/* hooks.c -- thread exit and fork: a thread's cache goes back when it exits; fork leaves a consistent heap.
 *
 * Invariants:
 *  - fork() happens with heap_lock held by the forking thread (prepare handler), so no other
 *    thread is inside a locked slow path or a collection; the child rebuilds everything that a
 *    busy section of a vanished thread could have left half-done (alloc_fork_child).
 *  - The exit destructor runs at most once per cache; frees after it go through remote frees
 *    and mallocs through the fallback cache.
 */
#include <errno.h>
#include <pthread.h>

#include "collector.h"
#include "scanner.h"

static pthread_key_t exit_key;
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

static void fork_prepare(void)
{
    heap_lock();
}

static void fork_parent(void)
{
    freeze_fork_parent();
    heap_unlock();
}

static void fork_child(void)
{
    pthread_mutex_init(&heap.lock, NULL);
    alloc_fork_child();
    freeze_fork_child();
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
