#!/usr/bin/env bash
# find_sort.sh FIND SORT -- find walks /usr/share and /usr/lib (thousands of directories),
# sort -u and sort by size put the names in order; prints counts and checksums.
set -euo pipefail
f=$1 s=$2
"$f" /usr/share /usr/lib -xdev -name '*.[ch]*' -printf '%s %p\n' 2>/dev/null | "$s" -k2 | sha256sum
"$f" /usr/share /usr/lib -xdev -type d 2>/dev/null | "$s" -u | wc -l
"$f" /usr/share -xdev -type f -size +2k -printf '%s %f\n' 2>/dev/null | "$s" --parallel=2 -S 8M -k1,1nr -k2 | awk 'NR <= 5'
"$f" /usr/lib -xdev \( -name '*.so*' -o -name '*.py' \) -printf '%f\n' 2>/dev/null | "$s" | uniq -c | "$s" -k1,1nr -k2 | awk 'NR <= 3'
