// Process lifecycle: SIGTERM / SIGINT drain (in-flight requests finish with Connection: close,
// idle connections close, no new connections, exit 0; exit 1 when the drain deadline cuts a
// request off) and SIGHUP reload (a valid new config takes effect, a broken one is ignored).
//
// The drain tests run the gateway with one event-loop thread, which lets them know without
// sleeping that the slow request is in flight before the signal: a request sent on another
// connection afterwards is only answered once the loop has taken in the earlier bytes.
#include "support/process.h"
#include "support/raw_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <memory>
#include <thread>

namespace tenx::e2e {
namespace {

using ::testing::HasSubstr;
using clock_type = std::chrono::steady_clock;

constexpr std::string_view kHelloBody = R"({"message":"hello from tenx"})";

std::unique_ptr<TenxProcess> start_gateway(const std::string& config,
                                           std::vector<std::string> extra, std::uint16_t& port) {
  auto p = std::make_unique<TenxProcess>(gateway_args(config, std::move(extra)));
  port = p->wait_listening().value_or(0);
  return p;
}

// One request on a connection of its own; nullopt when it is not answered.
std::optional<Response> fetch(std::uint16_t port, std::string_view path) {
  RawClient c(port);
  if (!c.ok() || !c.send(get_request(path))) return std::nullopt;
  return c.read_response();
}

// Sends /slow on `slow` and makes sure the server is handling it (see the file comment).
void start_slow_request(RawClient& slow, std::uint16_t port) {
  ASSERT_TRUE(slow.send(get_request("/slow")));
  const auto r = fetch(port, "/bye");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
}

class Drain : public ::testing::TestWithParam<int> {};

TEST_P(Drain, InFlightRequestFinishesWithConnectionCloseAndProcessExitsZero) {
  const int sig = GetParam();
  std::uint16_t port = 0;
  auto gw = start_gateway(test_config("basic.toml"), {"--threads", "1"}, port);
  ASSERT_NE(port, 0) << gw->stderr_text();

  RawClient idle(port);
  ASSERT_TRUE(idle.ok());
  ASSERT_TRUE(idle.send(get_request("/hello")));
  ASSERT_TRUE(idle.read_response()) << idle.last_error();

  RawClient slow(port);
  ASSERT_TRUE(slow.ok());
  start_slow_request(slow, port);

  const auto t0 = clock_type::now();
  ASSERT_TRUE(gw->signal(sig));
  // The drain closes the idle keep-alive connection without a response...
  EXPECT_TRUE(idle.closed()) << "idle connection got: " << idle.leftover();
  // ...after which the listener is closed: a new connection is refused, or closed unanswered.
  {
    RawClient late(port, 2s);
    if (late.ok()) {
      late.send(get_request("/hello"));
      EXPECT_FALSE(late.read_response()) << "a connection made after the drain was served";
    } else {
      EXPECT_EQ(late.connect_errno(), ECONNREFUSED);
    }
  }
  // The in-flight request still gets its whole answer, marked as the connection's last.
  const auto r = slow.read_response();
  ASSERT_TRUE(r) << slow.last_error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "slow response done");
  EXPECT_TRUE(r->connection_has("close"));
  EXPECT_TRUE(slow.closed());

  EXPECT_EQ(gw->wait_exit(8s), 0) << gw->stderr_text();
  EXPECT_LT(clock_type::now() - t0, 8s);
}

INSTANTIATE_TEST_SUITE_P(Signals, Drain, ::testing::Values(SIGTERM, SIGINT),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::string(info.param == SIGTERM ? "Sigterm" : "Sigint");
                         });

TEST(DrainIdle, IdleProcessExitsZeroPromptly) {
  std::uint16_t port = 0;
  auto gw = start_gateway(test_config("basic.toml"), {}, port);
  ASSERT_NE(port, 0) << gw->stderr_text();
  RawClient idle(port);
  ASSERT_TRUE(idle.ok());
  ASSERT_TRUE(idle.send(get_request("/hello")));
  ASSERT_TRUE(idle.read_response()) << idle.last_error();
  ASSERT_TRUE(gw->signal(SIGTERM));
  EXPECT_TRUE(idle.closed());
  // Nothing in flight: the drain does not wait for its deadline (5 s in basic.toml).
  EXPECT_EQ(gw->wait_exit(4s), 0) << gw->stderr_text();
}

// The listening line is the readiness signal: a signal sent the moment it appears must get
// the drain / reload treatment, not the default action (which kills the process).
TEST(DrainIdle, SigtermRightAfterTheListeningLineStillDrains) {
  for (int i = 0; i < 5; ++i) {
    SCOPED_TRACE(i);
    std::uint16_t port = 0;
    auto gw = start_gateway(test_config("basic.toml"), {}, port);
    ASSERT_NE(port, 0) << gw->stderr_text();
    ASSERT_TRUE(gw->signal(SIGTERM));
    EXPECT_EQ(gw->wait_exit(8s), 0) << gw->stderr_text();
  }
}

TEST(DrainIdle, SighupRightAfterTheListeningLineDoesNotKill) {
  for (int i = 0; i < 5; ++i) {
    SCOPED_TRACE(i);
    std::uint16_t port = 0;
    auto gw = start_gateway(test_config("basic.toml"), {}, port);
    ASSERT_NE(port, 0) << gw->stderr_text();
    ASSERT_TRUE(gw->signal(SIGHUP));
    EXPECT_TRUE(gw->wait_for_stderr("reload: config applied")) << gw->stderr_text();
    const auto r = fetch(port, "/bye");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "bye");
    ASSERT_TRUE(gw->signal(SIGTERM));
    EXPECT_EQ(gw->wait_exit(8s), 0) << gw->stderr_text();
  }
}

TEST(DrainIdle, AccessLogKeepsTheRequestThatFinishedDuringTheDrain) {
  TempFile log("", ".log");
  std::uint16_t port = 0;
  auto gw = start_gateway(test_config("basic.toml"), {"--threads", "1", "--access-log", log.path()},
                          port);
  ASSERT_NE(port, 0) << gw->stderr_text();
  RawClient slow(port);
  ASSERT_TRUE(slow.ok());
  start_slow_request(slow, port);
  ASSERT_TRUE(gw->signal(SIGTERM));
  ASSERT_TRUE(slow.read_response()) << slow.last_error();
  ASSERT_EQ(gw->wait_exit(8s), 0);
  const std::string text = read_file(log.path());
  EXPECT_THAT(text, HasSubstr(R"("target":"/bye")"));
  EXPECT_THAT(text, HasSubstr(R"("target":"/slow","route":"/slow","status":200)"));
}

TEST(DrainIdle, RequestPipelinedBehindTheInFlightOneIsNotStarted) {
  std::uint16_t port = 0;
  auto gw = start_gateway(test_config("basic.toml"), {"--threads", "1"}, port);
  ASSERT_NE(port, 0) << gw->stderr_text();
  RawClient slow(port);
  ASSERT_TRUE(slow.ok());
  ASSERT_TRUE(slow.send(get_request("/slow") + get_request("/bye")));
  const auto check = fetch(port, "/bye");  // the loop has taken in both requests
  ASSERT_TRUE(check);
  ASSERT_TRUE(gw->signal(SIGTERM));
  const auto r = slow.read_response();
  ASSERT_TRUE(r) << slow.last_error();
  EXPECT_EQ(r->body, "slow response done");
  EXPECT_TRUE(r->connection_has("close"));
  EXPECT_TRUE(slow.closed()) << "the pipelined request was answered: " << slow.leftover();
  EXPECT_EQ(gw->wait_exit(8s), 0);
}

// basic.toml with the /slow route taking `delay_ms`.
std::string with_slow_delay(int delay_ms) {
  std::string text = read_file(test_config("basic.toml"));
  const std::string old = "delay_ms = 1000";
  const auto at = text.find(old);
  EXPECT_NE(at, std::string::npos);
  if (at != std::string::npos)
    text.replace(at, old.size(), "delay_ms = " + std::to_string(delay_ms));
  return text;
}

TEST(DrainDeadline, RequestOutlastingTheDrainDeadlineMakesTheExitCodeOne) {
  std::uint16_t port = 0;
  TempFile cfg(with_slow_delay(5000));
  auto gw =
      start_gateway(cfg.path(), {"--threads", "1", "--set", "server.drain_timeout_ms=200"}, port);
  ASSERT_NE(port, 0) << gw->stderr_text();
  RawClient slow(port);
  ASSERT_TRUE(slow.ok());
  start_slow_request(slow, port);
  const auto t0 = clock_type::now();
  ASSERT_TRUE(gw->signal(SIGTERM));
  EXPECT_EQ(gw->wait_exit(4s), 1) << gw->stderr_text();
  EXPECT_LT(clock_type::now() - t0, 4s);  // well before the 5 s request would have finished
  EXPECT_FALSE(slow.read_response());     // cut off: no answer
}

TEST(DrainDeadline, SecondSignalStopsAtOnce) {
  std::uint16_t port = 0;
  TempFile cfg(with_slow_delay(9000));
  auto gw =
      start_gateway(cfg.path(), {"--threads", "1", "--set", "server.drain_timeout_ms=60000"}, port);
  ASSERT_NE(port, 0) << gw->stderr_text();
  RawClient slow(port);
  ASSERT_TRUE(slow.ok());
  start_slow_request(slow, port);
  ASSERT_TRUE(gw->signal(SIGTERM));
  // Still draining (the request takes 9 s, the deadline is 60 s) ...
  EXPECT_FALSE(gw->wait_exit(300ms));
  // ... until the operator insists.
  ASSERT_TRUE(gw->signal(SIGTERM));
  EXPECT_EQ(gw->wait_exit(4s), 1) << gw->stderr_text();
}

// ---- SIGHUP reload ----

class Reload : public ::testing::Test {
 protected:
  void SetUp() override {
    original_ = read_file(test_config("basic.toml"));
    cfg_ = std::make_unique<TempFile>(original_);
    gw_ = start_gateway(cfg_->path(), {}, port_);
    ASSERT_NE(port_, 0) << gw_->stderr_text();
  }
  void TearDown() override {
    if (gw_ && gw_->signal(SIGTERM)) {
      EXPECT_EQ(gw_->wait_exit(10s), 0);
    }
  }
  // basic.toml with /hello's body replaced.
  std::string with_hello_body(std::string_view body) const {
    std::string text = original_;
    const std::string old = std::string("body = '") + std::string(kHelloBody) + "'";
    const auto at = text.find(old);
    EXPECT_NE(at, std::string::npos);
    text.replace(at, old.size(), "body = '" + std::string(body) + "'");
    return text;
  }

  std::string original_;
  std::unique_ptr<TempFile> cfg_;
  std::unique_ptr<TenxProcess> gw_;
  std::uint16_t port_ = 0;
};

TEST_F(Reload, ChangedConfigTakesEffectWhileTheProcessKeepsRunning) {
  const auto before = fetch(port_, "/hello");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->body, kHelloBody);

  cfg_->write(with_hello_body("reloaded"));
  ASSERT_TRUE(gw_->signal(SIGHUP));
  // The reload is asynchronous: poll (bounded) until a new request sees the new body.
  std::string body;
  const auto deadline = clock_type::now() + 5s;
  while (clock_type::now() < deadline) {
    const auto r = fetch(port_, "/hello");
    ASSERT_TRUE(r);
    body = r->body;
    if (body == "reloaded") break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(body, "reloaded");
  EXPECT_TRUE(gw_->running());
  EXPECT_TRUE(gw_->wait_for_stderr("reload: config applied")) << gw_->stderr_text();
  // Same port, same process: a second reload back to the original works too.
  cfg_->write(original_);
  ASSERT_TRUE(gw_->signal(SIGHUP));
  const auto deadline2 = clock_type::now() + 5s;
  while (clock_type::now() < deadline2) {
    const auto r = fetch(port_, "/hello");
    ASSERT_TRUE(r);
    body = r->body;
    if (body == kHelloBody) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(body, kHelloBody);
}

TEST_F(Reload, ReloadAppliesToNewRequestsOnAnExistingConnection) {
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(get_request("/hello")));
  const auto before = c.read_response();
  ASSERT_TRUE(before) << c.last_error();
  EXPECT_EQ(before->body, kHelloBody);
  cfg_->write(with_hello_body("reloaded"));
  ASSERT_TRUE(gw_->signal(SIGHUP));
  ASSERT_TRUE(gw_->wait_for_stderr("reload: config applied"));
  // The log line is written before the handler swap reaches the loops; poll briefly.
  std::string body;
  const auto deadline = clock_type::now() + 5s;
  while (clock_type::now() < deadline && body != "reloaded") {
    ASSERT_TRUE(c.send(get_request("/hello")));
    const auto r = c.read_response();
    ASSERT_TRUE(r) << c.last_error();
    body = r->body;
    if (body != "reloaded") std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(body, "reloaded");
}

TEST_F(Reload, BrokenConfigKeepsTheRunningRoutes) {
  std::string broken = with_hello_body("should never be served");
  broken.replace(broken.find("[server]\n"), 9, "[server]\nthreadz = 1\n");
  cfg_->write(broken);
  ASSERT_TRUE(gw_->signal(SIGHUP));
  ASSERT_TRUE(gw_->wait_for_stderr("reload: config rejected")) << gw_->stderr_text();
  EXPECT_THAT(gw_->stderr_text(), HasSubstr("unknown key"));
  EXPECT_TRUE(gw_->running());
  const auto r = fetch(port_, "/hello");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, kHelloBody);
}

TEST_F(Reload, UnparseableConfigKeepsTheRunningRoutes) {
  cfg_->write("[server\nthis is not toml\n");
  ASSERT_TRUE(gw_->signal(SIGHUP));
  ASSERT_TRUE(gw_->wait_for_stderr("reload: config rejected")) << gw_->stderr_text();
  EXPECT_TRUE(gw_->running());
  const auto r = fetch(port_, "/bye");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "bye");
}

}  // namespace
}  // namespace tenx::e2e
