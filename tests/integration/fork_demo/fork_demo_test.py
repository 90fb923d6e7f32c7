#!/usr/bin/env python3
"""fork_demo_test.py -- prefork server under cowgc: how many of the parent's heap pages a worker's collections privatise.

Starts demo/prefork (small heap, 2 workers) with LD_PRELOAD=libcowgc.so and COWGC_MARK=<mark>,
sends a few hundred requests (plain sockets, no httperf), asks each worker for a full
collection (/collect on its control port), then measures with demo/smaps.py:
  privatised% = 100 - (worker's shared heap pages / master's heap pages) * 100
and asserts  outofline: privatised% <= --max-outofline (5)   inline: privatised% >= --min-inline (50).
Exit 0 = pass, 1 = fail (meson test protocol).
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time


def fail(msg, log=None):
    print("FAIL:", msg)
    if log and os.path.exists(log):
        print("---- server output ----")
        with open(log, errors="replace") as f:
            print(f.read()[-4000:])
    sys.exit(1)


def get(port, path, keep=None):
    """One HTTP/1.0 GET on a fresh connection; returns (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1]) if head else 0
    return status, body.decode(errors="replace")


def get_keepalive(port, path, n):
    """n GETs on one HTTP/1.1 keep-alive connection; returns the number of 200 answers."""
    ok = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        f = s.makefile("rb")
        for _ in range(n):
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
            status = f.readline().split()
            length = 0
            while True:
                line = f.readline()
                if line in (b"\r\n", b""):
                    break
                k, _, v = line.decode().partition(":")
                if k.lower() == "content-length":
                    length = int(v)
            f.read(length)
            ok += len(status) > 1 and status[1] == b"200"
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mark", choices=("outofline", "inline"), required=True)
    ap.add_argument("--server", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--smaps", required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scale", default="0.25")
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--max-outofline", type=float, default=5.0)
    ap.add_argument("--min-inline", type=float, default=50.0)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="fork_demo_")
    log = os.path.join(tmp, "server.log")
    env = dict(os.environ, LD_PRELOAD=os.path.abspath(args.lib), COWGC_MARK=args.mark,
               COWGC_MODE="collect", COWGC_MIN_TRIGGER="2M")
    env.pop("COWGC_STATS", None)
    with open(log, "w") as out:
        srv = subprocess.Popen([args.server, "--port", "0", "--workers", str(args.workers),
                                "--scale", args.scale, "--request-size", "50"],
                               stdout=out, stderr=subprocess.STDOUT, env=env,
                               start_new_session=True)   # its group: the workers go with it
    try:
        port, workers = None, {}
        deadline = time.time() + 60
        while time.time() < deadline:
            if srv.poll() is not None:
                fail(f"server exited with status {srv.returncode} during start-up", log)
            text = open(log, errors="replace").read()
            workers = {}
            for line in text.splitlines():
                if line.startswith("port="):
                    port = int(line[5:])
                if line.startswith("worker index="):
                    kv = dict(x.split("=") for x in line.split() if "=" in x)
                    if "ctl_port" in kv:
                        workers[int(kv["pid"])] = int(kv["ctl_port"])
            if port and len(workers) >= args.workers and "heap_probe=" in text:
                break
            time.sleep(0.1)
        else:
            fail("server did not start within 60 s", log)
        print(f"server port {port}, workers {sorted(workers)}, COWGC_MARK={args.mark}")

        # A few hundred requests: connection per request (spread over the workers) and keep-alive.
        ok = 0
        for _ in range(args.requests // 2):
            status, body = get(port, "/")
            ok += status == 200 and "Hello from worker" in body
        per_conn = 10
        for _ in range(args.requests // 2 // per_conn):
            ok += get_keepalive(port, "/", per_conn)
        want = args.requests // 2 + (args.requests // 2 // per_conn) * per_conn
        if ok != want:
            fail(f"{want - ok} of {want} requests failed", log)

        # One full collection in each worker, then measure.
        for pid, cport in sorted(workers.items()):
            status, body = get(cport, "/collect")
            st = json.loads(body) if status == 200 else {}
            print(f"worker {pid}: /collect -> {body.strip()}")
            if st.get("pid") != pid:
                fail(f"control port {cport} answered for pid {st.get('pid')}, wanted {pid}", log)
            if not st.get("cowgc"):
                fail("cowgc_get_stats not found: is the library preloaded?", log)
            if not st.get("collected") or st.get("collections", 0) <= st.get("collections_at_fork", 0):
                fail(f"worker {pid}: no collection ran", log)
        r = subprocess.run([sys.executable, args.smaps, "--server-log", log, "--stats",
                            "--format", "json"], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            fail(f"smaps.py failed: {r.stderr}", log)
        rows = json.loads(r.stdout)
        subprocess.run([sys.executable, args.smaps, "--server-log", log, "--stats"])
        master = [x for x in rows if x["role"] == "master"]
        wrows = [x for x in rows if x["role"] == "worker"]
        if not master or master[0]["heap_rss"] == 0:
            fail("heap mapping not found in the master (heap_probe)", log)
        if len(wrows) != args.workers:
            fail(f"found {len(wrows)} workers, wanted {args.workers}", log)
        if "re-forking" in open(log, errors="replace").read():
            fail("a worker died during the test", log)
        bad = []
        for w in wrows:
            priv = 100.0 - w["heap_shared_pct"]
            print(f"worker {w['pid']}: served {w['served']}, collections since fork {w['collections']}, "
                  f"heap shared {w['heap_shared']} KiB of master's {master[0]['heap_rss']} KiB "
                  f"-> {priv:.1f}% of the parent's heap pages privatised")
            if args.mark == "outofline" and priv > args.max_outofline:
                bad.append(f"worker {w['pid']}: {priv:.1f}% privatised > {args.max_outofline}%")
            if args.mark == "inline" and priv < args.min_inline:
                bad.append(f"worker {w['pid']}: {priv:.1f}% privatised < {args.min_inline}%")
        if srv.poll() is not None:
            fail(f"server exited with status {srv.returncode}", log)
        if bad:
            fail("; ".join(bad), log)
        print("PASS")
    finally:
        if srv.poll() is None:
            srv.send_signal(signal.SIGTERM)
            try:
                srv.wait(timeout=20)
            except subprocess.TimeoutExpired:
                srv.kill()
                srv.wait()
        try:                              # workers left behind by a failed or killed server
            os.killpg(srv.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


if __name__ == "__main__":
    main()
