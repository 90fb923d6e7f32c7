/* roots.c -- every range the collector must scan conservatively: stacks, registers, data, TLS, mappings, user roots.
 *
 * Invariants:
 *  - Every range handed to the callback is word-aligned, non-empty, inside a readable mapping
 *    of /proc/self/maps as read while the world is stopped, and (except user roots and stacks
 *    that live inside a heap block) outside cowgc's own memory: the heap reserve, its
 *    metadata, the mark stack, every range given to roots_exclude() and cowgc's own data.
 *  - Nothing here allocates. The segment snapshot (dl_iterate_phdr, which takes the loader's
 *    lock) runs before the world is stopped; roots_scan only reads /proc/self/maps with
 *    open/read into an mmap'd buffer.
 *  - The snapshot is double-buffered and published with one atomic store, and the range
 *    tables (user roots, exclusions) mark an entry in flux with hi == 1, so a thread stopped
 *    in the middle of an update never shows the scanner a torn range.
 *  - Only a thread's own stack is clipped at its stack pointer: the [stack] mapping of the
 *    main thread, or a glibc thread stack (guard page below, the thread's TCB at its top).
 *    Below sp is dead there. Any other mapping a thread's sp lies in (a coroutine pool, a
 *    sigaltstack in .bss, a guard-less stack merged with its neighbours) is scanned whole,
 *    and so is the home stack of a thread whose sp is elsewhere: its suspended frames live.
 *  - The data segments of loaded objects (the snapshot) are scanned whatever their current
 *    protection or our privileges: ld.so mapped them from a file at least that long, so no
 *    page of them can SIGBUS. Other private file mappings are scanned only up to the end of
 *    their file, found by probing with process_vm_readv (no privilege needed), which fails
 *    with EFAULT where a read would raise SIGBUS.
 *  - Read-only memory can hold roots too (a pointer table made read-only after filling it):
 *    readable anonymous mappings and readable parts of data segments are scanned, rw or not.
 *    Read-only file mappings outside data segments are file contents, never scanned.
 *  - Shared mappings are scanned page by page, never skipped by the pagemap shortcut: a page
 *    of shared memory written by another process or before a fork has no entry in our page
 *    tables, and swapped shmem does not show as swapped in pagemap.
 *  - The pagemap shortcut skips a private page that is neither present nor swapped out: it
 *    holds zeroes or the file's own bytes, never a pointer the program stored. It is taken for
 *    ranges of PAGEMAP_MIN or more, and for ranges of two pages or more at the first scan in a
 *    process whose ancestors never scanned (pagemap_min), whose unused pages are not mapped.
 *  - Minor collections may skip the unwritten pages of a tracked mapping (collector/gen.c,
 *    G10): private, writable, ROOT_TRACK_MIN or more, no thread's stack pointer in it, and
 *    none of cowgc's own memory (tracking ours would fault our own stores for nothing). The
 *    pages skipped are only ever mapping pages; stacks, registers, TLS windows and user roots
 *    are scanned whole at every collection.
 *  - /proc is read with raw system calls: libc's open/read/close are cancellation points,
 *    and a collection must never be cancelled halfway (it holds heap_lock).
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "scanner.h"
#include "../collector/collector.h"

#define WORD sizeof(uintptr_t)
#define PAGE 4096ul
#define MAX_SEGS 4096
#define MAX_OWN_SEGS 16
#define MAX_USER_ROOTS 1024
#define MAX_EXCLUDED 64
#define MAX_STACK_THREADS 256    /* own stacks of threads running elsewhere, tracked per scan */
#define TCB_BYTES 2304          /* glibc's struct pthread on x86-64, above the thread pointer */
#define MAPS_BUF_MIN (1ul << 20)

struct range { uintptr_t lo, hi; };

/* Raw system calls: never cancellation points, and errno-setting like libc's. */
static long sys_pread(int fd, void *buf, size_t n, off_t off) { return syscall(SYS_pread64, fd, buf, n, off); }

/* ---- range tables that a stopped thread can never leave torn ---- */

/* hi: 0 free, 1 being written or removed, else the entry is [lo, hi). */
struct rslot { _Atomic uintptr_t lo, hi; };
#define RS_BUSY 1

COLD_BSS static struct rslot user_roots[MAX_USER_ROOTS];
COLD_BSS static struct rslot excluded[MAX_EXCLUDED];
/* Entries of user_roots ever used: a scan reads no further (the table's 16 KiB would otherwise
 * be four page faults at a program's first collection or exit check, for nothing). */
static _Atomic size_t user_roots_used;

/* Takes a free entry of t[0, n); *used (if given) is raised past it before it is filled. */
static bool table_add(struct rslot *t, size_t n, _Atomic size_t *used, uintptr_t lo, uintptr_t hi)
{
    for (size_t i = 0; i < n; i++) {
        uintptr_t z = 0;
        if (atomic_compare_exchange_strong(&t[i].hi, &z, RS_BUSY)) {
            for (size_t u = used ? atomic_load(used) : i + 1; u <= i;)
                if (atomic_compare_exchange_weak(used, &u, i + 1)) break;
            atomic_store(&t[i].lo, lo);
            atomic_store_explicit(&t[i].hi, hi, memory_order_release);
            return true;
        }
    }
    return false;
}

static void table_remove(struct rslot *t, size_t n, uintptr_t lo)
{
    for (size_t i = 0; i < n; i++) {
        uintptr_t h = atomic_load_explicit(&t[i].hi, memory_order_acquire);
        if (h > RS_BUSY && atomic_load(&t[i].lo) == lo &&
            atomic_compare_exchange_strong(&t[i].hi, &h, RS_BUSY)) {
            atomic_store(&t[i].lo, 0);
            atomic_store_explicit(&t[i].hi, 0, memory_order_release);
            return;
        }
    }
}

static bool table_get(struct rslot *t, size_t i, struct range *r)
{
    uintptr_t h = atomic_load_explicit(&t[i].hi, memory_order_acquire);
    if (h <= RS_BUSY)
        return false;
    r->lo = atomic_load(&t[i].lo);
    r->hi = h;
    return r->lo < r->hi;
}

HIDDEN int roots_add(uintptr_t lo, uintptr_t hi)
{
    lo = (lo + WORD - 1) & ~(WORD - 1);
    hi &= ~(WORD - 1);
    if (lo >= hi)
        return 0;
    return table_add(user_roots, MAX_USER_ROOTS, &user_roots_used, lo, hi) ? 0 : -1;
}

HIDDEN void roots_remove(uintptr_t lo)
{
    table_remove(user_roots, MAX_USER_ROOTS, (lo + WORD - 1) & ~(WORD - 1));
}

HIDDEN void roots_exclude(uintptr_t lo, uintptr_t hi)
{
    if (lo < hi && !table_add(excluded, MAX_EXCLUDED, NULL, lo, hi))
        log_line("roots: exclusion table full; [%p, %p) will be scanned",
                 (void *)lo, (void *)hi);
}

/* ---- the segment snapshot (before the stop) ---- */

struct snapshot {
    size_t n;                       /* (first: on the page of the first segments) */
    struct range seg[MAX_SEGS];     /* writable PT_LOADs, sorted, merged */
};
COLD_BSS static struct snapshot snaps[2];
static _Atomic int snap_pub = -1;   /* which of snaps is complete; -1 none yet */
static atomic_flag snap_lock = ATOMIC_FLAG_INIT;

/* cowgc's own writable segments, when it is a shared object (LD_PRELOAD): its globals hold
 * heap addresses (heap.base, bins) that must not keep blocks alive. When cowgc is linked
 * into the executable (unit tests) they cannot be told apart from the program's and stay. */
COLD_BSS static struct range own_segs[MAX_OWN_SEGS];
static _Atomic size_t n_own;
static size_t static_tls_size;

struct phdr_walk { struct snapshot *s; size_t tls_sum; bool overflow; bool own_done; };

/* Is this loaded object cowgc itself, as a shared object (LD_PRELOAD)? Linked into an
 * executable (unit tests), its globals cannot be told apart from the program's. */
HIDDEN bool roots_object_is_cowgc(const struct dl_phdr_info *info)
{
    uintptr_t me = (uintptr_t)&snaps;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && me >= lo && me < lo + ph->p_memsz)
            return info->dlpi_name && info->dlpi_name[0];
    }
    return false;
}

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    struct phdr_walk *w = data;
    bool own = roots_object_is_cowgc(info);

    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_TLS)
            w->tls_sum += info->dlpi_phdr[i].p_memsz + info->dlpi_phdr[i].p_align;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W) || ph->p_memsz == 0)
            continue;
        struct range r = { info->dlpi_addr + ph->p_vaddr, info->dlpi_addr + ph->p_vaddr + ph->p_memsz };
        if (own) {
            size_t k = atomic_load(&n_own);
            if (!w->own_done && k < MAX_OWN_SEGS) {
                own_segs[k] = r;
                atomic_store(&n_own, k + 1);
            }
        } else if (w->s->n < MAX_SEGS) {
            w->s->seg[w->s->n++] = r;
        } else {
            w->overflow = true;
        }
    }
    return 0;
}

static void sort_ranges(struct range *r, size_t n)
{
    /* Insertion sort: a few hundred segments, already almost in address order. */
    for (size_t i = 1; i < n; i++) {
        struct range x = r[i];
        size_t j = i;
        while (j > 0 && r[j - 1].lo > x.lo) {
            r[j] = r[j - 1];
            j--;
        }
        r[j] = x;
    }
}

static size_t merge_ranges(struct range *r, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k && r[i].lo <= r[k - 1].hi) {
            if (r[i].hi > r[k - 1].hi)
                r[k - 1].hi = r[i].hi;
        } else {
            r[k++] = r[i];
        }
    }
    return k;
}

HIDDEN void roots_snapshot_segments(void)
{
    while (atomic_flag_test_and_set_explicit(&snap_lock, memory_order_acquire))
        sched_yield();
    int pub = atomic_load(&snap_pub);
    struct snapshot *s = &snaps[pub == 0 ? 1 : 0];
    struct phdr_walk w = { s, 0, false, atomic_load(&n_own) > 0 };
    s->n = 0;
    dl_iterate_phdr(phdr_cb, &w);
    sort_ranges(s->seg, s->n);
    s->n = merge_ranges(s->seg, s->n);
    if (!static_tls_size) {
        /* ld.so knows the exact static TLS size (surplus and TCB included). */
        void (*info)(size_t *, size_t *) = (void (*)(size_t *, size_t *))dlsym(RTLD_DEFAULT, "_dl_get_tls_static_info");
        size_t sz = 0, align = 0;
        if (info)
            info(&sz, &align);
        static_tls_size = sz ? sz : w.tls_sum + 4096;
    }
    atomic_store_explicit(&snap_pub, s == &snaps[0] ? 0 : 1, memory_order_release);
    atomic_flag_clear_explicit(&snap_lock, memory_order_release);
    if (w.overflow)
        log_line("roots: more than %d writable segments; the rest are not scanned", MAX_SEGS);
}

/* ---- /proc/self/maps (world stopped) ---- */

enum {
    M_R = 1, M_W = 2, M_SHARED = 4,
    M_FILE = 8,         /* backed by a real file: may SIGBUS past its end */
    M_NOSCAN = 16,      /* never a root: [vvar], devices, shared file mappings */
    M_X = 32,           /* executable: code, never a root */
    M_STACK = 64,       /* some thread's sp lies in it: scanned whole, minus dead stack */
};
struct mapping { uintptr_t lo, hi; uint32_t flags; uint32_t path; };

static char *maps_buf;
static size_t maps_cap;
static struct mapping *maps;
static size_t maps_slots, nmaps;
static bool scan_failed;
static bool io_uring_mapped;    /* the last maps read showed an io_uring ring (anon_inode:[io_uring]) */

static void *map_anon(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* "/proc/<our tid>/" + rest into buf: per-thread, as for maps_file below. */
static void proc_tid_path(char *buf, const char *rest)
{
    char num[16];
    int k = 0;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    do num[k++] = (char)('0' + tid % 10); while ((tid /= 10) && k < 15);
    size_t n = 0;
    for (const char *p = "/proc/"; *p; p++)
        buf[n++] = *p;
    while (k)
        buf[n++] = num[--k];
    while ((buf[n++] = *rest++))
        ;
}

/* Per-thread paths, not /proc/self: once the thread-group leader has called pthread_exit it
 * is a zombie without an mm, and /proc/self/maps (the leader's view) reads as empty -- which
 * would make every object look unreachable. A kept maps descriptor reads only while the thread
 * that opened it lives (ESRCH after): it is then opened again by the reading thread. */
static struct proc_file maps_file = PROC_FILE("/proc/thread-self/maps", 0);
/* (A subshell opens it before it forks: its path is read by the kernel, off .rodata.) */
static const char pagemap_path[] CHILD_RODATA = "/proc/thread-self/pagemap";
static struct proc_file pagemap_file = PROC_FILE(pagemap_path, 0);

CHILD_PATH int proc_pagemap_fd(void) { return proc_file_fd(&pagemap_file, proc_files_pid()); }

/* The kept descriptor without opening one: -1 if none is open (or its number is the program's
 * now); *ours is false when it was inherited from the process that forked this one (which
 * opened it, and whose page tables it reads), or from an ancestor that did. */
CHILD_PATH int proc_pagemap_kept_fd(bool *ours)
{
    const struct proc_file *f = &pagemap_file;
    if (f->fd < 0 || !fd_is(f->fd, &f->id)) return -1;
    *ours = f->pid == (pid_t)syscall(SYS_getpid);
    return f->fd;
}
void proc_pagemap_drop(void) { proc_file_drop(&pagemap_file); }

/* All of fd into maps_buf (grown as needed); its length, or -1. */
static long read_whole(int fd)
{
    for (;;) {
        if (!maps_buf) {
            maps_cap = maps_cap ? maps_cap : MAPS_BUF_MIN;
            if (!(maps_buf = map_anon(maps_cap)))
                return -1;
        }
        size_t total = 0;
        long got;
        while (total < maps_cap && (got = sys_pread(fd, maps_buf + total, maps_cap - total, (off_t)total)) != 0) {
            if (got < 0) {
                if (errno == EINTR)
                    continue;
                return -1;
            }
            total += (size_t)got;
        }
        if (total < maps_cap)
            return (long)total;
        /* Full: the file may be longer. Grow and read it again from the start. */
        munmap(maps_buf, maps_cap);
        maps_buf = NULL;
        maps_cap *= 4;
    }
}

/* The whole of our maps file in maps_buf; its length, or -1 (an empty file is an error:
 * at least our own code is mapped). */
static long read_maps(void)
{
    pid_t pid = (pid_t)syscall(SYS_getpid);
    for (int fresh = 0; fresh < 2; fresh++) {
        int fd = proc_file_fd(&maps_file, pid);
        if (fd < 0)
            return -1;
        long len = read_whole(fd);
        if (len > 0)
            return len;
        proc_file_drop(&maps_file);
    }
    return -1;
}

static const char *hex(const char *p, uintptr_t *out)
{
    uintptr_t v = 0;
    for (;; p++) {
        unsigned d;
        if (*p >= '0' && *p <= '9') d = (unsigned)(*p - '0');
        else if (*p >= 'a' && *p <= 'f') d = (unsigned)(*p - 'a' + 10);
        else break;
        v = v << 4 | d;
    }
    *out = v;
    return p;
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static uint32_t classify(const char *perms, const char *path)
{
    uint32_t f = 0;
    if (perms[0] == 'r') f |= M_R;
    if (perms[1] == 'w') f |= M_W;
    if (perms[2] == 'x') f |= M_X;
    if (perms[3] == 's') f |= M_SHARED;
    bool anon_shared = *path == '\n' || starts(path, "/dev/zero") || starts(path, "/SYSV") ||
                       starts(path, "[anon_shmem");
    if (*path == '[') {
        /* [stack], [heap], [anon:name] are memory; [vvar], [vdso], [vsyscall] are the kernel's. */
        if (!starts(path, "[stack") && !starts(path, "[heap") && !starts(path, "[anon"))
            f |= M_NOSCAN;
    } else if (*path == '/') {
        if (starts(path, "/dev/") && !starts(path, "/dev/zero"))
            f |= M_NOSCAN;      /* device memory: reads may have side effects or fault */
        else if (!anon_shared)
            f |= M_FILE;
    }
    if ((f & M_SHARED) && !anon_shared)
        f |= M_NOSCAN;          /* a shared file mapping SIGBUSes past the file's end */
    return f;
}

/* Parse maps_buf into maps[]. false if it cannot. */
static bool parse_maps(size_t len)
{
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += maps_buf[i] == '\n';
    if (lines + 1 > maps_slots) {
        if (maps)
            munmap(maps, maps_slots * sizeof *maps);
        maps_slots = (lines + 1) * 2 + 1024;
        if (!(maps = map_anon(maps_slots * sizeof *maps))) {
            maps_slots = 0;
            return false;
        }
    }
    nmaps = 0;
    io_uring_mapped = false;
    const char *p = maps_buf, *end = maps_buf + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            break;
        struct mapping *m = &maps[nmaps];
        p = hex(p, &m->lo);
        p = hex(p + 1, &m->hi);
        const char *perms = p + 1;
        /* skip perms, offset, dev, inode: four space-separated fields */
        for (int field = 0; field < 4 && p < eol; field++) {
            while (p < eol && *p == ' ') p++;
            while (p < eol && *p != ' ') p++;
        }
        while (p < eol && *p == ' ') p++;
        m->flags = classify(perms, p);
        m->path = (uint32_t)(p - maps_buf);
        if (starts(p, "anon_inode:[io_uring]")) io_uring_mapped = true;
        if (m->lo < m->hi)
            nmaps++;
        p = eol + 1;
    }
    return true;
}

/* Anonymous writable mappings that existed before cowgc's start-up: ld.so's early allocations
 * (the initial link maps, which chain to the link maps of every object dlopen'd later, and
 * those live in our heap), the initial TLS, and the like. COWGC_ROOTS=segments scans them too;
 * without them every dlopen'd object's loader bookkeeping would look unreachable. */
#define MAX_STARTUP_ANON 64
COLD_BSS static struct range startup_anon[MAX_STARTUP_ANON];
static size_t n_startup_anon;

HIDDEN void roots_note_startup(void)
{
    long len = read_maps();
    if (len < 0 || !parse_maps((size_t)len)) return;
    for (size_t i = 0; i < nmaps && n_startup_anon < MAX_STARTUP_ANON; i++) {
        const struct mapping *m = &maps[i];
        if ((m->flags & (M_R | M_W)) != (M_R | M_W) || (m->flags & (M_FILE | M_SHARED | M_NOSCAN)))
            continue;
        if (maps_buf[m->path] != '\n') continue;                 /* named: [stack], [heap], ... */
        if (m->lo < heap.base + heap.size && m->hi > heap.base) continue;
        if (m->lo < heap.meta_hi && m->hi > heap.meta_lo) continue;
        startup_anon[n_startup_anon].lo = m->lo;
        startup_anon[n_startup_anon].hi = m->hi;
        n_startup_anon++;
    }
}

static bool startup_overlap(const struct mapping *m, uintptr_t *lo, uintptr_t *hi)
{
    for (size_t k = 0; k < n_startup_anon; k++)
        if (startup_anon[k].lo < m->hi && startup_anon[k].hi > m->lo) {
            *lo = startup_anon[k].lo > m->lo ? startup_anon[k].lo : m->lo;
            *hi = startup_anon[k].hi < m->hi ? startup_anon[k].hi : m->hi;
            return true;
        }
    return false;
}

/* The index of the first mapping ending above a (nmaps if none). */
static size_t first_mapping_after(uintptr_t a)
{
    size_t lo = 0, hi = nmaps;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (maps[mid].hi <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The index of the mapping holding a, or nmaps. */
static size_t mapping_of(uintptr_t a)
{
    size_t i = first_mapping_after(a);
    return i < nmaps && maps[i].lo <= a ? i : nmaps;
}

HIDDEN uint64_t roots_probes;   /* page_readable calls, for tests */
static pid_t probe_pid;         /* ours, set by roots_scan */

/* Can page `a` of our own memory be read? process_vm_readv on ourselves needs no privilege
 * (same thread group) and reports EFAULT where a load would raise SIGBUS: a page of a private
 * file mapping past the end of its file. 1: yes, 0: no, -1: the probe itself is unavailable
 * (a seccomp filter, an old kernel). */
static int page_readable(uintptr_t a)
{
    char byte;
    struct iovec local = { &byte, 1 }, remote = { (void *)a, 1 };
    roots_probes++;
    if (syscall(SYS_process_vm_readv, (long)probe_pid, &local, 1ul, &remote, 1ul, 0ul) == 1)
        return 1;
    return errno == EFAULT ? 0 : -1;
}

/* The same answer from the file's size, through /proc/<tid>/map_files (which reaches the file
 * even when it was deleted or renamed). Needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE: for an
 * ordinary user it fails with EPERM, and the mapping is not scanned. */
static uintptr_t file_backed_end_by_stat(const struct mapping *m)
{
    char path[96];
    proc_tid_path(path, "/map_files/");
    size_t n = strlen(path);
    uintptr_t v[2] = { m->lo, m->hi };
    for (int k = 0; k < 2; k++) {
        int shift = 60;
        while (shift > 0 && !((v[k] >> shift) & 0xf))
            shift -= 4;
        for (; shift >= 0; shift -= 4)
            path[n++] = "0123456789abcdef"[(v[k] >> shift) & 0xf];
        path[n++] = k == 0 ? '-' : '\0';
    }
    struct stat st;
    if (stat(path, &st) != 0)
        return m->lo;       /* cannot tell: do not touch it */
    /* offset of the mapping in the file: the third field of its line */
    uintptr_t off;
    const char *line = maps_buf + m->path;
    while (line > maps_buf && line[-1] != '\n')
        line--;
    const char *q = line;
    for (int field = 0; field < 2; field++) {
        while (*q != ' ') q++;
        while (*q == ' ') q++;
    }
    hex(q, &off);
    if ((uint64_t)st.st_size <= off)
        return m->lo;
    uint64_t valid = ((uint64_t)st.st_size - off + PAGE - 1) & ~(PAGE - 1);
    return valid >= m->hi - m->lo ? m->hi : m->lo + (uintptr_t)valid;
}

/* Where a private file mapping stops being backed by its file (beyond: SIGBUS). The pages
 * past the end of the file are a suffix of the mapping, so a binary search over pages finds
 * the boundary in O(log pages) probes; a fully backed mapping costs one probe. */
static uintptr_t file_backed_end(const struct mapping *m)
{
    int last = page_readable(m->hi - PAGE);
    if (last < 0)
        return file_backed_end_by_stat(m);
    if (last)
        return m->hi;
    /* invariant: page lo is readable or lo == the mapping's start; page hi is not */
    uintptr_t lo = m->lo, hi = m->hi - PAGE;
    if (!page_readable(lo))
        return m->lo;
    while (hi - lo > PAGE) {
        uintptr_t mid = lo + (((hi - lo) / PAGE) / 2) * PAGE;
        int r = page_readable(mid);
        if (r < 0)
            return file_backed_end_by_stat(m);
        if (r) lo = mid; else hi = mid;
    }
    return hi;
}

/* ---- exclusion and emission ---- */

COLD_BSS static struct range excl[MAX_EXCLUDED + MAX_OWN_SEGS + 8 + MAX_STACK_THREADS];
static size_t nexcl;

static void add_excl(uintptr_t lo, uintptr_t hi)
{
    if (lo < hi && nexcl < sizeof excl / sizeof excl[0])
        excl[nexcl++] = (struct range){ lo, hi };
}

static void build_exclusions(void)
{
    nexcl = 0;
    add_excl(heap.base, heap.base + heap.size);
    add_excl(heap.meta_lo, heap.meta_hi);
    add_excl(markstack_lo(), markstack_hi());
    add_excl((uintptr_t)maps_buf, (uintptr_t)maps_buf + maps_cap);
    add_excl((uintptr_t)maps, (uintptr_t)(maps + maps_slots));
    for (size_t i = 0; i < MAX_EXCLUDED; i++) {
        struct range r;
        if (table_get(excluded, i, &r))
            add_excl(r.lo, r.hi);
    }
    size_t no = atomic_load(&n_own);
    for (size_t i = 0; i < no; i++)
        add_excl(own_segs[i].lo, own_segs[i].hi);
    sort_ranges(excl, nexcl);
    nexcl = merge_ranges(excl, nexcl);
}

/* Large mappings are often mostly untouched (reserved arenas, JIT heaps, cached stacks). A page
 * of a PRIVATE mapping that is neither present nor swapped out (/proc/self/pagemap bits 63
 * and 62) reads as zeroes, or as file data the program never wrote, so it holds no pointer:
 * such pages are skipped instead of being faulted in one by one. Never for shared mappings
 * (see the invariants). Any read error falls back to scanning everything. */
#define PAGEMAP_MIN ((uintptr_t)1 << 20)
static int pagemap_fd = -1;
/* A range this long or longer is read page by page through pagemap, skipping pages that hold
 * nothing. The first scan in a process (or in the process it was forked from) asks even for
 * two pages: reading a page never touched maps the zero page, a fault per page, and an exec'd
 * program's one leak check at exit would take twenty-odd of them in data, bss and mappings it
 * never used. Later scans find those pages mapped and read them at memory speed, cheaper than
 * one more system call per range. */
static uintptr_t pagemap_min = 2 * 4096;

/* A page pagemap calls swapped out may be a marker instead: the write-protection marker that
 * userfaultfd leaves on a never-populated page (gen.c protects the heap that way), a guard
 * page. An unprivileged process cannot tell them apart by pagemap (the swap type is hidden),
 * and reading a marker maps the zero page there (every later fork copies that mapping) or,
 * for a guard page, faults. mincore() can: it sees markers as unmapped, and migration
 * entries (a present page the kernel is moving) as resident. With no swap space configured
 * no page can be swapped out, so a swap entry that mincore calls not resident is a marker.
 * With swap configured every swap entry is read, as it may hold data. */
static bool swap_configured(void)
{
    struct sysinfo si;
    return syscall(SYS_sysinfo, &si) != 0 || si.totalswap != 0;
}

void resident_runs(int fd, uintptr_t lo, uintptr_t hi, void (*fn)(uintptr_t, uintptr_t, void *), void *arg)
{
    uint64_t ent[512];
    unsigned char core[512];
    int swap = -1;                      /* swap_configured(), asked at the first swap entry */
    uintptr_t run = 0;                  /* start of the current run of pages to scan, or 0 */
    uintptr_t page = lo & ~(uintptr_t)4095;
    while (page < hi) {
        size_t n = (size_t)((hi - page + 4095) >> 12);
        if (n > 512) n = 512;
        ssize_t got = sys_pread(fd, ent, n * 8, (off_t)((page >> 12) * 8));
        if (got < (ssize_t)(n * 8)) {   /* cannot tell: scan the rest */
            fn(run ? run : (page > lo ? page : lo), hi, arg);
            return;
        }
        bool have_core = false;
        for (size_t k = 0; k < n; k++, page += 4096) {
            bool keep = ent[k] >> 63;   /* present */
            if (!keep && (ent[k] >> 62 & 1)) {
                if (swap < 0) swap = swap_configured();
                if (!swap && !have_core) {
                    if (syscall(SYS_mincore, page, (n - k) * 4096, core + k) != 0)
                        memset(core + k, 1, n - k);     /* cannot tell: read them */
                    have_core = true;
                }
                keep = swap || (core[k] & 1);
            }
            if (keep && !run) run = page > lo ? page : lo;
            if (!keep && run) { fn(run, page, arg); run = 0; }
        }
    }
    if (run) fn(run, hi, arg);
}

struct emit_to { root_fn fn; enum root_kind kind; };
static void emit_run(uintptr_t lo, uintptr_t hi, void *arg)
{
    const struct emit_to *t = arg;
    t->fn(lo, hi, t->kind);
}

static void emit_resident(root_fn fn, uintptr_t lo, uintptr_t hi, enum root_kind kind)
{
    struct emit_to t = { fn, kind };
    resident_runs(pagemap_fd, lo, hi, emit_run, &t);
}

/* sparse: the range is private memory, so the pagemap shortcut is allowed. */
static void emit(root_fn fn, uintptr_t lo, uintptr_t hi, enum root_kind kind, bool sparse)
{
    lo = (lo + WORD - 1) & ~(WORD - 1);
    hi &= ~(WORD - 1);
    if (lo >= hi)
        return;
    if (sparse && hi - lo >= pagemap_min && pagemap_fd >= 0)
        emit_resident(fn, lo, hi, kind);
    else
        fn(lo, hi, kind);
}

/* [lo, hi) minus cowgc's own memory. */
static void emit_clipped(root_fn fn, uintptr_t lo, uintptr_t hi, enum root_kind kind, bool sparse)
{
    for (size_t i = 0; i < nexcl && lo < hi; i++) {
        if (excl[i].hi <= lo)
            continue;
        if (excl[i].lo >= hi)
            break;
        if (excl[i].lo > lo)
            emit(fn, lo, excl[i].lo, kind, sparse);
        lo = excl[i].hi;
    }
    if (lo < hi)
        emit(fn, lo, hi, kind, sparse);
}

/* The index of the first snapshot segment ending above a. */
static size_t first_segment_after(const struct snapshot *s, uintptr_t a)
{
    size_t lo = 0, hi = s ? s->n : 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->seg[mid].hi <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* [lo, hi) split into the parts inside snapshot segments (ROOT_DATA) and the rest, which is
 * emitted as `other` up to other_hi (or dropped if other == ROOT_KINDS). Segment parts are
 * never bounded by other_hi: ld.so mapped them from a file that covers them. */
static void emit_by_segments(root_fn fn, const struct snapshot *s, uintptr_t lo, uintptr_t hi,
                             enum root_kind other, uintptr_t other_hi, bool sparse)
{
    for (size_t i = first_segment_after(s, lo); s && i < s->n && lo < hi && s->seg[i].lo < hi; i++) {
        if (s->seg[i].lo > lo && other != ROOT_KINDS)
            emit_clipped(fn, lo, s->seg[i].lo < other_hi ? s->seg[i].lo : other_hi, other, sparse);
        uintptr_t dlo = s->seg[i].lo > lo ? s->seg[i].lo : lo;
        uintptr_t dhi = s->seg[i].hi < hi ? s->seg[i].hi : hi;
        emit_clipped(fn, dlo, dhi, ROOT_DATA, sparse);
        lo = dhi;
    }
    if (lo < hi && other != ROOT_KINDS)
        emit_clipped(fn, lo, hi < other_hi ? hi : other_hi, other, sparse);
}

/* G10 (gen.c): mappings this large are worth tracking. A tracker call costs 2-20 us (native,
 * and in a VM with shadow paging), the scan of 4-40 pages; below that, tracking a demo
 * worker's 52 KiB of libc bss made its minor collections 15 us slower, not faster (the
 * program also takes a write fault on each such page it writes after every collection). */
#define ROOT_TRACK_MIN ((uintptr_t)256 << 10)

static bool overlaps_excl(uintptr_t lo, uintptr_t hi)
{
    for (size_t i = 0; i < nexcl; i++)
        if (excl[i].lo < hi && excl[i].hi > lo)
            return true;
    return false;
}

/* A writable private mapping outside any stack: in a minor collection, only its pages the
 * tracker reports written since the collection before, and those it carried (gen.c, G10);
 * else whole. */
static void emit_tracked(root_fn fn, const struct snapshot *s, const struct mapping *m, enum root_kind other,
                         uintptr_t other_hi)
{
    const struct page_run *r;
    size_t n;
    if (m->hi - m->lo >= ROOT_TRACK_MIN && !overlaps_excl(m->lo, m->hi) && gen_root_runs(m->lo, m->hi, &r, &n)) {
        for (size_t k = 0; k < n; k++)
            emit_by_segments(fn, s, r[k].lo, r[k].hi, other, other_hi, true);
        return;
    }
    emit_by_segments(fn, s, m->lo, m->hi, other, other_hi, true);
}

/* Is [lo, hi) wholly inside one (merged) snapshot segment, counted in whole pages? ld.so
 * maps a segment by pages, so the rest of its first and last pages reads as safely as the
 * segment does: a data segment's file mapping, which ends on the page after .data's last
 * byte, needs no probing (three probes per collection in a process linked to libc and libm). */
static bool inside_segment(const struct snapshot *s, uintptr_t lo, uintptr_t hi)
{
    size_t i = first_segment_after(s, lo);
    return s && i < s->n && (s->seg[i].lo & ~(PAGE - 1)) <= lo &&
           ((s->seg[i].hi + PAGE - 1) & ~(PAGE - 1)) >= hi;
}

static bool overlaps_segment(const struct snapshot *s, uintptr_t lo, uintptr_t hi)
{
    size_t i = first_segment_after(s, lo);
    return s && i < s->n && s->seg[i].lo < hi;
}

/* Is [lo, hi) wholly inside one exclusion? (excl is sorted and merged by then.) */
static bool inside_excl(uintptr_t lo, uintptr_t hi)
{
    for (size_t i = 0; i < nexcl && excl[i].lo <= lo; i++)
        if (excl[i].hi >= hi)
            return true;
    return false;
}

/* Where mapping m stops being safe to read: the end of its file for a private file mapping
 * that no data segment covers whole (found by probing, a few system calls: asked only for a
 * mapping that is going to be scanned, never for code or read-only file contents), else its end.
 * One the exclusions cover whole is never read: cowgc's own .data page is such a file mapping,
 * and probing it cost a system call at every collection. */
static uintptr_t readable_end(const struct snapshot *snap, const struct mapping *m)
{
    return (m->flags & M_FILE) && !inside_segment(snap, m->lo, m->hi) && !inside_excl(m->lo, m->hi)
        ? file_backed_end(m) : m->hi;
}

/* A thread running on a stack inside a heap block (pthread_attr_setstack with malloc'd
 * memory): the block bounds its stack. */
static void emit_heap_stack(root_fn fn, uintptr_t sp)
{
    struct lookup l;
    if (!heap_lookup(sp, &l)) {
        log_line("roots: a thread's stack pointer %p is inside the heap but not in a block; "
                 "its stack is not scanned", (void *)sp);
        return;
    }
    const struct span *s = span_at(span_head(l.ci));
    uintptr_t lo = sp - ARCH_RED_ZONE > l.user ? sp - ARCH_RED_ZONE : l.user;
    emit(fn, lo, l.user + s->size, ROOT_STACK, false);
}

static bool in_heap(uintptr_t a) { return heap.size && a - heap.base < heap.size; }

/* Static TLS of a thread whose block is not already inside its scanned stack (the main
 * thread's lives where ld.so put it). [tp - static size, tp + TCB) by readable mapping. */
static void emit_tls(root_fn fn, uintptr_t tp)
{
    uintptr_t lo = tp - static_tls_size, hi = tp + TCB_BYTES;
    if (!tp || lo > tp)
        return;
    /* A glibc thread's TLS and TCB sit at the top of its stack mapping, above its sp: the
     * stack scan covers them. Elsewhere the window minus the exclusions (dead stack below an
     * sp included) is scanned. */
    size_t home = mapping_of(tp);
    if (home < nmaps && (maps[home].flags & M_STACK))
        return;
    for (size_t i = first_mapping_after(lo); i < nmaps && maps[i].lo < hi; i++) {
        const struct mapping *m = &maps[i];
        if (m->hi <= lo || !(m->flags & M_R) || (m->flags & M_NOSCAN))
            continue;
        if (m->flags & M_STACK)
            continue;                               /* scanned as a stack */
        uintptr_t a = m->lo > lo ? m->lo : lo, b = m->hi < hi ? m->hi : hi;
        emit_clipped(fn, a, b, ROOT_TLS, false);
    }
}

/* glibc's thread stacks are one mapping: a PROT_NONE guard at the bottom, then the stack,
 * static TLS and the TCB at the top. Recognised by that shape, so a guard-less stack
 * (guardsize 0), or one whose top merged with a neighbour in /proc/self/maps, is missed. */
static bool thread_stack_shape(size_t i)
{
    if (i == 0 || i >= nmaps)
        return false;
    const struct mapping *m = &maps[i], *g = &maps[i - 1];
    return g->hi == m->lo && !(g->flags & (M_R | M_W)) && !(g->flags & M_FILE) &&
           !(m->flags & (M_FILE | M_SHARED | M_NOSCAN)) && maps_buf[m->path] == '\n' &&
           (m->flags & (M_R | M_W)) == (M_R | M_W);
}

static bool idle_thread_stack(size_t i)
{
    return thread_stack_shape(i) && !(maps[i].flags & M_STACK);
}

/* Thread t's own stack, whose part below sp is dead; false when it cannot be trusted to be
 * exactly that. The main thread's is the [stack] mapping; a thread started through our
 * pthread_create recorded its bounds in its hooks_thread_stack (read at the same offset from
 * its thread pointer as ours); a thread libc started itself is unknown. */
static bool own_stack(const struct stopped_thread *th, size_t t, pid_t pid, struct range *out)
{
    if (th[t].tid == pid) {
        for (size_t i = nmaps; i-- > 0;)
            if (starts(maps_buf + maps[i].path, "[stack]")) {
                *out = (struct range){ maps[i].lo, maps[i].hi };
                return true;
            }
        return false;
    }
    uintptr_t tp = stw_thread_tp(t);
    if (!tp)
        return false;
    const struct thread_stack *ts = (const struct thread_stack *)
        (tp + ((uintptr_t)&hooks_thread_stack - arch_thread_pointer()));
    size_t i = mapping_of((uintptr_t)ts);
    if (i == nmaps || !(maps[i].flags & M_R) || (uintptr_t)(ts + 1) > maps[i].hi)
        return false;
    *out = (struct range){ ts->lo, ts->hi };
    return out->lo < out->hi;
}

/* ---- the scan ---- */

HIDDEN bool roots_scan_failed(void) { return scan_failed; }
HIDDEN bool roots_io_uring(void) { return io_uring_mapped; }

HIDDEN void roots_scan(root_fn fn)
{
    const struct stopped_thread *th;
    size_t nth = stw_threads(&th);
    int pub = atomic_load_explicit(&snap_pub, memory_order_acquire);
    const struct snapshot *snap = pub >= 0 ? &snaps[pub] : NULL;
    bool all = opt.roots == ROOTS_ALL;
    pid_t pid = proc_files_pid();
    probe_pid = pid;

    long len = read_maps();
    scan_failed = len < 0 || !parse_maps((size_t)len);
    pagemap_fd = scan_failed ? -1 : proc_file_fd(&pagemap_file, pid);
    if (scan_failed) {
        /* Without the maps nothing can be bounded safely; the collector must not sweep. */
        log_line("roots: cannot read /proc/<tid>/maps (errno %d); this collection must not free",
                 errno);
        return;
    }
    build_exclusions();

    /* (a) stacks. Only a thread's own stack is cut at its sp (the dead part joins the
     * exclusions); every other mapping holding an sp is scanned whole, and so is the own
     * stack of a thread running elsewhere: its suspended frames are live. */
    struct range own[MAX_STACK_THREADS];
    size_t nown = nth < MAX_STACK_THREADS ? nth : MAX_STACK_THREADS;
    for (size_t t = 0; t < nth; t++) {
        uintptr_t sp = th[t].sp;
        struct range r = { 0, 0 };
        bool known = own_stack(th, t, pid, &r);
        if (t < nown)
            own[t] = known ? r : (struct range){ 0, 0 };
        if (known && sp >= r.lo && sp < r.hi) {
            /* A thread stopped inside a call (the collector's own, one parked at the end of
             * a busy section) has no live red zone: what lies below its sp is what returned
             * calls left, cowgc's own dead frames (a forked child's exit check leaves its own
             * blocks' addresses there). */
            uintptr_t live = sp - (th[t].in_call ? 0 : ARCH_RED_ZONE);
            add_excl(r.lo, live > r.lo ? live : r.lo);
            if (t < nown)
                own[t].hi = 0;      /* scanned with the mapping holding sp */
        }
        if (in_heap(sp)) {
            emit_heap_stack(fn, sp);
            continue;
        }
        size_t i = mapping_of(sp);
        if (i < nmaps)
            maps[i].flags |= M_STACK;
    }
    sort_ranges(excl, nexcl);
    nexcl = merge_ranges(excl, nexcl);
    for (size_t t = 0; t < nown; t++)
        if (own[t].lo < own[t].hi)
            emit_clipped(fn, own[t].lo, own[t].hi, ROOT_STACK, true);

    /* (b) registers: they live in stw's slot table, which is excluded from (c) */
    for (size_t t = 0; t < nth; t++)
        if (th[t].nregs)
            emit(fn, (uintptr_t)th[t].regs, (uintptr_t)(th[t].regs + th[t].nregs), ROOT_REGS, false);

    /* (c)/(d) mappings */
    for (size_t i = 0; i < nmaps; i++) {
        struct mapping *m = &maps[i];
        if (!(m->flags & M_R) || (m->flags & M_NOSCAN))
            continue;
        bool sparse = !(m->flags & M_SHARED);
        bool file = m->flags & M_FILE;
        bool anon = !file && maps_buf[m->path] != '/';
        if (m->flags & M_STACK) {
            emit_by_segments(fn, snap, m->lo, m->hi, ROOT_STACK, readable_end(snap, m), sparse);
            continue;
        }
        if (!(m->flags & M_W)) {
            /* Read-only: data segments (RELRO, or .data the program made read-only), and in
             * ROOTS=all anonymous memory; never code nor file contents. */
            if (m->flags & M_X)
                continue;
            if (all && anon)
                emit_by_segments(fn, snap, m->lo, m->hi, ROOT_MAPPING, m->hi, sparse);
            else if (overlaps_segment(snap, m->lo, m->hi))
                emit_by_segments(fn, snap, m->lo, m->hi, ROOT_KINDS, m->hi, sparse);
            continue;
        }
        uintptr_t slo, shi;
        if (all && sparse) {
            emit_tracked(fn, snap, m, ROOT_MAPPING, readable_end(snap, m));
        } else if (all) {
            emit_by_segments(fn, snap, m->lo, m->hi, ROOT_MAPPING, readable_end(snap, m), sparse);
        } else if (overlaps_segment(snap, m->lo, m->hi) && sparse) {
            emit_tracked(fn, snap, m, ROOT_KINDS, m->hi);
        } else if (overlaps_segment(snap, m->lo, m->hi)) {
            emit_by_segments(fn, snap, m->lo, m->hi, ROOT_KINDS, m->hi, sparse);
        } else if (file) {
            /* Writable file data no snapshot knows: an object dlopen'd after the snapshot.
             * Scan it, and its bss (the anonymous mapping right after it). */
            emit_clipped(fn, m->lo, readable_end(snap, m), ROOT_DATA, sparse);
            struct mapping *b = m + 1;
            if (i + 1 < nmaps && b->lo == m->hi && !(b->flags & (M_FILE | M_NOSCAN | M_SHARED)) &&
                (b->flags & (M_R | M_W)) == (M_R | M_W) && !(b->flags & M_STACK) &&
                !overlaps_segment(snap, b->lo, b->hi) && maps_buf[b->path] == '\n') {
                emit_clipped(fn, b->lo, b->hi, ROOT_DATA, true);
                i++;
            }
        } else if (startup_overlap(m, &slo, &shi)) {
            emit_clipped(fn, slo, shi, ROOT_DATA, sparse);
        } else if (idle_thread_stack(i)) {
            /* A stack no stopped thread runs on: a thread that exited but was not joined
             * yet, or one glibc keeps in its stack cache. Its TCB still holds the DTV,
             * which ld.so allocated with our malloc and will free on reuse or join. */
            uintptr_t lo = m->hi - static_tls_size - TCB_BYTES;
            emit_clipped(fn, lo > m->lo && lo < m->hi ? lo : m->lo, m->hi, ROOT_TLS, false);
        }
    }

    /* (d) static TLS, which ROOTS_ALL covers with the mappings */
    if (!all)
        for (size_t t = 0; t < nth; t++)
            emit_tls(fn, stw_thread_tp(t));

    /* (e) user roots, bounded by what is mapped and readable */
    for (size_t k = 0, used = atomic_load_explicit(&user_roots_used, memory_order_acquire); k < used; k++) {
        struct range r;
        if (!table_get(user_roots, k, &r))
            continue;
        for (size_t i = first_mapping_after(r.lo); i < nmaps && maps[i].lo < r.hi; i++) {
            if (!(maps[i].flags & M_R) || (maps[i].flags & M_NOSCAN))
                continue;
            uintptr_t a = maps[i].lo > r.lo ? maps[i].lo : r.lo;
            uintptr_t b = maps[i].hi < r.hi ? maps[i].hi : r.hi;
            emit(fn, a, b, ROOT_USER, false);
        }
    }
    pagemap_fd = -1;
    if (pagemap_min != PAGEMAP_MIN) pagemap_min = PAGEMAP_MIN;
}
