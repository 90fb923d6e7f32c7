/* log_fd_reuse.c -- a program that closes its descriptors and opens a data file on the number the log (COWGC_LOG or stderr) had: cowgc's lines, stats and leak reports never land in the data. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char DATA[] = "DATA: the program's own bytes\n";

/* A misuse cowgc reports on its log, whatever the mode; and a leak, which COWGC_MODE=detect
 * reports at exit. */
static void *volatile leaked;
static void log_something(void)
{
    void *volatile p = malloc(40);
    free(p);
    free(p);
    leaked = malloc(77);
    leaked = NULL;
}

static int open_data(const char *path, int flags)
{
    int fd = open(path, flags | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, DATA, sizeof DATA - 1) != (ssize_t)(sizeof DATA - 1))
        _exit(90);
    return fd;
}

/* The descriptor that names `path`, or -1. */
static int fd_of(const char *path)
{
    DIR *d = opendir("/proc/self/fd");
    int found = -1;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char link[300], target[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%s", de->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0) {
            target[n] = '\0';
            if (!strcmp(target, path))
                found = atoi(de->d_name);
        }
    }
    if (d)
        closedir(d);
    return found;
}

static int child(const char *how, const char *data, const char *log)
{
    if (!strcmp(how, "closeall")) {
        /* The daemon way: every descriptor from 3 up goes, then the data file is opened. */
        for (int fd = 3; fd < 65536; fd++)
            close(fd);
        open_data(data, O_RDWR);
    } else if (!strcmp(how, "reuse")) {
        /* The log's very number is made to name the data file. */
        int lfd = fd_of(log);
        if (lfd < 0)
            return 91;
        int dfd = open_data(data, O_RDWR);
        if (dup2(dfd, lfd) != lfd)
            return 92;
        close(dfd);
    } else if (!strcmp(how, "stderr")) {
        /* No COWGC_LOG: stderr is closed and the data file becomes fd 2. */
        close(2);
        if (open_data(data, O_RDWR) != 2)
            return 93;
    } else if (!strcmp(how, "stderr-append")) {
        /* stderr redirected to a log file of the program's: cowgc's lines go there too. */
        close(2);
        int fd = open(data, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
        if (fd != 2)
            return 94;
    } else {
        return 95;
    }
    log_something();
    return 0;       /* COWGC_STATS: the summary is written at exit */
}

static char *slurp(const char *path)
{
    static char buf[1 << 16];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return buf;
}

/* Run one case in a child (exec'd, so cowgc starts afresh with its environment). */
static int run(const char *self, const char *how, const char *dir, int use_log)
{
    char data[PATH_MAX], log[PATH_MAX];
    snprintf(data, sizeof data, "%s/%s.data", dir, how);
    snprintf(log, sizeof log, "%s/%s.log", dir, how);
    pid_t pid = fork();
    if (pid == 0) {
        if (use_log)
            setenv("COWGC_LOG", log, 1);
        else
            unsetenv("COWGC_LOG");
        setenv("COWGC_STATS", "1", 1);
        execl(self, self, "--child", how, data, log, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "log_fd_reuse %s: child failed (status %d)\n", how, status);
        return 1;
    }
    int bad = 0;
    const char *d = slurp(data);
    if (!strcmp(how, "stderr-append")) {
        if (!strstr(d, "cowgc: ") || !strstr(d, "double free")) {
            fprintf(stderr, "log_fd_reuse %s: the program's stderr log lacks cowgc's lines:\n%s\n", how, d);
            bad = 1;
        }
    } else if (strcmp(d, DATA) != 0) {
        fprintf(stderr, "log_fd_reuse %s: the data file was written to:\n%s\n", how, d);
        bad = 1;
    }
    const char *mode = getenv("COWGC_MODE");
    bool detect = mode && !strcmp(mode, "detect");
    if (use_log) {
        const char *l = slurp(log);
        if (!strstr(l, "double free") || !strstr(l, "stats: ") ||
            (detect && !strstr(l, "detected memory leaks"))) {
            fprintf(stderr, "log_fd_reuse %s: the log lacks the lines:\n%s\n", how, l);
            bad = 1;
        }
    }
    if (!bad)
        printf("log_fd_reuse %s: ok\n", how);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "--child"))
        return child(argv[2], argv[3], argv[4]);
    if (!dlsym(RTLD_DEFAULT, "cowgc_active")) {
        printf("log_fd_reuse: not under cowgc; skipped\n");
        return 77;
    }
    char dir[] = "/tmp/cowgc-logfd-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    int bad = 0;
    bad |= run(argv[0], "closeall", dir, 1);
    bad |= run(argv[0], "reuse", dir, 1);
    bad |= run(argv[0], "stderr", dir, 0);
    bad |= run(argv[0], "stderr-append", dir, 0);
    if (!bad) {
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "log_fd_reuse: could not remove %s\n", dir);
    }
    return bad;
}
