#!/usr/bin/env bash
# memcached.sh MEMCACHED PYTHON3 -- memcached (4 worker threads and its own slab allocator over
# 1 MiB blocks from malloc) on a free loopback port: three rounds of sets of values from 3 to
# 1400 bytes, gets checked by digest, deletes, an incr of a missing key, item stats; a stop
# (SIGTERM). The client is a small Python program over a socket.
set -uo pipefail
MEMCACHED=$1 PYTHON=$2
source "$(dirname "$0")/server_lib.sh"
# start_server takes a fixed command; the port it picks goes in through this wrapper.
write_config() {
    printf '#!/bin/sh\nexec %q -U 0 -l 127.0.0.1 -p %s -t 4 -m 64 -u nobody\n' "$MEMCACHED" "$1" >run.sh
    chmod +x run.sh
}
start_server "$PWD/run.sh" || exit 1
"$PYTHON" - "$port" <<'PY'
import hashlib, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
f = s.makefile("rb")
h = hashlib.sha256()
got = 0
for r in range(3):
    for i in range(4000):
        v = (b"%d-" % (i * r)) * (i % 200 + 1)
        s.sendall(b"set k%d %d 0 %d noreply\r\n%s\r\n" % (i, r, len(v), v))
    for i in range(0, 4000, 7):
        s.sendall(b"get k%d\r\n" % i)
        line = f.readline()
        if line.startswith(b"VALUE"):
            n = int(line.split()[3])
            h.update(line + f.read(n + 2))
            got += 1
            line = f.readline()
        if line != b"END\r\n":
            print("unexpected reply", line)
    for i in range(0, 4000, 5):
        s.sendall(b"delete k%d noreply\r\n" % i)
s.sendall(b"incr nothere 1\r\n")
print("incr", f.readline().strip().decode())
s.sendall(b"stats items\r\n")
items = [l for l in iter(f.readline, b"END\r\n") if b":number " in l]
print("values", got, h.hexdigest())
print("slab classes with items", len(items))
PY
stop_server TERM
