#!/bin/bash
# fork_loop.sh N [external] -- a shell loop of command substitutions: N iterations of $(echo),
# a builtin pipeline in $( ), and arithmetic; with "external", also one exec'd command (tr) per
# iteration. Every $( ) is a forked bash child that exits; tr is a new program.
n=${1:-1000}
s=0
for ((i = 0; i < n; i++)); do
    x=$(echo "$i")
    y=$(printf '%s' "$x" | { read -r v; echo "${v}0"; })
    if [ "${2:-}" = external ]; then z=$(echo "$y" | tr 0 1); else z=$y; fi
    s=$((s + ${#z}))
done
echo "$s"
