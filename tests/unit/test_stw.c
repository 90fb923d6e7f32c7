/* test_stw.c -- stopping the world: blocked, spinning, signal-masking, busy and short-lived threads, 200 times over; threads that block the signal behind our back. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "scanner.h"
#include "collector.h"

#define ROUNDS 200
#define NREAD 6
#define NSPIN 6
#define NMASK 4
#define NTHREADS (NREAD + NSPIN + NMASK)

struct worker {
    pthread_t th;
    _Atomic pid_t tid;
    uintptr_t stack_lo, stack_hi;
    int fds[2];                 /* readers: a pipe */
    long got;                   /* readers: read()'s result */
    int err;                    /* readers: its errno */
    _Atomic uint64_t spins;
    bool mask_stripped;         /* maskers: SIGPWR still deliverable after blocking all */
};

static struct worker w[NTHREADS];
static atomic_bool quit;

static pid_t gettid_raw(void) { return (pid_t)syscall(SYS_gettid); }

static void note_stack(struct worker *me)
{
    pthread_attr_t a;
    void *addr;
    size_t size;
    pthread_getattr_np(pthread_self(), &a);
    pthread_attr_getstack(&a, &addr, &size);
    pthread_attr_destroy(&a);
    me->stack_lo = (uintptr_t)addr;
    me->stack_hi = (uintptr_t)addr + size;
    atomic_store(&me->tid, gettid_raw());
}

static void *reader(void *arg)
{
    struct worker *me = arg;
    char c;
    note_stack(me);
    me->got = read(me->fds[0], &c, 1);      /* blocks through every stop: SA_RESTART */
    me->err = me->got < 0 ? errno : 0;
    return NULL;
}

static void *spinner(void *arg)
{
    struct worker *me = arg;
    note_stack(me);
    while (!atomic_load_explicit(&quit, memory_order_relaxed))
        atomic_fetch_add_explicit(&me->spins, 1, memory_order_relaxed);
    return NULL;
}

/* Blocks every signal the way programs do; the interposer must leave ours deliverable. */
static void *masker(void *arg)
{
    struct worker *me = arg;
    sigset_t all, cur;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    sigprocmask(SIG_SETMASK, &all, NULL);
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &cur, _NSIG / 8);
    me->mask_stripped = !sigismember(&cur, opt.signal) && sigismember(&cur, SIGUSR1);
    note_stack(me);
    while (!atomic_load_explicit(&quit, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&me->spins, 1, memory_order_relaxed);
        if ((me->spins & 1023) == 0)
            sched_yield();
    }
    return NULL;
}

/* Threads that are born and die while the world is being stopped. */
static atomic_bool churn_quit;
static _Atomic uint64_t churned;

static void *short_lived(void *arg)
{
    volatile char buf[256];
    memset((char *)buf, 1, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");   /* the stores are kept: buf escapes */
    return arg;
}

static void *churner(void *arg)
{
    while (!atomic_load(&churn_quit)) {
        pthread_t t[4];
        int n = 0;
        for (int i = 0; i < 4; i++)
            if (pthread_create(&t[n], NULL, short_lived, NULL) == 0)
                n++;
        for (int i = 0; i < n; i++)
            pthread_join(t[i], NULL);
        atomic_fetch_add(&churned, (uint64_t)n);
    }
    return arg;
}

static int group_setup(void **state)
{
    cowgc_init_slow();
    return 0;
}

static const struct stopped_thread *find(const struct stopped_thread *th, size_t n, pid_t tid)
{
    for (size_t i = 0; i < n; i++)
        if (th[i].tid == tid)
            return &th[i];
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static uint64_t total_spins(void)
{
    uint64_t s = 0;
    for (int i = NREAD; i < NTHREADS; i++)
        s += atomic_load(&w[i].spins);
    return s;
}

static void stop_all_kinds_of_threads_repeatedly(void **state)
{
    atomic_store(&quit, false);
    atomic_store(&churn_quit, false);
    for (int i = 0; i < NTHREADS; i++) {
        void *(*fn)(void *) = i < NREAD ? reader : i < NREAD + NSPIN ? spinner : masker;
        if (i < NREAD)
            assert_int_equal(pipe(w[i].fds), 0);
        assert_int_equal(pthread_create(&w[i].th, NULL, fn, &w[i]), 0);
    }
    pthread_t churn;
    assert_int_equal(pthread_create(&churn, NULL, churner, NULL), 0);
    for (int i = 0; i < NTHREADS; i++)
        while (!atomic_load(&w[i].tid))
            sched_yield();
    sleep_ms(20);   /* let the readers reach read() */

    /* Checks run while stopped only record; asserting (which may allocate or longjmp) waits
     * until the world runs again. */
    pid_t self = gettid_raw();
    for (int round = 0; round < ROUNDS; round++) {
        heap_lock();
        int rc = stw_stop_all();
        const struct stopped_thread *th;
        size_t n = rc == 0 ? stw_threads(&th) : 0;
        bool have_self = n && find(th, n, self) != NULL;
        int missing = 0, bad_sp = 0, bad_regs = 0, dups = 0;
        for (int i = 0; n && i < NTHREADS; i++) {
            const struct stopped_thread *t = find(th, n, w[i].tid);
            if (!t) {
                missing++;
                continue;
            }
            bad_sp += !(t->sp >= w[i].stack_lo && t->sp < w[i].stack_hi);
            bad_regs += t->nregs != 48;
        }
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                dups += th[i].tid == th[j].tid;
        uint64_t before = 0, after = 0;
        if (round % 50 == 0) {              /* stopped means stopped */
            before = total_spins();
            sleep_ms(5);
            after = total_spins();
        }
        if (rc == 0)
            stw_resume_all();
        heap_unlock();

        assert_int_equal(rc, 0);
        assert_true(n >= NTHREADS + 2);     /* workers, the churner, us */
        assert_true(have_self);
        assert_int_equal(missing, 0);
        assert_int_equal(bad_sp, 0);
        assert_int_equal(bad_regs, 0);
        assert_int_equal(dups, 0);
        assert_int_equal(after, before);
    }

    /* After the last resume everyone runs again. */
    uint64_t before = total_spins();
    sleep_ms(20);
    assert_true(total_spins() > before);
    assert_true(atomic_load(&churned) > 0);

    atomic_store(&churn_quit, true);
    pthread_join(churn, NULL);
    atomic_store(&quit, true);
    for (int i = 0; i < NREAD; i++)
        assert_int_equal(write(w[i].fds[1], "x", 1), 1);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(w[i].th, NULL);
    for (int i = 0; i < NREAD; i++) {
        assert_int_equal(w[i].err, 0);      /* no EINTR */
        assert_int_equal(w[i].got, 1);
        close(w[i].fds[0]);
        close(w[i].fds[1]);
    }
    for (int i = NREAD + NSPIN; i < NTHREADS; i++)
        assert_true(w[i].mask_stripped);
}

/* ---- many threads ---- */

#define NMANY 300
static atomic_int many_ready;

static void *parked(void *arg)
{
    atomic_fetch_add(&many_ready, 1);
    while (!atomic_load(&quit))
        sleep_ms(1);
    return arg;
}

static void hundreds_of_threads(void **state)
{
    static pthread_t t[NMANY];
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 64 * 1024);
    atomic_store(&quit, false);
    atomic_store(&many_ready, 0);
    for (int i = 0; i < NMANY; i++)
        assert_int_equal(pthread_create(&t[i], &a, parked, NULL), 0);
    pthread_attr_destroy(&a);
    while (atomic_load(&many_ready) < NMANY)
        sched_yield();
    for (int round = 0; round < 20; round++) {
        heap_lock();
        int rc = stw_stop_all();
        const struct stopped_thread *th;
        size_t n = rc == 0 ? stw_threads(&th) : 0;
        if (rc == 0)
            stw_resume_all();
        heap_unlock();
        assert_int_equal(rc, 0);
        assert_true(n >= NMANY + 1);
    }
    atomic_store(&quit, true);
    for (int i = 0; i < NMANY; i++)
        pthread_join(t[i], NULL);
}

/* ---- a thread inside an allocator busy section defers its stop ---- */

static atomic_int busy_phase;
static _Atomic pid_t busy_tid;
static uintptr_t busy_lo, busy_hi;

static void *busy_thread(void *arg)
{
    struct worker me;
    cg_free(cg_malloc(32));                 /* get a thread cache */
    struct tcache *tc = tls_tc;
    note_stack(&me);
    busy_lo = me.stack_lo;
    busy_hi = me.stack_hi;
    tc->busy = 1;
    atomic_store(&busy_tid, me.tid);
    atomic_store(&busy_phase, 1);
    sleep_ms(100);                          /* the stop request arrives in here */
    tc->busy = 0;
    atomic_signal_fence(memory_order_seq_cst);
    if (tc->stop_pending)
        stw_deferred_stop();
    atomic_store(&busy_phase, 2);
    return arg;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void busy_thread_stops_when_its_section_ends(void **state)
{
    pthread_t t;
    atomic_store(&busy_phase, 0);
    assert_int_equal(pthread_create(&t, NULL, busy_thread, NULL), 0);
    while (atomic_load(&busy_phase) != 1)
        sched_yield();
    uint64_t t0 = mono_ms();
    heap_lock();
    int rc = stw_stop_all();
    uint64_t waited = mono_ms() - t0;
    const struct stopped_thread *th;
    size_t n = rc == 0 ? stw_threads(&th) : 0;
    const struct stopped_thread *b = n ? find(th, n, busy_tid) : NULL;
    bool sp_ok = b && b->sp >= busy_lo && b->sp < busy_hi;
    bool regs_ok = b && b->nregs > 0;
    int phase = atomic_load(&busy_phase);   /* 1: held inside stw_deferred_stop */
    if (rc == 0)
        stw_resume_all();
    heap_unlock();
    assert_int_equal(rc, 0);
    assert_non_null(b);
    assert_true(sp_ok);
    assert_true(regs_ok);
    assert_int_equal(phase, 1);
    assert_true(waited >= 50);                         /* it waited for the section to end */
    pthread_join(t, NULL);
    assert_int_equal(atomic_load(&busy_phase), 2);
}

/* ---- the program's own use of the signal ---- */

static _Atomic int prog_hits;
static void prog_handler(int sig) { atomic_fetch_add(&prog_hits, 1); }

static void program_handler_is_recorded_and_forwarded(void **state)
{
    struct sigaction act, old;
    memset(&act, 0, sizeof act);
    act.sa_handler = prog_handler;
    assert_int_equal(sigaction(opt.signal, &act, &old), 0);
    assert_true(old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN);
    assert_int_equal(sigaction(opt.signal, NULL, &old), 0);
    assert_ptr_equal(old.sa_handler, prog_handler);     /* the program sees its own */

    struct { void *h; unsigned long f; void *r; uint64_t m; } k;
    syscall(SYS_rt_sigaction, opt.signal, NULL, &k, 8);
    assert_ptr_not_equal(k.h, (void *)prog_handler);    /* the kernel keeps ours */

    atomic_store(&prog_hits, 0);
    pthread_kill(pthread_self(), opt.signal);
    assert_int_equal(atomic_load(&prog_hits), 1);
    raise(opt.signal);
    assert_int_equal(atomic_load(&prog_hits), 2);

    /* Stops still work, and are not seen by the program. */
    heap_lock();
    int rc = stw_stop_all();
    if (rc == 0)
        stw_resume_all();
    heap_unlock();
    assert_int_equal(rc, 0);
    assert_int_equal(atomic_load(&prog_hits), 2);

    assert_ptr_equal(signal(opt.signal, SIG_DFL), prog_handler);
    sigset_t s, old_set;
    sigemptyset(&s);
    sigaddset(&s, opt.signal);
    assert_int_equal(sigprocmask(SIG_BLOCK, &s, &old_set), 0);
    sigprocmask(SIG_BLOCK, NULL, &old_set);
    assert_false(sigismember(&old_set, opt.signal));    /* honest: still unblocked */
}

/* ---- threads that block the signal behind our back (raw rt_sigprocmask) ---- */

static void raw_block_all(void)
{
    sigset_t all;
    sigfillset(&all);
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, NULL, _NSIG / 8);
}

/* Asleep in read() with the signal blocked: counted as stopped from /proc/<tid>/syscall. If
 * it wakes during the stop it parks on its next allocation, and stw_world_held() says so. */
static atomic_int sleeper_phase;
static _Atomic pid_t sleeper_tid;
static uintptr_t sleeper_lo, sleeper_hi;
static int sleeper_pipe[2];
static struct tcache *sleeper_tc;

static void *raw_blocked_sleeper(void *arg)
{
    struct worker me;
    cg_free(cg_malloc(32));                 /* a thread cache: it parks through it */
    sleeper_tc = tls_tc;
    note_stack(&me);
    sleeper_lo = me.stack_lo;
    sleeper_hi = me.stack_hi;
    raw_block_all();
    atomic_store(&sleeper_tid, me.tid);
    atomic_store(&sleeper_phase, 1);
    char c;
    if (read(sleeper_pipe[0], &c, 1) != 1)
        return arg;
    atomic_store(&sleeper_phase, 2);
    void *p = cg_malloc(32);    /* the fast path; must park before it touches its cache */
    atomic_store(&sleeper_phase, 3);
    cg_free(p);
    return arg;
}

/* Wait until tid sleeps in a system call (its /proc syscall line starts with a number). */
static void wait_in_syscall(pid_t tid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    for (int i = 0; i < 5000; i++) {
        FILE *f = fopen(path, "r");
        bool in = f && fgets(buf, sizeof buf, f) && buf[0] >= '0' && buf[0] <= '9';
        if (f)
            fclose(f);
        if (in)
            return;
        sleep_ms(1);
    }
}

static void blocked_sleeper_counts_as_stopped_and_parks_if_woken(void **state)
{
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = prog_handler;
    sigaction(opt.signal, &act, NULL);
    atomic_store(&prog_hits, 0);
    assert_int_equal(pipe(sleeper_pipe), 0);
    pthread_t t;
    atomic_store(&sleeper_phase, 0);
    assert_int_equal(pthread_create(&t, NULL, raw_blocked_sleeper, NULL), 0);
    while (atomic_load(&sleeper_phase) != 1)
        sched_yield();
    wait_in_syscall(atomic_load(&sleeper_tid));

    heap_lock();
    int rc = stw_stop_all();
    const struct stopped_thread *th;
    size_t n = rc == 0 ? stw_threads(&th) : 0;
    const struct stopped_thread *r = n ? find(th, n, sleeper_tid) : NULL;
    bool sp_ok = r && r->sp >= sleeper_lo && r->sp < sleeper_hi;
    bool held_asleep = rc == 0 && stw_world_held();
    uint64_t nmalloc = sleeper_tc->nmalloc;
    /* Wake it: it runs until its allocation, and parks there. */
    int wrote = (int)write(sleeper_pipe[1], "x", 1);
    int phase = 0;
    for (int i = 0; i < 200 && (phase = atomic_load(&sleeper_phase)) < 2; i++)
        sleep_ms(1);
    sleep_ms(30);
    phase = atomic_load(&sleeper_phase);
    bool held_woken = rc == 0 && stw_world_held();
    bool cache_untouched = sleeper_tc->nmalloc == nmalloc;
    if (rc == 0)
        stw_resume_all();
    heap_unlock();

    assert_int_equal(rc, 0);
    assert_non_null(r);
    assert_true(cache_untouched);           /* parked on entry, not after the update */
    assert_true(sp_ok);
    assert_true(held_asleep);
    assert_int_equal(wrote, 1);
    assert_int_equal(phase, 2);             /* woke, and parked in the allocator */
    assert_false(held_woken);               /* so this collection must not free */
    pthread_join(t, NULL);
    assert_int_equal(atomic_load(&sleeper_phase), 3);
    assert_int_equal(atomic_load(&prog_hits), 0);   /* the queued request never reached it */
    close(sleeper_pipe[0]);
    close(sleeper_pipe[1]);

    heap_lock();
    rc = stw_stop_all();                    /* and the next stop works */
    if (rc == 0)
        stw_resume_all();
    heap_unlock();
    assert_int_equal(rc, 0);
    signal(opt.signal, SIG_DFL);
}

/* Running with the signal blocked: every stop gives up at once instead of after 2 s. */
static atomic_int runner_phase;

static void *raw_blocked_runner(void *arg)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, opt.signal);
    raw_block_all();
    atomic_store(&runner_phase, 1);
    volatile uint64_t spins = 0;
    while (atomic_load_explicit(&runner_phase, memory_order_relaxed) == 1)
        spins++;
    /* Unblocking delivers the stale request: it must be dropped, not forwarded. */
    syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &s, NULL, _NSIG / 8);
    atomic_store(&runner_phase, 3);
    return arg;
}

static void blocked_runner_makes_stops_give_up_early(void **state)
{
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = prog_handler;
    sigaction(opt.signal, &act, NULL);
    atomic_store(&prog_hits, 0);

    pthread_t t;
    atomic_store(&runner_phase, 0);
    assert_int_equal(pthread_create(&t, NULL, raw_blocked_runner, NULL), 0);
    while (atomic_load(&runner_phase) != 1)
        sched_yield();
    /* Ten attempts in a budget that the old 2 s timeout would have let hold five. */
    int attempts = 0, failed = 0;
    uint64_t end = mono_ms() + 10000;
    while (attempts < 10 && mono_ms() < end) {
        heap_lock();
        int rc = stw_stop_all();
        if (rc == 0)
            stw_resume_all();
        heap_unlock();
        attempts++;
        failed += rc != 0;
    }
    atomic_store(&runner_phase, 2);
    pthread_join(t, NULL);
    assert_int_equal(attempts, 10);
    assert_int_equal(failed, 10);
    assert_int_equal(atomic_load(&prog_hits), 0);

    heap_lock();
    int rc = stw_stop_all();               /* and the next stop works */
    if (rc == 0)
        stw_resume_all();
    heap_unlock();
    assert_int_equal(rc, 0);
    signal(opt.signal, SIG_DFL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stop_all_kinds_of_threads_repeatedly),
        cmocka_unit_test(hundreds_of_threads),
        cmocka_unit_test(busy_thread_stops_when_its_section_ends),
        cmocka_unit_test(program_handler_is_recorded_and_forwarded),
        cmocka_unit_test(blocked_sleeper_counts_as_stopped_and_parks_if_woken),
        cmocka_unit_test(blocked_runner_makes_stops_give_up_early),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
