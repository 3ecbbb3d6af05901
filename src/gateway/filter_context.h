#pragma once
// FilterContext: what the filters of one request ask of the action that serves it, beyond the
// HTTP exchange: request fields to add (X-Request-Id) or to drop on the way upstream. The route
// handler (routes.cpp) makes one per request, the filters fill it, and the proxy applies it when
// it builds the upstream head (proxy/headers.cpp). Edits of the answer (fields every response
// carries, observers of the response) stay on http::Exchange: the server applies those to
// whatever answer is sent, the gateway's or not.
#include "http/message.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tenx::gateway {

class FilterContext {
 public:
  // A request field for whatever serves the request next (the proxy sends it upstream).
  void add_request_header(std::string name, std::string value) {
    added_.emplace_back(std::move(name), std::move(value));
  }
  const std::vector<std::pair<std::string, std::string>>& added_request_headers() const {
    return added_;
  }
  // An incoming request field (lower-case name) the next step must not pass on.
  void drop_request_header(std::string lower_name) { dropped_.push_back(std::move(lower_name)); }
  bool request_header_dropped(std::string_view name) const {
    for (const auto& d : dropped_)
      if (http::iequals(d, name)) return true;
    return false;
  }

 private:
  std::vector<std::pair<std::string, std::string>> added_;
  std::vector<std::string> dropped_;
};

}  // namespace tenx::gateway
