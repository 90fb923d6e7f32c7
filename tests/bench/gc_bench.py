#!/usr/bin/env python3
"""gc_bench.py -- suite B: GCBench-style binary trees (gcbench.c), never freeing, under cowgc in
collect mode -- generational (COWGC_GENERATIONAL=on) and full (=off), out-of-line and inline
marks -- against the same workload built for Boehm GC, plain and with GC_enable_incremental
(Boehm's generational/incremental mode), in one interleaved run. Reference lines: the
explicit-free build under glibc, and the never-freeing build under glibc (no collector: shows
how much garbage the workload makes).

  gc_bench.py [--cowgc PATH/libcowgc.so] [--bindir DIR] [-n 3] [--format text|markdown|csv]
              [--output FILE] [--variants a,b] [--args "18 16 500000 4 16"] [--timeout 600]

Per variant: total wall time and CPU time (user+sys; best of N), collections (minor/full for
cowgc's generations), longest pause the collector reports, longest stall the program observed
(gcbench reads the clock every 256 allocations: the same measure for every collector, and the
one that sees Boehm's incremental steps), total pause, mark time, minor page faults (wait4;
write faults of a dirty-page tracker land here), peak RSS (wait4), marking throughput = MB of
live heap marked per second of marking (the program's own live set -- long-lived tree + array
-- times collections, over mark time; the same definition for every collector). Collector
counters come from the program itself (dlsym cowgc_get_stats / Boehm's collection events);
for cowgc, COWGC_STATS=json:PATH is requested too and used when the program found no
cowgc_get_stats. Boehm's incremental run says how Boehm tracks writes here (soft-dirty bits,
or mprotect when the kernel lacks them).
Each cowgc variant also runs as NAME-1marker, with COWGC_MARKERS=1: the collecting thread marks
alone, so the pair shows what the helper markers change.
Targets (issue 9), for cowgc-outofline-gen against each Boehm variant: time <= 0.8x, longest
pause (observed stall) <= 0.5x.
"""
import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def flatten(obj, out):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)):
                flatten(v, out)
            else:
                out.setdefault(k, v)
    elif isinstance(obj, list):
        for v in obj:
            flatten(v, out)
    return out


def read_json_stats(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None, "not written"
    try:
        return flatten(json.loads(text), {}), None
    except ValueError:
        # maybe one JSON object per line (e.g. one per process or per collection): use the last
        objs = []
        for line in text.splitlines():
            try:
                objs.append(json.loads(line))
            except ValueError:
                pass
        if objs:
            return flatten(objs[-1], {}), None
        return None, "not valid JSON: %r" % text[:200]


def metrics(r, json_path):
    """Numbers for one run: from the RESULT line, else from the COWGC_STATS JSON file."""
    m = {"wall": r.wall, "cpu": r.cpu, "rss": r.maxrss_kb / 1024, "src": "-", "flt": r.minflt}
    res = r.result
    f = lambda k: float(res[k]) if k in res else None  # noqa: E731
    prog_live = f("prog_live_bytes")
    m.update(stall=f("stall_max_ms"), minor=f("minor"), full=f("full"),
             inc=res.get("incremental"), prot=res.get("protection_needs"))
    if res.get("stats") == "1":
        m.update(src="program", gcs=f("collections"), pmax=f("pause_max_ms"),
                 ptot=f("pause_total_ms"), mark=f("mark_ms"), mbps=f("mark_mbps_prog"),
                 mbps_coll=f("mark_mbps_coll") or None, coll_live=f("coll_live_bytes") or None)
    if json_path:
        js, err = read_json_stats(json_path)
        m["json"] = err or "ok"
        if js and m["src"] == "-":
            g = lambda k: float(js[k]) if isinstance(js.get(k), (int, float)) else None  # noqa: E731
            gcs, mark = g("collections"), g("mark_ns")
            m.update(src="json", gcs=gcs,
                     pmax=g("pause_max_ns") / 1e6 if g("pause_max_ns") is not None else None,
                     ptot=g("pause_total_ns") / 1e6 if g("pause_total_ns") is not None else None,
                     mark=mark / 1e6 if mark is not None else None,
                     coll_live=g("live_bytes"))
            if gcs and mark and prog_live:
                m["mbps"] = prog_live * gcs / (mark * 1e-9) / 1e6
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cowgc", help="path to libcowgc.so")
    ap.add_argument("--bindir", help="directory with gcbench, gcbench_free, gcbench_boehm, rsswrap")
    ap.add_argument("-n", "--repeat", type=int, default=3)
    ap.add_argument("--format", choices=["text", "markdown", "csv"], default="text")
    ap.add_argument("--output", help="also write the table to this file")
    ap.add_argument("--variants", help="comma-separated subset of: boehm,boehm-incremental,"
                    "cowgc-outofline-gen,cowgc-outofline-full,cowgc-inline-gen,cowgc-inline-full,"
                    "the same with -1marker (COWGC_MARKERS=1),"
                    "glibc-free,glibc-nofree")
    ap.add_argument("--args", default="18 16 500000 4 16",
                    help="gcbench arguments: STRETCH LONGLIVED ARRAY MIN MAX (default: classic)")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args()

    bindir = bl.find_bindir(a.bindir, ["rsswrap", "gcbench"])
    rsswrap = os.path.join(bindir, "rsswrap")
    args = a.args.split()
    tmp = tempfile.mkdtemp(prefix="gcbench-")
    cand = []   # name, program, settings, wants json
    notes = []
    boehm = os.path.join(bindir, "gcbench_boehm")
    if os.path.exists(boehm):
        cand.append(("boehm", boehm, {}, False))
        cand.append(("boehm-incremental", boehm, {"GCBENCH_INCREMENTAL": "1"}, False))
    else:
        notes.append("boehm: skipped (gcbench_boehm not built: libgc-dev / bdw-gc not found)")
    if a.cowgc and os.path.exists(a.cowgc):
        for mark in ("outofline", "inline"):
            for gen, val in (("gen", "on"), ("full", "off")):
                cand.append(("cowgc-%s-%s" % (mark, gen), os.path.join(bindir, "gcbench"),
                             {"LD_PRELOAD": os.path.abspath(a.cowgc), "COWGC_MODE": "collect",
                              "COWGC_MARK": mark, "COWGC_GENERATIONAL": val}, True))
                # The same with the collecting thread marking alone (no helper markers).
                cand.append(("cowgc-%s-%s-1marker" % (mark, gen), os.path.join(bindir, "gcbench"),
                             {"LD_PRELOAD": os.path.abspath(a.cowgc), "COWGC_MODE": "collect",
                              "COWGC_MARK": mark, "COWGC_GENERATIONAL": val, "COWGC_MARKERS": "1"}, True))
    else:
        notes.append("cowgc: skipped (%s)" % ("%s not found" % a.cowgc if a.cowgc else "no --cowgc PATH given"))
    cand.append(("glibc-free", os.path.join(bindir, "gcbench_free"), {}, False))
    cand.append(("glibc-nofree", os.path.join(bindir, "gcbench"), {}, False))
    if a.variants:
        cand = [c for c in cand if c[0] in a.variants.split(",")]
    if not cand:
        sys.exit("no variant to run")

    runs = {}
    for rep in range(a.repeat):
        k = rep % len(cand)
        for name, prog, settings, wants_json in cand[k:] + cand[:k]:
            jp = None
            settings = dict(settings)
            if wants_json:
                jp = os.path.join(tmp, "%s-%d.json" % (name, rep))
                settings["COWGC_STATS"] = "json:" + jp
            r = bl.run_once(rsswrap, [prog] + args, settings, a.timeout)
            m = metrics(r, jp)
            runs.setdefault(name, []).append((r, m))
            if not a.quiet:
                print("[%d/%d] %-20s %7.3fs %8.1f MiB  gcs=%s pmax=%sms stall=%sms faults=%s  %s" % (
                    rep + 1, a.repeat, name, r.wall, r.maxrss_kb / 1024, bl.fmt(m.get("gcs"), ".0f"),
                    bl.fmt(m.get("pmax"), ".2f"), bl.fmt(m.get("stall"), ".2f"), bl.fmt(m.get("flt"), "d"),
                    r.status), file=sys.stderr)

    headers = ["variant", "time s", "cpu s", "collections", "minor/full", "max pause ms", "max stall ms",
               "total pause ms", "mark ms", "minor faults", "peak RSS MiB", "mark MB/s", "live MB (coll.)",
               "stats from"]
    rows, summary, failures = [], {}, []
    for name, *_ in cand:
        rs = runs[name]
        for r, _ in rs:
            if not r.ok:
                failures.append(bl.describe_failure(name, r))
        good = [m for r, m in rs if r.ok]
        if len(good) < len(rs):
            rows.append([name, "FAIL"] + ["-"] * (len(headers) - 2))
            summary[name] = None
            continue
        med = lambda k: bl.median([m.get(k) for m in good])  # noqa: E731
        s = {"wall": min(m["wall"] for m in good), "cpu": min(m["cpu"] for m in good), "gcs": med("gcs"), "pmax": med("pmax"),
             "ptot": med("ptot"), "mark": med("mark"), "rss": med("rss"), "mbps": med("mbps"),
             "coll_live": med("coll_live"), "stall": med("stall"), "flt": med("flt"),
             "minor": med("minor"), "full": med("full")}
        if name == "boehm-incremental":
            inc = sorted({(m.get("inc"), m.get("prot")) for m in good})
            notes.append("boehm-incremental: GC_is_incremental_mode()=%s, GC_incremental_protection_needs()=%s "
                         "(%s)" % ("/".join(str(i) for i, _ in inc), "/".join(str(p) for _, p in inc),
                                   "0 = soft-dirty bits, no protection" if inc and inc[0][1] == "0" else
                                   "1 = GC_PROTECTS_POINTER_HEAP: mprotect and write faults, soft-dirty "
                                   "unavailable" if inc and inc[0][1] == "1" else "?"))
        summary[name] = s
        src = sorted({m["src"] for m in good})
        js = sorted({m["json"] for m in good if "json" in m})
        mf = ("%.0f/%.0f" % (s["minor"], s["full"])) if s["minor"] or s["full"] else "-"
        rows.append([name, bl.fmt(s["wall"], ".3f"), bl.fmt(s["cpu"], ".3f"), bl.fmt(s["gcs"], ".0f"), mf,
                     bl.fmt(s["pmax"], ".2f"), bl.fmt(s["stall"], ".2f"),
                     bl.fmt(s["ptot"], ".1f"), bl.fmt(s["mark"], ".1f"), bl.fmt(s["flt"], ".0f"), bl.fmt(s["rss"], ".1f"),
                     bl.fmt(s["mbps"], ".0f"),
                     bl.fmt(s["coll_live"] / 1e6 if s["coll_live"] else None, ".1f"),
                     "/".join(src) + (" (json: %s)" % "/".join(js) if js else "")])
    out = [bl.render(headers, rows, a.format,
                     "Suite B -- gcbench %s: time best of %d, other columns median" % (" ".join(args), a.repeat))]
    if a.format != "csv":
        lines = []
        for name in ("cowgc-outofline-gen", "cowgc-outofline-full", "cowgc-inline-gen", "cowgc-inline-full",
                     "cowgc-outofline-gen-1marker", "cowgc-outofline-full-1marker"):
            c = summary.get(name)
            if name not in summary:
                continue
            for bname in ("boehm", "boehm-incremental"):
                b = summary.get(bname)
                if not c or not b:
                    lines.append("%s vs %s: n/a (%s)" % (name, bname, "cowgc failed" if not c else bname + " missing"))
                    continue
                parts = []
                for k, label, limit in [("wall", "time", 0.8), ("stall", "longest pause (stall)", 0.5),
                                        ("pmax", "longest pause (reported)", 0.5), ("cpu", "cpu", None),
                                        ("rss", "peak RSS", None)]:
                    if c.get(k) is None or b.get(k) is None or b[k] == 0:
                        parts.append("%s n/a" % label)
                        continue
                    rt = c[k] / b[k]
                    parts.append("%s %.2fx%s" % (label, rt, "" if limit is None else
                                                 " (target <= %.1fx: %s)" % (limit, "met" if rt <= limit else "MISS")))
                lines.append("%s vs %s: %s" % (name, bname, ", ".join(parts)))
        if lines:
            out.append("Targets (issue 9: time <= 0.8x Boehm's, longest pause <= 0.5x Boehm's):\n" +
                       "".join("  %s\n" % l for l in lines))
        out.append("mark MB/s = (long-lived tree + array bytes the program keeps live, %s MB) x "
                   "collections / mark time\n" % next(
                       (bl.fmt(float(r.result["prog_live_bytes"]) / 1e6, ".1f")
                        for rs in runs.values() for r, _ in rs if "prog_live_bytes" in r.result), "?"))
    return bl.finish(out, notes, failures, a.output)


if __name__ == "__main__":
    sys.exit(main())
