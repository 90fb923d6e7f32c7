/* preload.h -- what preload/ offers the rest of cowgc: the options in force, logging, errors.
 *
 * Invariants owned here:
 *  - COWGC_* variables are defined only in the table in options.c; `opt` is written once, at
 *    start-up, before any thread but the first can call into cowgc, and read-only afterwards.
 *  - Nothing here allocates with libc's malloc or uses stdio: fmt_* format into caller buffers,
 *    log_* write(2) whole lines.
 */
#ifndef COWGC_PRELOAD_H
#define COWGC_PRELOAD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HIDDEN __attribute__((visibility("hidden")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Code a forked child runs (all three fork handlers, as a subshell forks in turn; malloc and
 * free; the exit check) shares one input section, which the linker places with the other
 * .text.hot.* sections: a short-lived child then faults in a page or two of cowgc's text
 * (fault-around maps 64 KiB at a time) instead of one for each place these functions would
 * otherwise lie (about six, measured under bash). For the same reason libcowgc.so is linked
 * without the C start files: their _fini and __do_global_dtors_aux lay two more pages on every
 * exit (see interpose.c's __dso_handle). */
#define CHILD_PATH __attribute__((section(".text.hot.cowgc_child")))

/* The same for data: cowgc's big zeroed arrays that a forked child does not touch go to .lbss,
 * which the linker places after .bss. The small globals every malloc, free and fork handler
 * reads then share one or two pages of .bss instead of lying between the arrays on six (a
 * child's first touch of each page is a fault of its own: 5-15 us measured in a VM). */
#define COLD_BSS __attribute__((section(".lbss")))

/* And for constant tables the fast paths read (size classes): in .rodata they lie on a file
 * page that fork() does not copy, so a child's first malloc takes a fault to map it (one per
 * child of a shell, measured). The RELRO pages the loader wrote at start-up are private copies,
 * which fork() does copy: the tables go there, read-only all the same once relocated. */
#define CHILD_RODATA __attribute__((section(".data.rel.ro.cowgc_child")))

/* Debug builds (meson buildtype debug/debugoptimized without b_ndebug) assert invariants. */
#ifdef NDEBUG
static const bool config_debug = false;
#else
static const bool config_debug = true;
#endif

enum mode { MODE_COLLECT, MODE_DETECT, MODE_OFF };
enum mark_layout { MARK_OUTOFLINE, MARK_INLINE };
enum free_policy { FREE_HONOUR, FREE_IGNORE };
enum purge_kind { PURGE_DONTNEED, PURGE_FREE, PURGE_NONE };
enum roots_kind { ROOTS_ALL, ROOTS_SEGMENTS };
enum report_format { REPORT_TEXT, REPORT_JSON };
enum unwind_kind { UNWIND_FP, UNWIND_LIBUNWIND };
enum gen_mode { GEN_AUTO, GEN_ON, GEN_OFF };
enum tracker_kind { TRACKER_AUTO, TRACKER_PAGEMAP_SCAN, TRACKER_SOFT_DIRTY };
enum root_pages { ROOT_PAGES_WRITTEN, ROOT_PAGES_ALL };
#define TRACKER_NONE TRACKER_AUTO   /* gen.c: no tracker in use */

/* The options in force. Paths point into the environment block (never copied). */
struct options {
    int mode;              /* COWGC_MODE */
    int mark;              /* COWGC_MARK */
    int free_policy;       /* COWGC_FREE */
    int purge;             /* COWGC_PURGE */
    int roots;             /* COWGC_ROOTS */
    bool stats;            /* COWGC_STATS=1 or json:PATH */
    const char *stats_json;/* COWGC_STATS=json:PATH, else NULL */
    const char *log_path;  /* COWGC_LOG, NULL = stderr */
    bool verbose;          /* COWGC_VERBOSE */
    bool abort_on_error;   /* COWGC_ABORT_ON_ERROR */
    uint64_t min_trigger;  /* COWGC_MIN_TRIGGER, bytes */
    uint32_t growth_permille; /* COWGC_GROWTH x 1000 */
    uint32_t fork_growth_permille; /* COWGC_FORK_GROWTH x 1000, used after fork() in the child */
    bool fork_freeze;      /* COWGC_FORK_FREEZE */
    int generational;      /* COWGC_GENERATIONAL */
    int tracker;           /* COWGC_TRACKER */
    int root_pages;        /* COWGC_ROOT_PAGES: enum root_pages */
    uint64_t young_trigger;/* COWGC_YOUNG_TRIGGER, bytes; 0 = the MIN_TRIGGER/GROWTH rule */
    uint32_t full_growth_permille; /* COWGC_FULL_GROWTH x 1000 */
    uint32_t fork_recheck; /* COWGC_FORK_RECHECK: chunks; 0 = never */
    int markers;           /* COWGC_MARKERS, 0 = one per CPU, at most 4 */
    uint64_t markers_min;  /* COWGC_MARKERS_MIN, bytes traced before helpers start */
    uint64_t max_heap;     /* COWGC_MAX_HEAP, bytes, 0 = no limit */
    uint64_t reserve;      /* COWGC_RESERVE, bytes of address space for the heap */
    int signal;            /* COWGC_SIGNAL, the stop-the-world signal */
    /* leak reports */
    int stack_depth;       /* COWGC_STACK_DEPTH, 0 = no capture */
    uint32_t stack_sample; /* COWGC_STACK_SAMPLE, capture one in N */
    int unwind;            /* COWGC_UNWIND */
    int report;            /* COWGC_REPORT */
    int report_signal;     /* COWGC_REPORT_SIGNAL, 0 = off */
    bool report_reclaimed; /* COWGC_REPORT_RECLAIMED */
    int leak_exitcode;     /* COWGC_LEAK_EXITCODE, 0 = unchanged */
    const char *suppress;  /* COWGC_SUPPRESS */
    const char *symbolize; /* COWGC_SYMBOLIZE: NULL = 1 (find one), "0", or the symbolizer */
    int quarantine;        /* COWGC_QUARANTINE, collections */
    const char *keep;      /* COWGC_KEEP, NULL = only the built-in list */
};

HIDDEN extern struct options opt;

/* options.c */
enum opt_type { OPT_ENUM, OPT_BOOL, OPT_SIZE, OPT_INT, OPT_RATIO, OPT_PATH, OPT_SIGNAL, OPT_STATS, OPT_LIST };
struct option_def {
    const char *name;       /* without the COWGC_ prefix */
    enum opt_type type;
    const char *def;        /* default, as the user would write it */
    const char *choices;    /* OPT_ENUM: "a|b|c", index order = enum order */
    int64_t min, max;       /* numeric bounds (inclusive) */
    size_t offset;          /* offsetof(struct options, field) */
    const char *help;       /* one line */
};
HIDDEN extern const struct option_def option_table[];
HIDDEN extern const size_t option_count;
/* Parse COWGC_* from envp into opt: defaults first, then each variable; a bad value or unknown
 * name logs one line (name, value, what is accepted) and keeps the default. secure: AT_SECURE,
 * path options are ignored. Never allocates. */
HIDDEN void options_init(char **envp, bool secure);
/* Pure parsers, unit tested. Return 0 on success, -1 on a bad value. */
HIDDEN int parse_size(const char *s, uint64_t *out);       /* 123, 64K, 4M, 2G, 1T */
HIDDEN int parse_int(const char *s, int64_t *out);
HIDDEN int parse_ratio(const char *s, uint32_t *permille); /* 1, 1.5, 0.25 */
HIDDEN int parse_enum(const char *s, const char *choices);  /* index or -1 */
HIDDEN int parse_bool(const char *s, bool *out);           /* 0/1/yes/no/true/false/on/off */
HIDDEN int parse_signal(const char *s, int *out);          /* 30, SIGPWR, PWR, RTMIN+3 */
HIDDEN int option_apply(struct options *o, const char *name, const char *value, bool secure,
                        char *why, size_t whylen);          /* one NAME=value; why: the error */
HIDDEN void options_print(int fd);                          /* COWGC_VERBOSE: the table in force */

/* log.c: one formatter, no allocation. Supports %s %c %d %i %u %ld %lu %lld %llu %zu %zd %x %lx
 * %llx %zx %p %%, with optional '-' flag, '0' flag and width. Always NUL-terminates. */
HIDDEN size_t fmt_v(char *buf, size_t n, const char *fmt, va_list ap);
HIDDEN size_t fmt(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
HIDDEN void log_open(void);                                 /* opens COWGC_LOG, once */
HIDDEN void log_write_all(int fd, const char *buf, size_t len);  /* retries EINTR and short writes */
HIDDEN int log_fd(void);    /* the log's descriptor, checked to be still ours; -1: nowhere */
/* A descriptor cowgc keeps open is only a number the program may close and reuse (a daemon
 * closes every descriptor, then opens its own files): record what it names at open, check
 * before each use that it still does, and never close a number that no longer does. */
struct fd_ident { unsigned long long dev, ino; bool valid; };
HIDDEN int fd_ident(int fd, struct fd_ident *id);   /* its file type (S_IFMT), or -1 */
HIDDEN bool fd_is(int fd, const struct fd_ident *id);
HIDDEN int fd_move_high(int fd);   /* to the lowest free number from 3/4 of min(RLIMIT_NOFILE, 1024) */
/* A /proc file a collection reads every time (/proc/self/task, maps, pagemap), kept open: the
 * open and close cost more than the read (a path walk and a task lookup; 5 us against 1.8 for
 * the thread list). Kept as above; one that names another process (inherited across fork) is
 * closed and opened again. Use under heap_lock, by position (pread, or lseek then read). */
struct proc_file { const char *path; int flags; int fd; pid_t pid; struct fd_ident id; uint32_t trusted; };
#define PROC_FILE(p, fl) { (p), (fl), -1, 0, { 0, 0, false }, 0 }
HIDDEN int proc_file_fd(struct proc_file *f, pid_t pid);   /* the descriptor, or -1 */
/* A collection holds the world (true) or lets it go (false): descriptors checked once inside
 * are not checked again before it ends, and proc_files_pid() is the pid read at its start. */
HIDDEN void proc_files_trust(bool on);
HIDDEN pid_t proc_files_pid(void);
HIDDEN void proc_file_drop(struct proc_file *f);           /* closed; the next use opens again */
/* "cowgc: " + message + "\n" in one write(2) to the log; preserves errno. */
HIDDEN void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A misuse by the program (bad free, ...): log it, abort if COWGC_ABORT_ON_ERROR. */
HIDDEN void report_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Invariant failure: print without allocating, then abort. */
HIDDEN void assert_fail(const char *expr, const char *file, int line, const char *func)
    __attribute__((noreturn));
#define cg_assert(e) ((config_debug && !(e)) ? assert_fail(#e, __FILE__, __LINE__, __func__) : (void)0)

/* init.c */
HIDDEN void cowgc_init_slow(void);   /* idempotent, thread-safe start-up */
/* Address space cowgc may take for itself at start-up: a share of what RLIMIT_AS and
 * RLIMIT_DATA leave (the program keeps the rest for its stacks, libraries and mappings);
 * SIZE_MAX when neither is set. Start-up sizes the heap reserve and the fixed areas to fit. */
HIDDEN extern size_t as_share;
/* What start-up gave up (a smaller reserve or area, a disabled feature): parts of the ONE line
 * start-up prints at its end, when there is any. */
HIDDEN void limits_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
HIDDEN extern volatile int cowgc_ready;
static inline void cowgc_ensure_init(void) { if (unlikely(!cowgc_ready)) cowgc_init_slow(); }

/* hooks.c: thread exit and fork */
HIDDEN void hooks_init(void);
HIDDEN void hooks_thread_started(void *tc);   /* registers the exit destructor */
/* The stack a thread was created with, as pthread_getattr_np reports it; {0, 0} when unknown
 * (the main thread, threads libc starts itself). Initial-exec TLS, so the scanner can read
 * another thread's copy at the same offset from that thread's thread pointer. */
struct thread_stack { uintptr_t lo, hi; };
HIDDEN extern __thread struct thread_stack hooks_thread_stack __attribute__((tls_model("initial-exec")));

/* signals.c: the stop-the-world signal stays deliverable whatever the program does with masks. */
#include <signal.h>
HIDDEN void signals_init(void);
HIDDEN int signals_take_over(int sig, const struct sigaction *ours);
HIDDEN bool signals_forward(int sig, siginfo_t *si, void *uc);

#endif
