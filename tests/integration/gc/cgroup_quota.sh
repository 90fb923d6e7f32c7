#!/bin/bash
# cgroup_quota.sh LIBCOWGC PAR_MARK -- helper markers follow the CPU quota of the process's cgroup.
#
# par_mark runs twice with COWGC_MARKERS unset (one marker per CPU available) and helpers allowed
# at once (MARKERS_MIN=0), each time in a cgroup of its own made for the test:
#   - quota of one CPU: cowgc says so in one verbose line ("CPUs available: 1 ...") and no
#     collection marks with helpers ("markers 1" in every collection line);
#   - quota of twice the CPUs affinity gives: no such line, and some collection used helpers.
# Uses cgroup v2's cpu.max when the unified hierarchy has the cpu controller, else v1's CFS
# files under /sys/fs/cgroup/cpu. Skips (77) unless root on a machine with at least 2 CPUs and
# a cpu controller it can write.
set -u
lib=$1 prog=$2
[ "$(id -u)" = 0 ] || { echo "skip: making a cgroup needs root"; exit 77; }
ncpu=$(nproc)
[ "$ncpu" -ge 2 ] || { echo "skip: $ncpu CPU available, no helpers either way"; exit 77; }

name=cowgc-quota-$$
if grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
    grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
    cg=/sys/fs/cgroup/$name kind=v2
elif [ -w /sys/fs/cgroup/cpu ]; then
    cg=/sys/fs/cgroup/cpu/$name kind=v1
else
    echo "skip: no writable cpu cgroup controller"; exit 77
fi
mkdir "$cg" || { echo "skip: cannot make $cg"; exit 77; }
out=$(mktemp)
trap 'rmdir "$cg" 2>/dev/null; rm -f "$out"' EXIT

set_quota() {   # CPUs
    if [ $kind = v2 ]; then echo "$(( $1 * 100000 )) 100000" > "$cg/cpu.max"
    else echo 100000 > "$cg/cpu.cfs_period_us" && echo $(( $1 * 100000 )) > "$cg/cpu.cfs_quota_us"; fi
}

run_in_cgroup() {
    bash -c 'echo $$ > "$1/cgroup.procs" && exec env LD_PRELOAD="$2" COWGC_MODE=collect COWGC_VERBOSE=1 \
             COWGC_MARKERS_MIN=0 COWGC_MIN_TRIGGER=512K COWGC_GROWTH=0.25 "$3" 91 12' _ "$cg" "$lib" "$prog" >"$out" 2>&1
}

fail=0
set_quota 1 || { echo "skip: cannot set a quota in $cg ($kind)"; exit 77; }
run_in_cgroup || { echo "FAIL: par_mark failed with a one-CPU quota ($kind):"; tail -5 "$out"; exit 1; }
if ! grep -q 'CPUs available: 1 ' "$out"; then echo "FAIL: no 'CPUs available: 1' line with a one-CPU quota ($kind)"; fail=1; fi
n1=$(grep -c 'cowgc: collection .*markers 1)' "$out")
nmore=$(grep -c 'cowgc: collection .*markers [2-9])' "$out")
echo "quota 1 CPU ($kind): $n1 collections with 1 marker, $nmore with helpers"
[ "$n1" -gt 0 ] && [ "$nmore" = 0 ] || { echo "FAIL: helpers ran under a one-CPU quota"; fail=1; }

set_quota $((2 * ncpu))
run_in_cgroup || { echo "FAIL: par_mark failed with a quota of $((2 * ncpu)) CPUs:"; tail -5 "$out"; exit 1; }
if grep -q 'CPUs available:' "$out"; then echo "FAIL: a quota above the CPU count was reported as a limit"; fail=1; fi
nmore=$(grep -c 'cowgc: collection .*markers [2-9])' "$out")
echo "quota $((2 * ncpu)) CPUs: $nmore collections with helpers"
[ "$nmore" -gt 0 ] || { echo "FAIL: no collection used helpers without a binding quota"; fail=1; }
[ $fail = 0 ] && echo "ok"
exit $fail
