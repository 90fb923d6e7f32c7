/* init.c -- start-up: options, the heap reserve, the collector's machinery; idempotent and thread-safe.
 *
 * Invariants:
 *  - The first malloc may come before any constructor (from ld.so or another library's
 *    constructor): cowgc_init_slow() runs from whichever comes first and never allocates
 *    through libc.
 *  - cowgc_ready is set as soon as allocation works, before the parts that may call malloc
 *    themselves (sigaction via dlsym, pthread_key_create, pthread_atfork): those recurse into
 *    an allocator that is already up. Collection is enabled only after them (gc_enabled).
 *  - Under an address-space limit (RLIMIT_AS, RLIMIT_DATA) start-up's own mappings fit in
 *    as_share, and whatever that cost (a smaller reserve or area, a feature off) is said in one
 *    line at the end of start-up, in every mode; nothing is given up silently.
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "collector.h"
#include "scanner.h"

volatile int cowgc_ready;
static atomic_int init_state;   /* 0 none, 1 running, 2 done */
static _Thread_local int init_owner;

extern char **environ;

size_t as_share = SIZE_MAX;
static size_t as_limit, as_used;            /* the tighter limit, and what was in use then */
COLD_BSS static char limits_buf[512];
static size_t limits_len;

void limits_note(const char *f, ...)
{
    if (limits_len + 3 >= sizeof limits_buf) return;
    if (limits_len) limits_len += fmt(limits_buf + limits_len, sizeof limits_buf - limits_len, "; ");
    va_list ap;
    va_start(ap, f);
    limits_len += fmt_v(limits_buf + limits_len, sizeof limits_buf - limits_len, f, ap);
    va_end(ap);
}

/* Field k (0-based) of /proc/self/statm, in bytes; 0 when unreadable. Raw system calls: no
 * allocation, no cancellation point. */
static size_t statm_field(unsigned k)
{
    char buf[256];
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    long n = syscall(SYS_read, fd, buf, sizeof buf - 1);
    syscall(SYS_close, fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    const char *p = buf;
    for (unsigned i = 0; i < k; i++) {
        while (*p && *p != ' ') p++;
        if (*p) p++;
    }
    size_t v = 0;
    while (*p >= '0' && *p <= '9') v = v * 10 + (size_t)(*p++ - '0');
    return v * (size_t)getpagesize();
}

/* RLIMIT_AS counts every mapping, RLIMIT_DATA the private writable ones (all of cowgc's).
 * cowgc takes at most two thirds of what the tighter one leaves, most of it for the heap (where
 * the program's malloc'd memory goes); the program keeps the rest for stacks and mappings. */
static void limits_init(void)
{
    struct rlimit as, data;
    size_t room = SIZE_MAX;
    if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) {
        size_t used = statm_field(0);                   /* size: all mappings */
        if (!used) used = as.rlim_cur / 2;              /* /proc unreadable: guess */
        as_limit = as.rlim_cur;
        as_used = used;
        room = as.rlim_cur > used ? as.rlim_cur - used : 0;
    }
    if (getrlimit(RLIMIT_DATA, &data) == 0 && data.rlim_cur != RLIM_INFINITY) {
        size_t used = statm_field(5);                   /* data: private writable + stack */
        if (!used) used = data.rlim_cur / 2;
        size_t r = data.rlim_cur > used ? data.rlim_cur - used : 0;
        if (r < room) { room = r; as_limit = data.rlim_cur; as_used = used; }
    }
    as_share = room == SIZE_MAX ? SIZE_MAX : room / 3 * 2;
}

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
    limits_init();
    if (heap_init() != 0) {
        if (as_share != SIZE_MAX)
            log_line("cannot reserve address space for the heap: even %zu MiB (of COWGC_RESERVE=%zu MiB) "
                     "failed; the address-space limit (%zu MiB, %zu MiB in use) leaves too little; aborting",
                     HEAP_MIN_RESERVE >> 20, (size_t)(opt.reserve >> 20), as_limit >> 20, as_used >> 20);
        else
            log_line("cannot reserve address space for the heap: even %zu MiB (of COWGC_RESERVE=%zu MiB) "
                     "failed; aborting", HEAP_MIN_RESERVE >> 20, (size_t)(opt.reserve >> 20));
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
    /* One line for everything given up, in every process (a pipeline under `ulimit -v` says
     * it once per process: each made its own choice). */
    if (limits_len) {
        if (as_share != SIZE_MAX)
            log_line("address space is limited (%zu MiB, %zu MiB in use at start-up): %s",
                     as_limit >> 20, as_used >> 20, limits_buf);
        else
            log_line("address space is short: %s", limits_buf);
    }
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

CHILD_PATH __attribute__((destructor(101))) static void cowgc_dtor(void)
{
    gc_at_exit();
}
