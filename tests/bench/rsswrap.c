/* rsswrap.c -- run a program and report its peak RSS and times, measured with wait4().
 *
 *   rsswrap [-e NAME=VALUE]... -- PROGRAM [ARGS...]
 *
 * Why not wait4() from the Python runner directly: Linux carries ru_maxrss across execve (the
 * exec'ing process's old address space counts), so a child forked from a 15 MiB Python
 * interpreter never reports less than ~15 MiB. This wrapper is small, so the floor it adds is
 * ~1 MiB. The -e settings (e.g. LD_PRELOAD) are applied to the program only, not to the wrapper.
 *
 * After the program ends, one line goes to stderr:
 *   RSSWRAP maxrss_kb=N wall_s=S utime_s=U stime_s=T minflt=F exit=E signal=G
 *   (minflt: the program's minor page faults, from the same rusage)
 * and the wrapper exits with the program's status (128+G when it died of a signal).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "-e") == 0 && i + 1 < argc) {
            char *kv = argv[++i], *eq = strchr(kv, '=');
            if (!eq) {
                fprintf(stderr, "rsswrap: bad -e %s\n", kv);
                return 127;
            }
            *eq = '\0';
            continue;   /* applied in the child below */
        }
        fprintf(stderr, "usage: rsswrap [-e NAME=VALUE]... -- PROGRAM [ARGS...]\n");
        return 127;
    }
    if (i + 1 >= argc) {
        fprintf(stderr, "usage: rsswrap [-e NAME=VALUE]... -- PROGRAM [ARGS...]\n");
        return 127;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("rsswrap: fork");
        return 127;
    }
    if (pid == 0) {
        for (int k = 1; k < i; k++)
            if (strcmp(argv[k], "-e") == 0) {
                char *name = argv[++k];
                setenv(name, name + strlen(name) + 1, 1);
            }
        execvp(argv[i + 1], argv + i + 1);
        fprintf(stderr, "rsswrap: exec %s: %s\n", argv[i + 1], strerror(errno));
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0)
        if (errno != EINTR) {
            perror("rsswrap: wait4");
            return 127;
        }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    fprintf(stderr, "RSSWRAP maxrss_kb=%ld wall_s=%.6f utime_s=%.6f stime_s=%.6f minflt=%ld exit=%d signal=%d\n",
            ru.ru_maxrss, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9,
            ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6,
            ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6, ru.ru_minflt, code, sig);
    return sig ? 128 + sig : code;
}
