/* frag.c -- glibc malloc-simple's pattern for the fragmentation test (frag.sh): blocks of 16, 32
 * and 64 bytes allocated 25, 100, 400 or 1600 at a time and all freed in one order, over and
 * over, on the main thread or on a second one. Live data never exceeds 1600 * 64 bytes, so the
 * peak RSS should stay close to the libc allocator's. Prints "maxrss_kb N" (getrusage).
 *
 *   it_frag main|thread fifo|lifo|mixed BLOCKS_PER_CASE
 * mixed: the first half oldest-first, the second half newest-first.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cgt.h"

static int order;
static long per_case;
static unsigned long errors;

static void *run(void *unused)
{
    static const size_t sizes[] = { 16, 32, 64 };
    static const long counts[] = { 25, 100, 400, 1600 };
    static void *b[1600];
    (void)unused;
    for (unsigned si = 0; si < 3; si++)
        for (unsigned ci = 0; ci < 4; ci++) {
            long n = counts[ci];
            for (long r = 0; r < per_case / n; r++) {
                for (long i = 0; i < n; i++) {
                    b[i] = malloc(sizes[si]);
                    if (!b[i]) { errors++; return NULL; }
                    memset(b[i], (int)i, sizes[si]);
                }
                for (long k = 0; k < n; k++) {
                    long i = order == 0 ? k : order == 1 ? n - 1 - k
                           : k < n / 2 ? k : n - 1 - (k - n / 2);
                    if (*(unsigned char *)b[i] != (unsigned char)i) errors++;
                    free(b[i]);
                }
            }
        }
    return NULL;
}

int main(int argc, char **argv)
{
    int rc = cgt_check_loaded("it_frag");
    if (rc) return rc;
    if (argc != 4 || (strcmp(argv[1], "main") && strcmp(argv[1], "thread"))) {
        fprintf(stderr, "usage: it_frag main|thread fifo|lifo|mixed BLOCKS_PER_CASE\n");
        return 2;
    }
    order = !strcmp(argv[2], "fifo") ? 0 : !strcmp(argv[2], "lifo") ? 1 : !strcmp(argv[2], "mixed") ? 2 : -1;
    per_case = atol(argv[3]);
    if (order < 0 || per_case < 1600) {
        fprintf(stderr, "it_frag: bad order or count\n");
        return 2;
    }
    if (!strcmp(argv[1], "thread")) {
        pthread_t t;
        if (pthread_create(&t, NULL, run, NULL) != 0) return 3;
        pthread_join(t, NULL);
    } else {
        run(NULL);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("maxrss_kb %ld\n", ru.ru_maxrss);
    if (errors) fprintf(stderr, "it_frag: %lu blocks lost their contents\n", errors);
    return errors ? 1 : 0;
}
