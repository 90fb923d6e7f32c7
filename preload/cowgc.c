/* cowgc.c -- the cowgc command: turn --flags into COWGC_* variables, preload libcowgc.so, exec.
 *
 *   cowgc [options] [--] PROGRAM [ARGS...]
 *
 * Every flag comes from option_table[] (--min-trigger=1M sets COWGC_MIN_TRIGGER=1M) and is
 * checked by the library's own parser, so the command and the library cannot disagree about a
 * value. This is an ordinary program: it allocates and uses stdio.
 *
 *   cowgc symbolize [--symbolize=0|1|PATH] [FILE]
 *
 * turns the JSON leak reports in FILE (or stdin; other lines are skipped) into text reports,
 * symbolising their frames here with the library's own symbolizer code (collector/symbolize.c):
 * for reports written with COWGC_SYMBOLIZE=0, or on another machine.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload.h"
#include "../collector/collector.h"

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
           "Other commands and options:\n"
           "  cowgc symbolize [--symbolize=0|1|PATH] [FILE]\n"
           "                       print JSON leak reports (COWGC_REPORT=json) as text, symbolised\n"
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

/* ---- cowgc symbolize: JSON reports -> text ------------------------------------------------- */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };
struct jv {
    enum jtype t;
    unsigned long long num;   /* J_NUM (non-negative integers are all a report holds), J_BOOL */
    char *str;                /* J_STR */
    size_t n;                 /* J_ARR, J_OBJ: items */
    struct jv *items;
    char **keys;              /* J_OBJ */
};

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        perror("cowgc symbolize");
        exit(1);
    }
    return q;
}

struct jp { const char *s; const char *err; };

static void jskip(struct jp *p) { while (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r') p->s++; }

static bool jvalue(struct jp *p, struct jv *v);

static bool jstring(struct jp *p, char **out)
{
    if (*p->s != '"') { p->err = "a string was expected"; return false; }
    p->s++;
    size_t cap = 32, len = 0;
    char *b = xrealloc(NULL, cap);
    for (;;) {
        char c = *p->s++;
        if (!c) { free(b); p->err = "unterminated string"; return false; }
        if (c == '"') break;
        if (c == '\\') {
            char e = *p->s++;
            switch (e) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                unsigned u = 0;
                for (int i = 0; i < 4; i++) {
                    char h = *p->s++;
                    u = u * 16 + (unsigned)(isdigit((unsigned char)h) ? h - '0' : (tolower((unsigned char)h) - 'a' + 10));
                }
                c = u < 0x80 ? (char)u : '?';
                break;
            }
            case 0: free(b); p->err = "unterminated string"; return false;
            default: c = e; break;
            }
        }
        if (len + 2 > cap) b = xrealloc(b, cap *= 2);
        b[len++] = c;
    }
    b[len] = 0;
    *out = b;
    return true;
}

static bool jvalue(struct jp *p, struct jv *v)
{
    memset(v, 0, sizeof *v);
    jskip(p);
    char c = *p->s;
    if (c == '{' || c == '[') {
        bool obj = c == '{';
        v->t = obj ? J_OBJ : J_ARR;
        p->s++;
        jskip(p);
        if (*p->s == (obj ? '}' : ']')) { p->s++; return true; }
        for (;;) {
            v->items = xrealloc(v->items, (v->n + 1) * sizeof *v->items);
            if (obj) {
                v->keys = xrealloc(v->keys, (v->n + 1) * sizeof *v->keys);
                jskip(p);
                if (!jstring(p, &v->keys[v->n])) return false;
                jskip(p);
                if (*p->s++ != ':') { p->err = "':' was expected"; return false; }
            }
            if (!jvalue(p, &v->items[v->n])) return false;
            v->n++;
            jskip(p);
            if (*p->s == ',') { p->s++; continue; }
            if (*p->s == (obj ? '}' : ']')) { p->s++; return true; }
            p->err = obj ? "',' or '}' was expected" : "',' or ']' was expected";
            return false;
        }
    }
    if (c == '"') { v->t = J_STR; return jstring(p, &v->str); }
    if (!strncmp(p->s, "null", 4)) { p->s += 4; v->t = J_NULL; return true; }
    if (!strncmp(p->s, "true", 4)) { p->s += 4; v->t = J_BOOL; v->num = 1; return true; }
    if (!strncmp(p->s, "false", 5)) { p->s += 5; v->t = J_BOOL; return true; }
    if (isdigit((unsigned char)c) || c == '-') {
        char *end;
        v->t = J_NUM;
        v->num = strtoull(p->s, &end, 10);
        while (*end == '.' || *end == 'e' || *end == 'E' || *end == '+' || *end == '-' || isdigit((unsigned char)*end)) end++;
        p->s = end;
        return true;
    }
    p->err = "a value was expected";
    return false;
}

static const struct jv *jget(const struct jv *o, const char *key)
{
    if (!o || o->t != J_OBJ) return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->keys[i], key)) return &o->items[i];
    return NULL;
}

static const char *jstr(const struct jv *o, const char *key)
{
    const struct jv *v = jget(o, key);
    return v && v->t == J_STR ? v->str : NULL;
}

static unsigned long long jnum(const struct jv *o, const char *key)
{
    const struct jv *v = jget(o, key);
    return v && (v->t == J_NUM || v->t == J_BOOL) ? v->num : 0;
}

static void jfree(struct jv *v)
{
    for (size_t i = 0; i < v->n; i++) {
        jfree(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
}

/* One address of a report: the first of the JSON frames that share its pc. */
struct addr {
    const struct jv *frame;     /* first JSON frame of this pc */
    size_t njson;               /* JSON frames of this pc (inlined calls) */
    uint32_t first;             /* symbolised frames, when count > 0 */
    uint16_t count;
};

static int addr_by_module(const void *a, const void *b)
{
    const char *ma = jstr(((const struct addr *const *)a)[0]->frame, "module");
    const char *mb = jstr(((const struct addr *const *)b)[0]->frame, "module");
    return strcmp(ma ? ma : "", mb ? mb : "");
}

static void print_report(const struct jv *doc, const struct symz_tool *tool)
{
    const struct jv *groups = jget(doc, "groups");
    bool reclaimed = jstr(doc, "cowgc") && !strcmp(jstr(doc, "cowgc"), "reclaimed");
    const struct jv *summary = jget(doc, "summary"), *supp = jget(doc, "suppressed");
    char line[16384];
    /* Every address once, then one symbolizer run per module. */
    size_t naddr = 0, cap = 0;
    struct addr *addrs = NULL;
    for (size_t g = 0; groups && groups->t == J_ARR && g < groups->n; g++) {
        const struct jv *st = jget(&groups->items[g], "stack");
        for (size_t i = 0; st && st->t == J_ARR && i < st->n;) {
            size_t j = i + 1;
            const char *pc = jstr(&st->items[i], "pc");
            while (j < st->n && pc && jstr(&st->items[j], "pc") && !strcmp(pc, jstr(&st->items[j], "pc")) &&
                   jget(&st->items[j - 1], "inlined"))
                j++;
            if (naddr == cap) addrs = xrealloc(addrs, (cap = cap ? cap * 2 : 64) * sizeof *addrs);
            addrs[naddr++] = (struct addr){ &st->items[i], j - i, 0, 0 };
            i = j;
        }
    }
    struct symz_out out = { 0 };
    if (tool->kind != SYMZ_NONE && naddr) {
        struct addr **order = xrealloc(NULL, naddr * sizeof *order);
        for (size_t i = 0; i < naddr; i++) order[i] = &addrs[i];
        qsort(order, naddr, sizeof *order, addr_by_module);
        uint64_t *va = xrealloc(NULL, naddr * sizeof *va);
        const char **mods = xrealloc(NULL, naddr * sizeof *mods);
        uint32_t *first = xrealloc(NULL, naddr * sizeof *first);
        uint16_t *count = xrealloc(NULL, naddr * sizeof *count);
        size_t m = 0;                      /* the addresses of modules that can be read */
        for (size_t i = 0; i < naddr;) {
            const char *mod = jstr(order[i]->frame, "module");
            size_t j = i;
            while (j < naddr && !addr_by_module(&order[i], &order[j])) j++;
            if (mod && access(mod, R_OK) == 0) {
                uint64_t vbase = symz_file_vbase(mod);
                for (size_t k = i; k < j; k++) {
                    order[m] = order[k];
                    mods[m] = mod;
                    va[m++] = vbase + jnum(order[k]->frame, "module_offset");
                }
            }
            i = j;
        }
        if (symz_run_many(tool, mods, va, m, &out, first, count))
            for (size_t k = 0; k < m; k++) {
                order[k]->first = first[k];
                order[k]->count = count[k];
            }
        free(mods);
        free(order);
        free(va);
        free(first);
        free(count);
    }
    unsigned long long bytes = jnum(summary, "bytes"), nobj = jnum(summary, "count");
    if (nobj || reclaimed) {
        symz_text_banner(line, sizeof line, reclaimed, (int)jnum(doc, "pid"), jnum(doc, "collections"));
        fputs(line, stdout);
    }
    size_t a = 0;
    for (size_t g = 0; groups && groups->t == J_ARR && g < groups->n; g++) {
        const struct jv *gr = &groups->items[g], *st = jget(gr, "stack");
        symz_text_group(line, sizeof line, jstr(gr, "kind") ? jstr(gr, "kind") : "direct", jnum(gr, "bytes"),
                        jnum(gr, "count"));
        fputs(line, stdout);
        if (!st || st->t != J_ARR || !st->n) fputs("    (no allocation stack recorded)\n", stdout);
        unsigned idx = 0;
        for (size_t i = 0; st && st->t == J_ARR && i < st->n; a++) {
            const struct addr *ad = &addrs[a];
            const char *pc = jstr(ad->frame, "pc"), *mod = jstr(ad->frame, "module");
            unsigned long long moff = jnum(ad->frame, "module_offset");
            unsigned long long pcv = pc ? strtoull(pc, NULL, 16) : 0;
            bool known = false;
            for (uint16_t k = 0; k < ad->count; k++) {
                const struct symz_frame *f = &out.frames[ad->first + k];
                known = known || f->func || f->file;
            }
            if (known) {
                for (uint16_t k = 0; k < ad->count; k++) {
                    const struct symz_frame *f = &out.frames[ad->first + k];
                    const char *func = symz_str(&out, f->func);
                    /* the symbolizer may not know a function the report named from a symbol table */
                    if (!func && k + 1 == ad->count) func = jstr(&ad->frame[ad->njson - 1], "function");
                    symz_text_frame(line, sizeof line, idx++, pcv, func, symz_str(&out, f->file), f->line, f->col,
                                    mod, moff);
                    fputs(line, stdout);
                }
            } else {
                for (size_t k = 0; k < ad->njson; k++) {
                    const struct jv *f = &ad->frame[k];
                    symz_text_frame(line, sizeof line, idx++, pcv, jstr(f, "function"), jstr(f, "file"),
                                    (uint32_t)jnum(f, "line"), (uint32_t)jnum(f, "column"), mod, moff);
                    fputs(line, stdout);
                }
            }
            i += ad->njson;
        }
    }
    const struct jv *templ = jget(supp, "templates");
    if ((nobj || reclaimed) && templ && templ->t == J_ARR && templ->n) {
        symz_text_suppressions_head(line, sizeof line);
        fputs(line, stdout);
        for (size_t i = 0; i < templ->n; i++) {
            const struct jv *t = &templ->items[i];
            symz_text_suppression(line, sizeof line, jnum(t, "count"), jnum(t, "bytes"),
                                  jstr(t, "template") ? jstr(t, "template") : "?");
            fputs(line, stdout);
        }
        symz_text_suppressions_tail(line, sizeof line);
        fputs(line, stdout);
    }
    if (nobj || reclaimed) {
        symz_text_summary(line, sizeof line, reclaimed, bytes, nobj);
        fputs(line, stdout);
    }
    symz_out_free(&out);
    free(addrs);
}

static int symbolize_main(int argc, char **argv)
{
    const char *setting = getenv("COWGC_SYMBOLIZE"), *file = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strncmp(argv[i], "--symbolize=", 12)) setting = argv[i] + 12;
        else if (!strcmp(argv[i], "--symbolize") && i + 1 < argc) setting = argv[++i];
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("Usage: cowgc symbolize [--symbolize=0|1|PATH] [FILE]\n"
                   "Print the JSON leak reports in FILE (default: standard input) as text reports,\n"
                   "symbolising their frames with llvm-symbolizer or addr2line (--symbolize as\n"
                   "COWGC_SYMBOLIZE). Lines that are not JSON reports are skipped.\n");
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "cowgc symbolize: unknown option %s\nTry 'cowgc symbolize --help'.\n", argv[i]);
            return EXIT_USAGE;
        } else if (file) {
            fprintf(stderr, "cowgc symbolize: one FILE at most\n");
            return EXIT_USAGE;
        } else {
            file = argv[i];
        }
    }
    FILE *in = file && strcmp(file, "-") ? fopen(file, "r") : stdin;
    if (!in) {
        fprintf(stderr, "cowgc symbolize: %s: %s\n", file, strerror(errno));
        return 1;
    }
    struct symz_tool tool;
    symz_find_tool(setting && *setting ? setting : NULL, &tool);
    char *lineb = NULL;
    size_t cap = 0;
    ssize_t len;
    int reports = 0, lineno = 0, bad = 0;
    while ((len = getline(&lineb, &cap, in)) >= 0) {
        lineno++;
        const char *s = lineb;
        while (*s == ' ' || *s == '\t') s++;
        if (strncmp(s, "{\"cowgc\":", 9)) continue;
        struct jp p = { s, NULL };
        struct jv doc;
        if (!jvalue(&p, &doc) || doc.t != J_OBJ) {
            fprintf(stderr, "cowgc symbolize: %s:%d: not a report (%s)\n", file ? file : "stdin", lineno,
                    p.err ? p.err : "not an object");
            jfree(&doc);
            bad++;
            continue;
        }
        print_report(&doc, &tool);
        jfree(&doc);
        reports++;
    }
    free(lineb);
    if (in != stdin) fclose(in);
    if (!reports) {
        fprintf(stderr, "cowgc symbolize: no JSON leak report in %s\n", file ? file : "standard input");
        return 1;
    }
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "symbolize"))
        return symbolize_main(argc, argv);
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
