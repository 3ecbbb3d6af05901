// Server limits as a client meets them: each limit answers with its status and closes the
// connection. Every test starts its own gateway with small limits given by --set, so the
// tests are independent and take a fraction of a second.
#include "support/process.h"
#include "support/raw_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <memory>
#include <thread>

namespace tenx::e2e {
namespace {

using ::testing::HasSubstr;
using clock_type = std::chrono::steady_clock;

class HttpLimits : public ::testing::Test {
 protected:
  // Starts the gateway with these --set overrides; returns false (and fails) if it did not.
  void start(std::vector<std::string> sets) {
    std::vector<std::string> extra;
    for (auto& s : sets) {
      extra.push_back("--set");
      extra.push_back(std::move(s));
    }
    gateway_ = std::make_unique<TenxProcess>(gateway_args(test_config("basic.toml"), extra));
    port_ = gateway_->wait_listening().value_or(0);
    ASSERT_NE(port_, 0) << gateway_->listening_line() << "\n" << gateway_->stderr_text();
  }
  void TearDown() override {
    if (gateway_ && gateway_->signal(SIGTERM)) {
      EXPECT_EQ(gateway_->wait_exit(10s), 0) << gateway_->stderr_text();
    }
  }

  std::unique_ptr<TenxProcess> gateway_;
  std::uint16_t port_ = 0;
};

// Reads one response and checks it is the server's JSON refusal with `status` / `code`.
void expect_refusal(RawClient& c, int status, std::string_view code) {
  const auto r = c.read_response();
  ASSERT_TRUE(r) << c.last_error();
  EXPECT_EQ(r->status, status);
  EXPECT_EQ(r->header("Content-Type"), "application/json");
  EXPECT_THAT(r->body, HasSubstr("\"error\":\"" + std::string(code) + "\""));
  EXPECT_TRUE(r->connection_has("close"));
  EXPECT_TRUE(c.closed()) << "unexpected bytes after the refusal: " << c.leftover();
}

TEST_F(HttpLimits, HeaderOverMaxHeaderBytesIs431ThenClose) {
  start({"server.max_header_bytes=1024"});
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  c.send(get_request("/hello", "X-Big: " + std::string(2000, 'a') + "\r\n"));
  expect_refusal(c, 431, "header_too_large");
}

TEST_F(HttpLimits, RequestTargetOverTheLimitIs414ThenClose) {
  start({"server.max_header_bytes=1024"});
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  c.send(get_request("/hello?q=" + std::string(2000, 'a')));
  expect_refusal(c, 414, "uri_too_long");
}

TEST_F(HttpLimits, HeaderJustUnderMaxHeaderBytesIsServed) {
  start({"server.max_header_bytes=1024"});
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  const std::string base = get_request("/hello", "X-Pad: \r\n");
  const std::string req =
      get_request("/hello", "X-Pad: " + std::string(1000 - base.size(), 'a') + "\r\n");
  ASSERT_EQ(req.size(), 1000u);
  ASSERT_TRUE(c.send(req));
  const auto r = c.read_response();
  ASSERT_TRUE(r) << c.last_error();
  EXPECT_EQ(r->status, 200);
}

TEST_F(HttpLimits, ContentLengthOverMaxBodyBytesIs413ThenClose) {
  start({"server.max_body_bytes=1024"});
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  // The head alone is refused: the client does not have to send the body first.
  c.send("POST /hello HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1025\r\n\r\n");
  expect_refusal(c, 413, "body_too_large");
}

TEST_F(HttpLimits, ContentLengthAtMaxBodyBytesIsServed) {
  start({"server.max_body_bytes=1024"});
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send("POST /hello HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1024\r\n\r\n" +
                     std::string(1024, 'b') + get_request("/bye")));
  const auto a = c.read_response();
  ASSERT_TRUE(a) << c.last_error();
  EXPECT_EQ(a->status, 200);
  const auto b = c.read_response();
  ASSERT_TRUE(b) << c.last_error();
  EXPECT_EQ(b->body, "bye");
}

// Head and whole body arrive together, so the server sees the excess before its answer leaves:
// the queued 200 is replaced by 413 (server.cpp, skip_buffered_body after the handler).
TEST_F(HttpLimits, ChunkedBodyOverMaxBodyBytesArrivingWithTheHeadIs413ThenClose) {
  start({"server.max_body_bytes=1024"});
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  std::string req = "POST /hello HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) req += "190\r\n" + std::string(400, 'c') + "\r\n";  // 1600 bytes
  req += "0\r\n\r\n" + get_request("/bye");
  c.send(req);
  expect_refusal(c, 413, "body_too_large");
}

// The head arrives alone: the fixed route answers 200 at once (no Connection: close, the
// body might still be fine). The body then goes over the limit while being discarded, and
// the server closes without a further response.
TEST_F(HttpLimits, ChunkedBodyOverMaxBodyBytesAfterTheAnswerClosesTheConnection) {
  start({"server.max_body_bytes=1024"});
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(
      c.send("POST /hello HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
             "10\r\n0123456789abcdef\r\n"));
  const auto r = c.read_response();
  ASSERT_TRUE(r) << c.last_error();
  EXPECT_EQ(r->status, 200);
  std::string rest;
  for (int i = 0; i < 4; ++i) rest += "190\r\n" + std::string(400, 'c') + "\r\n";
  rest += "0\r\n\r\n" + get_request("/bye");
  c.send(rest);
  EXPECT_TRUE(c.closed()) << "unexpected bytes: " << c.leftover();
}

TEST_F(HttpLimits, StalledBodyIsDroppedWithTheConnectionAfterBodyTimeout) {
  start({"server.body_timeout_ms=300"});
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(
      c.send("POST /hello HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n"
             "only part of it"));
  const auto r = c.read_response();  // the fixed route answers without the body
  ASSERT_TRUE(r) << c.last_error();
  EXPECT_EQ(r->status, 200);
  // The rest never comes: the server stops waiting for it and closes.
  EXPECT_TRUE(c.closed()) << c.last_error();
}

TEST_F(HttpLimits, IncompleteHeadPastHeaderTimeoutIs408ThenClose) {
  start({"server.header_timeout_ms=300"});
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  const auto t0 = clock_type::now();
  ASSERT_TRUE(c.send("GET /hello HTTP/1.1\r\nHost: localhost\r\n"));  // no blank line
  expect_refusal(c, 408, "request_timeout");
  // The timer counts from the first byte, which the client sent after t0.
  EXPECT_GE(clock_type::now() - t0, 290ms);
}

TEST_F(HttpLimits, TricklingHeadDoesNotExtendTheHeaderTimeout) {
  start({"server.header_timeout_ms=300"});
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  const auto t0 = clock_type::now();
  // One header byte every 50 ms: each read is quick, but the head as a whole is late.
  const std::string head = "GET /hello HTTP/1.1\r\nHost: localhost\r\nX-Slow: abcdefghijklmnop\r\n";
  for (char ch : head) {
    if (!c.send(std::string(1, ch))) break;
    std::this_thread::sleep_for(50ms);
    if (clock_type::now() - t0 > 600ms) break;  // past the deadline: stop and look
  }
  expect_refusal(c, 408, "request_timeout");
}

TEST_F(HttpLimits, IdleKeepAliveConnectionIsClosedAfterIdleTimeout) {
  start({"server.idle_timeout_ms=300"});
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(get_request("/hello")));
  const auto r = c.read_response();
  ASSERT_TRUE(r) << c.last_error();
  EXPECT_FALSE(r->connection_has("close"));
  EXPECT_TRUE(c.closed()) << c.last_error();  // quietly: no 408 for an idle connection
  // It was the idle timer that closed it (the server counts why it closes connections).
  RawClient m(port_);
  ASSERT_TRUE(m.send(get_request("/metrics")));
  const auto metrics = m.read_response();
  ASSERT_TRUE(metrics) << m.last_error();
  EXPECT_THAT(metrics->body, HasSubstr("http_rejected_total{reason=\"idle_timeout\"} 1\n"));
}

TEST_F(HttpLimits, ConnectionOverMaxConnectionsGets503WithRetryAfter) {
  start({"server.max_connections=2"});
  RawClient a(port_), b(port_);
  ASSERT_TRUE(a.ok() && b.ok());
  // A request on each proves both are accepted and counted.
  for (RawClient* c : {&a, &b}) {
    ASSERT_TRUE(c->send(get_request("/bye")));
    const auto r = c->read_response();
    ASSERT_TRUE(r) << c->last_error();
    EXPECT_EQ(r->status, 200);
  }
  RawClient third(port_);
  ASSERT_TRUE(third.ok());
  const auto r = third.read_response();
  ASSERT_TRUE(r) << third.last_error();
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->header("Retry-After"), "1");
  EXPECT_TRUE(r->connection_has("close"));
  EXPECT_THAT(r->body, HasSubstr(R"("error":"too_many_connections")"));
  EXPECT_TRUE(third.closed());
  // The first two are unaffected.
  ASSERT_TRUE(a.send(get_request("/bye")));
  const auto again = a.read_response();
  ASSERT_TRUE(again) << a.last_error();
  EXPECT_EQ(again->status, 200);
}

TEST_F(HttpLimits, ConnectionSlotIsFreedWhenAClientLeaves) {
  start({"server.max_connections=1"});
  {
    RawClient a(port_);
    ASSERT_TRUE(a.ok());
    ASSERT_TRUE(a.send(get_request("/bye", "Connection: close\r\n")));
    ASSERT_TRUE(a.read_response()) << a.last_error();
    ASSERT_TRUE(a.closed());
  }
  // The server released the slot when it closed; allow it a moment to account for that.
  const auto deadline = clock_type::now() + 5s;
  int status = 0;
  while (clock_type::now() < deadline) {
    RawClient b(port_);
    ASSERT_TRUE(b.ok());
    ASSERT_TRUE(b.send(get_request("/bye")));
    const auto r = b.read_response();
    status = r ? r->status : 0;
    if (status == 200) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(status, 200);
}

TEST_F(HttpLimits, LastRequestAllowedOnAConnectionCarriesConnectionClose) {
  start({"server.max_requests_per_connection=2"});
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(get_request("/hello")));
  const auto first = c.read_response();
  ASSERT_TRUE(first) << c.last_error();
  EXPECT_FALSE(first->connection_has("close"));
  ASSERT_TRUE(c.send(get_request("/bye")));
  const auto second = c.read_response();
  ASSERT_TRUE(second) << c.last_error();
  EXPECT_EQ(second->status, 200);
  EXPECT_TRUE(second->connection_has("close"));
  EXPECT_TRUE(c.closed()) << c.last_error();
}

TEST_F(HttpLimits, PipelinedRequestsBeyondMaxRequestsPerConnectionAreNotAnswered) {
  start({"server.max_requests_per_connection=2"});
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(get_request("/hello") + get_request("/bye") + get_request("/static/x")));
  const auto first = c.read_response();
  ASSERT_TRUE(first) << c.last_error();
  const auto second = c.read_response();
  ASSERT_TRUE(second) << c.last_error();
  EXPECT_EQ(second->body, "bye");
  EXPECT_TRUE(second->connection_has("close"));
  EXPECT_TRUE(c.closed()) << "unexpected bytes: " << c.leftover();
}

}  // namespace
}  // namespace tenx::e2e
