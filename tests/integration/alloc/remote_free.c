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
 * After the double free, many blocks of p's size class are allocated and kept: all must be
 * distinct and keep their contents (a block handed out twice would be overwritten). */
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

static void in_thread(void *(*fn)(void *))
{
    pthread_t t;
    if (pthread_create(&t, NULL, fn, NULL) != 0 || pthread_join(t, NULL) != 0) {
        perror("pthread");
        exit(2);
    }
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

    if (!strcmp(c, "remote-owner")) {
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

    static uintptr_t keep[KEEP], sorted[KEEP];
    for (int i = 0; i < KEEP; i++) {
        char *q = malloc(SIZE);
        if (!q) { fprintf(stderr, "malloc failed\n"); return 1; }
        memset(q, 0, SIZE);
        snprintf(q, SIZE, "block %d", i);
        keep[i] = sorted[i] = (uintptr_t)q;
    }
    qsort(sorted, KEEP, sizeof sorted[0], cmp);
    for (int i = 1; i < KEEP; i++)
        if (sorted[i] == sorted[i - 1]) {
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
    for (int i = 0; i < KEEP; i++) free((void *)keep[i]);
    for (int i = 0; i < BEFORE; i++) free(before[i]);
    puts("distinct");
    return 0;
}
