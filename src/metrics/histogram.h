#pragma once
// Histogram: log-linear buckets over nanoseconds (HdrHistogram's layout).
//
// Values below 128 ns are counted exactly; above, each power of two is split into 64 linear
// sub-buckets, so every bucket is at most 1/64 of its lower edge wide and the midpoint that
// percentile() reports is within 1/128 (< 0.8 %) of any value in it. The range runs to
// 2^40 ns (about 18 minutes); larger values are clamped to the last bucket, though max()
// stays exact. 2,240 buckets, ~18 KiB.
//
// Threading: one writer at a time (record() is not atomic read-modify-write; it uses relaxed
// loads and stores, so it costs what a plain increment costs) and any number of concurrent
// readers (merge_into(), percentile(), ...), which see a slightly stale but never torn view.
// The metrics registry keeps one histogram per thread and merges them when scraped; the load
// generator does the same per worker thread.
#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

namespace tenx::metrics {

class Histogram {
 public:
  static constexpr int kSubBits = 6;
  static constexpr std::uint64_t kLinear = 128;
  static constexpr int kMaxExponent = 40;
  static constexpr std::size_t kBuckets = kLinear + (kMaxExponent - 7) * (1u << kSubBits);
  static constexpr std::uint64_t kMaxTrackable = (std::uint64_t{1} << kMaxExponent) - 1;

  Histogram();
  Histogram(const Histogram& other);
  Histogram& operator=(const Histogram& other);

  void record(std::uint64_t value_ns, std::uint64_t count = 1) noexcept;
  void reset() noexcept;
  // Adds this histogram's counts into `out` (out must have a single writer: the caller).
  void merge_into(Histogram& out) const noexcept;

  std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  std::uint64_t sum_ns() const noexcept { return sum_.load(std::memory_order_relaxed); }
  std::uint64_t min_ns() const noexcept;
  std::uint64_t max_ns() const noexcept { return max_.load(std::memory_order_relaxed); }
  double mean_ns() const noexcept;
  double stdev_ns() const noexcept;  // from bucket midpoints
  // q in [0, 1]; 0 on an empty histogram. Result within 1/128 of the exact quantile's value.
  std::uint64_t percentile(double q) const noexcept;
  // Observations whose bucket lies wholly at or below value_ns (for Prometheus `le`).
  std::uint64_t count_at_or_below(std::uint64_t value_ns) const noexcept;

  static std::size_t bucket_index(std::uint64_t v) noexcept;
  static std::uint64_t bucket_lower(std::size_t index) noexcept;
  static std::uint64_t bucket_width(std::size_t index) noexcept;
  std::uint64_t bucket_count(std::size_t index) const noexcept {
    return buckets_[index].load(std::memory_order_relaxed);
  }

 private:
  static void add(std::atomic<std::uint64_t>& a, std::uint64_t v) noexcept {
    a.store(a.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
  }
  std::vector<std::atomic<std::uint64_t>> buckets_;
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_{0};
  std::atomic<std::uint64_t> min_{UINT64_MAX};
  std::atomic<std::uint64_t> max_{0};
};

}  // namespace tenx::metrics
