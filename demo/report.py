#!/usr/bin/env python3
"""report.py -- turns demo/run's CSVs (mem.csv, rate.csv, forkbench.csv) into gnuplot PNGs and a summary table.

usage: report.py OUTDIR [--at N] [--no-plots]
  OUTDIR/mem.csv        smaps.py --cpu rows: one per process per burst (label = configuration)
  OUTDIR/rate.csv       config,requests,round,seconds,req_per_s,ok,errors,collections,
                        pause_max_ms,worker_cpu_s,gc_cpu_s,gc_cpu_pct,cpu_ms_per_req,minor,full
                        (one row per timed run; older files without round/cpu columns work too)
  OUTDIR/forkbench.csv  gc,mark,heap_mib,before_kib,after_kib,delta_kib,delta_pct,collect_ms
  OUTDIR/server_*.log.gc  cowgc's verbose log of each server: one line per collection
Writes OUTDIR/plots/*.dat, OUTDIR/plots.gp, OUTDIR/*.png (if gnuplot is installed),
OUTDIR/summary.csv, and prints the summary (per-worker memory after N requests, default: the
last burst; throughput and CPU over all timed runs) and the issue's targets for the
generational collector to stdout. Python 3 standard library only.
"""
import argparse
import csv
import glob
import os
import re
import shutil
import statistics
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


PALETTE = ["#9400d3", "#009e73", "#56b4e9", "#e69f00", "#f0e442", "#0072b2", "#e51e10", "#000000",
           "#8b4513", "#ff69b4", "#708090", "#2e8b57"]


def color(i):
    return PALETTE[i % len(PALETTE)]


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
            plots.append(f'"{dat}" using 1:2 with linespoints pt 7 ps 0.5 lc rgb "{color(i)}" title "worker {i} private"')
            plots.append(f'"{dat}" using 1:3 with lines dt 2 lc rgb "{color(i)}" title "worker {i} shared"')
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
            plots.append(f'"{dat}" using 1:{col} with linespoints pt 7 ps 0.5 lc rgb "{color(i)}" title "{cfg}"')
        if plots:
            gp += [f'set output "{os.path.join(out, fname)}"', f'set title "{title}"',
                   'set ylabel "%s"' % ("%" if col == 4 else "MiB"), 'set yrange [0:*]',
                   "plot " + ", \\\n  ".join(plots)]
    # The collector's share of the workers' CPU so far, after each burst of the memory run
    # (Figure 6): the start-up collections of each worker against the steady state.
    plots = []
    for i, (cfg, byreq) in enumerate(workers.items()):
        pts = []
        for req, ws in byreq.items():
            gc = sum(num(w.get("gc_cpu_ms")) for w in ws)
            pc = sum(num(w.get("process_cpu_ms")) for w in ws)
            if pc > 0:
                pts.append((req, 100.0 * gc / pc))
        if not pts:
            continue
        dat = os.path.join(pdir, f"gcshare_{cfg}.dat")
        with open(dat, "w") as f:
            f.write("# requests gc_pct_of_worker_cpu_so_far\n")
            for req, v in pts:
                f.write(f"{req} {v:.2f}\n")
        plots.append(f'"{dat}" using 1:2 with linespoints pt 7 ps 0.5 lc rgb "{color(i)}" title "{cfg}"')
    if plots:
        gp += [f'set output "{os.path.join(out, "fig6_gc_share.png")}"',
               'set title "collector share of the workers\' CPU since they forked (memory run)"',
               'set ylabel "%"', 'set yrange [0:100]', "plot " + ", \\\n  ".join(plots)]
    # Requests/s vs request count (Figure 3), the median over rounds.
    timed = timed_by_config(rates)
    plots = []
    for i, (cfg, t) in enumerate(timed.items()):
        dat = os.path.join(pdir, f"rate_{cfg}.dat")
        with open(dat, "w") as f:
            f.write("# requests req_per_s\n")
            for n, v in t["rps_med"].items():
                f.write(f"{n} {v}\n")
        plots.append(f'"{dat}" using 1:2 with linespoints pt 7 lc rgb "{color(i)}" title "{cfg}"')
    if plots:
        gp += [f'set output "{os.path.join(out, "fig3_rps.png")}"', 'set title "throughput"',
               'set xlabel "requests in the run"', 'set ylabel "requests/s"', 'set yrange [0:*]',
               "plot " + ", \\\n  ".join(plots)]
    # Per configuration: the collector's share of the workers' CPU, the workers' CPU per
    # request, and requests/s over all timed runs (Figure 5).
    if timed:
        dat = os.path.join(pdir, "cpu.dat")
        with open(dat, "w") as f:
            f.write("# config gc_pct_of_worker_cpu worker_cpu_ms_per_req req_per_s gc_label\n")
            for cfg, t in timed.items():
                g = t["gc_pct"]
                f.write(f'"{cfg}" {g if g is not None else 0:.2f} '
                        f'{t["cpu_ms_req"] or 0:.4f} {t["rps_all"]:.1f} "{f1(g) if g is not None else "-"}"\n')
        gp += [f'set output "{os.path.join(out, "fig5_gc_cpu.png")}"',
               'set terminal %s size 1100,1200 noenhanced' % ("pngcairo" if gnuplot_has_cairo() else "png"),
               'set multiplot layout 3,1 title "collector share of worker CPU, worker CPU per request, '
               'requests/s (all timed runs)"',
               'unset key', 'set style data histograms', 'set style fill solid 0.7 border -1',
               'set boxwidth 0.8', 'set xtics rotate by -20 scale 0', 'unset xlabel', 'set yrange [0:*]',
               'set offsets 0, 0, graph 0.12, 0',
               'set title "GC % of worker CPU"', 'set ylabel "%"',
               f'plot "{dat}" using 2:xtic(1) lc 1, "" using 0:2:5 with labels offset 0,0.7',
               'set title "worker CPU ms per request"', 'set ylabel "ms"',
               f'plot "{dat}" using 3:xtic(1) lc 2, "" using 0:3:(sprintf("%.3f", $3)) with labels offset 0,0.7',
               'set title "requests/s"', 'set ylabel "requests/s"',
               f'plot "{dat}" using 4:xtic(1) lc 3, "" using 0:4:(sprintf("%.0f", $4)) with labels offset 0,0.7',
               'unset multiplot', 'set xtics norotate', 'unset style', 'set offsets 0, 0, 0, 0',
               'set terminal %s size 1000,650 noenhanced' % ("pngcairo" if gnuplot_has_cairo() else "png")]
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


def timed_by_config(rates):
    """config -> aggregate of its timed runs: req/s per request count (median over rounds),
    totals of requests, seconds, worker CPU, collector CPU, and the largest pause."""
    agg = OrderedDict()
    for r in rates:
        a = agg.setdefault(r["config"], {"rps": defaultdict(list), "ok": 0, "secs": 0.0, "cpu": 0.0,
                                         "gc": 0.0, "pcpu": 0.0, "cow": False, "gcs": 0, "minor": 0,
                                         "full": 0, "pmax": None, "runs": 0, "flt": 0.0})
        a["runs"] += 1
        a["rps"][int(num(r["requests"]))].append(num(r["req_per_s"]))
        a["ok"] += int(num(r.get("ok")))
        a["secs"] += num(r.get("seconds"))
        a["cpu"] += num(r.get("worker_cpu_s"))
        a["flt"] += num(r.get("minflt_per_req")) * num(r.get("ok"))
        if r.get("gc_cpu_s") not in (None, ""):
            a["cow"] = True
            a["gc"] += num(r["gc_cpu_s"])
            a["pcpu"] += num(r.get("process_cpu_s"))
            a["minor"] += int(num(r.get("minor")))
            a["full"] += int(num(r.get("full")))
        if r.get("collections") not in (None, ""):
            a["gcs"] += int(num(r["collections"]))
        if r.get("pause_max_ms") not in (None, ""):
            a["pmax"] = max(a["pmax"] or 0.0, num(r["pause_max_ms"]))
    for a in agg.values():
        a["rps_med"] = OrderedDict((n, statistics.median(v)) for n, v in sorted(a["rps"].items()))
        a["rps_all"] = a["ok"] / a["secs"] if a["secs"] else 0.0
        a["cpu_ms_req"] = 1000.0 * a["cpu"] / a["ok"] if a["ok"] else None
        a["flt_req"] = a["flt"] / a["ok"] if a["ok"] and a["flt"] else None
        # the collector's share of the workers' CPU: cowgc's own clocks (both from one process)
        a["gc_pct"] = 100.0 * a["gc"] / a["pcpu"] if a["cow"] and a["pcpu"] else None
    return agg


GC_LINE = re.compile(r"collection (\d+) \(([^,]+), (minor|full)\): (\d+) us, live (\d+) KiB, traced (\d+) KiB")
# the collecting thread's CPU in the pause, and the times the scheduler preempted it there
GC_CPU = re.compile(r"cpu (\d+) us, preempted (\d+) times")


def gc_logs(out):
    """config -> the workers' collections from the timed runs' verbose cowgc logs (the lines
    before the parent forked are its own, counted in *.parent_lines)."""
    res = OrderedDict()
    for path in sorted(glob.glob(os.path.join(out, "server_*_timed_*.log.gc"))):
        m = re.match(r"server_(.+)_timed_\d+(?:_\d+)?\.log\.gc$", os.path.basename(path))
        if not m:
            continue
        skip = 0
        try:
            with open(path + ".parent_lines") as f:
                skip = int(f.read().strip() or 0)
        except (OSError, ValueError):
            pass
        d = res.setdefault(m.group(1), {"minor": [], "full": [], "first": [], "traced_minor": [],
                                        "traced_full": [], "cpu": [], "calm": [], "preempted": 0})
        with open(path, errors="replace") as f:
            for i, line in enumerate(f):
                if i < skip:
                    continue
                g = GC_LINE.search(line)
                if not g:
                    continue
                ms = int(g.group(4)) / 1000.0
                d[g.group(3)].append(ms)
                d["traced_" + g.group(3)].append(int(g.group(6)))
                c = GC_CPU.search(line)
                if c:
                    cpu = int(c.group(1)) / 1000.0
                    d["cpu"].append(cpu)
                    # wall time beyond the thread's CPU: it waited for a CPU (or a stopped thread)
                    if ms - cpu >= 1.0:
                        d["preempted"] += 1
                    else:
                        d["calm"].append(ms)
                if g.group(1) == "1":
                    d["first"].append("%s %.0fms %dMiB" % (g.group(3), ms, int(g.group(6)) // 1024))
    return res


def pct(v, q):
    if not v:
        return None
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def f1(x, spec=".1f"):
    return "" if x is None else format(x, spec)


def print_table(cols, heads, rows):
    widths = {c: max(len(heads[c]), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(f"{heads[c]:>{widths[c]}}" for c in cols))
    for r in rows:
        print("  ".join(f"{str(r[c]):>{widths[c]}}" for c in cols))


def summary(out, workers, masters, rates, fb, at):
    cols = ["config", "requests", "workers", "worker_uss_mib", "worker_peak_uss_mib", "worker_shared_mib", "worker_rss_mib",
            "master_heap_mib", "heap_shared_pct", "anon_shared_pct", "req_per_s", "req_per_s_all",
            "cpu_ms_per_req", "faults_per_req", "gc_cpu_pct", "gc_cpu_pct_late", "collections", "minor_full", "pause_max_ms"]
    rows = []
    timed = timed_by_config(rates)
    ns = sorted({int(num(r["requests"])) for r in rates})
    for cfg in list(workers) + [c for c in timed if c not in workers]:
        byreq = workers.get(cfg, {})
        t = timed.get(cfg)
        row = OrderedDict((c, "") for c in cols)
        row["config"] = cfg
        if byreq:
            req = at if at in byreq else max(byreq)
            ws = byreq[req]
            n = len(ws) or 1
            m = masters[cfg].get(req, {})
            peak = defaultdict(float)          # each worker's largest USS over the bursts
            for q, wq in byreq.items():
                if q <= req:
                    for w in wq:
                        peak[w["pid"]] = max(peak[w["pid"]], num(w["uss"]))
            row.update([
                ("requests", req), ("workers", len(ws)),
                ("worker_uss_mib", f"{sum(num(w['uss']) for w in ws)/n/1024:.1f}"),
                ("worker_peak_uss_mib", f"{sum(peak.values())/max(len(peak), 1)/1024:.1f}"),
                ("worker_shared_mib", f"{sum(num(w['shared']) for w in ws)/n/1024:.1f}"),
                ("worker_rss_mib", f"{sum(num(w['rss']) for w in ws)/n/1024:.1f}"),
                ("master_heap_mib", f"{num(m.get('heap_rss'))/1024:.1f}"),
                ("heap_shared_pct", f"{sum(num(w['heap_shared_pct']) for w in ws)/n:.1f}"),
                ("anon_shared_pct", f"{sum(num(w['anon_shared_pct']) for w in ws)/n:.1f}"),
            ])
            # the collector's share over the second half of the memory run (same workers): the
            # steady state, without each worker's first collections
            reqs = sorted(q for q in byreq if q <= req)
            mid = {w["pid"]: w for w in byreq[reqs[len(reqs) // 2]]}
            dgc = dpc = 0.0
            for w in ws:
                if w["pid"] in mid:
                    dgc += num(w.get("gc_cpu_ms")) - num(mid[w["pid"]].get("gc_cpu_ms"))
                    dpc += num(w.get("process_cpu_ms")) - num(mid[w["pid"]].get("process_cpu_ms"))
            if dpc > 0:
                row["gc_cpu_pct_late"] = f"{100.0 * dgc / dpc:.1f}"
            pauses = [num(w["pause_max_ms"], None) for w in ws]
            if None not in pauses:
                row["pause_max_ms"] = f"{max(pauses):.1f}"
        if t:
            row["req_per_s"] = "/".join(f"{t['rps_med'][k]:.0f}" if k in t["rps_med"] else "-" for k in ns)
            row["req_per_s_all"] = f"{t['rps_all']:.0f}"
            row["cpu_ms_per_req"] = f1(t["cpu_ms_req"], ".3f")
            row["faults_per_req"] = f1(t["flt_req"], ".1f")
            row["gc_cpu_pct"] = f1(t["gc_pct"])
            if t["cow"]:
                row["collections"] = str(t["gcs"])
                row["minor_full"] = f"{t['minor']}/{t['full']}" if t["minor"] or t["full"] else ""
            if t["pmax"] is not None:
                p = max(t["pmax"], num(row["pause_max_ms"]))
                row["pause_max_ms"] = f"{p:.1f}"
        rows.append(row)
    with open(os.path.join(out, "summary.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=cols)
        wr.writeheader()
        wr.writerows(rows)
    nlabel = "/".join(str(k // 1000) + "k" if k >= 1000 and k % 1000 == 0 else str(k) for k in ns)
    heads = {"config": "config", "requests": "reqs", "workers": "W", "worker_uss_mib": "USS MiB/wkr",
             "worker_peak_uss_mib": "peak USS MiB/wkr",
             "worker_shared_mib": "shared MiB/wkr", "worker_rss_mib": "RSS MiB/wkr",
             "master_heap_mib": "parent heap MiB", "heap_shared_pct": "heap still shared %",
             "anon_shared_pct": "anon shared %", "req_per_s": "req/s (" + nlabel + ")",
             "req_per_s_all": "req/s all", "cpu_ms_per_req": "wkr CPU ms/req", "faults_per_req": "faults/req",
             "gc_cpu_pct": "GC % wkr CPU", "gc_cpu_pct_late": "GC % 2nd half", "collections": "GCs (timed)", "minor_full": "minor/full",
             "pause_max_ms": "max pause ms"}
    if rows:
        print("Memory: per-worker means after the last burst of the memory run. Throughput, CPU and")
        print("collections: all timed runs (fresh servers), summed over their workers; req/s per run")
        print("size is the median over rounds. GC % wkr CPU = collector CPU / workers' CPU (the collector's")
        print("own clocks); faults/req = the workers' minor page faults per request (fresh pages, COW copies,")
        print("the tracker's write faults). GC % 2nd half: the same share over the second half of the memory")
        print("run (the steady state: each worker's first collections left out).")
        print_table(cols, heads, rows)
    logs = gc_logs(out)
    if logs:
        print()
        print("cowgc collections in the workers during the timed runs (verbose log; pause = wall time;")
        print("max CPU = the most CPU the collecting thread used in one pause; waited = pauses whose wall")
        print("time exceeds that thread's CPU by 1 ms or more (it was preempted, or waited for a thread to")
        print("stop); max ms, no wait = the longest of the other pauses):")
        lcols = ["config", "minor", "minor_p50", "minor_p99", "minor_max", "minor_kib", "full", "full_p50",
                 "full_max", "full_kib", "cpu_max", "preempted", "calm_max", "first"]
        lheads = {"config": "config", "minor": "minor", "minor_p50": "p50 ms", "minor_p99": "p99 ms",
                  "minor_max": "max ms", "minor_kib": "traced KiB p50", "full": "full",
                  "full_p50": "p50 ms", "full_max": "max ms", "full_kib": "traced KiB p50",
                  "cpu_max": "max CPU ms", "preempted": "waited >= 1 ms",
                  "calm_max": "max ms, no wait", "first": "each worker's first collection"}
        lrows = []
        for cfg, d in logs.items():
            firsts = sorted(set(d["first"]), key=d["first"].index)
            lrows.append(OrderedDict([
                ("config", cfg), ("minor", len(d["minor"])), ("minor_p50", f1(pct(d["minor"], 0.5))),
                ("minor_p99", f1(pct(d["minor"], 0.99))), ("minor_max", f1(max(d["minor"], default=None))),
                ("minor_kib", pct(d["traced_minor"], 0.5) or ""), ("full", len(d["full"])),
                ("full_p50", f1(pct(d["full"], 0.5))), ("full_max", f1(max(d["full"], default=None))),
                ("full_kib", pct(d["traced_full"], 0.5) or ""),
                ("cpu_max", f1(max(d["cpu"], default=None))),
                ("preempted", d["preempted"] if d["cpu"] else ""),
                ("calm_max", f1(max(d["calm"], default=None))),
                ("first", ", ".join(firsts[:3]) + (" ..." if len(firsts) > 3 else "")),
            ]))
        print_table(lcols, lheads, lrows)
    targets(timed, rows)
    if fb:
        print()
        print("forkbench: one full collection in a child forked after the parent built the heap")
        print(f"{'gc':>16} {'heap MiB':>9} {'Private_Dirty before KiB':>25} {'after KiB':>10} "
              f"{'added KiB':>10} {'added % of heap':>16} {'collect ms':>11}")
        for r in fb:
            name = r["gc"] + (("/" + r["mark"]) if r.get("mark") else "")
            print(f"{name:>16} {r['heap_mib']:>9} {r['before_kib']:>25} {r['after_kib']:>10} "
                  f"{r['delta_kib']:>10} {r['delta_pct']:>16} {r['collect_ms']:>11}")


def targets(timed, rows):
    """The issue's targets for the out-of-line generational collector."""
    gen, full, glibc = timed.get("outofline-gen"), timed.get("outofline-full"), timed.get("glibc")
    by = {r["config"]: r for r in rows}
    if not gen:
        return
    lines = []

    def check(name, ok, text):
        lines.append(f"  {'met ' if ok else 'MISS' if ok is not None else 'n/a '} {name}: {text}")

    g = gen["gc_pct"]
    check("collector share of worker CPU <= 5%", g is not None and g <= 5.0 if g is not None else None,
          f"{f1(g)}%" + (f" (outofline-full {f1(full['gc_pct'])}%)" if full and full["gc_pct"] is not None else ""))
    if glibc and glibc["rps_all"]:
        r = gen["rps_all"] / glibc["rps_all"]
        c = glibc["cpu_ms_req"] / gen["cpu_ms_req"] if gen["cpu_ms_req"] and glibc["cpu_ms_req"] else None
        check("req/s >= 0.8x glibc (explicit frees)", r >= 0.8,
              f"{r:.2f}x ({gen['rps_all']:.0f} vs {glibc['rps_all']:.0f} req/s over all timed runs; "
              f"by worker CPU per request {f1(c, '.2f')}x: {f1(gen['cpu_ms_req'], '.3f')} vs "
              f"{f1(glibc['cpu_ms_req'], '.3f')} ms)")
    else:
        check("req/s >= 0.8x glibc", None, "no glibc run")
    p = num(by.get("outofline-gen", {}).get("pause_max_ms"), None)
    check("longest pause <= 5 ms", p is not None and p <= 5.0 if p is not None else None, f"{f1(p)} ms")
    gu = num(by.get("outofline-gen", {}).get("worker_uss_mib"), None)
    fu = num(by.get("outofline-full", {}).get("worker_uss_mib"), None)
    if gu is not None and fu is not None:
        check("per-worker USS <= outofline-full", gu <= fu, f"{gu:.1f} vs {fu:.1f} MiB")
    hs = num(by.get("outofline-gen", {}).get("heap_shared_pct"), None)
    if hs is not None:
        check("parent heap still shared >= 95%", hs >= 95.0, f"{hs:.1f}%")
    print()
    print("Targets for outofline-gen (issue 9):")
    print("\n".join(lines))


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
