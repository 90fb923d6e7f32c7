/* leak.c -- leak reports: what detect mode found unreachable and what collect mode reclaimed.
 *
 * Work in progress (issue 4): capture and grouped reports are not written yet. Until then,
 * detect mode runs one final collection at exit so the statistics count unreachable blocks.
 */
#include "collector.h"

bool leak_capture;

void leak_init(void) {}
void leak_on_alloc(void *p) { (void)p; }
void leak_note_reclaimed(uint32_t ci, unsigned word, uint64_t bits) { (void)ci; (void)word; (void)bits; }
void leak_at_exit(void)
{
    if (opt.mode == MODE_DETECT) gc_collect("exit");
}
