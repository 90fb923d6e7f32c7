/* double_free.c -- a double free is reported once, with the block's allocation site when stacks are on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) char *make_block(void)
{
    char *p = malloc(40);
    strcpy(p, "twice");
    return p;
}

int main(void)
{
    char *p = make_block();
    free(p);
    free(p);                       /* the bug: reported, ignored */
    char *q = malloc(40);          /* the heap still works */
    strcpy(q, "after");
    puts(q);
    free(q);
    return 0;
}
