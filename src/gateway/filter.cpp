#include "gateway/filter.h"

#include <stdexcept>

namespace tenx::gateway {

FilterChain::FilterChain(const config::GatewaySection& config) {
  auto& decisions = metrics::Registry::global().counter("gateway_filter_decisions_total",
                                                        "Filter decisions on routed requests.",
                                                        {"filter", "outcome"});
  for (const auto& name : config.filters) {
    std::unique_ptr<Filter> f;
    if (name == "request_id") f = make_request_id_filter();
    if (!f) throw std::invalid_argument("unknown gateway filter '" + name + "'");
    Entry e{std::move(f), {}, {}};
    e.continued = decisions.series({name, "continue"});
    e.responded = decisions.series({name, "respond"});
    filters_.push_back(std::move(e));
  }
}

boost::asio::awaitable<bool> FilterChain::run(http::Exchange& ex, FilterContext& ctx,
                                              const Route& route) const {
  for (const auto& e : filters_) {
    const auto status = co_await e.filter->on_request(ex, ctx, route);
    if (status == FilterStatus::StopAndRespond) {
      e.responded.inc();
      co_return false;
    }
    e.continued.inc();
  }
  co_return true;
}

}  // namespace tenx::gateway
