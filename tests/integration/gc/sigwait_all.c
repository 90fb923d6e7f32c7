/* sigwait_all.c -- threads that block and wait for every signal neither see the stop signal nor keep collections from completing. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "gcstat.h"

#define NWAITERS 3
#define WANT 20         /* collections that must complete while they wait */

static const char *mode;
static atomic_int stop_seen, eintr_seen, other_seen, ready;

/* One received signal; true when it is the one that ends the wait. */
static int got(int sig)
{
    if (sig == SIGUSR1)
        return 1;
    if (sig == SIGPWR)
        atomic_fetch_add(&stop_seen, 1);
    else
        atomic_fetch_add(&other_seen, 1);
    return 0;
}

static void *waiter(void *arg)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    int sfd = -1;
    if (!strcmp(mode, "signalfd"))
        sfd = signalfd(-1, &all, SFD_CLOEXEC);
    atomic_fetch_add(&ready, 1);
    for (;;) {
        int sig;
        if (!strcmp(mode, "signalfd")) {
            struct signalfd_siginfo si;
            ssize_t n = read(sfd, &si, sizeof si);
            if (n != sizeof si) {
                if (n < 0 && errno == EINTR)
                    atomic_fetch_add(&eintr_seen, 1);
                continue;
            }
            sig = (int)si.ssi_signo;
        } else if (!strcmp(mode, "sigwait")) {
            if (sigwait(&all, &sig) != 0)
                continue;
        } else {
            siginfo_t si;
            struct timespec ts = { 0, 50 * 1000 * 1000 };
            sig = !strcmp(mode, "sigtimedwait") ? sigtimedwait(&all, &si, &ts) : sigwaitinfo(&all, &si);
            if (sig < 0) {
                /* Everything is blocked: nothing may interrupt the wait. */
                if (errno == EINTR)
                    atomic_fetch_add(&eintr_seen, 1);
                continue;
            }
        }
        if (got(sig))
            break;
    }
    if (sfd >= 0)
        close(sfd);
    return arg;
}

int main(int argc, char **argv)
{
    mode = argc > 1 ? argv[1] : "sigwaitinfo";
    if (gc_count() < 0) {
        printf("sigwait_all: not under cowgc; skipped\n");
        return 77;
    }
    pthread_t t[NWAITERS];
    for (int i = 0; i < NWAITERS; i++)
        pthread_create(&t[i], NULL, waiter, NULL);
    while (atomic_load(&ready) < NWAITERS)
        usleep(1000);
    long done = churn_until(WANT, 15.0);
    for (int i = 0; i < NWAITERS; i++)
        pthread_kill(t[i], SIGUSR1);
    for (int i = 0; i < NWAITERS; i++)
        pthread_join(t[i], NULL);
    int bad = 0;
    if (done < WANT) {
        fprintf(stderr, "sigwait_all %s: only %ld of %d collections completed\n", mode, done, WANT);
        bad = 1;
    }
    if (atomic_load(&stop_seen) || atomic_load(&other_seen)) {
        fprintf(stderr, "sigwait_all %s: the program received %d SIGPWR and %d other signals it never sent\n",
                mode, atomic_load(&stop_seen), atomic_load(&other_seen));
        bad = 1;
    }
    if (atomic_load(&eintr_seen)) {
        fprintf(stderr, "sigwait_all %s: %d waits failed with EINTR\n", mode, atomic_load(&eintr_seen));
        bad = 1;
    }
    if (!bad)
        printf("sigwait_all %s: %ld collections, no stop signal seen\n", mode, done);
    return bad;
}
