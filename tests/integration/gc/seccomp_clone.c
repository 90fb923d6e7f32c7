/* seccomp_clone.c -- a program that forbids itself new threads (seccomp kills it on clone) survives big collections.
 *
 * Sandboxed programs (a privilege-separated child, a daemon under systemd's SystemCallFilter)
 * install filters that kill the process on system calls they never make. cowgc's helper markers
 * are new threads: under a filter a big collection must mark alone. The program builds a tree
 * big enough for helpers (several MiB), forbids clone and clone3, then collects and checks
 * the tree. Without the check it dies of SIGSYS at the first big collection.
 */
#include <dlfcn.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gcstat.h"

#ifndef __NR_clone3
#define __NR_clone3 435
#endif

struct node { struct node *l, *r; uint64_t key; };
static struct node *root;

static struct node *tree(unsigned depth, uint64_t *k)
{
    struct node *n = malloc(sizeof *n);
    if (!n) { perror("malloc"); exit(2); }
    n->key = ((uintptr_t)n * 0x9e3779b97f4a7c15ull) ^ ++*k;
    n->l = depth ? tree(depth - 1, k) : NULL;
    n->r = depth ? tree(depth - 1, k) : NULL;
    return n;
}

static unsigned long check(const struct node *n)
{
    unsigned long c = 0;
    for (; n; n = n->r) {
        if (((n->key ^ ((uintptr_t)n * 0x9e3779b97f4a7c15ull)) >> 40) != 0) return 0;   /* reused */
        c += 1 + check(n->l);
    }
    return c;
}

static int forbid_clone(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    };
    struct sock_fprog prog = { (unsigned short)(sizeof f / sizeof f[0]), f };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

int main(void)
{
    void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    int (*get)(struct cowgc_stats *, size_t) =
        (int (*)(struct cowgc_stats *, size_t))dlsym(RTLD_DEFAULT, "cowgc_get_stats");
    uint64_t k = 0;
    root = tree(17, &k);                       /* 256 Ki nodes, 8 MiB of 32-byte slots */
    unsigned long want = check(root);
    if (forbid_clone() != 0) { perror("seccomp"); return 77; }
    for (int i = 0; i < 3; i++) {
        if (collect) collect();
        for (int j = 0; j < 20000; j++) {      /* garbage in the tree's size class, written */
            char *volatile g = malloc(sizeof(struct node));
            memset(g, 0xab, sizeof(struct node));
        }
    }
    unsigned long got = check(root);
    struct cowgc_stats st;
    memset(&st, 0, sizeof st);
    if (get) get(&st, sizeof st);
    printf("seccomp_clone: %lu nodes checked, %llu collections, %llu with helpers\n", got,
           (unsigned long long)st.collections, (unsigned long long)st.parallel_collections);
    if (got != want) { printf("FAIL: %lu of %lu nodes intact\n", got, want); return 1; }
    if (get && st.collections < 3) { printf("FAIL: the collections did not run\n"); return 1; }
    puts("seccomp_clone: ok");
    return 0;
}
