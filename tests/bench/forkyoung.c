/* forkyoung.c -- a parent forks with a large young generation: the first pause of its child.
 *
 *   forkyoung OLD_MIB YOUNG_MIB      (run under libcowgc.so with generations on)
 * The parent builds OLD_MIB of 64-byte list nodes, collects (they are old), adds YOUNG_MIB more
 * and forks. The child allocates garbage until its first collections have run and prints their
 * pauses; the parent prints what it collected at the fork. Before the fork collection
 * (gc.c gc_before_fork) took young generations above 1/32 of the heap, every child traced them
 * in its own first pause.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cowgc.h"

struct node { struct node *next; char pad[56]; };
static struct node *volatile head;
static int (*get_stats)(struct cowgc_stats *, size_t);

static void grow(size_t mib)
{
    for (size_t i = 0; i < (mib << 20) / sizeof(struct node); i++) {
        struct node *n = malloc(sizeof *n);
        n->next = head;
        head = n;
    }
}

static struct cowgc_stats stats(void)
{
    struct cowgc_stats st;
    memset(&st, 0, sizeof st);
    get_stats(&st, sizeof st);
    return st;
}

int main(int argc, char **argv)
{
    void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    get_stats = (int (*)(struct cowgc_stats *, size_t))dlsym(RTLD_DEFAULT, "cowgc_get_stats");
    if (argc < 3 || !collect || !get_stats) {
        fprintf(stderr, "usage: LD_PRELOAD=libcowgc.so forkyoung OLD_MIB YOUNG_MIB\n");
        return 2;
    }
    size_t old = strtoul(argv[1], NULL, 10), young = strtoul(argv[2], NULL, 10);
    grow(old);
    collect();
    grow(young);
    struct cowgc_stats a = stats();
    pid_t pid = fork();
    if (pid == 0) {
        /* Statistics are per process: the child's count starts at zero. */
        uint64_t pauses[2] = { 0, 0 };
        for (long i = 0; i < 20000000; i++) {
            char *g = malloc(64);
            memset(g, (int)i, 64);
            struct cowgc_stats st = stats();
            if (st.collections >= 2) break;
            if (st.collections == 1 && !pauses[0]) pauses[0] = st.pause_max_ns;
        }
        struct cowgc_stats st = stats();
        size_t n = 0;
        for (struct node *p = head; p; p = p->next) n++;
        printf("child: first collection %.2f ms, longest of the first two %.2f ms; %zu nodes reachable\n",
               pauses[0] / 1e6, st.pause_max_ns / 1e6, n);
        fflush(stdout);
        _exit(n == ((old + young) << 20) / sizeof(struct node) ? 0 : 1);
    }
    struct cowgc_stats b = stats();
    int status;
    waitpid(pid, &status, 0);
    printf("parent: %llu collection(s) at the fork, longest pause so far %.2f ms\n",
           (unsigned long long)(b.collections - a.collections), b.pause_max_ns / 1e6);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
