#!/usr/bin/env bash
# du.sh DU -- du over /usr (apparent sizes, so block allocation does not matter), per directory
# and in total; prints sizes and a checksum of the sorted listing.
set -euo pipefail
d=$1
"$d" -s --apparent-size -B1 /usr/share /usr/lib /usr/include 2>/dev/null
"$d" --apparent-size -B1 --max-depth=3 /usr/share /usr/lib 2>/dev/null | sort -k2 | sha256sum
"$d" -a --apparent-size -B1 /usr/share/doc 2>/dev/null | sort -k2 | sha256sum
"$d" -sch --apparent-size /usr/lib/x86_64-linux-gnu /usr/bin 2>/dev/null | tail -1
