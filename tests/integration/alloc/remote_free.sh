#!/usr/bin/env bash
# remote_free.sh -- run remote_free CASE under cowgc: exit 0, "distinct" on stdout, and exactly one
# line on stderr, a double free report (for realloc: already freed) that names the block's address.
# usage: remote_free.sh LIB PROGRAM CASE   (COWGC_* variables pass through)
set -u
lib=$1 prog=$2 case=$3
err=$(mktemp) || exit 1
trap 'rm -f "$err"' EXIT
out=$(LD_PRELOAD="$lib" "$prog" "$case" 2>"$err")
rc=$?
fail() { echo "FAIL ($case): $*"; echo "--- stdout:"; printf '%s\n' "$out"; echo "--- stderr:"; cat "$err"; exit 1; }
[ "$rc" = 0 ] || fail "exit status $rc"
printf '%s\n' "$out" | grep -qx distinct || fail "blocks were not distinct"
addr=$(printf '%s\n' "$out" | sed -n 's/^p=//p')
[ -n "$addr" ] || fail "no address printed"
[ "$(wc -l <"$err")" = 1 ] || fail "expected exactly one line on stderr"
if [ "$case" = remote-realloc ] || [ "$case" = held-realloc ]; then
    grep -q "realloc($addr): the block was already freed" "$err" || fail "no report for $addr"
else
    grep -q "free($addr): double free" "$err" || fail "no double free report for $addr"
fi
echo "ok ($case):"; cat "$err"
