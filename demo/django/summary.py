#!/usr/bin/env python3
"""summary.py -- per-configuration summary of demo/django/run's CSVs, plus a requests/s bar chart.

usage: summary.py OUTDIR
Reads OUTDIR/mem.csv (a row per process per burst), mem_collect.csv (after a forced cowgc
collection in each worker, at the end), rate.csv (timed runs) and gcstats.csv (each worker's
/stats). Prints a table: per-worker USS / shared / PSS MiB right after fork and at the end, the
private growth, USS after a forced collection, req/s, cowgc collections and longest pause;
writes OUTDIR/summary_django.csv and OUTDIR/rps.png (gnuplot). Python 3 standard library only.
"""
import csv
import os
import shutil
import subprocess
import sys
from collections import OrderedDict, defaultdict


def num(x, d=0.0):
    try:
        return float(x)
    except (TypeError, ValueError):
        return d


def load(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def mean(xs):
    xs = list(xs)
    return sum(xs) / len(xs) if xs else 0.0


def main():
    out = sys.argv[1]
    mem = load(os.path.join(out, "mem.csv"))
    memc = load(os.path.join(out, "mem_collect.csv"))
    rates = {r["config"]: r for r in load(os.path.join(out, "rate.csv"))}
    gcs = defaultdict(list)
    for r in load(os.path.join(out, "gcstats.csv")):
        gcs[r["config"]].append(r)
    by = OrderedDict()
    masters = defaultdict(dict)
    for r in mem:
        req = int(num(r["requests"]))
        if r["role"] == "master":
            masters[r["label"]][req] = r
        else:
            by.setdefault(r["label"], OrderedDict()).setdefault(req, []).append(r)
    after = defaultdict(list)
    for r in memc:
        if r["role"] == "worker":
            after[r["label"]].append(r)
    rows = []
    for cfg, byreq in by.items():
        first, last = min(byreq), max(byreq)
        w0, w1 = byreq[first], byreq[last]
        m = masters[cfg].get(first, {})
        g_run = gcs.get(cfg, [])
        g_timed = gcs.get(cfg + "_timed", [])
        cow = any(num(g["cowgc"]) for g in g_run + g_timed)
        colls = sum(num(g["collections"]) for g in g_run + g_timed)
        pause = max([num(g["pause_max_ms"]) for g in g_run + g_timed] or [0])
        ac = after.get(cfg, [])
        rate = rates.get(cfg, {})
        rows.append(OrderedDict([
            ("config", cfg), ("requests", last), ("workers", len(w1)),
            ("master_rss_mib", f"{num(m.get('rss')) / 1024:.1f}"),
            ("uss0_mib", f"{mean(num(w['uss']) for w in w0) / 1024:.1f}"),
            ("uss_mib", f"{mean(num(w['uss']) for w in w1) / 1024:.1f}"),
            ("uss_growth_mib", f"{(mean(num(w['uss']) for w in w1) - mean(num(w['uss']) for w in w0)) / 1024:.1f}"),
            ("shared0_mib", f"{mean(num(w['shared']) for w in w0) / 1024:.1f}"),
            ("shared_mib", f"{mean(num(w['shared']) for w in w1) / 1024:.1f}"),
            ("pss_mib", f"{mean(num(w['pss']) for w in w1) / 1024:.1f}"),
            ("heap_shared_pct", f"{mean(num(w['heap_shared_pct']) for w in w1):.1f}"),
            ("uss_after_gc_mib", f"{mean(num(w['uss']) for w in ac) / 1024:.1f}" if ac and cow else "-"),
            ("heap_shared_after_gc_pct", f"{mean(num(w['heap_shared_pct']) for w in ac):.1f}" if ac and cow else "-"),
            ("req_per_s", rate.get("req_per_s", "")),
            ("collections", f"{colls:.0f}" if cow else "-"),
            ("pause_max_ms", f"{pause:.2f}" if cow else "-"),
            ("forced_pause_ms", f"{max(num(w['pause_max_ms']) for w in ac):.1f}" if ac and cow else "-"),
        ]))
    heads = OrderedDict([
        ("config", "config"), ("requests", "reqs"), ("workers", "W"), ("master_rss_mib", "master RSS"),
        ("uss0_mib", "USS@0"), ("uss_mib", "USS@end"), ("uss_growth_mib", "USS growth"),
        ("shared0_mib", "shared@0"), ("shared_mib", "shared@end"), ("pss_mib", "PSS@end"),
        ("heap_shared_pct", "heap shr%"), ("uss_after_gc_mib", "USS after GC"),
        ("heap_shared_after_gc_pct", "heap shr% after GC"), ("req_per_s", "req/s"),
        ("collections", "cowgc GCs"), ("pause_max_ms", "max pause ms"),
        ("forced_pause_ms", "forced GC pause ms")])
    with open(os.path.join(out, "summary_django.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(heads))
        wr.writeheader()
        wr.writerows(rows)
    print("per-worker means, MiB (USS = private; @0 = right after fork, before any request;")
    print("after GC = after a forced cowgc collection in every worker at the end; GCs = cowgc")
    print("collections in all workers since fork, burst run + timed run, max pause = their longest;")
    print("forced GC pause = longest pause in a worker, counting the forced collection)")
    if rows:
        w = {k: max(len(h), *(len(str(r[k])) for r in rows)) for k, h in heads.items()}
        print("  ".join(f"{h:>{w[k]}}" for k, h in heads.items()))
        for r in rows:
            print("  ".join(f"{str(r[k]):>{w[k]}}" for k in heads))
    # requests/s per configuration
    if rates and shutil.which("gnuplot"):
        dat = os.path.join(out, "plots", "rps_django.dat")
        os.makedirs(os.path.dirname(dat), exist_ok=True)
        with open(dat, "w") as f:
            for i, (cfg, r) in enumerate(rates.items()):
                f.write(f'{i} "{cfg}" {num(r["req_per_s"]):.1f}\n')
        gp = [
            "set terminal pngcairo size 800,500 noenhanced", f'set output "{os.path.join(out, "rps.png")}"',
            'set title "uWSGI + Django: requests/s (timed run)"', "set style fill solid 0.6",
            "set boxwidth 0.6", "set yrange [0:*]", "set grid y", 'set ylabel "requests/s"',
            f'plot "{dat}" using 1:3:xtic(2) with boxes notitle, "" using 1:3:(sprintf("%.0f",$3)) with labels offset 0,1 notitle']
        r = subprocess.run(["gnuplot"], input="\n".join(gp) + "\n", capture_output=True, text=True)
        if r.returncode:
            print("summary.py: gnuplot failed:", r.stderr[-300:])


if __name__ == "__main__":
    main()
