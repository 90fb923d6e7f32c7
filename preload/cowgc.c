/* cowgc.c -- the cowgc command: turn --flags into COWGC_* variables, preload libcowgc.so, exec.
 *
 *   cowgc [options] [--] PROGRAM [ARGS...]
 *
 * Every flag comes from option_table[] (--min-trigger=1M sets COWGC_MIN_TRIGGER=1M) and is
 * checked by the library's own parser, so the command and the library cannot disagree about a
 * value. This is an ordinary program: it allocates and uses stdio.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload.h"

#ifndef COWGC_LIBDIR
#define COWGC_LIBDIR "/usr/local/lib"
#endif
#ifndef COWGC_VERSION
#define COWGC_VERSION "0.1.0"
#endif

#define LIBNAME "libcowgc.so"
#define EXIT_USAGE 2

/* ---- the table, as flags --------------------------------------------------------------------- */

/* "MIN_TRIGGER" -> "min-trigger" */
static void flag_of(const struct option_def *d, char *buf, size_t n)
{
    size_t i = 0;
    for (; d->name[i] && i + 1 < n; i++)
        buf[i] = d->name[i] == '_' ? '-' : (char)(d->name[i] | 0x20);
    buf[i] = '\0';
}

static const struct option_def *find_flag(const char *flag, size_t len)
{
    char buf[64];
    for (size_t i = 0; i < option_count; i++) {
        flag_of(&option_table[i], buf, sizeof buf);
        if (strlen(buf) == len && !memcmp(buf, flag, len))
            return &option_table[i];
    }
    return NULL;
}

static bool takes_bare(const struct option_def *d)
{
    return d->type == OPT_BOOL || d->type == OPT_STATS;
}

/* 65536 -> "64K" */
static void size_text(char *buf, size_t n, uint64_t v)
{
    const char *units = "KMGT";
    int u = -1;
    while (u < 3 && v && (v & 1023) == 0) {
        v >>= 10;
        u++;
    }
    if (u < 0)
        snprintf(buf, n, "%llu", (unsigned long long)v);
    else
        snprintf(buf, n, "%llu%c", (unsigned long long)v, units[u]);
}

static void ratio_text(char *buf, size_t n, int64_t permille)
{
    snprintf(buf, n, "%g", (double)permille / 1000.0);
}

/* What a flag takes, for --help or (markdown) for a Markdown table cell. */
static void values_text(const struct option_def *d, char *buf, size_t n, bool markdown)
{
    char lo[32], hi[32];
    const char *q = markdown ? "`" : "";
    switch (d->type) {
    case OPT_ENUM: {
        size_t used = 0;
        for (const char *c = d->choices; c && used < n;) {
            const char *bar = strchr(c, '|');
            int len = bar ? (int)(bar - c) : (int)strlen(c);
            used += (size_t)snprintf(buf + used, n - used, "%s%s%.*s%s", c == d->choices ? "" :
                                     markdown ? " \\| " : "|", q, len, c, q);
            c = bar ? bar + 1 : NULL;
        }
        return;
    }
    case OPT_BOOL:
        snprintf(buf, n, markdown ? "`0` \\| `1`" : "0|1");
        return;
    case OPT_STATS:
        snprintf(buf, n, markdown ? "`0` \\| `1` \\| `json:PATH`" : "0|1|json:PATH");
        return;
    case OPT_SIZE:
        size_text(lo, sizeof lo, (uint64_t)d->min);
        size_text(hi, sizeof hi, (uint64_t)d->max);
        snprintf(buf, n, "%s (%s..%s)", markdown ? "size" : "SIZE", lo, hi);
        return;
    case OPT_INT:
        snprintf(buf, n, "%s (%lld..%lld)", markdown ? "integer" : "N", (long long)d->min,
                 (long long)d->max);
        return;
    case OPT_RATIO:
        ratio_text(lo, sizeof lo, d->min);
        ratio_text(hi, sizeof hi, d->max);
        snprintf(buf, n, "%s (%s..%s)", markdown ? "number" : "X", lo, hi);
        return;
    case OPT_PATH:
        snprintf(buf, n, "%s", markdown ? "file name" : "PATH");
        return;
    case OPT_LIST:
        snprintf(buf, n, "%s", markdown ? "comma-separated names" : "NAME,...");
        return;
    case OPT_SIGNAL:
        snprintf(buf, n, "%s%s", markdown ? "signal name or number" : "SIGNAL",
                 d->min == 0 ? (markdown ? ", `0` = off" : "|0") : "");
        return;
    }
    snprintf(buf, n, "?");
}

/* ---- --help, --markdown-options -------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "Usage: cowgc [OPTIONS] [--] PROGRAM [ARGS...]\n"
               "Run PROGRAM with libcowgc.so preloaded: a malloc that collects garbage or reports\n"
               "leaks. Each option sets the COWGC_* variable shown; setting it yourself does the same.\n");
}

static void help(void)
{
    char flag[64], values[256], left[400];
    usage(stdout);
    printf("\nOptions:\n");
    for (size_t i = 0; i < option_count; i++) {
        const struct option_def *d = &option_table[i];
        flag_of(d, flag, sizeof flag);
        values_text(d, values, sizeof values, false);
        snprintf(left, sizeof left, "  --%s=%s", flag, values);
        printf("%-44s COWGC_%s, default %s\n        %s\n", left, d->name, d->def, d->help);
    }
    printf("\n"
           "Bool options may be given bare (--verbose) or negated (--no-verbose); --stats is --stats=1.\n"
           "A SIZE is a number with an optional K, M, G or T (powers of 1024), then an optional B or\n"
           "iB: 64K, 4MiB, 2g. A SIGNAL is a number or a name: SIGPWR, PWR, SIGUSR2, RTMIN+3.\n"
           "\n"
           "Other options:\n"
           "  --print-lib          print the libcowgc.so that would be preloaded, and exit\n"
           "  --markdown-options   print the options as a Markdown table, and exit\n"
           "  -V, --version        print the version, and exit\n"
           "  -h, --help           print this help, and exit\n"
           "\n"
           "The library is $COWGC_LIB if set, else libcowgc.so next to this command, in\n"
           "../lib/x86_64-linux-gnu/ or ../lib/ from it, else %s/.\n"
           "Exit status: PROGRAM's; 2 for a bad option, 1 if the library is not found, 127 if\n"
           "PROGRAM is not found, 126 if it cannot be run.\n",
           COWGC_LIBDIR);
}

/* Markdown table cells: escape '|', the only character a table cell cannot hold. */
static void md_cell(const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            putchar('\\');
        putchar(*s);
    }
}

static void markdown_options(void)
{
    char flag[64], values[256];
    printf("| variable | flag | values | default | meaning |\n");
    printf("|---|---|---|---|---|\n");
    for (size_t i = 0; i < option_count; i++) {
        const struct option_def *d = &option_table[i];
        flag_of(d, flag, sizeof flag);
        values_text(d, values, sizeof values, true);
        printf("| `COWGC_%s` | `--%s` | %s | `", d->name, flag, values);
        md_cell(d->def);
        printf("` | ");
        md_cell(d->help);
        printf(" |\n");
    }
}

/* ---- the library ----------------------------------------------------------------------------- */

/* Fills out (PATH_MAX bytes) with the absolute path of the library; NULL if none was found. */
static char *find_lib(char *out)
{
    const char *env = getenv("COWGC_LIB");
    if (env && *env) {
        if (realpath(env, out))
            return out;
        fprintf(stderr, "cowgc: COWGC_LIB=%s: %s\n", env, strerror(errno));
        return NULL;
    }
    static const char *const relative[] = {
        "/" LIBNAME, "/../lib/x86_64-linux-gnu/" LIBNAME, "/../lib/" LIBNAME,
    };
    char exe[PATH_MAX], candidate[PATH_MAX + 64];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        for (size_t i = 0; i < sizeof relative / sizeof relative[0]; i++) {
            snprintf(candidate, sizeof candidate, "%s%s", exe, relative[i]);
            if (access(candidate, R_OK) == 0 && realpath(candidate, out))
                return out;
        }
    }
    if (access(COWGC_LIBDIR "/" LIBNAME, R_OK) == 0 && realpath(COWGC_LIBDIR "/" LIBNAME, out))
        return out;
    fprintf(stderr, "cowgc: cannot find %s (next to %s, in ../lib/x86_64-linux-gnu, ../lib, or "
            "%s); set COWGC_LIB to its path\n", LIBNAME, len > 0 ? exe : "this command",
            COWGC_LIBDIR);
    return NULL;
}

static void prepend_preload(const char *lib)
{
    const char *old = getenv("LD_PRELOAD");
    if (!old || !*old) {
        setenv("LD_PRELOAD", lib, 1);
        return;
    }
    size_t n = strlen(lib) + 1 + strlen(old) + 1;
    char *v = malloc(n);
    if (!v) {
        perror("cowgc");
        exit(1);
    }
    snprintf(v, n, "%s:%s", lib, old);
    setenv("LD_PRELOAD", v, 1);
    free(v);
}

/* ---- options --------------------------------------------------------------------------------- */

/* The program may chdir (and its children inherit the variables): make file names absolute. */
static const char *absolute(const struct option_def *d, const char *value, char *buf, size_t n)
{
    const char *path = value, *head = "";
    if (d->type == OPT_STATS) {
        if (strncasecmp(value, "json:", 5))
            return value;
        path = value + 5;
        head = "json:";
    } else if (d->type != OPT_PATH || !strcmp(value, d->def)) {
        return value;
    }
    char cwd[PATH_MAX];
    if (path[0] == '/' || !getcwd(cwd, sizeof cwd))
        return value;
    snprintf(buf, n, "%s%s/%s", head, cwd, path);
    return buf;
}

/* The flag nearest a mistyped one, found by the library's own message for the variable. */
static void suggest(const char *flag, size_t len)
{
    char name[64], why[1024];
    struct options scratch;
    if (len >= sizeof name)
        return;
    for (size_t i = 0; i < len; i++)
        name[i] = flag[i] == '-' ? '_' : (char)toupper((unsigned char)flag[i]);
    name[len] = '\0';
    if (option_apply(&scratch, name, "", false, why, sizeof why) == 0)
        return;
    const char *mean = strstr(why, "did you mean COWGC_");
    if (!mean)
        return;
    mean += strlen("did you mean COWGC_");
    const char *end = strchr(mean, '?');
    const struct option_def *near = NULL;
    for (size_t i = 0; end && i < option_count; i++)
        if (strlen(option_table[i].name) == (size_t)(end - mean) &&
            !memcmp(option_table[i].name, mean, (size_t)(end - mean)))
            near = &option_table[i];
    if (near) {
        flag_of(near, name, sizeof name);
        fprintf(stderr, "cowgc: did you mean --%s?\n", name);
    }
}

static void set_option(const struct option_def *d, const char *flag, const char *value)
{
    char why[1024], var[64], abs[PATH_MAX + 16];
    struct options scratch = opt;
    if (!*value) {
        fprintf(stderr, "cowgc: --%s needs a value\n", flag);
        exit(EXIT_USAGE);
    }
    if (option_apply(&scratch, d->name, value, false, why, sizeof why)) {
        fprintf(stderr, "cowgc: --%s: %s\nTry 'cowgc --help'.\n", flag, why);
        exit(EXIT_USAGE);
    }
    snprintf(var, sizeof var, "COWGC_%s", d->name);
    setenv(var, absolute(d, value, abs, sizeof abs), 1);
}

static void unknown(const char *arg, const char *flag, size_t len)
{
    fprintf(stderr, "cowgc: unknown option %s\n", arg);
    if (flag)
        suggest(flag, len);
    fprintf(stderr, "Try 'cowgc --help'.\n");
    exit(EXIT_USAGE);
}

/* Handles argv[*i] (and maybe the value after it); returns false at the first non-option. */
static bool parse_flag(int argc, char **argv, int *i, bool *print_lib)
{
    const char *arg = argv[*i];
    if (arg[0] != '-' || !arg[1])
        return false;
    if (!strcmp(arg, "--")) {
        (*i)++;
        return false;
    }
    if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
        help();
        exit(0);
    }
    if (!strcmp(arg, "--version") || !strcmp(arg, "-V")) {
        printf("cowgc %s\n", COWGC_VERSION);
        exit(0);
    }
    if (!strcmp(arg, "--markdown-options")) {
        markdown_options();
        exit(0);
    }
    if (!strcmp(arg, "--print-lib")) {
        *print_lib = true;
        return true;
    }
    if (arg[1] != '-')
        unknown(arg, NULL, 0);

    const char *flag = arg + 2, *eq = strchr(flag, '=');
    size_t len = eq ? (size_t)(eq - flag) : strlen(flag);
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)len, flag);
    const struct option_def *d = find_flag(flag, len);
    if (!d && !eq && !strncmp(flag, "no-", 3)) {
        d = find_flag(flag + 3, len - 3);
        if (d && takes_bare(d)) {
            set_option(d, name + 3, "0");
            return true;
        }
        d = NULL;
    }
    if (!d)
        unknown(arg, flag, len);
    if (eq)
        set_option(d, name, eq + 1);
    else if (takes_bare(d))
        set_option(d, name, "1");
    else if (*i + 1 < argc)
        set_option(d, name, argv[++*i]);
    else {
        fprintf(stderr, "cowgc: --%s needs a value\n", name);
        exit(EXIT_USAGE);
    }
    return true;
}

int main(int argc, char **argv)
{
    bool print_lib = false;
    int i = 1;
    while (i < argc && parse_flag(argc, argv, &i, &print_lib))
        i++;

    char lib[PATH_MAX];
    if (print_lib) {
        if (!find_lib(lib))
            return 1;
        printf("%s\n", lib);
        return 0;
    }
    if (i >= argc) {
        usage(stderr);
        fprintf(stderr, "Try 'cowgc --help'.\n");
        return EXIT_USAGE;
    }
    if (!find_lib(lib))
        return 1;
    prepend_preload(lib);
    unsetenv("COWGC_LIB");  /* the command's, not the library's: keep it out of the program */
    execvp(argv[i], &argv[i]);
    int e = errno;
    fprintf(stderr, "cowgc: %s: %s\n", argv[i], strerror(e));
    return e == ENOENT ? 127 : 126;
}
