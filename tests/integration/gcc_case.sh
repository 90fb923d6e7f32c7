#!/usr/bin/env bash
# gcc_case.sh GCC SRCDIR -- compile some of our C sources with -O2 (cc1, as and collect2/ld all
# inherit LD_PRELOAD), print the sha256 of each object file (gcc's output is deterministic, so a
# corrupted compiler shows up as a different object), link and run two of the results.
set -euo pipefail
gcc=$1 src=$2
for f in stress mt_queue api; do
    "$gcc" -O2 -Wall -D_GNU_SOURCE -I "$src/../../preload" -pthread -c "$src/$f.c" -o "$f.o"
done
sha256sum stress.o mt_queue.o api.o
"$gcc" -O2 -pthread stress.o -o stress
"$gcc" -O2 -pthread mt_queue.o -o mt_queue
./stress 42 20000
./mt_queue 5000
