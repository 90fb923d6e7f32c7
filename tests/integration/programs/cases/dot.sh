#!/usr/bin/env bash
# dot.sh DOT BIG.gv SMALL.gv -- graphviz: dot lays out a generated graph of a few thousand nodes
# with text labels (fontconfig and freetype measure DejaVu Sans) into SVG and plain text, neato a
# smaller one; prints checksums and counts. The same graph laid out twice is the same drawing.
set -euo pipefail
d=$1 big=$2 small=$3
"$d" -Tsvg "$big" -o graph.svg
sha256sum <graph.svg
grep -c '<g id="node' graph.svg
"$d" -Tplain "$big" | sha256sum
"$d" -Kneato -Tsvg "$small" | grep -c '<g id="edge'
"$d" -Kcirco -Tplain "$small" | sha256sum
