/* keep.c -- COWGC_KEEP: blocks that listed shared objects allocate are never reclaimed; they are roots.
 *
 * Some libraries hide their pointers from any conservative collector (fontconfig stores the
 * element arrays of its patterns as offsets). What they allocate is kept: the allocation entry
 * points compare their caller's return address with the text ranges of the listed objects, and
 * a hit sets the block's keep bit (I8 in collector.h); the mark phase treats kept blocks as roots.
 *
 * Invariants:
 *  - The entry points read one published table of text ranges: the listed objects' executable
 *    segments, and ld.so's as a "loader" range. A published table is never changed nor unmapped.
 *    Off (detect mode, or an empty list), the table is empty: one compare per allocation.
 *  - dl_iterate_phdr is called only from an allocation by code outside ld.so, after cowgc's
 *    constructor, by one thread at a time (the others go on without waiting), and never by the
 *    collector (which does not allocate, so never inside a stopped world).
 *  - An allocation made by ld.so (dlopen, dlclose, a new thread's TLS) publishes the stale table;
 *    the next allocation from elsewhere reads the generation of the loaded objects (dlpi_adds,
 *    dlpi_subs: one callback) and rebuilds the table only when it changed. A library's
 *    constructors allocate after ld.so mapped it, so their blocks are already seen as its.
 *  - Nothing here allocates: names point into the environment or into static text.
 */
#include <link.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "collector.h"

/* Objects known to hide pointers from a conservative collector. */
static const char *const builtin[] = {
    "libfontconfig",   /* FcPattern element arrays are reached through offsets, not pointers */
};

#define MAX_ENTRIES 32
static struct { const char *s; size_t len; } entries[MAX_ENTRIES];
static unsigned nentries;

static struct keep_table empty_table;                              /* nothing listed: no hit */
static struct keep_table stale_table = { .lo = 0, .len = ~(uintptr_t)0 };  /* every caller looks */
struct keep_table *_Atomic keep_tab = &empty_table;

static bool allowed;                 /* cowgc's constructor has run */
static char exe[512];                /* the program's own path: dl_iterate_phdr names it "" */
static uintptr_t ldso_base, ldso_lo, ldso_hi;
static struct keep_table *current;   /* the last table built */
static unsigned long long seen_adds = ~0ull, seen_subs = ~0ull;
static _Atomic int refresh_lock;
static _Atomic unsigned loader_events;   /* allocations by ld.so so far */
static __thread int refreshing;

static bool name_listed(const char *path)
{
    for (unsigned i = 0; i < nentries; i++) {
        const char *p = path;
        for (; (p = strchr(p, entries[i].s[0])) != NULL; p++)
            if (!strncmp(p, entries[i].s, entries[i].len)) return true;
    }
    return false;
}

/* One entry of COWGC_KEEP, [s, s + len): a name to add, or -NAME to drop a built-in one. */
static void add_entry(const char *s, size_t len)
{
    if (!len) return;
    if (s[0] == '-') {
        for (unsigned i = 0; i < nentries; i++)
            if (entries[i].len == len - 1 && !strncmp(entries[i].s, s + 1, len - 1)) {
                entries[i] = entries[--nentries];
                return;
            }
        return;
    }
    if (len > 5 && !strncmp(s, "leak:", 5)) {
        log_line("COWGC_KEEP=%s: allocation-site patterns (leak:...) are not supported; only object names", opt.keep);
        return;
    }
    if (nentries == MAX_ENTRIES) {
        log_line("COWGC_KEEP: more than %d entries; the rest are ignored", MAX_ENTRIES);
        return;
    }
    entries[nentries].s = s;
    entries[nentries].len = len;
    nentries++;
}

struct scan { struct keep_table *t; bool unchanged; };

static int on_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct scan *sc = arg;
    if (!sc->t) {
        /* First object: is the set of objects the one we have a table for? */
        if (current && size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs &&
            info->dlpi_adds == seen_adds && info->dlpi_subs == seen_subs) {
            sc->unchanged = true;
            return 1;
        }
        seen_adds = info->dlpi_adds;
        seen_subs = info->dlpi_subs;
        void *m = mmap(NULL, sizeof *sc->t, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return 1;
        sc->t = m;
    }
    uint32_t kind;
    const char *name = info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : exe;
    if (info->dlpi_addr == ldso_base && ldso_base) kind = KEEP_LOADER;
    else if (name[0] && name_listed(name)) kind = KEEP_OBJECT;
    else return 0;
    for (unsigned i = 0; i < info->dlpi_phnum && sc->t->n < KEEP_RANGES; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        sc->t->r[sc->t->n].lo = lo;
        sc->t->r[sc->t->n].hi = hi;
        sc->t->r[sc->t->n].kind = kind;
        sc->t->n++;
        if (kind == KEEP_LOADER) { ldso_lo = lo; ldso_hi = hi; }
    }
    return 0;
}

/* Re-read the loaded objects if they changed, and publish the table. A thread that finds another
 * one refreshing does not wait: that one may be waiting in dl_iterate_phdr for a lock this one
 * holds (a program's dl_iterate_phdr callback that allocates). */
static void refresh(void)
{
    int expect = 0;
    if (!atomic_compare_exchange_strong_explicit(&refresh_lock, &expect, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        return;
    refreshing = 1;
    unsigned events = atomic_load_explicit(&loader_events, memory_order_acquire);
    struct scan sc = { NULL, false };
    dl_iterate_phdr(on_object, &sc);
    if (sc.t) {
        uintptr_t lo = ~(uintptr_t)0, hi = 0;
        for (uint32_t i = 0; i < sc.t->n; i++) {
            if (sc.t->r[i].lo < lo) lo = sc.t->r[i].lo;
            if (sc.t->r[i].hi > hi) hi = sc.t->r[i].hi;
        }
        sc.t->lo = lo;
        sc.t->len = hi > lo ? hi - lo : 0;
        mprotect(sc.t, sizeof *sc.t, PROT_READ);
        current = sc.t;
    }
    /* ld.so allocated meanwhile: the table may already be out of date, so it stays stale. */
    if (current) atomic_store_explicit(&keep_tab, current, memory_order_release);
    if (atomic_load_explicit(&loader_events, memory_order_acquire) != events)
        atomic_store_explicit(&keep_tab, &stale_table, memory_order_release);
    refreshing = 0;
    atomic_store_explicit(&refresh_lock, 0, memory_order_release);
}

/* COWGC_KEEP: p was allocated by a listed object. */
void keep_set(void *p)
{
    struct lookup lk;
    if (!heap_lookup((uintptr_t)p, &lk)) return;
    struct span *s = span_at(lk.ci);
    /* The flag first: the mark phase looks at keep words of flagged spans only. The block is
     * still in the caller's registers, so a collection in between keeps it anyway. */
    __atomic_fetch_or(&s->flags, SF_KEPT, __ATOMIC_RELAXED);
    __atomic_fetch_or(&keep_words(lk.ci)[lk.idx >> 6], 1ull << (lk.idx & 63), __ATOMIC_RELAXED);
    if (!heap.kept_any) heap.kept_any = true;
}

/* ra lies in the hull of the table in force. */
void keep_slow(void *p, uintptr_t ra)
{
    if (ra - ldso_lo < ldso_hi - ldso_lo) {
        /* ld.so allocates when it loads or unloads an object: look again before the next use. */
        atomic_fetch_add_explicit(&loader_events, 1, memory_order_acq_rel);
        if (atomic_load_explicit(&keep_tab, memory_order_relaxed) != &stale_table)
            atomic_store_explicit(&keep_tab, &stale_table, memory_order_release);
        return;
    }
    const struct keep_table *t = atomic_load_explicit(&keep_tab, memory_order_acquire);
    if (t == &stale_table) {
        if (!allowed || refreshing) return;
        refresh();
        t = atomic_load_explicit(&keep_tab, memory_order_acquire);
    }
    if (!p) return;
    for (uint32_t i = 0; i < t->n; i++)
        if (ra - t->r[i].lo < t->r[i].hi - t->r[i].lo) {
            if (t->r[i].kind == KEEP_OBJECT) keep_set(p);
            return;
        }
}

/* After the constructor of cowgc (101) and of leak.c (102): libc is up, dl_iterate_phdr works. */
__attribute__((constructor(103))) static void keep_init(void)
{
    if (!cowgc_ready || opt.mode != MODE_COLLECT) return;
    for (unsigned i = 0; i < sizeof builtin / sizeof builtin[0]; i++) add_entry(builtin[i], strlen(builtin[i]));
    for (const char *s = opt.keep; s && *s;) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        add_entry(s, len);
        s = end ? end + 1 : NULL;
    }
    if (!nentries) return;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    ldso_base = (uintptr_t)getauxval(AT_BASE);
    allowed = true;
    atomic_store_explicit(&keep_tab, &stale_table, memory_order_release);
    refresh();
}
