// p2c_ewma: power of two choices over latency EWMA x (active + 1) / weight (Finagle's and
// Linkerd's "P2C + peak EWMA", without the peak decay: UpstreamServer keeps a plain EWMA).
#include "gateway/balancers/policies.h"

#include <limits>

namespace tenx::gateway::detail {

namespace {
// Uniform in [0, n) by Lemire's multiply-shift: unlike std::uniform_int_distribution its
// output is the same on every standard library, so a seed names one sequence everywhere.
// The bias (at most n / 2^64) is irrelevant here.
std::size_t below(std::mt19937_64& rng, std::size_t n) {
  return static_cast<std::size_t>((static_cast<unsigned __int128>(rng()) * n) >> 64);
}
}  // namespace

int P2cEwmaBalancer::pick(std::span<UpstreamServer* const> servers, const PickRequest& request,
                          clock::time_point now) {
  collect_eligible(servers, request, now, candidates_);
  const std::size_t n = candidates_.size();
  if (n == 0) return -1;
  if (n == 1) return candidates_.front();

  // A server with no sample yet scores as the fastest known one (1 ns if none has a sample),
  // so a new server is tried rather than starved or flooded.
  std::uint64_t fastest = std::numeric_limits<std::uint64_t>::max();
  for (const int i : candidates_) {
    const auto e = servers[i]->ewma_latency_ns();
    if (e != 0 && e < fastest) fastest = e;
  }
  if (fastest == std::numeric_limits<std::uint64_t>::max()) fastest = 1;

  const std::size_t first = below(rng_, n);
  std::size_t second = below(rng_, n - 1);
  if (second >= first) ++second;  // two distinct candidates, each pair equally likely
  const int a = candidates_[first];
  const int b = candidates_[second];

  // ewma_a * (active_a + 1) / w_a  vs  ewma_b * (active_b + 1) / w_b, cross-multiplied.
  // A 60 s EWMA x 10^5 in flight x weight 1000 is already ~2^62, so 64 bits are too tight;
  // ewma (< 2^64) x (active + 1) (<= 2^32) x weight (< 2^32) always fits in 128.
  const auto cost = [&](int i, int other) {
    const auto e = servers[i]->ewma_latency_ns();
    return static_cast<unsigned __int128>(e != 0 ? e : fastest) *
           (static_cast<std::uint64_t>(servers[i]->active()) + 1) * weight_of(*servers[other], now);
  };
  return cost(b, a) < cost(a, b) ? b : a;
}

}  // namespace tenx::gateway::detail
