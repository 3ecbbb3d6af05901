#!/usr/bin/env bash
# bench/app_stampede.sh — 1,000 concurrent clients on an expiring hot key: origin queries per
# expiry, tenx's cross-node single flight against the guide's get_with_lock (issue 11,
# benchmark 3).
#
# What it runs, on one SQLite database (made now by `tenx app seed --users 50000 --posts 100000`
# in a temporary directory, or the file given by --db, seeded there when missing and kept) and one
# private redis-server (127.0.0.1, a free port, its own directory, `--save '' --appendonly no`):
#   * the rival: Flask 2.2 (bench/rivals/flask_cache_app.py with CACHE_MODE=lock,
#     CACHE_TTL=1: the guide's get_with_lock as written, SET NX EX 10, sleep 0.1 s and recurse)
#     over redis-py, under gunicorn 20.1 with `-w 2 --worker-class gthread --threads 50` on
#     :18614 (2 processes x 50 threads: up to 100 requests in the app at once, the other clients
#     wait in the workers' and nginx's queues), behind nginx 1.22, 2 workers on :18613 (upstream
#     keepalive 64, proxy_http_version 1.1, Connection "", access log off, no cache);
#   * ours: two `tenx app --database sqlite://DB --listen 127.0.0.1:1861{1,2}
#     --cache redis://127.0.0.1:RPORT --cache-ttl trending=1s` processes sharing that Redis (no
#     gateway: each gets half of the clients).
# The endpoint is GET /api/posts/trending; bench/rivals/same_trending.py first checks that the
# three servers answer 200 with the same JSON, which also fills each cache once.
# Load, one stack at a time (the order reverses every round; --clients, default 1000; --ttl,
# default 1 s): Flask takes `tenx bench -q -t1 -c1000 -d10s --timeout 30 URL` through its nginx;
# ours takes two at once, `-c500` on each app (1,000 clients in all). --timeout 30 (the default is
# 5 s) keeps the rival's queued requests from timing out and reconnecting, which would add clients.
# Origin queries in the window: for Flask, `GET bench:origin_queries` (the rival's INCR each time
# its query really runs, over every worker and thread) before and after; for ours, the sum over
# both apps of `cache_loads_total{cache="trending",result="ok"}` from each app's GET /metrics
# before and after. It prints per round and stack: clients, req/s, p50, p99 (for ours, req/s summed
# over the two load generators, p50 and p99 the worse of the two), origin queries, the expiries in
# the window (duration / TTL) and origin queries per expiry; then each tenx app's share of the
# loads, the totals, the ratio Flask/ours of queries per expiry, and the goal: ours 1 per expiry
# (met when under 1.5: an early refresh or a jittered TTL may bring an expiry a little before the
# TTL).
# Rivals are installed with apt-get when missing (and it says so); none is skipped. Everything it
# started is stopped by PID at exit.
#
# Usage: bench/app_stampede.sh [--rounds 1] [--duration 10s] [--clients 1000] [--ttl 1]
#                              [--threads 50] [--posts 100000] [--db PATH]
# shellcheck disable=SC2207,SC2086  # res=($(...)) and $(med ${RPS[s]}) split one-line results into
# words on purpose (set -e still stops the script when the command fails).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
. bench/lib/cache_stacks.sh
ROUNDS=1; DURATION=10s; CLIENTS=1000; TTL=1; THREADS=50; POSTS=100000; DB_ARG=""
options --rounds ROUNDS --duration DURATION --clients CLIENTS --ttl TTL --threads THREADS \
  --posts POSTS --db DB_ARG -- "$@"
[[ $CLIENTS =~ ^[0-9]+$ && $CLIENTS -ge 2 ]] || { echo "--clients must be an integer >= 2" >&2; exit 2; }
[[ $TTL =~ ^[0-9]+$ && $TTL -ge 1 ]] || { echo "--ttl is whole seconds (the guide's SETEX), >= 1" >&2; exit 2; }
# Each client is a socket in the load generator, and one or two in nginx.
NOFILE=$((CLIENTS * 3 + 1024))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$NOFILE" ]; then
  ulimit -n "$NOFILE" 2>/dev/null || { echo "bench: open files limit $(ulimit -n) < $NOFILE and cannot be raised" >&2; exit 1; }
fi

need_cache_rivals
use_tenx
make_workdir
use_db "$POSTS" "$DB_ARG"
start_redis

start_flask flask 18613 18614 lock "$TTL" --worker-class gthread --threads "$THREADS"
TENX_CACHE=(--cache "redis://127.0.0.1:$RPORT" --cache-ttl "trending=${TTL}s")
start_tenx_app tenx-1 18611 "${TENX_CACHE[@]}"
start_tenx_app tenx-2 18612 "${TENX_CACHE[@]}"
PATH_T=/api/posts/trending
for s in flask tenx-1 tenx-2; do wait_ok "${URL[$s]}$PATH_T"; done
CHECK=$(/usr/bin/python3 bench/rivals/same_trending.py "tenx-1=${URL[tenx-1]}$PATH_T" \
  "tenx-2=${URL[tenx-2]}$PATH_T" "flask=${URL[flask]}$PATH_T")

flask_origin() {  # the rival's origin queries so far
  local n; n=$(rcli GET bench:origin_queries); echo "${n:-0}"
}
tenx_loads() {  # app -> its cache_loads_total{cache="trending",result="ok"}, or "none" when its
  # /metrics has no cache_loads_total at all (an app that never loaded may not have the series)
  local m
  m=$(curl -fs "${URL[$1]}/metrics") || { echo "bench: $1: GET /metrics failed" >&2; exit 1; }
  awk '$1 ~ /^cache_loads_total\{/ && /cache="trending"/ && /result="ok"/ { s += $2 }
       $1 ~ /^cache_loads_total(\{|$)/ || ($1 == "#" && $3 == "cache_loads_total") { seen = 1 }
       END { if (seen) printf "%d\n", s; else print "none" }' <<<"$m"
}
EXPIRIES=$(awk -v d="$(seconds "$DURATION")" -v t="$TTL" 'BEGIN { printf "%.1f", d / t }')
per_expiry() { awk -v n="$1" -v e="$EXPIRIES" 'BEGIN { printf "%.2f", n / e }'; }

run_flask() {  # -> "clients rps p50 p99 origin"
  local before after res
  before=$(flask_origin)
  res=($(CONNS=$CLIENTS run_tenx_bench "${URL[flask]}$PATH_T" flask --timeout 30))
  after=$(flask_origin)
  echo "$CLIENTS ${res[0]} ${res[1]} ${res[2]} $((after - before))"
}
run_tenx() {  # -> "clients rps p50 p99 origin": both apps loaded at once, the clients split
  local c1=$((CLIENTS / 2)) c2=$((CLIENTS - CLIENTS / 2)) b1 b2 a1 a2 p1 p2 r1 r2
  b1=$(tenx_loads tenx-1); b2=$(tenx_loads tenx-2)
  "$TENX" bench -q -t1 -c"$c1" -d"$DURATION" --timeout 30 --json "$WORK/tenx-1.json" "${URL[tenx-1]}$PATH_T" >/dev/null & p1=$!; PIDS+=("$p1")
  "$TENX" bench -q -t1 -c"$c2" -d"$DURATION" --timeout 30 --json "$WORK/tenx-2.json" "${URL[tenx-2]}$PATH_T" >/dev/null & p2=$!; PIDS+=("$p2")
  wait "$p1" || { echo "bench: tenx bench on tenx-1 failed" >&2; exit 1; }
  wait "$p2" || { echo "bench: tenx bench on tenx-2 failed" >&2; exit 1; }
  forget "$p1"; forget "$p2"
  a1=$(tenx_loads tenx-1); a2=$(tenx_loads tenx-2)
  if [ "$a1" = none ] && [ "$a2" = none ]; then
    echo "bench: neither tenx app exposes cache_loads_total{cache=\"trending\",result=\"ok\"} in /metrics" >&2; exit 1
  fi
  b1=${b1/none/0}; b2=${b2/none/0}; a1=${a1/none/0}; a2=${a2/none/0}
  r1=($(bench_result "$WORK/tenx-1.json" tenx-1)); r2=($(bench_result "$WORK/tenx-2.json" tenx-2))
  echo "  round $R: tenx-1 $((a1 - b1)), tenx-2 $((a2 - b2))" >>"$WORK/tenx-split"
  # Throughput adds up; of the two apps' percentiles the worse one is shown.
  awk -v c="$CLIENTS" -v r1="${r1[0]}" -v r2="${r2[0]}" -v m1="${r1[1]}" -v m2="${r2[1]}" \
    -v q1="${r1[2]}" -v q2="${r2[2]}" -v o=$((a1 - b1 + a2 - b2)) \
    'BEGIN { printf "%d %.0f %.3f %.3f %d\n", c, r1 + r2, (m1 > m2 ? m1 : m2), (q1 > q2 ? q1 : q2), o }'
}

echo "machine: $(nproc) cores, $(uname -r); $("$TENX" version)"
rival_versions
echo "database: $DB, $DB_SHAPE ($DB_ORIGIN)"
echo "redis: 127.0.0.1:$RPORT (private, shared by the Flask stack and both tenx apps)"
echo "check: $CHECK"
echo "load: $CLIENTS clients for $DURATION, TTL ${TTL} s: flask = tenx bench -q -t1 -c$CLIENTS -d$DURATION --timeout 30 via nginx; tenx = two tenx bench -q -t1 -c$((CLIENTS / 2)) at once, one per app"
printf '%-6s %-6s %8s %9s %9s %9s %14s %9s %11s\n' round stack clients req/s p50_ms p99_ms origin_queries expiries per_expiry
declare -A ORIGIN
ORIGIN[flask]=0; ORIGIN[tenx]=0
for R in $(seq "$ROUNDS"); do
  if [ $((R % 2)) -eq 1 ]; then order="flask tenx"; else order="tenx flask"; fi
  for s in $order; do
    if [ "$s" = flask ]; then res=($(run_flask)); else res=($(run_tenx)); fi
    printf '%-6s %-6s %8s %9s %9s %9s %14s %9s %11s\n' "$R" "$s" "${res[@]}" "$EXPIRIES" "$(per_expiry "${res[4]}")"
    ORIGIN[$s]=$((ORIGIN[$s] + res[4]))
  done
done
echo "tenx loads per app:"; cat "$WORK/tenx-split"
F=$(awk -v n="${ORIGIN[flask]}" -v r="$ROUNDS" -v e="$EXPIRIES" 'BEGIN { printf "%.2f", n / r / e }')
T=$(awk -v n="${ORIGIN[tenx]}" -v r="$ROUNDS" -v e="$EXPIRIES" 'BEGIN { printf "%.2f", n / r / e }')
echo "origin queries per expiry over $ROUNDS round(s): Flask with the guide's get_with_lock $F (${ORIGIN[flask]} queries), tenx $T (${ORIGIN[tenx]} loads)"
echo "Flask/tenx queries per expiry: $(awk -v g="$F" -v t="$T" 'BEGIN { if (t > 0) printf "%.2f", g / t; else print "n/a (tenx loaded nothing)" }')"
echo "goal: ours 1 origin query per expiry: $(awk -v t="$T" 'BEGIN { print (t > 0 && t < 1.5) ? "met" : "NOT met" }')"

MASTERS=("${TENX_PID[@]}" "${NGINX_PID[@]}" "${GUNICORN_PID[@]}" "$REDIS_PID")
stop_stacks "${MASTERS[@]}"
true
