# Shared by bench/app_cache.sh and bench/app_stampede.sh (sourced after bench/lib/common.sh,
# use_tenx and make_workdir): the database, a private Redis, the Flask cache rival behind nginx,
# tenx's stacks, the load generators and the stop at the end.
# shellcheck shell=bash disable=SC2034,SC2207,SC2046,SC2086  # sets variables the scripts read;
# splits one-line results and PID lists into words on purpose.

# need_py MODULE PACKAGE: need, for a module of Debian's /usr/bin/python3 (the one gunicorn runs).
need_py() {
  if ! /usr/bin/python3 -c "import $1" 2>/dev/null; then
    echo "bench: Python module $1 is missing; installing Debian package $2"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null
  fi
  /usr/bin/python3 -c "import $1" 2>/dev/null || { echo "bench: cannot install $2: stopping (no rival is skipped)" >&2; exit 1; }
}
# need_cache_rivals: everything the Flask cache rival and its Redis need.
need_cache_rivals() {
  need /usr/sbin/nginx nginx
  need /usr/bin/python3 python3
  need /usr/bin/gunicorn gunicorn
  need redis-server redis-server
  need redis-cli redis-tools
  need_py flask python3-flask
  need_py redis python3-redis
}

free_port() {  # a TCP port nobody listens on now (the kernel's pick)
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
seconds() {  # 10s / 500ms / 2m / 10 -> seconds (a decimal)
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /ms$/) n /= 1000; else if (v ~ /m$/) n *= 60; print n }'
}

# use_db: sets DB (absolute) and DB_ORIGIN. Without --db, a fresh database in $WORK, seeded now
# (`tenx app seed`): trending counts the likes of the last 24 hours and the seed dates its likes
# from the day it runs, so a kept file's trending list empties within days. With --db PATH, that
# file, seeded when it is missing and kept.
use_db() {  # use_db POSTS [PATH]
  local posts=$1
  if [ -n "${2:-}" ]; then
    DB=$(realpath -m "$2")  # the rivals run from bench/rivals
    DB_ORIGIN="kept: --posts applies only when the file is made; delete it to re-seed"
    [ -f "$DB" ] || { DB_ORIGIN="seeded now, kept for later runs"; mkdir -p "$(dirname "$DB")"; }
  else
    DB="$WORK/bench.db"; DB_ORIGIN="seeded now for this run"
  fi
  if [ ! -f "$DB" ]; then
    echo "bench: seeding $DB (50000 users, $posts posts)"
    "$TENX" app seed --database "sqlite://$DB" --users 50000 --posts "$posts" >"$WORK/seed.out" 2>&1 \
      || { cat "$WORK/seed.out" >&2; exit 1; }
  fi
  DB_SHAPE=$(/usr/bin/python3 -c 'import sqlite3,sys
c=sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True); q=lambda s: c.execute(s).fetchone()[0]
print("%d posts (%d published), %d users, %d likes" % (q("SELECT count(*) FROM posts"),
      q("SELECT count(*) FROM posts WHERE published = 1"), q("SELECT count(*) FROM users"),
      q("SELECT count(*) FROM likes")))' "$DB")
}

# start_redis: a private redis-server on 127.0.0.1 on a free port (RPORT), its own directory,
# no persistence; REDIS_PID.
start_redis() {
  RPORT=$(free_port)
  mkdir -p "$WORK/redis"
  redis-server --bind 127.0.0.1 --port "$RPORT" --dir "$WORK/redis" --save '' --appendonly no \
    --daemonize no --logfile "$WORK/redis/redis.log" & REDIS_PID=$!; PIDS+=("$REDIS_PID")
  for _ in $(seq 200); do redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.05; done
  echo "bench: redis-server did not answer on 127.0.0.1:$RPORT" >&2; cat "$WORK/redis/redis.log" >&2; exit 1
}
rcli() { redis-cli -h 127.0.0.1 -p "$RPORT" "$@"; }

declare -A NGINX_PID GUNICORN_PID TENX_PID URL  # by stack name
# start_flask NAME PORT UPSTREAM_PORT MODE TTL GUNICORN-ARGS...: bench/rivals/flask_cache_app.py
# (CACHE_MODE=MODE, CACHE_TTL=TTL, over the private Redis) under gunicorn, 2 workers, behind its
# own nginx (2 workers, upstream keepalive 64, HTTP/1.1 upstream, access log off, no cache).
start_flask() {
  local name=$1 port=$2 up=$3 mode=$4 ttl=$5; shift 5
  nginx_proxy_conf "$name" "$port" "$up"
  PYTHONDONTWRITEBYTECODE=1 BENCH_DB="$DB" BENCH_REDIS="redis://127.0.0.1:$RPORT/0" CACHE_MODE="$mode" CACHE_TTL="$ttl" \
    /usr/bin/gunicorn --chdir bench/rivals -w 2 -b 127.0.0.1:"$up" --log-level warning \
    --error-logfile "$WORK/gunicorn-$name.log" "$@" flask_cache_app:app & GUNICORN_PID[$name]=$!; PIDS+=("$!")
  /usr/sbin/nginx -c "$WORK/nginx-$name.conf" & NGINX_PID[$name]=$!; PIDS+=("$!")
  URL[$name]="http://127.0.0.1:$port"
}
# start_tenx_up NAME PORT ARGS...: `tenx up --database sqlite://DB --app-instances 2
# --gateway-threads 2 --listen 127.0.0.1:PORT ARGS...`; URL[NAME] is its gateway.
start_tenx_up() {
  local name=$1 port=$2; shift 2
  "$TENX" up --database "sqlite://$DB" --app-instances 2 --gateway-threads 2 \
    --listen 127.0.0.1:"$port" --log-level warn "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  TENX_PID[$name]=$!; PIDS+=("$!")
  for _ in $(seq 400); do grep -q '^  gateway   http://' "$WORK/$name.out" && break; sleep 0.05; done
  URL[$name]=$(sed -n 's|^  gateway   \(http://[^ ]*\).*|\1|p' "$WORK/$name.out")
  [ -n "${URL[$name]}" ] || { echo "bench: $name: tenx up printed no gateway line" >&2; cat "$WORK/$name.out" "$WORK/$name.err" >&2; exit 1; }
}
# start_tenx_app NAME PORT ARGS...: `tenx app --database sqlite://DB --listen 127.0.0.1:PORT ARGS...`.
start_tenx_app() {
  local name=$1 port=$2; shift 2
  "$TENX" app --database "sqlite://$DB" --listen 127.0.0.1:"$port" --log-level warn "$@" \
    >"$WORK/$name.out" 2>"$WORK/$name.err" & TENX_PID[$name]=$!; PIDS+=("$!")
  URL[$name]="http://127.0.0.1:$port"
}
wait_ok() {  # url
  for _ in $(seq 400); do curl -fs -o /dev/null "$1" && return 0; sleep 0.05; done
  echo "bench: $1 did not answer 200" >&2; exit 1
}

# run_tenx_bench URL NAME [ARGS...] -> "rps p50 p99 requests": `tenx bench -q -t1 -c$CONNS
# -d$DURATION ARGS... URL`; errors and non-200 answers are said on stderr.
run_tenx_bench() {
  local url=$1 name=$2; shift 2
  "$TENX" bench -q -t1 -c"$CONNS" -d"$DURATION" "$@" --json "$WORK/$name.json" "$url" >/dev/null
  bench_result "$WORK/$name.json" "$name"
}
bench_result() {  # JSON NAME -> "rps p50 p99 requests"
  local res
  res=($(/usr/bin/python3 -c 'import json,sys
d=json.load(open(sys.argv[1])); bad=d["errors"]["total"]+sum(n for c,n in d["status_codes"].items() if c!="200")
print("%.0f %.3f %.3f %d %d" % (d["requests_per_second"], d["latency_ms"]["p50"], d["latency_ms"]["p99"], d["requests"], bad))' "$1"))
  [ "${res[4]}" != 0 ] && echo "bench: $2: tenx bench saw ${res[4]} errors or non-200 answers" >&2
  echo "${res[0]} ${res[1]} ${res[2]} ${res[3]}"
}
# run_wrk URL NAME -> "rps p50 p99 requests": `wrk -t1 -c$CONNS -d$DURATION --latency URL`.
run_wrk() {
  local out rps p50 p99 n
  out=$(wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$1")
  rps=$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')
  p50=$(to_ms "$(echo "$out" | awk '$1=="50%" {print $2}')")
  p99=$(to_ms "$(echo "$out" | awk '$1=="99%" {print $2}')")
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "$out" | grep -E "Non-2xx|Socket errors" | sed "s/^/bench: $2: wrk: /" >&2 || true
  echo "$rps $p50 $p99 $n"
}

tree_pids() {  # PID... -> them and all their descendants
  local p
  for p in "$@"; do echo "$p"; tree_pids $(ps -o pid= --ppid "$p" || true); done
}
# stop_stacks PID...: stop these masters by PID (tenx up, tenx app, nginx, gunicorn and
# redis-server stop their own children on SIGTERM), then make sure no process of theirs outlived
# them.
stop_stacks() {
  local left alive="" p
  left=$(tree_pids "$@")
  stop "$@"
  for _ in $(seq 100); do
    alive=""; for p in $left; do kill -0 "$p" 2>/dev/null && alive+="$p "; done
    [ -z "$alive" ] && break; sleep 0.05
  done
  if [ -n "$alive" ]; then
    echo "bench: processes $alive outlived their stack; killing them" >&2
    kill $alive 2>/dev/null || true
  fi
}
rival_versions() {
  echo "rivals: nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/.*\///'), gunicorn $(/usr/bin/python3 -c 'import gunicorn; print(gunicorn.__version__)'), Flask $(/usr/bin/python3 -c 'import importlib.metadata as m; print(m.version("flask"))'), redis-py $(/usr/bin/python3 -c 'import redis; print(redis.__version__)'), Redis $(redis-server --version | sed 's/.* v=\([^ ]*\).*/\1/'), Python $(/usr/bin/python3 -c 'import platform; print(platform.python_version())'), SQLite $(/usr/bin/python3 -c 'import sqlite3; print(sqlite3.sqlite_version)')"
}
