/* ptrtest.c -- address to block, for free/realloc/malloc_usable_size; the ladder is ptr_test() in scanner.h.
 *
 * Invariant: O(1) and metadata only (I2); a pointer anywhere inside an allocated block, its inline
 * header included, maps to that block, and any other address maps to "not ours".
 */
#include "scanner.h"

bool heap_lookup(uintptr_t p, struct lookup *out)
{
    return ptr_test(p, out);
}
