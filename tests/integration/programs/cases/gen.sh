#!/usr/bin/env bash
# gen.sh KIND N -- deterministic inputs for the program cases, written to stdout (a seeded LCG in
# awk: mawk and gawk agree). Runs in --setup, without cowgc.
#   text N   N lines of compressible text        json N   an array of N objects
#   xml N    a catalogue of N items              graph N  a DOT digraph of N nodes
#   csrc N   a C file with N functions
#   site N   (in the current directory) site/: page.html and N binary files of up to 2 MB
set -eu
kind=$1 n=$2
lcg='function r() { x = (x * 69069 + 1) % 4294967296; return int(x / 65536) }'   # exact in doubles
case "$kind" in
text) awk -v n="$n" "$lcg"' BEGIN { x = 7; for (i = 0; i < n; i++) {
          printf "%08d %s %s-%d lorem ipsum dolor %d sit amet\n", i, substr("abcdefghijklmnopqrstuvwxyz", r() % 26 + 1, r() % 9 + 1),
                 (r() % 2 ? "alpha" : "beta"), r() % 5000, r() % 100 } }' ;;
json) awk -v n="$n" "$lcg"' BEGIN { x = 11; printf "["; for (i = 0; i < n; i++) {
          printf "%s{\"id\":%d,\"name\":\"user%05d\",\"group\":\"g%d\",\"score\":%d.%02d,\"tags\":[", (i ? "," : ""), i, r() % 100000, r() % 40, r() % 1000, r() % 100
          k = r() % 4; for (j = 0; j < k; j++) printf "%s\"t%d\"", (j ? "," : ""), r() % 12
          printf "],\"active\":%s}\n", (r() % 3 ? "true" : "false") } print "]" }' ;;
xml) awk -v n="$n" "$lcg"' BEGIN { x = 13; print "<?xml version=\"1.0\"?>"; print "<catalog>"; for (i = 0; i < n; i++)
          printf "  <item id=\"%d\" cat=\"c%d\"><name>Item &amp; %05d</name><price>%d.%02d</price><qty>%d</qty></item>\n", i, r() % 25, r() % 100000, r() % 500, r() % 100, r() % 50
          print "</catalog>" }' ;;
graph) awk -v n="$n" "$lcg"' BEGIN { x = 17; print "digraph G {"; print "  node [fontname=\"DejaVu Sans\", shape=box];"
          for (i = 0; i < n; i++) printf "  n%d [label=\"node %d\\n%s\"];\n", i, i, substr("abcdefghijklmnop", r() % 16 + 1, r() % 6 + 1)
          for (i = 1; i < n; i++) { printf "  n%d -> n%d;\n", int((i - 1) / 3), i; if (r() % 8 == 0) printf "  n%d -> n%d [color=red];\n", i, r() % n }
          print "}" }' ;;
csrc) awk -v n="$n" "$lcg"' BEGIN { x = 19; print "#include <stdio.h>\n#include <string.h>\n#include <stdlib.h>"
          for (i = 0; i < n; i++) {
            printf "struct s%d { int a[%d]; double d; char name[%d]; };\n", i, r() % 16 + 1, r() % 32 + 1
            printf "static long f%d(long v) { struct s%d s; memset(&s, %d, sizeof s); long t = v;\n", i, i, i % 7
            printf "  for (int k = 0; k < %d; k++) { t = t * %d + s.a[k %% (int)(sizeof s.a / sizeof s.a[0])] + (k ^ %d); if (t > 1000000007L) t %%= 1000000007L; }\n", r() % 50 + 5, r() % 97 + 2, r() % 31
            printf "  switch (v & 3) { case 0: t += %d; break; case 1: t ^= %d; break; default: t -= %d; }\n  return t; }\n", r() % 1000, r() % 1000, r() % 1000 }
          print "int main(void) { long t = 1;"; for (i = 0; i < n; i++) printf "  t = f%d(t);\n", i
          print "  printf(\"%ld\\n\", t); return 0; }" }' ;;
site) mkdir -p site
      awk "$lcg"' BEGIN { x = 23; print "<html><body>"; for (i = 0; i < 3000; i++) printf "<p>para %d %s</p>\n", i, substr("lorem ipsum dolor sit amet", 1, r() % 26 + 1); print "</body></html>" }' >site/page.html
      for ((i = 0; i < n; i++)); do
          awk -v i="$i" "$lcg"' BEGIN { x = i; m = (i * 7919) % 2000 + 1; if (i % 4 == 3) m *= 300
                for (k = 0; k < m; k++) printf "%c", 32 + r() % 95 }' >"site/blob$i.bin"
      done ;;
*) echo "gen.sh: unknown kind $kind" >&2; exit 2 ;;
esac
