#pragma once
// Active health checks of an upstream pool (nginx Plus' health_check, HAProxy's check).
//
//   HealthChecker  one probe of one server: the policy ("http": GET `path`, any 2xx
//                  passes). make_health_checker() is the table of kinds.
//   HealthMonitor  every `interval`, probes every server of the pool whose last probe has
//                  ended (one coroutine each, bounded by the probe timeout: a hanging server
//                  skips rounds and delays no other server's checks), and flips
//                  UpstreamServer::healthy after
//                  healthy_threshold / unhealthy_threshold consecutive results.
//
// A monitor runs on one event loop (the gateway uses runtime loop 0) from start() until stop();
// set_servers() and stop() may be called from any thread (a mutex guards the server list, off
// the request path). Checks are counted in gateway_upstream_checks_total{pool, server, result}.
#include "config/config.h"
#include "core/thread_annotations.h"
#include "gateway/upstream/server.h"
#include "metrics/registry.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tenx::gateway {

class HealthChecker {
 public:
  virtual ~HealthChecker() = default;
  // Probes `server` once; true if it passed, else false with the reason in `why`. Runs on
  // the monitor's loop; several probes may be in flight at once.
  virtual boost::asio::awaitable<bool> probe(UpstreamServer& server, std::string& why) = 0;
};

// The kinds of check, by name ("http"); null for an unknown name. `ex`: the loop the
// checker runs on.
std::unique_ptr<HealthChecker> make_health_checker(std::string_view kind,
                                                   const config::HealthCheckConfig& config,
                                                   const boost::asio::any_io_executor& ex);

// gateway_upstream_checks_total{pool, server, result}.
metrics::Family& health_check_metrics();

// Consecutive probe results of one server, and what one more result does to it: after
// healthy_threshold passes an unhealthy server becomes healthy (its slow start begins at
// clock.now()), after unhealthy_threshold failures a healthy one unhealthy. Also stamps the
// server's last check with clock.wall_now().
struct ProbeStreak {
  unsigned ok = 0, fail = 0;
  bool in_flight = false;  // a probe of this server has not ended yet
};
enum class HealthChange { none, became_healthy, became_unhealthy };
HealthChange apply_probe_result(UpstreamServer& server, ProbeStreak& streak,
                                const config::HealthCheckConfig& config, bool ok,
                                const core::Clock& clock);

class HealthMonitor : public std::enable_shared_from_this<HealthMonitor> {
 public:
  using Servers = std::vector<std::shared_ptr<UpstreamServer>>;
  HealthMonitor(std::string pool, config::HealthCheckConfig config, const core::Clock& clock);

  void set_servers(Servers servers);
  // Starts the checks on `loop` (once).
  void start(boost::asio::io_context& loop);
  // Stops after the round in progress (its probes are bounded by the timeout).
  void stop();

 private:
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<void> check(HealthChecker& checker, std::shared_ptr<UpstreamServer> s,
                                     std::shared_ptr<ProbeStreak> streak);
  Servers servers();

  const std::string pool_;
  const config::HealthCheckConfig config_;
  const core::Clock& clock_;
  core::Mutex mu_;
  Servers servers_ GUARDED_BY(mu_);
  std::atomic<bool> stopped_{false};
  std::unique_ptr<boost::asio::steady_timer> timer_;  // between rounds; used on the loop only
  boost::asio::io_context* loop_ = nullptr;
};

}  // namespace tenx::gateway
