// The gateway's filter chain as a client sees it (gateway/filter.h): the request_id filter.
#include "support/process.h"
#include "support/raw_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <regex>

namespace tenx::e2e {
namespace {

class GatewayFilters : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg_ = std::make_unique<TempFile>(R"([server]
threads = 1
[log]
level = "warn"
[gateway]
filters = ["request_id"]
[[gateway.routes]]
path = "/hello"
[gateway.routes.return]
body = "hi"
)");
    gw_ = std::make_unique<TenxProcess>(gateway_args(cfg_->path()));
    port_ = gw_->wait_listening().value_or(0);
    ASSERT_NE(port_, 0) << gw_->stderr_text();
  }
  void TearDown() override {
    gw_->signal(SIGTERM);
    EXPECT_EQ(gw_->wait_exit(10s), 0);
  }
  std::optional<Response> hello(std::string_view extra = {}) {
    RawClient c(port_);
    if (!c.send(get_request("/hello", extra))) return std::nullopt;
    return c.read_response();
  }
  std::unique_ptr<TempFile> cfg_;
  std::unique_ptr<TenxProcess> gw_;
  std::uint16_t port_ = 0;
};

TEST_F(GatewayFilters, RequestIdIsGeneratedWhenAbsent) {
  const auto a = hello();
  const auto b = hello();
  ASSERT_TRUE(a && b);
  const auto ida = a->header("x-request-id").value_or("");
  const auto idb = b->header("x-request-id").value_or("");
  EXPECT_TRUE(std::regex_match(ida, std::regex("[0-9a-f]{32}"))) << ida;
  EXPECT_NE(ida, idb);
}

TEST_F(GatewayFilters, PlausibleIncomingRequestIdIsKept) {
  const auto r = hello("X-Request-Id: abc-123.DEF_4\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("x-request-id").value_or(""), "abc-123.DEF_4");
  EXPECT_EQ(r->header_count("x-request-id"), 1u);
}

TEST_F(GatewayFilters, ImplausibleIncomingRequestIdIsReplaced) {
  const auto r = hello("X-Request-Id: <script>alert(1)</script>\r\n");
  ASSERT_TRUE(r);
  EXPECT_TRUE(std::regex_match(r->header("x-request-id").value_or(""), std::regex("[0-9a-f]{32}")));
}

TEST(GatewayFiltersConfig, UnknownFilterIsRejectedWithItsLine) {
  TempFile cfg("[gateway]\nfilters = [\"request_id\", \"teleport\"]\n");
  const auto r = run_tenx({"config", "check", cfg.path()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, ::testing::HasSubstr(":2: gateway.filters: unknown filter"));
}

}  // namespace
}  // namespace tenx::e2e
