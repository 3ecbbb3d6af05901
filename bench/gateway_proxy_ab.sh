#!/usr/bin/env bash
# bench/gateway_proxy_ab.sh — two (or more) tenx binaries side by side with nginx, as proxies
# in front of the same two upstreams (the set-up of bench/gateway_proxy.sh): the way to judge a
# change to the proxy on this noisy machine, where only ratios measured in the same run count.
#
# Every proxy runs at once on its own port; each round loads them in turn with
# `wrk -t1 -cC -dD --latency /hello` (C = --connections) (the order reversed every other round) and prints req/s,
# p99 and each binary's ratio to nginx; then the medians of those ratios.
#
# Usage: bench/gateway_proxy_ab.sh --bins "before:path/to/tenx after:build/release/bin/tenx"
#          [--rounds 6] [--duration 5s] [--workers 1] [--connections 64]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
ROUNDS=6; DURATION=5s; WORKERS=1; CONNS=64; BINS=""
options --bins BINS --rounds ROUNDS --duration DURATION --workers WORKERS --connections CONNS -- "$@"
[ -n "$BINS" ] || { echo "bench: --bins \"name:path name:path\" is required" >&2; exit 2; }
need wrk wrk
use_tenx
make_workdir
. bench/lib/proxies.sh

start_upstream 1; start_upstream 2
start_proxy nginx "$WORKERS"
declare -A PORT=([nginx]=$NGINX_PORT) RATIOS=()
NAMES="nginx"; p=18500
for b in $BINS; do
  name=${b%%:*}; path=${b#*:}; p=$((p + 1))
  [ -x "$path" ] || { echo "bench: $path is not an executable" >&2; exit 2; }
  tenx_args $p "$WORKERS"
  "$path" "${TENX_ARGS[@]}" >"$WORK/$name.out" 2>"$WORK/$name.err" & pid=$!; PIDS+=("$pid")
  wait_http $p "$pid" "$name" "$WORK/$name.err"
  PORT[$name]=$p; NAMES="$NAMES $name"; RATIOS[$name]=""
done
REVERSED=$(echo "$NAMES" | tr ' ' '\n' | tac | tr '\n' ' ')
echo "wrk -t1 -c$CONNS -d$DURATION --latency /hello, $WORKERS worker(s); req/s (p99 ms) per proxy"
for R in $(seq "$ROUNDS"); do
  if [ $((R % 2)) -eq 1 ]; then order=$NAMES; else order=$REVERSED; fi
  declare -A RPS=()
  line="round $R:"
  for who in $order; do
    wrk -t1 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:${PORT[$who]}/hello" >"$WORK/wrk.txt" 2>&1
    RPS[$who]=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")
    line="$line $who ${RPS[$who]} ($(to_ms "$(awk '$1=="99%" {print $2}' "$WORK/wrk.txt")"))"
  done
  for who in $NAMES; do
    [ "$who" = nginx ] && continue
    r=$(awk -v a="${RPS[$who]}" -v b="${RPS[nginx]}" 'BEGIN{printf "%.3f", a/b}')
    RATIOS[$who]+=" $r"; line="$line  $who/nginx $r"
  done
  echo "$line"
done
for who in $NAMES; do
  [ "$who" = nginx ] && continue
  # shellcheck disable=SC2086
  echo "$who/nginx:${RATIOS[$who]}  median $(med ${RATIOS[$who]})"
done
