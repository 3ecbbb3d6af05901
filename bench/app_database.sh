#!/usr/bin/env bash
# bench/app_database.sh — the guide's database table (sections 1 and 6), reproduced on this
# machine on both of tenx app's engines, each technique against its absence:
#   * the feed query with and without the partial composite index        (100k posts, 50k users)
#   * 100 posts with their authors: N+1 (101 queries) against one join   (100k posts), as SQL
#     and as HTTP requests to `tenx app` (/api/posts/naive vs /api/posts, tenx bench -c1)
#   * exact COUNT(*) against the estimate (PostgreSQL reltuples / SQLite's trigger counter)
#   * the weekly popularity aggregate against its materialised view / summary table
#   * offset against cursor at pages 1 / 100 / 10000                     (1M posts)
#   * insert rate, one transaction per insert: no index / full index / partial index
# Engines: SQLite (files under data/), PostgreSQL 15 (a private cluster under data/pg-bench on
# 127.0.0.1:18599 with Debian's default durability settings, started and stopped here).
# Databases are seeded once with `tenx app seed` and kept for later runs.
#
# Usage: bench/app_database.sh [--engines "sqlite postgresql"] [--big-posts N] [--runs 50]
#   --big-posts: size of the large database (default 1000000; counts and pages use it)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
ENGINES="sqlite postgresql"; BIG=1000000; RUNS=50
options --engines ENGINES --big-posts BIG --runs RUNS -- "$@"
use_tenx
make_workdir
mkdir -p data
PG_DIR=$PWD/data/pg-bench; PG_PORT=18599; PG_STARTED=""
stop_pg() { [ -n "$PG_STARTED" ] && scripts/pg.sh stop "$PG_DIR" || true; }
trap 'stop_pg; for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT

url_for() {  # engine size -> database URL (creating the PostgreSQL database when missing)
  if [ "$1" = sqlite ]; then echo "sqlite://data/bench-$2.db"; return; fi
  local db="bench_$2"
  psql -q -h 127.0.0.1 -p $PG_PORT -U tenx -d tenx -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 ||
    psql -q -h 127.0.0.1 -p $PG_PORT -U tenx -d tenx -c "CREATE DATABASE $db" >/dev/null
  echo "postgresql://tenx@127.0.0.1:$PG_PORT/$db"
}
seeded() {  # url posts -> seed when empty
  local out
  if out=$("$TENX" app seed --database "$1" --users 50000 --posts "$2" 2>"$WORK/seed.err"); then
    echo "bench: $1: $out"
  elif ! grep -q "already holds" "$WORK/seed.err"; then
    cat "$WORK/seed.err" >&2; exit 1
  fi
}
http_p50() {  # port path -> p50 ms over 300 sequential requests
  "$TENX" bench -q -c1 -n 300 "http://127.0.0.1:$1$2" --json "$WORK/h.json" >/dev/null
  awk '$1=="\"p50\":" { gsub(/,/, "", $2); printf "%.3f", $2; exit }' "$WORK/h.json"
}

echo "machine: $(nproc) cores, $(uname -r); $("$TENX" version)"
for ENGINE in $ENGINES; do
  if [ "$ENGINE" = postgresql ]; then
    need psql postgresql-client
    scripts/pg.sh start "$PG_DIR" $PG_PORT >/dev/null; PG_STARTED=1
    echo "postgresql: $(psql -h 127.0.0.1 -p $PG_PORT -U tenx -d tenx -tAc 'SHOW server_version') (private cluster, default durability)"
  fi
  LABEL=$BIG; [ "$BIG" = 1000000 ] && LABEL=1m   # data/bench-1m.db is shared with app_stack.sh
  SMALL=$(url_for "$ENGINE" 100k); LARGE=$(url_for "$ENGINE" "$LABEL")
  seeded "$SMALL" 100000; seeded "$LARGE" "$BIG"
  echo "=== $ENGINE"
  "$TENX" app db bench --database "$SMALL" --runs "$RUNS" --only feed,nplus1 2>/dev/null
  "$TENX" app db bench --database "$LARGE" --runs "$RUNS" --only counts,matview,pagination,inserts 2>/dev/null | tail -n +2
  # N+1 as the client sees it: one request for 100 posts with authors.
  "$TENX" app --listen 127.0.0.1:0 --database "$SMALL" --demo --log-level warn >"$WORK/app.out" 2>"$WORK/app.err" & APP=$!; PIDS+=("$APP")
  for _ in $(seq 100); do grep -q listening "$WORK/app.out" && break; sleep 0.05; done
  PORT=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/app.out" | head -1)
  LAZY=$(http_p50 "$PORT" "/api/posts/naive?per_page=100"); EAGER=$(http_p50 "$PORT" "/api/posts?per_page=100")
  printf '  %-40s %26s %26s %9.1fx   guide: 850 ms -> 45 ms\n' "HTTP: 100 posts with authors (p50)" \
    "N+1 $LAZY ms" "eager $EAGER ms" "$(awk -v a="$LAZY" -v b="$EAGER" 'BEGIN{print a/b}')"
  stop "$APP"
  if [ "$ENGINE" = postgresql ]; then stop_pg; PG_STARTED=""; fi
done
echo "goal: the cursor feed at page 10000 under 1 ms on both engines (the 'feed page 10000' cursor column)"
