#!/usr/bin/env bash
# Installs what tenx needs to build, test and run, from Debian 12's packages. Idempotent:
# only missing packages are installed (apt-get update runs only when something is missing).
set -euo pipefail
PKGS=(
  g++ cmake ninja-build ccache pkg-config git curl procps
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libtomlplusplus-dev libcli11-dev libfmt-dev libspdlog-dev libxxhash-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev   # libFuzzer + sanitizers for the fuzz target
  clang-format-14               # the format check in scripts/test.sh
  clang-tidy-14                 # scripts/tidy.sh, the lint of changed files
  prometheus                    # promtool, to validate /metrics output in the tests
  libsqlite3-dev libpq-dev      # tenx app's storage engines
  postgresql                    # a private cluster for the tests (scripts/pg.sh)
  libhiredis-dev                # the Redis client's RESP reader (src/redis/)
  redis-server                  # a private server for the tests (src/redis/testing/)
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
  # policy-rc.d-free containers: keep the prometheus package from starting its daemon.
  $SUDO env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -q --no-install-recommends "${missing[@]}"
  # The prometheus package may have started its server; tenx only needs promtool.
  $SUDO pkill -x prometheus 2>/dev/null || true
  $SUDO pkill -x prometheus-node-exporter 2>/dev/null || true
  # Likewise Debian's default PostgreSQL cluster: tests and benchmarks start their own.
  if command -v pg_lsclusters >/dev/null; then
    pg_lsclusters -h 2>/dev/null | while read -r ver name _; do
      $SUDO pg_ctlcluster "$ver" "$name" stop 2>/dev/null || true
    done
  fi
else
  echo "install-deps: all packages present"
fi
