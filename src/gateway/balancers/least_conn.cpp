// least_conn: fewest requests in flight relative to weight; ties go round robin (weighted),
// as nginx's ngx_http_upstream_get_least_conn_peer does.
#include "gateway/balancers/policies.h"

namespace tenx::gateway::detail {

int LeastConnBalancer::pick(std::span<UpstreamServer* const> servers, const PickRequest& request,
                            clock::time_point now) {
  tied_.clear();
  std::uint64_t best_active = 0;
  std::uint64_t best_weight = 1;
  for (std::size_t i = 0; i < servers.size(); ++i) {
    if (!eligible(servers, i, request, now)) continue;
    const std::uint64_t active = servers[i]->active();
    const std::uint64_t weight = weight_of(*servers[i], now);
    // active / weight < best_active / best_weight, without division (both factors fit in 32
    // bits, so the products cannot overflow).
    const std::uint64_t lhs = active * best_weight;
    const std::uint64_t rhs = best_active * weight;
    if (tied_.empty() || lhs < rhs) {
      tied_.clear();
      best_active = active;
      best_weight = weight;
    } else if (lhs > rhs) {
      continue;
    }
    tied_.push_back(static_cast<int>(i));
  }
  if (tied_.size() == 1) return tied_.front();
  return tie_break_.pick(servers, tied_, now);
}

}  // namespace tenx::gateway::detail
