/* helper_threads.c -- threads that never run the stop handler (glibc's SIGEV_THREAD helpers, io_uring workers, a thread running with every signal blocked) must not stall or block collections. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <mqueue.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "gcstat.h"

#define WANT 40         /* collections that must complete */
#define BUDGET 20.0     /* seconds; each used to cost a 2 s stall, so at most 10 would fit */

static atomic_long callbacks;

static void tick(union sigval v __attribute__((unused)))
{
    /* Runs in a thread glibc created with every signal blocked; it allocates, too. */
    free(malloc(100));
    atomic_fetch_add(&callbacks, 1);
}

static int with_timer(void)
{
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD;
    ev.sigev_notify_function = tick;
    timer_t t;
    if (timer_create(CLOCK_MONOTONIC, &ev, &t) != 0) {
        perror("timer_create");
        return -1;
    }
    struct itimerspec its = { { 0, 2000000 }, { 0, 2000000 } };   /* every 2 ms */
    timer_settime(t, 0, &its, NULL);
    while (atomic_load(&callbacks) < 3)
        usleep(1000);
    return 0;
}

static mqd_t mq = (mqd_t)-1;

static void mq_arm(void);
static void on_message(union sigval v __attribute__((unused)))
{
    char buf[64];
    while (mq_receive(mq, buf, sizeof buf, NULL) >= 0)
        ;
    atomic_fetch_add(&callbacks, 1);
    mq_arm();
}

static void mq_arm(void)
{
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD;
    ev.sigev_notify_function = on_message;
    mq_notify(mq, &ev);
}

static int with_mq(void)
{
    char name[64];
    snprintf(name, sizeof name, "/cowgc-test-%d", (int)getpid());
    struct mq_attr a = { .mq_maxmsg = 4, .mq_msgsize = 16 };
    mq = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, 0600, &a);
    if (mq == (mqd_t)-1) {
        perror("mq_open");
        return -1;
    }
    mq_unlink(name);
    mq_arm();       /* starts glibc's helper thread, asleep in recvmsg with every signal blocked */
    mq_send(mq, "x", 1, 0);
    while (atomic_load(&callbacks) < 1)
        usleep(1000);
    return 0;
}

/* Threads of this process whose name starts with prefix. */
static int count_threads(const char *prefix)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char path[300], comm[32];
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof comm, f) && !strncmp(comm, prefix, strlen(prefix)))
            n++;
        fclose(f);
    }
    closedir(d);
    return n;
}

/* io_uring with a submission-queue polling thread (iou-sqp) and blocking reads forced to
 * worker threads (iou-wrk), all of them listed in /proc/self/task. Raw system calls. */
static int with_io_uring(void)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SQPOLL;
    p.sq_thread_idle = 60000;
    int fd = (int)syscall(__NR_io_uring_setup, 8, &p);
    if (fd < 0) {
        fprintf(stderr, "io_uring_setup: %s\n", strerror(errno));
        return -1;
    }
    size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (cq_len > sq_len)
        sq_len = cq_len;
    char *sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    struct io_uring_sqe *sqes = mmap(NULL, p.sq_entries * sizeof *sqes, PROT_READ | PROT_WRITE,
                                     MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    if (sq == MAP_FAILED || sqes == MAP_FAILED) {
        perror("mmap io_uring");
        return -1;
    }
    _Atomic unsigned *tail = (_Atomic unsigned *)(sq + p.sq_off.tail);
    unsigned *array = (unsigned *)(sq + p.sq_off.array);
    unsigned mask = *(unsigned *)(sq + p.sq_off.ring_mask);
    _Atomic unsigned *flags = (_Atomic unsigned *)(sq + p.sq_off.flags);
    static int pipes[4][2];
    static char bufs[4][8];
    unsigned t = atomic_load(tail);
    for (int i = 0; i < 4; i++) {
        if (pipe(pipes[i]) != 0)
            return -1;
        struct io_uring_sqe *e = &sqes[t & mask];
        memset(e, 0, sizeof *e);
        e->opcode = IORING_OP_READ;
        e->flags = IOSQE_ASYNC;     /* to an io-wq worker, where it blocks: nobody writes */
        e->fd = pipes[i][0];
        e->addr = (uintptr_t)bufs[i];
        e->len = sizeof bufs[i];
        array[t & mask] = t & mask;
        t++;
    }
    atomic_store(tail, t);
    if (atomic_load(flags) & IORING_SQ_NEED_WAKEUP)
        syscall(__NR_io_uring_enter, fd, 0, 0, IORING_ENTER_SQ_WAKEUP, NULL, 0);
    /* Wait until a worker exists. */
    for (int i = 0; i < 2000; i++) {
        if (count_threads("iou-wrk") >= 1 && count_threads("iou-sqp") >= 1)
            return 0;
        usleep(1000);
    }
    fprintf(stderr, "no iou-wrk thread appeared\n");
    return -1;
}

/* A thread that blocks every signal with the raw system call (as glibc does internally) and
 * computes: collections cannot complete while it runs, but each attempt must give up soon. */
static atomic_int spin_quit, spin_blocked;
static void *raw_blocked_spinner(void *arg)
{
    sigset_t all;
    sigfillset(&all);
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, NULL, _NSIG / 8);
    atomic_store(&spin_blocked, 1);
    volatile unsigned long n = 0;
    while (!atomic_load_explicit(&spin_quit, memory_order_relaxed))
        n++;
    return arg;
}

static long attempts_while_blocked(double budget)
{
    void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    long n = 0;
    double end = now_s() + budget;
    while (now_s() < end && n < 20) {
        collect();
        n++;
    }
    return n;
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "timer";
    if (gc_count() < 0) {
        printf("helper_threads: not under cowgc; skipped\n");
        return 77;
    }
    if (!strcmp(what, "blocked")) {
        pthread_t t;
        pthread_create(&t, NULL, raw_blocked_spinner, NULL);
        /* Until the spinner has blocked its signals, a collection may still complete: on a
         * loaded machine the new thread can wait longer than any fixed sleep to first run. */
        while (!atomic_load(&spin_blocked))
            usleep(1000);
        long before = gc_count();
        long n = attempts_while_blocked(BUDGET);
        long done = gc_count() - before;
        atomic_store(&spin_quit, 1);
        pthread_join(t, NULL);
        long after = churn_until(1, BUDGET);
        if (n < 20 || done != 0 || after < 1) {
            fprintf(stderr, "helper_threads blocked: %ld attempts (want 20, each used to stall 2 s), "
                    "%ld completed while blocked (want 0), %ld after (want 1)\n", n, done, after);
            return 1;
        }
        printf("helper_threads blocked: %ld attempts given up, collections resume afterwards\n", n);
        return 0;
    }
    int rc = !strcmp(what, "timer") ? with_timer() : !strcmp(what, "mq") ? with_mq() :
             !strcmp(what, "io_uring") ? with_io_uring() : -2;
    if (rc == -2) {
        fprintf(stderr, "usage: helper_threads timer|mq|io_uring|blocked\n");
        return 2;
    }
    if (rc != 0) {
        printf("helper_threads %s: cannot set up; skipped\n", what);
        return 77;
    }
    /* While a ring is mapped, collect mode reclaims nothing (its requests hold pointers only the
     * kernel sees): the trigger would space collections out as the heap grows. */
    if (!strcmp(what, "io_uring")) churn_reclaims_nothing = 1;
    long done = churn_until(WANT, BUDGET);
    if (done < WANT) {
        fprintf(stderr, "helper_threads %s: only %ld of %d collections completed in the run\n",
                what, done, WANT);
        return 1;
    }
    printf("helper_threads %s: %ld collections, %ld callbacks\n", what, done, atomic_load(&callbacks));
    return 0;
}
