#!/usr/bin/env python3
"""CPython with several threads allocating at once and handing objects to each other through
queue.Queue (so objects die on a thread other than the one that made them). Deterministic:
prints per-thread checksums that depend only on SCALE.

usage: workload_threads.py [SCALE]   (run with PYTHONMALLOC=malloc)
"""
import hashlib
import queue
import sys
import threading

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
N = int(40_000 * SCALE)
NT = 4
queues = [queue.Queue() for _ in range(NT)]
results = [None] * NT
errors = []


def check(tid, m, h):
    """Messages from one sender arrive in order, so hashing them is deterministic."""
    if (m["s"] != ("%d:%d" % (m["from"], m["i"])) * (1 + m["i"] % 7)
            or m["l"] != list(range(m["i"] % 20)) or m["t"] != (m["from"], m["i"], str(m["i"]))):
        errors.append("thread %d: message %r from %r corrupted" % (tid, m.get("i"), m.get("from")))
    h.update(m["t"][2].encode())
    h.update(str(m["from"]).encode())


def worker(tid):
    h = hashlib.sha256()    # own state
    rh = hashlib.sha256()   # received messages, in their (per-sender FIFO) order
    out = queues[(tid + 1) % NT]
    inq = queues[tid]
    keep = {}
    received = 0
    sender_done = False
    for i in range(N):
        obj = {"from": tid, "i": i, "s": ("%d:%d" % (tid, i)) * (1 + i % 7),
               "l": list(range(i % 20)), "t": (tid, i, str(i))}
        keep[i % 1000] = obj                      # replaces (frees) an older one
        if i % 4 == 0:
            out.put(obj)
        while True:                               # drain without blocking
            try:
                m = inq.get_nowait()
            except queue.Empty:
                break
            if m is None:
                sender_done = True
                break
            received += 1
            check(tid, m, rh)
        if i % 5000 == 0:
            h.update(repr(sorted(keep)[:10]).encode())
    out.put(None)
    while not sender_done:                        # the rest, until the sender is done
        m = inq.get()
        if m is None:
            break
        received += 1
        check(tid, m, rh)
    h.update(repr((len(keep), sum(len(v["s"]) for v in keep.values()))).encode())
    h.update(rh.digest())
    results[tid] = (received, h.hexdigest()[:16])


threads = [threading.Thread(target=worker, args=(t,)) for t in range(NT)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for tid, (received, digest) in enumerate(results):
    print("thread %d: received %d digest %s" % (tid, received, digest))
print("errors: %d" % len(errors))
for e in errors[:10]:
    print(e, file=sys.stderr)
sys.exit(1 if errors else 0)
