/* cancel_report.c -- a thread with a pending deferred cancel that frees a hidden block is not cancelled inside cowgc's diagnostic (which held the report lock). */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY ((uintptr_t)0x5a5a5a5a5a5a5a5aull)
#define N 4

static uintptr_t hidden[N];       /* XOR'd: the collector sees no pointer */
static atomic_int cancel_sent;

static __attribute__((noinline)) void make(void)
{
    for (int i = 0; i < N; i++) {
        char *p = malloc(72);       /* not a size class: no end pointer can hold it */
        memset(p, i, 72);
        hidden[i] = (uintptr_t)p ^ KEY;
    }
}

static __attribute__((noinline)) void scrub(void)
{
    volatile char buf[1 << 16];
    memset((char *)buf, 0, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");   /* the stores are kept: buf escapes */
}

static void *victim(void *arg)
{
    while (!atomic_load(&cancel_sent))
        ;
    /* The diagnostic for this free opens the object files to name the site (open and close
     * are cancellation points). */
    free((void *)(hidden[0] ^ KEY));
    pthread_testcancel();           /* the cancel acts here, outside cowgc */
    return arg;
}

static void watchdog(int sig)
{
    (void)sig;
    static const char msg[] = "cancel_report: the next diagnostic never came (deadlock)\n";
    write(2, msg, sizeof msg - 1);
    _exit(1);
}

int main(void)
{
    void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    if (!collect) { puts("cancel_report: not under cowgc; skipped"); return 77; }
    make();
    scrub();
    collect();
    pthread_t t;
    pthread_create(&t, NULL, victim, NULL);
    pthread_cancel(t);
    atomic_store(&cancel_sent, 1);
    void *res = NULL;
    pthread_join(t, &res);
    if (res != PTHREAD_CANCELED) {
        fprintf(stderr, "cancel_report: the thread was not cancelled at pthread_testcancel\n");
        return 1;
    }
    /* The report lock is free: the next diagnostic (another site: another line) comes. */
    signal(SIGALRM, watchdog);
    alarm(20);
    for (int i = 1; i < N; i++) free((void *)(hidden[i] ^ KEY));
    alarm(0);
    puts("ok");
    return 0;
}
