#!/usr/bin/env bash
# text.sh INPUT -- a coreutils/grep/sed text pipeline: grep -E and -c, sed with hold space and
# substitutions, cut, tr, sort -u, uniq -c, join, paste, wc; prints counts and checksums.
set -euo pipefail
in=$1
grep -cE 'alpha-[0-9]{4} ' "$in"
grep -E ' (a|b|c)[a-z]* ' "$in" | cut -d' ' -f2 | sort | uniq -c | sort -k1,1nr -k2 | awk 'NR <= 5'
sed -E 's/([0-9]+) sit/<\1> sit/; s/lorem ipsum/LI/; /beta/ { s/dolor/D/g }' "$in" | sha256sum
sed -n '1~97 { h; s/ .*//; G; s/\n/|/p }' "$in" | tr 'a-z' 'A-Z' | sha256sum
cut -d' ' -f3 "$in" | tr -d '0-9' | sort | uniq -c
cut -d' ' -f1,2 "$in" | sort -k2,2 -k1,1 | awk 'NR % 500 == 0' >a.txt
cut -d' ' -f1,6 "$in" | sort -k1,1 >b.txt
sort -k1,1 a.txt | join - b.txt | paste -sd';' | sha256sum
wc -lwc <"$in"
