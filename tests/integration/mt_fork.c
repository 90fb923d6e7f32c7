/* mt_fork.c -- fork from a multi-threaded parent while the other threads are busy in malloc/free.
 * Each child allocates and frees right away (small, large, calloc, realloc, strdup, enough bytes
 * to pass a collection trigger), starts and joins one thread, checks its inherited heap data, and
 * exits 0. A child that deadlocks is killed by its own alarm(20), which the parent reports.
 *
 * usage: mt_fork [FORKS]   (default 150)
 * Prints one summary line that depends only on the argument; exit 0 iff every child exited 0.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgt.h"

#define NBUSY 3
#define KEEP 256

static atomic_int stop;
static char *shared_strings[KEEP];   /* built before the threads start, checked in children */

static void *busy(void *arg)
{
    uint32_t s = (uint32_t)(uintptr_t)arg * 2654435761u + 1;
    void *slot[64] = { 0 };
    while (!atomic_load(&stop)) {
        s ^= s << 13; s ^= s >> 17; s ^= s << 5;
        unsigned i = s % 64;
        free(slot[i]);
        size_t n = (s >> 8) % 8 == 0 ? 40000 + (s >> 12) % 100000 : 1 + (s >> 12) % 500;
        slot[i] = (s & 1) ? malloc(n) : calloc(1, n);
        if (!slot[i]) abort();
        memset(slot[i], (int)i, n < 64 ? n : 64);
    }
    for (int i = 0; i < 64; i++) free(slot[i]);
    return NULL;
}

static void *child_thread(void *arg)
{
    char **v = malloc(100 * sizeof *v);
    for (int i = 0; i < 100; i++) v[i] = strdup("child thread string");
    for (int i = 0; i < 100; i++) free(v[i]);
    free(v);
    return arg;
}

static int child(int k)
{
    alarm(20);
    /* Immediately: the first malloc after fork must not deadlock on a lock some other parent
     * thread held at fork time. */
    void *p = malloc(24);
    if (!p) return 10;
    free(p);
    /* Inherited heap data must be intact. */
    for (int i = 0; i < KEEP; i++) {
        char want[32];
        snprintf(want, sizeof want, "keep-%d", i);
        if (strcmp(shared_strings[i], want) != 0) return 11;
    }
    /* Enough allocation to pass a 256K collection trigger several times. */
    void *blocks[512];
    for (int r = 0; r < 8; r++) {
        for (int i = 0; i < 512; i++) {
            blocks[i] = (i % 3) ? malloc(100 + i) : calloc(1, 300 + i);
            if (!blocks[i]) return 12;
            memset(blocks[i], k, 100);
        }
        for (int i = 0; i < 512; i += 2) {
            blocks[i] = realloc(blocks[i], 2000);
            if (!blocks[i]) return 13;
        }
        for (int i = 0; i < 512; i++) {
            if (((unsigned char *)blocks[i])[99] != (unsigned char)k) return 14;
            free(blocks[i]);
        }
    }
    void *big = malloc(3 << 20);
    if (!big) return 15;
    memset(big, 1, 3 << 20);
    free(big);
    pthread_t t;
    if (pthread_create(&t, NULL, child_thread, (void *)7)) return 16;
    void *ret;
    pthread_join(t, &ret);
    if (ret != (void *)7) return 17;
    return 0;
}

int main(int argc, char **argv)
{
    int forks = argc > 1 ? atoi(argv[1]) : 150;
    if (cgt_check_loaded("mt_fork")) return 3;
    for (int i = 0; i < KEEP; i++) {
        shared_strings[i] = malloc(32);
        snprintf(shared_strings[i], 32, "keep-%d", i);
    }
    pthread_t th[NBUSY];
    for (int i = 0; i < NBUSY; i++)
        if (pthread_create(&th[i], NULL, busy, (void *)(uintptr_t)(i + 1))) { perror("pthread_create"); return 1; }

    int ok = 0, bad = 0;
    for (int k = 0; k < forks; k++) {
        /* The parent allocates around fork too. */
        char *tmp = malloc(1000);
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) _exit(child(k));
        free(tmp);
        int st;
        if (waitpid(pid, &st, 0) != pid) { perror("waitpid"); return 1; }
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            ok++;
        } else {
            bad++;
            if (WIFSIGNALED(st))
                fprintf(stderr, "mt_fork: child %d killed by signal %d (%s)%s\n", k, WTERMSIG(st),
                        strsignal(WTERMSIG(st)), WTERMSIG(st) == SIGALRM ? ": deadlocked for 20 s" : "");
            else
                fprintf(stderr, "mt_fork: child %d exited with %d\n", k, WEXITSTATUS(st));
            if (bad >= 5) break;
        }
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < NBUSY; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < KEEP; i++) free(shared_strings[i]);
    printf("mt_fork: %d forks from a parent with %d busy threads: %d children ok\n", forks, NBUSY, ok);
    return bad ? 1 : 0;
}
