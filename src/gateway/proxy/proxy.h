#pragma once
// Reverse proxy to an upstream pool: nginx's `upstream` + `proxy_pass`, HAProxy's backend.
//
// A request goes through named steps (proxy.cpp), all on the worker that owns the client
// connection:
//   1. client identity   who the client is, what to forward (client_identity.h)
//   2. upstream head     the request head rewritten while copied (headers.h)
//   3. pick              the balancer's choice among available servers; when every server
//                        is down (passively or by active checks), one is tried anyway, as
//                        nginx does rather than answer 503 for fail_timeout
//   4. one attempt       a pooled keep-alive connection (per worker, per server), the head
//                        sent at the end of the readiness batch, the body streamed; the
//                        response head awaited within header_timeout, counted from the
//                        moment the request is sent whole; an upstream that answers before it
//                        has read the whole body gets that answer relayed and no more body
//   5. retry policy      the next server for an idempotent request that met a connect
//                        failure, a timeout, a reset or a `retry_on` status, within `tries`
//                        and the pool's retry budget (retry_budget.h); a request a byte of
//                        whose body was sent is never replayed, and a request of any other
//                        method only when none of it reached the server (a pooled connection
//                        found closed)
//   6. relay             the response head rewritten, sent with the first body piece in one
//                        write, the rest streamed; only read_timeout (time between bytes)
//                        bounds it, as nginx's proxy_read_timeout
//   7. error reply       502 / 504 JSON for the last failure; 503 + Retry-After when the
//                        pool has no server that may take requests (empty, all draining)
//
// Protocol upgrades (WebSocket): Upgrade and `Connection: upgrade` go upstream; a 101 answer is
// relayed and the connection becomes a byte tunnel both ways (idle bound: read_timeout), as
// nginx with `proxy_set_header Upgrade $http_upgrade`; any other answer is relayed as usual.
//
// Passive health counts only what says a server is sick: a connect failure, a reset or
// timeout before the response head, a malformed or truncated response, and answers whose
// status is in `fails_on` (none by default). What the client causes — a reset or a timeout
// mid-body, a client gone while its request waits (the upstream exchange is cancelled at
// once: gateway_client_aborts_total), a slow reader — never counts.
//
// A Proxy is immutable after construction and shared by all workers; the per-worker parts
// (connection pools, balancer cursors) live in slots indexed by the runtime thread index.
// Server state (availability, load, latency) is shared through UpstreamServer's atomics.
// Active health checks run on runtime loop 0 (upstream/health_checker.h) until stop().
#include "config/config.h"
#include "core/thread_annotations.h"
#include "gateway/balancers/balancer.h"
#include "gateway/filter_context.h"
#include "gateway/proxy/client_identity.h"
#include "gateway/proxy/retry_budget.h"
#include "gateway/upstream/server.h"
#include "http/server.h"
#include "metrics/registry.h"

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tenx::core {
class Runtime;
}
namespace tenx::http {
class ClientConnection;
struct ResponseHead;
}  // namespace tenx::http

namespace tenx::gateway {

class HealthMonitor;

class Proxy {
 public:
  // Throws std::invalid_argument for a server address that is not numeric.
  // `previous`: the pool of the same name in the config being replaced (reload). A server
  // whose address and parameters did not change keeps its state — health, passive failures,
  // latency — so a reload does not put a server that is down back into rotation.
  // `clock`: where every decision about time comes from (passive health windows, slow start,
  // active checks, latency); core::SystemClock in the gateway, a ManualClock in tests.
  Proxy(const config::UpstreamConfig& config, std::shared_ptr<const TrustedProxies> trusted,
        std::size_t threads, const core::Clock& clock, const Proxy* previous = nullptr);
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  boost::asio::awaitable<void> handle(http::Exchange& ex, const FilterContext& filtered);

  const std::string& name() const { return config_.name; }
  const config::UpstreamConfig& config() const { return config_; }
  const core::Clock& clock() const { return clock_; }
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

  // Stops exposing (and frees) the metric series of a server that left pool `pool`: by the
  // admin API (remove_server does it) or by a reload that dropped it (the caller compares).
  static void retire_server_metrics(const std::string& pool, const std::string& address);

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
  struct Workers;
  struct Attempts;
  ThreadState& thread_state();
  Member make_member(const std::string& address, std::uint32_t weight) const;
  void publish(const std::shared_ptr<const Membership>& next) REQUIRES(members_mu_);

  // ---- steps of handle() ----
  int pick_server(ThreadState& ts, const Membership& members, const PickRequest& pick,
                  const Attempts& at) const;
  // A failure of an attempt: counted by kind; against the server's health when it says the
  // server is sick; remembered as what to answer if no retry follows.
  void note_failure(UpstreamServer& server, Attempts& at, const char* kind, bool server_sick,
                    unsigned status, std::string message) const;
  bool retry(Attempts& at) const;
  void count_client_abort() const;
  void reply_failure(http::Exchange& ex, const Attempts& at) const;
  // After a 101 to an upgrade request: the answer relayed, then bytes both ways until either
  // side closes or neither sends for read_timeout.
  boost::asio::awaitable<void> tunnel(http::Exchange& ex, http::ClientConnection& conn,
                                      const http::ResponseHead& head) const;
  // Streams the client's body after the head (requests with a body only).
  struct Sent;
  boost::asio::awaitable<Sent> send_with_body(http::Exchange& ex, http::ClientConnection& conn,
                                              std::string_view head) const;

  config::UpstreamConfig config_;
  const core::Clock& clock_;
  std::shared_ptr<const TrustedProxies> trusted_;
  BalanceKind balance_;

  mutable core::Mutex members_mu_;  // guards members_ (admin and thread-state creation only)
  std::shared_ptr<const Membership> members_ GUARDED_BY(members_mu_);
  // Per-worker state by runtime thread index, shared with the drain hook (which reaches each
  // slot on its own worker's loop).
  std::shared_ptr<Workers> workers_;
  std::shared_ptr<HealthMonitor> health_;
  core::Runtime* runtime_ = nullptr;        // set by close_pools_on_drain
  std::vector<std::uint64_t> drain_hooks_;  // taken back when a reload retires this pool
  mutable RetryBudget budget_;
};

}  // namespace tenx::gateway
