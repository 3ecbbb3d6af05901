#include "gateway/gateway.h"

#include "config/config.h"
#include "core/log.h"
#include "core/runtime.h"
#include "gateway/routes.h"
#include "http/access_log.h"
#include "http/server.h"
#include "metrics/process.h"

#include <cstdio>
#include <iostream>

namespace tenx::gateway {
namespace {

config::Config load(const RunOptions& o) {
  config::Config c = o.config_path.empty() ? config::load_string("", "<defaults>", o.overrides)
                                           : config::load_file(o.config_path, o.overrides);
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

http::ServerLimits limits_of(const config::ServerSection& s) {
  http::ServerLimits l;
  l.max_header_bytes = s.max_header_bytes;
  l.max_body_bytes = s.max_body_bytes;
  l.header_timeout = s.header_timeout;
  l.idle_timeout = s.idle_timeout;
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
    cfg = std::make_shared<const config::Config>(load(options));
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
  http::Server server(runtime, so, make_handler(cfg));
  try {
    server.start();
  } catch (const std::exception& e) {
    std::cerr << "tenx gateway: cannot listen on " << so.listen << ": " << e.what() << "\n";
    return 1;
  }
  const auto ep = server.local_endpoint();
  std::printf("tenx gateway listening on http://%s:%u\n", ep.address().to_string().c_str(),
              static_cast<unsigned>(ep.port()));
  std::fflush(stdout);
  TENX_LOG_INFO("gateway listening addr={}:{} threads={} routes={}", ep.address().to_string(),
                ep.port(), runtime.threads(), cfg->gateway.routes.size());

  runtime.on_reload([&] {
    try {
      auto next = std::make_shared<const config::Config>(load(options));
      if (next->server.listen != cfg->server.listen || next->server.threads != cfg->server.threads)
        TENX_LOG_WARN("reload: server.listen and server.threads take effect on restart only");
      server.set_handler(make_handler(next));
      cfg = next;
      TENX_LOG_INFO("reload: config applied routes={}", next->gateway.routes.size());
    } catch (const std::exception& e) {
      TENX_LOG_ERROR("reload: config rejected, keeping the running one: {}", e.what());
    }
  });
  runtime.on_drain([] { TENX_LOG_INFO("drain: stopping, finishing in-flight requests"); });
  const int rc = runtime.run();
  if (so.access_log) so.access_log->flush_all();
  TENX_LOG_INFO("stopped clean={}", rc == 0);
  log::flush();
  return rc;
}

}  // namespace tenx::gateway
