#pragma once
// Injected randomness, as the clock (clock.h): code that jitters TTLs or backoffs, or draws
// XFetch's early-refresh lottery, takes a Random& so tests can fix the draws.
//
// SystemRandom is thread-safe (a xorshift per thread, seeded from std::random_device);
// SequenceRandom (tests) replays given values in order, then repeats the last, and is not.
#include <algorithm>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace tenx::core {

class Random {
 public:
  virtual ~Random() = default;
  // Uniform in [0, 1).
  virtual double unit() = 0;
  // Uniform over 64 bits (tokens, seeds).
  virtual std::uint64_t bits() = 0;
};

class SystemRandom final : public Random {
 public:
  double unit() override { return static_cast<double>(bits() >> 11) * 0x1.0p-53; }
  std::uint64_t bits() override {
    thread_local std::uint64_t s = seed();
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1DULL;
  }
  static SystemRandom& instance() {
    static SystemRandom r;
    return r;
  }

 private:
  static std::uint64_t seed() {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32 | rd()) | 1;
  }
};

class SequenceRandom final : public Random {
 public:
  explicit SequenceRandom(std::vector<double> units) : units_(std::move(units)) {}
  double unit() override {
    if (units_.empty()) return 0.5;
    const double u = units_[std::min(next_, units_.size() - 1)];
    ++next_;
    return u;
  }
  std::uint64_t bits() override { return 0x9E3779B97F4A7C15ULL * ++counter_; }
  void set(std::vector<double> units) {
    units_ = std::move(units);
    next_ = 0;
  }

 private:
  std::vector<double> units_;
  std::size_t next_ = 0;
  std::uint64_t counter_ = 0;
};

}  // namespace tenx::core
