#!/usr/bin/env bash
# readme_options.sh -- README.md's option table is the one `cowgc --markdown-options` prints.
set -eu
cowgc=$1 readme=$2
want=$("$cowgc" --markdown-options)
have=$(sed -n '/<!-- options:begin -->/,/<!-- options:end -->/p' "$readme" | sed '1d;$d')
if [ "$want" != "$have" ]; then
    echo "README.md's option table is out of date; regenerate it from: cowgc --markdown-options"
    diff <(echo "$want") <(echo "$have") || true
    exit 1
fi
echo "README option table matches the options table"
