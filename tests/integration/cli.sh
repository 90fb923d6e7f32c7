#!/usr/bin/env bash
# cli.sh COWGC LIBCOWGC PROBE -- the `cowgc` command as a user meets it, and a bad COWGC_MODE.
# PROBE prints "probe 999; cowgc_active: 1|0|not found" and exits with its argv[1].
set -u
cowgc=$1 lib=$2 probe=$3
fails=0
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

# check DESCRIPTION EXPECTED_RC [grep-stdout PATTERN] [grep-stderr PATTERN] -- CMD...
# (runs CMD with stdin /dev/null; PATTERNs are grep -E)
check() {
    local what=$1 want_rc=$2; shift 2
    local out_pat="" err_pat="" err_lines=""
    while [ "$1" != "--" ]; do
        case "$1" in
            stdout) out_pat=$2 ;;
            stderr) err_pat=$2 ;;
            stderr-lines) err_lines=$2 ;;
        esac
        shift 2
    done
    shift
    "$@" </dev/null >"$out" 2>"$err"
    local rc=$? bad=()
    [ "$rc" = "$want_rc" ] || bad+=("exit status $rc, want $want_rc")
    if [ -n "$out_pat" ] && ! grep -Eq -- "$out_pat" "$out"; then bad+=("stdout does not match /$out_pat/"); fi
    if [ -n "$err_pat" ] && ! grep -Eq -- "$err_pat" "$err"; then bad+=("stderr does not match /$err_pat/"); fi
    if [ -n "$err_lines" ] && [ "$(wc -l <"$err")" != "$err_lines" ]; then
        bad+=("stderr has $(wc -l <"$err") lines, want $err_lines")
    fi
    if [ ${#bad[@]} -eq 0 ]; then
        echo "ok   $what"
    else
        fails=$((fails + 1))
        echo "FAIL $what"
        echo "     command: $*"
        for b in "${bad[@]}"; do echo "     $b"; done
        echo "     --- stdout (first 15 lines)"; head -15 "$out" | sed 's/^/     | /'
        echo "     --- stderr (first 15 lines)"; head -15 "$err" | sed 's/^/     | /'
    fi
}

check "cowgc --help lists COWGC_MODE" 0 stdout 'COWGC_MODE' -- "$cowgc" --help
check "cowgc --mode=off -- true exits 0" 0 -- "$cowgc" --mode=off -- true
check "cowgc --mode=off passes the program's exit status" 7 -- "$cowgc" --mode=off -- "$probe" 7
check "cowgc -- PROGRAM really loads libcowgc (build tree)" 0 \
    stdout 'cowgc_active: 1$' -- "$cowgc" -- "$probe"
check "cowgc --mode=collect -- PROGRAM runs it under cowgc" 0 \
    stdout 'cowgc_active: 1$' -- "$cowgc" --mode=collect -- "$probe"
check "cowgc with an unknown flag exits 2" 2 -- "$cowgc" --no-such-flag -- true
check "cowgc --mode=bogus exits 2" 2 -- "$cowgc" --mode=bogus -- true
check "LD_PRELOAD alone: the program runs, silently" 0 stdout '^probe 999; cowgc_active: 1$' \
    stderr-lines 0 -- env LD_PRELOAD="$lib" "$probe"
check "bad COWGC_MODE: one stderr line naming COWGC_MODE, the program still runs" 0 \
    stdout '^probe 999; cowgc_active: 1$' stderr 'COWGC_MODE' stderr-lines 1 \
    -- env LD_PRELOAD="$lib" COWGC_MODE=bogus "$probe"
check "bad COWGC_MODE does not change the exit status" 5 stderr 'COWGC_MODE' \
    -- env LD_PRELOAD="$lib" COWGC_MODE=nonsense "$probe" 5

if [ "$fails" -gt 0 ]; then echo "$fails check(s) failed"; exit 1; fi
echo "all checks passed"
