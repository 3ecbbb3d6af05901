#include "metrics/histogram.h"

#include <bit>
#include <cmath>

namespace tenx::metrics {

Histogram::Histogram() : buckets_(kBuckets) {}

Histogram::Histogram(const Histogram& other) : buckets_(kBuckets) { other.merge_into(*this); }

Histogram& Histogram::operator=(const Histogram& other) {
  if (this != &other) {
    reset();
    other.merge_into(*this);
  }
  return *this;
}

std::size_t Histogram::bucket_index(std::uint64_t v) noexcept {
  if (v < kLinear) return static_cast<std::size_t>(v);
  if (v > kMaxTrackable) v = kMaxTrackable;
  const int e = 63 - std::countl_zero(v);  // 7..39
  const std::uint64_t sub = (v >> (e - kSubBits)) & ((1u << kSubBits) - 1);
  return kLinear + static_cast<std::size_t>(e - 7) * (1u << kSubBits) + sub;
}

std::uint64_t Histogram::bucket_lower(std::size_t index) noexcept {
  if (index < kLinear) return index;
  const std::size_t i = index - kLinear;
  const int e = 7 + static_cast<int>(i >> kSubBits);
  const std::uint64_t sub = i & ((1u << kSubBits) - 1);
  return ((std::uint64_t{1} << kSubBits) + sub) << (e - kSubBits);
}

std::uint64_t Histogram::bucket_width(std::size_t index) noexcept {
  if (index < kLinear) return 1;
  const int e = 7 + static_cast<int>((index - kLinear) >> kSubBits);
  return std::uint64_t{1} << (e - kSubBits);
}

void Histogram::record(std::uint64_t v, std::uint64_t n) noexcept {
  add(buckets_[bucket_index(v)], n);
  add(count_, n);
  add(sum_, v * n);
  if (v < min_.load(std::memory_order_relaxed)) min_.store(v, std::memory_order_relaxed);
  if (v > max_.load(std::memory_order_relaxed)) max_.store(v, std::memory_order_relaxed);
}

void Histogram::reset() noexcept {
  for (auto& b : buckets_) b.store(0, std::memory_order_relaxed);
  count_.store(0, std::memory_order_relaxed);
  sum_.store(0, std::memory_order_relaxed);
  min_.store(UINT64_MAX, std::memory_order_relaxed);
  max_.store(0, std::memory_order_relaxed);
}

void Histogram::merge_into(Histogram& out) const noexcept {
  for (std::size_t i = 0; i < kBuckets; ++i) {
    const auto c = buckets_[i].load(std::memory_order_relaxed);
    if (c) add(out.buckets_[i], c);
  }
  add(out.count_, count());
  add(out.sum_, sum_ns());
  const auto mn = min_.load(std::memory_order_relaxed);
  if (mn < out.min_.load(std::memory_order_relaxed)) out.min_.store(mn, std::memory_order_relaxed);
  const auto mx = max_ns();
  if (mx > out.max_.load(std::memory_order_relaxed)) out.max_.store(mx, std::memory_order_relaxed);
}

std::uint64_t Histogram::min_ns() const noexcept {
  const auto m = min_.load(std::memory_order_relaxed);
  return m == UINT64_MAX ? 0 : m;
}

double Histogram::mean_ns() const noexcept {
  const auto c = count();
  return c ? static_cast<double>(sum_ns()) / static_cast<double>(c) : 0.0;
}

double Histogram::stdev_ns() const noexcept {
  const auto c = count();
  if (c < 2) return 0.0;
  const double mean = mean_ns();
  double acc = 0;
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets && seen < c; ++i) {
    const auto n = bucket_count(i);
    if (!n) continue;
    seen += n;
    const double mid = static_cast<double>(bucket_lower(i)) +
                       (i < kLinear ? 0.0 : static_cast<double>(bucket_width(i)) / 2.0);
    acc += static_cast<double>(n) * (mid - mean) * (mid - mean);
  }
  return std::sqrt(acc / static_cast<double>(c));
}

std::uint64_t Histogram::percentile(double q) const noexcept {
  const auto c = count();
  if (c == 0) return 0;
  if (q <= 0) return min_ns();
  if (q >= 1) return max_ns();
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(c)));
  if (rank == 0) rank = 1;
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += bucket_count(i);
    if (seen >= rank) {
      std::uint64_t v = bucket_lower(i) + (i < kLinear ? 0 : bucket_width(i) / 2);
      // Never report outside what was actually observed.
      if (v > max_ns()) v = max_ns();
      if (v < min_ns()) v = min_ns();
      return v;
    }
  }
  return max_ns();
}

std::uint64_t Histogram::count_at_or_below(std::uint64_t value_ns) const noexcept {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    if (bucket_lower(i) + bucket_width(i) - 1 > value_ns) break;
    n += bucket_count(i);
  }
  return n;
}

}  // namespace tenx::metrics
