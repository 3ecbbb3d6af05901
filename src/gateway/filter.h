#pragma once
// The gateway's request path as an explicit, ordered chain of filters, ahead of the route's
// action (proxy, static files, fixed response, health, metrics):
//
//   request ─> filter 1 ─> filter 2 ─> ... ─> action
//
// Configured per gateway: `[gateway] filters = ["request_id", ...]`, run in that order for
// every routed request. A filter sees the request head (it may read the body only if it then
// answers), may add or drop request fields for the action (FilterContext, filter_context.h: the
// proxy applies them upstream), may observe the response whoever sends it
// (Exchange::observe(ResponseObserver): how an edge cache will store responses), and decides:
//
//   FilterStatus::Continue       the request goes on to the next filter, then the action.
//   FilterStatus::StopAndRespond the filter has answered (a 429 from a rate limiter, a hit
//                                from a cache); no later filter and no action runs.
//
// Each decision is counted: gateway_filter_decisions_total{filter, outcome}. Rate limiting
// and the edge cache arrive as filters; nothing in the proxy changes for them.
//
// Filters are built once per config, shared by every worker: on_request must be safe to run
// concurrently on several threads (per-thread state lives in the filter, indexed by
// core::Runtime::current_index(), or in per-request objects).
#include "config/config.h"
#include "gateway/filter_context.h"
#include "http/server.h"
#include "metrics/registry.h"

#include <boost/asio/awaitable.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tenx::gateway {

struct Route;

enum class FilterStatus {
  Continue,        // go on: next filter, then the route's action
  StopAndRespond,  // the filter answered; stop here
};

class Filter {
 public:
  virtual ~Filter() = default;
  virtual std::string_view name() const = 0;
  virtual boost::asio::awaitable<FilterStatus> on_request(http::Exchange& ex, FilterContext& ctx,
                                                          const Route& route) const = 0;
};

class FilterChain {
 public:
  // Builds the filters named in the config; throws std::invalid_argument for an unknown one.
  explicit FilterChain(const config::GatewaySection& config);
  // True if the request should go on to the route's action.
  boost::asio::awaitable<bool> run(http::Exchange& ex, FilterContext& ctx,
                                   const Route& route) const;
  std::size_t size() const { return filters_.size(); }

 private:
  struct Entry {
    std::unique_ptr<Filter> filter;
    metrics::Series continued;
    metrics::Series responded;
  };
  std::vector<Entry> filters_;
};

// The filters tenx ships (filters/*.cpp).
std::unique_ptr<Filter> make_request_id_filter();

}  // namespace tenx::gateway
