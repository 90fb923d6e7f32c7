#!/usr/bin/env bash
# awk.sh AWK INPUT -- awk (mawk on Debian, or gawk) aggregates a text file with associative
# arrays, splits, sprintf and string building; prints the results.
set -euo pipefail
a=$1 in=$2
"$a" '{ n[$3]++; s[$3] += $6; w[$2] = w[$2] $1 "," } END {
        for (k in n) printf "%s %d %d\n", k, n[k], s[k]; for (k in w) printf "w %s %d\n", k, length(w[k]) }' "$in" | sort | cksum
"$a" '{ split($3, p, "-"); c[p[1]] += p[2]; t = t substr($2, 1, 1) } END { printf "%d %d %d\n", c["alpha"], c["beta"], length(t) }' "$in"
"$a" 'BEGIN { for (i = 0; i < 200000; i++) { k = sprintf("key%05d", (i * 7919) % 50000); h[k] = h[k] i ":" } n = 0
        for (k in h) n += length(h[k]); print n }'
"$a" '{ gsub(/[aeiou]/, "#"); sub(/ipsum/, "IPSUM"); print toupper($0) }' "$in" | cksum
