/* rootpages.c -- a server-like program whose old data sits in its own mmap'd table (as an
 * interpreter's arenas or a cache do): minor collections with and without skipping unwritten
 * root pages (COWGC_ROOT_PAGES).
 *
 *   rootpages TABLE_MIB REQUESTS
 *
 * Builds a table of TABLE_MIB MiB in an anonymous mapping, one pointer to a malloc'd 32-byte
 * entry per 64 bytes, then serves REQUESTS "requests": each builds a young list of 200 blocks,
 * keeps the last 4 lists and touches one table page. Prints one RESULT line: wall time, and
 * under cowgc the minor collections, their mean pause and the root bytes they skipped.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "bench_common.h"
#include "cowgc.h"

struct node { struct node *next; void *entry; char pad[16]; };

int main(int argc, char **argv)
{
    long mib = arg_long(argc, argv, 1, 64), requests = arg_long(argc, argv, 2, 20000);
    size_t bytes = (size_t)mib << 20, slots = bytes / 64;
    void **table = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (table == MAP_FAILED) { perror("mmap"); return 2; }
    for (size_t i = 0; i < slots; i++) {
        char *e = xmalloc(32);
        memset(e, (int)(i & 0x7f), 32);
        table[i * 8] = e;
    }
    int (*get_stats)(struct cowgc_stats *, size_t) =
        (int (*)(struct cowgc_stats *, size_t))dlsym(RTLD_DEFAULT, "cowgc_get_stats");
    void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    if (collect) collect();
    struct cowgc_stats s0 = { 0 }, s1 = { 0 };
    if (get_stats) get_stats(&s0, sizeof s0);
    struct node *keep[4] = { 0 };
    unsigned long long sum = 0, errs = 0;
    double t0 = now_sec();
    for (long r = 0; r < requests; r++) {
        struct node *head = NULL;
        for (int k = 0; k < 200; k++) {
            struct node *n = xmalloc(sizeof *n);
            n->next = head;
            n->entry = table[((size_t)r * 977 + (size_t)k * 131) % slots * 8];
            head = n;
        }
        keep[r & 3] = head;                       /* the list 4 requests ago becomes garbage */
        size_t page = (size_t)r * 7919 % (bytes / 4096);
        table[page * 512 + 1] = head;             /* one table page written per request */
        for (struct node *n = head; n; n = n->next) sum += *(unsigned char *)n->entry;
    }
    double secs = now_sec() - t0;
    for (int i = 0; i < 4; i++)
        for (struct node *n = keep[i]; n; n = n->next)
            if (((char *)n->entry)[31] != ((char *)n->entry)[0]) errs++;
    if (get_stats) get_stats(&s1, sizeof s1);
    uint64_t minors = s1.minor_collections - s0.minor_collections;
    uint64_t colls = s1.collections - s0.collections;
    printf("RESULT workload=rootpages secs=%.6f minors=%llu collections=%llu mean_pause_us=%.1f "
           "root_skipped_mib=%.1f errors=%llu checksum=%llu\n",
           secs, (unsigned long long)minors, (unsigned long long)colls,
           colls ? (double)(s1.pause_total_ns - s0.pause_total_ns) / colls / 1000 : 0.0,
           (double)(s1.root_bytes_skipped - s0.root_bytes_skipped) / (1 << 20), errs, sum);
    return errs ? 1 : 0;
}
