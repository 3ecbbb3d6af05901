#!/usr/bin/env bash
# scripts/pg.sh — a private PostgreSQL cluster on 127.0.0.1 for tests and benchmarks.
#
#   scripts/pg.sh start DIR PORT [--fast]   initdb DIR (first time), start, create database
#                                           "tenx" for role "tenx"; prints the URL
#   scripts/pg.sh stop DIR                  fast shutdown (waits)
#   scripts/pg.sh url DIR PORT              the URL, without starting anything
#
# Debian's PostgreSQL 15 binaries, run as the `postgres` user when invoked as root (the server
# refuses to run as root); trust authentication on 127.0.0.1 and a socket in DIR only, so it
# touches nothing outside DIR. --fast turns off fsync and full-page writes (tests only: a crash
# may lose the cluster, which tests recreate anyway).
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || { echo "pg.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cmd=${1:-}; dir=${2:-}; port=${3:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: pg.sh start|stop|url DIR [PORT] [--fast]" >&2; exit 2; }
url() { echo "postgresql://tenx@127.0.0.1:$1/tenx"; }
case "$cmd" in
  start)
    [ -n "$port" ] || { echo "pg.sh start needs a port" >&2; exit 2; }
    extra=""
    [ "${4:-}" = "--fast" ] && extra="-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_pg "$PGBIN/initdb" -D "$dir/data" -U tenx -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c max_connections=200 $extra" \
      start >/dev/null || { tail -20 "$dir/server.log" >&2; exit 1; }
    # The database, unless an earlier start made it (a retry on another port reuses DIR).
    if ! as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$port" -U tenx -d postgres -tAc \
         "SELECT 1 FROM pg_database WHERE datname = 'tenx'" | grep -q 1; then
      as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U tenx tenx
    fi
    url "$port"
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
    fi
    ;;
  url) url "$port" ;;
  *) echo "pg.sh: unknown command $cmd" >&2; exit 2 ;;
esac
