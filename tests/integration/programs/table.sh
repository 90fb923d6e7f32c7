#!/usr/bin/env bash
# table.sh -- run the 'programs' suite and print a results table (markdown): for each program
# and mode, PASS/FAIL, wall time and peak RSS against the plain run, collections; then every
# failure with its reason. Re-run it after merging fixes.
#
# usage: tests/integration/programs/table.sh [--user root|nobody|both] [--selfcheck] [-j N]
#                                            [meson test arguments, e.g. test names...]
#   BUILD_DIR (default: build)  the configured build directory (tests/run --build-only makes it)
#   --user     who runs the programs (default: both when we are root, else ourselves); nobody
#              means `setpriv --reuid=65534 --regid=65534 --clear-groups` as meson's test
#              wrapper: the source and build trees must be readable by nobody.
#   --selfcheck  first run every case twice plainly (no cowgc) and report cases whose output
#              varies on its own (such a case would prove nothing).
#   -j N       tests in parallel (default 2). Timings come from a shared, noisy machine: they
#              are for orientation, and no test passes or fails on them.
# The raw results (check.sh's tab-separated lines) are kept in BUILD_DIR/programs-results.tsv.
set -u -o pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
cd "$root" || exit 1
build=${BUILD_DIR:-build}
users="" selfcheck=0 jobs=2
while [ $# -gt 0 ]; do
    case "$1" in
        --user) users=$2; shift 2 ;;
        --selfcheck) selfcheck=1; shift ;;
        -j) jobs=$2; shift 2 ;;
        *) break ;;
    esac
done
if [ -z "$users" ] || [ "$users" = both ]; then
    if [ "$(id -u)" = 0 ]; then users="root nobody"; else users=$(id -un); fi
fi
[ -f "$build/build.ninja" ] || { echo "table.sh: $build is not a configured build directory (run tests/run --build-only)" >&2; exit 2; }
meson compile -C "$build" >/dev/null || { echo "table.sh: meson compile failed" >&2; exit 2; }

scratch=$(mktemp -d) || exit 1
trap 'rm -rf "$scratch"' EXIT
chmod 755 "$scratch"
results="$scratch/results.tsv"
: >"$results"
chmod 666 "$results"    # tests running as nobody append to it

if [ "$selfcheck" = 1 ]; then
    # The commands of the -off tests, with --mode plain: two plain runs each.
    meson introspect "$build" --tests | python3 -c '
import json, shlex, sys
for t in json.load(sys.stdin):
    if any(s.split(":")[-1] == "programs" for s in t["suite"]) and t["name"].endswith("-off"):
        cmd = ["plain" if a == "off" else a for a in t["cmd"]]
        env = " ".join(shlex.quote(k + "=" + v) for k, v in t["env"].items())
        print("env " + env + " " + " ".join(shlex.quote(a) for a in cmd))' >"$scratch/selfcheck.cmds"
    echo "table.sh: self-check, $(wc -l <"$scratch/selfcheck.cmds") cases run twice without cowgc" >&2
    CGT_RESULTS="$results" xargs -P "$jobs" -I{} -d '\n' bash -c '{} >/dev/null 2>&1' <"$scratch/selfcheck.cmds"
fi

for u in $users; do
    wrapper=()
    if [ "$u" != "$(id -un)" ]; then
        [ "$(id -u)" = 0 ] || { echo "table.sh: only root can run the suite as $u" >&2; exit 2; }
        uid=$(id -u "$u") gid=$(id -g "$u")
        wrapper=(--wrapper "setpriv --reuid=$uid --regid=$gid --clear-groups")
        if ! setpriv --reuid="$uid" --regid="$gid" --clear-groups test -r "$build/preload/libcowgc.so"; then
            echo "table.sh: $u cannot read $root/$build/preload/libcowgc.so: make the trees readable first" >&2
            exit 2
        fi
    fi
    echo "table.sh: running the programs suite as $u" >&2
    CGT_RESULTS="$results" meson test -C "$build" --suite programs --num-processes "$jobs" --no-rebuild \
        --logbase "programs-$u" "${wrapper[@]}" "$@" >"$scratch/meson-$u.log" 2>&1
    tail -8 "$scratch/meson-$u.log" | grep -E '^(Ok|Fail|Skipped|Timeout):' | tr -s ' ' | paste -sd' ' >&2
done
cp "$results" "$build/programs-results.tsv"

python3 - "$results" <<'EOF_PY'
import collections, sys
modes = ["off", "collect-outofline", "collect-inline", "detect"]
rows = collections.OrderedDict()
plain = {}
selfcheck = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if len(f) < 11:
        continue
    name, mode, user, res, ps, pr, cs, cr, ncoll, leaked, why = f[:11]
    if mode == "plain":
        selfcheck[name] = (res, why)
        continue
    rows.setdefault(user, collections.OrderedDict()).setdefault(name, {})[mode] = (res, ps, pr, cs, cr, ncoll, leaked, why)

def num(s):
    try:
        return float(s)
    except ValueError:
        return None

def cell(r):
    res, ps, pr, cs, cr, ncoll, leaked, why = r
    if res == "SKIP":
        return "skip"
    parts = []
    a, b = num(cs), num(ps)
    if a is not None and b:
        parts.append("%.1fx t" % (a / b))
    a, b = num(cr), num(pr)
    if a is not None and b:
        parts.append("%.1fx rss" % (a / b))
    if ncoll not in ("-", "0"):
        parts.append(ncoll + " gc")
    if leaked not in ("-", "0"):
        parts.append("%.0fK leak" % (int(leaked) / 1024))
    return ("**FAIL**" if res == "FAIL" else res) + (" " + ", ".join(parts) if parts else "")

def base(byname):
    for m in modes:
        if m in byname:
            _, ps, pr = byname[m][:3]
            p = num(pr)
            return "%ss, %s MB" % (ps, "%.0f" % (p / 1024) if p is not None else "-")
    return "-"

if selfcheck:
    bad = [n for n, (res, _) in selfcheck.items() if res != "PASS"]
    print("Self-check (two plain runs agree): %d of %d cases%s\n" % (len(selfcheck) - len(bad), len(selfcheck),
          ("; varying or failing: " + ", ".join(bad)) if bad else ""))
failures = []
for user, byname in rows.items():
    total = sum(len(v) for v in byname.values())
    npass = sum(1 for v in byname.values() for r in v.values() if r[0] == "PASS")
    print("### as %s: %d of %d passed\n" % (user, npass, total))
    print("| program | plain run | " + " | ".join(modes) + " |")
    print("|---|---|" + "---|" * len(modes))
    for name in sorted(byname):
        v = byname[name]
        print("| %s | %s | %s |" % (name, base(v), " | ".join(cell(v[m]) if m in v else "" for m in modes)))
        for m in modes:
            if m in v and v[m][0] == "FAIL":
                failures.append("%s %s-%s: %s" % (user, name, m, v[m][7]))
    print()
print("t, rss: the cowgc run's wall time and peak RSS (largest process) over the plain run's; gc: collections")
print("in all processes; leak: bytes detect mode reported at exit (programs that do not free everything).\n")
if failures:
    print("### failures\n")
    for f in failures:
        print("- " + f)
EOF_PY
