/* forky.c -- which leaks a forked child reports: only the blocks it allocated itself.
 *
 * The parent leaks parent_site and keeps inherited_site and a table reachable, then forks:
 *   A  allocates nothing and exits: no report at all.
 *   D  allocates three blocks it keeps (in the inherited table, one of them only through a
 *      pointer 3000 bytes into it, and in a global) and exits: no report.
 *   B  leaks b_leak_site; drops the only pointer to the inherited inherited_site block; stores
 *      one new block in the inherited table (a heap page it wrote) and one in a global: reports
 *      b_leak_site only.
 *   C  forks G and H first (its pages are shared again), then does what B does: reports
 *      c_leak_site.
 *   G  leaks g_leak_site: reports it only.
 *   H  does what D does, as a child of a forked child: no report, and its exit check reads
 *      only its own pagemap (C's would show its pages shared still, with P and G).
 *   E  leaks e_early_site and e_memalign_site (its requested size set after the allocation),
 *      then keeps 3000 new blocks (more than a child's private log of its own blocks holds, so
 *      the log moves to the side tables) and leaks e_late_site: reports those three.
 *   R  made by a raw clone() (no fork handler runs), does what B does with r_leak_site:
 *      reports r_leak_site only, not the parent's leaks it inherited.
 * The parent waits for all, then leaks parent_late_site and p_memalign_site, keeps 5000 new
 * blocks (more than the log of metadata it defers once it has forked holds, so the log is
 * flushed to the side tables), leaks parent_last_site, and starts a thread that leaks
 * thread_late_site (the log is flushed as the thread starts). It reports those five and
 * parent_site, with their stacks and requested sizes.
 * Prints "A=pid D=pid B=pid C=pid G=pid H=pid E=pid R=pid P=pid" on stdout. Plain libc program.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

#include <pthread.h>

static void *volatile sink;
static NOINLINE void *use(void *p) { sink = p; sink = NULL; return p; }

static void **table;               /* inherited, reachable everywhere */
static void *inherited;            /* inherited; B and C drop it */
void *child_global;                /* global, so that the store is not dead to the compiler */

static NOINLINE void parent_site(void) { use(memset(malloc(111), 0, 111)); }
static NOINLINE void inherited_site(void) { inherited = memset(malloc(333), 0, 333); }
static NOINLINE void table_site(void) { table = memset(malloc(64 * sizeof(void *)), 0, 64 * sizeof(void *)); }
static NOINLINE void b_leak_site(void) { use(memset(malloc(222), 0, 222)); }
static NOINLINE void c_leak_site(void) { use(memset(malloc(223), 0, 223)); }
static NOINLINE void g_leak_site(void) { use(memset(malloc(224), 0, 224)); }
static NOINLINE void r_leak_site(void) { use(memset(malloc(230), 0, 230)); }
static NOINLINE void kept_in_table_site(void)
{
    table[7] = memset(malloc(444), 0, 444);
    table[8] = (char *)memset(malloc(4000), 0, 4000) + 3000;    /* only an interior pointer */
}
static NOINLINE void kept_in_global_site(void) { child_global = memset(malloc(555), 0, 555); }
static NOINLINE void e_early_site(void) { use(memset(malloc(225), 0, 225)); }
static NOINLINE void e_late_site(void) { use(memset(malloc(226), 0, 226)); }
static NOINLINE void e_memalign_site(void)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, 227) == 0) use(memset(p, 0, 227));
}

static NOINLINE void parent_late_site(void) { use(memset(malloc(113), 0, 113)); }
static NOINLINE void parent_last_site(void) { use(memset(malloc(114), 0, 114)); }
static NOINLINE void thread_late_site(void) { use(memset(malloc(115), 0, 115)); }
static NOINLINE void p_memalign_site(void)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, 229) == 0) use(memset(p, 0, 229));
}

#define P_KEEP 5000
void **p_keep;
static NOINLINE void p_keep_many(void)
{
    p_keep = use(memset(malloc(P_KEEP * sizeof(void *)), 0, P_KEEP * sizeof(void *)));
    for (int i = 0; i < P_KEEP; i++) p_keep[i] = use(malloc(48));
}

#define E_KEEP 3000
void **e_keep;                     /* global, so that the stores are not dead to the compiler */

static NOINLINE void e_keep_many(void)
{
    e_keep = use(memset(malloc(E_KEEP * sizeof(void *)), 0, E_KEEP * sizeof(void *)));
    for (int i = 0; i < E_KEEP; i++) e_keep[i] = use(malloc(32));
}

static NOINLINE void scrub(void)
{
    volatile char buf[1 << 14];
    memset((char *)buf, 0, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");   /* the stores are kept: buf escapes */
}

/* A joined thread's stack stays mapped (glibc caches it), so it is scrubbed like main's. */
static void *late_thread(void *arg)
{
    thread_late_site();
    scrub();
    return arg;
}

static void child_work(void (*leak)(void))
{
    leak();
    inherited = NULL;
    kept_in_table_site();
    kept_in_global_site();
    scrub();
}

/* D and H: three blocks kept (in the inherited table and a global), nothing leaked. */
static void keep_and_exit(void)
{
    kept_in_table_site();
    kept_in_global_site();
    scrub();
    exit(0);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);  /* no stdio buffer allocated in any child */
    table_site();
    inherited_site();
    parent_site();
    scrub();
    pid_t a = fork();
    if (a == 0) exit(0);
    waitpid(a, NULL, 0);
    pid_t d = fork();
    if (d == 0) keep_and_exit();
    waitpid(d, NULL, 0);
    pid_t b = fork();
    if (b == 0) {
        child_work(b_leak_site);
        exit(0);
    }
    waitpid(b, NULL, 0);
    int fds[2];
    if (pipe(fds) != 0) return 1;
    pid_t c = fork();
    if (c == 0) {
        pid_t g = fork();
        if (g == 0) {
            g_leak_site();
            scrub();
            exit(0);
        }
        if (write(fds[1], &g, sizeof g) != sizeof g) _exit(1);
        waitpid(g, NULL, 0);
        pid_t h = fork();
        if (h == 0) keep_and_exit();
        if (write(fds[1], &h, sizeof h) != sizeof h) _exit(1);
        waitpid(h, NULL, 0);
        child_work(c_leak_site);
        exit(0);
    }
    pid_t g = 0, h = 0;
    if (read(fds[0], &g, sizeof g) != sizeof g || read(fds[0], &h, sizeof h) != sizeof h) return 1;
    waitpid(c, NULL, 0);
    pid_t e = fork();
    if (e == 0) {
        e_early_site();
        e_memalign_site();
        e_keep_many();
        e_late_site();
        scrub();
        exit(0);
    }
    waitpid(e, NULL, 0);
    pid_t r = (pid_t)syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
    if (r == 0) {
        child_work(r_leak_site);
        exit(0);
    }
    if (r < 0 || waitpid(r, NULL, 0) != r) return 1;
    parent_late_site();
    p_memalign_site();
    p_keep_many();
    parent_last_site();
    pthread_t t;
    if (pthread_create(&t, NULL, late_thread, NULL) != 0 || pthread_join(t, NULL) != 0) return 1;
    scrub();
    printf("A=%d D=%d B=%d C=%d G=%d H=%d E=%d R=%d P=%d\n", (int)a, (int)d, (int)b, (int)c, (int)g, (int)h,
           (int)e, (int)r, (int)getpid());
    return 0;
}
