#!/usr/bin/env bash
# gcc.sh GCC INPUT.c -- gcc compiles a generated C file of a few hundred functions at -O2 and -O0
# -g (gcc's output is deterministic: a corrupted compiler shows up as a different object), links
# and runs it; prints object checksums and the program's output.
set -euo pipefail
gcc=$1 in=$2
cp "$in" gen.c
"$gcc" -O2 -Wall -c gen.c -o gen-O2.o
"$gcc" -O0 -g -fdebug-prefix-map="$PWD"=/src -c gen.c -o gen-O0.o
sha256sum gen-O2.o gen-O0.o
"$gcc" gen-O2.o -o gen
./gen
"$gcc" -O1 -fsyntax-only -Wextra gen.c && echo "syntax ok"
