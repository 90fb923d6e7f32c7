/* test_options.c -- the COWGC_* table, its parsers, option_apply and options_init. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "preload.h"

/* ---- capturing what goes to stderr (the log, since COWGC_LOG is never opened here) ---------- */

static int saved_stderr = -1, capture_read = -1;

static void capture_begin(void)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    saved_stderr = dup(2);
    assert_true(saved_stderr >= 0);
    assert_int_equal(dup2(p[1], 2), 2);
    close(p[1]);
    capture_read = p[0];
}

/* Returns what was written since capture_begin, NUL-terminated, in a static buffer. */
static const char *capture_end(void)
{
    static char buf[65536];
    size_t len = 0;
    ssize_t r;
    dup2(saved_stderr, 2);
    close(saved_stderr);
    while (len < sizeof buf - 1 && (r = read(capture_read, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)r;
    close(capture_read);
    buf[len] = '\0';
    return buf;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The line of out that contains needle, in a static buffer ("" if none). */
static const char *line_with(const char *out, const char *needle)
{
    static char line[1024];
    const char *at = strstr(out, needle), *start = at, *end;
    line[0] = '\0';
    if (!at)
        return line;
    while (start > out && start[-1] != '\n')
        start--;
    end = strchr(at, '\n');
    size_t len = end ? (size_t)(end - start) : strlen(start);
    if (len >= sizeof line)
        len = sizeof line - 1;
    memcpy(line, start, len);
    line[len] = '\0';
    return line;
}

static int group_setup(void **state)
{
    log_open();  /* COWGC_LOG unset: the log is fd 2, which the tests redirect */
    return 0;
}

/* ---- the table ------------------------------------------------------------------------------- */

/* Runs first, before options_init has touched `opt`: its static defaults equal the table's. */
static void test_static_defaults_match_table(void **state)
{
    struct options o;
    char why[512];
    memset(&o, 0, sizeof o);
    for (size_t i = 0; i < option_count; i++) {
        int rc = option_apply(&o, option_table[i].name, option_table[i].def, false, why, sizeof why);
        assert_int_equal(rc, 0);
    }
    assert_memory_equal(&o, &opt, sizeof o);
    assert_int_equal(o.signal, SIGPWR);
    assert_int_equal(o.min_trigger, 4 << 20);
    assert_int_equal(o.growth_permille, 1000);
    assert_int_equal(o.reserve, (uint64_t)64 << 30);
    assert_int_equal(o.root_pages, ROOT_PAGES_WRITTEN);
    assert_null(o.log_path);
    assert_null(o.suppress);
}

static void test_table_well_formed(void **state)
{
    for (size_t i = 0; i < option_count; i++) {
        const struct option_def *d = &option_table[i];
        assert_non_null(d->name);
        assert_non_null(d->def);
        assert_non_null(d->help);
        assert_true(strlen(d->help) > 0);
        assert_null(strchr(d->help, '\n'));
        assert_true(d->min <= d->max);
        assert_true(d->offset < sizeof(struct options));
        assert_true((d->type == OPT_ENUM) == (d->choices != NULL));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(option_table[j].name, d->name);
    }
    assert_int_equal(option_count, 35);
}

/* ---- parsers --------------------------------------------------------------------------------- */

static void test_parse_size(void **state)
{
    static const struct { const char *s; uint64_t v; } good[] = {
        { "0", 0 }, { "123", 123 }, { "64K", 64 << 10 }, { "64k", 64 << 10 },
        { "64KiB", 64 << 10 }, { "64kib", 64 << 10 }, { "64KB", 64 << 10 }, { "64kb", 64 << 10 },
        { "4M", 4 << 20 }, { "4MiB", 4 << 20 }, { "2G", (uint64_t)2 << 30 },
        { "1T", (uint64_t)1 << 40 }, { "1t", (uint64_t)1 << 40 }, { "100B", 100 },
        { "18446744073709551615", UINT64_MAX }, { "16777215T", (uint64_t)16777215 << 40 },
    };
    static const char *const bad[] = {
        "", "K", "-1", "+1", " 1", "1 ", "1.5M", "12X", "64KiBx", "64iB", "64KBB", "0x10",
        "18446744073709551616", "16777216T", "99999999999999999999999",
    };
    uint64_t v;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        v = 42;
        assert_int_equal(parse_size(good[i].s, &v), 0);
        assert_int_equal(v, good[i].v);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 42;
        assert_int_equal(parse_size(bad[i], &v), -1);
        assert_int_equal(v, 42);  /* untouched on error */
    }
}

static void test_parse_int(void **state)
{
    int64_t v;
    assert_int_equal(parse_int("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(parse_int("64", &v), 0);
    assert_int_equal(v, 64);
    assert_int_equal(parse_int("-5", &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(parse_int("9223372036854775807", &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(parse_int("-9223372036854775808", &v), 0);
    assert_true(v == INT64_MIN);
    v = 7;
    assert_int_equal(parse_int("9223372036854775808", &v), -1);
    assert_int_equal(parse_int("-9223372036854775809", &v), -1);
    assert_int_equal(parse_int("", &v), -1);
    assert_int_equal(parse_int("-", &v), -1);
    assert_int_equal(parse_int("1x", &v), -1);
    assert_int_equal(parse_int("1e9", &v), -1);
    assert_int_equal(parse_int("--1", &v), -1);
    assert_int_equal(v, 7);
}

static void test_parse_ratio(void **state)
{
    static const struct { const char *s; uint32_t v; } good[] = {
        { "1", 1000 }, { "1.5", 1500 }, { "0.25", 250 }, { ".5", 500 }, { "0.1", 100 },
        { "100", 100000 }, { "0", 0 }, { "2.125", 2125 }, { "0.1239", 123 }, { "4294967", 4294967000u },
    };
    static const char *const bad[] = { "", ".", "1.", "-1", "1.5x", "abc", "1..5", "4294968", "1,5" };
    uint32_t v;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(parse_ratio(good[i].s, &v), 0);
        assert_int_equal(v, good[i].v);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 9;
        assert_int_equal(parse_ratio(bad[i], &v), -1);
        assert_int_equal(v, 9);
    }
}

static void test_parse_enum(void **state)
{
    assert_int_equal(parse_enum("collect", "collect|detect|off"), 0);
    assert_int_equal(parse_enum("detect", "collect|detect|off"), 1);
    assert_int_equal(parse_enum("OFF", "collect|detect|off"), 2);
    assert_int_equal(parse_enum("col", "collect|detect|off"), -1);
    assert_int_equal(parse_enum("collects", "collect|detect|off"), -1);
    assert_int_equal(parse_enum("", "collect|detect|off"), -1);
    assert_int_equal(parse_enum("collect|detect", "collect|detect|off"), -1);
    assert_int_equal(parse_enum("a", "a"), 0);
}

static void test_parse_bool(void **state)
{
    static const char *const yes[] = { "1", "yes", "true", "on", "YES", "True", "ON" };
    static const char *const no[] = { "0", "no", "false", "off", "NO", "False" };
    static const char *const bad[] = { "", "2", "y", "n", "enable", "yess", "01" };
    bool b;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        b = false;
        assert_int_equal(parse_bool(yes[i], &b), 0);
        assert_true(b);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        b = true;
        assert_int_equal(parse_bool(no[i], &b), 0);
        assert_false(b);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(parse_bool(bad[i], &b), -1);
}

static void test_parse_signal(void **state)
{
    int s;
    assert_int_equal(parse_signal("30", &s), 0);
    assert_int_equal(s, SIGPWR);
    assert_int_equal(parse_signal("SIGPWR", &s), 0);
    assert_int_equal(s, SIGPWR);
    assert_int_equal(parse_signal("PWR", &s), 0);
    assert_int_equal(s, SIGPWR);
    assert_int_equal(parse_signal("sigusr2", &s), 0);
    assert_int_equal(s, SIGUSR2);
    assert_int_equal(parse_signal("XCPU", &s), 0);
    assert_int_equal(s, SIGXCPU);
    assert_int_equal(parse_signal("RTMIN+3", &s), 0);
    assert_int_equal(s, SIGRTMIN + 3);
    assert_int_equal(parse_signal("SIGRTMIN+3", &s), 0);
    assert_int_equal(s, SIGRTMIN + 3);
    assert_int_equal(parse_signal("SIGRTMIN", &s), 0);
    assert_int_equal(s, SIGRTMIN);
    assert_int_equal(parse_signal("RTMAX", &s), 0);
    assert_int_equal(s, SIGRTMAX);
    assert_int_equal(parse_signal("SIGRTMAX-2", &s), 0);
    assert_int_equal(s, SIGRTMAX - 2);
    assert_int_equal(parse_signal("64", &s), 0);
    assert_int_equal(s, 64);
    /* The parser does not judge: SIGSEGV parses, option_apply refuses it. */
    assert_int_equal(parse_signal("SEGV", &s), 0);
    assert_int_equal(s, SIGSEGV);

    static const char *const bad[] = {
        "", "0", "65", "-1", "SIG", "SIGFOO", "PWRX", "RTMIN-1", "RTMAX+1", "RTMIN+99",
        "RTMIN+", "SIGRTMINX", "30x", " 30", "SIGSIGPWR",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = -7;
        assert_int_equal(parse_signal(bad[i], &s), -1);
        assert_int_equal(s, -7);
    }
}

/* ---- option_apply ---------------------------------------------------------------------------- */

static void test_apply_good_values(void **state)
{
    struct options o = opt;
    char why[1024] = "";
    assert_int_equal(option_apply(&o, "MODE", "detect", false, why, sizeof why), 0);
    assert_int_equal(o.mode, MODE_DETECT);
    assert_int_equal(option_apply(&o, "COWGC_MARK", "inline", false, why, sizeof why), 0);
    assert_int_equal(o.mark, MARK_INLINE);
    assert_int_equal(option_apply(&o, "MIN_TRIGGER", "64KiB", false, why, sizeof why), 0);
    assert_int_equal(o.min_trigger, 65536);
    assert_int_equal(option_apply(&o, "GROWTH", "0.25", false, why, sizeof why), 0);
    assert_int_equal(o.growth_permille, 250);
    assert_int_equal(option_apply(&o, "STACK_SAMPLE", "1000000000", false, why, sizeof why), 0);
    assert_int_equal(o.stack_sample, 1000000000u);
    assert_int_equal(option_apply(&o, "SIGNAL", "SIGUSR2", false, why, sizeof why), 0);
    assert_int_equal(o.signal, SIGUSR2);
    assert_int_equal(option_apply(&o, "REPORT_SIGNAL", "0", false, why, sizeof why), 0);
    assert_int_equal(o.report_signal, 0);
    assert_int_equal(option_apply(&o, "REPORT_SIGNAL", "RTMIN+1", false, why, sizeof why), 0);
    assert_int_equal(o.report_signal, SIGRTMIN + 1);
    assert_int_equal(option_apply(&o, "VERBOSE", "yes", false, why, sizeof why), 0);
    assert_true(o.verbose);

    const char *log = "/tmp/cowgc.log";
    assert_int_equal(option_apply(&o, "LOG", log, false, why, sizeof why), 0);
    /* A copy: the environment strings may be overwritten (nginx's setproctitle). */
    assert_string_equal(o.log_path, log);
    assert_ptr_not_equal(o.log_path, log);
    assert_int_equal(option_apply(&o, "LOG", "stderr", false, why, sizeof why), 0);
    assert_null(o.log_path);

    const char *stats = "json:/tmp/s.json";
    assert_int_equal(option_apply(&o, "STATS", stats, false, why, sizeof why), 0);
    assert_true(o.stats);
    assert_string_equal(o.stats_json, stats + 5);
    assert_int_equal(option_apply(&o, "STATS", "1", false, why, sizeof why), 0);
    assert_true(o.stats);
    assert_null(o.stats_json);
    assert_int_equal(option_apply(&o, "STATS", "0", false, why, sizeof why), 0);
    assert_false(o.stats);

    /* empty = default */
    assert_int_equal(option_apply(&o, "MODE", "", false, why, sizeof why), 0);
    assert_int_equal(o.mode, MODE_COLLECT);
}

static void test_apply_bounds(void **state)
{
    struct options o = opt;
    char why[1024];
    /* inclusive bounds */
    assert_int_equal(option_apply(&o, "MIN_TRIGGER", "64K", false, why, sizeof why), 0);
    assert_int_equal(option_apply(&o, "MIN_TRIGGER", "1T", false, why, sizeof why), 0);
    assert_int_equal(option_apply(&o, "GROWTH", "0.1", false, why, sizeof why), 0);
    assert_int_equal(option_apply(&o, "GROWTH", "100", false, why, sizeof why), 0);
    assert_int_equal(option_apply(&o, "STACK_DEPTH", "0", false, why, sizeof why), 0);
    assert_int_equal(option_apply(&o, "STACK_DEPTH", "64", false, why, sizeof why), 0);
    assert_int_equal(option_apply(&o, "LEAK_EXITCODE", "255", false, why, sizeof why), 0);

    struct options before = o;
    assert_int_equal(option_apply(&o, "MIN_TRIGGER", "1K", false, why, sizeof why), -1);
    assert_non_null(strstr(why, "COWGC_MIN_TRIGGER=1K"));
    assert_non_null(strstr(why, "out of range"));
    assert_non_null(strstr(why, "64K"));
    assert_non_null(strstr(why, "1T"));
    assert_int_equal(option_apply(&o, "MIN_TRIGGER", "2T", false, why, sizeof why), -1);
    assert_int_equal(option_apply(&o, "RESERVE", "128M", false, why, sizeof why), -1);
    assert_non_null(strstr(why, "256M"));
    assert_non_null(strstr(why, "64T"));
    assert_int_equal(option_apply(&o, "GROWTH", "0.05", false, why, sizeof why), -1);
    assert_non_null(strstr(why, "0.1"));
    assert_non_null(strstr(why, "100"));
    assert_int_equal(option_apply(&o, "STACK_DEPTH", "65", false, why, sizeof why), -1);
    assert_non_null(strstr(why, "0 to 64"));
    assert_int_equal(option_apply(&o, "STACK_DEPTH", "-1", false, why, sizeof why), -1);
    assert_int_equal(option_apply(&o, "STACK_SAMPLE", "0", false, why, sizeof why), -1);
    assert_int_equal(option_apply(&o, "STACK_SAMPLE", "1000000001", false, why, sizeof why), -1);
    assert_int_equal(option_apply(&o, "STACK_SAMPLE", "99999999999999999999", false, why, sizeof why), -1);
    assert_int_equal(option_apply(&o, "LEAK_EXITCODE", "256", false, why, sizeof why), -1);
    assert_non_null(strstr(why, "0 to 255"));
    assert_memory_equal(&o, &before, sizeof o);
}

static void test_apply_bad_values(void **state)
{
    struct options o = opt, before = opt;
    char why[1024];
    assert_int_equal(option_apply(&o, "MODE", "colect", false, why, sizeof why), -1);
    assert_non_null(strstr(why, "COWGC_MODE"));
    assert_non_null(strstr(why, "colect"));
    assert_non_null(strstr(why, "collect|detect|off"));
    assert_int_equal(option_apply(&o, "VERBOSE", "maybe", false, why, sizeof why), -1);
    assert_non_null(strstr(why, "COWGC_VERBOSE=maybe"));
    assert_non_null(strstr(why, "yes"));
    assert_int_equal(option_apply(&o, "MIN_TRIGGER", "lots", false, why, sizeof why), -1);
    assert_non_null(strstr(why, "COWGC_MIN_TRIGGER=lots is not valid"));
    assert_int_equal(option_apply(&o, "GROWTH", "fast", false, why, sizeof why), -1);
    assert_int_equal(option_apply(&o, "STATS", "json:", false, why, sizeof why), -1);
    assert_int_equal(option_apply(&o, "STATS", "yaml", false, why, sizeof why), -1);
    assert_non_null(strstr(why, "json:PATH"));
    assert_int_equal(option_apply(&o, "SIGNAL", "SIGBOGUS", false, why, sizeof why), -1);

    /* signals cowgc must not take */
    static const char *const reserved[] = {
        "SIGKILL", "STOP", "SEGV", "9", "SIGBUS", "FPE", "ILL", "ABRT", "CHLD", "INT", "TERM",
        "QUIT", "32", "33", "0",
    };
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        assert_int_equal(option_apply(&o, "SIGNAL", reserved[i], false, why, sizeof why), -1);
        assert_non_null(strstr(why, "COWGC_SIGNAL="));
        assert_non_null(strstr(why, reserved[i]));
    }
    assert_int_equal(option_apply(&o, "REPORT_SIGNAL", "SIGSEGV", false, why, sizeof why), -1);

    /* garbage in the value is shown harmlessly: no newline, bounded length */
    char longv[300];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    assert_int_equal(option_apply(&o, "MODE", longv, false, why, sizeof why), -1);
    assert_true(strlen(why) < 300);
    assert_int_equal(option_apply(&o, "MODE", "a\nb", false, why, sizeof why), -1);
    assert_null(strchr(why, '\n'));

    /* a tiny why is still NUL-terminated; a NULL why is allowed */
    char tiny[8];
    assert_int_equal(option_apply(&o, "MODE", "colect", false, tiny, sizeof tiny), -1);
    assert_int_equal(strlen(tiny), 7);
    assert_int_equal(option_apply(&o, "MODE", "colect", false, NULL, 0), -1);
    assert_memory_equal(&o, &before, sizeof o);
}

/* COWGC_KEEP is a list of names, not a file: it applies in a setuid program too. */
static void test_apply_keep_quarantine(void **state)
{
    struct options o = opt;
    char why[1024];
    assert_null(o.keep);
    assert_int_equal(o.quarantine, 0);
    assert_int_equal(option_apply(&o, "KEEP", "libfoo,-libfontconfig", true, why, sizeof why), 0);
    assert_string_equal(o.keep, "libfoo,-libfontconfig");
    assert_int_equal(option_apply(&o, "KEEP", "none", false, why, sizeof why), 0);
    assert_null(o.keep);
    assert_int_equal(option_apply(&o, "QUARANTINE", "3", false, why, sizeof why), 0);
    assert_int_equal(o.quarantine, 3);
    assert_int_equal(option_apply(&o, "QUARANTINE", "-1", false, why, sizeof why), -1);
    assert_non_null(strstr(why, "COWGC_QUARANTINE=-1 is out of range"));
    assert_int_equal(o.quarantine, 3);
}

static void test_apply_unknown_names(void **state)
{
    struct options o = opt, before = opt;
    char why[1024];
    assert_int_equal(option_apply(&o, "MDOE", "collect", false, why, sizeof why), -1);
    assert_non_null(strstr(why, "unknown variable COWGC_MDOE"));
    assert_non_null(strstr(why, "did you mean COWGC_MODE?"));
    assert_non_null(strstr(why, "known: COWGC_MODE, COWGC_MARK"));
    assert_non_null(strstr(why, "COWGC_KEEP)"));
    assert_int_equal(option_apply(&o, "COWGC_MIN_TRIGER", "4M", false, why, sizeof why), -1);
    assert_non_null(strstr(why, "did you mean COWGC_MIN_TRIGGER?"));
    assert_int_equal(option_apply(&o, "mode", "collect", false, why, sizeof why), -1);
    assert_non_null(strstr(why, "did you mean COWGC_MODE?"));
    assert_int_equal(option_apply(&o, "FROBNICATE", "1", false, why, sizeof why), -1);
    assert_non_null(strstr(why, "unknown variable COWGC_FROBNICATE"));
    assert_null(strstr(why, "did you mean"));
    assert_int_equal(option_apply(&o, "", "1", false, why, sizeof why), -1);
    assert_memory_equal(&o, &before, sizeof o);
}

static void test_apply_secure_paths(void **state)
{
    struct options o = opt;
    char why[1024];
    assert_int_equal(option_apply(&o, "LOG", "/etc/shadow", true, why, sizeof why), -1);
    assert_non_null(strstr(why, "COWGC_LOG=/etc/shadow is ignored"));
    assert_null(o.log_path);
    assert_int_equal(option_apply(&o, "SUPPRESS", "/x", true, why, sizeof why), -1);
    assert_null(o.suppress);
    assert_int_equal(option_apply(&o, "STATS", "json:/x", true, why, sizeof why), -1);
    assert_false(o.stats);
    assert_null(o.stats_json);
    /* what is not a path still works */
    assert_int_equal(option_apply(&o, "STATS", "1", true, why, sizeof why), 0);
    assert_true(o.stats);
    assert_int_equal(option_apply(&o, "LOG", "stderr", true, why, sizeof why), 0);
    assert_int_equal(option_apply(&o, "MODE", "detect", true, why, sizeof why), 0);
}

/* ---- options_init ---------------------------------------------------------------------------- */

static void test_init_defaults_and_values(void **state)
{
    char *env[] = {
        "PATH=/bin", "COWGC_MODE=detect", "COWGC_MIN_TRIGGER=1M", "COWGC_GROWTH=1.5",
        "COWGC_SUPPRESS=/tmp/supp", "COWGC_STATS=json:/tmp/stats.json", "NOT_COWGC_X=1",
        "COWGC_SIGNAL=SIGRTMIN+3", "COWGC", "COWGC_=", NULL,
    };
    capture_begin();
    options_init(env, false);
    const char *out = capture_end();
    assert_int_equal(opt.mode, MODE_DETECT);
    assert_int_equal(opt.min_trigger, 1 << 20);
    assert_int_equal(opt.growth_permille, 1500);
    assert_string_equal(opt.suppress, env[4] + strlen("COWGC_SUPPRESS="));
    assert_true(opt.stats);
    assert_string_equal(opt.stats_json, "/tmp/stats.json");
    assert_int_equal(opt.signal, SIGRTMIN + 3);
    assert_int_equal(opt.mark, MARK_OUTOFLINE);  /* untouched: default */
    assert_int_equal(opt.stack_depth, 16);
    /* "COWGC_=" is an unknown (empty) name; nothing else complains */
    assert_int_equal(count_lines(out), 1);
    assert_non_null(strstr(out, "unknown variable COWGC_ "));

    char *none[] = { NULL };
    options_init(none, false);
    assert_int_equal(opt.mode, MODE_COLLECT);  /* a second init starts again from defaults */
    assert_null(opt.suppress);
    options_init(NULL, false);
    assert_int_equal(opt.signal, SIGPWR);
}

static void test_init_bad_values_keep_defaults(void **state)
{
    char *env[] = {
        "COWGC_MODE=colect", "COWGC_MIN_TRIGGER=1K", "COWGC_MDOE=detect", "COWGC_GROWTH=",
        "COWGC_STACK_DEPTH=8", "COWGC_SIGNAL=SIGSEGV", NULL,
    };
    capture_begin();
    options_init(env, false);
    const char *out = capture_end();
    assert_int_equal(opt.mode, MODE_COLLECT);
    assert_int_equal(opt.min_trigger, 4 << 20);
    assert_int_equal(opt.growth_permille, 1000);
    assert_int_equal(opt.stack_depth, 8);
    assert_int_equal(opt.signal, SIGPWR);
    /* one line per problem, each saying what happens instead; the empty value is silent */
    assert_int_equal(count_lines(out), 4);
    assert_non_null(strstr(out, "cowgc: COWGC_MODE=colect is not valid (accepted: collect|detect|off); using collect\n"));
    assert_non_null(strstr(out, "cowgc: COWGC_MIN_TRIGGER=1K is out of range"));
    assert_non_null(strstr(out, "; using 4M\n"));
    assert_non_null(strstr(out, "cowgc: unknown variable COWGC_MDOE, did you mean COWGC_MODE?"));
    assert_non_null(strstr(out, "cowgc: COWGC_SIGNAL=SIGSEGV is not usable"));
}

static void test_init_first_duplicate_wins(void **state)
{
    char *env[] = { "COWGC_MODE=off", "COWGC_MODE=detect", "COWGC_STACK_DEPTH=bad",
                    "COWGC_STACK_DEPTH=4", NULL };
    capture_begin();
    options_init(env, false);
    const char *out = capture_end();
    assert_int_equal(opt.mode, MODE_OFF);
    assert_int_equal(opt.stack_depth, 16);  /* as getenv would: the first, rejected */
    assert_int_equal(count_lines(out), 1);
}

static void test_init_secure_ignores_paths(void **state)
{
    char *env[] = { "COWGC_LOG=/tmp/cowgc-secure.log", "COWGC_SUPPRESS=/etc/passwd",
                    "COWGC_STATS=json:/tmp/x.json", "COWGC_MODE=detect", NULL };
    capture_begin();
    options_init(env, true);
    const char *out = capture_end();
    assert_null(opt.log_path);
    assert_null(opt.suppress);
    assert_false(opt.stats);
    assert_null(opt.stats_json);
    assert_int_equal(opt.mode, MODE_DETECT);
    assert_int_equal(count_lines(out), 3);
    assert_non_null(strstr(out, "cowgc: COWGC_LOG=/tmp/cowgc-secure.log is ignored in a setuid/setgid program; using stderr\n"));
    assert_non_null(strstr(out, "COWGC_SUPPRESS=/etc/passwd is ignored"));
    assert_non_null(strstr(out, "COWGC_STATS=json:/tmp/x.json is ignored"));
    assert_int_equal(access("/tmp/cowgc-secure.log", F_OK), -1);

    char *same[] = { "COWGC_LOG=/tmp/cowgc-insecure.log", NULL };
    options_init(same, false);  /* no message, so the log is not opened: nothing created */
    assert_string_equal(opt.log_path, "/tmp/cowgc-insecure.log");
}

static void test_init_report_signal_clash(void **state)
{
    char *env[] = { "COWGC_SIGNAL=USR1", "COWGC_REPORT_SIGNAL=SIGUSR1", NULL };
    capture_begin();
    options_init(env, false);
    const char *out = capture_end();
    assert_int_equal(opt.signal, SIGUSR1);
    assert_int_equal(opt.report_signal, 0);
    assert_non_null(strstr(out, "COWGC_REPORT_SIGNAL=SIGUSR1 is the stop-the-world signal"));
}

static void test_init_many_errors_bounded(void **state)
{
    static char names[200][40];
    char *env[201];
    for (int i = 0; i < 200; i++) {
        snprintf(names[i], sizeof names[i], "COWGC_BOGUS%d=1", i);
        env[i] = names[i];
    }
    env[200] = NULL;
    capture_begin();
    options_init(env, false);
    const char *out = capture_end();
    assert_non_null(strstr(out, "more messages about COWGC_* variables not shown"));
    assert_int_equal(opt.mode, MODE_COLLECT);
}

static void test_verbose_prints_table(void **state)
{
    char *env[] = { "COWGC_VERBOSE=1", "COWGC_MIN_TRIGGER=8M", "COWGC_MODE=bogus",
                    "COWGC_GROWTH=0.25", "COWGC_SIGNAL=RTMIN+2", NULL };
    capture_begin();
    options_init(env, false);
    assert_true(opt.verbose);
    options_print(2);  /* init.c does this when COWGC_VERBOSE is set */
    const char *out = capture_end();
    /* one error line, one heading, one line per option */
    assert_int_equal(count_lines(out), 2 + option_count);
    for (size_t i = 0; i < option_count; i++) {
        char name[64];
        snprintf(name, sizeof name, "COWGC_%s ", option_table[i].name);
        assert_non_null(strstr(out, name));
    }
    assert_non_null(strstr(line_with(out, "COWGC_MIN_TRIGGER "), " 8M "));
    assert_non_null(strstr(line_with(out, "COWGC_MIN_TRIGGER "), " env"));
    assert_non_null(strstr(line_with(out, "COWGC_GROWTH "), " 0.25 "));
    assert_non_null(strstr(line_with(out, "COWGC_SIGNAL "), " SIGRTMIN+2 "));
    assert_non_null(strstr(line_with(out, "COWGC_MODE "), " collect "));
    assert_non_null(strstr(line_with(out, "COWGC_MODE "), "default (env value rejected)"));
    assert_non_null(strstr(line_with(out, "COWGC_VERBOSE "), " 1 "));
    assert_non_null(strstr(line_with(out, "COWGC_MARK "), " outofline "));
    assert_non_null(strstr(line_with(out, "COWGC_MARK "), " default"));
    assert_non_null(strstr(line_with(out, "COWGC_LOG "), " stderr "));
    assert_non_null(strstr(line_with(out, "COWGC_RESERVE "), " 64G "));

    /* options_print to any fd */
    int p[2];
    char buf[8192];
    assert_int_equal(pipe(p), 0);
    options_print(p[1]);
    close(p[1]);
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "COWGC_SIGNAL"));
    assert_non_null(strstr(buf, "SIGRTMIN+2"));

    char *none[] = { NULL };
    options_init(none, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_static_defaults_match_table),
        cmocka_unit_test(test_table_well_formed),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_int),
        cmocka_unit_test(test_parse_ratio),
        cmocka_unit_test(test_parse_enum),
        cmocka_unit_test(test_parse_bool),
        cmocka_unit_test(test_parse_signal),
        cmocka_unit_test(test_apply_good_values),
        cmocka_unit_test(test_apply_bounds),
        cmocka_unit_test(test_apply_bad_values),
        cmocka_unit_test(test_apply_keep_quarantine),
        cmocka_unit_test(test_apply_unknown_names),
        cmocka_unit_test(test_apply_secure_paths),
        cmocka_unit_test(test_init_defaults_and_values),
        cmocka_unit_test(test_init_bad_values_keep_defaults),
        cmocka_unit_test(test_init_first_duplicate_wins),
        cmocka_unit_test(test_init_secure_ignores_paths),
        cmocka_unit_test(test_init_report_signal_clash),
        cmocka_unit_test(test_init_many_errors_bounded),
        cmocka_unit_test(test_verbose_prints_table),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
