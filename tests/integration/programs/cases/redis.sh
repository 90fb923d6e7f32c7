#!/usr/bin/env bash
# redis.sh REDIS_SERVER REDIS_CLI -- redis (Debian's links jemalloc, whose malloc cowgc's
# replaces) on a free loopback port, with 2 I/O threads and frees on its background threads
# (lazyfree): a deterministic load through redis-cli, a BGSAVE (a forked child writes the dump
# while the parent serves and changes the data), DEBUG RELOAD (the dump read back into a fresh
# dataset), the dataset's digest and some values, a stop (SIGTERM).
set -uo pipefail
SERVER=$1 CLI=$2
source "$(dirname "$0")/server_lib.sh"
write_config() {
    cat >redis.conf <<CONF
bind 127.0.0.1
port $1
dir $PWD
dbfilename dump.rdb
save ""
appendonly no
io-threads 2
io-threads-do-reads yes
lazyfree-lazy-user-del yes
lazyfree-lazy-server-del yes
enable-debug-command yes
logfile $PWD/redis.log
CONF
}
start_server "$SERVER" "$PWD/redis.conf" || exit 1
cli() { "$CLI" -p "$port" "$@"; }
# One round of writes: strings of many sizes, lists, hashes, sets and a sorted set.
round() {
    local r=$1 i pad
    for ((i = 0; i < 2500; i++)); do
        printf -v pad "%0*d" $((i % 300)) "$r"
        echo "SET k:$r:$i v$((i * 7919 % 10007))-$pad"
        echo "RPUSH l:$((i % 64)) $r-$i"
        echo "HSET h:$((i % 32)) f$i $r.$i"
        echo "SADD s:$((i % 16)) m$((i * 31 % 5000))"
        echo "ZADD z $((i * 13 % 1000)) z$r.$i"
    done
}
pipe() { cli --pipe | grep -o 'errors: [0-9]*'; }
round 1 | pipe
round 2 | pipe
echo "unlinked $(for ((i = 0; i < 64; i += 2)); do echo "UNLINK l:$i"; done | cli | grep -c "^1$")"
cli BGSAVE
round 3 | pipe    # while the child writes the dump: the parent's pages are copied, not the child's
for i in $(seq 1 300); do
    [ "$(cli INFO persistence | tr -d '\r' | sed -n 's/^rdb_bgsave_in_progress://p')" = 0 ] && break
    sleep 0.1
done
cli INFO persistence | tr -d '\r' | grep -E '^rdb_last_bgsave_status'
cli DBSIZE
cli DEBUG DIGEST
cli DEBUG RELOAD
cli DBSIZE
cli DEBUG DIGEST
cli GET k:2:1777
cli LRANGE l:7 0 5
cli HGET h:3 f2499
cli SCARD s:5
cli ZRANGE z 0 4 WITHSCORES
stop_server TERM
