#!/usr/bin/env bash
# zstd.sh ZSTD INPUT -- zstd -T2 at a few levels, with long-distance matching, and a dictionary
# trained on pieces of INPUT; prints checksums, which are the same on every correct run.
set -euo pipefail
zstd=$1 in=$2
for level in 3 12; do
    "$zstd" -q -T2 -"$level" -c "$in" >"out$level.zst"
    echo "level $level $(sha256sum <"out$level.zst" | cut -c1-64) $("$zstd" -q -dc "out$level.zst" | sha256sum | cut -c1-64)"
done
"$zstd" -q -T2 --long=24 -c "$in" | "$zstd" -q --long=24 -dc | cmp - "$in" && echo "long round trip ok"
mkdir samples
split -l 200 -a 4 "$in" samples/s.
"$zstd" -q --train samples/* -o dict --maxdict=65536
sha256sum <dict
"$zstd" -q -D dict -c samples/s.aaab | "$zstd" -q -D dict -dc | cmp - samples/s.aaab && echo "dictionary round trip ok"
