/* cgt.h -- what our integration test programs know about cowgc, without linking to it: they
 * find its API with dlsym, as any unmodified program could, and use cowgc.h only for the layout
 * of struct cowgc_stats. compare.sh sets CGT_UNDER_COWGC=1 in the run that preloads cowgc.
 */
#ifndef CGT_H
#define CGT_H

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cowgc.h"

/* 0 when fine; 3 when CGT_UNDER_COWGC=1 but cowgc's API cannot be found (not loaded). */
static inline int cgt_check_loaded(const char *prog)
{
    if (getenv("CGT_UNDER_COWGC") && !dlsym(RTLD_DEFAULT, "cowgc_active")) {
        fprintf(stderr, "%s: CGT_UNDER_COWGC is set but cowgc_active is not found: cowgc not loaded,"
                " or its API not exported\n", prog);
        return 3;
    }
    return 0;
}

/* After a run that allocated far more than COWGC_MIN_TRIGGER: under cowgc with
 * COWGC_MODE=collect, at least one collection must have happened, or the test proved nothing;
 * with expect_reclaim (the program dropped many blocks without freeing them) the collector must
 * have reclaimed some. COWGC_MODE=off must not collect. Prints the stats summary to stderr.
 * Returns 0 when fine, 1 otherwise. */
static inline int cgt_expect_collections(const char *prog, int expect_reclaim)
{
    int (*get)(struct cowgc_stats *, size_t) =
        (int (*)(struct cowgc_stats *, size_t))dlsym(RTLD_DEFAULT, "cowgc_get_stats");
    const char *mode = getenv("COWGC_MODE");
    if (!getenv("CGT_UNDER_COWGC") || !get) return 0;
    struct cowgc_stats st;
    memset(&st, 0, sizeof st);
    if (get(&st, sizeof st) != 0) {
        fprintf(stderr, "%s: cowgc_get_stats failed\n", prog);
        return 1;
    }
    fprintf(stderr, "%s: cowgc stats: %llu collections, %llu blocks reclaimed, mallocs %llu frees %llu,"
            " max pause %.3f ms\n", prog, (unsigned long long)st.collections,
            (unsigned long long)st.reclaimed_blocks, (unsigned long long)st.mallocs,
            (unsigned long long)st.frees, st.pause_max_ns / 1e6);
    if (mode && strcmp(mode, "collect") == 0 && st.collections == 0) {
        fprintf(stderr, "%s: COWGC_MODE=collect but no collection happened\n", prog);
        return 1;
    }
    if (mode && strcmp(mode, "collect") == 0 && expect_reclaim && st.reclaimed_blocks == 0) {
        fprintf(stderr, "%s: COWGC_MODE=collect, garbage was dropped, but nothing was reclaimed\n", prog);
        return 1;
    }
    if (mode && strcmp(mode, "off") == 0 && st.collections != 0) {
        fprintf(stderr, "%s: COWGC_MODE=off but %llu collections happened\n", prog,
                (unsigned long long)st.collections);
        return 1;
    }
    return 0;
}

#endif
