#include "metrics/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace tenx::metrics {
namespace {

constexpr double kMinNs = 1e3;   // 1 µs
constexpr double kMaxNs = 60e9;  // 60 s

std::uint64_t clamp_ns(double v) {
  return static_cast<std::uint64_t>(std::clamp(v, kMinNs, kMaxNs));
}

// The value of rank ceil(q * n) (1-based) in the sorted samples: the definition percentile()
// approximates.
std::uint64_t exact_percentile(const std::vector<std::uint64_t>& sorted, double q) {
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  if (rank == 0) rank = 1;
  return sorted[rank - 1];
}

void expect_percentiles_close(std::vector<std::uint64_t> samples, const std::string& what) {
  Histogram h;
  for (auto v : samples) h.record(v);
  std::sort(samples.begin(), samples.end());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const double exact = static_cast<double>(exact_percentile(samples, q));
    const double got = static_cast<double>(h.percentile(q));
    EXPECT_LE(std::fabs(got - exact) / exact, 0.01)
        << what << " q=" << q << " exact=" << exact << " got=" << got;
  }
}

TEST(Histogram, PercentilesWithinOnePercentOfExactForUniform) {
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> dist(kMinNs, kMaxNs);
  std::vector<std::uint64_t> samples;
  for (int i = 0; i < 200'000; ++i) samples.push_back(clamp_ns(dist(rng)));
  expect_percentiles_close(std::move(samples), "uniform");
}

TEST(Histogram, PercentilesWithinOnePercentOfExactForExponential) {
  std::mt19937_64 rng(2);
  std::exponential_distribution<double> dist(1.0 / 5e6);  // mean 5 ms
  std::vector<std::uint64_t> samples;
  for (int i = 0; i < 200'000; ++i) samples.push_back(clamp_ns(kMinNs + dist(rng)));
  expect_percentiles_close(std::move(samples), "exponential");
}

TEST(Histogram, PercentilesWithinOnePercentOfExactForLognormal) {
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> dist(std::log(2e6), 2.0);  // median 2 ms, long tail
  std::vector<std::uint64_t> samples;
  for (int i = 0; i < 200'000; ++i) samples.push_back(clamp_ns(dist(rng)));
  expect_percentiles_close(std::move(samples), "lognormal");
}

TEST(Histogram, PercentilesWithinOnePercentOfExactForBimodal) {
  // Mostly fast cache hits around 50 µs, 5 % slow misses around 3 s.
  std::mt19937_64 rng(4);
  std::normal_distribution<double> fast(50e3, 10e3);
  std::normal_distribution<double> slow(3e9, 0.5e9);
  std::bernoulli_distribution is_slow(0.05);
  std::vector<std::uint64_t> samples;
  for (int i = 0; i < 200'000; ++i)
    samples.push_back(clamp_ns(is_slow(rng) ? slow(rng) : fast(rng)));
  expect_percentiles_close(std::move(samples), "bimodal");
}

TEST(Histogram, PercentilesWithinOnePercentOfExactAcrossManySeeds) {
  for (std::uint64_t seed = 10; seed < 30; ++seed) {
    std::mt19937_64 rng(seed);
    std::lognormal_distribution<double> dist(std::log(1e5), 3.0);
    std::vector<std::uint64_t> samples;
    for (int i = 0; i < 5'000; ++i) samples.push_back(clamp_ns(dist(rng)));
    expect_percentiles_close(std::move(samples), "seed " + std::to_string(seed));
  }
}

TEST(Histogram, ValuesBelow128AreCountedExactly) {
  Histogram h;
  for (std::uint64_t v = 0; v < Histogram::kLinear; ++v) h.record(v, v + 1);
  for (std::uint64_t v = 0; v < Histogram::kLinear; ++v) {
    EXPECT_EQ(Histogram::bucket_index(v), v);
    EXPECT_EQ(Histogram::bucket_lower(v), v);
    EXPECT_EQ(Histogram::bucket_width(v), 1u);
    EXPECT_EQ(h.bucket_count(v), v + 1);
  }
  // Every percentile of small values is an exact observed value.
  Histogram single;
  for (std::uint64_t v : {3, 7, 7, 42, 100, 127}) single.record(v);
  EXPECT_EQ(single.percentile(0.5), 7u);
  EXPECT_EQ(single.percentile(0.6), 42u);
  EXPECT_EQ(single.percentile(0.99), 127u);
  EXPECT_EQ(single.percentile(0.1), 3u);
}

TEST(Histogram, BucketIndexAndLowerRoundTrip) {
  std::vector<std::uint64_t> values;
  for (std::uint64_t v = 0; v < 70'000; ++v) values.push_back(v);
  for (int e = 7; e < Histogram::kMaxExponent; ++e) {
    const std::uint64_t p = std::uint64_t{1} << e;
    for (std::uint64_t d : {0ull, 1ull, 2ull, 63ull, 64ull, 65ull}) {
      values.push_back(p + d);
      values.push_back(p - d);
      values.push_back(p + (p >> 1) + d);
    }
  }
  std::mt19937_64 rng(5);
  for (int i = 0; i < 200'000; ++i) values.push_back(rng() & Histogram::kMaxTrackable);
  values.push_back(Histogram::kMaxTrackable);

  for (auto v : values) {
    const auto i = Histogram::bucket_index(v);
    ASSERT_LT(i, Histogram::kBuckets) << v;
    const auto lower = Histogram::bucket_lower(i);
    const auto width = Histogram::bucket_width(i);
    ASSERT_LE(lower, v) << v;
    ASSERT_LT(v, lower + width) << v;
    if (lower >= Histogram::kLinear) {
      ASSERT_LE(static_cast<double>(width) / static_cast<double>(lower), 1.0 / 64) << v;
    }
  }
}

TEST(Histogram, BucketsTileTheRangeWithoutGapsOrOverlap) {
  for (std::size_t i = 0; i + 1 < Histogram::kBuckets; ++i) {
    ASSERT_EQ(Histogram::bucket_lower(i) + Histogram::bucket_width(i),
              Histogram::bucket_lower(i + 1))
        << i;
    ASSERT_EQ(Histogram::bucket_index(Histogram::bucket_lower(i)), i);
  }
  const auto last = Histogram::kBuckets - 1;
  EXPECT_EQ(Histogram::bucket_lower(last) + Histogram::bucket_width(last) - 1,
            Histogram::kMaxTrackable);
}

TEST(Histogram, MergeIntoEqualsRecordingIntoOne) {
  std::mt19937_64 rng(6);
  std::lognormal_distribution<double> dist(std::log(1e6), 2.5);
  Histogram a, b, together;
  for (int i = 0; i < 50'000; ++i) {
    const auto v = clamp_ns(dist(rng));
    (i % 3 ? a : b).record(v);
    together.record(v);
  }
  Histogram merged;
  a.merge_into(merged);
  b.merge_into(merged);
  EXPECT_EQ(merged.count(), together.count());
  EXPECT_EQ(merged.sum_ns(), together.sum_ns());
  EXPECT_EQ(merged.min_ns(), together.min_ns());
  EXPECT_EQ(merged.max_ns(), together.max_ns());
  for (std::size_t i = 0; i < Histogram::kBuckets; ++i)
    ASSERT_EQ(merged.bucket_count(i), together.bucket_count(i)) << i;
  for (double q : {0.0, 0.5, 0.9, 0.99, 0.999, 1.0})
    EXPECT_EQ(merged.percentile(q), together.percentile(q)) << q;
}

TEST(Histogram, CopyAndAssignmentCarryAllCounts) {
  Histogram h;
  h.record(5);
  h.record(1'000'000, 3);
  Histogram copy(h);
  EXPECT_EQ(copy.count(), 4u);
  EXPECT_EQ(copy.sum_ns(), 3'000'005u);
  EXPECT_EQ(copy.min_ns(), 5u);
  EXPECT_EQ(copy.max_ns(), 1'000'000u);

  Histogram assigned;
  assigned.record(77);  // replaced, not added to
  assigned = h;
  EXPECT_EQ(assigned.count(), 4u);
  EXPECT_EQ(assigned.min_ns(), 5u);
  EXPECT_EQ(assigned.bucket_count(77), 0u);
}

TEST(Histogram, CountSumMinMaxMean) {
  Histogram h;
  h.record(1'000);
  h.record(3'000);
  h.record(2'000, 2);
  EXPECT_EQ(h.count(), 4u);
  EXPECT_EQ(h.sum_ns(), 8'000u);
  EXPECT_EQ(h.min_ns(), 1'000u);
  EXPECT_EQ(h.max_ns(), 3'000u);
  EXPECT_DOUBLE_EQ(h.mean_ns(), 2'000.0);
  EXPECT_GT(h.stdev_ns(), 600.0);  // exact value is sqrt(0.5e6) ~ 707
  EXPECT_LT(h.stdev_ns(), 800.0);
}

TEST(Histogram, EmptyHistogramReportsZeros) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.sum_ns(), 0u);
  EXPECT_EQ(h.min_ns(), 0u);
  EXPECT_EQ(h.max_ns(), 0u);
  EXPECT_EQ(h.mean_ns(), 0.0);
  EXPECT_EQ(h.stdev_ns(), 0.0);
  for (double q : {0.0, 0.5, 0.99, 1.0}) EXPECT_EQ(h.percentile(q), 0u);
  EXPECT_EQ(h.count_at_or_below(UINT64_MAX), 0u);
}

TEST(Histogram, ResetForgetsEverything) {
  Histogram h;
  h.record(10);
  h.record(1'000'000);
  h.reset();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min_ns(), 0u);
  EXPECT_EQ(h.max_ns(), 0u);
  EXPECT_EQ(h.percentile(0.5), 0u);
  h.record(20);
  EXPECT_EQ(h.min_ns(), 20u);
  EXPECT_EQ(h.max_ns(), 20u);
}

TEST(Histogram, HugeValuesAreClampedButMaxStaysExact) {
  Histogram h;
  const std::uint64_t huge = std::uint64_t{1} << 50;
  h.record(1'000);
  h.record(huge);
  EXPECT_EQ(Histogram::bucket_index(huge), Histogram::kBuckets - 1);
  EXPECT_EQ(h.bucket_count(Histogram::kBuckets - 1), 1u);
  EXPECT_EQ(h.max_ns(), huge);
  EXPECT_EQ(h.percentile(1.0), huge);
  // The top quantile lands in the last bucket and is not reported above the observed max.
  const auto p99 = h.percentile(0.99);
  EXPECT_GE(p99, Histogram::bucket_lower(Histogram::kBuckets - 1));
  EXPECT_LE(p99, huge);
}

TEST(Histogram, PercentileNeverOutsideObservedRange) {
  Histogram h;
  h.record(1'000'001);
  EXPECT_EQ(h.percentile(0.5), 1'000'001u);
  EXPECT_EQ(h.percentile(0.0), 1'000'001u);
  EXPECT_EQ(h.percentile(1.0), 1'000'001u);
}

TEST(Histogram, CountAtOrBelowIsMonotoneAndReachesCount) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(std::log(1e6), 2.0);
  Histogram h;
  for (int i = 0; i < 20'000; ++i) h.record(clamp_ns(dist(rng)));
  std::uint64_t prev = 0;
  for (std::uint64_t v = 0; v <= Histogram::kMaxTrackable; v = v * 2 + 1) {
    const auto n = h.count_at_or_below(v);
    ASSERT_GE(n, prev) << v;
    prev = n;
    const auto m = h.count_at_or_below(v + v / 3);
    ASSERT_GE(m, n) << v;
  }
  EXPECT_EQ(h.count_at_or_below(Histogram::kMaxTrackable), h.count());
  EXPECT_EQ(h.count_at_or_below(UINT64_MAX), h.count());
}

TEST(Histogram, CountAtOrBelowCountsOnlyWholeBuckets) {
  Histogram h;
  h.record(50);         // exact bucket
  h.record(1'000'000);  // bucket [lower, lower + width)
  EXPECT_EQ(h.count_at_or_below(49), 0u);
  EXPECT_EQ(h.count_at_or_below(50), 1u);
  const auto i = Histogram::bucket_index(1'000'000);
  const auto upper = Histogram::bucket_lower(i) + Histogram::bucket_width(i) - 1;
  EXPECT_EQ(h.count_at_or_below(upper - 1), 1u);
  EXPECT_EQ(h.count_at_or_below(upper), 2u);
}

}  // namespace
}  // namespace tenx::metrics
