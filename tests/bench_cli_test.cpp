// `tenx bench` end to end: the real binary loading a real `tenx gateway` on 127.0.0.1, its
// JSON and HTML files, `compare`, `capacity`, and its refusals (exit 2 with the reason).
#include "support/process.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <regex>

namespace tenx::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class BenchCli : public ::testing::Test {
 protected:
  void SetUp() override {
    gw_ =
        std::make_unique<TenxProcess>(gateway_args(test_config("basic.toml"), {"--threads", "1"}));
    auto port = gw_->wait_listening();
    ASSERT_TRUE(port) << gw_->listening_line();
    base_ = "http://127.0.0.1:" + std::to_string(*port);
  }
  std::string out_path(std::string_view name) {
    auto p = "/tmp/tenx_bench_" + std::to_string(::getpid()) + "_" + std::string(name);
    cleanup_.push_back(p);
    return p;
  }
  void TearDown() override {
    for (const auto& p : cleanup_) std::remove(p.c_str());
  }
  std::unique_ptr<TenxProcess> gw_;
  std::string base_;
  std::vector<std::string> cleanup_;
};

TEST_F(BenchCli, ClosedLoopRunWritesTableJsonAndHtml) {
  const auto json = out_path("a.json"), html = out_path("a.html");
  const auto r = run_tenx(
      {"bench", "-c", "4", "-d", "500ms", base_ + "/hello", "--json", json, "--html", html});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("closed loop"));
  EXPECT_THAT(r.out, HasSubstr("p99"));
  EXPECT_THAT(r.out, HasSubstr("200: "));
  EXPECT_EQ(r.err, "") << "no progress line when stderr is not a terminal";
  const auto j = read_file(json);
  for (const char* key : {"\"requests_per_second\"", "\"latency_ms\"", "\"p50\"", "\"p75\"",
                          "\"p90\"", "\"p95\"", "\"p99\"", "\"p999\"", "\"p9999\"", "\"max\"",
                          "\"mean\"", "\"stdev\"", "\"status_codes\"", "\"errors\""})
    EXPECT_THAT(j, HasSubstr(key));
  const auto h = read_file(html);
  EXPECT_THAT(h, HasSubstr("<svg"));
  EXPECT_THAT(h, Not(HasSubstr("<script src")));
}

TEST_F(BenchCli, OpenLoopReportsTheAskedRateAndCompareShowsRatios) {
  const auto a = out_path("open.json"), b = out_path("closed.json");
  auto r =
      run_tenx({"bench", "-c", "4", "-d", "1s", "--rate", "300", base_ + "/hello", "--json", a});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("open loop"));
  EXPECT_THAT(r.out, HasSubstr("asked 300"));
  r = run_tenx({"bench", "-c", "2", "-n", "200", base_ + "/bye", "--json", b});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("200: 200\n"));
  r = run_tenx({"bench", "compare", a, b});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("requests/s"));
  EXPECT_THAT(r.out, HasSubstr("B/A"));
}

TEST_F(BenchCli, ScenarioFileDrivesWeightedRequests) {
  TempFile scenario("base_url = \"" + base_ + "\"\n" + R"(
[vars]
n = { random = [1, 3] }
[[request]]
path = "/hello"
weight = 2
[[request]]
path = "/static/{n}.css"
)");
  const auto r = run_tenx({"bench", "-c", "2", "-n", "300", scenario.path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("200: 300"));
}

TEST_F(BenchCli, CapacityFindsARateAndPrintsTheHeadroom) {
  const auto r = run_tenx({"bench", "capacity", "--slo", "p99=200ms", "--step", "500ms",
                           "--max-time", "6s", "--start-rate", "200", "--max-rate", "800",
                           "--current-rps", "100", "-c", "8", base_ + "/hello"},
                          30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("highest rate holding the SLO: 800 req/s"));
  EXPECT_THAT(r.out, HasSubstr("handles 8.0x today's peak"));
}

// -H takes one value, as in curl and wrk: the URL after it is the target, not a second
// header. Repeat -H for more headers.
TEST_F(BenchCli, HeaderTakesOneValueSoTheUrlAfterItIsTheTarget) {
  auto r = run_tenx({"bench", "-c", "1", "-n", "20", "-H", "Accept: application/json", "-H",
                     "X-Trace: 1", base_ + "/hello"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("200: 20\n"));
  r = run_tenx({"bench", "capacity", "--slo", "p99=500ms", "--slo", "p50=400ms", "--step", "500ms",
                "--max-time", "1s", "--start-rate", "50", "--max-rate", "50", "-c", "2", "-H",
                "Accept: application/json", base_ + "/hello"},
               30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("highest rate holding the SLO"));
  // Two values after one -H: the second is not a header but the target (as curl reads it),
  // so the URL after it is one argument too many.
  r = run_tenx({"bench", "-n", "1", "-H", "A: 1", "B: 2", base_ + "/hello"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("not expected: " + base_ + "/hello"));
}

// "search took 1.3 s" -> 1.3 (-1 when the line is missing).
double search_seconds(const std::string& out) {
  std::smatch m;
  if (!std::regex_search(out, m, std::regex(R"(search took ([0-9.]+) s)"))) return -1;
  return std::stod(m[1]);
}

// A target far outside the SLO: every answer takes 50 ms, the SLO is p99 = 5 ms. The first
// step is cut short once its p99 passes 4x the limit (checked from its first second on), not
// run for the 4 s asked; no rate holds, and the next step would not fit in --max-time.
TEST(BenchCliCapacity, StepThatBreaksTheSloBadlyIsCutShort) {
  TempFile config(R"([server]
listen = "127.0.0.1:0"
threads = 1
[log]
level = "warn"
access_log = "off"
[health]
disk_min_free_mb = 0
[[gateway.routes]]
path = "/late"
[gateway.routes.return]
body = "late"
delay_ms = 50
)");
  TenxProcess gw(gateway_args(config.path(), {"--threads", "1"}));
  auto port = gw.wait_listening();
  ASSERT_TRUE(port) << gw.listening_line() << gw.stderr_text();
  const auto r = run_tenx(
      {"bench", "capacity", "--slo", "p99=5ms", "--start-rate", "100", "--step", "4s", "--max-time",
       "5s", "-c", "16", "http://127.0.0.1:" + std::to_string(*port) + "/late"},
      30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("breaks: SLO broke badly; step cut short"));
  EXPECT_THAT(r.out, HasSubstr("no rate tried held the SLO"));
  EXPECT_THAT(r.out, HasSubstr("stopped at the time bound (5 s)"));
  const double took = search_seconds(r.out);
  EXPECT_GT(took, 0.9) << r.out;
  EXPECT_LT(took, 3.0) << "the step ran its full 4 s: " << r.out;
}

// A target that stops answering (it accepts, then stays silent): no latency ever reaches the
// live check, but the requests still unanswered when the step ends (nearly all of them, far
// over 5 %) count against it, so the step is judged broken, not merely slow to serve.
TEST(BenchCliCapacity, SilentTargetBreaksTheStepThroughItsUnfinishedRequests) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  struct Close {
    int fd;
    ~Close() { ::close(fd); }
  } close_at_end{fd};
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 64), 0);  // the kernel completes the handshakes; nobody accepts
  socklen_t len = sizeof a;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const auto r = run_tenx(
      {"bench", "capacity", "--slo", "p99=5ms", "--start-rate", "100", "--step", "1s", "--max-time",
       "1500ms", "-c", "4", "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/"},
      30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("breaks: SLO broke badly; step cut short")) << r.out;
  EXPECT_THAT(r.out, HasSubstr("no rate tried held the SLO"));
}

TEST(BenchCliErrors, BadTargetsAndFilesExitTwoWithTheReason) {
  auto r = run_tenx({"bench", "-d", "100ms", "https://127.0.0.1:1/"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("https is not supported"));
  r = run_tenx({"bench", "-d", "100ms", "no-such-scenario.toml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("neither a URL"));
  TempFile bad("base_url = \"http://127.0.0.1:1\"\n[[request]]\npath = \"/\"\nweigth = 2\n");
  r = run_tenx({"bench", "-d", "100ms", bad.path()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr(bad.path() + ":4: unknown key \"request.weigth\""));
  TempFile notjson("{ nope", ".json");
  r = run_tenx({"bench", "compare", notjson.path(), notjson.path()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr(notjson.path() + ": invalid JSON"));
  r = run_tenx({"bench", "capacity", "--slo", "p99=50", "http://127.0.0.1:1/"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("give the limit a unit"));
  r = run_tenx({"bench", "-d", "soon", "http://127.0.0.1:1/"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("bad --duration"));
}

TEST(BenchCliErrors, UnreachableTargetCountsConnectErrorsAndSaysWhy) {
  const auto r = run_tenx({"bench", "-c", "2", "-d", "300ms", "http://127.0.0.1:1/"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("cannot connect to 127.0.0.1:1: Connection refused"));
  EXPECT_THAT(r.out, HasSubstr("connect"));
  EXPECT_THAT(r.out, Not(HasSubstr("errors        none")));
}

}  // namespace
}  // namespace tenx::e2e
