/* hidelib.c -- a shared library that hides its pointer (XOR'd in a global), like libraries that store offsets. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KEY ((uintptr_t)0xa5a5a5a5a5a5a5a5ull)
#define SIZE 96

static uintptr_t hidden;   /* the only trace of the block */

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
