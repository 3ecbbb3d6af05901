#!/usr/bin/env bash
# bench/http_fixed_response.sh — tenx's HTTP server against nginx on a fixed JSON response.
#
# What it runs, side by side in the same run, interleaved over several rounds:
#   * nginx 1.22 (Debian), `location = /hello { return 200 '<~200-byte JSON>'; }`,
#     worker_processes W, access_log off, reuseport;
#   * `tenx gateway --threads W` serving the same body from a `return` route
#     (bench/configs/fixed_response.toml: the shipped binary, a real route);
#   for W in 1 and 2, each loaded with `wrk -t1 -c64 -d10s --latency` on 127.0.0.1.
# It prints requests/s, p50 and p99 of each, and the tenx/nginx ratio of every round and the
# median. Rivals are installed with apt-get when missing (and it says so); none is skipped.
#
# Usage: bench/http_fixed_response.sh [--rounds N] [--duration 10s] [--workers "1 2"]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
ROUNDS=3; DURATION=10s; WORKERS="1 2"; CONNS=64
options --rounds ROUNDS --duration DURATION --workers WORKERS --connections CONNS -- "$@"

need wrk wrk
need /usr/sbin/nginx nginx
use_tenx
make_workdir

BODY=$(sed -n "s/^body = '\(.*\)'$/\1/p" bench/configs/fixed_response.toml)
NGINX_PORT=18481; TENX_PORT=18482

start_nginx() {  # workers
  { nginx_conf "nginx" "$1"; cat <<NGX
  server {
    listen 127.0.0.1:$NGINX_PORT reuseport;
    location = /hello { default_type application/json; return 200 '$BODY'; }
  }
}
NGX
  } > "$WORK/nginx.conf"
  /usr/sbin/nginx -c "$WORK/nginx.conf" & NGINX_PID=$!; PIDS+=("$NGINX_PID")
}
start_tenx() {  # workers
  "$TENX" gateway --config bench/configs/fixed_response.toml --listen 127.0.0.1:$TENX_PORT \
    --threads "$1" >"$WORK/tenx.out" 2>"$WORK/tenx.err" & TENX_PID=$!; PIDS+=("$TENX_PID")
}
wait_port() { for _ in $(seq 100); do curl -fs "http://127.0.0.1:$1/hello" >/dev/null && return 0; sleep 0.05; done; echo "bench: port $1 did not answer" >&2; exit 1; }

run_wrk() {  # port -> "rps p50ms p99ms"
  local out; out=$(wrk -t1 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$1/hello")
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(to_ms "$(echo "$out" | awk '$1=="50%" {print $2}')")
  p99=$(echo "$out" | awk '$1=="99%" {print $2}'); p99=$(to_ms "$p99")
  local errs; errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  [ -n "$errs" ] && echo "bench: wrk reported: $errs" >&2
  echo "$rps $p50 $p99"
}

echo "machine: $(nproc) cores, $(uname -r); nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/.*\///'); $("$TENX" version)"
echo "load: wrk -t1 -c$CONNS -d$DURATION --latency, body $(printf %s "$BODY" | wc -c) bytes"
printf '%-8s %-6s %-10s %12s %9s %9s\n' workers round server req/s p50_ms p99_ms
for W in $WORKERS; do
  start_nginx "$W"; start_tenx "$W"
  wait_port $NGINX_PORT; wait_port $TENX_PORT
  RATIOS=(); P99N=(); P99T=()
  for R in $(seq "$ROUNDS"); do
    # Alternate who goes first so drift on a shared machine does not favour one side.
    if [ $((R % 2)) -eq 1 ]; then order="nginx tenx"; else order="tenx nginx"; fi
    for who in $order; do
      if [ "$who" = nginx ]; then res=$(run_wrk $NGINX_PORT); N=($res); else res=$(run_wrk $TENX_PORT); T=($res); fi
      printf '%-8s %-6s %-10s %12s %9s %9s\n' "$W" "$R" "$who" $res
    done
    RATIOS+=("$(awk -v a="${T[0]}" -v b="${N[0]}" 'BEGIN{printf "%.3f", a/b}')")
    P99N+=("${N[2]}"); P99T+=("${T[2]}")
  done
  echo "workers=$W tenx/nginx req/s ratios: ${RATIOS[*]}  median $(med "${RATIOS[@]}")  p99 median: nginx $(med "${P99N[@]}") ms, tenx $(med "${P99T[@]}") ms"
  kill "$NGINX_PID" "$TENX_PID" 2>/dev/null || true; wait "$NGINX_PID" "$TENX_PID" 2>/dev/null || true
done
