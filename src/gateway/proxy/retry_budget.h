#pragma once
// The retry budget of an upstream pool (Envoy's retry budget, Finagle's RetryBudget): retries
// may add at most `share` of the recent requests, plus a floor of `min_per_second` retries,
// so a sick pool is not hammered with retries on top of its load.
//
// "Recent" is the current and the previous second, counted per worker: each worker writes only
// its own slot (plain loads and stores, no shared cache line on the request path); deciding a
// retry, which is rare, sums the slots. Time comes in as the caller's whole second (from the
// request's start), so tests drive it without a clock.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace tenx::gateway {

class RetryBudget {
 public:
  RetryBudget(double share, std::uint32_t min_per_second, std::size_t workers);

  // A request began in `second` on worker `worker`.
  void count_request(std::int64_t second, std::size_t worker);
  // May worker `worker` retry now? If so the retry is counted against the budget.
  bool try_spend(std::int64_t second, std::size_t worker);

 private:
  struct alignas(64) Slot {
    std::atomic<std::int64_t> second{0};
    std::atomic<std::uint64_t> requests[2] = {};
    std::atomic<std::uint64_t> retries[2] = {};
  };
  Slot& slot(std::size_t worker) { return slots_[worker % count_]; }
  // Moves a worker's slot to `second`: a new second's bucket starts empty; after a longer
  // pause both do.
  static void roll(Slot& s, std::int64_t second);

  double share_;
  std::uint32_t min_per_second_;
  std::size_t count_;
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace tenx::gateway
