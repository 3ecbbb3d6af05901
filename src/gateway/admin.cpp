#include "gateway/admin.h"

#include "http/health.h"
#include "http/json.h"
#include "http/router.h"

#include <boost/json.hpp>

namespace tenx::gateway {
namespace json = boost::json;
using boost::asio::awaitable;

void LivePools::set(std::map<std::string, std::shared_ptr<Proxy>> pools) {
  std::lock_guard lock(mu_);
  pools_ = std::move(pools);
}

std::shared_ptr<Proxy> LivePools::find(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = pools_.find(name);
  return it == pools_.end() ? nullptr : it->second;
}

std::map<std::string, std::shared_ptr<Proxy>> LivePools::all() const {
  std::lock_guard lock(mu_);
  return pools_;
}

namespace {

json::object describe(const Proxy& p) {
  const auto now = UpstreamServer::clock::now();
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
        {"latency_ewma_ms", static_cast<double>(s.ewma_latency_ns()) / 1e6},
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

http::Handler make_admin_handler(std::shared_ptr<LivePools> pools, std::string token,
                                 std::function<std::string()> reload) {
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
    if (!p || !p->remove_server(addr)) {
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
    if (!p || !p->drain_server(addr, draining)) {
      ex.respond_error(404, "unknown_server", "no server " + addr + " in that pool");
      co_return;
    }
    co_await p->sync_workers();
    http::respond_json(ex, 200,
                       json::object{{"pool", p->name()}, {"server", addr}, {"draining", draining}});
  });
  r.post("/reload", [reload](http::Exchange& ex) -> awaitable<void> {
    const auto error = reload();
    if (!error.empty()) {
      ex.respond_error(400, "config_rejected", "the running config is kept: " + error);
      co_return;
    }
    http::respond_json(ex, 200, json::object{{"reloaded", true}});
  });
  http::HealthChecks none;
  r.get("/health", none.handler());
  r.get("/metrics", http::metrics_handler());
  auto routed = http::Router::into_handler(std::move(r));
  if (token.empty()) return routed;
  return [routed, token](http::Exchange& ex) -> awaitable<void> {
    const auto auth = ex.request().headers.find(http::Field::authorization);
    const bool ok = auth && auth->size() > 7 && http::iequals(auth->substr(0, 7), "Bearer ") &&
                    same_token(auth->substr(7), token);
    if (!ok) {
      const http::Header h[] = {{"WWW-Authenticate", "Bearer realm=\"tenx-admin\""}};
      ex.respond_error(401, "unauthorized", "this admin API needs Authorization: Bearer TOKEN", h);
      co_return;
    }
    co_await routed(ex);
  };
}

}  // namespace tenx::gateway
