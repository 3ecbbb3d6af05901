#!/usr/bin/env bash
# bench/cache_memory.sh — the memory store against a plain LRU of the same byte budget (issue
# 11, benchmark 1), both measured in the same run:
#   1. hit ratio: build/release/src/cache/cache_hit_ratio (src/cache/stores/hit_ratio.cpp): Zipf
#      s = 0.9 and 1.1 over 100,000 keys, and Zipf 0.9 with one-pass scans, budgets of 1 % and
#      5 % of the keys; W-TinyLFU with 1 and 16 stripes; the goals (>= 5 points better than LRU
#      on the scan-polluted trace, never worse on plain Zipf) checked and printed. Deterministic.
#   2. gets/s on hits: build/release/src/cache/cache_bench (Google Benchmark,
#      src/cache/stores/memory_store_bench.cpp), 1,000 / 10,000 / 100,000 resident keys read in
#      Zipf(0.9) order on 1 and 2 threads, MemoryStore and the one-mutex LRU alternated over
#      --rounds (median per case), through lookup() (a shared_ptr handed out) and read() (the
#      value copied out); prints both stores, their ratio, and the goal (>= 10 M gets/s per
#      thread) next to ours.
# The LRU is src/cache/stores/testing/lru_baseline.h: std::list + std::unordered_map under one
# mutex, charged the same bytes per entry.
#
# Usage: bench/cache_memory.sh [--rounds 3] [--min-time 1]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
ROUNDS=3; MIN_TIME=1
options --rounds ROUNDS --min-time MIN_TIME -- "$@"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.ccache}"
B=build/release/src/cache
if [ ! -x $B/cache_bench ] || [ ! -x $B/cache_hit_ratio ]; then
  echo "bench: building cache_bench and cache_hit_ratio (release preset)"
  cmake --preset release >/dev/null && cmake --build --preset release --target cache_bench cache_hit_ratio >/dev/null
fi
make_workdir

echo "=== hit ratio at equal byte budget (W-TinyLFU vs LRU)"
$B/cache_hit_ratio

echo "=== gets/s on hits, $ROUNDS rounds alternated (median)"
for r in $(seq 1 "$ROUNDS"); do
  for which in MemoryStoreHit LruBaselineHit MemoryStoreRead LruBaselineRead; do
    $B/cache_bench --benchmark_filter="BM_${which}/" --benchmark_min_time="$MIN_TIME" \
      --benchmark_format=csv 2>/dev/null | grep '^"BM_' >>"$WORK/$which.csv"
  done
done
# CSV: "BM_MemoryStoreHit/1000/real_time/threads:1",iterations,real_time,cpu_time,time_unit,...,items_per_second,...
for how in Hit Read; do
  case $how in
    Hit) echo "--- lookup(): a shared_ptr to the entry handed out per get" ;;
    Read) echo "--- read(): the value copied out under the lock, no reference (Cache's hit path)" ;;
  esac
  printf '%-8s %-8s %14s %14s %8s %16s\n' keys threads "tinylfu M/s" "lru M/s" ratio "per thread M/s"
  for keys in 1000 10000 100000; do
    for threads in 1 2; do
      pick() { grep "/$keys/real_time/threads:$threads\"" "$WORK/$1.csv" | awk -F, '{print $7}'; }
      ours=$(med $(pick "MemoryStore$how")); theirs=$(med $(pick "LruBaseline$how"))
      awk -v k="$keys" -v t="$threads" -v a="$ours" -v b="$theirs" 'BEGIN {
        printf "%-8s %-8s %14.2f %14.2f %7.2fx %16.2f\n", k, t, a / 1e6, b / 1e6, a / b, a / 1e6 / t }'
    done
  done
done
echo "goal: >= 10 M gets/s per thread (the per-thread column)"
