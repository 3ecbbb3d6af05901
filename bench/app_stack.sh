#!/usr/bin/env bash
# bench/app_stack.sh — the guide's feed endpoint served by three stacks from the same SQLite file.
#
# What it runs, side by side in the same run, on one database file (made once by `tenx app seed
# --users 50000 --posts 1000000` and kept at --db, default data/bench-1m.db), interleaved over
# several rounds (the order of the stacks, and of the two load generators, reverses every round):
#   * tenx: `tenx up --app-instances 2 --gateway-threads 2` (gateway on 127.0.0.1:18501 in front
#     of two `tenx app` processes);
#   * Flask 2.2 (bench/rivals/flask_app.py) under gunicorn 20.1, 2 sync workers on :18503, behind
#     nginx 1.22, 2 workers on :18502;
#   * aiohttp 3.8 (bench/rivals/aiohttp_app.py) as 2 worker processes under gunicorn's
#     aiohttp.GunicornWebWorker (`-w 2`, one master) on :18505, behind nginx 1.22, 2 workers on :18504.
#   Each nginx: upstream keepalive 64, proxy_http_version 1.1, Connection "", access log off, no
#   cache. Each rival worker process has its own read-only sqlite3 connection; nothing caches.
# The endpoint is GET /api/posts?per_page=20&cursor=C (20 published posts with author names, one
# JOIN query fetching 21 rows) on deep pages: the 50 pages from page 10,000 (post ~200,000; with
# a small --posts, the middle of the feed, and it says so). bench/rivals/deep_cursors.py walks
# tenx's API for its opaque cursors and computes the rivals' "<created_at_us>_<id>" cursors for
# the same positions with sqlite3; bench/rivals/same_page.py then checks that the three answer a
# deep page with 200 and identical posts. Each stack is loaded by `tenx bench -q -t1 -c64 -d10s`
# with a scenario taking a random cursor per request, and cross-checked by
# `wrk -t1 -c64 -d10s --latency` on one deep URL.
# It prints per round, stack and generator: req/s, p50, p99, and the stack's CPU ms per 1,000
# requests (utime+stime of every process of the stack, from /proc before and after the run); then
# the medians, the ratios tenx/Flask and tenx/aiohttp of req/s, and the issue's goals next to
# them (tenx ≥ 5× Flask, ≥ 3× aiohttp, tenx p99 < 10 ms). The load generator runs on the same
# machine as the stack it loads. Rivals are installed with apt-get when missing (and it says so);
# none is skipped.
#
# Usage: bench/app_stack.sh [--rounds N] [--duration 10s] [--posts 1000000] [--db data/bench-1m.db]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
ROUNDS=3; DURATION=10s; POSTS=1000000; DB=data/bench-1m.db; CONNS=64
options --rounds ROUNDS --duration DURATION --posts POSTS --db DB -- "$@"

# need_py MODULE PACKAGE: need, for a module of Debian's /usr/bin/python3 (the one gunicorn runs).
need_py() {
  if ! /usr/bin/python3 -c "import $1" 2>/dev/null; then
    echo "bench: Python module $1 is missing; installing Debian package $2"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null
  fi
  /usr/bin/python3 -c "import $1" 2>/dev/null || { echo "bench: cannot install $2: stopping (no rival is skipped)" >&2; exit 1; }
}
need wrk wrk
need /usr/sbin/nginx nginx
need /usr/bin/python3 python3
need /usr/bin/gunicorn gunicorn
need_py flask python3-flask
need_py aiohttp python3-aiohttp
use_tenx
make_workdir

TENX_PORT=18501; FLASK_PORT=18502; FLASK_UP=18503; AIOHTTP_PORT=18504; AIOHTTP_UP=18505
DB=$(realpath -m "$DB")  # the rivals run from bench/rivals
DB_ORIGIN="cached: --posts applies only when the file is made; delete it to re-seed"
if [ ! -f "$DB" ]; then
  DB_ORIGIN="seeded now"
  mkdir -p "$(dirname "$DB")"
  echo "bench: seeding $DB (50000 users, $POSTS posts; kept for later runs)"
  "$TENX" app seed --database "sqlite://$DB" --users 50000 --posts "$POSTS" >"$WORK/seed.out" 2>&1 \
    || { cat "$WORK/seed.out" >&2; exit 1; }
fi
DB_SHAPE=$(/usr/bin/python3 -c 'import sqlite3,sys
c=sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True); q=lambda s: c.execute(s).fetchone()[0]
print("%d posts (%d published), %d users" % (q("SELECT count(*) FROM posts"),
      q("SELECT count(*) FROM posts WHERE published = 1"), q("SELECT count(*) FROM users")))' "$DB")

start_tenx() {
  "$TENX" up --database "sqlite://$DB" --listen 127.0.0.1:$TENX_PORT --app-instances 2 \
    --gateway-threads 2 --log-level warn >"$WORK/tenx-up.out" 2>"$WORK/tenx-up.err" & TENX_PID=$!; PIDS+=("$TENX_PID")
  for _ in $(seq 200); do grep -q '^  gateway   http://' "$WORK/tenx-up.out" && break; sleep 0.05; done
  TENX_URL=$(sed -n 's|^  gateway   \(http://[^ ]*\).*|\1|p' "$WORK/tenx-up.out")
  [ -n "$TENX_URL" ] || { echo "bench: tenx up printed no gateway line" >&2; cat "$WORK/tenx-up.out" "$WORK/tenx-up.err" >&2; exit 1; }
}
declare -A NGINX_PID GUNICORN_PID DEEP  # by rival name; DEEP: stack -> one deep path
start_rival() {  # name port upstream_port gunicorn-args...: gunicorn behind its own nginx
  local name=$1 port=$2 up=$3; shift 3
  nginx_proxy_conf "$name" "$port" "$up"
  BENCH_DB="$DB" /usr/bin/gunicorn --chdir bench/rivals -w 2 -b 127.0.0.1:"$up" --log-level warning \
    --error-logfile "$WORK/gunicorn-$name.log" "$@" & GUNICORN_PID[$name]=$!; PIDS+=("$!")
  /usr/sbin/nginx -c "$WORK/nginx-$name.conf" & NGINX_PID[$name]=$!; PIDS+=("$!")
}
wait_ok() {  # url
  for _ in $(seq 200); do curl -fs -o /dev/null "$1" && return 0; sleep 0.05; done
  echo "bench: $1 did not answer 200" >&2; exit 1
}
url() {  # stack -> base URL
  case "$1" in tenx) echo "$TENX_URL";; flask) echo "http://127.0.0.1:$FLASK_PORT";; aiohttp) echo "http://127.0.0.1:$AIOHTTP_PORT";; esac
}
roots() {  # stack -> the PIDs whose process trees are the stack
  case "$1" in tenx) echo "$TENX_PID";; *) echo "${NGINX_PID[$1]} ${GUNICORN_PID[$1]}";; esac
}
tree_pids() {  # PID... -> them and all their descendants
  local p
  for p in "$@"; do echo "$p"; tree_pids $(ps -o pid= --ppid "$p" || true); done
}
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() {  # PID... -> utime+stime (clock ticks) summed over their process trees
  local p s t=0
  for p in $(tree_pids "$@"); do
    s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    s=${s##*) }; set -- $s  # fields from 3 (state) on: utime is field 14, stime 15
    t=$((t + ${12} + ${13}))
  done
  echo "$t"
}
cpu_ms_per_1k() {  # ticks requests
  awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", n ? t * 1000 / hz / n * 1000 : 0 }'
}

run_tenx_bench() {  # stack -> "rps p50 p99 cpu_ms_per_1k"
  local before after res
  before=$(cpu_ticks $(roots "$1"))
  "$TENX" bench -q -t1 -c"$CONNS" -d"$DURATION" "$WORK/$1.toml" --json "$WORK/$1.json" >/dev/null
  after=$(cpu_ticks $(roots "$1"))
  res=($(/usr/bin/python3 -c 'import json,sys
d=json.load(open(sys.argv[1])); bad=d["errors"]["total"]+sum(n for c,n in d["status_codes"].items() if c!="200")
print("%.0f %.3f %.3f %d %d" % (d["requests_per_second"], d["latency_ms"]["p50"], d["latency_ms"]["p99"], d["requests"], bad))' "$WORK/$1.json"))
  [ "${res[4]}" != 0 ] && echo "bench: $1: tenx bench saw ${res[4]} errors or non-200 answers" >&2
  echo "${res[0]} ${res[1]} ${res[2]} $(cpu_ms_per_1k $((after - before)) "${res[3]}")"
}
run_wrk() {  # stack -> "rps p50 p99 cpu_ms_per_1k"
  local before after out rps p50 p99 n
  before=$(cpu_ticks $(roots "$1"))
  out=$(wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$(url "$1")${DEEP[$1]}")
  after=$(cpu_ticks $(roots "$1"))
  rps=$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')
  p50=$(to_ms "$(echo "$out" | awk '$1=="50%" {print $2}')")
  p99=$(to_ms "$(echo "$out" | awk '$1=="99%" {print $2}')")
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "$out" | grep -E "Non-2xx|Socket errors" | sed "s/^/bench: $1: wrk: /" >&2 || true
  echo "$rps $p50 $p99 $(cpu_ms_per_1k $((after - before)) "$n")"
}

start_tenx
start_rival flask $FLASK_PORT $FLASK_UP flask_app:app
start_rival aiohttp $AIOHTTP_PORT $AIOHTTP_UP -k aiohttp.GunicornWebWorker aiohttp_app:app
for s in tenx flask aiohttp; do wait_ok "$(url $s)/api/posts?per_page=1"; done

/usr/bin/python3 bench/rivals/deep_cursors.py --url "$TENX_URL" --db "$DB" \
  --tenx-out "$WORK/tenx.cursors" --rival-out "$WORK/rival.cursors" >"$WORK/depth"
cp "$WORK/rival.cursors" "$WORK/flask.cursors"; cp "$WORK/rival.cursors" "$WORK/aiohttp.cursors"
for s in tenx flask aiohttp; do
  cat > "$WORK/$s.toml" <<TOML
base_url = "$(url $s)"
[vars]
cursor = { file = "$s.cursors", order = "random" }
[[request]]
name = "feed"
path = "/api/posts?per_page=20&cursor={cursor}"
TOML
  DEEP[$s]="/api/posts?per_page=20&cursor=$(head -1 "$WORK/$s.cursors")"
done
/usr/bin/python3 bench/rivals/same_page.py "tenx=$TENX_URL${DEEP[tenx]}" \
  "flask=$(url flask)${DEEP[flask]}" "aiohttp=$(url aiohttp)${DEEP[aiohttp]}" >"$WORK/same"

echo "machine: $(nproc) cores, $(uname -r); $("$TENX" version)"
echo "rivals: nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/.*\///'), gunicorn $(/usr/bin/python3 -c 'import gunicorn; print(gunicorn.__version__)'), Flask $(/usr/bin/python3 -c 'import importlib.metadata as m; print(m.version("flask"))'), aiohttp $(/usr/bin/python3 -c 'import aiohttp; print(aiohttp.__version__)'), Python $(/usr/bin/python3 -c 'import platform; print(platform.python_version())'), SQLite $(/usr/bin/python3 -c 'import sqlite3; print(sqlite3.sqlite_version)')"
echo "database: $DB, $DB_SHAPE ($DB_ORIGIN)"
cat "$WORK/depth"
echo "check: $(cat "$WORK/same")"
echo "load: tenx bench -q -t1 -c$CONNS -d$DURATION (random deep cursor per request); wrk -t1 -c$CONNS -d$DURATION --latency (one deep URL)"
printf '%-6s %-8s %-11s %9s %8s %8s %14s\n' round stack generator req/s p50_ms p99_ms cpu_ms/1k_req
declare -A RPS P99 CPU WRPS WP99
for R in $(seq "$ROUNDS"); do
  # Reverse the order every round so drift on a shared machine does not favour one stack.
  if [ $((R % 2)) -eq 1 ]; then stacks="tenx flask aiohttp"; gens="tenx-bench wrk"; else stacks="aiohttp flask tenx"; gens="wrk tenx-bench"; fi
  for s in $stacks; do
    for g in $gens; do
      if [ "$g" = tenx-bench ]; then res=($(run_tenx_bench "$s")); else res=($(run_wrk "$s")); fi
      printf '%-6s %-8s %-11s %9s %8s %8s %14s\n' "$R" "$s" "$g" "${res[@]}"
      if [ "$g" = tenx-bench ]; then
        RPS[$s]+="${res[0]} "; P99[$s]+="${res[2]} "; CPU[$s]+="${res[3]} "
      else
        WRPS[$s]+="${res[0]} "; WP99[$s]+="${res[2]} "
      fi
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
for s in tenx flask aiohttp; do
  printf '  %-8s %9s req/s  p99 %8s ms  %8s CPU ms/1k req   (wrk: %s req/s, p99 %s ms)\n' "$s" \
    "$(med ${RPS[$s]})" "$(med ${P99[$s]})" "$(med ${CPU[$s]})" "$(med ${WRPS[$s]})" "$(med ${WP99[$s]})"
done
RF=$(ratios "${RPS[tenx]}" "${RPS[flask]}"); RA=$(ratios "${RPS[tenx]}" "${RPS[aiohttp]}")
WRF=$(ratios "${WRPS[tenx]}" "${WRPS[flask]}"); WRA=$(ratios "${WRPS[tenx]}" "${WRPS[aiohttp]}")
T99=$(med ${P99[tenx]})
echo "tenx/Flask   req/s ratios: ${RF}  median $(med $RF)  (wrk median $(med $WRF))  goal >= 5: $(goal "$(med $RF)" ">=" 5)"
echo "tenx/aiohttp req/s ratios: ${RA}  median $(med $RA)  (wrk median $(med $WRA))  goal >= 3: $(goal "$(med $RA)" ">=" 3)"
echo "tenx p99 median: $T99 ms  goal < 10 ms: $(goal "$T99" "<" 10)"
echo "reference (issue author, 1M posts): Flask+nginx ~2,900 req/s p99 44 ms; aiohttp+nginx ~4,900 req/s p99 19 ms"

# Stop the stacks by PID (tenx up, nginx and gunicorn masters stop their own children on SIGTERM),
# then make sure no process of theirs outlived them.
MASTERS=("$TENX_PID" "${NGINX_PID[@]}" "${GUNICORN_PID[@]}")
LEFT=$(tree_pids "${MASTERS[@]}")
stop "${MASTERS[@]}"
for _ in $(seq 100); do
  alive=""; for p in $LEFT; do kill -0 "$p" 2>/dev/null && alive+="$p "; done
  [ -z "$alive" ] && break; sleep 0.05
done
[ -n "$alive" ] && { echo "bench: processes $alive outlived their stack; killing them" >&2; kill $alive 2>/dev/null || true; }
true
