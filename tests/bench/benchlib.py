"""benchlib.py -- shared helpers for alloc_bench.py and gc_bench.py (tests/bench).

Runs one program through the small rsswrap helper, which measures wall time and takes peak
RSS from wait4's rusage (ru_maxrss, KiB on Linux); formats tables as text, markdown or CSV.
"""
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

LIBDIR = "/usr/lib/x86_64-linux-gnu"
ALLOCATORS = [  # name, path of the .so to LD_PRELOAD (None: glibc itself)
    ("glibc", None),
    ("jemalloc", LIBDIR + "/libjemalloc.so.2"),
    ("mimalloc", LIBDIR + "/libmimalloc.so.2"),
    ("tcmalloc", LIBDIR + "/libtcmalloc_minimal.so.4"),
]


def clean_env(extra=None):
    """The caller's environment without any preload, cowgc or malloc-tuning settings."""
    env = {k: v for k, v in os.environ.items()
           if k != "LD_PRELOAD" and not k.startswith("COWGC_")
           and not k.startswith("MALLOC_") and not k.startswith("GLIBC_TUNABLES")}
    env.update(extra or {})
    return env


class Run:
    def __init__(self):
        self.wall = None        # seconds
        self.maxrss_kb = None
        self.cpu = None         # user + system seconds of the program (all its threads)
        self.minflt = None      # the program's minor page faults
        self.status = None      # "ok", "exit N", "signal NAME", "timeout", "errors N"
        self.stdout = ""
        self.stderr = ""
        self.result = {}        # key=value pairs of the program's RESULT line

    @property
    def ok(self):
        return self.status == "ok"


def run_once(rsswrap, argv, settings, timeout):
    """Run argv via the rsswrap helper with the environment settings `settings` (a dict, e.g.
    LD_PRELOAD) applied to the program only. Wall time and peak RSS come from the helper's
    wait4(); see rsswrap.c for why Python's own os.wait4 would over-report RSS."""
    r = Run()
    cmd = [rsswrap]
    for k, v in settings.items():
        cmd += ["-e", "%s=%s" % (k, v)]
    cmd += ["--"] + list(argv)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, env=clean_env(), stdin=subprocess.DEVNULL, stdout=out,
                             stderr=err, start_new_session=True)
        timed_out = []

        def kill():
            timed_out.append(1)
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            while True:
                try:
                    _, status, ru = os.wait4(p.pid, 0)
                    break
                except InterruptedError:
                    continue
        finally:
            timer.cancel()
        r.wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)   # already reaped: tell Popen
        r.maxrss_kb = ru.ru_maxrss
        out.seek(0)
        err.seek(0)
        r.stdout = out.read().decode(errors="replace")
        r.stderr = err.read().decode(errors="replace")
    code, sig = None, 0
    lines = []
    for line in r.stderr.splitlines():
        if line.startswith("RSSWRAP "):
            w = dict(kv.split("=", 1) for kv in line.split()[1:])
            r.maxrss_kb = int(w["maxrss_kb"])
            r.wall = float(w["wall_s"])
            r.cpu = float(w["utime_s"]) + float(w["stime_s"])
            r.minflt = int(w["minflt"]) if "minflt" in w else None
            code, sig = int(w["exit"]), int(w["signal"])
        else:
            lines.append(line)
    r.stderr = "\n".join(lines)
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            r.result = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
    if timed_out:
        r.status = "timeout"
    elif code is None:
        r.status = "rsswrap failed (status %d)" % os.waitstatus_to_exitcode(status)
    elif sig:
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        r.status = "signal " + name
    elif code != 0:
        r.status = "exit %d" % code
    elif not r.result:
        r.status = "no RESULT line"
    elif int(r.result.get("errors", "0")) != 0:
        r.status = "errors " + r.result["errors"]
    elif r.result.get("ok", "1") != "1":
        r.status = "data corrupted"
    else:
        r.status = "ok"
    return r


def geomean(xs):
    xs = [x for x in xs if x is not None and x > 0]
    if not xs:
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def fmt(x, spec):
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    return format(x, spec)


def render(headers, rows, style, title=None):
    """rows: lists of already formatted strings. style: text | markdown | csv."""
    out = []
    if style == "csv":
        import csv
        import io
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        if title:
            w.writerow(["# " + title])
        w.writerow(headers)
        w.writerows(rows)
        return buf.getvalue()
    if style == "markdown":
        if title:
            out.append("**%s**\n" % title)
        out.append("| " + " | ".join(headers) + " |")
        out.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|")
        for row in rows:
            out.append("| " + " | ".join(row) + " |")
        return "\n".join(out) + "\n"
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    if title:
        out.append(title)
    out.append("  ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i])
                         for i, h in enumerate(headers)))
    out.append("  ".join("-" * w for w in widths))
    for row in rows:
        out.append("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                             for i, c in enumerate(row)))
    return "\n".join(out) + "\n"


def find_bindir(explicit, names):
    """Directory holding the built workload programs."""
    here = os.path.dirname(os.path.abspath(__file__))
    cands = [explicit] if explicit else [
        os.getcwd(), here,
        os.path.join(here, "..", "..", "build-bench", "tests", "bench"),
        os.path.join(here, "..", "..", "build", "tests", "bench")]
    for d in cands:
        if d and all(os.path.exists(os.path.join(d, n)) for n in names):
            return os.path.abspath(d)
    sys.exit("cannot find the workload programs (%s); pass --bindir" % ", ".join(names))


def describe_failure(label, r):
    tail = (r.stderr.strip().splitlines() or [""])[-8:]
    return "%s: %s (wall %.2fs)\n    stderr: %s" % (
        label, r.status, r.wall or 0, "\n            ".join(tail))


def finish(out, notes, failures, output):
    """Print the report (tables, notes, failed runs) and write it to output if given."""
    if notes:
        out.append("".join("note: %s\n" % n for n in notes))
    if failures:
        out.append("Failed runs:\n" + "".join("  %s\n" % f for f in failures))
    text = "\n".join(out)
    sys.stdout.write(text)
    if output:
        with open(output, "w") as f:
            f.write(text)
    return 0
