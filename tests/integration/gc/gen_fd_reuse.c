/* gen_fd_reuse.c -- a program that closes every descriptor and reuses the numbers keeps its files: cowgc's generations never close, read or ioctl a descriptor that is no longer theirs.
 *
 * The dirty-page tracker keeps descriptors open between collections (userfaultfd, and
 * /proc/self/pagemap). A daemon that closes all its descriptors and opens its own files may
 * get those numbers (cowgc moves them high, so here the program puts files on exactly the
 * numbers it finds open, the worst case). Afterwards collections must go on (and still keep
 * live data), and a forked child -- where cowgc drops the parent's tracker -- must still be
 * able to write every file the program opened.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
        _exit(write_all(fd, "child") || check() != 0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { puts("FAIL: the forked child lost its files"); bad++; }
    garbage(40);            /* collections with the numbers reused */
    collect();
    garbage(20);
    bad += write_all(fd, "parent");
    if (check() != 0) { puts("FAIL: the live list was damaged"); bad++; }
    bad += write_all(fd, "parent-after");
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
