/* fork_pressure.c -- fork from a multi-threaded parent under allocation pressure; the child collects at once. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static atomic_int stop;

static void *churn(void *arg)
{
    uintptr_t seed = (uintptr_t)arg;
    void *keep[128] = { 0 };
    while (!atomic_load(&stop)) {
        seed = seed * 6364136223846793005u + 1;
        unsigned k = (unsigned)(seed >> 33) % 128;
        free(keep[k]);   /* sometimes freed, mostly dropped below */
        keep[k] = malloc((seed >> 20) % 5000);
        if (((seed >> 40) & 7) == 0) keep[k] = NULL;   /* garbage for the collector */
    }
    return NULL;
}

int main(void)
{
    void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    pthread_t t[4];
    for (long i = 0; i < 4; i++) pthread_create(&t[i], NULL, churn, (void *)(i + 1));
    char **list = NULL;
    for (int round = 0; round < 30; round++) {
        char **n = malloc(2 * sizeof *n);
        n[0] = (char *)list;
        n[1] = strdup("kept across forks");
        list = n;
        pid_t pid = fork();
        if (pid == 0) {
            /* The child: allocate, collect, check the parent's data and its own. */
            void *mine[1000];
            for (int i = 0; i < 1000; i++) { mine[i] = malloc(64 + i); memset(mine[i], i, 64 + i); }
            if (collect) collect();
            for (char **x = list; x; x = (char **)x[0])
                if (strcmp(x[1], "kept across forks")) _exit(3);
            for (int i = 0; i < 1000; i++) {
                if (((unsigned char *)mine[i])[63 + i] != (unsigned char)i) _exit(4);
                free(mine[i]);
            }
            if (collect) collect();
            _exit(0);
        }
        int status;
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
            fprintf(stderr, "fork_pressure: child %d failed (status %d) in round %d\n", pid, status, round);
            return 1;
        }
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    printf("fork_pressure: ok\n");
    return 0;
}
