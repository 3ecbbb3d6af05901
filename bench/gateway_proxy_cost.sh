#!/usr/bin/env bash
# bench/gateway_proxy_cost.sh — where each proxied request's CPU goes, for nginx, HAProxy and
# tenx in front of the same two upstreams (the set-up of bench/gateway_proxy.sh), and how far
# any proxy could get ahead of nginx on this machine.
#
# For W in 1 and 2 workers/threads, every proxy in turn (the order reversed every round) gets
# `wrk -t1 -c64 -dD /hello`; meanwhile it reads, per request:
#   * the proxy's CPU time, user and system (from /proc/PID/stat, all threads);
#   * its system calls (perf stat -e raw_syscalls:sys_enter) and how often it was preempted
#     (nonvoluntary_ctxt_switches);
#   * the whole machine's busy CPU time, its idle share and its context switches (/proc/stat),
#     which include wrk, the upstreams and the kernel's network work.
# Then the bounds: a proxy whose own code cost nothing would still do its kernel work. When
# the proxy is the bottleneck (W=1: its thread is busy all the time while the other core idles
# part of it) its req/s is bounded by nginx's proxy CPU / tenx's kernel CPU per request; when
# the whole machine is (W=2: no idle time), by nginx's system CPU / (tenx's system CPU minus
# tenx's user CPU). Each is printed with the medians it comes from.
# About 1 minute per round with the defaults. Rivals are installed with apt-get when missing
# (and it says so); every process it starts is stopped by PID on exit.
#
# Usage: bench/gateway_proxy_cost.sh [--rounds 2] [--duration 5s] [--workers "1 2"]
#          [--connections 64]
# TENX=path/to/tenx measures another build (default build/release/bin/tenx).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
ROUNDS=2; DURATION=5s; WORKERS="1 2"; CONNS=64
options --rounds ROUNDS --duration DURATION --workers WORKERS --connections CONNS -- "$@"

need wrk wrk
need perf linux-perf
use_tenx
make_workdir
. bench/lib/proxies.sh

TICK_US=$((1000000 / $(getconf CLK_TCK)))
proc_ticks() {  # pids... -> "user system" clock ticks summed over the processes' threads
  local p u=0 s=0 a b
  for p in "$@"; do read -r a b < <(awk '{print $14, $15}' "/proc/$p/stat"); u=$((u + a)); s=$((s + b)); done
  echo "$u $s"
}
preempted() {  # pids... -> involuntary context switches, all threads
  local p; for p in "$@"; do cat /proc/"$p"/task/*/status; done | awk '/^nonvoluntary_ctxt_switches/ {n += $2} END {print n + 0}'
}
machine() {  # -> "busy idle ctxt" (busy/idle in ticks over every CPU)
  awk '/^cpu / {b = $2 + $3 + $4 + $7 + $8 + $9; i = $5 + $6} /^ctxt/ {c = $2} END {print b, i, c}' /proc/stat
}

measure() {  # name port -> ROW (printed) and per-request figures in M_* for the summary
  local who=$1 port=$2 pids csv u0 s0 u1 s1 pr0 pr1 b0 i0 c0 b1 i1 c1 wpid ppid reqs rps sc
  read -ra pids <<<"$(worker_pids "$who")"
  csv=$(IFS=,; echo "${pids[*]}")
  read -r u0 s0 < <(proc_ticks "${pids[@]}"); pr0=$(preempted "${pids[@]}"); read -r b0 i0 c0 < <(machine)
  perf stat -x, -e raw_syscalls:sys_enter -p "$csv" -o "$WORK/perf.csv" -- sleep "${DURATION%s}" >/dev/null 2>&1 & ppid=$!; PIDS+=("$ppid")
  wrk -t1 -c"$CONNS" -d"$DURATION" "http://127.0.0.1:$port/hello" >"$WORK/wrk.txt" 2>&1 & wpid=$!; PIDS+=("$wpid")
  wait "$wpid" || { echo "bench: wrk failed on $who:" >&2; cat "$WORK/wrk.txt" >&2; exit 1; }
  forget "$wpid"
  read -r u1 s1 < <(proc_ticks "${pids[@]}"); pr1=$(preempted "${pids[@]}"); read -r b1 i1 c1 < <(machine)
  wait "$ppid" || true; forget "$ppid"
  reqs=$(awk '/requests in/ {print $1}' "$WORK/wrk.txt")
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")
  sc=$(awk -F, '/raw_syscalls:sys_enter/ {print $1}' "$WORK/perf.csv")
  [ -n "$sc" ] && [ "$sc" != "<not counted>" ] || { echo "bench: perf stat could not count system calls:" >&2; cat "$WORK/perf.csv" >&2; exit 1; }
  read -r M_USER M_SYS M_SYSCALLS M_PRE M_MACHINE M_IDLE M_CTX < <(awk -v t="$TICK_US" -v r="$reqs" \
    -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v sc="$sc" -v pr=$((pr1 - pr0)) -v b=$((b1 - b0)) -v i=$((i1 - i0)) -v c=$((c1 - c0)) \
    'BEGIN { printf "%.2f %.2f %.2f %.3f %.2f %.1f %.3f\n", u*t/r, s*t/r, sc/r, pr/r, b*t/r, 100*i/(b+i), c/r }')
  M_RPS=$rps
  printf '%-3s %-5s %-8s %9.0f %8.2f %8.2f %8.2f %9s %9s %9.2f %6s %9s\n' "$W" "$R" "$who" "$rps" \
    "$(awk -v a="$M_USER" -v b="$M_SYS" 'BEGIN{print a+b}')" "$M_USER" "$M_SYS" "$M_SYSCALLS" "$M_PRE" "$M_MACHINE" "$M_IDLE" "$M_CTX"
}

echo "machine: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg); tenx: $("$TENX" version)"
echo "per request: proxy CPU µs (user, system), proxy system calls, times the proxy was preempted;"
echo "whole machine: busy CPU µs, idle %, context switches. wrk -t1 -c$CONNS -d$DURATION /hello."
start_upstream 1; start_upstream 2
for W in $WORKERS; do
  echo
  printf '%-3s %-5s %-8s %9s %8s %8s %8s %9s %9s %9s %6s %9s\n' W round proxy req/s proxy_us user_us sys_us syscalls preempted machine_us idle% ctx_sw
  for who in nginx haproxy tenx; do start_proxy "$who" "$W"; done
  declare -A P U S MC
  for who in nginx haproxy tenx; do P[$who]=""; U[$who]=""; S[$who]=""; MC[$who]=""; done
  IDLE=()
  for R in $(seq "$ROUNDS"); do
    if [ $((R % 2)) -eq 1 ]; then order="nginx haproxy tenx"; else order="tenx haproxy nginx"; fi
    for who in $order; do
      measure "$who" "$(proxy_port "$who")"
      P[$who]+=" $(awk -v a="$M_USER" -v b="$M_SYS" 'BEGIN{print a+b}')"; U[$who]+=" $M_USER"; S[$who]+=" $M_SYS"
      MC[$who]+=" $M_MACHINE"; IDLE+=("$M_IDLE")
    done
  done
  for who in nginx haproxy tenx; do stop "$(proxy_pid "$who")"; done
  # shellcheck disable=SC2086
  pn=$(med ${P[nginx]}); pt=$(med ${P[tenx]}); ut=$(med ${U[tenx]}); st=$(med ${S[tenx]}); mn=$(med ${MC[nginx]}); mt=$(med ${MC[tenx]})
  echo "W=$W medians per request: proxy CPU nginx $pn µs, tenx $pt µs (user $ut, system $st); machine nginx $mn µs, tenx $mt µs; machine idle $(med "${IDLE[@]}") %"
  echo "W=$W bound if tenx's own code cost nothing: proxy-bound $(awk -v a="$pn" -v b="$st" 'BEGIN{printf "%.2f", a/b}')x nginx; machine-bound $(awk -v a="$mn" -v b="$mt" -v u="$ut" 'BEGIN{printf "%.2f", a/(b-u)}')x nginx"
done
