#!/usr/bin/env bash
# double_free.sh -- one line on stderr for a double free; with allocation stacks on it names the site.
set -u
lib=$1 prog=$2
out=$(COWGC_MODE=detect LD_PRELOAD="$lib" "$prog" 2>&1 >/dev/null)
rc=$?
lines=$(printf '%s\n' "$out" | grep -c 'double free')
if [ "$rc" != 0 ] || [ "$lines" != 1 ]; then
    echo "expected exit 0 and one double-free line, got exit $rc and:"; printf '%s\n' "$out"; exit 1
fi
printf '%s\n' "$out" | grep -q 'allocated at make_block+' || {
    echo "the report does not name the allocation site make_block:"; printf '%s\n' "$out"; exit 1; }
out=$(LD_PRELOAD="$lib" "$prog" 2>&1 >/dev/null)
printf '%s\n' "$out" | grep -q 'double free' || { echo "collect mode: no report"; exit 1; }
echo "ok: $out"
