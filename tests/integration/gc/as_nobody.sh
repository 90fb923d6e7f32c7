#!/usr/bin/env bash
# as_nobody.sh -- run a test program under libcowgc.so as an ordinary user (uid 65534), the way a
# server that dropped its privileges runs. As root: copies the library and the program to a
# world-readable scratch directory (a build tree may sit under a 0700 mktemp directory) and
# drops to nobody with setpriv. As any other user: runs the program as it is.
# usage: as_nobody.sh LIB PROGRAM [ARGS...]   (COWGC_* variables pass through)
set -u
lib=$1 prog=$2
shift 2
if [ "$(id -u)" != 0 ]; then
    LD_PRELOAD=$lib exec "$prog" "$@"
fi
command -v setpriv >/dev/null || { echo "as_nobody: setpriv missing (util-linux)"; exit 77; }
dir=$(mktemp -d /tmp/cowgc-nobody.XXXXXX) || exit 1
trap 'rm -rf "$dir"' EXIT
chmod 755 "$dir"
cp "$lib" "$dir/libcowgc.so" && cp "$prog" "$dir/prog" && chmod 755 "$dir/libcowgc.so" "$dir/prog" || exit 1
cd "$dir" || exit 1
setpriv --reuid=65534 --regid=65534 --clear-groups env LD_PRELOAD="$dir/libcowgc.so" "$dir/prog" "$@"
