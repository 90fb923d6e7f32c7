#!/usr/bin/env bash
# tar_gzip.sh TAR GZIP -- tar packs a tree of /usr/share files (sorted, with fixed owners and
# times, so the archive is byte-for-byte reproducible), gzip -n compresses it, and both unpack it
# again; prints checksums.
set -euo pipefail
tar=$1 gzip=$2
t() { "$tar" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1600000000 --mode=a+rX,u+w "$@"; }
t -C /usr/share -cf - perl5 zoneinfo/Europe mime 2>/dev/null >tree.tar || t -C /usr/share -cf - zoneinfo mime >tree.tar
sha256sum <tree.tar | cut -c1-64
"$gzip" -n -6 <tree.tar >tree.tar.gz
sha256sum <tree.tar.gz | cut -c1-64
mkdir out
"$gzip" -dc tree.tar.gz | "$tar" -C out -xf -
"$tar" -tvf tree.tar | awk '{ print $3, $6 }' | sort -k2 | sha256sum | cut -c1-64
(cd out && find . -type f -print0 | sort -z | xargs -0 cat | sha256sum | cut -c1-64)
"$gzip" -n -9 <tree.tar | "$gzip" -t && echo "gzip -9 test ok"
