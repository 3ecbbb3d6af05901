// The built-in endpoints: /metrics (Prometheus text format, checked by promtool when it is
// installed) counts what the server did, and /health reports its checks.
#include "support/process.h"
#include "support/raw_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <memory>
#include <sstream>
#include <thread>

namespace tenx::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class Endpoints : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}) {
    gw_ = std::make_unique<TenxProcess>(gateway_args(test_config("basic.toml"), std::move(extra)));
    port_ = gw_->wait_listening().value_or(0);
    ASSERT_NE(port_, 0) << gw_->stderr_text();
  }
  void TearDown() override {
    if (gw_ && gw_->signal(SIGTERM)) {
      EXPECT_EQ(gw_->wait_exit(10s), 0);
    }
  }
  Response get(std::string_view path) {
    RawClient c(port_);
    EXPECT_TRUE(c.ok());
    EXPECT_TRUE(c.send(get_request(path)));
    auto r = c.read_response();
    EXPECT_TRUE(r) << c.last_error();
    return r.value_or(Response{});
  }

  std::unique_ptr<TenxProcess> gw_;
  std::uint16_t port_ = 0;
};

// The value of the sample line `series VALUE` (series with its labels, exactly as exposed).
std::optional<double> sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ')
      return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

TEST_F(Endpoints, MetricsCountRequestsByMethodRouteAndStatus) {
  start();
  {
    RawClient c(port_);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(c.send(get_request("/hello") + get_request("/hello") + get_request("/hello") +
                       get_request("/nope") + get_request("/static/a.css") +
                       "HEAD /hello HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    for (int i = 0; i < 6; ++i) ASSERT_TRUE(c.read_response(i == 5)) << c.last_error();
  }
  const auto m = get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_THAT(m.header("Content-Type").value_or(""), StartsWith("text/plain; version=0.0.4"));
  const auto& t = m.body;
  EXPECT_EQ(sample(t, R"(http_requests_total{method="GET",route="/hello",status="200"})"), 3);
  EXPECT_EQ(sample(t, R"(http_requests_total{method="HEAD",route="/hello",status="200"})"), 1);
  EXPECT_EQ(sample(t, R"(http_requests_total{method="GET",route="/static/*",status="200"})"), 1);
  EXPECT_EQ(sample(t, R"(http_requests_total{method="GET",route="unmatched",status="404"})"), 1);
  // The scrape itself is counted when it finishes, so not in its own output.
  EXPECT_FALSE(sample(t, R"(http_requests_total{method="GET",route="/metrics",status="200"})"));

  EXPECT_EQ(
      sample(t, R"(http_request_duration_seconds_bucket{method="GET",route="/hello",le="+Inf"})"),
      3);
  EXPECT_EQ(sample(t, R"(http_request_duration_seconds_count{method="GET",route="/hello"})"), 3);
  const auto sum = sample(t, R"(http_request_duration_seconds_sum{method="GET",route="/hello"})");
  ASSERT_TRUE(sum);
  EXPECT_GE(*sum, 0);
  EXPECT_LT(*sum, 10);

  const auto rss = sample(t, "process_resident_memory_bytes");
  ASSERT_TRUE(rss);
  EXPECT_GT(*rss, 1 << 20);
  const auto fds = sample(t, "process_open_fds");
  ASSERT_TRUE(fds);
  EXPECT_GE(*fds, 3);  // stdin/stdout/stderr at least, plus the listener and the scrape
  EXPECT_THAT(t, HasSubstr("# TYPE http_requests_total counter\n"));
  EXPECT_THAT(t, HasSubstr("# TYPE http_request_duration_seconds histogram\n"));
  EXPECT_GE(sample(t, "http_connections_total").value_or(0), 2);

  // A second scrape sees the first one.
  const auto again = get("/metrics");
  EXPECT_EQ(
      sample(again.body, R"(http_requests_total{method="GET",route="/metrics",status="200"})"), 1);
}

TEST_F(Endpoints, HistogramBucketsAreCumulative) {
  start();
  for (int i = 0; i < 4; ++i) ASSERT_EQ(get("/bye").status, 200);
  const auto t = get("/metrics").body;
  const std::string prefix =
      R"(http_request_duration_seconds_bucket{method="GET",route="/bye",le=")";
  std::istringstream in(t);
  std::string line;
  double previous = 0;
  int buckets = 0;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    const double v = std::stod(line.substr(line.rfind(' ') + 1));
    EXPECT_GE(v, previous) << line;
    previous = v;
    ++buckets;
  }
  EXPECT_GT(buckets, 2);
  EXPECT_EQ(previous, 4);  // the last bucket is +Inf: every observation
}

TEST_F(Endpoints, RefusalsAreCountedByReason) {
  start({"--set", "server.max_header_bytes=1024"});
  {
    RawClient c(port_);
    ASSERT_TRUE(c.ok());
    c.send(get_request("/hello", "X-Big: " + std::string(2000, 'a') + "\r\n"));
    const auto r = c.read_response();
    ASSERT_TRUE(r) << c.last_error();
    EXPECT_EQ(r->status, 431);
  }
  {
    RawClient c(port_);
    ASSERT_TRUE(c.ok());
    c.send("GET /hello HTTP/1.1\r\n\r\n");
    ASSERT_TRUE(c.read_response()) << c.last_error();
  }
  const auto t = get("/metrics").body;
  EXPECT_EQ(sample(t, R"(http_rejected_total{reason="header_too_large"})"), 1);
  EXPECT_EQ(sample(t, R"(http_rejected_total{reason="bad_request"})"), 1);
}

TEST_F(Endpoints, MetricsPassPromtoolCheck) {
  if (::access("/usr/bin/promtool", X_OK) != 0)
    GTEST_SKIP() << "promtool not installed (apt-get install prometheus)";
  start({"--set", "server.max_header_bytes=1024"});
  // Populate every kind of family: counters with labels, histograms, rejections.
  ASSERT_EQ(get("/hello").status, 200);
  ASSERT_EQ(get("/nope").status, 404);
  ASSERT_EQ(get("/health").status, 200);
  {
    RawClient c(port_);
    ASSERT_TRUE(c.ok());
    c.send(get_request("/hello", "X-Big: " + std::string(2000, 'a') + "\r\n"));
    ASSERT_TRUE(c.read_response()) << c.last_error();
  }
  ASSERT_EQ(get("/metrics").status, 200);
  const auto m = get("/metrics");
  ASSERT_EQ(m.status, 200);
  const auto r = run_command({"/usr/bin/promtool", "check", "metrics"}, m.body);
  EXPECT_EQ(r.exit_code, 0) << "promtool says:\n" << r.out << r.err << "\nmetrics:\n" << m.body;
}

TEST_F(Endpoints, AccessLogWritesOneJsonLinePerRequest) {
  TempFile log("", ".log");
  start({"--access-log", log.path()});
  {
    RawClient c(port_);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(
        c.send(get_request("/hello?x=1", "User-Agent: e2e-agent\r\n") + get_request("/nope")));
    ASSERT_TRUE(c.read_response()) << c.last_error();
    ASSERT_TRUE(c.read_response()) << c.last_error();
  }
  // Lines are buffered per thread and written at least once a second.
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    text = read_file(log.path());
    if (std::count(text.begin(), text.end(), '\n') >= 2) break;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
  std::string hello_line;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (line.find(R"("target":"/hello?x=1")") != std::string::npos) hello_line = line;
  ASSERT_NE(hello_line, "") << text;
  EXPECT_THAT(hello_line, StartsWith(R"({"time":")"));
  EXPECT_THAT(hello_line, HasSubstr(R"("remote":"127.0.0.1","method":"GET")"));
  EXPECT_THAT(hello_line, HasSubstr(R"("route":"/hello","status":200,)"));
  EXPECT_THAT(hello_line, HasSubstr(R"("user_agent":"e2e-agent"})"));
  EXPECT_THAT(text, HasSubstr(R"("target":"/nope","route":"unmatched","status":404,)"));
}

TEST_F(Endpoints, HealthIsHealthyWithItsChecksAndNotCached) {
  start();
  const auto r = get("/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(r.header("Cache-Control"), "no-store");
  EXPECT_THAT(r.body, StartsWith(R"({"status":"healthy","checks":{)"));
  EXPECT_THAT(r.body, HasSubstr(R"("disk":{"status":"pass")"));
  EXPECT_THAT(r.body, HasSubstr(R"("memory":{"status":"pass")"));
}

TEST_F(Endpoints, HealthIsUnhealthyWhenMemoryIsOverItsLimit) {
  start({"--set", "health.max_rss_mb=1"});
  const auto r = get("/health");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.header("Cache-Control"), "no-store");
  EXPECT_THAT(r.body, StartsWith(R"({"status":"unhealthy","checks":{)"));
  EXPECT_THAT(r.body, HasSubstr(R"("memory":{"status":"fail")"));
  EXPECT_THAT(r.body, HasSubstr(R"("disk":{"status":"pass")"));
  // The other routes still work: health reports, it does not gate traffic.
  EXPECT_EQ(get("/hello").status, 200);
}

TEST_F(Endpoints, HealthIsUnhealthyWhenTheDiskIsOverItsLimit) {
  // No filesystem has a billion MiB free.
  start({"--set", "health.disk_min_free_mb=1000000000"});
  const auto r = get("/health");
  EXPECT_EQ(r.status, 503);
  EXPECT_THAT(r.body, HasSubstr(R"("disk":{"status":"fail")"));
}

}  // namespace
}  // namespace tenx::e2e
