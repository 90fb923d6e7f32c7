/* leak.c -- leak reports: what detect mode found unreachable and what collect mode reclaimed.
 *
 * Allocation stacks and grouped reports arrive with the leak-report work; until then the sweep
 * hook below only exists so that sweep.c has one place to tell about reclaimed blocks.
 */
#include "collector.h"

void leak_note_reclaimed(uint32_t ci, unsigned word, uint64_t bits)
{
    (void)ci; (void)word; (void)bits;
}
