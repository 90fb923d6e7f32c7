#!/usr/bin/env bash
# xz.sh XZ INPUT -- xz -T2 compresses INPUT in 1 MiB blocks (so both threads work), lists and
# decompresses it; prints checksums, which are the same on every correct run.
set -euo pipefail
xz=$1 in=$2
"$xz" -T2 -6 --block-size=1MiB -c "$in" >out.xz
sha256sum <out.xz
"$xz" -T2 -dc out.xz | sha256sum
sha256sum <"$in"
"$xz" --robot -l out.xz | grep -E '^(totals|stream)' | cut -f1-7
head -c 1000000 "$in" >part
"$xz" -T2 -9e -c part | "$xz" -dc | cmp - part && echo "-9e round trip ok"
