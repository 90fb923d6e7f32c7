/* fork_freeze.c -- COWGC_FORK_FREEZE: a child hangs new blocks off inherited ones; collections keep them. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct node { struct node *next; unsigned char *hung; uint64_t id; };

enum { INHERITED = 200000, HUNG_EVERY = 7, ROUNDS = 40 };

static void fill(unsigned char *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed * 31 + i);
}

static int check(const unsigned char *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed * 31 + i)) return 0;
    return 1;
}

/* The worker: new blocks hang only off inherited nodes (written pages); garbage is made and
 * must be reclaimed; inherited nodes are freed and their slots reused. Returns 0 when all is
 * intact. */
static int worker(struct node *list, int depth, int frozen)
{
    void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    int (*stats)(void *, size_t) = (int (*)(void *, size_t))dlsym(RTLD_DEFAULT, "cowgc_get_stats");
    uint64_t i = 0;
    for (struct node *n = list; n; n = n->next, i++)
        if (i % HUNG_EVERY == 0) {
            n->hung = malloc(96);
            fill(n->hung, 96, n->id);
        }
    for (int r = 0; r < ROUNDS; r++) {
        for (int k = 0; k < 20000; k++) {            /* garbage, reusing reclaimed memory */
            unsigned char *g = malloc(96);
            memset(g, 0xee, 96);
        }
        if (collect) collect();
    }
    /* Free some inherited nodes' successors' hung blocks and reuse the slots. */
    i = 0;
    for (struct node *n = list; n; n = n->next, i++) {
        if (i % HUNG_EVERY) continue;
        if (!check(n->hung, 96, n->id)) {
            fprintf(stderr, "fork_freeze: depth %d: hung block of node %llu damaged\n", depth, (unsigned long long)n->id);
            return 1;
        }
    }
    uint64_t st[19] = { 0 };   /* struct cowgc_stats: [0] collections, [5] reclaimed_blocks,
                                  [18] inherited_roots_bytes */
    if (stats) {
        stats(st, sizeof st);
        if (st[0] == 0 || st[5] == 0) {
            fprintf(stderr, "fork_freeze: depth %d: expected collections that reclaim garbage\n", depth);
            return 1;
        }
        /* A frozen child scans the inherited pages it wrote; after forking again it traces. */
        if (frozen != (st[18] > 0)) {
            fprintf(stderr, "fork_freeze: depth %d: inherited roots %llu, expected frozen=%d\n", depth,
                    (unsigned long long)st[18], frozen);
            return 1;
        }
    }
    printf("fork_freeze: depth %d ok (%llu collections, %llu blocks reclaimed, %llu KiB of written inherited pages scanned)\n",
           depth, (unsigned long long)st[0], (unsigned long long)st[5], (unsigned long long)(st[18] >> 10));
    fflush(stdout);
    return 0;
}

int main(void)
{
    struct node *list = NULL;
    for (uint64_t i = 0; i < INHERITED; i++) {
        struct node *n = malloc(sizeof *n);
        n->next = list;
        n->hung = NULL;
        n->id = i;
        list = n;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int rc = worker(list, 1, 1);
        if (rc) _exit(rc);
        fflush(stdout);
        /* The worker forks again: its own written pages become shared with the grandchild. */
        pid_t g = fork();
        if (g == 0) _exit(worker(list, 2, 1));
        int st2;
        waitpid(g, &st2, 0);
        rc = worker(list, 1, 0);   /* the parent side of that fork traces fully from now on */
        _exit(rc || !WIFEXITED(st2) || WEXITSTATUS(st2));
    }
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status)) {
        fprintf(stderr, "fork_freeze: worker failed (status %d)\n", status);
        return 1;
    }
    printf("fork_freeze: ok\n");
    return 0;
}
