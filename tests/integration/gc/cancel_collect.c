/* cancel_collect.c -- a thread with a pending deferred cancel that triggers collections is not cancelled inside one (which deadlocked the process). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "gcstat.h"

#define WANT 10

static atomic_int cancel_sent;
static long done_in_thread;

static void *victim(void *arg)
{
    /* No cancellation point of ours until the cancel is pending... */
    while (!atomic_load(&cancel_sent))
        ;
    /* ...then only malloc, which triggers collections. */
    done_in_thread = churn_until(WANT, 15.0);
    pthread_testcancel();       /* the cancel acts here, outside cowgc */
    return arg;
}

int main(void)
{
    if (gc_count() < 0) {
        printf("cancel_collect: not under cowgc; skipped\n");
        return 77;
    }
    pthread_t t;
    pthread_create(&t, NULL, victim, NULL);
    pthread_cancel(t);
    atomic_store(&cancel_sent, 1);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 30;
    void *res = NULL;
    int rc = pthread_timedjoin_np(t, &res, &dl);
    if (rc == ETIMEDOUT) {
        /* exit() would run cowgc's exit hooks, which wait for the lock the dead thread holds. */
        static const char msg[] = "cancel_collect: the cancelled thread never finished (deadlock)\n";
        write(2, msg, sizeof msg - 1);
        _exit(1);
    }
    if (res != PTHREAD_CANCELED) {
        fprintf(stderr, "cancel_collect: the thread was not cancelled at pthread_testcancel\n");
        return 1;
    }
    if (done_in_thread < WANT) {
        fprintf(stderr, "cancel_collect: only %ld collections while the cancel was pending\n", done_in_thread);
        return 1;
    }
    /* The process still works: the next collection completes. */
    long before = gc_count();
    if (churn_until(1, 15.0) < 1) {
        fprintf(stderr, "cancel_collect: no collection after the cancel (was %ld)\n", before);
        return 1;
    }
    printf("cancel_collect: %ld collections with a cancel pending; thread cancelled afterwards\n",
           done_in_thread);
    return 0;
}
