#!/usr/bin/env bash
# bench/loadgen_vs_wrk.sh — `tenx bench` against wrk as load generators.
#
# What it runs, in the same run, interleaved over several rounds (who goes first alternates):
#   * the target: nginx 1.22 (Debian), one worker, `location = /hello { return 200 '<~200-byte
#     JSON>'; }`, access log off, on 127.0.0.1;
#   * `wrk -t1 -c64 -d10s --latency` and `tenx bench -t1 -c64 -d10s` against it.
# For each it prints the requests/s it drove, its p50 and p99, its CPU time per request
# (user+sys from GNU time: what the generator itself costs), and the concurrency implied by
# Little's law (req/s × mean latency): a closed loop of 64 connections that never idles
# reads 64; a generator that leaves connections idle between a response and the next request
# reads less, and its latencies leave out that idle time. Then the ratios tenx/wrk.
# Rivals are installed with apt-get when missing (and it says so); none is skipped.
#
# Usage: bench/loadgen_vs_wrk.sh [--rounds N] [--duration 10s] [--connections 64]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
ROUNDS=3; DURATION=10s; CONNS=64
options --rounds ROUNDS --duration DURATION --connections CONNS -- "$@"

need wrk wrk
need /usr/sbin/nginx nginx
need /usr/bin/time time
use_tenx
make_workdir

BODY=$(sed -n "s/^body = '\(.*\)'$/\1/p" bench/configs/fixed_response.toml)
PORT=18483
{ nginx_conf "nginx" 1; cat <<NGX
  server {
    listen 127.0.0.1:$PORT;
    location = /hello { default_type application/json; return 200 '$BODY'; }
  }
}
NGX
} > "$WORK/nginx.conf"
/usr/sbin/nginx -c "$WORK/nginx.conf" & NGINX_PID=$!; PIDS+=("$NGINX_PID")
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/hello" >/dev/null && break; sleep 0.05; done
URL="http://127.0.0.1:$PORT/hello"

cpu_us_per_req() {  # time-file requests -> CPU microseconds per request
  awk -v n="$2" '{ printf "%.2f", ($1 + $2) * 1e6 / n }' "$1"
}

run_wrk() {  # -> "rps p50 p99 cpu_us little"
  local out; out=$(/usr/bin/time -f "%U %S" -o "$WORK/time" wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$URL")
  local rps p50 p99 mean n
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(to_ms "$(echo "$out" | awk '$1=="50%" {print $2}')")
  p99=$(to_ms "$(echo "$out" | awk '$1=="99%" {print $2}')")
  mean=$(to_ms "$(echo "$out" | awk '$1=="Latency" {print $2; exit}')")
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "$out" | grep -E "Non-2xx|Socket errors" >&2 || true
  echo "$rps $p50 $p99 $(cpu_us_per_req "$WORK/time" "$n") $(awk -v r="$rps" -v m="$mean" 'BEGIN{printf "%.1f", r*m/1000}')"
}
json_field() {  # file key -> first numeric value of "key"
  awk -v k="\"$2\":" '$1==k { gsub(/,/, "", $2); print $2; exit }' "$1"
}
run_tenx() {
  /usr/bin/time -f "%U %S" -o "$WORK/time" "$TENX" bench -q -t1 -c"$CONNS" -d"$DURATION" "$URL" --json "$WORK/t.json" >/dev/null
  local rps p50 p99 mean n errs
  rps=$(json_field "$WORK/t.json" requests_per_second)
  p50=$(json_field "$WORK/t.json" p50); p99=$(json_field "$WORK/t.json" p99)
  mean=$(json_field "$WORK/t.json" mean); n=$(json_field "$WORK/t.json" requests)
  errs=$(json_field "$WORK/t.json" total)
  [ "$errs" != 0 ] && echo "bench: tenx bench reported $errs errors" >&2
  echo "$(printf %.0f "$rps") $(printf %.3f "$p50") $(printf %.3f "$p99") $(cpu_us_per_req "$WORK/time" "$n") $(awk -v r="$rps" -v m="$mean" 'BEGIN{printf "%.1f", r*m/1000}')"
}

echo "machine: $(nproc) cores, $(uname -r); nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/.*\///') (1 worker); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2); $("$TENX" version)"
echo "load: -t1 -c$CONNS -d$DURATION against nginx return 200 (${#BODY}-byte body)"
printf '%-6s %-11s %10s %8s %8s %12s %8s\n' round generator req/s p50_ms p99_ms cpu_us/req little
RPS=(); CPU=()
for R in $(seq "$ROUNDS"); do
  if [ $((R % 2)) -eq 1 ]; then order="wrk tenx"; else order="tenx wrk"; fi
  for who in $order; do
    if [ "$who" = wrk ]; then res=$(run_wrk); W=($res); else res=$(run_tenx); T=($res); fi
    printf '%-6s %-11s %10s %8s %8s %12s %8s\n' "$R" "$who" $res
  done
  RPS+=("$(awk -v a="${T[0]}" -v b="${W[0]}" 'BEGIN{printf "%.3f", a/b}')")
  CPU+=("$(awk -v a="${T[3]}" -v b="${W[3]}" 'BEGIN{printf "%.3f", a/b}')")
done
echo "tenx/wrk req/s ratios: ${RPS[*]}  median $(med "${RPS[@]}")"
echo "tenx/wrk CPU per request ratios: ${CPU[*]}  median $(med "${CPU[@]}") (below 1: tenx bench costs less)"
