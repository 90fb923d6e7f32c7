#!/usr/bin/env python3
"""alloc_bench.py -- suite A: allocator workloads under glibc, jemalloc, mimalloc, tcmalloc and
cowgc (COWGC_MODE=off), in one interleaved run; best-of-N wall time and peak RSS (wait4, via
the rsswrap helper built next to the workloads).

  alloc_bench.py [--cowgc PATH/libcowgc.so] [--bindir DIR] [-n 3] [--format text|markdown|csv]
                 [--output FILE] [--workloads a,b] [--allocators glibc,mimalloc,...]
                 [--scale 1.0] [--timeout 300]

Targets (issue 11): cowgc no slower than glibc on any workload, geomean time at most 1.0x
mimalloc's, geomean peak RSS within 1.2x of mimalloc's.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

# name, program, args; the argument at index `scale_at` is the iteration count --scale multiplies
# (None: not scalable).
# Sized for ~0.3-1.5 s under glibc on a 2-core machine.
WORKLOADS = [
    ("churn-1t",  "churn",        ["1", "10000000", "20000", "8", "512"], 1),
    ("prodcons",  "prodcons",     ["1", "1000000", "16", "1024", "4096"], 1),
    ("larson",    "larson",       ["4", "1500000", "20000", "16", "1024", "4"], 1),
    ("realloc",   "realloc_grow", ["16", "20", str(1 << 20), "8192"], 1),
    ("churn-2t",  "churn",        ["2", "8000000", "20000", "8", "512"], 1),
    ("churn-8t",  "churn",        ["8", "2000000", "20000", "8", "512"], 1),
    ("large",     "large",        ["20000", "16", str(64 << 10), str(4 << 20)], 0),
    ("mstress",   "mstress",      ["8", "150000", "2000", "10"], 1),
    ("rptest",    "rptest",       ["8", "500", "1000", "8192"], 1),
    ("shbench",   "shbench",      ["4", "2000", "2000", "16", "1000"], 1),
    ("compiler",  "compiler",     ["120", "40", "60"], 0),
    ("gcbench-free", "gcbench_free", ["18", "16", "500000", "4", "16"], None),
    ("msimple-main",   "msimple", ["main", "1000000"], 1),
    ("msimple-thread", "msimple", ["thread", "1000000"], 1),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cowgc", help="path to libcowgc.so (run with COWGC_MODE=off)")
    ap.add_argument("--also", action="append", default=[], metavar="NAME=PATH",
                    help="another libcowgc.so to run in the same interleaved run (COWGC_MODE=off), "
                         "for example the build before a change: --also cowgc-before=OLD/libcowgc.so")
    ap.add_argument("--bindir", help="directory with the built workload programs")
    ap.add_argument("-n", "--repeat", type=int, default=3, help="runs per cell; best time is kept")
    ap.add_argument("--format", choices=["text", "markdown", "csv"], default="text")
    ap.add_argument("--output", help="also write the tables to this file")
    ap.add_argument("--workloads", help="comma-separated subset of: " + ",".join(w[0] for w in WORKLOADS))
    ap.add_argument("--allocators", help="comma-separated subset of: glibc,jemalloc,mimalloc,tcmalloc,cowgc (--also entries always run)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply iteration counts")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per run")
    ap.add_argument("-q", "--quiet", action="store_true", help="no per-run progress on stderr")
    a = ap.parse_args()

    workloads = WORKLOADS
    if a.workloads:
        want = a.workloads.split(",")
        unknown = set(want) - {w[0] for w in WORKLOADS}
        if unknown:
            sys.exit("unknown workloads: " + ",".join(sorted(unknown)))
        workloads = [w for w in WORKLOADS if w[0] in want]
    bindir = bl.find_bindir(a.bindir, ["rsswrap"] + sorted({w[1] for w in workloads}))
    rsswrap = os.path.join(bindir, "rsswrap")

    allocs, notes = [], []
    also = [tuple(x.split("=", 1)) for x in a.also]
    cands = list(bl.ALLOCATORS) + [("cowgc", a.cowgc)] + also
    for name, path in cands:
        # --allocators picks among the standard ones; --also entries are always run.
        if a.allocators and name not in a.allocators.split(",") and (name, path) not in also:
            continue
        if name == "cowgc" and not path:
            notes.append("cowgc: skipped (no --cowgc PATH given)")
            continue
        if path and not os.path.exists(path):
            notes.append("%s: skipped (%s not found)" % (name, path))
            continue
        env = {"LD_PRELOAD": os.path.abspath(path)} if path else {}
        if name == "cowgc" or any(name == x.split("=", 1)[0] for x in a.also):
            env["COWGC_MODE"] = "off"
        allocs.append((name, env))
    for n in notes:
        print("note: " + n, file=sys.stderr)
    if not allocs:
        sys.exit("no allocator to run")

    runs = {}   # (workload, alloc) -> [Run]
    for rep in range(a.repeat):
        for wname, prog, args, si in workloads:
            args = list(args)
            if si is not None:
                args[si] = str(max(1, int(int(args[si]) * a.scale)))
            argv = [os.path.join(bindir, prog)] + args
            k = rep % len(allocs)
            for aname, env in allocs[k:] + allocs[:k]:     # rotate the order each repetition
                r = bl.run_once(rsswrap, argv, env, a.timeout)
                runs.setdefault((wname, aname), []).append(r)
                if not a.quiet:
                    print("[%d/%d] %-9s %-9s %7.3fs %8.1f MiB  %s" % (
                        rep + 1, a.repeat, wname, aname, r.wall, r.maxrss_kb / 1024, r.status),
                        file=sys.stderr)

    names = [n for n, _ in allocs]
    best_t, rss, cpu = {}, {}, {}
    failures = []
    for wname, *_ in workloads:
        for aname in names:
            rs = runs[(wname, aname)]
            bad = [r for r in rs if not r.ok]
            for r in bad:
                failures.append(bl.describe_failure("%s under %s" % (wname, aname), r))
            good = [r for r in rs if r.ok]
            if bad:   # a cell with any failed run is reported as failed, not as its best time
                best_t[(wname, aname)] = rss[(wname, aname)] = cpu[(wname, aname)] = None
            else:
                best_t[(wname, aname)] = min(r.wall for r in good)
                cpu[(wname, aname)] = min(r.cpu for r in good)
                rss[(wname, aname)] = bl.median([r.maxrss_kb / 1024 for r in good])

    def ratio(d, w, x, y):
        return d[(w, x)] / d[(w, y)] if d.get((w, x)) and d.get((w, y)) else None

    pairs = [(x, y) for x, y in [("cowgc", "glibc"), ("cowgc", "jemalloc"), ("cowgc", "mimalloc"),
                                 ("cowgc", "tcmalloc")] + [("cowgc", x.split("=", 1)[0]) for x in a.also]
             if x in names and y in names]
    out = []
    for label, d, unit, spec in [("wall time, best of %d (s)" % a.repeat, best_t, "s", ".3f"),
                                 ("peak RSS, median of %d (MiB)" % a.repeat, rss, "MiB", ".1f"),
                                 ("CPU time user+sys, best of %d (s); steadier than wall time on a busy "
                                  "machine, spinning threads count" % a.repeat, cpu, "s", ".3f")]:
        headers = ["workload"] + names + ["%s/%s" % p for p in pairs]
        rows = []
        for wname, *_ in workloads:
            row = [wname] + [bl.fmt(d[(wname, n)], spec) if d[(wname, n)] is not None else "FAIL"
                             for n in names]
            row += [bl.fmt(ratio(d, wname, x, y), ".2f") for x, y in pairs]
            rows.append(row)
        gm = ["geomean"] + [bl.fmt(bl.geomean([d[(w[0], n)] for w in workloads]), spec) for n in names]
        gm += [bl.fmt(bl.geomean([ratio(d, w[0], x, y) for w in workloads]), ".2f") for x, y in pairs]
        rows.append(gm)
        out.append(bl.render(headers, rows, a.format, "Suite A -- " + label))

    if "cowgc" in names and a.format != "csv":
        verdict = []
        if "glibc" in names:
            slower = [w[0] for w in workloads if not (ratio(best_t, w[0], "cowgc", "glibc") or 9) <= 1.0]
            verdict.append("no workload slower than glibc: %s" % (
                "yes" if not slower else "NO (" + ", ".join(slower) + ")"))
        if "mimalloc" in names:
            g = bl.geomean([ratio(best_t, w[0], "cowgc", "mimalloc") for w in workloads])
            verdict.append("geomean time <= 1.0x mimalloc: %s (%s)" % (
                "yes" if g is not None and g <= 1.0 else "NO", bl.fmt(g, ".2f")))
            gc = bl.geomean([ratio(cpu, w[0], "cowgc", "mimalloc") for w in workloads])
            verdict.append("(CPU time: %s)" % bl.fmt(gc, ".2f"))
            gr = bl.geomean([ratio(rss, w[0], "cowgc", "mimalloc") for w in workloads])
            verdict.append("geomean peak RSS <= 1.2x mimalloc: %s (%s)" % (
                "yes" if gr is not None and gr <= 1.2 else "NO", bl.fmt(gr, ".2f")))
        out.append("Targets: " + "; ".join(verdict) + "\n")
    return bl.finish(out, notes, failures, a.output)


if __name__ == "__main__":
    sys.exit(main())
