/* policy.c -- when to collect: after max(COWGC_MIN_TRIGGER, COWGC_GROWTH x baseline) bytes of net growth.
 *
 * Net growth (bytes in use now minus bytes in use right after the last collection) is what
 * garbage can accumulate in: memory the program frees itself never needs a collection, so a
 * program that frees what it allocates is never interrupted however fast it churns.
 */
#include "collector.h"

uint64_t policy_threshold(uint64_t baseline)
{
    uint64_t grow = baseline / 1000 * opt.growth_permille;
    return grow > opt.min_trigger ? grow : opt.min_trigger;
}
