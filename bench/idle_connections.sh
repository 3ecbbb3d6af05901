#!/usr/bin/env bash
# bench/idle_connections.sh — what an idle keep-alive connection costs in resident memory:
# `tenx gateway` against nginx, both answering the fixed ~200-byte JSON of
# bench/configs/fixed_response.toml with 2 workers, in the same run.
#
# For each server: N connections are opened (a Python client, 127.0.0.1 only), each sends one
# request, reads its answer, and stays open and idle; the server's resident memory (all its
# processes: nginx's workers and master) is read from /proc before and after, and the
# difference divided by N is the cost of one parked connection. Then the client closes them.
# Rounds alternate which server goes first. Goal (issue 10): <= 1 KiB per idle connection for
# tenx; nginx's is the mark to beat.
#
# Usage: bench/idle_connections.sh [--connections 8000] [--rounds 2] [--workers 2]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
CONNS=8000; ROUNDS=2; WORKERS=2
options --connections CONNS --rounds ROUNDS --workers WORKERS -- "$@"
need /usr/sbin/nginx nginx
need python3 python3
use_tenx
make_workdir
ulimit -n "$(ulimit -Hn)"  # each process holds up to --connections sockets

BODY=$(sed -n "s/^body = '\(.*\)'$/\1/p" bench/configs/fixed_response.toml)
NGINX_PORT=18491; TENX_PORT=18492

{ nginx_conf "nginx" "$WORKERS"; cat <<NGX
  keepalive_timeout 300s;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:$NGINX_PORT reuseport;
    location = /hello { default_type application/json; return 200 '$BODY'; }
  }
}
NGX
} > "$WORK/nginx.conf"
sed -i 's/worker_connections [0-9]*/worker_connections 16384/' "$WORK/nginx.conf"
grep -q worker_connections "$WORK/nginx.conf" ||
  sed -i "s/^events {/events { worker_connections 16384;/" "$WORK/nginx.conf"
# Each measurement starts its server afresh: freed memory is not given back to the system,
# so a second round in the same process would see the first round's memory reused.
start_server() {  # nginx|tenx -> SERVER_PID, SERVER_PORT
  if [ "$1" = nginx ]; then
    /usr/sbin/nginx -c "$WORK/nginx.conf" & SERVER_PID=$!; SERVER_PORT=$NGINX_PORT
  else
    "$TENX" gateway --config bench/configs/fixed_response.toml --listen 127.0.0.1:$TENX_PORT \
      --threads "$WORKERS" --set server.idle_timeout_ms=300000 \
      --set server.max_connections=100000 >"$WORK/tenx.out" 2>"$WORK/tenx.err" &
    SERVER_PID=$!; SERVER_PORT=$TENX_PORT
  fi
  PIDS+=("$SERVER_PID")
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$SERVER_PORT/hello" >/dev/null && return 0; sleep 0.05
  done
  echo "bench: $1 did not answer on $SERVER_PORT" >&2; exit 1
}

# Resident KiB of a process and its children (nginx: master + workers).
rss() {
  local total=0 p
  for p in $1 $(pgrep -P "$1" || true); do
    total=$((total + $(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

cat > "$WORK/park.py" <<'PY'
import socket, sys, time
port, n, ready, done = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
req = b"GET /hello HTTP/1.1\r\nHost: bench\r\n\r\n"
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    got = b""
    while b"\r\n\r\n" not in got:
        got += s.recv(4096)
    socks.append(s)
open(ready, "w").close()
deadline = time.time() + 120
import os
while not os.path.exists(done) and time.time() < deadline:
    time.sleep(0.05)
for s in socks:
    s.close()
PY

measure() {  # name pid port -> KiB per connection
  local before after
  rm -f "$WORK/ready" "$WORK/done"
  sleep 0.5; before=$(rss "$2")
  python3 "$WORK/park.py" "$3" "$CONNS" "$WORK/ready" "$WORK/done" & local client=$!
  for _ in $(seq 1200); do [ -e "$WORK/ready" ] && break; sleep 0.1; done
  [ -e "$WORK/ready" ] || { echo "bench: the client did not park $CONNS connections" >&2; exit 1; }
  sleep 1; after=$(rss "$2")
  touch "$WORK/done"; wait "$client" || true
  awk -v a="$after" -v b="$before" -v n="$CONNS" -v w="$1" \
    'BEGIN { printf "%s %d %d %.3f\n", w, b, a, (a - b) / n }'
}

echo "machine: $(nproc) cores, $(uname -r); nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/.*\///'); $("$TENX" version)"
echo "$CONNS idle keep-alive connections, $WORKERS workers each; resident KiB before / after, KiB per connection"
TEN=(); NGX=()
for R in $(seq "$ROUNDS"); do
  if [ $((R % 2)) -eq 1 ]; then order="nginx tenx"; else order="tenx nginx"; fi
  for who in $order; do
    start_server "$who"
    line=$(measure "$who" "$SERVER_PID" "$SERVER_PORT")
    stop "$SERVER_PID"
    if [ "$who" = nginx ]; then NGX+=("$(echo "$line" | awk '{print $4}')"); else TEN+=("$(echo "$line" | awk '{print $4}')"); fi
    echo "round $R: $line"
  done
done
echo "KiB per idle connection: nginx median $(med "${NGX[@]}"), tenx median $(med "${TEN[@]}")"
