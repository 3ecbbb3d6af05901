// The gateway's admin API as an operator (or the autoscaler) uses it: list pools, add a
// server and see traffic reach it, drain one and see traffic leave it, remove one, reload,
// and the bearer token when the API is protected.
#include "support/process.h"
#include "support/raw_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <csignal>
#include <map>
#include <regex>
#include <thread>

namespace tenx::e2e {
namespace {

using ::testing::HasSubstr;

std::string upstream_config(std::string_view name) {
  return fmt::format(R"([server]
threads = 1
[log]
level = "warn"
[[gateway.routes]]
path = "/who"
[gateway.routes.return]
body = "{0}"
[[gateway.routes]]
path = "/slow"
[gateway.routes.return]
body = "slow {0}"
delay_ms = 1500
)",
                     name);
}

struct Upstream {
  explicit Upstream(std::string_view name)
      : config(upstream_config(name)), proc(gateway_args(config.path())) {
    port = proc.wait_listening().value_or(0);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
  TempFile config;
  TenxProcess proc;
  std::uint16_t port = 0;
};

std::optional<Response> call(std::uint16_t port, std::string_view method, std::string_view path,
                             std::string_view body = {}, std::string_view extra = {}) {
  RawClient c(port);
  if (!c.ok()) return std::nullopt;
  std::string req = fmt::format("{} {} HTTP/1.1\r\nHost: admin\r\n{}", method, path, extra);
  if (!body.empty())
    req += fmt::format("Content-Type: application/json\r\nContent-Length: {}\r\n", body.size());
  req += "\r\n";
  req += body;
  if (!c.send(req)) return std::nullopt;
  return c.read_response();
}

class GatewayAdmin : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}) {
    a_ = std::make_unique<Upstream>("a");
    b_ = std::make_unique<Upstream>("b");
    ASSERT_NE(a_->port, 0);
    ASSERT_NE(b_->port, 0);
    std::vector<std::string> args = {"gateway",
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--threads",
                                     "2",
                                     "--upstream",
                                     "http://" + a_->address(),
                                     "--admin",
                                     "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    gw_ = std::make_unique<TenxProcess>(args);
    port_ = gw_->wait_listening().value_or(0);
    ASSERT_NE(port_, 0) << gw_->stderr_text();
    // The admin line follows the listening line.
    std::smatch m;
    std::string out;
    for (int i = 0; i < 100 && !std::regex_search(out = gw_->stdout_text(), m,
                               std::regex("admin on http://127.0.0.1:(\\d+)"));
         ++i)
      std::this_thread::sleep_for(20ms);
    ASSERT_TRUE(!m.empty()) << out;
    admin_ = static_cast<std::uint16_t>(std::stoi(m[1]));
  }
  void TearDown() override {
    if (gw_) {
      gw_->signal(SIGTERM);
      EXPECT_EQ(gw_->wait_exit(10s), 0) << gw_->stderr_text();
    }
  }
  // Which upstreams answered n requests.
  std::map<std::string, int> spread(int n) {
    std::map<std::string, int> seen;
    for (int i = 0; i < n; ++i) {
      RawClient c(port_);
      const auto r = c.send(get_request("/who")) ? c.read_response() : std::nullopt;
      ++seen[r ? r->body : "error"];
    }
    return seen;
  }
  // Adds b to the pool through the admin API, then drains a: new requests go to b only.
  void add_b_and_drain_a() {
    ASSERT_EQ(call(admin_, "POST", "/pools/default/servers",
                   fmt::format(R"({{"address":"{}"}})", b_->address()))
                  ->status,
              201);
    const auto drain = call(admin_, "POST", "/pools/default/servers/" + a_->address() + "/drain");
    ASSERT_TRUE(drain);
    EXPECT_EQ(drain->status, 200);
  }

  std::unique_ptr<Upstream> a_, b_;
  std::unique_ptr<TenxProcess> gw_;
  std::uint16_t port_ = 0, admin_ = 0;
};

TEST_F(GatewayAdmin, ListsPoolsWithServerState) {
  start();
  const auto r = call(admin_, "GET", "/pools");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr("\"name\":\"default\""));
  EXPECT_THAT(r->body, HasSubstr("\"address\":\"" + a_->address() + "\""));
  EXPECT_THAT(r->body, HasSubstr("\"state\":\"up\""));
}

TEST_F(GatewayAdmin, AddedServerTakesTrafficAndRemovedOneStops) {
  start();
  EXPECT_EQ(spread(4), (std::map<std::string, int>{{"a", 4}}));
  const auto add = call(admin_, "POST", "/pools/default/servers",
                        fmt::format(R"({{"address":"{}","weight":1}})", b_->address()));
  ASSERT_TRUE(add);
  EXPECT_EQ(add->status, 201) << add->body;
  const auto both = spread(20);
  EXPECT_GT(both.count("b") ? both.at("b") : 0, 0);
  EXPECT_GT(both.count("a") ? both.at("a") : 0, 0);
  EXPECT_EQ(both.count("error"), 0u);
  const auto del = call(admin_, "DELETE", "/pools/default/servers/" + b_->address());
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200) << del->body;
  EXPECT_EQ(spread(6), (std::map<std::string, int>{{"a", 6}}));
}

TEST_F(GatewayAdmin, DrainedServerGetsNoNewRequests) {
  start();
  add_b_and_drain_a();
  if (HasFatalFailure()) return;
  EXPECT_EQ(spread(8), (std::map<std::string, int>{{"b", 8}}));
  const auto pools = call(admin_, "GET", "/pools/default");
  ASSERT_TRUE(pools);
  EXPECT_THAT(pools->body, HasSubstr("\"state\":\"draining\""));
  const auto undo = call(admin_, "POST", "/pools/default/servers/" + a_->address() + "/drain",
                         R"({"draining":false})");
  ASSERT_TRUE(undo);
  EXPECT_EQ(undo->status, 200);
  EXPECT_GT(spread(10)["a"], 0);
}

TEST_F(GatewayAdmin, PoolWhoseEveryServerDrainsAnswers503WithRetryAfter) {
  start();
  const auto drain = call(admin_, "POST", "/pools/default/servers/" + a_->address() + "/drain");
  ASSERT_TRUE(drain);
  ASSERT_EQ(drain->status, 200);
  RawClient c(port_);
  ASSERT_TRUE(c.send(get_request("/who")));
  const auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->header("Retry-After"), "1");
  EXPECT_EQ(r->header("Content-Type"), "application/json");
  EXPECT_THAT(r->body, HasSubstr(R"("error":"no_upstream_available")"));
}

// Draining stops new requests only: one already on its way to the drained server finishes.
TEST_F(GatewayAdmin, DrainLetsTheRequestInFlightFinish) {
  start();
  std::optional<Response> slow;
  std::thread in_flight([&] {
    RawClient c(port_, 10s);
    if (c.send(get_request("/slow"))) slow = c.read_response();
  });
  // `a` is the only server now, so the slow request is a's; it takes 1.5 s there.
  std::this_thread::sleep_for(300ms);
  add_b_and_drain_a();
  if (HasFatalFailure()) {
    in_flight.join();
    return;
  }
  EXPECT_EQ(spread(6), (std::map<std::string, int>{{"b", 6}}));
  in_flight.join();
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->status, 200);
  EXPECT_EQ(slow->body, "slow a");
}

TEST_F(GatewayAdmin, BadRequestsGetClearErrors) {
  start();
  EXPECT_EQ(
      call(admin_, "POST", "/pools/default/servers", R"({"address":"not-an-address"})")->status,
      400);
  EXPECT_EQ(call(admin_, "POST", "/pools/default/servers", R"({"weight":1})")->status, 400);
  EXPECT_EQ(call(admin_, "POST", "/pools/default/servers",
                 fmt::format(R"({{"address":"{}","colour":"red"}})", b_->address()))
                ->status,
            400);
  EXPECT_EQ(call(admin_, "POST", "/pools/default/servers",
                 fmt::format(R"({{"address":"{}"}})", a_->address()))
                ->status,
            409);
  EXPECT_EQ(call(admin_, "POST", "/pools/default/servers", "{not json")->status, 400);
  EXPECT_EQ(call(admin_, "GET", "/pools/nope")->status, 404);
  EXPECT_EQ(call(admin_, "DELETE", "/pools/default/servers/127.0.0.1:1")->status, 404);
  // The pool is unchanged by all of that.
  EXPECT_EQ(spread(3), (std::map<std::string, int>{{"a", 3}}));
}

TEST_F(GatewayAdmin, ReloadEndpointReappliesTheConfig) {
  start();
  const auto r = call(admin_, "POST", "/reload");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(gw_->wait_for_stderr("reload: config applied"));
}

TEST_F(GatewayAdmin, TokenIsRequiredWhenConfigured) {
  start({"--set", "admin.token=\"s3cret\""});
  const auto none = call(admin_, "GET", "/pools");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_THAT(none->header("www-authenticate").value_or(""), HasSubstr("Bearer"));
  const auto wrong = call(admin_, "GET", "/pools", {}, "Authorization: Bearer nope\r\n");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  const auto right = call(admin_, "GET", "/pools", {}, "Authorization: Bearer s3cret\r\n");
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 200);
}

TEST(GatewayAdminConfig, NonLoopbackAdminWithoutTokenIsRejected) {
  TempFile cfg("[admin]\nlisten = \"0.0.0.0:9901\"\n");
  const auto r = run_tenx({"config", "check", cfg.path()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("admin.token"));
  TempFile ok("[admin]\nlisten = \"0.0.0.0:9901\"\ntoken = \"t\"\n");
  EXPECT_EQ(run_tenx({"config", "check", ok.path()}).exit_code, 0);
}

}  // namespace
}  // namespace tenx::e2e
