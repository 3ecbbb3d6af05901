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
