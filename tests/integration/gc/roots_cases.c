/* roots_cases.c -- blocks whose only pointer lives in an unusual root must survive forced collections.
 *
 * usage: roots_cases CASE   (data, coro-pool, coro-bss, altstack-bss, altstack-heap, altstack-kernel,
 *                            epoll-data, timer-value, shared-fork, readonly, readonly-data,
 *                            setstack-pool, collector-exited)
 * Each case allocates KEEP blocks, fills them with a pattern, hides every pointer to them
 * except the one in the root under test, collects (cowgc_collect, found with dlsym) while
 * allocating garbage of the same size so that a wrongly reclaimed slot is reused and
 * overwritten, and then checks the pattern. Without cowgc the same program passes trivially.
 * Exit 0: every block intact; 1: a block was lost (the message names the case).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "cowgc.h"

#define KEEP 16
#define SIZE 48
#define STACK (64 * 1024)

static void (*collect)(void);
static const char *which;

static void fill(void *p, unsigned tag)
{
    memset(p, (int)(0x40 + tag % 64), SIZE);
}

static int check(void *p, unsigned tag, const char *where)
{
    const unsigned char *c = p;
    for (int i = 0; i < SIZE; i++)
        if (c[i] != (unsigned char)(0x40 + tag % 64)) {
            fprintf(stderr, "roots_cases %s: block %u held in %s was reclaimed (byte %d is 0x%02x)\n",
                    which, tag, where, i, c[i]);
            return 1;
        }
    return 0;
}

/* Collections with garbage of the same size class in between, whose contents differ. */
static void churn_sized(size_t size, int count)
{
    for (int round = 0; round < 3; round++) {
        if (collect) collect();
        for (int i = 0; i < count; i++) {
            volatile char *g = malloc(size);
            memset((char *)g, 0xEE, size);
        }
    }
    if (collect) collect();
}

static void churn(void) { churn_sized(SIZE, 2000); }

/* ---- data: an initialised global and a bss global (an ordinary user's process too) ---- */
static void *data_keep[KEEP] = { (void *)1 };
static void *bss_keep[KEEP];

static int case_data(void)
{
    for (unsigned i = 0; i < KEEP; i++) {
        fill(data_keep[i] = malloc(SIZE), i);
        fill(bss_keep[i] = malloc(SIZE), 100 + i);
    }
    churn();
    int bad = 0;
    for (unsigned i = 0; i < KEEP; i++)
        bad |= check(data_keep[i], i, ".data") | check(bss_keep[i], 100 + i, ".bss");
    return bad;
}

/* ---- coroutines: a suspended coroutine's stack lies below the running one's ---- */
static ucontext_t main_ctx, co_ctx[2];
static int co_bad;

static void co_keeper(void)
{
    void *volatile keep[KEEP];
    for (unsigned i = 0; i < KEEP; i++)
        fill(keep[i] = malloc(SIZE), 200 + i);
    swapcontext(&co_ctx[0], &main_ctx);         /* suspended while the other one collects */
    for (unsigned i = 0; i < KEEP; i++)
        co_bad |= check(keep[i], 200 + i, "a suspended coroutine's stack");
}

static void co_collector(void)
{
    churn();                                    /* runs on the higher coroutine stack */
}

static int run_coroutines(char *lo_stack, char *hi_stack)
{
    getcontext(&co_ctx[0]);
    co_ctx[0].uc_stack.ss_sp = lo_stack;
    co_ctx[0].uc_stack.ss_size = STACK;
    co_ctx[0].uc_link = &main_ctx;
    makecontext(&co_ctx[0], co_keeper, 0);
    swapcontext(&main_ctx, &co_ctx[0]);         /* keeper allocates and yields */
    ucontext_t c1;
    getcontext(&c1);
    c1.uc_stack.ss_sp = hi_stack;
    c1.uc_stack.ss_size = STACK;
    c1.uc_link = &main_ctx;
    makecontext(&c1, co_collector, 0);
    swapcontext(&main_ctx, &c1);
    swapcontext(&main_ctx, &co_ctx[0]);         /* keeper checks and returns */
    return co_bad;
}

static struct { char stacks[2][STACK]; } __attribute__((aligned(4096))) co_bss;

static int case_coro_pool(void)
{
    char *pool = mmap(NULL, 4 * STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pool == MAP_FAILED) return 2;
    return run_coroutines(pool, pool + 3 * STACK);
}

static int case_coro_bss(void)
{
    return run_coroutines(co_bss.stacks[0], co_bss.stacks[1]);
}

/* ---- a signal handler on an alternate stack collects ---- */
static struct { void *keep[KEEP]; char stack[STACK]; } __attribute__((aligned(4096))) alt_bss;

static void on_signal(int sig)
{
    (void)sig;
    churn();
}

static int altstack(void *stack, void **keep, const char *where)
{
    stack_t ss = { .ss_sp = stack, .ss_size = STACK };
    if (sigaltstack(&ss, NULL)) return 2;
    struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_ONSTACK };
    sigaction(SIGUSR1, &sa, NULL);
    for (unsigned i = 0; i < KEEP; i++)
        fill(keep[i] = malloc(SIZE), 300 + i);
    raise(SIGUSR1);
    int bad = 0;
    for (unsigned i = 0; i < KEEP; i++)
        bad |= check(keep[i], 300 + i, where);
    return bad;
}

static int case_altstack_bss(void)
{
    return altstack(alt_bss.stack, alt_bss.keep, ".bss below a sigaltstack in use");
}

static int case_altstack_heap(void)
{
    void *volatile keep[KEEP];                   /* on the real stack, not the alternate one */
    return altstack(malloc(STACK), (void **)keep, "the stack of a thread on a malloc'd sigaltstack");
}

/* ---- a malloc'd sigaltstack whose only pointer is the kernel's (Erlang's BEAM does this) ---- */
#define ALT (16 * 1024)
static volatile int alt_on_stack = -1;

static void on_alt_signal(int sig)
{
    (void)sig;
    stack_t cur;
    char here;
    alt_on_stack = sigaltstack(NULL, &cur) == 0 && (uintptr_t)&here >= (uintptr_t)cur.ss_sp &&
                   (uintptr_t)&here < (uintptr_t)cur.ss_sp + cur.ss_size;
}

/* Registers the stack and forgets it: in a function of its own, whose frame is overwritten
 * afterwards (the pointer's only copy is then the kernel's). */
static __attribute__((noinline)) int alt_register(void)
{
    stack_t ss = { .ss_sp = malloc(ALT), .ss_size = ALT };
    if (!ss.ss_sp) return 2;
    memset(ss.ss_sp, 0x5A, ALT);
    if (sigaltstack(&ss, NULL)) return 2;
    ss.ss_sp = NULL;
    return 0;
}

static __attribute__((noinline)) void scrub_stack(void)
{
    volatile char buf[8192];
    memset((char *)buf, 0, sizeof buf);
}

static int case_altstack_kernel(void)
{
    if (alt_register()) return 2;
    scrub_stack();
    /* Garbage of the stack's size: a reclaimed stack's slot is handed out again and overwritten. */
    churn_sized(ALT, 64);
    stack_t cur;
    if (sigaltstack(NULL, &cur)) return 2;
    const unsigned char *c = cur.ss_sp;
    for (size_t i = 0; i < ALT; i++)
        if (c[i] != 0x5A) {
            fprintf(stderr, "roots_cases %s: the sigaltstack in use was reclaimed (byte %zu is 0x%02x)\n",
                    which, i, c[i]);
            return 1;
        }
    struct sigaction sa = { .sa_handler = on_alt_signal, .sa_flags = SA_ONSTACK };
    sigaction(SIGUSR2, &sa, NULL);
    raise(SIGUSR2);
    if (alt_on_stack != 1) {
        fprintf(stderr, "roots_cases %s: the handler did not run on the alternate stack\n", which);
        return 1;
    }
    return 0;
}

/* ---- epoll_event.data.ptr: a connection's block that only the kernel's interest list holds ---- */
static __attribute__((noinline)) int epoll_register(int ep, int fd, unsigned tag)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = malloc(SIZE) };
    if (!ev.data.ptr) return 2;
    fill(ev.data.ptr, tag);
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) return 2;
    ev.data.ptr = NULL;
    return 0;
}

static int case_epoll_data(void)
{
    int ep = epoll_create1(0), fds[KEEP][2];
    if (ep < 0) return 2;
    for (unsigned i = 0; i < KEEP; i++)
        if (pipe(fds[i]) || epoll_register(ep, fds[i][0], 900)) return 2;
    scrub_stack();
    churn();
    for (unsigned i = 0; i < KEEP; i++)
        if (write(fds[i][1], "x", 1) != 1) return 2;
    struct epoll_event ev[KEEP];
    int n = epoll_wait(ep, ev, KEEP, 1000), bad = n == KEEP ? 0 : 1;
    for (int i = 0; i < n; i++)
        bad |= check(ev[i].data.ptr, 900, "an epoll_event's data (the kernel's interest list)");
    return bad;
}

/* ---- a POSIX timer's sigev_value: delivered with its signal, held by the kernel until then ---- */
static __attribute__((noinline)) int timer_register(timer_t *t, int sig)
{
    struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = sig };
    sev.sigev_value.sival_ptr = malloc(SIZE);
    if (!sev.sigev_value.sival_ptr) return 2;
    fill(sev.sigev_value.sival_ptr, 950);
    if (timer_create(CLOCK_MONOTONIC, &sev, t)) return 2;
    sev.sigev_value.sival_ptr = NULL;
    return 0;
}

static int case_timer_value(void)
{
    int sig = SIGRTMIN + 3;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    if (sigprocmask(SIG_BLOCK, &set, NULL)) return 2;
    timer_t t;
    if (timer_register(&t, sig)) return 2;
    scrub_stack();
    churn();
    struct itimerspec its = { .it_value = { 0, 1000000 } };
    if (timer_settime(t, 0, &its, NULL)) return 2;
    siginfo_t info;
    if (sigwaitinfo(&set, &info) != sig) return 2;
    return check(info.si_value.sival_ptr, 950, "a timer's sigev_value (the kernel's timer)");
}

/* ---- shared memory written before a fork: no page-table entries in the child ---- */
static int case_shared_fork(void)
{
    size_t len = 4 << 20;
    void **shm = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shm == MAP_FAILED) return 2;
    for (unsigned i = 0; i < KEEP; i++)
        fill(shm[i * 1024] = malloc(SIZE), 400 + i);   /* one pointer every 8 KiB */
    pid_t pid = fork();
    if (pid == 0) {
        churn();
        int bad = 0;
        for (unsigned i = 0; i < KEEP; i++)
            bad |= check(shm[i * 1024], 400 + i, "a MAP_SHARED region written before fork");
        _exit(bad);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

/* ---- a pointer table made read-only after filling it ---- */
static struct { void *keep[KEEP]; } __attribute__((aligned(4096))) ro_data[2] = { { { (void *)1 } } };

static int case_readonly(void)    /* COWGC_ROOTS=all only: other mappings are not roots */
{
    void **anon = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (anon == MAP_FAILED) return 2;
    for (unsigned i = 0; i < KEEP; i++)
        fill(anon[i] = malloc(SIZE), 500 + i);
    if (mprotect(anon, 4096, PROT_READ)) return 2;
    churn();
    int bad = 0;
    for (unsigned i = 0; i < KEEP; i++)
        bad |= check(anon[i], 500 + i, "a read-only anonymous mapping");
    return bad;
}

static int case_readonly_data(void)
{
    for (unsigned i = 0; i < KEEP; i++)
        fill(ro_data[0].keep[i] = malloc(SIZE), 600 + i);
    if (mprotect(&ro_data[0], 4096, PROT_READ)) return 2;
    churn();
    int bad = 0;
    for (unsigned i = 0; i < KEEP; i++)
        bad |= check(ro_data[0].keep[i], 600 + i, "a .data page made read-only");
    return bad;
}

/* ---- a thread whose stack (pthread_attr_setstack) shares a mapping with a pointer table ---- */
static void **pool_table;
static pthread_barrier_t bar;

static void *pool_thread(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&bar);     /* stopped here while main collects */
    pthread_barrier_wait(&bar);
    return NULL;
}

static int case_setstack_pool(void)
{
    char *pool = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pool == MAP_FAILED) return 2;
    pool_table = (void **)pool;                 /* low end: data; high end: the thread's stack */
    for (unsigned i = 0; i < KEEP; i++)
        fill(pool_table[i * 512] = malloc(SIZE), 700 + i);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstack(&a, pool + (1 << 20), 1 << 20);
    pthread_barrier_init(&bar, NULL, 2);
    pthread_t t;
    if (pthread_create(&t, &a, pool_thread, NULL)) return 2;
    pthread_barrier_wait(&bar);
    void *saved = pool_table;
    pool_table = (void **)((uintptr_t)pool_table ^ 0x5555);    /* only the pool holds them */
    churn();
    pool_table = saved;
    pthread_barrier_wait(&bar);
    pthread_join(t, NULL);
    int bad = 0;
    for (unsigned i = 0; i < KEEP; i++)
        bad |= check(pool_table[i * 512], 700 + i, "a mapping shared by a thread stack and data");
    return bad;
}

/* ---- collector-exited: the thread that ran the first collection has exited ----
 * cowgc keeps /proc files open between collections; one opened by a thread that exited since
 * may not read any more (a maps file answers ESRCH). The next collection must still see its
 * roots, keep what they hold and reclaim the rest. */
static void *first_collector(void *arg)
{
    (void)arg;
    if (collect) collect();
    return NULL;
}

static int case_collector_exited(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, first_collector, NULL)) return 2;
    pthread_join(t, NULL);
    for (unsigned i = 0; i < KEEP; i++)
        fill(bss_keep[i] = malloc(SIZE), 800 + i);
    int (*stats)(struct cowgc_stats *, size_t) =
        (int (*)(struct cowgc_stats *, size_t))dlsym(RTLD_DEFAULT, "cowgc_get_stats");
    for (int i = 0; i < 2000; i++) {
        volatile char *g = malloc(SIZE);
        memset((char *)g, 0xEE, SIZE);
    }
    struct cowgc_stats before = { 0 }, after = { 0 };
    if (stats) stats(&before, sizeof before);
    if (collect) collect();
    if (stats) stats(&after, sizeof after);
    int bad = 0;
    if (collect && after.reclaimed_blocks == before.reclaimed_blocks) {
        fprintf(stderr, "roots_cases %s: the first collection after the first collector exited reclaimed nothing\n", which);
        bad = 1;
    }
    churn();
    for (unsigned i = 0; i < KEEP; i++)
        bad |= check(bss_keep[i], 800 + i, ".bss, after the first collector exited");
    return bad;
}

int main(int argc, char **argv)
{
    static const struct { const char *name; int (*fn)(void); } cases[] = {
        { "data", case_data }, { "coro-pool", case_coro_pool }, { "coro-bss", case_coro_bss },
        { "altstack-bss", case_altstack_bss }, { "altstack-heap", case_altstack_heap },
        { "altstack-kernel", case_altstack_kernel }, { "epoll-data", case_epoll_data },
        { "timer-value", case_timer_value },
        { "shared-fork", case_shared_fork }, { "readonly", case_readonly },
        { "readonly-data", case_readonly_data },
        { "setstack-pool", case_setstack_pool }, { "collector-exited", case_collector_exited },
    };
    collect = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    if (getenv("LD_PRELOAD") && strstr(getenv("LD_PRELOAD"), "cowgc") && !collect) {
        fprintf(stderr, "roots_cases: cowgc is preloaded but cowgc_collect is not found\n");
        return 3;
    }
    which = argc > 1 ? argv[1] : "";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(which, cases[i].name) == 0) {
            int rc = cases[i].fn();
            if (rc == 0) printf("roots_cases %s: ok\n", which);
            return rc;
        }
    fprintf(stderr, "roots_cases: unknown case '%s'\n", which);
    return 2;
}
