/* probe.c -- prints whether cowgc is loaded (found via dlsym, as an unmodified program would),
 * after doing some ordinary allocation. Used by the cowgc command tests. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    char *s = NULL;
    for (int i = 0; i < 1000; i++) {
        free(s);
        s = malloc((size_t)i + 16);
        snprintf(s, (size_t)i + 16, "probe %d", i);
    }
    int (*active)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "cowgc_active");
    printf("%s; cowgc_active: %s\n", s, active ? (active() ? "1" : "0") : "not found");
    free(s);
    return argc > 1 ? atoi(argv[1]) : 0;
}
