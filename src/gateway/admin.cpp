#include "gateway/admin.h"

#include "core/net_address.h"
#include "core/thread_annotations.h"
#include "http/health.h"
#include "http/json.h"
#include "http/router.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <chrono>

namespace tenx::gateway {
namespace asio = boost::asio;
namespace json = boost::json;
using boost::asio::awaitable;

void LivePools::set(std::map<std::string, std::shared_ptr<Proxy>> pools) {
  core::MutexLock lock(mu_);
  pools_ = std::move(pools);
}

std::shared_ptr<Proxy> LivePools::find(const std::string& name) const {
  core::MutexLock lock(mu_);
  auto it = pools_.find(name);
  return it == pools_.end() ? nullptr : it->second;
}

std::map<std::string, std::shared_ptr<Proxy>> LivePools::all() const {
  core::MutexLock lock(mu_);
  return pools_;
}

namespace {

json::object describe(const Proxy& p) {
  const auto now = p.clock().now();
  json::array servers;
  for (const auto& m : p.members()->members) {
    const auto& s = *m.server;
    const char* state = s.draining()            ? "draining"
                        : !s.healthy()          ? "unhealthy"
                        : s.passively_down(now) ? "down"
                                                : "up";
    servers.push_back(json::object{
        {"address", s.params().address},
        {"weight", s.params().weight},
        {"effective_weight", s.effective_weight(now)},
        {"state", state},
        {"healthy", s.healthy()},
        {"draining", s.draining()},
        {"passively_down", s.passively_down(now)},
        {"active_requests", s.active()},
        {"fails", s.fails()},
        {"last_check_unix_ms", s.last_check_unix_ms()},
        // Whole microseconds: a JSON double would print as 7.78692E-1.
        {"latency_ewma_us", static_cast<std::int64_t>(s.ewma_latency_ns() / 1000)},
    });
  }
  const auto& c = p.config();
  return json::object{
      {"name", p.name()},
      {"balance", std::string(balance_name(p.balance()))},
      {"max_fails", c.max_fails},
      {"fail_timeout_ms", c.fail_timeout.count()},
      {"health_check",
       c.health.enabled
           ? json::value(json::object{{"path", c.health.path},
                                      {"interval_ms", c.health.interval.count()},
                                      {"timeout_ms", c.health.timeout.count()},
                                      {"healthy_threshold", c.health.healthy_threshold},
                                      {"unhealthy_threshold", c.health.unhealthy_threshold}})
           : json::value(nullptr)},
      {"servers", std::move(servers)},
  };
}

// Constant-time comparison: the token must not leak through timing.
bool same_token(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

void AdminAccess::set_token(std::string token) {
  core::MutexLock lock(mu_);
  token_ = std::move(token);
}

void AdminAccess::set_listener(const boost::asio::ip::tcp::endpoint& ep) {
  core::MutexLock lock(mu_);
  host_ = ep.address().to_string();
  port_ = ep.port();
  any_host_ = ep.address().is_unspecified();
}

std::optional<AdminAccess::Refusal> AdminAccess::check(const http::Exchange& ex) const {
  const auto& req = ex.request();
  if (req.headers.find(http::Field::origin))
    return Refusal{403, "cross_origin",
                   "the admin API refuses requests sent by web pages (an Origin field came)"};
  core::MutexLock lock(mu_);
  if (!any_host_) {
    // A Host that does not parse has no name, and is refused.
    const auto asked = core::parse_host_port(req.headers.find(http::Field::host).value_or(""),
                                             core::PortRule::optional);
    const auto name = asked ? asked->host : std::string_view{};
    const unsigned port = asked ? asked->port.value_or(0) : 0;
    const bool host_ok = http::iequals(name, "localhost") || name == host_;
    if (!host_ok || (port != 0 && port != port_))
      return Refusal{403, "bad_host",
                     "Host must be the admin listener's address (" + host_ + ":" +
                         std::to_string(port_) + ") or localhost"};
  }
  if (!token_.empty()) {
    const auto auth = req.headers.find(http::Field::authorization);
    const bool ok = auth && auth->size() > 7 && http::iequals(auth->substr(0, 7), "Bearer ") &&
                    same_token(auth->substr(7), token_);
    if (!ok)
      return Refusal{401, "unauthorized", "this admin API needs Authorization: Bearer TOKEN"};
  }
  if (req.method == http::Verb::post) {
    const auto ct = req.headers.find(http::Field::content_type);
    if (!ct || !http::is_json_media_type(*ct))
      return Refusal{415, "unsupported_media_type",
                     "admin writes need Content-Type: application/json"};
  }
  return std::nullopt;
}

http::Handler make_admin_handler(const std::shared_ptr<LivePools>& pools,
                                 const std::shared_ptr<AdminAccess>& access, const ReloadFn& reload,
                                 http::Handler health) {
  http::Router r;
  r.get("/pools", [pools](http::Exchange& ex) -> awaitable<void> {
    json::array list;
    for (const auto& [name, p] : pools->all()) list.push_back(describe(*p));
    http::respond_json(ex, 200, json::object{{"pools", std::move(list)}});
    co_return;
  });
  r.get("/pools/{pool}", [pools](http::Exchange& ex) -> awaitable<void> {
    auto p = pools->find(std::string(*ex.param("pool")));
    if (!p) {
      ex.respond_error(404, "unknown_pool",
                       "no upstream pool named " + std::string(*ex.param("pool")));
      co_return;
    }
    http::respond_json(ex, 200, describe(*p));
  });
  r.post("/pools/{pool}/servers", [pools](http::Exchange& ex) -> awaitable<void> {
    auto p = pools->find(std::string(*ex.param("pool")));
    if (!p) {
      ex.respond_error(404, "unknown_pool",
                       "no upstream pool named " + std::string(*ex.param("pool")));
      co_return;
    }
    auto body = co_await http::read_json_body(ex);
    if (!body) co_return;  // answered (400 / 413 / 415)
    const auto* obj = body->if_object();
    const auto* address = obj ? obj->if_contains("address") : nullptr;
    if (!address || !address->is_string()) {
      ex.respond_error(400, "invalid_field", "field 'address' (string \"IP:PORT\") is required");
      co_return;
    }
    std::uint32_t weight = 1;
    if (const auto* w = obj->if_contains("weight")) {
      if (!w->is_int64() || w->as_int64() < 1 || w->as_int64() > 1000) {
        ex.respond_error(400, "invalid_field", "field 'weight' must be an integer from 1 to 1000");
        co_return;
      }
      weight = static_cast<std::uint32_t>(w->as_int64());
    }
    for (const auto& [k, v] : *obj) {
      if (k != "address" && k != "weight") {
        ex.respond_error(400, "unknown_field", "unknown field '" + std::string(k) + "'");
        co_return;
      }
    }
    std::string error;
    const std::string addr(address->as_string());
    if (!p->add_server(addr, weight, error)) {
      ex.respond_error(
          error.find("already") != std::string::npos ? 409 : 400,
          error.find("already") != std::string::npos ? "duplicate_server" : "invalid_address",
          error);
      co_return;
    }
    co_await p->sync_workers();
    http::respond_json(ex, 201,
                       json::object{{"pool", p->name()}, {"added", addr}, {"weight", weight}});
  });
  r.del("/pools/{pool}/servers/{address}", [pools](http::Exchange& ex) -> awaitable<void> {
    auto p = pools->find(std::string(*ex.param("pool")));
    std::string addr;
    http::percent_decode(*ex.param("address"), addr);
    if (!p) {
      ex.respond_error(404, "unknown_pool",
                       "no upstream pool named " + std::string(*ex.param("pool")));
      co_return;
    }
    if (!p->remove_server(addr)) {
      ex.respond_error(404, "unknown_server", "no server " + addr + " in that pool");
      co_return;
    }
    co_await p->sync_workers();
    http::respond_json(ex, 200, json::object{{"pool", p->name()}, {"removed", addr}});
  });
  r.post("/pools/{pool}/servers/{address}/drain", [pools](http::Exchange& ex) -> awaitable<void> {
    auto p = pools->find(std::string(*ex.param("pool")));
    std::string addr;
    http::percent_decode(*ex.param("address"), addr);
    if (!p) {
      ex.respond_error(404, "unknown_pool",
                       "no upstream pool named " + std::string(*ex.param("pool")));
      co_return;
    }
    bool draining = true;
    if (ex.request().has_body()) {
      auto body = co_await http::read_json_body(ex);
      if (!body) co_return;
      const auto* obj = body->if_object();
      const auto* d = obj ? obj->if_contains("draining") : nullptr;
      if (!d || !d->is_bool()) {
        ex.respond_error(400, "invalid_field", "field 'draining' must be true or false");
        co_return;
      }
      draining = d->as_bool();
    }
    if (!p->drain_server(addr, draining)) {
      ex.respond_error(404, "unknown_server", "no server " + addr + " in that pool");
      co_return;
    }
    co_await p->sync_workers();
    http::respond_json(ex, 200,
                       json::object{{"pool", p->name()}, {"server", addr}, {"draining", draining}});
  });
  r.post("/reload", [reload](http::Exchange& ex) -> awaitable<void> {
    // The answer waits until every worker serves new requests with the new config, so a
    // request sent after it is routed by that config. The workers take it between requests:
    // the wait is bounded, in case one is stuck.
    struct Installed {
      explicit Installed(const asio::any_io_executor& ex) : timer(ex, std::chrono::seconds(10)) {}
      asio::steady_timer timer;
      std::atomic<bool> done{false};
    };
    auto ex_executor = co_await asio::this_coro::executor;
    auto installed = std::make_shared<Installed>(ex_executor);
    const auto error = reload([installed, ex_executor] {
      installed->done = true;
      asio::post(ex_executor, [installed] { installed->timer.cancel(); });
    });
    if (!error.empty()) {
      ex.respond_error(400, "config_rejected", "the running config is kept: " + error);
      co_return;
    }
    if (!installed->done) co_await installed->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!installed->done) {
      ex.respond_error(503, "reload_pending",
                       "the new config is applied but not every worker has taken it yet");
      co_return;
    }
    http::respond_json(ex, 200, json::object{{"reloaded", true}});
  });
  r.get("/health", std::move(health));
  r.get("/metrics", http::metrics_handler());
  auto routed = http::Router::into_handler(std::move(r));
  return [routed, access](http::Exchange& ex) -> awaitable<void> {
    if (auto refused = access->check(ex)) {
      const http::Header h[] = {{"WWW-Authenticate", "Bearer realm=\"tenx-admin\""}};
      ex.respond_error(refused->status, refused->code, refused->message,
                       refused->status == 401 ? std::span<const http::Header>(h)
                                              : std::span<const http::Header>());
      co_return;
    }
    co_await routed(ex);
  };
}

}  // namespace tenx::gateway
