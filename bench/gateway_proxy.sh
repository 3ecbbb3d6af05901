#!/usr/bin/env bash
# bench/gateway_proxy.sh — tenx's reverse proxy against nginx and HAProxy, in front of the
# same two upstreams: throughput/latency, then failover when one upstream dies.
#
# What it runs, side by side in the same run, on 127.0.0.1:
#   * upstreams: two nginx 1.22 instances (single process each: master_process off,
#     worker_processes 1), `location = /hello { return 200 '<~200-byte JSON>'; }`,
#     access_log off, keepalive_requests 100000;
#   * proxies, all with upstream keep-alive to both upstreams, round robin:
#     - nginx 1.22 (Debian): `upstream pool { server U1 max_fails=1 fail_timeout=10s; server U2
#       ...; keepalive 64; keepalive_requests 100000; }`, proxy_http_version 1.1,
#       `proxy_set_header Connection ""`, `proxy_next_upstream error timeout http_502 http_503`,
#       worker_processes W, access_log off, reuseport;
#     - HAProxy 2.6 (Debian package haproxy), foreground (-db): nbthread W, mode http,
#       option http-keep-alive, http-reuse always, balance roundrobin, retries 3,
#       option redispatch, retry-on all-retryable-errors, `check inter 1s` on both servers;
#     - `tenx gateway --threads W --upstream http://U1 --upstream http://U2 --balance round_robin`
#       (passive health max_fails=1 fail_timeout=10s and retries of idempotent requests are
#       tenx's defaults).
#   The rivals get their best standard settings for both parts (the failover ones cost nothing
#   in part 1).
#   Part 1, for W in 1 and 2 and for C in 64 and 8 connections: `wrk -t1 -cC -d10s --latency
#     /hello` against each proxy, interleaved over several rounds, the order reversed every
#     round. Prints req/s, p50, p99 per round, the tenx/nginx, tenx/haproxy (and haproxy/nginx)
#     req/s ratios with medians. Goals: at 64 connections tenx >= 1.2x nginx req/s with p99 no
#     worse; at 8 (where a lone request's wait shows) tenx >= 1.0x nginx with p50 no worse.
#   Part 2, W=2, one proxy at a time, each started fresh with both upstreams up: 10 s of
#     `wrk -t1 -c64` (the first of --connections) with bench/lua/count_errors.lua; upstream 2 is killed with SIGKILL 3 s in
#     and restarted after the run, so every proxy sees the same situation. Prints the
#     client-visible errors: non-2xx + socket errors (connect/read/write/timeout).
#     Goal: zero for tenx.
# Rivals are installed with apt-get when missing (and it says so); none is skipped. Every
# process it starts is stopped by PID on exit. About 4 minutes with the defaults.
#
# Usage: bench/gateway_proxy.sh [--rounds 3] [--duration 10s] [--workers "1 2"]
#          [--connections "64 8"] [--failover-duration 10s] [--kill-after 3] [--failover-workers 2]
# TENX=path/to/tenx measures another build (default build/release/bin/tenx).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
ROUNDS=3; DURATION=10s; WORKERS="1 2"; CONN_LIST="64 8"
FO_DURATION=10s; KILL_AFTER=3; FO_W=2
options --rounds ROUNDS --duration DURATION --workers WORKERS --connections CONN_LIST \
  --failover-duration FO_DURATION --kill-after KILL_AFTER --failover-workers FO_W -- "$@"

need wrk wrk
use_tenx
make_workdir
. bench/lib/proxies.sh

run_wrk() {  # port -> RES="rps p50ms p99ms"
  # wrk runs in the background and is waited for, so that SIGTERM/SIGINT stop the run at once.
  wrk -t1 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$1/hello" >"$WORK/wrk.txt" 2>&1 & local pid=$!; PIDS+=("$pid")
  wait "$pid" || { echo "bench: wrk failed on port $1:" >&2; cat "$WORK/wrk.txt" >&2; exit 1; }
  forget "$pid"
  local out rps p50 p99; out=$(cat "$WORK/wrk.txt")
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(to_ms "$(echo "$out" | awk '$1=="50%" {print $2}')")
  p99=$(to_ms "$(echo "$out" | awk '$1=="99%" {print $2}')")
  local errs; errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  [ -n "$errs" ] && echo "bench: wrk reported: $errs" >&2
  RES="$rps $p50 $p99"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a/b}'; }

TENX_VERSION=$("$TENX" version)
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "versions: nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/.*\///'); haproxy $(/usr/sbin/haproxy -v | awk 'NR==1 {print $3}'); $(wrk -v 2>&1 | awk 'NR==1 {print $1, $2}'); tenx: $TENX_VERSION"
echo "upstreams: two single-process nginx on 127.0.0.1:$U1_PORT and :$U2_PORT, /hello -> 200, $(printf %s "$BODY" | wc -c)-byte JSON"
echo "rival settings (their best standard ones, same in both parts):"
echo "  nginx:   upstream keepalive 64, keepalive_requests 100000, proxy_http_version 1.1, Connection \"\","
echo "           max_fails=1 fail_timeout=10s, proxy_next_upstream error timeout http_502 http_503"
echo "  haproxy: http-reuse always, option http-keep-alive, balance roundrobin, retries 3, option redispatch,"
echo "           retry-on all-retryable-errors, check inter 1s on both servers"
echo "  tenx:    --balance round_robin, defaults (passive health max_fails=1 fail_timeout=10s, retries of idempotent requests)"
PROXIES="nginx haproxy tenx"; REVERSED="tenx haproxy nginx"

start_upstream 1; start_upstream 2

echo
echo "== part 1: throughput and latency: wrk -t1 -cC -d$DURATION --latency /hello, C in: $CONN_LIST"
printf '%-8s %-6s %-6s %-8s %12s %9s %9s\n' workers conns round proxy req/s p50_ms p99_ms
for W in $WORKERS; do
  for who in $PROXIES; do start_proxy "$who" "$W"; done
  for CONNS in $CONN_LIST; do
    R_TN=(); R_TH=(); R_HN=(); P99N=(); P99H=(); P99T=(); P50N=(); P50T=()
    for R in $(seq "$ROUNDS"); do
      # Alternate who goes first so drift on a shared machine does not favour one side.
      if [ $((R % 2)) -eq 1 ]; then order=$PROXIES; else order=$REVERSED; fi
      for who in $order; do
        run_wrk "$(proxy_port "$who")"; res=$RES
        case "$who" in nginx) read -ra N <<<"$res";; haproxy) read -ra H <<<"$res";; tenx) read -ra T <<<"$res";; esac
        printf '%-8s %-6s %-6s %-8s %12s %9s %9s\n' "$W" "$CONNS" "$R" "$who" $res
      done
      R_HN+=("$(ratio "${H[0]}" "${N[0]}")"); P99N+=("${N[2]}"); P99H+=("${H[2]}"); P50N+=("${N[1]}")
      R_TN+=("$(ratio "${T[0]}" "${N[0]}")"); R_TH+=("$(ratio "${T[0]}" "${H[0]}")"); P99T+=("${T[2]}"); P50T+=("${T[1]}")
    done
    tag="workers=$W conns=$CONNS"
    echo "$tag haproxy/nginx req/s ratios: ${R_HN[*]}  median $(med "${R_HN[@]}")"
    echo "$tag tenx/nginx   req/s ratios: ${R_TN[*]}  median $(med "${R_TN[@]}")"
    echo "$tag tenx/haproxy req/s ratios: ${R_TH[*]}  median $(med "${R_TH[@]}")"
    echo "$tag p50 medians: nginx $(med "${P50N[@]}") ms, tenx $(med "${P50T[@]}") ms; p99 medians: nginx $(med "${P99N[@]}") ms, haproxy $(med "${P99H[@]}") ms, tenx $(med "${P99T[@]}") ms"
    rm_=$(med "${R_TN[@]}")
    if [ "$CONNS" -le 8 ]; then
      want=1.0; pct=p50; pt=$(med "${P50T[@]}"); pn=$(med "${P50N[@]}")
    else
      want=1.2; pct=p99; pt=$(med "${P99T[@]}"); pn=$(med "${P99N[@]}")
    fi
    if awk -v r="$rm_" -v w="$want" -v t="$pt" -v n="$pn" 'BEGIN{exit !(r >= w && t <= n)}'; then verdict=met; else verdict="NOT met"; fi
    echo "$tag goal (tenx >= ${want}x nginx req/s with $pct no worse): $verdict (median ratio $rm_, $pct median tenx $pt ms vs nginx $pn ms)"
  done
  for who in $PROXIES; do stop "$(proxy_pid "$who")"; done
done

CONNS=${CONN_LIST%% *}  # part 2's load
echo
echo "== part 2: failover: wrk -t1 -c$CONNS -d$FO_DURATION -s bench/lua/count_errors.lua /hello, workers=$FO_W,"
echo "   upstream 2 (127.0.0.1:$U2_PORT) killed with SIGKILL ${KILL_AFTER}s in; each proxy started fresh, upstream 2 restarted after each run"
printf '%-8s %10s %10s %8s %8s %6s %6s %8s %-14s %s\n' proxy requests req/s non2xx connect read write timeout statuses client_errors
TENX_ERRORS=""
for who in $PROXIES; do
  start_proxy "$who" "$FO_W"
  wrk -t1 -c"$CONNS" -d"$FO_DURATION" -s bench/lua/count_errors.lua "http://127.0.0.1:$(proxy_port "$who")/hello" \
    >"$WORK/failover-$who.txt" 2>&1 & WRK_PID=$!; PIDS+=("$WRK_PID")
  sleep "$KILL_AFTER"
  kill -9 "$U2_PID"; wait "$U2_PID" 2>/dev/null || true; forget "$U2_PID"
  if (exec 3<>"/dev/tcp/127.0.0.1/$U2_PORT") 2>/dev/null; then
    echo "bench: upstream 2 still accepts connections after SIGKILL; stopping" >&2; exit 1
  fi
  wait "$WRK_PID" || { echo "bench: wrk failed against $who:" >&2; cat "$WORK/failover-$who.txt" >&2; exit 1; }
  forget "$WRK_PID"
  line=$(grep '^count_errors:' "$WORK/failover-$who.txt") || { echo "bench: no count_errors line from wrk:" >&2; cat "$WORK/failover-$who.txt" >&2; exit 1; }
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/failover-$who.txt")
  read -r _ _ req _ n2 _ ce _ re _ we _ te _ st <<<"$line"
  total=$((n2 + ce + re + we + te))
  printf '%-8s %10s %10s %8s %8s %6s %6s %8s %-14s %s\n' "$who" "$req" "$rps" "$n2" "$ce" "$re" "$we" "$te" "$st" "$total"
  [ "$who" = tenx ] && TENX_ERRORS=$total
  stop "$(proxy_pid "$who")"
  start_upstream 2
done
echo "client-visible errors = non-2xx + socket errors (connect, read, write, timeout; wrk's timeout is 2 s)"
if [ "$TENX_ERRORS" = 0 ]; then
  echo "goal (zero client-visible errors for tenx): met"
else
  echo "goal (zero client-visible errors for tenx): NOT met ($TENX_ERRORS)"
fi
