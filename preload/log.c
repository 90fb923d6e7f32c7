/* log.c -- one small formatter and a log written a whole line at a time.
 *
 * Invariants owned here:
 *  - Nothing allocates or touches stdio: these run inside malloc, in signal handlers, after a
 *    fork, and in the cowgc command. The only state used from elsewhere is `opt`.
 *  - fmt and fmt_v return the bytes stored before the NUL, never more than n - 1, so
 *    `p += fmt(p, end - p, ...)` cannot run past `end` (unlike snprintf's return value).
 *  - Each log line is "cowgc: " + message + "\n" in one write(2); lines longer than
 *    LOG_LINE_MAX end in "...". errno is the same after a log call as before.
 *
 * Conversions: %s %c %d %i %u %x %X %p %%, length modifiers hh h l ll z j t, flags '-' and '0',
 * a width (digits or *), and a precision for %s (digits or *).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
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
static int log_file = 2;

void log_write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        buf += w;
        len -= (size_t)w;
    }
}

/* Opens COWGC_LOG the first time it is called; later calls (and racing ones) return at once.
 * Until it is open, the log is stderr. */
void log_open(void)
{
    int expected = LOG_CLOSED;
    if (!__atomic_compare_exchange_n(&log_state, &expected, LOG_OPENING, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return;
    int saved = errno, failed = 0, fd = 2;
    if (opt.log_path) {
        fd = open(opt.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
        if (fd < 0) {
            failed = errno;
            fd = 2;
        }
    }
    __atomic_store_n(&log_file, fd, __ATOMIC_RELAXED);
    __atomic_store_n(&log_state, LOG_OPEN, __ATOMIC_RELEASE);
    if (failed) {
        const char *name = strerrorname_np(failed);
        log_line("cannot open COWGC_LOG=%s (%s); logging to stderr", opt.log_path,
                 name ? name : "error");
    }
    errno = saved;
}

int log_fd(void)
{
    int state = __atomic_load_n(&log_state, __ATOMIC_ACQUIRE);
    if (state == LOG_CLOSED) {
        log_open();
        state = __atomic_load_n(&log_state, __ATOMIC_ACQUIRE);
    }
    return state == LOG_OPEN ? __atomic_load_n(&log_file, __ATOMIC_RELAXED) : 2;
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
