// request_id filter: every request carries an X-Request-Id to the action (the proxy sends it
// upstream) and back to the client, so one id follows a request through the logs of every
// tier (nginx's $request_id, Envoy's x-request-id).
//
// An incoming X-Request-Id is kept when it looks like an id (1..64 characters of
// [A-Za-z0-9._-]); anything else is replaced, so a client cannot inject log lines. New ids are
// 128 random bits in hex from a per-thread generator seeded from the OS.
#include "gateway/filter.h"

#include <random>

namespace tenx::gateway {
namespace {

bool plausible_id(std::string_view v) {
  if (v.empty() || v.size() > 64) return false;
  for (char c : v) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::string new_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (int half = 0; half < 2; ++half) {
    auto v = rng();
    for (int i = 0; i < 16; ++i, v >>= 4) id[half * 16 + i] = kHex[v & 0xf];
  }
  return id;
}

class RequestIdFilter final : public Filter {
 public:
  std::string_view name() const override { return "request_id"; }
  boost::asio::awaitable<FilterStatus> on_request(http::Exchange& ex, FilterContext& ctx,
                                                  const Route&) const override {
    const auto incoming = ex.request().headers.find("x-request-id");
    if (incoming && plausible_id(*incoming)) {
      ex.add_response_header("X-Request-Id", std::string(*incoming));
    } else {
      auto id = new_id();
      if (incoming) ctx.drop_request_header("x-request-id");
      ctx.add_request_header("X-Request-Id", id);
      ex.add_response_header("X-Request-Id", std::move(id));
    }
    co_return FilterStatus::Continue;
  }
};

}  // namespace

std::unique_ptr<Filter> make_request_id_filter() { return std::make_unique<RequestIdFilter>(); }

}  // namespace tenx::gateway
