/* gcstat.h -- for the tests here: cowgc's statistics through its optional API (dlsym), and a clock. */
#ifndef GCSTAT_H
#define GCSTAT_H
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cowgc.h"

/* Completed collections so far; -1 when the program does not run under cowgc. */
static inline long gc_count(void)
{
    static int (*get)(struct cowgc_stats *, size_t);
    if (!get)
        get = (int (*)(struct cowgc_stats *, size_t))dlsym(RTLD_DEFAULT, "cowgc_get_stats");
    if (!get)
        return -1;
    struct cowgc_stats st;
    memset(&st, 0, sizeof st);
    get(&st, sizeof st);
    return (long)st.collections;
}

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Set by a test whose collections reclaim nothing in collect mode too (an io_uring ring is
 * mapped): churn_until then frees and asks, as in detect mode. */
static int churn_reclaims_nothing;

/* Allocate small blocks until `want` more collections completed or `budget_s` seconds passed
 * (the bound only keeps a broken build from running forever). Returns collections done.
 * COWGC_MODE=detect reclaims nothing, so there the blocks are freed and collections are asked
 * for with cowgc_collect(); otherwise they are dropped and the trigger collects them. */
static inline long churn_until(long want, double budget_s)
{
    const char *mode = getenv("COWGC_MODE");
    void (*collect)(void) = NULL;
    if (churn_reclaims_nothing || (mode && !strcmp(mode, "detect")))
        collect = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    long start = gc_count();
    double end = now_s() + budget_s;
    volatile char *sink;
    for (unsigned long i = 1;; i++) {
        char *p = malloc(64 + (i % 512));
        p[0] = (char)i;
        sink = p;
        (void)sink;
        if (collect)
            free(p);
        if (i % 256 == 0) {
            if (collect && i % 4096 == 0)
                collect();
            long done = gc_count() - start;
            if (done >= want || now_s() > end)
                return done;
        }
    }
}
#endif
