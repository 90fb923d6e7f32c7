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

#include <unistd.h>

/* The process that set the collector up (exec'd or started): any other pid is a forked child.
 * Compared, not flagged by the fork handler: a store there is a copy-on-write fault in every
 * child, most of which (a shell's command substitutions) never ask. */
static pid_t setup_pid;

void policy_init(void) { setup_pid = getpid(); }

static uint64_t threshold(uint64_t baseline, uint64_t permille)
{
    uint64_t grow = baseline / 1000 * permille;
    return grow > opt.min_trigger ? grow : opt.min_trigger;
}

bool policy_in_child(void) { return setup_pid && getpid() != setup_pid; }   /* (0: before gc_init) */

uint64_t policy_threshold(uint64_t baseline)
{
    return threshold(baseline, policy_in_child() ? opt.fork_growth_permille : opt.growth_permille);
}

/* No more than policy_threshold(baseline) in any process, and no system call: the caller asks
 * for the threshold itself (a getpid(), about 1 us in a VM; the trigger is checked every
 * 256 KiB of growth) only once growth has passed this one. */
uint64_t policy_floor(uint64_t baseline)
{
    uint64_t g = opt.growth_permille, f = opt.fork_growth_permille;
    return threshold(baseline, g < f ? g : f);
}
