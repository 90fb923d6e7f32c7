#!/usr/bin/env python3
"""root_bench.py -- root pages (COWGC_ROOT_PAGES, gen.c G10): rootpages.c keeps its old data in
its own 64 MiB anonymous mapping and makes young garbage; cowgc in collect mode with
generations, minor collections every 4 MiB of young data (COWGC_YOUNG_TRIGGER), scanning the
mapping whole (all) or only its pages written since the collection before (written); glibc as
the reference. One interleaved run, best of N.

  root_bench.py [--cowgc PATH/libcowgc.so] [--bindir DIR] [-n 3] [--args "64 20000"]
                [--format text|markdown|csv] [--output FILE]

Columns: wall and CPU time, minor page faults (the tracker's write faults land here), minor
collections, mean pause of all collections (two of them full, which scan everything), and
the root bytes the minor collections skipped as unwritten.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cowgc", help="path to libcowgc.so")
    ap.add_argument("--bindir", help="directory with rootpages and rsswrap")
    ap.add_argument("-n", "--repeat", type=int, default=3)
    ap.add_argument("--args", default="64 20000", help="rootpages arguments: TABLE_MIB REQUESTS")
    ap.add_argument("--format", choices=["text", "markdown", "csv"], default="text")
    ap.add_argument("--output")
    ap.add_argument("--timeout", type=float, default=600)
    a = ap.parse_args()
    bindir = bl.find_bindir(a.bindir, ["rootpages", "rsswrap"])
    lib = a.cowgc or os.path.join(bindir, "..", "..", "preload", "libcowgc.so")
    if not os.path.exists(lib):
        sys.exit("cannot find libcowgc.so; pass --cowgc")
    base = {"LD_PRELOAD": os.path.abspath(lib), "COWGC_MODE": "collect", "COWGC_GENERATIONAL": "on",
            "COWGC_YOUNG_TRIGGER": "4M"}
    cfgs = [("glibc", {}),
            ("cowgc, ROOT_PAGES=all", dict(base, COWGC_ROOT_PAGES="all")),
            ("cowgc, ROOT_PAGES=written", dict(base, COWGC_ROOT_PAGES="written"))]
    argv = [os.path.join(bindir, "rootpages")] + a.args.split()
    rsswrap = os.path.join(bindir, "rsswrap")
    best, failures = {}, []
    for r in range(a.repeat):
        for name, env in cfgs[r % len(cfgs):] + cfgs[:r % len(cfgs)]:
            run = bl.run_once(rsswrap, argv, env, a.timeout)
            if not run.ok:
                failures.append(bl.describe_failure(name, run))
                continue
            if name not in best or run.wall < best[name].wall:
                best[name] = run
    rows = []
    for name, _ in cfgs:
        b = best.get(name)
        if not b:
            rows.append([name] + ["failed"] * 6)
            continue
        res = b.result
        rows.append([name, bl.fmt(b.wall, ".3f"), bl.fmt(b.cpu, ".3f"), str(b.minflt),
                     res.get("minors", "-"), res.get("mean_pause_us", "-"), res.get("root_skipped_mib", "-")])
    out = [bl.render(["configuration", "wall s", "cpu s", "minor faults", "minor collections",
                      "mean pause us", "root MiB skipped"], rows, a.format,
                     "rootpages %s: old data in a 64 MiB mapping, best of %d" % (a.args, a.repeat))]
    return bl.finish(out, [], failures, a.output)


if __name__ == "__main__":
    sys.exit(main())
