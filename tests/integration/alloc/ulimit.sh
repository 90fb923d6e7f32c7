#!/usr/bin/env bash
# ulimit.sh -- programs that run under glibc with `ulimit -v KIB` run under cowgc too (issue 11,
# defect 4): same stdout and exit status as with glibc, in collect mode with collections forced
# (COWGC_MIN_TRIGGER=1M), in both mark layouts. cowgc says in one line what it gave up, and says
# nothing else; the programs that allocate enough must have collected (COWGC_STATS=json).
# usage: ulimit.sh LIB KIB
set -u
lib=$1 kib=$2
python=/usr/bin/python3 perl=/usr/bin/perl
dir=$(mktemp -d "${TMPDIR:-/tmp}/cowgc-ulimit.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
export LC_ALL=C PYTHONHASHSEED=0
awk 'BEGIN { x = 7; for (i = 0; i < 200000; i++) { x = (x * 1103515245 + 12345) % 2147483648;
     printf "%010d line %d\n", x % 1000003, i } }' >"$dir/in.txt"

# name|expect collections (1/0)|command
cases=(
    "ls|0|/bin/ls -l /usr/lib /usr/bin"
    "sort|0|/usr/bin/sort -k1,1n -k3,3n $dir/in.txt"
    "sort-parallel|0|/usr/bin/sort --parallel=2 -S 8M -r $dir/in.txt"
    "python|1|$python -c 'import sys
live = []
for r in range(60):
    garbage = [str(i) * 4 for i in range(20000)]
    live.append(garbage[::1000])
print(sum(len(x) for x in live), len(garbage))'"
    "perl|1|$perl -e 'my (\$t, @live) = (0);
for my \$r (1..60) { my @g = map { \"x\" x (\$_ % 100) } 1..20000; \$t += @g; push @live, \$g[7] }
print \"\$t \", scalar(@live), \"\\n\"'"
)

failures=0 ran=0
fail() { echo "FAIL [$kib KiB] $*"; failures=$((failures + 1)); }
for c in "${cases[@]}"; do
    name=${c%%|*}; rest=${c#*|}; want_gc=${rest%%|*}; cmd=${rest#*|}
    prog=${cmd%% *}
    if [ ! -x "$prog" ]; then echo "skip $name: $prog missing"; continue; fi
    ( ulimit -v "$kib"; PYTHONMALLOC=malloc eval "$cmd" ) >"$dir/ref.out" 2>"$dir/ref.err"
    ref_rc=$?
    if [ "$ref_rc" != 0 ]; then
        echo "skip $name: exit $ref_rc under glibc at $kib KiB"; cat "$dir/ref.err"; continue
    fi
    ran=$((ran + 1))
    for mark in outofline inline; do
        rm -f "$dir"/stats-*.json
        ( ulimit -v "$kib"
          PYTHONMALLOC=malloc COWGC_MODE=collect COWGC_MARK=$mark COWGC_MIN_TRIGGER=1M \
          COWGC_STATS="json:$dir/stats-%p.json" LD_PRELOAD=$lib eval "$cmd" ) >"$dir/out" 2>"$dir/err"
        rc=$?
        what="$name ($mark)"
        [ "$rc" = "$ref_rc" ] || fail "$what: exit $rc, glibc $ref_rc"
        cmp -s "$dir/out" "$dir/ref.out" || fail "$what: stdout differs from glibc's"
        # Exactly the one line, once per process.
        if grep -v '^cowgc: address space is limited ([0-9]* MiB, [0-9]* MiB in use at start-up): ' "$dir/err" |
           grep -q .; then
            fail "$what: unexpected messages"
        fi
        [ "$(grep -c '^cowgc: address space is limited' "$dir/err")" = 1 ] || fail "$what: not exactly one limits line"
        grep -q 'collections disabled' "$dir/err" && fail "$what: collections disabled"
        ncoll=0
        for f in "$dir"/stats-*.json; do
            [ -f "$f" ] || continue
            n=$(sed -n 's/.*"collections":\([0-9]*\).*/\1/p' "$f")
            ncoll=$((ncoll + ${n:-0}))
        done
        if [ "$want_gc" = 1 ] && [ "$ncoll" -lt 1 ]; then fail "$what: no collection ran"; fi
        echo "ok $what: $ncoll collection(s); $(head -c 300 "$dir/err")"
        [ "$failures" = 0 ] || { echo "--- stderr:"; cat "$dir/err"; echo "--- stdout (head):"; head -5 "$dir/out"; }
    done
done
[ "$failures" = 0 ] || exit 1
[ "$ran" -gt 0 ] || { echo "nothing ran"; exit 77; }
echo "all ok at $kib KiB ($ran programs)"
