#!/usr/bin/env bash
# bench/gateway_slow_requests.sh — load balancing policies when some requests are slow: the
# "server 2 is handling a 30-second report export" case, scaled down to 300 ms.
#
# What it runs, side by side in the same run, on 127.0.0.1:
#   * upstreams: two bench/upstreams/serial_upstream.py (Debian's python3, single-threaded,
#     one request at a time over all connections, HTTP/1.1 keep-alive): GET /fast answers at
#     once, GET /slow after 300 ms, during which that upstream answers nothing else;
#   * in front of them, one at a time, each started fresh for each measurement:
#     - `tenx gateway --threads W --upstream U1 --upstream U2 --balance P` for P = round_robin,
#       least_conn, p2c_ewma (access log off);
#     - as the reference, nginx 1.22 (Debian), `upstream pool { [least_conn;] server U1;
#       server U2; zone; keepalive 64; }`, proxy_http_version 1.1, `proxy_set_header
#       Connection ""`, worker_processes W, access_log off, with round robin and least_conn;
#   W = 1. Load on each: a background `wrk -t1 -c4 -d12s /slow` and, starting 1 s later, the
#   measured `wrk -t1 -c16 -d10s --latency /fast` (both with --timeout 30s, so every slow
#   answer is in the latency figures rather than counted as a wrk timeout). Between
#   measurements both upstreams are drained (a direct GET /fast on each must answer).
#   2 rounds, the order of the five configurations reversed every round.
# It prints, per round, the fast requests' req/s, p50 and p99 (and errors, if any), the slow
# requests completed, and at the end a table with the medians per policy.
# Rivals are installed with apt-get when missing (and it says so); none is skipped. Every
# process it starts is stopped by PID on exit. About 2.5 minutes with the defaults.
#
# Usage: bench/gateway_slow_requests.sh [--rounds 2] [--duration 10s] [--workers 1]
#          [--slow-connections 4] [--fast-connections 16] [--slow-ms 300]
# TENX=path/to/tenx measures another build (default build/release/bin/tenx).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
ROUNDS=2; DURATION=10s; W=1; SLOW_CONNS=4; FAST_CONNS=16; SLOW_MS=300
options --rounds ROUNDS --duration DURATION --workers W --slow-connections SLOW_CONNS \
  --fast-connections FAST_CONNS --slow-ms SLOW_MS -- "$@"
case "$DURATION" in *s) ;; *) echo "--duration takes seconds, like 10s" >&2; exit 2;; esac
SLOW_DURATION=$(( ${DURATION%s} + 2 ))s   # covers the measured load: starts 1 s before, ends 1 s after

need wrk wrk
need curl curl
need /usr/sbin/nginx nginx
need /usr/bin/python3 python3   # Debian's, not a pyenv shim: its PID must be the server's
use_tenx
make_workdir
trap 'exit 130' INT TERM

U1_PORT=18501; U2_PORT=18502
# configuration -> proxy port; each is started fresh for each measurement
declare -A PORT=([nginx:round_robin]=18503 [nginx:least_conn]=18504
                 [tenx:round_robin]=18505 [tenx:least_conn]=18506 [tenx:p2c_ewma]=18507)
CONFIGS="nginx:round_robin nginx:least_conn tenx:round_robin tenx:least_conn tenx:p2c_ewma"
REVERSED=$(echo "$CONFIGS" | tr ' ' '\n' | tac | tr '\n' ' ')
for p in $U1_PORT $U2_PORT "${PORT[@]}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "bench: something already listens on 127.0.0.1:$p (a previous run?); stopping" >&2; exit 1
  fi
done

wait_http() {  # port pid name log: until GET /fast answers 200; fails if the process exits
  for _ in $(seq 200); do
    curl -fs -o /dev/null --max-time 5 "http://127.0.0.1:$1/fast" && return 0
    if ! kill -0 "$2" 2>/dev/null; then
      echo "bench: $3 exited before answering on port $1; its log:" >&2; tail -n 20 "$4" >&2 || true; exit 1
    fi
    sleep 0.05
  done
  echo "bench: $3 did not answer on port $1 within 10 s; its log:" >&2; tail -n 20 "$4" >&2 || true; exit 1
}
start_upstreams() {
  /usr/bin/python3 bench/upstreams/serial_upstream.py --port $U1_PORT --slow-ms "$SLOW_MS" \
    >"$WORK/upstream1.log" 2>&1 & U1_PID=$!; PIDS+=("$U1_PID")
  /usr/bin/python3 bench/upstreams/serial_upstream.py --port $U2_PORT --slow-ms "$SLOW_MS" \
    >"$WORK/upstream2.log" 2>&1 & U2_PID=$!; PIDS+=("$U2_PID")
  wait_http $U1_PORT "$U1_PID" "upstream 1" "$WORK/upstream1.log"
  wait_http $U2_PORT "$U2_PID" "upstream 2" "$WORK/upstream2.log"
}
drain_upstreams() {  # requests a proxy had queued on a serial upstream finish before the next measurement
  curl -fs -o /dev/null --max-time 60 "http://127.0.0.1:$U1_PORT/fast" &&
    curl -fs -o /dev/null --max-time 60 "http://127.0.0.1:$U2_PORT/fast" ||
    { echo "bench: an upstream did not drain within 60 s" >&2; exit 1; }
}
start_proxy() {  # config -> PROXY_PID
  local who=${1%%:*} policy=${1#*:} port=${PORT[$1]}
  if [ "$who" = nginx ]; then
    local method=""; [ "$policy" = least_conn ] && method="least_conn;"
    { nginx_conf "nginx-$policy" "$W"; cat <<NGX
  upstream pool {
    $method
    zone pool 64k;
    server 127.0.0.1:$U1_PORT;
    server 127.0.0.1:$U2_PORT;
    keepalive 64;
  }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://pool;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
NGX
    } > "$WORK/nginx-$policy.conf"
    /usr/sbin/nginx -c "$WORK/nginx-$policy.conf" 2>>"$WORK/nginx-$policy-error.log" & PROXY_PID=$!; PIDS+=("$PROXY_PID")
    wait_http "$port" "$PROXY_PID" "nginx ($policy)" "$WORK/nginx-$policy-error.log"
  else
    "$TENX" gateway --listen 127.0.0.1:"$port" --threads "$W" \
      --upstream http://127.0.0.1:$U1_PORT --upstream http://127.0.0.1:$U2_PORT --balance "$policy" \
      --access-log off --log-level warn >"$WORK/tenx-$policy.out" 2>"$WORK/tenx-$policy.err" & PROXY_PID=$!; PIDS+=("$PROXY_PID")
    wait_http "$port" "$PROXY_PID" "tenx ($policy)" "$WORK/tenx-$policy.err"
  fi
}

errors_of() {  # wrk output file -> "-" or "non2xx=N,sock=connect/read/write/timeout"
  awk '/Non-2xx/ {n=$NF} /Socket errors/ {gsub(",", ""); s=$4"/"$6"/"$8"/"$10}
       END { if (n=="" && s=="") print "-"; else printf "non2xx=%s,sock=%s\n", (n==""?0:n), (s==""?"0/0/0/0":s) }' "$1"
}

measure() {  # config -> prints a row, records p50/p99
  local cfg=$1 port=${PORT[$1]}
  start_proxy "$cfg"
  wrk -t1 -c"$SLOW_CONNS" -d"$SLOW_DURATION" --timeout 30s "http://127.0.0.1:$port/slow" \
    >"$WORK/slow.txt" 2>&1 & local slow_pid=$!; PIDS+=("$slow_pid")
  sleep 1
  # wrk runs in the background and is waited for, so that SIGTERM/SIGINT stop the run at once.
  wrk -t1 -c"$FAST_CONNS" -d"$DURATION" --timeout 30s --latency "http://127.0.0.1:$port/fast" >"$WORK/fast.txt" 2>&1 &
  local fast_pid=$!; PIDS+=("$fast_pid")
  wait "$fast_pid" || { echo "bench: wrk /fast failed against $cfg:" >&2; cat "$WORK/fast.txt" >&2; exit 1; }
  forget "$fast_pid"
  wait "$slow_pid" || { echo "bench: wrk /slow failed against $cfg:" >&2; cat "$WORK/slow.txt" >&2; exit 1; }
  forget "$slow_pid"
  stop "$PROXY_PID"
  drain_upstreams
  local rps p50 p99 slow_done
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/fast.txt")
  p50=$(to_ms "$(awk '$1=="50%" {print $2}' "$WORK/fast.txt")")
  p99=$(to_ms "$(awk '$1=="99%" {print $2}' "$WORK/fast.txt")")
  slow_done=$(awk '/requests in/ {print $1}' "$WORK/slow.txt")
  printf '%-6s %-6s %-12s %10s %10s %10s %10s %-12s %s\n' "$R" "${cfg%%:*}" "${cfg#*:}" "$rps" "$p50" "$p99" "$slow_done" \
    "$(errors_of "$WORK/fast.txt")" "$(errors_of "$WORK/slow.txt")"
  P50[$cfg]="${P50[$cfg]:-} $p50"; P99[$cfg]="${P99[$cfg]:-} $p99"
}

TENX_VERSION=$("$TENX" version)
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "versions: nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/.*\///'); $(/usr/bin/python3 --version); $(wrk -v 2>&1 | awk 'NR==1 {print $1, $2}'); tenx: $TENX_VERSION"
echo "upstreams: two serial_upstream.py (one request at a time) on 127.0.0.1:$U1_PORT and :$U2_PORT; /slow takes $SLOW_MS ms"
echo "load: background wrk -t1 -c$SLOW_CONNS -d$SLOW_DURATION /slow; 1 s later, measured wrk -t1 -c$FAST_CONNS -d$DURATION --latency /fast"
echo "proxies: workers=$W; nginx with upstream keepalive 64 (reference), tenx --balance P; each started fresh per measurement"
start_upstreams
declare -A P50=() P99=()
echo
printf '%-6s %-6s %-12s %10s %10s %10s %10s %-12s %s\n' round proxy policy fast_req/s fast_p50ms fast_p99ms slow_done fast_errors slow_errors
for R in $(seq "$ROUNDS"); do
  # Alternate the order so drift on a shared machine does not favour one side.
  if [ $((R % 2)) -eq 1 ]; then order=$CONFIGS; else order=$REVERSED; fi
  for cfg in $order; do measure "$cfg"; done
done

echo
echo "fast requests while slow ones run, medians over $ROUNDS rounds (ms):"
printf '%-6s %-12s %12s %12s   %s\n' proxy policy p50_median p99_median "p99 per round"
for cfg in $CONFIGS; do
  # shellcheck disable=SC2086
  printf '%-6s %-12s %12s %12s   %s\n' "${cfg%%:*}" "${cfg#*:}" "$(med ${P50[$cfg]})" "$(med ${P99[$cfg]})" "${P99[$cfg]# }"
done
exit 0
