/* prefork.c -- uWSGI-style prefork HTTP server whose parent heap workers share copy-on-write (cowgc demo).
 *
 * An ordinary C program: plain malloc, never linked to cowgc. Run it as is (glibc), under
 * LD_PRELOAD=libcowgc.so (the collector reclaims what requests drop), or under another malloc.
 *
 * Start-up (parent): builds the static structure the paper's workload keeps alive --
 *   5 LargeObjects x 1600 lists, list i holding i pointers to one shared 24-byte string, and
 *   64,000 such strings: 5 * (1600*1601/2) = 6.4M pointers = 51.2 MB of list arrays + 1.5 MB
 *   of strings + 8,000 list headers. --scale F multiplies the total by F (lists per object by
 *   sqrt(F), strings by F).
 * Then it forks W workers accepting on one shared loopback socket (blocking accept(), so the
 * kernel hands connections round-robin to idle workers). The parent re-forks a worker that
 * dies; SIGTERM/SIGINT to the parent kills all.
 *
 * Each request builds a new, smaller LargeObject-like graph (--request-size lists, list i with
 * i pointers to the shared strings) plus a few fresh strings, and drops the oldest of the last
 * three graphs WITHOUT freeing it (the collector must reclaim it); --free frees it instead
 * (for runs without a collector).
 *
 * --collect-before-fork runs one full collection in the parent after the build: every block
 * it keeps is then marked (old, for cowgc's generations) before the workers inherit it.
 *
 * URLs: /        small HTML page with the worker pid
 *       /stats   {"pid":..,"requests":..,"cowgc":0|1, <struct cowgc_stats fields>,
 *                "collections_at_fork":..}; the cowgc fields only if dlsym(RTLD_DEFAULT,
 *                "cowgc_get_stats") finds the function. Stats are per process and inherited
 *                over fork: collections_at_fork are the parent's, run while it built the heap.
 *       /collect calls cowgc_collect() if present, then answers like /stats
 * Each worker also listens on its own control port (a thread), so tools can reach a chosen
 * worker: stdout gets one line per worker, "worker index=I pid=P ctl_port=C".
 *
 * Stdout lines at start (for scripts): "heap_probe=0x..." (a block the parent allocated:
 * the heap mapping is the one containing it), "port=N", "master pid=P", "ready workers=W".
 *
 * -DUSE_BOEHM builds the same server on Boehm GC instead (prefork_boehm): GC_MALLOC (strings
 * GC_MALLOC_ATOMIC), nothing freed. /stats then carries "boehm":1 and the same names for
 * Boehm's figures, counted by a collection-event callback from this process's fork on:
 * collections, pause_total_ns/pause_max_ns (GC_EVENT_START..END, wall), gc_cpu_ns (the
 * collecting thread's CPU over that interval: all of the marking when Boehm runs with one
 * marker, GC_MARKERS=1; its lazy sweeping inside later allocations is not counted),
 * process_cpu_ns.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cowgc.h"   /* struct cowgc_stats only; the functions are looked up with dlsym */

#ifdef USE_BOEHM
#  define GC_THREADS 1        /* pthread_create goes through Boehm: the control thread is seen */
#  include <gc/gc.h>
#  define RAW_ALLOC(n) GC_MALLOC(n)
#  define RAW_ALLOC_ATOMIC(n) GC_MALLOC_ATOMIC(n)
#else
#  define RAW_ALLOC(n) malloc(n)
#  define RAW_ALLOC_ATOMIC(n) malloc(n)
#endif

/* ---- the object graph ------------------------------------------------------------------ */

struct list {            /* like a PyPy list: a header and an items array */
    size_t len;
    char **items;
};
struct large {           /* like the paper's LargeObject */
    size_t nlists;
    struct list **lists;
    size_t nstrings;     /* per-request graphs: fresh strings they own */
    char **strings;
};

static struct large **statics;  /* the parent's LargeObjects */
static size_t nstatics;
static char **strings;          /* the parent's shared strings */
static size_t nstrings;

static struct {
    double scale;
    int workers;
    int port;
    int request_size;
    int request_strings;
    bool do_free;
    bool quiet;
    bool collect_before_fork;
} cfg = { 1.0, 4, 0, 200, 100, false, false, false };

static void *xmalloc(size_t n)
{
    void *p = RAW_ALLOC(n);
    if (!p) {
        fprintf(stderr, "prefork: out of memory (%zu bytes)\n", n);
        exit(2);
    }
    return p;
}

static char *new_string(size_t seed)
{
    char *s = RAW_ALLOC_ATOMIC(24);
    if (!s) {
        fprintf(stderr, "prefork: out of memory (24 bytes)\n");
        exit(2);
    }
    snprintf(s, 24, "s-%021zu", seed);     /* 23 characters + NUL */
    return s;
}

static struct large *build_large(size_t nlists, size_t first_string, size_t nfresh)
{
    struct large *lo = xmalloc(sizeof *lo);
    lo->nlists = nlists;
    lo->lists = xmalloc(nlists * sizeof *lo->lists);
    for (size_t i = 0; i < nlists; i++) {
        struct list *l = xmalloc(sizeof *l);
        size_t len = i + 1;
        char *target = strings[(first_string + i) % nstrings];
        l->len = len;
        l->items = xmalloc(len * sizeof *l->items);
        for (size_t k = 0; k < len; k++)
            l->items[k] = target;
        lo->lists[i] = l;
    }
    lo->nstrings = nfresh;
    lo->strings = nfresh ? xmalloc(nfresh * sizeof *lo->strings) : NULL;
    for (size_t i = 0; i < nfresh; i++)
        lo->strings[i] = new_string(first_string + i);
    return lo;
}

static void free_large(struct large *lo)
{
    if (!lo)
        return;
    for (size_t i = 0; i < lo->nlists; i++) {
        free(lo->lists[i]->items);
        free(lo->lists[i]);
    }
    free(lo->lists);
    for (size_t i = 0; i < lo->nstrings; i++)
        free(lo->strings[i]);
    free(lo->strings);
    free(lo);
}

/* Walks a graph (reads only) so the work is not optimised away; returns a checksum. */
static uint64_t touch_large(const struct large *lo)
{
    uint64_t h = 0;
    for (size_t i = 0; i < lo->nlists; i += 7)
        h = h * 31 + (uintptr_t)lo->lists[i]->items[lo->lists[i]->len - 1][5];
    return h;
}

static void build_statics(void)
{
    nstrings = (size_t)llround(64000.0 * cfg.scale);
    if (nstrings < 16)
        nstrings = 16;
    strings = xmalloc(nstrings * sizeof *strings);
    for (size_t i = 0; i < nstrings; i++)
        strings[i] = new_string(i);
    size_t nlists = (size_t)llround(1600.0 * sqrt(cfg.scale));
    if (nlists < 1)
        nlists = 1;
    nstatics = 5;
    statics = xmalloc(nstatics * sizeof *statics);
    for (size_t o = 0; o < nstatics; o++)
        statics[o] = build_large(nlists, o * nlists, 0);
    size_t ptrs = nstatics * nlists * (nlists + 1) / 2;
    printf("static objects=%zu lists_per_object=%zu pointers=%zu list_bytes=%zu strings=%zu\n",
           nstatics, nlists, ptrs, ptrs * sizeof(char *), nstrings);
}

/* ---- per-worker state ------------------------------------------------------------------ */

static struct large *recent[3];            /* the last three request graphs */
static unsigned recent_next;
static atomic_ulong nrequests;
static uint64_t collections_at_fork;        /* the parent's collections, inherited by the stats */
static pthread_mutex_t work_lock = PTHREAD_MUTEX_INITIALIZER; /* main vs control thread */
static volatile uint64_t sink;

static void handle_work(void)
{
    pthread_mutex_lock(&work_lock);
    unsigned long n = atomic_fetch_add(&nrequests, 1);
    struct large *lo = build_large((size_t)cfg.request_size, n * 131, (size_t)cfg.request_strings);
    struct large *old = recent[recent_next];
    recent[recent_next] = lo;               /* the oldest of the last three is dropped here */
    recent_next = (recent_next + 1) % 3;
    if (cfg.do_free)
        free_large(old);
    sink += touch_large(lo) + touch_large(statics[n % nstatics]);
    pthread_mutex_unlock(&work_lock);
}

typedef void (*collect_fn)(void);
typedef int (*stats_fn)(struct cowgc_stats *, size_t);

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#ifdef USE_BOEHM
static struct { uint64_t collections, pause_total, pause_max, cpu, t0, c0; } bw;

static void GC_CALLBACK on_gc_event(GC_EventType e)
{
    if (e == GC_EVENT_START) {
        bw.t0 = clock_ns(CLOCK_MONOTONIC);
        bw.c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    } else if (e == GC_EVENT_END && bw.t0) {
        uint64_t d = clock_ns(CLOCK_MONOTONIC) - bw.t0;
        bw.cpu += clock_ns(CLOCK_THREAD_CPUTIME_ID) - bw.c0;
        bw.pause_total += d;
        if (d > bw.pause_max)
            bw.pause_max = d;
        bw.collections++;
        bw.t0 = 0;
    }
}

static void boehm_collect(void) { GC_gcollect(); }
#endif

static size_t stats_json(char *buf, size_t n, bool collect)
{
    collect_fn cf = (collect_fn)dlsym(RTLD_DEFAULT, "cowgc_collect");
    stats_fn sf = (stats_fn)dlsym(RTLD_DEFAULT, "cowgc_get_stats");
#ifdef USE_BOEHM
    cf = boehm_collect;
#endif
    uint64_t t0 = 0, t1 = 0;
    if (collect && cf) {
        t0 = clock_ns(CLOCK_MONOTONIC);
        cf();
        t1 = clock_ns(CLOCK_MONOTONIC);
    }
    size_t len = (size_t)snprintf(buf, n, "{\"pid\":%d,\"requests\":%lu,\"cowgc\":%d",
                                  (int)getpid(), atomic_load(&nrequests), sf ? 1 : 0);
    if (collect)
        len += (size_t)snprintf(buf + len, n - len, ",\"collected\":%d,\"collect_ns\":%llu",
                                cf ? 1 : 0, (unsigned long long)(t1 - t0));
    if (sf) {
        struct cowgc_stats st;
        memset(&st, 0, sizeof st);
        sf(&st, sizeof st);
#define F(x) len += (size_t)snprintf(buf + len, n - len, ",\"" #x "\":%llu", (unsigned long long)st.x)
        F(collections); F(pause_total_ns); F(pause_max_ns); F(mark_ns); F(sweep_ns);
        F(reclaimed_blocks); F(reclaimed_bytes); F(unreachable_blocks); F(unreachable_bytes);
        F(live_bytes); F(live_blocks); F(roots_bytes); F(heap_pages_written); F(mallocs);
        F(frees); F(in_use_bytes); F(mapped_bytes); F(purged_bytes); F(minor_collections);
        F(full_collections); F(pages_written); F(young_bytes_marked); F(gc_cpu_ns);
        F(process_cpu_ns);
#undef F
        len += (size_t)snprintf(buf + len, n - len, ",\"collections_at_fork\":%llu",
                                (unsigned long long)collections_at_fork);
    }
#ifdef USE_BOEHM
    len += (size_t)snprintf(buf + len, n - len, ",\"boehm\":1,\"collections\":%llu,\"pause_total_ns\":%llu,"
                            "\"pause_max_ns\":%llu,\"gc_cpu_ns\":%llu,\"process_cpu_ns\":%llu,\"heap_size\":%zu",
                            (unsigned long long)bw.collections, (unsigned long long)bw.pause_total,
                            (unsigned long long)bw.pause_max, (unsigned long long)bw.cpu,
                            (unsigned long long)clock_ns(CLOCK_PROCESS_CPUTIME_ID), GC_get_heap_size());
#endif
    len += (size_t)snprintf(buf + len, n - len, "}\n");
    return len;
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Serves one connection: HTTP/1.0 and 1.1, keep-alive, pipelining. */
static void serve(int fd)
{
    char buf[8192];
    size_t have = 0;
    struct timeval tv = { 10, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (;;) {
        char *end;
        while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
            if (have == sizeof buf)
                return;                       /* header too long */
            ssize_t r = recv(fd, buf + have, sizeof buf - have, 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return;
            have += (size_t)r;
        }
        size_t hlen = (size_t)(end - buf) + 4;
        /* request line: METHOD SP URI SP VERSION */
        char method[16] = "", uri[256] = "", version[16] = "";
        char line[512];
        size_t ll = (size_t)((char *)memchr(buf, '\r', hlen) - buf);
        if (ll >= sizeof line)
            ll = sizeof line - 1;
        memcpy(line, buf, ll);
        line[ll] = 0;
        sscanf(line, "%15s %255s %15s", method, uri, version);
        bool http11 = strcmp(version, "HTTP/1.1") == 0;
        bool keep = http11;
        /* headers: only Connection matters */
        for (char *h = memchr(buf, '\n', hlen); h && h + 1 < buf + hlen; h = memchr(h + 1, '\n', (size_t)(buf + hlen - h - 1))) {
            if (strncasecmp(h + 1, "Connection:", 11) == 0) {
                char *v = h + 12;
                while (*v == ' ' || *v == '\t')
                    v++;
                if (strncasecmp(v, "close", 5) == 0)
                    keep = false;
                else if (strncasecmp(v, "keep-alive", 10) == 0)
                    keep = true;
            }
        }
        char body[2048];
        size_t blen;
        const char *ctype = "text/html";
        int status = 200;
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
            status = 405;
            blen = (size_t)snprintf(body, sizeof body, "method not allowed\n");
            ctype = "text/plain";
        } else if (strncmp(uri, "/stats", 6) == 0 || strncmp(uri, "/collect", 8) == 0) {
            bool collect = uri[1] == 'c';
            if (collect)
                pthread_mutex_lock(&work_lock);
            blen = stats_json(body, sizeof body, collect);
            if (collect)
                pthread_mutex_unlock(&work_lock);
            ctype = "application/json";
        } else {
            handle_work();
            blen = (size_t)snprintf(body, sizeof body,
                "<!DOCTYPE html>\n<html><head><title>prefork</title></head><body>\n"
                "<h1>Hello from worker %d</h1>\n<p>request %lu, uri %s</p>\n</body></html>\n",
                (int)getpid(), atomic_load(&nrequests), uri);
        }
        char head[512];
        size_t hl = (size_t)snprintf(head, sizeof head,
            "HTTP/1.%c %d %s\r\nServer: prefork\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Connection: %s\r\n\r\n", http11 ? '1' : '0', status, status == 200 ? "OK" : "Error",
            ctype, blen, keep ? "keep-alive" : "close");
        if (!write_all(fd, head, hl))
            return;
        if (strcmp(method, "HEAD") != 0 && !write_all(fd, body, blen))
            return;
        if (!keep)
            return;
        memmove(buf, buf + hlen, have - hlen);
        have -= hlen;
    }
}

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("prefork: socket");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 1024) < 0) {
        fprintf(stderr, "prefork: bind/listen 127.0.0.1:%d: %s\n", port, strerror(errno));
        exit(1);
    }
    return fd;
}

static int port_of(int fd)
{
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    return ntohs(a.sin_port);
}

static void accept_loop(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN)
                continue;
            perror("prefork: accept");
            _exit(3);
        }
        serve(fd);
        close(fd);
    }
}

static void *control_thread(void *arg)
{
    accept_loop((int)(intptr_t)arg);
    return NULL;
}

static void worker_main(int index, int lfd)
{
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    stats_fn sf = (stats_fn)dlsym(RTLD_DEFAULT, "cowgc_get_stats");
    if (sf) {
        struct cowgc_stats st;
        memset(&st, 0, sizeof st);
        sf(&st, sizeof st);
        collections_at_fork = st.collections;
    }
#ifdef USE_BOEHM
    memset(&bw, 0, sizeof bw);                /* this worker's own collections from here */
#endif
    int cfd = listen_on(0);
    printf("worker index=%d pid=%d ctl_port=%d\n", index, (int)getpid(), port_of(cfd));
    fflush(stdout);
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &at, control_thread, (void *)(intptr_t)cfd) != 0)
        fprintf(stderr, "prefork: no control thread\n");
    accept_loop(lfd);
}

/* ---- the master ------------------------------------------------------------------------ */

static volatile sig_atomic_t stopping;
static void on_term(int sig) { (void)sig; stopping = 1; }

static void usage(void)
{
    fprintf(stderr,
        "usage: prefork [--port N] [--workers W] [--scale F] [--request-size LISTS]\n"
        "               [--request-strings N] [--free]\n"
        "  --port N          listen on 127.0.0.1:N (0 = pick one; printed as port=N)\n"
        "  --workers W       worker processes (default 4)\n"
        "  --scale F         static heap size factor (default 1 = ~53 MB)\n"
        "  --request-size L  lists in each request's graph (default 200 = ~160 KB)\n"
        "  --request-strings N  fresh strings per request (default 100)\n"
        "  --free            free dropped request graphs (runs without a collector)\n"
        "  --collect-before-fork  call cowgc_collect() (Boehm: GC_gcollect) once the heap is\n"
        "                    built, before forking (like Python's gc.collect() before gc.freeze())\n");
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--free")) cfg.do_free = true;
        else if (!strcmp(a, "--collect-before-fork")) cfg.collect_before_fork = true;
        else if (!strcmp(a, "--port") && v) { cfg.port = atoi(v); i++; }
        else if (!strcmp(a, "--workers") && v) { cfg.workers = atoi(v); i++; }
        else if (!strcmp(a, "--scale") && v) { cfg.scale = atof(v); i++; }
        else if (!strcmp(a, "--request-size") && v) { cfg.request_size = atoi(v); i++; }
        else if (!strcmp(a, "--request-strings") && v) { cfg.request_strings = atoi(v); i++; }
        else usage();
    }
    if (cfg.workers < 1 || cfg.workers > 256 || cfg.scale <= 0 || cfg.request_size < 1 ||
        cfg.request_strings < 0)
        usage();
    setvbuf(stdout, NULL, _IOLBF, 0);
#ifdef USE_BOEHM
    GC_set_handle_fork(1);
    GC_INIT();
    GC_set_on_collection_event(on_gc_event);
#endif

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    build_statics();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("built_in_ms=%.1f\n", (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    if (cfg.collect_before_fork) {
        collect_fn cf = (collect_fn)dlsym(RTLD_DEFAULT, "cowgc_collect");
#ifdef USE_BOEHM
        cf = boehm_collect;
#endif
        uint64_t c0 = clock_ns(CLOCK_MONOTONIC);
        if (cf)
            cf();
        printf("collected_before_fork=%d ms=%.1f\n", cf != NULL, (double)(clock_ns(CLOCK_MONOTONIC) - c0) / 1e6);
    }
    printf("heap_probe=%p\n", (void *)statics[0]->lists[0]->items);

    int lfd = listen_on(cfg.port);
    printf("port=%d\n", port_of(lfd));
    printf("master pid=%d\n", (int)getpid());

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    pid_t *pids = xmalloc((size_t)cfg.workers * sizeof *pids);
    for (int i = 0; i < cfg.workers; i++) {
        fflush(stdout);
        pid_t p = fork();
        if (p < 0) {
            perror("prefork: fork");
            exit(1);
        }
        if (p == 0)
            worker_main(i, lfd);
        pids[i] = p;
    }
    printf("ready workers=%d\n", cfg.workers);

    while (!stopping) {
        int st;
        pid_t p = waitpid(-1, &st, 0);
        if (p < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < cfg.workers; i++) {
            if (pids[i] != p)
                continue;
            if (stopping)
                break;
            if (WIFSIGNALED(st))
                printf("worker index=%d pid=%d died: signal %d; re-forking\n", i, (int)p, WTERMSIG(st));
            else
                printf("worker index=%d pid=%d exited: status %d; re-forking\n", i, (int)p, WEXITSTATUS(st));
            fflush(stdout);
            pid_t q = fork();
            if (q == 0)
                worker_main(i, lfd);
            pids[i] = q > 0 ? q : 0;
        }
    }
    for (int i = 0; i < cfg.workers; i++)
        if (pids[i] > 0)
            kill(pids[i], SIGTERM);
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
        ;
    printf("master exiting\n");
    return 0;
}
