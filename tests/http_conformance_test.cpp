// HTTP/1.1 as a client sees it on the wire: persistent connections, pipelining, HEAD,
// HTTP/1.0, Connection: close, request bodies, Expect: 100-continue, routing, and the headers
// every response carries. One gateway (tests/configs/basic.toml) serves the whole suite.
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
using ::testing::MatchesRegex;

constexpr std::string_view kHelloBody = R"({"message":"hello from tenx"})";

class HttpConformance : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gateway_ = new TenxProcess(gateway_args(test_config("basic.toml")));
    port_ = gateway_->wait_listening().value_or(0);
  }
  static void TearDownTestSuite() {
    gateway_->signal(SIGTERM);
    gateway_->wait_exit(10s);
    delete gateway_;
    gateway_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(port_, 0) << "gateway did not start: " << gateway_->listening_line() << "\n"
                        << gateway_->stderr_text();
  }

  // A connected client; fails the test if the connection cannot be made.
  std::unique_ptr<RawClient> connect() {
    auto c = std::make_unique<RawClient>(port_);
    EXPECT_TRUE(c->ok()) << "connect errno " << c->connect_errno();
    return c;
  }

  static TenxProcess* gateway_;
  static std::uint16_t port_;
};

TenxProcess* HttpConformance::gateway_ = nullptr;
std::uint16_t HttpConformance::port_ = 0;

TEST_F(HttpConformance, ServesSeveralRequestsOnOneConnection) {
  auto c = connect();
  for (int i = 0; i < 5; ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(c->send(get_request("/hello")));
    const auto r = c->read_response();
    ASSERT_TRUE(r) << c->last_error();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, kHelloBody);
    EXPECT_FALSE(r->connection_has("close"));
  }
}

TEST_F(HttpConformance, AnswersPipelinedRequestsInOrder) {
  auto c = connect();
  ASSERT_TRUE(c->send(get_request("/hello") + get_request("/bye") + get_request("/static/a.css")));
  const auto a = c->read_response();
  ASSERT_TRUE(a) << c->last_error();
  const auto b = c->read_response();
  ASSERT_TRUE(b) << c->last_error();
  const auto s = c->read_response();
  ASSERT_TRUE(s) << c->last_error();
  EXPECT_EQ(a->body, kHelloBody);
  EXPECT_EQ(b->body, "bye");
  EXPECT_EQ(s->body, "static content");
  EXPECT_EQ(c->leftover(), "");
  // Still usable afterwards.
  ASSERT_TRUE(c->send(get_request("/bye")));
  const auto d = c->read_response();
  ASSERT_TRUE(d) << c->last_error();
  EXPECT_EQ(d->body, "bye");
}

TEST_F(HttpConformance, AnswersPipelinedRequestsSplitAcrossWrites) {
  auto c = connect();
  const std::string both = get_request("/bye") + get_request("/hello");
  // The second request's head is cut in the middle of a header line.
  const auto cut = get_request("/bye").size() + 20;
  ASSERT_TRUE(c->send(both.substr(0, cut)));
  const auto a = c->read_response();
  ASSERT_TRUE(a) << c->last_error();
  EXPECT_EQ(a->body, "bye");
  ASSERT_TRUE(c->send(both.substr(cut)));
  const auto b = c->read_response();
  ASSERT_TRUE(b) << c->last_error();
  EXPECT_EQ(b->body, kHelloBody);
}

TEST_F(HttpConformance, HeadHasContentLengthButNoBody) {
  auto c = connect();
  ASSERT_TRUE(c->send("HEAD /hello HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  const auto h = c->read_response(/*head_request=*/true);
  ASSERT_TRUE(h) << c->last_error();
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(h->header("Content-Length"), std::to_string(kHelloBody.size()));
  EXPECT_EQ(h->header("Content-Type"), "application/json");
  EXPECT_EQ(c->leftover(), "");
  // If body bytes had followed the head, this response would not parse as /bye's.
  ASSERT_TRUE(c->send(get_request("/bye")));
  const auto r = c->read_response();
  ASSERT_TRUE(r) << c->last_error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "bye");
}

TEST_F(HttpConformance, Http10RequestIsAnsweredThenClosed) {
  auto c = connect();
  ASSERT_TRUE(c->send("GET /hello HTTP/1.0\r\n\r\n"));
  const auto r = c->read_response();
  ASSERT_TRUE(r) << c->last_error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, kHelloBody);
  EXPECT_FALSE(r->connection_has("keep-alive"));
  EXPECT_TRUE(c->closed()) << c->last_error();
}

TEST_F(HttpConformance, Http10KeepAliveStaysOpen) {
  auto c = connect();
  const std::string req = "GET /bye HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
  ASSERT_TRUE(c->send(req));
  const auto a = c->read_response();
  ASSERT_TRUE(a) << c->last_error();
  EXPECT_EQ(a->status, 200);
  EXPECT_TRUE(a->connection_has("keep-alive"));
  EXPECT_EQ(a->header("Content-Length"), "3");
  ASSERT_TRUE(c->send(req));
  const auto b = c->read_response();
  ASSERT_TRUE(b) << c->last_error();
  EXPECT_EQ(b->body, "bye");
}

TEST_F(HttpConformance, ConnectionCloseIsHonoured) {
  auto c = connect();
  ASSERT_TRUE(c->send(get_request("/hello", "Connection: close\r\n")));
  const auto r = c->read_response();
  ASSERT_TRUE(r) << c->last_error();
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->connection_has("close"));
  EXPECT_TRUE(c->closed()) << c->last_error();
}

TEST_F(HttpConformance, RequestsPipelinedAfterConnectionCloseAreNotAnswered) {
  auto c = connect();
  ASSERT_TRUE(c->send(get_request("/hello", "Connection: close\r\n") + get_request("/bye")));
  const auto r = c->read_response();
  ASSERT_TRUE(r) << c->last_error();
  EXPECT_EQ(r->body, kHelloBody);
  EXPECT_TRUE(r->connection_has("close"));
  EXPECT_TRUE(c->closed()) << "unexpected bytes: " << c->leftover();
}

TEST_F(HttpConformance, ChunkedBodyToAFixedRouteKeepsTheConnectionUsable) {
  auto c = connect();
  ASSERT_TRUE(
      c->send("POST /hello HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
              "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"));
  const auto a = c->read_response();
  ASSERT_TRUE(a) << c->last_error();
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(a->body, kHelloBody);
  EXPECT_FALSE(a->connection_has("close"));
  ASSERT_TRUE(c->send(get_request("/bye")));
  const auto b = c->read_response();
  ASSERT_TRUE(b) << c->last_error();
  EXPECT_EQ(b->body, "bye");
}

TEST_F(HttpConformance, ChunkedBodySentAfterTheResponseIsSkipped) {
  auto c = connect();
  ASSERT_TRUE(
      c->send("POST /hello HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"));
  const auto a = c->read_response();  // a fixed route answers without waiting for the body
  ASSERT_TRUE(a) << c->last_error();
  EXPECT_EQ(a->status, 200);
  ASSERT_TRUE(c->send("4\r\nbody\r\n0\r\n\r\n" + get_request("/bye")));
  const auto b = c->read_response();
  ASSERT_TRUE(b) << c->last_error();
  EXPECT_EQ(b->body, "bye");
}

TEST_F(HttpConformance, ContentLengthBodyKeepsTheConnectionUsable) {
  auto c = connect();
  // The body looks like a request; it must be skipped as body, never answered.
  const std::string body = get_request("/bye");
  ASSERT_TRUE(c->send("POST /hello HTTP/1.1\r\nHost: localhost\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body + get_request("/static/x")));
  const auto a = c->read_response();
  ASSERT_TRUE(a) << c->last_error();
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(a->body, kHelloBody);
  const auto b = c->read_response();
  ASSERT_TRUE(b) << c->last_error();
  EXPECT_EQ(b->body, "static content");
  EXPECT_EQ(c->leftover(), "");
}

TEST_F(HttpConformance, ExpectContinueIsAnsweredWithoutTheBodyThenClosed) {
  auto c = connect();
  ASSERT_TRUE(
      c->send("POST /hello HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n"
              "Expect: 100-continue\r\n\r\n"));
  // No body sent. A fixed route needs none: the final answer comes at once, no 100 first.
  const auto r = c->read_response();
  ASSERT_TRUE(r) << c->last_error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, kHelloBody);
  // The unsent body would be ambiguous on a kept connection: the server closes it.
  EXPECT_TRUE(r->connection_has("close"));
  EXPECT_TRUE(c->closed()) << c->last_error();
}

TEST_F(HttpConformance, UnknownPathIs404Json) {
  auto c = connect();
  ASSERT_TRUE(c->send(get_request("/no/such/path")));
  const auto r = c->read_response();
  ASSERT_TRUE(r) << c->last_error();
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->header("Content-Type"), "application/json");
  EXPECT_THAT(r->body, HasSubstr(R"("error":"not_found")"));
  EXPECT_THAT(r->body, HasSubstr(R"("message":")"));
  // A 404 is an ordinary answer: the connection stays usable.
  ASSERT_TRUE(c->send(get_request("/bye")));
  const auto b = c->read_response();
  ASSERT_TRUE(b) << c->last_error();
  EXPECT_EQ(b->status, 200);
}

TEST_F(HttpConformance, ResponsesCarryDateAndServer) {
  auto c = connect();
  ASSERT_TRUE(c->send(get_request("/hello") + get_request("/missing")));
  for (int i = 0; i < 2; ++i) {
    const auto r = c->read_response();
    ASSERT_TRUE(r) << c->last_error();
    EXPECT_EQ(r->version, "HTTP/1.1");
    EXPECT_EQ(r->header("Server"), "tenx");
    EXPECT_EQ(r->header_count("Date"), 1u);
    // RFC 9110 §5.6.7 IMF-fixdate.
    EXPECT_THAT(r->header("Date").value_or(""),
                MatchesRegex("(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
                             "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
                             "[0-9]{2}:[0-9]{2}:[0-9]{2} GMT"));
    EXPECT_EQ(r->header_count("Content-Length"), 1u);
  }
}

TEST_F(HttpConformance, FixedRouteSendsItsConfiguredHeaders) {
  auto c = connect();
  ASSERT_TRUE(c->send(get_request("/static/site.css")));
  const auto r = c->read_response();
  ASSERT_TRUE(r) << c->last_error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("Content-Type"), "text/css");
  EXPECT_EQ(r->header("Cache-Control"), "max-age=60");
}

TEST_F(HttpConformance, PrefixRouteMatchesOnlyUnderItsPrefix) {
  auto c = connect();
  ASSERT_TRUE(c->send(get_request("/static/deep/nested/file.js?v=3") + get_request("/static") +
                      get_request("/staticx/a")));
  const auto under = c->read_response();
  ASSERT_TRUE(under) << c->last_error();
  EXPECT_EQ(under->status, 200);
  EXPECT_EQ(under->body, "static content");
  const auto bare = c->read_response();  // "/static" lacks the trailing slash of the prefix
  ASSERT_TRUE(bare) << c->last_error();
  EXPECT_EQ(bare->status, 404);
  const auto other = c->read_response();
  ASSERT_TRUE(other) << c->last_error();
  EXPECT_EQ(other->status, 404);
}

TEST_F(HttpConformance, QueryStringDoesNotAffectAnExactRoute) {
  auto c = connect();
  ASSERT_TRUE(c->send(get_request("/bye?x=1&y=2")));
  const auto r = c->read_response();
  ASSERT_TRUE(r) << c->last_error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "bye");
}

TEST_F(HttpConformance, HostRouteWinsForItsHostOnly) {
  auto c = connect();
  ASSERT_TRUE(
      c->send("GET /hello HTTP/1.1\r\nHost: api.example.test\r\n\r\n"
              "GET /hello HTTP/1.1\r\nHost: API.Example.Test:8080\r\n\r\n"
              "GET /hello HTTP/1.1\r\nHost: other.example.test\r\n\r\n"));
  const auto api = c->read_response();
  ASSERT_TRUE(api) << c->last_error();
  EXPECT_EQ(api->status, 201);
  EXPECT_EQ(api->body, R"({"message":"hello from the api host"})");
  const auto api_port = c->read_response();  // host match ignores case and the port
  ASSERT_TRUE(api_port) << c->last_error();
  EXPECT_EQ(api_port->status, 201);
  const auto other = c->read_response();
  ASSERT_TRUE(other) << c->last_error();
  EXPECT_EQ(other->status, 200);
  EXPECT_EQ(other->body, kHelloBody);
}

TEST_F(HttpConformance, LargeUnreadBodyIsAnsweredWithConnectionClose) {
  auto c = connect();
  // 2 MB announced, none sent: reading it just to drop it would cost more than a reconnect.
  ASSERT_TRUE(
      c->send("POST /hello HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000000\r\n\r\n"));
  const auto r = c->read_response();
  ASSERT_TRUE(r) << c->last_error();
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->connection_has("close"));
  EXPECT_TRUE(c->closed()) << c->last_error();
}

TEST_F(HttpConformance, HeadArrivingInPiecesIsServed) {
  auto c = connect();
  const std::string req =
      "GET /hello?from=pieces HTTP/1.1\r\nHost: api.example.test\r\nUser-Agent: e2e\r\n"
      "Accept: */*\r\n\r\n";
  // Separate writes with pauses, so the server most likely reads the head in several parts.
  for (std::size_t i = 0; i < req.size(); i += 7) {
    ASSERT_TRUE(c->send(req.substr(i, 7)));
    std::this_thread::sleep_for(5ms);
  }
  const auto r = c->read_response();
  ASSERT_TRUE(r) << c->last_error();
  EXPECT_EQ(r->status, 201);  // the Host value survived being received in pieces
  EXPECT_EQ(r->body, R"({"message":"hello from the api host"})");
}

TEST_F(HttpConformance, AnswersHundredsOfPipelinedRequestsInOrder) {
  auto c = connect();
  std::string burst;
  constexpr int kRequests = 500;  // ~20 KB of requests, ~65 KB of responses
  for (int i = 0; i < kRequests; ++i) burst += get_request(i % 2 ? "/bye" : "/hello");
  ASSERT_TRUE(c->send(burst));
  for (int i = 0; i < kRequests; ++i) {
    const auto r = c->read_response();
    ASSERT_TRUE(r) << "response " << i << ": " << c->last_error();
    ASSERT_EQ(r->body, i % 2 ? std::string_view("bye") : kHelloBody) << "response " << i;
  }
  EXPECT_EQ(c->leftover(), "");
}

// RFC 9112 §3.2.2: a server MUST accept the absolute-form, and an origin server then takes
// the host from the target, not from the Host field. Disabled: tenx routes the whole target
// "http://api.example.test/hello" as the path and answers 404 (reported to the lead).
TEST_F(HttpConformance, AbsoluteFormTargetIsRoutedByItsPathAndHost) {
  auto c = connect();
  ASSERT_TRUE(c->send("GET http://api.example.test/hello HTTP/1.1\r\nHost: other\r\n\r\n"));
  const auto r = c->read_response();
  ASSERT_TRUE(r) << c->last_error();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, R"({"message":"hello from the api host"})");
}

TEST_F(HttpConformance, PipelinedFastAnswerDoesNotWaitBehindASlowOne) {
  // /slow answers after 1000 ms. The /hello answer queued before it must go out while /slow
  // waits: a receive timeout of 800 ms fails the test if it is held back until /slow is done.
  RawClient c(port_, std::chrono::milliseconds(800));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(get_request("/hello") + get_request("/slow")));
  const auto first = c.read_response();
  ASSERT_TRUE(first) << c.last_error();
  EXPECT_EQ(first->body, kHelloBody);
}

TEST_F(HttpConformance, EmptyLineBeforeARequestIsIgnored) {
  // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before a request-line.
  auto c = connect();
  ASSERT_TRUE(c->send("\r\n" + get_request("/bye")));
  const auto r = c->read_response();
  ASSERT_TRUE(r) << c->last_error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "bye");
}

TEST_F(HttpConformance, ManyConcurrentConnectionsAreAllServed) {
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 20; ++i) clients.push_back(connect());
  for (auto& c : clients) ASSERT_TRUE(c->send(get_request("/bye")));
  for (auto& c : clients) {
    const auto r = c->read_response();
    ASSERT_TRUE(r) << c->last_error();
    EXPECT_EQ(r->body, "bye");
  }
}

}  // namespace
}  // namespace tenx::e2e
