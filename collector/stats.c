/* stats.c -- COWGC_STATS: a summary at exit on the log, or the same as JSON; never allocates. */
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"
#include "../preload/cowgc.h"
#include "scanner.h"

static const char *const mode_names[] = { "collect", "detect", "off" };
static const char *const mark_names[] = { "outofline", "inline" };

void stats_fill(struct cowgc_stats *st)
{
    memset(st, 0, sizeof *st);
    st->collections = gcstats.collections;
    st->pause_total_ns = gcstats.pause_total_ns;
    st->pause_max_ns = gcstats.pause_max_ns;
    st->mark_ns = gcstats.mark_ns;
    st->sweep_ns = gcstats.sweep_ns;
    st->reclaimed_blocks = gcstats.reclaimed_blocks;
    st->reclaimed_bytes = gcstats.reclaimed_bytes;
    st->unreachable_blocks = gcstats.unreachable_blocks;
    st->unreachable_bytes = gcstats.unreachable_bytes;
    st->live_bytes = gcstats.live_bytes;
    st->live_blocks = gcstats.live_blocks;
    for (int k = 0; k < ROOT_KINDS; k++) st->roots_bytes += gcstats.roots_bytes[k];
    st->heap_pages_written = gcstats.heap_pages_written;
    struct tcache *tc = tls_tc;
    st->mallocs = atomic_load(&heap.nmalloc) + (tc ? tc->nmalloc : 0);
    st->frees = atomic_load(&heap.nfree) + (tc ? tc->nfree : 0);
    st->in_use_bytes = atomic_load(&heap.in_use) + (tc ? tc->alloc_bytes - tc->free_bytes : 0);
    /* Threads flush their counts in batches, so the peak is also taken whenever it is read. */
    if (st->in_use_bytes > heap.peak_in_use && st->in_use_bytes < ((uint64_t)1 << 62))
        heap.peak_in_use = st->in_use_bytes;
    st->mapped_bytes = heap.mapped;
    st->purged_bytes = heap.purged;
    st->inherited_roots_bytes = gcstats.roots_bytes[ROOT_INHERITED];
    st->minor_collections = genstats.minor;
    st->full_collections = genstats.full;
    st->pages_written = genstats.pages_written;
    st->young_bytes_marked = genstats.young_marked;
    st->root_bytes_skipped = genstats.root_skipped;
    st->recheck_collections = genstats.rechecks;
    st->gc_cpu_ns = gcstats.cpu_ns;
    st->parallel_collections = gcstats.par_collections;
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    st->process_cpu_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The collector's share of the process's CPU time, in tenths of a percent. */
static unsigned share_permille(const struct cowgc_stats *st)
{
    return st->process_cpu_ns ? (unsigned)(st->gc_cpu_ns * 1000 / st->process_cpu_ns) : 0;
}

#define MS(ns) ((unsigned long long)((ns) / 1000000)), ((unsigned)(((ns) / 1000) % 1000))
#define KB(b) ((unsigned long long)((b) >> 10))

void stats_print(int fd)
{
    struct cowgc_stats st;
    stats_fill(&st);
    log_line("stats: mode=%s mark=%s pid=%d", mode_names[opt.mode], mark_names[opt.mark], (int)getpid());
    log_line("stats: mallocs %llu, frees %llu, in use %llu KiB (peak %llu KiB), mapped %llu KiB (peak %llu KiB), returned to the OS %llu KiB",
             (unsigned long long)st.mallocs, (unsigned long long)st.frees, KB(st.in_use_bytes),
             KB(heap.peak_in_use), KB(st.mapped_bytes), KB(heap.peak_mapped), KB(st.purged_bytes));
    if (opt.mode == MODE_OFF) return;
    log_line("stats: collections %llu (skipped %llu), pause total %llu.%03u ms, longest %llu.%03u ms, mark %llu.%03u ms, sweep %llu.%03u ms",
             (unsigned long long)st.collections, (unsigned long long)gcstats.skipped,
             MS(st.pause_total_ns), MS(st.pause_max_ns), MS(st.mark_ns), MS(st.sweep_ns));
    log_line("stats: reclaimed %llu blocks, %llu KiB; live after last collection %llu blocks, %llu KiB; unreachable (detect) %llu blocks, %llu KiB",
             (unsigned long long)st.reclaimed_blocks, KB(st.reclaimed_bytes),
             (unsigned long long)st.live_blocks, KB(st.live_bytes),
             (unsigned long long)st.unreachable_blocks, KB(st.unreachable_bytes));
    log_line("stats: roots scanned by the last collection: stacks %llu KiB, registers %llu B, data %llu KiB, tls %llu KiB, mappings %llu KiB, user %llu KiB, inherited (written) %llu KiB, kept (COWGC_KEEP) %llu KiB",
             KB(gcstats.roots_bytes[ROOT_STACK]), (unsigned long long)gcstats.roots_bytes[ROOT_REGS],
             KB(gcstats.roots_bytes[ROOT_DATA]), KB(gcstats.roots_bytes[ROOT_TLS]),
             KB(gcstats.roots_bytes[ROOT_MAPPING]), KB(gcstats.roots_bytes[ROOT_USER]),
             KB(gcstats.roots_bytes[ROOT_INHERITED]), KB(gcstats.roots_bytes[ROOT_KEPT]));
    log_line("stats: heap pages written by the collector %llu, mark stack overflows %llu, collections with helper markers %llu",
             (unsigned long long)st.heap_pages_written, (unsigned long long)gcstats.mark_overflows,
             (unsigned long long)gcstats.par_collections);
    unsigned sh = share_permille(&st);
    log_line("stats: generations %s: %llu minor (%llu rechecking promotions), %llu full; heap pages reported written %llu; young bytes traced %llu KiB; unwritten root bytes skipped %llu KiB; collector CPU %llu.%03u ms = %u.%u%% of the process's",
             gen_on() ? gen_tracker_name() : "off", (unsigned long long)st.minor_collections,
             (unsigned long long)st.recheck_collections,
             (unsigned long long)st.full_collections, (unsigned long long)st.pages_written,
             KB(st.young_bytes_marked), KB(st.root_bytes_skipped), MS(st.gc_cpu_ns), sh / 10, sh % 10);
    (void)fd;
}

void stats_write_json(const char *path)
{
    struct cowgc_stats st;
    stats_fill(&st);
    char buf[2048];
    size_t n = fmt(buf, sizeof buf,
        "{\"mode\":\"%s\",\"mark\":\"%s\",\"pid\":%d,\"collections\":%llu,\"skipped\":%llu,"
        "\"pause_total_ns\":%llu,\"pause_max_ns\":%llu,\"mark_ns\":%llu,\"sweep_ns\":%llu,"
        "\"reclaimed_blocks\":%llu,\"reclaimed_bytes\":%llu,\"unreachable_blocks\":%llu,"
        "\"unreachable_bytes\":%llu,\"live_bytes\":%llu,\"live_blocks\":%llu,\"roots_bytes\":%llu,"
        "\"heap_pages_written\":%llu,\"mallocs\":%llu,\"frees\":%llu,\"in_use_bytes\":%llu,"
        "\"peak_in_use_bytes\":%llu,\"mapped_bytes\":%llu,\"peak_mapped_bytes\":%llu,"
        "\"purged_bytes\":%llu,\"mark_overflows\":%llu,\"parallel_collections\":%llu,\"generations\":\"%s\",\"minor_collections\":%llu,"
        "\"full_collections\":%llu,\"pages_written\":%llu,\"young_bytes_marked\":%llu,\"root_bytes_skipped\":%llu,"
        "\"recheck_collections\":%llu,\"gc_cpu_ns\":%llu,\"process_cpu_ns\":%llu,\"gc_cpu_share\":%u.%03u}\n",
        mode_names[opt.mode], mark_names[opt.mark], (int)getpid(),
        (unsigned long long)st.collections, (unsigned long long)gcstats.skipped,
        (unsigned long long)st.pause_total_ns, (unsigned long long)st.pause_max_ns,
        (unsigned long long)st.mark_ns, (unsigned long long)st.sweep_ns,
        (unsigned long long)st.reclaimed_blocks, (unsigned long long)st.reclaimed_bytes,
        (unsigned long long)st.unreachable_blocks, (unsigned long long)st.unreachable_bytes,
        (unsigned long long)st.live_bytes, (unsigned long long)st.live_blocks,
        (unsigned long long)st.roots_bytes, (unsigned long long)st.heap_pages_written,
        (unsigned long long)st.mallocs, (unsigned long long)st.frees,
        (unsigned long long)st.in_use_bytes, (unsigned long long)heap.peak_in_use,
        (unsigned long long)st.mapped_bytes, (unsigned long long)heap.peak_mapped,
        (unsigned long long)st.purged_bytes, (unsigned long long)gcstats.mark_overflows,
        (unsigned long long)gcstats.par_collections, gen_on() ? gen_tracker_name() : "off", (unsigned long long)st.minor_collections,
        (unsigned long long)st.full_collections, (unsigned long long)st.pages_written,
        (unsigned long long)st.young_bytes_marked, (unsigned long long)st.root_bytes_skipped,
        (unsigned long long)st.recheck_collections, (unsigned long long)st.gc_cpu_ns,
        (unsigned long long)st.process_cpu_ns, share_permille(&st) / 1000, share_permille(&st) % 1000);
    /* "%p" in the path becomes the pid, so the processes of one run do not overwrite each other. */
    char real[4096];
    size_t r = 0;
    for (const char *c = path; *c && r + 24 < sizeof real; c++) {
        if (c[0] == '%' && c[1] == 'p') { r += fmt(real + r, sizeof real - r, "%d", (int)getpid()); c++; }
        else real[r++] = *c;
    }
    real[r] = '\0';
    int fd = open(real, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) { log_line("COWGC_STATS=json:%s: cannot open the file; stats not written", real); return; }
    ssize_t w = write(fd, buf, n);
    (void)w;
    close(fd);
}
