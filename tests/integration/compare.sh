#!/usr/bin/env bash
# compare.sh -- run one command twice, once plainly (the libc allocator) and once with cowgc
# preloaded, and compare what a user would see: stdout (bytes, by sha256) and the exit status.
#
# usage: compare.sh [--name N] [--setup 'SHELL CMD'] [--allow-cowgc-stderr] [--expect-collections]
#                   -- CMD [ARGS...]
#
#   The cowgc run gets LD_PRELOAD=$CGT_PRELOAD (required, must be a readable file), every
#   COWGC_* variable of our environment, and CGT_UNDER_COWGC=1 (our own C test programs use it to
#   insist that cowgc really is loaded). The plain run gets no LD_PRELOAD and no COWGC_* at all.
#   Only CMD and its children see LD_PRELOAD; this script and its helpers run without it.
#
#   Each run starts in a fresh empty directory (also its HOME and TMPDIR), stdin /dev/null,
#   LC_ALL=C, and is bounded by CGT_TIMEOUT seconds (default 100).
#   --setup runs a shell command once, without cowgc, in a shared directory whose path is
#   exported to both runs as CGT_SHARED; the string @SHARED@ in CMD/ARGS is replaced by it.
#   An empty CMD means "program not found": exit 77 (meson's SKIP).
#   --expect-collections (for a single process that allocates far more than COWGC_MIN_TRIGGER):
#   the cowgc run also gets COWGC_STATS=json:FILE; with COWGC_MODE=collect at least one
#   collection must have happened, with COWGC_MODE=off none.
#
# Fails (exit 1) when: the plain run did not exit 0 (every case is a correct program); exit
# statuses differ; stdouts differ; the cowgc run's stderr says the preload failed; or the cowgc run's stderr
# has lines starting with "cowgc" that the plain run's has not (an error report from cowgc
# about a correct program is a bug) -- unless --allow-cowgc-stderr.
set -u

name=""
setup=""
allow_cowgc_stderr=0
expect_collections=0
while [ $# -gt 0 ]; do
    case "$1" in
        --name) name=$2; shift 2 ;;
        --setup) setup=$2; shift 2 ;;
        --allow-cowgc-stderr) allow_cowgc_stderr=1; shift ;;
        --expect-collections) expect_collections=1; shift ;;
        --) shift; break ;;
        *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
if [ $# -eq 0 ]; then echo "compare.sh: no command" >&2; exit 2; fi
if [ -z "$1" ]; then
    echo "SKIP ${name}: the program is not installed (meson find_program found nothing)"
    exit 77
fi
[ -n "$name" ] || name=$(basename "$1")

preload=${CGT_PRELOAD:-}
if [ -z "$preload" ] || [ ! -r "$preload" ]; then
    echo "FAIL ${name}: CGT_PRELOAD='${preload}' is not a readable file (the library under test)"
    exit 1
fi
tmo=${CGT_TIMEOUT:-100}

work=$(mktemp -d "${TMPDIR:-/tmp}/cgt.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/shared" "$work/plain" "$work/cowgc"
export CGT_SHARED="$work/shared"

if [ -n "$setup" ]; then
    if ! (cd "$work/shared" && env -u LD_PRELOAD bash -c "$setup") >"$work/setup.log" 2>&1; then
        echo "FAIL ${name}: setup command failed: $setup"
        cat "$work/setup.log"
        exit 1
    fi
fi

args=()
for a in "$@"; do args+=("${a//@SHARED@/$work/shared}"); done

# The plain environment: ours minus LD_PRELOAD and every COWGC_* variable.
unset_plain=(-u LD_PRELOAD -u CGT_UNDER_COWGC)
while IFS='=' read -r var _; do
    case "$var" in COWGC_*) unset_plain+=(-u "$var") ;; esac
done < <(env)
cowgc_env=()
stats_json="$work/cowgc-stats.json"
[ "$expect_collections" = 1 ] && cowgc_env+=("COWGC_STATS=json:$stats_json")
while IFS= read -r kv; do
    case "$kv" in COWGC_*=*) cowgc_env+=("$kv") ;; esac
done < <(env)

# run KIND: runs the command in $work/KIND, writes KIND.out, KIND.err, KIND.rc, KIND.secs
run() {
    local kind=$1 dir="$work/$1" start end rc
    start=$(date +%s.%N)
    if [ "$kind" = plain ]; then
        (cd "$dir" && HOME="$dir" TMPDIR="$dir" LC_ALL=C \
            timeout -k 5 "$tmo" env "${unset_plain[@]}" "${args[@]}") \
            </dev/null >"$work/$kind.out" 2>"$work/$kind.err"
    else
        (cd "$dir" && HOME="$dir" TMPDIR="$dir" LC_ALL=C \
            timeout -k 5 "$tmo" env -u LD_PRELOAD LD_PRELOAD="$preload" CGT_UNDER_COWGC=1 \
            "${cowgc_env[@]}" "${args[@]}") </dev/null >"$work/$kind.out" 2>"$work/$kind.err"
    fi
    rc=$?
    end=$(date +%s.%N)
    echo "$rc" >"$work/$kind.rc"
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f\n", b - a }' >"$work/$kind.secs"
}

# shellcheck source=describe_rc.sh
. "$(dirname "${BASH_SOURCE[0]}")/describe_rc.sh"

run plain
run cowgc
prc=$(cat "$work/plain.rc"); crc=$(cat "$work/cowgc.rc")
psum=$(sha256sum <"$work/plain.out" | cut -c1-64); csum=$(sha256sum <"$work/cowgc.out" | cut -c1-64)

echo "case:    ${name}"
echo "command: ${args[*]}"
echo "cowgc:   LD_PRELOAD=${preload} ${cowgc_env[*]:-}"
echo "plain:   exit $(describe_rc "$prc"), $(wc -c <"$work/plain.out") stdout bytes, sha256 ${psum}, $(cat "$work/plain.secs")s"
echo "cowgc:   exit $(describe_rc "$crc"), $(wc -c <"$work/cowgc.out") stdout bytes, sha256 ${csum}, $(cat "$work/cowgc.secs")s"

problems=()
# Every case is a correct program: without cowgc it must succeed, or the comparison means nothing.
[ "$prc" = 0 ] || problems+=("the plain run (without cowgc) exited $(describe_rc "$prc"), not 0: the test itself is broken")
[ "$prc" = "$crc" ] || problems+=("exit status differs: plain $(describe_rc "$prc"), cowgc $(describe_rc "$crc")")
[ "$psum" = "$csum" ] || problems+=("stdout differs")
if grep -q "cannot be preloaded" "$work/cowgc.err"; then
    problems+=("the dynamic loader could not preload ${preload}")
fi
if [ "$expect_collections" = 1 ]; then
    if [ -s "$stats_json" ]; then
        ncoll=$(grep -o '"collections":[0-9]*' "$stats_json" | cut -d: -f2)
        echo "stats:   $(grep -oE '"(collections|reclaimed_blocks|pause_max_ns|mallocs|peak_mapped_bytes)":[0-9]*' "$stats_json" | tr '\n' ' ')"
        case "${COWGC_MODE:-}" in
            collect) [ "${ncoll:-0}" -gt 0 ] || problems+=("COWGC_MODE=collect, yet no collection happened: the run proved nothing") ;;
            off) [ "${ncoll:-0}" -eq 0 ] || problems+=("COWGC_MODE=off, yet $ncoll collections happened") ;;
        esac
    elif [ "$crc" = 0 ]; then
        problems+=("COWGC_STATS=json:$stats_json was not written")
    fi
fi
if [ "$allow_cowgc_stderr" = 0 ]; then
    # (COWGC_STATS=json:, which we asked for, also prints the text stats lines: not a complaint)
    new_lines=$(grep -i '^cowgc' "$work/cowgc.err" | grep -vxF -f <(grep -i '^cowgc' "$work/plain.err") |
        { if [ "$expect_collections" = 1 ]; then grep -v '^cowgc: stats: '; else cat; fi; } | head -20)
    [ -z "$new_lines" ] || problems+=("cowgc wrote to stderr about a program that is correct without it")
fi

if [ ${#problems[@]} -eq 0 ]; then
    echo "PASS ${name}"
    if [ -s "$work/cowgc.err" ]; then
        echo "--- cowgc run stderr (first 20 lines) ---"
        head -20 "$work/cowgc.err"
    fi
    exit 0
fi

for p in "${problems[@]}"; do echo "FAIL ${name}: $p"; done
if [ "$psum" != "$csum" ]; then
    echo "--- stdout diff, plain vs cowgc (first 40 lines) ---"
    if [ "$(wc -c <"$work/plain.out")" -lt 2000000 ] && [ "$(wc -c <"$work/cowgc.out")" -lt 2000000 ]; then
        diff "$work/plain.out" "$work/cowgc.out" | head -40
    else
        cmp "$work/plain.out" "$work/cowgc.out" | head -5
        echo "(large outputs; first differing line:)"
        diff "$work/plain.out" "$work/cowgc.out" | head -6 | cut -c1-300
    fi
fi
echo "--- cowgc run stderr (last 40 lines) ---"
tail -40 "$work/cowgc.err"
echo "--- plain run stderr (last 10 lines) ---"
tail -10 "$work/plain.err"
exit 1
