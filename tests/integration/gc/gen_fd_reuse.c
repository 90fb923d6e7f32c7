/* gen_fd_reuse.c -- a program that closes every descriptor and reuses the numbers keeps its files: cowgc never closes, reads, seeks or ioctls a descriptor that is no longer its own.
 *
 * cowgc keeps descriptors open between collections: the stop's /proc/self/task, the roots'
 * maps and pagemap, and with generations the tracker's userfaultfd and pagemap. A daemon that
 * closes all its descriptors and opens its own files may get those numbers (cowgc moves them
 * high, so here the program puts files on exactly the numbers it finds open, the worst case).
 * Afterwards collections must go on (and still keep live data), every file must hold exactly
 * what the program wrote (a seek by cowgc would have overwritten its start), and a forked
 * child -- which must read its own maps, not the ones its parent's descriptors name -- must
 * keep blocks it holds only in a mapping it made after the fork.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cowgc.h"

#define NFILES 16
#define NLIST 20000

struct node { struct node *next; uint64_t v; };
static struct node *head;

static void build(void)
{
    for (uint64_t i = 0; i < NLIST; i++) {
        struct node *n = malloc(sizeof *n);
        n->v = i * 2654435761u;
        n->next = head;
        head = n;
    }
}

static int check(void)
{
    uint64_t i = NLIST;
    for (struct node *n = head; n; n = n->next) {
        i--;
        if (n->v != i * 2654435761u) return -1;
    }
    return i == 0 ? 0 : -1;
}

static void garbage(int rounds)
{
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < 2000; k++) {
            char *volatile p = malloc(64 + (size_t)k % 200);
            p[0] = 1;
        }
}

/* In a forked child: blocks held only by a mapping made after the fork survive collections. */
static int child_mapping(void)
{
    enum { N = 256, SZ = 200 };
    unsigned char **held = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (held == MAP_FAILED) return 1;
    for (int i = 0; i < N; i++) {
        held[i] = malloc(SZ);
        memset(held[i], 0xA0 + i % 16, SZ);
    }
    void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    for (int r = 0; r < 4; r++) {
        garbage(5);
        collect();
    }
    garbage(10);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < SZ; k++)
            if (held[i][k] != 0xA0 + i % 16) {
                printf("FAIL: child: a block held only in its own new mapping was reclaimed (block %d)\n", i);
                return 1;
            }
    return 0;
}

/* Each file holds exactly its three writes, in order. */
static int contents_ok(const char *dir)
{
    for (int i = 0; i < NFILES; i++) {
        char path[64], want[128], got[129];
        snprintf(path, sizeof path, "%s/f%d", dir, i);
        int n = snprintf(want, sizeof want, "0123456789abcdefchild %d\nparent %d\nparent-after %d\n", i, i, i);
        FILE *f = fopen(path, "r");
        size_t len = f ? fread(got, 1, sizeof got - 1, f) : 0;
        if (f) fclose(f);
        if (len != (size_t)n || memcmp(got, want, (size_t)n) != 0) {
            got[len] = 0;
            printf("FAIL: file %d holds \"%s\", not what the program wrote\n", i, got);
            return 1;
        }
    }
    return 0;
}

static int write_all(const int *fd, const char *who)
{
    for (int i = 0; i < NFILES; i++) {
        char line[64];
        int n = snprintf(line, sizeof line, "%s %d\n", who, i);
        if (write(fd[i], line, (size_t)n) != n) {
            printf("FAIL: %s: write to its file %d (fd %d): %s\n", who, i, fd[i], strerror(errno));
            return 1;
        }
    }
    return 0;
}

int main(void)
{
    void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    if (!collect) { puts("not running under cowgc: nothing to test"); return 0; }
    build();
    garbage(5);
    collect();              /* a full collection arms the tracker */
    garbage(20);            /* minor collections: the tracker's descriptors are in use */
    collect();              /* nothing young left: fork() itself collects nothing */
    /* A child forked while cowgc's descriptors (opened by the parent) are open. */
    pid_t early = fork();
    if (early == 0) _exit(child_mapping());
    int est = 0;
    waitpid(early, &est, 0);
    if (!WIFEXITED(est) || WEXITSTATUS(est) != 0) { puts("FAIL: a child forked with cowgc's descriptors open"); return 1; }
    /* The numbers open now (cowgc's among them), then close them all. */
    int open_nums[NFILES], nopen = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d) { perror("opendir"); return 2; }
    for (struct dirent *e; (e = readdir(d)) && nopen < NFILES / 2;) {
        int n = atoi(e->d_name);
        if (n > 2 && n != dirfd(d)) open_nums[nopen++] = n;
    }
    closedir(d);
    for (int fd = 3; fd < 1024; fd++) close(fd);
    char dir[] = "/tmp/cowgc-fdreuse-XXXXXX";
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 2; }
    int fd[NFILES];
    for (int i = 0; i < NFILES; i++) {
        char path[64];
        snprintf(path, sizeof path, "%s/f%d", dir, i);
        fd[i] = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd[i] < 0) { perror("open"); return 2; }
        if (i < nopen && fd[i] != open_nums[i]) {       /* onto the very number cowgc had */
            if (dup2(fd[i], open_nums[i]) < 0) { perror("dup2"); return 2; }
            close(fd[i]);
            fd[i] = open_nums[i];
        }
        if (write(fd[i], "0123456789abcdef", 16) != 16) { perror("write"); return 2; }
    }
    /* With pagemap-scan working (minor collections ran), two are cowgc's: the userfaultfd and
     * pagemap. Elsewhere (a kernel without it) every collection is full and none is kept. */
    int (*stats)(struct cowgc_stats *, size_t) =
        (int (*)(struct cowgc_stats *, size_t))dlsym(RTLD_DEFAULT, "cowgc_get_stats");
    struct cowgc_stats st0;
    const char *tr = getenv("COWGC_TRACKER");
    if (stats && stats(&st0, sizeof st0) == 0 && st0.minor_collections > 0 && tr &&
        !strcmp(tr, "pagemap-scan") && nopen < 2) {
        printf("FAIL: expected cowgc's tracker descriptors open, found %d\n", nopen);
        return 1;
    }
    int bad = 0;
    /* A child forked now, before any collection saw the numbers change. */
    pid_t pid = fork();
    if (pid == 0) {
        garbage(20);
        collect();
        _exit(write_all(fd, "child") || check() != 0 || child_mapping());
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { puts("FAIL: the forked child lost its files or its live data"); bad++; }
    garbage(40);            /* collections with the numbers reused */
    collect();
    garbage(20);
    bad += write_all(fd, "parent");
    if (check() != 0) { puts("FAIL: the live list was damaged"); bad++; }
    bad += write_all(fd, "parent-after");
    bad += contents_ok(dir);
    for (int i = 0; i < NFILES; i++) {
        char path[64];
        snprintf(path, sizeof path, "%s/f%d", dir, i);
        close(fd[i]);
        unlink(path);
    }
    rmdir(dir);
    if (bad) return 1;
    puts("ok: files on reused descriptor numbers intact in parent and child");
    return 0;
}
