// ip_hash: weighted rendezvous (highest-random-weight) hashing of the client address.
//
// Each eligible server i gets u_i in (0, 1) from XXH3(server id, seed = XXH3(client_ip)) and
// the score w_i / -ln(u_i); the highest score wins. -ln(u_i) / w_i is exponentially
// distributed with rate w_i, and the smallest of independent exponentials is server i with
// probability w_i / sum(w), so shares follow the weights (the "logarithmic method" of
// Schindelhauer & Schomaker, Weighted Distributed Hash Tables, SPAA 2005; Ceph's straw2 ranks
// by the same ln(u) / w). A server's score does not depend on the others, so when one goes
// away only its clients move, and every worker thread agrees without sharing state. No state
// is kept: the hash is recomputed per pick (one short hash per server).
#include "gateway/balancers/policies.h"

#include <xxhash.h>

#include <cmath>

namespace tenx::gateway::detail {

namespace {
// The top 53 bits as a double strictly inside (0, 1): ln(u) stays finite and negative.
double unit_interval(std::uint64_t h) { return (static_cast<double>(h >> 11) + 0.5) * 0x1.0p-53; }
}  // namespace

int IpHashBalancer::pick(std::span<UpstreamServer* const> servers, const PickRequest& request,
                         clock::time_point now) {
  const std::uint64_t client = XXH3_64bits(request.client_ip.data(), request.client_ip.size());
  int best = -1;
  double best_score = 0;
  for (std::size_t i = 0; i < servers.size(); ++i) {
    if (!eligible(servers, i, request, now)) continue;
    const std::string& id = servers[i]->id();
    const double u = unit_interval(XXH3_64bits_withSeed(id.data(), id.size(), client));
    const double score = static_cast<double>(weight_of(*servers[i], now)) / -std::log(u);
    if (best < 0 || score > best_score) {
      best = static_cast<int>(i);
      best_score = score;
    }
  }
  return best;
}

}  // namespace tenx::gateway::detail
