/* log.c -- one small formatter and a log written a whole line at a time.
 *
 * Invariants owned here:
 *  - Nothing allocates or touches stdio: these run inside malloc, in signal handlers, after a
 *    fork, and in the cowgc command. The only state used from elsewhere is `opt`.
 *  - fmt and fmt_v return the bytes stored before the NUL, never more than n - 1, so
 *    `p += fmt(p, end - p, ...)` cannot run past `end` (unlike snprintf's return value).
 *  - Each log line is "cowgc: " + message + "\n" in one write(2); lines longer than
 *    LOG_LINE_MAX end in "...". errno is the same after a log call as before.
 *  - The log never writes into a file of the program's. A descriptor number is only a name
 *    the program may reuse (a daemon closes every descriptor, then opens its data file and
 *    gets the number the log had), so log_fd() checks before every use that the descriptor
 *    is still the file we opened (fstat: st_dev and st_ino recorded at open):
 *      COWGC_LOG: opened O_APPEND, moved with F_DUPFD_CLOEXEC to a high number (the lowest
 *        free one from 3/4 of min(RLIMIT_NOFILE, 1024): programs get the lowest free number,
 *        so they reach it only with hundreds of files open, and the table keeps its usual
 *        size). Close-on-exec because an exec'd program under cowgc opens COWGC_LOG again
 *        from the environment, and one that is not should not inherit a stray descriptor.
 *        If the descriptor is no longer ours it is reopened by path (made absolute at the
 *        first open, so a chdir does not move the log); the stale number is never closed,
 *        it is the program's now.
 *      stderr (no COWGC_LOG, or it cannot be opened): fd 2 is written while it is what it was
 *        when the log was first opened (at start-up). If something else has number 2 now, it
 *        is written only if it looks like an output stream the program pointed stderr at: a
 *        regular file opened O_APPEND (a log), or a pipe or character device (a tty) opened
 *        write-only (a capture of stderr). Anything else -- a data file, a socket, a
 *        read-write pipe or device -- may be the program's data: the line is dropped.
 *    A descriptor closed and reused by another thread between the check and the write cannot
 *    be excluded; the window is one system call.
 *  - Once the log is open, log_to_file says whether log_path is set (log_open writes both, and
 *    nothing else writes either): log_fd() reads the flag, so that a process without COWGC_LOG
 *    never touches log_path's page (asserted).
 *  - Writes are raw write(2) system calls: not a cancellation point, so a log line under
 *    heap_lock cannot be where a pending pthread_cancel acts.
 *
 * Conversions: %s %c %d %i %u %x %X %p %%, length modifiers hh h l ll z j t, flags '-' and '0',
 * a width (digits or *), and a precision for %s (digits or *).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "preload.h"

#define LOG_LINE_MAX 2048

/* ---- formatting ------------------------------------------------------------------------------ */

struct out {
    char *buf;
    size_t n;     /* capacity, NUL included */
    size_t len;   /* length the whole output would have */
};

static void put(struct out *o, char c)
{
    if (o->len + 1 < o->n)
        o->buf[o->len] = c;
    o->len++;
}

static void put_n(struct out *o, const char *s, size_t k)
{
    for (size_t i = 0; i < k; i++)
        put(o, s[i]);
}

static void pad(struct out *o, char c, size_t k)
{
    for (; k && o->len + 1 < o->n; k--)
        put(o, c);
    o->len += k;  /* whatever did not fit only counts */
}

struct spec {
    bool left, zero;
    size_t width;
};

/* prefix (sign, 0x), then body, padded to the width. */
static void emit(struct out *o, const struct spec *sp, const char *prefix, const char *body,
                 size_t blen)
{
    size_t plen = strlen(prefix), total = plen + blen;
    size_t fill = sp->width > total ? sp->width - total : 0;
    if (!sp->left && !sp->zero)
        pad(o, ' ', fill);
    put_n(o, prefix, plen);
    if (!sp->left && sp->zero)
        pad(o, '0', fill);
    put_n(o, body, blen);
    if (sp->left)
        pad(o, ' ', fill);
}

/* Digits of v at the end of tmp[24]; returns where they start. */
static char *digits(char tmp[24], unsigned long long v, unsigned base, bool upper)
{
    const char *set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char *p = tmp + 24;
    do {
        *--p = set[v % base];
        v /= base;
    } while (v);
    return p;
}

enum length { LEN_HH, LEN_H, LEN_INT, LEN_LONG, LEN_LLONG, LEN_SIZE };

static long long arg_signed(va_list *ap, enum length len)
{
    switch (len) {
    case LEN_HH: return (signed char)va_arg(*ap, int);
    case LEN_H: return (short)va_arg(*ap, int);
    case LEN_INT: return va_arg(*ap, int);
    case LEN_LONG: return va_arg(*ap, long);
    case LEN_LLONG: return va_arg(*ap, long long);
    case LEN_SIZE: return va_arg(*ap, ssize_t);
    }
    return 0;
}

static unsigned long long arg_unsigned(va_list *ap, enum length len)
{
    switch (len) {
    case LEN_HH: return (unsigned char)va_arg(*ap, unsigned);
    case LEN_H: return (unsigned short)va_arg(*ap, unsigned);
    case LEN_INT: return va_arg(*ap, unsigned);
    case LEN_LONG: return va_arg(*ap, unsigned long);
    case LEN_LLONG: return va_arg(*ap, unsigned long long);
    case LEN_SIZE: return va_arg(*ap, size_t);
    }
    return 0;
}

static size_t read_count(const char **f, va_list *ap, bool *negative)
{
    size_t v = 0;
    if (**f == '*') {
        (*f)++;
        int a = va_arg(*ap, int);
        *negative = a < 0;
        return a < 0 ? (size_t)0 - (size_t)a : (size_t)a;
    }
    for (; **f >= '0' && **f <= '9'; (*f)++)
        if (v < 100000)
            v = v * 10 + (size_t)(**f - '0');
    return v;
}

/* The whole formatter; returns the length the output would have had with room enough. */
static size_t format(char *buf, size_t n, const char *f, va_list ap_in)
{
    struct out o = { buf, n, 0 };
    va_list ap;
    va_copy(ap, ap_in);
    for (; *f; f++) {
        if (*f != '%') {
            put(&o, *f);
            continue;
        }
        const char *start = f++;
        struct spec sp = { false, false, 0 };
        for (;; f++) {
            if (*f == '-')
                sp.left = true;
            else if (*f == '0')
                sp.zero = true;
            else
                break;
        }
        bool negative = false;
        sp.width = read_count(&f, &ap, &negative);
        if (negative)
            sp.left = true;
        if (sp.left)
            sp.zero = false;
        size_t prec = SIZE_MAX;
        if (*f == '.') {
            f++;
            prec = read_count(&f, &ap, &negative);
            if (negative)
                prec = SIZE_MAX;
        }
        enum length len = LEN_INT;
        if (*f == 'h')
            len = *++f == 'h' ? (f++, LEN_HH) : LEN_H;
        else if (*f == 'l')
            len = *++f == 'l' ? (f++, LEN_LLONG) : LEN_LONG;
        else if (*f == 'z' || *f == 'j' || *f == 't')
            len = *f++ == 'j' ? LEN_LLONG : LEN_SIZE;

        char tmp[24];
        switch (*f) {
        case 'd':
        case 'i': {
            long long v = arg_signed(&ap, len);
            unsigned long long mag = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
            char *p = digits(tmp, mag, 10, false);
            emit(&o, &sp, v < 0 ? "-" : "", p, (size_t)(tmp + 24 - p));
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            unsigned long long v = arg_unsigned(&ap, len);
            char *p = digits(tmp, v, *f == 'u' ? 10 : 16, *f == 'X');
            emit(&o, &sp, "", p, (size_t)(tmp + 24 - p));
            break;
        }
        case 'p': {
            char *p = digits(tmp, (uintptr_t)va_arg(ap, void *), 16, false);
            emit(&o, &sp, "0x", p, (size_t)(tmp + 24 - p));
            break;
        }
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            sp.zero = false;
            emit(&o, &sp, "", s, strnlen(s, prec));
            break;
        }
        case 'c': {
            char c = (char)va_arg(ap, int);
            sp.zero = false;
            emit(&o, &sp, "", &c, 1);
            break;
        }
        case '%':
            put(&o, '%');
            break;
        default:  /* not ours: copy it as written */
            put_n(&o, start, (size_t)(f - start) + (*f != '\0'));
            if (!*f)
                f--;
            break;
        }
    }
    va_end(ap);
    if (n)
        buf[o.len < n ? o.len : n - 1] = '\0';
    return o.len;
}

size_t fmt_v(char *buf, size_t n, const char *f, va_list ap)
{
    size_t len = format(buf, n, f, ap);
    if (!n)
        return 0;
    return len < n ? len : n - 1;
}

size_t fmt(char *buf, size_t n, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    size_t len = fmt_v(buf, n, f, ap);
    va_end(ap);
    return len;
}

/* ---- the log --------------------------------------------------------------------------------- */

enum { LOG_CLOSED, LOG_OPENING, LOG_OPEN };
static int log_state = LOG_CLOSED;


/* COWGC_LOG: its descriptor and identity, written only by whoever moves log_seq from even to
 * odd (a sequence lock that readers never wait on: an odd or moved count means "busy"). */
static unsigned log_seq;
static int log_file = -1;
static struct fd_ident log_id;
COLD_BSS static char log_path[4096];         /* absolute; empty: the log is stderr */
/* log_path is not empty, said where every log_fd() reads: a forked child that only asks where
 * its exit report would go (shells' children, every one) then reads no page of log_path, which
 * no process ever wrote without COWGC_LOG (a fault for the zero page in each child). */
static bool log_to_file;
static struct fd_ident err_id;         /* fd 2 when the log was opened */

CHILD_PATH int fd_ident(int fd, struct fd_ident *id)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {        /* not a cancellation point; does not allocate */
        id->valid = false;
        return -1;
    }
    id->dev = (unsigned long long)st.st_dev;
    id->ino = (unsigned long long)st.st_ino;
    id->valid = true;
    return (int)(st.st_mode & S_IFMT);
}

static bool same(const struct fd_ident *a, const struct fd_ident *b)
{
    return a->valid && b->valid && a->dev == b->dev && a->ino == b->ino;
}

CHILD_PATH bool fd_is(int fd, const struct fd_ident *id)
{
    struct fd_ident now;
    return fd >= 0 && fd_ident(fd, &now) >= 0 && same(&now, id);
}

void log_write_all(int fd, const char *buf, size_t len)
{
    while (len && fd >= 0) {
        ssize_t w = (ssize_t)syscall(SYS_write, fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        buf += w;
        len -= (size_t)w;
    }
}

/* The lowest free descriptor from 3/4 of min(RLIMIT_NOFILE, 1024), or fd if that fails. */
int fd_move_high(int fd)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return fd;
    long cap = rl.rlim_cur < 1024 ? (long)rl.rlim_cur : 1024, floor = cap / 4 * 3;
    if (floor <= fd)
        return fd;
    long high = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, floor);
    if (high < 0)
        return fd;
    syscall(SYS_close, fd);
    return (int)high;
}

void proc_file_drop(struct proc_file *f)
{
    if (f->fd >= 0 && fd_is(f->fd, &f->id))
        syscall(SYS_close, f->fd);
    f->fd = -1;
}

/* While a collection holds the world stopped the program runs no code that could close or
 * reuse our descriptors, so each is checked once per collection rather than at each use (a
 * minor collection used the pagemap descriptor five times: ten system calls, about 4% of it in
 * a VM where one costs 1.7 us). A thread counted as asleep in a system call that wakes up
 * anyway is caught by stw_world_held before anything is swept. */
static struct { bool on; uint32_t epoch; pid_t pid; } trust;

void proc_files_trust(bool on)
{
    trust.on = on;
    if (on) {
        trust.epoch++;
        trust.pid = (pid_t)syscall(SYS_getpid);
    }
}

CHILD_PATH pid_t proc_files_pid(void) { return trust.on ? trust.pid : (pid_t)syscall(SYS_getpid); }

CHILD_PATH int proc_file_fd(struct proc_file *f, pid_t pid)
{
    if (f->fd >= 0 && trust.on && f->trusted == trust.epoch && f->pid == pid)
        return f->fd;
    /* Stored only when it changes: a shell's fork handler comes here before every fork, and
     * after a fork the first store to this page is a copy-on-write fault in the parent. */
    if (f->trusted) f->trusted = 0;
    if (f->fd >= 0) {
        if (fd_is(f->fd, &f->id)) {
            if (f->pid == pid) {
                if (trust.on) f->trusted = trust.epoch;
                return f->fd;
            }
            syscall(SYS_close, f->fd);     /* our parent's, inherited: this copy is ours */
        }
        f->fd = -1;                        /* else the number is the program's now */
    }
    int fd = (int)syscall(SYS_openat, AT_FDCWD, f->path, f->flags | O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    fd = fd_move_high(fd);
    if (fd_ident(fd, &f->id) < 0) {
        syscall(SYS_close, fd);
        return -1;
    }
    f->pid = pid;
    if (trust.on) f->trusted = trust.epoch;
    return f->fd = fd;
}

/* Open log_path, high and close-on-exec; -1 with errno if it cannot be. */
static int open_log(struct fd_ident *id)
{
    int fd = (int)syscall(SYS_openat, AT_FDCWD, log_path,
                          O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0)
        return -1;
    fd = fd_move_high(fd);
    fd_ident(fd, id);
    return fd;
}

/* COWGC_LOG as given, or prefixed with the working directory so a chdir does not move it.
 * false if it does not fit. */
static bool set_path(const char *p)
{
    size_t n = strlen(p), k = 0;
    if (p[0] != '/') {
        if (syscall(SYS_getcwd, log_path, sizeof log_path) <= 0)
            return false;
        k = strlen(log_path);
        if (k && log_path[k - 1] != '/')
            log_path[k++] = '/';
    }
    if (k + n + 1 > sizeof log_path) {
        log_path[0] = '\0';
        return false;
    }
    memcpy(log_path + k, p, n + 1);
    return true;
}

/* Opens COWGC_LOG the first time it is called and notes what fd 2 is; later calls (and racing
 * ones) return at once. Until it is open, the log is stderr. */
void log_open(void)
{
    int expected = LOG_CLOSED;
    if (!__atomic_compare_exchange_n(&log_state, &expected, LOG_OPENING, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return;
    int saved = errno, failed = 0;
    fd_ident(2, &err_id);
    if (opt.log_path) {
        int fd = -1;
        if (!set_path(opt.log_path))
            failed = ENAMETOOLONG;
        else if ((fd = open_log(&log_id)) < 0)
            failed = errno;
        if (fd < 0)
            log_path[0] = '\0';
        log_file = fd;
        log_to_file = log_path[0] != '\0';
    }
    __atomic_store_n(&log_state, LOG_OPEN, __ATOMIC_RELEASE);
    if (failed) {
        const char *name = strerrorname_np(failed);
        log_line("cannot open COWGC_LOG=%s (%s); logging to stderr", opt.log_path,
                 name ? name : "error");
    }
    errno = saved;
}

/* fd 2, if it may be written (see the invariants), else -1. */
CHILD_PATH static int stderr_fd(void)
{
    struct fd_ident now;
    int type = fd_ident(2, &now);
    if (type < 0)
        return -1;
    if (same(&now, &err_id))
        return 2;
    long fl = syscall(SYS_fcntl, 2, F_GETFL);
    if (fl < 0)
        return -1;
    if (type == S_IFREG)
        return fl & O_APPEND ? 2 : -1;
    if (type == S_IFIFO || type == S_IFCHR)
        return (fl & O_ACCMODE) == O_WRONLY ? 2 : -1;
    return -1;
}

/* COWGC_LOG's descriptor after checking it is still ours, reopened if it is not; -1 if it
 * cannot be reopened (stderr then), -2 while another call reopens it (the line is dropped:
 * it may be a signal handler that interrupted that very call). */
static int log_file_checked(void)
{
    unsigned seq = __atomic_load_n(&log_seq, __ATOMIC_ACQUIRE);
    if (seq & 1)
        return -2;
    int fd = __atomic_load_n(&log_file, __ATOMIC_RELAXED);
    struct fd_ident id = log_id, now;
    if (__atomic_load_n(&log_seq, __ATOMIC_ACQUIRE) != seq)
        return -2;
    if (fd >= 0 && fd_ident(fd, &now) >= 0 && same(&now, &id))
        return fd;
    /* Closed, or its number now names a file of the program's: open the log again. */
    if (!__atomic_compare_exchange_n(&log_seq, &seq, seq + 1, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_RELAXED))
        return -2;
    struct fd_ident fresh = { 0, 0, false };
    int nfd = open_log(&fresh);
    if (nfd >= 0) {
        log_id = fresh;
        __atomic_store_n(&log_file, nfd, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&log_seq, seq + 2, __ATOMIC_RELEASE);
    return nfd;
}

CHILD_PATH int log_fd(void)
{
    int state = __atomic_load_n(&log_state, __ATOMIC_ACQUIRE);
    if (state == LOG_CLOSED) {
        log_open();
        state = __atomic_load_n(&log_state, __ATOMIC_ACQUIRE);
    }
    int saved = errno, fd = -1;
    cg_assert(state != LOG_OPEN || log_to_file == (log_path[0] != '\0'));
    if (state == LOG_OPEN && log_to_file)
        fd = log_file_checked();
    if (fd == -1)
        fd = state == LOG_OPEN ? stderr_fd() : 2;   /* still opening: start-up, fd 2 is as is */
    errno = saved;
    return fd < 0 ? -1 : fd;
}

static void log_v(const char *f, va_list ap)
{
    static const char prefix[] = "cowgc: ";
    enum { PLEN = sizeof prefix - 1 };
    char line[LOG_LINE_MAX];
    int saved = errno;
    memcpy(line, prefix, PLEN);
    size_t room = sizeof line - PLEN;  /* message + its NUL, which becomes the '\n' */
    size_t want = format(line + PLEN, room, f, ap);
    size_t len = PLEN + (want < room ? want : room - 1);
    if (want >= room)
        memcpy(line + len - 3, "...", 3);
    line[len++] = '\n';
    log_write_all(log_fd(), line, len);
    errno = saved;
}

void log_line(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    log_v(f, ap);
    va_end(ap);
}

void report_error(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    log_v(f, ap);
    va_end(ap);
    if (opt.abort_on_error)
        abort();
}

void assert_fail(const char *expr, const char *file, int line, const char *func)
{
    log_line("assertion failed: %s (%s:%d %s)", expr, file, line, func);
    abort();
}
