/* leakdso.c -- a dlopen'd library that leaks one 250-byte block from dso_leak_site. */
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) void *dso_leak_site(void)
{
    void *p = malloc(250);
    memset(p, 1, 250);
    return p;
}

void dso_leak(void) { dso_leak_site(); }
