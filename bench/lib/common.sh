# Shared by the bench/ scripts (sourced after they cd to the repository root).
# need BINARY PACKAGE: installs a missing rival with apt-get and says so; stops if it cannot.
need() {  # need BINARY PACKAGE
  if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then
    echo "bench: $1 is missing; installing Debian package $2"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null
  fi
  command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] || { echo "bench: cannot install $2: stopping (no rival is skipped)" >&2; exit 1; }
}
# to_ms LATENCY: wrk's 250.00us / 1.20ms / 1.01s / 1.00m -> milliseconds.
to_ms() {  # wrk latency like 250.00us / 1.20ms / 1.01s -> ms
  awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /m$/) n*=60000; else if (v ~ /s$/) n*=1000; printf "%.3f", n }'
}
med() {  # true median (mean of the middle two for an even count)
  printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END { if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'
}
# Processes the script started are tracked in PIDS; stop PID... ends them and forgets them.
PIDS=()
forget() { local p keep=(); for p in "${PIDS[@]:-}"; do [ -n "$p" ] && [ "$p" != "$1" ] && keep+=("$p"); done; PIDS=("${keep[@]:-}"); }
stop() {  # stop PID...: SIGTERM, wait, forget
  local p
  for p in "$@"; do kill "$p" 2>/dev/null || true; done
  for p in "$@"; do wait "$p" 2>/dev/null || true; forget "$p"; done
}
# use_tenx: sets TENX (default build/release/bin/tenx; TENX=path measures another build) and
# builds the release preset when the binary is missing.
use_tenx() {
  TENX=${TENX:-build/release/bin/tenx}
  if [ ! -x "$TENX" ]; then
    echo "bench: building tenx (release preset)"
    cmake --preset release >/dev/null && cmake --build --preset release >/dev/null
  fi
}
# make_workdir: WORK=a fresh temporary directory; on exit every tracked process is stopped
# and the directory removed.
make_workdir() {
  WORK=$(mktemp -d)
  trap 'for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
}
# options --flag VAR ... -- "$@": sets VAR from each "--flag value" the script takes; anything
# else is refused with exit 2.
options() {
  local -A map=()
  while [ "$1" != -- ]; do map[$1]=$2; shift 2; done
  shift
  while [ $# -gt 0 ]; do
    [ -n "${map[$1]:-}" ] || { echo "unknown option $1 (options: ${!map[*]})" >&2; exit 2; }
    [ $# -ge 2 ] || { echo "option $1 needs a value" >&2; exit 2; }
    printf -v "${map[$1]}" '%s' "$2"; shift 2
  done
}
# nginx_conf NAME WORKERS [single]: the start of an nginx config, up to inside `http {`: in the
# foreground, pid and error log in $WORK/NAME.pid and $WORK/NAME-error.log, access log off;
# `single` adds master_process off (one process that is its own worker).
nginx_conf() {
  [ "${3:-}" = single ] && echo "master_process off;"
  cat <<NGX
worker_processes $2;
daemon off;
pid $WORK/$1.pid;
error_log $WORK/$1-error.log;
events { worker_connections 4096; }
http {
  access_log off;
NGX
}
# nginx_proxy_conf NAME PORT UPSTREAM_PORT: $WORK/nginx-NAME.conf, an nginx with 2 workers on
# 127.0.0.1:PORT proxying everything to 127.0.0.1:UPSTREAM_PORT (upstream keepalive 64, HTTP/1.1
# upstream, Connection "", Host passed on, access log off, no cache): how the Python rivals are
# put behind nginx.
nginx_proxy_conf() {
  local name=$1 port=$2 up=$3
  { nginx_conf "nginx-$name" 2; cat <<NGX
  upstream app { server 127.0.0.1:$up; keepalive 64; }
  server {
    listen 127.0.0.1:$port reuseport;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
    }
  }
}
NGX
  } > "$WORK/nginx-$name.conf"
}
