"""The paper's workload in a Django view.

At import time (in the uWSGI master, before fork) it builds the static structure: 5 LargeObjects,
each with L lists where list i holds i references to one shared string (L = 1600 * sqrt(scale)),
plus S = 64,000 * scale 24-character strings. Each request builds a smaller LargeObject-like
graph (DJ_REQUEST_SIZE lists, list i with i+1 references to one of the shared strings, plus
DJ_REQUEST_STRINGS fresh strings) and keeps the last three, dropping the oldest (the paper's
on_page_load), reads a part of one static LargeObject, and returns a small page with the pid.

/stats  JSON: pid, requests served, cowgc (0|1), and the fields of struct cowgc_stats
        (preload/cowgc.h) read through ctypes, plus collections_at_fork; the cowgc part is {}
        (absent) when the process does not run under cowgc.
/collect  cowgc_collect() when present, then like /stats.
"""
import ctypes
import math
import os
import time

from django.http import HttpResponse, JsonResponse
from django.template import Context, Engine

SCALE = float(os.environ.get("DJ_SCALE", "1"))
REQUEST_SIZE = int(os.environ.get("DJ_REQUEST_SIZE", "200"))
REQUEST_STRINGS = int(os.environ.get("DJ_REQUEST_STRINGS", "100"))


class LargeObject:
    def __init__(self, nlists, first_string, strings, nfresh=0, shared=None):
        if shared is not None:          # static: list i holds i references to one shared string
            self.lists = [[shared] * i for i in range(nlists)]
        else:                           # per request: list i holds i+1 refs to a shared string
            n = len(strings)
            self.lists = [[strings[(first_string + i) % n]] * (i + 1) for i in range(nlists)]
        self.strings = ["s-%021d" % (first_string + i) for i in range(nfresh)]


def touch(lo):
    """Reads every 7th list (like demo/prefork's touch_large) so the work is not idle."""
    h = 0
    lists = lo.lists
    for i in range(0, len(lists), 7):
        lst = lists[i]
        if lst:
            h = (h * 31 + ord(lst[-1][5])) & 0xFFFFFFFF
    return h


# ---- the static structure, built in the master -------------------------------------------------
_t0 = time.monotonic()
NSTRINGS = max(16, round(64000 * SCALE))
STRINGS = ["s-%021d" % i for i in range(NSTRINGS)]       # 23 characters each
NLISTS = max(1, round(1600 * math.sqrt(SCALE)))
SHARED = "s-shared-string-0000000"
STATICS = [LargeObject(NLISTS, 0, STRINGS, shared=SHARED) for _ in range(5)]
BUILT_MS = (time.monotonic() - _t0) * 1000

# ---- per-worker state ----------------------------------------------------------------------------
RECENT = []                 # the last three request graphs
NREQ = 0
COLLECTIONS_AT_FORK = 0
PAGE = Engine().from_string(
    "<html><body><p>worker {{ pid }}, request {{ n }}, checksum {{ h }}</p></body></html>\n")


def announce_master():
    """Lines for demo/smaps.py --server-log, written by the master after the build."""
    ptrs = 5 * NLISTS * (NLISTS - 1) // 2
    lines = [f"master pid={os.getpid()}",
             f"heap_probe={hex(id(STATICS[0].lists[NLISTS // 2]))}",
             f"static objects=5 lists_per_object={NLISTS} pointers={ptrs} list_bytes={ptrs * 8} "
             f"strings={NSTRINGS}",
             f"built_in_ms={BUILT_MS:.0f}",
             f"cowgc={1 if _stats_fn() else 0}"]
    _info("\n".join(lines) + "\n")


def _info(text):
    path = os.environ.get("DJ_INFO")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)


class CowgcStats(ctypes.Structure):
    """Mirrors struct cowgc_stats in preload/cowgc.h (all uint64_t)."""
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "collections", "pause_total_ns", "pause_max_ns", "mark_ns", "sweep_ns",
        "reclaimed_blocks", "reclaimed_bytes", "unreachable_blocks", "unreachable_bytes",
        "live_bytes", "live_blocks", "roots_bytes", "heap_pages_written", "mallocs", "frees",
        "in_use_bytes", "mapped_bytes", "purged_bytes")]


def _sym(name):
    try:
        return getattr(ctypes.CDLL(None), name)
    except AttributeError:
        return None


def _stats_fn():
    f = _sym("cowgc_get_stats")
    if f is not None:
        f.restype = ctypes.c_int
        f.argtypes = [ctypes.POINTER(CowgcStats), ctypes.c_size_t]
    return f


def cowgc_stats():
    """The cowgc counters of this process as a dict, {} when not running under cowgc."""
    f = _stats_fn()
    if f is None:
        return {}
    st = CowgcStats()
    f(ctypes.byref(st), ctypes.sizeof(st))
    return {name: getattr(st, name) for name, _ in CowgcStats._fields_}


def _post_fork():
    global COLLECTIONS_AT_FORK
    COLLECTIONS_AT_FORK = cowgc_stats().get("collections", 0)
    try:
        import uwsgi
        wid = uwsgi.worker_id()
    except ImportError:
        return
    ports = [p for p in os.environ.get("DJ_CTL_PORTS", "").split(",") if p]
    port = ports[wid - 1] if 0 < wid <= len(ports) else ""
    _info(f"worker index={wid - 1} pid={os.getpid()} ctl_port={port}\n")


try:
    import uwsgi
    _prev_hook = getattr(uwsgi, "post_fork_hook", None)

    def _hook():
        if _prev_hook:
            _prev_hook()
        _post_fork()
    uwsgi.post_fork_hook = _hook
except ImportError:
    pass


# ---- views ---------------------------------------------------------------------------------------
def page(request):
    global NREQ
    n = NREQ
    NREQ += 1
    lo = LargeObject(REQUEST_SIZE, n * 131, STRINGS, REQUEST_STRINGS)
    RECENT.append(lo)
    if len(RECENT) > 3:
        del RECENT[0]                   # the oldest of the last three is dropped
    h = touch(lo) + touch(STATICS[n % len(STATICS)])
    return HttpResponse(PAGE.render(Context({"pid": os.getpid(), "n": n, "h": h})))


def _stats_json(collected=None):
    d = {"pid": os.getpid(), "requests": NREQ}
    st = cowgc_stats()
    d["cowgc"] = 1 if st else 0
    if collected is not None:
        d.update(collected)
    if st:
        d.update(st)
        d["collections_at_fork"] = COLLECTIONS_AT_FORK
    return JsonResponse(d)


def stats(request):
    return _stats_json()


def collect(request):
    f = _sym("cowgc_collect")
    t0 = time.monotonic_ns()
    if f is not None:
        f.restype = None
        f()
    return _stats_json({"collected": 1 if f is not None else 0, "collect_ns": time.monotonic_ns() - t0})
