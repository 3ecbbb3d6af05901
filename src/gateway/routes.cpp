#include "gateway/routes.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <map>

#include "core/net_address.h"
#include "gateway/filter.h"
#include "gateway/proxy/proxy.h"
#include "gateway/static_files.h"
#include "http/path.h"

namespace tenx::gateway {
namespace {
// The host of a Host value, without port or IPv6 brackets. A value that does not parse (RFC
// 9112 §3.2 makes it a bad request) is compared as it is, so it matches host-less routes only.
std::string_view host_name(std::string_view host) {
  const auto parsed = core::parse_host_port(host, core::PortRule::optional);
  return parsed ? parsed->host : host;
}

// A route's host as match() compares it: an IPv6 one without its brackets. One written with a
// port is kept whole, so it matches no Host (match() compares names, not ports).
std::string route_host(const std::string& configured) {
  const auto parsed = core::parse_host_port(configured, core::PortRule::optional);
  return std::string(parsed && !parsed->port ? parsed->host : std::string_view(configured));
}
}  // namespace

RouteTable::RouteTable(const std::vector<config::RouteConfig>& routes) {
  for (const auto& rc : routes) {
    auto r = std::make_unique<Route>();
    r->index = routes_.size();
    r->config = rc;
    r->label = rc.prefix ? rc.path + "*" : rc.path;
    r->host = route_host(rc.host);
    any_host_ = any_host_ || !r->host.empty();
    for (const auto& [k, v] : r->config.headers) r->headers.push_back({k, v});
    (rc.prefix ? prefix_ : exact_).push_back(r.get());
    routes_.push_back(std::move(r));
  }
  std::stable_sort(prefix_.begin(), prefix_.end(), [](const Route* a, const Route* b) {
    if (a->config.path.size() != b->config.path.size())
      return a->config.path.size() > b->config.path.size();
    return !a->config.host.empty() && b->config.host.empty();
  });
  std::stable_sort(exact_.begin(), exact_.end(), [](const Route* a, const Route* b) {
    return !a->config.host.empty() && b->config.host.empty();
  });
}

const Route* RouteTable::match(std::string_view host, std::string_view path) const {
  host = any_host_ ? host_name(host) : std::string_view{};  // no route compares it otherwise
  auto host_ok = [host](const Route* r) { return r->host.empty() || http::iequals(r->host, host); };
  for (const Route* r : exact_)
    if (r->config.path == path && host_ok(r)) return r;
  for (const Route* r : prefix_)
    if (path.substr(0, r->config.path.size()) == r->config.path && host_ok(r)) return r;
  return nullptr;
}

http::HealthChecks gateway_own_health_checks(const config::HealthSection& h) {
  http::HealthChecks checks;
  checks.add("disk", h.check_timeout,
             http::HealthChecks::disk_space(h.disk_path, h.disk_min_free_bytes));
  checks.add("memory", h.check_timeout, http::HealthChecks::memory(h.max_rss_bytes));
  return checks;
}

namespace {
// What one config's handler serves requests with; shared by every worker, immutable.
struct HandlerState {
  HandlerState(std::shared_ptr<const config::Config> c, core::Runtime* runtime,
               const std::map<std::string, std::shared_ptr<Proxy>>* previous)
      : cfg(std::move(c)),
        path_rules{cfg->gateway.merge_slashes, cfg->gateway.allow_encoded_slashes},
        table(cfg->gateway.routes),
        filters(cfg->gateway),
        metrics(http::metrics_handler()) {
    auto trusted = std::make_shared<const TrustedProxies>(cfg->gateway.trusted_proxies);
    const std::size_t threads = runtime ? runtime->threads() : 1;
    for (const auto& u : cfg->gateway.upstreams) {
      const Proxy* before = nullptr;
      if (previous)
        if (auto it = previous->find(u.name); it != previous->end()) before = it->second.get();
      auto p = std::make_shared<Proxy>(u, trusted, threads, core::SystemClock::instance(), before);
      if (runtime) {
        p->start_health_checks(*runtime);
        p->close_pools_on_drain(*runtime);
      }
      proxies.emplace(u.name, std::move(p));
    }
    for (std::size_t i = 0; i < cfg->gateway.routes.size(); ++i) {
      const auto& rc = cfg->gateway.routes[i];
      route_proxy.push_back(
          rc.kind == config::RouteConfig::Kind::upstream ? proxies.at(rc.upstream).get() : nullptr);
      route_static.push_back(rc.kind == config::RouteConfig::Kind::static_files
                                 ? std::make_unique<StaticFiles>(rc.static_root, rc.cache_control,
                                                                 rc.prefix ? rc.path : "")
                                 : nullptr);
    }
    health = gateway_own_health_checks(cfg->health).handler();
  }
  std::shared_ptr<const config::Config> cfg;
  http::PathRules path_rules;
  RouteTable table;
  FilterChain filters;
  http::Handler health;
  http::Handler metrics;
  std::map<std::string, std::shared_ptr<Proxy>> proxies;
  std::vector<Proxy*> route_proxy;                         // by route index
  std::vector<std::unique_ptr<StaticFiles>> route_static;  // by route index
};

// The route of a request, its path normalised first (RFC 3986 §6: every spelling of a path
// meets the route written for it). Null when the request was answered instead (400, 404).
const Route* route_of(const HandlerState& s, http::Exchange& ex) {
  const auto& req = ex.request();
  std::string normal;
  const auto path_status = http::normalize_path(req.path(), normal, s.path_rules);
  if (path_status == http::PathStatus::normalized) {
    ex.set_path(std::move(normal));
  } else if (path_status != http::PathStatus::unchanged) {
    ex.respond_error(400, "bad_path", http::path_error_message(path_status));
    return nullptr;
  }
  const Route* r = s.table.match(req.authority(), ex.path());
  if (!r) {
    ex.respond_error(404, "not_found", "no route for this host and path");
    return nullptr;
  }
  ex.set_route(r->label);
  return r;
}

boost::asio::awaitable<void> answered() { co_return; }

// Runs the filters, then the route's action.
boost::asio::awaitable<void> serve_route(const HandlerState& s, http::Exchange& ex,
                                         const Route& r) {
  FilterContext ctx;  // what the filters ask of the action
  if (s.filters.size() > 0 && !co_await s.filters.run(ex, ctx, r)) co_return;
  switch (r.config.kind) {
    case config::RouteConfig::Kind::fixed:
      if (r.config.delay.count() > 0) {
        boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, r.config.delay);
        co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      }
      ex.respond(r.config.status, r.config.content_type, r.config.body, r.headers);
      co_return;
    case config::RouteConfig::Kind::metrics:
      co_await s.metrics(ex);
      co_return;
    case config::RouteConfig::Kind::health:
      co_await s.health(ex);
      co_return;
    case config::RouteConfig::Kind::upstream:
      co_await s.route_proxy[r.index]->handle(ex, ctx);
      co_return;
    case config::RouteConfig::Kind::static_files:
      co_await s.route_static[r.index]->handle(ex);
      co_return;
  }
}

const FilterContext kNothingFiltered;
}  // namespace

http::Handler make_handler(std::shared_ptr<const config::Config> cfg, core::Runtime* runtime,
                           std::map<std::string, std::shared_ptr<Proxy>>* pools_out,
                           const std::map<std::string, std::shared_ptr<Proxy>>* previous_pools) {
  auto state = std::make_shared<const HandlerState>(std::move(cfg), runtime, previous_pools);
  if (pools_out) *pools_out = state->proxies;
  // Not a coroutine itself: the route is found synchronously and, when no filter runs, the
  // proxy's coroutine is the request's only frame (one frame less per proxied request). The
  // server keeps the handler (and so `state`) alive until the request ends.
  return [state](http::Exchange& ex) -> boost::asio::awaitable<void> {
    const Route* r = route_of(*state, ex);
    if (!r) return answered();
    if (r->config.kind == config::RouteConfig::Kind::upstream && state->filters.size() == 0)
      return state->route_proxy[r->index]->handle(ex, kNothingFiltered);
    return serve_route(*state, ex, *r);
  };
}

}  // namespace tenx::gateway
