"""ctypes_hidden.py -- a Python program that keeps malloc'd pointers only as Python ints.

CPython stores an int in 30-bit digits, so no word the collector scans holds these pointers:
the collector reclaims the blocks. The program goes on writing through them, then reallocs and
frees them: with COWGC_QUARANTINE the reclaimed slots are not reused, so the writes damage
nothing, and every realloc and free gets cowgc's one-line diagnostic instead of corrupting the heap.
The quarantine must outlast every collection the run makes (about 20): a reclaimed slot, or a whole
span of them, goes back to use once it is over, and a late free would then free someone else's block.
N fills whole spans so that case is exercised, not left to the layout of the run.
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

N, SIZE = 4000, 48
ptrs = [libc.malloc(SIZE) for _ in range(N)]      # only ints from here on
for i, p in enumerate(ptrs):
    ctypes.memset(p, i, SIZE)

# Python allocates plenty (PYTHONMALLOC=malloc): collections run (COWGC_MIN_TRIGGER is small).
junk = []
for r in range(30):
    junk = [bytes([r % 256]) * 200 for _ in range(3000)]
    if collect is not None and r % 10 == 0:
        collect()

fresh = [libc.malloc(SIZE) for _ in range(N)]    # the quarantine keeps reclaimed slots out of use
assert not set(fresh) & set(ptrs), "a quarantined slot was handed out again"
for q in fresh:
    libc.free(q)

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
