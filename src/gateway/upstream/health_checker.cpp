#include "gateway/upstream/health_checker.h"

#include "core/log.h"
#include "core/thread_annotations.h"
#include "http/client.h"
#include "metrics/registry.h"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <map>

namespace tenx::gateway {
namespace asio = boost::asio;
using asio::awaitable;

namespace {

// GET `path` with the probe timeout for connect, read and the whole request; 2xx passes.
class HttpHealthChecker final : public HealthChecker {
 public:
  HttpHealthChecker(const config::HealthCheckConfig& c, const asio::any_io_executor& ex)
      : path_(c.path), client_(ex, options(c)) {}

  awaitable<bool> probe(UpstreamServer& server, std::string& why) override {
    http::ClientRequest req;
    req.target = path_;
    const http::Header hdr[] = {{"User-Agent", "tenx-health-check"}};
    req.headers = hdr;
    auto r = co_await client_.request(server.endpoint(), req);
    if (!r) {
      why = r.error().message();
      co_return false;
    }
    if (r->status < 200 || r->status >= 300) {
      why = fmt::format("status {}", r->status);
      co_return false;
    }
    co_return true;
  }

 private:
  static http::ClientOptions options(const config::HealthCheckConfig& c) {
    http::ClientOptions o;
    o.connect_timeout = c.timeout;
    o.send_timeout = c.timeout;
    o.read_timeout = c.timeout;
    o.total_timeout = c.timeout;
    o.max_idle_per_upstream = 1;
    return o;
  }
  std::string path_;
  http::Client client_;
};

}  // namespace

metrics::Family& health_check_metrics() {
  static auto& f = metrics::Registry::global().counter("gateway_upstream_checks_total",
                                                       "Active health checks, by result.",
                                                       {"pool", "server", "result"});
  return f;
}

std::unique_ptr<HealthChecker> make_health_checker(std::string_view kind,
                                                   const config::HealthCheckConfig& config,
                                                   const asio::any_io_executor& ex) {
  if (kind == "http") return std::make_unique<HttpHealthChecker>(config, ex);
  return nullptr;
}

HealthChange apply_probe_result(UpstreamServer& s, ProbeStreak& streak,
                                const config::HealthCheckConfig& config, bool ok,
                                const core::Clock& clock) {
  s.set_last_check_unix_ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(clock.wall_now().time_since_epoch())
          .count());
  if (ok) {
    streak.fail = 0;
    if (++streak.ok >= config.healthy_threshold && !s.healthy()) {
      s.set_healthy(true, clock.now());
      return HealthChange::became_healthy;
    }
  } else {
    streak.ok = 0;
    if (++streak.fail >= config.unhealthy_threshold && s.healthy()) {
      s.set_healthy(false, clock.now());
      return HealthChange::became_unhealthy;
    }
  }
  return HealthChange::none;
}

HealthMonitor::HealthMonitor(std::string pool, config::HealthCheckConfig config,
                             const core::Clock& clock)
    : pool_(std::move(pool)), config_(std::move(config)), clock_(clock) {}

void HealthMonitor::set_servers(Servers servers) {
  core::MutexLock lock(mu_);
  servers_ = std::move(servers);
}

HealthMonitor::Servers HealthMonitor::servers() {
  core::MutexLock lock(mu_);
  return servers_;
}

void HealthMonitor::start(asio::io_context& loop) {
  if (loop_) return;
  loop_ = &loop;
  asio::co_spawn(
      loop, [self = shared_from_this()] { return self->run(); }, asio::detached);
}

void HealthMonitor::stop() {
  if (stopped_.exchange(true) || !loop_) return;
  asio::post(*loop_, [self = shared_from_this()] {
    if (self->timer_) self->timer_->cancel();
  });
}

awaitable<void> HealthMonitor::run() {
  auto self = shared_from_this();  // alive until the last round ends
  const auto ex = co_await asio::this_coro::executor;
  std::shared_ptr<HealthChecker> checker = make_health_checker("http", config_, ex);
  timer_ = std::make_unique<asio::steady_timer>(ex);
  std::map<std::shared_ptr<UpstreamServer>, std::shared_ptr<ProbeStreak>> streaks;
  while (!stopped_.load()) {
    const auto list = servers();
    for (auto it = streaks.begin(); it != streaks.end();) {  // forget servers that left
      const bool present = std::find(list.begin(), list.end(), it->first) != list.end();
      it = present ? std::next(it) : streaks.erase(it);
    }
    // Every server whose last probe has ended gets a new one now: a server whose probe hangs
    // (bounded by the timeout) skips rounds and holds up no other server's checks.
    for (const auto& s : list) {
      auto& streak = streaks[s];
      if (!streak) streak = std::make_shared<ProbeStreak>();
      if (streak->in_flight) continue;
      streak->in_flight = true;
      asio::co_spawn(
          ex,
          [self, checker, s, streak]() -> awaitable<void> {
            co_await self->check(*checker, s, streak);
            streak->in_flight = false;
          },
          asio::detached);
    }
    if (stopped_.load()) break;
    timer_->expires_after(config_.interval);
    co_await timer_->async_wait(asio::as_tuple(asio::use_awaitable));
  }
  timer_.reset();
}

awaitable<void> HealthMonitor::check(HealthChecker& checker, std::shared_ptr<UpstreamServer> s,
                                     std::shared_ptr<ProbeStreak> streak) {
  std::string why;
  const bool ok = co_await checker.probe(*s, why);
  const auto& address = s->params().address;
  health_check_metrics().series({pool_, address, ok ? "pass" : "fail"}).inc();
  switch (apply_probe_result(*s, *streak, config_, ok, clock_)) {
    case HealthChange::became_healthy:
      TENX_LOG_INFO("upstream healthy pool={} server={}", pool_, address);
      break;
    case HealthChange::became_unhealthy:
      TENX_LOG_WARN("upstream unhealthy pool={} server={} reason=\"{}\"", pool_, address, why);
      break;
    case HealthChange::none:
      break;
  }
}

}  // namespace tenx::gateway
