#!/usr/bin/env python3
"""report.py -- turns demo/run's CSVs (mem.csv, rate.csv, forkbench.csv) into gnuplot PNGs and a summary table.

usage: report.py OUTDIR [--at N] [--no-plots]
  OUTDIR/mem.csv        smaps.py rows: one per process per burst (label = configuration)
  OUTDIR/rate.csv       config,requests,seconds,req_per_s,ok,errors,collections,pause_max_ms
  OUTDIR/forkbench.csv  gc,mark,heap_mib,before_kib,after_kib,delta_kib,delta_pct,collect_ms
Writes OUTDIR/plots/*.dat, OUTDIR/plots.gp, OUTDIR/*.png (if gnuplot is installed),
OUTDIR/summary.csv, and prints the summary (per-worker numbers after N requests, default: the
last burst) to stdout. Python 3 standard library only.
"""
import argparse
import csv
import os
import shutil
import subprocess
from collections import OrderedDict, defaultdict


def num(x, default=0.0):
    try:
        return float(x)
    except (TypeError, ValueError):
        return default


def load(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def mem_by_config(rows):
    """config -> requests -> list of worker rows; config -> master rows by requests."""
    workers = OrderedDict()
    masters = defaultdict(dict)
    for r in rows:
        cfg = r["label"]
        req = int(num(r["requests"]))
        workers.setdefault(cfg, OrderedDict())
        if r["role"] == "master":
            masters[cfg][req] = r
        else:
            workers[cfg].setdefault(req, []).append(r)
    return workers, masters


def write_plots(out, workers, rates):
    pdir = os.path.join(out, "plots")
    os.makedirs(pdir, exist_ok=True)
    gp = ['set terminal pngcairo size 1000,650 noenhanced' if gnuplot_has_cairo() else
          'set terminal png size 1000,650 noenhanced',
          'set datafile separator whitespace', 'set key outside right top', 'set grid',
          'set xlabel "requests to the server"']
    # Per configuration: each worker's private (USS) and shared MiB vs requests (Figures 1-2).
    for cfg, byreq in workers.items():
        # A worker re-forked mid-run gets its own line; order by first appearance.
        order = []
        for req, ws in byreq.items():
            for w in ws:
                if w["pid"] not in order:
                    order.append(w["pid"])
        plots = []
        for i, pid in enumerate(order):
            dat = os.path.join(pdir, f"mem_{cfg}_{i}.dat")
            with open(dat, "w") as f:
                f.write("# requests private_MiB shared_MiB heap_shared_pct\n")
                for req, ws in byreq.items():
                    for w in ws:
                        if w["pid"] == pid:
                            f.write(f"{req} {num(w['uss'])/1024:.2f} {num(w['shared'])/1024:.2f} "
                                    f"{num(w['heap_shared_pct'])}\n")
            plots.append(f'"{dat}" using 1:2 with linespoints pt 7 ps 0.5 lc {i+1} title "worker {i} private"')
            plots.append(f'"{dat}" using 1:3 with lines dt 2 lc {i+1} title "worker {i} shared"')
        if plots:
            gp += [f'set output "{os.path.join(out, "mem_" + cfg + ".png")}"',
                   f'set title "{cfg}: per-worker private (USS) and shared memory"',
                   'set ylabel "MiB"', 'set yrange [0:*]', "plot " + ", \\\n  ".join(plots)]
    # All configurations: mean per-worker private / shared MiB.
    for key, col, title, fname in (("uss", 2, "mean per-worker private memory (USS)", "fig1_private.png"),
                                   ("shared", 3, "mean per-worker shared memory", "fig2_shared.png"),
                                   ("heap_shared_pct", 4, "parent's heap pages still shared (%)", "fig4_heap_shared_pct.png")):
        plots = []
        for i, (cfg, byreq) in enumerate(workers.items()):
            dat = os.path.join(pdir, f"mean_{cfg}.dat")
            with open(dat, "w") as f:
                f.write("# requests mean_private_MiB mean_shared_MiB mean_heap_shared_pct\n")
                for req, ws in byreq.items():
                    n = len(ws) or 1
                    f.write(f"{req} {sum(num(w['uss']) for w in ws)/n/1024:.2f} "
                            f"{sum(num(w['shared']) for w in ws)/n/1024:.2f} "
                            f"{sum(num(w['heap_shared_pct']) for w in ws)/n:.2f}\n")
            plots.append(f'"{dat}" using 1:{col} with linespoints pt 7 ps 0.5 lc {i+1} title "{cfg}"')
        if plots:
            gp += [f'set output "{os.path.join(out, fname)}"', f'set title "{title}"',
                   'set ylabel "%s"' % ("%" if col == 4 else "MiB"), 'set yrange [0:*]',
                   "plot " + ", \\\n  ".join(plots)]
    # Requests/s vs request count (Figure 3).
    byc = OrderedDict()
    for r in rates:
        byc.setdefault(r["config"], []).append(r)
    plots = []
    for i, (cfg, rs) in enumerate(byc.items()):
        dat = os.path.join(pdir, f"rate_{cfg}.dat")
        with open(dat, "w") as f:
            f.write("# requests req_per_s\n")
            for r in rs:
                f.write(f"{r['requests']} {r['req_per_s']}\n")
        plots.append(f'"{dat}" using 1:2 with linespoints pt 7 lc {i+1} title "{cfg}"')
    if plots:
        gp += [f'set output "{os.path.join(out, "fig3_rps.png")}"', 'set title "throughput"',
               'set xlabel "requests in the run"', 'set ylabel "requests/s"', 'set yrange [0:*]',
               "plot " + ", \\\n  ".join(plots)]
    script = os.path.join(out, "plots.gp")
    with open(script, "w") as f:
        f.write("\n".join(gp) + "\n")
    if shutil.which("gnuplot"):
        r = subprocess.run(["gnuplot", script], capture_output=True, text=True)
        if r.returncode != 0:
            print("report.py: gnuplot failed:", r.stderr.strip()[-500:])
    else:
        print("report.py: gnuplot not installed; plot script left in", script)


_cairo = None


def gnuplot_has_cairo():
    global _cairo
    if _cairo is None:
        _cairo = False
        if shutil.which("gnuplot"):
            r = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
            _cairo = "pngcairo" in (r.stdout + r.stderr)
    return _cairo


def summary(out, workers, masters, rates, fb, at):
    cols = ["config", "requests", "workers", "worker_uss_mib", "worker_peak_uss_mib", "worker_shared_mib", "worker_rss_mib",
            "master_heap_mib", "heap_shared_pct", "anon_shared_pct", "req_per_s", "collections",
            "pause_max_ms"]
    rows = []
    rate_by = defaultdict(dict)
    for r in rates:
        rate_by[r["config"]][int(num(r["requests"]))] = r
    for cfg, byreq in workers.items():
        if not byreq:
            continue
        req = at if at in byreq else max(byreq)
        ws = byreq[req]
        n = len(ws) or 1
        m = masters[cfg].get(req, {})
        colls = [num(w["collections"], None) for w in ws]
        pauses = [num(w["pause_max_ms"], None) for w in ws]
        rr = rate_by.get(cfg, {})
        rps = "/".join(f"{num(rr[k]['req_per_s']):.0f}" for k in sorted(rr)) if rr else ""
        peak = defaultdict(float)          # each worker's largest USS over the bursts
        for q, wq in byreq.items():
            if q <= req:
                for w in wq:
                    peak[w["pid"]] = max(peak[w["pid"]], num(w["uss"]))
        rows.append(OrderedDict([
            ("config", cfg), ("requests", req), ("workers", len(ws)),
            ("worker_uss_mib", f"{sum(num(w['uss']) for w in ws)/n/1024:.1f}"),
            ("worker_peak_uss_mib", f"{sum(peak.values())/max(len(peak), 1)/1024:.1f}"),
            ("worker_shared_mib", f"{sum(num(w['shared']) for w in ws)/n/1024:.1f}"),
            ("worker_rss_mib", f"{sum(num(w['rss']) for w in ws)/n/1024:.1f}"),
            ("master_heap_mib", f"{num(m.get('heap_rss'))/1024:.1f}"),
            ("heap_shared_pct", f"{sum(num(w['heap_shared_pct']) for w in ws)/n:.1f}"),
            ("anon_shared_pct", f"{sum(num(w['anon_shared_pct']) for w in ws)/n:.1f}"),
            ("req_per_s", rps),
            ("collections", "" if None in colls else f"{sum(colls):.0f}"),
            ("pause_max_ms", "" if None in pauses else f"{max(pauses):.1f}"),
        ]))
    with open(os.path.join(out, "summary.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=cols)
        wr.writeheader()
        wr.writerows(rows)
    heads = {"config": "config", "requests": "reqs", "workers": "W", "worker_uss_mib": "USS MiB/wkr", "worker_peak_uss_mib": "peak USS MiB/wkr",
             "worker_shared_mib": "shared MiB/wkr", "worker_rss_mib": "RSS MiB/wkr",
             "master_heap_mib": "parent heap MiB", "heap_shared_pct": "heap still shared %",
             "anon_shared_pct": "anon shared %", "req_per_s": "req/s (" + "/".join(
                 str(k // 1000) + "k" if k >= 1000 else str(k) for k in sorted({int(num(r['requests'])) for r in rates})) + ")",
             "collections": "GCs since fork (all wkrs)", "pause_max_ms": "max pause ms"}
    if rows:
        widths = {c: max(len(heads[c]), *(len(str(r[c])) for r in rows)) for c in cols}
        print("  ".join(f"{heads[c]:>{widths[c]}}" for c in cols))
        for r in rows:
            print("  ".join(f"{str(r[c]):>{widths[c]}}" for c in cols))
    if fb:
        print()
        print("forkbench: one full collection in a child forked after the parent built the heap")
        print(f"{'gc':>16} {'heap MiB':>9} {'Private_Dirty before KiB':>25} {'after KiB':>10} "
              f"{'added KiB':>10} {'added % of heap':>16} {'collect ms':>11}")
        for r in fb:
            name = r["gc"] + (("/" + r["mark"]) if r.get("mark") else "")
            print(f"{name:>16} {r['heap_mib']:>9} {r['before_kib']:>25} {r['after_kib']:>10} "
                  f"{r['delta_kib']:>10} {r['delta_pct']:>16} {r['collect_ms']:>11}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--at", type=int, default=None)
    ap.add_argument("--no-plots", action="store_true")
    a = ap.parse_args()
    mem = load(os.path.join(a.out, "mem.csv"))
    rates = load(os.path.join(a.out, "rate.csv"))
    fb = load(os.path.join(a.out, "forkbench.csv"))
    workers, masters = mem_by_config(mem)
    if not a.no_plots:
        write_plots(a.out, workers, rates)
    summary(a.out, workers, masters, rates, fb, a.at)


if __name__ == "__main__":
    main()
