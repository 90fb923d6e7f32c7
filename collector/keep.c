/* keep.c -- COWGC_KEEP: blocks that listed shared objects or functions allocate are never reclaimed, and detect mode's hints for the list.
 *
 * Some libraries hide their pointers from any conservative collector (fontconfig stores the
 * element arrays of its patterns as offsets). What they allocate is kept: the allocation entry
 * points compare their caller's return address with a table of text ranges, and a hit sets the
 * block's keep bit (I8 in collector.h); the mark phase treats kept blocks as roots. An entry is
 * an object name (a substring of its path: the object's executable segments) or a `leak:`
 * template (LSan's syntax: '*', '^', '$'), matched against each loaded object's path and the
 * names of its function symbols (.symtab, else .dynsym): a function that matches contributes
 * its own code. The caller is the immediate one: strdup and strndup are cowgc's, so their
 * callers count; other libc functions that allocate (asprintf, getline, ...) are libc's calls.
 *
 * Invariants:
 *  - The entry points read one published table of sorted, disjoint text ranges, and ld.so's as a
 *    "loader" range. A published table is never changed nor unmapped. Off (detect mode, or an
 *    empty list), the table is empty: one compare per allocation.
 *  - dl_iterate_phdr is called only from an allocation by code outside ld.so, after cowgc's
 *    constructor, by one thread at a time (the others go on without waiting), and never by the
 *    collector (which does not allocate, so never inside a stopped world).
 *  - An allocation made by ld.so (dlopen, dlclose, a new thread's TLS) publishes the stale table;
 *    the next allocation from elsewhere reads the generation of the loaded objects (dlpi_adds,
 *    dlpi_subs: one callback) and rebuilds the table only when it changed. A library's
 *    constructors allocate after ld.so mapped it, so their blocks are already seen as its.
 *  - Nothing here allocates: names point into the environment or static storage; symbol files
 *    are read through raw system calls and mmap.
 *  - Detect mode: a collection sets the hidden bit of every allocated block it found unreachable
 *    (exact-fit blocks excepted: their end pointer, which detect mode does not follow, may hold
 *    them), and the program's free or realloc clears it. A block freed with the bit set was in
 *    use while no pointer to it was visible: the one line printed then names the COWGC_KEEP
 *    entries that would keep such blocks in collect mode.
 */
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "collector.h"
#include "scanner.h"

/* Objects known to hide pointers from a conservative collector. */
static const char *const builtin[] = {
    "libfontconfig",   /* FcPattern element arrays are reached through offsets, not pointers */
    "libjvm",          /* HotSpot's inline caches hold CompiledICHolder blocks only as 64-bit
                        * immediates in JIT-compiled code: unaligned words no scan reads */
};

#define MAX_ENTRIES 32
COLD_BSS static struct { const char *s; size_t len; bool pattern; } entries[MAX_ENTRIES];
static unsigned nentries, npatterns;
COLD_BSS static char pattern_text[2048];      /* the leak: templates, NUL-terminated */
static size_t pattern_used;

static struct keep_table empty_table;                              /* nothing listed: no hit */
static struct keep_table stale_table = { .lo = 0, .len = ~(uintptr_t)0 };  /* every caller looks */
struct keep_table *_Atomic keep_tab = &empty_table;

static bool allowed;                 /* cowgc's constructor has run */
COLD_BSS static char exe[512];                /* the program's own path: dl_iterate_phdr names it "" */
static uintptr_t ldso_base, ldso_lo, ldso_hi;
static struct keep_table *current;   /* the last table built */
static unsigned long long seen_adds = ~0ull, seen_subs = ~0ull;
static _Atomic int refresh_lock;
static _Atomic unsigned loader_events;   /* allocations by ld.so so far */
static __thread int refreshing;

/* Detect mode's hidden bitmap, published as heap.hidden_bm by the first sweep (keep_hidden_arm):
 * until a sweep sets a bit it is all clear, and every free's check of it would map one more
 * page and page table (a fault in each forked child) to read zeros. */
static uint64_t *hidden_map;

void keep_hidden_arm(void)
{
    if (hidden_map && !heap.hidden_bm) heap.hidden_bm = hidden_map;
}

static void *map_anon(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static bool name_listed(const char *path)
{
    for (unsigned i = 0; i < nentries; i++) {
        if (entries[i].pattern) {
            if (leak_template_match(entries[i].s, path)) return true;
            continue;
        }
        const char *p = path;
        for (; (p = strchr(p, entries[i].s[0])) != NULL; p++)
            if (!strncmp(p, entries[i].s, entries[i].len)) return true;
    }
    return false;
}

static bool function_listed(const char *name)
{
    for (unsigned i = 0; i < nentries; i++)
        if (entries[i].pattern && leak_template_match(entries[i].s, name)) return true;
    return false;
}

/* One entry of COWGC_KEEP, [s, s + len): a name or leak:TEMPLATE to add, or -NAME to drop a
 * built-in one. */
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
    if (nentries == MAX_ENTRIES) {
        log_line("COWGC_KEEP: more than %d entries; the rest are ignored", MAX_ENTRIES);
        return;
    }
    bool pattern = len > 5 && !strncmp(s, "leak:", 5);
    if (pattern) {
        s += 5, len -= 5;
        if (pattern_used + len + 1 > sizeof pattern_text) {
            log_line("COWGC_KEEP: the leak: templates exceed %zu bytes; the rest are ignored", sizeof pattern_text);
            return;
        }
        memcpy(pattern_text + pattern_used, s, len);
        pattern_text[pattern_used + len] = 0;
        s = pattern_text + pattern_used;
        pattern_used += len + 1;
        npatterns++;
    }
    entries[nentries].s = s;
    entries[nentries].len = len;
    entries[nentries].pattern = pattern;
    nentries++;
}

/* ---- building a table ---- */

/* Ranges are gathered in one scratch buffer, then sorted and merged into the published table. */
struct krange { uintptr_t lo, hi; uint32_t kind; };
#define SCRATCH_MAX (1u << 20)
static struct krange *scratch;
static uint32_t nscratch;

void keep_scratch_range(uintptr_t *lo, uintptr_t *hi)
{
    *lo = (uintptr_t)scratch;
    *hi = scratch ? (uintptr_t)(scratch + SCRATCH_MAX) : 0;
}

static void range_add(uintptr_t lo, uintptr_t hi, uint32_t kind)
{
    if (lo >= hi || nscratch == SCRATCH_MAX) return;
    scratch[nscratch++] = (struct krange){ lo, hi, kind };
}

/* Functions of objects already read, so a dlopen does not read every file again. */
#define CACHE_OBJECTS 256
COLD_BSS static struct { uintptr_t addr; uint64_t name_hash; uint32_t first, n; } cache[CACHE_OBJECTS];
static unsigned ncache;
static struct krange *cached;        /* function ranges, relative to the object's load address */
static uint32_t ncached;
#define CACHED_MAX (1u << 20)

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The functions of the ELF file at path whose names match a leak: template, as ranges relative
 * to the object's load address, appended to `cached`. Reads .symtab, else .dynsym. */
static void read_functions(const char *path)
{
    struct elf_file f;
    if (!elf_map(path, &f)) return;
    for (size_t j = 0; j < f.nsyms && ncached < CACHED_MAX; j++) {
        const char *name = elf_func_name(&f, &f.syms[j]);
        if (name && f.syms[j].st_size && function_listed(name))
            cached[ncached++] = (struct krange){ f.syms[j].st_value, f.syms[j].st_value + f.syms[j].st_size, KEEP_OBJECT };
    }
    elf_unmap(&f);
}

static void object_functions(uintptr_t addr, const char *name)
{
    if (!cached && !(cached = map_anon(CACHED_MAX * sizeof *cached))) return;
    uint64_t h = hash_name(name);
    unsigned k = 0;
    for (; k < ncache; k++)
        if (cache[k].addr == addr && cache[k].name_hash == h) break;
    if (k == ncache) {
        if (ncache == CACHE_OBJECTS) {            /* forget everything; read what is loaded now */
            ncache = 0, ncached = 0, k = 0;
        }
        cache[k].addr = addr;
        cache[k].name_hash = h;
        cache[k].first = ncached;
        read_functions(name);
        cache[k].n = ncached - cache[k].first;
        ncache++;
    }
    for (uint32_t i = 0; i < cache[k].n; i++) {
        const struct krange *r = &cached[cache[k].first + i];
        range_add(addr + r->lo, addr + r->hi, KEEP_OBJECT);
    }
}

struct scan { bool first_seen, unchanged; };

static int on_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct scan *sc = arg;
    if (!sc->first_seen) {
        sc->first_seen = true;
        /* First object: is the set of objects the one we have a table for? */
        if (current && size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs &&
            info->dlpi_adds == seen_adds && info->dlpi_subs == seen_subs) {
            sc->unchanged = true;
            return 1;
        }
        seen_adds = info->dlpi_adds;
        seen_subs = info->dlpi_subs;
    }
    const char *name = info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : exe;
    uint32_t kind;
    if (info->dlpi_addr == ldso_base && ldso_base) kind = KEEP_LOADER;
    else if (name[0] && name_listed(name)) kind = KEEP_OBJECT;
    else {
        if (npatterns && name[0] == '/') object_functions(info->dlpi_addr, name);
        return 0;
    }
    for (unsigned i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        range_add(lo, hi, kind);
        if (kind == KEEP_LOADER) { ldso_lo = lo; ldso_hi = hi; }
    }
    return 0;
}

static void sift(uint32_t i, uint32_t n)
{
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n) return;
        if (c + 1 < n && scratch[c + 1].lo > scratch[c].lo) c++;
        if (scratch[c].lo <= scratch[i].lo) return;
        struct krange t = scratch[i];
        scratch[i] = scratch[c];
        scratch[c] = t;
        i = c;
    }
}

static void sort_scratch(void)       /* heap sort by lo: no allocation, n log n */
{
    for (uint32_t i = nscratch / 2; i-- > 0;) sift(i, nscratch);
    for (uint32_t end = nscratch; end > 1; end--) {
        struct krange t = scratch[0];
        scratch[0] = scratch[end - 1];
        scratch[end - 1] = t;
        sift(0, end - 1);
    }
}

/* The sorted, merged scratch ranges as a new read-only table; NULL if it cannot be mapped. */
static struct keep_table *publishable(void)
{
    sort_scratch();
    uint32_t n = 0;
    for (uint32_t i = 0; i < nscratch; i++) {
        struct krange r = scratch[i];
        if (n && r.lo < scratch[n - 1].hi) {           /* overlap: the loader's range wins */
            if (r.kind == KEEP_LOADER) scratch[n - 1].kind = KEEP_LOADER;
            if (r.hi > scratch[n - 1].hi) scratch[n - 1].hi = r.hi;
            continue;
        }
        scratch[n++] = r;
    }
    size_t bytes = sizeof(struct keep_table) + (size_t)n * sizeof(struct keep_range);
    struct keep_table *t = map_anon(bytes);
    if (!t) return NULL;
    for (uint32_t i = 0; i < n; i++)
        t->r[i] = (struct keep_range){ scratch[i].lo, scratch[i].hi, scratch[i].kind };
    t->n = n;
    t->lo = n ? scratch[0].lo : 0;
    t->len = n ? scratch[n - 1].hi - scratch[0].lo : 0;
    mprotect(t, bytes, PROT_READ);
    return t;
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
    struct scan sc = { false, false };
    if (!scratch) {
        scratch = map_anon(SCRATCH_MAX * sizeof *scratch);
        /* Code addresses only, never a root: without this every collection read the pagemap of
         * its 24 MiB and scanned its touched pages. */
        if (scratch) roots_exclude((uintptr_t)scratch, (uintptr_t)(scratch + SCRATCH_MAX));
    }
    if (scratch) {
        nscratch = 0;
        dl_iterate_phdr(on_object, &sc);
        if (sc.first_seen && !sc.unchanged) {
            struct keep_table *t = publishable();
            if (t) current = t;
        }
    }
    /* ld.so allocated meanwhile: the table may already be out of date, so it stays stale. */
    if (current) atomic_store_explicit(&keep_tab, current, memory_order_release);
    if (atomic_load_explicit(&loader_events, memory_order_acquire) != events)
        atomic_store_explicit(&keep_tab, &stale_table, memory_order_release);
    refreshing = 0;
    atomic_store_explicit(&refresh_lock, 0, memory_order_release);
}

/* heap.kept_chunks, made at the first keep (a mapping fewer for every process that keeps
 * nothing: each one is copied by every fork). NULL if it cannot be mapped: mark_kept then visits
 * every chunk, as it does for a keep that raced with a failed map. */
static uint64_t *kept_chunks_map(void)
{
    uint64_t *m = atomic_load_explicit(&heap.kept_chunks, memory_order_acquire);
    if (m) return m;
    size_t len = ((size_t)heap.nchunks_max + 63) / 64 * sizeof *m;
    uint64_t *fresh = map_anon(len), *expect = NULL;
    if (!fresh) return NULL;
    if (!atomic_compare_exchange_strong(&heap.kept_chunks, &expect, fresh)) {
        munmap(fresh, len);
        return expect;
    }
    roots_exclude((uintptr_t)fresh, (uintptr_t)fresh + len);   /* chunk bits, not pointers */
    return fresh;
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
    uint64_t *kc = kept_chunks_map();
    if (kc) __atomic_fetch_or(&kc[lk.ci >> 6], 1ull << (lk.ci & 63), __ATOMIC_RELAXED);
    else if (!heap.kept_all) heap.kept_all = true;
    if (!heap.kept_any) heap.kept_any = true;
}

/* Memory the kernel was handed a pointer to (preload/hooks.c: an alternate signal stack, an
 * epoll_event's data, a sigev_value), which the program need not keep. The blocks holding its
 * first and last byte are kept (I8) and scanned as roots (a signal handler's frames on such a
 * stack hold pointers while it runs) until the program frees them, which clears the bit; one
 * the program never frees stays allocated, as under its own allocator. Not in COWGC_MODE=off:
 * nothing is reclaimed there, and its free fast path takes no kept span (I8). */
void keep_kernel_held(uintptr_t lo, size_t len)
{
    if (opt.mode == MODE_OFF || !len) return;
    struct lookup lk;
    if (heap_lookup(lo, &lk)) keep_set((void *)lk.user);
    if (heap_lookup(lo + len - 1, &lk)) keep_set((void *)lk.user);
}

/* The range of t holding ra, or NULL. */
static const struct keep_range *range_of(const struct keep_table *t, uintptr_t ra)
{
    uint32_t lo = 0, hi = t->n;
    while (lo < hi) {                           /* first range starting above ra */
        uint32_t mid = (lo + hi) / 2;
        if (t->r[mid].lo <= ra) lo = mid + 1;
        else hi = mid;
    }
    return lo && ra < t->r[lo - 1].hi ? &t->r[lo - 1] : NULL;
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
    const struct keep_range *r = range_of(t, ra);
    if (r && r->kind == KEEP_OBJECT) keep_set(p);
}

/* ---- detect mode: blocks the program used while no pointer to them was visible ---- */

#define HINT_IDS 1024
#define HINT_LINES 20
COLD_BSS static _Atomic uint32_t hinted_ids[HINT_IDS];   /* stack ids already named (0: free entry) */
static _Atomic unsigned hint_lines;

/* A stack id not seen before (true), or one already named, or a full table (false). */
static bool first_time(uint32_t id)
{
    if (!id) id = ~0u;                           /* blocks without a recorded stack: one line */
    for (uint32_t i = (id * 2654435761u) % HINT_IDS, k = 0; k < HINT_IDS; k++, i = (i + 1) % HINT_IDS) {
        uint32_t cur = atomic_load_explicit(&hinted_ids[i], memory_order_relaxed);
        if (cur == id) return false;
        if (cur == 0) {
            if (atomic_compare_exchange_strong(&hinted_ids[i], &cur, id)) return true;
            if (cur == id) return false;
        }
    }
    return false;
}

void keep_hidden_used(uint32_t ci, uint32_t idx, const void *p, const char *who)
{
    uint64_t bit = 1ull << (idx & 63);
    uint64_t *w = &hidden_words(ci)[idx >> 6];
    if (__atomic_fetch_and(w, ~bit, __ATOMIC_RELAXED) & bit) keep_hidden_report(leak_stack_id(ci, idx), p, who);
}

void keep_hidden_report(uint32_t id, const void *p, const char *who)
{
    if (!first_time(id)) return;
    if (atomic_load_explicit(&hint_lines, memory_order_relaxed) > HINT_LINES) return;
    char site[320] = "", obj[64] = "", func[128] = "", keep[256];
    leak_site_of_stack(id, site, sizeof site, obj, sizeof obj);
    /* site reads "; allocated at FUNC+0x... (PATH+0x...)": the function for a leak: entry. */
    const char *at = strstr(site, "allocated at "), *plus;
    if (at && (at += 13) && (plus = strstr(at, "+0x")) && plus - at < (long)sizeof func && at[0] != '0')
        memcpy(func, at, (size_t)(plus - at)), func[plus - at] = 0;
    /* An allocating object or function COWGC_KEEP lists (built in or given): collect mode keeps
     * the block, so there is nothing to warn about. */
    if ((obj[0] && name_listed(obj)) || (func[0] && function_listed(func))) return;
    unsigned k = atomic_fetch_add_explicit(&hint_lines, 1, memory_order_relaxed);
    if (k > HINT_LINES) return;
    if (k == HINT_LINES) {
        log_line("further blocks used while hidden from the collector are not named (%d lines shown)", HINT_LINES);
        return;
    }
    if (obj[0] && func[0])
        fmt(keep, sizeof keep, "; in collect mode COWGC_KEEP=%s (what %s allocates) or COWGC_KEEP=leak:%s would keep such blocks",
            obj, obj, func);
    else if (obj[0])
        fmt(keep, sizeof keep, "; in collect mode COWGC_KEEP=%s would keep the blocks %s allocates", obj, obj);
    else
        fmt(keep, sizeof keep, "; no allocation stack was recorded, so no COWGC_KEEP entry can be named");
    log_line("%s(%p): the program still used this block, but the last collection saw no pointer to it "
             "(hidden as an integer, XOR'd, as an offset, held by the kernel, or in memory cowgc does not scan); "
             "collect mode would have reclaimed it%s%s",
             who, p, site, keep);
}

/* After the constructor of cowgc (101) and of leak.c (102): libc is up, dl_iterate_phdr works. */
__attribute__((constructor(103))) static void keep_init(void)
{
    if (!cowgc_ready) return;
    if (opt.mode != MODE_COLLECT && opt.mode != MODE_DETECT) return;
    /* Detect mode reads the list too: it stays silent about blocks collect mode would keep. */
    for (unsigned i = 0; i < sizeof builtin / sizeof builtin[0]; i++) add_entry(builtin[i], strlen(builtin[i]));
    for (const char *s = opt.keep; s && *s;) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        add_entry(s, len);
        s = end ? end + 1 : NULL;
    }
    if (opt.mode == MODE_DETECT) {
        size_t len = (size_t)heap.nchunks_max * BM_WORDS * 8;
        uint64_t *bm = map_anon(len);
        if (bm) {
            roots_exclude((uintptr_t)bm, (uintptr_t)bm + len);
            hidden_map = bm;
        }
        return;
    }
    if (!nentries) return;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    ldso_base = (uintptr_t)getauxval(AT_BASE);
    allowed = true;
    atomic_store_explicit(&keep_tab, &stale_table, memory_order_release);
    refresh();
}
