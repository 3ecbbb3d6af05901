#include "gateway/proxy/retry_budget.h"

#include <algorithm>

namespace tenx::gateway {

namespace {
// Single-writer increment (the owning worker): a plain load and store, no locked instruction.
void bump(std::atomic<std::uint64_t>& a) {
  a.store(a.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}
}  // namespace

RetryBudget::RetryBudget(double share, std::uint32_t min_per_second, std::size_t workers)
    : share_(share),
      min_per_second_(min_per_second),
      count_(std::max<std::size_t>(workers, 1)),
      slots_(std::make_unique<Slot[]>(count_)) {}

void RetryBudget::roll(Slot& b, std::int64_t second) {
  const auto last = b.second.load(std::memory_order_relaxed);
  if (last == second) return;
  const auto cur = static_cast<std::size_t>(second & 1);
  b.requests[cur].store(0, std::memory_order_relaxed);
  b.retries[cur].store(0, std::memory_order_relaxed);
  if (second - last > 1) {
    b.requests[cur ^ 1].store(0, std::memory_order_relaxed);
    b.retries[cur ^ 1].store(0, std::memory_order_relaxed);
  }
  b.second.store(second, std::memory_order_relaxed);
}

void RetryBudget::count_request(std::int64_t second, std::size_t worker) {
  auto& b = slot(worker);
  roll(b, second);
  bump(b.requests[second & 1]);
}

bool RetryBudget::try_spend(std::int64_t second, std::size_t worker) {
  roll(slot(worker), second);
  std::uint64_t requests = 0, retries = 0;
  for (std::size_t i = 0; i < count_; ++i) {
    const auto& b = slots_[i];
    const auto at = b.second.load(std::memory_order_relaxed);
    if (second - at > 1) continue;  // an idle worker: nothing recent
    for (int k = 0; k < 2; ++k) {
      requests += b.requests[k].load(std::memory_order_relaxed);
      retries += b.retries[k].load(std::memory_order_relaxed);
    }
  }
  const double allowed = min_per_second_ * 2.0 + share_ * static_cast<double>(requests);
  if (static_cast<double>(retries) >= allowed) return false;
  bump(slot(worker).retries[second & 1]);
  return true;
}

}  // namespace tenx::gateway
