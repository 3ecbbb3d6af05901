#!/usr/bin/env bash
# bench/gateway_proxy_instructions.sh — user-space instructions per proxied request, counted
# by callgrind: a figure that machine noise does not move, for judging changes to the proxy's
# own code (time-based benchmarks here vary ±10 % between rounds).
#
# What it runs: the two nginx upstreams of bench/gateway_proxy.sh, and `tenx gateway
# --threads 1` in front of them under `valgrind --tool=callgrind` (every thread counted),
# loaded by `tenx bench -t1 -c16 -n N /hello`. It counts twice, with --small and --large
# requests, and prints (Ir(large) - Ir(small)) / (large - small): start-up and shutdown
# cancel out. With --annotate it also prints the functions of the large run by their own
# instruction counts. About 10 s; valgrind is installed with apt-get when missing.
#
# Usage: bench/gateway_proxy_instructions.sh [--small 2000] [--large 12000] [--annotate 30]
# TENX=path/to/tenx counts another build (default build/release/bin/tenx).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
SMALL=2000; LARGE=12000; ANNOTATE=0
options --small SMALL --large LARGE --annotate ANNOTATE -- "$@"
need valgrind valgrind
use_tenx
make_workdir
. bench/lib/proxies.sh

PORT=18496
count() {  # requests -> RES = total instructions of the proxy process
  tenx_args $PORT 1
  valgrind --tool=callgrind --callgrind-out-file="$WORK/cg-$1.out" "$TENX" "${TENX_ARGS[@]}" \
    >"$WORK/valgrind.log" 2>&1 & local pid=$!; PIDS+=("$pid")
  wait_http $PORT "$pid" "tenx under callgrind" "$WORK/valgrind.log"
  "$TENX" bench -t1 -c16 -n "$1" "http://127.0.0.1:$PORT/hello" >"$WORK/bench.txt" 2>&1 ||
    { echo "bench: tenx bench failed:" >&2; cat "$WORK/bench.txt" >&2; exit 1; }
  stop "$pid"
  RES=$(awk '/^(summary|totals):/ {print $2; exit}' "$WORK/cg-$1.out")
  [ -n "$RES" ] || { echo "bench: no callgrind totals; valgrind said:" >&2; tail -n 20 "$WORK/valgrind.log" >&2; exit 1; }
}

start_upstream 1; start_upstream 2
echo "tenx: $("$TENX" version); valgrind: $(valgrind --version)"
count "$SMALL"; small=$RES
count "$LARGE"; large=$RES
echo "user-space instructions per proxied request: $(( (large - small) / (LARGE - SMALL) ))" \
  "(callgrind totals $small for $SMALL requests, $large for $LARGE)"
if [ "$ANNOTATE" -gt 0 ]; then
  callgrind_annotate --inclusive=no "$WORK/cg-$LARGE.out" 2>/dev/null |
    awk '/^-+$/ {n++} n >= 4 && NF' | head -n "$ANNOTATE" | cut -c1-160
fi
