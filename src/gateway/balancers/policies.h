#pragma once
// Internal to src/gateway/balancers: the policy classes behind make_balancer(), one per file
// in this folder (round_robin.cpp, least_conn.cpp, ip_hash.cpp, sticky_cookie.cpp,
// p2c_ewma.cpp). Others construct balancers through make_balancer() only.
//
// Like every Balancer, each instance belongs to one worker thread: the scratch vectors and
// cursors below are unguarded on purpose.
#include "gateway/balancers/balancer.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace tenx::gateway::detail {

// The weight a policy uses now: effective_weight() (slow start included). A configured weight
// of 0 (config validation should reject it) counts as 1 so that no policy divides by zero or
// starves a server it was told to use.
inline std::uint64_t weight_of(const UpstreamServer& s, UpstreamServer::clock::time_point now) {
  return std::max<std::uint64_t>(1, s.effective_weight(now));
}

// nginx's smooth weighted round robin (ngx_http_upstream_get_peer): every candidate's current
// weight grows by its weight, the largest wins and pays back the candidates' total. Current
// weights are kept per index in the pool; a pool of a different size resets them.
// Used by round_robin, and as the tie-break / fallback of least_conn and sticky_cookie.
class SmoothWeightedRoundRobin {
 public:
  // Index of the chosen candidate (candidates are indices into `servers`), or -1 if none.
  int pick(std::span<UpstreamServer* const> servers, std::span<const int> candidates,
           UpstreamServer::clock::time_point now);

 private:
  std::vector<std::int64_t> current_;
};

// Appends to `out` (cleared first) the indices of the servers eligible for `r`.
void collect_eligible(std::span<UpstreamServer* const> servers, const PickRequest& r,
                      UpstreamServer::clock::time_point now, std::vector<int>& out);

class RoundRobinBalancer final : public Balancer {
 public:
  int pick(std::span<UpstreamServer* const> servers, const PickRequest& request,
           clock::time_point now) override;

 private:
  SmoothWeightedRoundRobin wrr_;
  std::vector<int> candidates_;
};

class LeastConnBalancer final : public Balancer {
 public:
  int pick(std::span<UpstreamServer* const> servers, const PickRequest& request,
           clock::time_point now) override;

 private:
  SmoothWeightedRoundRobin tie_break_;
  std::vector<int> tied_;
};

class IpHashBalancer final : public Balancer {
 public:
  int pick(std::span<UpstreamServer* const> servers, const PickRequest& request,
           clock::time_point now) override;
};

class StickyCookieBalancer final : public Balancer {
 public:
  int pick(std::span<UpstreamServer* const> servers, const PickRequest& request,
           clock::time_point now) override;

 private:
  SmoothWeightedRoundRobin fallback_;
  std::vector<int> candidates_;
};

class P2cEwmaBalancer final : public Balancer {
 public:
  explicit P2cEwmaBalancer(std::uint64_t seed) : rng_(seed) {}
  int pick(std::span<UpstreamServer* const> servers, const PickRequest& request,
           clock::time_point now) override;

 private:
  std::mt19937_64 rng_;
  std::vector<int> candidates_;
};

}  // namespace tenx::gateway::detail
