#!/usr/bin/env bash
# lighttpd.sh LIGHTTPD CURL WRK SITE -- lighttpd with 2 worker processes on a free loopback port,
# in this directory, not as a service: a bounded load of curl requests whose bodies are checked,
# a short wrk run, a stop (SIGTERM: a graceful one waits for idle keep-alive connections).
set -uo pipefail
LIGHTTPD=$1 CURL=$2 WRK=$3 SITE=$4
source "$(dirname "$0")/server_lib.sh"
write_config() {
    cat >lighttpd.conf <<CONF
server.document-root = "$SITE"
server.bind = "127.0.0.1"
server.port = $1
server.max-worker = 2
server.modules = ("mod_accesslog", "mod_alias")
server.errorlog = "$PWD/error.log"
accesslog.filename = "$PWD/access.log"
server.pid-file = "$PWD/lighttpd.pid"
mimetype.assign = (".html" => "text/html", ".bin" => "application/octet-stream")
\$HTTP["url"] =~ "^/wrk/" { accesslog.filename = "" }
alias.url = ("/wrk/" => "$SITE/")
CONF
}
start_server "$LIGHTTPD" -D -f "$PWD/lighttpd.conf" || exit 1
"$CURL" -s -o /dev/null -w 'first request %{http_code}\n' "http://127.0.0.1:$port/page.html"
load 20
wrk_load "http://127.0.0.1:$port/wrk/page.html"
stop_server TERM
echo "access log: $(wc -l <access.log) lines"
