/* options.c -- the one table of COWGC_* variables, their parsers, and `opt`, the options in force.
 *
 * Invariants owned here:
 *  - option_table[] is the only place a COWGC_* variable is defined. `cowgc --help`,
 *    `cowgc --markdown-options` and COWGC_VERBOSE=1 all print from it, and the table's default
 *    strings go through the same parsers as the user's values.
 *  - options_init never allocates and never touches stdio: it may run inside the first malloc.
 *    String values (paths, lists) are copied into a static arena: the environment strings do
 *    not stay put (nginx's setproctitle writes its title over them).
 *  - A rejected value never changes anything: the option keeps its default.
 *  - Ratio bounds in the table are in permille, like the field they bound.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "preload.h"

#define KiB ((int64_t)1 << 10)
#define MiB ((int64_t)1 << 20)
#define GiB ((int64_t)1 << 30)
#define TiB ((int64_t)1 << 40)

/* Kept in step with the table by test_options (the first test compares the two). */
struct options opt = {
    .mode = MODE_COLLECT,
    .mark = MARK_OUTOFLINE,
    .free_policy = FREE_HONOUR,
    .purge = PURGE_DONTNEED,
    .roots = ROOTS_ALL,
    .min_trigger = 4 * MiB,
    .growth_permille = 1000,
    .fork_growth_permille = 250,
    .generational = GEN_AUTO,
    .tracker = TRACKER_AUTO,
    .full_growth_permille = 1000,
    .fork_recheck = 32,
    .markers_min = 1 << 20,
    .reserve = 64 * GiB,
    .signal = SIGPWR,
    .stack_depth = 16,
    .stack_sample = 1,
    .unwind = UNWIND_FP,
    .report = REPORT_TEXT,
};

#define F(field) offsetof(struct options, field)

/* name, type, default, choices, min, max, field, help */
const struct option_def option_table[] = {
    { "MODE", OPT_ENUM, "collect", "collect|detect|off", 0, 0, F(mode),
      "collect reclaims unreachable blocks; detect only reports them; off = allocator only" },
    { "MARK", OPT_ENUM, "outofline", "outofline|inline", 0, 0, F(mark),
      "where mark bits live: side bitmaps, or a header word before each block" },
    { "FREE", OPT_ENUM, "honour", "honour|ignore", 0, 0, F(free_policy),
      "ignore makes free() a no-op and leaves reclamation to the collector" },
    { "STATS", OPT_STATS, "0", NULL, 0, 0, F(stats),
      "statistics at exit: 1 prints them to the log, json:PATH writes them to PATH as JSON (%p in PATH: the pid)" },
    { "LOG", OPT_PATH, "stderr", NULL, 0, 0, F(log_path),
      "file where messages and reports go (appended to)" },
    { "VERBOSE", OPT_BOOL, "0", NULL, 0, 0, F(verbose),
      "say more: print the options in force at start-up" },
    { "ABORT_ON_ERROR", OPT_BOOL, "0", NULL, 0, 0, F(abort_on_error),
      "abort on a bad free or double free instead of going on" },
    { "PURGE", OPT_ENUM, "dontneed", "dontneed|free|none", 0, 0, F(purge),
      "how free heap pages go back to the OS: MADV_DONTNEED, MADV_FREE, or not at all" },
    { "ROOTS", OPT_ENUM, "all", "all|segments", 0, 0, F(roots),
      "roots scanned: all writable mappings, or only data/bss/TLS/stacks" },
    { "MIN_TRIGGER", OPT_SIZE, "4M", NULL, 64 * KiB, TiB, F(min_trigger),
      "collect once bytes in use have grown by max(MIN_TRIGGER, GROWTH x bytes in use after the last collection)" },
    { "GROWTH", OPT_RATIO, "1", NULL, 100, 100000, F(growth_permille),
      "growth allowed between collections, as a multiple of the bytes in use after the last one" },
    { "FORK_GROWTH", OPT_RATIO, "0.25", NULL, 10, 100000, F(fork_growth_permille),
      "GROWTH in a forked child: its garbage is private memory, paid once per worker" },
    { "FORK_FREEZE", OPT_BOOL, "0", NULL, 0, 0, F(fork_freeze),
      "a forked child treats inherited blocks as live and does not trace them (like gc.freeze)" },
    { "GENERATIONAL", OPT_ENUM, "auto", "auto|on|off", 0, 0, F(generational),
      "sticky-mark generations in collect mode: most collections trace only blocks allocated since the last one; auto = on when a tracker works" },
    { "TRACKER", OPT_ENUM, "auto", "auto|pagemap-scan|soft-dirty", 0, 0, F(tracker),
      "how written heap pages are found: userfaultfd write-protection read by PAGEMAP_SCAN (Linux 6.7+), or soft-dirty bits" },
    { "ROOT_PAGES", OPT_ENUM, "written", "written|all", 0, 0, F(root_pages),
      "minor collections scan private writable mappings of 256 KiB or more (data, bss, anonymous memory) only on the pages written since the collection before, and those it scanned for that reason (written: the tracker watches them too), or whole (all)" },
    { "YOUNG_TRIGGER", OPT_SIZE, "0", NULL, 0, TiB, F(young_trigger),
      "with generations: a minor collection once bytes in use have grown by this much; 0 = the MIN_TRIGGER/GROWTH rule" },
    { "FULL_GROWTH", OPT_RATIO, "1", NULL, 100, 100000, F(full_growth_permille),
      "with generations: a full collection once the old generation has grown by this multiple since the last full one" },
    { "FORK_RECHECK", OPT_INT, "32", NULL, 0, 1000000, F(fork_recheck),
      "with generations, in a forked child (whose full collections would trace all it inherited): once the blocks it promoted lie in this many chunks, a minor collection traces them again, frees those now unreachable, and those chunks stop being scanned at every collection; 0 = never" },
    { "MARKERS", OPT_INT, "0", NULL, 0, 8, F(markers),
      "threads that mark in a big collection: the collecting thread and helpers that exist only while the world is stopped; 0 = one per CPU available (affinity, capped by the cgroup's CPU quota), at most 4; 1 = no helpers" },
    { "MARKERS_MIN", OPT_SIZE, "1M", NULL, 0, TiB, F(markers_min),
      "bytes a collection traces alone before it starts its helpers (starting them costs tens of microseconds)" },
    { "MAX_HEAP", OPT_SIZE, "0", NULL, 0, 64 * TiB, F(max_heap),
      "largest heap in bytes; 0 = no limit" },
    { "RESERVE", OPT_SIZE, "64G", NULL, 256 * MiB, 64 * TiB, F(reserve),
      "address space reserved for the heap at start-up; less under an address-space limit (ulimit -v), said in one line" },
    { "SIGNAL", OPT_SIGNAL, "SIGPWR", NULL, 1, 64, F(signal),
      "the stop-the-world signal; pick one the program does not use" },
    { "STACK_DEPTH", OPT_INT, "16", NULL, 0, 64, F(stack_depth),
      "allocation-stack frames captured for leak reports; 0 = off" },
    { "STACK_SAMPLE", OPT_INT, "1", NULL, 1, 1000000000, F(stack_sample),
      "capture the allocation stack of one allocation in N" },
    { "UNWIND", OPT_ENUM, "fp", "fp|libunwind", 0, 0, F(unwind),
      "how allocation stacks are walked: frame pointers (fast) or libunwind (works without them)" },
    { "REPORT", OPT_ENUM, "text", "text|json", 0, 0, F(report),
      "format of leak reports" },
    { "REPORT_SIGNAL", OPT_SIGNAL, "0", NULL, 0, 64, F(report_signal),
      "signal that makes cowgc write a leak report while the program runs; 0 = off" },
    { "REPORT_RECLAIMED", OPT_BOOL, "0", NULL, 0, 0, F(report_reclaimed),
      "also report the unreachable blocks the collector reclaimed (leaks it fixed)" },
    { "LEAK_EXITCODE", OPT_INT, "0", NULL, 0, 255, F(leak_exitcode),
      "exit status when leaks remain at exit; 0 = leave the program's status alone" },
    { "SUPPRESS", OPT_PATH, "none", NULL, 0, 0, F(suppress),
      "file of leak suppressions" },
    { "SYMBOLIZE", OPT_PATH, "1", NULL, 0, 0, F(symbolize),
      "symbolizer for report frames (function, file:line, inlined calls): 1 = llvm-symbolizer, else addr2line, from PATH; 0 = none (symbol table names only); or its path" },
    { "QUARANTINE", OPT_INT, "0", NULL, 0, 1000000, F(quarantine),
      "collect mode: blocks the collector reclaimed stay unused for N more collections, so a late free of one is diagnosed, never a free of a new block" },
    { "KEEP", OPT_LIST, "none", NULL, 0, 0, F(keep),
      "collect mode: blocks allocated by these callers are never reclaimed but scanned as roots: object names (substrings of their paths) or leak:TEMPLATE (LSan syntax, matched against object paths and function names; the immediate caller of malloc, calloc, realloc, strdup...), added to the built-in list (libfontconfig, libjvm); -NAME drops a built-in entry; detect mode names entries for blocks freed while hidden" },
};
const size_t option_count = sizeof option_table / sizeof option_table[0];
#define NOPTIONS (sizeof option_table / sizeof option_table[0])

/* OPT_INT fields are written as int; stack_sample is unsigned but bounded below 2^31. */
_Static_assert(sizeof(opt.stack_sample) == sizeof(int), "OPT_INT fields are int-sized");

/* Where each option's value came from, for options_print. */
enum source { SRC_DEFAULT, SRC_ENV, SRC_REJECTED };
static unsigned char sources[NOPTIONS];

/* ---- pure parsers ---------------------------------------------------------------------------- */

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }
static bool is_digit(int c) { return c >= '0' && c <= '9'; }

static bool eq_nocase(const char *a, const char *b, size_t blen)
{
    for (size_t i = 0; i < blen; i++)
        if (!a[i] || lower(a[i]) != lower(b[i]))
            return false;
    return a[blen] == '\0';
}

static bool prefix_nocase(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++)
        if (lower(*s) != lower(*prefix))
            return false;
    return true;
}

/* Decimal digits at s into *out; returns the first non-digit, or NULL (no digit, overflow). */
static const char *parse_digits(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = s;
    for (; is_digit(*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return NULL;
        v = v * 10 + d;
    }
    if (p == s)
        return NULL;
    *out = v;
    return p;
}

int parse_size(const char *s, uint64_t *out)
{
    uint64_t v;
    const char *p = parse_digits(s, &v);
    if (!p)
        return -1;
    unsigned shift = 0;
    switch (lower(*p)) {
    case 'k': shift = 10; break;
    case 'm': shift = 20; break;
    case 'g': shift = 30; break;
    case 't': shift = 40; break;
    }
    if (shift)
        p++;
    if (shift && lower(p[0]) == 'i' && lower(p[1]) == 'b')
        p += 2;
    else if (lower(*p) == 'b')
        p++;
    if (*p || v > (UINT64_MAX >> shift))
        return -1;
    *out = v << shift;
    return 0;
}

int parse_int(const char *s, int64_t *out)
{
    bool neg = *s == '-';
    uint64_t v;
    const char *p = parse_digits(s + neg, &v);
    if (!p || *p || v > (uint64_t)INT64_MAX + neg)
        return -1;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

int parse_ratio(const char *s, uint32_t *permille)
{
    uint64_t whole = 0, frac = 0;
    int ndigits = 0, nfrac = 0;
    const char *p = s;
    for (; is_digit(*p); p++, ndigits++) {
        whole = whole * 10 + (unsigned)(*p - '0');
        if (whole > UINT32_MAX)
            return -1;
    }
    if (*p == '.') {
        for (p++; is_digit(*p); p++, nfrac++)
            if (nfrac < 3)  /* finer than a thousandth: dropped */
                frac = frac * 10 + (unsigned)(*p - '0');
        if (nfrac == 0)
            return -1;
    }
    if (ndigits + nfrac == 0 || *p)
        return -1;
    for (int i = nfrac; i < 3; i++)
        frac *= 10;
    uint64_t v = whole * 1000 + frac;
    if (v > UINT32_MAX)
        return -1;
    *permille = (uint32_t)v;
    return 0;
}

int parse_enum(const char *s, const char *choices)
{
    int index = 0;
    for (const char *c = choices; c; index++) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len && eq_nocase(s, c, len))
            return index;
        c = bar ? bar + 1 : NULL;
    }
    return -1;
}

int parse_bool(const char *s, bool *out)
{
    int i = parse_enum(s, "0|1|no|yes|false|true|off|on");
    if (i < 0)
        return -1;
    *out = i & 1;
    return 0;
}

/* A signal number 1..64, or a name with or without SIG: PWR, SIGUSR2, RTMIN+3, SIGRTMAX-1.
 * Whether the signal may be used is option_apply's business, not the parser's. */
int parse_signal(const char *s, int *out)
{
    uint64_t n;
    if (is_digit(*s)) {
        const char *p = parse_digits(s, &n);
        if (!p || *p || n < 1 || n > 64)
            return -1;
        *out = (int)n;
        return 0;
    }
    if (prefix_nocase(s, "SIG"))
        s += 3;
    bool rtmin = prefix_nocase(s, "RTMIN"), rtmax = prefix_nocase(s, "RTMAX");
    if (rtmin || rtmax) {
        const char *p = s + 5;
        n = 0;
        if (*p) {
            if (*p != (rtmin ? '+' : '-'))
                return -1;
            p = parse_digits(p + 1, &n);
            if (!p || *p || n > 64)
                return -1;
        }
        int sig = rtmin ? SIGRTMIN + (int)n : SIGRTMAX - (int)n;
        if (sig < SIGRTMIN || sig > SIGRTMAX)
            return -1;
        *out = sig;
        return 0;
    }
    for (int sig = 1; sig < SIGRTMIN; sig++) {
        const char *abbrev = sigabbrev_np(sig);
        if (abbrev && *s && eq_nocase(s, abbrev, strlen(abbrev))) {
            *out = sig;
            return 0;
        }
    }
    return -1;
}

/* ---- rendering ------------------------------------------------------------------------------- */

/* Signals the stop-the-world or report signal must not be: the kernel's, the program's faults,
 * job control, and what a terminal or supervisor sends. glibc keeps 32..SIGRTMIN-1 for itself. */
static const int reserved_signals[] = {
    SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS, SIGCHLD,
    SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGPIPE, SIGCONT, SIGTSTP, SIGTTIN, SIGTTOU,
};

static bool signal_reserved(int sig)
{
    if (sig >= 32 && sig < SIGRTMIN)
        return true;
    for (size_t i = 0; i < sizeof reserved_signals / sizeof reserved_signals[0]; i++)
        if (reserved_signals[i] == sig)
            return true;
    return false;
}

static size_t render_signal(char *buf, size_t n, int sig)
{
    if (sig == 0)
        return fmt(buf, n, "0");
    if (sig >= SIGRTMIN)
        return sig == SIGRTMIN ? fmt(buf, n, "SIGRTMIN") : fmt(buf, n, "SIGRTMIN+%d", sig - SIGRTMIN);
    const char *abbrev = sigabbrev_np(sig);
    return abbrev ? fmt(buf, n, "SIG%s", abbrev) : fmt(buf, n, "%d", sig);
}

/* 65536 -> "64K": the largest unit that divides exactly. */
static size_t render_size(char *buf, size_t n, uint64_t v)
{
    static const char units[] = "KMGT";
    int u = -1;
    while (u < 3 && v && (v & 1023) == 0) {
        v >>= 10;
        u++;
    }
    return u < 0 ? fmt(buf, n, "%llu", (unsigned long long)v)
                 : fmt(buf, n, "%llu%c", (unsigned long long)v, units[u]);
}

/* 1500 -> "1.5", 250 -> "0.25", 1000 -> "1". */
static size_t render_ratio(char *buf, size_t n, uint64_t permille)
{
    unsigned frac = (unsigned)(permille % 1000), digits = 3;
    if (!frac)
        return fmt(buf, n, "%llu", (unsigned long long)(permille / 1000));
    while (frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    return fmt(buf, n, "%llu.%0*u", (unsigned long long)(permille / 1000), (int)digits, frac);
}

static size_t render_choice(char *buf, size_t n, const char *choices, int index)
{
    const char *c = choices;
    for (int i = 0; c && i < index; i++) {
        c = strchr(c, '|');
        c = c ? c + 1 : NULL;
    }
    if (!c)
        return fmt(buf, n, "%d", index);
    const char *bar = strchr(c, '|');
    return fmt(buf, n, "%.*s", (int)(bar ? (size_t)(bar - c) : strlen(c)), c);
}

/* The user's value, fit for one log line: at most 64 bytes, control bytes as '?'. */
static void sanitize(char *dst, size_t n, const char *src)
{
    size_t i = 0, max = n - 4 < 64 ? n - 4 : 64;
    for (; src[i] && i < max; i++)
        dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? '?' : src[i];
    if (src[i])
        for (int k = 0; k < 3; k++)
            dst[i++] = '.';
    dst[i] = '\0';
}

/* What an option accepts, for error messages. */
static size_t render_accepted(char *buf, size_t n, const struct option_def *d)
{
    char lo[32], hi[32];
    switch (d->type) {
    case OPT_ENUM:
        return fmt(buf, n, "%s", d->choices);
    case OPT_BOOL:
        return fmt(buf, n, "0|1|yes|no|true|false|on|off");
    case OPT_SIZE:
        render_size(lo, sizeof lo, (uint64_t)d->min);
        render_size(hi, sizeof hi, (uint64_t)d->max);
        return fmt(buf, n, "a size from %s to %s, like 64K, 4M, 2GiB, 1T", lo, hi);
    case OPT_INT:
        return fmt(buf, n, "an integer from %lld to %lld", (long long)d->min, (long long)d->max);
    case OPT_RATIO:
        render_ratio(lo, sizeof lo, (uint64_t)d->min);
        render_ratio(hi, sizeof hi, (uint64_t)d->max);
        return fmt(buf, n, "a number from %s to %s, like 1, 1.5, 0.25", lo, hi);
    case OPT_PATH:
        return fmt(buf, n, "a file name, or %s", d->def);
    case OPT_SIGNAL: {
        size_t len = fmt(buf, n, "%sa signal number or name like SIGPWR, USR2, RTMIN+3, but not ",
                         d->min == 0 ? "0 (off) or " : "");
        for (size_t i = 0; i < sizeof reserved_signals / sizeof reserved_signals[0]; i++)
            len += fmt(buf + len, n - len, "%s, ", sigabbrev_np(reserved_signals[i]));
        return len + fmt(buf + len, n - len, "32..%d", SIGRTMIN - 1);
    }
    case OPT_STATS:
        return fmt(buf, n, "0|1|json:PATH");
    case OPT_LIST:
        return fmt(buf, n, "comma-separated names, or %s", d->def);
    }
    return fmt(buf, n, "?");
}

/* The value in force, as the user would write it. */
static size_t render_value(char *buf, size_t n, const struct option_def *d, const struct options *o)
{
    const char *field = (const char *)o + d->offset;
    switch (d->type) {
    case OPT_ENUM:
        return render_choice(buf, n, d->choices, *(const int *)field);
    case OPT_BOOL:
        return fmt(buf, n, "%d", *(const bool *)field);
    case OPT_SIZE:
        return render_size(buf, n, *(const uint64_t *)field);
    case OPT_INT:
        return fmt(buf, n, "%d", *(const int *)field);
    case OPT_RATIO:
        return render_ratio(buf, n, *(const uint32_t *)field);
    case OPT_PATH:
    case OPT_LIST: {
        const char *path = *(const char *const *)field;
        return fmt(buf, n, "%s", path ? path : d->def);
    }
    case OPT_SIGNAL:
        return render_signal(buf, n, *(const int *)field);
    case OPT_STATS:
        if (o->stats_json)
            return fmt(buf, n, "json:%s", o->stats_json);
        return fmt(buf, n, "%d", o->stats);
    }
    return fmt(buf, n, "?");
}

/* ---- applying one value ---------------------------------------------------------------------- */

static const struct option_def *option_find(const char *name, size_t len)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (strlen(option_table[i].name) == len && !memcmp(option_table[i].name, name, len))
            return &option_table[i];
    return NULL;
}

/* Edit distance with transpositions (MDOE -> MODE is 1), ignoring case; names are short. */
static size_t name_distance(const char *a, size_t alen, const char *b, size_t blen)
{
    enum { MAXLEN = 32 };
    if (alen > MAXLEN || blen > MAXLEN)
        return SIZE_MAX;
    size_t d[MAXLEN + 1][MAXLEN + 1];
    for (size_t i = 0; i <= alen; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= blen; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= alen; i++)
        for (size_t j = 1; j <= blen; j++) {
            size_t cost = lower(a[i - 1]) != lower(b[j - 1]);
            size_t best = d[i - 1][j - 1] + cost;
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
                lower(a[i - 2]) == lower(b[j - 1]) && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[alen][blen];
}

static size_t unknown_message(char *why, size_t n, const char *name, size_t len)
{
    char shown[80], copy[72];
    size_t k = len < sizeof copy - 1 ? len : sizeof copy - 1;
    memcpy(copy, name, k);
    copy[k] = '\0';
    sanitize(shown, sizeof shown, copy);

    const struct option_def *near = NULL;
    size_t best = len / 3 > 2 ? len / 3 : 2;
    for (size_t i = 0; i < NOPTIONS; i++) {
        size_t dist = name_distance(name, len, option_table[i].name, strlen(option_table[i].name));
        if (dist <= best) {
            best = dist;
            near = &option_table[i];
        }
    }
    size_t used = fmt(why, n, "unknown variable COWGC_%s", shown);
    if (near)
        used += fmt(why + used, n - used, ", did you mean COWGC_%s?", near->name);
    used += fmt(why + used, n - used, " (known:");
    for (size_t i = 0; i < NOPTIONS; i++)
        used += fmt(why + used, n - used, "%s COWGC_%s", i ? "," : "", option_table[i].name);
    return used + fmt(why + used, n - used, ")");
}

static int reject(char *why, size_t n, const struct option_def *d, const char *value,
                  const char *problem)
{
    char shown[80], accepted[512];
    if (!why || !n)
        return -1;
    sanitize(shown, sizeof shown, value);
    render_accepted(accepted, sizeof accepted, d);
    fmt(why, n, "COWGC_%s=%s %s (accepted: %s)", d->name, shown, problem, accepted);
    return -1;
}

static int ignore_in_secure(char *why, size_t n, const struct option_def *d, const char *value)
{
    char shown[80];
    if (!why || !n)
        return -1;
    sanitize(shown, sizeof shown, value);
    fmt(why, n, "COWGC_%s=%s is ignored in a setuid/setgid program", d->name, shown);
    return -1;
}

/* A copy of v that outlives the environment; v itself if the arena is full. */
static const char *keep_string(const char *v)
{
    COLD_BSS static char arena[8192];
    static size_t used;
    size_t len = strlen(v) + 1;
    if (len > sizeof arena - used)
        return v;
    char *c = memcpy(arena + used, v, len);
    used += len;
    return c;
}

static int apply(struct options *o, const struct option_def *d, const char *value, bool secure,
                 char *why, size_t n)
{
    char *field = (char *)o + d->offset;
    const char *v = *value ? value : d->def;
    switch (d->type) {
    case OPT_ENUM: {
        int i = parse_enum(v, d->choices);
        if (i < 0)
            return reject(why, n, d, value, "is not valid");
        *(int *)field = i;
        return 0;
    }
    case OPT_BOOL: {
        bool b;
        if (parse_bool(v, &b))
            return reject(why, n, d, value, "is not valid");
        *(bool *)field = b;
        return 0;
    }
    case OPT_SIZE: {
        uint64_t x;
        if (parse_size(v, &x))
            return reject(why, n, d, value, "is not valid");
        if (x < (uint64_t)d->min || x > (uint64_t)d->max)
            return reject(why, n, d, value, "is out of range");
        *(uint64_t *)field = x;
        return 0;
    }
    case OPT_INT:
    case OPT_RATIO: {
        /* Both fit an int64 for the bounds check; the field is an int or a uint32 permille. */
        int64_t x;
        uint32_t permille;
        int bad = d->type == OPT_INT ? parse_int(v, &x) : parse_ratio(v, &permille);
        if (bad)
            return reject(why, n, d, value, "is not valid");
        if (d->type == OPT_RATIO)
            x = permille;
        if (x < d->min || x > d->max)
            return reject(why, n, d, value, "is out of range");
        if (d->type == OPT_INT)
            *(int *)field = (int)x;
        else
            *(uint32_t *)field = permille;
        return 0;
    }
    case OPT_PATH:
        if (!strcmp(v, d->def)) {
            *(const char **)field = NULL;
            return 0;
        }
        if (secure)
            return ignore_in_secure(why, n, d, value);
        *(const char **)field = keep_string(v);
        return 0;
    case OPT_LIST:   /* names, not files: harmless in a setuid program */
        *(const char **)field = strcmp(v, d->def) ? keep_string(v) : NULL;
        return 0;
    case OPT_SIGNAL: {
        int sig;
        if (d->min == 0 && !strcmp(v, "0"))
            sig = 0;
        else if (parse_signal(v, &sig))
            return reject(why, n, d, value, "is not valid");
        else if (signal_reserved(sig))
            return reject(why, n, d, value, "is not usable");
        *(int *)field = sig;
        return 0;
    }
    case OPT_STATS: {  /* the field is opt.stats; the json path goes to opt.stats_json */
        bool b;
        if (prefix_nocase(v, "json:")) {
            if (!v[5])
                return reject(why, n, d, value, "is not valid");
            if (secure)
                return ignore_in_secure(why, n, d, value);
            o->stats = true;
            o->stats_json = keep_string(v + 5);
            return 0;
        }
        if (parse_bool(v, &b))
            return reject(why, n, d, value, "is not valid");
        o->stats = b;
        o->stats_json = NULL;
        return 0;
    }
    }
    return reject(why, n, d, value, "has an unknown type");
}

int option_apply(struct options *o, const char *name, const char *value, bool secure,
                 char *why, size_t whylen)
{
    if (!strncmp(name, "COWGC_", 6))
        name += 6;
    const struct option_def *d = option_find(name, strlen(name));
    if (!d) {
        if (why && whylen)
            unknown_message(why, whylen, name, strlen(name));
        return -1;
    }
    return apply(o, d, value, secure, why, whylen);
}

/* ---- start-up -------------------------------------------------------------------------------- */

static void set_defaults(struct options *o)
{
    memset(o, 0, sizeof *o);
    for (size_t i = 0; i < NOPTIONS; i++) {
        int rc = apply(o, &option_table[i], option_table[i].def, false, NULL, 0);
        cg_assert(rc == 0);
        (void)rc;
    }
}

/* Messages wait in `msgs` until every option, COWGC_LOG included, is known. */
struct pending {
    char buf[4096];
    size_t used;
    unsigned dropped;
};

static void pending_add(struct pending *p, const char *line)
{
    size_t len = strlen(line) + 1;
    if (p->used + len > sizeof p->buf) {
        p->dropped++;
        return;
    }
    memcpy(p->buf + p->used, line, len);
    p->used += len;
}

void options_init(char **envp, bool secure)
{
    struct options o;
    struct pending msgs = { .used = 0, .dropped = 0 };
    bool seen[NOPTIONS] = { false };
    char why[1024];

    set_defaults(&o);
    memset(sources, SRC_DEFAULT, sizeof sources);
    for (char **e = envp; e && *e; e++) {
        const char *s = *e, *eq = strchr(s, '=');
        if (strncmp(s, "COWGC_", 6) || !eq)
            continue;
        const char *name = s + 6, *value = eq + 1;
        const struct option_def *d = option_find(name, (size_t)(eq - name));
        if (!d) {
            unknown_message(why, sizeof why, name, (size_t)(eq - name));
            pending_add(&msgs, why);
            continue;
        }
        size_t i = (size_t)(d - option_table);
        if (seen[i] || !*value)  /* the first of duplicates wins, as with getenv */
            continue;
        seen[i] = true;
        if (apply(&o, d, value, secure, why, sizeof why) == 0) {
            sources[i] = SRC_ENV;
            continue;
        }
        size_t len = strlen(why);
        fmt(why + len, sizeof why - len, "; using %s", d->def);
        pending_add(&msgs, why);
        sources[i] = SRC_REJECTED;
    }
    if (o.report_signal && o.report_signal == o.signal) {
        char name[32];
        render_signal(name, sizeof name, o.signal);
        fmt(why, sizeof why, "COWGC_REPORT_SIGNAL=%s is the stop-the-world signal (COWGC_SIGNAL); "
            "using 0", name);
        pending_add(&msgs, why);
        o.report_signal = 0;
        sources[(size_t)(option_find("REPORT_SIGNAL", 13) - option_table)] = SRC_REJECTED;
    }
    opt = o;

    for (size_t at = 0; at < msgs.used; at += strlen(msgs.buf + at) + 1)
        log_line("%s", msgs.buf + at);
    if (msgs.dropped)
        log_line("%u more messages about COWGC_* variables not shown", msgs.dropped);
}


void options_print(int fd)
{
    static const char *const from[] = { "default", "env", "default (env value rejected)" };
    char line[512], value[256];
    int saved = errno;
    size_t len = fmt(line, sizeof line, "cowgc: options in force (variable, value, from):\n");
    log_write_all(fd, line, len);
    for (size_t i = 0; i < NOPTIONS; i++) {
        render_value(value, sizeof value, &option_table[i], &opt);
        len = fmt(line, sizeof line, "cowgc:   COWGC_%-17s %-14s %s\n", option_table[i].name,
                  value, from[sources[i]]);
        if (len == sizeof line - 1)
            line[len - 1] = '\n';
        log_write_all(fd, line, len);
    }
    errno = saved;
}
