# server_lib.sh -- sourced by the server cases: start a server on a free loopback port, put a
# bounded load on it with curl (a fixed number of requests, bodies checked against the files) and
# wrk (a fixed, short duration), and stop it. Every request goes to 127.0.0.1 only.
#   needs: $CURL, $WRK (may be empty: wrk is then not used), SITE (the document root).

port=""
server_pid=""
server_group=""   # stays set after the stop: no process of the group may be left

# port_in_use PORT: something accepts connections on 127.0.0.1:PORT
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_server CMD...: runs CMD (the server in its foreground mode, reading the config file that
# the case's function write_config PORT writes) in the background until it listens on PORT.
# Tries a few random high ports. The server gets a session (and process group) of its own:
# lighttpd stops its workers by signalling its whole process group, which must not be ours.
start_server() {
    local try i
    for try in 1 2 3 4 5 6 7 8; do
        port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
        port_in_use "$port" && continue
        write_config "$port"
        setsid "$@" &   # (setsid execs the server: no fork, as we are not a group leader)
        server_pid=$! server_group=$!
        for i in $(seq 1 300); do
            if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
            if port_in_use "$port"; then return 0; fi
            sleep 0.1
        done
        if kill -0 "$server_pid" 2>/dev/null; then
            echo "server did not listen on port $port within 30 s" >&2
            kill_server
            return 1
        fi
        wait "$server_pid" 2>/dev/null   # it exited: most likely the port was taken; try another
    done
    echo "could not start the server on a free port" >&2
    return 1
}

# stop_server SIGNAL: ask the server to stop, wait up to 20 s for it, print its exit status.
stop_server() {
    local sig=$1 i rc left
    [ -n "$server_pid" ] || return 0
    kill -"$sig" "$server_pid" 2>/dev/null
    for i in $(seq 1 200); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$server_pid" 2>/dev/null; then
        echo "server pid $server_pid did not stop on SIG$sig within 20 s: killed" >&2
        kill -KILL -- "-$server_group" 2>/dev/null
    fi
    wait "$server_pid"
    rc=$?
    server_pid=""
    echo "server exit status $rc"
    # Workers of a graceful stop may outlive the server a moment, and exited ones stay zombies
    # until init reaps them: a process still there after 5 s is left over (a fixed 0.2 s wait
    # once reported a plain lighttpd worker still exiting on a loaded machine).
    for i in $(seq 1 50); do
        left=$(ps -o stat=,pid=,args= -g "$server_group" | awk '$1 !~ /^Z/' | tr '\n' ';')
        [ -z "$left" ] && break
        sleep 0.1
    done
    [ -z "$left" ] || echo "server processes left after the server stopped: $left"
}
# Whatever happens (an error, or the timeout's SIGTERM), no server process outlives the case.
kill_server() {
    [ -n "$server_group" ] && kill -KILL -- "-$server_group" 2>/dev/null
    [ -n "$server_pid" ] && wait "$server_pid" 2>/dev/null
    server_pid=""
}
trap kill_server EXIT
trap 'kill_server; exit 143' TERM
trap 'kill_server; exit 130' INT
trap 'kill_server; exit 129' HUP

# load ROUNDS: every file of SITE fetched ROUNDS times by curl (8 in parallel, kept-alive
# connections), one missing file per round, a gzip and a byte-range request; prints the status
# codes seen and the number of bodies that differ from the files.
load() {
    local prefix=/ rounds=$1 f r n=0 bad=0
    mkdir -p dl
    : >urls.cfg
    for r in $(seq 1 "$rounds"); do
        for f in $(cd "$SITE" && ls); do
            n=$((n + 1))
            printf 'url = "http://127.0.0.1:%s%s%s"\noutput = "dl/%s.%s"\n' "$port" "$prefix" "$f" "$f" "$r" >>urls.cfg
        done
        printf 'url = "http://127.0.0.1:%s%smissing-%s"\noutput = "dl/missing.%s"\n' "$port" "$prefix" "$r" "$r" >>urls.cfg
    done
    "$CURL" -s --no-progress-meter -Z --parallel-max 8 -K urls.cfg -w '%{http_code}\n' | sort | uniq -c
    for r in $(seq 1 "$rounds"); do
        for f in $(cd "$SITE" && ls); do cmp -s "dl/$f.$r" "$SITE/$f" || bad=$((bad + 1)); done
    done
    echo "$n files fetched, $bad bodies differ"
    "$CURL" -s --compressed "http://127.0.0.1:$port${prefix}page.html" | cmp - "$SITE/page.html" && echo "gzip body ok"
    "$CURL" -s -r 1000-1999 "http://127.0.0.1:$port${prefix}blob3.bin" | cmp - <(tail -c +1001 "$SITE/blob3.bin" | head -c 1000) \
        && echo "range body ok"
}

# wrk_load URL: wrk for 2 s, 2 threads, 8 connections. Its counts vary from run to run, so only
# its errors are printed (the server case keeps these requests out of its access log).
wrk_load() {
    [ -n "${WRK:-}" ] || { echo "wrk not installed"; return 0; }
    "$WRK" -t2 -c8 -d2s "$1" >wrk.out 2>&1 || echo "wrk failed"
    if grep -qE 'Non-2xx|Socket errors' wrk.out || ! grep -q 'requests in' wrk.out; then
        echo "wrk saw errors:"; cat wrk.out
    else
        echo "wrk ok"
    fi
}
