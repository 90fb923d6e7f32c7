#!/usr/bin/env python3
"""An allocation-heavy, deterministic Python workload; prints a checksum of what it computed.

usage: workload.py [SCALE]   (SCALE 1 = a few hundred thousand objects; default 1)

Run with PYTHONMALLOC=malloc so every object comes from the C allocator (that is, from cowgc when
it is preloaded), and PYTHONHASHSEED=0 so set/dict-of-str orders are the same in every run.
Everything printed depends only on SCALE.
"""
import gc
import hashlib
import json
import sys

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
N = int(100_000 * SCALE)
h = hashlib.sha256()


def feed(*parts):
    for p in parts:
        h.update(repr(p).encode())


class Node:
    __slots__ = ("key", "value", "children", "parent")

    def __init__(self, key, value, parent=None):
        self.key = key
        self.value = value
        self.children = []
        self.parent = parent


class Record:  # a regular class: instances carry a __dict__
    def __init__(self, i):
        self.i = i
        self.name = "rec-%06d" % i
        self.tags = ["t%d" % (i % 7), "u%d" % (i % 11)]
        self.payload = {"sq": i * i, "hex": hex(i), "half": i / 2}


def lcg(seed):
    x = seed
    while True:
        x = (x * 6364136223846793005 + 1442695040888963407) & ((1 << 64) - 1)
        yield x >> 33


rng = lcg(12345)

# 1. Many small class instances, dicts and strings, half of them dropped along the way.
records = [Record(i) for i in range(N)]
index = {r.name: r for r in records}
del records[::2]
feed(len(records), len(index), sum(r.payload["sq"] % 1000 for r in records))

# 2. A tree with parent back-pointers (reference cycles), built, checked, then made garbage.
root = Node("root", 0)
nodes = [root]
for i in range(1, N):
    parent = nodes[next(rng) % len(nodes)]
    n = Node("k%d" % i, i, parent)
    parent.children.append(n)
    nodes.append(n)
depth_sum = 0
for n in nodes[:: max(1, N // 2000)]:
    d = 0
    while n.parent is not None:
        n = n.parent
        d += 1
    depth_sum += d
feed(depth_sum, sum(len(n.children) for n in nodes))
del nodes, root, n, parent
feed("collected-tree", gc.collect() > 0)

# 3. Garbage cycles in bulk: lists and dicts that refer to each other, then gc.collect().
for round_ in range(5):
    junk = []
    for i in range(N // 10):
        a = {"id": i, "round": round_}
        b = [a, "x" * (i % 50)]
        a["b"] = b
        junk.append(b)
    del junk, a, b
    feed(round_, gc.collect() >= 0)

# 4. Strings: build, split, join, slice, dedupe through a set.
words = ["w%x" % (next(rng) % 5000) for _ in range(N)]
text = " ".join(words)
parts = text.split(" ")
uniq = sorted(set(parts))
feed(len(text), len(parts), len(uniq), uniq[:5], uniq[-5:])
acc = []
for i in range(0, len(text), 997):
    acc.append(text[i:i + 50].upper()[::-1])
feed(hashlib.sha256("".join(acc).encode()).hexdigest())
del words, text, parts, acc

# 5. JSON round trip of a nested structure.
doc = {
    "items": [{"id": i, "name": "item%d" % i, "vals": [i, i * 2, i * 3], "ok": i % 3 == 0,
               "sub": {"a": str(i), "b": None}} for i in range(N // 5)],
    "meta": {"scale": SCALE, "n": N},
}
s = json.dumps(doc, sort_keys=True)
back = json.loads(s)
assert back == doc, "json round trip changed the document"
feed(len(s), hashlib.sha256(s.encode()).hexdigest(), back["items"][-1])
del doc, back, s

# 6. Dict churn: inserts and deletes, and lists of tuples and bytes that are resized.
d = {}
for i in range(N):
    k = next(rng) % (N // 2 + 1)
    if k in d:
        del d[k]
    else:
        d[k] = (k, str(k) * 3, bytes(k % 64))
feed(len(d), sum(k for k in d) % 1000003)
lst = []
for i in range(N):
    lst.append(i)
    if i % 3 == 0:
        lst.pop(0 if i % 2 else -1)
feed(len(lst), sum(lst) % 1000003)

# 7. Survivors still intact after all the collections above.
feed(index["rec-%06d" % (N - 1)].payload, sum(len(r.tags) for r in records))

print("objects scale %g: checksum %s" % (SCALE, h.hexdigest()))
