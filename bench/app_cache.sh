#!/usr/bin/env bash
# bench/app_cache.sh — the guide's cached trending endpoint served by three stacks (issue 11,
# benchmark 2).
#
# What it runs, side by side in the same run, on one SQLite database (made now by `tenx app seed
# --users 50000 --posts 100000` in a temporary directory, or the file given by --db, seeded there
# when missing and kept), and one private redis-server (127.0.0.1, a free port, its own
# directory, `--save '' --appendonly no`):
#   * tenx, memory cache: `tenx up --database sqlite://DB --app-instances 2 --gateway-threads 2
#     --listen 127.0.0.1:18601` (the gateway in front of two `tenx app` processes, each caching
#     trending in its memory store: the default);
#   * tenx, Redis cache: the same on 127.0.0.1:18602 plus `--redis redis://127.0.0.1:RPORT`;
#   * Flask 2.2 (bench/rivals/flask_cache_app.py, CACHE_MODE=decorator: the guide's
#     `@cache_result(ttl=600)` over redis-py on the same Redis) under gunicorn 20.1, 2 sync workers
#     on :18604, behind nginx 1.22, 2 workers on :18603 (upstream keepalive 64, proxy_http_version
#     1.1, Connection "", access log off, no cache), as bench/app_stack.sh runs its Flask rival.
# The endpoint is GET /api/posts/trending (the 20 posts with the most likes in the last 24 hours,
# from the summary tenx's apps refresh); bench/rivals/same_trending.py first checks that the three
# answer 200 with the same JSON. Every answer measured is a cache hit but the first of each cache
# (TTL 600 s for Flask; tenx's own trending TTL).
# Each stack is loaded by `tenx bench -q -t1 -c64 -d10s URL` and cross-checked by `wrk -t1 -c64
# -d10s --latency URL`, interleaved over --rounds (the order of the stacks, and of the two load
# generators, reverses every round). The load generator runs on the same machine as the stack.
# It prints per round, stack and generator: req/s, p50, p99; then the medians, the ratios
# tenx/Flask of req/s for each tenx variant, and the issue's goal next to them (tenx >= 10x
# Flask req/s, tenx p99 < 5 ms). Rivals are installed with apt-get when missing (and it says so);
# none is skipped. Everything it started is stopped by PID at exit.
#
# Usage: bench/app_cache.sh [--rounds 3] [--duration 10s] [--posts 100000] [--db PATH]
# shellcheck disable=SC2207,SC2086  # res=($(...)) and $(med ${RPS[s]}) split one-line results into
# words on purpose (set -e still stops the script when the command fails).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
. bench/lib/cache_stacks.sh
ROUNDS=3; DURATION=10s; POSTS=100000; DB_ARG=""; CONNS=64
options --rounds ROUNDS --duration DURATION --posts POSTS --db DB_ARG -- "$@"

need wrk wrk
need_cache_rivals
use_tenx
make_workdir
use_db "$POSTS" "$DB_ARG"
start_redis

STACKS="tenx-memory tenx-redis flask"
start_tenx_up tenx-memory 18601
start_tenx_up tenx-redis 18602 --redis "redis://127.0.0.1:$RPORT"
start_flask flask 18603 18604 decorator 600
PATH_T=/api/posts/trending
for s in $STACKS; do wait_ok "${URL[$s]}$PATH_T"; done
CHECK=$(/usr/bin/python3 bench/rivals/same_trending.py "tenx-memory=${URL[tenx-memory]}$PATH_T" \
  "tenx-redis=${URL[tenx-redis]}$PATH_T" "flask=${URL[flask]}$PATH_T")
KEYS=$(rcli --scan | sort | tr '\n' ' ')

echo "machine: $(nproc) cores, $(uname -r); $("$TENX" version)"
rival_versions
echo "database: $DB, $DB_SHAPE ($DB_ORIGIN)"
echo "redis: 127.0.0.1:$RPORT (private), keys after the check: $KEYS"
echo "check: $CHECK"
echo "load: tenx bench -q -t1 -c$CONNS -d$DURATION URL; wrk -t1 -c$CONNS -d$DURATION --latency URL; URL = <stack>$PATH_T"
printf '%-6s %-12s %-11s %9s %8s %8s\n' round stack generator req/s p50_ms p99_ms
declare -A RPS P99 WRPS WP99
for R in $(seq "$ROUNDS"); do
  # Reverse the order every round so drift on a shared machine does not favour one stack.
  if [ $((R % 2)) -eq 1 ]; then order="$STACKS"; gens="tenx-bench wrk"; else order="flask tenx-redis tenx-memory"; gens="wrk tenx-bench"; fi
  for s in $order; do
    for g in $gens; do
      if [ "$g" = tenx-bench ]; then res=($(run_tenx_bench "${URL[$s]}$PATH_T" "$s")); else res=($(run_wrk "${URL[$s]}$PATH_T" "$s")); fi
      printf '%-6s %-12s %-11s %9s %8s %8s\n' "$R" "$s" "$g" "${res[0]}" "${res[1]}" "${res[2]}"
      if [ "$g" = tenx-bench ]; then RPS[$s]+="${res[0]} "; P99[$s]+="${res[2]} "; else WRPS[$s]+="${res[0]} "; WP99[$s]+="${res[2]} "; fi
    done
  done
done

ratios() {  # "a1 a2 .." "b1 b2 .." -> "a1/b1 a2/b2 .."
  paste -d' ' <(tr ' ' '\n' <<<"$1" | sed '/^$/d') <(tr ' ' '\n' <<<"$2" | sed '/^$/d') \
    | awk '{ printf "%.2f ", $1 / $2 }'
}
goal() {  # value op limit -> met / NOT met
  awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN { ok = (op == ">=") ? v >= l : v < l; print ok ? "met" : "NOT met" }'
}
echo "medians (tenx bench):"
for s in $STACKS; do
  printf '  %-12s %9s req/s  p99 %8s ms   (wrk: %s req/s, p99 %s ms)\n' "$s" \
    "$(med ${RPS[$s]})" "$(med ${P99[$s]})" "$(med ${WRPS[$s]})" "$(med ${WP99[$s]})"
done
echo "goal >= 10x Flask req/s, tenx p99 < 5 ms:"
for s in tenx-memory tenx-redis; do
  RF=$(ratios "${RPS[$s]}" "${RPS[flask]}"); WRF=$(ratios "${WRPS[$s]}" "${WRPS[flask]}"); T99=$(med ${P99[$s]})
  echo "  $s/Flask req/s ratios: ${RF} median $(med $RF) (wrk median $(med $WRF)): $(goal "$(med $RF)" ">=" 10); p99 median $T99 ms: $(goal "$T99" "<" 5)"
done

MASTERS=("${TENX_PID[@]}" "${NGINX_PID[@]}" "${GUNICORN_PID[@]}" "$REDIS_PID")
stop_stacks "${MASTERS[@]}"
true
