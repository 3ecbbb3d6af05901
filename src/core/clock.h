#pragma once
// Injected time. Code that reasons about TTLs, windows, backoff or intervals takes a Clock&
// so that tests run on simulated time (ManualClock) instead of sleeping. Event-loop timers
// (asio::steady_timer) are used only for "wake me up", never for deciding what time it is.
//
// SystemClock is stateless and thread-safe. ManualClock is thread-safe (atomic).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>

namespace tenx::core {

class Clock {
 public:
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<std::chrono::steady_clock, duration>;
  virtual ~Clock() = default;
  // Monotonic time for intervals and deadlines.
  virtual time_point now() const = 0;
  // now() at the kernel's tick resolution (up to a few milliseconds behind it, never ahead), for
  // checks made on every read where a call to now() would cost more than the check: a cache's
  // expiry test, as memcached's current_time and Redis's cached mstime. Same epoch as now().
  virtual time_point coarse_now() const { return now(); }
  // Wall-clock time (Unix epoch) for timestamps shown to people and for HTTP dates.
  virtual std::chrono::system_clock::time_point wall_now() const = 0;
};

class SystemClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
  // CLOCK_MONOTONIC_COARSE: steady_clock's CLOCK_MONOTONIC, read from the vDSO's last tick
  // (no clock read: 2 ns instead of 20 on this machine's VMs).
  time_point coarse_now() const override {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
  }
  std::chrono::system_clock::time_point wall_now() const override {
    return std::chrono::system_clock::now();
  }
  static SystemClock& instance() {
    static SystemClock clock;
    return clock;
  }
};

class ManualClock final : public Clock {
 public:
  time_point now() const override { return time_point(duration(mono_ns_.load())); }
  std::chrono::system_clock::time_point wall_now() const override {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(duration(wall_ns_.load())));
  }
  void advance(duration d) {
    mono_ns_ += d.count();
    wall_ns_ += d.count();
  }

 private:
  std::atomic<std::int64_t> mono_ns_{1'000'000'000};
  std::atomic<std::int64_t> wall_ns_{1'700'000'000'000'000'000};
};

}  // namespace tenx::core
