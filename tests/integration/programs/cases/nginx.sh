#!/usr/bin/env bash
# nginx.sh NGINX CURL WRK SITE -- nginx with 2 worker processes (and a thread pool for file
# reads) on a free loopback port, in this directory, not as a service: a bounded load of curl
# requests whose bodies are checked, a short wrk run, a graceful stop (SIGQUIT). As root the
# workers run as nobody, as nginx does in production.
set -uo pipefail
NGINX=$1 CURL=$2 WRK=$3 SITE=$4
source "$(dirname "$0")/server_lib.sh"
mkdir -p logs tmp
write_config() {
    cat >nginx.conf <<CONF
worker_processes 2;
daemon off;
pid $PWD/nginx.pid;
error_log stderr warn;
$( [ "$(id -u)" = 0 ] && echo "user nobody nogroup;" )
events { worker_connections 256; }
thread_pool io threads=2;
http {
    access_log $PWD/logs/access.log;
    client_body_temp_path $PWD/tmp/body;
    proxy_temp_path $PWD/tmp/proxy;
    fastcgi_temp_path $PWD/tmp/fastcgi;
    uwsgi_temp_path $PWD/tmp/uwsgi;
    scgi_temp_path $PWD/tmp/scgi;
    types { text/html html; application/octet-stream bin; }
    gzip on;
    log_not_found off;
    server {
        listen 127.0.0.1:$1;
        root $SITE;
        aio threads=io;
        location /wrk/ { alias $SITE/; access_log off; }
    }
}
CONF
}
start_server "$NGINX" -p "$PWD/" -c "$PWD/nginx.conf" -e stderr || exit 1
"$CURL" -s -o /dev/null -w 'first request %{http_code}\n' "http://127.0.0.1:$port/page.html"
load 20
wrk_load "http://127.0.0.1:$port/wrk/page.html"
stop_server QUIT
echo "access log: $(wc -l <logs/access.log) lines"
