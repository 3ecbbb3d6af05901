#include "gateway/gateway.h"

#include "config/config.h"
#include "config/policies.h"
#include "core/log.h"
#include "core/net_address.h"
#include "core/runtime.h"
#include "core/thread_annotations.h"
#include "gateway/admin.h"
#include "gateway/balancers/balancer.h"
#include "gateway/routes.h"
#include "http/access_log.h"
#include "http/health.h"
#include "http/server.h"
#include "metrics/process.h"
#include "metrics/registry.h"

#include <cstdio>
#include <iostream>
#include <map>

namespace tenx::gateway {
namespace {

// "http://127.0.0.1:9001" or "127.0.0.1:9001" -> "127.0.0.1:9001".
std::string upstream_address(const std::string& url) {
  std::string a = url;
  if (a.rfind("http://", 0) == 0)
    a = a.substr(7);
  else if (a.find("://") != std::string::npos)
    throw config::Error({"--upstream " + url + ": only http:// upstreams are supported"});
  if (auto slash = a.find('/'); slash != std::string::npos) a = a.substr(0, slash);
  const auto address = core::parse_host_port(a);
  if (!address || address->host.empty())
    throw config::Error({"--upstream " + url + ": expected http://HOST:PORT" +
                         (address ? "" : " (" + address.error().message() + ")")});
  return a;
}

}  // namespace

config::Config load_config(const RunOptions& o) {
  config::Config c = o.config_path.empty() ? config::load_string("", "<defaults>", o.overrides)
                                           : config::load_file(o.config_path, o.overrides);
  if (!o.upstreams.empty()) {
    config::UpstreamConfig u;
    u.name = "default";
    for (const auto& url : o.upstreams) u.servers.push_back({upstream_address(url), 1});
    if (!o.balance.empty()) {
      if (!parse_balance(o.balance))
        throw config::Error(
            {"--balance " + o.balance + ": expected " + config::policy_names(config::kBalancers)});
      u.balance = o.balance;
    }
    for (const auto& existing : c.gateway.upstreams)
      if (existing.name == u.name)
        throw config::Error({"--upstream: the config already has an upstream named 'default'"});
    c.gateway.upstreams.push_back(u);
    config::RouteConfig r;
    r.path = "/";
    r.prefix = true;
    r.kind = config::RouteConfig::Kind::upstream;
    r.upstream = u.name;
    c.gateway.routes.push_back(r);
    return c;
  } else if (!o.balance.empty()) {
    throw config::Error({"--balance needs --upstream"});
  }
  if (c.gateway.routes.empty()) {
    // No routes configured: serve the built-in endpoints so the process is useful as is.
    config::RouteConfig health;
    health.path = "/health";
    health.kind = config::RouteConfig::Kind::health;
    config::RouteConfig metrics;
    metrics.path = "/metrics";
    metrics.kind = config::RouteConfig::Kind::metrics;
    c.gateway.routes = {health, metrics};
  }
  return c;
}

namespace {

http::ServerLimits limits_of(const config::ServerSection& s) {
  http::ServerLimits l;
  l.max_header_bytes = s.max_header_bytes;
  l.max_body_bytes = s.max_body_bytes;
  l.header_timeout = s.header_timeout;
  l.idle_timeout = s.idle_timeout;
  l.idle_park_after = s.idle_park_after;
  l.body_timeout = s.body_timeout;
  l.send_timeout = s.send_timeout;
  l.max_connections = s.max_connections;
  l.max_requests_per_connection = s.max_requests_per_connection;
  return l;
}

}  // namespace

int run(const RunOptions& options) {
  std::shared_ptr<const config::Config> cfg;
  try {
    cfg = std::make_shared<const config::Config>(load_config(options));
  } catch (const config::Error& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  log::init({cfg->log.level, cfg->log.file});
  metrics::register_process_metrics();

  core::Runtime runtime(
      {.threads = cfg->server.threads, .drain_timeout = cfg->server.drain_timeout});
  http::ServerOptions so;
  so.listen = cfg->server.listen;
  so.limits = limits_of(cfg->server);
  so.server_name = cfg->server.server_name;
  if (cfg->log.access_log != "off")
    so.access_log = std::make_shared<http::AccessLog>(cfg->log.access_log, runtime.threads());
  auto pools = std::make_shared<LivePools>();
  http::Handler handler;
  try {
    std::map<std::string, std::shared_ptr<Proxy>> initial;
    handler = make_handler(cfg, &runtime, &initial);
    pools->set(std::move(initial));
  } catch (const std::exception& e) {
    std::cerr << "tenx gateway: " << e.what() << "\n";
    return 2;
  }
  // Per-server gauges read from the live pools at scrape time (they change with reloads and
  // admin calls, so they are not registered series).
  metrics::Registry::global().add_collector(
      "gateway_upstream_up",
      "1 if the server takes new requests (healthy, not draining, not passively down).",
      metrics::Kind::gauge, [pools](std::vector<metrics::Sample>& out) {
        for (const auto& [name, p] : pools->all())
          for (const auto& m : p->members()->members)
            out.push_back({"gateway_upstream_up",
                           {{"pool", name}, {"server", m.server->params().address}},
                           m.server->available(p->clock().now()) ? 1.0 : 0.0});
      });
  metrics::Registry::global().add_collector(
      "gateway_upstream_active_requests", "Requests in flight to the server, over all workers.",
      metrics::Kind::gauge, [pools](std::vector<metrics::Sample>& out) {
        for (const auto& [name, p] : pools->all())
          for (const auto& m : p->members()->members)
            out.push_back({"gateway_upstream_active_requests",
                           {{"pool", name}, {"server", m.server->params().address}},
                           static_cast<double>(m.server->active())});
      });
  http::Server server(runtime, so, std::move(handler));
  try {
    server.start();
  } catch (const std::exception& e) {
    std::cerr << "tenx gateway: cannot listen on " << so.listen << ": " << e.what() << "\n";
    return 1;
  }

  auto admin_access = std::make_shared<AdminAccess>(cfg->admin.token);
  // One reload at a time, from SIGHUP (control thread) or the admin API (a worker).
  core::Mutex reload_mu;
  // `on_installed` runs once every worker serves new requests with the new config.
  auto reload = [&](std::function<void()> on_installed) -> std::string {
    core::MutexLock lock(reload_mu);
    try {
      auto next = std::make_shared<const config::Config>(load_config(options));
      if (next->server.listen != cfg->server.listen ||
          next->server.threads != cfg->server.threads || next->admin.listen != cfg->admin.listen)
        TENX_LOG_WARN(
            "reload: server.listen, server.threads and admin.listen take effect on "
            "restart only");
      std::map<std::string, std::shared_ptr<Proxy>> next_pools;
      const auto current_pools = pools->all();
      server.set_handler(make_handler(next, &runtime, &next_pools, &current_pools),
                         [done = std::move(on_installed)] {
                           TENX_LOG_INFO("reload: in service on every worker");
                           if (done) done();
                         });
      // Servers the new config dropped: their metric series go (and their memory with them).
      for (const auto& [name, old] : current_pools) {
        const auto it = next_pools.find(name);
        for (const auto& m : old->members()->members) {
          const auto& address = m.server->params().address;
          bool kept = false;
          if (it != next_pools.end())
            for (const auto& n : it->second->members()->members)
              kept = kept || n.server->params().address == address;
          if (!kept) Proxy::retire_server_metrics(name, address);
        }
      }
      pools->set(std::move(next_pools));
      admin_access->set_token(next->admin.token);
      cfg = next;
      TENX_LOG_INFO("reload: config applied routes={}", next->gateway.routes.size());
      return {};
    } catch (const std::exception& e) {
      TENX_LOG_ERROR("reload: config rejected, keeping the running one: {}", e.what());
      return e.what();
    }
  };

  std::unique_ptr<http::Server> admin;
  if (!cfg->admin.listen.empty()) {
    http::ServerOptions ao;
    ao.listen = cfg->admin.listen;
    ao.server_name = cfg->server.server_name;
    // The admin /health: the gateway's own checks, and every pool able to take requests.
    http::HealthChecks checks = gateway_own_health_checks(cfg->health);
    checks.add("upstreams", cfg->health.check_timeout,
               [pools]() -> boost::asio::awaitable<http::CheckResult> {
                 std::string empty;
                 for (const auto& [name, p] : pools->all()) {
                   bool any = false;
                   const auto now = p->clock().now();
                   for (const auto& m : p->members()->members)
                     any = any || m.server->available(now);
                   if (!any) empty += (empty.empty() ? "" : ", ") + name;
                 }
                 co_return empty.empty()
                     ? http::CheckResult{true, "every pool has a server taking requests"}
                     : http::CheckResult{false, "no server takes requests in: " + empty};
               });
    admin = std::make_unique<http::Server>(
        runtime, ao, make_admin_handler(pools, admin_access, reload, checks.handler()));
    try {
      admin->start();
    } catch (const std::exception& e) {
      std::cerr << "tenx gateway: cannot listen on admin " << ao.listen << ": " << e.what() << "\n";
      return 1;
    }
    admin_access->set_listener(admin->local_endpoint());
  }
  const auto ep = server.local_endpoint();
  std::printf("tenx gateway listening on http://%s:%u\n", ep.address().to_string().c_str(),
              static_cast<unsigned>(ep.port()));
  if (admin) {
    // After the listening line, which tools wait for first.
    const auto aep = admin->local_endpoint();
    std::printf("tenx gateway admin on http://%s:%u\n", aep.address().to_string().c_str(),
                static_cast<unsigned>(aep.port()));
  }
  std::fflush(stdout);
  TENX_LOG_INFO("gateway listening addr={}:{} threads={} routes={}", ep.address().to_string(),
                ep.port(), runtime.threads(), cfg->gateway.routes.size());

  runtime.on_reload([&] { reload({}); });
  runtime.on_drain([] { TENX_LOG_INFO("drain: stopping, finishing in-flight requests"); });
  const int rc = runtime.run();
  if (so.access_log) so.access_log->flush_all();
  TENX_LOG_INFO("stopped clean={}", rc == 0);
  log::flush();
  return rc;
}

}  // namespace tenx::gateway
