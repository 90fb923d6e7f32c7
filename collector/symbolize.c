/* symbolize.c -- code addresses to function, file:line and inlined frames, by a symbolizer program run at report time; the report's wording.
 *
 * Used by libcowgc's leak reports (inside the program, after the world is resumed) and by the
 * cowgc command (`cowgc symbolize`), so it follows libcowgc's rules:
 *  - No libc malloc and no stdio: everything lives in mmap'd buffers (struct symz_out grows with
 *    mremap; strings are referred to by offset, so growth never leaves a dangling pointer).
 *  - One symbolizer process per module and batch, never per address: the addresses go in through
 *    a memfd (written whole before the process starts, so it can neither block us nor be blocked
 *    by us), the answers come back through a pipe, read to its end.
 *  - The process is started with vfork + execve. Between the two the child only makes system
 *    calls (dup2, raw rt_sigaction, rt_sigprocmask): it shares our memory, and anything else
 *    (malloc, a lock, the program's signal handlers) could corrupt the program. All signals are
 *    blocked around vfork, and the child resets caught signals to SIG_DFL before unblocking.
 *  - The symbolizer runs without LD_PRELOAD, so it is never itself run under cowgc.
 * The report's words (banner, group headers, frames, summary) are LeakSanitizer's, with cowgc
 * as the tool's name; they are written here once for both users.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "collector.h"

extern char **environ;

/* ---- finding the symbolizer ---- */

static bool executable(const char *path)
{
    struct stat st;
    return access(path, X_OK) == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool search_path(const char *name, char *out, size_t n)
{
    const char *p = getenv("PATH");
    if (!p || !*p) p = "/usr/local/bin:/usr/bin:/bin";
    while (*p) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        if (len && fmt(out, n, "%.*s/%s", (int)len, p, name) < n - 1 && executable(out)) return true;
        p += len + (colon != NULL);
    }
    return false;
}

static enum symz_kind kind_of(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strstr(base, "addr2line") ? SYMZ_ADDR2LINE : SYMZ_LLVM;
}

bool symz_find_tool(const char *setting, struct symz_tool *t)
{
    t->kind = SYMZ_NONE;
    t->path[0] = 0;
    if (setting && !strcmp(setting, "0")) return false;
    if (setting && strcmp(setting, "1")) {
        if (!strchr(setting, '/')) {
            if (!search_path(setting, t->path, sizeof t->path)) {
                log_line("COWGC_SYMBOLIZE=%s: not found in PATH; frames get names from symbol tables only", setting);
                return false;
            }
        } else if (!executable(setting) || fmt(t->path, sizeof t->path, "%s", setting) >= sizeof t->path - 1) {
            log_line("COWGC_SYMBOLIZE=%s: not an executable file; frames get names from symbol tables only", setting);
            t->path[0] = 0;
            return false;
        }
        t->kind = kind_of(t->path);
        return true;
    }
    if (search_path("llvm-symbolizer", t->path, sizeof t->path)) t->kind = SYMZ_LLVM;
    else if (search_path("addr2line", t->path, sizeof t->path)) t->kind = SYMZ_ADDR2LINE;
    else t->path[0] = 0;
    return t->kind != SYMZ_NONE;
}

/* ---- growable mmap'd buffers ---- */

static bool grow(void **p, size_t *cap, size_t need)
{
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap : 1 << 16;
    while (nc < need) nc *= 2;
    void *np = *p ? mremap(*p, *cap, nc, MREMAP_MAYMOVE)
                  : mmap(NULL, nc, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (np == MAP_FAILED) return false;
    *p = np;
    *cap = nc;
    return true;
}

uint32_t symz_intern(struct symz_out *o, const char *s, size_t len)
{
    if (!o->text_len) {                      /* offset 0 means "none": keep it an empty string */
        if (!grow((void **)&o->text, &o->text_cap, 1)) return 0;
        o->text[0] = 0;
        o->text_len = 1;
    }
    if (o->text_len + len + 1 > UINT32_MAX || !grow((void **)&o->text, &o->text_cap, o->text_len + len + 1))
        return 0;
    uint32_t off = (uint32_t)o->text_len;
    memcpy(o->text + off, s, len);
    o->text[off + len] = 0;
    o->text_len += len + 1;
    return off;
}

bool symz_add_frame(struct symz_out *o, const struct symz_frame *f)
{
    if (!grow((void **)&o->frames, &o->frames_cap, (o->nframes + 1) * sizeof *o->frames)) return false;
    o->frames[o->nframes++] = *f;
    return true;
}

void symz_out_free(struct symz_out *o)
{
    if (o->text) munmap(o->text, o->text_cap);
    if (o->frames) munmap(o->frames, o->frames_cap);
    memset(o, 0, sizeof *o);
}

/* ---- running the symbolizer ---- */

struct ksigaction { void *handler; unsigned long flags; void *restorer; uint64_t mask; };

/* The vfork child: only system calls from here to execve. */
static __attribute__((noreturn, noinline)) void child(int in, int outw, int err, const char *path,
                                                       char *const argv[], char *const envp[],
                                                       const sigset_t *old)
{
    if (syscall(SYS_dup2, in, 0) < 0 || syscall(SYS_dup2, outw, 1) < 0 || syscall(SYS_dup2, err, 2) < 0)
        syscall(SYS_exit, 127);
    for (int sig = 1; sig < 65; sig++) {
        struct ksigaction ka;
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        if (syscall(SYS_rt_sigaction, sig, NULL, &ka, 8) != 0) continue;
        if (ka.handler == (void *)SIG_DFL || ka.handler == (void *)SIG_IGN) continue;
        struct ksigaction dfl = { (void *)SIG_DFL, 0, NULL, 0 };
        syscall(SYS_rt_sigaction, sig, &dfl, NULL, 8);
    }
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, old, NULL, 8);
    syscall(SYS_execve, path, argv, envp);
    syscall(SYS_exit, 127);
    __builtin_unreachable();
}

/* The fd moved above 2 (close-on-exec), so the child's dup2 onto 0, 1, 2 can neither be a
 * no-op that keeps close-on-exec nor overwrite another of its fds: a program may have closed
 * its standard descriptors. -1 stays -1. */
static int high_fd(int fd)
{
    if (fd < 0 || fd > 2) return fd;
    int h = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return h;
}

/* vfork with every signal blocked, so no handler of the program runs in the child. */
static __attribute__((noinline)) pid_t spawn(int in, int outw, int err, const char *path, char *const argv[],
                                             char *const envp[])
{
    sigset_t all, old;
    sigfillset(&all);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, 8);
    pid_t pid = vfork();
    if (pid == 0) child(in, outw, err, path, argv, envp, &old);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, 8);
    return pid;
}

/* The environment without LD_PRELOAD, in an mmap'd array (len bytes, *len set). */
static char **child_env(size_t *len)
{
    size_t n = 0;
    for (char **e = environ; e && *e; e++) n++;
    *len = (n + 1) * sizeof(char *);
    char **env = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (env == MAP_FAILED) return NULL;
    size_t k = 0;
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, "LD_PRELOAD=", 11) != 0) env[k++] = *e;
    env[k] = NULL;
    return env;
}

static bool write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        buf += w;
        len -= (size_t)w;
    }
    return true;
}

/* The addresses, one "0x..." per line (with mods: '"MODULE" 0x...'), in a memfd at offset 0. */
static int address_file(const char *const *mods, const uint64_t *addrs, size_t n)
{
    int fd = (int)syscall(SYS_memfd_create, "cowgc-symbolize", MFD_CLOEXEC);
    if (fd < 0) return -1;
    char buf[8192];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (len + 4200 > sizeof buf) {
            if (!write_all(fd, buf, len)) { close(fd); return -1; }
            len = 0;
        }
        if (mods) len += fmt(buf + len, sizeof buf - len, "\"%.4096s\" ", mods[i]);
        len += fmt(buf + len, sizeof buf - len, "0x%llx\n", (unsigned long long)addrs[i]);
    }
    if ((len && !write_all(fd, buf, len)) || lseek(fd, 0, SEEK_SET) != 0) { close(fd); return -1; }
    return fd;
}

#define QUIET_MS 120000       /* a symbolizer silent this long is stuck: give up on it */

/* Runs the tool on one module (module NULL: llvm-symbolizer, each line names its module);
 * its whole output lands in *buf (mmap'd, *cap bytes). */
static bool run_tool(const struct symz_tool *t, const char *module, const char *const *mods,
                     const uint64_t *addrs, size_t n, char **buf, size_t *cap, size_t *len)
{
    char obj[4200];
    char *argv[10];
    int k = 0;
    argv[k++] = (char *)t->path;
    if (t->kind == SYMZ_LLVM) {
        argv[k++] = "--inlines";
        argv[k++] = "--demangle";
        argv[k++] = "--output-style=LLVM";
        if (module) {
            if (fmt(obj, sizeof obj, "--obj=%s", module) >= sizeof obj - 1) return false;
            argv[k++] = obj;
        }
    } else {
        if (fmt(obj, sizeof obj, "%s", module) >= sizeof obj - 1) return false;
        argv[k++] = "-f";
        argv[k++] = "-i";
        argv[k++] = "-C";
        argv[k++] = "-a";
        argv[k++] = "-e";
        argv[k++] = obj;
    }
    argv[k] = NULL;
    size_t envlen;
    char **envp = child_env(&envlen);
    if (!envp) return false;
    int in = high_fd(address_file(module ? NULL : mods, addrs, n)), p[2] = { -1, -1 };
    int err = high_fd(open("/dev/null", O_WRONLY | O_CLOEXEC));
    bool ok = false;
    if (in < 0 || err < 0 || pipe2(p, O_CLOEXEC) != 0) goto out;
    p[0] = high_fd(p[0]);
    p[1] = high_fd(p[1]);
    if (p[0] < 0 || p[1] < 0) goto out;
    pid_t pid = spawn(in, p[1], err, t->path, argv, envp);
    close(p[1]);
    p[1] = -1;
    if (pid < 0) goto out;
    *len = 0;
    for (;;) {
        if (!grow((void **)buf, cap, *len + 65536)) break;
        struct pollfd pf = { p[0], POLLIN, 0 };
        int r = poll(&pf, 1, QUIET_MS);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { kill(pid, SIGKILL); break; }
        ssize_t got = read(p[0], *buf + *len, *cap - *len - 1);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) { ok = got == 0; break; }
        *len += (size_t)got;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (*buf) (*buf)[*len] = 0;
    ok = ok && *len > 0;
out:
    if (in >= 0) close(in);
    if (err >= 0) close(err);
    if (p[0] >= 0) close(p[0]);
    if (p[1] >= 0) close(p[1]);
    munmap(envp, envlen);
    return ok;
}

/* ---- parsing its answers ---- */

static char *next_line(char **cur)
{
    char *s = *cur;
    if (!s || !*s) return NULL;
    char *nl = strchr(s, '\n');
    if (nl) { *nl = 0; *cur = nl + 1; }
    else *cur = s + strlen(s);
    return s;
}

static uint32_t parse_uint(const char *s, const char **end)
{
    uint64_t v = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9' && v < UINT32_MAX) v = v * 10 + (unsigned)(*p++ - '0');
    if (end) *end = p;
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static bool all_digits(const char *s, size_t n)
{
    if (!n) return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

/* "file:line[:col][ (discriminator N)]" -> f->file, line, col; "??:0", "??:?" leave them unknown. */
static void parse_location(struct symz_out *o, char *s, struct symz_frame *f)
{
    char *disc = strstr(s, " (discriminator");
    if (disc) *disc = 0;
    size_t len = strlen(s);
    uint32_t nums[2] = { 0, 0 };
    int got = 0;
    while (got < 2) {
        char *c = memrchr(s, ':', len);
        if (!c || !all_digits(c + 1, len - (size_t)(c + 1 - s))) break;
        nums[got++] = parse_uint(c + 1, NULL);
        len = (size_t)(c - s);
    }
    if (got == 0) {                           /* "file:?" and the like */
        char *c = memrchr(s, ':', len);
        if (c) len = (size_t)(c - s);
    }
    f->line = got == 2 ? nums[1] : got == 1 ? nums[0] : 0;
    f->col = got == 2 ? nums[0] : 0;
    if (len && !(len == 2 && s[0] == '?' && s[1] == '?') && f->line) f->file = symz_intern(o, s, len);
}

static uint32_t func_name(struct symz_out *o, const char *s)
{
    size_t len = strlen(s);
    if (!len || (len == 2 && s[0] == '?' && s[1] == '?')) return 0;
    return symz_intern(o, s, len);
}

static bool is_address_line(const char *s)
{
    if (s[0] != '0' || s[1] != 'x' || !s[2]) return false;
    for (s += 2; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) return false;
    return true;
}

/* llvm-symbolizer: per address, (function, location) pairs then an empty line. */
static void parse_llvm(struct symz_out *o, char *text, size_t n, uint32_t *first, uint16_t *count)
{
    char *cur = text;
    for (size_t i = 0; i < n; i++) {
        first[i] = (uint32_t)o->nframes;
        count[i] = 0;
        char *fn;
        while ((fn = next_line(&cur)) && *fn) {
            char *loc = next_line(&cur);
            struct symz_frame f = { func_name(o, fn), 0, 0, 0 };
            if (loc) parse_location(o, loc, &f);
            if (count[i] < UINT16_MAX && symz_add_frame(o, &f)) count[i]++;
            if (!loc) break;
        }
        if (!fn) { for (i++; i < n; i++) count[i] = 0; return; }
    }
}

/* addr2line -a: per address, its "0x..." line, then (function, location) pairs. */
static void parse_addr2line(struct symz_out *o, char *text, size_t n, uint32_t *first, uint16_t *count)
{
    char *cur = text, *line = next_line(&cur);
    for (size_t i = 0; i < n; i++) {
        first[i] = (uint32_t)o->nframes;
        count[i] = 0;
        if (!line || !is_address_line(line)) { for (; i < n; i++) count[i] = 0; return; }
        while ((line = next_line(&cur)) && !is_address_line(line)) {
            char *loc = next_line(&cur);
            struct symz_frame f = { func_name(o, line), 0, 0, 0 };
            if (loc) parse_location(o, loc, &f);
            if (count[i] < UINT16_MAX && symz_add_frame(o, &f)) count[i]++;
            if (!loc) { line = NULL; break; }
        }
    }
}

bool symz_run(const struct symz_tool *t, const char *module, const uint64_t *addrs, size_t n,
              struct symz_out *o, uint32_t *first, uint16_t *count)
{
    for (size_t i = 0; i < n; i++) { first[i] = 0; count[i] = 0; }
    if (t->kind == SYMZ_NONE || !n) return false;
    char *buf = NULL;
    size_t cap = 0, len = 0;
    bool ok = run_tool(t, module, NULL, addrs, n, &buf, &cap, &len);
    if (ok) {
        if (t->kind == SYMZ_LLVM) parse_llvm(o, buf, n, first, count);
        else parse_addr2line(o, buf, n, first, count);
    }
    if (buf) munmap(buf, cap);
    return ok;
}

/* A name llvm-symbolizer can read back inside double quotes. */
static bool quotable(const char *s)
{
    for (; *s; s++)
        if (*s == '"' || *s == '\n' || *s == '\\') return false;
    return true;
}

bool symz_run_many(const struct symz_tool *t, const char *const *mods, const uint64_t *addrs, size_t n,
                   struct symz_out *o, uint32_t *first, uint16_t *count)
{
    for (size_t i = 0; i < n; i++) { first[i] = 0; count[i] = 0; }
    if (t->kind == SYMZ_NONE || !n) return false;
    bool one = t->kind == SYMZ_LLVM;             /* one process for every module, as LSan does */
    for (size_t i = 0; i < n && one; i++) one = quotable(mods[i]);
    if (one) {
        char *buf = NULL;
        size_t cap = 0, len = 0;
        bool ok = run_tool(t, NULL, mods, addrs, n, &buf, &cap, &len);
        if (ok) parse_llvm(o, buf, n, first, count);
        if (buf) munmap(buf, cap);
        return ok;
    }
    bool any = false;
    for (size_t i = 0; i < n;) {                  /* runs of one module: a process each */
        size_t j = i + 1;
        while (j < n && !strcmp(mods[j], mods[i])) j++;
        any |= symz_run(t, mods[i], addrs + i, j - i, o, first + i, count + i);
        i = j;
    }
    return any;
}

/* ---- the ELF file's link-time address of its first byte (module offset -> address) ---- */

uint64_t symz_file_vbase(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    Elf64_Ehdr eh;
    uint64_t base = 0;
    if (pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh && !memcmp(eh.e_ident, ELFMAG, SELFMAG) &&
        eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_phentsize == sizeof(Elf64_Phdr)) {
        for (unsigned i = 0; i < eh.e_phnum && i < 64; i++) {
            Elf64_Phdr ph;
            if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + i * sizeof ph)) != (ssize_t)sizeof ph) break;
            if (ph.p_type == PT_LOAD) {
                base = (ph.p_vaddr - ph.p_offset) & ~(uint64_t)0xfff;
                break;
            }
        }
    }
    close(fd);
    return base;
}

/* ---- function symbols of an ELF file (leak reports' names, COWGC_KEEP's leak: templates) ---- */

bool elf_map(const char *path, struct elf_file *f)
{
    *f = (struct elf_file){ 0 };
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > (off_t)sizeof(Elf64_Ehdr)) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p != MAP_FAILED) { f->map = p; f->len = (size_t)st.st_size; }
    }
    syscall(SYS_close, fd);
    if (!f->map) return false;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f->map;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) > f->len)
        return true;                       /* mapped, no symbols */
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(f->map + eh->e_shoff);
    /* .symtab has the static functions; a stripped file keeps only .dynsym. */
    for (unsigned want = SHT_SYMTAB; want; want = want == SHT_SYMTAB ? SHT_DYNSYM : 0)
        for (unsigned i = 0; i < eh->e_shnum; i++) {
            if (sh[i].sh_type != want || sh[i].sh_link >= eh->e_shnum) continue;
            const Elf64_Shdr *str = &sh[sh[i].sh_link];
            if (sh[i].sh_offset + sh[i].sh_size > f->len || str->sh_offset + str->sh_size > f->len) continue;
            f->syms = (const Elf64_Sym *)(f->map + sh[i].sh_offset);
            f->nsyms = sh[i].sh_size / sizeof(Elf64_Sym);
            f->strtab = f->map + str->sh_offset;
            f->strsz = str->sh_size;
            return true;
        }
    return true;
}

void elf_unmap(struct elf_file *f)
{
    if (f->map) munmap((void *)f->map, f->len);
    *f = (struct elf_file){ 0 };
}

const char *elf_func_name(const struct elf_file *f, const Elf64_Sym *s)
{
    unsigned t = ELF64_ST_TYPE(s->st_info);
    if ((t != STT_FUNC && t != STT_GNU_IFUNC) || s->st_shndx == SHN_UNDEF || !s->st_value ||
        s->st_name >= f->strsz || !memchr(f->strtab + s->st_name, 0, f->strsz - s->st_name))
        return NULL;
    return f->strtab + s->st_name;
}

/* ---- the report's words ---- */

size_t symz_text_banner(char *buf, size_t n, bool reclaimed, int pid, uint64_t collections)
{
    if (reclaimed)
        return fmt(buf, n, "\n=================================================================\n"
                           "==%d==cowgc: blocks reclaimed by the collector (%llu collections), by allocation stack\n",
                   pid, (unsigned long long)collections);
    return fmt(buf, n, "\n=================================================================\n"
                       "==%d==ERROR: cowgc: detected memory leaks\n", pid);
}

size_t symz_text_group(char *buf, size_t n, const char *kind, uint64_t bytes, uint64_t count)
{
    const char *head = !strcmp(kind, "direct") ? "Direct leak of" :
                       !strcmp(kind, "indirect") ? "Indirect leak of" : "Reclaimed by cowgc:";
    return fmt(buf, n, "\n%s %llu byte(s) in %llu object(s) allocated from:\n", head,
               (unsigned long long)bytes, (unsigned long long)count);
}

size_t symz_text_frame(char *buf, size_t n, unsigned idx, uint64_t pc, const char *func, const char *file,
                       uint32_t line, uint32_t col, const char *module, uint64_t module_off)
{
    /* LeakSanitizer's "    #%n %p %F %L": an unknown function leaves two spaces. */
    size_t len = fmt(buf, n, "    #%u 0x%llx ", idx, (unsigned long long)pc);
    len += func ? fmt(buf + len, n - len, "in %s ", func) : fmt(buf + len, n - len, " ");
    if (file && line && col) len += fmt(buf + len, n - len, "%s:%u:%u\n", file, line, col);
    else if (file && line) len += fmt(buf + len, n - len, "%s:%u\n", file, line);
    else if (module) len += fmt(buf + len, n - len, "(%s+0x%llx)\n", module, (unsigned long long)module_off);
    else len += fmt(buf + len, n - len, "(<unknown module>)\n");
    return len;
}

size_t symz_text_suppressions_head(char *buf, size_t n)
{
    return fmt(buf, n, "-----------------------------------------------------\n"
                       "Suppressions used:\n"
                       "  count      bytes template\n");
}

size_t symz_text_suppression(char *buf, size_t n, uint64_t count, uint64_t bytes, const char *templ)
{
    return fmt(buf, n, "%7llu %10llu %s\n", (unsigned long long)count, (unsigned long long)bytes, templ);
}

size_t symz_text_suppressions_tail(char *buf, size_t n)
{
    return fmt(buf, n, "-----------------------------------------------------\n");
}

size_t symz_text_summary(char *buf, size_t n, bool reclaimed, uint64_t bytes, uint64_t count)
{
    return fmt(buf, n, "\nSUMMARY: cowgc: %llu byte(s) %s in %llu allocation(s).\n", (unsigned long long)bytes,
               reclaimed ? "reclaimed" : "leaked", (unsigned long long)count);
}
