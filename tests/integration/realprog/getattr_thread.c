/* getattr_thread.c -- threads whose first allocation happens inside pthread_getattr_np (as every
 * Ruby thread's does). glibc holds the thread's own lock across that realloc; recording the
 * allocation's stack must not wait for the same lock (detect mode hung forever). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *body(void *arg)
{
    pthread_attr_t a;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &a) != 0 || pthread_attr_getstack(&a, &addr, &size) != 0)
        return (void *)1;
    pthread_attr_destroy(&a);
    void **p = malloc(64);              /* and the ordinary allocations after it */
    *p = arg;
    free(p);
    return NULL;
}

int main(void)
{
    for (int round = 0; round < 20; round++) {
        pthread_t t[4];
        for (int i = 0; i < 4; i++)
            if (pthread_create(&t[i], NULL, body, NULL) != 0) return 1;
        for (int i = 0; i < 4; i++) {
            void *r;
            pthread_join(t[i], &r);
            if (r) { fprintf(stderr, "getattr_thread: pthread_getattr_np failed\n"); return 1; }
        }
    }
    printf("getattr_thread: ok\n");
    return 0;
}
