/* remote_free.c -- double frees that involve another thread's free (issue 11, defect 2): each is
 * reported and ignored, and no block is ever handed out twice afterwards.
 *
 * usage: remote_free CASE   (prints "p=ADDR" for the doubly freed block on stdout)
 *   remote-owner   a thread frees p (a remote free), then its owner frees it again
 *   owner-remote   the owner frees p, then another thread frees it again
 *   remote-remote  two other threads free p, one after the other
 *   fold-owner     a thread frees p, the owner folds that free in, then frees p again
 *   orphan         p's owner exits; two other threads free p, one after the other
 *   remote-realloc a thread frees p, then its owner reallocs it (in place, same class)
 * The same while the thread that freed p first is still alive (under COWGC_MODE=off it holds p
 * in its cache to reuse it, struct lifo_slot; elsewhere p waits as a remote free):
 *   held-owner     a live thread frees p, then the owner frees it again
 *   held-twice     a live thread frees p twice
 *   held-third     a live thread frees p, then a third thread frees it
 *   held-realloc   a live thread frees p, then the owner reallocs it
 *   held-size      a live thread frees p, then the owner asks malloc_usable_size (0), frees it
 * After the double free, many blocks of p's size class are allocated and kept: all must be
 * distinct and keep their contents (a block handed out twice would be overwritten). */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIZE 48
#define KEEP 20000
#define BEFORE 300

static void *victim;

static void *free_victim(void *arg)
{
    (void)arg;
    free(victim);
    return NULL;
}

static void *alloc_victim(void *arg)
{
    (void)arg;
    victim = malloc(SIZE);
    memset(victim, 0x5a, SIZE);
    return NULL;
}

/* Blocks of p's class the live thread takes: the one it may hold first. */
#define NHELPER 64
static void *helper_blocks[NHELPER];
static void *alloc_some(void *arg)
{
    (void)arg;
    for (int i = 0; i < NHELPER; i++) {
        helper_blocks[i] = malloc(SIZE);
        memcpy(helper_blocks[i], "helper", 7);
    }
    return NULL;
}

static void in_thread(void *(*fn)(void *))
{
    pthread_t t;
    if (pthread_create(&t, NULL, fn, NULL) != 0 || pthread_join(t, NULL) != 0) {
        perror("pthread");
        exit(2);
    }
}

/* A thread that stays alive between the steps it is given (so whatever it cached stays cached). */
static pthread_t helper;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static void *(*job)(void *);
static int job_done, helper_quit;

void *volatile helper_own;

static void *helper_main(void *arg)
{
    (void)arg;
    /* A cache of its own from now on (volatile: the allocation is not optimised away). Kept,
     * not freed: under COWGC_MODE=off a thread holds another's blocks only while most of its
     * frees are of such blocks (free_hold), and its first free here must be held. */
    helper_own = malloc(SIZE);
    pthread_mutex_lock(&mu);
    for (;;) {
        while (!job && !helper_quit) pthread_cond_wait(&cv, &mu);
        if (helper_quit && !job) break;
        void *(*fn)(void *) = job;
        pthread_mutex_unlock(&mu);
        fn(NULL);
        pthread_mutex_lock(&mu);
        job = NULL;
        job_done = 1;
        pthread_cond_broadcast(&cv);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void in_helper(void *(*fn)(void *))
{
    pthread_mutex_lock(&mu);
    job_done = 0;
    job = fn;
    pthread_cond_broadcast(&cv);
    while (!job_done) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

static int cmp(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: remote_free CASE\n"); return 2; }
    const char *c = argv[1];
    /* Neighbours of the victim in its span, so it is neither the first nor the last slot. */
    static void *before[BEFORE];
    for (int i = 0; i < BEFORE; i++) before[i] = malloc(SIZE);
    if (!strcmp(c, "orphan")) in_thread(alloc_victim);
    else { victim = malloc(SIZE); memset(victim, 0x5a, SIZE); }
    printf("p=%p\n", victim);
    fflush(stdout);

    if (!strncmp(c, "held-", 5) && pthread_create(&helper, NULL, helper_main, NULL) != 0) {
        perror("pthread_create");
        return 2;
    }
    if (!strcmp(c, "held-owner")) {
        in_helper(free_victim);
        free(victim);
    } else if (!strcmp(c, "held-twice")) {
        in_helper(free_victim);
        in_helper(free_victim);
    } else if (!strcmp(c, "held-third")) {
        in_helper(free_victim);
        in_thread(free_victim);
    } else if (!strcmp(c, "held-realloc")) {
        in_helper(free_victim);
        if (realloc(victim, SIZE - 4)) puts("realloc of a freed block succeeded");
    } else if (!strcmp(c, "held-size")) {
        in_helper(free_victim);
        if (malloc_usable_size(victim) != 0) puts("malloc_usable_size of a freed block is not 0");
        free(victim);
    } else if (!strcmp(c, "remote-owner")) {
        in_thread(free_victim);
        free(victim);                           /* the bug: reported, ignored */
    } else if (!strcmp(c, "owner-remote")) {
        free(victim);
        in_thread(free_victim);
    } else if (!strcmp(c, "remote-remote") || !strcmp(c, "orphan")) {
        in_thread(free_victim);
        in_thread(free_victim);
    } else if (!strcmp(c, "fold-owner")) {
        in_thread(free_victim);
        /* Fill the span: its owner takes the remote free back before it takes a new span. */
        static void *fill[2000];
        for (int i = 0; i < 2000; i++) fill[i] = malloc(SIZE);
        free(victim);
        for (int i = 0; i < 2000; i++) free(fill[i]);
    } else if (!strcmp(c, "remote-realloc")) {
        in_thread(free_victim);
        if (realloc(victim, SIZE - 4)) puts("realloc of a freed block succeeded");
    } else {
        fprintf(stderr, "unknown case %s\n", c);
        return 2;
    }

    /* The live thread allocates too: what it holds must never be handed out twice either. */
    static uintptr_t keep[KEEP], sorted[KEEP + NHELPER];
    if (!strncmp(c, "held-", 5)) in_helper(alloc_some);
    for (int i = 0; i < KEEP; i++) {
        char *q = malloc(SIZE);
        if (!q) { fprintf(stderr, "malloc failed\n"); return 1; }
        memset(q, 0, SIZE);
        snprintf(q, SIZE, "block %d", i);
        keep[i] = sorted[i] = (uintptr_t)q;
    }
    for (int i = 0; i < NHELPER; i++) sorted[KEEP + i] = (uintptr_t)helper_blocks[i];
    qsort(sorted, KEEP + NHELPER, sizeof sorted[0], cmp);
    for (int i = 1; i < KEEP + NHELPER; i++)
        if (sorted[i] && sorted[i] == sorted[i - 1]) {
            printf("FAIL: block %p handed out twice\n", (void *)sorted[i]);
            return 1;
        }
    for (int i = 0; i < KEEP; i++) {
        char want[SIZE];
        snprintf(want, sizeof want, "block %d", i);
        if (strcmp((char *)keep[i], want)) {
            printf("FAIL: block %d at %p was overwritten\n", i, (void *)keep[i]);
            return 1;
        }
    }
    for (int i = 0; i < NHELPER; i++)
        if (helper_blocks[i] && memcmp(helper_blocks[i], "helper", 7)) {
            printf("FAIL: the live thread's block %p was overwritten\n", helper_blocks[i]);
            return 1;
        }
    if (!strncmp(c, "held-", 5)) {
        pthread_mutex_lock(&mu);
        helper_quit = 1;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
        pthread_join(helper, NULL);
    }
    for (int i = 0; i < KEEP; i++) free((void *)keep[i]);
    for (int i = 0; i < BEFORE; i++) free(before[i]);
    puts("distinct");
    return 0;
}
