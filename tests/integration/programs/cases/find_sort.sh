#!/usr/bin/env bash
# find_sort.sh FIND SORT -- find walks /usr/share and /usr/lib (thousands of directories),
# sort -u and sort by size put the names in order; prints counts and checksums. Directories the
# user cannot read are pruned (an unprivileged user cannot read a few).
set -euo pipefail
f=$1 s=$2
"$f" /usr/share /usr/lib -xdev ! -readable -prune -o -name '*.[ch]*' -printf '%s %p\n' | "$s" -k2 | sha256sum
"$f" /usr/share /usr/lib -xdev ! -readable -prune -o -type d -print | "$s" -u | wc -l
"$f" /usr/share -xdev ! -readable -prune -o -type f -size +2k -printf '%s %f\n' |
    "$s" --parallel=2 -S 8M -k1,1nr -k2 | awk 'NR <= 5'
"$f" /usr/lib -xdev ! -readable -prune -o \( -name '*.so*' -o -name '*.py' \) -printf '%f\n' |
    "$s" | uniq -c | "$s" -k1,1nr -k2 | awk 'NR <= 3'
