#pragma once
// UpstreamServer: one server of an upstream pool, and the state every worker thread shares
// about it. Everything mutable is an atomic written with relaxed ordering: each field is an
// independent hint (a balancer reading a slightly stale `active` count picks a slightly worse
// server, never a wrong one), and no lock is taken on the request path.
//
// "Health" names three different things in tenx, each with its own word in the code:
//   - a process's own health: its `/health` endpoint (http::HealthChecks, config [health];
//     gateway_own_health_checks() for the gateway's);
//   - active health of an upstream server: probes by the HealthMonitor
//     (upstream/health_checker.h, gateway_upstream_checks_total) that set `healthy` here;
//   - passive health: failures of real requests counted here (`passively_down`).
// A server takes new requests when it is available(): actively healthy, not passively down,
// not draining.
//
// Availability (nginx semantics for the passive part):
//   - passive: `max_fails` failures within `fail_timeout` mark the server down for
//     `fail_timeout` (down_until); the first success after that clears the count;
//   - active: the health checker sets `healthy` after healthy_threshold / unhealthy_threshold
//     consecutive results, and records when it recovered (for slow start);
//   - admin: `draining` servers get no new requests; in-flight ones finish.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "core/clock.h"

namespace tenx::gateway {

struct ServerParams {
  std::string address;  // "127.0.0.1:9001" as configured
  std::uint32_t weight = 1;
  std::uint32_t max_fails = 1;                     // 0: passive checks off
  std::chrono::milliseconds fail_timeout{10'000};  // window and down period
  std::chrono::milliseconds slow_start{0};         // weight ramp after recovery
};

class UpstreamServer {
 public:
  // Every time here comes from the caller's injected core::Clock (the proxy's, the health
  // monitor's), so tests drive passive health and slow start on a ManualClock.
  using clock = core::Clock;

  UpstreamServer(ServerParams params, boost::asio::ip::tcp::endpoint endpoint);

  const ServerParams& params() const { return params_; }
  const boost::asio::ip::tcp::endpoint& endpoint() const { return endpoint_; }
  // Opaque, stable id for sticky cookies: a hash of the address, so the cookie does not
  // reveal where the server is.
  const std::string& id() const { return id_; }

  // May new requests go here now?
  bool available(clock::time_point now) const;
  // Weight in effect now: the configured weight, ramped linearly over slow_start after the
  // server came back (never below 1).
  std::uint32_t effective_weight(clock::time_point now) const;

  // ---- passive health: called by the proxy from any worker ----
  void report_success();
  // Returns true when this failure marked the server down.
  bool report_failure(clock::time_point now);

  // ---- active health: called by the health checker ----
  void set_healthy(bool healthy, clock::time_point now);
  bool healthy() const { return healthy_.load(std::memory_order_relaxed); }
  void set_draining(bool d) { draining_.store(d, std::memory_order_relaxed); }
  bool draining() const { return draining_.load(std::memory_order_relaxed); }
  bool passively_down(clock::time_point now) const;

  // ---- load: requests in flight over all workers, latency EWMA ----
  void begin_request() { active_.fetch_add(1, std::memory_order_relaxed); }
  void end_request() { active_.fetch_sub(1, std::memory_order_relaxed); }
  std::uint32_t active() const { return active_.load(std::memory_order_relaxed); }
  // Exponentially weighted moving average of response-head latency (alpha 0.2).
  void record_latency(std::chrono::nanoseconds d);
  std::uint64_t ewma_latency_ns() const { return ewma_ns_.load(std::memory_order_relaxed); }

  std::uint32_t fails() const { return fails_.load(std::memory_order_relaxed); }
  std::int64_t last_check_unix_ms() const { return last_check_ms_.load(std::memory_order_relaxed); }
  void set_last_check_unix_ms(std::int64_t v) {
    last_check_ms_.store(v, std::memory_order_relaxed);
  }

 private:
  static std::int64_t ns(clock::time_point t) { return t.time_since_epoch().count(); }

  const ServerParams params_;
  const boost::asio::ip::tcp::endpoint endpoint_;
  const std::string id_;
  std::atomic<bool> healthy_{true};
  std::atomic<bool> draining_{false};
  std::atomic<std::uint32_t> fails_{0};
  std::atomic<std::int64_t> first_fail_ns_{0};
  std::atomic<std::int64_t> down_until_ns_{0};
  std::atomic<std::int64_t> recovered_ns_{0};  // for slow start; 0: never went down
  std::atomic<std::uint32_t> active_{0};
  std::atomic<std::uint64_t> ewma_ns_{0};
  std::atomic<std::int64_t> last_check_ms_{0};
};

}  // namespace tenx::gateway
