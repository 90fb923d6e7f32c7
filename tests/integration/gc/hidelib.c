/* hidelib.c -- a shared library that hides its pointers (XOR'd in globals), like libraries that store offsets. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KEY ((uintptr_t)0xa5a5a5a5a5a5a5a5ull)
#define SIZE 90     /* not a size class: its end pointer cannot hold it */

static uintptr_t hidden, hidden_dup;   /* the only traces of the blocks */

/* The block points to `child`, which the caller allocated: kept blocks must be traced. */
void hide_alloc(void *child)
{
    void **p = malloc(SIZE);
    memset(p, 0x5a, SIZE);
    p[0] = child;
    hidden = (uintptr_t)p ^ KEY;
}

void *hide_block(void) { return (void *)(hidden ^ KEY); }
size_t hide_size(void) { return SIZE; }
void hide_free(void) { free((void *)(hidden ^ KEY)); }

/* A copy made by strdup (libc's entry point, cowgc's code): its caller is this library. */
void hide_dup(const char *s) { hidden_dup = (uintptr_t)strdup(s) ^ KEY; }
char *hide_dup_block(void) { return (char *)(hidden_dup ^ KEY); }
void hide_dup_free(void) { free((void *)(hidden_dup ^ KEY)); }
