#!/usr/bin/env bash
# jq.sh JQ INPUT -- jq filters over a JSON array of objects: group_by, sort_by, select, map,
# reduce, paths, @csv and a streaming parse; prints their results.
set -euo pipefail
jq=$1 in=$2
"$jq" -c 'group_by(.group) | map({g: .[0].group, n: length, s: (map(.score) | add | floor)}) | sort_by(-.n, .g) | .[:5]' "$in"
"$jq" -c '[.[] | select(.active and (.tags | index("t3")))] | length' "$in"
"$jq" -r '.[] | select(.id % 97 == 0) | [.id, .name, .group, .score, (.tags | join("+"))] | @csv' "$in" | sha256sum
"$jq" -c 'reduce .[] as $x ({}; .[$x.tags[]?] += 1) | to_entries | sort_by(.key) | from_entries' "$in"
"$jq" -c 'map(.name) | unique | length, .[0], .[-1]' "$in"
"$jq" -c '[paths | length] | max' "$in"
"$jq" -c --stream 'select(length == 2 and .[0][1] == "score") | .[1]' "$in" | sha256sum
"$jq" -c 'map(. + {key: "\(.group)/\(.name)"} | del(.tags)) | sort_by(.key) | .[:2], (.[-1].key)' "$in"
"$jq" -S . "$in" | sha256sum
