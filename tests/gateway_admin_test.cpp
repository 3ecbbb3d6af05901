// The gateway's admin API as an operator (or the autoscaler) uses it: list pools, add a
// server and see traffic reach it, drain one and see traffic leave it, remove one, reload,
// and the bearer token when the API is protected.
#include "support/process.h"
#include "support/raw_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <thread>

namespace tenx::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

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

// An admin call as a tool makes it: Host is the listener's address, writes say JSON.
std::optional<Response> call(std::uint16_t port, std::string_view method, std::string_view path,
                             std::string_view body = {}, std::string_view extra = {}) {
  RawClient c(port);
  if (!c.ok()) return std::nullopt;
  std::string req =
      fmt::format("{} {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{}", method, path, port, extra);
  if (method == "POST" && extra.find("Content-Type") == std::string_view::npos)
    req += "Content-Type: application/json\r\n";
  if (!body.empty()) req += fmt::format("Content-Length: {}\r\n", body.size());
  req += "\r\n";
  req += body;
  if (!c.send(req)) return std::nullopt;
  return c.read_response();
}

// The admin port from the line that follows the listening line; 0 if it does not come.
std::uint16_t wait_admin_port(TenxProcess& gw) {
  if (!gw.wait_for_stdout("admin on http://127.0.0.1:", 10s)) return 0;
  std::smatch m;
  const std::string out = gw.stdout_text();
  if (!std::regex_search(out, m, std::regex("admin on http://127.0.0.1:(\\d+)"))) return 0;
  return static_cast<std::uint16_t>(std::stoi(m[1]));
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
    admin_ = wait_admin_port(*gw_);
    ASSERT_NE(admin_, 0) << gw_->stdout_text();
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
  // `a` is the only server now, so the slow request is a's; it takes 1.5 s there. Drain only
  // once the gateway has it in flight to a (its active-requests gauge), not after a guess;
  // the gauge lives in another process, so it is read until it says so (bounded).
  const auto in_flight_to_a =
      "gateway_upstream_active_requests{pool=\"default\",server=\"" + a_->address() + "\"} 1";
  bool seen = false;
  for (int i = 0; i < 500 && !seen; ++i) {
    const auto m = call(admin_, "GET", "/metrics");
    seen = m && m->body.find(in_flight_to_a) != std::string::npos;
    if (!seen) std::this_thread::sleep_for(5ms);
  }
  if (!seen) {
    in_flight.join();
    FAIL() << "the slow request never reached the upstream";
  }
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

// A web page open in a browser on this host must not be able to drive the API.
TEST_F(GatewayAdmin, RequestsFromWebPagesAreRefused) {
  start();
  const auto drain_path = "/pools/default/servers/" + a_->address() + "/drain";
  const auto from_page = call(admin_, "POST", drain_path, {}, "Origin: http://evil.test\r\n");
  ASSERT_TRUE(from_page);
  EXPECT_EQ(from_page->status, 403);
  EXPECT_THAT(from_page->body, HasSubstr("cross_origin"));
  const auto read_from_page = call(admin_, "GET", "/pools", {}, "Origin: null\r\n");
  ASSERT_TRUE(read_from_page);
  EXPECT_EQ(read_from_page->status, 403);
  // A no-cors fetch can only send simple content types, or none.
  for (const char* ct : {"Content-Type: text/plain;x=json\r\n", "Content-Type: text/plain\r\n",
                         "Content-Type: application/x-www-form-urlencoded\r\n"}) {
    const auto simple = call(admin_, "POST", drain_path, {}, ct);
    ASSERT_TRUE(simple);
    EXPECT_EQ(simple->status, 415) << ct;
  }
  {
    RawClient c(admin_);
    ASSERT_TRUE(c.send("POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"));
    const auto none = c.read_response();
    ASSERT_TRUE(none);
    EXPECT_EQ(none->status, 415) << "a POST without Content-Type was taken";
  }
  // DNS rebinding: the page's own name in Host.
  {
    RawClient c(admin_);
    ASSERT_TRUE(c.send("GET /pools HTTP/1.1\r\nHost: rebind.evil.test:" + std::to_string(admin_) +
                       "\r\n\r\n"));
    const auto rebound = c.read_response();
    ASSERT_TRUE(rebound);
    EXPECT_EQ(rebound->status, 403);
    EXPECT_THAT(rebound->body, HasSubstr("bad_host"));
  }
  // None of it changed anything; localhost by name is fine.
  {
    RawClient c(admin_);
    ASSERT_TRUE(
        c.send("GET /pools HTTP/1.1\r\nHost: localhost:" + std::to_string(admin_) + "\r\n\r\n"));
    const auto pools = c.read_response();
    ASSERT_TRUE(pools);
    EXPECT_EQ(pools->status, 200);
    EXPECT_THAT(pools->body, HasSubstr("\"state\":\"up\""));
  }
}

TEST_F(GatewayAdmin, HealthReportsChecksAndPoolsWithoutAServer) {
  start();
  const auto ok = call(admin_, "GET", "/health");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  EXPECT_THAT(ok->body, HasSubstr("\"upstreams\""));
  EXPECT_THAT(ok->body, HasSubstr("\"disk\""));
  ASSERT_EQ(call(admin_, "POST", "/pools/default/servers/" + a_->address() + "/drain")->status,
            200);
  const auto empty = call(admin_, "GET", "/health");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->status, 503);
  EXPECT_THAT(empty->body, HasSubstr("no server takes requests in: default"));
}

TEST_F(GatewayAdmin, ErrorsNameTheUnknownPool) {
  start();
  const auto del = call(admin_, "DELETE", "/pools/nope/servers/127.0.0.1:1");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 404);
  EXPECT_THAT(del->body, HasSubstr("unknown_pool"));
  const auto drain = call(admin_, "POST", "/pools/nope/servers/127.0.0.1:1/drain");
  ASSERT_TRUE(drain);
  EXPECT_EQ(drain->status, 404);
  EXPECT_THAT(drain->body, HasSubstr("unknown_pool"));
  const auto pools = call(admin_, "GET", "/pools");
  ASSERT_TRUE(pools);
  EXPECT_THAT(pools->body, Not(HasSubstr("E-"))) << "a number in exponent form";
}

// Open descriptors and resident memory of a process, from /proc.
std::size_t open_fds(pid_t pid) {
  std::size_t n = 0;
  for (const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    (void)e;
    ++n;
  }
  return n;
}
std::size_t rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  return 0;
}
// Polls until the process holds `want` descriptors or fewer: another process closes its
// sockets on its own loop, and /proc is the only place that tells (bounded, 3 s).
bool fds_settle(pid_t pid, std::size_t want) {
  for (int i = 0; i < 300; ++i) {
    if (open_fds(pid) <= want) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// Issue 10 item 13: what a long-lived gateway accumulates from reloads and membership changes
// is released: metric series of servers that left, their pooled connections, drain hooks.
TEST_F(GatewayAdmin, ThousandsOfMembershipChangesAndReloadsLeaveNothingBehind) {
  start();
  const auto pid = gw_->pid();
  EXPECT_EQ(spread(4), (std::map<std::string, int>{{"a", 4}}));
  // Pooled connections to a server that leaves are closed.
  ASSERT_TRUE(fds_settle(pid, open_fds(pid)));
  const auto fds_before = open_fds(pid);
  [[maybe_unused]] const auto rss_before = rss_kib(pid);
  for (int round = 0; round < 20; ++round) {
    ASSERT_EQ(call(admin_, "POST", "/pools/default/servers",
                   fmt::format(R"({{"address":"{}"}})", b_->address()))
                  ->status,
              201);
    const auto both = spread(6);
    ASSERT_GT(both.count("b") ? both.at("b") : 0, 0) << "round " << round;
    ASSERT_EQ(call(admin_, "DELETE", "/pools/default/servers/" + b_->address())->status, 200);
  }
  EXPECT_TRUE(fds_settle(pid, fds_before + 1))
      << open_fds(pid) << " descriptors open, " << fds_before << " before";
  // A thousand servers that came and went leave no series behind.
  for (int i = 0; i < 1000; ++i) {
    const auto address = "127.0.0.1:" + std::to_string(20000 + i);
    ASSERT_EQ(call(admin_, "POST", "/pools/default/servers",
                   fmt::format(R"({{"address":"{}"}})", address))
                  ->status,
              201);
    ASSERT_EQ(call(admin_, "DELETE", "/pools/default/servers/" + address)->status, 200);
  }
  const auto metrics = call(admin_, "GET", "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->body.find("127.0.0.1:20"), std::string::npos)
      << "series of removed servers are still exposed";
  EXPECT_EQ(metrics->body.find(b_->address()), std::string::npos);
  // A thousand reloads.
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(call(admin_, "POST", "/reload")->status, 200);
  EXPECT_EQ(spread(4), (std::map<std::string, int>{{"a", 4}}));
  EXPECT_TRUE(fds_settle(pid, fds_before + 1))
      << open_fds(pid) << " descriptors open, " << fds_before << " before";
  [[maybe_unused]] const auto rss_after = rss_kib(pid);
#if !defined(__SANITIZE_ADDRESS__)
  // (AddressSanitizer keeps freed memory in quarantine: resident memory says nothing there.)
  EXPECT_LT(rss_after, rss_before + 8 * 1024)
      << "resident memory grew from " << rss_before << " KiB to " << rss_after << " KiB";
#endif
}

TEST(GatewayAdminToken, NewTokenTakesEffectOnReload) {
  Upstream a("a");
  ASSERT_NE(a.port, 0);
  const auto config = [&](std::string_view token) {
    return fmt::format(R"([admin]
listen = "127.0.0.1:0"
token = "{}"
[[gateway.upstreams]]
name = "default"
servers = ["{}"]
[[gateway.routes]]
prefix = "/"
upstream = "default"
)",
                       token, a.address());
  };
  TempFile file(config("first"));
  TenxProcess gw(gateway_args(file.path()));
  ASSERT_TRUE(gw.wait_listening());
  const auto admin = wait_admin_port(gw);
  ASSERT_NE(admin, 0);
  EXPECT_EQ(call(admin, "GET", "/pools", {}, "Authorization: Bearer first\r\n")->status, 200);
  file.write(config("second"));
  const auto reload = call(admin, "POST", "/reload", {}, "Authorization: Bearer first\r\n");
  ASSERT_TRUE(reload);
  EXPECT_EQ(reload->status, 200) << reload->body;
  EXPECT_EQ(call(admin, "GET", "/pools", {}, "Authorization: Bearer first\r\n")->status, 401);
  EXPECT_EQ(call(admin, "GET", "/pools", {}, "Authorization: Bearer second\r\n")->status, 200);
  gw.signal(SIGTERM);
  EXPECT_EQ(gw.wait_exit(10s), 0) << gw.stderr_text();
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
