#pragma once
// Reverse proxy to an upstream pool: nginx's `upstream` + `proxy_pass`, HAProxy's backend.
//
// Per request (all on the worker thread that owns the client connection):
//   balancer picks a server -> a pooled keep-alive connection to it (per worker, per server)
//   -> request head rewritten while copied (hop-by-hop fields and those named in Connection
//   dropped, RFC 9110 §7.6.1; X-Forwarded-For / -Proto / -Host set, trusting the incoming ones
//   only from configured proxies) -> body streamed piece by piece -> response head read,
//   rewritten the same way -> head and first body piece written to the client together ->
//   rest of the body streamed -> connection back to the pool if clean.
//
// Failures: connect error / refused -> 502, connect or response-head timeout -> 504, a
// malformed, oversized or truncated upstream head -> 502, all as JSON; no available server ->
// 503 with Retry-After. Passive health counts connect errors, timeouts, bad responses and
// 502/503/504 answers against the server (max_fails within fail_timeout marks it down).
// An idempotent request (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) whose body has not been sent
// and to which nothing has been answered yet is retried on the next server, up to `tries`,
// while the pool's retry budget allows (a share of recent requests plus a floor per second),
// so a sick pool is not hammered with retries.
//
// A Proxy is immutable after construction and shared by all workers; the per-worker parts
// (connection pools, balancer cursors) live in slots indexed by the runtime thread index.
// Server state (availability, load, latency) is shared through UpstreamServer's atomics.
// Active health checks run on runtime loop 0 (start_health_checks) until stop().
#include "config/config.h"
#include "gateway/balancers/balancer.h"
#include "gateway/upstream/server.h"
#include "http/server.h"
#include "metrics/registry.h"

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tenx::core {
class Runtime;
}

namespace tenx::gateway {

// Parsed "trusted_proxies" CIDRs.
class TrustedProxies {
 public:
  explicit TrustedProxies(const std::vector<std::string>& cidrs);  // throws on a bad entry
  bool contains(const boost::asio::ip::address& a) const;
  bool empty() const { return nets_.empty(); }

 private:
  struct Net {
    boost::asio::ip::address addr;
    unsigned bits;
  };
  std::vector<Net> nets_;
};

class Proxy {
 public:
  // Throws std::invalid_argument for a server address that is not numeric.
  // `previous`: the pool of the same name in the config being replaced (reload). A server
  // whose address and parameters did not change keeps its state — health, passive failures,
  // latency — so a reload does not put a server that is down back into rotation.
  Proxy(const config::UpstreamConfig& config, std::shared_ptr<const TrustedProxies> trusted,
        std::size_t threads, const Proxy* previous = nullptr);
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  boost::asio::awaitable<void> handle(http::Exchange& ex);

  const std::string& name() const { return config_.name; }
  const config::UpstreamConfig& config() const { return config_; }
  BalanceKind balance() const { return balance_; }

  // ---- membership (admin API, autoscaler) ----
  // Servers are a copy-on-write snapshot: a change builds a new one and hands it to every
  // worker on its own loop; requests in flight keep the snapshot (and servers) they started
  // with. Callable from any thread; a lock guards the master copy (never the request path).
  struct Member {
    std::shared_ptr<UpstreamServer> server;
    metrics::Series by_class[5];  // 1xx..5xx
    metrics::Series latency;
  };
  struct Membership {
    std::vector<Member> members;
    std::vector<UpstreamServer*> view;  // what balancers see, same order
  };
  std::shared_ptr<const Membership> members() const;
  // Adds a server (numeric "IP:PORT"); false with a reason if invalid or already present.
  bool add_server(const std::string& address, std::uint32_t weight, std::string& error);
  // Removes a server at once (in-flight requests to it finish); false if unknown.
  bool remove_server(const std::string& address);
  // Drains a server: no new requests; false if unknown.
  bool drain_server(const std::string& address, bool draining);
  // Completes once every worker has applied the changes made so far (the admin API answers
  // after it, so "200 OK" means no new request sees the old membership).
  boost::asio::awaitable<void> sync_workers();

  // Starts active health checks on runtime loop 0 when the pool has them configured.
  void start_health_checks(core::Runtime& runtime);
  // When the runtime drains, closes the workers' idle upstream connections and pools no more:
  // a pooled socket stays registered with its loop's Poller, which keeps the loop (and so the
  // drain) running until the drain deadline.
  void close_pools_on_drain(core::Runtime& runtime);
  // Stops the health checks (reload retires this proxy; drain).
  void stop();

 private:
  struct ThreadState;
  struct HealthState;
  ThreadState& thread_state();
  bool retry_allowed(std::int64_t second);
  void count_request(std::int64_t second);

  config::UpstreamConfig config_;
  std::shared_ptr<const TrustedProxies> trusted_;
  BalanceKind balance_;
  Member make_member(const std::string& address, std::uint32_t weight) const;
  void publish(std::shared_ptr<const Membership> next);

  mutable std::mutex members_mu_;  // guards members_ (admin and thread-state creation only)
  std::shared_ptr<const Membership> members_;
  // Per-worker state by runtime thread index, shared with the drain hook (which reaches each
  // slot on its own worker's loop).
  struct Workers;
  std::shared_ptr<Workers> workers_;
  std::shared_ptr<HealthState> health_;
  core::Runtime* runtime_ = nullptr;  // set by close_pools_on_drain
  // Retry budget over the current and the previous second. Each worker counts in its own
  // slot (no shared cache line on the request path); deciding a retry — rare — sums them.
  struct alignas(64) BudgetSlot {
    std::atomic<std::int64_t> second{0};
    std::atomic<std::uint64_t> requests[2] = {};
    std::atomic<std::uint64_t> retries[2] = {};
  };
  std::unique_ptr<BudgetSlot[]> budget_;
  std::size_t budget_slots_ = 1;
};

}  // namespace tenx::gateway
