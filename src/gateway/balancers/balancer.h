#pragma once
// Load-balancing policies: interface, implementations (one file each in this folder) and the
// factory. A Balancer instance belongs to one worker thread and one pool (per-thread cursors
// need no lock); the server state it reads (availability, active requests, latency EWMA) is
// shared through UpstreamServer's atomics.
//
//   round_robin    smooth weighted round robin (nginx's algorithm): weights 5,1,1 give
//                  a a b a c a a, spreading the heavy server's turns.
//   least_conn     fewest requests in flight relative to weight (active / weight, compared
//                  by cross-multiplying); ties broken round robin.
//   ip_hash        the client address decides (rendezvous hashing over the available servers,
//                  weighted), so a client keeps its server and only the clients of a server
//                  that goes away move.
//   sticky_cookie  the server named by the client's cookie (an opaque id, see
//                  UpstreamServer::id()) while it is available; otherwise round robin (the
//                  proxy then re-pins the client with a new cookie).
//   p2c_ewma       power of two choices: two random available servers, the one with the lower
//                  latency EWMA x (active + 1) / weight wins (Finagle / Linkerd's "P2C + EWMA").
//                  Servers with no latency sample yet score as the fastest known one.
#include "gateway/upstream/server.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace tenx::gateway {

enum class BalanceKind { round_robin, least_conn, ip_hash, sticky_cookie, p2c_ewma };

std::optional<BalanceKind> parse_balance(std::string_view name);
std::string_view balance_name(BalanceKind kind);

struct PickRequest {
  std::string_view client_ip;                // ip_hash
  std::string_view sticky_id;                // sticky_cookie: the id from the cookie, or empty
  const std::vector<bool>* tried = nullptr;  // servers already tried by this request (retries)
  // Every server is down: pick among those not draining, whatever their health says (the
  // proxy's last resort, so a pool marked down by mistake still serves).
  bool ignore_health = false;
};

class Balancer {
 public:
  using clock = UpstreamServer::clock;
  virtual ~Balancer() = default;
  // Index into `servers` of an available server not yet tried, or -1 when there is none.
  virtual int pick(std::span<UpstreamServer* const> servers, const PickRequest& request,
                   clock::time_point now) = 0;
};

// `seed` feeds p2c_ewma's random choices (tests pass a fixed one).
std::unique_ptr<Balancer> make_balancer(BalanceKind kind, std::uint64_t seed);

namespace detail {
// True if server i may take this request: available now (or, ignoring health, not
// draining) and not yet tried.
inline bool eligible(std::span<UpstreamServer* const> servers, std::size_t i, const PickRequest& r,
                     UpstreamServer::clock::time_point now) {
  const bool usable = r.ignore_health ? !servers[i]->draining() : servers[i]->available(now);
  return usable && !(r.tried && i < r.tried->size() && (*r.tried)[i]);
}
}  // namespace detail

}  // namespace tenx::gateway
