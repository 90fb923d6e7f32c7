#!/usr/bin/env bash
# du.sh DU -- du over /usr (apparent sizes, so block allocation does not matter), per directory
# and in total; prints sizes and a checksum of the sorted listing. Directories the user cannot
# read are excluded (an unprivileged user cannot read a few).
set -euo pipefail
d=$1
ex=()
while IFS= read -r dir; do ex+=("--exclude=$dir"); done < <(find /usr -xdev -type d ! -readable -print -prune)
"$d" "${ex[@]}" -s --apparent-size -B1 /usr/share /usr/lib /usr/include
"$d" "${ex[@]}" --apparent-size -B1 --max-depth=3 /usr/share /usr/lib | sort -k2 | sha256sum
"$d" "${ex[@]}" -a --apparent-size -B1 /usr/share/doc | sort -k2 | sha256sum
"$d" "${ex[@]}" -sch --apparent-size /usr/lib/x86_64-linux-gnu /usr/bin | tail -1
