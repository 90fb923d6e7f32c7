/* held_fork.c -- blocks freed by threads that did not allocate them, then fork() while those
 * threads live: the child hands no block out twice and keeps every inherited block intact.
 *
 * Under COWGC_MODE=off each thread holds such blocks in its own cache to reuse them (struct
 * lifo_slot in collector/collector.h); a forked child keeps only the forking thread's cache, so
 * it must let go of every held block, its own cache's included, without handing any out twice.
 * With --reuse (COWGC_MODE=off only) it first checks the point of holding: a thread whose frees
 * are of other threads' blocks gets the block it just freed from its next malloc of the class.
 *
 * usage: held_fork [--reuse]     prints "ok" and exits 0 when every check passes
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NT 3                    /* helper threads */
#define PER 240                 /* blocks per helper and size */
#define FREED 120               /* of which another thread frees the first FREED */
#define CHILD 6000              /* blocks per size the child allocates */
static const size_t sizes[] = { 48, 96, 200 };
#define NS (sizeof sizes / sizeof sizes[0])

static unsigned char *blocks[NT][NS][PER];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stage, done_count;

static void fill(unsigned char *p, size_t n, unsigned tag)
{
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(tag + i * 7);
}

static int intact(const unsigned char *p, size_t n, unsigned tag)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(tag + i * 7)) return 0;
    return 1;
}

static unsigned tag_of(int t, size_t s, int k) { return (unsigned)(t * 131 + s * 17 + k); }

static void wait_stage(int want)
{
    pthread_mutex_lock(&mu);
    while (stage < want) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

static void step_done(void)
{
    pthread_mutex_lock(&mu);
    done_count++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void *helper(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (size_t s = 0; s < NS; s++)
        for (int k = 0; k < PER; k++) {
            blocks[t][s][k] = malloc(sizes[s]);
            fill(blocks[t][s][k], sizes[s], tag_of(t, s, k));
        }
    step_done();
    wait_stage(1);
    /* Free the next helper's first FREED blocks of each size: held here (up to the cache's
     * capacity), the rest sent back to their owner. */
    int o = (t + 1) % NT;
    for (size_t s = 0; s < NS; s++)
        for (int k = 0; k < FREED; k++) {
            free(blocks[o][s][k]);
            blocks[o][s][k] = NULL;
        }
    step_done();
    wait_stage(2);              /* alive, holding, while the main thread forks */
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

static void wait_done(int n)
{
    pthread_mutex_lock(&mu);
    while (done_count < n) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

static void set_stage(int s)
{
    pthread_mutex_lock(&mu);
    stage = s;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* The child: many blocks of each size, all distinct from each other and from every block it
 * inherited alive; the inherited ones keep their bytes. */
static int child_check(void)
{
    static uintptr_t all[NS * CHILD + NT * NS * PER];
    size_t n = 0;
    for (size_t s = 0; s < NS; s++)
        for (int k = 0; k < CHILD; k++) {
            unsigned char *p = malloc(sizes[s]);
            if (!p) { printf("FAIL: child malloc\n"); return 1; }
            memset(p, 0xee, sizes[s]);
            all[n++] = (uintptr_t)p;
        }
    for (int t = 0; t < NT; t++)
        for (size_t s = 0; s < NS; s++)
            for (int k = 0; k < PER; k++)
                if (blocks[t][s][k]) {
                    if (!intact(blocks[t][s][k], sizes[s], tag_of(t, s, k))) {
                        printf("FAIL: inherited block %p was overwritten in the child\n", (void *)blocks[t][s][k]);
                        return 1;
                    }
                    all[n++] = (uintptr_t)blocks[t][s][k];
                }
    qsort(all, n, sizeof all[0], cmp);
    for (size_t i = 1; i < n; i++)
        if (all[i] == all[i - 1]) {
            printf("FAIL: block %p handed out twice in the child\n", (void *)all[i]);
            return 1;
        }
    return 0;
}

static void *give_block(void *arg)
{
    *(void **)arg = malloc(sizes[1]);
    return NULL;
}

/* COWGC_MODE=off: the main thread frees a block another thread allocated; its next malloc of
 * that class returns the same block. */
static int reuse_check(void)
{
    void *p;
    pthread_t t;
    /* This thread has a cache, and has freed nothing yet: a thread holds another's blocks
     * while most of its frees are of such blocks (free_hold). */
    static void *volatile mine;
    mine = malloc(sizes[1]);
    if (pthread_create(&t, NULL, give_block, &p) != 0 || pthread_join(t, NULL) != 0) return 2;
    free(p);
    void *q = malloc(sizes[1]);
    if (q != p) {
        printf("FAIL: a block freed here (%p) was not reused here (got %p)\n", p, q);
        return 1;
    }
    free(q);
    free(mine);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--reuse") && reuse_check()) return 1;
    pthread_t th[NT];
    for (int t = 0; t < NT; t++)
        if (pthread_create(&th[t], NULL, helper, (void *)(intptr_t)t) != 0) { perror("pthread_create"); return 2; }
    wait_done(NT);
    set_stage(1);
    wait_done(2 * NT);
    /* The main thread holds some too: helper 0's blocks FREED..FREED+39 of each size. */
    for (size_t s = 0; s < NS; s++)
        for (int k = FREED; k < FREED + 40; k++) {
            free(blocks[0][s][k]);
            blocks[0][s][k] = NULL;
        }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 2; }
    if (pid == 0) {
        int r = child_check();
        fflush(stdout);
        _exit(r);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        printf("FAIL: the child failed (status %d)\n", st);
        return 1;
    }
    set_stage(2);
    for (int t = 0; t < NT; t++) pthread_join(th[t], NULL);
    /* The parent's blocks kept their bytes too, and all of them can be freed. */
    for (int t = 0; t < NT; t++)
        for (size_t s = 0; s < NS; s++)
            for (int k = 0; k < PER; k++)
                if (blocks[t][s][k]) {
                    if (!intact(blocks[t][s][k], sizes[s], tag_of(t, s, k))) {
                        printf("FAIL: block %p was overwritten in the parent\n", (void *)blocks[t][s][k]);
                        return 1;
                    }
                    free(blocks[t][s][k]);
                }
    puts("ok");
    return 0;
}
