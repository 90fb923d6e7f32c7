/* leaky.c -- known leaks and known reachable blocks, for the leak report checker (check.py).
 *
 * Plain libc program (never linked against cowgc). Every leak comes from one noinline "site"
 * function whose name the checker looks for as the first frame of the group. Sizes are not size
 * classes: both tools must count the bytes the program asked for. Blocks allocated from *_keep
 * functions stay reachable (globals, TLS, a live thread's stack and a register, an mmap'd region,
 * an interior pointer) and must never be reported.
 *
 * Usage: leaky [DSO_PATH] [--signal SIG]   (--signal: raise SIG after leaking, to test reports)
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static void *volatile sink;                 /* defeats dead-store elimination, then cleared */
static NOINLINE void *use(void *p) { sink = p; sink = NULL; return p; }

/* Overwrite the dead part of the stack so stale copies do not keep leaks alive. */
static NOINLINE void scrub(void)
{
    volatile char buf[1 << 16];
    memset((char *)buf, 0, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");   /* the stores are kept: buf escapes */
}

/* ---- leaks ---- */

static NOINLINE void direct_site(void) { for (int i = 0; i < 3; i++) use(malloc(100)); }

static NOINLINE void *child_site(void) { return memset(malloc(40), 0, 40); }
static NOINLINE void root_site(void)
{
    void **root = malloc(36);
    root[0] = child_site();
    root[1] = child_site();
    root[2] = root[3] = NULL;
    use(root);
}

static NOINLINE void cycle_site(void)
{
    void **a = malloc(90), **b = malloc(90);
    memset(a, 0, 90);
    memset(b, 0, 90);
    a[0] = b;
    b[0] = a;
    use(a);
}

static NOINLINE void realloc_site(void)
{
    char *p = malloc(16);
    p = realloc(p, 1000);
    use(memset(p, 2, 1000));
}

/* Grown in place (same size class): LSan counts it at realloc's call, with the new size. */
static NOINLINE void inplace_site(void) { char *p = malloc(100); use(realloc(p, 110)); }

static NOINLINE void memalign_site(void)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, 200) == 0) use(p);
}

/* The allocation is inlined into inline_site: its first frame is inline_helper, at the same pc. */
static inline __attribute__((always_inline)) void *inline_helper(size_t n) { return malloc(n); }
static NOINLINE void inline_site(void) { use(inline_helper(70)); }

static NOINLINE void large_site(void) { use(malloc(100000)); }
static NOINLINE void calloc_site(void) { use(calloc(10, 15)); }

static NOINLINE void thread_site(void) { use(malloc(120)); use(malloc(120)); }
static void *leaker_thread(void *arg)
{
    thread_site();
    scrub();
    return NULL;
}

/* ---- reachable ---- */

static void **g_keep;
static char *g_interior;
static __thread void *t_keep;
static void **region;

/* The reachable blocks are initialised, as real programs do: malloc does not clear memory, and
 * stale words left in an uninitialised but reachable block could point at a leaked block and
 * (conservatively, correctly) keep it alive, which would make the expected groups depend on
 * the heap layout. */
#define zmalloc(n) memset(malloc(n), 0, (n))   /* a macro: no frame of its own in any unwinder */
static NOINLINE void global_keep(void) { g_keep = zmalloc(80); g_keep[0] = zmalloc(80); }
static NOINLINE void interior_keep(void) { g_interior = (char *)zmalloc(200) + 100; }
static NOINLINE void tls_keep(void) { t_keep = zmalloc(112); }
static NOINLINE void mmap_keep(void)
{
    region = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    region[4321] = zmalloc(176);
}

/* A thread that never returns: one block lives only on its stack, one only in r15. */
static volatile int parked;
static NOINLINE void *stack_keep(void) { return zmalloc(144); }
static NOINLINE uintptr_t register_keep(void) { return (uintptr_t)zmalloc(240) ^ 0x5a5a5a5a5a5a5a5aull; }
static void *parked_thread(void *arg)
{
    void *volatile on_stack = stack_keep();
    uintptr_t hidden = register_keep();
    scrub();
    __asm__ volatile(
        "mov %[h], %%r15\n\t"
        "xor %[m], %%r15\n\t"
        "movl $1, %[parked]\n"
        "1:\n\t"
        "pause\n\t"
        "jmp 1b\n\t"
        : [parked] "=m"(parked)
        : [h] "r"(hidden), [m] "r"(0x5a5a5a5a5a5a5a5aull)
        : "r15", "memory");
    (void)on_stack;
    return NULL;
}

static NOINLINE void run_all(const char *dso)
{
    direct_site();
    root_site();
    cycle_site();
    realloc_site();
    inplace_site();
    memalign_site();
    inline_site();
    large_site();
    calloc_site();
    pthread_t t;
    pthread_create(&t, NULL, leaker_thread, NULL);
    pthread_join(t, NULL);
    if (dso) {
        void *h = dlopen(dso, RTLD_NOW);
        if (!h) { fprintf(stderr, "leaky: dlopen %s: %s\n", dso, dlerror()); exit(2); }
        void (*f)(void) = (void (*)(void))dlsym(h, "dso_leak");
        f();                                /* the library stays loaded: its frames symbolise */
    }
    global_keep();
    interior_keep();
    tls_keep();
    mmap_keep();
    pthread_t p;
    pthread_create(&p, NULL, parked_thread, NULL);
    pthread_detach(p);
    while (!parked) usleep(1000);
}

static void close_stderr(void) { close(2); }

int main(int argc, char **argv)
{
    const char *dso = NULL;
    int sig = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--signal") && i + 1 < argc) sig = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--close-stderr")) atexit(close_stderr);   /* as coreutils do */
        else dso = argv[i];
    }
    run_all(dso);
    scrub();
    if (sig) {
        raise(sig);
        usleep(300000);                     /* the report runs on cowgc's helper thread */
    }
    printf("leaky: done\n");                /* buffered when piped: must survive LEAK_EXITCODE */
    return 0;
}
