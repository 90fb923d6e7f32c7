/* mt_queue.c -- an ordinary multi-threaded program (plain malloc, no cowgc API): four threads
 * in a ring pass heap-allocated messages through mutex/condvar queues whose nodes are also
 * heap-allocated. Every message is freed (or realloc'd, or forwarded) by a thread other than the
 * one that allocated it. Messages own a heap-allocated chain of "attachments" that is reachable
 * only through the message, so a collector that loses a pointer inside the heap shows up as a
 * content check failure here.
 *
 * usage: mt_queue [MESSAGES_PER_THREAD]   (default 60000)
 * Prints per-thread totals that depend only on the argument; exit 0 iff every check passed.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgt.h"

#define NT 4
#define HOPS 3              /* a message visits up to HOPS threads before being freed */

struct attach {
    struct attach *next;
    uint32_t tag;
    uint32_t len;
    unsigned char bytes[];  /* len bytes of pattern(tag) */
};

struct msg {
    uint32_t from, seq, len, hops;
    uint64_t sum;            /* sum of payload bytes */
    struct attach *att;      /* chain of attachments */
    uint32_t natt;
    unsigned char payload[]; /* len bytes */
};

struct node { struct node *next; struct msg *m; };

struct queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct node *head, *tail;
    long closed_producers;   /* producers that finished */
};

static struct queue q[NT];
static long per_thread = 60000;
static int errors;
static pthread_mutex_t err_mu = PTHREAD_MUTEX_INITIALIZER;

struct result { long received, freed_here, forwarded, reallocd; uint64_t sum; };
static struct result res[NT];
static long in_flight;                 /* messages not yet freed, all threads */
static pthread_mutex_t flight_mu = PTHREAD_MUTEX_INITIALIZER;

static void fail(const char *what, const struct msg *m)
{
    pthread_mutex_lock(&err_mu);
    if (errors++ < 20)
        fprintf(stderr, "mt_queue: %s (msg from %u seq %u len %u)\n", what,
                m ? m->from : 0, m ? m->seq : 0, m ? m->len : 0);
    pthread_mutex_unlock(&err_mu);
}

static uint32_t xs(uint32_t *s) { *s ^= *s << 13; *s ^= *s >> 17; *s ^= *s << 5; return *s; }
static unsigned char pat(uint32_t a, uint32_t i) { return (unsigned char)(a * 2654435761u + i * 40503u + (i >> 8)); }

static void push(struct queue *qq, struct msg *m)
{
    struct node *n = malloc(sizeof *n);
    if (!n) { fail("malloc(node) returned NULL", m); abort(); }
    n->next = NULL;
    n->m = m;
    pthread_mutex_lock(&qq->mu);
    if (qq->tail) qq->tail->next = n; else qq->head = n;
    qq->tail = n;
    pthread_cond_signal(&qq->cv);
    pthread_mutex_unlock(&qq->mu);
}

static long flight_add(long d)
{
    pthread_mutex_lock(&flight_mu);
    long v = (in_flight += d);
    pthread_mutex_unlock(&flight_mu);
    return v;
}

/* NULL when every message in the system has been freed. */
static struct msg *pop(struct queue *qq)
{
    pthread_mutex_lock(&qq->mu);
    for (;;) {
        if (qq->head) {
            struct node *n = qq->head;
            qq->head = n->next;
            if (!qq->head) qq->tail = NULL;
            pthread_mutex_unlock(&qq->mu);
            struct msg *m = n->m;
            free(n);
            return m;
        }
        if (qq->closed_producers == NT && flight_add(0) == 0) {
            pthread_mutex_unlock(&qq->mu);
            return NULL;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
        pthread_cond_timedwait(&qq->cv, &qq->mu, &ts);
    }
}

static struct msg *make(uint32_t from, uint32_t seq, uint32_t *rs)
{
    uint32_t r = xs(rs);
    uint32_t len = (r & 7) == 0 ? 1024 + r % 30000 : 1 + r % 300;
    struct msg *m = malloc(sizeof *m + len);
    if (!m) { fail("malloc(msg) returned NULL", NULL); abort(); }
    m->from = from; m->seq = seq; m->len = len; m->hops = 0; m->sum = 0;
    for (uint32_t i = 0; i < len; i++) { m->payload[i] = pat(from ^ (seq << 2), i); m->sum += m->payload[i]; }
    m->att = NULL;
    m->natt = xs(rs) % 4;
    for (uint32_t k = 0; k < m->natt; k++) {
        uint32_t alen = 8 + xs(rs) % 200;
        struct attach *a = (k & 1) ? calloc(1, sizeof *a + alen) : malloc(sizeof *a + alen);
        if (!a) { fail("malloc(attachment) returned NULL", m); abort(); }
        a->tag = seq * 8 + k; a->len = alen;
        for (uint32_t i = 0; i < alen; i++) a->bytes[i] = pat(a->tag, i);
        a->next = m->att;
        m->att = a;
    }
    return m;
}

static uint64_t check(const struct msg *m)
{
    uint64_t s = 0;
    for (uint32_t i = 0; i < m->len; i++) {
        if (m->payload[i] != pat(m->from ^ (m->seq << 2), i)) { fail("payload corrupted", m); break; }
        s += m->payload[i];
    }
    if (s != m->sum) fail("payload sum wrong", m);
    uint32_t k = 0;
    for (const struct attach *a = m->att; a; a = a->next, k++) {
        if (k >= m->natt) { fail("attachment chain too long (corrupted link)", m); break; }
        if (a->tag != m->seq * 8 + (m->natt - 1 - k)) { fail("attachment tag wrong", m); break; }
        for (uint32_t i = 0; i < a->len; i++)
            if (a->bytes[i] != pat(a->tag, i)) { fail("attachment bytes corrupted", m); break; }
    }
    if (k != m->natt) fail("attachment chain too short", m);
    return s;
}

static void destroy(struct msg *m)
{
    struct attach *a = m->att;
    while (a) { struct attach *n = a->next; free(a); a = n; }
    free(m);
}

static void *worker(void *arg)
{
    uint32_t id = (uint32_t)(uintptr_t)arg;
    uint32_t rs = 0x9e3779b9u ^ (id * 7919u + 1);
    struct result *r = &res[id];
    struct queue *in = &q[id], *out = &q[(id + 1) % NT];
    long sent = 0;
    int closed = 0;
    for (;;) {
        /* Produce in bursts so that queues actually hold many messages at once. */
        for (int b = 0; b < 16 && sent < per_thread; b++, sent++) {
            flight_add(1);
            push(out, make(id, (uint32_t)sent, &rs));
        }
        if (sent == per_thread && !closed) {
            closed = 1;
            for (int i = 0; i < NT; i++) {
                pthread_mutex_lock(&q[i].mu);
                q[i].closed_producers++;
                pthread_cond_broadcast(&q[i].cv);
                pthread_mutex_unlock(&q[i].mu);
            }
        }
        for (int c = 0; c < 16; c++) {
            struct msg *m;
            if (sent < per_thread) {
                pthread_mutex_lock(&in->mu);
                int empty = in->head == NULL;
                pthread_mutex_unlock(&in->mu);
                if (empty) break;
            }
            m = pop(in);
            if (!m) return NULL;
            r->received++;
            r->sum += check(m);
            m->hops++;
            /* What happens next depends only on the message, so totals are deterministic. */
            uint32_t choice = (m->seq * 2654435761u) >> 28;
            if (m->hops < HOPS && choice < 6) {
                r->forwarded++;
                push(out, m);
            } else if (choice < 9) {
                /* Cross-thread realloc: grow or shrink, contents must survive. */
                uint32_t nl = choice & 1 ? m->len * 2 + 10 : m->len / 2;
                struct msg *n = realloc(m, sizeof *n + nl);
                if (!n) { fail("realloc returned NULL", NULL); abort(); }
                uint32_t keep = nl < n->len ? nl : n->len;
                for (uint32_t i = 0; i < keep; i++)
                    if (n->payload[i] != pat(n->from ^ (n->seq << 2), i)) { fail("realloc lost contents", n); break; }
                r->reallocd++;
                n->len = 0; n->sum = 0;   /* payload no longer checked */
                destroy(n);
                flight_add(-1);
                r->freed_here++;
            } else {
                destroy(m);
                flight_add(-1);
                r->freed_here++;
            }
        }
    }
}

int main(int argc, char **argv)
{
    if (argc > 1) per_thread = strtol(argv[1], NULL, 10);
    if (cgt_check_loaded("mt_queue")) return 3;
    for (int i = 0; i < NT; i++) {
        pthread_mutex_init(&q[i].mu, NULL);
        pthread_cond_init(&q[i].cv, NULL);
    }
    pthread_t th[NT];
    for (int i = 0; i < NT; i++)
        if (pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i)) { perror("pthread_create"); return 1; }
    for (int i = 0; i < NT; i++) pthread_join(th[i], NULL);

    long tot_recv = 0, tot_freed = 0;
    for (int i = 0; i < NT; i++) {
        tot_freed += res[i].freed_here;
        tot_recv += res[i].received;
    }
    /* received/forwarded per thread depend on timing only through who pops: each message's
     * route is fixed (ring order), so per-thread numbers are deterministic too. */
    for (int i = 0; i < NT; i++)
        printf("thread %d: received %ld forwarded %ld realloc'd %ld freed %ld payload-sum %llu\n", i,
               res[i].received, res[i].forwarded, res[i].reallocd, res[i].freed_here,
               (unsigned long long)res[i].sum);
    printf("total: sent %ld received %ld freed %ld in-flight %ld errors %d\n",
           per_thread * NT, tot_recv, tot_freed, in_flight, errors);
    if (tot_freed != per_thread * NT || in_flight != 0) {
        fprintf(stderr, "mt_queue: lost messages\n");
        return 1;
    }
    if (cgt_expect_collections("mt_queue", 0)) return 1;
    return errors ? 1 : 0;
}
