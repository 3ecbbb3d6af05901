#include "gateway/balancers/balancer.h"

#include "gateway/balancers/policies.h"

#include <array>
#include <utility>

namespace tenx::gateway {

namespace {
constexpr std::array<std::pair<BalanceKind, std::string_view>, 5> kNames{{
    {BalanceKind::round_robin, "round_robin"},
    {BalanceKind::least_conn, "least_conn"},
    {BalanceKind::ip_hash, "ip_hash"},
    {BalanceKind::sticky_cookie, "sticky_cookie"},
    {BalanceKind::p2c_ewma, "p2c_ewma"},
}};
}  // namespace

std::optional<BalanceKind> parse_balance(std::string_view name) {
  for (const auto& [kind, n] : kNames) {
    if (n == name) return kind;
  }
  return std::nullopt;
}

std::string_view balance_name(BalanceKind kind) {
  for (const auto& [k, n] : kNames) {
    if (k == kind) return n;
  }
  return "unknown";
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
