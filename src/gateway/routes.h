#pragma once
// Gateway route table: which route answers a request, by host and path.
//
// Matching follows nginx's `location` rules: an exact path (`path = "/x"`) beats any prefix,
// and among prefixes the longest wins. A route that names a host is preferred over one that
// does not at the same specificity. Host comparison ignores case and the port.
//
// Route kinds in this landing: a fixed response (nginx's `return STATUS BODY`), the metrics
// endpoint and the health endpoint. Immutable after construction; shared by all threads.
#include "config/config.h"
#include "http/health.h"
#include "http/server.h"

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tenx::core {
class Runtime;
}

namespace tenx::gateway {

struct Route {
  config::RouteConfig config;
  std::size_t index = 0;              // position in the config's route list
  std::string label;                  // for metrics and logs: "/x" or "/api/*"
  std::vector<http::Header> headers;  // views into config.headers
  std::string host;                   // config.host as match() compares it: "[::1]" is "::1"
};

class RouteTable {
 public:
  explicit RouteTable(const std::vector<config::RouteConfig>& routes);
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;
  // Null when nothing matches.
  const Route* match(std::string_view host, std::string_view path) const;
  std::size_t size() const { return routes_.size(); }

 private:
  std::vector<std::unique_ptr<Route>> routes_;
  std::vector<const Route*> exact_;   // by registration order
  std::vector<const Route*> prefix_;  // longest first
  bool any_host_ = false;             // some route names a host: match() parses Host
};

// The gateway's own health checks (disk space, memory) from [health]: its /health routes and
// the admin listener's /health (which adds the pools) start from these.
http::HealthChecks gateway_own_health_checks(const config::HealthSection& health);

// The gateway's request handler for a config: the route table, the upstream pools (proxies)
// and the built-in endpoints the config asks for. Unmatched requests get a 404 JSON error.
// With a runtime, each pool gets per-thread state for its threads and its active health
// checks start; they stop when the handler (and every request using it) is gone.
// `pools_out`, if given, receives the handler's upstream pools (for the admin API).
class Proxy;
// `previous_pools`: the pools being replaced (reload), whose unchanged servers keep their state.
http::Handler make_handler(
    std::shared_ptr<const config::Config> cfg, core::Runtime* runtime = nullptr,
    std::map<std::string, std::shared_ptr<Proxy>>* pools_out = nullptr,
    const std::map<std::string, std::shared_ptr<Proxy>>* previous_pools = nullptr);

}  // namespace tenx::gateway
