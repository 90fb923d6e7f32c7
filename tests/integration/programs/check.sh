#!/usr/bin/env bash
# check.sh -- one real program in one cowgc mode: run it plainly (the libc allocator, no
# LD_PRELOAD) and with libcowgc.so preloaded, and compare what a user sees.
#
# usage: check.sh --name N --mode MODE [--setup 'SHELL CMD'] [--expect-collections]
#                 -- CMD [ARGS...]
#
#   MODE: off | collect-outofline | collect-inline | detect, or plain: the case's self-check, two
#   plain runs that must agree (a case whose output varies from run to run proves nothing).
#   The mode decides the COWGC_* variables (below); COWGC_* variables already in our
#   environment are dropped, so a run is what its name says. The cowgc run gets
#   LD_PRELOAD=$CGT_PRELOAD (required), and every process of it writes
#   COWGC_STATS=json:STATSDIR/%p.json.
#   Each run starts in a fresh directory of its own (also HOME and TMPDIR), stdin /dev/null,
#   LC_ALL=C, PYTHONMALLOC=malloc, PYTHONHASHSEED=0, USE_ZEND_ALLOC=0, bounded by CGT_TIMEOUT
#   seconds (default 120). Scratch directories are world-readable (0755): a server whose
#   workers drop root privileges must still read its files. --setup runs once, without cowgc,
#   in a shared directory exported as CGT_SHARED (and substituted for @SHARED@ in CMD/ARGS);
#   inputs are made there. The command runs under /usr/bin/time (when installed) for wall
#   seconds and peak RSS (of the largest process).
#   An empty CMD means "program not installed": exit 77 (meson's SKIP).
#
# The mode fails (exit 1) when: the plain run did not exit 0 (every case is a correct program,
# so the test itself would be broken); the exit statuses differ; the stdouts differ; the loader
# could not preload the library; no process of the cowgc run wrote statistics although it exited
# 0 (cowgc was not there); the cowgc stderr has lines starting with "cowgc" that the plain one has
# not (other than the statistics lines); in detect mode, whose leak reports go to a log file
# (COWGC_LOG), that log has lines other than leak reports (reports are detect's job: programs do
# not free everything at exit, so they pass); with --expect-collections in a collect mode, no
# process collected; in mode off, any process collected.
#
# CGT_RESULTS=FILE: also append one tab-separated line per run (table.sh reads them):
#   name mode uid result plain_secs plain_rss_kb cowgc_secs cowgc_rss_kb collections leaked_bytes why
set -u

name="" mode="" setup="" expect_collections=0
while [ $# -gt 0 ]; do
    case "$1" in
        --name) name=$2; shift 2 ;;
        --mode) mode=$2; shift 2 ;;
        --setup) setup=$2; shift 2 ;;
        --expect-collections) expect_collections=1; shift ;;
        --) shift; break ;;
        *) echo "check.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ $# -gt 0 ] || { echo "check.sh: no command" >&2; exit 2; }
[ -n "$name" ] || name=$(basename "$1")
label="${name}-${mode}"

results=${CGT_RESULTS:-}
record() {   # record RESULT WHY
    [ -n "$results" ] || return 0
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$mode" "$(id -un 2>/dev/null || id -u)" "$1" \
        "${p_secs:--}" "${p_rss:--}" "${c_secs:--}" "${c_rss:--}" "${ncoll:--}" "${leaked:--}" "$2" >>"$results"
}

if [ -z "$1" ]; then
    echo "SKIP ${label}: the program is not installed"
    record SKIP "not installed"
    exit 77
fi

mode_env=()
case "$mode" in
    off) mode_env=(COWGC_MODE=off) ;;
    # A tiny trigger: many collections even in short runs.
    collect-outofline) mode_env=(COWGC_MODE=collect COWGC_MARK=outofline COWGC_MIN_TRIGGER=64K) ;;
    # Inline marks with helper markers in every collection that has work to share.
    collect-inline) mode_env=(COWGC_MODE=collect COWGC_MARK=inline COWGC_MIN_TRIGGER=64K COWGC_MARKERS=2 COWGC_MARKERS_MIN=0) ;;
    # Leak reports go to a log file of their own: a program may show its stderr on stdout.
    detect) mode_env=(COWGC_MODE=detect COWGC_LOG=@WORK@/stats/cowgc.log) ;;
    plain) ;;
    *) echo "check.sh: --mode must be off, collect-outofline, collect-inline, detect or plain" >&2; exit 2 ;;
esac

preload=${CGT_PRELOAD:-}
if [ -z "$preload" ] || [ ! -r "$preload" ]; then
    echo "FAIL ${label}: CGT_PRELOAD='${preload}' is not a readable file (the library under test)"
    record FAIL "CGT_PRELOAD not readable"
    exit 1
fi
tmo=${CGT_TIMEOUT:-120}
timer=/usr/bin/time
[ -x "$timer" ] || timer=""

work=$(mktemp -d "${TMPDIR:-/tmp}/cgp.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/shared" "$work/plain" "$work/cowgc" "$work/stats"
chmod 755 "$work" "$work/shared" "$work/plain" "$work/cowgc"
chmod 1777 "$work/stats"    # processes that drop privileges write their statistics too
mode_env=("${mode_env[@]//@WORK@/$work}")
: >"$work/stats/cowgc.log"
chmod 666 "$work/stats/cowgc.log"
export CGT_SHARED="$work/shared"

if [ -n "$setup" ]; then
    if ! (cd "$work/shared" && env -u LD_PRELOAD bash -c "$setup") >"$work/setup.log" 2>&1; then
        echo "FAIL ${label}: setup command failed: $setup"
        tail -20 "$work/setup.log"
        record FAIL "setup failed"
        exit 1
    fi
    chmod -R a+rX "$work/shared"
fi

args=()
for a in "$@"; do args+=("${a//@SHARED@/$work/shared}"); done

# Both runs: our environment less LD_PRELOAD, every COWGC_* variable, and MALLOC_PERTURB_ (which
# meson sets and which changes glibc's behaviour in the plain run).
clean=(-u LD_PRELOAD -u MALLOC_PERTURB_)
while IFS='=' read -r var _; do
    case "$var" in COWGC_*) clean+=(-u "$var") ;; esac
done < <(env)
# PYTHONMALLOC=malloc and USE_ZEND_ALLOC=0: CPython and PHP take every object from malloc.
common=(LC_ALL=C PYTHONMALLOC=malloc PYTHONHASHSEED=0 USE_ZEND_ALLOC=0)

# run KIND: KIND.out, KIND.err, KIND.rc, KIND.secs, KIND.rss (kB, or - without /usr/bin/time)
run() {
    local kind=$1 dir="$work/$1" start end rc extra=()
    [ "$kind" = cowgc ] && [ "$mode" != plain ] && extra=(LD_PRELOAD="$preload" "${mode_env[@]}" "COWGC_STATS=json:$work/stats/%p.json")
    start=$(date +%s.%N)
    if [ -n "$timer" ]; then
        (cd "$dir" && timeout -k 5 "$tmo" "$timer" -o "$work/$kind.time" -f '%e %M' \
            env "${clean[@]}" HOME="$dir" TMPDIR="$dir" "${common[@]}" "${extra[@]}" "${args[@]}") \
            </dev/null >"$work/$kind.out" 2>"$work/$kind.err"
    else
        (cd "$dir" && timeout -k 5 "$tmo" \
            env "${clean[@]}" HOME="$dir" TMPDIR="$dir" "${common[@]}" "${extra[@]}" "${args[@]}") \
            </dev/null >"$work/$kind.out" 2>"$work/$kind.err"
    fi
    rc=$?
    end=$(date +%s.%N)
    echo "$rc" >"$work/$kind.rc"
    if [ -n "$timer" ] && [ -s "$work/$kind.time" ] && [ "$rc" != 124 ] && [ "$rc" != 137 ]; then
        tail -1 "$work/$kind.time" | awk '{ print $1 > "'"$work/$kind.secs"'"; print $2 > "'"$work/$kind.rss"'" }'
    else
        awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f\n", b - a }' >"$work/$kind.secs"
        echo - >"$work/$kind.rss"
    fi
}

# shellcheck source=describe_rc.sh
. "$(dirname "${BASH_SOURCE[0]}")/../describe_rc.sh"

run plain
run cowgc
prc=$(cat "$work/plain.rc"); crc=$(cat "$work/cowgc.rc")
p_secs=$(cat "$work/plain.secs"); p_rss=$(cat "$work/plain.rss")
c_secs=$(cat "$work/cowgc.secs"); c_rss=$(cat "$work/cowgc.rss")
psum=$(sha256sum <"$work/plain.out" | cut -c1-64); csum=$(sha256sum <"$work/cowgc.out" | cut -c1-64)

# Statistics of every process of the cowgc run.
nstats=0 ncoll=0
for f in "$work"/stats/*.json; do
    [ -s "$f" ] || continue
    nstats=$((nstats + 1))
    n=$(grep -o '"collections":[0-9]*' "$f" | cut -d: -f2)
    ncoll=$((ncoll + ${n:-0}))
done
leaked=-
# The log of detect mode less its leak reports (their lines are known): what is left is a
# complaint, like a "cowgc" line on stderr.
leak_report='/^[=-]+$/ || /^==[0-9]+==ERROR: cowgc: detected memory leaks/ || /^cowgc: detected memory leaks/ || /^(Direct|Indirect) leak of/ || /^    #[0-9]+ / || /^    \(no allocation stack recorded/ || /^SUMMARY: cowgc:/ || /^Suppressed: / || /^Suppressions used:/ || /^ +count +bytes +template/ || /^ +[0-9]+ +[0-9]+ / || /^$/'
log_lines=""
if [ "$mode" = detect ]; then
    leaked=$(awk '/^SUMMARY: cowgc: [0-9]+ byte(\(s\))? leaked/ { s += $3 } END { print s + 0 }' "$work/stats/cowgc.log")
    # A hint about a library on COWGC_KEEP's built-in list (it hides pointers by design: that
    # is why it is listed) is expected whenever a collection falls between its allocation and
    # its free; a hint about anything else is a complaint like any other line.
    log_lines=$(awk "$leak_report { next } { print }" "$work/stats/cowgc.log" | grep -v '^cowgc: stats: ' |
        grep -v 'the program still used this block, .*; in collect mode COWGC_KEEP=libfontconfig ' | head -20)
fi

echo "case:    ${label}, as $(id -un 2>/dev/null || id -u)"
echo "command: ${args[*]}"
echo "cowgc:   LD_PRELOAD=${preload} ${mode_env[*]//$work/WORK} COWGC_STATS=json:WORK/stats/%p.json"
echo "plain:   exit $(describe_rc "$prc"), $(wc -c <"$work/plain.out") stdout bytes, sha256 ${psum}, ${p_secs}s, ${p_rss} kB peak RSS"
echo "cowgc:   exit $(describe_rc "$crc"), $(wc -c <"$work/cowgc.out") stdout bytes, sha256 ${csum}, ${c_secs}s, ${c_rss} kB peak RSS"
echo "stats:   ${nstats} processes wrote statistics, ${ncoll} collections in all$([ "$mode" = detect ] && echo ", ${leaked} bytes reported leaked")"

problems=()
[ "$prc" = 0 ] || problems+=("the plain run (without cowgc) exited $(describe_rc "$prc"), not 0: the test itself is broken")
[ "$prc" = "$crc" ] || problems+=("exit status differs: plain $(describe_rc "$prc"), cowgc $(describe_rc "$crc")")
[ "$psum" = "$csum" ] || problems+=("stdout differs")
grep -q "cannot be preloaded" "$work/cowgc.err" && problems+=("the dynamic loader could not preload ${preload}")
if [ "$nstats" = 0 ] && [ "$crc" = 0 ] && [ "$mode" != plain ]; then
    problems+=("no process wrote COWGC_STATS: was cowgc loaded at all?")
fi
case "$mode" in
    collect-*) if [ "$expect_collections" = 1 ] && [ "$ncoll" -eq 0 ] && [ "$nstats" -gt 0 ]; then
                   problems+=("collect mode, yet no process collected: the run proved nothing")
               fi ;;
    off) [ "$ncoll" -eq 0 ] || problems+=("COWGC_MODE=off, yet $ncoll collections happened") ;;
esac
new_lines=$(grep -i '^cowgc' "$work/cowgc.err" | grep -vxF -f <(grep -i '^cowgc' "$work/plain.err") |
    grep -v -e '^cowgc: stats: ' | head -20)
[ -z "$new_lines" ] || problems+=("cowgc wrote to stderr about a program that is correct without it: $(echo "$new_lines" | head -1)")
[ -z "$log_lines" ] || problems+=("cowgc logged more than leak reports about a program that is correct without it: $(echo "$log_lines" | head -1)")

if [ ${#problems[@]} -eq 0 ]; then
    echo "PASS ${label}"
    record PASS ""
    exit 0
fi

for p in "${problems[@]}"; do echo "FAIL ${label}: $p"; done
why=$(printf '%s; ' "${problems[@]}" | tr '\t\n' '  ')
record FAIL "${why%; }"
if [ "$psum" != "$csum" ]; then
    echo "--- stdout diff, plain vs cowgc (first 40 lines) ---"
    diff "$work/plain.out" "$work/cowgc.out" | head -40 | cut -c1-300
fi
echo "--- cowgc run stderr (last 40 lines) ---"
tail -40 "$work/cowgc.err" | cut -c1-300
if [ -n "$log_lines" ]; then
    echo "--- cowgc log of detect mode, leak reports left out (first 20 lines) ---"
    echo "$log_lines" | cut -c1-300
fi
echo "--- plain run stderr (last 10 lines) ---"
tail -10 "$work/plain.err" | cut -c1-300
exit 1
