/* test_log.c -- fmt, the log line, report_error and assert_fail. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "preload.h"

/* fmt into a roomy buffer, checking the return value against what was stored. */
static const char *f(const char *format, ...) __attribute__((format(printf, 1, 2)));
static const char *f(const char *format, ...)
{
    static char buf[256];
    va_list ap;
    va_start(ap, format);
    size_t n = fmt_v(buf, sizeof buf, format, ap);
    va_end(ap);
    assert_int_equal(n, strlen(buf));
    return buf;
}

/* Agrees with the C library wherever the subset overlaps. */
#define SAME_AS_SNPRINTF(...)                          \
    do {                                               \
        char want[256];                                \
        snprintf(want, sizeof want, __VA_ARGS__);      \
        assert_string_equal(f(__VA_ARGS__), want);     \
    } while (0)

static void test_fmt_integers(void **state)
{
    assert_string_equal(f("%d", 0), "0");
    assert_string_equal(f("%d", -42), "-42");
    assert_string_equal(f("%i", 7), "7");
    assert_string_equal(f("%d", INT_MIN), "-2147483648");
    assert_string_equal(f("%u", UINT_MAX), "4294967295");
    assert_string_equal(f("%ld", LONG_MIN), "-9223372036854775808");
    assert_string_equal(f("%lu", ULONG_MAX), "18446744073709551615");
    assert_string_equal(f("%lld", LLONG_MIN), "-9223372036854775808");
    assert_string_equal(f("%llu", ULLONG_MAX), "18446744073709551615");
    assert_string_equal(f("%zu", (size_t)123456789), "123456789");
    assert_string_equal(f("%zd", (ssize_t)-5), "-5");
    assert_string_equal(f("%x", 0xdeadbeefu), "deadbeef");
    assert_string_equal(f("%X", 0xdeadbeefu), "DEADBEEF");
    assert_string_equal(f("%lx", 0x123456789abcUL), "123456789abc");
    assert_string_equal(f("%llx", ULLONG_MAX), "ffffffffffffffff");
    assert_string_equal(f("%zx", (size_t)4096), "1000");
    assert_string_equal(f("%hhu", 300), "44");
    assert_string_equal(f("%hd", 70000), "4464");
}

/* These tests feed fmt formats printf would frown at, on purpose. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat"
#pragma GCC diagnostic ignored "-Wformat-zero-length"
#pragma GCC diagnostic ignored "-Wformat-extra-args"

static void test_fmt_widths(void **state)
{
    assert_string_equal(f("[%5d]", 42), "[   42]");
    assert_string_equal(f("[%-5d]", 42), "[42   ]");
    assert_string_equal(f("[%05d]", 42), "[00042]");
    assert_string_equal(f("[%05d]", -42), "[-0042]");
    assert_string_equal(f("[%5d]", -42), "[  -42]");
    assert_string_equal(f("[%-05d]", -42), "[-42  ]");
    assert_string_equal(f("[%2d]", 12345), "[12345]");
    assert_string_equal(f("[%08lx]", 0xabcUL), "[00000abc]");
    assert_string_equal(f("[%6s]", "ab"), "[    ab]");
    assert_string_equal(f("[%-6s]", "ab"), "[ab    ]");
    assert_string_equal(f("[%3c]", 'z'), "[  z]");
    assert_string_equal(f("[%*d]", 4, 7), "[   7]");
    assert_string_equal(f("[%*d]", -4, 7), "[7   ]");
    assert_string_equal(f("[%.3s]", "abcdef"), "[abc]");
    assert_string_equal(f("[%.*s]", 2, "abcdef"), "[ab]");
    assert_string_equal(f("[%.*s]", 10, "abc"), "[abc]");
    assert_string_equal(f("[%0*u]", 3, 5u), "[005]");
    SAME_AS_SNPRINTF("%-10s|%8d|%-8d|%08d|%x", "name", -1234, 99, -7, 255u);
    SAME_AS_SNPRINTF("%20llu %-3c %%", 12345678901234ULL, 'q');
}

static void test_fmt_strings_pointers(void **state)
{
    assert_string_equal(f("%s", "hello"), "hello");
    assert_string_equal(f("%s", (char *)NULL), "(null)");
    assert_string_equal(f("%c%c", 'o', 'k'), "ok");
    assert_string_equal(f("100%%"), "100%");
    assert_string_equal(f("%p", (void *)0x1234), "0x1234");
    assert_string_equal(f("%p", (void *)0), "0x0");
    assert_string_equal(f("%p", (void *)UINTPTR_MAX), "0xffffffffffffffff");
    assert_string_equal(f("[%18p]", (void *)0xabc), "[             0xabc]");
    assert_string_equal(f("[%018p]", (void *)0xabc), "[0x0000000000000abc]");
    assert_string_equal(f("%s=%d (%s)", "a", 1, "b"), "a=1 (b)");
    assert_string_equal(f(""), "");
}

static void test_fmt_truncation(void **state)
{
    char buf[8];
    memset(buf, 'Z', sizeof buf);
    assert_int_equal(fmt(buf, sizeof buf, "hello world"), 7);
    assert_string_equal(buf, "hello w");

    memset(buf, 'Z', sizeof buf);
    assert_int_equal(fmt(buf, sizeof buf, "%d", -1234567890), 7);
    assert_string_equal(buf, "-123456");

    memset(buf, 'Z', sizeof buf);
    assert_int_equal(fmt(buf, sizeof buf, "%20s", "x"), 7);
    assert_string_equal(buf, "       ");

    memset(buf, 'Z', sizeof buf);
    assert_int_equal(fmt(buf, sizeof buf, "1234567"), 7);  /* exactly fits */
    assert_string_equal(buf, "1234567");

    memset(buf, 'Z', sizeof buf);
    assert_int_equal(fmt(buf, 1, "abc"), 0);
    assert_int_equal(buf[0], '\0');
    assert_int_equal(buf[1], 'Z');

    memset(buf, 'Z', sizeof buf);
    assert_int_equal(fmt(buf, 0, "abc"), 0);  /* no room even for the NUL: nothing written */
    assert_int_equal(buf[0], 'Z');

    /* a huge width neither overruns nor takes long */
    char big[64];
    assert_int_equal(fmt(big, sizeof big, "%*d", 1000000000, 1), 63);

    /* appending: p += fmt(...) never passes the end */
    char line[16];
    size_t used = 0;
    for (int i = 0; i < 10; i++)
        used += fmt(line + used, sizeof line - used, "%d,", i);
    assert_int_equal(used, 15);
    assert_string_equal(line, "0,1,2,3,4,5,6,7");
}

static void test_fmt_unknown_conversion(void **state)
{
    char buf[32];
    /* not in the subset: copied as written, and no argument consumed */
    fmt(buf, sizeof buf, "a%qb%d", 5);
    assert_string_equal(buf, "a%qb5");
    fmt(buf, sizeof buf, "end%");
    assert_string_equal(buf, "end%");
}

#pragma GCC diagnostic pop

/* ---- the log --------------------------------------------------------------------------------- */

static int saved_stderr = -1, capture_read = -1;

static void capture_begin(void)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    saved_stderr = dup(2);
    assert_int_equal(dup2(p[1], 2), 2);
    close(p[1]);
    capture_read = p[0];
}

static const char *capture_end(size_t *len_out)
{
    static char buf[16384];
    size_t len = 0;
    ssize_t r;
    dup2(saved_stderr, 2);
    close(saved_stderr);
    while (len < sizeof buf - 1 && (r = read(capture_read, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)r;
    close(capture_read);
    buf[len] = '\0';
    if (len_out)
        *len_out = len;
    return buf;
}

static int group_setup(void **state)
{
    opt.log_path = NULL;
    log_open();
    return 0;
}

static void test_log_line(void **state)
{
    assert_int_equal(log_fd(), 2);
    capture_begin();
    errno = EBADF;
    log_line("hello %d %s", 42, "world");
    assert_int_equal(errno, EBADF);  /* preserved */
    log_line("second");
    const char *out = capture_end(NULL);
    assert_string_equal(out, "cowgc: hello 42 world\ncowgc: second\n");
}

static void test_log_line_long(void **state)
{
    char msg[5000];
    memset(msg, 'm', sizeof msg - 1);
    msg[sizeof msg - 1] = '\0';
    size_t len;
    capture_begin();
    log_line("%s", msg);
    const char *out = capture_end(&len);
    assert_true(len > 1000 && len < sizeof msg);
    assert_memory_equal(out, "cowgc: mmm", 10);
    assert_memory_equal(out + len - 4, "...\n", 4);
    assert_null(memchr(out, '\n', len - 1));
}

static void test_report_error_goes_on(void **state)
{
    opt.abort_on_error = false;
    capture_begin();
    errno = ENOMEM;
    report_error("free(%p): not allocated", (void *)0x10);
    assert_int_equal(errno, ENOMEM);
    const char *out = capture_end(NULL);
    assert_string_equal(out, "cowgc: free(0x10): not allocated\n");
}

/* Runs child() in a fork with fd 2 on a pipe; returns its wait status and what it wrote. */
static int in_child(void (*child)(void *), void *arg, char *out, size_t n)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGABRT, SIG_DFL);
        dup2(p[1], 2);
        close(p[0]);
        child(arg);
        _exit(0);
    }
    close(p[1]);
    size_t len = 0;
    ssize_t r;
    while (len < n - 1 && (r = read(p[0], out + len, n - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    close(p[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void child_report_abort(void *arg)
{
    opt.abort_on_error = true;
    report_error("double free of %p", (void *)0x20);
}

static void test_report_error_aborts(void **state)
{
    char out[512];
    int status = in_child(child_report_abort, NULL, out, sizeof out);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_string_equal(out, "cowgc: double free of 0x20\n");
}

static void child_assert(void *arg)
{
    assert_fail("x == 1", "heap.c", 42, "heap_grow");
}

static void test_assert_fail(void **state)
{
    char out[512];
    int status = in_child(child_assert, NULL, out, sizeof out);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_string_equal(out, "cowgc: assertion failed: x == 1 (heap.c:42 heap_grow)\n");
}

static void child_cg_assert(void *arg)
{
    int one = 1;
    cg_assert(one == 1);  /* holds: nothing happens */
    cg_assert(one == 2);
}

static void test_cg_assert(void **state)
{
    char out[512];
    int status = in_child(child_cg_assert, NULL, out, sizeof out);
    if (!config_debug) {
        assert_true(WIFEXITED(status));
        return;
    }
    assert_true(WIFSIGNALED(status));
    assert_non_null(strstr(out, "cowgc: assertion failed: one == 2 (" __FILE__ ":"));
    assert_non_null(strstr(out, " child_cg_assert)\n"));
}

/* log_open works once per process, and this one's log is already open: tests of opening run in
 * a fresh copy of this program, started as `test_log --child NAME ARG`. */
static int in_exec(const char *name, const char *arg, char *out, size_t n)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        /* cowgc's own start-up opens the log in the new program, as it would for a user. */
        setenv("COWGC_LOG", arg, 1);
        execl("/proc/self/exe", "test_log", "--child", name, arg, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    size_t len = 0;
    ssize_t r;
    while (len < n - 1 && (r = read(p[0], out + len, n - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    close(p[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

/* With COWGC_LOG set, lines go to the file, appended. */
static int child_log_to_file(const char *path)
{
    opt.log_path = path;
    log_open();
    log_line("to the file %d", 1);
    log_open();  /* once only */
    log_line("to the file %d", 2);
    return log_fd() == 2;
}

static void test_log_to_file(void **state)
{
    char path[] = "/tmp/cowgc-test-log-XXXXXX", out[512], file[512];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "before\n", 7), 7);
    int status = in_exec("log-to-file", path, out, sizeof out);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_string_equal(out, "");
    ssize_t n = pread(fd, file, sizeof file - 1, 0);
    assert_true(n > 0);
    file[n] = '\0';
    assert_string_equal(file, "before\ncowgc: to the file 1\ncowgc: to the file 2\n");
    close(fd);
    unlink(path);
}

/* The first log_line opens the log lazily; a path that cannot be opened means stderr. */
static int child_log_open_fails(const char *path)
{
    opt.log_path = path;
    errno = 0;
    log_line("still logged");
    return !(errno == 0 && log_fd() == 2);
}

static void test_log_open_falls_back(void **state)
{
    char out[512];
    int status = in_exec("log-open-fails", "/nonexistent-dir-cowgc/log", out, sizeof out);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_string_equal(out, "cowgc: cannot open COWGC_LOG=/nonexistent-dir-cowgc/log (ENOENT); "
                             "logging to stderr\ncowgc: still logged\n");
}

/* A log whose fd was closed under it: the write fails quietly. */
static void child_closed_stderr(void *arg)
{
    close(2);
    log_line("nobody hears this");
    _exit(0);
}

static void test_log_closed_fd(void **state)
{
    char out[64];
    int status = in_child(child_closed_stderr, NULL, out, sizeof out);
    assert_true(WIFEXITED(status));
    assert_string_equal(out, "");
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--child")) {
        if (!strcmp(argv[2], "log-to-file"))
            return child_log_to_file(argv[3]);
        if (!strcmp(argv[2], "log-open-fails"))
            return child_log_open_fails(argv[3]);
        return 99;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fmt_integers),
        cmocka_unit_test(test_fmt_widths),
        cmocka_unit_test(test_fmt_strings_pointers),
        cmocka_unit_test(test_fmt_truncation),
        cmocka_unit_test(test_fmt_unknown_conversion),
        cmocka_unit_test(test_log_line),
        cmocka_unit_test(test_log_line_long),
        cmocka_unit_test(test_report_error_goes_on),
        cmocka_unit_test(test_report_error_aborts),
        cmocka_unit_test(test_assert_fail),
        cmocka_unit_test(test_cg_assert),
        cmocka_unit_test(test_log_to_file),
        cmocka_unit_test(test_log_open_falls_back),
        cmocka_unit_test(test_log_closed_fd),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
