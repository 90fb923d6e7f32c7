/* policy.c -- when to collect: after max(COWGC_MIN_TRIGGER, COWGC_GROWTH x baseline) bytes of net growth.
 *
 * Net growth (bytes in use now minus bytes in use right after the last collection) is what
 * garbage can accumulate in: memory the program frees itself never needs a collection, so a
 * program that frees what it allocates is never interrupted however fast it churns.
 *
 * A forked child uses COWGC_FORK_GROWTH instead. What it inherited stays shared with its
 * parent and siblings for free, but every page of garbage it makes is private, and a prefork
 * server pays for it once per worker: a smaller budget trades collection time for memory.
 */
#include "collector.h"

static bool forked_child;

CHILD_PATH void policy_fork_child(void) { if (!forked_child) forked_child = true; }   /* no store, no fault */

uint64_t policy_threshold(uint64_t baseline)
{
    uint64_t grow = baseline / 1000 * (forked_child ? opt.fork_growth_permille : opt.growth_permille);
    return grow > opt.min_trigger ? grow : opt.min_trigger;
}
