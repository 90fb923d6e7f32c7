/* init.c -- start-up: options, the heap reserve, the collector's machinery; idempotent and thread-safe.
 *
 * Invariants:
 *  - The first malloc may come before any constructor (from ld.so or another library's
 *    constructor): cowgc_init_slow() runs from whichever comes first and never allocates
 *    through libc.
 *  - cowgc_ready is set as soon as allocation works, before the parts that may call malloc
 *    themselves (sigaction via dlsym, pthread_key_create, pthread_atfork): those recurse into
 *    an allocator that is already up. Collection is enabled only after them (gc_enabled).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "collector.h"
#include "scanner.h"

volatile int cowgc_ready;
static atomic_int init_state;   /* 0 none, 1 running, 2 done */
static _Thread_local int init_owner;

extern char **environ;

void cowgc_init_slow(void)
{
    int expect = 0;
    if (!atomic_compare_exchange_strong(&init_state, &expect, 1)) {
        /* Recursion from our own start-up (the allocator is already usable by then), or
         * another thread racing us: wait until allocation works. */
        if (init_owner) return;
        while (!cowgc_ready) sched_yield();
        return;
    }
    init_owner = 1;
    options_init(environ, getauxval(AT_SECURE) != 0);
    log_open();
    if (heap_init() != 0) {
        log_line("cannot reserve address space for the heap (COWGC_RESERVE=%zu MiB); aborting",
                 (size_t)(opt.reserve >> 20));
        abort();
    }
    markstack_init();
    if (opt.roots == ROOTS_SEGMENTS) roots_note_startup();
    leak_init();
    cowgc_ready = 1;
    if (opt.verbose) options_print(log_fd());
    if (opt.mode != MODE_OFF) {
        stw_init();
        signals_init();
    }
    hooks_init();
    gc_init();
    atomic_store(&init_state, 2);
    init_owner = 0;
}

__attribute__((constructor(101))) static void cowgc_ctor(void)
{
    cowgc_ensure_init();
    /* The main thread gets its cache now so its exit hooks are registered early. */
    tcache_get();
    leak_late_init();
}

__attribute__((destructor(101))) static void cowgc_dtor(void)
{
    gc_at_exit();
}
