/* forkbench.c -- how many heap pages one full collection in a forked child privatises (cowgc or Boehm).
 *
 * The parent builds S MiB (--mib S, default 256) of small blocks -- a balanced binary tree of
 * 32-byte nodes, each also pointing to a 16..64-byte string -- with plain malloc, then forks.
 * The child reads its Private_Dirty from /proc/self/smaps_rollup, runs one full collection,
 * and reads it again: the difference is what the collection wrote (copy-on-write copies).
 *   plain build:            cowgc_collect() looked up with dlsym (run under LD_PRELOAD=libcowgc.so;
 *                           without cowgc there is nothing to call and the delta is ~0)
 *   -DUSE_BOEHM, -lgc:      GC_MALLOC for the same heap shape, GC_gcollect() in the child
 * Targets: COWGC_MARK=outofline adds at most S/64 (mark bits + alloc bitmap words), inline ~S.
 *
 * Output, one line of key=value for scripts:
 *   forkbench gc=cowgc|boehm|none heap_mib=S blocks=N child_private_dirty_before_kib=..
 *   child_private_dirty_after_kib=.. delta_kib=.. delta_pct_of_heap=.. collect_ms=.. tree_sum_ok=1
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef USE_BOEHM
#include <gc.h>
#define ALLOC(n) GC_MALLOC(n)
#define GC_NAME "boehm"
#else
#define ALLOC(n) malloc(n)
#define GC_NAME "cowgc"
#endif

struct node {
    struct node *left, *right;
    char *str;
    uint64_t val;
};

static struct node *root;   /* a global: the collector finds the tree from the data segment */
static uint64_t budget;     /* bytes still to allocate */
static uint64_t nblocks;

static void *xalloc(size_t n)
{
    void *p = ALLOC(n);
    if (!p) {
        fprintf(stderr, "forkbench: out of memory\n");
        exit(2);
    }
    nblocks++;
    budget = budget > n ? budget - n : 0;
    return p;
}

/* A balanced tree of n nodes; depth log2(n), so recursion is fine. */
static struct node *build(uint64_t n, uint64_t *counter)
{
    if (n == 0)
        return NULL;
    struct node *nd = xalloc(sizeof *nd);
    uint64_t id = (*counter)++;
    size_t slen = 16 + (id % 4) * 16;        /* 16, 32, 48, 64 bytes */
    nd->str = xalloc(slen);
    memset(nd->str, 'a' + (int)(id % 26), slen - 1);
    nd->str[slen - 1] = 0;
    nd->val = id;
    uint64_t rest = n - 1;
    nd->left = build(rest / 2, counter);
    nd->right = build(rest - rest / 2, counter);
    return nd;
}

static uint64_t sum(const struct node *nd)
{
    uint64_t s = 0;
    while (nd) {                 /* recurse left, loop right */
        s += nd->val + (uint64_t)(unsigned char)nd->str[0];
        s += sum(nd->left);
        nd = nd->right;
    }
    return s;
}

/* Private_Dirty (or another field) of this process in KiB, without stdio or malloc. */
static long rollup_kib(const char *field)
{
    char buf[4096];
    int fd = open("/proc/self/smaps_rollup", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    size_t fl = strlen(field);
    for (char *p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, field, fl) == 0 && p[fl] == ':')
            return strtol(p + fl + 1, NULL, 10);
    return -1;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    uint64_t mib = 256;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mib") && i + 1 < argc)
            mib = strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: forkbench [--mib S]\n");
            return 2;
        }
    }
#ifdef USE_BOEHM
    GC_set_handle_fork(1);
    GC_INIT();
#endif
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* Node (32) + average string (40): 72 bytes of requests per node. */
    budget = mib << 20;
    uint64_t nnodes = budget / 72, counter = 0;
    double t0 = now_ms();
    root = build(nnodes, &counter);
    uint64_t expect = sum(root);
    double t1 = now_ms();
    long parent_rss = rollup_kib("Rss");

    const char *gc = GC_NAME;
#ifndef USE_BOEHM
    void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    if (!collect)
        gc = "none";
#endif
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("forkbench: fork");
        return 1;
    }
    if (pid == 0) {
        long before = rollup_kib("Private_Dirty");
        double c0 = now_ms();
#ifdef USE_BOEHM
        GC_gcollect();
#else
        if (collect)
            collect();
#endif
        double c1 = now_ms();
        long after = rollup_kib("Private_Dirty");
        int ok = sum(root) == expect;
        long delta = after - before;
        printf("forkbench gc=%s heap_mib=%llu blocks=%llu build_ms=%.0f parent_rss_kib=%ld "
               "child_private_dirty_before_kib=%ld child_private_dirty_after_kib=%ld delta_kib=%ld "
               "delta_pct_of_heap=%.2f collect_ms=%.1f tree_sum_ok=%d\n",
               gc, (unsigned long long)mib, (unsigned long long)nblocks, t1 - t0, parent_rss,
               before, after, delta, 100.0 * (double)delta / (double)(mib << 10), c1 - c0, ok);
        fflush(stdout);
        _exit(ok ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "forkbench: child failed (status 0x%x)\n", st);
        return 1;
    }
    return 0;
}
