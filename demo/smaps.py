#!/usr/bin/env python3
"""smaps.py -- per-process shared/private memory of a prefork master and its workers, from /proc/PID/smaps.

For the master and each child (or the pids given) it reports, in KiB:
  rss, pss, uss (Private_Clean+Private_Dirty), shared (Shared_Clean+Shared_Dirty), private_dirty
  the same restricted to anonymous mappings (anon_*) and to the heap mapping (heap_*),
and for each worker the percentage of the master's heap (and anonymous) pages it still shares:
  heap_shared_pct = worker heap shared / master heap rss * 100.
The master idles after forking, so its heap RSS is what the workers inherited.

The heap mapping is the VMA containing --heap-probe ADDR (the server prints heap_probe=0x...;
cowgc's heap is one big anonymous mapping) extended over contiguous anonymous VMAs with the same
permissions, or exactly --heap-range LO-HI (hex).

--server-log PATH reads "master pid=", "heap_probe=" and "worker ... pid= ctl_port=" lines that
demo/prefork prints; with it, --stats fetches /stats from each worker's control port (requests
served, cowgc collections since the fork, longest pause -- since process start, so it may be
one the parent had while building its heap) and --collect first asks each worker for a full
collection (/collect).

--cpu adds, per process: cpu_s (user+system seconds since it started, /proc/PID/stat), minflt
(its minor page faults: first touches of fresh pages, copy-on-write copies, and the write
faults of a dirty-page tracker all count here) and, from
/stats under cowgc, gc_cpu_ms (CPU the collector spent in this process's own collections),
process_cpu_ms (the process's CPU by cowgc's own clock), gc_cpu_pct (their ratio, %), minor and
full collections, heap pages the tracker reported written, young KiB traced by minors.

Output: --format table (default), csv or json. Python 3 standard library only.
"""
import argparse
import json
import os
import re
import sys
import urllib.request

FIELDS = ("Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty")
HDR_RE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) (\S+) (\S+) (\d+)\s*(.*)$")


def read_vmas(pid):
    """List of dicts: lo, hi, perms, inode, name, and the FIELDS in KiB."""
    vmas = []
    cur = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = HDR_RE.match(line)
            if m:
                cur = {"lo": int(m.group(1), 16), "hi": int(m.group(2), 16), "perms": m.group(3),
                       "inode": int(m.group(6)), "name": m.group(7).strip()}
                for k in FIELDS:
                    cur[k] = 0
                vmas.append(cur)
                continue
            key, _, rest = line.partition(":")
            if cur is not None and key in FIELDS:
                cur[key] = int(rest.split()[0])
    return vmas


def is_anon(v):
    return v["inode"] == 0 and (v["name"] == "" or v["name"] in ("[heap]",) or v["name"].startswith("[anon"))


def heap_vmas(vmas, probe=None, rng=None):
    if rng:
        lo, hi = rng
        return [v for v in vmas if v["lo"] < hi and v["hi"] > lo]
    if probe is None:
        return []
    for i, v in enumerate(vmas):
        if v["lo"] <= probe < v["hi"]:
            sel = [v]
            j = i - 1
            while j >= 0 and vmas[j]["hi"] == sel[0]["lo"] and is_anon(vmas[j]) and vmas[j]["perms"] == v["perms"]:
                sel.insert(0, vmas[j])
                j -= 1
            j = i + 1
            while j < len(vmas) and vmas[j]["lo"] == sel[-1]["hi"] and is_anon(vmas[j]) and vmas[j]["perms"] == v["perms"]:
                sel.append(vmas[j])
                j += 1
            return sel
    return []


def summarise(vs):
    s = {k: 0 for k in FIELDS}
    for v in vs:
        for k in FIELDS:
            s[k] += v[k]
    return {"rss": s["Rss"], "pss": s["Pss"], "uss": s["Private_Clean"] + s["Private_Dirty"],
            "shared": s["Shared_Clean"] + s["Shared_Dirty"], "private_dirty": s["Private_Dirty"]}


def measure(pid, probe=None, rng=None):
    vmas = read_vmas(pid)
    tot = summarise(vmas)
    anon = summarise([v for v in vmas if is_anon(v)])
    hv = heap_vmas(vmas, probe, rng)
    heap = summarise(hv)
    row = {"pid": pid}
    row.update(tot)
    row.update({"anon_" + k: v for k, v in anon.items()})
    row.update({"heap_" + k: v for k, v in heap.items()})
    row["heap_lo"] = hex(hv[0]["lo"]) if hv else ""
    row["heap_hi"] = hex(hv[-1]["hi"]) if hv else ""
    return row


def children_of(pid):
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(x) for x in f.read().split()]
        return sorted(set(kids))
    except OSError:
        pass
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read()
                ppid = int(st[st.rindex(")") + 2:].split()[1])
                if ppid == pid:
                    kids.append(int(d))
            except (OSError, ValueError):
                pass
    return sorted(kids)


def parse_server_log(path):
    info = {"master": None, "probe": None, "workers": {}}
    with open(path, errors="replace") as f:
        for line in f:
            m = re.match(r"master pid=(\d+)", line)
            if m:
                info["master"] = int(m.group(1))
            m = re.match(r"heap_probe=(0x[0-9a-fA-F]+)", line)
            if m:
                info["probe"] = int(m.group(1), 16)
            m = re.match(r"worker index=(\d+) pid=(\d+) ctl_port=(\d+)", line)
            if m:
                info["workers"][int(m.group(2))] = int(m.group(3))
    return info


def http_get(port, path, timeout=120):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return json.loads(r.read().decode())


COLS = ["label", "requests", "role", "pid", "served", "rss", "pss", "uss", "shared", "private_dirty",
        "anon_rss", "anon_uss", "anon_shared", "heap_rss", "heap_pss", "heap_uss", "heap_shared",
        "heap_private_dirty", "heap_shared_pct", "anon_shared_pct", "collections", "pause_max_ms"]
CPU_COLS = ["cpu_s", "minflt", "gc_cpu_ms", "process_cpu_ms", "gc_cpu_pct", "minor", "full", "pages_written",
            "young_kib"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_and_faults(pid):
    """(user + system CPU seconds, minor page faults) of pid, all its threads, /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK, int(fields[7])


def cpu_fields(pid, s):
    """The --cpu columns of one process; s = its /stats answer (may be empty)."""
    r = {}
    try:
        cpu, flt = cpu_and_faults(pid)
        r["cpu_s"], r["minflt"] = round(cpu, 3), flt
    except (OSError, ValueError, IndexError):
        r["cpu_s"] = r["minflt"] = ""
    if "gc_cpu_ns" in s:
        r["gc_cpu_ms"] = round(s["gc_cpu_ns"] / 1e6, 3)
        r["process_cpu_ms"] = round(s["process_cpu_ns"] / 1e6, 3)
        r["gc_cpu_pct"] = round(100.0 * s["gc_cpu_ns"] / s["process_cpu_ns"], 2) if s["process_cpu_ns"] else ""
        r["minor"] = s.get("minor_collections", "")
        r["full"] = s.get("full_collections", "")
        r["pages_written"] = s.get("pages_written", "")
        r["young_kib"] = s["young_bytes_marked"] // 1024 if "young_bytes_marked" in s else ""
    return r


def collect_rows(args):
    probe = int(args.heap_probe, 16) if args.heap_probe else None
    rng = None
    if args.heap_range:
        lo, hi = args.heap_range.split("-")
        rng = (int(lo, 16), int(hi, 16))
    master = args.master
    ports = {}
    if args.server_log:
        info = parse_server_log(args.server_log)
        master = master or info["master"]
        if probe is None and rng is None:
            probe = info["probe"]
        ports = info["workers"]
    pids = list(args.pid or [])
    roles = {}
    if master:
        pids = [master] + children_of(master)
        roles[master] = "master"
    if not pids:
        sys.exit("smaps.py: nothing to measure (give --master, --pid or --server-log)")
    stats = {}
    for p in pids:
        if p in roles or p not in ports:
            continue
        try:
            if args.collect:
                stats[p] = http_get(ports[p], "/collect")
            elif args.stats:
                stats[p] = http_get(ports[p], "/stats")
        except OSError as e:
            print(f"smaps.py: worker {p} port {ports[p]}: {e}", file=sys.stderr)
    if args.collect and args.stats:
        for p in list(stats):
            stats[p] = http_get(ports[p], "/stats")
    rows = []
    for p in pids:
        try:
            r = measure(p, probe, rng)
        except OSError as e:
            print(f"smaps.py: pid {p}: {e}", file=sys.stderr)
            continue
        r["role"] = roles.get(p, "worker")
        r["label"] = args.label
        r["requests"] = args.requests
        s = stats.get(p, {})
        r["served"] = s.get("requests", "")
        # the worker's own collections: cowgc's counter is inherited from the parent over fork
        r["collections"] = s["collections"] - s.get("collections_at_fork", 0) if "collections" in s else ""
        r["pause_max_ms"] = round(s["pause_max_ns"] / 1e6, 3) if "pause_max_ns" in s else ""
        r["stats"] = s
        if args.cpu:
            r.update(cpu_fields(p, s))
        rows.append(r)
    base = next((r for r in rows if r["role"] == "master"), None)
    for r in rows:
        if base and r["role"] != "master" and base["heap_rss"]:
            r["heap_shared_pct"] = round(100.0 * r["heap_shared"] / base["heap_rss"], 2)
        else:
            r["heap_shared_pct"] = ""
        if base and r["role"] != "master" and base["anon_rss"]:
            r["anon_shared_pct"] = round(100.0 * r["anon_shared"] / base["anon_rss"], 2)
        else:
            r["anon_shared_pct"] = ""
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--master", type=int, help="master pid: measure it and its children")
    ap.add_argument("--pid", type=int, action="append", help="measure this pid (repeatable)")
    ap.add_argument("--server-log", help="demo/prefork's stdout, for master pid, heap probe, ports")
    ap.add_argument("--heap-probe", help="hex address inside the heap mapping")
    ap.add_argument("--heap-range", help="LO-HI hex: the heap")
    ap.add_argument("--stats", action="store_true", help="fetch /stats from each worker")
    ap.add_argument("--collect", action="store_true", help="GET /collect on each worker first")
    ap.add_argument("--format", choices=("table", "csv", "json"), default="table")
    ap.add_argument("--cpu", action="store_true", help="add CPU and collector-CPU columns (see above)")
    ap.add_argument("--no-header", action="store_true")
    ap.add_argument("--label", default="")
    ap.add_argument("--requests", default="")
    args = ap.parse_args()
    rows = collect_rows(args)
    if args.format == "json":
        json.dump(rows, sys.stdout, indent=1)
        print()
    elif args.format == "csv":
        cols = COLS + (CPU_COLS if args.cpu else [])
        if not args.no_header:
            print(",".join(cols))
        for r in rows:
            print(",".join(str(r.get(c, "")) for c in cols))
    else:
        cols = [("role", "role", 7), ("pid", "pid", 8), ("served", "served", 7),
                ("rss", "RSS MiB", 9), ("pss", "PSS MiB", 9), ("uss", "USS MiB", 9),
                ("shared", "shared MiB", 11), ("heap_rss", "heap RSS", 9),
                ("heap_uss", "heap USS", 9), ("heap_shared", "heap shr", 9),
                ("heap_shared_pct", "heap shr%", 10), ("collections", "GCs", 5)]
        print("".join(f"{h:>{w}}" for _, h, w in cols))
        mib = {"rss", "pss", "uss", "shared", "heap_rss", "heap_uss", "heap_shared"}
        for r in rows:
            out = []
            for k, _, w in cols:
                v = r.get(k, "")
                if k in mib:
                    v = f"{v / 1024:.1f}"
                out.append(f"{v!s:>{w}}")
            print("".join(out))
        if rows and rows[0].get("heap_lo"):
            print(f"heap mapping (master): {rows[0]['heap_lo']}-{rows[0]['heap_hi']}")


if __name__ == "__main__":
    main()
