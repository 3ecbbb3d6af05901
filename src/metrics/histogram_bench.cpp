// Micro-benchmarks for the metrics hot path: recording into a Histogram, reading a
// percentile from it, and incrementing a labelled counter through a registry Series.
//   build/release/src/metrics/histogram_bench
#include "metrics/histogram.h"
#include "metrics/registry.h"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

namespace {
using tenx::metrics::Histogram;
using tenx::metrics::Registry;

// Latency-like values (lognormal, median ~1 ms) so that record() touches many buckets.
std::vector<std::uint64_t> latencies(std::size_t n) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(13.8, 1.5);
  std::vector<std::uint64_t> out(n);
  for (auto& v : out) v = static_cast<std::uint64_t>(dist(rng));
  return out;
}

void BM_HistogramRecord(benchmark::State& state) {
  const auto values = latencies(4096);
  Histogram h;
  std::size_t i = 0;
  for (auto _ : state) {
    h.record(values[i++ & 4095]);
  }
  benchmark::DoNotOptimize(h.count());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramRecord);

void BM_HistogramPercentile(benchmark::State& state) {
  const auto values = latencies(100'000);
  Histogram h;
  for (auto v : values) h.record(v);
  for (auto _ : state) {
    benchmark::DoNotOptimize(h.percentile(0.99));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramPercentile);

void BM_CounterInc(benchmark::State& state) {
  Registry registry;
  auto series = registry.counter("bench_requests_total", "Requests.", {"method", "status"})
                    .series({"GET", "200"});
  for (auto _ : state) {
    series.inc();
  }
  benchmark::DoNotOptimize(series.value());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CounterInc);

// The series lookup a handler does when it does not keep the handle (per-thread cache hit).
void BM_CounterLookupAndInc(benchmark::State& state) {
  Registry registry;
  auto& family = registry.counter("bench_requests_total", "Requests.", {"method", "status"});
  for (auto _ : state) {
    family.series({"GET", "200"}).inc();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CounterLookupAndInc);

}  // namespace
