// round_robin: nginx's smooth weighted round robin over the eligible servers.
#include "gateway/balancers/policies.h"

namespace tenx::gateway::detail {

int SmoothWeightedRoundRobin::pick(std::span<UpstreamServer* const> servers,
                                   std::span<const int> candidates,
                                   UpstreamServer::clock::time_point now) {
  // Indices only mean the same servers while the pool keeps its size; after a reload that
  // changed it, stale current weights would favour whoever now sits at a heavy index.
  if (current_.size() != servers.size()) current_.assign(servers.size(), 0);

  int best = -1;
  std::int64_t total = 0;
  for (const int i : candidates) {
    const auto w = static_cast<std::int64_t>(weight_of(*servers[i], now));
    current_[i] += w;
    total += w;
    // Strictly greater: the first of equal current weights wins, which is what makes equal
    // weights rotate 0, 1, 2, ... and 5,1,1 give nginx's a a b a c a a.
    if (best < 0 || current_[i] > current_[best]) best = i;
  }
  if (best >= 0) current_[best] -= total;
  return best;
}

int RoundRobinBalancer::pick(std::span<UpstreamServer* const> servers, const PickRequest& request,
                             clock::time_point now) {
  collect_eligible(servers, request, now, candidates_);
  return wrr_.pick(servers, candidates_, now);
}

}  // namespace tenx::gateway::detail
