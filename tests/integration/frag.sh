#!/usr/bin/env bash
# frag.sh -- the fragmentation test (issue 11): glibc malloc-simple's pattern (it_frag), every
# free order, on the main thread and on a second thread, must keep the peak RSS under cowgc
# within 2x of the same run's under the libc allocator. A behavioural bound, not a timing: the
# live data is at most 100 KiB, so a heap that takes new spans instead of reusing freed slots
# shows up as megabytes.
#
# usage: frag.sh LIBCOWGC IT_FRAG [BLOCKS_PER_CASE]   (COWGC_* settings come from the environment)
set -u
lib=$1 prog=$2 per_case=${3:-1000000}
fail=0
for where in main thread; do
    for order in fifo lifo mixed; do
        plain=$(env -u LD_PRELOAD "$prog" "$where" "$order" "$per_case") || { echo "FAIL: plain run of $where $order"; fail=1; continue; }
        ours=$(LD_PRELOAD=$lib CGT_UNDER_COWGC=1 "$prog" "$where" "$order" "$per_case") || { echo "FAIL: cowgc run of $where $order"; fail=1; continue; }
        p=${plain#maxrss_kb } o=${ours#maxrss_kb }
        if [ "$o" -le $((2 * p)) ]; then verdict=ok; else verdict=FAIL; fail=1; fi
        echo "$verdict: $where $order: peak RSS $o KiB under cowgc, $p KiB under libc (limit $((2 * p)) KiB)"
    done
done
exit $fail
