"""ctypes_hidden.py -- a Python program that keeps malloc'd pointers only as Python ints.

CPython stores an int in 30-bit digits, so no word the collector scans holds these pointers:
the collector reclaims the blocks. The program goes on writing through them, then reallocs and
frees them: with COWGC_QUARANTINE the reclaimed slots are not reused, so the writes damage
nothing, and every realloc and free gets cowgc's one-line diagnostic instead of corrupting the heap.
"""
import ctypes
import sys

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.realloc.restype = ctypes.c_void_p
libc.realloc.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.free.restype = None
collect = getattr(libc, "cowgc_collect", None)

N, SIZE = 64, 48
ptrs = [libc.malloc(SIZE) for _ in range(N)]      # only ints from here on
for i, p in enumerate(ptrs):
    ctypes.memset(p, i, SIZE)

# Python allocates plenty (PYTHONMALLOC=malloc): collections run (COWGC_MIN_TRIGGER is small).
junk = []
for r in range(30):
    junk = [bytes([r % 256]) * 200 for _ in range(3000)]
    if collect is not None and r % 10 == 0:
        collect()

for i, p in enumerate(ptrs):                       # use after reclaim: lands in quarantine
    ctypes.memset(p, 255 - i, SIZE)
for i, p in enumerate(ptrs):
    if i % 2:
        q = libc.realloc(p, SIZE * 4)
        if q:
            libc.free(q)
    else:
        libc.free(p)

# Python's own objects must be intact.
assert all(len(b) == 200 for b in junk), "junk damaged"
assert sum(len(b) for b in junk) == 200 * 3000
print("ok")
