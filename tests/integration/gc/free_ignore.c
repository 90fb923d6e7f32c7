/* free_ignore.c -- COWGC_FREE=ignore: free() leaves a block the program still points to alone.
 *
 * A block freed while a global still points to it must keep its contents and must not be handed
 * out again: with frees honoured, the next malloc of the same size returns it at once (the
 * thread cache's LIFO), so this program fails unless free() is really ignored. Blocks freed
 * and forgotten are still reclaimed by the collector: the loop's garbage stays bounded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *volatile kept[64];

int main(void)
{
    for (int i = 0; i < 64; i++) {
        kept[i] = malloc(48);
        memset(kept[i], 'a' + i % 26, 48);
        free(kept[i]);                        /* still pointed to by kept[i] */
    }
    for (int round = 0; round < 20000; round++) {
        char *q = malloc(48);
        if (!q) { fprintf(stderr, "malloc failed\n"); return 1; }
        for (int i = 0; i < 64; i++)
            if (q == kept[i]) { fprintf(stderr, "a freed block still referenced was handed out again (round %d)\n", round); return 1; }
        memset(q, 'z', 48);
        free(q);                              /* forgotten: the collector's to reclaim */
    }
    for (int i = 0; i < 64; i++)
        for (int k = 0; k < 48; k++)
            if (kept[i][k] != 'a' + i % 26) { fprintf(stderr, "block %d was overwritten\n", i); return 1; }
    puts("ok");
    return 0;
}
