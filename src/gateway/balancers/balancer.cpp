#include "gateway/balancers/balancer.h"

#include "config/policies.h"
#include "gateway/balancers/policies.h"

#include <array>
#include <utility>

namespace tenx::gateway {

// BalanceKind follows config::kBalancers, the one table of names, in order.
static_assert(std::size(config::kBalancers) == static_cast<std::size_t>(BalanceKind::p2c_ewma) + 1);

std::optional<BalanceKind> parse_balance(std::string_view name) {
  for (std::size_t i = 0; i < std::size(config::kBalancers); ++i)
    if (config::kBalancers[i].name == name) return static_cast<BalanceKind>(i);
  return std::nullopt;
}

std::string_view balance_name(BalanceKind kind) {
  const auto i = static_cast<std::size_t>(kind);
  return i < std::size(config::kBalancers) ? config::kBalancers[i].name : "unknown";
}

std::unique_ptr<Balancer> make_balancer(BalanceKind kind, std::uint64_t seed) {
  switch (kind) {
    case BalanceKind::round_robin:
      return std::make_unique<detail::RoundRobinBalancer>();
    case BalanceKind::least_conn:
      return std::make_unique<detail::LeastConnBalancer>();
    case BalanceKind::ip_hash:
      return std::make_unique<detail::IpHashBalancer>();
    case BalanceKind::sticky_cookie:
      return std::make_unique<detail::StickyCookieBalancer>();
    case BalanceKind::p2c_ewma:
      return std::make_unique<detail::P2cEwmaBalancer>(seed);
  }
  return nullptr;
}

namespace detail {
void collect_eligible(std::span<UpstreamServer* const> servers, const PickRequest& r,
                      UpstreamServer::clock::time_point now, std::vector<int>& out) {
  out.clear();
  for (std::size_t i = 0; i < servers.size(); ++i) {
    if (eligible(servers, i, r, now)) out.push_back(static_cast<int>(i));
  }
}
}  // namespace detail

}  // namespace tenx::gateway
