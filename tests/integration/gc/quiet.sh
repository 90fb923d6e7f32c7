#!/usr/bin/env bash
# quiet.sh -- run a program; pass iff it exits 0 and its stderr says what is expected.
# usage: quiet.sh --none -- CMD...             stderr must be empty
#        quiet.sh --lines N REGEX -- CMD...    stderr must be exactly N lines, each matching REGEX
#        quiet.sh --some REGEX -- CMD...       stderr must have at least one line matching REGEX,
#                                              and every cowgc line must match it
#        quiet.sh --no REGEX -- CMD...         no stderr line may match REGEX
set -u
mode=$1; shift
n=0 re=''
case $mode in
    --none) ;;
    --lines) n=$1 re=$2; shift 2 ;;
    --some|--no) re=$1; shift ;;
    *) echo "quiet.sh: bad mode $mode"; exit 2 ;;
esac
[ "$1" = -- ] && shift
err=$(mktemp)
trap 'rm -f "$err"' EXIT
"$@" 2>"$err"
rc=$?
fail() { echo "FAIL: $*"; echo "--- stderr:"; cat "$err"; exit 1; }
[ "$rc" = 0 ] || fail "exit status $rc"
case $mode in
    --none) [ -s "$err" ] && fail "expected no message" ;;
    --lines)
        got=$(wc -l <"$err")
        [ "$got" = "$n" ] || fail "expected $n line(s), got $got"
        bad=$(grep -cvE "$re" "$err")
        [ "$bad" = 0 ] || fail "$bad line(s) do not match /$re/" ;;
    --some)
        grep -qE "$re" "$err" || fail "no line matches /$re/"
        bad=$(grep '^cowgc:' "$err" | grep -cvE "$re")
        [ "$bad" = 0 ] || fail "$bad cowgc line(s) do not match /$re/" ;;
    --no)
        grep -qE "$re" "$err" && fail "a line matches /$re/" ;;
esac
echo "ok"; cat "$err"
exit 0
