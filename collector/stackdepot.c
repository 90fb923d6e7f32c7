/* stackdepot.c -- deduplicated store of allocation stacks: frames in, a small dense id out, and back.
 *
 * Invariants:
 *  - Ids are dense, 1..depot_count(); 0 means "no stack". An id, once returned, names the same
 *    frames forever (records are never freed or moved); depot_get() is lock-free.
 *  - Everything lives in mmap'd NORESERVE mappings, touched lazily: the hash table (ids), the
 *    record arena (hash, depth, frames) and the id -> record table. Nothing here calls
 *    malloc, so it may run inside the allocator. The first hash table, the arena and the id
 *    table share one mapping: the id table runs downwards from the first table (offset_of)
 *    and the arena upwards from its end, so a program's few hundred stacks lie within one
 *    2 MiB region, one page table (a forked child's first touch of each further region is a
 *    fault of its own: 10-30 us measured in a VM).
 *  - The hash table starts at one page and grows 4x when 3/4 full (up to TABLE_BITS): a
 *    program's first 768 stacks sit on that page, and its next few thousand on a few more,
 *    not one page of a 2M-slot table each (a first touch is a fault, and after fork() a
 *    copy). Old tables stay mapped and valid, as the ids they hold never change: a reader on
 *    an old table that misses takes the lock and probes the current one.
 *  - Lookups never take the lock. An insert takes a spin lock, probes the current table again,
 *    writes the record, then publishes it with a release store into the table; readers
 *    load-acquire the table pointer and the slot.
 *    The lock records the holder's pid: a fork child that inherited it held stealing it.
 *  - When the largest table is 3/4 full or the arena is exhausted, depot_put() returns 0
 *    (counted).
 */
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sched.h>
#include <unistd.h>

#include "collector.h"
#include "scanner.h"

#define TABLE_BITS 21                         /* at most 2M slots, 8 MiB */
#define TABLE_SLOTS ((uint32_t)1 << TABLE_BITS)
#define TABLE_BITS0 10                        /* the first table: 1024 slots, one page (and 8 bytes) */
#define MAX_IDS DEPOT_MAX_IDS                 /* load factor 3/4 */
#define MEMO_SLOTS 64                         /* per thread: 1 KiB of TLS */
#define ARENA_BYTES ((size_t)512 << 20)       /* frames of all records */

struct record {
    uint64_t hash;
    uint32_t depth;
    uint32_t pad;
    uintptr_t pcs[];
};

struct table {
    uint32_t mask;                    /* slots - 1 */
    uint32_t pad;
    _Atomic uint32_t slot[];          /* slot -> id, 0 empty */
};
static _Atomic(struct table *) table; /* the current one */
static uint64_t *offsets;             /* id 0's entry; id -> byte offset of its record (offset_of) */
static char *arena;
static size_t arena_used;             /* under the lock */
static _Atomic uint32_t next_id;      /* ids handed out: 1..next_id */
static _Atomic int lock_pid;          /* 0 free, else the holder's pid */
static _Atomic int inited;            /* 0 no, 1 being set up, 2 ready, -1 failed */
static _Atomic uint64_t dropped;      /* puts that could not be stored */


/* Hashes in records could look like heap pointers: the depot is never a root. */
static void *map_noreserve(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return NULL;
    roots_exclude((uintptr_t)p, (uintptr_t)p + len);
    return p;
}

int depot_init(void)
{
    int expect = 0;
    if (!atomic_compare_exchange_strong(&inited, &expect, 1)) {
        while (atomic_load(&inited) == 1) sched_yield();
        return atomic_load(&inited) == 2 ? 0 : -1;
    }
    /* [id table, descending | first hash table | arena], the table's start in the middle of a
     * 2 MiB region (the mapping has 2 MiB of room to slide). */
    const size_t ids = ((size_t)MAX_IDS + 1) * sizeof(uint64_t);
    const size_t t0 = sizeof(struct table) + ((size_t)1 << TABLE_BITS0) * sizeof(uint32_t);
    const size_t ids_room = (ids + 4095) & ~(size_t)4095, t0_room = (t0 + 4095) & ~(size_t)4095;
    char *m = map_noreserve(ids_room + t0_room + ARENA_BYTES + REGION_BYTES);
    struct table *t = NULL;
    if (m) {
        m += region_mid_slide((uintptr_t)m + ids_room);
        t = (struct table *)(m + ids_room);
        t->mask = ((uint32_t)1 << TABLE_BITS0) - 1;
        offsets = (uint64_t *)t - 1;
        arena = m + ids_room + t0_room;
    }
    atomic_store_explicit(&table, t, memory_order_release);
    bool ok = t != NULL;
    atomic_store(&inited, ok ? 2 : -1);
    return ok ? 0 : -1;
}

/* A strong 64-bit mix of the frames (the depth is folded in: prefixes differ). */
static uint64_t hash_frames(const uintptr_t *pcs, unsigned n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    for (unsigned i = 0; i < n; i++) {
        uint64_t k = (uint64_t)pcs[i] * 0xff51afd7ed558ccdull;
        k ^= k >> 33;
        h = (h ^ k) * 0xc4ceb9fe1a85ec53ull;
        h ^= h >> 29;
    }
    return h ? h : 1;
}

/* The id table descends from the first hash table: id's entry lies below id - 1's. */
static inline uint64_t *offset_of(uint32_t id) { return offsets - id; }

static inline const struct record *record_of(uint32_t id)
{
    return (const struct record *)(arena + *offset_of(id));
}

static bool same(uint32_t id, uint64_t h, const uintptr_t *pcs, unsigned n)
{
    const struct record *r = record_of(id);
    return r->hash == h && r->depth == n && memcmp(r->pcs, pcs, n * sizeof *pcs) == 0;
}

/* Probe t for the stack; returns its id, or 0 with *slot at the first empty slot. */
static uint32_t probe(const struct table *t, uint64_t h, const uintptr_t *pcs, unsigned n, uint32_t *slot)
{
    uint32_t i = (uint32_t)h & t->mask;
    for (;;) {
        uint32_t id = atomic_load_explicit(&t->slot[i], memory_order_acquire);
        if (!id) { *slot = i; return 0; }
        if (same(id, h, pcs, n)) return id;
        i = (i + 1) & t->mask;
    }
}

/* A table 4x the size of t holding every id (lock held); NULL if t is the largest or no map. */
static struct table *grow(const struct table *t)
{
    uint64_t slots = ((uint64_t)t->mask + 1) * 4;
    if (slots > TABLE_SLOTS) return NULL;
    struct table *g = map_noreserve(sizeof(struct table) + slots * sizeof(uint32_t));
    if (!g) return NULL;
    g->mask = (uint32_t)slots - 1;
    uint32_t last = atomic_load_explicit(&next_id, memory_order_relaxed);
    for (uint32_t id = 1; id <= last; id++) {
        uint32_t i = (uint32_t)record_of(id)->hash & g->mask;
        while (atomic_load_explicit(&g->slot[i], memory_order_relaxed)) i = (i + 1) & g->mask;
        atomic_store_explicit(&g->slot[i], id, memory_order_relaxed);
    }
    return g;
}

static void lock(void) { pid_lock(&lock_pid); }
static void unlock(void) { pid_unlock(&lock_pid); }

/* The locked slow path of depot_put: the id of frames pcs[0..n) (hash h), stored now unless
 * another thread did meanwhile; 0 when the table or the arena is full (counted). */
static uint32_t insert(uint64_t h, const uintptr_t *pcs, unsigned n)
{
    uint32_t slot;
    lock();
    struct table *t = atomic_load_explicit(&table, memory_order_relaxed);
    uint32_t id = probe(t, h, pcs, n, &slot);     /* someone may have inserted it meanwhile, or grown */
    if (!id) {
        size_t need = sizeof(struct record) + n * sizeof(uintptr_t);
        uint32_t nid = atomic_load_explicit(&next_id, memory_order_relaxed) + 1;
        if ((uint64_t)nid * 4 > ((uint64_t)t->mask + 1) * 3) {
            struct table *g = grow(t);
            if (g) {
                atomic_store_explicit(&table, g, memory_order_release);
                t = g;
                probe(t, h, pcs, n, &slot);
            }
        }
        if (nid > MAX_IDS || (uint64_t)nid * 4 > ((uint64_t)t->mask + 1) * 3 ||
            arena_used + need > ARENA_BYTES) {
            unlock();
            atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
            return 0;
        }
        struct record *r = (struct record *)(arena + arena_used);
        r->hash = h;
        r->depth = n;
        memcpy(r->pcs, pcs, n * sizeof *pcs);
        *offset_of(nid) = arena_used;
        arena_used += need;
        atomic_store_explicit(&next_id, nid, memory_order_release);
        atomic_store_explicit(&t->slot[slot], nid, memory_order_release);
        id = nid;
    }
    unlock();
    return id;
}

CHILD_PATH uint32_t depot_put(const uintptr_t *pcs, unsigned n)
{
    if (unlikely(atomic_load_explicit(&inited, memory_order_acquire) != 2)) {
        if (depot_init() != 0) return 0;
    }
    if (n > DEPOT_MAX_DEPTH) n = DEPOT_MAX_DEPTH;
    uint64_t h = hash_frames(pcs, n);
    /* Most allocations repeat one of the thread's recent stacks: a per-thread memo of
     * (hash, depth) -> id, direct-mapped, skips the table walk and the frame comparison. In a
     * forked child it matters most: the memo is in pages the child touches anyway, while a
     * table walk touches a slot page and a record page per stack, each a first touch (5-6 us
     * per page in a VM with shadow paging). Trusting a 64-bit hash here can at worst
     * misattribute a report line. */
    static __thread struct { uint64_t hash; uint32_t depth, id; } memo[MEMO_SLOTS]
        __attribute__((tls_model("initial-exec")));
    unsigned mi = (unsigned)(h >> 58) & (MEMO_SLOTS - 1);
    if (memo[mi].id && memo[mi].hash == h && memo[mi].depth == n) return memo[mi].id;
    uint32_t slot;
    uint32_t id = probe(atomic_load_explicit(&table, memory_order_acquire), h, pcs, n, &slot);
    if (unlikely(!id) && !(id = insert(h, pcs, n))) return 0;
    memo[mi].hash = h;
    memo[mi].depth = n;
    memo[mi].id = id;
    return id;
}

unsigned depot_get(uint32_t id, const uintptr_t **pcs)
{
    if (id == 0 || id > atomic_load_explicit(&next_id, memory_order_acquire)) {
        *pcs = NULL;
        return 0;
    }
    const struct record *r = record_of(id);
    *pcs = r->pcs;
    return r->depth;
}

uint32_t depot_count(void) { return atomic_load_explicit(&next_id, memory_order_acquire); }
uint64_t depot_dropped(void) { return atomic_load_explicit(&dropped, memory_order_relaxed); }
